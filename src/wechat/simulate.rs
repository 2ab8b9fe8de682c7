//! Builds pushes exactly as WeChat's server sends them (a mini program's, and an Official
//! Account's messages and events): the body in JSON or XML, encrypted
//! (safe mode) when a cipher is given, and the signed query string; `post` sends one. Used by `kefu simulate`,
//! the tests and the benchmark, so all three speak the real wire format.

use rand::Rng;

use super::crypto::{Cipher, msg_signature, signature};
use super::push::Format;

/// What the simulated customer does.
#[derive(Debug, Clone, PartialEq)]
pub enum SimulatedKind {
    Text(String),
    Image {
        media_id: String,
    },
    /// A mini program card; its cover, when given, is a media_id WeChat would let kefu fetch.
    Card {
        thumb_media_id: Option<String>,
    },
    Enter {
        session_from: String,
    },
    /// An Official Account customer's voice message (its file, AMR, a media_id WeChat would
    /// let kefu fetch), with what WeChat's speech recognition heard, if anything.
    Voice {
        media_id: String,
        recognition: Option<String>,
    },
    /// A video (`short`: a short video); the file is a media_id as for a voice message.
    Video {
        media_id: String,
        short: bool,
    },
    /// A place the customer shared.
    Location {
        latitude: f64,
        longitude: f64,
        label: String,
    },
    /// A link the customer shared.
    Link {
        title: String,
        description: String,
        url: String,
    },
    /// An Official Account's event (`subscribe`, `unsubscribe`, `SCAN`, `CLICK`, `VIEW`,
    /// `LOCATION`, `kf_create_session`, `kf_close_session`, `kf_switch_session`, or any other
    /// name) with the fields WeChat gives that event; `key` is its EventKey (the scene of a
    /// QR code, the menu key, the menu's URL) where it has one, else a sample.
    Event {
        event: String,
        key: Option<String>,
    },
}

/// The events `SimulatedKind::Event` fills in as WeChat does (any other name goes alone).
pub const OFFICIAL_EVENTS: [&str; 9] = [
    "subscribe",
    "unsubscribe",
    "SCAN",
    "CLICK",
    "VIEW",
    "LOCATION",
    "kf_create_session",
    "kf_close_session",
    "kf_switch_session",
];

/// A push ready to POST: the query string (without `?`) and the body.
#[derive(Debug, Clone)]
pub struct SignedPush {
    pub query: String,
    pub body: String,
    pub content_type: &'static str,
}

/// The plaintext body of a push from `openid`.
pub fn push_body(
    kind: &SimulatedKind,
    openid: &str,
    msg_id: u64,
    create_time: i64,
    format: Format,
) -> String {
    let to = "gh_kefu_simulated";
    let mut fields: Vec<(&str, Field)> = vec![
        ("ToUserName", Field::Text(to.to_owned())),
        ("FromUserName", Field::Text(openid.to_owned())),
        ("CreateTime", Field::Number(create_time.to_string())),
    ];
    match kind {
        SimulatedKind::Text(text) => {
            fields.push(("MsgType", Field::Text("text".into())));
            fields.push(("Content", Field::Text(text.clone())));
            fields.push(("MsgId", Field::Number(msg_id.to_string())));
        }
        SimulatedKind::Image { media_id } => {
            fields.push(("MsgType", Field::Text("image".into())));
            fields.push((
                "PicUrl",
                Field::Text(format!("http://mmbiz.qpic.cn/simulated/{media_id}")),
            ));
            fields.push(("MediaId", Field::Text(media_id.clone())));
            fields.push(("MsgId", Field::Number(msg_id.to_string())));
        }
        SimulatedKind::Card { thumb_media_id } => {
            fields.push(("MsgType", Field::Text("miniprogrampage".into())));
            fields.push(("MsgId", Field::Number(msg_id.to_string())));
            fields.push(("Title", Field::Text("Order #1024".into())));
            fields.push(("AppId", Field::Text("wx0000000000simul".into())));
            fields.push(("PagePath", Field::Text("pages/order/detail?id=1024".into())));
            fields.push(("ThumbUrl", Field::Text(String::new())));
            fields.push((
                "ThumbMediaId",
                Field::Text(thumb_media_id.clone().unwrap_or_default()),
            ));
        }
        SimulatedKind::Enter { session_from } => {
            fields.push(("MsgType", Field::Text("event".into())));
            fields.push(("Event", Field::Text("user_enter_tempsession".into())));
            fields.push(("SessionFrom", Field::Text(session_from.clone())));
        }
        SimulatedKind::Voice {
            media_id,
            recognition,
        } => {
            fields.push(("MsgType", Field::Text("voice".into())));
            fields.push(("MediaId", Field::Text(media_id.clone())));
            fields.push(("Format", Field::Text("amr".into())));
            if let Some(recognition) = recognition {
                fields.push(("Recognition", Field::Text(recognition.clone())));
            }
            fields.push(("MsgId", Field::Number(msg_id.to_string())));
        }
        SimulatedKind::Video { media_id, short } => {
            let msg_type = if *short { "shortvideo" } else { "video" };
            fields.push(("MsgType", Field::Text(msg_type.into())));
            fields.push(("MediaId", Field::Text(media_id.clone())));
            fields.push(("ThumbMediaId", Field::Text(format!("{media_id}-cover"))));
            fields.push(("MsgId", Field::Number(msg_id.to_string())));
        }
        SimulatedKind::Location {
            latitude,
            longitude,
            label,
        } => {
            fields.push(("MsgType", Field::Text("location".into())));
            fields.push(("Location_X", Field::Number(format!("{latitude:.6}"))));
            fields.push(("Location_Y", Field::Number(format!("{longitude:.6}"))));
            fields.push(("Scale", Field::Number("15".into())));
            fields.push(("Label", Field::Text(label.clone())));
            fields.push(("MsgId", Field::Number(msg_id.to_string())));
        }
        SimulatedKind::Link {
            title,
            description,
            url,
        } => {
            fields.push(("MsgType", Field::Text("link".into())));
            fields.push(("Title", Field::Text(title.clone())));
            fields.push(("Description", Field::Text(description.clone())));
            fields.push(("Url", Field::Text(url.clone())));
            fields.push(("MsgId", Field::Number(msg_id.to_string())));
        }
        SimulatedKind::Event { event, key } => {
            fields.push(("MsgType", Field::Text("event".into())));
            fields.push(("Event", Field::Text(event.clone())));
            let key = |sample: &str| Field::Text(key.clone().unwrap_or_else(|| sample.to_owned()));
            let ticket =
                || Field::Text("gQH47joAAAAAAAAAASxodHRwOi8vd2VpeGluLnFxLmNvbS9xL2tlZnU=".into());
            match event.as_str() {
                // a follow from a QR code; a plain follow has no key at all
                "subscribe" => {
                    if let Field::Text(scene) = key("")
                        && !scene.is_empty()
                    {
                        fields.push(("EventKey", Field::Text(format!("qrscene_{scene}"))));
                        fields.push(("Ticket", ticket()));
                    }
                }
                "SCAN" => {
                    fields.push(("EventKey", key("kefu-demo-scene")));
                    fields.push(("Ticket", ticket()));
                }
                "CLICK" => fields.push(("EventKey", key("MENU_CONTACT_US"))),
                "VIEW" => fields.push(("EventKey", key("https://example.com/help"))),
                "LOCATION" => {
                    fields.push(("Latitude", Field::Number("23.137466".into())));
                    fields.push(("Longitude", Field::Number("113.352425".into())));
                    fields.push(("Precision", Field::Number("119.385040".into())));
                }
                "kf_create_session" | "kf_close_session" => {
                    fields.push(("KfAccount", key("kf2001@gh_kefu_simulated")));
                }
                "kf_switch_session" => {
                    fields.push(("FromKfAccount", key("kf2001@gh_kefu_simulated")));
                    fields.push((
                        "ToKfAccount",
                        Field::Text("kf2002@gh_kefu_simulated".into()),
                    ));
                }
                _ => {}
            }
        }
    }
    match format {
        Format::Json => {
            let map: serde_json::Map<String, serde_json::Value> = fields
                .into_iter()
                .map(|(k, v)| {
                    let v = match v {
                        Field::Text(s) => serde_json::Value::String(s),
                        // MsgId can exceed what JSON numbers hold exactly in some parsers; WeChat
                        // still sends it as a number, and so do we.
                        Field::Number(n) => {
                            serde_json::from_str(&n).unwrap_or(serde_json::Value::String(n))
                        }
                    };
                    (k.to_owned(), v)
                })
                .collect();
            serde_json::Value::Object(map).to_string()
        }
        Format::Xml => {
            let mut xml = String::from("<xml>");
            for (k, v) in fields {
                match v {
                    Field::Text(s) => xml.push_str(&format!("<{k}>{}</{k}>", cdata(&s))),
                    Field::Number(n) => xml.push_str(&format!("<{k}>{n}</{k}>")),
                }
            }
            xml.push_str("</xml>");
            xml
        }
    }
}

enum Field {
    Text(String),
    Number(String),
}

/// Text wrapped in CDATA; a `]]>` inside is split across two sections.
pub fn cdata(s: &str) -> String {
    format!("<![CDATA[{}]]>", s.replace("]]>", "]]]]><![CDATA[>"))
}

/// Signs (and with a cipher, encrypts) a plaintext body for the webhook, as WeChat does in
/// plaintext mode (no cipher) and safe mode (cipher).
pub fn sign_push(
    plaintext: &str,
    token: &str,
    cipher: Option<&Cipher>,
    format: Format,
    openid: &str,
    timestamp: i64,
    nonce: &str,
) -> SignedPush {
    let ts = timestamp.to_string();
    let sig = signature(token, &ts, nonce);
    let content_type = match format {
        Format::Json => "application/json",
        Format::Xml => "text/xml",
    };
    match cipher {
        None => SignedPush {
            query: format!("signature={sig}&timestamp={ts}&nonce={nonce}"),
            body: plaintext.to_owned(),
            content_type,
        },
        Some(cipher) => {
            let encrypt = cipher.encrypt(plaintext.as_bytes());
            let msg_sig = msg_signature(token, &ts, nonce, &encrypt);
            let body = match format {
                Format::Json => serde_json::json!({
                    "ToUserName": "gh_kefu_simulated",
                    "Encrypt": encrypt,
                })
                .to_string(),
                Format::Xml => format!(
                    "<xml><ToUserName>{}</ToUserName><Encrypt>{}</Encrypt></xml>",
                    cdata("gh_kefu_simulated"),
                    cdata(&encrypt)
                ),
            };
            SignedPush {
                query: format!(
                    "signature={sig}&timestamp={ts}&nonce={nonce}&openid={openid}&encrypt_type=aes&msg_signature={msg_sig}"
                ),
                body,
                content_type,
            }
        }
    }
}

/// A fresh MsgId in WeChat's range (positive 64-bit).
pub fn random_msg_id() -> u64 {
    rand::rng().random_range(1_000_000_000_000_000..i64::MAX as u64)
}

/// A fresh numeric nonce, as WeChat sends.
pub fn random_nonce() -> String {
    rand::rng()
        .random_range(100_000_000u64..9_999_999_999)
        .to_string()
}

/// Where and how a simulated push goes: kefu's webhook URL and the keys WeChat would use.
pub struct Target<'a> {
    pub webhook_url: &'a str,
    pub token: &'a str,
    pub cipher: Option<&'a Cipher>,
    pub format: Format,
}

/// Builds a push from `openid` exactly as WeChat would, posts it, and returns kefu's answer:
/// its status and body.
pub async fn post(
    client: &reqwest::Client,
    target: &Target<'_>,
    kind: &SimulatedKind,
    openid: &str,
) -> Result<(reqwest::StatusCode, String), reqwest::Error> {
    let now = crate::domain::now_millis() / 1000;
    let body = push_body(kind, openid, random_msg_id(), now, target.format);
    let push = sign_push(
        &body,
        target.token,
        target.cipher,
        target.format,
        openid,
        now,
        &random_nonce(),
    );
    let response = client
        .post(format!("{}?{}", target.webhook_url, push.query))
        .header(reqwest::header::CONTENT_TYPE, push.content_type)
        .body(push.body)
        .send()
        .await?;
    let status = response.status();
    Ok((status, response.text().await.unwrap_or_default()))
}
