//! Auto-reply rules and the bot's settings over the JSON API (docs/CONTRACT.md "A rule"), with the
//! saving logic the admin console uses too: one validation, one audit, one recompile.
//!
//! Everyone signed in may read rules and try the tester; only admins change anything.

use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::{Value, json};

use crate::app::AppState;
use crate::automation::rules::{self as matcher, MatchKind};
use crate::automation::settings::AutomationSettings;
use crate::automation::{Action, Compiled, Outcome};
use crate::domain::{MessageType, Role, now_millis, rfc3339};
use crate::error::{AppError, AppResult};
use crate::store::audit;
use crate::store::rules::{self as rule_store, RuleFields, RuleRow};
use crate::store::settings as settings_store;
use crate::web::auth::Staff;

/// Longest rule name, in characters.
pub const MAX_NAME: usize = 100;
/// Priorities stay within ± this.
pub const MAX_PRIORITY: i64 = 1_000_000;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/v1/rules", get(list).post(create))
        .route("/api/v1/rules/test", post(try_text))
        .route("/api/v1/rules/{id}", get(one).put(replace).delete(remove))
        .route(
            "/api/v1/settings/automation",
            get(get_settings).put(put_settings),
        )
}

pub fn require_admin(staff: &Staff) -> AppResult<()> {
    if staff.role == Role::Admin {
        Ok(())
    } else {
        Err(AppError::Forbidden(
            "only admins can change the bot's rules and settings".into(),
        ))
    }
}

/// A rule as docs/CONTRACT.md shapes it.
pub fn rule_json(r: &RuleRow) -> Value {
    let keywords: Value = serde_json::from_str(&r.keywords).unwrap_or_else(|_| json!([]));
    let reply: Value = r
        .reply
        .as_deref()
        .and_then(|s| serde_json::from_str(s).ok())
        .unwrap_or(Value::Null);
    json!({
        "id": r.id,
        "name": r.name,
        "enabled": r.enabled,
        "priority": r.priority,
        "match": r.match_kind,
        "keywords": keywords,
        "action": r.action,
        "reply": reply,
        "hits": r.hits,
        "last_hit_at": r.last_hit_at.map(rfc3339),
        "created_at": rfc3339(r.created_at),
        "updated_at": rfc3339(r.updated_at),
    })
}

/// A rule body checked field by field; every sentence names the field.
pub struct RuleInput {
    pub name: String,
    pub enabled: bool,
    pub priority: i64,
    pub kind: MatchKind,
    pub keywords: Vec<String>,
    pub action: Action,
    /// `{"type", "content"}` as stored
    pub reply: Option<Value>,
}

pub fn parse_rule(state: &AppState, body: &Value) -> AppResult<RuleInput> {
    let bad = |s: &str| AppError::Invalid(s.to_owned());
    if !body.is_object() {
        return Err(bad("a rule is a JSON object"));
    }
    let name = body
        .get("name")
        .and_then(Value::as_str)
        .map(str::trim)
        .filter(|n| !n.is_empty())
        .ok_or_else(|| bad("name is required"))?;
    if name.chars().count() > MAX_NAME || name.chars().any(char::is_control) {
        return Err(AppError::Invalid(format!(
            "name is at most {MAX_NAME} characters, without control characters"
        )));
    }
    let enabled = match body.get("enabled") {
        None | Some(Value::Null) => true,
        Some(Value::Bool(b)) => *b,
        Some(_) => return Err(bad("enabled must be true or false")),
    };
    let priority = match body.get("priority") {
        None | Some(Value::Null) => 0,
        Some(v) => v
            .as_i64()
            .filter(|p| p.abs() <= MAX_PRIORITY)
            .ok_or_else(|| {
                AppError::Invalid(format!(
                    "priority must be a whole number between -{MAX_PRIORITY} and {MAX_PRIORITY}"
                ))
            })?,
    };
    let kind = body
        .get("match")
        .and_then(Value::as_str)
        .and_then(MatchKind::parse)
        .ok_or_else(|| bad("match must be exact, contains or regex"))?;
    let keywords: Vec<String> = match body.get("keywords") {
        Some(Value::Array(items)) => items
            .iter()
            .map(|k| k.as_str().map(str::to_owned))
            .collect::<Option<_>>()
            .ok_or_else(|| bad("keywords must be a list of strings"))?,
        _ => return Err(bad("keywords must be a list of strings")),
    };
    matcher::validate(kind, &keywords).map_err(AppError::Invalid)?;
    let action = body
        .get("action")
        .and_then(Value::as_str)
        .and_then(Action::parse)
        .ok_or_else(|| bad("action must be reply, handoff or transfer_wechat"))?;
    let reply = match body.get("reply") {
        None | Some(Value::Null) => None,
        Some(r) => {
            let checked = crate::web::api::reply_from_json(state, r)?;
            if checked.kind == MessageType::Note {
                return Err(bad(
                    "a rule's reply is sent to the customer: it cannot be a note",
                ));
            }
            Some(json!({ "type": checked.kind.as_str(), "content": checked.content }))
        }
    };
    match (action, &reply) {
        (Action::Reply, None) => return Err(bad("a reply rule needs a reply")),
        (Action::TransferWechat, Some(_)) => {
            return Err(bad(
                "a transfer_wechat rule cannot carry a reply: WeChat's tool answers instead",
            ));
        }
        _ => {}
    }
    Ok(RuleInput {
        name: name.to_owned(),
        enabled,
        priority,
        kind,
        keywords: keywords.iter().map(|k| k.trim().to_owned()).collect(),
        action,
        reply,
    })
}

/// Creates (`id` None) or replaces a rule, recompiles the matcher with it, and audits it. A
/// rule set that would not compile (too large as a whole) is refused and nothing is saved.
pub async fn save_rule(
    state: &AppState,
    staff: &Staff,
    id: Option<i64>,
    input: &RuleInput,
) -> AppResult<RuleRow> {
    require_admin(staff)?;
    let keywords = serde_json::to_string(&input.keywords).map_err(anyhow::Error::from)?;
    let reply = input.reply.as_ref().map(Value::to_string);
    let fields = RuleFields {
        name: &input.name,
        enabled: input.enabled,
        priority: input.priority,
        match_kind: input.kind.as_str(),
        keywords: &keywords,
        action: input.action.as_str(),
        reply: reply.as_deref(),
    };
    let change = match id {
        Some(id) => RuleChange::Update(id, fields),
        None => RuleChange::Create(fields),
    };
    apply_change(state, staff, change).await
}

/// One change to the rules.
enum RuleChange<'a> {
    Create(RuleFields<'a>),
    Update(i64, RuleFields<'a>),
    Delete(i64),
    Adjust {
        id: i64,
        enabled: Option<bool>,
        priority: Option<i64>,
    },
}

/// Applies a change in one transaction with its audit entry and a recompile that must
/// succeed before anything is committed; returns the changed rule (a deleted one as it was).
async fn apply_change(
    state: &AppState,
    staff: &Staff,
    change: RuleChange<'_>,
) -> AppResult<RuleRow> {
    // one change at a time, so the matcher in use is always the latest one committed
    let _guard = state.automation.rules_lock().await;
    let now = now_millis();
    let missing = |id: i64| AppError::NotFound(format!("there is no rule {id}"));
    let mut tx = state.store.begin_write().await?;
    // (the rule, what happened, the audit detail, the rule as it was if it is gone)
    let (id, action, detail, deleted) = match &change {
        RuleChange::Create(f) => (
            rule_store::create(&mut tx, f, now).await?,
            "rule.create",
            format!("{} ({})", f.name, f.action),
            None,
        ),
        RuleChange::Update(id, f) => {
            if !rule_store::update(&mut tx, *id, f, now).await? {
                return Err(missing(*id));
            }
            (
                *id,
                "rule.update",
                format!("{} ({})", f.name, f.action),
                None,
            )
        }
        RuleChange::Delete(id) => {
            let old = rule_store::get(&mut *tx, *id)
                .await?
                .ok_or_else(|| missing(*id))?;
            rule_store::delete(&mut tx, *id).await?;
            (*id, "rule.delete", old.name.clone(), Some(old))
        }
        RuleChange::Adjust {
            id,
            enabled,
            priority,
        } => {
            if !rule_store::adjust(&mut tx, *id, *enabled, *priority, now).await? {
                return Err(missing(*id));
            }
            let mut detail = Vec::new();
            if let Some(e) = enabled {
                detail.push(if *e { "enabled" } else { "disabled" }.to_owned());
            }
            if let Some(p) = priority {
                detail.push(format!("priority {p}"));
            }
            (*id, "rule.adjust", detail.join(", "), None)
        }
    };
    let rows = rule_store::list(&mut *tx).await?;
    let compiled = Compiled::from_rows(&rows)
        .map_err(|e| AppError::Invalid(format!("the rules as a whole are refused: {e}")))?;
    let row = match deleted {
        Some(old) => old,
        None => rule_store::get(&mut *tx, id)
            .await?
            .ok_or_else(|| missing(id))?,
    };
    audit::record(
        &mut tx,
        &staff.actor(),
        action,
        &format!("rule {id}"),
        Some(&detail),
        now,
    )
    .await?;
    tx.commit().await?;
    state.automation.use_rules(compiled);
    Ok(row)
}

/// Deletes a rule (audited, recompiled).
pub async fn delete_rule(state: &AppState, staff: &Staff, id: i64) -> AppResult<()> {
    require_admin(staff)?;
    apply_change(state, staff, RuleChange::Delete(id))
        .await
        .map(|_| ())
}

/// Turns a rule on or off, or moves it (the console's switches); audited, recompiled.
pub async fn adjust_rule(
    state: &AppState,
    staff: &Staff,
    id: i64,
    enabled: Option<bool>,
    priority: Option<i64>,
) -> AppResult<RuleRow> {
    require_admin(staff)?;
    if priority.is_some_and(|p| p.abs() > MAX_PRIORITY) {
        return Err(AppError::Invalid(format!(
            "priority must be between -{MAX_PRIORITY} and {MAX_PRIORITY}"
        )));
    }
    apply_change(
        state,
        staff,
        RuleChange::Adjust {
            id,
            enabled,
            priority,
        },
    )
    .await
}

/// What the bot would do with `text` now, for the console's tester and the API.
pub fn test_json(state: &AppState, text: &str) -> Value {
    let (outcome, rule, reply) = match state.automation.test(text, now_millis()) {
        Outcome::Rule(r) => (
            r.action.as_str(),
            json!({ "id": r.id, "name": r.name }),
            r.reply,
        ),
        Outcome::Away(reply) => ("away", Value::Null, Some(reply)),
        Outcome::Fallback(reply) => ("fallback", Value::Null, Some(reply)),
        Outcome::Nothing => ("nothing", Value::Null, None),
    };
    json!({
        "text": text,
        "normalized": matcher::normalize(text),
        "outcome": outcome,
        "rule": rule,
        "reply": reply.map(|r| json!({ "type": r.kind.as_str(), "content": r.content })),
    })
}

/// Saves the bot's settings (validated first; audited; in use at once).
pub async fn save_settings(
    state: &AppState,
    staff: &Staff,
    mut settings: AutomationSettings,
) -> AppResult<()> {
    require_admin(staff)?;
    settings.validate().map_err(AppError::Invalid)?;
    let json = serde_json::to_string(&settings).map_err(anyhow::Error::from)?;
    let now = now_millis();
    let mut tx = state.store.begin_write().await?;
    settings_store::put(&mut tx, crate::automation::settings::KEY, &json, now).await?;
    audit::record(
        &mut tx,
        &staff.actor(),
        "settings.automation",
        "automation",
        Some(&json),
        now,
    )
    .await?;
    tx.commit().await?;
    state.automation.use_settings(settings);
    Ok(())
}

fn parse_id(id: &str) -> AppResult<i64> {
    super::path_id(id).ok_or_else(|| AppError::NotFound(format!("there is no rule {id}")))
}

fn json_body(body: Result<Json<Value>, JsonRejection>) -> AppResult<Value> {
    body.map(|Json(v)| v)
        .map_err(|e| AppError::Invalid(e.body_text()))
}

async fn list(State(state): State<AppState>, _staff: Staff) -> AppResult<Json<Value>> {
    let mut rows = rule_store::list(state.store.pool()).await?;
    state.automation.add_pending_hits(&mut rows);
    Ok(Json(
        json!({ "rules": rows.iter().map(rule_json).collect::<Vec<_>>() }),
    ))
}

async fn one(
    State(state): State<AppState>,
    _staff: Staff,
    Path(id): Path<String>,
) -> AppResult<Json<Value>> {
    let id = parse_id(&id)?;
    let mut row = rule_store::get(state.store.pool(), id)
        .await?
        .ok_or_else(|| AppError::NotFound(format!("there is no rule {id}")))?;
    state
        .automation
        .add_pending_hits(std::slice::from_mut(&mut row));
    Ok(Json(rule_json(&row)))
}

async fn create(
    State(state): State<AppState>,
    staff: Staff,
    body: Result<Json<Value>, JsonRejection>,
) -> AppResult<Response> {
    require_admin(&staff)?;
    let input = parse_rule(&state, &json_body(body)?)?;
    let row = save_rule(&state, &staff, None, &input).await?;
    Ok((StatusCode::CREATED, Json(rule_json(&row))).into_response())
}

async fn replace(
    State(state): State<AppState>,
    staff: Staff,
    Path(id): Path<String>,
    body: Result<Json<Value>, JsonRejection>,
) -> AppResult<Json<Value>> {
    require_admin(&staff)?;
    let id = parse_id(&id)?;
    let input = parse_rule(&state, &json_body(body)?)?;
    let row = save_rule(&state, &staff, Some(id), &input).await?;
    Ok(Json(rule_json(&row)))
}

async fn remove(
    State(state): State<AppState>,
    staff: Staff,
    Path(id): Path<String>,
) -> AppResult<StatusCode> {
    let id = parse_id(&id)?;
    delete_rule(&state, &staff, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn try_text(
    State(state): State<AppState>,
    _staff: Staff,
    body: Result<Json<Value>, JsonRejection>,
) -> AppResult<Json<Value>> {
    let body = json_body(body)?;
    let text = body
        .get("text")
        .and_then(Value::as_str)
        .ok_or_else(|| AppError::Invalid("text is required".into()))?;
    if text.chars().count() > 2000 {
        return Err(AppError::Invalid("text is at most 2000 characters".into()));
    }
    Ok(Json(test_json(&state, text)))
}

async fn get_settings(State(state): State<AppState>, _staff: Staff) -> AppResult<Json<Value>> {
    Ok(Json(
        serde_json::to_value(&*state.automation.settings()).map_err(anyhow::Error::from)?,
    ))
}

async fn put_settings(
    State(state): State<AppState>,
    staff: Staff,
    body: Result<Json<Value>, JsonRejection>,
) -> AppResult<Json<Value>> {
    require_admin(&staff)?;
    let settings: AutomationSettings = serde_json::from_value(json_body(body)?)
        .map_err(|e| AppError::Invalid(format!("the settings are not valid: {e}")))?;
    save_settings(&state, &staff, settings).await?;
    get_settings(State(state), staff).await
}
