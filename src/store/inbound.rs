//! Writing one incoming push: contact upsert, the conversation it belongs to, the message, and
//! the conversation's counters. Called by the ingest writer inside its batch transaction.

use sqlx::SqliteConnection;

use crate::domain::{MessageType, Millis};

/// A push reduced to what the store needs.
#[derive(Debug, Clone)]
pub struct Inbound {
    pub openid: String,
    /// unique per push: WeChat's retries carry the same key
    pub dedup_key: String,
    pub kind: MessageType,
    /// the content as JSON text
    pub content: String,
    /// WeChat's CreateTime in ms
    pub wechat_time: Millis,
    /// a message from the customer (not an event): opens the reply window and counts unread
    pub is_customer_message: bool,
    /// a `user_enter_tempsession` event
    pub is_enter: bool,
    pub session_from: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stored {
    New {
        message_id: i64,
        conversation_id: i64,
        contact_id: i64,
        new_conversation: bool,
    },
    Duplicate,
}

pub async fn store(conn: &mut SqliteConnection, m: &Inbound, now: Millis) -> sqlx::Result<Stored> {
    let seen: Option<i64> = sqlx::query_scalar("select id from messages where wechat_id = $1")
        .bind(&m.dedup_key)
        .fetch_optional(&mut *conn)
        .await?;
    if seen.is_some() {
        return Ok(Stored::Duplicate);
    }

    let last_message_at = m.is_customer_message.then_some(m.wechat_time);
    let last_enter_at = m.is_enter.then_some(m.wechat_time);
    let (contact_id, current): (i64, Option<i64>) = sqlx::query_as(
        r"insert into contacts (openid, first_seen_at, last_seen_at, last_message_at, last_enter_at, session_from)
          values ($1, $2, $2, $3, $4, $5)
          on conflict (openid) do update set
              last_seen_at = excluded.last_seen_at,
              last_message_at = case when excluded.last_message_at > coalesce(contacts.last_message_at, 0)
                                     then excluded.last_message_at else contacts.last_message_at end,
              last_enter_at = case when excluded.last_enter_at > coalesce(contacts.last_enter_at, 0)
                                   then excluded.last_enter_at else contacts.last_enter_at end,
              session_from = coalesce(excluded.session_from, contacts.session_from)
          returning id, current_conversation_id",
    )
    .bind(&m.openid)
    .bind(now)
    .bind(last_message_at)
    .bind(last_enter_at)
    .bind(&m.session_from)
    .fetch_one(&mut *conn)
    .await?;

    let (conversation_id, new_conversation) = match current {
        Some(id) => (id, false),
        None => {
            let id: i64 = sqlx::query_scalar(
                r"insert into conversations (contact_id, status, handler, unread, created_at, last_activity_at)
                  values ($1, 'open', 'bot', 0, $2, $2)
                  returning id",
            )
            .bind(contact_id)
            .bind(now)
            .fetch_one(&mut *conn)
            .await?;
            sqlx::query("update contacts set current_conversation_id = $1 where id = $2")
                .bind(id)
                .bind(contact_id)
                .execute(&mut *conn)
                .await?;
            (id, true)
        }
    };

    let message_id: i64 = sqlx::query_scalar(
        r"insert into messages (conversation_id, direction, sender_kind, type, content, wechat_id, status, created_at)
          values ($1, 'in', 'customer', $2, $3, $4, 'received', $5)
          returning id",
    )
    .bind(conversation_id)
    .bind(m.kind.as_str())
    .bind(&m.content)
    .bind(&m.dedup_key)
    .bind(now)
    .fetch_one(&mut *conn)
    .await?;

    // A customer writing again moves a "waiting on the customer" conversation back to open.
    sqlx::query(
        r"update conversations set
              last_activity_at = $1,
              last_message_id = $2,
              unread = unread + $3,
              status = case when status = 'pending' and $3 = 1 then 'open' else status end
          where id = $4",
    )
    .bind(now)
    .bind(message_id)
    .bind(i64::from(m.is_customer_message))
    .bind(conversation_id)
    .execute(&mut *conn)
    .await?;

    Ok(Stored::New {
        message_id,
        conversation_id,
        contact_id,
        new_conversation,
    })
}
