//! Search across all history: `GET /api/v1/search` (docs/CONTRACT.md "Search") and the
//! `/search` page, one reading of the parameters and one search for both. What matches, and
//! how the index answers, is `search`'s; the SQL is `store::search`'s.
//!
//! An agent limited to some channels finds only their messages (`Filter::within`). The page
//! marks each match in its snippet by cutting the snippet into pieces (`Query::pieces`) that
//! the template writes as text, escaped like any customer text; no HTML is built here.

use std::collections::HashSet;

use askama::Template;
use axum::Router;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::response::IntoResponse;
use axum::routing::get;
use axum::{Json, http::header};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::app::AppState;
use crate::domain::{ConversationStatus, Millis};
use crate::error::{AppError, AppResult};
use crate::i18n::{Lang, SearchText, fill};
use crate::search::{self, QueryProblem};
use crate::services::Staff;
use crate::store::conversations::{self, AssigneeFilter, ConversationRow};
use crate::store::messages::{self, MessageRow};
use crate::store::search::{self as search_store, Filter};
use crate::web::api::{ChannelBadge, ConversationJson, MessageView};
use crate::web::json::ApiLang;
use crate::web::pages::{Chrome, OrPage, PageResult, Viewer, render};
use crate::web::views::{self, When, status_label};

/// Results per page, unless `limit` says otherwise; and the most `limit` may ask for.
const DEFAULT_LIMIT: usize = 20;
const MAX_LIMIT: usize = 100;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/v1/search", get(api_search))
        .route("/search", get(page))
}

/// The parameters, as given. An empty value (a form's "any") is the same as none; a parameter
/// kefu does not know is refused, so that a misspelt filter is not quietly ignored.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct Params {
    q: Option<String>,
    channel: Option<String>,
    status: Option<String>,
    assignee: Option<String>,
    from: Option<String>,
    to: Option<String>,
    limit: Option<String>,
    before: Option<String>,
}

fn given(v: &Option<String>) -> Option<&str> {
    v.as_deref().filter(|v| !v.is_empty())
}

/// A search, checked.
struct Search {
    query: search::Query,
    filter: Filter,
    limit: usize,
}

/// How a time parameter is read: the API takes RFC 3339 only; the page's date fields give a
/// day, taken in China's time (+08:00), `to` included.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Times {
    Rfc3339,
    DatesToo,
}

fn parse_time(v: &str, times: Times, end_of_day: bool) -> Option<Millis> {
    if let Ok(t) = OffsetDateTime::parse(v, &Rfc3339) {
        return Some((t.unix_timestamp_nanos() / 1_000_000) as Millis);
    }
    if times == Times::DatesToo && v.len() == 10 {
        let t = OffsetDateTime::parse(&format!("{v}T00:00:00+08:00"), &Rfc3339).ok()?;
        let ms = (t.unix_timestamp_nanos() / 1_000_000) as Millis;
        return Some(if end_of_day { ms + 86_400_000 } else { ms });
    }
    None
}

fn parse(
    state: &AppState,
    user: &Staff,
    p: &Params,
    lang: Lang,
    times: Times,
) -> AppResult<Search> {
    let r = lang.request();
    let s = lang.search();
    let query = search::Query::parse(p.q.as_deref().unwrap_or_default()).map_err(|e| {
        AppError::Invalid(match e {
            QueryProblem::Empty => s.q_empty.to_owned(),
            QueryProblem::TooLong => fill(
                s.q_too_long,
                &[("max", &search::MAX_QUERY_CHARS.to_string())],
            ),
        })
    })?;
    let channel = match given(&p.channel) {
        None => None,
        Some(name) => Some(
            state
                .channels
                .by_name(name)
                .ok_or_else(|| AppError::Invalid(fill(s.query_channel, &[("name", name)])))?
                .id(),
        ),
    };
    let status = match given(&p.status) {
        None | Some("all") => None,
        Some(v) => Some(
            ConversationStatus::parse(v).ok_or_else(|| AppError::Invalid(r.query_status.into()))?,
        ),
    };
    let assignee = match given(&p.assignee) {
        None | Some("any") => AssigneeFilter::Any,
        Some("me") => AssigneeFilter::User(user.id),
        Some("none") => AssigneeFilter::Nobody,
        Some(id) => AssigneeFilter::User(
            id.parse()
                .map_err(|_| AppError::Invalid(r.query_assignee.into()))?,
        ),
    };
    let from = match given(&p.from) {
        None => None,
        Some(v) => Some(
            parse_time(v, times, false).ok_or_else(|| AppError::Invalid(s.query_from.into()))?,
        ),
    };
    let to = match given(&p.to) {
        None => None,
        Some(v) => {
            Some(parse_time(v, times, true).ok_or_else(|| AppError::Invalid(s.query_to.into()))?)
        }
    };
    if let (Some(from), Some(to)) = (from, to)
        && to <= from
    {
        return Err(AppError::Invalid(s.query_range.into()));
    }
    let limit = match p.limit.as_deref() {
        None => DEFAULT_LIMIT,
        Some(l) => l
            .parse::<usize>()
            .ok()
            .filter(|l| (1..=MAX_LIMIT).contains(l))
            .ok_or_else(|| {
                AppError::Invalid(fill(r.query_limit, &[("max", &MAX_LIMIT.to_string())]))
            })?,
    };
    let before = match given(&p.before) {
        None => None,
        Some(c) => {
            Some(crate::web::path_id(c).ok_or_else(|| AppError::Invalid(r.query_cursor.into()))?)
        }
    };
    Ok(Search {
        query,
        filter: Filter {
            channel,
            within: user.channels.clone(),
            status,
            assignee,
            from,
            to,
            before,
        },
        limit,
    })
}

/// One result: the message, its conversation, and the snippet around the first match.
struct Hit {
    message: MessageRow,
    conversation: ConversationRow,
    snippet: String,
}

/// A page of results, newest first, and the cursor of the next page.
async fn run(state: &AppState, search: &Search) -> AppResult<(Vec<Hit>, Option<String>)> {
    let pool = state.store.pool();
    let started = std::time::Instant::now();
    let mut ids = search_store::find(pool, &search.query, &search.filter, search.limit + 1).await?;
    let more = ids.len() > search.limit;
    ids.truncate(search.limit);
    let rows = messages::by_ids(&state.store, &ids).await?;
    let conversation_ids: Vec<i64> = rows
        .iter()
        .map(|m| m.conversation_id)
        .collect::<HashSet<_>>()
        .into_iter()
        .collect();
    let conversation_rows = conversations::by_ids(&state.store, &conversation_ids).await?;
    let mut hits = Vec::with_capacity(ids.len());
    for id in &ids {
        let Some(message) = rows.iter().find(|m| m.id == *id) else {
            continue;
        };
        let Some(conversation) = conversation_rows
            .iter()
            .find(|c| c.id == message.conversation_id)
        else {
            continue;
        };
        hits.push(Hit {
            snippet: search.query.snippet(&message.content).unwrap_or_default(),
            message: message.clone(),
            conversation: conversation.clone(),
        });
    }
    metrics::histogram!("kefu_search_seconds").record(started.elapsed().as_secs_f64());
    let next = more.then(|| ids.last().map(i64::to_string)).flatten();
    Ok((hits, next))
}

// ---------------------------------------------------------------------------------------------
// The API

/// `GET /api/v1/search`.
#[derive(Debug, Serialize)]
pub struct SearchResults {
    pub results: Vec<SearchResult>,
    pub next: Option<String>,
}

#[derive(Debug, Serialize)]
pub struct SearchResult {
    pub message: MessageView,
    pub conversation: ConversationJson,
    pub snippet: String,
}

async fn api_search(
    State(state): State<AppState>,
    user: crate::web::auth::Staff,
    ApiLang(lang): ApiLang,
    params: Result<Query<Params>, QueryRejection>,
) -> AppResult<Json<SearchResults>> {
    let Query(params) = params.map_err(|e| AppError::Invalid(e.body_text()))?;
    let search = parse(&state, &user, &params, lang, Times::Rfc3339)?;
    let (hits, next) = run(&state, &search).await?;
    let conversations =
        crate::web::api::conversations_json(&state, hits.iter().map(|h| &h.conversation)).await?;
    let results = hits
        .into_iter()
        .zip(conversations)
        .map(|(h, conversation)| SearchResult {
            message: MessageView::of(&h.message),
            conversation,
            snippet: h.snippet,
        })
        .collect();
    Ok(Json(SearchResults { results, next }))
}

// ---------------------------------------------------------------------------------------------
// The page

/// A piece of a snippet: a match (marked) or the text around it.
struct PieceView {
    text: String,
    matched: bool,
}

struct ResultView {
    /// the conversation, at this message
    href: String,
    message_id: i64,
    customer: String,
    /// who wrote the message
    sender: String,
    at: When,
    status: &'static str,
    status_label: &'static str,
    /// the channel's name when kefu serves several
    channel: String,
    pieces: Vec<PieceView>,
}

struct Choice {
    value: String,
    label: String,
    selected: bool,
}

#[derive(Template)]
#[template(path = "search/page.html")]
struct SearchPage {
    chrome: Chrome,
    s: &'static SearchText,
    q: String,
    from: String,
    to: String,
    channels: Vec<Choice>,
    statuses: Vec<Choice>,
    assignees: Vec<Choice>,
    /// a search was made (else only the form)
    searched: bool,
    error: Option<String>,
    results: Vec<ResultView>,
    /// the next page's address
    more: Option<String>,
}

fn choices(options: &[(&str, &str)], current: Option<&str>) -> Vec<Choice> {
    options
        .iter()
        .map(|(value, label)| Choice {
            value: (*value).to_owned(),
            label: (*label).to_owned(),
            selected: current.unwrap_or_default() == *value,
        })
        .collect()
}

async fn page(
    State(state): State<AppState>,
    viewer: Viewer,
    params: Result<Query<Params>, QueryRejection>,
) -> PageResult {
    let lang = viewer.lang;
    let t = lang.text();
    let s = lang.search();
    let params = match params {
        Ok(Query(p)) => p,
        Err(e) => return Err(viewer.fail(AppError::Invalid(e.body_text()))),
    };
    let mut channels = vec![Choice {
        value: String::new(),
        label: s.any_channel.to_owned(),
        selected: given(&params.channel).is_none(),
    }];
    for e in state.channels.all() {
        if !viewer.staff.sees_channel(e.id()) {
            continue;
        }
        let name = e.channel.name.to_string();
        channels.push(Choice {
            selected: given(&params.channel) == Some(name.as_str()),
            label: name.clone(),
            value: name,
        });
    }
    if channels.len() == 2 {
        // one channel: nothing to choose
        channels.clear();
    }
    let statuses = choices(
        &[
            ("", s.any_status),
            ("open", t.open),
            ("pending", t.pending),
            ("resolved", t.resolved),
        ],
        given(&params.status),
    );
    let assignees = choices(
        &[("", s.anyone), ("me", s.me), ("none", s.nobody)],
        given(&params.assignee),
    );
    let mut page = SearchPage {
        chrome: viewer.chrome("search"),
        s,
        q: params.q.clone().unwrap_or_default(),
        from: params.from.clone().unwrap_or_default(),
        to: params.to.clone().unwrap_or_default(),
        channels,
        statuses,
        assignees,
        searched: false,
        error: None,
        results: Vec::new(),
        more: None,
    };
    if given(&params.q).is_none() {
        return Ok(render(&page));
    }
    let search = match parse(&state, &viewer.staff, &params, lang, Times::DatesToo) {
        Ok(search) => search,
        Err(AppError::Invalid(sentence)) => {
            page.error = Some(sentence);
            let mut answer = render(&page).into_response();
            *answer.status_mut() = axum::http::StatusCode::BAD_REQUEST;
            return Ok(answer);
        }
        Err(e) => return Err(viewer.fail(e)),
    };
    let (hits, next) = run(&state, &search).await.or_page(&viewer)?;
    let l = lang.list();
    page.searched = true;
    page.results = hits
        .iter()
        .map(|h| {
            let c = &h.conversation;
            let m = &h.message;
            ResultView {
                // the page of messages ending with this one, scrolled to it
                href: format!("/conversations/{}?before={}#msg-{}", c.id, m.id + 1, m.id),
                message_id: m.id,
                customer: views::customer_name(c.contact_name.as_deref(), &c.openid, l),
                sender: match m.sender_kind {
                    crate::domain::SenderKind::Customer => t.customer.to_owned(),
                    crate::domain::SenderKind::Agent => m
                        .sender_name
                        .clone()
                        .filter(|n| !n.is_empty())
                        .unwrap_or_else(|| t.handler_human.to_owned()),
                    crate::domain::SenderKind::Bot => t.bot.to_owned(),
                    crate::domain::SenderKind::System => t.system.to_owned(),
                },
                at: When::at(m.created_at),
                status: c.status.as_str(),
                status_label: status_label(t, c.status),
                channel: if state.channels.all().len() > 1 {
                    ChannelBadge::of(&state.channels, c.channel_id).name
                } else {
                    String::new()
                },
                pieces: search
                    .query
                    .pieces(&h.snippet)
                    .into_iter()
                    .map(|p| PieceView {
                        text: p.text.to_owned(),
                        matched: p.matched,
                    })
                    .collect(),
            }
        })
        .collect();
    page.more = next.map(|cursor| {
        let mut query: Vec<(&str, &str)> = Vec::new();
        for (k, v) in [
            ("q", &params.q),
            ("channel", &params.channel),
            ("status", &params.status),
            ("assignee", &params.assignee),
            ("from", &params.from),
            ("to", &params.to),
            ("limit", &params.limit),
        ] {
            if let Some(v) = given(v) {
                query.push((k, v));
            }
        }
        query.push(("before", &cursor));
        format!(
            "/search?{}",
            serde_urlencoded::to_string(query).unwrap_or_default()
        )
    });
    let mut answer = render(&page);
    answer.headers_mut().insert(
        header::CACHE_CONTROL,
        header::HeaderValue::from_static("no-store"),
    );
    Ok(answer)
}
