//! The `/settings` page: each staff member's own interface language and password, and the
//! place for this browser's alert toggles (markup only; `static/` wires them). Plain HTML
//! forms answered with a 303 back to the page, or the page again with the reason (400).
//! It changes only the signed-in staff member's own account, never another's, through
//! `services::accounts` (which checks the current password and ends the other sessions).

use askama::Template;
use axum::extract::rejection::{FormRejection, QueryRejection};
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Form, Router};
use serde::Deserialize;

use crate::app::AppState;
use crate::domain::{Locale, Role};
use crate::error::AppError;
use crate::i18n::{Lang, SettingsText};
use crate::services::accounts::{self, AccountError};
use crate::web::auth::session_cookie;
use crate::web::pages::{Chrome, OrPage, PageResult, Viewer, render_status};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/settings", get(page).post(save_language))
        .route("/settings/password", post(change_password))
}

#[derive(Template)]
#[template(path = "settings/page.html")]
struct SettingsPage<'a> {
    chrome: Chrome,
    s: &'static SettingsText,
    username: &'a str,
    role: &'static str,
    /// the stored choice: "" follows the browser, else "zh" or "en"
    locale: &'a str,
    /// what was just saved
    notice: Option<&'static str>,
    error: Option<&'a str>,
}

fn render_page(
    viewer: &Viewer,
    status: StatusCode,
    notice: Option<&'static str>,
    error: Option<&str>,
) -> Response {
    let s = viewer.lang.settings();
    let page = SettingsPage {
        chrome: viewer.chrome("settings"),
        s,
        username: &viewer.staff.username,
        role: match viewer.staff.role {
            Role::Admin => s.role_admin,
            Role::Agent => s.role_agent,
        },
        locale: viewer.staff.locale.map_or("", Locale::as_str),
        notice,
        error,
    };
    render_status(status, &page)
}

#[derive(Debug, Deserialize)]
struct SavedQuery {
    saved: Option<String>,
}

async fn page(viewer: Viewer, query: Result<Query<SavedQuery>, QueryRejection>) -> Response {
    let s = viewer.lang.settings();
    let saved = query.ok().and_then(|Query(q)| q.saved);
    let notice = match saved.as_deref() {
        Some("language") => Some(s.language_saved),
        Some("password") => Some(s.password_changed),
        _ => None,
    };
    render_page(&viewer, StatusCode::OK, notice, None)
}

#[derive(Debug, Deserialize)]
struct LanguageForm {
    #[serde(default)]
    locale: String,
}

/// `POST /settings`: the interface language; empty follows the browser.
async fn save_language(
    State(state): State<AppState>,
    viewer: Viewer,
    form: Result<Form<LanguageForm>, FormRejection>,
) -> PageResult {
    let s = viewer.lang.settings();
    let Ok(Form(form)) = form else {
        return Ok(render_page(
            &viewer,
            StatusCode::BAD_REQUEST,
            None,
            Some(s.unreadable_form),
        ));
    };
    let lang = match form.locale.as_str() {
        "" => None,
        "zh" => Some(Lang::Zh),
        "en" => Some(Lang::En),
        _ => {
            return Ok(render_page(
                &viewer,
                StatusCode::BAD_REQUEST,
                None,
                Some(s.choose_language),
            ));
        }
    };
    accounts::set_locale(&state.store, &viewer.staff, lang)
        .await
        .or_page(&viewer)?;
    Ok(Redirect::to("/settings?saved=language").into_response())
}

#[derive(Debug, Deserialize)]
struct PasswordForm {
    #[serde(default)]
    current_password: String,
    #[serde(default)]
    new_password: String,
    #[serde(default)]
    new_password_again: String,
}

/// `POST /settings/password`: needs the current password; ends the staff member's other
/// sessions (someone who knew the old password may be signed in elsewhere) but keeps this one.
async fn change_password(
    State(state): State<AppState>,
    viewer: Viewer,
    headers: HeaderMap,
    form: Result<Form<PasswordForm>, FormRejection>,
) -> PageResult {
    let s = viewer.lang.settings();
    let refuse = |message: &str| {
        Ok(render_page(
            &viewer,
            StatusCode::BAD_REQUEST,
            None,
            Some(message),
        ))
    };
    let Ok(Form(form)) = form else {
        return refuse(s.unreadable_form);
    };
    if form.new_password != form.new_password_again {
        return refuse(s.new_passwords_differ);
    }
    let this_session = session_cookie(&headers);
    let changed = accounts::change_own_password(
        &state.store,
        &viewer.staff,
        &form.current_password,
        &form.new_password,
        this_session,
    )
    .await;
    match changed {
        Ok(_) => {}
        Err(AccountError::WrongPassword) => return refuse(s.current_password_wrong),
        Err(AccountError::PasswordTooLong) => return refuse(s.new_password_too_long),
        Err(AccountError::PasswordTooShort) => return refuse(s.new_password_too_short),
        Err(AccountError::NoSuchId(_)) => {
            return Err(viewer.fail(AppError::Unauthorized(
                viewer.lang.refusal().account_gone.into(),
            )));
        }
        Err(e) => return Err(viewer.fail(e)),
    }
    Ok(Redirect::to("/settings?saved=password").into_response())
}

#[cfg(test)]
mod tests {
    use crate::i18n::Lang;
    use crate::services::accounts::{MAX_PASSWORD_BYTES, MIN_PASSWORD_CHARS};

    #[test]
    fn the_password_limits_in_the_sentences_are_the_limits_enforced() {
        for s in [Lang::Zh.settings(), Lang::En.settings()] {
            assert!(s.new_password.contains(&MIN_PASSWORD_CHARS.to_string()));
            assert!(
                s.new_password_too_short
                    .contains(&MIN_PASSWORD_CHARS.to_string())
            );
            assert!(
                s.new_password_too_long
                    .contains(&MAX_PASSWORD_BYTES.to_string())
            );
        }
    }
}
