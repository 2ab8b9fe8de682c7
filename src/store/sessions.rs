//! Staff sessions: the dashboard's sign-in, kept server-side so that signing out, disabling an
//! account or an idle timeout ends it at once.

use rusqlite::OptionalExtension;
use sqlx::{SqliteConnection, SqlitePool};

use super::Store;
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
    store: &Store,
    token_hash: &str,
    now: Millis,
    idle_ms: Millis,
) -> sqlx::Result<Option<StaffRow>> {
    let hash = token_hash.to_owned();
    let found = store
        .read(move |conn| {
            conn.prepare_cached(
                r"select s.last_seen_at, u.id, u.username, u.display_name, u.role, u.password_hash,
                         u.disabled, u.created_at, u.locale, u.channel_ids
                    from sessions s
                    join staff_users u on u.id = s.user_id
                   where s.token_hash = $1 and u.disabled = 0 and s.expires_at > $2 and s.last_seen_at > $3",
            )?
            .query_row((hash, now, now - idle_ms), |r| {
                Ok((r.get::<_, Millis>(0)?, StaffRow::read_from(r, 1)?))
            })
            .optional()
        })
        .await?;
    let Some((last_seen, staff)) = found else {
        return Ok(None);
    };
    if now - last_seen > 60_000 {
        sqlx::query("update sessions set last_seen_at = $1 where token_hash = $2")
            .bind(now)
            .bind(token_hash)
            .execute(store.pool())
            .await?;
    }
    Ok(Some(staff))
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
