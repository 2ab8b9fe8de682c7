//! Listing and revoking staff API tokens (created in `staff::create_token`, checked on every
//! request in `staff::by_token_hash`). Neither the token nor its hash ever leaves this module
//! for a listing.

use sqlx::{SqliteConnection, SqlitePool};

use crate::domain::Millis;

/// A token as an operator sees it: never the token, never its hash.
#[derive(Debug, sqlx::FromRow)]
pub struct TokenInfo {
    pub id: i64,
    pub label: String,
    pub created_at: Millis,
    /// updated at most once a minute (see `staff::by_token_hash`)
    pub last_used_at: Option<Millis>,
}

/// The tokens of one staff account, oldest first.
pub async fn of_user(pool: &SqlitePool, user_id: i64) -> sqlx::Result<Vec<TokenInfo>> {
    sqlx::query_as(
        r"select id, label, created_at, last_used_at from api_tokens
           where user_id = $1 order by id",
    )
    .bind(user_id)
    .fetch_all(pool)
    .await
}

/// Deletes token `id`; returns the user name and label it had, None when there is none.
/// Bearer authentication reads the table on every request, so the next request with it is
/// refused.
pub async fn revoke(
    conn: &mut SqliteConnection,
    id: i64,
) -> sqlx::Result<Option<(String, String)>> {
    let found: Option<(String, String)> = sqlx::query_as(
        r"select s.username, t.label from api_tokens t join staff_users s on s.id = t.user_id
           where t.id = $1",
    )
    .bind(id)
    .fetch_optional(&mut *conn)
    .await?;
    if found.is_some() {
        sqlx::query("delete from api_tokens where id = $1")
            .bind(id)
            .execute(conn)
            .await?;
    }
    Ok(found)
}
