//! The bot end to end: rules over the JSON API, auto-replies reaching the fake WeChat API
//! exactly once, handoff, transfer to WeChat's tool as an encrypted passive reply, welcome,
//! fallback and away messages, and auto-assignment across online agents.
//!
//! The bot acts on its own task after the webhook answers, one job at a time in arrival
//! order. Where a test must show the bot did *not* answer, it then sends a "marker" push to
//! another customer that the bot does answer, waits for that answer, and checks nothing went
//! to the first customer meanwhile: a signal, not a sleep.

use std::time::Duration;

use kefu::domain::Role;
use kefu::live::Event;
use kefu::wechat::fake::{FakeConfig, FakeWechat};
use kefu::wechat::push::Format;
use kefu::wechat::simulate::{self, SimulatedKind};
use reqwest::StatusCode;
use serde_json::{Value, json};
use tokio::time::timeout;

use crate::helpers::{
    APPID, Mode, TOKEN, TestApp, add_staff, assert_error, assert_success, id_of, now, openid,
    texts_to,
};
use crate::live::Client;

const SECRET: &str = "kefu-fake-app-secret-for-tests";
const WAIT: Duration = Duration::from_secs(20);

async fn start(extra: &[(&str, &str)]) -> (TestApp, FakeWechat) {
    let fake = FakeWechat::start(FakeConfig::new(APPID, SECRET))
        .await
        .expect("the fake WeChat API starts");
    let base = fake.base_url();
    let mut vars: Vec<(&str, &str)> = vec![
        ("KEFU_WECHAT_API_BASE", &base),
        ("KEFU_WECHAT_SECRET", SECRET),
        ("KEFU_DELIVERY_BACKOFF_MS", "20"),
    ];
    vars.extend_from_slice(extra);
    (TestApp::start_with(&vars).await, fake)
}

async fn add_rule(app: &TestApp, rule: Value) -> Value {
    let resp = app.post_json("/api/v1/rules", rule).await;
    let status = resp.status();
    let body: Value = resp.json().await.expect("json");
    assert_eq!(status, StatusCode::CREATED, "{body}");
    body
}

fn text_reply(text: &str) -> Value {
    json!({ "type": "text", "content": { "text": text } })
}

async fn put_settings(app: &TestApp, settings: Value) {
    let resp = app
        .client
        .put(app.url("/api/v1/settings/automation"))
        .bearer_auth(&app.token)
        .json(&settings)
        .send()
        .await
        .unwrap();
    let status = resp.status();
    let body = resp.text().await.unwrap();
    assert_eq!(status, StatusCode::OK, "{body}");
}

/// Waits until the fake accepted a text for `openid` (there may be others before it).
async fn wait_for_text_to(fake: &FakeWechat, openid: &str) -> Vec<String> {
    timeout(WAIT, async {
        loop {
            let n = fake.sent().len();
            if !texts_to(fake, openid).is_empty() {
                return texts_to(fake, openid);
            }
            fake.wait_for_sent(n + 1, WAIT).await;
        }
    })
    .await
    .unwrap_or_else(|_| panic!("nothing was sent to {openid}"))
}

async fn push_enter(app: &TestApp, customer: &str, session_from: &str) {
    let body = simulate::push_body(
        &SimulatedKind::Enter {
            session_from: session_from.into(),
        },
        customer,
        simulate::random_msg_id(),
        now(),
        Format::Json,
    );
    assert_success(app.push_plaintext(&body, Mode::Plain, Format::Json).await).await;
}

/// A marker rule: the bot answers `marker` with `MARKED`, after everything pushed before it.
async fn add_marker(app: &TestApp) {
    add_rule(
        app,
        json!({"name": "marker", "match": "exact", "keywords": ["marker"], "action": "reply",
               "reply": text_reply("MARKED"), "priority": 1000}),
    )
    .await;
}

async fn after_the_bot_caught_up(app: &TestApp, fake: &FakeWechat) {
    let marker = openid("marker");
    app.push_text(&marker, "marker").await;
    assert_eq!(wait_for_text_to(fake, &marker).await, ["MARKED"]);
}

// ---------------------------------------------------------------------------------------------
// The rules API

#[tokio::test]
async fn admins_keep_rules_over_the_api_as_the_contract_shapes_them() {
    let app = TestApp::start().await;
    let rule = add_rule(
        &app,
        json!({"name": "价格", "priority": 5, "match": "contains", "keywords": ["价格", "多少钱"],
               "action": "reply", "reply": text_reply("请看价格表")}),
    )
    .await;
    let id = id_of(&rule);
    assert_eq!(rule["enabled"], true);
    assert_eq!(rule["priority"], 5);
    assert_eq!(rule["match"], "contains");
    assert_eq!(rule["keywords"], json!(["价格", "多少钱"]));
    assert_eq!(rule["action"], "reply");
    assert_eq!(rule["reply"], text_reply("请看价格表"));
    assert_eq!(rule["hits"], 0);

    let listed = app.get_json("/api/v1/rules").await;
    assert_eq!(listed["rules"].as_array().unwrap().len(), 1);
    assert_eq!(app.get_json(&format!("/api/v1/rules/{id}")).await, rule);

    // PUT replaces it whole
    let resp = app
        .client
        .put(app.url(&format!("/api/v1/rules/{id}")))
        .bearer_auth(&app.token)
        .json(&json!({"name": "转人工", "match": "exact", "keywords": ["转人工"], "action": "handoff", "enabled": false}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let replaced: Value = resp.json().await.unwrap();
    assert_eq!(replaced["action"], "handoff");
    assert_eq!(replaced["reply"], Value::Null);
    assert_eq!(replaced["priority"], 0);
    assert_eq!(replaced["enabled"], false);

    let resp = app
        .client
        .delete(app.url(&format!("/api/v1/rules/{id}")))
        .bearer_auth(&app.token)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::NO_CONTENT);
    assert_error(
        app.get(&format!("/api/v1/rules/{id}")).await,
        StatusCode::NOT_FOUND,
    )
    .await;
}

#[tokio::test]
async fn bad_rules_are_refused_with_the_reason_and_nothing_is_saved() {
    let app = TestApp::start().await;
    let good = json!({"name": "n", "match": "exact", "keywords": ["k"], "action": "reply", "reply": text_reply("r")});
    let with = |field: &str, value: Value| {
        let mut r = good.clone();
        r[field] = value;
        r
    };
    for bad in [
        with("name", json!("")),
        with("match", json!("fuzzy")),
        with("keywords", json!([])),
        with("keywords", json!("not a list")),
        with("match", json!("regex"))
            .as_object()
            .map(|_| {
                let mut r = with("match", json!("regex"));
                r["keywords"] = json!(["(unclosed"]);
                r
            })
            .unwrap(),
        with("action", json!("explode")),
        with("reply", Value::Null),
        with("reply", json!({"type": "note", "content": {"text": "x"}})),
        with("priority", json!(1.5)),
        {
            let mut r = with("action", json!("transfer_wechat"));
            r["reply"] = text_reply("x");
            r
        },
    ] {
        let resp = app.post_json("/api/v1/rules", bad.clone()).await;
        let error = assert_error(resp, StatusCode::BAD_REQUEST).await;
        assert!(
            !error["error"]["message"].as_str().unwrap().is_empty(),
            "{bad}"
        );
    }
    let resp = app
        .post_json(
            "/api/v1/rules",
            json!({"name": "n", "match": "regex", "keywords": ["(unclosed"], "action": "handoff"}),
        )
        .await;
    let error = assert_error(resp, StatusCode::BAD_REQUEST).await;
    assert!(
        error["error"]["message"]
            .as_str()
            .unwrap()
            .contains("regex"),
        "{error}"
    );
    assert_eq!(app.get_json("/api/v1/rules").await["rules"], json!([]));
}

#[tokio::test]
async fn agents_read_rules_but_only_admins_change_them() {
    let app = TestApp::start().await;
    let (_, token) = add_staff(&app, "agent", "Agent", Role::Agent).await;
    let rule = add_rule(
        &app,
        json!({"name": "n", "match": "exact", "keywords": ["k"], "action": "handoff"}),
    )
    .await;
    let as_agent = |req: reqwest::RequestBuilder| req.bearer_auth(&token).send();
    let resp = as_agent(app.client.get(app.url("/api/v1/rules")))
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let resp = as_agent(app.client.post(app.url("/api/v1/rules")).json(&rule))
        .await
        .unwrap();
    assert_error(resp, StatusCode::FORBIDDEN).await;
    let url = app.url(&format!("/api/v1/rules/{}", id_of(&rule)));
    let resp = as_agent(app.client.put(&url).json(&rule)).await.unwrap();
    assert_error(resp, StatusCode::FORBIDDEN).await;
    let resp = as_agent(app.client.delete(&url)).await.unwrap();
    assert_error(resp, StatusCode::FORBIDDEN).await;
    let resp = as_agent(
        app.client
            .put(app.url("/api/v1/settings/automation"))
            .json(&json!({})),
    )
    .await
    .unwrap();
    assert_error(resp, StatusCode::FORBIDDEN).await;
    assert_eq!(
        app.get_json("/api/v1/rules").await["rules"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
}

#[tokio::test]
async fn the_tester_says_which_rule_fires_after_normalising_the_text() {
    let app = TestApp::start().await;
    let low = add_rule(&app, json!({"name": "any help", "priority": 1, "match": "contains", "keywords": ["help"], "action": "reply", "reply": text_reply("low")})).await;
    let high = add_rule(&app, json!({"name": "human", "priority": 9, "match": "exact", "keywords": ["转人工", "help"], "action": "handoff"})).await;
    let test = |text: &'static str| app.post_json("/api/v1/rules/test", json!({ "text": text }));
    for (text, rule) in [
        ("转 人工！", &high),
        ("ＨＥＬＰ", &high),
        ("  Help!! ", &high),
        ("I need help please", &low),
    ] {
        let got: Value = test(text).await.json().await.unwrap();
        assert_eq!(got["rule"]["id"], rule["id"], "{text}: {got}");
    }
    let got: Value = test("hello").await.json().await.unwrap();
    assert_eq!(got["outcome"], "nothing");
    put_settings(&app, json!({"fallback": "稍后回复您"})).await;
    let got: Value = test("hello").await.json().await.unwrap();
    assert_eq!(got["outcome"], "fallback");
    assert_eq!(got["reply"], text_reply("稍后回复您"));
}

// ---------------------------------------------------------------------------------------------
// The bot at work

#[tokio::test]
async fn a_matching_push_gets_its_auto_reply_exactly_once() {
    let (app, fake) = start(&[]).await;
    add_marker(&app).await;
    add_rule(&app, json!({"name": "price", "match": "contains", "keywords": ["价格"], "action": "reply", "reply": text_reply("价格表：https://example.com/p")})).await;
    let customer = openid("price");
    let body = simulate::push_body(
        &SimulatedKind::Text("请问价格？".into()),
        &customer,
        4242,
        now(),
        Format::Json,
    );
    assert_success(app.push_plaintext(&body, Mode::Plain, Format::Json).await).await;
    assert_eq!(
        wait_for_text_to(&fake, &customer).await,
        ["价格表：https://example.com/p"]
    );
    // WeChat retries the same push: stored once, answered once
    assert_success(app.push_plaintext(&body, Mode::Plain, Format::Json).await).await;
    after_the_bot_caught_up(&app, &fake).await;
    assert_eq!(texts_to(&fake, &customer).len(), 1);
    let messages = app.messages_of(&customer).await;
    let bot: Vec<&Value> = messages
        .iter()
        .filter(|m| m["sender"]["kind"] == "bot")
        .collect();
    assert_eq!(bot.len(), 1);
    let rules = app.get_json("/api/v1/rules").await;
    let price = rules["rules"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["name"] == "price")
        .unwrap();
    assert_eq!(price["hits"], 1);
    assert!(price["last_hit_at"].is_string());
}

#[tokio::test]
async fn handoff_gives_the_conversation_to_a_human_and_silences_the_bot() {
    let (app, fake) = start(&[]).await;
    add_marker(&app).await;
    add_rule(&app, json!({"name": "human", "match": "exact", "keywords": ["转人工"], "action": "handoff", "reply": text_reply("正在为您转接人工客服")})).await;
    add_rule(&app, json!({"name": "hi", "match": "contains", "keywords": ["hello"], "action": "reply", "reply": text_reply("bot says hi")})).await;
    let customer = openid("handoff");
    let mut events = app.state().live.subscribe();
    app.push_text(&customer, "转 人工！").await;
    assert_eq!(
        wait_for_text_to(&fake, &customer).await,
        ["正在为您转接人工客服"]
    );
    let c = id_of(&app.conversation_of(&customer).await);
    timeout(WAIT, async {
        loop {
            if let Ok(Event::ConversationChanged { conversation_id }) = events.recv().await
                && conversation_id == c
            {
                break;
            }
        }
    })
    .await
    .expect("the handoff is announced");
    let conversation = app.conversation_of(&customer).await;
    assert_eq!(conversation["handler"], "human");
    assert_eq!(conversation["assignee"], Value::Null, "waits in the queue");

    app.push_text(&customer, "hello?").await;
    after_the_bot_caught_up(&app, &fake).await;
    assert_eq!(texts_to(&fake, &customer).len(), 1, "the bot stays quiet");
}

#[tokio::test]
async fn transfer_answers_with_an_encrypted_passive_reply_and_wechat_owns_the_conversation() {
    let (app, fake) = start(&[]).await;
    add_marker(&app).await;
    add_rule(&app, json!({"name": "tool", "match": "contains", "keywords": ["人工客服"], "action": "transfer_wechat"})).await;
    for format in [Format::Json, Format::Xml] {
        let customer = openid("transfer");
        let body = simulate::push_body(
            &SimulatedKind::Text("我要人工客服".into()),
            &customer,
            simulate::random_msg_id(),
            now(),
            format,
        );
        let signed = app.sign(&body, Mode::Safe, format);
        let resp = app.send(&signed).await;
        assert_eq!(resp.status(), StatusCode::OK);
        let answer = resp.text().await.unwrap();
        assert_ne!(answer, "success");
        let plain = crate::helpers::open_passive(&answer, &signed, TOKEN, &app.cipher(), format);
        assert!(plain.contains("transfer_customer_service"), "{plain}");
        assert!(
            plain.contains(&customer),
            "addressed to the customer: {plain}"
        );
        let conversation = app.conversation_of(&customer).await;
        assert_eq!(conversation["handler"], "wechat");

        // WeChat routes the customer back: their next message reaches kefu, the bot owns it again
        app.push_text(&customer, "谢谢").await;
        after_the_bot_caught_up(&app, &fake).await;
        assert_eq!(app.conversation_of(&customer).await["handler"], "bot");
        assert!(
            texts_to(&fake, &customer).is_empty(),
            "WeChat's tool answered, not kefu"
        );
    }
}

#[tokio::test]
async fn customers_are_welcomed_on_entering_once_per_period_by_where_they_came_from() {
    let (app, fake) = start(&[]).await;
    put_settings(
        &app,
        json!({"welcome": "欢迎光临", "welcome_by_source": [{"session_from": "order", "text": "关于订单？"}]}),
    )
    .await;
    let plain = openid("welcome");
    push_enter(&app, &plain, "").await;
    assert_eq!(wait_for_text_to(&fake, &plain).await, ["欢迎光临"]);
    let from_order = openid("welcome-order");
    push_enter(&app, &from_order, "order").await;
    assert_eq!(wait_for_text_to(&fake, &from_order).await, ["关于订单？"]);
    // entering again within the hour: no second welcome
    add_marker(&app).await;
    push_enter(&app, &plain, "").await;
    after_the_bot_caught_up(&app, &fake).await;
    assert_eq!(texts_to(&fake, &plain).len(), 1);
}

#[tokio::test]
async fn the_fallback_goes_once_per_period_and_the_away_message_outside_hours() {
    let (app, fake) = start(&[]).await;
    add_marker(&app).await;
    put_settings(
        &app,
        json!({"fallback": "稍后回复您", "fallback_every_minutes": 60}),
    )
    .await;
    let customer = openid("fallback");
    app.push_text(&customer, "随便问问").await;
    assert_eq!(wait_for_text_to(&fake, &customer).await, ["稍后回复您"]);
    app.push_text(&customer, "还在吗").await;
    after_the_bot_caught_up(&app, &fake).await;
    assert_eq!(
        texts_to(&fake, &customer).len(),
        1,
        "at most once per period"
    );

    // business hours with no working day: always away
    put_settings(
        &app,
        json!({"fallback": "稍后回复您", "away": "现在是休息时间",
               "hours": {"enabled": true, "days": [], "start": "09:00", "end": "18:00", "utc_offset": "+08:00"}}),
    )
    .await;
    let night = openid("night");
    app.push_text(&night, "有人吗").await;
    assert_eq!(wait_for_text_to(&fake, &night).await, ["现在是休息时间"]);
}

#[tokio::test]
async fn the_bot_never_spends_the_last_reply_wechat_allows() {
    // one reply per customer message: the bot must leave it for a human
    let (app, fake) = start(&[("KEFU_REPLY_QUOTA", "1")]).await;
    add_rule(&app, json!({"name": "price", "match": "contains", "keywords": ["价格"], "action": "reply", "reply": text_reply("价格表")})).await;
    put_settings(&app, json!({"welcome": "欢迎"})).await;
    let customer = openid("last-reply");
    app.push_text(&customer, "价格").await;
    // the marker: a welcome (the entry's own quota is 2, so the bot may use one)
    let marker = openid("marker-welcome");
    push_enter(&app, &marker, "").await;
    assert_eq!(wait_for_text_to(&fake, &marker).await, ["欢迎"]);
    assert!(texts_to(&fake, &customer).is_empty());
    // the agent can still answer
    let c = id_of(&app.conversation_of(&customer).await);
    let resp = app
        .post_json(
            &format!("/api/v1/conversations/{c}/messages"),
            json!({"type": "text", "content": {"text": "human answer"}}),
        )
        .await;
    assert_eq!(resp.status(), StatusCode::ACCEPTED);
    assert_eq!(wait_for_text_to(&fake, &customer).await, ["human answer"]);
}

#[tokio::test]
async fn handed_off_conversations_go_round_robin_to_online_agents_within_their_cap() {
    let (app, _fake) = start(&[]).await;
    let mut agents = Vec::new();
    for name in ["agent_a", "agent_b"] {
        agents.push(add_staff(&app, name, name, Role::Agent).await);
    }
    put_settings(&app, json!({"assignment": {"mode": "auto", "cap": 1}})).await;
    add_rule(
        &app,
        json!({"name": "human", "match": "exact", "keywords": ["转人工"], "action": "handoff"}),
    )
    .await;

    // only agent A is online
    let mut a = Client::connect_as(&app, "", &agents[0].1).await;
    a.greeting().await;
    let customers: Vec<String> = (0..3).map(|n| openid(&format!("rr{n}"))).collect();
    let mut events = app.state().live.subscribe();
    let (a_id, b_id) = (agents[0].0, agents[1].0);
    // waits, event by event, until the assignees are as `want` says (in any order)
    let mut until = async |want: &[Option<i64>]| {
        let mut want = want.to_vec();
        want.sort();
        timeout(WAIT, async {
            loop {
                let mut got = Vec::new();
                for c in &customers {
                    let list = app.conversations_of(c).await;
                    got.push(list.first().and_then(|c| c["assignee"]["id"].as_i64()));
                }
                got.sort();
                if got == want {
                    return;
                }
                let _ = events.recv().await;
            }
        })
        .await
        .unwrap_or_else(|_| panic!("the assignees never became {want:?}"));
    };
    for c in &customers {
        app.push_text(c, "转人工").await;
    }
    // A takes one (cap 1); the others wait in the queue
    until(&[None, None, Some(a_id)]).await;
    // B comes online and takes the next one
    let mut b = Client::connect_as(&app, "", &agents[1].1).await;
    b.greeting().await;
    until(&[None, Some(a_id), Some(b_id)]).await;
    // A resolves theirs: the last waiting conversation goes to A at once
    let mut a_conversation = None;
    for c in &customers {
        let conv = app.conversation_of(c).await;
        if conv["assignee"]["id"].as_i64() == Some(a_id) {
            a_conversation = Some(id_of(&conv));
        }
    }
    let resp = app
        .post_json(
            &format!("/api/v1/conversations/{}/status", a_conversation.unwrap()),
            json!({"status": "resolved"}),
        )
        .await;
    assert_eq!(resp.status(), StatusCode::OK);
    until(&[Some(a_id), Some(a_id), Some(b_id)]).await;
    drop((a, b));
}

#[tokio::test]
async fn staff_hand_a_conversation_back_to_the_bot_and_it_answers_again() {
    let (app, fake) = start(&[]).await;
    add_rule(
        &app,
        json!({"name": "human", "match": "exact", "keywords": ["转人工"], "action": "handoff"}),
    )
    .await;
    add_rule(&app, json!({"name": "hi", "match": "contains", "keywords": ["hello"], "action": "reply", "reply": text_reply("bot says hi")})).await;
    let customer = openid("hand-back");
    app.push_text(&customer, "转人工").await;
    let c = id_of(&app.conversation_of(&customer).await);
    // claimed by the admin (a human's now), then handed back
    let resp = app
        .post_json(
            &format!("/api/v1/conversations/{c}/assign"),
            json!({"assignee": 1}),
        )
        .await;
    assert_eq!(resp.status(), StatusCode::OK);
    let resp = app
        .post_json(
            &format!("/api/v1/conversations/{c}/handler"),
            json!({"handler": "bot"}),
        )
        .await;
    assert_eq!(resp.status(), StatusCode::OK);
    let conversation: Value = resp.json().await.unwrap();
    assert_eq!(conversation["handler"], "bot");
    assert_eq!(conversation["assignee"], Value::Null);
    app.push_text(&customer, "hello again").await;
    assert_eq!(wait_for_text_to(&fake, &customer).await, ["bot says hi"]);
    // only bot or human can be chosen
    let resp = app
        .post_json(
            &format!("/api/v1/conversations/{c}/handler"),
            json!({"handler": "wechat"}),
        )
        .await;
    assert_error(resp, StatusCode::BAD_REQUEST).await;
}
