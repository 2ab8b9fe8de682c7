//! A conversation as staff change it: its status, who it is assigned to, who answers it (the
//! bot or a human), whether it has been read, and its contact's name and note. The JSON API
//! and the pages come here, so who may do what is decided once:
//!
//! - anyone signed in may change a conversation's status and read it;
//! - agents claim unassigned conversations and hand on or let go of their own; only admins
//!   take a conversation from someone else (assigning it, or handing it to the bot or back);
//! - only an enabled staff account can be given a conversation;
//! - WeChat's tool takes a conversation only through a `transfer_wechat` rule;
//! - an agent's reply in a conversation the bot handles makes it a human's (and the agent's,
//!   if nobody had it), so the bot does not talk over the agent;
//! - anyone signed in may snooze a conversation that is not resolved.
//!
//! A refusal of what was asked is said in `lang`, the language of whoever asked.
//!
//! Every change ends the same way (`finish`): audited in its transaction, committed, then one
//! `ConversationChanged` event, which updates the dashboards and has the bot offer waiting
//! conversations to agents.

use crate::domain::{ConversationStatus, Handler, Millis, now_millis, rfc3339};
use crate::error::{AppError, AppResult};
use crate::i18n::{Lang, fill};
use crate::live::{Event, Live};
use crate::store::conversations::{self, ConversationRow};
use crate::store::{Store, staff};
use crate::store::{audit, reports};

use super::Staff;

/// Longest contact name and note staff may set, in characters.
pub const MAX_CONTACT_NAME: usize = 64;
pub const MAX_CONTACT_NOTE: usize = 2000;

/// 404 for a conversation that is not there, said in `lang`.
pub fn missing(id: i64, lang: Lang) -> AppError {
    AppError::NotFound(fill(
        lang.refusal().no_conversation,
        &[("id", &id.to_string())],
    ))
}

/// Moves a conversation to `status` (`conversation.status`); returns it as it is now.
pub async fn set_status(
    store: &Store,
    live: &Live,
    by: &Staff,
    id: i64,
    status: ConversationStatus,
    lang: Lang,
) -> AppResult<ConversationRow> {
    let now = now_millis();
    let mut tx = store.begin_write().await?;
    let before = conversations::get_in(&mut *tx, id)
        .await?
        .ok_or_else(|| missing(id, lang))?
        .status;
    if !conversations::set_status(&mut tx, id, status, now).await? {
        return Err(missing(id, lang));
    }
    // the reports count resolutions and cycles from these (store::reports)
    let resolved = ConversationStatus::Resolved;
    let event = match (before == resolved, status == resolved) {
        (false, true) => Some(reports::EventKind::Resolved),
        (true, false) => Some(reports::EventKind::Reopened),
        _ => None,
    };
    if let Some(kind) = event {
        reports::record(&mut tx, id, kind, now, Some(by.id)).await?;
    }
    let change = ("conversation.status", status.as_str());
    finish(store, live, by, tx, id, lang, change).await
}

/// Assigns a conversation to an enabled staff member, or to nobody (`conversation.assign`);
/// returns it as it is now.
pub async fn assign(
    store: &Store,
    live: &Live,
    by: &Staff,
    id: i64,
    assignee: Option<i64>,
    lang: Lang,
) -> AppResult<ConversationRow> {
    let mut tx = store.begin_write().await?;
    let current = conversations::get_in(&mut *tx, id)
        .await?
        .ok_or_else(|| missing(id, lang))?;
    if let Some(assignee) = assignee {
        let staff = staff::by_id_in(&mut tx, assignee).await?;
        // an agent limited to other channels cannot answer it: as good as nobody to assign
        let can_see = |s: &staff::StaffRow| {
            super::channels_of(s.role, s.channel_ids.as_deref())
                .is_none_or(|c| c.contains(&current.channel_id))
        };
        if staff.is_none_or(|s| s.disabled || !can_see(&s)) {
            let r = lang.request();
            return Err(AppError::Invalid(fill(
                r.assignee_unknown,
                &[("id", &assignee.to_string())],
            )));
        }
    }
    may_take(by, &current, lang)?;
    if !conversations::assign(&mut tx, id, assignee).await? {
        return Err(missing(id, lang));
    }
    let detail = assignee.map_or("nobody".to_owned(), |a| format!("user {a}"));
    finish(
        store,
        live,
        by,
        tx,
        id,
        lang,
        ("conversation.assign", &detail),
    )
    .await
}

/// Hands a conversation back to the bot (it is unassigned and the bot answers again) or
/// takes it from the bot for a human (it waits in the queue, or goes to an agent
/// automatically) (`conversation.handler`); returns it as it is now.
pub async fn set_handler(
    store: &Store,
    live: &Live,
    by: &Staff,
    id: i64,
    handler: Handler,
    lang: Lang,
) -> AppResult<ConversationRow> {
    if handler == Handler::Wechat {
        return Err(AppError::Invalid(lang.request().handler_choice.into()));
    }
    let mut tx = store.begin_write().await?;
    let current = conversations::get_in(&mut *tx, id)
        .await?
        .ok_or_else(|| missing(id, lang))?;
    may_take(by, &current, lang)?;
    if handler == Handler::Bot {
        conversations::assign(&mut tx, id, None).await?;
    }
    conversations::set_handler(&mut tx, id, handler).await?;
    // the change's event also has the bot offer waiting conversations to agents
    let change = ("conversation.handler", handler.as_str());
    finish(store, live, by, tx, id, lang, change).await
}

/// An agent replied (a reply, not a note) in the conversation: if the bot handled it, it is
/// a human's now, and the agent's if nobody had it, so the bot stays silent there
/// (`conversation.handler`, and `conversation.assign` when it was given to the agent).
/// Nothing changes when a human or WeChat's tool already handles it. Returns whether it changed.
pub async fn taken_by_reply(store: &Store, live: &Live, by: &Staff, id: i64) -> AppResult<bool> {
    let now = now_millis();
    let mut tx = store.begin_write().await?;
    let Some(assignee) = conversations::take_from_bot(&mut tx, id, by.id).await? else {
        return Ok(false);
    };
    let target = format!("conversation {id}");
    let actor = by.actor();
    let detail = Handler::Human.as_str();
    audit::record(
        &mut tx,
        &actor,
        "conversation.handler",
        &target,
        Some(detail),
        now,
    )
    .await?;
    if assignee.is_none() {
        let detail = format!("user {}", by.id);
        audit::record(
            &mut tx,
            &actor,
            "conversation.assign",
            &target,
            Some(&detail),
            now,
        )
        .await?;
    }
    tx.commit().await?;
    live.publish(Event::ConversationChanged {
        conversation_id: id,
    });
    Ok(true)
}

/// How far ahead a snooze may end.
pub const MAX_SNOOZE_DAYS: i64 = 90;

/// Snoozes a conversation until `until`, an RFC 3339 time (`conversation.snooze`): it is `pending`, out of the
/// `waiting` and `mine` views, until a customer message or the time ends the snooze. `until`
/// must be in the future and at most `MAX_SNOOZE_DAYS` ahead; a resolved conversation is not
/// snoozed. Returns it as it is now.
pub async fn snooze(
    store: &Store,
    live: &Live,
    by: &Staff,
    id: i64,
    until: &str,
    lang: Lang,
) -> AppResult<ConversationRow> {
    let r = lang.request();
    let now = now_millis();
    let until = parse_rfc3339(until)
        .filter(|&t| t > now && t <= now + MAX_SNOOZE_DAYS * 24 * 3600 * 1000)
        .ok_or_else(|| {
            let days = MAX_SNOOZE_DAYS.to_string();
            AppError::Invalid(fill(r.snooze_until, &[("days", &days)]))
        })?;
    let mut tx = store.begin_write().await?;
    let current = conversations::get_in(&mut *tx, id)
        .await?
        .ok_or_else(|| missing(id, lang))?;
    if current.status == ConversationStatus::Resolved {
        return Err(AppError::Conflict(r.snooze_resolved.into()));
    }
    conversations::snooze(&mut tx, id, until).await?;
    let detail = rfc3339(until);
    finish(
        store,
        live,
        by,
        tx,
        id,
        lang,
        ("conversation.snooze", &detail),
    )
    .await
}

/// An RFC 3339 time (with its offset) in milliseconds since the epoch.
fn parse_rfc3339(text: &str) -> Option<Millis> {
    let t =
        time::OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339).ok()?;
    i64::try_from(t.unix_timestamp_nanos() / 1_000_000).ok()
}

/// Ends the snoozes due at `now` (the background job calls it): those conversations are open
/// again, and the dashboards are told. kefu's own doing, so not audited. Returns their ids.
pub async fn wake_snoozed(store: &Store, live: &Live, now: Millis) -> AppResult<Vec<i64>> {
    let mut tx = store.begin_write().await?;
    let woken = conversations::wake_due(&mut tx, now).await?;
    tx.commit().await?;
    for &conversation_id in &woken {
        live.publish(Event::ConversationChanged { conversation_id });
    }
    Ok(woken)
}

/// Agents claim unassigned conversations and hand on their own; only admins take a
/// conversation from someone else.
fn may_take(by: &Staff, conversation: &ConversationRow, lang: Lang) -> AppResult<()> {
    if !by.is_admin() && conversation.assignee_id.is_some_and(|a| a != by.id) {
        return Err(AppError::Forbidden(
            lang.refusal().assigned_elsewhere.to_owned(),
        ));
    }
    Ok(())
}

/// The end of every staff change to a conversation: audit it in the change's transaction,
/// commit, tell the dashboards (and the bot), and read the conversation as it is now.
async fn finish(
    store: &Store,
    live: &Live,
    by: &Staff,
    mut tx: sqlx::Transaction<'static, sqlx::Sqlite>,
    id: i64,
    lang: Lang,
    (action, detail): (&str, &str),
) -> AppResult<ConversationRow> {
    let target = format!("conversation {id}");
    audit::record(
        &mut tx,
        &by.actor(),
        action,
        &target,
        Some(detail),
        now_millis(),
    )
    .await?;
    tx.commit().await?;
    live.publish(Event::ConversationChanged {
        conversation_id: id,
    });
    conversations::get(store, id)
        .await?
        .ok_or_else(|| missing(id, lang))
}

/// The staff have seen everything in a conversation: its unread count drops to zero in every
/// inbox. Not audited (it is no change anyone needs to answer for). Returns whether it had
/// unread messages.
pub async fn mark_read(store: &Store, live: &Live, id: i64, lang: Lang) -> AppResult<bool> {
    let mut tx = store.begin_write().await?;
    if conversations::get_in(&mut *tx, id).await?.is_none() {
        return Err(missing(id, lang));
    }
    let changed = conversations::mark_read(&mut tx, id).await?;
    tx.commit().await?;
    if changed {
        live.publish(Event::ConversationChanged {
            conversation_id: id,
        });
    }
    Ok(changed)
}

/// Renames the contact of a conversation (empty: WeChat's name again) and replaces the
/// staff's note on them (`contact.update`). The name shows in every row of the contact's
/// conversations, so each of them is told.
pub async fn save_contact(
    store: &Store,
    live: &Live,
    by: &Staff,
    id: i64,
    name: &str,
    note: &str,
    lang: Lang,
) -> AppResult<()> {
    let r = lang.request();
    let name = name.trim();
    let note = note.trim();
    if name.chars().count() > MAX_CONTACT_NAME || name.chars().any(char::is_control) {
        let max = MAX_CONTACT_NAME.to_string();
        let sentence = fill(r.field_text, &[("field", "name"), ("max", &max)]);
        return Err(AppError::Invalid(sentence));
    }
    if note.chars().count() > MAX_CONTACT_NOTE {
        let max = MAX_CONTACT_NOTE.to_string();
        let sentence = fill(r.field_too_long, &[("field", "note"), ("max", &max)]);
        return Err(AppError::Invalid(sentence));
    }
    let now = now_millis();
    let mut tx = store.begin_write().await?;
    let row = conversations::get_in(&mut *tx, id)
        .await?
        .ok_or_else(|| missing(id, lang))?;
    let name = (!name.is_empty()).then_some(name);
    conversations::set_contact(&mut tx, row.contact_id, name, note).await?;
    audit::record(
        &mut tx,
        &by.actor(),
        "contact.update",
        &format!("contact {}", row.openid),
        name,
        now,
    )
    .await?;
    tx.commit().await?;
    for conversation_id in conversations::ids_of_contact(store.pool(), row.contact_id).await? {
        live.publish(Event::ConversationChanged { conversation_id });
    }
    Ok(())
}
