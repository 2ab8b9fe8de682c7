//! Static files, embedded in the binary at build time so one file is the whole product.

use axum::Router;
use axum::extract::Path;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;

use crate::app::AppState;

/// (name, content type, bytes)
const ASSETS: &[(&str, &str, &[u8])] = &[
    (
        "kefu.css",
        "text/css; charset=utf-8",
        include_bytes!("../../static/kefu.css"),
    ),
    (
        "live.js",
        "text/javascript; charset=utf-8",
        include_bytes!("../../static/live.js"),
    ),
    (
        "dash.js",
        "text/javascript; charset=utf-8",
        include_bytes!("../../static/dash.js"),
    ),
    (
        "inbox.js",
        "text/javascript; charset=utf-8",
        include_bytes!("../../static/inbox.js"),
    ),
    (
        "conversation.js",
        "text/javascript; charset=utf-8",
        include_bytes!("../../static/conversation.js"),
    ),
    (
        "admin.js",
        "text/javascript; charset=utf-8",
        include_bytes!("../../static/admin.js"),
    ),
    (
        "contact.js",
        "text/javascript; charset=utf-8",
        include_bytes!("../../static/contact.js"),
    ),
    (
        "workspace.js",
        "text/javascript; charset=utf-8",
        include_bytes!("../../static/workspace.js"),
    ),
    (
        "demo.js",
        "text/javascript; charset=utf-8",
        include_bytes!("../../static/demo.js"),
    ),
    (
        "demo-photo.png",
        "image/png",
        include_bytes!("../../static/demo-photo.png"),
    ),
];

pub fn router() -> Router<AppState> {
    Router::new().route("/static/{name}", get(asset))
}

async fn asset(Path(name): Path<String>) -> Response {
    match ASSETS.iter().find(|(n, _, _)| *n == name) {
        Some((_, content_type, bytes)) => (
            [
                (header::CONTENT_TYPE, *content_type),
                (header::CACHE_CONTROL, "public, max-age=3600"),
            ],
            *bytes,
        )
            .into_response(),
        None => (StatusCode::NOT_FOUND, "no such file").into_response(),
    }
}
