//! The audit log console: newest entries first, a page at a time. An action recorded under
//! an older name is listed under today's (`services::accounts::current_action`), the old name
//! in its title.

use askama::Template;
use axum::Router;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::routing::get;
use serde::Deserialize;

use super::{Admin, cut};
use crate::app::AppState;
use crate::i18n::AdminText;
use crate::services::accounts;
use crate::store::audit;
use crate::web::pages::{Chrome, OrPage, PageResult, render_status};
use crate::web::views::When;

/// Audit entries per page.
const AUDIT_PAGE: i64 = 100;
/// An audit detail longer than this (in characters) is cut in its cell; the whole is its title.
const DETAIL_CHARS: usize = 200;

/// The routes of the audit log; every handler takes `Admin`, so only admins get in.
pub(super) fn router() -> Router<AppState> {
    Router::new().route("/admin/audit", get(audit_page))
}

struct AuditItem {
    id: i64,
    at: When,
    actor: String,
    /// the action under today's name, and the name it was recorded under when that differs
    action: String,
    recorded_as: Option<String>,
    target: String,
    /// the detail as shown in the cell (cut), and whole
    detail_short: String,
    detail: String,
    cut: bool,
}

#[derive(Template)]
#[template(path = "admin/audit.html")]
struct AuditPage {
    chrome: Chrome,
    a: &'static AdminText,
    tab: &'static str,
    items: Vec<AuditItem>,
    /// the next page's address, when there are older entries
    more: Option<String>,
    /// this is not the newest page
    older: bool,
}

#[derive(Debug, Deserialize)]
struct AuditQuery {
    before: Option<String>,
}

async fn audit_page(
    State(state): State<AppState>,
    admin: Admin,
    query: Result<Query<AuditQuery>, QueryRejection>,
) -> PageResult {
    // an unreadable cursor starts from the newest entry rather than failing
    let before = query
        .ok()
        .and_then(|Query(q)| q.before)
        .and_then(|b| crate::web::path_id(&b));
    let mut rows = audit::list(state.store.pool(), before, AUDIT_PAGE + 1)
        .await
        .or_page(&admin.0)?;
    let more = (rows.len() as i64 > AUDIT_PAGE).then(|| {
        rows.truncate(AUDIT_PAGE as usize);
        let last = rows.last().map_or(0, |r| r.id);
        format!("/admin/audit?before={last}")
    });
    let items = rows
        .into_iter()
        .map(|r| {
            let detail = r.detail.unwrap_or_default();
            let (detail_short, cut) = cut(&detail, DETAIL_CHARS);
            let action = accounts::current_action(&r.action).to_owned();
            let recorded_as = (action != r.action).then_some(r.action);
            AuditItem {
                id: r.id,
                at: When::at(r.at),
                actor: r.actor,
                action,
                recorded_as,
                target: r.target.unwrap_or_default(),
                detail_short,
                detail,
                cut,
            }
        })
        .collect();
    let page = AuditPage {
        chrome: admin.chrome(),
        a: admin.a(),
        tab: "audit",
        items,
        more,
        older: before.is_some(),
    };
    Ok(render_status(StatusCode::OK, &page))
}
