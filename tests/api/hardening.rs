//! What a hostile or careless client cannot do to a running kefu: hold connections with slow
//! headers, slow bodies or idleness, or open more than the cap; forge its address past the
//! sign-in throttle; or read `/metrics` without being an admin.

use std::time::{Duration, Instant};

use kefu::domain::Role;
use kefu::live::Event;
use kefu::wechat::fake::{FakeConfig, FakeWechat};
use kefu::wechat::push::Format;
use kefu::wechat::simulate::{self, SimulatedKind};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::broadcast::error::RecvError;

use serde_json::json;

use crate::helpers::{APPID, Mode, TestApp, assert_success, id_of, now, openid};

/// Reads until the server closes the connection (or `limit` passes: a failure); what it sent
/// and how long that took.
async fn read_until_closed(stream: &mut TcpStream, limit: Duration) -> (String, Duration) {
    let started = Instant::now();
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match tokio::time::timeout_at((started + limit).into(), stream.read(&mut buf)).await {
            Err(_) => panic!(
                "the server still holds the connection after {limit:?}; it sent {:?}",
                String::from_utf8_lossy(&got)
            ),
            Ok(Ok(0)) | Ok(Err(_)) => break,
            Ok(Ok(n)) => got.extend_from_slice(&buf[..n]),
        }
    }
    (
        String::from_utf8_lossy(&got).into_owned(),
        started.elapsed(),
    )
}

/// The start of a signed text push's POST, whose body is `body_len` bytes; and the body.
fn push_request(app: &TestApp) -> (String, String) {
    let body = simulate::push_body(
        &SimulatedKind::Text("slow".into()),
        &openid("slow"),
        simulate::random_msg_id(),
        now(),
        Format::Json,
    );
    let signed = app.sign(&body, Mode::Plain, Format::Json);
    let head = format!(
        "POST /wechat?{} HTTP/1.1\r\nHost: {}\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\n\r\n",
        signed.query,
        app.addr,
        signed.body.len()
    );
    (head, signed.body)
}

#[tokio::test]
async fn a_body_that_stalls_halfway_is_answered_408_and_closed_within_10_seconds() {
    let app = TestApp::start().await;
    let (head, body) = push_request(&app);
    let mut stream = TcpStream::connect(app.addr).await.unwrap();
    stream.write_all(head.as_bytes()).await.unwrap();
    stream
        .write_all(&body.as_bytes()[..body.len() / 2])
        .await
        .unwrap();
    let (answer, took) = read_until_closed(&mut stream, Duration::from_secs(15)).await;
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer:?}");
    assert!(took >= Duration::from_secs(8), "closed too early: {took:?}");
    app.assert_nothing_stored().await;
}

#[tokio::test]
async fn a_body_trickling_a_byte_a_second_is_cut_off() {
    let app = TestApp::start().await;
    let (head, body) = push_request(&app);
    let stream = TcpStream::connect(app.addr).await.unwrap();
    let (mut read, mut write) = stream.into_split();
    write.write_all(head.as_bytes()).await.unwrap();
    let trickle = tokio::spawn(async move {
        for b in body.bytes() {
            if write.write_all(&[b]).await.is_err() {
                break;
            }
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
    });
    let started = Instant::now();
    let mut got = Vec::new();
    let closed = tokio::time::timeout(Duration::from_secs(15), read.read_to_end(&mut got)).await;
    assert!(closed.is_ok(), "still open after {:?}", started.elapsed());
    let answer = String::from_utf8_lossy(&got);
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer:?}");
    trickle.abort();
    app.assert_nothing_stored().await;
}

#[tokio::test]
async fn a_client_that_never_finishes_its_headers_is_disconnected() {
    let app = TestApp::start().await;
    let mut stream = TcpStream::connect(app.addr).await.unwrap();
    stream
        .write_all(b"POST /wechat HTTP/1.1\r\nHost: kefu\r\nContent-Le")
        .await
        .unwrap();
    let (answer, took) = read_until_closed(&mut stream, Duration::from_secs(15)).await;
    assert!(took >= Duration::from_secs(8), "closed too early: {took:?}");
    assert!(!answer.contains("200"), "{answer:?}");
}

/// The soft limit on open files, raised towards `wanted` where the hard limit allows.
fn open_files_limit(wanted: u64) -> u64 {
    use rustix::process::{Resource, getrlimit, setrlimit};
    let mut limit = getrlimit(Resource::Nofile);
    let soft = limit.current.unwrap_or(u64::MAX);
    if soft >= wanted {
        return soft;
    }
    let target = limit.maximum.map_or(wanted, |hard| hard.min(wanted));
    limit.current = Some(target);
    if setrlimit(Resource::Nofile, limit).is_ok() {
        target
    } else {
        soft
    }
}

/// One keep-alive request on a fresh connection, which then stays open and idle.
async fn idle_connection(addr: std::net::SocketAddr) -> TcpStream {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    stream
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: kefu\r\n\r\n")
        .await
        .unwrap();
    let mut got = Vec::new();
    let mut buf = [0u8; 1024];
    while !got.ends_with(b"ok") {
        let n = stream.read(&mut buf).await.unwrap();
        assert!(n > 0, "closed: {:?}", String::from_utf8_lossy(&got));
        got.extend_from_slice(&buf[..n]);
    }
    stream
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_thousand_idle_connections_do_not_slow_pushes_down() {
    // both ends of each connection live in this process: two descriptors each
    let limit = open_files_limit(4_600);
    let wanted = 2_000;
    let count = wanted.min((limit.saturating_sub(600) / 2) as usize);
    if count < wanted {
        eprintln!("the open-files limit ({limit}) allows only {count} idle connections");
    }
    let app = TestApp::start().await;
    let mut idle = Vec::with_capacity(count);
    for chunk in 0..count.div_ceil(100) {
        let n = 100.min(count - chunk * 100);
        let opened =
            futures_join_all((0..n).map(|_| tokio::spawn(idle_connection(app.addr)))).await;
        idle.extend(opened);
    }
    assert_eq!(idle.len(), count);
    for i in 0..20 {
        let started = Instant::now();
        app.push_text(&format!("o-busy-{i}"), "still answered")
            .await;
        let took = started.elapsed();
        assert!(took < Duration::from_secs(2), "push {i} took {took:?}");
    }
    // the idle connections are still open (well within the idle timeout), and still serve
    for stream in idle.iter_mut().step_by(97) {
        stream
            .write_all(b"GET /healthz HTTP/1.1\r\nHost: kefu\r\n\r\n")
            .await
            .unwrap();
        let mut buf = [0u8; 1024];
        let n = stream.read(&mut buf).await.unwrap();
        assert!(buf[..n].starts_with(b"HTTP/1.1 200"));
    }
}

async fn futures_join_all(
    handles: impl Iterator<Item = tokio::task::JoinHandle<TcpStream>>,
) -> Vec<TcpStream> {
    let mut out = Vec::new();
    for h in handles {
        out.push(h.await.unwrap());
    }
    out
}

#[tokio::test]
async fn past_the_connection_cap_new_connections_are_closed_until_one_ends() {
    let app = TestApp::start_with(&[("KEFU_MAX_CONNECTIONS", "3")]).await;
    let mut held = Vec::new();
    for _ in 0..3 {
        held.push(idle_connection(app.addr).await);
    }
    let mut refused = TcpStream::connect(app.addr).await.unwrap();
    let _ = refused
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: kefu\r\n\r\n")
        .await;
    let (answer, _) = read_until_closed(&mut refused, Duration::from_secs(5)).await;
    assert_eq!(answer, "", "a connection past the cap is closed unanswered");
    drop(held.pop());
    // the slot frees once the server notices the close
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let mut stream = TcpStream::connect(app.addr).await.unwrap();
        let _ = stream
            .write_all(b"GET /healthz HTTP/1.1\r\nHost: kefu\r\nConnection: close\r\n\r\n")
            .await;
        let (answer, _) = read_until_closed(&mut stream, Duration::from_secs(5)).await;
        if answer.starts_with("HTTP/1.1 200") {
            break;
        }
        assert!(Instant::now() < deadline, "no slot came free");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_success(
        app.push(
            &SimulatedKind::Text("after".into()),
            &openid("cap"),
            Mode::Plain,
            Format::Json,
        )
        .await,
    )
    .await;
}

// ---------------------------------------------------------------------------------------------
// The client's address behind a proxy (KEFU_TRUSTED_PROXIES)

/// A failed sign-in as `user`, claiming to come from `forwarded`; the status.
async fn failed_sign_in(app: &TestApp, user: &str, forwarded: &str) -> reqwest::StatusCode {
    app.client
        .post(app.url("/login"))
        .header("X-Forwarded-For", forwarded)
        .header("X-Real-IP", forwarded)
        .form(&[("username", user), ("password", "wrong"), ("next", "/")])
        .send()
        .await
        .unwrap()
        .status()
}

#[tokio::test]
async fn a_forged_forwarded_header_from_an_untrusted_peer_does_not_dodge_the_throttle() {
    // the test client (127.0.0.1) is not a trusted proxy here
    let app = TestApp::start_with(&[("KEFU_TRUSTED_PROXIES", "10.0.0.0/8")]).await;
    for i in 0..5 {
        let status = failed_sign_in(&app, &format!("ghost-{i}"), &format!("203.0.113.{i}")).await;
        assert_eq!(status, reqwest::StatusCode::UNAUTHORIZED);
    }
    // five failures from this peer, whatever the header said: its address is held off
    let status = failed_sign_in(&app, "ghost-new", "198.51.100.7").await;
    assert_eq!(status, reqwest::StatusCode::TOO_MANY_REQUESTS);
}

#[tokio::test]
async fn a_trusted_proxys_forwarded_header_names_the_client_the_throttle_counts() {
    let app = TestApp::start_with(&[("KEFU_TRUSTED_PROXIES", "127.0.0.1, ::1")]).await;
    for i in 0..5 {
        let status = failed_sign_in(&app, &format!("ghost-{i}"), "203.0.113.9").await;
        assert_eq!(status, reqwest::StatusCode::UNAUTHORIZED);
    }
    // the client behind the proxy is held off; another client through the same proxy is not
    let status = failed_sign_in(&app, "ghost-new", "203.0.113.9").await;
    assert_eq!(status, reqwest::StatusCode::TOO_MANY_REQUESTS);
    let status = failed_sign_in(&app, "ghost-other", "198.51.100.7").await;
    assert_eq!(status, reqwest::StatusCode::UNAUTHORIZED);
}

// ---------------------------------------------------------------------------------------------
// /metrics: for admins on the main listener, for anyone on KEFU_METRICS_LISTEN

#[tokio::test]
async fn metrics_on_the_main_listener_need_an_admins_token() {
    let app = TestApp::start().await;
    let anonymous = app.client.get(app.url("/metrics")).send().await.unwrap();
    assert_eq!(anonymous.status(), reqwest::StatusCode::UNAUTHORIZED);
    let (_, agent) = crate::helpers::add_staff(&app, "metrics-agent", "Agent", Role::Agent).await;
    let as_agent = app
        .client
        .get(app.url("/metrics"))
        .bearer_auth(agent)
        .send()
        .await
        .unwrap();
    assert_eq!(as_agent.status(), reqwest::StatusCode::FORBIDDEN);
    let as_admin = app.get("/metrics").await;
    assert_eq!(as_admin.status(), reqwest::StatusCode::OK);
    assert!(as_admin.text().await.unwrap().contains("kefu_"));
}

const SECRET: &str = "kefu-fake-app-secret-for-hardening";

#[tokio::test]
async fn the_separate_metrics_listener_shows_what_an_operator_watches_after_a_push_and_a_reply() {
    let fake = FakeWechat::start(FakeConfig::new(APPID, SECRET))
        .await
        .unwrap();
    let app = TestApp::start_with(&[
        ("KEFU_WECHAT_API_BASE", &fake.base_url()),
        ("KEFU_WECHAT_SECRET", SECRET),
        ("KEFU_METRICS_LISTEN", "127.0.0.1:0"),
    ])
    .await;
    let metrics_addr = app
        .state()
        .config
        .metrics_listen
        .expect("the bound metrics address");
    assert_ne!(metrics_addr, app.addr);

    let who = openid("metrics-listener");
    app.push_text(&who, "hello").await;
    let conversation = id_of(&app.conversation_of(&who).await);
    let mut events = app.state().live.subscribe();
    let resp = app
        .post_json(
            &format!("/api/v1/conversations/{conversation}/messages"),
            json!({"type": "text", "content": {"text": "hi"}}),
        )
        .await;
    assert_eq!(resp.status(), reqwest::StatusCode::ACCEPTED);
    // the reply's status changes once WeChat (the fake) answered
    tokio::time::timeout(Duration::from_secs(20), async {
        loop {
            if let Ok(Event::MessageStatus { .. }) | Err(RecvError::Lagged(_)) = events.recv().await
            {
                break;
            }
        }
    })
    .await
    .expect("the reply was sent");

    let resp = reqwest::get(format!("http://{metrics_addr}/metrics"))
        .await
        .unwrap();
    assert_eq!(resp.status(), reqwest::StatusCode::OK);
    let text = resp.text().await.unwrap();
    for name in [
        "kefu_pushes_total{outcome=\"stored\"}",
        "kefu_push_success_seconds",
        "kefu_writer_batch_size",
        "kefu_writer_commit_seconds",
        "kefu_outbox_depth",
        "kefu_outbox_oldest_seconds",
        "kefu_wechat_sends_total{errcode=\"0\"}",
        "kefu_wechat_token_refreshes_total{outcome=\"ok\"}",
        "kefu_live_connections",
        "kefu_bot_queue_depth",
        "kefu_bot_jobs_dropped_total",
    ] {
        assert!(
            text.lines().any(|l| l.starts_with(name)),
            "no {name} in:\n{text}"
        );
    }
    // only /metrics there
    let other = reqwest::get(format!("http://{metrics_addr}/api/v1/conversations"))
        .await
        .unwrap();
    assert_eq!(other.status(), reqwest::StatusCode::NOT_FOUND);
}
