//! Accounts, identifiers, certificates, login sessions and the audit log on PostgreSQL.
//!
//! An account is created in one transaction: the ticket is deleted (only one transaction
//! can), the account and all its identifiers inserted (the identifiers' primary key makes
//! a second account for any of them fail, whichever instance tries), the certificate
//! recorded, and the audit entry appended. The append locks the chain's head row
//! (`audit_head`) last, just before the commit, so transactions from every instance queue
//! on it for as short a time as possible and the chain stays one line.

use super::PostgresStore;
use crate::domain::{Account, AuditEntry, CertificateRecord, NewSession, SessionLogin};
use crate::store::records::encode_subject;
use crate::store::rows::{
    ChainedAudit, account_of, audit_row_of, bind_account, is_unique_violation, session_login_of, ts,
};
use crate::store::{AccountStore, AuditHead, AuditRow, CreateAccountError, StoreError};
use async_trait::async_trait;
use kyso_verify::identity::{Identifier, IdentifierKind};
use sqlx::{PgConnection, Row};
use time::OffsetDateTime;

/// The account columns, prefixed for the joins below.
const ACCOUNT: &str = "a.id, a.subject_json, a.email, a.phone, a.ial, a.created_at";

impl PostgresStore {
    /// The transaction of [`AccountStore::delete_session`], once: the session first, so
    /// a portal being noted under it meanwhile (the note locks the session's row) is
    /// either waited for and found by the second statement, or finds no session.
    async fn try_delete_session(
        &self,
        token_hash: &str,
    ) -> Result<Option<Vec<String>>, StoreError> {
        let mut tx = self.begin().await?;
        let ended = self
            .sql("DELETE FROM sessions WHERE token_hash = $1")
            .bind(token_hash.to_owned())
            .execute(&mut *tx)
            .await?
            .rows_affected();
        let portals = self
            .sql("DELETE FROM oidc_session_portals WHERE session_hash = $1 RETURNING client_id")
            .bind(token_hash.to_owned())
            .fetch_all(&mut *tx)
            .await?
            .iter()
            .map(|row| row.try_get(0))
            .collect::<Result<Vec<String>, _>>()?;
        tx.commit().await?;
        Ok((ended > 0).then_some(portals))
    }

    /// Inserts every identifier of `account` in one statement; `AccountExists` when any
    /// already belongs to an account.
    async fn insert_identifiers(
        &self,
        conn: &mut PgConnection,
        account: &Account,
    ) -> Result<(), CreateAccountError> {
        let identifiers = account.identifiers();
        let kinds: Vec<&str> = identifiers.iter().map(|i| i.kind.as_str()).collect();
        let values: Vec<&str> = identifiers.iter().map(|i| i.value.as_str()).collect();
        let inserted = self
            .sql(
                "INSERT INTO identifiers (kind, value, account_id, is_key) \
                 SELECT kind, value, $3, n = 1 \
                 FROM unnest($1::text[], $2::text[]) WITH ORDINALITY AS t(kind, value, n)",
            )
            .bind(kinds)
            .bind(values)
            .bind(account.id.as_str())
            .execute(conn)
            .await;
        match inserted {
            Ok(_) => Ok(()),
            Err(e) if is_unique_violation(&e) => Err(CreateAccountError::AccountExists),
            Err(e) => Err(StoreError::from(e).into()),
        }
    }

    /// The transaction of [`AccountStore::create_account`], once.
    async fn try_create_account(
        &self,
        ticket_id: &str,
        now: OffsetDateTime,
        account: &Account,
        certificate: &CertificateRecord,
        audit: &AuditEntry,
    ) -> Result<Account, CreateAccountError> {
        let mut tx = self.begin().await?;
        let used = self
            .sql("DELETE FROM tickets WHERE id = $1 AND expires_at > $2")
            .bind(ticket_id)
            .bind(ts(now))
            .execute(&mut *tx)
            .await
            .map_err(StoreError::from)?;
        if used.rows_affected() != 1 {
            return Err(CreateAccountError::TicketNotFound);
        }
        bind_account(
            self.sql(
                "INSERT INTO accounts (id, subject_type, identifier_kind, identifier_value, \
                 full_name, organization, email, phone, ial, created_at, subject_json) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
            ),
            account,
            encode_subject(&account.subject)?,
        )
        .execute(&mut *tx)
        .await
        .map_err(StoreError::from)?;
        self.insert_identifiers(&mut tx, account).await?;
        self.upsert_certificate(&mut tx, &account.id, certificate, now)
            .await?;
        self.append_audit(&mut tx, audit).await?;
        tx.commit().await.map_err(StoreError::from)?;
        Ok(account.clone())
    }

    /// The transaction of [`AccountStore::create_session`], once.
    async fn try_create_session(
        &self,
        session: &NewSession,
        certificate: &CertificateRecord,
        audit: &AuditEntry,
    ) -> Result<(), StoreError> {
        let mut tx = self.begin().await?;
        self.insert_session(&mut tx, session, certificate, audit)
            .await?;
        Ok(tx.commit().await?)
    }

    /// Opens a login session in `conn`'s transaction: its certificate noted, the session
    /// row, the audit entry.
    pub(super) async fn insert_session(
        &self,
        conn: &mut PgConnection,
        session: &NewSession,
        certificate: &CertificateRecord,
        audit: &AuditEntry,
    ) -> Result<(), StoreError> {
        self.upsert_certificate(&mut *conn, &session.account_id, certificate, audit.at)
            .await?;
        self.sql(
            "INSERT INTO sessions (token_hash, account_id, created_at, expires_at, method) \
             VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(&session.token_hash)
        .bind(&session.account_id)
        .bind(ts(session.proved_at))
        .bind(ts(session.expires_at))
        .bind(session.method.as_str())
        .execute(&mut *conn)
        .await?;
        self.append_audit(conn, audit).await
    }

    /// Appends `entry` after the chain's head, which it locks until the commit.
    async fn append_audit(
        &self,
        conn: &mut PgConnection,
        entry: &AuditEntry,
    ) -> Result<(), StoreError> {
        let head = self
            .sql("SELECT seq, hash FROM audit_head WHERE id = 0 FOR UPDATE")
            .fetch_one(&mut *conn)
            .await?;
        let row = ChainedAudit::after(head.try_get(0)?, head.try_get(1)?, entry);
        let (seq, hash) = (row.seq, row.hash.clone());
        row.bind(self.sql(
            "INSERT INTO audit_log (seq, at, event, account_id, details, prev_hash, hash) \
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
        ))
        .execute(&mut *conn)
        .await?;
        self.sql("UPDATE audit_head SET seq = $1, hash = $2 WHERE id = 0")
            .bind(seq)
            .bind(hash)
            .execute(conn)
            .await?;
        Ok(())
    }

    async fn upsert_certificate(
        &self,
        conn: &mut PgConnection,
        account_id: &str,
        c: &CertificateRecord,
        now: OffsetDateTime,
    ) -> Result<(), StoreError> {
        self.sql(
            "INSERT INTO certificates \
             (fingerprint, account_id, issuer, serial, not_after, first_used, last_used) \
             VALUES ($1, $2, $3, $4, $5, $6, $6) \
             ON CONFLICT (fingerprint) DO UPDATE SET last_used = excluded.last_used",
        )
        .bind(c.fingerprint.as_str())
        .bind(account_id)
        .bind(c.issuer.as_str())
        .bind(c.serial.as_str())
        .bind(ts(c.not_after))
        .bind(ts(now))
        .execute(conn)
        .await?;
        Ok(())
    }
}

#[async_trait]
impl AccountStore for PostgresStore {
    async fn account(&self, id: &str) -> Result<Option<Account>, StoreError> {
        let row = self
            .read_one(|| {
                self.sql(
                    "SELECT id, subject_json, email, phone, ial, created_at \
                     FROM accounts WHERE id = $1",
                )
                .bind(id.to_owned())
            })
            .await?;
        row.map(|r| account_of(&r)).transpose()
    }

    async fn find_account(
        &self,
        identifiers: &[Identifier],
    ) -> Result<Option<Account>, StoreError> {
        let kinds: Vec<String> = identifiers.iter().map(|i| i.kind.as_str().into()).collect();
        let values: Vec<String> = identifiers.iter().map(|i| i.value.clone()).collect();
        let sql = format!(
            "SELECT {ACCOUNT} FROM unnest($1::text[], $2::text[]) WITH ORDINALITY AS q(kind, value, n) \
             JOIN identifiers i ON i.kind = q.kind AND i.value = q.value \
             JOIN accounts a ON a.id = i.account_id ORDER BY q.n LIMIT 1"
        );
        let row = self
            .read_one(|| {
                sqlx::query(sqlx::AssertSqlSafe(sql.clone()))
                    .persistent(self.prepared)
                    .bind(kinds.clone())
                    .bind(values.clone())
            })
            .await?;
        row.map(|r| account_of(&r)).transpose()
    }

    async fn create_account(
        &self,
        ticket_id: &str,
        now: OffsetDateTime,
        account: &Account,
        certificate: &CertificateRecord,
        audit: &AuditEntry,
    ) -> Result<Account, CreateAccountError> {
        let _turn = self.chain_turn().await;
        retrying!(
            self,
            self.try_create_account(ticket_id, now, account, certificate, audit)
        )
    }

    async fn create_session(
        &self,
        session: &NewSession,
        certificate: &CertificateRecord,
        audit: &AuditEntry,
    ) -> Result<(), StoreError> {
        let _turn = self.chain_turn().await;
        retrying!(self, self.try_create_session(session, certificate, audit))
    }

    async fn session_login(
        &self,
        token_hash: &str,
        now: OffsetDateTime,
    ) -> Result<Option<SessionLogin>, StoreError> {
        let sql = format!(
            "SELECT {ACCOUNT}, s.created_at AS auth_time, s.method \
             FROM sessions s JOIN accounts a ON a.id = s.account_id \
             WHERE s.token_hash = $1 AND s.expires_at > $2"
        );
        let row = self
            .read_one(|| {
                sqlx::query(sqlx::AssertSqlSafe(sql.clone()))
                    .persistent(self.prepared)
                    .bind(token_hash.to_owned())
                    .bind(ts(now))
            })
            .await?;
        row.map(|r| session_login_of(account_of(&r)?, &r))
            .transpose()
    }

    async fn delete_session(&self, token_hash: &str) -> Result<Option<Vec<String>>, StoreError> {
        retrying!(self, self.try_delete_session(token_hash))
    }

    async fn add_aliases(
        &self,
        account_id: &str,
        identifiers: &[Identifier],
    ) -> Result<bool, StoreError> {
        let cccds: Vec<String> = identifiers
            .iter()
            .filter(|i| i.kind == IdentifierKind::Cccd)
            .map(|i| i.value.clone())
            .collect();
        if !cccds.is_empty() {
            let other = self
                .read_one(|| {
                    self.sql(
                        "SELECT 1 FROM identifiers WHERE account_id = $1 AND kind = 'CCCD' \
                         AND NOT (value = ANY($2::text[]))",
                    )
                    .bind(account_id.to_owned())
                    .bind(cccds.clone())
                })
                .await?;
            if other.is_some() {
                return Ok(false);
            }
        }
        let kinds: Vec<String> = identifiers.iter().map(|i| i.kind.as_str().into()).collect();
        let values: Vec<String> = identifiers.iter().map(|i| i.value.clone()).collect();
        let inserted = self
            .write(|| {
                // One statement: a second CCCD another login recorded since the look
                // above breaks `0008_one_cccd_per_account.sql`'s index, and none of the
                // rows is kept.
                self.sql(
                    "INSERT INTO identifiers (kind, value, account_id, is_key) \
                     SELECT kind, value, $3, false FROM unnest($1::text[], $2::text[]) AS t(kind, value) \
                     ON CONFLICT (kind, value) DO NOTHING",
                )
                .bind(kinds.clone())
                .bind(values.clone())
                .bind(account_id.to_owned())
            })
            .await;
        match inserted {
            Ok(_) => Ok(true),
            Err(StoreError::Database(e)) if is_unique_violation(&e) => Ok(false),
            Err(e) => Err(e),
        }
    }

    async fn audit_head(&self) -> Result<Option<AuditHead>, StoreError> {
        let head = self
            .read_one(|| self.sql("SELECT seq, hash FROM audit_head WHERE id = 0"))
            .await?;
        Ok(match head {
            Some(row) => Some(AuditHead {
                seq: row.try_get(0)?,
                hash: row.try_get(1)?,
            }),
            None => None,
        })
    }

    async fn audit_rows(
        &self,
        after_seq: i64,
        since: Option<OffsetDateTime>,
        limit: usize,
    ) -> Result<Vec<AuditRow>, StoreError> {
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        self.read(|| {
            self.sql(
                "SELECT seq, at, event, account_id, details, prev_hash, hash \
                 FROM audit_log WHERE seq > $1 AND at >= $2 ORDER BY seq LIMIT $3",
            )
            .bind(after_seq)
            .bind(since.map_or(i64::MIN, ts))
            .bind(limit)
        })
        .await?
        .iter()
        .map(audit_row_of)
        .collect()
    }
}
