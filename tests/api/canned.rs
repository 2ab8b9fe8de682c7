//! Canned replies, through the JSON API as a script uses it and through the `/canned` page as a
//! browser does: who may see and change which, the refusals, and the page's forms.

use kefu::domain::Role;
use reqwest::StatusCode;
use reqwest::header::{LOCATION, SET_COOKIE};
use scraper::{Html, Selector};
use serde_json::{Value, json};

use crate::helpers::{ADMIN_PASSWORD, TestApp, assert_error, id_of, seed_staff};

pub const PASSWORD: &str = "a-long-enough-password";

/// Creates a staff account with `PASSWORD` and returns an API token for it.
pub async fn staff(app: &TestApp, name: &str, role: Role) -> String {
    seed_staff(app, name, &format!("{name} display"), role, PASSWORD).await;
    kefu::services::accounts::create_token(
        &app.state().store,
        kefu::services::Caller::Cli,
        kefu::services::accounts::AccountRef::Name(name),
        "tests",
    )
    .await
    .expect("create a token")
}

/// How many audit entries there are for `action`.
pub async fn audited(app: &TestApp, action: &str) -> i64 {
    sqlx::query_scalar("select count(*) from audit_log where action = $1")
        .bind(action)
        .fetch_one(app.state().store.pool())
        .await
        .expect("count audit entries")
}

/// A browser signed in as one staff member: its session cookie, no redirects followed, and
/// the `Sec-Fetch-Site: same-origin` a browser sends with a form of the site itself.
pub struct Browser {
    client: reqwest::Client,
    base: String,
    pub cookie: String,
}

impl Browser {
    pub fn client() -> reqwest::Client {
        reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap()
    }

    /// Signs in through the login form.
    pub async fn sign_in(app: &TestApp, username: &str, password: &str) -> Browser {
        let resp = Self::client()
            .post(app.url("/login"))
            .form(&[("username", username), ("password", password)])
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), StatusCode::SEE_OTHER, "{username} signs in");
        let cookie = resp
            .headers()
            .get_all(SET_COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .find_map(|c| c.strip_prefix("kefu_session="))
            .map(|c| c.split(';').next().unwrap_or_default().to_owned())
            .expect("a session cookie");
        Browser {
            client: Self::client(),
            base: app.url(""),
            cookie,
        }
    }

    pub async fn get(&self, path: &str) -> reqwest::Response {
        self.get_in(path, None).await
    }

    /// GETs `path` with an Accept-Language header, if given.
    pub async fn get_in(&self, path: &str, accept_language: Option<&str>) -> reqwest::Response {
        let mut req = self
            .client
            .get(format!("{}{path}", self.base))
            .header("Cookie", format!("kefu_session={}", self.cookie));
        if let Some(lang) = accept_language {
            req = req.header("Accept-Language", lang);
        }
        req.send().await.unwrap()
    }

    /// GETs a page and asserts 200.
    pub async fn page(&self, path: &str) -> Html {
        let resp = self.get(path).await;
        let status = resp.status();
        let text = resp.text().await.unwrap();
        assert_eq!(status, StatusCode::OK, "GET {path}: {text}");
        Html::parse_document(&text)
    }

    /// Submits a form of the site itself.
    pub async fn post_form(&self, path: &str, fields: &[(&str, &str)]) -> reqwest::Response {
        self.client
            .post(format!("{}{path}", self.base))
            .header("Cookie", format!("kefu_session={}", self.cookie))
            .header("Sec-Fetch-Site", "same-origin")
            .form(fields)
            .send()
            .await
            .unwrap()
    }
}

pub fn select<'a>(html: &'a Html, css: &str) -> Vec<scraper::ElementRef<'a>> {
    let selector = Selector::parse(css).unwrap_or_else(|e| panic!("{css}: {e:?}"));
    html.select(&selector).collect()
}

pub fn text(e: &scraper::ElementRef) -> String {
    e.text().collect::<String>().trim().to_owned()
}

/// Asserts a 303 to `to`.
pub fn assert_redirect(resp: &reqwest::Response, to: &str) {
    assert_eq!(resp.status(), StatusCode::SEE_OTHER);
    assert_eq!(resp.headers()[LOCATION], to);
}

/// Asserts a page answered with `status` that says why in `p.error[role=alert]`; returns it.
pub async fn assert_refused_page(resp: reqwest::Response, status: StatusCode) -> Html {
    let got = resp.status();
    let html = Html::parse_document(&resp.text().await.unwrap());
    assert_eq!(got, status, "{}", html.html());
    let errors = select(&html, "p.error[role=alert]");
    assert_eq!(errors.len(), 1, "one error sentence: {}", html.html());
    assert!(!text(&errors[0]).is_empty());
    html
}

async fn call(
    app: &TestApp,
    method: reqwest::Method,
    path: &str,
    token: &str,
    body: Option<Value>,
) -> reqwest::Response {
    let mut req = app.client.request(method, app.url(path)).bearer_auth(token);
    if let Some(body) = body {
        req = req.json(&body);
    }
    req.send().await.unwrap()
}

async fn create(app: &TestApp, token: &str, body: Value) -> reqwest::Response {
    call(
        app,
        reqwest::Method::POST,
        "/api/v1/canned-replies",
        token,
        Some(body),
    )
    .await
}

/// Creates a reply and asserts 201; returns it.
async fn created(app: &TestApp, token: &str, body: Value) -> Value {
    let resp = create(app, token, body).await;
    let status = resp.status();
    let text = resp.text().await.unwrap();
    assert_eq!(status, StatusCode::CREATED, "{text}");
    serde_json::from_str(&text).unwrap()
}

async fn update(app: &TestApp, token: &str, id: i64, body: Value) -> reqwest::Response {
    let path = format!("/api/v1/canned-replies/{id}");
    call(app, reqwest::Method::PUT, &path, token, Some(body)).await
}

async fn delete(app: &TestApp, token: &str, id: i64) -> reqwest::Response {
    let path = format!("/api/v1/canned-replies/{id}");
    call(app, reqwest::Method::DELETE, &path, token, None).await
}

async fn list(app: &TestApp, token: &str) -> Vec<Value> {
    let resp = call(
        app,
        reqwest::Method::GET,
        "/api/v1/canned-replies",
        token,
        None,
    )
    .await;
    assert_eq!(resp.status(), StatusCode::OK);
    let body: Value = resp.json().await.unwrap();
    body["canned_replies"].as_array().expect("a list").clone()
}

fn shortcuts(list: &[Value]) -> Vec<&str> {
    list.iter()
        .map(|r| r["shortcut"].as_str().unwrap())
        .collect()
}

#[tokio::test]
async fn an_admin_shares_a_reply_with_the_team_and_an_agent_keeps_one_for_themself() {
    let app = TestApp::start().await;
    let agent = staff(&app, "alice", Role::Agent).await;

    let shared = created(
        &app,
        &app.token,
        json!({"shortcut": "hours", "body": "We answer 9:00–18:00.", "shared": true}),
    )
    .await;
    assert_eq!(shared["shortcut"], "hours");
    assert_eq!(shared["body"], "We answer 9:00–18:00.");
    assert_eq!(shared["shared"], true);
    assert_eq!(shared["owner"], Value::Null);

    let own = created(
        &app,
        &agent,
        json!({"shortcut": "/退款", "body": "退款将在 3 个工作日内到账。"}),
    )
    .await;
    assert_eq!(own["shortcut"], "退款", "the / people type is not stored");
    assert_eq!(own["shared"], false);
    assert_eq!(own["owner"]["name"], "alice display");
    assert!(own["owner"]["id"].is_i64());

    let agents = list(&app, &agent).await;
    assert_eq!(shortcuts(&agents), ["hours", "退款"], "shared and own");
    assert_eq!(agents[0], shared);
    let admins = list(&app, &app.token).await;
    assert_eq!(shortcuts(&admins), ["hours"], "not alice's personal one");
    assert_eq!(audited(&app, "canned.create").await, 2);
}

#[tokio::test]
async fn an_agent_can_neither_create_nor_change_nor_delete_a_shared_reply() {
    let app = TestApp::start().await;
    let agent = staff(&app, "alice", Role::Agent).await;
    let shared = created(
        &app,
        &app.token,
        json!({"shortcut": "hours", "body": "9 to 6", "shared": true}),
    )
    .await;
    let id = id_of(&shared);

    let body = assert_error(
        create(
            &app,
            &agent,
            json!({"shortcut": "mine", "body": "x", "shared": true}),
        )
        .await,
        StatusCode::FORBIDDEN,
    )
    .await;
    assert_eq!(body["error"]["code"], "forbidden");
    let edit = json!({"shortcut": "hours", "body": "changed", "shared": true});
    assert_error(update(&app, &agent, id, edit).await, StatusCode::FORBIDDEN).await;
    // nor take it over by making it personal
    let take = json!({"shortcut": "hours", "body": "mine now", "shared": false});
    assert_error(update(&app, &agent, id, take).await, StatusCode::FORBIDDEN).await;
    assert_error(delete(&app, &agent, id).await, StatusCode::FORBIDDEN).await;

    // nor share their own
    let own = created(&app, &agent, json!({"shortcut": "own", "body": "x"})).await;
    let share = json!({"shortcut": "own", "body": "x", "shared": true});
    assert_error(
        update(&app, &agent, id_of(&own), share).await,
        StatusCode::FORBIDDEN,
    )
    .await;

    assert_eq!(list(&app, &app.token).await, [shared]);
    assert_eq!(audited(&app, "canned.create").await, 2);
    assert_eq!(audited(&app, "canned.update").await, 0);
    assert_eq!(audited(&app, "canned.delete").await, 0);
}

#[tokio::test]
async fn nobody_sees_or_changes_another_staff_members_personal_replies() {
    let app = TestApp::start().await;
    let alice = staff(&app, "alice", Role::Agent).await;
    let bob = staff(&app, "bob", Role::Agent).await;
    let own = created(&app, &alice, json!({"shortcut": "hi", "body": "Hello!"})).await;
    let id = id_of(&own);

    assert!(list(&app, &bob).await.is_empty());
    for token in [&bob, &app.token] {
        let edit = json!({"shortcut": "hi", "body": "hijacked"});
        let body = assert_error(update(&app, token, id, edit).await, StatusCode::NOT_FOUND).await;
        assert_eq!(body["error"]["code"], "not_found");
        assert_error(delete(&app, token, id).await, StatusCode::NOT_FOUND).await;
    }
    assert_eq!(list(&app, &alice).await, [own]);
}

#[tokio::test]
async fn a_shortcut_is_unique_among_the_shared_replies_and_among_each_persons_own() {
    let app = TestApp::start().await;
    let agent = staff(&app, "alice", Role::Agent).await;
    let shared = json!({"shortcut": "hours", "body": "9 to 6", "shared": true});
    created(&app, &app.token, shared.clone()).await;
    let body = assert_error(create(&app, &app.token, shared).await, StatusCode::CONFLICT).await;
    assert_eq!(body["error"]["code"], "conflict");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("/hours")
    );

    // a personal one may have a shared one's shortcut, once per person
    let personal = json!({"shortcut": "hours", "body": "my hours"});
    created(&app, &agent, personal.clone()).await;
    created(&app, &app.token, personal.clone()).await;
    assert_error(create(&app, &agent, personal).await, StatusCode::CONFLICT).await;

    let other = created(&app, &agent, json!({"shortcut": "bye", "body": "Bye"})).await;
    let clash = json!({"shortcut": "hours", "body": "Bye"});
    assert_error(
        update(&app, &agent, id_of(&other), clash).await,
        StatusCode::CONFLICT,
    )
    .await;
    assert_eq!(
        shortcuts(&list(&app, &agent).await),
        ["bye", "hours", "hours"]
    );
}

#[tokio::test]
async fn an_unusable_reply_is_refused_with_a_sentence_and_nothing_is_stored() {
    let app = TestApp::start().await;
    let cases = [
        json!({"shortcut": "", "body": "x"}),
        json!({"shortcut": "   ", "body": "x"}),
        json!({"body": "x"}),
        json!({"shortcut": "a".repeat(33), "body": "x"}),
        json!({"shortcut": "two words", "body": "x"}),
        json!({"shortcut": "hi!", "body": "x"}),
        json!({"shortcut": "hi", "body": ""}),
        json!({"shortcut": "hi", "body": " \n "}),
        json!({"shortcut": "hi"}),
        json!({"shortcut": "hi", "body": "字".repeat(2001)}),
        json!({"shortcut": 7, "body": "x"}),
        json!(["hi", "x"]),
    ];
    for case in cases {
        let resp = create(&app, &app.token, case.clone()).await;
        let body = assert_error(resp, StatusCode::BAD_REQUEST).await;
        assert_eq!(body["error"]["code"], "invalid_request", "{case}");
    }
    let not_json = app
        .client
        .post(app.url("/api/v1/canned-replies"))
        .bearer_auth(&app.token)
        .header("Content-Type", "application/json")
        .body("{")
        .send()
        .await
        .unwrap();
    assert_error(not_json, StatusCode::BAD_REQUEST).await;

    // the longest allowed still fits
    let longest = json!({"shortcut": "字".repeat(32), "body": "字".repeat(2000)});
    created(&app, &app.token, longest).await;
    assert_eq!(list(&app, &app.token).await.len(), 1);
    assert_eq!(audited(&app, "canned.create").await, 1);
}

#[tokio::test]
async fn a_reply_is_replaced_whole_and_deleted_and_each_change_is_audited() {
    let app = TestApp::start().await;
    let agent = staff(&app, "alice", Role::Agent).await;
    let own = created(&app, &agent, json!({"shortcut": "hi", "body": "Hello"})).await;
    let id = id_of(&own);

    let resp = update(
        &app,
        &agent,
        id,
        json!({"shortcut": "hello", "body": "Hello there"}),
    )
    .await;
    assert_eq!(resp.status(), StatusCode::OK);
    let changed: Value = resp.json().await.unwrap();
    assert_eq!(changed["id"], id);
    assert_eq!(changed["shortcut"], "hello");
    assert_eq!(changed["body"], "Hello there");
    assert_eq!(list(&app, &agent).await, [changed]);

    // an admin may move a shared reply to their own and back
    let shared = created(
        &app,
        &app.token,
        json!({"shortcut": "hours", "body": "9 to 6", "shared": true}),
    )
    .await;
    let mine = update(
        &app,
        &app.token,
        id_of(&shared),
        json!({"shortcut": "hours", "body": "9 to 6"}),
    )
    .await;
    let mine: Value = mine.json().await.unwrap();
    assert_eq!(mine["shared"], false);
    assert_eq!(mine["owner"]["name"], "Admin");
    assert_eq!(shortcuts(&list(&app, &agent).await), ["hello"]);

    let resp = delete(&app, &agent, id).await;
    assert_eq!(resp.status(), StatusCode::NO_CONTENT);
    assert!(list(&app, &agent).await.is_empty());
    assert_error(delete(&app, &agent, id).await, StatusCode::NOT_FOUND).await;
    assert_error(delete(&app, &agent, 999_999).await, StatusCode::NOT_FOUND).await;
    let path = "/api/v1/canned-replies/nope";
    assert_error(
        call(&app, reqwest::Method::DELETE, path, &agent, None).await,
        StatusCode::NOT_FOUND,
    )
    .await;
    assert_eq!(audited(&app, "canned.update").await, 2);
    assert_eq!(audited(&app, "canned.delete").await, 1);
}

#[tokio::test]
async fn the_api_needs_a_signed_in_staff_member() {
    let app = TestApp::start().await;
    let resp = app
        .client
        .get(app.url("/api/v1/canned-replies"))
        .send()
        .await
        .unwrap();
    assert_error(resp, StatusCode::UNAUTHORIZED).await;
}

#[tokio::test]
async fn the_page_lists_replies_as_text_never_as_markup() {
    let app = TestApp::start().await;
    let agent = staff(&app, "alice", Role::Agent).await;
    let shared = created(
        &app,
        &app.token,
        json!({"shortcut": "bold", "body": "<b>x</b>\n<script>alert(1)</script>", "shared": true}),
    )
    .await;
    created(
        &app,
        &agent,
        json!({"shortcut": "mine", "body": "line one\nline two"}),
    )
    .await;

    let browser = Browser::sign_in(&app, "alice", PASSWORD).await;
    let html = browser.page("/canned").await;
    let items = select(&html, "ul#canned-list > li.canned[data-id]");
    assert_eq!(items.len(), 2);
    let first = &items[0];
    assert_eq!(
        first.value().attr("data-id"),
        Some(id_of(&shared).to_string().as_str())
    );
    let body = Selector::parse(".canned-body").unwrap();
    let body = first.select(&body).next().expect("the body");
    assert_eq!(text(&body), "<b>x</b><script>alert(1)</script>");
    assert_eq!(
        body.select(&Selector::parse("b, script").unwrap()).count(),
        0
    );
    assert!(select(&html, "main script").is_empty());
    // an agent sees no edit form for the shared one, and no way to share
    assert!(
        first
            .select(&Selector::parse("form").unwrap())
            .next()
            .is_none()
    );
    assert_eq!(
        items[1].select(&Selector::parse("form").unwrap()).count(),
        2,
        "edit and delete"
    );
    assert!(select(&html, "form#canned-new input[name=shared]").is_empty());
    assert_eq!(
        select(&html, "nav#sections a[aria-current=page]")
            .first()
            .and_then(|a| a.value().attr("href")),
        Some("/canned")
    );

    let admin = Browser::sign_in(&app, "admin", ADMIN_PASSWORD).await;
    let html = admin.page("/canned").await;
    assert_eq!(
        select(&html, "form#canned-new input[type=checkbox][name=shared]").len(),
        1
    );
    assert_eq!(select(&html, "ul#canned-list > li.canned").len(), 1);
}

#[tokio::test]
async fn a_reply_is_added_edited_and_deleted_through_the_page() {
    let app = TestApp::start().await;
    staff(&app, "alice", Role::Agent).await;
    let browser = Browser::sign_in(&app, "alice", PASSWORD).await;

    let resp = browser
        .post_form(
            "/canned",
            &[("shortcut", "thanks"), ("body", "Thank you!\r\nBye.")],
        )
        .await;
    assert_redirect(&resp, "/canned");
    let html = browser.page("/canned").await;
    let items = select(&html, "ul#canned-list > li.canned[data-id]");
    assert_eq!(items.len(), 1);
    let id = items[0].value().attr("data-id").unwrap().to_owned();
    assert_eq!(items[0].value().attr("data-shortcut"), Some("thanks"));
    let edit_form = select(&html, &format!("form[action='/canned/{id}']"));
    assert_eq!(edit_form.len(), 1, "an edit form");

    let resp = browser
        .post_form(
            &format!("/canned/{id}"),
            &[("shortcut", "ty"), ("body", "Thanks a lot!")],
        )
        .await;
    assert_redirect(&resp, "/canned");
    let html = browser.page("/canned").await;
    let item = select(&html, &format!("li.canned[data-id='{id}']"));
    assert_eq!(item[0].value().attr("data-shortcut"), Some("ty"));
    assert_eq!(text(&select(&html, ".canned-body")[0]), "Thanks a lot!");

    let resp = browser
        .post_form(&format!("/canned/{id}/delete"), &[])
        .await;
    assert_redirect(&resp, "/canned");
    let html = browser.page("/canned").await;
    assert!(select(&html, "li.canned").is_empty());
    assert_eq!(audited(&app, "canned.create").await, 1);
    assert_eq!(audited(&app, "canned.update").await, 1);
    assert_eq!(audited(&app, "canned.delete").await, 1);
}

#[tokio::test]
async fn a_refused_form_shows_the_page_again_with_the_reason_and_what_was_typed() {
    let app = TestApp::start().await;
    let token = staff(&app, "alice", Role::Agent).await;
    let browser = Browser::sign_in(&app, "alice", PASSWORD).await;

    let resp = browser
        .post_form("/canned", &[("shortcut", "almost"), ("body", "  ")])
        .await;
    let html = assert_refused_page(resp, StatusCode::BAD_REQUEST).await;
    let kept = select(&html, "form#canned-new input[name=shortcut]");
    assert_eq!(kept[0].value().attr("value"), Some("almost"));
    assert_eq!(
        select(&html, "form#canned-new textarea[name=body]").len(),
        1
    );
    assert!(list(&app, &token).await.is_empty(), "nothing stored");

    // an agent cannot share through the form either
    let resp = browser
        .post_form(
            "/canned",
            &[("shortcut", "team"), ("body", "x"), ("shared", "on")],
        )
        .await;
    assert_refused_page(resp, StatusCode::FORBIDDEN).await;

    // a duplicate, and an edit refused with its own form open again
    browser
        .post_form("/canned", &[("shortcut", "a"), ("body", "x")])
        .await;
    browser
        .post_form("/canned", &[("shortcut", "b"), ("body", "y")])
        .await;
    let resp = browser
        .post_form("/canned", &[("shortcut", "a"), ("body", "z")])
        .await;
    assert_refused_page(resp, StatusCode::CONFLICT).await;
    let b = list(&app, &token).await[1].clone();
    let resp = browser
        .post_form(
            &format!("/canned/{}", id_of(&b)),
            &[("shortcut", "b"), ("body", "")],
        )
        .await;
    let html = assert_refused_page(resp, StatusCode::BAD_REQUEST).await;
    let open = select(&html, "details.canned-edit[open]");
    assert_eq!(open.len(), 1);
    assert_eq!(list(&app, &token).await[1]["body"], "y", "unchanged");

    // a reply that is not there, by page
    let resp = browser.post_form("/canned/424242/delete", &[]).await;
    assert_refused_page(resp, StatusCode::NOT_FOUND).await;
    assert_eq!(list(&app, &token).await.len(), 2);
}

#[tokio::test]
async fn a_form_posted_from_another_site_is_refused() {
    let app = TestApp::start().await;
    let browser = Browser::sign_in(&app, "admin", ADMIN_PASSWORD).await;
    let resp = Browser::client()
        .post(app.url("/canned"))
        .header("Cookie", format!("kefu_session={}", browser.cookie))
        .header("Origin", "https://evil.example")
        .form(&[("shortcut", "evil"), ("body", "x")])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::FORBIDDEN);
    assert!(list(&app, &app.token).await.is_empty());
}

#[tokio::test]
async fn a_signed_out_browser_is_sent_to_sign_in_and_back() {
    let app = TestApp::start().await;
    let resp = Browser::client()
        .get(app.url("/canned"))
        .send()
        .await
        .unwrap();
    assert_redirect(&resp, "/login?next=%2Fcanned");
}
