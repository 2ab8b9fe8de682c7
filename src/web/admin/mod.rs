//! The admin console under `/admin`: auto-reply rules (with a tester), staff accounts, the
//! bot's settings, and the audit log. Plain HTML forms answered with a 303 back to the page,
//! or the page again with the reason (400) and what was typed; no script.
//!
//! Only admins get in: the `Admin` extractor answers everyone else with the 403 page, before
//! any handler runs, for every GET and POST. Rules and settings are saved through
//! `services::rules` and `services::settings` (the same validation, audit and recompile as the
//! JSON API); accounts through `services::accounts` (the same rules as `kefu user …`).
//!
//! A refused form is an `AppError` whose sentence is in the admin's language: the page shows
//! it above the form, with its status; a failure of kefu's own is the error page.
//!
//! This file holds the routes, the `Admin` extractor and what the consoles share; each
//! console has its own file: `rules` (with the tester), `users`, `settings`, `audit`.

use axum::Router;
use axum::extract::FromRequestParts;
use axum::http::StatusCode;
use axum::http::request::Parts;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use serde::Deserialize;

use crate::app::AppState;
use crate::error::AppError;
use crate::i18n::AdminText;
use crate::web::pages::{Chrome, PageResult, Viewer};

mod audit;
mod channels;
mod labels;
mod rules;
mod settings;
mod users;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/admin", get(index))
        .merge(rules::router())
        .merge(users::router())
        .merge(settings::router())
        .merge(audit::router())
        .merge(labels::router())
        .merge(channels::router())
}

// ------------------------------------------------------------------------------------------
// Who may enter

/// A signed-in admin. Anyone else signed in gets the 403 page; a signed-out browser is sent
/// to sign in (as `Viewer` does). Being an extractor, it runs before the handler reads a
/// form, so no handler under `/admin` can forget the check.
pub struct Admin(pub Viewer);

impl FromRequestParts<AppState> for Admin {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Response> {
        let viewer = Viewer::from_request_parts(parts, state).await?;
        match viewer.refuse_unless_admin() {
            Some(refusal) => Err(refusal.into_response()),
            None => Ok(Admin(viewer)),
        }
    }
}

impl Admin {
    pub(super) fn a(&self) -> &'static AdminText {
        self.0.lang.admin()
    }

    pub(super) fn chrome(&self) -> Chrome {
        self.0.chrome("admin")
    }

    /// What a refused form shows: its status and sentence; a failure of kefu's own is the
    /// error page instead.
    pub(super) fn refused(&self, e: AppError) -> PageResult<(StatusCode, String)> {
        match e {
            AppError::Internal(_) => Err(self.0.fail(e)),
            e => Ok((e.status(), e.to_string())),
        }
    }
}

/// A form refused with a sentence (400).
pub(super) fn bad(message: &str) -> AppError {
    AppError::Invalid(message.to_owned())
}

/// A refusal of `services::rules`: its sentence after ours (`lead` holds `{reason}`); a rule that is
/// gone is said in the console's words.
pub(super) fn from_rules(e: AppError, a: &AdminText, lead: &str) -> AppError {
    match e {
        AppError::Invalid(m) => AppError::Invalid(lead.replace("{reason}", &m)),
        AppError::NotFound(_) => AppError::NotFound(a.rule_not_found.to_owned()),
        other => other,
    }
}

/// `s` cut to `chars` characters (with an ellipsis), and whether it was cut.
pub(super) fn cut(s: &str, chars: usize) -> (String, bool) {
    if s.chars().count() <= chars {
        (s.to_owned(), false)
    } else {
        let mut short: String = s.chars().take(chars).collect();
        short.push('…');
        (short, true)
    }
}

/// One option of a `<select>`.
pub(super) struct Choice {
    pub(super) value: &'static str,
    pub(super) label: &'static str,
    pub(super) selected: bool,
}

pub(super) fn choices(options: &[(&'static str, &'static str)], current: &str) -> Vec<Choice> {
    options
        .iter()
        .map(|(value, label)| Choice {
            value,
            label,
            selected: *value == current,
        })
        .collect()
}

/// `?done=…`: what the form before the redirect did, for the notice.
#[derive(Debug, Deserialize)]
pub(super) struct DoneQuery {
    pub(super) done: Option<String>,
}

async fn index(_admin: Admin) -> Response {
    Redirect::to("/admin/rules").into_response()
}

#[cfg(test)]
mod tests {
    use crate::i18n::Lang;
    use crate::services::accounts;

    #[test]
    fn both_languages_fill_their_placeholders() {
        for a in [Lang::Zh.admin(), Lang::En.admin()] {
            assert!(a.rule_refused.contains("{reason}"));
            assert!(a.change_refused.contains("{reason}"));
            assert!(a.settings_refused.contains("{reason}"));
            assert!(a.not_a_number.contains("{field}"));
            assert!(a.source_line.contains("{line}"));
            assert!(a.username_taken.contains("{username}"));
            assert!(
                a.password_too_short
                    .contains(&accounts::MIN_PASSWORD_CHARS.to_string())
            );
        }
    }
}
