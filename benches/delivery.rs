//! Delivery benchmark: a backlog of queued replies drains through the outbox to the fake
//! WeChat API, which answers each send after 50 ms (like a far-away API), while customer
//! pushes keep arriving at the webhook at a fixed rate.
//!
//!     cargo bench --bench delivery
//!
//! Reports sends/s (the whole backlog over the drain time), the webhook's time to `success`
//! while the outbox drains, and kefu's resident memory over the run. Knobs:
//! `BENCH_BACKLOG` (default 100000), `BENCH_CONVERSATIONS` (2000), `BENCH_LATENCY_MS` (50),
//! `BENCH_RATE` (2000 pushes/s) for `BENCH_RATE_SECS` (10).

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use common::*;
use kefu::domain::{MessageContent, MessageType, SenderKind, now_millis};
use kefu::store::inbound::{self, Inbound};
use kefu::store::outbox::{self, NewMessage};
use kefu::wechat::crypto::{AesKey, Cipher};
use kefu::wechat::fake::{FakeConfig, FakeWechat};

const SECRET: &str = "bench-secret";

fn main() {
    let backlog = env_num("BENCH_BACKLOG", 100_000) as usize;
    let conversations = env_num("BENCH_CONVERSATIONS", 2_000) as usize;
    let latency = env_num("BENCH_LATENCY_MS", 50);
    let rate = env_num("BENCH_RATE", 2_000);
    let rate_secs = env_num("BENCH_RATE_SECS", 10);

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a runtime");
    let data = tempfile::tempdir().expect("a temporary data dir");

    println!("seeding {conversations} conversations and {backlog} queued replies …");
    runtime.block_on(seed(data.path(), conversations, backlog));

    let fake = runtime
        .block_on(FakeWechat::start(FakeConfig::new(APPID, SECRET)))
        .expect("start the fake WeChat API");
    fake.set_latency(Duration::from_millis(latency));
    let fake = Arc::new(fake);

    let port = free_port();
    let base = fake.base_url();
    let started = Instant::now();
    let mut server = start_server(
        data.path(),
        port,
        &[
            ("KEFU_WECHAT_API_BASE", &base),
            ("KEFU_WECHAT_SECRET", SECRET),
        ],
    );
    let pid = server.id();

    // kefu's resident memory, sampled while the backlog drains
    let done = Arc::new(AtomicBool::new(false));
    let max_rss = Arc::new(AtomicU64::new(0));
    let sampler = {
        let (done, max_rss) = (done.clone(), max_rss.clone());
        std::thread::spawn(move || {
            let mut samples = Vec::new();
            while !done.load(Ordering::Relaxed) {
                if let Some(kb) = proc_status_kb(pid, "VmRSS") {
                    max_rss.fetch_max(kb, Ordering::Relaxed);
                    samples.push(kb);
                }
                std::thread::sleep(Duration::from_millis(250));
            }
            samples
        })
    };

    let cipher = Cipher::new(AesKey::from_encoding_key(AES_KEY).expect("key"), APPID);
    let total = (rate * rate_secs) as usize;
    println!("pushing {total} customer messages at {rate}/s while the outbox drains …");
    let requests = build_requests(&cipher, port, 10_000_000, total);
    let client = client();
    let (acked, lat, elapsed) = runtime.block_on(fixed_rate(&client, requests, rate));
    report(
        "webhook during drain",
        acked,
        total,
        elapsed,
        acked as f64 / elapsed.as_secs_f64(),
        lat,
    );

    let sent = runtime.block_on(fake.wait_for_sent(backlog, Duration::from_secs(600)));
    let drain = started.elapsed();
    done.store(true, Ordering::Relaxed);
    let samples = sampler.join().unwrap_or_default();
    stop_server(&mut server);

    println!(
        "outbox: {} of {backlog} replies accepted by the fake API in {:.1}s = {:.0} sends/s (50 ms per send, at most {} in flight)",
        sent.len(),
        drain.as_secs_f64(),
        sent.len() as f64 / drain.as_secs_f64(),
        128,
    );
    let first = samples.first().copied().unwrap_or(0);
    let last = samples.last().copied().unwrap_or(0);
    println!(
        "kefu memory (RSS): {:.1} MiB at start, {:.1} MiB at the end, {:.1} MiB at most",
        first as f64 / 1024.0,
        last as f64 / 1024.0,
        max_rss.load(Ordering::Relaxed) as f64 / 1024.0
    );
    if sent.len() < backlog {
        eprintln!("FAIL: the backlog did not drain");
        std::process::exit(1);
    }
}

/// Customers who wrote, and a backlog of replies queued for them, written straight into a
/// fresh database (a fixture: queueing through the API would only measure the API).
async fn seed(dir: &std::path::Path, conversations: usize, backlog: usize) {
    let url = format!("sqlite://{}/kefu.db", dir.display());
    let store = kefu::store::Store::open(&url)
        .await
        .expect("open the store");
    store.migrate().await.expect("migrate");
    let mut writes = store.write_connection().expect("the writer's connection");
    let now = now_millis();
    let pushes: Vec<Inbound> = (0..conversations)
        .map(|i| Inbound {
            channel_id: 1,
            openid: format!("o-bench-{i}"),
            dedup_key: format!("msg:seed-{i}"),
            kind: MessageType::Text,
            content: r#"{"text":"hello"}"#.into(),
            wechat_time: now,
            is_customer_message: true,
            is_enter: false,
            session_from: None,
            media_id: None,
        })
        .collect();
    let pushed = writes.transaction().expect("begin");
    let mut conversation_ids = Vec::new();
    for chunk in pushes.chunks(500) {
        let refs: Vec<&Inbound> = chunk.iter().collect();
        for stored in inbound::store_batch(&pushed, &refs, now).expect("seed pushes") {
            if let inbound::Stored::New {
                conversation_id, ..
            } = stored
            {
                conversation_ids.push(conversation_id);
            }
        }
    }
    pushed.commit().expect("commit the pushes");
    drop(writes);
    let mut tx = store.begin_write().await.expect("begin");
    for i in 0..backlog {
        let content = MessageContent::text(format!("reply {i}"));
        let message = NewMessage {
            conversation_id: conversation_ids[i % conversation_ids.len()],
            sender_kind: SenderKind::Agent,
            sender_id: None,
            content: &content,
            deliver: true,
            answered_in_push: false,
        };
        outbox::insert(&mut tx, &message, now)
            .await
            .expect("seed a reply");
    }
    tx.commit().await.expect("commit");
    store.close().await;
}
