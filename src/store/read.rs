//! Reads on connections kefu drives itself, through rusqlite, on tokio's blocking threads.
//!
//! Why not the sqlx pool, as for the occasional write: sqlx runs each SQLite connection on a
//! thread of its own and hands it one statement at a time, then the rows one by one through a
//! channel, so a page of a dozen statements and a few hundred rows cost hundreds of wake-ups
//! between threads. Profiled under the inbox bench, the pages' CPU was three quarters context
//! switches and kernel, and SQLite itself under 5 %. Here a read is one hop: the closure runs
//! its statements back to back on a blocking thread, prepared once per connection and kept
//! (`prepare_cached`), and hands back the rows it built.
//!
//! The connections are opened on demand, at most `POOL` at a time, kept for reuse, and set to
//! `query_only`: writes go through the writer (`write`) or the pool's transactions.

use std::borrow::Cow;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use rusqlite::{Connection, OpenFlags};
use tokio::sync::Semaphore;

use super::{BUSY_TIMEOUT, DbError, POOL, Store};

/// The read connections of one database.
pub(super) struct Readers {
    path: PathBuf,
    idle: Mutex<Vec<Connection>>,
    permits: Arc<Semaphore>,
}

impl std::fmt::Debug for Readers {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Readers").field("path", &self.path).finish()
    }
}

impl Readers {
    pub(super) fn new(path: PathBuf) -> Readers {
        Readers {
            path,
            idle: Mutex::new(Vec::new()),
            permits: Arc::new(Semaphore::new(POOL as usize)),
        }
    }

    fn open(&self) -> rusqlite::Result<Connection> {
        let conn = Connection::open_with_flags(
            &self.path,
            OpenFlags::SQLITE_OPEN_READ_WRITE
                | OpenFlags::SQLITE_OPEN_NO_MUTEX
                | OpenFlags::SQLITE_OPEN_URI,
        )?;
        conn.busy_timeout(BUSY_TIMEOUT)?;
        conn.execute_batch("pragma query_only = on; pragma foreign_keys = on;")?;
        conn.set_prepared_statement_cache_capacity(64);
        Ok(conn)
    }

    fn take(&self) -> rusqlite::Result<Connection> {
        let idle = self.idle.lock().unwrap_or_else(|e| e.into_inner()).pop();
        match idle {
            Some(conn) => Ok(conn),
            None => self.open(),
        }
    }

    fn give_back(&self, conn: Connection) {
        self.idle
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(conn);
    }
}

impl Store {
    /// Runs `read` on a read connection, off the async workers. `read` should only read; the
    /// connection refuses writes.
    pub async fn read<T, F>(&self, read: F) -> Result<T, DbError>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> rusqlite::Result<T> + Send + 'static,
    {
        let readers = self.readers.clone();
        let permit = readers
            .permits
            .clone()
            .acquire_owned()
            .await
            .map_err(|_| DbError::PoolClosed)?;
        tokio::task::spawn_blocking(move || {
            let _permit = permit;
            let conn = readers.take()?;
            let out = read(&conn);
            readers.give_back(conn);
            out
        })
        .await
        .map_err(|_| DbError::WorkerCrashed)?
        .map_err(from_rusqlite)
    }
}

/// A rusqlite error as the rest of kefu sees database errors.
pub fn from_rusqlite(e: rusqlite::Error) -> DbError {
    match e {
        rusqlite::Error::QueryReturnedNoRows => DbError::RowNotFound,
        e @ (rusqlite::Error::FromSqlConversionFailure(..)
        | rusqlite::Error::InvalidColumnType(..)
        | rusqlite::Error::IntegralValueOutOfRange(..)) => DbError::Decode(Box::new(e)),
        e => DbError::Database(Box::new(ReadError(e))),
    }
}

/// A failed read, carried as a database error.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
struct ReadError(rusqlite::Error);

impl sqlx::error::DatabaseError for ReadError {
    fn message(&self) -> &str {
        "a read failed"
    }

    fn code(&self) -> Option<Cow<'_, str>> {
        self.0
            .sqlite_error_code()
            .map(|c| Cow::Owned(format!("{c:?}")))
    }

    fn as_error(&self) -> &(dyn std::error::Error + Send + Sync + 'static) {
        self
    }

    fn as_error_mut(&mut self) -> &mut (dyn std::error::Error + Send + Sync + 'static) {
        self
    }

    fn into_error(self: Box<Self>) -> Box<dyn std::error::Error + Send + Sync + 'static> {
        self
    }

    fn kind(&self) -> sqlx::error::ErrorKind {
        sqlx::error::ErrorKind::Other
    }
}

/// A statement's text and its arguments, built piece by piece (`QueryBuilder` for rusqlite).
#[derive(Debug, Default)]
pub struct Sql {
    pub text: String,
    pub args: Vec<rusqlite::types::Value>,
}

impl Sql {
    pub fn new(text: &str) -> Sql {
        Sql {
            text: text.to_owned(),
            args: Vec::new(),
        }
    }

    /// Appends SQL text.
    pub fn push(&mut self, text: &str) -> &mut Sql {
        self.text.push_str(text);
        self
    }

    /// Appends a placeholder for `value`.
    pub fn bind(&mut self, value: impl Into<rusqlite::types::Value>) -> &mut Sql {
        self.args.push(value.into());
        self.text.push('?');
        self
    }

    /// Appends `?, ?, …`, one placeholder per value.
    pub fn bind_list<V: Into<rusqlite::types::Value>>(
        &mut self,
        values: impl IntoIterator<Item = V>,
    ) -> &mut Sql {
        for (i, v) in values.into_iter().enumerate() {
            if i > 0 {
                self.text.push_str(", ");
            }
            self.bind(v);
        }
        self
    }

    /// Every row, each read by `row`.
    pub fn query<T>(
        &self,
        conn: &Connection,
        row: impl FnMut(&rusqlite::Row<'_>) -> rusqlite::Result<T>,
    ) -> rusqlite::Result<Vec<T>> {
        let mut statement = conn.prepare_cached(&self.text)?;
        statement
            .query_map(rusqlite::params_from_iter(&self.args), row)?
            .collect()
    }

    /// Hands each row to `row` as it is read, keeping none (a scan folded as it goes).
    pub fn each(
        &self,
        conn: &Connection,
        mut row: impl FnMut(&rusqlite::Row<'_>) -> rusqlite::Result<()>,
    ) -> rusqlite::Result<()> {
        let mut statement = conn.prepare_cached(&self.text)?;
        let mut rows = statement.query(rusqlite::params_from_iter(&self.args))?;
        while let Some(r) = rows.next()? {
            row(r)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::ConversationStatus;

    #[tokio::test]
    async fn a_read_connection_refuses_writes_and_an_unknown_value_is_a_decode_error() {
        let (_dir, store) = super::super::temp_store().await;
        let wrote = store
            .read(|conn| {
                conn.execute(
                    "insert into labels (name, name_key, color) values ('a', 'a', '#aa0000')",
                    [],
                )
            })
            .await;
        assert!(
            matches!(wrote, Err(DbError::Database(_))),
            "a write on a read connection: {wrote:?}"
        );
        let odd = store
            .read(|conn| {
                conn.query_row("select 'archived'", [], |r| {
                    r.get::<_, ConversationStatus>(0)
                })
            })
            .await;
        assert!(matches!(odd, Err(DbError::Decode(_))), "{odd:?}");
        let none = store
            .read(|conn| conn.query_row("select 1 where 0", [], |r| r.get::<_, i64>(0)))
            .await;
        assert!(matches!(none, Err(DbError::RowNotFound)), "{none:?}");
        // and the statements of one read see one another's results, on one connection
        let known = store
            .read(|conn| {
                let staff = crate::store::staff::list_on(conn)?;
                let labels = crate::store::labels::list_on(conn)?;
                Ok((staff.len(), labels.len()))
            })
            .await
            .unwrap();
        assert_eq!(known, (0, 0));
    }
}
