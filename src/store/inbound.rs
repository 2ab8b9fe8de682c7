//! Writing incoming pushes: contact upserts, the conversation each belongs to, the messages,
//! and the conversations' counters. Called by the ingest writer with a whole batch inside one
//! transaction.
//!
//! The statements are set-based (a handful per batch, not five per push) because each
//! statement is a round trip to SQLite's worker thread: per-push statements made those
//! round trips, not the disk, the limit on ingest throughput.
//!
//! Each statement carries its rows in a list padded to a power of two (`padded`), so that a
//! batch of any size runs one of a few fixed statements that SQLite has already prepared
//! (sqlx keeps them in the connection's statement cache). Built to the exact size, every
//! batch size was new SQL: prepared, cached and evicted again, about 2 % of kefu's CPU under
//! load. An insert pads its `values` with copies of its last row marked `false` and keeps
//! only the rows marked `true` (`insert … select … from (values …) where`); a lookup or a
//! `case` repeats its last entry, which changes nothing.

use std::collections::{HashMap, HashSet};

use sqlx::{QueryBuilder, Sqlite, SqliteConnection};

use crate::domain::{MessageType, Millis};

/// A push reduced to what the store needs.
#[derive(Debug, Clone)]
pub struct Inbound {
    pub openid: String,
    /// unique per push: WeChat's retries carry the same key
    pub dedup_key: String,
    pub kind: MessageType,
    /// the content column's JSON text, written once by `ingest::to_inbound` from the push's
    /// `MessageContent` (so the single writer only binds it)
    pub content: String,
    /// WeChat's CreateTime in ms
    pub wechat_time: Millis,
    /// a message from the customer (not an event): opens the reply window and counts unread
    pub is_customer_message: bool,
    /// a `user_enter_tempsession` event
    pub is_enter: bool,
    pub session_from: Option<String>,
    /// an incoming image's WeChat media_id: kefu fetches and keeps a copy
    pub media_id: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stored {
    New {
        message_id: i64,
        conversation_id: i64,
        contact_id: i64,
        /// this message started the conversation
        new_conversation: bool,
    },
    Duplicate,
}

/// What one batch changes for one contact.
#[derive(Default)]
struct ContactUpdate<'a> {
    last_message_at: Option<Millis>,
    last_enter_at: Option<Millis>,
    session_from: Option<&'a str>,
}

/// The rows a statement carries for `n` rows: `n` rounded up to a power of two.
fn padded(n: usize) -> usize {
    n.next_power_of_two()
}

/// `rows`, then copies of the last one up to `padded(rows.len())`; each with whether it is
/// one of `rows` (`true`) or padding.
fn with_padding<T: Copy>(rows: &[T]) -> impl Iterator<Item = (T, bool)> + '_ {
    let padding = rows
        .last()
        .map(|last| std::iter::repeat_n((*last, false), padded(rows.len()) - rows.len()))
        .into_iter()
        .flatten();
    rows.iter().map(|r| (*r, true)).chain(padding)
}

/// Stores a batch of pushes; the outcome of each, in order. A push whose key is already
/// stored, or appears earlier in the same batch, is a `Duplicate` and changes nothing.
pub async fn store_batch(
    conn: &mut SqliteConnection,
    batch: &[&Inbound],
    now: Millis,
) -> sqlx::Result<Vec<Stored>> {
    // 1. Which pushes are new.
    let mut q: QueryBuilder<Sqlite> =
        QueryBuilder::new("select wechat_id from messages where wechat_id in (");
    let mut keys = q.separated(", ");
    for (m, _) in with_padding(batch) {
        keys.push_bind(&m.dedup_key);
    }
    keys.push_unseparated(")");
    let stored: Vec<String> = q.build_query_scalar().fetch_all(&mut *conn).await?;
    let mut seen: HashSet<&str> = stored.iter().map(String::as_str).collect();
    let is_fresh: Vec<bool> = batch
        .iter()
        .map(|m| seen.insert(m.dedup_key.as_str()))
        .collect();
    let fresh: Vec<&Inbound> = batch
        .iter()
        .zip(&is_fresh)
        .filter_map(|(m, fresh)| fresh.then_some(*m))
        .collect();
    if fresh.is_empty() {
        return Ok(vec![Stored::Duplicate; batch.len()]);
    }

    // 2. One upsert row per contact, carrying the latest of each time this batch brings.
    let mut contacts: Vec<(&str, ContactUpdate)> = Vec::new();
    let mut contact_index: HashMap<&str, usize> = HashMap::new();
    for m in &fresh {
        let i = *contact_index.entry(&m.openid).or_insert_with(|| {
            contacts.push((&m.openid, ContactUpdate::default()));
            contacts.len() - 1
        });
        let c = &mut contacts[i].1;
        if m.is_customer_message {
            c.last_message_at = c.last_message_at.max(Some(m.wechat_time));
        }
        if m.is_enter {
            c.last_enter_at = c.last_enter_at.max(Some(m.wechat_time));
            c.session_from = m.session_from.as_deref().or(c.session_from);
        }
    }
    let contact_rows: Vec<(&str, &ContactUpdate)> =
        contacts.iter().map(|(openid, c)| (*openid, c)).collect();
    let mut q: QueryBuilder<Sqlite> = QueryBuilder::new(
        "insert into contacts (openid, first_seen_at, last_seen_at, last_message_at, last_enter_at, session_from) \
         select column1, ",
    );
    q.push_bind(now).push(", ").push_bind(now);
    q.push(", column2, column3, column4 from (");
    q.push_values(
        with_padding(&contact_rows),
        |mut row, ((openid, c), real)| {
            row.push_bind(openid)
                .push_bind(c.last_message_at)
                .push_bind(c.last_enter_at)
                .push_bind(c.session_from)
                .push_bind(real);
        },
    );
    q.push(") where column5");
    q.push(
        r" on conflict (openid) do update set
              last_seen_at = excluded.last_seen_at,
              -- CreateTime has whole seconds: a new message in the same second is a new trigger too
              replies_since_message = case when excluded.last_message_at >= coalesce(contacts.last_message_at, 0)
                                           then 0 else contacts.replies_since_message end,
              replies_since_enter = case when excluded.last_enter_at >= coalesce(contacts.last_enter_at, 0)
                                         then 0 else contacts.replies_since_enter end,
              last_message_at = case when excluded.last_message_at > coalesce(contacts.last_message_at, 0)
                                     then excluded.last_message_at else contacts.last_message_at end,
              last_enter_at = case when excluded.last_enter_at > coalesce(contacts.last_enter_at, 0)
                                   then excluded.last_enter_at else contacts.last_enter_at end,
              session_from = coalesce(excluded.session_from, contacts.session_from)
          returning id, openid, current_conversation_id",
    );
    let rows: Vec<(i64, String, Option<i64>)> = q.build_query_as().fetch_all(&mut *conn).await?;
    // openid -> (contact id, conversation id)
    let mut current: HashMap<String, (i64, Option<i64>)> = rows
        .into_iter()
        .map(|(id, openid, conv)| (openid, (id, conv)))
        .collect();

    // 3. A conversation for every contact without an unresolved one.
    let lacking: Vec<i64> = current
        .values()
        .filter(|(_, conv)| conv.is_none())
        .map(|(id, _)| *id)
        .collect();
    let mut started: HashSet<i64> = HashSet::new();
    if !lacking.is_empty() {
        let mut q: QueryBuilder<Sqlite> = QueryBuilder::new(
            "insert into conversations (contact_id, status, handler, unread, created_at, last_activity_at) \
             select column1, 'open', 'bot', 0, ",
        );
        q.push_bind(now).push(", ").push_bind(now).push(" from (");
        q.push_values(with_padding(&lacking), |mut row, (contact, real)| {
            row.push_bind(contact).push_bind(real);
        });
        q.push(") where column2 returning id, contact_id");
        let made: Vec<(i64, i64)> = q.build_query_as().fetch_all(&mut *conn).await?;
        let mut q: QueryBuilder<Sqlite> =
            QueryBuilder::new("update contacts set current_conversation_id = case id");
        for ((conv, contact), _) in with_padding(&made) {
            q.push(" when ")
                .push_bind(contact)
                .push(" then ")
                .push_bind(conv);
        }
        q.push(" end where id in (");
        let mut ids = q.separated(", ");
        for ((_, contact), _) in with_padding(&made) {
            ids.push_bind(contact);
        }
        ids.push_unseparated(")");
        q.build().execute(&mut *conn).await?;
        let by_contact: HashMap<i64, i64> = made.iter().map(|(conv, c)| (*c, *conv)).collect();
        for (contact, conv) in current.values_mut() {
            if conv.is_none() {
                *conv = by_contact.get(contact).copied();
                started.extend(*conv);
            }
        }
    }
    // Every fresh push's contact was upserted and has a conversation now.
    let mut placed: HashMap<&str, (i64, i64)> = HashMap::new();
    for m in &fresh {
        match current.get(&m.openid) {
            Some((contact, Some(conv))) => placed.insert(&m.openid, (*contact, *conv)),
            _ => return Err(sqlx::Error::RowNotFound),
        };
    }
    let conversation_of = |m: &Inbound| placed[m.openid.as_str()];

    // 4. The messages. RETURNING order is unspecified, so ids are matched by key.
    let mut q: QueryBuilder<Sqlite> = QueryBuilder::new(
        "insert into messages (conversation_id, direction, sender_kind, type, content, wechat_id, status, created_at) \
         select column1, 'in', 'customer', column2, column3, column4, 'received', ",
    );
    q.push_bind(now).push(" from (");
    q.push_values(with_padding(&fresh), |mut row, (m, real)| {
        row.push_bind(conversation_of(m).1)
            .push_bind(m.kind)
            .push_bind(&m.content)
            .push_bind(&m.dedup_key)
            .push_bind(real);
    });
    q.push(") where column5 returning id, wechat_id");
    let ids: HashMap<String, i64> = q
        .build_query_as::<(i64, String)>()
        .fetch_all(&mut *conn)
        .await?
        .into_iter()
        .map(|(id, key)| (key, id))
        .collect();

    // 5. Incoming images are fetched from WeChat in the background (delivery::media).
    let images: Vec<(i64, &str)> = fresh
        .iter()
        .filter_map(|m| Some((*ids.get(&m.dedup_key)?, m.media_id.as_deref()?)))
        .collect();
    if !images.is_empty() {
        let mut q: QueryBuilder<Sqlite> = QueryBuilder::new(
            "insert into media (message_id, direction, media_id, state, attempts, next_attempt_at) \
             select column1, 'in', column2, 'pending', 0, ",
        );
        q.push_bind(now).push(" from (");
        q.push_values(
            with_padding(&images),
            |mut row, ((message, media_id), real)| {
                row.push_bind(message).push_bind(media_id).push_bind(real);
            },
        );
        q.push(") where column3");
        q.build().execute(&mut *conn).await?;
    }

    // 6. Each touched conversation's activity, last message and unread count. A customer
    //    writing again moves a "waiting on the customer" conversation back to open.
    let mut touched: Vec<(i64, i64, i64)> = Vec::new(); // (conversation, last message, new unread)
    for m in &fresh {
        let conv = conversation_of(m).1;
        let id = ids.get(&m.dedup_key).copied().unwrap_or_default();
        let unread = i64::from(m.is_customer_message);
        match touched.iter_mut().find(|t| t.0 == conv) {
            Some(t) => {
                t.1 = t.1.max(id);
                t.2 += unread;
            }
            None => touched.push((conv, id, unread)),
        }
    }
    let mut q: QueryBuilder<Sqlite> =
        QueryBuilder::new("update conversations set last_activity_at = ");
    q.push_bind(now);
    q.push(", last_message_id = case id");
    for ((conv, last, _), _) in with_padding(&touched) {
        q.push(" when ")
            .push_bind(conv)
            .push(" then ")
            .push_bind(last);
    }
    q.push(" end, unread = unread + case id");
    for ((conv, _, unread), _) in with_padding(&touched) {
        q.push(" when ")
            .push_bind(conv)
            .push(" then ")
            .push_bind(unread);
    }
    // the conversations a customer wrote to, the others as 0 (no conversation has id 0), so
    // that the list has the same length whatever the batch holds
    q.push(" end, status = case when status = 'pending' and id in (");
    let mut reopen = q.separated(", ");
    reopen.push_bind(0i64);
    for ((conv, _, unread), _) in with_padding(&touched) {
        reopen.push_bind(if unread > 0 { conv } else { 0 });
    }
    reopen.push_unseparated(") then 'open' else status end where id in (");
    let mut all = q.separated(", ");
    for ((conv, _, _), _) in with_padding(&touched) {
        all.push_bind(conv);
    }
    all.push_unseparated(")");
    q.build().execute(&mut *conn).await?;

    // The outcome of each push, in batch order.
    let mut first_of_new: HashSet<i64> = HashSet::new();
    Ok(batch
        .iter()
        .zip(is_fresh)
        .map(|(m, fresh)| {
            if !fresh {
                return Stored::Duplicate;
            }
            let (contact_id, conversation_id) = conversation_of(m);
            Stored::New {
                message_id: ids.get(&m.dedup_key).copied().unwrap_or_default(),
                conversation_id,
                contact_id,
                new_conversation: started.contains(&conversation_id)
                    && first_of_new.insert(conversation_id),
            }
        })
        .collect())
}
