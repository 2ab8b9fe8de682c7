//! One conversation (`/conversations/{id}`): its messages, the reply box and the contact panel
//! (`templates/inbox/conversation.html`; the panel is `web::contact`), rendered on the server;
//! `static/conversation.js` keeps it live with the fragments `web::live_render` pushes.
//! Like the inbox, the page notes the live sequence number before it reads the database.

use askama::Template;
use axum::Router;
use axum::extract::{Path, Query, State};
use axum::routing::get;
use serde::Deserialize;

use crate::app::AppState;
use crate::domain::now_millis;
use crate::error::AppError;
use crate::i18n::Text;
use crate::services;
use crate::store::{conversations, messages, staff};
use crate::web::contact::{ContactPane, contact_pane};
use crate::web::pages::{Chrome, OrPage, PageResult, Viewer, render};
use crate::web::views::{MessageView, RowView};

/// Messages per conversation page.
const PAGE: i64 = 50;

pub fn router() -> Router<AppState> {
    Router::new().route("/conversations/{id}", get(conversation))
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
    contact: ContactPane,
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
    let (mut list, staff_rows) = tokio::try_join!(
        messages::list(pool, id, before, PAGE + 1),
        staff::list(pool),
    )
    .or_page(&viewer)?;
    let contact = contact_pane(&state, &viewer, &row, q.saved.is_some()).await?;
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
    Ok(render(&ConversationPage {
        chrome: viewer.chrome("inbox"),
        t,
        messages: list.iter().map(|m| MessageView::of(m, t)).collect(),
        older,
        staff,
        blocked,
        appid: state.config.wechat.appid.clone().unwrap_or_default(),
        contact,
        live_seq,
        live_boot: state.live.boot().to_owned(),
        c,
    }))
}
