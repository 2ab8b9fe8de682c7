//! The rules console: the list, the form to add or edit a rule, toggling, moving and
//! deleting, and the tester that says which rule (or message) a text would get.

use askama::Template;
use axum::extract::rejection::{FormRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Form, Router};
use serde::Deserialize;
use serde_json::{Value, json};

use super::{Admin, Choice, Refusal, choices, cut};
use crate::app::AppState;
use crate::error::AppError;
use crate::i18n::AdminText;
use crate::store::rules::{self as rule_store, RuleRow};
use crate::web::pages::{Chrome, render_status};
use crate::web::rules::{self as rules_api, MAX_NAME, MAX_PRIORITY};
use crate::web::views::When;

/// A reply summary in the rules table is cut to this many characters.
const SUMMARY_CHARS: usize = 80;
/// The tester takes what a customer could send, give or take.
const MAX_TEST_CHARS: usize = 2000;

/// The routes of the rules console and its tester; every handler takes `Admin`, so only admins get in.
pub(super) fn router() -> Router<AppState> {
    Router::new()
        .route("/admin/rules", get(rules_page))
        .route("/admin/rules/test", get(test_get).post(test_post))
        .route("/admin/rules/new", get(new_rule).post(create_rule))
        .route("/admin/rules/{id}/edit", get(edit_rule).post(update_rule))
        .route("/admin/rules/{id}/toggle", post(toggle_rule))
        .route("/admin/rules/{id}/move", post(move_rule))
        .route("/admin/rules/{id}/delete", post(delete_rule))
}

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
    let Some(id) = crate::web::path_id(&id) else {
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
    let Some(id) = crate::web::path_id(&id) else {
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
        let id = crate::web::path_id(&id)
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
        let id = crate::web::path_id(&id)
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
    let outcome = match crate::web::path_id(&id) {
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

#[cfg(test)]
mod tests {
    use super::*;

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
}
