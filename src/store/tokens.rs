//! WeChat's access token, kept in the database so every kefu process on it shares one token
//! and a restart does not fetch a new one.

use sqlx::SqlitePool;

use crate::domain::Millis;

pub async fn load(pool: &SqlitePool, appid: &str) -> sqlx::Result<Option<(String, Millis)>> {
    sqlx::query_as("select access_token, expires_at from wechat_tokens where appid = $1")
        .bind(appid)
        .fetch_optional(pool)
        .await
}

pub async fn save(
    pool: &SqlitePool,
    appid: &str,
    token: &str,
    expires_at: Millis,
    now: Millis,
) -> sqlx::Result<()> {
    sqlx::query(
        r"insert into wechat_tokens (appid, access_token, expires_at, fetched_at) values ($1, $2, $3, $4)
          on conflict (appid) do update set access_token = excluded.access_token,
              expires_at = excluded.expires_at, fetched_at = excluded.fetched_at",
    )
    .bind(appid)
    .bind(token)
    .bind(expires_at)
    .bind(now)
    .execute(pool)
    .await
    .map(|_| ())
}

/// Forgets the token only if it is still the one that failed (another process may already
/// have stored a fresh one): compare-and-invalidate.
pub async fn invalidate(pool: &SqlitePool, appid: &str, token: &str) -> sqlx::Result<()> {
    sqlx::query("delete from wechat_tokens where appid = $1 and access_token = $2")
        .bind(appid)
        .bind(token)
        .execute(pool)
        .await
        .map(|_| ())
}
