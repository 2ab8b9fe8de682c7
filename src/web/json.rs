//! One strict reader for every JSON body kefu takes (`Strict<T>`), and the language its
//! refusals are in (`ApiLang`).
//!
//! A body is read straight from its bytes into its derived request type, so serde refuses
//! what a hand-written parse of a `serde_json::Value` let through: a key given twice, a key
//! the type does not have (`deny_unknown_fields` on every request type), a value of the wrong
//! JSON type, and an array where an object belongs (serde would read a struct from an array,
//! by position, which no client means). Each refusal is a 400 `invalid_request` whose sentence
//! names the field by its path in the body (`reply.content.text`), in the caller's language.
//! A body that is not JSON, or not sent as JSON, is a 400 too.

use std::marker::PhantomData;

use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{HeaderMap, header};
use serde::de::value::MapAccessDeserializer;
use serde::de::{DeserializeOwned, MapAccess, Visitor};
use serde::{Deserialize, Deserializer};
use serde_json::value::RawValue;
use serde_path_to_error::{Path, Segment};

use crate::app::AppState;
use crate::error::{AppError, AppResult};
use crate::i18n::{Lang, RequestText, fill};
use crate::web::auth::Staff;

/// A JSON request body read strictly into `T` (see the module documentation). Put it last
/// among a handler's arguments, after `Staff`, so the caller is known (and a refusal to an
/// agent is a 403 before their body is read) and its sentences are in their language.
#[derive(Debug)]
pub struct Strict<T>(pub T);

impl<T, S> FromRequest<S> for Strict<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = AppError;

    async fn from_request(req: Request, state: &S) -> AppResult<Self> {
        let lang = req
            .extensions()
            .get::<ApiLang>()
            .map_or_else(|| ApiLang::from_headers(req.headers()), |l| l.0);
        let r = lang.request();
        if !is_json(req.headers()) {
            return Err(AppError::Invalid(r.json_content_type.to_owned()));
        }
        let bytes = Bytes::from_request(req, state)
            .await
            .map_err(|e| AppError::Invalid(e.body_text()))?;
        read(&bytes, lang).map(Strict)
    }
}

/// Whether the request says its body is JSON (`application/json`, or `application/…+json`).
fn is_json(headers: &HeaderMap) -> bool {
    let Some(value) = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
    else {
        return false;
    };
    let essence = value
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase();
    essence == "application/json"
        || (essence.starts_with("application/") && essence.ends_with("+json"))
}

/// Reads a whole JSON document into `T`, which must be an object; the refusal names the field.
pub fn read<T: DeserializeOwned>(bytes: &[u8], lang: Lang) -> AppResult<T> {
    read_at(bytes, "", lang)
}

/// `read` for a part of a body found at `at` (such as `reply`): a refused field is named by
/// its whole path (`reply.content.text`).
pub fn read_at<T: DeserializeOwned>(bytes: &[u8], at: &str, lang: Lang) -> AppResult<T> {
    let r = lang.request();
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let Object(t) = serde_path_to_error::deserialize::<_, Object<T>>(&mut de)
        .map_err(|e| AppError::Invalid(refusal(e.inner(), Some(e.path()), at, r)))?;
    // nothing but white space after the document
    de.end()
        .map_err(|e| AppError::Invalid(refusal(&e, None, at, r)))?;
    Ok(t)
}

/// A body or field of the form `{"type": TYPE, "content": {...}}`, its two parts kept raw so
/// that `read_into` can read them in the order serde wants, whatever order the client sent.
///
/// serde reads an adjacently tagged enum's content straight into the variant's type only when
/// the tag comes first; when `content` comes first (as in any body with sorted keys) it
/// buffers it, and a refused field inside loses its path: `content.text` would be reported as
/// the body itself.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Tagged {
    #[serde(rename = "type")]
    kind: Box<RawValue>,
    content: Option<Box<RawValue>>,
}

impl Tagged {
    /// Reads the adjacently tagged enum `T` (`#[serde(tag = "type", content = "content")]`)
    /// from these parts; `at` is where they were in the body ("" for the body itself).
    pub fn read_into<T: DeserializeOwned>(&self, at: &str, lang: Lang) -> AppResult<T> {
        let document = match &self.content {
            Some(content) => format!(r#"{{"type":{},"content":{}}}"#, self.kind, content),
            None => format!(r#"{{"type":{}}}"#, self.kind),
        };
        read_at(document.as_bytes(), at, lang)
    }
}

/// For `#[serde(deserialize_with = "json::object")]` on a field whose type is a struct: an
/// object only, never an array read by position.
pub fn object<'de, D, T>(deserializer: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    Object::<T>::deserialize(deserializer).map(|Object(t)| t)
}

/// For `#[serde(deserialize_with = "json::objects")]` on a list of structs: each an object.
pub fn objects<'de, D, T>(deserializer: D) -> Result<Vec<T>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    Vec::<Object<T>>::deserialize(deserializer).map(|list| list.into_iter().map(|o| o.0).collect())
}

/// `T` read from a JSON object only.
struct Object<T>(T);

impl<'de, T: Deserialize<'de>> Deserialize<'de> for Object<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct OnlyMaps<T>(PhantomData<T>);

        impl<'de, T: Deserialize<'de>> Visitor<'de> for OnlyMaps<T> {
            type Value = T;

            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("an object")
            }

            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<T, A::Error> {
                T::deserialize(MapAccessDeserializer::new(map))
            }
        }

        deserializer
            .deserialize_map(OnlyMaps(PhantomData))
            .map(Object)
    }
}

/// The sentence for a body serde refused, naming the field by its path under `at`.
fn refusal(inner: &serde_json::Error, path: Option<&Path>, at: &str, r: &RequestText) -> String {
    use serde_json::error::Category;
    match inner.classify() {
        Category::Syntax | Category::Eof | Category::Io => fill(
            r.json_syntax,
            &[
                ("line", &inner.line().to_string()),
                ("column", &inner.column().to_string()),
            ],
        ),
        Category::Data => {
            // serde_json's Display adds " at line L column C"; the path says where instead
            let message = inner.to_string();
            let suffix = format!(" at line {} column {}", inner.line(), inner.column());
            let message = message.strip_suffix(&suffix).unwrap_or(&message);
            let mut names: Vec<String> = (!at.is_empty())
                .then(|| at.to_owned())
                .into_iter()
                .collect();
            for segment in path.into_iter().flat_map(Path::iter) {
                match segment {
                    Segment::Seq { index } => match names.last_mut() {
                        Some(last) => last.push_str(&format!("[{index}]")),
                        None => names.push(format!("[{index}]")),
                    },
                    Segment::Map { key } => names.push(key.clone()),
                    Segment::Enum { variant } => names.push(variant.clone()),
                    Segment::Unknown => {}
                }
            }
            describe(&names, message, r)
        }
    }
}

/// serde's own sentence (`invalid type: integer `1`, expected a string`) as one of ours.
fn describe(path: &[String], message: &str, r: &RequestText) -> String {
    let named = |field: &str| -> String {
        path.iter()
            .map(String::as_str)
            .chain(std::iter::once(field))
            .collect::<Vec<_>>()
            .join(".")
    };
    let here = path.join(".");
    let quoted = |s: &str| s.split('`').nth(1).map(str::to_owned);
    let sentence = |template: &str, field: &str| fill(template, &[("field", field)]);
    if let Some(rest) = message.strip_prefix("duplicate field ") {
        return sentence(r.field_twice, &named(&quoted(rest).unwrap_or_default()));
    }
    if message.starts_with("unknown field ") {
        // the path already ends with the key (serde_path_to_error saw it before serde refused it)
        let field = match path.is_empty() {
            false => path.join("."),
            true => quoted(message).unwrap_or_default(),
        };
        return sentence(r.field_unknown, &field);
    }
    if let Some(rest) = message.strip_prefix("missing field ") {
        return sentence(r.field_required, &named(&quoted(rest).unwrap_or_default()));
    }
    if here.is_empty() {
        // the body itself is not an object (nothing else is refused without a field)
        return r.json_object.to_owned();
    }
    if let Some(rest) = message.strip_prefix("unknown variant ") {
        let choices: Vec<&str> = rest
            .split_once("expected ")
            .map_or("", |(_, e)| e)
            .split('`')
            .skip(1)
            .step_by(2)
            .collect();
        return r.choice(&here, &choices);
    }
    let expected = ["invalid type: ", "invalid value: "]
        .iter()
        .find_map(|p| message.strip_prefix(p))
        .and_then(|rest| rest.rsplit_once(", expected "))
        .and_then(|(_, expected)| kind(expected, r));
    match expected {
        Some(kind) => fill(r.field_type, &[("field", &here), ("expected", kind)]),
        None => fill(r.field_invalid, &[("field", &here), ("reason", message)]),
    }
}

/// The word for what serde expected (its `expecting` text), when it is a plain JSON type.
fn kind(expected: &str, r: &RequestText) -> Option<&'static str> {
    let integer = |s: &str| {
        s.strip_prefix(['i', 'u'])
            .is_some_and(|bits| bits == "size" || bits.parse::<u8>().is_ok())
    };
    Some(match expected {
        "a string" | "string" | "a borrowed string" => r.kind_string,
        "a boolean" | "bool" => r.kind_bool,
        "f32" | "f64" => r.kind_number,
        "a sequence" => r.kind_list,
        "an object" | "a map" => r.kind_object,
        e if e.starts_with("struct ") => r.kind_object,
        e if integer(e) => r.kind_integer,
        _ => return None,
    })
}

/// The language of the JSON API's sentences for this caller: their own setting, else what the
/// request's Accept-Language asks for, else English (a script that states no preference reads
/// the contract's language; the dashboard's pages, which a person reads, default to Chinese).
#[derive(Debug, Clone, Copy)]
pub struct ApiLang(pub Lang);

impl ApiLang {
    pub fn of(staff: &Staff, headers: &HeaderMap) -> Lang {
        Lang::preferred(
            staff.locale.map(crate::domain::Locale::as_str),
            accept_language(headers),
        )
        .unwrap_or(Lang::En)
    }

    /// For a request whose caller is not known (yet).
    pub fn from_headers(headers: &HeaderMap) -> Lang {
        Lang::preferred(None, accept_language(headers)).unwrap_or(Lang::En)
    }
}

fn accept_language(headers: &HeaderMap) -> Option<&str> {
    headers
        .get(header::ACCEPT_LANGUAGE)
        .and_then(|v| v.to_str().ok())
}

impl FromRequestParts<AppState> for ApiLang {
    type Rejection = AppError;

    /// The signed-in caller's language (the `Staff` extractor notes it on the request).
    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> AppResult<Self> {
        if let Some(lang) = parts.extensions.get::<ApiLang>() {
            return Ok(*lang);
        }
        let staff = Staff::from_request_parts(parts, state).await?;
        Ok(ApiLang(ApiLang::of(&staff, &parts.headers)))
    }
}

#[cfg(test)]
#[allow(dead_code)] // the bodies are read for their refusals only
mod tests {
    use super::*;

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Body {
        status: String,
        #[serde(default)]
        limit: Option<u32>,
        #[serde(default, deserialize_with = "object")]
        inner: Inner,
    }

    #[derive(Debug, Default, Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Inner {
        #[serde(default)]
        items: Vec<bool>,
        #[serde(default)]
        mode: Option<Mode>,
    }

    #[derive(Debug, Deserialize)]
    #[serde(rename_all = "lowercase")]
    enum Mode {
        Manual,
        Auto,
    }

    #[derive(Debug, Deserialize)]
    #[serde(tag = "type", content = "content", rename_all = "lowercase")]
    enum Reply {
        Text(#[serde(deserialize_with = "object")] Text),
    }

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Text {
        text: String,
    }

    fn refused<T: DeserializeOwned + std::fmt::Debug>(body: &str, lang: Lang) -> String {
        match read::<T>(body.as_bytes(), lang) {
            Err(AppError::Invalid(sentence)) => sentence,
            other => panic!("{body} was not refused as invalid: {other:?}"),
        }
    }

    #[test]
    fn every_refusal_names_the_field_by_its_path() {
        let en = |body: &str| refused::<Body>(body, Lang::En);
        assert_eq!(
            en(r#"{"status": 1}"#),
            "The field `status` must be a string."
        );
        assert_eq!(
            en(r#"{"status": "a", "status": "b"}"#),
            "The field `status` is given twice."
        );
        assert_eq!(
            en(r#"{"status": "a", "colour": "b"}"#),
            "There is no field `colour` here."
        );
        assert_eq!(en(r#"{}"#), "The field `status` is required.");
        assert_eq!(
            en(r#"{"status": "a", "limit": -1}"#),
            "The field `limit` must be a whole number."
        );
        assert_eq!(
            en(r#"{"status": "a", "inner": {"items": [true, "yes"]}}"#),
            "The field `inner.items[1]` must be true or false."
        );
        assert_eq!(
            en(r#"{"status": "a", "inner": {"items": [], "items": []}}"#),
            "The field `inner.items` is given twice."
        );
        assert_eq!(
            en(r#"{"status": "a", "inner": {"mode": "chaos"}}"#),
            "The field `inner.mode` must be `manual` or `auto`."
        );
        assert_eq!(
            en(r#"{"status": "a", "inner": [[]]}"#),
            "The field `inner` must be an object."
        );
        assert_eq!(en(r#"["a"]"#), "The body must be a JSON object.");
        assert_eq!(en(r#""a""#), "The body must be a JSON object.");
        assert_eq!(
            en(r#"{"status": "a""#),
            "The body is not valid JSON (line 1, column 14)."
        );
        assert_eq!(
            en(r#"{"status": "a"} {}"#),
            "The body is not valid JSON (line 1, column 17)."
        );
        assert_eq!(
            refused::<Body>(r#"{"status": true}"#, Lang::Zh),
            "字段 `status` 必须是字符串。"
        );
    }

    #[test]
    fn a_tagged_body_names_the_contents_fields_whatever_the_key_order() {
        for body in [
            r#"{"content": {"text": 5}, "type": "text"}"#,
            r#"{"type": "text", "content": {"text": 5}}"#,
        ] {
            let tagged: Tagged = read(body.as_bytes(), Lang::En).unwrap();
            let e = tagged.read_into::<Reply>("reply", Lang::En).unwrap_err();
            assert_eq!(
                e.to_string(),
                "The field `reply.content.text` must be a string."
            );
        }
        let tagged: Tagged = read(
            br#"{"type": "text", "content": {"text": "a", "x": 1}}"#,
            Lang::En,
        )
        .unwrap();
        let e = tagged.read_into::<Reply>("", Lang::En).unwrap_err();
        assert_eq!(e.to_string(), "There is no field `content.x` here.");
        let tagged: Tagged = read(br#"{"type": "card", "content": {}}"#, Lang::En).unwrap();
        let e = tagged.read_into::<Reply>("", Lang::En).unwrap_err();
        assert_eq!(e.to_string(), "The field `type` must be `text`.");
        let tagged: Tagged = read(br#"{"type": "text", "content": ["a"]}"#, Lang::En).unwrap();
        let e = tagged.read_into::<Reply>("", Lang::En).unwrap_err();
        assert_eq!(e.to_string(), "The field `content` must be an object.");
        let tagged: Tagged = read(br#"{"type": "text"}"#, Lang::En).unwrap();
        let e = tagged.read_into::<Reply>("", Lang::En).unwrap_err();
        assert_eq!(e.to_string(), "The field `content` is required.");
        let e = read::<Tagged>(br#"{"type": "text", "type": "text"}"#, Lang::En).unwrap_err();
        assert_eq!(e.to_string(), "The field `type` is given twice.");
    }

    #[test]
    fn only_a_json_content_type_is_json() {
        let with = |value: &str| {
            let mut h = HeaderMap::new();
            h.insert(header::CONTENT_TYPE, value.parse().unwrap());
            is_json(&h)
        };
        assert!(with("application/json"));
        assert!(with("Application/JSON; charset=utf-8"));
        assert!(with("application/merge-patch+json"));
        assert!(!with("text/plain"));
        assert!(!with("application/x-www-form-urlencoded"));
        assert!(!is_json(&HeaderMap::new()));
    }
}
