//! Conversations as the inbox and the API read them, and the few changes agents make to them.

use rusqlite::OptionalExtension;
use sqlx::{QueryBuilder, Sqlite, SqliteConnection, SqlitePool};

use super::Store;
use super::read::Sql;
use crate::domain::{ConversationStatus, Handler, Millis};

/// A conversation with what a list row needs: its contact, assignee and last message.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ConversationRow {
    pub id: i64,
    /// the channel (WeChat account) the customer wrote to
    pub channel_id: i64,
    pub status: ConversationStatus,
    pub handler: Handler,
    pub unread: i64,
    pub created_at: Millis,
    pub last_activity_at: Millis,
    pub contact_id: i64,
    pub openid: String,
    pub contact_name: Option<String>,
    pub last_message_at: Option<Millis>,
    pub last_enter_at: Option<Millis>,
    pub replies_since_message: i64,
    pub replies_since_enter: i64,
    pub session_from: Option<String>,
    pub assignee_id: Option<i64>,
    pub assignee_name: Option<String>,
    pub last_message_id: Option<i64>,
    /// while set, the conversation is snoozed (`pending`) until then
    pub snoozed_until: Option<Millis>,
}

const SELECT: &str = r"select c.id, c.channel_id, c.status, c.handler, c.unread, c.created_at, c.last_activity_at,
       ct.id as contact_id, ct.openid, ct.display_name as contact_name,
       ct.last_message_at, ct.last_enter_at, ct.replies_since_message, ct.replies_since_enter,
       ct.session_from,
       c.assignee_id, s.display_name as assignee_name, c.last_message_id, c.snoozed_until
  from conversations c
  join contacts ct on ct.id = c.contact_id
  left join staff_users s on s.id = c.assignee_id";

impl ConversationRow {
    /// A row of `SELECT`, column by column in its order.
    fn read(r: &rusqlite::Row<'_>) -> rusqlite::Result<ConversationRow> {
        Ok(ConversationRow {
            id: r.get(0)?,
            channel_id: r.get(1)?,
            status: r.get(2)?,
            handler: r.get(3)?,
            unread: r.get(4)?,
            created_at: r.get(5)?,
            last_activity_at: r.get(6)?,
            contact_id: r.get(7)?,
            openid: r.get(8)?,
            contact_name: r.get(9)?,
            last_message_at: r.get(10)?,
            last_enter_at: r.get(11)?,
            replies_since_message: r.get(12)?,
            replies_since_enter: r.get(13)?,
            session_from: r.get(14)?,
            assignee_id: r.get(15)?,
            assignee_name: r.get(16)?,
            last_message_id: r.get(17)?,
            snoozed_until: r.get(18)?,
        })
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AssigneeFilter {
    Any,
    Nobody,
    User(i64),
}

#[derive(Debug, Clone, Copy)]
pub struct ListFilter {
    pub status: Option<ConversationStatus>,
    pub assignee: AssigneeFilter,
    /// the (last_activity_at, id) of the last row of the previous page
    pub before: Option<(Millis, i64)>,
    pub limit: i64,
}

/// The workspace's views of the list (docs/CONTRACT.md, "Workspace").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum View {
    #[default]
    All,
    /// open, a human's, nobody assigned (a snoozed conversation is pending, so not here)
    Waiting,
    /// assigned to this staff member, not snoozed
    Mine(i64),
    /// handled by the bot
    Bot,
}

/// What the JSON API's list narrows by beyond `ListFilter`.
#[derive(Debug, Clone, Default)]
pub struct Narrow {
    pub view: View,
    pub handler: Option<Handler>,
    /// a label's id
    pub label: Option<i64>,
    /// a contact's openid
    pub contact: Option<String>,
    /// a channel's id
    pub channel: Option<i64>,
    /// the channels the caller may see (None: every one)
    pub within: Option<Vec<i64>>,
}

/// Newest activity first; the filter's shape picks the index, so pages stay fast at any size.
pub async fn list(store: &Store, f: &ListFilter) -> sqlx::Result<Vec<ConversationRow>> {
    list_where(store, f, &Narrow::default()).await
}

/// `list`, narrowed further. Each narrowing has an index that leads with it (see the migration
/// `workspace`): a view or handler reads its index in activity order; a contact's or a label's
/// conversations are few enough to sort.
pub async fn list_where(
    store: &Store,
    f: &ListFilter,
    n: &Narrow,
) -> sqlx::Result<Vec<ConversationRow>> {
    let q = list_query(SELECT, f, n);
    store
        .read(move |conn| q.query(conn, ConversationRow::read))
        .await
}

/// `list_where`, on a read connection (`Store::read`).
pub fn list_where_on(
    conn: &rusqlite::Connection,
    f: &ListFilter,
    n: &Narrow,
) -> rusqlite::Result<Vec<ConversationRow>> {
    list_query(SELECT, f, n).query(conn, ConversationRow::read)
}

/// The query plan SQLite chooses for each narrowing the API offers, as (filter, plan steps
/// joined by "; "): for the tests that keep them index-backed.
pub async fn list_plans(store: &Store) -> sqlx::Result<Vec<(&'static str, String)>> {
    let f = ListFilter {
        status: None,
        assignee: AssigneeFilter::Any,
        before: Some((0, 0)),
        limit: 51,
    };
    let cases = [
        (
            "view=waiting",
            Narrow {
                view: View::Waiting,
                ..Narrow::default()
            },
        ),
        (
            "view=mine",
            Narrow {
                view: View::Mine(1),
                ..Narrow::default()
            },
        ),
        (
            "view=bot",
            Narrow {
                view: View::Bot,
                ..Narrow::default()
            },
        ),
        (
            "handler",
            Narrow {
                handler: Some(Handler::Human),
                ..Narrow::default()
            },
        ),
        (
            "label",
            Narrow {
                label: Some(1),
                ..Narrow::default()
            },
        ),
        (
            "contact",
            Narrow {
                contact: Some("o".into()),
                ..Narrow::default()
            },
        ),
    ];
    let explain = format!("explain query plan {SELECT}");
    let queries: Vec<(&'static str, Sql)> = cases
        .into_iter()
        .map(|(name, n)| (name, list_query(&explain, &f, &n)))
        .collect();
    store
        .read(move |conn| {
            queries
                .into_iter()
                .map(|(name, q)| {
                    let steps = q.query(conn, |r| r.get::<_, String>(3))?;
                    Ok((name, steps.join("; ")))
                })
                .collect()
        })
        .await
}

fn list_query(select: &str, f: &ListFilter, n: &Narrow) -> Sql {
    let mut q = Sql::new(select);
    q.push(" where 1 = 1");
    match n.view {
        View::All => {}
        // literals, so the planner sees the waiting index's leading columns
        View::Waiting => {
            q.push(" and c.status = 'open' and c.handler = 'human' and c.assignee_id is null");
        }
        View::Mine(id) => {
            q.push(" and c.assignee_id = ")
                .bind(id)
                .push(" and c.snoozed_until is null");
        }
        View::Bot => {
            q.push(" and c.handler = 'bot'");
        }
    }
    if let Some(handler) = n.handler {
        q.push(" and c.handler = ")
            .bind(handler.as_str().to_owned());
    }
    if let Some(label) = n.label {
        q.push(" and c.id in (select conversation_id from conversation_labels where label_id = ")
            .bind(label)
            .push(")");
    }
    if let Some(openid) = &n.contact {
        q.push(" and c.contact_id in (select id from contacts where openid = ")
            .bind(openid.clone())
            .push(")");
    }
    if let Some(channel) = n.channel {
        q.push(" and c.channel_id = ").bind(channel);
    }
    if let Some(within) = &n.within {
        // literals: ids, and few of them
        let ids: Vec<String> = within.iter().map(i64::to_string).collect();
        q.push(&format!(" and c.channel_id in ({})", ids.join(", ")));
        if within.is_empty() {
            q.push(" and 0");
        }
    }
    if let Some(status) = f.status {
        q.push(" and c.status = ").bind(status.as_str().to_owned());
    }
    match f.assignee {
        AssigneeFilter::Any => {}
        AssigneeFilter::Nobody => {
            q.push(" and c.assignee_id is null");
        }
        AssigneeFilter::User(id) => {
            q.push(" and c.assignee_id = ").bind(id);
        }
    }
    if let Some((at, id)) = f.before {
        q.push(" and (c.last_activity_at < ")
            .bind(at)
            .push(" or (c.last_activity_at = ")
            .bind(at)
            .push(" and c.id < ")
            .bind(id)
            .push("))");
    }
    q.push(" order by c.last_activity_at desc, c.id desc limit ")
        .bind(f.limit);
    q
}

/// One conversation, as of now.
pub async fn get(store: &Store, id: i64) -> sqlx::Result<Option<ConversationRow>> {
    store.read(move |conn| get_on(conn, id)).await
}

/// `get`, on a read connection (`Store::read`).
pub fn get_on(conn: &rusqlite::Connection, id: i64) -> rusqlite::Result<Option<ConversationRow>> {
    conn.prepare_cached(&format!("{SELECT} where c.id = ?"))?
        .query_row([id], ConversationRow::read)
        .optional()
}

/// One conversation, inside a transaction (as that transaction sees it).
pub async fn get_in<'e>(
    db: impl sqlx::SqliteExecutor<'e>,
    id: i64,
) -> sqlx::Result<Option<ConversationRow>> {
    let mut q: QueryBuilder<Sqlite> = QueryBuilder::new(SELECT);
    q.push(" where c.id = ").push_bind(id);
    q.build_query_as().fetch_optional(db).await
}

/// Moves a conversation to `status` (which ends a snooze). Resolving it frees the contact, so their next message
/// starts a new conversation; reopening makes it the contact's current one again if they
/// have not started another meanwhile. Returns false when there is no such conversation.
pub async fn set_status(
    conn: &mut SqliteConnection,
    id: i64,
    status: ConversationStatus,
    now: Millis,
) -> sqlx::Result<bool> {
    let contact: Option<i64> = sqlx::query_scalar(
        r"update conversations
             set status = $1,
                 resolved_at = case when $1 = 'resolved' then $2 else null end,
                 snoozed_until = null
           where id = $3
       returning contact_id",
    )
    .bind(status)
    .bind(now)
    .bind(id)
    .fetch_optional(&mut *conn)
    .await?;
    let Some(contact) = contact else {
        return Ok(false);
    };
    if status == ConversationStatus::Resolved {
        sqlx::query(
            "update contacts set current_conversation_id = null where id = $1 and current_conversation_id = $2",
        )
        .bind(contact)
        .bind(id)
        .execute(&mut *conn)
        .await?;
    } else {
        sqlx::query(
            "update contacts set current_conversation_id = $2 where id = $1 and current_conversation_id is null",
        )
        .bind(contact)
        .bind(id)
        .execute(&mut *conn)
        .await?;
    }
    Ok(true)
}

/// Assigns a conversation to a staff user, or to nobody. A conversation with an assignee is a
/// human's (the bot stops answering it); unassigning leaves it a human's, waiting in the queue.
/// Returns false when there is no such conversation.
pub async fn assign(
    conn: &mut SqliteConnection,
    id: i64,
    assignee: Option<i64>,
) -> sqlx::Result<bool> {
    let done = sqlx::query(
        r"update conversations
             set assignee_id = $1,
                 handler = case when $1 is null then handler else 'human' end
           where id = $2",
    )
    .bind(assignee)
    .bind(id)
    .execute(&mut *conn)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Assigns a waiting conversation unless someone took it meanwhile; true when it did.
pub async fn assign_if_unassigned(
    conn: &mut SqliteConnection,
    id: i64,
    assignee: i64,
) -> sqlx::Result<bool> {
    let done = sqlx::query(
        r"update conversations set assignee_id = $1, handler = 'human'
           where id = $2 and assignee_id is null and status = 'open'",
    )
    .bind(assignee)
    .bind(id)
    .execute(&mut *conn)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// An agent replied in a conversation the bot handles: it becomes a human's, and the agent's
/// if nobody had it. One statement, so a concurrent assignment is kept. Returns the
/// assignee it had before (None: it was unassigned), or nothing when the bot did not handle
/// it (nothing changed).
pub async fn take_from_bot(
    conn: &mut SqliteConnection,
    id: i64,
    agent: i64,
) -> sqlx::Result<Option<Option<i64>>> {
    // the caller's write transaction holds the lock between the read and the update
    let before: Option<(Option<i64>,)> =
        sqlx::query_as("select assignee_id from conversations where id = $1 and handler = 'bot'")
            .bind(id)
            .fetch_optional(&mut *conn)
            .await?;
    let Some((assignee,)) = before else {
        return Ok(None);
    };
    sqlx::query(
        r"update conversations
             set handler = 'human', assignee_id = coalesce(assignee_id, $2)
           where id = $1 and handler = 'bot'",
    )
    .bind(id)
    .bind(agent)
    .execute(&mut *conn)
    .await?;
    Ok(Some(assignee))
}

/// Snoozes a conversation until `until`: it is `pending` until then. Returns false when
/// there is no such conversation.
pub async fn snooze(conn: &mut SqliteConnection, id: i64, until: Millis) -> sqlx::Result<bool> {
    let done = sqlx::query(
        "update conversations set status = 'pending', snoozed_until = $1 where id = $2",
    )
    .bind(until)
    .bind(id)
    .execute(&mut *conn)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Ends the snoozes that are due at `now`: those conversations are open again. Returns
/// their ids.
pub async fn wake_due(conn: &mut SqliteConnection, now: Millis) -> sqlx::Result<Vec<i64>> {
    sqlx::query_scalar(
        r"update conversations set status = 'open', snoozed_until = null
           where snoozed_until is not null and snoozed_until <= $1
       returning id",
    )
    .bind(now)
    .fetch_all(&mut *conn)
    .await
}

/// When the next snooze ends, if any conversation is snoozed.
pub async fn next_snooze_end(pool: &SqlitePool) -> sqlx::Result<Option<Millis>> {
    sqlx::query_scalar(
        "select min(snoozed_until) from conversations where snoozed_until is not null",
    )
    .fetch_one(pool)
    .await
}

/// Who answers the conversation: the bot, a human, or WeChat's tool.
pub async fn set_handler(
    conn: &mut SqliteConnection,
    id: i64,
    handler: Handler,
) -> sqlx::Result<bool> {
    let done = sqlx::query("update conversations set handler = $1 where id = $2")
        .bind(handler)
        .bind(id)
        .execute(&mut *conn)
        .await?;
    Ok(done.rows_affected() == 1)
}

/// Open conversations handed to humans that nobody has taken yet, the longest waiting first.
/// (conversation, channel), oldest first.
pub async fn waiting_for_human(pool: &SqlitePool, limit: i64) -> sqlx::Result<Vec<(i64, i64)>> {
    sqlx::query_as(
        r"select id, channel_id from conversations
           where status = 'open' and handler = 'human' and assignee_id is null
           order by last_activity_at, id
           limit $1",
    )
    .bind(limit)
    .fetch_all(pool)
    .await
}

/// The automatic messages the bot rate-limits per customer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BotNote {
    Welcome,
    Fallback,
    Away,
}

/// Records that the bot sends `note` to the contact now, unless it did within `every_ms`:
/// true when it may send. One statement, so two pushes cannot both claim it.
pub async fn claim_bot_note(
    conn: &mut SqliteConnection,
    contact_id: i64,
    note: BotNote,
    now: Millis,
    every_ms: Millis,
) -> sqlx::Result<bool> {
    let sql = match note {
        BotNote::Welcome => {
            "update contacts set welcomed_at = $1 where id = $2 and (welcomed_at is null or welcomed_at <= $3)"
        }
        BotNote::Fallback => {
            "update contacts set fallback_at = $1 where id = $2 and (fallback_at is null or fallback_at <= $3)"
        }
        BotNote::Away => {
            "update contacts set away_at = $1 where id = $2 and (away_at is null or away_at <= $3)"
        }
    };
    let done = sqlx::query(sql)
        .bind(now)
        .bind(contact_id)
        .bind(now - every_ms)
        .execute(&mut *conn)
        .await?;
    Ok(done.rows_affected() == 1)
}

/// Several conversations by id, in no particular order (for rendering live updates).
pub async fn by_ids(store: &Store, ids: &[i64]) -> sqlx::Result<Vec<ConversationRow>> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let mut q = Sql::new(SELECT);
    q.push(" where c.id in (")
        .bind_list(ids.iter().copied())
        .push(")");
    store
        .read(move |conn| q.query(conn, ConversationRow::read))
        .await
}

/// Open conversations and their unread messages, per assignee (None: unassigned), and the
/// list pane's views: waiting for a human, the bot's.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct InboxCounts {
    pub all: i64,
    pub unassigned: i64,
    pub unread_unassigned: i64,
    /// (staff id, open conversations, unread messages in them)
    pub by_assignee: Vec<(i64, i64, i64)>,
    /// open, handled by a human, nobody assigned (`view=waiting`)
    pub waiting: i64,
    pub unread_waiting: i64,
    /// open and handled by the bot (`view=bot`)
    pub bot: i64,
}

impl InboxCounts {
    /// The counts from open conversations and unread messages per (assignee, handler).
    fn from_groups(groups: impl IntoIterator<Item = (Option<i64>, Handler, i64, i64)>) -> Self {
        let mut counts = InboxCounts::default();
        for (assignee, handler, n, unread) in groups {
            counts.all += n;
            if handler == Handler::Bot {
                counts.bot += n;
            }
            match assignee {
                None => {
                    counts.unassigned += n;
                    counts.unread_unassigned += unread;
                    if handler == Handler::Human {
                        counts.waiting += n;
                        counts.unread_waiting += unread;
                    }
                }
                Some(id) => match counts.by_assignee.iter_mut().find(|(s, _, _)| *s == id) {
                    Some(entry) => {
                        entry.1 += n;
                        entry.2 += unread;
                    }
                    None => counts.by_assignee.push((id, n, unread)),
                },
            }
        }
        counts
    }

    pub fn of(&self, staff: i64) -> (i64, i64) {
        self.by_assignee
            .iter()
            .find(|(s, _, _)| *s == staff)
            .map_or((0, 0), |(_, n, u)| (*n, *u))
    }
}

/// Open conversations and their unread messages per channel, assignee and handler: what the
/// inbox counts are made of, for every caller's channels (`within`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OpenCounts {
    /// (channel, assignee or None, handler, open conversations, unread messages), sorted
    groups: Vec<(i64, Option<i64>, Handler, i64, i64)>,
}

impl OpenCounts {
    fn of(mut groups: Vec<(i64, Option<i64>, Handler, i64, i64)>) -> OpenCounts {
        groups.retain(|g| g.3 > 0);
        groups.sort_by_key(|g| (g.0, g.1, g.2.as_str()));
        OpenCounts { groups }
    }

    /// The inbox counts over these channels (None: every channel).
    pub fn within(&self, channels: Option<&[i64]>) -> InboxCounts {
        InboxCounts::from_groups(
            self.groups
                .iter()
                .filter(|g| channels.is_none_or(|c| c.contains(&g.0)))
                .map(|&(_, assignee, handler, n, unread)| (assignee, handler, n, unread)),
        )
    }
}

/// The counts the inbox views show, from the rows the triggers keep per channel, assignee and
/// handler (`open_conversation_counts`): a few rows whatever the number of conversations.
pub async fn open_counts(pool: &SqlitePool) -> sqlx::Result<OpenCounts> {
    let rows: Vec<(i64, i64, Handler, i64, i64)> = sqlx::query_as(
        r"select channel_id, assignee_id, handler, conversations, unread
            from open_conversation_counts
           where conversations > 0",
    )
    .fetch_all(pool)
    .await?;
    Ok(OpenCounts::of(
        rows.into_iter()
            .map(|(channel, assignee, handler, n, unread)| {
                (
                    channel,
                    (assignee != 0).then_some(assignee),
                    handler,
                    n,
                    unread,
                )
            })
            .collect(),
    ))
}

/// The same counts as `open_counts`, counted from the conversations themselves: the check that
/// the triggers keep them right.
pub async fn recount_open(pool: &SqlitePool) -> sqlx::Result<OpenCounts> {
    let rows: Vec<(i64, Option<i64>, Handler, i64, i64)> = sqlx::query_as(
        r"select channel_id, assignee_id, handler, count(*), coalesce(sum(unread), 0)
            from conversations
           where status = 'open'
           group by channel_id, assignee_id, handler",
    )
    .fetch_all(pool)
    .await?;
    Ok(OpenCounts::of(rows))
}

/// One of a customer's conversations, as the contact panel's history lists it.
#[derive(Debug, Clone)]
pub struct HistoryRow {
    pub id: i64,
    pub status: ConversationStatus,
    pub created_at: Millis,
    pub last_activity_at: Millis,
    pub last_message_id: Option<i64>,
    pub messages: i64,
}

/// The contact's conversations other than `except`, newest first, at most `limit`, each with
/// its number of messages (counted on `messages_by_conversation`).
pub async fn history(
    store: &Store,
    contact_id: i64,
    except: i64,
    limit: i64,
) -> sqlx::Result<Vec<HistoryRow>> {
    store
        .read(move |conn| history_on(conn, contact_id, except, limit))
        .await
}

/// `history`, on a read connection (`Store::read`).
pub fn history_on(
    conn: &rusqlite::Connection,
    contact_id: i64,
    except: i64,
    limit: i64,
) -> rusqlite::Result<Vec<HistoryRow>> {
    conn.prepare_cached(
        r"select c.id, c.status, c.created_at, c.last_activity_at, c.last_message_id,
                 (select count(*) from messages m where m.conversation_id = c.id) as messages
            from conversations c
           where c.contact_id = $1 and c.id <> $2
           order by c.id desc
           limit $3",
    )?
    .query_map((contact_id, except, limit), |r| {
        Ok(HistoryRow {
            id: r.get(0)?,
            status: r.get(1)?,
            created_at: r.get(2)?,
            last_activity_at: r.get(3)?,
            last_message_id: r.get(4)?,
            messages: r.get(5)?,
        })
    })?
    .collect()
}

/// An agent read the conversation: nothing in it is unread any more. Returns whether that
/// changed anything.
pub async fn mark_read(conn: &mut SqliteConnection, id: i64) -> sqlx::Result<bool> {
    let done = sqlx::query("update conversations set unread = 0 where id = $1 and unread <> 0")
        .bind(id)
        .execute(&mut *conn)
        .await?;
    Ok(done.rows_affected() == 1)
}

/// Renames a contact and replaces the staff's note on them; returns false when there is no
/// such contact.
pub async fn set_contact(
    conn: &mut SqliteConnection,
    contact_id: i64,
    name: Option<&str>,
    note: &str,
) -> sqlx::Result<bool> {
    let done = sqlx::query("update contacts set display_name = $1, note = $2 where id = $3")
        .bind(name)
        .bind(note)
        .bind(contact_id)
        .execute(&mut *conn)
        .await?;
    Ok(done.rows_affected() == 1)
}

/// The contact's details the side panel shows beyond the list row.
#[derive(Debug, Clone)]
pub struct ContactDetails {
    pub note: String,
    pub first_seen_at: Millis,
}

pub async fn contact_details(
    store: &Store,
    contact_id: i64,
) -> sqlx::Result<Option<ContactDetails>> {
    store
        .read(move |conn| contact_details_on(conn, contact_id))
        .await
}

/// `contact_details`, on a read connection (`Store::read`).
pub fn contact_details_on(
    conn: &rusqlite::Connection,
    contact_id: i64,
) -> rusqlite::Result<Option<ContactDetails>> {
    conn.prepare_cached("select note, first_seen_at from contacts where id = $1")?
        .query_row([contact_id], |r| {
            Ok(ContactDetails {
                note: r.get(0)?,
                first_seen_at: r.get(1)?,
            })
        })
        .optional()
}

/// The other conversations touching a contact (for the live update of a rename).
pub async fn ids_of_contact(pool: &SqlitePool, contact_id: i64) -> sqlx::Result<Vec<i64>> {
    sqlx::query_scalar(
        "select id from conversations where contact_id = $1 order by id desc limit 20",
    )
    .bind(contact_id)
    .fetch_all(pool)
    .await
}

/// The channel of a conversation, if it exists.
pub async fn channel_of(store: &Store, id: i64) -> sqlx::Result<Option<i64>> {
    store
        .read(move |conn| {
            conn.prepare_cached("select channel_id from conversations where id = $1")?
                .query_row([id], |r| r.get(0))
                .optional()
        })
        .await
}

/// The channel of a message's conversation, if the message exists.
pub async fn channel_of_message(store: &Store, id: i64) -> sqlx::Result<Option<i64>> {
    store
        .read(move |conn| {
            conn.prepare_cached(
                "select c.channel_id from messages m join conversations c on c.id = m.conversation_id where m.id = $1",
            )?
            .query_row([id], |r| r.get(0))
            .optional()
        })
        .await
}
