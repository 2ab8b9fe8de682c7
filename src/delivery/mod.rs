//! Getting replies to WeChat, and customers' images into kefu.
//!
//! - `queue_reply` checks WeChat's reply window and quota, then writes the message and its
//!   outbox row in one transaction; nothing is sent inside a request.
//! - The outbox worker sends queued messages in order per conversation, several
//!   conversations at once, retries transient failures with jittered exponential backoff for
//!   a bounded time, and ends every message `sent` or `failed` with WeChat's reason.
//! - The media worker fetches incoming images from WeChat and keeps a copy under
//!   `KEFU_DATA_DIR/media`, retrying on failure; the webhook never waits for it.
//!
//! Delivery is at-least-once: the worker marks a message sent only after WeChat accepted it.
//! If kefu dies between WeChat's answer and that commit, the message is sent again after the
//! restart, so a rare duplicate is possible; a message is never lost silently, because its
//! outbox row is deleted only in the same transaction that records `sent` or `failed`.
//!
//! This file holds the `Delivery` handle, queueing replies and starting the workers; the
//! workers are in `outbox` and `media`, WeChat's typing indicator and its limits in `typing`.

use std::path::PathBuf;

use rand::Rng;
use tokio::task::JoinHandle;

use crate::config::DeliveryConfig;
use crate::domain::{MessageContent, Millis, ReplyRules, SenderKind, now_millis};
use crate::live::{Event, Live};
use crate::store::messages::{self, MessageRow};
use crate::store::outbox::{self as outbox_store, NewMessage};
use crate::store::{Store, media as media_store};
use crate::writer::Writer;

mod media;
mod outbox;
mod typing;

pub use media::{image_extension, sniff_audio, sniff_image, sniff_video, write_file};
pub use outbox::send_body;
pub use typing::{TYPING_EVERY_MS, TYPING_WITHIN_MS, TypingLimiter};

/// Largest image kefu accepts from an agent or fetches from WeChat.
pub const MAX_IMAGE_BYTES: usize = 10 * 1024 * 1024;
/// Largest voice file an agent may send (WeChat's limit for `media/upload?type=voice`).
pub const MAX_VOICE_UPLOAD_BYTES: usize = 2 * 1024 * 1024;
/// Largest video an agent may send (WeChat's limit for `media/upload?type=video`).
pub const MAX_VIDEO_UPLOAD_BYTES: usize = 10 * 1024 * 1024;
/// Longest text kefu sends (WeChat gives no figure; long messages are split by agents).
pub const MAX_TEXT_CHARS: usize = 2000;
const MAX_BACKOFF_MS: Millis = 5 * 60 * 1000;

/// What the workers need; shared by the outbox and media loops.
#[derive(Clone)]
pub struct Delivery {
    /// each channel's API client, by the conversation's channel
    pub channels: crate::channels::Channels,
    pub store: Store,
    pub writer: Writer,
    pub live: Live,
    pub config: DeliveryConfig,
    pub media_dir: PathBuf,
}

/// Why a reply was not queued.
#[derive(Debug, thiserror::Error)]
pub enum QueueError {
    #[error("there is no conversation {0}")]
    NoConversation(i64),
    #[error(
        "the 48-hour reply window has closed: the customer must write again before kefu can answer"
    )]
    WindowClosed,
    #[error("the replies WeChat allows for the customer's last message are used up")]
    QuotaUsed,
    #[error(transparent)]
    Db(#[from] sqlx::Error),
}

/// An attachment kept by kefu for an outbound message (relative to the media dir).
pub struct Attachment {
    pub path: String,
    pub content_type: String,
}

/// Queues an agent's or the bot's reply (or stores a private note, which is never sent).
/// Returns the new message as committed (`queued`, or `received` for a note), before the
/// outbox worker can have touched it.
#[allow(clippy::too_many_arguments)]
pub async fn queue_reply(
    store: &Store,
    live: &Live,
    rules: &ReplyRules,
    conversation_id: i64,
    sender: (SenderKind, Option<i64>),
    content: &MessageContent,
    attachment: Option<Attachment>,
    reserve: u32,
) -> Result<MessageRow, QueueError> {
    let now = now_millis();
    let deliver = !matches!(content, MessageContent::Note(_));
    let mut tx = store.begin_write().await?;
    if deliver {
        spend_one_reply(&mut tx, rules, conversation_id, now, reserve).await?;
    }
    let message = NewMessage {
        conversation_id,
        sender_kind: sender.0,
        sender_id: sender.1,
        content,
        deliver,
        answered_in_push: false,
    };
    let id = match outbox_store::insert(&mut tx, &message, now).await {
        Ok(id) => id,
        // a note for a conversation that does not exist
        Err(e)
            if e.as_database_error()
                .is_some_and(|d| d.is_foreign_key_violation()) =>
        {
            return Err(QueueError::NoConversation(conversation_id));
        }
        Err(e) => return Err(e.into()),
    };
    if let Some(a) = attachment {
        media_store::insert_outgoing(&mut tx, id, &a.path, &a.content_type, now).await?;
    }
    let row = messages::get(&mut *tx, id)
        .await?
        .ok_or(sqlx::Error::RowNotFound)?;
    tx.commit().await?;
    live.publish(Event::MessageAdded {
        conversation_id,
        message_id: id,
        new_conversation: false,
    });
    if deliver {
        live.outbox_waiting();
    }
    Ok(row)
}

/// Records the bot's reply that the webhook answers in the push's response (an Official
/// Account's passive reply): sent once the response is, spending none of the customer's
/// replies (WeChat counts only the send API's), needing no access token.
pub async fn record_passive(
    store: &Store,
    live: &Live,
    conversation_id: i64,
    content: &MessageContent,
) -> Result<MessageRow, QueueError> {
    let now = now_millis();
    let mut tx = store.begin_write().await?;
    let message = NewMessage {
        conversation_id,
        sender_kind: SenderKind::Bot,
        sender_id: None,
        content,
        deliver: true,
        answered_in_push: true,
    };
    let id = outbox_store::insert(&mut tx, &message, now).await?;
    let row = messages::get(&mut *tx, id)
        .await?
        .ok_or(sqlx::Error::RowNotFound)?;
    tx.commit().await?;
    live.publish(Event::MessageAdded {
        conversation_id,
        message_id: id,
        new_conversation: false,
    });
    Ok(row)
}

/// Spends one reply of the conversation's contact, or refuses if WeChat would, or if fewer than
/// `reserve` would be left (the bot keeps the last one for a human). It spends first (an
/// update, so the write lock is held from here) and checks after: two agents cannot both
/// spend the last reply. On refusal the caller's transaction is left to roll back.
async fn spend_one_reply(
    tx: &mut sqlx::SqliteConnection,
    rules: &ReplyRules,
    conversation_id: i64,
    now: Millis,
    reserve: u32,
) -> Result<(), QueueError> {
    let c = outbox_store::spend_reply(tx, conversation_id)
        .await?
        .ok_or(QueueError::NoConversation(conversation_id))?;
    let a = rules.allowance(
        c.last_message_at,
        c.replies_since_message,
        c.last_enter_at,
        c.replies_since_enter,
        now,
    );
    match a.ends_at {
        _ if a.left > reserve => Ok(()),
        Some(ends) if now < ends => Err(QueueError::QuotaUsed),
        _ => Err(QueueError::WindowClosed),
    }
}

/// Puts a failed reply back in the queue (the retry button). The failure gave its reply back,
/// so the retry spends one again, under the same window and quota checks as a new reply.
pub async fn requeue_reply(
    store: &Store,
    live: &Live,
    rules: &ReplyRules,
    message_id: i64,
    actor: &crate::store::audit::Actor,
) -> Result<Option<MessageRow>, QueueError> {
    let now = now_millis();
    let mut tx = store.begin_write().await?;
    let Some(conversation_id) = outbox_store::requeue(&mut tx, message_id, now).await? else {
        return Ok(None);
    };
    spend_one_reply(&mut tx, rules, conversation_id, now, 0).await?;
    crate::store::audit::record(
        &mut tx,
        actor,
        "message.retry",
        &format!("message {message_id}"),
        None,
        now,
    )
    .await?;
    let row = messages::get(&mut *tx, message_id)
        .await?
        .ok_or(sqlx::Error::RowNotFound)?;
    tx.commit().await?;
    live.outbox_waiting();
    Ok(Some(row))
}

/// Starts the outbox and media workers.
pub fn start(delivery: Delivery) -> Vec<JoinHandle<()>> {
    vec![
        tokio::spawn(outbox::outbox_loop(delivery.clone())),
        tokio::spawn(media::media_loop(delivery)),
    ]
}

fn backoff(base: Millis, attempts: i64) -> Millis {
    let exp = base
        .saturating_mul(1 << attempts.clamp(0, 20))
        .min(MAX_BACKOFF_MS);
    // ±50% jitter so that a burst of failures does not retry in lockstep
    (exp as f64 * rand::rng().random_range(0.5..1.5)) as Millis
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_with_jitter_and_is_capped() {
        for attempts in 0..40 {
            let b = backoff(1000, attempts);
            let exp = (1000i64 << attempts.min(20)).min(MAX_BACKOFF_MS);
            assert!(b >= exp / 2 && b <= exp * 3 / 2, "{attempts}: {b}");
        }
    }
}
