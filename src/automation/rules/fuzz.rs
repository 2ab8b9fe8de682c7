//! Fuzz targets for the rules' matching (tests only; see `crate::fuzzing`): normalisation on
//! any text, an admin's keywords and regexes checked as they are saved, and the compiled
//! matcher against the obvious rule-by-rule reading, with keywords and regexes built from
//! pieces rather than picked from a list.

use proptest::prelude::*;

use super::{
    KeywordProblem, MAX_KEYWORD_CHARS, MatchKind, Matcher, RuleSpec, build_regex, normalize,
    validate,
};

/// Text as customers and admins write it, odd corners included: full-width forms, the
/// ideographic space, CJK with and without spaces, punctuation and emoji (with joiners,
/// skin tones and variation selectors), letters whose lower case is longer (`İ`) or special
/// (`ẞ`, the Kelvin sign, final sigma), combining marks, control characters.
fn soup() -> impl Strategy<Value = String> {
    let piece = prop::sample::select(vec![
        "退款",
        "人工",
        "转",
        "客服",
        "订单",
        "123456",
        "Refund",
        "HELP",
        "order",
        "a",
        "Z",
        "1",
        " ",
        "  ",
        "\t",
        "\n",
        "\r\n",
        "\u{3000}",
        "\u{a0}",
        "\u{2028}",
        "！",
        "?",
        "。",
        "，",
        "、",
        "…",
        "“",
        "”",
        "【",
        "】",
        "～",
        "ＨＥＬＰ",
        "Ｏｒｄｅｒ",
        "１２３",
        "😀",
        "👍🏽",
        "❤️",
        "👨‍👩‍👧",
        "🇨🇳",
        "\u{fe0f}",
        "\u{200d}",
        "\u{feff}",
        "İ",
        "ẞ",
        "\u{212a}",
        "ΣΑΣ",
        "ς",
        "ǅ",
        "é",
        "e\u{301}",
        "\u{301}",
        "ſ",
        "ﬃ",
        "\0",
        "\u{7f}",
        "\u{85}",
        "\u{1b}",
        "$",
        "¥",
        "€",
        "ｶ",
        "ｰ",
        "ア",
        "한",
        "\u{e0067}",
        "\u{10ffff}",
        "𠀀",
    ]);
    prop_oneof![
        prop::collection::vec(piece, 0..24).prop_map(|p| p.concat()),
        any::<String>(),
        "\\PC{0,40}",
    ]
}

/// Regexes an admin might write, and some they should not: built from pieces, most of which
/// do not parse on their own.
fn regex_soup() -> impl Strategy<Value = String> {
    let piece = prop::sample::select(vec![
        "退款",
        "人工",
        "refund",
        "K",
        "ß",
        "\\d",
        "\\w",
        "\\s",
        "\\b",
        "\\B",
        "\\p{Han}",
        "\\pL",
        ".",
        ".*",
        "+",
        "?",
        "*",
        "{2}",
        "{2,}",
        "{1,3}",
        "{0}",
        "^",
        "$",
        "|",
        "(",
        ")",
        "(?:",
        "(?i)",
        "(?-i)",
        "(?u)",
        "[",
        "]",
        "[^a]",
        "[a-z]",
        "[[:alpha:]]",
        "\\",
        "\\x{1F600}",
        "\\u{0}",
        "\\Q",
        "\\E",
        "a",
        "😀",
        " ",
        "{",
        "}",
        "(?P<n>",
        "\\1",
        "\\z",
        "\\A",
        "{999}",
        "\\w{200}",
    ]);
    prop_oneof![
        prop::collection::vec(piece, 1..12).prop_map(|p| p.concat()),
        "\\PC{1,30}",
    ]
}

fn kind() -> impl Strategy<Value = MatchKind> {
    prop_oneof![
        Just(MatchKind::Exact),
        Just(MatchKind::Contains),
        Just(MatchKind::Regex)
    ]
}

/// A rule whose keywords passed `validate`, as saving requires.
fn rule() -> impl Strategy<Value = RuleSpec> {
    (
        kind(),
        -3..3i64,
        prop::collection::vec(soup(), 1..4),
        prop::collection::vec(regex_soup(), 1..3),
    )
        .prop_filter_map(
            "keywords that validate",
            |(kind, priority, words, regexes)| {
                let keywords = match kind {
                    MatchKind::Regex => regexes,
                    _ => words,
                };
                validate(kind, &keywords).ok()?;
                Some(RuleSpec {
                    id: 0,
                    priority,
                    kind,
                    keywords,
                })
            },
        )
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
                        && build_regex(k).is_ok_and(|(regex, _)| regex.is_match(t.as_str()))
                }
            })
        })
        .min_by_key(|r| (std::cmp::Reverse(r.priority), r.id))
        .map(|r| r.id)
}

proptest! {
    #![proptest_config(crate::fuzzing::config())]

    /// Normalising never panics, a second time changes nothing, and the result is tidy: no
    /// white space at either end or twice in a row, no ASCII capitals or full-width forms, and
    /// at most 3/2 the input's length (only `İ` grows when lower-cased, from 2 bytes to 3).
    #[test]
    fn fuzz_normalize_is_idempotent_tidy_and_bounded(text in soup()) {
        let once = normalize(&text);
        prop_assert_eq!(&normalize(&once), &once, "input {:?}", text);
        prop_assert!(once.len() <= text.len() * 3 / 2, "{:?} → {:?}", text, once);
        prop_assert_eq!(once.trim(), once.as_str());
        prop_assert!(!once.contains("  "));
        let untidy = |c: char| {
            c.is_ascii_uppercase() || ('\u{FF01}'..='\u{FF5E}').contains(&c) || c == '\u{3000}'
        };
        prop_assert!(!once.chars().any(untidy), "{:?}", once);
        let mut previous_space = false;
        for c in once.chars() {
            prop_assert!(!(previous_space && c.is_whitespace()), "{:?}", once);
            previous_space = c.is_whitespace();
        }
    }

    /// Checking an admin's keywords never panics, whatever they typed; a keyword that passes
    /// means something once normalised (or, for a regex, compiles), and one that is too long
    /// or empty is refused for that reason.
    #[test]
    fn fuzz_validate_never_panics_and_names_the_problem(
        kind in kind(),
        keywords in prop::collection::vec(prop_oneof![soup(), regex_soup()], 0..4),
        long in prop::option::of(MAX_KEYWORD_CHARS + 1..MAX_KEYWORD_CHARS + 50),
    ) {
        let mut keywords = keywords;
        if let Some(n) = long {
            keywords.push("字".repeat(n));
        }
        match validate(kind, &keywords) {
            Ok(()) => {
                prop_assert!(!keywords.is_empty());
                for k in &keywords {
                    prop_assert!(k.chars().count() <= MAX_KEYWORD_CHARS);
                    match kind {
                        MatchKind::Regex => prop_assert!(build_regex(k).is_ok()),
                        _ => prop_assert!(!normalize(k).is_empty()),
                    }
                }
            }
            Err(KeywordProblem::NoKeywords) => prop_assert!(keywords.is_empty()),
            Err(KeywordProblem::TooLong(_)) => {
                prop_assert!(keywords.iter().any(|k| k.chars().count() > MAX_KEYWORD_CHARS))
            }
            Err(KeywordProblem::Empty | KeywordProblem::EmptyRegex) => {
                prop_assert!(keywords.iter().any(|k| k.trim().is_empty()))
            }
            Err(_) => {}
        }
        prop_assert!(long.is_none() || validate(kind, &keywords).is_err());
    }

    /// The compiled matcher chooses exactly the rule the rule-by-rule reading chooses, for
    /// keywords and regexes built from pieces and any text; and a text holding a `contains`
    /// keyword always fires some rule.
    #[test]
    fn fuzz_matcher_agrees_with_rule_by_rule(
        mut rules in prop::collection::vec(rule(), 0..8),
        texts in prop::collection::vec(soup(), 1..6),
        around in (soup(), soup()),
    ) {
        for (i, r) in rules.iter_mut().enumerate() {
            r.id = i as i64 + 1;
        }
        let Ok(m) = Matcher::compile(&rules) else {
            // only the regexes' memory together may refuse rules that each validated
            return Ok(());
        };
        for text in &texts {
            prop_assert_eq!(m.choose(text), reference(&rules, text), "text {:?}", text);
        }
        if let Some(r) = rules.iter().find(|r| r.kind == MatchKind::Contains) {
            let text = format!("{}{}{}", around.0, r.keywords[0], around.1);
            prop_assert!(m.choose(&text).is_some(), "{:?} holds {:?}", text, r.keywords[0]);
        }
    }
}
