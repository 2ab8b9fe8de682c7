//! The contact panel beside a conversation (`templates/inbox/contact.html`): who the customer
//! is, the team's note on them, and `POST /conversations/{id}/contact` to rename them and keep
//! that note.

use axum::extract::{Path, State};
use axum::response::{IntoResponse, Redirect};
use axum::routing::post;
use axum::{Form, Router};
use serde::Deserialize;

use crate::app::AppState;
use crate::error::AppError;
use crate::services;
use crate::store::conversations::{self, ConversationRow};
use crate::web::pages::{OrPage, PageError, PageResult, Viewer};
use crate::web::views::When;

pub fn router() -> Router<AppState> {
    Router::new().route("/conversations/{id}/contact", post(save_contact))
}

/// What the contact panel shows for one conversation's customer.
pub(super) struct ContactPane {
    pub first_seen: When,
    pub name: String,
    pub note: String,
    /// the page follows a save: say so
    pub saved: bool,
}

/// Reads the contact panel for `row`'s customer.
pub(super) async fn contact_pane(
    state: &AppState,
    viewer: &Viewer,
    row: &ConversationRow,
    saved: bool,
) -> Result<ContactPane, PageError> {
    let details = conversations::contact_details(state.store.pool(), row.contact_id)
        .await
        .or_page(viewer)?
        .unwrap_or(conversations::ContactDetails {
            note: String::new(),
            first_seen_at: row.created_at,
        });
    Ok(ContactPane {
        first_seen: When::at(details.first_seen_at),
        name: row.contact_name.clone().unwrap_or_default(),
        note: details.note,
        saved,
    })
}

#[derive(Debug, Deserialize)]
struct ContactForm {
    name: String,
    note: String,
}

/// `POST /conversations/{id}/contact`: rename the contact and keep a note on them.
async fn save_contact(
    State(state): State<AppState>,
    viewer: Viewer,
    Path(id): Path<String>,
    form: Result<Form<ContactForm>, axum::extract::rejection::FormRejection>,
) -> PageResult {
    let t = viewer.lang.text();
    let r = viewer.lang.request();
    let id =
        super::path_id(&id).ok_or_else(|| viewer.fail(AppError::NotFound(t.not_found.into())))?;
    let Form(form) = form.map_err(|_| viewer.fail(AppError::Invalid(r.unreadable_form.into())))?;
    let saved = services::conversations::save_contact(
        &state.store,
        &state.live,
        &viewer.staff,
        id,
        &form.name,
        &form.note,
        viewer.lang,
    )
    .await;
    match saved {
        Ok(()) => {}
        Err(AppError::NotFound(_)) => {
            return Err(viewer.fail(AppError::NotFound(t.not_found.into())));
        }
        Err(e) => return Err(viewer.fail(e)),
    }
    Ok(Redirect::to(&format!("/conversations/{id}?saved=1")).into_response())
}
