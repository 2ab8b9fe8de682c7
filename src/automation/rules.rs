//! Auto-reply rules: which enabled rule fires for a customer's text.
//!
//! Owns the matching only: keyword normalisation, validation of an admin's keywords, and a
//! [`Matcher`] compiled from the enabled rules whenever they change. It knows nothing of the
//! database, of actions or replies (the caller maps the chosen id to its rule), and never
//! compiles anything per message.
//!
//! # Normalisation
//!
//! Customers type the same words many ways. Text and keywords (`exact` and `contains`) both go
//! through [`normalize`], so an admin's `转人工` matches `转 人工！`, and `help` matches `ＨＥＬＰ`:
//!
//! 1. full-width ASCII forms (U+FF01–U+FF5E) become ASCII, the ideographic space a space;
//! 2. letters are lowercased (Unicode-aware);
//! 3. whitespace, punctuation (ASCII, CJK and full-width, such as `！？。，、；：“”（）【】《》…～`)
//!    and emoji are trimmed from both ends;
//! 4. whitespace between two CJK characters is removed (`转 人工` is `转人工`), as is whitespace
//!    between a CJK character and punctuation or an emoji (`好的， 谢谢` is `好的,谢谢`); any
//!    other run of whitespace becomes one space (`我要  refund` is `我要 refund`).
//!
//! Punctuation and emoji inside the text stay. Regexes are not normalised (that would change
//! their meaning) but run case-insensitively against the normalised text: `^退款$` matches
//! `退款！`, and a regex should be written as the console's tester shows the normalised text.
//!
//! # Matching
//!
//! `exact`: the normalised text equals a keyword (one hash lookup). `contains`: a keyword occurs
//! in it (one Aho-Corasick automaton over every `contains` keyword, all occurrences reported, so
//! overlapping keywords of different rules are all seen). `regex`: a regex matches it. Of all
//! matching rules the one with the highest priority fires; on a tie, the lower id (the older
//! rule). Rules are ranked once at compile time, so choosing is keeping the smallest rank seen.
//!
//! Regexes are not run as one `RegexSet`: with a few hundred patterns its lazy DFA runs out of
//! room on Chinese text (and any Unicode `\b` stops it outright), falling back to an engine
//! that took milliseconds per message. Instead each regex is compiled alone, and the literals
//! every one of its matches must start or end with (`退款` in `退款.*慢`, `refund` in
//! `\bRefund\b`) join the `contains` automaton. The one scan over the text then says which
//! regexes could match; only those (and the few with no such literal) are run, best rank first,
//! stopping at the first that matches. Regexes run in time linear in the text (no pattern is
//! catastrophic), and the size limits below bound what compiling may cost.

use std::collections::{HashMap, HashSet};
use std::fmt;

use aho_corasick::AhoCorasick;
use regex_automata::meta;
use regex_syntax::hir::Hir;
use regex_syntax::hir::literal::{ExtractKind, Extractor};

/// At most this many keywords in one rule: a longer list is better as a regex or two rules.
pub const MAX_KEYWORDS: usize = 50;
/// At most this many characters in one keyword or regex.
pub const MAX_KEYWORD_CHARS: usize = 200;
/// The size one regex's automaton may reach. Unicode classes are big (`\w` alone is about
/// 50 KiB, so `\w{40}` is about 2 MiB), while what admins write is mostly far smaller
/// (`^订单\s*\d{6,}$` is 31 KiB); `\w{1000}{1000}` is refused at once, before it eats memory.
const REGEX_SIZE_LIMIT: usize = 2 << 20;
/// The memory all compiled regexes together may use: the matcher is rebuilt whenever a rule
/// changes, and lives for as long as the rules do.
pub const REGEXES_MEMORY_LIMIT: usize = 64 << 20;

pub use crate::domain::MatchKind;

/// What the matcher needs of one enabled rule: no actions or replies, so it stays a pure
/// function of the keywords.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuleSpec {
    pub id: i64,
    pub priority: i64,
    pub kind: MatchKind,
    pub keywords: Vec<String>,
}

/// Why a set of stored rules does not compile (they were validated when saved, so this means a
/// limit changed or the regexes together grew too large).
#[derive(Debug, thiserror::Error)]
pub enum RuleError {
    #[error("rule {rule}: the regex “{pattern}” {reason}")]
    Regex {
        rule: i64,
        pattern: String,
        reason: RegexProblem,
    },
    #[error(
        "the regexes of all rules together need more than {} MiB once compiled; simplify or remove some",
        REGEXES_MEMORY_LIMIT >> 20
    )]
    RegexesTooLarge,
    #[error("the keywords of all rules together are too many to compile: {0}")]
    Keywords(#[from] aho_corasick::BuildError),
}

/// The enabled rules compiled for choosing: immutable, `Send + Sync`, meant to be shared in an
/// `Arc` and replaced whole when the rules change.
pub struct Matcher {
    /// ids of the rules that can fire, best first (highest priority, then lowest id): a match
    /// is recorded as an index here, its rank, so the best match is the smallest rank
    ranked: Vec<i64>,
    /// normalised exact keyword → best rank among the rules that have it
    exact: HashMap<String, u32>,
    /// one automaton over the `contains` keywords and the literals regexes need
    literals: Option<AhoCorasick>,
    /// per pattern of `literals`: what finding it means
    found: Vec<Found>,
    /// indexes into `regexes`, in runs that each `Found` points at
    owners: Vec<u32>,
    /// every distinct regex, best rank first
    regexes: Vec<CompiledRegex>,
    /// regexes with no literal their matches need: tried on every text they could win for
    always: Vec<u32>,
}

/// What finding one pattern of the automaton means.
struct Found {
    /// the best rank of the `contains` rules with this keyword (`u32::MAX`: none)
    rank: u32,
    /// `owners[start..end]`: the regexes that need this literal to match
    start: u32,
    end: u32,
}

struct CompiledRegex {
    regex: meta::Regex,
    rank: u32,
}

impl fmt::Debug for Matcher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Matcher")
            .field("rules", &self.ranked.len())
            .field("exact_keywords", &self.exact.len())
            .field("literals", &self.found.len())
            .field("regexes", &self.regexes.len())
            .field("regexes_without_literal", &self.always.len())
            .field("memory_usage", &self.memory_usage())
            .finish()
    }
}

/// The automaton's patterns while compiling: each kept once, with what finding it means.
#[derive(Default)]
struct Literals {
    index: HashMap<Vec<u8>, usize>,
    patterns: Vec<(Vec<u8>, u32, Vec<u32>)>,
}

impl Literals {
    fn slot(&mut self, literal: Vec<u8>) -> &mut (Vec<u8>, u32, Vec<u32>) {
        let next = self.patterns.len();
        let i = *self.index.entry(literal.clone()).or_insert(next);
        if i == next {
            self.patterns.push((literal, u32::MAX, Vec::new()));
        }
        &mut self.patterns[i]
    }
}

impl Matcher {
    /// Compiles the enabled rules (the caller leaves disabled ones out). Keywords that are
    /// empty once normalised are skipped, and a rule with none left can never fire.
    pub fn compile(rules: &[RuleSpec]) -> Result<Matcher, RuleError> {
        // keep what can match, then rank: highest priority first, the older rule on a tie
        let mut usable: Vec<(&RuleSpec, Vec<String>)> = rules
            .iter()
            .map(|r| {
                let keywords = r
                    .keywords
                    .iter()
                    .filter_map(|k| match r.kind {
                        MatchKind::Regex => Some(k.clone()).filter(|k| !k.trim().is_empty()),
                        MatchKind::Exact | MatchKind::Contains => {
                            Some(normalize(k)).filter(|k| !k.is_empty())
                        }
                    })
                    .collect::<Vec<_>>();
                (r, keywords)
            })
            .filter(|(_, k)| !k.is_empty())
            .collect();
        usable.sort_by_key(|(r, _)| (std::cmp::Reverse(r.priority), r.id));

        let mut matcher = Matcher::empty();
        let mut literals = Literals::default();
        // ranks arrive in order: the first rule to bring a keyword or regex is its best
        let mut seen_regex: HashSet<String> = HashSet::new();
        let mut memory = 0;
        for (rank, (rule, keywords)) in usable.into_iter().enumerate() {
            let rank = u32::try_from(rank).unwrap_or(u32::MAX);
            matcher.ranked.push(rule.id);
            for k in keywords {
                match rule.kind {
                    MatchKind::Exact => {
                        matcher.exact.entry(k).or_insert(rank);
                    }
                    MatchKind::Contains => {
                        let slot = literals.slot(k.into_bytes());
                        slot.1 = slot.1.min(rank);
                    }
                    MatchKind::Regex => {
                        if !seen_regex.insert(k.clone()) {
                            continue;
                        }
                        let (regex, hir) = build_regex(&k).map_err(|reason| RuleError::Regex {
                            rule: rule.id,
                            pattern: shorten(&k),
                            reason,
                        })?;
                        memory += regex.memory_usage();
                        if memory > REGEXES_MEMORY_LIMIT {
                            return Err(RuleError::RegexesTooLarge);
                        }
                        let i = u32::try_from(matcher.regexes.len()).unwrap_or(u32::MAX);
                        match required_literals(&hir) {
                            Some(needed) => {
                                for literal in needed {
                                    literals.slot(literal).2.push(i);
                                }
                            }
                            None => matcher.always.push(i),
                        }
                        matcher.regexes.push(CompiledRegex { regex, rank });
                    }
                }
            }
        }

        if !literals.patterns.is_empty() {
            // Standard semantics: the only kind that reports every (overlapping) occurrence
            matcher.literals = Some(
                AhoCorasick::builder()
                    .match_kind(aho_corasick::MatchKind::Standard)
                    .build(literals.patterns.iter().map(|(p, _, _)| p))?,
            );
            for (_, rank, regexes) in literals.patterns {
                let start = u32::try_from(matcher.owners.len()).unwrap_or(u32::MAX);
                matcher.owners.extend(regexes);
                let end = u32::try_from(matcher.owners.len()).unwrap_or(u32::MAX);
                matcher.found.push(Found { rank, start, end });
            }
        }
        Ok(matcher)
    }

    /// No rules: nothing ever fires.
    pub fn empty() -> Matcher {
        Matcher {
            ranked: Vec::new(),
            exact: HashMap::new(),
            literals: None,
            found: Vec::new(),
            owners: Vec::new(),
            regexes: Vec::new(),
            always: Vec::new(),
        }
    }

    /// The id of the rule that fires for this customer text: the highest priority among all
    /// matching rules; ties broken by the lower id (the older rule).
    pub fn choose(&self, text: &str) -> Option<i64> {
        if self.ranked.is_empty() {
            return None;
        }
        let text = normalize(text);
        let mut best = self.exact.get(text.as_str()).copied().unwrap_or(u32::MAX);
        // the regexes worth running: one allocation at most, only when a literal was found
        let mut candidates: Vec<u32> = Vec::new();
        if let Some(literals) = &self.literals
            && best > 0
        {
            for m in literals.find_overlapping_iter(text.as_str()) {
                let found = &self.found[m.pattern().as_usize()];
                best = best.min(found.rank);
                let owners = &self.owners[found.start as usize..found.end as usize];
                candidates.extend(
                    owners
                        .iter()
                        .filter(|&&i| self.regexes[i as usize].rank < best),
                );
            }
        }
        candidates.extend(
            self.always
                .iter()
                .filter(|&&i| self.regexes[i as usize].rank < best),
        );
        // regexes are kept best first, so the first that matches is the best of them
        candidates.sort_unstable();
        candidates.dedup();
        for i in candidates {
            let r = &self.regexes[i as usize];
            if r.rank >= best {
                break;
            }
            if r.regex.is_match(text.as_str()) {
                best = r.rank;
                break;
            }
        }
        self.ranked.get(best as usize).copied()
    }

    /// How many rules can fire (those with at least one usable keyword).
    pub fn len(&self) -> usize {
        self.ranked.len()
    }

    /// True when no rule can fire.
    pub fn is_empty(&self) -> bool {
        self.ranked.is_empty()
    }

    /// Roughly the heap the compiled automata hold, in bytes (for the benchmark and the log).
    pub fn memory_usage(&self) -> usize {
        self.literals.as_ref().map_or(0, AhoCorasick::memory_usage)
            + self
                .regexes
                .iter()
                .map(|r| r.regex.memory_usage())
                .sum::<usize>()
            + self.exact.keys().map(|k| k.len() + 32).sum::<usize>()
            + self.owners.len() * 4
            + self.found.len() * std::mem::size_of::<Found>()
    }
}

/// Parses and compiles one regex as the matcher runs it: case-insensitive, size-limited.
/// `Err` is the end of a sentence that starts with the regex (`does not compile: …`).
fn build_regex(pattern: &str) -> Result<(meta::Regex, Hir), RegexProblem> {
    let hir = regex_syntax::ParserBuilder::new()
        .case_insensitive(true)
        .build()
        .parse(pattern)
        .map_err(|e| {
            let (kind, at) = RegexSyntax::of(&e);
            RegexProblem::Syntax {
                kind,
                at,
                reason: one_line(&e.to_string()),
            }
        })?;
    let regex = meta::Regex::builder()
        .configure(meta::Config::new().nfa_size_limit(Some(REGEX_SIZE_LIMIT)))
        .build_from_hir(&hir)
        .map_err(|e| match e.size_limit() {
            Some(limit) => RegexProblem::TooLarge { mib: limit >> 20 },
            None => RegexProblem::Syntax {
                kind: RegexSyntax::Other,
                at: 0,
                reason: one_line(&e.to_string()),
            },
        })?;
    Ok((regex, hir))
}

/// Why one regex is refused. `Display` is the English sentence's end (after “the regex …”);
/// the console and the API say it in the staff member's language (`i18n::RequestText`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RegexProblem {
    /// what is wrong (the console says it in the staff member's language), at which
    /// character of the pattern (1-based; 0 when unknown), and the parser's own reason on one
    /// line (the English `Display`)
    #[error("does not compile: {reason}")]
    Syntax {
        kind: RegexSyntax,
        at: usize,
        reason: String,
    },
    #[error(
        "is too large once compiled (over {mib} MiB); simplify it, for example with smaller repetitions"
    )]
    TooLarge { mib: usize },
}

/// What is wrong with a regex's syntax, in kefu's own words (the parser's English is kept for
/// the log and `Display` only): each kind has a sentence in `i18n::RequestText`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RegexSyntax {
    /// `(` without `)`
    GroupUnclosed,
    /// `)` without `(`
    GroupUnopened,
    /// `[` without `]`
    ClassUnclosed,
    /// a range such as `[z-a]`
    ClassRange,
    /// `*`, `+`, `?` or `{…}` with nothing before it, or a bad `{n,m}`
    Repetition,
    /// a `\` escape kefu does not know
    Escape,
    /// a back-reference such as `\1`
    Backreference,
    /// look-around such as `(?=…)`
    LookAround,
    /// a bad or repeated group name
    GroupName,
    /// a bad flag such as `(?z)`
    Flag,
    /// an unknown Unicode class such as `\p{Foo}`
    Unicode,
    /// nested too deeply
    TooDeep,
    Other,
}

impl RegexSyntax {
    /// The kind of a parse error and the character it points at (1-based).
    fn of(e: &regex_syntax::Error) -> (RegexSyntax, usize) {
        use regex_syntax::ast::ErrorKind as A;
        use regex_syntax::hir::ErrorKind as H;
        match e {
            regex_syntax::Error::Parse(e) => {
                let kind = match e.kind() {
                    A::GroupUnclosed => RegexSyntax::GroupUnclosed,
                    A::GroupUnopened => RegexSyntax::GroupUnopened,
                    A::ClassUnclosed => RegexSyntax::ClassUnclosed,
                    A::ClassRangeInvalid | A::ClassRangeLiteral | A::ClassEscapeInvalid => {
                        RegexSyntax::ClassRange
                    }
                    A::RepetitionCountInvalid
                    | A::RepetitionCountDecimalEmpty
                    | A::RepetitionCountUnclosed
                    | A::RepetitionMissing
                    | A::DecimalEmpty
                    | A::DecimalInvalid => RegexSyntax::Repetition,
                    A::EscapeHexEmpty
                    | A::EscapeHexInvalid
                    | A::EscapeHexInvalidDigit
                    | A::EscapeUnexpectedEof
                    | A::EscapeUnrecognized
                    | A::SpecialWordBoundaryUnclosed
                    | A::SpecialWordBoundaryUnrecognized
                    | A::SpecialWordOrRepetitionUnexpectedEof => RegexSyntax::Escape,
                    A::UnsupportedBackreference => RegexSyntax::Backreference,
                    A::UnsupportedLookAround => RegexSyntax::LookAround,
                    A::GroupNameDuplicate { .. }
                    | A::GroupNameEmpty
                    | A::GroupNameInvalid
                    | A::GroupNameUnexpectedEof => RegexSyntax::GroupName,
                    A::FlagDanglingNegation
                    | A::FlagDuplicate { .. }
                    | A::FlagRepeatedNegation { .. }
                    | A::FlagUnexpectedEof
                    | A::FlagUnrecognized => RegexSyntax::Flag,
                    A::UnicodeClassInvalid => RegexSyntax::Unicode,
                    A::NestLimitExceeded(_) | A::CaptureLimitExceeded => RegexSyntax::TooDeep,
                    _ => RegexSyntax::Other,
                };
                (kind, e.span().start.column)
            }
            regex_syntax::Error::Translate(e) => {
                let kind = match e.kind() {
                    H::UnicodePropertyNotFound
                    | H::UnicodePropertyValueNotFound
                    | H::UnicodePerlClassNotFound
                    | H::UnicodeCaseUnavailable => RegexSyntax::Unicode,
                    _ => RegexSyntax::Other,
                };
                (kind, e.span().start.column)
            }
            _ => (RegexSyntax::Other, 0),
        }
    }
}

/// What is wrong with one rule's keywords. `Display` is the English sentence; the console and
/// the API say it in the staff member's language (`i18n::RequestText`). A keyword in it is cut
/// to 40 characters.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeywordProblem {
    #[error("a rule needs at least one keyword")]
    NoKeywords,
    #[error(
        "a rule has at most {MAX_KEYWORDS} keywords (this one has {0}); split it or use a regex"
    )]
    TooMany(usize),
    #[error("the keyword “{0}” is longer than {MAX_KEYWORD_CHARS} characters")]
    TooLong(String),
    #[error("a keyword is empty")]
    Empty,
    #[error("the keyword “{0}” has only spaces, punctuation or emoji, which matching ignores")]
    OnlyNoise(String),
    #[error("a regex is empty")]
    EmptyRegex,
    #[error("the regex “{0}” {1}")]
    Regex(String, RegexProblem),
}

/// The literals one of which every match of the regex starts with (or else ends with), as
/// they can occur in normalised text; `None` when there is no such finite set.
fn required_literals(hir: &Hir) -> Option<Vec<Vec<u8>>> {
    [ExtractKind::Prefix, ExtractKind::Suffix]
        .into_iter()
        .filter_map(|kind| {
            let seq = Extractor::new().kind(kind).extract(hir);
            // normalised text has no ASCII capitals, so only the lower-case variant of a
            // literal can be found; several variants collapse into one
            let mut literals: Vec<Vec<u8>> = seq
                .literals()?
                .iter()
                .map(|l| l.as_bytes().to_ascii_lowercase())
                .collect();
            literals.sort_unstable();
            literals.dedup();
            // an empty literal (or none at all) rules out nothing: the regex is always tried
            (!literals.is_empty() && literals.iter().all(|l| !l.is_empty())).then_some(literals)
        })
        // the longer the shortest literal, the fewer texts make the regex a candidate
        .max_by_key(|l| (l.iter().map(Vec::len).min(), std::cmp::Reverse(l.len())))
}

/// The crate's error messages span lines (the pattern, a caret, then `error: …`): keep the
/// reason.
fn one_line(message: &str) -> String {
    message
        .lines()
        .find_map(|l| l.trim().strip_prefix("error:"))
        .or_else(|| message.lines().rev().find(|l| !l.trim().is_empty()))
        .unwrap_or("not a valid regex")
        .trim()
        .to_owned()
}

/// A keyword as quoted in a sentence: long ones cut short.
fn shorten(keyword: &str) -> String {
    const SHOWN: usize = 40;
    if keyword.chars().count() <= SHOWN {
        keyword.to_owned()
    } else {
        let mut s: String = keyword.chars().take(SHOWN).collect();
        s.push('…');
        s
    }
}

/// Checks one rule's keywords as an admin saves it.
pub fn validate(kind: MatchKind, keywords: &[String]) -> Result<(), KeywordProblem> {
    if keywords.is_empty() {
        return Err(KeywordProblem::NoKeywords);
    }
    if keywords.len() > MAX_KEYWORDS {
        return Err(KeywordProblem::TooMany(keywords.len()));
    }
    for k in keywords {
        if k.chars().count() > MAX_KEYWORD_CHARS {
            return Err(KeywordProblem::TooLong(shorten(k)));
        }
        match kind {
            MatchKind::Exact | MatchKind::Contains => {
                if normalize(k).is_empty() {
                    return Err(if k.trim().is_empty() {
                        KeywordProblem::Empty
                    } else {
                        KeywordProblem::OnlyNoise(shorten(k))
                    });
                }
            }
            MatchKind::Regex => {
                if k.trim().is_empty() {
                    return Err(KeywordProblem::EmptyRegex);
                }
                if let Err(reason) = build_regex(k) {
                    return Err(KeywordProblem::Regex(shorten(k), reason));
                }
            }
        }
    }
    Ok(())
}

/// The form text and keywords are compared in (see the module documentation).
pub fn normalize(text: &str) -> String {
    let text = text.trim_matches(|c| is_edge_noise(fold_width(c)));
    let mut out = String::with_capacity(text.len());
    let mut space = false;
    let mut last = ' ';
    for c in text.chars().map(fold_width) {
        if c.is_whitespace() {
            space = true;
            continue;
        }
        if space {
            // the trimmed text starts with a non-space, so `last` is set here
            if !spaceless(last, c) {
                out.push(' ');
            }
            space = false;
        }
        if c.is_ascii() {
            out.push(c.to_ascii_lowercase());
        } else {
            out.extend(c.to_lowercase());
        }
        last = c;
    }
    out
}

/// Full-width ASCII forms as ASCII, the ideographic space as a space.
fn fold_width(c: char) -> char {
    match c {
        '\u{FF01}'..='\u{FF5E}' => char::from_u32(c as u32 - 0xFEE0).unwrap_or(c),
        '\u{3000}' => ' ',
        _ => c,
    }
}

/// Whether a space between these two is noise: Chinese is written without spaces, so a space
/// touching a CJK character on one side and a CJK character, punctuation or emoji on the other
/// (`好的， 谢谢`, with the comma already folded to `,`) means nothing; between a CJK and a Latin
/// word (`我要 refund`) it is kept.
fn spaceless(before: char, after: char) -> bool {
    let quiet = |c: char| is_cjk(c) || is_edge_noise(c);
    (is_cjk(before) && quiet(after)) || (quiet(before) && is_cjk(after))
}

/// Scripts written without spaces between words.
fn is_cjk(c: char) -> bool {
    matches!(c,
        '\u{3001}'..='\u{303F}'     // CJK symbols and punctuation (、。「」【】…)
        | '\u{3040}'..='\u{30FF}'   // hiragana, katakana
        | '\u{3100}'..='\u{312F}'   // bopomofo
        | '\u{31F0}'..='\u{31FF}'   // katakana extension
        | '\u{3400}'..='\u{4DBF}'   // CJK extension A
        | '\u{4E00}'..='\u{9FFF}'   // CJK unified ideographs
        | '\u{F900}'..='\u{FAFF}'   // CJK compatibility ideographs
        | '\u{20000}'..='\u{3FFFF}' // CJK extensions B and later
    )
}

/// What is trimmed from both ends: whitespace, punctuation and emoji. Letters, digits and
/// currency signs are kept.
fn is_edge_noise(c: char) -> bool {
    c.is_whitespace()
        || c.is_control()
        || c.is_ascii_punctuation()
        || matches!(c,
            '¡' | '§' | '¨' | '©' | '«' | '¬' | '®' | '¯' | '°' | '´' | '¶' | '·' | '¸' | '»' | '¿'
            | '\u{2000}'..='\u{206F}'   // general punctuation (“”‘’…—※, zero-width joiners)
            | '\u{20D0}'..='\u{20FF}'   // combining marks for symbols (the keycap)
            | '\u{2122}' | '\u{2139}'   // ™ ℹ
            | '\u{2190}'..='\u{21FF}'   // arrows
            | '\u{2300}'..='\u{23FF}'   // technical symbols (⌚ ⏰)
            | '\u{25A0}'..='\u{27BF}'   // shapes, symbols, dingbats (☀ ❤ ✅)
            | '\u{2900}'..='\u{297F}'   // arrows (⤴)
            | '\u{2B00}'..='\u{2BFF}'   // symbols and arrows (⭐)
            | '\u{3001}'..='\u{3004}'   // 、。〃〄
            | '\u{3008}'..='\u{3020}'   // brackets 〈〉《》「」『』【】〔〕, 〜
            | '\u{3030}' | '\u{303D}'..='\u{303F}'
            | '\u{FE00}'..='\u{FE0F}'   // variation selectors (emoji presentation)
            | '\u{FE10}'..='\u{FE1F}'   // vertical punctuation
            | '\u{FE30}'..='\u{FE6F}'   // CJK compatibility and small punctuation
            | '\u{FEFF}'                // byte order mark
            | '\u{FF5F}'..='\u{FF65}'   // half-width CJK punctuation (｡｢｣､･)
            | '\u{1F000}'..='\u{1FAFF}' // emoji, pictographs, flags, skin tones
            | '\u{E0020}'..='\u{E007F}' // emoji tag sequences
        )
}

#[cfg(test)]
mod fuzz;

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(id: i64, priority: i64, kind: MatchKind, keywords: &[&str]) -> RuleSpec {
        RuleSpec {
            id,
            priority,
            kind,
            keywords: keywords.iter().map(|k| (*k).to_owned()).collect(),
        }
    }

    fn matcher(rules: &[RuleSpec]) -> Matcher {
        Matcher::compile(rules).expect("the rules compile")
    }

    fn strings(keywords: &[&str]) -> Vec<String> {
        keywords.iter().map(|k| (*k).to_owned()).collect()
    }

    #[test]
    fn what_customers_type_normalises_to_what_admins_write() {
        assert_eq!(normalize("转人工"), "转人工");
        assert_eq!(normalize("转 人工！"), "转人工");
        assert_eq!(normalize("　转　人工。。"), "转人工");
        assert_eq!(normalize("ＨＥＬＰ"), "help");
        assert_eq!(normalize("  Help!! "), "help");
        assert_eq!(normalize("“退款”？"), "退款");
        assert_eq!(normalize("【人工客服】"), "人工客服");
        assert_eq!(normalize("人工～～"), "人工");
        assert_eq!(normalize("我要 refund 谢谢"), "我要 refund 谢谢");
        assert_eq!(normalize("我要   Refund\t\n谢谢"), "我要 refund 谢谢");
        assert_eq!(normalize("Where  is\u{3000}my ORDER?"), "where is my order");
        assert_eq!(normalize("Ｏｒｄｅｒ　１２３"), "order 123");
        assert_eq!(normalize("好的， 谢谢"), normalize("好的，谢谢"));
        assert_eq!(normalize("好的 ，谢谢"), "好的,谢谢");
        assert_eq!(normalize("我要 退款 😡 快点"), "我要退款😡快点");
        assert_eq!(normalize("ok , thanks"), "ok , thanks");
        assert_eq!(normalize("ÉTÉ"), "été");
    }

    #[test]
    fn emoji_at_the_ends_are_trimmed_and_kept_inside() {
        assert_eq!(normalize("转人工🙏"), "转人工");
        assert_eq!(normalize("👍🏽 好的 ❤️"), "好的");
        assert_eq!(normalize("退款😡😡😡！！"), "退款");
        assert_eq!(normalize("好😀吃"), "好😀吃");
        assert_eq!(normalize("👨‍👩‍👧"), "");
        assert_eq!(normalize("？！…"), "");
        assert_eq!(normalize(""), "");
    }

    #[test]
    fn letters_digits_and_currency_at_the_ends_stay() {
        assert_eq!(normalize("¥100"), "¥100");
        assert_eq!(normalize("订单号12345"), "订单号12345");
        assert_eq!(normalize("〇"), "〇");
    }

    #[test]
    fn exact_matches_the_whole_text_only() {
        let m = matcher(&[rule(1, 0, MatchKind::Exact, &["转人工", "HELP"])]);
        assert_eq!(m.choose("转人工"), Some(1));
        assert_eq!(m.choose("转 人工！"), Some(1));
        assert_eq!(m.choose("ＨＥＬＰ"), Some(1));
        assert_eq!(m.choose("  Help!! "), Some(1));
        assert_eq!(m.choose("我要转人工"), None);
        assert_eq!(m.choose("help me"), None);
    }

    #[test]
    fn contains_matches_anywhere_in_the_text() {
        let m = matcher(&[rule(1, 0, MatchKind::Contains, &["退款", "refund"])]);
        assert_eq!(m.choose("我要退款"), Some(1));
        assert_eq!(m.choose("我要 REFUND 谢谢"), Some(1));
        assert_eq!(
            m.choose("退 款"),
            Some(1),
            "spaces between Chinese characters go"
        );
        assert_eq!(m.choose("我要退货"), None);
    }

    #[test]
    fn regex_matches_the_normalised_text_case_insensitively() {
        let m = matcher(&[rule(
            1,
            0,
            MatchKind::Regex,
            &[r"^订单\s*\d{6,}$", r"\bORDER\b"],
        )]);
        assert_eq!(m.choose("订单 123456！"), Some(1));
        assert_eq!(m.choose("订单123"), None);
        assert_eq!(m.choose("my order is late"), Some(1));
        assert_eq!(m.choose("bordering"), None);
        assert_eq!(m.choose("ＯＲＤＥＲ"), Some(1));
    }

    #[test]
    fn the_highest_priority_among_matching_rules_fires() {
        let m = matcher(&[
            rule(1, 1, MatchKind::Contains, &["退款"]),
            rule(2, 5, MatchKind::Regex, &["退款.*慢"]),
            rule(3, 3, MatchKind::Exact, &["我要退款"]),
            rule(4, 9, MatchKind::Contains, &["投诉"]),
        ]);
        assert_eq!(m.choose("退款"), Some(1));
        assert_eq!(m.choose("我要退款"), Some(3));
        assert_eq!(m.choose("我要退款，太慢了"), Some(2));
        assert_eq!(m.choose("退款太慢我要投诉"), Some(4));
        assert_eq!(m.choose("你好"), None);
    }

    #[test]
    fn a_tie_goes_to_the_older_rule() {
        let m = matcher(&[
            rule(7, 2, MatchKind::Contains, &["人工"]),
            rule(3, 2, MatchKind::Regex, &["人工"]),
            rule(5, 2, MatchKind::Exact, &["转人工"]),
        ]);
        assert_eq!(m.choose("转人工"), Some(3));
        let m = matcher(&[
            rule(7, 2, MatchKind::Contains, &["人工"]),
            rule(5, 2, MatchKind::Exact, &["转人工"]),
        ]);
        assert_eq!(m.choose("转人工"), Some(5));
    }

    #[test]
    fn negative_and_extreme_priorities_order_as_numbers() {
        let m = matcher(&[
            rule(1, i64::MIN, MatchKind::Contains, &["a"]),
            rule(2, -1, MatchKind::Contains, &["b"]),
            rule(3, i64::MAX, MatchKind::Contains, &["c"]),
        ]);
        assert_eq!(m.choose("a b"), Some(2));
        assert_eq!(m.choose("a b c"), Some(3));
        assert_eq!(m.choose("a"), Some(1));
    }

    #[test]
    fn a_disabled_rule_is_left_out_and_never_fires() {
        let enabled = rule(1, 1, MatchKind::Contains, &["退款"]);
        let disabled = rule(2, 9, MatchKind::Contains, &["退款"]);
        let all = matcher(&[enabled.clone(), disabled]);
        assert_eq!(all.choose("退款"), Some(2));
        let only_enabled = matcher(&[enabled]);
        assert_eq!(only_enabled.choose("退款"), Some(1));
    }

    #[test]
    fn overlapping_contains_keywords_of_different_rules_are_all_considered() {
        // "人工" ends inside "人工客服" and "工客" overlaps both: the best must still win
        let m = matcher(&[
            rule(1, 1, MatchKind::Contains, &["人工客服"]),
            rule(2, 2, MatchKind::Contains, &["人工"]),
            rule(3, 3, MatchKind::Contains, &["工客"]),
        ]);
        assert_eq!(m.choose("找人工客服"), Some(3));
        let m = matcher(&[
            rule(1, 3, MatchKind::Contains, &["客服"]),
            rule(2, 2, MatchKind::Contains, &["人工客服"]),
            rule(3, 1, MatchKind::Contains, &["人工"]),
        ]);
        assert_eq!(m.choose("找人工客服"), Some(1));
        assert_eq!(m.choose("找人工"), Some(3));
        // the same keyword in two rules: the better rule has it
        let m = matcher(&[
            rule(1, 1, MatchKind::Contains, &["退款"]),
            rule(2, 2, MatchKind::Contains, &["退款", "退货"]),
        ]);
        assert_eq!(m.choose("退款"), Some(2));
    }

    #[test]
    fn keywords_are_normalised_like_the_text() {
        let m = matcher(&[
            rule(1, 0, MatchKind::Exact, &["  转 人工！ "]),
            rule(2, 0, MatchKind::Contains, &["ＲＥＦＵＮＤ"]),
        ]);
        assert_eq!(m.choose("转人工"), Some(1));
        assert_eq!(m.choose("i want a refund"), Some(2));
    }

    #[test]
    fn keywords_of_only_punctuation_never_match_everything() {
        let m = matcher(&[
            rule(1, 0, MatchKind::Contains, &["！！", " "]),
            rule(2, 0, MatchKind::Exact, &["？"]),
        ]);
        assert!(m.is_empty());
        assert_eq!(m.choose("？"), None);
        assert_eq!(m.choose("hello!!"), None);
    }

    #[test]
    fn an_empty_matcher_chooses_nothing() {
        let m = Matcher::empty();
        assert!(m.is_empty());
        assert_eq!(m.len(), 0);
        assert_eq!(m.choose("转人工"), None);
        let m = matcher(&[]);
        assert_eq!(m.choose("转人工"), None);
    }

    #[test]
    fn len_counts_rules_that_can_fire() {
        let m = matcher(&[
            rule(1, 0, MatchKind::Exact, &["a"]),
            rule(2, 0, MatchKind::Contains, &["b"]),
            rule(3, 0, MatchKind::Regex, &["c"]),
            rule(4, 0, MatchKind::Exact, &["!"]),
        ]);
        assert_eq!(m.len(), 3);
        assert!(!m.is_empty());
    }

    #[test]
    fn match_kinds_round_trip_their_names() {
        for kind in [MatchKind::Exact, MatchKind::Contains, MatchKind::Regex] {
            assert_eq!(MatchKind::parse(kind.as_str()), Some(kind));
        }
        assert_eq!(MatchKind::parse("Exact"), None);
        assert_eq!(MatchKind::parse(""), None);
    }

    #[test]
    fn validate_accepts_ordinary_rules() {
        assert_eq!(
            validate(MatchKind::Exact, &strings(&["转人工", "help"])),
            Ok(())
        );
        assert_eq!(validate(MatchKind::Contains, &strings(&["c++"])), Ok(()));
        assert_eq!(
            validate(
                MatchKind::Regex,
                &strings(&[r"^订单\s*\d{6,}$", r"\p{Han}{2}退款"])
            ),
            Ok(())
        );
    }

    #[test]
    fn validate_refuses_empty_and_oversized_keyword_lists() {
        let e = validate(MatchKind::Exact, &[]).unwrap_err().to_string();
        assert!(e.contains("at least one keyword"), "{e}");
        let many = vec!["a".to_owned(); MAX_KEYWORDS + 1];
        let e = validate(MatchKind::Contains, &many)
            .unwrap_err()
            .to_string();
        assert!(e.contains("at most 50 keywords"), "{e}");
        let long = "长".repeat(MAX_KEYWORD_CHARS + 1);
        let e = validate(MatchKind::Contains, &[long])
            .unwrap_err()
            .to_string();
        assert!(e.contains("longer than 200 characters"), "{e}");
        assert!(e.chars().count() < 120, "the keyword is cut short: {e}");
        assert_eq!(
            validate(MatchKind::Contains, &["长".repeat(MAX_KEYWORD_CHARS)]),
            Ok(())
        );
    }

    #[test]
    fn validate_refuses_keywords_that_normalise_to_nothing() {
        let e = validate(MatchKind::Exact, &strings(&["ok", "  "]))
            .unwrap_err()
            .to_string();
        assert_eq!(e, "a keyword is empty");
        let e = validate(MatchKind::Contains, &strings(&["！？"]))
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("“！？”") && e.contains("only spaces, punctuation or emoji"),
            "{e}"
        );
        let e = validate(MatchKind::Regex, &strings(&[" "]))
            .unwrap_err()
            .to_string();
        assert_eq!(e, "a regex is empty");
    }

    #[test]
    fn validate_refuses_a_bad_regex_with_the_reason_on_one_line() {
        let e = validate(MatchKind::Regex, &strings(&["(退款"]))
            .unwrap_err()
            .to_string();
        assert_eq!(e, "the regex “(退款” does not compile: unclosed group");
        let e = validate(MatchKind::Regex, &strings(&["ok", "a{2,1}"]))
            .unwrap_err()
            .to_string();
        assert!(
            e.starts_with("the regex “a{2,1}” does not compile: "),
            "{e}"
        );
        assert!(!e.contains('\n'), "{e}");
        let e = validate(MatchKind::Regex, &strings(&[r"(?<name>a)\k<name>"]))
            .unwrap_err()
            .to_string();
        assert!(e.contains("does not compile") && !e.contains('\n'), "{e}");
    }

    #[test]
    fn backtracking_traps_are_fine_because_matching_is_linear() {
        let rules = strings(&["(a+)+$", "(x+x+)+y", "(.*a){12}"]);
        assert_eq!(validate(MatchKind::Regex, &rules), Ok(()));
        let m = matcher(&[rule(1, 0, MatchKind::Regex, &["(a+)+$", "(x+x+)+y"])]);
        let text = format!("{}!", "a".repeat(5_000));
        assert_eq!(m.choose(&text), Some(1), "trailing punctuation is trimmed");
        let started = std::time::Instant::now();
        assert_eq!(m.choose(&format!("{}b", "x".repeat(5_000))), None);
        assert!(started.elapsed() < std::time::Duration::from_secs(1));
    }

    #[test]
    fn an_enormous_regex_is_refused_for_its_size() {
        let e = validate(MatchKind::Regex, &strings(&[r"\w{1000}{1000}"]))
            .unwrap_err()
            .to_string();
        assert!(e.contains("too large once compiled"), "{e}");
        // sized for what admins write
        assert_eq!(
            validate(
                MatchKind::Regex,
                &strings(&[r"\w{20}", r"[\p{Han}\w]{1,30}"])
            ),
            Ok(())
        );
    }

    #[test]
    fn a_bad_regex_stored_anyway_names_its_rule() {
        let e = Matcher::compile(&[
            rule(1, 0, MatchKind::Regex, &["ok"]),
            rule(2, 0, MatchKind::Regex, &["(bad"]),
        ])
        .unwrap_err();
        assert!(matches!(e, RuleError::Regex { rule: 2, .. }), "{e:?}");
        assert_eq!(
            e.to_string(),
            "rule 2: the regex “(bad” does not compile: unclosed group"
        );
        let e =
            Matcher::compile(&[rule(3, 0, MatchKind::Regex, &[r"\w{1000}{1000}"])]).unwrap_err();
        assert!(matches!(e, RuleError::Regex { rule: 3, .. }), "{e}");
    }

    #[test]
    fn regexes_that_are_each_fine_can_be_too_large_together() {
        // each about 1.7 MiB: 50 of them are well over the limit
        let big = r"\w{30}";
        assert_eq!(validate(MatchKind::Regex, &strings(&[big])), Ok(()));
        let rules: Vec<RuleSpec> = (0..50)
            .map(|i| rule(i, 0, MatchKind::Regex, &[&format!("{big}{i}")]))
            .collect();
        let e = Matcher::compile(&rules).unwrap_err();
        assert!(matches!(e, RuleError::RegexesTooLarge), "{e}");
        assert!(e.to_string().contains("MiB"), "{e}");
    }

    #[test]
    fn the_matcher_is_shareable_between_threads() {
        fn shareable<T: Send + Sync + 'static>() {}
        shareable::<Matcher>();
    }

    #[test]
    fn regexes_are_found_by_their_literals_whatever_the_case() {
        let m = matcher(&[
            rule(1, 5, MatchKind::Regex, &[r"\bREFUND\b"]),
            rule(2, 4, MatchKind::Regex, &[r"\p{Han}{2}退款"]),
            rule(3, 3, MatchKind::Regex, &[r"^\d+$"]),
            rule(4, 2, MatchKind::Regex, &["sale"]),
            rule(5, 1, MatchKind::Regex, &["(?-i)Kefu"]),
        ]);
        assert_eq!(m.choose("Refund please"), Some(1));
        assert_eq!(
            m.choose("我要refund"),
            None,
            "Unicode \\b: 要 is a word character"
        );
        assert_eq!(m.choose("我要 refund"), Some(1));
        assert_eq!(m.choose("马上退款"), Some(2), "found by its last literal");
        assert_eq!(m.choose("退款"), None);
        assert_eq!(
            m.choose("１２３４５"),
            Some(3),
            "a regex without literals is always tried"
        );
        assert_eq!(m.choose("ſale"), Some(4), "ſ is a case variant of s");
        assert_eq!(m.choose("SALE!"), Some(4));
        assert_eq!(
            m.choose("Kefu"),
            None,
            "the text is lowercased before a case-sensitive regex"
        );
    }

    /// Rule by rule, the obvious way: what the compiled matcher must agree with.
    fn reference(rules: &[RuleSpec], text: &str) -> Option<i64> {
        let t = normalize(text);
        rules
            .iter()
            .filter(|r| {
                r.keywords.iter().any(|k| match r.kind {
                    MatchKind::Exact => !normalize(k).is_empty() && normalize(k) == t,
                    MatchKind::Contains => !normalize(k).is_empty() && t.contains(&normalize(k)),
                    MatchKind::Regex => {
                        !k.trim().is_empty()
                            && build_regex(k).expect("valid").0.is_match(t.as_str())
                    }
                })
            })
            .min_by_key(|r| (std::cmp::Reverse(r.priority), r.id))
            .map(|r| r.id)
    }

    const PIECES: &[&str] = &[
        "退款",
        "退",
        "款",
        "人工",
        "转人工",
        "客服",
        "订单",
        "123456",
        "1",
        "Refund",
        "REFUND",
        "order",
        "help",
        "ſ",
        "sale",
        " ",
        "  ",
        "！",
        "?",
        "😀",
        "，",
        "k",
        "\u{212A}",
        "慢",
    ];
    const KEYWORDS: &[&str] = &[
        "退款",
        "人工",
        "转人工",
        "订单",
        "refund",
        "help",
        "sale",
        "k",
        "客服",
        "退款慢",
    ];
    const REGEXES: &[&str] = &[
        r"\brefund\b",
        r"退款.*慢",
        r"^\d+$",
        r"订单\s*\d{6,}",
        r"\p{Han}{2}客服",
        r"(help|order)+",
        r"s",
        r"(?-i)K",
        r"人工|客服",
        r"^(转)?人工$",
        r"\d{2,}[a-z]",
        r"[^a]",
    ];

    fn arbitrary_rule() -> impl proptest::strategy::Strategy<Value = RuleSpec> {
        use proptest::prelude::*;
        (
            0..3usize,
            -3..3i64,
            proptest::collection::vec(0..12usize, 1..3),
        )
            .prop_map(|(kind, priority, picks)| {
                let (kind, pool) = match kind {
                    0 => (MatchKind::Exact, KEYWORDS),
                    1 => (MatchKind::Contains, KEYWORDS),
                    _ => (MatchKind::Regex, REGEXES),
                };
                RuleSpec {
                    id: 0,
                    priority,
                    kind,
                    keywords: picks
                        .iter()
                        .map(|&i| pool[i % pool.len()].to_owned())
                        .collect(),
                }
            })
    }

    proptest::proptest! {
        #[test]
        fn the_matcher_agrees_with_matching_rule_by_rule(
            mut rules in proptest::collection::vec(arbitrary_rule(), 0..12),
            texts in proptest::collection::vec(proptest::collection::vec(0..PIECES.len(), 0..8), 1..8),
        ) {
            for (i, r) in rules.iter_mut().enumerate() {
                r.id = i as i64 + 1;
            }
            let m = matcher(&rules);
            for pieces in texts {
                let text: String = pieces.iter().map(|&i| PIECES[i]).collect();
                proptest::prop_assert_eq!(m.choose(&text), reference(&rules, &text), "text {:?}", text);
            }
        }

        #[test]
        fn choosing_never_panics_on_any_text(text in "\\PC*", raw in proptest::collection::vec(proptest::num::u32::ANY, 0..40)) {
            let m = matcher(&[
                rule(1, 1, MatchKind::Exact, &["转人工", "help"]),
                rule(2, 2, MatchKind::Contains, &["退款", "人工", "a"]),
                rule(3, 3, MatchKind::Regex, &[r"^\d+$", r"\b\w{3}\b", "😀"]),
            ]);
            let _ = m.choose(&text);
            // and on text of any code points, not only printable ones
            let any: String = raw.into_iter().filter_map(char::from_u32).collect();
            let _ = m.choose(&any);
        }

        #[test]
        fn normalising_twice_changes_nothing(text in "\\PC*") {
            let once = normalize(&text);
            proptest::prop_assert_eq!(normalize(&once), once);
        }
    }
}
