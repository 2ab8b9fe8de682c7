//! The one typed `Config`, read once at start from `KEFU_*` environment variables and an
//! optional TOML file (`--config FILE`, same keys in lower case without the prefix). The
//! environment wins over the file. A value that is present but wrong stops start-up with a
//! sentence naming where it came from; secrets never appear in `Debug` or in errors.

use std::collections::BTreeMap;
use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use crate::wechat::crypto::AesKey;
use crate::wechat::push::Format;

/// Every key kefu reads, in its file spelling; the variable is `KEFU_` + upper case.
const KEYS: &[&str] = &[
    "listen",
    "data_dir",
    "database_url",
    "wechat_token",
    "wechat_aes_key",
    "wechat_appid",
    "wechat_secret",
    "wechat_api_base",
    "wechat_format",
    "webhook_path",
    "webhook_max_age",
    "public_url",
    "reply_window_hours",
    "reply_quota",
    "enter_window_secs",
    "enter_quota",
    "delivery_retry_for",
    "delivery_backoff_ms",
    "delivery_concurrency",
    "admin_password",
    "log",
];

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

#[derive(Clone, Debug)]
pub struct Config {
    pub listen: SocketAddr,
    pub data_dir: PathBuf,
    pub database_url: String,
    pub wechat: WechatConfig,
    pub webhook_path: String,
    /// Seconds a push's timestamp may differ from now; 0 turns the replay check off.
    pub webhook_max_age: u64,
    /// The public https origin, without a trailing slash.
    pub public_url: Option<String>,
    pub admin_password: Option<Secret>,
    pub log: String,
    pub reply_rules: crate::domain::ReplyRules,
    pub delivery: DeliveryConfig,
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

#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct ConfigError(String);

/// Where a raw value came from, so an error can name it the way the operator wrote it.
struct Raw {
    value: String,
    source: String,
}

impl Config {
    /// Reads the process environment and, when given, the TOML file.
    pub fn load(file: Option<&Path>) -> Result<Config, ConfigError> {
        Self::from_sources(file, |name| std::env::var(name).ok())
    }

    /// Reads configuration from a file and an environment lookup (tests pass their own).
    pub fn from_sources(
        file: Option<&Path>,
        env: impl Fn(&str) -> Option<String>,
    ) -> Result<Config, ConfigError> {
        let mut raw: BTreeMap<&'static str, Raw> = BTreeMap::new();
        if let Some(path) = file {
            for (key, value) in read_file(path)? {
                raw.insert(key, value);
            }
        }
        for key in KEYS {
            let name = var_name(key);
            if let Some(value) = env(&name) {
                raw.insert(
                    key,
                    Raw {
                        value,
                        source: name,
                    },
                );
            }
        }
        // An empty value means "not set": `KEFU_WECHAT_TOKEN=` in a unit file is common.
        raw.retain(|_, r| !r.value.trim().is_empty());
        let get = |key: &str| raw.get(key);

        let listen = match get("listen") {
            Some(r) => r.value.trim().parse().map_err(|_| {
                ConfigError(format!(
                    "{} is not an address like 127.0.0.1:8080 (got {:?})",
                    r.source, r.value
                ))
            })?,
            None => SocketAddr::from(([127, 0, 0, 1], 8080)),
        };
        let data_dir = PathBuf::from(get("data_dir").map_or("./kefu-data", |r| r.value.as_str()));
        let database_url = match get("database_url") {
            Some(r) if !r.value.starts_with("sqlite:") => {
                return Err(ConfigError(format!(
                    "{} must be a sqlite: URL; other databases are not supported yet",
                    r.source
                )));
            }
            Some(r) => r.value.clone(),
            None => format!("sqlite://{}/kefu.db", data_dir.display()),
        };
        let aes_key = match get("wechat_aes_key") {
            Some(r) => Some(AesKey::from_encoding_key(r.value.trim()).map_err(|_| {
                ConfigError(format!(
                    "{} must be the 43-character EncodingAESKey of base64 letters (it has {} characters)",
                    r.source,
                    r.value.trim().chars().count()
                ))
            })?),
            None => None,
        };
        let appid = get("wechat_appid").map(|r| r.value.trim().to_owned());
        if let Some(r) = get("wechat_appid")
            && !r
                .value
                .trim()
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_')
        {
            return Err(ConfigError(format!(
                "{} must be the mini program's AppID, letters and digits like wx1234567890abcdef",
                r.source
            )));
        }
        let api_base = match get("wechat_api_base") {
            Some(r) => http_url(r)?,
            None => "https://api.weixin.qq.com".to_owned(),
        };
        let format = match get("wechat_format").map(|r| (r, r.value.trim().to_ascii_lowercase())) {
            None => Format::Json,
            Some((_, v)) if v == "json" => Format::Json,
            Some((_, v)) if v == "xml" => Format::Xml,
            Some((r, _)) => {
                return Err(ConfigError(format!("{} must be json or xml", r.source)));
            }
        };
        let webhook_path = match get("webhook_path") {
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
        let webhook_max_age = match get("webhook_max_age") {
            Some(r) => r.value.trim().parse().map_err(|_| {
                ConfigError(format!(
                    "{} must be a whole number of seconds (got {:?})",
                    r.source, r.value
                ))
            })?,
            None => 300,
        };
        let public_url = match get("public_url") {
            Some(r) => Some(http_url(r)?),
            None => None,
        };
        let number = |key: &str, default: u64, min: u64, max: u64| -> Result<u64, ConfigError> {
            match get(key) {
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
            }
        };
        let reply_rules = crate::domain::ReplyRules {
            message_window_ms: number("reply_window_hours", 48, 1, 24 * 30)? as i64 * 3_600_000,
            message_quota: number("reply_quota", 5, 0, 1000)? as u32,
            enter_window_ms: number("enter_window_secs", 60, 0, 86_400)? as i64 * 1000,
            enter_quota: number("enter_quota", 2, 0, 1000)? as u32,
        };
        let delivery = DeliveryConfig {
            retry_for_ms: number("delivery_retry_for", 1800, 0, 7 * 86_400)? as i64 * 1000,
            backoff_ms: number("delivery_backoff_ms", 1000, 1, 3_600_000)? as i64,
            concurrency: number("delivery_concurrency", 128, 1, 4096)? as usize,
        };
        Ok(Config {
            reply_rules,
            delivery,
            listen,
            data_dir,
            database_url,
            wechat: WechatConfig {
                token: get("wechat_token").map(|r| Secret::new(r.value.trim())),
                aes_key,
                appid,
                secret: get("wechat_secret").map(|r| Secret::new(r.value.trim())),
                api_base,
                format,
            },
            webhook_path,
            webhook_max_age,
            public_url,
            admin_password: get("admin_password").map(|r| Secret::new(r.value.clone())),
            log: get("log").map_or_else(|| "info".to_owned(), |r| r.value.clone()),
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
        std::fs::create_dir_all(&self.data_dir).map_err(fail)?;
        let probe = self.data_dir.join(".kefu-write-probe");
        std::fs::write(&probe, b"ok").map_err(fail)?;
        std::fs::remove_file(&probe).map_err(fail)?;
        Ok(())
    }

    /// What is missing for each part of the WeChat integration, as sentences for the log.
    pub fn missing_wechat(&self) -> Vec<&'static str> {
        let w = &self.wechat;
        let mut missing = Vec::new();
        if w.token.is_none() {
            missing.push("KEFU_WECHAT_TOKEN is not set: every push will be refused until it is");
        }
        if w.aes_key.is_none() {
            missing.push("KEFU_WECHAT_AES_KEY is not set: only plaintext-mode pushes can be read");
        }
        if w.appid.is_none() {
            missing.push("KEFU_WECHAT_APPID is not set: encrypted pushes cannot be checked");
        }
        if w.secret.is_none() {
            missing.push("KEFU_WECHAT_SECRET is not set: replies cannot be sent to WeChat");
        }
        missing
    }
}

fn var_name(key: &str) -> String {
    format!("KEFU_{}", key.to_ascii_uppercase())
}

fn http_url(r: &Raw) -> Result<String, ConfigError> {
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

fn read_file(path: &Path) -> Result<Vec<(&'static str, Raw)>, ConfigError> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| ConfigError(format!("cannot read config file {}: {e}", path.display())))?;
    let table: toml::Table = text.parse().map_err(|e: toml::de::Error| {
        ConfigError(format!(
            "config file {} is not valid TOML: {}",
            path.display(),
            e.message()
        ))
    })?;
    let mut out = Vec::new();
    for (key, value) in table {
        let Some(known) = KEYS.iter().find(|k| **k == key) else {
            return Err(ConfigError(format!(
                "config file {} has an unknown key {key:?}",
                path.display()
            )));
        };
        let value = match value {
            toml::Value::String(s) => s,
            toml::Value::Integer(i) => i.to_string(),
            toml::Value::Boolean(b) => b.to_string(),
            _ => {
                return Err(ConfigError(format!(
                    "{key} in {} must be a string or a number",
                    path.display()
                )));
            }
        };
        out.push((
            *known,
            Raw {
                value,
                source: format!("{key} in {}", path.display()),
            },
        ));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
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
}
