//! Inbox benchmark (issue #4): a big database, the pages rendered on the server, the live
//! fan-out to many dashboards, and kefu's memory.
//!
//!     cargo bench --bench inbox
//!
//! On a fresh data dir the release binary runs `kefu migrate`, `kefu user add` (an admin and
//! three agents, so the seeded conversations have assignees), `kefu seed` with
//! `BENCH_CONVERSATIONS` conversations (default 100000) and `BENCH_MESSAGES` messages
//! (default 1000000), and `kefu token create admin`; then `kefu serve` starts on loopback
//! and everything is measured from this process over HTTP with the admin's bearer token.
//!
//! 1. Pages: one keep-alive connection, one request at a time, `BENCH_PAGE_REQUESTS` (300)
//!    of each kind after `BENCH_WARMUP` (20) each, interleaved: `/inbox`, `/inbox?view=all&
//!    status=all`, the second page of `/inbox` (its `#more` link), and `/conversations/{id}`
//!    for a fixed pseudo-random sample of ids, each id once (opening a conversation with
//!    unread messages marks it read: a write, kept in the measurement; an id that redirects
//!    or is not found is left out and counted), and `/conversations/{id}?pane=1`, what the
//!    workspace loads to switch conversations (the conversation and its contact panel without
//!    the list pane), for a second sample of as many other ids (a kefu from before the workspace
//!    answers it with its whole conversation page, which is what opening one loaded there). Time from the first byte of the request
//!    written to the last byte of the answer read; every other answer must be 200 with the
//!    page's content (50 inbox rows; the conversation's messages).
//! 2. Live fan-out: `BENCH_DASHBOARDS` (200) WebSocket connections to `/ws` read their
//!    greeting (hello, presence, counts); then customer text pushes arrive at the webhook at
//!    `BENCH_RATE` (500) pushes/s for `BENCH_RATE_SECS` (10) s, open loop (`fixed_rate_from`),
//!    60 % from seeded customers (their existing conversation, or a new one when it is
//!    resolved), 40 % from 1,000 new customers. For each push and each dashboard: the time
//!    from when the push was due to be sent to when that dashboard read its `message_added`
//!    frame.
//! 3. Memory: kefu's VmRSS at start, after the pages, with the dashboards connected, and at
//!    most during the fan-out (sampled every 50 ms), and its VmHWM.
//!
//! `BENCH_PERF=FILE` records a `perf` profile of kefu over the fan-out.
//!
//! The dashboards' reader is lean on purpose, since it shares the machine with kefu:
//! tokio-tungstenite's client (it answers pings), one thread with a current-thread tokio
//! runtime and one small task per connection, one timestamp per frame read, and no JSON
//! parsing: the `message_id` is found by a substring search in the first bytes of the frame,
//! where the `event` object comes before the `html` fragments. Pages and pushes go through
//! hyper's client; the pushes go out from another thread.
//! Which push a message id belongs to is read from the database after the run (each push's
//! text is unique).

mod common;

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use common::*;
use futures_util::StreamExt;
use hyper::Uri;
use kefu::wechat::crypto::{AesKey, Cipher};
use rand::Rng;
use tokio::net::TcpStream;
use tokio::sync::watch;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

const PASSWORD: &str = "bench-admin-password";
/// Rows on one inbox page (`web::inbox::PAGE`).
const INBOX_ROWS: usize = 50;
/// The event object of a frame is within this many bytes of its start.
const EVENT_PREFIX: usize = 320;
/// New customers the fan-out's pushes come from, besides the seeded ones.
const NEW_CUSTOMERS: usize = 1000;
/// How long after the last push the dashboards may take to receive the last events.
const GRACE: Duration = Duration::from_secs(10);

/// Targets from issue #4.
const PAGE_P50_MS: f64 = 20.0;
const FANOUT_P99_MS: f64 = 50.0;
const MEMORY_MB: f64 = 100.0;

fn main() {
    let conversations = env_num("BENCH_CONVERSATIONS", 100_000);
    let messages = env_num("BENCH_MESSAGES", 1_000_000);
    let page_requests = env_num("BENCH_PAGE_REQUESTS", 300) as usize;
    let warmup = env_num("BENCH_WARMUP", 20) as usize;
    let dashboards = env_num("BENCH_DASHBOARDS", 200) as usize;
    let rate = env_num("BENCH_RATE", 500);
    let rate_secs = env_num("BENCH_RATE_SECS", 10);

    let data = tempfile::tempdir().expect("a temporary data dir");
    run_kefu(data.path(), &["migrate"], None);
    for (name, role) in [
        ("admin", "admin"),
        ("agent1", "agent"),
        ("agent2", "agent"),
        ("agent3", "agent"),
    ] {
        run_kefu(
            data.path(),
            &["user", "add", name, "--role", role, "--password-stdin"],
            Some(PASSWORD),
        );
    }
    println!("seeding {conversations} conversations and {messages} messages …");
    let made = run_kefu(
        data.path(),
        &[
            "seed",
            "--conversations",
            &conversations.to_string(),
            "--messages",
            &messages.to_string(),
        ],
        None,
    );
    print!("kefu seed: {made}");
    let token = run_kefu(
        data.path(),
        &["token", "create", "admin", "--label", "bench"],
        None,
    )
    .trim()
    .to_owned();

    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime");

    // the conversations the page phase opens: fixed pseudo-random ids, each once
    let mut rng = seeded(0x9e37_79b9_7f4a_7c15);
    let mut sample: Vec<i64> = Vec::new();
    let mut picked = std::collections::HashSet::new();
    while sample.len() < (warmup + page_requests).min(conversations as usize) {
        let id = rng.random_range(1..=conversations) as i64;
        if picked.insert(id) {
            sample.push(id);
        }
    }
    // and as many others for the switches, drawn after them (so the pages' sample is the same
    // as before the switches were measured)
    let mut switches: Vec<i64> = Vec::new();
    while switches.len() < sample.len() && picked.len() < conversations as usize {
        let id = rng.random_range(1..=conversations) as i64;
        if picked.insert(id) {
            switches.push(id);
        }
    }
    let unread_in_sample = runtime.block_on(unread_among(data.path(), &sample[warmup..]));

    let port = free_port();
    let addr = format!("127.0.0.1:{port}");
    let mut server = start_server(data.path(), port, &[]);
    let pid = server.id();
    let rss_start = proc_status_kb(pid, "VmRSS").unwrap_or(0);
    let cpu_pages = CpuUse::start(pid);

    // ---- 1. pages
    println!(
        "pages: {warmup} warm-up and {page_requests} measured requests of each kind, one at a time …"
    );
    let client = client();
    let pages = runtime.block_on(measure_pages(
        &client,
        &addr,
        &token,
        &sample,
        &switches,
        warmup,
        page_requests,
    ));
    let rss_after_pages = proc_status_kb(pid, "VmRSS").unwrap_or(0);
    let cpu_pages = cpu_pages.report();

    // ---- 2. live fan-out
    println!("fan-out: connecting {dashboards} dashboards to /ws …");
    let (stop_tx, stop_rx) = watch::channel(false);
    let seen = Arc::new(AtomicU64::new(0));
    let (ready_tx, ready_rx) = std::sync::mpsc::channel::<Duration>();
    let readers = {
        let (addr, token, seen) = (addr.clone(), token.clone(), seen.clone());
        std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("a runtime");
            rt.block_on(async move {
                let connecting = Instant::now();
                let mut tasks = Vec::with_capacity(dashboards);
                for _ in 0..dashboards {
                    let d = Dashboard::open(&addr, &token).await;
                    tasks.push(tokio::spawn(d.read(stop_rx.clone(), seen.clone())));
                }
                let _ = ready_tx.send(connecting.elapsed());
                let mut received = Vec::with_capacity(dashboards);
                for t in tasks {
                    received.push(t.await.expect("a dashboard task"));
                }
                received
            })
        })
    };
    let connect_time = ready_rx.recv().expect("the dashboards connected");
    // let the connection bookkeeping settle before reading the memory
    std::thread::sleep(Duration::from_millis(500));
    let rss_connected = proc_status_kb(pid, "VmRSS").unwrap_or(0);
    println!(
        "{dashboards} dashboards connected and greeted in {:.2}s; kefu RSS {:.1} MiB",
        connect_time.as_secs_f64(),
        mib(rss_connected)
    );

    let done = Arc::new(AtomicBool::new(false));
    let sampler = {
        let done = done.clone();
        std::thread::spawn(move || {
            let mut max = 0;
            while !done.load(Ordering::Relaxed) {
                max = max.max(proc_status_kb(pid, "VmRSS").unwrap_or(0));
                std::thread::sleep(Duration::from_millis(50));
            }
            max
        })
    };

    let total = (rate * rate_secs) as usize;
    let cipher = Cipher::new(AesKey::from_encoding_key(AES_KEY).expect("key"), APPID);
    let requests: Vec<Push> = (0..total)
        .map(|i| {
            let openid = if i % 5 < 3 {
                format!("oSeed{:010}", rng.random_range(1..=conversations))
            } else {
                format!("o-fanout-{}", rng.random_range(0..NEW_CUSTOMERS))
            };
            push_request(
                &cipher,
                port,
                &openid,
                &format!("fanout push {i} 你好"),
                3_000_000_000_000 + i as u64,
                &format!("{}", 700_000 + i),
            )
        })
        .collect();
    println!("fan-out: {total} pushes at {rate}/s (open loop) to {dashboards} dashboards …");
    // BENCH_PERF=FILE: profile kefu with `perf record` over the fan-out
    let perf = std::env::var("BENCH_PERF").ok().map(|out| {
        std::process::Command::new("perf")
            .args(["record", "-q", "-F", "999", "-g", "-o", &out, "-p"])
            .arg(pid.to_string())
            .stdout(std::process::Stdio::null())
            .spawn()
            .expect("start perf record")
    });
    let cpu_fanout = CpuUse::start(pid);
    let started = Instant::now();
    let (acked, webhook_lat, elapsed) =
        runtime.block_on(fixed_rate_from(&client, requests, rate, started));
    report(
        "webhook during the fan-out",
        acked,
        total,
        elapsed,
        acked as f64 / elapsed.as_secs_f64(),
        webhook_lat,
    );
    let expected = (acked * dashboards) as u64;
    let deadline = Instant::now() + GRACE;
    while seen.load(Ordering::Relaxed) < expected && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    let cpu_fanout = cpu_fanout.report();
    if let Some(mut perf) = perf {
        let _ = std::process::Command::new("kill")
            .args(["-INT", &perf.id().to_string()])
            .status();
        let _ = perf.wait();
    }
    done.store(true, Ordering::Relaxed);
    let rss_peak_sampled = sampler.join().unwrap_or(0);
    let _ = stop_tx.send(true);
    let received = readers.join().expect("the dashboards' reader");
    let hwm = proc_status_kb(pid, "VmHWM").unwrap_or(0);
    stop_server(&mut server);

    // which push each message is: its unique text, read back from the database
    let push_of = runtime.block_on(pushes_by_message(data.path()));
    let fanout = Fanout::of(&received, &push_of, started, rate, acked);

    // ---- summary
    println!();
    println!("CPU over the pages: {cpu_pages}");
    println!("CPU over the fan-out: {cpu_fanout}");
    println!(
        "conversation sample: {unread_in_sample} of {} had unread messages (opening them wrote)",
        page_requests
    );
    fanout.print_details();
    println!();
    println!(
        "{:<52} {:<58} target",
        format!("what ({conversations} conversations, {messages} messages)"),
        "figure"
    );
    let mut missed = Vec::new();
    for p in &pages {
        let ok = p.p50_ms() < PAGE_P50_MS;
        if !ok {
            missed.push(p.name);
        }
        println!(
            "{:<52} {:<58} p50 < {PAGE_P50_MS} ms {}",
            p.name,
            format!(
                "p50 {:.2} ms, p90 {:.2}, p99 {:.2}, max {:.2} ({} KiB)",
                p.p50_ms(),
                p.pct_ms(0.90),
                p.pct_ms(0.99),
                p.pct_ms(1.0),
                p.bytes / p.lat.len().max(1) / 1024
            ),
            verdict(ok)
        );
    }
    let p99 = fanout.p(0.99);
    let ok = p99 < FANOUT_P99_MS && fanout.complete();
    if !ok {
        missed.push("fan-out");
    }
    println!(
        "{:<52} {:<58} p99 < {FANOUT_P99_MS} ms {}",
        format!("push → event at each of {dashboards} dashboards, {rate}/s"),
        format!(
            "p50 {:.2} ms, p99 {:.2}, max {:.2} ({} pairs)",
            fanout.p(0.50),
            p99,
            fanout.p(1.0),
            fanout.lat_us.len()
        ),
        verdict(ok)
    );
    println!(
        "{:<52} {:<58} {} each, none missing",
        "message_added events per dashboard",
        format!(
            "{} to {} of {acked} acknowledged pushes",
            fanout.min_events, fanout.max_events
        ),
        acked
    );
    println!(
        "{:<52} {:<58} 0",
        "reload frames / closed connections",
        format!("{} / {}", fanout.reloads, fanout.closed)
    );
    let peak = rss_peak_sampled.max(rss_connected);
    let ok = mib(peak) < MEMORY_MB;
    if !ok {
        missed.push("memory");
    }
    println!(
        "{:<52} {:<58} < {MEMORY_MB} MB {}",
        "kefu memory (RSS)",
        format!(
            "{:.1} MiB start, {:.1} after pages, {:.1} connected, {:.1} peak",
            mib(rss_start),
            mib(rss_after_pages),
            mib(rss_connected),
            mib(peak)
        ),
        verdict(ok)
    );
    println!(
        "{:<52} {:<58}",
        "kefu VmHWM (whole run)",
        format!("{:.1} MiB", mib(hwm))
    );
    let failed_pages: usize = pages.iter().map(|p| p.failures).sum();
    if failed_pages > 0 || !fanout.complete() {
        eprintln!(
            "FAIL: {failed_pages} page answers were wrong; fan-out complete: {}",
            fanout.complete()
        );
        std::process::exit(1);
    }
    if missed.is_empty() {
        println!("ok: every target met");
    } else {
        println!("targets missed: {}", missed.join(", "));
    }
}

fn verdict(ok: bool) -> &'static str {
    if ok { "met" } else { "MISSED" }
}

/// CPU used over a phase: kefu's, this bench's, and everything else's on the machine.
struct CpuUse {
    started: Instant,
    kefu: CpuTicks,
    bench: CpuTicks,
    machine: u64,
    pid: u32,
    ticks_per_s: f64,
}

impl CpuUse {
    fn start(pid: u32) -> CpuUse {
        CpuUse {
            started: Instant::now(),
            kefu: CpuTicks::of(pid),
            bench: CpuTicks::of(std::process::id()),
            machine: machine_busy_ticks(),
            pid,
            ticks_per_s: clock_ticks_per_second() as f64,
        }
    }

    /// "kefu X s, this bench Y s, other processes Z s of CPU in W s"
    fn report(&self) -> String {
        let kefu = CpuTicks::of(self.pid).since(self.kefu).total();
        let bench = CpuTicks::of(std::process::id()).since(self.bench).total();
        let machine = machine_busy_ticks().saturating_sub(self.machine);
        let other = machine.saturating_sub(kefu + bench);
        let wall = self.started.elapsed().as_secs_f64();
        let secs = |ticks: u64| ticks as f64 / self.ticks_per_s;
        format!(
            "kefu {:.1} s ({:.0} % of one core), this bench {:.1} s, other processes {:.1} s of CPU in {wall:.1} s on {} cores",
            secs(kefu),
            secs(kefu) * 100.0 / wall,
            secs(bench),
            secs(other),
            std::thread::available_parallelism().map_or(0, |n| n.get()),
        )
    }
}

async fn open_store(dir: &std::path::Path) -> kefu::store::Store {
    let url = format!("sqlite://{}/kefu.db", dir.display());
    kefu::store::Store::open(&url)
        .await
        .expect("open the store")
}

/// How many of `ids` have unread messages (opening those writes).
async fn unread_among(dir: &std::path::Path, ids: &[i64]) -> usize {
    let store = open_store(dir).await;
    let mut n = 0;
    for chunk in ids.chunks(500) {
        let list: Vec<String> = chunk.iter().map(i64::to_string).collect();
        let sql = format!(
            "select count(*) from conversations where unread > 0 and id in ({})",
            list.join(",")
        );
        let count: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(sql))
            .fetch_one(store.pool())
            .await
            .expect("count unread");
        n += count as usize;
    }
    store.close().await;
    n
}

/// Message id → the index of the fan-out push it stores.
async fn pushes_by_message(dir: &std::path::Path) -> HashMap<i64, usize> {
    let store = open_store(dir).await;
    let rows: Vec<(i64, String)> =
        sqlx::query_as("select id, content from messages where content like '%fanout push %'")
            .fetch_all(store.pool())
            .await
            .expect("read the pushed messages");
    store.close().await;
    rows.into_iter()
        .filter_map(|(id, content)| {
            let rest = content.split("fanout push ").nth(1)?;
            let i = rest.split(' ').next()?.parse().ok()?;
            Some((id, i))
        })
        .collect()
}

// ---------------------------------------------------------------------------------------------
// Pages

struct PageKind {
    name: &'static str,
    lat: Vec<Duration>,
    bytes: usize,
    failures: usize,
    /// conversation pages that redirected or were not found (left out)
    skipped: usize,
}

impl PageKind {
    fn new(name: &'static str) -> PageKind {
        PageKind {
            name,
            lat: Vec::new(),
            bytes: 0,
            failures: 0,
            skipped: 0,
        }
    }

    fn pct_ms(&self, p: f64) -> f64 {
        let mut sorted = self.lat.clone();
        sorted.sort();
        ms(percentile(&sorted, p))
    }

    fn p50_ms(&self) -> f64 {
        self.pct_ms(0.5)
    }
}

fn count(hay: &[u8], needle: &[u8]) -> usize {
    let mut n = 0;
    let mut at = 0;
    while let Some(i) = find(&hay[at..], needle) {
        n += 1;
        at += i + needle.len();
    }
    n
}

/// The `href` of the inbox's `#more` link, unescaped.
fn more_link(body: &[u8]) -> Option<String> {
    let body = std::str::from_utf8(body).ok()?;
    let start = body.find(r#"id="more" href=""#)? + r#"id="more" href=""#.len();
    let href = &body[start..start + body[start..].find('"')?];
    Some(
        href.replace("&amp;", "&")
            .replace("&#x2f;", "/")
            .replace("&#47;", "/"),
    )
}

/// Whether an answer is the page asked for: 200, and the content that page must show.
fn page_ok(kind: usize, conversation: i64, a: &Answer) -> bool {
    if a.status != 200 || a.body.len() < 2000 {
        return false;
    }
    match kind {
        0..=2 => count(&a.body, b"class=\"conv-preview\"") == INBOX_ROWS,
        // the pane alone (or, from a kefu before the workspace, the whole page)
        4 => {
            let pane = format!(r#"data-conversation="{conversation}""#);
            let page = format!(r#"<meta name="kefu-conversation" content="{conversation}">"#);
            (find(&a.body, pane.as_bytes()).is_some() || find(&a.body, page.as_bytes()).is_some())
                && find(&a.body, b"class=\"msg dir-").is_some()
        }
        _ => {
            let marker = format!(r#"<meta name="kefu-conversation" content="{conversation}">"#);
            find(&a.body, marker.as_bytes()).is_some()
                && find(&a.body, b"class=\"msg dir-").is_some()
        }
    }
}

/// `http://{addr}{path}`
fn url(addr: &str, path: &str) -> Uri {
    format!("http://{addr}{path}")
        .parse()
        .expect("a page's URL")
}

async fn measure_pages(
    client: &Client,
    addr: &str,
    token: &str,
    sample: &[i64],
    switches: &[i64],
    warmup: usize,
    measured: usize,
) -> Vec<PageKind> {
    let first = get(client, &url(addr, "/inbox"), token)
        .await
        .expect("an answer to /inbox");
    assert_eq!(first.status, 200, "GET /inbox with the admin's token");
    let page_2 = more_link(&first.body).expect("the inbox has a #more link");
    let paths = [
        "/inbox".to_owned(),
        "/inbox?view=all&status=all".to_owned(),
        page_2,
    ];
    let mut kinds = vec![
        PageKind::new("GET /inbox (all, open)"),
        PageKind::new("GET /inbox?view=all&status=all"),
        PageKind::new("GET /inbox page 2 (#more)"),
        PageKind::new("GET /conversations/{id} (random ids)"),
        PageKind::new("GET /conversations/{id}?pane=1 (switch)"),
    ];
    for (round, first_id) in sample.iter().enumerate().take(warmup + measured) {
        for (kind, stats) in kinds.iter_mut().enumerate() {
            // the switch opens conversations of its own sample, each once, so that it reads
            // (and marks read) one not opened before as often as the page does
            let id = if kind == 4 {
                match switches.get(round) {
                    Some(id) => id,
                    None => continue,
                }
            } else {
                first_id
            };
            let path = match (paths.get(kind), kind) {
                (Some(p), _) => p.clone(),
                (None, 3) => format!("/conversations/{id}"),
                (None, _) => format!("/conversations/{id}?pane=1"),
            };
            let page = url(addr, &path);
            let t = Instant::now();
            let Some(answer) = get(client, &page, token).await else {
                stats.failures += 1;
                continue;
            };
            let took = t.elapsed();
            if round < warmup {
                continue;
            }
            if kind >= 3 && (answer.status == 404 || (300..400).contains(&answer.status)) {
                stats.skipped += 1;
                continue;
            }
            if !page_ok(kind, *id, &answer) {
                stats.failures += 1;
                eprintln!(
                    "unexpected answer to {path}: {} ({} bytes)",
                    answer.status,
                    answer.body.len()
                );
                continue;
            }
            stats.lat.push(took);
            stats.bytes += answer.body.len();
        }
    }
    for k in &kinds {
        println!(
            "  {:<40} {} answers, p50 {:.2} ms, p90 {:.2} ms, p99 {:.2} ms, max {:.2} ms, {} wrong, {} skipped",
            k.name,
            k.lat.len(),
            k.p50_ms(),
            k.pct_ms(0.90),
            k.pct_ms(0.99),
            k.pct_ms(1.0),
            k.failures,
            k.skipped
        );
    }
    kinds
}

// ---------------------------------------------------------------------------------------------
// Dashboards

/// What one dashboard read.
#[derive(Default)]
struct Received {
    /// (message id, when its `message_added` frame was read)
    events: Vec<(i64, Instant)>,
    frames: u64,
    /// payload bytes of the frames read
    bytes: u64,
    reloads: u64,
    /// `message_added` frames whose message id was not found in the first bytes
    unparsed: u64,
    /// kefu closed the connection (or it broke) before the end
    closed: bool,
}

struct Dashboard {
    ws: WebSocketStream<MaybeTlsStream<TcpStream>>,
}

/// The number after `key` in `hay`.
fn number_after(hay: &[u8], key: &[u8]) -> Option<i64> {
    let start = find(hay, key)? + key.len();
    let digits = hay[start..]
        .iter()
        .take_while(|b| b.is_ascii_digit())
        .count();
    std::str::from_utf8(&hay[start..start + digits])
        .ok()?
        .parse()
        .ok()
}

impl Dashboard {
    /// Connects with the bearer token and reads the greeting up to the `counts` frame.
    async fn open(addr: &str, token: &str) -> Dashboard {
        let mut request = format!("ws://{addr}/ws")
            .into_client_request()
            .expect("a /ws request");
        request.headers_mut().insert(
            "authorization",
            format!("Bearer {token}").parse().expect("a header value"),
        );
        // no Nagle: a frame leaves at once, as kefu's own sockets do
        let (ws, _) = tokio_tungstenite::connect_async_with_config(request, None, true)
            .await
            .expect("the /ws handshake");
        let mut d = Dashboard { ws };
        // the greeting: hello, presence, counts (and perhaps events about this connection)
        loop {
            match d.ws.next().await {
                Some(Ok(Message::Text(text))) if text.contains("\"counts\"") => return d,
                Some(Ok(_)) => {}
                Some(Err(e)) => panic!("reading the greeting: {e}"),
                None => panic!("kefu closed the WebSocket during the greeting"),
            }
        }
    }

    /// Reads frames until told to stop, noting when each `message_added` arrived.
    async fn read(mut self, mut stop: watch::Receiver<bool>, seen: Arc<AtomicU64>) -> Received {
        let mut r = Received::default();
        loop {
            let frame = tokio::select! {
                biased;
                _ = stop.changed() => break,
                frame = self.ws.next() => frame,
            };
            let at = Instant::now();
            let message = match frame {
                Some(Ok(message)) => message,
                Some(Err(_)) | None => {
                    r.closed = true;
                    break;
                }
            };
            r.frames += 1;
            r.bytes += message.len() as u64;
            match message {
                Message::Text(text) => {
                    let payload = text.as_bytes();
                    let head = &payload[..payload.len().min(EVENT_PREFIX)];
                    if find(head, b"\"message_added\"").is_some() {
                        match number_after(head, b"\"message_id\":") {
                            Some(id) => {
                                r.events.push((id, at));
                                seen.fetch_add(1, Ordering::Relaxed);
                            }
                            None => r.unparsed += 1,
                        }
                    } else if find(head, b"\"type\":\"reload\"").is_some() {
                        r.reloads += 1;
                    }
                }
                Message::Close(_) => {
                    r.closed = true;
                    break;
                }
                // pings are answered by tungstenite
                _ => {}
            }
        }
        r
    }
}

// ---------------------------------------------------------------------------------------------
// Fan-out results

struct Fanout {
    /// time from push due to arrival, per (push, dashboard), microseconds, sorted
    lat_us: Vec<u32>,
    /// per push: the first and the last dashboard's arrival, microseconds, sorted
    first_us: Vec<u32>,
    last_us: Vec<u32>,
    /// the slowest arrival in each second of the run, by when the push was due
    worst_by_second: Vec<u32>,
    /// each dashboard's median, in the order they connected
    median_by_dashboard: Vec<u32>,
    min_events: usize,
    max_events: usize,
    acked: usize,
    reloads: u64,
    closed: usize,
    unparsed: u64,
    unknown: usize,
    frames: u64,
    bytes: u64,
    dashboards: usize,
    pushes_seen: usize,
}

impl Fanout {
    fn of(
        received: &[Received],
        push_of: &HashMap<i64, usize>,
        started: Instant,
        rate: u64,
        acked: usize,
    ) -> Fanout {
        let pushes = push_of.values().max().map_or(0, |m| m + 1);
        let mut first = vec![u32::MAX; pushes];
        let mut last = vec![0u32; pushes];
        let mut lat_us = Vec::with_capacity(received.len() * acked);
        let mut worst_by_second: Vec<u32> = Vec::new();
        let (mut min_events, mut max_events, mut unknown) = (usize::MAX, 0, 0);
        let mut median_by_dashboard = Vec::with_capacity(received.len());
        for r in received {
            let mut mine = Vec::with_capacity(r.events.len());
            let mut got = std::collections::HashSet::with_capacity(r.events.len());
            for (id, at) in &r.events {
                let Some(&i) = push_of.get(id) else {
                    unknown += 1;
                    continue;
                };
                if !got.insert(i) {
                    continue;
                }
                let due = due_at(started, rate, i);
                let us = at.saturating_duration_since(due).as_micros() as u32;
                lat_us.push(us);
                mine.push(us);
                first[i] = first[i].min(us);
                last[i] = last[i].max(us);
                let second = (i as u64 / rate.max(1)) as usize;
                if worst_by_second.len() <= second {
                    worst_by_second.resize(second + 1, 0);
                }
                worst_by_second[second] = worst_by_second[second].max(us);
            }
            mine.sort_unstable();
            median_by_dashboard.push(percentile(&mine, 0.5));
            min_events = min_events.min(got.len());
            max_events = max_events.max(got.len());
        }
        lat_us.sort_unstable();
        let mut first_us: Vec<u32> = first.into_iter().filter(|&v| v != u32::MAX).collect();
        let pushes_seen = first_us.len();
        let mut last_us: Vec<u32> = last.into_iter().filter(|&v| v != 0).collect();
        first_us.sort_unstable();
        last_us.sort_unstable();
        Fanout {
            lat_us,
            first_us,
            last_us,
            worst_by_second,
            median_by_dashboard,
            min_events: if received.is_empty() { 0 } else { min_events },
            max_events,
            acked,
            reloads: received.iter().map(|r| r.reloads).sum(),
            closed: received.iter().filter(|r| r.closed).count(),
            unparsed: received.iter().map(|r| r.unparsed).sum(),
            unknown,
            frames: received.iter().map(|r| r.frames).sum(),
            bytes: received.iter().map(|r| r.bytes).sum(),
            dashboards: received.len(),
            pushes_seen,
        }
    }

    /// Milliseconds at quantile `p` over all (push, dashboard) pairs.
    fn p(&self, p: f64) -> f64 {
        percentile(&self.lat_us, p) as f64 / 1000.0
    }

    fn complete(&self) -> bool {
        self.min_events == self.acked && self.reloads == 0 && self.closed == 0 && self.unparsed == 0
    }

    fn print_details(&self) {
        let ms_at = |v: &[u32], p: f64| percentile(v, p) as f64 / 1000.0;
        println!(
            "fan-out: {} frames, {:.1} MiB read by {} dashboards ({:.0} bytes per frame); {} pushes seen by at least one; {} message_added frames of other messages, {} unparsed",
            self.frames,
            self.bytes as f64 / (1024.0 * 1024.0),
            self.dashboards,
            self.bytes as f64 / self.frames.max(1) as f64,
            self.pushes_seen,
            self.unknown,
            self.unparsed,
        );
        println!(
            "fan-out: first dashboard to get a push: p50 {:.2} ms, p99 {:.2} ms; last (all {} have it): p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
            ms_at(&self.first_us, 0.5),
            ms_at(&self.first_us, 0.99),
            self.dashboards,
            ms_at(&self.last_us, 0.5),
            ms_at(&self.last_us, 0.99),
            ms_at(&self.last_us, 1.0),
        );
        let worst: Vec<String> = self
            .worst_by_second
            .iter()
            .map(|us| format!("{:.0}", *us as f64 / 1000.0))
            .collect();
        println!(
            "fan-out: slowest arrival for the pushes due in each second (ms): {}",
            worst.join(" ")
        );
        // every twentieth dashboard's median, in the order they connected: a rising line means
        // kefu serves its connections one after another
        let medians: Vec<String> = self
            .median_by_dashboard
            .iter()
            .step_by((self.dashboards / 20).max(1))
            .map(|us| format!("{:.1}", *us as f64 / 1000.0))
            .collect();
        println!(
            "fan-out: median by dashboard, in connection order (ms): {}",
            medians.join(" ")
        );
    }
}
