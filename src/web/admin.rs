//! The admin console under `/admin`: auto-reply rules (with a tester), staff accounts, the
//! bot's settings, and the audit log. Plain HTML forms answered with a 303 back to the page,
//! or the page again with the reason (400) and what was typed; no script.
//!
//! Only admins get in: the `Admin` extractor answers everyone else with the 403 page, before
//! any handler runs, for every GET and POST. Rules and settings are saved through
//! `web::rules` (the same validation, audit and recompile as the JSON API); accounts through
//! `accounts` and `store::staff`, audited here in the same transaction as the change.

use askama::Template;
use axum::extract::rejection::{FormRejection, QueryRejection};
use axum::extract::{FromRequestParts, Path, Query, State};
use axum::http::StatusCode;
use axum::http::request::Parts;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Form, Router};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::accounts::{self, AccountError};
use crate::app::AppState;
use crate::automation::settings::{AssignmentMode, AutomationSettings, SourceWelcome};
use crate::domain::{Role, now_millis};
use crate::error::AppError;
use crate::i18n::AdminText;
use crate::store::rules::{self as rule_store, RuleRow};
use crate::store::{audit, sessions, staff};
use crate::web::pages::{Chrome, Viewer, render_status};
use crate::web::rules::{self as rules_api, MAX_NAME, MAX_PRIORITY};
use crate::web::views::When;

/// Audit entries per page.
const AUDIT_PAGE: i64 = 100;
/// An audit detail longer than this (in characters) is cut in its cell; the whole is its title.
const DETAIL_CHARS: usize = 200;
/// A reply summary in the rules table is cut to this many characters.
const SUMMARY_CHARS: usize = 80;
/// The tester takes what a customer could send, give or take.
const MAX_TEST_CHARS: usize = 2000;
/// Longest display name, in characters.
const MAX_DISPLAY_NAME: usize = 64;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/admin", get(index))
        .route("/admin/rules", get(rules_page))
        .route("/admin/rules/test", get(test_get).post(test_post))
        .route("/admin/rules/new", get(new_rule).post(create_rule))
        .route("/admin/rules/{id}/edit", get(edit_rule).post(update_rule))
        .route("/admin/rules/{id}/toggle", post(toggle_rule))
        .route("/admin/rules/{id}/move", post(move_rule))
        .route("/admin/rules/{id}/delete", post(delete_rule))
        .route("/admin/users", get(users_page).post(add_user))
        .route("/admin/users/{id}/role", post(set_role))
        .route("/admin/users/{id}/disable", post(disable_user))
        .route("/admin/users/{id}/enable", post(enable_user))
        .route("/admin/users/{id}/password", post(reset_password))
        .route("/admin/settings", get(settings_page).post(save_settings))
        .route("/admin/audit", get(audit_page))
}

// ------------------------------------------------------------------------------------------
// Who may enter

/// A signed-in admin. Anyone else signed in gets the 403 page; a signed-out browser is sent
/// to sign in (as `Viewer` does). Being an extractor, it runs before the handler reads a
/// form, so no handler under `/admin` can forget the check.
pub struct Admin(pub Viewer);

impl FromRequestParts<AppState> for Admin {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Response> {
        let viewer = Viewer::from_request_parts(parts, state).await?;
        match viewer.refuse_unless_admin() {
            Some(refusal) => Err(refusal),
            None => Ok(Admin(viewer)),
        }
    }
}

impl Admin {
    fn a(&self) -> &'static AdminText {
        self.0.lang.admin()
    }

    fn chrome(&self) -> Chrome {
        self.0.chrome("admin")
    }
}

/// Why a form was not carried out: a sentence for the page with its status, or a failure
/// of kefu's own (answered as an error, and logged).
enum Refusal {
    Page(StatusCode, String),
    Error(AppError),
}

impl From<sqlx::Error> for Refusal {
    fn from(e: sqlx::Error) -> Self {
        Refusal::Error(e.into())
    }
}

impl Refusal {
    fn bad(message: impl Into<String>) -> Refusal {
        Refusal::Page(StatusCode::BAD_REQUEST, message.into())
    }

    /// A refusal of `web::rules`: its sentence (English, as the API's) after ours.
    fn from_rules(e: AppError, a: &AdminText, lead: &str) -> Refusal {
        match e {
            AppError::Invalid(m) => Refusal::bad(lead.replace("{reason}", &m)),
            AppError::NotFound(_) => {
                Refusal::Page(StatusCode::NOT_FOUND, a.rule_not_found.to_owned())
            }
            other => Refusal::Error(other),
        }
    }
}

/// An id from the path; anything but a positive number names nothing.
fn cut(s: &str, chars: usize) -> (String, bool) {
    if s.chars().count() <= chars {
        (s.to_owned(), false)
    } else {
        let mut short: String = s.chars().take(chars).collect();
        short.push('…');
        (short, true)
    }
}

/// One option of a `<select>`.
struct Choice {
    value: &'static str,
    label: &'static str,
    selected: bool,
}

fn choices(options: &[(&'static str, &'static str)], current: &str) -> Vec<Choice> {
    options
        .iter()
        .map(|(value, label)| Choice {
            value,
            label,
            selected: *value == current,
        })
        .collect()
}

async fn index(_admin: Admin) -> Response {
    Redirect::to("/admin/rules").into_response()
}

// ------------------------------------------------------------------------------------------
// Rules

fn match_label(a: &AdminText, kind: &str) -> &'static str {
    match kind {
        "exact" => a.match_exact,
        "contains" => a.match_contains,
        "regex" => a.match_regex,
        _ => a.unknown,
    }
}

fn action_label(a: &AdminText, action: &str) -> &'static str {
    match action {
        "reply" => a.action_reply,
        "handoff" => a.action_handoff,
        "transfer_wechat" => a.action_transfer,
        _ => a.unknown,
    }
}

fn reply_type_label(a: &AdminText, kind: &str) -> &'static str {
    match kind {
        "text" => a.reply_text,
        "link" => a.reply_link,
        "miniprogrampage" => a.reply_card,
        "image" => a.reply_image,
        _ => a.unknown,
    }
}

/// A reply `{"type", "content"}` as lines of text: what the customer would get.
fn reply_lines(reply: &Value) -> Vec<String> {
    let c = &reply["content"];
    let field = |name: &str| c[name].as_str().unwrap_or_default().to_owned();
    let lines: Vec<String> = match reply["type"].as_str().unwrap_or_default() {
        "text" => field("text").lines().map(str::to_owned).collect(),
        "link" => vec![field("title"), field("description"), field("url")],
        "miniprogrampage" => vec![field("title"), field("pagepath")],
        "image" => vec![format!("media_id {}", field("media_id"))],
        _ => vec![reply.to_string()],
    };
    lines.into_iter().filter(|l| !l.trim().is_empty()).collect()
}

/// One line for the rules table: the reply's kind and the start of what it says.
fn reply_summary(a: &AdminText, reply: &Value) -> String {
    let kind = reply_type_label(a, reply["type"].as_str().unwrap_or_default());
    let (text, _) = cut(&reply_lines(reply).join(" · "), SUMMARY_CHARS);
    format!("{kind}: {text}")
}

fn stored_reply(row: &RuleRow) -> Option<Value> {
    row.reply
        .as_deref()
        .and_then(|r| serde_json::from_str::<Value>(r).ok())
        .filter(|v| !v.is_null())
}

fn stored_keywords(row: &RuleRow) -> Vec<String> {
    serde_json::from_str(&row.keywords).unwrap_or_default()
}

/// One rule in the table.
struct RuleItem {
    id: i64,
    name: String,
    enabled: bool,
    priority: i64,
    match_kind: String,
    match_label: &'static str,
    keywords: Vec<String>,
    action: String,
    action_label: &'static str,
    /// one line, empty when the rule sends nothing
    reply: String,
    hits: i64,
    last_hit: Option<When>,
    first: bool,
    last: bool,
}

/// What the tester found for a sample message.
struct TesterView {
    /// reply, handoff, transfer_wechat (a rule fired), away, fallback or nothing
    outcome: String,
    /// the rule that fires, by name
    rule: Option<String>,
    action_label: &'static str,
    /// what happens, in a sentence
    sentence: &'static str,
    /// the kind of message that would be sent (its type and label), and its lines
    reply_type: String,
    reply_kind: &'static str,
    reply: Vec<String>,
}

impl TesterView {
    fn of(a: &AdminText, result: &Value) -> TesterView {
        let outcome = result["outcome"].as_str().unwrap_or("nothing").to_owned();
        let rule = result["rule"]["name"].as_str().map(str::to_owned);
        let reply = &result["reply"];
        let has_reply = reply.is_object();
        let sentence = match (outcome.as_str(), has_reply) {
            ("away", _) => a.tester_away,
            ("fallback", _) => a.tester_fallback,
            ("nothing", _) => a.tester_nothing,
            ("transfer_wechat", _) => a.tester_transfer,
            ("handoff", true) => a.tester_reply_then_handoff,
            ("handoff", false) => a.tester_handoff,
            (_, true) => a.tester_reply,
            (_, false) => a.tester_silent,
        };
        TesterView {
            action_label: action_label(a, &outcome),
            rule,
            sentence,
            reply_type: reply["type"].as_str().unwrap_or_default().to_owned(),
            reply_kind: if has_reply {
                reply_type_label(a, reply["type"].as_str().unwrap_or_default())
            } else {
                ""
            },
            reply: if has_reply {
                reply_lines(reply)
            } else {
                Vec::new()
            },
            outcome,
        }
    }
}

#[derive(Template)]
#[template(path = "admin/rules.html")]
struct RulesPage {
    chrome: Chrome,
    a: &'static AdminText,
    tab: &'static str,
    rules: Vec<RuleItem>,
    tester_text: String,
    tester: Option<TesterView>,
    error: Option<String>,
    max_test: usize,
}

async fn render_rules(
    state: &AppState,
    admin: &Admin,
    status: StatusCode,
    error: Option<String>,
    tested: Option<String>,
) -> Response {
    let a = admin.a();
    let mut rows = match rule_store::list(state.store.pool()).await {
        Ok(rows) => rows,
        Err(e) => return AppError::from(e).into_response(),
    };
    state.automation.add_pending_hits(&mut rows);
    let count = rows.len();
    let rules = rows
        .iter()
        .enumerate()
        .map(|(i, r)| RuleItem {
            id: r.id,
            name: r.name.clone(),
            enabled: r.enabled,
            priority: r.priority,
            match_kind: r.match_kind.clone(),
            match_label: match_label(a, &r.match_kind),
            keywords: stored_keywords(r),
            action: r.action.clone(),
            action_label: action_label(a, &r.action),
            reply: stored_reply(r)
                .map(|v| reply_summary(a, &v))
                .unwrap_or_default(),
            hits: r.hits,
            last_hit: r.last_hit_at.map(When::at),
            first: i == 0,
            last: i + 1 == count,
        })
        .collect();
    // the tester answers only a message it could take; a refused one keeps what was typed
    let tester = tested
        .as_deref()
        .filter(|_| error.is_none())
        .map(|text| TesterView::of(a, &rules_api::test_json(state, text)));
    let page = RulesPage {
        chrome: admin.chrome(),
        a,
        tab: "rules",
        rules,
        tester_text: tested.unwrap_or_default(),
        tester,
        error,
        max_test: MAX_TEST_CHARS,
    };
    render_status(status, &page)
}

async fn rules_page(State(state): State<AppState>, admin: Admin) -> Response {
    render_rules(&state, &admin, StatusCode::OK, None, None).await
}

#[derive(Debug, Deserialize)]
struct TestForm {
    #[serde(default)]
    text: String,
}

async fn tester(state: &AppState, admin: &Admin, text: Option<String>) -> Response {
    let a = admin.a();
    let Some(text) = text else {
        let error = Some(a.unreadable_form.to_owned());
        return render_rules(state, admin, StatusCode::BAD_REQUEST, error, None).await;
    };
    let refused = if text.trim().is_empty() {
        Some(a.tester_empty)
    } else if text.chars().count() > MAX_TEST_CHARS {
        Some(a.tester_too_long)
    } else {
        None
    };
    let error = refused.map(str::to_owned);
    let status = if error.is_some() {
        StatusCode::BAD_REQUEST
    } else {
        StatusCode::OK
    };
    render_rules(state, admin, status, error, Some(text)).await
}

/// `GET /admin/rules/test?text=…`: the tester's form (a GET, so a result can be linked to).
async fn test_get(
    State(state): State<AppState>,
    admin: Admin,
    query: Result<Query<TestForm>, QueryRejection>,
) -> Response {
    let text = query.ok().map(|Query(q)| q.text);
    tester(&state, &admin, text).await
}

async fn test_post(
    State(state): State<AppState>,
    admin: Admin,
    form: Result<Form<TestForm>, FormRejection>,
) -> Response {
    let text = form.ok().map(|Form(f)| f.text);
    tester(&state, &admin, text).await
}

/// The rule form's fields, as typed (and shown again when refused). A checkbox is sent only
/// when ticked; every reply kind has its own fields, so switching kinds loses nothing typed.
#[derive(Debug, Clone, Default, Deserialize)]
struct RuleForm {
    #[serde(default)]
    name: String,
    enabled: Option<String>,
    #[serde(default)]
    priority: String,
    #[serde(default, rename = "match")]
    match_kind: String,
    #[serde(default)]
    keywords: String,
    #[serde(default)]
    action: String,
    #[serde(default)]
    reply_type: String,
    #[serde(default)]
    reply_text: String,
    #[serde(default)]
    link_title: String,
    #[serde(default)]
    link_description: String,
    #[serde(default)]
    link_url: String,
    #[serde(default)]
    link_thumb_url: String,
    #[serde(default)]
    card_title: String,
    #[serde(default)]
    card_pagepath: String,
    #[serde(default)]
    card_thumb_media_id: String,
    #[serde(default)]
    image_media_id: String,
}

impl RuleForm {
    /// A new rule: on, priority 0, replying with a text to messages containing a keyword.
    fn fresh() -> RuleForm {
        RuleForm {
            enabled: Some("on".into()),
            priority: "0".into(),
            match_kind: "contains".into(),
            action: "reply".into(),
            reply_type: "text".into(),
            ..RuleForm::default()
        }
    }

    fn of(row: &RuleRow) -> RuleForm {
        let mut f = RuleForm {
            name: row.name.clone(),
            enabled: row.enabled.then(|| "on".to_owned()),
            priority: row.priority.to_string(),
            match_kind: row.match_kind.clone(),
            keywords: stored_keywords(row).join("\n"),
            action: row.action.clone(),
            reply_type: "none".into(),
            ..RuleForm::default()
        };
        if let Some(reply) = stored_reply(row) {
            let c = &reply["content"];
            let field = |name: &str| c[name].as_str().unwrap_or_default().to_owned();
            f.reply_type = reply["type"].as_str().unwrap_or("none").to_owned();
            match f.reply_type.as_str() {
                "text" => f.reply_text = field("text"),
                "link" => {
                    f.link_title = field("title");
                    f.link_description = field("description");
                    f.link_url = field("url");
                    f.link_thumb_url = field("thumb_url");
                }
                "miniprogrampage" => {
                    f.card_title = field("title");
                    f.card_pagepath = field("pagepath");
                    f.card_thumb_media_id = field("thumb_media_id");
                }
                "image" => f.image_media_id = field("media_id"),
                _ => {}
            }
        }
        f
    }

    /// The rule as the JSON API takes it, so that `parse_rule` checks the form exactly as it
    /// checks the API (and says what is wrong in the same words).
    fn to_json(&self) -> Value {
        let keywords: Vec<&str> = self
            .keywords
            .lines()
            .map(str::trim)
            .filter(|k| !k.is_empty())
            .collect();
        let priority = match self.priority.trim() {
            "" => Value::Null,
            p => p
                .parse::<i64>()
                .map_or_else(|_| Value::String(p.to_owned()), Value::from),
        };
        let reply = match self.reply_type.as_str() {
            "" | "none" => Value::Null,
            "text" => json!({
                "type": "text",
                "content": { "text": self.reply_text.replace("\r\n", "\n") },
            }),
            "link" => json!({
                "type": "link",
                "content": {
                    "title": self.link_title,
                    "description": self.link_description,
                    "url": self.link_url,
                    "thumb_url": self.link_thumb_url,
                },
            }),
            "miniprogrampage" => json!({
                "type": "miniprogrampage",
                "content": {
                    "title": self.card_title,
                    "pagepath": self.card_pagepath,
                    "thumb_media_id": self.card_thumb_media_id,
                },
            }),
            "image" => json!({ "type": "image", "content": { "media_id": self.image_media_id } }),
            other => json!({ "type": other, "content": {} }),
        };
        json!({
            "name": self.name,
            "enabled": self.enabled.is_some(),
            "priority": priority,
            "match": self.match_kind,
            "keywords": keywords,
            "action": self.action,
            "reply": reply,
        })
    }
}

#[derive(Template)]
#[template(path = "admin/rule_form.html")]
struct RuleFormPage {
    chrome: Chrome,
    a: &'static AdminText,
    tab: &'static str,
    heading: &'static str,
    action: String,
    f: RuleForm,
    matches: Vec<Choice>,
    actions: Vec<Choice>,
    reply_types: Vec<Choice>,
    error: Option<String>,
    max_name: usize,
    max_priority: i64,
}

fn render_rule_form(
    admin: &Admin,
    id: Option<i64>,
    f: RuleForm,
    status: StatusCode,
    error: Option<String>,
) -> Response {
    let a = admin.a();
    let page = RuleFormPage {
        chrome: admin.chrome(),
        a,
        tab: "rules",
        heading: if id.is_some() {
            a.edit_rule
        } else {
            a.new_rule
        },
        action: match id {
            Some(id) => format!("/admin/rules/{id}/edit"),
            None => "/admin/rules/new".to_owned(),
        },
        matches: choices(
            &[
                ("exact", a.match_exact),
                ("contains", a.match_contains),
                ("regex", a.match_regex),
            ],
            &f.match_kind,
        ),
        actions: choices(
            &[
                ("reply", a.action_reply),
                ("handoff", a.action_handoff),
                ("transfer_wechat", a.action_transfer),
            ],
            &f.action,
        ),
        reply_types: choices(
            &[
                ("none", a.reply_none),
                ("text", a.reply_text),
                ("link", a.reply_link),
                ("miniprogrampage", a.reply_card),
                ("image", a.reply_image),
            ],
            &f.reply_type,
        ),
        f,
        error,
        max_name: MAX_NAME,
        max_priority: MAX_PRIORITY,
    };
    render_status(status, &page)
}

async fn new_rule(admin: Admin) -> Response {
    render_rule_form(&admin, None, RuleForm::fresh(), StatusCode::OK, None)
}

async fn rule_not_found(state: &AppState, admin: &Admin) -> Response {
    let error = Some(admin.a().rule_not_found.to_owned());
    render_rules(state, admin, StatusCode::NOT_FOUND, error, None).await
}

async fn edit_rule(
    State(state): State<AppState>,
    admin: Admin,
    Path(id): Path<String>,
) -> Response {
    let Some(id) = super::path_id(&id) else {
        return rule_not_found(&state, &admin).await;
    };
    match rule_store::get(state.store.pool(), id).await {
        Ok(Some(row)) => {
            render_rule_form(&admin, Some(id), RuleForm::of(&row), StatusCode::OK, None)
        }
        Ok(None) => rule_not_found(&state, &admin).await,
        Err(e) => AppError::from(e).into_response(),
    }
}

/// Saves the form as a new rule (`id` None) or over rule `id`.
async fn submit_rule(
    state: &AppState,
    admin: &Admin,
    id: Option<i64>,
    form: Result<Form<RuleForm>, FormRejection>,
) -> Response {
    let a = admin.a();
    let Ok(Form(f)) = form else {
        let error = Some(a.unreadable_form.to_owned());
        return render_rule_form(admin, id, RuleForm::fresh(), StatusCode::BAD_REQUEST, error);
    };
    let saved = match rules_api::parse_rule(state, &f.to_json()) {
        Ok(input) => rules_api::save_rule(state, &admin.0.staff, id, &input)
            .await
            .map(|_| ()),
        Err(e) => Err(e),
    };
    match saved.map_err(|e| Refusal::from_rules(e, a, a.rule_refused)) {
        Ok(()) => Redirect::to("/admin/rules").into_response(),
        Err(Refusal::Page(status, message)) => {
            render_rule_form(admin, id, f, status, Some(message))
        }
        Err(Refusal::Error(e)) => e.into_response(),
    }
}

async fn create_rule(
    State(state): State<AppState>,
    admin: Admin,
    form: Result<Form<RuleForm>, FormRejection>,
) -> Response {
    submit_rule(&state, &admin, None, form).await
}

async fn update_rule(
    State(state): State<AppState>,
    admin: Admin,
    Path(id): Path<String>,
    form: Result<Form<RuleForm>, FormRejection>,
) -> Response {
    let Some(id) = super::path_id(&id) else {
        return rule_not_found(&state, &admin).await;
    };
    submit_rule(&state, &admin, Some(id), form).await
}

/// The outcome of a button in the rules table: back to the table, or the table with the
/// reason.
async fn after_rule_change(
    state: &AppState,
    admin: &Admin,
    outcome: Result<(), Refusal>,
) -> Response {
    match outcome {
        Ok(()) => Redirect::to("/admin/rules").into_response(),
        Err(Refusal::Page(status, message)) => {
            render_rules(state, admin, status, Some(message), None).await
        }
        Err(Refusal::Error(e)) => e.into_response(),
    }
}

async fn toggle_rule(
    State(state): State<AppState>,
    admin: Admin,
    Path(id): Path<String>,
) -> Response {
    let a = admin.a();
    let outcome = async {
        let id = super::path_id(&id)
            .ok_or_else(|| Refusal::Page(StatusCode::NOT_FOUND, a.rule_not_found.into()))?;
        let row = rule_store::get(state.store.pool(), id)
            .await?
            .ok_or_else(|| Refusal::Page(StatusCode::NOT_FOUND, a.rule_not_found.into()))?;
        rules_api::adjust_rule(&state, &admin.0.staff, id, Some(!row.enabled), None)
            .await
            .map(|_| ())
            .map_err(|e| Refusal::from_rules(e, a, a.change_refused))
    }
    .await;
    after_rule_change(&state, &admin, outcome).await
}

#[derive(Debug, Deserialize)]
struct MoveForm {
    #[serde(default)]
    direction: String,
}

/// Moves a rule one place up or down the order rules are considered in: one above the
/// priority of the rule above it, or one below the rule below it. (Among rules of equal
/// priority the older comes first, so a move can pass several of them at once; renumbering
/// them all instead would rewrite rules the admin did not touch.)
async fn move_rule(
    State(state): State<AppState>,
    admin: Admin,
    Path(id): Path<String>,
    form: Result<Form<MoveForm>, FormRejection>,
) -> Response {
    let a = admin.a();
    let outcome = async {
        let id = super::path_id(&id)
            .ok_or_else(|| Refusal::Page(StatusCode::NOT_FOUND, a.rule_not_found.into()))?;
        let up = match form.as_ref().map(|Form(f)| f.direction.as_str()) {
            Ok("up") => true,
            Ok("down") => false,
            _ => return Err(Refusal::bad(a.choose_direction)),
        };
        let rows = rule_store::list(state.store.pool()).await?;
        let at = rows
            .iter()
            .position(|r| r.id == id)
            .ok_or_else(|| Refusal::Page(StatusCode::NOT_FOUND, a.rule_not_found.into()))?;
        let neighbour = if up {
            at.checked_sub(1).map(|i| rows[i].priority + 1)
        } else {
            rows.get(at + 1).map(|r| r.priority - 1)
        };
        // the first cannot go up, nor the last down: nothing to do
        let Some(priority) = neighbour else {
            return Ok(());
        };
        rules_api::adjust_rule(&state, &admin.0.staff, id, None, Some(priority))
            .await
            .map(|_| ())
            .map_err(|e| Refusal::from_rules(e, a, a.change_refused))
    }
    .await;
    after_rule_change(&state, &admin, outcome).await
}

async fn delete_rule(
    State(state): State<AppState>,
    admin: Admin,
    Path(id): Path<String>,
) -> Response {
    let a = admin.a();
    let outcome = match super::path_id(&id) {
        Some(id) => rules_api::delete_rule(&state, &admin.0.staff, id)
            .await
            .map_err(|e| Refusal::from_rules(e, a, a.change_refused)),
        None => Err(Refusal::Page(
            StatusCode::NOT_FOUND,
            a.rule_not_found.into(),
        )),
    };
    after_rule_change(&state, &admin, outcome).await
}

// ------------------------------------------------------------------------------------------
// Users

struct UserItem {
    id: i64,
    username: String,
    display_name: String,
    role: &'static str,
    role_label: &'static str,
    roles: Vec<Choice>,
    disabled: bool,
    is_me: bool,
}

/// The new-account form's fields (the password is never shown again).
#[derive(Debug, Clone, Deserialize)]
struct NewUserForm {
    #[serde(default)]
    username: String,
    #[serde(default)]
    display_name: String,
    #[serde(default)]
    role: String,
    #[serde(default)]
    password: String,
}

impl Default for NewUserForm {
    fn default() -> Self {
        NewUserForm {
            username: String::new(),
            display_name: String::new(),
            role: Role::Agent.as_str().to_owned(),
            password: String::new(),
        }
    }
}

#[derive(Template)]
#[template(path = "admin/users.html")]
struct UsersPage {
    chrome: Chrome,
    a: &'static AdminText,
    tab: &'static str,
    users: Vec<UserItem>,
    new: NewUserForm,
    new_roles: Vec<Choice>,
    notice: Option<&'static str>,
    error: Option<String>,
    min_password: usize,
    max_display_name: usize,
}

fn role_label(a: &AdminText, role: Role) -> &'static str {
    match role {
        Role::Admin => a.role_admin,
        Role::Agent => a.role_agent,
    }
}

fn role_choices(a: &AdminText, current: &str) -> Vec<Choice> {
    choices(
        &[
            (Role::Agent.as_str(), a.role_agent),
            (Role::Admin.as_str(), a.role_admin),
        ],
        current,
    )
}

async fn render_users(
    state: &AppState,
    admin: &Admin,
    status: StatusCode,
    notice: Option<&'static str>,
    refused: Option<(String, NewUserForm)>,
) -> Response {
    let a = admin.a();
    let rows = match staff::list(state.store.pool()).await {
        Ok(rows) => rows,
        Err(e) => return AppError::from(e).into_response(),
    };
    let users = rows
        .into_iter()
        .map(|u| {
            let role = u.role();
            UserItem {
                id: u.id,
                is_me: u.id == admin.0.staff.id,
                role: role.as_str(),
                role_label: role_label(a, role),
                roles: role_choices(a, role.as_str()),
                disabled: u.disabled,
                username: u.username,
                display_name: u.display_name,
            }
        })
        .collect();
    let (error, mut new) = match refused {
        Some((error, form)) => (Some(error), form),
        None => (None, NewUserForm::default()),
    };
    new.password.clear();
    let page = UsersPage {
        chrome: admin.chrome(),
        a,
        tab: "users",
        new_roles: role_choices(a, &new.role),
        users,
        new,
        notice,
        error,
        min_password: accounts::MIN_PASSWORD_CHARS,
        max_display_name: MAX_DISPLAY_NAME,
    };
    render_status(status, &page)
}

#[derive(Debug, Deserialize)]
struct DoneQuery {
    done: Option<String>,
}

async fn users_page(
    State(state): State<AppState>,
    admin: Admin,
    query: Result<Query<DoneQuery>, QueryRejection>,
) -> Response {
    let a = admin.a();
    let done = query.ok().and_then(|Query(q)| q.done);
    let notice = match done.as_deref() {
        Some("added") => Some(a.user_added),
        Some("role") => Some(a.role_changed),
        Some("disabled") => Some(a.user_disabled),
        Some("enabled") => Some(a.user_enabled),
        Some("password") => Some(a.password_reset),
        _ => None,
    };
    render_users(&state, &admin, StatusCode::OK, notice, None).await
}

/// The outcome of a users form: back to the list with what was done, or the list with the
/// reason (and what was typed into the new-account form, when it came from there).
async fn after_user_change(
    state: &AppState,
    admin: &Admin,
    outcome: Result<&'static str, Refusal>,
    typed: Option<NewUserForm>,
) -> Response {
    match outcome {
        Ok(done) => Redirect::to(&format!("/admin/users?done={done}")).into_response(),
        Err(Refusal::Page(status, message)) => {
            let refused = Some((message, typed.unwrap_or_default()));
            render_users(state, admin, status, None, refused).await
        }
        Err(Refusal::Error(e)) => e.into_response(),
    }
}

fn password_refusal(a: &AdminText, e: &AccountError) -> Option<Refusal> {
    match e {
        AccountError::PasswordTooShort => Some(Refusal::bad(a.password_too_short)),
        AccountError::PasswordTooLong => Some(Refusal::bad(a.password_too_long)),
        _ => None,
    }
}

fn parse_role(a: &AdminText, role: &str) -> Result<Role, Refusal> {
    Role::parse(role).ok_or_else(|| Refusal::bad(a.choose_role))
}

/// `POST /admin/users`: a new staff account, audited as `staff.add`.
async fn add_user(
    State(state): State<AppState>,
    admin: Admin,
    form: Result<Form<NewUserForm>, FormRejection>,
) -> Response {
    let a = admin.a();
    let Ok(Form(f)) = form else {
        let outcome = Err(Refusal::bad(a.unreadable_form));
        return after_user_change(&state, &admin, outcome, None).await;
    };
    let outcome = async {
        let username = f.username.trim();
        if accounts::check_username(username).is_err() {
            return Err(Refusal::bad(a.username_invalid));
        }
        let display_name = match f.display_name.trim() {
            "" => username,
            name => name,
        };
        if display_name.chars().count() > MAX_DISPLAY_NAME
            || display_name.chars().any(char::is_control)
        {
            return Err(Refusal::bad(a.display_name_invalid));
        }
        let role = parse_role(a, &f.role)?;
        if let Err(e) = accounts::check_password(&f.password) {
            return Err(password_refusal(a, &e).unwrap_or_else(|| Refusal::bad(a.unreadable_form)));
        }
        let hash = accounts::hash_password(&f.password)
            .await
            .map_err(|e| Refusal::Error(AppError::Internal(e.into())))?;
        let now = now_millis();
        let mut tx = state.store.begin_write().await?;
        match staff::create(&mut tx, username, display_name, role, &hash, now).await {
            Ok(_) => {}
            Err(staff::CreateUserError::Taken(_)) => {
                return Err(Refusal::Page(
                    StatusCode::CONFLICT,
                    a.username_taken.replace("{username}", username),
                ));
            }
            Err(staff::CreateUserError::Db(e)) => return Err(e.into()),
        }
        audit::record(
            &mut tx,
            &admin.0.staff.actor(),
            "staff.add",
            username,
            Some(&format!("{} ({})", display_name, role.as_str())),
            now,
        )
        .await?;
        tx.commit().await?;
        Ok("added")
    }
    .await;
    after_user_change(&state, &admin, outcome, Some(f)).await
}

/// The account `id` as it stands in `tx`.
async fn account(
    tx: &mut sqlx::SqliteConnection,
    a: &AdminText,
    id: &str,
) -> Result<staff::StaffRow, Refusal> {
    let missing = || Refusal::Page(StatusCode::NOT_FOUND, a.user_not_found.to_owned());
    let id = super::path_id(id).ok_or_else(missing)?;
    staff::by_id_in(tx, id).await?.ok_or_else(missing)
}

/// Refuses to take away the last enabled admin: the console would have no one left to
/// run it. Checked in the transaction that makes the change.
async fn keep_an_admin(
    tx: &mut sqlx::SqliteConnection,
    a: &AdminText,
    user: &staff::StaffRow,
) -> Result<(), Refusal> {
    if user.role() == Role::Admin
        && !user.disabled
        && staff::count_other_enabled_admins(tx, user.id).await? == 0
    {
        return Err(Refusal::bad(a.last_admin));
    }
    Ok(())
}

#[derive(Debug, Deserialize)]
struct RoleForm {
    #[serde(default)]
    role: String,
}

async fn set_role(
    State(state): State<AppState>,
    admin: Admin,
    Path(id): Path<String>,
    form: Result<Form<RoleForm>, FormRejection>,
) -> Response {
    let a = admin.a();
    let outcome = async {
        let Ok(Form(f)) = form else {
            return Err(Refusal::bad(a.unreadable_form));
        };
        let role = parse_role(a, &f.role)?;
        let now = now_millis();
        let mut tx = state.store.begin_write().await?;
        let user = account(&mut tx, a, &id).await?;
        if user.role() == role {
            return Ok("role");
        }
        if role != Role::Admin {
            if user.id == admin.0.staff.id {
                return Err(Refusal::bad(a.not_yourself_demote));
            }
            keep_an_admin(&mut tx, a, &user).await?;
        }
        staff::set_role(&mut tx, user.id, role).await?;
        audit::record(
            &mut tx,
            &admin.0.staff.actor(),
            "staff.role",
            &user.username,
            Some(role.as_str()),
            now,
        )
        .await?;
        tx.commit().await?;
        Ok("role")
    }
    .await;
    after_user_change(&state, &admin, outcome, None).await
}

/// Disables an account and ends its sessions at once (its API tokens stop working too: they
/// are honoured only for enabled accounts), or enables it again.
async fn set_disabled(state: &AppState, admin: &Admin, id: &str, disabled: bool) -> Response {
    let a = admin.a();
    let outcome = async {
        let now = now_millis();
        let mut tx = state.store.begin_write().await?;
        let user = account(&mut tx, a, id).await?;
        if user.disabled == disabled {
            return Ok(if disabled { "disabled" } else { "enabled" });
        }
        let detail = if disabled {
            if user.id == admin.0.staff.id {
                return Err(Refusal::bad(a.not_yourself_disable));
            }
            keep_an_admin(&mut tx, a, &user).await?;
            staff::set_disabled(&mut tx, user.id, true).await?;
            let ended = sessions::delete_others(&mut tx, user.id, None).await?;
            Some(format!("{ended} sessions ended"))
        } else {
            staff::set_disabled(&mut tx, user.id, false).await?;
            None
        };
        let action = if disabled {
            "staff.disable"
        } else {
            "staff.enable"
        };
        audit::record(
            &mut tx,
            &admin.0.staff.actor(),
            action,
            &user.username,
            detail.as_deref(),
            now,
        )
        .await?;
        tx.commit().await?;
        Ok(if disabled { "disabled" } else { "enabled" })
    }
    .await;
    after_user_change(state, admin, outcome, None).await
}

async fn disable_user(
    State(state): State<AppState>,
    admin: Admin,
    Path(id): Path<String>,
) -> Response {
    set_disabled(&state, &admin, &id, true).await
}

async fn enable_user(
    State(state): State<AppState>,
    admin: Admin,
    Path(id): Path<String>,
) -> Response {
    set_disabled(&state, &admin, &id, false).await
}

#[derive(Debug, Deserialize)]
struct PasswordForm {
    #[serde(default)]
    password: String,
}

/// Sets a new password and ends the account's sessions: whoever knew the old one is signed
/// out. An admin resetting their own keeps the session they did it from.
async fn reset_password(
    State(state): State<AppState>,
    admin: Admin,
    headers: axum::http::HeaderMap,
    Path(id): Path<String>,
    form: Result<Form<PasswordForm>, FormRejection>,
) -> Response {
    let a = admin.a();
    let outcome = async {
        let Ok(Form(f)) = form else {
            return Err(Refusal::bad(a.unreadable_form));
        };
        if let Err(e) = accounts::check_password(&f.password) {
            return Err(password_refusal(a, &e).unwrap_or_else(|| Refusal::bad(a.unreadable_form)));
        }
        let hash = accounts::hash_password(&f.password)
            .await
            .map_err(|e| Refusal::Error(AppError::Internal(e.into())))?;
        let now = now_millis();
        let mut tx = state.store.begin_write().await?;
        let user = account(&mut tx, a, &id).await?;
        let keep = (user.id == admin.0.staff.id)
            .then(|| crate::web::auth::session_cookie(&headers).map(accounts::token_hash))
            .flatten();
        staff::set_password(&mut tx, user.id, &hash).await?;
        let ended = sessions::delete_others(&mut tx, user.id, keep.as_deref()).await?;
        audit::record(
            &mut tx,
            &admin.0.staff.actor(),
            "staff.passwd",
            &user.username,
            Some(&format!("reset by an admin; {ended} sessions ended")),
            now,
        )
        .await?;
        tx.commit().await?;
        Ok("password")
    }
    .await;
    after_user_change(&state, &admin, outcome, None).await
}

// ------------------------------------------------------------------------------------------
// The bot's settings

/// The settings form's fields as text, as typed (and shown again when refused).
#[derive(Debug, Clone, Default)]
struct SettingsForm {
    welcome: String,
    /// one `session_from = text` per line
    welcome_by_source: String,
    welcome_every: String,
    fallback: String,
    fallback_every: String,
    away: String,
    away_every: String,
    hours_enabled: bool,
    days: Vec<String>,
    start: String,
    end: String,
    utc_offset: String,
    mode: String,
    cap: String,
}

impl SettingsForm {
    fn of(s: &AutomationSettings) -> SettingsForm {
        SettingsForm {
            welcome: s.welcome.clone().unwrap_or_default(),
            welcome_by_source: s
                .welcome_by_source
                .iter()
                .map(|w| format!("{} = {}", w.session_from, w.text.replace('\n', " ")))
                .collect::<Vec<_>>()
                .join("\n"),
            welcome_every: s.welcome_every_minutes.to_string(),
            fallback: s.fallback.clone().unwrap_or_default(),
            fallback_every: s.fallback_every_minutes.to_string(),
            away: s.away.clone().unwrap_or_default(),
            away_every: s.away_every_minutes.to_string(),
            hours_enabled: s.hours.enabled,
            days: s.hours.days.iter().map(u8::to_string).collect(),
            start: s.hours.start.clone(),
            end: s.hours.end.clone(),
            utc_offset: s.hours.utc_offset.clone(),
            mode: match s.assignment.mode {
                AssignmentMode::Manual => "manual",
                AssignmentMode::Auto => "auto",
            }
            .to_owned(),
            cap: s.assignment.cap.to_string(),
        }
    }

    /// From the posted pairs (`day` comes once per ticked box).
    fn from_pairs(pairs: Vec<(String, String)>) -> SettingsForm {
        let mut f = SettingsForm::default();
        for (name, value) in pairs {
            match name.as_str() {
                "welcome" => f.welcome = value,
                "welcome_by_source" => f.welcome_by_source = value,
                "welcome_every_minutes" => f.welcome_every = value,
                "fallback" => f.fallback = value,
                "fallback_every_minutes" => f.fallback_every = value,
                "away" => f.away = value,
                "away_every_minutes" => f.away_every = value,
                "hours_enabled" => f.hours_enabled = true,
                "day" => f.days.push(value),
                "start" => f.start = value,
                "end" => f.end = value,
                "utc_offset" => f.utc_offset = value,
                "assignment_mode" => f.mode = value,
                "assignment_cap" => f.cap = value,
                _ => {}
            }
        }
        f
    }

    /// The settings these fields say; the sentence says which field is unreadable.
    /// (`AutomationSettings::validate` checks the rest, in `save_settings`.)
    fn to_settings(&self, a: &AdminText) -> Result<AutomationSettings, String> {
        let number = |value: &str, label: &str| -> Result<u32, String> {
            value
                .trim()
                .parse::<u32>()
                .map_err(|_| a.not_a_number.replace("{field}", label))
        };
        let text = |value: &str| Some(value.replace("\r\n", "\n"));
        let mut by_source = Vec::new();
        for (i, line) in self.welcome_by_source.lines().enumerate() {
            if line.trim().is_empty() {
                continue;
            }
            let Some((from, text)) = line.split_once('=') else {
                return Err(a.source_line.replace("{line}", &(i + 1).to_string()));
            };
            by_source.push(SourceWelcome {
                session_from: from.trim().to_owned(),
                text: text.trim().to_owned(),
            });
        }
        let mut days = Vec::new();
        for d in &self.days {
            days.push(
                d.trim()
                    .parse::<u8>()
                    .map_err(|_| a.choose_days.to_owned())?,
            );
        }
        let mut s = AutomationSettings {
            welcome: text(&self.welcome),
            welcome_by_source: by_source,
            welcome_every_minutes: number(&self.welcome_every, a.welcome_every)?,
            fallback: text(&self.fallback),
            fallback_every_minutes: number(&self.fallback_every, a.fallback_every)?,
            away: text(&self.away),
            away_every_minutes: number(&self.away_every, a.away_every)?,
            ..AutomationSettings::default()
        };
        s.hours.enabled = self.hours_enabled;
        s.hours.days = days;
        s.hours.start = self.start.trim().to_owned();
        s.hours.end = self.end.trim().to_owned();
        s.hours.utc_offset = self.utc_offset.trim().to_owned();
        s.assignment.mode = match self.mode.as_str() {
            "manual" => AssignmentMode::Manual,
            "auto" => AssignmentMode::Auto,
            _ => return Err(a.choose_mode.to_owned()),
        };
        s.assignment.cap = number(&self.cap, a.assignment_cap)?;
        Ok(s)
    }
}

/// One of the seven weekday boxes.
struct DayBox {
    n: u8,
    label: &'static str,
    checked: bool,
}

#[derive(Template)]
#[template(path = "admin/settings.html")]
struct SettingsPage {
    chrome: Chrome,
    a: &'static AdminText,
    tab: &'static str,
    f: SettingsForm,
    days: Vec<DayBox>,
    modes: Vec<Choice>,
    notice: Option<&'static str>,
    error: Option<String>,
    max_text: usize,
}

fn render_settings(
    admin: &Admin,
    f: SettingsForm,
    status: StatusCode,
    notice: Option<&'static str>,
    error: Option<String>,
) -> Response {
    let a = admin.a();
    let days = (1u8..=7)
        .map(|n| DayBox {
            n,
            label: a.weekdays[usize::from(n - 1)],
            checked: f.days.iter().any(|d| d.trim() == n.to_string()),
        })
        .collect();
    let page = SettingsPage {
        chrome: admin.chrome(),
        a,
        tab: "settings",
        days,
        modes: choices(&[("manual", a.mode_manual), ("auto", a.mode_auto)], &f.mode),
        f,
        notice,
        error,
        max_text: crate::automation::settings::MAX_TEXT,
    };
    render_status(status, &page)
}

async fn settings_page(
    State(state): State<AppState>,
    admin: Admin,
    query: Result<Query<DoneQuery>, QueryRejection>,
) -> Response {
    let saved = query.ok().and_then(|Query(q)| q.done).is_some();
    let notice = saved.then_some(admin.a().settings_saved);
    let f = SettingsForm::of(&state.automation.settings());
    render_settings(&admin, f, StatusCode::OK, notice, None)
}

async fn save_settings(
    State(state): State<AppState>,
    admin: Admin,
    form: Result<Form<Vec<(String, String)>>, FormRejection>,
) -> Response {
    let a = admin.a();
    let Ok(Form(pairs)) = form else {
        let f = SettingsForm::of(&state.automation.settings());
        let error = Some(a.unreadable_form.to_owned());
        return render_settings(&admin, f, StatusCode::BAD_REQUEST, None, error);
    };
    let f = SettingsForm::from_pairs(pairs);
    let settings = match f.to_settings(a) {
        Ok(s) => s,
        Err(message) => {
            return render_settings(&admin, f, StatusCode::BAD_REQUEST, None, Some(message));
        }
    };
    match rules_api::save_settings(&state, &admin.0.staff, settings).await {
        Ok(()) => Redirect::to("/admin/settings?done=saved").into_response(),
        Err(AppError::Invalid(m)) => {
            let error = a.settings_refused.replace("{reason}", &m);
            render_settings(&admin, f, StatusCode::BAD_REQUEST, None, Some(error))
        }
        Err(e) => e.into_response(),
    }
}

// ------------------------------------------------------------------------------------------
// The audit log

struct AuditItem {
    id: i64,
    at: When,
    actor: String,
    action: String,
    target: String,
    /// the detail as shown in the cell (cut), and whole
    detail_short: String,
    detail: String,
    cut: bool,
}

#[derive(Template)]
#[template(path = "admin/audit.html")]
struct AuditPage {
    chrome: Chrome,
    a: &'static AdminText,
    tab: &'static str,
    items: Vec<AuditItem>,
    /// the next page's address, when there are older entries
    more: Option<String>,
    /// this is not the newest page
    older: bool,
}

#[derive(Debug, Deserialize)]
struct AuditQuery {
    before: Option<String>,
}

async fn audit_page(
    State(state): State<AppState>,
    admin: Admin,
    query: Result<Query<AuditQuery>, QueryRejection>,
) -> Response {
    // an unreadable cursor starts from the newest entry rather than failing
    let before = query
        .ok()
        .and_then(|Query(q)| q.before)
        .and_then(|b| super::path_id(&b));
    let mut rows = match audit::list(state.store.pool(), before, AUDIT_PAGE + 1).await {
        Ok(rows) => rows,
        Err(e) => return AppError::from(e).into_response(),
    };
    let more = (rows.len() as i64 > AUDIT_PAGE).then(|| {
        rows.truncate(AUDIT_PAGE as usize);
        let last = rows.last().map_or(0, |r| r.id);
        format!("/admin/audit?before={last}")
    });
    let items = rows
        .into_iter()
        .map(|r| {
            let detail = r.detail.unwrap_or_default();
            let (detail_short, cut) = cut(&detail, DETAIL_CHARS);
            AuditItem {
                id: r.id,
                at: When::at(r.at),
                actor: r.actor,
                action: r.action,
                target: r.target.unwrap_or_default(),
                detail_short,
                detail,
                cut,
            }
        })
        .collect();
    let page = AuditPage {
        chrome: admin.chrome(),
        a: admin.a(),
        tab: "audit",
        items,
        more,
        older: before.is_some(),
    };
    render_status(StatusCode::OK, &page)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::i18n::Lang;

    #[test]
    fn a_rule_form_becomes_the_apis_json() {
        let f = RuleForm {
            name: "价格".into(),
            enabled: Some("on".into()),
            priority: " 5 ".into(),
            match_kind: "contains".into(),
            keywords: "价格\r\n\r\n  多少钱 \r\n".into(),
            action: "reply".into(),
            reply_type: "text".into(),
            reply_text: "line one\r\nline two".into(),
            ..RuleForm::default()
        };
        assert_eq!(
            f.to_json(),
            json!({
                "name": "价格", "enabled": true, "priority": 5, "match": "contains",
                "keywords": ["价格", "多少钱"], "action": "reply",
                "reply": { "type": "text", "content": { "text": "line one\nline two" } },
            })
        );
        let f = RuleForm {
            priority: "high".into(),
            reply_type: "none".into(),
            ..RuleForm::default()
        };
        let v = f.to_json();
        assert_eq!(v["priority"], "high", "left for parse_rule to refuse");
        assert_eq!(v["enabled"], false);
        assert_eq!(v["reply"], Value::Null);
    }

    #[test]
    fn settings_read_from_the_form_say_what_is_unreadable() {
        let a = Lang::En.admin();
        let pairs = |extra: &[(&str, &str)]| {
            let mut p: Vec<(String, String)> = [
                ("welcome", "hi"),
                (
                    "welcome_by_source",
                    "order = about your order?\r\n\r\nad=hello ad",
                ),
                ("welcome_every_minutes", "60"),
                ("fallback", ""),
                ("fallback_every_minutes", "30"),
                ("away", "we are away"),
                ("away_every_minutes", "120"),
                ("hours_enabled", "on"),
                ("day", "1"),
                ("day", "3"),
                ("start", "09:00"),
                ("end", "18:00"),
                ("utc_offset", "+08:00"),
                ("assignment_mode", "auto"),
                ("assignment_cap", "5"),
            ]
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
            for (k, v) in extra {
                p.retain(|(name, _)| name != k);
                p.push(((*k).to_owned(), (*v).to_owned()));
            }
            SettingsForm::from_pairs(p)
        };
        let s = pairs(&[]).to_settings(a).unwrap();
        assert_eq!(s.welcome_by_source.len(), 2);
        assert_eq!(s.welcome_by_source[1].session_from, "ad");
        assert_eq!(s.welcome_by_source[1].text, "hello ad");
        assert_eq!(s.hours.days, vec![1, 3]);
        assert!(s.hours.enabled);
        assert_eq!(s.assignment.mode, AssignmentMode::Auto);
        assert_eq!(s.assignment.cap, 5);
        assert_eq!(s.away_every_minutes, 120);
        let err = pairs(&[("assignment_cap", "many")])
            .to_settings(a)
            .unwrap_err();
        assert!(err.contains(a.assignment_cap), "{err}");
        let err = pairs(&[("welcome_by_source", "no equals sign")])
            .to_settings(a)
            .unwrap_err();
        assert!(err.contains('1'), "{err}");
        assert!(
            pairs(&[("assignment_mode", "chaos")])
                .to_settings(a)
                .is_err()
        );
        // what the form shows is what it reads back
        let again = SettingsForm::of(&s).to_settings(a).unwrap();
        assert_eq!(again, s);
    }

    #[test]
    fn both_languages_fill_their_placeholders() {
        for a in [Lang::Zh.admin(), Lang::En.admin()] {
            assert!(a.rule_refused.contains("{reason}"));
            assert!(a.change_refused.contains("{reason}"));
            assert!(a.settings_refused.contains("{reason}"));
            assert!(a.not_a_number.contains("{field}"));
            assert!(a.source_line.contains("{line}"));
            assert!(a.username_taken.contains("{username}"));
            assert!(
                a.password_too_short
                    .contains(&accounts::MIN_PASSWORD_CHARS.to_string())
            );
        }
    }
}
