//! Labels: the names and colours admins define, and which conversations carry them. A name
//! is unique whatever its letter case (`name_key`, folded by the caller).

use sqlx::{QueryBuilder, Sqlite, SqliteConnection, SqlitePool};

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
pub async fn list(pool: &SqlitePool) -> sqlx::Result<Vec<LabelRow>> {
    sqlx::query_as("select id, name, color from labels order by name_key, id")
        .fetch_all(pool)
        .await
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

/// The label names of several conversations, as (conversation, name), by name.
pub async fn names_of(
    db: impl sqlx::SqliteExecutor<'_>,
    conversation_ids: &[i64],
) -> sqlx::Result<Vec<(i64, String)>> {
    let labels = of_conversations(db, conversation_ids).await?;
    Ok(labels.into_iter().map(|(c, l)| (c, l.name)).collect())
}

/// The labels of several conversations, as (conversation, label), by name.
pub async fn of_conversations(
    db: impl sqlx::SqliteExecutor<'_>,
    conversation_ids: &[i64],
) -> sqlx::Result<Vec<(i64, LabelRow)>> {
    if conversation_ids.is_empty() {
        return Ok(Vec::new());
    }
    let mut q: QueryBuilder<Sqlite> = QueryBuilder::new(
        r"select cl.conversation_id, l.id, l.name, l.color
            from conversation_labels cl
            join labels l on l.id = cl.label_id
           where cl.conversation_id in (",
    );
    let mut list = q.separated(", ");
    for id in conversation_ids {
        list.push_bind(*id);
    }
    list.push_unseparated(") order by l.name_key, l.id");
    let rows: Vec<(i64, i64, String, String)> = q.build_query_as().fetch_all(db).await?;
    Ok(rows
        .into_iter()
        .map(|(c, id, name, color)| (c, LabelRow { id, name, color }))
        .collect())
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
