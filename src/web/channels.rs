//! The channels API (CONTRACT.md "Channels"): list them (anyone signed in), add and change
//! them (admins). Secrets go in and never come back out: an answer says only whether each is
//! set. The rules are `services::channels`'; after a change the running registry reloads, so
//! the new webhook answers at once.

use axum::Json;
use axum::Router;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, put};
use serde::{Deserialize, Serialize};

use crate::app::AppState;
use crate::domain::channel::{Channel, ChannelKind, DataFormat};
use crate::error::{AppError, AppResult};
use crate::services::Caller;
use crate::services::channels::{self as service, ChannelInput, ChannelRef};
use crate::web::auth::Staff;
use crate::web::json::Strict;
use crate::web::rules::AdminCaller;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/v1/channels", get(list).post(create))
        .route("/api/v1/channels/{id}", put(change))
}

/// A channel as the API shows it.
#[derive(Debug, Serialize)]
pub struct ChannelView {
    pub id: i64,
    pub name: String,
    pub kind: ChannelKind,
    pub appid: String,
    pub display_name: String,
    pub webhook_path: String,
    pub format: Option<DataFormat>,
    pub enabled: bool,
    pub token_set: bool,
    pub aes_key_set: bool,
    pub secret_set: bool,
    /// defined by the KEFU_WECHAT_* variables: change them, not this
    pub from_environment: bool,
}

impl ChannelView {
    fn of(state: &AppState, c: &Channel) -> ChannelView {
        // the registry's view: for `default`, what the variables say
        let live = state.channels.by_id(c.id);
        let c = live.as_ref().map_or(c, |e| &e.channel);
        ChannelView {
            id: c.id,
            name: c.name.to_string(),
            kind: c.kind,
            appid: c.appid.clone(),
            display_name: c.display_name.clone(),
            webhook_path: c.webhook_path(&state.config.webhook_path),
            format: c.format,
            enabled: c.enabled,
            token_set: c.token_set,
            aes_key_set: c.aes_key_set,
            secret_set: c.secret_set,
            from_environment: live.is_some_and(|e| e.from_environment),
        }
    }
}

/// `POST` and `PUT` bodies: every field optional here; `add` says which it needs.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ChannelBody {
    name: Option<String>,
    kind: Option<ChannelKind>,
    appid: Option<String>,
    token: Option<String>,
    aes_key: Option<String>,
    secret: Option<String>,
    format: Option<DataFormat>,
    display_name: Option<String>,
    enabled: Option<bool>,
}

impl ChannelBody {
    fn input(self) -> ChannelInput {
        ChannelInput {
            name: self.name,
            kind: self.kind,
            appid: self.appid,
            token: self.token,
            aes_key: self.aes_key,
            secret: self.secret,
            format: self.format.map(Some),
            display_name: self.display_name,
            enabled: self.enabled,
        }
    }
}

#[derive(Serialize)]
struct ChannelList {
    channels: Vec<ChannelView>,
}

async fn list(State(state): State<AppState>, _staff: Staff) -> AppResult<Json<ChannelList>> {
    let channels = service::list(&state.store).await?;
    Ok(Json(ChannelList {
        channels: channels
            .iter()
            .map(|c| ChannelView::of(&state, c))
            .collect(),
    }))
}

async fn create(
    State(state): State<AppState>,
    AdminCaller(staff): AdminCaller,
    Strict(body): Strict<ChannelBody>,
) -> AppResult<Response> {
    let input = body.input();
    let channel = service::add(
        &state.store,
        state.channels.context(),
        Caller::Staff(&staff),
        &input,
    )
    .await?;
    reload(&state).await?;
    Ok((StatusCode::CREATED, Json(ChannelView::of(&state, &channel))).into_response())
}

async fn change(
    State(state): State<AppState>,
    AdminCaller(staff): AdminCaller,
    Path(id): Path<String>,
    Strict(body): Strict<ChannelBody>,
) -> AppResult<Json<ChannelView>> {
    let id = super::path_id(&id)
        .ok_or_else(|| AppError::NotFound(format!("there is no channel {id:?}")))?;
    let channel = service::update(
        &state.store,
        state.channels.context(),
        Caller::Staff(&staff),
        ChannelRef::Id(id),
        &body.input(),
    )
    .await?;
    reload(&state).await?;
    Ok(Json(ChannelView::of(&state, &channel)))
}

/// The change is committed; the webhook and the senders must see it before the answer does.
pub async fn reload(state: &AppState) -> AppResult<()> {
    state
        .channels
        .reload()
        .await
        .map_err(|e| AppError::Internal(e.into()))
}
