//! Sending what only an Official Account sends (CONTRACT.md, "Channels"): voice messages and
//! videos (named by their media_id, or uploaded by kefu from a file), link cards (`news`) and
//! menus (`msgmenu`), each reaching WeChat (the fake) as WeChat's own JSON with the channel's
//! AppID; a type the conversation's channel does not send refused with 422, a bad body with
//! 400, and neither queueing anything; the sent message shown on the conversation page,
//! escaped, with the composer's link card and menu on Official Account conversations only.

use std::time::Duration;

use kefu::live::Event;
use kefu::wechat::fake::{FakeConfig, FakeWechat};
use kefu::wechat::push::Format;
use kefu::wechat::simulate::{self, SimulatedKind};
use reqwest::StatusCode;
use reqwest::multipart::{Form, Part};
use scraper::Html;
use serde_json::{Value, json};
use tokio::sync::broadcast::{self, error::RecvError};
use tokio::time::{Instant, timeout_at};

use crate::browser::Browser;
use crate::helpers::{
    ADMIN_PASSWORD, APPID, Mode, SECRET, TestApp, all, assert_error, assert_success, attr,
    attr_all, cipher, id_of, now, one, openid, sign_as,
};

const SHOP_APPID: &str = "wx00000000000000c7";
const SHOP_TOKEN: &str = "sendingShopToken";
const SHOP_AES_KEY: &str = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQ";
const SHOP_SECRET: &str = "shop-secret-for-the-sending-tests";
const WAIT: Duration = Duration::from_secs(20);
const SEND: &str = "/cgi-bin/message/custom/send";
const UPLOAD: &str = "/cgi-bin/media/upload";
/// An AMR voice file's magic number and a frame's worth of bytes.
const AMR: &[u8] = b"#!AMR\n\x3c\x48\xf5\x1f\x96\x66\x79\xe1\xe0\x01\xe7\x8a\xf0";
/// The start of an MP4 file: its `ftyp` box.
const MP4: &[u8] = b"\x00\x00\x00\x18ftypmp42\x00\x00\x00\x00mp42isom\x00\x00\x00\x08free";
const PNG: &[u8] = include_bytes!(concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/static/demo-photo.png"
));

// ---------------------------------------------------------------------------------------------
// Helpers

/// A kefu with its mini program `default` (from the variables) and the Official Account
/// `shop`, both at one fake WeChat API that serves the two AppIDs.
async fn two_channels() -> (TestApp, FakeWechat) {
    let fake =
        FakeWechat::start(FakeConfig::new(APPID, SECRET).with_account(SHOP_APPID, SHOP_SECRET))
            .await
            .expect("the fake WeChat API starts");
    let base = fake.base_url();
    let app = TestApp::start_with(&[
        ("KEFU_WECHAT_API_BASE", base.as_str()),
        ("KEFU_WECHAT_APPID", APPID),
        ("KEFU_WECHAT_SECRET", SECRET),
        ("KEFU_DELIVERY_BACKOFF_MS", "20"),
    ])
    .await;
    let shop = json!({
        "name": "shop",
        "kind": "officialaccount",
        "appid": SHOP_APPID,
        "token": SHOP_TOKEN,
        "aes_key": SHOP_AES_KEY,
        "secret": SHOP_SECRET,
        "format": "xml",
    });
    let resp = app.post_json("/api/v1/channels", shop).await;
    assert_eq!(resp.status(), StatusCode::CREATED);
    (app, fake)
}

/// A customer of the Official Account writes (a plaintext XML push to its webhook); returns
/// the id of their conversation.
async fn shop_customer_writes(app: &TestApp, who: &str, text: &str) -> i64 {
    let body = simulate::push_body(
        &SimulatedKind::Text(text.to_owned()),
        who,
        simulate::random_msg_id(),
        now(),
        Format::Xml,
    );
    let cipher = cipher(SHOP_AES_KEY, SHOP_APPID);
    let signed = sign_as(SHOP_TOKEN, &cipher, &body, Mode::Plain, Format::Xml, now());
    let resp = app
        .client
        .post(format!("{}?{}", app.url("/wechat/shop"), signed.query))
        .body(signed.body)
        .send()
        .await
        .expect("the webhook answers");
    assert_success(resp).await;
    let conversation = app.conversation_of(who).await;
    assert_eq!(conversation["channel"]["kind"], "officialaccount");
    id_of(&conversation)
}

/// A customer of the mini program writes; returns the id of their conversation.
async fn mini_program_customer_writes(app: &TestApp, who: &str) -> i64 {
    app.push_text(who, "hello").await;
    let conversation = app.conversation_of(who).await;
    assert_eq!(conversation["channel"]["kind"], "miniprogram");
    id_of(&conversation)
}

fn messages_path(conversation: i64) -> String {
    format!("/api/v1/conversations/{conversation}/messages")
}

/// POSTs a reply and asserts 202; returns the message.
async fn reply(app: &TestApp, conversation: i64, body: Value) -> Value {
    let resp = app
        .post_json(&messages_path(conversation), body.clone())
        .await;
    accepted(resp, &body.to_string()).await
}

async fn post_multipart(app: &TestApp, conversation: i64, form: Form) -> reqwest::Response {
    app.client
        .post(app.url(&messages_path(conversation)))
        .bearer_auth(&app.token)
        .multipart(form)
        .send()
        .await
        .expect("the API answers")
}

async fn accepted(resp: reqwest::Response, what: &str) -> Value {
    let status = resp.status();
    let text = resp.text().await.expect("a body");
    assert_eq!(
        status,
        StatusCode::ACCEPTED,
        "{what} answered {status}: {text}"
    );
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"))
}

/// A multipart reply of `kind` with `file` (name, content type, bytes) and text parts.
fn upload_form(kind: &str, file: Option<(&str, &str, &[u8])>, texts: &[(&str, &str)]) -> Form {
    let mut form = Form::new().text("type", kind.to_owned());
    for (name, value) in texts {
        form = form.text((*name).to_owned(), (*value).to_owned());
    }
    if let Some((name, content_type, bytes)) = file {
        let part = Part::bytes(bytes.to_vec())
            .file_name(name.to_owned())
            .mime_str(content_type)
            .expect("a content type");
        form = form.part("file", part);
    }
    form
}

/// Waits until message `mid` has left `queued` (kefu's own status events, subscribed before
/// the reply was posted); returns it as the API shows it then.
async fn settled(
    app: &TestApp,
    events: &mut broadcast::Receiver<Event>,
    conversation: i64,
    mid: i64,
) -> Value {
    let deadline = Instant::now() + WAIT;
    loop {
        let m = app
            .messages(conversation)
            .await
            .into_iter()
            .find(|m| id_of(m) == mid)
            .unwrap_or_else(|| panic!("no message {mid}"));
        if m["status"] != "queued" {
            return m;
        }
        loop {
            match timeout_at(deadline, events.recv()).await {
                Err(_) => panic!("message {mid} is still queued after {WAIT:?}: {m}"),
                Ok(Ok(Event::MessageStatus { message_id, .. })) if message_id == mid => break,
                Ok(Ok(_)) => {}
                Ok(Err(RecvError::Lagged(_))) => break,
                Ok(Err(RecvError::Closed)) => panic!("kefu's event bus closed"),
            }
        }
    }
}

/// What a refused request left behind: the conversation's messages, its replies left, and
/// what WeChat (the fake) was asked.
async fn footprint(app: &TestApp, fake: &FakeWechat, conversation: i64) -> (usize, Value, usize) {
    let messages = app.messages(conversation).await.len();
    let c = app
        .get_json(&format!("/api/v1/conversations/{conversation}"))
        .await;
    let calls = fake.calls_to(SEND).len() + fake.calls_to(UPLOAD).len();
    (messages, c["replies_left"].clone(), calls)
}

async fn backlog(app: &TestApp) -> i64 {
    kefu::store::outbox::backlog(app.state().store.pool())
        .await
        .expect("count the outbox")
}

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

// ---------------------------------------------------------------------------------------------
// Each type, end to end

#[tokio::test]
async fn each_official_account_type_reaches_wechat_as_its_json_with_the_accounts_appid() {
    let (app, fake) = two_channels().await;
    let who = openid("oa-types");
    let conv = shop_customer_writes(&app, &who, "在吗？").await;
    // media already on WeChat, named by their media_id
    fake.add_media("voice-on-wechat", "audio/amr", AMR.to_vec());
    fake.add_media("video-on-wechat", "video/mp4", MP4.to_vec());
    fake.add_media("cover-on-wechat", "image/png", PNG.to_vec());

    // (what the agent posts, the content the API answers, the payload WeChat gets)
    let cases = [
        (
            json!({"type": "news", "content": {
                "title": " 双十二新品 ", "description": "全场包邮",
                "url": "https://shop.example.com/sale?from=kefu&id=12",
                "picurl": "https://shop.example.com/sale.jpg",
            }}),
            json!({"title": "双十二新品", "description": "全场包邮",
                   "url": "https://shop.example.com/sale?from=kefu&id=12",
                   "picurl": "https://shop.example.com/sale.jpg"}),
            json!({"news": {"articles": [{
                "title": "双十二新品", "description": "全场包邮",
                "url": "https://shop.example.com/sale?from=kefu&id=12",
                "picurl": "https://shop.example.com/sale.jpg",
            }]}}),
        ),
        (
            // no description and no picture: the picture's key is left out for WeChat
            json!({"type": "news", "content": {"title": "t", "url": "http://shop.example.com/"}}),
            json!({"title": "t", "description": "", "url": "http://shop.example.com/", "picurl": null}),
            json!({"news": {"articles": [{
                "title": "t", "description": "", "url": "http://shop.example.com/",
            }]}}),
        ),
        (
            json!({"type": "msgmenu", "content": {
                "head_content": "您对本次服务是否满意？",
                "items": [{"id": "101", "content": "满意"}, {"id": "102", "content": "不满意"}],
                "tail_content": "欢迎再次光临",
            }}),
            json!({"head_content": "您对本次服务是否满意？",
                   "items": [{"id": "101", "content": "满意"}, {"id": "102", "content": "不满意"}],
                   "tail_content": "欢迎再次光临"}),
            json!({"msgmenu": {
                "head_content": "您对本次服务是否满意？",
                "list": [{"id": "101", "content": "满意"}, {"id": "102", "content": "不满意"}],
                "tail_content": "欢迎再次光临",
            }}),
        ),
        (
            json!({"type": "voice", "content": {"media_id": "voice-on-wechat"}}),
            json!({"media_id": "voice-on-wechat", "format": "", "recognition": null, "url": null}),
            json!({"voice": {"media_id": "voice-on-wechat"}}),
        ),
        (
            json!({"type": "video", "content": {
                "media_id": "video-on-wechat", "thumb_media_id": "cover-on-wechat",
                "title": "开箱视频", "description": "新品开箱",
            }}),
            json!({"media_id": "video-on-wechat", "thumb_media_id": "cover-on-wechat",
                   "title": "开箱视频", "description": "新品开箱", "url": null}),
            json!({"video": {
                "media_id": "video-on-wechat", "thumb_media_id": "cover-on-wechat",
                "title": "开箱视频", "description": "新品开箱",
            }}),
        ),
        (
            json!({"type": "text", "content": {"text": "还有什么可以帮您？"}}),
            json!({"text": "还有什么可以帮您？"}),
            json!({"text": {"content": "还有什么可以帮您？"}}),
        ),
    ];
    for (i, (posted, content, payload)) in cases.iter().enumerate() {
        if i == 5 {
            // five replies per customer message
            shop_customer_writes(&app, &who, "还有一个问题").await;
        }
        let m = reply(&app, conv, posted.clone()).await;
        assert_eq!(m["status"], "queued", "{m}");
        assert_eq!(m["type"], posted["type"], "{m}");
        assert_eq!(&m["content"], content, "{m}");

        let sent = fake.wait_for_sent(i + 1, WAIT).await;
        let last = &sent[i];
        assert_eq!(
            last.appid, SHOP_APPID,
            "sent with the Official Account's token"
        );
        let mut expected = json!({"touser": who, "msgtype": posted["type"]});
        for (key, value) in payload.as_object().expect("a payload") {
            expected[key] = value.clone();
        }
        assert_eq!(last.body, expected);
    }
    assert!(
        fake.calls_to(UPLOAD).is_empty(),
        "nothing named needs an upload"
    );
}

#[tokio::test]
async fn a_voice_file_and_a_video_are_kept_uploaded_as_their_type_then_sent() {
    let (app, fake) = two_channels().await;
    let who = openid("oa-files");
    let conv = shop_customer_writes(&app, &who, "发个视频看看").await;
    let mut events = app.state().live.subscribe();

    let voice = post_multipart(
        &app,
        conv,
        upload_form("voice", Some(("hello.amr", "audio/amr", AMR)), &[]),
    )
    .await;
    let voice = accepted(voice, "a voice file").await;
    assert_eq!(voice["type"], "voice");
    assert_eq!(voice["content"]["media_id"], Value::Null, "{voice}");
    assert_eq!(voice["content"]["format"], "amr");
    let video = post_multipart(
        &app,
        conv,
        upload_form(
            "video",
            Some(("unboxing.mp4", "video/mp4", MP4)),
            &[("title", "开箱 <视频>"), ("description", "新品")],
        ),
    )
    .await;
    let video = accepted(video, "a video").await;
    assert_eq!(video["content"]["title"], "开箱 <视频>");

    let sent = fake.wait_for_sent(2, WAIT).await;
    assert_eq!(
        sent.iter().map(|m| m.appid.as_str()).collect::<Vec<_>>(),
        [SHOP_APPID, SHOP_APPID]
    );
    let uploads = fake.calls_to(UPLOAD);
    let types: Vec<&str> = uploads.iter().map(|c| c.query["type"].as_str()).collect();
    assert_eq!(types, ["voice", "video"]);
    for (m, (kind, bytes, content_type)) in [&voice, &video]
        .into_iter()
        .zip([("voice", AMR, "audio/amr"), ("video", MP4, "video/mp4")])
    {
        let s = sent
            .iter()
            .find(|s| s.msgtype == kind)
            .unwrap_or_else(|| panic!("no {kind} sent: {sent:?}"));
        let media_id = s.body[kind]["media_id"].as_str().expect("a media_id");
        assert_eq!(
            fake.uploaded(media_id),
            Some((content_type.to_owned(), bytes.to_vec())),
            "WeChat got kefu's copy"
        );
        if kind == "video" {
            assert_eq!(
                s.body,
                json!({"touser": who, "msgtype": "video", "video": {
                    "media_id": media_id, "title": "开箱 <视频>", "description": "新品"}})
            );
        } else {
            assert_eq!(
                s.body,
                json!({"touser": who, "msgtype": "voice", "voice": {"media_id": media_id}})
            );
        }
        // the message now names what WeChat keeps, and kefu serves its own copy
        let done = settled(&app, &mut events, conv, id_of(m)).await;
        assert_eq!(done["status"], "sent", "{done}");
        assert_eq!(done["content"]["media_id"], media_id);
        let url = done["content"]["url"].as_str().expect("kefu's copy");
        let resp = app.get(url).await;
        assert_eq!(resp.status(), StatusCode::OK);
        assert_eq!(
            resp.headers()[reqwest::header::CONTENT_TYPE],
            content_type,
            "{kind}"
        );
        assert_eq!(resp.bytes().await.expect("bytes").as_ref(), bytes);
    }

    // the page offers the voice file (no browser plays AMR) and shows the video's title
    let html = page(&app, &format!("/conversations/{conv}"), "en").await;
    let voice_link = attr(
        &html,
        &format!("#msg-{} a.msg-download", id_of(&voice)),
        "href",
    );
    assert_eq!(
        voice_link,
        Some(format!("/api/v1/messages/{}/media", id_of(&voice)))
    );
    assert_eq!(
        one(&html, &format!("#msg-{} .msg-video-title", id_of(&video))),
        "开箱 <视频>"
    );
}

// ---------------------------------------------------------------------------------------------
// What a channel does not send

#[tokio::test]
async fn each_channel_refuses_the_types_its_kind_of_account_does_not_send() {
    let (app, fake) = two_channels().await;
    fake.add_media("voice-on-wechat", "audio/amr", AMR.to_vec());
    let mini = mini_program_customer_writes(&app, &openid("mp")).await;
    let official = shop_customer_writes(&app, &openid("oa"), "hi").await;
    let before = (
        footprint(&app, &fake, mini).await,
        footprint(&app, &fake, official).await,
    );

    let news = json!({"type": "news", "content": {"title": "t", "url": "https://a.cn"}});
    let menu = json!({"type": "msgmenu", "content": {"items": [{"id": "1", "content": "是"}]}});
    let voice = json!({"type": "voice", "content": {"media_id": "voice-on-wechat"}});
    let video = json!({"type": "video", "content": {"media_id": "voice-on-wechat"}});
    // the type is refused before its fields are read: a broken menu is still the wrong type
    let broken_menu = json!({"type": "msgmenu", "content": {"items": []}});
    let card = json!({"type": "miniprogrampage", "content": {
        "title": "t", "pagepath": "pages/a", "thumb_media_id": "m"}});
    let link = json!({"type": "link", "content": {
        "title": "t", "description": "d", "url": "https://a.cn", "thumb_url": "https://a.cn/t.png"}});
    for (conversation, body, kind) in [
        (mini, news, "news"),
        (mini, menu, "msgmenu"),
        (mini, voice, "voice"),
        (mini, video, "video"),
        (mini, broken_menu, "msgmenu"),
        (official, card, "miniprogrampage"),
        (official, link, "link"),
    ] {
        let resp = app
            .post_json(&messages_path(conversation), body.clone())
            .await;
        let error = assert_error(resp, StatusCode::UNPROCESSABLE_ENTITY).await;
        assert_eq!(error["error"]["code"], "not_allowed_for_channel", "{body}");
        let message = error["error"]["message"].as_str().unwrap_or_default();
        assert!(message.contains(&format!("`{kind}`")), "{message}");
    }
    // the sentence says what the account sends instead, in the caller's language
    let resp = app
        .client
        .post(app.url(&messages_path(mini)))
        .bearer_auth(&app.token)
        .header("Accept-Language", "zh-CN")
        .json(&json!({"type": "news", "content": {"title": "t", "url": "https://a.cn"}}))
        .send()
        .await
        .expect("the API answers");
    let error = assert_error(resp, StatusCode::UNPROCESSABLE_ENTITY).await;
    assert_eq!(
        error["error"]["message"],
        "小程序不能发送 `news` 消息，只能发送 `text`、`image`、`link` 或 `miniprogrampage`。"
    );

    // as files too: a voice file on the mini program, a card's cover on the Official Account
    let resp = post_multipart(
        &app,
        mini,
        upload_form("voice", Some(("a.amr", "audio/amr", AMR)), &[]),
    )
    .await;
    let error = assert_error(resp, StatusCode::UNPROCESSABLE_ENTITY).await;
    assert_eq!(error["error"]["code"], "not_allowed_for_channel");
    let resp = post_multipart(
        &app,
        official,
        upload_form(
            "miniprogrampage",
            Some(("c.png", "image/png", PNG)),
            &[("title", "t"), ("pagepath", "pages/a")],
        ),
    )
    .await;
    let error = assert_error(resp, StatusCode::UNPROCESSABLE_ENTITY).await;
    assert_eq!(error["error"]["code"], "not_allowed_for_channel");

    let after = (
        footprint(&app, &fake, mini).await,
        footprint(&app, &fake, official).await,
    );
    assert_eq!(after, before, "nothing stored, spent or sent");
    assert_eq!(backlog(&app).await, 0, "nothing is queued");

    // a note is for colleagues, on either kind of account
    for conversation in [mini, official] {
        let note = reply(
            &app,
            conversation,
            json!({"type": "note", "content": {"text": "VIP"}}),
        )
        .await;
        assert_eq!(note["status"], "received");
    }
    // and the bot's rules keep today's types
    let rule = json!({"name": "sale", "match": "contains", "keywords": ["sale"], "action": "reply",
                      "reply": {"type": "news", "content": {"title": "t", "url": "https://a.cn"}}});
    let resp = app.post_json("/api/v1/rules", rule).await;
    let error = assert_error(resp, StatusCode::BAD_REQUEST).await;
    assert!(
        error["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("reply.type")),
        "{error}"
    );
}

// ---------------------------------------------------------------------------------------------
// Bad bodies

#[tokio::test]
async fn a_bad_link_card_menu_voice_or_video_is_refused_in_one_sentence_and_nothing_is_queued() {
    let (app, fake) = two_channels().await;
    let conv = shop_customer_writes(&app, &openid("oa-bad"), "hi").await;
    let before = footprint(&app, &fake, conv).await;

    let item = |id: &str, content: &str| json!({"id": id, "content": content});
    let eleven: Vec<Value> = (1..=11).map(|i| item(&i.to_string(), "x")).collect();
    // (body, the field the sentence names)
    let cases = [
        (
            json!({"type": "news", "content": {"url": "https://a.cn"}}),
            "content.title",
        ),
        (
            json!({"type": "news", "content": {"title": "  ", "url": "https://a.cn"}}),
            "content.title",
        ),
        (
            json!({"type": "news", "content": {"title": "t".repeat(201), "url": "https://a.cn"}}),
            "content.title",
        ),
        (
            json!({"type": "news", "content": {"title": "t", "url": "javascript:alert(1)"}}),
            "content.url",
        ),
        (
            json!({"type": "news", "content": {"title": "t", "url": "https://a.cn", "picurl": "ftp://a.cn/p.png"}}),
            "content.picurl",
        ),
        (
            json!({"type": "news", "content": {"title": "t", "url": "https://a.cn", "description": "d".repeat(501)}}),
            "content.description",
        ),
        (
            json!({"type": "news", "content": {"title": "t", "url": "https://a.cn", "thumb_url": "https://a.cn"}}),
            "content.thumb_url",
        ),
        (
            json!({"type": "msgmenu", "content": {"items": []}}),
            "content.items",
        ),
        (
            json!({"type": "msgmenu", "content": {"items": eleven}}),
            "content.items",
        ),
        (
            json!({"type": "msgmenu", "content": {"items": [item("1", "是"), item("1", "否")]}}),
            "content.items[1].id",
        ),
        (
            json!({"type": "msgmenu", "content": {"items": [item("a b", "是")]}}),
            "content.items[0].id",
        ),
        (
            json!({"type": "msgmenu", "content": {"items": [item("1", " ")]}}),
            "content.items[0].content",
        ),
        (
            json!({"type": "msgmenu", "content": {"items": [item("1", &"长".repeat(129))]}}),
            "content.items[0].content",
        ),
        (
            json!({"type": "msgmenu", "content": {"items": [["1", "是"]]}}),
            "content.items[0]",
        ),
        (
            json!({"type": "msgmenu", "content": {"items": [{"id": 1, "content": "是"}]}}),
            "content.items[0].id",
        ),
        (
            json!({"type": "msgmenu", "content": {"items": [item("1", "是")], "tail_content": "尾".repeat(1025)}}),
            "content.tail_content",
        ),
        (
            json!({"type": "voice", "content": {"media_id": ""}}),
            "content.media_id",
        ),
        (json!({"type": "video", "content": {}}), "content.media_id"),
        (
            json!({"type": "video", "content": {"media_id": "m", "title": "t".repeat(201)}}),
            "content.title",
        ),
    ];
    for (body, field) in cases {
        let resp = app.post_json(&messages_path(conv), body.clone()).await;
        let error = assert_error(resp, StatusCode::BAD_REQUEST).await;
        assert_eq!(error["error"]["code"], "invalid_request", "{body}");
        let message = error["error"]["message"].as_str().unwrap_or_default();
        assert!(message.contains(&format!("`{field}`")), "{body}: {message}");
        assert_eq!(message.matches(". ").count(), 0, "one sentence: {message}");
    }

    // files that are not what their type says, too large, or missing
    let big_voice = vec![0u8; 2 * 1024 * 1024 + 1];
    let mut big_amr = AMR.to_vec();
    big_amr.extend_from_slice(&big_voice);
    for (form, words) in [
        (
            upload_form("voice", Some(("a.amr", "audio/amr", PNG)), &[]),
            "AMR or MP3",
        ),
        (
            upload_form("voice", Some(("a.amr", "audio/amr", &big_amr)), &[]),
            "2 MiB",
        ),
        (upload_form("voice", None, &[]), "file part"),
        (
            upload_form("video", Some(("a.mp4", "video/mp4", AMR)), &[]),
            "MP4",
        ),
        (
            upload_form("video", Some(("a.mp4", "video/mp4", b"")), &[]),
            "10 MiB",
        ),
        (
            upload_form(
                "video",
                Some(("a.mp4", "video/mp4", MP4)),
                &[("title", &"t".repeat(201))],
            ),
            "`content.title`",
        ),
        (
            upload_form("file", Some(("a.amr", "audio/amr", AMR)), &[]),
            "voice or video",
        ),
    ] {
        let resp = post_multipart(&app, conv, form).await;
        let error = assert_error(resp, StatusCode::BAD_REQUEST).await;
        let message = error["error"]["message"].as_str().unwrap_or_default();
        assert!(message.contains(words), "{words}: {message}");
    }

    assert_eq!(
        footprint(&app, &fake, conv).await,
        before,
        "nothing stored or sent"
    );
    assert_eq!(backlog(&app).await, 0, "nothing is queued");
}

// ---------------------------------------------------------------------------------------------
// The conversation page

#[tokio::test]
async fn the_conversation_shows_a_sent_link_card_and_menu_escaped_and_offers_them_on_an_official_account_only()
 {
    let (app, _fake) = two_channels().await;
    let conv = shop_customer_writes(&app, &openid("oa-page"), "hi").await;
    let mini = mini_program_customer_writes(&app, &openid("mp-page")).await;

    let title = "<script>alert('t')</script> 新品";
    let url = r#"https://shop.example.com/?q="><img src=x onerror=alert(1)>"#;
    let news = reply(
        &app,
        conv,
        json!({"type": "news", "content": {
            "title": title, "description": "<b>包邮</b> & 退换", "url": url,
            "picurl": "https://shop.example.com/p.jpg?a=1&b=2",
        }}),
    )
    .await;
    let items = ["<img src=x onerror=alert(2)>", "不满意 & 投诉"];
    let menu = reply(
        &app,
        conv,
        json!({"type": "msgmenu", "content": {
            "head_content": "<i>满意吗？</i>",
            "items": [{"id": "101", "content": items[0]}, {"id": "102\"x", "content": items[1]}],
        }}),
    )
    .await;
    let (news, menu) = (id_of(&news), id_of(&menu));

    for (lang, news_tag, menu_tag) in [
        ("zh-CN", "[图文]", "[菜单]"),
        ("en", "[link card]", "[menu]"),
    ] {
        let html = page(&app, &format!("/conversations/{conv}"), lang).await;
        let card = format!("#msg-{news}");
        assert_eq!(one(&html, &format!("{card} .msg-kind-tag")), news_tag);
        assert_eq!(one(&html, &format!("{card} .card-title")), title);
        assert_eq!(
            one(&html, &format!("{card} .card-desc")),
            "<b>包邮</b> & 退换"
        );
        assert_eq!(
            attr(&html, &format!("{card} a.card-url"), "href").as_deref(),
            Some(url)
        );
        assert_eq!(
            attr(&html, &format!("{card} a.card-picture"), "href").as_deref(),
            Some("https://shop.example.com/p.jpg?a=1&b=2")
        );
        let box_ = format!("#msg-{menu}");
        assert_eq!(one(&html, &format!("{box_} .msg-kind-tag")), menu_tag);
        assert_eq!(one(&html, &format!("{box_} .menu-head")), "<i>满意吗？</i>");
        assert_eq!(all(&html, &format!("{box_} li.menu-item")), items);
        assert_eq!(
            attr_all(&html, &format!("{box_} li.menu-item"), "data-menu-id"),
            ["101", "102\"x"]
        );
        // nothing a customer's or an agent's words could have made into markup
        for tag in ["script", "img", "b", "i"] {
            assert!(
                all(&html, &format!("#messages {tag}")).is_empty(),
                "a <{tag}> in the messages"
            );
        }
        // the composer offers them here
        assert_eq!(
            attr_all(&html, "#reply .compose-open", "data-dialog"),
            ["news-dialog", "menu-dialog"]
        );
        assert_eq!(all(&html, "#news-form input[name=url][required]").len(), 1);
        assert_eq!(all(&html, "#menu-form textarea[name=items]").len(), 1);
    }

    // and not on a mini program's conversation
    for lang in ["zh-CN", "en"] {
        let html = page(&app, &format!("/conversations/{mini}"), lang).await;
        assert!(all(&html, "#reply .compose-open").is_empty());
        assert!(all(&html, "#news-dialog, #menu-dialog").is_empty());
        assert_eq!(
            all(&html, "#reply-image").len(),
            1,
            "the image button stays"
        );
    }
}

/// The composer's link card and menu, in a real browser: filled in, sent, shown live as sent,
/// and received by WeChat as the account's.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_agent_sends_a_link_card_and_a_menu_from_an_official_accounts_composer() {
    let (app, fake) = two_channels().await;
    let who = openid("oa-browser");
    let conv = shop_customer_writes(&app, &who, "有活动吗？").await;
    let browser = Browser::start().await;
    browser.login(&app, "admin", ADMIN_PASSWORD).await;
    browser.goto(&app, &format!("/conversations/{conv}")).await;
    browser.wait_live().await;

    browser.click("#reply button#news-open").await;
    browser
        .type_into("#news-form input[name=title]", "双十二 <特卖>")
        .await;
    browser
        .type_into(
            "#news-form input[name=url]",
            "https://shop.example.com/sale",
        )
        .await;
    browser.click("#news-form button[value=send]").await;
    browser
        .wait_for_text(
            r#"ol#messages > li.msg.kind-news[data-status="sent"] .card-title"#,
            "双十二 <特卖>",
        )
        .await;
    browser.wait_gone("dialog#news-dialog[open]").await;

    browser.click("#reply button#menu-open").await;
    browser
        .type_into("#menu-form textarea[name=head_content]", "您满意吗？")
        .await;
    browser
        .type_into("#menu-form textarea[name=items]", "满意\n\n不满意\n")
        .await;
    browser.click("#menu-form button[value=send]").await;
    browser
        .wait_for_text(
            r#"ol#messages > li.msg.kind-msgmenu[data-status="sent"] li.menu-item"#,
            "不满意",
        )
        .await;

    let sent = fake.sent_to(&who);
    assert_eq!(
        sent.iter().map(|m| m.appid.as_str()).collect::<Vec<_>>(),
        [SHOP_APPID, SHOP_APPID]
    );
    assert_eq!(
        sent[0].body["news"],
        json!({"articles": [{"title": "双十二 <特卖>", "description": "",
                             "url": "https://shop.example.com/sale"}]})
    );
    assert_eq!(
        sent[1].body["msgmenu"],
        json!({"head_content": "您满意吗？", "tail_content": "",
               "list": [{"id": "1", "content": "满意"}, {"id": "2", "content": "不满意"}]})
    );
    browser.close().await;
}
