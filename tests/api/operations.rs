//! What an operator does around a running kefu: `kefu backup` (and serving from the copy),
//! `kefu doctor`, `kefu token list` / `revoke`, and the deployment files in `deploy/`.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::{Arc, Mutex};

use kefu::domain::Role;
use kefu::wechat::fake::{FakeConfig, FakeWechat};
use kefu::wechat::push::Format;
use kefu::wechat::simulate::{self, SimulatedKind};
use reqwest::StatusCode;
use serde_json::Value;

use crate::cli::{Run, assert_ok, assert_one_sentence_failure, kefu, run_async};
use crate::helpers::{AES_KEY, APPID, Mode, TOKEN, TestApp, add_staff, assert_success, id_of, now};

// ---------------------------------------------------------------------------------------------
// Backup

/// The number in `copied N messages to PATH ...`.
fn messages_copied(stdout: &str) -> i64 {
    stdout
        .strip_prefix("copied ")
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("expected `copied N messages`, got {stdout:?}"))
}

fn sqlite_url(path: &Path) -> String {
    format!("sqlite://{}", path.display())
}

/// Every text of the conversations of `openid`, as a server shows them.
async fn texts_of(app: &TestApp, openid: &str) -> Vec<String> {
    let mut texts = Vec::new();
    for conversation in app.conversations_of(openid).await {
        for m in app.messages(id_of(&conversation)).await {
            if let Some(t) = m["content"]["text"].as_str() {
                texts.push(t.to_owned());
            }
        }
    }
    texts
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backup_taken_during_pushes_holds_every_push_acknowledged_before_it() {
    let mut app = TestApp::start().await;
    let copy = app.data_dir().join("during.db");

    // pushes signed ahead, sent one after the other; each is noted once WeChat would have
    // its `success`
    let pushes: Vec<(String, String, crate::helpers::Signed)> = (0..600)
        .map(|i| {
            let openid = format!("o-backup-{}", i % 25);
            let text = format!("push {i}");
            let body = simulate::push_body(
                &SimulatedKind::Text(text.clone()),
                &openid,
                simulate::random_msg_id(),
                now(),
                Format::Json,
            );
            let signed = app.sign(&body, Mode::Plain, Format::Json);
            (openid, text, signed)
        })
        .collect();
    let acknowledged: Arc<Mutex<Vec<(String, String)>>> = Arc::default();
    let pusher = {
        let client = app.client.clone();
        let url = app.webhook_url();
        let acknowledged = acknowledged.clone();
        tokio::spawn(async move {
            for (openid, text, signed) in pushes {
                let resp = client
                    .post(format!("{url}?{}", signed.query))
                    .body(signed.body)
                    .send()
                    .await
                    .expect("the webhook answers");
                assert_success(resp).await;
                acknowledged.lock().unwrap().push((openid, text));
            }
        })
    };
    while acknowledged.lock().unwrap().len() < 100 {
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }

    let before: Vec<(String, String)> = acknowledged.lock().unwrap().clone();
    let backup = run_async(
        kefu(app.data_dir(), &[], &["backup", copy.to_str().unwrap()]),
        None,
    )
    .await;
    let during = acknowledged.lock().unwrap().len();
    assert_ok(&backup);
    pusher.await.expect("every push is acknowledged");
    let copied = messages_copied(&backup.stdout);
    assert!(
        during > before.len(),
        "pushes went on during the backup ({} before, {during} after)",
        before.len()
    );
    assert!(
        copied >= before.len() as i64 && copied <= during as i64 + 1,
        "copied {copied}: {} were acknowledged before the backup, {during} by its end",
        before.len()
    );
    app.stop().await;

    // kefu serves from the copy, and shows every push acknowledged before the backup
    let restored = TestApp::start_with(&[("KEFU_DATABASE_URL", &sqlite_url(&copy))]).await;
    assert_eq!(restored.stored_inbound().await, copied);
    let mut openids: Vec<&str> = before.iter().map(|(o, _)| o.as_str()).collect();
    openids.sort_unstable();
    openids.dedup();
    for openid in openids {
        let shown = texts_of(&restored, openid).await;
        for (_, text) in before.iter().filter(|(o, _)| o == openid) {
            assert!(
                shown.contains(text),
                "{text:?} of {openid} is missing from the copy"
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_on_a_backup_shows_the_same_conversations_and_messages() {
    let app = TestApp::start().await;
    for i in 0..30 {
        app.push_text(&format!("o-same-{}", i % 7), &format!("hello {i}"))
            .await;
    }
    let first = id_of(&app.conversation_of("o-same-0").await);
    let note = app
        .post_json(
            &format!("/api/v1/conversations/{first}/messages"),
            serde_json::json!({"type": "note", "content": {"text": "a note for colleagues"}}),
        )
        .await;
    assert_eq!(note.status(), reqwest::StatusCode::ACCEPTED);
    let copy = app.data_dir().join("quiet.db");
    let backup = run_async(
        kefu(app.data_dir(), &[], &["backup", copy.to_str().unwrap()]),
        None,
    )
    .await;
    assert_ok(&backup);
    assert_eq!(messages_copied(&backup.stdout), 31, "{}", backup.stdout);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&copy).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600, "the copy is for its owner only");
    }
    let leftovers: Vec<String> = std::fs::read_dir(app.data_dir())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains("partial"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");

    let restored = TestApp::start_with(&[("KEFU_DATABASE_URL", &sqlite_url(&copy))]).await;
    let original: Vec<Value> = app.conversations().await;
    assert_eq!(original.len(), 7);
    assert_eq!(restored.conversations().await, original);
    for conversation in &original {
        let id = id_of(conversation);
        assert_eq!(restored.messages(id).await, app.messages(id).await);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn backup_refuses_an_existing_path_and_a_missing_database_in_one_sentence() {
    let app = TestApp::start().await;
    let existing = app.data_dir().join("existing.db");
    std::fs::write(&existing, b"keep me").unwrap();
    let refused = run_async(
        kefu(app.data_dir(), &[], &["backup", existing.to_str().unwrap()]),
        None,
    )
    .await;
    let sentence = assert_one_sentence_failure(&refused);
    assert!(sentence.contains("already exists"), "{sentence}");
    assert_eq!(std::fs::read(&existing).unwrap(), b"keep me");

    let empty = tempfile::tempdir().unwrap();
    let missing = run_async(
        kefu(
            empty.path(),
            &[],
            &["backup", empty.path().join("copy.db").to_str().unwrap()],
        ),
        None,
    )
    .await;
    let sentence = assert_one_sentence_failure(&missing);
    assert!(sentence.contains("no database"), "{sentence}");
    assert!(
        std::fs::read_dir(empty.path()).unwrap().next().is_none(),
        "nothing was created"
    );

    let nowhere = run_async(
        kefu(
            app.data_dir(),
            &[],
            &["backup", "/nonexistent-kefu-dir/copy.db"],
        ),
        None,
    )
    .await;
    let sentence = assert_one_sentence_failure(&nowhere);
    assert!(sentence.contains("does not exist"), "{sentence}");
}

// ---------------------------------------------------------------------------------------------
// Doctor

const SECRET: &str = "doctor-app-secret-0123456789abcdef";

async fn fake_wechat() -> FakeWechat {
    FakeWechat::start(FakeConfig::new(APPID, SECRET))
        .await
        .expect("the fake WeChat API starts")
}

/// A data dir with a migrated database.
async fn migrated_dir() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    assert_ok(&run_async(kefu(dir.path(), &[], &["migrate"]), None).await);
    dir
}

/// A complete configuration against `fake`, with `extra` added or overriding.
fn doctor_env<'a>(api_base: &'a str, extra: &[(&'a str, &'a str)]) -> Vec<(&'a str, &'a str)> {
    let mut env = vec![
        ("KEFU_WECHAT_TOKEN", TOKEN),
        ("KEFU_WECHAT_AES_KEY", AES_KEY),
        ("KEFU_WECHAT_APPID", APPID),
        ("KEFU_WECHAT_SECRET", SECRET),
        ("KEFU_WECHAT_API_BASE", api_base),
        ("KEFU_PUBLIC_URL", "https://kefu.example.com"),
    ];
    for (k, v) in extra {
        env.retain(|(name, _)| name != k);
        env.push((k, v));
    }
    env
}

/// `kefu doctor`'s line for each check, by name; asserts one line per check, in order.
fn doctor_lines(run: &Run) -> BTreeMap<String, String> {
    let names: Vec<&str> = run
        .stdout
        .lines()
        .map(|l| l.split(':').next().unwrap_or_default())
        .collect();
    assert_eq!(
        names,
        ["configuration", "database", "disk", "wechat", "clock"],
        "{}",
        run.stdout
    );
    run.stdout
        .lines()
        .map(|l| {
            let (name, rest) = l.split_once(": ").unwrap();
            (name.to_owned(), rest.to_owned())
        })
        .collect()
}

fn assert_no_secret(run: &Run, secrets: &[&str]) {
    for secret in secrets {
        assert!(
            !run.stdout.contains(secret) && !run.stderr.contains(secret),
            "a secret was printed:\n{}\n{}",
            run.stdout,
            run.stderr
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn doctor_passes_a_good_installation_without_changing_anything_or_printing_a_secret() {
    let fake = fake_wechat().await;
    let dir = migrated_dir().await;
    let base = fake.base_url();
    let run = run_async(kefu(dir.path(), &doctor_env(&base, &[]), &["doctor"]), None).await;
    assert_ok(&run);
    let lines = doctor_lines(&run);
    for (name, line) in &lines {
        assert!(line.starts_with("ok"), "{name}: {line}");
    }
    assert!(lines["wechat"].contains("accepts the AppID and AppSecret"));
    assert!(lines["database"].contains("migrated, writable"));
    assert!(run.stderr.trim().is_empty(), "{}", run.stderr);
    assert_no_secret(&run, &[SECRET, TOKEN, AES_KEY]);
    // one stable_token request that leaves the current token valid; no classic token fetch
    let calls = fake.calls();
    assert_eq!(calls.len(), 1, "{calls:?}");
    assert_eq!(calls[0].path, "/cgi-bin/stable_token");
    assert_eq!(calls[0].body.as_ref().unwrap()["force_refresh"], false);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn doctor_says_when_wechat_refuses_the_app_secret_and_never_prints_it() {
    let fake = fake_wechat().await;
    let dir = migrated_dir().await;
    let base = fake.base_url();
    let wrong = "wrong-secret-fedcba9876543210";
    for errcode in [40001, 40125] {
        if errcode == 40125 {
            fake.answer_wrong_secret_with(40125, "invalid appsecret");
        }
        let env = doctor_env(&base, &[("KEFU_WECHAT_SECRET", wrong)]);
        let run = run_async(kefu(dir.path(), &env, &["doctor"]), None).await;
        let sentence = assert_one_sentence_failure(&run);
        assert!(sentence.contains("1 of 5"), "{sentence}");
        let lines = doctor_lines(&run);
        let wechat = &lines["wechat"];
        assert!(wechat.starts_with("not ok:"), "{wechat}");
        assert!(
            wechat.contains("AppSecret")
                && wechat.contains("KEFU_WECHAT_SECRET")
                && wechat.contains(&errcode.to_string()),
            "{wechat}"
        );
        for name in ["configuration", "database", "disk", "clock"] {
            assert!(lines[name].starts_with("ok"), "{name}: {}", lines[name]);
        }
        assert_no_secret(&run, &[wrong, SECRET, TOKEN, AES_KEY]);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn doctor_finds_a_missing_unmigrated_or_read_only_database_and_creates_none() {
    let fake = fake_wechat().await;
    let base = fake.base_url();

    let empty = tempfile::tempdir().unwrap();
    let run = run_async(
        kefu(empty.path(), &doctor_env(&base, &[]), &["doctor"]),
        None,
    )
    .await;
    assert_one_sentence_failure(&run);
    let database = &doctor_lines(&run)["database"];
    assert!(
        database.starts_with("not ok: there is no database"),
        "{database}"
    );
    assert!(!empty.path().join("kefu.db").exists(), "doctor created it");

    // a file that is not a migrated kefu database
    let blank = empty.path().join("blank.db");
    std::fs::write(&blank, b"").unwrap();
    let url = format!("sqlite://{}", blank.display());
    let env = doctor_env(&base, &[("KEFU_DATABASE_URL", &url)]);
    let run = run_async(kefu(empty.path(), &env, &["doctor"]), None).await;
    assert_one_sentence_failure(&run);
    let database = &doctor_lines(&run)["database"];
    assert!(
        database.contains("migrations are not applied") && database.contains("kefu migrate"),
        "{database}"
    );
    assert_eq!(
        std::fs::metadata(&blank).unwrap().len(),
        0,
        "left as it was"
    );

    // a database kefu cannot write to (opened read-only: the tests may run as root, for whom
    // file modes do not stop a write)
    let dir = migrated_dir().await;
    let url = format!("sqlite://{}/kefu.db?mode=ro", dir.path().display());
    let env = doctor_env(&base, &[("KEFU_DATABASE_URL", &url)]);
    let run = run_async(kefu(dir.path(), &env, &["doctor"]), None).await;
    assert!(assert_one_sentence_failure(&run).contains("1 of 5"));
    let database = &doctor_lines(&run)["database"];
    assert!(database.starts_with("not ok: cannot write"), "{database}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn doctor_reports_a_clock_ten_minutes_off_from_wechats() {
    let fake = fake_wechat().await;
    fake.set_clock_offset(-600);
    let dir = migrated_dir().await;
    let base = fake.base_url();
    let run = run_async(kefu(dir.path(), &doctor_env(&base, &[]), &["doctor"]), None).await;
    assert!(assert_one_sentence_failure(&run).contains("1 of 5"));
    let clock = &doctor_lines(&run)["clock"];
    assert!(
        clock.starts_with("not ok:") && clock.contains("ahead of WeChat's"),
        "{clock}"
    );
    assert!(clock.contains("every push is refused"), "{clock}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn doctor_reports_an_unreachable_wechat_api_and_missing_settings() {
    let dir = migrated_dir().await;
    // a port nothing listens on
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let base = format!("http://{}", closed.local_addr().unwrap());
    drop(closed);
    let env = doctor_env(
        &base,
        &[("KEFU_WECHAT_TOKEN", ""), ("KEFU_WECHAT_SECRET", "")],
    );
    let env: Vec<(&str, &str)> = env.into_iter().filter(|(_, v)| !v.is_empty()).collect();
    let run = run_async(kefu(dir.path(), &env, &["doctor"]), None).await;
    assert!(assert_one_sentence_failure(&run).contains("3 of 5"));
    let lines = doctor_lines(&run);
    let configuration = &lines["configuration"];
    assert!(
        configuration.contains("KEFU_WECHAT_TOKEN") && configuration.contains("KEFU_WECHAT_SECRET"),
        "{configuration}"
    );
    assert!(
        lines["wechat"].starts_with("not ok: cannot reach"),
        "{}",
        lines["wechat"]
    );
    assert!(lines["clock"].starts_with("not ok:"), "{}", lines["clock"]);
    assert!(lines["database"].starts_with("ok"));
}

// ---------------------------------------------------------------------------------------------
// API tokens

/// The rows of `kefu token list`: [id, label, created day, created time, last used...].
fn token_rows(list: &str) -> Vec<Vec<String>> {
    list.lines()
        .skip(1)
        .map(|l| l.split_whitespace().map(str::to_owned).collect())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_revoked_from_the_command_line_is_refused_by_the_running_server_at_once() {
    let app = TestApp::start().await;
    let (_, kept) = add_staff(&app, "carol", "Carol", Role::Agent).await;
    let d = app.data_dir();
    let created = run_async(
        kefu(d, &[], &["token", "create", "carol", "--label", "ci-robot"]),
        None,
    )
    .await;
    assert_ok(&created);
    let revoked = created.stdout.trim().to_owned();
    let status = |token: String| {
        let app = &app;
        async move {
            app.client
                .get(app.url("/api/v1/conversations"))
                .bearer_auth(token)
                .send()
                .await
                .expect("the API answers")
                .status()
        }
    };
    assert_eq!(status(revoked.clone()).await, StatusCode::OK);

    let list = run_async(kefu(d, &[], &["token", "list", "carol"]), None).await;
    assert_ok(&list);
    let header: Vec<&str> = list
        .stdout
        .lines()
        .next()
        .unwrap()
        .split_whitespace()
        .collect();
    assert_eq!(
        header,
        ["id", "label", "created", "last", "used"],
        "{}",
        list.stdout
    );
    let rows = token_rows(&list.stdout);
    assert_eq!(rows.len(), 2, "{}", list.stdout);
    assert_eq!(rows[0][1], "tests", "{}", list.stdout);
    assert_eq!(rows[0][4], "never", "{}", list.stdout);
    assert_eq!(rows[1][1], "ci-robot", "{}", list.stdout);
    assert_ne!(rows[1][4], "never", "it was just used: {}", list.stdout);
    let hash = kefu::services::accounts::token_hash(&revoked);
    for secret in [&revoked, &kept, &hash] {
        assert!(!list.stdout.contains(secret.as_str()), "{}", list.stdout);
    }

    let id = rows[1][0].clone();
    let revoke = run_async(kefu(d, &[], &["token", "revoke", &id]), None).await;
    assert_ok(&revoke);
    assert!(
        revoke.stdout.contains("ci-robot") && revoke.stdout.contains("carol"),
        "{}",
        revoke.stdout
    );
    // the very next request, on the server that was running all along
    assert_eq!(status(revoked.clone()).await, StatusCode::UNAUTHORIZED);
    assert_eq!(
        status(kept).await,
        StatusCode::OK,
        "the other token still works"
    );
    let rows = token_rows(
        &run_async(kefu(d, &[], &["token", "list", "carol"]), None)
            .await
            .stdout,
    );
    assert_eq!(rows.len(), 1);

    let again = run_async(kefu(d, &[], &["token", "revoke", &id]), None).await;
    let sentence = assert_one_sentence_failure(&again);
    assert!(
        sentence.contains(&format!("no API token with id {id}")),
        "{sentence}"
    );
    let nobody = run_async(kefu(d, &[], &["token", "list", "nobody"]), None).await;
    assert!(assert_one_sentence_failure(&nobody).contains("nobody"));
}

// ---------------------------------------------------------------------------------------------
// Deployment files

fn deploy_file(name: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("deploy")
        .join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The program, if it is installed (on PATH or in the sbin directories root has).
fn installed(program: &str) -> Option<std::path::PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(["/usr/sbin", "/sbin", "/usr/bin"].map(Into::into))
        .map(|dir| dir.join(program))
        .find(|p| p.is_file())
}

/// Runs a checker; a warning on stderr counts as a failure too when `quiet` is asked.
fn check_with(mut cmd: std::process::Command, what: &str, quiet: bool) {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("{what} does not start: {e}"));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success() && (!quiet || stderr.trim().is_empty()),
        "{what} failed ({}):\n{}\n{stderr}",
        out.status,
        String::from_utf8_lossy(&out.stdout)
    );
}

#[test]
fn the_systemd_unit_is_hardened_and_passes_systemd_analyze_verify() {
    let unit = deploy_file("kefu.service");
    for setting in [
        "User=kefu",
        "StateDirectory=kefu",
        "ProtectSystem=strict",
        "ProtectHome=yes",
        "NoNewPrivileges=yes",
        "PrivateTmp=yes",
        "PrivateDevices=yes",
        "CapabilityBoundingSet=\n",
        "RestrictAddressFamilies=AF_INET AF_INET6 AF_UNIX",
        "SystemCallFilter=@system-service",
        "MemoryDenyWriteExecute=yes",
        "UMask=0077",
        "KillSignal=SIGTERM",
    ] {
        assert!(unit.contains(setting), "the unit lacks {setting:?}");
    }
    let exec = unit
        .lines()
        .find(|l| l.starts_with("ExecStart="))
        .expect("an ExecStart");
    assert!(exec.ends_with(" serve"), "{exec}");

    // the settings file it reads holds only keys kefu knows, and the data dir is the unit's
    let example = deploy_file("kefu.toml").replace("the 43-character EncodingAESKey", AES_KEY);
    let dir = tempfile::tempdir().unwrap();
    let toml = dir.path().join("kefu.toml");
    std::fs::write(&toml, example).unwrap();
    let config = kefu::config::Config::from_sources(Some(&toml), |_| None)
        .unwrap_or_else(|e| panic!("deploy/kefu.toml: {e}"));
    assert_eq!(config.data_dir, Path::new("/var/lib/kefu"));
    assert!(unit.contains("--config /etc/kefu/kefu.toml serve"));

    let Some(analyze) = installed("systemd-analyze") else {
        eprintln!("note: systemd-analyze is not installed; deploy/kefu.service was not verified");
        return;
    };
    // verify insists that ExecStart's program exists: point it at the one just built
    let path = dir.path().join("kefu.service");
    std::fs::write(
        &path,
        unit.replace("/usr/local/bin/kefu", env!("CARGO_BIN_EXE_kefu")),
    )
    .unwrap();
    let mut cmd = std::process::Command::new(analyze);
    cmd.arg("verify").arg(&path);
    // verify exits 0 on unknown keys or bad values, so any word on stderr fails the test
    check_with(cmd, "systemd-analyze verify", true);
}

#[test]
fn the_nginx_and_caddy_examples_pass_their_own_checks_where_installed() {
    let nginx_conf = deploy_file("nginx.conf");
    for needed in [
        "proxy_set_header Upgrade $http_upgrade;",
        "location = /ws",
        "proxy_read_timeout 1h;",
        "client_max_body_size 11m;",
        "X-Forwarded-For",
        "location = /metrics",
    ] {
        assert!(nginx_conf.contains(needed), "nginx.conf lacks {needed:?}");
    }
    let caddyfile = deploy_file("Caddyfile");
    assert!(caddyfile.contains("max_size 11MB") && caddyfile.contains("respond /metrics 404"));

    match (installed("nginx"), installed("openssl")) {
        (Some(nginx), Some(openssl)) => {
            let dir = tempfile::tempdir().unwrap();
            let d = dir.path();
            // nginx -t reads the certificate: a throw-away self-signed one
            let mut req = std::process::Command::new(openssl);
            req.args([
                "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
            ])
            .args(["-subj", "/CN=kefu.example.com", "-keyout"])
            .arg(d.join("key.pem"))
            .arg("-out")
            .arg(d.join("cert.pem"));
            check_with(req, "openssl req", false);
            let site = nginx_conf
                .replace(
                    "/etc/letsencrypt/live/kefu.example.com/fullchain.pem",
                    &d.join("cert.pem").display().to_string(),
                )
                .replace(
                    "/etc/letsencrypt/live/kefu.example.com/privkey.pem",
                    &d.join("key.pem").display().to_string(),
                );
            std::fs::write(d.join("kefu.conf"), site).unwrap();
            std::fs::write(
                d.join("nginx.conf"),
                format!(
                    "pid {0}/nginx.pid;\nerror_log stderr;\nevents {{}}\nhttp {{\n  include {0}/kefu.conf;\n}}\n",
                    d.display()
                ),
            )
            .unwrap();
            let mut test = std::process::Command::new(nginx);
            test.arg("-t").arg("-c").arg(d.join("nginx.conf"));
            check_with(test, "nginx -t", false);
        }
        _ => {
            eprintln!("note: nginx or openssl is not installed; deploy/nginx.conf was not checked")
        }
    }
    match installed("caddy") {
        Some(caddy) => {
            let mut validate = std::process::Command::new(caddy);
            validate
                .args(["validate", "--adapter", "caddyfile", "--config"])
                .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy/Caddyfile"));
            check_with(validate, "caddy validate", false);
        }
        None => eprintln!("note: caddy is not installed; deploy/Caddyfile was not checked"),
    }
}
