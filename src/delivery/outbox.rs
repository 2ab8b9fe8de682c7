//! The outbox worker: sends queued messages in order per conversation, several conversations
//! at once, retries transient failures with jittered backoff for a bounded time, and records
//! every outcome (`sent` or `failed` with WeChat's reason) through the writer.

use std::collections::HashSet;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{Map, Value, json};
use tokio::sync::{Notify, Semaphore};

use super::{Delivery, backoff};
use crate::domain::{MessageContent, MessageStatus, Millis, now_millis};
use crate::live::Event;
use crate::store::outbox::{self, Outcome, Pending};
use crate::wechat::api::{ApiError, UploadKind};
use crate::writer::Update;

/// The body of `custom/send` for a stored message; `media_id` is the attachment kefu uploaded.
pub fn send_body(
    openid: &str,
    content: &MessageContent,
    media_id: Option<&str>,
) -> Result<Value, String> {
    match content {
        MessageContent::Text(t) => {
            Ok(json!({ "touser": openid, "msgtype": "text", "text": { "content": t.text } }))
        }
        MessageContent::Image(image) => {
            // an uploaded file's media_id, else the one the reply named (already on WeChat)
            let media_id = media_id
                .or(image.media_id.as_deref().filter(|s| !s.is_empty()))
                .ok_or("the image was not uploaded")?;
            Ok(json!({ "touser": openid, "msgtype": "image", "image": { "media_id": media_id } }))
        }
        MessageContent::Link(l) => Ok(json!({ "touser": openid, "msgtype": "link", "link": {
            "title": l.title, "description": l.description,
            // a reply always has its cover (`services::replies`); a customer's link is never sent
            "url": l.url, "thumb_url": l.thumb_url.as_deref().unwrap_or_default(),
        }})),
        MessageContent::MiniProgramPage(card) => {
            let thumb = media_id
                .or(card.thumb_media_id.as_deref().filter(|s| !s.is_empty()))
                .ok_or("the card has no cover image")?;
            Ok(
                json!({ "touser": openid, "msgtype": "miniprogrampage", "miniprogrampage": {
                    "title": card.title, "pagepath": card.pagepath, "thumb_media_id": thumb,
                }}),
            )
        }
        // an Official Account's (`services::replies` refuses them on a mini program)
        MessageContent::Voice(voice) => {
            let media_id = media_id
                .or(voice.media_id.as_deref().filter(|s| !s.is_empty()))
                .ok_or("the voice message was not uploaded")?;
            Ok(json!({ "touser": openid, "msgtype": "voice", "voice": { "media_id": media_id } }))
        }
        MessageContent::Video(video) => {
            let media_id = media_id
                .or(video.media_id.as_deref().filter(|s| !s.is_empty()))
                .ok_or("the video was not uploaded")?;
            // WeChat's optional fields only when the reply has them: a cover, a title, words
            let mut fields = Map::new();
            fields.insert("media_id".into(), media_id.into());
            let optional = [
                ("thumb_media_id", &video.thumb_media_id),
                ("title", &video.title),
                ("description", &video.description),
            ];
            for (key, value) in optional {
                if let Some(value) = value.as_deref().filter(|v| !v.is_empty()) {
                    fields.insert(key.into(), value.into());
                }
            }
            Ok(json!({ "touser": openid, "msgtype": "video", "video": fields }))
        }
        MessageContent::News(news) => {
            let mut article = Map::new();
            article.insert("title".into(), news.title.as_str().into());
            article.insert("description".into(), news.description.as_str().into());
            article.insert("url".into(), news.url.as_str().into());
            if let Some(picurl) = news.picurl.as_deref().filter(|p| !p.is_empty()) {
                article.insert("picurl".into(), picurl.into());
            }
            // one article: WeChat refuses more in a customer-service message (45008)
            Ok(json!({ "touser": openid, "msgtype": "news", "news": { "articles": [article] } }))
        }
        MessageContent::MsgMenu(menu) => {
            let list: Vec<Value> = menu
                .items
                .iter()
                .map(|item| json!({ "id": item.id, "content": item.content }))
                .collect();
            Ok(json!({ "touser": openid, "msgtype": "msgmenu", "msgmenu": {
                "head_content": menu.head_content, "list": list, "tail_content": menu.tail_content,
            }}))
        }
        MessageContent::Event(_)
        | MessageContent::Note(_)
        | MessageContent::Unknown(_)
        | MessageContent::ShortVideo(_)
        | MessageContent::Location(_) => {
            Err(format!("a {} message cannot be sent", content.kind()))
        }
    }
}

fn lock(m: &Mutex<Dispatch>) -> std::sync::MutexGuard<'_, Dispatch> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// What the outbox loop knows about sends in flight.
#[derive(Default)]
struct Dispatch {
    /// conversations with a send in flight: their next message waits
    in_flight: HashSet<i64>,
    /// outbox rows finished since the last query started: that query may have read them
    /// before their outcome was committed, and must not send them again
    finished: HashSet<i64>,
}

pub(super) async fn outbox_loop(d: Delivery) {
    let permits = Arc::new(Semaphore::new(d.config.concurrency));
    let dispatch: Arc<Mutex<Dispatch>> = Arc::default();
    let finished = Arc::new(Notify::new());
    // Sends belong to this loop: when it is stopped, dropping the set aborts them, and their
    // messages (still in the outbox) go out after the restart.
    let mut sends = tokio::task::JoinSet::new();
    loop {
        while sends.try_join_next().is_some() {}
        let free = permits.available_permits();
        if free > 0 {
            let busy = {
                let mut s = lock(&dispatch);
                s.finished.clear();
                s.in_flight.len()
            };
            match outbox::due(d.store.pool(), now_millis(), (free + busy) as i64).await {
                Ok(rows) => {
                    for row in rows {
                        let Ok(permit) = permits.clone().try_acquire_owned() else {
                            break;
                        };
                        {
                            let mut s = lock(&dispatch);
                            if s.finished.contains(&row.outbox_id)
                                || !s.in_flight.insert(row.conversation_id)
                            {
                                continue;
                            }
                        }
                        let (d, dispatch, finished) =
                            (d.clone(), dispatch.clone(), finished.clone());
                        sends.spawn(async move {
                            let (conversation, outbox_id) = (row.conversation_id, row.outbox_id);
                            deliver_one(&d, row).await;
                            {
                                let mut s = lock(&dispatch);
                                s.in_flight.remove(&conversation);
                                s.finished.insert(outbox_id);
                            }
                            drop(permit);
                            finished.notify_one();
                        });
                    }
                }
                Err(e) => tracing::warn!(error = %e, "cannot read the outbox; will retry"),
            }
        }
        // Sleep until new work, a finished send, or the next retry falls due.
        let now = now_millis();
        let next = outbox::next_due_at(d.store.pool()).await.ok().flatten();
        let wait = match next {
            Some(at) if at > now => Duration::from_millis((at - now) as u64),
            _ => Duration::from_secs(1),
        };
        tokio::select! {
            _ = d.live.outbox_wakeup() => {}
            _ = finished.notified() => {
                // Let a few more sends finish before asking the database again: under load
                // this turns one outbox query per send into one per handful, for 5 ms of delay.
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            _ = tokio::time::sleep(wait) => {}
        }
    }
}

/// One attempt at one message, recorded through the writer.
async fn deliver_one(d: &Delivery, p: Pending) {
    let outcome = attempt(d, &p).await;
    let status = match &outcome {
        Outcome::Sent { .. } => Some(MessageStatus::Sent),
        Outcome::Failed { message, code, .. } => {
            tracing::warn!(message.id = p.message_id, wechat.errcode = %code, reason = %message, "a reply failed");
            Some(MessageStatus::Failed)
        }
        Outcome::Retry { error, .. } => {
            tracing::info!(message.id = p.message_id, reason = %error, "a reply will be retried");
            None
        }
        Outcome::Uploaded { .. } => None,
    };
    if let Err(e) = d.writer.apply(Update::Delivery(outcome)).await {
        // Not recorded: the row stays due and is attempted again.
        tracing::error!(message.id = p.message_id, error = %e, "cannot record a delivery outcome");
        return;
    }
    match status {
        Some(status) => {
            metrics::counter!("kefu_replies_total", "status" => status.as_str()).increment(1);
            d.live.publish(Event::MessageStatus {
                conversation_id: p.conversation_id,
                message_id: p.message_id,
                status,
            });
        }
        None => metrics::counter!("kefu_replies_total", "status" => "retry").increment(1),
    }
}

async fn attempt(d: &Delivery, p: &Pending) -> Outcome {
    let now = now_millis();
    let failed = |code: &str, message: String| Outcome::Failed {
        outbox_id: p.outbox_id,
        message_id: p.message_id,
        contact_id: p.contact_id,
        code: code.to_owned(),
        message,
    };
    let Some(api) = d.channels.api(p.channel_id) else {
        return retry_or_fail(d, p, ApiError::cannot_send(), now);
    };
    // Upload the attachment once; its media_id is kept for retries.
    let mut media_id = p.media_id.clone();
    if media_id.is_none()
        && let (Some(path), Some(file_type)) = (&p.file_path, &p.file_type)
    {
        let bytes = match tokio::fs::read(d.media_dir.join(path)).await {
            Ok(b) => b,
            Err(e) => {
                return failed(
                    "attachment_missing",
                    format!("kefu's copy of the attachment cannot be read: {e}"),
                );
            }
        };
        // the attachment is the message itself, or (a card's cover) an image
        let kind = match &p.content {
            MessageContent::Voice(_) => UploadKind::Voice,
            MessageContent::Video(_) => UploadKind::Video,
            _ => UploadKind::Image,
        };
        match api
            .upload_media(kind, &file_name(path), file_type, bytes)
            .await
        {
            Ok(id) => {
                let _ = d
                    .writer
                    .apply(Update::Delivery(Outcome::Uploaded {
                        outbox_id: p.outbox_id,
                        media_id: id.clone(),
                    }))
                    .await;
                media_id = Some(id);
            }
            Err(e) => return retry_or_fail(d, p, e, now),
        }
    }
    let body = match send_body(&p.openid, &p.content, media_id.as_deref()) {
        Ok(b) => b,
        Err(reason) => return failed("invalid_message", reason),
    };
    match api.send(&body).await {
        Ok(()) => Outcome::Sent {
            outbox_id: p.outbox_id,
            message_id: p.message_id,
            content: media_id.map(|id| {
                let mut content = p.content.clone();
                content.set_uploaded_media(&id);
                content
            }),
        },
        Err(e) => retry_or_fail(d, p, e, now),
    }
}

fn retry_or_fail(d: &Delivery, p: &Pending, e: ApiError, now: Millis) -> Outcome {
    let first = p.first_attempt_at.unwrap_or(now);
    let attempts = p.attempts + 1;
    if e.is_transient() && now - first < d.config.retry_for_ms {
        return Outcome::Retry {
            outbox_id: p.outbox_id,
            attempts,
            first_attempt_at: first,
            next_attempt_at: now + backoff(d.config.backoff_ms, p.attempts),
            error: e.to_string(),
        };
    }
    let message = if e.is_transient() {
        format!(
            "{} (gave up after {attempts} attempts)",
            e.to_string().trim_end_matches("; kefu will retry")
        )
    } else {
        e.to_string()
    };
    Outcome::Failed {
        outbox_id: p.outbox_id,
        message_id: p.message_id,
        contact_id: p.contact_id,
        code: e.code().to_owned(),
        message,
    }
}

fn file_name(path: &str) -> String {
    Path::new(path).file_name().map_or_else(
        || "image.jpg".to_owned(),
        |n| n.to_string_lossy().into_owned(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn send_bodies_follow_wechats_shapes() {
        use crate::domain::content::{Image, MiniProgramPage, Text};
        let text = send_body("o1", &MessageContent::text("你好"), None).unwrap();
        assert_eq!(
            text,
            json!({"touser":"o1","msgtype":"text","text":{"content":"你好"}})
        );
        let photo = MessageContent::Image(Image {
            media_id: None,
            pic_url: None,
            url: None,
        });
        let image = send_body("o1", &photo, Some("m1")).unwrap();
        assert_eq!(image["image"]["media_id"], "m1");
        assert!(send_body("o1", &photo, None).is_err());
        // an image the reply named by its media_id (already on WeChat) goes out as it is
        let named = MessageContent::Image(Image {
            media_id: Some("m-named".into()),
            pic_url: None,
            url: None,
        });
        let image = send_body("o1", &named, None).unwrap();
        assert_eq!(image["image"]["media_id"], "m-named");
        let card = MessageContent::MiniProgramPage(MiniProgramPage {
            title: "t".into(),
            appid: String::new(),
            pagepath: "p".into(),
            thumb_url: None,
            thumb_media_id: Some("m2".into()),
        });
        let card = send_body("o1", &card, None).unwrap();
        assert_eq!(card["miniprogrampage"]["thumb_media_id"], "m2");
        let note = MessageContent::Note(Text { text: "x".into() });
        assert!(send_body("o1", &note, None).is_err());
    }

    #[test]
    fn an_official_accounts_replies_follow_wechats_shapes() {
        use crate::domain::content::{MenuItem, MsgMenu, News, Video, Voice};
        let voice = MessageContent::Voice(Voice {
            format: "amr".into(),
            media_id: None,
            recognition: None,
            url: None,
        });
        assert!(send_body("o1", &voice, None).is_err());
        assert_eq!(
            send_body("o1", &voice, Some("v1")).unwrap(),
            json!({"touser":"o1","msgtype":"voice","voice":{"media_id":"v1"}})
        );
        let mut video = Video {
            description: None,
            media_id: Some("m1".into()),
            thumb_media_id: None,
            title: None,
            url: None,
        };
        assert_eq!(
            send_body("o1", &MessageContent::Video(video.clone()), None).unwrap(),
            json!({"touser":"o1","msgtype":"video","video":{"media_id":"m1"}})
        );
        video.thumb_media_id = Some("t1".into());
        video.title = Some("标题".into());
        video.description = Some("d".into());
        assert_eq!(
            send_body("o1", &MessageContent::Video(video), Some("up")).unwrap(),
            json!({"touser":"o1","msgtype":"video","video":{
                "media_id":"up","thumb_media_id":"t1","title":"标题","description":"d"}})
        );
        let news = News {
            description: String::new(),
            picurl: None,
            title: "t".into(),
            url: "https://a.cn".into(),
        };
        assert_eq!(
            send_body("o1", &MessageContent::News(news), None).unwrap(),
            json!({"touser":"o1","msgtype":"news","news":{"articles":[
                {"title":"t","description":"","url":"https://a.cn"}]}})
        );
        let menu = MessageContent::MsgMenu(MsgMenu {
            head_content: "h".into(),
            items: vec![MenuItem {
                content: "满意".into(),
                id: "101".into(),
            }],
            tail_content: String::new(),
        });
        assert_eq!(
            send_body("o1", &menu, None).unwrap(),
            json!({"touser":"o1","msgtype":"msgmenu","msgmenu":{
                "head_content":"h","list":[{"id":"101","content":"满意"}],"tail_content":""}})
        );
    }
}
