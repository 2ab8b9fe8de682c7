-- Search across all history (issue #15; src/search.rs says why it is built this way). Two
-- FTS5 indexes over each message's normalised searchable text, keyed by the message's id,
-- contentless (the text is the message's own: the index keeps postings only) and without
-- per-row sizes (nothing is ranked: results are newest first):
--   search_trigrams: the text's trigrams with their positions, for queries of 3+ characters
--     (a phrase of trigrams is an exact substring test);
--   search_grams: each character and each pair of adjacent characters as a word, without
--     positions, for queries of 1 or 2 characters.
-- The text is normalised as the rules normalise (automation::rules::normalize), which SQL
-- cannot do: the single writer fills both from `search_cursor` on, between its batches. The
-- cursor starts at 0, so this migration has the whole existing history indexed (in chunks,
-- within a minute or so for a million messages); searches meanwhile read the messages after
-- the cursor directly, so they are complete, only slower, until it has caught up.
create virtual table search_trigrams using fts5 (
    body,
    content = '',
    columnsize = 0,
    detail = full,
    tokenize = 'trigram case_sensitive 1'
);

create virtual table search_grams using fts5 (
    grams,
    content = '',
    columnsize = 0,
    detail = none,
    tokenize = 'ascii'
);

create table search_cursor (
    id integer primary key check (id = 1),
    -- every message with an id up to this one is in the index
    last_message_id integer not null
) strict;

insert into search_cursor (id, last_message_id) values (1, 0);
