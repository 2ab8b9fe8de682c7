//! Staff sessions: the dashboard's sign-in, kept server-side so that signing out, disabling an
//! account or an idle timeout ends it at once.

use sqlx::{SqliteConnection, SqlitePool};

use crate::domain::Millis;
use crate::store::staff::StaffRow;

pub async fn create(
    conn: &mut SqliteConnection,
    token_hash: &str,
    user_id: i64,
    now: Millis,
    expires_at: Millis,
) -> sqlx::Result<()> {
    sqlx::query(
        r"insert into sessions (token_hash, user_id, created_at, last_seen_at, expires_at)
          values ($1, $2, $3, $3, $4)",
    )
    .bind(token_hash)
    .bind(user_id)
    .bind(now)
    .bind(expires_at)
    .execute(conn)
    .await
    .map(|_| ())
}

pub async fn delete(pool: &SqlitePool, token_hash: &str) -> sqlx::Result<()> {
    sqlx::query("delete from sessions where token_hash = $1")
        .bind(token_hash)
        .execute(pool)
        .await
        .map(|_| ())
}

/// The enabled staff member of a live session: not past its absolute end, and used within
/// `idle_ms`. Marks it used, at most once a minute, so that reads stay reads.
pub async fn staff_of(
    pool: &SqlitePool,
    token_hash: &str,
    now: Millis,
    idle_ms: Millis,
) -> sqlx::Result<Option<StaffRow>> {
    let found: Option<(i64, Millis)> = sqlx::query_as(
        r"select s.user_id, s.last_seen_at from sessions s
            join staff_users u on u.id = s.user_id
           where s.token_hash = $1 and u.disabled = 0 and s.expires_at > $2 and s.last_seen_at > $3",
    )
    .bind(token_hash)
    .bind(now)
    .bind(now - idle_ms)
    .fetch_optional(pool)
    .await?;
    let Some((user_id, last_seen)) = found else {
        return Ok(None);
    };
    if now - last_seen > 60_000 {
        sqlx::query("update sessions set last_seen_at = $1 where token_hash = $2")
            .bind(now)
            .bind(token_hash)
            .execute(pool)
            .await?;
    }
    super::staff::by_id(pool, user_id).await
}

/// Forgets sessions that ended, so the table does not grow for ever.
pub async fn delete_expired(pool: &SqlitePool, now: Millis, idle_ms: Millis) -> sqlx::Result<u64> {
    sqlx::query("delete from sessions where expires_at <= $1 or last_seen_at <= $2")
        .bind(now)
        .bind(now - idle_ms)
        .execute(pool)
        .await
        .map(|r| r.rows_affected())
}

/// Ends every session of `user_id` except the one with `keep_token_hash` (a password change
/// signs out the other browsers, not the one that made it). Returns how many ended.
pub async fn delete_others(
    conn: &mut SqliteConnection,
    user_id: i64,
    keep_token_hash: Option<&str>,
) -> sqlx::Result<u64> {
    sqlx::query("delete from sessions where user_id = $1 and ($2 is null or token_hash <> $2)")
        .bind(user_id)
        .bind(keep_token_hash)
        .execute(conn)
        .await
        .map(|r| r.rows_affected())
}
