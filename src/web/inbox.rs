//! The inbox (`/inbox`): the conversation list pane (`ListPane`, `templates/inbox/list.html`),
//! rendered on the server; `static/inbox.js` keeps it live with the fragments
//! `web::live_render` pushes, rendered by the same templates. The conversation page
//! (`web::conversation`) renders the same pane beside the open conversation.
//!
//! Each page notes the live sequence number it was read at (before reading the database), so
//! its script asks `/ws` for everything after it: an event racing the page load is applied
//! twice at worst (fragments replace by id), never missed.

use askama::Template;
use axum::Router;
use axum::extract::{Query, State};
use axum::routing::get;
use serde::Deserialize;

use crate::app::AppState;
use crate::domain::{ConversationStatus, now_millis};
use crate::i18n::Text;
use crate::store::conversations::{self, AssigneeFilter, ListFilter};
use crate::store::messages;
use crate::web::pages::{Chrome, OrPage, PageError, PageResult, Viewer, render};
use crate::web::views::{RowView, status_label};

/// Rows per inbox page.
const PAGE: i64 = 50;

pub fn router() -> Router<AppState> {
    Router::new().route("/inbox", get(inbox))
}

#[derive(Debug, Default, Deserialize)]
pub(super) struct InboxQuery {
    view: Option<String>,
    status: Option<String>,
    before: Option<String>,
}

pub(super) struct Tab {
    pub(super) key: &'static str,
    pub(super) label: &'static str,
    pub(super) href: String,
    pub(super) current: bool,
    pub(super) count: i64,
}

/// The conversation list: its views with their counts, status filters, one page of rows.
pub(super) struct ListPane {
    pub(super) view: &'static str,
    pub(super) status: &'static str,
    pub(super) views: Vec<Tab>,
    pub(super) statuses: Vec<Tab>,
    pub(super) rows: Vec<RowView>,
    pub(super) next: Option<String>,
}

#[derive(Template)]
#[template(path = "inbox/index.html")]
struct InboxPage {
    chrome: Chrome,
    t: &'static Text,
    list: ListPane,
    live_seq: u64,
    live_boot: String,
}

fn inbox_href(view: &str, status: &str, before: Option<&str>) -> String {
    let mut query = vec![("view", view), ("status", status)];
    if let Some(b) = before {
        query.push(("before", b));
    }
    format!(
        "/inbox?{}",
        serde_urlencoded::to_string(query).unwrap_or_default()
    )
}

async fn inbox(
    State(state): State<AppState>,
    viewer: Viewer,
    Query(q): Query<InboxQuery>,
) -> PageResult {
    // the sequence number before the reads: see the module's comment
    let live_seq = state.live.seq();
    let list = list_pane(&state, &viewer, &q).await?;
    Ok(render(&InboxPage {
        chrome: viewer.chrome("inbox"),
        t: viewer.lang.text(),
        list,
        live_seq,
        live_boot: state.live.boot().to_owned(),
    }))
}

/// Reads the list pane for `q` as `viewer` sees it.
pub(super) async fn list_pane(
    state: &AppState,
    viewer: &Viewer,
    q: &InboxQuery,
) -> Result<ListPane, PageError> {
    let t = viewer.lang.text();
    let view = match q.view.as_deref() {
        Some("mine") => "mine",
        Some("unassigned") => "unassigned",
        _ => "all",
    };
    let status = match q.status.as_deref().and_then(ConversationStatus::parse) {
        Some(s) => s.as_str(),
        None if q.status.as_deref() == Some("all") => "all",
        None => "open",
    };
    let before = q
        .before
        .as_deref()
        .and_then(|c| c.split_once('.'))
        .and_then(|(at, id)| Some((at.parse().ok()?, id.parse().ok()?)));
    let pool = state.store.pool();
    let filter = ListFilter {
        status: ConversationStatus::parse(status),
        assignee: match view {
            "mine" => AssigneeFilter::User(viewer.staff.id),
            "unassigned" => AssigneeFilter::Nobody,
            _ => AssigneeFilter::Any,
        },
        before,
        limit: PAGE + 1,
    };
    let (mut rows, counts) = tokio::try_join!(
        conversations::list(pool, &filter),
        crate::web::live_render::inbox_counts(&state.store, &state.live)
    )
    .or_page(viewer)?;
    let next = (rows.len() as i64 > PAGE).then(|| {
        rows.truncate(PAGE as usize);
        let last = &rows[rows.len() - 1];
        inbox_href(
            view,
            status,
            Some(&format!("{}.{}", last.last_activity_at, last.id)),
        )
    });
    let last_ids: Vec<i64> = rows.iter().filter_map(|r| r.last_message_id).collect();
    let last = messages::by_ids(pool, &last_ids).await.or_page(viewer)?;
    let now = now_millis();
    let rows = rows
        .iter()
        .map(|r| {
            let m = last.iter().find(|m| Some(m.id) == r.last_message_id);
            RowView::of(r, m, &state.config.reply_rules, now, t)
        })
        .collect();
    let (mine, _) = counts.of(viewer.staff.id);
    let views = [
        ("mine", t.mine, mine),
        ("unassigned", t.unassigned, counts.unassigned),
        ("all", t.all, counts.all),
    ]
    .into_iter()
    .map(|(key, label, count)| Tab {
        key,
        label,
        href: inbox_href(key, status, None),
        current: key == view,
        count,
    })
    .collect();
    let statuses = ["open", "pending", "resolved", "all"]
        .into_iter()
        .map(|key| Tab {
            key,
            label: ConversationStatus::parse(key).map_or(t.any_status, |s| status_label(t, s)),
            href: inbox_href(view, key, None),
            current: key == status,
            count: 0,
        })
        .collect();
    Ok(ListPane {
        view,
        status,
        views,
        statuses,
        rows,
        next,
    })
}
