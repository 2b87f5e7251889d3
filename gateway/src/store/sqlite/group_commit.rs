//! Group commit: the durable writes of concurrent requests (accounts, login sessions)
//! share one transaction and one fsync.
//!
//! A task takes every job waiting, runs them one after another in one `BEGIN IMMEDIATE`
//! transaction on the writer connection, each in a savepoint of its own (a job that fails
//! is undone alone: the others commit), commits once with `synchronous = FULL`, and only
//! then answers each job — so an acknowledged write is on disk, as when each had its own
//! commit. A lone job is a batch of one: nothing waits for company. While a batch
//! commits, the next jobs queue; that is where the batches come from.
//!
//! The jobs of a batch run in arrival order inside one transaction, so each sees the rows
//! of the jobs before it (the audit chain's last row, an identifier just taken).

use crate::store::StoreError;
use sqlx::{Connection, SqliteConnection, SqlitePool};
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use tokio::sync::{mpsc, oneshot};

/// A job's future, which borrows the batch's connection.
pub(super) type BoxFuture<'c, T> = Pin<Box<dyn Future<Output = T> + Send + 'c>>;

/// Jobs in one batch at most, so one transaction stays short.
const MAX_BATCH: usize = 64;

/// Jobs queued at most; a submitter waits beyond that.
const QUEUE: usize = 1024;

/// Answers a job once its batch's commit is known.
type Finish = Box<dyn FnOnce(Result<(), StoreError>) + Send>;

/// A job's statements, run inside the batch's transaction; returns how to answer it.
type Job = Box<dyn for<'c> FnOnce(&'c mut SqliteConnection) -> BoxFuture<'c, Finish> + Send>;

/// The queue of durable writes; cloning shares it.
#[derive(Debug, Clone)]
pub(super) struct GroupCommit {
    jobs: mpsc::Sender<Job>,
    /// Groups committed so far (the task counts them; tests read them).
    #[cfg(test)]
    groups: Arc<AtomicU64>,
}

impl GroupCommit {
    /// Starts the committing task on `writer` (the one writer connection's pool). It ends
    /// when the last clone of the returned queue is dropped.
    pub(super) fn start(writer: SqlitePool) -> Self {
        let (jobs, queue) = mpsc::channel(QUEUE);
        let groups = Arc::new(AtomicU64::new(0));
        tokio::spawn(run(writer, queue, groups.clone()));
        Self {
            jobs,
            #[cfg(test)]
            groups,
        }
    }

    /// Groups committed so far.
    #[cfg(test)]
    fn groups(&self) -> u64 {
        self.groups.load(Ordering::Relaxed)
    }

    /// Runs `work` in the next batch and answers once the batch is committed and on disk:
    /// `work`'s own error if it failed (its statements undone), the commit's if that
    /// failed, else `work`'s value. `work` begins its own transaction (a savepoint
    /// inside the batch's) when it runs more than one statement.
    pub(super) async fn submit<T, E, W>(&self, work: W) -> Result<T, E>
    where
        T: Send + 'static,
        E: From<StoreError> + Send + 'static,
        W: for<'c> FnOnce(&'c mut SqliteConnection) -> BoxFuture<'c, Result<T, E>> + Send + 'static,
    {
        let (answer, answered) = oneshot::channel();
        let job: Job = Box::new(move |conn| {
            Box::pin(async move {
                let result = work(conn).await;
                Box::new(move |committed: Result<(), StoreError>| {
                    let _ = answer.send(match (result, committed) {
                        (Err(e), _) => Err(e),
                        (Ok(_), Err(e)) => Err(E::from(e)),
                        (Ok(value), Ok(())) => Ok(value),
                    });
                }) as Finish
            })
        });
        self.jobs.send(job).await.map_err(|_| unwritten())?;
        // A batch that could not begin drops its jobs unanswered: nothing was written.
        answered.await.map_err(|_| unwritten())?
    }
}

/// The write is not in the database: its batch could not begin or commit (the batch's
/// own error is logged once).
fn unwritten() -> StoreError {
    StoreError::Database(sqlx::Error::WorkerCrashed)
}

async fn run(writer: SqlitePool, mut queue: mpsc::Receiver<Job>, groups: Arc<AtomicU64>) {
    while let Some(first) = queue.recv().await {
        // The connection first: the jobs that arrive while it is busy join this group.
        let conn = writer.acquire().await;
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH {
            match queue.try_recv() {
                Ok(job) => batch.push(job),
                Err(_) => break,
            }
        }
        let committed = match conn {
            Ok(mut conn) => commit(&mut conn, batch, &groups).await,
            Err(e) => Err(e.into()), // the jobs are dropped unanswered: not written
        };
        if let Err(e) = committed {
            tracing::warn!(error = %e, "a group commit failed; its writes were refused");
        }
    }
}

/// Runs and commits one group with `synchronous = FULL`; answers every job it ran.
async fn commit(
    conn: &mut SqliteConnection,
    batch: Vec<Job>,
    groups: &AtomicU64,
) -> Result<(), StoreError> {
    sqlx::query("PRAGMA synchronous = FULL")
        .execute(&mut *conn)
        .await?;
    let result = commit_on(conn, batch, groups).await;
    // Best effort: the group is done; a connection left at FULL is only slower.
    if let Err(e) = sqlx::query("PRAGMA synchronous = NORMAL")
        .execute(&mut *conn)
        .await
    {
        tracing::warn!(error = %e, "could not restore synchronous = NORMAL");
    }
    result
}

/// Runs the jobs in one transaction and commits it; counts the group before answering
/// anyone, so an answered job's group is already counted.
async fn commit_on(
    conn: &mut SqliteConnection,
    batch: Vec<Job>,
    groups: &AtomicU64,
) -> Result<(), StoreError> {
    let jobs = batch.len();
    let mut tx = conn.begin_with("BEGIN IMMEDIATE").await?;
    let mut finishes = Vec::with_capacity(jobs);
    for job in batch {
        finishes.push(job(&mut tx).await);
    }
    let committed = tx.commit().await;
    if committed.is_ok() {
        let group = groups.fetch_add(1, Ordering::Relaxed) + 1;
        tracing::debug!(group, jobs, "group committed");
        crate::metrics::group_commit(jobs);
    }
    for finish in finishes {
        finish(match committed {
            Ok(()) => Ok(()),
            Err(_) => Err(unwritten()),
        });
    }
    Ok(committed?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use sqlx::Row;
    use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions};

    async fn pools() -> (tempfile::TempDir, SqlitePool, SqlitePool) {
        let dir = tempfile::tempdir().unwrap();
        let options = SqliteConnectOptions::new()
            .filename(dir.path().join("g.db"))
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal);
        let writer = SqlitePoolOptions::new()
            .max_connections(1)
            .connect_with(options.clone())
            .await
            .unwrap();
        sqlx::query("CREATE TABLE t (k TEXT PRIMARY KEY, n INTEGER NOT NULL)")
            .execute(&writer)
            .await
            .unwrap();
        let reader = SqlitePoolOptions::new()
            .max_connections(1)
            .connect_with(options)
            .await
            .unwrap();
        (dir, writer, reader)
    }

    /// A job of two inserts in a savepoint: `(k, 1)` then `(k2, 2)`.
    fn two_rows(
        group: &GroupCommit,
        k: &str,
        k2: &str,
    ) -> impl Future<Output = Result<(), StoreError>> + use<> {
        let (group, k, k2) = (group.clone(), k.to_owned(), k2.to_owned());
        async move {
            group
                .submit(move |conn| {
                    Box::pin(async move {
                        let mut tx = conn.begin().await?;
                        for (key, n) in [(&k, 1), (&k2, 2)] {
                            sqlx::query("INSERT INTO t (k, n) VALUES (?, ?)")
                                .bind(key)
                                .bind(n)
                                .execute(&mut *tx)
                                .await?;
                        }
                        tx.commit().await?;
                        Ok::<_, StoreError>(())
                    })
                })
                .await
        }
    }

    async fn keys(reader: &SqlitePool) -> Vec<String> {
        sqlx::query("SELECT k FROM t ORDER BY k")
            .fetch_all(reader)
            .await
            .unwrap()
            .iter()
            .map(|r| r.get(0))
            .collect()
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn concurrent_jobs_commit_together_and_a_failing_job_is_undone_alone() {
        let (_dir, writer, reader) = pools().await;
        sqlx::query("INSERT INTO t (k, n) VALUES ('taken', 0)")
            .execute(&writer)
            .await
            .unwrap();
        let group = GroupCommit::start(writer.clone());
        // Hold the writer so the jobs queue up and run as one group.
        let held = writer.acquire().await.unwrap();
        let mut jobs = Vec::new();
        for i in 0..20 {
            // Job 7's second row collides with a row there before, whatever order the
            // jobs arrive in: job 7 fails whole.
            let second = if i == 7 {
                "taken".to_owned()
            } else {
                format!("b{i:02}")
            };
            jobs.push(tokio::spawn(two_rows(&group, &format!("a{i:02}"), &second)));
        }
        // Every job queued (one may already be taken, waiting for the connection).
        while QUEUE - group.jobs.capacity() < 19 {
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        }
        drop(held);
        let mut results = Vec::new();
        for j in jobs {
            results.push(j.await.unwrap());
        }
        for (i, r) in results.iter().enumerate() {
            assert_eq!(r.is_ok(), i != 7, "job {i}: {r:?}");
        }
        let keys = keys(&reader).await;
        assert_eq!(keys.len(), 39, "{keys:?}");
        assert!(
            !keys.contains(&"a07".to_owned()),
            "the failed job's first row is undone"
        );
        // The jobs that queued while the writer was busy were committed as one group.
        assert_eq!(group.groups(), 1);
    }

    #[tokio::test]
    async fn an_answered_job_is_committed_and_visible_to_other_connections() {
        let (_dir, writer, reader) = pools().await;
        let group = GroupCommit::start(writer);
        two_rows(&group, "x", "y").await.unwrap();
        assert_eq!(keys(&reader).await, ["x", "y"]);
        let again = two_rows(&group, "z", "x").await;
        assert!(again.is_err(), "a duplicate key fails its job");
        assert_eq!(keys(&reader).await, ["x", "y"], "and nothing of it stays");
    }
}
