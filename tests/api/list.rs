//! The list pane and the contact panel as a browser receives them: the views that follow the
//! work (waiting, mine, the bot's, all) with their counts, customers' readable names, rows
//! that say who wrote, labels (the console, chips, the filter, a deletion told live), snoozes,
//! bulk actions (`POST /api/v1/conversations/bulk`) and the customer's earlier conversations,
//! readable in place. (The browser tests drive the toolbar, the chips and the snooze control.)

use std::time::Duration;

use kefu::domain::Role;
use kefu::live::Event;
use reqwest::StatusCode;
use scraper::{Html, Selector};
use serde_json::{Value, json};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use tokio::time::timeout;

use crate::helpers::{TestApp, add_staff, all, assert_error, attr, id_of, one, openid};

const WAIT: Duration = Duration::from_secs(20);

async fn page(app: &TestApp, path: &str) -> (StatusCode, Html) {
    page_as(app, path, &app.token, None).await
}

async fn page_as(app: &TestApp, path: &str, token: &str, lang: Option<&str>) -> (StatusCode, Html) {
    let mut req = app.client.get(app.url(path)).bearer_auth(token);
    if let Some(lang) = lang {
        req = req.header("Accept-Language", lang);
    }
    let resp = req.send().await.expect("the page answers");
    let status = resp.status();
    (
        status,
        Html::parse_document(&resp.text().await.expect("a body")),
    )
}

/// A fragment (not a whole document) as HTML.
async fn fragment(app: &TestApp, path: &str) -> (StatusCode, Html) {
    let resp = app
        .client
        .get(app.url(path))
        .bearer_auth(&app.token)
        .send()
        .await
        .expect("the page answers");
    let status = resp.status();
    (
        status,
        Html::parse_fragment(&resp.text().await.expect("a body")),
    )
}

/// The ids of the rows a list page shows, in order.
fn rows(html: &Html) -> Vec<i64> {
    let sel = Selector::parse("#conversations > li.conv").expect("a selector");
    html.select(&sel)
        .map(|e| {
            e.value()
                .attr("data-id")
                .expect("data-id")
                .parse()
                .expect("an id")
        })
        .collect()
}

async fn post_as(app: &TestApp, token: &str, path: &str, body: Value) -> reqwest::Response {
    app.client
        .post(app.url(path))
        .bearer_auth(token)
        .json(&body)
        .send()
        .await
        .expect("the API answers")
}

async fn ok(resp: reqwest::Response) -> Value {
    let status = resp.status();
    let body = resp.text().await.expect("a body");
    assert!(status.is_success(), "{status}: {body}");
    serde_json::from_str(&body).unwrap_or(Value::Null)
}

/// A customer writes; the id of their (current) conversation.
async fn writes(app: &TestApp, who: &str, text: &str) -> i64 {
    app.push_text(who, text).await;
    let list = app
        .get_json(&format!(
            "/api/v1/conversations?status=all&contact={who}&limit=1"
        ))
        .await;
    id_of(&list["conversations"][0])
}

/// `POST /api/v1/conversations/{id}/{action}` as the admin; the answer, which must succeed.
async fn act(app: &TestApp, id: i64, action: &str, body: Value) -> Value {
    ok(app
        .post_json(&format!("/api/v1/conversations/{id}/{action}"), body)
        .await)
    .await
}

async fn to_human(app: &TestApp, id: i64) {
    act(app, id, "handler", json!({"handler": "human"})).await;
}

async fn label(app: &TestApp, name: &str, color: &str) -> i64 {
    let created = ok(app
        .post_json("/api/v1/labels", json!({"name": name, "color": color}))
        .await)
    .await;
    created["id"].as_i64().expect("an id")
}

fn in_hours(h: i64) -> String {
    (OffsetDateTime::now_utc() + time::Duration::hours(h))
        .format(&Rfc3339)
        .expect("a time")
}

/// A form posted as a browser would (pages take a token too), without following redirects.
async fn post_form(
    app: &TestApp,
    token: &str,
    path: &str,
    form: &[(&str, &str)],
) -> reqwest::Response {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("a client")
        .post(app.url(path))
        .bearer_auth(token)
        .form(form)
        .send()
        .await
        .expect("the page answers")
}

// ---------------------------------------------------------------------------------------------
// Views

#[tokio::test]
async fn the_views_follow_the_work_each_with_its_count_and_old_links_still_work() {
    let app = TestApp::start().await;
    let (agent, agent_token) = add_staff(&app, "agent", "Agent Li", Role::Agent).await;
    let bots = writes(&app, &openid("bots"), "hi bot").await;
    let waiting = writes(&app, &openid("waiting"), "a human please").await;
    to_human(&app, waiting).await;
    let theirs = writes(&app, &openid("theirs"), "hello").await;
    act(&app, theirs, "assign", json!({"assignee": agent})).await;

    let (_, html) = page(&app, "/inbox?view=waiting").await;
    assert_eq!(rows(&html), [waiting]);
    assert_eq!(one(&html, "#views a[data-view=waiting] .count"), "1");
    assert_eq!(one(&html, "#views a[data-view=bot] .count"), "1");
    assert_eq!(one(&html, "#views a[data-view=all] .count"), "3");
    assert_eq!(one(&html, "#views a[data-view=mine] .count"), "0");
    // waiting is open by definition: no status filter there
    assert!(all(&html, "#statuses").is_empty());
    let (_, html) = page(&app, "/inbox?view=bot").await;
    assert_eq!(rows(&html), [bots]);
    let (_, html) = page(&app, "/inbox?view=all").await;
    assert_eq!(rows(&html), [theirs, waiting, bots]);
    let (_, html) = page_as(&app, "/inbox?view=mine", &agent_token, None).await;
    assert_eq!(rows(&html), [theirs]);
    assert_eq!(one(&html, "#views a[data-view=mine] .count"), "1");

    // an old bookmark of the unassigned tab opens the queue
    let (status, html) = page(&app, "/inbox?view=unassigned").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(rows(&html), [waiting]);
    assert_eq!(
        attr(&html, "#views a[aria-current=page]", "data-view").as_deref(),
        Some("waiting")
    );
    // without a view: the admin has nothing of their own, so the queue; the agent has, so mine
    let (_, html) = page(&app, "/inbox").await;
    assert_eq!(
        attr(&html, "#views a[aria-current=page]", "data-view").as_deref(),
        Some("waiting")
    );
    let (_, html) = page_as(&app, "/inbox", &agent_token, None).await;
    assert_eq!(
        attr(&html, "#views a[aria-current=page]", "data-view").as_deref(),
        Some("mine")
    );
    // the pane marks its view, status and label for its script
    assert_eq!(
        attr(&html, "ul#conversations", "data-view").as_deref(),
        Some("mine")
    );
    assert_eq!(
        attr(&html, "ul#conversations", "data-label").as_deref(),
        Some("")
    );
}

/// The views' counts as the database keeps them, checked against a count of the conversations
/// themselves.
async fn counts_agree(app: &TestApp, step: &str) -> kefu::store::conversations::InboxCounts {
    let pool = app.state().store.pool();
    let kept = kefu::store::conversations::open_counts(pool)
        .await
        .expect("counts");
    let counted = kefu::store::conversations::recount_open(pool)
        .await
        .expect("a recount");
    assert_eq!(kept, counted, "after {step}");
    kept.within(None)
}

#[tokio::test]
async fn the_views_counts_stay_exact_through_every_kind_of_change() {
    let app = TestApp::start().await;
    let (agent, agent_token) = add_staff(&app, "agent", "Agent Li", Role::Agent).await;
    let who = openid("counted");
    let c = writes(&app, &who, "hi").await;
    let counts = counts_agree(&app, "a new conversation").await;
    assert_eq!((counts.all, counts.bot, counts.waiting), (1, 1, 0));
    writes(&app, &who, "again").await;
    writes(&app, &openid("second"), "hello").await;
    let counts = counts_agree(&app, "more messages").await;
    assert_eq!(
        (counts.all, counts.bot, counts.unread_unassigned),
        (2, 2, 3)
    );
    to_human(&app, c).await;
    let counts = counts_agree(&app, "a handoff").await;
    assert_eq!((counts.all, counts.bot, counts.waiting), (2, 1, 1));
    assert_eq!(counts.unread_waiting, 2);
    act(&app, c, "assign", json!({"assignee": agent})).await;
    let counts = counts_agree(&app, "an assignment").await;
    assert_eq!((counts.waiting, counts.of(agent)), (0, (1, 2)));
    // the agent opens it: read
    let (status, _) = page_as(&app, &format!("/conversations/{c}"), &agent_token, None).await;
    assert_eq!(status, StatusCode::OK);
    let counts = counts_agree(&app, "reading").await;
    assert_eq!(counts.of(agent), (1, 0));
    for (status, all) in [("pending", 1), ("resolved", 1), ("open", 2)] {
        act(&app, c, "status", json!({ "status": status })).await;
        assert_eq!(counts_agree(&app, status).await.all, all, "{status}");
    }
    act(&app, c, "snooze", json!({"until": in_hours(2)})).await;
    assert_eq!(counts_agree(&app, "a snooze").await.of(agent), (0, 0));
    // the customer writes again: open and unread once more
    writes(&app, &who, "still there?").await;
    assert_eq!(
        counts_agree(&app, "the customer's return").await.of(agent),
        (1, 1)
    );
    act(&app, c, "assign", json!({"assignee": null})).await;
    let counts = counts_agree(&app, "an unassignment").await;
    assert_eq!(
        (counts.of(agent), counts.waiting, counts.all),
        ((0, 0), 1, 2)
    );
}

// ---------------------------------------------------------------------------------------------
// Rows and names

#[tokio::test]
async fn rows_name_customers_readably_and_say_who_wrote_the_last_message() {
    let app = TestApp::start().await;
    let who = openid("a-very-long-openid-that-would-otherwise-fill-the-row");
    let c = writes(&app, &who, "where is my parcel").await;
    let short = kefu::web::views::short_id(&who);
    assert_eq!(short.len(), 6);

    let (_, html) = page(&app, "/inbox?view=all").await;
    let row = format!("#conv-{c}");
    assert_eq!(
        one(&html, &format!("{row} .conv-name")),
        format!("访客 {short}")
    );
    assert_eq!(
        one(&html, &format!("{row} .conv-preview")),
        "客户：where is my parcel"
    );
    // the remaining window has a label, for eyes and for screen readers
    assert_eq!(
        attr(&html, &format!("{row} .conv-window"), "title").as_deref(),
        Some("回复窗口")
    );
    assert!(one(&html, &format!("{row} .conv-window")).contains("回复窗口"));
    let (_, html) = page_as(&app, "/inbox?view=all", &app.token, Some("en")).await;
    assert_eq!(
        one(&html, &format!("{row} .conv-name")),
        format!("Visitor {short}")
    );
    assert_eq!(
        one(&html, &format!("{row} .conv-preview")),
        "Customer: where is my parcel"
    );
    // the conversation's header names them the same way; the panel keeps the openid
    let (_, html) = page(&app, &format!("/conversations/{c}")).await;
    assert_eq!(one(&html, "#conv-name"), format!("访客 {short}"));
    assert_eq!(one(&html, "#contact-openid"), who);
    // and so does each of their messages
    let senders = all(&html, "ol#messages .msg-sender");
    assert!(!senders.is_empty());
    assert!(
        senders.iter().all(|s| *s == format!("访客 {short}")),
        "{senders:?}"
    );

    // a note: the agent's name before it
    act(
        &app,
        c,
        "messages",
        json!({"type": "note", "content": {"text": "called back"}}),
    )
    .await;
    let (_, html) = page(&app, "/inbox?view=all").await;
    let preview = one(&html, &format!("{row} .conv-preview"));
    assert!(preview.ends_with("：[备注] called back"), "{preview}");
    assert!(!preview.starts_with("客户"), "{preview}");

    // Pending reads as waiting on the customer, in rows and filters
    act(&app, c, "status", json!({"status": "pending"})).await;
    let (_, html) = page(&app, "/inbox?view=all&status=pending").await;
    assert_eq!(one(&html, &format!("{row} .conv-status")), "等待客户");
    assert_eq!(one(&html, "#statuses a[data-status=pending]"), "等待客户");
}

// ---------------------------------------------------------------------------------------------
// Labels

#[tokio::test]
async fn admins_keep_labels_in_the_console_and_agents_cannot() {
    let app = TestApp::start().await;
    let (_, agent_token) = add_staff(&app, "agent", "Agent Li", Role::Agent).await;
    let resp = post_form(
        &app,
        &app.token,
        "/admin/labels",
        &[("name", "VIP <b>"), ("color", "#cf222e")],
    )
    .await;
    assert_eq!(resp.status(), StatusCode::SEE_OTHER);
    let (_, html) = page(&app, "/admin/labels?done=created").await;
    assert_eq!(one(&html, "#labels .label-item .chip.label-red"), "VIP <b>");
    assert!(
        all(
            &html,
            "#admin-nav a[href='/admin/labels'][aria-current=page]"
        )
        .len()
            == 1
    );
    // a colour outside the palette, a taken name: refused with the reason, nothing added
    let resp = post_form(
        &app,
        &app.token,
        "/admin/labels",
        &[("name", "x"), ("color", "#ffff00")],
    )
    .await;
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
    let resp = post_form(
        &app,
        &app.token,
        "/admin/labels",
        &[("name", "vip <B>"), ("color", "#0969da")],
    )
    .await;
    assert_eq!(resp.status(), StatusCode::CONFLICT);
    let html = Html::parse_document(&resp.text().await.expect("a body"));
    assert!(!one(&html, "#label-error").is_empty());
    assert_eq!(
        app.get_json("/api/v1/labels").await["labels"]
            .as_array()
            .map(Vec::len),
        Some(1)
    );
    // agents: 403, for the page and the form
    let (status, _) = page_as(&app, "/admin/labels", &agent_token, None).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let resp = post_form(
        &app,
        &agent_token,
        "/admin/labels",
        &[("name", "y"), ("color", "#cf222e")],
    )
    .await;
    assert_eq!(resp.status(), StatusCode::FORBIDDEN);

    // deleting: every open dashboard is told once
    let id = app.get_json("/api/v1/labels").await["labels"][0]["id"]
        .as_i64()
        .expect("an id");
    let mut events = app.state().live.subscribe();
    let resp = post_form(&app, &app.token, &format!("/admin/labels/{id}/delete"), &[]).await;
    assert_eq!(resp.status(), StatusCode::SEE_OTHER);
    let told = timeout(WAIT, async {
        loop {
            if let Ok(Event::LabelDeleted { label_id }) = events.recv().await {
                return label_id;
            }
        }
    })
    .await
    .expect("a label_deleted event");
    assert_eq!(told, id);
    let resp = post_form(&app, &app.token, &format!("/admin/labels/{id}/delete"), &[]).await;
    assert_eq!(resp.status(), StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn rows_and_the_panel_show_label_chips_and_the_list_filters_by_label() {
    let app = TestApp::start().await;
    let vip = label(&app, "VIP", "#cf222e").await;
    // a colour set through the API outside the palette still gets a readable chip
    label(&app, "Refund", "#fafafa").await;
    let tagged = writes(&app, &openid("tagged"), "hi").await;
    let plain = writes(&app, &openid("plain"), "hi").await;
    let resp = app
        .client
        .put(app.url(&format!("/api/v1/conversations/{tagged}/labels")))
        .bearer_auth(&app.token)
        .json(&json!({"labels": ["vip", "refund"]}))
        .send()
        .await
        .expect("the API answers");
    ok(resp).await;

    let (_, html) = page(&app, "/inbox?view=all").await;
    assert_eq!(rows(&html), [plain, tagged]);
    let row = format!("#conv-{tagged}");
    assert_eq!(
        all(&html, &format!("{row} .conv-top .chip")),
        ["Refund", "VIP"]
    );
    assert_eq!(
        attr(
            &html,
            &format!("{row} .chip[data-label-id='{vip}']"),
            "class"
        )
        .as_deref(),
        Some("chip label-red")
    );
    assert_eq!(
        attr(
            &html,
            &format!("{row} .chip:not([data-label-id='{vip}'])"),
            "class"
        )
        .as_deref(),
        Some("chip label-grey")
    );
    assert_eq!(
        attr(&html, &row, "data-labels").map(|l| l.contains(&format!(" {vip} "))),
        Some(true)
    );
    // the filter: a select in the head; label= in the address, any letter case
    assert_eq!(all(&html, "#label-select option").len(), 3);
    let (_, html) = page(&app, "/inbox?view=all&label=vip").await;
    assert_eq!(rows(&html), [tagged]);
    assert_eq!(
        attr(&html, "#label-select option[selected]", "value").as_deref(),
        Some("VIP")
    );
    assert_eq!(
        attr(&html, "ul#conversations", "data-label"),
        Some(vip.to_string())
    );
    // the views' links keep the filter
    assert!(
        attr(&html, "#views a[data-view=bot]", "href").is_some_and(|h| h.contains("label=VIP")),
    );
    // a label that is gone matches nothing, rather than everything
    let (_, html) = page(&app, "/inbox?view=all&label=nosuch").await;
    assert!(rows(&html).is_empty());

    // the panel's "this conversation" section: chips with a remove button, a select to add
    let (_, html) = page(&app, &format!("/conversations/{tagged}")).await;
    assert_eq!(
        all(&html, "#this-conversation #conv-labels > li.chip")
            .iter()
            .map(|t| t.trim_end_matches('×').to_owned())
            .collect::<Vec<_>>(),
        ["Refund", "VIP"]
    );
    assert_eq!(all(&html, "#conv-labels .chip-remove").len(), 2);
    assert_eq!(all(&html, "#add-label option").len(), 3);
    // the panel alone, for the script that follows changes
    let (status, html) = fragment(&app, &format!("/conversations/{plain}/contact")).await;
    assert_eq!(status, StatusCode::OK);
    assert!(all(&html, "#this-conversation #conv-labels > li").is_empty());
    assert_eq!(
        attr(&html, "aside#contact", "data-conversation"),
        Some(plain.to_string())
    );
}

// ---------------------------------------------------------------------------------------------
// Snooze

#[tokio::test]
async fn a_snoozed_row_says_until_when_and_leaves_the_queue_until_the_customer_writes() {
    let app = TestApp::start().await;
    let who = openid("snoozed");
    let c = writes(&app, &who, "call me tomorrow").await;
    to_human(&app, c).await;
    let (_, html) = page(&app, "/inbox?view=waiting").await;
    assert_eq!(rows(&html), [c]);
    // the panel offers the quick choices and a custom time
    let (_, html) = page(&app, &format!("/conversations/{c}")).await;
    for kind in ["hour", "tomorrow", "monday", "custom"] {
        assert_eq!(
            all(&html, &format!("#snooze button[data-snooze={kind}]")).len(),
            1
        );
    }
    assert_eq!(all(&html, "#snooze input[type=datetime-local]").len(), 1);
    assert!(all(&html, "#snoozed").is_empty());

    act(&app, c, "snooze", json!({"until": in_hours(3)})).await;
    let (_, html) = page(&app, "/inbox?view=waiting").await;
    assert!(rows(&html).is_empty());
    let (_, html) = page(&app, "/inbox?view=all&status=pending").await;
    assert_eq!(rows(&html), [c]);
    let row = format!("#conv-{c}");
    assert!(one(&html, &format!("{row} .conv-snoozed")).starts_with("延后至"));
    assert!(attr(&html, &row, "data-snoozed").is_some_and(|s| !s.is_empty()));
    let (_, html) = page(&app, &format!("/conversations/{c}")).await;
    assert!(one(&html, "#snoozed").starts_with("延后至"));
    assert_eq!(all(&html, "#snooze-wake").len(), 1);

    // the customer writes: back in the queue, no longer snoozed
    app.push_text(&who, "I'm back").await;
    let (_, html) = page(&app, "/inbox?view=waiting").await;
    assert_eq!(rows(&html), [c]);
    assert!(all(&html, &format!("{row} .conv-snoozed")).is_empty());
}

// ---------------------------------------------------------------------------------------------
// Bulk actions

async fn bulk(app: &TestApp, token: &str, body: Value) -> Value {
    ok(post_as(app, token, "/api/v1/conversations/bulk", body).await).await
}

fn outcome(v: &Value) -> Vec<(i64, bool, String)> {
    v["results"]
        .as_array()
        .expect("results")
        .iter()
        .map(|r| {
            (
                r["id"].as_i64().expect("an id"),
                r["ok"].as_bool().expect("ok"),
                r["error"]["code"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect()
}

#[tokio::test]
async fn a_bulk_action_applies_to_each_conversation_it_may_and_reports_each_refusal() {
    let app = TestApp::start().await;
    let (agent, agent_token) = add_staff(&app, "agent", "Agent Li", Role::Agent).await;
    let (other, _) = add_staff(&app, "other", "Other Wang", Role::Agent).await;
    let free = writes(&app, &openid("free"), "hi").await;
    let free2 = writes(&app, &openid("free2"), "hi").await;
    let taken = writes(&app, &openid("taken"), "hi").await;
    act(&app, taken, "assign", json!({"assignee": other})).await;

    // the agent takes what is free; a colleague's is refused; a missing one is named
    let v = bulk(
        &app,
        &agent_token,
        json!({"ids": [free, taken, 999_999, free2, free], "action": "assign", "assignee": agent}),
    )
    .await;
    assert_eq!(
        outcome(&v),
        [
            (free, true, String::new()),
            (taken, false, "forbidden".into()),
            (999_999, false, "not_found".into()),
            (free2, true, String::new()),
        ]
    );
    assert_eq!(
        (v["done"].as_i64(), v["refused"].as_i64()),
        (Some(2), Some(2))
    );
    let message = v["results"][1]["error"]["message"]
        .as_str()
        .unwrap_or_default();
    assert!(!message.is_empty());
    let mine = app
        .get_json(&format!("/api/v1/conversations?assignee={agent}"))
        .await;
    assert_eq!(mine["conversations"].as_array().map(Vec::len), Some(2));
    let still = app
        .get_json(&format!("/api/v1/conversations/{taken}"))
        .await;
    assert_eq!(still["assignee"]["id"], other);

    // a label on each; an unknown label refuses the whole request before anything changes
    label(&app, "Urgent", "#bc4c00").await;
    let v = bulk(
        &app,
        &agent_token,
        json!({"ids": [free, taken], "action": "label", "label": "urgent"}),
    )
    .await;
    assert_eq!(v["done"], 2);
    let labelled = app
        .get_json(&format!("/api/v1/conversations/{taken}"))
        .await;
    assert_eq!(labelled["labels"], json!(["Urgent"]));
    // a second label joins the first
    label(&app, "VIP", "#0969da").await;
    let v = bulk(
        &app,
        &agent_token,
        json!({"ids": [taken], "action": "label", "label": "VIP"}),
    )
    .await;
    assert_eq!(v["done"], 1);
    let labelled = app
        .get_json(&format!("/api/v1/conversations/{taken}"))
        .await;
    let mut names: Vec<String> = labelled["labels"]
        .as_array()
        .expect("labels")
        .iter()
        .map(|l| l.as_str().unwrap_or_default().to_owned())
        .collect();
    names.sort();
    assert_eq!(names, ["Urgent", "VIP"]);
    let resp = post_as(
        &app,
        &agent_token,
        "/api/v1/conversations/bulk",
        json!({"ids": [free2], "action": "label", "label": "nosuch"}),
    )
    .await;
    assert_error(resp, StatusCode::BAD_REQUEST).await;
    let unlabelled = app
        .get_json(&format!("/api/v1/conversations/{free2}"))
        .await;
    assert_eq!(unlabelled["labels"], json!([]));

    // resolve; then to nobody
    let v = bulk(
        &app,
        &agent_token,
        json!({"ids": [free, free2], "action": "resolve"}),
    )
    .await;
    assert_eq!(v["done"], 2);
    let resolved = app.get_json(&format!("/api/v1/conversations/{free}")).await;
    assert_eq!(resolved["status"], "resolved");
    let v = bulk(
        &app,
        &agent_token,
        json!({"ids": [free], "action": "assign", "assignee": null}),
    )
    .await;
    assert_eq!(v["done"], 1);

    // requests that cannot mean anything: 400, with the reason
    for body in [
        json!({"ids": [], "action": "resolve"}),
        json!({"ids": (1..=201).collect::<Vec<i64>>(), "action": "resolve"}),
        json!({"ids": [free], "action": "explode"}),
        json!({"ids": [free], "action": "label"}),
        // an assignment to nobody says so (null); a forgotten field is not taken for it
        json!({"ids": [free], "action": "assign"}),
        json!({"ids": [free], "action": "resolve", "extra": 1}),
        json!({"ids": "1,2", "action": "resolve"}),
    ] {
        let resp = post_as(
            &app,
            &agent_token,
            "/api/v1/conversations/bulk",
            body.clone(),
        )
        .await;
        let e = assert_error(resp, StatusCode::BAD_REQUEST).await;
        assert!(
            !e["error"]["message"]
                .as_str()
                .unwrap_or_default()
                .is_empty(),
            "{body}: {e}"
        );
    }
}

// ---------------------------------------------------------------------------------------------
// History

#[tokio::test]
async fn the_panel_lists_the_customers_earlier_conversations_and_reads_one_in_place() {
    let app = TestApp::start().await;
    let who = openid("returning");
    let first = writes(&app, &who, "my order is late <b>").await;
    act(
        &app,
        first,
        "messages",
        json!({"type": "note", "content": {"text": "checked with the courier"}}),
    )
    .await;
    to_human(&app, first).await;
    act(&app, first, "status", json!({"status": "resolved"})).await;
    let second = writes(&app, &who, "it came, thanks").await;
    assert_ne!(first, second);

    let (_, html) = page(&app, &format!("/conversations/{second}")).await;
    let item = format!("#history #history-{first}");
    assert_eq!(all(&html, "#history li.history-item").len(), 1);
    assert!(one(&html, &format!("{item} .history-head")).contains("已解决"));
    assert_eq!(one(&html, &format!("{item} .history-count")), "2 条消息");
    assert!(one(&html, &format!("{item} .history-preview")).contains("checked with the courier"));
    // without a script, the link opens the transcript as a page
    let href = attr(&html, &format!("{item} a.history-link"), "href").expect("a link");
    assert_eq!(href, format!("/conversations/{first}/transcript"));
    let (status, html) = page(&app, &href).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(all(&html, ".transcript li.msg.kind-text").len(), 1);
    assert_eq!(all(&html, ".transcript li.msg.kind-note").len(), 1);
    assert_eq!(all(&html, ".transcript script").len(), 0);
    assert!(all(&html, ".transcript .msg-text")[0].contains("my order is late <b>"));
    // the handoff and the resolution, in the order they happened
    let changes = all(&html, ".transcript li.transcript-change");
    assert_eq!(changes.len(), 2, "{changes:?}");
    assert!(changes[0].contains("处理方改为 人工客服"), "{changes:?}");
    assert!(changes[1].contains("状态改为 已解决"), "{changes:?}");
    // with a script, the fragment alone, opened in the panel
    let (status, html) = fragment(&app, &format!("{href}?part=1")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(all(&html, "div.transcript li.msg").len(), 4);
    assert!(all(&html, "header.topbar").is_empty());
    // the first conversation's own panel lists the second
    let (_, html) = page(&app, &format!("/conversations/{first}")).await;
    assert_eq!(all(&html, &format!("#history #history-{second}")).len(), 1);
    // a missing one: 404
    let (status, _) = page(&app, "/conversations/999999/transcript").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}
