//! WeChat's push endpoint. GET answers the server-verification handshake; POST verifies,
//! decrypts and parses a push, hands it to `ingest`, and answers `success` only once it is
//! committed. Every refusal stores nothing and logs one line saying why.

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde::Deserialize;

use std::sync::Arc;

use crate::app::AppState;
use crate::automation::Answer;
use crate::channels::Endpoint;
use crate::error::{AppError, AppResult};
use crate::store::inbound::Stored;
use crate::wechat::crypto::{msg_signature, signature, signatures_match};
use crate::wechat::push::{Format, Push, encrypted_field};
use crate::writer::WriteError;

/// WeChat's pushes are small; anything larger is refused before it is read whole.
pub const MAX_BODY: usize = 1024 * 1024;

/// The `default` channel at `path` itself (as before channels existed), every channel at
/// `path/{name}`.
pub fn router(path: &str) -> Router<AppState> {
    Router::new()
        .route(path, get(verify_default).post(receive_default))
        .route(
            &format!("{path}/{{channel}}"),
            get(verify_named).post(receive_named),
        )
}

/// The channel a webhook path names: 404 for none, 503 while it is disabled (so that WeChat
/// retries, and nothing is lost if it is switched back on in time).
fn channel_named(state: &AppState, name: Option<&str>) -> AppResult<Arc<Endpoint>> {
    let found = match name {
        None => state.channels.default_channel(),
        Some(name) => state.channels.by_name(name),
    };
    let Some(endpoint) = found else {
        tracing::warn!(
            webhook.refused = "no_channel",
            channel = name.unwrap_or_default(),
            "refused a request for a channel kefu does not have"
        );
        return Err(AppError::NotFound(
            "there is no channel with this name".into(),
        ));
    };
    if !endpoint.channel.enabled {
        tracing::warn!(
            webhook.refused = "disabled",
            channel = %endpoint.channel.name,
            "refused a push for a disabled channel; WeChat will retry"
        );
        return Err(AppError::Unavailable(format!(
            "the channel {} is disabled; WeChat will retry",
            endpoint.channel.name
        )));
    }
    Ok(endpoint)
}

async fn verify_default(
    State(state): State<AppState>,
    query: Result<Query<PushQuery>, QueryRejection>,
) -> AppResult<Response> {
    let channel = channel_named(&state, None)?;
    verify(&channel, query)
}

async fn verify_named(
    State(state): State<AppState>,
    Path(name): Path<String>,
    query: Result<Query<PushQuery>, QueryRejection>,
) -> AppResult<Response> {
    let channel = channel_named(&state, Some(&name))?;
    verify(&channel, query)
}

async fn receive_default(
    State(state): State<AppState>,
    query: Result<Query<PushQuery>, QueryRejection>,
    body: Body,
) -> AppResult<Response> {
    let channel = channel_named(&state, None)?;
    receive(state, channel, query, body).await
}

async fn receive_named(
    State(state): State<AppState>,
    Path(name): Path<String>,
    query: Result<Query<PushQuery>, QueryRejection>,
    body: Body,
) -> AppResult<Response> {
    let channel = channel_named(&state, Some(&name))?;
    receive(state, channel, query, body).await
}

#[derive(Debug, Default, Deserialize)]
pub struct PushQuery {
    signature: Option<String>,
    timestamp: Option<String>,
    nonce: Option<String>,
    echostr: Option<String>,
    encrypt_type: Option<String>,
    msg_signature: Option<String>,
}

/// GET: WeChat checks that this server knows the Token before it starts pushing.
fn verify(
    channel: &Endpoint,
    query: Result<Query<PushQuery>, QueryRejection>,
) -> AppResult<Response> {
    let Query(q) = query.map_err(|_| refuse_bad_query())?;
    let token = configured_token(channel)?;
    let (timestamp, nonce) = signed_parts(&q)?;
    let given = q.signature.as_deref().unwrap_or_default();
    if !signatures_match(given, &signature(token, timestamp, nonce)) {
        tracing::warn!(
            webhook.refused = "bad_signature",
            channel = %channel.channel.name,
            "refused a verification request: the signature does not match the channel's Token"
        );
        return Err(AppError::Unauthorized(
            "the signature does not match".into(),
        ));
    }
    let echostr = q.echostr.unwrap_or_default();
    Ok((
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        echostr,
    )
        .into_response())
}

/// POST: one push. Order matters: signature and freshness before reading anything the body
/// says, decryption before parsing, and the answer only after the commit.
async fn receive(
    state: AppState,
    channel: Arc<Endpoint>,
    query: Result<Query<PushQuery>, QueryRejection>,
    body: Body,
) -> AppResult<Response> {
    let Query(q) = query.map_err(|_| refuse_bad_query())?;
    let token = configured_token(&channel)?;
    let (timestamp, nonce) = signed_parts(&q)?;
    check_freshness(&state, timestamp)?;

    let body = read_body(body).await?;
    let format = Format::detect(&body, channel.format);
    let encrypted = q
        .encrypt_type
        .as_deref()
        .is_some_and(|t| t.eq_ignore_ascii_case("aes"));

    let plaintext: Vec<u8> = if encrypted {
        let Some(cipher) = channel.cipher.as_deref() else {
            tracing::warn!(
                webhook.refused = "no_aes_key",
                channel = %channel.channel.name,
                "refused an encrypted push: the channel's EncodingAESKey and AppID must be set to read it (KEFU_WECHAT_AES_KEY and KEFU_WECHAT_APPID for the default channel)"
            );
            return Err(AppError::Unavailable(
                "kefu cannot decrypt pushes until KEFU_WECHAT_AES_KEY and KEFU_WECHAT_APPID are set (or the channel's EncodingAESKey and AppID)".into(),
            ));
        };
        let encrypt = encrypted_field(&body, format).map_err(|e| unreadable(e.to_string()))?;
        let given = q.msg_signature.as_deref().unwrap_or_default();
        if !signatures_match(given, &msg_signature(token, timestamp, nonce, &encrypt)) {
            tracing::warn!(
                webhook.refused = "bad_msg_signature",
                channel = %channel.channel.name,
                "refused a push: msg_signature does not match"
            );
            return Err(AppError::Unauthorized(
                "the msg_signature does not match".into(),
            ));
        }
        cipher
            .decrypt(&encrypt)
            .map_err(|e| unreadable(e.to_string()))?
    } else {
        let given = q.signature.as_deref().unwrap_or_default();
        if !signatures_match(given, &signature(token, timestamp, nonce)) {
            tracing::warn!(
                webhook.refused = "bad_signature",
                channel = %channel.channel.name,
                "refused a push: the signature does not match the channel's Token"
            );
            return Err(AppError::Unauthorized(
                "the signature does not match".into(),
            ));
        }
        body.to_vec()
    };

    let format = Format::detect(&plaintext, format);
    let push = Push::parse(&plaintext, format).map_err(|e| unreadable(e.to_string()))?;
    match crate::ingest::accept(&state.writer, &state.live, channel.id(), &push).await {
        Ok(Stored::New {
            message_id,
            conversation_id,
            ..
        }) => {
            metrics::counter!("kefu_pushes_total", "outcome" => "stored").increment(1);
            tracing::debug!(
                message.id = message_id,
                conversation.id = conversation_id,
                push.kind = push.msg_type(),
                "push stored"
            );
            // Official Accounts take the bot's text in the push's response (no quota, no token)
            let takes_passive =
                channel.kind() == crate::domain::channel::ChannelKind::OfficialAccount;
            let now_secs = crate::domain::now_millis() / 1000;
            let answer = state
                .automation
                .after_push(&push, channel.id(), conversation_id, takes_passive)
                .await;
            let reply = match answer {
                Some(Answer::TransferToWechat) => {
                    metrics::counter!("kefu_pushes_total", "outcome" => "transferred").increment(1);
                    crate::wechat::reply::transfer_customer_service(&push, format, now_secs)
                }
                Some(Answer::Text(text)) => {
                    metrics::counter!("kefu_pushes_total", "outcome" => "answered").increment(1);
                    crate::wechat::reply::text(&push, &text, format, now_secs)
                }
                None => return Ok(success()),
            };
            return Ok(passive(&channel, token, nonce, encrypted, format, &reply));
        }
        Ok(Stored::Duplicate) => {
            metrics::counter!("kefu_pushes_total", "outcome" => "duplicate").increment(1);
            tracing::debug!(push.key = %push.dedup_key(), "push seen before, acknowledged again");
        }
        Err(WriteError::Closed) => {
            return Err(AppError::Unavailable(
                "kefu is shutting down; WeChat will retry".into(),
            ));
        }
        // Not `success`: WeChat retries, so the push is not lost.
        Err(e @ WriteError::Failed(_)) => return Err(AppError::Internal(e.into())),
    }
    Ok(success())
}

/// A passive reply: encrypted when the push was (safe mode), as it came otherwise.
fn passive(
    channel: &Endpoint,
    token: &str,
    nonce: &str,
    encrypted: bool,
    format: Format,
    plaintext: &str,
) -> Response {
    let body = match (&channel.cipher, encrypted) {
        (Some(cipher), true) => crate::wechat::reply::encrypted(
            cipher,
            token,
            plaintext,
            nonce,
            crate::domain::now_millis() / 1000,
            format,
        ),
        _ => plaintext.to_owned(),
    };
    let content_type = match format {
        Format::Json => "application/json",
        Format::Xml => "application/xml; charset=utf-8",
    };
    ([(header::CONTENT_TYPE, content_type)], body).into_response()
}

fn success() -> Response {
    (
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        "success",
    )
        .into_response()
}

fn configured_token(channel: &Endpoint) -> AppResult<&str> {
    match &channel.token {
        Some(t) => Ok(t.expose()),
        None => {
            tracing::warn!(
                webhook.refused = "no_token",
                channel = %channel.channel.name,
                "refused a push: the channel has no Token (KEFU_WECHAT_TOKEN for the default channel)"
            );
            Err(AppError::Unavailable(
                "kefu cannot check WeChat's signature until KEFU_WECHAT_TOKEN is set (or the channel's Token)".into(),
            ))
        }
    }
}

fn signed_parts(q: &PushQuery) -> AppResult<(&str, &str)> {
    match (q.timestamp.as_deref(), q.nonce.as_deref()) {
        (Some(t), Some(n)) if !t.is_empty() && !n.is_empty() => Ok((t, n)),
        _ => {
            tracing::warn!(
                webhook.refused = "unsigned",
                "refused a request without timestamp and nonce"
            );
            Err(AppError::Unauthorized(
                "the request is not signed: timestamp and nonce are required".into(),
            ))
        }
    }
}

fn check_freshness(state: &AppState, timestamp: &str) -> AppResult<()> {
    let max_age = state.config.webhook_max_age;
    if max_age == 0 {
        return Ok(());
    }
    let now = crate::domain::now_millis() / 1000;
    let fresh = timestamp
        .parse::<i64>()
        .is_ok_and(|t| now.abs_diff(t) <= max_age);
    if fresh {
        Ok(())
    } else {
        tracing::warn!(
            webhook.refused = "stale",
            push.timestamp = timestamp,
            "refused a push whose timestamp is more than KEFU_WEBHOOK_MAX_AGE seconds from now"
        );
        Err(AppError::Unauthorized(format!(
            "the timestamp is more than {max_age} seconds from now; refused as a possible replay"
        )))
    }
}

async fn read_body(body: Body) -> AppResult<Bytes> {
    axum::body::to_bytes(body, MAX_BODY).await.map_err(|e| {
        // to_bytes fails for a body over the limit or a connection that broke off mid-body
        let mut source = std::error::Error::source(&e);
        let mut too_large = false;
        while let Some(s) = source {
            too_large |= s.is::<http_body_util::LengthLimitError>();
            source = s.source();
        }
        if too_large {
            tracing::warn!(
                webhook.refused = "too_large",
                "refused a push larger than 1 MiB"
            );
            AppError::TooLarge("the push body is larger than 1 MiB".into())
        } else {
            unreadable(format!("the push body could not be read: {e}"))
        }
    })
}

fn unreadable(reason: String) -> AppError {
    tracing::warn!(webhook.refused = "unreadable", reason = %reason, "refused a push that cannot be read");
    AppError::Invalid(reason)
}

fn refuse_bad_query() -> AppError {
    tracing::warn!(
        webhook.refused = "bad_query",
        "refused a request with an unreadable query string"
    );
    AppError::Invalid("the query string cannot be read".into())
}
