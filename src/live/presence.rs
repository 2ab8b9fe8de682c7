//! Presence: who is online, and who views or types in which conversation, kept per WebSocket
//! connection (two tabs of one person count once; closing one keeps them online). Every
//! change is published as an event, under the presence lock so the events are in the order
//! of the changes.

use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, Instant};

use serde::Serialize;

use super::{Event, Live, StaffRef, lock};

/// Typing shows this long after the last typing signal.
pub const TYPING_FOR: Duration = Duration::from_secs(6);

/// Who is online and who is where, for a dashboard that just connected.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PresenceSnapshot {
    pub online: Vec<StaffRef>,
    /// only conversations someone views or types in
    pub conversations: Vec<Watchers>,
}

/// Who views and who types in one conversation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Watchers {
    pub conversation_id: i64,
    pub viewing: Vec<StaffRef>,
    pub typing: Vec<StaffRef>,
}

impl Live {
    /// Registers one open dashboard of `staff`; the presence lasts as long as the returned
    /// guard.
    pub fn connect(&self, staff: StaffRef) -> Connection {
        let mut presence = lock(&self.hub.presence);
        let was_online = presence.is_online(staff.id);
        presence.next_id += 1;
        let id = presence.next_id;
        presence.conns.insert(
            id,
            Conn {
                staff: staff.clone(),
                viewing: None,
                typing: None,
            },
        );
        if !was_online {
            self.publish(Event::StaffPresence {
                staff,
                online: true,
            });
        }
        Connection {
            live: self.clone(),
            id,
        }
    }

    /// Replaces the presence of connection `id` by what `next` makes of it (`None`: it
    /// left), then publishes what that changed for the other dashboards.
    fn change(&self, id: u64, next: impl FnOnce(&Conn) -> Option<Conn>) {
        let mut presence = lock(&self.hub.presence);
        let Some(conn) = presence.conns.get(&id) else {
            return;
        };
        let staff = conn.staff.clone();
        let next = next(conn);
        let mut touched = conn.touched();
        touched.extend(next.iter().flat_map(Conn::touched));
        touched.sort_unstable();
        touched.dedup();
        let before: Vec<Watchers> = touched.iter().map(|c| presence.watchers(*c)).collect();
        match next {
            Some(next) => presence.conns.insert(id, next),
            None => presence.conns.remove(&id),
        };
        for (c, before) in touched.into_iter().zip(before) {
            let after = presence.watchers(c);
            if after != before {
                self.publish(Event::ConversationPresence {
                    conversation_id: c,
                    viewing: after.viewing,
                    typing: after.typing,
                });
            }
        }
        if !presence.is_online(staff.id) {
            self.publish(Event::StaffPresence {
                staff,
                online: false,
            });
        }
    }

    /// Who is online and who is where, now.
    pub fn presence(&self) -> PresenceSnapshot {
        lock(&self.hub.presence).snapshot()
    }
}

/// One open dashboard's presence; dropping it is leaving.
pub struct Connection {
    live: Live,
    id: u64,
}

impl Connection {
    /// The dashboard now shows this conversation (or none). Typing elsewhere stops.
    pub fn viewing(&self, conversation: Option<i64>) {
        self.update(|c| {
            c.viewing = conversation;
            if c.typing.is_some_and(|(t, _)| Some(t) != conversation) {
                c.typing = None;
            }
        });
    }

    /// The staff member types in `conversation` (`None`: stopped). Returns when typing
    /// shows no more unless signalled again.
    pub fn typing(&self, conversation: Option<i64>) -> Option<Instant> {
        self.typing_at(conversation, Instant::now())
    }

    fn typing_at(&self, conversation: Option<i64>, now: Instant) -> Option<Instant> {
        let until = conversation.map(|c| (c, now + TYPING_FOR));
        self.update(|c| c.typing = until);
        until.map(|(_, at)| at)
    }

    /// Ends typing if no signal came since it was due to end; returns when it is due to end
    /// if it goes on.
    pub fn typing_expired(&self) -> Option<Instant> {
        self.typing_expired_at(Instant::now())
    }

    fn typing_expired_at(&self, now: Instant) -> Option<Instant> {
        self.update(|c| {
            if c.typing.is_some_and(|(_, until)| until <= now) {
                c.typing = None;
            }
        });
        lock(&self.live.hub.presence)
            .conns
            .get(&self.id)
            .and_then(|c| c.typing.map(|(_, until)| until))
    }

    fn update(&self, f: impl FnOnce(&mut Conn)) {
        self.live.change(self.id, |c| {
            let mut next = c.clone();
            f(&mut next);
            Some(next)
        });
    }
}

impl Drop for Connection {
    fn drop(&mut self) {
        self.live.change(self.id, |_| None);
    }
}

#[derive(Default)]
pub(super) struct Presence {
    next_id: u64,
    conns: HashMap<u64, Conn>,
}

#[derive(Clone)]
struct Conn {
    staff: StaffRef,
    viewing: Option<i64>,
    /// the conversation, and until when typing shows
    typing: Option<(i64, Instant)>,
}

impl Conn {
    fn touched(&self) -> Vec<i64> {
        self.viewing
            .into_iter()
            .chain(self.typing.map(|(c, _)| c))
            .collect()
    }
}

impl Presence {
    fn is_online(&self, staff_id: i64) -> bool {
        self.conns.values().any(|c| c.staff.id == staff_id)
    }

    fn watchers(&self, conversation_id: i64) -> Watchers {
        // keyed by id: two tabs of one person show once
        let mut viewing = BTreeMap::new();
        let mut typing = BTreeMap::new();
        for c in self.conns.values() {
            if c.viewing == Some(conversation_id) {
                viewing.insert(c.staff.id, c.staff.clone());
            }
            if c.typing.is_some_and(|(t, _)| t == conversation_id) {
                typing.insert(c.staff.id, c.staff.clone());
            }
        }
        Watchers {
            conversation_id,
            viewing: viewing.into_values().collect(),
            typing: typing.into_values().collect(),
        }
    }

    pub(super) fn snapshot(&self) -> PresenceSnapshot {
        let mut online = BTreeMap::new();
        let mut conversations = Vec::new();
        for c in self.conns.values() {
            online.insert(c.staff.id, c.staff.clone());
            conversations.extend(c.touched());
        }
        conversations.sort_unstable();
        conversations.dedup();
        PresenceSnapshot {
            online: online.into_values().collect(),
            conversations: conversations
                .into_iter()
                .map(|c| self.watchers(c))
                .collect(),
        }
    }
}
#[cfg(test)]
mod tests {
    use super::*;
    use crate::live::tests::{drain, staff};

    #[test]
    fn two_connections_of_one_person_count_once() {
        let live = Live::new();
        let mut rx = live.subscribe();
        let first = live.connect(staff(7));
        let second = live.connect(staff(7));
        assert_eq!(
            drain(&mut rx),
            [Event::StaffPresence {
                staff: staff(7),
                online: true
            }]
        );
        assert_eq!(live.presence().online, [staff(7)]);
        drop(first);
        assert_eq!(drain(&mut rx), [], "one tab closed, still online");
        assert_eq!(live.presence().online, [staff(7)]);
        drop(second);
        assert_eq!(
            drain(&mut rx),
            [Event::StaffPresence {
                staff: staff(7),
                online: false
            }]
        );
        assert!(live.presence().online.is_empty());
    }

    #[test]
    fn viewing_is_published_per_conversation_and_shows_each_person_once() {
        let live = Live::new();
        let a1 = live.connect(staff(1));
        let a2 = live.connect(staff(1));
        let b = live.connect(staff(2));
        let mut rx = live.subscribe();
        a1.viewing(Some(10));
        a2.viewing(Some(10));
        b.viewing(Some(10));
        let viewing = |ids: &[i64]| Event::ConversationPresence {
            conversation_id: 10,
            viewing: ids.iter().map(|i| staff(*i)).collect(),
            typing: vec![],
        };
        // a2 viewing too changes nothing anyone sees
        assert_eq!(drain(&mut rx), [viewing(&[1]), viewing(&[1, 2])]);
        a1.viewing(Some(11));
        assert_eq!(
            drain(&mut rx),
            [Event::ConversationPresence {
                conversation_id: 11,
                viewing: vec![staff(1)],
                typing: vec![],
            }],
            "staff 1 still views 10 in their other tab"
        );
        drop(b);
        assert_eq!(
            drain(&mut rx),
            [
                viewing(&[1]),
                Event::StaffPresence {
                    staff: staff(2),
                    online: false
                }
            ]
        );
        let snapshot = live.presence();
        assert_eq!(snapshot.online, [staff(1)]);
        assert_eq!(
            snapshot.conversations,
            [
                Watchers {
                    conversation_id: 10,
                    viewing: vec![staff(1)],
                    typing: vec![]
                },
                Watchers {
                    conversation_id: 11,
                    viewing: vec![staff(1)],
                    typing: vec![]
                }
            ]
        );
    }

    #[test]
    fn typing_shows_until_it_expires_and_a_new_signal_extends_it() {
        let live = Live::new();
        let a = live.connect(staff(1));
        let mut rx = live.subscribe();
        let start = Instant::now();
        let typing = |ids: &[i64]| Event::ConversationPresence {
            conversation_id: 5,
            viewing: vec![],
            typing: ids.iter().map(|i| staff(*i)).collect(),
        };
        let until = a.typing_at(Some(5), start).expect("a deadline");
        assert_eq!(until, start + TYPING_FOR);
        assert_eq!(drain(&mut rx), [typing(&[1])]);
        // typing again: no new event, a later deadline
        let later = a
            .typing_at(Some(5), start + Duration::from_secs(3))
            .unwrap();
        assert!(later > until);
        assert_eq!(drain(&mut rx), []);
        assert_eq!(a.typing_expired_at(until), Some(later));
        assert_eq!(drain(&mut rx), [], "the first deadline was extended");
        assert_eq!(a.typing_expired_at(later), None);
        assert_eq!(drain(&mut rx), [typing(&[])]);
        // leaving the conversation ends typing there at once
        a.viewing(Some(5));
        a.typing_at(Some(5), start);
        a.viewing(None);
        let events = drain(&mut rx);
        assert_eq!(
            events.last(),
            Some(&Event::ConversationPresence {
                conversation_id: 5,
                viewing: vec![],
                typing: vec![],
            })
        );
    }
}
