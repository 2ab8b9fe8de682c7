//! What a reply to a customer may contain, checked once for the replies agents send and the
//! replies the bot's rules carry: the kinds WeChat's customer service API sends (text, image,
//! link, mini program card) and the private note, each field within WeChat's limits, and
//! mini program links and cards only for this mini program's own AppID (WeChat opens no other).
//! Content is stored as the JSON object docs/CONTRACT.md shapes.
//!
//! The content types below are the contract's shapes (`web::api` reads them from a body, the
//! rules console from its form); a refused field is named by its path, in the language of
//! whoever asked.

use serde::Deserialize;

use crate::delivery;
use crate::domain::MessageContent;
use crate::domain::content::{Image, Link, MiniProgramPage, Text};
use crate::error::{AppError, AppResult};
use crate::i18n::{Lang, RequestText, fill};

/// A checked reply, ready to queue (with its image, for an upload) or to keep in a rule.
pub struct Reply {
    pub content: MessageContent,
    pub file: Option<(Vec<u8>, &'static str)>,
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
    };
    Ok(Reply {
        content,
        file: None,
    })
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
