//! Search across all history (docs/CONTRACT.md "Search"): what of a message is searchable, the
//! form it is indexed and queried in, the index's upkeep on the writer's thread (`index_turn`), and
//! the snippet shown around a match. The SQL is `store::search`'s; the HTTP is `web::search`'s.
//!
//! # Semantics
//!
//! A message matches when its searchable text, normalised by the rules' normalisation
//! (`automation::rules::normalize`: full-width forms, letter case, white space), contains the
//! normalised query as a substring. Each searchable field (a text's or note's text, a link's
//! title and description, a card's title, a voice message's recognition) is normalised on its
//! own and the fields are joined by a line feed, which no normalised query contains: a query
//! never matches across two fields.
//!
//! # The index (SQLite)
//!
//! Two FTS5 tables keyed by the message's id, both contentless (the text is the message's own;
//! the index keeps only postings):
//!
//! - `search_trigrams` (`trigram` tokenizer, case-sensitive since the text is already folded,
//!   positions kept): a query of three characters or more is a phrase of its trigrams, which
//!   FTS5 answers exactly as a substring test.
//! - `search_grams` (positions dropped): every character and every pair of adjacent
//!   characters of the normalised text, as words (`grams`), for queries of one or two
//!   characters, which a trigram index cannot answer. A normalised query begins and ends with
//!   a character the normalisation does not trim (no white space, ASCII punctuation or emoji),
//!   so a query of one or two characters is made of letters, digits, CJK and other non-ASCII
//!   characters only, exactly what `grams` keeps; each is one posting list, read newest first
//!   and stopped at the page's end, so the most common character of Chinese costs what a rare
//!   one does.
//!
//! # Freshness
//!
//! The index is kept by the single writer between its batches (`index_turn`, a cursor over
//! message ids), not by triggers on the push path: at most every 250 ms while pushes come, and
//! within a second of a reply or note written through the pool. A search reads, in one
//! snapshot, the cursor and the index for the messages up to it, and scans the few messages
//! after it directly: a message is found from the moment it is committed, whatever the
//! indexer's lag.

use crate::automation::rules::normalize;
use crate::domain::MessageContent;

/// The longest query, in characters (after normalisation).
pub const MAX_QUERY_CHARS: usize = 200;

/// Separates the normalised fields of one message: normalisation turns any white space in a
/// query into a space, so no query contains it.
const FIELD_SEPARATOR: char = '\n';

/// The searchable fields of a message, as written (none for images, events and the like).
pub fn fields(content: &MessageContent) -> Vec<&str> {
    match content {
        MessageContent::Text(t) | MessageContent::Note(t) => vec![t.text.as_str()],
        MessageContent::Link(l) => vec![l.title.as_str(), l.description.as_str()],
        // an Official Account's link card (WeChat's news) is a link too
        MessageContent::News(n) => vec![n.title.as_str(), n.description.as_str()],
        MessageContent::MiniProgramPage(card) => vec![card.title.as_str()],
        MessageContent::Voice(v) => v.recognition.as_deref().into_iter().collect(),
        MessageContent::Image(_)
        | MessageContent::Video(_)
        | MessageContent::ShortVideo(_)
        | MessageContent::Location(_)
        | MessageContent::MsgMenu(_)
        | MessageContent::Event(_)
        | MessageContent::Unknown(_) => Vec::new(),
    }
}

/// The normalised searchable text of a message: its fields normalised one by one, the empty
/// ones left out, joined by a line feed. None when nothing of it is searchable.
pub fn searchable(content: &MessageContent) -> Option<String> {
    let parts: Vec<String> = fields(content)
        .into_iter()
        .map(normalize)
        .filter(|f| !f.is_empty())
        .collect();
    (!parts.is_empty()).then(|| parts.join(&FIELD_SEPARATOR.to_string()))
}

/// Whether `c` may be part of a one- or two-character query (and so is kept in `grams`): any
/// character but ASCII ones other than letters and digits, which normalisation trims from a
/// query's ends (and which the `ascii` tokenizer would take for separators).
fn in_grams(c: char) -> bool {
    !c.is_ascii() || c.is_ascii_alphanumeric()
}

/// The words `search_grams` indexes for a normalised text: each character and each pair of
/// adjacent characters that a short query can be, once each, separated by spaces.
pub fn grams(normalised: &str) -> String {
    // borrowed: the writer's search turn makes these for every message stored
    let mut seen: std::collections::HashSet<&str> = std::collections::HashSet::new();
    let mut out = String::with_capacity(normalised.len() * 3);
    let mut push = |gram| {
        if seen.insert(gram) {
            if !out.is_empty() {
                out.push(' ');
            }
            out.push_str(gram);
        }
    };
    let mut previous: Option<(usize, char)> = None;
    for (i, c) in normalised.char_indices() {
        if !in_grams(c) {
            previous = None;
            continue;
        }
        push(&normalised[i..i + c.len_utf8()]);
        if let Some((start, _)) = previous {
            push(&normalised[start..i + c.len_utf8()]);
        }
        previous = Some((i, c));
    }
    out
}

/// A query, normalised.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Query {
    text: String,
}

/// Why a query cannot be searched.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QueryProblem {
    /// nothing is left of it once normalised
    Empty,
    /// longer than `MAX_QUERY_CHARS` once normalised
    TooLong,
}

/// How the index answers a query.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lookup {
    /// one word of `search_grams`: a query of one or two characters
    Gram,
    /// a phrase of `search_trigrams`: three characters or more
    Trigram,
    /// no index can (a short query with a character `grams` leaves out, which normalisation
    /// never gives): the messages are read and tested one by one
    Scan,
}

impl Query {
    pub fn parse(raw: &str) -> Result<Query, QueryProblem> {
        let text = normalize(raw);
        match text.chars().count() {
            0 => Err(QueryProblem::Empty),
            n if n > MAX_QUERY_CHARS => Err(QueryProblem::TooLong),
            _ => Ok(Query { text }),
        }
    }

    /// The normalised text.
    pub fn text(&self) -> &str {
        &self.text
    }

    pub fn lookup(&self) -> Lookup {
        let n = self.text.chars().count();
        if n >= 3 {
            Lookup::Trigram
        } else if self.text.chars().all(in_grams) {
            Lookup::Gram
        } else {
            Lookup::Scan
        }
    }

    /// The FTS5 query: the text as one string (a phrase), its quotes doubled, so that nothing
    /// in it is an operator (`OR`, `NEAR`, `*`, `"`, parentheses are all plain text).
    pub fn fts(&self) -> String {
        format!("\"{}\"", self.text.replace('"', "\"\""))
    }

    /// Whether a message's content matches (the definition the index answers; used for the
    /// messages the index has not reached yet).
    pub fn matches(&self, content: &MessageContent) -> bool {
        fields(content)
            .into_iter()
            .any(|f| normalize(f).contains(&self.text))
    }

    /// The snippet around the first match in `content`: the normalised field it is in, cut to
    /// a window around it, with an ellipsis where it was cut. None if it does not match.
    pub fn snippet(&self, content: &MessageContent) -> Option<String> {
        fields(content)
            .into_iter()
            .map(normalize)
            .find_map(|f| snippet_of(&f, &self.text))
    }

    /// `snippet` cut into pieces, each either a match of the query or text around it, for the
    /// page to mark the matches (each piece is escaped as text by the template).
    pub fn pieces<'a>(&self, snippet: &'a str) -> Vec<Piece<'a>> {
        let mut out = Vec::new();
        let mut rest = snippet;
        while let Some(at) = rest.find(&self.text) {
            if at > 0 {
                out.push(Piece {
                    text: &rest[..at],
                    matched: false,
                });
            }
            let end = at + self.text.len();
            out.push(Piece {
                text: &rest[at..end],
                matched: true,
            });
            rest = &rest[end..];
        }
        if !rest.is_empty() {
            out.push(Piece {
                text: rest,
                matched: false,
            });
        }
        out
    }
}

/// A piece of a snippet: a match of the query, or the text between matches.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Piece<'a> {
    pub text: &'a str,
    pub matched: bool,
}

/// Characters kept before the first match in a snippet, and after it.
const BEFORE: usize = 24;
const AFTER: usize = 48;
const ELLIPSIS: &str = "…";

/// A window of `text` around the first occurrence of `query`.
fn snippet_of(text: &str, query: &str) -> Option<String> {
    let at = text.find(query)?;
    let head: Vec<(usize, char)> = text[..at].char_indices().collect();
    let start = if head.len() > BEFORE {
        head[head.len() - BEFORE].0
    } else {
        0
    };
    let after_match = at + query.len();
    let end = text[after_match..]
        .char_indices()
        .nth(AFTER)
        .map_or(text.len(), |(i, _)| after_match + i);
    let mut out = String::with_capacity(end - start + 2 * ELLIPSIS.len());
    if start > 0 {
        out.push_str(ELLIPSIS);
    }
    out.push_str(&text[start..end]);
    if end < text.len() {
        out.push_str(ELLIPSIS);
    }
    Some(out)
}

/// Messages indexed per transaction at most.
const CHUNK: usize = 2000;

/// One turn of the index's upkeep, run by the single writer between its batches
/// (`writer::Chore`): indexes the messages committed since the last turn (a cursor over
/// message ids, kept in the same transaction as the index's rows), at most `CHUNK` of them, so
/// that pushes never wait long behind it. A failure leaves the cursor where it was, and
/// searches read the messages after it directly meanwhile.
pub fn index_turn(conn: &rusqlite::Connection) -> rusqlite::Result<crate::writer::Turn> {
    let done = crate::store::search::index_pending(conn, CHUNK)?;
    Ok(crate::writer::Turn {
        done: done.indexed,
        more: done.more,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::content::{Link, MiniProgramPage, Text, Voice};

    #[test]
    fn each_field_is_normalised_on_its_own_and_a_query_never_spans_two() {
        let link = MessageContent::Link(Link {
            title: "ＨＥＬＬＯ  World".into(),
            description: "退款 申请！".into(),
            thumb_url: None,
            url: "https://example.com/ignored".into(),
        });
        assert_eq!(searchable(&link).as_deref(), Some("hello world\n退款申请"));
        let q = |s: &str| Query::parse(s).unwrap();
        assert!(q("hello   WORLD").matches(&link));
        assert!(q("款申").matches(&link));
        assert!(!q("world 退款").matches(&link), "across the two fields");
        assert!(!q("example").matches(&link), "the url is not searchable");
        let card = MessageContent::MiniProgramPage(MiniProgramPage {
            appid: "wx1".into(),
            pagepath: "pages/order".into(),
            thumb_media_id: None,
            thumb_url: None,
            title: "订单详情".into(),
        });
        assert!(q("订单").matches(&card));
        assert!(!q("order").matches(&card));
        let voice = |recognition: Option<&str>| {
            MessageContent::Voice(Voice {
                format: "amr".into(),
                media_id: None,
                recognition: recognition.map(str::to_owned),
                url: None,
            })
        };
        assert!(q("你好").matches(&voice(Some("你好。"))));
        assert_eq!(searchable(&voice(None)), None);
        assert_eq!(searchable(&MessageContent::text("  ！！ ")), None);
    }

    #[test]
    fn a_query_is_normalised_and_its_length_picks_the_index() {
        assert_eq!(Query::parse("  ！ "), Err(QueryProblem::Empty));
        assert_eq!(Query::parse("😀"), Err(QueryProblem::Empty));
        assert_eq!(
            Query::parse(&"字".repeat(MAX_QUERY_CHARS + 1)),
            Err(QueryProblem::TooLong)
        );
        let q = Query::parse("Ｒ").unwrap();
        assert_eq!((q.text(), q.lookup()), ("r", Lookup::Gram));
        let q = Query::parse("退款").unwrap();
        assert_eq!(q.lookup(), Lookup::Gram);
        let q = Query::parse("“退款吗”").unwrap();
        assert_eq!((q.text(), q.lookup()), ("退款吗", Lookup::Trigram));
        let q = Query::parse(r#"a"b OR c*"#).unwrap();
        assert_eq!(q.text(), r#"a"b or c"#);
        assert_eq!(q.fts(), r#""a""b or c""#);
    }

    #[test]
    fn grams_hold_every_character_and_pair_a_short_query_can_be() {
        assert_eq!(grams("退款退款"), "退 款 退款 款退");
        assert_eq!(grams("a-b c1"), "a b c 1 c1");
        assert_eq!(grams("好😀的"), "好 😀 好😀 的 😀的");
        // every short query made of a text's characters is among its grams
        let text = normalize("我要 Refund，ＯＫ？谢谢👍 no.1");
        let words: Vec<String> = grams(&text).split(' ').map(str::to_owned).collect();
        let chars: Vec<char> = text.chars().collect();
        for n in 1..=2 {
            for w in chars.windows(n) {
                let s: String = w.iter().collect();
                if let Ok(q) = Query::parse(&s)
                    && q.text() == s
                    && q.lookup() == Lookup::Gram
                {
                    assert!(words.contains(&s), "{s:?} in {words:?}");
                }
            }
        }
    }

    #[test]
    fn a_snippet_is_a_window_around_the_first_match_and_its_pieces_mark_every_match() {
        let long = format!("{}退款{}", "前".repeat(40), "后退款".repeat(30));
        let content = MessageContent::Text(Text { text: long });
        let q = Query::parse("退款").unwrap();
        let snippet = q.snippet(&content).unwrap();
        assert_eq!(
            snippet,
            format!("…{}退款{}…", "前".repeat(BEFORE), "后退款".repeat(16))
        );
        let pieces = q.pieces(&snippet);
        assert_eq!(pieces.iter().filter(|p| p.matched).count(), 17);
        assert_eq!(
            pieces.iter().map(|p| p.text).collect::<String>(),
            snippet,
            "nothing lost"
        );
        let short = MessageContent::text("Hello <script>");
        let q = Query::parse("SCRIPT").unwrap();
        assert_eq!(q.snippet(&short).as_deref(), Some("hello <script"));
        assert_eq!(
            q.pieces("hello <script"),
            vec![
                Piece {
                    text: "hello <",
                    matched: false
                },
                Piece {
                    text: "script",
                    matched: true
                }
            ]
        );
        assert_eq!(q.snippet(&MessageContent::text("nothing")), None);
    }
}
