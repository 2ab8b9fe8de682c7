//! Types every part of kefu shares: the states a conversation and a message can be in, the
//! staff roles, what a message says (`content`), and time helpers. No I/O here.
//!
//! Each enum is stored as its lowercase name, which is also its JSON spelling
//! (docs/CONTRACT.md). The store reads them as these enums: a value kefu does not know is a
//! decode error, never quietly taken for some default.

pub mod content;

pub use content::MessageContent;

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

/// An enum kept as text: its spelling in the database and in JSON, `parse`/`as_str` between the
/// two, and the sqlx impls that make it a column type of its own. The impls are plain text
/// mappings for any backend that stores text, so PostgreSQL can reuse them unchanged.
macro_rules! text_enum {
    ($(#[$m:meta])* $name:ident { $($(#[$vm:meta])* $variant:ident = $text:literal),+ $(,)? }) => {
        $(#[$m])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
        pub enum $name { $($(#[$vm])* #[serde(rename = $text)] $variant),+ }

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
                // `pad`, so that widths such as `{:<6}` apply
                f.pad(self.as_str())
            }
        }

        impl<DB: sqlx::Database> sqlx::Type<DB> for $name
        where
            str: sqlx::Type<DB>,
        {
            fn type_info() -> DB::TypeInfo {
                <str as sqlx::Type<DB>>::type_info()
            }
            fn compatible(ty: &DB::TypeInfo) -> bool {
                <str as sqlx::Type<DB>>::compatible(ty)
            }
        }

        impl<'q, DB: sqlx::Database> sqlx::Encode<'q, DB> for $name
        where
            &'static str: sqlx::Encode<'q, DB>,
        {
            fn encode_by_ref(
                &self,
                buf: &mut <DB as sqlx::Database>::ArgumentBuffer,
            ) -> Result<sqlx::encode::IsNull, sqlx::error::BoxDynError> {
                <&'static str as sqlx::Encode<'q, DB>>::encode(self.as_str(), buf)
            }
        }

        impl<'r, DB: sqlx::Database> sqlx::Decode<'r, DB> for $name
        where
            &'r str: sqlx::Decode<'r, DB>,
        {
            fn decode(
                value: <DB as sqlx::Database>::ValueRef<'r>,
            ) -> Result<Self, sqlx::error::BoxDynError> {
                let text = <&'r str as sqlx::Decode<'r, DB>>::decode(value)?;
                $name::parse(text).ok_or_else(|| {
                    format!(concat!("{:?} is not a ", stringify!($name)), text).into()
                })
            }
        }

        // the same text mapping for the connections kefu drives itself (`store::read`)
        impl rusqlite::types::FromSql for $name {
            fn column_result(
                value: rusqlite::types::ValueRef<'_>,
            ) -> rusqlite::types::FromSqlResult<Self> {
                let text = value.as_str()?;
                $name::parse(text).ok_or_else(|| {
                    rusqlite::types::FromSqlError::Other(
                        format!(concat!("{:?} is not a ", stringify!($name)), text).into(),
                    )
                })
            }
        }

        impl rusqlite::types::ToSql for $name {
            fn to_sql(&self) -> rusqlite::Result<rusqlite::types::ToSqlOutput<'_>> {
                Ok(self.as_str().into())
            }
        }
    };
}

pub mod channel;

text_enum!(
    /// Where a conversation stands in the agents' workflow.
    ConversationStatus { Open = "open", Pending = "pending", Resolved = "resolved" }
);
text_enum!(
    /// Who answers a conversation now: kefu's bot, a human in kefu, or WeChat's own tool.
    Handler { Bot = "bot", Human = "human", Wechat = "wechat" }
);
text_enum!(
    /// Which way a message (or a stored image) went: from the customer, or to them.
    Direction { In = "in", Out = "out" }
);
text_enum!(SenderKind { Customer = "customer", Agent = "agent", Bot = "bot", System = "system" });
text_enum!(
    /// A message's kind: the `type` column, and the tag of its `MessageContent`.
    MessageType {
        Text = "text",
        Image = "image",
        Link = "link",
        MiniProgramPage = "miniprogrampage",
        /// an Official Account's voice, video, short video and location messages
        Voice = "voice",
        Video = "video",
        ShortVideo = "shortvideo",
        Location = "location",
        /// an Official Account's link card (WeChat's `news` with one article) and menu message,
        /// sent by agents only
        News = "news",
        MsgMenu = "msgmenu",
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
text_enum!(
    /// The interface language a staff member chose (none: follow the browser).
    Locale { Zh = "zh", En = "en" }
);
text_enum!(
    /// Where kefu's copy of an image stands: still to fetch from WeChat, kept, or given up on.
    MediaState { Pending = "pending", Stored = "stored", Failed = "failed" }
);
text_enum!(
    /// How a rule's keywords are compared with a customer's text.
    MatchKind {
        /// the whole normalised text is the keyword
        Exact = "exact",
        /// the normalised text contains the keyword
        Contains = "contains",
        /// the keyword is a regex that matches the normalised text
        Regex = "regex",
    }
);
text_enum!(
    /// What a rule does when it fires.
    RuleAction { Reply = "reply", Handoff = "handoff", TransferWechat = "transfer_wechat" }
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
        assert_eq!(
            serde_json::to_string(&RuleAction::TransferWechat).unwrap(),
            "\"transfer_wechat\""
        );
        assert_eq!(format!("{:<6}|", Role::Agent), "agent |");
    }

    /// Binds every value of each enum and reads it back through SQLite, then reads a name the
    /// enum does not have: that must fail, naming the value, never fall back to a default.
    async fn decodes_strictly<T>(conn: &mut sqlx::SqliteConnection, all: &[T])
    where
        T: Copy
            + std::fmt::Debug
            + PartialEq
            + Send
            + Unpin
            + for<'q> sqlx::Encode<'q, sqlx::Sqlite>
            + for<'r> sqlx::Decode<'r, sqlx::Sqlite>
            + sqlx::Type<sqlx::Sqlite>
            + 'static,
    {
        for value in all {
            let back: T = sqlx::query_scalar("select $1")
                .bind(*value)
                .fetch_one(&mut *conn)
                .await
                .unwrap();
            assert_eq!(back, *value);
        }
        let unknown = sqlx::query_scalar::<_, T>("select 'not-a-value'")
            .fetch_one(&mut *conn)
            .await;
        let error = unknown
            .expect_err("an unknown value is an error")
            .to_string();
        assert!(error.contains("\"not-a-value\" is not a"), "{error}");
    }

    #[tokio::test]
    async fn every_enum_is_a_text_column_and_an_unknown_value_does_not_decode() {
        use sqlx::Connection;
        let mut conn = sqlx::SqliteConnection::connect("sqlite::memory:")
            .await
            .unwrap();
        decodes_strictly(&mut conn, ConversationStatus::ALL).await;
        decodes_strictly(&mut conn, Handler::ALL).await;
        decodes_strictly(&mut conn, Direction::ALL).await;
        decodes_strictly(&mut conn, SenderKind::ALL).await;
        decodes_strictly(&mut conn, MessageType::ALL).await;
        decodes_strictly(&mut conn, MessageStatus::ALL).await;
        decodes_strictly(&mut conn, Role::ALL).await;
        decodes_strictly(&mut conn, Locale::ALL).await;
        decodes_strictly(&mut conn, MediaState::ALL).await;
        decodes_strictly(&mut conn, MatchKind::ALL).await;
        decodes_strictly(&mut conn, RuleAction::ALL).await;
        // stored as plain text, so SQL written against the names keeps working
        let text: String = sqlx::query_scalar("select $1")
            .bind(RuleAction::TransferWechat)
            .fetch_one(&mut conn)
            .await
            .unwrap();
        assert_eq!(text, "transfer_wechat");
        // a NULL is still None for an optional column, not an error
        let none: Option<Locale> = sqlx::query_scalar("select null")
            .fetch_one(&mut conn)
            .await
            .unwrap();
        assert_eq!(none, None);
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
