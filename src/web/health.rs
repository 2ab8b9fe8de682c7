//! Liveness, readiness and Prometheus metrics for whoever runs kefu. `/metrics` on the main
//! listener is for admins (bearer token or session); `KEFU_METRICS_LISTEN` serves it without
//! authentication on an address of its own (`metrics_router`).

use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use metrics_exporter_prometheus::PrometheusHandle;

use crate::app::AppState;
use crate::automation::Automation;
use crate::domain::{Role, now_millis};
use crate::error::{AppError, AppResult};
use crate::store::{Store, outbox};
use crate::web::auth::Staff;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/healthz", get(|| async { "ok" }))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
}

/// `/metrics` alone, unauthenticated, for the separate metrics listener.
pub fn metrics_router(source: MetricsSource) -> Router {
    Router::new()
        .route(
            "/metrics",
            get(|State(source): State<MetricsSource>| async move { source.render().await }),
        )
        .with_state(source)
}

async fn readyz(State(state): State<AppState>) -> impl IntoResponse {
    match state.store.ping().await {
        Ok(()) => (StatusCode::OK, "ready"),
        Err(e) => {
            tracing::warn!(error = %e, "readiness check failed: the database does not answer");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                "the database does not answer",
            )
        }
    }
}

async fn metrics(State(state): State<AppState>, staff: Staff) -> AppResult<Response> {
    if staff.role != Role::Admin {
        return Err(AppError::Forbidden(
            "only an admin may read /metrics".into(),
        ));
    }
    Ok(MetricsSource::of(&state).render().await)
}

/// What `/metrics` reads: the recorder, and what is measured when scraped (the outbox, the
/// bot's queue). Not the whole `AppState`, so the separate listener holds no writer.
#[derive(Clone)]
pub struct MetricsSource {
    pub handle: PrometheusHandle,
    pub store: Store,
    pub automation: Automation,
}

impl MetricsSource {
    pub fn of(state: &AppState) -> MetricsSource {
        MetricsSource {
            handle: state.metrics.clone(),
            store: state.store.clone(),
            automation: state.automation.clone(),
        }
    }

    async fn render(&self) -> Response {
        match outbox::depth(self.store.pool()).await {
            Ok((waiting, oldest)) => {
                let age = oldest.map_or(0.0, |t| (now_millis() - t).max(0) as f64 / 1000.0);
                metrics::gauge!("kefu_outbox_depth").set(waiting as f64);
                metrics::gauge!("kefu_outbox_oldest_seconds").set(age);
            }
            Err(e) => tracing::warn!(error = %e, "cannot measure the outbox for /metrics"),
        }
        metrics::gauge!("kefu_bot_queue_depth").set(self.automation.queue_depth() as f64);
        // shown from the first scrape, before the first WebSocket or skipped job
        metrics::gauge!("kefu_live_connections").increment(0.0);
        metrics::counter!("kefu_bot_jobs_dropped_total").increment(0);
        self.handle.run_upkeep();
        (
            [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
            self.handle.render(),
        )
            .into_response()
    }
}
