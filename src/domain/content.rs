//! What a message says: one type per kind of message, from the push that brought it in (or the
//! reply an agent or a rule wrote) to the database, the JSON API, the pages and WeChat's send API.
//!
//! Two spellings, one type:
//! - `{"type": TYPE, "content": {...}}`, the serde form of [`MessageContent`]: how the API takes a
//!   reply and how a rule keeps its reply;
//! - the `type` and `content` columns of a message: [`MessageContent::kind`] and
//!   [`MessageContent::to_stored`] write them, [`MessageContent::from_stored`] reads them back.
//!
//! The fields are exactly what docs/CONTRACT.md shows under "content by type" (plus what kefu has
//! always kept beside it: an incoming image's `pic_url`, an unknown push's `msg_type`), so a
//! stored content read and written again is the same JSON object. Each struct declares its
//! fields in alphabetical order: the API writes them in declaration order, and the content has
//! always been a JSON map with sorted keys (`web::api` tests the bytes against that).

use serde::{Deserialize, Serialize, Serializer};

use super::MessageType;

/// A message's content, tagged by its type. (Serialize is written out below, so that
/// `content` comes before `type`, in alphabetical order like every JSON answer of kefu's.)
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(tag = "type", content = "content", rename_all = "lowercase")]
pub enum MessageContent {
    Text(Text),
    Image(Image),
    Link(Link),
    MiniProgramPage(MiniProgramPage),
    Event(Event),
    /// a private note for colleagues, never sent to WeChat
    Note(Text),
    /// a push kefu does not know, kept whole so nothing is lost
    Unknown(Unknown),
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Text {
    pub text: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Image {
    /// WeChat's media_id: the customer's picture; for a reply, null until kefu uploaded it
    pub media_id: Option<String>,
    /// WeChat's address of the customer's picture (incoming images only)
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pic_url: Option<String>,
    /// kefu's own copy, served to staff; stored null, filled in when a message is shown
    #[serde(default)]
    pub url: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Link {
    pub description: String,
    pub thumb_url: String,
    pub title: String,
    pub url: String,
}

/// A mini program card.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MiniProgramPage {
    pub appid: String,
    pub pagepath: String,
    /// the cover's media_id; for a reply with an uploaded cover, null until kefu uploaded it
    pub thumb_media_id: Option<String>,
    /// the cover: WeChat's address for an incoming card; kefu's copy once it holds one
    pub thumb_url: Option<String>,
    pub title: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Event {
    pub event: String,
    /// the SessionFrom of `user_enter_tempsession`
    pub session_from: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Unknown {
    /// WeChat's MsgType, when there was one to read
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub msg_type: Option<String>,
    /// the push (or the stored text that could not be read) exactly as it was
    pub raw: String,
}

impl MessageContent {
    pub fn text(text: impl Into<String>) -> MessageContent {
        MessageContent::Text(Text { text: text.into() })
    }

    pub fn kind(&self) -> MessageType {
        match self {
            MessageContent::Text(_) => MessageType::Text,
            MessageContent::Image(_) => MessageType::Image,
            MessageContent::Link(_) => MessageType::Link,
            MessageContent::MiniProgramPage(_) => MessageType::MiniProgramPage,
            MessageContent::Event(_) => MessageType::Event,
            MessageContent::Note(_) => MessageType::Note,
            MessageContent::Unknown(_) => MessageType::Unknown,
        }
    }

    /// Whether WeChat's send API takes this kind of message (notes, events and unknown
    /// pushes are never sent).
    pub fn is_sendable(&self) -> bool {
        matches!(
            self,
            MessageContent::Text(_)
                | MessageContent::Image(_)
                | MessageContent::Link(_)
                | MessageContent::MiniProgramPage(_)
        )
    }

    /// The content without its type: the `content` column, and the API's `content` field.
    pub fn payload(&self) -> Payload<'_> {
        Payload(self)
    }

    /// The `content` column's JSON text. (Serializing these plain structs cannot fail: serde_json
    /// fails only on non-string map keys or a failing custom impl; the Result is passed on anyway.)
    pub fn to_stored(&self) -> serde_json::Result<String> {
        serde_json::to_string(&self.payload())
    }

    /// Reads a message back from its `type` and `content` columns.
    pub fn from_stored(kind: MessageType, json: &str) -> serde_json::Result<MessageContent> {
        Ok(match kind {
            MessageType::Text => MessageContent::Text(serde_json::from_str(json)?),
            MessageType::Image => MessageContent::Image(serde_json::from_str(json)?),
            MessageType::Link => MessageContent::Link(serde_json::from_str(json)?),
            MessageType::MiniProgramPage => {
                MessageContent::MiniProgramPage(serde_json::from_str(json)?)
            }
            MessageType::Event => MessageContent::Event(serde_json::from_str(json)?),
            MessageType::Note => MessageContent::Note(serde_json::from_str(json)?),
            MessageType::Unknown => MessageContent::Unknown(serde_json::from_str(json)?),
        })
    }

    /// Stored text that does not read as the content it claims to be, kept whole as an unknown
    /// message: shown to staff as it is, never sent.
    pub fn unreadable(claimed: &str, stored: &str) -> MessageContent {
        MessageContent::Unknown(Unknown {
            msg_type: Some(claimed.to_owned()),
            raw: stored.to_owned(),
        })
    }

    /// Records WeChat's media_id of the attachment kefu uploaded for this reply: the image
    /// itself, or a card's cover. Other kinds carry no attachment.
    pub fn set_uploaded_media(&mut self, media_id: &str) {
        match self {
            MessageContent::Image(image) => image.media_id = Some(media_id.to_owned()),
            MessageContent::MiniProgramPage(card) => {
                card.thumb_media_id = Some(media_id.to_owned());
            }
            MessageContent::Text(_)
            | MessageContent::Link(_)
            | MessageContent::Event(_)
            | MessageContent::Note(_)
            | MessageContent::Unknown(_) => {}
        }
    }
}

impl Serialize for MessageContent {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct;
        let mut tagged = serializer.serialize_struct("MessageContent", 2)?;
        tagged.serialize_field("content", &self.payload())?;
        tagged.serialize_field("type", &self.kind())?;
        tagged.end()
    }
}

/// A content serialized without its type tag (see [`MessageContent::payload`]).
pub struct Payload<'a>(&'a MessageContent);

impl Serialize for Payload<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self.0 {
            MessageContent::Text(c) | MessageContent::Note(c) => c.serialize(serializer),
            MessageContent::Image(c) => c.serialize(serializer),
            MessageContent::Link(c) => c.serialize(serializer),
            MessageContent::MiniProgramPage(c) => c.serialize(serializer),
            MessageContent::Event(c) => c.serialize(serializer),
            MessageContent::Unknown(c) => c.serialize(serializer),
        }
    }
}

#[cfg(test)]
/// Every content kefu writes, as it writes it (ingest, the API, the outbox after an upload,
/// rules): (type, content column).
pub(crate) fn stored_examples() -> Vec<(MessageType, serde_json::Value)> {
    use serde_json::json;
    vec![
        (MessageType::Text, json!({ "text": "你好 👋 <b>hi</b>" })),
        (MessageType::Note, json!({ "text": "VIP" })),
        // an incoming image, and a reply before and after its upload
        (
            MessageType::Image,
            json!({ "media_id": "MEDIA", "pic_url": "http://mmbiz.qpic.cn/x" }),
        ),
        (MessageType::Image, json!({ "media_id": null, "url": null })),
        (
            MessageType::Image,
            json!({ "media_id": "up-1", "url": null }),
        ),
        (
            MessageType::Link,
            json!({ "title": "t", "description": "d", "url": "https://a.cn", "thumb_url": "https://a.cn/t.png" }),
        ),
        // an incoming card, a reply with a given cover, one with an uploaded cover
        (
            MessageType::MiniProgramPage,
            json!({ "title": "t", "appid": "wx1", "pagepath": "pages/a", "thumb_url": "http://x", "thumb_media_id": "m" }),
        ),
        (
            MessageType::MiniProgramPage,
            json!({ "title": "t", "appid": "wx1", "pagepath": "p", "thumb_url": null, "thumb_media_id": "m" }),
        ),
        (
            MessageType::MiniProgramPage,
            json!({ "title": "t", "appid": "", "pagepath": "p", "thumb_url": null, "thumb_media_id": null }),
        ),
        (
            MessageType::Event,
            json!({ "event": "user_enter_tempsession", "session_from": "ad" }),
        ),
        (
            MessageType::Event,
            json!({ "event": "other", "session_from": null }),
        ),
        (
            MessageType::Unknown,
            json!({ "msg_type": "voice", "raw": "<xml><MsgType>voice</MsgType></xml>" }),
        ),
    ]
}

#[cfg(test)]
mod tests {
    use serde_json::{Value, json};

    use super::*;

    #[test]
    fn every_stored_content_reads_and_writes_back_as_the_same_json() {
        for (kind, stored) in super::stored_examples() {
            let content = MessageContent::from_stored(kind, &stored.to_string())
                .unwrap_or_else(|e| panic!("{kind} {stored}: {e}"));
            assert_eq!(content.kind(), kind);
            let written: Value = serde_json::from_str(&content.to_stored().unwrap()).unwrap();
            if kind == MessageType::Image && stored.get("url").is_none() {
                // incoming images were stored without the (always null) url
                let mut expected = stored.clone();
                expected["url"] = Value::Null;
                assert_eq!(written, expected);
            } else {
                assert_eq!(written, stored, "{kind}");
            }
        }
    }

    #[test]
    fn a_rules_stored_reply_reads_and_writes_back_as_the_same_json() {
        // what `POST /api/v1/rules` saves and `GET` shows: the tagged form
        for (kind, content) in super::stored_examples() {
            if content.get("pic_url").is_some() {
                continue; // an incoming image is no reply
            }
            let tagged = json!({ "type": kind, "content": content });
            let reply: MessageContent = serde_json::from_value(tagged.clone()).unwrap();
            assert_eq!(reply.kind(), kind);
            assert_eq!(serde_json::to_value(&reply).unwrap(), tagged);
        }
    }

    #[test]
    fn a_content_that_is_not_its_type_does_not_read() {
        for (kind, json) in [
            (MessageType::Text, r#"{"title":"t"}"#),
            (MessageType::Text, r#"{"text":42}"#),
            (MessageType::Link, r#"{"title":"t"}"#),
            (MessageType::Event, "null"),
            (MessageType::Unknown, "not json"),
        ] {
            assert!(
                MessageContent::from_stored(kind, json).is_err(),
                "{kind} {json}"
            );
        }
    }

    #[test]
    fn the_tagged_form_is_what_the_api_and_rules_spell() {
        let reply: MessageContent =
            serde_json::from_value(json!({ "type": "text", "content": { "text": "hi" } })).unwrap();
        assert_eq!(reply, MessageContent::text("hi"));
        let card = MessageContent::MiniProgramPage(MiniProgramPage {
            title: "t".into(),
            appid: "wx1".into(),
            pagepath: "p".into(),
            thumb_url: None,
            thumb_media_id: Some("m".into()),
        });
        assert_eq!(
            serde_json::to_string(&card).unwrap(),
            json!({ "type": "miniprogrampage", "content": {
                "title": "t", "appid": "wx1", "pagepath": "p", "thumb_url": null, "thumb_media_id": "m",
            }})
            .to_string()
        );
        let unknown_type =
            serde_json::from_value::<MessageContent>(json!({ "type": "voice", "content": {} }));
        assert!(unknown_type.is_err());
    }

    #[test]
    fn an_upload_names_the_image_or_the_cards_cover() {
        let mut image = MessageContent::Image(Image {
            media_id: None,
            pic_url: None,
            url: None,
        });
        image.set_uploaded_media("m1");
        assert_eq!(
            image.to_stored().unwrap(),
            r#"{"media_id":"m1","url":null}"#
        );
        let mut text = MessageContent::text("x");
        text.set_uploaded_media("m2");
        assert_eq!(text, MessageContent::text("x"));
    }
}
