//! Labels: the names and colours admins define, and which conversations carry them. A name
//! is unique whatever its letter case (`name_key`, folded by the caller).

use sqlx::{QueryBuilder, Sqlite, SqliteConnection};

use super::Store;
use super::read::Sql;
use crate::domain::Millis;

#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct LabelRow {
    pub id: i64,
    pub name: String,
    pub color: String,
}

#[derive(Debug, thiserror::Error)]
pub enum LabelError {
    /// another label has this name, whatever the letter case
    #[error("the label name {0:?} is already taken")]
    Duplicate(String),
    #[error(transparent)]
    Db(#[from] sqlx::Error),
}

/// Every label, by name.
pub async fn list(store: &Store) -> sqlx::Result<Vec<LabelRow>> {
    store.read(list_on).await
}

/// `list`, on a read connection (`Store::read`).
pub fn list_on(conn: &rusqlite::Connection) -> rusqlite::Result<Vec<LabelRow>> {
    conn.prepare_cached("select id, name, color from labels order by name_key, id")?
        .query_map([], LabelRow::read)?
        .collect()
}

impl LabelRow {
    /// A row of (id, name, color) from `first` on.
    fn read_from(r: &rusqlite::Row<'_>, first: usize) -> rusqlite::Result<LabelRow> {
        Ok(LabelRow {
            id: r.get(first)?,
            name: r.get(first + 1)?,
            color: r.get(first + 2)?,
        })
    }

    fn read(r: &rusqlite::Row<'_>) -> rusqlite::Result<LabelRow> {
        LabelRow::read_from(r, 0)
    }
}

/// Adds a label; `name_key` is its name folded to lower case.
pub async fn create(
    conn: &mut SqliteConnection,
    name: &str,
    name_key: &str,
    color: &str,
    now: Millis,
) -> Result<LabelRow, LabelError> {
    sqlx::query_as(
        r"insert into labels (name, name_key, color, created_at) values ($1, $2, $3, $4)
       returning id, name, color",
    )
    .bind(name)
    .bind(name_key)
    .bind(color)
    .bind(now)
    .fetch_one(&mut *conn)
    .await
    .map_err(|e| {
        // the only unique constraint of the table is labels_name_key
        if super::is_unique_violation(&e) {
            LabelError::Duplicate(name.to_owned())
        } else {
            LabelError::Db(e)
        }
    })
}

/// Deletes a label and takes it off every conversation; the label as it was, or None when
/// there is no such label.
pub async fn delete(conn: &mut SqliteConnection, id: i64) -> sqlx::Result<Option<LabelRow>> {
    sqlx::query("delete from conversation_labels where label_id = $1")
        .bind(id)
        .execute(&mut *conn)
        .await?;
    sqlx::query_as("delete from labels where id = $1 returning id, name, color")
        .bind(id)
        .fetch_optional(&mut *conn)
        .await
}

/// The label whose folded name is `name_key`, if any.
pub async fn by_key<'e>(
    db: impl sqlx::SqliteExecutor<'e>,
    name_key: &str,
) -> sqlx::Result<Option<LabelRow>> {
    sqlx::query_as("select id, name, color from labels where name_key = $1")
        .bind(name_key)
        .fetch_optional(db)
        .await
}

/// Replaces the labels of a conversation with `label_ids` (no duplicates).
pub async fn set_for_conversation(
    conn: &mut SqliteConnection,
    conversation_id: i64,
    label_ids: &[i64],
) -> sqlx::Result<()> {
    sqlx::query("delete from conversation_labels where conversation_id = $1")
        .bind(conversation_id)
        .execute(&mut *conn)
        .await?;
    if label_ids.is_empty() {
        return Ok(());
    }
    let mut q: QueryBuilder<Sqlite> =
        QueryBuilder::new("insert into conversation_labels (conversation_id, label_id) ");
    q.push_values(label_ids, |mut row, id| {
        row.push_bind(conversation_id).push_bind(*id);
    });
    q.build().execute(&mut *conn).await?;
    Ok(())
}

/// The labels of several conversations: `(`, their ids, then `BY_NAME`.
const OF_CONVERSATIONS: &str = r"select cl.conversation_id, l.id, l.name, l.color
  from conversation_labels cl
  join labels l on l.id = cl.label_id
 where cl.conversation_id in (";
const BY_NAME: &str = ") order by l.name_key, l.id";

/// The label names of several conversations, as (conversation, name), by name.
pub async fn names_of(store: &Store, conversation_ids: &[i64]) -> sqlx::Result<Vec<(i64, String)>> {
    let labels = of_conversations(store, conversation_ids).await?;
    Ok(labels.into_iter().map(|(c, l)| (c, l.name)).collect())
}

/// `names_of`, inside a transaction (as that transaction sees them).
pub async fn names_in<'e>(
    db: impl sqlx::SqliteExecutor<'e>,
    conversation_ids: &[i64],
) -> sqlx::Result<Vec<(i64, String)>> {
    if conversation_ids.is_empty() {
        return Ok(Vec::new());
    }
    let mut q: QueryBuilder<Sqlite> = QueryBuilder::new(OF_CONVERSATIONS);
    let mut list = q.separated(", ");
    for id in conversation_ids {
        list.push_bind(*id);
    }
    list.push_unseparated(BY_NAME);
    let rows: Vec<(i64, i64, String, String)> = q.build_query_as().fetch_all(db).await?;
    Ok(rows.into_iter().map(|(c, _, name, _)| (c, name)).collect())
}

/// The labels of several conversations, as (conversation, label), by name.
pub async fn of_conversations(
    store: &Store,
    conversation_ids: &[i64],
) -> sqlx::Result<Vec<(i64, LabelRow)>> {
    if conversation_ids.is_empty() {
        return Ok(Vec::new());
    }
    let ids = conversation_ids.to_vec();
    store
        .read(move |conn| of_conversations_on(conn, &ids))
        .await
}

/// `of_conversations`, on a read connection (`Store::read`).
pub fn of_conversations_on(
    conn: &rusqlite::Connection,
    conversation_ids: &[i64],
) -> rusqlite::Result<Vec<(i64, LabelRow)>> {
    if conversation_ids.is_empty() {
        return Ok(Vec::new());
    }
    let mut q = Sql::new(OF_CONVERSATIONS);
    q.bind_list(conversation_ids.iter().copied()).push(BY_NAME);
    q.query(conn, |r| Ok((r.get(0)?, LabelRow::read_from(r, 1)?)))
}

/// Puts one label on a conversation (nothing changes when it has it already); the number of
/// labels it has afterwards.
pub async fn add_to_conversation(
    conn: &mut SqliteConnection,
    conversation_id: i64,
    label_id: i64,
) -> sqlx::Result<i64> {
    sqlx::query(
        r"insert into conversation_labels (conversation_id, label_id) values ($1, $2)
          on conflict do nothing",
    )
    .bind(conversation_id)
    .bind(label_id)
    .execute(&mut *conn)
    .await?;
    sqlx::query_scalar("select count(*) from conversation_labels where conversation_id = $1")
        .bind(conversation_id)
        .fetch_one(&mut *conn)
        .await
}
