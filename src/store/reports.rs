//! Every statement behind the reports (docs/CONTRACT.md, "Reports"), and the conversation
//! events they need (`conversation_events`: resolved, reopened, handed off by a rule), written
//! by the caller's transaction so that an event exists exactly when its change does.
//!
//! The interface a backend provides is small: `record` (an event, inside the change's
//! transaction) and `facts` (what a window holds: counts per day and agent, and each counted
//! response and resolution). `services::reports` turns facts into figures (sums, nearest-rank
//! percentiles), so a PostgreSQL backend provides these two and nothing of the arithmetic.
//!
//! SQLite keeps a report over a million messages fast without giving up exactness
//! (migrations/20261207000071_reports.sql):
//! - counts per quarter hour, channel and agent (`report_counts`): messages are added by the
//!   writer between its batches from a cursor over message ids (`refresh_pending`, one grouped
//!   upsert for thousands of messages, so a push pays nothing for them), and triggers follow
//!   every later change to a counted message and every new conversation. A window's whole
//!   quarter hours are read from there plus the messages after the cursor, its ragged edges
//!   from the raw rows (`messages_by_time`), so any `[from, to)` is exact, and a day in any
//!   time zone (whose midnight falls on a quarter hour) is whole quarters;
//! - response waits and resolutions per conversation (`report_waits`, `report_resolutions`),
//!   computed from its messages and events by `waits_of` and `resolutions_of` for every
//!   conversation marked stale (`report_stale`: by the count's turn, or a trigger on a change
//!   to an older message or a resolution). The ingest writer brings them up
//!   to date between its batches (`refresh_pending`, a few hundred conversations a turn), so
//!   no other writer competes for the lock; a report works out the few conversations still
//!   stale (and those of the messages after the cursor) from their messages as it reads, so it
//!   is exact without waiting for that.
//!
//! A report reads in one snapshot, on a read connection.

use std::collections::{HashMap, HashSet};

use rusqlite::{Connection, params};
use sqlx::SqliteConnection;

use crate::store::DbError;
use crate::store::read::Sql;

use crate::domain::Millis;
use crate::store::Store;

/// A quarter hour in milliseconds: the unit of `report_counts`.
pub const QUARTER: Millis = 15 * 60 * 1000;
/// A day in milliseconds.
pub const DAY: Millis = 24 * 3600 * 1000;

/// What happened to a conversation, as `conversation_events.kind`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventKind {
    /// set `resolved` (from another status)
    Resolved,
    /// set open or pending from `resolved`
    Reopened,
    /// handed to a human by a rule
    Handoff,
}

impl EventKind {
    pub fn as_str(self) -> &'static str {
        match self {
            EventKind::Resolved => "resolved",
            EventKind::Reopened => "reopened",
            EventKind::Handoff => "handoff",
        }
    }
}

/// Records that `kind` happened to a conversation at `at`, by a staff member (None: kefu or
/// the command line), in the caller's transaction.
pub async fn record(
    conn: &mut SqliteConnection,
    conversation_id: i64,
    kind: EventKind,
    at: Millis,
    staff_id: Option<i64>,
) -> sqlx::Result<()> {
    sqlx::query(
        "insert into conversation_events (conversation_id, kind, at, staff_id) values ($1, $2, $3, $4)",
    )
    .bind(conversation_id)
    .bind(kind.as_str())
    .bind(at)
    .bind(staff_id)
    .execute(conn)
    .await
    .map(|_| ())
}

/// What a report covers: `[from, to)` in ms, one channel or all, and the days' offset from
/// UTC (a whole number of quarter hours).
#[derive(Debug, Clone, Copy)]
pub struct Window {
    pub from: Millis,
    pub to: Millis,
    pub channel: Option<i64>,
    pub offset: Millis,
}

impl Window {
    /// The day (days since 1970-01-01 in the window's time zone) of the instant `at`.
    pub fn day_of(&self, at: Millis) -> i64 {
        (at + self.offset).div_euclid(DAY)
    }
}

/// Counts of one day and one agent (`staff_id` 0: the rows that are nobody's reply).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counted {
    pub day: i64,
    pub staff_id: i64,
    pub conversations_new: i64,
    pub messages_in: i64,
    pub messages_out_agent: i64,
    pub messages_out_bot: i64,
}

/// Responses counted in the window, grouped: `n` responses sent on `day` (the window's time
/// zone) after a wait of `seconds` (whole), by one agent. Grouped in the database, so a month
/// of responses is thousands of rows rather than hundreds of thousands, and percentiles of
/// whole seconds stay exact.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Response {
    pub day: i64,
    pub seconds: i64,
    pub staff_id: Option<i64>,
    pub n: i64,
}

/// A resolution counted in the window.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Resolution {
    pub at: Millis,
    /// from the cycle's first customer message; None when it had none
    pub seconds: Option<i64>,
    /// an agent's message was sent since that first customer message
    pub human: bool,
    pub staff_id: Option<i64>,
}

/// Everything a window holds; `services::reports` makes the figures of it.
#[derive(Debug, Clone, Default)]
pub struct Facts {
    pub counts: Vec<Counted>,
    pub responses: Vec<Response>,
    pub resolutions: Vec<Resolution>,
    pub handoffs: i64,
    /// display names of the staff the facts name
    pub names: HashMap<i64, String>,
}

/// What the window holds, read in one snapshot on a read connection (`Store::read`).
pub async fn facts(store: &Store, w: &Window) -> Result<Facts, DbError> {
    let w = *w;
    store.read(move |conn| facts_on(conn, &w)).await
}

/// `facts` on a connection. Reads only: the conversations still marked stale are worked out
/// here from their messages (their stored waits and resolutions are skipped), so a report is
/// exact without waiting for the writer's catch-up (`refresh_pending`) and never takes the
/// write lock.
pub fn facts_on(conn: &Connection, w: &Window) -> rusqlite::Result<Facts> {
    // one snapshot: a push committed meanwhile is in every figure or in none
    let snapshot = conn.unchecked_transaction()?;
    // the messages after the cursor are not counted yet, and their conversations are stale
    let cursor: i64 = Sql::new("select last_message_id from report_cursor where id = 1")
        .query(conn, |r| r.get(0))?
        .pop()
        .unwrap_or(0);
    // (one text, so the connection's statement cache keeps it)
    let which = "select conversation_id from report_stale union select conversation_id from messages where id > (select last_message_id from report_cursor where id = 1)";
    let stale: HashSet<i64> = Sql::new(which)
        .query(conn, |r| r.get(0))?
        .into_iter()
        .collect();
    let recomputed = match stale.is_empty() {
        true => Vec::new(),
        false => derive(conn, which)?,
    };
    let in_channel = |channel: i64| w.channel.is_none_or(|c| c == channel);

    let mut counts = Vec::new();
    // the ragged edges: the part of the window before its first whole quarter and after its
    // last, from the raw rows; the whole quarters from `report_counts` and the messages after
    // the cursor
    let first = (w.from + QUARTER - 1).div_euclid(QUARTER) * QUARTER;
    let last = w.to.div_euclid(QUARTER) * QUARTER;
    if first > last {
        // within one quarter hour
        counts.extend(raw_counts(conn, w, w.from, w.to, None)?);
    } else {
        counts.extend(rolled_up(conn, w)?);
        counts.extend(raw_counts(conn, w, first, last, Some(cursor))?);
        if w.from < first {
            counts.extend(raw_counts(conn, w, w.from, first, None)?);
        }
        if last < w.to {
            counts.extend(raw_counts(conn, w, last, w.to, None)?);
        }
    }

    // responses, grouped by day, whole second and agent as they are read
    let mut grouped: HashMap<(i64, i64, Option<i64>), i64> = HashMap::new();
    let mut add = |wait: &Wait| {
        let key = (
            w.day_of(wait.responded_at),
            (wait.responded_at - wait.started_at) / 1000,
            wait.staff_id,
        );
        *grouped.entry(key).or_default() += 1;
    };
    let mut q = Sql::new(
        "select conversation_id, started_at, responded_at, staff_id from report_waits where responded_at >= ",
    );
    q.bind(w.from).push(" and responded_at < ").bind(w.to);
    if let Some(channel) = w.channel {
        q.push(" and channel_id = ").bind(channel);
    }
    q.each(conn, |r| {
        if !stale.contains(&r.get::<_, i64>(0)?) {
            add(&Wait {
                started_at: r.get(1)?,
                responded_at: r.get(2)?,
                staff_id: r.get(3)?,
            });
        }
        Ok(())
    })?;
    let inside = |at: Millis| at >= w.from && at < w.to;
    for d in recomputed.iter().filter(|d| in_channel(d.channel_id)) {
        d.waits
            .iter()
            .filter(|x| inside(x.responded_at))
            .for_each(&mut add);
    }
    let responses = grouped
        .into_iter()
        .map(|((day, seconds, staff_id), n)| Response {
            day,
            seconds,
            staff_id,
            n,
        })
        .collect();

    let mut resolutions = Vec::new();
    let mut q = Sql::new(
        "select conversation_id, resolved_at, seconds, human, staff_id from report_resolutions where resolved_at >= ",
    );
    q.bind(w.from).push(" and resolved_at < ").bind(w.to);
    if let Some(channel) = w.channel {
        q.push(" and channel_id = ").bind(channel);
    }
    q.each(conn, |r| {
        if !stale.contains(&r.get::<_, i64>(0)?) {
            resolutions.push(Resolution {
                at: r.get(1)?,
                seconds: r.get(2)?,
                human: r.get(3)?,
                staff_id: r.get(4)?,
            });
        }
        Ok(())
    })?;
    for d in recomputed.iter().filter(|d| in_channel(d.channel_id)) {
        for r in d.resolutions.iter().filter(|r| inside(r.resolved_at)) {
            resolutions.push(Resolution {
                at: r.resolved_at,
                seconds: r.seconds,
                human: r.human,
                staff_id: r.staff_id,
            });
        }
    }

    let mut q = Sql::new(
        "select count(distinct e.conversation_id) from conversation_events e join conversations c on c.id = e.conversation_id where e.kind = 'handoff' and e.at >= ",
    );
    q.bind(w.from).push(" and e.at < ").bind(w.to);
    if let Some(channel) = w.channel {
        q.push(" and c.channel_id = ").bind(channel);
    }
    let handoffs = q.query(conn, |r| r.get(0))?.pop().unwrap_or(0);
    let names = Sql::new("select id, display_name from staff_users")
        .query(conn, |r| Ok((r.get(0)?, r.get(1)?)))?
        .into_iter()
        .collect();
    snapshot.finish()?;
    Ok(Facts {
        counts,
        responses,
        resolutions,
        handoffs,
        names,
    })
}

/// The whole quarter hours of the window, from `report_counts`, per day and agent.
fn rolled_up(conn: &Connection, w: &Window) -> rusqlite::Result<Vec<Counted>> {
    let first = (w.from + QUARTER - 1).div_euclid(QUARTER);
    let last = w.to.div_euclid(QUARTER);
    let mut q = Sql::new("select (bucket * ");
    q.push(&QUARTER.to_string())
        .push(" + ")
        .bind(w.offset)
        .push(") / ")
        .push(&DAY.to_string())
        .push(
            r" as day, staff_id, sum(conversations_new), sum(messages_in),
                 sum(messages_out_agent), sum(messages_out_bot)
            from report_counts where bucket >= ",
        )
        .bind(first)
        .push(" and bucket < ")
        .bind(last);
    if let Some(channel) = w.channel {
        q.push(" and channel_id = ").bind(channel);
    }
    q.push(" group by 1, 2");
    q.query(conn, |r| {
        Ok(Counted {
            day: r.get(0)?,
            staff_id: r.get(1)?,
            conversations_new: r.get(2)?,
            messages_in: r.get(3)?,
            messages_out_agent: r.get(4)?,
            messages_out_bot: r.get(5)?,
        })
    })
}

/// `[from, to)`'s counts from the raw rows, per day and agent: every message and new
/// conversation there (a window's edges, less than a quarter hour each), or only the messages
/// after the cursor `after` (not yet in `report_counts`; new conversations are counted there
/// by a trigger).
fn raw_counts(
    conn: &Connection,
    w: &Window,
    from: Millis,
    to: Millis,
    after: Option<i64>,
) -> rusqlite::Result<Vec<Counted>> {
    let mut q = Sql::new("select (m.created_at + ");
    q.bind(w.offset).push(") / ").push(&DAY.to_string()).push(
        r",
                 case when m.direction = 'out' and m.sender_kind = 'agent' then coalesce(m.sender_id, 0) else 0 end,
                 sum(m.direction = 'in' and m.sender_kind = 'customer' and m.type <> 'event'),
                 sum(m.direction = 'out' and m.sender_kind = 'agent' and m.type <> 'note' and m.status = 'sent'),
                 sum(m.direction = 'out' and m.sender_kind = 'bot' and m.type <> 'note' and m.status = 'sent')
            from messages m join conversations c on c.id = m.conversation_id
           where ",
    );
    match after {
        // the few messages after the cursor, by their ids: `+` keeps SQLite from choosing the
        // time index, which would read every message of the window
        Some(after) => q
            .push("m.id > ")
            .bind(after)
            .push(" and +m.created_at >= ")
            .bind(from)
            .push(" and +m.created_at < ")
            .bind(to),
        None => q
            .push("m.created_at >= ")
            .bind(from)
            .push(" and m.created_at < ")
            .bind(to),
    };
    if let Some(channel) = w.channel {
        q.push(" and c.channel_id = ").bind(channel);
    }
    q.push(" group by 1, 2");
    let mut counts = q.query(conn, |r| {
        Ok(Counted {
            day: r.get(0)?,
            staff_id: r.get(1)?,
            conversations_new: 0,
            messages_in: r.get(2)?,
            messages_out_agent: r.get(3)?,
            messages_out_bot: r.get(4)?,
        })
    })?;
    if after.is_some() {
        return Ok(counts);
    }
    // `from` and `to` of an edge are in one day: no edge crosses a quarter hour
    let mut q = Sql::new("select count(*) from conversations where created_at >= ");
    q.bind(from).push(" and created_at < ").bind(to);
    if let Some(channel) = w.channel {
        q.push(" and channel_id = ").bind(channel);
    }
    let new = q.query(conn, |r| r.get(0))?.pop().unwrap_or(0);
    counts.push(Counted {
        day: w.day_of(from),
        conversations_new: new,
        ..Counted::default()
    });
    Ok(counts)
}

// ------------------------------------------------------------------------------------------
// Keeping the waits and resolutions current

/// What one turn of `refresh_pending` did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Refreshed {
    /// how far the message cursor moved (message ids; a deleted message's id counts too)
    pub messages: usize,
    /// conversations whose waits and resolutions were recomputed
    pub conversations: usize,
    /// more conversations are still marked stale
    pub more: bool,
}

/// Messages counted per turn at most.
const COUNT_CHUNK: i64 = 5000;

/// One turn of the reports' upkeep, inside the caller's transaction (the writer's, between
/// its batches): counts the messages stored after the cursor (at most `COUNT_CHUNK`) into
/// `report_counts` with one grouped upsert and marks their conversations stale; then
/// recomputes the waits and resolutions of at most `max` stale conversations and unmarks
/// them.
pub fn refresh_pending(conn: &Connection, max: usize) -> rusqlite::Result<Refreshed> {
    let cursor: i64 = conn
        .prepare_cached("select last_message_id from report_cursor where id = 1")?
        .query_row([], |r| r.get(0))?;
    let until: i64 = conn
        .prepare_cached("select coalesce(max(id), ?1) from messages where id <= ?1 + ?2")?
        .query_row(params![cursor, COUNT_CHUNK], |r| r.get(0))?;
    let counted_more = conn
        .prepare_cached("select exists (select 1 from messages where id > ?1)")?
        .query_row(params![until], |r| r.get::<_, bool>(0))?;
    let messages = (until - cursor) as usize;
    if until > cursor {
        conn
            .prepare_cached(
                r"insert into report_counts (bucket, channel_id, staff_id, messages_in, messages_out_agent, messages_out_bot)
                  select m.created_at / 900000, c.channel_id,
                         case when m.direction = 'out' and m.sender_kind = 'agent' then coalesce(m.sender_id, 0) else 0 end,
                         sum(m.direction = 'in' and m.sender_kind = 'customer' and m.type <> 'event'),
                         sum(m.direction = 'out' and m.sender_kind = 'agent' and m.type <> 'note' and m.status = 'sent'),
                         sum(m.direction = 'out' and m.sender_kind = 'bot' and m.type <> 'note' and m.status = 'sent')
                    from messages m join conversations c on c.id = m.conversation_id
                   where m.id > ?1 and m.id <= ?2
                   group by 1, 2, 3
                  on conflict (bucket, channel_id, staff_id) do update set
                      messages_in = messages_in + excluded.messages_in,
                      messages_out_agent = messages_out_agent + excluded.messages_out_agent,
                      messages_out_bot = messages_out_bot + excluded.messages_out_bot",
            )?
            .execute(params![cursor, until])?;
        conn.prepare_cached(
            r"insert into report_stale (conversation_id)
              select distinct conversation_id from messages
               where id > ?1 and id <= ?2 and sender_kind <> 'bot'
              on conflict do nothing",
        )?
        .execute(params![cursor, until])?;
        conn.prepare_cached("update report_cursor set last_message_id = ?1 where id = 1")?
            .execute(params![until])?;
    }
    // one text per statement (not a list of ids), so the writer's statement cache keeps them
    let which =
        format!("select conversation_id from report_stale order by conversation_id limit {max}");
    let marked = conn
        .prepare_cached(&format!("select count(*) from ({which})"))?
        .query_row([], |r| r.get::<_, i64>(0))? as usize;
    if marked == 0 {
        return Ok(Refreshed {
            messages,
            conversations: 0,
            more: counted_more,
        });
    }
    let derived = derive(conn, &which)?;
    // report_stale last: the others are chosen through it
    for table in ["report_waits", "report_resolutions", "report_stale"] {
        conn.prepare_cached(&format!(
            "delete from {table} where conversation_id in ({which})"
        ))?
        .execute([])?;
    }
    let mut wait = conn.prepare_cached(
        "insert into report_waits (conversation_id, channel_id, started_at, responded_at, staff_id) values (?, ?, ?, ?, ?)",
    )?;
    let mut resolution = conn.prepare_cached(
        "insert into report_resolutions (conversation_id, channel_id, resolved_at, seconds, human, staff_id) values (?, ?, ?, ?, ?, ?)",
    )?;
    for d in &derived {
        for w in &d.waits {
            wait.execute(params![
                d.conversation_id,
                d.channel_id,
                w.started_at,
                w.responded_at,
                w.staff_id
            ])?;
        }
        for r in &d.resolutions {
            resolution.execute(params![
                d.conversation_id,
                d.channel_id,
                r.resolved_at,
                r.seconds,
                r.human,
                r.staff_id
            ])?;
        }
    }
    Ok(Refreshed {
        messages,
        conversations: marked,
        more: counted_more || marked == max,
    })
}

/// Stale conversations recomputed per turn: small enough that a push waits milliseconds.
pub const REFRESH_CHUNK: usize = 32;

/// A conversation's waits and resolutions, worked out from its messages and events.
struct Derived {
    conversation_id: i64,
    channel_id: i64,
    waits: Vec<Wait>,
    resolutions: Vec<StoredResolution>,
}

/// The waits and resolutions of the conversations the subquery `which` names.
fn derive(conn: &Connection, which: &str) -> rusqlite::Result<Vec<Derived>> {
    let mut steps: HashMap<i64, Vec<Step>> = HashMap::new();
    let sql = format!(
        r"select conversation_id, created_at, direction = 'in', sender_id
            from messages
           where conversation_id in ({which})
             and ((direction = 'in' and sender_kind = 'customer' and type <> 'event')
                  or (direction = 'out' and sender_kind = 'agent' and type <> 'note' and status = 'sent'))
           order by conversation_id, created_at, id"
    );
    Sql::new(&sql).each(conn, |r| {
        let customer: bool = r.get(2)?;
        steps.entry(r.get(0)?).or_default().push(Step {
            at: r.get(1)?,
            kind: match customer {
                true => StepKind::Customer,
                false => StepKind::AgentSent,
            },
            staff_id: r.get(3)?,
        });
        Ok(())
    })?;
    let mut resolved: HashMap<i64, Vec<(Millis, Option<i64>)>> = HashMap::new();
    let sql = format!(
        "select conversation_id, at, staff_id from conversation_events where kind = 'resolved' and conversation_id in ({which}) order by conversation_id, at, id"
    );
    Sql::new(&sql).each(conn, |r| {
        resolved
            .entry(r.get(0)?)
            .or_default()
            .push((r.get(1)?, r.get(2)?));
        Ok(())
    })?;
    let sql = format!("select id, channel_id from conversations where id in ({which}) order by id");
    let channels: Vec<(i64, i64)> = Sql::new(&sql).query(conn, |r| Ok((r.get(0)?, r.get(1)?)))?;
    Ok(channels
        .into_iter()
        .map(|(conversation_id, channel_id)| {
            let steps = steps.remove(&conversation_id).unwrap_or_default();
            let events = resolved.remove(&conversation_id).unwrap_or_default();
            Derived {
                conversation_id,
                channel_id,
                waits: waits_of(&steps),
                resolutions: resolutions_of(&steps, &events),
            }
        })
        .collect())
}

/// A message as the waits and resolutions read it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Step {
    pub at: Millis,
    pub kind: StepKind,
    pub staff_id: Option<i64>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StepKind {
    /// a customer's message (not an event)
    Customer,
    /// an agent's message that reached `sent` (not a note)
    AgentSent,
}

/// An answered wait: the customer message that started it, the agent's message that ended it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Wait {
    pub started_at: Millis,
    pub responded_at: Millis,
    pub staff_id: Option<i64>,
}

/// The answered waits of one conversation, from its steps in order (time, then id): a
/// customer message starts a wait when none is open; the next agent's sent message ends it.
pub fn waits_of(steps: &[Step]) -> Vec<Wait> {
    let mut open = None;
    let mut waits = Vec::new();
    for s in steps {
        match (s.kind, open) {
            (StepKind::Customer, None) => open = Some(s.at),
            (StepKind::AgentSent, Some(started_at)) => {
                waits.push(Wait {
                    started_at,
                    responded_at: s.at,
                    staff_id: s.staff_id,
                });
                open = None;
            }
            _ => {}
        }
    }
    waits
}

/// The resolutions of one conversation, from its steps in order and its `resolved` events in
/// order ((at, staff)): each cycle runs from after the previous resolution (or the start) to
/// this one; its duration from the cycle's first customer message; human when an agent's
/// message was sent since that message (or since the cycle began, when it has none).
pub fn resolutions_of(steps: &[Step], resolved: &[(Millis, Option<i64>)]) -> Vec<StoredResolution> {
    let mut out = Vec::new();
    let mut previous: Option<Millis> = None;
    for &(at, staff_id) in resolved {
        let in_cycle = |s: &&Step| previous.is_none_or(|p| s.at > p) && s.at <= at;
        let first = steps
            .iter()
            .filter(in_cycle)
            .find(|s| s.kind == StepKind::Customer)
            .map(|s| s.at);
        let human = steps
            .iter()
            .filter(in_cycle)
            .any(|s| s.kind == StepKind::AgentSent && first.is_none_or(|f| s.at >= f));
        out.push(StoredResolution {
            resolved_at: at,
            seconds: first.map(|f| (at - f) / 1000),
            human,
            staff_id,
        });
        previous = Some(at);
    }
    out
}

/// A resolution as `report_resolutions` keeps it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StoredResolution {
    pub resolved_at: Millis,
    pub seconds: Option<i64>,
    pub human: bool,
    pub staff_id: Option<i64>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn c(at: Millis) -> Step {
        Step {
            at,
            kind: StepKind::Customer,
            staff_id: None,
        }
    }
    fn a(at: Millis, who: i64) -> Step {
        Step {
            at,
            kind: StepKind::AgentSent,
            staff_id: Some(who),
        }
    }

    #[test]
    fn a_wait_starts_at_the_first_unanswered_customer_message_and_ends_at_the_next_agent_reply() {
        let steps = [
            c(0),
            c(5_000),
            a(60_000, 7),
            a(61_000, 8),
            c(70_000),
            a(75_500, 8),
            c(90_000),
        ];
        assert_eq!(
            waits_of(&steps),
            vec![
                Wait {
                    started_at: 0,
                    responded_at: 60_000,
                    staff_id: Some(7)
                },
                Wait {
                    started_at: 70_000,
                    responded_at: 75_500,
                    staff_id: Some(8)
                },
            ]
        );
    }

    #[test]
    fn each_resolution_measures_its_own_cycle() {
        let steps = [c(1_000), a(3_000, 7), c(10_000), c(11_000), c(30_000)];
        let resolved = [(5_000, Some(7)), (20_000, Some(8)), (25_000, None)];
        let got = resolutions_of(&steps, &resolved);
        assert_eq!(
            got,
            vec![
                StoredResolution {
                    resolved_at: 5_000,
                    seconds: Some(4),
                    human: true,
                    staff_id: Some(7)
                },
                StoredResolution {
                    resolved_at: 20_000,
                    seconds: Some(10),
                    human: false,
                    staff_id: Some(8)
                },
                StoredResolution {
                    resolved_at: 25_000,
                    seconds: None,
                    human: false,
                    staff_id: None
                },
            ]
        );
    }
}
