//! The inbox (`/inbox`): the conversation list pane (`ListPane`, `templates/inbox/list.html`),
//! rendered on the server; `static/inbox.js` keeps it live with the fragments
//! `web::live_render` pushes, rendered by the same templates. The conversation page
//! (`web::conversation`) renders the same pane beside the open conversation.
//!
//! The list's views follow the work: **waiting** (open, a human's, nobody assigned: the queue),
//! **mine**, **bot** (the bot's conversations, out of the queue) and **all**, each with the
//! count of its open conversations; a status filter (but in waiting, which is open by
//! definition) and a label filter narrow them. The old `view=unassigned` means waiting. Without
//! a view an agent sees mine when they have any open conversation (their commitments come
//! first), else waiting (where new work is).
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
use crate::i18n::{ListText, Text};
use crate::services;
use crate::store::conversations::{self, AssigneeFilter, ListFilter, Narrow, View};
use crate::store::labels::{self as label_store, LabelRow};
use crate::store::{messages, staff};
use crate::web::pages::{Chrome, OrPage, PageError, PageResult, Viewer, render};
use crate::web::views::{LabelChip, RowView, status_label};

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
    /// a label's name (letter case aside)
    label: Option<String>,
    /// a channel's name
    channel: Option<String>,
}

/// A choice of the channel filter (offered when kefu serves several channels).
pub(super) struct ChannelOption {
    pub(super) name: String,
    pub(super) label: String,
    pub(super) selected: bool,
}

pub(super) struct Tab {
    pub(super) key: &'static str,
    pub(super) label: &'static str,
    pub(super) href: String,
    pub(super) current: bool,
    pub(super) count: i64,
}

/// A choice of the label filter and the bulk toolbar.
pub(super) struct LabelOption {
    pub(super) chip: LabelChip,
    pub(super) selected: bool,
}

/// A staff member the bulk toolbar can assign to.
pub(super) struct StaffOption {
    pub(super) id: i64,
    pub(super) name: String,
}

/// The conversation list: its views with their counts, status and label filters, one page of
/// rows, and what the bulk toolbar offers.
pub(super) struct ListPane {
    pub(super) view: &'static str,
    pub(super) status: &'static str,
    /// the label filter's id ("" when none), for the script's `data-label`
    pub(super) label_id: String,
    pub(super) views: Vec<Tab>,
    /// empty in the waiting view (it is open by definition)
    pub(super) statuses: Vec<Tab>,
    pub(super) labels: Vec<LabelOption>,
    /// empty while kefu serves one channel
    pub(super) channels: Vec<ChannelOption>,
    /// the channel filter's id ("" when none), for the script's `data-channel`
    pub(super) channel_id: String,
    pub(super) staff: Vec<StaffOption>,
    pub(super) rows: Vec<RowView>,
    pub(super) next: Option<String>,
    pub(super) l: &'static ListText,
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

fn inbox_href(
    view: &str,
    status: &str,
    (label, channel): (&str, &str),
    before: Option<&str>,
) -> String {
    let mut query = vec![("view", view)];
    if view != "waiting" {
        query.push(("status", status));
    }
    if !label.is_empty() {
        query.push(("label", label));
    }
    if !channel.is_empty() {
        query.push(("channel", channel));
    }
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
    let l = viewer.lang.list();
    let store = &state.store;
    // one read for what the filters need, one for the rows (`Store::read`: a hop each)
    let (counts, (all_labels, staff_rows)) = tokio::try_join!(
        crate::web::live_render::inbox_counts(&state.store, &state.live),
        store.read(|conn| Ok((label_store::list_on(conn)?, staff::list_on(conn)?))),
    )
    .or_page(viewer)?;
    let counts = counts.within(viewer.staff.channels.as_deref());
    let (mine, _) = counts.of(viewer.staff.id);
    let view = match q.view.as_deref() {
        Some("waiting" | "unassigned") => "waiting",
        Some("mine") => "mine",
        Some("bot") => "bot",
        Some("all") => "all",
        // see the module's comment
        _ if mine > 0 => "mine",
        _ => "waiting",
    };
    let status = if view == "waiting" {
        "open"
    } else {
        match q.status.as_deref().and_then(ConversationStatus::parse) {
            Some(s) => s.as_str(),
            None if q.status.as_deref() == Some("all") => "all",
            None => "open",
        }
    };
    let chosen: Option<&LabelRow> = q
        .label
        .as_deref()
        .filter(|n| !n.trim().is_empty())
        .map(services::labels::name_key)
        .and_then(|key| {
            all_labels
                .iter()
                .find(|lb| services::labels::name_key(&lb.name) == key)
        });
    // a label that does not exist (deleted meanwhile) matches nothing rather than everything
    let label_filter = match (&q.label, chosen) {
        (_, Some(lb)) => Some(lb.id),
        (Some(n), None) if !n.trim().is_empty() => Some(0),
        _ => None,
    };
    let label_name = chosen.map(|lb| lb.name.clone()).unwrap_or_default();
    // a channel that does not exist matches nothing, as a label does
    let chosen_channel = q
        .channel
        .as_deref()
        .filter(|n| !n.is_empty())
        .map(|n| state.channels.by_name(n).map_or(0, |c| c.id()));
    let channel_name = match chosen_channel {
        Some(id) if id > 0 => q.channel.clone().unwrap_or_default(),
        _ => String::new(),
    };
    let filters = (label_name.as_str(), channel_name.as_str());
    let before = q
        .before
        .as_deref()
        .and_then(|c| c.split_once('.'))
        .and_then(|(at, id)| Some((at.parse().ok()?, id.parse().ok()?)));
    let filter = ListFilter {
        status: ConversationStatus::parse(status),
        assignee: AssigneeFilter::Any,
        before,
        limit: PAGE + 1,
    };
    let narrow = Narrow {
        view: match view {
            "waiting" => View::Waiting,
            "mine" => View::Mine(viewer.staff.id),
            "bot" => View::Bot,
            _ => View::All,
        },
        label: label_filter,
        channel: chosen_channel,
        within: viewer.staff.channels.clone(),
        ..Narrow::default()
    };
    let (mut rows, last, row_labels) = store
        .read(move |conn| {
            // the page's rows, and one more to know whether there is a next page
            let rows = conversations::list_where_on(conn, &filter, &narrow)?;
            let shown = &rows[..rows.len().min(PAGE as usize)];
            let last_ids: Vec<i64> = shown.iter().filter_map(|r| r.last_message_id).collect();
            let ids: Vec<i64> = shown.iter().map(|r| r.id).collect();
            let last = messages::by_ids_on(conn, &last_ids)?;
            let row_labels = label_store::of_conversations_on(conn, &ids)?;
            Ok((rows, last, row_labels))
        })
        .await
        .or_page(viewer)?;
    let next = (rows.len() as i64 > PAGE).then(|| {
        rows.truncate(PAGE as usize);
        let last = &rows[rows.len() - 1];
        inbox_href(
            view,
            status,
            filters,
            Some(&format!("{}.{}", last.last_activity_at, last.id)),
        )
    });
    let now = now_millis();
    let rows = rows
        .iter()
        .map(|r| {
            let m = last.iter().find(|m| Some(m.id) == r.last_message_id);
            let labels = row_labels
                .iter()
                .filter(|(c, _)| *c == r.id)
                .map(|(_, lb)| lb);
            RowView::of(r, m, &state.config.reply_rules, now, t)
                .with_labels(labels)
                .with_channel(&state.channels)
        })
        .collect();
    let views = [
        ("waiting", l.waiting, counts.waiting),
        ("mine", t.mine, mine),
        ("bot", l.bot_view, counts.bot),
        ("all", t.all, counts.all),
    ]
    .into_iter()
    .map(|(key, label, count)| Tab {
        key,
        label,
        href: inbox_href(key, status, filters, None),
        current: key == view,
        count,
    })
    .collect();
    let statuses = if view == "waiting" {
        Vec::new()
    } else {
        ["open", "pending", "resolved", "all"]
            .into_iter()
            .map(|key| Tab {
                key,
                label: ConversationStatus::parse(key).map_or(t.any_status, |s| status_label(t, s)),
                href: inbox_href(view, key, filters, None),
                current: key == status,
                count: 0,
            })
            .collect()
    };
    let labels = all_labels
        .iter()
        .map(|lb| LabelOption {
            chip: LabelChip::of(lb),
            selected: chosen.is_some_and(|c| c.id == lb.id),
        })
        .collect();
    let staff = staff_rows
        .into_iter()
        .filter(|s| !s.disabled)
        .map(|s| StaffOption {
            id: s.id,
            name: s.display_name,
        })
        .collect();
    let channels = if state.channels.several() {
        state
            .channels
            .all()
            .iter()
            .filter(|c| viewer.staff.sees_channel(c.id()))
            .map(|c| ChannelOption {
                name: c.channel.name.to_string(),
                label: c.channel.label().to_owned(),
                selected: chosen_channel == Some(c.id()),
            })
            .collect()
    } else {
        Vec::new()
    };
    Ok(ListPane {
        channels,
        channel_id: chosen_channel.map(|id| id.to_string()).unwrap_or_default(),
        view,
        status,
        label_id: chosen.map(|lb| lb.id.to_string()).unwrap_or_default(),
        views,
        statuses,
        labels,
        staff,
        rows,
        next,
        l,
    })
}
