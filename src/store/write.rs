//! The single writer's own connection to SQLite (`writer`), driven synchronously from the
//! writer's thread through rusqlite.
//!
//! Why not sqlx here, as everywhere else: sqlx runs each SQLite connection on a thread of its
//! own and hands it one statement at a time, so a batch of N statements cost N round trips
//! between threads, each a wake-up of a sleeping thread (about 0.7 ms each on an idle machine,
//! most of a push's time to `success`). Here the writer's thread is the connection's thread:
//! a batch runs its statements back to back, prepared once and kept (`prepare_cached`).
//!
//! The connection is set up as the pool's are (`Store::open`): WAL (already on in the file),
//! `synchronous = full`, the same busy timeout, foreign keys, no automatic checkpoints.

use std::time::Duration;

use rusqlite::{Connection, OpenFlags, Transaction, TransactionBehavior};

use super::{BUSY_TIMEOUT, CheckpointMode, Checkpointed, Store, WAL_SIZE_LIMIT};

pub use rusqlite::Error as WriteDbError;

/// The writer's connection.
pub struct WriteConnection {
    conn: Connection,
}

impl Store {
    /// Opens the single writer's connection to the same database file.
    pub fn write_connection(&self) -> Result<WriteConnection, WriteDbError> {
        let conn = Connection::open_with_flags(
            self.options.get_filename(),
            OpenFlags::SQLITE_OPEN_READ_WRITE
                | OpenFlags::SQLITE_OPEN_NO_MUTEX
                | OpenFlags::SQLITE_OPEN_URI,
        )?;
        conn.busy_timeout(BUSY_TIMEOUT)?;
        conn.execute_batch(&format!(
            "pragma journal_mode = wal;
             pragma synchronous = full;
             pragma foreign_keys = on;
             pragma wal_autocheckpoint = 0;
             pragma temp_store = memory;
             pragma journal_size_limit = {WAL_SIZE_LIMIT};"
        ))?;
        // the batches' statements, each prepared once
        conn.set_prepared_statement_cache_capacity(128);
        Ok(WriteConnection { conn })
    }
}

impl WriteConnection {
    /// Whether commits skip the fsync (`synchronous = normal`) or wait for it (`full`, the
    /// default: every push's commit).
    pub fn lazy_commits(&self, lazy: bool) -> Result<(), WriteDbError> {
        self.conn.execute_batch(match lazy {
            true => "pragma synchronous = normal",
            false => "pragma synchronous = full",
        })
    }

    /// A write transaction; `immediate` takes the write lock up front, as `begin_write` does.
    pub fn transaction(&mut self) -> Result<Transaction<'_>, WriteDbError> {
        self.conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
    }

    /// Copies committed pages from the WAL into the database file. A PASSIVE checkpoint alone
    /// never starts the WAL over while some reader is always reading it, and under a steady load
    /// (pages, dashboards, the bot) one always is: the WAL grew without end (13 GB in the soak's
    /// ten minutes). RESTART and TRUNCATE wait for those readers, at most `wait`, and writers
    /// wait meanwhile; readers that begin once everything is copied read the database file and
    /// hold nothing back. Gives up (`busy`) rather than wait longer.
    pub fn checkpoint(
        &self,
        mode: CheckpointMode,
        wait: Duration,
    ) -> Result<Checkpointed, WriteDbError> {
        let statement = match mode {
            CheckpointMode::Passive => "pragma wal_checkpoint(passive)",
            CheckpointMode::Restart => "pragma wal_checkpoint(restart)",
            CheckpointMode::Truncate => "pragma wal_checkpoint(truncate)",
        };
        let waits = mode != CheckpointMode::Passive;
        if waits {
            self.conn.busy_timeout(wait)?;
        }
        let done = self.conn.query_row(statement, [], |row| {
            Ok((row.get::<_, i64>(0)?, row.get::<_, i64>(1)?))
        });
        if waits {
            // the connection's own wait comes back whatever happened
            self.conn.busy_timeout(BUSY_TIMEOUT)?;
        }
        let (busy, frames) = done?;
        Ok(Checkpointed {
            wal_frames: frames.max(0),
            busy: busy != 0,
        })
    }
}
