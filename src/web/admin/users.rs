//! The staff accounts console: adding an account, changing a role, disabling, enabling and
//! resetting a password, each audited in the same transaction as the change.

use askama::Template;
use axum::extract::rejection::{FormRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect};
use axum::routing::{get, post};
use axum::{Form, Router};
use serde::Deserialize;

use super::{Admin, Choice, DoneQuery, bad, choices};
use crate::accounts::{self, AccountError};
use crate::app::AppState;
use crate::domain::{Role, now_millis};
use crate::error::{AppError, AppResult};
use crate::i18n::AdminText;
use crate::store::{audit, sessions, staff};
use crate::web::pages::{Chrome, OrPage, PageResult, render_status};

/// Longest display name, in characters.
const MAX_DISPLAY_NAME: usize = 64;

/// The routes of the staff accounts console; every handler takes `Admin`, so only admins get in.
pub(super) fn router() -> Router<AppState> {
    Router::new()
        .route("/admin/users", get(users_page).post(add_user))
        .route("/admin/users/{id}/role", post(set_role))
        .route("/admin/users/{id}/disable", post(disable_user))
        .route("/admin/users/{id}/enable", post(enable_user))
        .route("/admin/users/{id}/password", post(reset_password))
}

struct UserItem {
    id: i64,
    username: String,
    display_name: String,
    role: &'static str,
    role_label: &'static str,
    roles: Vec<Choice>,
    disabled: bool,
    is_me: bool,
}

/// The new-account form's fields (the password is never shown again).
#[derive(Debug, Clone, Deserialize)]
struct NewUserForm {
    #[serde(default)]
    username: String,
    #[serde(default)]
    display_name: String,
    #[serde(default)]
    role: String,
    #[serde(default)]
    password: String,
}

impl Default for NewUserForm {
    fn default() -> Self {
        NewUserForm {
            username: String::new(),
            display_name: String::new(),
            role: Role::Agent.as_str().to_owned(),
            password: String::new(),
        }
    }
}

#[derive(Template)]
#[template(path = "admin/users.html")]
struct UsersPage {
    chrome: Chrome,
    a: &'static AdminText,
    tab: &'static str,
    users: Vec<UserItem>,
    new: NewUserForm,
    new_roles: Vec<Choice>,
    notice: Option<&'static str>,
    error: Option<String>,
    min_password: usize,
    max_display_name: usize,
}

fn role_label(a: &AdminText, role: Role) -> &'static str {
    match role {
        Role::Admin => a.role_admin,
        Role::Agent => a.role_agent,
    }
}

fn role_choices(a: &AdminText, current: &str) -> Vec<Choice> {
    choices(
        &[
            (Role::Agent.as_str(), a.role_agent),
            (Role::Admin.as_str(), a.role_admin),
        ],
        current,
    )
}

async fn render_users(
    state: &AppState,
    admin: &Admin,
    status: StatusCode,
    notice: Option<&'static str>,
    refused: Option<(String, NewUserForm)>,
) -> PageResult {
    let a = admin.a();
    let rows = staff::list(state.store.pool()).await.or_page(&admin.0)?;
    let users = rows
        .into_iter()
        .map(|u| {
            let role = u.role();
            UserItem {
                id: u.id,
                is_me: u.id == admin.0.staff.id,
                role: role.as_str(),
                role_label: role_label(a, role),
                roles: role_choices(a, role.as_str()),
                disabled: u.disabled,
                username: u.username,
                display_name: u.display_name,
            }
        })
        .collect();
    let (error, mut new) = match refused {
        Some((error, form)) => (Some(error), form),
        None => (None, NewUserForm::default()),
    };
    new.password.clear();
    let page = UsersPage {
        chrome: admin.chrome(),
        a,
        tab: "users",
        new_roles: role_choices(a, &new.role),
        users,
        new,
        notice,
        error,
        min_password: accounts::MIN_PASSWORD_CHARS,
        max_display_name: MAX_DISPLAY_NAME,
    };
    Ok(render_status(status, &page))
}

async fn users_page(
    State(state): State<AppState>,
    admin: Admin,
    query: Result<Query<DoneQuery>, QueryRejection>,
) -> PageResult {
    let a = admin.a();
    let done = query.ok().and_then(|Query(q)| q.done);
    let notice = match done.as_deref() {
        Some("added") => Some(a.user_added),
        Some("role") => Some(a.role_changed),
        Some("disabled") => Some(a.user_disabled),
        Some("enabled") => Some(a.user_enabled),
        Some("password") => Some(a.password_reset),
        _ => None,
    };
    render_users(&state, &admin, StatusCode::OK, notice, None).await
}

/// The outcome of a users form: back to the list with what was done, or the list with the
/// reason (and what was typed into the new-account form, when it came from there).
async fn after_user_change(
    state: &AppState,
    admin: &Admin,
    outcome: AppResult<&'static str>,
    typed: Option<NewUserForm>,
) -> PageResult {
    match outcome {
        Ok(done) => Ok(Redirect::to(&format!("/admin/users?done={done}")).into_response()),
        Err(e) => {
            let (status, message) = admin.refused(e)?;
            let refused = Some((message, typed.unwrap_or_default()));
            render_users(state, admin, status, None, refused).await
        }
    }
}

fn password_refusal(a: &AdminText, e: &AccountError) -> Option<AppError> {
    match e {
        AccountError::PasswordTooShort => Some(bad(a.password_too_short)),
        AccountError::PasswordTooLong => Some(bad(a.password_too_long)),
        _ => None,
    }
}

fn parse_role(a: &AdminText, role: &str) -> AppResult<Role> {
    Role::parse(role).ok_or_else(|| bad(a.choose_role))
}

/// `POST /admin/users`: a new staff account, audited as `staff.add`.
async fn add_user(
    State(state): State<AppState>,
    admin: Admin,
    form: Result<Form<NewUserForm>, FormRejection>,
) -> PageResult {
    let a = admin.a();
    let Ok(Form(f)) = form else {
        let outcome = Err(bad(a.unreadable_form));
        return after_user_change(&state, &admin, outcome, None).await;
    };
    let outcome = async {
        let username = f.username.trim();
        if accounts::check_username(username).is_err() {
            return Err(bad(a.username_invalid));
        }
        let display_name = match f.display_name.trim() {
            "" => username,
            name => name,
        };
        if display_name.chars().count() > MAX_DISPLAY_NAME
            || display_name.chars().any(char::is_control)
        {
            return Err(bad(a.display_name_invalid));
        }
        let role = parse_role(a, &f.role)?;
        if let Err(e) = accounts::check_password(&f.password) {
            return Err(password_refusal(a, &e).unwrap_or_else(|| bad(a.unreadable_form)));
        }
        let hash = accounts::hash_password(&f.password)
            .await
            .map_err(|e| AppError::Internal(e.into()))?;
        let now = now_millis();
        let mut tx = state.store.begin_write().await?;
        match staff::create(&mut tx, username, display_name, role, &hash, now).await {
            Ok(_) => {}
            Err(staff::CreateUserError::Taken(_)) => {
                return Err(AppError::Conflict(
                    a.username_taken.replace("{username}", username),
                ));
            }
            Err(staff::CreateUserError::Db(e)) => return Err(e.into()),
        }
        audit::record(
            &mut tx,
            &admin.0.staff.actor(),
            "staff.add",
            username,
            Some(&format!("{} ({})", display_name, role.as_str())),
            now,
        )
        .await?;
        tx.commit().await?;
        Ok("added")
    }
    .await;
    after_user_change(&state, &admin, outcome, Some(f)).await
}

/// The account `id` as it stands in `tx`.
async fn account(
    tx: &mut sqlx::SqliteConnection,
    a: &AdminText,
    id: &str,
) -> AppResult<staff::StaffRow> {
    let missing = || AppError::NotFound(a.user_not_found.to_owned());
    let id = crate::web::path_id(id).ok_or_else(missing)?;
    staff::by_id_in(tx, id).await?.ok_or_else(missing)
}

/// Refuses to take away the last enabled admin: the console would have no one left to
/// run it. Checked in the transaction that makes the change.
async fn keep_an_admin(
    tx: &mut sqlx::SqliteConnection,
    a: &AdminText,
    user: &staff::StaffRow,
) -> AppResult<()> {
    if user.role() == Role::Admin
        && !user.disabled
        && staff::count_other_enabled_admins(tx, user.id).await? == 0
    {
        return Err(bad(a.last_admin));
    }
    Ok(())
}

#[derive(Debug, Deserialize)]
struct RoleForm {
    #[serde(default)]
    role: String,
}

async fn set_role(
    State(state): State<AppState>,
    admin: Admin,
    Path(id): Path<String>,
    form: Result<Form<RoleForm>, FormRejection>,
) -> PageResult {
    let a = admin.a();
    let outcome = async {
        let Ok(Form(f)) = form else {
            return Err(bad(a.unreadable_form));
        };
        let role = parse_role(a, &f.role)?;
        let now = now_millis();
        let mut tx = state.store.begin_write().await?;
        let user = account(&mut tx, a, &id).await?;
        if user.role() == role {
            return Ok("role");
        }
        if role != Role::Admin {
            if user.id == admin.0.staff.id {
                return Err(bad(a.not_yourself_demote));
            }
            keep_an_admin(&mut tx, a, &user).await?;
        }
        staff::set_role(&mut tx, user.id, role).await?;
        audit::record(
            &mut tx,
            &admin.0.staff.actor(),
            "staff.role",
            &user.username,
            Some(role.as_str()),
            now,
        )
        .await?;
        tx.commit().await?;
        Ok("role")
    }
    .await;
    after_user_change(&state, &admin, outcome, None).await
}

/// Disables an account and ends its sessions at once (its API tokens stop working too: they
/// are honoured only for enabled accounts), or enables it again.
async fn set_disabled(state: &AppState, admin: &Admin, id: &str, disabled: bool) -> PageResult {
    let a = admin.a();
    let outcome = async {
        let now = now_millis();
        let mut tx = state.store.begin_write().await?;
        let user = account(&mut tx, a, id).await?;
        if user.disabled == disabled {
            return Ok(if disabled { "disabled" } else { "enabled" });
        }
        let detail = if disabled {
            if user.id == admin.0.staff.id {
                return Err(bad(a.not_yourself_disable));
            }
            keep_an_admin(&mut tx, a, &user).await?;
            staff::set_disabled(&mut tx, user.id, true).await?;
            let ended = sessions::delete_others(&mut tx, user.id, None).await?;
            Some(format!("{ended} sessions ended"))
        } else {
            staff::set_disabled(&mut tx, user.id, false).await?;
            None
        };
        let action = if disabled {
            "staff.disable"
        } else {
            "staff.enable"
        };
        audit::record(
            &mut tx,
            &admin.0.staff.actor(),
            action,
            &user.username,
            detail.as_deref(),
            now,
        )
        .await?;
        tx.commit().await?;
        Ok(if disabled { "disabled" } else { "enabled" })
    }
    .await;
    after_user_change(state, admin, outcome, None).await
}

async fn disable_user(
    State(state): State<AppState>,
    admin: Admin,
    Path(id): Path<String>,
) -> PageResult {
    set_disabled(&state, &admin, &id, true).await
}

async fn enable_user(
    State(state): State<AppState>,
    admin: Admin,
    Path(id): Path<String>,
) -> PageResult {
    set_disabled(&state, &admin, &id, false).await
}

#[derive(Debug, Deserialize)]
struct PasswordForm {
    #[serde(default)]
    password: String,
}

/// Sets a new password and ends the account's sessions: whoever knew the old one is signed
/// out. An admin resetting their own keeps the session they did it from.
async fn reset_password(
    State(state): State<AppState>,
    admin: Admin,
    headers: axum::http::HeaderMap,
    Path(id): Path<String>,
    form: Result<Form<PasswordForm>, FormRejection>,
) -> PageResult {
    let a = admin.a();
    let outcome = async {
        let Ok(Form(f)) = form else {
            return Err(bad(a.unreadable_form));
        };
        if let Err(e) = accounts::check_password(&f.password) {
            return Err(password_refusal(a, &e).unwrap_or_else(|| bad(a.unreadable_form)));
        }
        let hash = accounts::hash_password(&f.password)
            .await
            .map_err(|e| AppError::Internal(e.into()))?;
        let now = now_millis();
        let mut tx = state.store.begin_write().await?;
        let user = account(&mut tx, a, &id).await?;
        let keep = (user.id == admin.0.staff.id)
            .then(|| crate::web::auth::session_cookie(&headers).map(accounts::token_hash))
            .flatten();
        staff::set_password(&mut tx, user.id, &hash).await?;
        let ended = sessions::delete_others(&mut tx, user.id, keep.as_deref()).await?;
        audit::record(
            &mut tx,
            &admin.0.staff.actor(),
            "staff.passwd",
            &user.username,
            Some(&format!("reset by an admin; {ended} sessions ended")),
            now,
        )
        .await?;
        tx.commit().await?;
        Ok("password")
    }
    .await;
    after_user_change(&state, &admin, outcome, None).await
}
