//! The admin console (`/admin/…`) as a browser uses it, with plain form posts: only admins get
//! in; rules are created, edited, switched, moved, deleted and tried; accounts are added,
//! promoted, reset and disabled; the bot's settings are saved; and every change shows in the
//! audit log. What the console saves is read back through the JSON API.

use kefu::domain::Role;
use kefu::store::audit::Actor;
use reqwest::StatusCode;
use scraper::{Html, Selector};
use serde_json::{Value, json};

use crate::canned::{
    Browser, PASSWORD, assert_redirect, assert_refused_page, audited, select, staff, text,
};
use crate::helpers::{ADMIN_PASSWORD, TestApp, id_of};

async fn admin(app: &TestApp) -> Browser {
    Browser::sign_in(app, "admin", ADMIN_PASSWORD).await
}

/// Every rule, as the JSON API lists it.
async fn rules(app: &TestApp) -> Vec<Value> {
    app.get_json("/api/v1/rules").await["rules"]
        .as_array()
        .expect("a list of rules")
        .clone()
}

/// The ids of the rules in the console's table, top to bottom.
async fn table_order(browser: &Browser) -> Vec<i64> {
    let html = browser.page("/admin/rules").await;
    select(&html, "table#rules tr.rule[data-id]")
        .iter()
        .map(|tr| tr.value().attr("data-id").unwrap().parse().unwrap())
        .collect()
}

/// The fields of the rule form for a text reply.
fn rule_fields<'a>(
    name: &'a str,
    priority: &'a str,
    kind: &'a str,
    keywords: &'a str,
    reply: &'a str,
) -> Vec<(&'a str, &'a str)> {
    vec![
        ("name", name),
        ("enabled", "on"),
        ("priority", priority),
        ("match", kind),
        ("keywords", keywords),
        ("action", "reply"),
        ("reply_type", "text"),
        ("reply_text", reply),
    ]
}

/// Creates a rule through the console and returns its id (the newest rule).
async fn create_rule(app: &TestApp, browser: &Browser, fields: &[(&str, &str)]) -> i64 {
    let resp = browser.post_form("/admin/rules/new", fields).await;
    assert_redirect(&resp, "/admin/rules");
    rules(app)
        .await
        .iter()
        .map(id_of)
        .max()
        .expect("a rule was created")
}

fn rule_by_id(list: &[Value], id: i64) -> Value {
    list.iter()
        .find(|r| id_of(r) == id)
        .unwrap_or_else(|| panic!("no rule {id} in {list:?}"))
        .clone()
}

/// A full settings form, with `changes` replacing its fields; a change to an empty
/// `hours_enabled` leaves the box unticked (a browser then sends no such field).
pub(crate) fn settings_fields<'a>(changes: &[(&'a str, &'a str)]) -> Vec<(&'a str, &'a str)> {
    let mut fields = vec![
        ("welcome", "欢迎光临 <b>kefu</b>"),
        (
            "welcome_by_source",
            "order = 关于您的订单？\r\nad = Hello from the ad",
        ),
        ("welcome_every_minutes", "30"),
        ("fallback", "稍等，马上有人回复您。"),
        ("fallback_every_minutes", "45"),
        ("away", "我们下班了"),
        ("away_every_minutes", "90"),
        ("hours_enabled", "on"),
        ("day", "1"),
        ("day", "2"),
        ("day", "3"),
        ("start", "09:30"),
        ("end", "18:00"),
        ("utc_offset", "+08:00"),
        ("assignment_mode", "auto"),
        ("assignment_cap", "7"),
    ];
    for (k, v) in changes {
        fields.retain(|(name, _)| name != k);
        if !(*k == "hours_enabled" && v.is_empty()) {
            fields.push((k, v));
        }
    }
    fields
}

// ---------------------------------------------------------------------------------------------
// Who gets in

#[tokio::test]
async fn an_agent_gets_the_forbidden_page_for_everything_in_the_console() {
    let app = TestApp::start().await;
    staff(&app, "alice", Role::Agent).await;
    let agent = Browser::sign_in(&app, "alice", PASSWORD).await;
    let admin_id = kefu::store::staff::by_username(app.state().store.pool(), "admin")
        .await
        .unwrap()
        .unwrap()
        .id;
    let rule = app
        .post_json(
            "/api/v1/rules",
            json!({ "name": "hours", "match": "contains", "keywords": ["hours"],
                    "action": "reply", "reply": { "type": "text", "content": { "text": "9-18" } } }),
        )
        .await;
    assert_eq!(rule.status(), StatusCode::CREATED);
    let rule_id = id_of(&rule.json::<Value>().await.unwrap());

    for path in [
        "/admin".to_owned(),
        "/admin/rules".to_owned(),
        "/admin/rules/new".to_owned(),
        format!("/admin/rules/{rule_id}/edit"),
        "/admin/rules/test?text=hours".to_owned(),
        "/admin/users".to_owned(),
        "/admin/settings".to_owned(),
        "/admin/audit".to_owned(),
    ] {
        let resp = agent.get(&path).await;
        assert_eq!(resp.status(), StatusCode::FORBIDDEN, "GET {path}");
        let html = Html::parse_document(&resp.text().await.unwrap());
        assert_eq!(select(&html, "#forbidden").len(), 1, "GET {path}");
        assert!(select(&html, "nav#admin-nav").is_empty(), "GET {path}");
    }
    let posts: Vec<(String, Vec<(&str, &str)>)> = vec![
        (
            "/admin/rules/new".into(),
            rule_fields("sneaky", "5", "contains", "x", "y"),
        ),
        (
            format!("/admin/rules/{rule_id}/edit"),
            rule_fields("sneaky", "5", "contains", "x", "y"),
        ),
        (format!("/admin/rules/{rule_id}/toggle"), vec![]),
        (
            format!("/admin/rules/{rule_id}/move"),
            vec![("direction", "up")],
        ),
        (format!("/admin/rules/{rule_id}/delete"), vec![]),
        ("/admin/rules/test".into(), vec![("text", "hours")]),
        (
            "/admin/users".into(),
            vec![
                ("username", "mallory"),
                ("role", "admin"),
                ("password", "long-enough-1"),
            ],
        ),
        (
            format!("/admin/users/{admin_id}/role"),
            vec![("role", "agent")],
        ),
        (format!("/admin/users/{admin_id}/disable"), vec![]),
        (
            format!("/admin/users/{admin_id}/password"),
            vec![("password", "taken-over-1")],
        ),
        ("/admin/settings".into(), settings_fields(&[])),
    ];
    for (path, fields) in &posts {
        let resp = agent.post_form(path, fields).await;
        assert_eq!(resp.status(), StatusCode::FORBIDDEN, "POST {path}");
    }

    // nothing changed
    let list = rules(&app).await;
    assert_eq!(list.len(), 1);
    assert_eq!(list[0]["name"], "hours");
    assert_eq!(list[0]["enabled"], true);
    for action in [
        "rule.update",
        "rule.adjust",
        "rule.delete",
        "staff.add",
        "staff.role",
        "staff.disable",
        "staff.passwd",
        "settings.automation",
    ] {
        assert_eq!(audited(&app, action).await, 0, "{action}");
    }
    Browser::sign_in(&app, "admin", ADMIN_PASSWORD).await;

    // the agent's top bar has no Admin link; the admin's has it, current in the console
    let html = agent.page("/inbox").await;
    assert!(select(&html, "nav#sections a[href='/admin/rules']").is_empty());
    let html = admin(&app).await.page("/admin/rules").await;
    assert_eq!(
        select(
            &html,
            "nav#sections a[href='/admin/rules'][aria-current=page]"
        )
        .len(),
        1
    );
    let sub: Vec<String> = select(&html, "nav#admin-nav a")
        .iter()
        .map(|a| a.value().attr("href").unwrap().to_owned())
        .collect();
    assert_eq!(
        sub,
        [
            "/admin/rules",
            "/admin/users",
            "/admin/settings",
            "/admin/labels",
            "/admin/channels",
            "/reports",
            "/admin/audit",
            "/canned"
        ]
    );
}

#[tokio::test]
async fn the_console_starts_at_the_rules_and_needs_a_signed_in_admin() {
    let app = TestApp::start().await;
    let browser = admin(&app).await;
    assert_redirect(&browser.get("/admin").await, "/admin/rules");
    let resp = Browser::client()
        .get(app.url("/admin/users"))
        .send()
        .await
        .unwrap();
    assert_redirect(&resp, "/login?next=%2Fadmin%2Fusers");
    // a form posted from another site is refused, even with the admin's cookie
    let resp = Browser::client()
        .post(app.url("/admin/rules/new"))
        .header("Cookie", format!("kefu_session={}", browser.cookie))
        .header("Sec-Fetch-Site", "cross-site")
        .form(&rule_fields("csrf", "0", "contains", "x", "y"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::FORBIDDEN);
    assert!(rules(&app).await.is_empty());
}

// ---------------------------------------------------------------------------------------------
// Rules

#[tokio::test]
async fn an_admin_creates_edits_switches_moves_and_deletes_a_rule_through_the_console() {
    let app = TestApp::start().await;
    let browser = admin(&app).await;
    let html = browser.page("/admin/rules/new").await;
    assert_eq!(
        select(&html, "form#rule-form[action='/admin/rules/new']").len(),
        1
    );
    assert_eq!(
        select(&html, "form#rule-form input[name=enabled][checked]").len(),
        1,
        "a new rule starts enabled"
    );

    let price = create_rule(
        &app,
        &browser,
        &rule_fields(
            "价格",
            "10",
            "contains",
            "价格\r\n多少钱\r\n",
            "我们的价格表：https://example.com/p",
        ),
    )
    .await;
    let rule = rule_by_id(&rules(&app).await, price);
    assert_eq!(rule["name"], "价格");
    assert_eq!(rule["enabled"], true);
    assert_eq!(rule["priority"], 10);
    assert_eq!(rule["match"], "contains");
    assert_eq!(rule["keywords"], json!(["价格", "多少钱"]));
    assert_eq!(rule["action"], "reply");
    assert_eq!(
        rule["reply"],
        json!({ "type": "text", "content": { "text": "我们的价格表：https://example.com/p" } })
    );

    // listed, with what it does
    let html = browser.page("/admin/rules").await;
    let row = format!("table#rules tr.rule[data-id='{price}']");
    assert_eq!(
        text(&select(&html, &format!("{row} .rule-name"))[0]),
        "价格"
    );
    assert_eq!(
        select(&html, &format!("{row} .rule-keywords code")).len(),
        2
    );
    assert!(text(&select(&html, &format!("{row} .rule-reply"))[0]).contains("我们的价格表"));
    assert_eq!(text(&select(&html, &format!("{row} .rule-hits"))[0]), "0");

    // the edit form shows it as saved; saving it changes it whole
    let html = browser.page(&format!("/admin/rules/{price}/edit")).await;
    let form = format!("form#rule-form[action='/admin/rules/{price}/edit']");
    assert_eq!(
        select(&html, &format!("{form} input[name=name]"))[0]
            .value()
            .attr("value"),
        Some("价格")
    );
    assert_eq!(
        text(&select(&html, &format!("{form} textarea[name=keywords]"))[0]),
        "价格\n多少钱"
    );
    assert_eq!(
        select(
            &html,
            &format!("{form} select[name=match] option[selected]")
        )[0]
        .value()
        .attr("value"),
        Some("contains")
    );
    let resp = browser
        .post_form(
            &format!("/admin/rules/{price}/edit"),
            &[
                ("name", "Price list"),
                ("priority", "20"),
                ("match", "exact"),
                ("keywords", "price"),
                ("action", "handoff"),
                ("reply_type", "link"),
                ("link_title", "Prices"),
                ("link_description", "All of them"),
                ("link_url", "https://example.com/p"),
                ("link_thumb_url", "https://example.com/p.png"),
            ],
        )
        .await;
    assert_redirect(&resp, "/admin/rules");
    let rule = rule_by_id(&rules(&app).await, price);
    assert_eq!(rule["name"], "Price list");
    assert_eq!(rule["enabled"], false, "the box was not ticked");
    assert_eq!(rule["priority"], 20);
    assert_eq!(rule["match"], "exact");
    assert_eq!(rule["keywords"], json!(["price"]));
    assert_eq!(rule["action"], "handoff");
    assert_eq!(rule["reply"]["type"], "link");
    assert_eq!(rule["reply"]["content"]["title"], "Prices");

    // switched on and off
    let resp = browser
        .post_form(&format!("/admin/rules/{price}/toggle"), &[])
        .await;
    assert_redirect(&resp, "/admin/rules");
    assert_eq!(rule_by_id(&rules(&app).await, price)["enabled"], true);
    browser
        .post_form(&format!("/admin/rules/{price}/toggle"), &[])
        .await;
    assert_eq!(rule_by_id(&rules(&app).await, price)["enabled"], false);

    // moved: up takes one more than the rule above, down one less than the rule below
    let low = create_rule(
        &app,
        &browser,
        &rule_fields("low", "0", "contains", "a", "A"),
    )
    .await;
    let mid = create_rule(
        &app,
        &browser,
        &rule_fields("mid", "5", "contains", "b", "B"),
    )
    .await;
    assert_eq!(table_order(&browser).await, vec![price, mid, low]);
    let resp = browser
        .post_form(&format!("/admin/rules/{low}/move"), &[("direction", "up")])
        .await;
    assert_redirect(&resp, "/admin/rules");
    assert_eq!(table_order(&browser).await, vec![price, low, mid]);
    assert_eq!(rule_by_id(&rules(&app).await, low)["priority"], 6);
    browser
        .post_form(
            &format!("/admin/rules/{price}/move"),
            &[("direction", "down")],
        )
        .await;
    assert_eq!(table_order(&browser).await, vec![low, price, mid]);
    assert_eq!(rule_by_id(&rules(&app).await, price)["priority"], 5);
    // the top cannot go up, nor the bottom down
    browser
        .post_form(&format!("/admin/rules/{low}/move"), &[("direction", "up")])
        .await;
    browser
        .post_form(
            &format!("/admin/rules/{mid}/move"),
            &[("direction", "down")],
        )
        .await;
    assert_eq!(table_order(&browser).await, vec![low, price, mid]);
    let html = browser.page("/admin/rules").await;
    assert_eq!(
        select(
            &html,
            &format!("tr.rule[data-id='{low}'] form.rule-up button[disabled]")
        )
        .len(),
        1
    );
    let resp = browser
        .post_form(
            &format!("/admin/rules/{low}/move"),
            &[("direction", "sideways")],
        )
        .await;
    assert_refused_page(resp, StatusCode::BAD_REQUEST).await;

    // deleted
    let resp = browser
        .post_form(&format!("/admin/rules/{price}/delete"), &[])
        .await;
    assert_redirect(&resp, "/admin/rules");
    let left: Vec<i64> = rules(&app).await.iter().map(id_of).collect();
    assert_eq!(left, vec![low, mid]);
    let resp = browser
        .post_form(&format!("/admin/rules/{price}/delete"), &[])
        .await;
    assert_refused_page(resp, StatusCode::NOT_FOUND).await;
    assert_eq!(
        browser
            .get(&format!("/admin/rules/{price}/edit"))
            .await
            .status(),
        StatusCode::NOT_FOUND
    );

    assert_eq!(audited(&app, "rule.create").await, 3);
    assert_eq!(audited(&app, "rule.update").await, 1);
    assert_eq!(audited(&app, "rule.adjust").await, 4);
    assert_eq!(audited(&app, "rule.delete").await, 1);
}

#[tokio::test]
async fn a_rule_the_checks_refuse_is_shown_again_with_the_reason_and_nothing_is_saved() {
    let app = TestApp::start().await;
    let browser = admin(&app).await;
    let refusals: Vec<Vec<(&str, &str)>> = vec![
        rule_fields("bad regex", "0", "regex", "([unclosed", "x"),
        rule_fields("", "0", "contains", "x", "y"),
        rule_fields("no keywords", "0", "contains", "", "y"),
        rule_fields("no reply", "0", "contains", "x", ""),
        rule_fields("huge priority", "99999999", "contains", "x", "y"),
        rule_fields("word priority", "high", "contains", "x", "y"),
        vec![
            ("name", "transfer with reply"),
            ("match", "contains"),
            ("keywords", "x"),
            ("action", "transfer_wechat"),
            ("reply_type", "text"),
            ("reply_text", "not allowed"),
        ],
    ];
    for fields in &refusals {
        let resp = browser.post_form("/admin/rules/new", fields).await;
        let html = assert_refused_page(resp, StatusCode::BAD_REQUEST).await;
        // what was typed is still there
        let name = fields.iter().find(|(k, _)| *k == "name").unwrap().1;
        assert_eq!(
            select(&html, "form#rule-form input[name=name]")[0]
                .value()
                .attr("value"),
            Some(name),
            "{fields:?}"
        );
        let keywords = fields.iter().find(|(k, _)| *k == "keywords").unwrap().1;
        assert_eq!(
            text(&select(&html, "form#rule-form textarea[name=keywords]")[0]),
            keywords.trim()
        );
    }
    let resp = browser
        .post_form(
            "/admin/rules/new",
            &rule_fields("bad regex", "0", "regex", "([unclosed", "x"),
        )
        .await;
    let html = assert_refused_page(resp, StatusCode::BAD_REQUEST).await;
    let error = text(&select(&html, "p.error[role=alert]")[0]);
    assert!(error.contains("([unclosed"), "names the keyword: {error}");
    assert_eq!(
        select(&html, "form#rule-form select[name=match] option[selected]")[0]
            .value()
            .attr("value"),
        Some("regex")
    );
    assert!(rules(&app).await.is_empty(), "nothing was saved");
    assert_eq!(audited(&app, "rule.create").await, 0);

    // an edit refused leaves the rule as it was
    let id = create_rule(
        &app,
        &browser,
        &rule_fields("fine", "0", "contains", "x", "y"),
    )
    .await;
    let resp = browser
        .post_form(
            &format!("/admin/rules/{id}/edit"),
            &rule_fields("fine", "0", "regex", "(", "y"),
        )
        .await;
    let html = assert_refused_page(resp, StatusCode::BAD_REQUEST).await;
    assert_eq!(
        select(
            &html,
            &format!("form#rule-form[action='/admin/rules/{id}/edit']")
        )
        .len(),
        1
    );
    assert_eq!(rule_by_id(&rules(&app).await, id)["match"], "contains");
}

#[tokio::test]
async fn the_tester_shows_which_rule_fires_and_what_would_be_sent() {
    let app = TestApp::start().await;
    let browser = admin(&app).await;
    let reply = "价格表 <b>bold</b>\r\n第二行";
    create_rule(
        &app,
        &browser,
        &rule_fields("问价格", "0", "contains", "价格", reply),
    )
    .await;
    create_rule(
        &app,
        &browser,
        &[
            ("name", "找人工"),
            ("enabled", "on"),
            ("priority", "0"),
            ("match", "exact"),
            ("keywords", "人工"),
            ("action", "handoff"),
            ("reply_type", "none"),
        ],
    )
    .await;

    let query = serde_urlencoded::to_string([("text", "请问价格？")]).unwrap();
    let html = browser.page(&format!("/admin/rules/test?{query}")).await;
    let result = select(&html, "#tester-result[data-outcome=reply]");
    assert_eq!(result.len(), 1, "{}", html.html());
    assert_eq!(
        text(&select(&html, "#tester-result #tester-rule")[0]),
        "问价格"
    );
    let sent = text(&select(&html, "#tester-result .tester-reply-text")[0]);
    assert!(sent.contains("价格表 <b>bold</b>"), "as text: {sent}");
    assert!(sent.contains("第二行"));
    assert!(
        select(&html, "#tester-result b").is_empty(),
        "never as markup"
    );
    assert_eq!(
        text(&select(&html, "form#rule-tester textarea[name=text]")[0]),
        "请问价格？",
        "the message stays in the box"
    );

    // the same through a posted form
    let resp = browser
        .post_form("/admin/rules/test", &[("text", "人工")])
        .await;
    assert_eq!(resp.status(), StatusCode::OK);
    let html = Html::parse_document(&resp.text().await.unwrap());
    assert_eq!(
        select(&html, "#tester-result[data-outcome=handoff]").len(),
        1
    );
    assert_eq!(text(&select(&html, "#tester-rule")[0]), "找人工");
    assert!(select(&html, "#tester-result .tester-reply-text").is_empty());

    // nothing matches and no fallback is set: nothing
    let html = browser.page("/admin/rules/test?text=hello").await;
    assert_eq!(
        select(&html, "#tester-result[data-outcome=nothing]").len(),
        1
    );
    assert!(select(&html, "#tester-rule").is_empty());

    // with a fallback, the fallback
    let resp = browser
        .post_form(
            "/admin/settings",
            &settings_fields(&[("hours_enabled", ""), ("fallback", "稍后回复")]),
        )
        .await;
    assert_redirect(&resp, "/admin/settings?done=saved");
    let html = browser.page("/admin/rules/test?text=hello").await;
    assert_eq!(
        select(&html, "#tester-result[data-outcome=fallback]").len(),
        1
    );
    assert_eq!(
        text(&select(&html, "#tester-result .tester-reply-text")[0]),
        "稍后回复"
    );

    // an empty message is not tried
    let resp = browser.get("/admin/rules/test?text=+").await;
    let html = assert_refused_page(resp, StatusCode::BAD_REQUEST).await;
    assert!(select(&html, "#tester-result").is_empty());
}

// ---------------------------------------------------------------------------------------------
// Users

async fn user_id(app: &TestApp, username: &str) -> i64 {
    kefu::store::staff::by_username(app.state().store.pool(), username)
        .await
        .unwrap()
        .unwrap_or_else(|| panic!("no account {username}"))
        .id
}

async fn sign_in_status(app: &TestApp, username: &str, password: &str) -> StatusCode {
    Browser::client()
        .post(app.url("/login"))
        .form(&[("username", username), ("password", password)])
        .send()
        .await
        .unwrap()
        .status()
}

#[tokio::test]
async fn an_admin_adds_an_account_changes_its_role_resets_its_password_and_disables_it() {
    let app = TestApp::start().await;
    let browser = admin(&app).await;
    let resp = browser
        .post_form(
            "/admin/users",
            &[
                ("username", "bob"),
                ("display_name", "Bob <Li>"),
                ("role", "agent"),
                ("password", "bobs-first-password"),
            ],
        )
        .await;
    assert_redirect(&resp, "/admin/users?done=added");
    let html = browser.page("/admin/users?done=added").await;
    assert_eq!(select(&html, "p.notice[role=status]").len(), 1);
    let row = "table#users tr.user[data-username=bob]";
    assert_eq!(
        select(
            &html,
            &format!("{row}[data-role=agent][data-disabled=false]")
        )
        .len(),
        1
    );
    assert_eq!(
        text(&select(&html, &format!("{row} .user-display-name"))[0]),
        "Bob <Li>"
    );
    let bob = user_id(&app, "bob").await;

    let bob_browser = Browser::sign_in(&app, "bob", "bobs-first-password").await;
    let bob_token = kefu::services::accounts::create_token(
        &app.state().store,
        kefu::services::Caller::Cli,
        kefu::services::accounts::AccountRef::Name("bob"),
        "t",
    )
    .await
    .unwrap();
    assert_eq!(
        bob_browser.get("/admin/rules").await.status(),
        StatusCode::FORBIDDEN
    );

    // a role is in force at once
    let resp = browser
        .post_form(&format!("/admin/users/{bob}/role"), &[("role", "admin")])
        .await;
    assert_redirect(&resp, "/admin/users?done=role");
    assert_eq!(
        bob_browser.get("/admin/rules").await.status(),
        StatusCode::OK
    );
    browser
        .post_form(&format!("/admin/users/{bob}/role"), &[("role", "agent")])
        .await;
    assert_eq!(
        bob_browser.get("/admin/rules").await.status(),
        StatusCode::FORBIDDEN
    );
    let resp = browser
        .post_form(&format!("/admin/users/{bob}/role"), &[("role", "owner")])
        .await;
    assert_refused_page(resp, StatusCode::BAD_REQUEST).await;

    // a reset password signs in; the old one and the old sessions no longer do
    let resp = browser
        .post_form(
            &format!("/admin/users/{bob}/password"),
            &[("password", "short")],
        )
        .await;
    assert_refused_page(resp, StatusCode::BAD_REQUEST).await;
    let resp = browser
        .post_form(
            &format!("/admin/users/{bob}/password"),
            &[("password", "bobs-second-password")],
        )
        .await;
    assert_redirect(&resp, "/admin/users?done=password");
    assert_redirect(&bob_browser.get("/inbox").await, "/login?next=%2Finbox");
    assert_eq!(
        sign_in_status(&app, "bob", "bobs-first-password").await,
        StatusCode::UNAUTHORIZED
    );
    let bob_browser = Browser::sign_in(&app, "bob", "bobs-second-password").await;
    assert_eq!(bob_browser.get("/inbox").await.status(), StatusCode::OK);

    // disabled: the session and the token stop working, and signing in is refused
    let conversations = |token: String| {
        let app = &app;
        async move {
            app.client
                .get(app.url("/api/v1/conversations"))
                .bearer_auth(token)
                .send()
                .await
                .unwrap()
                .status()
        }
    };
    assert_eq!(conversations(bob_token.clone()).await, StatusCode::OK);
    let resp = browser
        .post_form(&format!("/admin/users/{bob}/disable"), &[])
        .await;
    assert_redirect(&resp, "/admin/users?done=disabled");
    assert_redirect(&bob_browser.get("/inbox").await, "/login?next=%2Finbox");
    assert_eq!(
        conversations(bob_token.clone()).await,
        StatusCode::UNAUTHORIZED
    );
    assert_ne!(
        sign_in_status(&app, "bob", "bobs-second-password").await,
        StatusCode::SEE_OTHER
    );
    let html = browser.page("/admin/users").await;
    assert_eq!(
        select(
            &html,
            &format!("{row}[data-disabled=true] form.user-enable")
        )
        .len(),
        1
    );

    // enabled again
    let resp = browser
        .post_form(&format!("/admin/users/{bob}/enable"), &[])
        .await;
    assert_redirect(&resp, "/admin/users?done=enabled");
    Browser::sign_in(&app, "bob", "bobs-second-password").await;
    assert_eq!(conversations(bob_token).await, StatusCode::OK);

    assert_eq!(audited(&app, "staff.add").await, 1);
    assert_eq!(audited(&app, "staff.role").await, 2);
    assert_eq!(audited(&app, "staff.passwd").await, 1);
    assert_eq!(audited(&app, "staff.disable").await, 1);
    assert_eq!(audited(&app, "staff.enable").await, 1);
}

#[tokio::test]
async fn a_new_account_is_checked_and_a_refused_one_keeps_what_was_typed() {
    let app = TestApp::start().await;
    let browser = admin(&app).await;
    let refusals: [(&[(&str, &str)], StatusCode); 4] = [
        (
            &[
                ("username", "with space"),
                ("display_name", "Kept"),
                ("role", "agent"),
                ("password", "long-enough-1"),
            ],
            StatusCode::BAD_REQUEST,
        ),
        (
            &[
                ("username", "carol"),
                ("display_name", "Kept"),
                ("role", "agent"),
                ("password", "short"),
            ],
            StatusCode::BAD_REQUEST,
        ),
        (
            &[
                ("username", "carol"),
                ("display_name", "Kept"),
                ("role", "boss"),
                ("password", "long-enough-1"),
            ],
            StatusCode::BAD_REQUEST,
        ),
        (
            &[
                ("username", "admin"),
                ("display_name", "Kept"),
                ("role", "agent"),
                ("password", "long-enough-1"),
            ],
            StatusCode::CONFLICT,
        ),
    ];
    for (fields, status) in refusals {
        let resp = browser.post_form("/admin/users", fields).await;
        let html = assert_refused_page(resp, status).await;
        assert_eq!(
            select(&html, "form#user-new input[name=display_name]")[0]
                .value()
                .attr("value"),
            Some("Kept")
        );
        assert_eq!(
            select(&html, "form#user-new input[name=password]")[0]
                .value()
                .attr("value"),
            None,
            "a password is never sent back"
        );
    }
    assert_eq!(audited(&app, "staff.add").await, 0);
    let html = browser.page("/admin/users").await;
    assert_eq!(select(&html, "table#users tr.user").len(), 1);
}

#[tokio::test]
async fn an_admin_cannot_disable_or_demote_themself() {
    let app = TestApp::start().await;
    let browser = admin(&app).await;
    let me = user_id(&app, "admin").await;
    let resp = browser
        .post_form(&format!("/admin/users/{me}/disable"), &[])
        .await;
    assert_refused_page(resp, StatusCode::BAD_REQUEST).await;
    let resp = browser
        .post_form(&format!("/admin/users/{me}/role"), &[("role", "agent")])
        .await;
    assert_refused_page(resp, StatusCode::BAD_REQUEST).await;
    assert_eq!(
        browser.get("/admin/users").await.status(),
        StatusCode::OK,
        "still an admin"
    );
    let resp = browser.post_form("/admin/users/9999/disable", &[]).await;
    assert_refused_page(resp, StatusCode::NOT_FOUND).await;

    // another admin can be demoted and disabled
    staff(&app, "carol", Role::Admin).await;
    let carol = user_id(&app, "carol").await;
    let resp = browser
        .post_form(&format!("/admin/users/{carol}/role"), &[("role", "agent")])
        .await;
    assert_redirect(&resp, "/admin/users?done=role");
    let resp = browser
        .post_form(&format!("/admin/users/{carol}/disable"), &[])
        .await;
    assert_redirect(&resp, "/admin/users?done=disabled");
    assert_eq!(audited(&app, "staff.disable").await, 1);
    assert_eq!(audited(&app, "staff.role").await, 1);

    // resetting one's own password keeps the session it was done from
    let resp = browser
        .post_form(
            &format!("/admin/users/{me}/password"),
            &[("password", "a-new-admin-password")],
        )
        .await;
    assert_redirect(&resp, "/admin/users?done=password");
    assert_eq!(browser.get("/admin/users").await.status(), StatusCode::OK);
}

// ---------------------------------------------------------------------------------------------
// Settings

#[tokio::test]
async fn settings_saved_in_the_console_are_what_the_api_reads_and_the_form_shows() {
    let app = TestApp::start().await;
    let browser = admin(&app).await;
    let html = browser.page("/admin/settings").await;
    let form = "form#automation-settings";
    assert_eq!(
        select(&html, &format!("{form} input[type=checkbox][name=day]")).len(),
        7
    );
    assert_eq!(
        select(&html, &format!("{form} input[type=time][name=start]")).len(),
        1
    );
    assert_eq!(
        text(&select(&html, &format!("{form} textarea[name=welcome]"))[0]),
        "",
        "out of the box no welcome"
    );

    let resp = browser
        .post_form("/admin/settings", &settings_fields(&[]))
        .await;
    assert_redirect(&resp, "/admin/settings?done=saved");
    let saved = app.get_json("/api/v1/settings/automation").await;
    assert_eq!(
        saved,
        json!({
            "welcome": "欢迎光临 <b>kefu</b>",
            "welcome_by_source": [
                { "session_from": "order", "text": "关于您的订单？" },
                { "session_from": "ad", "text": "Hello from the ad" },
            ],
            "welcome_every_minutes": 30,
            "fallback": "稍等，马上有人回复您。",
            "fallback_every_minutes": 45,
            "away": "我们下班了",
            "away_every_minutes": 90,
            "hours": { "enabled": true, "days": [1, 2, 3], "start": "09:30", "end": "18:00", "utc_offset": "+08:00" },
            "assignment": { "mode": "auto", "cap": 7 },
            // each channel's own messages (added with channels): none with one channel
            "by_channel": [],
        })
    );
    assert_eq!(audited(&app, "settings.automation").await, 1);

    let html = browser.page("/admin/settings?done=saved").await;
    assert_eq!(select(&html, "p.notice[role=status]").len(), 1);
    assert_eq!(
        text(&select(&html, &format!("{form} textarea[name=welcome]"))[0]),
        "欢迎光临 <b>kefu</b>"
    );
    assert!(select(&html, &format!("{form} b")).is_empty());
    let days: Vec<&str> = select(&html, &format!("{form} input[name=day][checked]"))
        .iter()
        .map(|d| d.value().attr("value").unwrap())
        .collect();
    assert_eq!(days, ["1", "2", "3"]);
    assert_eq!(
        select(
            &html,
            &format!("{form} select[name=assignment_mode] option[selected]")
        )[0]
        .value()
        .attr("value"),
        Some("auto")
    );
    assert_eq!(
        select(&html, &format!("{form} input[name=start]"))[0]
            .value()
            .attr("value"),
        Some("09:30")
    );
    assert_eq!(
        text(&select(&html, &format!("{form} textarea[name=welcome_by_source]"))[0]),
        "order = 关于您的订单？\nad = Hello from the ad"
    );

    // saving what the form shows changes nothing; empty texts turn the messages off
    let resp = browser
        .post_form(
            "/admin/settings",
            &settings_fields(&[
                ("welcome", ""),
                ("fallback", "  "),
                ("away", ""),
                ("hours_enabled", ""),
            ]),
        )
        .await;
    assert_redirect(&resp, "/admin/settings?done=saved");
    let saved = app.get_json("/api/v1/settings/automation").await;
    assert_eq!(saved["welcome"], Value::Null);
    assert_eq!(saved["fallback"], Value::Null);
    assert_eq!(saved["away"], Value::Null);
    assert_eq!(saved["hours"]["enabled"], false);
}

#[tokio::test]
async fn invalid_settings_are_refused_with_the_reason_and_nothing_changes() {
    let app = TestApp::start().await;
    let browser = admin(&app).await;
    let before = app.get_json("/api/v1/settings/automation").await;
    let refusals: [&[(&str, &str)]; 7] = [
        &[("start", "18:00"), ("end", "09:00")],
        &[("utc_offset", "Asia/Shanghai")],
        &[("assignment_cap", "lots")],
        &[("assignment_cap", "0")],
        &[("welcome_every_minutes", "0")],
        &[("welcome_by_source", "no equals sign here")],
        &[("assignment_mode", "chaos")],
    ];
    for changes in refusals {
        let resp = browser
            .post_form("/admin/settings", &settings_fields(changes))
            .await;
        let html = assert_refused_page(resp, StatusCode::BAD_REQUEST).await;
        assert_eq!(
            text(&select(&html, "form#automation-settings textarea[name=welcome]")[0]),
            "欢迎光临 <b>kefu</b>",
            "what was typed is kept: {changes:?}"
        );
    }
    assert_eq!(app.get_json("/api/v1/settings/automation").await, before);
    assert_eq!(audited(&app, "settings.automation").await, 0);
}

// ---------------------------------------------------------------------------------------------
// The audit log

#[tokio::test]
async fn the_audit_log_lists_each_change_newest_first_with_who_made_it_as_text() {
    let app = TestApp::start().await;
    kefu::services::accounts::add(
        &app.state().store,
        kefu::services::Caller::Cli,
        kefu::services::accounts::NewAccount {
            username: "eve",
            display_name: "<i>Eve</i>",
            role: Role::Admin,
            password: PASSWORD,
        },
    )
    .await
    .unwrap();
    let eve = Browser::sign_in(&app, "eve", PASSWORD).await;
    create_rule(
        &app,
        &eve,
        &rule_fields("<script>alert(1)</script>", "0", "contains", "x", "y"),
    )
    .await;
    eve.post_form("/admin/settings", &settings_fields(&[]))
        .await;
    eve.post_form(
        "/admin/users",
        &[
            ("username", "frank"),
            ("role", "agent"),
            ("password", "long-enough-1"),
        ],
    )
    .await;

    let html = eve.page("/admin/audit").await;
    let rows = select(&html, "table#audit tbody tr.entry");
    let actions: Vec<&str> = rows
        .iter()
        .map(|r| r.value().attr("data-action").unwrap())
        .take(3)
        .collect();
    assert_eq!(actions, ["staff.add", "settings.automation", "rule.create"]);
    for row in &rows[..3] {
        let actor = row
            .select(&Selector::parse(".audit-actor").unwrap())
            .next()
            .unwrap();
        assert_eq!(text(&actor), "<i>Eve</i>");
        assert!(
            row.select(&Selector::parse("time[datetime]").unwrap())
                .next()
                .is_some()
        );
    }
    assert!(
        select(&html, "table#audit i, main script").is_empty(),
        "as text"
    );
    let rule_row = &rows[2];
    let detail = text(
        &rule_row
            .select(&Selector::parse(".audit-detail").unwrap())
            .next()
            .unwrap(),
    );
    assert!(detail.contains("<script>alert(1)</script>"), "{detail}");
    assert_eq!(
        text(
            &rows[0]
                .select(&Selector::parse(".audit-target").unwrap())
                .next()
                .unwrap()
        ),
        "frank"
    );
    // the settings' detail is long: cut in the cell, whole in its title
    let settings = rows[1]
        .select(&Selector::parse(".audit-detail").unwrap())
        .next()
        .unwrap();
    let title = settings.value().attr("title").expect("the whole detail");
    assert!(title.contains("\"welcome\""), "{title}");
    assert!(text(&settings).chars().count() < title.chars().count());
    assert!(select(&html, "a#audit-more").is_empty(), "one page");
}

#[tokio::test]
async fn the_audit_log_pages_a_hundred_at_a_time() {
    let app = TestApp::start().await;
    let store = &app.state().store;
    let mut tx = store.begin_write().await.unwrap();
    for i in 0..230 {
        kefu::store::audit::record(
            &mut tx,
            &Actor::system(),
            "test.entry",
            &format!("t{i}"),
            None,
            1_000 + i,
        )
        .await
        .unwrap();
    }
    tx.commit().await.unwrap();
    let browser = admin(&app).await;
    let mut seen: Vec<i64> = Vec::new();
    let mut path = "/admin/audit".to_owned();
    let mut pages = 0;
    loop {
        let html = browser.page(&path).await;
        pages += 1;
        let ids: Vec<i64> = select(&html, "table#audit tr.entry")
            .iter()
            .map(|r| r.value().attr("data-id").unwrap().parse().unwrap())
            .collect();
        assert!(ids.len() <= 100);
        assert!(ids.windows(2).all(|w| w[0] > w[1]), "newest first");
        seen.extend(ids);
        match select(&html, "a#audit-more").first() {
            Some(a) => path = a.value().attr("href").unwrap().to_owned(),
            None => break,
        }
    }
    let total: i64 = sqlx::query_scalar("select count(*) from audit_log")
        .fetch_one(store.pool())
        .await
        .unwrap();
    assert_eq!(seen.len() as i64, total, "every entry once");
    assert!(seen.windows(2).all(|w| w[0] > w[1]));
    assert_eq!(pages, (total + 99) / 100);
}
