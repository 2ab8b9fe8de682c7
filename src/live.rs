//! The event bus: what changed, for whoever is watching (the live inbox over WebSocket, and
//! kefu's own background workers). Publishing never blocks and never fails: a watcher that
//! falls behind is told it lagged (tokio's broadcast semantics) and reloads.

use std::sync::Arc;

use tokio::sync::{Notify, broadcast};

/// Something that changed, named by the ids a watcher needs to fetch it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// A message was stored (incoming, or queued by an agent or the bot).
    MessageAdded {
        conversation_id: i64,
        message_id: i64,
        new_conversation: bool,
    },
    /// An outbound message was sent or failed.
    MessageStatus {
        conversation_id: i64,
        message_id: i64,
        status: crate::domain::MessageStatus,
    },
    /// An incoming image is now stored by kefu.
    MediaStored {
        conversation_id: i64,
        message_id: i64,
    },
    /// Status, assignee or handler of a conversation changed.
    ConversationChanged { conversation_id: i64 },
}

/// The bus, plus wake-ups for the background workers; cheap to clone.
#[derive(Clone)]
pub struct Live {
    events: broadcast::Sender<Event>,
    outbox: Arc<Notify>,
    media: Arc<Notify>,
}

impl Default for Live {
    fn default() -> Self {
        Live::new()
    }
}

impl Live {
    pub fn new() -> Live {
        Live {
            events: broadcast::channel(4096).0,
            outbox: Arc::new(Notify::new()),
            media: Arc::new(Notify::new()),
        }
    }

    pub fn publish(&self, event: Event) {
        // no receiver is fine: nobody is watching
        let _ = self.events.send(event);
    }

    pub fn subscribe(&self) -> broadcast::Receiver<Event> {
        self.events.subscribe()
    }

    /// A message was queued for delivery.
    pub fn outbox_waiting(&self) {
        self.outbox.notify_one();
    }

    pub async fn outbox_wakeup(&self) {
        self.outbox.notified().await;
    }

    /// An incoming image waits to be fetched.
    pub fn media_waiting(&self) {
        self.media.notify_one();
    }

    pub async fn media_wakeup(&self) {
        self.media.notified().await;
    }
}
