//! The contact panel beside a conversation (`templates/inbox/contact.html`): what the team does
//! with this conversation (its labels, snoozing it), who the customer is and the team's note on
//! them, and the customer's earlier conversations, each readable in place.
//!
//! Routes:
//! - `POST /conversations/{id}/contact`: rename the customer and keep that note;
//! - `GET /conversations/{id}/contact`: the panel alone (`<aside id="contact">`), for a script
//!   that shows another conversation or follows a change live (`static/contact.js`);
//! - `GET /conversations/{id}/transcript`: one conversation read-only (its messages, notes and
//!   the team's changes to it: handoffs, assignments, status), as a page, or with `?part=1`
//!   the fragment the panel opens in place.
//!
//! Labels and snoozes are changed through the JSON API (`PUT …/labels`, `POST …/snooze`), so
//! the rules are `services`'s, once.

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Redirect};
use axum::routing::get;
use axum::{Form, Router};
use serde::Deserialize;

use crate::app::AppState;
use crate::domain::{ConversationStatus, now_millis};
use crate::error::AppError;
use crate::i18n::{ListText, Text, fill};
use crate::services;
use crate::store::conversations::{self, ConversationRow};
use crate::store::labels as label_store;
use crate::store::{audit, messages, staff};
use crate::web::pages::{Chrome, OrPage, PageError, PageResult, Viewer, render};
use crate::web::views::{LabelChip, MessageView, RowView, When, authored_preview, status_label};

/// Earlier conversations listed in the panel.
const HISTORY: i64 = 20;
/// Messages of an earlier conversation shown in place (the newest).
const TRANSCRIPT: i64 = 200;

pub fn router() -> Router<AppState> {
    Router::new()
        .route(
            "/conversations/{id}/contact",
            get(contact_fragment).post(save_contact),
        )
        .route("/conversations/{id}/transcript", get(transcript))
}

/// One of the customer's earlier conversations.
pub(super) struct HistoryItem {
    pub id: i64,
    pub status: &'static str,
    pub status_label: &'static str,
    pub started: When,
    pub last: When,
    pub preview: String,
    /// "12 条消息"
    pub count: String,
}

/// What the contact panel shows for one conversation and its customer.
pub(super) struct ContactPane {
    pub first_seen: When,
    pub name: String,
    pub note: String,
    /// the page follows a save: say so
    pub saved: bool,
    /// this conversation's labels, and every label (to add one)
    pub labels: Vec<LabelChip>,
    pub all_labels: Vec<LabelChip>,
    /// this conversation's label ids as rows carry them (" 3 7 "), so the script can tell a
    /// live row changed them
    pub label_ids: String,
    pub status: &'static str,
    pub snoozed: Option<When>,
    pub history: Vec<HistoryItem>,
    pub l: &'static ListText,
}

/// Reads the contact panel for `row`'s conversation and customer.
pub(super) async fn contact_pane(
    state: &AppState,
    viewer: &Viewer,
    row: &ConversationRow,
    saved: bool,
) -> Result<ContactPane, PageError> {
    let t = viewer.lang.text();
    let l = viewer.lang.list();
    let (id, contact_id) = (row.id, row.contact_id);
    let (details, labels, all_labels, history, last) = state
        .store
        .read(move |conn| {
            let history = conversations::history_on(conn, contact_id, id, HISTORY)?;
            let last_ids: Vec<i64> = history.iter().filter_map(|h| h.last_message_id).collect();
            Ok((
                conversations::contact_details_on(conn, contact_id)?,
                label_store::of_conversations_on(conn, &[id])?,
                label_store::list_on(conn)?,
                history,
                messages::by_ids_on(conn, &last_ids)?,
            ))
        })
        .await
        .or_page(viewer)?;
    let details = details.unwrap_or(conversations::ContactDetails {
        note: String::new(),
        first_seen_at: row.created_at,
    });
    let history = history
        .into_iter()
        .map(|h| HistoryItem {
            id: h.id,
            status: h.status.as_str(),
            status_label: status_label(t, h.status),
            started: When::at(h.created_at),
            last: When::at(h.last_activity_at),
            preview: last
                .iter()
                .find(|m| Some(m.id) == h.last_message_id)
                .map(|m| authored_preview(m, t, l))
                .unwrap_or_default(),
            count: fill(l.messages_count, &[("n", &h.messages.to_string())]),
        })
        .collect();
    Ok(ContactPane {
        first_seen: When::at(details.first_seen_at),
        name: row.contact_name.clone().unwrap_or_default(),
        note: details.note,
        saved,
        label_ids: labels.iter().fold(" ".to_owned(), |mut ids, (_, lb)| {
            ids.push_str(&lb.id.to_string());
            ids.push(' ');
            ids
        }),
        labels: labels.iter().map(|(_, lb)| LabelChip::of(lb)).collect(),
        all_labels: all_labels.iter().map(LabelChip::of).collect(),
        status: row.status.as_str(),
        snoozed: row.snoozed_until.map(When::at),
        history,
        l,
    })
}

/// The panel alone, as the conversation page includes it.
#[derive(Template)]
#[template(path = "inbox/contact_fragment.html")]
struct ContactFragment {
    t: &'static Text,
    c: RowView,
    contact: ContactPane,
}

/// `GET /conversations/{id}/contact`: the panel alone.
async fn contact_fragment(
    State(state): State<AppState>,
    viewer: Viewer,
    Path(id): Path<String>,
) -> PageResult {
    let t = viewer.lang.text();
    let missing = || viewer.fail(AppError::NotFound(t.not_found.into()));
    let id = super::path_id(&id).ok_or_else(missing)?;
    let row = conversations::get(&state.store, id)
        .await
        .or_page(&viewer)?
        .ok_or_else(missing)?;
    let contact = contact_pane(&state, &viewer, &row, false).await?;
    let c = RowView::of(&row, None, &state.config.reply_rules, now_millis(), t);
    Ok(render(&ContactFragment { t, c, contact }))
}

/// A line of a transcript: a message, or a change the team made.
struct TranscriptItem {
    message: Option<MessageView>,
    at: When,
    actor: String,
    what: String,
}

#[derive(Template)]
#[template(path = "fragments/transcript.html")]
struct TranscriptFragment {
    t: &'static Text,
    l: &'static ListText,
    id: i64,
    items: Vec<TranscriptItem>,
    /// only the newest `TRANSCRIPT` messages are shown
    cut: String,
}

#[derive(Template)]
#[template(path = "inbox/transcript.html")]
struct TranscriptPage {
    chrome: Chrome,
    t: &'static Text,
    l: &'static ListText,
    title: String,
    id: i64,
    /// the fragment, rendered by its own template
    part_html: String,
}

#[derive(Debug, Deserialize)]
struct TranscriptQuery {
    part: Option<String>,
}

/// `GET /conversations/{id}/transcript[?part=1]`.
async fn transcript(
    State(state): State<AppState>,
    viewer: Viewer,
    Path(id): Path<String>,
    query: Result<Query<TranscriptQuery>, axum::extract::rejection::QueryRejection>,
) -> PageResult {
    let t = viewer.lang.text();
    let l = viewer.lang.list();
    let missing = || viewer.fail(AppError::NotFound(t.not_found.into()));
    let id = super::path_id(&id).ok_or_else(missing)?;
    let part = query.ok().and_then(|Query(q)| q.part).is_some();
    let store = &state.store;
    let row = conversations::get(store, id)
        .await
        .or_page(&viewer)?
        .ok_or_else(missing)?;
    let target = format!("conversation {id}");
    let (mut msgs, entries, staff_rows) = tokio::try_join!(
        messages::list(store, id, None, TRANSCRIPT + 1),
        audit::of_target(store.pool(), &target, TRANSCRIPT),
        staff::list(store),
    )
    .or_page(&viewer)?;
    let cut = if msgs.len() as i64 > TRANSCRIPT {
        msgs.truncate(TRANSCRIPT as usize);
        fill(l.transcript_more, &[("n", &TRANSCRIPT.to_string())])
    } else {
        String::new()
    };
    msgs.reverse();
    let oldest = msgs.first().map_or(i64::MIN, |m| m.created_at);
    let mut items: Vec<TranscriptItem> = msgs
        .iter()
        .map(|m| TranscriptItem {
            message: Some(MessageView::of(m, t)),
            at: When::at(m.created_at),
            actor: String::new(),
            what: String::new(),
        })
        .collect();
    let staff_name = |detail: &str| -> String {
        detail
            .strip_prefix("user ")
            .and_then(|id| id.parse::<i64>().ok())
            .and_then(|id| staff_rows.iter().find(|s| s.id == id))
            .map_or_else(|| t.nobody.to_owned(), |s| s.display_name.clone())
    };
    for e in entries.into_iter().filter(|e| e.at >= oldest) {
        let detail = e.detail.clone().unwrap_or_default();
        let what = match e.action.as_str() {
            "conversation.handler" => {
                let who = match detail.as_str() {
                    "bot" => t.handler_bot,
                    "wechat" => t.handler_wechat,
                    _ => t.handler_human,
                };
                format!("{} {who}", l.audit_handler)
            }
            "conversation.assign" => format!("{} {}", l.audit_assign, staff_name(&detail)),
            "conversation.status" => {
                let status = ConversationStatus::parse(&detail).map_or("", |s| status_label(t, s));
                format!("{} {status}", l.audit_status)
            }
            "conversation.snooze" => format!("{} {detail}", l.audit_snooze),
            "conversation.labels" => format!("{}: {detail}", l.audit_labels),
            _ => continue,
        };
        items.push(TranscriptItem {
            message: None,
            at: When::at(e.at),
            actor: e.actor,
            what,
        });
    }
    // messages and changes in the order they happened (a stable sort keeps each list's order)
    items.sort_by_key(|i| i.at.ms);
    let fragment = TranscriptFragment {
        t,
        l,
        id,
        items,
        cut,
    };
    if part {
        return Ok(render(&fragment));
    }
    let c = RowView::of(&row, None, &state.config.reply_rules, now_millis(), t);
    Ok(render(&TranscriptPage {
        chrome: viewer.chrome("inbox"),
        t,
        l,
        title: c.name,
        id,
        part_html: crate::web::views::fragment(&fragment),
    }))
}

#[derive(Debug, Deserialize)]
struct ContactForm {
    name: String,
    note: String,
}

/// `POST /conversations/{id}/contact`: rename the contact and keep a note on them.
async fn save_contact(
    State(state): State<AppState>,
    viewer: Viewer,
    Path(id): Path<String>,
    form: Result<Form<ContactForm>, axum::extract::rejection::FormRejection>,
) -> PageResult {
    let t = viewer.lang.text();
    let r = viewer.lang.request();
    let id =
        super::path_id(&id).ok_or_else(|| viewer.fail(AppError::NotFound(t.not_found.into())))?;
    let Form(form) = form.map_err(|_| viewer.fail(AppError::Invalid(r.unreadable_form.into())))?;
    let saved = services::conversations::save_contact(
        &state.store,
        &state.live,
        &viewer.staff,
        id,
        &form.name,
        &form.note,
        viewer.lang,
    )
    .await;
    match saved {
        Ok(()) => {}
        Err(AppError::NotFound(_)) => {
            return Err(viewer.fail(AppError::NotFound(t.not_found.into())));
        }
        Err(e) => return Err(viewer.fail(e)),
    }
    Ok(Redirect::to(&format!("/conversations/{id}?saved=1")).into_response())
}
