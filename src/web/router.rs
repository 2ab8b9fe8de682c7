//! Every route, assembled in one place, and the middleware around them all: request metrics
//! (labelled by matched route), CSRF refusal, security headers and the request timeout (the
//! webhook only has the metrics and the timeout). Each
//! web area exports its own `router()`; this file merges them.

use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::{MatchedPath, Request};
use axum::http::{HeaderValue, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use tower_http::csrf::CsrfLayer;
use tower_http::set_header::SetResponseHeaderLayer;
use tower_http::timeout::TimeoutLayer;

use crate::app::AppState;
use crate::config::Config;
use crate::error::AppError;
use crate::web;

pub fn router(state: AppState) -> Router {
    let csrf = csrf_layer(&state.config);
    // WeChat's webhook is called by a server, at the highest rate of any route: it keeps the
    // request metrics and the timeout (its body limit is its own), and skips what only matters
    // to browsers (CSRF refusal, security headers), five services less to clone and run per push.
    let webhook = web::webhook::router(&state.config.webhook_path)
        .layer(middleware::from_fn_with_state(
            WebhookPath(state.config.webhook_path.clone().into()),
            record_request,
        ))
        .layer(timeout_layer());
    Router::new()
        .merge(web::api::router())
        .merge(web::rules::router())
        .merge(web::search::router())
        .merge(web::channels::router())
        .merge(web::admin::router())
        .merge(web::canned::router())
        .merge(web::settings::router())
        .merge(web::ws::router())
        .merge(web::health::router())
        .merge(web::home::router())
        .merge(web::inbox::router())
        .merge(web::conversation::router())
        .merge(web::contact::router())
        .merge(web::assets::router())
        .merge(web::demo::router())
        .merge(web::auth::router())
        .merge(web::reports::router())
        .layer(middleware::from_fn_with_state(
            state.clone(),
            web::scope::within_channels,
        ))
        .layer(middleware::from_fn_with_state(
            WebhookPath(state.config.webhook_path.clone().into()),
            record_request,
        ))
        .layer(csrf)
        .layer(SetResponseHeaderLayer::if_not_present(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(
                "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
                 connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'",
            ),
        ))
        .layer(SetResponseHeaderLayer::if_not_present(
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        ))
        .layer(SetResponseHeaderLayer::if_not_present(
            header::X_FRAME_OPTIONS,
            HeaderValue::from_static("DENY"),
        ))
        .layer(SetResponseHeaderLayer::if_not_present(
            header::REFERRER_POLICY,
            HeaderValue::from_static("same-origin"),
        ))
        .layer(timeout_layer())
        .merge(webhook)
        .with_state(state)
}

fn timeout_layer() -> TimeoutLayer {
    TimeoutLayer::with_status_code(
        axum::http::StatusCode::SERVICE_UNAVAILABLE,
        Duration::from_secs(30),
    )
}

/// Refuses cross-site state changes (Sec-Fetch-Site / Origin, tower-http's CsrfLayer): the
/// dashboard's cookie must not let another site post in a staff member's name. WeChat's pushes
/// come from a server, not a browser, and carry neither header, so they pass.
fn csrf_layer(
    config: &Config,
) -> CsrfLayer<impl Fn(tower_http::csrf::ProtectionError) -> Response + Clone + use<>> {
    let mut layer = CsrfLayer::new();
    if let Some(origin) = &config.public_url {
        layer = match layer.clone().add_trusted_origin(origin) {
            Ok(l) => l,
            Err(_) => layer,
        };
    }
    layer.with_rejection_response(|_| {
        AppError::Forbidden("cross-site requests that change data are refused".into())
            .into_response()
    })
}

#[derive(Clone)]
struct WebhookPath(std::sync::Arc<str>);

/// Counts requests and their latency, labelled by route (not by raw path, which would let a
/// caller create unbounded label values); and, for WeChat's pushes, the time to `success`.
async fn record_request(
    axum::extract::State(webhook): axum::extract::State<WebhookPath>,
    req: Request,
    next: Next,
) -> Response {
    let started = Instant::now();
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_owned(), |p| p.as_str().to_owned());
    let push = req.method() == axum::http::Method::POST && route == *webhook.0;
    let response = next.run(req).await;
    if push {
        // stored, duplicate and transferred are counted where they are decided
        if response.status().is_success() {
            metrics::histogram!("kefu_push_success_seconds")
                .record(started.elapsed().as_secs_f64());
        } else if response.status().is_client_error() {
            metrics::counter!("kefu_pushes_total", "outcome" => "refused").increment(1);
        } else {
            metrics::counter!("kefu_pushes_total", "outcome" => "failed").increment(1);
        }
    }
    let status = response.status().as_u16().to_string();
    metrics::histogram!("kefu_http_request_seconds", "route" => route.clone())
        .record(started.elapsed().as_secs_f64());
    metrics::counter!("kefu_http_requests_total", "route" => route, "status" => status)
        .increment(1);
    response
}
