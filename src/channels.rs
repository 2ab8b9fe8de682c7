//! The channels as the running server uses them: each one's Token, cipher and WeChat API
//! client, opened from the store once and kept in memory, so a push costs one map lookup.
//!
//! The `default` channel is the one the `KEFU_WECHAT_*` variables define: each variable that
//! is set wins over what the store holds, exactly as before channels existed. Other channels
//! come from the store alone. Changes made in this process (`reload`) apply at once; changes
//! made by another (`kefu channel disable` on the same database) within a second or two, found
//! by `watch`.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use crate::config::{Config, Secret};
use crate::domain::channel::{Channel, ChannelKind, DEFAULT_CHANNEL_ID, DataFormat};
use crate::domain::now_millis;
use crate::secrets::{Field, SecretKey};
use crate::store::Store;
use crate::store::channels::{self, ChannelRow};
use crate::wechat::api::WechatApi;
use crate::wechat::crypto::{AesKey, Cipher};
use crate::wechat::push::Format;

/// How often the channels are checked for changes made by another process.
const WATCH_EVERY: Duration = Duration::from_secs(1);

/// One channel, ready for its webhook and its replies.
pub struct Endpoint {
    pub channel: Channel,
    /// None: every push is refused (503) until a Token is set
    pub token: Option<Secret>,
    /// present when both the EncodingAESKey and the AppID are known
    pub cipher: Option<Arc<Cipher>>,
    /// the format pushes are read in when their first byte does not tell
    pub format: Format,
    /// present when the AppID and AppSecret are known: kefu can send
    pub api: Option<Arc<WechatApi>>,
    /// what the `KEFU_WECHAT_*` variables (not the console) define
    pub from_environment: bool,
}

impl Endpoint {
    pub fn id(&self) -> i64 {
        self.channel.id
    }

    pub fn kind(&self) -> ChannelKind {
        self.channel.kind
    }
}

#[derive(Default)]
struct Snapshot {
    by_name: HashMap<String, Arc<Endpoint>>,
    by_id: HashMap<i64, Arc<Endpoint>>,
    /// (count, latest change) when read: see `store::channels::version`
    version: (i64, i64),
}

/// The `KEFU_WECHAT_*` variables that define the `default` channel.
#[derive(Clone)]
struct Environment {
    token: Option<Secret>,
    aes_key: Option<AesKey>,
    appid: Option<String>,
    secret: Option<Secret>,
    format: Format,
}

impl Environment {
    fn defines_default(&self) -> bool {
        self.token.is_some()
            || self.aes_key.is_some()
            || self.appid.is_some()
            || self.secret.is_some()
    }
}

struct Inner {
    store: Store,
    key: SecretKey,
    env: Environment,
    api_base: String,
    snapshot: RwLock<Arc<Snapshot>>,
    /// one client per AppID (and AppSecret), kept across reloads: it holds the cached token
    /// and the lock that makes its refresh single-flight
    apis: Mutex<HashMap<String, (String, Arc<WechatApi>)>>,
}

/// The channels kefu serves. Cheap to clone.
#[derive(Clone)]
pub struct Channels {
    inner: Arc<Inner>,
}

#[derive(Debug, thiserror::Error)]
pub enum ChannelsError {
    #[error(transparent)]
    Db(#[from] crate::store::DbError),
    #[error("the channel {0} has a secret that cannot be opened: {1}")]
    Secrets(String, crate::secrets::SecretsError),
    #[error("cannot set up the HTTP client for WeChat's API: {0}")]
    Http(#[from] reqwest::Error),
}

impl Channels {
    /// Reads every channel from the store and opens its secrets.
    pub async fn load(
        store: Store,
        key: SecretKey,
        config: &Config,
    ) -> Result<Channels, ChannelsError> {
        let env = Environment {
            token: config.wechat.token.clone(),
            aes_key: config.wechat.aes_key.clone(),
            appid: config.wechat.appid.clone(),
            secret: config.wechat.secret.clone(),
            format: config.wechat.format,
        };
        if let Some(appid) = &env.appid {
            let format = match env.format {
                Format::Json => DataFormat::Json,
                Format::Xml => DataFormat::Xml,
            };
            channels::show_environment(store.pool(), appid, format, now_millis()).await?;
        }
        let channels = Channels {
            inner: Arc::new(Inner {
                store,
                key,
                env,
                api_base: config.wechat.api_base.clone(),
                snapshot: RwLock::default(),
                apis: Mutex::default(),
            }),
        };
        channels.reload().await?;
        Ok(channels)
    }

    /// Whether the variables define the `default` channel (then only they change it).
    pub fn default_from_environment(&self) -> bool {
        self.inner.env.defines_default()
    }

    pub fn key(&self) -> &SecretKey {
        &self.inner.key
    }

    /// The services' view: the key and who owns the `default` channel.
    pub fn context(&self) -> crate::services::channels::Context<'_> {
        crate::services::channels::Context {
            key: &self.inner.key,
            default_from_environment: self.default_from_environment(),
        }
    }

    fn snapshot(&self) -> Arc<Snapshot> {
        self.inner
            .snapshot
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    pub fn by_name(&self, name: &str) -> Option<Arc<Endpoint>> {
        self.snapshot().by_name.get(name).cloned()
    }

    pub fn by_id(&self, id: i64) -> Option<Arc<Endpoint>> {
        self.snapshot().by_id.get(&id).cloned()
    }

    pub fn default_channel(&self) -> Option<Arc<Endpoint>> {
        self.by_id(DEFAULT_CHANNEL_ID)
    }

    /// Every channel, in the order they were added.
    pub fn all(&self) -> Vec<Arc<Endpoint>> {
        let mut all: Vec<_> = self.snapshot().by_id.values().cloned().collect();
        all.sort_by_key(|e| e.id());
        all
    }

    /// Whether kefu serves more than one channel (then the dashboard names them).
    pub fn several(&self) -> bool {
        self.snapshot().by_id.len() > 1
    }

    /// What the dashboard calls a channel: its display name, else its name.
    pub fn label_of(&self, id: i64) -> String {
        self.by_id(id)
            .map(|e| e.channel.label().to_owned())
            .unwrap_or_default()
    }

    /// The API client of a conversation's channel, when that channel can send.
    pub fn api(&self, channel_id: i64) -> Option<Arc<WechatApi>> {
        self.by_id(channel_id)?.api.clone()
    }

    /// Whether any channel can send (the bot and the delivery workers have work to do).
    pub fn any_can_send(&self) -> bool {
        self.snapshot().by_id.values().any(|e| e.api.is_some())
    }

    /// Reads the channels again (after a change in this process, or one `watch` noticed).
    pub async fn reload(&self) -> Result<(), ChannelsError> {
        let pool = self.inner.store.pool();
        let version = channels::version(pool).await?;
        let rows = channels::list(pool).await?;
        let mut next = Snapshot {
            version,
            ..Snapshot::default()
        };
        for row in &rows {
            let endpoint = Arc::new(self.endpoint(row)?);
            next.by_name
                .insert(endpoint.channel.name.as_str().to_owned(), endpoint.clone());
            next.by_id.insert(endpoint.id(), endpoint);
        }
        *self
            .inner
            .snapshot
            .write()
            .unwrap_or_else(|p| p.into_inner()) = Arc::new(next);
        Ok(())
    }

    fn open(
        &self,
        row: &ChannelRow,
        field: Field,
        sealed: Option<&[u8]>,
    ) -> Result<Option<String>, ChannelsError> {
        sealed
            .map(|s| self.inner.key.open(field, s))
            .transpose()
            .map_err(|e| ChannelsError::Secrets(row.name.clone(), e))
    }

    fn endpoint(&self, row: &ChannelRow) -> Result<Endpoint, ChannelsError> {
        let mut channel = row.channel()?;
        let mut token = self
            .open(row, Field::Token, row.token_sealed.as_deref())?
            .map(Secret::new);
        let mut aes_key = match self.open(row, Field::AesKey, row.aes_key_sealed.as_deref())? {
            // checked when it was saved; one that no longer reads is as good as none
            Some(k) => AesKey::from_encoding_key(&k).ok(),
            None => None,
        };
        let mut secret = self
            .open(row, Field::AppSecret, row.secret_sealed.as_deref())?
            .map(Secret::new);
        let mut format = match row.format {
            Some(DataFormat::Xml) => Format::Xml,
            _ => Format::Json,
        };
        let env = &self.inner.env;
        let from_environment = channel.is_default() && env.defines_default();
        if from_environment {
            token = env.token.clone().or(token);
            aes_key = env.aes_key.clone().or(aes_key);
            secret = env.secret.clone().or(secret);
            if let Some(appid) = &env.appid {
                channel.appid = appid.clone();
            }
            format = env.format;
            channel.token_set = token.is_some();
            channel.aes_key_set = aes_key.is_some();
            channel.secret_set = secret.is_some();
        }
        let appid = (!channel.appid.is_empty()).then(|| channel.appid.clone());
        let cipher = match (aes_key, &appid) {
            (Some(key), Some(appid)) => Some(Arc::new(Cipher::new(key, appid.clone()))),
            _ => None,
        };
        let api = match (&appid, secret) {
            (Some(appid), Some(secret)) => Some(self.api_for(appid, secret)?),
            _ => None,
        };
        Ok(Endpoint {
            channel,
            token,
            cipher,
            format,
            api,
            from_environment,
        })
    }

    /// The client for an AppID, the same one while its AppSecret stays the same.
    fn api_for(&self, appid: &str, secret: Secret) -> Result<Arc<WechatApi>, ChannelsError> {
        let mut apis = self.inner.apis.lock().unwrap_or_else(|p| p.into_inner());
        if let Some((known, api)) = apis.get(appid)
            && known == secret.expose()
        {
            return Ok(api.clone());
        }
        let api = Arc::new(WechatApi::new(
            &self.inner.api_base,
            appid,
            secret.clone(),
            Arc::new(crate::app::tokens::DbTokens {
                store: self.inner.store.clone(),
                appid: appid.to_owned(),
            }),
        )?);
        apis.insert(appid.to_owned(), (secret.expose().to_owned(), api.clone()));
        Ok(api)
    }

    /// Notices changes made by another process on the same database and reloads.
    pub async fn watch(self) {
        let mut every = tokio::time::interval(WATCH_EVERY);
        every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            every.tick().await;
            let known = self.snapshot().version;
            match channels::version(self.inner.store.pool()).await {
                Ok(now) if now == known => {}
                Ok(_) => {
                    if let Err(e) = self.reload().await {
                        tracing::warn!(error = %e, "cannot read the changed channels");
                    }
                }
                Err(e) => tracing::warn!(error = %e, "cannot check the channels for changes"),
            }
        }
    }
}
