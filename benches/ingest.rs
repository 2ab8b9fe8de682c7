//! Webhook ingest benchmark: starts a release `kefu serve` on loopback with a fresh data dir,
//! fires safe-mode (encrypted) pushes at it, and reports pushes/s, the time to `success` and
//! kefu's own CPU per push. Then it opens the database and checks that every acknowledged push
//! is stored.
//!
//!     cargo bench --bench ingest
//!
//! Three workloads, each on its own fresh kefu and data dir (`BENCH_WORKLOADS`, default
//! `json,mix,xml`): `json`, safe-mode JSON text pushes; `mix`, safe-mode JSON pushes of which
//! 70 % are texts, 10 % images, 10 % mini program cards and 10 % `user_enter_tempsession`
//! events, in a seeded random order; `xml`, safe-mode XML text pushes (kefu configured for
//! XML).
//!
//! For each: (1) saturation: `BENCH_PUSHES` pushes (default 200000) back to back, at most
//! `BENCH_CONNS` at a time over as many keep-alive connections (default 128); kefu's utime and
//! stime (fields 14 and 15 of `/proc/<pid>/stat`, in clock ticks of `getconf CLK_TCK`) are
//! read before and after, and their difference over the pushes acknowledged is its CPU per
//! push, user and system. Then (2), on the `json` workload only: a fixed rate of `BENCH_RATE`
//! pushes/s (default 2000) for `BENCH_RATE_SECS` seconds (default 10), open loop, so latency is
//! measured without coordinated omission. The pushes are built before the clock starts and
//! sent with hyper's client from one thread, so that most of the machine is left to kefu.
//!
//! kefu's peak memory (`VmHWM` of `/proc/<pid>/status`) is read after the saturation phase
//! too, so that a change which saves CPU at the cost of memory (an allocator, bigger buffers)
//! shows. `BENCH_PERF=FILE` records a `perf` profile of kefu (`perf record -g`, 999 Hz) over
//! the saturation phase of each workload, in `FILE.<workload>`; read it with
//! `perf report -i FILE.json --no-children --sort symbol`.
//!
//! `BENCH_KEFU_BIN=/path/to/kefu` runs another kefu binary instead of this build's (an older
//! build, measured beside this one on the same day). `BENCH_RULES=1000` first stores that many
//! enabled auto-reply rules (exact, contains and regex keywords, Chinese and English; a few
//! match the pushed texts), so the cost of the bot's rule matching on the webhook's path shows
//! against a run without rules; they are written with this build's store, so the binary's
//! schema must know rules.

mod common;

use common::*;
use kefu::domain::{MatchKind, MessageContent, RuleAction};
use kefu::wechat::crypto::{AesKey, Cipher};
use kefu::wechat::push::Format;
use rand::Rng;

/// The pushes of one workload.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Workload {
    /// safe-mode JSON texts
    Json,
    /// safe-mode JSON: 70 % texts, 10 % images, 10 % cards, 10 % enter events
    Mix,
    /// safe-mode XML texts
    Xml,
}

impl Workload {
    fn parse(name: &str) -> Option<Workload> {
        match name.trim() {
            "json" => Some(Workload::Json),
            "mix" => Some(Workload::Mix),
            "xml" => Some(Workload::Xml),
            _ => None,
        }
    }

    fn name(self) -> &'static str {
        match self {
            Workload::Json => "json",
            Workload::Mix => "mix",
            Workload::Xml => "xml",
        }
    }

    fn describe(self) -> &'static str {
        match self {
            Workload::Json => "safe-mode JSON text",
            Workload::Mix => "safe-mode JSON, 70 % text, 10 % image, 10 % card, 10 % enter",
            Workload::Xml => "safe-mode XML text",
        }
    }

    fn format(self) -> Format {
        match self {
            Workload::Xml => Format::Xml,
            Workload::Json | Workload::Mix => Format::Json,
        }
    }

    /// Pushes `first..first + count` of this workload.
    fn pushes(self, cipher: &Cipher, port: u16, first: usize, count: usize) -> Vec<Push> {
        let mut rng = seeded(first as u64 + 1);
        (first..first + count)
            .map(|i| {
                let kind = match self {
                    Workload::Json | Workload::Xml => PushKind::Text,
                    Workload::Mix => match rng.random_range(0..10) {
                        0..=6 => PushKind::Text,
                        7 => PushKind::Image,
                        8 => PushKind::Card,
                        _ => PushKind::Enter,
                    },
                };
                push(cipher, port, i, kind, self.format())
            })
            .collect()
    }
}

/// What one workload measured.
struct Outcome {
    workload: Workload,
    pushes_per_s: f64,
    p50_ms: f64,
    p99_ms: f64,
    /// kefu's CPU per acknowledged push over the saturation phase, microseconds
    user_us: f64,
    system_us: f64,
    /// kefu's VmHWM after the saturation phase, MiB
    rss_peak_mib: f64,
    stored: i64,
    acked: i64,
}

fn main() {
    let pushes = env_num("BENCH_PUSHES", 200_000) as usize;
    // BENCH_CONNECTIONS is the knob's older name
    let connections = env_num("BENCH_CONNS", env_num("BENCH_CONNECTIONS", 128)) as usize;
    let rate = env_num("BENCH_RATE", 2_000);
    let rate_secs = env_num("BENCH_RATE_SECS", 10);
    let rules = env_num("BENCH_RULES", 0) as usize;
    let workloads: Vec<Workload> = std::env::var("BENCH_WORKLOADS")
        .unwrap_or_else(|_| "json,mix,xml".to_owned())
        .split(',')
        .map(|w| Workload::parse(w).unwrap_or_else(|| panic!("unknown workload {w:?}")))
        .collect();
    let ticks_per_s = clock_ticks_per_second();
    println!(
        "kefu: {} ({ticks_per_s} clock ticks per second)",
        kefu_bin().display()
    );

    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime");
    let cipher = Cipher::new(AesKey::from_encoding_key(AES_KEY).expect("key"), APPID);
    let mut outcomes = Vec::new();
    for workload in workloads {
        println!();
        println!("== {}: {}", workload.name(), workload.describe());
        let data = tempfile::tempdir().expect("a temporary data dir");
        if rules > 0 {
            run_kefu(data.path(), &["migrate"], None);
            runtime.block_on(store_rules(data.path(), rules));
            println!("stored {rules} enabled auto-reply rules");
        }
        let port = free_port();
        let format = match workload.format() {
            Format::Json => "json",
            Format::Xml => "xml",
        };
        let mut server = start_server(data.path(), port, &[("KEFU_WECHAT_FORMAT", format)]);
        let pid = server.id();
        let client = client();

        println!("building {pushes} encrypted pushes …");
        let requests = workload.pushes(&cipher, port, 0, pushes);
        println!(
            "phase 1: {pushes} pushes over {connections} connections, as fast as kefu answers"
        );
        let perf = std::env::var("BENCH_PERF").ok().map(|out| {
            let child = std::process::Command::new("perf")
                .args(["record", "-q", "-F", "999", "-g", "-o"])
                .arg(format!("{out}.{}", workload.name()))
                .arg("-p")
                .arg(pid.to_string())
                .stdout(std::process::Stdio::null())
                .spawn()
                .expect("start perf record");
            // let perf attach before the clock starts
            std::thread::sleep(std::time::Duration::from_millis(500));
            child
        });
        let before = CpuTicks::of(pid);
        let (acked_1, lat_1, elapsed) = runtime.block_on(saturate(&client, requests, connections));
        let cpu = CpuTicks::of(pid).since(before);
        let rss_peak_mib = proc_status_kb(pid, "VmHWM").unwrap_or(0) as f64 / 1024.0;
        if let Some(mut perf) = perf {
            let _ = std::process::Command::new("kill")
                .args(["-INT", &perf.id().to_string()])
                .status();
            let _ = perf.wait();
        }
        let rate_1 = acked_1 as f64 / elapsed.as_secs_f64();
        let (p50_ms, p99_ms) = report("saturation", acked_1, pushes, elapsed, rate_1, lat_1);
        let per_push = |ticks: u64| ticks as f64 * 1e6 / ticks_per_s as f64 / acked_1.max(1) as f64;
        let (user_us, system_us) = (per_push(cpu.user), per_push(cpu.system));
        println!(
            "kefu CPU per push: {user_us:.1} µs user + {system_us:.1} µs system = {:.1} µs ({:.2} s user, {:.2} s system over {acked_1} pushes in {:.2} s)",
            user_us + system_us,
            cpu.user as f64 / ticks_per_s as f64,
            cpu.system as f64 / ticks_per_s as f64,
            elapsed.as_secs_f64(),
        );
        println!("kefu peak RSS (VmHWM): {rss_peak_mib:.1} MiB");

        let mut acked_2 = 0;
        if workload == Workload::Json {
            let total_2 = (rate * rate_secs) as usize;
            println!("phase 2: {total_2} pushes at {rate}/s (open loop)");
            let requests = workload.pushes(&cipher, port, pushes, total_2);
            let (acked, lat_2, elapsed) = runtime.block_on(fixed_rate(&client, requests, rate));
            report(
                "fixed rate",
                acked,
                total_2,
                elapsed,
                acked as f64 / elapsed.as_secs_f64(),
                lat_2,
            );
            acked_2 = acked;
        }
        drop(client);

        // Stop kefu, then count what is on disk.
        stop_server(&mut server);
        let stored = runtime.block_on(stored_messages(data.path()));
        let acked = (acked_1 + acked_2) as i64;
        println!("stored {stored} messages, acknowledged {acked}");
        outcomes.push(Outcome {
            workload,
            pushes_per_s: rate_1,
            p50_ms,
            p99_ms,
            user_us,
            system_us,
            rss_peak_mib,
            stored,
            acked,
        });
    }

    println!();
    println!(
        "{:<6} {:>9} {:>9} {:>9} {:>12} {:>12} {:>12} {:>9}  stored = acknowledged",
        "", "pushes/s", "p50 ms", "p99 ms", "user µs", "system µs", "CPU µs/push", "RSS MiB"
    );
    for o in &outcomes {
        println!(
            "{:<6} {:>9.0} {:>9.2} {:>9.2} {:>12.1} {:>12.1} {:>12.1} {:>9.1}  {} = {}",
            o.workload.name(),
            o.pushes_per_s,
            o.p50_ms,
            o.p99_ms,
            o.user_us,
            o.system_us,
            o.user_us + o.system_us,
            o.rss_peak_mib,
            o.stored,
            o.acked
        );
    }
    if outcomes.iter().any(|o| o.stored != o.acked) {
        eprintln!("FAIL: stored != acknowledged");
        std::process::exit(1);
    }
    println!("ok: every acknowledged push is stored");
}

/// Inbound messages in the database of the data dir `data`.
async fn stored_messages(data: &std::path::Path) -> i64 {
    let url = format!("sqlite://{}/kefu.db", data.display());
    let store = kefu::store::Store::open(&url)
        .await
        .expect("open the store");
    let stored = kefu::store::messages::count_inbound(store.pool())
        .await
        .expect("count");
    store.close().await;
    stored
}

/// `n` enabled rules: 40% exact, 40% contains, 20% regex; one in fifty matches some of the
/// pushed texts ("hello from customer {i} 你好").
async fn store_rules(data: &std::path::Path, n: usize) {
    let url = format!("sqlite://{}/kefu.db", data.display());
    let store = kefu::store::Store::open(&url)
        .await
        .expect("open the store");
    let now = kefu::domain::now_millis();
    let mut tx = store.begin_write().await.expect("a transaction");
    for i in 0..n {
        let (kind, keywords) = match i % 5 {
            0 | 1 => (
                MatchKind::Exact,
                vec![format!("问题{i}"), format!("question {i}")],
            ),
            2 | 3 if i % 50 == 2 => (MatchKind::Contains, vec![format!("customer {i}7")]),
            2 | 3 => (
                MatchKind::Contains,
                vec![format!("关键词{i}"), format!("keyword{i}")],
            ),
            _ => (
                MatchKind::Regex,
                vec![format!(r"^(order|订单)\s*#?{i}\d+$")],
            ),
        };
        let reply = MessageContent::text(format!("answer {i}"));
        let fields = kefu::store::rules::RuleFields {
            name: &format!("rule {i}"),
            enabled: true,
            priority: (i % 17) as i64,
            match_kind: kind,
            keywords: &keywords,
            action: RuleAction::Reply,
            reply: Some(&reply),
        };
        kefu::store::rules::create(&mut tx, &fields, now)
            .await
            .expect("store a rule");
    }
    tx.commit().await.expect("commit");
    store.close().await;
}
