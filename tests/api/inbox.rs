//! The agents' pages as a browser receives them: the inbox and a conversation, rendered on
//! the server, every customer-supplied text escaped, and the HTML fragments `/ws` pushes
//! rendered by the same templates. (The browser tests drive the same pages in Chromium.)

use std::time::Duration;

use kefu::domain::Role;
use kefu::live::Event;
use kefu::wechat::push::Format;
use kefu::wechat::simulate::{self, SimulatedKind};
use reqwest::StatusCode;
use scraper::{Html, Selector};
use serde_json::{Value, json};
use tokio::time::timeout;

use crate::helpers::{
    Mode, TestApp, add_staff, all, assert_error, assert_error_page, assert_success, attr, id_of,
    now, one, openid, start_sending,
};
use crate::live::Client;

const WAIT: Duration = Duration::from_secs(20);

/// A page as HTML, fetched with the admin's token (pages take the session cookie or a token).
async fn page(app: &TestApp, path: &str) -> (StatusCode, Html) {
    page_as(app, path, &app.token, None).await
}

async fn page_as(
    app: &TestApp,
    path: &str,
    token: &str,
    accept_language: Option<&str>,
) -> (StatusCode, Html) {
    let mut req = app.client.get(app.url(path)).bearer_auth(token);
    if let Some(lang) = accept_language {
        req = req.header("Accept-Language", lang);
    }
    let resp = req.send().await.expect("the page answers");
    let status = resp.status();
    (
        status,
        Html::parse_document(&resp.text().await.expect("a body")),
    )
}

async fn add_agent(app: &TestApp, username: &str, name: &str) -> (i64, String) {
    add_staff(app, username, name, Role::Agent).await
}

async fn push_kind(app: &TestApp, customer: &str, kind: SimulatedKind) {
    let body = simulate::push_body(
        &kind,
        customer,
        simulate::random_msg_id(),
        now(),
        Format::Json,
    );
    assert_success(app.push_plaintext(&body, Mode::Plain, Format::Json).await).await;
}

#[tokio::test]
async fn a_signed_out_browser_is_sent_to_sign_in_and_back() {
    let app = TestApp::start().await;
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    for (path, next) in [
        ("/inbox?view=mine", "%2Finbox%3Fview%3Dmine"),
        ("/conversations/1", "%2Fconversations%2F1"),
    ] {
        let resp = client.get(app.url(path)).send().await.unwrap();
        assert_eq!(resp.status(), StatusCode::SEE_OTHER, "{path}");
        assert_eq!(resp.headers()["location"], format!("/login?next={next}"));
    }
}

#[tokio::test]
async fn the_inbox_lists_conversations_newest_first_with_escaped_previews() {
    let app = TestApp::start().await;
    let older = openid("older");
    let newer = openid("newer");
    app.push_text(&older, "first customer").await;
    app.push_text(&newer, "<script>alert(1)</script> & more")
        .await;

    let (status, html) = page(&app, "/inbox?view=all").await;
    assert_eq!(status, StatusCode::OK);
    // customers are named by a short readable id, not their openid
    let name = |o: &str| format!("访客 {}", kefu::web::views::short_id(o));
    assert_eq!(
        all(&html, "#conversations > li.conv .conv-name"),
        [name(&newer), name(&older)]
    );
    assert_eq!(
        all(&html, "#conversations > li.conv .conv-preview")[0],
        "客户：<script>alert(1)</script> & more"
    );
    // as text, not markup: no script element came from the customer
    assert_eq!(all(&html, "#conversations script").len(), 0);
    let c = id_of(&app.conversation_of(&newer).await);
    let row = format!("#conv-{c}");
    assert_eq!(attr(&html, &row, "data-unread").as_deref(), Some("1"));
    assert_eq!(attr(&html, &row, "data-assignee").as_deref(), Some(""));
    assert_eq!(one(&html, &format!("{row} .conv-unread")), "1");
    // who answers it: a new conversation is the bot's (the page is in Chinese by default)
    assert_eq!(one(&html, &format!("{row} .conv-handler")), "机器人");
    assert_eq!(
        attr(&html, &format!("{row} a.conv-link"), "href"),
        Some(format!("/conversations/{c}"))
    );
    // the views count open conversations: both are the bot's, none waits for a human
    assert_eq!(one(&html, "#views a[data-view=all] .count"), "2");
    assert_eq!(one(&html, "#views a[data-view=bot] .count"), "2");
    assert_eq!(one(&html, "#views a[data-view=waiting] .count"), "0");
    assert_eq!(one(&html, "#views a[data-view=mine] .count"), "0");
    // the page says which live event it reflects, so its script asks only for later ones
    assert!(attr(&html, "meta[name=kefu-live-seq]", "content").is_some());
}

#[tokio::test]
async fn views_and_status_filters_select_the_right_conversations() {
    let app = TestApp::start().await;
    let (agent, agent_token) = add_agent(&app, "agent", "Agent Li").await;
    let mine = openid("mine");
    let theirs = openid("theirs");
    let done = openid("done");
    for c in [&mine, &theirs, &done] {
        app.push_text(c, "hello").await;
    }
    let id = |c: &str| {
        let app = &app;
        let c = c.to_owned();
        async move { id_of(&app.conversation_of(&c).await) }
    };
    let (mine_id, theirs_id, done_id) = (id(&mine).await, id(&theirs).await, id(&done).await);
    let resp = app
        .post_json(
            &format!("/api/v1/conversations/{mine_id}/assign"),
            json!({ "assignee": agent }),
        )
        .await;
    assert_eq!(resp.status(), StatusCode::OK);
    // handed to a human and nobody's: it waits in the queue
    let resp = app
        .post_json(
            &format!("/api/v1/conversations/{theirs_id}/handler"),
            json!({ "handler": "human" }),
        )
        .await;
    assert_eq!(resp.status(), StatusCode::OK);
    let resp = app
        .post_json(
            &format!("/api/v1/conversations/{done_id}/status"),
            json!({ "status": "resolved" }),
        )
        .await;
    assert_eq!(resp.status(), StatusCode::OK);

    let ids = |html: &Html| -> Vec<i64> {
        let sel = Selector::parse("#conversations > li.conv").unwrap();
        html.select(&sel)
            .map(|e| e.value().attr("data-id").unwrap().parse().unwrap())
            .collect()
    };
    let (_, html) = page_as(&app, "/inbox?view=mine", &agent_token, None).await;
    assert_eq!(ids(&html), [mine_id]);
    assert_eq!(
        one(
            &html,
            "#conv-{mine_id} .conv-assignee"
                .replace("{mine_id}", &mine_id.to_string())
                .as_str()
        ),
        "Agent Li"
    );
    assert_eq!(one(&html, "#views a[data-view=mine] .count"), "1");
    let (_, html) = page_as(&app, "/inbox?view=unassigned", &agent_token, None).await;
    assert_eq!(ids(&html), [theirs_id]);
    let (_, html) = page(&app, "/inbox?view=all&status=resolved").await;
    assert_eq!(ids(&html), [done_id]);
    let (_, html) = page(&app, "/inbox?view=all&status=all").await;
    assert_eq!(ids(&html).len(), 3);
    let (_, html) = page(&app, "/inbox?view=all").await;
    assert_eq!(ids(&html).len(), 2, "open only by default");
    assert_eq!(
        attr(&html, "#statuses a[aria-current=page]", "data-status").as_deref(),
        Some("open")
    );
}

#[tokio::test]
async fn inbox_pages_follow_one_another_without_gaps_or_repeats() {
    let app = TestApp::start().await;
    let customers: Vec<String> = (0..57).map(|n| openid(&format!("page{n}"))).collect();
    for c in &customers {
        app.push_text(c, "hi").await;
    }
    let mut seen = Vec::new();
    // by id: customers' short readable names may coincide
    let sel = Selector::parse("#conversations > li.conv").unwrap();
    let mut path = "/inbox?view=all".to_owned();
    loop {
        let (status, html) = page(&app, &path).await;
        assert_eq!(status, StatusCode::OK);
        let ids: Vec<String> = html
            .select(&sel)
            .map(|e| e.value().attr("data-id").unwrap().to_owned())
            .collect();
        assert!(ids.len() <= 50);
        seen.extend(ids);
        match attr(&html, "#more", "href") {
            Some(next) => path = next,
            None => break,
        }
    }
    assert_eq!(seen.len(), 57);
    let mut unique = seen.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), 57, "no conversation twice");
    // newest first across the pages
    assert_eq!(
        seen[0],
        id_of(&app.conversation_of(&customers[56]).await).to_string()
    );
    assert_eq!(
        seen[56],
        id_of(&app.conversation_of(&customers[0]).await).to_string()
    );
}

#[tokio::test]
async fn a_conversation_page_shows_every_kind_of_message_for_what_it_is() {
    let app = TestApp::start().await;
    let customer = openid("kinds");
    push_kind(
        &app,
        &customer,
        SimulatedKind::Enter {
            session_from: "<b>ad</b>".into(),
        },
    )
    .await;
    app.push_text(
        &customer,
        "see https://example.com/x?a=1&b=2, or javascript:alert(1) <img src=x onerror=alert(1)>",
    )
    .await;
    push_kind(
        &app,
        &customer,
        SimulatedKind::Image {
            media_id: "MEDIA_1".into(),
        },
    )
    .await;
    push_kind(
        &app,
        &customer,
        SimulatedKind::Card {
            thumb_media_id: None,
        },
    )
    .await;
    let c = id_of(&app.conversation_of(&customer).await);
    let resp = app
        .post_json(
            &format!("/api/v1/conversations/{c}/messages"),
            json!({ "type": "note", "content": { "text": "VIP <i>customer</i>" } }),
        )
        .await;
    assert_eq!(resp.status(), StatusCode::ACCEPTED);

    let (status, html) = page(&app, &format!("/conversations/{c}")).await;
    assert_eq!(status, StatusCode::OK);
    let kinds: Vec<String> = {
        let sel = Selector::parse("#messages > li.msg").unwrap();
        html.select(&sel)
            .map(|e| e.value().attr("data-type").unwrap().to_owned())
            .collect()
    };
    assert_eq!(
        kinds,
        ["event", "text", "image", "miniprogrampage", "note"],
        "oldest first"
    );
    // the event is a quiet system line naming where the customer came from, escaped
    assert!(one(&html, "li.kind-event .msg-event").contains("<b>ad</b>"));
    // text: the web address is a link, the rest is text, nothing is markup
    let text = one(&html, "li.kind-text .msg-text");
    assert!(text.contains("<img src=x onerror=alert(1)>"), "{text}");
    assert_eq!(
        all(&html, "li.kind-text .msg-text a"),
        ["https://example.com/x?a=1&b=2"]
    );
    assert_eq!(
        attr(&html, "li.kind-text .msg-text a", "href").as_deref(),
        Some("https://example.com/x?a=1&b=2")
    );
    assert_eq!(
        all(&html, "#messages img:not(.msg-image):not(.card-thumb)").len(),
        0
    );
    // the image is waiting for kefu's copy (no WeChat API configured to fetch it)
    assert_eq!(all(&html, "li.kind-image .msg-text").len(), 1);
    assert_eq!(all(&html, "li.kind-miniprogrampage .card-title").len(), 1);
    // the note is visibly a note, and never shows a delivery state
    assert_eq!(all(&html, "li.kind-note .msg-note-tag").len(), 1);
    assert_eq!(one(&html, "li.kind-note .msg-text"), "VIP <i>customer</i>");
    assert_eq!(all(&html, "li.kind-note .msg-status").len(), 0);
    // the side panel
    assert_eq!(one(&html, "#contact-openid"), customer);
    assert_eq!(one(&html, "#contact-source"), "<b>ad</b>");
}

#[tokio::test]
async fn opening_a_conversation_reads_it_for_every_inbox() {
    let app = TestApp::start().await;
    let customer = openid("unread");
    app.push_text(&customer, "one").await;
    app.push_text(&customer, "two").await;
    let c = id_of(&app.conversation_of(&customer).await);
    assert_eq!(app.conversation_of(&customer).await["unread"], 2);
    let mut events = app.state().live.subscribe();
    let (status, _) = page(&app, &format!("/conversations/{c}")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(app.conversation_of(&customer).await["unread"], 0);
    let changed = timeout(WAIT, async {
        loop {
            if let Ok(Event::ConversationChanged { conversation_id }) = events.recv().await {
                break conversation_id;
            }
        }
    })
    .await
    .expect("the change is announced");
    assert_eq!(changed, c);
}

#[tokio::test]
async fn a_missing_conversation_is_a_404_page() {
    let app = TestApp::start().await;
    for path in ["/conversations/999", "/conversations/abc"] {
        let (status, html) = page(&app, path).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{path}");
        assert_eq!(all(&html, "#not-found").len(), 1);
    }
}

#[tokio::test]
async fn the_reply_box_says_why_when_wechat_no_longer_allows_replies() {
    // a kefu that could send (an AppSecret is set), so the window is what stops the reply
    let (app, _fake) = start_sending(&[]).await;
    let customer = openid("stale");
    // a message from three days ago: the 48-hour window has closed
    let body = simulate::push_body(
        &SimulatedKind::Text("old".into()),
        &customer,
        simulate::random_msg_id(),
        now() - 3 * 24 * 3600,
        Format::Json,
    );
    assert_success(app.push_plaintext(&body, Mode::Plain, Format::Json).await).await;
    let c = id_of(&app.conversation_of(&customer).await);
    let (_, html) = page(&app, &format!("/conversations/{c}")).await;
    let blocked = one(&html, "#reply-blocked");
    assert!(blocked.contains("48"), "{blocked}");
    assert_eq!(
        attr(&html, "#conv-state", "data-window-ends")
            .as_deref()
            .map(|v| v.parse::<i64>().unwrap() < now() * 1000),
        Some(true)
    );

    let fresh = openid("fresh");
    app.push_text(&fresh, "now").await;
    let c = id_of(&app.conversation_of(&fresh).await);
    let (_, html) = page(&app, &format!("/conversations/{c}")).await;
    assert_eq!(attr(&html, "#reply-blocked", "hidden").as_deref(), Some(""));
    assert_eq!(
        attr(&html, "#conv-state", "data-replies-left").as_deref(),
        Some("5")
    );
}

#[tokio::test]
async fn a_failed_reply_shows_wechats_reason_and_a_retry_button() {
    let (app, fake) = start_sending(&[("KEFU_DELIVERY_BACKOFF_MS", "20")]).await;
    let customer = openid("refused");
    app.push_text(&customer, "hello").await;
    fake.refuse_openid(&customer, 45015, "response out of time limit");
    let c = id_of(&app.conversation_of(&customer).await);
    let mut events = app.state().live.subscribe();
    let resp = app
        .post_json(
            &format!("/api/v1/conversations/{c}/messages"),
            json!({ "type": "text", "content": { "text": "sorry for the wait" } }),
        )
        .await;
    assert_eq!(resp.status(), StatusCode::ACCEPTED);
    let m = id_of(&resp.json::<Value>().await.unwrap());
    timeout(WAIT, async {
        loop {
            if let Ok(Event::MessageStatus { message_id, .. }) = events.recv().await
                && message_id == m
            {
                break;
            }
        }
    })
    .await
    .expect("the send ends");

    let (_, html) = page(&app, &format!("/conversations/{c}")).await;
    let li = format!("#msg-{m}");
    assert_eq!(attr(&html, &li, "data-status").as_deref(), Some("failed"));
    let error = one(&html, &format!("{li} .msg-error"));
    assert!(error.contains("45015"), "{error}");
    assert_eq!(
        attr(&html, &format!("{li} button.retry"), "data-id"),
        Some(m.to_string())
    );
}

#[tokio::test]
async fn staff_rename_a_contact_and_keep_a_note_on_them() {
    let app = TestApp::start().await;
    let customer = openid("renamed");
    app.push_text(&customer, "hi").await;
    let c = id_of(&app.conversation_of(&customer).await);
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let post = |form: Vec<(&'static str, String)>| {
        client
            .post(app.url(&format!("/conversations/{c}/contact")))
            .bearer_auth(&app.token)
            .form(&form)
            .send()
    };
    let resp = post(vec![
        ("name", "  王女士 <VIP> ".into()),
        ("note", "prefers mornings".into()),
    ])
    .await
    .unwrap();
    assert_eq!(resp.status(), StatusCode::SEE_OTHER);
    assert_eq!(
        app.conversation_of(&customer).await["contact"]["name"],
        "王女士 <VIP>"
    );
    let (_, html) = page(&app, &format!("/conversations/{c}")).await;
    assert_eq!(one(&html, "#conv-name"), "王女士 <VIP>");
    assert_eq!(
        one(&html, "#contact-form textarea[name=note]"),
        "prefers mornings"
    );
    let (_, html) = page(&app, "/inbox?view=all").await;
    assert_eq!(one(&html, ".conv-name"), "王女士 <VIP>");

    // too long: refused whole, nothing changed; a form's refusal is a page, not JSON
    let resp = post(vec![("name", "x".repeat(65)), ("note", "changed".into())])
        .await
        .unwrap();
    let (_, sentence) = assert_error_page(resp, StatusCode::BAD_REQUEST).await;
    assert!(sentence.contains("`name`"), "{sentence}");
    let (_, html) = page(&app, &format!("/conversations/{c}")).await;
    assert_eq!(
        one(&html, "#contact-form textarea[name=note]"),
        "prefers mornings"
    );
    // an empty name goes back to the short readable id
    let resp = post(vec![("name", " ".into()), ("note", "".into())])
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::SEE_OTHER);
    assert_eq!(
        app.conversation_of(&customer).await["contact"]["name"],
        Value::Null
    );
}

#[tokio::test]
async fn agents_claim_and_hand_on_their_own_conversations_and_only_admins_take_others() {
    let app = TestApp::start().await;
    let (a, a_token) = add_agent(&app, "agent_a", "A").await;
    let (b, b_token) = add_agent(&app, "agent_b", "B").await;
    let customer = openid("claim");
    app.push_text(&customer, "hi").await;
    let c = id_of(&app.conversation_of(&customer).await);
    let assign = |token: String, assignee: Option<i64>| {
        app.client
            .post(app.url(&format!("/api/v1/conversations/{c}/assign")))
            .bearer_auth(token)
            .json(&json!({ "assignee": assignee }))
            .send()
    };
    // A claims the unassigned conversation
    assert_eq!(
        assign(a_token.clone(), Some(a)).await.unwrap().status(),
        StatusCode::OK
    );
    // B can neither take it nor unassign it
    assert_error(
        assign(b_token.clone(), Some(b)).await.unwrap(),
        StatusCode::FORBIDDEN,
    )
    .await;
    assert_error(
        assign(b_token.clone(), None).await.unwrap(),
        StatusCode::FORBIDDEN,
    )
    .await;
    assert_eq!(app.conversation_of(&customer).await["assignee"]["id"], a);
    // A hands it on to B; the admin takes it back
    assert_eq!(
        assign(a_token, Some(b)).await.unwrap().status(),
        StatusCode::OK
    );
    assert_eq!(
        assign(app.token.clone(), None).await.unwrap().status(),
        StatusCode::OK
    );
    assert_eq!(
        app.conversation_of(&customer).await["assignee"],
        Value::Null
    );
    let _ = b_token;
}

#[tokio::test]
async fn live_events_carry_the_pages_own_fragments_and_messages_only_to_their_viewers() {
    let app = TestApp::start().await;
    let customer = openid("live-html");
    app.push_text(&customer, "first").await;
    let c = id_of(&app.conversation_of(&customer).await);

    let mut viewer = Client::connect(&app, &format!("viewing={c}")).await;
    viewer.greeting().await;
    let mut other = Client::connect(&app, "").await;
    other.greeting().await;
    app.push_text(&customer, "<b>bold</b> https://example.com")
        .await;

    let seen = viewer.event("message_added").await;
    let row = Html::parse_fragment(seen["html"]["row"].as_str().expect("a row"));
    assert_eq!(
        one(&row, &format!("li#conv-{c} .conv-preview")),
        "客户：<b>bold</b> https://example.com"
    );
    let message = Html::parse_fragment(seen["html"]["message"].as_str().expect("the message"));
    assert_eq!(
        one(&message, "li.msg .msg-text"),
        "<b>bold</b> https://example.com"
    );
    assert_eq!(all(&message, "b").len(), 0, "escaped, not markup");
    assert!(
        seen["html"]["state"]
            .as_str()
            .expect("the state line")
            .contains("conv-state")
    );

    // the same fragment the page renders
    let (_, html) = page(&app, &format!("/conversations/{c}")).await;
    let m = seen["event"]["message_id"].as_i64().unwrap();
    assert_eq!(
        one(&html, &format!("#msg-{m} .msg-text")),
        one(&message, "li.msg .msg-text")
    );

    let elsewhere = other.event("message_added").await;
    assert!(elsewhere["html"]["row"].is_string());
    assert!(elsewhere["html"].get("message").is_none(), "{elsewhere}");
}
