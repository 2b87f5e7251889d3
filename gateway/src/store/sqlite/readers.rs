//! The readers: threads that each own a read connection to the file and run the store's
//! queries, one crossing per request (as for [`super::writer`]) instead of one per
//! statement and per row through an async driver.
//!
//! The threads share one queue: whichever is free takes the next read, so one long read
//! (an audit export) holds one thread, not the others. The queue hands each read to one
//! waiting thread directly (a multi-consumer channel), so a read wakes one thread, not a
//! second one to take over the wait. In WAL mode a reader sees the last committed state
//! and never waits for the writer.

use crate::store::StoreError;
use rusqlite::{Connection, OpenFlags, OptionalExtension};
use std::path::Path;
use std::time::Duration;
use tokio::sync::oneshot;

/// Reads queued at most; a submitter waits beyond that.
const QUEUE: usize = 1024;

/// A read's work on a connection; it answers its submitter itself.
type Job = Box<dyn FnOnce(&Connection) + Send>;

/// The queue into the reader threads; cloning shares it. The threads end, closing their
/// connections, when the last clone is dropped.
#[derive(Debug, Clone)]
pub(super) struct Readers {
    jobs: flume::Sender<Job>,
}

impl Readers {
    /// Opens `threads` read connections to the database file at `path` (which exists, in
    /// WAL mode) and starts a thread for each.
    pub(super) fn open(path: &Path, threads: usize) -> Result<Self, StoreError> {
        let (jobs, queue) = flume::bounded(QUEUE);
        for i in 0..threads.max(1) {
            let conn = Connection::open_with_flags(
                path,
                OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
            )?;
            conn.busy_timeout(Duration::from_secs(10))?;
            conn.set_prepared_statement_cache_capacity(64);
            let queue = queue.clone();
            std::thread::Builder::new()
                .name(format!("kyso-sqlite-reader-{i}"))
                .spawn(move || run(&conn, &queue))
                .map_err(|e| {
                    StoreError::Unanswered(format!("cannot start a reader thread: {e}"))
                })?;
        }
        Ok(Self { jobs })
    }

    /// Runs `work` on a read connection and answers its result.
    pub(super) async fn read<T, W>(&self, work: W) -> Result<T, StoreError>
    where
        T: Send + 'static,
        W: FnOnce(&Connection) -> Result<T, StoreError> + Send + 'static,
    {
        let (answer, answered) = oneshot::channel();
        let job: Job = Box::new(move |conn| {
            let _ = answer.send(work(conn));
        });
        self.jobs.send_async(job).await.map_err(|_| gone())?;
        // A read that panicked (a bug) drops its answer; the thread goes on.
        answered.await.map_err(|_| gone())?
    }
}

fn gone() -> StoreError {
    StoreError::Unanswered("the read was not answered".into())
}

/// One thread: takes the next read whenever it is free, until the queue closes.
fn run(conn: &Connection, queue: &flume::Receiver<Job>) {
    while let Ok(job) = queue.recv() {
        if std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| job(conn))).is_err() {
            tracing::error!("a read panicked; it was not answered");
        }
    }
}

/// The first row `sql` returns for `params`, read by `of`; `None` if there is none.
pub(super) fn one<T>(
    conn: &Connection,
    sql: &str,
    params: impl rusqlite::Params,
    of: impl FnOnce(&rusqlite::Row<'_>) -> Result<T, StoreError>,
) -> Result<Option<T>, StoreError> {
    conn.prepare_cached(sql)?
        .query_row(params, |row| Ok(of(row)))
        .optional()?
        .transpose()
}

/// Every row `sql` returns for `params`, each read by `of`.
pub(super) fn all<T>(
    conn: &Connection,
    sql: &str,
    params: impl rusqlite::Params,
    mut of: impl FnMut(&rusqlite::Row<'_>) -> Result<T, StoreError>,
) -> Result<Vec<T>, StoreError> {
    let mut statement = conn.prepare_cached(sql)?;
    let mut rows = statement.query(params)?;
    let mut out = Vec::new();
    while let Some(row) = rows.next()? {
        out.push(of(row)?);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn open(threads: usize) -> (tempfile::TempDir, Readers) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("r.db");
        let conn = Connection::open(&path).unwrap();
        conn.pragma_update(None, "journal_mode", "WAL").unwrap();
        conn.execute_batch(
            "CREATE TABLE t (k TEXT PRIMARY KEY); INSERT INTO t VALUES ('a'), ('b');",
        )
        .unwrap();
        (dir, Readers::open(&path, threads).unwrap())
    }

    fn keys(conn: &Connection) -> Result<Vec<String>, StoreError> {
        all(
            conn,
            "SELECT k FROM t ORDER BY k",
            [],
            |row| Ok(row.get(0)?),
        )
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn one_long_read_holds_one_thread_and_the_others_go_on() {
        let (_dir, readers) = open(2);
        let (release, held) = std::sync::mpsc::channel::<()>();
        let (running, started) = oneshot::channel::<()>();
        let long = tokio::spawn({
            let readers = readers.clone();
            async move {
                readers
                    .read(move |conn| {
                        let _ = running.send(());
                        held.recv().unwrap();
                        keys(conn)
                    })
                    .await
            }
        });
        started.await.unwrap();
        // The other thread answers while the first is held.
        assert_eq!(readers.read(keys).await.unwrap(), ["a", "b"]);
        let missing = readers
            .read(|conn| {
                one(conn, "SELECT k FROM t WHERE k = ?1", ["z"], |row| {
                    Ok(row.get::<_, String>(0)?)
                })
            })
            .await
            .unwrap();
        assert_eq!(missing, None);
        release.send(()).unwrap();
        assert_eq!(long.await.unwrap().unwrap(), ["a", "b"]);
    }

    #[tokio::test]
    async fn a_read_that_panics_is_refused_and_the_reader_goes_on() {
        let (_dir, readers) = open(1);
        let panicked = readers
            .read(|_| -> Result<(), StoreError> { panic!("a bug in a read") })
            .await;
        assert!(
            matches!(panicked, Err(StoreError::Unanswered(_))),
            "{panicked:?}"
        );
        assert_eq!(readers.read(keys).await.unwrap(), ["a", "b"]);
    }

    #[tokio::test]
    async fn readers_cannot_write() {
        let (_dir, readers) = open(1);
        let wrote = readers
            .read(|conn| Ok(conn.execute("INSERT INTO t VALUES ('c')", [])?))
            .await;
        assert!(matches!(wrote, Err(StoreError::Sqlite(_))), "{wrote:?}");
    }
}
