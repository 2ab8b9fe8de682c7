//! Periodic background jobs that belong to no area: the sweep of ended sessions, and the end
//! of snoozes. (The WAL checkpoint, the search index and the reports' figures are the ingest
//! writer's, between its batches: `writer`.)

use std::time::Duration;

use crate::live::Live;
use crate::store::Store;

/// Forgets ended sessions once an hour.
pub(super) async fn sessions_loop(store: Store) {
    let mut every = tokio::time::interval(Duration::from_secs(3600));
    every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        every.tick().await;
        let now = crate::domain::now_millis();
        if let Err(e) =
            crate::store::sessions::delete_expired(store.pool(), now, crate::web::auth::IDLE).await
        {
            tracing::warn!(error = %e, "cannot delete ended sessions; will retry");
        }
    }
}

/// How often the end of the next snooze is looked at: a snooze ends within this of its time.
const SNOOZE_EVERY: Duration = Duration::from_secs(1);

/// Ends snoozes when their time comes: the conversation is open again and the dashboards are
/// told (`services::conversations::wake_snoozed`). A snooze is set by a request and ended by a
/// customer message or by this job; with no signal for "a snooze was set", the job reads the
/// earliest end once a second (one step down a partial index that holds only the snoozed
/// conversations) and writes only when one is due.
pub(super) async fn snooze_loop(store: Store, live: Live) {
    let mut every = tokio::time::interval(SNOOZE_EVERY);
    every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        every.tick().await;
        let now = crate::domain::now_millis();
        match crate::store::conversations::next_snooze_end(store.pool()).await {
            Ok(Some(end)) if end <= now => {}
            Ok(_) => continue,
            Err(e) => {
                tracing::warn!(error = %e, "cannot read when the next snooze ends; will retry");
                continue;
            }
        }
        match crate::services::conversations::wake_snoozed(&store, &live, now).await {
            Ok(woken) => tracing::debug!(conversations = woken.len(), "snoozes ended"),
            Err(e) => tracing::warn!(error = %e, "cannot end the snoozes that are due; will retry"),
        }
    }
}
