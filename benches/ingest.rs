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
//! thread, pre-built requests, a minimal HTTP/1.1 client) so that most of the machine is
//! left to kefu.

mod common;

use common::*;
use kefu::wechat::crypto::{AesKey, Cipher};

fn main() {
    let pushes = env_num("BENCH_PUSHES", 200_000) as usize;
    let connections = env_num("BENCH_CONNECTIONS", 64) as usize;
    let rate = env_num("BENCH_RATE", 2_000);
    let rate_secs = env_num("BENCH_RATE_SECS", 10);

    let data = tempfile::tempdir().expect("a temporary data dir");
    let port = free_port();
    let mut server = start_server(data.path(), port, &[]);

    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime");
    let addr = format!("127.0.0.1:{port}");

    let cipher = Cipher::new(AesKey::from_encoding_key(AES_KEY).expect("key"), APPID);
    println!("building {pushes} encrypted pushes …");
    let requests = build_requests(&cipher, port, 0, pushes);

    println!("phase 1: {pushes} pushes over {connections} connections, as fast as kefu answers");
    let (acked_1, lat_1, elapsed) = runtime.block_on(saturate(&addr, requests, connections));
    let rate_1 = acked_1 as f64 / elapsed.as_secs_f64();
    report("saturation", acked_1, pushes, elapsed, rate_1, lat_1);

    let total_2 = (rate * rate_secs) as usize;
    println!("phase 2: {total_2} pushes at {rate}/s (open loop)");
    let requests = build_requests(&cipher, port, pushes, total_2);
    let (acked_2, lat_2, elapsed) = runtime.block_on(fixed_rate(&addr, requests, rate));
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
