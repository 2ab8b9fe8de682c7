//! Reports benchmark (issue #15): a report over a million messages, and what keeping the
//! reports' tables costs the push path.
//!
//!     cargo bench --bench reports
//!
//! In this process, on a fresh database in a temp dir (release build, no server: what is
//! measured is the report's reading and arithmetic, `services::reports`, which the HTTP
//! handlers only serialize):
//!
//! 1. Seed: three staff accounts, then `store::seed::synthetic` (what `kefu seed` runs) with
//!    `BENCH_CONVERSATIONS` conversations (default 100000) and `BENCH_MESSAGES` messages
//!    (default 1000000) over the last 30 days; the triggers keep `report_counts` as it goes.
//!    Then `writer::catch_up` with the reports' turn computes every conversation's waits and resolutions
//!    (what `kefu seed` does, and what the writer does between its batches after the migration
//!    on an existing database).
//! 2. Reports, `BENCH_REPEATS` (default 20) of each after one warm-up: the summary of all 31
//!    days (every seeded message; ragged ends to the millisecond, so the raw edges are read
//!    too), the same by day in +08:00, the summary of one channel, and of one day.
//! 3. Live: `BENCH_LIVE` (default 2000) customer messages stored by the writer's own statement
//!    (`store::inbound::store_batch`, batches of 32) into as many conversations, then one
//!    summary, which works those conversations (still marked stale) out from their messages.
//! 4. The push path: `BENCH_PUSHES` (default 40000) pushes stored by `store_batch` in batches of
//!    32 (no trigger of the reports' runs on a message's insert), then the reports' turns
//!    (`refresh_pending`) until they have counted them and recomputed their conversations; CPU
//!    time of this thread per push for each (the fsync of each commit is waiting, not CPU).
//!
//! Each report is checked against a count from the raw rows (the tests compare every figure).

use std::time::{Duration, Instant};

use kefu::domain::{MessageType, Role, now_millis};
use kefu::services::reports::{self, Range};
use kefu::store::Store;
use kefu::store::inbound::{Inbound, store_batch};
use kefu::store::reports::{REFRESH_CHUNK, refresh_pending};

fn env_num(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// This thread's CPU time, user and system, from `/proc/thread-self/stat` (fields 14 and 15,
/// in clock ticks of 10 ms: `getconf CLK_TCK` is 100 here).
fn thread_cpu() -> Duration {
    let stat = std::fs::read_to_string("/proc/thread-self/stat").unwrap_or_default();
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .map(|(_, rest)| rest.split_whitespace().collect())
        .unwrap_or_default();
    let field = |i: usize| {
        fields
            .get(i)
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or(0)
    };
    // after the ')' the state is field 3, so utime (14) and stime (15) are 11 and 12 here
    Duration::from_millis((field(11) + field(12)) * 10)
}

fn summary_line(name: &str, mut times: Vec<Duration>) {
    times.sort();
    let p50 = times[times.len() / 2];
    let max = *times.last().unwrap();
    println!(
        "{name:<44} p50 {:>8.1} ms   max {:>8.1} ms   ({} runs)",
        ms(p50),
        ms(max),
        times.len()
    );
}

fn main() {
    let conversations = env_num("BENCH_CONVERSATIONS", 100_000);
    let messages = env_num("BENCH_MESSAGES", 1_000_000);
    let repeats = env_num("BENCH_REPEATS", 20) as usize;
    let live = env_num("BENCH_LIVE", 2000) as usize;
    let pushes = env_num("BENCH_PUSHES", 40_000) as usize;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async move {
        // BENCH_DIR keeps the database there to look at afterwards (an empty directory)
        let dir = tempfile::tempdir().unwrap();
        let path = std::env::var("BENCH_DIR")
            .map(std::path::PathBuf::from)
            .unwrap_or_else(|_| dir.path().to_owned());
        let store = Store::open(&format!("sqlite://{}/kefu.db", path.display()))
            .await
            .unwrap();
        store.migrate().await.unwrap();
        let mut tx = store.begin_write().await.unwrap();
        for name in ["ann", "bob", "cy"] {
            kefu::store::staff::create(&mut tx, name, name, Role::Agent, "x", 0)
                .await
                .unwrap();
        }
        tx.commit().await.unwrap();

        let now = now_millis();
        let started = Instant::now();
        kefu::store::seed::synthetic(&store, conversations, messages, now)
            .await
            .unwrap();
        println!(
            "seed: {conversations} conversations, {messages} messages in {:.1} s (triggers included)",
            started.elapsed().as_secs_f64()
        );
        let started = Instant::now();
        let refreshed = kefu::writer::catch_up(&store, kefu::writer::reports_turn).unwrap();
        println!(
            "first catch-up: {refreshed} messages counted and conversations recomputed in {:.1} s",
            started.elapsed().as_secs_f64()
        );

        let day = 86_400_000;
        let all = (now - 31 * day + 12_345, now + 67_891);
        let raw_in: i64 = sqlx::query_scalar(
            "select count(*) from messages where direction = 'in' and sender_kind = 'customer' and type <> 'event' and created_at >= $1 and created_at < $2",
        )
        .bind(all.0)
        .bind(all.1)
        .fetch_one(store.pool())
        .await
        .unwrap();
        let range = |from: i64, to: i64, tz: Option<&str>, channel: Option<i64>| {
            Range::parse(
                Some(&kefu::domain::rfc3339(from)),
                Some(&kefu::domain::rfc3339(to)),
                tz,
                channel,
            )
            .unwrap()
        };
        let whole = range(all.0, all.1, None, None);
        let east = range(all.0, all.1, Some("+08:00"), None);
        let channel = range(all.0, all.1, None, Some(1));
        let one_day = range(now - 3 * day, now - 2 * day, None, None);

        let s = reports::summary(&store, &whole).await.unwrap();
        assert_eq!(s.messages_in, raw_in, "the report counts what the rows hold");
        println!(
            "31 days: {} new conversations, {} in, {} agent replies, first response n={} p50={:?} p90={:?}, {} resolved",
            s.conversations_new,
            s.messages_in,
            s.messages_out_agent,
            s.first_response_seconds.count,
            s.first_response_seconds.p50,
            s.first_response_seconds.p90,
            s.resolved
        );
        let mut times = [Vec::new(), Vec::new(), Vec::new(), Vec::new()];
        for _ in 0..repeats {
            let t = Instant::now();
            reports::summary(&store, &whole).await.unwrap();
            times[0].push(t.elapsed());
            let t = Instant::now();
            let d = reports::daily(&store, &east).await.unwrap();
            times[1].push(t.elapsed());
            assert_eq!(d.days.len(), 32);
            let t = Instant::now();
            reports::summary(&store, &channel).await.unwrap();
            times[2].push(t.elapsed());
            let t = Instant::now();
            reports::summary(&store, &one_day).await.unwrap();
            times[3].push(t.elapsed());
        }
        let [a, b, c, d] = times;
        summary_line("summary, 31 days, every message", a);
        summary_line("daily, 31 days, +08:00", b);
        summary_line("summary, 31 days, one channel", c);
        summary_line("summary, one day", d);

        // live: new customer messages make their conversations stale; the next report
        // recomputes them first
        let mut conn = store.write_connection().unwrap();
        let batch_of = |from: usize, n: usize, tag: &str| -> Vec<Inbound> {
            (from..from + n)
                .map(|i| Inbound {
                    channel_id: 1,
                    openid: format!("oSeed{:010}", 1 + (i * 7919) % conversations as usize),
                    dedup_key: format!("bench-{tag}-{i}"),
                    kind: MessageType::Text,
                    content: r#"{"text":"还在吗？"}"#.into(),
                    wechat_time: now_millis(),
                    is_customer_message: true,
                    is_enter: false,
                    session_from: None,
                    media_id: None,
                })
                .collect()
        };
        let stored = batch_of(0, live, "live");
        for chunk in stored.chunks(32) {
            let refs: Vec<&Inbound> = chunk.iter().collect();
            let tx = conn.transaction().unwrap();
            store_batch(&tx, &refs, now_millis()).unwrap();
            tx.commit().unwrap();
        }
        let t = Instant::now();
        reports::summary(&store, &range(all.0, now_millis() + 1000, None, None))
            .await
            .unwrap();
        println!(
            "summary after {live} new customer messages (their conversations worked out as it reads): {:.1} ms",
            ms(t.elapsed())
        );

        // The push path pays nothing for the reports (no trigger on a message's insert); the
        // writer's turns between batches count the messages and recompute their
        // conversations. Their CPU per push, on this thread: store the pushes without turns,
        // then run turns until caught up.
        let batch = batch_of(live, pushes, "push");
        let (store_cpu, turns_cpu) = tokio::task::block_in_place(|| {
            let before = thread_cpu();
            for chunk in batch.chunks(32) {
                let refs: Vec<&Inbound> = chunk.iter().collect();
                let tx = conn.transaction().unwrap();
                store_batch(&tx, &refs, now_millis()).unwrap();
                tx.commit().unwrap();
            }
            let stored = thread_cpu();
            loop {
                let tx = conn.transaction().unwrap();
                let done = refresh_pending(&tx, REFRESH_CHUNK).unwrap();
                tx.commit().unwrap();
                if !done.more {
                    break;
                }
            }
            (stored - before, thread_cpu() - stored)
        });
        let per = |d: Duration| d.as_secs_f64() * 1e6 / pushes as f64;
        println!(
            "CPU per push (this thread, 10 ms ticks): store_batch {:.1} µs; the reports' turns that count them and recompute their conversations {:.1} µs ({pushes} pushes, batches of 32)",
            per(store_cpu),
            per(turns_cpu),
        );
    });
}
