//! The embedded default store: one SQLite file in WAL mode (`migrations/sqlite/`).
//!
//! All writes go through one writer connection, so concurrent requests queue in the pool
//! instead of colliding on SQLite's lock (whose busy handler sleeps for milliseconds);
//! reads use a separate pool. Writes that must be atomic run in `BEGIN IMMEDIATE`
//! transactions: two confirmations racing for one identity serialise, and the loser meets
//! the identifiers primary key.
//!
//! Durability is chosen per write. The database runs with `synchronous = NORMAL` (WAL):
//! every commit survives a process crash (`kill -9`). Account and session transactions
//! are committed in groups with `synchronous = FULL` ([`group_commit`]): concurrent
//! confirmations share one fsync, and each is answered only once its group is on disk,
//! so an acknowledged account also survives power loss. Tickets, whose loss costs the
//! person a retry, are not fsynced one by one; challenges are not in the file at all
//! ([`challenges`]).
//!
//! One file per concern: [`challenges`], [`accounts`] (with sessions and the audit log),
//! [`sim`], [`oidc`], [`group_commit`].

mod accounts;
mod challenges;
mod group_commit;
mod oidc;
mod sim;

use super::rows::ts;
use super::{Store, StoreError};
use async_trait::async_trait;
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
    /// The one writer connection.
    writer: SqlitePool,
    /// Durable writes, committed in groups on the writer connection.
    durable: group_commit::GroupCommit,
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
        let writer = SqlitePoolOptions::new()
            .max_connections(1)
            .connect_with(options.clone())
            .await?;
        let pool = SqlitePoolOptions::new()
            .max_connections(max_connections.max(1))
            .connect_with(options)
            .await?;
        Ok(Self {
            pool,
            durable: group_commit::GroupCommit::start(writer.clone()),
            writer,
            challenges: challenges::ChallengeBook::default(),
        })
    }
}

#[async_trait]
impl Store for SqliteStore {
    async fn migrate(&self) -> Result<(), StoreError> {
        Ok(sqlx::migrate!("./migrations/sqlite")
            .run(&self.writer)
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
        let mut n = self.challenges.purge(now);
        for sql in [
            "DELETE FROM tickets WHERE expires_at <= ?",
            "DELETE FROM sessions WHERE expires_at <= ?",
            "DELETE FROM oidc_grants WHERE code_expires_at <= ?1 \
             AND COALESCE(access_expires_at, 0) <= ?1",
            "DELETE FROM oidc_assertions WHERE expires_at <= ?",
        ] {
            n += sqlx::query(sql)
                .bind(ts(now))
                .execute(&self.writer)
                .await?
                .rows_affected();
        }
        Ok(n + self.purge_sim_sessions(now).await?)
    }
}
