//! The `kefu` binary as an operator runs it: account upkeep, tokens, start-up refusals,
//! `simulate`, and the first start without a configured admin password.

use std::io::{BufRead, BufReader, Read, Write};
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use reqwest::StatusCode;

use crate::canned::{Browser, audited, select, text};
use crate::helpers::{ADMIN_PASSWORD, AES_KEY, APPID, TOKEN, TestApp, id_of, openid};

const TIMEOUT: Duration = Duration::from_secs(120);

/// What a finished command left behind.
#[derive(Debug)]
pub(crate) struct Run {
    pub(crate) status: ExitStatus,
    pub(crate) stdout: String,
    pub(crate) stderr: String,
}

/// `kefu` with a clean environment: only PATH, KEFU_DATA_DIR and `env`.
pub(crate) fn kefu(data_dir: &Path, env: &[(&str, &str)], args: &[&str]) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_kefu"));
    cmd.env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("KEFU_DATA_DIR", data_dir)
        .args(args);
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd
}

/// Runs a command to completion (killing it after `TIMEOUT`), feeding `stdin`.
pub(crate) fn run(mut cmd: Command, stdin: Option<&str>) -> Run {
    cmd.stdin(if stdin.is_some() {
        Stdio::piped()
    } else {
        Stdio::null()
    })
    .stdout(Stdio::piped())
    .stderr(Stdio::piped());
    let mut child = cmd.spawn().expect("the kefu binary starts");
    if let Some(input) = stdin {
        let mut pipe = child.stdin.take().unwrap();
        let input = input.to_owned();
        std::thread::spawn(move || {
            let _ = pipe.write_all(input.as_bytes());
        });
    }
    let out = drain(child.stdout.take().unwrap());
    let err = drain(child.stderr.take().unwrap());
    let deadline = Instant::now() + TIMEOUT;
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait for kefu") {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("kefu {cmd:?} did not finish within {TIMEOUT:?}");
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    Run {
        status,
        stdout: out.join().unwrap(),
        stderr: err.join().unwrap(),
    }
}

fn drain(mut pipe: impl Read + Send + 'static) -> std::thread::JoinHandle<String> {
    std::thread::spawn(move || {
        let mut buf = Vec::new();
        let _ = pipe.read_to_end(&mut buf);
        String::from_utf8_lossy(&buf).into_owned()
    })
}

/// Runs a command without blocking the test's runtime (the in-process server lives there).
pub(crate) async fn run_async(cmd: Command, stdin: Option<&str>) -> Run {
    let stdin = stdin.map(str::to_owned);
    tokio::task::spawn_blocking(move || run(cmd, stdin.as_deref()))
        .await
        .unwrap()
}

pub(crate) fn assert_ok(run: &Run) {
    assert!(
        run.status.success(),
        "expected success, got {}\nstdout: {}\nstderr: {}",
        run.status,
        run.stdout,
        run.stderr
    );
}

/// A failure as docs/CONTRACT.md wants it: non-zero, one clear sentence on stderr, no panic.
pub(crate) fn assert_one_sentence_failure(run: &Run) -> String {
    assert!(
        !run.status.success(),
        "expected failure, got success\nstdout: {}",
        run.stdout
    );
    assert_no_panic(run);
    let lines: Vec<&str> = run
        .stderr
        .lines()
        .filter(|l| !l.trim().is_empty())
        .collect();
    assert_eq!(
        lines.len(),
        1,
        "one sentence on stderr, got:\n{}",
        run.stderr
    );
    lines[0].to_owned()
}

fn assert_no_panic(run: &Run) {
    for bad in ["panicked", "backtrace", "RUST_BACKTRACE"] {
        assert!(
            !run.stderr.contains(bad),
            "stderr must not contain {bad:?}:\n{}",
            run.stderr
        );
    }
}

/// The row of `name` in `kefu user list`: [id, name, role, state, display name...].
fn user_row(list: &str, name: &str) -> Option<Vec<String>> {
    list.lines()
        .map(|l| l.split_whitespace().map(str::to_owned).collect::<Vec<_>>())
        .find(|cols| cols.get(1).map(String::as_str) == Some(name))
}

async fn stored_hash(data_dir: &Path, name: &str) -> String {
    let store = kefu::store::Store::open(&format!("sqlite://{}/kefu.db", data_dir.display()))
        .await
        .unwrap();
    let row = kefu::store::staff::by_username(store.pool(), name)
        .await
        .unwrap()
        .unwrap_or_else(|| panic!("no staff account {name}"));
    store.close().await;
    row.password_hash
}

// ---------------------------------------------------------------------------------------------
// Accounts and tokens

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_operator_manages_accounts_and_tokens_from_the_command_line() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();

    let migrate = run_async(kefu(d, &[], &["migrate"]), None).await;
    assert_ok(&migrate);
    assert!(
        migrate.stdout.contains("migrations applied"),
        "{}",
        migrate.stdout
    );
    // migrating an up-to-date database is harmless
    assert_ok(&run_async(kefu(d, &[], &["migrate"]), None).await);

    let add = &[
        "user",
        "add",
        "alice",
        "--role",
        "agent",
        "--display-name",
        "Alice",
        "--password-stdin",
    ];
    let added = run_async(kefu(d, &[], add), Some("alice-password-1\n")).await;
    assert_ok(&added);
    assert!(
        added.stdout.contains("alice"),
        "says what it created: {}",
        added.stdout
    );

    let list = run_async(kefu(d, &[], &["user", "list"]), None).await;
    assert_ok(&list);
    let row = user_row(&list.stdout, "alice").expect("alice is listed");
    assert_eq!(row[2], "agent", "{}", list.stdout);
    assert_eq!(row[3], "active", "{}", list.stdout);
    assert_eq!(row[4..].join(" "), "Alice", "{}", list.stdout);
    assert!(
        !list.stdout.contains("alice-password"),
        "no password in the list"
    );

    // adding alice again: one sentence, non-zero
    let again = run_async(kefu(d, &[], add), Some("another-password\n")).await;
    let sentence = assert_one_sentence_failure(&again);
    assert!(sentence.contains("alice"), "{sentence}");

    // a password shorter than 8 characters
    let short = run_async(
        kefu(
            d,
            &[],
            &["user", "add", "bob", "--role", "admin", "--password-stdin"],
        ),
        Some("pw7char\n"),
    )
    .await;
    let sentence = assert_one_sentence_failure(&short);
    assert!(sentence.contains('8'), "{sentence}");
    assert!(!sentence.contains("pw7char"), "{sentence}");
    // without --password-stdin
    let no_stdin = run_async(
        kefu(d, &[], &["user", "add", "bob", "--role", "admin"]),
        None,
    )
    .await;
    let sentence = assert_one_sentence_failure(&no_stdin);
    assert!(sentence.contains("--password-stdin"), "{sentence}");
    let list = run_async(kefu(d, &[], &["user", "list"]), None).await;
    assert!(user_row(&list.stdout, "bob").is_none(), "{}", list.stdout);

    // a new password
    let passwd = run_async(
        kefu(d, &[], &["user", "passwd", "alice", "--password-stdin"]),
        Some("alice-password-2\n"),
    )
    .await;
    assert_ok(&passwd);
    let hash = stored_hash(d, "alice").await;
    assert!(kefu::services::accounts::verify_password("alice-password-2", &hash).await);
    assert!(!kefu::services::accounts::verify_password("alice-password-1", &hash).await);
    let passwd_short = run_async(
        kefu(d, &[], &["user", "passwd", "alice", "--password-stdin"]),
        Some("1234567\n"),
    )
    .await;
    assert_one_sentence_failure(&passwd_short);
    let nobody = run_async(
        kefu(d, &[], &["user", "passwd", "nobody", "--password-stdin"]),
        Some("long-enough-password\n"),
    )
    .await;
    assert!(assert_one_sentence_failure(&nobody).contains("nobody"));

    // alice's token, then alice is disabled
    let alice_token = run_async(kefu(d, &[], &["token", "create", "alice"]), None).await;
    assert_ok(&alice_token);
    let alice_token = alice_token.stdout.trim().to_owned();
    let disable = run_async(kefu(d, &[], &["user", "disable", "alice"]), None).await;
    assert_ok(&disable);
    let list = run_async(kefu(d, &[], &["user", "list"]), None).await;
    let row = user_row(&list.stdout, "alice").unwrap();
    assert_eq!(row[3], "disabled", "{}", list.stdout);

    // a token for an active user
    let bob = run_async(
        kefu(
            d,
            &[],
            &["user", "add", "bob", "--role", "admin", "--password-stdin"],
        ),
        Some("bob-password-1\n"),
    )
    .await;
    assert_ok(&bob);
    let token = run_async(
        kefu(d, &[], &["token", "create", "bob", "--label", "ci"]),
        None,
    )
    .await;
    assert_ok(&token);
    let lines: Vec<&str> = token.stdout.lines().collect();
    assert_eq!(lines.len(), 1, "the token alone: {}", token.stdout);
    let bob_token = lines[0].trim().to_owned();
    assert!(bob_token.len() >= 32, "{bob_token}");
    let unknown = run_async(kefu(d, &[], &["token", "create", "nobody"]), None).await;
    assert!(assert_one_sentence_failure(&unknown).contains("nobody"));
    let unknown = run_async(kefu(d, &[], &["user", "disable", "nobody"]), None).await;
    assert!(assert_one_sentence_failure(&unknown).contains("nobody"));

    // a server on the same data dir takes bob's token and refuses disabled alice's
    let app = TestApp::start_in(dir, &[]).await;
    let get = |token: String| {
        let app = &app;
        async move {
            app.client
                .get(app.url("/api/v1/conversations"))
                .bearer_auth(token)
                .send()
                .await
                .unwrap()
                .status()
        }
    };
    assert_eq!(get(bob_token.clone()).await, StatusCode::OK);
    assert_eq!(get(alice_token).await, StatusCode::UNAUTHORIZED);
    assert_eq!(get(format!("{bob_token}x")).await, StatusCode::UNAUTHORIZED);
    // no admin was created: there were staff accounts already
    assert!(
        kefu::store::staff::by_username(app.state().store.pool(), "admin")
            .await
            .unwrap()
            .is_none()
    );
}

#[test]
fn an_invalid_user_name_or_role_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let bad_name = run(
        kefu(
            dir.path(),
            &[],
            &[
                "user",
                "add",
                "al ice",
                "--role",
                "agent",
                "--password-stdin",
            ],
        ),
        Some("long-enough-password\n"),
    );
    assert_one_sentence_failure(&bad_name);
    let bad_role = run(
        kefu(
            dir.path(),
            &[],
            &["user", "add", "alice", "--role", "root", "--password-stdin"],
        ),
        Some("long-enough-password\n"),
    );
    assert!(!bad_role.status.success());
    assert_no_panic(&bad_role);
    assert!(bad_role.stderr.contains("root"), "{}", bad_role.stderr);
}

/// `kefu user add NAME --role ROLE` with `password`, expected to work.
async fn add_user(d: &Path, name: &str, role: &str, password: &str) {
    let args = &["user", "add", name, "--role", role, "--password-stdin"];
    assert_ok(&run_async(kefu(d, &[], args), Some(&format!("{password}\n"))).await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_command_line_refuses_to_disable_the_last_enabled_admin() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    add_user(d, "root", "admin", "root-password-1").await;
    add_user(d, "alice", "agent", "alice-password-1").await;

    let refused = run_async(kefu(d, &[], &["user", "disable", "root"]), None).await;
    let sentence = assert_one_sentence_failure(&refused);
    assert!(
        sentence.contains("root") && sentence.contains("last enabled admin"),
        "{sentence}"
    );
    assert!(
        sentence.contains("--role admin"),
        "says what to do: {sentence}"
    );
    let list = run_async(kefu(d, &[], &["user", "list"]), None).await;
    assert_eq!(user_row(&list.stdout, "root").unwrap()[3], "active");

    // an agent is no admin: disabling it leaves the admin in place
    assert_ok(&run_async(kefu(d, &[], &["user", "disable", "alice"]), None).await);
    // with a second admin, the first may go; then the second is the last
    add_user(d, "second", "admin", "second-password-1").await;
    assert_ok(&run_async(kefu(d, &[], &["user", "disable", "root"]), None).await);
    let refused = run_async(kefu(d, &[], &["user", "disable", "second"]), None).await;
    assert!(assert_one_sentence_failure(&refused).contains("second"));
    let list = run_async(kefu(d, &[], &["user", "list"]), None).await;
    assert_eq!(user_row(&list.stdout, "root").unwrap()[3], "disabled");
    assert_eq!(user_row(&list.stdout, "second").unwrap()[3], "active");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kefu_user_passwd_signs_the_account_out_of_a_running_server() {
    let app = TestApp::start().await;
    let d = app.data_dir().to_owned();
    crate::canned::staff(&app, "alice", kefu::domain::Role::Agent).await;
    let alice = Browser::sign_in(&app, "alice", crate::canned::PASSWORD).await;
    let admin = Browser::sign_in(&app, "admin", ADMIN_PASSWORD).await;
    assert_eq!(alice.get("/inbox").await.status(), StatusCode::OK);

    let passwd = run_async(
        kefu(&d, &[], &["user", "passwd", "alice", "--password-stdin"]),
        Some("alice-new-password\n"),
    )
    .await;
    assert_ok(&passwd);
    assert!(
        passwd.stdout.contains("1 session ended"),
        "{}",
        passwd.stdout
    );

    // alice's browser is signed out at once; the new password signs in; nobody else is touched
    let resp = alice.get("/inbox").await;
    assert_eq!(resp.status(), StatusCode::SEE_OTHER);
    assert_eq!(resp.headers()["location"], "/login?next=%2Finbox");
    assert_eq!(admin.get("/inbox").await.status(), StatusCode::OK);
    let alice = Browser::sign_in(&app, "alice", "alice-new-password").await;
    assert_eq!(alice.get("/inbox").await.status(), StatusCode::OK);

    // disabling her from the command line ends that session too
    let disable = run_async(kefu(&d, &[], &["user", "disable", "alice"]), None).await;
    assert_ok(&disable);
    assert!(
        disable.stdout.contains("1 session ended"),
        "{}",
        disable.stdout
    );
    assert_eq!(alice.get("/inbox").await.status(), StatusCode::SEE_OTHER);
    let sessions: i64 = sqlx::query_scalar(
        "select count(*) from sessions s join staff_users u on u.id = s.user_id where u.username = 'alice'",
    )
    .fetch_one(app.state().store.pool())
    .await
    .unwrap();
    assert_eq!(sessions, 0, "ended, not merely refused");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_account_change_is_audited_under_one_name_from_the_command_line_and_the_console() {
    let app = TestApp::start().await;
    let d = app.data_dir().to_owned();
    let admin = Browser::sign_in(&app, "admin", ADMIN_PASSWORD).await;
    let user_id = |name: &'static str| {
        let app = &app;
        async move {
            kefu::store::staff::by_username(app.state().store.pool(), name)
                .await
                .unwrap()
                .unwrap()
                .id
        }
    };

    // each change once from the console and once from the command line
    let fields = [
        ("username", "bob"),
        ("role", "agent"),
        ("password", "bobs-password-1"),
    ];
    assert_eq!(
        admin.post_form("/admin/users", &fields).await.status(),
        StatusCode::SEE_OTHER
    );
    add_user(&d, "carol", "agent", "carols-password-1").await;
    let bob = user_id("bob").await;
    let resp = admin
        .post_form(
            &format!("/admin/users/{bob}/password"),
            &[("password", "bobs-password-2")],
        )
        .await;
    assert_eq!(resp.status(), StatusCode::SEE_OTHER);
    let passwd = run_async(
        kefu(&d, &[], &["user", "passwd", "carol", "--password-stdin"]),
        Some("carols-password-2\n"),
    )
    .await;
    assert_ok(&passwd);
    let resp = admin
        .post_form(&format!("/admin/users/{bob}/disable"), &[])
        .await;
    assert_eq!(resp.status(), StatusCode::SEE_OTHER);
    assert_ok(&run_async(kefu(&d, &[], &["user", "disable", "carol"]), None).await);

    for action in ["staff.add", "staff.passwd", "staff.disable"] {
        assert_eq!(audited(&app, action).await, 2, "{action}");
    }
    let old_names: i64 =
        sqlx::query_scalar("select count(*) from audit_log where action like 'user.%'")
            .fetch_one(app.state().store.pool())
            .await
            .unwrap();
    assert_eq!(old_names, 0);
    // the first admin is kefu's own doing, not anyone's staff.add
    assert_eq!(audited(&app, "staff.first_admin").await, 1);

    // an entry an older kefu wrote from the command line is listed under today's name
    let store = &app.state().store;
    let mut tx = store.begin_write().await.unwrap();
    kefu::store::audit::record(
        &mut tx,
        &kefu::store::audit::Actor::cli(),
        "user.disable",
        "dave",
        None,
        kefu::domain::now_millis(),
    )
    .await
    .unwrap();
    tx.commit().await.unwrap();
    let html = admin.page("/admin/audit").await;
    let rows = select(&html, "table#audit tr.entry");
    assert_eq!(rows[0].value().attr("data-action"), Some("staff.disable"));
    let code = select(
        &html,
        "table#audit tr.entry:first-child td.audit-action code",
    );
    assert_eq!(text(&code[0]), "staff.disable");
    assert_eq!(code[0].value().attr("title"), Some("user.disable"));
    let cli_rows = select(&html, "table#audit tr.entry[data-action='staff.disable']");
    assert_eq!(cli_rows.len(), 3);
}

// ---------------------------------------------------------------------------------------------
// Start-up refusals

/// A port nothing listens on right now.
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn assert_refused_naming(run: &Run, variable: &str) {
    assert!(!run.status.success(), "kefu serve must not start");
    assert_no_panic(run);
    let last = run
        .stderr
        .lines()
        .rfind(|l| !l.trim().is_empty())
        .unwrap_or_default();
    assert!(
        last.contains(variable),
        "the error names {variable}:\n{}",
        run.stderr
    );
}

#[test]
fn serve_refuses_a_malformed_aes_key_naming_the_variable_without_echoing_it() {
    let dir = tempfile::tempdir().unwrap();
    let run = run(
        kefu(
            dir.path(),
            &[
                ("KEFU_WECHAT_AES_KEY", "short"),
                ("KEFU_LISTEN", "127.0.0.1:0"),
            ],
            &["serve"],
        ),
        None,
    );
    assert_refused_naming(&run, "KEFU_WECHAT_AES_KEY");
    assert!(!run.stderr.contains("short"), "{}", run.stderr);
    assert_one_sentence_failure(&run);
}

#[test]
fn serve_refuses_an_unparsable_listen_address_naming_the_variable() {
    let dir = tempfile::tempdir().unwrap();
    let run = run(
        kefu(dir.path(), &[("KEFU_LISTEN", "nowhere")], &["serve"]),
        None,
    );
    assert_refused_naming(&run, "KEFU_LISTEN");
    assert_one_sentence_failure(&run);
}

#[test]
fn serve_refuses_an_address_in_use_naming_the_variable() {
    let dir = tempfile::tempdir().unwrap();
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    let run = run(
        kefu(dir.path(), &[("KEFU_LISTEN", &addr)], &["serve"]),
        None,
    );
    assert_refused_naming(&run, "KEFU_LISTEN");
    drop(taken);
}

#[test]
fn serve_refuses_a_data_dir_under_a_regular_file_naming_the_variable() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("a-file");
    std::fs::write(&file, "not a directory").unwrap();
    let run = run(
        kefu(
            &file.join("data"),
            &[("KEFU_LISTEN", &format!("127.0.0.1:{}", free_port()))],
            &["serve"],
        ),
        None,
    );
    assert_refused_naming(&run, "KEFU_DATA_DIR");
}

#[test]
fn a_config_file_with_an_unknown_key_is_refused_naming_the_key() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("kefu.toml");
    std::fs::write(&file, "lisen = \"127.0.0.1:9\"\n").unwrap();
    let run = run(
        kefu(
            dir.path(),
            &[],
            &["--config", file.to_str().unwrap(), "migrate"],
        ),
        None,
    );
    let sentence = assert_one_sentence_failure(&run);
    assert!(sentence.contains("lisen"), "{sentence}");
}

// ---------------------------------------------------------------------------------------------
// simulate

fn wechat_env(format: &'static str) -> Vec<(&'static str, &'static str)> {
    vec![
        ("KEFU_WECHAT_TOKEN", TOKEN),
        ("KEFU_WECHAT_AES_KEY", AES_KEY),
        ("KEFU_WECHAT_APPID", APPID),
        ("KEFU_WECHAT_FORMAT", format),
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn simulate_sends_each_kind_of_push_that_kefu_stores() {
    let app = TestApp::start().await;
    let scratch = tempfile::tempdir().unwrap();
    let url = app.webhook_url();
    for format in ["json", "xml"] {
        let env = wechat_env(format);
        for what in [
            vec!["--text", "hello from simulate"],
            vec!["--image"],
            vec!["--card"],
            vec!["--enter"],
            // an Official Account's
            vec!["--voice"],
            vec!["--video"],
            vec!["--location"],
            vec!["--link"],
            vec!["--event", "SCAN"],
            vec!["--event", "kf_switch_session"],
        ] {
            let who = openid(&format!("simulate-{format}"));
            let mut args = vec!["simulate", "--url", &url, "--openid", &who];
            args.extend(&what);
            let sent = run_async(kefu(scratch.path(), &env, &args), None).await;
            assert_ok(&sent);
            assert!(sent.stdout.contains("success"), "{}", sent.stdout);
            let messages = app.messages_of(&who).await;
            assert_eq!(messages.len(), 1, "{what:?}");
            let m = &messages[0];
            assert_eq!(m["sender"]["id"], who.as_str());
            match what[0] {
                "--text" => {
                    assert_eq!(m["type"], "text");
                    assert_eq!(m["content"]["text"], "hello from simulate");
                }
                "--image" => {
                    assert_eq!(m["type"], "image");
                    assert!(
                        m["content"]["media_id"]
                            .as_str()
                            .is_some_and(|s| !s.is_empty())
                    );
                }
                "--card" => {
                    assert_eq!(m["type"], "miniprogrampage");
                    assert!(
                        m["content"]["title"]
                            .as_str()
                            .is_some_and(|s| !s.is_empty())
                    );
                }
                "--voice" => {
                    assert_eq!(m["type"], "voice");
                    assert_eq!(m["content"]["format"], "amr");
                }
                "--video" => assert_eq!(m["type"], "video"),
                "--location" => {
                    assert_eq!(m["type"], "location");
                    assert_eq!(m["content"]["latitude"], 23.134521);
                }
                "--link" => assert_eq!(m["content"]["url"], "https://example.com/kefu"),
                "--event" => {
                    assert_eq!(m["type"], "event");
                    assert_eq!(m["content"]["event"], what[1]);
                }
                _ => {
                    assert_eq!(m["type"], "event");
                    assert_eq!(m["content"]["event"], "user_enter_tempsession");
                }
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn simulate_without_an_aes_key_sends_a_plaintext_push() {
    let app = TestApp::start().await;
    let scratch = tempfile::tempdir().unwrap();
    let url = app.webhook_url();
    let who = openid("simulate-plain");
    let sent = run_async(
        kefu(
            scratch.path(),
            &[("KEFU_WECHAT_TOKEN", TOKEN)],
            &[
                "simulate", "--url", &url, "--openid", &who, "--text", "plain",
            ],
        ),
        None,
    )
    .await;
    assert_ok(&sent);
    assert_eq!(app.messages_of(&who).await[0]["content"]["text"], "plain");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn simulate_reports_a_refusal_as_one_sentence() {
    let app = TestApp::start().await;
    let scratch = tempfile::tempdir().unwrap();
    let url = app.webhook_url();
    let mut env = wechat_env("json");
    env[0] = ("KEFU_WECHAT_TOKEN", "the-wrong-token");
    let sent = run_async(
        kefu(
            scratch.path(),
            &env,
            &["simulate", "--url", &url, "--text", "hi"],
        ),
        None,
    )
    .await;
    let sentence = assert_one_sentence_failure(&sent);
    assert!(sentence.contains("401"), "{sentence}");
    app.assert_nothing_stored().await;

    // and without any token configured, it says which variable to set
    let unsigned = run_async(
        kefu(
            scratch.path(),
            &[],
            &["simulate", "--url", &url, "--text", "hi"],
        ),
        None,
    )
    .await;
    assert!(assert_one_sentence_failure(&unsigned).contains("KEFU_WECHAT_TOKEN"));

    // an openid WeChat would never send
    let bad_openid = run_async(
        kefu(
            scratch.path(),
            &[("KEFU_WECHAT_TOKEN", TOKEN)],
            &[
                "simulate",
                "--url",
                &url,
                "--openid",
                "not an openid",
                "--text",
                "hi",
            ],
        ),
        None,
    )
    .await;
    assert!(assert_one_sentence_failure(&bad_openid).contains("--openid"));
    // an event name WeChat would never send
    let bad_event = run_async(
        kefu(
            scratch.path(),
            &[("KEFU_WECHAT_TOKEN", TOKEN)],
            &["simulate", "--url", &url, "--event", "<script>"],
        ),
        None,
    )
    .await;
    assert!(assert_one_sentence_failure(&bad_event).contains("--event"));
    app.assert_nothing_stored().await;
}

// ---------------------------------------------------------------------------------------------
// seed

fn time_of(value: &serde_json::Value) -> time::OffsetDateTime {
    let text = value
        .as_str()
        .unwrap_or_else(|| panic!("a time, got {value}"));
    time::OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339)
        .unwrap_or_else(|e| panic!("{text} is not RFC 3339: {e}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn seed_fills_an_empty_database_that_the_api_then_lists_consistently() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let alice = &[
        "user",
        "add",
        "alice",
        "--role",
        "agent",
        "--display-name",
        "Alice",
        "--password-stdin",
    ];
    assert_ok(&run_async(kefu(d, &[], alice), Some("alice-password-1\n")).await);

    // fewer messages than conversations cannot be: each conversation has one
    let too_few = run_async(
        kefu(
            d,
            &[],
            &["seed", "--conversations", "50", "--messages", "49"],
        ),
        None,
    )
    .await;
    assert!(assert_one_sentence_failure(&too_few).contains("--messages"));

    let seeded = run_async(
        kefu(
            d,
            &[],
            &["seed", "--conversations", "50", "--messages", "400"],
        ),
        None,
    )
    .await;
    assert_ok(&seeded);
    assert!(
        seeded.stdout.contains("50 conversations") && seeded.stdout.contains("400 messages"),
        "says what it made: {}",
        seeded.stdout
    );
    // a database with conversations is left alone
    let again = run_async(
        kefu(d, &[], &["seed", "--conversations", "5", "--messages", "5"]),
        None,
    )
    .await;
    assert!(assert_one_sentence_failure(&again).contains("already"));

    let mut app = TestApp::start_in(dir, &[]).await;
    app.token = kefu::services::accounts::create_token(
        &app.state().store,
        kefu::services::Caller::Cli,
        kefu::services::accounts::AccountRef::Name("alice"),
        "tests",
    )
    .await
    .unwrap();
    let alice_id = kefu::store::staff::by_username(app.state().store.pool(), "alice")
        .await
        .unwrap()
        .unwrap()
        .id;

    let conversations = app.conversations().await;
    assert_eq!(conversations.len(), 50);
    let activity: Vec<_> = conversations
        .iter()
        .map(|c| time_of(&c["last_activity_at"]))
        .collect();
    assert!(
        activity.windows(2).all(|w| w[0] >= w[1]),
        "newest activity first: {activity:?}"
    );
    let now = time::OffsetDateTime::now_utc();
    let month_ago = now - time::Duration::days(34);
    assert!(
        activity.iter().all(|t| *t <= now && *t > month_ago),
        "within the last 30 days: {activity:?}"
    );
    let mut openids: Vec<&str> = conversations
        .iter()
        .map(|c| c["contact"]["openid"].as_str().unwrap())
        .collect();
    assert!(
        openids.iter().all(|o| o.starts_with("oSeed")),
        "{openids:?}"
    );
    openids.sort_unstable();
    openids.dedup();
    assert_eq!(openids.len(), 50, "one conversation per customer");
    let named = conversations
        .iter()
        .filter(|c| c["contact"]["name"].is_string())
        .count();
    assert!(
        (15..=35).contains(&named),
        "about half have a name: {named}"
    );

    let count = |status: &str| {
        conversations
            .iter()
            .filter(|c| c["status"] == status)
            .count()
    };
    assert!(count("open") > 25, "mostly open");
    assert!(count("pending") > 0 && count("resolved") > 0);
    for status in ["open", "pending", "resolved"] {
        assert_eq!(
            app.conversations_where(&format!("status={status}"))
                .await
                .len(),
            count(status),
            "status={status}"
        );
    }
    let assigned: Vec<&serde_json::Value> = conversations
        .iter()
        .filter(|c| !c["assignee"].is_null())
        .collect();
    assert!(!assigned.is_empty() && assigned.len() < 50);
    for c in &assigned {
        assert_eq!(c["assignee"]["id"], alice_id);
        assert_eq!(c["assignee"]["name"], "Alice");
    }
    assert_eq!(
        app.conversations_where("status=all&assignee=me")
            .await
            .len(),
        assigned.len()
    );

    let mut total = 0;
    let mut texts = Vec::new();
    for c in &conversations {
        let messages = app.messages(id_of(c)).await;
        assert!(!messages.is_empty());
        total += messages.len();
        let ids: Vec<i64> = messages.iter().map(id_of).collect();
        assert!(ids.windows(2).all(|w| w[0] > w[1]), "newest first: {ids:?}");
        let times: Vec<_> = messages.iter().map(|m| time_of(&m["created_at"])).collect();
        assert!(times.windows(2).all(|w| w[0] >= w[1]), "{times:?}");
        // the list row's last message and activity are the newest message's
        assert_eq!(c["last_message"]["id"], messages[0]["id"]);
        assert_eq!(time_of(&c["last_activity_at"]), times[0]);
        // the conversation opens with the customer
        let first = messages.last().unwrap();
        assert_eq!(first["direction"], "in");
        assert_eq!(first["sender"]["kind"], "customer");
        for m in &messages {
            let text = m["content"]["text"].as_str().unwrap_or_default();
            assert!(!text.is_empty(), "a text or a note: {m}");
            texts.push(text.to_owned());
            let expected = match (m["direction"].as_str(), m["type"].as_str()) {
                (Some("in"), Some("text")) => "received",
                (Some("out"), Some("text")) => "sent",
                (Some("out"), Some("note")) => "received",
                _ => panic!("unexpected message {m}"),
            };
            assert_eq!(m["status"], expected, "{m}");
            if m["direction"] == "out" {
                assert_eq!(m["sender"]["id"], alice_id, "{m}");
            }
        }
        // unread: an open conversation's customer messages after the agent's last reply
        let waiting = messages
            .iter()
            .take_while(|m| !(m["direction"] == "out" && m["type"] == "text"))
            .filter(|m| m["direction"] == "in")
            .count();
        let unread = if c["status"] == "open" { waiting } else { 0 };
        assert_eq!(c["unread"], unread, "{c}");
        // the customer's latest message opened the reply window
        let last_in = messages.iter().find(|m| m["direction"] == "in").unwrap();
        assert_eq!(
            time_of(&c["last_message_at"]),
            time_of(&last_in["created_at"])
        );
    }
    assert_eq!(total, 400, "the messages of all conversations add up");
    assert!(
        texts
            .iter()
            .any(|t| t.chars().any(|ch| ('\u{4e00}'..='\u{9fff}').contains(&ch)))
    );
    assert!(texts.iter().any(|t| t.is_ascii()), "English too");
}

// ---------------------------------------------------------------------------------------------
// First start without KEFU_ADMIN_PASSWORD

/// A `kefu serve` child that is killed however the test ends.
struct Server {
    child: Child,
    stdout: mpsc::Receiver<String>,
    stderr: mpsc::Receiver<String>,
}

impl Server {
    fn spawn(data_dir: &Path, port: u16) -> Server {
        let listen = format!("127.0.0.1:{port}");
        Server::spawn_with(data_dir, &[("KEFU_LISTEN", &listen)])
    }

    fn spawn_with(data_dir: &Path, env: &[(&str, &str)]) -> Server {
        Server::spawn_command(data_dir, env, "serve")
    }

    fn spawn_command(data_dir: &Path, env: &[(&str, &str)], command: &str) -> Server {
        let mut env = env.to_vec();
        env.push(("KEFU_LOG", "info"));
        let mut cmd = kefu(data_dir, &env, &[command]);
        cmd.stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = cmd.spawn().expect("kefu serve starts");
        let stdout = lines(child.stdout.take().unwrap());
        let stderr = lines(child.stderr.take().unwrap());
        Server {
            child,
            stdout,
            stderr,
        }
    }

    /// Reads `from` until a line satisfies `want`; every line read is returned.
    fn read_until(
        from: &mpsc::Receiver<String>,
        want: impl Fn(&str) -> bool,
        what: &str,
    ) -> Vec<String> {
        let deadline = Instant::now() + TIMEOUT;
        let mut seen = Vec::new();
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match from.recv_timeout(left) {
                Ok(line) => {
                    let done = want(&line);
                    seen.push(line);
                    if done {
                        return seen;
                    }
                }
                Err(e) => panic!("no {what} ({e}); read so far: {seen:#?}"),
            }
        }
    }

    /// Asks the server to stop (SIGTERM) and returns how it exited.
    fn terminate(mut self) -> ExitStatus {
        let pid = self.child.id().to_string();
        let sent = Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .expect("run kill");
        assert!(sent.success(), "kill -TERM {pid}");
        let deadline = Instant::now() + TIMEOUT;
        loop {
            if let Some(status) = self.child.try_wait().expect("wait for kefu") {
                return status;
            }
            assert!(Instant::now() < deadline, "kefu serve ignored SIGTERM");
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// Kills the server and returns what it printed on stdout that was not read yet.
    fn kill(mut self) -> Vec<String> {
        let _ = self.child.kill();
        let _ = self.child.wait();
        // the pipe is closed now: the reader thread ends and the channel disconnects
        self.stdout.iter().collect()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn lines(pipe: impl Read + Send + 'static) -> mpsc::Receiver<String> {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(pipe).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    rx
}

const PASSWORD_MARK: &str = "with the password: ";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_first_start_without_an_admin_password_prints_one_that_works() {
    let dir = tempfile::tempdir().unwrap();
    let data_dir = dir.path().to_owned();

    let password = tokio::task::spawn_blocking({
        let data_dir = data_dir.clone();
        move || {
            let server = Server::spawn(&data_dir, free_port());
            let seen = Server::read_until(
                &server.stdout,
                |l| l.contains(PASSWORD_MARK),
                "password line on stdout",
            );
            let line = seen.last().unwrap();
            let password = line[line.find(PASSWORD_MARK).unwrap() + PASSWORD_MARK.len()..]
                .trim()
                .to_owned();
            // the password is shown on the terminal, never in the logs
            Server::read_until(
                &server.stderr,
                |l| l.contains("kefu is serving"),
                "serving line on stderr",
            );
            let rest = server.kill();
            assert!(
                !rest.iter().any(|l| l.contains(&password)),
                "the password is printed once"
            );
            password
        }
    })
    .await
    .unwrap();
    assert!(password.len() >= 12, "a strong password: {password:?}");

    let hash = stored_hash(&data_dir, "admin").await;
    assert!(kefu::services::accounts::verify_password(&password, &hash).await);
    assert!(!kefu::services::accounts::verify_password("not-the-password", &hash).await);

    // a second start finds the account and prints no password
    let printed = tokio::task::spawn_blocking({
        let data_dir = data_dir.clone();
        move || {
            let server = Server::spawn(&data_dir, free_port());
            let logs = Server::read_until(
                &server.stderr,
                |l| l.contains("kefu is serving"),
                "serving line on stderr",
            );
            assert!(!logs.iter().any(|l| l.contains(PASSWORD_MARK)), "{logs:#?}");
            server.kill()
        }
    })
    .await
    .unwrap();
    assert!(
        !printed.iter().any(|l| l.contains(PASSWORD_MARK)),
        "{printed:#?}"
    );
    assert_eq!(stored_hash(&data_dir, "admin").await, hash);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_stops_cleanly_on_sigterm_keeping_what_it_acknowledged() {
    let dir = tempfile::tempdir().unwrap();
    let data_dir = dir.path().to_owned();
    let port = free_port();
    let server = tokio::task::spawn_blocking({
        let data_dir = data_dir.clone();
        move || {
            let mut cmd_env = vec![
                ("KEFU_WECHAT_TOKEN", TOKEN),
                ("KEFU_ADMIN_PASSWORD", "admin-password-for-tests"),
            ];
            let listen = format!("127.0.0.1:{port}");
            cmd_env.push(("KEFU_LISTEN", &listen));
            let server = Server::spawn_with(&data_dir, &cmd_env);
            Server::read_until(
                &server.stderr,
                |l| l.contains("kefu is serving"),
                "serving line on stderr",
            );
            server
        }
    })
    .await
    .unwrap();

    let scratch = tempfile::tempdir().unwrap();
    let url = format!("http://127.0.0.1:{port}/wechat");
    let who = openid("sigterm");
    let sent = run_async(
        kefu(
            scratch.path(),
            &[("KEFU_WECHAT_TOKEN", TOKEN)],
            &["simulate", "--url", &url, "--openid", &who, "--text", "bye"],
        ),
        None,
    )
    .await;
    assert_ok(&sent);

    let status = tokio::task::spawn_blocking(move || server.terminate())
        .await
        .unwrap();
    assert!(status.success(), "kefu serve exits 0 on SIGTERM: {status}");

    let store = kefu::store::Store::open(&format!("sqlite://{}/kefu.db", data_dir.display()))
        .await
        .unwrap();
    assert_eq!(
        kefu::store::messages::count_inbound(store.pool())
            .await
            .unwrap(),
        1
    );
    store.close().await;
}

/// `kefu demo` shows the whole loop with no WeChat account: a customer writes on the simulator,
/// the conversation arrives, the reply printed by the demo goes out through the outbox and
/// reaches the customer's page, and the throw-away data dir is gone after ctrl-c.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kefu_demo_runs_the_whole_loop_without_a_wechat_account() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let listen = format!("127.0.0.1:{port}");
    let (server, printed) = tokio::task::spawn_blocking({
        let data_dir = dir.path().to_owned();
        move || {
            let server = Server::spawn_command(&data_dir, &[("KEFU_LISTEN", &listen)], "demo");
            let printed = Server::read_until(
                &server.stdout,
                |l| l.contains("Press ctrl-c"),
                "the demo's instructions",
            );
            (server, printed)
        }
    })
    .await
    .unwrap();
    let text = printed.join("\n");
    let base = format!("http://127.0.0.1:{port}");
    assert!(text.contains(&format!("{base}/demo")), "{text}");
    assert!(text.contains("admin /"), "a printed admin login: {text}");
    let token = text
        .split("Bearer ")
        .nth(1)
        .and_then(|t| t.split('\'').next())
        .expect("a token in the printed curl line")
        .to_owned();
    let data_dir = text
        .split("data dir (")
        .nth(1)
        .and_then(|t| t.split(')').next())
        .expect("the data dir")
        .to_owned();

    let client = reqwest::Client::new();
    let page = client.get(format!("{base}/demo")).send().await.unwrap();
    assert_eq!(page.status(), StatusCode::OK);
    let html = page.text().await.unwrap();
    let doc = scraper::Html::parse_document(&html);
    let form = scraper::Selector::parse("form#customer input#text").unwrap();
    assert_eq!(doc.select(&form).count(), 1, "the simulator's message box");

    for body in [
        serde_json::json!({"openid": "o-demo-test", "kind": "enter"}),
        serde_json::json!({"openid": "o-demo-test", "kind": "voice"}),
        serde_json::json!({"openid": "o-demo-test", "kind": "location"}),
        serde_json::json!({"openid": "o-demo-test", "kind": "text", "text": "我的订单没到"}),
    ] {
        let r = client
            .post(format!("{base}/demo/customer/push"))
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::OK);
        let answer: serde_json::Value = r.json().await.unwrap();
        assert_eq!(answer["answer"], "success");
    }
    let list: serde_json::Value = client
        .get(format!("{base}/api/v1/conversations"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let conv = &list["conversations"][0];
    assert_eq!(conv["contact"]["openid"], "o-demo-test", "{list}");
    let id = conv["id"].as_i64().unwrap();
    let r = client
        .post(format!("{base}/api/v1/conversations/{id}/messages"))
        .bearer_auth(&token)
        .json(&serde_json::json!({"type": "text", "content": {"text": "您好！我们马上处理。"}}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::ACCEPTED);

    // The customer's page polls this: the reply arrives within the outbox's first attempt.
    let deadline = Instant::now() + Duration::from_secs(30);
    let replies = loop {
        let r: serde_json::Value = client
            .get(format!("{base}/demo/customer/replies?openid=o-demo-test"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        if !r["replies"].as_array().unwrap().is_empty() || Instant::now() > deadline {
            break r;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(
        replies["replies"][0]["body"]["text"]["content"], "您好！我们马上处理。",
        "{replies}"
    );

    // an Official Account's voice message and place, from the simulator's buttons: the voice
    // file is fetched from the demo's fake WeChat API and kept as it came (AMR)
    let messages: serde_json::Value = client
        .get(format!("{base}/api/v1/conversations/{id}/messages"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let of_type = |kind: &str| {
        messages["messages"]
            .as_array()
            .unwrap()
            .iter()
            .find(|m| m["type"] == kind)
            .cloned()
            .unwrap_or_else(|| panic!("no {kind} in {messages}"))
    };
    assert!(of_type("location")["content"]["label"].is_string());
    let voice_url = of_type("voice")["content"]["url"]
        .as_str()
        .unwrap()
        .to_owned();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let r = client
            .get(format!("{base}{voice_url}"))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap();
        if r.status() == StatusCode::OK {
            assert_eq!(r.headers()["content-type"], "audio/amr");
            assert!(r.bytes().await.unwrap().starts_with(b"#!AMR\n"));
            break;
        }
        assert!(Instant::now() < deadline, "the voice file never came");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    // the demo's second channel, an Official Account: the simulator writes to it too, and an
    // agent's reply goes out with its own AppID
    for kind in ["voice", "location"] {
        let r = client
            .post(format!("{base}/demo/customer/push"))
            .json(&serde_json::json!({"openid": "o-demo-oa", "kind": kind, "channel": "officialaccount"}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::OK, "{kind}");
    }
    let oa: serde_json::Value = client
        .get(format!("{base}/api/v1/conversations?channel=oa-demo"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let oa = &oa["conversations"][0];
    assert_eq!(oa["contact"]["openid"], "o-demo-oa", "{oa}");
    assert_eq!(oa["channel"]["kind"], "officialaccount", "{oa}");
    let oa_id = oa["id"].as_i64().unwrap();
    let r = client
        .post(format!("{base}/api/v1/conversations/{oa_id}/messages"))
        .bearer_auth(&token)
        .json(&serde_json::json!({"type": "text", "content": {"text": "公众号收到"}}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::ACCEPTED);
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let r: serde_json::Value = client
            .get(format!("{base}/demo/customer/replies?openid=o-demo-oa"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        if r["replies"][0]["body"]["text"]["content"] == "公众号收到" {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the Official Account's reply never came: {r}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    let status = tokio::task::spawn_blocking(move || server.terminate())
        .await
        .unwrap();
    assert!(status.success(), "{status:?}");
    assert!(
        !Path::new(&data_dir).exists(),
        "the throw-away data dir {data_dir} is removed"
    );
}

/// A channel's Token, EncodingAESKey and AppSecret appear in no line `kefu channel` or
/// `kefu serve` prints, whether its pushes are taken or refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_channel_secret_reaches_any_output_or_log_line() {
    use crate::helpers::{Mode, sign_as};
    use kefu::wechat::push::Format;
    use kefu::wechat::simulate::{self, SimulatedKind};

    const OA_APPID: &str = "wx00000000000000c3";
    const OA_TOKEN: &str = "logTok3nSecret";
    const OA_KEY: &str = "QwErTyUiOpAsDfGhJkLzXcVbNm0123456789qwertyu";
    const OA_SECRET: &str = "app-secret-that-must-not-leak";
    let dir = tempfile::tempdir().unwrap();
    let added = run(
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
                OA_APPID,
                "--token",
                OA_TOKEN,
                "--aes-key",
                OA_KEY,
                "--format",
                "xml",
                "--secret-stdin",
            ],
        ),
        Some(&format!("{OA_SECRET}\n")),
    );
    assert!(added.status.success(), "{added:?}");
    let listed = run(kefu(dir.path(), &[], &["channel", "list"]), None);

    let port = free_port();
    let listen = format!("127.0.0.1:{port}");
    let server = Server::spawn_with(
        dir.path(),
        &[
            ("KEFU_LISTEN", &listen),
            ("KEFU_ADMIN_PASSWORD", ADMIN_PASSWORD),
        ],
    );
    let base = format!("http://{listen}");
    let client = reqwest::Client::new();
    let deadline = Instant::now() + TIMEOUT;
    while client.get(format!("{base}/readyz")).send().await.is_err() {
        assert!(Instant::now() < deadline, "kefu serve did not start");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let body = simulate::push_body(
        &SimulatedKind::Text("hi".into()),
        "o-log-test",
        simulate::random_msg_id(),
        crate::helpers::now(),
        Format::Xml,
    );
    let right = crate::helpers::cipher(OA_KEY, OA_APPID);
    let wrong = crate::helpers::cipher(AES_KEY, APPID);
    for (token, cipher, expected) in [
        (OA_TOKEN, &right, StatusCode::OK),
        ("wrongToken", &right, StatusCode::UNAUTHORIZED),
        (OA_TOKEN, &wrong, StatusCode::BAD_REQUEST),
    ] {
        let signed = sign_as(
            token,
            cipher,
            &body,
            Mode::Safe,
            Format::Xml,
            crate::helpers::now(),
        );
        let r = client
            .post(format!("{base}/wechat/shop?{}", signed.query))
            .body(signed.body)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), expected);
    }
    let check = client
        .post(format!(
            "{base}/wechat/nowhere?timestamp=1&nonce=2&signature=3"
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(check.status(), StatusCode::NOT_FOUND);

    // the log (stderr) up to the last refusal, and whatever else came
    let mut stderr = Server::read_until(
        &server.stderr,
        |l| l.contains("a channel kefu does not have"),
        "the unknown channel's refusal in the log",
    );
    stderr.extend(server.stderr.try_iter());
    let stdout = server.stdout.try_iter().collect::<Vec<_>>();
    let status = tokio::task::spawn_blocking(move || server.terminate())
        .await
        .unwrap();
    assert!(status.success());
    let everything = format!(
        "{}\n{}\n{}\n{}\n{}\n{}",
        added.stdout,
        added.stderr,
        listed.stdout,
        listed.stderr,
        stdout.join("\n"),
        stderr.join("\n")
    );
    assert!(
        everything.contains("refused"),
        "the refusals were logged: {everything}"
    );
    for secret in [OA_KEY, OA_SECRET] {
        assert!(!everything.contains(secret), "{secret} in {everything}");
    }
    // the Token was given on the command line; it is in no line kefu printed
    assert!(
        !format!(
            "{}{}{}{}",
            stdout.join(""),
            stderr.join(""),
            listed.stdout,
            added.stdout
        )
        .contains(OA_TOKEN),
        "{everything}"
    );
}
