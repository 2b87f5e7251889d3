//! The store conformance suite on PostgreSQL — at READ COMMITTED, at SERIALIZABLE (what
//! CockroachDB and YugabyteDB run at), and through pgbouncer in transaction-pooling mode
//! with prepared statements off — plus what only PostgreSQL has: serialization failures
//! retried, and a schema check instead of migrating at start.
//!
//! Each test gets a database of its own on the server `KYSO_TEST_POSTGRES` names
//! (default: the local server, `postgres://postgres@127.0.0.1:5432/test`).

use crate::store::{AuditRow, Backend, conformance};
use async_trait::async_trait;
use kyso_gateway::domain::SimOutcome;
use kyso_gateway::store::{
    AUDIT_PAGE, Isolation, PostgresOptions, PostgresStore, Store, StoreError, verify_audit_chain,
};
use kyso_tests::postgres::{Pgbouncer, TestDatabase};
use sqlx::{Connection, PgConnection};
use std::sync::Arc;
use std::time::Duration;

fn options(isolation: Isolation, prepared_statements: bool) -> PostgresOptions {
    PostgresOptions {
        pool_size: 8,
        statement_timeout: Duration::from_secs(10),
        acquire_timeout: Duration::from_secs(10),
        isolation,
        prepared_statements,
        sslmode: None,
    }
}

/// A migrated PostgreSQL store on a database of its own.
pub struct Pg {
    /// Dropped last: the database goes with it.
    db: TestDatabase,
    store: Arc<PostgresStore>,
    _bouncer: Option<Pgbouncer>,
}

impl Pg {
    async fn with(options: PostgresOptions, through_bouncer: bool) -> Self {
        let db = TestDatabase::create();
        let bouncer = through_bouncer.then(|| Pgbouncer::start_shared(4));
        let url = match &bouncer {
            Some(b) => b.url(&db.name),
            None => db.url.clone(),
        };
        // Migrations take a session lock: always straight to the server.
        PostgresStore::open(&db.url, &options)
            .unwrap()
            .migrate()
            .await
            .unwrap();
        let store = Arc::new(PostgresStore::open(&url, &options).unwrap());
        store.ensure_schema().await.unwrap();
        Self {
            db,
            store,
            _bouncer: bouncer,
        }
    }

    async fn connect(&self) -> PgConnection {
        PgConnection::connect(&self.db.url).await.unwrap()
    }
}

#[async_trait]
impl Backend for Pg {
    async fn open() -> Self {
        Self::with(options(Isolation::ReadCommitted, true), false).await
    }

    fn store(&self) -> Arc<dyn Store> {
        self.store.clone()
    }

    async fn raw(&self, sql: &str) -> Result<u64, String> {
        sqlx::query(sqlx::AssertSqlSafe(sql.to_owned()))
            .execute(&mut self.connect().await)
            .await
            .map(|r| r.rows_affected())
            .map_err(|e| e.to_string())
    }

    async fn behind_audit_triggers(&self, sql: &str) {
        let mut conn = self.connect().await;
        for step in [
            "ALTER TABLE audit_log DISABLE TRIGGER USER",
            sql,
            "ALTER TABLE audit_log ENABLE TRIGGER USER",
        ] {
            sqlx::raw_sql(sqlx::AssertSqlSafe(step.to_owned()))
                .execute(&mut conn)
                .await
                .unwrap();
        }
    }

    async fn audit_rows(&self) -> Vec<AuditRow> {
        sqlx::query_as(
            "SELECT seq, at, event, account_id, details, prev_hash, hash FROM audit_log ORDER BY seq",
        )
        .fetch_all(&mut self.connect().await)
        .await
        .unwrap()
    }
}

/// Every transaction at SERIALIZABLE: conflicts surface as SQLSTATE 40001 and are retried.
pub struct PgSerializable(Pg);

/// Through pgbouncer (transaction pooling, 4 server connections for 8 clients), unnamed
/// statements only.
pub struct PgBouncer(Pg);

macro_rules! delegate {
    ($($name:ident => $options:expr, $bouncer:expr;)+) => {$(
        #[async_trait]
        impl Backend for $name {
            async fn open() -> Self {
                Self(Pg::with($options, $bouncer).await)
            }
            fn store(&self) -> Arc<dyn Store> {
                self.0.store()
            }
            async fn raw(&self, sql: &str) -> Result<u64, String> {
                self.0.raw(sql).await
            }
            async fn behind_audit_triggers(&self, sql: &str) {
                self.0.behind_audit_triggers(sql).await
            }
            async fn audit_rows(&self) -> Vec<AuditRow> {
                self.0.audit_rows().await
            }
        }
    )+};
}

delegate! {
    PgSerializable => options(Isolation::Serializable, true), false;
    PgBouncer => options(Isolation::ReadCommitted, false), true;
}

conformance!(postgres, Pg);
conformance!(postgres_serializable, PgSerializable);
conformance!(postgres_pgbouncer, PgBouncer);

/// A write that meets a serialization failure runs again, whole, and succeeds: the test
/// holds the audit chain's head row in a transaction of its own, lets the store's account
/// transaction start and wait for it, then commits a change to that row — which, at
/// SERIALIZABLE, the waiting transaction can only answer with 40001.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_serialization_failure_is_retried_until_the_write_succeeds() {
    let pg = Pg::with(options(Isolation::Serializable, true), false).await;
    let mut holder = pg.connect().await;
    sqlx::raw_sql("BEGIN; UPDATE audit_head SET seq = seq WHERE id = 0")
        .execute(&mut holder)
        .await
        .unwrap();
    let store = pg.store.clone();
    let writer = tokio::spawn(async move {
        crate::store::register(
            store.as_ref(),
            "acc_conflict",
            crate::store::citizen("001090012345", &[]),
        )
        .await
    });
    // Wait until the store's transaction is blocked on the head row.
    let mut watcher = pg.connect().await;
    let mut waited = 0;
    loop {
        let blocked: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM pg_stat_activity \
             WHERE datname = current_database() AND wait_event_type = 'Lock'",
        )
        .fetch_one(&mut watcher)
        .await
        .unwrap();
        if blocked > 0 {
            break;
        }
        waited += 1;
        assert!(
            waited < 2000,
            "the store's transaction never reached the head row"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    assert_eq!(pg.store.conflicts(), 0);
    sqlx::raw_sql("COMMIT").execute(&mut holder).await.unwrap();
    writer.await.unwrap().expect("the retried write succeeds");
    assert!(
        pg.store.conflicts() >= 1,
        "the first attempt must have failed with 40001 and been retried"
    );
    assert_eq!(
        verify_audit_chain(pg.store.as_ref(), None, AUDIT_PAGE)
            .await
            .unwrap()
            .seq,
        1
    );
    let accounts: i64 = sqlx::query_scalar("SELECT count(*) FROM accounts")
        .fetch_one(&mut watcher)
        .await
        .unwrap();
    assert_eq!(accounts, 1, "one account, not one per attempt");
}

/// Many registrations at once at SERIALIZABLE all succeed and form one chain, whatever
/// number of conflicts they met on the way.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_registrations_at_serializable_all_commit_into_one_chain() {
    let pg = Pg::with(options(Isolation::Serializable, true), false).await;
    let store: Arc<dyn Store> = pg.store.clone();
    let results = crate::common::at_once(40, |i| {
        let store = store.clone();
        async move {
            crate::store::register(
                store.as_ref(),
                &format!("acc_{i}"),
                crate::store::citizen(&format!("0010900{i:05}"), &[]),
            )
            .await
        }
    })
    .await;
    assert!(results.iter().all(Result::is_ok), "{results:?}");
    assert_eq!(
        verify_audit_chain(store.as_ref(), None, 7)
            .await
            .unwrap()
            .seq,
        40
    );
}

/// `serve` never migrates PostgreSQL: it refuses a database whose schema is behind, or
/// ahead of what this build knows.
#[tokio::test]
async fn an_unmigrated_database_is_refused_with_the_command_that_fixes_it() {
    let db = TestDatabase::create();
    let store = PostgresStore::open(&db.url, &options(Isolation::ReadCommitted, true)).unwrap();
    match store.ensure_schema().await {
        Err(e @ StoreError::SchemaOutdated { have: 0, .. }) => {
            assert!(e.to_string().contains("kyso-gateway migrate"), "{e}");
        }
        other => panic!("an empty database must be refused: {other:?}"),
    }
    store.migrate().await.unwrap();
    store.ensure_schema().await.unwrap();
    // A newer gateway migrated it further: this build refuses to serve rows it would
    // misread (an instance left behind through an upgrade, or a rollback).
    let newer = sqlx::PgPool::connect(&db.url).await.unwrap();
    sqlx::query(
        "INSERT INTO _sqlx_migrations (version, description, success, checksum, execution_time) \
         VALUES (9999, 'from a newer gateway', TRUE, '\\x00'::bytea, 0)",
    )
    .execute(&newer)
    .await
    .unwrap();
    match store.ensure_schema().await {
        Err(e @ StoreError::SchemaNewer { have: 9999, .. }) => {
            assert!(e.to_string().contains("newer than this gateway"), "{e}");
        }
        other => panic!("a newer schema must be refused: {other:?}"),
    }
}

/// `statement_timeout` bounds every statement: an account transaction stuck behind a lock
/// someone else holds fails with the database's cancellation (SQLSTATE 57014) instead of
/// waiting, and leaves nothing behind.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_statement_past_the_timeout_is_cancelled() {
    let pg = Pg::with(
        PostgresOptions {
            statement_timeout: Duration::from_millis(200),
            ..options(Isolation::ReadCommitted, true)
        },
        false,
    )
    .await;
    let mut holder = pg.connect().await;
    sqlx::raw_sql("BEGIN; UPDATE audit_head SET seq = seq WHERE id = 0")
        .execute(&mut holder)
        .await
        .unwrap();
    let store: Arc<dyn Store> = pg.store.clone();
    let stuck = crate::store::register(
        store.as_ref(),
        "acc_stuck",
        crate::store::citizen("001090012345", &[]),
    )
    .await;
    match stuck {
        Err(kyso_gateway::store::CreateAccountError::Store(StoreError::Database(
            sqlx::Error::Database(d),
        ))) => assert_eq!(d.code().as_deref(), Some("57014"), "{d}"),
        other => panic!("the statement must be cancelled: {other:?}"),
    }
    sqlx::raw_sql("ROLLBACK")
        .execute(&mut holder)
        .await
        .unwrap();
    let accounts: i64 = sqlx::query_scalar("SELECT count(*) FROM accounts")
        .fetch_one(&mut holder)
        .await
        .unwrap();
    assert_eq!(accounts, 0);
    assert_eq!(
        verify_audit_chain(pg.store.as_ref(), None, AUDIT_PAGE)
            .await
            .unwrap()
            .seq,
        0
    );
}

/// A database written before tickets and SIM sessions were stored by hash: the upgrade
/// hashes their ids (and the ticket's own record) and drops the tickets SIM outcomes
/// held, so what the browsers hold still works and nothing stored opens anything.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn bearer_ids_written_before_the_hashes_are_hashed_at_the_upgrade() {
    use kyso_gateway::domain::account::bearer_hash;
    let b = Pg::open().await;
    let store = b.store();
    crate::store::sim_rows_of_the_build_before_the_bearer_hashes(&b).await;
    // The SIM registration's ticket: its evidence names the session; and a name holding a
    // NUL (read by builds before such text was refused), which jsonb could not take.
    let mut subject = crate::store::citizen("001090012345", &[]);
    subject.full_name = "Nguyễn\u{0}An".into();
    let ticket = kyso_gateway::domain::Ticket {
        certificate: crate::store::certificate("fp-kept"),
        evidence: kyso_gateway::domain::Evidence {
            method: kyso_gateway::domain::registration::Method::Sim,
            challenge_id: "raw-done-id".into(),
            ..crate::store::evidence()
        },
        ..crate::store::ticket("raw-ticket-id", subject)
    };
    store.put_ticket(&ticket).await.unwrap();
    assert_eq!(crate::store::sim_rows_naming(&b, "raw-ticket-id").await, 1);
    b.raw("DELETE FROM _sqlx_migrations WHERE version >= 4")
        .await
        .unwrap();
    PostgresStore::open(&b.db.url, &options(Isolation::ReadCommitted, true))
        .unwrap()
        .migrate()
        .await
        .unwrap();
    for raw in [
        "raw-pending-id",
        "raw-done-id",
        "raw-ticket-id",
        "raw-login-id",
    ] {
        assert_eq!(crate::store::sim_rows_naming(&b, raw).await, 0, "{raw}");
        let tickets = b
            .raw(&format!(
                "UPDATE tickets SET expires_at = expires_at WHERE (id || payload) LIKE '%{raw}%'"
            ))
            .await
            .unwrap();
        assert_eq!(tickets, 0, "{raw}");
    }
    let pending = store
        .sim_session(&bearer_hash("raw-pending-id"))
        .await
        .unwrap()
        .expect("the pending session, by the hash of what its browser holds");
    assert_eq!(pending.id, bearer_hash("raw-pending-id"));
    let done = store
        .sim_session(&bearer_hash("raw-done-id"))
        .await
        .unwrap()
        .unwrap();
    assert!(matches!(done.outcome, Some(SimOutcome::Registered(_))));
    let kept = store
        .get_ticket(&bearer_hash("raw-ticket-id"))
        .await
        .unwrap()
        .expect("the ticket, by the hash of what its browser holds");
    assert_eq!(kept.id, bearer_hash("raw-ticket-id"));
    assert_eq!(kept.evidence.challenge_id, bearer_hash("raw-done-id"));
    assert_eq!(kept.subject.full_name, "Nguyễn\u{0}An");
    let login = store
        .sim_session(&bearer_hash("raw-login-id"))
        .await
        .unwrap()
        .unwrap();
    match login.outcome {
        Some(SimOutcome::LoggedIn(l)) => {
            assert_eq!(l.evidence.challenge_id, bearer_hash("raw-login-id"))
        }
        other => panic!("{other:?}"),
    }
}

/// The purge every instance runs each minute finds expired rows by index, not by reading
/// whole tables: with sequential scans priced out, no plan of it holds one.
#[tokio::test]
async fn every_purge_statement_finds_its_rows_by_index() {
    let db = TestDatabase::create();
    let store = PostgresStore::open(&db.url, &options(Isolation::ReadCommitted, true)).unwrap();
    store.migrate().await.unwrap();
    let pool = sqlx::PgPool::connect(&db.url).await.unwrap();
    for (sql, _) in PostgresStore::PURGES {
        let mut tx = pool.begin().await.unwrap();
        sqlx::query("SET LOCAL enable_seqscan = off")
            .execute(&mut *tx)
            .await
            .unwrap();
        let plan: Vec<String> = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
            "EXPLAIN {}",
            sql.replace("$1", "0").replace("$2", "1000")
        )))
        .fetch_all(&mut *tx)
        .await
        .unwrap();
        let plan = plan.join("\n");
        assert!(!plan.contains("Seq Scan"), "{sql}:\n{plan}");
    }
}
