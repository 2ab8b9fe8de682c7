//! The landing page: what this kefu is set up to do and what is still missing, so an
//! operator who just started it sees the next step: the https webhook URL to give WeChat
//! (from `KEFU_PUBLIC_URL`, or what to set when it is missing), each setting still to make,
//! and a way in (sign in, or the inbox when signed in). In the viewer's language: their
//! setting when signed in, else the browser's.

use askama::Template;
use axum::Router;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;

use crate::app::AppState;
use crate::config::Missing;
use crate::error::AppError;
use crate::i18n::{FirstRunText, Lang, fill};
use crate::web::auth::Staff;
use crate::web::pages::{PageError, lang_for};

pub fn router() -> Router<AppState> {
    Router::new().route("/", get(home))
}

#[derive(Template)]
#[template(path = "home.html")]
struct HomePage {
    lang: &'static str,
    w: &'static FirstRunText,
    /// the URL to give WeChat, when KEFU_PUBLIC_URL says it
    webhook_url: Option<String>,
    /// that URL is http://, which WeChat refuses
    not_https: bool,
    /// what to set when the URL is unknown
    webhook_unknown: String,
    /// each missing setting's sentence
    missing: Vec<&'static str>,
    signed_in: bool,
    version: &'static str,
}

async fn home(
    State(state): State<AppState>,
    staff: Result<Staff, AppError>,
    headers: HeaderMap,
) -> Response {
    let lang = match &staff {
        Ok(staff) => lang_for(staff, &headers),
        Err(_) => Lang::choose(
            None,
            headers
                .get(axum::http::header::ACCEPT_LANGUAGE)
                .and_then(|v| v.to_str().ok()),
        ),
    };
    let w = lang.first_run();
    let config = &state.config;
    let webhook_url = config
        .public_url
        .as_ref()
        .map(|base| format!("{base}{}", config.webhook_path));
    let missing = config
        .missing()
        .into_iter()
        .map(|m| match m {
            Missing::PublicUrl => w.missing_public_url,
            Missing::Token => w.missing_token,
            Missing::AesKey => w.missing_aes_key,
            Missing::Appid => w.missing_appid,
            Missing::Secret => w.missing_secret,
        })
        .collect();
    let page = HomePage {
        lang: lang.code(),
        w,
        not_https: webhook_url
            .as_deref()
            .is_some_and(|u| !u.starts_with("https://")),
        webhook_url,
        webhook_unknown: fill(w.webhook_unknown, &[("path", &config.webhook_path)]),
        missing,
        signed_in: staff.is_ok(),
        version: env!("CARGO_PKG_VERSION"),
    };
    match page.render() {
        Ok(html) => Html(html).into_response(),
        Err(e) => PageError::bare(AppError::Internal(e.into()), lang).into_response(),
    }
}
