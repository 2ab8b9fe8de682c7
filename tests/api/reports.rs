//! Reports (docs/CONTRACT.md, "Reports") and transcripts. The scenario is played through the
//! product (pushes, the bot's rules, agents' replies and status changes), then every stored
//! time is set to a chosen one in the database, as if it had happened then: the expected
//! figures are worked out by hand below. A second test compares the report with figures
//! computed here from the raw rows, over random activity and ragged windows.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::future::Future;
use std::time::Duration;

use kefu::domain::Role;
use kefu::live::Event;
use reqwest::StatusCode;
use serde_json::{Value, json};
use tokio::sync::broadcast::{self, error::RecvError};
use tokio::time::{Instant, timeout_at};

use crate::canned::Browser;
use crate::helpers::{
    ADMIN_PASSWORD, TestApp, add_staff, all, assert_error, id_of, now, openid, start_sending,
};

const WAIT: Duration = Duration::from_secs(15);

/// 2026-11-02T01:00:00Z, the scenario's zero, in ms.
const T: i64 = 1_793_581_200_000;

/// Checks `done` after each of kefu's events until it holds (no sleeping: the bus says when
/// something changed). Subscribe before acting, so no event is missed.
async fn until<F, Fut>(events: &mut broadcast::Receiver<Event>, what: &str, mut done: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let deadline = Instant::now() + WAIT;
    loop {
        if done().await {
            return;
        }
        match timeout_at(deadline, events.recv()).await {
            Err(_) => panic!("{what}: not after {WAIT:?}"),
            Ok(Err(RecvError::Closed)) => panic!("kefu's event bus closed"),
            Ok(_) => {}
        }
    }
}

async fn post_as(app: &TestApp, token: &str, path: &str, body: Value) -> reqwest::Response {
    app.client
        .post(app.url(path))
        .bearer_auth(token)
        .json(&body)
        .send()
        .await
        .expect("the API answers")
}

async fn get_as(app: &TestApp, token: &str, path: &str) -> reqwest::Response {
    app.client
        .get(app.url(path))
        .bearer_auth(token)
        .send()
        .await
        .expect("the API answers")
}

/// An agent's reply (or note), accepted.
async fn write(app: &TestApp, token: &str, conversation: i64, kind: &str, text: &str) {
    let resp = post_as(
        app,
        token,
        &format!("/api/v1/conversations/{conversation}/messages"),
        json!({"type": kind, "content": {"text": text}}),
    )
    .await;
    let status = resp.status();
    assert_eq!(
        status,
        StatusCode::ACCEPTED,
        "{}",
        resp.text().await.unwrap()
    );
}

async fn set_status(app: &TestApp, token: &str, conversation: i64, status: &str) {
    let resp = post_as(
        app,
        token,
        &format!("/api/v1/conversations/{conversation}/status"),
        json!({ "status": status }),
    )
    .await;
    assert_eq!(
        resp.status(),
        StatusCode::OK,
        "{}",
        resp.text().await.unwrap()
    );
}

/// Whether the conversation holds `n` messages, none still queued.
async fn settled(app: &TestApp, conversation: i64, n: usize) -> bool {
    let messages = app.messages(conversation).await;
    messages.len() == n && messages.iter().all(|m| m["status"] != "queued")
}

/// Sets the stored times of a conversation: its messages' in the order they were stored, its
/// events' likewise, and its creation to its first message's (seconds after `base`).
async fn retime(app: &TestApp, conversation: i64, base: i64, messages: &[i64], events: &[i64]) {
    let pool = app.state().store.pool();
    let ids: Vec<i64> =
        sqlx::query_scalar("select id from messages where conversation_id = $1 order by id")
            .bind(conversation)
            .fetch_all(pool)
            .await
            .unwrap();
    assert_eq!(
        ids.len(),
        messages.len(),
        "conversation {conversation}'s messages"
    );
    for (id, at) in ids.iter().zip(messages) {
        sqlx::query("update messages set created_at = $1 where id = $2")
            .bind(base + at * 1000)
            .bind(id)
            .execute(pool)
            .await
            .unwrap();
    }
    let ids: Vec<i64> = sqlx::query_scalar(
        "select id from conversation_events where conversation_id = $1 order by id",
    )
    .bind(conversation)
    .fetch_all(pool)
    .await
    .unwrap();
    assert_eq!(
        ids.len(),
        events.len(),
        "conversation {conversation}'s events"
    );
    for (id, at) in ids.iter().zip(events) {
        sqlx::query("update conversation_events set at = $1 where id = $2")
            .bind(base + at * 1000)
            .bind(id)
            .execute(pool)
            .await
            .unwrap();
    }
    sqlx::query("update conversations set created_at = $1 where id = $2")
        .bind(base + messages[0] * 1000)
        .bind(conversation)
        .execute(pool)
        .await
        .unwrap();
}

fn at(ms: i64) -> String {
    kefu::domain::rfc3339(ms)
}

/// The summary of `[from, to)` as the admin reads it.
async fn summary(app: &TestApp, from: i64, to: i64) -> Value {
    app.get_json(&format!(
        "/api/v1/reports/summary?from={}&to={}",
        at(from),
        at(to)
    ))
    .await
}

/// Waits until the outbox is empty: every reply posted so far is sent.
async fn replies_sent(app: &TestApp, events: &mut broadcast::Receiver<Event>, what: &str) {
    until(events, what, move || async move {
        kefu::store::outbox::backlog(app.state().store.pool())
            .await
            .unwrap()
            == 0
    })
    .await;
}

/// Runs the reports' writer turns until nothing is left to count or fold (what the writer
/// does between its batches); the items done.
async fn catch_up_reports(app: &TestApp) -> usize {
    let store = app.state().store.clone();
    tokio::task::spawn_blocking(move || kefu::writer::catch_up(&store, kefu::writer::reports_turn))
        .await
        .unwrap()
        .unwrap()
}

fn durations(count: i64, p50: Option<i64>, p90: Option<i64>) -> Value {
    json!({"count": count, "p50": p50, "p90": p90})
}

#[tokio::test]
async fn a_scenario_with_chosen_times_gives_the_figures_worked_out_by_hand() {
    let (app, _fake) = start_sending(&[("KEFU_DELIVERY_BACKOFF_MS", "20")]).await;
    let app = &app;
    let (ann, ann_token) = add_staff(app, "ann", "Ann", Role::Agent).await;
    let (bob, bob_token) = add_staff(app, "bob", "Bob", Role::Agent).await;
    for rule in [
        json!({"name": "hours", "match": "contains", "keywords": ["营业时间"], "action": "reply",
               "reply": {"type": "text", "content": {"text": "9:00–18:00"}}}),
        json!({"name": "human", "match": "exact", "keywords": ["转人工"], "action": "handoff"}),
    ] {
        let resp = app.post_json("/api/v1/rules", rule).await;
        assert_eq!(resp.status(), StatusCode::CREATED);
    }
    let mut events = app.state().live.subscribe();

    // A: Ann and Bob answer, a note, resolved, reopened, the customer writes again, resolved
    let (ca, cb, cc, cd) = (openid("a"), openid("b"), openid("c"), openid("d"));
    app.push_text(&ca, "hi").await;
    app.push_text(&ca, "还在吗").await;
    let a = id_of(&app.conversation_of(&ca).await);
    write(app, &ann_token, a, "text", "您好").await;
    until(&mut events, "Ann's reply is sent", move || {
        settled(app, a, 3)
    })
    .await;
    app.push_text(&ca, "order 42?").await;
    write(app, &bob_token, a, "text", "on its way").await;
    write(app, &ann_token, a, "note", "VIP").await;
    until(&mut events, "Bob's reply is sent", move || {
        settled(app, a, 6)
    })
    .await;
    set_status(app, &ann_token, a, "resolved").await;
    set_status(app, &ann_token, a, "open").await;
    app.push_text(&ca, "one more thing").await;
    assert_eq!(
        id_of(&app.conversation_of(&ca).await),
        a,
        "reopened, A takes it"
    );
    set_status(app, &bob_token, a, "resolved").await;

    // B: the bot answers, a rule hands it to a human, Bob answers, Bob resolves
    app.push_text(&cb, "营业时间?").await;
    let b = id_of(&app.conversation_of(&cb).await);
    until(&mut events, "the bot answers B", move || settled(app, b, 2)).await;
    app.push_text(&cb, "转人工").await;
    until(&mut events, "a rule hands B off", move || async move {
        app.get_json(&format!("/api/v1/conversations/{b}")).await["handler"] == "human"
    })
    .await;
    write(app, &bob_token, b, "text", "Bob here").await;
    until(&mut events, "Bob's reply to B is sent", move || {
        settled(app, b, 4)
    })
    .await;
    set_status(app, &bob_token, b, "resolved").await;

    // C: only the bot, then Ann resolves it
    app.push_text(&cc, "营业时间").await;
    let c = id_of(&app.conversation_of(&cc).await);
    until(&mut events, "the bot answers C", move || settled(app, c, 2)).await;
    set_status(app, &ann_token, c, "resolved").await;

    // D: two hours before T, the day before
    app.push_text(&cd, "early").await;
    let d = id_of(&app.conversation_of(&cd).await);

    // The times, in seconds after T.
    // A: in 0, in 30, Ann 90, in 200, Bob 260, note 270, in 800; resolved 600 (Ann),
    //    reopened 700, resolved 1000 (Bob)
    retime(
        app,
        a,
        T,
        &[0, 30, 90, 200, 260, 270, 800],
        &[600, 700, 1000],
    )
    .await;
    // B: in 50, bot 51, in 100, Bob 400; handoff 101, resolved 500 (Bob)
    retime(app, b, T, &[50, 51, 100, 400], &[101, 500]).await;
    // C: in 2000, bot 2001; resolved 2100 (Ann)
    retime(app, c, T, &[2000, 2001], &[2100]).await;
    retime(app, d, T, &[-7200], &[]).await;

    // a ragged window: from 4 min 53 s before T to 50 min 13 s after it
    let (from, to) = (T - 293_000, T + 3_013_000);
    let got = summary(app, from, to).await;
    let expected = json!({
        "from": at(from),
        "to": at(to),
        // A (T+0), B (T+50), C (T+2000); D began two hours before
        "conversations_new": 3,
        // A: 0, 30, 200, 800; B: 50, 100; C: 2000 (D's is before the window)
        "messages_in": 7,
        // Ann at 90, Bob at 260 and 400 (the note never counts)
        "messages_out_agent": 3,
        // the bot at 51 (B) and 2001 (C)
        "messages_out_bot": 2,
        // A: 0→90 (Ann) 90 s, 200→260 (Bob) 60 s; B: 50→400 (Bob) 350 s (the bot's answer
        // ends no wait); A's wait from 800 is never answered. Sorted [60, 90, 350]:
        // p50 = rank ⌈1.5⌉ = 2 → 90, p90 = rank ⌈2.7⌉ = 3 → 350
        "first_response_seconds": durations(3, Some(90), Some(350)),
        // A 0→600 = 600, A again 800→1000 = 200 (its first customer message after the
        // resolution at 600), B 50→500 = 450, C 2000→2100 = 100. Sorted [100, 200, 450, 600]:
        // p50 = rank 2 → 200, p90 = rank ⌈3.6⌉ = 4 → 600
        "resolution_seconds": durations(4, Some(200), Some(600)),
        "resolved": 4,
        // A's second cycle (no agent message since 800) and C (only the bot)
        "resolved_without_human": 2,
        // B, by the rule
        "handoffs": 1,
        "agents": [
            // Ann: the reply at 90; resolved A at 600 and C; her one response took 90 s
            {"id": ann, "name": "Ann", "replies": 1, "conversations_resolved": 2,
             "first_response_seconds": durations(1, Some(90), Some(90))},
            // Bob: replies at 260 and 400; resolved A at 1000 and B; responses [60, 350]:
            // p50 = rank 1 → 60, p90 = rank ⌈1.8⌉ = 2 → 350
            {"id": bob, "name": "Bob", "replies": 2, "conversations_resolved": 2,
             "first_response_seconds": durations(2, Some(60), Some(350))},
        ],
    });
    assert_eq!(got, expected);

    // the same window by day (all of it on 2026-11-02 in UTC, and in +08:00 too)
    let daily = app
        .get_json(&format!(
            "/api/v1/reports/daily?from={}&to={}&tz=%2B08:00",
            at(from),
            at(to)
        ))
        .await;
    assert_eq!(
        daily,
        json!({"days": [{
            "date": "2026-11-02", "conversations_new": 3, "messages_in": 7,
            "messages_out_agent": 3, "messages_out_bot": 2, "resolved": 4,
            "first_response_count": 3, "first_response_p50": 90, "first_response_p90": 350,
            "resolution_count": 4, "resolution_p50": 200, "resolution_p90": 600,
        }]})
    );

    // only what lies in the window: from T+100 s (B's second message) to T+1000 s, the moment
    // of A's second resolution (excluded: [from, to))
    let narrow = summary(app, T + 100_000, T + 1_000_000).await;
    // in: A 200, 800; B 100
    assert_eq!(narrow["messages_in"], 3);
    // Ann's 90 is before; Bob's 260 and 400
    assert_eq!(narrow["messages_out_agent"], 2);
    assert_eq!(narrow["conversations_new"], 0);
    // responses sent in the window: Bob's 260 (60 s) and 400 (350 s)
    assert_eq!(
        narrow["first_response_seconds"],
        durations(2, Some(60), Some(350))
    );
    // resolutions in the window: B at 500 (450 s), A at 600 (600 s)
    assert_eq!(
        narrow["resolution_seconds"],
        durations(2, Some(450), Some(600))
    );
    // the handoff at 101
    assert_eq!(narrow["handoffs"], 1);

    // another channel has none of it
    let other = app
        .get_json(&format!(
            "/api/v1/reports/summary?from={}&to={}&channel=default",
            at(from),
            at(to)
        ))
        .await;
    assert_eq!(
        other["messages_in"], 7,
        "everything is in the default channel"
    );

    // the page shows the same figures and draws the charts
    let admin = Browser::sign_in(app, "admin", ADMIN_PASSWORD).await;
    let html = admin
        .page("/reports?from=2026-11-02&to=2026-11-02&tz=%2B00:00")
        .await;
    assert_eq!(all(&html, "[data-figure=messages_in]"), ["7"]);
    assert_eq!(all(&html, "[data-figure=handoffs]"), ["1"]);
    assert_eq!(all(&html, "[data-figure=resolved]"), ["4"]);
    assert_eq!(all(&html, "#report-agents tbody td.replies"), ["1", "2"]);
    assert_eq!(all(&html, "figure.chart svg[viewBox] > title").len(), 3);
    let csv = crate::helpers::attr(&html, "#report-csv", "href").expect("a CSV link");
    assert!(csv.contains("format=csv"), "{csv}");
    let resp = admin.get(&csv).await;
    assert_eq!(resp.status(), StatusCode::OK);
    let text = resp.text().await.unwrap();
    assert!(
        text.starts_with("date,conversations_new,messages_in,"),
        "{text}"
    );
    assert!(
        text.contains("\r\n2026-11-02,3,7,3,2,4,3,90,350,4,200,600\r\n"),
        "{text}"
    );
}

// ---------------------------------------------------------------------------------------------
// Random activity, compared with figures computed here from the raw rows

/// A small deterministic generator (no crate needed): the same run every time.
struct Lcg(u64);

impl Lcg {
    fn next(&mut self, n: u64) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (self.0 >> 33) % n
    }
}

#[derive(Debug, Clone, sqlx::FromRow)]
struct RawMessage {
    id: i64,
    conversation: i64,
    direction: String,
    sender_kind: String,
    sender_id: Option<i64>,
    kind: String,
    status: String,
    at: i64,
}

struct Raw {
    messages: Vec<RawMessage>,
    /// conversation -> creation time
    created: HashMap<i64, i64>,
    /// (conversation, at, id, staff) of every resolution
    resolved: Vec<(i64, i64, i64, Option<i64>)>,
    /// (conversation, at) of every handoff
    handoffs: Vec<(i64, i64)>,
    names: HashMap<i64, String>,
}

async fn raw(app: &TestApp) -> Raw {
    let pool = app.state().store.pool();
    let messages: Vec<RawMessage> = sqlx::query_as(
        "select id, conversation_id as conversation, direction, sender_kind, sender_id, type as kind, status, created_at as at from messages",
    )
    .fetch_all(pool)
    .await
    .unwrap();
    let created = sqlx::query_as::<_, (i64, i64)>("select id, created_at from conversations")
        .fetch_all(pool)
        .await
        .unwrap()
        .into_iter()
        .collect();
    let events: Vec<(i64, String, i64, i64, Option<i64>)> =
        sqlx::query_as("select conversation_id, kind, at, id, staff_id from conversation_events")
            .fetch_all(pool)
            .await
            .unwrap();
    let resolved = events
        .iter()
        .filter(|e| e.1 == "resolved")
        .map(|e| (e.0, e.2, e.3, e.4))
        .collect();
    let handoffs = events
        .iter()
        .filter(|e| e.1 == "handoff")
        .map(|e| (e.0, e.2))
        .collect();
    let names = sqlx::query_as::<_, (i64, String)>("select id, display_name from staff_users")
        .fetch_all(pool)
        .await
        .unwrap()
        .into_iter()
        .collect();
    Raw {
        messages,
        created,
        resolved,
        handoffs,
        names,
    }
}

fn nearest_rank(mut v: Vec<i64>, p: usize) -> Option<i64> {
    v.sort_unstable();
    if v.is_empty() {
        return None;
    }
    let rank = (p * v.len()).div_ceil(100);
    Some(v[rank.max(1) - 1])
}

fn figures_of(v: Vec<i64>) -> Value {
    json!({"count": v.len(), "p50": nearest_rank(v.clone(), 50), "p90": nearest_rank(v, 90)})
}

/// The contract's definitions, straight from the raw rows.
fn expected_summary(raw: &Raw, from: i64, to: i64) -> Value {
    let inside = |t: i64| t >= from && t < to;
    let is_in =
        |m: &RawMessage| m.direction == "in" && m.sender_kind == "customer" && m.kind != "event";
    let agent_sent = |m: &RawMessage| {
        m.direction == "out" && m.sender_kind == "agent" && m.kind != "note" && m.status == "sent"
    };
    let bot_sent = |m: &RawMessage| {
        m.direction == "out" && m.sender_kind == "bot" && m.kind != "note" && m.status == "sent"
    };
    let mut by_conversation: BTreeMap<i64, Vec<&RawMessage>> = BTreeMap::new();
    for m in &raw.messages {
        by_conversation.entry(m.conversation).or_default().push(m);
    }
    // responses: (sent at, seconds, agent)
    let mut responses: Vec<(i64, i64, Option<i64>)> = Vec::new();
    // resolutions: (at, seconds, human, staff)
    let mut resolutions: Vec<(i64, Option<i64>, bool, Option<i64>)> = Vec::new();
    for (conversation, list) in &mut by_conversation {
        list.sort_by_key(|m| (m.at, m.id));
        let mut waiting: Option<i64> = None;
        for m in list.iter() {
            if is_in(m) && waiting.is_none() {
                waiting = Some(m.at);
            } else if agent_sent(m)
                && let Some(start) = waiting.take()
            {
                responses.push((m.at, (m.at - start) / 1000, m.sender_id));
            }
        }
        let mut mine: Vec<_> = raw
            .resolved
            .iter()
            .filter(|r| r.0 == *conversation)
            .collect();
        mine.sort_by_key(|r| (r.1, r.2));
        let mut previous: Option<i64> = None;
        for r in mine {
            let cycle: Vec<&&RawMessage> = list
                .iter()
                .filter(|m| previous.is_none_or(|p| m.at > p) && m.at <= r.1)
                .collect();
            let first = cycle.iter().find(|m| is_in(m)).map(|m| m.at);
            let human = cycle
                .iter()
                .any(|m| agent_sent(m) && first.is_none_or(|f| m.at >= f));
            resolutions.push((r.1, first.map(|f| (r.1 - f) / 1000), human, r.3));
            previous = Some(r.1);
        }
    }
    responses.retain(|r| inside(r.0));
    resolutions.retain(|r| inside(r.0));
    let counted: Vec<&RawMessage> = raw.messages.iter().filter(|m| inside(m.at)).collect();
    let mut agents: BTreeSet<i64> = counted
        .iter()
        .filter(|m| agent_sent(m))
        .filter_map(|m| m.sender_id)
        .collect();
    agents.extend(responses.iter().filter_map(|r| r.2));
    agents.extend(resolutions.iter().filter_map(|r| r.3));
    let agents: Vec<Value> = agents
        .into_iter()
        .map(|id| {
            json!({
                "id": id,
                "name": raw.names[&id],
                "replies": counted.iter().filter(|m| agent_sent(m) && m.sender_id == Some(id)).count(),
                "conversations_resolved": resolutions.iter().filter(|r| r.3 == Some(id)).count(),
                "first_response_seconds": figures_of(
                    responses.iter().filter(|r| r.2 == Some(id)).map(|r| r.1).collect()
                ),
            })
        })
        .collect();
    let handed: BTreeSet<i64> = raw
        .handoffs
        .iter()
        .filter(|h| inside(h.1))
        .map(|h| h.0)
        .collect();
    json!({
        "from": at(from),
        "to": at(to),
        "conversations_new": raw.created.values().filter(|t| inside(**t)).count(),
        "messages_in": counted.iter().filter(|m| is_in(m)).count(),
        "messages_out_agent": counted.iter().filter(|m| agent_sent(m)).count(),
        "messages_out_bot": counted.iter().filter(|m| bot_sent(m)).count(),
        "first_response_seconds": figures_of(responses.iter().map(|r| r.1).collect()),
        "resolution_seconds": figures_of(resolutions.iter().filter_map(|r| r.1).collect()),
        "resolved": resolutions.len(),
        "resolved_without_human": resolutions.iter().filter(|r| !r.2).count(),
        "handoffs": handed.len(),
        "agents": agents,
    })
}

/// `steps` random steps of activity, through the API: customers write, agents reply, write
/// notes, resolve and reopen. Returns the replies accepted.
async fn activity(
    app: &TestApp,
    staff: &[(i64, String)],
    customers: &[String],
    rng: &mut Lcg,
    steps: usize,
) -> usize {
    let mut replies = 0;
    for step in 0..steps {
        let who = &customers[rng.next(customers.len() as u64) as usize];
        let (_, token) = &staff[rng.next(staff.len() as u64) as usize];
        let conversation = match app.conversations_of(who).await.first() {
            Some(c) => c.clone(),
            None => {
                app.push_text(who, &format!("first {step}")).await;
                continue;
            }
        };
        let id = id_of(&conversation);
        match rng.next(10) {
            0..=3 => app.push_text(who, &format!("message {step}")).await,
            // a reply may be refused (WeChat's quota of replies per customer message, or a
            // colleague's conversation): then nothing is stored, which is fine here
            4..=6 => {
                let resp = post_as(
                    app,
                    token,
                    &format!("/api/v1/conversations/{id}/messages"),
                    json!({"type": "text", "content": {"text": format!("reply {step}")}}),
                )
                .await;
                if resp.status() == StatusCode::ACCEPTED {
                    replies += 1;
                }
            }
            7 => write(app, token, id, "note", &format!("note {step}")).await,
            8 => set_status(app, token, id, "resolved").await,
            _ => set_status(app, token, id, "open").await,
        }
    }
    replies
}

#[tokio::test]
async fn after_random_activity_the_report_equals_the_figures_computed_from_the_raw_messages() {
    let (app, _fake) = start_sending(&[("KEFU_DELIVERY_BACKOFF_MS", "20")]).await;
    let app = &app;
    let staff = [
        add_staff(app, "ann", "Ann", Role::Agent).await,
        add_staff(app, "bob", "Bob", Role::Agent).await,
        add_staff(app, "cy", "Cy", Role::Admin).await,
    ];
    let customers: Vec<String> = (0..5).map(|i| openid(&format!("r{i}"))).collect();
    let mut rng = Lcg(20_261_207);
    let mut events = app.state().live.subscribe();
    let replies = activity(app, &staff, &customers, &mut rng, 60).await;
    assert!(replies > 5);
    replies_sent(app, &mut events, "every reply is sent").await;

    // spread everything over three days from T, in an order unrelated to the ids
    let pool = app.state().store.pool();
    let span = 3 * 24 * 3600 * 1000;
    for (table, column) in [
        ("messages", "created_at"),
        ("conversation_events", "at"),
        ("conversations", "created_at"),
    ] {
        let ids: Vec<i64> =
            sqlx::query_scalar(sqlx::AssertSqlSafe(format!("select id from {table}")))
                .fetch_all(pool)
                .await
                .unwrap();
        for id in ids {
            let t = T + (rng.next(span as u64) as i64);
            sqlx::query(sqlx::AssertSqlSafe(format!(
                "update {table} set {column} = $1 where id = $2"
            )))
            .bind(t)
            .bind(id)
            .execute(pool)
            .await
            .unwrap();
        }
    }
    let raw = raw(app).await;
    let whole = expected_summary(&raw, T, T + span);
    // enough of everything for the comparison to mean something
    for (figure, least) in [
        ("messages_in", 10),
        ("messages_out_agent", 5),
        ("resolved", 2),
    ] {
        assert!(
            whole[figure].as_i64().unwrap() >= least,
            "{figure}: {whole}"
        );
    }
    assert!(
        whole["first_response_seconds"]["count"].as_i64().unwrap() >= 3,
        "{whole}"
    );
    assert!(whole["agents"].as_array().unwrap().len() >= 2, "{whole}");
    for (from, to) in [
        (T, T + span),
        (T - 1, T + span + 1),
        // ragged ends, quarter hours and days inside
        (T + 3_600_000 + 123_457, T + 2 * 24 * 3_600_000 + 7_777_777),
        // inside one quarter hour, and across one quarter's end
        (T + 910_000, T + 1_790_000),
        (T + 1_700_000, T + 1_900_000),
    ] {
        let got = summary(app, from, to).await;
        assert_eq!(got, expected_summary(&raw, from, to), "[{from}, {to})");
    }

    // and the days in +08:00 add up to the whole, day by day equal to each day's own window
    let daily = app
        .get_json(&format!(
            "/api/v1/reports/daily?from={}&to={}&tz=%2B08:00",
            at(T),
            at(T + span)
        ))
        .await;
    let days = daily["days"].as_array().unwrap();
    // T is 09:00 in +08:00: the first day is cut, and a fourth day holds the last nine hours
    assert_eq!(days.len(), 4);
    let offset = 8 * 3_600_000;
    for (i, day) in days.iter().enumerate() {
        let midnight = (T + offset).div_euclid(86_400_000) * 86_400_000 - offset;
        let start = (midnight + i as i64 * 86_400_000).max(T);
        let end = (midnight + (i as i64 + 1) * 86_400_000).min(T + span);
        let expected = expected_summary(&raw, start, end);
        for field in [
            "conversations_new",
            "messages_in",
            "messages_out_agent",
            "messages_out_bot",
            "resolved",
        ] {
            assert_eq!(day[field], expected[field], "day {i}: {field}");
        }
        assert_eq!(
            day["first_response_count"],
            expected["first_response_seconds"]["count"]
        );
        assert_eq!(
            day["first_response_p50"],
            expected["first_response_seconds"]["p50"]
        );
        assert_eq!(day["resolution_p90"], expected["resolution_seconds"]["p90"]);
    }

    // Above, the conversations the times were changed in were still marked stale, so the
    // report worked their waits and resolutions out from their messages; once they are
    // stored (what the writer does between its batches) the stored rows give the same.
    let refreshed = catch_up_reports(app).await;
    let stale: i64 = sqlx::query_scalar("select count(*) from report_stale")
        .fetch_one(pool)
        .await
        .unwrap();
    assert_eq!(stale, 0, "{refreshed} refreshed");
    for (from, to) in [(T, T + span), (T + 910_000, T + 1_790_000)] {
        let got = summary(app, from, to).await;
        assert_eq!(
            got,
            expected_summary(&raw, from, to),
            "stored, [{from}, {to})"
        );
    }

    // every message is counted now: moving them in time again goes through the triggers that
    // follow a counted message's change
    let ids: Vec<i64> = sqlx::query_scalar("select id from messages")
        .fetch_all(pool)
        .await
        .unwrap();
    for id in ids {
        sqlx::query("update messages set created_at = $1 where id = $2")
            .bind(T + (rng.next(span as u64) as i64))
            .bind(id)
            .execute(pool)
            .await
            .unwrap();
    }
    let raw = self::raw(app).await;
    for (from, to) in [(T, T + span), (T + 3_600_000 + 123_457, T + 2 * 86_400_000)] {
        let got = summary(app, from, to).await;
        assert_eq!(
            got,
            expected_summary(&raw, from, to),
            "moved, [{from}, {to})"
        );
    }

    // Stored again, each conversation with its frontier; new activity now is later than
    // everything moved above, so it is folded forward from there: by the report as it reads,
    // then by the writer. Only a conversation with nothing folded yet is worked out whole.
    catch_up_reports(app).await;
    let replies = activity(app, &staff, &customers, &mut rng, 40).await;
    assert!(replies > 3);
    replies_sent(app, &mut events, "every new reply is sent").await;
    let (forward, whole): (i64, i64) = sqlx::query_as(
        r"select count(*) filter (where not whole),
                 count(*) filter (where whole and conversation_id in (select conversation_id from report_progress))
            from report_stale",
    )
    .fetch_one(pool)
    .await
    .unwrap();
    assert!(forward > 0, "conversations to fold forward");
    assert_eq!(whole, 0, "conversations worked out whole again");
    let raw = self::raw(app).await;
    let (from, to) = (T, now() * 1000 + 3_600_000);
    let expected = expected_summary(&raw, from, to);
    let got = summary(app, from, to).await;
    assert_eq!(got, expected, "folded forward as the report reads");
    catch_up_reports(app).await;
    let got = summary(app, from, to).await;
    assert_eq!(got, expected, "folded forward by the writer");
}

// ---------------------------------------------------------------------------------------------
// CSV, time zones, refusals

#[tokio::test]
async fn the_csv_is_the_json_and_a_day_is_the_time_zones_day() {
    let app = TestApp::start().await;
    let customer = openid("tz");
    app.push_text(&customer, "at five in the afternoon, UTC")
        .await;
    let c = id_of(&app.conversation_of(&customer).await);
    // 2026-11-02T17:00:00Z: still the 2nd in UTC, already the 3rd in +08:00
    retime(&app, c, T + 16 * 3_600_000, &[0], &[]).await;
    let range = format!("from={}&to={}", at(T), at(T + 2 * 86_400_000));

    let utc = app
        .get_json(&format!("/api/v1/reports/daily?{range}"))
        .await;
    let dates_with = |v: &Value| -> Vec<(String, i64)> {
        v["days"]
            .as_array()
            .unwrap()
            .iter()
            .map(|d| {
                (
                    d["date"].as_str().unwrap().to_owned(),
                    d["messages_in"].as_i64().unwrap(),
                )
            })
            .collect()
    };
    assert_eq!(
        dates_with(&utc),
        [
            ("2026-11-02".to_owned(), 1),
            ("2026-11-03".to_owned(), 0),
            // the window ends at 01:00 on the 4th
            ("2026-11-04".to_owned(), 0)
        ]
    );
    let east = app
        .get_json(&format!("/api/v1/reports/daily?{range}&tz=%2B08:00"))
        .await;
    assert_eq!(
        dates_with(&east),
        [
            ("2026-11-02".to_owned(), 0),
            ("2026-11-03".to_owned(), 1),
            ("2026-11-04".to_owned(), 0)
        ]
    );
    // a `+` left unescaped in the query arrives as a space and means the same
    let plus = app
        .get_json(&format!("/api/v1/reports/daily?{range}&tz=+08:00"))
        .await;
    assert_eq!(plus, east);

    // the CSV: a header, then the JSON's values in the JSON's order
    let resp = app
        .client
        .get(app.url(&format!("/api/v1/reports/daily?{range}&tz=%2B08:00")))
        .bearer_auth(&app.token)
        .header("Accept", "text/csv")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(resp.headers()["content-type"], "text/csv; charset=utf-8");
    let csv = resp.text().await.unwrap();
    let mut lines = csv.lines();
    let header: Vec<&str> = lines.next().unwrap().split(',').collect();
    let days = east["days"].as_array().unwrap();
    let keys: Vec<&str> = days[0]
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    let mut sorted_header = header.clone();
    sorted_header.sort_unstable();
    assert_eq!(sorted_header, keys, "one column per field");
    assert_eq!(header[0], "date");
    let rows: Vec<Vec<String>> = lines
        .map(|l| l.split(',').map(str::to_owned).collect())
        .collect();
    assert_eq!(rows.len(), days.len());
    for (row, day) in rows.iter().zip(days) {
        for (column, cell) in header.iter().zip(row) {
            let value = match &day[*column] {
                Value::Null => String::new(),
                Value::String(s) => s.clone(),
                v => v.to_string(),
            };
            assert_eq!(cell, &value, "{column}");
        }
    }
    // the header's order is the JSON's order as it is written
    let text = app
        .get(&format!("/api/v1/reports/daily?{range}"))
        .await
        .text()
        .await
        .unwrap();
    let mut positions: Vec<usize> = header
        .iter()
        .map(|c| text.find(&format!("\"{c}\"")).unwrap())
        .collect();
    let in_order = positions.clone();
    positions.sort_unstable();
    assert_eq!(positions, in_order);
}

#[tokio::test]
async fn bad_ranges_and_zones_are_refused_and_agents_may_not_read_reports() {
    let app = TestApp::start().await;
    let ok = format!("from={}&to={}", at(T), at(T + 86_400_000));
    for (query, names) in [
        (format!("to={}", at(T)), "from"),
        (format!("from={}", at(T)), "to"),
        (format!("from=yesterday&to={}", at(T)), "from"),
        (format!("from={}&to=2026-11-02", at(T)), "to"),
        (format!("from={}&to={}", at(T), at(T)), "to"),
        (format!("from={}&to={}", at(T), at(T - 1000)), "to"),
        (
            format!("from={}&to={}", at(T), at(T + 367 * 86_400_000)),
            "366",
        ),
        (format!("{ok}&tz=%2B08:10"), "tz"),
        (format!("{ok}&tz=Asia/Shanghai"), "tz"),
        (format!("{ok}&tz=%2B15:00"), "tz"),
        (format!("{ok}&channel=nope"), "channel"),
    ] {
        for path in ["summary", "daily"] {
            let resp = app.get(&format!("/api/v1/reports/{path}?{query}")).await;
            let body = assert_error(resp, StatusCode::BAD_REQUEST).await;
            let message = body["error"]["message"].as_str().unwrap();
            assert!(message.contains(names), "{query}: {message}");
        }
    }
    // 366 days is allowed
    summary(&app, T, T + 366 * 86_400_000).await;

    let (_, agent) = add_staff(&app, "ann", "Ann", Role::Agent).await;
    for path in ["summary", "daily"] {
        let resp = get_as(&app, &agent, &format!("/api/v1/reports/{path}?{ok}")).await;
        assert_error(resp, StatusCode::FORBIDDEN).await;
    }
    let browser = Browser::sign_in(&app, "ann", crate::helpers::STAFF_PASSWORD).await;
    let resp = browser.get("/reports").await;
    assert_eq!(resp.status(), StatusCode::FORBIDDEN);
    // an admin's page with a range that does not read says so, and draws nothing
    let admin = Browser::sign_in(&app, "admin", ADMIN_PASSWORD).await;
    let html = admin.page("/reports?from=2026-11-05&to=2026-11-01").await;
    assert_eq!(all(&html, "#report-error").len(), 1);
    assert!(all(&html, "figure.chart").is_empty());
    // and without a range, the last seven days
    let html = admin.page("/reports").await;
    assert_eq!(all(&html, "figure.chart").len(), 3);
    assert!(!all(&html, "#admin-nav a[href='/reports']").is_empty());
}

// ---------------------------------------------------------------------------------------------
// Transcripts

#[tokio::test]
async fn a_transcript_holds_every_message_in_order_as_json_and_as_text() {
    let (app, _fake) = start_sending(&[("KEFU_DELIVERY_BACKOFF_MS", "20")]).await;
    let app = &app;
    let (_, ann) = add_staff(app, "ann", "Ann", Role::Agent).await;
    let customer = openid("transcript");
    let mut events = app.state().live.subscribe();
    app.push_text(&customer, "<b>hello</b> & 你好").await;
    let c = id_of(&app.conversation_of(&customer).await);
    write(app, &ann, c, "text", "first line\nsecond line").await;
    write(app, &ann, c, "note", "a private note").await;
    app.push_text(&customer, "thanks").await;
    until(&mut events, "the reply is sent", move || settled(app, c, 4)).await;

    let resp = app
        .get(&format!("/api/v1/conversations/{c}/transcript"))
        .await;
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(
        resp.headers()["content-disposition"],
        format!("attachment; filename=\"conversation-{c}.json\"")
    );
    let json: Value = resp.json().await.unwrap();
    assert_eq!(id_of(&json["conversation"]), c);
    let texts: Vec<&str> = json["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["content"]["text"].as_str().unwrap())
        .collect();
    assert_eq!(
        texts,
        [
            "<b>hello</b> & 你好",
            "first line\nsecond line",
            "a private note",
            "thanks"
        ]
    );

    for request in [
        app.client
            .get(app.url(&format!("/api/v1/conversations/{c}/transcript?format=text")))
            .bearer_auth(&app.token),
        app.client
            .get(app.url(&format!("/api/v1/conversations/{c}/transcript")))
            .bearer_auth(&app.token)
            .header("Accept", "text/plain"),
    ] {
        let resp = request.send().await.unwrap();
        assert_eq!(resp.status(), StatusCode::OK);
        assert_eq!(resp.headers()["content-type"], "text/plain; charset=utf-8");
        assert_eq!(
            resp.headers()["content-disposition"],
            format!("attachment; filename=\"conversation-{c}.txt\"")
        );
        let text = resp.text().await.unwrap();
        // nothing escaped, in order, a text's second line indented under its first
        let at = |needle: &str| {
            text.find(needle)
                .unwrap_or_else(|| panic!("{needle:?} in {text}"))
        };
        assert!(at("<b>hello</b> & 你好") < at("Ann (Agent): first line\n    second line"));
        assert!(at("second line") < at("a private note"));
        assert!(at("a private note") < at("thanks"));
        assert!(!text.contains("&amp;") && !text.contains("&lt;"));
    }

    // the conversation's page links to both
    let admin = Browser::sign_in(app, "admin", ADMIN_PASSWORD).await;
    let html = admin.page(&format!("/conversations/{c}")).await;
    assert_eq!(
        crate::helpers::attr(&html, "#transcript-text", "href").unwrap(),
        format!("/api/v1/conversations/{c}/transcript?format=text")
    );
    assert!(crate::helpers::attr(&html, "#transcript-json", "href").is_some());
}

#[tokio::test]
async fn an_agent_limited_to_another_channel_gets_no_transcript() {
    let app = TestApp::start().await;
    let customer = openid("scoped");
    app.push_text(&customer, "for the default channel").await;
    let c = id_of(&app.conversation_of(&customer).await);
    let resp = app
        .post_json(
            "/api/v1/channels",
            json!({"name": "shop", "kind": "miniprogram", "appid": "wx0123456789abcdef",
                   "token": "shopToken42"}),
        )
        .await;
    let status = resp.status();
    let shop: Value = resp.json().await.unwrap();
    assert_eq!(status, StatusCode::CREATED, "{shop}");
    let (agent_id, agent) = add_staff(&app, "lim", "Lim", Role::Agent).await;
    let (_, free) = add_staff(&app, "free", "Free", Role::Agent).await;
    let admin = Browser::sign_in(&app, "admin", ADMIN_PASSWORD).await;
    let field = format!("ch_{}", shop["id"]);
    let saved = admin
        .post_form(
            &format!("/admin/channels/agents/{agent_id}"),
            &[(field.as_str(), "1")],
        )
        .await;
    assert!(saved.status().is_redirection() || saved.status().is_success());

    for format in ["json", "text"] {
        let path = format!("/api/v1/conversations/{c}/transcript?format={format}");
        assert_error(get_as(&app, &agent, &path).await, StatusCode::NOT_FOUND).await;
        assert_eq!(get_as(&app, &free, &path).await.status(), StatusCode::OK);
    }
    assert_error(
        get_as(&app, &free, "/api/v1/conversations/999999/transcript").await,
        StatusCode::NOT_FOUND,
    )
    .await;
}

// ---------------------------------------------------------------------------------------------
// The page in a real browser

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_reports_page_fits_a_phone_and_its_chart_labels_stay_readable() {
    let app = TestApp::start().await;
    for i in 0..6 {
        app.push_text(&openid(&format!("phone{i}")), "你好").await;
    }
    let browser = crate::browser::Browser::start().await;
    browser.login(&app, "admin", ADMIN_PASSWORD).await;
    let measure = "const labels = [...document.querySelectorAll('figure.chart > svg text')]
                       .map((t) => t.getBoundingClientRect().height);
                   const charts = [...document.querySelectorAll('figure.chart')]
                       .map((c) => c.getBoundingClientRect().width);
                   const rows = new Set([...document.querySelectorAll('#report-figures > div')]
                       .map((d) => Math.round(d.getBoundingClientRect().top)));
                   return { page: document.documentElement.scrollWidth,
                            view: document.documentElement.clientWidth,
                            labels: labels.length, smallest: Math.min(...labels),
                            widest: Math.max(...charts), charts: charts.length,
                            rows: rows.size };";
    for (width, height, phone) in [(390, 844, true), (1280, 900, false)] {
        browser.set_viewport(width, height, phone).await;
        browser.goto(&app, "/reports").await;
        browser.wait_for("figure.chart > svg").await;
        let m = browser.js(measure, vec![]).await;
        let n = |k: &str| m[k].as_f64().unwrap_or_default();
        assert_eq!(n("charts"), 3.0, "{m}");
        assert!(n("labels") > 10.0, "{m}");
        // nothing makes the page scroll sideways (a chart scrolls within its own box)
        assert!(n("page") <= n("view") + 1.0, "{width}px: {m}");
        // the axes' labels are drawn at least 9 px tall, even on a phone
        assert!(n("smallest") >= 9.0, "{width}px: {m}");
        if phone {
            // nine figures, two to a row
            assert!(n("rows") <= 5.0, "{m}");
        } else {
            // a chart is not stretched over a wide screen (48rem), and the figures take two rows
            assert!(n("widest") <= 769.0, "{m}");
            assert!(n("rows") <= 2.0, "{m}");
        }
    }
    browser.close().await;
}
