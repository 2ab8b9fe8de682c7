//! The `/settings` page: each staff member's own interface language and password, and the
//! place for this browser's alert toggles (markup only; `static/` wires them). Plain HTML
//! forms answered with a 303 back to the page, or the page again with the reason (400).
//! It changes only the signed-in staff member's own account, never another's.

use askama::Template;
use axum::extract::rejection::{FormRejection, QueryRejection};
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Form, Router};
use serde::Deserialize;

use crate::accounts::{self, AccountError, hash_password, verify_password};
use crate::app::AppState;
use crate::domain::{Role, now_millis};
use crate::error::AppError;
use crate::i18n::SettingsText;
use crate::store::{audit, sessions, staff};
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
        locale: viewer.staff.locale.as_deref().unwrap_or(""),
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
    let locale = match form.locale.as_str() {
        "" => None,
        "zh" => Some("zh"),
        "en" => Some("en"),
        _ => {
            return Ok(render_page(
                &viewer,
                StatusCode::BAD_REQUEST,
                None,
                Some(s.choose_language),
            ));
        }
    };
    let now = now_millis();
    let saved = async {
        let mut tx = state.store.begin_write().await?;
        staff::set_locale(&mut tx, viewer.staff.id, locale).await?;
        audit::record(
            &mut tx,
            &viewer.staff.actor(),
            "staff.locale",
            &viewer.staff.username,
            Some(locale.unwrap_or("browser")),
            now,
        )
        .await?;
        tx.commit().await
    };
    saved.await.or_page(&viewer)?;
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
    let user = staff::by_id(state.store.pool(), viewer.staff.id)
        .await
        .or_page(&viewer)?
        .ok_or_else(|| viewer.fail(AppError::Unauthorized("the account is gone".into())))?;
    if !verify_password(&form.current_password, &user.password_hash).await {
        tracing::warn!(staff.username = %user.username, "a password change gave a wrong current password");
        return refuse(s.current_password_wrong);
    }
    if form.new_password != form.new_password_again {
        return refuse(s.new_passwords_differ);
    }
    match accounts::check_password(&form.new_password) {
        Ok(()) => {}
        Err(AccountError::PasswordTooLong) => return refuse(s.new_password_too_long),
        Err(_) => return refuse(s.new_password_too_short),
    }
    let hash = hash_password(&form.new_password)
        .await
        .map_err(|e| viewer.fail(AppError::Internal(e.into())))?;
    let keep = session_cookie(&headers).map(accounts::token_hash);
    let now = now_millis();
    let changed = async {
        let mut tx = state.store.begin_write().await?;
        staff::set_password(&mut tx, user.id, &hash).await?;
        let ended = sessions::delete_others(&mut tx, user.id, keep.as_deref()).await?;
        audit::record(
            &mut tx,
            &viewer.staff.actor(),
            "staff.passwd",
            &user.username,
            Some(&format!("{ended} other sessions ended")),
            now,
        )
        .await?;
        tx.commit().await
    };
    changed.await.or_page(&viewer)?;
    Ok(Redirect::to("/settings?saved=password").into_response())
}

#[cfg(test)]
mod tests {
    use crate::accounts::{MAX_PASSWORD_BYTES, MIN_PASSWORD_CHARS};
    use crate::i18n::Lang;

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
