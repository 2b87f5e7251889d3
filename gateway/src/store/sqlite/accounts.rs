//! Accounts, identifiers, certificates, login sessions and the audit log on SQLite.
//!
//! Account and session transactions are jobs of the group commit
//! ([`super::group_commit`]): each runs in a savepoint of its group's `BEGIN IMMEDIATE`
//! transaction, which is committed with `synchronous = FULL` before it is answered.

use super::SqliteStore;
use crate::domain::{Account, AuditEntry, CertificateRecord, NewSession, SessionLogin};
use crate::store::records::encode_subject;
use crate::store::rows::{
    ACCOUNT_COLUMNS, AUDIT_COLUMNS, ChainedAudit, account_of, audit_row_of, bind_account,
    is_unique_violation, session_login_of, ts, verify_audit_rows,
};
use crate::store::{AccountStore, AuditRow, CreateAccountError, StoreError};
use async_trait::async_trait;
use kyso_verify::identity::Identifier;
use sqlx::{Connection, Row, SqliteConnection, Transaction};
use time::OffsetDateTime;

impl SqliteStore {
    async fn account_by_id(&self, id: &str) -> Result<Option<Account>, StoreError> {
        let sql = format!("SELECT {ACCOUNT_COLUMNS} FROM accounts WHERE id = ?");
        let row = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(id)
            .fetch_optional(&self.pool)
            .await?;
        row.map(|r| account_of(&r)).transpose()
    }
}

/// The account transaction of [`AccountStore::create_account`], a savepoint of its
/// group's transaction (which holds the write lock, `BEGIN IMMEDIATE`).
async fn insert_account(
    conn: &mut SqliteConnection,
    ticket_id: &str,
    now: OffsetDateTime,
    account: &Account,
    certificate: &CertificateRecord,
    audit: &AuditEntry,
) -> Result<Account, CreateAccountError> {
    let mut tx = conn.begin().await.map_err(StoreError::from)?;
    let used = sqlx::query("DELETE FROM tickets WHERE id = ? AND expires_at > ?")
        .bind(ticket_id)
        .bind(ts(now))
        .execute(&mut *tx)
        .await
        .map_err(StoreError::from)?;
    if used.rows_affected() != 1 {
        return Err(CreateAccountError::TicketNotFound);
    }
    let s = &account.subject;
    bind_account(
        sqlx::query(
            "INSERT INTO accounts (id, subject_type, identifier_kind, identifier_value, full_name, \
             organization, email, phone, ial, created_at, subject_json) \
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        ),
        account,
        encode_subject(s)?,
    )
    .execute(&mut *tx)
    .await
    .map_err(StoreError::from)?;
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
            Err(e) => return Err(StoreError::from(e).into()),
        }
    }
    upsert_certificate(&mut tx, &account.id, certificate, now).await?;
    append_audit(&mut tx, audit).await?;
    tx.commit().await.map_err(StoreError::from)?;
    Ok(account.clone())
}

/// The session transaction of [`AccountStore::create_session`], a savepoint of its
/// group's transaction.
async fn insert_session(
    conn: &mut SqliteConnection,
    session: &NewSession,
    certificate: &CertificateRecord,
    audit: &AuditEntry,
) -> Result<(), StoreError> {
    let mut tx = conn.begin().await?;
    upsert_certificate(&mut tx, &session.account_id, certificate, audit.at).await?;
    sqlx::query(
        "INSERT INTO sessions (token_hash, account_id, created_at, expires_at, method) \
         VALUES (?, ?, ?, ?, ?)",
    )
    .bind(&session.token_hash)
    .bind(&session.account_id)
    .bind(ts(audit.at))
    .bind(ts(session.expires_at))
    .bind(session.method.as_str())
    .execute(&mut *tx)
    .await?;
    append_audit(&mut tx, audit).await?;
    Ok(tx.commit().await?)
}

/// Appends `entry` after the last row, linking it by hash. The group's `BEGIN IMMEDIATE`
/// transaction on the one writer connection makes the read of the last row and the
/// insert one step.
async fn append_audit(
    tx: &mut Transaction<'_, sqlx::Sqlite>,
    entry: &AuditEntry,
) -> Result<(), StoreError> {
    let last = sqlx::query("SELECT seq, hash FROM audit_log ORDER BY seq DESC LIMIT 1")
        .fetch_optional(&mut **tx)
        .await?;
    let (prev_seq, prev_hash) = match last {
        Some(row) => (row.try_get::<i64, _>(0)?, row.try_get::<String, _>(1)?),
        None => (0, String::new()),
    };
    ChainedAudit::after(prev_seq, prev_hash, entry)
        .bind(sqlx::query(
            "INSERT INTO audit_log (seq, at, event, account_id, details, prev_hash, hash) \
             VALUES (?, ?, ?, ?, ?, ?, ?)",
        ))
        .execute(&mut **tx)
        .await?;
    Ok(())
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
    .await?;
    Ok(())
}

#[async_trait]
impl AccountStore for SqliteStore {
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
                    .await?;
            if let Some(row) = row {
                return self.account_by_id(&row.try_get::<String, _>(0)?).await;
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
        let (ticket_id, account, certificate, audit) = (
            ticket_id.to_owned(),
            account.clone(),
            certificate.clone(),
            audit.clone(),
        );
        self.durable
            .submit(move |conn| {
                Box::pin(async move {
                    insert_account(conn, &ticket_id, now, &account, &certificate, &audit).await
                })
            })
            .await
    }

    async fn create_session(
        &self,
        session: &NewSession,
        certificate: &CertificateRecord,
        audit: &AuditEntry,
    ) -> Result<(), StoreError> {
        let (session, certificate, audit) = (session.clone(), certificate.clone(), audit.clone());
        self.durable
            .submit(move |conn| {
                Box::pin(async move { insert_session(conn, &session, &certificate, &audit).await })
            })
            .await
    }

    async fn session_login(
        &self,
        token_hash: &str,
        now: OffsetDateTime,
    ) -> Result<Option<SessionLogin>, StoreError> {
        let row = sqlx::query(
            "SELECT account_id, created_at AS auth_time, method FROM sessions \
             WHERE token_hash = ? AND expires_at > ?",
        )
        .bind(token_hash)
        .bind(ts(now))
        .fetch_optional(&self.pool)
        .await?;
        let Some(row) = row else {
            return Ok(None);
        };
        let account = self.account_by_id(&row.try_get::<String, _>(0)?).await?;
        account
            .map(|account| session_login_of(account, &row))
            .transpose()
    }

    async fn delete_session(&self, token_hash: &str) -> Result<bool, StoreError> {
        let done = sqlx::query("DELETE FROM sessions WHERE token_hash = ?")
            .bind(token_hash)
            .execute(&self.writer)
            .await?;
        Ok(done.rows_affected() > 0)
    }

    async fn verify_audit_chain(&self) -> Result<u64, StoreError> {
        let sql = format!("SELECT {AUDIT_COLUMNS} FROM audit_log ORDER BY seq");
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .fetch_all(&self.pool)
            .await?;
        verify_audit_rows(&rows)
    }

    async fn audit_rows(&self, since: Option<OffsetDateTime>) -> Result<Vec<AuditRow>, StoreError> {
        let sql = format!("SELECT {AUDIT_COLUMNS} FROM audit_log WHERE at >= ? ORDER BY seq");
        sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(since.map_or(i64::MIN, ts))
            .fetch_all(&self.pool)
            .await?
            .iter()
            .map(audit_row_of)
            .collect()
    }
}
