//! Canned replies, from the JSON API and the `/canned` page alike: anyone manages their own
//! personal replies, only admins manage the shared ones, and nobody sees another's personal
//! ones (not found, as if they did not exist). Every change is audited in its own
//! transaction. A refusal is an `AppError` whose sentence is in `lang`, the language of
//! whoever asked.

use super::Staff;
use crate::domain::now_millis;
use crate::error::{AppError, AppResult};
use crate::i18n::{CannedText, Lang};
use crate::store::Store;
use crate::store::audit;
use crate::store::canned::{self, CannedError, CannedRow};

pub const MAX_SHORTCUT_CHARS: usize = 32;
pub const MAX_BODY_CHARS: usize = 2000;

/// A canned reply as submitted, not yet checked.
#[derive(Debug, Clone, Default)]
pub struct Input {
    pub shortcut: String,
    pub body: String,
    pub shared: bool,
}

/// What is wrong with a submitted canned reply.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Invalid {
    ShortcutRequired,
    ShortcutTooLong,
    ShortcutCharacters,
    BodyRequired,
    BodyTooLong,
}

impl Invalid {
    fn message(self, c: &CannedText) -> &'static str {
        match self {
            Invalid::ShortcutRequired => c.shortcut_required,
            Invalid::ShortcutTooLong => c.shortcut_too_long,
            Invalid::ShortcutCharacters => c.shortcut_characters,
            Invalid::BodyRequired => c.body_required,
            Invalid::BodyTooLong => c.body_too_long,
        }
    }
}

/// The shortcut and body as they are stored: the shortcut without surrounding space or the
/// `/` people type before it; the body without surrounding space and with the browser's CRLF
/// line ends made LF, so a reply reads the same whichever way it was entered.
pub fn check(shortcut: &str, body: &str) -> Result<(String, String), Invalid> {
    let shortcut = shortcut.trim();
    let shortcut = shortcut.strip_prefix('/').unwrap_or(shortcut);
    if shortcut.is_empty() {
        return Err(Invalid::ShortcutRequired);
    }
    if shortcut.chars().count() > MAX_SHORTCUT_CHARS {
        return Err(Invalid::ShortcutTooLong);
    }
    // letters of any script (so 营业时间 as well as hours), ASCII digits, - and _: what can
    // follow a `/` in the reply box without being mistaken for the end of the word
    if !shortcut
        .chars()
        .all(|c| c.is_alphabetic() || c.is_ascii_digit() || c == '-' || c == '_')
    {
        return Err(Invalid::ShortcutCharacters);
    }
    let body = body.replace("\r\n", "\n");
    let body = body.trim();
    if body.is_empty() {
        return Err(Invalid::BodyRequired);
    }
    if body.chars().count() > MAX_BODY_CHARS {
        return Err(Invalid::BodyTooLong);
    }
    Ok((shortcut.to_owned(), body.to_owned()))
}

impl Invalid {
    fn refusal(self, c: &CannedText) -> AppError {
        AppError::Invalid(self.message(c).to_owned())
    }
}

/// The sentence for a reply that does not exist, or that is not the caller's to see.
pub fn not_found(c: &CannedText) -> AppError {
    AppError::NotFound(c.not_found.to_owned())
}

/// A store error as the refusal it is (a taken shortcut), or a failure of kefu's own.
fn stored(e: CannedError, c: &CannedText) -> AppError {
    match e {
        CannedError::Duplicate(s) => AppError::Conflict(c.shortcut_taken.replace("{shortcut}", &s)),
        CannedError::Db(e) => e.into(),
    }
}

/// Whether `user` may see `row` at all: shared ones and their own.
fn visible(row: &CannedRow, user: &Staff) -> bool {
    row.owner_id.is_none_or(|owner| owner == user.id)
}

/// Shared replies are the admins'; checked before the input, so an agent learns "not
/// allowed" rather than how to make the request valid.
fn may_share(user: &Staff, c: &CannedText) -> AppResult<()> {
    if user.is_admin() {
        Ok(())
    } else {
        Err(AppError::Forbidden(c.shared_admins_only.to_owned()))
    }
}

fn audit_detail(row: &CannedRow) -> String {
    let kind = if row.is_shared() {
        "shared"
    } else {
        "personal"
    };
    format!("/{} ({kind})", row.shortcut)
}

/// Creates a canned reply (`canned.create`): personal, or shared (admins only).
pub async fn create(store: &Store, user: &Staff, input: Input, lang: Lang) -> AppResult<CannedRow> {
    let c = lang.canned();
    if input.shared {
        may_share(user, c)?;
    }
    let (shortcut, body) = check(&input.shortcut, &input.body).map_err(|i| i.refusal(c))?;
    let owner = (!input.shared).then_some(user.id);
    let now = now_millis();
    let mut tx = store.begin_write().await?;
    let id = canned::create(&mut tx, owner, &shortcut, &body, now)
        .await
        .map_err(|e| stored(e, c))?;
    let row = canned::get(&mut *tx, id)
        .await?
        .ok_or_else(|| not_found(c))?;
    audit::record(
        &mut tx,
        &user.actor(),
        "canned.create",
        &format!("canned reply {id}"),
        Some(&audit_detail(&row)),
        now,
    )
    .await?;
    tx.commit().await?;
    Ok(row)
}

/// The reply `id` as it stands in `tx`, if `user` may change it.
async fn changeable(
    tx: &mut sqlx::SqliteConnection,
    user: &Staff,
    id: i64,
    c: &CannedText,
) -> AppResult<CannedRow> {
    let row = canned::get(&mut *tx, id)
        .await?
        .filter(|r| visible(r, user))
        .ok_or_else(|| not_found(c))?;
    if row.is_shared() {
        may_share(user, c)?;
    }
    Ok(row)
}

/// Replaces the reply whole (`canned.update`); `shared` moves it between the team and its
/// editor (admins only).
pub async fn update(
    store: &Store,
    user: &Staff,
    id: i64,
    input: Input,
    lang: Lang,
) -> AppResult<CannedRow> {
    let c = lang.canned();
    let now = now_millis();
    // read and write in one write transaction, so the permission checked is the one written
    let mut tx = store.begin_write().await?;
    changeable(&mut tx, user, id, c).await?;
    if input.shared {
        may_share(user, c)?;
    }
    let (shortcut, body) = check(&input.shortcut, &input.body).map_err(|i| i.refusal(c))?;
    let owner = (!input.shared).then_some(user.id);
    let updated = canned::update(&mut tx, id, owner, &shortcut, &body, now)
        .await
        .map_err(|e| stored(e, c))?;
    if !updated {
        return Err(not_found(c));
    }
    let row = canned::get(&mut *tx, id)
        .await?
        .ok_or_else(|| not_found(c))?;
    audit::record(
        &mut tx,
        &user.actor(),
        "canned.update",
        &format!("canned reply {id}"),
        Some(&audit_detail(&row)),
        now,
    )
    .await?;
    tx.commit().await?;
    Ok(row)
}

/// Deletes a canned reply (`canned.delete`).
pub async fn remove(store: &Store, user: &Staff, id: i64, lang: Lang) -> AppResult<()> {
    let c = lang.canned();
    let now = now_millis();
    let mut tx = store.begin_write().await?;
    let row = changeable(&mut tx, user, id, c).await?;
    if !canned::delete(&mut tx, id).await? {
        return Err(not_found(c));
    }
    audit::record(
        &mut tx,
        &user.actor(),
        "canned.delete",
        &format!("canned reply {id}"),
        Some(&audit_detail(&row)),
        now,
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_shortcut_is_a_word_of_letters_digits_dashes_and_underscores_in_any_script() {
        for ok in ["hours", "营业时间", "ship-2", "a_b", "/refund", "  退款  "] {
            assert!(check(ok, "text").is_ok(), "{ok:?}");
        }
        assert_eq!(check("/refund", "x").unwrap().0, "refund");
        assert_eq!(check("  退款 ", "x").unwrap().0, "退款");
        for bad in ["a b", "hi!", "a/b", "，", "tab\tbed", "emoji😀", "x.y"] {
            assert_eq!(
                check(bad, "text"),
                Err(Invalid::ShortcutCharacters),
                "{bad:?}"
            );
        }
        assert_eq!(check("", "text"), Err(Invalid::ShortcutRequired));
        assert_eq!(check(" / ", "text"), Err(Invalid::ShortcutRequired));
        assert_eq!(check("//x", "text"), Err(Invalid::ShortcutCharacters));
        assert_eq!(check("/", "text"), Err(Invalid::ShortcutRequired));
        let longest = "字".repeat(MAX_SHORTCUT_CHARS);
        assert!(check(&longest, "text").is_ok(), "counted in characters");
        assert_eq!(
            check(&format!("{longest}x"), "text"),
            Err(Invalid::ShortcutTooLong)
        );
    }

    #[test]
    fn a_body_is_trimmed_kept_with_its_lines_and_limited_in_characters() {
        assert_eq!(
            check("a", "  line one\r\nline two\n ").unwrap().1,
            "line one\nline two"
        );
        assert_eq!(check("a", " \r\n "), Err(Invalid::BodyRequired));
        let longest = "好".repeat(MAX_BODY_CHARS);
        assert!(check("a", &longest).is_ok());
        assert_eq!(
            check("a", &format!("{longest}!")),
            Err(Invalid::BodyTooLong)
        );
    }

    #[test]
    fn the_limits_in_the_sentences_are_the_limits_enforced() {
        for c in [Lang::Zh.canned(), Lang::En.canned()] {
            assert!(
                c.shortcut_too_long
                    .contains(&MAX_SHORTCUT_CHARS.to_string())
            );
            assert!(c.shortcut_hint.contains(&MAX_SHORTCUT_CHARS.to_string()));
            assert!(c.body_too_long.contains(&MAX_BODY_CHARS.to_string()));
            assert!(c.shortcut_taken.contains("{shortcut}"));
        }
    }
}
