//! Auto-reply rules as admins keep them. The matcher (`automation::rules`) is compiled from
//! the enabled ones whenever they change.

use sqlx::SqliteConnection;

use crate::domain::Millis;

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct RuleRow {
    pub id: i64,
    pub name: String,
    pub enabled: bool,
    pub priority: i64,
    #[sqlx(rename = "match")]
    pub match_kind: String,
    /// JSON array of strings
    pub keywords: String,
    pub action: String,
    /// JSON `{"type", "content"}` or null
    pub reply: Option<String>,
    pub hits: i64,
    pub last_hit_at: Option<Millis>,
    pub created_at: Millis,
    pub updated_at: Millis,
}

/// A rule as saved: everything an admin sets.
#[derive(Debug, Clone)]
pub struct RuleFields<'a> {
    pub name: &'a str,
    pub enabled: bool,
    pub priority: i64,
    pub match_kind: &'a str,
    pub keywords: &'a str,
    pub action: &'a str,
    pub reply: Option<&'a str>,
}

const SELECT: &str = "select id, name, enabled, priority, match, keywords, action, reply, hits, last_hit_at, created_at, updated_at from rules";

/// Every rule, in the order they are considered: highest priority first, then oldest.
pub async fn list<'e>(db: impl sqlx::SqliteExecutor<'e>) -> sqlx::Result<Vec<RuleRow>> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "{SELECT} order by priority desc, id"
    )))
    .fetch_all(db)
    .await
}

pub async fn get<'e>(db: impl sqlx::SqliteExecutor<'e>, id: i64) -> sqlx::Result<Option<RuleRow>> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!("{SELECT} where id = $1")))
        .bind(id)
        .fetch_optional(db)
        .await
}

pub async fn create(
    conn: &mut SqliteConnection,
    r: &RuleFields<'_>,
    now: Millis,
) -> sqlx::Result<i64> {
    sqlx::query_scalar(
        r"insert into rules (name, enabled, priority, match, keywords, action, reply, created_at, updated_at)
          values ($1, $2, $3, $4, $5, $6, $7, $8, $8)
          returning id",
    )
    .bind(r.name)
    .bind(r.enabled)
    .bind(r.priority)
    .bind(r.match_kind)
    .bind(r.keywords)
    .bind(r.action)
    .bind(r.reply)
    .bind(now)
    .fetch_one(conn)
    .await
}

/// Replaces a rule whole (its hit count stays); false when there is no such rule.
pub async fn update(
    conn: &mut SqliteConnection,
    id: i64,
    r: &RuleFields<'_>,
    now: Millis,
) -> sqlx::Result<bool> {
    let done = sqlx::query(
        r"update rules set name = $1, enabled = $2, priority = $3, match = $4, keywords = $5,
                 action = $6, reply = $7, updated_at = $8
           where id = $9",
    )
    .bind(r.name)
    .bind(r.enabled)
    .bind(r.priority)
    .bind(r.match_kind)
    .bind(r.keywords)
    .bind(r.action)
    .bind(r.reply)
    .bind(now)
    .bind(id)
    .execute(conn)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Switches a rule on or off and/or moves it (what is None stays); false when there is no
/// such rule.
pub async fn adjust(
    conn: &mut SqliteConnection,
    id: i64,
    enabled: Option<bool>,
    priority: Option<i64>,
    now: Millis,
) -> sqlx::Result<bool> {
    let done = sqlx::query(
        r"update rules set enabled = coalesce($1, enabled), priority = coalesce($2, priority),
                 updated_at = $3
           where id = $4",
    )
    .bind(enabled)
    .bind(priority)
    .bind(now)
    .bind(id)
    .execute(conn)
    .await?;
    Ok(done.rows_affected() == 1)
}

pub async fn delete(conn: &mut SqliteConnection, id: i64) -> sqlx::Result<bool> {
    let done = sqlx::query("delete from rules where id = $1")
        .bind(id)
        .execute(conn)
        .await?;
    Ok(done.rows_affected() == 1)
}

/// A rule fired `n` more times, the last at `at` (a deleted rule is simply not found).
pub async fn add_hits(
    conn: &mut SqliteConnection,
    id: i64,
    n: i64,
    at: Millis,
) -> sqlx::Result<()> {
    sqlx::query(
        r"update rules set hits = hits + $1,
                 last_hit_at = case when last_hit_at is null or last_hit_at < $2 then $2 else last_hit_at end
           where id = $3",
    )
    .bind(n)
    .bind(at)
    .bind(id)
    .execute(conn)
    .await
    .map(|_| ())
}
