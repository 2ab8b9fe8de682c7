//! Webhook ingest benchmark: starts a release `kefu serve` on loopback with a fresh data dir,
//! fires safe-mode (encrypted) JSON text pushes at it, and reports pushes/s and the time to
//! `success`. Then it opens the database and checks that every acknowledged push is stored.
//!
//!     cargo bench --bench ingest
//!
//! Two phases: (1) saturation: `BENCH_CONNECTIONS` keep-alive connections (default 64) send
//! `BENCH_PUSHES` pushes (default 200000) back to back; (2) a fixed rate of `BENCH_RATE`
//! pushes/s (default 2000) for `BENCH_RATE_SECS` seconds (default 10), open loop, so latency
//! is measured without coordinated omission. The load generator is deliberately lean (one
//! thread, pre-built requests, hyper's HTTP/1.1 client) so that most of the machine is left
//! to kefu.
//!
//! `BENCH_RULES=1000` first stores that many enabled auto-reply rules (exact, contains and
//! regex keywords, Chinese and English; a few match the pushed texts), so the cost of the bot's
//! rule matching on the webhook's path shows against a run without rules.

mod common;

use common::*;
use kefu::wechat::crypto::{AesKey, Cipher};

fn main() {
    let pushes = env_num("BENCH_PUSHES", 200_000) as usize;
    let connections = env_num("BENCH_CONNECTIONS", 64) as usize;
    let rate = env_num("BENCH_RATE", 2_000);
    let rate_secs = env_num("BENCH_RATE_SECS", 10);

    let rules = env_num("BENCH_RULES", 0) as usize;

    let data = tempfile::tempdir().expect("a temporary data dir");
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime");
    if rules > 0 {
        run_kefu(data.path(), &["migrate"], None);
        runtime.block_on(store_rules(data.path(), rules));
        println!("stored {rules} enabled auto-reply rules");
    }
    let port = free_port();
    let mut server = start_server(data.path(), port, &[]);
    let client = client();

    let cipher = Cipher::new(AesKey::from_encoding_key(AES_KEY).expect("key"), APPID);
    println!("building {pushes} encrypted pushes …");
    let requests = build_requests(&cipher, port, 0, pushes);

    println!("phase 1: {pushes} pushes over {connections} connections, as fast as kefu answers");
    let (acked_1, lat_1, elapsed) = runtime.block_on(saturate(&client, requests, connections));
    let rate_1 = acked_1 as f64 / elapsed.as_secs_f64();
    report("saturation", acked_1, pushes, elapsed, rate_1, lat_1);

    let total_2 = (rate * rate_secs) as usize;
    println!("phase 2: {total_2} pushes at {rate}/s (open loop)");
    let requests = build_requests(&cipher, port, pushes, total_2);
    let (acked_2, lat_2, elapsed) = runtime.block_on(fixed_rate(&client, requests, rate));
    report(
        "fixed rate",
        acked_2,
        total_2,
        elapsed,
        acked_2 as f64 / elapsed.as_secs_f64(),
        lat_2,
    );

    // Stop kefu, then count what is on disk.
    stop_server(&mut server);
    let stored = runtime.block_on(async {
        let url = format!("sqlite://{}/kefu.db", data.path().display());
        let store = kefu::store::Store::open(&url)
            .await
            .expect("open the store");
        kefu::store::messages::count_inbound(store.pool())
            .await
            .expect("count")
    });
    let acked = (acked_1 + acked_2) as i64;
    println!("stored {stored} messages, acknowledged {acked}");
    if stored != acked {
        eprintln!("FAIL: stored != acknowledged");
        std::process::exit(1);
    }
    println!("ok: every acknowledged push is stored");
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
            0 | 1 => ("exact", vec![format!("问题{i}"), format!("question {i}")]),
            2 | 3 if i % 50 == 2 => ("contains", vec![format!("customer {i}7")]),
            2 | 3 => (
                "contains",
                vec![format!("关键词{i}"), format!("keyword{i}")],
            ),
            _ => ("regex", vec![format!(r"^(order|订单)\s*#?{i}\d+$")]),
        };
        let keywords = serde_json::to_string(&keywords).expect("json");
        let reply = serde_json::json!({"type": "text", "content": {"text": format!("answer {i}")}})
            .to_string();
        let fields = kefu::store::rules::RuleFields {
            name: &format!("rule {i}"),
            enabled: true,
            priority: (i % 17) as i64,
            match_kind: kind,
            keywords: &keywords,
            action: "reply",
            reply: Some(&reply),
        };
        kefu::store::rules::create(&mut tx, &fields, now)
            .await
            .expect("store a rule");
    }
    tx.commit().await.expect("commit");
    store.close().await;
}
