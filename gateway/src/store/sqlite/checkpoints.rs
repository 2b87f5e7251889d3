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

/// The thread: a passive checkpoint every `schedule.every` until stopped.
fn run(conn: &Connection, stopped: &mpsc::Receiver<()>, finish: &AtomicBool, schedule: Schedule) {
    while let Err(mpsc::RecvTimeoutError::Timeout) = stopped.recv_timeout(schedule.every) {
        match passive(conn) {
            Ok(log) if log > schedule.long_log => finish.store(true, Ordering::Relaxed),
            Ok(_) => {}
            // Another process checkpointing (an `audit` or `migrate` command beside the
            // gateway) is no fault; the next round tries again.
            Err(e) => tracing::debug!(error = %e, "a checkpoint did not run"),
        }
    }
}

/// Runs a passive checkpoint; the pages in the log when it began.
fn passive(conn: &Connection) -> Result<u64, StoreError> {
    let log: i64 = conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |r| r.get(1))?;
    Ok(u64::try_from(log).unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::Schedule;
    use crate::store::StoreError;
    use crate::store::sqlite::writer::{Durability, scratch};
    use std::time::Duration;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_log_starts_over_under_steady_writes() {
        let schedule = Schedule {
            every: Duration::from_millis(2),
            long_log: 64,
        };
        let (dir, writer, reader) = scratch(
            "CREATE TABLE t (n INTEGER PRIMARY KEY, pad BLOB NOT NULL)",
            schedule,
        );
        // Writes back to back, each a commit of its own and a page or more of the log:
        // the checkpointer never finds the writer idle.
        const WRITES: i64 = 3000;
        for n in 0..WRITES {
            writer
                .write(Durability::Crash, move |conn| {
                    conn.execute("INSERT INTO t (n, pad) VALUES (?1, zeroblob(3000))", [n])?;
                    Ok::<_, StoreError>(())
                })
                .await
                .unwrap();
        }
        // SQLite writes the log over from its start rather than shortening the file, so
        // the file's length is the longest the log has been. Without the writer finishing
        // checkpoints, it held a frame (a 4 KiB page) for each write at least (9,176 pages
        // when measured); with it, 200–470 pages alone, and up to 2,334 beside other tests
        // on two busy cores (the checkpointer thread, which asks, runs late) — so nextest
        // runs this test alone (`.config/nextest.toml`).
        let wal = std::fs::metadata(dir.path().join("w.db-wal"))
            .unwrap()
            .len();
        let longest = wal / 4096;
        assert!(
            longest < WRITES as u64 / 2,
            "the log reached {longest} pages over {WRITES} writes"
        );
        let rows: i64 = reader
            .query_row("SELECT COUNT(*) FROM t", [], |r| r.get(0))
            .unwrap();
        assert_eq!(rows, WRITES, "and every write is there");
    }
}
