//! Channels: the WeChat accounts kefu serves. Secrets arrive here already sealed
//! (`crate::secrets`) and leave sealed; only the running registry (`crate::channels`) opens
//! them.

use sqlx::{SqliteConnection, SqlitePool};

use crate::domain::Millis;
use crate::domain::channel::{Channel, ChannelKind, ChannelName, DataFormat};

/// A channel as stored, secrets sealed.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ChannelRow {
    pub id: i64,
    pub name: String,
    pub kind: ChannelKind,
    pub appid: String,
    pub token_sealed: Option<Vec<u8>>,
    pub aes_key_sealed: Option<Vec<u8>>,
    pub secret_sealed: Option<Vec<u8>>,
    pub format: Option<DataFormat>,
    pub display_name: String,
    pub enabled: bool,
    pub created_at: Millis,
    pub updated_at: Millis,
}

impl ChannelRow {
    /// The channel without its secrets. A name the store holds was checked when it was saved;
    /// one that no longer parses (edited by hand) is a decode error, not a guess.
    pub fn channel(&self) -> Result<Channel, sqlx::Error> {
        let name = ChannelName::parse(&self.name).ok_or_else(|| {
            sqlx::Error::Decode(format!("{:?} is not a channel name", self.name).into())
        })?;
        Ok(Channel {
            id: self.id,
            name,
            kind: self.kind,
            appid: self.appid.clone(),
            display_name: self.display_name.clone(),
            format: self.format,
            enabled: self.enabled,
            token_set: self.token_sealed.is_some(),
            aes_key_set: self.aes_key_sealed.is_some(),
            secret_set: self.secret_sealed.is_some(),
            created_at: self.created_at,
            updated_at: self.updated_at,
        })
    }
}

const SELECT: &str = "select id, name, kind, appid, token_sealed, aes_key_sealed, secret_sealed, \
                      format, display_name, enabled, created_at, updated_at from channels";

#[derive(Debug, thiserror::Error)]
pub enum SaveChannelError {
    #[error("a channel named {0:?} already exists")]
    Taken(String),
    #[error(transparent)]
    Db(#[from] sqlx::Error),
}

/// Every channel, in the order they were added (from the pool or inside a transaction).
pub async fn list<'e>(db: impl sqlx::SqliteExecutor<'e>) -> sqlx::Result<Vec<ChannelRow>> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!("{SELECT} order by id")))
        .fetch_all(db)
        .await
}

pub async fn by_name_in(
    conn: &mut SqliteConnection,
    name: &str,
) -> sqlx::Result<Option<ChannelRow>> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!("{SELECT} where name = $1")))
        .bind(name)
        .fetch_optional(conn)
        .await
}

pub async fn by_id_in(conn: &mut SqliteConnection, id: i64) -> sqlx::Result<Option<ChannelRow>> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!("{SELECT} where id = $1")))
        .bind(id)
        .fetch_optional(conn)
        .await
}

/// What tells a running kefu that the channels changed (from another process, such as
/// `kefu channel disable`): every change moves `updated_at`, and adding one moves the count.
pub async fn version(pool: &SqlitePool) -> sqlx::Result<(i64, Millis)> {
    sqlx::query_as("select count(*), coalesce(max(updated_at), 0) from channels")
        .fetch_one(pool)
        .await
}

fn unique(e: sqlx::Error, name: &str) -> SaveChannelError {
    if super::is_unique_violation(&e) {
        SaveChannelError::Taken(name.to_owned())
    } else {
        SaveChannelError::Db(e)
    }
}

/// Inserts a channel; `row.id` is ignored. Returns the new id.
pub async fn insert(
    conn: &mut SqliteConnection,
    row: &ChannelRow,
) -> Result<i64, SaveChannelError> {
    sqlx::query_scalar(
        r"insert into channels (name, kind, appid, token_sealed, aes_key_sealed, secret_sealed,
                                format, display_name, enabled, created_at, updated_at)
          values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)
          returning id",
    )
    .bind(&row.name)
    .bind(row.kind)
    .bind(&row.appid)
    .bind(&row.token_sealed)
    .bind(&row.aes_key_sealed)
    .bind(&row.secret_sealed)
    .bind(row.format)
    .bind(&row.display_name)
    .bind(row.enabled)
    .bind(row.created_at)
    .bind(row.updated_at)
    .fetch_one(conn)
    .await
    .map_err(|e| unique(e, &row.name))
}

/// Writes every column of `row` to the channel `row.id`.
pub async fn update(conn: &mut SqliteConnection, row: &ChannelRow) -> Result<(), SaveChannelError> {
    sqlx::query(
        r"update channels
             set name = $2, kind = $3, appid = $4, token_sealed = $5, aes_key_sealed = $6,
                 secret_sealed = $7, format = $8, display_name = $9, enabled = $10,
                 updated_at = $11
           where id = $1",
    )
    .bind(row.id)
    .bind(&row.name)
    .bind(row.kind)
    .bind(&row.appid)
    .bind(&row.token_sealed)
    .bind(&row.aes_key_sealed)
    .bind(&row.secret_sealed)
    .bind(row.format)
    .bind(&row.display_name)
    .bind(row.enabled)
    .bind(row.updated_at)
    .execute(conn)
    .await
    .map(|_| ())
    .map_err(|e| unique(e, &row.name))
}

/// The `default` channel shows what the `KEFU_WECHAT_*` variables say (its AppID and format),
/// so that lists and the console agree with the webhook. Changes nothing when they match.
pub async fn show_environment(
    pool: &SqlitePool,
    appid: &str,
    format: DataFormat,
    now: Millis,
) -> sqlx::Result<()> {
    sqlx::query(
        r"update channels set appid = $1, format = $2, updated_at = $3
           where id = 1 and (appid is not $1 or format is not $2)",
    )
    .bind(appid)
    .bind(format)
    .bind(now)
    .execute(pool)
    .await
    .map(|_| ())
}
