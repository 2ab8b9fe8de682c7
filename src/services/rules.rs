//! The bot's auto-reply rules as admins keep them: a rule checked field by field (its reply
//! as `services::replies` checks any reply), then created, replaced, switched on or off,
//! moved up or down the order, or deleted. The JSON API and the admin console come here, so a
//! rule is refused in the same words wherever it is typed, in the language of whoever typed it.
//!
//! Every change (`apply`) takes the rules lock, so the matcher in use is always the latest
//! one committed; is made in one transaction with its audit entry; and recompiles the matcher
//! from the rules as they would be, committing only when that succeeds (a rule set too large
//! as a whole is refused and nothing is saved). Only admins change rules; anyone signed in
//! may read them and try a text (`try_text`).

use super::Staff;
use super::replies::{self, ReplyDraft};
use crate::automation::rules::{
    self as matcher, KeywordProblem, MatchKind, RegexProblem, RegexSyntax, RuleError,
};
use crate::automation::{Action, Automation, Compiled, Outcome};
use crate::domain::{MessageContent, now_millis};
use crate::error::{AppError, AppResult};
use crate::i18n::{Lang, RequestText, fill};
use crate::store::Store;
use crate::store::audit;
use crate::store::rules::{self as rule_store, RuleFields, RuleMedia, RuleRow};

/// Longest rule name, in characters.
pub const MAX_NAME: usize = 100;
/// Priorities stay within ± this.
pub const MAX_PRIORITY: i64 = 1_000_000;

/// Refuses anyone but an admin (a handler may ask before it reads a body, so that an agent
/// learns "not allowed" rather than how to make the request valid).
pub fn require_admin(staff: &Staff) -> AppResult<()> {
    require_admin_in(staff, super::staff_lang(staff))
}

/// `require_admin`, said in `lang`.
pub fn require_admin_in(staff: &Staff, lang: Lang) -> AppResult<()> {
    if staff.is_admin() {
        Ok(())
    } else {
        Err(AppError::Forbidden(
            lang.refusal().admins_only_rules.to_owned(),
        ))
    }
}

/// A rule as submitted (the API's body, the console's form), not yet checked.
#[derive(Debug)]
pub struct RuleDraft {
    pub name: String,
    /// None: on
    pub enabled: Option<bool>,
    /// None: 0
    pub priority: Option<i64>,
    /// exact, contains or regex
    pub match_kind: String,
    pub keywords: Vec<String>,
    /// reply, handoff or transfer_wechat
    pub action: String,
    pub reply: Option<ReplyDraft>,
    /// an image kefu keeps (the console's upload) for an image reply, or a card's cover,
    /// instead of a media_id; None: the reply names its media_id
    pub media: Option<RuleMedia>,
    /// the channel it is for, already looked up by name (None: every channel)
    pub channel: Option<i64>,
}

/// A rule checked field by field, ready to save.
#[derive(Debug, Clone)]
pub struct RuleInput {
    pub name: String,
    pub enabled: bool,
    pub priority: i64,
    pub kind: MatchKind,
    pub keywords: Vec<String>,
    pub action: Action,
    pub reply: Option<MessageContent>,
    /// kept only for an image reply or a card
    pub media: Option<RuleMedia>,
    /// None: every channel
    pub channel: Option<i64>,
}

/// Checks a rule; every sentence names the field, in `lang`. `appid` is this mini program's
/// own (a card or a mini program link in the reply must be for it).
pub fn check(appid: Option<&str>, draft: RuleDraft, lang: Lang) -> AppResult<RuleInput> {
    let r = lang.request();
    let bad = |s: &str| AppError::Invalid(s.to_owned());
    let name = draft.name.trim();
    if name.is_empty() {
        return Err(AppError::Invalid(fill(
            r.field_required,
            &[("field", "name")],
        )));
    }
    if name.chars().count() > MAX_NAME || name.chars().any(char::is_control) {
        let max = MAX_NAME.to_string();
        return Err(AppError::Invalid(fill(
            r.field_text,
            &[("field", "name"), ("max", &max)],
        )));
    }
    let priority = draft.priority.unwrap_or(0);
    check_priority(priority, r)?;
    let kind = MatchKind::parse(&draft.match_kind)
        .ok_or_else(|| AppError::Invalid(r.choice("match", &["exact", "contains", "regex"])))?;
    matcher::validate(kind, &draft.keywords)
        .map_err(|p| AppError::Invalid(keyword_sentence(&p, lang)))?;
    let action = Action::parse(&draft.action).ok_or_else(|| {
        AppError::Invalid(r.choice("action", &["reply", "handoff", "transfer_wechat"]))
    })?;
    // an image kefu keeps stands for the media_id of an image or a card's cover
    let mut media = draft.media;
    let mut reply_draft = draft.reply;
    match (&mut reply_draft, &media) {
        (Some(ReplyDraft::Image(i)), Some(_)) if i.media_id.trim().is_empty() => {
            i.media_id = UPLOADED.into();
        }
        (Some(ReplyDraft::MiniProgramPage(c)), Some(_)) if c.thumb_media_id.trim().is_empty() => {
            c.thumb_media_id = UPLOADED.into();
        }
        // a media_id typed wins over a kept image; other replies have no image
        _ => media = None,
    }
    let reply = match reply_draft {
        None => None,
        Some(ReplyDraft::Note(_)) => return Err(bad(r.rule_note)),
        Some(input) => {
            let mut content = replies::check(appid, input, "reply", lang)?.content;
            if media.is_some() {
                match &mut content {
                    MessageContent::Image(i) => i.media_id = None,
                    MessageContent::MiniProgramPage(c) => c.thumb_media_id = None,
                    _ => {}
                }
            }
            Some(content)
        }
    };
    match (action, &reply) {
        (Action::Reply, None) => return Err(bad(r.rule_needs_reply)),
        (Action::TransferWechat, Some(_)) => return Err(bad(r.rule_transfer_reply)),
        _ => {}
    }
    Ok(RuleInput {
        name: name.to_owned(),
        enabled: draft.enabled.unwrap_or(true),
        priority,
        kind,
        keywords: draft.keywords.iter().map(|k| k.trim().to_owned()).collect(),
        action,
        reply,
        media,
        channel: draft.channel,
    })
}

/// What stands for a kept image's media_id while the reply is checked.
const UPLOADED: &str = "kefu-upload";

fn check_priority(priority: i64, r: &RequestText) -> AppResult<()> {
    // not `priority.abs()`: i64::MIN has no absolute value (a panic in a debug build, and in a
    // release build it stays negative and passed; found by fuzzing)
    if !(-MAX_PRIORITY..=MAX_PRIORITY).contains(&priority) {
        let (min, max) = ((-MAX_PRIORITY).to_string(), MAX_PRIORITY.to_string());
        return Err(AppError::Invalid(fill(
            r.field_range,
            &[("field", "priority"), ("min", &min), ("max", &max)],
        )));
    }
    Ok(())
}

/// What is wrong with a rule's keywords, in the staff member's language.
pub fn keyword_sentence(p: &KeywordProblem, lang: Lang) -> String {
    let r = lang.request();
    let max_keywords = matcher::MAX_KEYWORDS.to_string();
    let max_chars = matcher::MAX_KEYWORD_CHARS.to_string();
    match p {
        KeywordProblem::NoKeywords => r.keywords_none.to_owned(),
        KeywordProblem::TooMany(count) => fill(
            r.keywords_too_many,
            &[("max", &max_keywords), ("count", &count.to_string())],
        ),
        KeywordProblem::TooLong(k) => {
            fill(r.keyword_too_long, &[("keyword", k), ("max", &max_chars)])
        }
        KeywordProblem::Empty => r.keyword_empty.to_owned(),
        KeywordProblem::OnlyNoise(k) => fill(r.keyword_noise, &[("keyword", k)]),
        KeywordProblem::EmptyRegex => r.regex_empty.to_owned(),
        KeywordProblem::Regex(pattern, reason) => fill(
            r.regex_refused,
            &[
                ("pattern", pattern),
                ("reason", &regex_sentence(reason, lang)),
            ],
        ),
    }
}

fn regex_sentence(p: &RegexProblem, lang: Lang) -> String {
    let r = lang.request();
    match p {
        RegexProblem::Syntax { kind, at, .. } => regex_syntax_sentence(*kind, *at, lang),
        RegexProblem::TooLarge { mib } => fill(r.regex_too_large, &[("mib", &mib.to_string())]),
    }
}

/// What is wrong with a regex's syntax, in the staff member's words rather than the regex
/// parser's English: the problem and the character it is at.
fn regex_syntax_sentence(kind: RegexSyntax, at: usize, lang: Lang) -> String {
    let t = lang.refusal();
    let problem = match kind {
        RegexSyntax::GroupUnclosed => t.regex_group_unclosed,
        RegexSyntax::GroupUnopened => t.regex_group_unopened,
        RegexSyntax::ClassUnclosed => t.regex_class_unclosed,
        RegexSyntax::ClassRange => t.regex_class_range,
        RegexSyntax::Repetition => t.regex_repetition,
        RegexSyntax::Escape => t.regex_escape,
        RegexSyntax::Backreference => t.regex_backreference,
        RegexSyntax::LookAround => t.regex_look_around,
        RegexSyntax::GroupName => t.regex_group_name,
        RegexSyntax::Flag => t.regex_flag,
        RegexSyntax::Unicode => t.regex_unicode,
        RegexSyntax::TooDeep => t.regex_too_deep,
        RegexSyntax::Other => t.regex_other,
    };
    fill(
        t.regex_at,
        &[("at", &at.max(1).to_string()), ("problem", problem)],
    )
}

/// Why the rules together do not compile, in the staff member's language.
fn rules_sentence(e: &RuleError, lang: Lang) -> String {
    let r = lang.request();
    let reason = match e {
        RuleError::Regex {
            rule,
            pattern,
            reason,
        } => fill(
            r.rules_regex,
            &[
                ("rule", &rule.to_string()),
                ("pattern", pattern),
                ("reason", &regex_sentence(reason, lang)),
            ],
        ),
        RuleError::RegexesTooLarge => fill(
            r.rules_too_large,
            &[("mib", &(matcher::REGEXES_MEMORY_LIMIT >> 20).to_string())],
        ),
        RuleError::Keywords(e) => fill(r.rules_keywords, &[("reason", &e.to_string())]),
    };
    fill(r.rules_refused, &[("reason", &reason)])
}

/// Creates (`id` None, `rule.create`) or replaces (`rule.update`) a rule; returns it as saved.
pub async fn save(
    store: &Store,
    automation: &Automation,
    by: &Staff,
    id: Option<i64>,
    input: &RuleInput,
    lang: Lang,
) -> AppResult<RuleRow> {
    require_admin(by)?;
    if let Some(channel) = input.channel {
        let mut conn = store.pool().acquire().await?;
        if crate::store::channels::by_id_in(&mut conn, channel)
            .await?
            .is_none()
        {
            return Err(AppError::Invalid(format!("there is no channel {channel}")));
        }
    }
    let fields = RuleFields {
        name: &input.name,
        enabled: input.enabled,
        priority: input.priority,
        match_kind: input.kind,
        keywords: &input.keywords,
        action: input.action,
        reply: input.reply.as_ref(),
        channel_id: input.channel,
    };
    let media = input.media.as_ref();
    let change = match id {
        Some(id) => RuleChange::Update(id, fields, media),
        None => RuleChange::Create(fields, media),
    };
    apply(store, automation, by, change, lang).await
}

/// Deletes a rule (`rule.delete`): it goes to the trash, from which `restore` takes it back
/// (the newest `store::rules::TRASH_KEEPS` deleted rules are kept).
pub async fn delete(
    store: &Store,
    automation: &Automation,
    by: &Staff,
    id: i64,
    lang: Lang,
) -> AppResult<()> {
    apply(store, automation, by, RuleChange::Delete(id), lang)
        .await
        .map(|_| ())
}

/// Takes a deleted rule out of the trash as it was, at its place and on or off as it was
/// (`rule.restore`); returns it.
pub async fn restore(
    store: &Store,
    automation: &Automation,
    by: &Staff,
    id: i64,
    lang: Lang,
) -> AppResult<RuleRow> {
    apply(store, automation, by, RuleChange::Restore(id), lang).await
}

/// Switches a rule on if it is off, off if it is on (`rule.adjust`); returns it as it is now.
pub async fn switch(
    store: &Store,
    automation: &Automation,
    by: &Staff,
    id: i64,
    lang: Lang,
) -> AppResult<RuleRow> {
    apply(store, automation, by, RuleChange::Switch(id), lang).await
}

/// Which way a rule moves in the order rules are considered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    Up,
    Down,
}

/// Moves a rule one place up or down the order rules are considered in (`rule.adjust`): one
/// above the priority of the rule above it, or one below the rule below it. (Among rules of
/// equal priority the older comes first, so a move can pass several of them at once;
/// renumbering them all instead would rewrite rules the admin did not touch.) The first
/// cannot go up, nor the last down: that is nothing to do, and nothing is recorded.
pub async fn move_rule(
    store: &Store,
    automation: &Automation,
    by: &Staff,
    id: i64,
    direction: Direction,
    lang: Lang,
) -> AppResult<RuleRow> {
    apply(store, automation, by, RuleChange::Move(id, direction), lang).await
}

/// One change to the rules.
enum RuleChange<'a> {
    Create(RuleFields<'a>, Option<&'a RuleMedia>),
    Update(i64, RuleFields<'a>, Option<&'a RuleMedia>),
    Delete(i64),
    Restore(i64),
    Switch(i64),
    Move(i64, Direction),
}

/// Applies a change in one transaction with its audit entry and a recompile that must
/// succeed before anything is committed; returns the changed rule (a deleted one as it was).
/// What a switch or a move does is read in that transaction, under the rules lock, so it is
/// what is changed.
async fn apply(
    store: &Store,
    automation: &Automation,
    by: &Staff,
    change: RuleChange<'_>,
    lang: Lang,
) -> AppResult<RuleRow> {
    require_admin(by)?;
    // one change at a time, so the matcher in use is always the latest one committed
    let _guard = automation.rules_lock().await;
    let now = now_millis();
    let missing =
        |id: i64| AppError::NotFound(fill(lang.refusal().no_rule, &[("id", &id.to_string())]));
    let mut tx = store.begin_write().await?;
    // (the rule, what happened, the audit detail, the rule as it was if it is gone)
    let (id, action, detail, deleted) = match &change {
        RuleChange::Create(f, media) => {
            let id = rule_store::create(&mut tx, f, now).await?;
            rule_store::set_media(&mut tx, id, *media).await?;
            (
                id,
                "rule.create",
                format!("{} ({})", f.name, f.action),
                None,
            )
        }
        RuleChange::Update(id, f, media) => {
            if !rule_store::update(&mut tx, *id, f, now).await? {
                return Err(missing(*id));
            }
            rule_store::set_media(&mut tx, *id, *media).await?;
            (
                *id,
                "rule.update",
                format!("{} ({})", f.name, f.action),
                None,
            )
        }
        RuleChange::Delete(id) => {
            let old = rule_store::get(&mut *tx, *id)
                .await?
                .ok_or_else(|| missing(*id))?;
            rule_store::delete(&mut tx, *id, now).await?;
            (*id, "rule.delete", old.name.clone(), Some(old))
        }
        RuleChange::Restore(id) => {
            let row = rule_store::restore(&mut tx, *id, now)
                .await?
                .ok_or_else(|| missing(*id))?;
            (*id, "rule.restore", row.name, None)
        }
        RuleChange::Switch(id) => {
            let row = rule_store::get(&mut *tx, *id)
                .await?
                .ok_or_else(|| missing(*id))?;
            let enabled = !row.enabled;
            rule_store::adjust(&mut tx, *id, Some(enabled), None, now).await?;
            let detail = if enabled { "enabled" } else { "disabled" };
            (*id, "rule.adjust", detail.to_owned(), None)
        }
        RuleChange::Move(id, direction) => {
            let rows = rule_store::list(&mut *tx).await?;
            let at = rows
                .iter()
                .position(|r| r.id == *id)
                .ok_or_else(|| missing(*id))?;
            let neighbour = match direction {
                // saturating: a priority saved before check_priority refused i64::MIN must
                // be refused by it, not overflow
                Direction::Up => at
                    .checked_sub(1)
                    .map(|i| rows[i].priority.saturating_add(1)),
                Direction::Down => rows.get(at + 1).map(|r| r.priority.saturating_sub(1)),
            };
            let Some(priority) = neighbour else {
                return Ok(rows[at].clone());
            };
            check_priority(priority, lang.request())?;
            rule_store::adjust(&mut tx, *id, None, Some(priority), now).await?;
            (*id, "rule.adjust", format!("priority {priority}"), None)
        }
    };
    let rows = rule_store::list(&mut *tx).await?;
    let compiled =
        Compiled::from_rows(&rows).map_err(|e| AppError::Invalid(rules_sentence(&e, lang)))?;
    let row = match deleted {
        Some(old) => old,
        None => rows
            .into_iter()
            .find(|r| r.id == id)
            .ok_or_else(|| missing(id))?,
    };
    audit::record(
        &mut tx,
        &by.actor(),
        action,
        &format!("rule {id}"),
        Some(&detail),
        now,
    )
    .await?;
    tx.commit().await?;
    automation.use_rules(compiled);
    Ok(row)
}

/// What the bot would do with a text now (the console's tester and the API's).
#[derive(Debug)]
pub struct Tried {
    /// the text as rules see it
    pub normalized: String,
    pub outcome: Outcome,
}

pub fn try_text(automation: &Automation, text: &str) -> Tried {
    Tried {
        normalized: matcher::normalize(text),
        outcome: automation.test(text, now_millis()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::services::replies::ReplyDraft;
    use crate::services::replies::TextInput;

    fn draft(priority: i64) -> RuleDraft {
        RuleDraft {
            name: "a".into(),
            enabled: None,
            priority: Some(priority),
            match_kind: "contains".into(),
            keywords: vec!["退款".into()],
            action: "reply".into(),
            reply: Some(ReplyDraft::Text(TextInput { text: "ok".into() })),
            media: None,
            channel: None,
        }
    }

    #[test]
    fn a_priority_beyond_the_limits_is_refused_even_the_lowest_integer() {
        // found by fuzzing (proptest-regressions/web/fuzz.txt): i64::MIN.abs() overflowed
        for priority in [
            i64::MIN,
            i64::MIN + 1,
            -MAX_PRIORITY - 1,
            MAX_PRIORITY + 1,
            i64::MAX,
        ] {
            let e = check(None, draft(priority), Lang::En).unwrap_err();
            assert!(e.to_string().contains("priority"), "{priority}: {e}");
        }
        for priority in [-MAX_PRIORITY, 0, MAX_PRIORITY] {
            assert_eq!(
                check(None, draft(priority), Lang::En).unwrap().priority,
                priority
            );
        }
    }
}
