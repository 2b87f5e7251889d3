//! The one writer: a thread that owns the file's only writing connection and runs every
//! write of the SQLite store, with group commit.
//!
//! Why a thread of its own: a write is a handful of statements (a ticket taken, an
//! account, its identifiers, its certificate, an audit row). Through an async driver,
//! each statement crosses to the driver's thread and back — two context switches apiece,
//! which cost far more than SQLite's own work. Here a request crosses once: its job goes
//! into a queue, and the thread runs all of its statements in place and answers.
//!
//! Group commit: the thread takes every job waiting (up to [`MAX_BATCH`]), runs them one
//! after another in one `BEGIN IMMEDIATE` transaction, each in a savepoint of its own (a
//! job that fails is undone alone; the others commit), commits once, and only then
//! answers each job — so an answered write is committed, as when each had its own
//! transaction. A lone job is a batch of one: nothing waits for company. While a batch
//! runs, the next jobs queue; that is where the batches come from. The jobs of a batch
//! run in arrival order, so each sees the rows of the jobs before it (the audit chain's
//! last row, an identifier just taken).
//!
//! Durability is chosen per job ([`Durability`]). The connection runs with
//! `synchronous = NORMAL` (WAL): every commit survives a crash of the process. A batch
//! holding a job that must also survive power loss commits with `synchronous = FULL`:
//! one fsync for all of the batch's jobs.
//!
//! The writer does not checkpoint in its commits; [`super::checkpoints`] does, beside it.

use super::checkpoints::{Checkpointer, Schedule};
use crate::store::StoreError;
use rusqlite::{Connection, TransactionBehavior};
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;
use tokio::sync::{mpsc, oneshot};

/// Jobs in one batch at most, so one transaction stays short.
const MAX_BATCH: usize = 64;

/// Jobs queued at most; a submitter waits beyond that.
const QUEUE: usize = 1024;

/// How long a write waits for SQLite's lock held by another process (a `migrate` or an
/// `audit` command run beside the gateway).
const BUSY_TIMEOUT: Duration = Duration::from_secs(10);

/// What a write must survive once it is answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Durability {
    /// A crash of the process (`kill -9`): committed in the WAL, not yet fsynced.
    /// For rows whose loss in a power cut costs a person a retry (SIM sessions, the
    /// OpenID Provider's codes and consents as they are given).
    Crash,
    /// Power loss too: the batch's commit is fsynced before anyone is answered. For
    /// accounts and login sessions, and for every write that ends or uses up a
    /// credential (a logout, a withdrawn consent, a redeemed code, a used client
    /// assertion): undone by a power cut, it would bring back what was acknowledged
    /// as gone.
    PowerLoss,
}

/// A job's statements, run in its savepoint; whether they succeeded (else the savepoint
/// is undone) and how to answer once the batch's commit is known.
type Job = Box<dyn FnOnce(&Connection) -> (bool, Finish) + Send>;

/// Answers a job once its batch's commit is known.
type Finish = Box<dyn FnOnce(Result<(), StoreError>) + Send>;

/// A queued job with what it must survive.
struct Queued {
    durability: Durability,
    job: Job,
}

/// The queue into the writer thread; cloning shares it. The thread ends, closing the
/// connection, when the last clone is dropped.
#[derive(Debug, Clone)]
pub(super) struct Writer {
    jobs: mpsc::Sender<Queued>,
    /// What the thread has committed (tests read it).
    #[cfg(test)]
    counts: Arc<Counts>,
    /// The checkpointer's request to finish (tests make it).
    #[cfg(test)]
    finish: Arc<std::sync::atomic::AtomicBool>,
}

/// Batches committed so far, counted by the thread before it answers them.
#[derive(Debug, Default)]
struct Counts {
    /// Every batch.
    groups: AtomicU64,
    /// Those committed with `synchronous = FULL`.
    synced: AtomicU64,
}

impl Writer {
    /// Opens the writing connection to the database file at `path` (which exists, in WAL
    /// mode) and starts its thread, with checkpoints run on `checkpoints`.
    pub(super) fn open(path: &Path, checkpoints: Schedule) -> Result<Self, StoreError> {
        let conn = Connection::open(path)?;
        conn.busy_timeout(BUSY_TIMEOUT)?;
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "NORMAL")?;
        conn.pragma_update(None, "foreign_keys", "ON")?;
        // Each job's savepoint journals the pages it changes; in memory, not a temp file.
        conn.pragma_update(None, "temp_store", "MEMORY")?;
        // Checkpoints run beside the writer, not inside its commits.
        conn.pragma_update(None, "wal_autocheckpoint", 0)?;
        conn.set_prepared_statement_cache_capacity(64);
        let checkpointer = Checkpointer::start(path, checkpoints)?;
        #[cfg(test)]
        let finish = checkpointer.request();
        let (jobs, queue) = mpsc::channel(QUEUE);
        let counts = Arc::new(Counts::default());
        let counted = counts.clone();
        std::thread::Builder::new()
            .name("kyso-sqlite-writer".into())
            .spawn(move || run(conn, queue, &counted, &checkpointer))
            .map_err(|e| StoreError::Unanswered(format!("cannot start the writer thread: {e}")))?;
        Ok(Self {
            jobs,
            #[cfg(test)]
            counts,
            #[cfg(test)]
            finish,
        })
    }

    /// Batches committed so far.
    #[cfg(test)]
    pub(super) fn groups(&self) -> u64 {
        self.counts.groups.load(Ordering::Relaxed)
    }

    /// Batches committed with `synchronous = FULL` so far.
    #[cfg(test)]
    pub(super) fn synced_groups(&self) -> u64 {
        self.counts.synced.load(Ordering::Relaxed)
    }

    /// Runs `work` in the next batch, in a savepoint of its own, and answers once the
    /// batch is committed (and, for [`Durability::PowerLoss`], on disk): `work`'s own
    /// error if it failed (its statements undone), the commit's if that failed, else
    /// `work`'s value.
    pub(super) async fn write<T, E, W>(&self, durability: Durability, work: W) -> Result<T, E>
    where
        T: Send + 'static,
        E: From<StoreError> + Send + 'static,
        W: FnOnce(&Connection) -> Result<T, E> + Send + 'static,
    {
        let (answer, answered) = oneshot::channel();
        let job: Job = Box::new(move |conn| {
            let result = work(conn);
            let ok = result.is_ok();
            let finish: Finish = Box::new(move |committed| {
                let _ = answer.send(match (result, committed) {
                    (Err(e), _) => Err(e),
                    (Ok(_), Err(e)) => Err(E::from(e)),
                    (Ok(value), Ok(())) => Ok(value),
                });
            });
            (ok, finish)
        });
        self.jobs
            .send(Queued { durability, job })
            .await
            .map_err(|_| unwritten())?;
        // A batch that could not begin drops its jobs unanswered: nothing was written.
        answered.await.map_err(|_| unwritten())?
    }
}

/// The write is not in the database: the writer is gone, or its batch could not begin
/// (the batch's own error is logged once).
fn unwritten() -> StoreError {
    StoreError::Unanswered("the write was not committed".into())
}

/// The thread: one batch after another until the queue closes.
fn run(
    mut conn: Connection,
    mut queue: mpsc::Receiver<Queued>,
    counts: &Counts,
    checkpointer: &Checkpointer,
) {
    let mut synchronous_full = false;
    while let Some(first) = queue.blocking_recv() {
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH {
            match queue.try_recv() {
                Ok(job) => batch.push(job),
                Err(_) => break,
            }
        }
        let full = batch.iter().any(|q| q.durability == Durability::PowerLoss);
        if full != synchronous_full {
            let level = if full { "FULL" } else { "NORMAL" };
            if let Err(e) = conn.pragma_update(None, "synchronous", level) {
                tracing::warn!(error = %e, "could not set synchronous = {level}");
                // A batch that needs FULL is refused rather than committed less durably.
                if full {
                    continue;
                }
            } else {
                synchronous_full = full;
            }
        }
        if let Err(e) = commit(&mut conn, batch, counts, synchronous_full) {
            tracing::warn!(error = %e, "a group commit failed; its writes were refused");
        }
        // After the batch is answered: the jobs queued meanwhile wait for it, no one else.
        checkpointer.finish_if_asked(&conn);
    }
}

/// Runs the jobs in one transaction and commits it (`synced`: at `synchronous = FULL`);
/// counts the batch before answering anyone, so an answered job's batch is already
/// counted.
fn commit(
    conn: &mut Connection,
    batch: Vec<Queued>,
    counts: &Counts,
    synced: bool,
) -> Result<(), StoreError> {
    let jobs = batch.len();
    // Unanswered jobs (dropped with the batch) are told that nothing was written.
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let mut finishes = Vec::with_capacity(jobs);
    for Queued { job, .. } in batch {
        tx.execute_batch("SAVEPOINT job")?;
        // A job that panics (a bug) is undone and its submitter told nothing was
        // written; the thread and the batch's other jobs go on.
        let ran = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| job(&tx)));
        let ok = matches!(ran, Ok((true, _)));
        tx.execute_batch(if ok {
            "RELEASE job"
        } else {
            "ROLLBACK TO job; RELEASE job"
        })?;
        if let Ok((_, finish)) = ran {
            finishes.push(finish);
        }
    }
    let committed = tx.commit().map_err(StoreError::from);
    if committed.is_ok() {
        let group = counts.groups.fetch_add(1, Ordering::Relaxed) + 1;
        if synced {
            counts.synced.fetch_add(1, Ordering::Relaxed);
        }
        tracing::debug!(group, jobs, "group committed");
        crate::metrics::group_commit(jobs);
    }
    for finish in finishes {
        finish(match &committed {
            Ok(()) => Ok(()),
            Err(_) => Err(unwritten()),
        });
    }
    committed
}

/// Whether SQLite refused a row for a unique key or primary key (the database deciding a
/// race).
pub(super) fn is_unique_violation(e: &rusqlite::Error) -> bool {
    matches!(
        e,
        rusqlite::Error::SqliteFailure(f, _)
            if f.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_UNIQUE
                || f.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_PRIMARYKEY
    )
}

/// For tests: a writer on a new database file (`w.db` in the directory returned) holding
/// `schema`, checkpointed on `checkpoints`, and a connection of the test's own to it.
#[cfg(test)]
pub(super) fn scratch(
    schema: &str,
    checkpoints: Schedule,
) -> (tempfile::TempDir, Writer, Connection) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("w.db");
    let own = Connection::open(&path).unwrap();
    own.pragma_update(None, "journal_mode", "WAL").unwrap();
    own.execute_batch(schema).unwrap();
    (dir, Writer::open(&path, checkpoints).unwrap(), own)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn open() -> (tempfile::TempDir, Writer, Connection) {
        scratch(
            "CREATE TABLE t (k TEXT PRIMARY KEY, n INTEGER NOT NULL)",
            Schedule::default(),
        )
    }

    /// A job of two inserts: `(k, 1)` then `(k2, 2)`.
    async fn two_rows(writer: Writer, k: String, k2: String) -> Result<(), StoreError> {
        writer
            .write(Durability::PowerLoss, move |conn| {
                for (key, n) in [(&k, 1), (&k2, 2)] {
                    conn.execute("INSERT INTO t (k, n) VALUES (?1, ?2)", (key, n))?;
                }
                Ok::<_, StoreError>(())
            })
            .await
    }

    fn keys(reader: &Connection) -> Vec<String> {
        let mut stmt = reader.prepare("SELECT k FROM t ORDER BY k").unwrap();
        stmt.query_map([], |r| r.get(0))
            .unwrap()
            .map(Result::unwrap)
            .collect()
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn queued_jobs_commit_as_one_group_and_a_failing_job_is_undone_alone() {
        let (_dir, writer, reader) = open();
        reader
            .execute("INSERT INTO t (k, n) VALUES ('taken', 0)", [])
            .unwrap();
        // A first job holds the thread, alone in its batch, until every other job is
        // queued behind it.
        let (release, held) = std::sync::mpsc::channel::<()>();
        let (running, started) = tokio::sync::oneshot::channel::<()>();
        let holder = tokio::spawn({
            let writer = writer.clone();
            async move {
                writer
                    .write(Durability::Crash, move |_| {
                        let _ = running.send(());
                        held.recv().unwrap();
                        Ok::<_, StoreError>(())
                    })
                    .await
            }
        });
        started.await.unwrap();
        let mut jobs = Vec::new();
        for i in 0..20 {
            // Job 7's second row collides with a row there before, whatever order the
            // jobs arrive in: job 7 fails whole.
            let second = if i == 7 {
                "taken".to_owned()
            } else {
                format!("b{i:02}")
            };
            jobs.push(tokio::spawn(two_rows(
                writer.clone(),
                format!("a{i:02}"),
                second,
            )));
        }
        while QUEUE - writer.jobs.capacity() < 20 {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        release.send(()).unwrap();
        holder.await.unwrap().unwrap();
        for (i, job) in jobs.into_iter().enumerate() {
            let result = job.await.unwrap();
            assert_eq!(result.is_ok(), i != 7, "job {i}: {result:?}");
        }
        let keys = keys(&reader);
        assert_eq!(keys.len(), 39, "{keys:?}");
        assert!(
            !keys.contains(&"a07".to_owned()),
            "the failed job's first row is undone"
        );
        // The holder's batch, then the twenty that queued behind it as one.
        assert_eq!(writer.groups(), 2);
    }

    #[tokio::test]
    async fn an_answered_job_is_committed_and_visible_to_other_connections() {
        let (_dir, writer, reader) = open();
        two_rows(writer.clone(), "x".into(), "y".into())
            .await
            .unwrap();
        assert_eq!(keys(&reader), ["x", "y"]);
        let again = two_rows(writer.clone(), "z".into(), "x".into()).await;
        assert!(
            matches!(&again, Err(StoreError::Sqlite(e)) if is_unique_violation(e)),
            "a duplicate key fails its job: {again:?}"
        );
        assert_eq!(keys(&reader), ["x", "y"], "and nothing of it stays");
    }

    #[tokio::test]
    async fn a_job_that_panics_is_undone_and_the_writer_goes_on() {
        let (_dir, writer, reader) = open();
        let panicked = writer
            .write(Durability::Crash, |conn| -> Result<(), StoreError> {
                conn.execute("INSERT INTO t (k, n) VALUES ('half', 1)", [])?;
                panic!("a bug in a job")
            })
            .await;
        assert!(
            matches!(panicked, Err(StoreError::Unanswered(_))),
            "{panicked:?}"
        );
        two_rows(writer.clone(), "p".into(), "q".into())
            .await
            .unwrap();
        assert_eq!(
            keys(&reader),
            ["p", "q"],
            "the panicking job's row is undone"
        );
    }

    /// The log's checkpoint sequence number (the WAL header's bytes 12–16), which grows
    /// each time the log starts over from its first page.
    fn log_restarts(dir: &tempfile::TempDir) -> u32 {
        let header = std::fs::read(dir.path().join("w.db-wal")).unwrap();
        u32::from_be_bytes(header[12..16].try_into().unwrap())
    }

    /// Asked by the checkpointer, the writer finishes a checkpoint between two batches,
    /// so its next transaction starts the log over; unasked, it never checkpoints (the
    /// thread, here, never runs a round of its own).
    #[tokio::test]
    async fn asked_between_batches_the_writer_finishes_a_checkpoint() {
        for asked in [false, true] {
            let (dir, writer, _reader) = scratch(
                "CREATE TABLE t (n INTEGER PRIMARY KEY, pad BLOB NOT NULL)",
                Schedule {
                    every: Duration::from_secs(3600),
                    long_log: 64,
                },
            );
            let insert = |n: i64| {
                writer.write(Durability::Crash, move |conn| {
                    conn.execute("INSERT INTO t (n, pad) VALUES (?1, zeroblob(3000))", [n])?;
                    Ok::<_, StoreError>(())
                })
            };
            for n in 0..100 {
                insert(n).await.unwrap();
            }
            let before = log_restarts(&dir);
            writer.finish.store(asked, Ordering::Relaxed);
            // The first batch is followed by the finishing; the second starts the log over.
            insert(100).await.unwrap();
            insert(101).await.unwrap();
            assert_eq!(log_restarts(&dir) != before, asked, "asked: {asked}");
        }
    }
}
