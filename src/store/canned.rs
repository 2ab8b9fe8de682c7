//! Canned replies: shared ones (no owner) and each staff member's personal ones. Who may see
//! or change which is decided in `web::canned`; here a duplicate shortcut is told apart from
//! other failures so it can become a 409.

use sqlx::{SqliteConnection, SqlitePool};

use crate::domain::Millis;

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct CannedRow {
    pub id: i64,
    /// None: shared with the whole team
    pub owner_id: Option<i64>,
    pub owner_name: Option<String>,
    pub shortcut: String,
    pub body: String,
    pub created_at: Millis,
    pub updated_at: Millis,
}

impl CannedRow {
    pub fn is_shared(&self) -> bool {
        self.owner_id.is_none()
    }
}

const SELECT: &str = r"select c.id, c.owner_id, s.display_name as owner_name, c.shortcut, c.body,
           c.created_at, c.updated_at
      from canned_replies c
      left join staff_users s on s.id = c.owner_id";

#[derive(Debug, thiserror::Error)]
pub enum CannedError {
    /// the owner (or the shared set) already has this shortcut
    #[error("the shortcut {0:?} is already taken")]
    Duplicate(String),
    #[error(transparent)]
    Db(#[from] sqlx::Error),
}

fn map_unique(e: sqlx::Error, shortcut: &str) -> CannedError {
    // the only unique constraint of the table is canned_replies_shortcut_key
    if super::is_unique_violation(&e) {
        CannedError::Duplicate(shortcut.to_owned())
    } else {
        CannedError::Db(e)
    }
}

/// What `user_id` may use: the shared replies and their own, by shortcut (a shared one
/// before a personal one with the same shortcut).
pub async fn visible_to(pool: &SqlitePool, user_id: i64) -> sqlx::Result<Vec<CannedRow>> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "{SELECT} where c.owner_id is null or c.owner_id = $1
          order by c.shortcut, c.owner_id is not null, c.id"
    )))
    .bind(user_id)
    .fetch_all(pool)
    .await
}

/// One reply, from the pool or inside a transaction (as that transaction sees it).
pub async fn get<'e>(
    db: impl sqlx::SqliteExecutor<'e>,
    id: i64,
) -> sqlx::Result<Option<CannedRow>> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!("{SELECT} where c.id = $1")))
        .bind(id)
        .fetch_optional(db)
        .await
}

pub async fn create(
    conn: &mut SqliteConnection,
    owner_id: Option<i64>,
    shortcut: &str,
    body: &str,
    now: Millis,
) -> Result<i64, CannedError> {
    sqlx::query_scalar(
        r"insert into canned_replies (owner_id, shortcut, body, created_at, updated_at)
          values ($1, $2, $3, $4, $4)
          returning id",
    )
    .bind(owner_id)
    .bind(shortcut)
    .bind(body)
    .bind(now)
    .fetch_one(conn)
    .await
    .map_err(|e| map_unique(e, shortcut))
}

/// Replaces a reply whole (its owner too: an admin may make a shared one personal or back).
/// False when there is no such reply.
pub async fn update(
    conn: &mut SqliteConnection,
    id: i64,
    owner_id: Option<i64>,
    shortcut: &str,
    body: &str,
    now: Millis,
) -> Result<bool, CannedError> {
    sqlx::query(
        r"update canned_replies set owner_id = $1, shortcut = $2, body = $3, updated_at = $4
           where id = $5",
    )
    .bind(owner_id)
    .bind(shortcut)
    .bind(body)
    .bind(now)
    .bind(id)
    .execute(conn)
    .await
    .map(|r| r.rows_affected() > 0)
    .map_err(|e| map_unique(e, shortcut))
}

/// False when there was no such reply.
pub async fn delete(conn: &mut SqliteConnection, id: i64) -> sqlx::Result<bool> {
    sqlx::query("delete from canned_replies where id = $1")
        .bind(id)
        .execute(conn)
        .await
        .map(|r| r.rows_affected() > 0)
}
