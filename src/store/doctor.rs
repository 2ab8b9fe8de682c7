//! The database side of `kefu doctor`: open an existing database without creating it, read
//! which migrations it has, and prove it takes a write (rolled back, so nothing changes).
//! SQLite-specific on purpose: it looks at SQLite's own catalogue.

use std::str::FromStr;
use std::time::Duration;

use sqlx::sqlite::{SqliteConnectOptions, SqliteConnection};
use sqlx::{ConnectOptions, Connection};

/// Opens the database at `url` if it exists; never creates one.
pub async fn open_existing(url: &str) -> sqlx::Result<SqliteConnection> {
    SqliteConnectOptions::from_str(url)?
        .create_if_missing(false)
        .busy_timeout(Duration::from_secs(5))
        .disable_statement_logging()
        .connect()
        .await
}

/// The migrations recorded in the database: (version, finished). None recorded when kefu
/// never migrated it.
pub async fn applied_migrations(conn: &mut SqliteConnection) -> sqlx::Result<Vec<(i64, bool)>> {
    let tracked: i64 = sqlx::query_scalar(
        "select count(*) from sqlite_master where type = 'table' and name = '_sqlx_migrations'",
    )
    .fetch_one(&mut *conn)
    .await?;
    if tracked == 0 {
        return Ok(Vec::new());
    }
    sqlx::query_as("select version, success from _sqlx_migrations order by version")
        .fetch_all(conn)
        .await
}

/// Takes the write lock and changes the schema, then rolls back: fails as kefu's own writes
/// would (a read-only file or directory, a full disk, a database locked for too long).
pub async fn probe_write(conn: &mut SqliteConnection) -> sqlx::Result<()> {
    let mut tx = conn.begin_with("begin immediate").await?;
    sqlx::query("create table kefu_doctor_probe (x integer)")
        .execute(&mut *tx)
        .await?;
    tx.rollback().await
}

pub async fn count_messages(conn: &mut SqliteConnection) -> sqlx::Result<i64> {
    sqlx::query_scalar("select count(*) from messages")
        .fetch_one(conn)
        .await
}
