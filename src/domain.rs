//! Types every part of kefu shares: the states a conversation and a message can be in, the
//! staff roles, and time helpers. No I/O here. Each enum is stored as its lowercase name,
//! which is also its JSON spelling (docs/CONTRACT.md).

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

macro_rules! text_enum {
    ($(#[$m:meta])* $name:ident { $($variant:ident = $text:literal),+ $(,)? }) => {
        $(#[$m])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
        #[serde(rename_all = "lowercase")]
        pub enum $name { $($variant),+ }

        impl $name {
            pub const ALL: &'static [$name] = &[$($name::$variant),+];
            pub fn as_str(self) -> &'static str {
                match self { $($name::$variant => $text),+ }
            }
            pub fn parse(s: &str) -> Option<Self> {
                match s { $($text => Some($name::$variant),)+ _ => None }
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

text_enum!(
    /// Where a conversation stands in the agents' workflow.
    ConversationStatus { Open = "open", Pending = "pending", Resolved = "resolved" }
);
text_enum!(
    /// Who answers a conversation now: kefu's bot, a human in kefu, or WeChat's own tool.
    Handler { Bot = "bot", Human = "human", Wechat = "wechat" }
);
text_enum!(Direction { In = "in", Out = "out" });
text_enum!(SenderKind { Customer = "customer", Agent = "agent", Bot = "bot", System = "system" });
text_enum!(
    MessageType {
        Text = "text",
        Image = "image",
        Link = "link",
        MiniProgramPage = "miniprogrampage",
        Event = "event",
        Note = "note",
        Unknown = "unknown",
    }
);
text_enum!(
    MessageStatus { Received = "received", Queued = "queued", Sent = "sent", Failed = "failed" }
);
text_enum!(
    /// Staff roles: admins configure kefu, agents answer customers.
    Role { Admin = "admin", Agent = "agent" }
);

/// Milliseconds since the Unix epoch: how kefu stores every time (portable, sortable).
pub type Millis = i64;

pub fn now_millis() -> Millis {
    let now = OffsetDateTime::now_utc();
    (now.unix_timestamp_nanos() / 1_000_000) as Millis
}

/// RFC 3339 with offset (UTC), as the JSON API shows times.
pub fn rfc3339(ms: Millis) -> String {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .ok()
        .and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_default()
}

/// WeChat's rules for replying, kept configurable because WeChat has changed them before
/// (docs/WECHAT.md §5: once 3 per 48 h and 1 per minute, now 5 and 2).
#[derive(Debug, Clone, Copy)]
pub struct ReplyRules {
    /// After a customer message: this many replies …
    pub message_quota: u32,
    /// … within this long.
    pub message_window_ms: Millis,
    /// After the customer enters the chat: this many replies …
    pub enter_quota: u32,
    /// … within this long.
    pub enter_window_ms: Millis,
}

impl Default for ReplyRules {
    fn default() -> Self {
        ReplyRules {
            message_quota: 5,
            message_window_ms: 48 * 3600 * 1000,
            enter_quota: 2,
            enter_window_ms: 60 * 1000,
        }
    }
}

/// What a contact may still receive: when the window closes and how many replies are left.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Allowance {
    /// the latest end of an open window; None when no window was ever opened
    pub ends_at: Option<Millis>,
    pub left: u32,
}

impl ReplyRules {
    /// Each trigger (a customer message, the customer entering the chat) opens its own window
    /// with its own quota, counted from replies sent since that trigger. The quotas do not add
    /// up: what is left is the best of the windows still open.
    pub fn allowance(
        &self,
        last_message_at: Option<Millis>,
        replies_since_message: i64,
        last_enter_at: Option<Millis>,
        replies_since_enter: i64,
        now: Millis,
    ) -> Allowance {
        let windows = [
            last_message_at.map(|at| {
                (
                    at.saturating_add(self.message_window_ms),
                    self.message_quota,
                    replies_since_message,
                )
            }),
            last_enter_at.map(|at| {
                (
                    at.saturating_add(self.enter_window_ms),
                    self.enter_quota,
                    replies_since_enter,
                )
            }),
        ];
        let mut ends_at = None;
        let mut left = 0u32;
        for (ends, quota, used) in windows.into_iter().flatten() {
            ends_at = ends_at.max(Some(ends));
            if now < ends {
                let remaining = i64::from(quota).saturating_sub(used.max(0));
                left = left.max(u32::try_from(remaining).unwrap_or(0));
            }
        }
        Allowance { ends_at, left }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn enums_round_trip_through_their_names() {
        for s in ConversationStatus::ALL {
            assert_eq!(ConversationStatus::parse(s.as_str()), Some(*s));
        }
        assert_eq!(
            serde_json::to_string(&MessageType::MiniProgramPage).unwrap(),
            "\"miniprogrampage\""
        );
        assert_eq!(Role::parse("root"), None);
    }

    #[test]
    fn a_customer_message_opens_five_replies_for_48_hours() {
        let rules = ReplyRules::default();
        let t = 1_000_000_000;
        let a = rules.allowance(Some(t), 0, None, 0, t + 1000);
        assert_eq!(
            a,
            Allowance {
                ends_at: Some(t + 48 * 3600 * 1000),
                left: 5
            }
        );
        assert_eq!(rules.allowance(Some(t), 4, None, 0, t + 1000).left, 1);
        assert_eq!(rules.allowance(Some(t), 5, None, 0, t + 1000).left, 0);
        assert_eq!(
            rules
                .allowance(Some(t), 0, None, 0, t + 48 * 3600 * 1000)
                .left,
            0
        );
    }

    #[test]
    fn entering_the_chat_opens_two_replies_for_a_minute_and_quotas_do_not_add_up() {
        let rules = ReplyRules::default();
        let t = 1_000_000_000;
        assert_eq!(rules.allowance(None, 0, Some(t), 0, t + 59_000).left, 2);
        assert_eq!(rules.allowance(None, 0, Some(t), 0, t + 60_000).left, 0);
        // a message window with 1 left and a fresh entry with 2: the best, not the sum
        assert_eq!(rules.allowance(Some(t), 4, Some(t + 10), 0, t + 20).left, 2);
        assert_eq!(
            rules.allowance(None, 0, None, 0, t),
            Allowance {
                ends_at: None,
                left: 0
            }
        );
    }

    #[test]
    fn times_render_as_rfc3339_with_offset() {
        assert_eq!(rfc3339(1_714_112_445_123), "2024-04-26T06:20:45.123Z");
    }
}
