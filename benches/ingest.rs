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
//!
//! `BENCH_CHANNELS=N` (default 1) spreads the pushes over N channels: before kefu starts, the
//! binary under test adds `ch0` … `ch{N-1}` with `kefu channel add` on the fresh data dir (in
//! the environment `kefu serve` gets, so with the same database and `secret.key`), each with
//! its own AppID, Token and EncodingAESKey and the workload's format, and push `i` goes to
//! `/wechat/ch{i % N}`, signed and encrypted for that channel. Afterwards the messages stored
//! are counted per channel too: none may be in another channel, nor more than it was sent. With
//! N = 1 the pushes go to the default channel at `/wechat`, as before channels; the binary
//! must know `kefu channel` for N > 1.

mod common;

use common::*;
use kefu::domain::{MatchKind, MessageContent, RuleAction};
use kefu::wechat::crypto::{AesKey, Cipher};
use kefu::wechat::push::Format;
use rand::Rng;
use rand::distr::Alphanumeric;

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

    /// Pushes `first..first + count` of this workload, push `i` to `webhooks[i % len]`.
    fn pushes(self, webhooks: &[Webhook], port: u16, first: usize, count: usize) -> Vec<Push> {
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
                push_to(webhooks[i % webhooks.len()], port, i, kind, self.format())
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
    /// with channels: whether each one holds no more than it was sent (and none other holds any)
    channels_ok: bool,
}

/// A channel the bench adds with `kefu channel add`: `ch{i}`, its own AppID, Token and
/// EncodingAESKey, made up the same on every run.
struct BenchChannel {
    name: String,
    appid: String,
    token: String,
    aes_key: String,
    cipher: Cipher,
}

impl BenchChannel {
    fn new(i: usize) -> BenchChannel {
        // none shares the default channel's AppID (wxbe0c000000000000)
        let appid = format!("wxbe0c{:012x}", i + 1);
        // kefu takes any 43 base64 letters (the last one's spare bits are not checked)
        let aes_key: String = seeded(0xc4a7 + i as u64)
            .sample_iter(Alphanumeric)
            .take(43)
            .map(char::from)
            .collect();
        let key = AesKey::from_encoding_key(&aes_key).expect("a channel's key");
        BenchChannel {
            name: format!("ch{i}"),
            cipher: Cipher::new(key, appid.as_str()),
            appid,
            token: format!("benchToken{i}"),
            aes_key,
        }
    }

    /// Adds the channel to the data dir `data` with the binary under test, in `format`, without
    /// an AppSecret (the bench only pushes); its webhook path, as kefu prints it.
    fn add(&self, data: &std::path::Path, format: &str, env: &[(&str, &str)]) -> String {
        let args = [
            "channel",
            "add",
            &self.name,
            "--kind",
            "miniprogram",
            "--appid",
            &self.appid,
            "--token",
            &self.token,
            "--aes-key",
            &self.aes_key,
            "--format",
            format,
            "--secret-stdin",
        ];
        let out = run_kefu_with(data, &args, Some("\n"), env);
        // the last line is the webhook path alone
        let path = out.lines().last().unwrap_or_default().trim().to_owned();
        assert!(
            path.starts_with('/'),
            "kefu channel add printed no webhook path: {out:?}"
        );
        path
    }
}

fn main() {
    let pushes = env_num("BENCH_PUSHES", 200_000) as usize;
    // BENCH_CONNECTIONS is the knob's older name
    let connections = env_num("BENCH_CONNS", env_num("BENCH_CONNECTIONS", 128)) as usize;
    let rate = env_num("BENCH_RATE", 2_000);
    let rate_secs = env_num("BENCH_RATE_SECS", 10);
    let rules = env_num("BENCH_RULES", 0) as usize;
    let channel_count = env_num("BENCH_CHANNELS", 1) as usize;
    assert!(channel_count >= 1, "BENCH_CHANNELS must be at least 1");
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
    // one channel: the default one, as before channels
    let channels: Vec<BenchChannel> = match channel_count {
        1 => Vec::new(),
        n => (0..n).map(BenchChannel::new).collect(),
    };
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
        let env = [("KEFU_WECHAT_FORMAT", format)];
        let paths: Vec<String> = channels
            .iter()
            .map(|c| c.add(data.path(), format, &env))
            .collect();
        if !channels.is_empty() {
            println!(
                "added {} channels ({} … {}) with kefu channel add",
                channels.len(),
                paths[0],
                paths[paths.len() - 1]
            );
        }
        let webhooks: Vec<Webhook> = match channels.len() {
            0 => vec![Webhook::default_channel(&cipher)],
            _ => channels
                .iter()
                .zip(&paths)
                .map(|(c, path)| Webhook {
                    path,
                    token: &c.token,
                    cipher: &c.cipher,
                })
                .collect(),
        };
        let mut server = start_server(data.path(), port, &env);
        let pid = server.id();
        let client = client();

        println!("building {pushes} encrypted pushes …");
        let requests = workload.pushes(&webhooks, port, 0, pushes);
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
        let mut total_2 = 0;
        if workload == Workload::Json {
            total_2 = (rate * rate_secs) as usize;
            println!("phase 2: {total_2} pushes at {rate}/s (open loop)");
            let requests = workload.pushes(&webhooks, port, pushes, total_2);
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
        let channels_ok = channels.is_empty() || {
            let by_channel = runtime.block_on(stored_by_channel(data.path()));
            check_channels(&channels, pushes + total_2, &by_channel)
        };
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
            channels_ok,
        });
    }

    println!();
    println!(
        "{:<6} {:>9} {:>9} {:>9} {:>12} {:>12} {:>12} {:>9}  stored = acknowledged  ({channel_count} channel{})",
        "",
        "pushes/s",
        "p50 ms",
        "p99 ms",
        "user µs",
        "system µs",
        "CPU µs/push",
        "RSS MiB",
        if channel_count == 1 { "" } else { "s" },
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
    if outcomes.iter().any(|o| !o.channels_ok) {
        eprintln!("FAIL: a channel stored pushes it was not sent");
        std::process::exit(1);
    }
    println!("ok: every acknowledged push is stored");
}

/// Inbound messages per channel name in the database of the data dir `data`.
async fn stored_by_channel(data: &std::path::Path) -> Vec<(String, i64)> {
    let url = format!("sqlite://{}/kefu.db", data.display());
    let store = kefu::store::Store::open(&url)
        .await
        .expect("open the store");
    // inbound only, as `count_inbound`: with BENCH_RULES the bot's replies are stored too
    let counts = sqlx::query_as(
        "select ch.name, count(*) from messages m
         join conversations c on c.id = m.conversation_id
         join channels ch on ch.id = c.channel_id
         where m.direction = 'in'
         group by ch.name order by ch.id",
    )
    .fetch_all(store.pool())
    .await
    .expect("count per channel");
    store.close().await;
    counts
}

/// Prints what each channel stored against what it was sent (pushes `0..sent`, round robin);
/// false when one stored more than it was sent or a channel the bench did not push to stored
/// any. With every push acknowledged, the check of the total makes each count exact.
fn check_channels(channels: &[BenchChannel], sent: usize, by_channel: &[(String, i64)]) -> bool {
    let n = channels.len();
    let sent_to = |i: usize| (sent / n + usize::from(i < sent % n)) as i64;
    let stored_in = |name: &str| {
        by_channel
            .iter()
            .find(|(c, _)| c == name)
            .map_or(0, |(_, count)| *count)
    };
    let mut ok = true;
    let mut counts = Vec::new();
    for (i, channel) in channels.iter().enumerate() {
        let (stored, sent) = (stored_in(&channel.name), sent_to(i));
        if stored > sent {
            eprintln!("{}: stored {stored}, sent {sent}", channel.name);
            ok = false;
        }
        counts.push(stored);
    }
    for (name, count) in by_channel {
        if !channels.iter().any(|c| &c.name == name) {
            eprintln!("{name}: stored {count}, sent none");
            ok = false;
        }
    }
    let (min, max) = (counts.iter().min(), counts.iter().max());
    println!(
        "stored per channel: {} to {} over {n} channels (sent {} to {} each)",
        min.copied().unwrap_or(0),
        max.copied().unwrap_or(0),
        sent_to(n - 1),
        sent_to(0),
    );
    ok
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
            channel_id: None,
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
