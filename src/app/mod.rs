//! `AppState`, and starting and stopping the server. `start` takes an already bound listener,
//! so tests bind port 0 and talk to the server at once.
//!
//! The routes and middleware are in `web::router`; here, in files of their own: the metrics
//! recorder (`metrics`), the periodic jobs (`jobs`), the stored access token (`tokens`) and the
//! HTTP connections with their timeouts and cap (`serve`).

use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::Context;
use metrics_exporter_prometheus::PrometheusHandle;
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use crate::config::Config;
use crate::delivery::{self, Delivery, TypingLimiter};
use crate::live::{Fanout, Live};
use crate::services::accounts::{self, FirstAdmin};
use crate::store::Store;
use crate::web;
use crate::writer::Writer;

mod jobs;
mod metrics;
mod serve;
pub(crate) mod tokens;

use crate::channels::Channels;
use crate::secrets::SecretKey;

/// Everything a handler may need, behind one `Arc`: axum clones the state for every request,
/// and one reference count is all that clone costs (cloning each field cost a dozen atomic
/// increments and the database options' map of pragmas, allocated and freed per request).
#[derive(Clone)]
pub struct AppState {
    shared: Arc<Shared>,
}

impl std::ops::Deref for AppState {
    type Target = Shared;

    fn deref(&self) -> &Shared {
        &self.shared
    }
}

/// What `AppState` shares.
pub struct Shared {
    pub config: Arc<Config>,
    pub store: Store,
    pub writer: Writer,
    pub live: Live,
    /// The WeChat accounts kefu serves, each with its Token, cipher and API client.
    pub channels: Channels,
    pub typing: Arc<TypingLimiter>,
    pub login_throttle: Arc<crate::web::auth::Throttle>,
    pub metrics: PrometheusHandle,
    /// The bot: auto-replies, handoff, transfer to WeChat's tool, auto-assignment.
    pub automation: crate::automation::Automation,
    /// Only in `kefu demo`: the fake WeChat API and the customer simulator.
    pub demo: Option<Arc<crate::demo::Demo>>,
    /// The dashboards' thread, at a lower priority: `/ws` connections and the live renderer.
    pub fanout: Fanout,
}

/// A running server.
pub struct Running {
    pub addr: SocketAddr,
    pub state: AppState,
    shutdown: oneshot::Sender<()>,
    server: JoinHandle<std::io::Result<()>>,
    writer: JoinHandle<()>,
    /// background loops (sessions, snoozes, live rendering, outbox, media): stopped with the server
    workers: Vec<JoinHandle<()>>,
}

impl Running {
    /// Stops accepting, lets in-flight requests finish, drains the ingest writer.
    pub async fn stop(self) -> anyhow::Result<()> {
        let Running {
            state,
            shutdown,
            server,
            writer,
            workers,
            ..
        } = self;
        state.live.close_dashboards();
        let _ = shutdown.send(());
        if let Err(e) = state.automation.flush_hits().await {
            tracing::warn!(error = %e, "cannot record the rules' last hits");
        }
        // A worker stopped mid-send leaves its outbox row in place: it is sent after restart.
        for w in &workers {
            w.abort();
        }
        for w in workers {
            let _ = w.await;
        }
        server.await.context("the server task failed")??;
        let store = state.store.clone();
        drop(state);
        writer.await.context("the ingest writer failed")?;
        store.close().await;
        Ok(())
    }

    /// Runs until ctrl-c or SIGTERM, then stops gracefully.
    pub async fn until_signal(self) -> anyhow::Result<()> {
        shutdown_signal().await;
        tracing::info!("shutting down: finishing requests in flight");
        self.stop().await
    }
}

/// Opens the store, migrates, makes sure there is an admin, and serves on `listener`.
pub async fn start(config: Config, listener: TcpListener) -> anyhow::Result<Running> {
    start_with(config, listener, None).await
}

/// `start`, with the demo's fake WeChat API and customer simulator when given.
pub async fn start_with(
    mut config: Config,
    listener: TcpListener,
    demo: Option<Arc<crate::demo::Demo>>,
) -> anyhow::Result<Running> {
    // the address actually bound (KEFU_LISTEN may say port 0)
    config.listen = listener.local_addr()?;
    config.prepare_data_dir()?;
    let store = Store::open(&config.database_url)
        .await
        .with_context(|| format!("cannot open the database {}", config.database_url))?;
    store.migrate().await.context("cannot apply migrations")?;
    match accounts::ensure_first_admin(&store, config.admin_password.as_ref().map(|s| s.expose()))
        .await
        .context("cannot create the first admin account")?
    {
        FirstAdmin::Existing => {}
        FirstAdmin::FromConfig if config.admin_password_generated => {
            tracing::info!(
                "created the staff account admin with a generated password, printed once"
            )
        }
        FirstAdmin::FromConfig => {
            tracing::info!("created the staff account admin with KEFU_ADMIN_PASSWORD")
        }
        FirstAdmin::Generated(password) => {
            // Shown once, on the terminal, never logged.
            println!(
                "\n  kefu created the staff account `admin` with the password: {password}\n  Change it with `kefu user passwd admin --password-stdin`.\n"
            );
        }
    }
    for missing in config.missing() {
        tracing::warn!("{}", missing.sentence());
    }
    let (writer, writer_task) = Writer::start(&store)
        .await
        .context("cannot open the database for writing")?;
    let key = SecretKey::load(
        config.secret_key.as_ref().map(|k| k.expose()),
        &config.data_dir,
    )?;
    let channels = Channels::load(store.clone(), key, &config)
        .await
        .context("cannot read the channels")?;
    let live = Live::new();
    let fanout = Fanout::start().context("cannot start the dashboards' thread")?;
    let mut workers = vec![
        tokio::spawn(jobs::sessions_loop(store.clone())),
        tokio::spawn(jobs::snooze_loop(store.clone(), live.clone())),
        fanout.spawn(web::live_render::run(
            store.clone(),
            live.clone(),
            config.reply_rules,
            channels.clone(),
        )),
    ];
    let (automation, bot) = crate::automation::Automation::start(
        store.clone(),
        live.clone(),
        config.reply_rules,
        channels.clone(),
    )
    .await
    .context("cannot load the auto-reply rules and settings")?;
    workers.push(bot);
    workers.extend(delivery::start(Delivery {
        channels: channels.clone(),
        store: store.clone(),
        writer: writer.clone(),
        live: live.clone(),
        config: config.delivery.clone(),
        media_dir: config.data_dir.join("media"),
    }));
    workers.push(tokio::spawn(channels.clone().watch()));
    // `/metrics` without authentication on an address of its own, when asked
    let metrics_listener = match config.metrics_listen {
        Some(at) => {
            let l = TcpListener::bind(at)
                .await
                .with_context(|| format!("cannot listen on KEFU_METRICS_LISTEN ({at})"))?;
            config.metrics_listen = Some(l.local_addr()?);
            Some(l)
        }
        None => None,
    };
    let shared = Shared {
        config: Arc::new(config),
        store,
        writer,
        live,
        channels,
        typing: Arc::new(TypingLimiter::default()),
        login_throttle: Arc::default(),
        metrics: metrics::metrics_handle(),
        automation,
        demo,
        fanout,
    };
    let state = AppState {
        shared: Arc::new(shared),
    };
    if let Some(l) = metrics_listener {
        let app = web::health::metrics_router(web::health::MetricsSource::of(&state));
        tracing::info!(listen = %state.config.metrics_listen.map_or_else(String::new, |a| a.to_string()), "serving /metrics without authentication");
        // stopped with the workers: it holds no writer, so nothing waits for it
        workers.push(tokio::spawn(async move {
            if let Err(e) = serve::serve(l, app, Some(64), std::future::pending()).await {
                tracing::warn!(error = %e, "the metrics listener stopped");
            }
        }));
    }
    let addr = listener.local_addr()?;
    let app = web::router::router(state.clone());
    let (shutdown, on_shutdown) = oneshot::channel::<()>();
    let max_connections = state.config.max_connections;
    let server = tokio::spawn(serve::serve(listener, app, max_connections, async {
        let _ = on_shutdown.await;
    }));
    tracing::info!(listen = %addr, webhook = %state.config.webhook_path, "kefu is serving");
    Ok(Running {
        addr,
        state,
        shutdown,
        server,
        writer: writer_task,
        workers,
    })
}

async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(s) => s,
                Err(_) => {
                    let _ = ctrl_c.await;
                    return;
                }
            };
        tokio::select! {
            _ = ctrl_c => {},
            _ = term.recv() => {},
        }
    }
    #[cfg(not(unix))]
    {
        let _ = ctrl_c.await;
    }
}
