//! What every dashboard page shares: who is looking (`Viewer`, which sends a signed-out
//! browser to the sign-in page instead of answering JSON), in which language, and the frame
//! around the page (`Chrome`: the top bar, the live connection, the section it is in).

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
            Err(e) => Err(e.into_response()),
        }
    }
}

/// The language to show `staff`: their own setting, else what the browser asks for.
pub fn lang_for(staff: &Staff, headers: &HeaderMap) -> Lang {
    let accept = headers
        .get(header::ACCEPT_LANGUAGE)
        .and_then(|v| v.to_str().ok());
    Lang::choose(staff.locale.as_deref(), accept)
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
    pub fn refuse_unless_admin(&self) -> Option<Response> {
        if self.is_admin() {
            return None;
        }
        let t = self.lang.text();
        let page = Forbidden {
            chrome: self.chrome(""),
            message: t.admins_only,
        };
        Some(render_status(StatusCode::FORBIDDEN, &page))
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

#[derive(Template)]
#[template(path = "forbidden.html")]
struct Forbidden {
    chrome: Chrome,
    message: &'static str,
}

/// A page as a 200 response (500 if the template fails, which is a bug).
pub fn render(page: &impl Template) -> Response {
    render_status(StatusCode::OK, page)
}

pub fn render_status(status: StatusCode, page: &impl Template) -> Response {
    match page.render() {
        Ok(html) => (status, [(header::CACHE_CONTROL, "no-store")], Html(html)).into_response(),
        Err(e) => AppError::Internal(e.into()).into_response(),
    }
}
