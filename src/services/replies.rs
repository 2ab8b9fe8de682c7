//! What a reply to a customer may contain, checked once for the replies agents send and the
//! replies the bot's rules carry: the kinds WeChat's customer service API sends (text, image,
//! link, mini program card; and from an Official Account, voice, video, link card and menu)
//! and the private note, each field within WeChat's limits, and mini program links and cards
//! only for this mini program's own AppID (WeChat opens no other). Which kinds a conversation
//! may get depends on its channel's kind (`allowed_on`): an Official Account's kinds reach only
//! agents' replies (`web::api`), never a rule's, whose body type does not have them.
//! Content is stored as the JSON object docs/CONTRACT.md shapes.
//!
//! The content types below are the contract's shapes (`web::api` reads them from a body, the
//! rules console from its form); a refused field is named by its path, in the language of
//! whoever asked.

use serde::Deserialize;

use crate::delivery;
use crate::domain::channel::ChannelKind;
use crate::domain::content::{
    Image, Link, MenuItem, MiniProgramPage, MsgMenu, News, Text, Video, Voice,
};
use crate::domain::{MessageContent, MessageType};
use crate::error::{AppError, AppResult};
use crate::i18n::{Lang, RequestText, fill};

/// A checked reply, ready to queue (with its file, for an upload) or to keep in a rule.
pub struct Reply {
    pub content: MessageContent,
    pub file: Option<Upload>,
}

/// A file an agent sent with a reply, checked by its bytes: kefu keeps it, and the outbox
/// uploads it to WeChat before sending.
pub struct Upload {
    pub bytes: Vec<u8>,
    pub content_type: &'static str,
    /// the extension kefu keeps it under
    pub ext: &'static str,
}

/// The most items WeChat shows in a menu message.
pub const MAX_MENU_ITEMS: usize = 10;
const MAX_MENU_ID_CHARS: usize = 64;
const MAX_MENU_ITEM_CHARS: usize = 128;
const MAX_MENU_TEXT_CHARS: usize = 1024;

/// Refuses a type of message the conversation's channel does not send: 422
/// `not_allowed_for_channel` (a mini program sends no link card, an Official Account no mini
/// program card). Notes are for colleagues, and welcome on every channel.
pub fn allowed_on(channel: ChannelKind, kind: MessageType, lang: Lang) -> AppResult<()> {
    if channel.sends(kind) {
        return Ok(());
    }
    let w = lang.sending();
    let types: Vec<&str> = channel
        .sendable()
        .into_iter()
        .map(MessageType::as_str)
        .collect();
    let which = match channel {
        ChannelKind::MiniProgram => w.kind_miniprogram,
        ChannelKind::OfficialAccount => w.kind_official,
    };
    Err(AppError::Refused {
        code: "not_allowed_for_channel",
        message: fill(
            w.not_allowed,
            &[
                ("kind", which),
                ("type", kind.as_str()),
                ("types", &lang.request().list(&types)),
            ],
        ),
    })
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TextInput {
    pub text: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ImageInput {
    pub media_id: String,
    /// kefu's own (ignored)
    #[serde(default)]
    pub url: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LinkInput {
    pub title: String,
    pub description: String,
    pub url: String,
    pub thumb_url: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CardInput {
    pub title: String,
    /// when given, it must be this mini program's own
    #[serde(default)]
    pub appid: Option<String>,
    pub pagepath: String,
    pub thumb_media_id: String,
    /// kefu's own (ignored)
    #[serde(default)]
    pub thumb_url: Option<String>,
}

/// An Official Account's voice reply by its media_id (a file is sent as multipart instead).
/// The fields the API shows of a voice message are accepted and ignored, as an image's `url`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VoiceInput {
    pub media_id: String,
    #[serde(default)]
    pub format: Option<String>,
    #[serde(default)]
    pub recognition: Option<String>,
    #[serde(default)]
    pub url: Option<String>,
}

/// An Official Account's video reply by its media_id, with WeChat's optional cover, title and
/// description.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VideoInput {
    pub media_id: String,
    #[serde(default)]
    pub thumb_media_id: Option<String>,
    #[serde(default)]
    pub title: Option<String>,
    #[serde(default)]
    pub description: Option<String>,
    /// kefu's own (ignored)
    #[serde(default)]
    pub url: Option<String>,
}

/// An Official Account's link card (`news`): one article.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewsInput {
    pub title: String,
    #[serde(default)]
    pub description: Option<String>,
    pub url: String,
    #[serde(default)]
    pub picurl: Option<String>,
}

/// An Official Account's menu message.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MenuInput {
    #[serde(default)]
    pub head_content: Option<String>,
    #[serde(deserialize_with = "crate::web::json::objects")]
    pub items: Vec<MenuItemInput>,
    #[serde(default)]
    pub tail_content: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MenuItemInput {
    pub id: String,
    pub content: String,
}

/// Checks the fields of a reply's content; `at` is where the reply is in the body ("" for
/// the body itself, `reply` in a rule), so every sentence names the field by its whole path.
struct Fields<'a> {
    at: &'a str,
    r: &'static RequestText,
}

impl Fields<'_> {
    fn path(&self, name: &str) -> String {
        if self.at.is_empty() {
            format!("content.{name}")
        } else {
            format!("{}.content.{name}", self.at)
        }
    }

    /// A required text, trimmed, of at most `max` characters.
    fn text<'v>(&self, value: &'v str, name: &str, max: usize) -> AppResult<&'v str> {
        let field = self.path(name);
        let v = value.trim();
        if v.is_empty() {
            return Err(AppError::Invalid(fill(
                self.r.field_required,
                &[("field", &field)],
            )));
        }
        if v.chars().count() > max {
            return Err(AppError::Invalid(fill(
                self.r.field_too_long,
                &[("field", &field), ("max", &max.to_string())],
            )));
        }
        Ok(v)
    }

    /// An optional text, trimmed: None when missing or blank, else at most `max` characters.
    fn optional(&self, value: Option<&str>, name: &str, max: usize) -> AppResult<Option<String>> {
        match value.map(str::trim).filter(|v| !v.is_empty()) {
            Some(v) => Ok(Some(self.text(v, name, max)?.to_owned())),
            None => Ok(None),
        }
    }

    /// A menu: 1 to 10 items, each with an id (no spaces, unique) and a text; the texts around
    /// them optional.
    fn menu(&self, c: &MenuInput, lang: Lang) -> AppResult<MsgMenu> {
        let w = lang.sending();
        if c.items.is_empty() || c.items.len() > MAX_MENU_ITEMS {
            return Err(AppError::Invalid(fill(
                w.menu_items,
                &[
                    ("field", &self.path("items")),
                    ("max", &MAX_MENU_ITEMS.to_string()),
                ],
            )));
        }
        let mut items: Vec<MenuItem> = Vec::with_capacity(c.items.len());
        for (i, item) in c.items.iter().enumerate() {
            let at = format!("items[{i}]");
            let id_path = self.path(&format!("{at}.id"));
            let id = item.id.trim();
            let plain = id.chars().all(|ch| !ch.is_whitespace() && !ch.is_control());
            if id.is_empty() || id.chars().count() > MAX_MENU_ID_CHARS || !plain {
                return Err(AppError::Invalid(fill(
                    w.menu_id,
                    &[("field", &id_path), ("max", &MAX_MENU_ID_CHARS.to_string())],
                )));
            }
            if items.iter().any(|earlier| earlier.id == id) {
                return Err(AppError::Invalid(fill(
                    w.menu_id_twice,
                    &[("field", &id_path), ("id", id)],
                )));
            }
            let content =
                self.text(&item.content, &format!("{at}.content"), MAX_MENU_ITEM_CHARS)?;
            items.push(MenuItem {
                content: content.to_owned(),
                id: id.to_owned(),
            });
        }
        let around = |value: &Option<String>, name: &str| {
            self.optional(value.as_deref(), name, MAX_MENU_TEXT_CHARS)
                .map(Option::unwrap_or_default)
        };
        Ok(MsgMenu {
            head_content: around(&c.head_content, "head_content")?,
            items,
            tail_content: around(&c.tail_content, "tail_content")?,
        })
    }

    fn http_url<'v>(&self, value: &'v str, name: &str) -> AppResult<&'v str> {
        let v = self.text(value, name, 2000)?;
        if !(v.starts_with("https://") || v.starts_with("http://")) {
            return Err(AppError::Invalid(fill(
                self.r.field_url,
                &[("field", &self.path(name))],
            )));
        }
        Ok(v)
    }
}

/// A reply as submitted, not yet checked: an agent's (the API reads it from the body), or a
/// rule's (from the API's body or the console's form).
#[derive(Debug)]
pub enum ReplyDraft {
    Text(TextInput),
    Image(ImageInput),
    Link(LinkInput),
    MiniProgramPage(CardInput),
    Note(TextInput),
    /// an Official Account's (agents' replies only)
    Voice(VoiceInput),
    Video(VideoInput),
    News(NewsInput),
    MsgMenu(MenuInput),
}

impl ReplyDraft {
    /// The type of message it would be, to check against the channel before its fields.
    pub fn kind(&self) -> MessageType {
        match self {
            ReplyDraft::Text(_) => MessageType::Text,
            ReplyDraft::Image(_) => MessageType::Image,
            ReplyDraft::Link(_) => MessageType::Link,
            ReplyDraft::MiniProgramPage(_) => MessageType::MiniProgramPage,
            ReplyDraft::Note(_) => MessageType::Note,
            ReplyDraft::Voice(_) => MessageType::Voice,
            ReplyDraft::Video(_) => MessageType::Video,
            ReplyDraft::News(_) => MessageType::News,
            ReplyDraft::MsgMenu(_) => MessageType::MsgMenu,
        }
    }
}

/// Checks a reply and shapes its content as it is stored; `appid` is this mini program's own,
/// `at` where the reply is in what was submitted ("" for a message, `reply` in a rule), so
/// that every sentence names the field by its whole path, in `lang`.
pub fn check(appid: Option<&str>, input: ReplyDraft, at: &str, lang: Lang) -> AppResult<Reply> {
    let f = Fields {
        at,
        r: lang.request(),
    };
    let content = match &input {
        ReplyDraft::Text(c) => {
            let text = f.text(&c.text, "text", delivery::MAX_TEXT_CHARS)?;
            check_miniprogram_links(appid, text, f.r)?;
            MessageContent::text(text)
        }
        ReplyDraft::Note(c) => MessageContent::Note(Text {
            text: f.text(&c.text, "text", 10_000)?.to_owned(),
        }),
        ReplyDraft::Image(c) => MessageContent::Image(Image {
            media_id: Some(f.text(&c.media_id, "media_id", 256)?.to_owned()),
            pic_url: None,
            url: None,
        }),
        ReplyDraft::Link(c) => MessageContent::Link(Link {
            title: f.text(&c.title, "title", 200)?.to_owned(),
            description: f.text(&c.description, "description", 500)?.to_owned(),
            url: f.http_url(&c.url, "url")?.to_owned(),
            thumb_url: Some(f.http_url(&c.thumb_url, "thumb_url")?.to_owned()),
        }),
        ReplyDraft::MiniProgramPage(c) => {
            let thumb_media_id = f.text(&c.thumb_media_id, "thumb_media_id", 256)?;
            let card = card_content(appid, &f, &c.title, c.appid.as_deref(), &c.pagepath)?;
            card.with_thumb(thumb_media_id)
        }
        ReplyDraft::Voice(c) => MessageContent::Voice(Voice {
            // what kefu knows of a file it did not upload
            format: String::new(),
            media_id: Some(f.text(&c.media_id, "media_id", 256)?.to_owned()),
            recognition: None,
            url: None,
        }),
        ReplyDraft::Video(c) => {
            let media_id = f.text(&c.media_id, "media_id", 256)?.to_owned();
            video(
                &f,
                Some(media_id),
                c.thumb_media_id.as_deref(),
                c.title.as_deref(),
                c.description.as_deref(),
            )?
        }
        ReplyDraft::News(c) => MessageContent::News(News {
            description: f
                .optional(c.description.as_deref(), "description", 500)?
                .unwrap_or_default(),
            picurl: match c.picurl.as_deref().map(str::trim).filter(|p| !p.is_empty()) {
                Some(picurl) => Some(f.http_url(picurl, "picurl")?.to_owned()),
                None => None,
            },
            title: f.text(&c.title, "title", 200)?.to_owned(),
            url: f.http_url(&c.url, "url")?.to_owned(),
        }),
        ReplyDraft::MsgMenu(c) => MessageContent::MsgMenu(f.menu(c, lang)?),
    };
    Ok(Reply {
        content,
        file: None,
    })
}

/// A video reply's content: `media_id` None while the video is an upload not yet sent.
fn video(
    f: &Fields<'_>,
    media_id: Option<String>,
    thumb_media_id: Option<&str>,
    title: Option<&str>,
    description: Option<&str>,
) -> AppResult<MessageContent> {
    Ok(MessageContent::Video(Video {
        description: f.optional(description, "description", 500)?,
        media_id,
        thumb_media_id: f.optional(thumb_media_id, "thumb_media_id", 256)?,
        title: f.optional(title, "title", 200)?,
        url: None,
    }))
}

/// A voice message or video sent as a file (a multipart reply), its other fields checked:
/// `kind` is voice or video, `format` the voice file's (`amr`, `mp3`).
pub fn media_reply(
    kind: MessageType,
    format: &str,
    thumb_media_id: Option<&str>,
    title: Option<&str>,
    description: Option<&str>,
    lang: Lang,
) -> AppResult<MessageContent> {
    let f = Fields {
        at: "",
        r: lang.request(),
    };
    match kind {
        MessageType::Video => video(&f, None, thumb_media_id, title, description),
        MessageType::Voice => Ok(MessageContent::Voice(Voice {
            format: format.to_owned(),
            media_id: None,
            recognition: None,
            url: None,
        })),
        _ => Err(AppError::Invalid(lang.sending().multipart_type.into())),
    }
}

/// A mini program card's checked fields, before its cover is known.
pub struct Card {
    title: String,
    appid: String,
    pagepath: String,
}

impl Card {
    fn with_thumb(self, thumb_media_id: &str) -> MessageContent {
        self.content(Some(thumb_media_id))
    }

    /// The card's content as stored; `thumb_media_id` is None while the cover is an upload
    /// not yet sent to WeChat.
    pub fn content(self, thumb_media_id: Option<&str>) -> MessageContent {
        MessageContent::MiniProgramPage(MiniProgramPage {
            title: self.title,
            appid: self.appid,
            pagepath: self.pagepath,
            thumb_url: None,
            thumb_media_id: thumb_media_id.map(str::to_owned),
        })
    }
}

/// A card with its cover uploaded with it (a multipart reply): its title and page checked,
/// for this mini program (`own_appid`) only.
pub fn card(
    own_appid: Option<&str>,
    title: &str,
    appid: Option<&str>,
    pagepath: &str,
    lang: Lang,
) -> AppResult<Card> {
    let f = Fields {
        at: "",
        r: lang.request(),
    };
    card_content(own_appid, &f, title, appid, pagepath)
}

fn card_content(
    own_appid: Option<&str>,
    f: &Fields<'_>,
    title: &str,
    appid: Option<&str>,
    pagepath: &str,
) -> AppResult<Card> {
    let own = own_appid.unwrap_or_default().to_owned();
    if let Some(given) = appid
        && !given.is_empty()
        && given != own
    {
        return Err(AppError::Invalid(f.r.own_appid.into()));
    }
    Ok(Card {
        title: f.text(title, "title", 200)?.to_owned(),
        appid: own,
        pagepath: f.text(pagepath, "pagepath", 1000)?.to_owned(),
    })
}

/// WeChat opens a mini program page from a text link only for the sender's own AppID.
fn check_miniprogram_links(appid: Option<&str>, text: &str, r: &RequestText) -> AppResult<()> {
    let appid = appid.unwrap_or_default();
    if miniprogram_link_appids(text).all(|given| given == Some(appid)) {
        Ok(())
    } else {
        Err(AppError::Invalid(r.link_appid.into()))
    }
}

/// The value of every `data-miniprogram-appid` attribute in `text`, read as a browser would:
/// any letter case, spaces around `=`, double, single or no quotes. None for one that cannot be
/// read (which is then refused).
fn miniprogram_link_appids(text: &str) -> impl Iterator<Item = Option<&str>> {
    const NAME: &str = "data-miniprogram-appid";
    let lower = text.to_ascii_lowercase();
    let starts: Vec<usize> = lower
        .match_indices(NAME)
        .map(|(i, _)| i + NAME.len())
        .collect();
    starts.into_iter().map(move |at| {
        let rest = text[at..].trim_start();
        let rest = rest.strip_prefix('=')?.trim_start();
        match rest.chars().next()? {
            q @ ('"' | '\'') => rest[1..].split(q).next(),
            _ => rest.split(|c: char| c.is_whitespace() || c == '>').next(),
        }
    })
}

#[cfg(test)]
mod tests {
    use super::miniprogram_link_appids;

    #[test]
    fn miniprogram_link_appids_are_read_however_they_are_spelled() {
        let found: Vec<_> = miniprogram_link_appids(
            r#"<a href="x" data-miniprogram-appid="wx1">a</a> <a DATA-MINIPROGRAM-APPID = 'wx2'>b</a> <a data-miniprogram-appid=wx3>c</a> <a data-miniprogram-appid>d</a>"#,
        )
        .collect();
        assert_eq!(found, vec![Some("wx1"), Some("wx2"), Some("wx3"), None]);
    }
}
