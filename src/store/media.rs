//! Files kept by kefu: incoming images (and an Official Account's voice messages and videos)
//! waiting to be fetched from WeChat and stored, outgoing images an agent uploaded.

use sqlx::{SqliteConnection, SqlitePool};

use crate::domain::{Direction, MediaState, MessageType, Millis};

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct MediaRow {
    pub message_id: i64,
    pub direction: Direction,
    pub media_id: Option<String>,
    pub state: MediaState,
    pub path: Option<String>,
    pub content_type: Option<String>,
    pub attempts: i64,
    pub error: Option<String>,
}

pub async fn get(pool: &SqlitePool, message_id: i64) -> sqlx::Result<Option<MediaRow>> {
    sqlx::query_as(
        "select message_id, direction, media_id, state, path, content_type, attempts, error from media where message_id = $1",
    )
    .bind(message_id)
    .fetch_optional(pool)
    .await
}

/// Records a file an agent uploaded for an outbound message.
pub async fn insert_outgoing(
    conn: &mut SqliteConnection,
    message_id: i64,
    path: &str,
    content_type: &str,
    now: Millis,
) -> sqlx::Result<()> {
    sqlx::query(
        r"insert into media (message_id, direction, state, path, content_type, attempts, next_attempt_at)
          values ($1, 'out', 'stored', $2, $3, 0, $4)",
    )
    .bind(message_id)
    .bind(path)
    .bind(content_type)
    .bind(now)
    .execute(conn)
    .await
    .map(|_| ())
}

/// Incoming files due to be fetched.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Fetch {
    pub message_id: i64,
    pub conversation_id: i64,
    /// whose API client fetches it
    pub channel_id: i64,
    /// the message's type: an image (or a card's cover), a voice message, a video
    pub kind: MessageType,
    pub media_id: String,
    pub attempts: i64,
}

pub async fn due_fetches(pool: &SqlitePool, now: Millis, limit: i64) -> sqlx::Result<Vec<Fetch>> {
    sqlx::query_as(
        r"select md.message_id, m.conversation_id, c.channel_id, m.type as kind, md.media_id, md.attempts
            from media md join messages m on m.id = md.message_id
            join conversations c on c.id = m.conversation_id
           where md.state = 'pending' and md.direction = 'in' and md.next_attempt_at <= $1
           order by md.next_attempt_at
           limit $2",
    )
    .bind(now)
    .bind(limit)
    .fetch_all(pool)
    .await
}

pub async fn next_fetch_at(pool: &SqlitePool) -> sqlx::Result<Option<Millis>> {
    sqlx::query_scalar("select min(next_attempt_at) from media where state = 'pending'")
        .fetch_one(pool)
        .await
}

#[derive(Debug, Clone)]
pub enum Outcome {
    Stored {
        message_id: i64,
        path: String,
        content_type: String,
    },
    Retry {
        message_id: i64,
        attempts: i64,
        next_attempt_at: Millis,
        error: String,
    },
    Failed {
        message_id: i64,
        error: String,
    },
}

/// Records a fetch's outcome; on the single writer's connection (`store::write`).
pub fn record(conn: &rusqlite::Connection, outcome: &Outcome) -> rusqlite::Result<()> {
    match outcome {
        Outcome::Stored {
            message_id,
            path,
            content_type,
        } => conn
            .prepare_cached(
                "update media set state = 'stored', path = ?1, content_type = ?2, error = null where message_id = ?3",
            )?
            .execute(rusqlite::params![path, content_type, message_id]),
        Outcome::Retry {
            message_id,
            attempts,
            next_attempt_at,
            error,
        } => conn
            .prepare_cached(
                "update media set attempts = ?1, next_attempt_at = ?2, error = ?3 where message_id = ?4",
            )?
            .execute(rusqlite::params![attempts, next_attempt_at, error, message_id]),
        Outcome::Failed { message_id, error } => conn
            .prepare_cached("update media set state = 'failed', error = ?1 where message_id = ?2")?
            .execute(rusqlite::params![error, message_id]),
    }
    .map(|_| ())
}
