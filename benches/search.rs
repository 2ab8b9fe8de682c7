//! Search benchmark (issue #15): search across a big history, by query length.
//!
//!     cargo bench --bench search
//!
//! A fresh database in a temp dir (or `BENCH_DATA_DIR`, reused when it holds one already)
//! gets `BENCH_MESSAGES` messages (default 1,000,000) over a tenth as many conversations from
//! `kefu seed`'s generator (`store::seed::synthetic`), whose customers' texts are then varied
//! (`store::seed::varied_texts`: 15,360 combinations of Chinese and English openers, bodies
//! and closers, full-width forms, emoji, and an order number on one message in four). The
//! search index is built as the migration leaves it to the writer (`store::search::
//! index_pending`, 2,000 messages a transaction), timed; its size on disk is read from
//! `dbstat`.
//!
//! Then each query of four classes (1, 2, 3 and 5+ characters: common and rare words, a
//! character or word that is nowhere, rare order numbers, and phrases of common trigrams that
//! never occur together, the index's worst case) runs `BENCH_ROUNDS` times (5), after one
//! warm-up each, as the API runs it: `store::search::find` for a page of 20 (21 read) with no
//! filter, then the page's messages and conversations and each snippet. In-process, on the
//! pool, one query at a time; HTTP and JSON are not included. p50 and p99 per class, and each
//! class's slowest query.

mod common;

use std::time::{Duration, Instant};

use common::{env_num, ms};
use kefu::search::Query;
use kefu::store::Store;
use kefu::store::conversations::{self, AssigneeFilter};
use kefu::store::messages;
use kefu::store::search::{self, Filter};

/// Targets from issue #15.
const P50_MS: f64 = 20.0;
const P99_MS: f64 = 100.0;
const PAGE: usize = 20;

const ONE: &[&str] = &[
    "的", "单", "退", "吗", "a", "e", "2", "款", "券", "鑫", "z", "ｖ",
];
const TWO: &[&str] = &[
    "订单", "退款", "发票", "hi", "or", "会员", "快递", "12", "破损", "鑫鑫", "qx", "包装",
];
const THREE: &[&str] = &[
    "优惠券",
    "ref",
    "订单号",
    "什么时",
    "you",
    "人工客",
    "鑫鑫鑫",
    "zzz",
    "vip",
    "500",
    "尺码表",
    "的订单",
];
const FIVE: &[&str] = &[
    "物流信息三天",
    "refund take",
    "订单号 123456",
    "discount code save20",
    "退款什么时候到账",
    "wrong colour",
    "the app keeps logging me out",
    "你好，我的订单还没到",
    "发票抬头写错了，谢谢",
    "退款发票优惠券",
    "refund blue hong kong",
    "订单号 999999",
    "不存在的一句话",
];

fn main() {
    let messages = env_num("BENCH_MESSAGES", 1_000_000);
    let rounds = env_num("BENCH_ROUNDS", 5) as usize;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("a runtime");
    runtime.block_on(run(messages, rounds));
}

async fn run(messages: u64, rounds: usize) {
    let temp = tempfile::tempdir().expect("a temp dir");
    let dir = std::env::var_os("BENCH_DATA_DIR")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| temp.path().to_owned());
    std::fs::create_dir_all(&dir).expect("the data dir");
    let file = dir.join("kefu.db");
    let fresh = !file.exists();
    let store = Store::open(&format!("sqlite://{}", file.display()))
        .await
        .expect("the database opens");
    store.migrate().await.expect("migrations");
    if fresh {
        let started = Instant::now();
        kefu::store::seed::synthetic(
            &store,
            (messages / 10).max(1),
            messages,
            kefu::domain::now_millis(),
        )
        .await
        .expect("seeded");
        let varied = kefu::store::seed::varied_texts(&store)
            .await
            .expect("varied");
        println!(
            "seeded {messages} messages ({varied} customer texts varied) in {:.1}s",
            started.elapsed().as_secs_f64()
        );
    }
    let total: i64 = sqlx::query_scalar("select count(*) from messages")
        .fetch_one(store.pool())
        .await
        .expect("count");

    // The index, as the writer builds it after the migration.
    let started = Instant::now();
    let mut conn = store.write_connection().expect("the writer's connection");
    let mut indexed = 0;
    loop {
        let tx = conn.transaction().expect("a transaction");
        let done = search::index_pending(&tx, 2000).expect("indexed");
        tx.commit().expect("committed");
        indexed += done.indexed;
        if !done.more {
            break;
        }
    }
    drop(conn);
    if indexed > 0 {
        let secs = started.elapsed().as_secs_f64();
        println!(
            "indexed {indexed} messages in {secs:.1}s = {:.0} messages/s",
            indexed as f64 / secs
        );
    }
    let _ = sqlx::query("pragma wal_checkpoint(truncate)")
        .execute(store.pool())
        .await;
    let index_bytes = search::index_bytes(store.pool())
        .await
        .expect("dbstat")
        .unwrap_or_default();
    let db_bytes = std::fs::metadata(&file)
        .map(|m| m.len())
        .unwrap_or_default();
    println!(
        "{total} messages; database {:.1} MiB, of which the search index {:.1} MiB",
        db_bytes as f64 / 1048576.0,
        index_bytes as f64 / 1048576.0
    );

    let filter = Filter {
        channel: None,
        within: None,
        status: None,
        assignee: AssigneeFilter::Any,
        from: None,
        to: None,
        before: None,
    };
    let mut failed = false;
    for (class, queries) in [
        ("1 character", ONE),
        ("2 characters", TWO),
        ("3 characters", THREE),
        ("5+ characters", FIVE),
    ] {
        let mut times: Vec<Duration> = Vec::new();
        let mut slowest = (Duration::ZERO, "", 0);
        for q in queries {
            let query = Query::parse(q).expect("a query");
            let _ = search_once(&store, &query, &filter).await;
            for _ in 0..rounds {
                let started = Instant::now();
                let found = search_once(&store, &query, &filter).await;
                let took = started.elapsed();
                times.push(took);
                if took > slowest.0 {
                    slowest = (took, q, found);
                }
            }
        }
        times.sort();
        let p50 = ms(common::percentile(&times, 0.50));
        let p99 = ms(common::percentile(&times, 0.99));
        let ok = p50 <= P50_MS && p99 <= P99_MS;
        failed |= !ok;
        println!(
            "{class}: {} searches ({} queries × {rounds}), p50 {p50:.2} ms, p99 {p99:.2} ms, max {:.2} ms ({:?}, {} results){}",
            times.len(),
            queries.len(),
            ms(slowest.0),
            slowest.1,
            slowest.2,
            if ok { "" } else { "  ← over the target" }
        );
    }
    println!(
        "targets: p50 ≤ {P50_MS} ms, p99 ≤ {P99_MS} ms per class: {}",
        if failed { "MISSED" } else { "met" }
    );
    store.close().await;
}

/// One search as the API makes it (without HTTP and JSON); the page's size.
async fn search_once(store: &Store, query: &Query, filter: &Filter) -> usize {
    let pool = store.pool();
    let mut ids = search::find(pool, query, filter, PAGE + 1)
        .await
        .expect("a search");
    ids.truncate(PAGE);
    let rows = messages::by_ids(store, &ids).await.expect("messages");
    let mut conversation_ids: Vec<i64> = rows.iter().map(|m| m.conversation_id).collect();
    conversation_ids.sort_unstable();
    conversation_ids.dedup();
    let conversations = conversations::by_ids(store, &conversation_ids)
        .await
        .expect("conversations");
    let snippets: usize = rows
        .iter()
        .filter_map(|m| query.snippet(&m.content))
        .map(|s| s.len())
        .sum();
    std::hint::black_box((snippets, conversations.len()));
    rows.len()
}
