//! Reports (docs/CONTRACT.md, "Reports"): the figures as JSON and CSV for admins
//! (`/api/v1/reports/summary`, `/api/v1/reports/daily`), the `/reports` page with its charts
//! drawn on the server as inline SVG (no script, readable on a phone: a viewBox at 100 %
//! width), and a conversation's transcript as JSON or plain text for anyone who may read the
//! conversation (`/api/v1/conversations/{id}/transcript`; an agent limited to other channels
//! gets 404 from `web::scope` before this handler runs).

use askama::Template;
use axum::Router;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde::{Deserialize, Serialize};

use crate::app::AppState;
use crate::domain::{Direction, MessageContent, SenderKind, now_millis, rfc3339};
use crate::error::{AppError, AppResult};
use crate::i18n::{ReportText, Text};
use crate::services::reports::{self as figures, Daily, Durations, Range, Summary};
use crate::store::messages::{self, MessageRow};
use crate::web::api::{ConversationJson, MessageView};
use crate::web::auth::Staff;
use crate::web::json::ApiLang;
use crate::web::pages::{Chrome, OrPage, PageResult, Viewer, render};
use crate::web::views::preview;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/v1/reports/summary", get(summary))
        .route("/api/v1/reports/daily", get(daily))
        .route("/api/v1/conversations/{id}/transcript", get(transcript))
        .route("/reports", get(page))
}

#[derive(Debug, Deserialize)]
struct ReportQuery {
    from: Option<String>,
    to: Option<String>,
    channel: Option<String>,
    tz: Option<String>,
    /// `csv` for a link that cannot send `Accept: text/csv`
    format: Option<String>,
}

fn admins_only(user: &Staff) -> AppResult<()> {
    if user.is_admin() {
        Ok(())
    } else {
        Err(AppError::Forbidden("only admins can read reports".into()))
    }
}

fn channel_id(state: &AppState, name: Option<&str>) -> AppResult<Option<i64>> {
    match name.filter(|n| !n.is_empty()) {
        None => Ok(None),
        Some(name) => state
            .channels
            .by_name(name)
            .map(|e| Some(e.id()))
            .ok_or_else(|| {
                AppError::Invalid(format!("channel: there is no channel named {name:?}"))
            }),
    }
}

fn range_of(
    state: &AppState,
    query: Result<Query<ReportQuery>, QueryRejection>,
) -> AppResult<(Range, ReportQuery)> {
    let Query(q) = query.map_err(|e| AppError::Invalid(e.body_text()))?;
    let channel = channel_id(state, q.channel.as_deref())?;
    let range = Range::parse(q.from.as_deref(), q.to.as_deref(), q.tz.as_deref(), channel)?;
    Ok((range, q))
}

async fn summary(
    State(state): State<AppState>,
    user: Staff,
    query: Result<Query<ReportQuery>, QueryRejection>,
) -> AppResult<axum::Json<Summary>> {
    admins_only(&user)?;
    let (range, _) = range_of(&state, query)?;
    Ok(axum::Json(figures::summary(&state.store, &range).await?))
}

async fn daily(
    State(state): State<AppState>,
    user: Staff,
    headers: HeaderMap,
    query: Result<Query<ReportQuery>, QueryRejection>,
) -> AppResult<Response> {
    admins_only(&user)?;
    let (range, q) = range_of(&state, query)?;
    let days = figures::daily(&state.store, &range).await?;
    if q.format.as_deref() == Some("csv") || accepts(&headers, "text/csv") {
        let name = format!(
            "attachment; filename=\"kefu-daily-{}-{}.csv\"",
            &rfc3339(range.window.from)[..10],
            &rfc3339(range.window.to - 1)[..10]
        );
        return Ok(with_headers(
            days.csv(),
            "text/csv; charset=utf-8",
            Some(name),
        ));
    }
    Ok(axum::Json(days).into_response())
}

/// Whether the request's Accept names `kind` (`text/csv`) before anything JSON.
fn accepts(headers: &HeaderMap, kind: &str) -> bool {
    headers
        .get_all(header::ACCEPT)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|v| v.split(';').next().unwrap_or_default().trim())
        .find(|v| *v == kind || v.ends_with("/json"))
        .is_some_and(|v| v == kind)
}

fn with_headers(body: String, content_type: &'static str, disposition: Option<String>) -> Response {
    let mut response = body.into_response();
    let h = response.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    if let Some(d) = disposition.and_then(|d| HeaderValue::from_str(&d).ok()) {
        h.insert(header::CONTENT_DISPOSITION, d);
    }
    response
}

// ------------------------------------------------------------------------------------------
// The transcript

#[derive(Debug, Deserialize)]
struct TranscriptQuery {
    format: Option<String>,
}

/// `GET /api/v1/conversations/{id}/transcript` as JSON.
#[derive(Debug, Serialize)]
struct Transcript {
    conversation: ConversationJson,
    /// oldest first
    messages: Vec<MessageView>,
    exported_at: String,
}

/// Messages read per query while gathering a transcript.
const TRANSCRIPT_PAGE: i64 = 500;

async fn transcript(
    State(state): State<AppState>,
    _user: Staff,
    ApiLang(lang): ApiLang,
    headers: HeaderMap,
    Path(id): Path<String>,
    query: Result<Query<TranscriptQuery>, QueryRejection>,
) -> AppResult<Response> {
    let Query(q) = query.map_err(|e| AppError::Invalid(e.body_text()))?;
    let id = crate::web::path_id(&id)
        .ok_or_else(|| AppError::NotFound(format!("there is no conversation {id:?}")))?;
    let text = match q.format.as_deref() {
        None => accepts(&headers, "text/plain"),
        Some("text") => true,
        Some("json") => false,
        Some(_) => {
            return Err(AppError::Invalid("format must be text or json".into()));
        }
    };
    let conversation = crate::web::api::conversation_now(&state, id, lang).await?;
    let mut rows: Vec<MessageRow> = Vec::new();
    let mut before = None;
    loop {
        let page = messages::list(&state.store, id, before, TRANSCRIPT_PAGE).await?;
        let full = page.len() as i64 == TRANSCRIPT_PAGE;
        before = page.last().map(|m| m.id);
        rows.extend(page);
        if !full {
            break;
        }
    }
    rows.reverse();
    let now = now_millis();
    if text {
        let body = transcript_text(&conversation, &rows, now, lang.text(), lang.reports());
        let name = format!("attachment; filename=\"conversation-{id}.txt\"");
        return Ok(with_headers(body, "text/plain; charset=utf-8", Some(name)));
    }
    let body = Transcript {
        conversation,
        messages: rows.iter().map(MessageView::of).collect(),
        exported_at: rfc3339(now),
    };
    let json = serde_json::to_string_pretty(&body).map_err(|e| AppError::Internal(e.into()))?;
    let name = format!("attachment; filename=\"conversation-{id}.json\"");
    Ok(with_headers(json, "application/json", Some(name)))
}

/// The transcript as plain text: a heading, then one entry per message, oldest first:
/// `[time] who (kind): what`, a text's further lines indented. Nothing is escaped.
fn transcript_text(
    c: &ConversationJson,
    rows: &[MessageRow],
    now: crate::domain::Millis,
    t: &Text,
    r: &ReportText,
) -> String {
    let v = &c.conversation;
    let contact = match &v.contact.name {
        Some(name) => format!("{name} ({})", v.contact.openid),
        None => v.contact.openid.clone(),
    };
    let mut out = format!(
        "kefu #{} · {} · {}\n{}: {}\n\n",
        v.id,
        c.channel.name,
        contact,
        r.exported,
        rfc3339(now)
    );
    for m in rows {
        let who = match m.sender_kind {
            SenderKind::Customer => format!(
                "{} ({})",
                m.sender_name.clone().unwrap_or_else(|| m.openid.clone()),
                r.customer
            ),
            SenderKind::Agent => match &m.sender_name {
                Some(name) => format!("{name} ({})", r.agent),
                None => r.agent.to_owned(),
            },
            SenderKind::Bot => r.bot.to_owned(),
            SenderKind::System => r.system.to_owned(),
        };
        let what = match &m.content {
            MessageContent::Text(c) => c.text.clone(),
            MessageContent::Note(c) => format!("{} {}", t.note, c.text),
            _ => preview(m, t),
        };
        let what = what.replace("\r\n", "\n").replace('\n', "\n    ");
        let status = match (m.direction, m.status) {
            (Direction::Out, s) if s != crate::domain::MessageStatus::Sent => {
                format!(" [{}]", s.as_str())
            }
            _ => String::new(),
        };
        out.push_str(&format!(
            "[{}] {who}{status}: {what}\n",
            rfc3339(m.created_at)
        ));
    }
    out
}

// ------------------------------------------------------------------------------------------
// The page

#[derive(Debug, Deserialize)]
struct PageQuery {
    from: Option<String>,
    to: Option<String>,
    channel: Option<String>,
    tz: Option<String>,
}

struct ChannelOption {
    name: String,
    selected: bool,
}

#[derive(Template)]
#[template(path = "reports/page.html")]
struct ReportsPage {
    chrome: Chrome,
    a: &'static crate::i18n::AdminText,
    tab: &'static str,
    r: &'static ReportText,
    from: String,
    to: String,
    tz: String,
    channels: Vec<ChannelOption>,
    /// the sentence saying what was wrong with the range asked for
    refused: Option<String>,
    summary: Option<Summary>,
    charts: Vec<Chart>,
    csv: String,
}

impl ReportsPage {
    fn d(&self, d: &Durations) -> (String, String, String) {
        let s = |v: Option<i64>| v.map_or("—".to_owned(), seconds_text);
        (d.count.to_string(), s(d.p50), s(d.p90))
    }
}

/// `75` → `1 min 15 s`: a duration as a person reads it.
fn seconds_text(s: i64) -> String {
    match s {
        s if s < 60 => format!("{s} s"),
        s if s < 3600 => format!("{} min {} s", s / 60, s % 60),
        s => format!("{} h {} min", s / 3600, (s % 3600) / 60),
    }
}

/// Days shown when the page is opened without a range.
const DEFAULT_DAYS: i64 = 7;

async fn page(
    State(state): State<AppState>,
    viewer: Viewer,
    query: Result<Query<PageQuery>, QueryRejection>,
) -> PageResult {
    if let Some(refusal) = viewer.refuse_unless_admin() {
        return Err(refusal);
    }
    let r = viewer.lang.reports();
    let q = query.map(|Query(q)| q).unwrap_or(PageQuery {
        from: None,
        to: None,
        channel: None,
        tz: None,
    });
    let tz =
        q.tz.clone()
            .filter(|t| !t.trim().is_empty())
            .unwrap_or_else(|| "+08:00".to_owned());
    let offset = figures::parse_offset(tz.trim_start_matches(' '));
    let today = offset.map_or(0, |o| (now_millis() + o).div_euclid(figures_day()));
    let to_date =
        q.to.clone()
            .filter(|d| !d.is_empty())
            .unwrap_or_else(|| figures::date_of(today));
    let from_date = q
        .from
        .clone()
        .filter(|d| !d.is_empty())
        .unwrap_or_else(|| figures::date_of(today - DEFAULT_DAYS + 1));
    let channel = q.channel.clone().filter(|c| !c.is_empty());
    let mut channels: Vec<ChannelOption> = state
        .channels
        .all()
        .iter()
        .map(|e| ChannelOption {
            selected: channel.as_deref() == Some(e.channel.name.to_string().as_str()),
            name: e.channel.name.to_string(),
        })
        .collect();
    channels.sort_by(|a, b| a.name.cmp(&b.name));

    // the page's dates are whole days in the chosen zone, `to` included
    let asked = (|| {
        let offset = offset?;
        let from = figures::start_of(&from_date, offset)?;
        let to = figures::start_of(&to_date, offset)? + figures_day();
        Some((rfc3339(from), rfc3339(to)))
    })();
    let checked = match asked {
        None => Err(AppError::Invalid(r.bad_range.to_owned())),
        Some((from, to)) => channel_id(&state, channel.as_deref())
            .and_then(|c| Range::parse(Some(&from), Some(&to), Some(tz.as_str()), c)),
    };
    let mut page = ReportsPage {
        chrome: viewer.chrome("admin"),
        a: viewer.lang.admin(),
        tab: "reports",
        r,
        from: from_date.clone(),
        to: to_date.clone(),
        tz: tz.clone(),
        channels,
        refused: None,
        summary: None,
        charts: Vec::new(),
        csv: String::new(),
    };
    match checked {
        Err(AppError::Invalid(why)) => page.refused = Some(why),
        Err(e) => return Err(viewer.fail(e)),
        Ok(range) => {
            let (summary, daily) = figures::both(&state.store, &range).await.or_page(&viewer)?;
            let mut pairs = vec![
                ("from", rfc3339(range.window.from)),
                ("to", rfc3339(range.window.to)),
                ("tz", range.tz.clone()),
                ("format", "csv".to_owned()),
            ];
            if let Some(c) = &channel {
                pairs.push(("channel", c.clone()));
            }
            let query = serde_urlencoded::to_string(&pairs).unwrap_or_default();
            page.csv = format!("/api/v1/reports/daily?{query}");
            page.charts = charts(&daily, r);
            page.summary = Some(summary);
        }
    }
    Ok(render(&page))
}

fn figures_day() -> crate::domain::Millis {
    crate::store::reports::DAY
}

// ------------------------------------------------------------------------------------------
// Charts: bars per day, drawn as SVG by the template from these numbers

const CHART_W: f64 = 640.0;
const CHART_H: f64 = 240.0;
const LEFT: f64 = 64.0;
const RIGHT: f64 = 8.0;
const TOP: f64 = 12.0;
const BOTTOM: f64 = 28.0;

struct Chart {
    id: &'static str,
    title: &'static str,
    view_box: String,
    bars: Vec<Bar>,
    ticks: Vec<Tick>,
    labels: Vec<Label>,
    legend: Vec<Series>,
    /// the axis line's ends
    axis_x1: String,
    axis_x2: String,
    axis_y: String,
}

struct Series {
    name: &'static str,
    color: &'static str,
}

struct Bar {
    x: String,
    y: String,
    w: String,
    h: String,
    color: &'static str,
    /// what a screen reader and a hover say: the day, the series, the value
    title: String,
}

struct Tick {
    y: String,
    text: String,
}

struct Label {
    x: String,
    text: String,
}

fn n(v: f64) -> String {
    format!("{v:.1}")
}

/// A round number at or above `max` for the axis's top.
fn nice_top(max: i64) -> i64 {
    if max <= 0 {
        return 1;
    }
    let magnitude = 10_i64.pow((max as f64).log10().floor() as u32);
    for step in [1, 2, 5, 10] {
        if step * magnitude >= max {
            return step * magnitude;
        }
    }
    10 * magnitude
}

fn chart(
    id: &'static str,
    title: &'static str,
    dates: &[String],
    series: Vec<(Series, Vec<Option<i64>>)>,
    unit: &str,
) -> Chart {
    let days = dates.len().max(1) as f64;
    let plot_w = CHART_W - LEFT - RIGHT;
    let plot_h = CHART_H - TOP - BOTTOM;
    let top = nice_top(
        series
            .iter()
            .flat_map(|(_, v)| v.iter().flatten())
            .copied()
            .max()
            .unwrap_or(0),
    );
    let slot = plot_w / days;
    let bar_w = (slot * 0.8) / series.len().max(1) as f64;
    let mut bars = Vec::new();
    for (s, (meta, values)) in series.iter().enumerate() {
        for (d, v) in values.iter().enumerate() {
            let Some(v) = v else { continue };
            let h = plot_h * (*v as f64) / top as f64;
            bars.push(Bar {
                x: n(LEFT + slot * d as f64 + slot * 0.1 + bar_w * s as f64),
                y: n(TOP + plot_h - h),
                w: n(bar_w.max(0.5)),
                h: n(h),
                color: meta.color,
                title: format!("{} · {}: {v}{unit}", dates[d], meta.name),
            });
        }
    }
    let ticks = [0, top / 2, top]
        .iter()
        .map(|&v| Tick {
            y: n(TOP + plot_h - plot_h * v as f64 / top as f64),
            text: format!("{v}{unit}"),
        })
        .collect();
    // at most about eight dates under the axis
    let every = dates.len().div_ceil(8).max(1);
    let labels = dates
        .iter()
        .enumerate()
        .filter(|(i, _)| i % every == 0)
        .map(|(i, date)| Label {
            x: n(LEFT + slot * i as f64 + slot / 2.0),
            text: date.get(5..).unwrap_or(date).to_owned(),
        })
        .collect();
    Chart {
        id,
        title,
        view_box: format!("0 0 {CHART_W} {CHART_H}"),
        bars,
        ticks,
        labels,
        legend: series.into_iter().map(|(s, _)| s).collect(),
        axis_x1: n(LEFT),
        axis_x2: n(CHART_W - RIGHT),
        axis_y: n(TOP + plot_h),
    }
}

fn charts(daily: &Daily, r: &'static ReportText) -> Vec<Chart> {
    let dates: Vec<String> = daily.days.iter().map(|d| d.date.clone()).collect();
    let col = |f: fn(&figures::Day) -> Option<i64>| daily.days.iter().map(f).collect::<Vec<_>>();
    let s = |name, color| Series { name, color };
    vec![
        chart(
            "chart-volume",
            r.chart_volume,
            &dates,
            vec![
                (s(r.messages_in, "#2f6fde"), col(|d| Some(d.messages_in))),
                (
                    s(r.messages_out_agent, "#1f9d55"),
                    col(|d| Some(d.messages_out_agent)),
                ),
                (
                    s(r.messages_out_bot, "#b7791f"),
                    col(|d| Some(d.messages_out_bot)),
                ),
            ],
            "",
        ),
        chart(
            "chart-first-response",
            r.chart_first_response,
            &dates,
            vec![
                (s(r.median, "#2f6fde"), col(|d| d.first_response_p50)),
                (s(r.p90, "#c53030"), col(|d| d.first_response_p90)),
            ],
            r.seconds_axis,
        ),
        chart(
            "chart-resolution",
            r.chart_resolution,
            &dates,
            vec![
                (s(r.median, "#2f6fde"), col(|d| d.resolution_p50)),
                (s(r.p90, "#c53030"), col(|d| d.resolution_p90)),
            ],
            r.seconds_axis,
        ),
    ]
}
