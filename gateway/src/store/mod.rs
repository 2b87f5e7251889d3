//! Persistence behind one trait (DESIGN §8), so the core never sees SQL and a second
//! backend (PostgreSQL, for several gateway instances) is one more implementation.
//!
//! The rules that matter for security live in the database, not in check-then-insert
//! code: identifiers are unique, challenges and tickets are taken out atomically (a second
//! taker gets nothing), and the audit log is append-only and hash-chained.

mod sqlite;
mod sqlite_sim;

pub use sqlite::SqliteStore;

use crate::sim::session::{SimOutcome, SimResult, SimSession};
use async_trait::async_trait;
use kyso_verify::identity::{Identifier, Subject};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

/// The store failed (I/O, corruption, pool exhausted).
#[derive(Debug, thiserror::Error)]
#[error("store: {0}")]
pub struct StoreError(pub String);

/// What a challenge is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Purpose {
    /// Registering a new account.
    Register,
    /// Logging in to an existing one.
    Login,
}

impl Purpose {
    /// The stored and wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Register => "register",
            Self::Login => "login",
        }
    }
}

/// A challenge as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Challenge {
    /// Public id the client sends back.
    pub id: String,
    /// The nonce to sign, standard base64 of 32 random bytes.
    pub nonce: String,
    /// What it may be used for.
    pub purpose: Purpose,
    /// The origin bound into the signature.
    pub origin: String,
    /// End of its life.
    pub expires_at: OffsetDateTime,
}

/// A registration ticket: a verified identity waiting for the person's confirmation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ticket {
    /// Public, unguessable id.
    pub id: String,
    /// End of its life.
    #[serde(with = "time::serde::timestamp")]
    pub expires_at: OffsetDateTime,
    /// The verified identity.
    pub subject: Subject,
    /// The certificate that proved it.
    pub certificate: CertificateRecord,
    /// The proof, for the audit log.
    pub evidence: Evidence,
}

/// The certificate facts kept per account.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CertificateRecord {
    /// SHA-256 of the DER, hex.
    pub fingerprint: String,
    /// Issuer DN for display.
    pub issuer: String,
    /// Serial, hex.
    pub serial: String,
    /// notAfter.
    #[serde(with = "time::serde::timestamp")]
    pub not_after: OffsetDateTime,
}

/// What was signed and how: enough to re-verify a registration or login later.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Evidence {
    /// `token` or `sim`.
    pub method: String,
    /// Challenge id.
    pub challenge_id: String,
    /// Signed data, base64.
    pub signed_data: String,
    /// Signature, base64.
    pub signature: String,
    /// Signature algorithm name.
    pub algorithm: String,
    /// The certificate, base64 DER.
    pub certificate: String,
}

/// An account as the API shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Account {
    /// Account id.
    pub id: String,
    /// Citizen or organization, key, aliases, names.
    pub subject: Subject,
    /// Contact email, if given.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    /// Contact phone (E.164), if given.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub phone: Option<String>,
    /// Identity assurance level: 3 for certificate-proven accounts.
    pub ial: u8,
    /// When it was created.
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
}

/// One audit event.
#[derive(Debug, Clone)]
pub struct AuditEntry {
    /// When.
    pub at: OffsetDateTime,
    /// `account.created`, `session.created`, …
    pub event: &'static str,
    /// The account concerned.
    pub account_id: Option<String>,
    /// JSON details (evidence); never secrets.
    pub details: serde_json::Value,
}

/// Why an account could not be created.
#[derive(Debug, thiserror::Error)]
pub enum CreateAccountError {
    /// The ticket is gone (used, expired, never existed).
    #[error("ticket not found")]
    TicketNotFound,
    /// One of the identifiers already belongs to an account.
    #[error("an identifier already has an account")]
    AccountExists,
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The gateway's persistence.
#[async_trait]
pub trait Store: Send + Sync {
    /// Applies pending migrations.
    async fn migrate(&self) -> Result<(), StoreError>;
    /// Cheap liveness check for `/readyz`.
    async fn ping(&self) -> Result<(), StoreError>;
    /// Stores a new challenge.
    async fn put_challenge(&self, challenge: &Challenge) -> Result<(), StoreError>;
    /// Removes and returns a challenge in one step; a second caller gets `None`.
    async fn take_challenge(&self, id: &str) -> Result<Option<Challenge>, StoreError>;
    /// Stores a ticket.
    async fn put_ticket(&self, ticket: &Ticket) -> Result<(), StoreError>;
    /// Reads a ticket without using it (to validate the confirmation first).
    async fn get_ticket(&self, id: &str) -> Result<Option<Ticket>, StoreError>;
    /// The account with this id.
    async fn account(&self, id: &str) -> Result<Option<Account>, StoreError>;
    /// The account owning any of these identifiers.
    async fn find_account(&self, identifiers: &[Identifier])
    -> Result<Option<Account>, StoreError>;
    /// In one transaction: uses up the ticket (unexpired at `now`), creates the account
    /// with all its identifiers and certificate, and appends the audit entry.
    async fn create_account(
        &self,
        ticket_id: &str,
        now: OffsetDateTime,
        account: &Account,
        certificate: &CertificateRecord,
        audit: &AuditEntry,
    ) -> Result<Account, CreateAccountError>;
    /// In one transaction: records the certificate use, stores the session (by token
    /// hash) and appends the audit entry.
    async fn create_session(
        &self,
        token_hash: &str,
        account_id: &str,
        expires_at: OffsetDateTime,
        certificate: &CertificateRecord,
        audit: &AuditEntry,
    ) -> Result<(), StoreError>;
    /// The account of an unexpired session.
    async fn session_account(
        &self,
        token_hash: &str,
        now: OffsetDateTime,
    ) -> Result<Option<Account>, StoreError>;
    /// Deletes expired challenges, tickets and sessions, and SIM sessions complete for
    /// more than a day; ends (`EXPIRED`) pending SIM sessions past their hard expiry.
    async fn purge_expired(&self, now: OffsetDateTime) -> Result<u64, StoreError>;
    /// Recomputes the audit chain; `Err` names the first broken row.
    async fn verify_audit_chain(&self) -> Result<u64, StoreError>;

    /// Records a new pending SIM session. First ends, as `EXPIRED`, a pending session of
    /// the same number whose hard expiry has passed at `now`; another pending session of
    /// the number is [`StartSimError::Busy`] (the database's unique index decides).
    async fn start_sim_session(
        &self,
        session: &SimSession,
        now: OffsetDateTime,
    ) -> Result<(), StartSimError>;
    /// Notes the operator's transaction id of a pending session.
    async fn set_mssp_trans_id(&self, id: &str, mssp_trans_id: &str) -> Result<(), StoreError>;
    /// Completes a pending session with `result` and `outcome`, storing `ticket` in the
    /// same transaction. `false` when it was already complete (terminal states never
    /// change; the ticket is then not stored).
    async fn complete_sim_session(
        &self,
        id: &str,
        result: SimResult,
        outcome: Option<&SimOutcome>,
        ticket: Option<&Ticket>,
        now: OffsetDateTime,
    ) -> Result<bool, StoreError>;
    /// A SIM session by id.
    async fn sim_session(&self, id: &str) -> Result<Option<SimSession>, StoreError>;
    /// Every pending SIM session (to resume polling after a restart).
    async fn pending_sim_sessions(&self) -> Result<Vec<SimSession>, StoreError>;
    /// How many SIM sessions `msisdn` started at or after `since` (per-number limit).
    async fn sim_sessions_started_since(
        &self,
        msisdn: &str,
        since: OffsetDateTime,
    ) -> Result<u64, StoreError>;
    /// Marks a proven SIM login's token as handed out; `true` only the first time, and
    /// only before the session's hard expiry at `now`.
    async fn claim_sim_login(&self, id: &str, now: OffsetDateTime) -> Result<bool, StoreError>;
}

/// Why a SIM session could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartSimError {
    /// The number already has a pending session.
    #[error("another request is pending for this number")]
    Busy,
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The hash of an audit row given the previous row's hash.
pub fn audit_hash(
    prev_hash: &str,
    seq: i64,
    at: i64,
    event: &str,
    account_id: Option<&str>,
    details: &str,
) -> String {
    use aws_lc_rs::digest::{Context, SHA256};
    let mut ctx = Context::new(&SHA256);
    for part in [
        prev_hash,
        &seq.to_string(),
        &at.to_string(),
        event,
        account_id.unwrap_or(""),
        details,
    ] {
        ctx.update(&(part.len() as u64).to_be_bytes());
        ctx.update(part.as_bytes());
    }
    hex::encode(ctx.finish())
}
