//! Fuzz targets for every JSON body the API takes (tests only; see `crate::fuzzing`): each
//! request type read through `json::read` (what `Strict<T>` does with a body's bytes), and the
//! WebSocket's client frames. Any bytes and any JSON value are read or refused with a sentence,
//! never a panic; a well-formed body reads back as what was written, whatever its key order,
//! layout and escapes; one wrong key, repeated key or wrong type is refused naming the field;
//! and the checks a handler runs next on what was read (rules, replies, canned replies, the
//! bot's settings, a status) never panic either.

use proptest::prelude::*;
use serde::de::DeserializeOwned;

use super::api::{
    AssignBody, HandlerBody, LabelBody, LabelsBody, ReplyInput, SnoozeBody, StatusBody,
};
use super::canned::CannedBody;
use super::demo::PushBody;
use super::json::{Tagged, read};
use super::rules::{RuleBody, TestBody};
use super::ws::ClientFrame;
use crate::automation::settings::{
    Assignment, AssignmentMode, AutomationSettings, BusinessHours, SourceWelcome,
};
use crate::domain::ConversationStatus;
use crate::error::AppError;
use crate::i18n::{Lang, fill};
use crate::services::{canned, replies, rules};

// ---------------------------------------------------------------------------------------------
// Writing bodies

/// How a body is written: which characters of its strings are escaped, and the layout.
#[derive(Debug, Clone)]
struct Style {
    escapes: Vec<bool>,
    spaces: Vec<bool>,
}

fn style() -> impl Strategy<Value = Style> {
    (
        prop::collection::vec(any::<bool>(), 0..32),
        prop::collection::vec(any::<bool>(), 0..8),
    )
        .prop_map(|(escapes, spaces)| Style { escapes, spaces })
}

impl Style {
    fn escape(&self, i: usize) -> bool {
        !self.escapes.is_empty() && self.escapes[i % self.escapes.len()]
    }

    fn space(&self, i: usize) -> &'static str {
        match !self.spaces.is_empty() && self.spaces[i % self.spaces.len()] {
            true => " \n\t",
            false => "",
        }
    }

    fn string(&self, s: &str) -> String {
        let mut out = String::from("\"");
        for (i, c) in s.chars().enumerate() {
            match c {
                '"' => out.push_str("\\\""),
                '\\' => out.push_str("\\\\"),
                c if (c as u32) < 0x20 || self.escape(i) => {
                    let mut units = [0u16; 2];
                    for unit in c.encode_utf16(&mut units) {
                        out.push_str(&format!("\\u{unit:04x}"));
                    }
                }
                c => out.push(c),
            }
        }
        out.push('"');
        out
    }

    /// An object of already written values; keys may repeat.
    fn object(&self, fields: &[(String, String)]) -> String {
        let mut out = String::from("{");
        for (i, (k, v)) in fields.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            out.push_str(self.space(i));
            out.push_str(&self.string(k));
            out.push_str(self.space(i + 1));
            out.push(':');
            out.push_str(v);
        }
        out.push_str(self.space(fields.len()));
        out.push('}');
        out
    }
}

/// Strings as staff type them, and as nobody should.
fn text() -> impl Strategy<Value = String> {
    prop_oneof![
        "[a-z_]{0,12}",
        any::<String>(),
        "\\PC{0,30}",
        prop::collection::vec(
            prop::sample::select(vec![
                "你好",
                "`",
                "{field}",
                "{",
                "}",
                ".",
                "[0]",
                "\"",
                "\\",
                "\u{0}",
                "\n",
                " ",
                "😀",
                "open",
                "closed",
                "bot",
                "human",
                "text",
                "reply",
                "exact",
                "regex",
                "/hours",
                "<a data-miniprogram-appid=\"wx1\">",
                "data-miniprogram-appid='",
                "https://",
            ]),
            0..10,
        )
        .prop_map(|p| p.concat()),
    ]
}

fn int() -> impl Strategy<Value = i64> {
    prop_oneof![
        any::<i64>(),
        Just(i64::MIN),
        Just(i64::MAX),
        Just(-1),
        Just(0),
        -2000..2000i64,
    ]
}

/// Any JSON value, as text, nested a little; objects may repeat keys.
fn any_json(style: Style) -> impl Strategy<Value = String> {
    let s = style.clone();
    let leaf = prop_oneof![
        text().prop_map(move |t| s.string(&t)),
        int().prop_map(|n| n.to_string()),
        prop::sample::select(vec![
            "null",
            "true",
            "false",
            "1.5",
            "-0",
            "1e400",
            "18446744073709551616",
            "0.0",
            "[]",
            "{}",
        ])
        .prop_map(str::to_owned),
    ];
    leaf.prop_recursive(3, 24, 5, move |inner| {
        let style = style.clone();
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..5).prop_map(|v| format!("[{}]", v.join(","))),
            prop::collection::vec((text(), inner), 0..5)
                .prop_map(move |fields| style.object(&fields)),
        ]
    })
}

// ---------------------------------------------------------------------------------------------
// The request types, described field by field

#[derive(Debug, Clone, Copy, PartialEq)]
enum Ty {
    Str,
    Bool,
    U32,
    OptStr,
    OptBool,
    OptI64,
    StrList,
    /// an object whose fields all have defaults
    DefaultObject,
    /// a list of `{session_from, text}`
    Sources,
    /// `{"type", "content"}`
    Reply,
}

struct Field {
    name: &'static str,
    ty: Ty,
    required: bool,
}

/// A field, as a constant expression (so that a list of them is `'static`).
macro_rules! f {
    ($name:literal, $ty:ident, $required:literal) => {
        Field {
            name: $name,
            ty: Ty::$ty,
            required: $required,
        }
    };
}

/// A request type and its fields as the contract names them.
#[derive(Debug, Clone, Copy)]
enum Body {
    Status,
    Assign,
    Handler,
    Test,
    Canned,
    DemoPush,
    Rule,
    Settings,
    Labels,
    Snooze,
    Label,
}

const BODIES: [Body; 11] = [
    Body::Status,
    Body::Assign,
    Body::Handler,
    Body::Test,
    Body::Canned,
    Body::DemoPush,
    Body::Rule,
    Body::Settings,
    Body::Labels,
    Body::Snooze,
    Body::Label,
];

impl Body {
    fn fields(self) -> &'static [Field] {
        match self {
            Body::Status => &[f!("status", Str, true)],
            Body::Assign => &[f!("assignee", OptI64, false)],
            Body::Handler => &[f!("handler", Str, true)],
            Body::Test => &[f!("text", Str, true)],
            Body::Canned => &[
                f!("shortcut", Str, false),
                f!("body", Str, false),
                f!("shared", Bool, false),
            ],
            Body::DemoPush => &[
                f!("openid", Str, true),
                f!("kind", Str, true),
                f!("text", Str, false),
            ],
            Body::Rule => &[
                f!("name", Str, true),
                f!("enabled", OptBool, false),
                f!("priority", OptI64, false),
                f!("match", Str, true),
                f!("keywords", StrList, true),
                f!("action", Str, true),
                f!("reply", Reply, false),
            ],
            Body::Labels => &[f!("labels", StrList, true)],
            Body::Snooze => &[f!("until", Str, true)],
            Body::Label => &[f!("name", Str, true), f!("color", Str, true)],
            Body::Settings => &[
                f!("welcome", OptStr, false),
                f!("welcome_by_source", Sources, false),
                f!("welcome_every_minutes", U32, false),
                f!("fallback", OptStr, false),
                f!("fallback_every_minutes", U32, false),
                f!("away", OptStr, false),
                f!("away_every_minutes", U32, false),
                f!("hours", DefaultObject, false),
                f!("assignment", DefaultObject, false),
            ],
        }
    }

    /// Reads `bytes` as this type: Ok, or the refusal's sentence.
    fn read(self, bytes: &[u8], lang: Lang) -> Result<(), String> {
        fn go<T: DeserializeOwned>(bytes: &[u8], lang: Lang) -> Result<(), String> {
            match read::<T>(bytes, lang) {
                Ok(_) => Ok(()),
                Err(AppError::Invalid(sentence)) => Err(sentence),
                Err(other) => panic!("a body was refused as something else: {other:?}"),
            }
        }
        match self {
            Body::Status => go::<StatusBody>(bytes, lang),
            Body::Assign => go::<AssignBody>(bytes, lang),
            Body::Handler => go::<HandlerBody>(bytes, lang),
            Body::Test => go::<TestBody>(bytes, lang),
            Body::Canned => go::<CannedBody>(bytes, lang),
            Body::DemoPush => go::<PushBody>(bytes, lang),
            Body::Rule => go::<RuleBody>(bytes, lang),
            Body::Settings => go::<AutomationSettings>(bytes, lang),
            Body::Labels => go::<LabelsBody>(bytes, lang),
            Body::Snooze => go::<SnoozeBody>(bytes, lang),
            Body::Label => go::<LabelBody>(bytes, lang),
        }
    }
}

/// A well-typed value for a field, as JSON text.
fn value(ty: Ty, style: Style) -> BoxedStrategy<String> {
    let s = style.clone();
    match ty {
        Ty::Str => text().prop_map(move |t| s.string(&t)).boxed(),
        Ty::Bool => any::<bool>().prop_map(|b| b.to_string()).boxed(),
        Ty::U32 => any::<u32>().prop_map(|n| n.to_string()).boxed(),
        Ty::OptStr => prop::option::of(text())
            .prop_map(move |t| t.map_or("null".into(), |t| s.string(&t)))
            .boxed(),
        Ty::OptBool => prop::option::of(any::<bool>())
            .prop_map(|b| b.map_or("null".into(), |b| b.to_string()))
            .boxed(),
        Ty::OptI64 => prop::option::of(int())
            .prop_map(|n| n.map_or("null".into(), |n| n.to_string()))
            .boxed(),
        Ty::StrList => prop::collection::vec(text(), 0..4)
            .prop_map(move |v| {
                let items: Vec<String> = v.iter().map(|t| s.string(t)).collect();
                format!("[{}]", items.join(","))
            })
            .boxed(),
        Ty::DefaultObject => Just("{}".to_owned()).boxed(),
        Ty::Sources => prop::collection::vec((text(), text()), 0..3)
            .prop_map(move |v| {
                let items: Vec<String> = v
                    .iter()
                    .map(|(from, text)| {
                        s.object(&[
                            ("session_from".into(), s.string(from)),
                            ("text".into(), s.string(text)),
                        ])
                    })
                    .collect();
                format!("[{}]", items.join(","))
            })
            .boxed(),
        Ty::Reply => reply_model()
            .prop_map(move |(m, type_first)| m.json(&s, type_first))
            .boxed(),
    }
}

/// Values of the wrong JSON type for a field.
fn wrong(ty: Ty) -> &'static [&'static str] {
    match ty {
        Ty::Str | Ty::OptStr => &["1", "true", "[]", "{}", "1.5", "[\"a\"]"],
        Ty::Bool | Ty::OptBool => &["1", "\"true\"", "[]", "{}", "0"],
        Ty::OptI64 => &[
            "\"1\"",
            "1.5",
            "1e3",
            "true",
            "[]",
            "{}",
            "9223372036854775808",
            "-9223372036854775809",
        ],
        Ty::U32 => &["-1", "4294967296", "\"60\"", "1.5", "true", "null"],
        Ty::StrList => &["\"a\"", "[1]", "[\"a\",null]", "{}", "null", "[[]]"],
        // the settings' inner structs are objects only (`json::object`), never arrays
        Ty::DefaultObject => &["\"x\"", "1", "null", "true", "[]", "[[]]", "[\"a\", 1]"],
        Ty::Sources => &[
            "{}",
            "[1]",
            "[[]]",
            "[[\"s\", \"t\"]]",
            "[{\"session_from\":1,\"text\":\"t\"}]",
        ],
        Ty::Reply => &["\"text\"", "1", "[]", "true"],
    }
}

/// A body's fields, well typed, each optional one present or not.
fn well_formed(body: Body, style: Style) -> BoxedStrategy<Vec<(String, String)>> {
    let fields: Vec<BoxedStrategy<Option<(String, String)>>> = body
        .fields()
        .iter()
        .map(|field| {
            let name = field.name.to_owned();
            let v = value(field.ty, style.clone()).prop_map(move |v| (name.clone(), v));
            if field.required {
                v.prop_map(Some).boxed()
            } else {
                prop::option::of(v).boxed()
            }
        })
        .collect();
    (fields, prop::collection::vec(any::<u8>(), 0..8))
        .prop_map(|(fields, order)| {
            let mut keyed: Vec<(u8, (String, String))> = fields
                .into_iter()
                .flatten()
                .enumerate()
                .map(|(i, f)| (order.get(i).copied().unwrap_or(0), f))
                .collect();
            keyed.sort_by_key(|(k, _)| *k);
            keyed.into_iter().map(|(_, f)| f).collect()
        })
        .boxed()
}

// ---------------------------------------------------------------------------------------------
// Replies, rules and settings: models that read back

#[derive(Debug, Clone)]
enum ReplyModel {
    Text(String),
    Note(String),
    Image(String, Option<String>),
    Link([String; 4]),
    Card {
        title: String,
        appid: Option<String>,
        pagepath: String,
        thumb_media_id: String,
        thumb_url: Option<String>,
    },
}

fn reply_model() -> impl Strategy<Value = (ReplyModel, bool)> {
    let model = prop_oneof![
        text().prop_map(ReplyModel::Text),
        text().prop_map(ReplyModel::Note),
        (text(), prop::option::of(text())).prop_map(|(m, u)| ReplyModel::Image(m, u)),
        [text(), text(), text(), text()].prop_map(ReplyModel::Link),
        (
            text(),
            prop::option::of(prop_oneof![Just("wx_own".to_owned()), text()]),
            text(),
            text(),
            prop::option::of(text())
        )
            .prop_map(|(title, appid, pagepath, thumb_media_id, thumb_url)| {
                ReplyModel::Card {
                    title,
                    appid,
                    pagepath,
                    thumb_media_id,
                    thumb_url,
                }
            }),
    ];
    (model, any::<bool>())
}

impl ReplyModel {
    fn json(&self, s: &Style, type_first: bool) -> String {
        let opt = |fields: &mut Vec<(String, String)>, name: &str, v: &Option<String>| {
            if let Some(v) = v {
                fields.push((name.into(), s.string(v)));
            }
        };
        let (kind, content) = match self {
            ReplyModel::Text(t) => ("text", vec![("text".into(), s.string(t))]),
            ReplyModel::Note(t) => ("note", vec![("text".into(), s.string(t))]),
            ReplyModel::Image(m, u) => {
                let mut c = vec![("media_id".into(), s.string(m))];
                opt(&mut c, "url", u);
                ("image", c)
            }
            ReplyModel::Link([title, description, url, thumb_url]) => (
                "link",
                vec![
                    ("title".into(), s.string(title)),
                    ("description".into(), s.string(description)),
                    ("url".into(), s.string(url)),
                    ("thumb_url".into(), s.string(thumb_url)),
                ],
            ),
            ReplyModel::Card {
                title,
                appid,
                pagepath,
                thumb_media_id,
                thumb_url,
            } => {
                let mut c = vec![
                    ("title".into(), s.string(title)),
                    ("pagepath".into(), s.string(pagepath)),
                    ("thumb_media_id".into(), s.string(thumb_media_id)),
                ];
                opt(&mut c, "appid", appid);
                opt(&mut c, "thumb_url", thumb_url);
                ("miniprogrampage", c)
            }
        };
        let kind = ("type".to_owned(), s.string(kind));
        let content = ("content".to_owned(), s.object(&content));
        match type_first {
            true => s.object(&[kind, content]),
            false => s.object(&[content, kind]),
        }
    }

    /// Whether `input` is what this model wrote.
    fn is(&self, input: &ReplyInput) -> bool {
        match (self, input) {
            (ReplyModel::Text(t), ReplyInput::Text(i))
            | (ReplyModel::Note(t), ReplyInput::Note(i)) => *t == i.text,
            (ReplyModel::Image(m, u), ReplyInput::Image(i)) => *m == i.media_id && *u == i.url,
            (ReplyModel::Link([title, description, url, thumb_url]), ReplyInput::Link(i)) => {
                *title == i.title
                    && *description == i.description
                    && *url == i.url
                    && *thumb_url == i.thumb_url
            }
            (
                ReplyModel::Card {
                    title,
                    appid,
                    pagepath,
                    thumb_media_id,
                    thumb_url,
                },
                ReplyInput::MiniProgramPage(i),
            ) => {
                *title == i.title
                    && *appid == i.appid
                    && *pagepath == i.pagepath
                    && *thumb_media_id == i.thumb_media_id
                    && *thumb_url == i.thumb_url
            }
            _ => false,
        }
    }
}

fn settings() -> impl Strategy<Value = AutomationSettings> {
    let minutes = || prop_oneof![any::<u32>(), 0..2000u32];
    let clock = || prop_oneof!["[0-9]{1,2}:[0-9]{1,2}", text(), Just("24:00".to_owned())];
    (
        (
            prop::option::of(text()),
            prop::option::of(text()),
            prop::option::of(text()),
        ),
        prop::collection::vec((text(), text()), 0..4),
        (minutes(), minutes(), minutes()),
        (
            any::<bool>(),
            prop::collection::vec(any::<u8>(), 0..9),
            clock(),
            clock(),
            prop_oneof!["[+-][0-9]{1,2}:[0-9]{2}", text(), Just("Z".to_owned())],
        ),
        (any::<bool>(), any::<u32>()),
    )
        .prop_map(
            |(
                (welcome, fallback, away),
                sources,
                (w, f, a),
                (enabled, days, start, end, utc_offset),
                (auto, cap),
            )| {
                AutomationSettings {
                    by_channel: Vec::new(),
                    welcome,
                    welcome_by_source: sources
                        .into_iter()
                        .map(|(session_from, text)| SourceWelcome { session_from, text })
                        .collect(),
                    welcome_every_minutes: w,
                    fallback,
                    fallback_every_minutes: f,
                    away,
                    away_every_minutes: a,
                    hours: BusinessHours {
                        enabled,
                        days,
                        start,
                        end,
                        utc_offset,
                    },
                    assignment: Assignment {
                        mode: if auto {
                            AssignmentMode::Auto
                        } else {
                            AssignmentMode::Manual
                        },
                        cap,
                    },
                }
            },
        )
}

fn lang() -> impl Strategy<Value = Lang> {
    prop_oneof![Just(Lang::En), Just(Lang::Zh)]
}

#[derive(Debug, Clone)]
enum Mutation {
    /// a key the type does not have
    Unknown(String),
    /// field `i` once more
    Repeat(prop::sample::Index),
    /// field `i` with a value of the wrong type
    WrongType(prop::sample::Index),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        prop_oneof![
            "[a-z_]{1,12}",
            text(),
            Just("Status".to_owned()),
            Just("status ".to_owned())
        ]
        .prop_map(Mutation::Unknown),
        any::<prop::sample::Index>().prop_map(Mutation::Repeat),
        any::<prop::sample::Index>().prop_map(Mutation::WrongType),
    ]
}

proptest! {
    #![proptest_config(crate::fuzzing::config())]

    /// Any bytes, and any JSON value, are read or refused with a sentence by every request
    /// type, in both languages; never a panic.
    #[test]
    fn fuzz_json_any_body_is_read_or_refused_cleanly(
        bytes in prop::collection::vec(any::<u8>(), 0..256),
        value in style().prop_flat_map(any_json),
        prefix in prop::sample::select(vec!["", "{", "{\"", "[", " ", "\u{feff}"]),
    ) {
        let soup = format!("{prefix}{}", String::from_utf8_lossy(&bytes));
        for body in BODIES {
            for lang in [Lang::En, Lang::Zh] {
                for input in [bytes.as_slice(), value.as_bytes(), soup.as_bytes()] {
                    if let Err(sentence) = body.read(input, lang) {
                        prop_assert!(!sentence.is_empty());
                    }
                }
            }
        }
        let _ = read::<Tagged>(value.as_bytes(), Lang::En)
            .and_then(|t| t.read_into::<ReplyInput>("reply", Lang::Zh));
        let _ = serde_json::from_slice::<ClientFrame>(&bytes);
        let _ = serde_json::from_str::<ClientFrame>(&value);
    }

    /// A well-formed body of every type is read, whatever its key order, layout and escapes;
    /// one unknown key, a key given twice or a value of the wrong type is refused with the
    /// sentence that names that field; and the body as a list, or followed by more, is
    /// refused as such.
    #[test]
    fn fuzz_json_request_types_name_what_is_wrong(
        (body, fields, style) in (0..BODIES.len(), style()).prop_flat_map(|(i, style)| {
            let body = BODIES[i];
            (Just(body), well_formed(body, style.clone()), Just(style))
        }),
        mutation in mutation(),
        wrong_seed in any::<prop::sample::Index>(),
    ) {
        let r = Lang::En.request();
        let doc = style.object(&fields);
        prop_assert_eq!(body.read(doc.as_bytes(), Lang::En), Ok(()), "{}", doc);

        match mutation {
            Mutation::Unknown(key) => {
                if body.fields().iter().all(|f| f.name != key) {
                    let mut mutated = fields.clone();
                    mutated.push((key.clone(), "1".to_owned()));
                    let doc = style.object(&mutated);
                    prop_assert_eq!(
                        body.read(doc.as_bytes(), Lang::En),
                        Err(fill(r.field_unknown, &[("field", &key)])),
                        "{}", doc
                    );
                }
            }
            Mutation::Repeat(i) if !fields.is_empty() => {
                let mut mutated = fields.clone();
                let again = i.get(&fields).clone();
                let name = again.0.clone();
                mutated.push(again);
                let doc = style.object(&mutated);
                prop_assert_eq!(
                    body.read(doc.as_bytes(), Lang::En),
                    Err(fill(r.field_twice, &[("field", &name)])),
                    "{}", doc
                );
            }
            Mutation::WrongType(i) | Mutation::Repeat(i) => {
                let field = i.get(body.fields());
                let bad = (*wrong_seed.get(wrong(field.ty))).to_owned();
                let mut mutated: Vec<(String, String)> =
                    fields.iter().filter(|(k, _)| k != field.name).cloned().collect();
                mutated.push((field.name.to_owned(), bad));
                let doc = style.object(&mutated);
                let refused = body.read(doc.as_bytes(), Lang::En);
                prop_assert!(
                    refused.as_ref().is_err_and(|s| s.contains(&format!("`{}", field.name))),
                    "{} gave {:?}", doc, refused
                );
            }
        }

        let list = format!("[{doc}]");
        prop_assert_eq!(body.read(list.as_bytes(), Lang::En), Err(r.json_object.to_owned()));
        let more = format!("{doc} {doc}");
        prop_assert!(body.read(more.as_bytes(), Lang::En).is_err());
    }

    /// A reply (an agent's message, a rule's reply) reads back as written, with `type` and
    /// `content` in either order, at the body or under `reply`; checking it never panics, and
    /// what passes is trimmed and within its limits.
    #[test]
    fn fuzz_json_reply_reads_back_and_checks_cleanly(
        (model, type_first) in reply_model(),
        style in style(),
        lang in lang(),
        own in prop::option::of(Just("wx_own")),
    ) {
        let doc = model.json(&style, type_first);
        let tagged: Tagged = read(doc.as_bytes(), lang).expect("a tagged body");
        let input: ReplyInput = tagged.read_into("", lang).expect("a reply");
        prop_assert!(model.is(&input), "{:?} read as {:?}", model, input);
        match replies::check(own, input.into(), "", lang) {
            Ok(reply) => {
                let json = serde_json::to_value(&reply.content).expect("content serialises");
                let content = json.get("content").and_then(|c| c.as_object());
                for (k, v) in content.into_iter().flatten() {
                    if let Some(s) = v.as_str() && k != "appid" {
                        prop_assert_eq!(s.trim(), s, "{} is trimmed", k);
                        prop_assert!(!s.is_empty() || k == "thumb_media_id", "{} is empty", k);
                    }
                }
            }
            Err(AppError::Invalid(sentence)) => prop_assert!(!sentence.is_empty()),
            Err(other) => prop_assert!(false, "refused as {:?}", other),
        }
    }

    /// A rule body of any values reads, and checking it never panics (whatever its priority,
    /// keywords or reply); a rule that passes has a name and a priority within the limits.
    #[test]
    fn fuzz_json_rule_body_checks_cleanly(
        fields in style().prop_flat_map(|s| well_formed(Body::Rule, s)),
        style in style(),
        lang in lang(),
    ) {
        let doc = style.object(&fields);
        let body: RuleBody = read(doc.as_bytes(), lang).expect("a rule body");
        let priority = body.priority;
        match body.read_reply(lang) {
            Ok(body) => match rules::check(Some("wx_own"), body.into(), lang) {
                Ok(rule) => {
                    prop_assert!(!rule.name.is_empty() && rule.name.trim() == rule.name);
                    prop_assert!(rule.priority.unsigned_abs() <= rules::MAX_PRIORITY.unsigned_abs());
                    prop_assert_eq!(rule.priority, priority.unwrap_or(0));
                }
                Err(AppError::Invalid(sentence)) => prop_assert!(!sentence.is_empty()),
                Err(other) => prop_assert!(false, "refused as {:?}", other),
            },
            Err(AppError::Invalid(sentence)) => prop_assert!(sentence.contains("reply")),
            Err(other) => prop_assert!(false, "refused as {:?}", other),
        }
    }

    /// The bot's settings read back exactly as they serialise, and checking them never panics;
    /// what passes passes again unchanged.
    #[test]
    fn fuzz_json_settings_round_trip_and_check_cleanly(s in settings(), lang in lang()) {
        let json = serde_json::to_vec(&s).expect("settings serialise");
        let back: AutomationSettings = read(&json, lang).expect("settings read back");
        prop_assert_eq!(&back, &s);
        let mut checked = back;
        if checked.validate().is_ok() {
            let once = checked.clone();
            prop_assert_eq!(checked.validate(), Ok(()));
            prop_assert_eq!(checked, once);
        }
    }

    /// Canned replies, statuses, assignments and the WebSocket's frames: what is written is
    /// what is read, and the checks that follow never panic.
    #[test]
    fn fuzz_json_small_bodies_read_back(
        (shortcut, text_body, shared) in (text(), text(), any::<bool>()),
        assignee in prop::option::of(int()),
        style in style(),
        frame in (0..3usize, prop::option::of(int())),
    ) {
        let doc = style.object(&[
            ("shortcut".into(), style.string(&shortcut)),
            ("body".into(), style.string(&text_body)),
            ("shared".into(), shared.to_string()),
        ]);
        let canned_body: CannedBody = read(doc.as_bytes(), Lang::En).expect("a canned reply");
        prop_assert_eq!(
            (&canned_body.shortcut, &canned_body.body, canned_body.shared),
            (&shortcut, &text_body, shared)
        );
        if let Ok((shortcut, body)) = canned::check(&shortcut, &text_body) {
            prop_assert!(!shortcut.is_empty() && shortcut.chars().count() <= canned::MAX_SHORTCUT_CHARS);
            prop_assert!(!body.is_empty() && body.chars().count() <= canned::MAX_BODY_CHARS);
        }

        let doc = style.object(&[("status".into(), style.string(&shortcut))]);
        let status: StatusBody = read(doc.as_bytes(), Lang::En).expect("a status");
        prop_assert_eq!(&status.status, &shortcut);
        if let Some(parsed) = ConversationStatus::parse(&status.status) {
            prop_assert_eq!(parsed.as_str(), status.status.as_str());
        }
        let doc = style.object(&[("handler".into(), style.string(&text_body))]);
        let handler: HandlerBody = read(doc.as_bytes(), Lang::En).expect("a handler");
        prop_assert_eq!(&handler.handler, &text_body);
        let doc = style.object(&[("text".into(), style.string(&text_body))]);
        let test: TestBody = read(doc.as_bytes(), Lang::En).expect("a tester body");
        prop_assert_eq!(&test.text, &text_body);
        let doc = style.object(&[
            ("openid".into(), style.string(&shortcut)),
            ("kind".into(), style.string("text")),
            ("text".into(), style.string(&text_body)),
        ]);
        let push: PushBody = read(doc.as_bytes(), Lang::En).expect("a demo push");
        prop_assert_eq!((&push.openid, push.kind.as_str(), &push.text), (&shortcut, "text", &text_body));

        let doc = match assignee {
            Some(id) => style.object(&[("assignee".into(), id.to_string())]),
            None => style.object(&[]),
        };
        let assign: AssignBody = read(doc.as_bytes(), Lang::En).expect("an assignment");
        prop_assert_eq!(assign.assignee, assignee);

        let (kind, id) = frame;
        let kind = ["viewing", "typing", "ping"][kind];
        let mut fields = vec![("type".to_owned(), style.string(kind))];
        if kind != "ping" {
            fields.push((
                "conversation_id".into(),
                id.map_or("null".into(), |id| id.to_string()),
            ));
        }
        let frame: ClientFrame = serde_json::from_str(&style.object(&fields)).expect("a frame");
        let same = match frame {
            ClientFrame::Viewing { conversation_id } => kind == "viewing" && conversation_id == id,
            ClientFrame::Typing { conversation_id } => kind == "typing" && conversation_id == id,
            ClientFrame::Ping => kind == "ping",
        };
        prop_assert!(same);
    }
}
