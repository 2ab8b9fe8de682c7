//! Labels: admins define them (a name, unique whatever its letter case, and a colour) and
//! anyone signed in puts them on conversations. Deleting a label takes it off every
//! conversation. Admins' changes are audited (`label.create`, `label.delete`), and so is a
//! conversation's new set of labels (`conversation.labels`), like its other changes.

use crate::domain::now_millis;
use crate::error::{AppError, AppResult};
use crate::i18n::{Lang, fill};
use crate::live::{Event, Live};
use crate::store::labels::{self, LabelError, LabelRow};
use crate::store::{Store, audit, conversations};

use super::{Staff, require_admin};

/// Longest label name, in characters (after trimming).
pub const MAX_NAME: usize = 40;
/// Most labels on one conversation.
pub const MAX_PER_CONVERSATION: usize = 20;

/// A name as labels are told apart: trimmed and in lower case (every script, not only ASCII).
pub fn name_key(name: &str) -> String {
    name.trim().to_lowercase()
}

/// Every label, by name.
pub async fn list(store: &Store) -> AppResult<Vec<LabelRow>> {
    Ok(labels::list(store).await?)
}

/// The label named `name` (letter case aside), or a refusal naming it.
pub async fn named(store: &Store, name: &str, lang: Lang) -> AppResult<LabelRow> {
    labels::by_key(store.pool(), &name_key(name))
        .await?
        .ok_or_else(|| unknown(name, lang))
}

fn unknown(name: &str, lang: Lang) -> AppError {
    let shown: String = name.trim().chars().take(MAX_NAME).collect();
    AppError::Invalid(fill(lang.request().label_unknown, &[("name", &shown)]))
}

/// Adds a label (admins): `name` 1–40 characters once trimmed, no control characters, not
/// taken (409); `color` `#rrggbb`.
pub async fn create(
    store: &Store,
    by: &Staff,
    name: &str,
    color: &str,
    lang: Lang,
) -> AppResult<LabelRow> {
    require_admin(by, "labels")?;
    let r = lang.request();
    let name = name.trim();
    if name.is_empty() {
        return Err(AppError::Invalid(fill(
            r.field_required,
            &[("field", "name")],
        )));
    }
    if name.chars().count() > MAX_NAME || name.chars().any(char::is_control) {
        let max = MAX_NAME.to_string();
        return Err(AppError::Invalid(fill(
            r.field_text,
            &[("field", "name"), ("max", &max)],
        )));
    }
    if !is_color(color) {
        return Err(AppError::Invalid(r.label_color.into()));
    }
    // one spelling per colour, so the same colour compares equal
    let color = color.to_ascii_lowercase();
    let now = now_millis();
    let mut tx = store.begin_write().await?;
    let label = match labels::create(&mut tx, name, &name_key(name), &color, now).await {
        Ok(label) => label,
        Err(LabelError::Duplicate(_)) => {
            return Err(AppError::Conflict(fill(r.label_taken, &[("name", name)])));
        }
        Err(LabelError::Db(e)) => return Err(e.into()),
    };
    let detail = format!("{} {}", label.name, label.color);
    audit::record(
        &mut tx,
        &by.actor(),
        "label.create",
        &format!("label {}", label.id),
        Some(&detail),
        now,
    )
    .await?;
    tx.commit().await?;
    Ok(label)
}

fn is_color(color: &str) -> bool {
    color.len() == 7 && color.starts_with('#') && color[1..].bytes().all(|b| b.is_ascii_hexdigit())
}

/// Deletes a label (admins) and takes it off every conversation; 404 when there is none.
/// Open dashboards are told (`LabelDeleted`), so they drop its chips at once: one event,
/// however many conversations carried it.
pub async fn delete(store: &Store, live: &Live, by: &Staff, id: i64, lang: Lang) -> AppResult<()> {
    require_admin(by, "labels")?;
    let now = now_millis();
    let mut tx = store.begin_write().await?;
    let Some(label) = labels::delete(&mut tx, id).await? else {
        return Err(no_label(id, lang));
    };
    audit::record(
        &mut tx,
        &by.actor(),
        "label.delete",
        &format!("label {id}"),
        Some(&label.name),
        now,
    )
    .await?;
    tx.commit().await?;
    live.publish(Event::LabelDeleted { label_id: id });
    Ok(())
}

/// Replaces the labels of a conversation with those named (letter case aside; a name given
/// twice counts once; an unknown one is refused by name; at most `MAX_PER_CONVERSATION`)
/// (`conversation.labels`).
pub async fn set_for_conversation(
    store: &Store,
    live: &Live,
    by: &Staff,
    id: i64,
    names: &[String],
    lang: Lang,
) -> AppResult<()> {
    let r = lang.request();
    let mut keys: Vec<String> = Vec::new();
    for name in names {
        let key = name_key(name);
        if keys.contains(&key) {
            continue;
        }
        // refused as soon as there are too many, so a long list costs no more than 21 names
        if keys.len() == MAX_PER_CONVERSATION {
            let max = MAX_PER_CONVERSATION.to_string();
            return Err(AppError::Invalid(fill(r.labels_too_many, &[("max", &max)])));
        }
        keys.push(key);
    }
    let now = now_millis();
    let mut tx = store.begin_write().await?;
    if conversations::get_in(&mut *tx, id).await?.is_none() {
        return Err(super::conversations::missing(id, lang));
    }
    let mut found: Vec<LabelRow> = Vec::with_capacity(keys.len());
    for key in &keys {
        match labels::by_key(&mut *tx, key).await? {
            Some(label) => found.push(label),
            // named as it was given
            None => {
                let given = names.iter().find(|n| name_key(n) == *key);
                return Err(unknown(given.map_or(key.as_str(), String::as_str), lang));
            }
        }
    }
    let ids: Vec<i64> = found.iter().map(|l| l.id).collect();
    labels::set_for_conversation(&mut tx, id, &ids).await?;
    let mut shown: Vec<&str> = found.iter().map(|l| l.name.as_str()).collect();
    shown.sort_unstable();
    audit::record(
        &mut tx,
        &by.actor(),
        "conversation.labels",
        &format!("conversation {id}"),
        Some(&shown.join(", ")),
        now,
    )
    .await?;
    tx.commit().await?;
    live.publish(Event::ConversationChanged {
        conversation_id: id,
    });
    Ok(())
}

/// Puts the label named `name` on a conversation, keeping its others (`conversation.labels`,
/// the whole new set, as `set_for_conversation` records it); nothing changes when it has it
/// already. Refused past `MAX_PER_CONVERSATION` labels.
pub async fn add_to_conversation(
    store: &Store,
    live: &Live,
    by: &Staff,
    id: i64,
    name: &str,
    lang: Lang,
) -> AppResult<()> {
    let r = lang.request();
    let now = now_millis();
    let mut tx = store.begin_write().await?;
    if conversations::get_in(&mut *tx, id).await?.is_none() {
        return Err(super::conversations::missing(id, lang));
    }
    let label = labels::by_key(&mut *tx, &name_key(name))
        .await?
        .ok_or_else(|| unknown(name, lang))?;
    let count = labels::add_to_conversation(&mut tx, id, label.id).await?;
    if count > MAX_PER_CONVERSATION as i64 {
        let max = MAX_PER_CONVERSATION.to_string();
        return Err(AppError::Invalid(fill(r.labels_too_many, &[("max", &max)])));
    }
    let names: Vec<String> = labels::names_in(&mut *tx, &[id])
        .await?
        .into_iter()
        .map(|(_, n)| n)
        .collect();
    audit::record(
        &mut tx,
        &by.actor(),
        "conversation.labels",
        &format!("conversation {id}"),
        Some(&names.join(", ")),
        now,
    )
    .await?;
    tx.commit().await?;
    live.publish(Event::ConversationChanged {
        conversation_id: id,
    });
    Ok(())
}

/// 404 for a label that is not there, said in `lang`.
pub fn no_label(id: impl std::fmt::Display, lang: Lang) -> AppError {
    AppError::NotFound(fill(lang.refusal().no_label, &[("id", &id.to_string())]))
}
