//! Writing incoming pushes: contact upserts, the conversation each belongs to, the messages,
//! and the conversations' counters. Called by the single writer (`writer`) with a whole batch
//! inside one transaction, on its own connection (`store::write`), from its own thread.
//!
//! The statements are set-based, a handful per batch rather than four per push: each
//! statement opens cursors on its table and every index of it, and SQLite keeps a statement
//! journal of the pages each one changes, so one statement for many rows is far cheaper than
//! many statements of one row (about 14 µs of CPU per push, measured).
//!
//! Each statement carries its rows in a list padded to a power of two (`padded`), so that a
//! batch of any size runs one of a few fixed statements, each prepared once and kept
//! (`prepare_cached`). An insert pads its `values` with copies of its last row marked `false`
//! and keeps only the rows marked `true` (`insert … select … from (values …) where`); a
//! lookup repeats its last entry, which changes nothing.

use std::collections::{HashMap, HashSet};

use rusqlite::types::ToSql;
use rusqlite::{Connection, params, params_from_iter};

use crate::domain::{MessageType, Millis};

/// A push reduced to what the store needs.
#[derive(Debug, Clone)]
pub struct Inbound {
    /// the channel whose webhook received it
    pub channel_id: i64,
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

/// A customer: an openid is unique only within its channel.
type Customer<'a> = (i64, &'a str);

fn customer(m: &Inbound) -> Customer<'_> {
    (m.channel_id, &m.openid)
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

/// `(?, …), (?, …), …`: `padded(rows)` rows of `width` placeholders each.
fn values(rows: usize, width: usize) -> String {
    let row = format!("({})", vec!["?"; width].join(", "));
    vec![row; padded(rows)].join(", ")
}

/// `?, ?, …`: `padded(n)` placeholders.
fn list(n: usize) -> String {
    vec!["?"; padded(n)].join(", ")
}

/// Stores a batch of pushes; the outcome of each, in order. A push whose key is already
/// stored, or appears earlier in the same batch, is a `Duplicate` and changes nothing.
pub fn store_batch(
    conn: &Connection,
    batch: &[&Inbound],
    now: Millis,
) -> rusqlite::Result<Vec<Stored>> {
    // 1. Which pushes are new.
    let mut known = conn.prepare_cached(&format!(
        "select wechat_id from messages where wechat_id in ({})",
        list(batch.len())
    ))?;
    let keys: Vec<&str> = batch.iter().map(|m| m.dedup_key.as_str()).collect();
    let stored: Vec<String> = known
        .query_map(
            params_from_iter(with_padding(&keys).map(|(k, _)| k)),
            |row| row.get(0),
        )?
        .collect::<rusqlite::Result<_>>()?;
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
    let mut contacts: Vec<(Customer, ContactUpdate)> = Vec::new();
    let mut contact_index: HashMap<Customer, usize> = HashMap::new();
    for m in &fresh {
        let i = *contact_index.entry(customer(m)).or_insert_with(|| {
            contacts.push((customer(m), ContactUpdate::default()));
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
    let contact_rows: Vec<(Customer, &ContactUpdate)> =
        contacts.iter().map(|(who, c)| (*who, c)).collect();
    let mut upsert = conn.prepare_cached(&format!(
        r"insert into contacts (channel_id, openid, first_seen_at, last_seen_at, last_message_at, last_enter_at, session_from)
          select column1, column2, ?, ?, column3, column4, column5 from (values {}) where column6
          on conflict (openid, channel_id) do update set
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
          returning id, channel_id, openid, current_conversation_id",
        values(contact_rows.len(), 6)
    ))?;
    let padded_contacts: Vec<((Customer, &ContactUpdate), bool)> =
        with_padding(&contact_rows).collect();
    let mut args: Vec<&dyn ToSql> = vec![&now, &now];
    for (((channel, openid), c), real) in &padded_contacts {
        args.extend([
            channel as &dyn ToSql,
            openid,
            &c.last_message_at,
            &c.last_enter_at,
            &c.session_from,
            real,
        ]);
    }
    // customer -> (contact id, conversation id), keyed by the batch's own strings
    let mut current: HashMap<Customer, (i64, Option<i64>)> = HashMap::new();
    for row in upsert.query_map(params_from_iter(args), |row| {
        Ok((
            row.get::<_, i64>(1)?,
            row.get::<_, String>(2)?,
            (row.get(0)?, row.get(3)?),
        ))
    })? {
        let (channel, openid, ids) = row?;
        let Some(&i) = contact_index.get(&(channel, openid.as_str())) else {
            return Err(rusqlite::Error::QueryReturnedNoRows);
        };
        current.insert(contacts[i].0, ids);
    }

    // 3. A conversation for every contact without an unresolved one.
    let lacking: Vec<(i64, i64)> = current
        .iter()
        .filter(|(_, (_, conv))| conv.is_none())
        .map(|((channel, _), (id, _))| (*id, *channel))
        .collect();
    let mut started: HashSet<i64> = HashSet::new();
    if !lacking.is_empty() {
        let mut start = conn.prepare_cached(&format!(
            "insert into conversations (contact_id, channel_id, status, handler, unread, created_at, last_activity_at) \
             select column1, column2, 'open', 'bot', 0, ?, ? from (values {}) where column3 returning id, contact_id",
            values(lacking.len(), 3)
        ))?;
        let padded_lacking: Vec<((i64, i64), bool)> = with_padding(&lacking).collect();
        let mut args: Vec<&dyn ToSql> = vec![&now, &now];
        for ((contact, channel), real) in &padded_lacking {
            args.extend([contact as &dyn ToSql, channel, real]);
        }
        let made: Vec<(i64, i64)> = start
            .query_map(params_from_iter(args), |row| Ok((row.get(0)?, row.get(1)?)))?
            .collect::<rusqlite::Result<_>>()?;
        let mut make_current =
            conn.prepare_cached("update contacts set current_conversation_id = ?1 where id = ?2")?;
        for (conv, contact) in &made {
            make_current.execute(params![conv, contact])?;
        }
        let by_contact: HashMap<i64, i64> = made.iter().map(|(conv, c)| (*c, *conv)).collect();
        for (contact, conv) in current.values_mut() {
            if conv.is_none() {
                *conv = by_contact.get(contact).copied();
                started.extend(*conv);
            }
        }
    }
    // Every fresh push's contact was upserted and has a conversation now.
    let mut placed: HashMap<Customer, (i64, i64)> = HashMap::new();
    for m in &fresh {
        match current.get(&customer(m)) {
            Some((contact, Some(conv))) => placed.insert(customer(m), (*contact, *conv)),
            _ => return Err(rusqlite::Error::QueryReturnedNoRows),
        };
    }
    let conversation_of = |m: &Inbound| placed[&customer(m)];

    // 4. The messages. RETURNING order is unspecified, so ids are matched by key.
    let mut insert = conn.prepare_cached(&format!(
        "insert into messages (conversation_id, direction, sender_kind, type, content, wechat_id, status, created_at) \
         select column1, 'in', 'customer', column2, column3, column4, 'received', ? from (values {}) where column5 \
         returning id, wechat_id",
        values(fresh.len(), 5)
    ))?;
    let rows: Vec<(i64, &str, &str, &str, bool)> = with_padding(&fresh)
        .map(|(m, real)| {
            (
                conversation_of(m).1,
                m.kind.as_str(),
                m.content.as_str(),
                m.dedup_key.as_str(),
                real,
            )
        })
        .collect();
    let mut args: Vec<&dyn ToSql> = vec![&now];
    for (conv, kind, content, key, real) in &rows {
        args.extend([conv as &dyn ToSql, kind, content, key, real]);
    }
    let ids: HashMap<String, i64> = insert
        .query_map(params_from_iter(args), |row| {
            Ok((row.get::<_, String>(1)?, row.get(0)?))
        })?
        .collect::<rusqlite::Result<_>>()?;

    // 5. Incoming images are fetched from WeChat in the background (delivery::media).
    let mut image = conn.prepare_cached(
        "insert into media (message_id, direction, media_id, state, attempts, next_attempt_at) \
         values (?1, 'in', ?2, 'pending', 0, ?3)",
    )?;
    for m in &fresh {
        if let (Some(media_id), Some(id)) = (&m.media_id, ids.get(&m.dedup_key)) {
            image.execute(params![id, media_id, now])?;
        }
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
    let mut update = conn.prepare_cached(&format!(
        r"update conversations
             set last_activity_at = ?, last_message_id = v.column2, unread = conversations.unread + v.column3,
                 status = case when conversations.status = 'pending' and v.column3 > 0 then 'open'
                               else conversations.status end
            from (values {}) as v
           where v.column4 and conversations.id = v.column1",
        values(touched.len(), 4)
    ))?;
    let padded_touched: Vec<((i64, i64, i64), bool)> = with_padding(&touched).collect();
    let mut args: Vec<&dyn ToSql> = vec![&now];
    for ((conv, last, unread), real) in &padded_touched {
        args.extend([conv as &dyn ToSql, last, unread, real]);
    }
    update.execute(params_from_iter(args))?;

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

#[cfg(test)]
mod tests {
    use super::*;

    fn push(openid: &str, key: &str, media_id: Option<&str>) -> Inbound {
        Inbound {
            channel_id: 1,
            openid: openid.into(),
            dedup_key: key.into(),
            kind: if media_id.is_some() {
                MessageType::Image
            } else {
                MessageType::Text
            },
            content: r#"{"text":"hi"}"#.into(),
            wechat_time: 1_000,
            is_customer_message: true,
            is_enter: false,
            session_from: None,
            media_id: media_id.map(str::to_owned),
        }
    }

    /// A batch of five (padded to eight rows in every statement) from three customers, with
    /// a key repeated inside the batch and one stored by an earlier batch.
    #[tokio::test]
    async fn a_batch_stores_each_new_push_once_in_its_customers_conversation() {
        let (_dir, store) = crate::store::temp_store().await;
        let mut conn = store.write_connection().unwrap();

        let earlier = push("o-a", "k-earlier", None);
        let tx = conn.transaction().unwrap();
        let first = store_batch(&tx, &[&earlier], 1_000).unwrap();
        tx.commit().unwrap();
        let Stored::New {
            conversation_id: a_conversation,
            new_conversation: true,
            ..
        } = first[0]
        else {
            panic!("a new conversation: {first:?}")
        };

        let batch = [
            push("o-a", "k-1", None),
            push("o-b", "k-2", Some("media-2")),
            push("o-a", "k-1", None),
            push("o-c", "k-3", None),
            push("o-a", "k-earlier", None),
        ];
        let refs: Vec<&Inbound> = batch.iter().collect();
        let tx = conn.transaction().unwrap();
        let stored = store_batch(&tx, &refs, 2_000).unwrap();
        tx.commit().unwrap();

        assert!(matches!(stored[2], Stored::Duplicate), "{stored:?}");
        assert!(matches!(stored[4], Stored::Duplicate), "{stored:?}");
        let new: Vec<(i64, i64, bool)> = [0, 1, 3]
            .iter()
            .map(|&i| match stored[i] {
                Stored::New {
                    message_id,
                    conversation_id,
                    new_conversation,
                    ..
                } => (message_id, conversation_id, new_conversation),
                Stored::Duplicate => panic!("push {i} is new: {stored:?}"),
            })
            .collect();
        assert_eq!(
            new[0].1, a_conversation,
            "o-a writes into its open conversation"
        );
        assert_eq!(
            new.iter().map(|n| n.2).collect::<Vec<_>>(),
            [false, true, true]
        );

        let pool = store.pool();
        let messages: i64 = sqlx::query_scalar("select count(*) from messages")
            .fetch_one(pool)
            .await
            .unwrap();
        assert_eq!(messages, 4);
        let (unread, last, activity): (i64, i64, i64) = sqlx::query_as(
            "select unread, last_message_id, last_activity_at from conversations where id = $1",
        )
        .bind(a_conversation)
        .fetch_one(pool)
        .await
        .unwrap();
        assert_eq!((unread, last, activity), (2, new[0].0, 2_000));
        let media: Vec<(i64, String)> =
            sqlx::query_as("select message_id, media_id from media where direction = 'in'")
                .fetch_all(pool)
                .await
                .unwrap();
        assert_eq!(media, [(new[1].0, "media-2".to_owned())]);
    }
}
