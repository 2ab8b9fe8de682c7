//! The webhook's hot path after verification: a parsed push becomes a stored message (through
//! the single `writer`), and the webhook answers `success` only once it is committed to disk.
//! The group commit that makes this fast is explained in `writer`.

use crate::domain::MessageContent;
use crate::domain::content::{
    Event, Image, Link, Location, MiniProgramPage, Text, Unknown, Video, Voice,
};
use crate::live::{Event as LiveEvent, Live};
use crate::store::inbound::{Inbound, Stored};
use crate::wechat::push::{Push, PushKind};
use crate::writer::{WriteError, Writer};

/// Stores a push durably and tells whoever watches; returns once it is committed.
pub async fn accept(
    writer: &Writer,
    live: &Live,
    channel_id: i64,
    push: &Push,
) -> Result<Stored, WriteError> {
    let message = to_inbound(channel_id, push).map_err(|e| WriteError::Failed(e.to_string()))?;
    let has_media = message.media_id.is_some();
    let stored = writer.store_push(message).await?;
    if let Stored::New {
        message_id,
        conversation_id,
        new_conversation,
        ..
    } = stored
    {
        live.publish(LiveEvent::MessageAdded {
            conversation_id,
            message_id,
            new_conversation,
        });
        if has_media {
            live.media_waiting();
        }
    }
    Ok(stored)
}

/// What the store keeps of a push: its content, written as the column's JSON text here, once.
pub fn to_inbound(channel_id: i64, push: &Push) -> serde_json::Result<Inbound> {
    let (content, is_customer_message) = match &push.kind {
        PushKind::Text { content, .. } => (
            MessageContent::Text(Text {
                text: content.clone(),
            }),
            true,
        ),
        PushKind::Image {
            pic_url, media_id, ..
        } => (
            MessageContent::Image(Image {
                media_id: Some(media_id.clone()),
                pic_url: Some(pic_url.clone()),
                url: None,
            }),
            true,
        ),
        PushKind::MiniProgramPage {
            title,
            app_id,
            page_path,
            thumb_url,
            thumb_media_id,
            ..
        } => (
            MessageContent::MiniProgramPage(MiniProgramPage {
                title: title.clone(),
                appid: app_id.clone(),
                pagepath: page_path.clone(),
                thumb_url: Some(thumb_url.clone()),
                thumb_media_id: Some(thumb_media_id.clone()),
            }),
            true,
        ),
        // an Official Account's messages: the customer talking, like a text
        PushKind::Voice {
            media_id,
            format,
            recognition,
            ..
        } => (
            MessageContent::Voice(Voice {
                media_id: Some(media_id.clone()),
                format: format.clone(),
                recognition: recognition.clone(),
                url: None,
            }),
            true,
        ),
        PushKind::Video {
            media_id,
            thumb_media_id,
            short,
            ..
        } => {
            let video = Video {
                description: None,
                media_id: Some(media_id.clone()),
                thumb_media_id: thumb_media_id.clone(),
                title: None,
                url: None,
            };
            let content = if *short {
                MessageContent::ShortVideo(video)
            } else {
                MessageContent::Video(video)
            };
            (content, true)
        }
        PushKind::Location {
            latitude,
            longitude,
            scale,
            label,
            ..
        } => (
            MessageContent::Location(Location {
                latitude: *latitude,
                longitude: *longitude,
                scale: *scale,
                label: label.clone(),
            }),
            true,
        ),
        PushKind::Link {
            title,
            description,
            url,
            ..
        } => (
            MessageContent::Link(Link {
                title: title.clone(),
                description: description.clone(),
                url: url.clone(),
                thumb_url: None,
            }),
            true,
        ),
        // events (a follow, a scan, a menu click, WeChat's own agents taking a session) are
        // things that happened, not the customer talking: no unread, no reply window
        PushKind::Event {
            event,
            session_from,
            details,
        } => (
            MessageContent::Event(Event {
                event: event.clone(),
                session_from: session_from.clone(),
                event_key: details.event_key.clone(),
                ticket: details.ticket.clone(),
                latitude: details.latitude,
                longitude: details.longitude,
                precision: details.precision,
                kf_account: details.kf_account.clone(),
                from_kf_account: details.from_kf_account.clone(),
                to_kf_account: details.to_kf_account.clone(),
            }),
            false,
        ),
        // A message type kefu does not know yet (a file, …) is still the customer
        // talking when it has a MsgId; without one it is some other platform notice.
        PushKind::Unknown { msg_type, msg_id } => (
            MessageContent::Unknown(Unknown {
                msg_type: Some(msg_type.clone()),
                raw: push.raw.clone(),
            }),
            msg_id.is_some(),
        ),
    };
    let is_enter =
        matches!(&push.kind, PushKind::Event { event, .. } if event == "user_enter_tempsession");
    Ok(Inbound {
        channel_id,
        openid: push.from_user.clone(),
        dedup_key: dedup_key(channel_id, push),
        kind: content.kind(),
        content: content.to_stored()?,
        wechat_time: push.create_time.saturating_mul(1000),
        is_customer_message,
        is_enter,
        session_from: match &push.kind {
            PushKind::Event { session_from, .. } if is_enter => session_from.clone(),
            _ => None,
        },
        // images, the covers of mini program cards, voice messages and videos are fetched
        // and kept by kefu (a video's cover is not: the player shows the video itself)
        media_id: match &push.kind {
            PushKind::Image { media_id, .. }
            | PushKind::Voice { media_id, .. }
            | PushKind::Video { media_id, .. } => Some(media_id.clone()),
            PushKind::MiniProgramPage { thumb_media_id, .. } if !thumb_media_id.is_empty() => {
                Some(thumb_media_id.clone())
            }
            _ => None,
        },
    })
}

/// The push's dedup key within its channel: WeChat's MsgIds are only known to be unique
/// within one account. The `default` channel keeps the bare key, so the pushes stored before
/// channels existed still recognise their retries.
fn dedup_key(channel_id: i64, push: &Push) -> String {
    match channel_id {
        crate::domain::channel::DEFAULT_CHANNEL_ID => push.dedup_key(),
        id => format!("{id}/{}", push.dedup_key()),
    }
}
