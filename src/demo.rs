//! `kefu demo`: the whole product on a throw-away data dir, with the built-in fake WeChat API
//! and a customer simulator page, so a newcomer sees a message arrive, an answer go out and
//! arrive on the "phone" without a WeChat account. Everything the customer does goes through
//! the real webhook as a signed, encrypted push; every reply goes through the real outbox to
//! the fake API.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context;

use crate::config::{Config, Secret};
use crate::services::Caller;
use crate::services::accounts::{self, AccountRef};
use crate::wechat::crypto::{AesKey, Cipher};
use crate::wechat::fake::{FakeConfig, FakeWechat};
use crate::wechat::push::Format;
use crate::wechat::simulate::{self, SimulatedKind};

/// WeChat's shape (`wx` and 16 lowercase hex characters), which kefu checks at start.
const APPID: &str = "wxde00000000000001";
const SECRET: &str = "demo-app-secret";
const TOKEN: &str = "demo-token";
/// The demo's Official Account (公众号), a channel beside the mini program.
pub const OA_CHANNEL: &str = "oa-demo";
const OA_APPID: &str = "wxde00000000000002";
const OA_SECRET: &str = "demo-oa-app-secret";
const OA_TOKEN: &str = "demoOaToken";

/// How the simulator pushes to one channel's webhook as WeChat would.
struct Target {
    webhook_url: String,
    token: &'static str,
    cipher: Cipher,
    format: Format,
}

/// What the simulator page needs: the fake API (to see replies) and how to push as WeChat to
/// each of the demo's channels (the mini program `default`, and the Official Account).
pub struct Demo {
    pub fake: FakeWechat,
    mini_program: Target,
    official_account: Target,
    http: reqwest::Client,
}

/// The demo photo a simulated customer sends.
pub const PHOTO: &[u8] = include_bytes!("../static/demo-photo.png");

/// The demo voice message: an AMR file (RFC 4867's storage format) of one second without
/// speech, fifty NO_DATA frames, as WeChat keeps voice messages.
pub fn voice_amr() -> Vec<u8> {
    let mut amr = b"#!AMR\n".to_vec();
    amr.extend_from_slice(&[0x7C; 50]);
    amr
}

impl Demo {
    /// Sends `kind` from `openid` to kefu's webhook as WeChat would (to the Official Account's
    /// when `official_account`); returns kefu's answer.
    pub async fn push(
        &self,
        openid: &str,
        kind: SimulatedKind,
        official_account: bool,
    ) -> anyhow::Result<String> {
        match &kind {
            SimulatedKind::Image { media_id }
            | SimulatedKind::Card {
                thumb_media_id: Some(media_id),
            } => self.fake.add_media(media_id, "image/png", PHOTO.to_vec()),
            SimulatedKind::Voice { media_id, .. } => {
                self.fake.add_media(media_id, "audio/amr", voice_amr());
            }
            _ => {}
        }
        let channel = if official_account {
            &self.official_account
        } else {
            &self.mini_program
        };
        let target = simulate::Target {
            webhook_url: &channel.webhook_url,
            token: channel.token,
            cipher: Some(&channel.cipher),
            format: channel.format,
        };
        let (status, text) = simulate::post(&self.http, &target, &kind, openid).await?;
        anyhow::ensure!(status.is_success(), "kefu answered {status}: {text}");
        // a passive reply comes encrypted, as WeChat would receive it: shown decrypted
        let answer = crate::wechat::push::encrypted_field(text.as_bytes(), channel.format)
            .ok()
            .and_then(|encrypt| channel.cipher.decrypt(&encrypt).ok())
            .and_then(|plain| String::from_utf8(plain).ok());
        Ok(answer.unwrap_or(text))
    }
}

/// Runs the demo until ctrl-c.
pub async fn run(mut config: Config) -> anyhow::Result<()> {
    let data_dir = std::env::temp_dir().join(format!(
        "kefu-demo-{}",
        accounts::random_secret(6).replace(['-', '_'], "x")
    ));
    let fake = FakeWechat::start(FakeConfig::new(APPID, SECRET).with_account(OA_APPID, OA_SECRET))
        .await
        .context("cannot start the fake WeChat API")?;
    let aes_key_text = random_aes_key();
    let aes_key = AesKey::from_encoding_key(&aes_key_text)
        .map_err(|e| anyhow::anyhow!("cannot make a demo key: {e}"))?;
    // KEFU_ADMIN_PASSWORD when given; else one made up here, printed below (and the log
    // must not claim it came from the variable)
    let (admin_password, generated) = match &config.admin_password {
        Some(p) => (p.expose().to_owned(), false),
        None => (accounts::random_secret(9), true),
    };

    config.data_dir = data_dir.clone();
    config.database_url = format!("sqlite://{}/kefu.db", data_dir.display());
    config.wechat.token = Some(Secret::new(TOKEN));
    config.wechat.aes_key = Some(aes_key.clone());
    config.wechat.appid = Some(APPID.to_owned());
    config.wechat.secret = Some(Secret::new(SECRET));
    config.wechat.api_base = fake.base_url();
    config.wechat.format = Format::Json;
    config.admin_password = Some(Secret::new(admin_password.clone()));
    config.admin_password_generated = generated;
    let shown_password = if generated {
        admin_password
    } else {
        "KEFU_ADMIN_PASSWORD".to_owned()
    };

    let listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .with_context(|| format!("cannot listen on {} (KEFU_LISTEN)", config.listen))?;
    let addr: SocketAddr = listener.local_addr()?;
    let base = format!("http://{addr}");
    let oa_aes_key = random_aes_key();
    let oa_cipher = Cipher::new(
        AesKey::from_encoding_key(&oa_aes_key)
            .map_err(|e| anyhow::anyhow!("cannot make a demo key: {e}"))?,
        OA_APPID,
    );
    let demo = Arc::new(Demo {
        fake,
        mini_program: Target {
            webhook_url: format!("{base}{}", config.webhook_path),
            token: TOKEN,
            cipher: Cipher::new(aes_key, APPID),
            format: Format::Json,
        },
        official_account: Target {
            webhook_url: format!("{base}{}/{OA_CHANNEL}", config.webhook_path),
            token: OA_TOKEN,
            cipher: oa_cipher,
            format: Format::Xml,
        },
        http: reqwest::Client::new(),
    });
    let running = crate::app::start_with(config, listener, Some(demo)).await?;
    add_official_account(&running.state, &oa_aes_key).await?;
    let token = accounts::create_token(
        &running.state.store,
        Caller::System,
        AccountRef::Name("admin"),
        "demo",
    )
    .await?;
    println!(
        "\n  kefu demo is running on a throw-away data dir ({dir})\n\n  \
         1. Sign in as an agent: {base}/login  (admin / {shown_password})\n  \
         2. In another window, write as a customer: {base}/demo\n  \
         3. Watch the message arrive in the inbox, open it and answer; the reply appears on\n     \
            the customer's page. Auto-replies and the welcome message: {base}/admin\n\n  \
         The JSON API works too:\n     \
            curl -s -H 'Authorization: Bearer {token}' {base}/api/v1/conversations\n\n  \
         Press ctrl-c to stop; the data dir is deleted.\n",
        dir = data_dir.display(),
    );
    let result = running.until_signal().await;
    remove_dir(data_dir);
    result
}

/// The demo's second channel: an Official Account at the same fake WeChat API.
async fn add_official_account(state: &crate::app::AppState, aes_key: &str) -> anyhow::Result<()> {
    use crate::domain::channel::{ChannelKind, DataFormat};
    use crate::services::channels::{self, ChannelInput};
    let input = ChannelInput {
        name: Some(OA_CHANNEL.to_owned()),
        kind: Some(ChannelKind::OfficialAccount),
        appid: Some(OA_APPID.to_owned()),
        token: Some(OA_TOKEN.to_owned()),
        aes_key: Some(aes_key.to_owned()),
        secret: Some(OA_SECRET.to_owned()),
        format: Some(Some(DataFormat::Xml)),
        display_name: Some("演示公众号".to_owned()),
        enabled: None,
    };
    channels::add(
        &state.store,
        state.channels.context(),
        Caller::System,
        &input,
    )
    .await?;
    state.channels.reload().await?;
    Ok(())
}

fn remove_dir(dir: PathBuf) {
    if let Err(e) = std::fs::remove_dir_all(&dir) {
        eprintln!(
            "kefu: could not remove the demo data dir {}: {e}",
            dir.display()
        );
    }
}

/// A random 43-character EncodingAESKey, as WeChat's console generates.
fn random_aes_key() -> String {
    use rand::Rng;
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    let mut rng = rand::rng();
    (0..43)
        .map(|_| ALPHABET[rng.random_range(0..ALPHABET.len())] as char)
        .collect()
}
