//! The labels console (`/admin/labels`): the labels agents put on conversations, each a name
//! and a colour from `views::PALETTE` (so a chip's text stays readable); create and delete.
//! Saved through `services::labels` (the same checks, audit and live event as the JSON API):
//! deleting a label takes it off every conversation and open lists drop its chips.

use askama::Template;
use axum::extract::rejection::{FormRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect};
use axum::routing::{get, post};
use axum::{Form, Router};
use serde::Deserialize;

use super::{Admin, DoneQuery, bad};
use crate::app::AppState;
use crate::error::AppError;
use crate::i18n::{AdminText, ListText, fill};
use crate::services;
use crate::web::pages::{Chrome, OrPage, PageResult, render_status};
use crate::web::views::{LabelChip, PALETTE};

/// The routes of the labels console; every handler takes `Admin`, so only admins get in.
pub(super) fn router() -> Router<AppState> {
    Router::new()
        .route("/admin/labels", get(labels_page).post(create))
        .route("/admin/labels/{id}/delete", post(delete))
}

/// A colour of the palette, as the form offers it.
struct Swatch {
    value: &'static str,
    class: &'static str,
    name: &'static str,
    checked: bool,
}

struct LabelItem {
    chip: LabelChip,
    confirm: String,
}

#[derive(Template)]
#[template(path = "admin/labels.html")]
struct LabelsPage {
    chrome: Chrome,
    a: &'static AdminText,
    l: &'static ListText,
    tab: &'static str,
    labels: Vec<LabelItem>,
    swatches: Vec<Swatch>,
    name: String,
    notice: Option<&'static str>,
    error: Option<String>,
    max_name: usize,
}

#[derive(Debug, Default, Deserialize)]
struct LabelForm {
    #[serde(default)]
    name: String,
    #[serde(default)]
    color: String,
}

async fn render_labels(
    state: &AppState,
    admin: &Admin,
    status: StatusCode,
    notice: Option<&'static str>,
    refused: Option<(String, LabelForm)>,
) -> PageResult {
    let l = admin.0.lang.list();
    let rows = services::labels::list(&state.store)
        .await
        .or_page(&admin.0)?;
    let labels = rows
        .iter()
        .map(|row| LabelItem {
            chip: LabelChip::of(row),
            confirm: fill(l.delete_label_confirm, &[("name", &row.name)]),
        })
        .collect();
    let (error, typed) = match refused {
        Some((e, form)) => (Some(e), form),
        None => (None, LabelForm::default()),
    };
    let swatches = PALETTE
        .iter()
        .enumerate()
        .map(|(i, p)| Swatch {
            value: p.color,
            class: p.class,
            name: (p.name)(l),
            checked: if typed.color.is_empty() {
                i == 0
            } else {
                typed.color.eq_ignore_ascii_case(p.color)
            },
        })
        .collect();
    let page = LabelsPage {
        chrome: admin.chrome(),
        a: admin.a(),
        l,
        tab: "labels",
        labels,
        swatches,
        name: typed.name,
        notice,
        error,
        max_name: services::labels::MAX_NAME,
    };
    Ok(render_status(status, &page))
}

async fn labels_page(
    State(state): State<AppState>,
    admin: Admin,
    query: Result<Query<DoneQuery>, QueryRejection>,
) -> PageResult {
    let l = admin.0.lang.list();
    let notice = match query.ok().and_then(|Query(q)| q.done).as_deref() {
        Some("created") => Some(l.label_created),
        Some("deleted") => Some(l.label_deleted),
        _ => None,
    };
    render_labels(&state, &admin, StatusCode::OK, notice, None).await
}

/// `POST /admin/labels`: a new label; its colour must be one of the palette's.
async fn create(
    State(state): State<AppState>,
    admin: Admin,
    form: Result<Form<LabelForm>, FormRejection>,
) -> PageResult {
    let l = admin.0.lang.list();
    let r = admin.0.lang.request();
    let Ok(Form(form)) = form else {
        let refused = Some((r.unreadable_form.to_owned(), LabelForm::default()));
        return render_labels(&state, &admin, StatusCode::BAD_REQUEST, None, refused).await;
    };
    let outcome = if PALETTE.iter().any(|p| p.color == form.color) {
        services::labels::create(
            &state.store,
            &admin.0.staff,
            &form.name,
            &form.color,
            admin.0.lang,
        )
        .await
        .map(|_| ())
    } else {
        Err(bad(r.label_color))
    };
    match outcome {
        Ok(()) => Ok(Redirect::to("/admin/labels?done=created").into_response()),
        Err(e) => {
            let (status, message) = admin.refused(e)?;
            let message = fill(l.label_refused, &[("reason", &message)]);
            render_labels(&state, &admin, status, None, Some((message, form))).await
        }
    }
}

/// `POST /admin/labels/{id}/delete`.
async fn delete(State(state): State<AppState>, admin: Admin, Path(id): Path<String>) -> PageResult {
    let l = admin.0.lang.list();
    let outcome = match crate::web::path_id(&id) {
        Some(id) => {
            let (store, live) = (&state.store, &state.live);
            services::labels::delete(store, live, &admin.0.staff, id, admin.0.lang).await
        }
        None => Err(AppError::NotFound(String::new())),
    };
    match outcome {
        Ok(()) => Ok(Redirect::to("/admin/labels?done=deleted").into_response()),
        Err(AppError::NotFound(_)) => {
            let refused = Some((l.label_not_found.to_owned(), LabelForm::default()));
            render_labels(&state, &admin, StatusCode::NOT_FOUND, None, refused).await
        }
        Err(e) => {
            let (status, message) = admin.refused(e)?;
            let refused = Some((message, LabelForm::default()));
            render_labels(&state, &admin, status, None, refused).await
        }
    }
}
