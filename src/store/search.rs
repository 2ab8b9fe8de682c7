//! Search's SQL on SQLite (the semantics and the index's design are `search`'s): keeping the
//! index (`index_pending`, on the single writer's connection) and finding messages (`find`, on
//! the pool). A PostgreSQL backend provides the same two functions over its own index
//! (`pg_trgm` and GIN on the normalised text), with the same cursor.
//!
//! The index: `search_trigrams` and `search_grams` (FTS5, contentless, keyed by the message's
//! id) and `search_cursor`, the last message id indexed (migrations/20261207000070_search.sql).

use futures_util::TryStreamExt;
use rusqlite::{Connection, params};
use sqlx::{QueryBuilder, Row, Sqlite, SqlitePool};

use crate::domain::{ConversationStatus, MessageType, Millis};
use crate::search::{Lookup, Query, grams, searchable};
use crate::store::conversations::AssigneeFilter;
use crate::store::messages::read_content;

/// What a turn of the indexer did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Indexed {
    /// messages read (searchable or not)
    pub indexed: usize,
    /// more were waiting than one turn takes
    pub more: bool,
}

/// Indexes the messages committed after the cursor, at most `max`, and moves the cursor past
/// them; inside the caller's transaction (on the writer's connection).
pub fn index_pending(conn: &Connection, max: usize) -> rusqlite::Result<Indexed> {
    let cursor: i64 = conn
        .prepare_cached("select last_message_id from search_cursor where id = 1")?
        .query_row([], |row| row.get(0))?;
    let mut read = conn.prepare_cached(
        "select id, type, content from messages where id > ?1 order by id limit ?2",
    )?;
    let rows: Vec<(i64, String, String)> = read
        .query_map(params![cursor, max as i64], |row| {
            Ok((row.get(0)?, row.get(1)?, row.get(2)?))
        })?
        .collect::<rusqlite::Result<_>>()?;
    let Some(last) = rows.last().map(|r| r.0) else {
        return Ok(Indexed {
            indexed: 0,
            more: false,
        });
    };
    let mut trigrams =
        conn.prepare_cached("insert into search_trigrams (rowid, body) values (?1, ?2)")?;
    let mut words =
        conn.prepare_cached("insert into search_grams (rowid, grams) values (?1, ?2)")?;
    for (id, kind, json) in &rows {
        // a type kefu does not know has nothing searchable
        let Some(kind) = MessageType::parse(kind) else {
            continue;
        };
        let Some(text) = searchable(&read_content(*id, kind, json)) else {
            continue;
        };
        trigrams.execute(params![id, text])?;
        words.execute(params![id, grams(&text)])?;
    }
    conn.prepare_cached("update search_cursor set last_message_id = ?1 where id = 1")?
        .execute(params![last])?;
    Ok(Indexed {
        indexed: rows.len(),
        more: rows.len() == max,
    })
}

/// What a search is narrowed to, besides its text.
#[derive(Debug, Clone)]
pub struct Filter {
    pub channel: Option<i64>,
    /// the caller's channels (an agent limited to some); None: every channel
    pub within: Option<Vec<i64>>,
    /// the conversation's status now
    pub status: Option<ConversationStatus>,
    pub assignee: AssigneeFilter,
    /// the message's time, from (inclusive) and to (exclusive)
    pub from: Option<Millis>,
    pub to: Option<Millis>,
    /// only messages older than this one (the cursor of the previous page)
    pub before: Option<i64>,
}

/// The conditions on the message `m` and its conversation `c`.
fn push_filters(q: &mut QueryBuilder<Sqlite>, f: &Filter) {
    if let Some(channel) = f.channel {
        q.push(" and c.channel_id = ").push_bind(channel);
    }
    if let Some(within) = &f.within {
        if within.is_empty() {
            q.push(" and 0");
        } else {
            // literals: ids, and few of them
            let ids: Vec<String> = within.iter().map(i64::to_string).collect();
            q.push(format!(" and c.channel_id in ({})", ids.join(", ")));
        }
    }
    if let Some(status) = f.status {
        q.push(" and c.status = ").push_bind(status.as_str());
    }
    match f.assignee {
        AssigneeFilter::Any => {}
        AssigneeFilter::Nobody => {
            q.push(" and c.assignee_id is null");
        }
        AssigneeFilter::User(id) => {
            q.push(" and c.assignee_id = ").push_bind(id);
        }
    }
    if let Some(from) = f.from {
        q.push(" and m.created_at >= ").push_bind(from);
    }
    if let Some(to) = f.to {
        q.push(" and m.created_at < ").push_bind(to);
    }
}

/// The ids of the messages that match `query` within `filter`, newest first, at most `limit`.
///
/// One read transaction, so one snapshot: the cursor, the messages after it (read and tested
/// one by one, newest first: normally the last fraction of a second's) and then the index for
/// the messages up to it. The index is read newest first and stops at `limit` matches; the
/// joins only test the filters of the rows it yields (`cross join` keeps the index outermost).
pub async fn find(
    pool: &SqlitePool,
    query: &Query,
    filter: &Filter,
    limit: usize,
) -> sqlx::Result<Vec<i64>> {
    let mut tx = pool.begin().await?;
    let indexed: i64 = match query.lookup() {
        // nothing is read from the index: every message is "after the cursor"
        Lookup::Scan => 0,
        Lookup::Gram | Lookup::Trigram => {
            sqlx::query_scalar("select last_message_id from search_cursor where id = 1")
                .fetch_one(&mut *tx)
                .await?
        }
    };
    let before = filter.before.unwrap_or(i64::MAX);
    let mut found = Vec::new();

    // 1. The messages the index has not reached yet.
    if before > indexed + 1 {
        let mut q = QueryBuilder::<Sqlite>::new(
            "select m.id, m.type, m.content from messages m \
             cross join conversations c on c.id = m.conversation_id where m.id > ",
        );
        q.push_bind(indexed).push(" and m.id < ").push_bind(before);
        push_filters(&mut q, filter);
        q.push(" order by m.id desc");
        let mut rows = q.build().fetch(&mut *tx);
        while let Some(row) = rows.try_next().await? {
            let id: i64 = row.try_get(0)?;
            let kind: String = row.try_get(1)?;
            let json: String = row.try_get(2)?;
            let Some(kind) = MessageType::parse(&kind) else {
                continue;
            };
            if query.matches(&read_content(id, kind, &json)) {
                found.push(id);
                if found.len() == limit {
                    break;
                }
            }
        }
    }

    // 2. The index, for the messages up to the cursor.
    let table = match query.lookup() {
        Lookup::Trigram => "search_trigrams",
        Lookup::Gram => "search_grams",
        Lookup::Scan => return Ok(found),
    };
    let below = indexed.min(before - 1);
    if found.len() < limit && below > 0 {
        let mut q = QueryBuilder::<Sqlite>::new(format!(
            "select m.id from {table} cross join messages m on m.id = {table}.rowid \
             cross join conversations c on c.id = m.conversation_id where {table} match "
        ));
        q.push_bind(query.fts())
            .push(format!(" and {table}.rowid <= "))
            .push_bind(below);
        push_filters(&mut q, filter);
        q.push(format!(" order by {table}.rowid desc limit "))
            .push_bind((limit - found.len()) as i64);
        let ids: Vec<i64> = q.build_query_scalar().fetch_all(&mut *tx).await?;
        found.extend(ids);
    }
    tx.commit().await?;
    Ok(found)
}

/// The index's size on disk, in bytes: the pages of its FTS5 tables' shadow tables (from
/// `dbstat`, when SQLite has it; None otherwise).
pub async fn index_bytes(pool: &SqlitePool) -> sqlx::Result<Option<i64>> {
    let size = sqlx::query_scalar(
        "select sum(pgsize) from dbstat where name like 'search_trigrams%' or name like 'search_grams%'",
    )
    .fetch_one(pool)
    .await;
    match size {
        Ok(size) => Ok(size),
        Err(sqlx::Error::Database(_)) => Ok(None),
        Err(e) => Err(e),
    }
}
