//! `kefu doctor`: checks an installation the way an operator would, one line per check: the
//! configuration, the database (there, migrated, writable), free disk space in the data dir,
//! WeChat's API (reachable, the AppID and AppSecret accepted by its token endpoint) and this
//! machine's clock against WeChat's (the `Date` header of that same answer).
//!
//! It changes nothing: it never creates or migrates a database (the write probe is rolled
//! back), and it asks `stable_token` without `force_refresh`, which hands out the current
//! token and leaves the one a running kefu uses valid (`/cgi-bin/token` would replace it).
//! Secrets are never printed, not even in part.

use std::path::Path;
use std::time::{Duration, SystemTime};

use serde_json::{Value, json};

use crate::config::Config;
use crate::store::{MIGRATOR, backup, doctor as db};

/// Below this much free space in the data dir, the disk check fails.
pub const MIN_FREE_BYTES: u64 = 1024 * 1024 * 1024;
/// A clock further than this from WeChat's fails the clock check.
pub const MAX_CLOCK_SKEW_SECS: f64 = 30.0;
const WECHAT_TIMEOUT: Duration = Duration::from_secs(10);

/// One check: `Ok(detail)` when fine (the detail may be empty), `Err(what is wrong)`.
#[derive(Debug)]
pub struct Check {
    pub name: &'static str,
    pub outcome: Result<String, String>,
}

impl Check {
    fn ok(name: &'static str, detail: impl Into<String>) -> Check {
        Check {
            name,
            outcome: Ok(detail.into()),
        }
    }
    fn fail(name: &'static str, problem: impl Into<String>) -> Check {
        Check {
            name,
            outcome: Err(problem.into()),
        }
    }
    pub fn is_ok(&self) -> bool {
        self.outcome.is_ok()
    }
    /// `name: ok (detail)` or `name: not ok: what is wrong`.
    pub fn line(&self) -> String {
        match &self.outcome {
            Ok(detail) if detail.is_empty() => format!("{}: ok", self.name),
            Ok(detail) => format!("{}: ok ({detail})", self.name),
            Err(problem) => format!("{}: not ok: {problem}", self.name),
        }
    }
}

/// Runs every check, in the order they are printed.
pub async fn run(config: &Config) -> Vec<Check> {
    let (wechat, clock) = wechat_and_clock(config).await;
    vec![
        configuration(config),
        database(config).await,
        disk(&config.data_dir),
        wechat,
        clock,
    ]
}

fn configuration(config: &Config) -> Check {
    let w = &config.wechat;
    // what stops kefu from receiving or answering (the sentences kefu logs at start-up)
    let problems: Vec<&str> = config
        .missing_wechat()
        .into_iter()
        .filter(|m| !m.starts_with("KEFU_WECHAT_AES_KEY"))
        .collect();
    if !problems.is_empty() {
        return Check::fail("configuration", problems.join("; "));
    }
    let mut notes = vec![format!(
        "listening on {}, webhook {}",
        config.listen, config.webhook_path
    )];
    if w.aes_key.is_none() {
        notes.push(
            "KEFU_WECHAT_AES_KEY is not set, so only plaintext-mode pushes can be read".into(),
        );
    }
    match config.public_url.as_deref() {
        None => notes
            .push("KEFU_PUBLIC_URL is not set, so session cookies are not marked Secure".into()),
        Some(url) if !url.starts_with("https://") => notes.push(format!(
            "KEFU_PUBLIC_URL ({url}) is not https, and WeChat pushes only to https"
        )),
        Some(_) => {}
    }
    Check::ok("configuration", notes.join("; "))
}

async fn database(config: &Config) -> Check {
    const NAME: &str = "database";
    let file = match backup::database_file(&config.database_url) {
        Ok(f) => f,
        Err(e) => return Check::fail(NAME, e.to_string()),
    };
    let shown = file.display();
    if !file.is_file() {
        return Check::fail(
            NAME,
            format!(
                "there is no database at {shown}: start kefu or run `kefu migrate` to create it"
            ),
        );
    }
    let mut conn = match db::open_existing(&config.database_url).await {
        Ok(c) => c,
        Err(e) => return Check::fail(NAME, format!("cannot open {shown}: {}", db_error(&e))),
    };
    let applied = match db::applied_migrations(&mut conn).await {
        Ok(a) => a,
        Err(e) => {
            return Check::fail(NAME, format!("cannot read {shown}: {}", db_error(&e)));
        }
    };
    let known: Vec<i64> = MIGRATOR
        .iter()
        .filter(|m| m.migration_type.is_up_migration())
        .map(|m| m.version)
        .collect();
    if let Some((version, _)) = applied.iter().find(|(_, finished)| !finished) {
        return Check::fail(
            NAME,
            format!("migration {version} did not finish; kefu's log from its last start says why"),
        );
    }
    if let Some((version, _)) = applied.iter().find(|(v, _)| !known.contains(v)) {
        return Check::fail(
            NAME,
            format!(
                "{shown} was migrated by a newer kefu (migration {version} is unknown to this one)"
            ),
        );
    }
    let pending = known
        .iter()
        .filter(|v| !applied.iter().any(|(a, _)| a == *v))
        .count();
    if pending > 0 {
        return Check::fail(
            NAME,
            format!(
                "{pending} of {} migrations are not applied to {shown}: run `kefu migrate` (kefu serve applies them too)",
                known.len()
            ),
        );
    }
    if let Err(e) = db::probe_write(&mut conn).await {
        return Check::fail(NAME, format!("cannot write to {shown}: {}", db_error(&e)));
    }
    let messages = match db::count_messages(&mut conn).await {
        Ok(n) => n,
        Err(e) => return Check::fail(NAME, format!("cannot read {shown}: {}", db_error(&e))),
    };
    Check::ok(
        NAME,
        format!("{shown}, migrated, writable, {messages} messages"),
    )
}

/// SQLite's own words, without sqlx's wrapping.
fn db_error(e: &sqlx::Error) -> String {
    match e.as_database_error() {
        Some(d) => d.message().to_owned(),
        None => e.to_string(),
    }
}

fn disk(dir: &Path) -> Check {
    const NAME: &str = "disk";
    let shown = dir.display();
    if !dir.is_dir() {
        return Check::fail(
            NAME,
            format!("the data dir {shown} (KEFU_DATA_DIR) does not exist"),
        );
    }
    // kefu writes images there
    let probe = dir.join(".kefu-doctor-probe");
    if let Err(e) = std::fs::write(&probe, b"ok").and_then(|()| std::fs::remove_file(&probe)) {
        return Check::fail(NAME, format!("cannot write in the data dir {shown}: {e}"));
    }
    let free = match rustix::fs::statvfs(dir) {
        Ok(s) => s.f_bavail.saturating_mul(s.f_frsize),
        Err(e) => return Check::fail(NAME, format!("cannot tell the free space in {shown}: {e}")),
    };
    if free < MIN_FREE_BYTES {
        return Check::fail(
            NAME,
            format!(
                "only {} free in {shown}; kefu needs room for the database and images (at least {})",
                size(free),
                size(MIN_FREE_BYTES)
            ),
        );
    }
    Check::ok(NAME, format!("{} free in {shown}", size(free)))
}

fn size(bytes: u64) -> String {
    const MIB: f64 = 1024.0 * 1024.0;
    let mib = bytes as f64 / MIB;
    if mib >= 1024.0 {
        format!("{:.1} GiB", mib / 1024.0)
    } else {
        format!("{mib:.0} MiB")
    }
}

/// One token request answers both: whether WeChat takes the credentials, and (from its
/// `Date` header) how far apart the clocks are.
async fn wechat_and_clock(config: &Config) -> (Check, Check) {
    const NAME: &str = "wechat";
    let base = config.wechat.api_base.trim_end_matches('/');
    let client = match reqwest::Client::builder()
        .connect_timeout(Duration::from_secs(5))
        .timeout(WECHAT_TIMEOUT)
        .build()
    {
        Ok(c) => c,
        Err(e) => {
            let problem = format!("cannot make an HTTP client: {e}");
            return (
                Check::fail(NAME, problem.clone()),
                Check::fail("clock", problem),
            );
        }
    };
    let credentials = config
        .wechat
        .appid
        .as_deref()
        .zip(config.wechat.secret.as_ref());
    let request = match credentials {
        Some((appid, secret)) => client
            .post(format!("{base}/cgi-bin/stable_token"))
            .json(&json!({
                "grant_type": "client_credential",
                "appid": appid,
                "secret": secret.expose(),
                "force_refresh": false,
            })),
        // nothing to ask for a token with; any answer still tells the time
        None => client.get(format!("{base}/cgi-bin/stable_token")),
    };
    let sent = SystemTime::now();
    let response = match request.send().await {
        Ok(r) => r,
        Err(e) => {
            let problem = format!("cannot reach WeChat's API at {base}: {}", transport(&e));
            return (
                Check::fail(NAME, problem),
                Check::fail("clock", "not compared: WeChat's API did not answer"),
            );
        }
    };
    let received = SystemTime::now();
    let clock = clock(
        response
            .headers()
            .get(reqwest::header::DATE)
            .and_then(|v| v.to_str().ok()),
        sent,
        received,
        config.webhook_max_age,
    );
    if credentials.is_none() {
        return (
            Check::fail(
                NAME,
                "not asked: KEFU_WECHAT_APPID and KEFU_WECHAT_SECRET are needed to ask WeChat for a token",
            ),
            clock,
        );
    }
    let status = response.status();
    if !status.is_success() {
        return (
            Check::fail(
                NAME,
                format!(
                    "{base} answered HTTP {}; KEFU_WECHAT_API_BASE should be WeChat's API, https://api.weixin.qq.com",
                    status.as_u16()
                ),
            ),
            clock,
        );
    }
    let answer: Value = match response.bytes().await {
        Ok(body) => serde_json::from_slice(&body).unwrap_or(Value::Null),
        Err(e) => {
            return (
                Check::fail(
                    NAME,
                    format!("{base} did not answer in full: {}", transport(&e)),
                ),
                clock,
            );
        }
    };
    let wechat = if answer.get("access_token").and_then(Value::as_str).is_some() {
        Check::ok(NAME, format!("{base} accepts the AppID and AppSecret"))
    } else {
        Check::fail(NAME, refusal(&answer, base))
    };
    (wechat, clock)
}

/// WeChat's answer to a token request that gave no token, as a sentence to act on.
fn refusal(answer: &Value, base: &str) -> String {
    let Some(code) = answer.get("errcode").and_then(Value::as_i64) else {
        return format!(
            "{base} did not answer as WeChat's API does; KEFU_WECHAT_API_BASE should be https://api.weixin.qq.com"
        );
    };
    let errmsg: String = answer
        .get("errmsg")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .chars()
        .take(160)
        .collect();
    match code {
        40001 | 40125 => format!(
            "WeChat refused the AppSecret ({code}): check KEFU_WECHAT_SECRET against the AppSecret in the mini program's console (开发管理 → 开发设置)"
        ),
        40013 => format!("WeChat does not know the AppID ({code}): check KEFU_WECHAT_APPID"),
        40164 | 61004 => format!(
            "WeChat refused this server's IP address ({code}: {errmsg}): add it to the IP allow-list (IP白名单) in 开发管理 → 开发设置"
        ),
        -1 => "WeChat is busy (-1); try again in a moment".to_owned(),
        _ => format!("WeChat refused the token request ({code}: {errmsg})"),
    }
}

fn transport(e: &reqwest::Error) -> String {
    if e.is_timeout() {
        return format!("no answer within {} s", WECHAT_TIMEOUT.as_secs());
    }
    // the innermost cause says it best ("Connection refused", "failed to lookup address")
    let mut cause: &dyn std::error::Error = e;
    while let Some(next) = cause.source() {
        cause = next;
    }
    cause.to_string()
}

/// Compares this machine's clock with the `Date` of an answer received between `sent` and
/// `received`. The header counts whole seconds, so half a second plus half the round trip
/// is within measuring error.
fn clock(date: Option<&str>, sent: SystemTime, received: SystemTime, max_age: u64) -> Check {
    const NAME: &str = "clock";
    let Some(theirs) = date.and_then(|d| httpdate::parse_http_date(d).ok()) else {
        return Check::fail(NAME, "not compared: WeChat's answer had no Date header");
    };
    let seconds = |t: SystemTime| {
        t.duration_since(SystemTime::UNIX_EPOCH)
            .map_or(0.0, |d| d.as_secs_f64())
    };
    let round_trip = seconds(received) - seconds(sent);
    let ours = seconds(sent) + round_trip / 2.0;
    // the header's second began at `theirs`: its middle is the best guess
    let skew = ours - (seconds(theirs) + 0.5);
    let error = 0.5 + round_trip / 2.0;
    if skew.abs() <= MAX_CLOCK_SKEW_SECS.max(error) {
        return Check::ok(
            NAME,
            format!("within {:.0} s of WeChat's", skew.abs().max(error).ceil()),
        );
    }
    let way = if skew > 0.0 { "ahead of" } else { "behind" };
    let consequence = if max_age == 0 {
        "the replay check is off (KEFU_WEBHOOK_MAX_AGE=0), but signatures and logs still carry the wrong time".to_owned()
    } else if skew.abs() > max_age as f64 {
        format!("every push is refused as a replay (KEFU_WEBHOOK_MAX_AGE is {max_age} s)")
    } else {
        format!("pushes are refused once it passes KEFU_WEBHOOK_MAX_AGE ({max_age} s)")
    };
    Check::fail(
        NAME,
        format!(
            "this machine's clock is {:.0} s {way} WeChat's, and {consequence}; set up time sync (chrony or systemd-timesyncd)",
            skew.abs()
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(secs: u64) -> SystemTime {
        SystemTime::UNIX_EPOCH + Duration::from_secs(secs)
    }

    #[test]
    fn a_clock_within_the_measuring_error_is_ok_and_a_far_one_says_which_way() {
        let date = httpdate::fmt_http_date(at(1_800_000_000));
        assert!(clock(Some(&date), at(1_800_000_000), at(1_800_000_001), 300).is_ok());
        let ahead = clock(Some(&date), at(1_800_000_100), at(1_800_000_100), 300);
        let line = ahead.line();
        assert!(line.starts_with("clock: not ok:"), "{line}");
        assert!(line.contains("s ahead of WeChat's"), "{line}");
        let behind = clock(Some(&date), at(1_799_999_000), at(1_799_999_000), 300);
        assert!(
            behind.line().contains("s behind WeChat's"),
            "{}",
            behind.line()
        );
        assert!(
            behind.line().contains("every push is refused"),
            "{}",
            behind.line()
        );
        assert!(!clock(None, at(0), at(0), 300).is_ok());
    }

    #[test]
    fn refusals_name_what_to_fix() {
        let wrong = refusal(
            &json!({"errcode": 40125, "errmsg": "invalid appsecret"}),
            "b",
        );
        assert!(wrong.contains("KEFU_WECHAT_SECRET"), "{wrong}");
        let ip = refusal(
            &json!({"errcode": 40164, "errmsg": "invalid ip 1.2.3.4, not in whitelist"}),
            "b",
        );
        assert!(ip.contains("1.2.3.4") && ip.contains("allow-list"), "{ip}");
        assert!(refusal(&json!({"errcode": 40013}), "b").contains("KEFU_WECHAT_APPID"));
        assert!(refusal(&json!({"hello": 1}), "b").contains("KEFU_WECHAT_API_BASE"));
    }
}
