//! Periodic background jobs that belong to no area: the WAL checkpoint and the sweep of
//! ended sessions.

use std::time::Duration;

use crate::store::Store;

/// Keeps the WAL short, off the ingest writer's path (see `Store::checkpoint`), and forgets
/// ended sessions once an hour.
pub(super) async fn checkpoint_loop(store: Store) {
    let mut every = tokio::time::interval(Duration::from_secs(1));
    every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    for tick in 0u64.. {
        every.tick().await;
        if let Err(e) = store.checkpoint().await {
            tracing::warn!(error = %e, "WAL checkpoint failed; will retry");
        }
        if tick % 3600 == 0 {
            let now = crate::domain::now_millis();
            if let Err(e) =
                crate::store::sessions::delete_expired(store.pool(), now, crate::web::auth::IDLE)
                    .await
            {
                tracing::warn!(error = %e, "cannot delete ended sessions; will retry");
            }
        }
    }
}
