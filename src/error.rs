//! `AppError`: every way a request can fail, named by outcome. One `match` gives the status;
//! the route decides the form. The JSON API and the webhook answer it as the contract's body
//! `{"error": {"code", "message"}}` (`IntoResponse` here); a dashboard page answers it as the
//! error page in the viewer's language (`web::pages::PageError`, which wraps it). Internal
//! detail is logged once, when the answer is made, and never sent to the client.
//!
//! The sentence of a refusal is made where the refusal is, in the language of whoever asked
//! (`i18n::RequestText` for the checks of a request's input).

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::json;

#[derive(Debug, thiserror::Error)]
pub enum AppError {
    /// 400: the request itself is unusable; the sentence says why.
    #[error("{0}")]
    Invalid(String),
    /// 401: no credentials, or bad ones (a bad WeChat signature too).
    #[error("{0}")]
    Unauthorized(String),
    /// 403: known caller, not allowed.
    #[error("{0}")]
    Forbidden(String),
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Conflict(String),
    /// 413
    #[error("{0}")]
    TooLarge(String),
    /// 422: refused by one of WeChat's rules, with a code such as `reply_window_closed`.
    #[error("{message}")]
    Refused { code: &'static str, message: String },
    /// 503: kefu is not configured for this, or is shutting down; try again later.
    #[error("{0}")]
    Unavailable(String),
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

impl AppError {
    pub fn status(&self) -> StatusCode {
        match self {
            AppError::Invalid(_) => StatusCode::BAD_REQUEST,
            AppError::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            AppError::Forbidden(_) => StatusCode::FORBIDDEN,
            AppError::NotFound(_) => StatusCode::NOT_FOUND,
            AppError::Conflict(_) => StatusCode::CONFLICT,
            AppError::TooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            AppError::Refused { .. } => StatusCode::UNPROCESSABLE_ENTITY,
            AppError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            AppError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    pub fn code(&self) -> &'static str {
        match self {
            AppError::Invalid(_) => "invalid_request",
            AppError::Unauthorized(_) => "unauthorized",
            AppError::Forbidden(_) => "forbidden",
            AppError::NotFound(_) => "not_found",
            AppError::Conflict(_) => "conflict",
            AppError::TooLarge(_) => "payload_too_large",
            AppError::Refused { code, .. } => code,
            AppError::Unavailable(_) => "unavailable",
            AppError::Internal(_) => "internal_error",
        }
    }

    /// The sentence the client sees.
    pub fn public_message(&self) -> String {
        match self {
            AppError::Internal(_) => "something went wrong inside kefu; the error is logged".into(),
            other => other.to_string(),
        }
    }
}

impl From<sqlx::Error> for AppError {
    fn from(e: sqlx::Error) -> Self {
        AppError::Internal(e.into())
    }
}

impl AppError {
    /// Logs a failure of kefu's own (the rest are the client's business); once, by whoever
    /// turns the error into an answer.
    pub fn log(&self) {
        if let AppError::Internal(e) = self {
            tracing::error!(error = format!("{e:#}"), "request failed");
        }
    }
}

impl IntoResponse for AppError {
    fn into_response(self) -> Response {
        self.log();
        let body = json!({ "error": { "code": self.code(), "message": self.public_message() } });
        (self.status(), Json(body)).into_response()
    }
}

pub type AppResult<T> = Result<T, AppError>;
