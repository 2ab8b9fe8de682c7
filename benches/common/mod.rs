//! What the benchmarks share: starting a release `kefu serve` (or the one `BENCH_KEFU_BIN`
//! names), building signed pushes, sending them with hyper's pooled HTTP/1.1 client, reading
//! a process's CPU and memory from `/proc`, a seeded random generator, and reporting latency
//! percentiles.
#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper::header::{AUTHORIZATION, CONTENT_TYPE, HeaderValue};
use hyper::{Method, Request, StatusCode, Uri};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use kefu::wechat::crypto::Cipher;
use kefu::wechat::push::Format;
use kefu::wechat::simulate::{SimulatedKind, push_body, sign_push};
use rand::SeedableRng;

pub const TOKEN: &str = "bench-token";
pub const AES_KEY: &str = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG";
pub const APPID: &str = "wxbe0c000000000000";

pub fn env_num(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// The kefu binary the bench runs: `BENCH_KEFU_BIN` (an older build, to measure it beside
/// this one on the same day), else the one cargo built for this bench.
pub fn kefu_bin() -> PathBuf {
    std::env::var_os("BENCH_KEFU_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_BIN_EXE_kefu")))
}

/// Prints a phase's line; its p50 and p99 in milliseconds.
pub fn report(
    phase: &str,
    acked: usize,
    sent: usize,
    elapsed: Duration,
    rate: f64,
    mut lat: Vec<Duration>,
) -> (f64, f64) {
    lat.sort();
    let pct = |p: f64| {
        lat.get(((lat.len() as f64 * p) as usize).min(lat.len().saturating_sub(1)))
            .copied()
            .unwrap_or_default()
    };
    println!(
        "{phase}: {acked}/{sent} acknowledged in {:.2}s = {rate:.0} pushes/s; time to success p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
        elapsed.as_secs_f64(),
        ms(pct(0.50)),
        ms(pct(0.99)),
        ms(lat.last().copied().unwrap_or_default()),
    );
    (ms(pct(0.50)), ms(pct(0.99)))
}

pub fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// `kefu` with the environment every bench gives it, whatever the command: nothing inherited
/// but the allocators' settings,
/// the data dir `data` (so its database and its `secret.key`) and the default channel's
/// variables. A caller's own variables go after, so that they win.
fn kefu_command(data: &std::path::Path) -> Command {
    let mut command = Command::new(kefu_bin());
    command
        .env_clear()
        .env("KEFU_DATA_DIR", data)
        .env("KEFU_WECHAT_TOKEN", TOKEN)
        .env("KEFU_WECHAT_AES_KEY", AES_KEY)
        .env("KEFU_WECHAT_APPID", APPID)
        .env("KEFU_ADMIN_PASSWORD", "bench-admin-password");
    // the allocators' settings pass through, to measure their effect: glibc's
    // (`MALLOC_ARENA_MAX`, …) and jemalloc's (`_RJEM_MALLOC_CONF`)
    command.envs(
        std::env::vars()
            .filter(|(name, _)| name.starts_with("MALLOC_") || name == "_RJEM_MALLOC_CONF"),
    );
    command
}

pub fn start_server(data: &std::path::Path, port: u16, extra: &[(&str, &str)]) -> Child {
    let mut child = kefu_command(data)
        .arg("serve")
        .env("KEFU_LISTEN", format!("127.0.0.1:{port}"))
        .env("KEFU_LOG", "info")
        .envs(extra.iter().copied())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start kefu serve");
    // Wait for the "serving" log line rather than polling the port.
    let stderr = child.stderr.take().expect("stderr");
    let mut lines = BufReader::new(stderr).lines();
    for line in lines.by_ref() {
        let line = line.expect("read kefu's log");
        if line.contains("kefu is serving") {
            break;
        }
    }
    std::thread::spawn(move || {
        for line in lines.map_while(Result::ok) {
            let worth = line.contains("WARN") || line.contains("ERROR") || line.contains("reload");
            if worth && !line.contains("is not set") {
                eprintln!("kefu: {line}");
            }
        }
    });
    child
}

pub fn stop_server(child: &mut Child) {
    // SIGTERM: kefu finishes in-flight requests and drains its writer before exiting.
    let _ = Command::new("kill").arg(child.id().to_string()).status();
    let _ = child.wait();
}

// ---------------------------------------------------------------------------------------------
// HTTP

/// hyper's pooled client: a request that finds no idle keep-alive connection opens one, so
/// N requests in flight use N connections.
pub type Client = hyper_util::client::legacy::Client<HttpConnector, Full<Bytes>>;

pub fn client() -> Client {
    let mut connector = HttpConnector::new();
    connector.set_nodelay(true);
    hyper_util::client::legacy::Client::builder(TokioExecutor::new()).build(connector)
}

/// `client()` whose idle keep-alive connections are dropped after `idle`: a run longer than
/// kefu's own idle timeout (60 s) uses one shorter than it, so no request is written on a
/// connection kefu is closing at that moment (which would count as a transport error).
pub fn client_with_idle_timeout(idle: Duration) -> Client {
    let mut connector = HttpConnector::new();
    connector.set_nodelay(true);
    hyper_util::client::legacy::Client::builder(TokioExecutor::new())
        .pool_idle_timeout(idle)
        .build(connector)
}

/// A webhook push, signed and encrypted before the clock starts; sending it only clones
/// reference-counted parts.
#[derive(Clone)]
pub struct Push {
    uri: Uri,
    content_type: HeaderValue,
    body: Bytes,
}

impl Push {
    fn request(&self) -> Request<Full<Bytes>> {
        let mut req = Request::new(Full::new(self.body.clone()));
        *req.method_mut() = Method::POST;
        *req.uri_mut() = self.uri.clone();
        req.headers_mut()
            .insert(CONTENT_TYPE, self.content_type.clone());
        req
    }

    /// Sends the push; true when kefu answered 200 with the body `success`.
    pub async fn send(&self, client: &Client) -> bool {
        let Ok(answer) = client.request(self.request()).await else {
            return false;
        };
        let ok = answer.status() == StatusCode::OK;
        match answer.into_body().collect().await {
            Ok(body) => ok && body.to_bytes() == "success",
            Err(_) => false,
        }
    }
}

/// What a push says, for the workloads of the ingest bench.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PushKind {
    Text,
    Image,
    /// a mini program card (`miniprogrampage`)
    Card,
    /// the customer opening the chat (`user_enter_tempsession`)
    Enter,
}

/// A channel's webhook as a push sees it: the path it is sent to, and the Token and cipher
/// (the channel's EncodingAESKey and AppID) it is signed and encrypted with.
#[derive(Clone, Copy)]
pub struct Webhook<'a> {
    pub path: &'a str,
    pub token: &'a str,
    pub cipher: &'a Cipher,
}

impl<'a> Webhook<'a> {
    /// The `default` channel, which `start_server` defines with the KEFU_WECHAT_* variables.
    pub fn default_channel(cipher: &'a Cipher) -> Webhook<'a> {
        Webhook {
            path: "/wechat",
            token: TOKEN,
            cipher,
        }
    }
}

/// Push `i` of a run to the default channel (`push_to`).
pub fn push(cipher: &Cipher, port: u16, i: usize, kind: PushKind, format: Format) -> Push {
    push_to(Webhook::default_channel(cipher), port, i, kind, format)
}

/// Push `i` of a run to `webhook`, of `kind`, in `format`, from one of 5,000 customers. Its
/// MsgId and nonce are unique to `i`, and so is its CreateTime for each customer (a second
/// earlier every 5,000 pushes), which is what makes an event unique: kefu drops a push it has
/// seen.
pub fn push_to(webhook: Webhook, port: u16, i: usize, kind: PushKind, format: Format) -> Push {
    // CreateTime counts back from one instant per process: read per push, the clock could tick
    // between pushes `i` and `i + 5000` and give one customer's two events the same second
    static FIRST: std::sync::OnceLock<i64> = std::sync::OnceLock::new();
    let now = kefu::domain::now_millis() / 1000;
    let first = *FIRST.get_or_init(|| now);
    let openid = format!("o-bench-{}", i % 5000);
    let kind = match kind {
        PushKind::Text => SimulatedKind::Text(format!("hello from customer {i} 你好")),
        PushKind::Image => SimulatedKind::Image {
            media_id: format!("bench-media-{i}"),
        },
        PushKind::Card => SimulatedKind::Card {
            thumb_media_id: None,
        },
        PushKind::Enter => SimulatedKind::Enter {
            session_from: "bench".to_owned(),
        },
    };
    let created = first - (i / 5000) as i64;
    let body = push_body(
        &kind,
        &openid,
        1_000_000_000_000 + i as u64,
        created,
        format,
    );
    let nonce = format!("{}", 100_000 + i);
    let signed_push = sign_push(
        &body,
        webhook.token,
        Some(webhook.cipher),
        format,
        &openid,
        now,
        &nonce,
    );
    signed_at(port, webhook.path, signed_push)
}

fn signed(port: u16, push: kefu::wechat::simulate::SignedPush) -> Push {
    signed_at(port, "/wechat", push)
}

fn signed_at(port: u16, path: &str, push: kefu::wechat::simulate::SignedPush) -> Push {
    Push {
        uri: format!("http://127.0.0.1:{port}{path}?{}", push.query)
            .parse()
            .expect("a webhook URI"),
        content_type: HeaderValue::from_static(push.content_type),
        body: Bytes::from(push.body),
    }
}

/// Pushes `first..first + count`, each a distinct encrypted JSON text.
pub fn build_requests(cipher: &Cipher, port: u16, first: usize, count: usize) -> Vec<Push> {
    (first..first + count)
        .map(|i| push(cipher, port, i, PushKind::Text, Format::Json))
        .collect()
}

/// One encrypted JSON text push from `openid` (`msg_id` must be unique: kefu drops a push it
/// has seen).
pub fn push_request(
    cipher: &Cipher,
    port: u16,
    openid: &str,
    text: &str,
    msg_id: u64,
    nonce: &str,
) -> Push {
    let now = kefu::domain::now_millis() / 1000;
    let body = push_body(
        &SimulatedKind::Text(text.to_owned()),
        openid,
        msg_id,
        now,
        Format::Json,
    );
    signed(
        port,
        sign_push(&body, TOKEN, Some(cipher), Format::Json, openid, now, nonce),
    )
}

/// Sends every push as fast as kefu answers, `connections` at a time (so over as many
/// keep-alive connections): how many were acknowledged, the time to each `success`, the
/// time it all took.
pub async fn saturate(
    client: &Client,
    pushes: Vec<Push>,
    connections: usize,
) -> (usize, Vec<Duration>, Duration) {
    let pushes = Arc::new(pushes);
    let next = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..connections {
        let (client, pushes, next) = (client.clone(), pushes.clone(), next.clone());
        tasks.push(tokio::spawn(async move {
            let mut acked = 0usize;
            let mut lat = Vec::new();
            while let Some(push) = pushes.get(next.fetch_add(1, Ordering::Relaxed)) {
                let t = Instant::now();
                if push.send(&client).await {
                    acked += 1;
                    lat.push(t.elapsed());
                }
            }
            (acked, lat)
        }));
    }
    let mut acked = 0;
    let mut lat = Vec::new();
    for t in tasks {
        let (a, l) = t.await.expect("a load task");
        acked += a;
        lat.extend(l);
    }
    (acked, lat, started.elapsed())
}

/// Sends at a fixed rate on as many connections as needed, timing each request from when it
/// was due (not when a connection became free), so a stall shows up in the latency.
pub async fn fixed_rate(
    client: &Client,
    pushes: Vec<Push>,
    rate: u64,
) -> (usize, Vec<Duration>, Duration) {
    fixed_rate_from(client, pushes, rate, Instant::now()).await
}

/// When request `i` of a fixed-rate run that started at `started` is due.
pub fn due_at(started: Instant, rate: u64, i: usize) -> Instant {
    started + Duration::from_nanos(1_000_000_000 / rate.max(1)) * i as u32
}

/// `fixed_rate`, with request `i` due at `started + i / rate`: a caller that keeps `started`
/// knows when each request was sent.
pub async fn fixed_rate_from(
    client: &Client,
    pushes: Vec<Push>,
    rate: u64,
    started: Instant,
) -> (usize, Vec<Duration>, Duration) {
    let (done_tx, mut done_rx) =
        tokio::sync::mpsc::unbounded_channel::<Option<(Duration, Duration)>>();
    let total = pushes.len();
    for (i, push) in pushes.into_iter().enumerate() {
        let due = due_at(started, rate, i);
        tokio::time::sleep_until(due.into()).await;
        let (client, done_tx) = (client.clone(), done_tx.clone());
        tokio::spawn(async move {
            let ok = push.send(&client).await;
            let _ = done_tx.send(ok.then(|| (due - started, due.elapsed())));
        });
    }
    let mut acked = 0;
    let mut lat = Vec::with_capacity(total);
    let mut worst_by_second: Vec<Duration> = Vec::new();
    for _ in 0..total {
        if let Some(Some((at, l))) = done_rx.recv().await {
            acked += 1;
            lat.push(l);
            let second = at.as_secs() as usize;
            if worst_by_second.len() <= second {
                worst_by_second.resize(second + 1, Duration::ZERO);
            }
            worst_by_second[second] = worst_by_second[second].max(l);
        }
    }
    let worst: Vec<String> = worst_by_second
        .iter()
        .map(|d| format!("{:.0}", ms(*d)))
        .collect();
    println!("slowest answer in each second (ms): {}", worst.join(" "));
    (acked, lat, started.elapsed())
}

/// An HTTP answer: its status and whole body.
pub struct Answer {
    pub status: u16,
    pub body: Bytes,
}

/// `GET url` with a bearer token; None when there was no answer.
pub async fn get(client: &Client, url: &Uri, token: &str) -> Option<Answer> {
    let mut req = Request::new(Full::default());
    *req.uri_mut() = url.clone();
    req.headers_mut().insert(
        AUTHORIZATION,
        HeaderValue::from_str(&format!("Bearer {token}")).ok()?,
    );
    let answer = client.request(req).await.ok()?;
    let status = answer.status().as_u16();
    let body = answer.into_body().collect().await.ok()?.to_bytes();
    Some(Answer { status, body })
}

/// `POST url` with a JSON `body` and a bearer token; None when there was no answer.
pub async fn post_json(client: &Client, url: &Uri, token: &str, body: String) -> Option<Answer> {
    let mut req = Request::new(Full::new(Bytes::from(body)));
    *req.method_mut() = Method::POST;
    *req.uri_mut() = url.clone();
    req.headers_mut().insert(
        AUTHORIZATION,
        HeaderValue::from_str(&format!("Bearer {token}")).ok()?,
    );
    req.headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    let answer = client.request(req).await.ok()?;
    let status = answer.status().as_u16();
    let body = answer.into_body().collect().await.ok()?.to_bytes();
    Some(Answer { status, body })
}

pub fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

// ---------------------------------------------------------------------------------------------
// Processes

/// Runs a `kefu` command (the release binary) on the data dir `data`, with the same
/// environment as `start_server`, feeding it `stdin`; its standard output. Panics with its
/// standard error when it fails.
pub fn run_kefu(data: &std::path::Path, args: &[&str], stdin: Option<&str>) -> String {
    run_kefu_with(data, args, stdin, &[])
}

/// `run_kefu` with `extra` variables, as `start_server` takes them: a command that should see
/// what the measured `kefu serve` will see is given the same.
pub fn run_kefu_with(
    data: &std::path::Path,
    args: &[&str],
    stdin: Option<&str>,
    extra: &[(&str, &str)],
) -> String {
    use std::io::Write;
    let mut child = kefu_command(data)
        .args(args)
        .env("KEFU_LOG", "warn")
        .envs(extra.iter().copied())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start kefu");
    let mut input = child.stdin.take().expect("stdin");
    if let Some(text) = stdin {
        input
            .write_all(text.as_bytes())
            .expect("write kefu's stdin");
    }
    drop(input);
    let out = child.wait_with_output().expect("run kefu");
    if !out.status.success() {
        panic!(
            "kefu {} failed: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A field of `/proc/{pid}/status` in kB (`VmRSS`, `VmHWM`).
pub fn proc_status_kb(pid: u32, field: &str) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
}

/// The CPU a process has used, from `/proc/{pid}/stat`, in clock ticks.
#[derive(Clone, Copy, Debug, Default)]
pub struct CpuTicks {
    pub user: u64,
    pub system: u64,
}

impl CpuTicks {
    /// utime and stime of `pid` (fields 14 and 15 of its stat); zero when it cannot be read.
    pub fn of(pid: u32) -> CpuTicks {
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
            return CpuTicks::default();
        };
        // the fields after the command name, which is in parentheses and may hold spaces:
        // the state (field 3) comes first, so field n is at n - 3
        let after = stat.rsplit_once(')').map_or("", |(_, rest)| rest);
        let fields: Vec<&str> = after.split_whitespace().collect();
        let field = |n: usize| {
            fields
                .get(n - 3)
                .and_then(|v| v.parse::<u64>().ok())
                .unwrap_or(0)
        };
        CpuTicks {
            user: field(14),
            system: field(15),
        }
    }

    pub fn since(self, earlier: CpuTicks) -> CpuTicks {
        CpuTicks {
            user: self.user.saturating_sub(earlier.user),
            system: self.system.saturating_sub(earlier.system),
        }
    }

    pub fn total(self) -> u64 {
        self.user + self.system
    }
}

/// Clock ticks per second (`getconf CLK_TCK`; 100 when it cannot be asked).
pub fn clock_ticks_per_second() -> u64 {
    Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|out| String::from_utf8(out.stdout).ok())
        .and_then(|text| text.trim().parse().ok())
        .filter(|&n| n > 0)
        .unwrap_or(100)
}

// ---------------------------------------------------------------------------------------------
// Numbers

/// The benches' one random generator, seeded: every run draws the same.
pub type BenchRng = rand::rngs::StdRng;

pub fn seeded(seed: u64) -> BenchRng {
    BenchRng::seed_from_u64(seed)
}

/// The `p` quantile (0..=1) of sorted values, nearest rank.
pub fn percentile<T: Copy + Default>(sorted: &[T], p: f64) -> T {
    if sorted.is_empty() {
        return T::default();
    }
    let rank = ((sorted.len() as f64 * p).ceil() as usize).clamp(1, sorted.len());
    sorted[rank - 1]
}

/// Kibibytes (as /proc reports them) in MiB.
pub fn mib(kb: u64) -> f64 {
    kb as f64 / 1024.0
}

/// CPU time the whole machine spent busy (not idle or waiting for I/O), in clock ticks, over
/// all cores.
pub fn machine_busy_ticks() -> u64 {
    let Ok(stat) = std::fs::read_to_string("/proc/stat") else {
        return 0;
    };
    let Some(cpu) = stat.lines().next().and_then(|l| l.strip_prefix("cpu ")) else {
        return 0;
    };
    // user nice system idle iowait irq softirq steal (guest time is within user)
    let v: Vec<u64> = cpu
        .split_whitespace()
        .take(8)
        .filter_map(|x| x.parse().ok())
        .collect();
    if v.len() < 8 {
        return 0;
    }
    v[0] + v[1] + v[2] + v[5] + v[6] + v[7]
}
