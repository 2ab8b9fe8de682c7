//! The media worker: fetches customers' images (and an Official Account customer's voice
//! messages and videos) from WeChat and keeps a copy under `KEFU_DATA_DIR/media`, retrying on
//! failure; and the checks on image bytes and types that uploads share.
//!
//! A voice message is kept as WeChat gives it (AMR, sometimes Speex), under its own type and
//! extension: no browser plays AMR, and kefu converts nothing (the dashboard offers it for
//! download), so no decoder runs on customers' bytes.

use std::path::Path;
use std::time::Duration;

use super::{Delivery, MAX_IMAGE_BYTES, backoff};
use crate::domain::{MessageType, now_millis};
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

/// Largest voice message kefu keeps (WeChat's limit is 2 MB).
pub const MAX_VOICE_BYTES: usize = 10 * 1024 * 1024;
/// Largest video kefu keeps (WeChat's limit is 10 MB).
pub const MAX_VIDEO_BYTES: usize = 25 * 1024 * 1024;

/// The audio type of `bytes` by its magic number, and its extension.
pub fn sniff_audio(bytes: &[u8]) -> Option<(&'static str, &'static str)> {
    if bytes.starts_with(b"#!AMR\n") {
        Some(("audio/amr", "amr"))
    } else if bytes.starts_with(b"#!AMR-WB\n") {
        Some(("audio/amr-wb", "awb"))
    } else if bytes.starts_with(b"#!SILK") || bytes.starts_with(b"\x02#!SILK") {
        Some(("audio/silk", "silk"))
    } else if bytes.starts_with(b"OggS") {
        Some(("audio/ogg", "ogg"))
    } else if bytes.starts_with(b"ID3")
        || (bytes.len() > 1 && bytes[0] == 0xFF && bytes[1] & 0xE0 == 0xE0)
    {
        Some(("audio/mpeg", "mp3"))
    } else if bytes.starts_with(b"RIFF") && bytes.get(8..12) == Some(b"WAVE") {
        Some(("audio/wav", "wav"))
    } else {
        None
    }
}

/// The video type of `bytes` by its magic number, and its extension.
pub fn sniff_video(bytes: &[u8]) -> Option<(&'static str, &'static str)> {
    match (bytes.get(4..8), bytes.get(8..12)) {
        (Some(b"ftyp"), Some(b"qt  ")) => Some(("video/quicktime", "mov")),
        (Some(b"ftyp"), _) => Some(("video/mp4", "mp4")),
        _ if bytes.starts_with(&[0x1A, 0x45, 0xDF, 0xA3]) => Some(("video/webm", "webm")),
        _ => None,
    }
}

/// The extension of a content type WeChat declared for a voice message or a video, when the
/// bytes said nothing.
fn declared_extension(content_type: &str) -> Option<&'static str> {
    match content_type
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase()
        .as_str()
    {
        "audio/amr" => Some("amr"),
        "audio/speex" | "audio/x-speex" | "voice/speex" => Some("spx"),
        "audio/mpeg" | "audio/mp3" => Some("mp3"),
        "video/mp4" => Some("mp4"),
        _ => None,
    }
}

/// How a fetched file is kept: its content type (by its bytes first, else as WeChat declared
/// it), its extension, and the most bytes kefu keeps of that kind.
fn kept_as(kind: MessageType, declared: String, bytes: &[u8]) -> (String, &'static str, usize) {
    let sniffed = match kind {
        MessageType::Voice => sniff_audio(bytes),
        MessageType::Video | MessageType::ShortVideo => sniff_video(bytes),
        _ => {
            let content_type = sniff_image(bytes).map_or(declared, str::to_owned);
            let ext = image_extension(&content_type).unwrap_or("bin");
            return (content_type, ext, MAX_IMAGE_BYTES);
        }
    };
    let limit = match kind {
        MessageType::Voice => MAX_VOICE_BYTES,
        _ => MAX_VIDEO_BYTES,
    };
    match sniffed {
        Some((content_type, ext)) => (content_type.to_owned(), ext, limit),
        None => match declared_extension(&declared) {
            Some(ext) => (declared, ext, limit),
            // kept, but never served as something a browser would run
            None => ("application/octet-stream".to_owned(), "bin", limit),
        },
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
        Ok((declared, bytes)) => match kept_as(f.kind, declared, &bytes) {
            (_, _, limit) if bytes.len() > limit => media::Outcome::Failed {
                message_id: f.message_id,
                error: format!("the file is larger than {} MiB", limit >> 20),
            },
            (content_type, ext, _) => {
                let relative = format!("in/{}.{ext}", f.message_id);
                write_outcome(d, &f, relative, content_type, &bytes).await
            }
        },
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

/// Keeps the fetched bytes; what to record of it.
async fn write_outcome(
    d: &Delivery,
    f: &media::Fetch,
    relative: String,
    content_type: String,
    bytes: &[u8],
) -> media::Outcome {
    match write_file(&d.media_dir, &relative, bytes).await {
        Ok(()) => media::Outcome::Stored {
            message_id: f.message_id,
            path: relative,
            content_type,
        },
        Err(e) => media::Outcome::Retry {
            message_id: f.message_id,
            attempts: f.attempts + 1,
            next_attempt_at: now_millis() + backoff(d.config.backoff_ms, f.attempts),
            error: format!("cannot write the file to disk: {e}"),
        },
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

    #[test]
    fn voice_messages_and_videos_are_kept_under_their_own_type() {
        let amr = b"#!AMR\n\x3c\x48".to_vec();
        assert_eq!(
            kept_as(MessageType::Voice, "audio/amr".into(), &amr),
            ("audio/amr".into(), "amr", MAX_VOICE_BYTES)
        );
        // the bytes win over what was declared
        assert_eq!(
            kept_as(MessageType::Voice, "application/octet-stream".into(), &amr).1,
            "amr"
        );
        // Speex has no magic number: as declared
        assert_eq!(
            kept_as(MessageType::Voice, "voice/speex".into(), b"\x01\x02"),
            ("voice/speex".into(), "spx", MAX_VOICE_BYTES)
        );
        let mp4 = b"\x00\x00\x00\x18ftypmp42rest".to_vec();
        assert_eq!(
            kept_as(
                MessageType::ShortVideo,
                "application/octet-stream".into(),
                &mp4
            ),
            ("video/mp4".into(), "mp4", MAX_VIDEO_BYTES)
        );
        // something unknown is never kept as something a browser would run
        assert_eq!(
            kept_as(MessageType::Video, "text/html".into(), b"<script>"),
            ("application/octet-stream".into(), "bin", MAX_VIDEO_BYTES)
        );
        // images as before
        assert_eq!(
            kept_as(MessageType::Image, "image/jpeg".into(), &[0x89, b'P']).1,
            "jpg"
        );
    }
}
