//! The bot's settings console: welcome, fallback and away messages, business hours and
//! assignment, read from the form as typed and saved through `services::settings`.

use askama::Template;
use axum::extract::rejection::{FormRejection, QueryRejection};
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use axum::{Form, Router};

use super::{Admin, Choice, DoneQuery, choices};
use crate::app::AppState;
use crate::automation::settings::{
    AssignmentMode, AutomationSettings, ChannelMessages, SourceWelcome,
};
use crate::error::AppError;
use crate::i18n::AdminText;
use crate::services::settings as settings_service;
use crate::web::pages::{Chrome, PageResult, render_status};

/// The routes of the bot's settings console; every handler takes `Admin`, so only admins get in.
pub(super) fn router() -> Router<AppState> {
    Router::new().route("/admin/settings", get(settings_page).post(save_settings))
}

/// The settings form's fields as text, as typed (and shown again when refused).
#[derive(Debug, Clone, Default)]
struct SettingsForm {
    welcome: String,
    /// one `session_from = text` per line
    welcome_by_source: String,
    welcome_every: String,
    fallback: String,
    fallback_every: String,
    away: String,
    away_every: String,
    hours_enabled: bool,
    days: Vec<String>,
    start: String,
    end: String,
    utc_offset: String,
    mode: String,
    cap: String,
    /// a channel's own welcome, fallback and away, by channel id ("" each: the global one)
    by_channel: std::collections::BTreeMap<i64, [String; 3]>,
}

impl SettingsForm {
    fn of(s: &AutomationSettings) -> SettingsForm {
        SettingsForm {
            welcome: s.welcome.clone().unwrap_or_default(),
            welcome_by_source: s
                .welcome_by_source
                .iter()
                .map(|w| format!("{} = {}", w.session_from, w.text.replace('\n', " ")))
                .collect::<Vec<_>>()
                .join("\n"),
            welcome_every: s.welcome_every_minutes.to_string(),
            fallback: s.fallback.clone().unwrap_or_default(),
            fallback_every: s.fallback_every_minutes.to_string(),
            away: s.away.clone().unwrap_or_default(),
            away_every: s.away_every_minutes.to_string(),
            hours_enabled: s.hours.enabled,
            days: s.hours.days.iter().map(u8::to_string).collect(),
            start: s.hours.start.clone(),
            end: s.hours.end.clone(),
            utc_offset: s.hours.utc_offset.clone(),
            mode: match s.assignment.mode {
                AssignmentMode::Manual => "manual",
                AssignmentMode::Auto => "auto",
            }
            .to_owned(),
            cap: s.assignment.cap.to_string(),
            by_channel: s
                .by_channel
                .iter()
                .map(|c| {
                    let text = |t: &Option<String>| t.clone().unwrap_or_default();
                    (
                        c.channel_id,
                        [text(&c.welcome), text(&c.fallback), text(&c.away)],
                    )
                })
                .collect(),
        }
    }

    /// From the posted pairs (`day` comes once per ticked box).
    fn from_pairs(pairs: Vec<(String, String)>) -> SettingsForm {
        let mut f = SettingsForm::default();
        for (name, value) in pairs {
            match name.as_str() {
                "welcome" => f.welcome = value,
                "welcome_by_source" => f.welcome_by_source = value,
                "welcome_every_minutes" => f.welcome_every = value,
                "fallback" => f.fallback = value,
                "fallback_every_minutes" => f.fallback_every = value,
                "away" => f.away = value,
                "away_every_minutes" => f.away_every = value,
                "hours_enabled" => f.hours_enabled = true,
                "day" => f.days.push(value),
                "start" => f.start = value,
                "end" => f.end = value,
                "utc_offset" => f.utc_offset = value,
                "assignment_mode" => f.mode = value,
                "assignment_cap" => f.cap = value,
                // ch_{id}_welcome, ch_{id}_fallback, ch_{id}_away
                other => {
                    let Some((id, which)) = other
                        .strip_prefix("ch_")
                        .and_then(|rest| rest.split_once('_'))
                    else {
                        continue;
                    };
                    let (Ok(id), Some(i)) = (
                        id.parse::<i64>(),
                        ["welcome", "fallback", "away"]
                            .iter()
                            .position(|w| *w == which),
                    ) else {
                        continue;
                    };
                    f.by_channel.entry(id).or_default()[i] = value;
                }
            }
        }
        f
    }

    /// The settings these fields say; the sentence says which field is unreadable.
    /// (`AutomationSettings::validate` checks the rest, in `save_settings`.)
    fn to_settings(&self, a: &AdminText) -> Result<AutomationSettings, String> {
        let number = |value: &str, label: &str| -> Result<u32, String> {
            value
                .trim()
                .parse::<u32>()
                .map_err(|_| a.not_a_number.replace("{field}", label))
        };
        let text = |value: &str| Some(value.replace("\r\n", "\n"));
        let mut by_source = Vec::new();
        for (i, line) in self.welcome_by_source.lines().enumerate() {
            if line.trim().is_empty() {
                continue;
            }
            let Some((from, text)) = line.split_once('=') else {
                return Err(a.source_line.replace("{line}", &(i + 1).to_string()));
            };
            by_source.push(SourceWelcome {
                session_from: from.trim().to_owned(),
                text: text.trim().to_owned(),
            });
        }
        let mut days = Vec::new();
        for d in &self.days {
            days.push(
                d.trim()
                    .parse::<u8>()
                    .map_err(|_| a.choose_days.to_owned())?,
            );
        }
        let mut s = AutomationSettings {
            welcome: text(&self.welcome),
            welcome_by_source: by_source,
            welcome_every_minutes: number(&self.welcome_every, a.welcome_every)?,
            fallback: text(&self.fallback),
            fallback_every_minutes: number(&self.fallback_every, a.fallback_every)?,
            away: text(&self.away),
            away_every_minutes: number(&self.away_every, a.away_every)?,
            by_channel: self
                .by_channel
                .iter()
                .map(|(id, [welcome, fallback, away])| ChannelMessages {
                    channel_id: *id,
                    welcome: text(welcome),
                    fallback: text(fallback),
                    away: text(away),
                })
                .collect(),
            ..AutomationSettings::default()
        };
        s.hours.enabled = self.hours_enabled;
        s.hours.days = days;
        s.hours.start = self.start.trim().to_owned();
        s.hours.end = self.end.trim().to_owned();
        s.hours.utc_offset = self.utc_offset.trim().to_owned();
        s.assignment.mode = match self.mode.as_str() {
            "manual" => AssignmentMode::Manual,
            "auto" => AssignmentMode::Auto,
            _ => return Err(a.choose_mode.to_owned()),
        };
        s.assignment.cap = number(&self.cap, a.assignment_cap)?;
        Ok(s)
    }
}

/// One of the seven weekday boxes.
struct DayBox {
    n: u8,
    label: &'static str,
    checked: bool,
}

#[derive(Template)]
#[template(path = "admin/settings.html")]
struct SettingsPage {
    chrome: Chrome,
    a: &'static AdminText,
    tab: &'static str,
    f: SettingsForm,
    days: Vec<DayBox>,
    modes: Vec<Choice>,
    notice: Option<&'static str>,
    error: Option<String>,
    max_text: usize,
    /// (id, label, welcome, fallback, away), offered when there are several channels
    channels: Vec<(i64, String, String, String, String)>,
}

fn render_settings(
    state: &AppState,
    admin: &Admin,
    f: SettingsForm,
    status: StatusCode,
    notice: Option<&'static str>,
    error: Option<String>,
) -> Response {
    let a = admin.a();
    let days = (1u8..=7)
        .map(|n| DayBox {
            n,
            label: a.weekdays[usize::from(n - 1)],
            checked: f.days.iter().any(|d| d.trim() == n.to_string()),
        })
        .collect();
    let page = SettingsPage {
        chrome: admin.chrome(),
        a,
        tab: "settings",
        days,
        modes: choices(&[("manual", a.mode_manual), ("auto", a.mode_auto)], &f.mode),
        notice,
        error,
        max_text: crate::automation::settings::MAX_TEXT,
        channels: if state.channels.several() {
            state
                .channels
                .all()
                .iter()
                .map(|c| {
                    let [w, fb, aw] = f.by_channel.get(&c.id()).cloned().unwrap_or_default();
                    (c.id(), c.channel.label().to_owned(), w, fb, aw)
                })
                .collect()
        } else {
            Vec::new()
        },
        f,
    };
    render_status(status, &page)
}

async fn settings_page(
    State(state): State<AppState>,
    admin: Admin,
    query: Result<Query<DoneQuery>, QueryRejection>,
) -> Response {
    let saved = query.ok().and_then(|Query(q)| q.done).is_some();
    let notice = saved.then_some(admin.a().settings_saved);
    let f = SettingsForm::of(&state.automation.settings());
    render_settings(&state, &admin, f, StatusCode::OK, notice, None)
}

async fn save_settings(
    State(state): State<AppState>,
    admin: Admin,
    form: Result<Form<Vec<(String, String)>>, FormRejection>,
) -> PageResult {
    let a = admin.a();
    let Ok(Form(pairs)) = form else {
        let f = SettingsForm::of(&state.automation.settings());
        let error = Some(a.unreadable_form.to_owned());
        return Ok(render_settings(
            &state,
            &admin,
            f,
            StatusCode::BAD_REQUEST,
            None,
            error,
        ));
    };
    let f = SettingsForm::from_pairs(pairs);
    let settings = match f.to_settings(a) {
        Ok(s) => s,
        Err(message) => {
            let error = Some(message);
            return Ok(render_settings(
                &state,
                &admin,
                f,
                StatusCode::BAD_REQUEST,
                None,
                error,
            ));
        }
    };
    let (store, automation) = (&state.store, &state.automation);
    let saved =
        settings_service::save(store, automation, &admin.0.staff, settings, admin.0.lang).await;
    match saved {
        Ok(()) => Ok(Redirect::to("/admin/settings?done=saved").into_response()),
        Err(AppError::Invalid(m)) => {
            let error = a.settings_refused.replace("{reason}", &m);
            Ok(render_settings(
                &state,
                &admin,
                f,
                StatusCode::BAD_REQUEST,
                None,
                Some(error),
            ))
        }
        Err(e) => Err(admin.0.fail(e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::i18n::Lang;

    #[test]
    fn settings_read_from_the_form_say_what_is_unreadable() {
        let a = Lang::En.admin();
        let pairs = |extra: &[(&str, &str)]| {
            let mut p: Vec<(String, String)> = [
                ("welcome", "hi"),
                (
                    "welcome_by_source",
                    "order = about your order?\r\n\r\nad=hello ad",
                ),
                ("welcome_every_minutes", "60"),
                ("fallback", ""),
                ("fallback_every_minutes", "30"),
                ("away", "we are away"),
                ("away_every_minutes", "120"),
                ("hours_enabled", "on"),
                ("day", "1"),
                ("day", "3"),
                ("start", "09:00"),
                ("end", "18:00"),
                ("utc_offset", "+08:00"),
                ("assignment_mode", "auto"),
                ("assignment_cap", "5"),
            ]
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
            for (k, v) in extra {
                p.retain(|(name, _)| name != k);
                p.push(((*k).to_owned(), (*v).to_owned()));
            }
            SettingsForm::from_pairs(p)
        };
        let s = pairs(&[]).to_settings(a).unwrap();
        assert_eq!(s.welcome_by_source.len(), 2);
        assert_eq!(s.welcome_by_source[1].session_from, "ad");
        assert_eq!(s.welcome_by_source[1].text, "hello ad");
        assert_eq!(s.hours.days, vec![1, 3]);
        assert!(s.hours.enabled);
        assert_eq!(s.assignment.mode, AssignmentMode::Auto);
        assert_eq!(s.assignment.cap, 5);
        assert_eq!(s.away_every_minutes, 120);
        let err = pairs(&[("assignment_cap", "many")])
            .to_settings(a)
            .unwrap_err();
        assert!(err.contains(a.assignment_cap), "{err}");
        let err = pairs(&[("welcome_by_source", "no equals sign")])
            .to_settings(a)
            .unwrap_err();
        assert!(err.contains('1'), "{err}");
        assert!(
            pairs(&[("assignment_mode", "chaos")])
                .to_settings(a)
                .is_err()
        );
        // what the form shows is what it reads back
        let again = SettingsForm::of(&s).to_settings(a).unwrap();
        assert_eq!(again, s);
    }
}
