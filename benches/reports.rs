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
//!    Then the first `refresh` computes every conversation's waits and resolutions (what the
//!    migration leaves for the first report on an existing database).
//! 2. Reports, `BENCH_REPEATS` (default 20) of each after one warm-up: the summary of all 31
//!    days (every seeded message; ragged ends to the millisecond, so the raw edges are read
//!    too), the same by day in +08:00, the summary of one channel, and of one day.
//! 3. Live: `BENCH_LIVE` (default 2000) customer messages stored by the writer's own statement
//!    (`store::inbound::store_batch`, batches of 32) into as many conversations, then one
//!    summary, which first recomputes those conversations.
//! 4. The push path: `BENCH_PUSHES` (default 40000) pushes stored by `store_batch` in batches of
//!    32 without the reports' two insert triggers and as many with them, in eight alternating
//!    rounds; CPU time of this thread per push (the fsync of each commit is waiting, not CPU).
//!
//! Each report is checked against a count from the raw rows (the tests compare every figure).

use std::time::{Duration, Instant};

use kefu::domain::{MessageType, Role, now_millis};
use kefu::services::reports::{self, Range};
use kefu::store::Store;
use kefu::store::inbound::{Inbound, store_batch};

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
        let refreshed = kefu::store::reports::refresh_all(&store).unwrap();
        println!(
            "first refresh: waits and resolutions of {refreshed} conversations in {:.1} s",
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
            "summary after {live} new customer messages (their conversations recomputed): {:.1} ms",
            ms(t.elapsed())
        );

        // the push path with and without the reports' triggers
        let triggers: Vec<(String, String)> = sqlx::query_as(
            "select name, sql from sqlite_master where type = 'trigger' and name in ('report_messages_insert', 'report_conversations_insert')",
        )
        .fetch_all(store.pool())
        .await
        .unwrap();
        assert_eq!(triggers.len(), 2);
        let mut with = Duration::ZERO;
        let mut without = Duration::ZERO;
        let per_round = pushes / 4;
        for round in 0..8 {
            // off, on, off, on, …: the migration made them, so the first round drops them
            let on = round % 2 == 1;
            // on the writer's own connection, which stores the pushes
            let change = if on {
                triggers
                    .iter()
                    .map(|(_, sql)| format!("{sql};"))
                    .collect::<String>()
            } else {
                triggers
                    .iter()
                    .map(|(name, _)| format!("drop trigger {name};"))
                    .collect::<String>()
            };
            let tx = conn.transaction().unwrap();
            tx.execute_batch(&change).unwrap();
            let present: i64 = tx
                .query_row(
                    "select count(*) from sqlite_master where type = 'trigger' and name in ('report_messages_insert', 'report_conversations_insert')",
                    [],
                    |row| row.get(0),
                )
                .unwrap();
            assert_eq!(present, if on { 2 } else { 0 });
            tx.commit().unwrap();
            let batch = batch_of(live + round * per_round, per_round, "push");
            let cpu = tokio::task::block_in_place(|| {
                let before = thread_cpu();
                for chunk in batch.chunks(32) {
                    let refs: Vec<&Inbound> = chunk.iter().collect();
                    let tx = conn.transaction().unwrap();
                    store_batch(&tx, &refs, now_millis()).unwrap();
                    tx.commit().unwrap();
                }
                thread_cpu() - before
            });
            if on {
                with += cpu;
            } else {
                without += cpu;
            }
        }
        let per = |d: Duration| d.as_secs_f64() * 1e6 / (per_round * 4) as f64;
        println!(
            "store_batch CPU per push (this thread, 10 ms ticks): {:.1} µs with the reports' triggers, {:.1} µs without ({} pushes each, batches of 32, alternating)",
            per(with),
            per(without),
            per_round * 4
        );
    });
}
