//! What an operator does around a running kefu: `kefu backup` (and serving from the copy),
//! `kefu doctor`, `kefu token list` / `revoke`, and the deployment files in `deploy/`.

use std::path::Path;
use std::sync::{Arc, Mutex};

use kefu::wechat::push::Format;
use kefu::wechat::simulate::{self, SimulatedKind};
use serde_json::Value;

use crate::cli::{assert_ok, assert_one_sentence_failure, kefu, run_async};
use crate::helpers::{Mode, TestApp, assert_success, id_of, now};

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
