//! The embedded default store: one SQLite file in WAL mode (`migrations/sqlite/`).
//!
//! Every write goes to one thread that owns the file's only writing connection
//! ([`writer`]): concurrent requests queue for it instead of colliding on SQLite's lock
//! (whose busy handler sleeps for milliseconds), and each write's statements run there in
//! place, one crossing per request rather than one per statement. The writer commits the
//! jobs waiting in groups, each job in a savepoint inside `BEGIN IMMEDIATE`: two
//! confirmations racing for one identity serialise, and the loser meets the identifiers
//! primary key. Reads go to reader threads with read-only connections ([`readers`]), in
//! the same way: one crossing per request. sqlx is used only to apply the migrations.
//!
//! Durability is chosen per write ([`writer::Durability`]). Every commit survives a crash
//! of the process (`kill -9`). Account and session writes must also survive power loss:
//! their group commits with `synchronous = FULL`, so concurrent confirmations share one
//! fsync, and each is answered only once it is on disk. Challenges and tickets, whose
//! loss in a restart costs a person a retry, are not in the file at all ([`challenges`]).
//!
//! One file per concern: [`challenges`] (and tickets), [`accounts`] (with sessions and
//! the audit log), [`sim`], [`oidc`], [`writer`], [`readers`], [`checkpoints`].

mod accounts;
mod challenges;
mod checkpoints;
mod oidc;
mod readers;
mod sim;
mod writer;

use super::rows::ts;
use super::{PURGE_BATCH, Store, StoreError};
use crate::domain::{Challenge, Ticket};
use async_trait::async_trait;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions};
use std::str::FromStr;
use std::time::Duration;
use time::OffsetDateTime;
use writer::Durability;

/// SQLite implementation of [`Store`].
#[derive(Debug, Clone)]
pub struct SqliteStore {
    /// How `migrate` connects (sqlx's migrator, shared with PostgreSQL's).
    options: SqliteConnectOptions,
    /// The reader threads.
    readers: readers::Readers,
    /// The one writer.
    writer: writer::Writer,
    /// The outstanding challenges, in memory.
    challenges: challenges::Book<Challenge>,
    /// The outstanding registration tickets, in memory.
    tickets: challenges::Book<Ticket>,
}

impl SqliteStore {
    /// What [`Store::purge_expired`] runs in the file (challenges and tickets live in
    /// memory), in order: each statement deletes (or, for pending SIM sessions, ends
    /// `EXPIRED`) at most `?2` of the rows that expired at or before `?1`, which is now
    /// (Unix seconds) less how long such rows are kept; each is repeated, a job of the
    /// writer's each time, until it finds fewer ([`PURGE_BATCH`]): the writes queued
    /// behind a backlog's purge wait for one batch, not for all of it. Each finds its
    /// rows by index (migration `0009`), which a test checks in every plan.
    pub const PURGES: [(&str, i64); 6] = [
        (
            "DELETE FROM sessions WHERE rowid IN (\
             SELECT rowid FROM sessions WHERE expires_at <= ?1 LIMIT ?2)",
            0,
        ),
        (
            "DELETE FROM oidc_session_portals WHERE rowid IN (\
             SELECT rowid FROM oidc_session_portals WHERE expires_at <= ?1 LIMIT ?2)",
            0,
        ),
        (
            "DELETE FROM oidc_grants WHERE rowid IN (\
             SELECT rowid FROM oidc_grants WHERE code_expires_at <= ?1 \
             AND COALESCE(access_expires_at, 0) <= ?1 LIMIT ?2)",
            0,
        ),
        (
            "DELETE FROM oidc_assertions WHERE rowid IN (\
             SELECT rowid FROM oidc_assertions WHERE expires_at <= ?1 LIMIT ?2)",
            0,
        ),
        (
            "UPDATE sim_sessions SET state = 'complete', result = 'EXPIRED', completed_at = ?1 \
             WHERE rowid IN (\
             SELECT rowid FROM sim_sessions WHERE state = 'pending' AND expires_at <= ?1 LIMIT ?2)",
            0,
        ),
        // Complete SIM sessions are kept a day: they count toward the per-number limits.
        (
            "DELETE FROM sim_sessions WHERE rowid IN (\
             SELECT rowid FROM sim_sessions WHERE state = 'complete' AND expires_at <= ?1 LIMIT ?2)",
            86_400,
        ),
    ];

    /// Opens (creating if missing) the database at `url` (`sqlite://path`), with
    /// `max_connections` reader threads.
    pub async fn open(url: &str, max_connections: u32) -> Result<Self, StoreError> {
        let options = SqliteConnectOptions::from_str(url)?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .foreign_keys(true)
            .busy_timeout(Duration::from_secs(10));
        let path = options.get_filename().to_owned();
        let readers = max_connections.max(1) as usize;
        // The writer creates the file in WAL mode; the readers then open it read-only.
        let (writer, readers) = tokio::task::spawn_blocking(move || {
            let writer = writer::Writer::open(&path, checkpoints::Schedule::default())?;
            Ok::<_, StoreError>((writer, readers::Readers::open(&path, readers)?))
        })
        .await
        .map_err(|e| StoreError::Unanswered(format!("opening the database failed: {e}")))??;
        Ok(Self {
            options,
            readers,
            writer,
            challenges: challenges::Book::default(),
            tickets: challenges::Book::default(),
        })
    }
}

/// The SQLite schema's migrations, in this build.
static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/sqlite");

#[async_trait]
impl Store for SqliteStore {
    async fn migrate(&self) -> Result<(), StoreError> {
        // The writer holds no lock between its batches, so a connection of the migrator's
        // own can apply the migrations (in transactions, waiting for the writer's lock).
        let pool = SqlitePoolOptions::new()
            .max_connections(1)
            .connect_with(self.options.clone())
            .await?;
        let migrated = MIGRATOR.run(&pool).await;
        pool.close().await;
        Ok(migrated?)
    }

    async fn ensure_schema(&self) -> Result<(), StoreError> {
        // A schema a newer build migrated is refused as such, before migrating meets it.
        match self.schema_current().await {
            Err(newer @ StoreError::SchemaNewer { .. }) => Err(newer),
            _ => self.migrate().await,
        }
    }

    async fn schema_current(&self) -> Result<(), StoreError> {
        let want = MIGRATOR.iter().map(|m| m.version).max().unwrap_or(0);
        let have = self
            .readers
            .read(|conn| {
                let tracked: bool = conn.query_row(
                    "SELECT EXISTS (SELECT 1 FROM sqlite_master \
                     WHERE type = 'table' AND name = '_sqlx_migrations')",
                    [],
                    |row| row.get(0),
                )?;
                if !tracked {
                    return Ok(0);
                }
                Ok(conn.query_row(
                    "SELECT COALESCE(MAX(version), 0) FROM _sqlx_migrations WHERE success",
                    [],
                    |row| row.get::<_, i64>(0),
                )?)
            })
            .await?;
        if have < want {
            return Err(StoreError::SchemaOutdated { have, want });
        }
        if have > want {
            return Err(StoreError::SchemaNewer { have, want });
        }
        Ok(())
    }

    async fn ping(&self) -> Result<(), StoreError> {
        self.readers
            .read(|conn| Ok(conn.query_row("SELECT 1", [], |_| Ok(()))?))
            .await
    }

    async fn purge_expired(&self, now: OffsetDateTime) -> Result<u64, StoreError> {
        let purged = self.challenges.purge(now) + self.tickets.purge(now);
        let now = ts(now);
        let mut in_file = 0;
        for (sql, kept) in Self::PURGES {
            loop {
                let batch = self
                    .writer
                    .write(Durability::Crash, move |conn| {
                        let n = conn
                            .prepare_cached(sql)?
                            .execute([now - kept, PURGE_BATCH])?;
                        Ok::<_, StoreError>(n as u64)
                    })
                    .await?;
                in_file += batch;
                if batch < PURGE_BATCH as u64 {
                    break;
                }
            }
        }
        Ok(purged + in_file)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::registration::{Evidence, Method};
    use crate::domain::{Account, AuditEntry, CertificateRecord};
    use crate::store::{AccountStore, ChallengeStore, CreateAccountError, OidcStore};
    use kyso_verify::identity::{Identifier, IdentifierKind, Subject, SubjectType};

    async fn store_in(dir: &tempfile::TempDir) -> (SqliteStore, std::path::PathBuf) {
        let path = dir.path().join("s.db");
        let store = SqliteStore::open(&format!("sqlite://{}", path.display()), 1)
            .await
            .unwrap();
        store.migrate().await.unwrap();
        (store, path)
    }

    /// The purge finds expired rows by index: the one writer waits behind it, and a
    /// scan of whole tables would hold every account write as long as the tables grow.
    #[tokio::test]
    async fn every_purge_statement_finds_its_rows_by_index() {
        let dir = tempfile::tempdir().unwrap();
        let (_store, path) = store_in(&dir).await;
        let conn = rusqlite::Connection::open(&path).unwrap();
        for (sql, _) in SqliteStore::PURGES {
            let mut plan = conn.prepare(&format!("EXPLAIN QUERY PLAN {sql}")).unwrap();
            let steps: Vec<String> = plan
                .query_map([0, PURGE_BATCH], |row| row.get::<_, String>(3))
                .unwrap()
                .map(Result::unwrap)
                .collect();
            // SEARCH: a range of an index, or rows by rowid; never a SCAN of the table or
            // of a whole index.
            assert!(
                steps.iter().any(|s| s.starts_with("SEARCH"))
                    && !steps.iter().any(|s| s.starts_with("SCAN")),
                "{sql}: {steps:?}"
            );
        }
    }

    /// A database a newer gateway migrated further is refused, by the check the audit
    /// commands make and by `serve`'s own migration, rather than read by a build that
    /// would misread its rows.
    #[tokio::test]
    async fn a_schema_newer_than_this_build_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let (store, path) = store_in(&dir).await;
        store.schema_current().await.unwrap();
        rusqlite::Connection::open(&path)
            .unwrap()
            .execute(
                "INSERT INTO _sqlx_migrations (version, description, success, checksum, execution_time) \
                 VALUES (9999, 'from a newer gateway', TRUE, X'00', 0)",
                [],
            )
            .unwrap();
        assert!(matches!(
            store.schema_current().await,
            Err(StoreError::SchemaNewer { have: 9999, .. })
        ));
        assert!(matches!(
            store.ensure_schema().await,
            Err(StoreError::SchemaNewer { have: 9999, .. })
        ));
    }

    /// A client that hangs up while its account waits to be written (the request's
    /// future dropped) loses nothing: when the write then fails, the ticket is given back
    /// for the retry. The test's own transaction holds the write lock, so the
    /// confirmation is still waiting when it is dropped.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_ticket_is_given_back_after_a_failed_write_whose_client_hung_up() {
        let dir = tempfile::tempdir().unwrap();
        let (store, path) = store_in(&dir).await;
        let now = OffsetDateTime::now_utc();
        let subject = Subject {
            subject_type: SubjectType::Citizen,
            identifier: Identifier {
                kind: IdentifierKind::Cccd,
                value: "001090012345".into(),
            },
            aliases: Vec::new(),
            full_name: "Nguyễn Thị Hoa".into(),
            organization: None,
            email_in_cert: None,
        };
        let ticket = Ticket {
            id: "t-hangup".into(),
            expires_at: now + time::Duration::minutes(10),
            subject: subject.clone(),
            certificate: CertificateRecord {
                fingerprint: "fp".into(),
                issuer: "CN=VNPT-CA".into(),
                serial: "01".into(),
                not_after: now + time::Duration::days(365),
            },
            evidence: Evidence {
                method: Method::Token,
                challenge_id: "ch".into(),
                signed_data: vec![1],
                signature: vec![2],
                algorithm: "ES256".into(),
                certificate: vec![0x30, 0x00],
            },
        };
        let account = Account {
            id: "acc_hangup".into(),
            subject,
            email: None,
            phone: None,
            ial: 3,
            created_at: now,
        };
        let audit = AuditEntry {
            at: now,
            event: "account.created",
            account_id: Some(account.id.clone()),
            details: "{}".into(),
        };
        store.put_ticket(&ticket).await.unwrap();
        let own = rusqlite::Connection::open(&path).unwrap();
        own.execute_batch("BEGIN IMMEDIATE; ALTER TABLE accounts RENAME TO accounts_away;")
            .unwrap();
        let mut confirm =
            Box::pin(store.create_account(&ticket.id, now, &account, &ticket.certificate, &audit));
        assert!(futures_util::poll!(confirm.as_mut()).is_pending());
        drop(confirm);
        own.execute_batch("COMMIT").unwrap();
        let mut back = None;
        for _ in 0..1200 {
            back = store.get_ticket(&ticket.id).await.unwrap();
            if back.is_some() {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(25)).await;
        }
        assert_eq!(back, Some(ticket.clone()), "given back within 30 s");
        own.execute_batch("ALTER TABLE accounts_away RENAME TO accounts")
            .unwrap();
        let retried = store
            .create_account(&ticket.id, now, &account, &ticket.certificate, &audit)
            .await;
        assert!(
            matches!(&retried, Ok(a) if a.id == "acc_hangup"),
            "{retried:?}"
        );
        assert!(matches!(
            store
                .create_account(&ticket.id, now, &account, &ticket.certificate, &audit)
                .await,
            Err(CreateAccountError::TicketNotFound)
        ));
    }

    /// Each write that ends or uses up a credential is committed with `synchronous =
    /// FULL`, so a power cut cannot undo it once answered; the purge of expired rows,
    /// which only costs a later retry, is not.
    #[tokio::test]
    async fn writes_that_end_or_use_up_a_credential_survive_power_loss() {
        let dir = tempfile::tempdir().unwrap();
        let (store, _) = store_in(&dir).await;
        let now = OffsetDateTime::now_utc();
        let synced = || store.writer.synced_groups();

        let before = synced();
        store.purge_expired(now).await.unwrap();
        assert_eq!(synced(), before, "a purge needs no fsync of its own");

        store.delete_session("hash").await.unwrap();
        assert_eq!(synced(), before + 1, "a logout");
        store.delete_consent("acc_1", "portal").await.unwrap();
        assert_eq!(synced(), before + 2, "a withdrawn consent");
        let later = now + time::Duration::minutes(1);
        store
            .redeem_code("code", "portal", "token", later, now)
            .await
            .unwrap();
        assert_eq!(synced(), before + 3, "a redeemed code");
        assert!(store.use_assertion("portal", "jti", later).await.unwrap());
        assert_eq!(synced(), before + 4, "a used client assertion");
    }
}
