//! Issue #11: strict pushes. What WeChat never sends (wrong JSON types, control characters,
//! keys given twice) is refused with 400 and stores nothing; a text without MsgId (wechatpy's
//! test vector) is stored once; an incoming image has its kefu url from the first moment.

use std::time::Duration;

use kefu::live::Event;
use kefu::wechat::fake::{FakeConfig, FakeWechat};
use kefu::wechat::push::Format;
use kefu::wechat::simulate::{SimulatedKind, random_msg_id};
use reqwest::StatusCode;
use scraper::{Html, Selector};
use serde_json::Value;
use tokio::time::{Instant, timeout};

use crate::helpers::{
    APPID, Mode, TestApp, assert_error, assert_success, id_of, now, openid, start_with_vector,
    vector,
};
use crate::live::Client;

const SECRET: &str = "kefu-fake-app-secret-for-tests";
const WAIT: Duration = Duration::from_secs(20);
const PNG: &[u8] = include_bytes!(concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/static/demo-photo.png"
));

fn text_json(who: &str, fields: &str) -> String {
    format!(
        r#"{{"ToUserName":"gh_x","FromUserName":"{who}","CreateTime":{},"MsgType":"text","Content":"hello","MsgId":{}{fields}}}"#,
        now(),
        random_msg_id()
    )
}

fn text_xml(who: &str, content: &str) -> String {
    format!(
        "<xml><ToUserName><![CDATA[gh_x]]></ToUserName><FromUserName><![CDATA[{who}]]></FromUserName><CreateTime>{}</CreateTime><MsgType><![CDATA[text]]></MsgType><Content>{content}</Content><MsgId>{}</MsgId></xml>",
        now(),
        random_msg_id()
    )
}

/// Sends each body in plaintext and in safe mode, expects 400 with `sentence` (when given) for
/// each, then asserts nothing was stored and the refusals were counted.
async fn assert_all_refused(app: &TestApp, bodies: &[(String, Format, Option<&str>)]) {
    for (body, format, sentence) in bodies {
        for mode in [Mode::Plain, Mode::Safe] {
            let resp = app.push_plaintext(body, mode, *format).await;
            let error = assert_error(resp, StatusCode::BAD_REQUEST).await;
            assert_eq!(error["error"]["code"], "invalid_request", "{body}");
            if let Some(sentence) = sentence {
                assert_eq!(error["error"]["message"], *sentence, "{body}");
            }
        }
    }
    app.assert_nothing_stored().await;
    let metrics = app.get("/metrics").await.text().await.unwrap();
    let refused: f64 = metrics
        .lines()
        .find(|l| l.starts_with("kefu_pushes_total{") && l.contains("outcome=\"refused\""))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no refused pushes counted in:\n{metrics}"));
    assert!(refused >= (bodies.len() * 2) as f64, "{refused}");
}

#[tokio::test]
async fn pushes_with_wrong_json_types_are_refused_with_400_and_nothing_is_stored() {
    let app = TestApp::start().await;
    let who = openid("types");
    let base = text_json(&who, "");
    let with = |from: &str, to: &str| {
        assert!(base.contains(from), "{from}");
        (base.replace(from, to), Format::Json, None::<&str>)
    };
    let mut bodies = vec![
        with(r#""Content":"hello""#, r#""Content":42"#),
        with(r#""MsgType":"text""#, r#""MsgType":1"#),
        with(r#""CreateTime":"#, r#""CreateTime":"abc","Was":"#),
        with(
            &format!(r#""FromUserName":"{who}""#),
            r#""FromUserName":{}"#,
        ),
        with(r#""Content":"hello""#, r#""Content":["hello"]"#),
        with(r#""ToUserName":"gh_x""#, r#""ToUserName":true"#),
    ];
    bodies[0].2 = Some("the push field Content has an unusable value");
    bodies[1].2 = Some("the push field MsgType has an unusable value");
    bodies[2].2 = Some("the push field CreateTime has an unusable value");
    bodies[3].2 = Some("the push field FromUserName has an unusable value");
    // an image's MediaId and an event's Event too
    bodies.push((
        format!(
            r#"{{"FromUserName":"{who}","CreateTime":{},"MsgType":"image","PicUrl":"http://p","MediaId":7,"MsgId":{}}}"#,
            now(),
            random_msg_id()
        ),
        Format::Json,
        Some("the push field MediaId has an unusable value"),
    ));
    bodies.push((
        format!(
            r#"{{"FromUserName":"{who}","CreateTime":{},"MsgType":"event","Event":{{"a":1}}}}"#,
            now()
        ),
        Format::Json,
        Some("the push field Event has an unusable value"),
    ));
    assert_all_refused(&app, &bodies).await;
}

#[tokio::test]
async fn control_characters_in_a_push_are_refused_with_400_and_nothing_is_stored() {
    let app = TestApp::start().await;
    let who = openid("controls");
    let bodies = vec![
        // a raw NUL inside CDATA, and a reference to a control character
        (text_xml(&who, "<![CDATA[a\u{0}b]]>"), Format::Xml, None),
        (text_xml(&who, "a&#1;b"), Format::Xml, None),
        (
            text_xml(&who, "<![CDATA[esc\u{1b}[31m]]>"),
            Format::Xml,
            None,
        ),
        // DEL is XML, but no text of WeChat's
        (
            text_xml(&who, "<![CDATA[a\u{7f}b]]>"),
            Format::Xml,
            Some("the push field Content holds a control character"),
        ),
        // JSON escapes, in the content and in the openid
        (
            text_json(&who, "").replace("hello", r"a\u0000b"),
            Format::Json,
            Some("the push field Content holds a control character"),
        ),
        (
            text_json(&who, "").replace(&who, &format!(r"{who}\u001b")),
            Format::Json,
            Some("the push field FromUserName holds a control character"),
        ),
    ];
    assert_all_refused(&app, &bodies).await;
    // a raw control character in XML says so, and where
    let resp = app
        .push_plaintext(
            &text_xml(&who, "<![CDATA[a\u{0}b]]>"),
            Mode::Plain,
            Format::Xml,
        )
        .await;
    let error = assert_error(resp, StatusCode::BAD_REQUEST).await;
    let message = error["error"]["message"].as_str().unwrap_or_default();
    assert!(
        message.starts_with("the push body is not valid XML: the control character U+0000"),
        "{message}"
    );
}

#[tokio::test]
async fn keys_given_twice_are_refused_with_400_and_nothing_is_stored() {
    let app = TestApp::start().await;
    let who = openid("twice");
    let bodies = vec![
        (text_json(&who, r#","Content":"again""#), Format::Json, None),
        (
            text_json(&who, r#","Extra":{"a":1,"b":[{"k":1,"k":2}]}"#),
            Format::Json,
            Some(r#"the push body is not valid JSON: the key "k" appears twice"#),
        ),
        (
            text_json(&who, r#","Extra":1,"Extra":2"#),
            Format::Json,
            None,
        ),
        (
            text_xml(&who, "hello").replace("</xml>", "<Extra>1</Extra><Extra>2</Extra></xml>"),
            Format::Xml,
            Some("the push body is not valid XML: the Extra element appears twice"),
        ),
        (
            text_xml(&who, "hello").replace("</xml>", "<Content>again</Content></xml>"),
            Format::Xml,
            None,
        ),
    ];
    assert_all_refused(&app, &bodies).await;
}

#[tokio::test]
async fn unknown_fields_and_unknown_types_are_still_kept_whole() {
    let app = TestApp::start().await;
    let who = openid("kept");
    let text = text_json(&who, r#","Title":5,"Extra":{"n":[1,2.5,null,{"k":"v"}]}"#);
    assert_success(app.push_plaintext(&text, Mode::Plain, Format::Json).await).await;
    // (a location was such a type until kefu read an Official Account's: a file still is)
    let file = format!(
        r#"{{"FromUserName":"{who}","CreateTime":{},"MsgType":"file","Location_X":23.1,"Label":7,"MsgId":{}}}"#,
        now(),
        random_msg_id()
    );
    assert_success(app.push_plaintext(&file, Mode::Safe, Format::Json).await).await;
    let messages = app.messages_of(&who).await;
    assert_eq!(messages.len(), 2, "{messages:?}");
    assert_eq!(messages[0]["type"], "unknown");
    assert_eq!(messages[0]["content"]["raw"], file.as_str());
    assert_eq!(messages[1]["content"]["text"], "hello");
}

// ---------------------------------------------------------------------------------------------
// A text without MsgId

#[tokio::test]
async fn the_wechatpy_encrypted_text_without_msgid_is_stored_once() {
    let v = vector("wechatpy_tests_test_crypto.json");
    let app = start_with_vector(&v).await;
    let e = &v["encrypt"];
    let body = e["expected_xml"].as_str().unwrap().to_owned();
    // the signature WeChat would put in the query is the one wechatpy wrote into the body
    let signature = body
        .split("<MsgSignature><![CDATA[")
        .nth(1)
        .and_then(|rest| rest.split("]]>").next())
        .expect("the vector's MsgSignature")
        .to_owned();
    let query = format!(
        "timestamp={}&nonce={}&encrypt_type=aes&msg_signature={signature}",
        e["timestamp"].as_str().unwrap(),
        e["nonce"].as_str().unwrap(),
    );
    assert_success(app.post_raw(&query, body.clone()).await).await;
    assert_success(app.post_raw(&query, body).await).await;
    // wechatpy's plaintext swaps the two names: the sender is the appid
    let messages = app.messages_of("wx49f0ab532d5d035a").await;
    assert_eq!(messages.len(), 1, "{messages:?}");
    assert_eq!(messages[0]["type"], "text");
    assert_eq!(messages[0]["content"]["text"], "test");
    assert_eq!(app.stored_inbound().await, 1);
}

#[tokio::test]
async fn a_text_without_msgid_is_one_message_per_sender_time_and_content() {
    let app = TestApp::start().await;
    let who = openid("no-msgid");
    let time = now();
    let json = |text: &str| {
        format!(
            r#"{{"ToUserName":"gh_x","FromUserName":"{who}","CreateTime":{time},"MsgType":"text","Content":"{text}"}}"#
        )
    };
    assert_success(
        app.push_plaintext(&json("你好"), Mode::Plain, Format::Json)
            .await,
    )
    .await;
    // WeChat's retry, in another mode and format: the same message
    assert_success(
        app.push_plaintext(&json("你好"), Mode::Safe, Format::Json)
            .await,
    )
    .await;
    let xml = format!(
        "<xml><FromUserName><![CDATA[{who}]]></FromUserName><CreateTime>{time}</CreateTime><MsgType><![CDATA[text]]></MsgType><Content><![CDATA[你好]]></Content></xml>"
    );
    assert_success(
        app.push_plaintext(&xml, Mode::Compatible, Format::Xml)
            .await,
    )
    .await;
    assert_eq!(app.messages_of(&who).await.len(), 1);
    // other words in the same second are another message; the same words a second later too
    assert_success(
        app.push_plaintext(&json("在吗"), Mode::Plain, Format::Json)
            .await,
    )
    .await;
    let later = json("你好").replace(&format!(":{time},"), &format!(":{},", time + 1));
    assert_success(app.push_plaintext(&later, Mode::Plain, Format::Json).await).await;
    let messages = app.messages_of(&who).await;
    let texts: Vec<&str> = messages
        .iter()
        .map(|m| m["content"]["text"].as_str().unwrap_or_default())
        .collect();
    assert_eq!(texts, ["你好", "在吗", "你好"], "{messages:?}");
    assert_eq!(app.conversation_of(&who).await["unread"], 3);
}

// ---------------------------------------------------------------------------------------------
// An incoming image's url

fn image_url(message: &Value) -> String {
    let url = message["content"]["url"]
        .as_str()
        .unwrap_or_else(|| panic!("an image has a url: {message}"))
        .to_owned();
    assert_eq!(url, format!("/api/v1/messages/{}/media", id_of(message)));
    url
}

async fn a_closed_port() -> u16 {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    listener.local_addr().unwrap().port()
}

#[tokio::test]
async fn an_image_has_its_url_at_once_in_the_api_the_live_event_and_the_page() {
    // WeChat's API is unreachable, so the copy stays on its way
    let dead = format!("http://127.0.0.1:{}", a_closed_port().await);
    let app = TestApp::start_with(&[
        ("KEFU_WECHAT_API_BASE", dead.as_str()),
        ("KEFU_WECHAT_APPID", APPID),
        ("KEFU_WECHAT_SECRET", SECRET),
    ])
    .await;
    let who = openid("img-at-once");
    app.push_text(&who, "a photo follows").await;
    let conversation = id_of(&app.conversation_of(&who).await);
    let mut viewer = Client::connect(&app, &format!("viewing={conversation}")).await;
    viewer.greeting().await;

    let image = SimulatedKind::Image {
        media_id: "on-its-way".into(),
    };
    assert_success(app.push(&image, &who, Mode::Plain, Format::Json).await).await;
    let messages = app.messages(conversation).await;
    let url = image_url(&messages[0]);

    let resp = app.get(&url).await;
    let error = assert_error(resp, StatusCode::NOT_FOUND).await;
    assert_eq!(error["error"]["code"], "media_not_ready", "{error}");

    let seen = viewer.event("message_added").await;
    let seen = if seen["event"]["message_id"] == messages[0]["id"] {
        seen
    } else {
        viewer.event("message_added").await
    };
    let fragment = Html::parse_fragment(seen["html"]["message"].as_str().expect("the message"));
    let pending = Selector::parse("li.kind-image [data-src]").unwrap();
    let src = |html: &Html| {
        html.select(&pending)
            .next()
            .and_then(|e| e.value().attr("data-src").map(str::to_owned))
    };
    assert_eq!(src(&fragment).as_deref(), Some(url.as_str()));

    let page = app.get(&format!("/conversations/{conversation}")).await;
    assert_eq!(page.status(), StatusCode::OK);
    let page = Html::parse_document(&page.text().await.unwrap());
    assert_eq!(src(&page).as_deref(), Some(url.as_str()));
    // no broken picture while it is on its way
    let img = Selector::parse("li.kind-image img").unwrap();
    assert_eq!(page.select(&img).count(), 0);
}

#[tokio::test]
async fn an_images_url_serves_the_bytes_once_fetched_and_says_when_the_fetch_failed() {
    let fake = FakeWechat::start(FakeConfig::new(APPID, SECRET))
        .await
        .expect("the fake WeChat API starts");
    fake.add_media("photo-1", "image/png", PNG.to_vec());
    let app = TestApp::start_with(&[
        ("KEFU_WECHAT_API_BASE", fake.base_url().as_str()),
        ("KEFU_WECHAT_APPID", APPID),
        ("KEFU_WECHAT_SECRET", SECRET),
        ("KEFU_DELIVERY_BACKOFF_MS", "20"),
    ])
    .await;
    let mut live = app.state().live.subscribe();
    let who = openid("img-bytes");
    let image = SimulatedKind::Image {
        media_id: "photo-1".into(),
    };
    assert_success(app.push(&image, &who, Mode::Safe, Format::Xml).await).await;
    let message = app.messages_of(&who).await.remove(0);
    let url = image_url(&message);
    let mid = id_of(&message);
    timeout(WAIT, async {
        loop {
            match live.recv().await {
                Ok(Event::MediaStored { message_id, .. }) if message_id == mid => return,
                Ok(_) => {}
                Err(e) => panic!("the live bus: {e}"),
            }
        }
    })
    .await
    .expect("the image is fetched");
    let resp = app.get(&url).await;
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(
        resp.headers()
            .get(reqwest::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok()),
        Some("image/png")
    );
    assert_eq!(resp.bytes().await.unwrap().as_ref(), PNG);
    // the url did not change
    assert_eq!(image_url(&app.messages_of(&who).await[0]), url);

    // WeChat does not know this media_id: the fetch fails for good
    let gone = SimulatedKind::Image {
        media_id: "expired-photo".into(),
    };
    assert_success(app.push(&gone, &who, Mode::Plain, Format::Json).await).await;
    let message = app.messages_of(&who).await.remove(0);
    let url = image_url(&message);
    let deadline = Instant::now() + WAIT;
    loop {
        let error = assert_error(app.get(&url).await, StatusCode::NOT_FOUND).await;
        match error["error"]["code"].as_str() {
            Some("media_not_ready") if Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            code => {
                assert_eq!(code, Some("media_failed"), "{error}");
                break;
            }
        }
    }
    // a message without an image is just not found
    let text = assert_error(
        app.get(&format!("/api/v1/messages/{}/media", mid - 1))
            .await,
        StatusCode::NOT_FOUND,
    )
    .await;
    assert_eq!(text["error"]["code"], "not_found");
}
