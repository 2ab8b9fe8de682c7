//! A kefu server started in-process on a fresh data dir, and the client calls the tests make
//! against it: signed (and encrypted) pushes built exactly as WeChat builds them, and the JSON
//! API read with a bearer token.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Once;
use std::time::{SystemTime, UNIX_EPOCH};

use kefu::app::{AppState, Running};
use kefu::config::Config;
use kefu::wechat::crypto::{AesKey, Cipher, msg_signature, signature};
use kefu::wechat::push::Format;
use kefu::wechat::simulate::{self, SimulatedKind};
use reqwest::StatusCode;
use serde_json::Value;
use tempfile::TempDir;

pub const TOKEN: &str = "kefu-integration-token";
pub const AES_KEY: &str = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG";
pub const APPID: &str = "wx1234567890abcdef";
pub const ADMIN_PASSWORD: &str = "admin-password-for-tests";

/// How WeChat delivers a push: the three encryption modes of the message-push settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// 明文: the body as it is, authenticated by `signature`
    Plain,
    /// 安全: only `Encrypt` in the body, authenticated by `msg_signature`
    Safe,
    /// 兼容: the plaintext fields and `Encrypt` side by side, `encrypt_type=aes`
    Compatible,
}

pub const MODES: [Mode; 3] = [Mode::Plain, Mode::Safe, Mode::Compatible];
pub const FORMATS: [Format; 2] = [Format::Json, Format::Xml];

/// A push ready to POST: query string (no `?`) and body.
#[derive(Debug, Clone)]
pub struct Signed {
    pub query: String,
    pub body: String,
}

/// `TEST_LOG=1` (or a filter such as `TEST_LOG=kefu=debug`) shows the server's logs.
fn init_logging() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        if let Ok(filter) = std::env::var("TEST_LOG") {
            let filter = if filter == "1" {
                "info".to_owned()
            } else {
                filter
            };
            let _ = tracing_subscriber::fmt()
                .with_env_filter(tracing_subscriber::EnvFilter::new(filter))
                .with_test_writer()
                .try_init();
        }
    });
}

pub fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("the clock is after 1970")
        .as_secs() as i64
}

pub fn cipher(aes_key: &str, appid: &str) -> Cipher {
    Cipher::new(
        AesKey::from_encoding_key(aes_key).expect("a valid test AES key"),
        appid,
    )
}

/// The configuration a test server starts with, before a test's overrides.
fn base_vars(dir: &Path) -> BTreeMap<String, String> {
    [
        ("KEFU_LISTEN", "127.0.0.1:0"),
        ("KEFU_DATA_DIR", dir.to_str().expect("a UTF-8 temp dir")),
        ("KEFU_WECHAT_TOKEN", TOKEN),
        ("KEFU_WECHAT_AES_KEY", AES_KEY),
        ("KEFU_WECHAT_APPID", APPID),
        ("KEFU_ADMIN_PASSWORD", ADMIN_PASSWORD),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect()
}

pub struct TestApp {
    dir: TempDir,
    /// the environment the server's Config was read from (overrides applied)
    vars: BTreeMap<String, String>,
    running: Option<Running>,
    pub addr: SocketAddr,
    pub client: reqwest::Client,
    /// a bearer token of the `admin` account (empty when there is no `admin`)
    pub token: String,
}

impl TestApp {
    /// A server with the default test configuration.
    pub async fn start() -> TestApp {
        Self::start_with(&[]).await
    }

    /// A server whose configuration differs by `overrides`; an empty value unsets a variable.
    pub async fn start_with(overrides: &[(&str, &str)]) -> TestApp {
        Self::start_in(tempfile::tempdir().expect("a temp dir"), overrides).await
    }

    /// A server on an existing data dir (for instance one the CLI prepared).
    pub async fn start_in(dir: TempDir, overrides: &[(&str, &str)]) -> TestApp {
        init_logging();
        let mut vars = base_vars(dir.path());
        for (k, v) in overrides {
            vars.insert((*k).to_owned(), (*v).to_owned());
        }
        let running = launch(&vars).await;
        let addr = running.addr;
        let token = match kefu::services::accounts::create_token(
            &running.state.store,
            kefu::services::Caller::Cli,
            kefu::services::accounts::AccountRef::Name("admin"),
            "tests",
        )
        .await
        {
            Ok(t) => t,
            Err(kefu::services::accounts::AccountError::NoSuchUser(_)) => String::new(),
            Err(e) => panic!("cannot create an API token for admin: {e}"),
        };
        TestApp {
            dir,
            vars,
            running: Some(running),
            addr,
            client: reqwest::Client::new(),
            token,
        }
    }

    pub fn state(&self) -> &AppState {
        &self.running.as_ref().expect("the server is running").state
    }

    pub fn data_dir(&self) -> &Path {
        self.dir.path()
    }

    /// A configuration variable as the server read it (None when unset or empty).
    pub fn var(&self, name: &str) -> Option<&str> {
        self.vars
            .get(name)
            .map(String::as_str)
            .filter(|v| !v.is_empty())
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    pub fn webhook_url(&self) -> String {
        self.url(self.var("KEFU_WEBHOOK_PATH").unwrap_or("/wechat"))
    }

    /// Stops the server (in-flight requests finish, the ingest writer drains).
    pub async fn stop(&mut self) {
        if let Some(running) = self.running.take() {
            running.stop().await.expect("the server stops cleanly");
        }
    }

    /// Stops the server and starts a new one on the same data dir and configuration.
    pub async fn restart(&mut self) {
        self.stop().await;
        let running = launch(&self.vars).await;
        self.addr = running.addr;
        self.running = Some(running);
    }

    /// Stops the server and starts a new one on the same data dir, configuration and
    /// address, so that a browser's page (and its WebSocket) finds it at the same URL.
    pub async fn restart_on_same_port(&mut self) {
        self.stop().await;
        let running = launch_at(&self.vars, self.addr).await;
        assert_eq!(running.addr, self.addr, "the same address");
        self.running = Some(running);
    }

    // ------------------------------------------------------------------------------------
    // Pushes

    fn wechat_token(&self) -> &str {
        self.var("KEFU_WECHAT_TOKEN")
            .unwrap_or("no-token-configured")
    }

    /// The cipher WeChat would use for this server's AES key and appid.
    pub fn cipher(&self) -> Cipher {
        cipher(
            self.var("KEFU_WECHAT_AES_KEY").unwrap_or(AES_KEY),
            self.var("KEFU_WECHAT_APPID").unwrap_or(APPID),
        )
    }

    /// Signs `plaintext` now, in `mode`, as WeChat would.
    pub fn sign(&self, plaintext: &str, mode: Mode, format: Format) -> Signed {
        self.sign_at(plaintext, mode, format, now())
    }

    /// Signs `plaintext` with a given timestamp.
    pub fn sign_at(&self, plaintext: &str, mode: Mode, format: Format, timestamp: i64) -> Signed {
        self.sign_with(plaintext, mode, format, timestamp, &self.cipher())
    }

    /// Signs `plaintext`, encrypting (safe and compatible mode) with `cipher`.
    pub fn sign_with(
        &self,
        plaintext: &str,
        mode: Mode,
        format: Format,
        timestamp: i64,
        cipher: &Cipher,
    ) -> Signed {
        sign_as(
            self.wechat_token(),
            cipher,
            plaintext,
            mode,
            format,
            timestamp,
        )
    }

    /// Signs a safe-mode push whose `Encrypt` field is given as it is (for damaged ciphertexts).
    pub fn sign_encrypt(&self, encrypt: &str, format: Format) -> Signed {
        let ts = now().to_string();
        let nonce = simulate::random_nonce();
        encrypted_query(
            self.wechat_token(),
            &ts,
            &nonce,
            encrypt,
            envelope(encrypt, format),
        )
    }

    /// POSTs to the webhook with this query string and body.
    pub async fn post_raw(&self, query: &str, body: impl Into<reqwest::Body>) -> reqwest::Response {
        self.client
            .post(format!("{}?{query}", self.webhook_url()))
            .body(body)
            .send()
            .await
            .expect("the webhook answers")
    }

    pub async fn send(&self, signed: &Signed) -> reqwest::Response {
        self.post_raw(&signed.query, signed.body.clone()).await
    }

    /// Sends a plaintext body as WeChat would in `mode`.
    pub async fn push_plaintext(
        &self,
        plaintext: &str,
        mode: Mode,
        format: Format,
    ) -> reqwest::Response {
        self.send(&self.sign(plaintext, mode, format)).await
    }

    /// Sends one push of `kind` from `openid` with a fresh MsgId.
    pub async fn push(
        &self,
        kind: &SimulatedKind,
        openid: &str,
        mode: Mode,
        format: Format,
    ) -> reqwest::Response {
        let body = simulate::push_body(kind, openid, simulate::random_msg_id(), now(), format);
        self.push_plaintext(&body, mode, format).await
    }

    /// Sends a plaintext JSON text push from `openid` and asserts `success`.
    pub async fn push_text(&self, openid: &str, text: &str) {
        let resp = self
            .push(
                &SimulatedKind::Text(text.to_owned()),
                openid,
                Mode::Plain,
                Format::Json,
            )
            .await;
        assert_success(resp).await;
    }

    // ------------------------------------------------------------------------------------
    // The JSON API

    pub async fn get(&self, path: &str) -> reqwest::Response {
        self.client
            .get(self.url(path))
            .bearer_auth(&self.token)
            .send()
            .await
            .expect("the API answers")
    }

    /// GETs `path` and asserts a 200 JSON answer.
    pub async fn get_json(&self, path: &str) -> Value {
        let resp = self.get(path).await;
        let status = resp.status();
        let text = resp.text().await.expect("a body");
        assert_eq!(
            status,
            StatusCode::OK,
            "GET {path} answered {status}: {text}"
        );
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("GET {path}: not JSON ({e}): {text}"))
    }

    pub async fn post_json(&self, path: &str, body: Value) -> reqwest::Response {
        self.client
            .post(self.url(path))
            .bearer_auth(&self.token)
            .json(&body)
            .send()
            .await
            .expect("the API answers")
    }

    /// Every conversation, newest activity first, following `next` to the end.
    pub async fn conversations(&self) -> Vec<Value> {
        self.conversations_where("status=all").await
    }

    /// Every conversation matching a query string such as `status=open&assignee=me`.
    pub async fn conversations_where(&self, filter: &str) -> Vec<Value> {
        let mut all = Vec::new();
        let mut before: Option<String> = None;
        loop {
            let mut path = format!("/api/v1/conversations?{filter}&limit=200");
            if let Some(b) = &before {
                path.push_str(&format!("&before={b}"));
            }
            let page = self.get_json(&path).await;
            all.extend(page["conversations"].as_array().expect("a list").clone());
            match page["next"].as_str() {
                Some(next) => before = Some(next.to_owned()),
                None => return all,
            }
        }
    }

    /// Every message of a conversation, newest first, following `next` to the end.
    pub async fn messages(&self, conversation_id: i64) -> Vec<Value> {
        let mut all = Vec::new();
        let mut before: Option<String> = None;
        loop {
            let mut path = format!("/api/v1/conversations/{conversation_id}/messages?limit=200");
            if let Some(b) = &before {
                path.push_str(&format!("&before={b}"));
            }
            let page = self.get_json(&path).await;
            all.extend(page["messages"].as_array().expect("a list").clone());
            match page["next"].as_str() {
                Some(next) => before = Some(next.to_owned()),
                None => return all,
            }
        }
    }

    /// The conversations of one customer, newest first.
    pub async fn conversations_of(&self, openid: &str) -> Vec<Value> {
        self.conversations()
            .await
            .into_iter()
            .filter(|c| c["contact"]["openid"] == openid)
            .collect()
    }

    /// The one conversation of `openid` (panics unless there is exactly one).
    pub async fn conversation_of(&self, openid: &str) -> Value {
        let mut found = self.conversations_of(openid).await;
        assert_eq!(
            found.len(),
            1,
            "expected one conversation for {openid}, got {found:?}"
        );
        found.remove(0)
    }

    /// The messages of the one conversation of `openid`.
    pub async fn messages_of(&self, openid: &str) -> Vec<Value> {
        let conversation = self.conversation_of(openid).await;
        self.messages(id_of(&conversation)).await
    }

    /// How many messages came in, counted in the database itself.
    pub async fn stored_inbound(&self) -> i64 {
        kefu::store::messages::count_inbound(self.state().store.pool())
            .await
            .expect("count messages")
    }

    /// Asserts that nothing at all was stored: no conversation through the API, no message
    /// in the database.
    pub async fn assert_nothing_stored(&self) {
        let conversations = self.conversations().await;
        assert!(
            conversations.is_empty(),
            "expected no conversation, got {conversations:?}"
        );
        assert_eq!(self.stored_inbound().await, 0, "messages were stored");
    }
}

async fn launch(vars: &BTreeMap<String, String>) -> Running {
    let lookup = vars.clone();
    let config = Config::from_sources(None, move |name| lookup.get(name).cloned())
        .expect("the test configuration is valid");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind a free port");
    kefu::app::start(config, listener)
        .await
        .expect("the server starts")
}

/// `launch`, bound to `addr` (a port the previous server just gave up). tokio sets
/// SO_REUSEADDR, so connections of the old server in TIME_WAIT do not hold the port; a few
/// retries cover the moment the old listener takes to close.
async fn launch_at(vars: &BTreeMap<String, String>, addr: SocketAddr) -> Running {
    let lookup = vars.clone();
    let config = Config::from_sources(None, move |name| lookup.get(name).cloned())
        .expect("the test configuration is valid");
    let mut tries = 0;
    let listener = loop {
        match tokio::net::TcpListener::bind(addr).await {
            Ok(listener) => break listener,
            Err(e) if tries < 50 => {
                tries += 1;
                tracing::debug!(error = %e, %addr, "the old server's port is not free yet");
                tokio::time::sleep(std::time::Duration::from_millis(20)).await;
            }
            Err(e) => panic!("cannot bind {addr} again: {e}"),
        }
    };
    kefu::app::start(config, listener)
        .await
        .expect("the server starts")
}

/// The safe-mode body: only ToUserName and Encrypt.
pub fn envelope(encrypt: &str, format: Format) -> String {
    match format {
        Format::Json => {
            serde_json::json!({ "ToUserName": "gh_kefu_tests", "Encrypt": encrypt }).to_string()
        }
        Format::Xml => format!(
            "<xml><ToUserName>{}</ToUserName><Encrypt>{}</Encrypt></xml>",
            simulate::cdata("gh_kefu_tests"),
            simulate::cdata(encrypt)
        ),
    }
}

/// The compatible-mode body: the plaintext push with an `Encrypt` field added.
pub fn compatible_body(plaintext: &str, encrypt: &str, format: Format) -> String {
    match format {
        Format::Json => {
            let mut value: Value =
                serde_json::from_str(plaintext).expect("a compatible-mode plaintext is JSON");
            value
                .as_object_mut()
                .expect("a JSON object")
                .insert("Encrypt".to_owned(), Value::String(encrypt.to_owned()));
            value.to_string()
        }
        Format::Xml => {
            let at = plaintext.rfind("</xml>").expect("an <xml> root");
            format!(
                "{}<Encrypt>{}</Encrypt>{}",
                &plaintext[..at],
                simulate::cdata(encrypt),
                &plaintext[at..]
            )
        }
    }
}

/// Signs `plaintext` as WeChat does for an account with this Token (and, in safe and
/// compatible mode, this cipher's key and AppID).
pub fn sign_as(
    token: &str,
    cipher: &Cipher,
    plaintext: &str,
    mode: Mode,
    format: Format,
    timestamp: i64,
) -> Signed {
    let ts = timestamp.to_string();
    let nonce = simulate::random_nonce();
    let sig = signature(token, &ts, &nonce);
    match mode {
        Mode::Plain => Signed {
            query: format!("signature={sig}&timestamp={ts}&nonce={nonce}"),
            body: plaintext.to_owned(),
        },
        Mode::Safe | Mode::Compatible => {
            let encrypt = cipher.encrypt(plaintext.as_bytes());
            let body = match mode {
                Mode::Safe => envelope(&encrypt, format),
                _ => compatible_body(plaintext, &encrypt, format),
            };
            encrypted_query(token, &ts, &nonce, &encrypt, body)
        }
    }
}

fn encrypted_query(token: &str, ts: &str, nonce: &str, encrypt: &str, body: String) -> Signed {
    let sig = signature(token, ts, nonce);
    let msg_sig = msg_signature(token, ts, nonce, encrypt);
    Signed {
        query: format!(
            "signature={sig}&timestamp={ts}&nonce={nonce}&openid=o-tests&encrypt_type=aes&msg_signature={msg_sig}"
        ),
        body,
    }
}

pub fn id_of(value: &Value) -> i64 {
    value["id"]
        .as_i64()
        .unwrap_or_else(|| panic!("no id in {value}"))
}

/// Asserts WeChat's acknowledgement: 200 and the body `success`.
pub async fn assert_success(resp: reqwest::Response) {
    let status = resp.status();
    let text = resp.text().await.expect("a body");
    assert_eq!(
        (status, text.as_str()),
        (StatusCode::OK, "success"),
        "expected 200 success"
    );
}

/// Asserts a refusal with `status` and the JSON error body `{"error":{"code","message"}}`;
/// returns the body.
pub async fn assert_error(resp: reqwest::Response, status: StatusCode) -> Value {
    let got = resp.status();
    let content_type = resp
        .headers()
        .get(reqwest::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let text = resp.text().await.expect("a body");
    assert_eq!(got, status, "unexpected status; body: {text}");
    assert!(
        content_type.starts_with("application/json"),
        "an error is JSON, got {content_type:?}: {text}"
    );
    let body: Value =
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"));
    let code = body["error"]["code"].as_str().unwrap_or_default();
    let message = body["error"]["message"].as_str().unwrap_or_default();
    assert!(
        !code.is_empty()
            && code
                .chars()
                .all(|c| c.is_ascii_lowercase() || c == '_' || c.is_ascii_digit()),
        "error.code must be snake_case: {text}"
    );
    assert!(
        !message.is_empty(),
        "error.message must be a sentence: {text}"
    );
    body
}

/// Asserts a page's refusal: `status` and the dashboard's HTML error page (never the API's
/// JSON) with one sentence saying why; returns the page and the sentence.
pub async fn assert_error_page(
    resp: reqwest::Response,
    status: StatusCode,
) -> (scraper::Html, String) {
    let got = resp.status();
    let content_type = resp
        .headers()
        .get(reqwest::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let text = resp.text().await.expect("a body");
    assert_eq!(got, status, "unexpected status; body: {text}");
    assert!(
        content_type.starts_with("text/html"),
        "a page's error is an HTML page, got {content_type:?}: {text}"
    );
    let html = scraper::Html::parse_document(&text);
    let alert = scraper::Selector::parse("p.error[role=alert]").expect("a selector");
    let sentences: Vec<String> = html
        .select(&alert)
        .map(|e| e.text().collect::<String>().trim().to_owned())
        .collect();
    assert_eq!(sentences.len(), 1, "one sentence on the error page: {text}");
    assert!(!sentences[0].is_empty(), "the sentence says why: {text}");
    let sentence = sentences[0].clone();
    (html, sentence)
}

/// A unique openid for one case of a test.
pub fn openid(case: &str) -> String {
    format!("o-{case}-{}", simulate::random_msg_id())
}

/// The password of the staff accounts tests add.
pub const STAFF_PASSWORD: &str = "a-long-enough-password";

/// Adds a staff account with `STAFF_PASSWORD`; returns its id and an API token for it.
pub async fn add_staff(
    app: &TestApp,
    username: &str,
    name: &str,
    role: kefu::domain::Role,
) -> (i64, String) {
    let store = &app.state().store;
    let id = kefu::services::accounts::add(
        store,
        kefu::services::Caller::Cli,
        kefu::services::accounts::NewAccount {
            username,
            display_name: name,
            role,
            password: STAFF_PASSWORD,
        },
    )
    .await
    .expect("add a staff member");
    let token = kefu::services::accounts::create_token(
        store,
        kefu::services::Caller::Cli,
        kefu::services::accounts::AccountRef::Name(username),
        "tests",
    )
    .await
    .expect("a token");
    (id, token)
}

/// Puts a staff account with `password` straight into the store, as a test's starting point:
/// no one added it, so the audit log does not say so (a test counting `staff.add` counts what
/// it did itself).
pub async fn seed_staff(
    app: &TestApp,
    username: &str,
    name: &str,
    role: kefu::domain::Role,
    password: &str,
) -> i64 {
    let store = &app.state().store;
    let hash = kefu::services::accounts::hash_password(password)
        .await
        .expect("a password hash");
    let mut tx = store.begin_write().await.expect("a write transaction");
    let now = kefu::domain::now_millis();
    let id = kefu::store::staff::create(&mut tx, username, name, role, &hash, now)
        .await
        .expect("add a staff member");
    tx.commit().await.expect("commit");
    id
}

/// The texts the fake WeChat API accepted for `openid`, in order.
pub fn texts_to(fake: &kefu::wechat::fake::FakeWechat, openid: &str) -> Vec<String> {
    fake.sent_to(openid)
        .iter()
        .map(|m| {
            m.body["text"]["content"]
                .as_str()
                .unwrap_or_default()
                .to_owned()
        })
        .collect()
}

/// A public crypto test vector from `tests/vectors/` (each names its source).
pub fn vector(name: &str) -> Value {
    let path = format!("{}/tests/vectors/{name}", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("read {path}: {e}"));
    serde_json::from_str(&text).expect("a JSON vector")
}

/// kefu with the token, AES key and appid of `vector`, taking its old timestamps.
pub async fn start_with_vector(v: &Value) -> TestApp {
    TestApp::start_with(&[
        ("KEFU_WECHAT_TOKEN", v["token"].as_str().unwrap()),
        (
            "KEFU_WECHAT_AES_KEY",
            v["encoding_aes_key"].as_str().unwrap(),
        ),
        ("KEFU_WECHAT_APPID", v["appid"].as_str().unwrap()),
        ("KEFU_WEBHOOK_MAX_AGE", "0"),
    ])
    .await
}

// ---------------------------------------------------------------------------------------------
// A kefu that can send, and reading its pages

/// The AppSecret the fake WeChat API and the kefus that send to it share.
pub const SECRET: &str = "kefu-fake-app-secret-for-tests";

/// A fake WeChat API and a kefu sending replies to it (AppID and AppSecret set), with
/// `extra` variables on top.
pub async fn start_sending(extra: &[(&str, &str)]) -> (TestApp, kefu::wechat::fake::FakeWechat) {
    use kefu::wechat::fake::{FakeConfig, FakeWechat};
    let fake = FakeWechat::start(FakeConfig::new(APPID, SECRET))
        .await
        .expect("the fake WeChat API starts");
    let base = fake.base_url();
    let mut vars = vec![
        ("KEFU_WECHAT_API_BASE", base.as_str()),
        ("KEFU_WECHAT_APPID", APPID),
        ("KEFU_WECHAT_SECRET", SECRET),
    ];
    vars.extend_from_slice(extra);
    let app = TestApp::start_with(&vars).await;
    (app, fake)
}

/// The trimmed text of every element `css` selects.
pub fn all(html: &scraper::Html, css: &str) -> Vec<String> {
    let sel = scraper::Selector::parse(css).expect("a selector");
    html.select(&sel)
        .map(|e| e.text().collect::<String>().trim().to_owned())
        .collect()
}

/// The text of the one element `css` selects.
pub fn one(html: &scraper::Html, css: &str) -> String {
    let found = all(html, css);
    assert_eq!(found.len(), 1, "exactly one {css}: {found:?}");
    found.into_iter().next().unwrap_or_default()
}

/// An attribute of the first element `css` selects.
pub fn attr(html: &scraper::Html, css: &str, name: &str) -> Option<String> {
    let sel = scraper::Selector::parse(css).expect("a selector");
    html.select(&sel)
        .next()
        .and_then(|e| e.value().attr(name).map(str::to_owned))
}

/// The value of attribute `name` of every element `css` selects that has it.
pub fn attr_all(html: &scraper::Html, css: &str, name: &str) -> Vec<String> {
    let sel = scraper::Selector::parse(css).expect("a selector");
    html.select(&sel)
        .filter_map(|e| e.value().attr(name).map(str::to_owned))
        .collect()
}

/// A passive reply as WeChat reads it: its `MsgSignature` checked with `token` and the push's
/// nonce, its `Encrypt` opened with `cipher`; the plaintext reply.
pub fn open_passive(
    answer: &str,
    signed: &Signed,
    token: &str,
    cipher: &Cipher,
    format: Format,
) -> String {
    let encrypt = kefu::wechat::push::encrypted_field(answer.as_bytes(), format)
        .unwrap_or_else(|e| panic!("an encrypted answer ({e}): {answer}"));
    let nonce = signed
        .query
        .split('&')
        .find_map(|kv| kv.strip_prefix("nonce="))
        .expect("a nonce in the push");
    let timestamp = match format {
        Format::Json => serde_json::from_str::<Value>(answer).expect("JSON")["TimeStamp"]
            .as_i64()
            .expect("a TimeStamp")
            .to_string(),
        Format::Xml => answer
            .split("<TimeStamp>")
            .nth(1)
            .and_then(|s| s.split("</TimeStamp>").next())
            .expect("a TimeStamp")
            .to_owned(),
    };
    assert!(
        answer.contains(&msg_signature(token, &timestamp, nonce, &encrypt)),
        "MsgSignature holds: {answer}"
    );
    String::from_utf8(cipher.decrypt(&encrypt).expect("decrypts")).expect("UTF-8")
}
