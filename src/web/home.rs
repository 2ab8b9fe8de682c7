//! The landing page: what this kefu is set up to do and what is still missing, so an
//! operator who just started it sees the next step.

use askama::Template;
use axum::Router;
use axum::extract::State;
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;

use crate::app::AppState;
use crate::error::AppError;
use crate::i18n::Lang;
use crate::web::pages::PageError;

pub fn router() -> Router<AppState> {
    Router::new().route("/", get(home))
}

#[derive(Template)]
#[template(path = "home.html")]
struct HomePage {
    webhook_url: String,
    missing: Vec<&'static str>,
    version: &'static str,
}

async fn home(State(state): State<AppState>) -> Response {
    let base = state
        .config
        .public_url
        .clone()
        .unwrap_or_else(|| format!("http://{}", state.config.listen));
    let page = HomePage {
        webhook_url: format!("{base}{}", state.config.webhook_path),
        missing: state.config.missing_wechat(),
        version: env!("CARGO_PKG_VERSION"),
    };
    match page.render() {
        Ok(html) => Html(html).into_response(),
        Err(e) => PageError::bare(AppError::Internal(e.into()), Lang::Zh).into_response(),
    }
}
