//! Accounts, identifiers, certificates, login sessions and the audit log on SQLite.
//!
//! Account and session writes are jobs of the writer ([`super::writer`]) that must survive
//! power loss: each runs in a savepoint of its group's `BEGIN IMMEDIATE` transaction,
//! which is committed with `synchronous = FULL` before it is answered.

use super::SqliteStore;
use super::readers::{all, one};
use super::writer::{Durability, is_unique_violation};
use crate::domain::{Account, AuditEntry, CertificateRecord, NewSession, SessionLogin};
use crate::store::records::encode_subject;
use crate::store::rows::{
    ACCOUNT_COLUMNS, AUDIT_COLUMNS, ChainedAudit, account_of, account_values, audit_row_of,
    session_login_of, ts,
};
use crate::store::{AccountStore, AuditHead, AuditRow, CreateAccountError, StoreError};
use async_trait::async_trait;
use kyso_verify::identity::{Identifier, IdentifierKind};
use rusqlite::Connection;
use std::sync::LazyLock;
use time::OffsetDateTime;

/// Reads an account by id.
static ACCOUNT_BY_ID: LazyLock<String> =
    LazyLock::new(|| format!("SELECT {ACCOUNT_COLUMNS} FROM accounts WHERE id = ?1"));

/// Reads a page of audit rows after a row, from a time on, in chain order.
static AUDIT_PAGE_AFTER: LazyLock<String> = LazyLock::new(|| {
    format!(
        "SELECT {AUDIT_COLUMNS} FROM audit_log WHERE seq > ?1 AND at >= ?2 ORDER BY seq LIMIT ?3"
    )
});

/// The account `id`, on a read connection.
fn account_by_id(conn: &Connection, id: &str) -> Result<Option<Account>, StoreError> {
    one(conn, &ACCOUNT_BY_ID, [id], |row| account_of(row))
}

/// The account write of [`AccountStore::create_account`], run by the writer in a
/// savepoint of its group's `BEGIN IMMEDIATE` transaction.
fn insert_account(
    conn: &Connection,
    now: OffsetDateTime,
    account: &Account,
    certificate: &CertificateRecord,
    audit: &AuditEntry,
) -> Result<Account, CreateAccountError> {
    let s = &account.subject;
    let subject_json = encode_subject(s)?;
    conn.prepare_cached(
        "INSERT INTO accounts (id, subject_type, identifier_kind, identifier_value, full_name, \
         organization, email, phone, ial, created_at, subject_json) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
    )
    .and_then(|mut q| q.execute(account_values(account, subject_json)))
    .map_err(StoreError::from)?;
    let mut identifier = conn
        .prepare_cached(
            "INSERT INTO identifiers (kind, value, account_id, is_key) VALUES (?1, ?2, ?3, ?4)",
        )
        .map_err(StoreError::from)?;
    for (id, is_key) in
        std::iter::once((&s.identifier, true)).chain(s.aliases.iter().map(|a| (a, false)))
    {
        match identifier.execute((id.kind.as_str(), &id.value, &account.id, is_key)) {
            Ok(_) => {}
            Err(e) if is_unique_violation(&e) => return Err(CreateAccountError::AccountExists),
            Err(e) => return Err(StoreError::from(e).into()),
        }
    }
    upsert_certificate(conn, &account.id, certificate, now)?;
    append_audit(conn, audit)?;
    Ok(account.clone())
}

/// The session write of [`AccountStore::create_session`], run by the writer in a
/// savepoint of its group's transaction.
/// Opens a login session: its certificate noted, the session row, the audit entry.
pub(super) fn insert_session(
    conn: &Connection,
    session: &NewSession,
    certificate: &CertificateRecord,
    audit: &AuditEntry,
) -> Result<(), StoreError> {
    upsert_certificate(conn, &session.account_id, certificate, audit.at)?;
    conn.prepare_cached(
        "INSERT INTO sessions (token_hash, account_id, created_at, expires_at, method) \
         VALUES (?1, ?2, ?3, ?4, ?5)",
    )?
    .execute((
        &session.token_hash,
        &session.account_id,
        ts(session.proved_at),
        ts(session.expires_at),
        session.method.as_str(),
    ))?;
    append_audit(conn, audit)
}

/// Appends `entry` after the chain's head (`audit_head`), linking it by hash; the
/// database's trigger moves the head to it. The group's `BEGIN IMMEDIATE` transaction on
/// the one writer connection makes the read of the head and the insert one step.
fn append_audit(conn: &Connection, entry: &AuditEntry) -> Result<(), StoreError> {
    let (prev_seq, prev_hash) = conn
        .prepare_cached("SELECT seq, hash FROM audit_head WHERE id = 0")?
        .query_row([], |row| {
            Ok((row.get::<_, i64>(0)?, row.get::<_, String>(1)?))
        })?;
    conn.prepare_cached(
        "INSERT INTO audit_log (seq, at, event, account_id, details, prev_hash, hash) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
    )?
    .execute(ChainedAudit::after(prev_seq, prev_hash, entry).values())?;
    Ok(())
}

fn upsert_certificate(
    conn: &Connection,
    account_id: &str,
    c: &CertificateRecord,
    now: OffsetDateTime,
) -> Result<(), StoreError> {
    conn.prepare_cached(
        "INSERT INTO certificates (fingerprint, account_id, issuer, serial, not_after, first_used, last_used) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?6) ON CONFLICT (fingerprint) DO UPDATE SET last_used = excluded.last_used",
    )?
    .execute((
        &c.fingerprint,
        account_id,
        &c.issuer,
        &c.serial,
        ts(c.not_after),
        ts(now),
    ))?;
    Ok(())
}

#[async_trait]
impl AccountStore for SqliteStore {
    async fn account(&self, id: &str) -> Result<Option<Account>, StoreError> {
        let id = id.to_owned();
        self.readers
            .read(move |conn| account_by_id(conn, &id))
            .await
    }

    async fn find_account(
        &self,
        identifiers: &[Identifier],
    ) -> Result<Option<Account>, StoreError> {
        let identifiers = identifiers.to_vec();
        self.readers
            .read(move |conn| {
                for id in &identifiers {
                    let owner = one(
                        conn,
                        "SELECT account_id FROM identifiers WHERE kind = ?1 AND value = ?2",
                        (id.kind.as_str(), &id.value),
                        |row| Ok(row.get::<_, String>(0)?),
                    )?;
                    if let Some(account_id) = owner {
                        return account_by_id(conn, &account_id);
                    }
                }
                Ok(None)
            })
            .await
    }

    async fn create_account(
        &self,
        ticket_id: &str,
        now: OffsetDateTime,
        account: &Account,
        certificate: &CertificateRecord,
        audit: &AuditEntry,
    ) -> Result<Account, CreateAccountError> {
        // The ticket is used up before the account is written: a concurrent confirmation
        // finds it gone. A write that did not make the account gives it back — for a
        // retry after the store's failure, and so that a ticket refused because the
        // identity has an account says so again, as on PostgreSQL (whose refused
        // transaction never used it up) — in a task of its own, so a client that hangs up
        // meanwhile cannot drop the giving back.
        let ticket = self
            .tickets
            .take(ticket_id)
            .filter(|t| t.expires_at > now)
            .ok_or(CreateAccountError::TicketNotFound)?;
        let (account, certificate, audit) = (account.clone(), certificate.clone(), audit.clone());
        let (writer, tickets) = (self.writer.clone(), self.tickets.clone());
        let written = tokio::spawn(async move {
            let created = writer
                .write(Durability::PowerLoss, move |conn| {
                    insert_account(conn, now, &account, &certificate, &audit)
                })
                .await;
            if let Err(CreateAccountError::Store(_) | CreateAccountError::AccountExists) = created
                && let Err(full) = tickets.put(&ticket)
            {
                // The write's own error is the one to answer; this one is only logged.
                tracing::warn!(error = %full, "a ticket could not be given back");
            }
            created
        });
        written.await.map_err(|e| {
            CreateAccountError::Store(StoreError::Unanswered(format!(
                "the account's write ended without an answer: {e}"
            )))
        })?
    }

    async fn create_session(
        &self,
        session: &NewSession,
        certificate: &CertificateRecord,
        audit: &AuditEntry,
    ) -> Result<(), StoreError> {
        let (session, certificate, audit) = (session.clone(), certificate.clone(), audit.clone());
        self.writer
            .write(Durability::PowerLoss, move |conn| {
                insert_session(conn, &session, &certificate, &audit)
            })
            .await
    }

    async fn session_login(
        &self,
        token_hash: &str,
        now: OffsetDateTime,
    ) -> Result<Option<SessionLogin>, StoreError> {
        let token_hash = token_hash.to_owned();
        self.readers
            .read(move |conn| {
                let login = one(
                    conn,
                    "SELECT account_id, created_at AS auth_time, method FROM sessions \
                     WHERE token_hash = ?1 AND expires_at > ?2",
                    (&token_hash, ts(now)),
                    |row| {
                        let account_id: String = row.get("account_id")?;
                        account_by_id(conn, &account_id)?
                            .map(|account| session_login_of(account, row))
                            .transpose()
                    },
                )?;
                Ok(login.flatten())
            })
            .await
    }

    async fn delete_session(&self, token_hash: &str) -> Result<Option<Vec<String>>, StoreError> {
        let token_hash = token_hash.to_owned();
        self.writer
            .write(Durability::PowerLoss, move |conn| {
                let portals = conn
                    .prepare_cached(
                        "DELETE FROM oidc_session_portals WHERE session_hash = ?1 \
                         RETURNING client_id",
                    )?
                    .query_map([&token_hash], |row| row.get(0))?
                    .collect::<Result<Vec<String>, _>>()?;
                let gone = conn
                    .prepare_cached("DELETE FROM sessions WHERE token_hash = ?1")?
                    .execute([&token_hash])?;
                Ok((gone > 0).then_some(portals))
            })
            .await
    }

    async fn add_aliases(
        &self,
        account_id: &str,
        identifiers: &[Identifier],
    ) -> Result<bool, StoreError> {
        let (account_id, identifiers) = (account_id.to_owned(), identifiers.to_vec());
        self.writer
            .write(Durability::PowerLoss, move |conn| {
                // One writer: nothing comes between this look and the inserts (and the
                // index of `0012_one_cccd_per_account.sql` stands behind it).
                let mut other_cccd = conn.prepare_cached(
                    "SELECT 1 FROM identifiers WHERE account_id = ?1 AND kind = 'CCCD' \
                     AND value <> ?2",
                )?;
                for id in identifiers
                    .iter()
                    .filter(|i| i.kind == IdentifierKind::Cccd)
                {
                    if other_cccd.exists((&account_id, &id.value))? {
                        return Ok(false);
                    }
                }
                let mut insert = conn.prepare_cached(
                    "INSERT INTO identifiers (kind, value, account_id, is_key) \
                     VALUES (?1, ?2, ?3, 0) ON CONFLICT (kind, value) DO NOTHING",
                )?;
                for id in &identifiers {
                    insert.execute((id.kind.as_str(), &id.value, &account_id))?;
                }
                Ok(true)
            })
            .await
    }

    async fn audit_head(&self) -> Result<Option<AuditHead>, StoreError> {
        self.readers
            .read(|conn| {
                one(
                    conn,
                    "SELECT seq, hash FROM audit_head WHERE id = 0",
                    [],
                    |row| {
                        Ok(AuditHead {
                            seq: row.get(0)?,
                            hash: row.get(1)?,
                        })
                    },
                )
            })
            .await
    }

    async fn audit_rows(
        &self,
        after_seq: i64,
        since: Option<OffsetDateTime>,
        limit: usize,
    ) -> Result<Vec<AuditRow>, StoreError> {
        let since = since.map_or(i64::MIN, ts);
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        self.readers
            .read(move |conn| {
                all(conn, &AUDIT_PAGE_AFTER, (after_seq, since, limit), |row| {
                    audit_row_of(row)
                })
            })
            .await
    }
}
