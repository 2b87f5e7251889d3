//! The embedded default store: one SQLite file in WAL mode.
//!
//! All writes go through one writer connection, so concurrent requests queue in the pool
//! instead of colliding on SQLite's lock (whose busy handler sleeps for milliseconds);
//! reads use a separate pool. Writes that must be atomic run in `BEGIN IMMEDIATE`
//! transactions: two confirmations racing for one identity serialise, and the loser meets
//! the identifiers primary key.
//!
//! Durability is chosen per write. The database runs with `synchronous = NORMAL` (WAL):
//! every commit survives a process crash (`kill -9`). Account and session transactions
//! switch to `synchronous = FULL` around their commit, so an acknowledged account also
//! survives power loss; challenges and tickets, whose loss costs the person a retry, are
//! not fsynced one by one.

use super::{
    Account, AuditEntry, CertificateRecord, Challenge, CreateAccountError, Purpose, StartSimError,
    Store, StoreError, Ticket, audit_hash,
};
use crate::sim::session::{SimOutcome, SimResult, SimSession};
use async_trait::async_trait;
use kyso_verify::identity::{Identifier, Subject};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{Connection, Row, SqlitePool, Transaction};
use std::str::FromStr;
use std::time::Duration;
use time::OffsetDateTime;

/// SQLite implementation of [`Store`].
#[derive(Debug, Clone)]
pub struct SqliteStore {
    /// Readers.
    pub(super) pool: SqlitePool,
    /// The one writer connection.
    pub(super) writer: SqlitePool,
}

pub(super) fn err(e: impl std::fmt::Display) -> StoreError {
    StoreError(e.to_string())
}

pub(super) fn is_unique_violation(e: &sqlx::Error) -> bool {
    matches!(e, sqlx::Error::Database(d) if d.is_unique_violation())
}

pub(super) fn ts(t: OffsetDateTime) -> i64 {
    t.unix_timestamp()
}

pub(super) fn from_ts(s: i64) -> Result<OffsetDateTime, StoreError> {
    OffsetDateTime::from_unix_timestamp(s).map_err(err)
}

impl SqliteStore {
    /// Opens (creating if missing) the database at `url` (`sqlite://path` or
    /// `sqlite::memory:`), with at most `max_connections` connections.
    pub async fn open(url: &str, max_connections: u32) -> Result<Self, StoreError> {
        let options = SqliteConnectOptions::from_str(url)
            .map_err(err)?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .foreign_keys(true)
            .busy_timeout(Duration::from_secs(10));
        let writer = SqlitePoolOptions::new()
            .max_connections(1)
            .connect_with(options.clone())
            .await
            .map_err(err)?;
        let pool = SqlitePoolOptions::new()
            .max_connections(max_connections.max(1))
            .connect_with(options)
            .await
            .map_err(err)?;
        Ok(Self { pool, writer })
    }

    /// Sets the writer connection's `synchronous` level: FULL around account and session
    /// commits, NORMAL otherwise.
    async fn set_synchronous(
        conn: &mut sqlx::SqliteConnection,
        level: &'static str,
    ) -> Result<(), StoreError> {
        let sql = if level == "FULL" {
            "PRAGMA synchronous = FULL"
        } else {
            "PRAGMA synchronous = NORMAL"
        };
        sqlx::query(sql)
            .execute(conn)
            .await
            .map(|_| ())
            .map_err(err)
    }

    /// The account transaction of [`Store::create_account`], on the writer connection.
    async fn insert_account(
        conn: &mut sqlx::SqliteConnection,
        ticket_id: &str,
        now: OffsetDateTime,
        account: &Account,
        certificate: &CertificateRecord,
        audit: &AuditEntry,
    ) -> Result<Account, CreateAccountError> {
        let mut tx = conn.begin_with("BEGIN IMMEDIATE").await.map_err(err)?;
        let used = sqlx::query("DELETE FROM tickets WHERE id = ? AND expires_at > ?")
            .bind(ticket_id)
            .bind(ts(now))
            .execute(&mut *tx)
            .await
            .map_err(err)?;
        if used.rows_affected() != 1 {
            return Err(CreateAccountError::TicketNotFound);
        }
        let s = &account.subject;
        sqlx::query(
            "INSERT INTO accounts (id, subject_type, identifier_kind, identifier_value, full_name, organization, \
             email, phone, ial, created_at, subject_json) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(&account.id)
        .bind(serde_json::to_value(s.subject_type).map_err(err)?.as_str().unwrap_or_default().to_owned())
        .bind(s.identifier.kind.as_str())
        .bind(&s.identifier.value)
        .bind(&s.full_name)
        .bind(s.organization.as_deref())
        .bind(account.email.as_deref())
        .bind(account.phone.as_deref())
        .bind(i64::from(account.ial))
        .bind(ts(account.created_at))
        .bind(serde_json::to_string(s).map_err(err)?)
        .execute(&mut *tx)
        .await
        .map_err(err)?;
        for (id, is_key) in
            std::iter::once((&s.identifier, true)).chain(s.aliases.iter().map(|a| (a, false)))
        {
            let inserted = sqlx::query(
                "INSERT INTO identifiers (kind, value, account_id, is_key) VALUES (?, ?, ?, ?)",
            )
            .bind(id.kind.as_str())
            .bind(&id.value)
            .bind(&account.id)
            .bind(is_key)
            .execute(&mut *tx)
            .await;
            match inserted {
                Ok(_) => {}
                Err(e) if is_unique_violation(&e) => return Err(CreateAccountError::AccountExists),
                Err(e) => return Err(err(e).into()),
            }
        }
        upsert_certificate(&mut tx, &account.id, certificate, now).await?;
        Self::append_audit(&mut tx, audit).await?;
        tx.commit().await.map_err(err)?;
        Ok(account.clone())
    }

    /// The session transaction of [`Store::create_session`], on the writer connection.
    async fn insert_session(
        conn: &mut sqlx::SqliteConnection,
        token_hash: &str,
        account_id: &str,
        expires_at: OffsetDateTime,
        certificate: &CertificateRecord,
        audit: &AuditEntry,
    ) -> Result<(), StoreError> {
        let mut tx = conn.begin_with("BEGIN IMMEDIATE").await.map_err(err)?;
        upsert_certificate(&mut tx, account_id, certificate, audit.at).await?;
        sqlx::query("INSERT INTO sessions (token_hash, account_id, created_at, expires_at) VALUES (?, ?, ?, ?)")
            .bind(token_hash)
            .bind(account_id)
            .bind(ts(audit.at))
            .bind(ts(expires_at))
            .execute(&mut *tx)
            .await
            .map_err(err)?;
        Self::append_audit(&mut tx, audit).await?;
        tx.commit().await.map_err(err)
    }

    async fn append_audit(
        tx: &mut Transaction<'_, sqlx::Sqlite>,
        entry: &AuditEntry,
    ) -> Result<(), StoreError> {
        let last = sqlx::query("SELECT seq, hash FROM audit_log ORDER BY seq DESC LIMIT 1")
            .fetch_optional(&mut **tx)
            .await
            .map_err(err)?;
        let (seq, prev) = match last {
            Some(row) => (
                row.try_get::<i64, _>(0).map_err(err)? + 1,
                row.try_get::<String, _>(1).map_err(err)?,
            ),
            None => (1, String::new()),
        };
        let details = entry.details.to_string();
        let at = ts(entry.at);
        let hash = audit_hash(
            &prev,
            seq,
            at,
            entry.event,
            entry.account_id.as_deref(),
            &details,
        );
        sqlx::query("INSERT INTO audit_log (seq, at, event, account_id, details, prev_hash, hash) VALUES (?, ?, ?, ?, ?, ?, ?)")
            .bind(seq)
            .bind(at)
            .bind(entry.event)
            .bind(entry.account_id.as_deref())
            .bind(details)
            .bind(prev)
            .bind(hash)
            .execute(&mut **tx)
            .await
            .map_err(err)?;
        Ok(())
    }

    async fn account_by_id(&self, id: &str) -> Result<Option<Account>, StoreError> {
        let row = sqlx::query(
            "SELECT id, subject_json, email, phone, ial, created_at FROM accounts WHERE id = ?",
        )
        .bind(id)
        .fetch_optional(&self.pool)
        .await
        .map_err(err)?;
        row.map(|r| account_from_row(&r)).transpose()
    }
}

fn account_from_row(r: &sqlx::sqlite::SqliteRow) -> Result<Account, StoreError> {
    let subject_json: String = r.try_get("subject_json").map_err(err)?;
    let subject: Subject = serde_json::from_str(&subject_json).map_err(err)?;
    Ok(Account {
        id: r.try_get("id").map_err(err)?,
        subject,
        email: r.try_get("email").map_err(err)?,
        phone: r.try_get("phone").map_err(err)?,
        ial: u8::try_from(r.try_get::<i64, _>("ial").map_err(err)?).map_err(err)?,
        created_at: from_ts(r.try_get("created_at").map_err(err)?)?,
    })
}

#[async_trait]
impl Store for SqliteStore {
    async fn migrate(&self) -> Result<(), StoreError> {
        sqlx::migrate!("./migrations/sqlite")
            .run(&self.writer)
            .await
            .map_err(err)
    }

    async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query("SELECT 1")
            .execute(&self.pool)
            .await
            .map(|_| ())
            .map_err(err)
    }

    async fn put_challenge(&self, c: &Challenge) -> Result<(), StoreError> {
        sqlx::query("INSERT INTO challenges (id, nonce, purpose, origin, expires_at) VALUES (?, ?, ?, ?, ?)")
            .bind(&c.id)
            .bind(&c.nonce)
            .bind(c.purpose.as_str())
            .bind(&c.origin)
            .bind(ts(c.expires_at))
            .execute(&self.writer)
            .await
            .map(|_| ())
            .map_err(err)
    }

    async fn take_challenge(&self, id: &str) -> Result<Option<Challenge>, StoreError> {
        let row = sqlx::query(
            "DELETE FROM challenges WHERE id = ? RETURNING nonce, purpose, origin, expires_at",
        )
        .bind(id)
        .fetch_optional(&self.writer)
        .await
        .map_err(err)?;
        let Some(row) = row else { return Ok(None) };
        let purpose = match row.try_get::<String, _>("purpose").map_err(err)?.as_str() {
            "register" => Purpose::Register,
            "login" => Purpose::Login,
            other => return Err(StoreError(format!("unknown purpose {other:?}"))),
        };
        Ok(Some(Challenge {
            id: id.to_owned(),
            nonce: row.try_get("nonce").map_err(err)?,
            purpose,
            origin: row.try_get("origin").map_err(err)?,
            expires_at: from_ts(row.try_get("expires_at").map_err(err)?)?,
        }))
    }

    async fn put_ticket(&self, t: &Ticket) -> Result<(), StoreError> {
        sqlx::query("INSERT INTO tickets (id, expires_at, payload) VALUES (?, ?, ?)")
            .bind(&t.id)
            .bind(ts(t.expires_at))
            .bind(serde_json::to_string(t).map_err(err)?)
            .execute(&self.writer)
            .await
            .map(|_| ())
            .map_err(err)
    }

    async fn get_ticket(&self, id: &str) -> Result<Option<Ticket>, StoreError> {
        let row = sqlx::query("SELECT payload FROM tickets WHERE id = ?")
            .bind(id)
            .fetch_optional(&self.pool)
            .await
            .map_err(err)?;
        row.map(|r| serde_json::from_str(&r.try_get::<String, _>(0).map_err(err)?).map_err(err))
            .transpose()
    }

    async fn account(&self, id: &str) -> Result<Option<Account>, StoreError> {
        self.account_by_id(id).await
    }

    async fn find_account(
        &self,
        identifiers: &[Identifier],
    ) -> Result<Option<Account>, StoreError> {
        for id in identifiers {
            let row =
                sqlx::query("SELECT account_id FROM identifiers WHERE kind = ? AND value = ?")
                    .bind(id.kind.as_str())
                    .bind(&id.value)
                    .fetch_optional(&self.pool)
                    .await
                    .map_err(err)?;
            if let Some(row) = row {
                let account_id: String = row.try_get(0).map_err(err)?;
                return self.account_by_id(&account_id).await;
            }
        }
        Ok(None)
    }

    async fn create_account(
        &self,
        ticket_id: &str,
        now: OffsetDateTime,
        account: &Account,
        certificate: &CertificateRecord,
        audit: &AuditEntry,
    ) -> Result<Account, CreateAccountError> {
        let mut conn = self.writer.acquire().await.map_err(err)?;
        Self::set_synchronous(&mut conn, "FULL").await?;
        let created =
            Self::insert_account(&mut conn, ticket_id, now, account, certificate, audit).await;
        // Best effort: the write is done; a connection left at FULL is only slower.
        if let Err(e) = Self::set_synchronous(&mut conn, "NORMAL").await {
            tracing::warn!(error = %e, "could not restore synchronous = NORMAL");
        }
        created
    }

    async fn create_session(
        &self,
        token_hash: &str,
        account_id: &str,
        expires_at: OffsetDateTime,
        certificate: &CertificateRecord,
        audit: &AuditEntry,
    ) -> Result<(), StoreError> {
        let mut conn = self.writer.acquire().await.map_err(err)?;
        Self::set_synchronous(&mut conn, "FULL").await?;
        let created = Self::insert_session(
            &mut conn,
            token_hash,
            account_id,
            expires_at,
            certificate,
            audit,
        )
        .await;
        // Best effort: the write is done; a connection left at FULL is only slower.
        if let Err(e) = Self::set_synchronous(&mut conn, "NORMAL").await {
            tracing::warn!(error = %e, "could not restore synchronous = NORMAL");
        }
        created
    }
    async fn session_account(
        &self,
        token_hash: &str,
        now: OffsetDateTime,
    ) -> Result<Option<Account>, StoreError> {
        let row =
            sqlx::query("SELECT account_id FROM sessions WHERE token_hash = ? AND expires_at > ?")
                .bind(token_hash)
                .bind(ts(now))
                .fetch_optional(&self.pool)
                .await
                .map_err(err)?;
        match row {
            Some(r) => {
                self.account_by_id(&r.try_get::<String, _>(0).map_err(err)?)
                    .await
            }
            None => Ok(None),
        }
    }

    async fn purge_expired(&self, now: OffsetDateTime) -> Result<u64, StoreError> {
        let mut n = 0;
        for sql in [
            "DELETE FROM challenges WHERE expires_at <= ?",
            "DELETE FROM tickets WHERE expires_at <= ?",
            "DELETE FROM sessions WHERE expires_at <= ?",
        ] {
            n += sqlx::query(sql)
                .bind(ts(now))
                .execute(&self.writer)
                .await
                .map_err(err)?
                .rows_affected();
        }
        Ok(n + self.sim_purge(now).await?)
    }

    async fn verify_audit_chain(&self) -> Result<u64, StoreError> {
        let rows = sqlx::query("SELECT seq, at, event, account_id, details, prev_hash, hash FROM audit_log ORDER BY seq")
            .fetch_all(&self.pool)
            .await
            .map_err(err)?;
        let mut prev = String::new();
        for r in &rows {
            let seq: i64 = r.try_get(0).map_err(err)?;
            let account: Option<String> = r.try_get(3).map_err(err)?;
            let stored_prev: String = r.try_get(5).map_err(err)?;
            let hash: String = r.try_get(6).map_err(err)?;
            let want = audit_hash(
                &prev,
                seq,
                r.try_get(1).map_err(err)?,
                &r.try_get::<String, _>(2).map_err(err)?,
                account.as_deref(),
                &r.try_get::<String, _>(4).map_err(err)?,
            );
            if stored_prev != prev || hash != want {
                return Err(StoreError(format!("audit chain broken at row {seq}")));
            }
            prev = hash;
        }
        Ok(rows.len() as u64)
    }

    async fn start_sim_session(
        &self,
        session: &SimSession,
        now: OffsetDateTime,
    ) -> Result<(), StartSimError> {
        self.sim_start(session, now).await
    }

    async fn set_mssp_trans_id(&self, id: &str, mssp_trans_id: &str) -> Result<(), StoreError> {
        self.sim_set_trans_id(id, mssp_trans_id).await
    }

    async fn complete_sim_session(
        &self,
        id: &str,
        result: SimResult,
        outcome: Option<&SimOutcome>,
        ticket: Option<&Ticket>,
        now: OffsetDateTime,
    ) -> Result<bool, StoreError> {
        self.sim_complete(id, result, outcome, ticket, now).await
    }

    async fn sim_session(&self, id: &str) -> Result<Option<SimSession>, StoreError> {
        self.sim_get(id).await
    }

    async fn pending_sim_sessions(&self) -> Result<Vec<SimSession>, StoreError> {
        self.sim_pending().await
    }

    async fn sim_sessions_started_since(
        &self,
        msisdn: &str,
        since: OffsetDateTime,
    ) -> Result<u64, StoreError> {
        self.sim_started_since(msisdn, since).await
    }

    async fn claim_sim_login(&self, id: &str, now: OffsetDateTime) -> Result<bool, StoreError> {
        self.sim_claim_login(id, now).await
    }
}

async fn upsert_certificate(
    tx: &mut Transaction<'_, sqlx::Sqlite>,
    account_id: &str,
    c: &CertificateRecord,
    now: OffsetDateTime,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO certificates (fingerprint, account_id, issuer, serial, not_after, first_used, last_used) \
         VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (fingerprint) DO UPDATE SET last_used = excluded.last_used",
    )
    .bind(&c.fingerprint)
    .bind(account_id)
    .bind(&c.issuer)
    .bind(&c.serial)
    .bind(ts(c.not_after))
    .bind(ts(now))
    .bind(ts(now))
    .execute(&mut **tx)
    .await
    .map(|_| ())
    .map_err(err)
}
