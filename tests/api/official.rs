//! What an Official Account (公众号) pushes: voice, video, short video, location and link
//! messages and its events, in XML and JSON, plaintext and safe mode; each stored once with
//! the contract's content shape, shown on the conversation page (escaped, links only to
//! http(s)), voice messages and videos fetched from WeChat and served back as kept; what
//! WeChat never sends refused with 400.

use std::time::Duration;

use kefu::wechat::push::Format;
use kefu::wechat::simulate::{self, SimulatedKind};
use reqwest::StatusCode;
use scraper::Html;
use serde_json::{Value, json};

use crate::helpers::{
    Mode, TestApp, all, assert_error, assert_success, attr, id_of, now, one, openid, start_sending,
};

const WAIT: Duration = Duration::from_secs(20);

/// One kind of push: its fields after the common head, in XML and in JSON, and the content
/// the API must give back (a `url` of kefu's copy is checked apart, as its id varies).
struct Case {
    name: &'static str,
    msg_type: &'static str,
    xml: &'static str,
    json: &'static str,
    expect_type: &'static str,
    /// the customer talking (unread, reply window) or an event
    customer: bool,
    content: Value,
}

fn cases() -> Vec<Case> {
    let event = |name: &'static str, xml: &'static str, json: &'static str, content: Value| Case {
        name,
        msg_type: "event",
        xml,
        json,
        expect_type: "event",
        customer: false,
        content,
    };
    vec![
        Case {
            name: "voice",
            msg_type: "voice",
            xml: "<MediaId><![CDATA[voice-media]]></MediaId><Format><![CDATA[amr]]></Format><Recognition><![CDATA[腾讯微信团队]]></Recognition>",
            json: r#","MediaId":"voice-media","Format":"amr","Recognition":"腾讯微信团队""#,
            expect_type: "voice",
            customer: true,
            content: json!({ "media_id": "voice-media", "format": "amr", "recognition": "腾讯微信团队" }),
        },
        Case {
            name: "voice-unrecognised",
            msg_type: "voice",
            xml: "<MediaId>voice-media-2</MediaId><Format>speex</Format>",
            json: r#","MediaId":"voice-media-2","Format":"speex""#,
            expect_type: "voice",
            customer: true,
            content: json!({ "media_id": "voice-media-2", "format": "speex", "recognition": null }),
        },
        Case {
            name: "video",
            msg_type: "video",
            xml: "<MediaId><![CDATA[video-media]]></MediaId><ThumbMediaId><![CDATA[video-thumb]]></ThumbMediaId>",
            json: r#","MediaId":"video-media","ThumbMediaId":"video-thumb""#,
            expect_type: "video",
            customer: true,
            content: json!({ "media_id": "video-media", "thumb_media_id": "video-thumb" }),
        },
        Case {
            name: "shortvideo",
            msg_type: "shortvideo",
            xml: "<MediaId><![CDATA[short-media]]></MediaId><ThumbMediaId><![CDATA[short-thumb]]></ThumbMediaId>",
            json: r#","MediaId":"short-media","ThumbMediaId":"short-thumb""#,
            expect_type: "shortvideo",
            customer: true,
            content: json!({ "media_id": "short-media", "thumb_media_id": "short-thumb" }),
        },
        Case {
            name: "location",
            msg_type: "location",
            xml: "<Location_X>23.134521</Location_X><Location_Y>113.358803</Location_Y><Scale>20</Scale><Label><![CDATA[位置信息]]></Label>",
            json: r#","Location_X":23.134521,"Location_Y":113.358803,"Scale":20,"Label":"位置信息""#,
            expect_type: "location",
            customer: true,
            content: json!({ "latitude": 23.134521, "longitude": 113.358803, "scale": 20, "label": "位置信息" }),
        },
        Case {
            name: "link",
            msg_type: "link",
            xml: "<Title><![CDATA[公众平台官网链接]]></Title><Description><![CDATA[公众平台官网]]></Description><Url><![CDATA[https://mp.weixin.qq.com/]]></Url>",
            json: r#","Title":"公众平台官网链接","Description":"公众平台官网","Url":"https://mp.weixin.qq.com/""#,
            expect_type: "link",
            customer: true,
            content: json!({ "title": "公众平台官网链接", "description": "公众平台官网", "url": "https://mp.weixin.qq.com/" }),
        },
        event(
            "subscribe",
            "<Event><![CDATA[subscribe]]></Event><EventKey><![CDATA[]]></EventKey>",
            r#","Event":"subscribe""#,
            json!({ "event": "subscribe", "session_from": null }),
        ),
        event(
            "subscribe-qr",
            "<Event><![CDATA[subscribe]]></Event><EventKey><![CDATA[qrscene_123123]]></EventKey><Ticket><![CDATA[TICKET]]></Ticket>",
            r#","Event":"subscribe","EventKey":"qrscene_123123","Ticket":"TICKET""#,
            json!({ "event": "subscribe", "event_key": "qrscene_123123", "ticket": "TICKET", "session_from": null }),
        ),
        event(
            "unsubscribe",
            "<Event><![CDATA[unsubscribe]]></Event>",
            r#","Event":"unsubscribe""#,
            json!({ "event": "unsubscribe", "session_from": null }),
        ),
        event(
            "scan",
            "<Event><![CDATA[SCAN]]></Event><EventKey><![CDATA[SCENE_VALUE]]></EventKey><Ticket><![CDATA[TICKET]]></Ticket>",
            r#","Event":"SCAN","EventKey":"SCENE_VALUE","Ticket":"TICKET""#,
            json!({ "event": "SCAN", "event_key": "SCENE_VALUE", "ticket": "TICKET", "session_from": null }),
        ),
        event(
            "click",
            "<Event><![CDATA[CLICK]]></Event><EventKey><![CDATA[V1001_TODAY_MUSIC]]></EventKey>",
            r#","Event":"CLICK","EventKey":"V1001_TODAY_MUSIC""#,
            json!({ "event": "CLICK", "event_key": "V1001_TODAY_MUSIC", "session_from": null }),
        ),
        event(
            "view",
            "<Event><![CDATA[VIEW]]></Event><EventKey><![CDATA[https://www.qq.com/]]></EventKey><MenuId>1</MenuId>",
            r#","Event":"VIEW","EventKey":"https://www.qq.com/","MenuId":1"#,
            json!({ "event": "VIEW", "event_key": "https://www.qq.com/", "session_from": null }),
        ),
        event(
            "location-report",
            "<Event><![CDATA[LOCATION]]></Event><Latitude>23.137466</Latitude><Longitude>113.352425</Longitude><Precision>119.385040</Precision>",
            r#","Event":"LOCATION","Latitude":23.137466,"Longitude":113.352425,"Precision":119.385040"#,
            json!({ "event": "LOCATION", "latitude": 23.137466, "longitude": 113.352425, "precision": 119.38504, "session_from": null }),
        ),
        event(
            "kf-create",
            "<Event><![CDATA[kf_create_session]]></Event><KfAccount><![CDATA[test1@test]]></KfAccount>",
            r#","Event":"kf_create_session","KfAccount":"test1@test""#,
            json!({ "event": "kf_create_session", "kf_account": "test1@test", "session_from": null }),
        ),
        event(
            "kf-close",
            "<Event><![CDATA[kf_close_session]]></Event><KfAccount><![CDATA[test1@test]]></KfAccount>",
            r#","Event":"kf_close_session","KfAccount":"test1@test""#,
            json!({ "event": "kf_close_session", "kf_account": "test1@test", "session_from": null }),
        ),
        event(
            "kf-switch",
            "<Event><![CDATA[kf_switch_session]]></Event><FromKfAccount><![CDATA[test1@test]]></FromKfAccount><ToKfAccount><![CDATA[test2@test]]></ToKfAccount>",
            r#","Event":"kf_switch_session","FromKfAccount":"test1@test","ToKfAccount":"test2@test""#,
            json!({ "event": "kf_switch_session", "from_kf_account": "test1@test", "to_kf_account": "test2@test", "session_from": null }),
        ),
    ]
}

/// A push of `case` from `who` at `time` written in `format`, as an Official Account
/// receives it.
fn body_of(case: &Case, who: &str, format: Format, time: i64) -> String {
    let msg_id = simulate::random_msg_id();
    // events carry no MsgId (their key is sender, time and event)
    let with_id = case.msg_type != "event";
    match format {
        Format::Xml => {
            let id = if with_id {
                format!("<MsgId>{msg_id}</MsgId>")
            } else {
                String::new()
            };
            format!(
                "<xml><ToUserName><![CDATA[gh_official]]></ToUserName><FromUserName><![CDATA[{who}]]></FromUserName><CreateTime>{time}</CreateTime><MsgType><![CDATA[{}]]></MsgType>{}{id}</xml>",
                case.msg_type, case.xml
            )
        }
        Format::Json => {
            let id = if with_id {
                format!(r#","MsgId":{msg_id}"#)
            } else {
                String::new()
            };
            format!(
                r#"{{"ToUserName":"gh_official","FromUserName":"{who}","CreateTime":{time},"MsgType":"{}"{}{id}}}"#,
                case.msg_type, case.json
            )
        }
    }
}

/// The content without kefu's `url` of its copy of a voice message's or a video's file, which
/// must be there. (A link's `url` is the link: kept.)
fn without_url(message: &Value) -> Value {
    let mut content = message["content"].clone();
    if matches!(
        message["type"].as_str(),
        Some("voice" | "video" | "shortvideo")
    ) {
        let url = content.as_object_mut().and_then(|o| o.remove("url"));
        let id = id_of(message);
        assert_eq!(
            url,
            Some(Value::String(format!("/api/v1/messages/{id}/media"))),
            "{message}"
        );
    }
    content
}

async fn every_official_push_reads_back_once(mode: Mode, format: Format) {
    let app = TestApp::start().await;
    for case in cases() {
        let who = openid(&format!("{}-{mode:?}-{format:?}", case.name));
        let body = body_of(&case, &who, format, now());
        let signed = app.sign(&body, mode, format);
        assert_success(app.send(&signed).await).await;
        // WeChat's retry of the very same push changes nothing
        assert_success(app.send(&signed).await).await;
        assert_success(app.push_plaintext(&body, mode, format).await).await;

        let conversation = app.conversation_of(&who).await;
        let messages = app.messages(id_of(&conversation)).await;
        assert_eq!(messages.len(), 1, "{}: {messages:?}", case.name);
        let m = &messages[0];
        assert_eq!(m["type"], case.expect_type, "{}: {m}", case.name);
        assert_eq!(m["direction"], "in", "{m}");
        assert_eq!(m["sender"]["kind"], "customer", "{m}");
        assert_eq!(m["sender"]["id"], who.as_str(), "{m}");
        assert_eq!(m["status"], "received", "{m}");
        assert_eq!(
            without_url(m),
            case.content,
            "{} {mode:?} {format:?}",
            case.name
        );
        // a message is the customer talking; an event is not
        let unread = i64::from(case.customer);
        assert_eq!(
            conversation["unread"], unread,
            "{}: {conversation}",
            case.name
        );
        assert_eq!(
            conversation["reply_window_ends_at"].is_null(),
            !case.customer,
            "{}: {conversation}",
            case.name
        );
    }
    assert_eq!(app.stored_inbound().await, cases().len() as i64);
}

#[tokio::test]
async fn every_official_push_in_plaintext_xml_is_stored_once_as_the_contract_shows_it() {
    every_official_push_reads_back_once(Mode::Plain, Format::Xml).await;
}

#[tokio::test]
async fn every_official_push_in_plaintext_json_is_stored_once_as_the_contract_shows_it() {
    every_official_push_reads_back_once(Mode::Plain, Format::Json).await;
}

#[tokio::test]
async fn every_official_push_in_safe_mode_xml_is_stored_once_as_the_contract_shows_it() {
    every_official_push_reads_back_once(Mode::Safe, Format::Xml).await;
}

#[tokio::test]
async fn every_official_push_in_safe_mode_json_is_stored_once_as_the_contract_shows_it() {
    every_official_push_reads_back_once(Mode::Safe, Format::Json).await;
}

// ---------------------------------------------------------------------------------------------
// The conversation page

/// A page as HTML, fetched with the admin's token, in `lang`.
async fn page(app: &TestApp, path: &str, lang: &str) -> Html {
    let resp = app
        .client
        .get(app.url(path))
        .bearer_auth(&app.token)
        .header("Accept-Language", lang)
        .send()
        .await
        .expect("the page answers");
    assert_eq!(resp.status(), StatusCode::OK, "{path}");
    Html::parse_document(&resp.text().await.expect("a body"))
}

/// Sends the cases named from one customer (plaintext XML), a second apart (two follows in
/// the same second are one event); returns the conversation's id.
async fn one_customer_sends(app: &TestApp, who: &str, which: &[&str]) -> i64 {
    let start = now();
    for (i, case) in cases()
        .iter()
        .filter(|c| which.contains(&c.name))
        .enumerate()
    {
        let body = body_of(case, who, Format::Xml, start + i as i64);
        assert_success(app.push_plaintext(&body, Mode::Plain, Format::Xml).await).await;
    }
    id_of(&app.conversation_of(who).await)
}

fn message_of<'a>(messages: &'a [Value], kind: &str) -> &'a Value {
    messages
        .iter()
        .find(|m| m["type"] == kind)
        .unwrap_or_else(|| panic!("no {kind} in {messages:?}"))
}

#[tokio::test]
async fn the_conversation_shows_a_place_a_link_a_voice_message_and_each_event_readably() {
    let app = TestApp::start().await;
    let who = openid("page");
    let names = [
        "voice",
        "video",
        "location",
        "link",
        "subscribe",
        "subscribe-qr",
        "unsubscribe",
        "scan",
        "click",
        "view",
        "location-report",
        "kf-create",
        "kf-close",
        "kf-switch",
    ];
    let c = one_customer_sends(&app, &who, &names).await;
    let messages = app.messages(c).await;
    let path = format!("/conversations/{c}");

    for (lang, words) in [
        (
            "zh-CN",
            [
                "关注了公众号",
                "扫码关注了公众号 · 场景 123123",
                "取消关注了公众号",
                "扫描了二维码 · 场景 SCENE_VALUE",
                "点击了菜单 · V1001_TODAY_MUSIC",
                "点击菜单打开了网页",
                "上报了地理位置 · 纬度 23.137466，经度 113.352425 · 精度 119 米",
                "微信客服 test1@test 接入了会话",
                "微信客服 test1@test 结束了会话",
                "会话从微信客服 test1@test 转给了 test2@test",
            ],
        ),
        (
            "en",
            [
                "followed the account",
                "followed the account from a QR code · scene 123123",
                "unfollowed the account",
                "scanned a QR code · scene SCENE_VALUE",
                "clicked the menu · V1001_TODAY_MUSIC",
                "opened a web page from the menu",
                "reported their location · latitude 23.137466, longitude 113.352425 · within 119 m",
                "test1@test of WeChat's customer-service tool took the session",
                "test1@test of WeChat's customer-service tool closed the session",
                "the session went from test1@test to test2@test in WeChat's customer-service tool",
            ],
        ),
    ] {
        let html = page(&app, &path, lang).await;
        let events = all(&html, "li.msg.kind-event .msg-event");
        assert_eq!(events, words, "{lang}");
        // the menu's web page is a link, the reported place a map link
        let view = id_of(
            messages
                .iter()
                .find(|m| m["content"]["event"] == "VIEW")
                .expect("the VIEW event"),
        );
        assert_eq!(
            attr(&html, &format!("#msg-{view} a.msg-event-link"), "href").as_deref(),
            Some("https://www.qq.com/")
        );
        let report = id_of(
            messages
                .iter()
                .find(|m| m["content"]["event"] == "LOCATION")
                .expect("the LOCATION event"),
        );
        let map = attr(&html, &format!("#msg-{report} a.msg-map"), "href").unwrap_or_default();
        assert!(
            map.starts_with("https://uri.amap.com/marker?position=113.352425,23.137466"),
            "{map}"
        );

        // the shared place: its name, its coordinates, a map link at it
        let place = id_of(message_of(&messages, "location"));
        assert_eq!(one(&html, &format!("#msg-{place} .msg-place")), "位置信息");
        let map = attr(&html, &format!("#msg-{place} a.msg-map"), "href").unwrap_or_default();
        assert!(
            map.starts_with(
                "https://uri.amap.com/marker?position=113.358803,23.134521&name=%E4%BD%8D%E7%BD%AE%E4%BF%A1%E6%81%AF&"
            ),
            "{map}"
        );
        // the link as a card
        let link = id_of(message_of(&messages, "link"));
        assert_eq!(
            one(&html, &format!("#msg-{link} .card-title")),
            "公众平台官网链接"
        );
        assert_eq!(
            one(&html, &format!("#msg-{link} .card-desc")),
            "公众平台官网"
        );
        assert_eq!(
            attr(&html, &format!("#msg-{link} a.card-url"), "href").as_deref(),
            Some("https://mp.weixin.qq.com/")
        );
        // the voice message: WeChat has not given the file (no fake API here), so it says
        // so, with what was heard
        let voice = id_of(message_of(&messages, "voice"));
        assert_eq!(
            all(&html, &format!("#msg-{voice} .msg-recognition")).len(),
            1,
            "{lang}"
        );
        assert!(one(&html, &format!("#msg-{voice} .msg-recognition")).ends_with("腾讯微信团队"));
    }

    // the list's one-line previews
    let html = page(&app, "/inbox?view=all", "zh-CN").await;
    assert_eq!(
        one(&html, &format!("#conv-{c} .conv-preview")),
        "客户：[事件] 会话从微信客服 test1@test 转给了 test2@test"
    );
    for (case, preview) in [
        ("voice", "客户：[语音] 腾讯微信团队"),
        ("video", "客户：[视频]"),
        ("shortvideo", "客户：[小视频]"),
        ("location", "客户：[位置] 位置信息"),
        ("link", "客户：[链接] 公众平台官网链接"),
    ] {
        let who = openid(&format!("preview-{case}"));
        let c = one_customer_sends(&app, &who, &[case]).await;
        let html = page(&app, "/inbox?view=all", "zh-CN").await;
        assert_eq!(one(&html, &format!("#conv-{c} .conv-preview")), preview);
    }
    let who = openid("preview-en");
    let c = one_customer_sends(&app, &who, &["location"]).await;
    let html = page(&app, "/inbox?view=all", "en").await;
    assert_eq!(
        one(&html, &format!("#conv-{c} .conv-preview")),
        "Customer: [location] 位置信息"
    );
}

#[tokio::test]
async fn hostile_official_content_is_shown_as_text_and_never_as_a_link() {
    let app = TestApp::start().await;
    let who = openid("hostile");
    let attack = "<script>alert(1)</script>";
    let img = "<img src=x onerror=alert(2)>";
    for body in [
        format!(
            r#"{{"FromUserName":"{who}","CreateTime":{},"MsgType":"voice","MediaId":"m","Format":"amr","Recognition":"{attack}","MsgId":{}}}"#,
            now(),
            simulate::random_msg_id()
        ),
        format!(
            r#"{{"FromUserName":"{who}","CreateTime":{},"MsgType":"location","Location_X":1.5,"Location_Y":2.5,"Label":"{attack}&x=\"y","MsgId":{}}}"#,
            now(),
            simulate::random_msg_id()
        ),
        format!(
            r#"{{"FromUserName":"{who}","CreateTime":{},"MsgType":"link","Title":"{img}","Description":"{attack}","Url":"javascript:alert(3)","MsgId":{}}}"#,
            now(),
            simulate::random_msg_id()
        ),
        format!(
            r#"{{"FromUserName":"{who}","CreateTime":{},"MsgType":"event","Event":"VIEW","EventKey":"javascript:alert(4)"}}"#,
            now()
        ),
        format!(
            r#"{{"FromUserName":"{who}","CreateTime":{},"MsgType":"event","Event":"CLICK","EventKey":"{attack}"}}"#,
            now() + 1
        ),
    ] {
        assert_success(app.push_plaintext(&body, Mode::Plain, Format::Json).await).await;
    }
    let c = id_of(&app.conversation_of(&who).await);
    let messages = app.messages(c).await;
    assert_eq!(messages.len(), 5, "{messages:?}");
    let html = page(&app, &format!("/conversations/{c}"), "en").await;

    // no element came from a customer: no script, no img in the messages
    assert!(all(&html, "li.msg script").is_empty());
    assert!(all(&html, "li.msg img").is_empty());
    // every link in a message goes to an http(s) address
    let sel = scraper::Selector::parse("li.msg a[href]").expect("a selector");
    for a in html.select(&sel) {
        let href = a.value().attr("href").unwrap_or_default();
        assert!(
            href.starts_with("https://") || href.starts_with("http://") || href.starts_with('/'),
            "{href}"
        );
    }
    // the words themselves are shown, as text
    let voice = id_of(message_of(&messages, "voice"));
    assert!(one(&html, &format!("#msg-{voice} .msg-recognition")).ends_with(attack));
    let place = id_of(message_of(&messages, "location"));
    assert_eq!(
        one(&html, &format!("#msg-{place} .msg-place")),
        format!("{attack}&x=\"y")
    );
    // the label is one parameter of the map link, encoded
    let map = attr(&html, &format!("#msg-{place} a.msg-map"), "href").unwrap_or_default();
    assert!(
        map.contains("&name=%3Cscript%3Ealert%281%29%3C%2Fscript%3E%26x%3D%22y&"),
        "{map}"
    );
    let link = id_of(message_of(&messages, "link"));
    assert_eq!(one(&html, &format!("#msg-{link} .card-title")), img);
    assert_eq!(one(&html, &format!("#msg-{link} .card-desc")), attack);
    assert!(all(&html, &format!("#msg-{link} a")).is_empty(), "no link");
    assert_eq!(
        one(&html, &format!("#msg-{link} .card-url")),
        "javascript:alert(3)"
    );
    let events = all(&html, "li.msg.kind-event .msg-event");
    assert_eq!(
        events,
        [
            "opened a web page from the menu · javascript:alert(4)".to_owned(),
            format!("clicked the menu · {attack}"),
        ]
    );
    assert!(all(&html, "li.msg.kind-event a").is_empty(), "no link");
}

// ---------------------------------------------------------------------------------------------
// Voice messages and videos kept by kefu

/// An AMR file (RFC 4867): the magic, then NO_DATA frames.
fn amr() -> Vec<u8> {
    let mut bytes = b"#!AMR\n".to_vec();
    bytes.extend_from_slice(&[0x7C; 25]);
    bytes
}

/// The start of an MP4 file: an `ftyp` box.
fn mp4() -> Vec<u8> {
    let mut bytes = b"\x00\x00\x00\x18ftypmp42\x00\x00\x00\x00mp42isom".to_vec();
    bytes.extend_from_slice(&[0u8; 64]);
    bytes
}

/// GETs kefu's copy of a message's file once the media worker has it.
async fn kept_file(app: &TestApp, message_id: i64) -> (String, String, Vec<u8>) {
    let url = format!("/api/v1/messages/{message_id}/media");
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let resp = app.get(&url).await;
        if resp.status() == StatusCode::OK {
            let header = |name: reqwest::header::HeaderName| {
                resp.headers()
                    .get(name)
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or_default()
                    .to_owned()
            };
            let content_type = header(reqwest::header::CONTENT_TYPE);
            let disposition = header(reqwest::header::CONTENT_DISPOSITION);
            let bytes = resp.bytes().await.expect("the file").to_vec();
            return (content_type, disposition, bytes);
        }
        let body = assert_error(resp, StatusCode::NOT_FOUND).await;
        assert_eq!(body["error"]["code"], "media_not_ready", "{body}");
        assert!(
            tokio::time::Instant::now() < deadline,
            "message {message_id}'s file never came"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn a_voice_message_and_a_video_are_fetched_from_wechat_and_served_as_they_came() {
    let (app, fake) = start_sending(&[]).await;
    fake.add_media("voice-amr-1", "audio/amr", amr());
    fake.add_media("voice-mp3-1", "audio/mpeg", b"ID3\x04\x00\x00rest".to_vec());
    fake.add_media("video-1", "video/mp4", mp4());
    let who = openid("kept");
    for kind in [
        SimulatedKind::Voice {
            media_id: "voice-amr-1".into(),
            recognition: Some("你好".into()),
        },
        SimulatedKind::Video {
            media_id: "video-1".into(),
            short: false,
        },
    ] {
        assert_success(app.push(&kind, &who, Mode::Safe, Format::Xml).await).await;
    }
    // a voice message in a format browsers play
    let mp3 = format!(
        "<xml><FromUserName><![CDATA[{who}]]></FromUserName><CreateTime>{}</CreateTime><MsgType><![CDATA[voice]]></MsgType><MediaId><![CDATA[voice-mp3-1]]></MediaId><Format><![CDATA[mp3]]></Format><MsgId>{}</MsgId></xml>",
        now(),
        simulate::random_msg_id()
    );
    assert_success(app.push_plaintext(&mp3, Mode::Plain, Format::Xml).await).await;
    let c = id_of(&app.conversation_of(&who).await);
    let messages = app.messages(c).await;
    let voices: Vec<&Value> = messages.iter().filter(|m| m["type"] == "voice").collect();
    let (amr_id, mp3_id) = match voices.as_slice() {
        [newer, older] => (id_of(older), id_of(newer)),
        other => panic!("two voice messages: {other:?}"),
    };
    let video_id = id_of(message_of(&messages, "video"));

    let (content_type, disposition, bytes) = kept_file(&app, amr_id).await;
    assert_eq!(content_type, "audio/amr");
    assert_eq!(bytes, amr());
    assert!(
        disposition.ends_with(&format!("kefu-message-{amr_id}.amr\"")),
        "{disposition}"
    );
    assert!(
        app.data_dir()
            .join(format!("media/in/{amr_id}.amr"))
            .exists()
    );
    let (content_type, _, bytes) = kept_file(&app, mp3_id).await;
    assert_eq!(content_type, "audio/mpeg");
    assert_eq!(bytes, b"ID3\x04\x00\x00rest");

    // WeChat answers a video's media/get with its address: kefu fetched the file from there
    let (content_type, disposition, bytes) = kept_file(&app, video_id).await;
    assert_eq!(content_type, "video/mp4");
    assert_eq!(bytes, mp4());
    assert!(disposition.ends_with(".mp4\""), "{disposition}");
    assert_eq!(fake.calls_to("/fake-video/video-1").len(), 1);

    // the page: AMR for download (no browser plays it), MP3 in a player, the video in one
    let html = page(&app, &format!("/conversations/{c}"), "en").await;
    let url = |id: i64| format!("/api/v1/messages/{id}/media");
    assert_eq!(
        attr(&html, &format!("#msg-{amr_id} a.msg-download"), "href"),
        Some(url(amr_id))
    );
    assert_eq!(
        one(&html, &format!("#msg-{amr_id} a.msg-download")),
        "Download the voice message (AMR: browsers cannot play it)"
    );
    assert!(all(&html, &format!("#msg-{amr_id} audio")).is_empty());
    assert_eq!(
        attr(&html, &format!("#msg-{mp3_id} audio.msg-audio"), "src"),
        Some(url(mp3_id))
    );
    assert!(attr(&html, &format!("#msg-{mp3_id} audio"), "controls").is_some());
    assert_eq!(
        attr(&html, &format!("#msg-{video_id} video.msg-video"), "src"),
        Some(url(video_id))
    );
    assert!(attr(&html, &format!("#msg-{video_id} video"), "controls").is_some());
    // the API names kefu's copy
    let messages = app.messages(c).await;
    assert_eq!(
        message_of(&messages, "video")["content"]["url"],
        url(video_id)
    );
}

#[tokio::test]
async fn a_voice_message_wechat_will_not_give_is_marked_failed() {
    let (app, _fake) = start_sending(&[]).await;
    let who = openid("gone");
    let kind = SimulatedKind::Voice {
        media_id: "never-uploaded".into(),
        recognition: None,
    };
    assert_success(app.push(&kind, &who, Mode::Plain, Format::Json).await).await;
    let messages = app.messages_of(&who).await;
    let id = id_of(&messages[0]);
    let url = format!("/api/v1/messages/{id}/media");
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let body = assert_error(app.get(&url).await, StatusCode::NOT_FOUND).await;
        if body["error"]["code"] == "media_failed" {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "{body}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let c = id_of(&app.conversation_of(&who).await);
    let html = page(&app, &format!("/conversations/{c}"), "en").await;
    assert_eq!(
        one(&html, &format!("#msg-{id} .msg-voice")),
        "The voice message could not be fetched"
    );
}

// ---------------------------------------------------------------------------------------------
// What WeChat never sends

#[tokio::test]
async fn an_official_push_wechat_never_sends_is_refused_with_400_and_stores_nothing() {
    let app = TestApp::start().await;
    let who = openid("refused");
    let t = now();
    let xml = |msg_type: &str, fields: &str| {
        format!(
            "<xml><FromUserName><![CDATA[{who}]]></FromUserName><CreateTime>{t}</CreateTime><MsgType><![CDATA[{msg_type}]]></MsgType>{fields}<MsgId>1</MsgId></xml>"
        )
    };
    let json = |msg_type: &str, fields: &str| {
        format!(
            r#"{{"FromUserName":"{who}","CreateTime":{t},"MsgType":"{msg_type}"{fields},"MsgId":1}}"#
        )
    };
    for (format, body) in [
        // a latitude that is no number, or no place on earth
        (
            Format::Xml,
            xml(
                "location",
                "<Location_X>north</Location_X><Location_Y>113.1</Location_Y>",
            ),
        ),
        (
            Format::Xml,
            xml(
                "location",
                "<Location_X>1e3</Location_X><Location_Y>113.1</Location_Y>",
            ),
        ),
        (
            Format::Json,
            json("location", r#","Location_X":true,"Location_Y":113.1"#),
        ),
        (
            Format::Json,
            json("location", r#","Location_X":95.5,"Location_Y":113.1"#),
        ),
        (
            Format::Json,
            json("location", r#","Location_X":1,"Location_Y":2,"Scale":-1"#),
        ),
        // a control character, escaped in JSON, raw in XML
        (
            Format::Json,
            json("voice", r#","MediaId":"m","Recognition":"a\u0001b""#),
        ),
        (
            Format::Xml,
            xml(
                "location",
                "<Location_X>1</Location_X><Location_Y>2</Location_Y><Label>a\u{1}b</Label>",
            ),
        ),
        // a field of the wrong type; a key twice; a missing file
        (Format::Json, json("link", r#","Title":"t","Url":42"#)),
        (
            Format::Json,
            json("voice", r#","MediaId":"m","MediaId":"n""#),
        ),
        (Format::Xml, xml("video", "<ThumbMediaId>t</ThumbMediaId>")),
        (
            Format::Json,
            format!(
                r#"{{"FromUserName":"{who}","CreateTime":{t},"MsgType":"event","Event":"CLICK","EventKey":7}}"#
            ),
        ),
        (
            Format::Json,
            format!(
                r#"{{"FromUserName":"{who}","CreateTime":{t},"MsgType":"event","Event":"LOCATION","Latitude":"x"}}"#
            ),
        ),
    ] {
        for mode in [Mode::Plain, Mode::Safe] {
            let resp = app.push_plaintext(&body, mode, format).await;
            let err = assert_error(resp, StatusCode::BAD_REQUEST).await;
            assert!(!err.to_string().contains("<script"), "{err}");
        }
    }
    app.assert_nothing_stored().await;
}

#[tokio::test]
async fn the_simulator_sends_each_official_kind_as_wechat_would() {
    let app = TestApp::start().await;
    let kinds = [
        SimulatedKind::Voice {
            media_id: "sim-voice".into(),
            recognition: Some("你好".into()),
        },
        SimulatedKind::Video {
            media_id: "sim-video".into(),
            short: true,
        },
        SimulatedKind::Location {
            latitude: 39.908823,
            longitude: 116.39747,
            label: "天安门".into(),
        },
        SimulatedKind::Link {
            title: "t".into(),
            description: "d".into(),
            url: "https://example.com/".into(),
        },
    ];
    for format in [Format::Json, Format::Xml] {
        for (i, kind) in kinds.iter().enumerate() {
            let who = openid(&format!("sim-{i}-{format:?}"));
            assert_success(app.push(kind, &who, Mode::Safe, format).await).await;
            let m = &app.messages_of(&who).await[0];
            let expected = ["voice", "shortvideo", "location", "link"][i];
            assert_eq!(m["type"], expected, "{m}");
        }
        for event in simulate::OFFICIAL_EVENTS {
            let who = openid(&format!("sim-{event}-{format:?}"));
            let kind = SimulatedKind::Event {
                event: event.to_owned(),
                key: None,
            };
            assert_success(app.push(&kind, &who, Mode::Plain, format).await).await;
            let m = &app.messages_of(&who).await[0];
            assert_eq!(m["content"]["event"], event, "{m}");
        }
    }
}
