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

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rand::Rng;
use serde_json::{Value, json};
use tokio::sync::{Notify, Semaphore};
use tokio::task::JoinHandle;

use crate::config::DeliveryConfig;
use crate::domain::{MessageStatus, MessageType, Millis, ReplyRules, SenderKind, now_millis};
use crate::live::{Event, Live};
use crate::store::messages::{self, MessageRow};
use crate::store::outbox::{self, NewMessage, Outcome, Pending};
use crate::store::{Store, media};
use crate::wechat::api::{ApiError, Typing, WechatApi};
use crate::writer::{Update, Writer};

/// Largest image kefu accepts from an agent or fetches from WeChat.
pub const MAX_IMAGE_BYTES: usize = 10 * 1024 * 1024;
/// Longest text kefu sends (WeChat gives no figure; long messages are split by agents).
pub const MAX_TEXT_CHARS: usize = 2000;
const MAX_BACKOFF_MS: Millis = 5 * 60 * 1000;

/// What the workers need; shared by the outbox and media loops.
#[derive(Clone)]
pub struct Delivery {
    pub api: Arc<WechatApi>,
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
    kind: MessageType,
    content: &Value,
    attachment: Option<Attachment>,
    reserve: u32,
) -> Result<MessageRow, QueueError> {
    let now = now_millis();
    let deliver = kind != MessageType::Note;
    let mut tx = store.begin_write().await?;
    if deliver {
        spend_one_reply(&mut tx, rules, conversation_id, now, reserve).await?;
    }
    let text = content.to_string();
    let message = NewMessage {
        conversation_id,
        sender_kind: sender.0,
        sender_id: sender.1,
        kind,
        content: &text,
        deliver,
    };
    let id = match outbox::insert(&mut tx, &message, now).await {
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
        media::insert_outgoing(&mut tx, id, &a.path, &a.content_type, now).await?;
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
    let c = outbox::spend_reply(tx, conversation_id)
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
    let Some(conversation_id) = outbox::requeue(&mut tx, message_id, now).await? else {
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

/// The body of `custom/send` for a stored message.
pub fn send_body(
    openid: &str,
    kind: &str,
    content: &Value,
    media_id: Option<&str>,
) -> Result<Value, String> {
    let field = |name: &str| {
        content
            .get(name)
            .and_then(Value::as_str)
            .unwrap_or_default()
    };
    match kind {
        "text" => {
            Ok(json!({ "touser": openid, "msgtype": "text", "text": { "content": field("text") } }))
        }
        "image" => {
            let media_id = media_id.ok_or("the image was not uploaded")?;
            Ok(json!({ "touser": openid, "msgtype": "image", "image": { "media_id": media_id } }))
        }
        "link" => Ok(json!({ "touser": openid, "msgtype": "link", "link": {
            "title": field("title"), "description": field("description"),
            "url": field("url"), "thumb_url": field("thumb_url"),
        }})),
        "miniprogrampage" => {
            let thumb = media_id
                .or_else(|| {
                    content
                        .get("thumb_media_id")
                        .and_then(Value::as_str)
                        .filter(|s| !s.is_empty())
                })
                .ok_or("the card has no cover image")?;
            Ok(
                json!({ "touser": openid, "msgtype": "miniprogrampage", "miniprogrampage": {
                    "title": field("title"), "pagepath": field("pagepath"), "thumb_media_id": thumb,
                }}),
            )
        }
        other => Err(format!("a {other} message cannot be sent")),
    }
}

/// Starts the outbox and media workers.
pub fn start(delivery: Delivery) -> Vec<JoinHandle<()>> {
    vec![
        tokio::spawn(outbox_loop(delivery.clone())),
        tokio::spawn(media_loop(delivery)),
    ]
}

fn backoff(base: Millis, attempts: i64) -> Millis {
    let exp = base
        .saturating_mul(1 << attempts.clamp(0, 20))
        .min(MAX_BACKOFF_MS);
    // ±50% jitter so that a burst of failures does not retry in lockstep
    (exp as f64 * rand::rng().random_range(0.5..1.5)) as Millis
}

fn lock(m: &Mutex<Dispatch>) -> std::sync::MutexGuard<'_, Dispatch> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// What the outbox loop knows about sends in flight.
#[derive(Default)]
struct Dispatch {
    /// conversations with a send in flight: their next message waits
    in_flight: HashSet<i64>,
    /// outbox rows finished since the last query started: that query may have read them
    /// before their outcome was committed, and must not send them again
    finished: HashSet<i64>,
}

async fn outbox_loop(d: Delivery) {
    let permits = Arc::new(Semaphore::new(d.config.concurrency));
    let dispatch: Arc<Mutex<Dispatch>> = Arc::default();
    let finished = Arc::new(Notify::new());
    // Sends belong to this loop: when it is stopped, dropping the set aborts them, and their
    // messages (still in the outbox) go out after the restart.
    let mut sends = tokio::task::JoinSet::new();
    loop {
        while sends.try_join_next().is_some() {}
        let free = permits.available_permits();
        if free > 0 {
            let busy = {
                let mut s = lock(&dispatch);
                s.finished.clear();
                s.in_flight.len()
            };
            match outbox::due(d.store.pool(), now_millis(), (free + busy) as i64).await {
                Ok(rows) => {
                    for row in rows {
                        let Ok(permit) = permits.clone().try_acquire_owned() else {
                            break;
                        };
                        {
                            let mut s = lock(&dispatch);
                            if s.finished.contains(&row.outbox_id)
                                || !s.in_flight.insert(row.conversation_id)
                            {
                                continue;
                            }
                        }
                        let (d, dispatch, finished) =
                            (d.clone(), dispatch.clone(), finished.clone());
                        sends.spawn(async move {
                            let (conversation, outbox_id) = (row.conversation_id, row.outbox_id);
                            deliver_one(&d, row).await;
                            {
                                let mut s = lock(&dispatch);
                                s.in_flight.remove(&conversation);
                                s.finished.insert(outbox_id);
                            }
                            drop(permit);
                            finished.notify_one();
                        });
                    }
                }
                Err(e) => tracing::warn!(error = %e, "cannot read the outbox; will retry"),
            }
        }
        // Sleep until new work, a finished send, or the next retry falls due.
        let now = now_millis();
        let next = outbox::next_due_at(d.store.pool()).await.ok().flatten();
        let wait = match next {
            Some(at) if at > now => Duration::from_millis((at - now) as u64),
            _ => Duration::from_secs(1),
        };
        tokio::select! {
            _ = d.live.outbox_wakeup() => {}
            _ = finished.notified() => {
                // Let a few more sends finish before asking the database again: under load
                // this turns one outbox query per send into one per handful, for 5 ms of delay.
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            _ = tokio::time::sleep(wait) => {}
        }
    }
}

/// One attempt at one message, recorded through the writer.
async fn deliver_one(d: &Delivery, p: Pending) {
    let outcome = attempt(d, &p).await;
    let status = match &outcome {
        Outcome::Sent { .. } => Some(MessageStatus::Sent),
        Outcome::Failed { message, code, .. } => {
            tracing::warn!(message.id = p.message_id, wechat.errcode = %code, reason = %message, "a reply failed");
            Some(MessageStatus::Failed)
        }
        Outcome::Retry { error, .. } => {
            tracing::info!(message.id = p.message_id, reason = %error, "a reply will be retried");
            None
        }
        Outcome::Uploaded { .. } => None,
    };
    if let Err(e) = d.writer.apply(Update::Delivery(outcome)).await {
        // Not recorded: the row stays due and is attempted again.
        tracing::error!(message.id = p.message_id, error = %e, "cannot record a delivery outcome");
        return;
    }
    match status {
        Some(status) => {
            metrics::counter!("kefu_replies_total", "status" => status.as_str()).increment(1);
            d.live.publish(Event::MessageStatus {
                conversation_id: p.conversation_id,
                message_id: p.message_id,
                status,
            });
        }
        None => metrics::counter!("kefu_replies_total", "status" => "retry").increment(1),
    }
}

async fn attempt(d: &Delivery, p: &Pending) -> Outcome {
    let now = now_millis();
    let failed = |code: &str, message: String| Outcome::Failed {
        outbox_id: p.outbox_id,
        message_id: p.message_id,
        contact_id: p.contact_id,
        code: code.to_owned(),
        message,
    };
    let mut content: Value = serde_json::from_str(&p.content).unwrap_or(Value::Null);
    // Upload the attachment once; its media_id is kept for retries.
    let mut media_id = p.media_id.clone();
    if media_id.is_none()
        && let (Some(path), Some(file_type)) = (&p.file_path, &p.file_type)
    {
        let bytes = match tokio::fs::read(d.media_dir.join(path)).await {
            Ok(b) => b,
            Err(e) => {
                return failed(
                    "attachment_missing",
                    format!("kefu's copy of the attachment cannot be read: {e}"),
                );
            }
        };
        match d.api.upload_image(&file_name(path), file_type, bytes).await {
            Ok(id) => {
                let _ = d
                    .writer
                    .apply(Update::Delivery(Outcome::Uploaded {
                        outbox_id: p.outbox_id,
                        media_id: id.clone(),
                    }))
                    .await;
                media_id = Some(id);
            }
            Err(e) => return retry_or_fail(d, p, e, now),
        }
    }
    let body = match send_body(&p.openid, &p.kind, &content, media_id.as_deref()) {
        Ok(b) => b,
        Err(reason) => return failed("invalid_message", reason),
    };
    match d.api.send(&body).await {
        Ok(()) => {
            if let (Some(id), Some(obj)) = (&media_id, content.as_object_mut()) {
                let key = if p.kind == "image" {
                    "media_id"
                } else {
                    "thumb_media_id"
                };
                obj.insert(key.into(), Value::String(id.clone()));
            }
            Outcome::Sent {
                outbox_id: p.outbox_id,
                message_id: p.message_id,
                content: media_id.is_some().then(|| content.to_string()),
            }
        }
        Err(e) => retry_or_fail(d, p, e, now),
    }
}

fn retry_or_fail(d: &Delivery, p: &Pending, e: ApiError, now: Millis) -> Outcome {
    let first = p.first_attempt_at.unwrap_or(now);
    let attempts = p.attempts + 1;
    if e.is_transient() && now - first < d.config.retry_for_ms {
        return Outcome::Retry {
            outbox_id: p.outbox_id,
            attempts,
            first_attempt_at: first,
            next_attempt_at: now + backoff(d.config.backoff_ms, p.attempts),
            error: e.to_string(),
        };
    }
    let message = if e.is_transient() {
        format!(
            "{} (gave up after {attempts} attempts)",
            e.to_string().trim_end_matches("; kefu will retry")
        )
    } else {
        e.to_string()
    };
    Outcome::Failed {
        outbox_id: p.outbox_id,
        message_id: p.message_id,
        contact_id: p.contact_id,
        code: e.code().to_owned(),
        message,
    }
}

fn file_name(path: &str) -> String {
    Path::new(path).file_name().map_or_else(
        || "image.jpg".to_owned(),
        |n| n.to_string_lossy().into_owned(),
    )
}

/// The file extension for an image content type kefu keeps.
pub fn image_extension(content_type: &str) -> Option<&'static str> {
    match content_type.split(';').next().unwrap_or_default().trim() {
        "image/jpeg" | "image/jpg" => Some("jpg"),
        "image/png" => Some("png"),
        "image/gif" => Some("gif"),
        "image/webp" => Some("webp"),
        _ => None,
    }
}

/// The image type of `bytes` by its magic number (uploads are not trusted by their name).
pub fn sniff_image(bytes: &[u8]) -> Option<&'static str> {
    if bytes.starts_with(&[0xFF, 0xD8, 0xFF]) {
        Some("image/jpeg")
    } else if bytes.starts_with(b"\x89PNG\r\n\x1a\n") {
        Some("image/png")
    } else if bytes.starts_with(b"GIF87a") || bytes.starts_with(b"GIF89a") {
        Some("image/gif")
    } else {
        None
    }
}

async fn media_loop(d: Delivery) {
    const AT_ONCE: i64 = 8;
    loop {
        match media::due_fetches(d.store.pool(), now_millis(), AT_ONCE).await {
            Ok(due) if !due.is_empty() => {
                let mut tasks = tokio::task::JoinSet::new();
                for f in due {
                    let d = d.clone();
                    tasks.spawn(async move { fetch_one(&d, f).await });
                }
                while tasks.join_next().await.is_some() {}
                continue;
            }
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "cannot read pending media; will retry"),
        }
        let now = now_millis();
        let wait = match media::next_fetch_at(d.store.pool()).await.ok().flatten() {
            Some(at) if at > now => Duration::from_millis((at - now) as u64),
            Some(_) => Duration::from_millis(200),
            None => Duration::from_secs(60),
        };
        tokio::select! {
            _ = d.live.media_wakeup() => {}
            _ = tokio::time::sleep(wait) => {}
        }
    }
}

/// Incoming images are retried for a day; WeChat keeps temporary media for three.
const MEDIA_RETRY_FOR_ATTEMPTS: i64 = 20;

async fn fetch_one(d: &Delivery, f: media::Fetch) {
    let outcome = match d.api.get_media(&f.media_id).await {
        Ok((_, bytes)) if bytes.len() > MAX_IMAGE_BYTES => media::Outcome::Failed {
            message_id: f.message_id,
            error: format!("the image is larger than {} MiB", MAX_IMAGE_BYTES >> 20),
        },
        Ok((content_type, bytes)) => {
            let content_type = sniff_image(&bytes).map_or(content_type, str::to_owned);
            let ext = image_extension(&content_type).unwrap_or("bin");
            let relative = format!("in/{}.{ext}", f.message_id);
            match write_file(&d.media_dir, &relative, &bytes).await {
                Ok(()) => media::Outcome::Stored {
                    message_id: f.message_id,
                    path: relative,
                    content_type,
                },
                Err(e) => media::Outcome::Retry {
                    message_id: f.message_id,
                    attempts: f.attempts + 1,
                    next_attempt_at: now_millis() + backoff(d.config.backoff_ms, f.attempts),
                    error: format!("cannot write the image to disk: {e}"),
                },
            }
        }
        Err(e) if e.is_transient() && f.attempts < MEDIA_RETRY_FOR_ATTEMPTS => {
            media::Outcome::Retry {
                message_id: f.message_id,
                attempts: f.attempts + 1,
                next_attempt_at: now_millis() + backoff(d.config.backoff_ms, f.attempts),
                error: e.to_string(),
            }
        }
        Err(e) => media::Outcome::Failed {
            message_id: f.message_id,
            error: e.to_string(),
        },
    };
    let stored = matches!(outcome, media::Outcome::Stored { .. });
    if let Err(e) = d.writer.apply(Update::Media(outcome)).await {
        tracing::error!(message.id = f.message_id, error = %e, "cannot record a media fetch");
        return;
    }
    if stored {
        d.live.publish(Event::MediaStored {
            conversation_id: f.conversation_id,
            message_id: f.message_id,
        });
    }
}

/// Writes a file atomically (temporary name, then rename) so a reader never sees half of it.
pub async fn write_file(dir: &Path, relative: &str, bytes: &[u8]) -> std::io::Result<()> {
    let path = dir.join(relative);
    if let Some(parent) = path.parent() {
        tokio::fs::create_dir_all(parent).await?;
    }
    let tmp = path.with_extension("part");
    tokio::fs::write(&tmp, bytes).await?;
    tokio::fs::rename(&tmp, &path).await
}

/// WeChat's typing limits: at most one indicator per 15 s per customer, and only within 30 s
/// of the customer's last message.
#[derive(Default)]
pub struct TypingLimiter {
    last_sent: Mutex<HashMap<i64, Millis>>,
}

pub const TYPING_EVERY_MS: Millis = 15_000;
pub const TYPING_WITHIN_MS: Millis = 30_000;

impl TypingLimiter {
    /// Sends WeChat's typing indicator for this contact when the limits allow; Ok(false) when
    /// they do not (nothing is sent).
    pub async fn typing(
        &self,
        api: &WechatApi,
        contact_id: i64,
        openid: &str,
        last_interaction: Option<Millis>,
    ) -> Result<bool, ApiError> {
        let now = now_millis();
        if last_interaction.is_none_or(|at| now - at > TYPING_WITHIN_MS) {
            return Ok(false);
        }
        {
            let mut last = self.last_sent.lock().unwrap_or_else(|e| e.into_inner());
            if last
                .get(&contact_id)
                .is_some_and(|at| now - at < TYPING_EVERY_MS)
            {
                return Ok(false);
            }
            last.retain(|_, at| now - *at < TYPING_EVERY_MS);
            last.insert(contact_id, now);
        }
        api.typing(openid, Typing::Start).await.map(|_| true)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn send_bodies_follow_wechats_shapes() {
        let text = send_body("o1", "text", &json!({"text": "你好"}), None).unwrap();
        assert_eq!(
            text,
            json!({"touser":"o1","msgtype":"text","text":{"content":"你好"}})
        );
        let image = send_body("o1", "image", &json!({}), Some("m1")).unwrap();
        assert_eq!(image["image"]["media_id"], "m1");
        assert!(send_body("o1", "image", &json!({}), None).is_err());
        let card = send_body(
            "o1",
            "miniprogrampage",
            &json!({"title":"t","pagepath":"p","thumb_media_id":"m2"}),
            None,
        )
        .unwrap();
        assert_eq!(card["miniprogrampage"]["thumb_media_id"], "m2");
        assert!(send_body("o1", "note", &json!({"text":"x"}), None).is_err());
    }

    #[test]
    fn backoff_doubles_with_jitter_and_is_capped() {
        for attempts in 0..40 {
            let b = backoff(1000, attempts);
            let exp = (1000i64 << attempts.min(20)).min(MAX_BACKOFF_MS);
            assert!(b >= exp / 2 && b <= exp * 3 / 2, "{attempts}: {b}");
        }
    }

    #[test]
    fn images_are_recognised_by_their_bytes() {
        assert_eq!(sniff_image(&[0xFF, 0xD8, 0xFF, 0xE0]), Some("image/jpeg"));
        assert_eq!(sniff_image(b"\x89PNG\r\n\x1a\nrest"), Some("image/png"));
        assert_eq!(sniff_image(b"<svg"), None);
    }
}
