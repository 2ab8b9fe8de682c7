//! Auto-reply rules and the bot's settings over the JSON API (docs/CONTRACT.md "A rule"), with the
//! saving logic the admin console uses too: one validation, one audit, one recompile.
//!
//! Everyone signed in may read rules and try the tester; only admins change anything. Every
//! refusal of a rule or of the settings is a sentence in the staff member's language, the same
//! in the API and in the console.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::app::AppState;
use crate::automation::rules::{
    self as matcher, KeywordProblem, MatchKind, RegexProblem, RuleError,
};
use crate::automation::settings::{AutomationSettings, Message, SettingsProblem};
use crate::automation::settings::{
    MAX_CAP, MAX_PERIOD_MINUTES, MAX_SESSION_FROM, MAX_SOURCES, MAX_TEXT,
};
use crate::automation::{Action, Compiled, Outcome};
use crate::domain::{Role, now_millis, rfc3339};
use crate::error::{AppError, AppResult};
use crate::i18n::{Lang, RequestText, fill};
use crate::store::audit;
use crate::store::rules::{self as rule_store, RuleFields, RuleRow};
use crate::store::settings as settings_store;
use crate::web::api::{ReplyInput, reply_from_json};
use crate::web::auth::Staff;
use crate::web::json::{ApiLang, Strict, Tagged};

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

/// A rule as docs/CONTRACT.md shapes it. The fields are in alphabetical order, the order the
/// answer has always had (it was a `json!` map, which sorts its keys).
#[derive(Debug, Serialize)]
pub struct RuleView {
    pub action: String,
    pub created_at: String,
    pub enabled: bool,
    pub hits: i64,
    pub id: i64,
    pub keywords: Vec<String>,
    pub last_hit_at: Option<String>,
    #[serde(rename = "match")]
    pub match_kind: String,
    pub name: String,
    pub priority: i64,
    /// `{"type", "content"}` as stored
    pub reply: Option<Value>,
    pub updated_at: String,
}

impl RuleView {
    pub fn of(r: &RuleRow) -> RuleView {
        RuleView {
            action: r.action.clone(),
            created_at: rfc3339(r.created_at),
            enabled: r.enabled,
            hits: r.hits,
            id: r.id,
            keywords: serde_json::from_str(&r.keywords).unwrap_or_default(),
            last_hit_at: r.last_hit_at.map(rfc3339),
            match_kind: r.match_kind.clone(),
            name: r.name.clone(),
            priority: r.priority,
            reply: r
                .reply
                .as_deref()
                .and_then(|s| serde_json::from_str(s).ok()),
            updated_at: rfc3339(r.updated_at),
        }
    }
}

/// `GET /api/v1/rules`.
#[derive(Debug, Serialize)]
pub struct RuleList {
    pub rules: Vec<RuleView>,
}

/// A rule as a request gives it (`POST`, and `PUT`, which replaces it whole). `R` is the
/// reply: `Tagged` as read from JSON, `ReplyInput` once read (the console's form builds that
/// directly).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuleBody<R = Tagged> {
    pub name: String,
    /// missing or null: on
    pub enabled: Option<bool>,
    /// missing or null: 0
    pub priority: Option<i64>,
    #[serde(rename = "match")]
    pub match_kind: String,
    pub keywords: Vec<String>,
    pub action: String,
    /// missing or null: none (an `Option` field may be missing without `#[serde(default)]`,
    /// which would also ask `R: Default`)
    pub reply: Option<R>,
}

impl RuleBody<Tagged> {
    /// Reads the reply (whose fields are then named `reply.content.…`).
    pub fn read_reply(self, lang: Lang) -> AppResult<RuleBody<ReplyInput>> {
        let reply = match &self.reply {
            Some(tagged) => Some(tagged.read_into("reply", lang)?),
            None => None,
        };
        Ok(RuleBody {
            name: self.name,
            enabled: self.enabled,
            priority: self.priority,
            match_kind: self.match_kind,
            keywords: self.keywords,
            action: self.action,
            reply,
        })
    }
}

/// A rule checked field by field, ready to save.
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

/// Checks a rule; every sentence names the field, in `lang`.
pub fn check_rule(
    state: &AppState,
    body: RuleBody<ReplyInput>,
    lang: Lang,
) -> AppResult<RuleInput> {
    let r = lang.request();
    let bad = |s: &str| AppError::Invalid(s.to_owned());
    let name = body.name.trim();
    if name.is_empty() {
        return Err(AppError::Invalid(fill(
            r.field_required,
            &[("field", "name")],
        )));
    }
    if name.chars().count() > MAX_NAME || name.chars().any(char::is_control) {
        let max = MAX_NAME.to_string();
        return Err(AppError::Invalid(fill(
            r.field_text,
            &[("field", "name"), ("max", &max)],
        )));
    }
    let priority = body.priority.unwrap_or(0);
    check_priority(priority, r)?;
    let kind = MatchKind::parse(&body.match_kind)
        .ok_or_else(|| AppError::Invalid(r.choice("match", &["exact", "contains", "regex"])))?;
    matcher::validate(kind, &body.keywords)
        .map_err(|p| AppError::Invalid(keyword_sentence(&p, r)))?;
    let action = Action::parse(&body.action).ok_or_else(|| {
        AppError::Invalid(r.choice("action", &["reply", "handoff", "transfer_wechat"]))
    })?;
    let reply = match body.reply {
        None => None,
        Some(ReplyInput::Note(_)) => return Err(bad(r.rule_note)),
        Some(input) => {
            let checked = reply_from_json(state, input, "reply", lang)?;
            Some(serde_json::json!({ "type": checked.kind.as_str(), "content": checked.content }))
        }
    };
    match (action, &reply) {
        (Action::Reply, None) => return Err(bad(r.rule_needs_reply)),
        (Action::TransferWechat, Some(_)) => return Err(bad(r.rule_transfer_reply)),
        _ => {}
    }
    Ok(RuleInput {
        name: name.to_owned(),
        enabled: body.enabled.unwrap_or(true),
        priority,
        kind,
        keywords: body.keywords.iter().map(|k| k.trim().to_owned()).collect(),
        action,
        reply,
    })
}

fn check_priority(priority: i64, r: &RequestText) -> AppResult<()> {
    if priority.abs() > MAX_PRIORITY {
        let (min, max) = ((-MAX_PRIORITY).to_string(), MAX_PRIORITY.to_string());
        return Err(AppError::Invalid(fill(
            r.field_range,
            &[("field", "priority"), ("min", &min), ("max", &max)],
        )));
    }
    Ok(())
}

/// What is wrong with a rule's keywords, in the staff member's language.
pub fn keyword_sentence(p: &KeywordProblem, r: &RequestText) -> String {
    let max_keywords = matcher::MAX_KEYWORDS.to_string();
    let max_chars = matcher::MAX_KEYWORD_CHARS.to_string();
    match p {
        KeywordProblem::NoKeywords => r.keywords_none.to_owned(),
        KeywordProblem::TooMany(count) => fill(
            r.keywords_too_many,
            &[("max", &max_keywords), ("count", &count.to_string())],
        ),
        KeywordProblem::TooLong(k) => {
            fill(r.keyword_too_long, &[("keyword", k), ("max", &max_chars)])
        }
        KeywordProblem::Empty => r.keyword_empty.to_owned(),
        KeywordProblem::OnlyNoise(k) => fill(r.keyword_noise, &[("keyword", k)]),
        KeywordProblem::EmptyRegex => r.regex_empty.to_owned(),
        KeywordProblem::Regex(pattern, reason) => fill(
            r.regex_refused,
            &[("pattern", pattern), ("reason", &regex_sentence(reason, r))],
        ),
    }
}

fn regex_sentence(p: &RegexProblem, r: &RequestText) -> String {
    match p {
        RegexProblem::Syntax(reason) => fill(r.regex_syntax, &[("reason", reason)]),
        RegexProblem::TooLarge { mib } => fill(r.regex_too_large, &[("mib", &mib.to_string())]),
    }
}

/// Why the rules together do not compile, in the staff member's language.
fn rules_sentence(e: &RuleError, r: &RequestText) -> String {
    let reason = match e {
        RuleError::Regex {
            rule,
            pattern,
            reason,
        } => fill(
            r.rules_regex,
            &[
                ("rule", &rule.to_string()),
                ("pattern", pattern),
                ("reason", &regex_sentence(reason, r)),
            ],
        ),
        RuleError::RegexesTooLarge => fill(
            r.rules_too_large,
            &[("mib", &(matcher::REGEXES_MEMORY_LIMIT >> 20).to_string())],
        ),
        RuleError::Keywords(e) => fill(r.rules_keywords, &[("reason", &e.to_string())]),
    };
    fill(r.rules_refused, &[("reason", &reason)])
}

/// What is wrong with the bot's settings, in the staff member's language.
pub fn settings_sentence(p: &SettingsProblem, r: &RequestText) -> String {
    let message = |m: &Message| match m {
        Message::Welcome => r.welcome_message,
        Message::Fallback => r.fallback_message,
        Message::Away => r.away_message,
    };
    let max_text = MAX_TEXT.to_string();
    match p {
        SettingsProblem::TooLong(m) => fill(
            r.message_too_long,
            &[("message", message(m)), ("max", &max_text)],
        ),
        SettingsProblem::SourceFrom => {
            fill(r.source_from, &[("max", &MAX_SESSION_FROM.to_string())])
        }
        SettingsProblem::SourceText(source) => {
            fill(r.source_text, &[("source", source), ("max", &max_text)])
        }
        SettingsProblem::TooManySources => {
            fill(r.too_many_sources, &[("max", &MAX_SOURCES.to_string())])
        }
        SettingsProblem::Period(m) => fill(
            r.period,
            &[
                ("message", message(m)),
                ("max", &MAX_PERIOD_MINUTES.to_string()),
            ],
        ),
        SettingsProblem::Days => r.days.to_owned(),
        SettingsProblem::Clock => r.clock.to_owned(),
        SettingsProblem::HoursOrder => r.hours_order.to_owned(),
        SettingsProblem::Offset => r.offset.to_owned(),
        SettingsProblem::Cap => fill(r.cap, &[("max", &MAX_CAP.to_string())]),
    }
}

/// Creates (`id` None) or replaces a rule, recompiles the matcher with it, and audits it. A
/// rule set that would not compile (too large as a whole) is refused and nothing is saved.
pub async fn save_rule(
    state: &AppState,
    staff: &Staff,
    id: Option<i64>,
    input: &RuleInput,
    lang: Lang,
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
    apply_change(state, staff, change, lang).await
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
    lang: Lang,
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
        .map_err(|e| AppError::Invalid(rules_sentence(&e, lang.request())))?;
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
pub async fn delete_rule(state: &AppState, staff: &Staff, id: i64, lang: Lang) -> AppResult<()> {
    require_admin(staff)?;
    apply_change(state, staff, RuleChange::Delete(id), lang)
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
    lang: Lang,
) -> AppResult<RuleRow> {
    require_admin(staff)?;
    if let Some(p) = priority {
        check_priority(p, lang.request())?;
    }
    apply_change(
        state,
        staff,
        RuleChange::Adjust {
            id,
            enabled,
            priority,
        },
        lang,
    )
    .await
}

/// What the bot would do with a text now (`POST /api/v1/rules/test`, and the console's
/// tester). Fields in alphabetical order, as the answer has always had them.
#[derive(Debug, Serialize)]
pub struct TestView {
    pub normalized: String,
    /// reply, handoff or transfer_wechat (a rule fired), away, fallback or nothing
    pub outcome: &'static str,
    pub reply: Option<ReplyView>,
    pub rule: Option<RuleRef>,
    pub text: String,
}

/// A message the bot would send.
#[derive(Debug, Serialize)]
pub struct ReplyView {
    pub content: Value,
    #[serde(rename = "type")]
    pub kind: &'static str,
}

#[derive(Debug, Serialize)]
pub struct RuleRef {
    pub id: i64,
    pub name: String,
}

pub fn test_view(state: &AppState, text: &str) -> TestView {
    let (outcome, rule, reply) = match state.automation.test(text, now_millis()) {
        Outcome::Rule(r) => (
            r.action.as_str(),
            Some(RuleRef {
                id: r.id,
                name: r.name,
            }),
            r.reply,
        ),
        Outcome::Away(reply) => ("away", None, Some(reply)),
        Outcome::Fallback(reply) => ("fallback", None, Some(reply)),
        Outcome::Nothing => ("nothing", None, None),
    };
    TestView {
        normalized: matcher::normalize(text),
        outcome,
        reply: reply.map(|r| ReplyView {
            kind: r.kind.as_str(),
            content: r.content,
        }),
        rule,
        text: text.to_owned(),
    }
}

/// Saves the bot's settings (validated first; audited; in use at once).
pub async fn save_settings(
    state: &AppState,
    staff: &Staff,
    mut settings: AutomationSettings,
    lang: Lang,
) -> AppResult<()> {
    require_admin(staff)?;
    settings
        .validate()
        .map_err(|p| AppError::Invalid(settings_sentence(&p, lang.request())))?;
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

/// Only admins go on; checked before a body is read, so an agent learns "not allowed" rather
/// than how to make the request valid.
pub struct AdminCaller(pub Staff);

impl axum::extract::FromRequestParts<AppState> for AdminCaller {
    type Rejection = AppError;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        state: &AppState,
    ) -> AppResult<Self> {
        let staff = Staff::from_request_parts(parts, state).await?;
        require_admin(&staff)?;
        Ok(AdminCaller(staff))
    }
}

async fn list(State(state): State<AppState>, _staff: Staff) -> AppResult<Json<RuleList>> {
    let mut rows = rule_store::list(state.store.pool()).await?;
    state.automation.add_pending_hits(&mut rows);
    Ok(Json(RuleList {
        rules: rows.iter().map(RuleView::of).collect(),
    }))
}

async fn one(
    State(state): State<AppState>,
    _staff: Staff,
    Path(id): Path<String>,
) -> AppResult<Json<RuleView>> {
    let id = parse_id(&id)?;
    let mut row = rule_store::get(state.store.pool(), id)
        .await?
        .ok_or_else(|| AppError::NotFound(format!("there is no rule {id}")))?;
    state
        .automation
        .add_pending_hits(std::slice::from_mut(&mut row));
    Ok(Json(RuleView::of(&row)))
}

async fn create(
    State(state): State<AppState>,
    AdminCaller(staff): AdminCaller,
    ApiLang(lang): ApiLang,
    Strict(body): Strict<RuleBody>,
) -> AppResult<Response> {
    let input = check_rule(&state, body.read_reply(lang)?, lang)?;
    let row = save_rule(&state, &staff, None, &input, lang).await?;
    Ok((StatusCode::CREATED, Json(RuleView::of(&row))).into_response())
}

async fn replace(
    State(state): State<AppState>,
    AdminCaller(staff): AdminCaller,
    ApiLang(lang): ApiLang,
    Path(id): Path<String>,
    Strict(body): Strict<RuleBody>,
) -> AppResult<Json<RuleView>> {
    let id = parse_id(&id)?;
    let input = check_rule(&state, body.read_reply(lang)?, lang)?;
    let row = save_rule(&state, &staff, Some(id), &input, lang).await?;
    Ok(Json(RuleView::of(&row)))
}

async fn remove(
    State(state): State<AppState>,
    staff: Staff,
    ApiLang(lang): ApiLang,
    Path(id): Path<String>,
) -> AppResult<StatusCode> {
    let id = parse_id(&id)?;
    delete_rule(&state, &staff, id, lang).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `POST /api/v1/rules/test`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct TestBody {
    text: String,
}

/// The tester takes what a customer could send, give or take.
pub const MAX_TEST_CHARS: usize = 2000;

async fn try_text(
    State(state): State<AppState>,
    _staff: Staff,
    ApiLang(lang): ApiLang,
    Strict(body): Strict<TestBody>,
) -> AppResult<Json<TestView>> {
    if body.text.chars().count() > MAX_TEST_CHARS {
        let max = MAX_TEST_CHARS.to_string();
        let r = lang.request();
        return Err(AppError::Invalid(fill(
            r.field_too_long,
            &[("field", "text"), ("max", &max)],
        )));
    }
    Ok(Json(test_view(&state, &body.text)))
}

/// The settings as they are: serialized through a map, so the keys keep the sorted order the
/// answer has always had.
async fn get_settings(State(state): State<AppState>, _staff: Staff) -> AppResult<Json<Value>> {
    settings_json(&state)
}

fn settings_json(state: &AppState) -> AppResult<Json<Value>> {
    Ok(Json(
        serde_json::to_value(&*state.automation.settings()).map_err(anyhow::Error::from)?,
    ))
}

async fn put_settings(
    State(state): State<AppState>,
    AdminCaller(staff): AdminCaller,
    ApiLang(lang): ApiLang,
    Strict(settings): Strict<AutomationSettings>,
) -> AppResult<Json<Value>> {
    save_settings(&state, &staff, settings, lang).await?;
    settings_json(&state)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// A rule as the API showed it when it was built with `json!` (whose map sorts its keys):
    /// the typed view must give the very same bytes.
    #[test]
    fn a_rule_is_the_same_json_byte_for_byte() {
        for (reply, last_hit_at) in [
            (
                Some(r#"{"type":"text","content":{"text":"请看价格表"}}"#.to_owned()),
                Some(1_700_000_200_000),
            ),
            (None, None),
        ] {
            let r = RuleRow {
                id: 2,
                name: "价格".into(),
                enabled: true,
                priority: -5,
                match_kind: "contains".into(),
                keywords: r#"["价格","多少钱"]"#.into(),
                action: "reply".into(),
                reply,
                hits: 3,
                last_hit_at,
                created_at: 1_700_000_000_000,
                updated_at: 1_700_000_100_000,
            };
            let keywords: Value = serde_json::from_str(&r.keywords).unwrap();
            let reply: Value = r
                .reply
                .as_deref()
                .and_then(|s| serde_json::from_str(s).ok())
                .unwrap_or(Value::Null);
            let before = json!({
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
            });
            assert_eq!(
                serde_json::to_string(&RuleView::of(&r)).unwrap(),
                before.to_string()
            );
        }
    }

    #[test]
    fn the_testers_answer_is_the_same_json_byte_for_byte() {
        let view = TestView {
            normalized: "help".into(),
            outcome: "reply",
            reply: Some(ReplyView {
                content: json!({ "text": "hi" }),
                kind: "text",
            }),
            rule: Some(RuleRef {
                id: 1,
                name: "any help".into(),
            }),
            text: "HELP!".into(),
        };
        let before = json!({
            "text": "HELP!",
            "normalized": "help",
            "outcome": "reply",
            "rule": json!({ "id": 1, "name": "any help" }),
            "reply": json!({ "type": "text", "content": { "text": "hi" } }),
        });
        assert_eq!(serde_json::to_string(&view).unwrap(), before.to_string());
    }
}
