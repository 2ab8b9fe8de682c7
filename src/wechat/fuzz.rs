//! Fuzz targets for the WeChat protocol (tests only; see `crate::fuzzing`): push bodies built
//! field by field the way WeChat sends them, in JSON and in XML, read back exactly, then
//! mutated (wrong types, odd and huge strings, control characters, nesting, repeated keys,
//! CDATA splits, entities, flipped bytes); the encrypted envelope; the whole path of an
//! encrypted push as the webhook takes it (envelope, `msg_signature`, AES, parsing); the AES
//! framing against a model of it; the signatures; and the passive replies.
//!
//! They live apart from `push.rs` and `crypto.rs` so that changes to the parsers and to these
//! targets do not collide. The properties: what a well-formed push must read back as, what the
//! strict reading refuses (control characters, wrong JSON types, repeated keys), that nothing
//! panics, and the invariants of anything accepted.

use aes::Aes256;
use base64::Engine as _;
use base64::alphabet;
use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig, STANDARD};
use cbc::cipher::block_padding::NoPadding;
use cbc::cipher::{BlockEncryptMut, KeyIvInit};
use proptest::prelude::*;

use super::crypto::{
    AesKey, Cipher, CryptoError, msg_signature, sign, signature, signatures_match,
};
use super::push::{EventDetails, Format, Push, PushError, PushKind, encrypted_field};
use super::reply;

const KEY: &str = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG";
const APPID: &str = "wx1234567890abcdef";
/// The end of year 9999, the latest CreateTime `push` accepts.
const MAX_CREATE_TIME: i64 = 253_402_300_799;

fn cipher() -> Cipher {
    Cipher::new(AesKey::from_encoding_key(KEY).expect("a valid key"), APPID)
}

// ---------------------------------------------------------------------------------------------
// A push as a list of fields, and its two renderings

/// A field's value as it is written into a body.
#[derive(Debug, Clone)]
enum Val {
    /// a JSON string; XML text
    Text(String),
    /// a JSON number literal, written as it is; XML text
    Number(String),
    Bool(bool),
    /// JSON null; an empty XML element
    Null,
    /// a JSON array; XML child elements
    List(Vec<Val>),
    /// a JSON object (keys may repeat); XML child elements
    Map(Vec<(String, Val)>),
    /// `n` nested arrays or elements around nothing
    Deep(usize),
}

/// How one body is written: every choice that must not change what it means.
#[derive(Debug, Clone)]
struct Style {
    /// per character: write it escaped (JSON `\u` or short escape; XML a character reference)
    escapes: Vec<bool>,
    /// per field: split its text at these fractions into CDATA and plain text sections (XML)
    splits: Vec<u8>,
    /// XML: the text sections are CDATA rather than escaped text
    cdata: bool,
    /// layout between fields: spaces, new lines, (XML) comments
    layout: Vec<u8>,
    bom: bool,
    /// XML: an `<?xml …?>` declaration first
    declaration: bool,
}

fn style() -> impl Strategy<Value = Style> {
    (
        prop::collection::vec(any::<bool>(), 0..64),
        prop::collection::vec(any::<u8>(), 0..6),
        any::<bool>(),
        prop::collection::vec(0..6u8, 0..20),
        prop::bool::weighted(0.1),
        any::<bool>(),
    )
        .prop_map(|(escapes, splits, cdata, layout, bom, declaration)| Style {
            escapes,
            splits,
            cdata,
            layout,
            bom,
            declaration,
        })
}

impl Style {
    fn escape(&self, i: usize) -> bool {
        !self.escapes.is_empty() && self.escapes[i % self.escapes.len()]
    }

    fn layout(&self, i: usize, format: Format) -> &'static str {
        if self.layout.is_empty() {
            return "";
        }
        match (self.layout[i % self.layout.len()], format) {
            (0 | 1, _) => "",
            (2, _) => " ",
            (3, _) => "\n  ",
            (4, _) => "\r\n\t",
            (_, Format::Json) => "  ",
            (_, Format::Xml) => "<!-- layout -->",
        }
    }
}

fn json_string(s: &str, style: &Style) -> String {
    let mut out = String::from("\"");
    for (i, c) in s.chars().enumerate() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' if !style.escape(i) => out.push_str("\\n"),
            '\t' if !style.escape(i) => out.push_str("\\t"),
            '/' if style.escape(i) => out.push_str("\\/"),
            c if (c as u32) < 0x20 || style.escape(i) => {
                let mut units = [0u16; 2];
                for unit in c.encode_utf16(&mut units) {
                    out.push_str(&format!("\\u{unit:04X}"));
                }
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

fn json_value(v: &Val, style: &Style, out: &mut String) {
    match v {
        Val::Text(s) => out.push_str(&json_string(s, style)),
        Val::Number(n) => out.push_str(n),
        Val::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Val::Null => out.push_str("null"),
        Val::List(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                json_value(item, style, out);
            }
            out.push(']');
        }
        Val::Map(fields) => json_object(fields, style, out),
        Val::Deep(n) => {
            out.push_str(&"[".repeat(*n));
            out.push_str(&"]".repeat(*n));
        }
    }
}

fn json_object(fields: &[(String, Val)], style: &Style, out: &mut String) {
    out.push('{');
    for (i, (key, value)) in fields.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push_str(style.layout(i, Format::Json));
        out.push_str(&json_string(key, style));
        out.push(':');
        json_value(value, style, out);
    }
    out.push('}');
}

/// Text cut into sections at the style's points, and whether they are written as CDATA (then
/// the first and the last are, since layout around CDATA is dropped) or all as escaped text.
fn xml_sections(s: &str, style: &Style) -> (Vec<String>, bool) {
    let chars: Vec<char> = s.chars().collect();
    let mut cuts: Vec<usize> = style
        .splits
        .iter()
        .map(|&f| usize::from(f) * chars.len() / 256)
        .collect();
    cuts.push(0);
    cuts.push(chars.len());
    cuts.sort_unstable();
    cuts.dedup();
    let sections: Vec<String> = cuts
        .windows(2)
        .map(|w| chars[w[0]..w[1]].iter().collect())
        .collect();
    let any_cdata = style.cdata || sections.len() > 2;
    (sections, any_cdata)
}

/// Text as XML content: escaped text, character references, or CDATA sections (a `]]>` split
/// across two), cut into sections (see `xml_sections`).
fn xml_text(s: &str, style: &Style, field: usize) -> String {
    let (sections, any_cdata) = xml_sections(s, style);
    let mut out = String::new();
    for (i, section) in sections.iter().enumerate() {
        let edge = i == 0 || i + 1 == sections.len();
        let as_cdata = any_cdata && (edge || (i + field).is_multiple_of(2));
        if as_cdata {
            out.push_str(&super::simulate::cdata(section));
        } else {
            for (j, c) in section.chars().enumerate() {
                match c {
                    '<' => out.push_str("&lt;"),
                    '&' => out.push_str("&amp;"),
                    '>' => out.push_str("&gt;"),
                    '"' if style.escape(j) => out.push_str("&quot;"),
                    '\'' if style.escape(j) => out.push_str("&apos;"),
                    c if style.escape(j + i) => out.push_str(&format!("&#x{:X};", c as u32)),
                    c if style.escape(j + i + 1) && c.is_alphanumeric() => {
                        out.push_str(&format!("&#{};", c as u32))
                    }
                    c => out.push(c),
                }
            }
        }
    }
    out
}

fn xml_value(name: &str, v: &Val, style: &Style, field: usize, out: &mut String) {
    match v {
        Val::Null => out.push_str(&format!("<{name}/>")),
        Val::Text(s) => out.push_str(&format!("<{name}>{}</{name}>", xml_text(s, style, field))),
        Val::Number(n) => out.push_str(&format!("<{name}>{n}</{name}>")),
        Val::Bool(b) => out.push_str(&format!("<{name}>{b}</{name}>")),
        Val::List(items) => {
            out.push_str(&format!("<{name}>"));
            for (i, item) in items.iter().enumerate() {
                xml_value("item", item, style, field + i, out);
            }
            out.push_str(&format!("</{name}>"));
        }
        Val::Map(fields) => {
            out.push_str(&format!("<{name}>"));
            for (i, (key, value)) in fields.iter().enumerate() {
                xml_value(&xml_name(key), value, style, field + i, out);
            }
            out.push_str(&format!("</{name}>"));
        }
        Val::Deep(n) => {
            out.push_str(&format!(
                "<{name}>{}{}</{name}>",
                "<a>".repeat(*n),
                "</a>".repeat(*n)
            ));
        }
    }
}

/// A key as an XML element name (letters, digits and `_`, not starting with a digit).
fn xml_name(key: &str) -> String {
    let name: String = key
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || *c == '_')
        .collect();
    match name.chars().next() {
        Some(c) if !c.is_ascii_digit() => name,
        _ => format!("x{name}"),
    }
}

fn render(fields: &[(String, Val)], format: Format, style: &Style) -> String {
    let mut out = String::new();
    if style.bom {
        out.push('\u{feff}');
    }
    match format {
        Format::Json => json_object(fields, style, &mut out),
        Format::Xml => {
            if style.declaration {
                out.push_str("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
            }
            out.push_str("<xml>");
            for (i, (key, value)) in fields.iter().enumerate() {
                out.push_str(style.layout(i, Format::Xml));
                xml_value(&xml_name(key), value, style, i, &mut out);
            }
            out.push_str(style.layout(fields.len(), Format::Xml));
            out.push_str("</xml>");
        }
    }
    out
}

// ---------------------------------------------------------------------------------------------
// Well-formed pushes, and what each must read back as

/// Free text as a customer types it: any script, emoji, markup characters, `]]>`, spaces and
/// line feeds, but no other control character.
fn free_text() -> impl Strategy<Value = String> {
    prop_oneof![
        "[a-zA-Z0-9 ]{0,20}",
        "[\\PC\n ]{0,40}".prop_map(|s| s.replace('\r', "")),
        prop::collection::vec(
            prop::sample::select(vec![
                "你好",
                "退款",
                "😀",
                "👍🏽",
                "<",
                ">",
                "&",
                "&amp;",
                "]]>",
                "<![CDATA[",
                "\"",
                "'",
                "\\",
                "/",
                " ",
                "\n",
                "\u{3000}",
                "\u{feff}",
                "é",
                "\u{301}",
                "𠀀",
                "a",
                "Z",
                "1",
            ]),
            0..24,
        )
        .prop_map(|pieces| pieces.concat()),
    ]
}

/// Ids as WeChat makes them (openids, media ids, the mini program's original id).
fn id() -> impl Strategy<Value = String> {
    "[A-Za-z0-9_-]{1,40}"
}

/// What kind of push, with its own fields.
#[derive(Debug, Clone)]
enum Kind {
    Text {
        /// WeChat's own texts always carry one; the texts of some SDKs' examples do not
        msg_id: Option<u64>,
        content: String,
    },
    Image {
        msg_id: u64,
        pic_url: Option<String>,
        media_id: String,
    },
    Card {
        msg_id: u64,
        title: Option<String>,
        app_id: Option<String>,
        page_path: Option<String>,
        thumb_url: Option<String>,
        thumb_media_id: Option<String>,
    },
    Event {
        event: String,
        session_from: Option<String>,
    },
    Unknown {
        msg_type: String,
        msg_id: Option<u64>,
    },
    // an Official Account's messages and events
    Voice {
        msg_id: u64,
        media_id: String,
        format: Option<String>,
        recognition: Option<String>,
    },
    Video {
        msg_id: u64,
        media_id: String,
        thumb_media_id: Option<String>,
        short: bool,
    },
    Location {
        msg_id: u64,
        latitude: Decimal,
        longitude: Decimal,
        scale: Option<u32>,
        label: Option<String>,
    },
    Link {
        msg_id: u64,
        title: Option<String>,
        description: Option<String>,
        url: Option<String>,
    },
    OfficialEvent {
        event: &'static str,
        /// EventKey, or KfAccount / FromKfAccount for the session events
        key: Option<String>,
        /// Ticket, or ToKfAccount
        other: Option<String>,
        /// LOCATION: latitude, longitude, precision
        place: Option<(Decimal, Decimal, Decimal)>,
    },
}

/// A decimal as WeChat writes coordinates: millionths, written with six decimals, as a JSON
/// number or (`as_text`) a string.
#[derive(Debug, Clone, Copy)]
struct Decimal {
    millionths: i64,
    as_text: bool,
}

impl Decimal {
    fn text(self) -> String {
        let sign = if self.millionths < 0 { "-" } else { "" };
        let abs = self.millionths.unsigned_abs();
        format!("{sign}{}.{:06}", abs / 1_000_000, abs % 1_000_000)
    }

    fn value(self) -> f64 {
        self.text().parse().expect("a decimal")
    }

    fn field(self) -> Val {
        if self.as_text {
            Val::Text(self.text())
        } else {
            Val::Number(self.text())
        }
    }
}

fn decimal(limit: i64) -> impl Strategy<Value = Decimal> {
    (
        prop_oneof![-limit..=limit, Just(limit), Just(-limit), Just(0)],
        any::<bool>(),
    )
        .prop_map(|(millionths, as_text)| Decimal {
            millionths,
            as_text,
        })
}

/// The events of an Official Account that carry fields.
const OFFICIAL_EVENTS: [&str; 10] = [
    "subscribe",
    "unsubscribe",
    "SCAN",
    "CLICK",
    "VIEW",
    "LOCATION",
    "kf_create_session",
    "kf_close_session",
    "kf_switch_session",
    "TEMPLATESENDJOBFINISH",
];

/// The fields kefu reads as numbers: a number there is no wrong type.
fn numeric(name: &str) -> bool {
    matches!(
        name,
        "Location_X" | "Location_Y" | "Scale" | "Latitude" | "Longitude" | "Precision"
    )
}

#[derive(Debug, Clone)]
struct Model {
    to_user: Option<String>,
    from_user: String,
    create_time: i64,
    kind: Kind,
}

/// Boxed: the value trees of this many alternatives, built on the stack in a debug build,
/// overflowed a test thread's stack once the Official Account's kinds joined them.
fn kind() -> BoxedStrategy<Kind> {
    let opt = || prop::option::of(free_text());
    prop_oneof![
        (prop::option::weighted(0.9, any::<u64>()), free_text())
            .prop_map(|(msg_id, content)| Kind::Text { msg_id, content }),
        (any::<u64>(), opt(), id()).prop_map(|(msg_id, pic_url, media_id)| Kind::Image {
            msg_id,
            pic_url,
            media_id
        }),
        (any::<u64>(), opt(), opt(), opt(), opt(), opt()).prop_map(
            |(msg_id, title, app_id, page_path, thumb_url, thumb_media_id)| Kind::Card {
                msg_id,
                title,
                app_id,
                page_path,
                thumb_url,
                thumb_media_id,
            }
        ),
        ("[a-z_]{1,24}", opt()).prop_map(|(event, session_from)| Kind::Event {
            event,
            session_from
        }),
        (
            "[a-z_]{1,16}".prop_filter("a type kefu knows", |t| !matches!(
                t.as_str(),
                "text"
                    | "image"
                    | "miniprogrampage"
                    | "event"
                    | "voice"
                    | "video"
                    | "shortvideo"
                    | "location"
                    | "link"
            )),
            prop::option::of(any::<u64>()),
        )
            .prop_map(|(msg_type, msg_id)| Kind::Unknown { msg_type, msg_id }),
        official_kind(),
    ]
    .boxed()
}

fn official_kind() -> BoxedStrategy<Kind> {
    let opt = || prop::option::of(free_text());
    prop_oneof![
        (any::<u64>(), id(), opt(), opt()).prop_map(|(msg_id, media_id, format, recognition)| {
            Kind::Voice {
                msg_id,
                media_id,
                format,
                recognition,
            }
        }),
        (any::<u64>(), id(), opt(), any::<bool>()).prop_map(
            |(msg_id, media_id, thumb_media_id, short)| Kind::Video {
                msg_id,
                media_id,
                thumb_media_id,
                short,
            }
        ),
        (
            any::<u64>(),
            decimal(90_000_000),
            decimal(180_000_000),
            prop::option::of(0..=1000u32),
            opt(),
        )
            .prop_map(
                |(msg_id, latitude, longitude, scale, label)| Kind::Location {
                    msg_id,
                    latitude,
                    longitude,
                    scale,
                    label,
                }
            ),
        (any::<u64>(), opt(), opt(), opt()).prop_map(|(msg_id, title, description, url)| {
            Kind::Link {
                msg_id,
                title,
                description,
                url,
            }
        }),
        (
            prop::sample::select(OFFICIAL_EVENTS.to_vec()),
            opt(),
            opt(),
            prop::option::of((
                decimal(90_000_000),
                decimal(180_000_000),
                decimal(1_000_000_000).prop_map(|d| Decimal {
                    millionths: d.millionths.abs(),
                    ..d
                })
            )),
        )
            .prop_map(|(event, key, other, place)| Kind::OfficialEvent {
                event,
                key,
                other,
                place,
            }),
    ]
    .boxed()
}

fn model() -> BoxedStrategy<Model> {
    (
        prop::option::of(id()),
        id(),
        prop_oneof![0..=MAX_CREATE_TIME, Just(0), Just(MAX_CREATE_TIME)],
        kind(),
    )
        .prop_map(|(to_user, from_user, create_time, kind)| Model {
            to_user,
            from_user,
            create_time,
            kind,
        })
        .boxed()
}

impl Model {
    /// The fields as WeChat writes them (numbers as numbers), in a given order.
    fn fields(&self, order: &[usize]) -> Vec<(String, Val)> {
        let text = |s: &str| Val::Text(s.to_owned());
        let number = |n: &dyn ToString| Val::Number(n.to_string());
        let mut fields: Vec<(&'static str, Val)> = Vec::new();
        if let Some(to) = &self.to_user {
            fields.push(("ToUserName", text(to)));
        }
        fields.push(("FromUserName", text(&self.from_user)));
        fields.push(("CreateTime", number(&self.create_time)));
        fn optional(fields: &mut Vec<(&'static str, Val)>, name: &'static str, v: &Option<String>) {
            if let Some(v) = v {
                fields.push((name, Val::Text(v.clone())));
            }
        }
        match &self.kind {
            Kind::Text { msg_id, content } => {
                fields.push(("MsgType", text("text")));
                fields.push(("Content", text(content)));
                if let Some(msg_id) = msg_id {
                    fields.push(("MsgId", number(msg_id)));
                }
            }
            Kind::Image {
                msg_id,
                pic_url,
                media_id,
            } => {
                fields.push(("MsgType", text("image")));
                optional(&mut fields, "PicUrl", pic_url);
                fields.push(("MediaId", text(media_id)));
                fields.push(("MsgId", number(msg_id)));
            }
            Kind::Card {
                msg_id,
                title,
                app_id,
                page_path,
                thumb_url,
                thumb_media_id,
            } => {
                fields.push(("MsgType", text("miniprogrampage")));
                fields.push(("MsgId", number(msg_id)));
                optional(&mut fields, "Title", title);
                optional(&mut fields, "AppId", app_id);
                optional(&mut fields, "PagePath", page_path);
                optional(&mut fields, "ThumbUrl", thumb_url);
                optional(&mut fields, "ThumbMediaId", thumb_media_id);
            }
            Kind::Event {
                event,
                session_from,
            } => {
                fields.push(("MsgType", text("event")));
                fields.push(("Event", text(event)));
                optional(&mut fields, "SessionFrom", session_from);
            }
            Kind::Unknown { msg_type, msg_id } => {
                fields.push(("MsgType", text(msg_type)));
                if let Some(msg_id) = msg_id {
                    fields.push(("MsgId", number(msg_id)));
                }
            }
            Kind::Voice {
                msg_id,
                media_id,
                format,
                recognition,
            } => {
                fields.push(("MsgType", text("voice")));
                fields.push(("MediaId", text(media_id)));
                optional(&mut fields, "Format", format);
                optional(&mut fields, "Recognition", recognition);
                fields.push(("MsgId", number(msg_id)));
            }
            Kind::Video {
                msg_id,
                media_id,
                thumb_media_id,
                short,
            } => {
                fields.push(("MsgType", text(if *short { "shortvideo" } else { "video" })));
                fields.push(("MediaId", text(media_id)));
                optional(&mut fields, "ThumbMediaId", thumb_media_id);
                fields.push(("MsgId", number(msg_id)));
            }
            Kind::Location {
                msg_id,
                latitude,
                longitude,
                scale,
                label,
            } => {
                fields.push(("MsgType", text("location")));
                fields.push(("Location_X", latitude.field()));
                fields.push(("Location_Y", longitude.field()));
                if let Some(scale) = scale {
                    fields.push(("Scale", number(scale)));
                }
                optional(&mut fields, "Label", label);
                fields.push(("MsgId", number(msg_id)));
            }
            Kind::Link {
                msg_id,
                title,
                description,
                url,
            } => {
                fields.push(("MsgType", text("link")));
                optional(&mut fields, "Title", title);
                optional(&mut fields, "Description", description);
                optional(&mut fields, "Url", url);
                fields.push(("MsgId", number(msg_id)));
            }
            Kind::OfficialEvent {
                event,
                key,
                other,
                place,
            } => {
                fields.push(("MsgType", text("event")));
                fields.push(("Event", text(event)));
                // only the fields kefu reads of this event (the strict properties below
                // assume every field the model writes is read)
                let (key_name, other_name) = match *event {
                    "kf_create_session" | "kf_close_session" => (Some("KfAccount"), None),
                    "kf_switch_session" => (Some("FromKfAccount"), Some("ToKfAccount")),
                    "subscribe" | "SCAN" => (Some("EventKey"), Some("Ticket")),
                    "CLICK" | "VIEW" => (Some("EventKey"), None),
                    _ => (None, None),
                };
                if let Some(key_name) = key_name {
                    optional(&mut fields, key_name, key);
                }
                if let Some(other_name) = other_name {
                    optional(&mut fields, other_name, other);
                }
                if let Some((latitude, longitude, precision)) = place
                    && *event == "LOCATION"
                {
                    fields.push(("Latitude", latitude.field()));
                    fields.push(("Longitude", longitude.field()));
                    fields.push(("Precision", precision.field()));
                }
            }
        }
        // a stable shuffle: each field goes to the position its order value ranks it at
        let mut keyed: Vec<(usize, (String, Val))> = fields
            .into_iter()
            .enumerate()
            .map(|(i, (k, v))| {
                let rank = order.get(i).copied().unwrap_or(i);
                (rank, (k.to_owned(), v))
            })
            .collect();
        keyed.sort_by_key(|(rank, _)| *rank);
        keyed.into_iter().map(|(_, field)| field).collect()
    }

    /// What `Push::parse` must give for this push written in `format` as `raw`.
    fn expected(&self, format: Format, raw: &str) -> Push {
        let s = |v: &Option<String>| v.clone().unwrap_or_default();
        // an empty EventKey, Ticket, account or video cover says nothing
        let present = |v: &Option<String>| v.clone().filter(|v| !v.is_empty());
        let kind = match &self.kind {
            Kind::Text { msg_id, content } => PushKind::Text {
                msg_id: msg_id.map(|m| m.to_string()),
                content: content.clone(),
            },
            Kind::Image {
                msg_id,
                pic_url,
                media_id,
            } => PushKind::Image {
                msg_id: msg_id.to_string(),
                pic_url: s(pic_url),
                media_id: media_id.clone(),
            },
            Kind::Card {
                msg_id,
                title,
                app_id,
                page_path,
                thumb_url,
                thumb_media_id,
            } => PushKind::MiniProgramPage {
                msg_id: msg_id.to_string(),
                title: s(title),
                app_id: s(app_id),
                page_path: s(page_path),
                thumb_url: s(thumb_url),
                thumb_media_id: s(thumb_media_id),
            },
            Kind::Event {
                event,
                session_from,
            } => PushKind::Event {
                event: event.clone(),
                session_from: session_from.clone(),
                details: EventDetails::default(),
            },
            Kind::Unknown { msg_type, msg_id } => PushKind::Unknown {
                msg_type: msg_type.clone(),
                msg_id: msg_id.map(|m| m.to_string()),
            },
            Kind::Voice {
                msg_id,
                media_id,
                format,
                recognition,
            } => PushKind::Voice {
                msg_id: msg_id.to_string(),
                media_id: media_id.clone(),
                format: s(format),
                recognition: recognition.clone(),
            },
            Kind::Video {
                msg_id,
                media_id,
                thumb_media_id,
                short,
            } => PushKind::Video {
                msg_id: msg_id.to_string(),
                media_id: media_id.clone(),
                thumb_media_id: present(thumb_media_id),
                short: *short,
            },
            Kind::Location {
                msg_id,
                latitude,
                longitude,
                scale,
                label,
            } => PushKind::Location {
                msg_id: msg_id.to_string(),
                latitude: latitude.value(),
                longitude: longitude.value(),
                scale: *scale,
                label: s(label),
            },
            Kind::Link {
                msg_id,
                title,
                description,
                url,
            } => PushKind::Link {
                msg_id: msg_id.to_string(),
                title: s(title),
                description: s(description),
                url: s(url),
            },
            Kind::OfficialEvent {
                event,
                key,
                other,
                place,
            } => {
                let place = place.filter(|_| *event == "LOCATION");
                let details = match *event {
                    "subscribe" | "SCAN" => EventDetails {
                        event_key: present(key),
                        ticket: present(other),
                        ..EventDetails::default()
                    },
                    "CLICK" | "VIEW" => EventDetails {
                        event_key: present(key),
                        ..EventDetails::default()
                    },
                    "LOCATION" => EventDetails {
                        latitude: place.map(|p| p.0.value()),
                        longitude: place.map(|p| p.1.value()),
                        precision: place.map(|p| p.2.value()),
                        ..EventDetails::default()
                    },
                    "kf_create_session" | "kf_close_session" => EventDetails {
                        kf_account: present(key),
                        ..EventDetails::default()
                    },
                    "kf_switch_session" => EventDetails {
                        from_kf_account: present(key),
                        to_kf_account: present(other),
                        ..EventDetails::default()
                    },
                    _ => EventDetails::default(),
                };
                PushKind::Event {
                    event: (*event).to_owned(),
                    session_from: None,
                    details,
                }
            }
        };
        Push {
            to_user: s(&self.to_user),
            from_user: self.from_user.clone(),
            create_time: self.create_time,
            kind,
            format,
            raw: raw.to_owned(),
        }
    }

    /// The fields `Push::parse` requires of this kind.
    fn required(&self) -> &'static [&'static str] {
        match self.kind {
            Kind::Text { .. } => &["FromUserName", "CreateTime", "MsgType", "Content"],
            Kind::Image { .. } => &["FromUserName", "CreateTime", "MsgType", "MsgId", "MediaId"],
            Kind::Card { .. } => &["FromUserName", "CreateTime", "MsgType", "MsgId"],
            Kind::Event { .. } | Kind::OfficialEvent { .. } => {
                &["FromUserName", "CreateTime", "MsgType", "Event"]
            }
            Kind::Unknown { .. } => &["FromUserName", "CreateTime", "MsgType"],
            Kind::Voice { .. } | Kind::Video { .. } => {
                &["FromUserName", "CreateTime", "MsgType", "MsgId", "MediaId"]
            }
            Kind::Location { .. } => &[
                "FromUserName",
                "CreateTime",
                "MsgType",
                "MsgId",
                "Location_X",
                "Location_Y",
            ],
            Kind::Link { .. } => &["FromUserName", "CreateTime", "MsgType", "MsgId"],
        }
    }
}

fn format() -> impl Strategy<Value = Format> {
    prop_oneof![Just(Format::Json), Just(Format::Xml)]
}

fn order() -> impl Strategy<Value = Vec<usize>> {
    prop::collection::vec(0..16usize, 0..12)
}

// ---------------------------------------------------------------------------------------------
// Mutations

/// Any JSON-ish value, nested a little; strings of any code points.
fn wild_value() -> impl Strategy<Value = Val> {
    let leaf = prop_oneof![
        any::<String>().prop_map(Val::Text),
        free_text().prop_map(Val::Text),
        "[\\x00-\\x1f\\x7f\u{80}-\u{9f}]{0,8}".prop_map(Val::Text),
        prop_oneof![
            Just("0"),
            Just("-0"),
            Just("-1"),
            Just("1.5"),
            Just("1e3"),
            Just("1E-999"),
            Just("1e999"),
            Just("9223372036854775807"),
            Just("9223372036854775808"),
            Just("-9223372036854775808"),
            Just("-9223372036854775809"),
            Just("18446744073709551615"),
            Just("18446744073709551616"),
            Just("253402300799"),
            Just("253402300800"),
            Just("123456789012345678901234567890"),
        ]
        .prop_map(|n| Val::Number(n.to_owned())),
        any::<i64>().prop_map(|n| Val::Number(n.to_string())),
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(|f| Val::Number(format!("{f:e}"))),
        any::<bool>().prop_map(Val::Bool),
        Just(Val::Null),
        prop_oneof![Just(1usize), Just(31), Just(32), Just(33), 0..300usize].prop_map(Val::Deep),
    ];
    leaf.prop_recursive(3, 16, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Val::List),
            prop::collection::vec(("[A-Za-z_]{1,8}", inner), 0..4).prop_map(Val::Map),
        ]
    })
}

/// The fields a push may carry (`push::PUSH_FIELDS`) and the envelope's `Encrypt`.
fn names() -> Vec<&'static str> {
    super::push::PUSH_FIELDS
        .iter()
        .copied()
        .chain(["Encrypt"])
        .collect()
}

#[derive(Debug, Clone)]
enum Mutation {
    /// a field (known or not) gets this value, added when absent
    Set(String, Val),
    Remove(String),
    /// the field appears once more, with this value or its own
    Repeat(String, Option<Val>),
    /// the field's text grows to about this many bytes
    Huge(String, usize),
    /// a control character goes into the field's text
    Control(String, char, usize),
}

fn field_name() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => prop::sample::select(names()).prop_map(str::to_owned),
        1 => "[A-Za-z_][A-Za-z0-9_]{0,10}",
        1 => prop::sample::select(vec!["msgtype", "MSGTYPE", "MsgType ", "xml", "a"]).prop_map(str::to_owned),
    ]
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        3 => (field_name(), wild_value()).prop_map(|(k, v)| Mutation::Set(k, v)),
        1 => field_name().prop_map(Mutation::Remove),
        2 => (field_name(), prop::option::of(wild_value())).prop_map(|(k, v)| Mutation::Repeat(k, v)),
        1 => (field_name(), prop_oneof![Just(128usize), Just(129), 1..70_000usize])
            .prop_map(|(k, n)| Mutation::Huge(k, n)),
        2 => (field_name(), prop::char::range('\0', '\u{9f}'), any::<usize>())
            .prop_map(|(k, c, at)| Mutation::Control(k, c, at)),
    ]
}

fn mutate(fields: &mut Vec<(String, Val)>, m: &Mutation) {
    let find = |fields: &[(String, Val)], k: &str| fields.iter().position(|(name, _)| name == k);
    match m {
        Mutation::Set(k, v) => match find(fields, k) {
            Some(i) => fields[i].1 = v.clone(),
            None => fields.push((k.clone(), v.clone())),
        },
        Mutation::Remove(k) => fields.retain(|(name, _)| name != k),
        Mutation::Repeat(k, v) => {
            let value = v
                .clone()
                .or_else(|| find(fields, k).map(|i| fields[i].1.clone()))
                .unwrap_or(Val::Null);
            fields.push((k.clone(), value));
        }
        Mutation::Huge(k, n) => {
            if let Some(i) = find(fields, k) {
                let text = match &fields[i].1 {
                    Val::Text(s) | Val::Number(s) if !s.is_empty() => s.clone(),
                    _ => "x".to_owned(),
                };
                fields[i].1 = Val::Text(text.repeat(n / text.len() + 1));
            }
        }
        Mutation::Control(k, c, at) => {
            if let Some(i) = find(fields, k)
                && let Val::Text(s) | Val::Number(s) = &fields[i].1
            {
                let mut chars: Vec<char> = s.chars().collect();
                let at = at % (chars.len() + 1);
                chars.insert(at, *c);
                fields[i].1 = Val::Text(chars.into_iter().collect());
            }
        }
    }
}

/// What must hold of any push `Push::parse` accepts, whatever it was given.
fn accepted_push_is_sound(push: &Push, body: &[u8], format: Format) -> Result<(), TestCaseError> {
    prop_assert_eq!(push.format, format);
    prop_assert_eq!(push.raw.as_bytes(), body, "raw is the body exactly");
    prop_assert!(!push.from_user.is_empty() && push.from_user.len() <= 128);
    prop_assert!((0..=MAX_CREATE_TIME).contains(&push.create_time));
    prop_assert!(!push.msg_type().is_empty());
    let key = push.dedup_key();
    match &push.kind {
        PushKind::Text {
            msg_id: Some(msg_id),
            ..
        }
        | PushKind::Image { msg_id, .. }
        | PushKind::MiniProgramPage { msg_id, .. }
        | PushKind::Voice { msg_id, .. }
        | PushKind::Video { msg_id, .. }
        | PushKind::Location { msg_id, .. }
        | PushKind::Link { msg_id, .. }
        | PushKind::Unknown {
            msg_id: Some(msg_id),
            ..
        } => {
            prop_assert!(
                !msg_id.is_empty() && msg_id.len() <= 128,
                "MsgId {msg_id:?}"
            );
            prop_assert_eq!(key, format!("msg:{msg_id}"));
        }
        PushKind::Event { details, .. } => {
            prop_assert!(key.starts_with("event:"));
            for (degrees, limit) in [(details.latitude, 90.0), (details.longitude, 180.0)] {
                prop_assert!(degrees.is_none_or(|d| d.is_finite() && d.abs() <= limit));
            }
            prop_assert!(details.precision.is_none_or(|p| p.is_finite() && p >= 0.0));
        }
        PushKind::Text { msg_id: None, .. } => prop_assert!(key.starts_with("text:")),
        PushKind::Unknown { msg_id: None, .. } => {
            prop_assert!(key.starts_with("raw:") && key.len() == 44)
        }
    }
    if let PushKind::Location {
        latitude,
        longitude,
        ..
    } = &push.kind
    {
        prop_assert!(latitude.is_finite() && latitude.abs() <= 90.0, "{latitude}");
        prop_assert!(
            longitude.is_finite() && longitude.abs() <= 180.0,
            "{longitude}"
        );
    }
    // parsing is a function of the body
    let again = Push::parse(body, format);
    prop_assert_eq!(again.as_ref(), Ok(push));
    Ok(())
}

/// Parses `body` both ways and as an envelope: never a panic, and anything accepted is sound.
fn parse_any(body: &[u8]) -> Result<(), TestCaseError> {
    for format in [Format::Json, Format::Xml] {
        if let Ok(push) = Push::parse(body, format) {
            accepted_push_is_sound(&push, body, format)?;
        }
        if let Ok(encrypt) = encrypted_field(body, format) {
            prop_assert!(!encrypt.is_empty());
            let _ = cipher().decrypt(&encrypt);
        }
    }
    let _ = Format::detect(body, Format::Xml);
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// AES framing, modelled

/// Encrypts whole blocks with the key's AES-256-CBC (IV = the key's first 16 bytes), as WeChat
/// does, without framing or padding: lets a test write any plaintext, well-formed or not.
fn encrypt_raw(plain: &[u8]) -> String {
    // EncodingAESKeys leave bits over in their last character (see `AesKey`)
    const LENIENT: GeneralPurpose = GeneralPurpose::new(
        &alphabet::STANDARD,
        GeneralPurposeConfig::new().with_decode_allow_trailing_bits(true),
    );
    let key = LENIENT
        .decode(format!("{KEY}="))
        .expect("the test key decodes");
    let key: [u8; 32] = key.try_into().expect("32 bytes");
    let mut iv = [0u8; 16];
    iv.copy_from_slice(&key[..16]);
    let ct = cbc::Encryptor::<Aes256>::new((&key).into(), (&iv).into())
        .encrypt_padded_vec_mut::<NoPadding>(plain);
    STANDARD.encode(ct)
}

/// What `Cipher::decrypt` must make of a decrypted plaintext, straight from docs/WECHAT.md §2.5.
fn model_open(plain: &[u8], appid: &[u8]) -> Result<Vec<u8>, CryptoError> {
    let pad = usize::from(*plain.last().ok_or(CryptoError::BadPadding)?);
    if !(1..=32).contains(&pad) || pad > plain.len() {
        return Err(CryptoError::BadPadding);
    }
    let (body, padding) = plain.split_at(plain.len() - pad);
    if padding.iter().any(|&b| usize::from(b) != pad) {
        return Err(CryptoError::BadPadding);
    }
    if body.len() < 20 {
        return Err(CryptoError::BadLengthField);
    }
    let len = u32::from_be_bytes([body[16], body[17], body[18], body[19]]) as usize;
    let rest = &body[20..];
    if len > rest.len() {
        return Err(CryptoError::BadLengthField);
    }
    let (msg, id) = rest.split_at(len);
    if id != appid {
        return Err(CryptoError::WrongAppId);
    }
    Ok(msg.to_vec())
}

/// A well-formed frame `random16 ‖ len ‖ msg ‖ appid ‖ pad`.
fn frame(random16: &[u8; 16], msg: &[u8], appid: &[u8]) -> Vec<u8> {
    let mut f = random16.to_vec();
    f.extend_from_slice(&(msg.len() as u32).to_be_bytes());
    f.extend_from_slice(msg);
    f.extend_from_slice(appid);
    let pad = 32 - f.len() % 32;
    f.resize(f.len() + pad, pad as u8);
    f
}

/// A plaintext for the AES layer: a frame, then perhaps one corruption of it, or noise.
#[derive(Debug, Clone)]
enum Corruption {
    None,
    /// byte `at` of the frame xor `with`
    Flip(usize, u8),
    /// the length field says this instead
    Length(u32),
    /// the trailing id is this one
    AppId(Vec<u8>),
    /// the pad is this many bytes of this value
    Pad(u8, u8),
    /// the frame is cut to this many whole blocks
    Cut(usize),
}

fn corruption() -> impl Strategy<Value = Corruption> {
    prop_oneof![
        2 => Just(Corruption::None),
        3 => (any::<usize>(), 1..=255u8).prop_map(|(at, with)| Corruption::Flip(at, with)),
        2 => prop_oneof![any::<u32>(), 0..64u32, Just(u32::MAX)].prop_map(Corruption::Length),
        2 => prop_oneof![
            Just(Vec::new()),
            Just(b"wx1234567890abcdeF".to_vec()),
            Just(b"wx1234567890abcde".to_vec()),
            Just(b"wx1234567890abcdeff".to_vec()),
            prop::collection::vec(any::<u8>(), 0..24),
        ]
        .prop_map(Corruption::AppId),
        2 => (0..=40u8, any::<u8>()).prop_map(|(n, v)| Corruption::Pad(n, v)),
        1 => any::<usize>().prop_map(Corruption::Cut),
    ]
}

fn corrupt(random16: &[u8; 16], msg: &[u8], c: &Corruption) -> Vec<u8> {
    let appid = APPID.as_bytes();
    match c {
        Corruption::None => frame(random16, msg, appid),
        Corruption::Flip(at, with) => {
            let mut f = frame(random16, msg, appid);
            let i = at % f.len();
            f[i] ^= with;
            f
        }
        Corruption::Length(len) => {
            let mut f = frame(random16, msg, appid);
            f[16..20].copy_from_slice(&len.to_be_bytes());
            f
        }
        Corruption::AppId(id) => frame(random16, msg, id),
        Corruption::Pad(n, v) => {
            // the frame without its pad, then `n` bytes of `v`, then filled to whole blocks
            // with the last byte repeated (so most of these are malformed in the last byte)
            let mut f = random16.to_vec();
            f.extend_from_slice(&(msg.len() as u32).to_be_bytes());
            f.extend_from_slice(msg);
            f.extend_from_slice(appid);
            f.extend(std::iter::repeat_n(*v, usize::from(*n)));
            let fill = (32 - f.len() % 32) % 32;
            let last = f.last().copied().unwrap_or(0);
            f.extend(std::iter::repeat_n(last, fill));
            f
        }
        Corruption::Cut(blocks) => {
            let f = frame(random16, msg, appid);
            let keep = 32 * (blocks % (f.len() / 32));
            f[..keep.max(32)].to_vec()
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The webhook's path for an encrypted push, step by step (web/webhook.rs `receive`)

#[derive(Debug, PartialEq)]
enum Refused {
    Envelope(PushError),
    Signature,
    Crypto(CryptoError),
    Push(PushError),
}

fn open_encrypted(
    body: &[u8],
    configured: Format,
    token: &str,
    timestamp: &str,
    nonce: &str,
    given_signature: &str,
    cipher: &Cipher,
) -> Result<Push, Refused> {
    let format = Format::detect(body, configured);
    let encrypt = encrypted_field(body, format).map_err(Refused::Envelope)?;
    if !signatures_match(
        given_signature,
        &msg_signature(token, timestamp, nonce, &encrypt),
    ) {
        return Err(Refused::Signature);
    }
    let plaintext = cipher.decrypt(&encrypt).map_err(Refused::Crypto)?;
    let format = Format::detect(&plaintext, format);
    Push::parse(&plaintext, format).map_err(Refused::Push)
}

/// The envelope of an encrypted push in `format`: Encrypt, maybe ToUserName, maybe (compatible
/// mode) the plaintext fields beside it, in any order.
fn envelope(
    encrypt: &str,
    to_user: Option<&str>,
    plain_fields: &[(String, Val)],
    format: Format,
    style: &Style,
    encrypt_first: bool,
) -> String {
    let mut fields: Vec<(String, Val)> = plain_fields.to_vec();
    fields.retain(|(k, _)| k != "ToUserName");
    if let Some(to) = to_user {
        fields.insert(0, ("ToUserName".to_owned(), Val::Text(to.to_owned())));
    }
    let encrypt = ("Encrypt".to_owned(), Val::Text(encrypt.to_owned()));
    if encrypt_first {
        fields.insert(0, encrypt);
    } else {
        fields.push(encrypt);
    }
    render(&fields, format, style)
}

fn token() -> impl Strategy<Value = String> {
    "[A-Za-z0-9]{1,32}"
}

fn hex_char() -> impl Strategy<Value = u8> {
    prop::sample::select(b"0123456789abcdefABCDEF".to_vec())
}

proptest! {
    #![proptest_config(crate::fuzzing::config())]

    /// A well-formed push, however it is written, reads back as exactly what was written.
    #[test]
    fn fuzz_push_well_formed_reads_back_exactly(
        m in model(),
        format in format(),
        order in order(),
        style in style(),
    ) {
        let body = render(&m.fields(&order), format, &style);
        let push = Push::parse(body.as_bytes(), format);
        prop_assert_eq!(push.as_ref(), Ok(&m.expected(format, &body)), "body {}", body);
        // the format a webhook would detect is the one it was written in
        prop_assert_eq!(Format::sniff(body.as_bytes()), Some(format));
    }

    /// The same push in JSON and in XML reads as the same push.
    #[test]
    fn fuzz_push_json_and_xml_agree(m in model(), order in order(), style in style()) {
        let fields = m.fields(&order);
        let json = Push::parse(render(&fields, Format::Json, &style).as_bytes(), Format::Json);
        let xml = Push::parse(render(&fields, Format::Xml, &style).as_bytes(), Format::Xml);
        let (Ok(mut json), Ok(xml)) = (json, xml) else {
            return Err(TestCaseError::fail("a well-formed push was refused"));
        };
        json.format = Format::Xml;
        json.raw = xml.raw.clone();
        prop_assert_eq!(json, xml);
    }

    /// Without one of its required fields (or with it null in JSON) a push is refused, naming
    /// the field.
    #[test]
    fn fuzz_push_missing_required_field_is_named(
        m in model(),
        which in any::<prop::sample::Index>(),
        format in format(),
        order in order(),
        style in style(),
    ) {
        let name = *which.get(m.required());
        let mut fields = m.fields(&order);
        fields.retain(|(k, _)| k != name);
        let body = render(&fields, format, &style);
        prop_assert_eq!(
            Push::parse(body.as_bytes(), format),
            Err(PushError::MissingField(name)),
            "body {}", body
        );
        if format == Format::Json {
            fields.push((name.to_owned(), Val::Null));
            let body = render(&fields, format, &style);
            prop_assert!(Push::parse(body.as_bytes(), format).is_err(), "body {}", body);
        }
    }

    /// A known field given twice is refused, whatever the two values.
    #[test]
    fn fuzz_push_repeated_known_field_is_refused(
        m in model(),
        which in any::<prop::sample::Index>(),
        value in prop::option::of(wild_value()),
        format in format(),
        order in order(),
        style in style(),
    ) {
        let mut fields = m.fields(&order);
        let name = which.get(&fields).0.clone();
        mutate(&mut fields, &Mutation::Repeat(name, value));
        let body = render(&fields, format, &style);
        prop_assert!(
            matches!(Push::parse(body.as_bytes(), format), Err(PushError::Malformed(_))),
            "body {}", body
        );
    }

    /// What a strict reading refuses (issue #11): a control character other than TAB, LF and
    /// CR in any field kefu reads (or anywhere in XML), a number, boolean, object or array where
    /// JSON must give text, and a key given twice at any level of JSON.
    #[test]
    fn fuzz_push_strict_refusals(
        m in model(),
        format in format(),
        order in order(),
        style in style(),
        which in any::<prop::sample::Index>(),
        control in prop_oneof![prop::char::range('\0', '\u{8}'), prop::char::range('\u{b}', '\u{c}'), prop::char::range('\u{e}', '\u{1f}'), Just('\u{7f}')],
        at in any::<usize>(),
        wrong in prop::sample::select(vec!["0", "-1", "1.5", "true", "false", "[]", "{}", "[\"a\"]", "{\"a\":1}"]),
        key in "[A-Za-z_]{1,8}",
    ) {
        let fields = m.fields(&order);
        // the fields kefu reads: all the model writes, but an unknown type's MsgId
        let read: Vec<&str> = fields
            .iter()
            .map(|(k, _)| k.as_str())
            .filter(|k| !(matches!(m.kind, Kind::Unknown { .. }) && *k == "MsgId"))
            .collect();
        let name = (*which.get(&read)).to_owned();

        let mut with_control = fields.clone();
        mutate(&mut with_control, &Mutation::Control(name.clone(), control, at));
        let body = render(&with_control, format, &style);
        prop_assert!(Push::parse(body.as_bytes(), format).is_err(), "{:?} in {}: {}", control, name, body);

        if format == Format::Json {
            // CreateTime and MsgId may be numbers, and so may the fields kefu reads as one
            let number_allowed = matches!(name.as_str(), "CreateTime" | "MsgId")
                || (numeric(&name) && wrong.parse::<f64>().is_ok());
            if !number_allowed {
                let mut typed = fields.clone();
                mutate(&mut typed, &Mutation::Set(name.clone(), Val::Number(wrong.to_owned())));
                let body = render(&typed, format, &style);
                let static_name = names().into_iter().find(|n| *n == name).unwrap_or_default();
                prop_assert_eq!(
                    Push::parse(body.as_bytes(), format),
                    Err(PushError::BadField(static_name)),
                    "{}", body
                );
            }
            let mut nested = fields.clone();
            nested.push((
                format!("x{key}"),
                Val::Map(vec![(key.clone(), Val::Null), (key.clone(), Val::Bool(true))]),
            ));
            let body = render(&nested, format, &style);
            prop_assert!(
                matches!(Push::parse(body.as_bytes(), format), Err(PushError::Malformed(_))),
                "{}", body
            );
        }
    }

    /// Mutated pushes (wrong types, odd, huge or control-character strings, nesting, repeated
    /// and unknown keys): never a panic, and whatever is accepted is sound.
    #[test]
    fn fuzz_push_mutated_never_panics(
        m in model(),
        mutations in prop::collection::vec(mutation(), 1..5),
        format in format(),
        order in order(),
        style in style(),
    ) {
        let mut fields = m.fields(&order);
        for mutation in &mutations {
            mutate(&mut fields, mutation);
        }
        let body = render(&fields, format, &style);
        parse_any(body.as_bytes())?;
        // and the other format's parser on the same body
        let other = match format { Format::Json => Format::Xml, Format::Xml => Format::Json };
        let _ = Push::parse(body.as_bytes(), other);
    }

    /// A well-formed push with bytes flipped, inserted or deleted anywhere: never a panic.
    #[test]
    fn fuzz_push_bytes_flipped_never_panics(
        m in model(),
        format in format(),
        style in style(),
        edits in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>(), 0..3u8), 1..8),
    ) {
        let mut body = render(&m.fields(&[]), format, &style).into_bytes();
        for (at, byte, op) in edits {
            if body.is_empty() {
                body.push(byte);
                continue;
            }
            let i = at.index(body.len());
            match op {
                0 => body[i] = byte,
                1 => body.insert(i, byte),
                _ => {
                    body.remove(i);
                }
            }
        }
        parse_any(&body)?;
    }

    /// The envelope of an encrypted push gives back its Encrypt field exactly, with or without
    /// ToUserName and the plaintext fields of compatible mode, in any order; without one it is a
    /// missing field, and twice it is refused.
    #[test]
    fn fuzz_envelope_reads_encrypt_exactly(
        encrypt in prop_oneof!["[A-Za-z0-9+/]{1,200}={0,2}", "[\\PC]{1,40}"],
        to_user in prop::option::of(id()),
        compatible in prop::option::of(model()),
        format in format(),
        style in style(),
        encrypt_first in any::<bool>(),
    ) {
        let plain = compatible.map(|m| m.fields(&[])).unwrap_or_default();
        let body = envelope(&encrypt, to_user.as_deref(), &plain, format, &style, encrypt_first);
        // in XML, white space around base64 (which never holds any) is layout, even in CDATA
        let expected = match format {
            Format::Xml => encrypt.trim_matches([' ', '\t', '\r', '\n']).to_owned(),
            Format::Json => encrypt.clone(),
        };
        let got = encrypted_field(body.as_bytes(), format);
        if expected.is_empty() {
            prop_assert_eq!(got, Err(PushError::BadField("Encrypt")));
        } else {
            prop_assert_eq!(got, Ok(expected), "body {}", body);
        }

        let without = render(&plain, format, &style);
        prop_assert_eq!(
            encrypted_field(without.as_bytes(), format),
            Err(PushError::MissingField("Encrypt"))
        );
        let mut twice = plain.clone();
        twice.push(("Encrypt".into(), Val::Text(encrypt.clone())));
        twice.push(("Encrypt".into(), Val::Text(encrypt)));
        let twice = render(&twice, format, &style);
        prop_assert!(matches!(
            encrypted_field(twice.as_bytes(), format),
            Err(PushError::Malformed(_))
        ));
    }

    /// The whole path of an encrypted push, as the webhook takes it: a push encrypted and signed
    /// as WeChat does reads back exactly; the same push for another appid, signed with another
    /// token, with a signature changed in one character, or with its Encrypt field cut short,
    /// is refused at the right step.
    #[test]
    fn fuzz_encrypted_push_round_trips_and_tampering_is_refused(
        m in model(),
        format in format(),
        configured in format(),
        style in style(),
        token in token(),
        timestamp in "[0-9]{1,10}",
        nonce in "[0-9A-Za-z]{1,16}",
        random16 in any::<[u8; 16]>(),
        compatible in any::<bool>(),
        encrypt_first in any::<bool>(),
        sig_change in (any::<prop::sample::Index>(), hex_char()),
        cut in any::<prop::sample::Index>(),
    ) {
        let cipher = cipher();
        let plaintext = render(&m.fields(&[]), format, &style);
        let encrypt = cipher.encrypt_with_random(plaintext.as_bytes(), &random16);
        let plain_fields = if compatible { m.fields(&[]) } else { Vec::new() };
        let body = envelope(&encrypt, m.to_user.as_deref(), &plain_fields, format, &style, encrypt_first);
        let sig = msg_signature(&token, &timestamp, &nonce, &encrypt);
        let open = |body: &str, token: &str, sig: &str, cipher: &Cipher| {
            open_encrypted(body.as_bytes(), configured, token, &timestamp, &nonce, sig, cipher)
        };

        prop_assert_eq!(
            open(&body, &token, &sig, &cipher),
            Ok(m.expected(format, &plaintext)),
            "body {}", body
        );
        // WeChat's hex may come upper-cased
        prop_assert!(open(&body, &token, &sig.to_uppercase(), &cipher).is_ok());

        let other = Cipher::new(AesKey::from_encoding_key(KEY).expect("key"), "wx_another_app");
        prop_assert_eq!(
            open(&body, &token, &sig, &other),
            Err(Refused::Crypto(CryptoError::WrongAppId))
        );
        prop_assert_eq!(
            open(&body, &format!("{token}x"), &sig, &cipher),
            Err(Refused::Signature)
        );

        let (at, c) = sig_change;
        let mut changed = sig.clone().into_bytes();
        let i = at.index(changed.len());
        changed[i] = c;
        let changed = String::from_utf8(changed).expect("hex");
        let result = open(&body, &token, &changed, &cipher);
        if changed.eq_ignore_ascii_case(&sig) {
            prop_assert!(result.is_ok());
        } else {
            prop_assert_eq!(result, Err(Refused::Signature));
        }

        // cut short: still signed (WeChat's signature covers what was sent), never readable
        let short = &encrypt[..cut.index(encrypt.len())];
        if !short.is_empty() {
            let body = envelope(short, m.to_user.as_deref(), &plain_fields, format, &style, encrypt_first);
            let sig = msg_signature(&token, &timestamp, &nonce, short);
            prop_assert!(
                matches!(open(&body, &token, &sig, &cipher), Err(Refused::Crypto(_))),
                "cut to {} chars", short.len()
            );
        }
    }

    /// Decrypting agrees with a model of WeChat's framing for any plaintext: a well-formed
    /// frame gives its message back, and a corrupted pad, length field or appid is refused with
    /// the reason the model gives.
    #[test]
    fn fuzz_decrypt_agrees_with_the_framing_model(
        msg in prop::collection::vec(any::<u8>(), 0..300),
        random16 in any::<[u8; 16]>(),
        corruption in corruption(),
    ) {
        let plain = corrupt(&random16, &msg, &corruption);
        prop_assert_eq!(plain.len() % 32, 0);
        let expected = model_open(&plain, APPID.as_bytes());
        prop_assert_eq!(&cipher().decrypt(&encrypt_raw(&plain)), &expected);
        if matches!(corruption, Corruption::None) {
            prop_assert_eq!(&expected, &Ok(msg.clone()));
            // and the cipher's own encryption is that same frame
            prop_assert_eq!(cipher().encrypt_with_random(&msg, &random16), encrypt_raw(&plain));
        }
    }

    /// Encrypting then decrypting gives the message back; changing any one byte of the
    /// ciphertext never gives it back, and any other input is refused without a panic.
    #[test]
    fn fuzz_decrypt_round_trip_and_tampered_ciphertext(
        msg in prop::collection::vec(any::<u8>(), 0..600),
        random16 in any::<[u8; 16]>(),
        at in any::<prop::sample::Index>(),
        with in 1..=255u8,
        junk in prop_oneof![any::<String>(), "[A-Za-z0-9+/=]{0,100}"],
    ) {
        let cipher = cipher();
        let encrypt = cipher.encrypt_with_random(&msg, &random16);
        prop_assert_eq!(cipher.decrypt(&encrypt), Ok(msg.clone()));
        let mut bytes = STANDARD.decode(&encrypt).expect("base64");
        let i = at.index(bytes.len());
        bytes[i] ^= with;
        prop_assert_ne!(cipher.decrypt(&STANDARD.encode(&bytes)), Ok(msg));
        let _ = cipher.decrypt(&junk);
    }

    /// A signature verifies what signing produced (in either case), and a change of any one
    /// byte of the signature or of any signed part is refused; the parts' order does not matter.
    #[test]
    fn fuzz_signatures_accept_only_what_was_signed(
        token in any::<String>(),
        timestamp in prop_oneof!["[0-9]{0,12}", any::<String>()],
        nonce in any::<String>(),
        encrypt in prop_oneof!["[A-Za-z0-9+/=]{0,64}", any::<String>()],
        which in 0..4usize,
        at in any::<prop::sample::Index>(),
        byte in any::<u8>(),
        junk in any::<String>(),
    ) {
        let sig = msg_signature(&token, &timestamp, &nonce, &encrypt);
        prop_assert_eq!(sig.len(), 40);
        prop_assert!(signatures_match(&sig, &sig));
        prop_assert!(signatures_match(&sig.to_uppercase(), &sig));
        prop_assert_eq!(&sig, &sign(&[encrypt.as_str(), nonce.as_str(), timestamp.as_str(), token.as_str()]));
        prop_assert_eq!(signature(&token, &timestamp, &nonce), sign(&[nonce.as_str(), token.as_str(), timestamp.as_str()]));

        // one byte of the signature
        let mut changed = sig.clone().into_bytes();
        let i = at.index(changed.len());
        changed[i] = byte;
        if let Ok(changed) = String::from_utf8(changed) {
            prop_assert_eq!(
                signatures_match(&changed, &sig),
                changed.eq_ignore_ascii_case(&sig),
                "{} against {}", changed, sig
            );
        }
        prop_assert_eq!(signatures_match(&junk, &sig), junk.eq_ignore_ascii_case(&sig));

        // one byte of one signed part (when it stays text)
        let mut parts = [token, timestamp, nonce, encrypt];
        if !parts[which].is_empty() {
            let mut bytes = parts[which].clone().into_bytes();
            let i = at.index(bytes.len());
            if bytes[i] != byte {
                bytes[i] = byte;
                if let Ok(part) = String::from_utf8(bytes) {
                    parts[which] = part;
                    let [t, ts, n, e] = &parts;
                    prop_assert!(!signatures_match(&msg_signature(t, ts, n, e), &sig));
                }
            }
        }
    }

    /// The passive replies: the transfer reads back as addressed to the customer, and its
    /// encrypted form opens to it and carries the signature over it, whatever nonce came.
    #[test]
    fn fuzz_passive_reply_round_trips(
        m in model(),
        format in format(),
        style in style(),
        token in token(),
        nonce in prop_oneof!["[0-9]{1,10}", "[\\PC]{0,20}", any::<String>()],
        now in 0..=MAX_CREATE_TIME,
    ) {
        let body = render(&m.fields(&[]), format, &style);
        let push = Push::parse(body.as_bytes(), format).expect("a well-formed push");
        let transfer = reply::transfer_customer_service(&push, format, now);
        if !push.to_user.is_empty() {
            let back = Push::parse(transfer.as_bytes(), format).expect("the transfer reads back");
            prop_assert_eq!(&back.to_user, &push.from_user);
            prop_assert_eq!(&back.from_user, &push.to_user);
            prop_assert_eq!(back.create_time, now);
            prop_assert_eq!(back.msg_type(), "transfer_customer_service");
        }
        let cipher = cipher();
        let sealed = reply::encrypted(&cipher, &token, &transfer, &nonce, now, format);
        let encrypt = encrypted_field(sealed.as_bytes(), format);
        prop_assert!(encrypt.is_ok(), "{:?} in {}", encrypt, sealed);
        let encrypt = encrypt.unwrap_or_default();
        prop_assert_eq!(cipher.decrypt(&encrypt), Ok(transfer.into_bytes()));
        let sig = msg_signature(&token, &now.to_string(), &nonce, &encrypt);
        prop_assert!(sealed.contains(&sig));
    }
}
