//! Soak benchmark (issue #11, part 10): kefu under a steady mixed load for ten minutes, to see
//! that nothing grows, nothing fails and the webhook stays fast throughout.
//!
//!     cargo bench --bench soak
//!
//! On a fresh data dir the release binary adds an admin and an agent (`kefu user add`) and an
//! API token for each (`kefu token create`); `kefu serve` then runs against the fake WeChat API
//! (`kefu::wechat::fake`, served from this process as in the delivery bench). Through the API
//! the admin adds one enabled rule (`contains` 价格 → a text reply). Each of the 100 "agent"
//! customers writes once, so their conversations exist; then `BENCH_SOAK_DASHBOARDS` (200)
//! WebSocket dashboards connect to `/ws` with the admin's token and, for `BENCH_SOAK_SECS`
//! (600) seconds:
//!
//! - safe-mode (encrypted) JSON text pushes arrive at `BENCH_SOAK_RATE` (300) pushes/s, open
//!   loop (each timed from when it was due, so a stall shows): 10 % from the 100 agent
//!   customers, the rest from 5,000 "bot" customers, `BENCH_SOAK_KEYWORD_PCT` (10) % of all
//!   pushes from bot customers with the rule's keyword, which the bot answers through the fake
//!   WeChat API;
//! - the agent replies at `BENCH_SOAK_REPLY_RATE` (10) replies/s, `POST
//!   /api/v1/conversations/{id}/messages` with the agent's token, round robin over the agent
//!   customers' conversations (each of those customers writes every 3 s or so, so WeChat's
//!   window and quota of 5 replies per customer message never refuse one);
//! - every dashboard reads every frame (tokio-tungstenite answers kefu's pings, so the 30 s
//!   heartbeats are exercised too).
//!
//! Why 300 pushes/s: the inbox bench measured about one core of kefu for 500 pushes/s fanned
//! out to 200 dashboards, and this bench's reader of those frames shares the two cores; at 300
//! (plus about 40 replies/s, each also an event for every dashboard) kefu needs about half a
//! core and the bench a third, which leaves the machine headroom, so the p99 shows kefu and not
//! a starved CPU. The bench prints the CPU each side used per minute, and what other processes
//! took, to tell the two apart.
//!
//! Per minute (pushes by the minute they were due, the rest by when it happened): pushes sent
//! and acknowledged, p50/p99/max time to `success`, auto-replies due (keyword pushes
//! acknowledged), agent replies posted and accepted (202 `queued`), replies the fake WeChat API
//! accepted, errors (a push answered other than 200 `success` or not at all within 10 s, a
//! reply not accepted, a dashboard's WebSocket closed or told to reload), and at the minute's
//! end kefu's RSS (`VmRSS` of `/proc/PID/status`), its open file descriptors (`/proc/PID/fd`,
//! and how many of them are not sockets), the jobs waiting for the bot and the replies waiting
//! in the outbox (kefu's own gauges, from `/metrics`), the dashboards still connected, and CPU
//! (kefu's, this bench's and every other process's, in % of one core).
//!
//! At the end the bench waits (at most `BENCH_SOAK_DRAIN_SECS`, 300) for the fake API to have
//! every reply and prints how long that took (a bot that fell behind catches up then); then it
//! stops kefu and reads the database through `kefu::store`: every acknowledged push stored,
//! every accepted agent reply and every auto-reply due stored and `sent`; and every dashboard
//! must have read one `message_added` frame per message stored while it was connected. It
//! prints a Markdown table (one row per minute) and a verdict against the targets: RSS and
//! open fds flat after the first minute (no later minute more than 10 % above minute 1's:
//! growth is what a leak shows, a fall is idle connections closed or memory given back), no
//! errors, p99 under 10 ms in every minute. It exits non-zero when there were errors or
//! something acknowledged or accepted is missing or not delivered.
//!
//! `BENCH_KEFU_BIN=/path/to/kefu` runs another kefu binary, as in the other benches.

mod common;

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::*;
use futures_util::StreamExt;
use hyper::Uri;
use kefu::domain::{Direction, MessageContent, MessageStatus, SenderKind};
use kefu::store::conversations::{AssigneeFilter, ListFilter};
use kefu::wechat::crypto::{AesKey, Cipher};
use kefu::wechat::fake::{FakeConfig, FakeWechat};
use rand::Rng;
use serde_json::{Value, json};
use tokio::net::TcpStream;
use tokio::sync::watch;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

const SECRET: &str = "bench-secret";
const PASSWORD: &str = "bench-admin-password";
/// The rule's keyword, and what the bot answers to it.
const KEYWORD: &str = "价格";
const AUTO_REPLY: &str = "soak auto-reply: 价格请看商品页";
/// Every agent reply's text starts so (then its number).
const AGENT_REPLY: &str = "soak agent reply ";
/// Customers whose conversations the agent answers (the bot stays silent there once an agent
/// has replied), and customers only the bot answers.
const AGENT_CUSTOMERS: usize = 100;
const BOT_CUSTOMERS: usize = 5000;
/// Share of pushes from agent customers, in percent.
const AGENT_PCT: u32 = 10;
/// A push or reply not answered within this is an error.
const ANSWER_TIMEOUT: Duration = Duration::from_secs(10);
/// Kept shorter than kefu's idle timeout for keep-alive connections (60 s).
const CLIENT_IDLE: Duration = Duration::from_secs(30);
/// The event object of a frame is within this many bytes of its start.
const EVENT_PREFIX: usize = 320;

/// Targets from issue #11.
const P99_TARGET_MS: f64 = 10.0;
/// RSS and fds of every minute after the first at most this share above minute 1's.
const FLAT_TOLERANCE: f64 = 0.10;

fn main() {
    let secs = env_num("BENCH_SOAK_SECS", 600).max(1);
    let rate = env_num("BENCH_SOAK_RATE", 300).max(1);
    let reply_rate = env_num("BENCH_SOAK_REPLY_RATE", 10).max(1);
    let dashboards = env_num("BENCH_SOAK_DASHBOARDS", 200) as usize;
    let keyword_pct = env_num("BENCH_SOAK_KEYWORD_PCT", 10).min(100 - u64::from(AGENT_PCT)) as u32;
    // how long the replies may take to reach the fake API after the run (a bot that fell
    // behind catches up then; how long it took is printed)
    let drain = Duration::from_secs(env_num("BENCH_SOAK_DRAIN_SECS", 300));
    let minutes = secs.div_ceil(60) as usize;
    println!("kefu: {}", kefu_bin().display());
    println!(
        "soak: {secs} s of {rate} pushes/s ({keyword_pct} % with the rule's keyword), {reply_rate} agent replies/s, {dashboards} dashboards"
    );

    let data = tempfile::tempdir().expect("a temporary data dir");
    run_kefu(data.path(), &["migrate"], None);
    for (name, role) in [("admin", "admin"), ("agent", "agent")] {
        run_kefu(
            data.path(),
            &["user", "add", name, "--role", role, "--password-stdin"],
            Some(PASSWORD),
        );
    }
    let token = |name: &str| {
        run_kefu(
            data.path(),
            &["token", "create", name, "--label", "soak"],
            None,
        )
        .trim()
        .to_owned()
    };
    let (admin_token, agent_token) = (token("admin"), token("agent"));

    // the fake WeChat API, and the agent's replies, run on this runtime
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("a runtime");
    let fake = runtime
        .block_on(FakeWechat::start(FakeConfig::new(APPID, SECRET)))
        .expect("start the fake WeChat API");
    let base = fake.base_url();
    let port = free_port();
    let addr = format!("127.0.0.1:{port}");
    let mut server = start_server(
        data.path(),
        port,
        &[
            ("KEFU_WECHAT_API_BASE", &base),
            ("KEFU_WECHAT_SECRET", SECRET),
        ],
    );
    let pid = server.id();
    let cipher = Cipher::new(AesKey::from_encoding_key(AES_KEY).expect("key"), APPID);

    let conversations = runtime.block_on(prepare(&addr, &admin_token, &cipher, port));
    println!(
        "rule added; {} agent customers wrote once; kefu RSS {:.1} MiB, {} open fds",
        conversations.len(),
        mib(proc_status_kb(pid, "VmRSS").unwrap_or(0)),
        open_fds(pid).0
    );

    // ---- dashboards
    let (stop_tx, stop_rx) = watch::channel(false);
    let live = Arc::new(LiveCounters::default());
    let (ready_tx, ready_rx) = std::sync::mpsc::channel::<Duration>();
    // the minute each event falls in needs the start, which comes once they are connected:
    // they record into this, set just before the start
    let stats_slot: Arc<Mutex<Option<Arc<Stats>>>> = Arc::new(Mutex::new(None));
    let readers = {
        let (addr, token, live, slot) = (
            addr.clone(),
            admin_token.clone(),
            live.clone(),
            stats_slot.clone(),
        );
        std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("a runtime");
            rt.block_on(async move {
                let connecting = Instant::now();
                let mut sockets = Vec::with_capacity(dashboards);
                for _ in 0..dashboards {
                    sockets.push(open_dashboard(&addr, &token).await);
                }
                live.open.store(dashboards, Ordering::Relaxed);
                let _ = ready_tx.send(connecting.elapsed());
                let mut tasks = Vec::with_capacity(dashboards);
                for ws in sockets {
                    tasks.push(tokio::spawn(read_dashboard(
                        ws,
                        stop_rx.clone(),
                        live.clone(),
                        slot.clone(),
                    )));
                }
                let mut added = Vec::with_capacity(dashboards);
                for t in tasks {
                    added.push(t.await.expect("a dashboard task"));
                }
                added
            })
        })
    };
    let connect_time = ready_rx.recv().expect("the dashboards connected");
    std::thread::sleep(Duration::from_millis(500));
    let rss_connected = proc_status_kb(pid, "VmRSS").unwrap_or(0);
    println!(
        "{dashboards} dashboards connected and greeted in {:.2}s; kefu RSS {:.1} MiB, {} open fds",
        connect_time.as_secs_f64(),
        mib(rss_connected),
        open_fds(pid).0
    );

    // ---- the soak
    let started = Instant::now() + Duration::from_millis(200);
    let stats = Arc::new(Stats::new(started, secs, minutes));
    *stats_slot.lock().expect("the stats slot") = Some(stats.clone());
    let pushes = {
        let (stats, cipher) = (stats.clone(), cipher.clone());
        std::thread::spawn(move || send_pushes(&cipher, port, rate, secs, keyword_pct, &stats))
    };
    let replies = runtime.spawn(send_replies(
        addr.clone(),
        agent_token.clone(),
        conversations,
        reply_rate,
        secs,
        stats.clone(),
    ));
    println!("soaking for {secs} s …");
    let ticks_per_s = clock_ticks_per_second() as f64;
    let mut snapshots = Vec::with_capacity(minutes);
    let scraper = client_with_idle_timeout(CLIENT_IDLE);
    let metrics = || runtime.block_on(scrape(&scraper, &addr, &admin_token));
    std::thread::sleep(started.saturating_duration_since(Instant::now()));
    let (mut before, mut before_at) = (
        Sample::take(pid, data.path(), &fake, &live, metrics().as_deref()),
        Instant::now(),
    );
    for m in 0..minutes {
        let end = started + Duration::from_secs(((m as u64 + 1) * 60).min(secs));
        std::thread::sleep(end.saturating_duration_since(Instant::now()));
        // the gauges first: the sample of /proc then sees kefu at rest from the scrape
        let scraped = metrics();
        let (now, now_at) = (
            Sample::take(pid, data.path(), &fake, &live, scraped.as_deref()),
            Instant::now(),
        );
        let secs = now_at.duration_since(before_at).as_secs_f64();
        snapshots.push(Snapshot::between(&before, &now, secs, ticks_per_s));
        eprintln!("{}", stats.minutes[m].progress(m + 1, &snapshots[m]));
        (before, before_at) = (now, now_at);
    }
    pushes.join().expect("the pushes' thread");
    runtime.block_on(replies).expect("the replies' task");

    // ---- every reply through, then the database
    let auto_due: u64 = stats.total(|m| &m.keyword_acked);
    let agent_accepted: u64 = stats.total(|m| &m.replies_accepted);
    let drain_started = Instant::now();
    // until the fake API has every reply due, or kefu has nothing left to send (the bot may
    // rightly hold one back: see `Stored::held_back`), seen twice a second apart
    let due = (auto_due + agent_accepted) as usize;
    let mut idle = 0;
    while drain_started.elapsed() < drain && idle < 2 {
        if runtime
            .block_on(fake.wait_for_sent(due, Duration::from_secs(1)))
            .len()
            >= due
        {
            break;
        }
        let gauges = metrics();
        let waiting = |name| gauges.as_deref().and_then(|m| gauge(m, name));
        idle = if waiting("kefu_bot_queue_depth") == Some(0.0)
            && waiting("kefu_outbox_depth") == Some(0.0)
        {
            idle + 1
        } else {
            0
        };
    }
    let drained_in = drain_started.elapsed();
    // the outcomes are committed by kefu's writer just after the fake answers
    std::thread::sleep(Duration::from_secs(2));
    let (fake_agent, fake_bot) = delivered(&fake);
    println!(
        "after the run: the fake WeChat API has {fake_bot} auto-replies of {auto_due} due and {fake_agent} agent replies of {agent_accepted} accepted, {:.1} s after the last push",
        drained_in.as_secs_f64()
    );
    let rss_end = proc_status_kb(pid, "VmRSS").unwrap_or(0);
    let hwm = proc_status_kb(pid, "VmHWM").unwrap_or(0);
    let fds_end = open_fds(pid).0;
    let _ = stop_tx.send(true);
    let added = readers.join().expect("the dashboards' reader");
    stop_server(&mut server);
    let db = runtime.block_on(read_database(data.path()));

    // ---- report
    let acked = stats.total(|m| &m.pushes_acked) + AGENT_CUSTOMERS as u64;
    let per_minute_errors = stats.total(|m| &m.push_errors)
        + stats.total(|m| &m.reply_errors)
        + stats.total(|m| &m.ws_errors);
    println!();
    print_table(&stats, &snapshots);
    println!();
    println!(
        "kefu RSS {:.1} MiB with the dashboards connected, {:.1} MiB after the drain, VmHWM {:.1} MiB; {fds_end} open fds after the drain",
        mib(rss_connected),
        mib(rss_end),
        mib(hwm)
    );
    let mut failures = Vec::new();
    if per_minute_errors > 0 {
        failures.push(format!("{per_minute_errors} errors during the run"));
    }
    println!(
        "stored: {} customer messages, {acked} acknowledged (with the {AGENT_CUSTOMERS} before the start)",
        db.inbound
    );
    if db.inbound < acked as i64 {
        failures.push(format!(
            "{} acknowledged pushes missing from the database",
            acked as i64 - db.inbound
        ));
    }
    println!(
        "auto-replies: {} stored, {} sent, {auto_due} due, {} rightly held back (the customer's last allowed reply, kept for a human); agent replies: {} stored, {} sent, {agent_accepted} accepted; other outgoing: {}",
        db.bot.0, db.bot.1, db.held_back, db.agent.0, db.agent.1, db.other_out
    );
    if db.bot.1 + db.held_back < auto_due as i64 || db.bot.0 != db.bot.1 {
        failures.push(format!(
            "auto-replies not all delivered ({} sent of {auto_due} due, {} stored)",
            db.bot.1, db.bot.0
        ));
    }
    if db.agent.1 < agent_accepted as i64 || db.agent.0 != db.agent.1 {
        failures.push(format!(
            "agent replies not all delivered ({} sent of {agent_accepted} accepted, {} stored)",
            db.agent.1, db.agent.0
        ));
    }
    // every message stored after the dashboards connected is one message_added frame each
    let expected_frames = db.messages - AGENT_CUSTOMERS as i64;
    let (least, most) = (
        added.iter().copied().min().unwrap_or(0),
        added.iter().copied().max().unwrap_or(0),
    );
    println!(
        "message_added frames per dashboard: {least} to {most}, {expected_frames} messages stored while they were connected"
    );
    if dashboards > 0 && (least as i64) < expected_frames {
        failures.push(format!(
            "a dashboard missed {} message_added frames",
            expected_frames - least as i64
        ));
    }
    println!(
        "{}; every reply through {:.1} s after the run",
        verdict(&stats, &snapshots, per_minute_errors),
        drained_in.as_secs_f64()
    );
    if !failures.is_empty() {
        eprintln!("FAIL: {}", failures.join("; "));
        std::process::exit(1);
    }
    println!("ok: every acknowledged push stored, every reply and auto-reply delivered");
}

// ---------------------------------------------------------------------------------------------
// What happened, per minute

/// The counts of one minute.
#[derive(Default)]
struct Minute {
    pushes_sent: AtomicU64,
    pushes_acked: AtomicU64,
    push_errors: AtomicU64,
    /// acknowledged pushes with the keyword: the auto-replies due
    keyword_acked: AtomicU64,
    replies_posted: AtomicU64,
    replies_accepted: AtomicU64,
    reply_errors: AtomicU64,
    /// dashboards closed (or told to reload) before the end
    ws_errors: AtomicU64,
    /// time to `success` of the acknowledged pushes due this minute
    latencies: Mutex<Vec<Duration>>,
}

impl Minute {
    fn n(counter: &AtomicU64) -> u64 {
        counter.load(Ordering::Relaxed)
    }

    fn errors(&self) -> u64 {
        Self::n(&self.push_errors) + Self::n(&self.reply_errors) + Self::n(&self.ws_errors)
    }

    /// (p50, p99, max) in milliseconds.
    fn latency_ms(&self) -> (f64, f64, f64) {
        let mut lat = self.latencies.lock().expect("latencies").clone();
        lat.sort_unstable();
        (
            ms(percentile(&lat, 0.50)),
            ms(percentile(&lat, 0.99)),
            ms(lat.last().copied().unwrap_or_default()),
        )
    }

    /// One line on standard error as each minute ends.
    fn progress(&self, minute: usize, s: &Snapshot) -> String {
        let (p50, p99, _) = self.latency_ms();
        format!(
            "minute {minute}: {} pushes acknowledged, p50 {p50:.2} ms, p99 {p99:.2} ms, {} errors, RSS {:.1} MiB ({:.1} anonymous), WAL {:.1} MiB, {} fds ({} not sockets), {} dashboards",
            Self::n(&self.pushes_acked),
            self.errors(),
            mib(s.rss_kb),
            mib(s.rss_anon_kb),
            s.wal_bytes as f64 / (1024.0 * 1024.0),
            s.fds.0,
            s.fds.1,
            s.dashboards
        )
    }
}

struct Stats {
    started: Instant,
    /// the run's length
    secs: u64,
    minutes: Vec<Minute>,
}

impl Stats {
    fn new(started: Instant, secs: u64, minutes: usize) -> Stats {
        Stats {
            started,
            secs,
            minutes: (0..minutes).map(|_| Minute::default()).collect(),
        }
    }

    /// The minute `t` falls in (before the start: the first; after the end: the last).
    fn at(&self, t: Instant) -> &Minute {
        let i = (t.saturating_duration_since(self.started).as_secs() / 60) as usize;
        &self.minutes[i.min(self.minutes.len() - 1)]
    }

    fn total(&self, counter: impl Fn(&Minute) -> &AtomicU64) -> u64 {
        self.minutes.iter().map(|m| Minute::n(counter(m))).sum()
    }

    /// Seconds of the run in minute `i` (the last may be shorter).
    fn seconds_in(&self, i: usize) -> u64 {
        self.secs.saturating_sub(i as u64 * 60).min(60)
    }
}

/// What the dashboards' reader shares with the sampler.
#[derive(Default)]
struct LiveCounters {
    open: AtomicUsize,
    frames: AtomicU64,
}

/// kefu and the fake API at one moment.
struct Sample {
    /// the size of the database's WAL file on disk
    wal_bytes: u64,
    rss_kb: u64,
    rss_anon_kb: u64,
    fds: (usize, usize),
    kefu_cpu: CpuTicks,
    bench_cpu: CpuTicks,
    machine_busy: u64,
    delivered: (usize, usize),
    dashboards: usize,
    frames: u64,
    /// kefu's own gauges: jobs waiting for the bot, replies waiting in the outbox
    bot_queue: Option<f64>,
    outbox: Option<f64>,
}

impl Sample {
    /// `metrics`: the text of kefu's `/metrics` at this moment, if it answered.
    fn take(
        pid: u32,
        data: &std::path::Path,
        fake: &FakeWechat,
        live: &LiveCounters,
        metrics: Option<&str>,
    ) -> Sample {
        Sample {
            wal_bytes: std::fs::metadata(data.join("kefu.db-wal")).map_or(0, |m| m.len()),
            bot_queue: metrics.and_then(|m| gauge(m, "kefu_bot_queue_depth")),
            outbox: metrics.and_then(|m| gauge(m, "kefu_outbox_depth")),
            rss_kb: proc_status_kb(pid, "VmRSS").unwrap_or(0),
            rss_anon_kb: proc_status_kb(pid, "RssAnon").unwrap_or(0),
            fds: open_fds(pid),
            kefu_cpu: CpuTicks::of(pid),
            bench_cpu: CpuTicks::of(std::process::id()),
            machine_busy: machine_busy_ticks(),
            delivered: delivered(fake),
            dashboards: live.open.load(Ordering::Relaxed),
            frames: live.frames.load(Ordering::Relaxed),
        }
    }
}

/// A minute's end, and what happened since the previous one.
struct Snapshot {
    wal_bytes: u64,
    rss_kb: u64,
    /// the part of it that is the heap and stacks (not mapped files or shared memory)
    rss_anon_kb: u64,
    fds: (usize, usize),
    dashboards: usize,
    /// frames the dashboards read in the minute
    frames: u64,
    /// replies the fake API accepted in the minute: (agent, bot)
    delivered: (usize, usize),
    bot_queue: Option<f64>,
    outbox: Option<f64>,
    /// CPU in % of one core: kefu, this bench, every other process
    kefu_pct: f64,
    bench_pct: f64,
    other_pct: f64,
}

impl Snapshot {
    /// `secs`: the time between the two samples.
    fn between(before: &Sample, now: &Sample, secs: f64, ticks_per_s: f64) -> Snapshot {
        let kefu = now.kefu_cpu.since(before.kefu_cpu).total();
        let bench = now.bench_cpu.since(before.bench_cpu).total();
        let machine = now.machine_busy.saturating_sub(before.machine_busy);
        let pct = |ticks: u64| ticks as f64 / ticks_per_s * 100.0 / secs.max(0.001);
        Snapshot {
            wal_bytes: now.wal_bytes,
            rss_kb: now.rss_kb,
            rss_anon_kb: now.rss_anon_kb,
            fds: now.fds,
            dashboards: now.dashboards,
            frames: now.frames - before.frames,
            bot_queue: now.bot_queue,
            outbox: now.outbox,
            delivered: (
                now.delivered.0 - before.delivered.0,
                now.delivered.1 - before.delivered.1,
            ),
            kefu_pct: pct(kefu),
            bench_pct: pct(bench),
            other_pct: pct(machine.saturating_sub(kefu + bench)),
        }
    }
}

/// Agent replies and auto-replies the fake WeChat API accepted so far.
fn delivered(fake: &FakeWechat) -> (usize, usize) {
    let (mut agent, mut bot) = (0, 0);
    for m in fake.sent() {
        let text = m.body["text"]["content"].as_str().unwrap_or_default();
        if text.starts_with(AGENT_REPLY) {
            agent += 1;
        } else if text == AUTO_REPLY {
            bot += 1;
        }
    }
    (agent, bot)
}

/// The value of an unlabelled gauge in Prometheus' text format.
fn gauge(metrics: &str, name: &str) -> Option<f64> {
    metrics
        .lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' '))
        .and_then(|v| v.trim().parse().ok())
}

/// kefu's `/metrics` (an admin's token), or None.
async fn scrape(client: &Client, addr: &str, admin_token: &str) -> Option<String> {
    let answer = get(client, &url(addr, "/metrics"), admin_token).await?;
    (answer.status == 200).then(|| String::from_utf8_lossy(&answer.body).into_owned())
}

/// kefu's open file descriptors: (all, those that are not sockets). A leak of files shows in
/// the second; the sockets follow the connections the load generator keeps open.
fn open_fds(pid: u32) -> (usize, usize) {
    let Ok(dir) = std::fs::read_dir(format!("/proc/{pid}/fd")) else {
        return (0, 0);
    };
    let (mut all, mut files) = (0, 0);
    for entry in dir.flatten() {
        all += 1;
        let is_socket = std::fs::read_link(entry.path())
            .is_ok_and(|target| target.to_string_lossy().starts_with("socket:"));
        if !is_socket {
            files += 1;
        }
    }
    (all, files)
}

// ---------------------------------------------------------------------------------------------
// Load

/// `http://{addr}{path}`
fn url(addr: &str, path: &str) -> Uri {
    format!("http://{addr}{path}").parse().expect("a URL")
}

fn agent_openid(k: usize) -> String {
    format!("o-soak-agent-{k}")
}

/// Adds the rule, has every agent customer write once and returns their conversations' ids
/// in the order of the customers.
async fn prepare(addr: &str, admin_token: &str, cipher: &Cipher, port: u16) -> Vec<i64> {
    let client = client_with_idle_timeout(CLIENT_IDLE);
    let rule = json!({
        "name": "soak: price",
        "enabled": true,
        "priority": 1,
        "match": "contains",
        "keywords": [KEYWORD],
        "action": "reply",
        "reply": {"type": "text", "content": {"text": AUTO_REPLY}},
    });
    let answer = post_json(
        &client,
        &url(addr, "/api/v1/rules"),
        admin_token,
        rule.to_string(),
    )
    .await
    .expect("an answer to POST /api/v1/rules");
    assert_eq!(
        answer.status,
        201,
        "POST /api/v1/rules: {}",
        String::from_utf8_lossy(&answer.body)
    );
    for k in 0..AGENT_CUSTOMERS {
        let push = push_request(
            cipher,
            port,
            &agent_openid(k),
            &format!("soak hello from agent customer {k} 你好"),
            4_000_000_000_000 + k as u64,
            &format!("{}", 800_000 + k),
        );
        assert!(push.send(&client).await, "the first push of customer {k}");
    }
    let answer = get(
        &client,
        &url(addr, "/api/v1/conversations?status=all&limit=200"),
        admin_token,
    )
    .await
    .expect("an answer to GET /api/v1/conversations");
    assert_eq!(answer.status, 200, "GET /api/v1/conversations");
    let list: Value = serde_json::from_slice(&answer.body).expect("a conversation list");
    let ids: std::collections::HashMap<String, i64> = list["conversations"]
        .as_array()
        .expect("conversations")
        .iter()
        .filter_map(|c| {
            Some((
                c["contact"]["openid"].as_str()?.to_owned(),
                c["id"].as_i64()?,
            ))
        })
        .collect();
    (0..AGENT_CUSTOMERS)
        .map(|k| {
            *ids.get(&agent_openid(k))
                .unwrap_or_else(|| panic!("no conversation for agent customer {k}"))
        })
        .collect()
}

/// Sends `rate` pushes a second for `secs` from this thread, open loop: each due at
/// `started + i / rate`, timed from then, built just before (signing and encrypting one takes
/// microseconds).
fn send_pushes(
    cipher: &Cipher,
    port: u16,
    rate: u64,
    secs: u64,
    keyword_pct: u32,
    stats: &Arc<Stats>,
) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime");
    rt.block_on(async {
        let client = client_with_idle_timeout(CLIENT_IDLE);
        let in_flight = Arc::new(AtomicUsize::new(0));
        let mut rng = seeded(0x50a_c0de);
        let mut agent_turn = 0usize;
        let total = (rate * secs) as usize;
        for i in 0..total {
            let roll = rng.random_range(0..100u32);
            let (openid, text, keyword) = if roll < AGENT_PCT {
                agent_turn += 1;
                (
                    agent_openid(agent_turn % AGENT_CUSTOMERS),
                    format!("soak push {i} 你好"),
                    false,
                )
            } else {
                let openid = format!("o-soak-bot-{}", rng.random_range(0..BOT_CUSTOMERS));
                if roll < AGENT_PCT + keyword_pct {
                    (openid, format!("soak push {i}: 这个{KEYWORD}是多少?"), true)
                } else {
                    (openid, format!("soak push {i} 你好"), false)
                }
            };
            let push = push_request(
                cipher,
                port,
                &openid,
                &text,
                5_000_000_000_000 + i as u64,
                &format!("{}", 1_000_000 + i),
            );
            let due = due_at(stats.started, rate, i);
            tokio::time::sleep_until(due.into()).await;
            stats.at(due).pushes_sent.fetch_add(1, Ordering::Relaxed);
            in_flight.fetch_add(1, Ordering::Relaxed);
            let (client, stats, in_flight) = (client.clone(), stats.clone(), in_flight.clone());
            tokio::spawn(async move {
                let ok = tokio::time::timeout(ANSWER_TIMEOUT, push.send(&client))
                    .await
                    .unwrap_or(false);
                let took = due.elapsed();
                let minute = stats.at(due);
                if ok {
                    minute.pushes_acked.fetch_add(1, Ordering::Relaxed);
                    if keyword {
                        minute.keyword_acked.fetch_add(1, Ordering::Relaxed);
                    }
                    minute.latencies.lock().expect("latencies").push(took);
                } else {
                    minute.push_errors.fetch_add(1, Ordering::Relaxed);
                }
                in_flight.fetch_sub(1, Ordering::Relaxed);
            });
        }
        wait_for_none(&in_flight).await;
    });
}

/// The agent's replies: `rate` a second for `secs`, round robin over `conversations`.
async fn send_replies(
    addr: String,
    token: String,
    conversations: Vec<i64>,
    rate: u64,
    secs: u64,
    stats: Arc<Stats>,
) {
    let client = client_with_idle_timeout(CLIENT_IDLE);
    let in_flight = Arc::new(AtomicUsize::new(0));
    let reported = Arc::new(AtomicUsize::new(0));
    let token: Arc<str> = token.into();
    for k in 0..(rate * secs) as usize {
        let conversation = conversations[k % conversations.len()];
        let target = url(
            &addr,
            &format!("/api/v1/conversations/{conversation}/messages"),
        );
        let body = json!({"type": "text", "content": {"text": format!("{AGENT_REPLY}{k}")}});
        let due = due_at(stats.started, rate, k);
        tokio::time::sleep_until(due.into()).await;
        stats.at(due).replies_posted.fetch_add(1, Ordering::Relaxed);
        in_flight.fetch_add(1, Ordering::Relaxed);
        let (client, stats, in_flight, reported, token) = (
            client.clone(),
            stats.clone(),
            in_flight.clone(),
            reported.clone(),
            token.clone(),
        );
        tokio::spawn(async move {
            let answer = tokio::time::timeout(
                ANSWER_TIMEOUT,
                post_json(&client, &target, &token, body.to_string()),
            )
            .await
            .ok()
            .flatten();
            let accepted = answer
                .as_ref()
                .is_some_and(|a| a.status == 202 && find(&a.body, b"\"queued\"").is_some());
            let minute = stats.at(Instant::now());
            if accepted {
                minute.replies_accepted.fetch_add(1, Ordering::Relaxed);
            } else {
                minute.reply_errors.fetch_add(1, Ordering::Relaxed);
                // the first few say why
                if reported.fetch_add(1, Ordering::Relaxed) < 5 {
                    match &answer {
                        Some(a) => eprintln!(
                            "reply {k} not accepted: {} {}",
                            a.status,
                            String::from_utf8_lossy(&a.body)
                        ),
                        None => eprintln!("reply {k}: no answer within {ANSWER_TIMEOUT:?}"),
                    }
                }
            }
            in_flight.fetch_sub(1, Ordering::Relaxed);
        });
    }
    wait_for_none(&in_flight).await;
}

/// Waits until nothing is in flight (every request has its answer or timed out).
async fn wait_for_none(in_flight: &AtomicUsize) {
    while in_flight.load(Ordering::Relaxed) > 0 {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

// ---------------------------------------------------------------------------------------------
// Dashboards

type Socket = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// Connects with the bearer token and reads the greeting up to the `counts` frame.
async fn open_dashboard(addr: &str, token: &str) -> Socket {
    let mut request = format!("ws://{addr}/ws")
        .into_client_request()
        .expect("a /ws request");
    request.headers_mut().insert(
        "authorization",
        format!("Bearer {token}").parse().expect("a header value"),
    );
    let (mut ws, _) = tokio_tungstenite::connect_async_with_config(request, None, true)
        .await
        .expect("the /ws handshake");
    loop {
        match ws.next().await {
            Some(Ok(Message::Text(text))) if text.contains("\"counts\"") => return ws,
            Some(Ok(_)) => {}
            Some(Err(e)) => panic!("reading the greeting: {e}"),
            None => panic!("kefu closed the WebSocket during the greeting"),
        }
    }
}

/// Reads frames until told to stop; how many `message_added` frames it read. A close, a
/// broken connection or a `reload` before the stop is an error of the minute it happened in.
async fn read_dashboard(
    mut ws: Socket,
    mut stop: watch::Receiver<bool>,
    live: Arc<LiveCounters>,
    stats: Arc<Mutex<Option<Arc<Stats>>>>,
) -> u64 {
    let mut added = 0;
    let failed = loop {
        let frame = tokio::select! {
            biased;
            _ = stop.changed() => break false,
            frame = ws.next() => frame,
        };
        let message = match frame {
            Some(Ok(message)) => message,
            Some(Err(_)) | None => break true,
        };
        live.frames.fetch_add(1, Ordering::Relaxed);
        match message {
            Message::Text(text) => {
                let payload = text.as_bytes();
                let head = &payload[..payload.len().min(EVENT_PREFIX)];
                if find(head, b"\"message_added\"").is_some() {
                    added += 1;
                } else if find(head, b"\"type\":\"reload\"").is_some() {
                    eprintln!("a dashboard was told to reload: {text}");
                    break true;
                }
            }
            Message::Close(_) => break true,
            // pings are answered by tungstenite
            _ => {}
        }
    };
    if failed {
        live.open.fetch_sub(1, Ordering::Relaxed);
        let stats = stats.lock().expect("the stats slot").clone();
        if let Some(stats) = stats {
            stats
                .at(Instant::now())
                .ws_errors
                .fetch_add(1, Ordering::Relaxed);
        }
    }
    added
}

// ---------------------------------------------------------------------------------------------
// The database after the run

struct Stored {
    /// customer messages
    inbound: i64,
    /// every message
    messages: i64,
    /// outgoing messages: (stored, sent)
    agent: (i64, i64),
    bot: (i64, i64),
    other_out: i64,
    /// auto-replies short of the keyword pushes in conversations where the bot had already
    /// sent the customer 4 replies since their last message: WeChat allows 5 and the bot keeps
    /// the last for a human, so it rightly said nothing (this happens only when the bot fell
    /// behind and answered several pushes after the customer stopped writing)
    held_back: i64,
}

/// Reads every conversation's messages through kefu's store (kefu is stopped).
async fn read_database(dir: &std::path::Path) -> Stored {
    let url = format!("sqlite://{}/kefu.db", dir.display());
    let store = kefu::store::Store::open(&url)
        .await
        .expect("open the store");
    let pool = store.pool();
    let mut s = Stored {
        inbound: kefu::store::messages::count_inbound(pool)
            .await
            .expect("count the customer messages"),
        messages: 0,
        agent: (0, 0),
        bot: (0, 0),
        other_out: 0,
        held_back: 0,
    };
    let mut before = None;
    loop {
        let page = kefu::store::conversations::list(
            &store,
            &ListFilter {
                status: None,
                assignee: AssigneeFilter::Any,
                before,
                limit: 500,
            },
        )
        .await
        .expect("list the conversations");
        let Some(last) = page.last() else { break };
        before = Some((last.last_activity_at, last.id));
        for c in &page {
            let messages = kefu::store::messages::list(&store, c.id, None, i64::MAX)
                .await
                .expect("read a conversation's messages");
            let (mut keyword_pushes, mut bot_replies) = (0, 0);
            // bot replies after the customer's last message (the list is newest first)
            let mut bot_since_customer = 0;
            let mut customer_seen = false;
            for m in messages {
                s.messages += 1;
                if m.direction != Direction::Out {
                    customer_seen = true;
                    if matches!(&m.content, MessageContent::Text(t) if t.text.contains(KEYWORD)) {
                        keyword_pushes += 1;
                    }
                    continue;
                }
                if m.sender_kind == SenderKind::Bot {
                    bot_replies += 1;
                    if !customer_seen {
                        bot_since_customer += 1;
                    }
                }
                let sent = i64::from(m.status == MessageStatus::Sent);
                match m.sender_kind {
                    SenderKind::Agent => {
                        s.agent.0 += 1;
                        s.agent.1 += sent;
                    }
                    SenderKind::Bot => {
                        s.bot.0 += 1;
                        s.bot.1 += sent;
                    }
                    _ => s.other_out += 1,
                }
            }
            if bot_replies < keyword_pushes && bot_since_customer == 4 {
                s.held_back += keyword_pushes - bot_replies;
            }
        }
    }
    store.close().await;
    s
}

// ---------------------------------------------------------------------------------------------
// Report

fn print_table(stats: &Stats, snapshots: &[Snapshot]) {
    println!(
        "| min | pushes sent | acked | p50 ms | p99 ms | max ms | auto-replies due | agent replies posted / accepted | delivered (auto + agent) | bot queue / outbox | errors | RSS MiB | WAL MiB | fds (not sockets) | dashboards | kefu CPU | bench CPU | others' CPU |"
    );
    println!(
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"
    );
    for (i, (m, s)) in stats.minutes.iter().zip(snapshots).enumerate() {
        let (p50, p99, max) = m.latency_ms();
        let label = if stats.seconds_in(i) < 60 {
            format!("{} ({} s)", i + 1, stats.seconds_in(i))
        } else {
            format!("{}", i + 1)
        };
        println!(
            "| {label} | {} | {} | {p50:.2} | {p99:.2} | {max:.1} | {} | {} / {} | {} + {} | {} / {} | {} | {:.1} | {:.1} | {} ({}) | {} | {:.0} % | {:.0} % | {:.0} % |",
            Minute::n(&m.pushes_sent),
            Minute::n(&m.pushes_acked),
            Minute::n(&m.keyword_acked),
            Minute::n(&m.replies_posted),
            Minute::n(&m.replies_accepted),
            s.delivered.1,
            s.delivered.0,
            shown(s.bot_queue),
            shown(s.outbox),
            m.errors(),
            mib(s.rss_kb),
            s.wal_bytes as f64 / (1024.0 * 1024.0),
            s.fds.0,
            s.fds.1,
            s.dashboards,
            s.kefu_pct,
            s.bench_pct,
            s.other_pct,
        );
    }
    println!(
        "(CPU in % of one core over the minute; dashboards: still connected at the minute's end; {} frames read by the dashboards in all)",
        snapshots.iter().map(|s| s.frames).sum::<u64>()
    );
}

/// A gauge's value, or "?" when kefu did not answer.
fn shown(v: Option<f64>) -> String {
    v.map_or_else(|| "?".to_owned(), |v| format!("{v:.0}"))
}

fn met(ok: bool) -> &'static str {
    if ok { "met" } else { "MISSED" }
}

/// The verdict line against the targets.
fn verdict(stats: &Stats, snapshots: &[Snapshot], errors: u64) -> String {
    let flat = |of: &dyn Fn(&Snapshot) -> f64, unit: &str| -> String {
        let Some(first) = snapshots.first().map(of) else {
            return "no minute measured".to_owned();
        };
        if snapshots.len() < 2 {
            return format!("n/a: one minute only ({first:.1} {unit})");
        }
        let later: Vec<f64> = snapshots[1..].iter().map(of).collect();
        let lo = later.iter().copied().fold(f64::INFINITY, f64::min);
        let hi = later.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        // growth is what a leak shows; a fall (fewer idle connections, memory given back) is not
        let ok = later.iter().all(|v| *v <= first * (1.0 + FLAT_TOLERANCE));
        format!(
            "{} (minute 1 {first:.1} {unit}, later {lo:.1} to {hi:.1})",
            met(ok)
        )
    };
    let rss = flat(&|s| mib(s.rss_kb), "MiB");
    let fds = flat(&|s| s.fds.0 as f64, "fds");
    let (worst, worst_minute) = stats
        .minutes
        .iter()
        .enumerate()
        .map(|(i, m)| (m.latency_ms().1, i + 1))
        .fold((0.0, 0), |a, b| if b.0 > a.0 { b } else { a });
    format!(
        "verdict: RSS flat after minute 1 (no later minute over {:.0} % above minute 1's): {rss}; open fds flat (same, {:.0} %): {fds}; errors: {errors}, {}; p99 < {P99_TARGET_MS} ms every minute: {} (worst {worst:.2} ms, minute {worst_minute})",
        FLAT_TOLERANCE * 100.0,
        FLAT_TOLERANCE * 100.0,
        met(errors == 0),
        met(worst < P99_TARGET_MS),
    )
}
