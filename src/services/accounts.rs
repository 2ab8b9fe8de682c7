//! Staff accounts: adding one, its role, disabling and enabling it, its password (reset by an
//! admin or the operator, or changed by its owner), its interface language, its API tokens
//! (created and revoked), and the first `admin` of an empty database. The admin console, the settings page and
//! `kefu user …` all come here, so the same rules hold and the audit log names the same
//! action the same way whoever made it (`action`):
//!
//! - nobody disables or demotes the last enabled admin: no one would be left to run the
//!   console. Checked inside the transaction that makes the change, so two admins cannot each
//!   remove the other;
//! - a staff member does not disable or demote themself (from the console);
//! - a disabled account's sessions end at once (its API tokens stop too: they are honoured
//!   only for enabled accounts), and so do an account's sessions when its password changes,
//!   save the one the owner changed it from.
//!
//! Passwords are hashed with argon2id, slowly on purpose, so on the blocking pool; API tokens
//! and session tokens are random and stored as their sha256.

use argon2::password_hash::{PasswordHasher, PasswordVerifier};
use argon2::{Argon2, PasswordHash};
use rand::Rng;
use sha2::{Digest, Sha256};

use super::{Caller, Staff};
use crate::domain::{Locale, Role, now_millis};
use crate::error::AppError;
use crate::i18n::Lang;
use crate::store::audit::{self, Actor};
use crate::store::{Store, api_tokens, sessions, staff};

pub const MIN_PASSWORD_CHARS: usize = 8;
pub const MAX_PASSWORD_BYTES: usize = 1024;
/// Longest display name, in characters.
pub const MAX_DISPLAY_NAME: usize = 64;

/// The audit log's names for account changes: one per action, whoever makes it.
pub mod action {
    pub const ADD: &str = "staff.add";
    pub const ROLE: &str = "staff.role";
    pub const DISABLE: &str = "staff.disable";
    pub const ENABLE: &str = "staff.enable";
    pub const PASSWD: &str = "staff.passwd";
    pub const LOCALE: &str = "staff.locale";
    pub const CHANNELS: &str = "staff.channels";
    pub const SIGN_IN: &str = "staff.sign_in";
    /// kefu made the first admin of an empty database (not anyone's `staff.add`)
    pub const FIRST_ADMIN: &str = "staff.first_admin";
    pub const TOKEN_CREATE: &str = "token.create";
    pub const TOKEN_REVOKE: &str = "token.revoke";
}

/// An action as the audit log shows it today. Before one set of rules served the console and
/// the command line, `kefu user …` recorded its changes as `user.add`, `user.passwd` and
/// `user.disable` (and the first admin as a `user.add` by kefu); those entries stay as they
/// were written and are listed under today's names.
pub fn current_action(recorded: &str) -> &str {
    match recorded {
        "user.add" => action::ADD,
        "user.passwd" => action::PASSWD,
        "user.disable" => action::DISABLE,
        other => other,
    }
}

#[derive(Debug, thiserror::Error)]
pub enum AccountError {
    #[error("a password must have at least {MIN_PASSWORD_CHARS} characters")]
    PasswordTooShort,
    #[error("a password must be at most {MAX_PASSWORD_BYTES} bytes")]
    PasswordTooLong,
    #[error("a user name must be 1 to 64 letters, digits, dots, dashes or underscores (got {0:?})")]
    BadUsername(String),
    #[error(
        "a display name must be at most {MAX_DISPLAY_NAME} characters, without control characters"
    )]
    BadDisplayName,
    #[error("a staff account named {0:?} already exists")]
    Taken(String),
    #[error("choose at least one existing channel, or every channel")]
    BadChannels,
    #[error("there is no staff account named {0:?}")]
    NoSuchUser(String),
    #[error("there is no staff account {0}")]
    NoSuchId(i64),
    #[error("the staff account {0:?} is disabled")]
    Disabled(String),
    #[error("there is no API token with id {0} (kefu token list NAME shows them)")]
    NoSuchToken(i64),
    #[error(
        "{0:?} is the last enabled admin and cannot be disabled or made an agent, or nobody could run the admin console; add another admin first (kefu user add NAME --role admin --password-stdin)"
    )]
    LastAdmin(String),
    #[error("you cannot disable your own account")]
    DisableYourself,
    #[error("you cannot take away your own admin role")]
    DemoteYourself,
    #[error("the current password is wrong")]
    WrongPassword,
    #[error(transparent)]
    Db(#[from] sqlx::Error),
    #[error("password hashing failed: {0}")]
    Hash(String),
}

impl From<staff::CreateUserError> for AccountError {
    fn from(e: staff::CreateUserError) -> Self {
        match e {
            staff::CreateUserError::Taken(name) => AccountError::Taken(name),
            staff::CreateUserError::Db(e) => AccountError::Db(e),
        }
    }
}

impl From<AccountError> for AppError {
    fn from(e: AccountError) -> AppError {
        match e {
            AccountError::NoSuchUser(_)
            | AccountError::NoSuchId(_)
            | AccountError::NoSuchToken(_) => AppError::NotFound(e.to_string()),
            AccountError::Taken(_) => AppError::Conflict(e.to_string()),
            AccountError::Db(e) => e.into(),
            AccountError::Hash(_) => AppError::Internal(e.into()),
            _ => AppError::Invalid(e.to_string()),
        }
    }
}

/// Which account: the console names it by id, the command line by user name.
#[derive(Debug, Clone, Copy)]
pub enum AccountRef<'a> {
    Id(i64),
    Name(&'a str),
}

/// A new staff account as submitted.
#[derive(Debug, Clone, Copy)]
pub struct NewAccount<'a> {
    pub username: &'a str,
    /// empty: the user name
    pub display_name: &'a str,
    pub role: Role,
    pub password: &'a str,
}

pub fn check_username(name: &str) -> Result<(), AccountError> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_'));
    if ok {
        Ok(())
    } else {
        Err(AccountError::BadUsername(name.to_owned()))
    }
}

pub fn check_password(password: &str) -> Result<(), AccountError> {
    if password.len() > MAX_PASSWORD_BYTES {
        return Err(AccountError::PasswordTooLong);
    }
    if password.chars().count() < MIN_PASSWORD_CHARS {
        return Err(AccountError::PasswordTooShort);
    }
    Ok(())
}

fn check_display_name(name: &str) -> Result<(), AccountError> {
    if name.chars().count() > MAX_DISPLAY_NAME || name.chars().any(char::is_control) {
        Err(AccountError::BadDisplayName)
    } else {
        Ok(())
    }
}

/// argon2id with the crate's recommended parameters, as a PHC string.
pub async fn hash_password(password: &str) -> Result<String, AccountError> {
    let password = password.to_owned();
    tokio::task::spawn_blocking(move || {
        Argon2::default()
            .hash_password(password.as_bytes())
            .map(|h| h.to_string())
            .map_err(|e| AccountError::Hash(e.to_string()))
    })
    .await
    .map_err(|e| AccountError::Hash(e.to_string()))?
}

/// Whether `password` matches the stored PHC hash; a malformed hash never matches.
pub async fn verify_password(password: &str, hash: &str) -> bool {
    let password = password.to_owned();
    let hash = hash.to_owned();
    tokio::task::spawn_blocking(move || {
        PasswordHash::new(&hash).is_ok_and(|parsed| {
            Argon2::default()
                .verify_password(password.as_bytes(), &parsed)
                .is_ok()
        })
    })
    .await
    .unwrap_or(false)
}

/// A new random secret of `bytes` random bytes, URL-safe.
pub fn random_secret(bytes: usize) -> String {
    use base64::Engine;
    let mut buf = vec![0u8; bytes];
    rand::rng().fill(&mut buf[..]);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(buf)
}

pub fn token_hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// Creates a staff account and audits it (`staff.add`), in one transaction.
pub async fn add(store: &Store, by: Caller<'_>, new: NewAccount<'_>) -> Result<i64, AccountError> {
    add_as(store, by.actor(), action::ADD, new).await
}

async fn add_as(
    store: &Store,
    actor: Actor,
    what: &str,
    new: NewAccount<'_>,
) -> Result<i64, AccountError> {
    let username = new.username.trim();
    check_username(username)?;
    let display_name = match new.display_name.trim() {
        "" => username,
        name => name,
    };
    check_display_name(display_name)?;
    check_password(new.password)?;
    let hash = hash_password(new.password).await?;
    let now = now_millis();
    let mut tx = store.begin_write().await?;
    let id = staff::create(&mut tx, username, display_name, new.role, &hash, now).await?;
    let detail = format!("{display_name} ({})", new.role.as_str());
    audit::record(&mut tx, &actor, what, username, Some(&detail), now).await?;
    tx.commit().await?;
    Ok(id)
}

/// The account as it stands in `tx` (so what is checked is what is changed).
async fn find(
    tx: &mut sqlx::SqliteConnection,
    account: AccountRef<'_>,
) -> Result<staff::StaffRow, AccountError> {
    match account {
        AccountRef::Id(id) => staff::by_id_in(tx, id)
            .await?
            .ok_or(AccountError::NoSuchId(id)),
        AccountRef::Name(name) => staff::by_username_in(tx, name)
            .await?
            .ok_or_else(|| AccountError::NoSuchUser(name.to_owned())),
    }
}

/// Refuses to take away the last enabled admin. Read in the transaction that makes the
/// change: with `begin immediate`, a second admin's change waits for this one to commit.
async fn keep_an_admin(
    tx: &mut sqlx::SqliteConnection,
    user: &staff::StaffRow,
) -> Result<(), AccountError> {
    if user.role == Role::Admin
        && !user.disabled
        && staff::count_other_enabled_admins(tx, user.id).await? == 0
    {
        return Err(AccountError::LastAdmin(user.username.clone()));
    }
    Ok(())
}

/// Makes an account an admin or an agent (`staff.role`); a role is in force at once. Nobody
/// demotes themself or the last enabled admin.
pub async fn set_role(
    store: &Store,
    by: Caller<'_>,
    account: AccountRef<'_>,
    role: Role,
) -> Result<(), AccountError> {
    let now = now_millis();
    let mut tx = store.begin_write().await?;
    let user = find(&mut tx, account).await?;
    if user.role == role {
        return Ok(());
    }
    if role != Role::Admin {
        if by.staff_id() == Some(user.id) {
            return Err(AccountError::DemoteYourself);
        }
        keep_an_admin(&mut tx, &user).await?;
    }
    staff::set_role(&mut tx, user.id, role).await?;
    let actor = by.actor();
    audit::record(
        &mut tx,
        &actor,
        action::ROLE,
        &user.username,
        Some(role.as_str()),
        now,
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

/// Limits an agent to some channels (`Some`, at least one), or lets them see every channel
/// (`None`) (`staff.channels`). Admins always see every channel: a list kept for an admin
/// applies if they are made an agent. Open dashboards of the account reload with the new
/// channels (`web::ws` checks them with the sign-in).
pub async fn set_channels(
    store: &Store,
    by: Caller<'_>,
    account: AccountRef<'_>,
    channels: Option<&[i64]>,
) -> Result<(), AccountError> {
    let now = now_millis();
    let mut tx = store.begin_write().await?;
    let user = find(&mut tx, account).await?;
    let mut ids: Option<Vec<i64>> = channels.map(<[i64]>::to_vec);
    if let Some(ids) = &mut ids {
        ids.sort_unstable();
        ids.dedup();
        let known: Vec<i64> = crate::store::channels::list(&mut *tx)
            .await?
            .iter()
            .map(|c| c.id)
            .collect();
        if ids.is_empty() || ids.iter().any(|id| !known.contains(id)) {
            return Err(AccountError::BadChannels);
        }
    }
    staff::set_channels(&mut tx, user.id, ids.as_deref()).await?;
    let detail = ids.map_or_else(
        || "every channel".to_owned(),
        |ids| {
            ids.iter()
                .map(|id| format!("channel {id}"))
                .collect::<Vec<_>>()
                .join(", ")
        },
    );
    audit::record(
        &mut tx,
        &by.actor(),
        action::CHANNELS,
        &user.username,
        Some(&detail),
        now,
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

/// Disables an account and ends its sessions at once (`staff.disable`), or enables it again
/// (`staff.enable`). Nobody disables themself or the last enabled admin. Returns how many
/// sessions ended.
pub async fn set_disabled(
    store: &Store,
    by: Caller<'_>,
    account: AccountRef<'_>,
    disabled: bool,
) -> Result<u64, AccountError> {
    let now = now_millis();
    let mut tx = store.begin_write().await?;
    let user = find(&mut tx, account).await?;
    if user.disabled == disabled {
        return Ok(0);
    }
    let (what, ended) = if disabled {
        if by.staff_id() == Some(user.id) {
            return Err(AccountError::DisableYourself);
        }
        keep_an_admin(&mut tx, &user).await?;
        staff::set_disabled(&mut tx, user.id, true).await?;
        let ended = sessions::delete_others(&mut tx, user.id, None).await?;
        (action::DISABLE, Some(ended))
    } else {
        staff::set_disabled(&mut tx, user.id, false).await?;
        (action::ENABLE, None)
    };
    let detail = ended.map(|n| format!("{n} sessions ended"));
    audit::record(
        &mut tx,
        &by.actor(),
        what,
        &user.username,
        detail.as_deref(),
        now,
    )
    .await?;
    tx.commit().await?;
    Ok(ended.unwrap_or(0))
}

/// Sets a new password for an account (an admin's reset, or the operator's `kefu user
/// passwd`) and ends its sessions: whoever knew the old one is signed out. An admin resetting
/// their own keeps `keep_session` (the session token they did it from). Returns how many
/// sessions ended.
pub async fn reset_password(
    store: &Store,
    by: Caller<'_>,
    account: AccountRef<'_>,
    password: &str,
    keep_session: Option<&str>,
) -> Result<u64, AccountError> {
    check_password(password)?;
    let hash = hash_password(password).await?;
    let now = now_millis();
    let mut tx = store.begin_write().await?;
    let user = find(&mut tx, account).await?;
    let keep = keep_session
        .filter(|_| by.staff_id() == Some(user.id))
        .map(token_hash);
    staff::set_password(&mut tx, user.id, &hash).await?;
    let ended = sessions::delete_others(&mut tx, user.id, keep.as_deref()).await?;
    let detail = format!("reset; {ended} sessions ended");
    audit::record(
        &mut tx,
        &by.actor(),
        action::PASSWD,
        &user.username,
        Some(&detail),
        now,
    )
    .await?;
    tx.commit().await?;
    Ok(ended)
}

/// A staff member changes their own password: it needs the current one. Their other
/// sessions end (someone who knew the old password may be signed in elsewhere); `keep_session`,
/// the one they changed it from, stays. Returns how many sessions ended.
pub async fn change_own_password(
    store: &Store,
    me: &Staff,
    current: &str,
    new: &str,
    keep_session: Option<&str>,
) -> Result<u64, AccountError> {
    let user = staff::by_id(store.pool(), me.id)
        .await?
        .ok_or(AccountError::NoSuchId(me.id))?;
    if !verify_password(current, &user.password_hash).await {
        tracing::warn!(staff.username = %user.username, "a password change gave a wrong current password");
        return Err(AccountError::WrongPassword);
    }
    check_password(new)?;
    let hash = hash_password(new).await?;
    let keep = keep_session.map(token_hash);
    let now = now_millis();
    let mut tx = store.begin_write().await?;
    staff::set_password(&mut tx, user.id, &hash).await?;
    let ended = sessions::delete_others(&mut tx, user.id, keep.as_deref()).await?;
    let detail = format!("{ended} other sessions ended");
    audit::record(
        &mut tx,
        &me.actor(),
        action::PASSWD,
        &user.username,
        Some(&detail),
        now,
    )
    .await?;
    tx.commit().await?;
    Ok(ended)
}

/// A staff member's interface language; None follows the browser (`staff.locale`).
pub async fn set_locale(store: &Store, me: &Staff, lang: Option<Lang>) -> Result<(), AccountError> {
    let locale = lang.map(|l| match l {
        Lang::Zh => Locale::Zh,
        Lang::En => Locale::En,
    });
    let now = now_millis();
    let mut tx = store.begin_write().await?;
    staff::set_locale(&mut tx, me.id, locale).await?;
    audit::record(
        &mut tx,
        &me.actor(),
        action::LOCALE,
        &me.username,
        Some(locale.map_or("browser", Locale::as_str)),
        now,
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

/// Creates an API token for an enabled account and returns it (`token.create`); only its
/// hash is kept.
pub async fn create_token(
    store: &Store,
    by: Caller<'_>,
    account: AccountRef<'_>,
    label: &str,
) -> Result<String, AccountError> {
    let token = format!("kefu_{}", random_secret(32));
    let now = now_millis();
    let mut tx = store.begin_write().await?;
    let user = find(&mut tx, account).await?;
    if user.disabled {
        return Err(AccountError::Disabled(user.username));
    }
    staff::create_token(&mut tx, user.id, label, &token_hash(&token), now).await?;
    audit::record(
        &mut tx,
        &by.actor(),
        action::TOKEN_CREATE,
        &user.username,
        Some(label),
        now,
    )
    .await?;
    tx.commit().await?;
    Ok(token)
}

/// Revokes API token `id` at once (`token.revoke`): bearer authentication reads the table on
/// every request, so the next request with it is refused. Returns the user name and the
/// label it had.
pub async fn revoke_token(
    store: &Store,
    by: Caller<'_>,
    id: i64,
) -> Result<(String, String), AccountError> {
    let now = now_millis();
    let mut tx = store.begin_write().await?;
    let (username, label) = api_tokens::revoke(&mut tx, id)
        .await?
        .ok_or(AccountError::NoSuchToken(id))?;
    audit::record(
        &mut tx,
        &by.actor(),
        action::TOKEN_REVOKE,
        &username,
        Some(&label),
        now,
    )
    .await?;
    tx.commit().await?;
    Ok((username, label))
}

/// What the first start did about the `admin` account.
#[derive(Debug, PartialEq, Eq)]
pub enum FirstAdmin {
    /// there were staff accounts already
    Existing,
    /// created with KEFU_ADMIN_PASSWORD
    FromConfig,
    /// created with this random password, to be shown once
    Generated(String),
}

/// On a database with no staff account, creates `admin` (`staff.first_admin`, by kefu).
pub async fn ensure_first_admin(
    store: &Store,
    configured: Option<&str>,
) -> Result<FirstAdmin, AccountError> {
    if staff::count(store.pool()).await? > 0 {
        return Ok(FirstAdmin::Existing);
    }
    let (password, outcome) = match configured {
        Some(p) => (p.to_owned(), FirstAdmin::FromConfig),
        None => {
            let p = random_secret(12);
            (p.clone(), FirstAdmin::Generated(p))
        }
    };
    let admin = NewAccount {
        username: "admin",
        display_name: "Admin",
        role: Role::Admin,
        password: &password,
    };
    match add_as(store, Caller::System.actor(), action::FIRST_ADMIN, admin).await {
        Ok(_) => Ok(outcome),
        // two processes starting at once: the other one created it
        Err(AccountError::Taken(_)) => Ok(FirstAdmin::Existing),
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_command_lines_old_names_are_listed_under_todays() {
        assert_eq!(current_action("user.add"), action::ADD);
        assert_eq!(current_action("user.passwd"), action::PASSWD);
        assert_eq!(current_action("user.disable"), action::DISABLE);
        assert_eq!(current_action("staff.role"), "staff.role");
        assert_eq!(current_action("rule.create"), "rule.create");
    }
}
