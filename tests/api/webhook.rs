//! WeChat's side of kefu: server verification, pushes in every mode and format, what gets
//! refused, deduplication, and what survives a restart or a burst.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use kefu::wechat::crypto::signature;
use kefu::wechat::push::Format;
use kefu::wechat::simulate::{SimulatedKind, cdata, random_msg_id};
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{
    AES_KEY, FORMATS, MODES, Mode, TOKEN, TestApp, assert_error, assert_success, cipher, id_of,
    now, openid, start_with_vector, vector,
};

// ---------------------------------------------------------------------------------------------
// GET: server verification

#[tokio::test]
async fn verification_answers_echostr_exactly_when_the_signature_holds() {
    let app = TestApp::start().await;
    let ts = now().to_string();
    let nonce = "1514711492";
    let sig = signature(TOKEN, &ts, nonce);
    let resp = app
        .client
        .get(format!(
            "{}?signature={sig}&timestamp={ts}&nonce={nonce}&echostr=4375120948345356249",
            app.webhook_url()
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(resp.text().await.unwrap(), "4375120948345356249");
}

#[tokio::test]
async fn verification_with_a_bad_signature_is_refused_with_401() {
    let app = TestApp::start().await;
    let ts = now().to_string();
    let wrong = signature("another-token", &ts, "123");
    let resp = app
        .client
        .get(format!(
            "{}?signature={wrong}&timestamp={ts}&nonce=123&echostr=42",
            app.webhook_url()
        ))
        .send()
        .await
        .unwrap();
    let body = assert_error(resp, StatusCode::UNAUTHORIZED).await;
    assert!(!body.to_string().contains("\"42\""), "{body}");
}

#[tokio::test]
async fn verification_without_a_signature_is_refused_with_401() {
    let app = TestApp::start().await;
    let ts = now().to_string();
    for query in [
        format!("timestamp={ts}&nonce=123&echostr=42"),
        "echostr=42".to_owned(),
        String::new(),
        format!(
            "signature={}&nonce=123&echostr=42",
            signature(TOKEN, &ts, "123")
        ),
    ] {
        let resp = app
            .client
            .get(format!("{}?{query}", app.webhook_url()))
            .send()
            .await
            .unwrap();
        assert_error(resp, StatusCode::UNAUTHORIZED).await;
    }
}

// ---------------------------------------------------------------------------------------------
// POST: every message type, in every mode and format

/// What a test expects to read back for one kind of push.
struct Case {
    name: &'static str,
    kind: SimulatedKind,
    expect_type: &'static str,
    expect_unread: i64,
    check: fn(&Value),
}

fn cases() -> Vec<Case> {
    vec![
        Case {
            name: "text",
            // CDATA's terminator, markup, an entity, Chinese and surrounding whitespace all
            // come back exactly as the customer typed them
            kind: SimulatedKind::Text(" 你好 <b>a]]>b</b> &amp; \n second line ".to_owned()),
            expect_type: "text",
            expect_unread: 1,
            check: |content| {
                assert_eq!(
                    content,
                    &json!({ "text": " 你好 <b>a]]>b</b> &amp; \n second line " })
                );
            },
        },
        Case {
            name: "image",
            kind: SimulatedKind::Image {
                media_id: "media-id-of-the-picture".to_owned(),
            },
            expect_type: "image",
            expect_unread: 1,
            check: |content| {
                assert_eq!(content["media_id"], "media-id-of-the-picture");
                assert!(
                    content.get("url").is_some(),
                    "an image has a url key: {content}"
                );
            },
        },
        Case {
            name: "card",
            kind: SimulatedKind::Card {
                thumb_media_id: None,
            },
            expect_type: "miniprogrampage",
            expect_unread: 1,
            check: |content| {
                assert_eq!(content["title"], "Order #1024");
                assert_eq!(content["appid"], "wx0000000000simul");
                assert_eq!(content["pagepath"], "pages/order/detail?id=1024");
                assert!(content.get("thumb_url").is_some(), "{content}");
                assert!(content.get("thumb_media_id").is_some(), "{content}");
            },
        },
        Case {
            name: "enter",
            kind: SimulatedKind::Enter {
                session_from: "button?from=order&id=7".to_owned(),
            },
            expect_type: "event",
            expect_unread: 0,
            check: |content| {
                assert_eq!(
                    content,
                    &json!({ "event": "user_enter_tempsession", "session_from": "button?from=order&id=7" })
                );
            },
        },
    ]
}

/// Asserts the fields every incoming message has.
fn assert_incoming(message: &Value, openid: &str, conversation_id: i64, expect_type: &str) {
    assert_eq!(message["type"], expect_type, "{message}");
    assert_eq!(message["direction"], "in", "{message}");
    assert_eq!(message["sender"]["kind"], "customer", "{message}");
    assert_eq!(message["sender"]["id"], openid, "{message}");
    assert_eq!(message["status"], "received", "{message}");
    assert_eq!(message["conversation_id"], conversation_id, "{message}");
    assert!(message["error"].is_null(), "{message}");
    let created = message["created_at"].as_str().expect("created_at");
    assert!(
        time::OffsetDateTime::parse(created, &time::format_description::well_known::Rfc3339)
            .is_ok(),
        "created_at is RFC 3339: {created}"
    );
}

async fn every_kind_reads_back(mode: Mode, format: Format) {
    let app = TestApp::start().await;
    for case in cases() {
        let who = openid(&format!("{}-{mode:?}-{format:?}", case.name));
        let resp = app.push(&case.kind, &who, mode, format).await;
        assert_success(resp).await;
        let conversation = app.conversation_of(&who).await;
        assert_eq!(conversation["unread"], case.expect_unread, "{}", case.name);
        let messages = app.messages(id_of(&conversation)).await;
        assert_eq!(messages.len(), 1, "{}: {messages:?}", case.name);
        assert_incoming(&messages[0], &who, id_of(&conversation), case.expect_type);
        (case.check)(&messages[0]["content"]);
    }
    assert_eq!(app.conversations().await.len(), 4);
}

#[tokio::test]
async fn every_kind_of_push_in_plaintext_json_reads_back_through_the_api() {
    every_kind_reads_back(Mode::Plain, Format::Json).await;
}

#[tokio::test]
async fn every_kind_of_push_in_plaintext_xml_reads_back_through_the_api() {
    every_kind_reads_back(Mode::Plain, Format::Xml).await;
}

#[tokio::test]
async fn every_kind_of_push_in_safe_mode_json_reads_back_through_the_api() {
    every_kind_reads_back(Mode::Safe, Format::Json).await;
}

#[tokio::test]
async fn every_kind_of_push_in_safe_mode_xml_reads_back_through_the_api() {
    every_kind_reads_back(Mode::Safe, Format::Xml).await;
}

#[tokio::test]
async fn every_kind_of_push_in_compatible_mode_json_reads_back_through_the_api() {
    every_kind_reads_back(Mode::Compatible, Format::Json).await;
}

#[tokio::test]
async fn every_kind_of_push_in_compatible_mode_xml_reads_back_through_the_api() {
    every_kind_reads_back(Mode::Compatible, Format::Xml).await;
}

#[tokio::test]
async fn a_server_configured_for_xml_reads_every_mode_and_format() {
    let app = TestApp::start_with(&[("KEFU_WECHAT_FORMAT", "xml")]).await;
    for mode in MODES {
        for format in FORMATS {
            let who = openid(&format!("xmlconf-{mode:?}-{format:?}"));
            let text = format!("hello in {mode:?} {format:?}");
            let resp = app
                .push(&SimulatedKind::Text(text.clone()), &who, mode, format)
                .await;
            assert_success(resp).await;
            let messages = app.messages_of(&who).await;
            assert_eq!(messages.len(), 1);
            assert_eq!(messages[0]["content"]["text"], text.as_str());
        }
    }
}

/// An XML push laid out over several lines, with indentation, a declaration, CDATA and
/// entity-escaped text.
fn pretty_xml(who: &str, msg_id: u64) -> String {
    format!(
        r#"<?xml version="1.0" encoding="UTF-8"?>
<xml>
    <ToUserName><![CDATA[gh_97417a04a28d]]></ToUserName>
    <FromUserName><![CDATA[{who}]]></FromUserName>
    <CreateTime>
        {now}
    </CreateTime>
    <MsgType><![CDATA[text]]></MsgType>
    <Content>
        <![CDATA[  indented text stays exactly as sent  ]]>
    </Content>
    <MsgId>
        {msg_id}
    </MsgId>
</xml>
"#,
        now = now()
    )
}

#[tokio::test]
async fn an_indented_xml_push_over_several_lines_is_read_in_every_mode() {
    let app = TestApp::start().await;
    for mode in MODES {
        let who = openid(&format!("pretty-{mode:?}"));
        let msg_id = random_msg_id();
        let resp = app
            .push_plaintext(&pretty_xml(&who, msg_id), mode, Format::Xml)
            .await;
        assert_success(resp).await;
        let messages = app.messages_of(&who).await;
        assert_eq!(messages.len(), 1, "{mode:?}");
        assert_incoming(
            &messages[0],
            &who,
            messages[0]["conversation_id"].as_i64().unwrap(),
            "text",
        );
        assert_eq!(
            messages[0]["content"],
            json!({ "text": "  indented text stays exactly as sent  " }),
            "{mode:?}"
        );
    }
}

#[tokio::test]
async fn escaped_xml_text_without_cdata_is_unescaped() {
    let app = TestApp::start().await;
    let who = openid("escaped");
    let body = format!(
        "<xml><ToUserName>gh_x</ToUserName><FromUserName>{who}</FromUserName><CreateTime>{}</CreateTime><MsgType>text</MsgType><Content>a &lt;b&gt; &amp; &#20320;&#x597D;</Content><MsgId>{}</MsgId></xml>",
        now(),
        random_msg_id()
    );
    assert_success(app.push_plaintext(&body, Mode::Plain, Format::Xml).await).await;
    let messages = app.messages_of(&who).await;
    assert_eq!(messages[0]["content"]["text"], "a <b> & 你好");
}

#[tokio::test]
async fn in_compatible_mode_only_the_encrypted_content_is_trusted() {
    let app = TestApp::start().await;
    for format in FORMATS {
        let who = openid(&format!("compat-trust-{format:?}"));
        let msg_id = random_msg_id();
        let genuine = kefu::wechat::simulate::push_body(
            &SimulatedKind::Text("genuine".to_owned()),
            &who,
            msg_id,
            now(),
            format,
        );
        let forged = genuine.replace("genuine", "forged by someone on the way");
        let signed = app.sign(&genuine, Mode::Compatible, format);
        let encrypt = signed_encrypt(&signed.body, format);
        let body = crate::helpers::compatible_body(&forged, &encrypt, format);
        assert_success(app.post_raw(&signed.query, body).await).await;
        let messages = app.messages_of(&who).await;
        assert_eq!(messages.len(), 1);
        assert_eq!(messages[0]["content"]["text"], "genuine", "{format:?}");
    }
}

/// The Encrypt field of a signed body.
fn signed_encrypt(body: &str, format: Format) -> String {
    match format {
        Format::Json => serde_json::from_str::<Value>(body).unwrap()["Encrypt"]
            .as_str()
            .unwrap()
            .to_owned(),
        Format::Xml => {
            let start = body.find("<Encrypt><![CDATA[").unwrap() + "<Encrypt><![CDATA[".len();
            let end = start + body[start..].find("]]>").unwrap();
            body[start..end].to_owned()
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Unknown message types are kept whole

// (voice, video and location were kept so until kefu read an Official Account's messages:
// tests/api/official.rs; a file is a type it still does not know)
#[tokio::test]
async fn an_unknown_file_push_is_kept_whole_as_unknown() {
    let app = TestApp::start().await;
    for mode in [Mode::Plain, Mode::Safe] {
        let who = openid(&format!("file-{mode:?}"));
        // spacing and key order as sent must survive: raw is the body exactly
        let body = format!(
            "{{ \"ToUserName\": \"gh_x\", \"FromUserName\": \"{who}\", \"CreateTime\": {},\n  \"MsgType\": \"file\", \"MediaId\": \"file-media\", \"Title\": \"合同.pdf\", \"FileKey\": 7, \"MsgId\": {} }}",
            now(),
            random_msg_id()
        );
        assert_success(app.push_plaintext(&body, mode, Format::Json).await).await;
        let conversation = app.conversation_of(&who).await;
        let messages = app.messages(id_of(&conversation)).await;
        assert_eq!(messages.len(), 1);
        assert_incoming(&messages[0], &who, id_of(&conversation), "unknown");
        assert_eq!(messages[0]["content"]["raw"], body.as_str(), "{mode:?}");
        // a customer's message of a new kind still counts as unread
        assert_eq!(conversation["unread"], 1);
    }
}

#[tokio::test]
async fn an_unknown_file_push_with_nested_xml_is_kept_whole_as_unknown() {
    let app = TestApp::start().await;
    for mode in MODES {
        let who = openid(&format!("file-{mode:?}"));
        let body = format!(
            "<xml><ToUserName><![CDATA[gh_x]]></ToUserName><FromUserName><![CDATA[{who}]]></FromUserName><CreateTime>{}</CreateTime><MsgType><![CDATA[file]]></MsgType><File><MediaId><![CDATA[file-media]]></MediaId><Thumb><MediaId><![CDATA[thumb]]></MediaId></Thumb><Title><![CDATA[文件]]></Title></File><MsgId>{}</MsgId></xml>",
            now(),
            random_msg_id()
        );
        assert_success(app.push_plaintext(&body, mode, Format::Xml).await).await;
        let messages = app.messages_of(&who).await;
        assert_eq!(messages.len(), 1);
        assert_eq!(messages[0]["type"], "unknown");
        assert_eq!(messages[0]["content"]["raw"], body.as_str(), "{mode:?}");
    }
}

/// WxJava's vector encrypts a video as a passive reply nests it (`<Video><MediaId>`, and no
/// MsgId), which no push of WeChat's is: decrypted, then refused for what it lacks.
#[tokio::test]
async fn a_video_push_encrypted_by_wxjava_is_decrypted_and_refused_for_what_it_lacks() {
    let vector = vector("wxjava_WxCryptUtilTest.json");
    let token = vector["token"].as_str().unwrap();
    let appid = vector["appid"].as_str().unwrap();
    let app = TestApp::start_with(&[
        ("KEFU_WECHAT_TOKEN", token),
        (
            "KEFU_WECHAT_AES_KEY",
            vector["encoding_aes_key"].as_str().unwrap(),
        ),
        ("KEFU_WECHAT_APPID", appid),
    ])
    .await;
    let case = &vector["cases"][1];
    assert!(
        case["plaintext"]
            .as_str()
            .unwrap()
            .contains("<Video><MediaId>")
    );
    let encrypt = case["expected_Encrypt"].as_str().unwrap();
    let resp = app.send(&app.sign_encrypt(encrypt, Format::Xml)).await;
    let body = assert_error(resp, StatusCode::BAD_REQUEST).await;
    // the reason is in the plaintext: the body was decrypted
    assert_eq!(
        body["error"]["message"], "the push has no MsgId field",
        "{body}"
    );
    app.assert_nothing_stored().await;
}

#[tokio::test]
async fn a_safe_mode_xml_push_encrypted_by_wechatpy_is_stored_as_text() {
    let v = vector("wechatpy_tests_test_crypto.json");
    let app = start_with_vector(&v).await;
    let d = &v["decrypt"];
    // safe mode is authenticated by msg_signature alone: the vector has no `signature`
    let query = format!(
        "timestamp={}&nonce={}&encrypt_type=aes&msg_signature={}",
        d["timestamp"].as_str().unwrap(),
        d["nonce"].as_str().unwrap(),
        d["msg_signature"].as_str().unwrap()
    );
    let body = d["body_xml"].as_str().unwrap().to_owned();
    assert_success(app.post_raw(&query, body.clone()).await).await;
    assert_success(app.post_raw(&query, body).await).await;
    let messages = app.messages_of("messense").await;
    assert_eq!(messages.len(), 1, "{messages:?}");
    assert_eq!(messages[0]["type"], "text");
    assert_eq!(messages[0]["content"]["text"], "test");
}

#[tokio::test]
async fn an_indented_safe_mode_xml_envelope_is_read() {
    let app = TestApp::start().await;
    let who = openid("pretty-envelope");
    let body = kefu::wechat::simulate::push_body(
        &SimulatedKind::Text("inside a pretty envelope".into()),
        &who,
        random_msg_id(),
        now(),
        Format::Xml,
    );
    let encrypt = app.cipher().encrypt(body.as_bytes());
    for envelope in [
        format!(
            "<xml>\n    <ToUserName><![CDATA[gh_x]]></ToUserName>\n    <Encrypt>\n        <![CDATA[{encrypt}]]>\n    </Encrypt>\n</xml>\n"
        ),
        format!("<xml>\n  <Encrypt>\n    {encrypt}\n  </Encrypt>\n</xml>"),
    ] {
        let mut signed = app.sign_encrypt(&encrypt, Format::Xml);
        signed.body = envelope;
        assert_success(app.send(&signed).await).await;
    }
    let messages = app.messages_of(&who).await;
    assert_eq!(messages.len(), 1);
    assert_eq!(messages[0]["content"]["text"], "inside a pretty envelope");
}

// ---------------------------------------------------------------------------------------------
// MsgId, CreateTime and deduplication

fn text_json(who: &str, msg_id_json: &str, create_time_json: &str, text: &str) -> String {
    format!(
        r#"{{"ToUserName":"gh_x","FromUserName":"{who}","CreateTime":{create_time_json},"MsgType":"text","Content":"{text}","MsgId":{msg_id_json}}}"#
    )
}

async fn assert_one_message_one_unread(app: &TestApp, who: &str) -> Vec<Value> {
    let conversation = app.conversation_of(who).await;
    assert_eq!(conversation["unread"], 1, "{conversation}");
    let messages = app.messages(id_of(&conversation)).await;
    assert_eq!(messages.len(), 1, "{messages:?}");
    messages
}

#[tokio::test]
async fn the_largest_u64_msgid_as_a_json_number_stores_once() {
    let app = TestApp::start().await;
    let who = openid("bigmsgid");
    let body = text_json(&who, "18446744073709551615", &now().to_string(), "big");
    assert_success(app.push_plaintext(&body, Mode::Plain, Format::Json).await).await;
    // WeChat's retry of the same push
    assert_success(app.push_plaintext(&body, Mode::Plain, Format::Json).await).await;
    let messages = assert_one_message_one_unread(&app, &who).await;
    assert_eq!(messages[0]["content"]["text"], "big");
}

#[tokio::test]
async fn a_string_msgid_stores_once() {
    let app = TestApp::start().await;
    let who = openid("strmsgid");
    let body = text_json(
        &who,
        "\"49d72d67b16d115e7935ac386f2f0fa41535298877_1555684067\"",
        &now().to_string(),
        "string id",
    );
    assert_success(app.push_plaintext(&body, Mode::Plain, Format::Json).await).await;
    assert_success(app.push_plaintext(&body, Mode::Safe, Format::Json).await).await;
    assert_one_message_one_unread(&app, &who).await;
}

#[tokio::test]
async fn msgids_that_differ_beyond_double_precision_are_two_messages() {
    let app = TestApp::start().await;
    let who = openid("precision");
    // 2^53 and 2^53 + 1 are the same f64
    for (id, text) in [
        ("9007199254740992", "first"),
        ("9007199254740993", "second"),
    ] {
        let body = text_json(&who, id, &now().to_string(), text);
        assert_success(app.push_plaintext(&body, Mode::Plain, Format::Json).await).await;
    }
    let messages = app.messages_of(&who).await;
    assert_eq!(messages.len(), 2, "{messages:?}");
}

#[tokio::test]
async fn the_same_msgid_as_a_number_and_as_a_string_is_one_message() {
    let app = TestApp::start().await;
    let who = openid("numstr");
    let ts = now().to_string();
    let id = random_msg_id().to_string();
    let as_number = text_json(&who, &id, &ts, "hello");
    let as_string = text_json(&who, &format!("\"{id}\""), &ts, "hello");
    assert_success(
        app.push_plaintext(&as_number, Mode::Plain, Format::Json)
            .await,
    )
    .await;
    assert_success(
        app.push_plaintext(&as_string, Mode::Plain, Format::Json)
            .await,
    )
    .await;
    assert_one_message_one_unread(&app, &who).await;
}

#[tokio::test]
async fn a_retried_push_changes_nothing_whatever_mode_and_format_it_comes_in() {
    let app = TestApp::start().await;
    let who = openid("retry");
    let msg_id = random_msg_id();
    let ts = now();
    for format in FORMATS {
        let body = kefu::wechat::simulate::push_body(
            &SimulatedKind::Text("once".to_owned()),
            &who,
            msg_id,
            ts,
            format,
        );
        for mode in MODES {
            assert_success(app.push_plaintext(&body, mode, format).await).await;
        }
    }
    let messages = assert_one_message_one_unread(&app, &who).await;
    assert_eq!(messages[0]["content"]["text"], "once");
}

#[tokio::test]
async fn a_create_time_given_as_a_string_is_accepted() {
    let app = TestApp::start().await;
    let who = openid("strtime");
    let body = text_json(
        &who,
        &random_msg_id().to_string(),
        &format!("\"{}\"", now()),
        "time as text",
    );
    assert_success(app.push_plaintext(&body, Mode::Plain, Format::Json).await).await;
    let messages = assert_one_message_one_unread(&app, &who).await;
    assert_eq!(messages[0]["content"]["text"], "time as text");
}

fn enter_json(who: &str, create_time: i64, session_from: &str) -> String {
    format!(
        r#"{{"ToUserName":"gh_x","FromUserName":"{who}","CreateTime":{create_time},"MsgType":"event","Event":"user_enter_tempsession","SessionFrom":"{session_from}"}}"#
    )
}

#[tokio::test]
async fn an_event_with_the_same_sender_create_time_and_event_stores_once() {
    let app = TestApp::start().await;
    let who = openid("event-dup");
    let ts = now();
    for mode in MODES {
        let resp = app
            .push_plaintext(&enter_json(&who, ts, "first"), mode, Format::Json)
            .await;
        assert_success(resp).await;
    }
    let conversation = app.conversation_of(&who).await;
    assert_eq!(
        conversation["unread"], 0,
        "an event is not an unread message"
    );
    let messages = app.messages(id_of(&conversation)).await;
    assert_eq!(messages.len(), 1, "{messages:?}");
    assert_eq!(messages[0]["content"]["session_from"], "first");

    // the same customer entering again later is a new event
    let resp = app
        .push_plaintext(
            &enter_json(&who, ts + 1, "second"),
            Mode::Plain,
            Format::Json,
        )
        .await;
    assert_success(resp).await;
    assert_eq!(app.messages_of(&who).await.len(), 2);
}

// ---------------------------------------------------------------------------------------------
// The official test vector (docs/WECHAT.md §2, vectors/official_…_json.json)

fn query_of(object: &Value) -> String {
    object
        .as_object()
        .expect("a query object")
        .iter()
        .map(|(k, v)| format!("{k}={}", v.as_str().expect("a string value")))
        .collect::<Vec<_>>()
        .join("&")
}

async fn official_app() -> (TestApp, Value) {
    let v = vector("official_miniprogram_message_push_json.json");
    let app = start_with_vector(&v).await;
    assert_eq!(v["encoding_aes_key"], "A".repeat(43));
    (app, v)
}

async fn assert_debug_demo_stored(app: &TestApp) {
    let messages = app.messages_of("o9AgO5Kd5ggOC-bXrbNODIiE3bGY").await;
    assert_eq!(messages.len(), 1, "{messages:?}");
    assert_eq!(messages[0]["type"], "event");
    assert_eq!(messages[0]["content"]["event"], "debug_demo");
    assert_eq!(messages[0]["sender"]["id"], "o9AgO5Kd5ggOC-bXrbNODIiE3bGY");
}

#[tokio::test]
async fn the_official_verification_vector_answers_its_echostr() {
    let (app, v) = official_app().await;
    let get = &v["get_verification"];
    let resp = app
        .client
        .get(format!("{}?{}", app.webhook_url(), query_of(&get["query"])))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(
        resp.text().await.unwrap(),
        get["expected_response_body"].as_str().unwrap()
    );
}

#[tokio::test]
async fn the_official_encrypted_push_is_stored_as_a_debug_demo_event() {
    let (app, v) = official_app().await;
    let post = &v["encrypted_post"];
    let query = query_of(&post["query"]);
    let body = serde_json::to_string(&post["body"]).unwrap();
    assert_success(app.post_raw(&query, body.clone()).await).await;
    assert_debug_demo_stored(&app).await;
    // WeChat's retry of it changes nothing
    assert_success(app.post_raw(&query, body).await).await;
    assert_debug_demo_stored(&app).await;
}

#[tokio::test]
async fn the_official_plaintext_push_is_stored_as_a_debug_demo_event() {
    let (app, v) = official_app().await;
    let post = &v["plaintext_post"];
    let body = serde_json::to_string(&post["body"]).unwrap();
    assert_success(app.post_raw(&query_of(&post["query"]), body).await).await;
    assert_debug_demo_stored(&app).await;
}

// ---------------------------------------------------------------------------------------------
// Refusals: each answers a JSON error and stores nothing

fn sample_text(who: &str, format: Format) -> String {
    kefu::wechat::simulate::push_body(
        &SimulatedKind::Text("must not be stored".to_owned()),
        who,
        random_msg_id(),
        now(),
        format,
    )
}

#[tokio::test]
async fn a_push_with_a_bad_signature_is_refused_with_401_and_stores_nothing() {
    let app = TestApp::start().await;
    let body = sample_text("o-bad-signature", Format::Json);
    let ts = now();
    let wrong = signature("not-the-token", &ts.to_string(), "12345");
    for query in [
        format!("signature={wrong}&timestamp={ts}&nonce=12345"),
        format!("signature=&timestamp={ts}&nonce=12345"),
        format!("timestamp={ts}&nonce=12345"),
        format!("signature={}&timestamp={ts}&nonce=12345", "0".repeat(40)),
    ] {
        let resp = app.post_raw(&query, body.clone()).await;
        assert_error(resp, StatusCode::UNAUTHORIZED).await;
    }
    app.assert_nothing_stored().await;
}

#[tokio::test]
async fn a_safe_mode_push_with_a_bad_msg_signature_is_refused_with_401_and_stores_nothing() {
    let app = TestApp::start().await;
    for format in FORMATS {
        let mut signed = app.sign(&sample_text("o-bad-msgsig", format), Mode::Safe, format);
        // the plain `signature` in the query still holds: it must not be enough
        let at = signed.query.find("msg_signature=").unwrap() + "msg_signature=".len();
        signed.query.replace_range(at.., &"0".repeat(40));
        assert_error(app.send(&signed).await, StatusCode::UNAUTHORIZED).await;
        // a msg_signature over another Encrypt does not hold either
        let other = app.sign(&sample_text("o-bad-msgsig", format), Mode::Safe, format);
        let mut mixed = app.sign(&sample_text("o-bad-msgsig", format), Mode::Safe, format);
        mixed.body = other.body;
        assert_error(app.send(&mixed).await, StatusCode::UNAUTHORIZED).await;
        // and without any msg_signature
        let mut missing = app.sign(&sample_text("o-bad-msgsig", format), Mode::Safe, format);
        missing.query = missing
            .query
            .split('&')
            .filter(|p| !p.starts_with("msg_signature="))
            .collect::<Vec<_>>()
            .join("&");
        assert_error(app.send(&missing).await, StatusCode::UNAUTHORIZED).await;
    }
    app.assert_nothing_stored().await;
}

#[tokio::test]
async fn a_push_older_or_newer_than_the_max_age_is_refused_with_401_and_stores_nothing() {
    let app = TestApp::start_with(&[("KEFU_WEBHOOK_MAX_AGE", "60")]).await;
    // (a few seconds past the limit, so a clock tick during the request cannot matter)
    for offset in [-3600, -65, 65, 3600] {
        for mode in MODES {
            let body = sample_text("o-stale", Format::Json);
            let signed = app.sign_at(&body, mode, Format::Json, now() + offset);
            assert_error(app.send(&signed).await, StatusCode::UNAUTHORIZED).await;
        }
    }
    // a timestamp that is not a number is as stale as can be
    let query = format!(
        "signature={}&timestamp=yesterday&nonce=1",
        signature(TOKEN, "yesterday", "1")
    );
    let resp = app
        .post_raw(&query, sample_text("o-stale", Format::Json))
        .await;
    assert_error(resp, StatusCode::UNAUTHORIZED).await;
    app.assert_nothing_stored().await;

    // within the window it is fine
    let signed = app.sign_at(
        &sample_text("o-fresh", Format::Json),
        Mode::Plain,
        Format::Json,
        now() - 30,
    );
    assert_success(app.send(&signed).await).await;
}

#[tokio::test]
async fn a_push_without_timestamp_or_nonce_is_refused_with_401_and_stores_nothing() {
    let app = TestApp::start().await;
    let ts = now().to_string();
    let body = sample_text("o-unsigned", Format::Json);
    for query in [
        format!("signature={}&nonce=1", signature(TOKEN, "", "1")),
        format!("signature={}&timestamp={ts}", signature(TOKEN, &ts, "")),
        format!("signature={}&timestamp=&nonce=", signature(TOKEN, "", "")),
        String::new(),
    ] {
        assert_error(
            app.post_raw(&query, body.clone()).await,
            StatusCode::UNAUTHORIZED,
        )
        .await;
    }
    app.assert_nothing_stored().await;
}

#[tokio::test]
async fn a_garbled_body_is_refused_with_400_and_stores_nothing() {
    let app = TestApp::start().await;
    for body in [
        "this is not a push".as_bytes().to_vec(),
        b"\xff\xfe\x00garbage\x80".to_vec(),
        b"[1, 2, 3]".to_vec(),
        b"{}".to_vec(),
        Vec::new(),
    ] {
        let signed = app.sign("", Mode::Plain, Format::Json);
        assert_error(
            app.post_raw(&signed.query, body).await,
            StatusCode::BAD_REQUEST,
        )
        .await;
    }
    for format in FORMATS {
        // a safe-mode envelope whose Encrypt is not base64, or missing
        let signed = app.sign_encrypt("not base64 at all!", format);
        assert_error(app.send(&signed).await, StatusCode::BAD_REQUEST).await;
        let mut missing = app.sign_encrypt("AAAA", format);
        missing.body = match format {
            Format::Json => r#"{"ToUserName":"gh_x"}"#.to_owned(),
            Format::Xml => "<xml><ToUserName>gh_x</ToUserName></xml>".to_owned(),
        };
        assert_error(app.send(&missing).await, StatusCode::BAD_REQUEST).await;
    }
    app.assert_nothing_stored().await;
}

#[tokio::test]
async fn a_truncated_json_or_xml_push_is_refused_with_400_and_stores_nothing() {
    let app = TestApp::start().await;
    for format in FORMATS {
        let whole = sample_text("o-truncated", format);
        for cut in [whole.len() - 1, whole.len() / 2, 1] {
            let truncated = &whole[..cut];
            // (compatible mode needs a readable plaintext to lay its fields out)
            for mode in [Mode::Plain, Mode::Safe] {
                let signed = app.sign(truncated, mode, format);
                let resp = app.send(&signed).await;
                assert_error(resp, StatusCode::BAD_REQUEST).await;
            }
        }
    }
    app.assert_nothing_stored().await;
}

#[tokio::test]
async fn a_body_over_one_mebibyte_is_refused_with_413_and_stores_nothing() {
    let app = TestApp::start().await;
    let signed = app.sign("", Mode::Plain, Format::Json);
    let mut body = sample_text("o-too-large", Format::Json).into_bytes();
    body.resize(1024 * 1024 + 1, b' ');
    let resp = app.post_raw(&signed.query, body).await;
    assert_error(resp, StatusCode::PAYLOAD_TOO_LARGE).await;
    app.assert_nothing_stored().await;
}

#[tokio::test]
async fn a_push_of_exactly_one_mebibyte_is_accepted() {
    let app = TestApp::start().await;
    let who = openid("one-mib");
    let mut body = sample_text(&who, Format::Json).into_bytes();
    body.resize(1024 * 1024, b' ');
    let signed = app.sign("", Mode::Plain, Format::Json);
    assert_success(app.post_raw(&signed.query, body).await).await;
    assert_eq!(app.messages_of(&who).await.len(), 1);
}

#[tokio::test]
async fn an_encrypted_push_for_another_appid_is_refused_with_400_and_stores_nothing() {
    let app = TestApp::start().await;
    let other = cipher(AES_KEY, "wx0ther0000000000");
    for format in FORMATS {
        for mode in [Mode::Safe, Mode::Compatible] {
            let body = sample_text("o-other-appid", format);
            let signed = app.sign_with(&body, mode, format, now(), &other);
            assert_error(app.send(&signed).await, StatusCode::BAD_REQUEST).await;
        }
    }
    // encrypted with another AES key altogether
    let stranger = cipher(&"B".repeat(43), crate::helpers::APPID);
    let body = sample_text("o-other-key", Format::Json);
    let signed = app.sign_with(&body, Mode::Safe, Format::Json, now(), &stranger);
    assert_error(app.send(&signed).await, StatusCode::BAD_REQUEST).await;
    app.assert_nothing_stored().await;
}

#[tokio::test]
async fn a_ciphertext_with_bad_padding_or_length_is_refused_with_400_and_stores_nothing() {
    let app = TestApp::start().await;
    let long_text = sample_text("o-bad-padding", Format::Json);
    let encrypt = app.cipher().encrypt(long_text.as_bytes());
    let ciphertext = STANDARD.decode(&encrypt).unwrap();
    assert!(ciphertext.len() >= 96, "a long enough ciphertext");

    let damaged = [
        // Drop the last 32 bytes: CBC still decrypts the rest, and its new last byte is
        // message text, not padding.
        STANDARD.encode(&ciphertext[..ciphertext.len() - 32]),
        // lengths that are not a multiple of 32 bytes
        STANDARD.encode(&ciphertext[..ciphertext.len() - 16]),
        STANDARD.encode(&ciphertext[..ciphertext.len() - 1]),
        // nothing at all
        String::new(),
    ];
    for format in FORMATS {
        for encrypt in &damaged {
            let signed = app.sign_encrypt(encrypt, format);
            assert_error(app.send(&signed).await, StatusCode::BAD_REQUEST).await;
        }
    }
    app.assert_nothing_stored().await;
}

#[tokio::test]
async fn crafted_pkcs7_padding_errors_are_refused_with_400_and_store_nothing() {
    use aes::Aes256;
    use cbc::cipher::block_padding::NoPadding;
    use cbc::cipher::{BlockEncryptMut, KeyIvInit};

    // 43 × 'A' decodes to 32 zero bytes: key and IV are all zeros.
    let app = TestApp::start_with(&[("KEFU_WECHAT_AES_KEY", &"A".repeat(43))]).await;
    let appid = crate::helpers::APPID;
    let who = openid("crafted");
    let msg = sample_text(&who, Format::Json);
    let full_len = 20 + msg.len() + appid.len();
    let good_pad = 32 - full_len % 32;
    let build = |pad: &dyn Fn(usize) -> Vec<u8>| {
        let mut full = b"0123456789abcdef".to_vec();
        full.extend_from_slice(&(msg.len() as u32).to_be_bytes());
        full.extend_from_slice(msg.as_bytes());
        full.extend_from_slice(appid.as_bytes());
        full.extend(pad(full.len()));
        assert_eq!(full.len() % 32, 0);
        let key = [0u8; 32];
        let iv = [0u8; 16];
        let ct = cbc::Encryptor::<Aes256>::new((&key).into(), (&iv).into())
            .encrypt_padded_vec_mut::<NoPadding>(&full);
        STANDARD.encode(ct)
    };

    // a zero pad byte
    let zero = build(&|len| vec![0u8; 32 - len % 32]);
    // pad bytes that disagree with the last one
    let inconsistent = build(&|len| {
        let n = 32 - len % 32;
        let mut p = vec![1u8; n];
        *p.last_mut().unwrap() = n as u8;
        if n == 1 {
            // one byte of pad cannot disagree: use a 33-byte pad of 33s instead
            return vec![33u8; 33];
        }
        p
    });
    // a pad longer than the 32-byte block
    let too_long = build(&|len| {
        let n = 32 - len % 32 + 32;
        vec![n as u8; n]
    });
    // the well-formed one is accepted, so the failures above are about the padding
    let good = build(&|len| vec![good_pad as u8; 32 - len % 32]);

    for encrypt in [&zero, &inconsistent, &too_long] {
        let signed = app.sign_encrypt(encrypt, Format::Json);
        assert_error(app.send(&signed).await, StatusCode::BAD_REQUEST).await;
    }
    app.assert_nothing_stored().await;
    assert_success(app.send(&app.sign_encrypt(&good, Format::Json)).await).await;
    assert_eq!(app.messages_of(&who).await.len(), 1);
}

#[tokio::test]
async fn a_push_missing_from_user_name_is_refused_with_400_and_stores_nothing() {
    let app = TestApp::start().await;
    let json_body = format!(
        r#"{{"ToUserName":"gh_x","CreateTime":{},"MsgType":"text","Content":"who am I","MsgId":{}}}"#,
        now(),
        random_msg_id()
    );
    let xml_body = format!(
        "<xml><ToUserName>{}</ToUserName><CreateTime>{}</CreateTime><MsgType>{}</MsgType><Content>{}</Content><MsgId>{}</MsgId></xml>",
        cdata("gh_x"),
        now(),
        cdata("text"),
        cdata("who am I"),
        random_msg_id()
    );
    let empty_from = format!(
        r#"{{"ToUserName":"gh_x","FromUserName":"","CreateTime":{},"MsgType":"text","Content":"who am I","MsgId":{}}}"#,
        now(),
        random_msg_id()
    );
    for mode in MODES {
        for (body, format) in [
            (&json_body, Format::Json),
            (&xml_body, Format::Xml),
            (&empty_from, Format::Json),
        ] {
            let resp = app.push_plaintext(body, mode, format).await;
            assert_error(resp, StatusCode::BAD_REQUEST).await;
        }
    }
    app.assert_nothing_stored().await;
}

#[tokio::test]
async fn a_text_push_missing_its_type_or_time_is_refused_with_400() {
    // (a text without MsgId was refused here too until issue #11: it is stored now, see
    // strict.rs)
    let app = TestApp::start().await;
    let no_type = format!(
        r#"{{"ToUserName":"gh_x","FromUserName":"o-x","CreateTime":{},"Content":"no type","MsgId":1}}"#,
        now()
    );
    let no_time = r#"{"ToUserName":"gh_x","FromUserName":"o-x","MsgType":"text","Content":"no time","MsgId":2}"#;
    for body in [no_type.as_str(), no_time] {
        let resp = app.push_plaintext(body, Mode::Plain, Format::Json).await;
        assert_error(resp, StatusCode::BAD_REQUEST).await;
    }
    app.assert_nothing_stored().await;
}

#[tokio::test]
async fn a_server_without_a_wechat_token_refuses_pushes_with_503_and_stores_nothing() {
    let app = TestApp::start_with(&[("KEFU_WECHAT_TOKEN", "")]).await;
    for mode in MODES {
        let resp = app
            .push(
                &SimulatedKind::Text("hello".into()),
                "o-no-token",
                mode,
                Format::Json,
            )
            .await;
        assert_error(resp, StatusCode::SERVICE_UNAVAILABLE).await;
    }
    // the handshake is refused too: there is nothing to check the signature with
    let ts = now().to_string();
    let resp = app
        .client
        .get(format!(
            "{}?signature={}&timestamp={ts}&nonce=1&echostr=7",
            app.webhook_url(),
            signature("", &ts, "1")
        ))
        .send()
        .await
        .unwrap();
    assert_error(resp, StatusCode::SERVICE_UNAVAILABLE).await;
    app.assert_nothing_stored().await;
}

#[tokio::test]
async fn a_server_without_an_aes_key_refuses_encrypted_pushes_with_503_and_stores_nothing() {
    let app = TestApp::start_with(&[("KEFU_WECHAT_AES_KEY", "")]).await;
    for mode in [Mode::Safe, Mode::Compatible] {
        let resp = app
            .push(
                &SimulatedKind::Text("hello".into()),
                "o-no-key",
                mode,
                Format::Json,
            )
            .await;
        assert_error(resp, StatusCode::SERVICE_UNAVAILABLE).await;
    }
    app.assert_nothing_stored().await;
    // plaintext pushes still work
    app.push_text("o-no-key", "plain is fine").await;
    assert_eq!(app.messages_of("o-no-key").await.len(), 1);
}

#[tokio::test]
async fn the_webhook_listens_on_the_configured_path_only() {
    let app = TestApp::start_with(&[("KEFU_WEBHOOK_PATH", "/hooks/wx")]).await;
    let who = openid("custom-path");
    let body = sample_text(&who, Format::Json);
    let signed = app.sign(&body, Mode::Plain, Format::Json);
    assert_success(app.send(&signed).await).await;
    let resp = app
        .client
        .post(format!("{}?{}", app.url("/wechat"), signed.query))
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::NOT_FOUND);
    assert_eq!(app.messages_of(&who).await.len(), 1);
}

// ---------------------------------------------------------------------------------------------
// Conversations over time

#[tokio::test]
async fn a_customer_writing_after_their_conversation_was_resolved_starts_a_new_one() {
    let app = TestApp::start().await;
    let who = openid("resolved");
    app.push_text(&who, "first question").await;
    let first = app.conversation_of(&who).await;
    let resp = app
        .post_json(
            &format!("/api/v1/conversations/{}/status", id_of(&first)),
            json!({ "status": "resolved" }),
        )
        .await;
    assert_eq!(resp.status(), StatusCode::OK);
    let changed: Value = resp.json().await.unwrap();
    assert_eq!(changed["status"], "resolved");

    app.push_text(&who, "another question").await;
    let all = app.conversations_of(&who).await;
    assert_eq!(all.len(), 2, "{all:?}");
    let (new, old) = (&all[0], &all[1]);
    assert_ne!(id_of(new), id_of(&first));
    assert_eq!(id_of(old), id_of(&first));
    assert_eq!(new["status"], "open");
    assert_eq!(new["unread"], 1);
    let new_messages = app.messages(id_of(new)).await;
    assert_eq!(new_messages.len(), 1);
    assert_eq!(new_messages[0]["content"]["text"], "another question");
    assert_eq!(old["status"], "resolved");
    assert_eq!(app.messages(id_of(old)).await.len(), 1);
}

#[tokio::test]
async fn a_customer_writing_to_a_pending_conversation_moves_it_back_to_open() {
    let app = TestApp::start().await;
    let who = openid("pending");
    app.push_text(&who, "question").await;
    let conversation = app.conversation_of(&who).await;
    let resp = app
        .post_json(
            &format!("/api/v1/conversations/{}/status", id_of(&conversation)),
            json!({ "status": "pending" }),
        )
        .await;
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(app.conversation_of(&who).await["status"], "pending");
    app.push_text(&who, "any news?").await;
    let after = app.conversation_of(&who).await;
    assert_eq!(id_of(&after), id_of(&conversation));
    assert_eq!(after["status"], "open");
    assert_eq!(after["unread"], 2);
}

#[tokio::test]
async fn a_restart_keeps_every_message_and_still_recognises_duplicates() {
    let mut app = TestApp::start().await;
    let who = openid("restart");
    let msg_id = random_msg_id();
    let first = kefu::wechat::simulate::push_body(
        &SimulatedKind::Text("before the restart".into()),
        &who,
        msg_id,
        now(),
        Format::Json,
    );
    assert_success(app.push_plaintext(&first, Mode::Safe, Format::Json).await).await;
    let image = SimulatedKind::Image {
        media_id: "kept-media".into(),
    };
    assert_success(app.push(&image, &who, Mode::Plain, Format::Xml).await).await;
    assert_success(
        app.push(
            &SimulatedKind::Card {
                thumb_media_id: None,
            },
            &who,
            Mode::Compatible,
            Format::Json,
        )
        .await,
    )
    .await;
    let before = app.messages_of(&who).await;
    assert_eq!(before.len(), 3);

    app.restart().await;

    let after = app.messages_of(&who).await;
    assert_eq!(after, before, "every message reads back the same");
    assert_eq!(after[2]["content"]["text"], "before the restart");
    assert_eq!(after[1]["content"]["media_id"], "kept-media");
    assert_eq!(after[0]["type"], "miniprogrampage");

    assert_success(app.push_plaintext(&first, Mode::Plain, Format::Json).await).await;
    assert_eq!(app.messages_of(&who).await.len(), 3);
    assert_eq!(app.conversation_of(&who).await["unread"], 3);
    app.stop().await;
}

#[tokio::test]
async fn two_hundred_concurrent_pushes_are_all_acknowledged_and_stored() {
    let app = TestApp::start().await;
    let mut set = tokio::task::JoinSet::new();
    let customers: Vec<String> = (0..40).map(|i| openid(&format!("burst{i}"))).collect();
    for i in 0..200usize {
        let mode = MODES[i % 3];
        let format = FORMATS[i % 2];
        let who = customers[i % customers.len()].clone();
        let body = kefu::wechat::simulate::push_body(
            &SimulatedKind::Text(format!("message {i}")),
            &who,
            random_msg_id(),
            now(),
            format,
        );
        let signed = app.sign(&body, mode, format);
        let client = app.client.clone();
        let url = format!("{}?{}", app.webhook_url(), signed.query);
        set.spawn(async move {
            let resp = client.post(url).body(signed.body).send().await.unwrap();
            (resp.status(), resp.text().await.unwrap())
        });
    }
    let mut acknowledged = 0;
    while let Some(result) = set.join_next().await {
        let (status, text) = result.unwrap();
        assert_eq!((status, text.as_str()), (StatusCode::OK, "success"));
        acknowledged += 1;
    }
    assert_eq!(acknowledged, 200);
    assert_eq!(app.stored_inbound().await, 200);
    let conversations = app.conversations().await;
    assert_eq!(conversations.len(), 40);
    let mut total = 0;
    for c in &conversations {
        let n = app.messages(id_of(c)).await.len();
        assert_eq!(n, 5, "{c}");
        assert_eq!(c["unread"], 5);
        total += n;
    }
    assert_eq!(total, 200);
}

#[tokio::test]
async fn fifty_concurrent_copies_of_one_push_store_it_once() {
    let app = TestApp::start().await;
    let who = openid("copies");
    let body = kefu::wechat::simulate::push_body(
        &SimulatedKind::Text("only once".into()),
        &who,
        random_msg_id(),
        now(),
        Format::Json,
    );
    let signed = app.sign(&body, Mode::Safe, Format::Json);
    let mut set = tokio::task::JoinSet::new();
    for _ in 0..50 {
        let client = app.client.clone();
        let url = format!("{}?{}", app.webhook_url(), signed.query);
        let body = signed.body.clone();
        set.spawn(async move {
            let resp = client.post(url).body(body).send().await.unwrap();
            (resp.status(), resp.text().await.unwrap())
        });
    }
    while let Some(result) = set.join_next().await {
        let (status, text) = result.unwrap();
        assert_eq!((status, text.as_str()), (StatusCode::OK, "success"));
    }
    assert_eq!(app.stored_inbound().await, 1);
    let messages = assert_one_message_one_unread(&app, &who).await;
    assert_eq!(messages[0]["content"]["text"], "only once");
}

#[tokio::test]
async fn reopening_a_resolved_conversation_brings_the_customers_next_message_back_to_it() {
    let app = TestApp::start().await;
    let who = openid("reopen");
    app.push_text(&who, "first").await;
    let id = id_of(&app.conversation_of(&who).await);
    let path = format!("/api/v1/conversations/{id}/status");
    for status in ["resolved", "open"] {
        let resp = app.post_json(&path, json!({ "status": status })).await;
        assert_eq!(resp.status(), StatusCode::OK);
    }
    app.push_text(&who, "second").await;
    let conversation = app.conversation_of(&who).await;
    assert_eq!(id_of(&conversation), id);
    assert_eq!(conversation["status"], "open");
    assert_eq!(app.messages(id).await.len(), 2);
}

/// Every time field of a conversation (and its last message) is RFC 3339 or null.
fn assert_times_are_rfc3339_or_null(conversation: &Value) {
    let message = &conversation["last_message"];
    for (owner, key) in [
        (conversation, "last_message_at"),
        (conversation, "reply_window_ends_at"),
        (message, "created_at"),
    ] {
        let value = &owner[key];
        if value.is_null() {
            continue;
        }
        let text = value.as_str().unwrap_or_default();
        assert!(
            time::OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339)
                .is_ok(),
            "{key} is not RFC 3339: {value} in {conversation}"
        );
    }
}

#[tokio::test]
async fn a_push_with_an_out_of_range_create_time_leaves_the_conversation_list_working() {
    for create_time in ["9223372036854775807", "99999999999999"] {
        let app = TestApp::start().await;
        let who = openid("far-future");
        let body = text_json(
            &who,
            &random_msg_id().to_string(),
            create_time,
            "from the far future",
        );
        let resp = app.push_plaintext(&body, Mode::Plain, Format::Json).await;
        let status = resp.status();
        assert!(
            status == StatusCode::OK || status == StatusCode::BAD_REQUEST,
            "CreateTime {create_time}: either stored or refused, got {status}"
        );
        // whatever happened to that push, the inbox still lists conversations
        app.push_text(&openid("ordinary"), "hello").await;
        let resp = app
            .client
            .get(app.url("/api/v1/conversations?status=all"))
            .bearer_auth(&app.token)
            .send()
            .await;
        let resp = resp.unwrap_or_else(|e| {
            panic!("CreateTime {create_time}: the conversation list broke: {e}")
        });
        assert_eq!(resp.status(), StatusCode::OK, "CreateTime {create_time}");
        let page: Value = resp.json().await.unwrap();
        for c in page["conversations"].as_array().unwrap() {
            assert_times_are_rfc3339_or_null(c);
        }
    }
}
