//! The JSON API under `/api/v1` (CONTRACT.md): conversations and their messages, assignment
//! and status. Callers authenticate with a bearer token from `kefu token create`.

use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::extract::{FromRequestParts, Path, Query, State};
use axum::http::request::Parts;
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::accounts::token_hash;
use crate::app::AppState;
use crate::domain::{ConversationStatus, Millis, ReplyRules, Role, now_millis, rfc3339};
use crate::error::{AppError, AppResult};
use crate::store::audit::{self, Actor};
use crate::store::conversations::{self, AssigneeFilter, ConversationRow, ListFilter};
use crate::store::messages::{self, MessageRow};
use crate::store::staff;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/v1/conversations", get(list_conversations))
        .route("/api/v1/conversations/{id}", get(get_conversation))
        .route("/api/v1/conversations/{id}/messages", get(list_messages))
        .route("/api/v1/conversations/{id}/status", post(set_status))
        .route("/api/v1/conversations/{id}/assign", post(assign))
}

/// The staff member behind a request.
#[derive(Debug, Clone)]
pub struct ApiUser {
    pub id: i64,
    pub name: String,
    pub role: Role,
}

impl ApiUser {
    pub fn actor(&self) -> Actor {
        Actor {
            id: Some(self.id),
            name: self.name.clone(),
        }
    }
}

impl FromRequestParts<AppState> for ApiUser {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> AppResult<Self> {
        let header = parts
            .headers
            .get(axum::http::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok());
        let Some(token) = header.and_then(|h| h.strip_prefix("Bearer ")) else {
            return Err(AppError::Unauthorized(
                "an Authorization: Bearer token is required".into(),
            ));
        };
        let user =
            staff::by_token_hash(state.store.pool(), &token_hash(token.trim()), now_millis())
                .await?
                .ok_or_else(|| AppError::Unauthorized("the token is not valid".into()))?;
        Ok(ApiUser {
            id: user.id,
            role: user.role(),
            name: user.display_name,
        })
    }
}

const DEFAULT_LIMIT: i64 = 50;
const MAX_LIMIT: i64 = 200;

#[derive(Debug, Deserialize)]
struct ListQuery {
    status: Option<String>,
    assignee: Option<String>,
    limit: Option<String>,
    before: Option<String>,
}

async fn list_conversations(
    State(state): State<AppState>,
    user: ApiUser,
    query: Result<Query<ListQuery>, QueryRejection>,
) -> AppResult<Json<Value>> {
    let Query(q) = query.map_err(|e| AppError::Invalid(e.body_text()))?;
    let status = match q.status.as_deref() {
        None | Some("all") => None,
        Some(s) => Some(ConversationStatus::parse(s).ok_or_else(|| {
            AppError::Invalid("status must be open, pending, resolved or all".into())
        })?),
    };
    let assignee = match q.assignee.as_deref() {
        None | Some("any") => AssigneeFilter::Any,
        Some("me") => AssigneeFilter::User(user.id),
        Some("none") => AssigneeFilter::Nobody,
        Some(id) => AssigneeFilter::User(id.parse().map_err(|_| {
            AppError::Invalid("assignee must be me, none or a staff user id".into())
        })?),
    };
    let before = match q.before.as_deref() {
        None | Some("") => None,
        Some(c) => Some(parse_cursor(c)?),
    };
    let limit = parse_limit(q.limit.as_deref())?;
    let rows = conversations::list(
        state.store.pool(),
        &ListFilter {
            status,
            assignee,
            before,
            limit: limit + 1,
        },
    )
    .await?;
    let has_more = rows.len() as i64 > limit;
    let rows = &rows[..rows.len().min(limit as usize)];
    let next = has_more
        .then(|| {
            rows.last()
                .map(|r| format!("{}.{}", r.last_activity_at, r.id))
        })
        .flatten();
    let last_ids: Vec<i64> = rows.iter().filter_map(|r| r.last_message_id).collect();
    let last_messages = messages::by_ids(state.store.pool(), &last_ids).await?;
    let now = now_millis();
    let list: Vec<Value> = rows
        .iter()
        .map(|r| {
            let last = last_messages
                .iter()
                .find(|m| Some(m.id) == r.last_message_id);
            conversation_json(r, last, now)
        })
        .collect();
    Ok(Json(json!({ "conversations": list, "next": next })))
}

async fn get_conversation(
    State(state): State<AppState>,
    _user: ApiUser,
    Path(id): Path<String>,
) -> AppResult<Json<Value>> {
    let id = parse_id(&id)?;
    let row = find_conversation(&state, id).await?;
    let last = match row.last_message_id {
        Some(mid) => messages::get(state.store.pool(), mid).await?,
        None => None,
    };
    Ok(Json(conversation_json(&row, last.as_ref(), now_millis())))
}

#[derive(Debug, Deserialize)]
struct PageQuery {
    limit: Option<String>,
    before: Option<String>,
}

async fn list_messages(
    State(state): State<AppState>,
    _user: ApiUser,
    Path(id): Path<String>,
    query: Result<Query<PageQuery>, QueryRejection>,
) -> AppResult<Json<Value>> {
    let Query(q) = query.map_err(|e| AppError::Invalid(e.body_text()))?;
    let id = parse_id(&id)?;
    find_conversation(&state, id).await?;
    let limit = parse_limit(q.limit.as_deref())?;
    let before = match q.before.as_deref() {
        None | Some("") => None,
        Some(c) => Some(
            c.parse::<i64>()
                .map_err(|_| AppError::Invalid("before is not a cursor kefu gave out".into()))?,
        ),
    };
    let rows = messages::list(state.store.pool(), id, before, limit + 1).await?;
    let has_more = rows.len() as i64 > limit;
    let rows = &rows[..rows.len().min(limit as usize)];
    let next = has_more
        .then(|| rows.last().map(|m| m.id.to_string()))
        .flatten();
    let list: Vec<Value> = rows.iter().map(message_json).collect();
    Ok(Json(json!({ "messages": list, "next": next })))
}

#[derive(Debug, Deserialize)]
struct StatusBody {
    status: String,
}

async fn set_status(
    State(state): State<AppState>,
    user: ApiUser,
    Path(id): Path<String>,
    body: Result<Json<StatusBody>, JsonRejection>,
) -> AppResult<Json<Value>> {
    let id = parse_id(&id)?;
    let Json(body) = body.map_err(|e| AppError::Invalid(e.body_text()))?;
    let status = ConversationStatus::parse(&body.status)
        .ok_or_else(|| AppError::Invalid("status must be open, pending or resolved".into()))?;
    let now = now_millis();
    let mut tx = state.store.pool().begin().await?;
    if !conversations::set_status(&mut tx, id, status, now).await? {
        return Err(AppError::NotFound(format!("there is no conversation {id}")));
    }
    audit::record(
        &mut tx,
        &user.actor(),
        "conversation.status",
        &format!("conversation {id}"),
        Some(status.as_str()),
        now,
    )
    .await?;
    tx.commit().await?;
    get_conversation(State(state), user, Path(id.to_string())).await
}

#[derive(Debug, Deserialize)]
struct AssignBody {
    assignee: Option<i64>,
}

async fn assign(
    State(state): State<AppState>,
    user: ApiUser,
    Path(id): Path<String>,
    body: Result<Json<AssignBody>, JsonRejection>,
) -> AppResult<Json<Value>> {
    let id = parse_id(&id)?;
    let Json(body) = body.map_err(|e| AppError::Invalid(e.body_text()))?;
    if let Some(assignee) = body.assignee {
        let staff = staff::by_id(state.store.pool(), assignee).await?;
        if staff.is_none_or(|s| s.disabled) {
            return Err(AppError::Invalid(format!(
                "there is no enabled staff user {assignee} to assign to"
            )));
        }
    }
    let now = now_millis();
    let mut tx = state.store.pool().begin().await?;
    if !conversations::assign(&mut tx, id, body.assignee).await? {
        return Err(AppError::NotFound(format!("there is no conversation {id}")));
    }
    let detail = body
        .assignee
        .map_or("nobody".to_owned(), |a| format!("user {a}"));
    audit::record(
        &mut tx,
        &user.actor(),
        "conversation.assign",
        &format!("conversation {id}"),
        Some(&detail),
        now,
    )
    .await?;
    tx.commit().await?;
    get_conversation(State(state), user, Path(id.to_string())).await
}

async fn find_conversation(state: &AppState, id: i64) -> AppResult<ConversationRow> {
    conversations::get(state.store.pool(), id)
        .await?
        .ok_or_else(|| AppError::NotFound(format!("there is no conversation {id}")))
}

fn parse_id(id: &str) -> AppResult<i64> {
    id.parse::<i64>()
        .ok()
        .filter(|i| *i > 0)
        .ok_or_else(|| AppError::NotFound(format!("there is no conversation {id:?}")))
}

fn parse_limit(limit: Option<&str>) -> AppResult<i64> {
    match limit {
        None => Ok(DEFAULT_LIMIT),
        Some(l) => l
            .parse::<i64>()
            .ok()
            .filter(|l| (1..=MAX_LIMIT).contains(l))
            .ok_or_else(|| {
                AppError::Invalid(format!("limit must be a number from 1 to {MAX_LIMIT}"))
            }),
    }
}

fn parse_cursor(c: &str) -> AppResult<(Millis, i64)> {
    c.split_once('.')
        .and_then(|(at, id)| Some((at.parse().ok()?, id.parse().ok()?)))
        .ok_or_else(|| AppError::Invalid("before is not a cursor kefu gave out".into()))
}

/// A conversation as CONTRACT.md shapes it.
pub fn conversation_json(r: &ConversationRow, last: Option<&MessageRow>, now: Millis) -> Value {
    let (window_ends, replies_left) =
        reply_allowance(r.last_message_at, ReplyRules::default(), now);
    json!({
        "id": r.id,
        "contact": { "openid": r.openid, "name": r.contact_name },
        "status": r.status,
        "assignee": r.assignee_id.map(|id| json!({ "id": id, "name": r.assignee_name })),
        "handler": r.handler,
        "unread": r.unread,
        "created_at": rfc3339(r.created_at),
        "last_message_at": r.last_message_at.map(rfc3339),
        "last_activity_at": rfc3339(r.last_activity_at),
        "reply_window_ends_at": window_ends.map(rfc3339),
        "replies_left": replies_left,
        "last_message": last.map(message_json),
    })
}

/// When the reply window closes and how many replies it still allows. Until kefu sends
/// replies (the delivery issue) no reply has been spent, so the allowance is the full quota
/// while the window is open.
fn reply_allowance(
    last_message_at: Option<Millis>,
    rules: ReplyRules,
    now: Millis,
) -> (Option<Millis>, u32) {
    match last_message_at {
        Some(at) => {
            let ends = at + rules.message_window_ms;
            (Some(ends), if now < ends { rules.message_quota } else { 0 })
        }
        None => (None, 0),
    }
}

/// A message as CONTRACT.md shapes it.
pub fn message_json(m: &MessageRow) -> Value {
    let mut content: Value = serde_json::from_str(&m.content).unwrap_or(Value::Null);
    if m.kind == "image"
        && let Some(obj) = content.as_object_mut()
    {
        // served from kefu's own stored copy once the media fetch has it (delivery issue)
        obj.entry("url").or_insert(Value::Null);
    }
    let sender_id = match m.sender_kind.as_str() {
        "customer" => Value::String(m.openid.clone()),
        _ => m.sender_id.map_or(Value::Null, Value::from),
    };
    json!({
        "id": m.id,
        "conversation_id": m.conversation_id,
        "direction": m.direction,
        "sender": { "kind": m.sender_kind, "id": sender_id, "name": m.sender_name },
        "type": m.kind,
        "content": content,
        "status": m.status,
        "error": m.error_code.as_ref().map(|code| json!({ "code": code, "message": m.error_message })),
        "created_at": rfc3339(m.created_at),
    })
}
