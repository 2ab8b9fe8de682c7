//! The client for WeChat's server API: access token, customer-service send, typing, and
//! temporary media. One pooled HTTP client with timeouts. No database here: the token is
//! persisted through the `TokenStore` the caller provides.
//!
//! The token is single-flight: however many sends find it expired, one request refreshes it
//! and the rest wait for that answer. On a token error (40001/40014/42001) it is invalidated
//! only if it is still the current one (another task may have refreshed it already), then the
//! call is retried once with a fresh token (WxJava's pattern, docs/WECHAT.md §7).
//!
//! Invalidation clears the cached token and the stored one as one step, under the same lock
//! that reloading the stored token takes: cleared one after the other without it, a second
//! sender could read the stale stored token in between and cache it again, and the first
//! sender's single retry would go out with the very token WeChat had just refused. The retry
//! also refuses that token outright, wherever it comes from.

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use serde_json::{Value, json};

use crate::config::Secret;
use crate::domain::{Millis, now_millis};

pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Where the access token is kept between calls and processes.
pub trait TokenStore: Send + Sync {
    fn load(&self) -> BoxFuture<'_, Option<(String, Millis)>>;
    fn save<'a>(&'a self, token: &'a str, expires_at: Millis) -> BoxFuture<'a, ()>;
    /// forget `token` only if it is still the stored one
    fn invalidate<'a>(&'a self, token: &'a str) -> BoxFuture<'a, ()>;
}

/// A token is refreshed this long before WeChat says it expires.
const REFRESH_AHEAD_MS: Millis = 5 * 60 * 1000;
const TOKEN_ERRORS: [i64; 3] = [40001, 40014, 42001];

/// Why a call did not succeed, split by what the caller should do about it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ApiError {
    /// Worth retrying later: network trouble, timeouts, 5xx, WeChat busy (-1) or rate limits.
    #[error("{message}")]
    Transient { code: String, message: String },
    /// WeChat refused for good; retrying will not help.
    #[error("{message}")]
    Refused { code: String, message: String },
}

impl ApiError {
    pub fn code(&self) -> &str {
        match self {
            ApiError::Transient { code, .. } | ApiError::Refused { code, .. } => code,
        }
    }
    pub fn is_transient(&self) -> bool {
        matches!(self, ApiError::Transient { .. })
    }
}

impl ApiError {
    /// The conversation's channel has no AppID and AppSecret (removed, or never given): a
    /// passing state an admin fixes in the console, so what waits is tried again later.
    pub fn cannot_send() -> ApiError {
        ApiError::Transient {
            code: "channel_cannot_send".to_owned(),
            message: "the channel has no AppID and AppSecret, so kefu cannot call WeChat for it; kefu will retry"
                .to_owned(),
        }
    }
}

/// WeChat's errcode as kefu's outcome, with a sentence an agent can act on.
pub fn classify(errcode: i64, errmsg: &str) -> ApiError {
    let code = errcode.to_string();
    let refused = |message: &str| ApiError::Refused {
        code: code.clone(),
        message: format!("{message} (WeChat {errcode})"),
    };
    match errcode {
        -1 => ApiError::Transient {
            code,
            message: "WeChat is busy (system error -1); kefu will retry".into(),
        },
        45009 => ApiError::Transient {
            code,
            message: "the daily API quota is used up (WeChat 45009); kefu will retry".into(),
        },
        45011 => ApiError::Transient {
            code,
            message: "WeChat says the API is called too often (45011); kefu will retry".into(),
        },
        45015 => {
            refused("the 48-hour reply window has passed: the customer must write again first")
        }
        45047 => refused("the reply quota for the customer's last message is used up"),
        40003 => refused("WeChat does not know this customer's openid for this mini program"),
        40007 => refused("the image or cover has expired or is not valid"),
        40004 => refused("WeChat does not accept this kind of media"),
        47001 => refused("WeChat could not read the message kefu sent"),
        48001 => refused("this mini program is not allowed to send customer-service messages"),
        40013 => refused("KEFU_WECHAT_APPID is not a valid AppID"),
        40125 | 40001 => refused(
            "WeChat refused kefu's credentials: check KEFU_WECHAT_APPID and KEFU_WECHAT_SECRET",
        ),
        40014 | 42001 => refused("WeChat refused kefu's access token even after a refresh"),
        45072 | 45080 | 45081 => refused("WeChat refused the typing indicator"),
        _ => ApiError::Refused {
            code,
            message: format!("WeChat refused: {} ({errcode})", clip(errmsg)),
        },
    }
}

fn clip(s: &str) -> String {
    let s: String = s.chars().take(120).collect();
    if s.is_empty() {
        "no reason given".into()
    } else {
        s
    }
}

fn transport(e: &reqwest::Error) -> ApiError {
    let (code, what) = if e.is_timeout() {
        ("timeout", "WeChat did not answer in time")
    } else if e.is_connect() {
        ("network", "kefu could not connect to WeChat's API")
    } else {
        ("network", "the connection to WeChat's API failed")
    };
    ApiError::Transient {
        code: code.into(),
        message: format!("{what}; kefu will retry"),
    }
}

#[derive(Clone)]
struct Token {
    value: String,
    expires_at: Millis,
}

/// The API client; share it behind an `Arc`.
pub struct WechatApi {
    http: reqwest::Client,
    base: String,
    appid: String,
    secret: Secret,
    current: RwLock<Option<Token>>,
    refresh: tokio::sync::Mutex<()>,
    tokens: Arc<dyn TokenStore>,
}

/// Outgoing typing indicator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Typing {
    Start,
    Stop,
}

/// What `media/upload` is asked to keep (its `type`): WeChat checks the file against it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UploadKind {
    Image,
    Voice,
    Video,
}

impl UploadKind {
    pub fn as_str(self) -> &'static str {
        match self {
            UploadKind::Image => "image",
            UploadKind::Voice => "voice",
            UploadKind::Video => "video",
        }
    }
}

impl WechatApi {
    pub fn new(
        base: &str,
        appid: &str,
        secret: Secret,
        tokens: Arc<dyn TokenStore>,
    ) -> Result<WechatApi, reqwest::Error> {
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(5))
            .timeout(Duration::from_secs(15))
            .pool_max_idle_per_host(256)
            .build()?;
        Ok(WechatApi {
            http,
            base: base.trim_end_matches('/').to_owned(),
            appid: appid.to_owned(),
            secret,
            current: RwLock::new(None),
            refresh: tokio::sync::Mutex::new(()),
            tokens,
        })
    }

    /// A valid access token: the cached one, the stored one, or (one caller at a time) a
    /// fresh one from `stable_token`.
    pub async fn access_token(&self) -> Result<String, ApiError> {
        self.token_other_than(None).await
    }

    /// `access_token`, never answering `failed` (the token WeChat just refused): a retry with
    /// it would be refused again and fail the call for good.
    async fn token_other_than(&self, failed: Option<&str>) -> Result<String, ApiError> {
        let usable = |t: &str| failed != Some(t);
        if let Some(t) = self.cached().filter(|t| usable(t)) {
            return Ok(t);
        }
        let _only_one = self.refresh.lock().await;
        if let Some(t) = self.cached().filter(|t| usable(t)) {
            return Ok(t);
        }
        if let Some((value, expires_at)) = self.tokens.load().await
            && usable(&value)
            && expires_at - REFRESH_AHEAD_MS > now_millis()
        {
            self.set_cached(Some(Token {
                value: value.clone(),
                expires_at,
            }));
            return Ok(value);
        }
        let body = json!({
            "grant_type": "client_credential",
            "appid": self.appid,
            "secret": self.secret.expose(),
            "force_refresh": false,
        });
        let refreshed = |outcome: &'static str| {
            metrics::counter!("kefu_wechat_token_refreshes_total", "outcome" => outcome)
                .increment(1);
        };
        let answer = match self.post_raw("/cgi-bin/stable_token", None, &body).await {
            Ok(a) => a,
            Err(e) => {
                refreshed("failed");
                return Err(e);
            }
        };
        let (Some(value), Some(expires_in)) = (
            answer.get("access_token").and_then(Value::as_str),
            answer.get("expires_in").and_then(Value::as_i64),
        ) else {
            refreshed("failed");
            return Err(answer_error(&answer));
        };
        refreshed("ok");
        if !usable(value) {
            // stable_token hands out the same token while WeChat deems it valid: keep neither
            // it nor the call, and let the caller try again later
            return Err(ApiError::Transient {
                code: "stale_token".into(),
                message: "WeChat gave back the access token it had just refused; kefu will retry"
                    .into(),
            });
        }
        let expires_at = now_millis() + expires_in * 1000;
        self.tokens.save(value, expires_at).await;
        self.set_cached(Some(Token {
            value: value.to_owned(),
            expires_at,
        }));
        tracing::info!(expires_in_s = expires_in, "fetched a WeChat access token");
        Ok(value.to_owned())
    }

    fn cached(&self) -> Option<String> {
        let guard = self.current.read().unwrap_or_else(|e| e.into_inner());
        guard
            .as_ref()
            .filter(|t| t.expires_at - REFRESH_AHEAD_MS > now_millis())
            .map(|t| t.value.clone())
    }

    fn set_cached(&self, token: Option<Token>) {
        *self.current.write().unwrap_or_else(|e| e.into_inner()) = token;
    }

    /// Drops `failed` if it is still current, in memory and in the store, as one step: under
    /// the refresh lock, so that no `access_token` can reload the stale stored token between
    /// the two (it reloads only while holding that lock).
    async fn invalidate(&self, failed: &str) {
        let _only_one = self.refresh.lock().await;
        {
            let mut guard = self.current.write().unwrap_or_else(|e| e.into_inner());
            if guard.as_ref().is_some_and(|t| t.value == failed) {
                *guard = None;
            }
        }
        self.tokens.invalidate(failed).await;
    }

    /// `POST /cgi-bin/message/custom/send` with a body built by `send_body`.
    pub async fn send(&self, body: &Value) -> Result<(), ApiError> {
        let sent = self
            .call_json("/cgi-bin/message/custom/send", body)
            .await
            .map(|_| ());
        let errcode = match &sent {
            Ok(()) => "0".to_owned(),
            Err(e) => e.code().to_owned(),
        };
        metrics::counter!("kefu_wechat_sends_total", "errcode" => errcode).increment(1);
        sent
    }

    pub async fn typing(&self, openid: &str, typing: Typing) -> Result<(), ApiError> {
        let command = match typing {
            Typing::Start => "Typing",
            Typing::Stop => "CancelTyping",
        };
        self.call_json(
            "/cgi-bin/message/custom/typing",
            &json!({ "touser": openid, "command": command }),
        )
        .await
        .map(|_| ())
    }

    /// Uploads a file as temporary media (valid 3 days) of `kind`: an image (a mini program
    /// takes only these), or an Official Account's voice message or video; returns its media_id.
    pub async fn upload_media(
        &self,
        kind: UploadKind,
        filename: &str,
        content_type: &str,
        bytes: Vec<u8>,
    ) -> Result<String, ApiError> {
        let mut failed: Option<String> = None;
        for attempt in 0..2 {
            let token = self.token_other_than(failed.as_deref()).await?;
            let part = reqwest::multipart::Part::bytes(bytes.clone())
                .file_name(filename.to_owned())
                .mime_str(content_type)
                .map_err(|_| ApiError::Refused {
                    code: "bad_media".into(),
                    message: format!("{content_type} is not a media type kefu can upload"),
                })?;
            let form = reqwest::multipart::Form::new().part("media", part);
            let response = self
                .http
                .post(format!("{}/cgi-bin/media/upload", self.base))
                .query(&[("access_token", token.as_str()), ("type", kind.as_str())])
                .multipart(form)
                .send()
                .await
                .map_err(|e| transport(&e))?;
            let answer = read_json(response).await?;
            match errcode(&answer) {
                0 => {
                    return answer
                        .get("media_id")
                        .and_then(Value::as_str)
                        .map(str::to_owned)
                        .ok_or_else(|| answer_error(&answer));
                }
                code if TOKEN_ERRORS.contains(&code) && attempt == 0 => {
                    self.invalidate(&token).await;
                    failed = Some(token);
                }
                _ => return Err(answer_error(&answer)),
            }
        }
        Err(classify(42001, "access_token expired"))
    }

    /// Downloads temporary media: the Content-Type and the bytes. WeChat answers errors as
    /// JSON, so the Content-Type decides which it is; for a video it answers JSON too, with
    /// the address of the file (`{"video_url": …}`), which is then fetched (http(s) only, no
    /// token sent along). At most `MAX_MEDIA_BYTES` are read.
    pub async fn get_media(&self, media_id: &str) -> Result<(String, Vec<u8>), ApiError> {
        let mut failed: Option<String> = None;
        for attempt in 0..2 {
            let token = self.token_other_than(failed.as_deref()).await?;
            let response = self
                .http
                .get(format!("{}/cgi-bin/media/get", self.base))
                .query(&[("access_token", token.as_str()), ("media_id", media_id)])
                .send()
                .await
                .map_err(|e| transport(&e))?;
            check_status(&response)?;
            let content_type = response
                .headers()
                .get(reqwest::header::CONTENT_TYPE)
                .and_then(|v| v.to_str().ok())
                .unwrap_or("application/octet-stream")
                .to_owned();
            if content_type.starts_with("application/json") || content_type.starts_with("text/") {
                let answer = read_json(response).await?;
                if errcode(&answer) == 0
                    && let Some(video_url) = answer.get("video_url").and_then(Value::as_str)
                {
                    return self.download(video_url).await;
                }
                match errcode(&answer) {
                    code if TOKEN_ERRORS.contains(&code) && attempt == 0 => {
                        self.invalidate(&token).await;
                        failed = Some(token);
                        continue;
                    }
                    _ => return Err(answer_error(&answer)),
                }
            }
            let bytes = read_capped(response, MAX_MEDIA_BYTES).await?;
            return Ok((content_type, bytes));
        }
        Err(classify(42001, "access_token expired"))
    }

    /// The file at an address WeChat gave (a video's `video_url`).
    async fn download(&self, url: &str) -> Result<(String, Vec<u8>), ApiError> {
        let lower = url.trim().to_ascii_lowercase();
        if !(lower.starts_with("http://") || lower.starts_with("https://")) {
            return Err(ApiError::Refused {
                code: "bad_video_url".into(),
                message: "WeChat gave no usable address for the video".into(),
            });
        }
        let response = self
            .http
            .get(url.trim())
            // a video is larger than the API's answers
            .timeout(Duration::from_secs(120))
            .send()
            .await
            .map_err(|e| transport(&e))?;
        check_status(&response)?;
        let content_type = response
            .headers()
            .get(reqwest::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("application/octet-stream")
            .to_owned();
        let bytes = read_capped(response, MAX_MEDIA_BYTES).await?;
        Ok((content_type, bytes))
    }

    /// A JSON API call with the token, retried once with a fresh token on a token error.
    async fn call_json(&self, path: &str, body: &Value) -> Result<Value, ApiError> {
        let mut failed: Option<String> = None;
        for attempt in 0..2 {
            let token = self.token_other_than(failed.as_deref()).await?;
            let answer = self.post_raw(path, Some(&token), body).await?;
            match errcode(&answer) {
                0 => return Ok(answer),
                code if TOKEN_ERRORS.contains(&code) && attempt == 0 => {
                    tracing::info!(
                        wechat.errcode = code,
                        "WeChat refused the access token; refreshing once"
                    );
                    self.invalidate(&token).await;
                    failed = Some(token);
                }
                _ => return Err(answer_error(&answer)),
            }
        }
        Err(classify(42001, "access_token expired"))
    }

    async fn post_raw(
        &self,
        path: &str,
        token: Option<&str>,
        body: &Value,
    ) -> Result<Value, ApiError> {
        let mut request = self.http.post(format!("{}{path}", self.base)).json(body);
        if let Some(token) = token {
            request = request.query(&[("access_token", token)]);
        }
        let response = request.send().await.map_err(|e| transport(&e))?;
        read_json(response).await
    }
}

fn check_status(response: &reqwest::Response) -> Result<(), ApiError> {
    let status = response.status();
    if status.is_server_error() || status.as_u16() == 429 {
        return Err(ApiError::Transient {
            code: format!("http_{}", status.as_u16()),
            message: format!(
                "WeChat's API answered HTTP {}; kefu will retry",
                status.as_u16()
            ),
        });
    }
    if !status.is_success() {
        return Err(ApiError::Refused {
            code: format!("http_{}", status.as_u16()),
            message: format!("WeChat's API answered HTTP {}", status.as_u16()),
        });
    }
    Ok(())
}

/// The most kefu reads of one file from WeChat (its own limits: images 10 MB, voice 2 MB,
/// video 10 MB); the media worker applies each kind's own limit below this.
pub const MAX_MEDIA_BYTES: usize = 32 * 1024 * 1024;

/// The body, refused once it grows past `cap` bytes (never held whole before the check).
async fn read_capped(mut response: reqwest::Response, cap: usize) -> Result<Vec<u8>, ApiError> {
    let mut bytes = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(|e| transport(&e))? {
        if bytes.len() + chunk.len() > cap {
            return Err(ApiError::Refused {
                code: "too_large".into(),
                message: format!("the file is larger than {} MiB", cap >> 20),
            });
        }
        bytes.extend_from_slice(&chunk);
    }
    Ok(bytes)
}

async fn read_json(response: reqwest::Response) -> Result<Value, ApiError> {
    check_status(&response)?;
    let bytes = response.bytes().await.map_err(|e| transport(&e))?;
    serde_json::from_slice(&bytes).map_err(|_| ApiError::Transient {
        code: "bad_answer".into(),
        message: "WeChat's API answered something that is not JSON; kefu will retry".into(),
    })
}

fn errcode(answer: &Value) -> i64 {
    answer.get("errcode").and_then(Value::as_i64).unwrap_or(0)
}

fn answer_error(answer: &Value) -> ApiError {
    let code = answer.get("errcode").and_then(Value::as_i64);
    let msg = answer
        .get("errmsg")
        .and_then(Value::as_str)
        .unwrap_or_default();
    match code {
        Some(code) => classify(code, msg),
        None => ApiError::Transient {
            code: "bad_answer".into(),
            message: "WeChat's API answered without the expected fields; kefu will retry".into(),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn busy_and_rate_limits_are_transient_and_window_and_quota_are_final() {
        for code in [-1, 45009, 45011] {
            assert!(classify(code, "").is_transient(), "{code}");
        }
        for code in [45015, 45047, 40003, 40007, 48001, 12345] {
            assert!(!classify(code, "").is_transient(), "{code}");
        }
        assert_eq!(classify(45015, "").code(), "45015");
        assert!(classify(45015, "").to_string().contains("48-hour"));
        assert!(
            classify(99999, "weird thing")
                .to_string()
                .contains("weird thing")
        );
    }
}
