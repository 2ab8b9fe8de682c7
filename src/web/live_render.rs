//! Renders the HTML of live events once, for every dashboard, with the same templates as the
//! pages (`web::views`), then hands them to the live hub to number and send.
//!
//! Events arrive in publishing order and leave in the same order. A burst is taken as one
//! batch: its conversations and messages are read in two queries, whatever its size. The
//! inbox tabs' counts are recounted after changes, at most every `COUNTS_EVERY`, so a flood
//! of new conversations costs a few counts a second, not one per push.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use tokio::time::Instant;

use crate::domain::{ReplyRules, now_millis};
use crate::live::{Event, Fragments, Live};
use crate::store::Store;
use crate::store::conversations::{self, ConversationRow, OpenCounts};
use crate::store::labels::{self, LabelRow};
use crate::store::messages::{self, MessageRow};
use crate::web::views::{
    MessageFragment, MessageView, RowFragment, RowView, StateFragment, WindowState, fragment,
    in_each_lang,
};

/// The longest a batch of events waits to be rendered together: none, it takes what is
/// queued. This bounds one batch's size instead.
const BATCH: usize = 256;
/// Recount the inbox tabs at most this often.
const COUNTS_EVERY: Duration = Duration::from_millis(250);

/// Runs until the hub is gone.
pub async fn run(store: Store, live: Live, rules: ReplyRules, channels: crate::channels::Channels) {
    let Some(mut queue) = live.attach_renderer() else {
        tracing::error!("a second live renderer was started; it does nothing");
        return;
    };
    let mut batch = Vec::with_capacity(BATCH);
    let mut counts_due: Option<Instant> = None;
    let mut counted_at = Instant::now() - COUNTS_EVERY;
    loop {
        tokio::select! {
            n = queue.recv_many(&mut batch, BATCH) => {
                if n == 0 {
                    break;
                }
                if batch.iter().any(changes_counts) && counts_due.is_none() {
                    counts_due = Some((counted_at + COUNTS_EVERY).max(Instant::now()));
                }
                render_batch(&store, &live, &rules, &channels, std::mem::take(&mut batch)).await;
            }
            _ = tokio::time::sleep_until(counts_due.unwrap_or_else(Instant::now)), if counts_due.is_some() => {
                counts_due = None;
                counted_at = Instant::now();
                match count(&store, &live).await {
                    Ok(by_channel) => live.sequence(
                        Event::InboxCounts {
                            counts: Arc::new(by_channel.within(None)),
                            by_channel,
                        },
                        None,
                    ),
                    Err(e) => tracing::warn!(error = %e, "cannot count the inbox"),
                }
            }
        }
    }
}

/// The inbox tabs' counts: the cached ones while nothing changed since, else counted now
/// (a scan of the open conversations' index, milliseconds at 100,000) and cached.
pub async fn inbox_counts(store: &Store, live: &Live) -> sqlx::Result<Arc<OpenCounts>> {
    match live.cached_counts() {
        Some(counts) => Ok(counts),
        None => count(store, live).await,
    }
}

async fn count(store: &Store, live: &Live) -> sqlx::Result<Arc<OpenCounts>> {
    let generation = live.counts_generation();
    let counts = Arc::new(conversations::open_counts(store.pool()).await?);
    live.cache_counts(generation, counts.clone());
    Ok(counts)
}

fn changes_counts(e: &Event) -> bool {
    // a new message changes the unread totals; assignment and status changes the counts
    matches!(
        e,
        Event::MessageAdded { .. } | Event::ConversationChanged { .. }
    )
}

async fn render_batch(
    store: &Store,
    live: &Live,
    rules: &ReplyRules,
    channels: &crate::channels::Channels,
    batch: Vec<Event>,
) {
    if !live.watched() {
        // nobody to show it to: numbered bare, and a dashboard that later asks for these
        // events is told to reload (a fresh page shows them) instead of rendering for no one
        for event in batch {
            live.sequence(event, None);
        }
        return;
    }
    let conversation_ids: BTreeSet<i64> = batch
        .iter()
        .filter(|e| {
            matches!(
                e,
                Event::MessageAdded { .. } | Event::ConversationChanged { .. }
            )
        })
        .filter_map(Event::conversation_id)
        .collect();
    let conversation_ids: Vec<i64> = conversation_ids.into_iter().collect();
    let rows = match conversations::by_ids(store, &conversation_ids).await {
        Ok(rows) => rows,
        Err(e) => return unrendered(live, batch, e),
    };
    let mut message_ids: BTreeSet<i64> = batch
        .iter()
        .filter_map(|e| match e {
            Event::MessageAdded { message_id, .. }
            | Event::MessageStatus { message_id, .. }
            | Event::MediaStored { message_id, .. } => Some(*message_id),
            _ => None,
        })
        .collect();
    message_ids.extend(rows.iter().filter_map(|r| r.last_message_id));
    let message_ids: Vec<i64> = message_ids.into_iter().collect();
    let msgs = match messages::by_ids(store, &message_ids).await {
        Ok(m) => m,
        Err(e) => return unrendered(live, batch, e),
    };
    // the rows' label chips: one more query for the whole batch
    let row_labels = match labels::of_conversations(store, &conversation_ids).await {
        Ok(l) => l,
        Err(e) => return unrendered(live, batch, e),
    };
    let now = now_millis();
    for event in batch {
        let html = fragments(&event, &rows, &msgs, &row_labels, rules, channels, now);
        live.sequence(event, Some(html));
    }
}

/// The HTML for one event (as of the batch's reading of the database: a later event of the
/// same conversation shows the same or newer state, never older).
fn fragments(
    event: &Event,
    rows: &[ConversationRow],
    msgs: &[MessageRow],
    row_labels: &[(i64, LabelRow)],
    rules: &ReplyRules,
    channels: &crate::channels::Channels,
    now: i64,
) -> Fragments {
    let message_of = |id: i64| msgs.iter().find(|m| m.id == id);
    let mut html = Fragments::default();
    let message_id = match event {
        Event::MessageAdded { message_id, .. }
        | Event::MessageStatus { message_id, .. }
        | Event::MediaStored { message_id, .. } => Some(*message_id),
        _ => None,
    };
    if let Some(m) = message_id.and_then(message_of) {
        html.message = Some(in_each_lang(|lang| {
            let t = lang.text();
            fragment(&MessageFragment {
                m: &MessageView::of(m, t),
                t,
            })
        }));
    }
    let row = event
        .conversation_id()
        .and_then(|id| rows.iter().find(|r| r.id == id));
    if let Some(r) = row {
        html.channel_id = Some(r.channel_id);
        let last = r.last_message_id.and_then(message_of);
        let views = in_each_lang(|lang| {
            let labels = row_labels
                .iter()
                .filter(|(c, _)| *c == r.id)
                .map(|(_, l)| l);
            RowView::of(r, last, rules, now, lang.text())
                .with_labels(labels)
                .with_channel(channels)
        });
        html.row = Some(in_each_lang(|lang| {
            fragment(&RowFragment {
                c: &views[lang.index()],
                t: lang.text(),
            })
        }));
        html.state = Some(in_each_lang(|lang| {
            let c = &views[lang.index()];
            fragment(&StateFragment {
                c,
                t: lang.text(),
                window: WindowState::of(&c.window, now, lang.text()),
            })
        }));
    }
    html
}

/// The database could not be read: the events still go out, without HTML, so dashboards
/// know something changed (their script reloads what it cannot show).
fn unrendered(live: &Live, batch: Vec<Event>, e: sqlx::Error) {
    tracing::warn!(error = %e, "cannot render live updates; sending them without HTML");
    for event in batch {
        live.sequence(event, None);
    }
}
