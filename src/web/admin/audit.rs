//! The audit log console: newest entries first, a page at a time, each said as a sentence in
//! the viewer's language ("assigned conversation #12 to 王芳"), with the recorded code in the
//! row's `data-action` and the cell's title. An action recorded under an older name is listed
//! under today's (`services::accounts::current_action`). Times carry their date.

use askama::Template;
use axum::Router;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::routing::get;
use serde::Deserialize;

use super::{Admin, cut};
use crate::app::AppState;
use std::collections::HashMap;

use crate::i18n::{AdminText, ConsoleText, Text, fill};
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
    /// the entry as a sentence
    sentence: String,
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
    let names: HashMap<i64, String> = crate::store::staff::list(&state.store)
        .await
        .or_page(&admin.0)?
        .into_iter()
        .map(|s| (s.id, s.display_name))
        .collect();
    let lang = admin.0.lang;
    let (c, t) = (lang.console(), lang.text());
    let items = rows
        .into_iter()
        .map(|r| {
            let action = accounts::current_action(&r.action).to_owned();
            let target = r.target.unwrap_or_default();
            let raw_detail = r.detail.unwrap_or_default();
            let sentence = describe(&action, &target, &raw_detail, &names, c, t);
            let detail = detail_shown(&raw_detail, &names, lang);
            let (detail_short, cut) = cut(&detail, DETAIL_CHARS);
            let recorded_as = (action != r.action).then_some(r.action);
            let actor = if r.actor_id.is_none() && r.actor == "command line" {
                c.command_line.to_owned()
            } else {
                r.actor
            };
            AuditItem {
                id: r.id,
                at: When::at(r.at),
                actor,
                action,
                recorded_as,
                sentence,
                target: target_shown(&target, c),
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

/// `user 3` or `user 3 (automatic)` as the staff member's name (None for any other detail).
fn staff_named(detail: &str, names: &HashMap<i64, String>, c: &ConsoleText) -> Option<String> {
    let rest = detail.strip_prefix("user ")?;
    let digits = rest.split(' ').next()?;
    let id: i64 = digits.parse().ok()?;
    Some(
        names
            .get(&id)
            .cloned()
            .unwrap_or_else(|| fill(c.someone, &[("id", &id.to_string())])),
    )
}

/// A recorded target in the viewer's words (`conversation 12` → 会话 #12); a staff member's
/// user name as it is.
fn target_shown(target: &str, c: &ConsoleText) -> String {
    if target == "automation" {
        return c.t_settings.to_owned();
    }
    if let Some(openid) = target.strip_prefix("contact ") {
        return fill(c.t_contact, &[("openid", openid)]);
    }
    let Some((kind, id)) = target.rsplit_once(' ') else {
        return target.to_owned();
    };
    if id.parse::<i64>().is_err() {
        return target.to_owned();
    }
    let template = match kind {
        "conversation" => c.t_conversation,
        "rule" => c.t_rule,
        "canned reply" => c.t_canned,
        "label" => c.t_label,
        "message" => c.t_message,
        _ => return target.to_owned(),
    };
    fill(template, &[("id", id)])
}

/// A recorded detail in the viewer's words where kefu wrote it in its own (a staff member by
/// id, a status, a role, an action, sessions ended); anything else (a name, a rule's
/// keywords, the settings' JSON) as it was recorded.
fn detail_shown(detail: &str, names: &HashMap<i64, String>, lang: crate::i18n::Lang) -> String {
    let (c, t, a, s) = (lang.console(), lang.text(), lang.admin(), lang.settings());
    if let Some(name) = staff_named(detail, names, c) {
        return name;
    }
    let code = |code: &str| -> Option<&'static str> {
        Some(match code {
            "nobody" => t.nobody,
            "open" => t.open,
            "pending" => t.pending,
            "resolved" => t.resolved,
            "bot" => t.handler_bot,
            "human" => t.handler_human,
            "enabled" => a.on,
            "disabled" => a.off,
            "admin" => a.role_admin,
            "agent" => a.role_agent,
            "reply" => a.action_reply,
            "handoff" => a.action_handoff,
            "transfer_wechat" => a.action_transfer,
            "browser" => s.follow_browser,
            "zh-CN" => s.chinese,
            "en" => s.english,
            _ => return None,
        })
    };
    if let Some(said) = code(detail) {
        return said.to_owned();
    }
    if let Some(n) = detail.strip_prefix("priority ") {
        return format!("{} {n}", a.priority);
    }
    // "王芳 (agent)", "问价格 (reply)"
    if let Some((before, last)) = detail.rsplit_once(" (")
        && let Some(said) = last.strip_suffix(')').and_then(code)
    {
        return fill(c.detail_of, &[("detail", before), ("what", said)]);
    }
    // "2 sessions ended", "2 other sessions ended", "reset; 2 sessions ended"
    let (reset, rest) = match detail.strip_prefix("reset; ") {
        Some(rest) => (true, rest),
        None => (false, detail),
    };
    let ended = rest
        .strip_suffix(" other sessions ended")
        .or_else(|| rest.strip_suffix(" sessions ended"))
        .filter(|n| n.parse::<u64>().is_ok());
    if let Some(n) = ended {
        let ended = fill(c.sessions_ended, &[("n", n)]);
        return if reset {
            format!("{}{}{ended}", c.password_reset, c.separator)
        } else {
            ended
        };
    }
    detail.to_owned()
}

/// An entry as a sentence in the viewer's language, from its action, target and detail as
/// they are recorded (`conversation 12`, `user 3 (automatic)`, …).
fn describe(
    action: &str,
    target: &str,
    detail: &str,
    names: &HashMap<i64, String>,
    c: &ConsoleText,
    t: &Text,
) -> String {
    // the number of `conversation 12`, `rule 3`, `canned reply 4`, `label 5`, `message 6`
    let id = target.rsplit(' ').next().unwrap_or_default();
    let with_id = |template: &str| fill(template, &[("id", id)]);
    let with_target = |template: &str| fill(template, &[("target", target)]);
    match action {
        "conversation.assign" => match staff_named(detail, names, c) {
            Some(name) => {
                let template = if detail.ends_with("(automatic)") {
                    c.a_assign_auto
                } else {
                    c.a_assign
                };
                fill(template, &[("id", id), ("name", &name)])
            }
            None => with_id(c.a_unassign),
        },
        "conversation.status" => {
            let status = match detail {
                "open" => t.open,
                "pending" => t.pending,
                "resolved" => t.resolved,
                other => other,
            };
            fill(c.a_status, &[("id", id), ("status", status)])
        }
        "conversation.handler" if detail == "bot" => with_id(c.a_handler_bot),
        "conversation.handler" => with_id(c.a_handler_human),
        "conversation.snooze" => with_id(c.a_snooze),
        "conversation.labels" => with_id(c.a_labels),
        "contact.update" => fill(
            c.a_contact,
            &[("target", target.strip_prefix("contact ").unwrap_or(target))],
        ),
        "canned.create" => with_id(c.a_canned_create),
        "canned.update" => with_id(c.a_canned_update),
        "canned.delete" => with_id(c.a_canned_delete),
        "rule.create" => with_id(c.a_rule_create),
        "rule.update" => with_id(c.a_rule_update),
        "rule.delete" => with_id(c.a_rule_delete),
        "rule.restore" => with_id(c.a_rule_restore),
        "rule.adjust" if detail == "enabled" => with_id(c.a_rule_on),
        "rule.adjust" if detail == "disabled" => with_id(c.a_rule_off),
        "rule.adjust" => with_id(c.a_rule_move),
        "settings.automation" => c.a_settings.to_owned(),
        "staff.add" => with_target(c.a_staff_add),
        "staff.first_admin" => with_target(c.a_first_admin),
        "staff.role" => with_target(c.a_staff_role),
        "staff.disable" => with_target(c.a_staff_disable),
        "staff.enable" => with_target(c.a_staff_enable),
        "staff.passwd" => with_target(c.a_staff_passwd),
        "staff.locale" => with_target(c.a_staff_locale),
        "staff.sign_in" => with_target(c.a_sign_in),
        "token.create" => with_target(c.a_token_create),
        "token.revoke" => with_target(c.a_token_revoke),
        "label.create" => with_id(c.a_label_create),
        "label.delete" => with_id(c.a_label_delete),
        "message.retry" => with_id(c.a_retry),
        other => fill(c.a_other, &[("action", other)]),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::i18n::Lang;

    #[test]
    fn an_entry_reads_as_a_sentence_naming_the_staff_member() {
        let names = HashMap::from([(3, "王芳".to_owned())]);
        let (c, t) = (Lang::Zh.console(), Lang::Zh.text());
        let said = |action, target, detail| describe(action, target, detail, &names, c, t);
        assert_eq!(
            said("conversation.assign", "conversation 12", "user 3"),
            "把会话 #12 分配给 王芳"
        );
        assert_eq!(
            said("conversation.assign", "conversation 12", "nobody"),
            "取消了会话 #12 的分配"
        );
        assert_eq!(
            said("conversation.status", "conversation 12", "resolved"),
            "把会话 #12 设为“已解决”"
        );
        let (c, t) = (Lang::En.console(), Lang::En.text());
        assert_eq!(
            describe(
                "conversation.assign",
                "conversation 12",
                "user 3 (automatic)",
                &names,
                c,
                t
            ),
            "assigned conversation #12 to 王芳 automatically"
        );
        assert_eq!(
            describe(
                "conversation.assign",
                "conversation 12",
                "user 9",
                &names,
                c,
                t
            ),
            "assigned conversation #12 to account #9"
        );
        assert_eq!(
            describe("something.new", "x", "", &names, c, t),
            "another change (something.new)"
        );
    }
}
