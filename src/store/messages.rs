//! Reading messages of a conversation, newest first.

use sqlx::SqlitePool;

use crate::domain::Millis;

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct MessageRow {
    pub id: i64,
    pub conversation_id: i64,
    pub direction: String,
    pub sender_kind: String,
    pub sender_id: Option<i64>,
    /// the agent's display name, or the contact's for a customer message
    pub sender_name: Option<String>,
    pub openid: String,
    #[sqlx(rename = "type")]
    pub kind: String,
    pub content: String,
    pub status: String,
    pub error_code: Option<String>,
    pub error_message: Option<String>,
    pub created_at: Millis,
    /// for images: whether kefu holds a copy it can serve
    pub media_state: Option<String>,
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
    pool: &SqlitePool,
    conversation_id: i64,
    before: Option<i64>,
    limit: i64,
) -> sqlx::Result<Vec<MessageRow>> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "{SELECT} where m.conversation_id = $1 and m.id < $2 order by m.id desc limit $3"
    )))
    .bind(conversation_id)
    .bind(before.unwrap_or(i64::MAX))
    .bind(limit)
    .fetch_all(pool)
    .await
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
pub async fn by_ids(pool: &SqlitePool, ids: &[i64]) -> sqlx::Result<Vec<MessageRow>> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let mut q = sqlx::QueryBuilder::<sqlx::Sqlite>::new(SELECT);
    q.push(" where m.id in (");
    let mut list = q.separated(", ");
    for id in ids {
        list.push_bind(*id);
    }
    list.push_unseparated(")");
    q.build_query_as().fetch_all(pool).await
}
