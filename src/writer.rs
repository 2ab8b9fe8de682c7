//! The single writer: every high-rate write (incoming pushes, delivery and media outcomes)
//! goes through one thread (`kefu-writer`) that owns the write connection and commits in
//! batches.
//!
//! Why: SQLite allows one writer at a time and a durable commit costs an fsync. One
//! transaction per request would serialise every push behind its own fsync, and a second
//! busy writer would make the two wait on each other's locks (SQLite's busy handler sleeps in
//! steps of milliseconds). Instead callers send their write here; the thread takes whatever has
//! queued up (up to `MAX_BATCH`), applies it all in one transaction, commits once, and only
//! then answers each caller. Under light load a batch is one write and latency is one
//! commit; under heavy load batches grow and throughput follows.
//!
//! The writer is a thread, not a tokio task, because it drives SQLite itself (`store::write`):
//! its statements run back to back on the connection, where sqlx would hand each one to the
//! connection's own thread and wait to be woken, a round trip per statement (most of a push's
//! time to `success` on an idle machine, and a share of its CPU under load). Callers wait on
//! the queue and their answer asynchronously as before.
//!
//! The thread also keeps the WAL short (`Wal`): every `CHECKPOINT_EVERY`, between its batches,
//! when nothing is being appended, it copies the WAL into the database file and waits a few
//! milliseconds at most for the readers of older snapshots (a RESTART checkpoint), so that its
//! next transaction starts the WAL over from the beginning. Done often, each is small. A
//! checkpoint from another connection, racing a writer that commits every few milliseconds,
//! almost never found the WAL fully copied: under a steady load the WAL grew without end, or a
//! rarer TRUNCATE had to stop every writer while it copied hundreds of megabytes (the soak's
//! p99 of 85–500 ms).

use std::time::{Duration, Instant};

use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use crate::domain::now_millis;
use crate::store::inbound::{self, Inbound, Stored};
use crate::store::write::{WriteConnection, WriteDbError};
use crate::store::{CheckpointMode, Store, media, outbox};

/// Most writes applied in one transaction.
const MAX_BATCH: usize = 512;
/// Writes waiting for the writer; beyond this, callers wait (backpressure, bounded memory).
const QUEUE: usize = 4096;

/// A checkpoint between batches at most this often: each copies what the batches since the
/// last one appended (a few MB under the soak's load) and costs an fsync of the database
/// file, while new writes wait.
const CHECKPOINT_EVERY: Duration = Duration::from_millis(250);
/// A checkpoint is put off while writes are queued, but not longer than this.
const CHECKPOINT_LATEST: Duration = Duration::from_secs(1);
/// With nothing to write for this long, the WAL is copied anyway (other connections write
/// too: staff changes, queued replies).
const IDLE_CHECKPOINT: Duration = Duration::from_secs(1);
/// How long a checkpoint waits for readers of older snapshots (a read takes a millisecond or
/// two); new writes wait behind it meanwhile. When they take longer, the next one tries again.
const WAL_RESTART_WAIT: Duration = Duration::from_millis(4);

#[derive(Debug, thiserror::Error)]
pub enum WriteError {
    #[error("the message store is shutting down")]
    Closed,
    #[error("the write failed: {0}")]
    Failed(String),
}

/// A state change reported by a background worker.
#[derive(Debug, Clone)]
pub enum Update {
    Delivery(outbox::Outcome),
    Media(media::Outcome),
}

enum Op {
    Push(Inbound),
    Update(Update),
}

enum Done {
    Push(Stored),
    Update,
}

struct Job {
    op: Op,
    done: oneshot::Sender<Result<Done, WriteError>>,
}

/// The handle to the writer; cheap to clone.
#[derive(Clone)]
pub struct Writer {
    jobs: flume::Sender<Job>,
}

impl Writer {
    /// Opens the write connection and starts the writer's thread (`kefu-writer`). It ends once
    /// every `Writer` handle is dropped and the queue is drained; the returned task finishes
    /// then.
    pub async fn start(store: &Store) -> Result<(Writer, JoinHandle<()>), WriteError> {
        let conn = store
            .write_connection()
            .map_err(|e| WriteError::Failed(e.to_string()))?;
        let (jobs, rx) = flume::bounded(QUEUE);
        let (finished, ended) = oneshot::channel::<()>();
        std::thread::Builder::new()
            .name("kefu-writer".into())
            .spawn(move || {
                run(conn, rx);
                let _ = finished.send(());
            })
            .map_err(|e| WriteError::Failed(e.to_string()))?;
        let task = tokio::spawn(async move {
            let _ = ended.await;
        });
        Ok((Writer { jobs }, task))
    }

    /// Stores an incoming push; returns once it is committed (or known to be a duplicate).
    pub async fn store_push(&self, message: Inbound) -> Result<Stored, WriteError> {
        match self.submit(Op::Push(message)).await? {
            Done::Push(stored) => Ok(stored),
            Done::Update => Err(WriteError::Failed("unexpected answer".into())),
        }
    }

    /// Applies a worker's update; returns once it is committed.
    pub async fn apply(&self, update: Update) -> Result<(), WriteError> {
        self.submit(Op::Update(update)).await.map(|_| ())
    }

    async fn submit(&self, op: Op) -> Result<Done, WriteError> {
        let (done, answer) = oneshot::channel();
        self.jobs
            .send_async(Job { op, done })
            .await
            .map_err(|_| WriteError::Closed)?;
        answer.await.map_err(|_| WriteError::Closed)?
    }
}

/// The writer's thread: waits for a write, takes whatever else has queued up behind it,
/// applies the batch in one transaction and answers each caller.
fn run(mut conn: WriteConnection, rx: flume::Receiver<Job>) {
    let mut batch: Vec<Job> = Vec::with_capacity(MAX_BATCH);
    let mut wal = Wal::new();
    // upkeep done between batches: when one is behind, the writer does not sleep but
    // catches up while nothing else waits
    let mut chores = [
        Chore::new("search", CHORE_EVERY, crate::search::index_turn),
        Chore::new("reports", REPORTS_EVERY, reports_turn),
    ];
    loop {
        let idle = chores
            .iter()
            .filter(|c| c.behind())
            .map(Chore::until_due)
            .min()
            .unwrap_or(IDLE_CHECKPOINT);
        let first = match rx.recv_timeout(idle) {
            Ok(job) => job,
            Err(flume::RecvTimeoutError::Disconnected) => break,
            Err(flume::RecvTimeoutError::Timeout) => {
                for chore in chores.iter_mut().filter(|c| c.due()) {
                    chore.run(&mut conn);
                }
                if chores.iter().all(|c| !c.behind()) || wal.due(true) {
                    wal.checkpoint(&conn);
                }
                continue;
            }
        };
        batch.push(first);
        while batch.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(job) => batch.push(job),
                Err(_) => break,
            }
        }
        let started = Instant::now();
        let size = batch.len();
        let ops: Vec<&Op> = batch.iter().map(|j| &j.op).collect();
        match write(&mut conn, &ops) {
            Ok(outcomes) => {
                for (job, outcome) in batch.drain(..).zip(outcomes) {
                    let _ = job.done.send(Ok(outcome));
                }
            }
            Err(e) => {
                // One bad write must not fail its neighbours: retry each on its own.
                tracing::warn!(batch.size = size, error = %e, "a batch write failed, retrying its writes one by one");
                for job in batch.drain(..) {
                    let outcome = write(&mut conn, &[&job.op])
                        .map(|mut v| v.remove(0))
                        .map_err(|e| {
                            tracing::error!(error = %e, "a write could not be stored");
                            WriteError::Failed(e.to_string())
                        });
                    let _ = job.done.send(outcome);
                }
            }
        }
        metrics::histogram!("kefu_writer_batch_size").record(size as f64);
        metrics::histogram!("kefu_writer_commit_seconds").record(started.elapsed().as_secs_f64());
        for chore in chores.iter_mut().filter(|c| c.due()) {
            chore.run(&mut conn);
        }
        if wal.due(rx.is_empty()) {
            wal.checkpoint(&conn);
        }
    }
}

/// What one turn of a chore did: how many items, and whether more are waiting.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Turn {
    pub done: usize,
    pub more: bool,
}

/// One turn of the reports' upkeep (`store::reports::refresh_pending`).
pub fn reports_turn(conn: &rusqlite::Connection) -> rusqlite::Result<Turn> {
    let max = crate::store::reports::REFRESH_CHUNK;
    let done = crate::store::reports::refresh_pending(conn, max)?;
    Ok(Turn {
        done: done.messages + done.conversations,
        more: done.more,
    })
}

/// Runs a chore's turns until it has caught up, on a write connection of its own: for
/// `kefu seed` and the benches, so that a seeded database starts with its search index and
/// reports complete. Returns the items done (`Turn::done`, summed).
pub fn catch_up(
    store: &Store,
    turn: fn(&rusqlite::Connection) -> rusqlite::Result<Turn>,
) -> Result<usize, WriteDbError> {
    let mut conn = store.write_connection()?;
    let mut total = 0;
    loop {
        let tx = conn.transaction()?;
        let done = turn(&tx)?;
        tx.commit()?;
        total += done.done;
        if !done.more {
            return Ok(total);
        }
    }
}

/// The search index's turns at most this often while the writer is busy. (Indexing inside
/// each batch of pushes instead cost no commit of its own, but every push then waited for
/// its batch's indexing: the soak's p50 rose from 2.7 to 3.3 ms and its p99 from 11 to 14.)
const CHORE_EVERY: Duration = Duration::from_millis(250);
/// The reports' turns at most this often: waiting lets several pushes to one conversation
/// cost one fold, and a report folds whatever is still stale as it reads.
const REPORTS_EVERY: Duration = Duration::from_secs(5);
/// The least gap between two turns while a chore catches up (see `Chore::until_due`).
const CATCH_UP_GAP: Duration = Duration::from_millis(10);

/// Upkeep the single writer does between its batches, a bounded turn at a time in a
/// transaction of its own, from a cursor kept in the database: the search index
/// (`search::index_turn`) and the reports' waits and resolutions
/// (`store::reports::refresh_pending`). Doing it on the writer means nothing else competes
/// for the write lock; bounded turns mean a push waits milliseconds behind one.
struct Chore {
    name: &'static str,
    turn: fn(&rusqlite::Connection) -> rusqlite::Result<Turn>,
    /// the least time between two turns when nothing is behind
    every: Duration,
    last: Instant,
    /// how long the last turn held the write lock
    took: Duration,
    behind: bool,
}

impl Chore {
    fn new(
        name: &'static str,
        every: Duration,
        turn: fn(&rusqlite::Connection) -> rusqlite::Result<Turn>,
    ) -> Chore {
        Chore {
            name,
            turn,
            every,
            // the first turn at once: a migration may have left a whole history to catch up
            last: Instant::now() - every,
            took: Duration::ZERO,
            behind: true,
        }
    }

    /// Whether work is known to wait.
    fn behind(&self) -> bool {
        self.behind
    }

    /// Whether to run a turn now, after a batch.
    fn due(&self) -> bool {
        self.until_due().is_zero()
    }

    /// How long until the next turn. Catching up, each turn is followed by a gap as long as
    /// itself: without it the writer took the lock back at once, turn after turn, and every
    /// other writer (a sign-in, a status change) waited out its busy timeout and failed with
    /// "database is locked" while a large history was indexed.
    fn until_due(&self) -> Duration {
        let every = match self.behind {
            true => (self.took * 2).clamp(CATCH_UP_GAP, self.every),
            false => self.every,
        };
        every.saturating_sub(self.last.elapsed())
    }

    /// One turn in one transaction. A failure is logged and the next turn tries again
    /// (nothing is lost: the cursor did not move).
    ///
    /// The turn commits without waiting for fsync: what it writes can be derived again from
    /// what is already durable, its cursor moves in the same transaction, and the next push
    /// batch's full commit makes it durable too (the WAL is written in order). So a push
    /// never waits behind a chore's fsync.
    fn run(&mut self, conn: &mut WriteConnection) {
        let started = Instant::now();
        self.last = started;
        let turn = self.turn;
        let done = conn.lazy_commits(true).and_then(|()| {
            let tx = conn.transaction()?;
            let done = turn(&tx)?;
            tx.commit()?;
            Ok(done)
        });
        if let Err(e) = conn.lazy_commits(false) {
            // the pushes' commits must wait for fsync: without that, stop rather than go on
            panic!("cannot restore synchronous commits on the writer's connection: {e}");
        }
        self.took = started.elapsed();
        self.finished(done, started);
    }

    fn finished(&mut self, done: rusqlite::Result<Turn>, started: Instant) {
        match done {
            Ok(done) => {
                self.behind = done.more;
                if done.done > 0 {
                    let chore = self.name;
                    metrics::counter!("kefu_writer_chore_items_total", "chore" => chore)
                        .increment(done.done as u64);
                    metrics::histogram!("kefu_writer_chore_seconds", "chore" => chore)
                        .record(started.elapsed().as_secs_f64());
                }
            }
            Err(e) => {
                self.behind = false;
                tracing::warn!(chore = self.name, error = %e, "upkeep could not catch up; will retry");
            }
        }
    }
}

/// When the writer last checkpointed.
struct Wal {
    last: Instant,
}

impl Wal {
    fn new() -> Wal {
        Wal {
            last: Instant::now(),
        }
    }

    /// Whether to checkpoint now, after a commit: every `CHECKPOINT_EVERY`, when no write
    /// waits (or once one has waited too long).
    fn due(&self, queue_empty: bool) -> bool {
        let since = self.last.elapsed();
        (queue_empty && since >= CHECKPOINT_EVERY) || since >= CHECKPOINT_LATEST
    }

    fn checkpoint(&mut self, conn: &WriteConnection) {
        let started = Instant::now();
        self.last = started;
        match conn.checkpoint(CheckpointMode::Restart, WAL_RESTART_WAIT) {
            Ok(done) => {
                metrics::gauge!("kefu_wal_frames").set(done.wal_frames as f64);
                if done.busy {
                    tracing::debug!(
                        frames = done.wal_frames,
                        "the WAL could not start over yet: readers were busy"
                    );
                }
            }
            // the next one will try again; writing goes on meanwhile
            Err(e) => tracing::warn!(error = %e, "WAL checkpoint failed; will retry"),
        }
        metrics::histogram!("kefu_wal_checkpoint_seconds").record(started.elapsed().as_secs_f64());
    }
}

/// One transaction: the pushes as one batch, then every update in order.
fn write(conn: &mut WriteConnection, ops: &[&Op]) -> Result<Vec<Done>, WriteDbError> {
    let now = now_millis();
    let pushes: Vec<&Inbound> = ops
        .iter()
        .filter_map(|op| match op {
            Op::Push(m) => Some(m),
            Op::Update(_) => None,
        })
        .collect();
    let tx = conn.transaction()?;
    let mut stored = if pushes.is_empty() {
        Vec::new()
    } else {
        inbound::store_batch(&tx, &pushes, now)?
    }
    .into_iter();
    let mut done = Vec::with_capacity(ops.len());
    for op in ops {
        match op {
            Op::Push(_) => done.push(Done::Push(stored.next().unwrap_or(Stored::Duplicate))),
            Op::Update(Update::Delivery(outcome)) => {
                outbox::record(&tx, outcome)?;
                done.push(Done::Update);
            }
            Op::Update(Update::Media(outcome)) => {
                media::record(&tx, outcome)?;
                done.push(Done::Update);
            }
        }
    }
    tx.commit()?;
    Ok(done)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::MessageType;
    use crate::store;

    fn push(key: &str) -> Inbound {
        Inbound {
            channel_id: 1,
            openid: format!("o-{key}"),
            dedup_key: key.into(),
            kind: MessageType::Text,
            content: r#"{"text":"hello"}"#.into(),
            wechat_time: 1_000,
            is_customer_message: true,
            is_enter: false,
            session_from: None,
            media_id: None,
        }
    }

    /// The WAL's frames since it last started over, as another connection sees them.
    fn wal_frames(store: &Store) -> i64 {
        store
            .write_connection()
            .unwrap()
            .checkpoint(CheckpointMode::Passive, WAL_RESTART_WAIT)
            .unwrap()
            .wal_frames
    }

    #[tokio::test]
    async fn a_chore_commits_without_fsync_and_the_pushes_commits_wait_for_it_again() {
        static SEEN: std::sync::atomic::AtomicI64 = std::sync::atomic::AtomicI64::new(-1);
        let (_dir, store) = store::temp_store().await;
        let mut conn = store.write_connection().unwrap();
        let synchronous = |conn: &rusqlite::Connection| -> rusqlite::Result<i64> {
            conn.query_row("pragma synchronous", [], |r| r.get(0))
        };
        let mut chore = Chore::new("test", Duration::ZERO, |conn| {
            SEEN.store(
                conn.query_row("pragma synchronous", [], |r| r.get(0))?,
                std::sync::atomic::Ordering::SeqCst,
            );
            Ok(Turn {
                done: 0,
                more: false,
            })
        });
        chore.run(&mut conn);
        // 1: NORMAL inside the chore's turn; 2: FULL for everything after it
        assert_eq!(SEEN.load(std::sync::atomic::Ordering::SeqCst), 1);
        let tx = conn.transaction().unwrap();
        assert_eq!(synchronous(&tx).unwrap(), 2);
    }

    #[tokio::test]
    async fn the_wal_starts_over_after_the_writers_checkpoint_although_a_reader_is_reading() {
        let (dir, store) = store::temp_store().await;
        let (writer, task) = Writer::start(&store).await.unwrap();
        for i in 0..20 {
            writer.store_push(push(&format!("k{i}"))).await.unwrap();
        }
        // a batch after a pause is followed by the writer's checkpoint, which copies it all
        tokio::time::sleep(CHECKPOINT_EVERY + Duration::from_millis(50)).await;
        writer.store_push(push("k-copied")).await.unwrap();
        tokio::time::sleep(Duration::from_millis(200)).await;
        // read from the file's length: a checkpoint here would do the writer's work for it
        let wal = dir.path().join("kefu.db-wal");
        let before = (std::fs::metadata(&wal).unwrap().len() as i64 - 32) / (4096 + 24);
        assert!(
            before > 20,
            "every write is still in the WAL: {before} frames"
        );

        // a reader that began after the copy reads the database file, and does not hold the
        // WAL back: the next write starts it over
        let mut reader = store.pool().begin().await.unwrap();
        let _: i64 = sqlx::query_scalar("select count(*) from messages")
            .fetch_one(&mut *reader)
            .await
            .unwrap();
        writer.store_push(push("k-restart")).await.unwrap();
        let after = wal_frames(&store);
        assert!(
            after < before / 4,
            "the WAL started over: {after} frames after, {before} before"
        );
        let stored: i64 = sqlx::query_scalar("select count(*) from messages")
            .fetch_one(store.pool())
            .await
            .unwrap();
        assert_eq!(stored, 22);
        reader.rollback().await.unwrap();
        drop(writer);
        task.await.unwrap();
    }
}
