//! One conversation (`/conversations/{id}`): its messages, the reply box and the contact panel
//! (`templates/inbox/conversation.html`, `contact.html`), rendered on the server;
//! `static/conversation.js` keeps it live with the fragments `web::live_render` pushes.
//! Like the inbox, the page notes the live sequence number before it reads the database.

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Redirect};
use axum::routing::{get, post};
use axum::{Form, Router};
use serde::Deserialize;

use crate::app::AppState;
use crate::domain::now_millis;
use crate::error::AppError;
use crate::i18n::Text;
use crate::services;
use crate::store::{conversations, messages, staff};
use crate::web::pages::{Chrome, OrPage, PageResult, Viewer, render};
use crate::web::views::{MessageView, RowView, When};

/// Messages per conversation page.
const PAGE: i64 = 50;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/conversations/{id}", get(conversation))
        .route("/conversations/{id}/contact", post(save_contact))
}

#[derive(Debug, Deserialize)]
struct ConversationQuery {
    before: Option<String>,
    saved: Option<String>,
}

struct StaffOption {
    id: i64,
    name: String,
    selected: bool,
}

#[derive(Template)]
#[template(path = "inbox/conversation.html")]
struct ConversationPage {
    chrome: Chrome,
    t: &'static Text,
    c: RowView,
    messages: Vec<MessageView>,
    /// the cursor for the page of older messages, when there are some
    older: Option<i64>,
    staff: Vec<StaffOption>,
    /// why a reply cannot be sent now ("" when it can)
    blocked: &'static str,
    appid: String,
    first_seen: When,
    contact_name: String,
    contact_note: String,
    saved: bool,
    live_seq: u64,
    live_boot: String,
}

async fn conversation(
    State(state): State<AppState>,
    viewer: Viewer,
    Path(id): Path<String>,
    Query(q): Query<ConversationQuery>,
) -> PageResult {
    let t = viewer.lang.text();
    let missing = || viewer.fail(AppError::NotFound(t.not_found.to_owned()));
    let Some(id) = super::path_id(&id) else {
        return Err(missing());
    };
    let before = q.before.as_deref().and_then(|b| b.parse::<i64>().ok());
    let live_seq = state.live.seq();
    let pool = state.store.pool();
    let Some(mut row) = conversations::get(pool, id).await.or_page(&viewer)? else {
        return Err(missing());
    };
    if before.is_none() && row.unread > 0 {
        // opening the conversation reads it; every inbox sees the unread count drop
        match services::conversations::mark_read(&state.store, &state.live, id).await {
            Ok(_) => row.unread = 0,
            Err(AppError::NotFound(_)) => return Err(missing()),
            Err(e) => return Err(viewer.fail(e)),
        }
    }
    let (mut list, staff_rows, details) = tokio::try_join!(
        messages::list(pool, id, before, PAGE + 1),
        staff::list(pool),
        conversations::contact_details(pool, row.contact_id),
    )
    .or_page(&viewer)?;
    let older = (list.len() as i64 > PAGE).then(|| {
        list.truncate(PAGE as usize);
        list[list.len() - 1].id
    });
    list.reverse();
    let now = now_millis();
    let last = list
        .iter()
        .rev()
        .find(|m| Some(m.id) == row.last_message_id);
    let c = RowView::of(&row, last, &state.config.reply_rules, now, t);
    let blocked = if c.window.open {
        ""
    } else if c.window.ends_at > now {
        t.quota_used
    } else {
        t.window_closed_reason
    };
    let staff = staff_rows
        .into_iter()
        .filter(|s| !s.disabled)
        .map(|s| StaffOption {
            selected: Some(s.id) == row.assignee_id,
            id: s.id,
            name: s.display_name,
        })
        .collect();
    let details = details.unwrap_or(conversations::ContactDetails {
        note: String::new(),
        first_seen_at: row.created_at,
    });
    Ok(render(&ConversationPage {
        chrome: viewer.chrome("inbox"),
        t,
        messages: list.iter().map(|m| MessageView::of(m, t)).collect(),
        older,
        staff,
        blocked,
        appid: state.config.wechat.appid.clone().unwrap_or_default(),
        first_seen: When::at(details.first_seen_at),
        contact_name: row.contact_name.clone().unwrap_or_default(),
        contact_note: details.note,
        saved: q.saved.is_some(),
        live_seq,
        live_boot: state.live.boot().to_owned(),
        c,
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
