//! The channels console (`/admin/channels`): every channel with its push URL, whether its
//! secrets are set, a check that requests an access token, and switching it off and on; a
//! form to add one, with a Token and EncodingAESKey generated for it. Saved through
//! `services::channels` (the same checks and audit as the API and `kefu channel …`).
//!
//! The values to paste into WeChat's console are shown once, on the page that answers the
//! form that added the channel; after that no page shows a secret again.

use askama::Template;
use axum::extract::rejection::{FormRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect};
use axum::routing::{get, post};
use axum::{Form, Router};
use rand::RngCore as _;
use serde::Deserialize;

use super::{Admin, DoneQuery};
use crate::app::AppState;
use crate::domain::channel::{ChannelKind, DataFormat};
use crate::error::AppError;
use crate::i18n::{AdminText, ChannelText, fill};
use crate::services::Caller;
use crate::services::channels::{self as service, ChannelInput, ChannelRef};
use crate::web::pages::{Chrome, OrPage, PageResult, render, render_status};

pub(super) fn router() -> Router<AppState> {
    Router::new()
        .route("/admin/channels", get(channels_page).post(add))
        .route("/admin/channels/{id}/check", post(check))
        .route("/admin/channels/{id}/enabled", post(switch))
        .route("/admin/channels/agents/{id}", post(agent_channels))
}

struct Row {
    id: i64,
    name: String,
    label: String,
    kind: &'static str,
    appid: String,
    webhook: String,
    enabled: bool,
    token_set: bool,
    aes_key_set: bool,
    secret_set: bool,
    from_environment: bool,
}

/// An agent and the channels they see (every one when none is ticked).
struct AgentRow {
    id: i64,
    name: String,
    /// (channel id, its label, ticked)
    channels: Vec<(i64, String, bool)>,
}

#[derive(Template)]
#[template(path = "admin/channels.html")]
struct ChannelsPage {
    chrome: Chrome,
    a: &'static AdminText,
    c: &'static ChannelText,
    tab: &'static str,
    rows: Vec<Row>,
    agents: Vec<AgentRow>,
    notice: Option<String>,
    error: Option<String>,
    form: ChannelForm,
}

/// What an admin pastes into WeChat's console, shown once after adding a channel.
#[derive(Template)]
#[template(path = "admin/channel_added.html")]
struct AddedPage {
    chrome: Chrome,
    a: &'static AdminText,
    c: &'static ChannelText,
    tab: &'static str,
    name: String,
    webhook: String,
    token: String,
    aes_key: String,
    format: &'static str,
}

#[derive(Debug, Default, Deserialize)]
struct ChannelForm {
    #[serde(default)]
    name: String,
    #[serde(default)]
    kind: String,
    #[serde(default)]
    appid: String,
    #[serde(default)]
    token: String,
    #[serde(default)]
    aes_key: String,
    #[serde(default)]
    secret: String,
    #[serde(default)]
    format: String,
    #[serde(default)]
    display_name: String,
}

impl ChannelForm {
    /// A blank form with a Token and an EncodingAESKey made up for the admin.
    fn fresh() -> ChannelForm {
        ChannelForm {
            kind: "miniprogram".into(),
            token: random_alphanumerics(32),
            // as WeChat's console makes them: 43 letters and digits
            aes_key: random_alphanumerics(43),
            ..ChannelForm::default()
        }
    }
}

fn random_alphanumerics(n: usize) -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    let mut bytes = vec![0u8; n];
    rand::rng().fill_bytes(&mut bytes);
    // 248 = 4 × 62: taking bytes below it keeps every character equally likely
    let mut out = String::with_capacity(n);
    while out.len() < n {
        for b in &bytes {
            if *b < 248 && out.len() < n {
                out.push(char::from(ALPHABET[usize::from(*b) % 62]));
            }
        }
        rand::rng().fill_bytes(&mut bytes);
    }
    out
}

/// The absolute push URL when `KEFU_PUBLIC_URL` is set, else the path.
fn webhook_url(state: &AppState, path: &str) -> String {
    match &state.config.public_url {
        Some(origin) => format!("{origin}{path}"),
        None => path.to_owned(),
    }
}

async fn render_channels(
    state: &AppState,
    admin: &Admin,
    status: StatusCode,
    notice: Option<String>,
    refused: Option<(String, ChannelForm)>,
) -> PageResult {
    let c = admin.0.lang.channels();
    let stored = service::list(&state.store).await.or_page(&admin.0)?;
    let rows = stored
        .iter()
        .map(|stored| {
            let live = state.channels.by_id(stored.id);
            let ch = live.as_ref().map_or(stored, |e| &e.channel);
            Row {
                id: ch.id,
                name: ch.name.to_string(),
                label: ch.label().to_owned(),
                kind: match ch.kind {
                    ChannelKind::MiniProgram => c.miniprogram,
                    ChannelKind::OfficialAccount => c.officialaccount,
                },
                appid: ch.appid.clone(),
                webhook: webhook_url(state, &ch.webhook_path(&state.config.webhook_path)),
                enabled: ch.enabled,
                token_set: ch.token_set,
                aes_key_set: ch.aes_key_set,
                secret_set: ch.secret_set,
                from_environment: live.is_some_and(|e| e.from_environment),
            }
        })
        .collect();
    let staff = crate::store::staff::list(&state.store)
        .await
        .or_page(&admin.0)?;
    let agents = staff
        .iter()
        .filter(|s| s.role == crate::domain::Role::Agent && !s.disabled)
        .map(|s| {
            let sees = crate::services::channels_of(s.role, s.channel_ids.as_deref());
            AgentRow {
                id: s.id,
                name: s.display_name.clone(),
                channels: stored
                    .iter()
                    .map(|ch| {
                        let ticked = sees.as_ref().is_some_and(|ids| ids.contains(&ch.id));
                        (ch.id, ch.label().to_owned(), ticked)
                    })
                    .collect(),
            }
        })
        .collect();
    let (error, form) = match refused {
        Some((e, form)) => (Some(e), form),
        None => (None, ChannelForm::fresh()),
    };
    Ok(render_status(
        status,
        &ChannelsPage {
            chrome: admin.chrome(),
            a: admin.a(),
            c,
            tab: "channels",
            rows,
            agents,
            notice,
            error,
            form,
        },
    ))
}

async fn channels_page(
    State(state): State<AppState>,
    admin: Admin,
    query: Result<Query<DoneQuery>, QueryRejection>,
) -> PageResult {
    let c = admin.0.lang.channels();
    let notice = match query.ok().and_then(|Query(q)| q.done).as_deref() {
        Some("switched") => Some(c.switched.to_owned()),
        _ => None,
    };
    render_channels(&state, &admin, StatusCode::OK, notice, None).await
}

/// `POST /admin/channels`: adds a channel and shows, once, what to paste into WeChat.
async fn add(
    State(state): State<AppState>,
    admin: Admin,
    form: Result<Form<ChannelForm>, FormRejection>,
) -> PageResult {
    let c = admin.0.lang.channels();
    let Ok(Form(form)) = form else {
        let r = admin.0.lang.request();
        let refused = Some((r.unreadable_form.to_owned(), ChannelForm::fresh()));
        return render_channels(&state, &admin, StatusCode::BAD_REQUEST, None, refused).await;
    };
    let kind = match form.kind.as_str() {
        "officialaccount" => ChannelKind::OfficialAccount,
        _ => ChannelKind::MiniProgram,
    };
    let format = DataFormat::parse(&form.format);
    let input = ChannelInput {
        name: Some(form.name.clone()),
        kind: Some(kind),
        appid: Some(form.appid.clone()),
        token: Some(form.token.clone()),
        aes_key: Some(form.aes_key.clone()),
        secret: Some(form.secret.clone()),
        format: Some(format),
        display_name: Some(form.display_name.clone()),
        enabled: None,
    };
    let ctx = state.channels.context();
    match service::add(&state.store, ctx, Caller::Staff(&admin.0.staff), &input).await {
        Ok(channel) => {
            crate::web::channels::reload(&state)
                .await
                .map_err(|e| admin.0.fail(e))?;
            Ok(render(&AddedPage {
                chrome: admin.chrome(),
                a: admin.a(),
                c,
                tab: "channels",
                name: channel.label().to_owned(),
                webhook: webhook_url(&state, &channel.webhook_path(&state.config.webhook_path)),
                token: form.token.trim().to_owned(),
                aes_key: form.aes_key.trim().to_owned(),
                format: format.map_or("JSON", |f| match f {
                    DataFormat::Json => "JSON",
                    DataFormat::Xml => "XML",
                }),
            }))
        }
        Err(e) => {
            let (status, message) = admin.refused(e.into())?;
            // the secret typed is not sent back in the refused form
            let typed = ChannelForm {
                secret: String::new(),
                ..form
            };
            render_channels(&state, &admin, status, None, Some((message, typed))).await
        }
    }
}

/// `POST /admin/channels/{id}/check`: requests an access token with the channel's AppID and
/// AppSecret and says what WeChat answered.
async fn check(State(state): State<AppState>, admin: Admin, Path(id): Path<String>) -> PageResult {
    let c = admin.0.lang.channels();
    let Some(endpoint) = crate::web::path_id(&id).and_then(|id| state.channels.by_id(id)) else {
        return Err(admin.0.fail(AppError::NotFound(String::new())));
    };
    let (status, notice) = match &endpoint.api {
        None => (StatusCode::OK, c.check_no_secret.to_owned()),
        Some(api) => match api.access_token().await {
            Ok(_) => (StatusCode::OK, c.check_ok.to_owned()),
            Err(e) => (
                StatusCode::OK,
                fill(c.check_failed, &[("reason", &e.to_string())]),
            ),
        },
    };
    let notice = format!("{}: {notice}", endpoint.channel.label());
    render_channels(&state, &admin, status, Some(notice), None).await
}

#[derive(Debug, Deserialize)]
struct SwitchForm {
    enabled: String,
}

/// `POST /admin/channels/{id}/enabled`: switches the channel's webhook off or on.
async fn switch(
    State(state): State<AppState>,
    admin: Admin,
    Path(id): Path<String>,
    form: Result<Form<SwitchForm>, FormRejection>,
) -> PageResult {
    let (Some(id), Ok(Form(form))) = (crate::web::path_id(&id), form) else {
        let r = admin.0.lang.request();
        let refused = Some((r.unreadable_form.to_owned(), ChannelForm::fresh()));
        return render_channels(&state, &admin, StatusCode::BAD_REQUEST, None, refused).await;
    };
    let enabled = form.enabled == "1";
    let ctx = state.channels.context();
    let by = Caller::Staff(&admin.0.staff);
    match service::set_enabled(&state.store, ctx, by, ChannelRef::Id(id), enabled).await {
        Ok(_) => {
            crate::web::channels::reload(&state)
                .await
                .map_err(|e| admin.0.fail(e))?;
            Ok(Redirect::to("/admin/channels?done=switched").into_response())
        }
        Err(e) => {
            let (status, message) = admin.refused(e.into())?;
            let refused = Some((message, ChannelForm::fresh()));
            render_channels(&state, &admin, status, None, refused).await
        }
    }
}

/// `POST /admin/channels/agents/{id}`: the channels an agent sees, one `ch_{channel}` field per
/// ticked channel; none ticked: every channel.
async fn agent_channels(
    State(state): State<AppState>,
    admin: Admin,
    Path(id): Path<String>,
    form: Result<Form<std::collections::HashMap<String, String>>, FormRejection>,
) -> PageResult {
    let (Some(id), Ok(Form(form))) = (crate::web::path_id(&id), form) else {
        let r = admin.0.lang.request();
        let refused = Some((r.unreadable_form.to_owned(), ChannelForm::fresh()));
        return render_channels(&state, &admin, StatusCode::BAD_REQUEST, None, refused).await;
    };
    let ticked: Vec<i64> = form
        .keys()
        .filter_map(|k| k.strip_prefix("ch_")?.parse().ok())
        .collect();
    let channels = (!ticked.is_empty()).then_some(ticked.as_slice());
    let by = Caller::Staff(&admin.0.staff);
    let account = crate::services::accounts::AccountRef::Id(id);
    match crate::services::accounts::set_channels(&state.store, by, account, channels).await {
        Ok(()) => Ok(Redirect::to("/admin/channels?done=switched").into_response()),
        Err(e) => {
            let (status, message) = admin.refused(e.into())?;
            let refused = Some((message, ChannelForm::fresh()));
            render_channels(&state, &admin, status, None, refused).await
        }
    }
}
