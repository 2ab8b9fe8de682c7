//! What admins set for the bot and for assignment: the welcome, fallback and away messages,
//! business hours, and how conversations are handed to agents. Stored as one JSON document
//! (`settings` key `automation`); out of the box every message is off and assignment manual.

use serde::{Deserialize, Serialize};

use crate::domain::Millis;

/// The settings key in the store.
pub const KEY: &str = "automation";
/// Longest automatic message, in characters (WeChat's text limit is higher; this keeps the
/// console honest).
pub const MAX_TEXT: usize = 2000;

/// Longest SessionFrom a welcome by source is for, in characters.
pub const MAX_SESSION_FROM: usize = 200;
/// At most this many welcomes by source.
pub const MAX_SOURCES: usize = 50;
/// The longest period between two automatic messages of one kind to a customer: a week.
pub const MAX_PERIOD_MINUTES: u32 = 7 * 24 * 60;
/// The highest per-agent cap.
pub const MAX_CAP: u32 = 1000;

/// One of the three automatic messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Message {
    Welcome,
    Fallback,
    Away,
}

/// What is wrong with settings an admin saves. `Display` is the English sentence; the console
/// and the API say it in the staff member's language (`i18n::RequestText`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SettingsProblem {
    #[error("{} is longer than {MAX_TEXT} characters", .0.english())]
    TooLong(Message),
    #[error("a welcome by source needs a SessionFrom of 1 to {MAX_SESSION_FROM} characters")]
    SourceFrom,
    /// the SessionFrom whose welcome it is
    #[error("the welcome for {0:?} must be 1 to {MAX_TEXT} characters")]
    SourceText(String),
    #[error("at most {MAX_SOURCES} welcomes by source")]
    TooManySources,
    #[error("{} must be between 1 and {MAX_PERIOD_MINUTES} (a week)", .0.period_field())]
    Period(Message),
    #[error("business days are numbered 1 (Monday) to 7 (Sunday)")]
    Days,
    #[error("business hours are written HH:MM, such as 09:00 and 18:00")]
    Clock,
    #[error("business hours must start before they end")]
    HoursOrder,
    #[error("the time zone is an offset from UTC such as +08:00")]
    Offset,
    #[error("the per-agent cap must be between 1 and {MAX_CAP}")]
    Cap,
}

impl Message {
    fn english(self) -> &'static str {
        match self {
            Message::Welcome => "the welcome message",
            Message::Fallback => "the fallback message",
            Message::Away => "the away message",
        }
    }

    /// The settings field of its period.
    pub fn period_field(self) -> &'static str {
        match self {
            Message::Welcome => "welcome_every_minutes",
            Message::Fallback => "fallback_every_minutes",
            Message::Away => "away_every_minutes",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AutomationSettings {
    /// sent when a customer enters the chat; None: no welcome
    pub welcome: Option<String>,
    /// a different welcome for customers coming from a given SessionFrom
    #[serde(deserialize_with = "crate::web::json::objects")]
    pub welcome_by_source: Vec<SourceWelcome>,
    /// at most one welcome per customer this often
    pub welcome_every_minutes: u32,
    /// sent when no rule matches; None: no fallback
    pub fallback: Option<String>,
    /// at most one fallback per customer this often
    pub fallback_every_minutes: u32,
    /// sent outside business hours instead of the fallback; None: no away message
    pub away: Option<String>,
    pub away_every_minutes: u32,
    // objects only: serde would read a struct from an array by position, which no client means
    #[serde(deserialize_with = "crate::web::json::object")]
    pub hours: BusinessHours,
    #[serde(deserialize_with = "crate::web::json::object")]
    pub assignment: Assignment,
    /// a channel's own welcome, fallback and away messages, each in place of the one above
    /// when set (a welcome by source still comes first)
    #[serde(deserialize_with = "crate::web::json::objects")]
    pub by_channel: Vec<ChannelMessages>,
}

/// One channel's own automatic messages; None: the global one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChannelMessages {
    pub channel_id: i64,
    #[serde(default)]
    pub welcome: Option<String>,
    #[serde(default)]
    pub fallback: Option<String>,
    #[serde(default)]
    pub away: Option<String>,
}

impl Default for AutomationSettings {
    fn default() -> Self {
        AutomationSettings {
            welcome: None,
            welcome_by_source: Vec::new(),
            welcome_every_minutes: 60,
            fallback: None,
            fallback_every_minutes: 60,
            away: None,
            away_every_minutes: 60,
            hours: BusinessHours::default(),
            assignment: Assignment::default(),
            by_channel: Vec::new(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SourceWelcome {
    pub session_from: String,
    pub text: String,
}

/// When humans answer. Off: always within hours (no away message).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct BusinessHours {
    pub enabled: bool,
    /// ISO weekdays that are working days: 1 Monday … 7 Sunday
    pub days: Vec<u8>,
    /// "09:00", local time
    pub start: String,
    /// "18:00", local time; the end is not included
    pub end: String,
    /// the time zone as an offset from UTC, "+08:00" (China has no daylight saving time)
    pub utc_offset: String,
}

impl Default for BusinessHours {
    fn default() -> Self {
        BusinessHours {
            enabled: false,
            days: vec![1, 2, 3, 4, 5],
            start: "09:00".into(),
            end: "18:00".into(),
            utc_offset: "+08:00".into(),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum AssignmentMode {
    /// agents claim conversations from the Unassigned queue
    #[default]
    Manual,
    /// handed-off conversations go round-robin to online agents below the cap
    Auto,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Assignment {
    pub mode: AssignmentMode,
    /// open conversations an agent holds before auto-assignment passes them by
    pub cap: u32,
}

impl Default for Assignment {
    fn default() -> Self {
        Assignment {
            mode: AssignmentMode::Manual,
            cap: 10,
        }
    }
}

/// "HH:MM" → minutes since midnight.
fn parse_clock(s: &str) -> Option<u32> {
    let (h, m) = s.trim().split_once(':')?;
    let (h, m): (u32, u32) = (h.parse().ok()?, m.parse().ok()?);
    (h <= 24 && m < 60 && h * 60 + m <= 24 * 60).then_some(h * 60 + m)
}

/// "+08:00" / "-05:30" / "Z" → minutes east of UTC.
fn parse_offset(s: &str) -> Option<i32> {
    let s = s.trim();
    if s.eq_ignore_ascii_case("z") || s == "UTC" {
        return Some(0);
    }
    let sign = match s.chars().next()? {
        '+' => 1,
        '-' => -1,
        _ => return None,
    };
    let minutes = parse_clock(&s[1..])? as i32;
    (minutes <= 14 * 60).then_some(sign * minutes)
}

impl BusinessHours {
    /// Whether `now` falls within business hours (always, when they are off).
    pub fn open_at(&self, now: Millis) -> bool {
        if !self.enabled {
            return true;
        }
        let (Some(start), Some(end), Some(offset)) = (
            parse_clock(&self.start),
            parse_clock(&self.end),
            parse_offset(&self.utc_offset),
        ) else {
            return true;
        };
        let local_minutes = now.div_euclid(60_000) + i64::from(offset);
        let day = local_minutes.div_euclid(24 * 60);
        let minute = local_minutes.rem_euclid(24 * 60) as u32;
        // 1970-01-01 was a Thursday (ISO weekday 4)
        let weekday = ((day + 3).rem_euclid(7) + 1) as u8;
        self.days.contains(&weekday) && start <= minute && minute < end
    }
}

impl AutomationSettings {
    /// The welcome for a customer who came from `session_from`, if any is set.
    pub fn welcome_for(&self, channel: Option<i64>, session_from: Option<&str>) -> Option<&str> {
        session_from
            .and_then(|from| {
                self.welcome_by_source
                    .iter()
                    .find(|w| w.session_from == from)
                    .map(|w| w.text.as_str())
            })
            .or_else(|| self.of_channel(channel)?.welcome.as_deref())
            .or(self.welcome.as_deref())
    }

    /// The fallback message in a channel: its own, else the global one.
    pub fn fallback_for(&self, channel: Option<i64>) -> Option<&str> {
        self.of_channel(channel)
            .and_then(|c| c.fallback.as_deref())
            .or(self.fallback.as_deref())
    }

    /// The away message in a channel: its own, else the global one.
    pub fn away_for(&self, channel: Option<i64>) -> Option<&str> {
        self.of_channel(channel)
            .and_then(|c| c.away.as_deref())
            .or(self.away.as_deref())
    }

    fn of_channel(&self, channel: Option<i64>) -> Option<&ChannelMessages> {
        let channel = channel?;
        self.by_channel.iter().find(|c| c.channel_id == channel)
    }

    /// Checks what an admin saved; the sentence names the field.
    pub fn validate(&mut self) -> Result<(), SettingsProblem> {
        let text = |which: Message, v: &mut Option<String>| -> Result<(), SettingsProblem> {
            if let Some(t) = v {
                let trimmed = t.trim().to_owned();
                if trimmed.chars().count() > MAX_TEXT {
                    return Err(SettingsProblem::TooLong(which));
                }
                *v = (!trimmed.is_empty()).then_some(trimmed);
            }
            Ok(())
        };
        text(Message::Welcome, &mut self.welcome)?;
        text(Message::Fallback, &mut self.fallback)?;
        text(Message::Away, &mut self.away)?;
        for w in &mut self.welcome_by_source {
            w.session_from = w.session_from.trim().to_owned();
            w.text = w.text.trim().to_owned();
            if w.session_from.is_empty() || w.session_from.chars().count() > MAX_SESSION_FROM {
                return Err(SettingsProblem::SourceFrom);
            }
            if w.text.is_empty() || w.text.chars().count() > MAX_TEXT {
                return Err(SettingsProblem::SourceText(w.session_from.clone()));
            }
        }
        if self.welcome_by_source.len() > MAX_SOURCES {
            return Err(SettingsProblem::TooManySources);
        }
        // one entry per channel (the last given wins), none that changes nothing
        let mut by_channel: Vec<ChannelMessages> = Vec::new();
        for mut c in std::mem::take(&mut self.by_channel) {
            text(Message::Welcome, &mut c.welcome)?;
            text(Message::Fallback, &mut c.fallback)?;
            text(Message::Away, &mut c.away)?;
            by_channel.retain(|kept| kept.channel_id != c.channel_id);
            if c.welcome.is_some() || c.fallback.is_some() || c.away.is_some() {
                by_channel.push(c);
            }
        }
        by_channel.sort_by_key(|c| c.channel_id);
        self.by_channel = by_channel;
        for (which, minutes) in [
            (Message::Welcome, self.welcome_every_minutes),
            (Message::Fallback, self.fallback_every_minutes),
            (Message::Away, self.away_every_minutes),
        ] {
            if !(1..=MAX_PERIOD_MINUTES).contains(&minutes) {
                return Err(SettingsProblem::Period(which));
            }
        }
        let h = &mut self.hours;
        h.days.sort_unstable();
        h.days.dedup();
        if h.days.iter().any(|d| !(1..=7).contains(d)) {
            return Err(SettingsProblem::Days);
        }
        let (Some(start), Some(end)) = (parse_clock(&h.start), parse_clock(&h.end)) else {
            return Err(SettingsProblem::Clock);
        };
        if start >= end {
            return Err(SettingsProblem::HoursOrder);
        }
        if parse_offset(&h.utc_offset).is_none() {
            return Err(SettingsProblem::Offset);
        }
        if !(1..=MAX_CAP).contains(&self.assignment.cap) {
            return Err(SettingsProblem::Cap);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// 2026-11-23 is a Monday; `at(hh, mm)` is that day at hh:mm in UTC+8.
    fn at(day_offset: i64, hh: i64, mm: i64) -> Millis {
        let monday_utc = 1_795_392_000_000; // 2026-11-23T00:00:00Z
        monday_utc + day_offset * 86_400_000 + ((hh - 8) * 60 + mm) * 60_000
    }

    #[test]
    fn business_hours_follow_the_local_clock_and_days() {
        let hours = BusinessHours {
            enabled: true,
            ..BusinessHours::default()
        };
        assert!(hours.open_at(at(0, 9, 0)), "Monday 09:00");
        assert!(hours.open_at(at(0, 17, 59)));
        assert!(!hours.open_at(at(0, 18, 0)), "the end is not included");
        assert!(!hours.open_at(at(0, 8, 59)));
        assert!(!hours.open_at(at(5, 10, 0)), "Saturday");
        assert!(hours.open_at(at(4, 10, 0)), "Friday");
        assert!(
            BusinessHours::default().open_at(at(5, 3, 0)),
            "off: always open"
        );
    }

    #[test]
    fn validation_names_what_is_wrong_and_tidies_texts() {
        let mut s = AutomationSettings {
            welcome: Some("  你好  ".into()),
            fallback: Some("   ".into()),
            ..AutomationSettings::default()
        };
        assert_eq!(s.validate(), Ok(()));
        assert_eq!(s.welcome.as_deref(), Some("你好"));
        assert_eq!(s.fallback, None, "blank is off");
        let mut bad = AutomationSettings::default();
        bad.hours.start = "25:00".into();
        assert!(bad.validate().unwrap_err().to_string().contains("HH:MM"));
        let mut bad = AutomationSettings::default();
        bad.hours.utc_offset = "Asia/Shanghai".into();
        assert!(bad.validate().unwrap_err().to_string().contains("+08:00"));
        let mut bad = AutomationSettings::default();
        bad.assignment.cap = 0;
        assert!(bad.validate().is_err());
        let mut bad = AutomationSettings::default();
        bad.hours.days = vec![0];
        assert!(bad.validate().is_err());
    }

    #[test]
    fn the_welcome_can_depend_on_where_the_customer_came_from() {
        let s = AutomationSettings {
            welcome: Some("hello".into()),
            welcome_by_source: vec![SourceWelcome {
                session_from: "order".into(),
                text: "about your order?".into(),
            }],
            ..AutomationSettings::default()
        };
        assert_eq!(
            s.welcome_for(None, Some("order")),
            Some("about your order?")
        );
        assert_eq!(s.welcome_for(None, Some("ad")), Some("hello"));
        assert_eq!(s.welcome_for(None, None), Some("hello"));
        assert_eq!(AutomationSettings::default().welcome_for(None, None), None);
    }

    #[test]
    fn a_channel_may_have_its_own_messages_in_place_of_the_global_ones() {
        let mut s = AutomationSettings {
            welcome: Some("hello".into()),
            fallback: Some("we will answer soon".into()),
            welcome_by_source: vec![SourceWelcome {
                session_from: "order".into(),
                text: "about your order?".into(),
            }],
            by_channel: vec![
                ChannelMessages {
                    channel_id: 2,
                    welcome: Some("  欢迎来到商城  ".into()),
                    fallback: None,
                    away: Some("".into()),
                },
                ChannelMessages {
                    channel_id: 3,
                    welcome: Some(" ".into()),
                    fallback: None,
                    away: None,
                },
            ],
            ..AutomationSettings::default()
        };
        s.validate().unwrap();
        assert_eq!(
            s.by_channel.len(),
            1,
            "an entry that changes nothing is dropped"
        );
        assert_eq!(s.welcome_for(Some(2), None), Some("欢迎来到商城"));
        assert_eq!(
            s.welcome_for(Some(2), Some("order")),
            Some("about your order?")
        );
        assert_eq!(s.welcome_for(Some(3), None), Some("hello"));
        assert_eq!(s.fallback_for(Some(2)), Some("we will answer soon"));
        assert_eq!(s.away_for(Some(2)), None);
        let long = AutomationSettings {
            by_channel: vec![ChannelMessages {
                channel_id: 2,
                welcome: None,
                fallback: Some("x".repeat(MAX_TEXT + 1)),
                away: None,
            }],
            ..AutomationSettings::default()
        };
        assert!(long.clone().validate().is_err());
    }

    #[test]
    fn saved_json_with_unknown_fields_is_refused() {
        assert!(serde_json::from_str::<AutomationSettings>(r#"{"welcom": "x"}"#).is_err());
        let s: AutomationSettings = serde_json::from_str("{}").unwrap();
        assert_eq!(s, AutomationSettings::default());
    }
}
