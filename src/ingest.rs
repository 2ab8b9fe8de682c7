//! The webhook's hot path after verification: a parsed push becomes a stored message (through
//! the single `writer`), and the webhook answers `success` only once it is committed to disk.
//! The group commit that makes this fast is explained in `writer`.

use serde_json::json;

use crate::domain::MessageType;
use crate::live::{Event, Live};
use crate::store::inbound::{Inbound, Stored};
use crate::wechat::push::{Push, PushKind};
use crate::writer::{WriteError, Writer};

/// Stores a push durably and tells whoever watches; returns once it is committed.
pub async fn accept(writer: &Writer, live: &Live, push: &Push) -> Result<Stored, WriteError> {
    let message = to_inbound(push);
    let has_media = message.media_id.is_some();
    let stored = writer.store_push(message).await?;
    if let Stored::New {
        message_id,
        conversation_id,
        new_conversation,
        ..
    } = stored
    {
        live.publish(Event::MessageAdded {
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

/// What the store keeps of a push: its content as the JSON the API shows.
pub fn to_inbound(push: &Push) -> Inbound {
    let (kind, content, is_customer_message) = match &push.kind {
        PushKind::Text { content, .. } => (MessageType::Text, json!({ "text": content }), true),
        PushKind::Image {
            pic_url, media_id, ..
        } => (
            MessageType::Image,
            json!({ "media_id": media_id, "pic_url": pic_url }),
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
            MessageType::MiniProgramPage,
            json!({
                "title": title, "appid": app_id, "pagepath": page_path,
                "thumb_url": thumb_url, "thumb_media_id": thumb_media_id,
            }),
            true,
        ),
        PushKind::Event {
            event,
            session_from,
        } => (
            MessageType::Event,
            json!({ "event": event, "session_from": session_from }),
            false,
        ),
        // A message type kefu does not know yet (voice, video, …) is still the customer
        // talking when it has a MsgId; without one it is some other platform notice.
        PushKind::Unknown { msg_type, msg_id } => (
            MessageType::Unknown,
            json!({ "msg_type": msg_type, "raw": push.raw }),
            msg_id.is_some(),
        ),
    };
    let is_enter =
        matches!(&push.kind, PushKind::Event { event, .. } if event == "user_enter_tempsession");
    Inbound {
        openid: push.from_user.clone(),
        dedup_key: push.dedup_key(),
        kind,
        content: content.to_string(),
        wechat_time: push.create_time.saturating_mul(1000),
        is_customer_message,
        is_enter,
        session_from: match &push.kind {
            PushKind::Event { session_from, .. } if is_enter => session_from.clone(),
            _ => None,
        },
        // images, and the covers of mini program cards, are fetched and kept by kefu
        media_id: match &push.kind {
            PushKind::Image { media_id, .. } => Some(media_id.clone()),
            PushKind::MiniProgramPage { thumb_media_id, .. } if !thumb_media_id.is_empty() => {
                Some(thumb_media_id.clone())
            }
            _ => None,
        },
    }
}
