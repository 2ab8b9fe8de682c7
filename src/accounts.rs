//! Staff accounts: argon2id password hashing, API tokens (random, stored as sha256), and the
//! first-start `admin`. Hashing is slow on purpose, so it runs on the blocking pool.

use argon2::password_hash::{PasswordHasher, PasswordVerifier};
use argon2::{Argon2, PasswordHash};
use rand::Rng;
use sha2::{Digest, Sha256};

use crate::domain::{Role, now_millis};
use crate::store::audit::{self, Actor};
use crate::store::{Store, staff};

pub const MIN_PASSWORD_CHARS: usize = 8;
pub const MAX_PASSWORD_BYTES: usize = 1024;

#[derive(Debug, thiserror::Error)]
pub enum AccountError {
    #[error("a password must have at least {MIN_PASSWORD_CHARS} characters")]
    PasswordTooShort,
    #[error("a password must be at most {MAX_PASSWORD_BYTES} bytes")]
    PasswordTooLong,
    #[error("a user name must be 1 to 64 letters, digits, dots, dashes or underscores (got {0:?})")]
    BadUsername(String),
    #[error("there is no staff account named {0:?}")]
    NoSuchUser(String),
    #[error("the staff account {0:?} is disabled")]
    Disabled(String),
    #[error(transparent)]
    Create(#[from] staff::CreateUserError),
    #[error(transparent)]
    Db(#[from] sqlx::Error),
    #[error("password hashing failed: {0}")]
    Hash(String),
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

/// Creates a staff account and audits it, in one transaction.
pub async fn add_user(
    store: &Store,
    actor: &Actor,
    username: &str,
    display_name: &str,
    role: Role,
    password: &str,
) -> Result<i64, AccountError> {
    check_username(username)?;
    check_password(password)?;
    let hash = hash_password(password).await?;
    let now = now_millis();
    let mut tx = store.begin_write().await?;
    let id = staff::create(&mut tx, username, display_name, role, &hash, now).await?;
    audit::record(
        &mut tx,
        actor,
        "user.add",
        username,
        Some(role.as_str()),
        now,
    )
    .await?;
    tx.commit().await?;
    Ok(id)
}

pub async fn set_password(
    store: &Store,
    actor: &Actor,
    username: &str,
    password: &str,
) -> Result<(), AccountError> {
    check_password(password)?;
    let user = staff::by_username(store.pool(), username)
        .await?
        .ok_or_else(|| AccountError::NoSuchUser(username.to_owned()))?;
    let hash = hash_password(password).await?;
    let now = now_millis();
    let mut tx = store.begin_write().await?;
    staff::set_password(&mut tx, user.id, &hash).await?;
    audit::record(&mut tx, actor, "user.passwd", username, None, now).await?;
    tx.commit().await?;
    Ok(())
}

pub async fn disable_user(
    store: &Store,
    actor: &Actor,
    username: &str,
) -> Result<(), AccountError> {
    let user = staff::by_username(store.pool(), username)
        .await?
        .ok_or_else(|| AccountError::NoSuchUser(username.to_owned()))?;
    let now = now_millis();
    let mut tx = store.begin_write().await?;
    staff::set_disabled(&mut tx, user.id, true).await?;
    audit::record(&mut tx, actor, "user.disable", username, None, now).await?;
    tx.commit().await?;
    Ok(())
}

/// Creates an API token for `username` and returns it; only its hash is kept.
pub async fn create_token(
    store: &Store,
    actor: &Actor,
    username: &str,
    label: &str,
) -> Result<String, AccountError> {
    let user = staff::by_username(store.pool(), username)
        .await?
        .ok_or_else(|| AccountError::NoSuchUser(username.to_owned()))?;
    if user.disabled {
        return Err(AccountError::Disabled(username.to_owned()));
    }
    let token = format!("kefu_{}", random_secret(32));
    let now = now_millis();
    let mut tx = store.begin_write().await?;
    staff::create_token(&mut tx, user.id, label, &token_hash(&token), now).await?;
    audit::record(&mut tx, actor, "token.create", username, Some(label), now).await?;
    tx.commit().await?;
    Ok(token)
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

/// On a database with no staff account, creates `admin`.
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
    match add_user(
        store,
        &Actor::system(),
        "admin",
        "Admin",
        Role::Admin,
        &password,
    )
    .await
    {
        Ok(_) => Ok(outcome),
        // two processes starting at once: the other one created it
        Err(AccountError::Create(staff::CreateUserError::Taken(_))) => Ok(FirstAdmin::Existing),
        Err(e) => Err(e),
    }
}
