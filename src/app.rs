//! `AppState`, the router, middleware, and starting and stopping the server. `start` takes an
//! already bound listener, so tests bind port 0 and talk to the server at once.

use std::net::SocketAddr;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use anyhow::Context;
use axum::Router;
use axum::extract::{MatchedPath, Request};
use axum::http::{HeaderValue, header};
use axum::middleware::{self, Next};
use axum::response::IntoResponse;
use axum::response::Response;
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tower_http::csrf::CsrfLayer;
use tower_http::set_header::SetResponseHeaderLayer;
use tower_http::timeout::TimeoutLayer;

use crate::error::AppError;

use crate::accounts::{self, FirstAdmin};
use crate::config::Config;
use crate::delivery::{self, Delivery, TypingLimiter};
use crate::live::Live;
use crate::store::Store;
use crate::store::tokens;
use crate::web;
use crate::wechat::api::{BoxFuture, TokenStore, WechatApi};
use crate::wechat::crypto::Cipher;
use crate::writer::Writer;

/// Everything a handler may need; cheap to clone.
#[derive(Clone)]
pub struct AppState {
    pub config: Arc<Config>,
    pub store: Store,
    pub writer: Writer,
    pub live: Live,
    /// Present when the AppID and AppSecret are configured: kefu can send.
    pub api: Option<Arc<WechatApi>>,
    pub typing: Arc<TypingLimiter>,
    pub login_throttle: Arc<crate::web::auth::Throttle>,
    /// Present when both the EncodingAESKey and the AppID are configured.
    pub cipher: Option<Arc<Cipher>>,
    pub metrics: PrometheusHandle,
    /// The bot: auto-replies, handoff, transfer to WeChat's tool, auto-assignment.
    pub automation: crate::automation::Automation,
    /// Only in `kefu demo`: the fake WeChat API and the customer simulator.
    pub demo: Option<Arc<crate::demo::Demo>>,
}

pub fn router(state: AppState) -> Router {
    let csrf = csrf_layer(&state.config);
    Router::new()
        .merge(web::webhook::router(&state.config.webhook_path))
        .merge(web::api::router())
        .merge(web::rules::router())
        .merge(web::admin::router())
        .merge(web::canned::router())
        .merge(web::settings::router())
        .merge(web::ws::router())
        .merge(web::health::router())
        .merge(web::home::router())
        .merge(web::inbox::router())
        .merge(web::assets::router())
        .merge(web::demo::router())
        .merge(web::auth::router())
        .layer(middleware::from_fn(record_request))
        .layer(csrf)
        .layer(SetResponseHeaderLayer::if_not_present(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(
                "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
                 connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'",
            ),
        ))
        .layer(SetResponseHeaderLayer::if_not_present(
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        ))
        .layer(SetResponseHeaderLayer::if_not_present(
            header::X_FRAME_OPTIONS,
            HeaderValue::from_static("DENY"),
        ))
        .layer(SetResponseHeaderLayer::if_not_present(
            header::REFERRER_POLICY,
            HeaderValue::from_static("same-origin"),
        ))
        .layer(TimeoutLayer::with_status_code(
            axum::http::StatusCode::SERVICE_UNAVAILABLE,
            Duration::from_secs(30),
        ))
        .with_state(state)
}

/// Refuses cross-site state changes (Sec-Fetch-Site / Origin, tower-http's CsrfLayer): the
/// dashboard's cookie must not let another site post in a staff member's name. WeChat's pushes
/// come from a server, not a browser, and carry neither header, so they pass.
fn csrf_layer(
    config: &Config,
) -> CsrfLayer<impl Fn(tower_http::csrf::ProtectionError) -> Response + Clone + use<>> {
    let mut layer = CsrfLayer::new();
    if let Some(origin) = &config.public_url {
        layer = match layer.clone().add_trusted_origin(origin) {
            Ok(l) => l,
            Err(_) => layer,
        };
    }
    layer.with_rejection_response(|_| {
        AppError::Forbidden("cross-site requests that change data are refused".into())
            .into_response()
    })
}

/// Counts requests and their latency, labelled by route (not by raw path, which would let a
/// caller create unbounded label values).
async fn record_request(req: Request, next: Next) -> Response {
    let started = Instant::now();
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_owned(), |p| p.as_str().to_owned());
    let response = next.run(req).await;
    let status = response.status().as_u16().to_string();
    metrics::histogram!("kefu_http_request_seconds", "route" => route.clone())
        .record(started.elapsed().as_secs_f64());
    metrics::counter!("kefu_http_requests_total", "route" => route, "status" => status)
        .increment(1);
    response
}

/// The process-wide Prometheus recorder (metrics macros use a global recorder; several
/// servers in one test process share it).
fn metrics_handle() -> PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE
        .get_or_init(|| {
            let recorder = PrometheusBuilder::new().build_recorder();
            let handle = recorder.handle();
            // Another recorder may already be installed (a test harness); ours still renders.
            let _ = metrics::set_global_recorder(recorder);
            handle
        })
        .clone()
}

/// A running server.
pub struct Running {
    pub addr: SocketAddr,
    pub state: AppState,
    shutdown: oneshot::Sender<()>,
    server: JoinHandle<std::io::Result<()>>,
    writer: JoinHandle<()>,
    /// background loops (checkpoints, outbox, media): stopped with the server
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
    for missing in config.missing_wechat() {
        tracing::warn!("{missing}");
    }
    let cipher = match (&config.wechat.aes_key, &config.wechat.appid) {
        (Some(key), Some(appid)) => Some(Arc::new(Cipher::new(key.clone(), appid.clone()))),
        _ => None,
    };
    let (writer, writer_task) = Writer::start(&store)
        .await
        .context("cannot open the database for writing")?;
    let api = match (&config.wechat.appid, &config.wechat.secret) {
        (Some(appid), Some(secret)) => Some(Arc::new(
            WechatApi::new(
                &config.wechat.api_base,
                appid,
                secret.clone(),
                Arc::new(DbTokens {
                    store: store.clone(),
                    appid: appid.clone(),
                }),
            )
            .context("cannot set up the HTTP client for WeChat's API")?,
        )),
        _ => None,
    };
    let live = Live::new();
    let mut workers = vec![
        tokio::spawn(checkpoint_loop(store.clone())),
        tokio::spawn(web::live_render::run(
            store.clone(),
            live.clone(),
            config.reply_rules,
        )),
    ];
    let (automation, bot) = crate::automation::Automation::start(
        store.clone(),
        live.clone(),
        config.reply_rules,
        api.is_some(),
    )
    .await
    .context("cannot load the auto-reply rules and settings")?;
    workers.push(bot);
    if let Some(api) = &api {
        workers.extend(delivery::start(Delivery {
            api: api.clone(),
            store: store.clone(),
            writer: writer.clone(),
            live: live.clone(),
            config: config.delivery.clone(),
            media_dir: config.data_dir.join("media"),
        }));
    }
    let state = AppState {
        config: Arc::new(config),
        store,
        writer,
        live,
        api,
        typing: Arc::new(TypingLimiter::default()),
        login_throttle: Arc::default(),
        cipher,
        metrics: metrics_handle(),
        automation,
        demo,
    };
    let addr = listener.local_addr()?;
    let app = router(state.clone());
    let (shutdown, on_shutdown) = oneshot::channel::<()>();
    let server = tokio::spawn(async move {
        // no Nagle delay: live updates are small frames that must leave at once (with it,
        // a frame could wait for the client's delayed ACK, ~40 ms)
        let listener = axum::serve::ListenerExt::tap_io(listener, |tcp| {
            let _ = tcp.set_nodelay(true);
        });
        axum::serve(
            listener,
            app.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .with_graceful_shutdown(async {
            let _ = on_shutdown.await;
        })
        .await
    });
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

/// The access token lives in the database, shared by every process on it.
struct DbTokens {
    store: Store,
    appid: String,
}

impl TokenStore for DbTokens {
    fn load(&self) -> BoxFuture<'_, Option<(String, i64)>> {
        Box::pin(async move {
            tokens::load(self.store.pool(), &self.appid)
                .await
                .unwrap_or_else(|e| {
                    tracing::warn!(error = %e, "cannot read the stored access token");
                    None
                })
        })
    }
    fn save<'a>(&'a self, token: &'a str, expires_at: i64) -> BoxFuture<'a, ()> {
        Box::pin(async move {
            let now = crate::domain::now_millis();
            if let Err(e) =
                tokens::save(self.store.pool(), &self.appid, token, expires_at, now).await
            {
                tracing::warn!(error = %e, "cannot store the access token");
            }
        })
    }
    fn invalidate<'a>(&'a self, token: &'a str) -> BoxFuture<'a, ()> {
        Box::pin(async move {
            if let Err(e) = tokens::invalidate(self.store.pool(), &self.appid, token).await {
                tracing::warn!(error = %e, "cannot forget the failed access token");
            }
        })
    }
}

/// Keeps the WAL short, off the ingest writer's path (see `Store::checkpoint`), and forgets
/// ended sessions once an hour.
async fn checkpoint_loop(store: Store) {
    let mut every = tokio::time::interval(Duration::from_secs(1));
    every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    for tick in 0u64.. {
        every.tick().await;
        if let Err(e) = store.checkpoint().await {
            tracing::warn!(error = %e, "WAL checkpoint failed; will retry");
        }
        if tick % 3600 == 0 {
            let now = crate::domain::now_millis();
            if let Err(e) =
                crate::store::sessions::delete_expired(store.pool(), now, crate::web::auth::IDLE)
                    .await
            {
                tracing::warn!(error = %e, "cannot delete ended sessions; will retry");
            }
        }
    }
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
