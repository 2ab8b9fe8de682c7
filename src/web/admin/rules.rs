//! The rules console: the list, the form to add or edit a rule, toggling, moving and
//! deleting, and the tester that says which rule (or message) a text would get.
//!
//! Deleting asks first: the table's Delete opens a `<dialog>` (static/admin.js), or without
//! script the confirm page (`GET /admin/rules/{id}/delete`); both post the deletion. A
//! deleted rule goes to the trash and can be restored: right after, the page says so with
//! an Undo button, and the trash is listed below the table (an admin expects an undo at the
//! moment of the mistake, and a place to find a rule deleted a while ago; a restore from
//! the audit log would need the whole rule copied into its detail).

use askama::Template;
use axum::extract::rejection::{FormRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Form, Router};
use serde::Deserialize;

use super::{Admin, Choice, bad, choices, cut, from_rules};
use crate::app::AppState;
use crate::delivery;
use crate::domain::{MatchKind, MessageContent, MessageType, RuleAction};
use crate::error::{AppError, AppResult};
use crate::i18n::{AdminText, ConsoleText, fill};
use crate::services::replies::{CardInput, ImageInput, LinkInput, ReplyDraft, TextInput};
use crate::services::rules::{self as rules_service, Direction, MAX_NAME, MAX_PRIORITY, RuleDraft};
use crate::store::rules::{self as rule_store, RuleMedia, RuleRow};
use crate::web::pages::{Chrome, OrPage, PageResult, render_status};
use crate::web::rules::{self as rules_api, MAX_TEST_CHARS, TestView};
use crate::web::views::When;

/// A reply summary in the rules table is cut to this many characters.
const SUMMARY_CHARS: usize = 80;

/// The routes of the rules console and its tester; every handler takes `Admin`, so only admins get in.
pub(super) fn router() -> Router<AppState> {
    Router::new()
        .route("/admin/rules", get(rules_page))
        .route("/admin/rules/test", get(test_get).post(test_post))
        .route(
            "/admin/rules/new",
            get(new_rule).post(create_rule).layer(upload_limit()),
        )
        .route(
            "/admin/rules/{id}/edit",
            get(edit_rule).post(update_rule).layer(upload_limit()),
        )
        .route("/admin/rules/{id}/image", get(rule_image))
        .route("/admin/rules/{id}/toggle", post(toggle_rule))
        .route("/admin/rules/{id}/move", post(move_rule))
        .route(
            "/admin/rules/{id}/delete",
            get(confirm_delete).post(delete_rule),
        )
        .route("/admin/rules/{id}/restore", post(restore_rule))
}

/// A rule form may carry an image (multipart), as large as a reply's image.
fn upload_limit() -> axum::extract::DefaultBodyLimit {
    axum::extract::DefaultBodyLimit::max(delivery::MAX_IMAGE_BYTES + 256 * 1024)
}

fn match_label(a: &AdminText, kind: MatchKind) -> &'static str {
    match kind {
        MatchKind::Exact => a.match_exact,
        MatchKind::Contains => a.match_contains,
        MatchKind::Regex => a.match_regex,
    }
}

fn action_label(a: &AdminText, action: RuleAction) -> &'static str {
    match action {
        RuleAction::Reply => a.action_reply,
        RuleAction::Handoff => a.action_handoff,
        RuleAction::TransferWechat => a.action_transfer,
    }
}

fn reply_type_label(a: &AdminText, kind: MessageType) -> &'static str {
    match kind {
        MessageType::Text => a.reply_text,
        MessageType::Link => a.reply_link,
        MessageType::MiniProgramPage => a.reply_card,
        MessageType::Image => a.reply_image,
        // no rule replies with these (`services::replies` takes none of them)
        MessageType::Event
        | MessageType::Note
        | MessageType::Unknown
        | MessageType::Voice
        | MessageType::Video
        | MessageType::ShortVideo
        | MessageType::Location
        | MessageType::News
        | MessageType::MsgMenu => a.unknown,
    }
}

/// A reply as lines of text: what the customer would get.
fn reply_lines(reply: &MessageContent) -> Vec<String> {
    let lines: Vec<String> = match reply {
        MessageContent::Text(c) | MessageContent::Note(c) => {
            c.text.lines().map(str::to_owned).collect()
        }
        MessageContent::Link(c) => vec![c.title.clone(), c.description.clone(), c.url.clone()],
        MessageContent::MiniProgramPage(c) => vec![c.title.clone(), c.pagepath.clone()],
        // an image kefu keeps (uploaded in the console) has no media_id to show
        MessageContent::Image(c) => c
            .media_id
            .iter()
            .map(|id| format!("media_id {id}"))
            .collect(),
        MessageContent::Event(c) => vec![c.event.clone()],
        MessageContent::Unknown(c) => vec![c.raw.clone()],
        // what customers send, never a rule's reply; shown plainly should one be stored
        MessageContent::Voice(c) => c
            .media_id
            .iter()
            .map(|id| format!("media_id {id}"))
            .collect(),
        MessageContent::Video(c) | MessageContent::ShortVideo(c) => c
            .media_id
            .iter()
            .map(|id| format!("media_id {id}"))
            .collect(),
        MessageContent::Location(c) => vec![c.label.clone()],
        // an agent's Official Account replies, never a rule's; shown plainly should one be stored
        MessageContent::News(c) => vec![c.title.clone(), c.url.clone()],
        MessageContent::MsgMenu(c) => std::iter::once(c.head_content.clone())
            .chain(c.items.iter().map(|i| i.content.clone()))
            .collect(),
    };
    lines.into_iter().filter(|l| !l.trim().is_empty()).collect()
}

/// One line for the rules table: the reply's kind and the start of what it says.
fn reply_summary(a: &AdminText, reply: &MessageContent) -> String {
    let kind = reply_type_label(a, reply.kind());
    let (text, _) = cut(&reply_lines(reply).join(" · "), SUMMARY_CHARS);
    if text.is_empty() {
        kind.to_owned()
    } else {
        format!("{kind}: {text}")
    }
}

/// One rule in the table.
struct RuleItem {
    id: i64,
    name: String,
    enabled: bool,
    priority: i64,
    match_kind: &'static str,
    match_label: &'static str,
    keywords: Vec<String>,
    action: &'static str,
    action_label: &'static str,
    /// one line, empty when the rule sends nothing
    reply: String,
    hits: i64,
    last_hit: Option<When>,
    first: bool,
    last: bool,
}

/// A rule in the trash.
struct TrashItem {
    id: i64,
    name: String,
    deleted: When,
}

/// A rule deleted within this long is announced at the top of the table with an Undo button.
const UNDO_NOTICE_MS: i64 = 10 * 60_000;

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
    fn of(a: &AdminText, result: &TestView) -> TesterView {
        let outcome = result.outcome.to_owned();
        let reply = result.reply.as_ref();
        let sentence = match (outcome.as_str(), reply.is_some()) {
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
            // a rule's action; away, fallback and nothing are no action
            action_label: RuleAction::parse(&outcome).map_or(a.unknown, |x| action_label(a, x)),
            rule: result.rule.as_ref().map(|r| r.name.clone()),
            sentence,
            reply_type: reply.map_or("", |r| r.kind().as_str()).to_owned(),
            reply_kind: reply.map_or("", |r| reply_type_label(a, r.kind())),
            reply: reply.map(reply_lines).unwrap_or_default(),
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
    c: &'static ConsoleText,
    rules: Vec<RuleItem>,
    /// the rule deleted last, within `UNDO_NOTICE_MS`, and the notice's sentence
    just_deleted: Option<(i64, String)>,
    trash: Vec<TrashItem>,
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
) -> PageResult {
    let a = admin.a();
    let mut rows = rule_store::list(state.store.pool())
        .await
        .or_page(&admin.0)?;
    state.automation.add_pending_hits(&mut rows);
    let c = admin.0.lang.console();
    let trash: Vec<TrashItem> = rule_store::deleted(state.store.pool())
        .await
        .or_page(&admin.0)?
        .into_iter()
        .map(|r| TrashItem {
            id: r.id,
            deleted: When::at(r.deleted_at.unwrap_or(r.updated_at)),
            name: r.name,
        })
        .collect();
    let now = crate::domain::now_millis();
    let just_deleted = trash
        .first()
        .filter(|t| now - t.deleted.ms < UNDO_NOTICE_MS)
        .map(|t| (t.id, fill(c.rule_deleted, &[("name", &t.name)])));
    let count = rows.len();
    let rules = rows
        .iter()
        .enumerate()
        .map(|(i, r)| RuleItem {
            id: r.id,
            name: r.name.clone(),
            enabled: r.enabled,
            priority: r.priority,
            match_kind: r.match_kind.as_str(),
            match_label: match_label(a, r.match_kind),
            keywords: r.keywords.clone(),
            action: r.action.as_str(),
            action_label: action_label(a, r.action),
            reply: r
                .reply
                .as_ref()
                .map(|reply| reply_summary(a, reply))
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
        .map(|text| TesterView::of(a, &rules_api::test_view(state, text)));
    let page = RulesPage {
        chrome: admin.chrome(),
        a,
        tab: "rules",
        c,
        rules,
        just_deleted,
        trash,
        tester_text: tested.unwrap_or_default(),
        tester,
        error,
        max_test: MAX_TEST_CHARS,
    };
    Ok(render_status(status, &page))
}

async fn rules_page(State(state): State<AppState>, admin: Admin) -> PageResult {
    render_rules(&state, &admin, StatusCode::OK, None, None).await
}

#[derive(Debug, Deserialize)]
struct TestForm {
    #[serde(default)]
    text: String,
}

async fn tester(state: &AppState, admin: &Admin, text: Option<String>) -> PageResult {
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
) -> PageResult {
    let text = query.ok().map(|Query(q)| q.text);
    tester(&state, &admin, text).await
}

async fn test_post(
    State(state): State<AppState>,
    admin: Admin,
    form: Result<Form<TestForm>, FormRejection>,
) -> PageResult {
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
    /// a channel's id; empty: every channel
    #[serde(default)]
    channel: String,
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
            channel: row.channel_id.map(|id| id.to_string()).unwrap_or_default(),
            enabled: row.enabled.then(|| "on".to_owned()),
            priority: row.priority.to_string(),
            match_kind: row.match_kind.as_str().to_owned(),
            keywords: row.keywords.join("\n"),
            action: row.action.as_str().to_owned(),
            reply_type: "none".into(),
            ..RuleForm::default()
        };
        match &row.reply {
            None => {}
            Some(MessageContent::Text(c)) => {
                f.reply_type = "text".into();
                f.reply_text = c.text.clone();
            }
            Some(MessageContent::Link(c)) => {
                f.reply_type = "link".into();
                f.link_title = c.title.clone();
                f.link_description = c.description.clone();
                f.link_url = c.url.clone();
                f.link_thumb_url = c.thumb_url.clone().unwrap_or_default();
            }
            Some(MessageContent::MiniProgramPage(c)) => {
                f.reply_type = "miniprogrampage".into();
                f.card_title = c.title.clone();
                f.card_pagepath = c.pagepath.clone();
                f.card_thumb_media_id = c.thumb_media_id.clone().unwrap_or_default();
            }
            Some(MessageContent::Image(c)) => {
                f.reply_type = "image".into();
                f.image_media_id = c.media_id.clone().unwrap_or_default();
            }
            // not a reply a rule can be saved with (an unreadable one is shown as unknown)
            Some(other) => f.reply_type = other.kind().as_str().into(),
        }
        f
    }

    /// The rule as submitted, as the JSON API's body gives it too, so that `services::rules`
    /// checks the form exactly as it checks the API (and says what is wrong in the same
    /// words). The priority is typed as text: one that is not a whole number is refused here.
    fn to_draft(&self, a: &AdminText, media: Option<RuleMedia>) -> AppResult<RuleDraft> {
        let keywords = self
            .keywords
            .lines()
            .map(str::trim)
            .filter(|k| !k.is_empty())
            .map(str::to_owned)
            .collect();
        let priority = match self.priority.trim() {
            "" => None,
            p => Some(p.parse::<i64>().map_err(|_| {
                bad(&a
                    .rule_refused
                    .replace("{reason}", &fill(a.not_a_number, &[("field", a.priority)])))
            })?),
        };
        let reply = match self.reply_type.as_str() {
            "" | "none" => None,
            "text" => Some(ReplyDraft::Text(TextInput {
                text: self.reply_text.replace("\r\n", "\n"),
            })),
            "link" => Some(ReplyDraft::Link(LinkInput {
                title: self.link_title.clone(),
                description: self.link_description.clone(),
                url: self.link_url.clone(),
                thumb_url: self.link_thumb_url.clone(),
            })),
            "miniprogrampage" => Some(ReplyDraft::MiniProgramPage(CardInput {
                title: self.card_title.clone(),
                appid: None,
                pagepath: self.card_pagepath.clone(),
                thumb_media_id: self.card_thumb_media_id.clone(),
                thumb_url: None,
            })),
            "image" => Some(ReplyDraft::Image(ImageInput {
                media_id: self.image_media_id.clone(),
                url: None,
            })),
            _ => return Err(bad(a.choose_reply_type)),
        };
        Ok(RuleDraft {
            name: self.name.clone(),
            enabled: Some(self.enabled.is_some()),
            priority,
            match_kind: self.match_kind.clone(),
            keywords,
            action: self.action.clone(),
            reply,
            media,
            channel: match self.channel.trim() {
                "" => None,
                id => Some(id.parse().map_err(|_| bad(a.choose_channel))?),
            },
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
    c: &'static ConsoleText,
    upload_hint: String,
    /// where the image kefu keeps for this rule is shown, if it keeps one
    image_src: Option<String>,
    /// (value, label, selected) of the channel choice, offered when there are several
    channels: Vec<(String, String, bool)>,
}

fn render_rule_form(
    state: &AppState,
    admin: &Admin,
    id: Option<i64>,
    f: RuleForm,
    status: StatusCode,
    error: Option<String>,
    has_image: bool,
) -> Response {
    let a = admin.a();
    let c = admin.0.lang.console();
    let max = (delivery::MAX_IMAGE_BYTES >> 20).to_string();
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
        error,
        max_name: MAX_NAME,
        max_priority: MAX_PRIORITY,
        c,
        upload_hint: fill(c.upload_hint, &[("max", &max)]),
        image_src: id
            .filter(|_| has_image)
            .map(|id| format!("/admin/rules/{id}/image")),
        channels: if state.channels.several() {
            let all = (
                String::new(),
                a.all_channels.to_owned(),
                f.channel.is_empty(),
            );
            std::iter::once(all)
                .chain(state.channels.all().iter().map(|c| {
                    let id = c.id().to_string();
                    let selected = id == f.channel;
                    (id, c.channel.label().to_owned(), selected)
                }))
                .collect()
        } else {
            Vec::new()
        },
        f,
    };
    render_status(status, &page)
}

async fn new_rule(State(state): State<AppState>, admin: Admin) -> Response {
    render_rule_form(
        &state,
        &admin,
        None,
        RuleForm::fresh(),
        StatusCode::OK,
        None,
        false,
    )
}

async fn rule_not_found(state: &AppState, admin: &Admin) -> PageResult {
    let error = Some(admin.a().rule_not_found.to_owned());
    render_rules(state, admin, StatusCode::NOT_FOUND, error, None).await
}

async fn edit_rule(
    State(state): State<AppState>,
    admin: Admin,
    Path(id): Path<String>,
) -> PageResult {
    let Some(id) = crate::web::path_id(&id) else {
        return rule_not_found(&state, &admin).await;
    };
    match rule_store::get(state.store.pool(), id)
        .await
        .or_page(&admin.0)?
    {
        Some(row) => Ok(render_rule_form(
            &state,
            &admin,
            Some(id),
            RuleForm::of(&row),
            StatusCode::OK,
            None,
            row.media.is_some(),
        )),
        None => rule_not_found(&state, &admin).await,
    }
}

/// A rule form as posted: plain (`application/x-www-form-urlencoded`) or with an image
/// (`multipart/form-data`: the fields, and `image_file` or `card_file`, the image of an image
/// reply or a card's cover). None when it cannot be read.
struct Submission {
    form: RuleForm,
    /// the image chosen for the reply type, if one was chosen
    image: Option<Vec<u8>>,
}

async fn read_submission(state: &AppState, request: axum::extract::Request) -> Option<Submission> {
    use axum::extract::FromRequest;
    let multipart = request
        .headers()
        .get(axum::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("multipart/form-data"));
    if !multipart {
        let Form(form) = Form::<RuleForm>::from_request(request, state).await.ok()?;
        return Some(Submission { form, image: None });
    }
    let mut parts = axum::extract::Multipart::from_request(request, state)
        .await
        .ok()?;
    let mut fields: Vec<(String, String)> = Vec::new();
    let (mut image_file, mut card_file) = (None, None);
    while let Some(field) = parts.next_field().await.ok()? {
        let name = field.name().unwrap_or_default().to_owned();
        match name.as_str() {
            "image_file" => image_file = Some(field.bytes().await.ok()?.to_vec()),
            "card_file" => card_file = Some(field.bytes().await.ok()?.to_vec()),
            _ => {
                let value = field.text().await.ok()?;
                fields.push((name, value));
            }
        }
    }
    // the fields as a form reads them (the same defaults and the same refusals)
    let encoded = serde_urlencoded::to_string(&fields).ok()?;
    let form: RuleForm = serde_urlencoded::from_str(&encoded).ok()?;
    // a file input left empty still sends an empty part
    let image = match form.reply_type.as_str() {
        "image" => image_file,
        "miniprogrampage" => card_file,
        _ => None,
    }
    .filter(|b| !b.is_empty());
    Some(Submission { form, image })
}

/// Saves the form as a new rule (`id` None) or over rule `id`. An image uploaded with it is
/// checked as a reply's image is, kept under the media dir, and sent from kefu's copy (a
/// media_id typed instead is used as it is); an edit that uploads nothing keeps the rule's
/// image.
async fn submit_rule(
    state: &AppState,
    admin: &Admin,
    id: Option<i64>,
    request: axum::extract::Request,
) -> PageResult {
    let a = admin.a();
    let lang = admin.0.lang;
    let Some(Submission { form: f, image }) = read_submission(state, request).await else {
        let error = Some(a.unreadable_form.to_owned());
        let fresh = RuleForm::fresh();
        return Ok(render_rule_form(
            state,
            admin,
            id,
            fresh,
            StatusCode::BAD_REQUEST,
            error,
            false,
        ));
    };
    let existing = match id {
        Some(id) => rule_store::get(state.store.pool(), id)
            .await
            .or_page(&admin.0)?
            .and_then(|r| r.media),
        None => None,
    };
    let saved = async {
        let r = lang.request();
        // the upload: checked now, written once the rule is found valid
        let upload = match &image {
            Some(bytes) => {
                if bytes.len() > delivery::MAX_IMAGE_BYTES {
                    let max = (delivery::MAX_IMAGE_BYTES >> 20).to_string();
                    return Err(bad(&a
                        .rule_refused
                        .replace("{reason}", &fill(r.image_size, &[("max", &max)]))));
                }
                let content_type = delivery::sniff_image(bytes)
                    .ok_or_else(|| bad(&a.rule_refused.replace("{reason}", r.image_kind)))?;
                let ext = delivery::image_extension(content_type).unwrap_or("bin");
                let path = format!(
                    "rules/{}.{ext}",
                    crate::services::accounts::random_secret(12)
                );
                Some(RuleMedia {
                    path,
                    content_type: content_type.to_owned(),
                })
            }
            None => None,
        };
        let draft = f.to_draft(a, upload.clone().or(existing.clone()))?;
        let appid = state.config.wechat.appid.as_deref();
        let input = rules_service::check(appid, draft, lang)
            .map_err(|e| from_rules(e, a, a.rule_refused))?;
        if let (Some(bytes), Some(media)) = (&image, &upload)
            && input.media.as_ref() == Some(media)
        {
            delivery::write_file(&state.config.data_dir.join("media"), &media.path, bytes)
                .await
                .map_err(|e| {
                    AppError::Internal(anyhow::anyhow!("cannot store a rule's image: {e}"))
                })?;
        }
        let (store, automation) = (&state.store, &state.automation);
        rules_service::save(store, automation, &admin.0.staff, id, &input, lang)
            .await
            .map_err(|e| from_rules(e, a, a.rule_refused))
    };
    match saved.await {
        Ok(_) => Ok(Redirect::to("/admin/rules").into_response()),
        Err(e) => {
            let (status, message) = admin.refused(e)?;
            let has_image = existing.is_some();
            Ok(render_rule_form(
                state,
                admin,
                id,
                f,
                status,
                Some(message),
                has_image,
            ))
        }
    }
}

async fn create_rule(
    State(state): State<AppState>,
    admin: Admin,
    request: axum::extract::Request,
) -> PageResult {
    submit_rule(&state, &admin, None, request).await
}

async fn update_rule(
    State(state): State<AppState>,
    admin: Admin,
    Path(id): Path<String>,
    request: axum::extract::Request,
) -> PageResult {
    let Some(id) = crate::web::path_id(&id) else {
        return rule_not_found(&state, &admin).await;
    };
    submit_rule(&state, &admin, Some(id), request).await
}

/// The image kefu keeps for a rule (the form shows it).
async fn rule_image(
    State(state): State<AppState>,
    admin: Admin,
    Path(id): Path<String>,
) -> PageResult {
    let Some(id) = crate::web::path_id(&id) else {
        return rule_not_found(&state, &admin).await;
    };
    let media = rule_store::get(state.store.pool(), id)
        .await
        .or_page(&admin.0)?
        .and_then(|r| r.media);
    let Some(media) = media else {
        return rule_not_found(&state, &admin).await;
    };
    let bytes = tokio::fs::read(state.config.data_dir.join("media").join(&media.path))
        .await
        .map_err(|e| {
            admin.0.fail(AppError::Internal(anyhow::anyhow!(
                "cannot read a rule's image: {e}"
            )))
        })?;
    Ok((
        [
            (axum::http::header::CONTENT_TYPE, media.content_type),
            (
                axum::http::header::CACHE_CONTROL,
                "private, max-age=3600".to_owned(),
            ),
        ],
        bytes,
    )
        .into_response())
}

/// The outcome of a button in the rules table: back to the table, or the table with the
/// reason.
async fn after_rule_change(state: &AppState, admin: &Admin, outcome: AppResult<()>) -> PageResult {
    match outcome {
        Ok(()) => Ok(Redirect::to("/admin/rules").into_response()),
        Err(e) => {
            let (status, message) = admin.refused(e)?;
            render_rules(state, admin, status, Some(message), None).await
        }
    }
}

async fn toggle_rule(
    State(state): State<AppState>,
    admin: Admin,
    Path(id): Path<String>,
) -> PageResult {
    let a = admin.a();
    let outcome = match crate::web::path_id(&id) {
        Some(id) => {
            let (store, automation) = (&state.store, &state.automation);
            rules_service::switch(store, automation, &admin.0.staff, id, admin.0.lang)
                .await
                .map(|_| ())
                .map_err(|e| from_rules(e, a, a.change_refused))
        }
        None => Err(AppError::NotFound(a.rule_not_found.into())),
    };
    after_rule_change(&state, &admin, outcome).await
}

#[derive(Debug, Deserialize)]
struct MoveForm {
    #[serde(default)]
    direction: String,
}

/// Moves a rule one place up or down the order rules are considered in
/// (`services::rules::move_rule` says how).
async fn move_rule(
    State(state): State<AppState>,
    admin: Admin,
    Path(id): Path<String>,
    form: Result<Form<MoveForm>, FormRejection>,
) -> PageResult {
    let a = admin.a();
    let outcome = async {
        let id =
            crate::web::path_id(&id).ok_or_else(|| AppError::NotFound(a.rule_not_found.into()))?;
        let direction = match form.as_ref().map(|Form(f)| f.direction.as_str()) {
            Ok("up") => Direction::Up,
            Ok("down") => Direction::Down,
            _ => return Err(bad(a.choose_direction)),
        };
        let (store, automation, staff) = (&state.store, &state.automation, &admin.0.staff);
        rules_service::move_rule(store, automation, staff, id, direction, admin.0.lang)
            .await
            .map(|_| ())
            .map_err(|e| from_rules(e, a, a.change_refused))
    }
    .await;
    after_rule_change(&state, &admin, outcome).await
}

#[derive(Template)]
#[template(path = "admin/rule_delete.html")]
struct ConfirmDeletePage {
    chrome: Chrome,
    a: &'static AdminText,
    c: &'static ConsoleText,
    tab: &'static str,
    id: i64,
    question: String,
}

/// The confirm page of a deletion (what the table's Delete opens without script).
async fn confirm_delete(
    State(state): State<AppState>,
    admin: Admin,
    Path(id): Path<String>,
) -> PageResult {
    let Some(id) = crate::web::path_id(&id) else {
        return rule_not_found(&state, &admin).await;
    };
    let Some(row) = rule_store::get(state.store.pool(), id)
        .await
        .or_page(&admin.0)?
    else {
        return rule_not_found(&state, &admin).await;
    };
    let c = admin.0.lang.console();
    let page = ConfirmDeletePage {
        chrome: admin.chrome(),
        a: admin.a(),
        c,
        tab: "rules",
        id,
        question: fill(c.confirm_delete, &[("name", &row.name)]),
    };
    Ok(render_status(StatusCode::OK, &page))
}

/// Takes a deleted rule out of the trash (the Undo and Restore buttons).
async fn restore_rule(
    State(state): State<AppState>,
    admin: Admin,
    Path(id): Path<String>,
) -> PageResult {
    let a = admin.a();
    let outcome = match crate::web::path_id(&id) {
        Some(id) => {
            let (store, automation) = (&state.store, &state.automation);
            rules_service::restore(store, automation, &admin.0.staff, id, admin.0.lang)
                .await
                .map(|_| ())
                .map_err(|e| from_rules(e, a, a.change_refused))
        }
        None => Err(AppError::NotFound(a.rule_not_found.into())),
    };
    after_rule_change(&state, &admin, outcome).await
}

async fn delete_rule(
    State(state): State<AppState>,
    admin: Admin,
    Path(id): Path<String>,
) -> PageResult {
    let a = admin.a();
    let outcome = match crate::web::path_id(&id) {
        Some(id) => {
            let (store, automation) = (&state.store, &state.automation);
            rules_service::delete(store, automation, &admin.0.staff, id, admin.0.lang)
                .await
                .map_err(|e| from_rules(e, a, a.change_refused))
        }
        None => Err(AppError::NotFound(a.rule_not_found.into())),
    };
    after_rule_change(&state, &admin, outcome).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::i18n::Lang;

    #[test]
    fn a_rule_form_becomes_the_apis_body() {
        let a = Lang::En.admin();
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
        let body = f.to_draft(a, None).unwrap();
        assert_eq!(body.name, "价格");
        assert_eq!(body.enabled, Some(true));
        assert_eq!(body.priority, Some(5));
        assert_eq!(body.match_kind, "contains");
        assert_eq!(body.keywords, ["价格", "多少钱"]);
        assert_eq!(body.action, "reply");
        assert!(
            matches!(&body.reply, Some(ReplyDraft::Text(t)) if t.text == "line one\nline two"),
            "{:?}",
            body.reply
        );
        let f = RuleForm {
            reply_type: "none".into(),
            ..RuleForm::default()
        };
        let body = f.to_draft(a, None).unwrap();
        assert_eq!(body.enabled, Some(false));
        assert_eq!(body.priority, None);
        assert!(body.reply.is_none());
        let f = RuleForm {
            priority: "high".into(),
            ..RuleForm::default()
        };
        let e = f.to_draft(a, None).unwrap_err().to_string();
        assert!(e.contains(a.priority), "refused, naming the priority: {e}");
    }
}
