//! Search across all history (CONTRACT.md "Search"): every query's results compared with the
//! messages a brute-force reading of the whole corpus finds (precision and recall 100 %),
//! the filters, the pages, a message found the moment it is stored, an index rebuilt for the
//! history it did not cover, an agent's channels, the refusals, and the page.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use kefu::automation::rules::normalize;
use kefu::wechat::fake::{FakeConfig, FakeWechat};
use kefu::wechat::push::Format;
use kefu::wechat::simulate::{self, SimulatedKind};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::canned::Browser;
use crate::helpers::{
    ADMIN_PASSWORD, APPID, Mode, SECRET, TestApp, add_staff, assert_error, assert_success, cipher,
    id_of, now, openid, sign_as,
};

// ---------------------------------------------------------------------------------------------
// The corpus

const CHINESE: &[&str] = &[
    "你好",
    "退款",
    "订单",
    "发货",
    "请问",
    "什么时候",
    "到账",
    "谢谢",
    "客服",
    "人工",
    "优惠券",
    "快递",
    "的",
    "了",
    "吗",
    "我要",
    "地址",
    "修改",
    "售后",
    "质量问题",
    "换货",
    "不好意思",
];
const ENGLISH: &[&str] = &[
    "Hello", "refund", "ORDER", "shipping", "please", "Where", "is", "my", "parcel", "iPhone",
    "coupon", "thanks", "OK", "status", "Ab", "ab", "NEAR", "OR", "AND", "not",
];
const FULL_WIDTH: &[&str] = &[
    "ＨＥＬＬＯ",
    "ｒｅｆｕｎｄ",
    "ＯＫ",
    "１２３",
    "ＡＢ",
    "！",
    "？",
    "（",
    "）",
];
const EMOJI: &[&str] = &["😀", "👍", "🙏", "❤️", "🎉"];
const META: &[&str] = &[
    "\"",
    "*",
    "%",
    "_",
    "'",
    "\\",
    "100%",
    "a_b",
    "c:\\dir",
    "\"quoted\"",
    "x*y",
    "NEAR(a b)",
    "--",
    ";",
    "(",
    ")",
    "^",
    "-",
    "+",
    ":",
    "{",
    "}",
];
const SPACES: &[&str] = &[" ", "  ", "\u{3000}", "\t", ""];

fn word(rng: &mut StdRng) -> &'static str {
    match rng.random_range(0..10) {
        0..=3 => CHINESE[rng.random_range(0..CHINESE.len())],
        4..=6 => ENGLISH[rng.random_range(0..ENGLISH.len())],
        7 => FULL_WIDTH[rng.random_range(0..FULL_WIDTH.len())],
        8 => EMOJI[rng.random_range(0..EMOJI.len())],
        _ => META[rng.random_range(0..META.len())],
    }
}

fn sentence(rng: &mut StdRng) -> String {
    let n = rng.random_range(1..9);
    let mut s = String::new();
    for i in 0..n {
        if i > 0 {
            s.push_str(SPACES[rng.random_range(0..SPACES.len())]);
        }
        s.push_str(word(rng));
    }
    s
}

/// The searchable fields of a message as the API shows it (CONTRACT.md "Search"), read
/// here from the JSON, not by kefu's own code.
fn fields(m: &Value) -> Vec<String> {
    let c = &m["content"];
    let s = |v: &Value| v.as_str().map(str::to_owned);
    match m["type"].as_str().unwrap_or_default() {
        "text" | "note" => s(&c["text"]).into_iter().collect(),
        "link" | "news" => [s(&c["title"]), s(&c["description"])]
            .into_iter()
            .flatten()
            .collect(),
        "miniprogrampage" => s(&c["title"]).into_iter().collect(),
        "voice" => s(&c["recognition"]).into_iter().collect(),
        _ => Vec::new(),
    }
}

/// Every message of every conversation, by the API.
async fn every_message(app: &TestApp) -> Vec<Value> {
    let mut all = Vec::new();
    for c in app.conversations().await {
        all.extend(app.messages(id_of(&c)).await);
    }
    all
}

/// The ids brute force finds for `q`, newest first.
fn expected(corpus: &[Value], q: &str) -> Vec<i64> {
    let needle = normalize(q);
    let mut ids: Vec<i64> = corpus
        .iter()
        .filter(|m| fields(m).iter().any(|f| normalize(f).contains(&needle)))
        .map(id_of)
        .collect();
    ids.sort_unstable_by(|a, b| b.cmp(a));
    ids
}

fn query_string(pairs: &[(&str, &str)]) -> String {
    serde_urlencoded::to_string(pairs).unwrap()
}

/// Every result of a search, following `next` to the end; each page's results checked newest
/// first, and the pages checked to neither skip nor repeat.
async fn search_all(
    app: &TestApp,
    token: &str,
    filters: &[(&str, &str)],
    limit: usize,
) -> Vec<Value> {
    let mut all: Vec<Value> = Vec::new();
    let mut before: Option<String> = None;
    loop {
        let limit = limit.to_string();
        let mut pairs: Vec<(&str, &str)> = filters.to_vec();
        pairs.push(("limit", &limit));
        if let Some(b) = &before {
            pairs.push(("before", b));
        }
        let path = format!("/api/v1/search?{}", query_string(&pairs));
        let resp = app
            .client
            .get(app.url(&path))
            .bearer_auth(token)
            .send()
            .await
            .unwrap();
        let status = resp.status();
        let page: Value = resp.json().await.unwrap();
        assert_eq!(status, StatusCode::OK, "{path}: {page}");
        let results = page["results"].as_array().unwrap();
        assert!(results.len() <= limit.parse().unwrap());
        all.extend(results.iter().cloned());
        match page["next"].as_str() {
            Some(next) => {
                assert_eq!(
                    results.len().to_string(),
                    limit,
                    "only a full page has a next"
                );
                before = Some(next.to_owned());
            }
            None => break,
        }
    }
    let ids: Vec<i64> = all.iter().map(|r| id_of(&r["message"])).collect();
    let mut sorted = ids.clone();
    sorted.sort_unstable_by(|a, b| b.cmp(a));
    sorted.dedup();
    assert_eq!(ids, sorted, "newest first, each once");
    all
}

fn ids(results: &[Value]) -> Vec<i64> {
    results.iter().map(|r| id_of(&r["message"])).collect()
}

/// A customer's text push through the webhook, as WeChat sends it.
async fn push(app: &TestApp, who: &str, text: &str) {
    app.push_text(who, text).await;
}

/// Waits, with a deadline, until the index has caught up with every stored message.
async fn indexed(app: &TestApp) {
    let pool = app.state().store.pool();
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let (cursor, last): (i64, i64) = sqlx::query_as(
            "select (select last_message_id from search_cursor), (select coalesce(max(id), 0) from messages)",
        )
        .fetch_one(pool)
        .await
        .unwrap();
        if cursor >= last {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "the index is at {cursor}, the last message {last}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// A server that sends replies to a fake WeChat.
async fn sending() -> (TestApp, FakeWechat) {
    crate::helpers::start_sending(&[]).await
}

/// The corpus: customers' pushes, agents' replies and notes, and cards.
async fn corpus(app: &TestApp, rng: &mut StdRng) {
    let customers: Vec<String> = (0..6).map(|i| openid(&format!("search-{i}"))).collect();
    for i in 0..120 {
        let who = &customers[rng.random_range(0..customers.len())];
        push(app, who, &sentence(rng)).await;
        if i % 10 == 3 {
            let conversation = id_of(&app.conversation_of(who).await);
            let kind = if i % 20 == 3 { "note" } else { "text" };
            let resp = app
                .post_json(
                    &format!("/api/v1/conversations/{conversation}/messages"),
                    json!({"type": kind, "content": {"text": sentence(rng)}}),
                )
                .await;
            assert!(resp.status().is_success(), "{}", resp.text().await.unwrap());
        }
        if i % 40 == 7 {
            let resp = app
                .push(
                    &SimulatedKind::Card {
                        thumb_media_id: None,
                    },
                    who,
                    Mode::Plain,
                    Format::Json,
                )
                .await;
            assert_success(resp).await;
        }
    }
}

/// Full-width forms of ASCII (what a customer's keyboard may give).
fn full_width(s: &str) -> String {
    s.chars()
        .map(|c| match c {
            '!'..='~' => char::from_u32(c as u32 + 0xFEE0).unwrap(),
            ' ' => '\u{3000}',
            c => c,
        })
        .collect()
}

#[tokio::test]
async fn every_query_finds_exactly_the_messages_whose_normalised_text_contains_it() {
    let (app, _fake) = sending().await;
    let mut rng = StdRng::seed_from_u64(15);
    corpus(&app, &mut rng).await;
    let all = every_message(&app).await;
    let texts: Vec<Vec<char>> = all
        .iter()
        .flat_map(fields)
        .map(|f| f.chars().collect())
        .filter(|f: &Vec<char>| !f.is_empty())
        .collect();
    assert!(texts.len() > 100, "{}", texts.len());

    // queries cut from the corpus (1, 2, 3 and 5 to 8 characters), in other forms too, and
    // made up: metacharacters, operators, forms that fold, words that are not there
    let mut queries: Vec<String> = Vec::new();
    for n in [1, 1, 2, 2, 3, 3, 5, 6, 8] {
        for _ in 0..6 {
            let text = &texts[rng.random_range(0..texts.len())];
            let start = rng.random_range(0..text.len());
            let cut: String = text[start..(start + n).min(text.len())].iter().collect();
            queries.push(cut.clone());
            match rng.random_range(0..3) {
                0 => queries.push(cut.to_uppercase()),
                1 => queries.push(full_width(&cut)),
                _ => queries.push(format!("  {cut}  ")),
            }
        }
    }
    for q in [
        "你",
        "款",
        "退款",
        "退款 了",
        "订单的",
        "什么时候到账",
        "a",
        "ab",
        "AB",
        "ＡＢ",
        "hello",
        "ＨＥＬＬＯ",
        "ok",
        "near",
        "NEAR(a",
        "or",
        "a OR b",
        "\"quoted\"",
        "quoted\"",
        "x*y",
        "100%",
        "a_b",
        "c:\\dir",
        "\\",
        "'",
        "%",
        "_",
        "*",
        "\"",
        "e*",
        "r%",
        "1",
        "12",
        "123",
        "２３",
        "好😀",
        "了😀的",
        "🎉",
        "refund 退款",
        "我要 refund",
        "zzz",
        "不存在的句子",
        "d OR",
        "(a",
        "a b",
        "的了",
        "吗!",
    ] {
        queries.push(q.to_owned());
    }

    for q in &queries {
        if normalize(q).is_empty() {
            let resp = app
                .get(&format!("/api/v1/search?{}", query_string(&[("q", q)])))
                .await;
            assert_error(resp, StatusCode::BAD_REQUEST).await;
            continue;
        }
        let want = expected(&all, q);
        let got = search_all(&app, &app.token, &[("q", q)], 7).await;
        assert_eq!(
            ids(&got),
            want,
            "query {q:?} (normalised {:?})",
            normalize(q)
        );
        for r in &got {
            // the snippet holds the match; the message and conversation are the API's own
            let snippet = r["snippet"].as_str().unwrap();
            assert!(snippet.contains(&normalize(q)), "{q:?} in {snippet:?}");
            assert_eq!(r["conversation"]["id"], r["message"]["conversation_id"]);
            assert!(r["conversation"]["channel"]["name"].is_string());
        }
    }
    // the same once the index has caught up (before, part of it may have been read directly)
    indexed(&app).await;
    for q in queries.iter().filter(|q| !normalize(q).is_empty()) {
        let got = search_all(&app, &app.token, &[("q", q)], 50).await;
        assert_eq!(ids(&got), expected(&all, q), "query {q:?}, indexed");
    }
}

#[tokio::test]
async fn a_result_is_the_message_and_conversation_as_the_api_shows_them() {
    let app = TestApp::start().await;
    let who = openid("shape");
    push(&app, &who, "我想查一下订单 Order-42 的物流").await;
    let conversation = app.conversation_of(&who).await;
    let message = app.messages(id_of(&conversation)).await.remove(0);
    let page = app.get_json("/api/v1/search?q=%E8%AE%A2%E5%8D%95").await;
    assert_eq!(page["next"], Value::Null);
    let result = &page["results"][0];
    assert_eq!(result["message"], message);
    assert_eq!(result["conversation"], conversation);
    assert_eq!(result["snippet"], "我想查一下订单 order-42 的物流");
    assert_eq!(
        result.as_object().unwrap().keys().collect::<Vec<_>>(),
        ["conversation", "message", "snippet"]
    );
}

#[tokio::test]
async fn a_message_is_found_the_moment_it_is_stored_and_the_index_catches_up() {
    let (app, _fake) = sending().await;
    let who = openid("fresh");
    for i in 0..30 {
        push(&app, &who, &format!("旧消息 {i}")).await;
    }
    indexed(&app).await;
    // no waiting: stored, then searched
    push(&app, &who, "刚刚到的快递单号 SF1234567").await;
    let found = search_all(&app, &app.token, &[("q", "sf1234567")], 10).await;
    assert_eq!(found.len(), 1);
    let found = search_all(&app, &app.token, &[("q", "快")], 10).await;
    assert_eq!(found.len(), 1);
    // a note written through the API, at once
    let conversation = id_of(&app.conversation_of(&who).await);
    let resp = app
        .post_json(
            &format!("/api/v1/conversations/{conversation}/messages"),
            json!({"type": "note", "content": {"text": "VIP 客户，优先处理"}}),
        )
        .await;
    assert!(resp.status().is_success());
    assert_eq!(
        search_all(&app, &app.token, &[("q", "优先")], 10)
            .await
            .len(),
        1
    );
    // and the index reaches them within about a second, with the same answers
    let started = Instant::now();
    indexed(&app).await;
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(
        search_all(&app, &app.token, &[("q", "优先")], 10)
            .await
            .len(),
        1
    );
    assert_eq!(
        search_all(&app, &app.token, &[("q", "旧消息")], 7)
            .await
            .len(),
        30
    );
}

#[tokio::test]
async fn the_history_is_indexed_again_after_the_migration_and_searches_are_complete_meanwhile() {
    let mut app = TestApp::start().await;
    let who = openid("history");
    for i in 0..40 {
        push(&app, &who, &format!("历史记录 number {i}")).await;
    }
    indexed(&app).await;
    // as the migration leaves it for a database with history: an empty index, the cursor at 0
    let pool = app.state().store.pool();
    for statement in [
        "insert into search_trigrams (search_trigrams) values ('delete-all')",
        "insert into search_grams (search_grams) values ('delete-all')",
        "update search_cursor set last_message_id = 0",
    ] {
        sqlx::query(statement).execute(pool).await.unwrap();
    }
    let all = search_all(&app, &app.token, &[("q", "历史")], 15).await;
    assert_eq!(all.len(), 40, "read directly while the index is empty");
    app.restart().await;
    indexed(&app).await;
    assert_eq!(
        search_all(&app, &app.token, &[("q", "历史")], 15)
            .await
            .len(),
        40
    );
    assert_eq!(
        search_all(&app, &app.token, &[("q", "number 3")], 15)
            .await
            .len(),
        11
    );
    assert_eq!(
        search_all(&app, &app.token, &[("q", "7")], 15).await.len(),
        4
    );
}

// ---------------------------------------------------------------------------------------------
// Filters, pages, channels

const SHOP_APPID: &str = "wx00000000000000b1";
const SHOP_TOKEN: &str = "shopToken42";
const SHOP_AES_KEY: &str = "ZYXWVUTSRQPONMLKJIHGFEDCBAzyxwvutsrqponmlkj";
const SHOP_SECRET: &str = "shop-app-secret-never-shown";

async fn two_channels() -> (TestApp, FakeWechat, i64) {
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
    let resp = app
        .post_json(
            "/api/v1/channels",
            json!({
                "name": "shop", "kind": "officialaccount", "appid": SHOP_APPID,
                "token": SHOP_TOKEN, "aes_key": SHOP_AES_KEY, "secret": SHOP_SECRET,
                "format": "xml", "display_name": "商城公众号",
            }),
        )
        .await;
    assert_eq!(resp.status(), StatusCode::CREATED);
    let shop: Value = resp.json().await.unwrap();
    (app, fake, id_of(&shop))
}

async fn push_to_shop(app: &TestApp, who: &str, text: &str) {
    let body = simulate::push_body(
        &SimulatedKind::Text(text.to_owned()),
        who,
        simulate::random_msg_id(),
        now(),
        Format::Xml,
    );
    let signed = sign_as(
        SHOP_TOKEN,
        &cipher(SHOP_AES_KEY, SHOP_APPID),
        &body,
        Mode::Safe,
        Format::Xml,
        now(),
    );
    let resp = app
        .client
        .post(format!("{}?{}", app.url("/wechat/shop"), signed.query))
        .body(signed.body)
        .send()
        .await
        .unwrap();
    assert_success(resp).await;
}

#[tokio::test]
async fn filters_narrow_by_channel_status_assignee_and_time_and_pages_neither_skip_nor_repeat() {
    let (app, _fake, _shop) = two_channels().await;
    let (a, b, c) = (openid("f-a"), openid("f-b"), openid("f-c"));
    let started = kefu::domain::now_millis();
    for i in 0..9 {
        push(&app, &a, &format!("发票 default {i}")).await;
        push_to_shop(&app, &b, &format!("发票 shop {i}")).await;
    }
    push(&app, &c, "发票 resolved later").await;
    let (ca, cb, cc) = (
        id_of(&app.conversation_of(&a).await),
        id_of(&app.conversation_of(&b).await),
        id_of(&app.conversation_of(&c).await),
    );
    let conversation_of = |results: &[Value]| -> BTreeSet<i64> {
        results.iter().map(|r| id_of(&r["conversation"])).collect()
    };
    let all = search_all(&app, &app.token, &[("q", "发票")], 4).await;
    assert_eq!(all.len(), 19);
    for limit in [1, 2, 3, 5, 19, 100] {
        let paged = search_all(&app, &app.token, &[("q", "发票")], limit).await;
        assert_eq!(ids(&paged), ids(&all), "limit {limit}");
    }
    // channel
    let shop = search_all(&app, &app.token, &[("q", "发票"), ("channel", "shop")], 4).await;
    assert_eq!(conversation_of(&shop), BTreeSet::from([cb]));
    assert_eq!(shop.len(), 9);
    let default = search_all(
        &app,
        &app.token,
        &[("q", "发票"), ("channel", "default")],
        4,
    )
    .await;
    assert_eq!(conversation_of(&default), BTreeSet::from([ca, cc]));
    // status
    let resp = app
        .post_json(
            &format!("/api/v1/conversations/{cc}/status"),
            json!({"status": "resolved"}),
        )
        .await;
    assert!(resp.status().is_success());
    let resolved = search_all(
        &app,
        &app.token,
        &[("q", "发票"), ("status", "resolved")],
        4,
    )
    .await;
    assert_eq!(conversation_of(&resolved), BTreeSet::from([cc]));
    let open = search_all(&app, &app.token, &[("q", "发票"), ("status", "open")], 4).await;
    assert_eq!(conversation_of(&open), BTreeSet::from([ca, cb]));
    // assignee
    let (agent, _) = add_staff(&app, "ann", "Ann", kefu::domain::Role::Agent).await;
    let resp = app
        .post_json(
            &format!("/api/v1/conversations/{ca}/assign"),
            json!({"assignee": agent}),
        )
        .await;
    assert!(resp.status().is_success(), "{}", resp.text().await.unwrap());
    let anns = search_all(
        &app,
        &app.token,
        &[("q", "发票"), ("assignee", &agent.to_string())],
        4,
    )
    .await;
    assert_eq!(conversation_of(&anns), BTreeSet::from([ca]));
    let nobody = search_all(&app, &app.token, &[("q", "发票"), ("assignee", "none")], 4).await;
    assert_eq!(conversation_of(&nobody), BTreeSet::from([cb, cc]));
    // time: from (inclusive), to (exclusive)
    let rfc = |ms: i64| kefu::domain::rfc3339(ms);
    let later = rfc(kefu::domain::now_millis() + 3_600_000);
    let earlier = rfc(started - 60_000);
    assert!(
        search_all(&app, &app.token, &[("q", "发票"), ("from", &later)], 4)
            .await
            .is_empty()
    );
    assert!(
        search_all(&app, &app.token, &[("q", "发票"), ("to", &earlier)], 4)
            .await
            .is_empty()
    );
    let within = search_all(
        &app,
        &app.token,
        &[("q", "发票"), ("from", &earlier), ("to", &later)],
        4,
    )
    .await;
    assert_eq!(within.len(), 19);
    // the time of the tenth-newest message splits the results there
    let pivot = all[9]["message"]["created_at"].as_str().unwrap().to_owned();
    let newer = search_all(&app, &app.token, &[("q", "发票"), ("from", &pivot)], 4).await;
    let older = search_all(&app, &app.token, &[("q", "发票"), ("to", &pivot)], 4).await;
    assert_eq!(newer.len() + older.len(), 19);
    let at = |s: &str| {
        time::OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339).unwrap()
    };
    let created = |r: &Value| at(r["message"]["created_at"].as_str().unwrap());
    assert!(newer.iter().all(|r| created(r) >= at(&pivot)));
    assert!(older.iter().all(|r| created(r) < at(&pivot)));
    // all of them at once
    let both = search_all(
        &app,
        &app.token,
        &[
            ("q", "发票 shop"),
            ("channel", "shop"),
            ("status", "open"),
            ("assignee", "none"),
            ("from", &earlier),
        ],
        2,
    )
    .await;
    assert_eq!(both.len(), 9);
}

#[tokio::test]
async fn an_agent_limited_to_one_channel_finds_only_its_messages() {
    let (app, _fake, shop) = two_channels().await;
    push(&app, &openid("ch-default"), "同一句话 in default").await;
    push_to_shop(&app, &openid("ch-shop"), "同一句话 in shop").await;
    let (agent, token) = add_staff(&app, "lim", "Lim", kefu::domain::Role::Agent).await;
    let mut conn = app.state().store.pool().acquire().await.unwrap();
    kefu::store::staff::set_channels(&mut conn, agent, Some(&[shop]))
        .await
        .unwrap();
    drop(conn);
    let admin = search_all(&app, &app.token, &[("q", "同一句话")], 10).await;
    assert_eq!(admin.len(), 2);
    for q in ["同一句话", "同", "in", "话 in"] {
        let found = search_all(&app, &token, &[("q", q)], 10).await;
        assert_eq!(found.len(), 1, "{q}");
        assert_eq!(found[0]["conversation"]["channel"]["name"], "shop");
    }
    let other = search_all(
        &app,
        &token,
        &[("q", "同一句话"), ("channel", "default")],
        10,
    )
    .await;
    assert!(other.is_empty());
}

#[tokio::test]
async fn a_search_that_cannot_mean_anything_is_refused_with_one_sentence_naming_the_parameter() {
    let app = TestApp::start().await;
    push(&app, &openid("refusals"), "hello").await;
    for (query, names) in [
        ("", "`q`"),
        ("q=", "`q`"),
        ("q=%20%E3%80%80%EF%BC%81", "`q`"),
        ("q=%F0%9F%98%80", "`q`"),
        ("q=hello&before=abc", "`before`"),
        ("q=hello&before=-3", "`before`"),
        ("q=hello&limit=0", "`limit`"),
        ("q=hello&limit=101", "`limit`"),
        ("q=hello&limit=ten", "`limit`"),
        ("q=hello&from=yesterday", "`from`"),
        ("q=hello&to=2026-12-07", "`to`"),
        (
            "q=hello&from=2026-12-08T00:00:00Z&to=2026-12-07T00:00:00Z",
            "`to`",
        ),
        ("q=hello&status=closed", "`status`"),
        ("q=hello&assignee=someone", "`assignee`"),
        ("q=hello&channel=nowhere", "`channel`"),
        ("q=hello&chanel=default", "chanel"),
    ] {
        let resp = app.get(&format!("/api/v1/search?{query}")).await;
        let body = assert_error(resp, StatusCode::BAD_REQUEST).await;
        let message = body["error"]["message"].as_str().unwrap();
        assert!(message.contains(names), "{query}: {message}");
    }
    let long = "字".repeat(201);
    let resp = app
        .get(&format!("/api/v1/search?{}", query_string(&[("q", &long)])))
        .await;
    assert_error(resp, StatusCode::BAD_REQUEST).await;
    // and in Chinese for a caller who asks for it
    let resp = app
        .client
        .get(app.url("/api/v1/search?q=%21"))
        .bearer_auth(&app.token)
        .header("accept-language", "zh-CN")
        .send()
        .await
        .unwrap();
    let body = assert_error(resp, StatusCode::BAD_REQUEST).await;
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("不能为空"),
        "{body}"
    );
    // signed out: nothing
    let resp = app
        .client
        .get(app.url("/api/v1/search?q=hello"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
}

// ---------------------------------------------------------------------------------------------
// The page

#[tokio::test]
async fn the_page_marks_the_match_escapes_customer_text_and_opens_the_conversation_at_it() {
    let app = TestApp::start().await;
    let who = openid("page");
    push(&app, &who, "<script>alert('退款')</script> 我要退款").await;
    for i in 0..60 {
        push(&app, &who, &format!("later {i}")).await;
    }
    let conversation = id_of(&app.conversation_of(&who).await);
    let browser = Browser::sign_in(&app, "admin", ADMIN_PASSWORD).await;

    // every page has the search box
    let inbox = browser.page("/inbox").await;
    assert_eq!(
        crate::helpers::attr(&inbox, "form.top-search", "action").as_deref(),
        Some("/search")
    );

    let html = browser.page("/search?q=%E9%80%80%E6%AC%BE").await;
    let results = crate::helpers::all(&html, "#search-results > li");
    assert_eq!(results.len(), 1);
    assert_eq!(
        crate::helpers::all(&html, "#search-results mark"),
        ["退款", "退款"]
    );
    assert_eq!(
        crate::helpers::one(&html, ".search-snippet"),
        normalize("<script>alert('退款')</script> 我要退款")
    );
    assert!(
        crate::helpers::all(&html, "main script").is_empty(),
        "the customer's text is text, not markup"
    );
    let href = crate::helpers::attr(&html, "a.search-hit", "href").unwrap();
    let messages = app.messages(conversation).await;
    let hit = id_of(messages.last().unwrap());
    assert_eq!(
        href,
        format!("/conversations/{conversation}?before={}#msg-{hit}", hit + 1)
    );
    // the conversation page has the message, with the id the address points at
    let opened = browser.page(href.split('#').next().unwrap()).await;
    assert_eq!(
        crate::helpers::all(&opened, &format!("#msg-{hit}")).len(),
        1
    );

    // the form keeps the query; a short query pages with "more"
    let html = browser.page("/search?q=later&limit=20").await;
    assert_eq!(
        crate::helpers::attr(&html, "#search-q", "value").as_deref(),
        Some("later")
    );
    assert_eq!(crate::helpers::all(&html, "#search-results > li").len(), 20);
    let more = crate::helpers::attr(&html, "#search-more", "href").unwrap();
    let next = browser.page(&more).await;
    assert_eq!(crate::helpers::all(&next, "#search-results > li").len(), 20);
    let first: BTreeSet<String> = crate::helpers::attr_all(&html, "#search-results > li", "id")
        .into_iter()
        .collect();
    let second: BTreeSet<String> = crate::helpers::attr_all(&next, "#search-results > li", "id")
        .into_iter()
        .collect();
    assert!(first.is_disjoint(&second));

    // nothing found, and a refused query, in the page's own words
    let none = browser.page("/search?q=nothing-like-this").await;
    assert_eq!(crate::helpers::all(&none, "#no-results").len(), 1);
    let refused = browser.get("/search?q=%21%21").await;
    assert_eq!(refused.status(), StatusCode::BAD_REQUEST);
    let refused = scraper::Html::parse_document(&refused.text().await.unwrap());
    assert_eq!(crate::helpers::all(&refused, "#search-error").len(), 1);
    // the form alone without a query
    let empty = browser.page("/search").await;
    assert!(crate::helpers::all(&empty, "#search-results").is_empty());
}
