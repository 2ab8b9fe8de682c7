//! The workspace's server side (docs/CONTRACT.md, "Workspace"): an agent's reply taking a
//! conversation from the bot, the list's views and filters, labels, snoozing, and sign-in
//! throttling that never refuses a correct password because of another account's failures.
//!
//! Where a test shows the bot did *not* answer, it then sends a "marker" push that the bot
//! does answer and waits for that answer (a signal, not a sleep), as tests/api/automation.rs
//! does.

use std::time::Duration;

use kefu::domain::Role;
use kefu::live::Event;
use kefu::wechat::fake::{FakeConfig, FakeWechat};
use reqwest::StatusCode;
use reqwest::header::SET_COOKIE;
use serde_json::{Value, json};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use tokio::time::timeout;

use crate::helpers::{
    ADMIN_PASSWORD, APPID, STAFF_PASSWORD, TestApp, add_staff, assert_error, id_of, openid,
    texts_to,
};

const SECRET: &str = "kefu-fake-app-secret-for-tests";
const WAIT: Duration = Duration::from_secs(20);

/// A server that can send (through the fake WeChat API).
async fn start() -> (TestApp, FakeWechat) {
    let fake = FakeWechat::start(FakeConfig::new(APPID, SECRET))
        .await
        .expect("the fake WeChat API starts");
    let base = fake.base_url();
    let app = TestApp::start_with(&[
        ("KEFU_WECHAT_API_BASE", &base),
        ("KEFU_WECHAT_SECRET", SECRET),
        ("KEFU_DELIVERY_BACKOFF_MS", "20"),
    ])
    .await;
    (app, fake)
}

async fn add_rule(app: &TestApp, keyword: &str, answer: &str) {
    let rule = json!({"name": keyword, "match": "exact", "keywords": [keyword], "action": "reply",
                      "reply": {"type": "text", "content": {"text": answer}}, "priority": 10});
    let resp = app.post_json("/api/v1/rules", rule).await;
    assert_eq!(resp.status(), StatusCode::CREATED);
}

/// Waits until the fake accepted `n` texts for `openid`.
async fn wait_for_texts(fake: &FakeWechat, openid: &str, n: usize) -> Vec<String> {
    timeout(WAIT, async {
        loop {
            let sent = fake.sent().len();
            let texts = texts_to(fake, openid);
            if texts.len() >= n {
                return texts;
            }
            fake.wait_for_sent(sent + 1, WAIT).await;
        }
    })
    .await
    .unwrap_or_else(|_| panic!("fewer than {n} texts were sent to {openid}"))
}

/// The bot has handled everything pushed so far: it answers a marker pushed now.
async fn after_the_bot_caught_up(app: &TestApp, fake: &FakeWechat) {
    let marker = openid("marker");
    app.push_text(&marker, "marker").await;
    assert_eq!(wait_for_texts(fake, &marker, 1).await, ["MARKED"]);
}

/// Waits for a `ConversationChanged` event about `id`.
async fn changed(events: &mut tokio::sync::broadcast::Receiver<Event>, id: i64) {
    timeout(WAIT, async {
        loop {
            if let Ok(Event::ConversationChanged { conversation_id }) = events.recv().await
                && conversation_id == id
            {
                return;
            }
        }
    })
    .await
    .unwrap_or_else(|_| panic!("no live event about conversation {id}"));
}

fn text(t: &str) -> Value {
    json!({"type": "text", "content": {"text": t}})
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

async fn put_json(app: &TestApp, token: &str, path: &str, body: Value) -> reqwest::Response {
    app.client
        .put(app.url(path))
        .bearer_auth(token)
        .json(&body)
        .send()
        .await
        .expect("the API answers")
}

async fn get_as(app: &TestApp, token: &str, path: &str) -> Value {
    let resp = app
        .client
        .get(app.url(path))
        .bearer_auth(token)
        .send()
        .await
        .expect("the API answers");
    let status = resp.status();
    let body = resp.text().await.expect("a body");
    assert_eq!(status, StatusCode::OK, "GET {path}: {body}");
    serde_json::from_str(&body).expect("JSON")
}

/// The ids of the conversations a list answers, in its order.
fn ids(list: &Value) -> Vec<i64> {
    list["conversations"]
        .as_array()
        .expect("a list")
        .iter()
        .map(id_of)
        .collect()
}

/// The audit log's (action, target, detail) entries, newest first.
async fn audit(app: &TestApp) -> Vec<(String, Option<String>, Option<String>)> {
    kefu::store::audit::list(app.state().store.pool(), None, 1000)
        .await
        .expect("the audit log")
        .into_iter()
        .map(|e| (e.action, e.target, e.detail))
        .collect()
}

fn in_seconds(s: i64) -> String {
    (OffsetDateTime::now_utc() + time::Duration::seconds(s))
        .format(&Rfc3339)
        .expect("a time")
}

// ---------------------------------------------------------------------------------------------
// An agent's reply takes the conversation from the bot

#[tokio::test]
async fn an_agents_reply_takes_the_conversation_from_the_bot_which_then_stays_silent() {
    let (app, fake) = start().await;
    add_rule(&app, "marker", "MARKED").await;
    add_rule(&app, "hello", "bot says hi").await;
    let (agent, token) = add_staff(&app, "wendy", "Wendy", Role::Agent).await;
    let customer = openid("taken");
    app.push_text(&customer, "hello").await;
    assert_eq!(wait_for_texts(&fake, &customer, 1).await, ["bot says hi"]);
    let c = id_of(&app.conversation_of(&customer).await);

    // a note changes nothing
    let path = format!("/api/v1/conversations/{c}/messages");
    let note = json!({"type": "note", "content": {"text": "let me look"}});
    assert_eq!(
        post_as(&app, &token, &path, note).await.status(),
        StatusCode::ACCEPTED
    );
    let now = app.get_json(&format!("/api/v1/conversations/{c}")).await;
    assert_eq!(now["handler"], "bot", "a note leaves it to the bot: {now}");

    let mut events = app.state().live.subscribe();
    let resp = post_as(&app, &token, &path, text("Wendy here, how can I help?")).await;
    assert_eq!(resp.status(), StatusCode::ACCEPTED);
    changed(&mut events, c).await;
    let now = app.get_json(&format!("/api/v1/conversations/{c}")).await;
    assert_eq!(now["handler"], "human", "{now}");
    assert_eq!(
        now["assignee"]["id"], agent,
        "nobody had it: the agent's now"
    );
    let target = Some(format!("conversation {c}"));
    let log = audit(&app).await;
    assert!(log.contains(&(
        "conversation.handler".into(),
        target.clone(),
        Some("human".into())
    )));
    assert!(log.contains(&(
        "conversation.assign".into(),
        target,
        Some(format!("user {agent}"))
    )));

    // the customer writes the keyword again: only the agent answers
    app.push_text(&customer, "hello").await;
    after_the_bot_caught_up(&app, &fake).await;
    assert_eq!(
        wait_for_texts(&fake, &customer, 2).await,
        ["bot says hi", "Wendy here, how can I help?"],
        "the bot stays silent"
    );
}

#[tokio::test]
async fn a_reply_from_the_conversation_page_takes_it_too_and_keeps_an_assignee() {
    let (app, fake) = start().await;
    add_rule(&app, "marker", "MARKED").await;
    add_rule(&app, "hello", "bot says hi").await;
    let customer = openid("page");
    app.push_text(&customer, "hello").await;
    wait_for_texts(&fake, &customer, 1).await;
    let c = id_of(&app.conversation_of(&customer).await);

    // the page's reply form posts to the API with the session cookie, as a browser does
    let browser = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("a client");
    let signed_in = browser
        .post(app.url("/login"))
        .form(&[
            ("username", "admin"),
            ("password", ADMIN_PASSWORD),
            ("next", "/"),
        ])
        .send()
        .await
        .expect("the sign-in answers");
    let cookie = signed_in
        .headers()
        .get_all(SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find_map(|c| c.strip_prefix("kefu_session="))
        .map(|c| c.split(';').next().unwrap_or_default().to_owned())
        .expect("a session cookie");
    let resp = browser
        .post(app.url(&format!("/api/v1/conversations/{c}/messages")))
        .header("Cookie", format!("kefu_session={cookie}"))
        .header("Sec-Fetch-Site", "same-origin")
        .json(&text("an admin answers"))
        .send()
        .await
        .expect("the API answers");
    assert_eq!(resp.status(), StatusCode::ACCEPTED);
    let now = app.get_json(&format!("/api/v1/conversations/{c}")).await;
    assert_eq!(now["handler"], "human", "{now}");
    assert_eq!(now["assignee"]["name"], "Admin", "{now}");

    // a human's conversation keeps its assignee when someone else replies
    let (_, token) = add_staff(&app, "walt", "Walt", Role::Agent).await;
    let path = format!("/api/v1/conversations/{c}/messages");
    let resp = post_as(&app, &token, &path, text("Walt chimes in")).await;
    assert_eq!(resp.status(), StatusCode::ACCEPTED);
    let now = app.get_json(&format!("/api/v1/conversations/{c}")).await;
    assert_eq!(now["assignee"]["name"], "Admin", "{now}");

    app.push_text(&customer, "hello").await;
    after_the_bot_caught_up(&app, &fake).await;
    assert_eq!(texts_to(&fake, &customer).len(), 3, "the bot stays silent");
}

// ---------------------------------------------------------------------------------------------
// Views and filters

#[tokio::test]
async fn the_list_has_views_for_the_queue_mine_and_the_bot_and_filters_by_handler_and_contact() {
    let app = TestApp::start().await;
    let (agent, token) = add_staff(&app, "vera", "Vera", Role::Agent).await;
    let customers: Vec<String> = (0..4).map(|i| openid(&format!("view{i}"))).collect();
    for c in &customers {
        app.push_text(c, "hi").await;
    }
    let id = |i: usize| {
        let c = customers[i].clone();
        let app = &app;
        async move { id_of(&app.conversation_of(&c).await) }
    };
    let (bot, waiting, mine, wechat) = (id(0).await, id(1).await, id(2).await, id(3).await);
    let handler = |c: i64, h: &'static str| {
        let app = &app;
        async move {
            let path = format!("/api/v1/conversations/{c}/handler");
            let resp = app.post_json(&path, json!({"handler": h})).await;
            assert_eq!(resp.status(), StatusCode::OK);
        }
    };
    handler(waiting, "human").await;
    let path = format!("/api/v1/conversations/{mine}/assign");
    let resp = post_as(&app, &token, &path, json!({"assignee": agent})).await;
    assert_eq!(resp.status(), StatusCode::OK);
    // WeChat's tool takes a conversation only by a transfer rule: set it in the store
    let mut tx = app
        .state()
        .store
        .begin_write()
        .await
        .expect("a transaction");
    kefu::store::conversations::set_handler(&mut tx, wechat, kefu::domain::Handler::Wechat)
        .await
        .expect("set the handler");
    tx.commit().await.expect("commit");

    let list = |q: &'static str| {
        let (app, token) = (&app, token.clone());
        async move { ids(&get_as(app, &token, &format!("/api/v1/conversations?{q}")).await) }
    };
    assert_eq!(list("view=waiting").await, [waiting]);
    assert_eq!(list("view=mine").await, [mine]);
    assert_eq!(list("view=bot").await, [bot]);
    assert_eq!(list("view=all").await.len(), 4);
    assert_eq!(list("handler=human").await, [mine, waiting]);
    assert_eq!(list("handler=wechat").await, [wechat]);
    assert_eq!(list("handler=bot&view=bot").await, [bot]);
    assert_eq!(
        list("view=waiting&status=resolved").await,
        Vec::<i64>::new()
    );

    // a contact's conversations, every status
    let resp = app
        .post_json(
            &format!("/api/v1/conversations/{bot}/status"),
            json!({"status": "resolved"}),
        )
        .await;
    assert_eq!(resp.status(), StatusCode::OK);
    app.push_text(&customers[0], "again").await;
    let again = app.conversations_of(&customers[0]).await;
    assert_eq!(again.len(), 2);
    let q = format!("/api/v1/conversations?contact={}", customers[0]);
    let of_contact = ids(&get_as(&app, &token, &q).await);
    assert_eq!(of_contact, [id_of(&again[0]), bot], "newest first");
    let q = format!("/api/v1/conversations?contact={}&status=open", customers[0]);
    assert_eq!(ids(&get_as(&app, &token, &q).await), [id_of(&again[0])]);
    let q = "/api/v1/conversations?contact=o-nobody-at-all";
    assert!(ids(&get_as(&app, &token, q).await).is_empty());

    // every conversation carries its labels and the end of its snooze
    let one = app.get_json(&format!("/api/v1/conversations/{mine}")).await;
    assert_eq!(one["labels"], json!([]));
    assert_eq!(one["snoozed_until"], Value::Null);

    for bad in [
        "view=queue",
        "handler=robot",
        "label=no-such-label",
        "contact=",
    ] {
        let resp = app.get(&format!("/api/v1/conversations?{bad}")).await;
        let body = assert_error(resp, StatusCode::BAD_REQUEST).await;
        let message = body["error"]["message"].as_str().unwrap_or_default();
        assert!(
            message.ends_with('.') || message.ends_with('。'),
            "{bad}: one sentence, got {message:?}"
        );
    }
}

/// The new filters read an index: the plans of the list's statements, as the store runs them.
#[tokio::test]
async fn the_new_filters_are_index_backed() {
    let app = TestApp::start().await;
    let plans = kefu::store::conversations::list_plans(&app.state().store)
        .await
        .expect("the plans");
    assert_eq!(plans.len(), 6);
    for (filter, plan) in plans {
        let index = match filter {
            "view=waiting" => "USING INDEX conversations_waiting",
            "view=mine" => "USING INDEX conversations_by_assignee",
            "view=bot" | "handler" => "USING INDEX conversations_by_handler",
            "label" => "USING COVERING INDEX conversation_labels_by_label",
            "contact" => "USING INDEX conversations_by_contact",
            other => panic!("a filter the test does not know: {other}"),
        };
        assert!(plan.contains(index), "{filter} reads {index}: {plan}");
        assert!(!plan.contains("SCAN"), "{filter} scans a table: {plan}");
    }
}

// ---------------------------------------------------------------------------------------------
// Labels

#[tokio::test]
async fn admins_define_labels_and_anyone_puts_them_on_conversations() {
    let app = TestApp::start().await;
    let (_, agent) = add_staff(&app, "lena", "Lena", Role::Agent).await;

    let resp = app
        .post_json(
            "/api/v1/labels",
            json!({"name": "  VIP ", "color": "#FF8800"}),
        )
        .await;
    assert_eq!(resp.status(), StatusCode::CREATED);
    let vip: Value = resp.json().await.expect("JSON");
    assert_eq!(vip["name"], "VIP");
    assert_eq!(vip["color"], "#ff8800");
    let resp = app
        .post_json(
            "/api/v1/labels",
            json!({"name": "退款", "color": "#1e90ff"}),
        )
        .await;
    assert_eq!(resp.status(), StatusCode::CREATED);
    let refund: Value = resp.json().await.expect("JSON");

    // refusals
    let dup = app
        .post_json("/api/v1/labels", json!({"name": "vip", "color": "#000000"}))
        .await;
    assert_error(dup, StatusCode::CONFLICT).await;
    for body in [
        json!({"name": "   ", "color": "#000000"}),
        json!({"name": "x".repeat(41), "color": "#000000"}),
        json!({"name": "ok", "color": "red"}),
        json!({"name": "ok", "color": "#12345g"}),
        json!({"name": "ok", "color": "#000000", "extra": 1}),
        json!({"name": 7, "color": "#000000"}),
    ] {
        let resp = app.post_json("/api/v1/labels", body.clone()).await;
        assert_error(resp, StatusCode::BAD_REQUEST).await;
    }
    let by_agent = post_as(
        &app,
        &agent,
        "/api/v1/labels",
        json!({"name": "mine", "color": "#000000"}),
    )
    .await;
    assert_error(by_agent, StatusCode::FORBIDDEN).await;

    let all = get_as(&app, &agent, "/api/v1/labels").await;
    assert_eq!(
        all,
        json!({"labels": [
            {"id": vip["id"], "name": "VIP", "color": "#ff8800"},
            {"id": refund["id"], "name": "退款", "color": "#1e90ff"},
        ]})
    );

    // an agent labels a conversation: names in any case, repeats collapse
    let customer = openid("labels");
    app.push_text(&customer, "hi").await;
    let other = openid("unlabelled");
    app.push_text(&other, "hi").await;
    let c = id_of(&app.conversation_of(&customer).await);
    let path = format!("/api/v1/conversations/{c}/labels");
    let resp = put_json(
        &app,
        &agent,
        &path,
        json!({"labels": ["退款", "vip", "VIP"]}),
    )
    .await;
    assert_eq!(resp.status(), StatusCode::OK);
    let now: Value = resp.json().await.expect("JSON");
    assert_eq!(now["labels"], json!(["VIP", "退款"]));
    let listed = app.conversation_of(&customer).await;
    assert_eq!(listed["labels"], json!(["VIP", "退款"]));
    let q = "/api/v1/conversations?label=vip";
    assert_eq!(ids(&get_as(&app, &agent, q).await), [c]);

    for (body, says) in [
        (json!({"labels": ["VIP", "nope"]}), Some("nope")),
        (
            json!({"labels": (0..21).map(|i| format!("l{i}")).collect::<Vec<_>>()}),
            None,
        ),
        (json!({"labels": "VIP"}), None),
        (json!({}), None),
    ] {
        let resp = put_json(&app, &agent, &path, body.clone()).await;
        let err = assert_error(resp, StatusCode::BAD_REQUEST).await;
        if let Some(name) = says {
            let message = err["error"]["message"].as_str().unwrap_or_default();
            assert!(message.contains(name), "{body}: {message}");
        }
    }
    let missing = put_json(
        &app,
        &agent,
        "/api/v1/conversations/999999/labels",
        json!({"labels": []}),
    )
    .await;
    assert_error(missing, StatusCode::NOT_FOUND).await;
    let still = app.get_json(&format!("/api/v1/conversations/{c}")).await;
    assert_eq!(
        still["labels"],
        json!(["VIP", "退款"]),
        "a refusal changes nothing"
    );

    // deleting a label takes it off every conversation
    let del = |token: String, id: Value| {
        let app = &app;
        async move {
            app.client
                .delete(app.url(&format!("/api/v1/labels/{id}")))
                .bearer_auth(token)
                .send()
                .await
                .expect("the API answers")
        }
    };
    assert_error(
        del(agent.clone(), vip["id"].clone()).await,
        StatusCode::FORBIDDEN,
    )
    .await;
    assert_eq!(
        del(app.token.clone(), vip["id"].clone()).await.status(),
        StatusCode::NO_CONTENT
    );
    assert_error(
        del(app.token.clone(), vip["id"].clone()).await,
        StatusCode::NOT_FOUND,
    )
    .await;
    assert_error(
        del(app.token.clone(), json!("x")).await,
        StatusCode::NOT_FOUND,
    )
    .await;
    let now = app.get_json(&format!("/api/v1/conversations/{c}")).await;
    assert_eq!(now["labels"], json!(["退款"]));
    let gone = app.get("/api/v1/conversations?label=VIP").await;
    assert_error(gone, StatusCode::BAD_REQUEST).await;

    let log = audit(&app).await;
    let actions: Vec<&str> = log.iter().map(|(a, _, _)| a.as_str()).collect();
    assert!(actions.contains(&"label.create"), "{actions:?}");
    assert!(actions.contains(&"label.delete"), "{actions:?}");
    assert!(actions.contains(&"conversation.labels"), "{actions:?}");
}

// ---------------------------------------------------------------------------------------------
// Snooze

#[tokio::test]
async fn a_snoozed_conversation_leaves_the_queue_and_mine_until_the_customer_writes() {
    let app = TestApp::start().await;
    let (agent, token) = add_staff(&app, "sam", "Sam", Role::Agent).await;
    let customer = openid("snooze");
    app.push_text(&customer, "hi").await;
    let c = id_of(&app.conversation_of(&customer).await);
    let waiting = openid("snooze-waiting");
    app.push_text(&waiting, "hi").await;
    let w = id_of(&app.conversation_of(&waiting).await);
    for id in [c, w] {
        let resp = app
            .post_json(
                &format!("/api/v1/conversations/{id}/handler"),
                json!({"handler": "human"}),
            )
            .await;
        assert_eq!(resp.status(), StatusCode::OK);
    }
    let resp = post_as(
        &app,
        &token,
        &format!("/api/v1/conversations/{c}/assign"),
        json!({"assignee": agent}),
    )
    .await;
    assert_eq!(resp.status(), StatusCode::OK);

    let path = format!("/api/v1/conversations/{w}/snooze");
    let until = in_seconds(3600);
    let resp = post_as(&app, &token, &path, json!({"until": until})).await;
    assert_eq!(resp.status(), StatusCode::OK);
    let snoozed: Value = resp.json().await.expect("JSON");
    assert_eq!(snoozed["status"], "pending");
    let at = |v: &Value| OffsetDateTime::parse(v.as_str().unwrap_or_default(), &Rfc3339).ok();
    assert_eq!(
        at(&snoozed["snoozed_until"]).map(|t| t.unix_timestamp()),
        at(&json!(until)).map(|t| t.unix_timestamp())
    );
    let path = format!("/api/v1/conversations/{c}/snooze");
    let resp = post_as(&app, &token, &path, json!({"until": in_seconds(3600)})).await;
    assert_eq!(resp.status(), StatusCode::OK);
    let q = "/api/v1/conversations?view=waiting";
    assert!(ids(&get_as(&app, &token, q).await).is_empty());
    let q = "/api/v1/conversations?view=mine";
    assert!(ids(&get_as(&app, &token, q).await).is_empty());

    // the customer writes: the snooze ends, the conversation is open and in view again
    let mut events = app.state().live.subscribe();
    app.push_text(&waiting, "are you there?").await;
    let back = app.get_json(&format!("/api/v1/conversations/{w}")).await;
    assert_eq!(back["status"], "open", "{back}");
    assert_eq!(back["snoozed_until"], Value::Null, "{back}");
    let q = "/api/v1/conversations?view=waiting";
    assert_eq!(ids(&get_as(&app, &token, q).await), [w]);
    timeout(WAIT, async {
        loop {
            if let Ok(Event::MessageAdded {
                conversation_id, ..
            }) = events.recv().await
                && conversation_id == w
            {
                return;
            }
        }
    })
    .await
    .expect("the dashboards are told");

    // a status change ends it too
    let resp = app
        .post_json(
            &format!("/api/v1/conversations/{c}/status"),
            json!({"status": "open"}),
        )
        .await;
    let now: Value = resp.json().await.expect("JSON");
    assert_eq!(now["snoozed_until"], Value::Null, "{now}");
    let q = "/api/v1/conversations?view=mine";
    assert_eq!(ids(&get_as(&app, &token, q).await), [c]);
}

#[tokio::test]
async fn a_snooze_ends_by_itself_when_its_time_comes() {
    let app = TestApp::start().await;
    let customer = openid("wake");
    app.push_text(&customer, "hi").await;
    let c = id_of(&app.conversation_of(&customer).await);
    let resp = app
        .post_json(
            &format!("/api/v1/conversations/{c}/handler"),
            json!({"handler": "human"}),
        )
        .await;
    assert_eq!(resp.status(), StatusCode::OK);
    let mut events = app.state().live.subscribe();
    let resp = app
        .post_json(
            &format!("/api/v1/conversations/{c}/snooze"),
            json!({"until": in_seconds(1)}),
        )
        .await;
    assert_eq!(resp.status(), StatusCode::OK);
    changed(&mut events, c).await; // the snooze itself
    changed(&mut events, c).await; // its end
    let now = app.get_json(&format!("/api/v1/conversations/{c}")).await;
    assert_eq!(now["status"], "open", "{now}");
    assert_eq!(now["snoozed_until"], Value::Null, "{now}");
    let q = "/api/v1/conversations?view=waiting";
    assert_eq!(ids(&app.get_json(q).await), [c]);
}

#[tokio::test]
async fn a_snooze_needs_a_time_in_the_next_ninety_days() {
    let app = TestApp::start().await;
    let customer = openid("snooze-bad");
    app.push_text(&customer, "hi").await;
    let c = id_of(&app.conversation_of(&customer).await);
    let path = format!("/api/v1/conversations/{c}/snooze");
    for body in [
        json!({"until": in_seconds(-60)}),
        json!({"until": in_seconds(91 * 24 * 3600)}),
        json!({"until": "tomorrow"}),
        json!({"until": "2026-12-08 09:00"}),
        json!({"until": 1_900_000_000}),
        json!({}),
        json!({"until": in_seconds(60), "why": "lunch"}),
    ] {
        let resp = app.post_json(&path, body.clone()).await;
        assert_error(resp, StatusCode::BAD_REQUEST).await;
    }
    let still = app.get_json(&format!("/api/v1/conversations/{c}")).await;
    assert_eq!(still["status"], "open");
    let missing = app
        .post_json(
            "/api/v1/conversations/999999/snooze",
            json!({"until": in_seconds(60)}),
        )
        .await;
    assert_error(missing, StatusCode::NOT_FOUND).await;
    let resp = app
        .post_json(
            &format!("/api/v1/conversations/{c}/status"),
            json!({"status": "resolved"}),
        )
        .await;
    assert_eq!(resp.status(), StatusCode::OK);
    let resolved = app.post_json(&path, json!({"until": in_seconds(60)})).await;
    assert_error(resolved, StatusCode::CONFLICT).await;
}

// ---------------------------------------------------------------------------------------------
// Sign-in throttling

async fn sign_in(app: &TestApp, user: &str, password: &str, forwarded: Option<&str>) -> StatusCode {
    let mut req = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("a client")
        .post(app.url("/login"))
        .form(&[("username", user), ("password", password), ("next", "/")]);
    if let Some(f) = forwarded {
        req = req.header("X-Forwarded-For", f);
    }
    req.send().await.expect("the sign-in answers").status()
}

#[tokio::test]
async fn one_accounts_failures_never_refuse_anothers_correct_password_from_the_same_address() {
    let app = TestApp::start().await;
    add_staff(&app, "alice", "Alice", Role::Agent).await;
    for _ in 0..6 {
        let status = sign_in(&app, "alice", "wrong-password", None).await;
        assert!(
            status == StatusCode::UNAUTHORIZED || status == StatusCode::TOO_MANY_REQUESTS,
            "{status}"
        );
    }
    assert_eq!(
        sign_in(&app, "admin", ADMIN_PASSWORD, None).await,
        StatusCode::SEE_OTHER,
        "admin signs in from the same address"
    );
    assert_eq!(
        sign_in(&app, "alice", STAFF_PASSWORD, None).await,
        StatusCode::TOO_MANY_REQUESTS,
        "alice herself is still held off"
    );
}

#[tokio::test]
async fn an_address_guessing_names_is_held_off_but_a_correct_password_still_signs_in() {
    let app = TestApp::start_with(&[("KEFU_TRUSTED_PROXIES", "127.0.0.1, ::1")]).await;
    add_staff(&app, "bob", "Bob", Role::Agent).await;
    let guesser = Some("203.0.113.9");
    for i in 0..5 {
        let status = sign_in(&app, &format!("ghost-{i}"), "wrong", guesser).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
    }
    // from that address: a wrong password, for a name that exists or not, is "too many" …
    for user in ["ghost-new", "bob"] {
        let status = sign_in(&app, user, "wrong", guesser).await;
        assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "{user}");
    }
    // … a correct one signs in; another client through the same proxy is not held off
    assert_eq!(
        sign_in(&app, "admin", ADMIN_PASSWORD, guesser).await,
        StatusCode::SEE_OTHER
    );
    assert_eq!(
        sign_in(&app, "ghost-other", "wrong", Some("198.51.100.7")).await,
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test]
async fn one_password_sprayed_over_many_accounts_is_held_off_too() {
    let app = TestApp::start_with(&[("KEFU_TRUSTED_PROXIES", "127.0.0.1, ::1")]).await;
    for name in ["a1", "a2", "a3", "a4", "a5", "a6"] {
        add_staff(&app, name, name, Role::Agent).await;
    }
    let sprayer = Some("203.0.113.10");
    // one try at each real account: no account reaches its own limit
    for name in ["a1", "a2", "a3", "a4", "a5"] {
        assert_eq!(
            sign_in(&app, name, "123456", sprayer).await,
            StatusCode::UNAUTHORIZED,
            "{name}"
        );
    }
    // the address has: a wrong password for the next account is "too many" …
    assert_eq!(
        sign_in(&app, "a6", "123456", sprayer).await,
        StatusCode::TOO_MANY_REQUESTS
    );
    // … a correct one still signs in, and elsewhere a6 is not held back
    assert_eq!(
        sign_in(&app, "a6", STAFF_PASSWORD, sprayer).await,
        StatusCode::SEE_OTHER
    );
    assert_eq!(
        sign_in(&app, "a6", "wrong", Some("198.51.100.8")).await,
        StatusCode::UNAUTHORIZED
    );
}
