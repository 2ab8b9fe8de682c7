//! Settings admins change at run time, one JSON document per key (kefu reads them at start
//! and after every change, not per request).

use sqlx::{SqliteConnection, SqlitePool};

use crate::domain::Millis;

pub async fn get(pool: &SqlitePool, key: &str) -> sqlx::Result<Option<String>> {
    sqlx::query_scalar("select value from settings where key = $1")
        .bind(key)
        .fetch_optional(pool)
        .await
}

pub async fn put(
    conn: &mut SqliteConnection,
    key: &str,
    value: &str,
    now: Millis,
) -> sqlx::Result<()> {
    sqlx::query(
        r"insert into settings (key, value, updated_at) values ($1, $2, $3)
          on conflict (key) do update set value = excluded.value, updated_at = excluded.updated_at",
    )
    .bind(key)
    .bind(value)
    .bind(now)
    .execute(conn)
    .await
    .map(|_| ())
}
