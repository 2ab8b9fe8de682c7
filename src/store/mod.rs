//! Every SQL statement kefu runs lives under this module, as small functions that take a
//! connection or transaction; the caller owns the transaction. SQL is lowercase, uses `$1`
//! placeholders, `returning` and `on conflict`, and no SQLite-only functions, so that a
//! Postgres backend can mirror it later.
//!
//! SQLite is set up on purpose: WAL so readers never block the writer; `synchronous = full`
//! because kefu answers WeChat `success` only after a commit is on disk (group commit in
//! `ingest` makes that affordable: one fsync per batch, not per push); a busy timeout so an
//! occasional second writer waits instead of failing; foreign keys on.

pub mod api_tokens;
pub mod audit;
pub mod backup;
pub mod canned;
pub mod conversations;
pub mod doctor;
pub mod inbound;
pub mod media;
pub mod messages;
pub mod outbox;
pub mod rules;
pub mod seed;
pub mod sessions;
pub mod settings;
pub mod staff;
pub mod tokens;

use std::str::FromStr;
use std::time::Duration;

use sqlx::sqlite::{
    SqliteConnectOptions, SqliteConnection, SqliteJournalMode, SqlitePool, SqlitePoolOptions,
    SqliteSynchronous,
};
use sqlx::{ConnectOptions, Connection};

pub use sqlx::Error as DbError;

/// The migrations folder, embedded in the binary.
pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

/// The database: a pool for reads and occasional writes, and the options to open the
/// dedicated ingest writer connection with the same settings.
#[derive(Clone, Debug)]
pub struct Store {
    pool: SqlitePool,
    options: SqliteConnectOptions,
}

impl Store {
    /// Opens (creating if missing) the database at `url`.
    pub async fn open(url: &str) -> Result<Store, DbError> {
        let options = SqliteConnectOptions::from_str(url)?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Full)
            .busy_timeout(Duration::from_secs(10))
            .foreign_keys(true)
            .statement_cache_capacity(256)
            // Checkpoints run in `checkpoint`, from a background task: left automatic, SQLite
            // runs them inside whichever commit crosses the threshold, and the ingest writer
            // (with every waiting webhook request) would stall behind a large one.
            .pragma("wal_autocheckpoint", "0")
            // statements are logged by our own spans, not one INFO line per query
            .disable_statement_logging();
        let pool = SqlitePoolOptions::new()
            .max_connections(8)
            .min_connections(1)
            .connect_with(options.clone())
            .await?;
        Ok(Store { pool, options })
    }

    pub fn pool(&self) -> &SqlitePool {
        &self.pool
    }

    /// A write transaction from the pool. `begin immediate` takes the write lock up front: a
    /// deferred transaction that reads first and writes later fails at once (SQLITE_BUSY,
    /// no waiting) if another connection wrote in between.
    pub async fn begin_write(&self) -> Result<sqlx::Transaction<'static, sqlx::Sqlite>, DbError> {
        self.pool.begin_with("begin immediate").await
    }

    /// Applies pending migrations; safe to call on every start.
    pub async fn migrate(&self) -> Result<(), sqlx::migrate::MigrateError> {
        MIGRATOR.run(&self.pool).await
    }

    /// A connection of its own for the single ingest writer.
    pub async fn writer_connection(&self) -> Result<SqliteConnection, DbError> {
        SqliteConnection::connect_with(&self.options).await
    }

    /// Answers when the database does (for `/readyz`).
    pub async fn ping(&self) -> Result<(), DbError> {
        sqlx::query("select 1")
            .execute(&self.pool)
            .await
            .map(|_| ())
    }

    /// Copies committed pages from the WAL into the database file without blocking the
    /// writer (a PASSIVE checkpoint), so the WAL stays small.
    pub async fn checkpoint(&self) -> Result<(), DbError> {
        sqlx::query("pragma wal_checkpoint(passive)")
            .execute(&self.pool)
            .await
            .map(|_| ())
    }

    pub async fn close(&self) {
        // a last full checkpoint leaves a tidy database file behind
        let _ = sqlx::query("pragma wal_checkpoint(truncate)")
            .execute(&self.pool)
            .await;
        self.pool.close().await;
    }
}

/// Whether `err` is a unique-constraint violation (the caller knows which constraint it risked).
pub fn is_unique_violation(err: &DbError) -> bool {
    err.as_database_error()
        .is_some_and(|e| e.is_unique_violation())
}
