//! Wake-ups for kefu's own background workers (the outbox and the media worker): a nudge
//! when there is work, so they need not poll.

use super::Live;

impl Live {
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
