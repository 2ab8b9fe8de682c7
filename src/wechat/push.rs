//! Reading WeChat's push bodies: the encrypted envelope (`encrypted_field`) and the plaintext
//! customer-service push (`Push::parse`), in JSON or XML, into typed values, plus the key that
//! makes a push unique (`Push::dedup_key`). It owns only the parsing: it is pure, does no I/O,
//! no logging and no cryptography (signatures and AES live in `wechat::crypto`), and never panics
//! or allocates much beyond the size of its input, whatever bytes arrive. XML is read with
//! quick-xml's low-level reader so no DTD or external entity can ever be resolved, and a
//! `<!DOCTYPE>` is refused outright.
//!
//! It is strict about what WeChat never sends, because such a push is a forgery or corruption
//! and storing it would hand it to staff, rules and the API as if a customer had written it:
//! - a field kefu reads must have WeChat's type (text fields are JSON strings, `MsgId` an
//!   integer or a string, `CreateTime` and `Scale` an integer or a string of digits, the
//!   coordinates and `Precision` a number or a string of a plain decimal, within range);
//! - no control character (C0 other than TAB, LF and CR, and DEL) in a field kefu reads,
//!   whether it came raw, as a JSON `\u0000` escape or as an XML character reference; raw
//!   C0 controls, or references to them, anywhere in an XML document are not even XML 1.0;
//! - no JSON object key given twice at any level, no XML element given twice under the root:
//!   which of the two counts would be a guess, and the raw body is kept for later readers.
//!
//! A field kefu does not read for the push's type (`Title` in a text, `EventKey` in a
//! `LOCATION` event, every field of a type it does not know) is not checked: it is kept whole
//! in `Push::raw`, like any unknown field.
//!
//! Besides a mini program's text, image, card and events, it reads what an Official Account
//! (公众号) pushes with the same protocol: voice, video, shortvideo, location and link
//! messages, and the events `subscribe`, `unsubscribe`, `SCAN`, `CLICK`, `VIEW`, `LOCATION`
//! and the customer-service session events `kf_create_session`, `kf_close_session` and
//! `kf_switch_session` with their fields (docs/WECHAT.md names WeChat's pages).

use quick_xml::Reader;
use quick_xml::events::{BytesRef, Event};
use serde::Deserialize;
use serde::de::{self, DeserializeOwned, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use sha1::{Digest, Sha1};
use std::fmt;

/// Openids and message ids are short; anything longer is not WeChat's.
const MAX_ID_BYTES: usize = 128;
/// A push is two levels deep; the cap keeps hostile nesting cheap.
const MAX_XML_DEPTH: usize = 32;
/// Error details stay short so a hostile body cannot fill the logs through them.
const MAX_DETAIL_CHARS: usize = 80;
const UTF8_BOM: &[u8] = b"\xEF\xBB\xBF";

/// The data format of a push body, as configured in the mini program's push settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    Json,
    Xml,
}

impl Format {
    /// The format given by the first non-whitespace byte: `{` JSON, `<` XML, otherwise None.
    /// A leading UTF-8 byte order mark is skipped first.
    pub fn sniff(body: &[u8]) -> Option<Format> {
        let body = body.strip_prefix(UTF8_BOM).unwrap_or(body);
        match body.iter().find(|b| !b.is_ascii_whitespace())? {
            b'{' => Some(Format::Json),
            b'<' => Some(Format::Xml),
            _ => None,
        }
    }

    /// The configured format if the body looks like it, else the sniffed one, else the configured one.
    /// (Configured first, first non-space byte as fallback.) A body that looks like neither
    /// keeps the configured format, so its parse error names what was expected.
    pub fn detect(body: &[u8], configured: Format) -> Format {
        Format::sniff(body).unwrap_or(configured)
    }
}

/// The outer body of an encrypted (safe or compatible mode) push: only `Encrypt` matters (ToUserName optional).
/// JSON: {"ToUserName": "...", "Encrypt": "..."}; XML: <xml><ToUserName><![CDATA[..]]></ToUserName><Encrypt><![CDATA[..]]></Encrypt></xml>
/// (compatible mode also carries plaintext fields beside Encrypt: ignore them.)
pub fn encrypted_field(body: &[u8], format: Format) -> Result<String, PushError> {
    let text = body_text(body)?;
    let value = match format {
        Format::Json => json_document::<JsonEnvelope>(text)?.encrypt,
        Format::Xml => xml_fields(text, &["Encrypt"])?
            .into_iter()
            .next()
            // base64 never holds whitespace: what surrounds it in plain XML text is layout
            .map(|(_, value)| Scalar::Text(trim_xml_whitespace(&value).to_owned())),
    };
    match value {
        None | Some(Scalar::Null) => Err(PushError::MissingField("Encrypt")),
        Some(Scalar::Text(encrypt)) if !encrypt.is_empty() => Ok(encrypt),
        Some(_) => Err(PushError::BadField("Encrypt")),
    }
}

/// One plaintext push from WeChat: a customer's message or event.
#[derive(Debug, Clone, PartialEq)]
pub struct Push {
    /// ToUserName: the mini program's original id (empty if absent)
    pub to_user: String,
    /// FromUserName: the customer's openid; non-empty, at most 128 bytes
    pub from_user: String,
    /// CreateTime, Unix seconds
    pub create_time: i64,
    pub kind: PushKind,
    pub format: Format,
    /// the plaintext body exactly as received (UTF-8), kept so nothing is lost
    pub raw: String,
}

/// What a push carries, by WeChat's `MsgType`.
#[derive(Debug, Clone, PartialEq)]
pub enum PushKind {
    Text {
        /// WeChat's documented pushes always carry one, but some senders (wechatpy's test
        /// vector) leave it out: such a text is deduplicated by sender, time and content
        msg_id: Option<String>,
        content: String,
    },
    Image {
        msg_id: String,
        pic_url: String,
        media_id: String,
    },
    MiniProgramPage {
        msg_id: String,
        title: String,
        app_id: String,
        page_path: String,
        thumb_url: String,
        thumb_media_id: String,
    },
    /// An Official Account's voice message: `format` is WeChat's (amr, speex); `recognition`
    /// the text WeChat heard, when the account has speech recognition on.
    Voice {
        msg_id: String,
        media_id: String,
        format: String,
        recognition: Option<String>,
    },
    /// A video (`short`: MsgType shortvideo, a short video filmed in the chat).
    Video {
        msg_id: String,
        media_id: String,
        thumb_media_id: Option<String>,
        short: bool,
    },
    /// A place the customer shared: Location_X is the latitude, Location_Y the longitude
    /// (degrees, GCJ-02, as Tencent's maps give them).
    Location {
        msg_id: String,
        latitude: f64,
        longitude: f64,
        scale: Option<u32>,
        label: String,
    },
    /// A link the customer shared (an article, a web page).
    Link {
        msg_id: String,
        title: String,
        description: String,
        url: String,
    },
    /// Any MsgType=event: user_enter_tempsession carries SessionFrom (read for every event,
    /// as it always was); the Official Account's events carry the fields in `details`.
    Event {
        event: String,
        session_from: Option<String>,
        details: EventDetails,
    },
    /// any other MsgType, kept whole through Push::raw
    Unknown {
        msg_type: String,
        msg_id: Option<String>,
    },
}

/// The fields of an Official Account's event, those it carries (None: absent or empty).
/// - `subscribe`: `event_key` `qrscene_…` and `ticket` when the follow came from a QR code;
/// - `SCAN` (a follower scanned a QR code): `event_key` the scene, `ticket`;
/// - `CLICK`: `event_key` the menu item's key; `VIEW`: `event_key` the menu link's URL;
/// - `LOCATION`: `latitude`, `longitude` (degrees) and `precision` (metres);
/// - `kf_create_session`, `kf_close_session`: `kf_account`, WeChat's customer-service agent;
/// - `kf_switch_session`: `from_kf_account`, `to_kf_account`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct EventDetails {
    pub event_key: Option<String>,
    pub ticket: Option<String>,
    pub latitude: Option<f64>,
    pub longitude: Option<f64>,
    pub precision: Option<f64>,
    pub kf_account: Option<String>,
    pub from_kf_account: Option<String>,
    pub to_kf_account: Option<String>,
}

impl Push {
    /// Parse a plaintext push (already decrypted if it was encrypted).
    pub fn parse(body: &[u8], format: Format) -> Result<Push, PushError> {
        let raw = std::str::from_utf8(body).map_err(|_| PushError::NotUtf8)?;
        let text = raw.strip_prefix('\u{feff}').unwrap_or(raw);
        let fields = match format {
            Format::Json => json_document::<RawFields>(text)?,
            Format::Xml => RawFields::from_xml(text)?,
        };
        fields.into_push(format, raw)
    }

    /// The key that makes a push unique, stored in a UNIQUE column so WeChat's retries change nothing:
    /// messages with MsgId: "msg:{msg_id}"; events: "event:{from_user}:{create_time}:{event}";
    /// a text without MsgId: "text:{from_user}:{create_time}:{sha1 hex of the content}" (the
    /// same words in the same second are a retry; other words are another message);
    /// Unknown without MsgId: "raw:{sha1 hex of raw}".
    pub fn dedup_key(&self) -> String {
        match &self.kind {
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
            } => format!("msg:{msg_id}"),
            PushKind::Event { event, .. } => {
                format!("event:{}:{}:{event}", self.from_user, self.create_time)
            }
            PushKind::Text {
                msg_id: None,
                content,
            } => format!(
                "text:{}:{}:{}",
                self.from_user,
                self.create_time,
                hex::encode(Sha1::digest(content.as_bytes()))
            ),
            PushKind::Unknown { msg_id: None, .. } => {
                format!("raw:{}", hex::encode(Sha1::digest(self.raw.as_bytes())))
            }
        }
    }

    /// WeChat's message type string ("text", "image", "miniprogrampage", "voice", "video",
    /// "shortvideo", "location", "link", "event", or the unknown MsgType).
    pub fn msg_type(&self) -> &str {
        match &self.kind {
            PushKind::Text { .. } => "text",
            PushKind::Image { .. } => "image",
            PushKind::MiniProgramPage { .. } => "miniprogrampage",
            PushKind::Voice { .. } => "voice",
            PushKind::Video { short: false, .. } => "video",
            PushKind::Video { short: true, .. } => "shortvideo",
            PushKind::Location { .. } => "location",
            PushKind::Link { .. } => "link",
            PushKind::Event { .. } => "event",
            PushKind::Unknown { msg_type, .. } => msg_type,
        }
    }
}

/// Why a push body could not be read.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum PushError {
    #[error("the push body is not UTF-8")]
    NotUtf8,
    /// The detail starts with the format: "JSON: ..." or "XML: ...".
    #[error("the push body is not valid {0}")]
    Malformed(String),
    #[error("the push has no {0} field")]
    MissingField(&'static str),
    #[error("the push field {0} has an unusable value")]
    BadField(&'static str),
    #[error("the push field {0} holds a control character")]
    ControlCharacter(&'static str),
}

// ---------------------------------------------------------------------------------------------
// Field values, whatever the format

/// One field's value as it came: JSON gives any of these, XML only `Text`.
#[derive(Debug)]
enum Scalar {
    Text(String),
    Unsigned(u64),
    Signed(i64),
    /// a number with a fraction or exponent: only coordinates and precisions are one
    Float(f64),
    Bool,
    Null,
    /// an object or array, skipped without being kept
    Compound,
}

impl<'de> Deserialize<'de> for Scalar {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(ScalarVisitor)
    }
}

struct ScalarVisitor;

impl<'de> Visitor<'de> for ScalarVisitor {
    type Value = Scalar;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Scalar, E> {
        Ok(Scalar::Text(v.to_owned()))
    }

    fn visit_string<E: de::Error>(self, v: String) -> Result<Scalar, E> {
        Ok(Scalar::Text(v))
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Scalar, E> {
        Ok(Scalar::Unsigned(v))
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Scalar, E> {
        Ok(Scalar::Signed(v))
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Scalar, E> {
        Ok(Scalar::Float(v))
    }

    fn visit_bool<E: de::Error>(self, _: bool) -> Result<Scalar, E> {
        Ok(Scalar::Bool)
    }

    fn visit_unit<E: de::Error>(self) -> Result<Scalar, E> {
        Ok(Scalar::Null)
    }

    fn visit_none<E: de::Error>(self) -> Result<Scalar, E> {
        Ok(Scalar::Null)
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Scalar, A::Error> {
        while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
        Ok(Scalar::Compound)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Scalar, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(Scalar::Compound)
    }
}

/// A control character no text of WeChat's holds: C0 but TAB, LF and CR, and DEL. (C1
/// controls, U+0080 to U+009F, are left alone: they are legal XML and WeChat's own pages
/// say nothing of them.)
fn is_forbidden_control(c: char) -> bool {
    (c < ' ' && !matches!(c, '\t' | '\n' | '\r')) || c == '\u{7f}'
}

fn no_controls(s: String, name: &'static str) -> Result<String, PushError> {
    if s.chars().any(is_forbidden_control) {
        Err(PushError::ControlCharacter(name))
    } else {
        Ok(s)
    }
}

/// A text field: WeChat writes each as a string (XML text, a JSON string); null is absent.
/// A number, boolean, object or array is refused, never turned into text.
fn text_field(value: Option<Scalar>, name: &'static str) -> Result<Option<String>, PushError> {
    match value {
        None | Some(Scalar::Null) => Ok(None),
        Some(Scalar::Text(s)) => no_controls(s, name).map(Some),
        Some(
            Scalar::Unsigned(_)
            | Scalar::Signed(_)
            | Scalar::Float(_)
            | Scalar::Bool
            | Scalar::Compound,
        ) => Err(PushError::BadField(name)),
    }
}

/// MsgId: an integer kept as its exact decimal text (never through f64) or a string id.
fn msg_id_field(value: Option<Scalar>, format: Format) -> Result<Option<String>, PushError> {
    const NAME: &str = "MsgId";
    match value {
        None | Some(Scalar::Null) => Ok(None),
        Some(Scalar::Unsigned(n)) => Ok(Some(n.to_string())),
        Some(Scalar::Signed(n)) => Ok(Some(n.to_string())),
        Some(Scalar::Text(s)) => {
            // XML text around an id is layout; a JSON string is taken as it is
            let s = match format {
                Format::Xml => trim_xml_whitespace(&s).to_owned(),
                Format::Json => s,
            };
            if s.is_empty() || s.len() > MAX_ID_BYTES {
                Err(PushError::BadField(NAME))
            } else {
                no_controls(s, NAME).map(Some)
            }
        }
        Some(Scalar::Float(_) | Scalar::Bool | Scalar::Compound) => Err(PushError::BadField(NAME)),
    }
}

/// CreateTime: an integer, or a string of decimal digits (XML's text; WxJava's JSON tests give
/// it so too, docs/WECHAT.md §4).
/// Latest CreateTime accepted: the end of year 9999. A time beyond it is no real push, and
/// would overflow the arithmetic of the reply window.
const MAX_CREATE_TIME: i64 = 253_402_300_799;

fn time_field(value: Option<Scalar>) -> Result<Option<i64>, PushError> {
    const NAME: &str = "CreateTime";
    let time = time_value(value)?;
    match time {
        Some(t) if !(0..=MAX_CREATE_TIME).contains(&t) => Err(PushError::BadField(NAME)),
        _ => Ok(time),
    }
}

fn time_value(value: Option<Scalar>) -> Result<Option<i64>, PushError> {
    const NAME: &str = "CreateTime";
    match value {
        None | Some(Scalar::Null) => Ok(None),
        Some(Scalar::Signed(n)) => Ok(Some(n)),
        Some(Scalar::Unsigned(n)) => i64::try_from(n)
            .map(Some)
            .map_err(|_| PushError::BadField(NAME)),
        Some(Scalar::Text(s)) => {
            let digits = trim_xml_whitespace(&s);
            if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
                return Err(PushError::BadField(NAME));
            }
            digits
                .parse::<i64>()
                .map(Some)
                .map_err(|_| PushError::BadField(NAME))
        }
        Some(Scalar::Float(_) | Scalar::Bool | Scalar::Compound) => Err(PushError::BadField(NAME)),
    }
}

fn required<T>(value: Option<T>, name: &'static str) -> Result<T, PushError> {
    value.ok_or(PushError::MissingField(name))
}

/// Whether `s` is a plain decimal number as WeChat writes coordinates (`23.134521`, `-0.5`,
/// `113`): an optional minus sign, digits, at most one decimal point between digits. No
/// exponent, no `+`, no `NaN` or `inf`, which `f64::from_str` would take.
fn is_plain_decimal(s: &str) -> bool {
    let digits = s.strip_prefix('-').unwrap_or(s);
    let (whole, fraction) = match digits.split_once('.') {
        Some((whole, fraction)) => (whole, Some(fraction)),
        None => (digits, None),
    };
    let all_digits = |part: &str| !part.is_empty() && part.bytes().all(|b| b.is_ascii_digit());
    // a sane length: WeChat writes six decimals; a thousand digits is no coordinate
    digits.len() <= 40 && all_digits(whole) && fraction.is_none_or(all_digits)
}

/// A decimal field (Location_X, Location_Y, Latitude, Longitude, Precision): a JSON number, or
/// text that is a plain decimal (XML's text, with layout around it, or a JSON string), finite
/// and within `-limit..=limit` (`min` = 0 for a precision). Anything else is refused.
fn decimal_field(
    value: Option<Scalar>,
    name: &'static str,
    min: f64,
    max: f64,
) -> Result<Option<f64>, PushError> {
    let number = match value {
        None | Some(Scalar::Null) => return Ok(None),
        // an integer coordinate is small; a huge one, rounded, is refused by the range below
        Some(Scalar::Unsigned(n)) => n as f64,
        Some(Scalar::Signed(n)) => n as f64,
        Some(Scalar::Float(f)) => f,
        Some(Scalar::Text(s)) => {
            let s = trim_xml_whitespace(&s);
            if !is_plain_decimal(s) {
                return Err(PushError::BadField(name));
            }
            s.parse::<f64>().map_err(|_| PushError::BadField(name))?
        }
        Some(Scalar::Bool | Scalar::Compound) => return Err(PushError::BadField(name)),
    };
    if number.is_finite() && (min..=max).contains(&number) {
        Ok(Some(number))
    } else {
        Err(PushError::BadField(name))
    }
}

/// The largest map scale kefu accepts: WeChat's are about 3 to 20.
const MAX_SCALE: u64 = 1_000;

/// Scale: a whole number, as a JSON integer or text of digits.
fn scale_field(value: Option<Scalar>) -> Result<Option<u32>, PushError> {
    const NAME: &str = "Scale";
    let n = match value {
        None | Some(Scalar::Null) => return Ok(None),
        Some(Scalar::Unsigned(n)) => n,
        Some(Scalar::Text(s)) => {
            let digits = trim_xml_whitespace(&s);
            if digits.is_empty() || digits.len() > 10 || !digits.bytes().all(|b| b.is_ascii_digit())
            {
                return Err(PushError::BadField(NAME));
            }
            digits.parse().map_err(|_| PushError::BadField(NAME))?
        }
        Some(Scalar::Signed(_) | Scalar::Float(_) | Scalar::Bool | Scalar::Compound) => {
            return Err(PushError::BadField(NAME));
        }
    };
    if n <= MAX_SCALE {
        u32::try_from(n)
            .map(Some)
            .map_err(|_| PushError::BadField(NAME))
    } else {
        Err(PushError::BadField(NAME))
    }
}

/// A text field whose empty value says nothing (an EventKey of a plain `subscribe`).
fn present_text(value: Option<Scalar>, name: &'static str) -> Result<Option<String>, PushError> {
    Ok(text_field(value, name)?.filter(|s| !s.is_empty()))
}

// ---------------------------------------------------------------------------------------------
// The fields of a push

/// The fields a push may carry; any other field stays only in `Push::raw`.
#[derive(Debug, Default, Deserialize)]
struct RawFields {
    #[serde(rename = "ToUserName")]
    to_user: Option<Scalar>,
    #[serde(rename = "FromUserName")]
    from_user: Option<Scalar>,
    #[serde(rename = "CreateTime")]
    create_time: Option<Scalar>,
    #[serde(rename = "MsgType")]
    msg_type: Option<Scalar>,
    #[serde(rename = "MsgId")]
    msg_id: Option<Scalar>,
    #[serde(rename = "Content")]
    content: Option<Scalar>,
    #[serde(rename = "PicUrl")]
    pic_url: Option<Scalar>,
    #[serde(rename = "MediaId")]
    media_id: Option<Scalar>,
    #[serde(rename = "Title")]
    title: Option<Scalar>,
    #[serde(rename = "AppId")]
    app_id: Option<Scalar>,
    #[serde(rename = "PagePath")]
    page_path: Option<Scalar>,
    #[serde(rename = "ThumbUrl")]
    thumb_url: Option<Scalar>,
    #[serde(rename = "ThumbMediaId")]
    thumb_media_id: Option<Scalar>,
    #[serde(rename = "Event")]
    event: Option<Scalar>,
    #[serde(rename = "SessionFrom")]
    session_from: Option<Scalar>,
    // an Official Account's messages
    #[serde(rename = "Format")]
    voice_format: Option<Scalar>,
    #[serde(rename = "Recognition")]
    recognition: Option<Scalar>,
    #[serde(rename = "Location_X")]
    location_x: Option<Scalar>,
    #[serde(rename = "Location_Y")]
    location_y: Option<Scalar>,
    #[serde(rename = "Scale")]
    scale: Option<Scalar>,
    #[serde(rename = "Label")]
    label: Option<Scalar>,
    #[serde(rename = "Description")]
    description: Option<Scalar>,
    #[serde(rename = "Url")]
    url: Option<Scalar>,
    // and its events
    #[serde(rename = "EventKey")]
    event_key: Option<Scalar>,
    #[serde(rename = "Ticket")]
    ticket: Option<Scalar>,
    #[serde(rename = "Latitude")]
    latitude: Option<Scalar>,
    #[serde(rename = "Longitude")]
    longitude: Option<Scalar>,
    #[serde(rename = "Precision")]
    precision: Option<Scalar>,
    #[serde(rename = "KfAccount")]
    kf_account: Option<Scalar>,
    #[serde(rename = "FromKfAccount")]
    from_kf_account: Option<Scalar>,
    #[serde(rename = "ToKfAccount")]
    to_kf_account: Option<Scalar>,
}

/// The XML element names matching `RawFields`, in the same order as `RawFields::slot`.
pub(super) const PUSH_FIELDS: [&str; 31] = [
    "ToUserName",
    "FromUserName",
    "CreateTime",
    "MsgType",
    "MsgId",
    "Content",
    "PicUrl",
    "MediaId",
    "Title",
    "AppId",
    "PagePath",
    "ThumbUrl",
    "ThumbMediaId",
    "Event",
    "SessionFrom",
    "Format",
    "Recognition",
    "Location_X",
    "Location_Y",
    "Scale",
    "Label",
    "Description",
    "Url",
    "EventKey",
    "Ticket",
    "Latitude",
    "Longitude",
    "Precision",
    "KfAccount",
    "FromKfAccount",
    "ToKfAccount",
];

impl RawFields {
    fn from_xml(text: &str) -> Result<RawFields, PushError> {
        let mut fields = RawFields::default();
        for (name, value) in xml_fields(text, &PUSH_FIELDS)? {
            if let Some(slot) = fields.slot(name) {
                *slot = Some(Scalar::Text(value));
            }
        }
        Ok(fields)
    }

    fn slot(&mut self, name: &str) -> Option<&mut Option<Scalar>> {
        Some(match name {
            "ToUserName" => &mut self.to_user,
            "FromUserName" => &mut self.from_user,
            "CreateTime" => &mut self.create_time,
            "MsgType" => &mut self.msg_type,
            "MsgId" => &mut self.msg_id,
            "Content" => &mut self.content,
            "PicUrl" => &mut self.pic_url,
            "MediaId" => &mut self.media_id,
            "Title" => &mut self.title,
            "AppId" => &mut self.app_id,
            "PagePath" => &mut self.page_path,
            "ThumbUrl" => &mut self.thumb_url,
            "ThumbMediaId" => &mut self.thumb_media_id,
            "Event" => &mut self.event,
            "SessionFrom" => &mut self.session_from,
            "Format" => &mut self.voice_format,
            "Recognition" => &mut self.recognition,
            "Location_X" => &mut self.location_x,
            "Location_Y" => &mut self.location_y,
            "Scale" => &mut self.scale,
            "Label" => &mut self.label,
            "Description" => &mut self.description,
            "Url" => &mut self.url,
            "EventKey" => &mut self.event_key,
            "Ticket" => &mut self.ticket,
            "Latitude" => &mut self.latitude,
            "Longitude" => &mut self.longitude,
            "Precision" => &mut self.precision,
            "KfAccount" => &mut self.kf_account,
            "FromKfAccount" => &mut self.from_kf_account,
            "ToKfAccount" => &mut self.to_kf_account,
            _ => return None,
        })
    }

    fn into_push(self, format: Format, raw: &str) -> Result<Push, PushError> {
        let from_user = match self.from_user {
            // an openid is an id: only a string will do
            Some(Scalar::Text(s)) if !s.is_empty() && s.len() <= MAX_ID_BYTES => {
                no_controls(s, "FromUserName")?
            }
            None | Some(Scalar::Null) => return Err(PushError::MissingField("FromUserName")),
            Some(_) => return Err(PushError::BadField("FromUserName")),
        };
        let create_time = required(time_field(self.create_time)?, "CreateTime")?;
        let msg_type = required(text_field(self.msg_type, "MsgType")?, "MsgType")?;
        if msg_type.is_empty() {
            return Err(PushError::BadField("MsgType"));
        }
        let to_user = text_field(self.to_user, "ToUserName")?.unwrap_or_default();

        let kind = match msg_type.as_str() {
            "text" => PushKind::Text {
                msg_id: msg_id_field(self.msg_id, format)?,
                content: required(text_field(self.content, "Content")?, "Content")?,
            },
            "image" => PushKind::Image {
                msg_id: required(msg_id_field(self.msg_id, format)?, "MsgId")?,
                pic_url: text_field(self.pic_url, "PicUrl")?.unwrap_or_default(),
                media_id: required(text_field(self.media_id, "MediaId")?, "MediaId")?,
            },
            "miniprogrampage" => PushKind::MiniProgramPage {
                msg_id: required(msg_id_field(self.msg_id, format)?, "MsgId")?,
                title: text_field(self.title, "Title")?.unwrap_or_default(),
                app_id: text_field(self.app_id, "AppId")?.unwrap_or_default(),
                page_path: text_field(self.page_path, "PagePath")?.unwrap_or_default(),
                thumb_url: text_field(self.thumb_url, "ThumbUrl")?.unwrap_or_default(),
                thumb_media_id: text_field(self.thumb_media_id, "ThumbMediaId")?
                    .unwrap_or_default(),
            },
            "voice" => PushKind::Voice {
                msg_id: required(msg_id_field(self.msg_id, format)?, "MsgId")?,
                media_id: required(text_field(self.media_id, "MediaId")?, "MediaId")?,
                format: text_field(self.voice_format, "Format")?.unwrap_or_default(),
                recognition: text_field(self.recognition, "Recognition")?,
            },
            "video" | "shortvideo" => PushKind::Video {
                msg_id: required(msg_id_field(self.msg_id, format)?, "MsgId")?,
                media_id: required(text_field(self.media_id, "MediaId")?, "MediaId")?,
                thumb_media_id: present_text(self.thumb_media_id, "ThumbMediaId")?,
                short: msg_type == "shortvideo",
            },
            "location" => PushKind::Location {
                msg_id: required(msg_id_field(self.msg_id, format)?, "MsgId")?,
                latitude: required(
                    decimal_field(self.location_x, "Location_X", -90.0, 90.0)?,
                    "Location_X",
                )?,
                longitude: required(
                    decimal_field(self.location_y, "Location_Y", -180.0, 180.0)?,
                    "Location_Y",
                )?,
                scale: scale_field(self.scale)?,
                label: text_field(self.label, "Label")?.unwrap_or_default(),
            },
            "link" => PushKind::Link {
                msg_id: required(msg_id_field(self.msg_id, format)?, "MsgId")?,
                title: text_field(self.title, "Title")?.unwrap_or_default(),
                description: text_field(self.description, "Description")?.unwrap_or_default(),
                url: text_field(self.url, "Url")?.unwrap_or_default(),
            },
            "event" => {
                let event = required(text_field(self.event, "Event")?, "Event")?;
                // only the fields of this event are read (and so checked): another event's
                // fields are not its own, and are kept in `raw` like any unknown field
                let details = match event.as_str() {
                    "subscribe" | "SCAN" => EventDetails {
                        event_key: present_text(self.event_key, "EventKey")?,
                        ticket: present_text(self.ticket, "Ticket")?,
                        ..EventDetails::default()
                    },
                    "CLICK" | "VIEW" => EventDetails {
                        event_key: present_text(self.event_key, "EventKey")?,
                        ..EventDetails::default()
                    },
                    "LOCATION" => EventDetails {
                        latitude: decimal_field(self.latitude, "Latitude", -90.0, 90.0)?,
                        longitude: decimal_field(self.longitude, "Longitude", -180.0, 180.0)?,
                        precision: decimal_field(self.precision, "Precision", 0.0, f64::MAX)?,
                        ..EventDetails::default()
                    },
                    "kf_create_session" | "kf_close_session" => EventDetails {
                        kf_account: present_text(self.kf_account, "KfAccount")?,
                        ..EventDetails::default()
                    },
                    "kf_switch_session" => EventDetails {
                        from_kf_account: present_text(self.from_kf_account, "FromKfAccount")?,
                        to_kf_account: present_text(self.to_kf_account, "ToKfAccount")?,
                        ..EventDetails::default()
                    },
                    _ => EventDetails::default(),
                };
                PushKind::Event {
                    event,
                    session_from: text_field(self.session_from, "SessionFrom")?,
                    details,
                }
            }
            // A type we do not know is stored whole rather than refused: an odd MsgId there
            // only means it is deduplicated by its raw body instead.
            _ => PushKind::Unknown {
                msg_id: msg_id_field(self.msg_id, format).ok().flatten(),
                msg_type,
            },
        };

        Ok(Push {
            to_user,
            from_user,
            create_time,
            kind,
            format,
            raw: raw.to_owned(),
        })
    }
}

/// The encrypted envelope: everything but `Encrypt` is skipped.
#[derive(Debug, Deserialize)]
struct JsonEnvelope {
    #[serde(rename = "Encrypt")]
    encrypt: Option<Scalar>,
}

// ---------------------------------------------------------------------------------------------
// JSON

/// The body as text without a leading byte order mark.
fn body_text(body: &[u8]) -> Result<&str, PushError> {
    let text = std::str::from_utf8(body).map_err(|_| PushError::NotUtf8)?;
    Ok(text.strip_prefix('\u{feff}').unwrap_or(text))
}

/// A JSON document whose top level must be an object (a derived struct would also take an array)
/// and in which no object has a key twice.
fn json_document<T: DeserializeOwned>(text: &str) -> Result<T, PushError> {
    let start = text.trim_start_matches([' ', '\t', '\n', '\r']);
    if !start.starts_with('{') {
        return Err(malformed("JSON", "the top level is not an object"));
    }
    let value = serde_json::from_str(text).map_err(|e| malformed("JSON", e))?;
    if let Some(key) = json_repeated_key(text)? {
        return Err(malformed("JSON", format!("the key {key:?} appears twice")));
    }
    Ok(value)
}

/// The first key given twice in one object, at any depth, of a document serde_json has already
/// read as valid JSON. serde's derive sees a repeated field of its own struct only, and the
/// values it skips (unknown fields, nested objects) are not looked into; this walk does look,
/// iteratively, so a deeply nested body costs no stack. Keys are compared decoded (`"a"` and
/// `"\u0061"` are one key), and borrowed from the text unless they hold an escape.
fn json_repeated_key(text: &str) -> Result<Option<String>, PushError> {
    use std::borrow::Cow;
    use std::collections::HashSet;

    enum Open {
        /// an object, by a number unique in this document
        Object(usize),
        Array,
    }
    let bytes = text.as_bytes();
    let mut open: Vec<Open> = Vec::new();
    let mut keys: HashSet<(usize, Cow<'_, str>)> = HashSet::new();
    let mut objects = 0usize;
    // the structural byte before the current token: a string after `{` or `,` in an object is a key
    let mut previous = b' ';
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        match b {
            b'{' => {
                objects += 1;
                open.push(Open::Object(objects));
                previous = b;
            }
            b'[' => {
                open.push(Open::Array);
                previous = b;
            }
            b'}' | b']' => {
                open.pop();
                previous = b;
            }
            b',' | b':' => previous = b,
            b'"' => {
                let start = i;
                i += 1;
                while i < bytes.len() && bytes[i] != b'"' {
                    i += if bytes[i] == b'\\' { 2 } else { 1 };
                }
                let Some(token) = text.get(start..=i) else {
                    return Err(malformed("JSON", "a string is not closed"));
                };
                if let (Some(Open::Object(object)), b'{' | b',') = (open.last(), previous) {
                    let inner = &token[1..token.len() - 1];
                    let key: Cow<'_, str> = if inner.contains('\\') {
                        Cow::Owned(
                            serde_json::from_str::<String>(token)
                                .map_err(|e| malformed("JSON", e))?,
                        )
                    } else {
                        Cow::Borrowed(inner)
                    };
                    if !keys.insert((*object, key.clone())) {
                        return Ok(Some(key.into_owned()));
                    }
                }
                previous = b'"';
            }
            _ => {}
        }
        i += 1;
    }
    Ok(None)
}

fn malformed(format: &str, detail: impl fmt::Display) -> PushError {
    let detail = detail.to_string();
    let mut short: String = detail.chars().take(MAX_DETAIL_CHARS).collect();
    if short.len() < detail.len() {
        short.push('…');
    }
    PushError::Malformed(format!("{format}: {short}"))
}

// ---------------------------------------------------------------------------------------------
// XML

fn is_xml_whitespace(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\r' | '\n')
}

fn trim_xml_whitespace(s: &str) -> &str {
    s.trim_matches(is_xml_whitespace)
}

/// The text of one direct child of the root while it is being read. Whitespace outside the
/// first and last CDATA sections is layout and is dropped; CDATA is kept exactly.
struct ChildText {
    name: &'static str,
    /// text before the first CDATA section (all of it when there is none)
    before: String,
    /// from the start of the first CDATA section to the end of the last one
    cdata: Option<String>,
    /// text after the last CDATA section so far
    after: String,
}

impl ChildText {
    fn new(name: &'static str) -> ChildText {
        ChildText {
            name,
            before: String::new(),
            cdata: None,
            after: String::new(),
        }
    }

    fn push_text(&mut self, text: &str) {
        match self.cdata {
            None => self.before.push_str(text),
            Some(_) => self.after.push_str(text),
        }
    }

    fn push_cdata(&mut self, text: &str) {
        match &mut self.cdata {
            None => self.cdata = Some(text.to_owned()),
            Some(cdata) => {
                cdata.push_str(&self.after);
                self.after.clear();
                cdata.push_str(text);
            }
        }
    }

    fn finish(self) -> (&'static str, String) {
        let value = match self.cdata {
            None => self.before,
            Some(cdata) => {
                let before = self.before.trim_start_matches(is_xml_whitespace);
                let after = self.after.trim_end_matches(is_xml_whitespace);
                let mut value = String::with_capacity(before.len() + cdata.len() + after.len());
                value.push_str(before);
                value.push_str(&cdata);
                value.push_str(after);
                value
            }
        };
        (self.name, value)
    }
}

/// A character XML 1.0 does not allow anywhere (its `Char` production): the C0 controls but
/// TAB, LF and CR. quick-xml does not check it, so a raw NUL in CDATA would pass.
fn is_xml_forbidden(c: char) -> bool {
    c < ' ' && !matches!(c, '\t' | '\n' | '\r')
}

/// The text of each direct child of the root whose name is in `wanted`, in document order.
/// Grandchildren are checked for well-formedness but not read. A direct child given twice,
/// wanted or not, is refused.
fn xml_fields(
    text: &str,
    wanted: &[&'static str],
) -> Result<Vec<(&'static str, String)>, PushError> {
    if let Some((at, c)) = text.char_indices().find(|(_, c)| is_xml_forbidden(*c)) {
        return Err(malformed(
            "XML",
            format!(
                "the control character U+{:04X} (at byte {at}) is not allowed",
                c as u32
            ),
        ));
    }
    let mut reader = Reader::from_str(text);
    let mut fields: Vec<(&'static str, String)> = Vec::new();
    // every direct child's name so far (the wanted ones are also checked by `keep`)
    let mut children: std::collections::HashSet<String> = std::collections::HashSet::new();
    let mut current: Option<ChildText> = None;
    let mut depth = 0usize;
    let mut root_seen = false;
    let mut root_closed = false;

    loop {
        let event = match reader.read_event() {
            Ok(event) => event,
            Err(e) => {
                let at = reader.error_position();
                return Err(malformed("XML", format!("{e} (at byte {at})")));
            }
        };
        match event {
            Event::Start(_) | Event::Empty(_) if root_closed => {
                return Err(malformed("XML", "an element follows the root element"));
            }
            Event::Start(start) => {
                depth += 1;
                if depth > MAX_XML_DEPTH {
                    return Err(malformed("XML", "the document is nested too deeply"));
                }
                root_seen = true;
                if depth == 2 {
                    let name = start.name();
                    once(&mut children, name.into_inner())?;
                    current = wanted
                        .iter()
                        .find(|w| **w == name.as_ref())
                        .map(|w| ChildText::new(w));
                }
            }
            Event::Empty(start) => {
                if depth + 1 > MAX_XML_DEPTH {
                    return Err(malformed("XML", "the document is nested too deeply"));
                }
                match depth {
                    0 => {
                        root_seen = true;
                        root_closed = true;
                    }
                    1 => {
                        let name = start.name();
                        once(&mut children, name.into_inner())?;
                        if let Some(w) = wanted.iter().find(|w| **w == name.as_ref()) {
                            keep(&mut fields, (w, String::new()))?;
                        }
                    }
                    _ => {}
                }
            }
            Event::End(_) => {
                // quick-xml has already matched the name against the open element
                if depth == 2
                    && let Some(child) = current.take()
                {
                    keep(&mut fields, child.finish())?;
                }
                depth = match depth.checked_sub(1) {
                    Some(d) => d,
                    None => return Err(malformed("XML", "a closing tag matches no element")),
                };
                if depth == 0 {
                    root_closed = true;
                }
            }
            Event::Text(t) => {
                if depth == 0 {
                    if !trim_xml_whitespace(&t).is_empty() {
                        return Err(malformed("XML", "text outside the root element"));
                    }
                } else if depth == 2
                    && let Some(child) = current.as_mut()
                {
                    child.push_text(&t);
                }
            }
            Event::CData(c) => {
                if depth == 0 {
                    return Err(malformed("XML", "CDATA outside the root element"));
                } else if depth == 2
                    && let Some(child) = current.as_mut()
                {
                    child.push_cdata(&c);
                }
            }
            Event::GeneralRef(r) => {
                let mut buf = [0u8; 4];
                let resolved: &str = match resolve_reference(&r)? {
                    ResolvedRef::Char(c) => c.encode_utf8(&mut buf),
                    ResolvedRef::Entity(s) => s,
                };
                if depth == 0 {
                    return Err(malformed("XML", "text outside the root element"));
                } else if depth == 2
                    && let Some(child) = current.as_mut()
                {
                    child.push_text(resolved);
                }
            }
            Event::Decl(_) => {
                if root_seen {
                    return Err(malformed("XML", "a declaration inside the document"));
                }
            }
            Event::DocType(_) => {
                return Err(malformed("XML", "a DOCTYPE is not allowed"));
            }
            Event::Comment(_) | Event::PI(_) => {}
            Event::Eof => {
                if depth > 0 {
                    return Err(malformed("XML", "an element is not closed"));
                }
                if !root_seen {
                    return Err(malformed("XML", "there is no root element"));
                }
                return Ok(fields);
            }
        }
    }
}

/// Keeps one field, refusing a second element of the same name: which one counts would be a guess.
fn keep(
    fields: &mut Vec<(&'static str, String)>,
    field: (&'static str, String),
) -> Result<(), PushError> {
    if fields.iter().any(|(name, _)| *name == field.0) {
        return Err(malformed(
            "XML",
            format!("the {} element appears twice", field.0),
        ));
    }
    fields.push(field);
    Ok(())
}

/// Refuses a direct child of the root whose name was seen before.
fn once(children: &mut std::collections::HashSet<String>, name: &str) -> Result<(), PushError> {
    if children.insert(name.to_owned()) {
        Ok(())
    } else {
        Err(malformed(
            "XML",
            format!("the {name} element appears twice"),
        ))
    }
}

/// A character reference or one of XML's five predefined entities; anything else would need a
/// DTD, and DTDs are refused. A reference must name a character XML allows (`&#1;` is no more
/// XML than the raw byte).
fn resolve_reference(reference: &BytesRef<'_>) -> Result<ResolvedRef, PushError> {
    match reference.resolve_char_ref() {
        Ok(Some(c)) if is_xml_forbidden(c) => Err(malformed(
            "XML",
            format!(
                "a character reference to the control character U+{:04X}",
                c as u32
            ),
        )),
        Ok(Some(c)) => Ok(ResolvedRef::Char(c)),
        Ok(None) => quick_xml::escape::resolve_predefined_entity(reference)
            .map(ResolvedRef::Entity)
            .ok_or_else(|| malformed("XML", "an unknown entity reference")),
        Err(_) => Err(malformed("XML", "a bad character reference")),
    }
}

enum ResolvedRef {
    Char(char),
    Entity(&'static str),
}

/// Issue #11's strict pushes: wrong types, control characters, repeated keys, and the text
/// without MsgId. (A module of their own, apart from `tests`, so the two grow independently.)
#[cfg(test)]
mod strict {
    use super::*;

    const JSON_TEXT: &str = r#"{"ToUserName":"toUser","FromUserName":"fromUser","CreateTime":1482048670,"MsgType":"text","Content":"this is a test","MsgId":1234567890123456}"#;
    const XML_TEXT: &str = "<xml><ToUserName><![CDATA[toUser]]></ToUserName><FromUserName><![CDATA[fromUser]]></FromUserName><CreateTime>1482048670</CreateTime><MsgType><![CDATA[text]]></MsgType><Content><![CDATA[this is a test]]></Content><MsgId>1234567890123456</MsgId></xml>";
    const JSON_IMAGE: &str = r#"{"ToUserName":"toUser","FromUserName":"fromUser","CreateTime":1482048670,"MsgType":"image","PicUrl":"this is a url","MediaId":"media_id","MsgId":1234567890123456}"#;
    const JSON_CARD: &str = r#"{"ToUserName":"toUser","FromUserName":"fromUser","CreateTime":1482048670,"MsgType":"miniprogrampage","MsgId":1234567890123456,"Title":"title","AppId":"appid","PagePath":"path","ThumbUrl":"","ThumbMediaId":""}"#;
    const JSON_ENTER: &str = r#"{"ToUserName":"toUser","FromUserName":"fromUser","CreateTime":1482048670,"MsgType":"event","Event":"user_enter_tempsession","SessionFrom":"sessionFrom"}"#;
    /// tests/vectors/wechatpy_tests_test_crypto.json, `$.encrypt.plaintext`: a text without MsgId
    const WECHATPY_PLAINTEXT: &str = "<xml>\n<MsgType><![CDATA[text]]></MsgType>\n<Content><![CDATA[test]]></Content>\n<FromUserName><![CDATA[wx49f0ab532d5d035a]]></FromUserName>\n<ToUserName><![CDATA[messense]]></ToUserName>\n<AgentID>1</AgentID>\n<CreateTime>1411525903</CreateTime>\n</xml>";

    fn json(body: &str) -> Result<Push, PushError> {
        Push::parse(body.as_bytes(), Format::Json)
    }

    fn xml(body: &str) -> Result<Push, PushError> {
        Push::parse(body.as_bytes(), Format::Xml)
    }

    fn is_malformed(result: Result<Push, PushError>) -> bool {
        matches!(result, Err(PushError::Malformed(_)))
    }

    // ---- wrong types

    #[test]
    fn a_text_field_that_is_not_a_json_string_is_refused() {
        for (field, value) in [
            ("Content", "42"),
            ("Content", "4.2"),
            ("Content", "true"),
            ("Content", "{}"),
            ("Content", "[\"a\"]"),
            ("MsgType", "1"),
            ("MsgType", "[]"),
            ("FromUserName", "{}"),
            ("FromUserName", "7"),
            ("ToUserName", "0"),
        ] {
            let mut object: serde_json::Map<String, serde_json::Value> =
                serde_json::from_str(JSON_TEXT).unwrap();
            object.insert(field.into(), serde_json::from_str(value).unwrap());
            let body = serde_json::to_string(&object).unwrap();
            let name = PUSH_FIELDS.iter().find(|f| **f == field).unwrap();
            assert_eq!(json(&body), Err(PushError::BadField(name)), "{body}");
        }
    }

    #[test]
    fn the_fields_of_images_cards_and_events_must_be_strings_too() {
        for (base, field) in [
            (JSON_IMAGE, "MediaId"),
            (JSON_IMAGE, "PicUrl"),
            (JSON_CARD, "Title"),
            (JSON_CARD, "AppId"),
            (JSON_CARD, "PagePath"),
            (JSON_CARD, "ThumbUrl"),
            (JSON_CARD, "ThumbMediaId"),
            (JSON_ENTER, "Event"),
            (JSON_ENTER, "SessionFrom"),
        ] {
            let mut object: serde_json::Map<String, serde_json::Value> =
                serde_json::from_str(base).unwrap();
            object.insert(field.into(), serde_json::json!(12));
            let body = serde_json::to_string(&object).unwrap();
            let name = PUSH_FIELDS.iter().find(|f| **f == field).unwrap();
            assert_eq!(json(&body), Err(PushError::BadField(name)), "{body}");
        }
    }

    #[test]
    fn create_time_must_be_an_integer_or_a_string_of_digits() {
        for time in [
            "\"abc\"", "\"12a\"", "\"+5\"", "\"-5\"", "\" \"", "\"1e3\"", "[]", "null",
        ] {
            let body = JSON_TEXT.replace("1482048670", time);
            let expected = if time == "null" {
                PushError::MissingField("CreateTime")
            } else {
                PushError::BadField("CreateTime")
            };
            assert_eq!(json(&body), Err(expected), "{time}");
        }
        let body = JSON_TEXT.replace("1482048670", "\"1482048670\"");
        assert_eq!(json(&body).unwrap().create_time, 1482048670);
        // XML gives digits as text, with layout around them
        let body = XML_TEXT.replace("1482048670", "\n  1482048670\n");
        assert_eq!(xml(&body).unwrap().create_time, 1482048670);
        let body = XML_TEXT.replace("1482048670", "1482048670x");
        assert_eq!(xml(&body), Err(PushError::BadField("CreateTime")));
    }

    #[test]
    fn fields_a_push_does_not_read_and_unknown_types_are_kept_whole() {
        // Title and Location_X are no fields of a text; a file is no type kefu knows
        let body = JSON_TEXT.replace(
            '}',
            r#","Title":5,"Location_X":"north","Extra":{"a":[1,null]}}"#,
        );
        let push = json(&body).unwrap();
        assert_eq!(push.raw, body);
        let body = r#"{"FromUserName":"u","CreateTime":1,"MsgType":"file","Content":42,"MediaId":{"x":1},"MsgId":3}"#;
        let push = json(body).unwrap();
        assert_eq!(push.msg_type(), "file");
        assert_eq!(push.raw, body);
    }

    // ---- control characters

    #[test]
    fn a_control_character_in_a_json_text_field_is_refused() {
        for escape in [
            r"\u0000", r"\u0001", r"\u001b", r"\u001f", r"\u007f", r"\b", r"\f",
        ] {
            let body = JSON_TEXT.replace("this is a test", &format!("a{escape}b"));
            assert_eq!(
                json(&body),
                Err(PushError::ControlCharacter("Content")),
                "{escape}"
            );
            let body = JSON_TEXT.replace("fromUser", &format!("o{escape}"));
            assert_eq!(
                json(&body),
                Err(PushError::ControlCharacter("FromUserName")),
                "{escape}"
            );
            let body = JSON_TEXT.replace("\"text\"", &format!("\"te{escape}xt\""));
            assert_eq!(json(&body), Err(PushError::ControlCharacter("MsgType")));
            let body = JSON_TEXT.replace("1234567890123456", &format!("\"id{escape}\""));
            assert_eq!(json(&body), Err(PushError::ControlCharacter("MsgId")));
            let body = JSON_ENTER.replace("sessionFrom", &format!("s{escape}"));
            assert_eq!(json(&body), Err(PushError::ControlCharacter("SessionFrom")));
        }
        // raw control characters are not even JSON
        let body = JSON_TEXT.replace("this is a test", "a\u{0}b");
        assert!(is_malformed(json(&body)));
    }

    #[test]
    fn tab_line_feed_and_carriage_return_are_text() {
        let body = JSON_TEXT.replace("this is a test", r"a\tb\nc\r\nd");
        assert_eq!(
            json(&body).unwrap().kind,
            PushKind::Text {
                msg_id: Some("1234567890123456".into()),
                content: "a\tb\nc\r\nd".into()
            }
        );
        let body = XML_TEXT.replace("this is a test", "a\tb\nc\r\nd");
        assert!(xml(&body).is_ok());
        let body = XML_TEXT.replace("<![CDATA[this is a test]]>", "a&#9;b&#10;c&#13;");
        assert!(xml(&body).is_ok());
    }

    #[test]
    fn a_control_character_anywhere_in_xml_is_refused() {
        for c in [
            '\u{0}', '\u{1}', '\u{8}', '\u{b}', '\u{c}', '\u{1b}', '\u{1f}',
        ] {
            // raw, in CDATA, in plain text, in an element kefu does not read
            let body = XML_TEXT.replace("this is a test", &format!("a{c}b"));
            assert!(is_malformed(xml(&body)), "{c:?}");
            let body = XML_TEXT.replace("<![CDATA[fromUser]]>", &format!("o{c}"));
            assert!(is_malformed(xml(&body)), "{c:?}");
            let body = XML_TEXT.replace("</xml>", &format!("<Extra>{c}</Extra></xml>"));
            assert!(is_malformed(xml(&body)), "{c:?}");
            // as a character reference
            let reference = format!("&#{};", c as u32);
            let body = XML_TEXT.replace("<![CDATA[this is a test]]>", &reference);
            assert!(is_malformed(xml(&body)), "{reference}");
            let reference = format!("&#x{:x};", c as u32);
            let body = XML_TEXT.replace("<![CDATA[this is a test]]>", &reference);
            assert!(is_malformed(xml(&body)), "{reference}");
        }
        let err = xml(&XML_TEXT.replace("this is a test", "\u{0}")).unwrap_err();
        assert!(err.to_string().contains("U+0000"), "{err}");
        // in the envelope too
        assert!(matches!(
            encrypted_field(b"<xml><Encrypt>ab\x01c</Encrypt></xml>", Format::Xml),
            Err(PushError::Malformed(_))
        ));
    }

    #[test]
    fn del_is_legal_xml_but_refused_in_a_field_kefu_reads() {
        let body = XML_TEXT.replace("this is a test", "a\u{7f}b");
        assert_eq!(xml(&body), Err(PushError::ControlCharacter("Content")));
        let body = XML_TEXT.replace("<![CDATA[this is a test]]>", "a&#127;b");
        assert_eq!(xml(&body), Err(PushError::ControlCharacter("Content")));
        // kept in an element kefu does not read
        let body = XML_TEXT.replace("</xml>", "<Extra>\u{7f}</Extra></xml>");
        assert!(xml(&body).is_ok());
    }

    // ---- keys given twice

    #[test]
    fn a_json_key_given_twice_at_any_level_is_refused() {
        for extra in [
            r#""Extra":1,"Extra":2"#,
            r#""Extra":{"a":1,"b":{"c":1,"c":2}}"#,
            r#""Extra":[{"a":1,"a":1}]"#,
            r#""Extra":{"a":1,"\u0061":2}"#,
            r#""Content\u0000":1,"Content\u0000":2"#,
        ] {
            let body = JSON_TEXT.replace('}', &format!(",{extra}}}"));
            let err = json(&body).unwrap_err();
            assert!(
                matches!(&err, PushError::Malformed(d) if d.contains("appears twice")),
                "{extra}: {err:?}"
            );
        }
        // a known field given twice, spelled once with an escape
        let body = JSON_TEXT.replace('}', r#","\u0043ontent":"b"}"#);
        assert!(is_malformed(json(&body)));
        // the same key in different objects, and keys like values, are fine
        let body = JSON_TEXT.replace(
            '}',
            r#","Extra":{"a":{"a":1},"b":[{"a":1},{"a":2}],"c":"a"},"Other":{"a":"a"}}"#,
        );
        assert!(json(&body).is_ok());
        let body = JSON_TEXT.replace('}', r#","Extra":["Extra","Extra"]}"#);
        assert!(json(&body).is_ok());
        // in the envelope too
        assert!(matches!(
            encrypted_field(br#"{"Encrypt":"abc","X":{"k":1,"k":1}}"#, Format::Json),
            Err(PushError::Malformed(_))
        ));
    }

    #[test]
    fn an_xml_element_given_twice_under_the_root_is_refused() {
        let body = XML_TEXT.replace("</xml>", "<Extra>1</Extra><Extra>2</Extra></xml>");
        let err = xml(&body).unwrap_err();
        assert_eq!(
            err,
            PushError::Malformed("XML: the Extra element appears twice".into())
        );
        let body = XML_TEXT.replace("</xml>", "<Extra/><Extra>2</Extra></xml>");
        assert!(is_malformed(xml(&body)));
        let body = XML_TEXT.replace("</xml>", "<MsgId>1</MsgId></xml>");
        assert!(is_malformed(xml(&body)));
        // deeper repeats are a list, as in WeChat's own nested pushes
        let body = XML_TEXT.replace("</xml>", "<List><item>1</item><item>2</item></List></xml>");
        assert!(xml(&body).is_ok());
    }

    // ---- a text without MsgId

    #[test]
    fn the_wechatpy_text_without_msg_id_is_kept() {
        let push = xml(WECHATPY_PLAINTEXT).unwrap();
        assert_eq!(
            push.kind,
            PushKind::Text {
                msg_id: None,
                content: "test".into()
            }
        );
        assert_eq!(push.from_user, "wx49f0ab532d5d035a");
        assert_eq!(push.create_time, 1411525903);
        // sha1("test"), by `printf %s test | sha1sum`
        assert_eq!(
            push.dedup_key(),
            "text:wx49f0ab532d5d035a:1411525903:a94a8fe5ccb19ba61c4c0873d391e987982fbbd3"
        );
    }

    #[test]
    fn a_text_without_msg_id_is_unique_by_sender_time_and_content() {
        let without = |from: &str, time: &str, text: &str| {
            json(
                &JSON_TEXT
                    .replace(r#","MsgId":1234567890123456"#, "")
                    .replace("fromUser", from)
                    .replace("1482048670", time)
                    .replace("this is a test", text),
            )
            .unwrap()
            .dedup_key()
        };
        let key = without("u", "1", "hi");
        assert_eq!(key, without("u", "1", "hi"));
        assert_ne!(key, without("u", "1", "hi!"));
        assert_ne!(key, without("u", "2", "hi"));
        assert_ne!(key, without("v", "1", "hi"));
        assert!(key.starts_with("text:u:1:"), "{key}");
        // and never the key of a text with a MsgId
        assert!(json(JSON_TEXT).unwrap().dedup_key().starts_with("msg:"));
        // JSON and XML spell the same text the same way
        let body = XML_TEXT.replace("<MsgId>1234567890123456</MsgId>", "");
        let from_json = json(&JSON_TEXT.replace(r#","MsgId":1234567890123456"#, "")).unwrap();
        assert_eq!(xml(&body).unwrap().dedup_key(), from_json.dedup_key());
    }

    #[test]
    fn the_refusals_read_as_one_sentence() {
        assert_eq!(
            PushError::ControlCharacter("Content").to_string(),
            "the push field Content holds a control character"
        );
    }
}

/// An Official Account's messages and events (公众号), from the examples on WeChat's pages
/// "接收普通消息" and "接收事件推送", in XML as WeChat sends them and in JSON as a mini program's
/// push would spell the same fields.
#[cfg(test)]
mod official {
    use super::*;

    fn json(body: &str) -> Result<Push, PushError> {
        Push::parse(body.as_bytes(), Format::Json)
    }

    fn xml(body: &str) -> Result<Push, PushError> {
        Push::parse(body.as_bytes(), Format::Xml)
    }

    /// An XML push from WeChat's example: the common head, then `fields`.
    fn xml_push(msg_type: &str, fields: &str) -> String {
        format!(
            "<xml><ToUserName><![CDATA[toUser]]></ToUserName><FromUserName><![CDATA[fromUser]]></FromUserName><CreateTime>1357290913</CreateTime><MsgType><![CDATA[{msg_type}]]></MsgType>{fields}</xml>"
        )
    }

    /// The same in JSON: `fields` is the rest of the object, starting with a comma.
    fn json_push(msg_type: &str, fields: &str) -> String {
        format!(
            r#"{{"ToUserName":"toUser","FromUserName":"fromUser","CreateTime":1357290913,"MsgType":"{msg_type}"{fields}}}"#
        )
    }

    const XML_VOICE: &str = "<MediaId><![CDATA[media_id]]></MediaId><Format><![CDATA[amr]]></Format><Recognition><![CDATA[腾讯微信团队]]></Recognition><MsgId>1234567890123456</MsgId>";
    const XML_LOCATION: &str = "<Location_X>23.134521</Location_X><Location_Y>113.358803</Location_Y><Scale>20</Scale><Label><![CDATA[位置信息]]></Label><MsgId>1234567890123456</MsgId>";

    fn event_xml(event: &str, fields: &str) -> String {
        xml_push(
            "event",
            &format!("<Event><![CDATA[{event}]]></Event>{fields}"),
        )
    }

    fn details_of(push: &Push) -> &EventDetails {
        match &push.kind {
            PushKind::Event { details, .. } => details,
            other => panic!("not an event: {other:?}"),
        }
    }

    // ---- messages

    #[test]
    fn the_official_voice_example_parses_with_its_recognition() {
        let push = xml(&xml_push("voice", XML_VOICE)).unwrap();
        assert_eq!(
            push.kind,
            PushKind::Voice {
                msg_id: "1234567890123456".into(),
                media_id: "media_id".into(),
                format: "amr".into(),
                recognition: Some("腾讯微信团队".into()),
            }
        );
        assert_eq!(push.msg_type(), "voice");
        assert_eq!(push.dedup_key(), "msg:1234567890123456");
        let body = json_push(
            "voice",
            r#","MediaId":"media_id","Format":"amr","Recognition":"腾讯微信团队","MsgId":1234567890123456"#,
        );
        assert_eq!(json(&body).unwrap().kind, push.kind);
    }

    #[test]
    fn a_voice_without_recognition_has_none_and_needs_its_media_id_and_msg_id() {
        let push = xml(&xml_push(
            "voice",
            "<MediaId>m</MediaId><Format>speex</Format><MsgId>7</MsgId>",
        ))
        .unwrap();
        assert!(matches!(
            push.kind,
            PushKind::Voice { recognition: None, ref format, .. } if format == "speex"
        ));
        assert_eq!(
            xml(&xml_push("voice", "<Format>amr</Format><MsgId>7</MsgId>")),
            Err(PushError::MissingField("MediaId"))
        );
        assert_eq!(
            xml(&xml_push("voice", "<MediaId>m</MediaId>")),
            Err(PushError::MissingField("MsgId"))
        );
    }

    #[test]
    fn videos_and_short_videos_parse_with_their_thumbnails() {
        for (msg_type, short) in [("video", false), ("shortvideo", true)] {
            let fields = "<MediaId><![CDATA[media_id]]></MediaId><ThumbMediaId><![CDATA[thumb_media_id]]></ThumbMediaId><MsgId>1234567890123456</MsgId>";
            let push = xml(&xml_push(msg_type, fields)).unwrap();
            assert_eq!(
                push.kind,
                PushKind::Video {
                    msg_id: "1234567890123456".into(),
                    media_id: "media_id".into(),
                    thumb_media_id: Some("thumb_media_id".into()),
                    short,
                }
            );
            assert_eq!(push.msg_type(), msg_type);
            let body = json_push(
                msg_type,
                r#","MediaId":"media_id","ThumbMediaId":"thumb_media_id","MsgId":1234567890123456"#,
            );
            assert_eq!(json(&body).unwrap().kind, push.kind);
        }
        // a video as WeChat's passive reply nests it is no push of WeChat's
        let nested = xml_push(
            "video",
            "<Video><MediaId>m</MediaId></Video><MsgId>1</MsgId>",
        );
        assert_eq!(xml(&nested), Err(PushError::MissingField("MediaId")));
    }

    #[test]
    fn the_official_location_example_parses_latitude_longitude_scale_and_label() {
        let push = xml(&xml_push("location", XML_LOCATION)).unwrap();
        assert_eq!(
            push.kind,
            PushKind::Location {
                msg_id: "1234567890123456".into(),
                latitude: 23.134521,
                longitude: 113.358803,
                scale: Some(20),
                label: "位置信息".into(),
            }
        );
        // JSON: numbers as numbers, or as strings
        for fields in [
            r#","Location_X":23.134521,"Location_Y":113.358803,"Scale":20,"Label":"位置信息","MsgId":1234567890123456"#,
            r#","Location_X":"23.134521","Location_Y":"113.358803","Scale":"20","Label":"位置信息","MsgId":"1234567890123456""#,
        ] {
            assert_eq!(
                json(&json_push("location", fields)).unwrap().kind,
                push.kind
            );
        }
        // southern and western places, whole degrees, no scale or label
        let push = json(&json_push(
            "location",
            r#","Location_X":-33,"Location_Y":"-70.5","MsgId":1"#,
        ))
        .unwrap();
        assert_eq!(
            push.kind,
            PushKind::Location {
                msg_id: "1".into(),
                latitude: -33.0,
                longitude: -70.5,
                scale: None,
                label: String::new(),
            }
        );
    }

    #[test]
    fn a_location_that_is_not_a_place_is_refused() {
        let with = |x: &str, y: &str| {
            xml(&xml_push(
                "location",
                &format!(
                    "<Location_X>{x}</Location_X><Location_Y>{y}</Location_Y><MsgId>1</MsgId>"
                ),
            ))
        };
        for bad in [
            "north", "", " ", "1e3", "NaN", "inf", "+23.1", "23.", ".5", "23.1.2", "0x10", "91",
            "-90.0001", "23,1",
        ] {
            assert_eq!(
                with(bad, "113.1"),
                Err(PushError::BadField("Location_X")),
                "{bad:?}"
            );
        }
        assert_eq!(
            with("23.1", "180.5"),
            Err(PushError::BadField("Location_Y"))
        );
        assert!(with(" 23.1\n", "-180").is_ok(), "layout around a number");
        assert_eq!(
            xml(&xml_push(
                "location",
                "<Location_Y>1</Location_Y><MsgId>1</MsgId>"
            )),
            Err(PushError::MissingField("Location_X"))
        );
        for (field, value) in [
            ("Location_X", "true"),
            ("Location_X", "[23.1]"),
            ("Location_X", "{}"),
            ("Location_X", "1e999"),
            ("Location_Y", "\"east\""),
            ("Scale", "-1"),
            ("Scale", "1.5"),
            ("Scale", "\"20x\""),
            ("Scale", "1001"),
            ("Label", "7"),
            ("Label", "[]"),
        ] {
            let mut object: serde_json::Map<String, serde_json::Value> =
                serde_json::from_str(&json_push(
                    "location",
                    r#","Location_X":1,"Location_Y":2,"Scale":3,"Label":"l","MsgId":1"#,
                ))
                .unwrap();
            let Ok(value) = serde_json::from_str(value) else {
                // 1e999 is no JSON number serde_json holds: the body is malformed
                let body = json_push(
                    "location",
                    &format!(r#","{field}":{value},"Location_Y":2,"MsgId":1"#),
                );
                assert!(json(&body).is_err(), "{body}");
                continue;
            };
            object.insert(field.into(), value);
            let body = serde_json::to_string(&object).unwrap();
            let name = PUSH_FIELDS.iter().find(|f| **f == field).unwrap();
            assert_eq!(json(&body), Err(PushError::BadField(name)), "{body}");
        }
        // a control character in the label
        let body = json_push(
            "location",
            r#","Location_X":1,"Location_Y":2,"Label":"a\u0007b","MsgId":1"#,
        );
        assert_eq!(json(&body), Err(PushError::ControlCharacter("Label")));
    }

    #[test]
    fn the_official_link_example_parses() {
        let fields = "<Title><![CDATA[公众平台官网链接]]></Title><Description><![CDATA[公众平台官网链接]]></Description><Url><![CDATA[url]]></Url><MsgId>1234567890123456</MsgId>";
        let push = xml(&xml_push("link", fields)).unwrap();
        assert_eq!(
            push.kind,
            PushKind::Link {
                msg_id: "1234567890123456".into(),
                title: "公众平台官网链接".into(),
                description: "公众平台官网链接".into(),
                url: "url".into(),
            }
        );
        assert_eq!(push.msg_type(), "link");
        let body = json_push(
            "link",
            r#","Title":"t","Description":5,"Url":"u","MsgId":1"#,
        );
        assert_eq!(json(&body), Err(PushError::BadField("Description")));
        let body = json_push("link", r#","Title":"t","Url":{"a":1},"MsgId":1"#);
        assert_eq!(json(&body), Err(PushError::BadField("Url")));
    }

    #[test]
    fn control_characters_in_the_new_text_fields_are_refused() {
        for (msg_type, field, rest) in [
            ("voice", "Recognition", r#","MediaId":"m","MsgId":1"#),
            ("voice", "Format", r#","MediaId":"m","MsgId":1"#),
            ("video", "ThumbMediaId", r#","MediaId":"m","MsgId":1"#),
            ("link", "Title", r#","MsgId":1"#),
            ("link", "Url", r#","MsgId":1"#),
        ] {
            let body = json_push(msg_type, &format!(r#","{field}":"a\u001bb"{rest}"#));
            let name = PUSH_FIELDS.iter().find(|f| **f == field).unwrap();
            assert_eq!(
                json(&body),
                Err(PushError::ControlCharacter(name)),
                "{body}"
            );
        }
        // XML has no place for them at all
        let body = xml_push("voice", &XML_VOICE.replace("腾讯", "腾\u{1}讯"));
        assert!(matches!(xml(&body), Err(PushError::Malformed(_))));
    }

    // ---- events

    #[test]
    fn a_plain_follow_and_an_unfollow_carry_no_fields() {
        for event in ["subscribe", "unsubscribe"] {
            let push = xml(&event_xml(event, "<EventKey><![CDATA[]]></EventKey>")).unwrap();
            assert_eq!(
                push.kind,
                PushKind::Event {
                    event: event.into(),
                    session_from: None,
                    details: EventDetails::default(),
                }
            );
            assert_eq!(
                push.dedup_key(),
                format!("event:fromUser:1357290913:{event}")
            );
        }
    }

    #[test]
    fn a_follow_from_a_qr_code_and_a_scan_carry_the_scene_and_ticket() {
        let push = xml(&event_xml(
            "subscribe",
            "<EventKey><![CDATA[qrscene_123123]]></EventKey><Ticket><![CDATA[TICKET]]></Ticket>",
        ))
        .unwrap();
        assert_eq!(
            details_of(&push),
            &EventDetails {
                event_key: Some("qrscene_123123".into()),
                ticket: Some("TICKET".into()),
                ..EventDetails::default()
            }
        );
        let push = json(&json_push(
            "event",
            r#","Event":"SCAN","EventKey":"SCENE_VALUE","Ticket":"TICKET""#,
        ))
        .unwrap();
        assert_eq!(details_of(&push).event_key.as_deref(), Some("SCENE_VALUE"));
        assert_eq!(details_of(&push).ticket.as_deref(), Some("TICKET"));
    }

    #[test]
    fn menu_events_carry_their_key_or_url() {
        let push = xml(&event_xml(
            "CLICK",
            "<EventKey><![CDATA[EVENTKEY]]></EventKey>",
        ))
        .unwrap();
        assert_eq!(details_of(&push).event_key.as_deref(), Some("EVENTKEY"));
        let push = xml(&event_xml(
            "VIEW",
            "<EventKey><![CDATA[www.qq.com]]></EventKey><MenuId>MENUID</MenuId>",
        ))
        .unwrap();
        assert_eq!(details_of(&push).event_key.as_deref(), Some("www.qq.com"));
        let body = json_push("event", r#","Event":"CLICK","EventKey":42"#);
        assert_eq!(json(&body), Err(PushError::BadField("EventKey")));
    }

    #[test]
    fn a_location_report_carries_its_coordinates_and_precision() {
        let push = xml(&event_xml(
            "LOCATION",
            "<Latitude>23.137466</Latitude><Longitude>113.352425</Longitude><Precision>119.385040</Precision>",
        ))
        .unwrap();
        assert_eq!(
            details_of(&push),
            &EventDetails {
                latitude: Some(23.137466),
                longitude: Some(113.352425),
                precision: Some(119.38504),
                ..EventDetails::default()
            }
        );
        let body = json_push(
            "event",
            r#","Event":"LOCATION","Latitude":"x","Longitude":1"#,
        );
        assert_eq!(json(&body), Err(PushError::BadField("Latitude")));
        let body = json_push("event", r#","Event":"LOCATION","Precision":-1"#);
        assert_eq!(json(&body), Err(PushError::BadField("Precision")));
        // an EventKey is no field of a location report: not read, kept in raw
        let body = json_push("event", r#","Event":"LOCATION","EventKey":7,"Latitude":1"#);
        assert!(json(&body).is_ok());
    }

    #[test]
    fn customer_service_session_events_name_the_agents() {
        for event in ["kf_create_session", "kf_close_session"] {
            let push = xml(&event_xml(
                event,
                "<KfAccount><![CDATA[test1@test]]></KfAccount>",
            ))
            .unwrap();
            assert_eq!(details_of(&push).kf_account.as_deref(), Some("test1@test"));
        }
        let push = xml(&event_xml(
            "kf_switch_session",
            "<FromKfAccount><![CDATA[test1@test]]></FromKfAccount><ToKfAccount><![CDATA[test2@test]]></ToKfAccount>",
        ))
        .unwrap();
        assert_eq!(
            details_of(&push),
            &EventDetails {
                from_kf_account: Some("test1@test".into()),
                to_kf_account: Some("test2@test".into()),
                ..EventDetails::default()
            }
        );
        let body = json_push(
            "event",
            r#","Event":"kf_switch_session","FromKfAccount":"a","ToKfAccount":"b\u0000""#,
        );
        assert_eq!(json(&body), Err(PushError::ControlCharacter("ToKfAccount")));
    }

    #[test]
    fn json_and_xml_spell_the_same_official_push_the_same_way() {
        let from_xml = xml(&xml_push("location", XML_LOCATION)).unwrap();
        let from_json = json(&json_push(
            "location",
            r#","Location_X":23.134521,"Location_Y":113.358803,"Scale":20,"Label":"位置信息","MsgId":1234567890123456"#,
        ))
        .unwrap();
        assert_eq!(from_xml.kind, from_json.kind);
        assert_eq!(from_xml.dedup_key(), from_json.dedup_key());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    // The four examples of docs/WECHAT.md §4 ([MP-RECV-OLD]).
    const JSON_TEXT: &str = r#"{"ToUserName":"toUser","FromUserName":"fromUser","CreateTime":1482048670,"MsgType":"text","Content":"this is a test","MsgId":1234567890123456}"#;
    const JSON_IMAGE: &str = r#"{"ToUserName":"toUser","FromUserName":"fromUser","CreateTime":1482048670,"MsgType":"image","PicUrl":"this is a url","MediaId":"media_id","MsgId":1234567890123456}"#;
    const JSON_CARD: &str = r#"{"ToUserName":"toUser","FromUserName":"fromUser","CreateTime":1482048670,"MsgType":"miniprogrampage","MsgId":1234567890123456,"Title":"title","AppId":"appid","PagePath":"path","ThumbUrl":"","ThumbMediaId":""}"#;
    const JSON_ENTER: &str = r#"{"ToUserName":"toUser","FromUserName":"fromUser","CreateTime":1482048670,"MsgType":"event","Event":"user_enter_tempsession","SessionFrom":"sessionFrom"}"#;

    const XML_TEXT: &str = "<xml><ToUserName><![CDATA[toUser]]></ToUserName><FromUserName><![CDATA[fromUser]]></FromUserName><CreateTime>1482048670</CreateTime><MsgType><![CDATA[text]]></MsgType><Content><![CDATA[this is a test]]></Content><MsgId>1234567890123456</MsgId></xml>";
    const XML_IMAGE: &str = "<xml><ToUserName><![CDATA[toUser]]></ToUserName><FromUserName><![CDATA[fromUser]]></FromUserName><CreateTime>1482048670</CreateTime><MsgType><![CDATA[image]]></MsgType><PicUrl><![CDATA[this is a url]]></PicUrl><MediaId><![CDATA[media_id]]></MediaId><MsgId>1234567890123456</MsgId></xml>";
    const XML_CARD: &str = "<xml><ToUserName><![CDATA[toUser]]></ToUserName><FromUserName><![CDATA[fromUser]]></FromUserName><CreateTime>1482048670</CreateTime><MsgType><![CDATA[miniprogrampage]]></MsgType><MsgId>1234567890123456</MsgId><Title><![CDATA[title]]></Title><AppId><![CDATA[appid]]></AppId><PagePath><![CDATA[path]]></PagePath><ThumbUrl><![CDATA[]]></ThumbUrl><ThumbMediaId><![CDATA[]]></ThumbMediaId></xml>";
    const XML_ENTER: &str = "<xml><ToUserName><![CDATA[toUser]]></ToUserName><FromUserName><![CDATA[fromUser]]></FromUserName><CreateTime>1482048670</CreateTime><MsgType><![CDATA[event]]></MsgType><Event><![CDATA[user_enter_tempsession]]></Event><SessionFrom><![CDATA[sessionFrom]]></SessionFrom></xml>";

    /// The official plaintext push of [MP-PUSH] (docs/WECHAT.md §2.3).
    const JSON_DEBUG_DEMO: &str = r#"{"ToUserName":"gh_97417a04a28d","FromUserName":"o9AgO5Kd5ggOC-bXrbNODIiE3bGY","CreateTime":1714037059,"MsgType":"event","Event":"debug_demo","debug_str":"hello world"}"#;

    /// tests/vectors/official_miniprogram_message_push_json.json, encrypted_post.body
    const OFFICIAL_ENCRYPT: &str = "+qdx1OKCy+5JPCBFWw70tm0fJGb2Jmeia4FCB7kao+/Q5c/ohsOzQHi8khUOb05JCpj0JB4RvQMkUyus8TPxLKJGQqcvZqzDpVzazhZv6JsXUnnR8XGT740XgXZUXQ7vJVnAG+tE8NUd4yFyjPy7GgiaviNrlCTj+l5kdfMuFUPpRSrfMZuMcp3Fn2Pede2IuQrKEYwKSqFIZoNqJ4M8EajAsjLY2km32IIjdf8YL/P50F7mStwntrA2cPDrM1kb6mOcfBgRtWygb3VIYnSeOBrebufAlr7F9mFUPAJGj04=";
    /// tests/vectors/wechatpy_tests_test_crypto.json, decrypt.body_xml
    const WECHATPY_BODY_XML: &str = "<xml><ToUserName><![CDATA[wx49f0ab532d5d035a]]></ToUserName>\n<Encrypt><![CDATA[RgqEoJj5A4EMYlLvWO1F86ioRjZfaex/gePD0gOXTxpsq5Yj4GNglrBb8I2BAJVODGajiFnXBu7mCPatfjsu6IHCrsTyeDXzF6Bv283dGymzxh6ydJRvZsryDyZbLTE7rhnus50qGPMfp2wASFlzEgMW9z1ef/RD8XzaFYgm7iTdaXpXaG4+BiYyolBug/gYNx410cvkKR2/nPwBiT+P4hIiOAQqGp/TywZBtDh1yCF2KOd0gpiMZ5jSw3e29mTvmUHzkVQiMS6td7vXUaWOMZnYZlF3So2SjHnwh4jYFxdgpkHHqIrH/54SNdshoQgWYEvccTKe7FS709/5t6NMxuGhcUGAPOQipvWTT4dShyqio7mlsl5noTrb++x6En749zCpQVhDpbV6GDnTbcX2e8K9QaNWHp91eBdCRxthuL0=]]></Encrypt>\n<AgentID><![CDATA[1]]></AgentID>\n</xml>";
    const WECHATPY_ENCRYPT: &str = "RgqEoJj5A4EMYlLvWO1F86ioRjZfaex/gePD0gOXTxpsq5Yj4GNglrBb8I2BAJVODGajiFnXBu7mCPatfjsu6IHCrsTyeDXzF6Bv283dGymzxh6ydJRvZsryDyZbLTE7rhnus50qGPMfp2wASFlzEgMW9z1ef/RD8XzaFYgm7iTdaXpXaG4+BiYyolBug/gYNx410cvkKR2/nPwBiT+P4hIiOAQqGp/TywZBtDh1yCF2KOd0gpiMZ5jSw3e29mTvmUHzkVQiMS6td7vXUaWOMZnYZlF3So2SjHnwh4jYFxdgpkHHqIrH/54SNdshoQgWYEvccTKe7FS709/5t6NMxuGhcUGAPOQipvWTT4dShyqio7mlsl5noTrb++x6En749zCpQVhDpbV6GDnTbcX2e8K9QaNWHp91eBdCRxthuL0=";

    fn json(body: &str) -> Result<Push, PushError> {
        Push::parse(body.as_bytes(), Format::Json)
    }

    fn xml(body: &str) -> Result<Push, PushError> {
        Push::parse(body.as_bytes(), Format::Xml)
    }

    fn text_of(push: &Push) -> (&str, &str) {
        match &push.kind {
            PushKind::Text { msg_id, content } => (msg_id.as_deref().unwrap_or_default(), content),
            other => panic!("expected a text push, got {other:?}"),
        }
    }

    fn is_malformed(result: Result<Push, PushError>) -> bool {
        matches!(result, Err(PushError::Malformed(_)))
    }

    fn expected_text(format: Format, raw: &str) -> Push {
        Push {
            to_user: "toUser".into(),
            from_user: "fromUser".into(),
            create_time: 1482048670,
            kind: PushKind::Text {
                msg_id: Some("1234567890123456".into()),
                content: "this is a test".into(),
            },
            format,
            raw: raw.into(),
        }
    }

    fn expected_image() -> PushKind {
        PushKind::Image {
            msg_id: "1234567890123456".into(),
            pic_url: "this is a url".into(),
            media_id: "media_id".into(),
        }
    }

    fn expected_card() -> PushKind {
        PushKind::MiniProgramPage {
            msg_id: "1234567890123456".into(),
            title: "title".into(),
            app_id: "appid".into(),
            page_path: "path".into(),
            thumb_url: String::new(),
            thumb_media_id: String::new(),
        }
    }

    fn expected_enter() -> PushKind {
        PushKind::Event {
            event: "user_enter_tempsession".into(),
            session_from: Some("sessionFrom".into()),
            details: EventDetails::default(),
        }
    }

    // ---- Format

    #[test]
    fn sniff_reads_the_first_non_whitespace_byte() {
        assert_eq!(Format::sniff(b"{}"), Some(Format::Json));
        assert_eq!(Format::sniff(b"<xml/>"), Some(Format::Xml));
        assert_eq!(Format::sniff(b" \r\n\t {\"a\":1}"), Some(Format::Json));
        assert_eq!(Format::sniff(b"\n\n  <xml></xml>"), Some(Format::Xml));
    }

    #[test]
    fn sniff_finds_nothing_in_an_empty_blank_or_foreign_body() {
        assert_eq!(Format::sniff(b""), None);
        assert_eq!(Format::sniff(b"   \n"), None);
        assert_eq!(Format::sniff(b"success"), None);
        assert_eq!(Format::sniff(b"[1,2]"), None);
        assert_eq!(Format::sniff(b"\xff\xfe<"), None);
    }

    #[test]
    fn sniff_skips_a_leading_byte_order_mark() {
        assert_eq!(Format::sniff(b"\xEF\xBB\xBF<xml/>"), Some(Format::Xml));
        assert_eq!(Format::sniff(b"\xEF\xBB\xBF {}"), Some(Format::Json));
    }

    #[test]
    fn detect_keeps_the_configured_format_when_the_body_looks_like_it() {
        assert_eq!(
            Format::detect(JSON_TEXT.as_bytes(), Format::Json),
            Format::Json
        );
        assert_eq!(
            Format::detect(XML_TEXT.as_bytes(), Format::Xml),
            Format::Xml
        );
    }

    #[test]
    fn detect_follows_the_body_when_it_contradicts_the_configuration() {
        assert_eq!(
            Format::detect(XML_TEXT.as_bytes(), Format::Json),
            Format::Xml
        );
        assert_eq!(Format::detect(b"  \n{\"a\":1}", Format::Xml), Format::Json);
    }

    #[test]
    fn detect_falls_back_to_the_configured_format_when_the_body_says_nothing() {
        assert_eq!(Format::detect(b"", Format::Xml), Format::Xml);
        assert_eq!(Format::detect(b"garbage", Format::Json), Format::Json);
    }

    #[test]
    fn format_is_written_in_lowercase_in_configuration() {
        assert_eq!(serde_json::to_string(&Format::Json).unwrap(), "\"json\"");
        assert_eq!(
            serde_json::from_str::<Format>("\"xml\"").unwrap(),
            Format::Xml
        );
    }

    // ---- the official examples

    #[test]
    fn the_official_json_text_example_parses() {
        assert_eq!(
            json(JSON_TEXT).unwrap(),
            expected_text(Format::Json, JSON_TEXT)
        );
    }

    #[test]
    fn the_official_json_image_example_parses() {
        let push = json(JSON_IMAGE).unwrap();
        assert_eq!(push.kind, expected_image());
        assert_eq!(push.from_user, "fromUser");
        assert_eq!(push.msg_type(), "image");
    }

    #[test]
    fn the_official_json_miniprogrampage_example_parses() {
        let push = json(JSON_CARD).unwrap();
        assert_eq!(push.kind, expected_card());
        assert_eq!(push.msg_type(), "miniprogrampage");
    }

    #[test]
    fn the_official_json_enter_session_event_parses_with_its_session_from() {
        let push = json(JSON_ENTER).unwrap();
        assert_eq!(push.kind, expected_enter());
        assert_eq!(push.create_time, 1482048670);
        assert_eq!(push.msg_type(), "event");
    }

    #[test]
    fn the_official_xml_text_example_parses_from_cdata() {
        assert_eq!(xml(XML_TEXT).unwrap(), expected_text(Format::Xml, XML_TEXT));
    }

    #[test]
    fn the_official_xml_image_example_parses_from_cdata() {
        let push = xml(XML_IMAGE).unwrap();
        assert_eq!(push.kind, expected_image());
        assert_eq!(push.format, Format::Xml);
    }

    #[test]
    fn the_official_xml_miniprogrampage_example_parses_from_cdata() {
        assert_eq!(xml(XML_CARD).unwrap().kind, expected_card());
    }

    #[test]
    fn the_official_xml_enter_session_event_parses_from_cdata() {
        let push = xml(XML_ENTER).unwrap();
        assert_eq!(push.kind, expected_enter());
        assert_eq!(push.to_user, "toUser");
        assert_eq!(push.raw, XML_ENTER);
    }

    #[test]
    fn indented_xml_with_whitespace_around_cdata_parses() {
        let body = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<!-- a push -->\n<xml>\n  <ToUserName>\n    <![CDATA[toUser]]>\n  </ToUserName>\n  <FromUserName> <![CDATA[fromUser]]> </FromUserName>\r\n\t<CreateTime>\n    1482048670\n  </CreateTime>\n  <MsgType><![CDATA[text]]></MsgType>\n  <!-- the message -->\n  <Content>\n    <![CDATA[  two  spaces\n  each side  ]]>\n  </Content>\n  <MsgId>\n    1234567890123456\n  </MsgId>\n</xml>\n";
        let push = xml(body).unwrap();
        assert_eq!(push.to_user, "toUser");
        assert_eq!(push.from_user, "fromUser");
        assert_eq!(push.create_time, 1482048670);
        assert_eq!(
            text_of(&push),
            ("1234567890123456", "  two  spaces\n  each side  ")
        );
        assert_eq!(push.raw, body);
    }

    #[test]
    fn the_official_debug_demo_event_parses_without_session_from() {
        let push = json(JSON_DEBUG_DEMO).unwrap();
        assert_eq!(
            push.kind,
            PushKind::Event {
                event: "debug_demo".into(),
                session_from: None,
                details: EventDetails::default(),
            }
        );
        assert_eq!(push.to_user, "gh_97417a04a28d");
        assert_eq!(push.from_user, "o9AgO5Kd5ggOC-bXrbNODIiE3bGY");
        assert_eq!(push.create_time, 1714037059);
        assert_eq!(push.raw, JSON_DEBUG_DEMO);
    }

    // ---- MsgId and CreateTime

    #[test]
    fn a_numeric_msg_id_becomes_its_exact_decimal_string() {
        let push = json(JSON_TEXT).unwrap();
        assert_eq!(text_of(&push).0, "1234567890123456");
    }

    #[test]
    fn the_largest_u64_msg_id_is_preserved_exactly() {
        let body = JSON_TEXT.replace("1234567890123456", "18446744073709551615");
        let push = json(&body).unwrap();
        assert_eq!(text_of(&push).0, "18446744073709551615");
        assert_eq!(push.dedup_key(), "msg:18446744073709551615");
        let body = XML_TEXT.replace("1234567890123456", "18446744073709551615");
        assert_eq!(text_of(&xml(&body).unwrap()).0, "18446744073709551615");
    }

    #[test]
    fn a_negative_msg_id_is_kept_as_its_decimal_string() {
        let body = JSON_TEXT.replace("1234567890123456", "-42");
        assert_eq!(text_of(&json(&body).unwrap()).0, "-42");
    }

    #[test]
    fn a_string_msg_id_is_kept_as_it_is() {
        let id = "49d72d67b16d115e7935ac386f2f0fa41535298877_1555684067";
        let body = JSON_TEXT.replace("1234567890123456", &format!("\"{id}\""));
        let push = json(&body).unwrap();
        assert_eq!(text_of(&push).0, id);
        assert_eq!(push.dedup_key(), format!("msg:{id}"));
    }

    #[test]
    fn a_float_msg_id_is_refused() {
        for id in ["1234567890123456.0", "1.5", "1e3", "-0.5"] {
            let body = JSON_TEXT.replace("1234567890123456", id);
            assert_eq!(json(&body), Err(PushError::BadField("MsgId")), "{id}");
        }
    }

    #[test]
    fn a_msg_id_beyond_u64_is_refused_rather_than_rounded() {
        let body = JSON_TEXT.replace("1234567890123456", "18446744073709551616");
        assert_eq!(json(&body), Err(PushError::BadField("MsgId")));
    }

    #[test]
    fn an_empty_overlong_or_non_scalar_msg_id_is_refused() {
        let long = format!("\"{}\"", "a".repeat(129));
        for id in ["\"\"", long.as_str(), "true", "{}", "[1]"] {
            let body = JSON_TEXT.replace("1234567890123456", id);
            assert_eq!(json(&body), Err(PushError::BadField("MsgId")), "{id}");
        }
        let ok = format!("\"{}\"", "a".repeat(128));
        let body = JSON_TEXT.replace("1234567890123456", &ok);
        assert!(json(&body).is_ok());
    }

    #[test]
    fn create_time_may_be_a_numeric_string() {
        let body = JSON_TEXT.replace("1482048670", "\"1610969440\"");
        assert_eq!(json(&body).unwrap().create_time, 1610969440);
    }

    #[test]
    fn create_time_out_of_any_real_range_is_refused() {
        for t in ["-1", "9223372036854775807", "253402300800"] {
            let body = format!(
                r#"{{"FromUserName":"o1","CreateTime":{t},"MsgType":"text","Content":"x","MsgId":1}}"#
            );
            assert_eq!(
                json(&body).unwrap_err(),
                PushError::BadField("CreateTime"),
                "{t}"
            );
        }
    }

    #[test]
    fn create_time_that_is_not_an_integer_is_refused() {
        for time in [
            "\"soon\"",
            "\"\"",
            "1.5",
            "true",
            "{}",
            "9223372036854775808",
        ] {
            let body = JSON_TEXT.replace("1482048670", time);
            assert_eq!(
                json(&body),
                Err(PushError::BadField("CreateTime")),
                "{time}"
            );
        }
        let body = XML_TEXT.replace("1482048670", "yesterday");
        assert_eq!(xml(&body), Err(PushError::BadField("CreateTime")));
    }

    // ---- required fields

    #[test]
    fn a_push_without_from_user_name_is_refused() {
        let body = JSON_TEXT.replace(r#""FromUserName":"fromUser","#, "");
        assert_eq!(json(&body), Err(PushError::MissingField("FromUserName")));
        let body = XML_TEXT.replace("<FromUserName><![CDATA[fromUser]]></FromUserName>", "");
        assert_eq!(xml(&body), Err(PushError::MissingField("FromUserName")));
    }

    #[test]
    fn an_empty_overlong_or_numeric_from_user_name_is_refused() {
        let long = format!("\"{}\"", "o".repeat(129));
        for from in ["\"\"", long.as_str(), "12345"] {
            let body = JSON_TEXT.replace("\"fromUser\"", from);
            assert_eq!(
                json(&body),
                Err(PushError::BadField("FromUserName")),
                "{from}"
            );
        }
    }

    #[test]
    fn a_push_without_msg_type_is_refused() {
        let body = JSON_TEXT.replace(r#""MsgType":"text","#, "");
        assert_eq!(json(&body), Err(PushError::MissingField("MsgType")));
        let body = XML_TEXT.replace("<MsgType><![CDATA[text]]></MsgType>", "");
        assert_eq!(xml(&body), Err(PushError::MissingField("MsgType")));
    }

    #[test]
    fn a_push_without_create_time_is_refused() {
        let body = JSON_TEXT.replace(r#""CreateTime":1482048670,"#, "");
        assert_eq!(json(&body), Err(PushError::MissingField("CreateTime")));
        let body = XML_TEXT.replace("<CreateTime>1482048670</CreateTime>", "");
        assert_eq!(xml(&body), Err(PushError::MissingField("CreateTime")));
    }

    #[test]
    fn an_image_or_card_without_msg_id_is_refused() {
        // (a text without one is kept: see `strict` below)
        let body = JSON_IMAGE.replace(r#","MsgId":1234567890123456"#, "");
        assert_eq!(json(&body), Err(PushError::MissingField("MsgId")));
        let body = XML_CARD.replace("<MsgId>1234567890123456</MsgId>", "");
        assert_eq!(xml(&body), Err(PushError::MissingField("MsgId")));
    }

    #[test]
    fn a_text_without_content_is_refused_but_empty_content_is_kept() {
        let body = JSON_TEXT.replace(r#""Content":"this is a test","#, "");
        assert_eq!(json(&body), Err(PushError::MissingField("Content")));
        let body = XML_TEXT.replace("<![CDATA[this is a test]]>", "");
        assert_eq!(text_of(&xml(&body).unwrap()).1, "");
        let body = XML_TEXT.replace(
            "<Content><![CDATA[this is a test]]></Content>",
            "<Content/>",
        );
        assert_eq!(text_of(&xml(&body).unwrap()).1, "");
    }

    #[test]
    fn an_image_needs_a_media_id_but_not_a_pic_url() {
        let body = JSON_IMAGE.replace(r#""MediaId":"media_id","#, "");
        assert_eq!(json(&body), Err(PushError::MissingField("MediaId")));
        let body = JSON_IMAGE.replace(r#""PicUrl":"this is a url","#, "");
        match json(&body).unwrap().kind {
            PushKind::Image {
                pic_url, media_id, ..
            } => {
                assert_eq!(pic_url, "");
                assert_eq!(media_id, "media_id");
            }
            other => panic!("expected an image, got {other:?}"),
        }
    }

    #[test]
    fn a_miniprogrampage_without_its_card_fields_gets_empty_strings() {
        let body = r#"{"FromUserName":"u","CreateTime":1,"MsgType":"miniprogrampage","MsgId":7}"#;
        let push = json(body).unwrap();
        assert_eq!(push.to_user, "");
        assert_eq!(
            push.kind,
            PushKind::MiniProgramPage {
                msg_id: "7".into(),
                title: String::new(),
                app_id: String::new(),
                page_path: String::new(),
                thumb_url: String::new(),
                thumb_media_id: String::new(),
            }
        );
    }

    #[test]
    fn an_event_without_event_is_refused() {
        let body = JSON_ENTER.replace(r#""Event":"user_enter_tempsession","#, "");
        assert_eq!(json(&body), Err(PushError::MissingField("Event")));
    }

    #[test]
    fn json_numbers_in_text_fields_are_refused_and_null_counts_as_absent() {
        // a number in a text field used to be taken as its decimal text; issue #11 refuses it
        let body = r#"{"ToUserName":null,"FromUserName":"u","CreateTime":1,"MsgType":"text","Content":12345,"MsgId":1,"Title":{"nested":[1,2]}}"#;
        assert_eq!(json(body), Err(PushError::BadField("Content")));
        // a field a text does not read (Title) is kept whole in raw, like an unknown one
        let body = body.replace("12345", "\"12345\"");
        let push = json(&body).unwrap();
        assert_eq!(push.to_user, "");
        assert_eq!(text_of(&push).1, "12345");
        let body =
            r#"{"FromUserName":"u","CreateTime":1,"MsgType":"text","Content":null,"MsgId":1}"#;
        assert_eq!(json(body), Err(PushError::MissingField("Content")));
        let body = r#"{"FromUserName":"u","CreateTime":1,"MsgType":"text","Content":[],"MsgId":1}"#;
        assert_eq!(json(body), Err(PushError::BadField("Content")));
    }

    // ---- unknown types and content fidelity

    #[test]
    fn an_unknown_xml_msg_type_with_nested_elements_is_kept_whole() {
        let body = "<xml><ToUserName><![CDATA[toUser]]></ToUserName><FromUserName><![CDATA[fromUser]]></FromUserName><CreateTime>1482048670</CreateTime><MsgType><![CDATA[file]]></MsgType><File><MediaId><![CDATA[nested]]></MediaId><Title><![CDATA[t]]></Title></File><MsgId>99</MsgId></xml>";
        let push = xml(body).unwrap();
        assert_eq!(
            push.kind,
            PushKind::Unknown {
                msg_type: "file".into(),
                msg_id: Some("99".into())
            }
        );
        assert_eq!(push.msg_type(), "file");
        assert_eq!(push.raw, body);
        assert_eq!(push.dedup_key(), "msg:99");
    }

    #[test]
    fn grandchildren_never_fill_a_field() {
        let body = "<xml><FromUserName>u</FromUserName><CreateTime>1</CreateTime><MsgType>image</MsgType><MsgId>5</MsgId><Video><MediaId>nested</MediaId></Video></xml>";
        assert_eq!(xml(body), Err(PushError::MissingField("MediaId")));
    }

    #[test]
    fn an_unknown_json_msg_type_without_msg_id_is_kept_whole() {
        let body = r#"{"FromUserName":"u","CreateTime":1,"MsgType":"file","Location_X":23.1}"#;
        let push = json(body).unwrap();
        assert_eq!(
            push.kind,
            PushKind::Unknown {
                msg_type: "file".into(),
                msg_id: None
            }
        );
        assert_eq!(push.raw, body);
    }

    #[test]
    fn an_unknown_msg_type_with_an_unusable_msg_id_is_still_kept() {
        let body = r#"{"FromUserName":"u","CreateTime":1,"MsgType":"file","MsgId":1.5}"#;
        let push = json(body).unwrap();
        assert!(matches!(push.kind, PushKind::Unknown { msg_id: None, .. }));
        assert!(push.dedup_key().starts_with("raw:"));
    }

    #[test]
    fn chinese_and_emoji_content_is_kept_exactly() {
        let content = "你好，客服 👋🏽 \u{200d}‼ 中文";
        let body = JSON_TEXT.replace("this is a test", content);
        assert_eq!(text_of(&json(&body).unwrap()).1, content);
        let body = JSON_TEXT.replace("this is a test", r"\u4f60\u597d \ud83d\ude00");
        assert_eq!(text_of(&json(&body).unwrap()).1, "你好 😀");
        let body = XML_TEXT.replace("this is a test", content);
        assert_eq!(text_of(&xml(&body).unwrap()).1, content);
    }

    #[test]
    fn json_strings_are_kept_with_their_whitespace() {
        let body = JSON_TEXT.replace("this is a test", r"  spaced \n ");
        assert_eq!(text_of(&json(&body).unwrap()).1, "  spaced \n ");
    }

    #[test]
    fn entities_in_plain_xml_text_are_unescaped() {
        let body = XML_TEXT.replace(
            "<![CDATA[this is a test]]>",
            "&lt;script&gt;alert(&quot;x&quot; &amp; &apos;y&apos;)&lt;/script&gt; &#x4F60;&#22909;",
        );
        assert_eq!(
            text_of(&xml(&body).unwrap()).1,
            "<script>alert(\"x\" & 'y')</script> 你好"
        );
    }

    #[test]
    fn cdata_content_is_kept_literally_and_can_mix_with_text() {
        let body = XML_TEXT.replace(
            "<![CDATA[this is a test]]>",
            "\n  <![CDATA[a &lt; <b>]]>&amp;<![CDATA[ c ]]>\n ",
        );
        assert_eq!(text_of(&xml(&body).unwrap()).1, "a &lt; <b>& c ");
    }

    #[test]
    fn plain_xml_text_without_cdata_is_kept_as_it_is() {
        let body = XML_TEXT.replace("<![CDATA[this is a test]]>", " two words ");
        assert_eq!(text_of(&xml(&body).unwrap()).1, " two words ");
    }

    #[test]
    fn any_root_element_name_and_attributes_are_accepted() {
        let body = XML_TEXT
            .replace("<xml>", "<root version=\"1\">")
            .replace("</xml>", "</root>");
        assert_eq!(text_of(&xml(&body).unwrap()).1, "this is a test");
    }

    // ---- malformed bodies

    #[test]
    fn an_unknown_xml_entity_is_refused() {
        let body = XML_TEXT.replace("<![CDATA[this is a test]]>", "&xxe;");
        assert!(is_malformed(xml(&body)));
        let body = XML_TEXT.replace("<![CDATA[this is a test]]>", "&#0;");
        assert!(is_malformed(xml(&body)));
        let body = XML_TEXT.replace("<![CDATA[this is a test]]>", "a & b");
        assert!(is_malformed(xml(&body)));
    }

    #[test]
    fn a_doctype_is_refused() {
        let body = format!(
            "<?xml version=\"1.0\"?>\n<!DOCTYPE xml [<!ENTITY xxe SYSTEM \"file:///etc/passwd\">]>\n{}",
            XML_TEXT.replace("<![CDATA[this is a test]]>", "&xxe;")
        );
        let err = xml(&body).unwrap_err();
        assert_eq!(
            err,
            PushError::Malformed("XML: a DOCTYPE is not allowed".into())
        );
        let body = format!("<!DOCTYPE xml>{XML_TEXT}");
        assert!(is_malformed(xml(&body)));
        assert!(matches!(
            encrypted_field(body.as_bytes(), Format::Xml),
            Err(PushError::Malformed(_))
        ));
    }

    #[test]
    fn truncated_json_is_malformed() {
        for cut in [1, 10, JSON_TEXT.len() / 2, JSON_TEXT.len() - 1] {
            assert!(is_malformed(json(&JSON_TEXT[..cut])), "cut at {cut}");
        }
    }

    #[test]
    fn truncated_xml_is_malformed() {
        for cut in [1, 5, 20, XML_TEXT.len() / 2, XML_TEXT.len() - 1] {
            assert!(is_malformed(xml(&XML_TEXT[..cut])), "cut at {cut}");
        }
    }

    #[test]
    fn xml_without_a_root_element_is_malformed() {
        for body in [
            "",
            "   \n",
            "<?xml version=\"1.0\"?>",
            "<!-- only -->",
            "hello",
        ] {
            assert!(is_malformed(xml(body)), "{body:?}");
        }
    }

    #[test]
    fn xml_with_anything_but_comments_after_the_root_is_malformed() {
        assert!(is_malformed(xml(&format!("{XML_TEXT}<xml></xml>"))));
        assert!(is_malformed(xml(&format!("{XML_TEXT}<x/>"))));
        assert!(is_malformed(xml(&format!("{XML_TEXT}trailing"))));
        assert!(is_malformed(xml(&format!("{XML_TEXT}</xml>"))));
        assert!(xml(&format!("{XML_TEXT}\n<!-- fine -->\n")).is_ok());
    }

    #[test]
    fn xml_with_mismatched_tags_is_malformed() {
        let body = XML_TEXT.replace("</Content>", "</Contents>");
        assert!(is_malformed(xml(&body)));
    }

    #[test]
    fn xml_nested_deeper_than_the_cap_is_malformed() {
        let deep = |n: usize| {
            format!(
                "<xml><FromUserName>u</FromUserName><CreateTime>1</CreateTime><MsgType>x</MsgType>{}{}</xml>",
                "<a>".repeat(n),
                "</a>".repeat(n)
            )
        };
        assert!(xml(&deep(MAX_XML_DEPTH - 1)).is_ok());
        assert!(is_malformed(xml(&deep(MAX_XML_DEPTH))));
        assert!(is_malformed(xml(&deep(100_000))));
    }

    #[test]
    fn deeply_nested_json_is_skipped_without_overflowing_the_stack() {
        let nest = |field: &str| {
            format!(
                r#"{{"FromUserName":"u","CreateTime":1,"MsgType":"text","MsgId":1,"{field}":{}{}}}"#,
                "[".repeat(100_000),
                "]".repeat(100_000)
            )
        };
        // serde_json skips ignored values iteratively, so depth costs no stack
        assert_eq!(
            json(&nest("Extra")),
            Err(PushError::MissingField("Content"))
        );
        assert_eq!(json(&nest("Content")), Err(PushError::BadField("Content")));
        let unclosed = format!(r#"{{"Content":{}"#, "[".repeat(100_000));
        assert!(is_malformed(json(&unclosed)));
    }

    #[test]
    fn a_json_top_level_that_is_not_an_object_is_malformed() {
        for body in [
            "[]",
            r#"["toUser","fromUser",1,"text"]"#,
            "\"text\"",
            "42",
            "null",
            "",
        ] {
            assert!(is_malformed(json(body)), "{body:?}");
        }
    }

    #[test]
    fn json_with_trailing_garbage_is_malformed() {
        assert!(is_malformed(json(&format!("{JSON_TEXT} x"))));
        assert!(is_malformed(json(&format!("{JSON_TEXT}{{}}"))));
        assert!(json(&format!(" \n{JSON_TEXT}\n ")).is_ok());
    }

    #[test]
    fn a_field_given_twice_is_malformed() {
        let body = JSON_TEXT.replace(r#""Content":"#, r#""Content":"a","Content":"#);
        assert!(is_malformed(json(&body)));
        let body = XML_TEXT.replace("<Content>", "<Content>a</Content><Content>");
        assert!(is_malformed(xml(&body)));
    }

    #[test]
    fn a_body_in_the_other_format_is_malformed() {
        assert!(is_malformed(json(XML_TEXT)));
        assert!(is_malformed(xml(JSON_TEXT)));
    }

    #[test]
    fn a_leading_byte_order_mark_is_tolerated_and_kept_in_raw() {
        let body = format!("\u{feff}{JSON_TEXT}");
        let push = json(&body).unwrap();
        assert_eq!(push.raw, body);
        let body = format!("\u{feff}{XML_TEXT}");
        assert_eq!(text_of(&xml(&body).unwrap()).1, "this is a test");
    }

    #[test]
    fn a_non_utf8_body_is_refused() {
        let mut body = JSON_TEXT.as_bytes().to_vec();
        body[60] = 0xff;
        assert_eq!(Push::parse(&body, Format::Json), Err(PushError::NotUtf8));
        let mut body = XML_TEXT.as_bytes().to_vec();
        body.push(0xc3);
        assert_eq!(Push::parse(&body, Format::Xml), Err(PushError::NotUtf8));
        assert_eq!(
            encrypted_field(b"{\"Encrypt\":\"\xfe\"}", Format::Json),
            Err(PushError::NotUtf8)
        );
    }

    #[test]
    fn errors_read_as_one_sentence() {
        assert_eq!(PushError::NotUtf8.to_string(), "the push body is not UTF-8");
        assert_eq!(
            PushError::MissingField("MsgId").to_string(),
            "the push has no MsgId field"
        );
        assert_eq!(
            PushError::BadField("CreateTime").to_string(),
            "the push field CreateTime has an unusable value"
        );
        let err = json("{").unwrap_err();
        assert!(
            err.to_string()
                .starts_with("the push body is not valid JSON: "),
            "{err}"
        );
        let err = xml("<xml>").unwrap_err();
        assert!(
            err.to_string()
                .starts_with("the push body is not valid XML: "),
            "{err}"
        );
    }

    #[test]
    fn a_malformed_detail_does_not_echo_long_input() {
        let name = "N".repeat(500);
        let body = format!("<xml><{name}></x></xml>");
        let PushError::Malformed(detail) = xml(&body).unwrap_err() else {
            panic!("expected Malformed");
        };
        assert!(detail.chars().count() <= MAX_DETAIL_CHARS + 10, "{detail}");
    }

    // ---- encrypted envelopes

    #[test]
    fn encrypted_field_reads_the_official_safe_mode_json_body() {
        let body = format!(r#"{{"ToUserName":"gh_97417a04a28d","Encrypt":"{OFFICIAL_ENCRYPT}"}}"#);
        assert_eq!(
            encrypted_field(body.as_bytes(), Format::Json).unwrap(),
            OFFICIAL_ENCRYPT
        );
    }

    #[test]
    fn encrypted_field_reads_the_wechatpy_xml_body() {
        assert_eq!(
            encrypted_field(WECHATPY_BODY_XML.as_bytes(), Format::Xml).unwrap(),
            WECHATPY_ENCRYPT
        );
    }

    #[test]
    fn encrypted_field_ignores_the_plaintext_fields_of_compatible_mode() {
        let body = JSON_TEXT.replace('}', &format!(r#","Encrypt":"{OFFICIAL_ENCRYPT}"}}"#));
        assert_eq!(
            encrypted_field(body.as_bytes(), Format::Json).unwrap(),
            OFFICIAL_ENCRYPT
        );
        let body = XML_TEXT.replace(
            "</xml>",
            &format!("<Encrypt><![CDATA[{WECHATPY_ENCRYPT}]]></Encrypt></xml>"),
        );
        assert_eq!(
            encrypted_field(body.as_bytes(), Format::Xml).unwrap(),
            WECHATPY_ENCRYPT
        );
    }

    #[test]
    fn encrypted_field_without_encrypt_is_a_missing_field() {
        assert_eq!(
            encrypted_field(JSON_TEXT.as_bytes(), Format::Json),
            Err(PushError::MissingField("Encrypt"))
        );
        assert_eq!(
            encrypted_field(br#"{"Encrypt":null}"#, Format::Json),
            Err(PushError::MissingField("Encrypt"))
        );
        assert_eq!(
            encrypted_field(XML_TEXT.as_bytes(), Format::Xml),
            Err(PushError::MissingField("Encrypt"))
        );
        let nested = b"<xml><Wrapper><Encrypt>abc</Encrypt></Wrapper></xml>";
        assert_eq!(
            encrypted_field(nested, Format::Xml),
            Err(PushError::MissingField("Encrypt"))
        );
    }

    #[test]
    fn encrypted_field_refuses_an_empty_or_non_string_encrypt() {
        for body in [
            r#"{"Encrypt":""}"#,
            r#"{"Encrypt":12}"#,
            r#"{"Encrypt":{}}"#,
        ] {
            assert_eq!(
                encrypted_field(body.as_bytes(), Format::Json),
                Err(PushError::BadField("Encrypt")),
                "{body}"
            );
        }
        assert_eq!(
            encrypted_field(b"<xml><Encrypt/></xml>", Format::Xml),
            Err(PushError::BadField("Encrypt"))
        );
    }

    #[test]
    fn encrypted_field_refuses_malformed_envelopes() {
        for (body, format) in [
            ("{\"Encrypt\":\"abc\"", Format::Json),
            ("[\"abc\"]", Format::Json),
            ("<xml><Encrypt>abc</Encrypt>", Format::Xml),
            (
                "<xml><Encrypt>a</Encrypt><Encrypt>b</Encrypt></xml>",
                Format::Xml,
            ),
        ] {
            assert!(
                matches!(
                    encrypted_field(body.as_bytes(), format),
                    Err(PushError::Malformed(_))
                ),
                "{body}"
            );
        }
    }

    #[test]
    fn encrypted_field_trims_layout_around_plain_xml_text() {
        let body = b"<xml>\n  <Encrypt>\n    abc=\n  </Encrypt>\n</xml>";
        assert_eq!(encrypted_field(body, Format::Xml).unwrap(), "abc=");
    }

    // ---- dedup keys

    #[test]
    fn dedup_key_of_a_message_is_its_msg_id() {
        assert_eq!(json(JSON_TEXT).unwrap().dedup_key(), "msg:1234567890123456");
        assert_eq!(xml(XML_TEXT).unwrap().dedup_key(), "msg:1234567890123456");
        assert_eq!(
            json(JSON_IMAGE).unwrap().dedup_key(),
            "msg:1234567890123456"
        );
        assert_eq!(json(JSON_CARD).unwrap().dedup_key(), "msg:1234567890123456");
    }

    #[test]
    fn dedup_key_of_an_event_is_sender_time_and_event() {
        assert_eq!(
            json(JSON_ENTER).unwrap().dedup_key(),
            "event:fromUser:1482048670:user_enter_tempsession"
        );
        assert_eq!(
            xml(XML_ENTER).unwrap().dedup_key(),
            json(JSON_ENTER).unwrap().dedup_key()
        );
        assert_eq!(
            json(JSON_DEBUG_DEMO).unwrap().dedup_key(),
            "event:o9AgO5Kd5ggOC-bXrbNODIiE3bGY:1714037059:debug_demo"
        );
    }

    #[test]
    fn dedup_key_of_an_unknown_push_without_msg_id_is_the_sha1_of_its_body() {
        let push = json(r#"{"FromUserName":"u","CreateTime":1,"MsgType":"file"}"#).unwrap();
        // sha1 of the body, computed with `printf %s BODY | sha1sum`
        assert_eq!(
            push.dedup_key(),
            "raw:7c66eed884f1ea14e6544c5fed83e4d012306779"
        );
    }

    #[test]
    fn dedup_key_of_an_unknown_push_with_msg_id_is_its_msg_id() {
        let push =
            json(r#"{"FromUserName":"u","CreateTime":1,"MsgType":"file","MsgId":"v-1"}"#).unwrap();
        assert_eq!(push.dedup_key(), "msg:v-1");
    }

    // ---- nothing panics

    fn xml_piece() -> impl Strategy<Value = &'static str> {
        prop::sample::select(vec![
            "<xml>",
            "</xml>",
            "<MsgType>",
            "</MsgType>",
            "<Content>",
            "</Content>",
            "<MsgId>",
            "</MsgId>",
            "<FromUserName>",
            "</FromUserName>",
            "<CreateTime>",
            "</CreateTime>",
            "<Encrypt>",
            "</Encrypt>",
            "<a>",
            "</a>",
            "<b/>",
            "<![CDATA[",
            "]]>",
            "&lt;",
            "&#x1F600;",
            "&#0;",
            "&bogus;",
            "&",
            "<",
            ">",
            "text",
            "1482048670",
            "event",
            " ",
            "\n",
            "<!DOCTYPE x>",
            "<?xml version=\"1.0\"?>",
            "<!--",
            "-->",
            "<?pi?>",
            "\"",
            "'",
            "=",
            "你好",
        ])
    }

    fn json_piece() -> impl Strategy<Value = &'static str> {
        prop::sample::select(vec![
            "{",
            "}",
            "[",
            "]",
            ",",
            ":",
            "\"",
            "\"MsgId\"",
            "\"MsgType\"",
            "\"text\"",
            "\"event\"",
            "\"FromUserName\"",
            "\"CreateTime\"",
            "\"Content\"",
            "\"Encrypt\"",
            "1",
            "-1",
            "1.5",
            "1e999",
            "18446744073709551616",
            "null",
            "true",
            "\\u0000",
            "\\ud800",
            " ",
            "你好",
        ])
    }

    fn never_panics(body: &[u8]) {
        for format in [Format::Json, Format::Xml] {
            if let Ok(push) = Push::parse(body, format) {
                let _ = push.dedup_key();
                let _ = push.msg_type();
                assert!(push.from_user.len() <= MAX_ID_BYTES);
            }
            let _ = encrypted_field(body, format);
        }
        let _ = Format::detect(body, Format::Json);
    }

    proptest! {
        #[test]
        fn parsing_arbitrary_bytes_never_panics(body in prop::collection::vec(any::<u8>(), 0..512)) {
            never_panics(&body);
        }

        #[test]
        fn parsing_arbitrary_text_after_an_xml_root_never_panics(rest in "\\PC{0,256}") {
            never_panics(format!("<xml>{rest}").as_bytes());
        }

        #[test]
        fn parsing_arbitrary_text_after_a_brace_never_panics(rest in "\\PC{0,256}") {
            never_panics(format!("{{{rest}").as_bytes());
        }

        #[test]
        fn parsing_xml_like_token_soup_never_panics(
            pieces in prop::collection::vec(xml_piece(), 0..64)
        ) {
            never_panics(format!("<xml>{}", pieces.concat()).as_bytes());
        }

        #[test]
        fn parsing_json_like_token_soup_never_panics(
            pieces in prop::collection::vec(json_piece(), 0..64)
        ) {
            never_panics(format!("{{{}", pieces.concat()).as_bytes());
        }
    }
}
