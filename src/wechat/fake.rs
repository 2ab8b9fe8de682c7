//! A fake WeChat API: a real HTTP server on 127.0.0.1 that answers the endpoints kefu calls
//! (`/cgi-bin/token`, `/cgi-bin/stable_token`, `/cgi-bin/message/custom/send`,
//! `/cgi-bin/message/custom/typing`, `/cgi-bin/media/upload` and `/cgi-bin/media/get`) the way
//! WeChat does: HTTP 200 with `{"errcode":N,"errmsg":"..."}` on errors, strict validation of
//! request bodies, access tokens that expire or get superseded, media that must have been
//! uploaded before it can be sent. Every request is recorded (`calls`), every accepted
//! customer-service message too (`sent`, `wait_for_sent`), and faults can be injected (expired
//! tokens, the next n calls failing, a refused openid, latency). It serves kefu's integration
//! tests and `kefu demo`, which runs the whole product without a WeChat account.
//!
//! Behaviour beyond the protocol notes (§5–§7), chosen to stay close to WeChat:
//! - a new `/cgi-bin/token` fetch leaves the previous classic token valid for 5 more minutes;
//!   a `stable_token` call with `force_refresh` forgets the previous stable token at once, so it
//!   then answers 40014;
//! - on API calls the access token is checked first, then the injected failures (`fail_next`,
//!   which only counts calls that got past the token check), then refused openids (send and
//!   typing, since typing needs the same send conditions), then the body;
//! - media lives for 3 days; `media/get` also accepts POST, as PowerWeChat calls it;
//! - a body over 12 MiB is answered with HTTP 413 and recorded with errcode 413.

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{Query, Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use rand::Rng;
use rand::distr::Alphanumeric;
use serde_json::{Map, Value, json};
use tokio::sync::{Notify, oneshot};
use tokio::task::JoinHandle;

/// Request bodies above this are answered with HTTP 413.
const MAX_BODY: usize = 12 * 1024 * 1024;
/// The largest image (and video) `media/upload` accepts.
const MAX_MEDIA: usize = 10 * 1024 * 1024;
/// The largest voice file `media/upload` accepts.
const MAX_VOICE: usize = 2 * 1024 * 1024;
/// The most items a menu message may list.
const MAX_MENU_ITEMS: usize = 10;
/// Temporary media is valid for 3 days.
const MEDIA_TTL: Duration = Duration::from_secs(3 * 24 * 3600);
/// A superseded `/cgi-bin/token` token stays usable this long.
const CLASSIC_OVERLAP: Duration = Duration::from_secs(300);
/// The Content-Type WeChat puts on its JSON answers.
const JSON_CONTENT_TYPE: &str = "application/json; encoding=utf-8";
/// Recorded non-JSON bodies are cut to this many bytes.
const MAX_RECORDED_TEXT: usize = 4096;

/// The accounts the fake serves: one, and any number more (`with_account`), each with its
/// own tokens, as WeChat serves every AppID from one API.
#[derive(Debug, Clone)]
pub struct FakeConfig {
    pub appid: String,
    pub secret: String,
    /// seconds, default 7200
    pub token_ttl_secs: i64,
    /// more (AppID, AppSecret) pairs
    pub more_accounts: Vec<(String, String)>,
}

impl FakeConfig {
    pub fn new(appid: impl Into<String>, secret: impl Into<String>) -> Self {
        Self {
            appid: appid.into(),
            secret: secret.into(),
            token_ttl_secs: 7200,
            more_accounts: Vec::new(),
        }
    }

    /// Serves another AppID too.
    pub fn with_account(mut self, appid: impl Into<String>, secret: impl Into<String>) -> Self {
        self.more_accounts.push((appid.into(), secret.into()));
        self
    }

    /// The AppSecret of `appid`, if the fake serves it.
    fn secret_of(&self, appid: &str) -> Option<&str> {
        if appid == self.appid {
            return Some(&self.secret);
        }
        self.more_accounts
            .iter()
            .find(|(a, _)| a == appid)
            .map(|(_, s)| s.as_str())
    }

    fn token_ttl(&self) -> Duration {
        Duration::from_secs(u64::try_from(self.token_ttl_secs).unwrap_or(0))
    }
}

/// One request the fake received, with the errcode it answered.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Call {
    pub method: String,
    pub path: String,
    pub query: BTreeMap<String, String>,
    /// The JSON body; a summary `{"multipart":[{name, filename, content_type, size}]}` for
    /// multipart bodies; the (cut) text for other bodies; `None` when empty.
    pub body: Option<Value>,
    /// the errcode answered (0 for success, or for media/get binary)
    pub errcode: i64,
}

/// A customer-service message the fake accepted.
#[derive(Debug, Clone, serde::Serialize)]
pub struct SentMessage {
    /// the AppID whose access token sent it
    pub appid: String,
    pub touser: String,
    pub msgtype: String,
    /// The whole request body, as sent (`touser`, `msgtype` and the payload).
    pub body: Value,
    pub at_ms: i64,
}

/// A running fake WeChat API server. Stops on `stop()` or when dropped.
pub struct FakeWechat {
    addr: SocketAddr,
    shared: Arc<Shared>,
    shutdown: Option<oneshot::Sender<()>>,
    server: Option<JoinHandle<()>>,
}

impl fmt::Debug for FakeWechat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FakeWechat")
            .field("addr", &self.addr)
            .field("appid", &self.shared.config.appid)
            .finish_non_exhaustive()
    }
}

struct Shared {
    config: FakeConfig,
    inner: Mutex<Inner>,
    /// Signalled on every accepted send.
    sent_signal: Notify,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, Inner> {
        // A panic elsewhere must not take the fake down with it: the state stays usable.
        self.inner
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

#[derive(Default)]
struct Inner {
    calls: Vec<Call>,
    sent: Vec<SentMessage>,
    tokens: HashMap<String, TokenEntry>,
    /// each AppID's latest token from each endpoint
    classic_current: HashMap<String, String>,
    stable_current: HashMap<String, String>,
    /// the AppID of the access token of the call being answered
    calling_appid: String,
    token_requests: usize,
    fail_next: Option<InjectedFailure>,
    refused: HashMap<String, (i64, String)>,
    latency: Duration,
    media: HashMap<String, Media>,
    /// How a wrong AppSecret is answered; None: 40001 "invalid credential".
    wrong_secret: Option<(i64, String)>,
    /// Seconds added to the time in every answer's `Date` header.
    clock_offset_secs: i64,
}

struct TokenEntry {
    appid: String,
    expires_at: Instant,
    /// Set by `expire_tokens`.
    expired: bool,
}

impl TokenEntry {
    fn is_valid(&self, now: Instant) -> bool {
        !self.expired && now < self.expires_at
    }
}

struct InjectedFailure {
    remaining: usize,
    errcode: i64,
    errmsg: String,
}

struct Media {
    content_type: String,
    bytes: Vec<u8>,
    created: Instant,
    /// Uploaded through `media/upload` (as opposed to `add_media`).
    uploaded: bool,
}

impl Inner {
    fn media_valid(&self, media_id: &str) -> bool {
        self.media
            .get(media_id)
            .is_some_and(|m| m.created.elapsed() < MEDIA_TTL)
    }
}

impl FakeWechat {
    /// Binds 127.0.0.1:0 and serves until stop() or drop.
    pub async fn start(config: FakeConfig) -> std::io::Result<FakeWechat> {
        let listener = tokio::net::TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).await?;
        Self::start_on(config, listener).await
    }

    /// Same on a given listener (for `kefu demo`, which may choose the port).
    pub async fn start_on(
        config: FakeConfig,
        listener: tokio::net::TcpListener,
    ) -> std::io::Result<FakeWechat> {
        let addr = listener.local_addr()?;
        let shared = Arc::new(Shared {
            config,
            inner: Mutex::new(Inner::default()),
            sent_signal: Notify::new(),
        });
        let router = Router::new()
            .fallback(handle)
            .with_state(Arc::clone(&shared));
        let (shutdown_tx, shutdown_rx) = oneshot::channel::<()>();
        let server = tokio::spawn(async move {
            let served = axum::serve(listener, router)
                .with_graceful_shutdown(async move {
                    // A dropped sender shuts down too.
                    let _ = shutdown_rx.await;
                })
                .await;
            if let Err(error) = served {
                tracing::warn!(%error, "fake WeChat server stopped with an error");
            }
        });
        tracing::debug!(%addr, "fake WeChat API listening");
        Ok(FakeWechat {
            addr,
            shared,
            shutdown: Some(shutdown_tx),
            server: Some(server),
        })
    }

    /// "http://127.0.0.1:PORT" (a wildcard listener is reached through loopback).
    pub fn base_url(&self) -> String {
        let ip = match self.addr.ip() {
            IpAddr::V4(ip) if ip.is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST),
            IpAddr::V6(ip) if ip.is_unspecified() => IpAddr::V6(Ipv6Addr::LOCALHOST),
            ip => ip,
        };
        format!("http://{}", SocketAddr::new(ip, self.addr.port()))
    }

    /// Every request, in order.
    pub fn calls(&self) -> Vec<Call> {
        self.shared.lock().calls.clone()
    }

    /// Every request to `path` (for example `/cgi-bin/message/custom/typing`), in order.
    pub fn calls_to(&self, path: &str) -> Vec<Call> {
        self.shared
            .lock()
            .calls
            .iter()
            .filter(|c| c.path == path)
            .cloned()
            .collect()
    }

    /// Every accepted custom/send, in order.
    pub fn sent(&self) -> Vec<SentMessage> {
        self.shared.lock().sent.clone()
    }

    /// Every accepted custom/send to `openid`, in order.
    pub fn sent_to(&self, openid: &str) -> Vec<SentMessage> {
        self.shared
            .lock()
            .sent
            .iter()
            .filter(|m| m.touser == openid)
            .cloned()
            .collect()
    }

    /// How many token / stable_token calls were made (whatever they answered).
    pub fn token_requests(&self) -> usize {
        self.shared.lock().token_requests
    }

    /// Waits until at least `n` messages were accepted, or the timeout passes; returns what was
    /// sent by then.
    pub async fn wait_for_sent(&self, n: usize, timeout: Duration) -> Vec<SentMessage> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let notified = self.shared.sent_signal.notified();
            let mut notified = std::pin::pin!(notified);
            // Registered before the check, so a send between the check and the wait is seen.
            notified.as_mut().enable();
            {
                let inner = self.shared.lock();
                if inner.sent.len() >= n {
                    return inner.sent.clone();
                }
            }
            if tokio::time::timeout_at(deadline, notified).await.is_err() {
                return self.sent();
            }
        }
    }

    /// Every token issued so far now answers 42001.
    pub fn expire_tokens(&self) {
        for entry in self.shared.lock().tokens.values_mut() {
            entry.expired = true;
        }
    }

    /// The next `n` send/typing/upload calls (past the token check) answer this error.
    /// Replaces any failures still pending; `n == 0` clears them.
    pub fn fail_next(&self, n: usize, errcode: i64, errmsg: &str) {
        self.shared.lock().fail_next = (n > 0).then(|| InjectedFailure {
            remaining: n,
            errcode,
            errmsg: errmsg.to_owned(),
        });
    }

    /// Every send (and typing) to this openid answers this error, e.g. 45015
    /// "response out of time limit or subscription is canceled".
    pub fn refuse_openid(&self, openid: &str, errcode: i64, errmsg: &str) {
        self.shared
            .lock()
            .refused
            .insert(openid.to_owned(), (errcode, errmsg.to_owned()));
    }

    /// Added to every answer.
    pub fn set_latency(&self, latency: Duration) {
        self.shared.lock().latency = latency;
    }

    /// How the token endpoints answer a wrong AppSecret from now on. WeChat documents 40001
    /// (the default here) but its live API answers 40125 "invalid appsecret".
    pub fn answer_wrong_secret_with(&self, errcode: i64, errmsg: &str) {
        self.shared.lock().wrong_secret = Some((errcode, errmsg.to_owned()));
    }

    /// Every answer's `Date` header says now plus `secs` (a WeChat whose clock differs from
    /// this machine's, as `kefu doctor` sees it).
    pub fn set_clock_offset(&self, secs: i64) {
        self.shared.lock().clock_offset_secs = secs;
    }

    /// Makes `media_id` downloadable through media/get (and sendable, as WeChat's own media is).
    pub fn add_media(&self, media_id: &str, content_type: &str, bytes: Vec<u8>) {
        self.shared.lock().media.insert(
            media_id.to_owned(),
            Media {
                content_type: content_type.to_owned(),
                bytes,
                created: Instant::now(),
                uploaded: false,
            },
        );
    }

    /// The content type and bytes of an image uploaded through media/upload.
    pub fn uploaded(&self, media_id: &str) -> Option<(String, Vec<u8>)> {
        self.shared
            .lock()
            .media
            .get(media_id)
            .filter(|m| m.uploaded)
            .map(|m| (m.content_type.clone(), m.bytes.clone()))
    }

    /// Stops accepting connections and waits (at most 5 s) for open ones to finish.
    pub async fn stop(mut self) {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
        if let Some(server) = self.server.take() {
            let abort = server.abort_handle();
            if tokio::time::timeout(Duration::from_secs(5), server)
                .await
                .is_err()
            {
                abort.abort();
            }
        }
    }
}

impl Drop for FakeWechat {
    fn drop(&mut self) {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Request handling

/// What the router needs from a request, once its body is read.
struct Incoming {
    method: Method,
    path: String,
    query: BTreeMap<String, String>,
    content_type: Option<String>,
    /// the Host header: where a video's `video_url` points back to
    host: Option<String>,
    body: Bytes,
}

/// An answer, the errcode to record, and whether a send was accepted.
struct Outcome {
    response: Response,
    errcode: i64,
    accepted: bool,
}

type ApiError = (i64, &'static str);

const FORMAT_ERROR: ApiError = (47001, "data format error");
const INVALID_OPENID: ApiError = (40003, "invalid openid");
const INVALID_MEDIA_ID: ApiError = (40007, "invalid media_id");
const INVALID_MSGTYPE: ApiError = (40008, "invalid message type");
const MEDIA_MISSING: ApiError = (41005, "media data missing");
const ARTICLE_LIMIT: ApiError = (45008, "article size out of limit");
const WRONG_SECRET: ApiError = (40001, "invalid credential");

async fn handle(State(shared): State<Arc<Shared>>, req: Request) -> Response {
    let (parts, body) = req.into_parts();
    let query = parse_query(&parts.uri);
    let path = parts.uri.path().to_owned();
    let declared_too_large = parts
        .headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok())
        .is_some_and(|len| len > MAX_BODY as u64);
    let body = if declared_too_large {
        None
    } else {
        // Fails past the limit (or when the client goes away: the answer is moot then).
        axum::body::to_bytes(body, MAX_BODY).await.ok()
    };

    let latency = shared.lock().latency;
    if !latency.is_zero() {
        tokio::time::sleep(latency).await;
    }

    let Some(body) = body else {
        shared.lock().calls.push(Call {
            method: parts.method.as_str().to_owned(),
            path,
            query,
            body: None,
            errcode: 413,
        });
        return (
            StatusCode::PAYLOAD_TOO_LARGE,
            "413 Request Entity Too Large",
        )
            .into_response();
    };

    let incoming = Incoming {
        method: parts.method,
        path,
        query,
        content_type: header_str(&parts.headers, header::CONTENT_TYPE),
        host: header_str(&parts.headers, header::HOST),
        body,
    };
    let outcome = {
        let mut inner = shared.lock();
        let outcome = route(&shared.config, &mut inner, &incoming);
        inner.calls.push(Call {
            method: incoming.method.as_str().to_owned(),
            path: incoming.path.clone(),
            query: incoming.query.clone(),
            body: recorded_body(&incoming),
            errcode: outcome.errcode,
        });
        outcome
    };
    if outcome.accepted {
        shared.sent_signal.notify_waiters();
    }
    let mut response = outcome.response;
    let offset = shared.lock().clock_offset_secs;
    if offset != 0 {
        let now = SystemTime::now();
        let shifted = if offset > 0 {
            now + Duration::from_secs(offset.unsigned_abs())
        } else {
            now - Duration::from_secs(offset.unsigned_abs())
        };
        // hyper adds a Date header only where there is none
        if let Ok(date) = HeaderValue::from_str(&httpdate::fmt_http_date(shifted)) {
            response.headers_mut().insert(header::DATE, date);
        }
    }
    response
}

fn route(config: &FakeConfig, inner: &mut Inner, req: &Incoming) -> Outcome {
    match req.path.as_str() {
        "/cgi-bin/token" => {
            inner.token_requests += 1;
            if req.method != Method::GET {
                return error(43001, "require GET method");
            }
            classic_token(config, inner, &req.query)
        }
        "/cgi-bin/stable_token" => {
            inner.token_requests += 1;
            if req.method != Method::POST {
                return error(43002, "require POST method");
            }
            stable_token(config, inner, &req.body)
        }
        "/cgi-bin/message/custom/send" => {
            api_call(inner, req, Method::POST, true, |inner| send(inner, req))
        }
        "/cgi-bin/message/custom/typing" => {
            api_call(inner, req, Method::POST, true, |inner| typing(inner, req))
        }
        "/cgi-bin/media/upload" => {
            api_call(inner, req, Method::POST, true, |inner| upload(inner, req))
        }
        "/cgi-bin/media/get" if req.method == Method::POST => {
            api_call(inner, req, Method::POST, false, |inner| {
                media_get(inner, req)
            })
        }
        "/cgi-bin/media/get" => api_call(inner, req, Method::GET, false, |inner| {
            media_get(inner, req)
        }),
        path if path.starts_with(VIDEO_PATH) => video_file(inner, req),
        _ => Outcome {
            response: json_response(
                StatusCode::NOT_FOUND,
                &json!({"errcode": 40066, "errmsg": "invalid url"}),
            ),
            errcode: 40066,
            accepted: false,
        },
    }
}

/// The checks every `?access_token=` API shares: method, token, then injected failures.
fn api_call(
    inner: &mut Inner,
    req: &Incoming,
    method: Method,
    injectable: bool,
    then: impl FnOnce(&mut Inner) -> Outcome,
) -> Outcome {
    if req.method != method {
        return if method == Method::POST {
            error(43002, "require POST method")
        } else {
            error(43001, "require GET method")
        };
    }
    match check_access_token(inner, &req.query) {
        Ok(appid) => inner.calling_appid = appid,
        Err((code, msg)) => return error(code, msg),
    }
    if injectable && let Some(failure) = inner.fail_next.as_mut() {
        let (code, msg) = (failure.errcode, failure.errmsg.clone());
        failure.remaining = failure.remaining.saturating_sub(1);
        if failure.remaining == 0 {
            inner.fail_next = None;
        }
        return error(code, &msg);
    }
    then(inner)
}

/// The AppID whose valid token the call carries.
fn check_access_token(inner: &Inner, query: &BTreeMap<String, String>) -> Result<String, ApiError> {
    let Some(token) = query.get("access_token").filter(|t| !t.is_empty()) else {
        return Err((41001, "access_token missing"));
    };
    match inner.tokens.get(token) {
        None => Err((40014, "invalid access_token")),
        Some(entry) if !entry.is_valid(Instant::now()) => Err((42001, "access_token expired")),
        Some(entry) => Ok(entry.appid.clone()),
    }
}

// --- tokens -----------------------------------------------------------------------------------

fn check_credentials(
    config: &FakeConfig,
    grant_type: Option<&str>,
    appid: Option<&str>,
    secret: Option<&str>,
) -> Result<(), ApiError> {
    if grant_type != Some("client_credential") {
        return Err((40002, "invalid grant_type"));
    }
    let expected = match appid {
        None | Some("") => return Err((41002, "appid missing")),
        Some(appid) => config.secret_of(appid).ok_or((40013, "invalid appid"))?,
    };
    match secret {
        None | Some("") => Err((41004, "appsecret missing")),
        Some(secret) if secret != expected => Err(WRONG_SECRET),
        Some(_) => Ok(()),
    }
}

/// A refused token request, answered as `answer_wrong_secret_with` says for a wrong secret.
fn credential_error(inner: &Inner, code: i64, msg: &str) -> Outcome {
    match &inner.wrong_secret {
        Some((wrong_code, wrong_msg)) if (code, msg) == WRONG_SECRET => {
            error(*wrong_code, wrong_msg)
        }
        _ => error(code, msg),
    }
}

fn issue_token(config: &FakeConfig, inner: &mut Inner, appid: &str, now: Instant) -> String {
    let token = random_string(128);
    inner.tokens.insert(
        token.clone(),
        TokenEntry {
            appid: appid.to_owned(),
            expires_at: now + config.token_ttl(),
            expired: false,
        },
    );
    token
}

/// `GET /cgi-bin/token`: a new token on every call; the previous one stays usable 5 minutes.
fn classic_token(
    config: &FakeConfig,
    inner: &mut Inner,
    query: &BTreeMap<String, String>,
) -> Outcome {
    if let Err((code, msg)) = check_credentials(
        config,
        query.get("grant_type").map(String::as_str),
        query.get("appid").map(String::as_str),
        query.get("secret").map(String::as_str),
    ) {
        return credential_error(inner, code, msg);
    }
    let appid = query.get("appid").cloned().unwrap_or_default();
    let now = Instant::now();
    if let Some(previous) = inner.classic_current.remove(&appid)
        && let Some(entry) = inner.tokens.get_mut(&previous)
    {
        entry.expires_at = entry.expires_at.min(now + CLASSIC_OVERLAP);
    }
    let token = issue_token(config, inner, &appid, now);
    inner.classic_current.insert(appid, token.clone());
    success(json!({"access_token": token, "expires_in": config.token_ttl().as_secs()}))
}

/// `POST /cgi-bin/stable_token`: the same token while it is valid; `force_refresh` replaces it.
fn stable_token(config: &FakeConfig, inner: &mut Inner, body: &Bytes) -> Outcome {
    let Ok(Value::Object(fields)) = serde_json::from_slice::<Value>(body) else {
        return error(FORMAT_ERROR.0, FORMAT_ERROR.1);
    };
    let text = |key: &str| fields.get(key).and_then(Value::as_str);
    if let Err((code, msg)) =
        check_credentials(config, text("grant_type"), text("appid"), text("secret"))
    {
        return credential_error(inner, code, msg);
    }
    let force_refresh = match fields.get("force_refresh") {
        None | Some(Value::Null) => false,
        Some(Value::Bool(force)) => *force,
        Some(_) => return error(FORMAT_ERROR.0, FORMAT_ERROR.1),
    };
    let appid = text("appid").unwrap_or_default().to_owned();
    let now = Instant::now();
    if !force_refresh
        && let Some(current) = inner.stable_current.get(&appid)
        && let Some(entry) = inner.tokens.get(current)
        && entry.is_valid(now)
    {
        let remaining = entry.expires_at.saturating_duration_since(now);
        return success(json!({
            "access_token": current,
            "expires_in": u64::try_from(remaining.as_millis().div_ceil(1000)).unwrap_or(u64::MAX),
        }));
    }
    if force_refresh && let Some(previous) = inner.stable_current.remove(&appid) {
        inner.tokens.remove(&previous);
    }
    let token = issue_token(config, inner, &appid, now);
    inner.stable_current.insert(appid, token.clone());
    success(json!({"access_token": token, "expires_in": config.token_ttl().as_secs()}))
}

// --- messages ---------------------------------------------------------------------------------

fn valid_openid(openid: &str) -> bool {
    (1..=128).contains(&openid.len())
        && openid
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

/// The error configured for a refused `touser`, if the body names one.
fn refusal(inner: &Inner, body: Option<&Value>) -> Option<Outcome> {
    let touser = body?.get("touser")?.as_str()?;
    let (code, msg) = inner.refused.get(touser)?;
    Some(error(*code, msg))
}

/// `touser` present, a string, and a plausible openid.
fn touser(fields: &Map<String, Value>) -> Result<&str, ApiError> {
    match fields.get("touser") {
        None => Err(INVALID_OPENID),
        Some(Value::String(openid)) if valid_openid(openid) => Ok(openid),
        Some(Value::String(_)) => Err(INVALID_OPENID),
        Some(_) => Err(FORMAT_ERROR),
    }
}

fn object<'a>(
    fields: &'a Map<String, Value>,
    key: &str,
) -> Result<&'a Map<String, Value>, ApiError> {
    fields
        .get(key)
        .and_then(Value::as_object)
        .ok_or(FORMAT_ERROR)
}

fn non_empty<'a>(fields: &'a Map<String, Value>, key: &str) -> Result<&'a str, ApiError> {
    fields
        .get(key)
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .ok_or(FORMAT_ERROR)
}

fn known_media(inner: &Inner, fields: &Map<String, Value>, key: &str) -> Result<(), ApiError> {
    let media_id = non_empty(fields, key)?;
    if inner.media_valid(media_id) {
        Ok(())
    } else {
        Err(INVALID_MEDIA_ID)
    }
}

/// Media of `kind` (`audio/`, `video/`, `image/`), known and unexpired: a voice message names
/// a voice file, a video a video, a cover an image.
fn known_media_of(
    inner: &Inner,
    fields: &Map<String, Value>,
    key: &str,
    kind: &str,
) -> Result<(), ApiError> {
    known_media(inner, fields, key)?;
    let media_id = non_empty(fields, key)?;
    match inner.media.get(media_id) {
        Some(media) if media.content_type.starts_with(kind) => Ok(()),
        _ => Err(INVALID_MEDIA_ID),
    }
}

/// A key that may be missing, but is a string when it is there.
fn optional_string(fields: &Map<String, Value>, key: &str) -> Result<(), ApiError> {
    match fields.get(key) {
        None | Some(Value::String(_)) => Ok(()),
        Some(_) => Err(FORMAT_ERROR),
    }
}

fn http_url(url: &str) -> bool {
    let lower = url.to_ascii_lowercase();
    ["http://", "https://"]
        .iter()
        .any(|scheme| lower.starts_with(scheme) && lower.len() > scheme.len())
}

/// Validates a custom/send body; returns `touser` and `msgtype`.
fn validate_send(inner: &Inner, fields: &Map<String, Value>) -> Result<(String, String), ApiError> {
    let touser = touser(fields)?;
    let msgtype = match fields.get("msgtype") {
        None => return Err(INVALID_MSGTYPE),
        Some(Value::String(msgtype)) => msgtype.as_str(),
        Some(_) => return Err(FORMAT_ERROR),
    };
    match msgtype {
        "text" => {
            let text = object(fields, "text")?;
            non_empty(text, "content")?;
        }
        "image" => {
            let image = object(fields, "image")?;
            known_media(inner, image, "media_id")?;
        }
        "link" => {
            let link = object(fields, "link")?;
            non_empty(link, "title")?;
            non_empty(link, "description")?;
            non_empty(link, "thumb_url")?;
            if !http_url(non_empty(link, "url")?) {
                return Err(FORMAT_ERROR);
            }
        }
        "miniprogrampage" => {
            let page = object(fields, "miniprogrampage")?;
            non_empty(page, "title")?;
            non_empty(page, "pagepath")?;
            match page.get("appid") {
                None | Some(Value::String(_)) => {}
                Some(_) => return Err(FORMAT_ERROR),
            }
            known_media(inner, page, "thumb_media_id")?;
        }
        // an Official Account's (the fake does not tell the kinds of its accounts apart)
        "voice" => {
            let voice = object(fields, "voice")?;
            known_media_of(inner, voice, "media_id", "audio/")?;
        }
        "video" => {
            let video = object(fields, "video")?;
            known_media_of(inner, video, "media_id", "video/")?;
            if video.contains_key("thumb_media_id") {
                known_media_of(inner, video, "thumb_media_id", "image/")?;
            }
            optional_string(video, "title")?;
            optional_string(video, "description")?;
        }
        "news" => {
            let news = object(fields, "news")?;
            let articles = news
                .get("articles")
                .and_then(Value::as_array)
                .ok_or(FORMAT_ERROR)?;
            if articles.len() > 1 {
                return Err(ARTICLE_LIMIT);
            }
            let article = articles
                .first()
                .and_then(Value::as_object)
                .ok_or(FORMAT_ERROR)?;
            non_empty(article, "title")?;
            optional_string(article, "description")?;
            if !http_url(non_empty(article, "url")?) {
                return Err(FORMAT_ERROR);
            }
            match article.get("picurl") {
                None => {}
                Some(Value::String(picurl)) if picurl.is_empty() || http_url(picurl) => {}
                Some(_) => return Err(FORMAT_ERROR),
            }
        }
        "msgmenu" => {
            let menu = object(fields, "msgmenu")?;
            optional_string(menu, "head_content")?;
            optional_string(menu, "tail_content")?;
            let list = menu
                .get("list")
                .and_then(Value::as_array)
                .ok_or(FORMAT_ERROR)?;
            if list.is_empty() || list.len() > MAX_MENU_ITEMS {
                return Err(FORMAT_ERROR);
            }
            for item in list {
                let item = item.as_object().ok_or(FORMAT_ERROR)?;
                non_empty(item, "id")?;
                non_empty(item, "content")?;
            }
        }
        _ => return Err(INVALID_MSGTYPE),
    }
    Ok((touser.to_owned(), msgtype.to_owned()))
}

/// `POST /cgi-bin/message/custom/send`.
fn send(inner: &mut Inner, req: &Incoming) -> Outcome {
    let body = serde_json::from_slice::<Value>(&req.body).ok();
    if let Some(refused) = refusal(inner, body.as_ref()) {
        return refused;
    }
    let Some(Value::Object(fields)) = &body else {
        return error(FORMAT_ERROR.0, FORMAT_ERROR.1);
    };
    match validate_send(inner, fields) {
        Err((code, msg)) => error(code, msg),
        Ok((touser, msgtype)) => {
            inner.sent.push(SentMessage {
                appid: inner.calling_appid.clone(),
                touser,
                msgtype,
                body: Value::Object(fields.clone()),
                at_ms: unix_ms(),
            });
            let mut outcome = success(json!({}));
            outcome.accepted = true;
            outcome
        }
    }
}

/// `POST /cgi-bin/message/custom/typing`.
fn typing(inner: &mut Inner, req: &Incoming) -> Outcome {
    let body = serde_json::from_slice::<Value>(&req.body).ok();
    if let Some(refused) = refusal(inner, body.as_ref()) {
        return refused;
    }
    let Some(Value::Object(fields)) = &body else {
        return error(FORMAT_ERROR.0, FORMAT_ERROR.1);
    };
    if let Err((code, msg)) = touser(fields) {
        return error(code, msg);
    }
    match fields.get("command").and_then(Value::as_str) {
        Some("Typing" | "CancelTyping") => success(json!({})),
        _ => error(45072, "command invalid"),
    }
}

// --- media ------------------------------------------------------------------------------------

/// `POST /cgi-bin/media/upload?type=image|voice|video`, multipart with a file part named
/// `media`: an image (PNG, JPEG, GIF), a voice file (AMR, MP3; 2 MB) or a video (MP4).
fn upload(inner: &mut Inner, req: &Incoming) -> Outcome {
    let kind = match req.query.get("type").map(String::as_str) {
        Some(kind @ ("image" | "voice" | "video")) => kind,
        _ => return error(40004, "invalid media type"),
    };
    let parts = req
        .content_type
        .as_deref()
        .and_then(multipart_boundary)
        .and_then(|boundary| parse_multipart(&req.body, &boundary));
    let Some(media) = parts
        .as_deref()
        .and_then(|parts| parts.iter().find(|p| p.name.as_deref() == Some("media")))
    else {
        return error(MEDIA_MISSING.0, MEDIA_MISSING.1);
    };
    let Some(filename) = media.filename.as_deref().filter(|f| !f.is_empty()) else {
        // A plain form field, not a file.
        return error(MEDIA_MISSING.0, MEDIA_MISSING.1);
    };
    let content_type = match kind {
        "voice" => voice_content_type(media.content_type.as_deref(), filename),
        "video" => video_content_type(media.content_type.as_deref(), filename),
        _ => image_content_type(media.content_type.as_deref(), filename),
    };
    let Some(content_type) = content_type else {
        return error(40005, "invalid file type");
    };
    if media.data.is_empty() {
        return error(MEDIA_MISSING.0, MEDIA_MISSING.1);
    }
    let max = if kind == "voice" {
        MAX_VOICE
    } else {
        MAX_MEDIA
    };
    if media.data.len() > max {
        return error(40006, "invalid media size");
    }
    let media_id = format!("fake-media-{}", random_string(32));
    inner.media.insert(
        media_id.clone(),
        Media {
            content_type,
            bytes: media.data.to_vec(),
            created: Instant::now(),
            uploaded: true,
        },
    );
    success(json!({"type": kind, "media_id": media_id, "created_at": unix_ms() / 1000}))
}

/// The part's declared content type without parameters, lowercased; None when it says
/// nothing (or only `application/octet-stream`).
fn declared_type(declared: Option<&str>) -> Option<String> {
    declared
        .map(|ct| {
            ct.split(';')
                .next()
                .unwrap_or("")
                .trim()
                .to_ascii_lowercase()
        })
        .filter(|ct| !ct.is_empty() && ct != "application/octet-stream")
}

/// A voice file's content type, AMR or MP3 (as WeChat takes them), declared or guessed from
/// the filename.
fn voice_content_type(declared: Option<&str>, filename: &str) -> Option<String> {
    let ext = filename
        .rsplit_once('.')
        .map(|(_, ext)| ext.to_ascii_lowercase());
    match declared_type(declared).as_deref() {
        Some("audio/amr") => Some("audio/amr".to_owned()),
        Some("audio/mpeg" | "audio/mp3") => Some("audio/mpeg".to_owned()),
        Some(_) => None,
        None => match ext.as_deref() {
            Some("amr") => Some("audio/amr".to_owned()),
            Some("mp3") => Some("audio/mpeg".to_owned()),
            _ => None,
        },
    }
}

/// A video's content type: MP4 only, declared or guessed from the filename.
fn video_content_type(declared: Option<&str>, filename: &str) -> Option<String> {
    let mp4 = filename.to_ascii_lowercase().ends_with(".mp4");
    match declared_type(declared).as_deref() {
        Some("video/mp4") => Some("video/mp4".to_owned()),
        Some(_) => None,
        None => mp4.then(|| "video/mp4".to_owned()),
    }
}

/// The part's image content type, or one guessed from the filename when the part has none (or
/// only `application/octet-stream`); `None` when it is not an image.
fn image_content_type(declared: Option<&str>, filename: &str) -> Option<String> {
    let declared = declared
        .map(|ct| {
            ct.split(';')
                .next()
                .unwrap_or("")
                .trim()
                .to_ascii_lowercase()
        })
        .filter(|ct| !ct.is_empty() && ct != "application/octet-stream");
    match declared {
        Some(ct) if ct.starts_with("image/") && ct.len() > "image/".len() => Some(ct),
        Some(_) => None,
        None => {
            let ext = filename.rsplit_once('.')?.1.to_ascii_lowercase();
            match ext.as_str() {
                "jpg" | "jpeg" => Some("image/jpeg".to_owned()),
                "png" => Some("image/png".to_owned()),
                "gif" => Some("image/gif".to_owned()),
                _ => None,
            }
        }
    }
}

fn media_extension(content_type: &str) -> &'static str {
    match content_type.split(';').next().unwrap_or("").trim() {
        "image/png" => "png",
        "image/gif" => "gif",
        "audio/amr" => "amr",
        "audio/mpeg" => "mp3",
        "video/mp4" => "mp4",
        _ => "jpg",
    }
}

/// Where a video added with `add_media` (a `video/…` type) is downloaded: WeChat's media/get
/// answers a video with `{"video_url": …}`, an address on its servers needing no token.
const VIDEO_PATH: &str = "/fake-video/";

/// `GET /cgi-bin/media/get?media_id=`: the bytes, or JSON 40007; for a video, JSON with the
/// `video_url` to download it from (as WeChat does for videos).
fn media_get(inner: &mut Inner, req: &Incoming) -> Outcome {
    let Some(media_id) = req.query.get("media_id").filter(|m| !m.is_empty()) else {
        return error(41006, "media_id missing");
    };
    if !inner.media_valid(media_id) {
        return error(INVALID_MEDIA_ID.0, INVALID_MEDIA_ID.1);
    }
    let Some(media) = inner.media.get(media_id) else {
        return error(INVALID_MEDIA_ID.0, INVALID_MEDIA_ID.1);
    };
    if media.content_type.starts_with("video/") {
        let host = req.host.as_deref().unwrap_or("127.0.0.1");
        let video_url = format!("http://{host}{VIDEO_PATH}{media_id}");
        return Outcome {
            response: json_response(StatusCode::OK, &json!({ "video_url": video_url })),
            errcode: 0,
            accepted: false,
        };
    }
    media_file(media_id, media)
}

/// `GET /fake-video/{media_id}`: a video's bytes, without a token.
fn video_file(inner: &mut Inner, req: &Incoming) -> Outcome {
    let media_id = req.path.trim_start_matches(VIDEO_PATH);
    match inner.media.get(media_id) {
        Some(media) if inner.media_valid(media_id) && media.content_type.starts_with("video/") => {
            media_file(media_id, media)
        }
        _ => Outcome {
            response: (StatusCode::NOT_FOUND, "no such video").into_response(),
            errcode: 404,
            accepted: false,
        },
    }
}

/// A stored file as media/get answers it.
fn media_file(media_id: &str, media: &Media) -> Outcome {
    let mut response = Response::new(Body::from(media.bytes.clone()));
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_str(&media.content_type)
            .unwrap_or(HeaderValue::from_static("application/octet-stream")),
    );
    let disposition = format!(
        "attachment; filename=\"{media_id}.{}\"",
        media_extension(&media.content_type)
    );
    if let Ok(value) = HeaderValue::from_str(&disposition) {
        headers.insert(header::CONTENT_DISPOSITION, value);
    }
    headers.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("no-cache, must-revalidate"),
    );
    Outcome {
        response,
        errcode: 0,
        accepted: false,
    }
}

// --- multipart/form-data ----------------------------------------------------------------------

struct Part {
    name: Option<String>,
    filename: Option<String>,
    content_type: Option<String>,
    data: Bytes,
}

/// The boundary of a `multipart/form-data` Content-Type.
fn multipart_boundary(content_type: &str) -> Option<String> {
    let mut params = content_type.split(';');
    let mime = params.next()?.trim();
    if !mime.eq_ignore_ascii_case("multipart/form-data") {
        return None;
    }
    params.find_map(|param| {
        let (key, value) = param.split_once('=')?;
        let value = value.trim().trim_matches('"');
        (key.trim().eq_ignore_ascii_case("boundary") && (1..=200).contains(&value.len()))
            .then(|| value.to_owned())
    })
}

fn find(haystack: &[u8], needle: &[u8], from: usize) -> Option<usize> {
    haystack
        .get(from..)?
        .windows(needle.len())
        .position(|window| window == needle)
        .map(|at| at + from)
}

/// Splits a multipart body into its parts; `None` if it is malformed (no closing delimiter).
fn parse_multipart(body: &Bytes, boundary: &str) -> Option<Vec<Part>> {
    let delimiter = format!("--{boundary}").into_bytes();
    let next_delimiter = format!("\r\n--{boundary}").into_bytes();
    let mut pos = find(body, &delimiter, 0)? + delimiter.len();
    let mut parts = Vec::new();
    loop {
        let rest = body.get(pos..)?;
        if rest.starts_with(b"--") {
            return Some(parts);
        }
        // Transport padding, then the line break ending the delimiter line.
        let padding = rest
            .iter()
            .take_while(|b| **b == b' ' || **b == b'\t')
            .count();
        pos += padding;
        if !body.get(pos..)?.starts_with(b"\r\n") {
            return None;
        }
        pos += 2;
        let (head, content_start) = if body.get(pos..)?.starts_with(b"\r\n") {
            (&body[pos..pos], pos + 2)
        } else {
            let end = find(body, b"\r\n\r\n", pos)?;
            (&body[pos..end], end + 4)
        };
        let content_end = find(body, &next_delimiter, content_start)?;
        let mut part = Part {
            name: None,
            filename: None,
            content_type: None,
            data: body.slice(content_start..content_end),
        };
        for line in String::from_utf8_lossy(head).split("\r\n") {
            let Some((key, value)) = line.split_once(':') else {
                continue;
            };
            let key = key.trim();
            if key.eq_ignore_ascii_case("content-disposition") {
                for (param, value) in header_params(value) {
                    match param.as_str() {
                        "name" => part.name = Some(value),
                        "filename" => part.filename = Some(value),
                        _ => {}
                    }
                }
            } else if key.eq_ignore_ascii_case("content-type") {
                part.content_type = Some(value.trim().to_owned());
            }
        }
        parts.push(part);
        pos = content_end + next_delimiter.len();
    }
}

/// The `key=value` parameters of a header such as `form-data; name="media"; filename="a.png"`
/// (keys lowercased, quotes and backslash escapes removed).
fn header_params(value: &str) -> Vec<(String, String)> {
    let mut segments = Vec::new();
    let mut current = String::new();
    let mut quoted = false;
    let mut escaped = false;
    for c in value.chars() {
        if escaped {
            current.push(c);
            escaped = false;
            continue;
        }
        match c {
            '\\' if quoted => escaped = true,
            '"' => quoted = !quoted,
            ';' if !quoted => segments.push(std::mem::take(&mut current)),
            _ => current.push(c),
        }
    }
    segments.push(current);
    segments
        .into_iter()
        .filter_map(|segment| {
            let (key, value) = segment.split_once('=')?;
            Some((key.trim().to_ascii_lowercase(), value.trim().to_owned()))
        })
        .collect()
}

// --- helpers ----------------------------------------------------------------------------------

fn parse_query(uri: &Uri) -> BTreeMap<String, String> {
    Query::<BTreeMap<String, String>>::try_from_uri(uri)
        .map(|Query(query)| query)
        .unwrap_or_default()
}

fn header_str(headers: &HeaderMap, name: header::HeaderName) -> Option<String> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
}

/// What `Call::body` records for a request.
fn recorded_body(req: &Incoming) -> Option<Value> {
    if req.body.is_empty() {
        return None;
    }
    if let Some(boundary) = req.content_type.as_deref().and_then(multipart_boundary) {
        let summary = parse_multipart(&req.body, &boundary).map(|parts| {
            parts
                .iter()
                .map(|p| {
                    json!({
                        "name": p.name,
                        "filename": p.filename,
                        "content_type": p.content_type,
                        "size": p.data.len(),
                    })
                })
                .collect::<Vec<_>>()
        });
        return Some(json!({ "multipart": summary, "size": req.body.len() }));
    }
    if let Ok(value) = serde_json::from_slice::<Value>(&req.body) {
        return Some(value);
    }
    let cut = &req.body[..req.body.len().min(MAX_RECORDED_TEXT)];
    Some(Value::String(String::from_utf8_lossy(cut).into_owned()))
}

fn json_response(status: StatusCode, value: &Value) -> Response {
    let mut response = (status, value.to_string()).into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(JSON_CONTENT_TYPE),
    );
    response
}

/// WeChat's error answer: HTTP 200 with `{"errcode","errmsg"}`.
fn error(errcode: i64, errmsg: &str) -> Outcome {
    Outcome {
        response: json_response(
            StatusCode::OK,
            &json!({"errcode": errcode, "errmsg": errmsg}),
        ),
        errcode,
        accepted: false,
    }
}

/// A success answer: `{"errcode":0,"errmsg":"ok"}` plus `extra`'s fields; token answers have no
/// errcode, as WeChat's do not.
fn success(extra: Value) -> Outcome {
    let mut body = Map::new();
    let is_token = extra.get("access_token").is_some();
    if !is_token {
        body.insert("errcode".to_owned(), json!(0));
        body.insert("errmsg".to_owned(), json!("ok"));
    }
    if let Value::Object(fields) = extra {
        body.extend(fields);
    }
    Outcome {
        response: json_response(StatusCode::OK, &Value::Object(body)),
        errcode: 0,
        accepted: false,
    }
}

fn random_string(len: usize) -> String {
    rand::rng()
        .sample_iter(Alphanumeric)
        .take(len)
        .map(char::from)
        .collect()
}

fn unix_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    const APPID: &str = "wx0123456789abcdef";
    const SECRET: &str = "fake-secret-0123456789";
    const OPENID: &str = "oUser_0123456789-abcdefghij";

    fn client() -> reqwest::Client {
        reqwest::Client::new()
    }

    async fn started() -> FakeWechat {
        FakeWechat::start(FakeConfig::new(APPID, SECRET))
            .await
            .expect("the fake starts")
    }

    async fn get_json(client: &reqwest::Client, url: &str) -> Value {
        client
            .get(url)
            .send()
            .await
            .expect("request")
            .json()
            .await
            .expect("json answer")
    }

    async fn post_json(client: &reqwest::Client, url: &str, body: &Value) -> Value {
        client
            .post(url)
            .json(body)
            .send()
            .await
            .expect("request")
            .json()
            .await
            .expect("json answer")
    }

    async fn token(fake: &FakeWechat, client: &reqwest::Client) -> String {
        let url = format!(
            "{}/cgi-bin/token?grant_type=client_credential&appid={APPID}&secret={SECRET}",
            fake.base_url()
        );
        let answer = get_json(client, &url).await;
        answer["access_token"].as_str().expect("a token").to_owned()
    }

    fn send_url(fake: &FakeWechat, token: &str) -> String {
        format!(
            "{}/cgi-bin/message/custom/send?access_token={token}",
            fake.base_url()
        )
    }

    async fn send(fake: &FakeWechat, client: &reqwest::Client, token: &str, body: &Value) -> Value {
        post_json(client, &send_url(fake, token), body).await
    }

    fn text(openid: &str, content: &str) -> Value {
        json!({"touser": openid, "msgtype": "text", "text": {"content": content}})
    }

    fn multipart(boundary: &str, filename: &str, content_type: &str, bytes: &[u8]) -> Vec<u8> {
        let mut body = format!(
            "--{boundary}\r\nContent-Disposition: form-data; name=\"media\"; \
             filename=\"{filename}\"\r\nContent-Type: {content_type}\r\n\r\n"
        )
        .into_bytes();
        body.extend_from_slice(bytes);
        body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
        body
    }

    async fn upload(
        fake: &FakeWechat,
        client: &reqwest::Client,
        token: &str,
        media_type: &str,
        bytes: &[u8],
    ) -> Value {
        upload_as(
            fake,
            client,
            token,
            media_type,
            ("reply.png", "image/png"),
            bytes,
        )
        .await
    }

    /// An upload of a file named and typed `(filename, content_type)`.
    async fn upload_as(
        fake: &FakeWechat,
        client: &reqwest::Client,
        token: &str,
        media_type: &str,
        (filename, content_type): (&str, &str),
        bytes: &[u8],
    ) -> Value {
        let boundary = "----kefuBoundary7MA4YWxkTrZu0gW";
        client
            .post(format!(
                "{}/cgi-bin/media/upload?access_token={token}&type={media_type}",
                fake.base_url()
            ))
            .header(
                reqwest::header::CONTENT_TYPE,
                format!("multipart/form-data; boundary={boundary}"),
            )
            .body(multipart(boundary, filename, content_type, bytes))
            .send()
            .await
            .expect("request")
            .json()
            .await
            .expect("json answer")
    }

    #[tokio::test]
    async fn a_token_is_issued_for_the_right_credentials_and_refused_for_wrong_ones() {
        let fake = started().await;
        let client = client();
        let base = fake.base_url();

        let answer = get_json(
            &client,
            &format!(
                "{base}/cgi-bin/token?grant_type=client_credential&appid={APPID}&secret={SECRET}"
            ),
        )
        .await;
        assert!(
            answer["access_token"]
                .as_str()
                .is_some_and(|t| t.len() >= 100)
        );
        assert_eq!(answer["expires_in"], 7200);
        assert!(answer.get("errcode").is_none());

        let wrong_secret = get_json(
            &client,
            &format!("{base}/cgi-bin/token?grant_type=client_credential&appid={APPID}&secret=nope"),
        )
        .await;
        assert_eq!(wrong_secret["errcode"], 40001);
        assert_eq!(wrong_secret["errmsg"], "invalid credential");

        let wrong_appid = get_json(
            &client,
            &format!(
                "{base}/cgi-bin/token?grant_type=client_credential&appid=wxother&secret={SECRET}"
            ),
        )
        .await;
        assert_eq!(wrong_appid["errcode"], 40013);

        let wrong_grant = get_json(
            &client,
            &format!("{base}/cgi-bin/token?grant_type=password&appid={APPID}&secret={SECRET}"),
        )
        .await;
        assert_eq!(wrong_grant["errcode"], 40002);

        assert_eq!(fake.token_requests(), 4);
        let calls = fake.calls_to("/cgi-bin/token");
        assert_eq!(
            calls.iter().map(|c| c.errcode).collect::<Vec<_>>(),
            vec![0, 40001, 40013, 40002]
        );
        assert_eq!(calls[0].query["appid"], APPID);
        fake.stop().await;
    }

    #[tokio::test]
    async fn a_wrong_secret_can_be_answered_with_40125_as_the_live_api_does() {
        let fake = started().await;
        let client = client();
        let url = format!("{}/cgi-bin/stable_token", fake.base_url());
        let wrong = json!({"grant_type": "client_credential", "appid": APPID, "secret": "nope"});
        assert_eq!(post_json(&client, &url, &wrong).await["errcode"], 40001);
        fake.answer_wrong_secret_with(40125, "invalid appsecret");
        let answer = post_json(&client, &url, &wrong).await;
        assert_eq!(answer["errcode"], 40125);
        assert_eq!(answer["errmsg"], "invalid appsecret");
        // other refusals keep their own codes, and the right secret still works
        let wrong_appid =
            json!({"grant_type": "client_credential", "appid": "wxother", "secret": SECRET});
        assert_eq!(
            post_json(&client, &url, &wrong_appid).await["errcode"],
            40013
        );
        let right = json!({"grant_type": "client_credential", "appid": APPID, "secret": SECRET});
        assert!(post_json(&client, &url, &right).await["access_token"].is_string());
        fake.stop().await;
    }

    #[tokio::test]
    async fn the_date_header_follows_the_clock_offset() {
        let fake = started().await;
        let client = client();
        let date = |resp: reqwest::Response| {
            let value = resp.headers()[reqwest::header::DATE]
                .to_str()
                .unwrap()
                .to_owned();
            httpdate::parse_http_date(&value).unwrap()
        };
        let url = format!("{}/cgi-bin/stable_token", fake.base_url());
        let now = SystemTime::now();
        let plain = date(client.post(&url).send().await.unwrap());
        assert!(plain.duration_since(now - Duration::from_secs(2)).is_ok());
        fake.set_clock_offset(-600);
        let behind = date(client.post(&url).send().await.unwrap());
        let gap = plain.duration_since(behind).expect("ten minutes earlier");
        assert!((599..=601).contains(&gap.as_secs()), "{gap:?}");
        fake.stop().await;
    }

    #[tokio::test]
    async fn stable_token_returns_the_same_token_in_normal_mode_and_a_new_one_with_force_refresh() {
        let fake = started().await;
        let client = client();
        let url = format!("{}/cgi-bin/stable_token", fake.base_url());
        let request = |force: Option<bool>| {
            let mut body =
                json!({"grant_type": "client_credential", "appid": APPID, "secret": SECRET});
            if let Some(force) = force {
                body["force_refresh"] = json!(force);
            }
            body
        };

        let first = post_json(&client, &url, &request(None)).await;
        let second = post_json(&client, &url, &request(Some(false))).await;
        let first_token = first["access_token"].as_str().expect("a token").to_owned();
        assert_eq!(second["access_token"], first_token);
        assert!(
            second["expires_in"]
                .as_i64()
                .is_some_and(|s| s > 7000 && s <= 7200)
        );

        let forced = post_json(&client, &url, &request(Some(true))).await;
        let new_token = forced["access_token"].as_str().expect("a token").to_owned();
        assert_ne!(new_token, first_token);

        let old = send(&fake, &client, &first_token, &text(OPENID, "hi")).await;
        assert!(
            old["errcode"] == 40014 || old["errcode"] == 42001,
            "old token answered {old}"
        );
        let fresh = send(&fake, &client, &new_token, &text(OPENID, "hi")).await;
        assert_eq!(fresh["errcode"], 0);

        let wrong_secret = post_json(
            &client,
            &url,
            &json!({"grant_type": "client_credential", "appid": APPID, "secret": "nope"}),
        )
        .await;
        assert_eq!(wrong_secret["errcode"], 40001);
        let not_json = client
            .post(&url)
            .body("grant_type=client_credential")
            .send()
            .await
            .expect("request")
            .json::<Value>()
            .await
            .expect("json answer");
        assert_eq!(not_json["errcode"], 47001);
        assert_eq!(fake.token_requests(), 5);
    }

    #[tokio::test]
    async fn a_text_send_is_accepted_and_recorded() {
        let fake = started().await;
        let client = client();
        let token = token(&fake, &client).await;

        let answer = send(&fake, &client, &token, &text(OPENID, "你好 hello")).await;
        assert_eq!(answer, json!({"errcode": 0, "errmsg": "ok"}));

        let sent = fake.sent();
        assert_eq!(sent.len(), 1);
        assert_eq!(sent[0].touser, OPENID);
        assert_eq!(sent[0].msgtype, "text");
        assert_eq!(sent[0].body["text"]["content"], "你好 hello");
        assert!(sent[0].at_ms > 1_600_000_000_000);
        assert_eq!(fake.sent_to(OPENID).len(), 1);
        assert!(fake.sent_to("someone_else").is_empty());

        let calls = fake.calls_to("/cgi-bin/message/custom/send");
        assert_eq!(calls.len(), 1);
        assert_eq!(calls[0].method, "POST");
        assert_eq!(calls[0].errcode, 0);
        assert_eq!(calls[0].query["access_token"], token);
        assert_eq!(calls[0].body.as_ref(), Some(&text(OPENID, "你好 hello")));
        assert_eq!(fake.calls().len(), 2);
    }

    #[tokio::test]
    async fn a_send_missing_a_field_of_its_msgtype_answers_47001() {
        let fake = started().await;
        let client = client();
        let token = token(&fake, &client).await;
        fake.add_media("thumb-media-1", "image/jpeg", vec![0xff, 0xd8, 0xff]);

        let link = json!({"title": "Docs", "description": "Read me", "url": "https://example.com/a",
                          "thumb_url": "https://example.com/t.png"});
        let page = json!({"title": "Order", "pagepath": "pages/order/index?id=1",
                          "thumb_media_id": "thumb-media-1"});
        let mut bodies = vec![
            json!({"touser": OPENID, "msgtype": "text"}),
            json!({"touser": OPENID, "msgtype": "text", "text": {}}),
            json!({"touser": OPENID, "msgtype": "text", "text": {"content": ""}}),
            json!({"touser": OPENID, "msgtype": "text", "text": {"content": 42}}),
            json!({"touser": OPENID, "msgtype": "image", "image": {}}),
            json!({"touser": OPENID, "msgtype": "image"}),
            json!({"touser": OPENID, "msgtype": "link", "link": {"title": "x", "description": "y",
                   "url": "ftp://example.com", "thumb_url": "https://example.com/t.png"}}),
        ];
        for key in ["title", "description", "url", "thumb_url"] {
            let mut partial = link.clone();
            partial.as_object_mut().expect("object").remove(key);
            bodies.push(json!({"touser": OPENID, "msgtype": "link", "link": partial}));
        }
        for key in ["title", "pagepath", "thumb_media_id"] {
            let mut partial = page.clone();
            partial.as_object_mut().expect("object").remove(key);
            bodies.push(
                json!({"touser": OPENID, "msgtype": "miniprogrampage", "miniprogrampage": partial}),
            );
        }
        for body in &bodies {
            let answer = send(&fake, &client, &token, body).await;
            assert_eq!(answer["errcode"], 47001, "{body} answered {answer}");
        }
        let not_json = client
            .post(send_url(&fake, &token))
            .body("{\"touser\":")
            .send()
            .await
            .expect("request")
            .json::<Value>()
            .await
            .expect("json answer");
        assert_eq!(not_json["errcode"], 47001);
        assert!(fake.sent().is_empty());

        // The complete bodies are accepted, and an extra appid on a page is tolerated.
        let mut page_with_appid = page.clone();
        page_with_appid["appid"] = json!(APPID);
        for body in [
            json!({"touser": OPENID, "msgtype": "link", "link": link}),
            json!({"touser": OPENID, "msgtype": "miniprogrampage", "miniprogrampage": page}),
            json!({"touser": OPENID, "msgtype": "miniprogrampage", "miniprogrampage": page_with_appid}),
        ] {
            let answer = send(&fake, &client, &token, &body).await;
            assert_eq!(answer["errcode"], 0, "{body} answered {answer}");
        }
        assert_eq!(fake.sent().len(), 3);
    }

    #[tokio::test]
    async fn a_bad_openid_answers_40003_and_an_unknown_msgtype_40008() {
        let fake = started().await;
        let client = client();
        let token = token(&fake, &client).await;
        for openid in ["", "has space", "semi;colon", &"o".repeat(129)] {
            let answer = send(&fake, &client, &token, &text(openid, "hi")).await;
            assert_eq!(answer["errcode"], 40003, "{openid:?} answered {answer}");
        }
        let missing = send(
            &fake,
            &client,
            &token,
            &json!({"msgtype": "text", "text": {"content": "x"}}),
        )
        .await;
        assert_eq!(missing["errcode"], 40003);
        let file = send(
            &fake,
            &client,
            &token,
            &json!({"touser": OPENID, "msgtype": "file", "file": {}}),
        )
        .await;
        assert_eq!(file["errcode"], 40008);
        assert_eq!(file["errmsg"], "invalid message type");
        assert!(fake.sent().is_empty());
    }

    #[tokio::test]
    async fn an_image_with_an_unknown_media_id_answers_40007() {
        let fake = started().await;
        let client = client();
        let token = token(&fake, &client).await;
        let image =
            json!({"touser": OPENID, "msgtype": "image", "image": {"media_id": "never-uploaded"}});
        let answer = send(&fake, &client, &token, &image).await;
        assert_eq!(
            answer,
            json!({"errcode": 40007, "errmsg": "invalid media_id"})
        );
        let page = json!({"touser": OPENID, "msgtype": "miniprogrampage", "miniprogrampage":
                          {"title": "t", "pagepath": "pages/a", "thumb_media_id": "never-uploaded"}});
        assert_eq!(send(&fake, &client, &token, &page).await["errcode"], 40007);
        assert!(fake.sent().is_empty());
    }

    #[tokio::test]
    async fn an_uploaded_image_can_be_sent_by_its_media_id() {
        let fake = started().await;
        let client = client();
        let token = token(&fake, &client).await;
        let png = b"\x89PNG\r\n\x1a\n--not-a-boundary\r\n\r\nrest".to_vec();

        let answer = upload(&fake, &client, &token, "image", &png).await;
        assert_eq!(answer["errcode"], 0);
        assert_eq!(answer["type"], "image");
        assert!(
            answer["created_at"]
                .as_i64()
                .is_some_and(|t| t > 1_600_000_000)
        );
        let media_id = answer["media_id"].as_str().expect("a media_id").to_owned();
        assert!(media_id.starts_with("fake-media-"));
        assert_eq!(
            fake.uploaded(&media_id),
            Some(("image/png".to_owned(), png.clone()))
        );

        let image = json!({"touser": OPENID, "msgtype": "image", "image": {"media_id": media_id}});
        assert_eq!(send(&fake, &client, &token, &image).await["errcode"], 0);
        assert_eq!(fake.sent()[0].msgtype, "image");

        let recorded = &fake.calls_to("/cgi-bin/media/upload")[0];
        assert_eq!(
            recorded.body.as_ref().expect("a body")["multipart"][0]["filename"],
            "reply.png"
        );
    }

    #[tokio::test]
    async fn an_official_accounts_voice_video_link_card_and_menu_are_checked_and_accepted() {
        let fake = started().await;
        let client = client();
        let token = token(&fake, &client).await;
        let amr = b"#!AMR\n\x3c\x00".to_vec();
        let voice = upload_as(
            &fake,
            &client,
            &token,
            "voice",
            ("v.amr", "audio/amr"),
            &amr,
        )
        .await;
        assert_eq!(
            (voice["errcode"].clone(), voice["type"].clone()),
            (json!(0), json!("voice"))
        );
        let voice = voice["media_id"].as_str().expect("a media_id").to_owned();
        assert_eq!(fake.uploaded(&voice), Some(("audio/amr".to_owned(), amr)));
        let mp4 = b"\x00\x00\x00\x18ftypmp42rest".to_vec();
        let video = upload_as(&fake, &client, &token, "video", ("v.mp4", ""), &mp4).await;
        let video = video["media_id"].as_str().expect("a media_id").to_owned();
        let too_long = vec![7u8; MAX_VOICE + 1];
        let refused = upload_as(&fake, &client, &token, "voice", ("v.mp3", ""), &too_long).await;
        assert_eq!(refused["errcode"], 40006);
        let not_mp4 = upload_as(
            &fake,
            &client,
            &token,
            "video",
            ("v.mov", "video/quicktime"),
            &mp4,
        );
        assert_eq!(not_mp4.await["errcode"], 40005);

        let article = json!({"title": "t", "description": "d", "url": "https://a.cn", "picurl": "http://a.cn/p.png"});
        let item = json!({"id": "101", "content": "满意"});
        for (body, errcode) in [
            (json!({"voice": {"media_id": voice}}), 0),
            // a voice message names a voice file, a video a video
            (json!({"voice": {"media_id": video}}), 40007),
            (json!({"voice": {}}), 47001),
            (json!({"video": {"media_id": video}}), 0),
            (
                json!({"video": {"media_id": video, "title": "t", "description": "d"}}),
                0,
            ),
            (json!({"video": {"media_id": voice}}), 40007),
            (
                json!({"video": {"media_id": video, "thumb_media_id": "never"}}),
                40007,
            ),
            (json!({"video": {"media_id": video, "title": 1}}), 47001),
            (json!({"news": {"articles": [article]}}), 0),
            (json!({"news": {"articles": [article, article]}}), 45008),
            (json!({"news": {"articles": []}}), 47001),
            (
                json!({"news": {"articles": [{"title": "t", "url": "ftp://a.cn"}]}}),
                47001,
            ),
            (
                json!({"news": {"articles": [{"title": "", "url": "https://a.cn"}]}}),
                47001,
            ),
            (
                json!({"msgmenu": {"head_content": "h", "list": [item], "tail_content": "t"}}),
                0,
            ),
            (json!({"msgmenu": {"list": []}}), 47001),
            (
                json!({"msgmenu": {"list": [{"id": "", "content": "x"}]}}),
                47001,
            ),
            (json!({"msgmenu": {"list": vec![item.clone(); 11]}}), 47001),
        ] {
            let (msgtype, payload) = body.as_object().and_then(|o| o.iter().next()).unwrap();
            let mut full = json!({"touser": OPENID, "msgtype": msgtype});
            full[msgtype] = payload.clone();
            let answer = send(&fake, &client, &token, &full).await;
            assert_eq!(answer["errcode"], errcode, "{full} answered {answer}");
        }
        let kinds: Vec<String> = fake.sent().into_iter().map(|m| m.msgtype).collect();
        assert_eq!(kinds, ["voice", "video", "video", "news", "msgmenu"]);
    }

    #[tokio::test]
    async fn an_upload_that_is_not_an_image_or_is_empty_is_refused() {
        let fake = started().await;
        let client = client();
        let token = token(&fake, &client).await;
        assert_eq!(
            upload(&fake, &client, &token, "file", b"abc").await["errcode"],
            40004
        );
        // a picture is no voice message
        assert_eq!(
            upload(&fake, &client, &token, "voice", b"abc").await["errcode"],
            40005
        );
        assert_eq!(
            upload(&fake, &client, &token, "image", b"").await["errcode"],
            41005
        );
        let too_big = vec![7u8; MAX_MEDIA + 1];
        assert_eq!(
            upload(&fake, &client, &token, "image", &too_big).await["errcode"],
            40006
        );
        let not_multipart = client
            .post(format!(
                "{}/cgi-bin/media/upload?access_token={token}&type=image",
                fake.base_url()
            ))
            .body("raw bytes")
            .send()
            .await
            .expect("request")
            .json::<Value>()
            .await
            .expect("json answer");
        assert_eq!(not_multipart["errcode"], 41005);
    }

    #[tokio::test]
    async fn media_get_returns_the_bytes_of_an_uploaded_id_with_its_content_type() {
        let fake = started().await;
        let client = client();
        let token = token(&fake, &client).await;
        let png = b"\x89PNG\r\n\x1a\nimage-bytes".to_vec();
        let media_id = upload(&fake, &client, &token, "image", &png).await["media_id"]
            .as_str()
            .expect("a media_id")
            .to_owned();

        let resp = client
            .get(format!(
                "{}/cgi-bin/media/get?access_token={token}&media_id={media_id}",
                fake.base_url()
            ))
            .send()
            .await
            .expect("request");
        assert_eq!(resp.status(), 200);
        assert_eq!(resp.headers()[reqwest::header::CONTENT_TYPE], "image/png");
        assert_eq!(
            resp.headers()[reqwest::header::CONTENT_DISPOSITION],
            format!("attachment; filename=\"{media_id}.png\"").as_str()
        );
        assert_eq!(resp.bytes().await.expect("bytes").as_ref(), png.as_slice());

        fake.add_media("incoming-1", "image/jpeg", vec![0xff, 0xd8, 0xff, 0xe0]);
        let resp = client
            .get(format!(
                "{}/cgi-bin/media/get?access_token={token}&media_id=incoming-1",
                fake.base_url()
            ))
            .send()
            .await
            .expect("request");
        assert_eq!(resp.headers()[reqwest::header::CONTENT_TYPE], "image/jpeg");
        assert_eq!(
            resp.headers()[reqwest::header::CONTENT_DISPOSITION],
            "attachment; filename=\"incoming-1.jpg\""
        );
        assert_eq!(
            resp.bytes().await.expect("bytes").as_ref(),
            &[0xff, 0xd8, 0xff, 0xe0]
        );
        assert_eq!(fake.uploaded("incoming-1"), None);
        assert!(
            fake.calls_to("/cgi-bin/media/get")
                .iter()
                .all(|c| c.errcode == 0)
        );
    }

    #[tokio::test]
    async fn media_get_of_an_unknown_id_answers_json_40007() {
        let fake = started().await;
        let client = client();
        let token = token(&fake, &client).await;
        let resp = client
            .get(format!(
                "{}/cgi-bin/media/get?access_token={token}&media_id=unknown",
                fake.base_url()
            ))
            .send()
            .await
            .expect("request");
        assert_eq!(resp.status(), 200);
        let content_type = resp.headers()[reqwest::header::CONTENT_TYPE]
            .to_str()
            .expect("ascii")
            .to_owned();
        assert!(
            content_type.starts_with("application/json"),
            "{content_type}"
        );
        let answer: Value = resp.json().await.expect("json answer");
        assert_eq!(
            answer,
            json!({"errcode": 40007, "errmsg": "invalid media_id"})
        );
        assert_eq!(fake.calls_to("/cgi-bin/media/get")[0].errcode, 40007);
    }

    #[tokio::test]
    async fn expired_tokens_answer_42001_on_the_next_send_and_a_new_token_works() {
        let fake = started().await;
        let client = client();
        let token = token(&fake, &client).await;
        assert_eq!(
            send(&fake, &client, &token, &text(OPENID, "one")).await["errcode"],
            0
        );

        fake.expire_tokens();
        let answer = send(&fake, &client, &token, &text(OPENID, "two")).await;
        assert_eq!(
            answer,
            json!({"errcode": 42001, "errmsg": "access_token expired"})
        );

        let fresh = self::token(&fake, &client).await;
        assert_ne!(fresh, token);
        assert_eq!(
            send(&fake, &client, &fresh, &text(OPENID, "two")).await["errcode"],
            0
        );
        assert_eq!(fake.sent().len(), 2);
    }

    #[tokio::test]
    async fn a_token_past_its_ttl_answers_42001() {
        let mut config = FakeConfig::new(APPID, SECRET);
        config.token_ttl_secs = 0;
        let fake = FakeWechat::start(config).await.expect("the fake starts");
        let client = client();
        let token = token(&fake, &client).await;
        assert_eq!(
            send(&fake, &client, &token, &text(OPENID, "x")).await["errcode"],
            42001
        );
    }

    #[tokio::test]
    async fn fail_next_answers_the_error_twice_then_succeeds() {
        let fake = started().await;
        let client = client();
        let token = token(&fake, &client).await;
        fake.fail_next(2, -1, "system error");

        let answers = [
            send(&fake, &client, &token, &text(OPENID, "a")).await,
            send(&fake, &client, &token, &text(OPENID, "a")).await,
            send(&fake, &client, &token, &text(OPENID, "a")).await,
        ];
        assert_eq!(answers[0], json!({"errcode": -1, "errmsg": "system error"}));
        assert_eq!(answers[1]["errcode"], -1);
        assert_eq!(answers[2]["errcode"], 0);
        assert_eq!(fake.sent().len(), 1);
        let codes: Vec<i64> = fake
            .calls_to("/cgi-bin/message/custom/send")
            .iter()
            .map(|c| c.errcode)
            .collect();
        assert_eq!(codes, vec![-1, -1, 0]);
    }

    #[tokio::test]
    async fn a_refused_openid_is_refused_and_others_are_accepted() {
        let fake = started().await;
        let client = client();
        let token = token(&fake, &client).await;
        let errmsg = "response out of time limit or subscription is canceled";
        fake.refuse_openid("oGone", 45015, errmsg);

        let refused = send(&fake, &client, &token, &text("oGone", "hello?")).await;
        assert_eq!(refused, json!({"errcode": 45015, "errmsg": errmsg}));
        // Refusal comes before validation.
        let refused_invalid = send(
            &fake,
            &client,
            &token,
            &json!({"touser": "oGone", "msgtype": "text"}),
        )
        .await;
        assert_eq!(refused_invalid["errcode"], 45015);
        assert_eq!(
            send(&fake, &client, &token, &text(OPENID, "hi")).await["errcode"],
            0
        );
        assert!(fake.sent_to("oGone").is_empty());
        assert_eq!(fake.sent_to(OPENID).len(), 1);
    }

    #[tokio::test]
    async fn typing_accepts_the_two_commands_and_refuses_others() {
        let fake = started().await;
        let client = client();
        let token = token(&fake, &client).await;
        let url = format!(
            "{}/cgi-bin/message/custom/typing?access_token={token}",
            fake.base_url()
        );
        for command in ["Typing", "CancelTyping"] {
            let answer = post_json(
                &client,
                &url,
                &json!({"touser": OPENID, "command": command}),
            )
            .await;
            assert_eq!(answer, json!({"errcode": 0, "errmsg": "ok"}));
        }
        let bad = post_json(
            &client,
            &url,
            &json!({"touser": OPENID, "command": "typing"}),
        )
        .await;
        assert_eq!(bad, json!({"errcode": 45072, "errmsg": "command invalid"}));
        let calls = fake.calls_to("/cgi-bin/message/custom/typing");
        assert_eq!(calls.len(), 3);
        assert_eq!(calls[2].body.as_ref().expect("a body")["command"], "typing");
        assert!(fake.sent().is_empty());
    }

    #[tokio::test]
    async fn latency_delays_every_answer() {
        let fake = started().await;
        let client = client();
        let token = token(&fake, &client).await;
        fake.set_latency(Duration::from_millis(100));
        let started_at = Instant::now();
        assert_eq!(
            send(&fake, &client, &token, &text(OPENID, "slow")).await["errcode"],
            0
        );
        assert!(started_at.elapsed() >= Duration::from_millis(100));
    }

    #[tokio::test]
    async fn wait_for_sent_returns_once_enough_messages_are_sent() {
        let fake = started().await;
        let client = client();
        let token = token(&fake, &client).await;
        let url = send_url(&fake, &token);
        for i in 0..3 {
            let client = client.clone();
            let url = url.clone();
            tokio::spawn(async move {
                tokio::time::sleep(Duration::from_millis(20 * i)).await;
                let _ = client
                    .post(&url)
                    .json(&text(OPENID, &format!("m{i}")))
                    .send()
                    .await;
            });
        }
        let started_at = Instant::now();
        let sent = fake.wait_for_sent(3, Duration::from_secs(10)).await;
        assert!(sent.len() >= 3);
        assert!(started_at.elapsed() < Duration::from_secs(5));
    }

    #[tokio::test]
    async fn wait_for_sent_times_out_when_too_few_are_sent() {
        let fake = started().await;
        let client = client();
        let token = token(&fake, &client).await;
        assert_eq!(
            send(&fake, &client, &token, &text(OPENID, "only one")).await["errcode"],
            0
        );
        let started_at = Instant::now();
        let sent = fake.wait_for_sent(2, Duration::from_millis(150)).await;
        assert_eq!(sent.len(), 1);
        assert!(started_at.elapsed() >= Duration::from_millis(150));
    }

    #[tokio::test]
    async fn a_missing_access_token_answers_41001_and_an_unknown_one_40014() {
        let fake = started().await;
        let client = client();
        let url = format!("{}/cgi-bin/message/custom/send", fake.base_url());
        let answer = post_json(&client, &url, &text(OPENID, "hi")).await;
        assert_eq!(
            answer,
            json!({"errcode": 41001, "errmsg": "access_token missing"})
        );
        let empty = post_json(
            &client,
            &format!("{url}?access_token="),
            &text(OPENID, "hi"),
        )
        .await;
        assert_eq!(empty["errcode"], 41001);
        let unknown = send(&fake, &client, "not-a-token", &text(OPENID, "hi")).await;
        assert_eq!(
            unknown,
            json!({"errcode": 40014, "errmsg": "invalid access_token"})
        );
        assert!(fake.sent().is_empty());
    }

    #[tokio::test]
    async fn an_unknown_url_answers_404_with_40066_and_a_huge_body_413() {
        let fake = started().await;
        let client = client();
        let resp = client
            .get(format!("{}/cgi-bin/nope", fake.base_url()))
            .send()
            .await
            .expect("request");
        assert_eq!(resp.status(), 404);
        let answer: Value = resp.json().await.expect("json answer");
        assert_eq!(answer, json!({"errcode": 40066, "errmsg": "invalid url"}));

        let token = token(&fake, &client).await;
        let resp = client
            .post(send_url(&fake, &token))
            .body(vec![b' '; MAX_BODY + 1])
            .send()
            .await
            .expect("request");
        assert_eq!(resp.status(), 413);
        let codes: Vec<i64> = fake.calls().iter().map(|c| c.errcode).collect();
        assert_eq!(codes, vec![40066, 0, 413]);
    }

    #[test]
    fn the_multipart_parser_finds_each_part_with_its_headers() {
        let boundary = "b0und";
        let body = Bytes::from_static(
            b"preamble\r\n--b0und\r\nContent-Disposition: form-data; name=\"note\"\r\n\r\nhello\r\n\
              --b0und\r\ncontent-disposition: form-data; name=\"media\"; filename=\"a;b \\\"c\\\".jpg\"\r\n\
              Content-Type: image/jpeg\r\n\r\n\xff\xd8\r\n--b0und--\r\n",
        );
        let parts = parse_multipart(&body, boundary).expect("parses");
        assert_eq!(parts.len(), 2);
        assert_eq!(parts[0].name.as_deref(), Some("note"));
        assert_eq!(parts[0].data.as_ref(), b"hello");
        assert_eq!(parts[1].name.as_deref(), Some("media"));
        assert_eq!(parts[1].filename.as_deref(), Some("a;b \"c\".jpg"));
        assert_eq!(parts[1].content_type.as_deref(), Some("image/jpeg"));
        assert_eq!(parts[1].data.as_ref(), b"\xff\xd8");
        assert_eq!(
            multipart_boundary("multipart/form-data; boundary=\"b0und\"").as_deref(),
            Some("b0und")
        );
        assert!(parse_multipart(&Bytes::from_static(b"--b0und\r\n\r\nno end"), boundary).is_none());
    }
}
