//! The first run (issue 12, fault 9): the start page leads somewhere (sign-in or the inbox),
//! gives WeChat an https webhook URL or says what to set, and lists `KEFU_PUBLIC_URL` among
//! what is missing; an AppID not shaped as WeChat's is refused at start in one sentence;
//! `kefu demo` says where its admin password came from; every `--help` names the variables;
//! the default data dir is ignored by git.

use std::io::{BufRead, BufReader};
use std::process::{Child, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use reqwest::StatusCode;
use scraper::Html;

use crate::canned::{Browser, select, text};
use crate::cli::{assert_one_sentence_failure, kefu, run};
use crate::helpers::{ADMIN_PASSWORD, TestApp};

async fn home(app: &TestApp, cookie: Option<&str>) -> Html {
    let mut req = Browser::client().get(app.url("/"));
    if let Some(cookie) = cookie {
        req = req.header("Cookie", format!("kefu_session={cookie}"));
    }
    let resp = req.send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    Html::parse_document(&resp.text().await.unwrap())
}

#[tokio::test]
async fn the_start_page_leads_to_sign_in_or_the_inbox() {
    let app = TestApp::start().await;
    let html = home(&app, None).await;
    let link = select(&html, "a#home-sign-in");
    assert_eq!(link[0].value().attr("href"), Some("/login"));
    assert!(select(&html, "a#home-inbox").is_empty());
    let admin = Browser::sign_in(&app, "admin", ADMIN_PASSWORD).await;
    let html = home(&app, Some(&admin.cookie)).await;
    let link = select(&html, "a#home-inbox");
    assert_eq!(link[0].value().attr("href"), Some("/inbox"));
    assert!(select(&html, "a#home-sign-in").is_empty());
}

#[tokio::test]
async fn the_start_page_lists_the_public_url_among_what_is_missing() {
    let app = TestApp::start().await;
    let html = home(&app, None).await;
    let missing: Vec<String> = select(&html, "#config-missing li")
        .iter()
        .map(text)
        .collect();
    assert!(
        missing[0].starts_with("KEFU_PUBLIC_URL"),
        "first, as the webhook URL depends on it: {missing:?}"
    );
    assert!(select(&html, "#webhook-url").is_empty());
    assert_eq!(select(&html, "#webhook-unknown").len(), 1);

    let app = TestApp::start_with(&[("KEFU_PUBLIC_URL", "https://kefu.example.com")]).await;
    let html = home(&app, None).await;
    let url = select(&html, "#webhook-url");
    assert_eq!(text(&url[0]), "https://kefu.example.com/wechat");
    assert!(select(&html, "#webhook-not-https").is_empty());
    let missing: Vec<String> = select(&html, "#config-missing li")
        .iter()
        .map(text)
        .collect();
    assert!(
        !missing.iter().any(|m| m.contains("KEFU_PUBLIC_URL")),
        "{missing:?}"
    );
}

#[tokio::test]
async fn an_http_public_url_is_shown_with_a_warning_that_wechat_needs_https() {
    let app = TestApp::start_with(&[("KEFU_PUBLIC_URL", "http://kefu.example.com")]).await;
    let html = home(&app, None).await;
    assert_eq!(
        text(&select(&html, "#webhook-url")[0]),
        "http://kefu.example.com/wechat"
    );
    let warning = text(&select(&html, "#webhook-not-https")[0]);
    assert!(warning.contains("https://"), "{warning}");
}

#[test]
fn an_appid_not_shaped_as_wechats_stops_the_start_in_one_sentence() {
    let dir = tempfile::tempdir().unwrap();
    let done = run(
        kefu(
            dir.path(),
            &[("KEFU_WECHAT_APPID", "notanappid")],
            &["migrate"],
        ),
        None,
    );
    let sentence = assert_one_sentence_failure(&done);
    assert!(
        sentence.contains("KEFU_WECHAT_APPID") && sentence.contains("wx"),
        "{sentence}"
    );
}

#[test]
fn every_help_names_the_environment_variables() {
    let dir = tempfile::tempdir().unwrap();
    for args in [
        vec!["--help"],
        vec!["serve", "--help"],
        vec!["demo", "--help"],
        vec!["migrate", "--help"],
        vec!["user", "add", "--help"],
        vec!["user", "list", "--help"],
        vec!["token", "create", "--help"],
        vec!["simulate", "--help"],
        vec!["seed", "--help"],
        vec!["backup", "--help"],
        vec!["doctor", "--help"],
    ] {
        let done = run(kefu(dir.path(), &[], &args), None);
        assert!(done.status.success(), "{args:?}: {}", done.stderr);
        for var in [
            "KEFU_DATA_DIR",
            "KEFU_PUBLIC_URL",
            "KEFU_WECHAT_APPID",
            "KEFU_LISTEN",
        ] {
            assert!(
                done.stdout.contains(&format!("[env: {var}")),
                "kefu {args:?} names {var}:\n{}",
                done.stdout
            );
        }
    }
}

#[test]
fn the_default_data_dir_is_ignored_by_git() {
    let ignore = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/.gitignore"))
        .expect("a .gitignore");
    assert!(ignore.lines().any(|l| l.trim() == "kefu-data/"), "{ignore}");
}

/// `kefu demo`, killed however the test ends; its log lines (stderr) as they come.
struct Demo {
    child: Child,
    stderr: mpsc::Receiver<String>,
}

impl Drop for Demo {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Demo {
    fn start(dir: &std::path::Path, env: &[(&str, &str)]) -> Demo {
        let mut env = env.to_vec();
        env.extend([("KEFU_LISTEN", "127.0.0.1:0"), ("KEFU_LOG", "info")]);
        let mut cmd = kefu(dir, &env, &["demo"]);
        cmd.stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        let mut child = cmd.spawn().expect("kefu demo starts");
        let pipe = child.stderr.take().unwrap();
        let (tx, stderr) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(pipe).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Demo { child, stderr }
    }

    /// The log line about the admin account.
    fn admin_line(&self) -> String {
        loop {
            let line = self
                .stderr
                .recv_timeout(Duration::from_secs(60))
                .expect("kefu demo logs the admin account");
            if line.contains("created the staff account admin") {
                return line;
            }
        }
    }
}

#[test]
fn kefu_demo_says_where_the_admin_password_came_from() {
    let dir = tempfile::tempdir().unwrap();
    let demo = Demo::start(dir.path(), &[]);
    let line = demo.admin_line();
    assert!(!line.contains("KEFU_ADMIN_PASSWORD"), "{line}");
    assert!(line.contains("generated"), "{line}");
    drop(demo);

    let demo = Demo::start(dir.path(), &[("KEFU_ADMIN_PASSWORD", "given-password-1")]);
    let line = demo.admin_line();
    assert!(line.contains("KEFU_ADMIN_PASSWORD"), "{line}");
}
