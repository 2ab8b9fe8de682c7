//! One conversation (`/conversations/{id}`) in the agents' workspace: the list pane
//! (`web::inbox::list_pane`, in the view and status the agent came from, named by the URL's
//! `view` and `status`), the conversation (its messages, the reply box, assignment and
//! status) and the contact panel (`web::contact`), rendered on the server.
//!
//! `?pane=1` answers the conversation and the contact panel alone (`templates/inbox/pane.html`,
//! the very template the page includes): `static/workspace.js` fetches it to switch
//! conversations without leaving the page, and `static/conversation.js` keeps it live with the
//! fragments `web::live_render` pushes. Like the inbox, the page notes the live sequence
//! number before it reads the database.
//!
//! The pane offers only what the viewer may do (the rules are `services::conversations`'s:
//! agents take unassigned conversations and hand on their own, admins any), and every control
//! it disables says why.

use std::ops::Deref;

use askama::Template;
use axum::Router;
use axum::extract::{Path, Query, RawQuery, State};
use axum::http::header;
use axum::routing::get;
use serde::Deserialize;

use crate::app::AppState;
use crate::domain::channel::ChannelKind;
use crate::domain::{Handler, now_millis};
use crate::error::AppError;
use crate::i18n::{Text, fill};
use crate::services;
use crate::store::{conversations, messages, staff};
use crate::web::contact::{ContactPane, contact_pane};
use crate::web::inbox::{InboxQuery, ListPane, list_pane};
use crate::web::pages::{Chrome, OrPage, PageResult, Viewer, render};
use crate::web::views::{MessageView, RowView, WindowState};

/// Messages per conversation page.
const PAGE: i64 = 50;

pub fn router() -> Router<AppState> {
    Router::new().route("/conversations/{id}", get(conversation))
}

#[derive(Debug, Deserialize)]
struct ConversationQuery {
    before: Option<String>,
    saved: Option<String>,
    /// only the conversation and contact panes, for switching without a page load
    pane: Option<String>,
}

struct StaffOption {
    id: i64,
    name: String,
    selected: bool,
}

/// What the viewer may do to the conversation, and why a control is disabled ("" when it
/// is not). Mirrors `services::conversations`; `static/conversation.js` applies the same
/// rules when the conversation changes live.
struct Controls {
    /// assign, unassign, hand to the bot: an admin, or an agent on an unassigned
    /// conversation or their own
    may_take: bool,
    assign_me_why: &'static str,
    unassign_why: &'static str,
    to_bot_why: &'static str,
    /// said instead of the assignment controls when they are hidden
    locked: String,
}

impl Controls {
    fn of(viewer: &Viewer, row: &conversations::ConversationRow, t: &Text) -> Controls {
        let me = viewer.staff.id;
        let may_take = viewer.is_admin() || row.assignee_id.is_none_or(|a| a == me);
        let locked = if may_take {
            String::new()
        } else {
            let name = row.assignee_name.as_deref().unwrap_or(t.nobody);
            fill(t.only_admin_reassigns, &[("name", name)])
        };
        Controls {
            may_take,
            assign_me_why: if row.assignee_id == Some(me) {
                t.already_yours
            } else {
                ""
            },
            unassign_why: if row.assignee_id.is_none() {
                t.nobody_assigned
            } else {
                ""
            },
            to_bot_why: if row.handler == Handler::Bot {
                t.bot_handles_it
            } else {
                ""
            },
            locked,
        }
    }
}

/// The conversation and its contact panel: `templates/inbox/pane.html`.
pub(super) struct Pane {
    t: &'static Text,
    c: RowView,
    window: WindowState,
    messages: Vec<MessageView>,
    /// the cursor for the page of older messages, when there are some
    older: Option<i64>,
    staff: Vec<StaffOption>,
    controls: Controls,
    /// the viewer is an admin (`data-admin`, for the script's copy of the rules)
    is_admin: bool,
    /// whether kefu can send replies at all (an AppID and AppSecret are set)
    can_send: bool,
    /// why a reply cannot be sent now ("" when it can)
    blocked: &'static str,
    /// a newer conversation of the same customer (they wrote again after this one)
    newer: Option<i64>,
    appid: String,
    /// the conversation is an Official Account's: the composer offers its link card and menu
    is_official: bool,
    contact: ContactPane,
    /// the list pane's view and status as a query (`view=all&status=open`), kept in the
    /// links that lead back to the list
    list_query: String,
}

/// The whole workspace page. Its template reads the pane's fields as its own (`Deref`), so
/// `inbox/pane.html` is the same file whether the page or `?pane=1` renders it.
#[derive(Template)]
#[template(path = "inbox/conversation.html")]
struct ConversationPage {
    chrome: Chrome,
    list: ListPane,
    live_seq: u64,
    live_boot: String,
    pane: Pane,
}

impl Deref for ConversationPage {
    type Target = Pane;
    fn deref(&self) -> &Pane {
        &self.pane
    }
}

/// `?pane=1`: the conversation and the contact panel alone.
#[derive(Template)]
#[template(path = "inbox/pane_only.html")]
struct PaneOnly {
    pane: Pane,
}

impl Deref for PaneOnly {
    type Target = Pane;
    fn deref(&self) -> &Pane {
        &self.pane
    }
}

/// The list pane's part of a query (everything but the conversation's own `before`, `saved`
/// and `pane`), re-encoded, for the links that lead back to the list in the same view.
fn list_query(raw: Option<&str>) -> String {
    let pairs: Vec<(String, String)> =
        serde_urlencoded::from_str(raw.unwrap_or_default()).unwrap_or_default();
    let kept: Vec<(String, String)> = pairs
        .into_iter()
        .filter(|(k, v)| !matches!(k.as_str(), "before" | "saved" | "pane") && v.len() <= 200)
        .collect();
    serde_urlencoded::to_string(kept).unwrap_or_default()
}

async fn conversation(
    State(state): State<AppState>,
    viewer: Viewer,
    Path(id): Path<String>,
    Query(q): Query<ConversationQuery>,
    Query(inbox): Query<InboxQuery>,
    RawQuery(raw): RawQuery,
) -> PageResult {
    let t = viewer.lang.text();
    let missing = || viewer.fail(AppError::NotFound(t.not_found.to_owned()));
    let Some(id) = super::path_id(&id) else {
        return Err(missing());
    };
    let before = q.before.as_deref().and_then(|b| b.parse::<i64>().ok());
    let live_seq = state.live.seq();
    let store = &state.store;
    let Some(mut row) = conversations::get(store, id).await.or_page(&viewer)? else {
        return Err(missing());
    };
    if before.is_none() && row.unread > 0 {
        // opening the conversation reads it; every inbox sees the unread count drop
        match services::conversations::mark_read(&state.store, &state.live, id, viewer.lang).await {
            Ok(_) => row.unread = 0,
            Err(AppError::NotFound(_)) => return Err(missing()),
            Err(e) => return Err(viewer.fail(e)),
        }
    }
    // The messages, the contact panel and (for the whole page) the list pane read side by
    // side, each in one hop (`Store::read`), after the read above so the list shows it read.
    let whole_page = q.pane.is_none();
    let (read, contact, list_pane) = tokio::join!(
        store.read(move |conn| {
            Ok((
                messages::list_on(conn, id, before, PAGE + 1)?,
                staff::list_on(conn)?,
            ))
        }),
        contact_pane(&state, &viewer, &row, q.saved.is_some()),
        async {
            match whole_page {
                true => Some(list_pane(&state, &viewer, &inbox).await),
                false => None,
            }
        },
    );
    let (mut list, staff_rows) = read.or_page(&viewer)?;
    let contact = contact?;
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
    let c =
        RowView::of(&row, last, &state.config.reply_rules, now, t).with_channel(&state.channels);
    let window = WindowState::of(&c.window, now, t);
    let channel = state.channels.by_id(row.channel_id);
    let can_send = channel.as_ref().is_some_and(|c| c.api.is_some());
    let is_official = channel
        .as_ref()
        .is_some_and(|c| c.channel.kind == ChannelKind::OfficialAccount);
    // the panel's history holds the customer's other conversations, newest first
    let newer = contact
        .history
        .first()
        .map(|h| h.id)
        .filter(|&newest| newest > id);
    let blocked = match window.kind {
        _ if !can_send => t.cannot_send_reason,
        // the customer's window lives on there, whatever this one's says
        _ if newer.is_some() => t.reply_in_newer,
        "open" => "",
        "spent" => t.quota_used,
        _ => t.window_closed_reason,
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
    let pane = Pane {
        t,
        window,
        messages: list.iter().map(|m| MessageView::of(m, t)).collect(),
        older,
        staff,
        controls: Controls::of(&viewer, &row, t),
        is_admin: viewer.is_admin(),
        can_send,
        blocked,
        newer,
        appid: channel.map(|c| c.channel.appid.clone()).unwrap_or_default(),
        is_official,
        contact,
        list_query: list_query(raw.as_deref()),
        c,
    };
    let Some(list) = list_pane.transpose()? else {
        let mut answer = render(&PaneOnly { pane });
        answer.headers_mut().insert(
            header::CACHE_CONTROL,
            header::HeaderValue::from_static("no-store"),
        );
        return Ok(answer);
    };
    Ok(render(&ConversationPage {
        chrome: viewer.chrome("inbox"),
        list,
        live_seq,
        live_boot: state.live.boot().to_owned(),
        pane,
    }))
}

#[cfg(test)]
mod tests {
    use super::list_query;

    #[test]
    fn the_list_query_keeps_the_lists_part_and_escapes_it() {
        assert_eq!(
            list_query(Some("view=mine&status=open&pane=1&before=9")),
            "view=mine&status=open"
        );
        assert_eq!(list_query(None), "");
        assert_eq!(list_query(Some("view=a%26b%3Dc")), "view=a%26b%3Dc");
    }
}
