//! The settings page as a staff member uses it: the interface language (their own choice, else
//! the browser's), changing their password, and the place of the alert toggles.

use kefu::domain::Role;
use reqwest::StatusCode;
use scraper::Html;

use crate::canned::{
    Browser, PASSWORD, assert_redirect, assert_refused_page, audited, select, staff,
};
use crate::helpers::TestApp;

async fn lang_of(browser: &Browser, path: &str, accept_language: Option<&str>) -> String {
    let resp = browser.get_in(path, accept_language).await;
    assert_eq!(resp.status(), StatusCode::OK, "GET {path}");
    let html = Html::parse_document(&resp.text().await.unwrap());
    select(&html, "html")[0]
        .value()
        .attr("lang")
        .expect("a lang attribute")
        .to_owned()
}

#[tokio::test]
async fn without_a_setting_the_browsers_language_is_used_else_chinese() {
    let app = TestApp::start().await;
    staff(&app, "alice", Role::Agent).await;
    let browser = Browser::sign_in(&app, "alice", PASSWORD).await;
    for path in ["/settings", "/canned"] {
        assert_eq!(lang_of(&browser, path, Some("en-US,en;q=0.9")).await, "en");
        assert_eq!(
            lang_of(&browser, path, Some("zh-CN,zh;q=0.9")).await,
            "zh-CN"
        );
        assert_eq!(lang_of(&browser, path, Some("fr, en;q=0.5")).await, "en");
        assert_eq!(lang_of(&browser, path, None).await, "zh-CN");
    }
    let resp = browser.get_in("/canned", Some("en")).await;
    let html = Html::parse_document(&resp.text().await.unwrap());
    assert_eq!(
        crate::canned::text(&select(&html, "h1")[0]),
        "Canned replies"
    );
}

#[tokio::test]
async fn the_language_a_staff_member_chooses_wins_over_the_browsers() {
    let app = TestApp::start().await;
    staff(&app, "alice", Role::Agent).await;
    let browser = Browser::sign_in(&app, "alice", PASSWORD).await;
    let html = browser.page("/settings").await;
    let checked = select(&html, "form#language-form input[name=locale][checked]");
    assert_eq!(
        checked[0].value().attr("value"),
        Some(""),
        "follows the browser"
    );

    let resp = browser.post_form("/settings", &[("locale", "en")]).await;
    assert_redirect(&resp, "/settings?saved=language");
    assert_eq!(lang_of(&browser, "/canned", Some("zh-CN")).await, "en");
    let resp = browser
        .get_in("/settings?saved=language", Some("zh-CN"))
        .await;
    let html = Html::parse_document(&resp.text().await.unwrap());
    assert_eq!(select(&html, "p.notice[role=status]").len(), 1);
    let checked = select(&html, "form#language-form input[name=locale][checked]");
    assert_eq!(checked[0].value().attr("value"), Some("en"));

    browser.post_form("/settings", &[("locale", "zh")]).await;
    assert_eq!(lang_of(&browser, "/settings", Some("en")).await, "zh-CN");

    browser.post_form("/settings", &[("locale", "")]).await;
    assert_eq!(lang_of(&browser, "/settings", Some("en")).await, "en");
    assert_eq!(audited(&app, "staff.locale").await, 3);

    // only the languages offered
    let resp = browser.post_form("/settings", &[("locale", "fr")]).await;
    assert_refused_page(resp, StatusCode::BAD_REQUEST).await;
    assert_eq!(lang_of(&browser, "/settings", Some("en")).await, "en");
    assert_eq!(audited(&app, "staff.locale").await, 3);
}

#[tokio::test]
async fn a_password_change_needs_the_current_one_and_signs_out_the_other_browsers() {
    let app = TestApp::start().await;
    staff(&app, "alice", Role::Agent).await;
    let here = Browser::sign_in(&app, "alice", PASSWORD).await;
    let elsewhere = Browser::sign_in(&app, "alice", PASSWORD).await;
    let new = "a-brand-new-password";

    let refusals: [[(&str, &str); 3]; 3] = [
        [
            ("current_password", "not-the-password"),
            ("new_password", new),
            ("new_password_again", new),
        ],
        [
            ("current_password", PASSWORD),
            ("new_password", new),
            ("new_password_again", "a-different-one"),
        ],
        [
            ("current_password", PASSWORD),
            ("new_password", "short"),
            ("new_password_again", "short"),
        ],
    ];
    for fields in refusals {
        let resp = here.post_form("/settings/password", &fields).await;
        assert_refused_page(resp, StatusCode::BAD_REQUEST).await;
    }
    assert_eq!(elsewhere.get("/settings").await.status(), StatusCode::OK);
    assert_eq!(audited(&app, "staff.passwd").await, 0);

    let resp = here
        .post_form(
            "/settings/password",
            &[
                ("current_password", PASSWORD),
                ("new_password", new),
                ("new_password_again", new),
            ],
        )
        .await;
    assert_redirect(&resp, "/settings?saved=password");
    assert_eq!(here.get("/settings").await.status(), StatusCode::OK, "kept");
    let ended = elsewhere.get("/settings").await;
    assert_redirect(&ended, "/login?next=%2Fsettings");
    assert_eq!(audited(&app, "staff.passwd").await, 1);

    // the new password signs in; the old one no longer does
    Browser::sign_in(&app, "alice", new).await;
    let old = Browser::client()
        .post(app.url("/login"))
        .form(&[("username", "alice"), ("password", PASSWORD)])
        .send()
        .await
        .unwrap();
    assert_eq!(old.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn the_settings_page_has_the_alert_toggles_and_needs_a_signed_in_staff_member() {
    let app = TestApp::start().await;
    staff(&app, "alice", Role::Agent).await;
    let browser = Browser::sign_in(&app, "alice", PASSWORD).await;
    let html = browser.page("/settings").await;
    assert_eq!(
        select(&html, "section#attention input#sound-toggle[type=checkbox]").len(),
        1
    );
    assert_eq!(
        select(&html, "section#attention button#notify-enable").len(),
        1
    );
    assert_eq!(
        select(&html, "form#password-form input[type=password]").len(),
        3
    );

    let resp = Browser::client()
        .get(app.url("/settings"))
        .send()
        .await
        .unwrap();
    assert_redirect(&resp, "/login?next=%2Fsettings");
}
