//! What the benchmarks share: starting a release `kefu serve`, building signed pushes, a lean
//! HTTP/1.1 load generator, and reporting latency percentiles.
#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use kefu::wechat::crypto::Cipher;
use kefu::wechat::push::Format;
use kefu::wechat::simulate::{SimulatedKind, push_body, sign_push};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::Mutex;

pub const TOKEN: &str = "bench-token";
pub const AES_KEY: &str = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG";
pub const APPID: &str = "wxbench0000000000";

pub fn env_num(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

pub fn report(
    phase: &str,
    acked: usize,
    sent: usize,
    elapsed: Duration,
    rate: f64,
    mut lat: Vec<Duration>,
) {
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

pub fn start_server(data: &std::path::Path, port: u16, extra: &[(&str, &str)]) -> Child {
    let mut child = Command::new(env!("CARGO_BIN_EXE_kefu"))
        .arg("serve")
        .env_clear()
        .env("KEFU_DATA_DIR", data)
        .env("KEFU_LISTEN", format!("127.0.0.1:{port}"))
        .env("KEFU_WECHAT_TOKEN", TOKEN)
        .env("KEFU_WECHAT_AES_KEY", AES_KEY)
        .env("KEFU_WECHAT_APPID", APPID)
        .env("KEFU_ADMIN_PASSWORD", "bench-admin-password")
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
            if (line.contains("WARN") || line.contains("ERROR")) && !line.contains("is not set") {
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

/// Pre-built HTTP/1.1 requests, each a distinct encrypted text push.
pub fn build_requests(cipher: &Cipher, port: u16, first: usize, count: usize) -> Vec<Vec<u8>> {
    let now = kefu::domain::now_millis() / 1000;
    (first..first + count)
        .map(|i| {
            let openid = format!("o-bench-{}", i % 5000);
            let body = push_body(
                &SimulatedKind::Text(format!("hello from customer {i} 你好")),
                &openid,
                1_000_000_000_000 + i as u64,
                now,
                Format::Json,
            );
            let push = sign_push(&body, TOKEN, Some(cipher), Format::Json, &openid, now, &format!("{}", 100_000 + i));
            format!(
                "POST /wechat?{} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Type: {}\r\nContent-Length: {}\r\n\r\n{}",
                push.query,
                push.content_type,
                push.body.len(),
                push.body
            )
            .into_bytes()
        })
        .collect()
}

/// A keep-alive connection that sends one request and reads one `success` answer.
pub struct Conn {
    stream: TcpStream,
    buf: Vec<u8>,
}

impl Conn {
    pub async fn open(addr: &str) -> Conn {
        let stream = TcpStream::connect(addr).await.expect("connect to kefu");
        stream.set_nodelay(true).expect("nodelay");
        Conn {
            stream,
            buf: Vec::with_capacity(4096),
        }
    }

    /// Sends `req`; true when kefu answered 200 with body `success`.
    pub async fn send(&mut self, req: &[u8]) -> bool {
        if self.stream.write_all(req).await.is_err() {
            return false;
        }
        self.buf.clear();
        loop {
            let mut chunk = [0u8; 2048];
            let n = match self.stream.read(&mut chunk).await {
                Ok(0) | Err(_) => return false,
                Ok(n) => n,
            };
            self.buf.extend_from_slice(&chunk[..n]);
            let Some(head_end) = find(&self.buf, b"\r\n\r\n") else {
                continue;
            };
            let head = String::from_utf8_lossy(&self.buf[..head_end]).to_ascii_lowercase();
            let len: usize = head
                .lines()
                .find_map(|l| l.strip_prefix("content-length:"))
                .and_then(|v| v.trim().parse().ok())
                .unwrap_or(0);
            if self.buf.len() >= head_end + 4 + len {
                let body = &self.buf[head_end + 4..head_end + 4 + len];
                return head.starts_with("http/1.1 200") && body == b"success";
            }
        }
    }
}

pub fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

pub async fn saturate(
    addr: &str,
    requests: Vec<Vec<u8>>,
    connections: usize,
) -> (usize, Vec<Duration>, Duration) {
    let queue = Arc::new(Mutex::new(requests.into_iter()));
    let started = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..connections {
        let queue = queue.clone();
        let addr = addr.to_owned();
        tasks.push(tokio::spawn(async move {
            let mut conn = Conn::open(&addr).await;
            let mut acked = 0usize;
            let mut lat = Vec::new();
            loop {
                let Some(req) = queue.lock().await.next() else {
                    break;
                };
                let t = Instant::now();
                if conn.send(&req).await {
                    acked += 1;
                    lat.push(t.elapsed());
                } else {
                    conn = Conn::open(&addr).await;
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
    addr: &str,
    requests: Vec<Vec<u8>>,
    rate: u64,
) -> (usize, Vec<Duration>, Duration) {
    fixed_rate_from(addr, requests, rate, Instant::now()).await
}

/// When request `i` of a fixed-rate run that started at `started` is due.
pub fn due_at(started: Instant, rate: u64, i: usize) -> Instant {
    started + Duration::from_nanos(1_000_000_000 / rate.max(1)) * i as u32
}

/// `fixed_rate`, with request `i` due at `started + i / rate`: a caller that keeps `started`
/// knows when each request was sent.
pub async fn fixed_rate_from(
    addr: &str,
    requests: Vec<Vec<u8>>,
    rate: u64,
    started: Instant,
) -> (usize, Vec<Duration>, Duration) {
    let (free_tx, mut free_rx) = tokio::sync::mpsc::unbounded_channel::<Conn>();
    let (done_tx, mut done_rx) =
        tokio::sync::mpsc::unbounded_channel::<Option<(Duration, Duration)>>();
    let total = requests.len();
    for (i, req) in requests.into_iter().enumerate() {
        let due = due_at(started, rate, i);
        tokio::time::sleep_until(due.into()).await;
        let conn = match free_rx.try_recv() {
            Ok(c) => c,
            Err(_) => Conn::open(addr).await,
        };
        let free_tx = free_tx.clone();
        let done_tx = done_tx.clone();
        tokio::spawn(async move {
            let mut conn = conn;
            let ok = conn.send(&req).await;
            let _ = done_tx.send(ok.then(|| (due - started, due.elapsed())));
            if ok {
                let _ = free_tx.send(conn);
            }
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

/// Runs a `kefu` command (the release binary) on the data dir `data`, with the same
/// environment as `start_server`, feeding it `stdin`; its standard output. Panics with its
/// standard error when it fails.
pub fn run_kefu(data: &std::path::Path, args: &[&str], stdin: Option<&str>) -> String {
    use std::io::Write;
    let mut child = Command::new(env!("CARGO_BIN_EXE_kefu"))
        .args(args)
        .env_clear()
        .env("KEFU_DATA_DIR", data)
        .env("KEFU_WECHAT_TOKEN", TOKEN)
        .env("KEFU_WECHAT_AES_KEY", AES_KEY)
        .env("KEFU_WECHAT_APPID", APPID)
        .env("KEFU_LOG", "warn")
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

/// One encrypted text push from `openid` as an HTTP/1.1 request (`msg_id` must be unique:
/// kefu drops a push it has seen).
pub fn push_request(
    cipher: &Cipher,
    port: u16,
    openid: &str,
    text: &str,
    msg_id: u64,
    nonce: &str,
) -> Vec<u8> {
    let now = kefu::domain::now_millis() / 1000;
    let body = push_body(
        &SimulatedKind::Text(text.to_owned()),
        openid,
        msg_id,
        now,
        Format::Json,
    );
    let push = sign_push(&body, TOKEN, Some(cipher), Format::Json, openid, now, nonce);
    format!(
        "POST /wechat?{} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Type: {}\r\nContent-Length: {}\r\n\r\n{}",
        push.query,
        push.content_type,
        push.body.len(),
        push.body
    )
    .into_bytes()
}

/// A field of `/proc/{pid}/status` in kB (`VmRSS`, `VmHWM`).
pub fn proc_status_kb(pid: u32, field: &str) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
}

/// The `p` quantile (0..=1) of sorted values, nearest rank.
pub fn percentile<T: Copy + Default>(sorted: &[T], p: f64) -> T {
    if sorted.is_empty() {
        return T::default();
    }
    let rank = ((sorted.len() as f64 * p).ceil() as usize).clamp(1, sorted.len());
    sorted[rank - 1]
}

/// An HTTP answer: status, head (lower-cased) and body.
pub struct Answer {
    pub status: u16,
    pub head: String,
    pub body: Vec<u8>,
}

impl Answer {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.head.lines().find_map(|l| {
            l.strip_prefix(name)
                .and_then(|v| v.strip_prefix(':'))
                .map(str::trim)
        })
    }
}

impl Conn {
    /// Sends any request and reads its answer (a `Content-Length` or chunked body); None when
    /// the connection failed.
    pub async fn request(&mut self, req: &[u8]) -> Option<Answer> {
        self.stream.write_all(req).await.ok()?;
        self.buf.clear();
        let mut chunk = vec![0u8; 64 * 1024];
        let head_end = loop {
            if let Some(end) = find(&self.buf, b"\r\n\r\n") {
                break end;
            }
            let n = self.stream.read(&mut chunk).await.ok()?;
            if n == 0 {
                return None;
            }
            self.buf.extend_from_slice(&chunk[..n]);
        };
        let head = String::from_utf8_lossy(&self.buf[..head_end]).to_ascii_lowercase();
        let status = head.get(9..12)?.parse().ok()?;
        let mut answer = Answer {
            status,
            head,
            body: Vec::new(),
        };
        let mut rest = self.buf.split_off(head_end + 4);
        if answer.header("transfer-encoding") == Some("chunked") {
            loop {
                // a chunk: its size in hex, CRLF, the bytes, CRLF; the last has size 0
                let Some(line_end) = find(&rest, b"\r\n") else {
                    let n = self.stream.read(&mut chunk).await.ok()?;
                    if n == 0 {
                        return None;
                    }
                    rest.extend_from_slice(&chunk[..n]);
                    continue;
                };
                let size_text = String::from_utf8_lossy(&rest[..line_end]);
                let size = usize::from_str_radix(size_text.split(';').next()?.trim(), 16).ok()?;
                while rest.len() < line_end + 2 + size + 2 {
                    let n = self.stream.read(&mut chunk).await.ok()?;
                    if n == 0 {
                        return None;
                    }
                    rest.extend_from_slice(&chunk[..n]);
                }
                answer
                    .body
                    .extend_from_slice(&rest[line_end + 2..line_end + 2 + size]);
                rest.drain(..line_end + 2 + size + 2);
                if size == 0 {
                    return Some(answer);
                }
            }
        }
        let len: usize = answer
            .header("content-length")
            .and_then(|v| v.parse().ok())
            .unwrap_or(0);
        while rest.len() < len {
            let n = self.stream.read(&mut chunk).await.ok()?;
            if n == 0 {
                return None;
            }
            rest.extend_from_slice(&chunk[..n]);
        }
        rest.truncate(len);
        answer.body = rest;
        Some(answer)
    }
}
