//! Channels: adding one, changing it, switching it off and on. The admin console, the JSON
//! API and `kefu channel …` all come here, so the same checks hold and the audit log names
//! the same action the same way whoever made it.
//!
//! Secrets (Token, EncodingAESKey, AppSecret) are sealed before they are stored and never
//! come back out of this module: callers learn only whether each is set.

use crate::config::is_appid;
use crate::domain::channel::{Channel, ChannelKind, ChannelName, DataFormat};
use crate::domain::now_millis;
use crate::error::AppError;
use crate::secrets::{Field, SecretKey};
use crate::store::audit;
use crate::store::channels::{self, ChannelRow, SaveChannelError};
use crate::store::{DbError, Store};
use crate::wechat::crypto::AesKey;

use super::Caller;

/// Longest display name, in characters.
pub const MAX_DISPLAY_NAME: usize = 64;

pub mod action {
    pub const ADD: &str = "channel.add";
    pub const UPDATE: &str = "channel.update";
    pub const DISABLE: &str = "channel.disable";
    pub const ENABLE: &str = "channel.enable";
}

#[derive(Debug, thiserror::Error)]
pub enum ChannelError {
    #[error("a channel name must be 1 to 32 characters of a-z, 0-9 and - (got {0:?})")]
    BadName(String),
    #[error("the AppID must be wx and 16 lowercase hex characters, as WeChat shows it (got {0:?})")]
    BadAppid(String),
    #[error("the Token must be 3 to 32 letters or digits, as WeChat's console allows")]
    BadToken,
    #[error("the EncodingAESKey must be 43 characters of base64 letters and digits")]
    BadAesKey,
    #[error("the AppSecret must be 1 to 128 visible ASCII characters")]
    BadSecret,
    #[error(
        "a display name must be at most {MAX_DISPLAY_NAME} characters, without control characters"
    )]
    BadDisplayName,
    #[error("a channel named {0:?} already exists")]
    Taken(String),
    #[error("there is no channel named {0:?}")]
    NoSuchChannel(String),
    #[error("there is no channel {0}")]
    NoSuchId(i64),
    #[error("the channel default is defined by the KEFU_WECHAT_* variables; change them instead")]
    FromEnvironment,
    #[error("the channel default keeps its name: its webhook is KEFU_WEBHOOK_PATH itself")]
    DefaultName,
    #[error(transparent)]
    Secrets(#[from] crate::secrets::SecretsError),
    #[error(transparent)]
    Db(#[from] DbError),
}

impl From<SaveChannelError> for ChannelError {
    fn from(e: SaveChannelError) -> ChannelError {
        match e {
            SaveChannelError::Taken(name) => ChannelError::Taken(name),
            SaveChannelError::Db(e) => ChannelError::Db(e),
        }
    }
}

impl From<ChannelError> for AppError {
    fn from(e: ChannelError) -> AppError {
        match e {
            ChannelError::NoSuchChannel(_) | ChannelError::NoSuchId(_) => {
                AppError::NotFound(e.to_string())
            }
            ChannelError::Taken(_) | ChannelError::FromEnvironment => {
                AppError::Conflict(e.to_string())
            }
            ChannelError::Db(e) => e.into(),
            ChannelError::Secrets(_) => AppError::Internal(e.into()),
            _ => AppError::Invalid(e.to_string()),
        }
    }
}

/// A channel's settings as given (the CLI's options, the API's body, the console's form).
/// For a change, `None` keeps what is stored; an empty AES key or AppSecret removes it.
#[derive(Debug, Clone, Default)]
pub struct ChannelInput {
    pub name: Option<String>,
    pub kind: Option<ChannelKind>,
    pub appid: Option<String>,
    pub token: Option<String>,
    pub aes_key: Option<String>,
    pub secret: Option<String>,
    /// `Some(None)`: told by each push's first byte
    pub format: Option<Option<DataFormat>>,
    pub display_name: Option<String>,
    pub enabled: Option<bool>,
}

/// What `kefu` must know to apply the rules: its key, and whether the variables define the
/// `default` channel (then it is theirs to change, not the console's).
#[derive(Clone, Copy)]
pub struct Context<'a> {
    pub key: &'a SecretKey,
    pub default_from_environment: bool,
}

fn check_name(name: &str) -> Result<ChannelName, ChannelError> {
    ChannelName::parse(name.trim()).ok_or_else(|| ChannelError::BadName(name.to_owned()))
}

fn check_appid(appid: &str) -> Result<String, ChannelError> {
    let appid = appid.trim();
    if is_appid(appid) {
        Ok(appid.to_owned())
    } else {
        Err(ChannelError::BadAppid(appid.to_owned()))
    }
}

fn check_token(token: &str) -> Result<&str, ChannelError> {
    let token = token.trim();
    if (3..=32).contains(&token.len()) && token.bytes().all(|b| b.is_ascii_alphanumeric()) {
        Ok(token)
    } else {
        Err(ChannelError::BadToken)
    }
}

fn check_aes_key(key: &str) -> Result<&str, ChannelError> {
    let key = key.trim();
    AesKey::from_encoding_key(key).map_err(|_| ChannelError::BadAesKey)?;
    Ok(key)
}

fn check_secret(secret: &str) -> Result<&str, ChannelError> {
    let secret = secret.trim();
    if (1..=128).contains(&secret.len()) && secret.bytes().all(|b| b.is_ascii_graphic()) {
        Ok(secret)
    } else {
        Err(ChannelError::BadSecret)
    }
}

fn check_display_name(name: &str) -> Result<String, ChannelError> {
    let name = name.trim();
    if name.chars().count() <= MAX_DISPLAY_NAME && !name.chars().any(char::is_control) {
        Ok(name.to_owned())
    } else {
        Err(ChannelError::BadDisplayName)
    }
}

/// An optional secret as given: absent or blank is none.
fn sealed_optional(
    key: &SecretKey,
    field: Field,
    value: Option<&str>,
    check: fn(&str) -> Result<&str, ChannelError>,
) -> Result<Option<Vec<u8>>, ChannelError> {
    match value.map(str::trim) {
        None | Some("") => Ok(None),
        Some(v) => Ok(Some(key.seal(field, check(v)?))),
    }
}

/// Adds a channel. Name, kind, AppID and Token are required; the EncodingAESKey (for safe
/// and compatible mode) and the AppSecret (to send) may come later.
pub async fn add(
    store: &Store,
    cx: Context<'_>,
    by: Caller<'_>,
    input: &ChannelInput,
) -> Result<Channel, ChannelError> {
    let name = check_name(input.name.as_deref().unwrap_or_default())?;
    let kind = input.kind.unwrap_or(ChannelKind::MiniProgram);
    let appid = check_appid(input.appid.as_deref().unwrap_or_default())?;
    let token = check_token(input.token.as_deref().unwrap_or_default())?;
    let now = now_millis();
    let mut row = ChannelRow {
        id: 0,
        name: name.as_str().to_owned(),
        kind,
        appid,
        token_sealed: Some(cx.key.seal(Field::Token, token)),
        aes_key_sealed: sealed_optional(
            cx.key,
            Field::AesKey,
            input.aes_key.as_deref(),
            check_aes_key,
        )?,
        secret_sealed: sealed_optional(
            cx.key,
            Field::AppSecret,
            input.secret.as_deref(),
            check_secret,
        )?,
        format: input.format.flatten(),
        display_name: check_display_name(input.display_name.as_deref().unwrap_or_default())?,
        enabled: input.enabled.unwrap_or(true),
        created_at: now,
        updated_at: now,
    };
    let mut tx = store.begin_write().await?;
    row.id = channels::insert(&mut tx, &row).await?;
    let detail = format!("{} {}", kind.as_str(), row.appid);
    audit::record(
        &mut tx,
        &by.actor(),
        action::ADD,
        &row.name,
        Some(&detail),
        now,
    )
    .await?;
    tx.commit().await?;
    Ok(row.channel()?)
}

/// Which channel: the console and the API name it by id, the command line by name.
#[derive(Debug, Clone, Copy)]
pub enum ChannelRef<'a> {
    Id(i64),
    Name(&'a str),
}

async fn find(
    tx: &mut sqlx::SqliteConnection,
    which: ChannelRef<'_>,
) -> Result<ChannelRow, ChannelError> {
    match which {
        ChannelRef::Id(id) => channels::by_id_in(tx, id)
            .await?
            .ok_or(ChannelError::NoSuchId(id)),
        ChannelRef::Name(name) => channels::by_name_in(tx, name)
            .await?
            .ok_or_else(|| ChannelError::NoSuchChannel(name.to_owned())),
    }
}

/// Changes the fields `input` gives, keeping the others. Secrets given are sealed anew; an
/// empty EncodingAESKey or AppSecret removes it (the Token is always required).
pub async fn update(
    store: &Store,
    cx: Context<'_>,
    by: Caller<'_>,
    which: ChannelRef<'_>,
    input: &ChannelInput,
) -> Result<Channel, ChannelError> {
    let now = now_millis();
    let mut tx = store.begin_write().await?;
    let mut row = find(&mut tx, which).await?;
    let is_default = row.id == crate::domain::channel::DEFAULT_CHANNEL_ID;
    let touches_wechat = input.kind.is_some()
        || input.appid.is_some()
        || input.token.is_some()
        || input.aes_key.is_some()
        || input.secret.is_some()
        || input.format.is_some();
    if is_default && cx.default_from_environment && touches_wechat {
        return Err(ChannelError::FromEnvironment);
    }
    let mut changed: Vec<&str> = Vec::new();
    if let Some(name) = &input.name {
        let name = check_name(name)?;
        if name.as_str() != row.name {
            if is_default {
                return Err(ChannelError::DefaultName);
            }
            changed.push("name");
            row.name = name.as_str().to_owned();
        }
    }
    if let Some(kind) = input.kind {
        changed.push("kind");
        row.kind = kind;
    }
    if let Some(appid) = &input.appid {
        changed.push("appid");
        row.appid = check_appid(appid)?;
    }
    if let Some(token) = &input.token {
        changed.push("token");
        row.token_sealed = Some(cx.key.seal(Field::Token, check_token(token)?));
    }
    if input.aes_key.is_some() {
        changed.push("aes_key");
        row.aes_key_sealed = sealed_optional(
            cx.key,
            Field::AesKey,
            input.aes_key.as_deref(),
            check_aes_key,
        )?;
    }
    if input.secret.is_some() {
        changed.push("secret");
        row.secret_sealed = sealed_optional(
            cx.key,
            Field::AppSecret,
            input.secret.as_deref(),
            check_secret,
        )?;
    }
    if let Some(format) = input.format {
        changed.push("format");
        row.format = format;
    }
    if let Some(display_name) = &input.display_name {
        changed.push("display_name");
        row.display_name = check_display_name(display_name)?;
    }
    let mut what = action::UPDATE;
    if let Some(enabled) = input.enabled
        && enabled != row.enabled
    {
        row.enabled = enabled;
        if changed.is_empty() {
            what = if enabled {
                action::ENABLE
            } else {
                action::DISABLE
            };
        } else {
            changed.push("enabled");
        }
    }
    row.updated_at = now;
    channels::update(&mut tx, &row).await?;
    // the fields changed, never their values: some of them are secrets
    let detail = changed.join(", ");
    audit::record(
        &mut tx,
        &by.actor(),
        what,
        &row.name,
        (!detail.is_empty()).then_some(detail.as_str()),
        now,
    )
    .await?;
    tx.commit().await?;
    Ok(row.channel()?)
}

/// Turns a channel's webhook off (503, so WeChat retries) or on again. Its conversations stay
/// readable and answerable either way.
pub async fn set_enabled(
    store: &Store,
    cx: Context<'_>,
    by: Caller<'_>,
    which: ChannelRef<'_>,
    enabled: bool,
) -> Result<Channel, ChannelError> {
    let input = ChannelInput {
        enabled: Some(enabled),
        ..ChannelInput::default()
    };
    update(store, cx, by, which, &input).await
}

pub async fn list(store: &Store) -> Result<Vec<Channel>, ChannelError> {
    channels::list(store.pool())
        .await?
        .iter()
        .map(|row| row.channel().map_err(ChannelError::from))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn input(name: &str) -> ChannelInput {
        ChannelInput {
            name: Some(name.into()),
            kind: Some(ChannelKind::OfficialAccount),
            appid: Some("wx00000000000000aa".into()),
            token: Some("tok3n".into()),
            aes_key: Some("abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG".into()),
            secret: Some("the-app-secret".into()),
            format: Some(Some(DataFormat::Xml)),
            display_name: Some("公众号".into()),
            enabled: None,
        }
    }

    #[tokio::test]
    async fn a_channel_is_checked_stored_sealed_and_changed_field_by_field() {
        let (_dir, store) = crate::store::temp_store().await;
        let key = SecretKey::parse(&hex::encode([3u8; 32])).unwrap();
        let cx = Context {
            key: &key,
            default_from_environment: true,
        };
        let added = add(&store, cx, Caller::Cli, &input("oa")).await.unwrap();
        assert!(added.token_set && added.aes_key_set && added.secret_set);
        assert_eq!(added.kind, ChannelKind::OfficialAccount);

        let rows = channels::list(store.pool()).await.unwrap();
        let row = rows.iter().find(|r| r.name == "oa").unwrap();
        let sealed = row.secret_sealed.as_deref().unwrap();
        assert!(!sealed.windows(6).any(|w| w == b"secret"), "sealed at rest");
        assert_eq!(
            key.open(Field::AppSecret, sealed).unwrap(),
            "the-app-secret"
        );

        assert!(matches!(
            add(&store, cx, Caller::Cli, &input("oa")).await,
            Err(ChannelError::Taken(_))
        ));
        for bad in [
            ChannelInput {
                name: Some("Bad Name".into()),
                ..input("x")
            },
            ChannelInput {
                appid: Some("wx123".into()),
                ..input("x")
            },
            ChannelInput {
                token: Some("a b".into()),
                ..input("x")
            },
            ChannelInput {
                aes_key: Some("short".into()),
                ..input("x")
            },
            ChannelInput {
                display_name: Some("a\u{7}".into()),
                ..input("x")
            },
        ] {
            assert!(add(&store, cx, Caller::Cli, &bad).await.is_err(), "{bad:?}");
        }

        let change = ChannelInput {
            secret: Some(String::new()),
            display_name: Some("服务号".into()),
            ..ChannelInput::default()
        };
        let changed = update(&store, cx, Caller::Cli, ChannelRef::Name("oa"), &change)
            .await
            .unwrap();
        assert!(!changed.secret_set && changed.token_set);
        assert_eq!(changed.display_name, "服务号");

        let off = set_enabled(&store, cx, Caller::Cli, ChannelRef::Name("oa"), false)
            .await
            .unwrap();
        assert!(!off.enabled);

        let token = ChannelInput {
            token: Some("other".into()),
            ..ChannelInput::default()
        };
        assert!(matches!(
            update(&store, cx, Caller::Cli, ChannelRef::Name("default"), &token).await,
            Err(ChannelError::FromEnvironment)
        ));
        let rename = ChannelInput {
            name: Some("main".into()),
            ..ChannelInput::default()
        };
        assert!(matches!(
            update(
                &store,
                cx,
                Caller::Cli,
                ChannelRef::Name("default"),
                &rename
            )
            .await,
            Err(ChannelError::DefaultName)
        ));
        let audit: Vec<String> = sqlx::query_scalar(
            "select action || ' ' || coalesce(detail, '') from audit_log order by id",
        )
        .fetch_all(store.pool())
        .await
        .unwrap();
        assert_eq!(
            audit,
            [
                "channel.add officialaccount wx00000000000000aa",
                "channel.update secret, display_name",
                "channel.disable ",
            ]
        );
    }
}
