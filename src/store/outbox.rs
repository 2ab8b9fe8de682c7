//! The durable outbox: an outbound message and its outbox row are written in one transaction;
//! `delivery` sends them in order per conversation and reports each outcome here.

use sqlx::sqlite::SqliteRow;
use sqlx::{SqliteConnection, SqlitePool};

use crate::domain::{MessageContent, MessageStatus, MessageType, Millis, SenderKind};

/// The reply counters of a contact at the moment a reply is queued, to check WeChat's rules.
#[derive(Debug, Clone, Copy, sqlx::FromRow)]
pub struct ContactCounters {
    pub last_message_at: Option<Millis>,
    pub last_enter_at: Option<Millis>,
    /// counts before this reply
    pub replies_since_message: i64,
    pub replies_since_enter: i64,
}

/// Spends one reply of the conversation's contact (taking the write lock first, so two agents
/// cannot both spend the last one) and returns the counters as they were before.
pub async fn spend_reply(
    conn: &mut SqliteConnection,
    conversation_id: i64,
) -> sqlx::Result<Option<ContactCounters>> {
    sqlx::query_as(
        r"update contacts
             set replies_since_message = replies_since_message + 1,
                 replies_since_enter = replies_since_enter + 1
           where id = (select contact_id from conversations where id = $1)
       returning last_message_at, last_enter_at,
                 replies_since_message - 1 as replies_since_message,
                 replies_since_enter - 1 as replies_since_enter",
    )
    .bind(conversation_id)
    .fetch_optional(conn)
    .await
}

/// A new outbound message (or private note) in a conversation.
pub struct NewMessage<'a> {
    pub conversation_id: i64,
    pub sender_kind: SenderKind,
    pub sender_id: Option<i64>,
    pub content: &'a MessageContent,
    /// notes are stored, never sent
    pub deliver: bool,
    /// answered in the push's response (an Official Account's passive reply): sent already,
    /// nothing to queue
    pub answered_in_push: bool,
}

/// Inserts the message and, when it is to be delivered, its outbox row; returns its id.
pub async fn insert(
    conn: &mut SqliteConnection,
    m: &NewMessage<'_>,
    now: Millis,
) -> sqlx::Result<i64> {
    let status = match (m.deliver, m.answered_in_push) {
        (_, true) => MessageStatus::Sent,
        (true, false) => MessageStatus::Queued,
        (false, false) => MessageStatus::Received,
    };
    let id: i64 = sqlx::query_scalar(
        r"insert into messages (conversation_id, direction, sender_kind, sender_id, type, content, status, created_at)
          values ($1, 'out', $2, $3, $4, $5, $6, $7)
          returning id",
    )
    .bind(m.conversation_id)
    .bind(m.sender_kind)
    .bind(m.sender_id)
    .bind(m.content.kind())
    .bind(super::content_json(m.content)?)
    .bind(status)
    .bind(now)
    .fetch_one(&mut *conn)
    .await?;
    if m.deliver && !m.answered_in_push {
        sqlx::query(
            "insert into outbox (message_id, conversation_id, attempts, next_attempt_at) values ($1, $2, 0, $3)",
        )
        .bind(id)
        .bind(m.conversation_id)
        .bind(now)
        .execute(&mut *conn)
        .await?;
    }
    sqlx::query(
        "update conversations set last_activity_at = $1, last_message_id = $2 where id = $3",
    )
    .bind(now)
    .bind(id)
    .bind(m.conversation_id)
    .execute(&mut *conn)
    .await?;
    Ok(id)
}

/// A message due for (another) delivery attempt, with what sending it needs.
#[derive(Debug, Clone)]
pub struct Pending {
    pub outbox_id: i64,
    pub message_id: i64,
    pub conversation_id: i64,
    /// whose API client sends it
    pub channel_id: i64,
    pub contact_id: i64,
    pub openid: String,
    pub content: MessageContent,
    pub attempts: i64,
    pub first_attempt_at: Option<Millis>,
    /// WeChat's media_id of the attachment, once uploaded
    pub media_id: Option<String>,
    /// the attachment kept by kefu (relative to the media dir)
    pub file_path: Option<String>,
    pub file_type: Option<String>,
}

/// The columns as they come; `Pending` reads its content from `type` and `content`.
#[derive(sqlx::FromRow)]
struct PendingColumns {
    outbox_id: i64,
    message_id: i64,
    conversation_id: i64,
    channel_id: i64,
    contact_id: i64,
    openid: String,
    #[sqlx(rename = "type")]
    kind: MessageType,
    content: String,
    attempts: i64,
    first_attempt_at: Option<Millis>,
    media_id: Option<String>,
    file_path: Option<String>,
    file_type: Option<String>,
}

impl<'r> sqlx::FromRow<'r, SqliteRow> for Pending {
    fn from_row(row: &'r SqliteRow) -> sqlx::Result<Pending> {
        let c = PendingColumns::from_row(row)?;
        Ok(Pending {
            // unreadable content is an unknown message, which delivery refuses to send
            content: super::messages::read_content(c.message_id, c.kind, &c.content),
            outbox_id: c.outbox_id,
            message_id: c.message_id,
            conversation_id: c.conversation_id,
            channel_id: c.channel_id,
            contact_id: c.contact_id,
            openid: c.openid,
            attempts: c.attempts,
            first_attempt_at: c.first_attempt_at,
            media_id: c.media_id,
            file_path: c.file_path,
            file_type: c.file_type,
        })
    }
}

/// The head of each conversation's queue that is due now: messages of one conversation go
/// out strictly in order, so a later one waits while an earlier one is being retried.
pub async fn due(pool: &SqlitePool, now: Millis, limit: i64) -> sqlx::Result<Vec<Pending>> {
    sqlx::query_as(
        r"select o.id as outbox_id, o.message_id, o.conversation_id, c.channel_id, c.contact_id, ct.openid,
                 m.type, m.content, o.attempts, o.first_attempt_at,
                 coalesce(o.media_id, md.media_id) as media_id,
                 md.path as file_path, md.content_type as file_type
            from outbox o
            join messages m on m.id = o.message_id
            join conversations c on c.id = o.conversation_id
            join contacts ct on ct.id = c.contact_id
            left join media md on md.message_id = o.message_id
           where o.next_attempt_at <= $1
             and not exists (select 1 from outbox p where p.conversation_id = o.conversation_id and p.id < o.id)
           order by o.next_attempt_at, o.id
           limit $2",
    )
    .bind(now)
    .bind(limit)
    .fetch_all(pool)
    .await
}

/// When the next outbox row falls due, if any.
pub async fn next_due_at(pool: &SqlitePool) -> sqlx::Result<Option<Millis>> {
    sqlx::query_scalar("select min(next_attempt_at) from outbox")
        .fetch_one(pool)
        .await
}

/// Replies waiting to be sent, and when the oldest of them was written (for `/metrics`).
pub async fn depth(pool: &SqlitePool) -> sqlx::Result<(i64, Option<Millis>)> {
    sqlx::query_as(
        "select count(*), min(m.created_at) from outbox o join messages m on m.id = o.message_id",
    )
    .fetch_one(pool)
    .await
}

pub async fn backlog(pool: &SqlitePool) -> sqlx::Result<i64> {
    sqlx::query_scalar("select count(*) from outbox")
        .fetch_one(pool)
        .await
}

/// What became of one delivery attempt.
#[derive(Debug, Clone)]
pub enum Outcome {
    /// WeChat accepted it; `content` is the message content with what sending added (the
    /// media_id of an uploaded attachment), when it changed.
    Sent {
        outbox_id: i64,
        message_id: i64,
        content: Option<MessageContent>,
    },
    /// The attachment is uploaded; keep its media_id so a retry does not upload again.
    Uploaded { outbox_id: i64, media_id: String },
    /// Try again at `next_attempt_at`.
    Retry {
        outbox_id: i64,
        attempts: i64,
        first_attempt_at: Millis,
        next_attempt_at: Millis,
        error: String,
    },
    /// WeChat refused for good (or retries ran out): the reason is shown on the message, and
    /// the reply it would have spent is given back.
    Failed {
        outbox_id: i64,
        message_id: i64,
        contact_id: i64,
        code: String,
        message: String,
    },
}

/// Records a delivery attempt's outcome; on the single writer's connection (`store::write`).
pub fn record(conn: &rusqlite::Connection, outcome: &Outcome) -> rusqlite::Result<()> {
    match outcome {
        Outcome::Sent {
            outbox_id,
            message_id,
            content,
        } => {
            let content = content
                .as_ref()
                .map(|c| c.to_stored())
                .transpose()
                .map_err(|e| rusqlite::Error::ToSqlConversionFailure(Box::new(e)))?;
            conn.prepare_cached(
                "update messages set status = 'sent', error_code = null, error_message = null, content = coalesce(?1, content) where id = ?2",
            )?
            .execute(rusqlite::params![content, message_id])?;
            delete(conn, *outbox_id)
        }
        Outcome::Uploaded {
            outbox_id,
            media_id,
        } => conn
            .prepare_cached("update outbox set media_id = ?1 where id = ?2")?
            .execute(rusqlite::params![media_id, outbox_id])
            .map(|_| ()),
        Outcome::Retry {
            outbox_id,
            attempts,
            first_attempt_at,
            next_attempt_at,
            error,
        } => conn
            .prepare_cached(
                r"update outbox set attempts = ?1, first_attempt_at = coalesce(first_attempt_at, ?2),
                         next_attempt_at = ?3, last_error = ?4
                   where id = ?5",
            )?
            .execute(rusqlite::params![
                attempts,
                first_attempt_at,
                next_attempt_at,
                error,
                outbox_id
            ])
            .map(|_| ()),
        Outcome::Failed {
            outbox_id,
            message_id,
            contact_id,
            code,
            message,
        } => {
            conn.prepare_cached(
                "update messages set status = 'failed', error_code = ?1, error_message = ?2 where id = ?3",
            )?
            .execute(rusqlite::params![code, message, message_id])?;
            conn.prepare_cached(
                r"update contacts set
                      replies_since_message = case when replies_since_message > 0 then replies_since_message - 1 else 0 end,
                      replies_since_enter = case when replies_since_enter > 0 then replies_since_enter - 1 else 0 end
                  where id = ?1",
            )?
            .execute([contact_id])?;
            delete(conn, *outbox_id)
        }
    }
}

fn delete(conn: &rusqlite::Connection, outbox_id: i64) -> rusqlite::Result<()> {
    conn.prepare_cached("delete from outbox where id = ?1")?
        .execute([outbox_id])
        .map(|_| ())
}

/// Puts a failed message back in the queue (the inbox's retry button).
/// Returns the conversation, or None when the message is not a failed reply.
pub async fn requeue(
    conn: &mut SqliteConnection,
    message_id: i64,
    now: Millis,
) -> sqlx::Result<Option<i64>> {
    let conv: Option<i64> = sqlx::query_scalar(
        "update messages set status = 'queued', error_code = null, error_message = null where id = $1 and status = 'failed' and direction = 'out' returning conversation_id",
    )
    .bind(message_id)
    .fetch_optional(&mut *conn)
    .await?;
    let Some(conv) = conv else { return Ok(None) };
    sqlx::query(
        "insert into outbox (message_id, conversation_id, attempts, next_attempt_at) values ($1, $2, 0, $3)",
    )
    .bind(message_id)
    .bind(conv)
    .bind(now)
    .execute(&mut *conn)
    .await?;
    Ok(Some(conv))
}
