//! The store for several gateway instances: one PostgreSQL database
//! (`migrations/postgres/`), or a PostgreSQL-compatible distributed engine.
//!
//! Everything that must hold across instances is held by the database: primary keys and a
//! partial unique index decide races, `DELETE … RETURNING` and `UPDATE … WHERE state =
//! 'pending'` make single use and final results, and the audit chain's head is one row
//! that appends lock ([`accounts`]).
//!
//! Every operation is one transaction, begun with the configured isolation level and a
//! `SET LOCAL statement_timeout`, and run again — whole, with jittered exponential
//! backoff, at most [`MAX_ATTEMPTS`] times — when the database answers SQLSTATE 40001
//! (serialization failure) or 40P01 (deadlock). Nothing holds a session across
//! transactions and no advisory lock is taken while serving, so the store also runs
//! through pgbouncer in transaction-pooling mode; there, `prepared_statements = false`
//! keeps every statement unnamed (a named statement would be left behind on a server
//! connection another client gets next). Migrations are the exception: `kyso-gateway
//! migrate`, run once against the server itself, takes sqlx's advisory lock; `serve`
//! only checks that the schema is current.
//!
//! One file per concern: [`challenges`], [`accounts`] (with sessions and the audit log),
//! [`sim`], [`oidc`].

/// Evaluates `$attempt` (a future: one whole transaction) until it ends without a
/// serialization failure, at most [`MAX_ATTEMPTS`] times. A macro, not a function taking
/// an async closure, so the futures stay `Send` for `async_trait`.
macro_rules! retrying {
    ($store:expr, $attempt:expr) => {{
        let mut attempt = 1;
        loop {
            match $attempt.await {
                Err(e)
                    if $crate::store::postgres::Conflict::is_conflict(&e)
                        && attempt < $crate::store::postgres::MAX_ATTEMPTS =>
                {
                    $store.after_conflict(attempt).await;
                    attempt += 1;
                }
                done => break done,
            }
        }
    }};
}

mod accounts;
mod challenges;
mod oidc;
mod sim;

use super::{CreateAccountError, PURGE_BATCH, StartSimError, Store, StoreError};
use crate::store::rows::ts;
use async_trait::async_trait;
use sqlx::postgres::{PgArguments, PgConnectOptions, PgPoolOptions, PgRow, PgSslMode};
use sqlx::{PgPool, Postgres, Row, Transaction};
use std::str::FromStr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;
use time::OffsetDateTime;

/// A statement for this store.
type PgQuery = sqlx::query::Query<'static, Postgres, PgArguments>;

/// How many times one operation runs before a conflict is given up as an error.
pub const MAX_ATTEMPTS: u32 = 8;

/// The migrations this build knows.
static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/postgres");

/// The isolation level write transactions run at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Isolation {
    /// PostgreSQL's default; the store's rules hold at it (row locks and unique keys).
    ReadCommitted,
    /// What distributed engines run at; conflicts become 40001 and are retried.
    Serializable,
}

impl Isolation {
    fn sql(self) -> &'static str {
        match self {
            Self::ReadCommitted => "READ COMMITTED",
            Self::Serializable => "SERIALIZABLE",
        }
    }
}

/// How to reach and use the database.
#[derive(Debug, Clone)]
pub struct PostgresOptions {
    /// Connections in the pool.
    pub pool_size: u32,
    /// Longest one statement may run (`SET LOCAL statement_timeout`).
    pub statement_timeout: Duration,
    /// Longest a request waits for a connection (also bounds connecting).
    pub acquire_timeout: Duration,
    /// Isolation level of every transaction.
    pub isolation: Isolation,
    /// Named, cached prepared statements; `false` behind pgbouncer in transaction mode.
    pub prepared_statements: bool,
    /// Overrides the URL's `sslmode` (`disable`, `prefer`, `require`, `verify-ca`,
    /// `verify-full`).
    pub sslmode: Option<String>,
}

/// PostgreSQL implementation of [`Store`].
#[derive(Debug, Clone)]
pub struct PostgresStore {
    pool: PgPool,
    /// `BEGIN …; SET LOCAL statement_timeout …`, sent as one simple query.
    begin: Arc<str>,
    prepared: bool,
    conflicts: Arc<AtomicU64>,
    /// At SERIALIZABLE, this instance's audit-chain appends take turns: they all write the
    /// chain's one head row, so running them together only manufactures serialization
    /// failures among themselves (forty at once could exhaust [`MAX_ATTEMPTS`]). Conflicts
    /// with other instances are still met and retried.
    chain_turn: Option<Arc<tokio::sync::Mutex<()>>>,
}

/// Whether a database error means "run the whole transaction again".
fn is_conflict(e: &sqlx::Error) -> bool {
    matches!(e, sqlx::Error::Database(d) if matches!(d.code().as_deref(), Some("40001" | "40P01")))
}

/// Errors that can carry a serialization failure.
pub(super) trait Conflict {
    fn is_conflict(&self) -> bool;
}

impl Conflict for StoreError {
    fn is_conflict(&self) -> bool {
        matches!(self, StoreError::Database(e) if is_conflict(e))
    }
}

impl Conflict for CreateAccountError {
    fn is_conflict(&self) -> bool {
        matches!(self, CreateAccountError::Store(e) if e.is_conflict())
    }
}

impl Conflict for StartSimError {
    fn is_conflict(&self) -> bool {
        matches!(self, StartSimError::Store(e) if e.is_conflict())
    }
}

/// The pause before attempt `attempt + 1`: 2 ms doubling to at most 256 ms, of which a
/// random half to all is taken, so colliding instances drift apart.
fn backoff(attempt: u32) -> Duration {
    let ceiling = 2u64 << attempt.min(7);
    let mut byte = [0u8; 1];
    let spread = match aws_lc_rs::rand::fill(&mut byte) {
        Ok(()) => u64::from(byte[0]),
        Err(_) => 255,
    };
    Duration::from_micros(ceiling * 500 + ceiling * 500 * spread / 255)
}

impl PostgresStore {
    /// What [`Store::purge_expired`] runs, in order: each statement deletes (or, for
    /// pending SIM sessions, ends `EXPIRED`) at most `$2` of the rows that expired at or
    /// before `$1`, which is `now` less how long such rows are kept; each is repeated
    /// until it finds fewer ([`PURGE_BATCH`]), each time in a short transaction of its
    /// own, so a backlog (after a long outage) neither meets the statement timeout nor
    /// holds its locks long. Rows are picked by index (migration `0005`), which a test
    /// checks in every plan, and then taken by their `ctid`: a row another instance
    /// changed in between has a new one and is left for the next purge.
    pub const PURGES: [(&str, time::Duration); 8] = [
        (
            "DELETE FROM challenges WHERE ctid = ANY(ARRAY(\
             SELECT ctid FROM challenges WHERE expires_at <= $1 LIMIT $2))",
            time::Duration::ZERO,
        ),
        (
            "DELETE FROM tickets WHERE ctid = ANY(ARRAY(\
             SELECT ctid FROM tickets WHERE expires_at <= $1 LIMIT $2))",
            time::Duration::ZERO,
        ),
        (
            "DELETE FROM sessions WHERE ctid = ANY(ARRAY(\
             SELECT ctid FROM sessions WHERE expires_at <= $1 LIMIT $2))",
            time::Duration::ZERO,
        ),
        (
            "DELETE FROM oidc_session_portals WHERE ctid = ANY(ARRAY(\
             SELECT ctid FROM oidc_session_portals WHERE expires_at <= $1 LIMIT $2))",
            time::Duration::ZERO,
        ),
        (
            "DELETE FROM oidc_grants WHERE ctid = ANY(ARRAY(\
             SELECT ctid FROM oidc_grants WHERE code_expires_at <= $1 \
             AND COALESCE(access_expires_at, 0) <= $1 LIMIT $2))",
            time::Duration::ZERO,
        ),
        (
            "DELETE FROM oidc_assertions WHERE ctid = ANY(ARRAY(\
             SELECT ctid FROM oidc_assertions WHERE expires_at <= $1 LIMIT $2))",
            time::Duration::ZERO,
        ),
        (
            "UPDATE sim_sessions SET state = 'complete', result = 'EXPIRED', completed_at = $1 \
             WHERE ctid = ANY(ARRAY(\
             SELECT ctid FROM sim_sessions WHERE state = 'pending' AND expires_at <= $1 LIMIT $2))",
            time::Duration::ZERO,
        ),
        // Complete SIM sessions are kept a day: they count toward the per-number limits.
        (
            "DELETE FROM sim_sessions WHERE ctid = ANY(ARRAY(\
             SELECT ctid FROM sim_sessions WHERE state = 'complete' AND expires_at <= $1 LIMIT $2))",
            time::Duration::DAY,
        ),
    ];

    /// Connects a pool to `url` (`postgres://user@host:port/db?sslmode=…`). Connections
    /// are made lazily, so a gateway starts (not ready) while the database is down.
    pub fn open(url: &str, options: &PostgresOptions) -> Result<Self, StoreError> {
        // No `extra_float_digits` at start-up (the schema holds no floats): pgbouncer
        // refuses startup parameters it does not track unless configured to ignore them.
        let mut connect = PgConnectOptions::from_str(url)?.extra_float_digits(None);
        if let Some(mode) = &options.sslmode {
            connect = connect.ssl_mode(PgSslMode::from_str(mode)?);
        }
        if !options.prepared_statements {
            connect = connect.statement_cache_capacity(0);
        }
        let pool = PgPoolOptions::new()
            .max_connections(options.pool_size.max(1))
            .acquire_timeout(options.acquire_timeout)
            .connect_lazy_with(connect);
        Ok(Self {
            pool,
            begin: format!(
                "BEGIN ISOLATION LEVEL {}; SET LOCAL statement_timeout = {}",
                options.isolation.sql(),
                options.statement_timeout.as_millis().max(1)
            )
            .into(),
            prepared: options.prepared_statements,
            conflicts: Arc::default(),
            chain_turn: (options.isolation == Isolation::Serializable).then(Arc::default),
        })
    }

    /// Serialization failures met so far (each one cost a retry).
    pub fn conflicts(&self) -> u64 {
        self.conflicts.load(Ordering::Relaxed)
    }

    /// A statement, named and cached or unnamed as configured.
    fn sql(&self, sql: &'static str) -> PgQuery {
        sqlx::query(sql).persistent(self.prepared)
    }

    /// Starts a transaction at the configured isolation level and statement timeout.
    async fn begin(&self) -> Result<Transaction<'static, Postgres>, StoreError> {
        Ok(self
            .pool
            .begin_with(sqlx::AssertSqlSafe(self.begin.to_string()))
            .await?)
    }

    /// Waits for this instance's turn to append to the audit chain (at SERIALIZABLE only;
    /// at READ COMMITTED the head row's lock queues appends without failing them).
    async fn chain_turn(&self) -> Option<tokio::sync::MutexGuard<'_, ()>> {
        match &self.chain_turn {
            Some(turn) => Some(turn.lock().await),
            None => None,
        }
    }

    /// Notes a serialization failure and waits before attempt `attempt + 1`.
    async fn after_conflict(&self, attempt: u32) {
        self.conflicts.fetch_add(1, Ordering::Relaxed);
        tokio::time::sleep(backoff(attempt)).await;
    }

    /// Runs one statement that changes rows in its own transaction; the rows changed.
    async fn write(&self, statement: impl Fn() -> PgQuery) -> Result<u64, StoreError> {
        retrying!(self, self.write_once(&statement))
    }

    async fn write_once(&self, statement: &impl Fn() -> PgQuery) -> Result<u64, StoreError> {
        let mut tx = self.begin().await?;
        let n = statement().execute(&mut *tx).await?.rows_affected();
        tx.commit().await?;
        Ok(n)
    }

    /// Runs one query in its own transaction; its rows. Reads run in transactions too:
    /// behind pgbouncer, an unnamed statement outside one could be parsed on one server
    /// connection and executed on another.
    async fn read(&self, query: impl Fn() -> PgQuery) -> Result<Vec<PgRow>, StoreError> {
        retrying!(self, self.read_once(&query))
    }

    async fn read_once(&self, query: &impl Fn() -> PgQuery) -> Result<Vec<PgRow>, StoreError> {
        let mut tx = self.begin().await?;
        let rows = query().fetch_all(&mut *tx).await?;
        tx.commit().await?;
        Ok(rows)
    }

    /// [`Self::read`] for at most one row.
    async fn read_one(&self, query: impl Fn() -> PgQuery) -> Result<Option<PgRow>, StoreError> {
        Ok(self.read(query).await?.into_iter().next())
    }
}

#[async_trait]
impl Store for PostgresStore {
    async fn migrate(&self) -> Result<(), StoreError> {
        Ok(MIGRATOR.run(&self.pool).await?)
    }

    async fn ensure_schema(&self) -> Result<(), StoreError> {
        self.schema_current().await
    }

    async fn schema_current(&self) -> Result<(), StoreError> {
        let want = MIGRATOR.iter().map(|m| m.version).max().unwrap_or(0);
        let applied = self
            .read_one(|| self.sql("SELECT max(version) FROM _sqlx_migrations WHERE success"))
            .await;
        let have = match applied {
            Ok(row) => row
                .map(|r| r.try_get::<Option<i64>, _>(0))
                .transpose()?
                .flatten()
                .unwrap_or(0),
            // No migrations table: nothing was ever applied.
            Err(StoreError::Database(sqlx::Error::Database(d)))
                if d.code().as_deref() == Some("42P01") =>
            {
                0
            }
            Err(e) => return Err(e),
        };
        if have < want {
            return Err(StoreError::SchemaOutdated { have, want });
        }
        if have > want {
            return Err(StoreError::SchemaNewer { have, want });
        }
        Ok(())
    }

    async fn ping(&self) -> Result<(), StoreError> {
        // The simple protocol: one message, nothing left on a pooled server connection.
        sqlx::raw_sql("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }

    async fn purge_expired(&self, now: OffsetDateTime) -> Result<u64, StoreError> {
        let mut n = 0;
        for (sql, kept) in Self::PURGES {
            loop {
                let batch = self
                    .write(|| self.sql(sql).bind(ts(now - kept)).bind(PURGE_BATCH))
                    .await?;
                n += batch;
                if batch < PURGE_BATCH as u64 {
                    break;
                }
            }
        }
        Ok(n)
    }
}
