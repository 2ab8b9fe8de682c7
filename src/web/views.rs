//! What the dashboard shows of conversations and messages, shaped for the templates, and the
//! fragments (one inbox row, one message, a conversation's state line) that both the full
//! pages and the live updates render: the same template file, whichever path it takes.
//!
//! Customer text is only ever put into templates as text, which askama escapes; links are
//! made by splitting text into segments, never by building HTML in Rust.

use askama::Template;

use crate::domain::content::Event;
use crate::domain::{
    Allowance, ConversationStatus, Handler, MediaState, MessageContent, MessageStatus, Millis,
    ReplyRules, SenderKind,
};
use crate::i18n::{Lang, ListText, OfficialText, Text, fill};
use crate::store::conversations::ConversationRow;
use crate::store::labels::LabelRow;
use crate::store::messages::MessageRow;

/// Longest preview of a last message in an inbox row, in characters.
const PREVIEW_CHARS: usize = 80;

/// One conversation as an inbox row (and the state line of its page).
#[derive(Debug, Clone)]
pub struct RowView {
    pub id: i64,
    /// the contact's saved name, else a short readable id from their openid ("访客 7F3A"):
    /// `customer_name`, the same wherever the customer is named
    pub name: String,
    pub openid: String,
    pub status: &'static str,
    pub status_label: &'static str,
    pub handler: &'static str,
    pub handler_label: &'static str,
    /// the assignee's id as text ("" when nobody), for `data-assignee`
    pub assignee_id: String,
    pub assignee_name: String,
    pub preview: String,
    /// the last message's id (0 when none) and direction, so a script can tell a new
    /// customer message from a reply
    pub last_message_id: i64,
    pub last_direction: &'static str,
    pub activity: When,
    pub unread: i64,
    pub window: WindowView,
    pub session_from: String,
    /// its labels, by name (`with_labels`; none until then)
    pub labels: Vec<LabelChip>,
    /// while snoozed: until when
    pub snoozed: Option<When>,
    /// the channel's id, and its name when kefu serves more than one (`with_channel`)
    pub channel_id: i64,
    pub channel: String,
    /// the label ids as `data-labels` wants them: " 3 7 " (spaces around each, so a script can
    /// look for " 3 ")
    pub label_ids: String,
}

/// A label as a chip: its name on its colour, one of `PALETTE`'s (a class), so the text stays
/// readable whatever colour was stored.
#[derive(Debug, Clone)]
pub struct LabelChip {
    pub id: i64,
    pub name: String,
    /// `label-red`, …: the palette colour nearest the stored one
    pub class: &'static str,
}

/// One colour of the label palette.
pub struct PaletteColor {
    /// as stored: `#rrggbb`
    pub color: &'static str,
    /// the chip's class
    pub class: &'static str,
    /// the colour's name in `ListText`
    pub name: fn(&ListText) -> &'static str,
}

/// The label colours admins choose from. Each is dark enough for white text (contrast 4.5:1
/// or more).
pub const PALETTE: [PaletteColor; 8] = [
    PaletteColor {
        color: "#cf222e",
        class: "label-red",
        name: |l| l.color_red,
    },
    PaletteColor {
        color: "#bc4c00",
        class: "label-orange",
        name: |l| l.color_orange,
    },
    PaletteColor {
        color: "#8a6100",
        class: "label-yellow",
        name: |l| l.color_yellow,
    },
    PaletteColor {
        color: "#1a7f37",
        class: "label-green",
        name: |l| l.color_green,
    },
    PaletteColor {
        color: "#0e7490",
        class: "label-teal",
        name: |l| l.color_teal,
    },
    PaletteColor {
        color: "#0969da",
        class: "label-blue",
        name: |l| l.color_blue,
    },
    PaletteColor {
        color: "#8250df",
        class: "label-purple",
        name: |l| l.color_purple,
    },
    PaletteColor {
        color: "#57606a",
        class: "label-grey",
        name: |l| l.color_grey,
    },
];

/// The palette class nearest a stored `#rrggbb` colour (a colour set through the API need not
/// be one of the palette's): grey for a colour without much colour in it (white, black, greys,
/// pastels), else the palette colour of the nearest hue.
pub fn palette_class(color: &str) -> &'static str {
    const GREY: &str = "label-grey";
    let Some((hue, chroma)) = hue_of(color) else {
        return GREY;
    };
    if chroma < 48 {
        return GREY;
    }
    PALETTE
        .iter()
        .filter(|p| p.class != GREY)
        .filter_map(|p| {
            let (h, _) = hue_of(p.color)?;
            let d = (h - hue).rem_euclid(360);
            Some((d.min(360 - d), p.class))
        })
        .min_by_key(|(d, _)| *d)
        .map_or(GREY, |(_, class)| class)
}

/// The hue (degrees) and chroma (0–255) of `#rrggbb`.
fn hue_of(color: &str) -> Option<(i32, i32)> {
    let hex = color.strip_prefix('#')?;
    if hex.len() != 6 {
        return None;
    }
    let channel = |i: usize| i32::from_str_radix(hex.get(i..i + 2)?, 16).ok();
    let (r, g, b) = (channel(0)?, channel(2)?, channel(4)?);
    let max = r.max(g).max(b);
    let chroma = max - r.min(g).min(b);
    if chroma == 0 {
        return Some((0, 0));
    }
    let h = if max == r {
        60 * (g - b) / chroma
    } else if max == g {
        120 + 60 * (b - r) / chroma
    } else {
        240 + 60 * (r - g) / chroma
    };
    Some((h.rem_euclid(360), chroma))
}

impl LabelChip {
    pub fn of(l: &LabelRow) -> LabelChip {
        LabelChip {
            id: l.id,
            name: l.name.clone(),
            class: palette_class(&l.color),
        }
    }
}

/// What staff call a customer everywhere (rows, the conversation's header, messages,
/// notifications): the name they saved, else "访客 7F3A90" / "Visitor 7F3A90", six hex digits
/// of a hash of the openid: short, readable, and the same on every page and in both languages
/// but the word.
pub fn customer_name(saved: Option<&str>, openid: &str, l: &ListText) -> String {
    named_or_visitor(saved, openid, l.visitor)
}

fn named_or_visitor(saved: Option<&str>, openid: &str, visitor: &str) -> String {
    match saved.map(str::trim).filter(|n| !n.is_empty()) {
        Some(name) => name.to_owned(),
        None => format!("{visitor} {}", short_id(openid)),
    }
}

/// Six hex digits from the openid (FNV-1a, folded): stable across processes and versions,
/// unlike std's hasher. Six, not four: among the tens of thousands of customers a busy mini
/// program has, four digits (65,536 values) would give many the same name.
pub fn short_id(openid: &str) -> String {
    let mut h: u32 = 0x811c_9dc5;
    for b in openid.bytes() {
        h ^= u32::from(b);
        h = h.wrapping_mul(0x0100_0193);
    }
    format!("{:06X}", (h ^ (h >> 24)) & 0xff_ffff)
}

/// A time, as `<time datetime>` wants it and as text for when scripts do not run.
#[derive(Debug, Clone, Default)]
pub struct When {
    pub ms: Millis,
    pub iso: String,
    pub text: String,
}

impl When {
    pub fn at(ms: Millis) -> When {
        let iso = crate::domain::rfc3339(ms);
        // "2026-11-23T10:04:05Z" → "2026-11-23 10:04 UTC"; the page's script shows local time
        let text = match (iso.get(..10), iso.get(11..16)) {
            (Some(d), Some(t)) => format!("{d} {t} UTC"),
            _ => iso.clone(),
        };
        When { ms, iso, text }
    }
}

/// How long the customer can still be answered, and how often.
#[derive(Debug, Clone)]
pub struct WindowView {
    /// when the reply window closes (ms), 0 when none is open
    pub ends_at: Millis,
    pub left: u32,
    pub open: bool,
    /// "47 h", "12 min", or why it is closed: the quota spent (the window still open) or
    /// the window closed
    pub label: String,
    /// the window is open but its replies are spent
    pub quota_spent: bool,
}

impl WindowView {
    pub fn of(allowance: Allowance, now: Millis, t: &Text) -> WindowView {
        let ends_at = allowance.ends_at.unwrap_or(0);
        let open = ends_at > now && allowance.left > 0;
        let quota_spent = ends_at > now && allowance.left == 0;
        let label = if quota_spent {
            t.lang().list().quota_spent.to_owned()
        } else if !open {
            t.window_closed.to_owned()
        } else {
            let minutes = (ends_at - now) / 60_000;
            if minutes >= 60 {
                format!("{} {}", minutes / 60, t.hours_left)
            } else {
                format!("{} {}", minutes.max(1), t.minutes_left)
            }
        };
        WindowView {
            ends_at,
            left: allowance.left,
            open,
            label,
            quota_spent,
        }
    }
}

pub fn status_label(t: &Text, status: ConversationStatus) -> &'static str {
    match status {
        ConversationStatus::Open => t.open,
        ConversationStatus::Pending => t.pending,
        ConversationStatus::Resolved => t.resolved,
    }
}

fn handler_label(t: &Text, handler: Handler) -> &'static str {
    match handler {
        Handler::Bot => t.handler_bot,
        Handler::Human => t.handler_human,
        Handler::Wechat => t.handler_wechat,
    }
}

impl RowView {
    pub fn of(
        r: &ConversationRow,
        last: Option<&MessageRow>,
        rules: &ReplyRules,
        now: Millis,
        t: &Text,
    ) -> RowView {
        let allowance = rules.allowance(
            r.last_message_at,
            r.replies_since_message,
            r.last_enter_at,
            r.replies_since_enter,
            now,
        );
        let l = t.lang().list();
        RowView {
            id: r.id,
            name: customer_name(r.contact_name.as_deref(), &r.openid, l),
            openid: r.openid.clone(),
            status: r.status.as_str(),
            status_label: status_label(t, r.status),
            handler: r.handler.as_str(),
            handler_label: handler_label(t, r.handler),
            assignee_id: r.assignee_id.map(|id| id.to_string()).unwrap_or_default(),
            assignee_name: r
                .assignee_name
                .clone()
                .unwrap_or_else(|| t.nobody.to_owned()),
            preview: last.map(|m| authored_preview(m, t, l)).unwrap_or_default(),
            last_message_id: r.last_message_id.unwrap_or(0),
            last_direction: last.map_or("", |m| m.direction.as_str()),
            activity: When::at(r.last_activity_at),
            unread: r.unread,
            window: WindowView::of(allowance, now, t),
            session_from: r.session_from.clone().unwrap_or_default(),
            labels: Vec::new(),
            snoozed: r.snoozed_until.map(When::at),
            label_ids: " ".to_owned(),
            channel_id: r.channel_id,
            channel: String::new(),
        }
    }

    /// The row with its channel's name, shown only when kefu serves several channels.
    pub fn with_channel(mut self, channels: &crate::channels::Channels) -> RowView {
        if channels.several() {
            self.channel = channels.label_of(self.channel_id);
        }
        self
    }

    /// The row with its labels (of this conversation, by name).
    pub fn with_labels<'a>(mut self, labels: impl IntoIterator<Item = &'a LabelRow>) -> RowView {
        self.labels = labels.into_iter().map(LabelChip::of).collect();
        self.label_ids = self.labels.iter().fold(" ".to_owned(), |mut ids, l| {
            ids.push_str(&l.id.to_string());
            ids.push(' ');
            ids
        });
        self
    }
}

/// The preview with who wrote it: "客户：…", "机器人：…", "王芳：…".
pub fn authored_preview(m: &MessageRow, t: &Text, l: &ListText) -> String {
    let who = match m.sender_kind {
        SenderKind::Customer => t.customer.to_owned(),
        SenderKind::Agent => m
            .sender_name
            .clone()
            .filter(|n| !n.is_empty())
            .unwrap_or_else(|| t.handler_human.to_owned()),
        SenderKind::Bot => t.bot.to_owned(),
        SenderKind::System => t.system.to_owned(),
    };
    fill(l.said, &[("who", &who), ("text", &preview(m, t))])
}

/// A message in one line of plain text, for an inbox row or a notification.
pub fn preview(m: &MessageRow, t: &Text) -> String {
    let text = match &m.content {
        MessageContent::Text(c) => c.text.clone(),
        MessageContent::Note(c) => format!("{} {}", t.note, c.text),
        MessageContent::Image(_) => t.image.to_owned(),
        MessageContent::Link(c) => format!("{} {}", t.link, c.title),
        MessageContent::MiniProgramPage(c) => format!("{} {}", t.card, c.title),
        MessageContent::Event(c) => format!("{} {}", t.event, event_line(c, t).text),
        MessageContent::Unknown(_) => t.other.to_owned(),
        MessageContent::Voice(c) => {
            let o = t.lang().official();
            match c.recognition.as_deref().filter(|r| !r.trim().is_empty()) {
                Some(heard) => format!("{} {heard}", o.voice),
                None => o.voice.to_owned(),
            }
        }
        MessageContent::Video(_) => t.lang().official().video.to_owned(),
        MessageContent::ShortVideo(_) => t.lang().official().short_video.to_owned(),
        MessageContent::Location(c) => {
            let o = t.lang().official();
            if c.label.trim().is_empty() {
                format!("{} {}", o.location, coordinates(c.latitude, c.longitude, o))
            } else {
                format!("{} {}", o.location, c.label)
            }
        }
        MessageContent::News(c) => format!("{} {}", t.lang().sending().news, c.title),
        MessageContent::MsgMenu(c) => {
            let first = c.items.first().map(|i| i.content.as_str());
            let words = Some(c.head_content.as_str())
                .filter(|h| !h.trim().is_empty())
                .or(first)
                .unwrap_or_default();
            format!("{} {words}", t.lang().sending().menu)
        }
    };
    let one_line: String = text.split_whitespace().collect::<Vec<_>>().join(" ");
    if one_line.chars().count() > PREVIEW_CHARS {
        let mut cut: String = one_line.chars().take(PREVIEW_CHARS - 1).collect();
        cut.push('…');
        cut
    } else {
        one_line
    }
}

/// A piece of message text: plain, or a web address to link.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Segment {
    pub text: String,
    /// set only for http(s) addresses found in the text
    pub href: Option<String>,
}

/// Splits text into plain parts and http(s) addresses. Anything else (javascript:, data:)
/// stays plain text, so a customer cannot make a dangerous link.
pub fn linkify(text: &str) -> Vec<Segment> {
    let mut out = Vec::new();
    let mut rest = text;
    loop {
        let start = [rest.find("http://"), rest.find("https://")]
            .into_iter()
            .flatten()
            .min();
        let Some(start) = start else { break };
        let tail = &rest[start..];
        let mut end = tail
            .find(|c: char| {
                c.is_whitespace() || !c.is_ascii() || matches!(c, '<' | '>' | '"' | '\'' | '`')
            })
            .unwrap_or(tail.len());
        // a sentence's closing punctuation is not part of the address
        while end > 0 && tail[..end].ends_with(['.', ',', ';', ':', '!', '?', ')', ']', '}']) {
            end -= 1;
        }
        let url = &tail[..end];
        let scheme_len = if url.starts_with("https://") { 8 } else { 7 };
        if url.len() <= scheme_len {
            // "http://" alone: not an address; keep it as text and go on after it
            out.push(Segment {
                text: rest[..start + scheme_len].to_owned(),
                href: None,
            });
            rest = &rest[start + scheme_len..];
            continue;
        }
        if start > 0 {
            out.push(Segment {
                text: rest[..start].to_owned(),
                href: None,
            });
        }
        out.push(Segment {
            text: url.to_owned(),
            href: Some(url.to_owned()),
        });
        rest = &tail[end..];
    }
    if !rest.is_empty() {
        out.push(Segment {
            text: rest.to_owned(),
            href: None,
        });
    }
    // merge neighbouring plain parts (from skipped bare schemes)
    let mut merged: Vec<Segment> = Vec::with_capacity(out.len());
    for s in out {
        match merged.last_mut() {
            Some(last) if last.href.is_none() && s.href.is_none() => last.text.push_str(&s.text),
            _ => merged.push(s),
        }
    }
    merged
}

/// A web address from a message's content, only if it is http(s).
fn web_url(s: &str) -> Option<String> {
    let lower = s.trim().to_ascii_lowercase();
    (lower.starts_with("https://") || lower.starts_with("http://")).then(|| s.trim().to_owned())
}

/// Formats browsers play in `<audio>`. WeChat's voice messages are AMR or Speex, which none
/// plays: those are offered for download instead.
fn browser_plays(voice_format: &str) -> bool {
    matches!(
        voice_format.trim().to_ascii_lowercase().as_str(),
        "mp3" | "mpeg" | "wav" | "ogg" | "oga" | "opus" | "m4a" | "aac" | "webm"
    )
}

/// Percent-encodes a query value (RFC 3986: everything but unreserved characters), so that a
/// label with `&`, `#` or spaces stays one parameter.
fn query_value(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                out.push(char::from(b));
            }
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

/// A place on AMap (高德), whose coordinates (GCJ-02) are the ones WeChat gives: a marker at
/// the place, named by its label. The numbers are ours (parsed), the label is encoded.
pub fn map_url(latitude: f64, longitude: f64, label: &str) -> String {
    let name = if label.trim().is_empty() {
        String::new()
    } else {
        format!("&name={}", query_value(label.trim()))
    };
    format!(
        "https://uri.amap.com/marker?position={longitude},{latitude}{name}&src=kefu&coordinate=gaode&callnative=0"
    )
}

/// "23.134521, 113.358803" in the page's words.
fn coordinates(latitude: f64, longitude: f64, o: &OfficialText) -> String {
    fill(
        o.coordinates,
        &[
            ("lat", &latitude.to_string()),
            ("lng", &longitude.to_string()),
        ],
    )
}

/// An event as one line, with a link where it has one (a menu's web page, a reported place).
pub struct EventLine {
    pub text: String,
    /// VIEW: the menu's web page, only if it is http(s)
    pub href: Option<String>,
    /// LOCATION: the reported place on a map
    pub map: Option<String>,
}

/// What an event says, in the viewer's language: "关注了公众号", "clicked the menu · KEY", …;
/// an event kefu has no words for is named as WeChat names it.
pub fn event_line(c: &Event, t: &Text) -> EventLine {
    let o = t.lang().official();
    let key = c.event_key.as_deref().unwrap_or_default();
    let unknown = || o.someone.to_owned();
    let mut line = EventLine {
        text: String::new(),
        href: None,
        map: None,
    };
    line.text = match c.event.as_str() {
        "user_enter_tempsession" => {
            let what = t.entered_chat.to_owned();
            match c.session_from.as_deref().filter(|f| !f.is_empty()) {
                Some(from) => format!("{what} · {} {from}", t.from_source),
                None => what,
            }
        }
        // a follow from a QR code has the scene with WeChat's prefix `qrscene_`
        "subscribe" => match key.strip_prefix("qrscene_").filter(|s| !s.is_empty()) {
            Some(scene) => fill(o.followed_scene, &[("scene", scene)]),
            None if !key.is_empty() => fill(o.followed_scene, &[("scene", key)]),
            None => o.followed.to_owned(),
        },
        "unsubscribe" => o.unfollowed.to_owned(),
        "SCAN" => fill(o.scanned, &[("scene", key)]),
        "CLICK" => fill(o.clicked, &[("key", key)]),
        "VIEW" => {
            line.href = web_url(key);
            match line.href {
                Some(_) => o.viewed.to_owned(),
                // not a web address: shown as text, never as a link
                None => format!("{} · {key}", o.viewed),
            }
        }
        "LOCATION" => match (c.latitude, c.longitude) {
            (Some(lat), Some(lng)) => {
                line.map = Some(map_url(lat, lng, ""));
                let mut text = format!("{} · {}", o.reported_location, coordinates(lat, lng, o));
                if let Some(p) = c.precision {
                    text.push_str(" · ");
                    text.push_str(&fill(o.precision, &[("m", &format!("{p:.0}"))]));
                }
                text
            }
            _ => o.reported_location.to_owned(),
        },
        "kf_create_session" => fill(
            o.kf_created,
            &[("account", &c.kf_account.clone().unwrap_or_else(unknown))],
        ),
        "kf_close_session" => fill(
            o.kf_closed,
            &[("account", &c.kf_account.clone().unwrap_or_else(unknown))],
        ),
        "kf_switch_session" => fill(
            o.kf_switched,
            &[
                ("from", &c.from_kf_account.clone().unwrap_or_else(unknown)),
                ("to", &c.to_kf_account.clone().unwrap_or_else(unknown)),
            ],
        ),
        other => match c.session_from.as_deref().filter(|f| !f.is_empty()) {
            Some(from) => format!("{other} · {} {from}", t.from_source),
            None => other.to_owned(),
        },
    };
    line
}

/// One message as the conversation page shows it.
#[derive(Debug, Clone, Default)]
pub struct MessageView {
    pub id: i64,
    pub conversation_id: i64,
    pub direction: &'static str,
    /// text, image, link, miniprogrampage, voice, video, shortvideo, location, event, note,
    /// unknown
    pub kind: &'static str,
    pub status: &'static str,
    pub status_label: &'static str,
    pub sender_kind: &'static str,
    pub sender_label: String,
    pub at: When,
    /// text and note
    pub segments: Vec<Segment>,
    /// image: kefu's stored copy, when it has one
    pub image_url: Option<String>,
    /// image: pending, stored, failed (incoming ones are fetched from WeChat)
    pub media_state: &'static str,
    /// link, card, link card (news) and a sent video's title and description
    pub title: String,
    pub description: String,
    pub url: Option<String>,
    /// link card (news): its picture's address, http(s) only (shown as a link: the page's
    /// policy loads no picture from elsewhere)
    pub picture_url: Option<String>,
    /// menu: the text before, the items, the text after
    pub menu_head: String,
    pub menu_items: Vec<MenuItemView>,
    pub menu_tail: String,
    /// link: the address when it is no http(s) one, shown as text and never linked
    pub raw_url: String,
    pub thumb_url: Option<String>,
    pub appid: String,
    pub pagepath: String,
    /// voice and video: kefu's stored copy (fetched from WeChat like an image)
    pub media_url: Option<String>,
    /// voice: whether browsers play its format, and the download link's words when not
    pub playable: bool,
    pub download_label: String,
    /// voice: what WeChat's speech recognition heard
    pub recognition: String,
    /// location: the place on a map, its name and its coordinates as text
    pub map_url: Option<String>,
    pub place: String,
    pub coordinates: String,
    /// event
    pub event_label: String,
    /// event: a web page (VIEW, http(s) only)
    pub event_url: Option<String>,
    /// unknown: the push as it came
    pub raw: String,
    pub error_code: String,
    pub error_message: String,
}

/// One item of a sent menu: its id (what WeChat reports back) and its text.
#[derive(Debug, Clone, Default)]
pub struct MenuItemView {
    pub id: String,
    pub content: String,
}

impl MessageView {
    pub fn of(m: &MessageRow, t: &Text) -> MessageView {
        let media_url = (m.media_state == Some(MediaState::Stored))
            .then(|| format!("/api/v1/messages/{}/media", m.id));
        let sender_label = match m.sender_kind {
            SenderKind::Customer => {
                named_or_visitor(m.sender_name.as_deref(), &m.openid, t.visitor)
            }
            SenderKind::Agent => m.sender_name.clone().unwrap_or_default(),
            SenderKind::Bot => t.bot.to_owned(),
            SenderKind::System => t.system.to_owned(),
        };
        let mut view = MessageView {
            id: m.id,
            conversation_id: m.conversation_id,
            direction: m.direction.as_str(),
            kind: m.content.kind().as_str(),
            status: m.status.as_str(),
            status_label: match m.status {
                MessageStatus::Received => t.status_received,
                MessageStatus::Queued => t.status_queued,
                MessageStatus::Sent => t.status_sent,
                MessageStatus::Failed => t.status_failed,
            },
            sender_kind: m.sender_kind.as_str(),
            sender_label,
            at: When::at(m.created_at),
            media_state: m.media_state.map_or("", MediaState::as_str),
            error_code: m.error_code.clone().unwrap_or_default(),
            error_message: m.error_message.clone().unwrap_or_default(),
            ..MessageView::default()
        };
        match &m.content {
            MessageContent::Text(c) | MessageContent::Note(c) => view.segments = linkify(&c.text),
            // the url of an image kefu keeps is there from the start (the template shows the
            // picture once `media_state` says it is stored)
            MessageContent::Image(_) if m.media_state.is_some() => {
                view.image_url = Some(format!("/api/v1/messages/{}/media", m.id));
            }
            MessageContent::Image(_) => {}
            MessageContent::Link(c) => {
                view.title = c.title.clone();
                view.description = c.description.clone();
                view.url = web_url(&c.url);
                if view.url.is_none() {
                    view.raw_url = c.url.clone();
                }
                view.thumb_url = c.thumb_url.as_deref().and_then(web_url);
            }
            MessageContent::MiniProgramPage(c) => {
                view.title = c.title.clone();
                view.appid = c.appid.clone();
                view.pagepath = c.pagepath.clone();
                // only kefu's own copy of the cover: WeChat's address is not for browsers
                view.thumb_url = media_url;
            }
            MessageContent::Event(c) => {
                let line = event_line(c, t);
                view.event_label = line.text;
                view.event_url = line.href;
                view.map_url = line.map;
            }
            MessageContent::Unknown(c) => view.raw = c.raw.clone(),
            MessageContent::Voice(c) => {
                view.media_url = m
                    .media_state
                    .map(|_| format!("/api/v1/messages/{}/media", m.id));
                view.playable = browser_plays(&c.format);
                let format = c.format.trim().to_ascii_uppercase();
                view.download_label = fill(
                    t.lang().official().voice_download,
                    &[("format", if format.is_empty() { "?" } else { &format })],
                );
                view.recognition = c.recognition.clone().unwrap_or_default();
            }
            MessageContent::Video(c) | MessageContent::ShortVideo(c) => {
                view.media_url = m
                    .media_state
                    .map(|_| format!("/api/v1/messages/{}/media", m.id));
                // an agent's video may have a title and words for the customer
                view.title = c.title.clone().unwrap_or_default();
                view.description = c.description.clone().unwrap_or_default();
            }
            MessageContent::News(c) => {
                view.title = c.title.clone();
                view.description = c.description.clone();
                view.url = web_url(&c.url);
                if view.url.is_none() {
                    view.raw_url = c.url.clone();
                }
                view.picture_url = c.picurl.as_deref().and_then(web_url);
            }
            MessageContent::MsgMenu(c) => {
                view.menu_head = c.head_content.clone();
                view.menu_items = c
                    .items
                    .iter()
                    .map(|i| MenuItemView {
                        id: i.id.clone(),
                        content: i.content.clone(),
                    })
                    .collect();
                view.menu_tail = c.tail_content.clone();
            }
            MessageContent::Location(c) => {
                let o = t.lang().official();
                view.map_url = Some(map_url(c.latitude, c.longitude, &c.label));
                view.place = c.label.clone();
                view.coordinates = coordinates(c.latitude, c.longitude, o);
            }
        }
        view
    }
}

/// One inbox row: `<li class="conv">`.
#[derive(Template)]
#[template(path = "fragments/row.html")]
pub struct RowFragment<'a> {
    pub c: &'a RowView,
    pub t: &'static Text,
}

/// One message: `<li class="msg">`.
#[derive(Template)]
#[template(path = "fragments/message.html")]
pub struct MessageFragment<'a> {
    pub m: &'a MessageView,
    pub t: &'static Text,
}

/// A conversation's state line on its page: status, owner, handler, reply window.
#[derive(Template)]
#[template(path = "fragments/state.html")]
pub struct StateFragment<'a> {
    pub c: &'a RowView,
    pub t: &'static Text,
    pub window: WindowState,
}

/// The reply window as the conversation pane says it, with a label: open ("reply window:
/// 23 h left · 5 replies left"), open with the replies used up ("quota spent"), or closed.
/// A row's `WindowView::open` is false in both of the last two cases; the pane tells them
/// apart, since the first ends when the customer writes and the second only then too, but
/// for a different reason the agent should know.
#[derive(Debug, Clone)]
pub struct WindowState {
    /// "open", "spent" or "closed"
    pub kind: &'static str,
    pub text: String,
}

impl WindowState {
    pub fn of(w: &WindowView, now: Millis, t: &Text) -> WindowState {
        if w.ends_at <= now {
            return WindowState {
                kind: "closed",
                text: t.window_closed.to_owned(),
            };
        }
        if w.left == 0 {
            return WindowState {
                kind: "spent",
                text: t.quota_spent.to_owned(),
            };
        }
        let minutes = ((w.ends_at - now) / 60_000).max(1);
        let time = if minutes >= 60 {
            format!("{} {}", minutes / 60, t.hours_left)
        } else {
            format!("{minutes} {}", t.minutes_left)
        };
        let left = w.left.to_string();
        WindowState {
            kind: "open",
            text: format!(
                "{} · {}",
                fill(t.window_time_left, &[("time", &time)]),
                fill(t.replies_left_n, &[("n", &left)])
            ),
        }
    }
}

/// Renders a fragment; a template error is a bug, so it is logged and the fragment left out
/// (the page still works and the next full load shows it).
pub fn fragment(template: &impl Template) -> String {
    template.render().unwrap_or_else(|e| {
        tracing::error!(error = %e, "a dashboard fragment failed to render");
        String::new()
    })
}

/// Both languages' renderings of something, for live updates (each dashboard gets its own).
pub fn in_each_lang<T>(mut render: impl FnMut(Lang) -> T) -> [T; 2] {
    [render(Lang::Zh), render(Lang::En)]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hrefs(text: &str) -> Vec<(String, Option<String>)> {
        linkify(text)
            .into_iter()
            .map(|s| (s.text, s.href))
            .collect()
    }

    #[test]
    fn addresses_in_text_become_links_and_nothing_else_does() {
        assert_eq!(
            hrefs("看 https://example.com/a?b=1, 好吗"),
            vec![
                ("看 ".into(), None),
                (
                    "https://example.com/a?b=1".into(),
                    Some("https://example.com/a?b=1".into())
                ),
                (", 好吗".into(), None),
            ]
        );
        assert_eq!(
            hrefs("javascript:alert(1) data:text/html,x"),
            vec![("javascript:alert(1) data:text/html,x".into(), None)]
        );
        assert_eq!(
            hrefs("<a href=\"http://x.cn\">"),
            vec![
                ("<a href=\"".into(), None),
                ("http://x.cn".into(), Some("http://x.cn".into())),
                ("\">".into(), None),
            ]
        );
        assert_eq!(
            hrefs("http:// and https://"),
            vec![("http:// and https://".into(), None)]
        );
        assert_eq!(hrefs(""), Vec::<(String, Option<String>)>::new());
    }

    #[test]
    fn a_spent_quota_is_not_a_closed_window() {
        let t = Lang::Zh.text();
        let l = Lang::Zh.list();
        let now = 1_000_000_000;
        let spent = Allowance {
            ends_at: Some(now + 3_600_000),
            left: 0,
        };
        let w = WindowView::of(spent, now, t);
        assert!(!w.open && w.quota_spent);
        assert_eq!(w.label, l.quota_spent);
        let closed = Allowance {
            ends_at: Some(now - 1),
            left: 5,
        };
        let w = WindowView::of(closed, now, t);
        assert!(!w.open && !w.quota_spent);
        assert_eq!(w.label, t.window_closed);
        let open = Allowance {
            ends_at: Some(now + 2 * 3_600_000),
            left: 3,
        };
        assert!(WindowView::of(open, now, t).open);
    }

    #[test]
    fn customers_without_a_name_get_a_short_stable_readable_id() {
        let l = Lang::Zh.list();
        let a = customer_name(None, "oAbCdEfGhIjKlMnOpQrStUvWxYz", l);
        assert_eq!(
            a,
            customer_name(Some("  "), "oAbCdEfGhIjKlMnOpQrStUvWxYz", l)
        );
        assert!(a.starts_with("访客 ") && a.chars().count() == 9, "{a}");
        assert_ne!(a, customer_name(None, "oAbCdEfGhIjKlMnOpQrStUvWxYZ", l));
        assert_eq!(customer_name(Some(" 王芳 "), "o", l), "王芳");
        // the same id in English, only the word differs
        let en = customer_name(None, "oAbCdEfGhIjKlMnOpQrStUvWxYz", Lang::En.list());
        assert_eq!(en.strip_prefix("Visitor "), a.strip_prefix("访客 "));
    }

    #[test]
    fn any_stored_colour_gets_a_palette_class() {
        assert_eq!(palette_class("#cf222e"), "label-red");
        assert_eq!(palette_class("#2255dd"), "label-blue");
        assert_eq!(palette_class("#00aa00"), "label-green");
        assert_eq!(palette_class("#FAFAFA"), "label-grey");
        assert_eq!(palette_class("nonsense"), "label-grey");
        assert_eq!(palette_class("#zzzzzz"), "label-grey");
    }

    #[test]
    fn previews_are_one_short_line() {
        let t = Lang::En.text();
        let long = "字".repeat(200);
        let m = MessageRow {
            id: 1,
            conversation_id: 1,
            direction: crate::domain::Direction::In,
            sender_kind: SenderKind::Customer,
            sender_id: None,
            sender_name: None,
            openid: "o".into(),
            content: MessageContent::text(format!("a\n\nb {long}")),
            status: MessageStatus::Received,
            error_code: None,
            error_message: None,
            created_at: 0,
            media_state: None,
        };
        let p = preview(&m, t);
        assert!(p.starts_with("a b 字"));
        assert_eq!(p.chars().count(), PREVIEW_CHARS);
        assert!(p.ends_with('…'));
    }
}
