//! The JSON API under `/api/v1` (docs/CONTRACT.md): conversations and their messages, assignment
//! and status, labels and snoozing. Callers authenticate with a bearer token from `kefu token
//! create`.

use axum::extract::rejection::QueryRejection;
use axum::extract::{FromRequest, Path, Query, State};
use axum::routing::{delete, get, post, put};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};

use crate::app::AppState;
use crate::delivery::{self, Attachment, QueueError};
use crate::domain::channel::ChannelKind;
use crate::domain::content::Image;
use crate::domain::{
    ConversationStatus, Direction, Handler, MediaState, MessageContent, MessageStatus, MessageType,
    Millis, ReplyRules, SenderKind, now_millis, rfc3339,
};
use crate::error::{AppError, AppResult};
use crate::i18n::{Lang, RequestText, fill};
use crate::services;
use crate::services::replies::{
    self, CardInput, ImageInput, LinkInput, MenuInput, NewsInput, Reply, ReplyDraft, TextInput,
    Upload, VideoInput, VoiceInput,
};
use crate::store::conversations::{
    self, AssigneeFilter, ConversationRow, ListFilter, Narrow, View,
};
use crate::store::labels::{self as label_store, LabelRow};
use crate::store::messages::{self, MessageRow};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/v1/conversations", get(list_conversations))
        .route("/api/v1/conversations/{id}", get(get_conversation))
        .route("/api/v1/conversations/{id}/messages", get(list_messages))
        .route("/api/v1/conversations/{id}/status", post(set_status))
        .route("/api/v1/conversations/{id}/assign", post(assign))
        .route(
            "/api/v1/conversations/{id}/messages",
            post(post_message).layer(axum::extract::DefaultBodyLimit::max(
                crate::delivery::MAX_IMAGE_BYTES + 64 * 1024,
            )),
        )
        .route("/api/v1/conversations/{id}/typing", post(typing))
        .route("/api/v1/conversations/{id}/read", post(mark_read))
        .route("/api/v1/conversations/{id}/handler", post(set_handler))
        .route("/api/v1/conversations/{id}/labels", put(set_labels))
        .route("/api/v1/conversations/{id}/snooze", post(snooze))
        .route("/api/v1/conversations/bulk", post(bulk))
        .route("/api/v1/labels", get(list_labels).post(create_label))
        .route("/api/v1/labels/{id}", delete(delete_label))
        .route("/api/v1/messages/{id}/retry", post(retry_message))
        .route("/api/v1/messages/{id}/media", get(message_media))
}

use crate::web::auth::Staff;
use crate::web::json::{self, ApiLang, Strict, Tagged};

const DEFAULT_LIMIT: i64 = 50;
const MAX_LIMIT: i64 = 200;

#[derive(Debug, Deserialize)]
struct ListQuery {
    status: Option<String>,
    assignee: Option<String>,
    limit: Option<String>,
    before: Option<String>,
    handler: Option<String>,
    label: Option<String>,
    contact: Option<String>,
    view: Option<String>,
    channel: Option<String>,
}

async fn list_conversations(
    State(state): State<AppState>,
    user: Staff,
    ApiLang(lang): ApiLang,
    query: Result<Query<ListQuery>, QueryRejection>,
) -> AppResult<Json<ConversationList>> {
    let r = lang.request();
    let Query(q) = query.map_err(|e| AppError::Invalid(e.body_text()))?;
    let status = match q.status.as_deref() {
        None | Some("all") => None,
        Some(s) => Some(
            ConversationStatus::parse(s).ok_or_else(|| AppError::Invalid(r.query_status.into()))?,
        ),
    };
    let assignee = match q.assignee.as_deref() {
        None | Some("any") => AssigneeFilter::Any,
        Some("me") => AssigneeFilter::User(user.id),
        Some("none") => AssigneeFilter::Nobody,
        Some(id) => AssigneeFilter::User(
            id.parse()
                .map_err(|_| AppError::Invalid(r.query_assignee.into()))?,
        ),
    };
    let before = match q.before.as_deref() {
        None | Some("") => None,
        Some(c) => Some(parse_cursor(c, r)?),
    };
    let limit = parse_limit(q.limit.as_deref(), r)?;
    let narrow = Narrow {
        view: match q.view.as_deref() {
            None | Some("all") => View::All,
            Some("waiting") => View::Waiting,
            Some("mine") => View::Mine(user.id),
            Some("bot") => View::Bot,
            Some(_) => return Err(AppError::Invalid(r.query_view.into())),
        },
        handler: match q.handler.as_deref() {
            None => None,
            Some(h) => {
                Some(Handler::parse(h).ok_or_else(|| AppError::Invalid(r.query_handler.into()))?)
            }
        },
        label: match q.label.as_deref() {
            None => None,
            Some(name) => Some(services::labels::named(&state.store, name, lang).await?.id),
        },
        within: user.channels.clone(),
        channel: match q.channel.as_deref() {
            None => None,
            Some(name) => Some(
                state
                    .channels
                    .by_name(name)
                    .ok_or_else(|| {
                        AppError::Invalid(format!("there is no channel named {name:?}"))
                    })?
                    .id(),
            ),
        },
        contact: match q.contact {
            None => None,
            Some(c) if !c.is_empty() && c.chars().count() <= 128 => Some(c),
            Some(_) => return Err(AppError::Invalid(r.query_contact.into())),
        },
    };
    let filter = ListFilter {
        status,
        assignee,
        before,
        limit: limit + 1,
    };
    let rows = conversations::list_where(&state.store, &filter, &narrow).await?;
    let has_more = rows.len() as i64 > limit;
    let rows = &rows[..rows.len().min(limit as usize)];
    let next = has_more
        .then(|| {
            rows.last()
                .map(|r| format!("{}.{}", r.last_activity_at, r.id))
        })
        .flatten();
    let conversations = conversations_json(&state, rows.iter()).await?;
    Ok(Json(ConversationList {
        conversations,
        next,
    }))
}

async fn get_conversation(
    State(state): State<AppState>,
    _user: Staff,
    ApiLang(lang): ApiLang,
    Path(id): Path<String>,
) -> AppResult<Json<ConversationJson>> {
    let id = parse_id(&id)?;
    conversation_now(&state, id, lang).await.map(Json)
}

/// The conversation `id` as the API shows it now.
pub(crate) async fn conversation_now(
    state: &AppState,
    id: i64,
    lang: Lang,
) -> AppResult<ConversationJson> {
    let row = find_conversation(state, id, lang).await?;
    view_of(state, &row).await
}

/// A conversation as the API shows it, with its last message and labels.
async fn view_of(state: &AppState, row: &ConversationRow) -> AppResult<ConversationJson> {
    let mut one = conversations_json(state, std::iter::once(row)).await?;
    one.pop()
        .ok_or_else(|| AppError::Internal(anyhow::anyhow!("no view of conversation {}", row.id)))
}

/// Conversations as the API shows them: each with its last message, reply window, channel
/// and labels (the list and the search results).
pub(crate) async fn conversations_json<'a>(
    state: &AppState,
    rows: impl Iterator<Item = &'a ConversationRow> + Clone,
) -> AppResult<Vec<ConversationJson>> {
    let last_ids: Vec<i64> = rows.clone().filter_map(|r| r.last_message_id).collect();
    let last_messages = messages::by_ids(&state.store, &last_ids).await?;
    let ids: Vec<i64> = rows.clone().map(|r| r.id).collect();
    let labels = label_store::names_of(&state.store, &ids).await?;
    let now = now_millis();
    Ok(rows
        .map(|r| {
            let last = last_messages
                .iter()
                .find(|m| Some(m.id) == r.last_message_id);
            let view = ConversationView::of(r, last, &state.config.reply_rules, now);
            let channel = ChannelBadge::of(&state.channels, r.channel_id);
            let names = labels
                .iter()
                .filter(|(c, _)| *c == r.id)
                .map(|(_, name)| name.clone())
                .collect();
            ConversationJson::of(view, r, channel, names)
        })
        .collect())
}

#[derive(Debug, Deserialize)]
struct PageQuery {
    limit: Option<String>,
    before: Option<String>,
}

async fn list_messages(
    State(state): State<AppState>,
    _user: Staff,
    ApiLang(lang): ApiLang,
    Path(id): Path<String>,
    query: Result<Query<PageQuery>, QueryRejection>,
) -> AppResult<Json<MessageList>> {
    let r = lang.request();
    let Query(q) = query.map_err(|e| AppError::Invalid(e.body_text()))?;
    let id = parse_id(&id)?;
    find_conversation(&state, id, lang).await?;
    let limit = parse_limit(q.limit.as_deref(), r)?;
    let before = match q.before.as_deref() {
        None | Some("") => None,
        Some(c) => Some(
            c.parse::<i64>()
                .map_err(|_| AppError::Invalid(r.query_cursor.into()))?,
        ),
    };
    let rows = messages::list(&state.store, id, before, limit + 1).await?;
    let has_more = rows.len() as i64 > limit;
    let rows = &rows[..rows.len().min(limit as usize)];
    let next = has_more
        .then(|| rows.last().map(|m| m.id.to_string()))
        .flatten();
    let messages = rows.iter().map(MessageView::of).collect();
    Ok(Json(MessageList { messages, next }))
}

/// `POST /api/v1/conversations/{id}/status`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct StatusBody {
    pub(super) status: String,
}

async fn set_status(
    State(state): State<AppState>,
    user: Staff,
    ApiLang(lang): ApiLang,
    Path(id): Path<String>,
    Strict(body): Strict<StatusBody>,
) -> AppResult<Json<ConversationJson>> {
    let id = parse_id(&id)?;
    let status = ConversationStatus::parse(&body.status).ok_or_else(|| {
        AppError::Invalid(
            lang.request()
                .choice("status", &["open", "pending", "resolved"]),
        )
    })?;
    let row =
        services::conversations::set_status(&state.store, &state.live, &user, id, status, lang)
            .await?;
    view_of(&state, &row).await.map(Json)
}

/// `POST /api/v1/conversations/{id}/assign`: null (or no `assignee`) unassigns.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct AssignBody {
    pub(super) assignee: Option<i64>,
}

async fn assign(
    State(state): State<AppState>,
    user: Staff,
    ApiLang(lang): ApiLang,
    Path(id): Path<String>,
    Strict(body): Strict<AssignBody>,
) -> AppResult<Json<ConversationJson>> {
    let id = parse_id(&id)?;
    let (store, live) = (&state.store, &state.live);
    let row = services::conversations::assign(store, live, &user, id, body.assignee, lang).await?;
    view_of(&state, &row).await.map(Json)
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct HandlerBody {
    pub(super) handler: String,
}

/// `POST /api/v1/conversations/{id}/handler` `{"handler": "bot"|"human"}`: hand a
/// conversation back to the bot (it is unassigned and the bot answers again) or take it from
/// the bot for a human (it waits in the queue, or goes to an agent automatically).
async fn set_handler(
    State(state): State<AppState>,
    user: Staff,
    ApiLang(lang): ApiLang,
    Path(id): Path<String>,
    Strict(body): Strict<HandlerBody>,
) -> AppResult<Json<ConversationJson>> {
    let id = parse_id(&id)?;
    let handler = match body.handler.as_str() {
        "bot" => Handler::Bot,
        "human" => Handler::Human,
        _ => return Err(AppError::Invalid(lang.request().handler_choice.into())),
    };
    let (store, live) = (&state.store, &state.live);
    let row = services::conversations::set_handler(store, live, &user, id, handler, lang).await?;
    view_of(&state, &row).await.map(Json)
}

/// `POST /api/v1/conversations/{id}/read`: the agent has seen everything in it.
async fn mark_read(
    State(state): State<AppState>,
    _user: Staff,
    ApiLang(lang): ApiLang,
    Path(id): Path<String>,
) -> AppResult<Json<ConversationJson>> {
    let id = parse_id(&id)?;
    services::conversations::mark_read(&state.store, &state.live, id, lang).await?;
    conversation_now(&state, id, lang).await.map(Json)
}

/// `PUT /api/v1/conversations/{id}/labels` `{"labels": [NAME, ...]}`: replaces its labels.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct LabelsBody {
    labels: Vec<String>,
}

async fn set_labels(
    State(state): State<AppState>,
    user: Staff,
    ApiLang(lang): ApiLang,
    Path(id): Path<String>,
    Strict(body): Strict<LabelsBody>,
) -> AppResult<Json<ConversationJson>> {
    let id = parse_id(&id)?;
    let (store, live) = (&state.store, &state.live);
    services::labels::set_for_conversation(store, live, &user, id, &body.labels, lang).await?;
    conversation_now(&state, id, lang).await.map(Json)
}

/// `POST /api/v1/conversations/{id}/snooze` `{"until": RFC3339}`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct SnoozeBody {
    until: String,
}

async fn snooze(
    State(state): State<AppState>,
    user: Staff,
    ApiLang(lang): ApiLang,
    Path(id): Path<String>,
    Strict(body): Strict<SnoozeBody>,
) -> AppResult<Json<ConversationJson>> {
    let id = parse_id(&id)?;
    let until = body.until.as_str();
    let (store, live) = (&state.store, &state.live);
    let row = services::conversations::snooze(store, live, &user, id, until, lang).await?;
    view_of(&state, &row).await.map(Json)
}

/// Most conversations one bulk request acts on.
pub const MAX_BULK: usize = 200;

/// `POST /api/v1/conversations/bulk`: one action on several conversations.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct BulkBody {
    ids: Vec<i64>,
    action: String,
    /// `assign`: the staff id, or null for nobody; absent (None) is refused, so a forgotten
    /// field does not unassign
    #[serde(default, deserialize_with = "present")]
    assignee: Option<Option<i64>>,
    /// `label`: the label's name
    #[serde(default)]
    label: Option<String>,
}

/// A field that may be null, told apart from one that is absent (`#[serde(default)]` gives None).
fn present<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Option<i64>>, D::Error> {
    Option::<i64>::deserialize(d).map(Some)
}

/// What happened to each conversation of a bulk request, in the order given.
#[derive(Debug, Serialize)]
pub struct BulkOutcome {
    pub results: Vec<BulkResult>,
    /// how many were done, how many refused
    pub done: usize,
    pub refused: usize,
}

#[derive(Debug, Serialize)]
pub struct BulkResult {
    pub id: i64,
    pub ok: bool,
    /// why this one was refused: `{code, message}` as the API's errors
    pub error: Option<BulkError>,
}

#[derive(Debug, Serialize)]
pub struct BulkError {
    pub code: &'static str,
    pub message: String,
}

enum BulkAction {
    Assign(Option<i64>),
    Label(String),
    Resolve,
}

/// Each conversation goes through the same service (and the same rules: an agent does not take
/// a colleague's conversation) as its own request would, in its own transaction: one refused
/// does not undo or stop the others, and each is reported. The request as a whole is refused
/// (400) only when it cannot mean anything: no ids or too many, an unknown action, an unknown
/// label.
async fn bulk(
    State(state): State<AppState>,
    user: Staff,
    ApiLang(lang): ApiLang,
    Strict(body): Strict<BulkBody>,
) -> AppResult<Json<BulkOutcome>> {
    let r = lang.request();
    // a repeated id counts once; past the limit there is no need to look further
    let mut ids: Vec<i64> = Vec::with_capacity(body.ids.len().min(MAX_BULK + 1));
    let mut seen = std::collections::HashSet::with_capacity(ids.capacity());
    for &id in &body.ids {
        if seen.insert(id) {
            ids.push(id);
            if ids.len() > MAX_BULK {
                break;
            }
        }
    }
    if ids.is_empty() || ids.len() > MAX_BULK {
        let max = MAX_BULK.to_string();
        return Err(AppError::Invalid(fill(
            lang.list().bulk_ids,
            &[("max", &max)],
        )));
    }
    let action =
        match body.action.as_str() {
            "assign" => BulkAction::Assign(body.assignee.ok_or_else(|| {
                AppError::Invalid(fill(r.field_required, &[("field", "assignee")]))
            })?),
            "label" => {
                let name = body.label.ok_or_else(|| {
                    AppError::Invalid(fill(r.field_required, &[("field", "label")]))
                })?;
                // an unknown label refuses the whole request, before anything changes
                BulkAction::Label(
                    services::labels::named(&state.store, &name, lang)
                        .await?
                        .name,
                )
            }
            "resolve" => BulkAction::Resolve,
            _ => {
                return Err(AppError::Invalid(
                    r.choice("action", &["assign", "label", "resolve"]),
                ));
            }
        };
    let (store, live) = (&state.store, &state.live);
    let mut results = Vec::with_capacity(ids.len());
    for id in ids {
        // a conversation of a channel the caller does not see is one that does not exist
        let hidden = match &user.channels {
            Some(within) => conversations::channel_of(store, id)
                .await?
                .is_some_and(|channel| !within.contains(&channel)),
            None => false,
        };
        let outcome = match &action {
            _ if hidden => Err(services::conversations::missing(id, lang)),
            BulkAction::Assign(to) => {
                services::conversations::assign(store, live, &user, id, *to, lang)
                    .await
                    .map(|_| ())
            }
            BulkAction::Label(name) => {
                services::labels::add_to_conversation(store, live, &user, id, name, lang).await
            }
            BulkAction::Resolve => services::conversations::set_status(
                store,
                live,
                &user,
                id,
                ConversationStatus::Resolved,
                lang,
            )
            .await
            .map(|_| ()),
        };
        results.push(match outcome {
            Ok(()) => BulkResult {
                id,
                ok: true,
                error: None,
            },
            Err(e) => {
                e.log();
                BulkResult {
                    id,
                    ok: false,
                    error: Some(BulkError {
                        code: e.code(),
                        message: e.public_message(),
                    }),
                }
            }
        });
    }
    let done = results.iter().filter(|r| r.ok).count();
    Ok(Json(BulkOutcome {
        refused: results.len() - done,
        done,
        results,
    }))
}

/// `GET /api/v1/labels`.
#[derive(Debug, Serialize)]
pub struct LabelList {
    pub labels: Vec<LabelView>,
}

/// A label as the API shows it.
#[derive(Debug, Serialize)]
pub struct LabelView {
    pub id: i64,
    pub name: String,
    pub color: String,
}

impl From<LabelRow> for LabelView {
    fn from(l: LabelRow) -> LabelView {
        LabelView {
            id: l.id,
            name: l.name,
            color: l.color,
        }
    }
}

async fn list_labels(State(state): State<AppState>, _user: Staff) -> AppResult<Json<LabelList>> {
    let labels = services::labels::list(&state.store).await?;
    Ok(Json(LabelList {
        labels: labels.into_iter().map(LabelView::from).collect(),
    }))
}

/// `POST /api/v1/labels` (admins) `{"name", "color"}`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct LabelBody {
    name: String,
    color: String,
}

async fn create_label(
    State(state): State<AppState>,
    user: Staff,
    ApiLang(lang): ApiLang,
    Strict(body): Strict<LabelBody>,
) -> AppResult<(axum::http::StatusCode, Json<LabelView>)> {
    let label =
        services::labels::create(&state.store, &user, &body.name, &body.color, lang).await?;
    Ok((axum::http::StatusCode::CREATED, Json(label.into())))
}

/// `DELETE /api/v1/labels/{id}` (admins): 204.
async fn delete_label(
    State(state): State<AppState>,
    user: Staff,
    ApiLang(lang): ApiLang,
    Path(id): Path<String>,
) -> AppResult<axum::http::StatusCode> {
    let id = super::path_id(&id).ok_or_else(|| services::labels::no_label(&id, lang))?;
    services::labels::delete(&state.store, &state.live, &user, id, lang).await?;
    Ok(axum::http::StatusCode::NO_CONTENT)
}

async fn find_conversation(state: &AppState, id: i64, lang: Lang) -> AppResult<ConversationRow> {
    conversations::get(&state.store, id)
        .await?
        .ok_or_else(|| services::conversations::missing(id, lang))
}

fn parse_id(id: &str) -> AppResult<i64> {
    super::path_id(id).ok_or_else(|| AppError::NotFound(format!("there is no conversation {id:?}")))
}

fn parse_limit(limit: Option<&str>, r: &RequestText) -> AppResult<i64> {
    match limit {
        None => Ok(DEFAULT_LIMIT),
        Some(l) => l
            .parse::<i64>()
            .ok()
            .filter(|l| (1..=MAX_LIMIT).contains(l))
            .ok_or_else(|| {
                AppError::Invalid(fill(r.query_limit, &[("max", &MAX_LIMIT.to_string())]))
            }),
    }
}

fn parse_cursor(c: &str, r: &RequestText) -> AppResult<(Millis, i64)> {
    c.split_once('.')
        .and_then(|(at, id)| Some((at.parse().ok()?, id.parse().ok()?)))
        .ok_or_else(|| AppError::Invalid(r.query_cursor.into()))
}

/// `GET /api/v1/conversations`.
#[derive(Debug, Serialize)]
pub struct ConversationList {
    pub conversations: Vec<ConversationJson>,
    pub next: Option<String>,
}

/// `GET /api/v1/conversations/{id}/messages`.
#[derive(Debug, Serialize)]
pub struct MessageList {
    pub messages: Vec<MessageView>,
    pub next: Option<String>,
}

/// A conversation as docs/CONTRACT.md shapes it. The fields are in alphabetical order, the
/// order the answer has always had (it was a `json!` map, which sorts its keys): clients
/// and tests that compare bodies byte for byte see no change.
#[derive(Debug, Serialize)]
pub struct ConversationView {
    pub assignee: Option<Person>,
    pub contact: ContactView,
    pub created_at: String,
    pub handler: Handler,
    pub id: i64,
    pub last_activity_at: String,
    pub last_message: Option<MessageView>,
    pub last_message_at: Option<String>,
    pub replies_left: u32,
    pub reply_window_ends_at: Option<String>,
    pub status: ConversationStatus,
    pub unread: i64,
}

/// A conversation as the API answers it: the contract's object (`ConversationView`, unchanged
/// byte for byte) followed by what the workspace added, its labels and the end of its snooze.
#[derive(Debug, Serialize)]
pub struct ConversationJson {
    #[serde(flatten)]
    pub conversation: ConversationView,
    /// the WeChat account the customer wrote to (CONTRACT.md "Channels")
    pub channel: ChannelBadge,
    pub labels: Vec<String>,
    pub snoozed_until: Option<String>,
}

/// A conversation's channel, as its object names it.
#[derive(Debug, Serialize)]
pub struct ChannelBadge {
    pub id: i64,
    pub name: String,
    pub kind: crate::domain::channel::ChannelKind,
}

impl ChannelBadge {
    pub fn of(channels: &crate::channels::Channels, id: i64) -> ChannelBadge {
        match channels.by_id(id) {
            Some(e) => ChannelBadge {
                id,
                name: e.channel.name.to_string(),
                kind: e.channel.kind,
            },
            // a channel the registry has not read yet (added by another process a moment ago)
            None => ChannelBadge {
                id,
                name: String::new(),
                kind: crate::domain::channel::ChannelKind::MiniProgram,
            },
        }
    }
}

impl ConversationJson {
    pub fn of(
        conversation: ConversationView,
        r: &ConversationRow,
        channel: ChannelBadge,
        labels: Vec<String>,
    ) -> Self {
        ConversationJson {
            conversation,
            channel,
            labels,
            snoozed_until: r.snoozed_until.map(rfc3339),
        }
    }
}

/// A staff member as a conversation names them.
#[derive(Debug, Serialize)]
pub struct Person {
    pub id: i64,
    pub name: Option<String>,
}

#[derive(Debug, Serialize)]
pub struct ContactView {
    pub name: Option<String>,
    pub openid: String,
    pub session_from: Option<String>,
}

impl ConversationView {
    pub fn of(
        r: &ConversationRow,
        last: Option<&MessageRow>,
        rules: &ReplyRules,
        now: Millis,
    ) -> ConversationView {
        let allowance = rules.allowance(
            r.last_message_at,
            r.replies_since_message,
            r.last_enter_at,
            r.replies_since_enter,
            now,
        );
        ConversationView {
            assignee: r.assignee_id.map(|id| Person {
                id,
                name: r.assignee_name.clone(),
            }),
            contact: ContactView {
                name: r.contact_name.clone(),
                openid: r.openid.clone(),
                session_from: r.session_from.clone(),
            },
            created_at: rfc3339(r.created_at),
            handler: r.handler,
            id: r.id,
            last_activity_at: rfc3339(r.last_activity_at),
            last_message: last.map(MessageView::of),
            last_message_at: r.last_message_at.map(rfc3339),
            replies_left: allowance.left,
            reply_window_ends_at: allowance.ends_at.map(rfc3339),
            status: r.status,
            unread: r.unread,
        }
    }
}

/// A message as docs/CONTRACT.md shapes it. Like the conversation, its fields (and its
/// content's, see `domain::content`) are in alphabetical order, the order of the `json!` map
/// it once was.
#[derive(Debug, Serialize)]
pub struct MessageView {
    #[serde(serialize_with = "content_payload")]
    pub content: MessageContent,
    pub conversation_id: i64,
    pub created_at: String,
    pub direction: Direction,
    pub error: Option<MessageError>,
    pub id: i64,
    pub sender: Sender,
    pub status: MessageStatus,
    #[serde(rename = "type")]
    pub kind: MessageType,
}

/// Who wrote a message: a customer by openid, staff by id (the bot and kefu by none).
#[derive(Debug, Serialize)]
pub struct Sender {
    pub id: Option<SenderId>,
    pub kind: SenderKind,
    pub name: Option<String>,
}

#[derive(Debug, Serialize)]
#[serde(untagged)]
pub enum SenderId {
    Openid(String),
    Staff(i64),
}

/// Why WeChat refused a reply.
#[derive(Debug, Serialize)]
pub struct MessageError {
    pub code: String,
    pub message: Option<String>,
}

fn content_payload<S: serde::Serializer>(c: &MessageContent, s: S) -> Result<S::Ok, S::Error> {
    c.payload().serialize(s)
}

impl MessageView {
    pub fn of(m: &MessageRow) -> MessageView {
        // kefu serves its own copy. An image kefu keeps (every incoming one) has its url from
        // the moment it is stored: the url answers 404 `media_not_ready` until the fetch from
        // WeChat has the bytes, so a client never waits for the field to appear. A card keeps
        // WeChat's cover address until kefu holds the cover.
        let url = format!("/api/v1/messages/{}/media", m.id);
        let mut content = m.content.clone();
        match &mut content {
            MessageContent::Image(image) => image.url = m.media_state.map(|_| url),
            // an Official Account's voice messages and videos, kept like images
            MessageContent::Voice(voice) => voice.url = m.media_state.map(|_| url),
            MessageContent::Video(video) | MessageContent::ShortVideo(video) => {
                video.url = m.media_state.map(|_| url);
            }
            MessageContent::MiniProgramPage(card) if m.media_state == Some(MediaState::Stored) => {
                card.thumb_url = Some(url);
            }
            _ => {}
        }
        MessageView {
            kind: content.kind(),
            content,
            conversation_id: m.conversation_id,
            created_at: rfc3339(m.created_at),
            direction: m.direction,
            error: m.error_code.as_ref().map(|code| MessageError {
                code: code.clone(),
                message: m.error_message.clone(),
            }),
            id: m.id,
            sender: Sender {
                id: match m.sender_kind {
                    SenderKind::Customer => Some(SenderId::Openid(m.openid.clone())),
                    SenderKind::Agent | SenderKind::Bot | SenderKind::System => {
                        m.sender_id.map(SenderId::Staff)
                    }
                },
                kind: m.sender_kind,
                name: m.sender_name.clone(),
            },
            status: m.status,
        }
    }
}

/// `POST /api/v1/conversations/{id}/messages`: queue a reply (202) or store a private note.
async fn post_message(
    State(state): State<AppState>,
    user: Staff,
    ApiLang(lang): ApiLang,
    Path(id): Path<String>,
    request: axum::extract::Request,
) -> AppResult<(axum::http::StatusCode, Json<MessageView>)> {
    let id = parse_id(&id)?;
    let conversation = find_conversation(&state, id, lang).await?;
    let appid = channel_appid(&state, conversation.channel_id);
    // what the channel's kind sends is checked before the fields: a type it never sends is
    // refused as such (422), whatever its content says
    let channel_kind = state
        .channels
        .by_id(conversation.channel_id)
        .map(|c| c.channel.kind);
    let is_multipart = request
        .headers()
        .get(axum::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("multipart/form-data"));
    let reply = if is_multipart {
        let multipart = axum::extract::Multipart::from_request(request, &state)
            .await
            .map_err(|_| AppError::Invalid(lang.request().multipart_unreadable.into()))?;
        reply_from_multipart(appid.as_deref(), multipart, channel_kind, lang).await?
    } else {
        let Strict(body) = Strict::<Tagged>::from_request(request, &state).await?;
        let input: MessageInput = body.read_into("", lang)?;
        let draft = ReplyDraft::from(input);
        allowed(channel_kind, draft.kind(), lang)?;
        replies::check(appid.as_deref(), draft, "", lang)?
    };
    let is_note = matches!(reply.content, MessageContent::Note(_));
    let row = send_reply(
        &state,
        &conversation,
        (SenderKind::Agent, Some(user.id)),
        reply,
        lang,
    )
    .await?;
    if !is_note {
        // the reply is queued whatever happens here: a failure to take the conversation is
        // logged, not answered (a retry by the client would send the reply twice)
        let (store, live) = (&state.store, &state.live);
        if let Err(e) = services::conversations::taken_by_reply(store, live, &user, id).await {
            tracing::error!(conversation.id = id, error = %e, "cannot take the conversation from the bot after a reply");
        }
    }
    Ok((
        axum::http::StatusCode::ACCEPTED,
        Json(MessageView::of(&row)),
    ))
}

/// Queues a validated reply, storing its attachment first.
pub async fn send_reply(
    state: &AppState,
    conversation: &ConversationRow,
    sender: (SenderKind, Option<i64>),
    reply: Reply,
    lang: Lang,
) -> AppResult<MessageRow> {
    let conversation_id = conversation.id;
    if !matches!(reply.content, MessageContent::Note(_))
        && state.channels.api(conversation.channel_id).is_none()
    {
        return Err(AppError::Unavailable(lang.refusal().cannot_send.into()));
    }
    let attachment = match reply.file {
        Some(Upload {
            bytes,
            content_type,
            ext,
        }) => {
            let relative = format!("out/{}.{ext}", crate::services::accounts::random_secret(12));
            delivery::write_file(&state.config.data_dir.join("media"), &relative, &bytes)
                .await
                .map_err(|e| AppError::Internal(anyhow::anyhow!("cannot store the upload: {e}")))?;
            Some(Attachment {
                path: relative,
                content_type: content_type.to_owned(),
            })
        }
        None => None,
    };
    delivery::queue_reply(
        &state.store,
        &state.live,
        &state.config.reply_rules,
        conversation_id,
        sender,
        &reply.content,
        attachment,
        0,
    )
    .await
    .map_err(|e| queue_error(e, lang))
}

fn queue_error(e: QueueError, lang: Lang) -> AppError {
    let r = lang.refusal();
    match e {
        QueueError::NoConversation(id) => {
            AppError::NotFound(fill(r.no_conversation, &[("id", &id.to_string())]))
        }
        QueueError::WindowClosed => AppError::Refused {
            code: "reply_window_closed",
            message: r.window_closed.to_owned(),
        },
        QueueError::QuotaUsed => AppError::Refused {
            code: "reply_quota_used",
            message: r.quota_used.to_owned(),
        },
        QueueError::Db(e) => AppError::from(e),
    }
}

/// A reply as a request gives it, `{"type", "content"}` (docs/CONTRACT.md, "content by
/// type"): what a rule may send (all but a note, which the rule refuses); an agent posts a
/// `MessageInput`, these and an Official Account's types. Read through `json::Tagged`, so a
/// refused field is named by its path (`content.text`).
///
/// The fields the answer shows but kefu fills in itself (an image's `url`, a card's
/// `thumb_url`) are accepted, so a message or rule reply read from the API can be sent back as
/// it is, and ignored: kefu serves its own stored copy.
#[derive(Debug, Deserialize)]
#[serde(tag = "type", content = "content", deny_unknown_fields)]
pub enum ReplyInput {
    #[serde(rename = "text")]
    Text(#[serde(deserialize_with = "json::object")] TextInput),
    #[serde(rename = "image")]
    Image(#[serde(deserialize_with = "json::object")] ImageInput),
    #[serde(rename = "link")]
    Link(#[serde(deserialize_with = "json::object")] LinkInput),
    #[serde(rename = "miniprogrampage")]
    MiniProgramPage(#[serde(deserialize_with = "json::object")] CardInput),
    #[serde(rename = "note")]
    Note(#[serde(deserialize_with = "json::object")] TextInput),
}

/// An agent's message as the API takes it: every reply type (`ReplyInput`) and a note, and an
/// Official Account's voice message, video, link card (`news`) and menu (`msgmenu`), which
/// rules do not send. Whether the conversation's channel sends the type is checked after.
#[derive(Debug, Deserialize)]
#[serde(tag = "type", content = "content", deny_unknown_fields)]
pub enum MessageInput {
    #[serde(rename = "text")]
    Text(#[serde(deserialize_with = "json::object")] TextInput),
    #[serde(rename = "image")]
    Image(#[serde(deserialize_with = "json::object")] ImageInput),
    #[serde(rename = "link")]
    Link(#[serde(deserialize_with = "json::object")] LinkInput),
    #[serde(rename = "miniprogrampage")]
    MiniProgramPage(#[serde(deserialize_with = "json::object")] CardInput),
    #[serde(rename = "voice")]
    Voice(#[serde(deserialize_with = "json::object")] VoiceInput),
    #[serde(rename = "video")]
    Video(#[serde(deserialize_with = "json::object")] VideoInput),
    #[serde(rename = "news")]
    News(#[serde(deserialize_with = "json::object")] NewsInput),
    #[serde(rename = "msgmenu")]
    MsgMenu(#[serde(deserialize_with = "json::object")] MenuInput),
    #[serde(rename = "note")]
    Note(#[serde(deserialize_with = "json::object")] TextInput),
}

impl From<MessageInput> for ReplyDraft {
    fn from(input: MessageInput) -> ReplyDraft {
        match input {
            MessageInput::Text(c) => ReplyDraft::Text(c),
            MessageInput::Image(c) => ReplyDraft::Image(c),
            MessageInput::Link(c) => ReplyDraft::Link(c),
            MessageInput::MiniProgramPage(c) => ReplyDraft::MiniProgramPage(c),
            MessageInput::Voice(c) => ReplyDraft::Voice(c),
            MessageInput::Video(c) => ReplyDraft::Video(c),
            MessageInput::News(c) => ReplyDraft::News(c),
            MessageInput::MsgMenu(c) => ReplyDraft::MsgMenu(c),
            MessageInput::Note(c) => ReplyDraft::Note(c),
        }
    }
}

impl From<ReplyInput> for ReplyDraft {
    fn from(input: ReplyInput) -> ReplyDraft {
        match input {
            ReplyInput::Text(c) => ReplyDraft::Text(c),
            ReplyInput::Image(c) => ReplyDraft::Image(c),
            ReplyInput::Link(c) => ReplyDraft::Link(c),
            ReplyInput::MiniProgramPage(c) => ReplyDraft::MiniProgramPage(c),
            ReplyInput::Note(c) => ReplyDraft::Note(c),
        }
    }
}

/// The AppID of a conversation's channel, which replies' cards and links must name.
fn channel_appid(state: &AppState, channel_id: i64) -> Option<String> {
    state
        .channels
        .by_id(channel_id)
        .map(|c| c.channel.appid.clone())
        .filter(|a| !a.is_empty())
}

/// Refuses a type the conversation's channel does not send (`replies::allowed_on`). With no
/// such channel running nothing is sent anyway (`send_reply` says so) and a note is kept.
fn allowed(channel: Option<ChannelKind>, kind: MessageType, lang: Lang) -> AppResult<()> {
    match channel {
        Some(channel) => replies::allowed_on(channel, kind, lang),
        None => Ok(()),
    }
}

/// A multipart reply: an image (`file`), a mini program card with its cover as `file`, or an
/// Official Account's voice message or video (`file`; a video's `title`, `description` and
/// `thumb_media_id` as parts of their own). A type the conversation's `channel` does not send
/// is refused before the file is looked at.
async fn reply_from_multipart(
    appid: Option<&str>,
    mut multipart: axum::extract::Multipart,
    channel: Option<ChannelKind>,
    lang: Lang,
) -> AppResult<Reply> {
    let r = lang.request();
    let w = lang.sending();
    let unreadable = |_| AppError::Invalid(r.multipart_unreadable.into());
    let mut kind: Option<String> = None;
    let (mut title, mut pagepath, mut given_appid) = (String::new(), String::new(), None);
    let (mut description, mut thumb_media_id) = (None, None);
    let mut file: Option<Vec<u8>> = None;
    while let Some(field) = multipart.next_field().await.map_err(unreadable)? {
        match field.name().unwrap_or_default() {
            "file" => file = Some(field.bytes().await.map_err(unreadable)?.to_vec()),
            "type" => kind = Some(field.text().await.map_err(unreadable)?),
            "title" => title = field.text().await.map_err(unreadable)?,
            "pagepath" => pagepath = field.text().await.map_err(unreadable)?,
            "appid" => given_appid = Some(field.text().await.map_err(unreadable)?),
            "description" => description = Some(field.text().await.map_err(unreadable)?),
            "thumb_media_id" => thumb_media_id = Some(field.text().await.map_err(unreadable)?),
            _ => {}
        }
    }
    let kind = match kind.as_deref().unwrap_or("image") {
        "image" => MessageType::Image,
        "miniprogrampage" => MessageType::MiniProgramPage,
        "voice" => MessageType::Voice,
        "video" => MessageType::Video,
        _ => return Err(AppError::Invalid(w.multipart_type.into())),
    };
    allowed(channel, kind, lang)?;
    let bytes = file.ok_or_else(|| {
        AppError::Invalid(match kind {
            MessageType::Voice | MessageType::Video => w.file_required.into(),
            _ => r.file_required.into(),
        })
    })?;
    let mib = |max: usize| (max >> 20).to_string();
    let (content, content_type, ext) = match kind {
        MessageType::Voice => {
            if bytes.is_empty() || bytes.len() > delivery::MAX_VOICE_UPLOAD_BYTES {
                let max = mib(delivery::MAX_VOICE_UPLOAD_BYTES);
                return Err(AppError::Invalid(fill(w.voice_size, &[("max", &max)])));
            }
            // what WeChat's media/upload takes for a voice message
            let (content_type, ext) = delivery::sniff_audio(&bytes)
                .filter(|(_, ext)| matches!(*ext, "amr" | "mp3"))
                .ok_or_else(|| AppError::Invalid(w.voice_kind.into()))?;
            let content = replies::media_reply(kind, ext, None, None, None, lang)?;
            (content, content_type, ext)
        }
        MessageType::Video => {
            if bytes.is_empty() || bytes.len() > delivery::MAX_VIDEO_UPLOAD_BYTES {
                let max = mib(delivery::MAX_VIDEO_UPLOAD_BYTES);
                return Err(AppError::Invalid(fill(w.video_size, &[("max", &max)])));
            }
            let (content_type, ext) = delivery::sniff_video(&bytes)
                .filter(|(content_type, _)| *content_type == "video/mp4")
                .ok_or_else(|| AppError::Invalid(w.video_kind.into()))?;
            let content = replies::media_reply(
                kind,
                "",
                thumb_media_id.as_deref(),
                Some(title.as_str()),
                description.as_deref(),
                lang,
            )?;
            (content, content_type, ext)
        }
        _ => {
            if bytes.is_empty() || bytes.len() > delivery::MAX_IMAGE_BYTES {
                let max = mib(delivery::MAX_IMAGE_BYTES);
                return Err(AppError::Invalid(fill(r.image_size, &[("max", &max)])));
            }
            let content_type = delivery::sniff_image(&bytes)
                .ok_or_else(|| AppError::Invalid(r.image_kind.into()))?;
            let ext = delivery::image_extension(content_type).unwrap_or("bin");
            let content = match kind {
                MessageType::MiniProgramPage => {
                    let card =
                        replies::card(appid, &title, given_appid.as_deref(), &pagepath, lang)?;
                    card.content(None)
                }
                _ => MessageContent::Image(Image {
                    media_id: None,
                    pic_url: None,
                    url: None,
                }),
            };
            (content, content_type, ext)
        }
    };
    Ok(Reply {
        content,
        file: Some(Upload {
            bytes,
            content_type,
            ext,
        }),
    })
}

/// `POST /api/v1/conversations/{id}/typing`: WeChat's typing indicator, within its limits.
async fn typing(
    State(state): State<AppState>,
    _user: Staff,
    ApiLang(lang): ApiLang,
    Path(id): Path<String>,
) -> AppResult<Json<Typing>> {
    let id = parse_id(&id)?;
    let row = find_conversation(&state, id, lang).await?;
    let Some(api) = state.channels.api(row.channel_id) else {
        return Ok(Json(Typing::skipped("sending is not configured")));
    };
    let sent = state
        .typing
        .typing(&api, row.contact_id, &row.openid, row.last_message_at)
        .await
        .map_err(|e| AppError::Refused {
            code: "wechat_refused",
            message: e.to_string(),
        })?;
    Ok(Json(if sent {
        Typing {
            reason: None,
            typing: "sent",
        }
    } else {
        Typing::skipped(
            "WeChat allows one indicator per 15 s, within 30 s of the customer's last message",
        )
    }))
}

/// What became of a typing indicator: `sent`, or `skipped` with the reason.
#[derive(Debug, Serialize)]
pub struct Typing {
    #[serde(skip_serializing_if = "Option::is_none")]
    reason: Option<&'static str>,
    typing: &'static str,
}

impl Typing {
    fn skipped(reason: &'static str) -> Typing {
        Typing {
            reason: Some(reason),
            typing: "skipped",
        }
    }
}

/// `POST /api/v1/messages/{id}/retry`: queue a failed reply again.
async fn retry_message(
    State(state): State<AppState>,
    user: Staff,
    ApiLang(lang): ApiLang,
    Path(id): Path<String>,
) -> AppResult<(axum::http::StatusCode, Json<MessageView>)> {
    let id: i64 = id
        .parse()
        .map_err(|_| AppError::NotFound(format!("there is no message {id:?}")))?;
    let requeued = delivery::requeue_reply(
        &state.store,
        &state.live,
        &state.config.reply_rules,
        id,
        &user.actor(),
    )
    .await
    .map_err(|e| queue_error(e, lang))?;
    let Some(row) = requeued else {
        return Err(AppError::Conflict(format!(
            "message {id} is not a failed reply"
        )));
    };
    Ok((
        axum::http::StatusCode::ACCEPTED,
        Json(MessageView::of(&row)),
    ))
}

/// `GET /api/v1/messages/{id}/media`: kefu's own copy of an image (or an Official Account's
/// voice message or video, under the content type it was kept with), for staff only. Before the
/// media worker has it, 404 with the code `media_not_ready` (try again); when WeChat would not
/// give it, 404 with `media_failed` (it will not come); a message without an image kefu keeps,
/// 404 `not_found`.
async fn message_media(
    State(state): State<AppState>,
    _user: Staff,
    Path(id): Path<String>,
) -> AppResult<axum::response::Response> {
    use axum::response::IntoResponse;
    let id: i64 = id
        .parse()
        .map_err(|_| AppError::NotFound(format!("there is no message {id:?}")))?;
    let row = crate::store::media::get(state.store.pool(), id)
        .await?
        .ok_or_else(|| AppError::NotFound(format!("kefu holds no file for message {id}")))?;
    match row.state {
        MediaState::Stored => {}
        MediaState::Pending => {
            return Ok(media_missing(
                "media_not_ready",
                format!(
                    "kefu is still fetching the file of message {id} from WeChat; try again shortly"
                ),
            ));
        }
        MediaState::Failed => {
            return Ok(media_missing(
                "media_failed",
                format!(
                    "kefu could not fetch the file of message {id} from WeChat and has stopped trying"
                ),
            ));
        }
    }
    let (Some(path), Some(content_type)) = (row.path, row.content_type) else {
        return Err(AppError::NotFound(format!(
            "kefu holds no file for message {id}"
        )));
    };
    let bytes = tokio::fs::read(state.config.data_dir.join("media").join(&path))
        .await
        .map_err(|e| AppError::Internal(anyhow::anyhow!("cannot read stored media {path}: {e}")))?;
    // a name for a download (a voice message no browser plays is saved, not shown); the
    // extension is kefu's own (`delivery::media`), letters and digits only
    let ext = path
        .rsplit_once('.')
        .map(|(_, ext)| ext)
        .filter(|ext| ext.bytes().all(|b| b.is_ascii_alphanumeric()))
        .unwrap_or("bin");
    Ok((
        [
            (
                axum::http::header::CONTENT_DISPOSITION,
                format!("inline; filename=\"kefu-message-{id}.{ext}\""),
            ),
            (axum::http::header::CONTENT_TYPE, content_type),
            (
                axum::http::header::CACHE_CONTROL,
                "private, max-age=86400".to_owned(),
            ),
            (
                axum::http::header::X_CONTENT_TYPE_OPTIONS,
                "nosniff".to_owned(),
            ),
        ],
        bytes,
    )
        .into_response())
}

/// The contract's error body with a 404 and a code of its own (`AppError::NotFound` always says
/// `not_found`), not to be cached: the image may be there on the next try.
fn media_missing(code: &'static str, message: String) -> axum::response::Response {
    use axum::response::IntoResponse;
    (
        axum::http::StatusCode::NOT_FOUND,
        [(axum::http::header::CACHE_CONTROL, "no-store")],
        Json(serde_json::json!({ "error": { "code": code, "message": message } })),
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use serde_json::{Value, json};

    use super::*;

    /// A conversation as the API showed it when it was built with `json!` (whose map sorts its
    /// keys): the typed view must give the very same bytes.
    #[test]
    fn a_conversation_is_the_same_json_byte_for_byte() {
        let rules = ReplyRules::default();
        let now = 1_700_000_000_000;
        for (assignee, name, last_message_at) in [
            (Some(7), Some("王女士".to_owned()), Some(now - 60_000)),
            (None, None, None),
        ] {
            let r = ConversationRow {
                channel_id: 1,
                id: 3,
                status: ConversationStatus::Open,
                handler: Handler::Human,
                unread: 2,
                created_at: now - 3_600_000,
                last_activity_at: now - 60_000,
                contact_id: 4,
                openid: "o-abc".into(),
                contact_name: name.clone(),
                last_message_at,
                last_enter_at: None,
                replies_since_message: 1,
                replies_since_enter: 0,
                session_from: Some("ad".into()),
                assignee_id: assignee,
                assignee_name: assignee.map(|_| "Alice".to_owned()),
                last_message_id: None,
                snoozed_until: None,
            };
            let allowance = rules.allowance(r.last_message_at, 1, None, 0, now);
            let before = json!({
                "id": r.id,
                "contact": { "openid": r.openid, "name": r.contact_name, "session_from": r.session_from },
                "status": r.status,
                "assignee": r.assignee_id.map(|id| json!({ "id": id, "name": r.assignee_name })),
                "handler": r.handler,
                "unread": r.unread,
                "created_at": rfc3339(r.created_at),
                "last_message_at": r.last_message_at.map(rfc3339),
                "last_activity_at": rfc3339(r.last_activity_at),
                "reply_window_ends_at": allowance.ends_at.map(rfc3339),
                "replies_left": allowance.left,
                "last_message": null,
            });
            let now_typed = ConversationView::of(&r, None, &rules, now);
            assert_eq!(
                serde_json::to_string(&now_typed).unwrap(),
                before.to_string()
            );
        }
    }

    #[test]
    fn a_typing_answer_is_the_same_json_byte_for_byte() {
        let sent = Typing {
            reason: None,
            typing: "sent",
        };
        assert_eq!(
            serde_json::to_string(&sent).unwrap(),
            json!({ "typing": "sent" }).to_string()
        );
        assert_eq!(
            serde_json::to_string(&Typing::skipped("because")).unwrap(),
            json!({ "typing": "skipped", "reason": "because" }).to_string()
        );
    }

    /// `message_json` as it was before content was typed: the stored JSON re-parsed, patched
    /// with kefu's media URL, and put out under the stored type in a `json!` map. (Since issue
    /// #11 an image kefu keeps has its url whatever the state of the fetch.)
    fn message_json_before(m: &MessageRow, kind: &str, stored: &str) -> Value {
        let mut content: Value = serde_json::from_str(stored).unwrap_or(Value::Null);
        if let Some(obj) = content.as_object_mut() {
            let url = (m.media_state.map(MediaState::as_str) == Some("stored"))
                .then(|| format!("/api/v1/messages/{}/media", m.id));
            match kind {
                // (voice messages and videos came with issue "Official Accounts": their url
                // is kefu's copy as an image's is)
                "image" | "voice" | "video" | "shortvideo" => {
                    let url = m
                        .media_state
                        .map(|_| format!("/api/v1/messages/{}/media", m.id));
                    obj.insert("url".into(), url.map_or(Value::Null, Value::String));
                }
                "miniprogrampage" if url.is_some() => {
                    obj.insert("thumb_url".into(), url.map_or(Value::Null, Value::String));
                }
                _ => {}
            }
        }
        let sender_id = match m.sender_kind.as_str() {
            "customer" => Value::String(m.openid.clone()),
            _ => m.sender_id.map_or(Value::Null, Value::from),
        };
        json!({
            "id": m.id,
            "conversation_id": m.conversation_id,
            "direction": m.direction.as_str(),
            "sender": { "kind": m.sender_kind.as_str(), "id": sender_id, "name": m.sender_name },
            "type": kind,
            "content": content,
            "status": m.status.as_str(),
            "error": m.error_code.as_ref().map(|code| json!({ "code": code, "message": m.error_message })),
            "created_at": rfc3339(m.created_at),
        })
    }

    fn message_row(
        content: MessageContent,
        sender_kind: SenderKind,
        media_state: Option<MediaState>,
        failed: bool,
    ) -> MessageRow {
        MessageRow {
            id: 7,
            conversation_id: 3,
            direction: if sender_kind == SenderKind::Customer {
                Direction::In
            } else {
                Direction::Out
            },
            sender_kind,
            sender_id: (sender_kind == SenderKind::Agent).then_some(2),
            sender_name: Some("名字".into()),
            openid: "o-1".into(),
            content,
            status: if failed {
                MessageStatus::Failed
            } else {
                MessageStatus::Sent
            },
            error_code: failed.then(|| "45015".into()),
            error_message: failed.then(|| "窗口已关闭".into()),
            created_at: 1_714_112_445_123,
            media_state,
        }
    }

    #[test]
    fn every_stored_content_is_shown_by_the_api_byte_for_byte_as_before() {
        let media = [
            None,
            Some(MediaState::Pending),
            Some(MediaState::Stored),
            Some(MediaState::Failed),
        ];
        for (kind, stored) in crate::domain::content::stored_examples() {
            let stored = stored.to_string();
            let content = MessageContent::from_stored(kind, &stored).unwrap();
            for sender in SenderKind::ALL {
                for media in media {
                    for failed in [false, true] {
                        let m = message_row(content.clone(), *sender, media, failed);
                        let typed = serde_json::to_string(&MessageView::of(&m)).unwrap();
                        let before = message_json_before(&m, kind.as_str(), &stored).to_string();
                        assert_eq!(typed, before, "{kind} {sender} {media:?}");
                    }
                }
            }
        }
    }

    #[test]
    fn an_incoming_image_reads_exactly_as_the_contract_shows_it() {
        let stored = r#"{"media_id":"M","pic_url":"http://p"}"#;
        let content = MessageContent::from_stored(MessageType::Image, stored).unwrap();
        let mut m = message_row(
            content,
            SenderKind::Customer,
            Some(MediaState::Stored),
            false,
        );
        m.status = MessageStatus::Received;
        assert_eq!(
            serde_json::to_string(&MessageView::of(&m)).unwrap(),
            r#"{"content":{"media_id":"M","pic_url":"http://p","url":"/api/v1/messages/7/media"},"conversation_id":3,"created_at":"2024-04-26T06:20:45.123Z","direction":"in","error":null,"id":7,"sender":{"id":"o-1","kind":"customer","name":"名字"},"status":"received","type":"image"}"#
        );
    }
}
