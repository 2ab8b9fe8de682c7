//! Channels (CONTRACT.md "Channels"): several WeChat accounts in one kefu, each at its own
//! webhook with its own Token, key and AppID, its replies sent with its own access token, its
//! secrets sealed at rest and never shown again.

use std::time::{Duration, Instant};

use kefu::wechat::fake::{FakeConfig, FakeWechat};
use kefu::wechat::push::Format;
use kefu::wechat::simulate::{self, SimulatedKind};
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::cli::{kefu, run};
use crate::helpers::{
    APPID, FORMATS, MODES, Mode, SECRET, Signed, TestApp, assert_error, assert_success, cipher,
    id_of, now, openid, sign_as,
};

const SHOP_APPID: &str = "wx00000000000000b1";
const SHOP_TOKEN: &str = "shopToken42";
const SHOP_AES_KEY: &str = "ZYXWVUTSRQPONMLKJIHGFEDCBAzyxwvutsrqponmlkj";
const SHOP_SECRET: &str = "shop-app-secret-never-shown";

/// The fake serving both accounts, and kefu sending to it with `default` from the variables.
async fn two_accounts() -> (TestApp, FakeWechat) {
    let fake =
        FakeWechat::start(FakeConfig::new(APPID, SECRET).with_account(SHOP_APPID, SHOP_SECRET))
            .await
            .expect("the fake WeChat API starts");
    let base = fake.base_url();
    let app = TestApp::start_with(&[
        ("KEFU_WECHAT_API_BASE", base.as_str()),
        ("KEFU_WECHAT_SECRET", SECRET),
    ])
    .await;
    (app, fake)
}

fn shop_body() -> Value {
    json!({
        "name": "shop",
        "kind": "officialaccount",
        "appid": SHOP_APPID,
        "token": SHOP_TOKEN,
        "aes_key": SHOP_AES_KEY,
        "secret": SHOP_SECRET,
        "format": "xml",
        "display_name": "商城公众号",
    })
}

async fn add_shop(app: &TestApp) -> Value {
    let resp = app.post_json("/api/v1/channels", shop_body()).await;
    assert_eq!(resp.status(), StatusCode::CREATED);
    resp.json().await.expect("a channel")
}

/// A text push from `openid`, signed (and encrypted) for the shop account.
fn shop_push(openid: &str, text: &str, mode: Mode, format: Format) -> Signed {
    let body = simulate::push_body(
        &SimulatedKind::Text(text.to_owned()),
        openid,
        simulate::random_msg_id(),
        now(),
        format,
    );
    sign_as(
        SHOP_TOKEN,
        &cipher(SHOP_AES_KEY, SHOP_APPID),
        &body,
        mode,
        format,
        now(),
    )
}

async fn post_to(app: &TestApp, path: &str, signed: &Signed) -> reqwest::Response {
    app.client
        .post(format!("{}?{}", app.url(path), signed.query))
        .body(signed.body.clone())
        .send()
        .await
        .expect("the webhook answers")
}

async fn put_json(app: &TestApp, path: &str, body: Value) -> reqwest::Response {
    app.client
        .put(app.url(path))
        .bearer_auth(&app.token)
        .json(&body)
        .send()
        .await
        .expect("the API answers")
}

#[tokio::test]
async fn each_channel_receives_at_its_own_path_and_replies_with_its_own_token() {
    let (app, fake) = two_accounts().await;
    let shop = add_shop(&app).await;
    assert_eq!(shop["webhook_path"], "/wechat/shop");
    assert_eq!(shop["kind"], "officialaccount");
    assert_eq!(shop["secret_set"], true);

    // every mode and format, each stored once in the shop's channel
    let customer = openid("shop");
    for mode in MODES {
        for format in FORMATS {
            let signed = shop_push(&customer, &format!("{mode:?} {format:?}"), mode, format);
            assert_success(post_to(&app, "/wechat/shop", &signed).await).await;
            // WeChat's retry of the same push is a duplicate
            assert_success(post_to(&app, "/wechat/shop", &signed).await).await;
        }
    }
    let conversation = app.conversation_of(&customer).await;
    assert_eq!(
        conversation["channel"],
        json!({"id": shop["id"], "name": "shop", "kind": "officialaccount"})
    );
    assert_eq!(app.messages(id_of(&conversation)).await.len(), 6);

    // the default channel, from the variables, exactly as before
    let regular = openid("default");
    app.push_text(&regular, "hello").await;
    let default = app.conversation_of(&regular).await;
    assert_eq!(default["channel"]["name"], "default");
    assert_eq!(default["channel"]["kind"], "miniprogram");

    // the same openid in two channels is two customers
    let signed = shop_push(
        &regular,
        "same person, other account",
        Mode::Safe,
        Format::Xml,
    );
    assert_success(post_to(&app, "/wechat/shop", &signed).await).await;
    let theirs = app.conversations_of(&regular).await;
    assert_eq!(theirs.len(), 2, "{theirs:?}");

    // the list filters by channel
    let only_shop = app.conversations_where("status=all&channel=shop").await;
    assert_eq!(only_shop.len(), 2);
    assert!(only_shop.iter().all(|c| c["channel"]["name"] == "shop"));
    let bad = app.get("/api/v1/conversations?channel=nope").await;
    assert_error(bad, StatusCode::BAD_REQUEST).await;

    // replies go out with each conversation's own AppID's token
    for (conversation, text) in [(&conversation, "from the shop"), (&default, "from default")] {
        let path = format!("/api/v1/conversations/{}/messages", id_of(conversation));
        let resp = app
            .post_json(&path, json!({"type": "text", "content": {"text": text}}))
            .await;
        assert_eq!(resp.status(), StatusCode::ACCEPTED);
    }
    let sent: Vec<(String, String)> = fake
        .wait_for_sent(2, Duration::from_secs(20))
        .await
        .iter()
        .map(|m| (m.appid.clone(), m.touser.clone()))
        .collect();
    assert!(
        sent.contains(&(SHOP_APPID.to_owned(), customer.clone())),
        "{sent:?}"
    );
    assert!(
        sent.contains(&(APPID.to_owned(), regular.clone())),
        "{sent:?}"
    );
}

#[tokio::test]
async fn a_push_for_another_channel_an_unknown_one_or_a_disabled_one_stores_nothing() {
    let (app, _fake) = two_accounts().await;
    let shop = add_shop(&app).await;
    let customer = openid("wrong");

    // signed with the default channel's Token, sent to the shop's path
    let body = simulate::push_body(
        &SimulatedKind::Text("hi".into()),
        &customer,
        simulate::random_msg_id(),
        now(),
        Format::Xml,
    );
    let for_default = app.sign(&body, Mode::Plain, Format::Xml);
    assert_error(
        post_to(&app, "/wechat/shop", &for_default).await,
        StatusCode::UNAUTHORIZED,
    )
    .await;
    let for_default = app.sign(&body, Mode::Safe, Format::Xml);
    assert_error(
        post_to(&app, "/wechat/shop", &for_default).await,
        StatusCode::UNAUTHORIZED,
    )
    .await;
    // the shop's push at the default path
    let for_shop = shop_push(&customer, "hi", Mode::Safe, Format::Xml);
    assert_error(
        post_to(&app, "/wechat", &for_shop).await,
        StatusCode::UNAUTHORIZED,
    )
    .await;
    // the shop's Token, but encrypted for the default account's key and AppID
    let mixed = sign_as(
        SHOP_TOKEN,
        &app.cipher(),
        &body,
        Mode::Safe,
        Format::Xml,
        now(),
    );
    assert_error(
        post_to(&app, "/wechat/shop", &mixed).await,
        StatusCode::BAD_REQUEST,
    )
    .await;
    // the shop's key, another AppID
    let other_appid = sign_as(
        SHOP_TOKEN,
        &cipher(SHOP_AES_KEY, "wx00000000000000ff"),
        &body,
        Mode::Safe,
        Format::Xml,
        now(),
    );
    assert_error(
        post_to(&app, "/wechat/shop", &other_appid).await,
        StatusCode::BAD_REQUEST,
    )
    .await;
    assert_error(
        post_to(&app, "/wechat/nowhere", &for_shop).await,
        StatusCode::NOT_FOUND,
    )
    .await;
    app.assert_nothing_stored().await;

    // disabled: 503, so WeChat retries; enabled again, the same push goes in
    let path = format!("/api/v1/channels/{}", id_of(&shop));
    let off = put_json(&app, &path, json!({"enabled": false})).await;
    assert_eq!(off.status(), StatusCode::OK);
    let off: Value = off.json().await.unwrap();
    assert_eq!(off["enabled"], false);
    assert_error(
        post_to(&app, "/wechat/shop", &for_shop).await,
        StatusCode::SERVICE_UNAVAILABLE,
    )
    .await;
    app.assert_nothing_stored().await;
    let on = put_json(&app, &path, json!({"enabled": true})).await;
    assert_eq!(on.status(), StatusCode::OK);
    assert_success(post_to(&app, "/wechat/shop", &for_shop).await).await;
    assert_eq!(app.messages_of(&customer).await.len(), 1);
}

#[tokio::test]
async fn secrets_are_sealed_at_rest_and_never_come_back() {
    let (mut app, _fake) = two_accounts().await;
    let added = add_shop(&app).await;
    let listed = app.get_json("/api/v1/channels").await;
    let changed: Value = put_json(
        &app,
        &format!("/api/v1/channels/{}", id_of(&added)),
        json!({"display_name": "改名"}),
    )
    .await
    .json()
    .await
    .unwrap();
    assert_eq!(changed["display_name"], "改名");
    assert_eq!(changed["token_set"], true);
    let answers = format!("{added} {listed} {changed}");
    for secret in [SHOP_TOKEN, SHOP_AES_KEY, SHOP_SECRET, SECRET] {
        assert!(!answers.contains(secret), "{secret} in {answers}");
    }
    let names: Vec<&str> = listed["channels"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["default", "shop"]);
    assert_eq!(listed["channels"][0]["from_environment"], true);
    assert_eq!(listed["channels"][0]["appid"], APPID);

    // not in the database files either
    app.stop().await;
    for file in ["kefu.db", "kefu.db-wal"] {
        let bytes = std::fs::read(app.data_dir().join(file)).unwrap_or_default();
        for secret in [SHOP_TOKEN, SHOP_AES_KEY, SHOP_SECRET] {
            assert!(
                !bytes.windows(secret.len()).any(|w| w == secret.as_bytes()),
                "{secret} in {file}"
            );
        }
    }
    // and the channel works after a restart
    app.restart().await;
    let customer = openid("restart");
    let signed = shop_push(&customer, "still here", Mode::Safe, Format::Xml);
    assert_success(post_to(&app, "/wechat/shop", &signed).await).await;
    assert_eq!(
        app.conversation_of(&customer).await["channel"]["name"],
        "shop"
    );
}

#[tokio::test]
async fn the_channels_api_refuses_what_it_cannot_keep() {
    let (app, _fake) = two_accounts().await;
    add_shop(&app).await;
    let mut cases = vec![
        (shop_body(), StatusCode::CONFLICT),
        (
            json!({"name": "x", "kind": "officialaccount"}),
            StatusCode::BAD_REQUEST,
        ),
        (json!([1, 2]), StatusCode::BAD_REQUEST),
        (json!({"name": "x", "unknown": 1}), StatusCode::BAD_REQUEST),
        (json!({"name": 7}), StatusCode::BAD_REQUEST),
    ];
    for (field, value) in [
        ("name", json!("Has Spaces")),
        ("name", json!("a".repeat(33))),
        ("kind", json!("app")),
        ("appid", json!("wx123")),
        ("token", json!("<script>")),
        ("aes_key", json!("short")),
        ("format", json!("yaml")),
        ("display_name", json!("bell\u{7}")),
    ] {
        let mut body = shop_body();
        body["name"] = json!("other");
        body[field] = value;
        cases.push((body, StatusCode::BAD_REQUEST));
    }
    for (body, status) in cases {
        let resp = app.post_json("/api/v1/channels", body.clone()).await;
        let error = assert_error(resp, status).await;
        assert!(!error.to_string().contains(SHOP_SECRET), "{body}: {error}");
    }
    // the default channel's WeChat settings belong to the variables
    let resp = put_json(&app, "/api/v1/channels/1", json!({"token": "another1"})).await;
    assert_error(resp, StatusCode::CONFLICT).await;
    let resp = put_json(&app, "/api/v1/channels/999", json!({"display_name": "x"})).await;
    assert_error(resp, StatusCode::NOT_FOUND).await;

    // agents may look, not change
    let (_, agent) = crate::helpers::add_staff(&app, "ada", "Ada", kefu::domain::Role::Agent).await;
    let resp = app
        .client
        .post(app.url("/api/v1/channels"))
        .bearer_auth(&agent)
        .json(&json!({"name": "mine"}))
        .send()
        .await
        .unwrap();
    assert_error(resp, StatusCode::FORBIDDEN).await;
    let resp = app
        .client
        .get(app.url("/api/v1/channels"))
        .bearer_auth(&agent)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
}

#[tokio::test]
async fn kefu_channel_adds_lists_and_switches_channels_without_showing_a_secret() {
    let dir = tempfile::tempdir().unwrap();
    let add = run(
        kefu(
            dir.path(),
            &[],
            &[
                "channel",
                "add",
                "shop",
                "--kind",
                "officialaccount",
                "--appid",
                SHOP_APPID,
                "--token",
                SHOP_TOKEN,
                "--aes-key",
                SHOP_AES_KEY,
                "--format",
                "xml",
                "--secret-stdin",
            ],
        ),
        Some(&format!("{SHOP_SECRET}\n")),
    );
    assert!(add.status.success(), "{add:?}");
    assert!(add.stdout.lines().any(|l| l == "/wechat/shop"), "{add:?}");
    let again = run(
        kefu(
            dir.path(),
            &[],
            &[
                "channel",
                "add",
                "shop",
                "--kind",
                "miniprogram",
                "--appid",
                SHOP_APPID,
                "--token",
                "abc",
                "--secret-stdin",
            ],
        ),
        Some("\n"),
    );
    assert!(!again.status.success());
    assert!(again.stderr.contains("already exists"), "{again:?}");
    let bad = run(
        kefu(
            dir.path(),
            &[],
            &[
                "channel",
                "add",
                "Bad_Name",
                "--kind",
                "miniprogram",
                "--appid",
                SHOP_APPID,
                "--token",
                "abc",
                "--secret-stdin",
            ],
        ),
        Some("\n"),
    );
    assert!(!bad.status.success());
    assert_eq!(bad.stderr.trim().lines().count(), 1, "{bad:?}");

    let list = run(kefu(dir.path(), &[], &["channel", "list"]), None);
    assert!(list.status.success(), "{list:?}");
    let shop_line = list
        .stdout
        .lines()
        .find(|l| l.starts_with("shop "))
        .expect("the shop's line");
    for part in ["officialaccount", SHOP_APPID, "/wechat/shop", "yes"] {
        assert!(shop_line.contains(part), "{part} in {shop_line}");
    }
    let everything = format!("{add:?}{again:?}{list:?}");
    for secret in [SHOP_TOKEN, SHOP_AES_KEY, SHOP_SECRET] {
        // the token was given on the command line, so only the outputs are checked
        assert!(
            !add.stdout.contains(secret)
                && !list.stdout.contains(secret)
                && !list.stderr.contains(secret),
            "{secret} in {everything}"
        );
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(dir.path().join("secret.key"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }

    // a running kefu serves what the command line added, and notices a disable
    let app = TestApp::start_in(dir, &[]).await;
    let customer = openid("cli");
    let signed = shop_push(&customer, "hi", Mode::Safe, Format::Xml);
    assert_success(post_to(&app, "/wechat/shop", &signed).await).await;
    // `kefu simulate --channel` pushes as that account, to its webhook
    let url = app.url("/wechat/shop");
    let simulated = crate::cli::run_async(
        kefu(
            app.data_dir(),
            &[],
            &[
                "simulate",
                "--channel",
                "shop",
                "--url",
                &url,
                "--openid",
                "o-simulated-oa",
                "--voice",
            ],
        ),
        None,
    )
    .await;
    assert!(simulated.status.success(), "{simulated:?}");
    let simulated_conversation = app.conversation_of("o-simulated-oa").await;
    assert_eq!(simulated_conversation["channel"]["name"], "shop");
    let unknown = crate::cli::run_async(
        kefu(
            app.data_dir(),
            &[],
            &[
                "simulate",
                "--channel",
                "nope",
                "--url",
                &url,
                "--text",
                "x",
            ],
        ),
        None,
    )
    .await;
    assert!(!unknown.status.success());
    assert!(unknown.stderr.contains("no channel named"), "{unknown:?}");

    let off = run(
        kefu(app.data_dir(), &[], &["channel", "disable", "shop"]),
        None,
    );
    assert!(off.status.success(), "{off:?}");
    let deadline = Instant::now() + Duration::from_secs(10);
    let status = loop {
        let signed = shop_push(&customer, "again", Mode::Safe, Format::Xml);
        let status = post_to(&app, "/wechat/shop", &signed).await.status();
        if status == StatusCode::SERVICE_UNAVAILABLE || Instant::now() > deadline {
            break status;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    let on = run(
        kefu(app.data_dir(), &[], &["channel", "enable", "nope"]),
        None,
    );
    assert!(!on.status.success());
    assert!(on.stderr.contains("no channel named"), "{on:?}");
}

#[tokio::test]
async fn the_inbox_names_each_rows_channel_and_filters_by_it_once_there_are_several() {
    use crate::canned::Browser;
    use crate::helpers::{ADMIN_PASSWORD, all, attr};

    let (app, _fake) = two_accounts().await;
    let regular = openid("default");
    app.push_text(&regular, "hello").await;
    let browser = Browser::sign_in(&app, "admin", ADMIN_PASSWORD).await;
    let page = |path: &'static str| {
        let browser = &browser;
        async move {
            let html = browser.get(path).await.text().await.unwrap();
            scraper::Html::parse_document(&html)
        }
    };
    // one channel: nothing changes on the page
    let one = page("/inbox?view=all&status=all").await;
    assert!(all(&one, ".channel-badge").is_empty());
    assert!(all(&one, "#channel-select").is_empty());

    add_shop(&app).await;
    let customer = openid("shop");
    let signed = shop_push(&customer, "<b>hi</b>", Mode::Safe, Format::Xml);
    assert_success(post_to(&app, "/wechat/shop", &signed).await).await;

    let both = page("/inbox?view=all&status=all").await;
    let mut badges = all(&both, ".conv .channel-badge");
    badges.sort();
    assert_eq!(badges, ["default", "商城公众号"]);
    let options = all(&both, "#channel-select option");
    assert_eq!(options, ["所有渠道", "default", "商城公众号"]);

    let shop_only = page("/inbox?view=all&status=all&channel=shop").await;
    assert_eq!(all(&shop_only, ".conv .channel-badge"), ["商城公众号"]);
    let shop = app.conversation_of(&customer).await;
    assert_eq!(
        attr(&shop_only, "#conversations", "data-channel").as_deref(),
        Some(shop["channel"]["id"].to_string().as_str())
    );
    let nothing = page("/inbox?view=all&status=all&channel=nope").await;
    assert!(all(&nothing, ".conv").is_empty());

    let path = format!("/conversations/{}", id_of(&shop));
    let html = browser.get(&path).await.text().await.unwrap();
    let conversation = scraper::Html::parse_document(&html);
    assert_eq!(all(&conversation, "#conv-channel"), ["商城公众号"]);
}

#[tokio::test]
async fn the_console_adds_a_channel_shows_its_values_once_checks_and_switches_it() {
    use crate::canned::Browser;
    use crate::helpers::{ADMIN_PASSWORD, all, attr, one};

    let (app, _fake) = two_accounts().await;
    let admin = Browser::sign_in(&app, "admin", ADMIN_PASSWORD).await;
    let page = admin.page("/admin/channels").await;
    assert_eq!(all(&page, "#channels tr.channel code.webhook"), ["/wechat"]);
    // a Token and an EncodingAESKey made up for the new channel, as WeChat's console takes them
    let token = attr(&page, "#new-channel input[name=token]", "value").unwrap();
    let aes_key = attr(&page, "#new-channel input[name=aes_key]", "value").unwrap();
    assert_eq!(aes_key.len(), 43);
    assert!(
        aes_key.chars().all(|c| c.is_ascii_alphanumeric()),
        "{aes_key}"
    );
    assert!(token.len() >= 3 && token.chars().all(|c| c.is_ascii_alphanumeric()));

    let form = [
        ("name", "shop"),
        ("display_name", "<i>商城</i>"),
        ("kind", "officialaccount"),
        ("appid", SHOP_APPID),
        ("token", token.as_str()),
        ("aes_key", aes_key.as_str()),
        ("secret", SHOP_SECRET),
        ("format", "xml"),
    ];
    let added = admin.post_form("/admin/channels", &form).await;
    assert_eq!(added.status(), StatusCode::OK);
    let added = scraper::Html::parse_document(&added.text().await.unwrap());
    assert_eq!(one(&added, "#paste-url"), "/wechat/shop");
    assert_eq!(one(&added, "#paste-token"), token);
    assert_eq!(one(&added, "#paste-aes-key"), aes_key);
    assert_eq!(one(&added, "h1"), "<i>商城</i>", "escaped, shown as text");

    // the values work at once…
    let customer = openid("console");
    let body = simulate::push_body(
        &SimulatedKind::Text("hi".into()),
        &customer,
        simulate::random_msg_id(),
        now(),
        Format::Xml,
    );
    let signed = sign_as(
        &token,
        &cipher(&aes_key, SHOP_APPID),
        &body,
        Mode::Safe,
        Format::Xml,
        now(),
    );
    assert_success(post_to(&app, "/wechat/shop", &signed).await).await;

    // …and are not shown again
    let html = admin.get("/admin/channels").await.text().await.unwrap();
    for secret in [token.as_str(), aes_key.as_str(), SHOP_SECRET] {
        assert!(!html.contains(secret), "{secret} shown again");
    }
    let page = scraper::Html::parse_document(&html);
    let shop_id = attr(&page, "tr.channel[data-name=shop]", "data-id").unwrap();

    // the check asks WeChat for a token with the channel's AppID and AppSecret
    let checked = admin
        .post_form(&format!("/admin/channels/{shop_id}/check"), &[])
        .await;
    let checked = scraper::Html::parse_document(&checked.text().await.unwrap());
    assert!(
        one(&checked, "#channel-notice").contains("access token")
            || one(&checked, "#channel-notice").contains("access_token"),
        "{}",
        one(&checked, "#channel-notice")
    );

    // a refused form keeps what was typed, but not the secret, and says why
    let refused = admin
        .post_form(
            "/admin/channels",
            &[
                ("name", "Bad Name"),
                ("appid", SHOP_APPID),
                ("token", "abcd"),
                ("secret", "typed-secret"),
            ],
        )
        .await;
    assert_eq!(refused.status(), StatusCode::BAD_REQUEST);
    let refused = refused.text().await.unwrap();
    assert!(!refused.contains("typed-secret"));
    assert!(refused.contains("channel-error"));

    let off = admin
        .post_form(
            &format!("/admin/channels/{shop_id}/enabled"),
            &[("enabled", "0")],
        )
        .await;
    assert!(off.status().is_redirection() || off.status().is_success());
    let signed = sign_as(
        &token,
        &cipher(&aes_key, SHOP_APPID),
        &body,
        Mode::Safe,
        Format::Xml,
        now(),
    );
    assert_error(
        post_to(&app, "/wechat/shop", &signed).await,
        StatusCode::SERVICE_UNAVAILABLE,
    )
    .await;

    // agents do not get in
    crate::helpers::seed_staff(
        &app,
        "bo",
        "Bo",
        kefu::domain::Role::Agent,
        "agent-password-1",
    )
    .await;
    let agent = Browser::sign_in(&app, "bo", "agent-password-1").await;
    assert_eq!(
        agent.get("/admin/channels").await.status(),
        StatusCode::FORBIDDEN
    );
}

#[tokio::test]
async fn an_agent_limited_to_one_channel_sees_nothing_of_another() {
    use crate::canned::Browser;
    use crate::helpers::{ADMIN_PASSWORD, STAFF_PASSWORD, add_staff, all};
    use crate::live::Client;

    let (app, _fake) = two_accounts().await;
    let shop = add_shop(&app).await;
    let other = openid("other-channel");
    app.push_text(&other, "for the default channel").await;
    let mine = openid("my-channel");
    let signed = shop_push(&mine, "for the shop", Mode::Safe, Format::Xml);
    assert_success(post_to(&app, "/wechat/shop", &signed).await).await;
    let hidden = app.conversation_of(&other).await;
    let hidden_id = id_of(&hidden);
    let hidden_message = id_of(&app.messages(hidden_id).await[0]);
    let visible = app.conversation_of(&mine).await;

    // an admin limits the agent to the shop from the console
    let (agent_id, agent) = add_staff(&app, "lim", "Lim", kefu::domain::Role::Agent).await;
    let admin = Browser::sign_in(&app, "admin", ADMIN_PASSWORD).await;
    let field = format!("ch_{}", shop["id"]);
    let saved = admin
        .post_form(
            &format!("/admin/channels/agents/{agent_id}"),
            &[(field.as_str(), "1")],
        )
        .await;
    assert!(saved.status().is_redirection() || saved.status().is_success());

    let as_agent = |method: reqwest::Method, path: String| {
        app.client
            .request(method, app.url(&path))
            .bearer_auth(&agent)
    };
    // the API: lists narrowed, the other channel's conversation and messages do not exist
    let list: Value = as_agent(
        reqwest::Method::GET,
        "/api/v1/conversations?status=all".into(),
    )
    .send()
    .await
    .unwrap()
    .json()
    .await
    .unwrap();
    let ids: Vec<i64> = list["conversations"]
        .as_array()
        .unwrap()
        .iter()
        .map(id_of)
        .collect();
    assert_eq!(ids, [id_of(&visible)]);
    let other_list: Value = as_agent(
        reqwest::Method::GET,
        "/api/v1/conversations?status=all&channel=default".into(),
    )
    .send()
    .await
    .unwrap()
    .json()
    .await
    .unwrap();
    assert_eq!(other_list["conversations"], json!([]));
    for (method, path) in [
        (
            reqwest::Method::GET,
            format!("/api/v1/conversations/{hidden_id}"),
        ),
        (
            reqwest::Method::GET,
            format!("/api/v1/conversations/{hidden_id}/messages"),
        ),
        (
            reqwest::Method::POST,
            format!("/api/v1/conversations/{hidden_id}/status"),
        ),
        (
            reqwest::Method::POST,
            format!("/api/v1/conversations/{hidden_id}/messages"),
        ),
        (
            reqwest::Method::GET,
            format!("/api/v1/messages/{hidden_message}/media"),
        ),
    ] {
        let resp = as_agent(method.clone(), path.clone())
            .json(&json!({"status": "resolved", "type": "text", "content": {"text": "x"}}))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), StatusCode::NOT_FOUND, "{method} {path}");
    }
    let bulk: Value = as_agent(reqwest::Method::POST, "/api/v1/conversations/bulk".into())
        .json(&json!({"ids": [hidden_id, id_of(&visible)], "action": "resolve"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(bulk["done"], 1, "{bulk}");
    assert_eq!(bulk["results"][0]["ok"], false, "{bulk}");
    assert_eq!(
        app.get_json(&format!("/api/v1/conversations/{hidden_id}"))
            .await["status"],
        "open",
        "untouched"
    );
    // nor can the agent be given it
    let resp = app
        .post_json(
            &format!("/api/v1/conversations/{hidden_id}/assign"),
            json!({"assignee": agent_id}),
        )
        .await;
    assert_error(resp, StatusCode::BAD_REQUEST).await;

    // the pages
    let browser = Browser::sign_in(&app, "lim", STAFF_PASSWORD).await;
    let inbox = browser.page("/inbox?view=all&status=all").await;
    let rows: Vec<String> = crate::helpers::attr_all(&inbox, "#conversations .conv", "data-id");
    assert_eq!(rows, [id_of(&visible).to_string()]);
    assert!(all(&inbox, "#channel-select option").len() <= 2);
    let page = browser.get(&format!("/conversations/{hidden_id}")).await;
    assert_eq!(page.status(), StatusCode::NOT_FOUND);

    // live updates: nothing about the other channel, the counts over the agent's channel only
    // an admin views the other channel's conversation: the agent is not told so
    let mut admin_ws = Client::connect(&app, &format!("viewing={hidden_id}")).await;
    admin_ws.greeting().await;
    let mut ws = Client::connect_as(&app, "", &agent).await;
    let (_, presence) = ws.greeting().await;
    assert!(
        !presence["conversations"]
            .to_string()
            .contains(&format!(":{hidden_id},")),
        "{presence}"
    );
    assert_eq!(presence["conversations"], json!([]), "{presence}");
    app.push_text(&other, "again, elsewhere").await;
    let signed = shop_push(&mine, "again, here", Mode::Safe, Format::Xml);
    assert_success(post_to(&app, "/wechat/shop", &signed).await).await;
    let mut saw_mine = false;
    let mut counts = None;
    while !(saw_mine && counts.is_some()) {
        let frame = ws.frame().await;
        let text = frame.to_string();
        assert!(
            frame["event"]["conversation_id"] != json!(hidden_id),
            "an event of another channel: {text}"
        );
        assert!(!text.contains("elsewhere"), "{text}");
        if frame["event"]["kind"] == "message_added" {
            // (the bulk resolve above closed the first one: this is a new conversation)
            let id = frame["event"]["conversation_id"].as_i64().unwrap();
            let conversation = app.get_json(&format!("/api/v1/conversations/{id}")).await;
            assert_eq!(conversation["channel"]["name"], "shop", "{text}");
            saw_mine = true;
        }
        if frame["event"]["kind"] == "inbox_counts" {
            counts = Some(frame["event"]["counts"].clone());
        }
    }
    assert_eq!(counts.unwrap()["all"], 1);
}

#[tokio::test]
async fn an_official_accounts_auto_reply_is_answered_in_the_push_encrypted_with_its_key() {
    let (app, fake) = two_accounts().await;
    add_shop(&app).await;
    let rule = app
        .post_json(
            "/api/v1/rules",
            json!({"name": "hours", "match": "contains", "keywords": ["营业时间"], "action": "reply",
                   "reply": {"type": "text", "content": {"text": "每天 9:00–21:00 <营业>"}}}),
        )
        .await;
    assert_eq!(rule.status(), StatusCode::CREATED);

    for format in FORMATS {
        let customer = openid("passive");
        let body = simulate::push_body(
            &SimulatedKind::Text("请问营业时间？".into()),
            &customer,
            simulate::random_msg_id(),
            now(),
            format,
        );
        let signed = sign_as(
            SHOP_TOKEN,
            &cipher(SHOP_AES_KEY, SHOP_APPID),
            &body,
            Mode::Safe,
            format,
            now(),
        );
        let resp = post_to(&app, "/wechat/shop", &signed).await;
        assert_eq!(resp.status(), StatusCode::OK);
        let answer = resp.text().await.unwrap();
        // signed with the shop's Token, encrypted with its key and AppID
        let shop = cipher(SHOP_AES_KEY, SHOP_APPID);
        let plain = crate::helpers::open_passive(&answer, &signed, SHOP_TOKEN, &shop, format);
        let (msg_type, content, to) = match format {
            Format::Json => {
                let v: Value = serde_json::from_str(&plain).unwrap();
                (
                    v["MsgType"].as_str().unwrap().to_owned(),
                    v["Content"].as_str().unwrap().to_owned(),
                    v["ToUserName"].as_str().unwrap().to_owned(),
                )
            }
            Format::Xml => {
                let field = |name: &str| {
                    plain
                        .split(&format!("<{name}><![CDATA["))
                        .nth(1)
                        .and_then(|s| s.split("]]>").next())
                        .unwrap_or_default()
                        .to_owned()
                };
                (field("MsgType"), field("Content"), field("ToUserName"))
            }
        };
        assert_eq!(msg_type, "text", "{plain}");
        assert_eq!(content, "每天 9:00–21:00 <营业>");
        assert_eq!(to, customer);

        // recorded as the bot's, sent, without spending a reply
        let conversation = app.conversation_of(&customer).await;
        assert_eq!(conversation["replies_left"], 5, "{conversation}");
        let messages = app.messages(id_of(&conversation)).await;
        let bot = messages
            .iter()
            .find(|m| m["sender"]["kind"] == "bot")
            .expect("the bot's reply is in the conversation");
        assert_eq!(bot["status"], "sent");
        assert_eq!(bot["content"]["text"], "每天 9:00–21:00 <营业>");
    }
    assert!(fake.sent().is_empty(), "nothing went through the send API");

    // the mini program channel answers through the send API, as before
    let customer = openid("mini");
    app.push_text(&customer, "营业时间").await;
    let sent = fake.wait_for_sent(1, Duration::from_secs(20)).await;
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].appid, APPID);
}

#[tokio::test]
async fn a_rule_for_one_channel_answers_only_there() {
    let (app, fake) = two_accounts().await;
    let shop = add_shop(&app).await;
    let rule = |name: &str, priority: i64, text: &str, channel: Value| {
        json!({"name": name, "priority": priority, "match": "contains", "keywords": ["hello"],
               "action": "reply", "reply": {"type": "text", "content": {"text": text}},
               "channel_id": channel})
    };
    let everyone = app
        .post_json(
            "/api/v1/rules",
            rule("everyone", 1, "hello, everyone", Value::Null),
        )
        .await;
    assert_eq!(everyone.status(), StatusCode::CREATED);
    let only = app
        .post_json(
            "/api/v1/rules",
            rule("shop", 0, "hello from the shop", shop["id"].clone()),
        )
        .await;
    assert_eq!(only.status(), StatusCode::CREATED);
    let only: Value = only.json().await.unwrap();
    assert_eq!(only["channel_id"], shop["id"]);
    let nowhere = app
        .post_json("/api/v1/rules", rule("nowhere", 0, "x", json!(999)))
        .await;
    assert_error(nowhere, StatusCode::BAD_REQUEST).await;

    // the highest priority among the rules that apply wins: the shop's is raised above the
    // rule of every channel
    let id = id_of(&only);
    let raised = put_json(
        &app,
        &format!("/api/v1/rules/{id}"),
        rule("shop", 5, "hello from the shop", shop["id"].clone()),
    )
    .await;
    assert_eq!(raised.status(), StatusCode::OK);

    let customer = openid("rule-shop");
    let signed = shop_push(&customer, "hello", Mode::Plain, Format::Xml);
    let answer = post_to(&app, "/wechat/shop", &signed)
        .await
        .text()
        .await
        .unwrap();
    assert!(answer.contains("hello from the shop"), "{answer}");

    let regular = openid("rule-default");
    app.push_text(&regular, "hello").await;
    let sent = fake.wait_for_sent(1, Duration::from_secs(20)).await;
    assert_eq!(sent[0].body["text"]["content"], "hello, everyone");

    // each hit belongs to the channel whose customer wrote
    app.state().automation.flush_hits().await.unwrap();
    let pool = app.state().store.pool();
    let everyone: Value = everyone.json().await.unwrap();
    let per_channel = |id| async move {
        kefu::store::rules::hits_by_channel(pool, id)
            .await
            .unwrap()
            .into_iter()
            .map(|(channel, hits, _)| (channel, hits))
            .collect::<Vec<_>>()
    };
    assert_eq!(per_channel(id_of(&everyone)).await, [(1, 1)]);
    assert_eq!(per_channel(id).await, [(shop["id"].as_i64().unwrap(), 1)]);
}

#[tokio::test]
async fn each_channels_customer_has_their_own_reply_window_and_quota() {
    let (app, _fake) = two_accounts().await;
    add_shop(&app).await;
    // the same openid writes to both accounts: two customers, two windows
    let customer = openid("quota");
    app.push_text(&customer, "to the mini program").await;
    let signed = shop_push(&customer, "to the account", Mode::Safe, Format::Xml);
    assert_success(post_to(&app, "/wechat/shop", &signed).await).await;
    let both = app.conversations_of(&customer).await;
    let of = |name: &str| {
        both.iter()
            .find(|c| c["channel"]["name"] == name)
            .cloned()
            .unwrap_or_else(|| panic!("no {name} conversation in {both:?}"))
    };
    let (shop, default) = (of("shop"), of("default"));
    let path = format!("/api/v1/conversations/{}/messages", id_of(&shop));
    for i in 0..5 {
        let resp = app
            .post_json(
                &path,
                json!({"type": "text", "content": {"text": format!("reply {i}")}}),
            )
            .await;
        assert_eq!(resp.status(), StatusCode::ACCEPTED, "reply {i}");
    }
    let sixth = app
        .post_json(
            &path,
            json!({"type": "text", "content": {"text": "one too many"}}),
        )
        .await;
    assert_error(sixth, StatusCode::UNPROCESSABLE_ENTITY).await;
    let shop_now = app
        .get_json(&format!("/api/v1/conversations/{}", id_of(&shop)))
        .await;
    let default_now = app
        .get_json(&format!("/api/v1/conversations/{}", id_of(&default)))
        .await;
    assert_eq!(shop_now["replies_left"], 0);
    assert_eq!(default_now["replies_left"], 5, "{default_now}");
}

#[tokio::test]
async fn a_channel_may_have_its_own_fallback_set_in_the_console_or_the_api() {
    use crate::canned::Browser;
    use crate::helpers::{ADMIN_PASSWORD, all};

    let (app, fake) = two_accounts().await;
    let shop = add_shop(&app).await;
    let shop_id = shop["id"].as_i64().unwrap();
    let mut settings = app.get_json("/api/v1/settings/automation").await;
    settings["fallback"] = json!("we will answer soon");
    settings["by_channel"] = json!([{"channel_id": shop_id, "fallback": "商城客服稍后回复"}]);
    let resp = app
        .client
        .put(app.url("/api/v1/settings/automation"))
        .bearer_auth(&app.token)
        .json(&settings)
        .send()
        .await
        .unwrap();
    assert_eq!(
        resp.status(),
        StatusCode::OK,
        "{}",
        resp.text().await.unwrap()
    );

    // the shop answers with its own (passively), the mini program with the global one
    let customer = openid("own-fallback");
    let signed = shop_push(&customer, "anything", Mode::Plain, Format::Xml);
    let answer = post_to(&app, "/wechat/shop", &signed)
        .await
        .text()
        .await
        .unwrap();
    assert!(answer.contains("商城客服稍后回复"), "{answer}");
    let regular = openid("global-fallback");
    app.push_text(&regular, "anything").await;
    let sent = fake.wait_for_sent(1, Duration::from_secs(20)).await;
    assert_eq!(sent[0].body["text"]["content"], "we will answer soon");

    // the console shows each channel's own messages, and saves them
    let admin = Browser::sign_in(&app, "admin", ADMIN_PASSWORD).await;
    let page = admin.page("/admin/settings").await;
    let shop_fallback = all(&page, &format!("textarea[name=ch_{shop_id}_fallback]"));
    assert_eq!(shop_fallback, ["商城客服稍后回复"]);
    assert_eq!(
        all(&page, "#channel-settings fieldset.channel-messages").len(),
        2
    );
    let welcome_field = format!("ch_{shop_id}_welcome");
    let fallback_field = format!("ch_{shop_id}_fallback");
    let fields = crate::admin::settings_fields(&[
        (welcome_field.as_str(), "欢迎来到商城"),
        (fallback_field.as_str(), ""),
    ]);
    let saved = admin.post_form("/admin/settings", &fields).await;
    assert!(saved.status().is_redirection(), "{}", saved.status());
    let now = app.get_json("/api/v1/settings/automation").await;
    assert_eq!(
        now["by_channel"],
        json!([{"channel_id": shop_id, "welcome": "欢迎来到商城", "fallback": null, "away": null}]),
        "{now}"
    );
}
