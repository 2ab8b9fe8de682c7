//! Staff sign-in: the login page, server-side sessions in the database, sign-out, throttling
//! of failed attempts, and the `Staff` extractor every page, API call and WebSocket uses.
//!
//! A session is a random token in an HttpOnly, SameSite=Lax cookie (Secure when
//! `KEFU_PUBLIC_URL` is https); only its sha256 is stored. Signing in always makes a new
//! session (and ends the one the browser brought), so a planted cookie cannot be carried into
//! a signed-in session. Sessions end after `IDLE` without use, after `LIFETIME` whatever the
//! use, on sign-out, and when the account is disabled. Cross-site state changes are refused
//! by tower-http's `CsrfLayer` in `web/router.rs`.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;

use askama::Template;
use axum::extract::{FromRequestParts, Query, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Form, Router};
use serde::Deserialize;

use crate::app::AppState;
use crate::domain::{Millis, now_millis};
use crate::error::{AppError, AppResult};
use crate::i18n::{FirstRunText, Lang, fill};
use crate::services::accounts::{self, random_secret, token_hash, verify_password};
use crate::store::audit::{self, Actor};
use crate::store::{sessions, staff};
use crate::web::client_ip::ClientIp;
use crate::web::json::ApiLang;
use crate::web::pages::PageError;

pub const COOKIE: &str = "kefu_session";
/// A session unused this long has ended.
pub const IDLE: Millis = 12 * 3600 * 1000;
/// A session ends this long after sign-in, however busy.
pub const LIFETIME: Millis = 7 * 24 * 3600 * 1000;
/// Failed sign-ins allowed per account and per address within `WINDOW` …
const MAX_FAILURES: usize = 5;
const WINDOW: Millis = 15 * 60 * 1000;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/login", get(login_page).post(login))
        .route("/logout", post(logout))
}

/// The signed-in staff member behind a request (a dashboard session cookie or an API bearer
/// token), as the services take it; as an extractor it rejects with 401 JSON.
pub use crate::services::Staff;

impl FromRequestParts<AppState> for Staff {
    type Rejection = AppError;

    /// Looked up once per request: kept on the request with the language of the JSON API's
    /// sentences for this caller (`web::json::ApiLang`, which `Strict` bodies read).
    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> AppResult<Self> {
        if let Some(staff) = parts.extensions.get::<Staff>() {
            return Ok(staff.clone());
        }
        let staff = Staff::signed_in(&state.store, &parts.headers).await?;
        let lang = ApiLang(ApiLang::of(&staff, &parts.headers));
        parts.extensions.insert(lang);
        parts.extensions.insert(staff.clone());
        Ok(staff)
    }
}

impl Staff {
    /// The staff member these request headers sign in (bearer token, else session cookie).
    /// A long-lived connection calls it again to learn whether that still holds.
    pub async fn signed_in(store: &crate::store::Store, headers: &HeaderMap) -> AppResult<Staff> {
        let now = now_millis();
        let r = ApiLang::from_headers(headers).refusal();
        let bearer = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|h| h.strip_prefix("Bearer "));
        if let Some(token) = bearer {
            return staff::by_token_hash(store, &token_hash(token.trim()), now)
                .await?
                .map(Staff::from)
                .ok_or_else(|| AppError::Unauthorized(r.token_invalid.into()));
        }
        match session_cookie(headers) {
            Some(token) => sessions::staff_of(store, &token_hash(token), now, IDLE)
                .await?
                .map(Staff::from)
                .ok_or_else(|| AppError::Unauthorized(r.session_ended.into())),
            None => Err(AppError::Unauthorized(r.sign_in_first.into())),
        }
    }
}

/// The value of kefu's session cookie, if the request carries one.
pub fn session_cookie(headers: &HeaderMap) -> Option<&str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == COOKIE)
        .map(|(_, value)| value)
        .filter(|v| !v.is_empty() && v.len() <= 128)
}

/// Failed sign-ins, kept in memory: a restart forgives them, which is acceptable for a
/// throttle (the passwords themselves are argon2id).
///
/// A correct password is never refused because of other accounts' failures (behind a reverse
/// proxy, or in one office, everyone may share one address):
/// - per account: an account's own failures (from anywhere) hold back sign-ins to it, before
///   its password is checked;
/// - per address: an address's failures against other names than the one now tried (names
///   that are no account, or other accounts: guessing names, or one password sprayed over
///   many accounts) hold it back, but there the password is still checked, and a correct one
///   for an enabled account signs in; anything else is answered "too many" (so the answer
///   does not tell which names exist). An account's own failures never count against it here.
///
/// The address is the real client's (`ClientIp`: the forwarded one behind a trusted proxy).
#[derive(Default)]
pub struct Throttle {
    failures: Mutex<HashMap<String, Vec<Millis>>>,
    /// each address's recent failures, with the name each tried (lower case)
    by_address: Mutex<HashMap<IpAddr, Vec<(Millis, String)>>>,
}

/// Failures kept per address (the oldest go first): enough to count `MAX_FAILURES` against
/// other names whatever the one now tried.
const ADDRESS_KEPT: usize = 4 * MAX_FAILURES;

impl Throttle {
    fn account_key(username: &str) -> String {
        format!("user:{}", username.to_lowercase())
    }

    /// Milliseconds until `key` may try again, if it is over the limit.
    fn wait(map: &mut HashMap<String, Vec<Millis>>, key: &str, now: Millis) -> Option<Millis> {
        let times = map.get_mut(key)?;
        times.retain(|t| now - t < WINDOW);
        (times.len() >= MAX_FAILURES).then(|| times[0] + WINDOW - now)
    }

    /// How long the account must wait, if its own failures are over the limit: refused
    /// before its password is checked.
    fn account_blocked_for(&self, username: &str, now: Millis) -> Option<Millis> {
        let mut map = self.failures.lock().unwrap_or_else(|e| e.into_inner());
        Self::wait(&mut map, &Self::account_key(username), now)
    }

    /// How long the address is held back from trying `username`, if its failures against
    /// other names are over the limit: only a correct password gets through from it meanwhile.
    fn address_blocked_for(&self, ip: IpAddr, username: &str, now: Millis) -> Option<Millis> {
        let name = username.to_lowercase();
        let mut map = self.by_address.lock().unwrap_or_else(|e| e.into_inner());
        let tries = map.get_mut(&ip)?;
        tries.retain(|(t, _)| now - t < WINDOW);
        let others: Vec<Millis> = tries
            .iter()
            .filter(|(_, n)| *n != name)
            .map(|(t, _)| *t)
            .collect();
        (others.len() >= MAX_FAILURES).then(|| others[others.len() - MAX_FAILURES] + WINDOW - now)
    }

    #[cfg(test)]
    fn blocked_for(&self, username: &str, ip: IpAddr, now: Millis) -> Option<Millis> {
        let account = self.account_blocked_for(username, now);
        account.max(self.address_blocked_for(ip, username, now))
    }

    /// A failed sign-in: it counts for the name tried, and for the address (against every
    /// name but this one).
    fn failed(&self, username: &str, ip: IpAddr, now: Millis) {
        {
            let mut map = self.failures.lock().unwrap_or_else(|e| e.into_inner());
            // keep the map bounded: forget keys whose failures are all old
            if map.len() > 10_000 {
                map.retain(|_, times| times.iter().any(|t| now - t < WINDOW));
            }
            let times = map.entry(Self::account_key(username)).or_default();
            times.push(now);
            if times.len() > MAX_FAILURES {
                times.remove(0);
            }
        }
        let mut map = self.by_address.lock().unwrap_or_else(|e| e.into_inner());
        if map.len() > 10_000 {
            map.retain(|_, tries| tries.iter().any(|(t, _)| now - t < WINDOW));
        }
        let tries = map.entry(ip).or_default();
        tries.push((now, username.to_lowercase()));
        if tries.len() > ADDRESS_KEPT {
            tries.remove(0);
        }
    }

    fn succeeded(&self, username: &str) {
        let mut map = self.failures.lock().unwrap_or_else(|e| e.into_inner());
        map.remove(&Self::account_key(username));
    }
}

/// The answer to a sign-in held back by the throttle: 429 and how long to wait.
fn throttled(lang: Lang, next: &str, username: &str, wait: Millis) -> Response {
    let minutes = ((wait + 59_999) / 60_000).to_string();
    let sentence = fill(lang.first_run().throttled, &[("minutes", &minutes)]);
    render_login(
        lang,
        StatusCode::TOO_MANY_REQUESTS,
        next,
        username,
        Some(&sentence),
    )
}

#[derive(Template)]
#[template(path = "auth/login.html")]
struct LoginPage<'a> {
    lang: &'static str,
    w: &'static FirstRunText,
    next: &'a str,
    username: &'a str,
    error: Option<&'a str>,
}

fn render_login(
    lang: Lang,
    status: StatusCode,
    next: &str,
    username: &str,
    error: Option<&str>,
) -> Response {
    let page = LoginPage {
        lang: lang.code(),
        w: lang.first_run(),
        next,
        username,
        error,
    };
    match page.render() {
        Ok(html) => (status, Html(html)).into_response(),
        Err(e) => PageError::bare(AppError::Internal(e.into()), lang).into_response(),
    }
}

/// The language of a page shown to someone not signed in: what the browser asks for.
fn browser_lang(headers: &HeaderMap) -> Lang {
    let accept = headers
        .get(header::ACCEPT_LANGUAGE)
        .and_then(|v| v.to_str().ok());
    Lang::choose(None, accept)
}

#[derive(Deserialize)]
struct NextQuery {
    next: Option<String>,
}

/// Only a path on this site: never `//host` or `https://…`, so sign-in cannot redirect away.
fn safe_next(next: Option<&str>) -> &str {
    match next {
        Some(n)
            if n.starts_with('/') && !n.starts_with("//") && !n.contains(['\\', '\r', '\n']) =>
        {
            n
        }
        _ => "/inbox",
    }
}

async fn login_page(Query(q): Query<NextQuery>, headers: HeaderMap) -> Response {
    render_login(
        browser_lang(&headers),
        StatusCode::OK,
        safe_next(q.next.as_deref()),
        "",
        None,
    )
}

#[derive(Deserialize)]
struct LoginForm {
    username: String,
    password: String,
    next: Option<String>,
}

async fn login(
    State(state): State<AppState>,
    ClientIp(client): ClientIp,
    headers: HeaderMap,
    Form(form): Form<LoginForm>,
) -> Result<Response, PageError> {
    let failed = |e: sqlx::Error| PageError::bare(e, browser_lang(&headers));
    let next = safe_next(form.next.as_deref()).to_owned();
    let username = form.username.trim();
    let now = now_millis();
    let throttle = &state.login_throttle;
    if let Some(wait) = throttle.account_blocked_for(username, now) {
        tracing::warn!(staff.username = username, client.ip = %client, "sign-in throttled");
        return Ok(throttled(browser_lang(&headers), &next, username, wait));
    }
    let address_wait = throttle.address_blocked_for(client, username, now);
    let user = staff::by_username(state.store.pool(), username)
        .await
        .map_err(failed)?;
    // Verify even for an unknown account, so timing does not tell which names exist.
    let hash = user.as_ref().map_or(
        "$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHRzb21lc2FsdA$2aQxVwI0Ob6xX2VXyVqnXCmgZqYy2wXy4Eo5m0tUUdE",
        |u| u.password_hash.as_str(),
    );
    let matches = verify_password(&form.password, hash).await;
    let user = match user {
        Some(u) if matches && !u.disabled => u,
        _ => {
            throttle.failed(username, client, now);
            tracing::warn!(staff.username = username, client.ip = %client, "a sign-in failed");
            if let Some(wait) = address_wait {
                return Ok(throttled(browser_lang(&headers), &next, username, wait));
            }
            let lang = browser_lang(&headers);
            return Ok(render_login(
                lang,
                StatusCode::UNAUTHORIZED,
                &next,
                username,
                Some(lang.first_run().wrong_password),
            ));
        }
    };
    state.login_throttle.succeeded(username);
    // A fresh session every time; the one the browser brought (if any) ends.
    if let Some(old) = session_cookie(&headers) {
        let _ = sessions::delete(state.store.pool(), &token_hash(old)).await;
    }
    let token = random_secret(32);
    let created = async {
        let mut tx = state.store.begin_write().await?;
        sessions::create(&mut tx, &token_hash(&token), user.id, now, now + LIFETIME).await?;
        let actor = Actor {
            id: Some(user.id),
            name: user.display_name.clone(),
        };
        audit::record(
            &mut tx,
            &actor,
            accounts::action::SIGN_IN,
            &user.username,
            None,
            now,
        )
        .await?;
        tx.commit().await
    };
    created.await.map_err(failed)?;
    let mut response = Redirect::to(&next).into_response();
    set_cookie(&mut response, &cookie(&state, &token, None));
    Ok(response)
}

async fn logout(State(state): State<AppState>, headers: HeaderMap) -> Result<Response, PageError> {
    if let Some(token) = session_cookie(&headers) {
        sessions::delete(state.store.pool(), &token_hash(token))
            .await
            .map_err(|e| PageError::bare(e, browser_lang(&headers)))?;
    }
    let mut response = Redirect::to("/login").into_response();
    set_cookie(&mut response, &cookie(&state, "", Some(0)));
    Ok(response)
}

fn cookie(state: &AppState, value: &str, max_age: Option<i64>) -> String {
    let secure = state
        .config
        .public_url
        .as_deref()
        .is_some_and(|u| u.starts_with("https://"));
    let mut c = format!("{COOKIE}={value}; Path=/; HttpOnly; SameSite=Lax");
    if secure {
        c.push_str("; Secure");
    }
    if let Some(age) = max_age {
        c.push_str(&format!("; Max-Age={age}"));
    }
    c
}

fn set_cookie(response: &mut Response, cookie: &str) {
    if let Ok(v) = HeaderValue::from_str(cookie) {
        response.headers_mut().append(header::SET_COOKIE, v);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sign_in_only_redirects_within_the_site() {
        assert_eq!(safe_next(Some("/inbox?view=mine")), "/inbox?view=mine");
        for bad in [
            "//evil.example",
            "https://evil.example",
            "inbox",
            "/\\evil",
            "",
        ] {
            assert_eq!(safe_next(Some(bad)), "/inbox", "{bad}");
        }
        assert_eq!(safe_next(None), "/inbox");
    }

    #[test]
    fn the_session_cookie_is_found_among_others() {
        let mut h = HeaderMap::new();
        h.insert(
            header::COOKIE,
            HeaderValue::from_static("a=1; kefu_session=tok; b=2"),
        );
        assert_eq!(session_cookie(&h), Some("tok"));
        h.insert(header::COOKIE, HeaderValue::from_static("kefu_session="));
        assert_eq!(session_cookie(&h), None);
    }

    #[test]
    fn five_failures_block_the_account_and_the_address_for_a_while() {
        let t = Throttle::default();
        let ip: IpAddr = [10, 0, 0, 1].into();
        let other: IpAddr = [10, 0, 0, 2].into();
        for i in 0..5 {
            assert!(t.blocked_for("alice", ip, i).is_none());
            t.failed("alice", ip, i);
        }
        assert!(t.blocked_for("alice", ip, 10).is_some());
        assert!(t.blocked_for("ALICE", other, 10).is_some(), "per account");
        assert!(t.blocked_for("bob", ip, 10).is_some(), "per address");
        assert!(t.blocked_for("bob", other, 10).is_none());
        assert!(
            t.blocked_for("alice", ip, WINDOW + 10).is_none(),
            "forgiven later"
        );
    }

    #[test]
    fn an_accounts_own_failures_never_hold_back_its_address_for_it() {
        let t = Throttle::default();
        let ip: IpAddr = [10, 0, 0, 1].into();
        for i in 0..6 {
            t.failed("alice", ip, i);
        }
        assert!(t.account_blocked_for("alice", 10).is_some());
        assert!(t.account_blocked_for("admin", 10).is_none());
        assert!(t.address_blocked_for(ip, "Alice", 10).is_none(), "her own");
        // for another name they are someone else's: held back (a correct password still
        // signs in, `login_submit`)
        assert!(t.address_blocked_for(ip, "admin", 10).is_some());
    }

    #[test]
    fn one_password_sprayed_over_many_accounts_holds_the_address_back() {
        let t = Throttle::default();
        let ip: IpAddr = [10, 0, 0, 1].into();
        for (i, name) in ["a1", "a2", "a3", "a4"].iter().enumerate() {
            t.failed(name, ip, i as Millis);
        }
        // four others: not yet; a fifth: every name but the last is held back
        assert!(t.address_blocked_for(ip, "a5", 10).is_none());
        t.failed("a5", ip, 5);
        assert!(t.address_blocked_for(ip, "a6", 10).is_some());
        // no account reached its own limit
        assert!(t.account_blocked_for("a1", 10).is_none());
        assert!(
            t.address_blocked_for(ip, "a6", WINDOW + 10).is_none(),
            "forgiven later"
        );
    }
}
