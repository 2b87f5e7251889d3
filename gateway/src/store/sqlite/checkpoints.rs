//! Checkpoints off the commit path.
//!
//! In WAL mode a commit appends its pages to the `-wal` file (the log); a checkpoint
//! copies them back into the database file and fsyncs it. By default SQLite runs one
//! inside the commit that takes the log past 1,000 pages, so every few hundred
//! registrations one group of confirmations waited for a whole checkpoint before it was
//! answered: the latency tail.
//!
//! Here the writer's connection never checkpoints by itself (`wal_autocheckpoint = 0`).
//! A thread with a connection of its own runs a passive checkpoint every
//! [`Schedule::every`]: it takes no write lock and waits for no reader, so commits go on
//! while it copies. A passive checkpoint copies only what was committed before it began,
//! and SQLite starts the log over from its first page only after a checkpoint has copied
//! all of it; under steady writes that never happens and the log grows without end
//! ("checkpoint starvation", in SQLite's WAL documentation). So once the log is longer
//! than [`Schedule::long_log`] pages, the checkpointer asks the writer to finish: between
//! two of its batches the writer runs a passive checkpoint itself, short because the
//! copying is mostly done, and its next transaction starts the log over.

use crate::store::StoreError;
use rusqlite::Connection;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::time::Duration;

/// When checkpoints run.
#[derive(Debug, Clone, Copy)]
pub(super) struct Schedule {
    /// Time between two passive checkpoints.
    pub every: Duration,
    /// Pages in the log beyond which the writer is asked to finish a checkpoint.
    pub long_log: u64,
}

impl Default for Schedule {
    /// A tenth of a second; 4,096 pages (16 MiB of 4 KiB pages).
    fn default() -> Self {
        Self {
            every: Duration::from_millis(100),
            long_log: 4096,
        }
    }
}

/// The checkpointer thread, seen from the writer. The thread ends, closing its
/// connection, when this is dropped.
#[derive(Debug)]
pub(super) struct Checkpointer {
    /// Set by the thread when the log is too long; taken by the writer.
    finish: Arc<AtomicBool>,
    /// Dropped to stop the thread.
    _stop: mpsc::Sender<()>,
}

impl Checkpointer {
    /// Opens a connection of its own to the database at `path` (which exists, in WAL
    /// mode) and starts checkpointing it on `schedule`.
    pub(super) fn start(path: &Path, schedule: Schedule) -> Result<Self, StoreError> {
        let conn = Connection::open(path)?;
        conn.pragma_update(None, "synchronous", "NORMAL")?;
        conn.pragma_update(None, "wal_autocheckpoint", 0)?;
        let finish = Arc::new(AtomicBool::new(false));
        let (stop, stopped) = mpsc::channel();
        let asked = finish.clone();
        std::thread::Builder::new()
            .name("kyso-sqlite-checkpoints".into())
            .spawn(move || run(&conn, &stopped, &asked, schedule))
            .map_err(|e| {
                StoreError::Unanswered(format!("cannot start the checkpoint thread: {e}"))
            })?;
        Ok(Self {
            finish,
            _stop: stop,
        })
    }

    /// The thread's request to the writer, for tests to make it themselves.
    #[cfg(test)]
    pub(super) fn request(&self) -> Arc<AtomicBool> {
        self.finish.clone()
    }

    /// Called by the writer between batches, on its own connection: finishes the
    /// checkpoint if the thread asked for it.
    pub(super) fn finish_if_asked(&self, writer: &Connection) {
        if self.finish.swap(false, Ordering::Relaxed)
            && let Err(e) = passive(writer)
        {
            tracing::warn!(error = %e, "the writer could not finish a checkpoint");
        }
    }
}

/// The thread: a round every `schedule.every` until stopped.
fn run(conn: &Connection, stopped: &mpsc::Receiver<()>, finish: &AtomicBool, schedule: Schedule) {
    while let Err(mpsc::RecvTimeoutError::Timeout) = stopped.recv_timeout(schedule.every) {
        round(conn, finish, schedule.long_log);
    }
}

/// One round of the thread: a passive checkpoint, then a request to the writer to
/// finish it if the log was longer than `long_log` pages.
fn round(conn: &Connection, finish: &AtomicBool, long_log: u64) {
    match passive(conn) {
        Ok(log) if log > long_log => finish.store(true, Ordering::Relaxed),
        Ok(_) => {}
        // Another process checkpointing (an `audit` or `migrate` command beside the
        // gateway) is no fault; the next round tries again.
        Err(e) => tracing::debug!(error = %e, "a checkpoint did not run"),
    }
}

/// Runs a passive checkpoint; the pages in the log when it began.
fn passive(conn: &Connection) -> Result<u64, StoreError> {
    let log: i64 = conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |r| r.get(1))?;
    Ok(u64::try_from(log).unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::{Checkpointer, Schedule, passive, round};
    use rusqlite::Connection;
    use std::path::Path;
    use std::sync::atomic::Ordering;
    use std::sync::{Arc, mpsc};
    use std::time::{Duration, Instant};

    /// A connection set up as the writer's and the checkpointer's are: WAL, and no
    /// checkpoint inside commits.
    fn connect(path: &Path) -> Connection {
        let conn = Connection::open(path).unwrap();
        conn.pragma_update(None, "journal_mode", "WAL").unwrap();
        conn.pragma_update(None, "wal_autocheckpoint", 0).unwrap();
        conn
    }

    /// The writer's connection to a new database at `path` holding the test table.
    fn table_in(path: &Path) -> Connection {
        let writer = connect(path);
        writer
            .execute_batch("CREATE TABLE t (n INTEGER PRIMARY KEY, pad BLOB NOT NULL)")
            .unwrap();
        writer
    }

    /// A reader holding a snapshot of the database at `path` until it commits: no
    /// checkpoint copies past it.
    fn snapshot_of(path: &Path) -> Connection {
        let reader = connect(path);
        reader.execute_batch("BEGIN").unwrap();
        let _: i64 = reader
            .query_row("SELECT COUNT(*) FROM t", [], |r| r.get(0))
            .unwrap();
        reader
    }

    fn insert(conn: &Connection, rows: std::ops::Range<i64>) {
        for n in rows {
            conn.execute("INSERT INTO t (n, pad) VALUES (?1, zeroblob(3000))", [n])
                .unwrap();
        }
    }

    /// Frames in the log (a passive checkpoint answers how many it found).
    fn log_frames(conn: &Connection) -> u64 {
        passive(conn).unwrap()
    }

    /// The starvation the writer's finishing is for, made in one thread: a reader's
    /// snapshot holds the checkpointer's round short of the log's end (as a commit
    /// landing during the round does under steady writes), so the log cannot start
    /// over and the next write lengthens it. Whether the writer, asked by that round,
    /// finishes the checkpoint between the reader's end and its next write; the log's
    /// frames after that write.
    fn log_after_a_short_round(writer_finishes: bool) -> u64 {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.db");
        let writer = table_in(&path);
        let own = connect(&path);
        let (stop, _stopped) = mpsc::channel();
        let checkpointer = Checkpointer {
            finish: Arc::default(),
            _stop: stop,
        };
        insert(&writer, 0..100);
        let reader = snapshot_of(&path);
        insert(&writer, 100..110);

        round(&own, &checkpointer.finish, 64);
        assert!(
            checkpointer.finish.load(Ordering::Relaxed),
            "a round over a log longer than long_log asks the writer to finish"
        );
        reader.execute_batch("COMMIT").unwrap();
        if writer_finishes {
            checkpointer.finish_if_asked(&writer);
            assert!(
                !checkpointer.finish.load(Ordering::Relaxed),
                "the writer takes the request"
            );
        }
        insert(&writer, 110..111);
        log_frames(&writer)
    }

    #[test]
    fn a_log_the_writer_finishes_starts_over_and_one_it_does_not_grows() {
        let unfinished = log_after_a_short_round(false);
        let finished = log_after_a_short_round(true);
        // A row of 3,000 bytes fills most of a table page: about three frames a write
        // (the new leaf, the pages its split touches).
        assert!(
            unfinished > 110,
            "unfinished, the log kept {unfinished} frames"
        );
        assert!(finished < 10, "finished, the log kept {finished} frames");
    }

    #[test]
    fn a_round_over_a_short_log_asks_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.db");
        let writer = table_in(&path);
        insert(&writer, 0..5);
        let finish = std::sync::atomic::AtomicBool::new(false);
        round(&connect(&path), &finish, 64);
        assert!(!finish.load(Ordering::Relaxed));
    }

    #[test]
    fn the_thread_asks_the_writer_once_the_log_is_long() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.db");
        let writer = table_in(&path);
        let checkpointer = Checkpointer::start(
            &path,
            Schedule {
                every: Duration::from_millis(1),
                long_log: 64,
            },
        )
        .unwrap();
        // Held open, a reader keeps the thread's rounds from copying the rows below, so
        // the log stays long until the thread has seen it (however late it runs).
        let _snapshot = snapshot_of(&path);
        insert(&writer, 0..100);
        let deadline = Instant::now() + Duration::from_secs(60);
        while !checkpointer.finish.load(Ordering::Relaxed) {
            assert!(Instant::now() < deadline, "the thread never asked");
            std::thread::sleep(Duration::from_millis(5));
        }
    }
}
