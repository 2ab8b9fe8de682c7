//! What every dashboard page shares: who is looking (`Viewer`, which sends a signed-out
//! browser to the sign-in page instead of answering JSON), in which language, the frame
//! around the page (`Chrome`: the top bar, the live connection, the section it is in), and
//! how a page fails (`PageError`: the error page, never JSON).

use askama::Template;
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect, Response};

use crate::app::AppState;
use crate::domain::Role;
use crate::error::AppError;
use crate::i18n::{Lang, Text};
use crate::web::auth::Staff;

/// The signed-in staff member looking at a page, and the language to show it in.
#[derive(Debug, Clone)]
pub struct Viewer {
    pub staff: Staff,
    pub lang: Lang,
}

impl FromRequestParts<AppState> for Viewer {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Response> {
        match Staff::from_request_parts(parts, state).await {
            Ok(staff) => {
                let lang = lang_for(&staff, &parts.headers);
                Ok(Viewer { staff, lang })
            }
            Err(AppError::Unauthorized(_)) => {
                let here = parts
                    .uri
                    .path_and_query()
                    .map_or("/inbox", |pq| pq.as_str());
                let query = serde_urlencoded::to_string([("next", here)]).unwrap_or_default();
                Err(Redirect::to(&format!("/login?{query}")).into_response())
            }
            Err(e) => {
                let lang = Lang::choose(None, accept_language(&parts.headers));
                Err(PageError::bare(e, lang).into_response())
            }
        }
    }
}

/// The language to show `staff`: their own setting, else what the browser asks for.
pub fn lang_for(staff: &Staff, headers: &HeaderMap) -> Lang {
    Lang::choose(
        staff.locale.map(crate::domain::Locale::as_str),
        accept_language(headers),
    )
}

fn accept_language(headers: &HeaderMap) -> Option<&str> {
    headers
        .get(header::ACCEPT_LANGUAGE)
        .and_then(|v| v.to_str().ok())
}

impl Viewer {
    pub fn is_admin(&self) -> bool {
        self.staff.role == Role::Admin
    }

    /// The frame of a page in `section` (which top-bar link is current).
    pub fn chrome(&self, section: &'static str) -> Chrome {
        Chrome {
            t: self.lang.text(),
            lang: self.lang.code(),
            me_id: self.staff.id,
            me_name: self.staff.name.clone(),
            is_admin: self.is_admin(),
            section,
        }
    }

    /// Pages only admins may see answer others with 403 and a page saying so: the answer to
    /// send, or None for an admin.
    pub fn refuse_unless_admin(&self) -> Option<PageError> {
        if self.is_admin() {
            return None;
        }
        Some(self.fail(AppError::Forbidden(self.lang.text().admins_only.to_owned())))
    }

    /// `e` as this viewer's error page.
    pub fn fail(&self, e: impl Into<AppError>) -> PageError {
        PageError {
            error: e.into(),
            frame: Frame::Dashboard(Box::new(self.chrome("")), self.lang),
        }
    }
}

/// The frame around every signed-in page (templates/layout.html).
#[derive(Debug, Clone)]
pub struct Chrome {
    pub t: &'static Text,
    /// the `lang` attribute of the page
    pub lang: &'static str,
    pub me_id: i64,
    pub me_name: String,
    pub is_admin: bool,
    /// "inbox", "canned", "settings", "admin": the top-bar link to mark current
    pub section: &'static str,
}

/// A page that failed: the error page (templates/error.html) in the frame and language of
/// whoever was looking, with the status the error calls for. A page handler returns
/// `PageResult`; an `AppError` becomes a `PageError` only through `Viewer::fail` (or
/// `or_page(&viewer)`, or `PageError::bare` where nobody is signed in), never by `?` alone, so
/// a page cannot answer the API's JSON by accident: the route's return type decides.
#[derive(Debug)]
pub struct PageError {
    error: AppError,
    frame: Frame,
}

#[derive(Debug)]
enum Frame {
    /// a signed-in staff member's page: the top bar and their language
    Dashboard(Box<Chrome>, Lang),
    /// nobody is known to be signed in (the sign-in page, a failure to look the session up)
    Bare(Lang),
}

/// What a page handler answers.
pub type PageResult<T = Response> = Result<T, PageError>;

/// `result.or_page(&viewer)?`: a failure on a page becomes that viewer's error page.
pub trait OrPage<T> {
    fn or_page(self, viewer: &Viewer) -> PageResult<T>;
}

impl<T, E: Into<AppError>> OrPage<T> for Result<T, E> {
    fn or_page(self, viewer: &Viewer) -> PageResult<T> {
        self.map_err(|e| viewer.fail(e))
    }
}

impl PageError {
    /// The error page without the dashboard's frame, in `lang`.
    pub fn bare(e: impl Into<AppError>, lang: Lang) -> PageError {
        PageError {
            error: e.into(),
            frame: Frame::Bare(lang),
        }
    }
}

/// The error page's words, shared by both frames (templates/error_body.html).
struct ErrorWords {
    status: u16,
    heading: &'static str,
    message: String,
    /// the sentence's id: `forbidden`, `not-found` or `error`
    id: &'static str,
}

impl ErrorWords {
    fn of(e: &AppError, lang: Lang) -> ErrorWords {
        let r = lang.request();
        let heading = match e {
            AppError::Invalid(_) => r.heading_invalid,
            AppError::Unauthorized(_) => r.heading_unauthorized,
            AppError::Forbidden(_) => r.heading_forbidden,
            AppError::NotFound(_) => r.heading_not_found,
            AppError::Conflict(_) => r.heading_conflict,
            AppError::TooLarge(_) => r.heading_too_large,
            AppError::Refused { .. } => r.heading_refused,
            AppError::Unavailable(_) => r.heading_unavailable,
            AppError::Internal(_) => r.heading_internal,
        };
        ErrorWords {
            status: e.status().as_u16(),
            heading,
            message: match e {
                AppError::Internal(_) => r.internal.to_owned(),
                other => other.to_string(),
            },
            id: match e {
                AppError::Forbidden(_) => "forbidden",
                AppError::NotFound(_) => "not-found",
                _ => "error",
            },
        }
    }
}

#[derive(Template)]
#[template(path = "error.html")]
struct ErrorPage {
    chrome: Chrome,
    e: ErrorWords,
}

#[derive(Template)]
#[template(path = "error_bare.html")]
struct BareErrorPage {
    lang: &'static str,
    to_start: &'static str,
    e: ErrorWords,
}

impl IntoResponse for PageError {
    fn into_response(self) -> Response {
        let status = self.error.status();
        self.error.log();
        let html = match self.frame {
            Frame::Dashboard(chrome, lang) => ErrorPage {
                e: ErrorWords::of(&self.error, lang),
                chrome: *chrome,
            }
            .render(),
            Frame::Bare(lang) => BareErrorPage {
                lang: lang.code(),
                to_start: lang.request().to_start,
                e: ErrorWords::of(&self.error, lang),
            }
            .render(),
        };
        match html {
            Ok(html) => (status, [(header::CACHE_CONTROL, "no-store")], Html(html)).into_response(),
            Err(e) => {
                // the error page itself cannot be shown (a bug): say so in plain words
                tracing::error!(error = %e, "the error page cannot be rendered");
                (status, format!("{status}")).into_response()
            }
        }
    }
}

/// A page as a 200 response (the error page with 500 if the template fails, which is a bug).
pub fn render(page: &impl Template) -> Response {
    render_status(StatusCode::OK, page)
}

pub fn render_status(status: StatusCode, page: &impl Template) -> Response {
    match page.render() {
        Ok(html) => (status, [(header::CACHE_CONTROL, "no-store")], Html(html)).into_response(),
        Err(e) => PageError::bare(AppError::Internal(e.into()), Lang::Zh).into_response(),
    }
}
