//! Every word the dashboard shows, in Simplified Chinese and English, in one place. A page
//! picks its catalogue from the staff member's setting, else the browser's Accept-Language.
//! The catalogue is a struct, so a missing translation is a compile error, not a blank.

/// The languages kefu speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lang {
    Zh,
    En,
}

impl Lang {
    /// The staff member's own choice wins; else the first language of the browser that kefu
    /// speaks; else Chinese (most operators are in China).
    pub fn choose(setting: Option<&str>, accept_language: Option<&str>) -> Lang {
        if let Some(lang) = setting.and_then(Lang::parse) {
            return lang;
        }
        let Some(header) = accept_language else {
            return Lang::Zh;
        };
        let mut ranked: Vec<(f32, Lang)> = header
            .split(',')
            .filter_map(|part| {
                let mut bits = part.trim().split(';');
                let lang = Lang::parse(bits.next()?.trim())?;
                let q = bits
                    .find_map(|b| b.trim().strip_prefix("q="))
                    .and_then(|q| q.parse().ok())
                    .unwrap_or(1.0);
                Some((q, lang))
            })
            .collect();
        ranked.sort_by(|a, b| b.0.total_cmp(&a.0));
        ranked.first().map_or(Lang::Zh, |(_, l)| *l)
    }

    fn parse(tag: &str) -> Option<Lang> {
        let primary = tag.split(['-', '_']).next()?.to_ascii_lowercase();
        match primary.as_str() {
            "zh" => Some(Lang::Zh),
            "en" => Some(Lang::En),
            _ => None,
        }
    }

    pub fn code(self) -> &'static str {
        match self {
            Lang::Zh => "zh-CN",
            Lang::En => "en",
        }
    }

    pub fn text(self) -> &'static Text {
        match self {
            Lang::Zh => &ZH,
            Lang::En => &EN,
        }
    }
}

/// The dashboard's words.
#[derive(Debug)]
pub struct Text {
    pub inbox: &'static str,
    pub mine: &'static str,
    pub unassigned: &'static str,
    pub all: &'static str,
    pub open: &'static str,
    pub pending: &'static str,
    pub resolved: &'static str,
    pub any_status: &'static str,
    pub nobody: &'static str,
    pub unread: &'static str,
    pub window_closed: &'static str,
    pub replies_left: &'static str,
    pub no_conversations: &'static str,
    pub older: &'static str,
    pub sign_out: &'static str,
    pub image: &'static str,
    pub card: &'static str,
    pub link: &'static str,
    pub event: &'static str,
    pub note: &'static str,
    pub other: &'static str,
    pub hours_left: &'static str,
    pub minutes_left: &'static str,
}

pub static ZH: Text = Text {
    inbox: "收件箱",
    mine: "我的",
    unassigned: "未分配",
    all: "全部",
    open: "处理中",
    pending: "待回复",
    resolved: "已解决",
    any_status: "所有状态",
    nobody: "无人",
    unread: "未读",
    window_closed: "回复窗口已关闭",
    replies_left: "可回复",
    no_conversations: "没有会话。",
    older: "更早的会话",
    sign_out: "退出登录",
    image: "[图片]",
    card: "[小程序卡片]",
    link: "[链接]",
    event: "[事件]",
    note: "[备注]",
    other: "[其他消息]",
    hours_left: "小时",
    minutes_left: "分钟",
};

pub static EN: Text = Text {
    inbox: "Inbox",
    mine: "Mine",
    unassigned: "Unassigned",
    all: "All",
    open: "Open",
    pending: "Pending",
    resolved: "Resolved",
    any_status: "Any status",
    nobody: "nobody",
    unread: "unread",
    window_closed: "reply window closed",
    replies_left: "replies left",
    no_conversations: "No conversations.",
    older: "Older conversations",
    sign_out: "Sign out",
    image: "[image]",
    card: "[mini program card]",
    link: "[link]",
    event: "[event]",
    note: "[note]",
    other: "[other message]",
    hours_left: "h",
    minutes_left: "min",
};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_setting_wins_then_the_browser_then_chinese() {
        assert_eq!(Lang::choose(Some("en"), Some("zh-CN")), Lang::En);
        assert_eq!(Lang::choose(None, Some("en-US,en;q=0.9")), Lang::En);
        assert_eq!(
            Lang::choose(None, Some("fr-FR, en;q=0.5, zh;q=0.8")),
            Lang::Zh
        );
        assert_eq!(Lang::choose(None, Some("fr-FR")), Lang::Zh);
        assert_eq!(Lang::choose(None, None), Lang::Zh);
        assert_eq!(Lang::choose(Some("klingon"), Some("en")), Lang::En);
    }
}
