//! Periodic background jobs that belong to no area: the WAL checkpoint, the sweep of
//! ended sessions, and the end of snoozes.

use std::time::Duration;

use crate::live::Live;
use crate::store::Store;

/// Past this many WAL frames (about 256 MiB of 4 KiB pages) the checkpoint starts the WAL
/// over. Writers wait while it does (up to the checkpoint connection's busy timeout), so it
/// is kept rare: under the soak's load the WAL reaches this in about ten seconds.
const WAL_RESTART_FRAMES: i64 = 65_536;
/// After a restart that gave up on busy readers, the next one waits this long: trying every
/// second would stall the writers every second.
const WAL_RESTART_BACKOFF: Duration = Duration::from_secs(30);

/// Keeps the WAL short, off the ingest writer's path (see `store::checkpoint`), and forgets
/// ended sessions once an hour.
pub(super) async fn checkpoint_loop(store: Store) {
    let mut every = tokio::time::interval(Duration::from_secs(1));
    every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut conn = None;
    let mut restart_after = tokio::time::Instant::now();
    for tick in 0u64.. {
        every.tick().await;
        if conn.is_none() {
            conn = match store.checkpoint_connection().await {
                Ok(c) => Some(c),
                Err(e) => {
                    tracing::warn!(error = %e, "cannot open the checkpoint connection; will retry");
                    None
                }
            };
        }
        if let Some(c) = conn.as_mut() {
            let restart_over = if tokio::time::Instant::now() >= restart_after {
                WAL_RESTART_FRAMES
            } else {
                i64::MAX
            };
            match crate::store::checkpoint(c, restart_over).await {
                Ok(done) => {
                    metrics::gauge!("kefu_wal_frames").set(done.wal_frames as f64);
                    if done.busy && done.wal_frames > WAL_RESTART_FRAMES {
                        restart_after = tokio::time::Instant::now() + WAL_RESTART_BACKOFF;
                        tracing::debug!(
                            frames = done.wal_frames,
                            "the WAL could not start over yet: readers were busy"
                        );
                    }
                }
                Err(e) => {
                    tracing::warn!(error = %e, "WAL checkpoint failed; will retry");
                    conn = None;
                }
            }
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
