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
//!   folded from its messages and events by `fold` for every conversation marked stale
//!   (`report_stale`: by the count's turn, or a trigger on a change to a message or a
//!   resolution). A conversation's fold goes on from where the last one stopped
//!   (`report_progress`: the frontier, the open wait, the current cycle), so a new message
//!   costs what is new, not the conversation's whole length
//!   (migrations/20261208000080_report_progress.sql); a change at or before the frontier (a
//!   message stored out of order, an older message or a resolution changed) marks it `whole`,
//!   and it is worked out again from its first message. The ingest writer folds them between
//!   its batches (`refresh_pending`), so no other writer competes for the lock; a report folds
//!   the conversations still stale (and those of the messages after the cursor) itself as it
//!   reads, without writing, so it is exact without waiting for that.
//!
//! A report reads in one snapshot, on a read connection.

use std::collections::{HashMap, HashSet};

use rusqlite::{Connection, params};
use sqlx::SqliteConnection;

use crate::store::DbError;
use crate::store::read::Sql;

use crate::domain::Millis;
use crate::store::Store;

/// Whether the message `m` is a step of the waits and resolutions (`Step`): a customer's
/// message (not an event), or an agent's sent message (not a note). The triggers of
/// migrations/20261208000080_report_progress.sql use the same classification.
macro_rules! is_step {
    () => {
        "((m.direction = 'in' and m.sender_kind = 'customer' and m.type <> 'event')
          or (m.direction = 'out' and m.sender_kind = 'agent' and m.type <> 'note' and m.status = 'sent'))"
    };
}

/// The conversations of the steps with ids in `(?1, ?2]`, each with `whole`: whether one of
/// them is at or before its conversation's frontier (stored out of order), or it has no
/// frontier yet, so it must be worked out from its first message. What the count's turn marks
/// stale, and what a report adds to the conversations marked.
macro_rules! marked_by_steps {
    () => {
        concat!(
            "select m.conversation_id, max(coalesce((m.created_at, 0, m.id) <= (p.at, p.kind, p.id), 1)) as whole
               from messages m left join report_progress p on p.conversation_id = m.conversation_id
              where m.id > ?1 and m.id <= ?2 and ",
            is_step!(),
            " group by m.conversation_id"
        )
    };
}

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
    // the messages after the cursor are not counted yet
    let cursor: i64 = Sql::new("select last_message_id from report_cursor where id = 1")
        .query(conn, |r| r.get(0))?
        .pop()
        .unwrap_or(0);
    // the conversations marked stale, and those of the steps after the cursor, are folded
    // forward here as the writer would; those to be worked out whole skip their stored rows
    let stale: Vec<(i64, bool)> = conn
        .prepare_cached(concat!(
            "select conversation_id, max(whole) from (select conversation_id, whole from report_stale union all ",
            marked_by_steps!(),
            ") group by conversation_id"
        ))?
        .query_map(params![cursor, i64::MAX], |r| Ok((r.get(0)?, r.get(1)?)))?
        .collect::<rusqlite::Result<_>>()?;
    let recomputed = stale
        .iter()
        .map(|&(id, whole)| fold_conversation(conn, id, whole))
        .collect::<rusqlite::Result<Vec<_>>>()?;
    let whole: HashSet<i64> = recomputed
        .iter()
        .filter(|d| d.whole)
        .map(|d| d.conversation_id)
        .collect();
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
        if !whole.contains(&r.get::<_, i64>(0)?) {
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
        if !whole.contains(&r.get::<_, i64>(0)?) {
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
    /// conversations whose waits and resolutions were folded forward or worked out whole
    pub conversations: usize,
    /// more conversations are still marked stale
    pub more: bool,
}

/// Messages counted per turn at most.
const COUNT_CHUNK: i64 = 5000;

/// One turn of the reports' upkeep, inside the caller's transaction (the writer's, between
/// its batches): counts the messages stored after the cursor (at most `COUNT_CHUNK`) into
/// `report_counts` with one grouped upsert and marks the conversations of their steps stale;
/// then folds forward at most `FOLD_CHUNK` conversations marked stale after their frontier,
/// works out whole at most `max` marked at or before it, and unmarks them.
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
        conn.prepare_cached(concat!(
            "insert into report_stale (conversation_id, whole) select conversation_id, whole from (",
            marked_by_steps!(),
            ") where true on conflict (conversation_id) do update set whole = max(whole, excluded.whole)"
        ))?
        .execute(params![cursor, until])?;
        conn.prepare_cached("update report_cursor set last_message_id = ?1 where id = 1")?
            .execute(params![until])?;
    }
    let mut chosen: Vec<(i64, bool)> = Vec::new();
    // a kind chosen up to its limit may have more left
    let mut full = false;
    for (whole, limit) in [(false, FOLD_CHUNK), (true, max)] {
        let mut q = conn.prepare_cached(
            "select conversation_id from report_stale where whole = ?1 order by conversation_id limit ?2",
        )?;
        let before = chosen.len();
        for id in q.query_map(params![whole, limit as i64], |r| r.get::<_, i64>(0))? {
            chosen.push((id?, whole));
        }
        full |= chosen.len() - before == limit;
    }
    let mut unmark = conn.prepare_cached("delete from report_stale where conversation_id = ?1")?;
    let mut forget = [
        conn.prepare_cached("delete from report_waits where conversation_id = ?1")?,
        conn.prepare_cached("delete from report_resolutions where conversation_id = ?1")?,
    ];
    let mut wait = conn.prepare_cached(
        "insert into report_waits (conversation_id, channel_id, started_at, responded_at, staff_id) values (?, ?, ?, ?, ?)",
    )?;
    let mut resolution = conn.prepare_cached(
        "insert into report_resolutions (conversation_id, channel_id, resolved_at, seconds, human, staff_id) values (?, ?, ?, ?, ?, ?)",
    )?;
    let mut progress = conn.prepare_cached(
        r"insert or replace into report_progress (conversation_id, seen_id, at, kind, id, open_since, cycle_first, cycle_agent)
          values (?, ?, ?, ?, ?, ?, ?, ?)",
    )?;
    for &(id, whole) in &chosen {
        let d = fold_conversation(conn, id, whole)?;
        if d.whole {
            for statement in &mut forget {
                statement.execute([id])?;
            }
        }
        for w in &d.waits {
            wait.execute(params![
                id,
                d.channel_id,
                w.started_at,
                w.responded_at,
                w.staff_id
            ])?;
        }
        for r in &d.resolutions {
            resolution.execute(params![
                id,
                d.channel_id,
                r.resolved_at,
                r.seconds,
                r.human,
                r.staff_id
            ])?;
        }
        let p = &d.progress;
        progress.execute(params![
            id,
            p.seen_id,
            p.frontier.0,
            p.frontier.1,
            p.frontier.2,
            p.open_since,
            p.cycle_first,
            p.cycle_agent
        ])?;
        unmark.execute([id])?;
    }
    Ok(Refreshed {
        messages,
        conversations: chosen.len(),
        more: counted_more || full,
    })
}

/// Stale conversations worked out whole per turn: small enough that a push waits
/// milliseconds behind a turn.
pub const REFRESH_CHUNK: usize = 32;
/// Stale conversations folded forward per turn: each reads only what is new.
pub const FOLD_CHUNK: usize = 256;

/// A conversation's waits and resolutions from its frontier on (or all of them, worked out
/// whole), and where the fold stopped.
struct Derived {
    conversation_id: i64,
    /// worked out from the first message: the stored rows are replaced, not added to
    whole: bool,
    channel_id: i64,
    waits: Vec<Wait>,
    resolutions: Vec<StoredResolution>,
    progress: Progress,
}

/// Folds one conversation forward from its stored progress, or from its first message when
/// `whole` or when it has no progress stored (its rows, if any, were made before there was
/// any, and are replaced).
fn fold_conversation(conn: &Connection, id: i64, whole: bool) -> rusqlite::Result<Derived> {
    let stored = match whole {
        true => None,
        false => conn
            .prepare_cached(
                "select seen_id, at, kind, id, open_since, cycle_first, cycle_agent from report_progress where conversation_id = ?1",
            )?
            .query_map([id], |r| {
                Ok(Progress {
                    seen_id: r.get(0)?,
                    frontier: (r.get(1)?, r.get(2)?, r.get(3)?),
                    open_since: r.get(4)?,
                    cycle_first: r.get(5)?,
                    cycle_agent: r.get(6)?,
                })
            })?
            .next()
            .transpose()?,
    };
    let whole = stored.is_none();
    let mut progress = stored.unwrap_or_default();
    let channel_id: i64 = conn
        .prepare_cached("select channel_id from conversations where id = ?1")?
        .query_row([id], |r| r.get(0))?;
    // the messages after `seen_id` (by the conversation's index), put in order here
    let mut steps: Vec<(i64, Step)> = conn
        .prepare_cached(concat!(
            "select m.id, m.created_at, m.direction = 'in', m.sender_id from messages m
                  where m.conversation_id = ?1 and m.id > ?2 and ",
            is_step!()
        ))?
        .query_map(params![id, progress.seen_id], |r| {
            let customer: bool = r.get(2)?;
            Ok((
                r.get(0)?,
                Step {
                    at: r.get(1)?,
                    kind: match customer {
                        true => StepKind::Customer,
                        false => StepKind::AgentSent,
                    },
                    staff_id: r.get(3)?,
                },
            ))
        })?
        .collect::<rusqlite::Result<_>>()?;
    steps.sort_unstable_by_key(|(id, s)| (s.at, *id));
    let resolved: Vec<(i64, Millis, Option<i64>)> = conn
        .prepare_cached(
            r"select id, at, staff_id from conversation_events
               where conversation_id = ?1 and kind = 'resolved' and at >= ?2
               order by at, id",
        )?
        .query_map(params![id, progress.frontier.0], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?))
        })?
        .collect::<rusqlite::Result<_>>()?;
    let (waits, resolutions) = fold(&mut progress, &steps, &resolved);
    Ok(Derived {
        conversation_id: id,
        whole,
        channel_id,
        waits,
        resolutions,
        progress,
    })
}

/// Where a conversation's fold stopped (`report_progress`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Progress {
    /// every message with an id up to this is at or before the frontier (or not a step)
    pub seen_id: i64,
    /// the last step or resolution folded, as (at, 0 for a step or 1 for a resolution, id)
    pub frontier: (Millis, i64, i64),
    /// the open wait's first customer message
    pub open_since: Option<Millis>,
    /// the current cycle's first customer message
    pub cycle_first: Option<Millis>,
    /// the current cycle's latest agent's sent message
    pub cycle_agent: Option<Millis>,
}

impl Default for Progress {
    /// Nothing folded yet.
    fn default() -> Progress {
        Progress {
            seen_id: 0,
            frontier: (Millis::MIN, 0, 0),
            open_since: None,
            cycle_first: None,
            cycle_agent: None,
        }
    }
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

/// A resolution as `report_resolutions` keeps it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StoredResolution {
    pub resolved_at: Millis,
    pub seconds: Option<i64>,
    pub human: bool,
    pub staff_id: Option<i64>,
}

/// Folds a conversation's steps ((id, step), in order of time, then id) and `resolved`
/// events ((id, at, staff), in the same order) into `progress`, returning the waits and
/// resolutions they complete. Steps and events at or before the frontier are skipped: they
/// were folded before (the triggers mark a conversation whole when one of them changes).
///
/// The definitions (docs/CONTRACT.md, "Reports"):
/// - a customer message starts a wait when none is open; the next agent's sent message ends
///   it;
/// - each resolution ends a cycle that began after the previous one (a message in the same
///   millisecond as a resolution belongs to it); its duration runs from the cycle's first
///   customer message; it is human when an agent's message was sent since that message (or
///   in the cycle at all, when it has none).
pub fn fold(
    progress: &mut Progress,
    steps: &[(i64, Step)],
    resolved: &[(i64, Millis, Option<i64>)],
) -> (Vec<Wait>, Vec<StoredResolution>) {
    let p = progress;
    let mut waits = Vec::new();
    let mut resolutions = Vec::new();
    let mut steps = steps.iter().peekable();
    let mut resolved = resolved.iter().peekable();
    loop {
        // a step comes before a resolution of its own millisecond
        let take_step = match (steps.peek(), resolved.peek()) {
            (None, None) => break,
            (Some(_), None) => true,
            (None, Some(_)) => false,
            (Some((_, s)), Some((_, at, _))) => s.at <= *at,
        };
        if take_step {
            let &(id, s) = steps.next().expect("peeked");
            p.seen_id = p.seen_id.max(id);
            if (s.at, 0, id) <= p.frontier {
                continue;
            }
            p.frontier = (s.at, 0, id);
            match s.kind {
                StepKind::Customer => {
                    p.open_since.get_or_insert(s.at);
                    p.cycle_first.get_or_insert(s.at);
                }
                StepKind::AgentSent => {
                    if let Some(started_at) = p.open_since.take() {
                        waits.push(Wait {
                            started_at,
                            responded_at: s.at,
                            staff_id: s.staff_id,
                        });
                    }
                    p.cycle_agent = Some(s.at);
                }
            }
        } else {
            let &(id, at, staff_id) = resolved.next().expect("peeked");
            if (at, 1, id) <= p.frontier {
                continue;
            }
            p.frontier = (at, 1, id);
            let first = p.cycle_first.take();
            let agent = p.cycle_agent.take();
            resolutions.push(StoredResolution {
                resolved_at: at,
                seconds: first.map(|f| (at - f) / 1000),
                human: agent.is_some_and(|a| first.is_none_or(|f| a >= f)),
                staff_id,
            });
        }
    }
    (waits, resolutions)
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

    /// Ids in the order given (which is time order, as the store reads them).
    fn numbered<T: Copy>(items: &[T]) -> Vec<(i64, T)> {
        (1..).zip(items.iter().copied()).collect()
    }

    fn waits_of(steps: &[Step]) -> Vec<Wait> {
        fold(&mut Progress::default(), &numbered(steps), &[]).0
    }

    fn resolutions_of(steps: &[Step], resolved: &[(Millis, Option<i64>)]) -> Vec<StoredResolution> {
        let resolved: Vec<_> = numbered(resolved)
            .into_iter()
            .map(|(id, (at, staff))| (id, at, staff))
            .collect();
        fold(&mut Progress::default(), &numbered(steps), &resolved).1
    }

    /// The definitions as written (docs/CONTRACT.md, "Reports"), each resolution's cycle
    /// worked out on its own: what `fold` must agree with.
    fn reference(
        steps: &[Step],
        resolved: &[(Millis, Option<i64>)],
    ) -> (Vec<Wait>, Vec<StoredResolution>) {
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
        (waits, out)
    }

    proptest::proptest! {
        /// Folding a conversation forward in pieces, as the writer's turns do while it grows
        /// (each piece re-reading some of what came before, as a fold after a lowered
        /// `seen_id` does), gives exactly what the definitions give for the whole of it.
        #[test]
        fn folding_in_pieces_agrees_with_the_definitions(
            gaps in proptest::collection::vec((0i64..3, 0u8..3, 0i64..3), 0..40),
            cuts in proptest::collection::vec(0usize..40, 0..6),
            reread in 0usize..5,
        ) {
            // a conversation in time order: gaps of 0 make messages and resolutions share a
            // millisecond
            let mut at = 1_000;
            let mut steps = Vec::new();
            let mut resolved = Vec::new();
            for (i, &(gap, what, who)) in gaps.iter().enumerate() {
                at += gap * 700;
                let id = i as i64 + 1;
                match what {
                    0 => steps.push((id, c(at))),
                    1 => steps.push((id, a(at, who))),
                    _ => resolved.push((id, at, Some(who))),
                }
            }
            let plain_steps: Vec<Step> = steps.iter().map(|s| s.1).collect();
            let plain_resolved: Vec<(Millis, Option<i64>)> = resolved.iter().map(|r| (r.1, r.2)).collect();
            let expected = reference(&plain_steps, &plain_resolved);

            let mut cuts = cuts;
            cuts.push(gaps.len());
            cuts.sort_unstable();
            let mut progress = Progress::default();
            let (mut waits, mut resolutions) = (Vec::new(), Vec::new());
            let mut done = 0;
            for cut in cuts {
                // a new item at or before the frontier (a step in the millisecond of a
                // resolution already folded) is what the triggers mark whole: start again
                let new = |id: i64| (id as usize) > done && (id as usize) <= cut;
                let behind = steps.iter().any(|s| new(s.0) && (s.1.at, 0, s.0) <= progress.frontier)
                    || resolved.iter().any(|r| new(r.0) && (r.1, 1, r.0) <= progress.frontier);
                let from = match behind {
                    true => {
                        progress = Progress::default();
                        waits.clear();
                        resolutions.clear();
                        0
                    }
                    false => done.saturating_sub(reread),
                };
                let upto = |id: i64| (id as usize) > from && (id as usize) <= cut;
                let piece_steps: Vec<_> = steps.iter().copied().filter(|s| upto(s.0)).collect();
                let piece_resolved: Vec<_> = resolved.iter().copied().filter(|r| upto(r.0)).collect();
                let (w, r) = fold(&mut progress, &piece_steps, &piece_resolved);
                waits.extend(w);
                resolutions.extend(r);
                done = done.max(cut);
            }
            proptest::prop_assert_eq!((waits, resolutions), expected);
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
