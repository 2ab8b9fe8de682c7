//! Auto-reply rules and the bot's settings over the JSON API (docs/CONTRACT.md "A rule"): the
//! bodies read and answered here; the checks, the saving, the audit and the recompile are
//! `services::rules` and `services::settings`, which the admin console calls too.
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
use crate::automation::Action;
use crate::automation::Outcome;
use crate::automation::rules::MatchKind;
use crate::automation::settings::AutomationSettings;
use crate::domain::{MessageContent, rfc3339};
use crate::error::{AppError, AppResult};
use crate::i18n::{Lang, fill};
use crate::services::replies::ReplyDraft;
use crate::services::rules as rules_service;
pub use crate::services::rules::{MAX_NAME, MAX_PRIORITY, RuleDraft, RuleInput, require_admin};
use crate::services::settings as settings_service;
use crate::store::rules::{self as rule_store, RuleRow};
use crate::web::api::ReplyInput;
use crate::web::auth::Staff;
use crate::web::json::{ApiLang, Strict, Tagged};

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

/// A rule as docs/CONTRACT.md shapes it. The fields are in alphabetical order, the order the
/// answer has always had (it was a `json!` map, which sorts its keys).
#[derive(Debug, Serialize)]
pub struct RuleView {
    pub action: Action,
    /// the channel it is for; null: every channel
    pub channel_id: Option<i64>,
    pub created_at: String,
    pub enabled: bool,
    pub hits: i64,
    pub id: i64,
    pub keywords: Vec<String>,
    pub last_hit_at: Option<String>,
    #[serde(rename = "match")]
    pub match_kind: MatchKind,
    pub name: String,
    pub priority: i64,
    pub reply: Option<MessageContent>,
    pub updated_at: String,
}

impl RuleView {
    pub fn of(r: &RuleRow) -> RuleView {
        RuleView {
            action: r.action,
            channel_id: r.channel_id,
            created_at: rfc3339(r.created_at),
            enabled: r.enabled,
            hits: r.hits,
            id: r.id,
            keywords: r.keywords.clone(),
            last_hit_at: r.last_hit_at.map(rfc3339),
            match_kind: r.match_kind,
            name: r.name.clone(),
            priority: r.priority,
            reply: r.reply.clone(),
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
    /// missing or null: every channel
    pub channel_id: Option<i64>,
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
            channel_id: self.channel_id,
        })
    }
}

impl From<RuleBody<ReplyInput>> for RuleDraft {
    fn from(b: RuleBody<ReplyInput>) -> RuleDraft {
        RuleDraft {
            name: b.name,
            enabled: b.enabled,
            priority: b.priority,
            match_kind: b.match_kind,
            keywords: b.keywords,
            action: b.action,
            reply: b.reply.map(ReplyDraft::from),
            // the API names a media_id; an image kefu keeps comes from the console
            media: None,
            channel: b.channel_id,
        }
    }
}

/// Checks a rule read from a body; every sentence names the field, in `lang`.
pub fn check_rule(
    state: &AppState,
    body: RuleBody<ReplyInput>,
    lang: Lang,
) -> AppResult<RuleInput> {
    rules_service::check(state.config.wechat.appid.as_deref(), body.into(), lang)
}

/// What the bot would do with a text now (`POST /api/v1/rules/test`, and the console's
/// tester). Fields in alphabetical order, as the answer has always had them.
#[derive(Debug, Serialize)]
pub struct TestView {
    pub normalized: String,
    /// reply, handoff or transfer_wechat (a rule fired), away, fallback or nothing
    pub outcome: &'static str,
    /// the message the bot would send
    pub reply: Option<MessageContent>,
    pub rule: Option<RuleRef>,
    pub text: String,
}

#[derive(Debug, Serialize)]
pub struct RuleRef {
    pub id: i64,
    pub name: String,
}

pub fn test_view(state: &AppState, text: &str) -> TestView {
    let tried = rules_service::try_text(&state.automation, text);
    let (outcome, rule, reply) = match tried.outcome {
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
        normalized: tried.normalized,
        outcome,
        reply,
        rule,
        text: text.to_owned(),
    }
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
        let lang = parts
            .extensions
            .get::<ApiLang>()
            .map_or_else(|| ApiLang::of(&staff, &parts.headers), |l| l.0);
        crate::services::rules::require_admin_in(&staff, lang)?;
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
    let (store, automation) = (&state.store, &state.automation);
    let row = rules_service::save(store, automation, &staff, None, &input, lang).await?;
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
    let (store, automation) = (&state.store, &state.automation);
    let row = rules_service::save(store, automation, &staff, Some(id), &input, lang).await?;
    Ok(Json(RuleView::of(&row)))
}

async fn remove(
    State(state): State<AppState>,
    staff: Staff,
    ApiLang(lang): ApiLang,
    Path(id): Path<String>,
) -> AppResult<StatusCode> {
    let id = parse_id(&id)?;
    rules_service::delete(&state.store, &state.automation, &staff, id, lang).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `POST /api/v1/rules/test`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct TestBody {
    pub(super) text: String,
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
    settings_service::save(&state.store, &state.automation, &staff, settings, lang).await?;
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
            (
                Some(r#"{"type":"miniprogrampage","content":{"title":"t","appid":"wx1","pagepath":"p","thumb_url":null,"thumb_media_id":"m"}}"#.to_owned()),
                None,
            ),
            (
                Some(r#"{"type":"link","content":{"title":"t","description":"d","url":"https://a.cn","thumb_url":"https://a.cn/t"}}"#.to_owned()),
                None,
            ),
            (None, None),
        ] {
            // the columns as stored, and the row the store reads from them
            let (match_kind, stored_keywords, action) = ("contains", r#"["价格","多少钱"]"#, "reply");
            let r = RuleRow {
                channel_id: None,
                id: 2,
                name: "价格".into(),
                enabled: true,
                priority: -5,
                match_kind: MatchKind::parse(match_kind).unwrap(),
                keywords: serde_json::from_str(stored_keywords).unwrap(),
                action: Action::parse(action).unwrap(),
                reply: reply.as_deref().map(|s| serde_json::from_str(s).unwrap()),
                hits: 3,
                last_hit_at,
                created_at: 1_700_000_000_000,
                updated_at: 1_700_000_100_000,
                deleted_at: None,
                media: None,
            };
            let keywords: Value = serde_json::from_str(stored_keywords).unwrap();
            let reply: Value = reply
                .as_deref()
                .and_then(|s| serde_json::from_str(s).ok())
                .unwrap_or(Value::Null);
            let before = json!({
                "id": r.id,
                "name": r.name,
                "enabled": r.enabled,
                "priority": r.priority,
                "match": match_kind,
                "keywords": keywords,
                "action": action,
                // added with channels (a rule for one channel); null: every channel
                "channel_id": r.channel_id,
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
            reply: Some(MessageContent::text("hi")),
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
