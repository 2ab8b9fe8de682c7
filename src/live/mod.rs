//! The event bus and the state behind the WebSocket hub: what changed, in what order, and who
//! is watching. Kefu's own background workers are woken here too (outbox, media).
//!
//! Every published event gets a sequence number, unique and consecutive within one process
//! (`boot` names the process: a client that saw another boot id must reload). The last
//! `KEPT` events stay in a ring, so a dashboard that reconnects is sent exactly what it
//! missed, or told to reload when that is no longer kept: never a silent gap.
//!
//! Publishing never awaits and never fails: the sequence number, the ring and the fan-out are
//! updated under one short lock (so the fan-out order is the sequence order), and a watcher
//! that falls behind the fan-out learns it lagged (tokio's broadcast) instead of slowing
//! the publisher.
//!
//! Presence (who is online, who views or types in which conversation) is kept per WebSocket
//! connection, so two tabs of one person count once and closing one keeps them online. Every
//! change of it is itself an event. This module owns no socket: `web::ws` drives it.
//!
//! This file holds the bus: events, their numbering, the ring and the fan-out. Presence is in
//! `presence`, the inbox counts cache in `counts`, the workers' wake-ups in `wakeups`, the
//! dashboards' own lower-priority thread in `thread`; the frame a dashboard receives for an
//! event is built by `web::ws`.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};

use axum::extract::ws::Utf8Bytes;
use serde::Serialize;
use tokio::sync::{Notify, broadcast, mpsc, watch};

use crate::store::conversations::{InboxCounts, OpenCounts};

mod counts;
mod presence;
mod thread;
mod wakeups;

use presence::Presence;
pub use presence::{Connection, PresenceSnapshot, TYPING_FOR, Watchers};
pub use thread::Fanout;

/// How many of the latest events are kept for reconnecting clients. At 500 events/s this
/// is about 8 s; a client away longer reloads, which costs one page load.
pub const KEPT: usize = 4096;

/// Something that changed, named by the ids a watcher needs to fetch it. Serialized for
/// the WebSocket as `{"kind": "message_added", ...fields}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
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
    /// A staff member came online (their first open dashboard) or went offline (their last
    /// one closed).
    StaffPresence { staff: StaffRef, online: bool },
    /// Who views and who types in a conversation now (the whole list, not a difference, so
    /// applying the latest one is always right).
    ConversationPresence {
        conversation_id: i64,
        viewing: Vec<StaffRef>,
        typing: Vec<StaffRef>,
    },
    /// The inbox tabs' counts changed (sent at most a few times a second).
    InboxCounts {
        /// over every channel
        counts: Arc<InboxCounts>,
        /// per channel, for dashboards limited to some (`web::ws` counts theirs)
        #[serde(skip)]
        by_channel: Arc<OpenCounts>,
    },
    /// An admin deleted a label: lists and panels drop its chips and its choice.
    LabelDeleted { label_id: i64 },
}

impl Event {
    /// The conversation the event is about, if it is about one.
    pub fn conversation_id(&self) -> Option<i64> {
        match self {
            Event::MessageAdded {
                conversation_id, ..
            }
            | Event::MessageStatus {
                conversation_id, ..
            }
            | Event::MediaStored {
                conversation_id, ..
            }
            | Event::ConversationChanged { conversation_id }
            | Event::ConversationPresence {
                conversation_id, ..
            } => Some(*conversation_id),
            Event::StaffPresence { .. }
            | Event::InboxCounts { .. }
            | Event::LabelDeleted { .. } => None,
        }
    }

    /// Whether dashboards show this event with HTML rendered from the database.
    pub fn shows_html(&self) -> bool {
        matches!(
            self,
            Event::MessageAdded { .. }
                | Event::MessageStatus { .. }
                | Event::MediaStored { .. }
                | Event::ConversationChanged { .. }
        )
    }
}

/// A staff member as presence shows them.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub struct StaffRef {
    pub id: i64,
    pub name: String,
}

/// The HTML a dashboard puts on screen for an event, rendered once for everyone by
/// `web::live_render` with the pages' own templates: `[zh, en]` for each part.
#[derive(Debug, Default, Clone)]
pub struct Fragments {
    /// the conversation's inbox row
    pub row: Option<[String; 2]>,
    /// the conversation page's state line
    pub state: Option<[String; 2]>,
    /// the message, for dashboards viewing its conversation
    pub message: Option<[String; 2]>,
    /// the conversation's channel, so that dashboards limited to some channels skip others'
    pub channel_id: Option<i64>,
}

/// An event with its sequence number, as the fan-out and the ring carry it (shared, not
/// copied, between the watchers).
#[derive(Debug)]
pub struct Sequenced {
    pub seq: u64,
    pub event: Event,
    pub html: Option<Fragments>,
    /// serialized frames: per language, without and with the message fragment
    pub(crate) frames: [OnceLock<Utf8Bytes>; 4],
}

impl Sequenced {
    /// A dashboard cannot show this event: it needed HTML that was not rendered (nobody was
    /// connected, or the database could not be read). It must reload instead.
    pub fn unshowable(&self) -> bool {
        self.html.is_none() && self.event.shows_html()
    }

    fn new(seq: u64, event: Event, html: Option<Fragments>) -> Sequenced {
        Sequenced {
            seq,
            event,
            html,
            frames: Default::default(),
        }
    }
}

/// The events after a sequence number are no longer all kept (or the number was never
/// reached in this process): the client must reload.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the events after {since} are no longer kept (kept: {oldest} to {last})")]
pub struct TooOld {
    pub since: u64,
    /// the oldest kept (last + 1 when none is kept)
    pub oldest: u64,
    pub last: u64,
}

/// What a new watcher starts from: nothing is missed and nothing is sent twice between
/// `missed` and `events`, and `presence` is the state as of `seq`.
pub struct Attached {
    /// the last event published when attaching (0 before the first)
    pub seq: u64,
    /// the events after the requested `since`, up to `seq`, in order
    pub missed: Vec<Arc<Sequenced>>,
    /// the events after `seq`
    pub events: broadcast::Receiver<Arc<Sequenced>>,
    pub presence: PresenceSnapshot,
}

/// The bus, plus wake-ups for the background workers; cheap to clone.
#[derive(Clone)]
pub struct Live {
    hub: Arc<Hub>,
    outbox: Arc<Notify>,
    media: Arc<Notify>,
}

struct Hub {
    boot: String,
    closing: watch::Sender<bool>,
    ring: Mutex<Ring>,
    /// sequenced events, for the WebSocket hub
    fanout: broadcast::Sender<Arc<Sequenced>>,
    /// the plain events, for in-process watchers (`subscribe`)
    plain: broadcast::Sender<Event>,
    /// where events wait to have their HTML rendered, once a renderer is attached
    render: OnceLock<mpsc::UnboundedSender<Event>>,
    /// bumped by every event that can change the inbox counts
    counts_generation: AtomicU64,
    /// the latest counts, with the generation they were counted at
    counts: Mutex<Option<(u64, Arc<OpenCounts>)>>,
    /// Locked before `ring` whenever both are (a presence change publishes while holding it,
    /// so presence events are in the order of the changes).
    presence: Mutex<Presence>,
}

struct Ring {
    last: u64,
    kept: VecDeque<Arc<Sequenced>>,
}

impl Ring {
    fn after(&self, since: u64) -> Result<impl Iterator<Item = &Arc<Sequenced>>, TooOld> {
        let oldest = self.kept.front().map_or(self.last + 1, |e| e.seq);
        if since > self.last || since + 1 < oldest {
            return Err(TooOld {
                since,
                oldest,
                last: self.last,
            });
        }
        // kept holds oldest..=last without holes, so the index is arithmetic
        let skip = usize::try_from(since + 1 - oldest).unwrap_or(usize::MAX);
        Ok(self.kept.iter().skip(skip))
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // a panic elsewhere while holding the lock leaves consistent data: every update here is
    // a few field assignments
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Default for Live {
    fn default() -> Self {
        Live::new()
    }
}

impl Live {
    pub fn new() -> Live {
        Live {
            hub: Arc::new(Hub {
                boot: format!("{:016x}", rand::random::<u64>()),
                closing: watch::channel(false).0,
                ring: Mutex::new(Ring {
                    last: 0,
                    kept: VecDeque::with_capacity(KEPT),
                }),
                fanout: broadcast::channel(KEPT).0,
                plain: broadcast::channel(KEPT).0,
                render: OnceLock::new(),
                counts_generation: AtomicU64::new(0),
                counts: Mutex::new(None),
                presence: Mutex::new(Presence::default()),
            }),
            outbox: Arc::new(Notify::new()),
            media: Arc::new(Notify::new()),
        }
    }

    /// This process's id: sequence numbers mean something only with it.
    pub fn boot(&self) -> &str {
        &self.hub.boot
    }

    /// Tells every open dashboard connection to close: the server is stopping.
    pub fn close_dashboards(&self) {
        self.hub.closing.send_replace(true);
    }

    /// Becomes true when the server is stopping.
    pub fn closing(&self) -> watch::Receiver<bool> {
        self.hub.closing.subscribe()
    }

    /// The sequence number of the last event published (0 before the first).
    pub fn seq(&self) -> u64 {
        lock(&self.hub.ring).last
    }

    /// Announces a change. In-process watchers hear of it at once; dashboards once its HTML
    /// is rendered (when a renderer is attached), in the order of publishing.
    pub fn publish(&self, event: Event) {
        if matches!(
            event,
            Event::MessageAdded { .. } | Event::ConversationChanged { .. }
        ) {
            // before anyone can read the change: a cached count is stale from now on
            self.hub.counts_generation.fetch_add(1, Ordering::SeqCst);
        }
        if self.hub.plain.receiver_count() > 0 {
            // no receiver is fine: nobody is watching
            let _ = self.hub.plain.send(event.clone());
        }
        if event.shows_html()
            && let Some(render) = self.hub.render.get()
        {
            if let Err(mpsc::error::SendError(event)) = render.send(event) {
                // the renderer has stopped (shutting down): sequence it bare
                self.sequence(event, None);
            }
            return;
        }
        self.sequence(event, None);
    }

    /// Whether any dashboard is connected (the renderer does no work for nobody).
    pub fn watched(&self) -> bool {
        self.hub.fanout.receiver_count() > 0
    }

    /// Hands the events that show HTML to the caller, which renders them and passes them on
    /// with `sequence`. One renderer per process; later calls get None.
    pub fn attach_renderer(&self) -> Option<mpsc::UnboundedReceiver<Event>> {
        let (tx, rx) = mpsc::unbounded_channel();
        self.hub.render.set(tx).ok()?;
        Some(rx)
    }

    /// Numbers an event, keeps it for reconnecting dashboards and sends it to the connected
    /// ones.
    pub fn sequence(&self, event: Event, html: Option<Fragments>) {
        let mut ring = lock(&self.hub.ring);
        ring.last += 1;
        let item = Arc::new(Sequenced::new(ring.last, event, html));
        if ring.kept.len() == KEPT {
            ring.kept.pop_front();
        }
        ring.kept.push_back(item.clone());
        let _ = self.hub.fanout.send(item);
    }

    /// The plain events from now on, for in-process watchers.
    pub fn subscribe(&self) -> broadcast::Receiver<Event> {
        self.hub.plain.subscribe()
    }

    /// Exactly the events after `since`, in order, or `TooOld` when some are no longer kept
    /// (the ring as `attach` reads it; kept for the ring's own tests).
    #[cfg(test)]
    fn since(&self, since: u64) -> Result<Vec<(u64, Event)>, TooOld> {
        let ring = lock(&self.hub.ring);
        Ok(ring
            .after(since)?
            .map(|e| (e.seq, e.event.clone()))
            .collect())
    }

    /// Starts watching: the events after `since` (none when `None`), the live ones after
    /// that, and the presence as of the same moment.
    pub fn attach(&self, since: Option<u64>) -> Result<Attached, TooOld> {
        let presence = lock(&self.hub.presence);
        let ring = lock(&self.hub.ring);
        let missed = match since {
            Some(since) => ring.after(since)?.cloned().collect(),
            None => Vec::new(),
        };
        Ok(Attached {
            seq: ring.last,
            missed,
            events: self.hub.fanout.subscribe(),
            presence: presence.snapshot(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(super) fn added(message_id: i64) -> Event {
        Event::MessageAdded {
            conversation_id: 1,
            message_id,
            new_conversation: false,
        }
    }

    pub(super) fn staff(id: i64) -> StaffRef {
        StaffRef {
            id,
            name: format!("staff {id}"),
        }
    }

    /// Everything published since the receiver was made, in order.
    pub(super) fn drain(rx: &mut broadcast::Receiver<Event>) -> Vec<Event> {
        std::iter::from_fn(|| rx.try_recv().ok()).collect()
    }

    #[test]
    fn since_gives_exactly_the_events_after_a_sequence_number_in_order() {
        let live = Live::new();
        assert_eq!(live.seq(), 0);
        assert_eq!(live.since(0), Ok(vec![]));
        for m in 1..=5 {
            live.publish(added(m));
        }
        assert_eq!(live.seq(), 5);
        assert_eq!(
            live.since(2),
            Ok(vec![(3, added(3)), (4, added(4)), (5, added(5))])
        );
        assert_eq!(live.since(0).unwrap().len(), 5);
        assert_eq!(live.since(5), Ok(vec![]));
        // a number this process never reached (another boot's) cannot be served
        assert!(live.since(6).is_err());
    }

    #[test]
    fn since_is_too_old_once_an_event_after_it_was_evicted() {
        let live = Live::new();
        let total = KEPT as u64 + 10;
        for m in 1..=total {
            live.publish(added(m as i64));
        }
        // kept: 11 ..= total
        assert_eq!(
            live.since(9),
            Err(TooOld {
                since: 9,
                oldest: 11,
                last: total
            })
        );
        let from_oldest = live.since(10).expect("10 is just before the oldest kept");
        assert_eq!(from_oldest.len(), KEPT);
        assert_eq!(from_oldest.first().map(|e| e.0), Some(11));
        assert_eq!(from_oldest.last().map(|e| e.0), Some(total));
        assert!(from_oldest.windows(2).all(|w| w[1].0 == w[0].0 + 1));
        assert_eq!(
            live.since(total - 1),
            Ok(vec![(total, added(total as i64))])
        );
    }

    #[test]
    fn attach_hands_over_from_the_missed_events_to_the_live_ones_without_a_gap() {
        let live = Live::new();
        live.publish(added(1));
        live.publish(added(2));
        let mut attached = live.attach(Some(1)).expect("kept");
        assert_eq!(attached.seq, 2);
        let missed: Vec<u64> = attached.missed.iter().map(|e| e.seq).collect();
        assert_eq!(missed, [2]);
        live.publish(added(3));
        let next = attached.events.try_recv().expect("the next event");
        assert_eq!((next.seq, &next.event), (3, &added(3)));
        assert_eq!(
            next.frame(crate::i18n::Lang::Zh, None).as_str(),
            r#"{"event":{"conversation_id":1,"kind":"message_added","message_id":3,"new_conversation":false},"seq":3,"type":"event"}"#
        );
        assert!(live.attach(Some(7)).is_err());
    }

    #[test]
    fn with_a_renderer_attached_html_events_wait_for_it_and_others_do_not() {
        let live = Live::new();
        let mut queue = live.attach_renderer().expect("the first renderer");
        assert!(live.attach_renderer().is_none());
        let mut plain = live.subscribe();
        live.publish(added(1));
        live.publish(Event::StaffPresence {
            staff: staff(1),
            online: true,
        });
        // in-process watchers hear both at once; the dashboards' sequence has the presence only
        assert_eq!(drain(&mut plain).len(), 2);
        assert_eq!(live.seq(), 1);
        let waiting = queue.try_recv().expect("queued for rendering");
        assert_eq!(waiting, added(1));
        live.sequence(waiting, None);
        assert_eq!(live.seq(), 2);
    }

    #[test]
    fn boot_ids_differ_between_processes() {
        assert_ne!(Live::new().boot(), Live::new().boot());
        assert_eq!(Live::new().boot().len(), 16);
    }

    #[test]
    fn events_serialize_with_their_kind() {
        let e = Event::StaffPresence {
            staff: staff(3),
            online: true,
        };
        assert_eq!(
            serde_json::to_value(&e).unwrap(),
            serde_json::json!({"kind": "staff_presence", "staff": {"id": 3, "name": "staff 3"}, "online": true})
        );
        let e = Event::MessageStatus {
            conversation_id: 1,
            message_id: 2,
            status: crate::domain::MessageStatus::Sent,
        };
        assert_eq!(
            serde_json::to_value(&e).unwrap(),
            serde_json::json!({"kind": "message_status", "conversation_id": 1, "message_id": 2, "status": "sent"})
        );
    }
}
