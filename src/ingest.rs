//! The webhook's hot path after verification: a parsed push becomes a stored message, and the
//! webhook answers `success` only once that message is committed to disk.
//!
//! Why a single writer with group commit: SQLite allows one writer at a time, and a durable
//! commit costs an fsync. One transaction per request would serialise every push behind its
//! own fsync (a few thousand a second at best). Instead every push goes through a channel to
//! one task that owns the write connection; it takes whatever has queued up (up to
//! `MAX_BATCH`), writes it all in one transaction, commits once, and only then tells each
//! waiting request its outcome. Under light load a batch is one push and latency is one
//! commit; under heavy load batches grow and throughput follows.

use std::time::Instant;

use serde_json::json;
use sqlx::{Connection, SqliteConnection};
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;

use crate::domain::{MessageType, now_millis};
use crate::store::Store;
use crate::store::inbound::{self, Inbound, Stored};
use crate::wechat::push::{Push, PushKind};

/// Most pushes written in one transaction.
const MAX_BATCH: usize = 512;
/// Pushes waiting for the writer; beyond this, requests wait (backpressure, bounded memory).
const QUEUE: usize = 4096;

#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    #[error("the message store is shutting down")]
    Closed,
    #[error("the message could not be stored: {0}")]
    Store(String),
}

struct Job {
    message: Inbound,
    done: oneshot::Sender<Result<Stored, IngestError>>,
}

/// The handle the webhook uses to store pushes; cheap to clone.
#[derive(Clone)]
pub struct Ingest {
    jobs: mpsc::Sender<Job>,
}

impl Ingest {
    /// Opens the writer connection and starts the writer task. The task ends once every
    /// `Ingest` handle is dropped and the queue is drained.
    pub async fn start(store: &Store) -> Result<(Ingest, JoinHandle<()>), sqlx::Error> {
        let conn = store.writer_connection().await?;
        let (jobs, rx) = mpsc::channel(QUEUE);
        let task = tokio::spawn(writer(conn, rx));
        Ok((Ingest { jobs }, task))
    }

    /// Stores a push durably; returns once it is committed (or known to be a duplicate).
    pub async fn store(&self, push: &Push) -> Result<Stored, IngestError> {
        let (done, outcome) = oneshot::channel();
        let job = Job {
            message: to_inbound(push),
            done,
        };
        self.jobs.send(job).await.map_err(|_| IngestError::Closed)?;
        outcome.await.map_err(|_| IngestError::Closed)?
    }
}

/// What the store keeps of a push: its content as the JSON the API shows.
pub fn to_inbound(push: &Push) -> Inbound {
    let (kind, content, is_customer_message) = match &push.kind {
        PushKind::Text { content, .. } => (MessageType::Text, json!({ "text": content }), true),
        PushKind::Image {
            pic_url, media_id, ..
        } => (
            MessageType::Image,
            json!({ "media_id": media_id, "pic_url": pic_url }),
            true,
        ),
        PushKind::MiniProgramPage {
            title,
            app_id,
            page_path,
            thumb_url,
            thumb_media_id,
            ..
        } => (
            MessageType::MiniProgramPage,
            json!({
                "title": title, "appid": app_id, "pagepath": page_path,
                "thumb_url": thumb_url, "thumb_media_id": thumb_media_id,
            }),
            true,
        ),
        PushKind::Event {
            event,
            session_from,
        } => (
            MessageType::Event,
            json!({ "event": event, "session_from": session_from }),
            false,
        ),
        // A message type kefu does not know yet (voice, video, …) is still the customer
        // talking when it has a MsgId; without one it is some other platform notice.
        PushKind::Unknown { msg_type, msg_id } => (
            MessageType::Unknown,
            json!({ "msg_type": msg_type, "raw": push.raw }),
            msg_id.is_some(),
        ),
    };
    let is_enter =
        matches!(&push.kind, PushKind::Event { event, .. } if event == "user_enter_tempsession");
    Inbound {
        openid: push.from_user.clone(),
        dedup_key: push.dedup_key(),
        kind,
        content: content.to_string(),
        wechat_time: push.create_time.saturating_mul(1000),
        is_customer_message,
        is_enter,
        session_from: match &push.kind {
            PushKind::Event { session_from, .. } if is_enter => session_from.clone(),
            _ => None,
        },
    }
}

async fn writer(mut conn: SqliteConnection, mut rx: mpsc::Receiver<Job>) {
    let mut messages: Vec<Inbound> = Vec::with_capacity(MAX_BATCH);
    let mut waiters: Vec<oneshot::Sender<Result<Stored, IngestError>>> =
        Vec::with_capacity(MAX_BATCH);
    while let Some(first) = rx.recv().await {
        let mut next = Some(first);
        while let Some(job) = next {
            messages.push(job.message);
            waiters.push(job.done);
            next = if messages.len() < MAX_BATCH {
                rx.try_recv().ok()
            } else {
                None
            };
        }
        let started = Instant::now();
        let size = messages.len();
        match write_batch(&mut conn, &messages).await {
            Ok(outcomes) => {
                for (done, outcome) in waiters.drain(..).zip(outcomes) {
                    let _ = done.send(Ok(outcome));
                }
            }
            Err(e) => {
                // One bad push must not fail its neighbours: retry each on its own.
                tracing::warn!(batch.size = size, error = %e, "a batch write failed, retrying its pushes one by one");
                for (message, done) in messages.iter().zip(waiters.drain(..)) {
                    let outcome = write_batch(&mut conn, std::slice::from_ref(message))
                        .await
                        .map(|mut v| v.remove(0))
                        .map_err(|e| {
                            tracing::error!(push.key = %message.dedup_key, error = %e, "a push could not be stored");
                            IngestError::Store(e.to_string())
                        });
                    let _ = done.send(outcome);
                }
            }
        }
        messages.clear();
        metrics::histogram!("kefu_ingest_batch_size").record(size as f64);
        metrics::histogram!("kefu_ingest_commit_seconds").record(started.elapsed().as_secs_f64());
    }
    let _ = conn.close().await;
}

async fn write_batch(
    conn: &mut SqliteConnection,
    messages: &[Inbound],
) -> Result<Vec<Stored>, sqlx::Error> {
    let mut tx = conn.begin().await?;
    let outcomes = inbound::store_batch(&mut tx, messages, now_millis()).await?;
    tx.commit().await?;
    Ok(outcomes)
}
