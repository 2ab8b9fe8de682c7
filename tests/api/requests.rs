//! What every request body and every failure looks like from outside: each JSON route refuses
//! a key given twice, a key it does not know, a value of the wrong JSON type and a body that is
//! not JSON, with 400 and a sentence naming the field; the sentences are in the caller's
//! language; and a page that fails is an HTML error page, never the API's JSON, while the API
//! keeps answering JSON for the very same failure.

use kefu::domain::Role;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::canned::{Browser, PASSWORD, select, staff, text};
use crate::helpers::{TestApp, assert_error, assert_error_page, id_of, openid};

/// One JSON route that takes a body: a body it accepts, and where to break it.
struct Route {
    method: Method,
    path: String,
    /// a body the route accepts
    body: Value,
    /// a top-level key of `body` to give twice
    twice: &'static str,
    /// a JSON pointer into `body`, the value to put there instead, and the field's name as
    /// the sentence must give it
    wrong: (&'static str, Value, &'static str),
}

fn route(
    method: Method,
    path: String,
    body: Value,
    twice: &'static str,
    wrong: (&'static str, Value, &'static str),
) -> Route {
    Route {
        method,
        path,
        body,
        twice,
        wrong,
    }
}

/// A server with a conversation, a rule and a canned reply, and every JSON route that takes a
/// body, each with a body it would accept.
async fn routes() -> (TestApp, Vec<Route>) {
    let app = TestApp::start().await;
    app.push_text(&openid("requests"), "hello").await;
    let c = id_of(&app.conversations().await[0]);
    let rule = json!({"name": "hours", "match": "contains", "keywords": ["hours"], "action": "reply",
                      "reply": {"type": "text", "content": {"text": "9 to 6"}}});
    let resp = app.post_json("/api/v1/rules", rule.clone()).await;
    assert_eq!(resp.status(), StatusCode::CREATED);
    let rule_id = id_of(&resp.json::<Value>().await.unwrap());
    let canned = json!({"shortcut": "hi", "body": "Hello!"});
    let resp = app
        .post_json("/api/v1/canned-replies", canned.clone())
        .await;
    assert_eq!(resp.status(), StatusCode::CREATED);
    let canned_id = id_of(&resp.json::<Value>().await.unwrap());
    let conversation = |tail: &str| format!("/api/v1/conversations/{c}/{tail}");
    let routes = vec![
        route(
            Method::POST,
            conversation("status"),
            json!({"status": "pending"}),
            "status",
            ("/status", json!(1), "status"),
        ),
        route(
            Method::POST,
            conversation("assign"),
            json!({"assignee": null}),
            "assignee",
            ("/assignee", json!("alice"), "assignee"),
        ),
        route(
            Method::POST,
            conversation("handler"),
            json!({"handler": "human"}),
            "handler",
            ("/handler", json!(["human"]), "handler"),
        ),
        route(
            Method::POST,
            conversation("messages"),
            json!({"type": "note", "content": {"text": "for colleagues"}}),
            "type",
            ("/content/text", json!(5), "content.text"),
        ),
        route(
            Method::POST,
            "/api/v1/rules".into(),
            rule.clone(),
            "name",
            ("/reply/content/text", json!(true), "reply.content.text"),
        ),
        route(
            Method::PUT,
            format!("/api/v1/rules/{rule_id}"),
            rule.clone(),
            "keywords",
            ("/keywords/0", json!(7), "keywords[0]"),
        ),
        route(
            Method::POST,
            "/api/v1/rules/test".into(),
            json!({"text": "hours?"}),
            "text",
            ("/text", json!({"t": 1}), "text"),
        ),
        route(
            Method::PUT,
            "/api/v1/settings/automation".into(),
            json!({"welcome": "hi", "hours": {"enabled": false}}),
            "welcome",
            ("/hours/enabled", json!("yes"), "hours.enabled"),
        ),
        route(
            Method::POST,
            "/api/v1/canned-replies".into(),
            json!({"shortcut": "bye", "body": "Bye!", "shared": false}),
            "shortcut",
            ("/shared", json!("true"), "shared"),
        ),
        route(
            Method::PUT,
            format!("/api/v1/canned-replies/{canned_id}"),
            canned,
            "body",
            ("/body", json!(null), "body"),
        ),
        route(
            Method::PUT,
            "/api/v1/settings/automation".into(),
            json!({"welcome": "hi", "assignment": {"mode": "manual"}}),
            "welcome",
            // an inner object given as an array (serde would read it by position)
            ("/assignment", json!([["manual"]]), "assignment"),
        ),
    ];
    (app, routes)
}

/// Sends `body` as it is, with `content_type`.
async fn send_raw(
    app: &TestApp,
    route: &Route,
    body: String,
    content_type: &str,
    accept_language: Option<&str>,
) -> reqwest::Response {
    let mut req = app
        .client
        .request(route.method.clone(), app.url(&route.path))
        .bearer_auth(&app.token)
        .header(reqwest::header::CONTENT_TYPE, content_type)
        .body(body);
    if let Some(lang) = accept_language {
        req = req.header(reqwest::header::ACCEPT_LANGUAGE, lang);
    }
    req.send().await.expect("the API answers")
}

/// Asserts a 400 `invalid_request` whose sentence contains `words`; returns the sentence.
async fn assert_refused(resp: reqwest::Response, words: &str, case: &str) -> String {
    let body = assert_error(resp, StatusCode::BAD_REQUEST).await;
    assert_eq!(body["error"]["code"], "invalid_request", "{case}: {body}");
    let message = body["error"]["message"].as_str().unwrap().to_owned();
    assert!(
        message.contains(words),
        "{case}: {message:?} should contain {words:?}"
    );
    message
}

/// `body` with `key` given twice (the same value both times: only the repetition is wrong).
fn with_key_twice(body: &Value, key: &str) -> String {
    let text = body.to_string();
    let repeated = format!("{{{}:{},", json!(key), body[key]);
    text.replacen('{', &repeated, 1)
}

#[tokio::test]
async fn every_json_route_refuses_a_key_given_twice_naming_it() {
    let (app, routes) = routes().await;
    for r in &routes {
        let case = format!("{} {} with {:?} twice", r.method, r.path, r.twice);
        let body = with_key_twice(&r.body, r.twice);
        let resp = send_raw(&app, r, body, "application/json", None).await;
        let sentence = assert_refused(resp, &format!("`{}`", r.twice), &case).await;
        assert!(sentence.contains("twice"), "{case}: {sentence}");
    }
    // nested keys too
    let messages = &routes[3];
    let body = r#"{"type": "note", "content": {"text": "a", "text": "b"}}"#;
    let resp = send_raw(&app, messages, body.into(), "application/json", None).await;
    assert_refused(resp, "`content.text`", "a nested key twice").await;
    assert!(
        app.messages(id_of(&app.conversations().await[0]))
            .await
            .len()
            == 1
    );
}

#[tokio::test]
async fn every_json_route_refuses_a_value_of_the_wrong_type_naming_the_field() {
    let (app, routes) = routes().await;
    for r in &routes {
        let (pointer, value, field) = &r.wrong;
        let case = format!("{} {} with {pointer} = {value}", r.method, r.path);
        let mut body = r.body.clone();
        *body
            .pointer_mut(pointer)
            .unwrap_or_else(|| panic!("{case}")) = value.clone();
        let resp = send_raw(&app, r, body.to_string(), "application/json", None).await;
        assert_refused(resp, &format!("`{field}`"), &case).await;
    }
}

#[tokio::test]
async fn every_json_route_refuses_a_key_it_does_not_know_naming_it() {
    let (app, routes) = routes().await;
    for r in &routes {
        let case = format!("{} {} with an unknown key", r.method, r.path);
        let mut body = r.body.clone();
        body["colour"] = json!("blue");
        let resp = send_raw(&app, r, body.to_string(), "application/json", None).await;
        assert_refused(resp, "`colour`", &case).await;
    }
    // inside a reply's content as well, by its whole path
    let mut rule = routes[4].body.clone();
    rule["reply"]["content"]["colour"] = json!("blue");
    let resp = send_raw(&app, &routes[4], rule.to_string(), "application/json", None).await;
    assert_refused(resp, "`reply.content.colour`", "an unknown key in a reply").await;
    let resp = app
        .post_json(
            &routes[3].path,
            json!({"type": "note", "content": {"text": "fine", "unread": 1}}),
        )
        .await;
    assert_refused(resp, "`content.unread`", "a note has no unread").await;
    // the fields an answer shows but kefu fills itself may be sent back as they were read
    let image = json!({"name": "photo", "match": "exact", "keywords": ["photo"], "action": "reply",
                       "reply": {"type": "image", "content": {"media_id": "m-1", "url": null}}});
    let resp = app.post_json("/api/v1/rules", image).await;
    assert_eq!(
        resp.status(),
        StatusCode::CREATED,
        "{}",
        resp.text().await.unwrap()
    );
}

#[tokio::test]
async fn every_json_route_refuses_a_body_that_is_not_a_json_object() {
    let (app, routes) = routes().await;
    for r in &routes {
        let case = format!("{} {}", r.method, r.path);
        for (body, content_type) in [
            ("{", "application/json"),
            ("", "application/json"),
            ("[1, 2]", "application/json"),
            ("\"status\"", "application/json"),
            (&*r.body.to_string(), "text/plain"),
        ] {
            let resp = send_raw(&app, r, body.to_owned(), content_type, None).await;
            let status = resp.status();
            assert_eq!(
                status,
                StatusCode::BAD_REQUEST,
                "{case}: {body:?} as {content_type}"
            );
            assert_error(resp, StatusCode::BAD_REQUEST).await;
        }
        // and each accepts the body it was given (the refusals were for the reasons above)
        let resp = send_raw(&app, r, r.body.to_string(), "application/json", None).await;
        assert!(
            resp.status().is_success(),
            "{case}: {}",
            resp.text().await.unwrap()
        );
    }
}

#[tokio::test]
async fn a_chinese_caller_reads_the_apis_refusals_in_chinese() {
    let (app, routes) = routes().await;
    let zh = Some("zh-CN,zh;q=0.9");
    // the shape of the body
    let r = &routes[0];
    let resp = send_raw(&app, r, r#"{"status": 1}"#.into(), "application/json", zh).await;
    let sentence = assert_refused(resp, "`status`", "a wrong type, in Chinese").await;
    assert_eq!(sentence, "字段 `status` 必须是字符串。");
    // a rule's checks
    let rules = &routes[4];
    let bad = json!({"name": "n", "match": "contains", "keywords": [], "action": "handoff"});
    let resp = send_raw(&app, rules, bad.to_string(), "application/json", zh).await;
    let sentence = assert_refused(resp, "关键词", "no keywords, in Chinese").await;
    assert_eq!(sentence, "规则至少需要一个关键词。");
    // a canned reply's checks
    let canned = &routes[8];
    let bad = json!({"shortcut": "two words", "body": "x"});
    let resp = send_raw(&app, canned, bad.to_string(), "application/json", zh).await;
    assert_refused(resp, "快捷词", "a bad shortcut, in Chinese").await;
    // a script that states no language reads English, as before
    let resp = send_raw(&app, r, r#"{"status": 1}"#.into(), "application/json", None).await;
    let sentence = assert_refused(resp, "`status`", "a wrong type, in English").await;
    assert_eq!(sentence, "The field `status` must be a string.");
}

#[tokio::test]
async fn the_rule_form_and_the_settings_form_say_what_is_wrong_in_chinese_to_a_chinese_admin() {
    let app = TestApp::start().await;
    let admin = Browser::sign_in(&app, "admin", crate::helpers::ADMIN_PASSWORD).await;
    let resp = admin.post_form("/settings", &[("locale", "zh")]).await;
    assert_eq!(resp.status(), StatusCode::SEE_OTHER);
    let refused = |resp: reqwest::Response| async move {
        let status = resp.status();
        let html = scraper::Html::parse_document(&resp.text().await.unwrap());
        assert_eq!(status, StatusCode::BAD_REQUEST, "{}", html.html());
        let errors = select(&html, "p.error[role=alert]");
        assert_eq!(errors.len(), 1, "{}", html.html());
        text(&errors[0])
    };
    let rule = |keywords: &'static str, kind: &'static str| {
        vec![
            ("name", "规则"),
            ("enabled", "on"),
            ("priority", "0"),
            ("match", kind),
            ("keywords", keywords),
            ("action", "reply"),
            ("reply_type", "text"),
            ("reply_text", "您好"),
        ]
    };
    let sentence = refused(
        admin
            .post_form("/admin/rules/new", &rule("", "contains"))
            .await,
    )
    .await;
    assert_eq!(sentence, "规则未保存：规则至少需要一个关键词。");
    let sentence = refused(
        admin
            .post_form("/admin/rules/new", &rule("！？", "contains"))
            .await,
    )
    .await;
    assert_eq!(
        sentence,
        "规则未保存：关键词“！？”只有空格、标点或表情，匹配时会被忽略。"
    );
    let sentence = refused(
        admin
            .post_form("/admin/rules/new", &rule("(", "regex"))
            .await,
    )
    .await;
    assert!(
        sentence.starts_with("规则未保存：正则表达式“(”无法编译："),
        "{sentence}"
    );
    let mut no_reply = rule("价格", "contains");
    no_reply.retain(|(k, _)| *k != "reply_text");
    no_reply.push(("reply_text", " "));
    let sentence = refused(admin.post_form("/admin/rules/new", &no_reply).await).await;
    assert_eq!(sentence, "规则未保存：请填写字段 `reply.content.text`。");

    let settings = [
        ("welcome", ""),
        ("welcome_by_source", ""),
        ("welcome_every_minutes", "60"),
        ("fallback", ""),
        ("fallback_every_minutes", "60"),
        ("away", ""),
        ("away_every_minutes", "60"),
        ("day", "1"),
        ("start", "18:00"),
        ("end", "09:00"),
        ("utc_offset", "+08:00"),
        ("assignment_mode", "manual"),
        ("assignment_cap", "10"),
    ];
    let sentence = refused(admin.post_form("/admin/settings", &settings).await).await;
    assert_eq!(sentence, "设置未保存：营业时间的开始必须早于结束。");

    // the same admin in English reads the same checks in English
    let resp = admin.post_form("/settings", &[("locale", "en")]).await;
    assert_eq!(resp.status(), StatusCode::SEE_OTHER);
    let sentence = refused(
        admin
            .post_form("/admin/rules/new", &rule("", "contains"))
            .await,
    )
    .await;
    assert_eq!(
        sentence,
        "The rule was not saved: A rule needs at least one keyword."
    );
}

#[tokio::test]
async fn a_database_failure_is_an_html_page_on_a_page_and_json_on_the_api() {
    let app = TestApp::start().await;
    staff(&app, "alice", Role::Admin).await;
    let alice = Browser::sign_in(&app, "alice", PASSWORD).await;
    // break the database under the running server: the audit log is gone
    sqlx::query("drop table audit_log")
        .execute(app.state().store.pool())
        .await
        .expect("the table is dropped");

    // a page that reads it: the error page, in the dashboard's frame and the viewer's language
    let resp = alice.get_in("/admin/audit", Some("en")).await;
    let (html, sentence) = assert_error_page(resp, StatusCode::INTERNAL_SERVER_ERROR).await;
    assert_eq!(
        sentence,
        "Something went wrong inside kefu; the error is logged. Try again in a moment."
    );
    assert_eq!(select(&html, "html")[0].value().attr("lang"), Some("en"));
    assert_eq!(select(&html, "#error").len(), 1);
    assert_eq!(
        select(&html, "nav#sections").len(),
        1,
        "the dashboard's frame"
    );
    assert!(!html.html().contains("no such table"), "no internal detail");
    let resp = alice.get_in("/admin/audit", Some("zh-CN")).await;
    let (html, sentence) = assert_error_page(resp, StatusCode::INTERNAL_SERVER_ERROR).await;
    assert!(sentence.starts_with("kefu 内部出错"), "{sentence}");
    assert_eq!(select(&html, "html")[0].value().attr("lang"), Some("zh-CN"));

    // a form that writes it
    let resp = alice
        .post_form("/canned", &[("shortcut", "hi"), ("body", "Hello")])
        .await;
    assert_error_page(resp, StatusCode::INTERNAL_SERVER_ERROR).await;

    // the API, for the same failure: the contract's JSON
    let resp = app
        .post_json(
            "/api/v1/canned-replies",
            json!({"shortcut": "hi", "body": "Hello"}),
        )
        .await;
    let body = assert_error(resp, StatusCode::INTERNAL_SERVER_ERROR).await;
    assert_eq!(body["error"]["code"], "internal_error");
}

#[tokio::test]
async fn a_page_whose_session_cannot_be_looked_up_is_an_html_page_too() {
    let app = TestApp::start().await;
    let admin = Browser::sign_in(&app, "admin", crate::helpers::ADMIN_PASSWORD).await;
    sqlx::query("drop table sessions")
        .execute(app.state().store.pool())
        .await
        .expect("the table is dropped");
    let resp = admin.get_in("/inbox", Some("en")).await;
    let (html, sentence) = assert_error_page(resp, StatusCode::INTERNAL_SERVER_ERROR).await;
    assert!(sentence.starts_with("Something went wrong"), "{sentence}");
    assert_eq!(
        select(&html, "a[href='/']").len(),
        1,
        "a way back without the frame"
    );
    // the API signed in by the same cookie answers JSON
    let resp = Browser::client()
        .get(app.url("/api/v1/conversations"))
        .header("Cookie", format!("kefu_session={}", admin.cookie))
        .send()
        .await
        .unwrap();
    assert_error(resp, StatusCode::INTERNAL_SERVER_ERROR).await;
}

#[tokio::test]
async fn a_missing_conversation_and_a_forbidden_page_are_error_pages_in_the_viewers_language() {
    let app = TestApp::start().await;
    staff(&app, "bob", Role::Agent).await;
    let bob = Browser::sign_in(&app, "bob", PASSWORD).await;
    let resp = bob.get_in("/conversations/424242", Some("en")).await;
    let (html, sentence) = assert_error_page(resp, StatusCode::NOT_FOUND).await;
    assert_eq!(sentence, "There is no such conversation.");
    assert_eq!(select(&html, "#not-found").len(), 1);
    let resp = bob.get_in("/admin/rules", Some("zh-CN")).await;
    let (html, sentence) = assert_error_page(resp, StatusCode::FORBIDDEN).await;
    assert_eq!(sentence, "只有管理员可以打开此页面。");
    assert_eq!(select(&html, "#forbidden").len(), 1);
}
