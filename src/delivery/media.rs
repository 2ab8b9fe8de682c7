//! The media worker: fetches customers' images from WeChat and keeps a copy under
//! `KEFU_DATA_DIR/media`, retrying on failure; and the checks on image bytes and types that
//! uploads share.

use std::path::Path;
use std::time::Duration;

use super::{Delivery, MAX_IMAGE_BYTES, backoff};
use crate::domain::now_millis;
use crate::live::Event;
use crate::store::media;
use crate::writer::Update;

/// The file extension for an image content type kefu keeps.
pub fn image_extension(content_type: &str) -> Option<&'static str> {
    match content_type.split(';').next().unwrap_or_default().trim() {
        "image/jpeg" | "image/jpg" => Some("jpg"),
        "image/png" => Some("png"),
        "image/gif" => Some("gif"),
        "image/webp" => Some("webp"),
        _ => None,
    }
}

/// The image type of `bytes` by its magic number (uploads are not trusted by their name).
pub fn sniff_image(bytes: &[u8]) -> Option<&'static str> {
    if bytes.starts_with(&[0xFF, 0xD8, 0xFF]) {
        Some("image/jpeg")
    } else if bytes.starts_with(b"\x89PNG\r\n\x1a\n") {
        Some("image/png")
    } else if bytes.starts_with(b"GIF87a") || bytes.starts_with(b"GIF89a") {
        Some("image/gif")
    } else {
        None
    }
}

pub(super) async fn media_loop(d: Delivery) {
    const AT_ONCE: i64 = 8;
    loop {
        match media::due_fetches(d.store.pool(), now_millis(), AT_ONCE).await {
            Ok(due) if !due.is_empty() => {
                let mut tasks = tokio::task::JoinSet::new();
                for f in due {
                    let d = d.clone();
                    tasks.spawn(async move { fetch_one(&d, f).await });
                }
                while tasks.join_next().await.is_some() {}
                continue;
            }
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "cannot read pending media; will retry"),
        }
        let now = now_millis();
        let wait = match media::next_fetch_at(d.store.pool()).await.ok().flatten() {
            Some(at) if at > now => Duration::from_millis((at - now) as u64),
            Some(_) => Duration::from_millis(200),
            None => Duration::from_secs(60),
        };
        tokio::select! {
            _ = d.live.media_wakeup() => {}
            _ = tokio::time::sleep(wait) => {}
        }
    }
}

/// Incoming images are retried for a day; WeChat keeps temporary media for three.
const MEDIA_RETRY_FOR_ATTEMPTS: i64 = 20;

async fn fetch_one(d: &Delivery, f: media::Fetch) {
    let fetched = match d.channels.api(f.channel_id) {
        Some(api) => api.get_media(&f.media_id).await,
        None => Err(crate::wechat::api::ApiError::cannot_send()),
    };
    let outcome = match fetched {
        Ok((_, bytes)) if bytes.len() > MAX_IMAGE_BYTES => media::Outcome::Failed {
            message_id: f.message_id,
            error: format!("the image is larger than {} MiB", MAX_IMAGE_BYTES >> 20),
        },
        Ok((content_type, bytes)) => {
            let content_type = sniff_image(&bytes).map_or(content_type, str::to_owned);
            let ext = image_extension(&content_type).unwrap_or("bin");
            let relative = format!("in/{}.{ext}", f.message_id);
            match write_file(&d.media_dir, &relative, &bytes).await {
                Ok(()) => media::Outcome::Stored {
                    message_id: f.message_id,
                    path: relative,
                    content_type,
                },
                Err(e) => media::Outcome::Retry {
                    message_id: f.message_id,
                    attempts: f.attempts + 1,
                    next_attempt_at: now_millis() + backoff(d.config.backoff_ms, f.attempts),
                    error: format!("cannot write the image to disk: {e}"),
                },
            }
        }
        Err(e) if e.is_transient() && f.attempts < MEDIA_RETRY_FOR_ATTEMPTS => {
            media::Outcome::Retry {
                message_id: f.message_id,
                attempts: f.attempts + 1,
                next_attempt_at: now_millis() + backoff(d.config.backoff_ms, f.attempts),
                error: e.to_string(),
            }
        }
        Err(e) => media::Outcome::Failed {
            message_id: f.message_id,
            error: e.to_string(),
        },
    };
    let stored = matches!(outcome, media::Outcome::Stored { .. });
    if let Err(e) = d.writer.apply(Update::Media(outcome)).await {
        tracing::error!(message.id = f.message_id, error = %e, "cannot record a media fetch");
        return;
    }
    if stored {
        d.live.publish(Event::MediaStored {
            conversation_id: f.conversation_id,
            message_id: f.message_id,
        });
    }
}

/// Writes a file atomically (temporary name, then rename) so a reader never sees half of it.
pub async fn write_file(dir: &Path, relative: &str, bytes: &[u8]) -> std::io::Result<()> {
    let path = dir.join(relative);
    if let Some(parent) = path.parent() {
        tokio::fs::create_dir_all(parent).await?;
    }
    let tmp = path.with_extension("part");
    tokio::fs::write(&tmp, bytes).await?;
    tokio::fs::rename(&tmp, &path).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn images_are_recognised_by_their_bytes() {
        assert_eq!(sniff_image(&[0xFF, 0xD8, 0xFF, 0xE0]), Some("image/jpeg"));
        assert_eq!(sniff_image(b"\x89PNG\r\n\x1a\nrest"), Some("image/png"));
        assert_eq!(sniff_image(b"<svg"), None);
    }
}
