//! The console and the words of the Chinese UI (issue 12, faults 6 and 8): deleting a rule
//! asks first and can be undone; the rule form marks each reply type's fields; the audit log
//! reads as sentences with dates; every page of the console, sign-in and the start page, and
//! the main refusals of the API, say nothing in English to a Chinese viewer.

use kefu::domain::Role;
use reqwest::StatusCode;
use scraper::Html;
use serde_json::{Value, json};

use crate::canned::{Browser, assert_redirect, assert_refused_page, audited, select, text};
use std::time::Duration;

use kefu::wechat::fake::{FakeConfig, FakeWechat};

use crate::helpers::{ADMIN_PASSWORD, APPID, TestApp, add_staff, id_of, openid};

async fn admin(app: &TestApp) -> Browser {
    Browser::sign_in(app, "admin", ADMIN_PASSWORD).await
}

/// Creates a text-reply rule through the console; returns its id.
async fn create_rule(app: &TestApp, browser: &Browser, name: &str, keyword: &str) -> i64 {
    let resp = browser
        .post_form(
            "/admin/rules/new",
            &[
                ("name", name),
                ("enabled", "on"),
                ("priority", "0"),
                ("match", "contains"),
                ("keywords", keyword),
                ("action", "reply"),
                ("reply_type", "text"),
                ("reply_text", "您好，价格见商品页。"),
            ],
        )
        .await;
    assert_redirect(&resp, "/admin/rules");
    rule_ids(app).await.into_iter().max().expect("a rule")
}

async fn rule_ids(app: &TestApp) -> Vec<i64> {
    app.get_json("/api/v1/rules").await["rules"]
        .as_array()
        .expect("rules")
        .iter()
        .map(id_of)
        .collect()
}

/// What the tester says a text gets: the outcome (`reply` when a rule fires).
async fn tester_outcome(browser: &Browser, text: &str) -> String {
    let query = serde_urlencoded::to_string([("text", text)]).unwrap();
    let html = browser.page(&format!("/admin/rules/test?{query}")).await;
    select(&html, "#tester-result")[0]
        .value()
        .attr("data-outcome")
        .unwrap()
        .to_owned()
}

// ---------------------------------------------------------------------------------------------
// Rules: delete with confirmation, undo

#[tokio::test]
async fn deleting_a_rule_asks_first_and_the_deletion_can_be_undone() {
    let app = TestApp::start().await;
    let browser = admin(&app).await;
    let id = create_rule(&app, &browser, "问价格", "多少钱").await;
    create_rule(&app, &browser, "问发货", "发货").await;
    assert_eq!(tester_outcome(&browser, "这个多少钱").await, "reply");

    // the table's Delete does not delete: it opens the dialog (script) or the confirm page
    let html = browser.page("/admin/rules").await;
    let delete = select(&html, &format!("tr.rule[data-id='{id}'] form.rule-delete"));
    assert_eq!(delete.len(), 1);
    assert_eq!(delete[0].value().attr("method"), Some("get"));
    assert_eq!(delete[0].value().attr("data-name"), Some("问价格"));
    assert_eq!(select(&html, "dialog#rule-delete-dialog form").len(), 1);
    assert!(select(&html, "#rule-undo, #rules-trash").is_empty());
    let confirm = browser.page(&format!("/admin/rules/{id}/delete")).await;
    let form = select(&confirm, "form#rule-delete-confirm");
    assert_eq!(form[0].value().attr("method"), Some("post"));
    assert_eq!(
        form[0].value().attr("action"),
        Some(format!("/admin/rules/{id}/delete").as_str())
    );
    assert!(text(&form[0]).contains("问价格"), "{}", text(&form[0]));
    assert_eq!(rule_ids(&app).await.len(), 2, "asking deletes nothing");

    // confirmed: gone for the bot and the API, with an undo at hand and in the trash
    let resp = browser
        .post_form(&format!("/admin/rules/{id}/delete"), &[])
        .await;
    assert_redirect(&resp, "/admin/rules");
    assert!(!rule_ids(&app).await.contains(&id));
    assert_ne!(tester_outcome(&browser, "这个多少钱").await, "reply");
    let resp = app.get(&format!("/api/v1/rules/{id}")).await;
    assert_eq!(resp.status(), StatusCode::NOT_FOUND);
    let html = browser.page("/admin/rules").await;
    let undo = select(&html, "form#rule-undo");
    assert_eq!(
        undo[0].value().attr("action"),
        Some(format!("/admin/rules/{id}/restore").as_str())
    );
    assert!(text(&undo[0]).contains("问价格"), "{}", text(&undo[0]));
    assert_eq!(
        select(
            &html,
            &format!("#rules-trash li.trashed-rule[data-id='{id}']")
        )
        .len(),
        1
    );

    // undone: the same rule, firing again
    let resp = browser
        .post_form(&format!("/admin/rules/{id}/restore"), &[])
        .await;
    assert_redirect(&resp, "/admin/rules");
    assert!(rule_ids(&app).await.contains(&id));
    assert_eq!(tester_outcome(&browser, "这个多少钱").await, "reply");
    let rule = app.get_json(&format!("/api/v1/rules/{id}")).await;
    assert_eq!(rule["name"], "问价格");
    assert_eq!(audited(&app, "rule.delete").await, 1);
    assert_eq!(audited(&app, "rule.restore").await, 1);
    let html = browser.page("/admin/rules").await;
    assert!(select(&html, "#rule-undo, #rules-trash").is_empty());
    // a rule not in the trash cannot be restored
    let resp = browser
        .post_form(&format!("/admin/rules/{id}/restore"), &[])
        .await;
    assert_refused_page(resp, StatusCode::NOT_FOUND).await;
}

#[tokio::test]
async fn the_trash_keeps_the_latest_deleted_rules_only() {
    let app = TestApp::start().await;
    let browser = admin(&app).await;
    let keeps = kefu::store::rules::TRASH_KEEPS as usize;
    let mut ids = Vec::new();
    for i in 0..keeps + 2 {
        ids.push(create_rule(&app, &browser, &format!("规则{i}"), &format!("词{i}")).await);
    }
    for id in &ids {
        let resp = browser
            .post_form(&format!("/admin/rules/{id}/delete"), &[])
            .await;
        assert_redirect(&resp, "/admin/rules");
    }
    let html = browser.page("/admin/rules").await;
    let trashed: Vec<i64> = select(&html, "#rules-trash li.trashed-rule")
        .iter()
        .map(|li| li.value().attr("data-id").unwrap().parse().unwrap())
        .collect();
    let latest: Vec<i64> = ids.iter().rev().take(keeps).copied().collect();
    assert_eq!(trashed, latest, "latest first");
    let resp = browser
        .post_form(&format!("/admin/rules/{}/restore", ids[0]), &[])
        .await;
    assert_refused_page(resp, StatusCode::NOT_FOUND).await;
}

// ---------------------------------------------------------------------------------------------
// The rule form

#[tokio::test]
async fn the_rule_form_marks_each_reply_types_fields_for_its_script() {
    let app = TestApp::start().await;
    let browser = admin(&app).await;
    let html = browser.page("/admin/rules/new").await;
    let types: Vec<&str> = select(&html, "form#rule-form fieldset[data-reply-type]")
        .iter()
        .map(|f| f.value().attr("data-reply-type").unwrap())
        .collect();
    assert_eq!(types, ["text", "link", "miniprogrampage", "image"]);
    // every field is in the page (it works without the script, which only hides them)
    assert!(select(&html, "fieldset[hidden]").is_empty());
    assert_eq!(
        select(&html, "script[src='/static/admin.js'][type=module]").len(),
        1
    );
    let resp = browser.get("/static/admin.js").await;
    assert_eq!(resp.status(), StatusCode::OK);
}

/// Posts the rule form with an image, as the browser does (`multipart/form-data`).
async fn post_rule_with_image(
    app: &TestApp,
    browser: &Browser,
    path: &str,
    fields: &[(&str, &str)],
    image: Vec<u8>,
) -> reqwest::Response {
    let mut form = reqwest::multipart::Form::new();
    for (k, v) in fields {
        form = form.text(k.to_string(), v.to_string());
    }
    form = form
        .part(
            "image_file",
            reqwest::multipart::Part::bytes(image)
                .file_name("photo.png")
                .mime_str("image/png")
                .unwrap(),
        )
        // a file input left empty
        .part(
            "card_file",
            reqwest::multipart::Part::bytes(Vec::new()).file_name(""),
        );
    Browser::client()
        .post(app.url(path))
        .header("Cookie", format!("kefu_session={}", browser.cookie))
        .header("Sec-Fetch-Site", "same-origin")
        .multipart(form)
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn an_image_rule_sends_kefus_own_copy_uploading_it_for_every_message() {
    const SECRET: &str = "kefu-fake-app-secret-for-tests";
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
    let browser = admin(&app).await;
    let photo = include_bytes!("../../static/demo-photo.png").to_vec();
    let fields = [
        ("name", "发图片"),
        ("enabled", "on"),
        ("priority", "0"),
        ("match", "contains"),
        ("keywords", "看图"),
        ("action", "reply"),
        ("reply_type", "image"),
        ("image_media_id", ""),
    ];
    // not an image: refused, nothing saved
    let resp = post_rule_with_image(
        &app,
        &browser,
        "/admin/rules/new",
        &fields,
        b"%PDF-1.4".to_vec(),
    )
    .await;
    assert_refused_page(resp, StatusCode::BAD_REQUEST).await;
    assert!(rule_ids(&app).await.is_empty());

    let resp =
        post_rule_with_image(&app, &browser, "/admin/rules/new", &fields, photo.clone()).await;
    assert_redirect(&resp, "/admin/rules");
    let id = rule_ids(&app).await[0];
    let rule = app.get_json(&format!("/api/v1/rules/{id}")).await;
    assert_eq!(rule["reply"]["type"], "image", "{rule}");
    assert!(rule["reply"]["content"]["media_id"].is_null(), "{rule}");
    // the form shows the image kefu keeps
    let html = browser.page(&format!("/admin/rules/{id}/edit")).await;
    let img = select(&html, "#reply-image-fields img");
    let src = img[0].value().attr("src").unwrap().to_owned();
    let served = browser.get(&src).await;
    assert_eq!(served.status(), StatusCode::OK);
    assert_eq!(served.bytes().await.unwrap().to_vec(), photo);

    // two customers, two messages, each with a fresh upload of kefu's copy (WeChat's
    // media_id expire after three days: a rule's image keeps working however old it is)
    for who in ["pic-a", "pic-b"] {
        app.push_text(&openid(who), "我想看图").await;
    }
    let sent = fake.wait_for_sent(2, Duration::from_secs(20)).await;
    let mut media_ids = Vec::new();
    for message in &sent {
        assert_eq!(message.msgtype, "image", "{:?}", message.body);
        let media_id = message.body["image"]["media_id"]
            .as_str()
            .unwrap()
            .to_owned();
        let (_, bytes) = fake.uploaded(&media_id).expect("uploaded to WeChat");
        assert_eq!(bytes, photo);
        media_ids.push(media_id);
    }
    assert_ne!(media_ids[0], media_ids[1]);

    // an edit without a new image keeps it
    let resp = browser
        .post_form(&format!("/admin/rules/{id}/edit"), &fields)
        .await;
    assert_redirect(&resp, "/admin/rules");
    assert_eq!(browser.get(&src).await.status(), StatusCode::OK);
    // a media_id typed instead replaces it
    let mut typed = fields.to_vec();
    typed.retain(|(k, _)| *k != "image_media_id");
    typed.push(("image_media_id", "MEDIA_FROM_WECHAT"));
    let resp = browser
        .post_form(&format!("/admin/rules/{id}/edit"), &typed)
        .await;
    assert_redirect(&resp, "/admin/rules");
    let rule = app.get_json(&format!("/api/v1/rules/{id}")).await;
    assert_eq!(rule["reply"]["content"]["media_id"], "MEDIA_FROM_WECHAT");
    assert_eq!(browser.get(&src).await.status(), StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn a_cards_cover_can_be_an_uploaded_image_too() {
    const SECRET: &str = "kefu-fake-app-secret-for-tests";
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
    let browser = admin(&app).await;
    let photo = include_bytes!("../../static/demo-photo.png").to_vec();
    let fields = [
        ("name", "发卡片"),
        ("enabled", "on"),
        ("priority", "0"),
        ("match", "contains"),
        ("keywords", "卡片"),
        ("action", "reply"),
        ("reply_type", "miniprogrampage"),
        ("card_title", "查看订单"),
        ("card_pagepath", "pages/order/index"),
        ("card_thumb_media_id", ""),
    ];
    // the image goes in the card's own picker
    let mut form = reqwest::multipart::Form::new();
    for (k, v) in fields {
        form = form.text(k, v);
    }
    form = form
        .part(
            "image_file",
            reqwest::multipart::Part::bytes(Vec::new()).file_name(""),
        )
        .part(
            "card_file",
            reqwest::multipart::Part::bytes(photo.clone())
                .file_name("cover.png")
                .mime_str("image/png")
                .unwrap(),
        );
    let resp = Browser::client()
        .post(app.url("/admin/rules/new"))
        .header("Cookie", format!("kefu_session={}", browser.cookie))
        .header("Sec-Fetch-Site", "same-origin")
        .multipart(form)
        .send()
        .await
        .unwrap();
    assert_redirect(&resp, "/admin/rules");
    app.push_text(&openid("card"), "发个卡片").await;
    let sent = fake.wait_for_sent(1, Duration::from_secs(20)).await;
    assert_eq!(sent[0].msgtype, "miniprogrampage", "{:?}", sent[0].body);
    let card = &sent[0].body["miniprogrampage"];
    assert_eq!(card["title"], "查看订单");
    let thumb = card["thumb_media_id"].as_str().expect("a cover");
    assert_eq!(fake.uploaded(thumb).expect("uploaded").1, photo);
}

// ---------------------------------------------------------------------------------------------
// The audit log

#[tokio::test]
async fn the_audit_log_says_each_change_in_the_viewers_language_with_its_date() {
    let app = TestApp::start().await;
    let (agent, _) = add_staff(&app, "wangfang", "王芳", Role::Agent).await;
    let who = openid("audit");
    app.push_text(&who, "你好").await;
    let conversation = id_of(&app.conversation_of(&who).await);
    let resp = app
        .post_json(
            &format!("/api/v1/conversations/{conversation}/assign"),
            json!({ "assignee": agent }),
        )
        .await;
    assert_eq!(resp.status(), StatusCode::OK);

    let browser = admin(&app).await;
    let said = |html: &Html| {
        let row = select(html, "tr.entry[data-action='conversation.assign']");
        let part = |css: &str| {
            text(
                &row[0]
                    .select(&scraper::Selector::parse(css).unwrap())
                    .next()
                    .unwrap(),
            )
        };
        // the sentence first; the recorded code after it, small, for whoever greps the log
        (
            part(".audit-action .audit-sentence"),
            part(".audit-action code"),
        )
    };
    let zh = browser.page("/admin/audit").await;
    assert_eq!(
        said(&zh),
        (
            format!("把会话 #{conversation} 分配给 王芳"),
            "conversation.assign".to_owned()
        )
    );
    let detail = select(
        &zh,
        "tr.entry[data-action='conversation.assign'] .audit-detail",
    );
    assert_eq!(text(&detail[0]), "王芳", "not `user {agent}`");
    let en = Html::parse_document(
        &browser
            .get_in("/admin/audit", Some("en"))
            .await
            .text()
            .await
            .unwrap(),
    );
    assert_eq!(
        said(&en).0,
        format!("assigned conversation #{conversation} to 王芳")
    );
    // a time with its date, which the page's script keeps whole (`data-full`)
    for time in select(&zh, "tr.entry time[datetime]") {
        assert!(time.value().attr("data-full").is_some());
        let shown = text(&time);
        assert!(
            shown.len() >= 10 && shown.as_bytes()[4] == b'-' && shown.as_bytes()[7] == b'-',
            "{shown}"
        );
    }
}

// ---------------------------------------------------------------------------------------------
// No English in the Chinese UI

/// Words a Chinese page may show in Latin letters: product and protocol names, codes, the
/// names of settings, file types, units, and the user content these tests create (the first
/// account's name `Admin`/`admin`).
const ALLOWED: &[&str] = &[
    "kefu",
    "WeChat",
    "AppID",
    "AppSecret",
    "OpenID",
    "SessionFrom",
    "Token",
    "EncodingAESKey",
    "API",
    "URL",
    "https",
    "http",
    "media_id",
    "JPEG",
    "PNG",
    "GIF",
    "MiB",
    "UTC",
    "HH",
    "MM",
    "Enter",
    "Ctrl",
    "Bearer",
    "Authorization",
    "nginx",
    "Caddy",
    "TLS",
    "Unicode",
    "English",
    "healthz",
    "readyz",
    "metrics",
    "demo",
    "example",
    "com",
    "wechat",
    // user content: the first account kefu makes (admin, "Admin") and the tests' agent
    // and the label of its API tokens
    "Admin",
    "admin",
    "wangfang",
    "tests",
];

/// The English words a page shows a reader: its text and the attributes read out or shown
/// (placeholder, title, aria-label, alt, a button's value), outside `<script>` and `<style>`.
fn english_words(html: &Html) -> Vec<String> {
    let mut shown: Vec<String> = Vec::new();
    for node in html.root_element().descendants() {
        if let Some(t) = node.value().as_text() {
            let inside_code = node.ancestors().any(|a| {
                a.value()
                    .as_element()
                    .is_some_and(|e| matches!(e.name(), "script" | "style"))
            });
            if !inside_code {
                shown.push(t.to_string());
            }
        }
        if let Some(e) = node.value().as_element() {
            for attr in ["placeholder", "title", "aria-label", "alt", "data-template"] {
                if let Some(v) = e.attr(attr) {
                    shown.push(v.to_owned());
                }
            }
            if e.name() == "input" && matches!(e.attr("type"), Some("submit" | "button")) {
                shown.push(e.attr("value").unwrap_or_default().to_owned());
            }
        }
    }
    english_in(&shown.join(" "))
}

/// The words of `text` that are English: runs of two or more Latin letters that are not in
/// `ALLOWED` and not part of a code (a variable such as `KEFU_PUBLIC_URL`, a path, an address,
/// a `snake_case` name, a version).
fn english_in(text: &str) -> Vec<String> {
    let mut found = Vec::new();
    for token in text.split(|c: char| c.is_whitespace() || !c.is_ascii()) {
        // a placeholder such as `{name}` is a code too (read before its braces are trimmed)
        let placeholder = token.contains(['{', '}']);
        let token = token.trim_matches(|c: char| !c.is_ascii_alphanumeric());
        let code = placeholder
            || token.contains(['_', '/', '.', ':', '=', '#', '@'])
            || token.chars().any(|c| c.is_ascii_digit())
            || (token.len() > 1 && token.chars().all(|c| !c.is_ascii_lowercase()));
        if code {
            continue;
        }
        for word in token.split(|c: char| !c.is_ascii_alphabetic()) {
            if word.len() >= 2 && !ALLOWED.contains(&word) {
                found.push(word.to_owned());
            }
        }
    }
    found
}

#[test]
fn the_english_finder_finds_english_and_spares_codes() {
    assert_eq!(
        english_in("请设置 KEFU_PUBLIC_URL（https://kefu.example.com/wechat）"),
        Vec::<String>::new()
    );
    assert_eq!(english_in("用户名 User name"), ["User", "name"]);
    assert_eq!(
        english_in("kefu 0.1.0 · AppID wx1234567890abcdef"),
        Vec::<String>::new()
    );
}

#[tokio::test]
async fn a_chinese_viewer_sees_no_english_on_the_console_sign_in_and_start_pages() {
    let app = TestApp::start().await;
    let browser = admin(&app).await;
    let rule = create_rule(&app, &browser, "问价格", "多少钱").await;
    let gone = create_rule(&app, &browser, "旧规则", "旧").await;
    browser
        .post_form(&format!("/admin/rules/{gone}/delete"), &[])
        .await;
    add_staff(&app, "wangfang", "王芳", Role::Agent).await;
    // the audit log with entries of several kinds
    let who = openid("zh");
    app.push_text(&who, "你好").await;
    let conversation = id_of(&app.conversation_of(&who).await);
    app.post_json(
        &format!("/api/v1/conversations/{conversation}/status"),
        json!({"status": "resolved"}),
    )
    .await;

    let signed_in = [
        "/admin/rules".to_owned(),
        "/admin/rules/new".to_owned(),
        format!("/admin/rules/{rule}/edit"),
        format!("/admin/rules/{rule}/delete"),
        "/admin/rules/test?text=%E5%A4%9A%E5%B0%91%E9%92%B1".to_owned(),
        "/admin/users".to_owned(),
        "/admin/settings".to_owned(),
        "/admin/audit".to_owned(),
        "/canned".to_owned(),
        "/settings".to_owned(),
        "/".to_owned(),
        "/admin/rules/999999/edit".to_owned(),
    ];
    for path in &signed_in {
        let resp = browser.get_in(path, Some("zh-CN,zh;q=0.9")).await;
        let html = Html::parse_document(&resp.text().await.unwrap());
        let english = english_words(&html);
        assert!(english.is_empty(), "{path} shows English: {english:?}");
    }
    let anonymous = Browser::client();
    for path in ["/", "/login", "/no/such/page"] {
        let html = anonymous
            .get(app.url(path))
            .header("Accept-Language", "zh-CN")
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        let english = english_words(&Html::parse_document(&html));
        assert!(english.is_empty(), "{path} shows English: {english:?}");
    }
    // a refused sign-in
    let html = anonymous
        .post(app.url("/login"))
        .header("Accept-Language", "zh-CN")
        .form(&[("username", "admin"), ("password", "wrong-password")])
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let english = english_words(&Html::parse_document(&html));
    assert!(
        english.is_empty(),
        "a refused sign-in shows English: {english:?}"
    );
}

/// POSTs JSON with a bearer token in the Chinese of a browser.
async fn post_zh(app: &TestApp, token: &str, path: &str, body: Value) -> (StatusCode, String) {
    let resp = app
        .client
        .post(app.url(path))
        .bearer_auth(token)
        .header("Accept-Language", "zh-CN,zh;q=0.9,en;q=0.5")
        .json(&body)
        .send()
        .await
        .unwrap();
    let status = resp.status();
    let body: Value = resp.json().await.unwrap();
    (
        status,
        body["error"]["message"]
            .as_str()
            .unwrap_or_default()
            .to_owned(),
    )
}

#[tokio::test]
async fn the_main_refusals_reach_a_chinese_caller_in_chinese() {
    let app = TestApp::start().await;
    let (first, first_token) = add_staff(&app, "first", "先来的", Role::Agent).await;
    let (_, second_token) = add_staff(&app, "second", "后来的", Role::Agent).await;
    let who = openid("refusals");
    app.push_text(&who, "你好").await;
    let conversation = id_of(&app.conversation_of(&who).await);
    let assign = format!("/api/v1/conversations/{conversation}/assign");
    let (status, _) = post_zh(&app, &first_token, &assign, json!({"assignee": first})).await;
    assert_eq!(status, StatusCode::OK);

    // someone else's conversation
    let (status, message) = post_zh(&app, &second_token, &assign, json!({"assignee": null})).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(message, "这个会话已分配给其他人，只有管理员可以重新分配。");
    // without an Accept-Language the API keeps its English
    let resp = app
        .client
        .post(app.url(&assign))
        .bearer_auth(&second_token)
        .json(&json!({"assignee": null}))
        .send()
        .await
        .unwrap();
    let body: Value = resp.json().await.unwrap();
    assert_eq!(
        body["error"]["message"],
        "this conversation is assigned to someone else; only an admin can reassign it"
    );

    // no AppSecret in the tests: kefu cannot send
    let (status, message) = post_zh(
        &app,
        &first_token,
        &format!("/api/v1/conversations/{conversation}/messages"),
        json!({"type": "text", "content": {"text": "您好"}}),
    )
    .await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert!(english_in(&message).is_empty(), "{message}");
    assert!(message.contains("KEFU_WECHAT_SECRET"), "{message}");

    // a conversation or a label that is not there
    for (path, body) in [
        (
            "/api/v1/conversations/999999/status",
            json!({"status": "resolved"}),
        ),
        ("/api/v1/conversations/999999/read", json!({})),
    ] {
        let (status, message) = post_zh(&app, &first_token, path, body).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{path}");
        assert_eq!(message, "没有会话 999999。", "{path}");
    }
    let resp = app
        .client
        .delete(app.url("/api/v1/labels/999999"))
        .bearer_auth(&app.token)
        .header("accept-language", "zh-CN")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::NOT_FOUND);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["error"]["message"], "没有标签 999999。");

    // a bad regex: kefu's own sentence naming the problem and where, not the parser's dump
    let admin_token = kefu::services::accounts::create_token(
        &app.state().store,
        kefu::services::Caller::Cli,
        kefu::services::accounts::AccountRef::Name("admin"),
        "tests",
    )
    .await
    .unwrap();
    let (status, message) = post_zh(
        &app,
        &admin_token,
        "/api/v1/rules",
        json!({"name": "坏的", "match": "regex", "keywords": ["退款(原因"], "action": "handoff"}),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(english_in(&message).is_empty(), "{message}");
    assert!(
        message.contains("退款(原因")
            && message.contains("第 3 个字符")
            && message.contains("右括号"),
        "{message}"
    );
    // an agent asking to change rules
    let (status, message) = post_zh(
        &app,
        &first_token,
        "/api/v1/rules",
        json!({"name": "x", "match": "exact", "keywords": ["x"], "action": "handoff"}),
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert!(english_in(&message).is_empty(), "{message}");
}
