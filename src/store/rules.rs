//! Auto-reply rules as admins keep them. The matcher (`automation::rules`) is compiled from
//! the enabled ones whenever they change.
//!
//! A deleted rule goes to the trash (`deleted_at` set) so that the deletion can be undone:
//! every function here but the trash's own (`deleted`, `restore`) sees only the rules not
//! deleted, so to the bot, the API and the console a deleted rule is simply gone.

use sqlx::SqliteConnection;
use sqlx::sqlite::SqliteRow;

use crate::domain::{MatchKind, MessageContent, Millis, RuleAction};

#[derive(Debug, Clone)]
pub struct RuleRow {
    pub id: i64,
    pub name: String,
    pub enabled: bool,
    pub priority: i64,
    pub match_kind: MatchKind,
    pub keywords: Vec<String>,
    pub action: RuleAction,
    pub reply: Option<MessageContent>,
    pub hits: i64,
    pub last_hit_at: Option<Millis>,
    pub created_at: Millis,
    pub updated_at: Millis,
    /// when it went to the trash (None: in use)
    pub deleted_at: Option<Millis>,
    /// the image kefu keeps for the reply (an image, or a card's cover), uploaded to WeChat
    /// afresh for each message
    pub media: Option<RuleMedia>,
    /// the channel it is for (None: every channel)
    pub channel_id: Option<i64>,
}

/// An image of a rule's reply that kefu keeps, relative to the media dir.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuleMedia {
    pub path: String,
    pub content_type: String,
}

/// The columns as they come: `keywords` is a JSON array of strings, `reply` a JSON
/// `{"type", "content"}` or null.
#[derive(sqlx::FromRow)]
struct Columns {
    id: i64,
    name: String,
    enabled: bool,
    priority: i64,
    #[sqlx(rename = "match")]
    match_kind: MatchKind,
    keywords: String,
    action: RuleAction,
    reply: Option<String>,
    hits: i64,
    last_hit_at: Option<Millis>,
    created_at: Millis,
    updated_at: Millis,
    deleted_at: Option<Millis>,
    media_path: Option<String>,
    media_type: Option<String>,
    channel_id: Option<i64>,
}

impl<'r> sqlx::FromRow<'r, SqliteRow> for RuleRow {
    fn from_row(row: &'r SqliteRow) -> sqlx::Result<RuleRow> {
        let c = Columns::from_row(row)?;
        let keywords =
            serde_json::from_str(&c.keywords).map_err(|e| sqlx::Error::ColumnDecode {
                index: "keywords".into(),
                source: Box::new(e),
            })?;
        // An unreadable reply is logged and kept as an unknown message, like a message's
        // content: the rule stays listed (and can be fixed in the console); the bot never
        // sends an unknown message.
        let reply = c.reply.map(|json| {
            serde_json::from_str(&json).unwrap_or_else(|e| {
                tracing::error!(rule.id = c.id, error = %e, "a stored rule reply cannot be read; shown as unknown");
                MessageContent::unreadable("reply", &json)
            })
        });
        Ok(RuleRow {
            id: c.id,
            name: c.name,
            enabled: c.enabled,
            priority: c.priority,
            match_kind: c.match_kind,
            keywords,
            action: c.action,
            reply,
            hits: c.hits,
            last_hit_at: c.last_hit_at,
            created_at: c.created_at,
            updated_at: c.updated_at,
            deleted_at: c.deleted_at,
            channel_id: c.channel_id,
            media: match (c.media_path, c.media_type) {
                (Some(path), Some(content_type)) => Some(RuleMedia { path, content_type }),
                _ => None,
            },
        })
    }
}

/// A rule as saved: everything an admin sets.
#[derive(Debug, Clone)]
pub struct RuleFields<'a> {
    pub name: &'a str,
    pub enabled: bool,
    pub priority: i64,
    pub match_kind: MatchKind,
    pub keywords: &'a [String],
    pub action: RuleAction,
    pub reply: Option<&'a MessageContent>,
    /// None: every channel
    pub channel_id: Option<i64>,
}

impl RuleFields<'_> {
    /// The `keywords` and `reply` columns' JSON text.
    fn json_columns(&self) -> sqlx::Result<(String, Option<String>)> {
        let encode = |e: serde_json::Error| sqlx::Error::Encode(Box::new(e));
        let keywords = serde_json::to_string(self.keywords).map_err(encode)?;
        let reply = self
            .reply
            .map(serde_json::to_string)
            .transpose()
            .map_err(encode)?;
        Ok((keywords, reply))
    }
}

const COLUMNS: &str = "id, name, enabled, priority, match, keywords, action, reply, hits, last_hit_at, created_at, updated_at, deleted_at, media_path, media_type, channel_id";
const SELECT: &str = "select id, name, enabled, priority, match, keywords, action, reply, hits, last_hit_at, created_at, updated_at, deleted_at, media_path, media_type, channel_id from rules";

/// How many deleted rules the trash keeps; deleting one more removes the oldest for good.
pub const TRASH_KEEPS: i64 = 20;

/// Every rule, in the order they are considered: highest priority first, then oldest.
pub async fn list<'e>(db: impl sqlx::SqliteExecutor<'e>) -> sqlx::Result<Vec<RuleRow>> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "{SELECT} where deleted_at is null order by priority desc, id"
    )))
    .fetch_all(db)
    .await
}

pub async fn get<'e>(db: impl sqlx::SqliteExecutor<'e>, id: i64) -> sqlx::Result<Option<RuleRow>> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "{SELECT} where id = $1 and deleted_at is null"
    )))
    .bind(id)
    .fetch_optional(db)
    .await
}

/// The trash: deleted rules, the latest deleted first.
pub async fn deleted<'e>(db: impl sqlx::SqliteExecutor<'e>) -> sqlx::Result<Vec<RuleRow>> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "{SELECT} where deleted_at is not null order by deleted_at desc, id desc"
    )))
    .fetch_all(db)
    .await
}

/// Takes a rule out of the trash, as it was; returns it, or None when it is not there.
pub async fn restore(
    conn: &mut SqliteConnection,
    id: i64,
    now: Millis,
) -> sqlx::Result<Option<RuleRow>> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        r"update rules set deleted_at = null, updated_at = $2
           where id = $1 and deleted_at is not null
           returning {COLUMNS}"
    )))
    .bind(id)
    .bind(now)
    .fetch_optional(conn)
    .await
}

pub async fn create(
    conn: &mut SqliteConnection,
    r: &RuleFields<'_>,
    now: Millis,
) -> sqlx::Result<i64> {
    let (keywords, reply) = r.json_columns()?;
    sqlx::query_scalar(
        r"insert into rules (name, enabled, priority, match, keywords, action, reply, created_at, updated_at, channel_id)
          values ($1, $2, $3, $4, $5, $6, $7, $8, $8, $9)
          returning id",
    )
    .bind(r.name)
    .bind(r.enabled)
    .bind(r.priority)
    .bind(r.match_kind)
    .bind(keywords)
    .bind(r.action)
    .bind(reply)
    .bind(now)
    .bind(r.channel_id)
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
    let (keywords, reply) = r.json_columns()?;
    let done = sqlx::query(
        r"update rules set name = $1, enabled = $2, priority = $3, match = $4, keywords = $5,
                 action = $6, reply = $7, updated_at = $8, channel_id = $10
           where id = $9 and deleted_at is null",
    )
    .bind(r.name)
    .bind(r.enabled)
    .bind(r.priority)
    .bind(r.match_kind)
    .bind(keywords)
    .bind(r.action)
    .bind(reply)
    .bind(now)
    .bind(id)
    .bind(r.channel_id)
    .execute(conn)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Sets (or clears) the image kefu keeps for a rule's reply.
pub async fn set_media(
    conn: &mut SqliteConnection,
    id: i64,
    media: Option<&RuleMedia>,
) -> sqlx::Result<()> {
    sqlx::query("update rules set media_path = $1, media_type = $2 where id = $3")
        .bind(media.map(|m| m.path.as_str()))
        .bind(media.map(|m| m.content_type.as_str()))
        .bind(id)
        .execute(conn)
        .await
        .map(|_| ())
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
           where id = $4 and deleted_at is null",
    )
    .bind(enabled)
    .bind(priority)
    .bind(now)
    .bind(id)
    .execute(conn)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Moves a rule to the trash (false when there is no such rule), and removes for good what
/// the trash no longer keeps.
pub async fn delete(conn: &mut SqliteConnection, id: i64, now: Millis) -> sqlx::Result<bool> {
    let done = sqlx::query("update rules set deleted_at = $2 where id = $1 and deleted_at is null")
        .bind(id)
        .bind(now)
        .execute(&mut *conn)
        .await?;
    sqlx::query(
        r"delete from rules where deleted_at is not null and id not in
            (select id from rules where deleted_at is not null
              order by deleted_at desc, id desc limit $1)",
    )
    .bind(TRASH_KEEPS)
    .execute(conn)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// A rule fired `n` more times, the last at `at` (a deleted rule is simply not found).
pub async fn add_hits(
    conn: &mut SqliteConnection,
    id: i64,
    channel_id: i64,
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
    .execute(&mut *conn)
    .await?;
    sqlx::query(
        r"insert into rule_hits (rule_id, channel_id, hits, last_hit_at)
          select $1, $2, $3, $4 where exists (select 1 from rules where id = $1)
          on conflict (rule_id, channel_id) do update
              set hits = rule_hits.hits + excluded.hits,
                  last_hit_at = max(rule_hits.last_hit_at, excluded.last_hit_at)",
    )
    .bind(id)
    .bind(channel_id)
    .bind(n)
    .bind(at)
    .execute(conn)
    .await
    .map(|_| ())
}

/// A rule's hits per channel: (channel id, hits, last hit), most hits first.
pub async fn hits_by_channel(
    pool: &sqlx::SqlitePool,
    id: i64,
) -> sqlx::Result<Vec<(i64, i64, Millis)>> {
    sqlx::query_as(
        "select channel_id, hits, last_hit_at from rule_hits where rule_id = $1 order by hits desc, channel_id",
    )
    .bind(id)
    .fetch_all(pool)
    .await
}
