//! The bot's settings (welcome, fallback and away messages, business hours, assignment) as
//! admins save them, from the JSON API or the admin console: checked (a refusal said in the
//! language of whoever asked), audited with the whole of what was saved, and in use at once.

use super::Staff;
use crate::automation::Automation;
use crate::automation::settings::{
    AutomationSettings, KEY, MAX_CAP, MAX_PERIOD_MINUTES, MAX_SESSION_FROM, MAX_SOURCES, MAX_TEXT,
    Message, SettingsProblem,
};
use crate::domain::now_millis;
use crate::error::{AppError, AppResult};
use crate::i18n::{Lang, RequestText, fill};
use crate::store::{Store, audit, settings as settings_store};

/// Saves the bot's settings (`settings.automation`); only admins may.
pub async fn save(
    store: &Store,
    automation: &Automation,
    by: &Staff,
    mut settings: AutomationSettings,
    lang: Lang,
) -> AppResult<()> {
    super::rules::require_admin(by)?;
    settings
        .validate()
        .map_err(|p| AppError::Invalid(settings_sentence(&p, lang.request())))?;
    let json = serde_json::to_string(&settings).map_err(anyhow::Error::from)?;
    let now = now_millis();
    let mut tx = store.begin_write().await?;
    settings_store::put(&mut tx, KEY, &json, now).await?;
    audit::record(
        &mut tx,
        &by.actor(),
        "settings.automation",
        "automation",
        Some(&json),
        now,
    )
    .await?;
    tx.commit().await?;
    automation.use_settings(settings);
    Ok(())
}

/// What is wrong with the bot's settings, in the staff member's language.
pub fn settings_sentence(p: &SettingsProblem, r: &RequestText) -> String {
    let message = |m: &Message| match m {
        Message::Welcome => r.welcome_message,
        Message::Fallback => r.fallback_message,
        Message::Away => r.away_message,
    };
    let max_text = MAX_TEXT.to_string();
    match p {
        SettingsProblem::TooLong(m) => fill(
            r.message_too_long,
            &[("message", message(m)), ("max", &max_text)],
        ),
        SettingsProblem::SourceFrom => {
            fill(r.source_from, &[("max", &MAX_SESSION_FROM.to_string())])
        }
        SettingsProblem::SourceText(source) => {
            fill(r.source_text, &[("source", source), ("max", &max_text)])
        }
        SettingsProblem::TooManySources => {
            fill(r.too_many_sources, &[("max", &MAX_SOURCES.to_string())])
        }
        SettingsProblem::Period(m) => fill(
            r.period,
            &[
                ("message", message(m)),
                ("max", &MAX_PERIOD_MINUTES.to_string()),
            ],
        ),
        SettingsProblem::Days => r.days.to_owned(),
        SettingsProblem::Clock => r.clock.to_owned(),
        SettingsProblem::HoursOrder => r.hours_order.to_owned(),
        SettingsProblem::Offset => r.offset.to_owned(),
        SettingsProblem::Cap => fill(r.cap, &[("max", &MAX_CAP.to_string())]),
    }
}
