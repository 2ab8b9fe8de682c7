//! Canned replies: the JSON API under `/api/v1/canned-replies` and the `/canned` page with
//! its plain HTML forms. Both go through the same three operations of `services::canned`
//! (`create`, `update`, `remove`), so the rules live in one place; here, the bodies, the
//! forms and the page.
//!
//! A refusal is an `AppError` with its sentence in the staff member's language: the API
//! answers it as JSON, the page shows it above the form that was refused.

use askama::Template;
use axum::extract::rejection::FormRejection;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect};
use axum::routing::{get, post, put};
use axum::{Form, Json, Router};
use serde::{Deserialize, Serialize};

use crate::app::AppState;
use crate::domain::rfc3339;
use crate::error::{AppError, AppResult};
use crate::i18n::CannedText;
use crate::services::canned::{
    Input, MAX_BODY_CHARS, MAX_SHORTCUT_CHARS, create, not_found, remove, update,
};
use crate::store::canned::{self, CannedRow};
use crate::web::api::Person;
use crate::web::auth::Staff;
use crate::web::json::{ApiLang, Strict};
use crate::web::pages::{Chrome, OrPage, PageResult, Viewer, render, render_status};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/v1/canned-replies", get(api_list).post(api_create))
        .route(
            "/api/v1/canned-replies/{id}",
            put(api_update).delete(api_delete),
        )
        .route("/canned", get(page).post(page_create))
        .route("/canned/{id}", post(page_update))
        .route("/canned/{id}/delete", post(page_delete))
}

/// An id from the path; anything but a positive number names no reply.
fn parse_id(id: &str, c: &CannedText) -> AppResult<i64> {
    super::path_id(id).ok_or_else(|| not_found(c))
}

// ------------------------------------------------------------------------------------------
// JSON API

/// A canned reply as the API shapes it. The fields are in alphabetical order, the order the
/// answer has always had (it was a `json!` map, which sorts its keys).
#[derive(Debug, Serialize)]
pub struct CannedView {
    pub body: String,
    pub created_at: String,
    pub id: i64,
    /// None: shared with the whole team
    pub owner: Option<Person>,
    pub shared: bool,
    pub shortcut: String,
    pub updated_at: String,
}

impl CannedView {
    pub fn of(r: &CannedRow) -> CannedView {
        CannedView {
            body: r.body.clone(),
            created_at: rfc3339(r.created_at),
            id: r.id,
            owner: r.owner_id.map(|id| Person {
                id,
                name: r.owner_name.clone(),
            }),
            shared: r.is_shared(),
            shortcut: r.shortcut.clone(),
            updated_at: rfc3339(r.updated_at),
        }
    }
}

/// `GET /api/v1/canned-replies`.
#[derive(Debug, Serialize)]
pub struct CannedList {
    pub canned_replies: Vec<CannedView>,
}

/// The API's body (`POST`, and `PUT`, which replaces a reply whole). A missing shortcut or
/// body reads as empty and is refused with the same sentence as an empty one.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct CannedBody {
    #[serde(default)]
    pub(super) shortcut: String,
    #[serde(default)]
    pub(super) body: String,
    #[serde(default)]
    pub(super) shared: bool,
}

impl From<CannedBody> for Input {
    fn from(b: CannedBody) -> Input {
        Input {
            shortcut: b.shortcut,
            body: b.body,
            shared: b.shared,
        }
    }
}

async fn api_list(State(state): State<AppState>, user: Staff) -> AppResult<Json<CannedList>> {
    let rows = canned::visible_to(state.store.pool(), user.id).await?;
    Ok(Json(CannedList {
        canned_replies: rows.iter().map(CannedView::of).collect(),
    }))
}

async fn api_create(
    State(state): State<AppState>,
    user: Staff,
    ApiLang(lang): ApiLang,
    Strict(body): Strict<CannedBody>,
) -> AppResult<(StatusCode, Json<CannedView>)> {
    let row = create(&state.store, &user, body.into(), lang).await?;
    Ok((StatusCode::CREATED, Json(CannedView::of(&row))))
}

async fn api_update(
    State(state): State<AppState>,
    user: Staff,
    ApiLang(lang): ApiLang,
    Path(id): Path<String>,
    Strict(body): Strict<CannedBody>,
) -> AppResult<Json<CannedView>> {
    let c = lang.canned();
    let id = parse_id(&id, c)?;
    let row = update(&state.store, &user, id, body.into(), lang).await?;
    Ok(Json(CannedView::of(&row)))
}

async fn api_delete(
    State(state): State<AppState>,
    user: Staff,
    ApiLang(lang): ApiLang,
    Path(id): Path<String>,
) -> AppResult<StatusCode> {
    let c = lang.canned();
    let id = parse_id(&id, c)?;
    remove(&state.store, &user, id, lang).await?;
    Ok(StatusCode::NO_CONTENT)
}

// ------------------------------------------------------------------------------------------
// The page

/// What a form shows in its fields.
#[derive(Debug, Clone, Default)]
struct Fields {
    shortcut: String,
    body: String,
    shared: bool,
}

impl From<&Input> for Fields {
    fn from(i: &Input) -> Fields {
        Fields {
            shortcut: i.shortcut.clone(),
            body: i.body.clone(),
            shared: i.shared,
        }
    }
}

/// One reply in the list.
struct Item {
    id: i64,
    shortcut: String,
    body: String,
    shared: bool,
    /// whether the viewer may edit or delete it
    editable: bool,
    /// the edit form's fields: the stored reply, or what was submitted when it was refused
    fields: Fields,
    /// the edit form starts open (it was just refused)
    open: bool,
}

#[derive(Template)]
#[template(path = "canned/page.html")]
struct CannedPage {
    chrome: Chrome,
    c: &'static CannedText,
    items: Vec<Item>,
    error: Option<String>,
    /// the new-reply form's fields (kept when it was refused)
    new: Fields,
    max_shortcut: usize,
    max_body: usize,
}

/// Which form a refused submission came from, to show what was typed in it again.
enum Refused<'a> {
    New(&'a Input),
    Edit(i64, &'a Input),
    /// the delete button, or no form at all
    Other,
}

async fn render_page(
    state: &AppState,
    viewer: &Viewer,
    refused: Option<(Refused<'_>, StatusCode, String)>,
) -> PageResult {
    let rows = canned::visible_to(state.store.pool(), viewer.staff.id)
        .await
        .or_page(viewer)?;
    let admin = viewer.is_admin();
    let (status, error, new, edited) = match refused {
        None => (StatusCode::OK, None, Fields::default(), None),
        Some((from, status, message)) => {
            let (new, edited) = match from {
                Refused::New(input) => (input.into(), None),
                Refused::Edit(id, input) => (Fields::default(), Some((id, Fields::from(input)))),
                Refused::Other => (Fields::default(), None),
            };
            (status, Some(message), new, edited)
        }
    };
    let items = rows
        .into_iter()
        .map(|r| {
            let shared = r.is_shared();
            let (open, fields) = match &edited {
                Some((id, fields)) if *id == r.id => (true, fields.clone()),
                _ => (
                    false,
                    Fields {
                        shortcut: r.shortcut.clone(),
                        body: r.body.clone(),
                        shared,
                    },
                ),
            };
            Item {
                id: r.id,
                shortcut: r.shortcut,
                body: r.body,
                shared,
                editable: admin || !shared,
                fields,
                open,
            }
        })
        .collect();
    let page = CannedPage {
        chrome: viewer.chrome("canned"),
        c: viewer.lang.canned(),
        items,
        error,
        new,
        max_shortcut: MAX_SHORTCUT_CHARS,
        max_body: MAX_BODY_CHARS,
    };
    Ok(if status == StatusCode::OK {
        render(&page)
    } else {
        render_status(status, &page)
    })
}

/// The outcome of a form: back to the list (303), or the page again saying what was wrong.
/// The outcome of a form: back to the list (303), the page again saying what was wrong, or
/// the error page for a failure of kefu's own.
async fn answer(
    state: &AppState,
    viewer: &Viewer,
    from: Refused<'_>,
    outcome: AppResult<()>,
) -> PageResult {
    match outcome {
        Ok(()) => Ok(Redirect::to("/canned").into_response()),
        Err(e @ AppError::Internal(_)) => Err(viewer.fail(e)),
        Err(e) => render_page(state, viewer, Some((from, e.status(), e.to_string()))).await,
    }
}

async fn page(State(state): State<AppState>, viewer: Viewer) -> PageResult {
    render_page(&state, &viewer, None).await
}

/// The page's form. A checkbox is sent only when ticked; missing text fields read as empty.
#[derive(Debug, Deserialize)]
struct PageForm {
    #[serde(default)]
    shortcut: String,
    #[serde(default)]
    body: String,
    shared: Option<String>,
}

impl From<PageForm> for Input {
    fn from(f: PageForm) -> Input {
        Input {
            shortcut: f.shortcut,
            body: f.body,
            shared: f.shared.is_some(),
        }
    }
}

async fn unreadable(state: &AppState, viewer: &Viewer) -> PageResult {
    let message = viewer.lang.canned().unreadable_form.to_owned();
    render_page(
        state,
        viewer,
        Some((Refused::Other, StatusCode::BAD_REQUEST, message)),
    )
    .await
}

async fn page_create(
    State(state): State<AppState>,
    viewer: Viewer,
    form: Result<Form<PageForm>, FormRejection>,
) -> PageResult {
    let Ok(Form(form)) = form else {
        return unreadable(&state, &viewer).await;
    };
    let input = Input::from(form);
    let outcome = create(&state.store, &viewer.staff, input.clone(), viewer.lang)
        .await
        .map(|_| ());
    answer(&state, &viewer, Refused::New(&input), outcome).await
}

async fn page_update(
    State(state): State<AppState>,
    viewer: Viewer,
    Path(id): Path<String>,
    form: Result<Form<PageForm>, FormRejection>,
) -> PageResult {
    let Ok(Form(form)) = form else {
        return unreadable(&state, &viewer).await;
    };
    let c = viewer.lang.canned();
    let input = Input::from(form);
    let (from, outcome) = match parse_id(&id, c) {
        Ok(id) => (
            Refused::Edit(id, &input),
            update(&state.store, &viewer.staff, id, input.clone(), viewer.lang)
                .await
                .map(|_| ()),
        ),
        Err(e) => (Refused::Other, Err(e)),
    };
    answer(&state, &viewer, from, outcome).await
}

async fn page_delete(
    State(state): State<AppState>,
    viewer: Viewer,
    Path(id): Path<String>,
) -> PageResult {
    let c = viewer.lang.canned();
    let outcome = match parse_id(&id, c) {
        Ok(id) => remove(&state.store, &viewer.staff, id, viewer.lang).await,
        Err(e) => Err(e),
    };
    answer(&state, &viewer, Refused::Other, outcome).await
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A canned reply as the API showed it when it was built with `json!` (whose map sorts its
    /// keys): the typed view must give the very same bytes.
    #[test]
    fn a_canned_reply_is_the_same_json_byte_for_byte() {
        for owner in [Some(5), None] {
            let r = CannedRow {
                id: 9,
                owner_id: owner,
                owner_name: owner.map(|_| "Alice".to_owned()),
                shortcut: "退款".into(),
                body: "line one\nline \"two\"".into(),
                created_at: 1_700_000_000_000,
                updated_at: 1_700_000_100_000,
            };
            let before = serde_json::json!({
                "id": r.id,
                "shortcut": r.shortcut,
                "body": r.body,
                "shared": r.is_shared(),
                "owner": r.owner_id.map(|id| serde_json::json!({ "id": id, "name": r.owner_name })),
                "created_at": rfc3339(r.created_at),
                "updated_at": rfc3339(r.updated_at),
            });
            assert_eq!(
                serde_json::to_string(&CannedView::of(&r)).unwrap(),
                before.to_string()
            );
        }
    }
}
