//! The reports' figures (docs/CONTRACT.md, "Reports"): what a window asked for is checked
//! here (`Range::parse`), the store gives the window's facts (`store::reports::facts`), and
//! the figures are made of them: sums, and nearest-rank percentiles in whole seconds.
//!
//! A window is at most `MAX_DAYS` long; a time zone is an offset from UTC in whole quarter
//! hours (every zone's is), at most 14 hours either way.

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;

use crate::domain::{Millis, rfc3339};
use crate::error::{AppError, AppResult};
use crate::store::Store;
use crate::store::reports::{self, DAY, Facts, Window};

/// The longest window a report covers, in days.
pub const MAX_DAYS: i64 = 366;

/// A checked request: its window, and the text of its offset (`+08:00`).
#[derive(Debug, Clone)]
pub struct Range {
    pub window: Window,
    pub tz: String,
}

impl Range {
    /// Reads `from`, `to` (RFC 3339) and `tz` (`±HH:MM`, default UTC); one sentence naming the
    /// parameter when one is wrong.
    pub fn parse(
        from: Option<&str>,
        to: Option<&str>,
        tz: Option<&str>,
        channel: Option<i64>,
    ) -> AppResult<Range> {
        let instant = |name: &str, value: Option<&str>| -> AppResult<Millis> {
            let value = value.filter(|v| !v.is_empty()).ok_or_else(|| {
                AppError::Invalid(format!(
                    "{name} is required: a time in RFC 3339, such as 2026-12-01T00:00:00+08:00"
                ))
            })?;
            parse_rfc3339(value).ok_or_else(|| {
                AppError::Invalid(format!(
                    "{name} must be a time in RFC 3339, such as 2026-12-01T00:00:00+08:00"
                ))
            })
        };
        let from = instant("from", from)?;
        let to = instant("to", to)?;
        if from >= to {
            return Err(AppError::Invalid("to must be later than from".into()));
        }
        if to - from > MAX_DAYS * DAY {
            return Err(AppError::Invalid(format!(
                "to must be at most {MAX_DAYS} days after from"
            )));
        }
        let (offset, tz) = match tz {
            None | Some("") => (0, "+00:00".to_owned()),
            Some(text) => {
                let offset = parse_offset(text).ok_or_else(|| {
                    AppError::Invalid(
                        "tz must be an offset from UTC in quarter hours, such as +08:00 or -05:30"
                            .into(),
                    )
                })?;
                (offset, offset_text(offset))
            }
        };
        Ok(Range {
            window: Window {
                from,
                to,
                channel,
                offset,
            },
            tz,
        })
    }
}

/// An RFC 3339 time (with its offset) in milliseconds since the epoch.
pub fn parse_rfc3339(text: &str) -> Option<Millis> {
    let t =
        time::OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339).ok()?;
    i64::try_from(t.unix_timestamp_nanos() / 1_000_000).ok()
}

/// `+08:00`, `-05:30`, `Z` in milliseconds; a `+` that came through a query string unescaped
/// reads as a space, and is taken as the `+` it was. Quarter hours only, at most ±14:00.
pub fn parse_offset(text: &str) -> Option<Millis> {
    if text == "Z" || text == "z" {
        return Some(0);
    }
    let (sign, rest) = match text.as_bytes().first()? {
        b'+' | b' ' => (1, &text[1..]),
        b'-' => (-1, &text[1..]),
        _ => return None,
    };
    let (h, m) = rest.split_once(':')?;
    if h.len() != 2 || m.len() != 2 || !h.bytes().chain(m.bytes()).all(|b| b.is_ascii_digit()) {
        return None;
    }
    let (h, m): (i64, i64) = (h.parse().ok()?, m.parse().ok()?);
    let minutes = h * 60 + m;
    if m >= 60 || m % 15 != 0 || minutes > 14 * 60 {
        return None;
    }
    Some(sign * minutes * 60_000)
}

pub fn offset_text(offset: Millis) -> String {
    let minutes = offset.abs() / 60_000;
    let sign = if offset < 0 { '-' } else { '+' };
    format!("{sign}{:02}:{:02}", minutes / 60, minutes % 60)
}

/// Durations: how many, and their nearest-rank 50th and 90th percentiles in whole seconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Durations {
    pub count: usize,
    pub p50: Option<i64>,
    pub p90: Option<i64>,
}

impl Durations {
    pub fn of(mut seconds: Vec<i64>) -> Durations {
        seconds.sort_unstable();
        Durations {
            count: seconds.len(),
            p50: nearest_rank(&seconds, 50),
            p90: nearest_rank(&seconds, 90),
        }
    }

    /// From (seconds, how many) pairs: the same as `of` with each value repeated.
    pub fn counted(mut pairs: Vec<(i64, i64)>) -> Durations {
        pairs.sort_unstable();
        let count: i64 = pairs.iter().map(|p| p.1).sum();
        let at_rank = |p: i64| {
            let rank = (p * count + 99) / 100;
            let mut seen = 0;
            pairs.iter().find_map(|&(s, n)| {
                seen += n;
                (seen >= rank.max(1)).then_some(s)
            })
        };
        Durations {
            count: count as usize,
            p50: if count == 0 { None } else { at_rank(50) },
            p90: if count == 0 { None } else { at_rank(90) },
        }
    }
}

/// The smallest value with at least `p` % of `sorted` at or below it.
pub fn nearest_rank(sorted: &[i64], p: usize) -> Option<i64> {
    if sorted.is_empty() {
        return None;
    }
    let rank = (p * sorted.len()).div_ceil(100).max(1);
    Some(sorted[rank - 1])
}

/// `GET /api/v1/reports/summary`.
#[derive(Debug, Clone, Serialize)]
pub struct Summary {
    pub from: String,
    pub to: String,
    pub conversations_new: i64,
    pub messages_in: i64,
    pub messages_out_agent: i64,
    pub messages_out_bot: i64,
    pub first_response_seconds: Durations,
    pub resolution_seconds: Durations,
    pub resolved: i64,
    pub resolved_without_human: i64,
    pub handoffs: i64,
    pub agents: Vec<AgentFigures>,
}

#[derive(Debug, Clone, Serialize)]
pub struct AgentFigures {
    pub id: i64,
    pub name: String,
    pub replies: i64,
    pub conversations_resolved: i64,
    pub first_response_seconds: Durations,
}

/// One day of `GET /api/v1/reports/daily`: the contract's fields, then each day's durations
/// (flat, so the CSV has one column each).
#[derive(Debug, Clone, Serialize)]
pub struct Day {
    pub date: String,
    pub conversations_new: i64,
    pub messages_in: i64,
    pub messages_out_agent: i64,
    pub messages_out_bot: i64,
    pub resolved: i64,
    pub first_response_count: usize,
    pub first_response_p50: Option<i64>,
    pub first_response_p90: Option<i64>,
    pub resolution_count: usize,
    pub resolution_p50: Option<i64>,
    pub resolution_p90: Option<i64>,
}

/// The CSV's header: the JSON's fields in order.
pub const DAY_COLUMNS: &[&str] = &[
    "date",
    "conversations_new",
    "messages_in",
    "messages_out_agent",
    "messages_out_bot",
    "resolved",
    "first_response_count",
    "first_response_p50",
    "first_response_p90",
    "resolution_count",
    "resolution_p50",
    "resolution_p90",
];

impl Day {
    /// The CSV row (numbers and an ISO date: nothing to quote).
    pub fn csv_row(&self) -> String {
        let o = |v: Option<i64>| v.map_or(String::new(), |v| v.to_string());
        format!(
            "{},{},{},{},{},{},{},{},{},{},{},{}",
            self.date,
            self.conversations_new,
            self.messages_in,
            self.messages_out_agent,
            self.messages_out_bot,
            self.resolved,
            self.first_response_count,
            o(self.first_response_p50),
            o(self.first_response_p90),
            self.resolution_count,
            o(self.resolution_p50),
            o(self.resolution_p90),
        )
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Daily {
    pub days: Vec<Day>,
}

impl Daily {
    pub fn csv(&self) -> String {
        let mut out = DAY_COLUMNS.join(",");
        out.push_str("\r\n");
        for d in &self.days {
            out.push_str(&d.csv_row());
            out.push_str("\r\n");
        }
        out
    }
}

pub async fn summary(store: &Store, range: &Range) -> AppResult<Summary> {
    let facts = reports::facts(store, &range.window).await?;
    Ok(summarize(&range.window, &facts))
}

pub async fn daily(store: &Store, range: &Range) -> AppResult<Daily> {
    let facts = reports::facts(store, &range.window).await?;
    Ok(by_day(&range.window, &facts))
}

/// Both at once (the page): one reading of the facts.
pub async fn both(store: &Store, range: &Range) -> AppResult<(Summary, Daily)> {
    let facts = reports::facts(store, &range.window).await?;
    Ok((
        summarize(&range.window, &facts),
        by_day(&range.window, &facts),
    ))
}

pub fn summarize(w: &Window, f: &Facts) -> Summary {
    let sum = |get: fn(&reports::Counted) -> i64| f.counts.iter().map(get).sum::<i64>();
    let mut agents: BTreeSet<i64> = f
        .counts
        .iter()
        .filter(|c| c.staff_id != 0 && c.messages_out_agent != 0)
        .map(|c| c.staff_id)
        .collect();
    agents.extend(f.responses.iter().filter_map(|r| r.staff_id));
    agents.extend(f.resolutions.iter().filter_map(|r| r.staff_id));
    let agents = agents
        .into_iter()
        .map(|id| AgentFigures {
            id,
            name: f.names.get(&id).cloned().unwrap_or_default(),
            replies: f
                .counts
                .iter()
                .filter(|c| c.staff_id == id)
                .map(|c| c.messages_out_agent)
                .sum(),
            conversations_resolved: f
                .resolutions
                .iter()
                .filter(|r| r.staff_id == Some(id))
                .count() as i64,
            first_response_seconds: Durations::counted(
                f.responses
                    .iter()
                    .filter(|r| r.staff_id == Some(id))
                    .map(|r| (r.seconds, r.n))
                    .collect(),
            ),
        })
        .collect();
    Summary {
        from: rfc3339(w.from),
        to: rfc3339(w.to),
        conversations_new: sum(|c| c.conversations_new),
        messages_in: sum(|c| c.messages_in),
        messages_out_agent: sum(|c| c.messages_out_agent),
        messages_out_bot: sum(|c| c.messages_out_bot),
        first_response_seconds: Durations::counted(
            f.responses.iter().map(|r| (r.seconds, r.n)).collect(),
        ),
        resolution_seconds: Durations::of(f.resolutions.iter().filter_map(|r| r.seconds).collect()),
        resolved: f.resolutions.len() as i64,
        resolved_without_human: f.resolutions.iter().filter(|r| !r.human).count() as i64,
        handoffs: f.handoffs,
        agents,
    }
}

/// Every day the window touches, in its time zone, oldest first (days with nothing too).
pub fn by_day(w: &Window, f: &Facts) -> Daily {
    #[derive(Default)]
    struct Acc {
        counts: reports::Counted,
        resolved: i64,
        responses: Vec<(i64, i64)>,
        resolutions: Vec<i64>,
    }
    let first = w.day_of(w.from);
    let last = w.day_of(w.to - 1);
    let mut days: BTreeMap<i64, Acc> = (first..=last).map(|d| (d, Acc::default())).collect();
    for c in &f.counts {
        if let Some(a) = days.get_mut(&c.day) {
            a.counts.conversations_new += c.conversations_new;
            a.counts.messages_in += c.messages_in;
            a.counts.messages_out_agent += c.messages_out_agent;
            a.counts.messages_out_bot += c.messages_out_bot;
        }
    }
    for r in &f.responses {
        if let Some(a) = days.get_mut(&r.day) {
            a.responses.push((r.seconds, r.n));
        }
    }
    for r in &f.resolutions {
        if let Some(a) = days.get_mut(&w.day_of(r.at)) {
            a.resolved += 1;
            a.resolutions.extend(r.seconds);
        }
    }
    let days = days
        .into_iter()
        .map(|(day, a)| {
            let fr = Durations::counted(a.responses);
            let rs = Durations::of(a.resolutions);
            Day {
                date: date_of(day),
                conversations_new: a.counts.conversations_new,
                messages_in: a.counts.messages_in,
                messages_out_agent: a.counts.messages_out_agent,
                messages_out_bot: a.counts.messages_out_bot,
                resolved: a.resolved,
                first_response_count: fr.count,
                first_response_p50: fr.p50,
                first_response_p90: fr.p90,
                resolution_count: rs.count,
                resolution_p50: rs.p50,
                resolution_p90: rs.p90,
            }
        })
        .collect();
    Daily { days }
}

/// `YYYY-MM-DD` of a day counted from 1970-01-01.
pub fn date_of(day: i64) -> String {
    let date = time::Date::from_julian_day(2_440_588 + day as i32).unwrap_or(time::Date::MIN);
    format!(
        "{:04}-{:02}-{:02}",
        date.year(),
        u8::from(date.month()),
        date.day()
    )
}

/// The start of `date` (`YYYY-MM-DD`) at `offset`, in ms; None when it does not read.
pub fn start_of(date: &str, offset: Millis) -> Option<Millis> {
    let mut parts = date.splitn(3, '-');
    let (y, m, d) = (parts.next()?, parts.next()?, parts.next()?);
    if y.len() != 4 || m.len() != 2 || d.len() != 2 {
        return None;
    }
    let month = time::Month::try_from(m.parse::<u8>().ok()?).ok()?;
    let d = time::Date::from_calendar_date(y.parse().ok()?, month, d.parse().ok()?).ok()?;
    let day = i64::from(d.to_julian_day() - 2_440_588);
    Some(day * DAY - offset)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank_percentiles() {
        assert_eq!(nearest_rank(&[], 50), None);
        assert_eq!(nearest_rank(&[7], 90), Some(7));
        let v: Vec<i64> = (1..=10).collect();
        assert_eq!(nearest_rank(&v, 50), Some(5));
        assert_eq!(nearest_rank(&v, 90), Some(9));
        assert_eq!(nearest_rank(&[1, 2, 3], 50), Some(2));
        assert_eq!(nearest_rank(&[1, 2, 3], 90), Some(3));
    }

    #[test]
    fn counted_durations_are_the_same_as_repeated_ones() {
        let pairs = vec![(90, 1), (5, 3), (60, 2), (7, 0)];
        let repeated = vec![90, 5, 5, 5, 60, 60];
        assert_eq!(Durations::counted(pairs), Durations::of(repeated));
        assert_eq!(Durations::counted(vec![]), Durations::of(vec![]));
        for n in 1..30 {
            let values: Vec<i64> = (0..n).map(|i| (i * 37) % 11).collect();
            let pairs = values.iter().map(|v| (*v, 1)).collect();
            assert_eq!(Durations::counted(pairs), Durations::of(values));
        }
    }

    #[test]
    fn offsets_are_quarter_hours_and_a_plus_may_arrive_as_a_space() {
        assert_eq!(parse_offset("+08:00"), Some(8 * 3_600_000));
        assert_eq!(parse_offset(" 08:00"), Some(8 * 3_600_000));
        assert_eq!(parse_offset("-05:30"), Some(-(5 * 60 + 30) * 60_000));
        assert_eq!(parse_offset("+05:45"), Some((5 * 60 + 45) * 60_000));
        assert_eq!(parse_offset("Z"), Some(0));
        for bad in [
            "08:00", "+8:00", "+08:10", "+15:00", "+08:60", "abc", "+0800",
        ] {
            assert_eq!(parse_offset(bad), None, "{bad}");
        }
        assert_eq!(offset_text(-(5 * 60 + 30) * 60_000), "-05:30");
    }

    #[test]
    fn dates_and_days() {
        assert_eq!(date_of(0), "1970-01-01");
        assert_eq!(
            start_of("1970-01-02", 8 * 3_600_000),
            Some(DAY - 8 * 3_600_000)
        );
        assert_eq!(
            date_of(start_of("2026-12-07", 0).unwrap() / DAY),
            "2026-12-07"
        );
    }
}
