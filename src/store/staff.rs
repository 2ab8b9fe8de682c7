//! Staff accounts and their API tokens. Passwords arrive here already hashed (argon2id, in
//! `crate::auth`); tokens arrive as their sha256.

use sqlx::{SqliteConnection, SqlitePool};

use rusqlite::OptionalExtension;

use super::Store;

use crate::domain::{Locale, Millis, Role};

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct StaffRow {
    pub id: i64,
    pub username: String,
    pub display_name: String,
    pub role: Role,
    pub password_hash: String,
    pub disabled: bool,
    pub created_at: Millis,
    /// the interface language the staff member chose; None follows the browser
    pub locale: Option<Locale>,
    /// the channels an agent is limited to, as "1,3"; None: every channel
    pub channel_ids: Option<String>,
}

const SELECT: &str = "select id, username, display_name, role, password_hash, disabled, created_at, locale, channel_ids from staff_users";

impl StaffRow {
    /// A row of `SELECT`, column by column in its order.
    fn read(r: &rusqlite::Row<'_>) -> rusqlite::Result<StaffRow> {
        StaffRow::read_from(r, 0)
    }

    /// `SELECT`'s columns, in its order, from column `first` on.
    pub(super) fn read_from(r: &rusqlite::Row<'_>, first: usize) -> rusqlite::Result<StaffRow> {
        Ok(StaffRow {
            id: r.get(first)?,
            username: r.get(first + 1)?,
            display_name: r.get(first + 2)?,
            role: r.get(first + 3)?,
            password_hash: r.get(first + 4)?,
            disabled: r.get(first + 5)?,
            created_at: r.get(first + 6)?,
            locale: r.get(first + 7)?,
            channel_ids: r.get(first + 8)?,
        })
    }
}

#[derive(Debug, thiserror::Error)]
pub enum CreateUserError {
    #[error("a staff account named {0:?} already exists")]
    Taken(String),
    #[error(transparent)]
    Db(#[from] sqlx::Error),
}

pub async fn create(
    conn: &mut SqliteConnection,
    username: &str,
    display_name: &str,
    role: Role,
    password_hash: &str,
    now: Millis,
) -> Result<i64, CreateUserError> {
    sqlx::query_scalar(
        r"insert into staff_users (username, display_name, role, password_hash, disabled, created_at)
          values ($1, $2, $3, $4, 0, $5)
          returning id",
    )
    .bind(username)
    .bind(display_name)
    .bind(role)
    .bind(password_hash)
    .bind(now)
    .fetch_one(conn)
    .await
    .map_err(|e| {
        if super::is_unique_violation(&e) {
            CreateUserError::Taken(username.to_owned())
        } else {
            CreateUserError::Db(e)
        }
    })
}

pub async fn count(pool: &SqlitePool) -> sqlx::Result<i64> {
    sqlx::query_scalar("select count(*) from staff_users")
        .fetch_one(pool)
        .await
}

pub async fn list(store: &Store) -> sqlx::Result<Vec<StaffRow>> {
    store.read(list_on).await
}

/// `list`, on a read connection (`Store::read`).
pub fn list_on(conn: &rusqlite::Connection) -> rusqlite::Result<Vec<StaffRow>> {
    conn.prepare_cached(&format!("{SELECT} order by id"))?
        .query_map([], StaffRow::read)?
        .collect()
}

pub async fn by_username(pool: &SqlitePool, username: &str) -> sqlx::Result<Option<StaffRow>> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!("{SELECT} where username = $1")))
        .bind(username)
        .fetch_optional(pool)
        .await
}

pub async fn by_id(pool: &SqlitePool, id: i64) -> sqlx::Result<Option<StaffRow>> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!("{SELECT} where id = $1")))
        .bind(id)
        .fetch_optional(pool)
        .await
}

pub async fn set_disabled(
    conn: &mut SqliteConnection,
    id: i64,
    disabled: bool,
) -> sqlx::Result<()> {
    sqlx::query("update staff_users set disabled = $1 where id = $2")
        .bind(disabled)
        .bind(id)
        .execute(conn)
        .await
        .map(|_| ())
}

pub async fn set_password(
    conn: &mut SqliteConnection,
    id: i64,
    password_hash: &str,
) -> sqlx::Result<()> {
    sqlx::query("update staff_users set password_hash = $1 where id = $2")
        .bind(password_hash)
        .bind(id)
        .execute(conn)
        .await
        .map(|_| ())
}

pub async fn create_token(
    conn: &mut SqliteConnection,
    user_id: i64,
    label: &str,
    token_hash: &str,
    now: Millis,
) -> sqlx::Result<i64> {
    sqlx::query_scalar(
        r"insert into api_tokens (user_id, label, token_hash, created_at)
          values ($1, $2, $3, $4)
          returning id",
    )
    .bind(user_id)
    .bind(label)
    .bind(token_hash)
    .bind(now)
    .fetch_one(conn)
    .await
}

/// The enabled staff user holding the token with this hash. Marks the token used, at most
/// once a minute so that API reads do not turn into a write each.
pub async fn by_token_hash(
    store: &Store,
    token_hash: &str,
    now: Millis,
) -> sqlx::Result<Option<StaffRow>> {
    let token_hash = token_hash.to_owned();
    let found = store
        .read(move |conn| {
            conn.prepare_cached(
                r"select t.id, t.last_used_at, s.id, s.username, s.display_name, s.role, s.password_hash,
                         s.disabled, s.created_at, s.locale, s.channel_ids
                    from api_tokens t
                    join staff_users s on s.id = t.user_id
                   where t.token_hash = $1 and s.disabled = 0",
            )?
            .query_row([token_hash], |r| {
                Ok((
                    r.get::<_, i64>(0)?,
                    r.get::<_, Option<Millis>>(1)?,
                    StaffRow::read_from(r, 2)?,
                ))
            })
            .optional()
        })
        .await?;
    let Some((token_id, last_used, staff)) = found else {
        return Ok(None);
    };
    if last_used.is_none_or(|t| now - t > 60_000) {
        sqlx::query("update api_tokens set last_used_at = $1 where id = $2")
            .bind(now)
            .bind(token_id)
            .execute(store.pool())
            .await?;
    }
    Ok(Some(staff))
}

/// The interface language a staff member chose: `zh`, `en`, or None to follow the browser.
pub async fn set_locale(
    conn: &mut SqliteConnection,
    id: i64,
    locale: Option<Locale>,
) -> sqlx::Result<()> {
    sqlx::query("update staff_users set locale = $1 where id = $2")
        .bind(locale)
        .bind(id)
        .execute(conn)
        .await
        .map(|_| ())
}

/// Makes a staff member an admin or an agent.
pub async fn set_role(conn: &mut SqliteConnection, id: i64, role: Role) -> sqlx::Result<()> {
    sqlx::query("update staff_users set role = $1 where id = $2")
        .bind(role)
        .bind(id)
        .execute(conn)
        .await
        .map(|_| ())
}

/// How many enabled admins there are besides `except`: read inside the write transaction
/// that demotes or disables `except`, so two admins cannot each remove the other.
pub async fn count_other_enabled_admins(
    conn: &mut SqliteConnection,
    except: i64,
) -> sqlx::Result<i64> {
    sqlx::query_scalar(
        "select count(*) from staff_users where role = $1 and disabled = 0 and id <> $2",
    )
    .bind(Role::Admin)
    .bind(except)
    .fetch_one(conn)
    .await
}

/// A staff account read inside a transaction (so what is checked is what is changed).
pub async fn by_id_in(conn: &mut SqliteConnection, id: i64) -> sqlx::Result<Option<StaffRow>> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!("{SELECT} where id = $1")))
        .bind(id)
        .fetch_optional(conn)
        .await
}

/// A staff account by user name, read inside a transaction.
pub async fn by_username_in(
    conn: &mut SqliteConnection,
    username: &str,
) -> sqlx::Result<Option<StaffRow>> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!("{SELECT} where username = $1")))
        .bind(username)
        .fetch_optional(conn)
        .await
}

/// Limits an agent to some channels (None: every channel).
pub async fn set_channels(
    conn: &mut SqliteConnection,
    id: i64,
    channels: Option<&[i64]>,
) -> sqlx::Result<bool> {
    let text = channels.map(|ids| ids.iter().map(i64::to_string).collect::<Vec<_>>().join(","));
    let done = sqlx::query("update staff_users set channel_ids = $1 where id = $2")
        .bind(text)
        .bind(id)
        .execute(conn)
        .await?;
    Ok(done.rows_affected() == 1)
}
