//! Live updates over `/ws`, as a dashboard sees them: who may connect, events in order with
//! consecutive sequence numbers, catching up after a reconnect, being told to reload, and
//! presence (online, viewing, typing).
//!
//! Nothing here sleeps to wait: every wait is for a frame, bounded by `WAIT`.
//!
//! The client is tungstenite's blocking protocol driven over a non-blocking tokio socket
//! (`Client`): tokio-tungstenite's async stream needs `futures-util`'s `StreamExt` and
//! `SinkExt` to use, and the crate does not depend on it.

use std::io::{self, Read, Write};
use std::time::Duration;

use kefu::domain::Role;
use kefu::live::{Event, Fragments, KEPT};
use kefu::wechat::fake::{FakeConfig, FakeWechat};
use serde_json::{Value, json};
use tokio::net::TcpStream;
use tokio::time::{Instant, timeout, timeout_at};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::handshake::HandshakeError;
use tokio_tungstenite::tungstenite::protocol::WebSocket;
use tokio_tungstenite::tungstenite::{self, Message};

use crate::helpers::{self, APPID, TestApp, id_of, openid};

/// How long a test waits for a frame before it fails.
const WAIT: Duration = Duration::from_secs(10);

// ---------------------------------------------------------------------------------------------
// A WebSocket client

/// A tokio socket as the blocking `Read + Write` tungstenite drives: `WouldBlock` when it
/// would wait, after which `Client` awaits readiness.
struct Io(TcpStream);

impl Read for Io {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.0.try_read(buf)
    }
}

impl Write for Io {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.try_write(buf)
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

fn would_block(e: &tungstenite::Error) -> bool {
    matches!(e, tungstenite::Error::Io(e) if e.kind() == io::ErrorKind::WouldBlock)
}

/// One dashboard's connection.
pub(crate) struct Client {
    ws: WebSocket<Io>,
    /// the code of the close frame the server sent, once it has
    closed_with: Option<u16>,
}

/// A refused handshake: its status and body.
#[derive(Debug)]
struct Refused {
    status: u16,
    body: Value,
}

impl Client {
    /// Connects to `/ws?{query}` with a bearer token (none when empty).
    async fn try_connect(app: &TestApp, query: &str, token: &str) -> Result<Client, Refused> {
        let mut request = format!("ws://{}/ws?{query}", app.addr)
            .into_client_request()
            .expect("a WebSocket request");
        if !token.is_empty() {
            request.headers_mut().insert(
                "authorization",
                format!("Bearer {token}").parse().expect("a header value"),
            );
        }
        let stream = TcpStream::connect(app.addr).await.expect("connect");
        let handshake = async {
            let mut attempt = tungstenite::client(request, Io(stream));
            loop {
                match attempt {
                    Ok((ws, _)) => {
                        return Ok(Client {
                            ws,
                            closed_with: None,
                        });
                    }
                    Err(HandshakeError::Interrupted(mid)) => {
                        // the request is written at once; what is awaited is the answer
                        let io = &mid.get_ref().get_ref().0;
                        io.readable().await.expect("the socket is usable");
                        attempt = mid.handshake();
                    }
                    Err(HandshakeError::Failure(tungstenite::Error::Http(resp))) => {
                        let body = resp.body().clone().unwrap_or_default();
                        return Err(Refused {
                            status: resp.status().as_u16(),
                            body: serde_json::from_slice(&body).unwrap_or(Value::Null),
                        });
                    }
                    Err(HandshakeError::Failure(e)) => panic!("the handshake failed: {e}"),
                }
            }
        };
        timeout(WAIT, handshake)
            .await
            .expect("the handshake finishes")
    }

    /// Connects with the admin's API token; panics when refused.
    pub(crate) async fn connect(app: &TestApp, query: &str) -> Client {
        Self::connect_as(app, query, &app.token).await
    }

    pub(crate) async fn connect_as(app: &TestApp, query: &str, token: &str) -> Client {
        Self::try_connect(app, query, token)
            .await
            .unwrap_or_else(|r| panic!("/ws?{query} was refused: {r:?}"))
    }

    async fn read(&mut self) -> Result<Message, tungstenite::Error> {
        loop {
            match self.ws.read() {
                Err(e) if would_block(&e) => {
                    self.ws
                        .get_ref()
                        .0
                        .readable()
                        .await
                        .map_err(tungstenite::Error::Io)?;
                }
                other => return other,
            }
        }
    }

    /// The next text frame as JSON; `None` once the connection has ended.
    pub(crate) async fn next(&mut self) -> Option<Value> {
        let next = async {
            loop {
                match self.read().await {
                    Ok(Message::Text(t)) => {
                        return Some(
                            serde_json::from_str(t.as_str())
                                .unwrap_or_else(|e| panic!("not JSON ({e}): {t}")),
                        );
                    }
                    Ok(Message::Close(frame)) => {
                        self.closed_with = frame.map(|f| u16::from(f.code));
                        return None;
                    }
                    Err(_) => return None,
                    Ok(_) => {}
                }
            }
        };
        timeout(WAIT, next)
            .await
            .unwrap_or_else(|_| panic!("no frame within {WAIT:?}"))
    }

    /// The next frame, which must exist.
    pub(crate) async fn frame(&mut self) -> Value {
        self.next().await.expect("a frame, not the end")
    }

    /// The next `{"type":"event"}` frame whose event is of `kind`, skipping other events
    /// (each with a sequence number above the previous one).
    pub(crate) async fn event(&mut self, kind: &str) -> Value {
        let mut seq = 0;
        loop {
            let f = self.frame().await;
            assert_eq!(f["type"], "event", "expected an event frame: {f}");
            let s = f["seq"].as_u64().expect("seq");
            assert!(s > seq, "seq goes up: {f}");
            seq = s;
            if f["event"]["kind"] == kind {
                return f;
            }
        }
    }

    /// hello, the presence snapshot and the inbox counts; returns (hello, presence).
    pub(crate) async fn greeting(&mut self) -> (Value, Value) {
        let hello = self.frame().await;
        assert_eq!(hello["type"], "hello", "{hello}");
        let presence = self.frame().await;
        assert_eq!(presence["type"], "presence", "{presence}");
        let counts = self.frame().await;
        assert_eq!(counts["type"], "counts", "{counts}");
        (hello, presence)
    }

    async fn send(&mut self, msg: Message) -> Result<(), tungstenite::Error> {
        let mut result = self.ws.send(msg);
        loop {
            match result {
                Err(e) if would_block(&e) => {
                    self.ws
                        .get_ref()
                        .0
                        .writable()
                        .await
                        .map_err(tungstenite::Error::Io)?;
                    result = self.ws.flush();
                }
                other => return other,
            }
        }
    }

    async fn send_json(&mut self, value: Value) {
        self.send(Message::text(value.to_string()))
            .await
            .expect("the frame is sent");
    }

    /// Waits until the server has ended the connection (skipping frames sent before);
    /// returns the code of its close frame.
    async fn ended(&mut self) -> Option<u16> {
        while self.next().await.is_some() {}
        self.closed_with
    }

    /// Closes from this side (the server notices at once).
    async fn close(mut self) {
        let mut result = self.ws.close(None);
        while matches!(&result, Err(e) if would_block(e)) {
            if self.ws.get_ref().0.writable().await.is_err() {
                break;
            }
            result = self.ws.flush();
        }
        // the server's answering close frame, then the end
        let _ = timeout(WAIT, async { while self.read().await.is_ok() {} }).await;
    }
}

async fn add_staff(app: &TestApp, username: &str, name: &str) -> (i64, String) {
    helpers::add_staff(app, username, name, Role::Agent).await
}

fn admin(hello: &Value) -> Value {
    hello["me"].clone()
}

fn seq(frame: &Value) -> u64 {
    frame["seq"]
        .as_u64()
        .unwrap_or_else(|| panic!("no seq in {frame}"))
}

// ---------------------------------------------------------------------------------------------
// Who may connect

#[tokio::test]
async fn without_credentials_the_websocket_is_refused_with_401() {
    let app = TestApp::start().await;
    let refused = Client::try_connect(&app, "", "")
        .await
        .err()
        .expect("refused");
    assert_eq!(refused.status, 401);
    assert!(
        refused.body["error"]["code"].is_string(),
        "a JSON error: {:?}",
        refused.body
    );
    let refused = Client::try_connect(&app, "", "kefu_not-a-token")
        .await
        .err()
        .expect("refused");
    assert_eq!(refused.status, 401);
}

#[tokio::test]
async fn with_the_api_token_the_websocket_says_hello_with_the_boot_and_sequence() {
    let app = TestApp::start().await;
    let admin_id = kefu::store::staff::by_username(app.state().store.pool(), "admin")
        .await
        .unwrap()
        .expect("admin")
        .id;
    let mut client = Client::connect(&app, "").await;
    let (hello, presence) = client.greeting().await;
    assert_eq!(hello["boot"], app.state().live.boot());
    assert_eq!(seq(&hello), app.state().live.seq() - 1, "then own arrival");
    assert_eq!(hello["me"]["id"], admin_id);
    assert!(hello["me"]["name"].is_string());
    assert_eq!(seq(&presence), seq(&hello));
    // its own arrival is the first event
    let online = client.event("staff_presence").await;
    assert_eq!(seq(&online), seq(&hello) + 1);
    assert_eq!(
        online["event"],
        json!({"kind": "staff_presence", "staff": hello["me"], "online": true})
    );
}

// ---------------------------------------------------------------------------------------------
// Events

#[tokio::test]
async fn a_customer_message_reaches_every_open_dashboard_with_its_ids() {
    let app = TestApp::start().await;
    let mut a = Client::connect(&app, "").await;
    a.greeting().await;
    let mut b = Client::connect(&app, "").await;
    b.greeting().await;
    let customer = openid("live");
    app.push_text(&customer, "你好").await;
    let conversation = app.conversation_of(&customer).await;
    let message = app.messages(id_of(&conversation)).await.remove(0);

    let mut seqs = Vec::new();
    for client in [&mut a, &mut b] {
        let f = client.event("message_added").await;
        assert_eq!(
            f["event"],
            json!({
                "kind": "message_added",
                "conversation_id": id_of(&conversation),
                "message_id": id_of(&message),
                "new_conversation": true,
            })
        );
        seqs.push(seq(&f));
    }
    assert_eq!(seqs[0], seqs[1], "one event, one number, for everyone");

    app.push_text(&customer, "again").await;
    for client in [&mut a, &mut b] {
        let f = client.event("message_added").await;
        assert!(seq(&f) > seqs[0]);
        assert_eq!(f["event"]["new_conversation"], false);
    }
}

#[tokio::test]
async fn events_arrive_in_publish_order_with_consecutive_sequence_numbers() {
    let app = TestApp::start().await;
    let mut client = Client::connect(&app, "").await;
    let (hello, _) = client.greeting().await;
    let live = app.state().live.clone();
    // four publishers at once: the numbers are still consecutive, and each publisher's
    // events keep their order
    let publishers: Vec<_> = (0..4i64)
        .map(|p| {
            let live = live.clone();
            tokio::spawn(async move {
                for i in 0..100 {
                    live.publish(Event::ConversationChanged {
                        conversation_id: p * 1000 + i,
                    });
                    tokio::task::yield_now().await;
                }
            })
        })
        .collect();
    for p in publishers {
        p.await.unwrap();
    }
    let mut expected = seq(&hello) + 1;
    let mut next_of = [0i64; 4];
    let mut changed = 0;
    while changed < 400 {
        let f = client.frame().await;
        assert_eq!(f["type"], "event", "{f}");
        assert_eq!(seq(&f), expected, "consecutive: {f}");
        expected += 1;
        if f["event"]["kind"] == "conversation_changed" {
            let id = f["event"]["conversation_id"].as_i64().unwrap();
            let (p, i) = ((id / 1000) as usize, id % 1000);
            assert_eq!(i, next_of[p], "publisher {p} in order");
            next_of[p] += 1;
            changed += 1;
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Reconnecting

#[tokio::test]
async fn a_reconnecting_dashboard_gets_exactly_what_it_missed_then_live_events() {
    let app = TestApp::start().await;
    // another tab of the same person stays open, so nobody goes offline meanwhile
    let mut other = Client::connect(&app, "").await;
    other.greeting().await;
    other.event("staff_presence").await;

    let mut first = Client::connect(&app, "").await;
    let (hello, _) = first.greeting().await;
    let (since, boot) = (seq(&hello), hello["boot"].as_str().unwrap().to_owned());
    first.close().await;

    let customer = openid("missed");
    for text in ["one", "two", "three"] {
        app.push_text(&customer, text).await;
    }
    let conversation = id_of(&app.conversation_of(&customer).await);
    let mut ids: Vec<i64> = app.messages(conversation).await.iter().map(id_of).collect();
    ids.reverse(); // oldest first

    let mut again = Client::connect(&app, &format!("since={since}&boot={boot}")).await;
    let hello = again.frame().await;
    assert_eq!(hello["type"], "hello");
    // every event after `since` comes exactly once, in order: the missed ones, then (once
    // the renderer has numbered them) the live ones; the presence and counts frames go in
    // between, and the inbox counts are events of their own
    let mut next_seq = since + 1;
    let mut added = Vec::new();
    let mut greeted = false;
    while added.len() < 4 {
        if added.len() == 3 && greeted {
            app.push_text(&customer, "four").await;
            greeted = false; // push once
            added.push(-1);
            continue;
        }
        let f = again.frame().await;
        match f["type"].as_str() {
            Some("event") => {
                assert_eq!(seq(&f), next_seq, "consecutive: {f}");
                next_seq += 1;
                if f["event"]["kind"] == "message_added" {
                    added.push(f["event"]["message_id"].as_i64().expect("id"));
                }
            }
            Some("presence") => {}
            Some("counts") => greeted = true,
            _ => panic!("unexpected frame {f}"),
        }
    }
    assert_eq!(&added[..3], &ids[..], "the missed messages, oldest first");
    let four = loop {
        let f = again.frame().await;
        if f["type"] != "event" {
            continue;
        }
        assert_eq!(seq(&f), next_seq, "live again, consecutive: {f}");
        next_seq += 1;
        if f["event"]["kind"] == "message_added" {
            break f;
        }
    };
    let newest = app.messages(conversation).await;
    assert_eq!(four["event"]["message_id"], id_of(&newest[0]));
}

#[tokio::test]
async fn a_dashboard_from_before_a_restart_is_told_to_reload() {
    let app = TestApp::start().await;
    let mut client = Client::connect(&app, "since=3&boot=0123456789abcdef").await;
    assert_eq!(client.frame().await["type"], "hello");
    let reload = client.frame().await;
    assert_eq!(reload["type"], "reload", "{reload}");
    assert!(reload["reason"].as_str().is_some_and(|r| !r.is_empty()));
    client.ended().await;

    // a since without its boot is no better
    let mut client = Client::connect(&app, "since=0").await;
    assert_eq!(client.frame().await["type"], "hello");
    assert_eq!(client.frame().await["type"], "reload");
}

#[tokio::test]
async fn a_dashboard_that_missed_more_than_kefu_keeps_is_told_to_reload() {
    let app = TestApp::start().await;
    let live = app.state().live.clone();
    // numbered straight away (publishing would queue them for the HTML renderer first)
    for i in 0..(KEPT as i64 + 10) {
        live.sequence(
            Event::ConversationChanged { conversation_id: i },
            Some(Fragments::default()),
        );
    }
    let boot = live.boot().to_owned();
    let mut client = Client::connect(&app, &format!("since=5&boot={boot}")).await;
    assert_eq!(client.frame().await["type"], "hello");
    let reload = client.frame().await;
    assert_eq!(reload["type"], "reload", "{reload}");
    client.ended().await;

    // just inside what is kept: served
    let since = live.seq() - KEPT as u64;
    let mut client = Client::connect(&app, &format!("since={since}&boot={boot}")).await;
    assert_eq!(client.frame().await["type"], "hello");
    assert_eq!(seq(&client.frame().await), since + 1);

    // a number this process never reached
    let mut client = Client::connect(&app, &format!("since=999999&boot={boot}")).await;
    assert_eq!(client.frame().await["type"], "hello");
    assert_eq!(client.frame().await["type"], "reload");
}

#[tokio::test]
async fn a_dashboard_that_falls_behind_is_told_to_reload_rather_than_skip_events() {
    let app = TestApp::start().await;
    let mut client = Client::connect(&app, "").await;
    client.greeting().await;
    client.event("staff_presence").await;
    // published while the dashboards' thread is held up (its one runtime thread blocked
    // until then): the connection's task cannot send in between, so it finds the events it
    // had not sent yet overwritten
    let (held, release) = std::sync::mpsc::channel::<()>();
    let (blocked, is_blocked) = tokio::sync::oneshot::channel();
    app.state().fanout.spawn(async move {
        let _ = blocked.send(());
        let _ = release.recv();
    });
    is_blocked.await.unwrap();
    let live = app.state().live.clone();
    for i in 0..(KEPT as i64 + 1) {
        live.sequence(
            Event::ConversationChanged { conversation_id: i },
            Some(Fragments::default()),
        );
    }
    drop(held);
    let f = client.frame().await;
    assert_eq!(f["type"], "reload", "{f}");
    client.ended().await;
}

// ---------------------------------------------------------------------------------------------
// Presence

#[tokio::test]
async fn others_see_who_is_online_viewing_and_typing_and_who_left() {
    let app = TestApp::start().await;
    let (agent_id, agent_token) = add_staff(&app, "agent1", "Agent One").await;
    let agent = json!({"id": agent_id, "name": "Agent One"});

    let mut b = Client::connect(&app, "").await;
    let (b_hello, _) = b.greeting().await;
    b.event("staff_presence").await; // b itself

    let mut a = Client::connect_as(&app, "", &agent_token).await;
    let (a_hello, _) = a.greeting().await;
    assert_eq!(a_hello["me"], agent);
    let f = b.event("staff_presence").await;
    assert_eq!(
        f["event"],
        json!({"kind": "staff_presence", "staff": agent, "online": true})
    );

    a.send_json(json!({"type": "viewing", "conversation_id": 42}))
        .await;
    let f = b.event("conversation_presence").await;
    assert_eq!(
        f["event"],
        json!({"kind": "conversation_presence", "conversation_id": 42, "viewing": [agent], "typing": []})
    );

    a.send_json(json!({"type": "typing", "conversation_id": 42}))
        .await;
    let f = b.event("conversation_presence").await;
    assert_eq!(
        f["event"],
        json!({"kind": "conversation_presence", "conversation_id": 42, "viewing": [agent], "typing": [agent]})
    );

    // a dashboard opened now learns all of it at once
    let mut c = Client::connect(&app, "").await;
    let (_, presence) = c.greeting().await;
    let mut online = vec![admin(&b_hello), agent.clone()];
    online.sort_by_key(|s| s["id"].as_i64());
    assert_eq!(presence["online"], json!(online));
    assert_eq!(
        presence["conversations"],
        json!([{"conversation_id": 42, "viewing": [agent], "typing": [agent]}])
    );

    a.close().await;
    let f = b.event("conversation_presence").await;
    assert_eq!(
        f["event"],
        json!({"kind": "conversation_presence", "conversation_id": 42, "viewing": [], "typing": []})
    );
    let f = b.event("staff_presence").await;
    assert_eq!(
        f["event"],
        json!({"kind": "staff_presence", "staff": agent, "online": false})
    );
}

#[tokio::test]
async fn typing_over_the_websocket_sends_wechats_typing_indicator() {
    const SECRET: &str = "kefu-fake-app-secret-for-live-tests";
    const TYPING: &str = "/cgi-bin/message/custom/typing";
    let fake = FakeWechat::start(FakeConfig::new(APPID, SECRET))
        .await
        .expect("the fake WeChat API starts");
    let base = fake.base_url();
    let app = TestApp::start_with(&[
        ("KEFU_WECHAT_API_BASE", base.as_str()),
        ("KEFU_WECHAT_SECRET", SECRET),
    ])
    .await;
    let customer = openid("typing");
    app.push_text(&customer, "are you there?").await;
    let conversation = id_of(&app.conversation_of(&customer).await);

    let mut a = Client::connect(&app, "").await;
    a.greeting().await;
    a.send_json(json!({"type": "typing", "conversation_id": conversation}))
        .await;
    // the presence event comes back at once; WeChat is called off the socket's task
    a.event("conversation_presence").await;
    // the fake records calls without a signal to wait on: look again each few ms until WAIT
    let deadline = Instant::now() + WAIT;
    let mut tick = tokio::time::interval(Duration::from_millis(10));
    while fake.calls_to(TYPING).is_empty() {
        timeout_at(deadline, tick.tick())
            .await
            .expect("WeChat's typing indicator is called");
    }
    let calls = fake.calls_to(TYPING);
    assert_eq!(
        calls[0].body,
        Some(json!({"touser": customer, "command": "Typing"}))
    );
}

// ---------------------------------------------------------------------------------------------
// Bounds

#[tokio::test]
async fn an_oversized_frame_closes_only_that_connection() {
    let app = TestApp::start().await;
    let mut big = Client::connect(&app, "").await;
    big.greeting().await;
    let mut other = Client::connect(&app, "").await;
    other.greeting().await;

    let huge = json!({"type": "viewing", "conversation_id": 1, "pad": "x".repeat(8 * 1024)});
    let _ = big.send(Message::text(huge.to_string())).await;
    assert_eq!(big.ended().await, Some(1009), "closed as too big");

    let customer = openid("after-big");
    app.push_text(&customer, "still here").await;
    let f = other.event("message_added").await;
    assert_eq!(
        f["event"]["conversation_id"],
        id_of(&app.conversation_of(&customer).await)
    );
}

#[tokio::test]
async fn garbage_frames_are_ignored_and_a_ping_is_answered() {
    let app = TestApp::start().await;
    let mut client = Client::connect(&app, "").await;
    client.greeting().await;
    client.event("staff_presence").await;
    for garbage in [
        "not json",
        "{}",
        r#"{"type":"launch_rockets"}"#,
        r#"{"type":"viewing","conversation_id":"forty-two"}"#,
        "[1,2,3]",
    ] {
        client
            .send(Message::text(garbage))
            .await
            .expect("sent garbage");
    }
    client
        .send(Message::binary(vec![0u8, 1, 2]))
        .await
        .expect("sent binary");
    client.send_json(json!({"type": "ping"})).await;
    assert_eq!(client.frame().await, json!({"type": "pong"}));
    // and the connection still carries events
    app.state()
        .live
        .publish(Event::ConversationChanged { conversation_id: 7 });
    let f = client.event("conversation_changed").await;
    assert_eq!(f["event"]["conversation_id"], 7);
}

#[tokio::test]
async fn stopping_kefu_does_not_wait_for_open_dashboards() {
    let mut app = TestApp::start().await;
    let mut client = Client::connect(&app, "").await;
    client.greeting().await;
    timeout(WAIT, app.stop())
        .await
        .expect("the server stops while a dashboard is connected");
}

#[tokio::test]
async fn status_and_assignment_changes_reach_open_dashboards() {
    let app = TestApp::start().await;
    let customer = openid("livestatus");
    app.push_text(&customer, "hi").await;
    let conversation = id_of(&app.conversation_of(&customer).await);
    let mut a = Client::connect(&app, "").await;
    a.greeting().await;

    let resp = app
        .post_json(
            &format!("/api/v1/conversations/{conversation}/status"),
            json!({"status": "pending"}),
        )
        .await;
    assert!(resp.status().is_success());
    let f = a.event("conversation_changed").await;
    assert_eq!(f["event"]["conversation_id"], conversation);

    let me = app.get_json("/api/v1/conversations").await["conversations"][0].clone();
    assert_eq!(id_of(&me), conversation);
    let resp = app
        .post_json(
            &format!("/api/v1/conversations/{conversation}/assign"),
            json!({"assignee": 1}),
        )
        .await;
    assert!(resp.status().is_success());
    let f = a.event("conversation_changed").await;
    assert_eq!(f["event"]["conversation_id"], conversation);
}

#[tokio::test]
async fn a_disabled_account_loses_its_open_dashboard_at_its_next_frame() {
    let app = TestApp::start().await;
    let (_, token) = add_staff(&app, "leaver", "Leaver").await;
    let mut client = Client::connect_as(&app, "", &token).await;
    client.greeting().await;
    client
        .send_json(json!({"type": "viewing", "conversation_id": 1}))
        .await;
    client.event("conversation_presence").await;
    kefu::services::accounts::set_disabled(
        &app.state().store,
        kefu::services::Caller::Cli,
        kefu::services::accounts::AccountRef::Name("leaver"),
        true,
    )
    .await
    .expect("disabled");
    client
        .send_json(json!({"type": "viewing", "conversation_id": 2}))
        .await;
    assert_eq!(client.ended().await, Some(1008), "closed by policy");
}

#[tokio::test]
async fn with_nobody_watching_updates_are_not_rendered_and_a_returning_page_reloads() {
    let app = TestApp::start().await;
    let mut first = Client::connect(&app, "").await;
    let (hello, _) = first.greeting().await;
    let (since, boot) = (seq(&hello), hello["boot"].as_str().unwrap().to_owned());
    first.close().await;
    // nobody is connected while the customer writes
    let mut events = app.state().live.subscribe();
    app.push_text(&openid("unwatched"), "hello").await;
    let message_added =
        async { while !matches!(events.recv().await, Ok(Event::MessageAdded { .. })) {} };
    timeout(WAIT, message_added).await.expect("published");
    // the page that was open before asks for what it missed: it is told to reload, never
    // handed an update it could not show
    // (if the renderer had not got to it yet, this dashboard's arrival makes it render: the
    // event then comes with its HTML)
    let mut again = Client::connect(&app, &format!("since={since}&boot={boot}")).await;
    assert_eq!(again.frame().await["type"], "hello");
    loop {
        let f = again.frame().await;
        if f["type"] == "reload" {
            break;
        }
        if f["type"] == "event" && f["event"]["kind"] == "message_added" {
            assert!(f["html"]["row"].is_string(), "{f}");
            break;
        }
    }
}
