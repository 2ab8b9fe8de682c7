//! The agents' workspace as agents use it: the list, the open conversation and the contact
//! panel side by side (one at a time on a phone), switching conversations without leaving
//! the page, the newest message never under the reply box, and only the controls the viewer
//! may use, each disabled one saying why. Pages are checked as HTML (selectors), the layout
//! and the switching in Chromium at 1280×800 and 390×844 (`browser::Browser`).

use std::time::Duration;

use kefu::domain::Role;
use reqwest::StatusCode;
use scraper::{Html, Selector};
use serde_json::{Value, json};
use tokio::time::Instant;

use crate::browser::Browser;
use crate::helpers::{
    ADMIN_PASSWORD, STAFF_PASSWORD, TestApp, add_staff, id_of, openid, start_sending,
};

const WAIT: Duration = Duration::from_secs(10);

async fn page_as(app: &TestApp, path: &str, token: &str) -> (StatusCode, Html) {
    let resp = app
        .client
        .get(app.url(path))
        .bearer_auth(token)
        .header("Accept-Language", "en")
        .send()
        .await
        .expect("the page answers");
    let status = resp.status();
    (
        status,
        Html::parse_document(&resp.text().await.expect("a body")),
    )
}

fn select<'a>(html: &'a Html, css: &str) -> Vec<scraper::ElementRef<'a>> {
    let sel = Selector::parse(css).expect("a selector");
    html.select(&sel).collect()
}

fn one<'a>(html: &'a Html, css: &str) -> scraper::ElementRef<'a> {
    let found = select(html, css);
    assert_eq!(found.len(), 1, "exactly one {css}");
    found[0]
}

fn text(html: &Html, css: &str) -> String {
    one(html, css).text().collect::<String>().trim().to_owned()
}

fn attr(html: &Html, css: &str, name: &str) -> Option<String> {
    one(html, css).value().attr(name).map(str::to_owned)
}

fn hidden(html: &Html, css: &str) -> bool {
    attr(html, css, "hidden").is_some()
}

async fn customer_writes(app: &TestApp, who: &str, text: &str) -> i64 {
    app.push_text(who, text).await;
    id_of(&app.conversation_of(who).await)
}

async fn assign(app: &TestApp, id: i64, assignee: Option<i64>) {
    let resp = app
        .post_json(
            &format!("/api/v1/conversations/{id}/assign"),
            json!({ "assignee": assignee }),
        )
        .await;
    assert!(resp.status().is_success(), "{}", resp.status());
}

async fn set_status(app: &TestApp, id: i64, status: &str) {
    let resp = app
        .post_json(
            &format!("/api/v1/conversations/{id}/status"),
            json!({ "status": status }),
        )
        .await;
    assert!(resp.status().is_success(), "{}", resp.status());
}

// ---------------------------------------------------------------------------------------------
// The pages as HTML

#[tokio::test]
async fn the_conversation_page_has_the_list_the_conversation_and_the_contact_panel() {
    let app = TestApp::start().await;
    let id = customer_writes(&app, &openid("ws-three"), "hello").await;
    let (status, html) = page_as(
        &app,
        &format!("/conversations/{id}?view=all&status=all"),
        &app.token,
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    one(&html, "#workspace #list-pane");
    one(
        &html,
        &format!("#workspace #pane[data-conversation=\"{id}\"] #conversation"),
    );
    one(&html, "#pane #contact-drawer #contact");
    one(&html, &format!("#list-pane li.conv#conv-{id}"));
    // the list is in the view the agent came from, and the way back keeps it
    assert_eq!(
        attr(&html, "#conversations", "data-status").as_deref(),
        Some("all")
    );
    assert_eq!(
        attr(&html, "a#back", "href").as_deref(),
        Some("/inbox?view=all&status=all")
    );

    // the pane alone: no list, no page around it
    let (status, html) = page_as(&app, &format!("/conversations/{id}?pane=1"), &app.token).await;
    assert_eq!(status, StatusCode::OK);
    one(
        &html,
        &format!("#pane[data-conversation=\"{id}\"] #messages li.msg"),
    );
    one(&html, "#pane #contact");
    assert!(select(&html, "#list-pane, header.topbar").is_empty());

    // the inbox: the list, and the middle pane waiting for a choice
    let (_, html) = page_as(&app, "/inbox", &app.token).await;
    one(&html, "#workspace[data-showing=list] #list-pane");
    one(&html, "#workspace #pane.pane-empty");
}

#[tokio::test]
async fn an_agent_is_offered_no_assignment_on_a_colleagues_conversation_and_told_why() {
    let app = TestApp::start().await;
    let (_, ann_token) = add_staff(&app, "ann", "Ann Wu", Role::Agent).await;
    let (bob, _) = add_staff(&app, "bob", "Bob Li", Role::Agent).await;
    let id = customer_writes(&app, &openid("ws-colleague"), "hello").await;
    assign(&app, id, Some(bob)).await;

    let path = format!("/conversations/{id}");
    let (_, html) = page_as(&app, &path, &ann_token).await;
    for control in [
        "#assign-me",
        "#assign-to-label",
        "#unassign",
        "#hand-to-bot",
    ] {
        assert!(hidden(&html, control), "{control} is hidden from Ann");
    }
    assert!(!hidden(&html, "#assign-locked"));
    assert_eq!(
        text(&html, "#assign-locked"),
        "Assigned to Bob Li: only an admin can reassign it."
    );
    // the status is still hers to change
    assert_eq!(select(&html, ".set-status:not([hidden])").len(), 3);

    // an admin may take it: everything is there
    let (_, html) = page_as(&app, &path, &app.token).await;
    for control in [
        "#assign-me",
        "#assign-to-label",
        "#unassign",
        "#hand-to-bot",
    ] {
        assert!(!hidden(&html, control), "{control} is offered to the admin");
    }
    assert!(hidden(&html, "#assign-locked"));
}

#[tokio::test]
async fn disabled_controls_say_why_and_the_current_status_is_pressed() {
    let app = TestApp::start().await;
    let (ann, ann_token) = add_staff(&app, "ann", "Ann Wu", Role::Agent).await;
    let id = customer_writes(&app, &openid("ws-disabled"), "hello").await;
    let path = format!("/conversations/{id}");

    // nobody assigned, the bot handles it: "unassign" and "hand to the bot" cannot work
    let (_, html) = page_as(&app, &path, &ann_token).await;
    assert_eq!(attr(&html, "#unassign", "disabled").as_deref(), Some(""));
    assert_eq!(
        attr(&html, "#unassign", "title").as_deref(),
        Some("Nobody is assigned")
    );
    assert_eq!(attr(&html, "#hand-to-bot", "disabled").as_deref(), Some(""));
    assert!(attr(&html, "#hand-to-bot", "title").is_some_and(|t| !t.is_empty()));
    assert_eq!(attr(&html, "#assign-me", "disabled"), None);
    let pressed: Vec<_> = select(&html, r#".set-status[aria-pressed="true"]"#)
        .iter()
        .map(|b| b.value().attr("data-status").unwrap_or_default().to_owned())
        .collect();
    assert_eq!(pressed, vec!["open".to_owned()]);

    // hers now: "assign to me" cannot work, "unassign" can
    assign(&app, id, Some(ann)).await;
    set_status(&app, id, "pending").await;
    let (_, html) = page_as(&app, &path, &ann_token).await;
    assert_eq!(attr(&html, "#assign-me", "disabled").as_deref(), Some(""));
    assert_eq!(
        attr(&html, "#assign-me", "title").as_deref(),
        Some("Already assigned to you")
    );
    assert_eq!(attr(&html, "#unassign", "disabled"), None);
    assert_eq!(
        attr(&html, r#".set-status[aria-pressed="true"]"#, "data-status").as_deref(),
        Some("pending")
    );
}

#[tokio::test]
async fn without_an_app_secret_the_reply_box_is_disabled_and_says_why() {
    let app = TestApp::start().await; // no KEFU_WECHAT_SECRET: kefu cannot send
    let id = customer_writes(&app, &openid("ws-nosecret"), "hello").await;
    let (_, html) = page_as(&app, &format!("/conversations/{id}"), &app.token).await;
    assert!(!hidden(&html, "#reply-unavailable"));
    let why = text(&html, "#reply-unavailable");
    assert!(why.contains("KEFU_WECHAT_SECRET"), "{why}");
    for control in ["#reply-text", "#send", "#mp-link-open"] {
        assert_eq!(
            attr(&html, control, "disabled").as_deref(),
            Some(""),
            "{control}"
        );
        assert_eq!(
            attr(&html, control, "title").as_deref(),
            Some(why.as_str()),
            "{control}"
        );
    }
    // notes need no WeChat: the switch stays usable
    assert_eq!(attr(&html, "#note-toggle", "disabled"), None);

    let (app, _fake) = start_sending(&[]).await;
    let id = customer_writes(&app, &openid("ws-secret"), "hello").await;
    let (_, html) = page_as(&app, &format!("/conversations/{id}"), &app.token).await;
    assert!(hidden(&html, "#reply-unavailable"));
    assert_eq!(attr(&html, "#reply-text", "disabled"), None);
    assert_eq!(attr(&html, "#send", "disabled"), None);
}

#[tokio::test]
async fn the_reply_window_is_labelled_and_a_spent_quota_is_not_called_closed() {
    let (app, _fake) = start_sending(&[]).await;
    let who = openid("ws-quota");
    let id = customer_writes(&app, &who, "hello").await;
    let path = format!("/conversations/{id}");
    let (_, html) = page_as(&app, &path, &app.token).await;
    let window = text(&html, "#conv-window");
    assert!(
        window.starts_with("reply window: ") && window.ends_with(" left · 5 replies left"),
        "{window}"
    );
    assert_eq!(
        attr(&html, "#conv-state", "data-window").as_deref(),
        Some("open")
    );

    for i in 0..5 {
        let resp = app
            .post_json(
                &format!("/api/v1/conversations/{id}/messages"),
                json!({"type": "text", "content": {"text": format!("reply {i}")}}),
            )
            .await;
        assert_eq!(resp.status(), StatusCode::ACCEPTED);
    }
    let (_, html) = page_as(&app, &path, &app.token).await;
    assert_eq!(text(&html, "#conv-window"), "quota spent");
    assert_eq!(
        attr(&html, "#conv-state", "data-window").as_deref(),
        Some("spent")
    );
    let blocked = text(&html, "#reply-blocked");
    assert!(blocked.contains("used up"), "{blocked}");
    // (the list's rows are the list's to word)
    assert!(!text(&html, "#conversation").contains("reply window closed"));
}

#[tokio::test]
async fn a_resolved_conversation_links_to_the_customers_newer_one() {
    let (app, _fake) = start_sending(&[]).await;
    let who = openid("ws-again");
    let first = customer_writes(&app, &who, "first time").await;
    set_status(&app, first, "resolved").await;
    let (_, html) = page_as(&app, &format!("/conversations/{first}"), &app.token).await;
    assert!(hidden(&html, "#newer-conversation"));

    app.push_text(&who, "me again").await;
    let second = app
        .conversations_of(&who)
        .await
        .iter()
        .map(id_of)
        .max()
        .expect("a conversation");
    assert_ne!(second, first, "a new conversation started");
    let (_, html) = page_as(
        &app,
        &format!("/conversations/{first}?view=all&status=all"),
        &app.token,
    )
    .await;
    assert!(!hidden(&html, "#newer-conversation"));
    assert_eq!(
        attr(&html, "#newer-link", "href"),
        Some(format!("/conversations/{second}?view=all&status=all"))
    );
    // its reply box sends the agent to the new one, not "window closed"
    assert!(!hidden(&html, "#reply-blocked"));
    assert_eq!(
        text(&html, "#reply-blocked"),
        "Reply in the customer's new conversation."
    );
}

#[tokio::test]
async fn the_file_picker_is_a_translated_label_over_a_hidden_input() {
    let (app, _fake) = start_sending(&[]).await;
    let id = customer_writes(&app, &openid("ws-file"), "hello").await;
    for (lang, label) in [("en", "Image"), ("zh-CN", "图片")] {
        let resp = app
            .client
            .get(app.url(&format!("/conversations/{id}")))
            .bearer_auth(&app.token)
            .header("Accept-Language", lang)
            .send()
            .await
            .unwrap();
        let html = Html::parse_document(&resp.text().await.unwrap());
        let input = one(&html, "label.file-pick > input#reply-image[type=file]");
        assert!(
            input.value().classes().any(|c| c == "visually-hidden"),
            "the native input (and its \"Choose File\") is hidden"
        );
        assert_eq!(text(&html, "label.file-pick > span"), label);
    }
}

// ---------------------------------------------------------------------------------------------
// In the browser

/// Where the newest message is against the reply box, its scrolling region and the viewport.
async fn newest_in_view(browser: &Browser) -> Value {
    browser
        .js(
            r#"
            const last = document.querySelector('#messages > li.msg:last-child');
            const reply = document.getElementById('reply');
            const region = document.getElementById('messages-scroll');
            if (!last || !reply || !region) return null;
            const r = last.getBoundingClientRect();
            const b = reply.getBoundingClientRect();
            const g = region.getBoundingClientRect();
            return {
                id: last.id, top: r.top, bottom: r.bottom, reply_top: b.top, reply_bottom: b.bottom,
                region_top: g.top, region_bottom: g.bottom,
                vw: window.innerWidth, vh: window.innerHeight,
                doc_width: document.documentElement.scrollWidth,
            };
            "#,
            vec![],
        )
        .await
}

/// Waits until message `msg` is the newest, fully in its region, above the reply box and
/// inside the viewport, and the page does not scroll sideways.
async fn wait_newest_visible(browser: &Browser, msg: &str, size: &str) {
    let deadline = Instant::now() + WAIT;
    loop {
        let g = newest_in_view(browser).await;
        let n = |k: &str| g[k].as_f64().unwrap_or(f64::NAN);
        let ok = g["id"] == msg
            && n("bottom") <= n("reply_top") + 0.5
            && n("top") >= n("region_top") - 0.5
            && n("bottom") <= n("region_bottom") + 0.5
            && n("reply_bottom") <= n("vh") + 0.5
            && n("doc_width") <= n("vw");
        if ok {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "at {size}, {msg} is not the newest message in view above the reply box: {g}\n{}",
            browser.diagnose().await
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn newest_message_id(app: &TestApp, id: i64) -> String {
    let messages = app.messages(id).await;
    let newest = messages.iter().map(id_of).max().expect("a message");
    format!("msg-{newest}")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_newest_message_is_in_view_above_the_reply_box_on_a_desktop_and_a_phone() {
    let (app, _fake) = start_sending(&[]).await;
    // a long openid (the contact panel shows it) must not widen the page
    let who = openid(&format!("ws-newest-{}", "x".repeat(40)));
    for i in 0..30 {
        app.push_text(
            &who,
            &format!("message {i}: 我想问一下我的订单什么时候发货"),
        )
        .await;
    }
    let id = id_of(&app.conversation_of(&who).await);
    let browser = Browser::start().await;
    browser.login(&app, "admin", ADMIN_PASSWORD).await;
    for (width, height, mobile) in [(1280, 800, false), (390, 844, true)] {
        let size = format!("{width}×{height}");
        browser.set_viewport(width, height, mobile).await;
        browser
            .goto(&app, &format!("/conversations/{id}?view=all&status=open"))
            .await;
        browser.wait_live().await;
        // on opening
        wait_newest_visible(&browser, &newest_message_id(&app, id).await, &size).await;
        // a live customer message, the agent at the bottom: it scrolls into view
        app.push_text(&who, &format!("a live one at {size}")).await;
        let newest = newest_message_id(&app, id).await;
        browser.wait_for(&format!("#messages > li#{newest}")).await;
        wait_newest_visible(&browser, &newest, &size).await;
        // the header with status and assignment stays in view
        let header = browser
            .js(
                "const r = document.getElementById('conv-state').getBoundingClientRect(); return r.top >= 0 && r.bottom <= window.innerHeight;",
                vec![],
            )
            .await;
        assert_eq!(header, json!(true), "at {size} the state line is in view");

        // scrolled up, a live message does not pull the agent down: a button says it came
        browser
            .js(
                "document.getElementById('messages-scroll').scrollTop = 0;",
                vec![],
            )
            .await;
        app.push_text(&who, &format!("another at {size}")).await;
        let newest = newest_message_id(&app, id).await;
        browser.wait_for(&format!("#messages > li#{newest}")).await;
        browser.wait_for("#new-messages:not([hidden])").await;
        browser.click("#new-messages").await;
        wait_newest_visible(&browser, &newest, &size).await;
        browser.wait_for("#new-messages[hidden]").await;

        // the inbox does not scroll sideways either
        browser.goto(&app, "/inbox?view=all&status=open").await;
        browser.wait_for(&format!("li.conv#conv-{id}")).await;
        let wide = browser
            .js(
                "return document.documentElement.scrollWidth <= window.innerWidth;",
                vec![],
            )
            .await;
        assert_eq!(wide, json!(true), "the inbox fits {size}");
    }
    browser.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn switching_conversations_stays_on_the_page_and_back_and_forward_follow() {
    let (app, _fake) = start_sending(&[]).await;
    let (a_who, b_who) = (openid("ws-switch-a"), openid("ws-switch-b"));
    let a = customer_writes(&app, &a_who, "I am customer A").await;
    let b = customer_writes(&app, &b_who, "I am customer B").await;
    let browser = Browser::start().await;
    browser.login(&app, "admin", ADMIN_PASSWORD).await;
    browser.set_viewport(1280, 800, false).await;
    browser.goto(&app, "/inbox?view=all&status=open").await;
    browser.wait_live().await;
    browser.wait_for("#pane.pane-empty").await;
    browser.mark_page().await;

    // a click opens A in the middle pane; the URL names it and keeps the list's view
    browser
        .click(&format!("li.conv#conv-{a} a.conv-link"))
        .await;
    browser
        .wait_for(&format!("#pane[data-conversation=\"{a}\"]"))
        .await;
    browser
        .wait_for_text("#messages li.msg .msg-text", "I am customer A")
        .await;
    assert_eq!(
        browser.path().await,
        format!("/conversations/{a}?view=all&status=open")
    );
    browser
        .wait_for(&format!("li.conv#conv-{a} a.conv-link[aria-current]"))
        .await;
    browser
        .wait_for(&format!("#pane[data-conversation=\"{a}\"] #contact"))
        .await;

    // then B
    browser
        .click(&format!("li.conv#conv-{b} a.conv-link"))
        .await;
    browser
        .wait_for(&format!("#pane[data-conversation=\"{b}\"]"))
        .await;
    browser
        .wait_for_text("#messages li.msg .msg-text", "I am customer B")
        .await;
    assert_eq!(browser.find_all("#pane").await.len(), 1);
    assert_eq!(browser.find_all(".conv-link[aria-current]").await.len(), 1);

    // back: A again, forward: B, still without a page load
    browser.js("history.back();", vec![]).await;
    browser
        .wait_for(&format!("#pane[data-conversation=\"{a}\"]"))
        .await;
    browser.wait_for_path(&format!("/conversations/{a}")).await;
    browser.js("history.forward();", vec![]).await;
    browser
        .wait_for(&format!("#pane[data-conversation=\"{b}\"]"))
        .await;
    assert!(browser.same_page().await, "no page load while switching");

    // the list stays live while B is open, and B's own messages arrive in the pane
    let c = customer_writes(&app, &openid("ws-switch-c"), "a new customer").await;
    browser
        .wait_for_text(&format!("li.conv#conv-{c} .conv-preview"), "a new customer")
        .await;
    app.push_text(&b_who, "B writes while open").await;
    browser
        .wait_for_text("#messages li.msg .msg-text", "B writes while open")
        .await;
    // opened, so read: B's row has no unread messages
    browser
        .wait_for(&format!(r#"li.conv#conv-{b}[data-unread="0"]"#))
        .await;

    // B is resolved; the customer writes again: the open page offers the new conversation
    set_status(&app, b, "resolved").await;
    browser
        .wait_for(r#"#conv-state[data-status="resolved"]"#)
        .await;
    app.push_text(&b_who, "B is back").await;
    let newer = browser
        .wait_for("#newer-conversation:not([hidden]) a#newer-link")
        .await;
    let href = newer.attr("href").await.unwrap().unwrap_or_default();
    assert!(href.starts_with("/conversations/"), "{href}");
    assert_ne!(href, format!("/conversations/{b}"));
    // and the reply box sends the agent there, instead of saying the window closed
    let said = browser
        .js(
            "const b = document.getElementById('reply-blocked'); \
             return [b.hidden, b.textContent, document.getElementById('reply').dataset.newer, \
                     document.getElementById('reply-text').disabled];",
            vec![],
        )
        .await;
    assert_eq!(said[0], json!(false), "{said}");
    assert_eq!(said[1], said[2], "{said}");
    assert_eq!(said[3], json!(true), "{said}");
    newer.click().await.unwrap();
    browser
        .wait_for_text("#messages li.msg .msg-text", "B is back")
        .await;
    assert!(browser.same_page().await);
    browser.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_phone_shows_one_pane_at_a_time_with_the_contact_panel_behind_a_button() {
    let app = TestApp::start().await;
    let (_, _) = add_staff(&app, "ann", "Ann Wu", Role::Agent).await;
    let id = customer_writes(&app, &openid("ws-phone"), "hello from a phone").await;
    let browser = Browser::start().await;
    browser.login(&app, "ann", STAFF_PASSWORD).await;
    browser.set_viewport(390, 844, true).await;
    browser.goto(&app, "/inbox?view=all&status=open").await;
    browser.wait_live().await;
    let shown = |css: &'static str| {
        let browser = &browser;
        async move {
            browser
                .js(
                    "const e = document.querySelector(arguments[0]); return !!e && e.getClientRects().length > 0;",
                    vec![json!(css)],
                )
                .await
                == json!(true)
        }
    };
    assert!(shown("#list-pane").await);
    assert!(!shown("#pane").await, "the list alone");

    browser
        .click(&format!("li.conv#conv-{id} a.conv-link"))
        .await;
    browser
        .wait_for_text("#messages li.msg .msg-text", "hello from a phone")
        .await;
    assert!(!shown("#list-pane").await, "the conversation alone");
    assert!(shown("#conv-state").await);
    assert!(
        !shown("#contact").await,
        "the contact panel waits behind its button"
    );
    browser.click("#contact-toggle").await;
    browser.wait_for("#pane.contact-open").await;
    assert!(shown("#contact").await);
    browser.click("#contact-close").await;
    assert!(!shown("#contact").await);
    // status and assignment: one tap away
    assert!(!shown(".set-status").await);
    browser.click("#tools-toggle").await;
    assert!(shown(".set-status").await);
    assert!(shown("#assign-me").await);

    // back: the list again
    browser.js("history.back();", vec![]).await;
    browser.wait_for_path("/inbox").await;
    browser.wait_for("#workspace[data-showing=list]").await;
    assert!(shown("#list-pane").await);
    browser.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_a_desktop_the_three_panes_stand_side_by_side_and_the_controls_follow_live() {
    let app = TestApp::start().await;
    let (_, _) = add_staff(&app, "ann", "Ann Wu", Role::Agent).await;
    let (bob, _) = add_staff(&app, "bob", "Bob Li", Role::Agent).await;
    let id = customer_writes(&app, &openid("ws-side"), "hello").await;
    let browser = Browser::start().await;
    browser.login(&app, "ann", STAFF_PASSWORD).await;
    browser.set_viewport(1280, 800, false).await;
    browser
        .goto(&app, &format!("/conversations/{id}?view=all&status=all"))
        .await;
    browser.wait_live().await;
    let boxes = browser
        .js(
            "const r = (css) => { const b = document.querySelector(css).getBoundingClientRect(); \
               return [b.left, b.right, b.top, b.bottom]; }; \
             return [r('#list-pane'), r('#conversation'), r('#contact'), innerWidth, innerHeight];",
            vec![],
        )
        .await;
    let edge = |pane: usize, i: usize| boxes[pane][i].as_f64().expect("a number");
    let (width, height) = (
        boxes[3].as_f64().expect("a width"),
        boxes[4].as_f64().expect("a height"),
    );
    // list | conversation | contact, left to right, none over another, all on the screen
    assert!(edge(0, 1) <= edge(1, 0) + 1.0, "{boxes}");
    assert!(edge(1, 1) <= edge(2, 0) + 1.0, "{boxes}");
    assert!(edge(0, 0) >= 0.0 && edge(2, 1) <= width + 1.0, "{boxes}");
    for pane in 0..3 {
        assert!(edge(pane, 3) - edge(pane, 2) > height / 2.0, "{boxes}");
        assert!(edge(pane, 1) - edge(pane, 0) > 200.0, "{boxes}");
    }

    // Ann may take it; then an admin gives it to Bob: her controls go, and say why, live
    browser
        .wait_for("#assign-me:not([hidden]):not([disabled])")
        .await;
    browser.mark_page().await;
    assign(&app, id, Some(bob)).await;
    browser.wait_for("#assign-me[hidden]").await;
    browser.wait_for("#unassign[hidden]").await;
    browser
        .wait_for_text("#assign-locked:not([hidden])", "Bob Li")
        .await;
    // and back to nobody: hers to take again, "unassign" disabled with its reason
    assign(&app, id, None).await;
    browser
        .wait_for("#assign-me:not([hidden]):not([disabled])")
        .await;
    browser.wait_for("#unassign[disabled][title]").await;
    assert!(browser.same_page().await, "no reload");
    browser.close().await;
}
