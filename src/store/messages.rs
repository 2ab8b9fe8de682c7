//! Reading messages of a conversation, newest first.

use sqlx::SqlitePool;
use sqlx::sqlite::SqliteRow;

use super::Store;
use super::read::Sql;

use crate::domain::{Direction, MediaState, MessageContent, MessageStatus, Millis, SenderKind};

#[derive(Debug, Clone)]
pub struct MessageRow {
    pub id: i64,
    pub conversation_id: i64,
    pub direction: Direction,
    pub sender_kind: SenderKind,
    pub sender_id: Option<i64>,
    /// the agent's display name, or the contact's for a customer message
    pub sender_name: Option<String>,
    pub openid: String,
    /// what it says; its kind is the `type` column
    pub content: MessageContent,
    pub status: MessageStatus,
    pub error_code: Option<String>,
    pub error_message: Option<String>,
    pub created_at: Millis,
    /// for images (and card covers): where kefu's own copy stands
    pub media_state: Option<MediaState>,
}

/// The columns as they come; `MessageRow` reads its content from `type` and `content`.
#[derive(sqlx::FromRow)]
struct Columns {
    id: i64,
    conversation_id: i64,
    direction: Direction,
    sender_kind: SenderKind,
    sender_id: Option<i64>,
    sender_name: Option<String>,
    openid: String,
    #[sqlx(rename = "type")]
    kind: crate::domain::MessageType,
    content: String,
    status: MessageStatus,
    error_code: Option<String>,
    error_message: Option<String>,
    created_at: Millis,
    media_state: Option<MediaState>,
}

impl<'r> sqlx::FromRow<'r, SqliteRow> for MessageRow {
    fn from_row(row: &'r SqliteRow) -> sqlx::Result<MessageRow> {
        let c = Columns::from_row(row)?;
        Ok(MessageRow {
            content: read_content(c.id, c.kind, &c.content),
            id: c.id,
            conversation_id: c.conversation_id,
            direction: c.direction,
            sender_kind: c.sender_kind,
            sender_id: c.sender_id,
            sender_name: c.sender_name,
            openid: c.openid,
            status: c.status,
            error_code: c.error_code,
            error_message: c.error_message,
            created_at: c.created_at,
            media_state: c.media_state,
        })
    }
}

impl MessageRow {
    /// A row of `SELECT`, column by column in its order.
    fn read(r: &rusqlite::Row<'_>) -> rusqlite::Result<MessageRow> {
        let id = r.get(0)?;
        let kind = r.get(7)?;
        let content: String = r.get(8)?;
        Ok(MessageRow {
            id,
            conversation_id: r.get(1)?,
            direction: r.get(2)?,
            sender_kind: r.get(3)?,
            sender_id: r.get(4)?,
            sender_name: r.get(5)?,
            openid: r.get(6)?,
            content: read_content(id, kind, &content),
            status: r.get(9)?,
            error_code: r.get(10)?,
            error_message: r.get(11)?,
            created_at: r.get(12)?,
            media_state: r.get(13)?,
        })
    }
}

/// A stored content that does not read as its type is logged and shown as an unknown message
/// holding the stored text, rather than failing the read: one damaged row must not make a
/// whole conversation, or every inbox listing it as a last message, unreadable (a 500), and
/// staff still see what is there. It is never sent (unknown messages are not sendable).
pub(crate) fn read_content(
    message_id: i64,
    kind: crate::domain::MessageType,
    json: &str,
) -> MessageContent {
    MessageContent::from_stored(kind, json).unwrap_or_else(|e| {
        tracing::error!(message.id = message_id, message.kind = %kind, error = %e, "a stored message content cannot be read; shown as unknown");
        MessageContent::unreadable(kind.as_str(), json)
    })
}

const SELECT: &str = r"select m.id, m.conversation_id, m.direction, m.sender_kind, m.sender_id,
       case when m.sender_kind = 'customer' then ct.display_name else s.display_name end as sender_name,
       ct.openid, m.type, m.content, m.status, m.error_code, m.error_message, m.created_at,
       md.state as media_state
  from messages m
  join conversations c on c.id = m.conversation_id
  join contacts ct on ct.id = c.contact_id
  left join staff_users s on s.id = m.sender_id
  left join media md on md.message_id = m.id";

/// A page of a conversation's messages, newest first, older than message `before`.
pub async fn list(
    store: &Store,
    conversation_id: i64,
    before: Option<i64>,
    limit: i64,
) -> sqlx::Result<Vec<MessageRow>> {
    store
        .read(move |conn| list_on(conn, conversation_id, before, limit))
        .await
}

/// `list`, on a read connection (`Store::read`).
pub fn list_on(
    conn: &rusqlite::Connection,
    conversation_id: i64,
    before: Option<i64>,
    limit: i64,
) -> rusqlite::Result<Vec<MessageRow>> {
    conn.prepare_cached(&format!(
        "{SELECT} where m.conversation_id = $1 and m.id < $2 order by m.id desc limit $3"
    ))?
    .query_map(
        (conversation_id, before.unwrap_or(i64::MAX), limit),
        MessageRow::read,
    )?
    .collect()
}

/// One message, from the pool or inside a transaction (as that transaction sees it).
pub async fn get<'e>(
    db: impl sqlx::SqliteExecutor<'e>,
    id: i64,
) -> sqlx::Result<Option<MessageRow>> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!("{SELECT} where m.id = $1")))
        .bind(id)
        .fetch_optional(db)
        .await
}

/// How many messages came in from customers: the benchmark checks it against acknowledgements.
pub async fn count_inbound(pool: &SqlitePool) -> sqlx::Result<i64> {
    sqlx::query_scalar("select count(*) from messages where direction = 'in'")
        .fetch_one(pool)
        .await
}

/// Several messages by id (for the last message of each conversation in a list).
pub async fn by_ids(store: &Store, ids: &[i64]) -> sqlx::Result<Vec<MessageRow>> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let ids = ids.to_vec();
    store.read(move |conn| by_ids_on(conn, &ids)).await
}

/// `by_ids`, on a read connection (`Store::read`).
pub fn by_ids_on(conn: &rusqlite::Connection, ids: &[i64]) -> rusqlite::Result<Vec<MessageRow>> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let mut q = Sql::new(SELECT);
    q.push(" where m.id in (")
        .bind_list(ids.iter().copied())
        .push(")");
    q.query(conn, MessageRow::read)
}
