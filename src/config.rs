//! The one typed `Config`, read once at start. Every setting is an option of every command
//! (`--listen`), its `KEFU_*` variable (`KEFU_LISTEN`), both read by clap into [`Settings`],
//! or a key of the optional `--config` TOML file (`listen`), read by serde into the same
//! struct. An option wins over its variable, a variable over the file. A value that is present
//! but wrong stops start-up with a sentence naming where it came from; secrets never appear in
//! `Debug`, in `--help` or in errors.

use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use clap::parser::ValueSource;
use clap::{ArgMatches, Args, FromArgMatches as _};
use serde::Deserialize;

use crate::wechat::crypto::AesKey;
use crate::wechat::push::Format;

/// Every setting as the operator gave it, before any check. The names follow one rule, which
/// the errors rely on and a test holds: the field `data_dir` is the option `--data-dir`, the
/// variable `KEFU_DATA_DIR` and the file's key `data_dir`.
#[derive(Clone, Debug, Default, Args, Deserialize)]
#[serde(deny_unknown_fields)]
#[command(next_help_heading = "Configuration")]
pub struct Settings {
    /// Address to serve on [default: 127.0.0.1:8080]
    #[arg(long, env = "KEFU_LISTEN", value_name = "ADDR", global = true)]
    pub listen: Option<Text>,
    /// Where the database and stored media live; created if missing [default: ./kefu-data]
    #[arg(long, env = "KEFU_DATA_DIR", value_name = "DIR", global = true)]
    pub data_dir: Option<Text>,
    /// The database, a sqlite: URL [default: sqlite://DATA_DIR/kefu.db]
    #[arg(long, env = "KEFU_DATABASE_URL", value_name = "URL", global = true)]
    pub database_url: Option<Text>,
    /// The key that seals the channels' secrets in the database: 32 bytes as base64 or hex [default: a key file, DATA_DIR/secret.key, made on first start]
    #[arg(
        long,
        env = "KEFU_SECRET_KEY",
        value_name = "KEY",
        global = true,
        hide_env_values = true
    )]
    pub secret_key: Option<Secret>,
    /// The Token of the mini program's message-push settings; without it every push is refused
    #[arg(
        long,
        env = "KEFU_WECHAT_TOKEN",
        value_name = "TOKEN",
        global = true,
        hide_env_values = true
    )]
    pub wechat_token: Option<Secret>,
    /// The 43-character EncodingAESKey, for safe and compatible mode
    #[arg(
        long,
        env = "KEFU_WECHAT_AES_KEY",
        value_name = "KEY",
        global = true,
        hide_env_values = true
    )]
    pub wechat_aes_key: Option<Secret>,
    /// The mini program's AppID (wx and 16 lowercase hex characters); every encrypted push must be for it
    #[arg(long, env = "KEFU_WECHAT_APPID", value_name = "APPID", global = true)]
    pub wechat_appid: Option<Text>,
    /// The AppSecret, needed to send replies
    #[arg(
        long,
        env = "KEFU_WECHAT_SECRET",
        value_name = "SECRET",
        global = true,
        hide_env_values = true
    )]
    pub wechat_secret: Option<Secret>,
    /// Where WeChat's API is; tests and `kefu demo` point it at a fake [default: https://api.weixin.qq.com]
    #[arg(long, env = "KEFU_WECHAT_API_BASE", value_name = "URL", global = true)]
    pub wechat_api_base: Option<Text>,
    /// The data format chosen in the message-push settings, json or xml; bodies are also recognised by their first byte [default: json]
    #[arg(long, env = "KEFU_WECHAT_FORMAT", value_name = "FORMAT", global = true)]
    pub wechat_format: Option<Text>,
    /// The path WeChat pushes to [default: /wechat]
    #[arg(long, env = "KEFU_WEBHOOK_PATH", value_name = "PATH", global = true)]
    pub webhook_path: Option<Text>,
    /// Seconds a push's timestamp may differ from now before it is refused as a replay; 0 turns the check off [default: 300]
    #[arg(
        long,
        env = "KEFU_WEBHOOK_MAX_AGE",
        value_name = "SECONDS",
        global = true
    )]
    pub webhook_max_age: Option<Text>,
    /// The public https origin, e.g. https://kefu.example.com; when set, cookies are Secure and links absolute
    #[arg(long, env = "KEFU_PUBLIC_URL", value_name = "URL", global = true)]
    pub public_url: Option<Text>,
    /// After a customer message, WeChat allows replies for this many hours [default: 48]
    #[arg(
        long,
        env = "KEFU_REPLY_WINDOW_HOURS",
        value_name = "HOURS",
        global = true
    )]
    pub reply_window_hours: Option<Text>,
    /// After a customer message, WeChat allows this many replies [default: 5]
    #[arg(long, env = "KEFU_REPLY_QUOTA", value_name = "N", global = true)]
    pub reply_quota: Option<Text>,
    /// After the customer opens the chat, WeChat allows replies for this many seconds [default: 60]
    #[arg(
        long,
        env = "KEFU_ENTER_WINDOW_SECS",
        value_name = "SECONDS",
        global = true
    )]
    pub enter_window_secs: Option<Text>,
    /// After the customer opens the chat, WeChat allows this many replies [default: 2]
    #[arg(long, env = "KEFU_ENTER_QUOTA", value_name = "N", global = true)]
    pub enter_quota: Option<Text>,
    /// Seconds a reply that WeChat answers with a passing error is retried before it is marked failed [default: 1800]
    #[arg(
        long,
        env = "KEFU_DELIVERY_RETRY_FOR",
        value_name = "SECONDS",
        global = true
    )]
    pub delivery_retry_for: Option<Text>,
    /// The first retry's delay in milliseconds; each next one doubles, with jitter [default: 1000]
    #[arg(
        long,
        env = "KEFU_DELIVERY_BACKOFF_MS",
        value_name = "MS",
        global = true
    )]
    pub delivery_backoff_ms: Option<Text>,
    /// Replies in flight to WeChat at once [default: 128]
    #[arg(
        long,
        env = "KEFU_DELIVERY_CONCURRENCY",
        value_name = "N",
        global = true
    )]
    pub delivery_concurrency: Option<Text>,
    /// On the first start with no staff account, `admin` gets this password; without it a random one is printed once
    #[arg(
        long,
        env = "KEFU_ADMIN_PASSWORD",
        value_name = "PASSWORD",
        global = true,
        hide_env_values = true
    )]
    pub admin_password: Option<Secret>,
    /// The log filter, e.g. kefu=debug,info [default: info]
    #[arg(long, env = "KEFU_LOG", value_name = "FILTER", global = true)]
    pub log: Option<Text>,
    /// Connections open at once, bounded by the open-files limit; past it new ones are closed at once [default: 10000]
    #[arg(long, env = "KEFU_MAX_CONNECTIONS", value_name = "N", global = true)]
    pub max_connections: Option<Text>,
    /// Reverse proxies whose X-Forwarded-For / X-Real-IP name the client: addresses or CIDR ranges, comma-separated
    #[arg(long, env = "KEFU_TRUSTED_PROXIES", value_name = "LIST", global = true)]
    pub trusted_proxies: Option<Text>,
    /// An address such as 127.0.0.1:9100 where /metrics is served without authentication
    #[arg(long, env = "KEFU_METRICS_LISTEN", value_name = "ADDR", global = true)]
    pub metrics_listen: Option<Text>,
}

/// A setting's value as written. In the file it may be a string, a number or a boolean: they
/// are all checked as text, like a variable's value.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Text(String);

impl From<String> for Text {
    fn from(value: String) -> Self {
        Text(value)
    }
}

impl AsRef<str> for Text {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl<'de> Deserialize<'de> for Text {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(TextVisitor).map(Text)
    }
}

/// A secret string: usable, never printed.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Secret(value.into())
    }
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret([redacted])")
    }
}

impl From<String> for Secret {
    fn from(value: String) -> Self {
        Secret(value)
    }
}

impl AsRef<str> for Secret {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl<'de> Deserialize<'de> for Secret {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(TextVisitor).map(Secret)
    }
}

/// A string, a whole number or a boolean, as text.
struct TextVisitor;

impl serde::de::Visitor<'_> for TextVisitor {
    type Value = String;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a string or a number")
    }
    fn visit_str<E>(self, v: &str) -> Result<String, E> {
        Ok(v.to_owned())
    }
    fn visit_string<E>(self, v: String) -> Result<String, E> {
        Ok(v)
    }
    fn visit_i64<E>(self, v: i64) -> Result<String, E> {
        Ok(v.to_string())
    }
    fn visit_u64<E>(self, v: u64) -> Result<String, E> {
        Ok(v.to_string())
    }
    fn visit_bool<E>(self, v: bool) -> Result<String, E> {
        Ok(v.to_string())
    }
}

#[derive(Clone, Debug)]
pub struct Config {
    pub listen: SocketAddr,
    pub data_dir: PathBuf,
    pub database_url: String,
    /// KEFU_SECRET_KEY, checked; None: the data dir's key file (`secrets`)
    pub secret_key: Option<Secret>,
    pub wechat: WechatConfig,
    pub webhook_path: String,
    /// Seconds a push's timestamp may differ from now; 0 turns the replay check off.
    pub webhook_max_age: u64,
    /// The public https origin, without a trailing slash.
    pub public_url: Option<String>,
    pub admin_password: Option<Secret>,
    /// `admin_password` was made up by kefu (`kefu demo`), not given as KEFU_ADMIN_PASSWORD:
    /// the log must not say it came from the variable.
    pub admin_password_generated: bool,
    pub log: String,
    pub reply_rules: crate::domain::ReplyRules,
    pub delivery: DeliveryConfig,
    /// Connections open at once; None: 10,000, bounded by the file-descriptor limit.
    pub max_connections: Option<usize>,
    /// Reverse proxies whose `X-Forwarded-For` / `X-Real-IP` name the client.
    pub trusted_proxies: Vec<crate::web::client_ip::Cidr>,
    /// Where `/metrics` is also served, without authentication.
    pub metrics_listen: Option<SocketAddr>,
}

/// How the outbox worker retries.
#[derive(Clone, Debug)]
pub struct DeliveryConfig {
    /// Give up on a transiently failing message this long after its first attempt.
    pub retry_for_ms: i64,
    /// The first retry waits about this long; each next one twice as long (with jitter).
    pub backoff_ms: i64,
    /// Sends in flight at once.
    pub concurrency: usize,
}

#[derive(Clone, Debug)]
pub struct WechatConfig {
    pub token: Option<Secret>,
    pub aes_key: Option<AesKey>,
    pub appid: Option<String>,
    pub secret: Option<Secret>,
    pub api_base: String,
    /// The data format chosen in the message-push settings; bodies are sniffed as a fallback.
    pub format: Format,
}

impl WechatConfig {
    /// Whether any `KEFU_WECHAT_*` account variable is set: then they define the channel
    /// `default`, and only they change its WeChat settings.
    pub fn defines_default_channel(&self) -> bool {
        self.token.is_some()
            || self.aes_key.is_some()
            || self.appid.is_some()
            || self.secret.is_some()
    }
}

#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct ConfigError(String);

/// Settings from one place, first the place that wins.
struct Layer {
    settings: Settings,
    origin: Origin,
}

/// Where a layer came from, so that an error names a setting the way the operator wrote it.
enum Origin {
    /// clap's reading of the command line and the environment; the ids given as options
    Arguments {
        options: Vec<String>,
    },
    /// the environment, looked up by `Config::from_sources`
    Environment,
    File(PathBuf),
}

impl Origin {
    fn name(&self, id: &str) -> String {
        match self {
            Origin::Arguments { options } if options.iter().any(|o| o == id) => {
                format!("--{}", id.replace('_', "-"))
            }
            Origin::Arguments { .. } | Origin::Environment => {
                format!("KEFU_{}", id.to_ascii_uppercase())
            }
            Origin::File(path) => format!("{id} in {}", path.display()),
        }
    }
}

/// The value a setting takes, and where it was given.
struct Raw<'a> {
    value: &'a str,
    source: String,
}

/// The first layer's value of a setting. An empty value means "not set" (and hides what a
/// lower layer says): `KEFU_WECHAT_TOKEN=` in a unit file is common.
fn pick<'a>(
    layers: &'a [Layer],
    id: &str,
    field: impl Fn(&'a Settings) -> Option<&'a str>,
) -> Option<Raw<'a>> {
    let (layer, value) = layers.iter().find_map(|l| Some((l, field(&l.settings)?)))?;
    (!value.trim().is_empty()).then(|| Raw {
        value,
        source: layer.origin.name(id),
    })
}

/// The ids of every setting (`listen`, `data_dir`, …), as clap and serde know them.
fn setting_ids() -> Vec<String> {
    Settings::augment_args(clap::Command::new("kefu"))
        .get_arguments()
        .map(|arg| arg.get_id().to_string())
        .collect()
}

impl Config {
    /// This run's configuration. `matches` come from a command line that flattens
    /// [`Settings`] (`cli::Cli`): clap has read each option there and, where it was not given,
    /// its variable. The file, when given, fills in what both leave unset.
    pub fn load(matches: &ArgMatches, file: Option<&Path>) -> Result<Config, ConfigError> {
        let settings =
            Settings::from_arg_matches(matches).map_err(|e| ConfigError(e.to_string()))?;
        let options = setting_ids()
            .into_iter()
            .filter(|id| matches.value_source(id) == Some(ValueSource::CommandLine))
            .collect();
        let mut layers = vec![Layer {
            settings,
            origin: Origin::Arguments { options },
        }];
        if let Some(path) = file {
            layers.push(read_file(path)?);
        }
        Self::from_layers(&layers)
    }

    /// Reads configuration from a file and an environment lookup (tests pass their own), by
    /// the variable names `Settings` declares.
    pub fn from_sources(
        file: Option<&Path>,
        env: impl Fn(&str) -> Option<String>,
    ) -> Result<Config, ConfigError> {
        let given: toml::Table = Settings::augment_args(clap::Command::new("kefu"))
            .get_arguments()
            .filter_map(|arg| {
                let value = env(arg.get_env()?.to_str()?)?;
                Some((arg.get_id().to_string(), toml::Value::String(value)))
            })
            .collect();
        let settings: Settings = given
            .try_into()
            .map_err(|e: toml::de::Error| ConfigError(e.message().to_owned()))?;
        let mut layers = vec![Layer {
            settings,
            origin: Origin::Environment,
        }];
        if let Some(path) = file {
            layers.push(read_file(path)?);
        }
        Self::from_layers(&layers)
    }

    /// Checks every setting, taking each from the first layer that gives it.
    fn from_layers(layers: &[Layer]) -> Result<Config, ConfigError> {
        macro_rules! get {
            ($field:ident) => {
                pick(layers, stringify!($field), |s| {
                    s.$field.as_ref().map(|v| v.as_ref())
                })
            };
        }

        let listen = match get!(listen) {
            Some(r) => r.value.trim().parse().map_err(|_| {
                ConfigError(format!(
                    "{} is not an address like 127.0.0.1:8080 (got {:?})",
                    r.source, r.value
                ))
            })?,
            None => SocketAddr::from(([127, 0, 0, 1], 8080)),
        };
        let data_dir = PathBuf::from(get!(data_dir).map_or("./kefu-data", |r| r.value));
        let database_url = match get!(database_url) {
            Some(r) if !r.value.starts_with("sqlite:") => {
                return Err(ConfigError(format!(
                    "{} must be a sqlite: URL; other databases are not supported yet",
                    r.source
                )));
            }
            Some(r) => r.value.to_owned(),
            None => format!("sqlite://{}/kefu.db", data_dir.display()),
        };
        let aes_key = match get!(wechat_aes_key) {
            Some(r) => Some(AesKey::from_encoding_key(r.value.trim()).map_err(|_| {
                ConfigError(format!(
                    "{} must be the 43-character EncodingAESKey of base64 letters (it has {} characters)",
                    r.source,
                    r.value.trim().chars().count()
                ))
            })?),
            None => None,
        };
        let secret_key = match get!(secret_key) {
            Some(r) => {
                crate::secrets::SecretKey::parse(r.value).map_err(|_| {
                    ConfigError(format!(
                        "{} must be 32 bytes written as 44 characters of base64 or 64 hex digits",
                        r.source
                    ))
                })?;
                Some(Secret::new(r.value.trim()))
            }
            None => None,
        };
        let appid = match get!(wechat_appid) {
            Some(r) if !is_appid(r.value.trim()) => {
                return Err(ConfigError(format!(
                    "{} must be the mini program's AppID as WeChat shows it, wx and 16 lowercase \
                     hex characters like wx1234567890abcdef (got {:?})",
                    r.source,
                    r.value.trim()
                )));
            }
            Some(r) => Some(r.value.trim().to_owned()),
            None => None,
        };
        let api_base = match get!(wechat_api_base) {
            Some(r) => http_url(&r)?,
            None => "https://api.weixin.qq.com".to_owned(),
        };
        let format = match get!(wechat_format).map(|r| {
            let v = r.value.trim().to_ascii_lowercase();
            (r, v)
        }) {
            None => Format::Json,
            Some((_, v)) if v == "json" => Format::Json,
            Some((_, v)) if v == "xml" => Format::Xml,
            Some((r, _)) => {
                return Err(ConfigError(format!("{} must be json or xml", r.source)));
            }
        };
        let webhook_path = match get!(webhook_path) {
            Some(r) => {
                let p = r.value.trim();
                let reserved = ["/api", "/ws", "/static", "/healthz", "/readyz", "/metrics"];
                if !p.starts_with('/') || p.len() < 2 || p.contains(['?', '#', ' ']) {
                    return Err(ConfigError(format!(
                        "{} must be a path like /wechat (got {:?})",
                        r.source, r.value
                    )));
                }
                if reserved
                    .iter()
                    .any(|x| p == *x || p.starts_with(&format!("{x}/")))
                {
                    return Err(ConfigError(format!(
                        "{} must not be one of kefu's own paths (got {p})",
                        r.source
                    )));
                }
                p.trim_end_matches('/').to_owned()
            }
            None => "/wechat".to_owned(),
        };
        let webhook_max_age = match get!(webhook_max_age) {
            Some(r) => r.value.trim().parse().map_err(|_| {
                ConfigError(format!(
                    "{} must be a whole number of seconds (got {:?})",
                    r.source, r.value
                ))
            })?,
            None => 300,
        };
        let public_url = match get!(public_url) {
            Some(r) => Some(http_url(&r)?),
            None => None,
        };
        let number = |raw: Option<Raw>, default: u64, min: u64, max: u64| match raw {
            None => Ok(default),
            Some(r) => r
                .value
                .trim()
                .parse::<u64>()
                .ok()
                .filter(|n| (min..=max).contains(n))
                .ok_or_else(|| {
                    ConfigError(format!(
                        "{} must be a whole number from {min} to {max} (got {:?})",
                        r.source, r.value
                    ))
                }),
        };
        let reply_rules = crate::domain::ReplyRules {
            message_window_ms: number(get!(reply_window_hours), 48, 1, 24 * 30)? as i64 * 3_600_000,
            message_quota: number(get!(reply_quota), 5, 0, 1000)? as u32,
            enter_window_ms: number(get!(enter_window_secs), 60, 0, 86_400)? as i64 * 1000,
            enter_quota: number(get!(enter_quota), 2, 0, 1000)? as u32,
        };
        let delivery = DeliveryConfig {
            retry_for_ms: number(get!(delivery_retry_for), 1800, 0, 7 * 86_400)? as i64 * 1000,
            backoff_ms: number(get!(delivery_backoff_ms), 1000, 1, 3_600_000)? as i64,
            concurrency: number(get!(delivery_concurrency), 128, 1, 4096)? as usize,
        };
        let max_connections = match get!(max_connections) {
            Some(r) => Some(number(Some(r), 0, 1, 1_000_000)? as usize),
            None => None,
        };
        let trusted_proxies = match get!(trusted_proxies) {
            Some(r) => crate::web::client_ip::Cidr::parse_list(r.value).map_err(|bad| {
                ConfigError(format!(
                    "{} must be addresses or CIDR ranges separated by commas, like \
                     127.0.0.1,10.0.0.0/8 (cannot read {bad:?})",
                    r.source
                ))
            })?,
            None => Vec::new(),
        };
        let metrics_listen = match get!(metrics_listen) {
            Some(r) => Some(r.value.trim().parse().map_err(|_| {
                ConfigError(format!(
                    "{} is not an address like 127.0.0.1:9100 (got {:?})",
                    r.source, r.value
                ))
            })?),
            None => None,
        };
        Ok(Config {
            metrics_listen,
            trusted_proxies,
            max_connections,
            reply_rules,
            delivery,
            listen,
            data_dir,
            database_url,
            secret_key,
            wechat: WechatConfig {
                token: get!(wechat_token).map(|r| Secret::new(r.value.trim())),
                aes_key,
                appid,
                secret: get!(wechat_secret).map(|r| Secret::new(r.value.trim())),
                api_base,
                format,
            },
            webhook_path,
            webhook_max_age,
            public_url,
            admin_password: get!(admin_password).map(|r| Secret::new(r.value)),
            admin_password_generated: false,
            log: get!(log).map_or_else(|| "info".to_owned(), |r| r.value.to_owned()),
        })
    }

    /// Creates the data dir if missing and proves it is writable, naming the variable if not.
    pub fn prepare_data_dir(&self) -> Result<(), ConfigError> {
        let fail = |e: std::io::Error| {
            ConfigError(format!(
                "KEFU_DATA_DIR ({}) is not a writable directory: {e}",
                self.data_dir.display()
            ))
        };
        if !self.data_dir.exists() {
            // said once, so that a data dir appearing in the current directory (the default
            // ./kefu-data, e.g. inside a checkout) is no surprise
            tracing::info!(
                data_dir = %self.data_dir.display(),
                "creating the data dir; KEFU_DATA_DIR chooses another place"
            );
        }
        std::fs::create_dir_all(&self.data_dir).map_err(fail)?;
        let probe = self.data_dir.join(".kefu-write-probe");
        std::fs::write(&probe, b"ok").map_err(fail)?;
        std::fs::remove_file(&probe).map_err(fail)?;
        Ok(())
    }

    /// What is missing for each part of the WeChat integration, as sentences for the log.
    pub fn missing_wechat(&self) -> Vec<&'static str> {
        self.missing()
            .into_iter()
            .filter(|m| *m != Missing::PublicUrl)
            .map(Missing::sentence)
            .collect()
    }

    /// Every setting a working kefu still needs, in the order to set them: the WeChat values
    /// and `KEFU_PUBLIC_URL`, the https address WeChat must be given (the start page says
    /// each in the viewer's language, the log in English).
    pub fn missing(&self) -> Vec<Missing> {
        let w = &self.wechat;
        let mut missing = Vec::new();
        if self.public_url.is_none() {
            missing.push(Missing::PublicUrl);
        }
        if w.token.is_none() {
            missing.push(Missing::Token);
        }
        if w.aes_key.is_none() {
            missing.push(Missing::AesKey);
        }
        if w.appid.is_none() {
            missing.push(Missing::Appid);
        }
        if w.secret.is_none() {
            missing.push(Missing::Secret);
        }
        missing
    }
}

/// A setting kefu still needs (`Config::missing`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Missing {
    PublicUrl,
    Token,
    AesKey,
    Appid,
    Secret,
}

impl Missing {
    /// The variable to set.
    pub fn variable(self) -> &'static str {
        match self {
            Missing::PublicUrl => "KEFU_PUBLIC_URL",
            Missing::Token => "KEFU_WECHAT_TOKEN",
            Missing::AesKey => "KEFU_WECHAT_AES_KEY",
            Missing::Appid => "KEFU_WECHAT_APPID",
            Missing::Secret => "KEFU_WECHAT_SECRET",
        }
    }

    /// The log's sentence.
    pub fn sentence(self) -> &'static str {
        match self {
            Missing::PublicUrl => {
                "KEFU_PUBLIC_URL is not set: WeChat needs the https address it reaches kefu at"
            }
            Missing::Token => {
                "KEFU_WECHAT_TOKEN is not set: every push will be refused until it is"
            }
            Missing::AesKey => {
                "KEFU_WECHAT_AES_KEY is not set: only plaintext-mode pushes can be read"
            }
            Missing::Appid => "KEFU_WECHAT_APPID is not set: encrypted pushes cannot be checked",
            Missing::Secret => "KEFU_WECHAT_SECRET is not set: replies cannot be sent to WeChat",
        }
    }
}

/// WeChat's shape of an AppID: `wx` and 16 lowercase hexadecimal characters
/// (docs/WECHAT.md; every appid of the crypto vectors has it).
pub fn is_appid(s: &str) -> bool {
    s.len() == 18
        && s.starts_with("wx")
        && s[2..]
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

fn http_url(r: &Raw<'_>) -> Result<String, ConfigError> {
    let v = r.value.trim();
    let rest = v
        .strip_prefix("https://")
        .or_else(|| v.strip_prefix("http://"));
    match rest {
        Some(host) if !host.is_empty() && !host.contains(char::is_whitespace) => {
            Ok(v.trim_end_matches('/').to_owned())
        }
        _ => Err(ConfigError(format!(
            "{} must be an http:// or https:// URL (got {:?})",
            r.source, r.value
        ))),
    }
}

/// The `--config` file's settings. A key kefu does not know, or a value that is not a string,
/// a number or a boolean, is refused naming the key.
fn read_file(path: &Path) -> Result<Layer, ConfigError> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| ConfigError(format!("cannot read config file {}: {e}", path.display())))?;
    let table: toml::Table = text.parse().map_err(|e: toml::de::Error| {
        ConfigError(format!(
            "config file {} is not valid TOML: {}",
            path.display(),
            e.message()
        ))
    })?;
    // Checked here rather than left to serde, whose errors would not name the key this way.
    let known = setting_ids();
    for (key, value) in &table {
        if !known.contains(key) {
            return Err(ConfigError(format!(
                "config file {} has an unknown key {key:?}",
                path.display()
            )));
        }
        if !matches!(
            value,
            toml::Value::String(_) | toml::Value::Integer(_) | toml::Value::Boolean(_)
        ) {
            return Err(ConfigError(format!(
                "{key} in {} must be a string or a number",
                path.display()
            )));
        }
    }
    let settings: Settings = table.try_into().map_err(|e: toml::de::Error| {
        ConfigError(format!(
            "config file {} is not valid TOML: {}",
            path.display(),
            e.message()
        ))
    })?;
    Ok(Layer {
        settings,
        origin: Origin::File(path.to_owned()),
    })
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use clap::{CommandFactory, Parser};

    use super::*;

    fn env(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: BTreeMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |name| map.get(name).cloned()
    }

    #[test]
    fn defaults_match_the_contract() {
        let c = Config::from_sources(None, env(&[])).unwrap();
        assert_eq!(c.listen.to_string(), "127.0.0.1:8080");
        assert_eq!(c.data_dir, PathBuf::from("./kefu-data"));
        assert_eq!(c.database_url, "sqlite://./kefu-data/kefu.db");
        assert_eq!(c.webhook_path, "/wechat");
        assert_eq!(c.webhook_max_age, 300);
        assert_eq!(c.wechat.api_base, "https://api.weixin.qq.com");
        assert_eq!(c.log, "info");
        assert!(c.wechat.token.is_none());
    }

    #[test]
    fn a_bad_aes_key_is_refused_naming_the_variable() {
        let err = Config::from_sources(None, env(&[("KEFU_WECHAT_AES_KEY", "short")]))
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("KEFU_WECHAT_AES_KEY must be"), "{err}");
        assert!(
            !err.contains("short"),
            "the secret must not be echoed: {err}"
        );
    }

    #[test]
    fn a_bad_listen_address_is_refused_naming_the_variable() {
        let err = Config::from_sources(None, env(&[("KEFU_LISTEN", "nowhere")]))
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("KEFU_LISTEN is not an address"), "{err}");
    }

    #[test]
    fn the_environment_wins_over_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("kefu.toml");
        std::fs::write(
            &file,
            "listen = \"0.0.0.0:9000\"\nwebhook_max_age = 60\nwechat_token = \"filetoken\"\n",
        )
        .unwrap();
        let c =
            Config::from_sources(Some(&file), env(&[("KEFU_LISTEN", "127.0.0.1:9001")])).unwrap();
        assert_eq!(c.listen.to_string(), "127.0.0.1:9001");
        assert_eq!(c.webhook_max_age, 60);
        assert_eq!(c.wechat.token.unwrap().expose(), "filetoken");
    }

    #[test]
    fn an_unknown_key_in_the_file_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("kefu.toml");
        std::fs::write(&file, "lisen = \"0.0.0.0:9000\"\n").unwrap();
        let err = Config::from_sources(Some(&file), env(&[]))
            .unwrap_err()
            .to_string();
        assert!(err.contains("unknown key \"lisen\""), "{err}");
    }

    #[test]
    fn secrets_do_not_appear_in_debug_output() {
        let c = Config::from_sources(
            None,
            env(&[
                ("KEFU_WECHAT_TOKEN", "tok-SECRET-1"),
                ("KEFU_WECHAT_SECRET", "app-SECRET-2"),
                ("KEFU_ADMIN_PASSWORD", "pw-SECRET-3"),
                (
                    "KEFU_WECHAT_AES_KEY",
                    "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG",
                ),
            ]),
        )
        .unwrap();
        let debug = format!("{c:?}");
        assert!(!debug.contains("SECRET"), "{debug}");
        assert!(!debug.contains("abcdefghij"), "{debug}");
    }

    #[test]
    fn the_webhook_path_may_not_shadow_kefus_own_routes() {
        let err = Config::from_sources(None, env(&[("KEFU_WEBHOOK_PATH", "/api/x")]))
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("KEFU_WEBHOOK_PATH"), "{err}");
    }

    #[test]
    fn an_unwritable_data_dir_is_refused_naming_the_variable() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("a-file");
        std::fs::write(&file, "x").unwrap();
        let c = Config::from_sources(
            None,
            env(&[("KEFU_DATA_DIR", file.join("sub").to_str().unwrap())]),
        )
        .unwrap();
        let err = c.prepare_data_dir().unwrap_err().to_string();
        assert!(err.starts_with("KEFU_DATA_DIR"), "{err}");
    }

    /// A command line that flattens `Settings`, as `cli::Cli` does.
    #[derive(Debug, Parser)]
    struct Line {
        #[command(flatten)]
        settings: Settings,
        #[command(subcommand)]
        command: Sub,
    }

    #[derive(Debug, clap::Subcommand)]
    enum Sub {
        Serve,
    }

    #[test]
    fn every_setting_is_named_alike_as_an_option_a_variable_and_a_file_key() {
        let command = Settings::augment_args(clap::Command::new("kefu"));
        for arg in command.get_arguments() {
            let id = arg.get_id().as_str();
            assert_eq!(arg.get_long(), Some(id.replace('_', "-").as_str()));
            let env = arg.get_env().and_then(|e| e.to_str());
            assert_eq!(
                env,
                Some(format!("KEFU_{}", id.to_ascii_uppercase()).as_str())
            );
            assert!(arg.is_global_set(), "{id} is an option of every command");
            assert!(arg.get_help().is_some(), "{id} has a description");
        }
        // every key of the file is read into its setting
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("kefu.toml");
        let keys: Vec<String> = setting_ids()
            .iter()
            .map(|id| format!("{id} = \"x\""))
            .collect();
        std::fs::write(&file, keys.join("\n")).unwrap();
        let layer = read_file(&file).unwrap();
        // one `Some(` per setting given, in the Debug form
        let given = format!("{:?}", layer.settings).matches("Some(").count();
        assert_eq!(given, setting_ids().len());
    }

    #[test]
    fn an_option_wins_over_its_variable_and_an_error_names_what_was_given() {
        let matches = Line::command()
            .try_get_matches_from(["kefu", "serve", "--listen", "nowhere"])
            .unwrap();
        let err = Config::load(&matches, None).unwrap_err().to_string();
        assert!(err.starts_with("--listen is not an address"), "{err}");

        let matches = Line::command()
            .try_get_matches_from(["kefu", "--webhook-max-age", "60", "serve"])
            .unwrap();
        assert_eq!(Config::load(&matches, None).unwrap().webhook_max_age, 60);
    }

    #[test]
    fn the_help_names_the_variable_of_every_option_and_hides_secrets() {
        let mut command = Line::command();
        let help = command.render_long_help().to_string();
        for id in setting_ids() {
            let var = format!("KEFU_{}", id.to_ascii_uppercase());
            assert!(help.contains(&format!("[env: {var}")), "{var} in\n{help}");
        }
        let serve = command
            .find_subcommand_mut("serve")
            .unwrap()
            .render_long_help()
            .to_string();
        assert!(serve.contains("[env: KEFU_LISTEN"), "{serve}");
        // a secret's value is never shown, even when its variable is set
        for id in [
            "wechat_token",
            "wechat_aes_key",
            "wechat_secret",
            "admin_password",
        ] {
            let arg = command.get_arguments().find(|a| a.get_id() == id).unwrap();
            assert!(arg.is_hide_env_values_set(), "{id}");
        }
    }

    #[test]
    fn a_file_value_may_be_a_number_or_a_boolean_but_not_a_table() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("kefu.toml");
        std::fs::write(&file, "reply_quota = 3\nwechat_format = \"xml\"\n").unwrap();
        let c = Config::from_sources(Some(&file), env(&[])).unwrap();
        assert_eq!(c.reply_rules.message_quota, 3);
        assert_eq!(c.wechat.format, Format::Xml);

        std::fs::write(&file, "listen = [1, 2]\n").unwrap();
        let err = Config::from_sources(Some(&file), env(&[]))
            .unwrap_err()
            .to_string();
        assert_eq!(
            err,
            format!("listen in {} must be a string or a number", file.display())
        );

        std::fs::write(&file, "reply_quota = 5000\n").unwrap();
        let err = Config::from_sources(Some(&file), env(&[]))
            .unwrap_err()
            .to_string();
        assert_eq!(
            err,
            format!(
                "reply_quota in {} must be a whole number from 0 to 1000 (got \"5000\")",
                file.display()
            )
        );
    }

    #[test]
    fn an_appid_not_shaped_as_wechats_is_refused_in_one_sentence() {
        for bad in [
            "notanappid",
            "wx1234567890ABCDEF",
            "wx1234567890abcde",
            "wxg234567890abcdef",
        ] {
            let err = Config::from_sources(None, env(&[("KEFU_WECHAT_APPID", bad)]))
                .unwrap_err()
                .to_string();
            assert!(err.starts_with("KEFU_WECHAT_APPID must be"), "{err}");
            assert!(err.contains(bad) && !err.contains('\n'), "{err}");
        }
        // the shapes the crypto vectors, the tests and a third-party platform use
        for good in [
            "wx1234567890abcdef",
            "wxba5fad812f8e6fb9",
            "wx134c8103faa5a59e",
        ] {
            let c = Config::from_sources(None, env(&[("KEFU_WECHAT_APPID", good)])).unwrap();
            assert_eq!(c.wechat.appid.as_deref(), Some(good));
        }
    }

    #[test]
    fn the_public_url_is_listed_first_among_what_is_missing() {
        let c = Config::from_sources(None, env(&[])).unwrap();
        assert_eq!(c.missing().first(), Some(&Missing::PublicUrl));
        let c = Config::from_sources(
            None,
            env(&[("KEFU_PUBLIC_URL", "https://kefu.example.com")]),
        )
        .unwrap();
        assert!(!c.missing().contains(&Missing::PublicUrl));
    }

    #[test]
    fn an_empty_variable_counts_as_unset_and_hides_the_files_value() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("kefu.toml");
        std::fs::write(&file, "wechat_token = \"filetoken\"\n").unwrap();
        let c = Config::from_sources(Some(&file), env(&[("KEFU_WECHAT_TOKEN", "")])).unwrap();
        assert!(c.wechat.token.is_none());
    }

    #[test]
    fn every_argument_of_every_command_has_a_description() {
        fn check(command: &clap::Command, path: &str) {
            for arg in command.get_arguments() {
                assert!(
                    arg.get_help().is_some() || arg.get_long_help().is_some(),
                    "{path} {} has no description",
                    arg.get_id()
                );
            }
            for sub in command.get_subcommands() {
                check(sub, &format!("{path} {}", sub.get_name()));
            }
        }
        let mut command = crate::cli::Cli::command();
        command.build();
        command.clone().debug_assert();
        check(&command, "kefu");
    }
}
