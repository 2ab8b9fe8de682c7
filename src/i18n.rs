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
    pub sections: &'static str,
    pub canned_replies: &'static str,
    pub settings: &'static str,
    pub admin: &'static str,
    pub live_connecting: &'static str,
    pub live_offline: &'static str,
    pub admins_only: &'static str,
    pub views: &'static str,
    pub status_filter: &'static str,
    pub keyboard_hint: &'static str,
    pub online_now: &'static str,
    pub assignee: &'static str,
    pub back_to_inbox: &'static str,
    pub contact: &'static str,
    pub openid: &'static str,
    pub first_seen: &'static str,
    pub source: &'static str,
    pub name: &'static str,
    pub contact_note: &'static str,
    pub save: &'static str,
    pub saved: &'static str,
    pub reply_placeholder: &'static str,
    pub note_placeholder: &'static str,
    pub send: &'static str,
    pub add_note: &'static str,
    pub private_note: &'static str,
    pub add_image: &'static str,
    pub miniprogram_link: &'static str,
    pub link_text: &'static str,
    pub page_path: &'static str,
    pub insert: &'static str,
    pub cancel: &'static str,
    pub window_ends_in: &'static str,
    pub quota_used: &'static str,
    pub window_closed_reason: &'static str,
    pub assign_me: &'static str,
    pub assign_to: &'static str,
    pub unassign: &'static str,
    pub conversation_status: &'static str,
    pub retry: &'static str,
    pub status_queued: &'static str,
    pub status_sent: &'static str,
    pub status_failed: &'static str,
    pub status_received: &'static str,
    pub older_messages: &'static str,
    pub no_messages: &'static str,
    pub also_viewing: &'static str,
    pub typing_now: &'static str,
    pub handled_by: &'static str,
    pub handler_bot: &'static str,
    pub handler_human: &'static str,
    pub handler_wechat: &'static str,
    pub customer: &'static str,
    pub bot: &'static str,
    pub system: &'static str,
    pub entered_chat: &'static str,
    pub from_source: &'static str,
    pub sound: &'static str,
    pub notifications: &'static str,
    pub enable_notifications: &'static str,
    pub new_message: &'static str,
    pub open_card: &'static str,
    pub not_found: &'static str,
    pub unread_count: &'static str,
    pub image_pending: &'static str,
    pub image_failed: &'static str,
    pub conversation: &'static str,
    pub more: &'static str,
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
    sections: "页面",
    canned_replies: "快捷回复",
    settings: "设置",
    admin: "管理",
    live_connecting: "正在连接…",
    live_offline: "连接已断开，正在重连…",
    admins_only: "只有管理员可以打开此页面。",
    views: "视图",
    status_filter: "状态",
    keyboard_hint: "快捷键：j/k 上下移动，Enter 打开",
    online_now: "在线",
    assignee: "负责人",
    back_to_inbox: "返回收件箱",
    contact: "客户",
    openid: "OpenID",
    first_seen: "首次访问",
    source: "来源 (SessionFrom)",
    name: "名称",
    contact_note: "备注",
    save: "保存",
    saved: "已保存",
    reply_placeholder: "输入回复，输入 / 选择快捷回复",
    note_placeholder: "写一条内部备注（客户看不到）",
    send: "发送",
    add_note: "添加备注",
    private_note: "内部备注",
    add_image: "图片",
    miniprogram_link: "小程序链接",
    link_text: "链接文字",
    page_path: "页面路径",
    insert: "插入",
    cancel: "取消",
    window_ends_in: "回复窗口剩余",
    quota_used: "本次可回复的条数已用完，等待客户再次发消息。",
    window_closed_reason: "客户 48 小时内没有发消息，微信不再允许回复。",
    assign_me: "分配给我",
    assign_to: "分配给",
    unassign: "取消分配",
    conversation_status: "会话状态",
    retry: "重试",
    status_queued: "发送中",
    status_sent: "已发送",
    status_failed: "发送失败",
    status_received: "已收到",
    older_messages: "加载更早的消息",
    no_messages: "还没有消息。",
    also_viewing: "也在查看：",
    typing_now: "正在输入：",
    handled_by: "处理方",
    handler_bot: "机器人",
    handler_human: "人工客服",
    handler_wechat: "微信客服工具",
    customer: "客户",
    bot: "机器人",
    system: "系统",
    entered_chat: "进入了会话",
    from_source: "来源",
    sound: "提示音",
    notifications: "桌面通知",
    enable_notifications: "开启桌面通知",
    new_message: "新消息",
    open_card: "打开",
    not_found: "没有这个会话。",
    unread_count: "未读消息",
    image_pending: "图片正在获取…",
    image_failed: "无法获取图片",
    conversation: "会话",
    more: "更多",
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
    sections: "Sections",
    canned_replies: "Canned replies",
    settings: "Settings",
    admin: "Admin",
    live_connecting: "Connecting…",
    live_offline: "Offline, reconnecting…",
    admins_only: "Only admins can open this page.",
    views: "Views",
    status_filter: "Status",
    keyboard_hint: "Keys: j/k to move, Enter to open",
    online_now: "Online",
    assignee: "Assignee",
    back_to_inbox: "Back to the inbox",
    contact: "Customer",
    openid: "OpenID",
    first_seen: "First seen",
    source: "Source (SessionFrom)",
    name: "Name",
    contact_note: "Note",
    save: "Save",
    saved: "Saved",
    reply_placeholder: "Write a reply; type / for canned replies",
    note_placeholder: "Write a private note (the customer never sees it)",
    send: "Send",
    add_note: "Add note",
    private_note: "Private note",
    add_image: "Image",
    miniprogram_link: "Mini program link",
    link_text: "Link text",
    page_path: "Page path",
    insert: "Insert",
    cancel: "Cancel",
    window_ends_in: "Reply window closes in",
    quota_used: "The replies WeChat allows are used up until the customer writes again.",
    window_closed_reason: "The customer has not written for 48 hours: WeChat allows no more replies.",
    assign_me: "Assign to me",
    assign_to: "Assign to",
    unassign: "Unassign",
    conversation_status: "Conversation status",
    retry: "Retry",
    status_queued: "sending",
    status_sent: "sent",
    status_failed: "failed",
    status_received: "received",
    older_messages: "Load older messages",
    no_messages: "No messages yet.",
    also_viewing: "Also viewing:",
    typing_now: "Typing:",
    handled_by: "Handled by",
    handler_bot: "the bot",
    handler_human: "a human",
    handler_wechat: "WeChat's customer-service tool",
    customer: "Customer",
    bot: "Bot",
    system: "System",
    entered_chat: "entered the chat",
    from_source: "from",
    sound: "Sound",
    notifications: "Notifications",
    enable_notifications: "Turn on notifications",
    new_message: "New message",
    open_card: "Open",
    not_found: "There is no such conversation.",
    unread_count: "unread messages",
    image_pending: "Fetching the image…",
    image_failed: "The image could not be fetched",
    conversation: "Conversation",
    more: "More",
};

/// The canned-replies page's words (and the sentences its API answers with, in English).
#[derive(Debug)]
pub struct CannedText {
    pub title: &'static str,
    pub intro: &'static str,
    pub list_heading: &'static str,
    pub empty: &'static str,
    pub new_heading: &'static str,
    pub shortcut: &'static str,
    pub shortcut_hint: &'static str,
    pub body: &'static str,
    pub shared: &'static str,
    pub shared_tag: &'static str,
    pub personal_tag: &'static str,
    pub add: &'static str,
    pub edit: &'static str,
    pub save: &'static str,
    pub delete: &'static str,
    pub shortcut_required: &'static str,
    pub shortcut_too_long: &'static str,
    pub shortcut_characters: &'static str,
    pub body_required: &'static str,
    pub body_too_long: &'static str,
    /// `{shortcut}` stands for the shortcut
    pub shortcut_taken: &'static str,
    pub shared_admins_only: &'static str,
    pub not_found: &'static str,
    pub unreadable_form: &'static str,
}

pub static CANNED_ZH: CannedText = CannedText {
    title: "快捷回复",
    intro: "在回复框中输入 / 加快捷词，即可插入对应的回复。共享的快捷回复全团队可用，只有管理员可以修改；个人的只有你自己能看到。",
    list_heading: "可用的快捷回复",
    empty: "还没有快捷回复。",
    new_heading: "新建快捷回复",
    shortcut: "快捷词",
    shortcut_hint: "1 到 32 个字符：字母、数字、汉字、- 或 _",
    body: "回复内容",
    shared: "共享给全团队",
    shared_tag: "共享",
    personal_tag: "个人",
    add: "添加",
    edit: "编辑",
    save: "保存",
    delete: "删除",
    shortcut_required: "请填写快捷词。",
    shortcut_too_long: "快捷词最多 32 个字符。",
    shortcut_characters: "快捷词只能包含字母、数字、汉字、- 和 _。",
    body_required: "请填写回复内容。",
    body_too_long: "回复内容最多 2000 个字符。",
    shortcut_taken: "快捷词 /{shortcut} 已经存在，请换一个。",
    shared_admins_only: "只有管理员可以添加、修改或删除共享的快捷回复。",
    not_found: "没有这条快捷回复。",
    unreadable_form: "无法读取提交的表单。",
};

pub static CANNED_EN: CannedText = CannedText {
    title: "Canned replies",
    intro: "Type / and a shortcut in the reply box to insert its reply. Shared replies are for the whole team and only admins change them; personal ones are yours alone.",
    list_heading: "Replies you can use",
    empty: "No canned replies yet.",
    new_heading: "New canned reply",
    shortcut: "Shortcut",
    shortcut_hint: "1 to 32 characters: letters, digits, Chinese characters, - or _",
    body: "Reply text",
    shared: "Share with the whole team",
    shared_tag: "Shared",
    personal_tag: "Personal",
    add: "Add",
    edit: "Edit",
    save: "Save",
    delete: "Delete",
    shortcut_required: "The shortcut is required.",
    shortcut_too_long: "A shortcut has at most 32 characters.",
    shortcut_characters: "A shortcut may only contain letters, digits, Chinese characters, - and _.",
    body_required: "The reply text is required.",
    body_too_long: "The reply text has at most 2000 characters.",
    shortcut_taken: "The shortcut /{shortcut} is already taken; choose another.",
    shared_admins_only: "Only admins add, change or delete shared canned replies.",
    not_found: "There is no such canned reply.",
    unreadable_form: "The form could not be read.",
};

/// The settings page's words.
#[derive(Debug)]
pub struct SettingsText {
    pub title: &'static str,
    pub account_heading: &'static str,
    pub username: &'static str,
    pub role: &'static str,
    pub role_admin: &'static str,
    pub role_agent: &'static str,
    pub language_heading: &'static str,
    pub follow_browser: &'static str,
    pub chinese: &'static str,
    pub english: &'static str,
    pub save_language: &'static str,
    pub language_saved: &'static str,
    pub choose_language: &'static str,
    pub password_heading: &'static str,
    pub current_password: &'static str,
    pub new_password: &'static str,
    pub new_password_again: &'static str,
    pub change_password: &'static str,
    pub password_changed: &'static str,
    pub current_password_wrong: &'static str,
    pub new_password_too_short: &'static str,
    pub new_password_too_long: &'static str,
    pub new_passwords_differ: &'static str,
    pub attention_heading: &'static str,
    pub attention_hint: &'static str,
    pub sound: &'static str,
    pub notifications: &'static str,
    pub enable_notifications: &'static str,
    pub unreadable_form: &'static str,
}

pub static SETTINGS_ZH: SettingsText = SettingsText {
    title: "设置",
    account_heading: "账号",
    username: "用户名",
    role: "角色",
    role_admin: "管理员",
    role_agent: "客服",
    language_heading: "界面语言",
    follow_browser: "跟随浏览器",
    chinese: "简体中文",
    english: "English",
    save_language: "保存语言",
    language_saved: "界面语言已保存。",
    choose_language: "请选择列出的一种语言。",
    password_heading: "修改密码",
    current_password: "当前密码",
    new_password: "新密码（至少 8 个字符）",
    new_password_again: "再次输入新密码",
    change_password: "修改密码",
    password_changed: "密码已修改，其他设备上的登录已全部退出。",
    current_password_wrong: "当前密码不正确。",
    new_password_too_short: "新密码至少需要 8 个字符。",
    new_password_too_long: "新密码太长，最多 1024 字节。",
    new_passwords_differ: "两次输入的新密码不一致。",
    attention_heading: "新消息提醒",
    attention_hint: "这些设置只保存在当前浏览器中。",
    sound: "新消息时播放提示音",
    notifications: "桌面通知",
    enable_notifications: "开启桌面通知",
    unreadable_form: "无法读取提交的表单。",
};

pub static SETTINGS_EN: SettingsText = SettingsText {
    title: "Settings",
    account_heading: "Account",
    username: "User name",
    role: "Role",
    role_admin: "Admin",
    role_agent: "Agent",
    language_heading: "Language",
    follow_browser: "Follow the browser",
    chinese: "简体中文",
    english: "English",
    save_language: "Save language",
    language_saved: "Language saved.",
    choose_language: "Choose one of the languages offered.",
    password_heading: "Change my password",
    current_password: "Current password",
    new_password: "New password (at least 8 characters)",
    new_password_again: "New password again",
    change_password: "Change password",
    password_changed: "Password changed; you are signed out on every other device.",
    current_password_wrong: "The current password is wrong.",
    new_password_too_short: "The new password needs at least 8 characters.",
    new_password_too_long: "The new password is too long: at most 1024 bytes.",
    new_passwords_differ: "The two new passwords differ.",
    attention_heading: "New-message alerts",
    attention_hint: "These settings are kept in this browser only.",
    sound: "Play a sound for new messages",
    notifications: "Desktop notifications",
    enable_notifications: "Turn on desktop notifications",
    unreadable_form: "The form could not be read.",
};

impl Lang {
    pub fn canned(self) -> &'static CannedText {
        match self {
            Lang::Zh => &CANNED_ZH,
            Lang::En => &CANNED_EN,
        }
    }

    pub fn settings(self) -> &'static SettingsText {
        match self {
            Lang::Zh => &SETTINGS_ZH,
            Lang::En => &SETTINGS_EN,
        }
    }
}

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
