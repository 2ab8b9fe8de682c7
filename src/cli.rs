//! The `kefu` command line (docs/CONTRACT.md): serve, migrate, staff accounts, API tokens,
//! `simulate`, which sends one push to a running kefu exactly as WeChat would, `seed`, which
//! fills an empty database with synthetic conversations, and the operator's `backup` and
//! `doctor`.

use std::io::Read;
use std::path::PathBuf;

use anyhow::{Context, bail};
use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::config::Config;
use crate::domain::{Role, now_millis};
use crate::services::Caller;
use crate::services::accounts::{self, AccountRef, NewAccount};
use crate::store::Store;
use crate::store::{api_tokens, backup, seed, staff};
use crate::wechat::crypto::Cipher;
use crate::wechat::simulate::{self, SimulatedKind};

#[derive(Debug, Parser)]
#[command(
    name = "kefu",
    version,
    about = "Self-hosted helpdesk for WeChat Mini Program customer service"
)]
pub struct Cli {
    /// A TOML file with the same keys as the KEFU_* variables, in lower case without the prefix; options and variables win over it
    #[arg(long, global = true, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Every setting, as an option or its KEFU_* variable (read by `Config::load`)
    #[command(flatten)]
    pub settings: crate::config::Settings,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the server: webhook, JSON API, health and metrics. Applies pending migrations first.
    Serve,
    /// Run kefu on a throw-away data dir with a built-in fake WeChat API and a customer simulator page.
    Demo,
    /// Apply pending database migrations and exit.
    Migrate,
    /// Manage staff accounts.
    #[command(subcommand)]
    User(UserCommand),
    /// Manage API tokens.
    #[command(subcommand)]
    Token(TokenCommand),
    /// Manage channels: the mini programs and Official Accounts kefu serves.
    #[command(subcommand)]
    Channel(ChannelCommand),
    /// Send one push to a running kefu exactly as WeChat would (signed, encrypted when an AES key is configured).
    Simulate(SimulateArgs),
    /// Fill an empty database with synthetic conversations (for benchmarks and trying the inbox).
    Seed(SeedArgs),
    /// Write a consistent copy of the database to PATH, also while kefu is serving.
    Backup {
        /// Where the copy goes; must not exist yet
        path: PathBuf,
    },
    /// Check the configuration, the database, the disk, WeChat's API and the clock; one line each.
    Doctor,
}

#[derive(Debug, Args)]
pub struct SeedArgs {
    /// How many customers, one conversation each
    #[arg(long, default_value_t = 1000, value_parser = clap::value_parser!(u64).range(1..=seed::MAX_CONVERSATIONS))]
    pub conversations: u64,
    /// How many messages, spread over the conversations (at least one each)
    #[arg(long, default_value_t = 10000, value_parser = clap::value_parser!(u64).range(1..=seed::MAX_MESSAGES))]
    pub messages: u64,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum RoleArg {
    Admin,
    Agent,
}

impl From<RoleArg> for Role {
    fn from(r: RoleArg) -> Role {
        match r {
            RoleArg::Admin => Role::Admin,
            RoleArg::Agent => Role::Agent,
        }
    }
}

#[derive(Debug, Subcommand)]
pub enum UserCommand {
    /// Create a staff account; the password is read from standard input.
    Add {
        /// The sign-in name: letters, digits, `.`, `_` or `-`
        name: String,
        /// What the account may do: admins also manage users, rules and settings
        #[arg(long, value_enum)]
        role: RoleArg,
        /// The name colleagues see [default: NAME]
        #[arg(long, value_name = "TEXT")]
        display_name: Option<String>,
        /// Read the password from standard input (required: passwords never go on the command line)
        #[arg(long)]
        password_stdin: bool,
    },
    /// List staff accounts.
    List,
    /// Disable a staff account: its sessions end, and it can no longer sign in or use its
    /// tokens. The last enabled admin cannot be disabled.
    Disable {
        /// The account's sign-in name
        name: String,
    },
    /// Set a new password, read from standard input; the account's sessions end.
    Passwd {
        /// The account's sign-in name
        name: String,
        /// Read the password from standard input (required: passwords never go on the command line)
        #[arg(long)]
        password_stdin: bool,
    },
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum KindArg {
    Miniprogram,
    Officialaccount,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum FormatArg {
    Json,
    Xml,
}

#[derive(Debug, Subcommand)]
pub enum ChannelCommand {
    /// Add a channel; its AppSecret is read from standard input (an empty line: none, kefu
    /// only receives). Prints the channel's webhook path on a line of its own.
    Add {
        /// 1–32 characters of a-z, 0-9 and -; the webhook is KEFU_WEBHOOK_PATH/NAME
        name: String,
        /// What kind of WeChat account it is
        #[arg(long, value_enum)]
        kind: KindArg,
        /// The account's AppID (wx and 16 lowercase hex characters)
        #[arg(long)]
        appid: String,
        /// The Token set in the account's message-push settings (3–32 letters or digits)
        #[arg(long)]
        token: String,
        /// The 43-character EncodingAESKey, for safe and compatible mode
        #[arg(long, value_name = "KEY")]
        aes_key: Option<String>,
        /// The data format chosen in WeChat's console [default: told by each push]
        #[arg(long, value_enum)]
        format: Option<FormatArg>,
        /// The name agents see [default: NAME]
        #[arg(long, value_name = "TEXT")]
        display_name: Option<String>,
        /// Read the AppSecret from standard input (secrets never go on the command line)
        #[arg(long)]
        secret_stdin: bool,
    },
    /// List the channels: name, kind, AppID, webhook path, enabled. Secrets are never shown.
    List,
    /// Refuse a channel's pushes with 503 (WeChat retries); its conversations stay readable.
    Disable {
        /// The channel's name
        name: String,
    },
    /// Accept a disabled channel's pushes again.
    Enable {
        /// The channel's name
        name: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum TokenCommand {
    /// Print a new API bearer token for a staff user, once; only its hash is stored.
    Create {
        /// The staff account the token acts as
        name: String,
        /// A note to tell tokens apart [default: cli]
        #[arg(long, value_name = "TEXT")]
        label: Option<String>,
    },
    /// List a staff user's API tokens: id, label, created, last used (never the token).
    List {
        /// The staff account whose tokens are listed
        name: String,
    },
    /// Revoke an API token by its id (from `kefu token list`); a running kefu refuses it at once.
    Revoke {
        /// The token's id, the first column of `kefu token list`
        id: i64,
    },
}

#[derive(Debug, Args)]
pub struct SimulateArgs {
    /// The webhook URL [default: http://KEFU_LISTEN + KEFU_WEBHOOK_PATH]
    #[arg(long)]
    pub url: Option<String>,
    /// The simulated customer's openid
    #[arg(long, default_value = "o-simulated-customer")]
    pub openid: String,
    /// Push as this channel's WeChat account, to its webhook (signed with its Token, encrypted
    /// with its key) [default: the default channel, from the KEFU_WECHAT_* variables]
    #[arg(long, value_name = "NAME")]
    pub channel: Option<String>,
    #[command(flatten)]
    pub what: SimulateWhat,
}

#[derive(Debug, Args)]
#[group(required = true, multiple = false)]
pub struct SimulateWhat {
    /// A text message
    #[arg(long)]
    pub text: Option<String>,
    /// An image message
    #[arg(long)]
    pub image: bool,
    /// A mini program card
    #[arg(long)]
    pub card: bool,
    /// The customer opening the chat (user_enter_tempsession)
    #[arg(long)]
    pub enter: bool,
    /// A voice message (AMR, with a transcript), as an Official Account receives it
    #[arg(long)]
    pub voice: bool,
    /// A video, as an Official Account receives it
    #[arg(long)]
    pub video: bool,
    /// A shared location, as an Official Account receives it
    #[arg(long)]
    pub location: bool,
    /// A shared link, as an Official Account receives it
    #[arg(long)]
    pub link: bool,
    /// An Official Account's event, with the fields WeChat gives it: subscribe, unsubscribe,
    /// SCAN, CLICK, VIEW, LOCATION, kf_create_session, kf_close_session, kf_switch_session
    #[arg(long, value_name = "NAME")]
    pub event: Option<String>,
}

/// Runs one command to completion.
pub async fn run(cli: Cli, config: Config) -> anyhow::Result<()> {
    match cli.command {
        Command::Serve => {
            let listener = tokio::net::TcpListener::bind(config.listen)
                .await
                .with_context(|| format!("cannot listen on {} (KEFU_LISTEN)", config.listen))?;
            crate::app::start(config, listener)
                .await?
                .until_signal()
                .await
        }
        Command::Demo => crate::demo::run(config).await,
        Command::Migrate => {
            let store = open_store(&config).await?;
            store.migrate().await.context("cannot apply migrations")?;
            println!("migrations applied to {}", config.database_url);
            Ok(())
        }
        Command::User(cmd) => user(cmd, &config).await,
        Command::Token(cmd) => token(cmd, &config).await,
        Command::Channel(cmd) => channel(cmd, &config).await,
        Command::Simulate(args) => simulate(args, &config).await,
        Command::Seed(args) => seed(args, &config).await,
        Command::Backup { path } => {
            let started = std::time::Instant::now();
            let copied = backup::backup(&config.database_url, &path).await?;
            println!(
                "copied {} messages to {} ({:.1} MiB in {:.1} s)",
                copied.messages,
                path.display(),
                copied.bytes as f64 / (1024.0 * 1024.0),
                started.elapsed().as_secs_f64()
            );
            Ok(())
        }
        Command::Doctor => {
            let checks = crate::doctor::run(&config).await;
            for check in &checks {
                println!("{}", check.line());
            }
            let failed = checks.iter().filter(|c| !c.is_ok()).count();
            if failed > 0 {
                bail!(
                    "{failed} of {} checks are not ok (see the lines above)",
                    checks.len()
                );
            }
            Ok(())
        }
    }
}

async fn seed(args: SeedArgs, config: &Config) -> anyhow::Result<()> {
    if args.messages < args.conversations {
        bail!("--messages must be at least --conversations: every conversation has a message");
    }
    let store = open_store(config).await?;
    let existing = seed::conversation_count(&store).await?;
    if existing > 0 {
        bail!(
            "the database {} already has {existing} conversations; kefu seed fills only an empty one",
            config.database_url
        );
    }
    let started = std::time::Instant::now();
    let made = seed::synthetic_counted(&store, args.conversations, args.messages, now_millis())
        .await
        .context("cannot write the synthetic conversations")?;
    // the search index and the reports' figures too, so that `kefu serve` does not start by
    // catching up a history
    let indexing = store.clone();
    tokio::task::spawn_blocking(move || {
        crate::writer::catch_up(&indexing, crate::search::index_turn)?;
        crate::writer::catch_up(&indexing, crate::writer::reports_turn)
    })
    .await
    .context("the search indexing stopped")?
    .context("cannot index the synthetic messages for search and reports")?;
    let took = started.elapsed();
    store.close().await;
    let assigned = match made.staff {
        0 => "none assigned: there is no staff account yet".to_owned(),
        n => format!("some assigned to the {n} staff accounts"),
    };
    println!(
        "made {} conversations with {} messages in {:.1} s ({assigned})",
        made.conversations,
        made.messages,
        took.as_secs_f64()
    );
    Ok(())
}

async fn open_store(config: &Config) -> anyhow::Result<Store> {
    config.prepare_data_dir()?;
    let store = Store::open(&config.database_url)
        .await
        .with_context(|| format!("cannot open the database {}", config.database_url))?;
    store.migrate().await.context("cannot apply migrations")?;
    Ok(store)
}

fn read_password(password_stdin: bool) -> anyhow::Result<String> {
    if !password_stdin {
        bail!("pass the password on standard input with --password-stdin");
    }
    let mut input = String::new();
    std::io::stdin()
        .take(accounts::MAX_PASSWORD_BYTES as u64 + 2)
        .read_to_string(&mut input)
        .context("cannot read the password from standard input")?;
    // one line; the trailing newline of `echo` is not part of it
    let password = input.lines().next().unwrap_or_default().to_owned();
    accounts::check_password(&password)?;
    Ok(password)
}

async fn user(cmd: UserCommand, config: &Config) -> anyhow::Result<()> {
    match cmd {
        UserCommand::Add {
            name,
            role,
            display_name,
            password_stdin,
        } => {
            accounts::check_username(&name)?;
            let password = read_password(password_stdin)?;
            let store = open_store(config).await?;
            let new = NewAccount {
                username: &name,
                display_name: display_name.as_deref().unwrap_or_default(),
                role: role.into(),
                password: &password,
            };
            let id = accounts::add(&store, Caller::Cli, new).await?;
            println!("created {} {name} (id {id})", Role::from(role));
        }
        UserCommand::List => {
            let store = open_store(config).await?;
            println!(
                "{:<6} {:<20} {:<6} {:<9} display name",
                "id", "name", "role", "state"
            );
            for u in staff::list(&store).await? {
                let state = if u.disabled { "disabled" } else { "active" };
                println!(
                    "{:<6} {:<20} {:<6} {:<9} {}",
                    u.id, u.username, u.role, state, u.display_name
                );
            }
        }
        UserCommand::Disable { name } => {
            let store = open_store(config).await?;
            let ended =
                accounts::set_disabled(&store, Caller::Cli, AccountRef::Name(&name), true).await?;
            println!("disabled {name}; {}", sessions_ended(ended));
        }
        UserCommand::Passwd {
            name,
            password_stdin,
        } => {
            let password = read_password(password_stdin)?;
            let store = open_store(config).await?;
            let account = AccountRef::Name(&name);
            let ended =
                accounts::reset_password(&store, Caller::Cli, account, &password, None).await?;
            println!("password changed for {name}; {}", sessions_ended(ended));
        }
    }
    Ok(())
}

async fn channel(cmd: ChannelCommand, config: &Config) -> anyhow::Result<()> {
    use crate::domain::channel::{ChannelKind, DataFormat};
    use crate::services::channels::{self as service, ChannelInput, ChannelRef, Context};

    let store = open_store(config).await?;
    let key = crate::secrets::SecretKey::load(
        config.secret_key.as_ref().map(|k| k.expose()),
        &config.data_dir,
    )?;
    let cx = Context {
        key: &key,
        default_from_environment: config.wechat.defines_default_channel(),
    };
    match cmd {
        ChannelCommand::Add {
            name,
            kind,
            appid,
            token,
            aes_key,
            format,
            display_name,
            secret_stdin,
        } => {
            if !secret_stdin {
                bail!(
                    "--secret-stdin is required: the AppSecret is read from standard input (an empty line for none)"
                );
            }
            let mut input = String::new();
            std::io::stdin()
                .read_to_string(&mut input)
                .context("cannot read the AppSecret from standard input")?;
            let secret = input.lines().next().unwrap_or_default().trim().to_owned();
            let input = ChannelInput {
                name: Some(name),
                kind: Some(match kind {
                    KindArg::Miniprogram => ChannelKind::MiniProgram,
                    KindArg::Officialaccount => ChannelKind::OfficialAccount,
                }),
                appid: Some(appid),
                token: Some(token),
                aes_key,
                secret: Some(secret),
                format: Some(format.map(|f| match f {
                    FormatArg::Json => DataFormat::Json,
                    FormatArg::Xml => DataFormat::Xml,
                })),
                display_name,
                enabled: None,
            };
            let channel = service::add(&store, cx, Caller::Cli, &input).await?;
            let sending = if channel.secret_set {
                "receives and sends"
            } else {
                "receives only: no AppSecret"
            };
            println!(
                "added the channel {} ({} {}; {sending}); point WeChat's message push at:",
                channel.name, channel.kind, channel.appid
            );
            println!("{}", channel.webhook_path(&config.webhook_path));
        }
        ChannelCommand::List => {
            println!(
                "{:<20} {:<16} {:<19} {:<30} enabled",
                "name", "kind", "appid", "webhook"
            );
            for c in service::list(&store).await? {
                let appid = if c.is_default() {
                    config.wechat.appid.clone().unwrap_or(c.appid.clone())
                } else {
                    c.appid.clone()
                };
                println!(
                    "{:<20} {:<16} {:<19} {:<30} {}",
                    c.name,
                    c.kind,
                    if appid.is_empty() { "-" } else { &appid },
                    c.webhook_path(&config.webhook_path),
                    if c.enabled { "yes" } else { "no" }
                );
            }
        }
        ChannelCommand::Disable { name } => {
            service::set_enabled(&store, cx, Caller::Cli, ChannelRef::Name(&name), false).await?;
            println!(
                "disabled the channel {name}: its pushes are refused with 503 until it is enabled"
            );
        }
        ChannelCommand::Enable { name } => {
            service::set_enabled(&store, cx, Caller::Cli, ChannelRef::Name(&name), true).await?;
            println!("enabled the channel {name}");
        }
    }
    Ok(())
}

async fn token(cmd: TokenCommand, config: &Config) -> anyhow::Result<()> {
    let store = open_store(config).await?;
    match cmd {
        TokenCommand::Create { name, label } => {
            let label = label.unwrap_or_else(|| "cli".to_owned());
            let account = AccountRef::Name(&name);
            let token = accounts::create_token(&store, Caller::Cli, account, &label).await?;
            println!("{token}");
        }
        TokenCommand::List { name } => {
            let user = staff::by_username(store.pool(), &name)
                .await?
                .ok_or_else(|| accounts::AccountError::NoSuchUser(name.clone()))?;
            let tokens = api_tokens::of_user(store.pool(), user.id).await?;
            println!("{:<6} {:<20} {:<20} last used", "id", "label", "created");
            for t in tokens {
                let last_used = t.last_used_at.map_or_else(|| "never".to_owned(), minute);
                println!(
                    "{:<6} {:<20} {:<20} {last_used}",
                    t.id,
                    t.label,
                    minute(t.created_at)
                );
            }
        }
        TokenCommand::Revoke { id } => {
            let (username, label) = accounts::revoke_token(&store, Caller::Cli, id).await?;
            println!("revoked token {id} ({label}) of {username}");
        }
    }
    Ok(())
}

/// A time to the minute, in UTC, for a table a person reads.
fn minute(ms: crate::domain::Millis) -> String {
    let t = crate::domain::rfc3339(ms);
    // 2026-12-07T01:23:45.678Z -> 2026-12-07 01:23Z
    match (t.get(..10), t.get(11..16)) {
        (Some(day), Some(hm)) => format!("{day} {hm}Z"),
        _ => t,
    }
}

/// "1 session ended", "2 sessions ended".
fn sessions_ended(n: u64) -> String {
    match n {
        1 => "1 session ended".to_owned(),
        n => format!("{n} sessions ended"),
    }
}

async fn simulate(args: SimulateArgs, config: &Config) -> anyhow::Result<()> {
    // another channel: its Token, key and format from the store, as the server reads them
    let channel = match args.channel.as_deref() {
        None | Some(crate::domain::channel::DEFAULT_CHANNEL_NAME) => None,
        Some(name) => {
            let store = open_store(config).await?;
            let key = crate::secrets::SecretKey::load(
                config.secret_key.as_ref().map(|k| k.expose()),
                &config.data_dir,
            )?;
            let channels = crate::channels::Channels::load(store, key, config).await?;
            Some(
                channels
                    .by_name(name)
                    .with_context(|| format!("there is no channel named {name:?}"))?,
            )
        }
    };
    let (token, cipher, format, path) = match &channel {
        Some(c) => (
            c.token
                .clone()
                .with_context(|| format!("the channel {} has no Token", c.channel.name))?,
            c.cipher.as_deref().cloned(),
            c.format,
            c.channel.webhook_path(&config.webhook_path),
        ),
        None => (
            config
                .wechat
                .token
                .clone()
                .context("KEFU_WECHAT_TOKEN must be set to sign a simulated push")?,
            match (&config.wechat.aes_key, &config.wechat.appid) {
                (Some(key), Some(appid)) => Some(Cipher::new(key.clone(), appid.clone())),
                (Some(_), None) => {
                    bail!("KEFU_WECHAT_APPID must be set to encrypt a simulated push")
                }
                _ => None,
            },
            config.wechat.format,
            config.webhook_path.clone(),
        ),
    };
    if args.openid.is_empty()
        || args.openid.len() > 128
        || !args
            .openid
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
    {
        bail!("--openid must be 1 to 128 letters, digits, dashes or underscores");
    }
    let kind = match args.what {
        SimulateWhat { text: Some(t), .. } => SimulatedKind::Text(t),
        SimulateWhat { image: true, .. } => SimulatedKind::Image {
            media_id: format!("sim-media-{}", simulate::random_msg_id()),
        },
        SimulateWhat { card: true, .. } => SimulatedKind::Card {
            thumb_media_id: None,
        },
        SimulateWhat { voice: true, .. } => SimulatedKind::Voice {
            media_id: format!("sim-voice-{}", simulate::random_msg_id()),
            recognition: Some("你好，我想问一下订单".to_owned()),
        },
        SimulateWhat { video: true, .. } => SimulatedKind::Video {
            media_id: format!("sim-video-{}", simulate::random_msg_id()),
            short: false,
        },
        SimulateWhat { location: true, .. } => SimulatedKind::Location {
            latitude: 23.134521,
            longitude: 113.358803,
            label: "广州市天河区天河路 385 号".to_owned(),
        },
        SimulateWhat { link: true, .. } => SimulatedKind::Link {
            title: "kefu".to_owned(),
            description: "A self-hosted helpdesk for WeChat".to_owned(),
            url: "https://example.com/kefu".to_owned(),
        },
        SimulateWhat {
            event: Some(event), ..
        } => {
            if event.is_empty()
                || event.len() > 64
                || !event.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
            {
                bail!(
                    "--event must be an event name such as {}",
                    simulate::OFFICIAL_EVENTS.join(", ")
                );
            }
            SimulatedKind::Event { event, key: None }
        }
        _ => SimulatedKind::Enter {
            session_from: "kefu-simulate".to_owned(),
        },
    };
    let url = args.url.unwrap_or_else(|| {
        let mut addr = config.listen;
        if addr.ip().is_unspecified() {
            addr.set_ip(std::net::Ipv4Addr::LOCALHOST.into());
        }
        format!("http://{addr}{path}")
    });
    let client = reqwest::Client::builder()
        .timeout(std::time::Duration::from_secs(10))
        .build()?;
    let target = simulate::Target {
        webhook_url: &url,
        token: token.expose(),
        cipher: cipher.as_ref(),
        format,
    };
    let (status, answer) = simulate::post(&client, &target, &kind, &args.openid)
        .await
        .with_context(|| format!("cannot reach kefu at {url}"))?;
    if !status.is_success() {
        bail!("kefu answered {status}: {answer}");
    }
    println!("kefu answered {}: {answer}", status.as_u16());
    Ok(())
}
