//! Channels: the WeChat accounts (mini programs and Official Accounts) one kefu serves.

use serde::{Deserialize, Serialize};

use super::{MessageType, Millis};

/// The channel everything belonged to before channels existed; the `KEFU_WECHAT_*` variables
/// define it, and its webhook is `KEFU_WEBHOOK_PATH` itself.
pub const DEFAULT_CHANNEL_ID: i64 = 1;
pub const DEFAULT_CHANNEL_NAME: &str = "default";

text_enum!(
    /// What kind of WeChat account a channel is: it decides the message types, the reply
    /// rules and the endpoints kefu uses.
    ChannelKind { MiniProgram = "miniprogram", OfficialAccount = "officialaccount" }
);

text_enum!(
    /// The data format chosen in WeChat's console for a channel's pushes.
    DataFormat { Json = "json", Xml = "xml" }
);

impl ChannelKind {
    /// Whether WeChat's customer-service send API takes this type of message from this kind
    /// of account: a mini program sends text, images, links and mini program cards; an
    /// Official Account text, images, voice messages, videos, link cards (`news`) and menus
    /// (docs/WECHAT.md §5). Notes are never sent, so they are welcome on both.
    pub fn sends(self, kind: MessageType) -> bool {
        use MessageType as T;
        match self {
            ChannelKind::MiniProgram => matches!(
                kind,
                T::Text | T::Image | T::Link | T::MiniProgramPage | T::Note
            ),
            ChannelKind::OfficialAccount => matches!(
                kind,
                T::Text | T::Image | T::Voice | T::Video | T::News | T::MsgMenu | T::Note
            ),
        }
    }

    /// The types an agent may send on this kind of account, for a refusal's sentence.
    pub fn sendable(self) -> Vec<MessageType> {
        MessageType::ALL
            .iter()
            .copied()
            .filter(|&t| self.sends(t) && t != MessageType::Note)
            .collect()
    }
}

/// A channel's name: 1–32 characters of `a-z 0-9 -`, the last part of its webhook's path.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
#[serde(transparent)]
pub struct ChannelName(String);

impl ChannelName {
    pub fn parse(s: &str) -> Option<ChannelName> {
        let ok = (1..=32).contains(&s.len())
            && s.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
        ok.then(|| ChannelName(s.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for ChannelName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.pad(&self.0)
    }
}

/// A channel as the store keeps it, without its secrets: only whether each is set.
#[derive(Debug, Clone)]
pub struct Channel {
    pub id: i64,
    pub name: ChannelName,
    pub kind: ChannelKind,
    pub appid: String,
    pub display_name: String,
    pub format: Option<DataFormat>,
    pub enabled: bool,
    pub token_set: bool,
    pub aes_key_set: bool,
    pub secret_set: bool,
    pub created_at: Millis,
    pub updated_at: Millis,
}

impl Channel {
    pub fn is_default(&self) -> bool {
        self.id == DEFAULT_CHANNEL_ID
    }

    /// What the dashboard calls it: the display name, or the name when there is none.
    pub fn label(&self) -> &str {
        if self.display_name.is_empty() {
            self.name.as_str()
        } else {
            &self.display_name
        }
    }

    /// The path WeChat pushes to, under `KEFU_WEBHOOK_PATH`.
    pub fn webhook_path(&self, base: &str) -> String {
        if self.is_default() {
            base.to_owned()
        } else {
            format!("{}/{}", base.trim_end_matches('/'), self.name)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_short_lowercase_words() {
        for good in ["default", "shop-2", "a", &"x".repeat(32)] {
            assert!(ChannelName::parse(good).is_some(), "{good}");
        }
        for bad in [
            "",
            "Shop",
            "shop_2",
            "shop 2",
            "商城",
            &"x".repeat(33),
            "a/b",
            "../x",
        ] {
            assert!(ChannelName::parse(bad).is_none(), "{bad}");
        }
    }

    #[test]
    fn each_kind_of_account_sends_its_own_message_types() {
        let names = |kind: ChannelKind| -> Vec<&str> {
            kind.sendable()
                .into_iter()
                .map(MessageType::as_str)
                .collect()
        };
        assert_eq!(
            names(ChannelKind::MiniProgram),
            ["text", "image", "link", "miniprogrampage"]
        );
        assert_eq!(
            names(ChannelKind::OfficialAccount),
            ["text", "image", "voice", "video", "news", "msgmenu"]
        );
        for kind in ChannelKind::ALL {
            assert!(kind.sends(MessageType::Note));
            for never in [
                MessageType::Event,
                MessageType::Unknown,
                MessageType::ShortVideo,
                MessageType::Location,
            ] {
                assert!(!kind.sends(never), "{kind} {never}");
            }
        }
    }
}
