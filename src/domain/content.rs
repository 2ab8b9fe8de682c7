//! What a message says: one type per kind of message, from the push that brought it in (or the
//! reply an agent or a rule wrote) to the database, the JSON API, the pages and WeChat's send API.
//!
//! Two spellings, one type:
//! - `{"type": TYPE, "content": {...}}`, the serde form of [`MessageContent`]: how the API takes a
//!   reply and how a rule keeps its reply;
//! - the `type` and `content` columns of a message: [`MessageContent::kind`] and
//!   [`MessageContent::to_stored`] write them, [`MessageContent::from_stored`] reads them back.
//!
//! The fields are exactly what docs/CONTRACT.md shows under "content by type" and, for an
//! Official Account's messages and events, under "Channels" (plus what kefu has always kept
//! beside it: an incoming image's `pic_url`, an unknown push's `msg_type`), so a
//! stored content read and written again is the same JSON object. Each struct declares its
//! fields in alphabetical order: the API writes them in declaration order, and the content has
//! always been a JSON map with sorted keys (`web::api` tests the bytes against that).

use serde::{Deserialize, Serialize, Serializer};

use super::MessageType;

/// A message's content, tagged by its type. (Serialize is written out below, so that
/// `content` comes before `type`, in alphabetical order like every JSON answer of kefu's.)
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(tag = "type", content = "content", rename_all = "lowercase")]
pub enum MessageContent {
    Text(Text),
    Image(Image),
    Link(Link),
    MiniProgramPage(MiniProgramPage),
    /// an Official Account customer's voice message
    Voice(Voice),
    /// a video, and a short video (the same fields)
    Video(Video),
    ShortVideo(Video),
    /// a place an Official Account customer shared
    Location(Location),
    /// an Official Account's link card (WeChat's `news`, one article), sent by an agent
    News(News),
    /// an Official Account's menu message: items the customer taps to answer
    MsgMenu(MsgMenu),
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

/// A link: a reply (with its cover, `thumb_url`, as a mini program's link card needs one), or a
/// link an Official Account customer shared (no cover: the key is left out).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Link {
    pub description: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub thumb_url: Option<String>,
    pub title: String,
    pub url: String,
}

/// A voice message. WeChat keeps it as AMR (or Speex), which browsers do not play; kefu keeps
/// the file as it came and offers it for download. An agent's voice reply (Official Accounts
/// only) has the same fields: the format of the file kefu uploaded (`amr`, `mp3`; empty for
/// one named by its media_id) and no recognition.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Voice {
    /// WeChat's `Format`: amr, speex
    pub format: String,
    /// WeChat's media_id; for a reply with a file, null until kefu uploaded it
    pub media_id: Option<String>,
    /// the text WeChat's speech recognition heard, when the account has it on
    pub recognition: Option<String>,
    /// kefu's own copy, served to staff; stored null, filled in when a message is shown
    #[serde(default)]
    pub url: Option<String>,
}

/// A video or short video; an agent's video reply (Official Accounts only) may add a title
/// and a description, which a customer's video never has (the keys are then left out).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Video {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// WeChat's media_id; for a reply with a file, null until kefu uploaded it
    pub media_id: Option<String>,
    /// WeChat's media_id of its cover picture
    pub thumb_media_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    /// kefu's own copy, as for a voice message
    #[serde(default)]
    pub url: Option<String>,
}

/// A place: degrees as WeChat gives them (GCJ-02, the coordinates of Chinese maps), the map's
/// scale and the place's name.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Location {
    pub label: String,
    pub latitude: f64,
    pub longitude: f64,
    pub scale: Option<u32>,
}

/// An Official Account's link card: WeChat's `news` message with its one article (WeChat
/// refuses more than one in a customer-service message). `picurl` is the card's picture, an
/// http(s) address WeChat fetches itself; null when the card has none.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct News {
    pub description: String,
    pub picurl: Option<String>,
    pub title: String,
    pub url: String,
}

/// An Official Account's menu message: a text before, the items the customer may tap (WeChat
/// sends the tapped item's text back as the customer's message) and a text after. WeChat's
/// send API calls the items `list`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MsgMenu {
    pub head_content: String,
    pub items: Vec<MenuItem>,
    pub tail_content: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MenuItem {
    pub content: String,
    pub id: String,
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

/// An event. `session_from` is always there (a mini program's `user_enter_tempsession` has
/// it); the Official Account's fields only when the event carried them
/// (`wechat::push::EventDetails` says which event has which).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Event {
    pub event: String,
    /// subscribe and SCAN: the QR code's scene; CLICK: the menu key; VIEW: the menu's URL
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub event_key: Option<String>,
    /// kf_switch_session: the agent of WeChat's customer-service tool who passed it on
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from_kf_account: Option<String>,
    /// kf_create_session, kf_close_session: the agent of WeChat's customer-service tool
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kf_account: Option<String>,
    /// LOCATION: degrees
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub latitude: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub longitude: Option<f64>,
    /// LOCATION: metres
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub precision: Option<f64>,
    /// the SessionFrom of `user_enter_tempsession`
    pub session_from: Option<String>,
    /// subscribe (from a QR code) and SCAN: the QR code's ticket
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ticket: Option<String>,
    /// kf_switch_session: the agent it went to
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub to_kf_account: Option<String>,
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
            MessageContent::Voice(_) => MessageType::Voice,
            MessageContent::Video(_) => MessageType::Video,
            MessageContent::ShortVideo(_) => MessageType::ShortVideo,
            MessageContent::Location(_) => MessageType::Location,
            MessageContent::News(_) => MessageType::News,
            MessageContent::MsgMenu(_) => MessageType::MsgMenu,
            MessageContent::Event(_) => MessageType::Event,
            MessageContent::Note(_) => MessageType::Note,
            MessageContent::Unknown(_) => MessageType::Unknown,
        }
    }

    /// Whether a rule's reply of this kind may be sent: the kinds the bot has always sent
    /// (notes, events and unknown pushes are never sent). An Official Account's voice, video,
    /// link card and menu go out only as an agent's reply, once the conversation's channel is
    /// known to take them (`ChannelKind::sends`).
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
            MessageType::Voice => MessageContent::Voice(serde_json::from_str(json)?),
            MessageType::Video => MessageContent::Video(serde_json::from_str(json)?),
            MessageType::ShortVideo => MessageContent::ShortVideo(serde_json::from_str(json)?),
            MessageType::Location => MessageContent::Location(serde_json::from_str(json)?),
            MessageType::News => MessageContent::News(serde_json::from_str(json)?),
            MessageType::MsgMenu => MessageContent::MsgMenu(serde_json::from_str(json)?),
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

    /// Records WeChat's media_id of the attachment kefu uploaded for this reply: the image,
    /// voice message or video itself, or a card's cover. Other kinds carry no attachment.
    pub fn set_uploaded_media(&mut self, media_id: &str) {
        match self {
            MessageContent::Image(image) => image.media_id = Some(media_id.to_owned()),
            MessageContent::Voice(voice) => voice.media_id = Some(media_id.to_owned()),
            MessageContent::Video(video) => video.media_id = Some(media_id.to_owned()),
            MessageContent::MiniProgramPage(card) => {
                card.thumb_media_id = Some(media_id.to_owned());
            }
            MessageContent::Text(_)
            | MessageContent::Link(_)
            | MessageContent::News(_)
            | MessageContent::MsgMenu(_)
            | MessageContent::ShortVideo(_)
            | MessageContent::Location(_)
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
            MessageContent::Voice(c) => c.serialize(serializer),
            MessageContent::Video(c) | MessageContent::ShortVideo(c) => c.serialize(serializer),
            MessageContent::Location(c) => c.serialize(serializer),
            MessageContent::News(c) => c.serialize(serializer),
            MessageContent::MsgMenu(c) => c.serialize(serializer),
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
            json!({ "msg_type": "file", "raw": "<xml><MsgType>file</MsgType></xml>" }),
        ),
        // an Official Account's messages (CONTRACT.md, Channels)
        (
            MessageType::Voice,
            json!({ "media_id": "V", "format": "amr", "recognition": "你好", "url": null }),
        ),
        (
            MessageType::Voice,
            json!({ "media_id": "V", "format": "speex", "recognition": null, "url": null }),
        ),
        (
            MessageType::Video,
            json!({ "media_id": "M", "thumb_media_id": "T", "url": null }),
        ),
        (
            MessageType::ShortVideo,
            json!({ "media_id": "M", "thumb_media_id": null, "url": null }),
        ),
        (
            MessageType::Location,
            json!({ "latitude": 23.134521, "longitude": 113.358803, "scale": 20, "label": "位置信息" }),
        ),
        (
            MessageType::Location,
            json!({ "latitude": -33.5, "longitude": -70.0, "scale": null, "label": "" }),
        ),
        (
            MessageType::Link,
            json!({ "title": "t", "description": "d", "url": "http://mp.weixin.qq.com/s?x=1" }),
        ),
        (
            MessageType::Event,
            json!({ "event": "subscribe", "event_key": "qrscene_42", "ticket": "T", "session_from": null }),
        ),
        (
            MessageType::Event,
            json!({ "event": "LOCATION", "latitude": 23.137466, "longitude": 113.352425, "precision": 119.38504, "session_from": null }),
        ),
        (
            MessageType::Event,
            json!({ "event": "kf_switch_session", "from_kf_account": "a@gh", "to_kf_account": "b@gh", "session_from": null }),
        ),
        (
            MessageType::Event,
            json!({ "event": "kf_close_session", "kf_account": "a@gh", "session_from": null }),
        ),
        // an agent's replies on an Official Account: a voice message and a video before and
        // after their upload, one named by its media_id, a link card, a menu
        (
            MessageType::Voice,
            json!({ "media_id": null, "format": "amr", "recognition": null, "url": null }),
        ),
        (
            MessageType::Voice,
            json!({ "media_id": "up-v", "format": "", "recognition": null, "url": null }),
        ),
        (
            MessageType::Video,
            json!({ "media_id": null, "thumb_media_id": null, "title": "开箱", "url": null }),
        ),
        (
            MessageType::Video,
            json!({ "media_id": "M", "thumb_media_id": "T", "title": "t", "description": "d", "url": null }),
        ),
        (
            MessageType::News,
            json!({ "title": "新品", "description": "", "url": "https://a.cn/n", "picurl": null }),
        ),
        (
            MessageType::News,
            json!({ "title": "t", "description": "d", "url": "http://a.cn", "picurl": "https://a.cn/p.jpg" }),
        ),
        (
            MessageType::MsgMenu,
            json!({ "head_content": "您对本次服务是否满意？", "items": [
                { "id": "101", "content": "满意" }, { "id": "102", "content": "不满意" },
            ], "tail_content": "欢迎再次光临" }),
        ),
        (
            MessageType::MsgMenu,
            json!({ "head_content": "", "items": [{ "id": "a", "content": "<b>x</b>" }], "tail_content": "" }),
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
            serde_json::from_value::<MessageContent>(json!({ "type": "mpnews", "content": {} }));
        assert!(unknown_type.is_err());
        let menu: MessageContent = serde_json::from_value(json!({ "type": "msgmenu", "content": {
            "head_content": "h", "items": [], "tail_content": "t",
        }}))
        .unwrap();
        assert_eq!(menu.kind(), MessageType::MsgMenu);
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
        let mut voice = MessageContent::Voice(Voice {
            format: "mp3".into(),
            media_id: None,
            recognition: None,
            url: None,
        });
        voice.set_uploaded_media("m3");
        assert_eq!(
            voice.to_stored().unwrap(),
            r#"{"format":"mp3","media_id":"m3","recognition":null,"url":null}"#
        );
        let mut video = MessageContent::Video(Video {
            description: None,
            media_id: None,
            thumb_media_id: None,
            title: Some("t".into()),
            url: None,
        });
        video.set_uploaded_media("m4");
        assert_eq!(
            video.to_stored().unwrap(),
            r#"{"media_id":"m4","thumb_media_id":null,"title":"t","url":null}"#
        );
    }
}
