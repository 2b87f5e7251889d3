//! The embedded default store: one SQLite file in WAL mode (`migrations/sqlite/`).
//!
//! Every write goes to one thread that owns the file's only writing connection
//! ([`writer`]): concurrent requests queue for it instead of colliding on SQLite's lock
//! (whose busy handler sleeps for milliseconds), and each write's statements run there in
//! place, one crossing per request rather than one per statement. The writer commits the
//! jobs waiting in groups, each job in a savepoint inside `BEGIN IMMEDIATE`: two
//! confirmations racing for one identity serialise, and the loser meets the identifiers
//! primary key. Reads use a separate pool of connections.
//!
//! Durability is chosen per write ([`writer::Durability`]). Every commit survives a crash
//! of the process (`kill -9`). Account and session writes must also survive power loss:
//! their group commits with `synchronous = FULL`, so concurrent confirmations share one
//! fsync, and each is answered only once it is on disk. Tickets, whose loss costs the
//! person a retry, are not fsynced one by one; challenges are not in the file at all
//! ([`challenges`]).
//!
//! One file per concern: [`challenges`] (and tickets), [`accounts`] (with sessions and
//! the audit log), [`sim`], [`oidc`], [`writer`].

mod accounts;
mod challenges;
mod oidc;
mod sim;
mod writer;

use super::rows::ts;
use super::{Store, StoreError};
use async_trait::async_trait;
use writer::Durability;
use sqlx::SqlitePool;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use std::str::FromStr;
use std::time::Duration;
use time::OffsetDateTime;

/// SQLite implementation of [`Store`].
#[derive(Debug, Clone)]
pub struct SqliteStore {
    /// Readers.
    pool: SqlitePool,
    /// The one writer.
    writer: writer::Writer,
    /// The outstanding challenges, in memory.
    challenges: challenges::ChallengeBook,
}

impl SqliteStore {
    /// Opens (creating if missing) the database at `url` (`sqlite://path`), with at most
    /// `max_connections` reader connections.
    pub async fn open(url: &str, max_connections: u32) -> Result<Self, StoreError> {
        let options = SqliteConnectOptions::from_str(url)?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .foreign_keys(true)
            .busy_timeout(Duration::from_secs(10));
        // Opening the pool creates the file in WAL mode; the writer then opens it too.
        let pool = SqlitePoolOptions::new()
            .max_connections(max_connections.max(1))
            // A ping before each use would cost a round trip to the driver's thread per
            // query; a broken SQLite connection is not something a ping repairs.
            .test_before_acquire(false)
            .connect_with(options.clone())
            .await?;
        let path = options.get_filename().to_owned();
        let writer = tokio::task::spawn_blocking(move || writer::Writer::open(&path))
            .await
            .map_err(|e| StoreError::Unwritten(format!("opening the writer failed: {e}")))??;
        Ok(Self {
            pool,
            writer,
            challenges: challenges::ChallengeBook::default(),
        })
    }
}

#[async_trait]
impl Store for SqliteStore {
    async fn migrate(&self) -> Result<(), StoreError> {
        // The writer holds no lock between its batches, so a pool connection can apply
        // the migrations; the writer's statements are prepared after them.
        Ok(sqlx::migrate!("./migrations/sqlite")
            .run(&self.pool)
            .await?)
    }

    async fn ensure_schema(&self) -> Result<(), StoreError> {
        self.migrate().await
    }

    async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }

    async fn purge_expired(&self, now: OffsetDateTime) -> Result<u64, StoreError> {
        let purged = self.challenges.purge(now);
        let now = ts(now);
        let in_file = self
            .writer
            .write(Durability::Crash, move |conn| {
                let mut n = 0;
                for sql in [
                    "DELETE FROM tickets WHERE expires_at <= ?1",
                    "DELETE FROM sessions WHERE expires_at <= ?1",
                    "DELETE FROM oidc_grants WHERE code_expires_at <= ?1 \
                     AND COALESCE(access_expires_at, 0) <= ?1",
                    "DELETE FROM oidc_assertions WHERE expires_at <= ?1",
                ] {
                    n += conn.prepare_cached(sql)?.execute([now])?;
                }
                Ok::<_, StoreError>(n as u64 + sim::purge_sim_sessions(conn, now)?)
            })
            .await?;
        Ok(purged + in_file)
    }
}
