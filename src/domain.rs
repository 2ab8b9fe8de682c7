//! Types every part of kefu shares: the states a conversation and a message can be in, the
//! staff roles, and time helpers. No I/O here. Each enum is stored as its lowercase name,
//! which is also its JSON spelling (CONTRACT.md).

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

/// WeChat's rules for replying, kept configurable because WeChat has changed them before.
#[derive(Debug, Clone, Copy)]
pub struct ReplyRules {
    /// After a customer message: this many replies …
    pub message_quota: u32,
    /// … within this many milliseconds.
    pub message_window_ms: Millis,
}

impl Default for ReplyRules {
    fn default() -> Self {
        ReplyRules {
            message_quota: 5,
            message_window_ms: 48 * 3600 * 1000,
        }
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
    fn times_render_as_rfc3339_with_offset() {
        assert_eq!(rfc3339(1_714_112_445_123), "2024-04-26T06:20:45.123Z");
    }
}
