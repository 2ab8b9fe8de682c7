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
//! - counts per quarter hour, channel and agent (`report_counts`), kept by triggers on every
//!   write to messages and conversations; a window's whole quarter hours are read from there
//!   and its ragged edges from the raw rows (`messages_by_time`), so any `[from, to)` is exact,
//!   and a day in any time zone (whose midnight falls on a quarter hour) is whole quarters;
//! - response waits and resolutions per conversation (`report_waits`, `report_resolutions`),
//!   computed from its messages and events by `waits_of` and `resolutions_of` for every
//!   conversation a trigger marked stale (`report_stale`); `facts` brings them up to date
//!   first (`refresh`), a few hundred conversations per transaction, so the ingest writer
//!   never waits long, and a job does the same every ten seconds (`app::jobs::reports_loop`)
//!   so that a report finds little left to do. The trigger on the push path is one upsert and one insert into tables
//!   of a few thousand rows (README, "Reports", for its measured cost).
//!
//! A report's reading is not one snapshot: a message stored between two of its statements may
//! show in one figure and not another, as in any live dashboard.

use std::collections::HashMap;

use sqlx::{QueryBuilder, Sqlite, SqliteConnection, SqlitePool};

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
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, sqlx::FromRow)]
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

/// What the window holds, after bringing the derived tables up to date.
pub async fn facts(store: &Store, w: &Window) -> sqlx::Result<Facts> {
    refresh(store).await?;
    let pool = store.pool();
    let mut counts = rolled_up(pool, w).await?;
    // the ragged edges: the part of the window before its first whole quarter and after its last
    let first = (w.from + QUARTER - 1).div_euclid(QUARTER) * QUARTER;
    let last = w.to.div_euclid(QUARTER) * QUARTER;
    if first > last {
        // within one quarter hour
        counts.extend(raw_counts(pool, w, w.from, w.to).await?);
    } else {
        if w.from < first {
            counts.extend(raw_counts(pool, w, w.from, first).await?);
        }
        if last < w.to {
            counts.extend(raw_counts(pool, w, last, w.to).await?);
        }
    }
    let responses = responses(pool, w).await?;
    let resolutions = resolutions(pool, w).await?;
    let handoffs = handoffs(pool, w).await?;
    let names = sqlx::query_as::<_, (i64, String)>("select id, display_name from staff_users")
        .fetch_all(pool)
        .await?
        .into_iter()
        .collect();
    Ok(Facts {
        counts,
        responses,
        resolutions,
        handoffs,
        names,
    })
}

/// The whole quarter hours of the window, from `report_counts`, per day and agent.
async fn rolled_up(pool: &SqlitePool, w: &Window) -> sqlx::Result<Vec<Counted>> {
    let first = (w.from + QUARTER - 1).div_euclid(QUARTER);
    let last = w.to.div_euclid(QUARTER);
    let mut q: QueryBuilder<Sqlite> = QueryBuilder::new("select (bucket * ");
    q.push(QUARTER.to_string())
        .push(" + ")
        .push_bind(w.offset)
        .push(") / ")
        .push(DAY.to_string())
        .push(
            r" as day, staff_id, sum(conversations_new) as conversations_new,
                 sum(messages_in) as messages_in, sum(messages_out_agent) as messages_out_agent,
                 sum(messages_out_bot) as messages_out_bot
            from report_counts where bucket >= ",
        )
        .push_bind(first)
        .push(" and bucket < ")
        .push_bind(last);
    if let Some(channel) = w.channel {
        q.push(" and channel_id = ").push_bind(channel);
    }
    q.push(" group by 1, 2");
    q.build_query_as().fetch_all(pool).await
}

/// `[from, to)`'s counts from the raw rows (a window's edges: less than a quarter hour each).
async fn raw_counts(
    pool: &SqlitePool,
    w: &Window,
    from: Millis,
    to: Millis,
) -> sqlx::Result<Vec<Counted>> {
    // `from` and `to` of one edge are in one day: no edge crosses a quarter hour
    let day = w.day_of(from);
    let mut q: QueryBuilder<Sqlite> = QueryBuilder::new(
        r"select case when m.direction = 'out' and m.sender_kind = 'agent' then coalesce(m.sender_id, 0) else 0 end as staff_id,
                 0 as conversations_new,
                 sum(m.direction = 'in' and m.sender_kind = 'customer' and m.type <> 'event') as messages_in,
                 sum(m.direction = 'out' and m.sender_kind = 'agent' and m.type <> 'note' and m.status = 'sent') as messages_out_agent,
                 sum(m.direction = 'out' and m.sender_kind = 'bot' and m.type <> 'note' and m.status = 'sent') as messages_out_bot
            from messages m join conversations c on c.id = m.conversation_id
           where m.created_at >= ",
    );
    q.push_bind(from).push(" and m.created_at < ").push_bind(to);
    if let Some(channel) = w.channel {
        q.push(" and c.channel_id = ").push_bind(channel);
    }
    q.push(" group by 1");
    let rows: Vec<(i64, i64, i64, i64, i64)> = q.build_query_as().fetch_all(pool).await?;
    let mut counts: Vec<Counted> = rows
        .into_iter()
        .map(|(staff_id, _, messages_in, agent, bot)| Counted {
            day,
            staff_id,
            conversations_new: 0,
            messages_in,
            messages_out_agent: agent,
            messages_out_bot: bot,
        })
        .collect();
    let mut q: QueryBuilder<Sqlite> =
        QueryBuilder::new("select count(*) from conversations where created_at >= ");
    q.push_bind(from).push(" and created_at < ").push_bind(to);
    if let Some(channel) = w.channel {
        q.push(" and channel_id = ").push_bind(channel);
    }
    let new: i64 = q.build_query_scalar().fetch_one(pool).await?;
    counts.push(Counted {
        day,
        conversations_new: new,
        ..Counted::default()
    });
    Ok(counts)
}

async fn responses(pool: &SqlitePool, w: &Window) -> sqlx::Result<Vec<Response>> {
    let mut q: QueryBuilder<Sqlite> = QueryBuilder::new("select (responded_at + ");
    q.push_bind(w.offset)
        .push(") / ")
        .push(DAY.to_string())
        .push(
            ", (responded_at - started_at) / 1000, staff_id, count(*) from report_waits where responded_at >= ",
        )
        .push_bind(w.from)
        .push(" and responded_at < ")
        .push_bind(w.to);
    if let Some(channel) = w.channel {
        q.push(" and channel_id = ").push_bind(channel);
    }
    q.push(" group by 1, 2, 3");
    let rows: Vec<(i64, i64, Option<i64>, i64)> = q.build_query_as().fetch_all(pool).await?;
    Ok(rows
        .into_iter()
        .map(|(day, seconds, staff_id, n)| Response {
            day,
            seconds,
            staff_id,
            n,
        })
        .collect())
}

async fn resolutions(pool: &SqlitePool, w: &Window) -> sqlx::Result<Vec<Resolution>> {
    let mut q: QueryBuilder<Sqlite> = QueryBuilder::new(
        "select resolved_at, seconds, human, staff_id from report_resolutions where resolved_at >= ",
    );
    q.push_bind(w.from)
        .push(" and resolved_at < ")
        .push_bind(w.to);
    if let Some(channel) = w.channel {
        q.push(" and channel_id = ").push_bind(channel);
    }
    let rows: Vec<(Millis, Option<i64>, bool, Option<i64>)> =
        q.build_query_as().fetch_all(pool).await?;
    Ok(rows
        .into_iter()
        .map(|(at, seconds, human, staff_id)| Resolution {
            at,
            seconds,
            human,
            staff_id,
        })
        .collect())
}

/// Conversations handed to a human by a rule within the window (each once).
async fn handoffs(pool: &SqlitePool, w: &Window) -> sqlx::Result<i64> {
    let mut q: QueryBuilder<Sqlite> = QueryBuilder::new(
        "select count(distinct e.conversation_id) from conversation_events e join conversations c on c.id = e.conversation_id where e.kind = 'handoff' and e.at >= ",
    );
    q.push_bind(w.from).push(" and e.at < ").push_bind(w.to);
    if let Some(channel) = w.channel {
        q.push(" and c.channel_id = ").push_bind(channel);
    }
    q.build_query_scalar().fetch_one(pool).await
}

// ------------------------------------------------------------------------------------------
// Keeping the waits and resolutions current

/// Stale conversations recomputed per transaction: small enough that the ingest writer,
/// waiting on the write lock meanwhile, waits milliseconds.
const REFRESH_CHUNK: i64 = 256;

/// Recomputes the waits and resolutions of every conversation marked stale; returns how many.
pub async fn refresh(store: &Store) -> sqlx::Result<u64> {
    let mut done = 0;
    loop {
        // cheap look first: most reports find nothing to do and take no write lock
        let any: Option<i64> =
            sqlx::query_scalar("select conversation_id from report_stale limit 1")
                .fetch_optional(store.pool())
                .await?;
        if any.is_none() {
            return Ok(done);
        }
        let mut tx = store.begin_write().await?;
        let ids: Vec<i64> = sqlx::query_scalar(
            "select conversation_id from report_stale order by conversation_id limit $1",
        )
        .bind(REFRESH_CHUNK)
        .fetch_all(&mut *tx)
        .await?;
        if ids.is_empty() {
            tx.commit().await?;
            return Ok(done);
        }
        refresh_these(&mut tx, &ids).await?;
        tx.commit().await?;
        done += ids.len() as u64;
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

async fn refresh_these(conn: &mut SqliteConnection, ids: &[i64]) -> sqlx::Result<()> {
    let mut steps: HashMap<i64, Vec<Step>> = HashMap::new();
    let mut q: QueryBuilder<Sqlite> = QueryBuilder::new(
        r"select conversation_id, created_at, direction = 'in', sender_id
            from messages
           where ((direction = 'in' and sender_kind = 'customer' and type <> 'event')
                  or (direction = 'out' and sender_kind = 'agent' and type <> 'note' and status = 'sent'))
             and conversation_id in (",
    );
    push_ids(&mut q, ids);
    q.push(") order by conversation_id, created_at, id");
    let rows: Vec<(i64, Millis, bool, Option<i64>)> =
        q.build_query_as().fetch_all(&mut *conn).await?;
    for (conversation, at, customer, staff_id) in rows {
        steps.entry(conversation).or_default().push(Step {
            at,
            kind: if customer {
                StepKind::Customer
            } else {
                StepKind::AgentSent
            },
            staff_id,
        });
    }
    let mut resolved: HashMap<i64, Vec<(Millis, Option<i64>)>> = HashMap::new();
    let mut q: QueryBuilder<Sqlite> = QueryBuilder::new(
        "select conversation_id, at, staff_id from conversation_events where kind = 'resolved' and conversation_id in (",
    );
    push_ids(&mut q, ids);
    q.push(") order by conversation_id, at, id");
    let rows: Vec<(i64, Millis, Option<i64>)> = q.build_query_as().fetch_all(&mut *conn).await?;
    for (conversation, at, staff_id) in rows {
        resolved
            .entry(conversation)
            .or_default()
            .push((at, staff_id));
    }
    let mut q: QueryBuilder<Sqlite> =
        QueryBuilder::new("select id, channel_id from conversations where id in (");
    push_ids(&mut q, ids);
    q.push(")");
    let channels: Vec<(i64, i64)> = q.build_query_as().fetch_all(&mut *conn).await?;

    for table in ["report_waits", "report_resolutions", "report_stale"] {
        let mut q: QueryBuilder<Sqlite> = QueryBuilder::new("delete from ");
        q.push(table).push(" where conversation_id in (");
        push_ids(&mut q, ids);
        q.push(")");
        q.build().execute(&mut *conn).await?;
    }
    let mut waits = Vec::new();
    let mut done = Vec::new();
    for (conversation, channel) in channels {
        let steps = steps.remove(&conversation).unwrap_or_default();
        for wait in waits_of(&steps) {
            waits.push((conversation, channel, wait));
        }
        let events = resolved.remove(&conversation).unwrap_or_default();
        for r in resolutions_of(&steps, &events) {
            done.push((conversation, channel, r));
        }
    }
    // 5 and 6 columns a row: well under SQLite's 32,766 bound parameters per statement
    for chunk in waits.chunks(1000) {
        let mut q: QueryBuilder<Sqlite> = QueryBuilder::new(
            "insert into report_waits (conversation_id, channel_id, started_at, responded_at, staff_id) ",
        );
        q.push_values(chunk, |mut b, (conversation, channel, w)| {
            b.push_bind(*conversation)
                .push_bind(*channel)
                .push_bind(w.started_at)
                .push_bind(w.responded_at)
                .push_bind(w.staff_id);
        });
        q.build().execute(&mut *conn).await?;
    }
    for chunk in done.chunks(1000) {
        let mut q: QueryBuilder<Sqlite> = QueryBuilder::new(
            "insert into report_resolutions (conversation_id, channel_id, resolved_at, seconds, human, staff_id) ",
        );
        q.push_values(chunk, |mut b, (conversation, channel, r)| {
            b.push_bind(*conversation)
                .push_bind(*channel)
                .push_bind(r.resolved_at)
                .push_bind(r.seconds)
                .push_bind(r.human)
                .push_bind(r.staff_id);
        });
        q.build().execute(&mut *conn).await?;
    }
    Ok(())
}

fn push_ids(q: &mut QueryBuilder<Sqlite>, ids: &[i64]) {
    let mut list = q.separated(", ");
    for id in ids {
        list.push_bind(*id);
    }
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
