//! The customer simulator of `kefu demo` (absent otherwise): a page where a newcomer writes as
//! a customer, and sees kefu's replies arrive as the customer would (read from the fake
//! WeChat API, which received them through kefu's real outbox).

use askama::Template;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, header};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::app::AppState;
use crate::demo::Demo;
use crate::error::{AppError, AppResult};
use crate::i18n::{FirstRunText, Lang, OfficialText};
use crate::web::json::{ApiLang, Strict};
use crate::web::pages::PageError;
use crate::wechat::simulate::SimulatedKind;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/demo", get(page))
        .route("/demo/customer/push", post(push))
        .route("/demo/customer/replies", get(replies))
}

fn demo(state: &AppState, lang: Lang) -> AppResult<&Demo> {
    state
        .demo
        .as_deref()
        .ok_or_else(|| AppError::NotFound(lang.first_run().demo_only.into()))
}

#[derive(Template)]
#[template(path = "demo/customer.html")]
struct CustomerPage {
    lang: &'static str,
    w: &'static FirstRunText,
    o: &'static OfficialText,
}

async fn page(State(state): State<AppState>, headers: HeaderMap) -> Result<Response, PageError> {
    let lang = Lang::choose(
        None,
        headers
            .get(header::ACCEPT_LANGUAGE)
            .and_then(|v| v.to_str().ok()),
    );
    demo(&state, lang).map_err(|e| PageError::bare(e, lang))?;
    let page = CustomerPage {
        lang: lang.code(),
        w: lang.first_run(),
        o: lang.official(),
    };
    let html = page
        .render()
        .map_err(|e| PageError::bare(AppError::Internal(e.into()), lang))?;
    Ok(Html(html).into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct PushBody {
    pub(super) openid: String,
    pub(super) kind: String,
    #[serde(default)]
    pub(super) text: String,
    /// "officialaccount" writes to the demo's Official Account; anything else (or none) to the
    /// mini program
    #[serde(default)]
    pub(super) channel: String,
}

fn check_openid(openid: &str, lang: Lang) -> AppResult<()> {
    let ok = !openid.is_empty()
        && openid.len() <= 64
        && openid
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
    if ok {
        Ok(())
    } else {
        Err(AppError::Invalid(lang.first_run().demo_openid.into()))
    }
}

async fn push(
    State(state): State<AppState>,
    headers: HeaderMap,
    Strict(body): Strict<PushBody>,
) -> AppResult<Json<Pushed>> {
    let lang = ApiLang::from_headers(&headers);
    let w = lang.first_run();
    let demo = demo(&state, lang)?;
    check_openid(&body.openid, lang)?;
    let kind = match body.kind.as_str() {
        "text" if !body.text.trim().is_empty() => SimulatedKind::Text(body.text),
        "text" => return Err(AppError::Invalid(w.demo_write_first.into())),
        "image" => SimulatedKind::Image {
            media_id: format!("demo-photo-{}", crate::wechat::simulate::random_msg_id()),
        },
        "card" => SimulatedKind::Card {
            thumb_media_id: Some(format!(
                "demo-cover-{}",
                crate::wechat::simulate::random_msg_id()
            )),
        },
        "enter" => SimulatedKind::Enter {
            session_from: "demo-contact-button".into(),
        },
        // what an Official Account's customer sends (the demo's file is a second of silence)
        "voice" => SimulatedKind::Voice {
            media_id: format!("demo-voice-{}", crate::wechat::simulate::random_msg_id()),
            recognition: Some(match lang {
                Lang::Zh => "你好，我的快递到哪里了？".into(),
                Lang::En => "Hello, where is my parcel?".into(),
            }),
        },
        "location" => SimulatedKind::Location {
            latitude: 39.908823,
            longitude: 116.397470,
            label: match lang {
                Lang::Zh => "北京市东城区天安门".into(),
                Lang::En => "Tiananmen, Dongcheng, Beijing".into(),
            },
        },
        _ => {
            return Err(AppError::Invalid(w.demo_kind.into()));
        }
    };
    let answer = demo
        .push(&body.openid, kind, body.channel == "officialaccount")
        .await
        .map_err(AppError::Internal)?;
    Ok(Json(Pushed { answer }))
}

/// What kefu answered the simulated push (`success`, or a passive reply).
#[derive(Serialize)]
struct Pushed {
    answer: String,
}

#[derive(Deserialize)]
struct RepliesQuery {
    openid: String,
}

/// The replies the fake WeChat API took for one customer, oldest first.
#[derive(Serialize)]
struct Replies {
    replies: Vec<Reply>,
}

/// One reply as kefu sent it to WeChat (fields in alphabetical order, as the answer has
/// always had them).
#[derive(Serialize)]
struct Reply {
    at_ms: i64,
    /// the whole request body kefu sent to WeChat's API, as it was
    body: Value,
    msgtype: String,
}

async fn replies(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(q): Query<RepliesQuery>,
) -> AppResult<Json<Replies>> {
    let lang = ApiLang::from_headers(&headers);
    let demo = demo(&state, lang)?;
    check_openid(&q.openid, lang)?;
    let replies = demo
        .fake
        .sent_to(&q.openid)
        .into_iter()
        .map(|m| Reply {
            at_ms: m.at_ms,
            body: m.body,
            msgtype: m.msgtype,
        })
        .collect();
    Ok(Json(Replies { replies }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_simulator_speaks_the_browsers_language_only() {
        let page = |lang: Lang| {
            CustomerPage {
                lang: lang.code(),
                w: lang.first_run(),
                o: lang.official(),
            }
            .render()
            .unwrap()
        };
        let zh = page(Lang::Zh);
        assert!(
            zh.contains("客户模拟器") && zh.contains("lang=\"zh-CN\""),
            "{zh}"
        );
        // (not the data-* attribute names, which are the script's, not the reader's)
        for english in [
            "Customer simulator",
            "Send text",
            ">Message",
            "Replies on",
            "Sending…",
            "kefu answered",
            "Send a voice message",
            "Share a location",
        ] {
            assert!(!zh.contains(english), "{english} in\n{zh}");
        }
        let en = page(Lang::En);
        assert!(
            en.contains("Customer simulator") && !en.contains("客户模拟器"),
            "{en}"
        );
    }
}
