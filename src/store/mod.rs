//! Every SQL statement kefu runs lives under this module, as small functions that take a
//! connection or transaction; the caller owns the transaction. SQL is lowercase, uses `$1`
//! placeholders, `returning` and `on conflict`, and no SQLite-only functions, so that a
//! Postgres backend can mirror it later.
//!
//! SQLite is set up on purpose: WAL so readers never block the writer; `synchronous = full`
//! because kefu answers WeChat `success` only after a commit is on disk (group commit in
//! `ingest` makes that affordable: one fsync per batch, not per push); a busy timeout so an
//! occasional second writer waits instead of failing; foreign keys on.

pub mod api_tokens;
pub mod audit;
pub mod backup;
pub mod canned;
pub mod channels;
pub mod conversations;
pub mod doctor;
pub mod inbound;
pub mod labels;
pub mod media;
pub mod messages;
pub mod outbox;
pub mod read;
pub mod reports;
pub mod rules;
pub mod search;
pub mod seed;
pub mod sessions;
pub mod settings;
pub mod staff;
pub mod tokens;
pub mod write;

use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};
use sqlx::{ConnectOptions, Connection};

pub use sqlx::Error as DbError;

/// The migrations folder, embedded in the binary.
pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

/// The database: a pool for reads and occasional writes, and the options to open the single
/// writer's own connection (`write`) to the same file with the same settings.
#[derive(Clone, Debug)]
pub struct Store {
    pool: SqlitePool,
    /// shared: a `Store` is cloned often, and the options hold a map of pragmas
    options: Arc<SqliteConnectOptions>,
    /// the connections the pages' reads run on (`read`)
    readers: Arc<read::Readers>,
}

impl Store {
    /// Opens (creating if missing) the database at `url`.
    pub async fn open(url: &str) -> Result<Store, DbError> {
        let options = SqliteConnectOptions::from_str(url)?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Full)
            .busy_timeout(BUSY_TIMEOUT)
            .foreign_keys(true)
            .statement_cache_capacity(256)
            // Checkpoints are the ingest writer's, between its batches (`writer`): left
            // automatic, SQLite runs them inside whichever commit crosses the threshold, and
            // every waiting webhook request would wait for it too.
            .pragma("wal_autocheckpoint", "0")
            // The WAL file is reused from its start after each restart; this only cuts it back
            // after a rare long stretch without one (a long backup holding a snapshot).
            .pragma("journal_size_limit", WAL_SIZE_LIMIT.to_string())
            // statements are logged by our own spans, not one INFO line per query
            .disable_statement_logging();
        // One connection first, alone: it creates the file and turns on WAL, which needs the
        // database to itself; eight connections doing that at once find it locked.
        options.connect().await?.close().await?;
        // Every connection opened at once and kept for good: a pool that grows on demand opens
        // some from the dashboards' thread, and SQLite's connection threads would inherit its
        // lower priority (`live::Fanout`); one that closes idle connections after ten minutes
        // and reopens them makes the open files and memory churn for nothing.
        let pool = SqlitePoolOptions::new()
            .max_connections(POOL)
            .min_connections(POOL)
            .idle_timeout(None)
            .max_lifetime(None)
            .connect_with(options.clone())
            .await?;
        Ok(Store {
            pool,
            readers: Arc::new(read::Readers::new(options.get_filename().to_owned())),
            options: Arc::new(options),
        })
    }

    pub fn pool(&self) -> &SqlitePool {
        &self.pool
    }

    /// A write transaction from the pool. `begin immediate` takes the write lock up front: a
    /// deferred transaction that reads first and writes later fails at once (SQLITE_BUSY,
    /// no waiting) if another connection wrote in between.
    pub async fn begin_write(&self) -> Result<sqlx::Transaction<'static, sqlx::Sqlite>, DbError> {
        self.pool.begin_with("begin immediate").await
    }

    /// Applies pending migrations; safe to call on every start.
    pub async fn migrate(&self) -> Result<(), sqlx::migrate::MigrateError> {
        MIGRATOR.run(&self.pool).await
    }

    /// Answers when the database does (for `/readyz`).
    pub async fn ping(&self) -> Result<(), DbError> {
        sqlx::query("select 1")
            .execute(&self.pool)
            .await
            .map(|_| ())
    }

    pub async fn close(&self) {
        // a last full checkpoint leaves a tidy database file behind
        let _ = sqlx::query("pragma wal_checkpoint(truncate)")
            .execute(&self.pool)
            .await;
        self.pool.close().await;
    }
}

/// The pool's connections (readers, and the occasional second writer).
const POOL: u32 = 8;
/// How long a connection waits for another's lock (an occasional second writer).
pub const BUSY_TIMEOUT: Duration = Duration::from_secs(10);
/// The WAL file is cut back to this after a restart (`journal_size_limit`, bytes).
const WAL_SIZE_LIMIT: i64 = 64 * 1024 * 1024;

/// What a checkpoint found: the WAL's frames (pages; 0 once it starts over), and whether it
/// gave up on readers (or on another checkpoint) before it was done.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Checkpointed {
    pub wal_frames: i64,
    pub busy: bool,
}

/// How a checkpoint treats the readers and the WAL (SQLite's checkpoint modes).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CheckpointMode {
    /// Copies what no reader still needs from the WAL, waits for nobody, starts nothing over.
    Passive,
    /// Copies everything and waits (at most the given time) for the readers of older
    /// snapshots to finish, so that the next write transaction starts the WAL over from its
    /// beginning, reusing the file.
    Restart,
    /// `Restart`, and the WAL starts over at once, its file cut to nothing.
    Truncate,
}

/// The `content` column's text for a message's content (its kind goes in the `type` column).
pub(crate) fn content_json(content: &crate::domain::MessageContent) -> Result<String, DbError> {
    content
        .to_stored()
        .map_err(|e| DbError::Encode(Box::new(e)))
}

/// Whether `err` is a unique-constraint violation (the caller knows which constraint it risked).
pub fn is_unique_violation(err: &DbError) -> bool {
    err.as_database_error()
        .is_some_and(|e| e.is_unique_violation())
}

/// A migrated database in a directory of its own, for the unit tests.
#[cfg(test)]
pub(crate) async fn temp_store() -> (tempfile::TempDir, Store) {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&format!("sqlite://{}/kefu.db", dir.path().display()))
        .await
        .unwrap();
    store.migrate().await.unwrap();
    (dir, store)
}

#[cfg(test)]
mod tests {
    //! The store's boundary: what comes out of a row is typed, and what does not read is
    //! either an error (an enumerated column, a rule's keywords) or, for a message's content,
    //! an unknown message that keeps the stored text.

    use super::*;
    use crate::domain::{
        ConversationStatus, Handler, MessageContent, MessageType, Role, SenderKind, content,
    };
    use crate::store::inbound::{Inbound, Stored};

    use super::temp_store as store;

    fn inbound(key: &str, kind: MessageType, content: &str) -> Inbound {
        Inbound {
            channel_id: 1,
            openid: "o-store-test".into(),
            dedup_key: key.into(),
            kind,
            content: content.into(),
            wechat_time: 1_000,
            is_customer_message: true,
            is_enter: false,
            session_from: None,
            media_id: None,
        }
    }

    /// Stores one incoming message; (message id, conversation id).
    async fn push(store: &Store, message: &Inbound) -> (i64, i64) {
        let mut conn = store.write_connection().unwrap();
        let tx = conn.transaction().unwrap();
        let stored = inbound::store_batch(&tx, &[message], 1_000).unwrap();
        tx.commit().unwrap();
        match stored[0] {
            Stored::New {
                message_id,
                conversation_id,
                ..
            } => (message_id, conversation_id),
            Stored::Duplicate => panic!("a fresh key"),
        }
    }

    #[tokio::test]
    async fn a_checkpoint_starts_a_long_wal_over_and_gives_up_quickly_on_a_stuck_reader() {
        let (dir, store) = store().await;
        let wal = dir.path().join("kefu.db-wal");
        let wal_len = || std::fs::metadata(&wal).map_or(0, |m| m.len());
        for i in 0..20 {
            push(
                &store,
                &inbound(&format!("k{i}"), MessageType::Text, r#"{"text":"x"}"#),
            )
            .await;
        }
        assert!(wal_len() > 0, "the writes are in the WAL");
        let wait = Duration::from_millis(100);
        let conn = store.write_connection().unwrap();
        // short: copied into the database, but the WAL is left as it is
        let kept = conn.checkpoint(CheckpointMode::Passive, wait).unwrap();
        assert!(kept.wal_frames > 0 && !kept.busy, "{kept:?}");
        assert!(wal_len() > 0);
        // long: it starts over, empty
        let done = conn.checkpoint(CheckpointMode::Truncate, wait).unwrap();
        assert_eq!(
            done,
            Checkpointed {
                wal_frames: 0,
                busy: false
            }
        );
        assert_eq!(wal_len(), 0, "the WAL file is truncated");

        // a reader that never finishes: the checkpoint gives up within its busy timeout,
        // and writing goes on
        push(
            &store,
            &inbound("k-before-reader", MessageType::Text, r#"{"text":"x"}"#),
        )
        .await;
        let mut reader = store.pool().begin().await.unwrap();
        let _: i64 = sqlx::query_scalar("select count(*) from messages")
            .fetch_one(&mut *reader)
            .await
            .unwrap();
        push(
            &store,
            &inbound("k-after-reader", MessageType::Text, r#"{"text":"x"}"#),
        )
        .await;
        let started = std::time::Instant::now();
        let stuck = conn.checkpoint(CheckpointMode::Truncate, wait).unwrap();
        assert!(stuck.busy, "{stuck:?}");
        assert!(
            started.elapsed() < Duration::from_secs(2),
            "{:?}",
            started.elapsed()
        );
        push(
            &store,
            &inbound("k-while-reading", MessageType::Text, r#"{"text":"x"}"#),
        )
        .await;
        reader.rollback().await.unwrap();
        let done = conn.checkpoint(CheckpointMode::Truncate, wait).unwrap();
        assert_eq!(
            done,
            Checkpointed {
                wal_frames: 0,
                busy: false
            }
        );
    }

    #[tokio::test]
    async fn rows_come_out_typed() {
        let (_dir, store) = store().await;
        let (_, conversation) = push(
            &store,
            &inbound("k1", MessageType::Text, r#"{"text":"hi"}"#),
        )
        .await;
        let row = conversations::get(&store, conversation)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(
            (row.status, row.handler),
            (ConversationStatus::Open, Handler::Bot)
        );
        let mut tx = store.begin_write().await.unwrap();
        conversations::set_status(&mut tx, conversation, ConversationStatus::Pending, 2_000)
            .await
            .unwrap();
        conversations::set_handler(&mut tx, conversation, Handler::Wechat)
            .await
            .unwrap();
        tx.commit().await.unwrap();
        let row = conversations::get(&store, conversation)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(
            (row.status, row.handler),
            (ConversationStatus::Pending, Handler::Wechat)
        );
        // every content kefu writes goes in and comes out the same
        for (kind, json) in content::stored_examples() {
            let content = MessageContent::from_stored(kind, &json.to_string()).unwrap();
            let mut tx = store.begin_write().await.unwrap();
            let message = outbox::NewMessage {
                conversation_id: conversation,
                sender_kind: SenderKind::Agent,
                sender_id: None,
                content: &content,
                deliver: false,
                answered_in_push: false,
            };
            let id = outbox::insert(&mut tx, &message, 3_000).await.unwrap();
            tx.commit().await.unwrap();
            let row = messages::get(store.pool(), id).await.unwrap().unwrap();
            assert_eq!(row.content, content);
            assert_eq!(row.sender_kind, SenderKind::Agent);
        }
    }

    #[tokio::test]
    async fn a_message_whose_content_does_not_read_is_shown_as_unknown_with_the_stored_text() {
        let (_dir, store) = store().await;
        for (key, kind, stored) in [
            ("k1", MessageType::Text, r#"{"text": 42}"#),
            ("k2", MessageType::Image, "not json at all"),
            ("k3", MessageType::Link, r#"{"title": "no url"}"#),
        ] {
            let (id, _) = push(&store, &inbound(key, kind, stored)).await;
            let row = messages::get(store.pool(), id).await.unwrap().unwrap();
            assert_eq!(
                row.content,
                MessageContent::unreadable(kind.as_str(), stored),
                "{kind}"
            );
            assert_eq!(row.content.kind(), MessageType::Unknown);
            assert!(!row.content.is_sendable());
        }
    }

    #[tokio::test]
    async fn an_enumerated_value_kefu_does_not_know_is_an_error_not_a_default() {
        let (_dir, store) = store().await;
        let mut tx = store.begin_write().await.unwrap();
        let id = staff::create(&mut tx, "ann", "Ann", Role::Agent, "hash", 0)
            .await
            .unwrap();
        tx.commit().await.unwrap();
        let ann = staff::by_id(store.pool(), id).await.unwrap().unwrap();
        assert_eq!((ann.role, ann.locale), (Role::Agent, None));
        // `locale` has no CHECK constraint: a value written by hand reaches the decoder
        sqlx::query("update staff_users set locale = 'fr' where id = $1")
            .bind(id)
            .execute(store.pool())
            .await
            .unwrap();
        let error = staff::by_id(store.pool(), id).await.unwrap_err();
        assert!(
            matches!(&error, sqlx::Error::ColumnDecode { index, .. } if index.contains("locale")),
            "{error}"
        );
    }

    #[tokio::test]
    async fn a_rules_keywords_must_read_and_an_unreadable_reply_is_kept_as_unknown() {
        use crate::domain::{MatchKind, RuleAction};
        let (_dir, store) = store().await;
        let keywords = vec!["退款".to_owned()];
        let reply = MessageContent::text("ok");
        let mut tx = store.begin_write().await.unwrap();
        let fields = rules::RuleFields {
            name: "refund",
            enabled: true,
            priority: 1,
            match_kind: MatchKind::Contains,
            keywords: &keywords,
            action: RuleAction::Reply,
            reply: Some(&reply),
            channel_id: None,
        };
        let id = rules::create(&mut tx, &fields, 0).await.unwrap();
        tx.commit().await.unwrap();
        let rule = rules::get(store.pool(), id).await.unwrap().unwrap();
        assert_eq!(
            (rule.match_kind, rule.action, &rule.keywords, &rule.reply),
            (
                MatchKind::Contains,
                RuleAction::Reply,
                &keywords,
                &Some(reply)
            )
        );
        sqlx::query("update rules set reply = '{\"type\":\"voice\"}' where id = $1")
            .bind(id)
            .execute(store.pool())
            .await
            .unwrap();
        let rule = rules::get(store.pool(), id).await.unwrap().unwrap();
        assert_eq!(
            rule.reply,
            Some(MessageContent::unreadable("reply", r#"{"type":"voice"}"#))
        );
        sqlx::query("update rules set keywords = 'oops' where id = $1")
            .bind(id)
            .execute(store.pool())
            .await
            .unwrap();
        assert!(rules::get(store.pool(), id).await.is_err());
    }
}
