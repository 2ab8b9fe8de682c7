//! The staff accounts console: adding an account, changing a role, disabling, enabling and
//! resetting a password. The rules, the audit and the sessions that end are
//! `services::accounts`' (the command line's too); here, the forms and the page.

use askama::Template;
use axum::extract::rejection::{FormRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect};
use axum::routing::{get, post};
use axum::{Form, Router};
use serde::Deserialize;

use super::{Admin, Choice, DoneQuery, bad, choices};
use crate::app::AppState;
use crate::domain::Role;
use crate::error::{AppError, AppResult};
use crate::i18n::AdminText;
use crate::services::Caller;
use crate::services::accounts::{self, AccountError, AccountRef, MAX_DISPLAY_NAME, NewAccount};
use crate::store::staff;
use crate::web::pages::{Chrome, OrPage, PageResult, render_status};

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
    let rows = staff::list(&state.store).await.or_page(&admin.0)?;
    let users = rows
        .into_iter()
        .map(|u| {
            let role = u.role;
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

/// A refusal of `services::accounts` in the admin's language.
fn refusal(a: &AdminText, e: AccountError) -> AppError {
    match e {
        AccountError::PasswordTooShort => bad(a.password_too_short),
        AccountError::PasswordTooLong => bad(a.password_too_long),
        AccountError::BadUsername(_) => bad(a.username_invalid),
        AccountError::BadDisplayName => bad(a.display_name_invalid),
        AccountError::Taken(username) => {
            AppError::Conflict(a.username_taken.replace("{username}", &username))
        }
        AccountError::NoSuchId(_) | AccountError::NoSuchUser(_) => {
            AppError::NotFound(a.user_not_found.to_owned())
        }
        AccountError::LastAdmin(_) => bad(a.last_admin),
        AccountError::DisableYourself => bad(a.not_yourself_disable),
        AccountError::DemoteYourself => bad(a.not_yourself_demote),
        e @ (AccountError::Disabled(_)
        | AccountError::BadChannels
        | AccountError::NoSuchToken(_)
        | AccountError::WrongPassword
        | AccountError::Db(_)
        | AccountError::Hash(_)) => e.into(),
    }
}

fn parse_role(a: &AdminText, role: &str) -> AppResult<Role> {
    Role::parse(role).ok_or_else(|| bad(a.choose_role))
}

/// The account named by the path; anything but a positive number names none.
fn account(a: &AdminText, id: &str) -> AppResult<AccountRef<'static>> {
    crate::web::path_id(id)
        .map(AccountRef::Id)
        .ok_or_else(|| AppError::NotFound(a.user_not_found.to_owned()))
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
        let role = parse_role(a, &f.role)?;
        let new = NewAccount {
            username: &f.username,
            display_name: &f.display_name,
            role,
            password: &f.password,
        };
        let by = Caller::Staff(&admin.0.staff);
        accounts::add(&state.store, by, new)
            .await
            .map_err(|e| refusal(a, e))?;
        Ok("added")
    }
    .await;
    after_user_change(&state, &admin, outcome, Some(f)).await
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
        let by = Caller::Staff(&admin.0.staff);
        accounts::set_role(&state.store, by, account(a, &id)?, role)
            .await
            .map_err(|e| refusal(a, e))?;
        Ok("role")
    }
    .await;
    after_user_change(&state, &admin, outcome, None).await
}

/// Disables an account (its sessions end at once) or enables it again.
async fn set_disabled(state: &AppState, admin: &Admin, id: &str, disabled: bool) -> PageResult {
    let a = admin.a();
    let outcome = async {
        let by = Caller::Staff(&admin.0.staff);
        accounts::set_disabled(&state.store, by, account(a, id)?, disabled)
            .await
            .map_err(|e| refusal(a, e))?;
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
        let by = Caller::Staff(&admin.0.staff);
        let this_session = crate::web::auth::session_cookie(&headers);
        accounts::reset_password(
            &state.store,
            by,
            account(a, &id)?,
            &f.password,
            this_session,
        )
        .await
        .map_err(|e| refusal(a, e))?;
        Ok("password")
    }
    .await;
    after_user_change(&state, &admin, outcome, None).await
}
