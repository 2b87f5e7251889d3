//! Persistence (design §8), behind traits split by concern so the core never sees SQL and
//! every backend implements the same contract:
//! - [`ChallengeStore`]: single-use challenges and registration tickets;
//! - [`AccountStore`]: accounts with their identifiers and certificates, login sessions,
//!   and the hash-chained audit log;
//! - [`SimStore`]: signing-SIM sessions;
//! - [`OidcStore`]: the OpenID Provider's grants and consents;
//! - [`Store`]: all four, plus migrations, readiness and purging.
//!
//! The rules that matter for security live in the database, not in check-then-insert
//! code: identifiers are unique, challenges and tickets are taken out atomically (a second
//! taker gets nothing), one SIM session per number is pending at a time, and the audit log
//! is append-only. The store conformance suite (`gateway/tests/store.rs`) holds every
//! backend to this contract. What rows hold as JSON is in [`records`], versioned.
//!
//! Backends: [`SqliteStore`] (one instance, the default) and [`PostgresStore`] (any
//! number of instances on one database). What both share about rows is in `rows`.

mod audit;
mod postgres;
pub mod records;
mod rows;
mod sqlite;

pub use audit::{AUDIT_PAGE, AuditHead, AuditRow, verify_audit_chain};
pub use postgres::{Isolation, MAX_ATTEMPTS, PostgresOptions, PostgresStore};
pub use sqlite::SqliteStore;

use crate::domain::oidc::{Consent, Grant, Redeemed};
use crate::domain::{Account, AuditEntry, CertificateRecord, Challenge, SimOutcome, SimResult};
use crate::domain::{NewSession, SessionLogin, SimSession, Ticket};
use async_trait::async_trait;
use kyso_verify::identity::Identifier;
use time::OffsetDateTime;

/// Rows one statement of a purge takes at most; the statement is repeated until it
/// takes fewer, so a backlog of expired rows is cleared in short steps.
pub const PURGE_BATCH: i64 = 1000;

/// The store failed; the cause is kept for the log.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database did not do what was asked (I/O, connection, constraint, pool).
    #[error("the database failed: {0}")]
    Database(#[from] sqlx::Error),
    /// SQLite's writer connection did not do what was asked.
    #[error("the database failed: {0}")]
    Sqlite(#[from] rusqlite::Error),
    /// SQLite's writer did not commit a write (its batch could not begin or commit), or
    /// a reader did not answer; the cause is logged where it happened.
    #[error("the database did not answer: {0}")]
    Unanswered(String),
    /// Migrations could not be applied.
    #[error("migrating the database failed: {0}")]
    Migration(#[from] sqlx::migrate::MigrateError),
    /// A stored row cannot be read back.
    #[error("a stored {what} is unreadable: {detail}")]
    Corrupt {
        /// Which kind of row.
        what: &'static str,
        /// What is wrong with it.
        detail: String,
    },
    /// The database's schema is older than this build; `kyso-gateway migrate` brings it
    /// up to date.
    #[error(
        "the database schema is at version {have}, this gateway needs {want}: run `kyso-gateway migrate`"
    )]
    SchemaOutdated {
        /// The newest migration applied.
        have: i64,
        /// The newest this build knows.
        want: i64,
    },
    /// The database's schema is newer than this build: a newer gateway migrated it, and
    /// this one would read and write rows it no longer understands (a rollback, or an
    /// instance left on the old version through an upgrade).
    #[error(
        "the database schema is at version {have}, newer than this gateway knows ({want}): run the gateway that migrated it"
    )]
    SchemaNewer {
        /// The newest migration applied.
        have: i64,
        /// The newest this build knows.
        want: i64,
    },
    /// A bounded in-memory book is full of live entries.
    #[error("too many outstanding {what} (at most {limit}); retry shortly")]
    Full {
        /// What is full.
        what: &'static str,
        /// Its bound.
        limit: usize,
    },
    /// The audit chain does not verify; names the first broken row.
    #[error("the audit chain is broken at row {seq}")]
    AuditChainBroken {
        /// The first row whose hash or link is wrong, or the first one missing.
        seq: i64,
    },
    /// The record of the chain's head is gone: removed behind the database's rules.
    #[error("the audit chain's head record is missing")]
    AuditHeadMissing,
    /// The chain does not pass through a head the operator recorded earlier: rows were
    /// cut from its end, or it was rewritten, head record and all.
    #[error("the audit chain does not pass through the recorded row {seq}")]
    AuditAnchorMissing {
        /// The recorded row's place in the chain.
        seq: i64,
    },
}

/// The SIM sessions a number started in a window ([`SimStore::sim_starts_since`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SimStarts {
    /// From anywhere.
    pub all: u64,
    /// From the network asking now.
    pub from_requester: u64,
}

impl SimStarts {
    /// From the database's counts (never negative).
    pub fn counted(all: i64, from_requester: i64) -> Self {
        Self {
            all: u64::try_from(all).unwrap_or(0),
            from_requester: u64::try_from(from_requester).unwrap_or(0),
        }
    }
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

/// Challenges and tickets: short-lived, single use.
#[async_trait]
pub trait ChallengeStore: Send + Sync {
    /// Stores a new challenge.
    async fn put_challenge(&self, challenge: &Challenge) -> Result<(), StoreError>;
    /// Removes and returns a challenge in one step; any other caller, concurrent or later,
    /// gets `None`.
    async fn take_challenge(&self, id: &str) -> Result<Option<Challenge>, StoreError>;
    /// Stores a ticket.
    async fn put_ticket(&self, ticket: &Ticket) -> Result<(), StoreError>;
    /// Reads a ticket without using it (to validate the confirmation first).
    async fn get_ticket(&self, id: &str) -> Result<Option<Ticket>, StoreError>;
}

/// Accounts, login sessions and the audit log.
#[async_trait]
pub trait AccountStore: Send + Sync {
    /// The account with this id.
    async fn account(&self, id: &str) -> Result<Option<Account>, StoreError>;
    /// The account owning any of these identifiers.
    async fn find_account(&self, identifiers: &[Identifier])
    -> Result<Option<Account>, StoreError>;
    /// In one transaction: uses up the ticket (unexpired at `now`), creates the account
    /// with all its identifiers and certificate, and appends the audit entry. Durable when
    /// it returns. A ticket whose account is not made (`AccountExists`, a store failure)
    /// is not used up.
    async fn create_account(
        &self,
        ticket_id: &str,
        now: OffsetDateTime,
        account: &Account,
        certificate: &CertificateRecord,
        audit: &AuditEntry,
    ) -> Result<Account, CreateAccountError>;
    /// In one transaction: records the certificate use, stores the session (by token
    /// hash) and appends the audit entry. Durable when it returns.
    async fn create_session(
        &self,
        session: &NewSession,
        certificate: &CertificateRecord,
        audit: &AuditEntry,
    ) -> Result<(), StoreError>;
    /// An unexpired session: its account, when and how it was proven.
    async fn session_login(
        &self,
        token_hash: &str,
        now: OffsetDateTime,
    ) -> Result<Option<SessionLogin>, StoreError>;
    /// Ends a session (logout): the portals it signed in to
    /// ([`OidcStore::note_session_portal`]), which its logout tells; `None` when there was
    /// no session.
    async fn delete_session(&self, token_hash: &str) -> Result<Option<Vec<String>>, StoreError>;
    /// Records `identifiers` as aliases of account `account_id`, each one no account holds
    /// yet: a login proved they belong to its holder, so a later registration with them
    /// finds the account (design §5). All or none: `false`, and nothing recorded, when
    /// one is a CCCD and the account holds another (a second CCCD is another person's).
    /// Durable when it returns.
    async fn add_aliases(
        &self,
        account_id: &str,
        identifiers: &[Identifier],
    ) -> Result<bool, StoreError>;
    /// The chain's head as the database records it, moved by every append; `None` when
    /// the record is gone.
    async fn audit_head(&self) -> Result<Option<AuditHead>, StoreError>;
    /// At most `limit` audit rows after row `after_seq`, at or after `since` (any time
    /// without it), in chain order, as stored: a page of the chain.
    async fn audit_rows(
        &self,
        after_seq: i64,
        since: Option<OffsetDateTime>,
        limit: usize,
    ) -> Result<Vec<AuditRow>, StoreError>;
}

/// Signing-SIM sessions.
#[async_trait]
pub trait SimStore: Send + Sync {
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
    /// Takes over the pending sessions nobody is polling, at most `limit` of them, oldest
    /// first: those whose poller's hold ended at or before `now` (its instance stopped,
    /// or died and did not renew it), and those never held that started at or before
    /// `unheld_since` (the instance that started one still has until then to push it and
    /// hold it). Each is then held by `poller` until `until`. Of any number of instances
    /// claiming at once, each session goes to one.
    async fn claim_sim_sessions(
        &self,
        poller: &str,
        now: OffsetDateTime,
        until: OffsetDateTime,
        unheld_since: OffsetDateTime,
        limit: u32,
    ) -> Result<Vec<SimSession>, StoreError>;
    /// Extends `poller`'s hold on pending session `id` to `until`, or takes it if
    /// nobody holds it. `false` when the session is complete or another poller holds it
    /// (it took the session over): this one stops polling.
    async fn hold_sim_session(
        &self,
        id: &str,
        poller: &str,
        until: OffsetDateTime,
    ) -> Result<bool, StoreError>;
    /// Ends `poller`'s hold on the pending sessions `ids` as of `now` (it is stopping),
    /// so that another instance's next claim takes them over at once; a session of
    /// `ids` never held yet (its poller, this instance's, had not begun) is handed on
    /// too. A session another poller holds is left alone.
    async fn release_sim_sessions(
        &self,
        ids: &[String],
        poller: &str,
        now: OffsetDateTime,
    ) -> Result<(), StoreError>;
    /// How many SIM sessions `msisdn` started at or after `since`: in all, and from the
    /// network `requester` (the per-number limits).
    async fn sim_starts_since(
        &self,
        msisdn: &str,
        requester: &str,
        since: OffsetDateTime,
    ) -> Result<SimStarts, StoreError>;
    /// Hands out a proven SIM login once: marks it handed out and opens `session` (with
    /// its certificate and audit entry) in one transaction. `false`, with nothing
    /// written, when it was handed out before or the session's hard expiry has passed
    /// at `now`; an error writes nothing, so the login can be handed out on a retry.
    async fn hand_out_sim_login(
        &self,
        id: &str,
        now: OffsetDateTime,
        session: &NewSession,
        certificate: &CertificateRecord,
        audit: &AuditEntry,
    ) -> Result<bool, StoreError>;
}

/// The OpenID Provider's grants and consents.
#[async_trait]
pub trait OidcStore: Send + Sync {
    /// Stores a grant under its authorization code's hash.
    async fn put_grant(&self, code_hash: &str, grant: &Grant) -> Result<(), StoreError>;
    /// Redeems `client_id`'s code unexpired at `now`, recording the access token it
    /// gives, in one statement: of any number of concurrent redeemers one gets the grant.
    /// A code redeemed before is [`Redeemed::Reused`], and the access token it gave is
    /// revoked. Another client's code is [`Redeemed::Unknown`] and stays untouched, and
    /// so is a code whose consent is gone: withdrawn while its authorization was under
    /// way, after it read the consent and before it stored the code.
    async fn redeem_code(
        &self,
        code_hash: &str,
        client_id: &str,
        access_token_hash: &str,
        access_expires_at: OffsetDateTime,
        now: OffsetDateTime,
    ) -> Result<Redeemed, StoreError>;
    /// The grant of the code `code_hash` if it was issued to `client_id` (redeemed or
    /// not, expired or not, while its row is kept): a read, so a token request is checked
    /// against the code's bindings (redirect URI, PKCE) before it uses the code up, and
    /// one that names no such code costs no write.
    async fn issued_grant(
        &self,
        code_hash: &str,
        client_id: &str,
    ) -> Result<Option<Grant>, StoreError>;
    /// The grant behind an access token unexpired at `now` and not revoked.
    async fn access_grant(
        &self,
        access_token_hash: &str,
        now: OffsetDateTime,
    ) -> Result<Option<Grant>, StoreError>;
    /// Notes that the browser session `session_hash` signed in to the portal `client_id`,
    /// so that its logout tells that portal and no other ([`Store::delete_session`] hands
    /// the portals back); kept until the session expires. Noting one twice is one note.
    /// `false`, with nothing noted, when the session is gone (ended by a logout meanwhile:
    /// no code may then be issued under it).
    async fn note_session_portal(
        &self,
        session_hash: &str,
        client_id: &str,
    ) -> Result<bool, StoreError>;
    /// Ends the session `from_hash`, which the same person's session `to_hash` replaces in
    /// their browser (they signed in again): the portals the old one signed in to become
    /// the new one's, told at its logout, kept until it expires. `false`, with nothing
    /// changed, when the new session is gone (ended meanwhile): the old one must then be
    /// ended as at a logout, its portals told.
    async fn carry_session_portals(
        &self,
        from_hash: &str,
        to_hash: &str,
    ) -> Result<bool, StoreError>;
    /// Records (or replaces) what `account_id` agreed `client_id` receives.
    async fn put_consent(&self, account_id: &str, consent: &Consent) -> Result<(), StoreError>;
    /// Every portal `account_id` consented to, oldest first.
    async fn consents(&self, account_id: &str) -> Result<Vec<Consent>, StoreError>;
    /// Withdraws a consent, revokes the access tokens the portal holds for the account
    /// and uses up its codes not yet redeemed; whether there was a consent.
    async fn delete_consent(&self, account_id: &str, client_id: &str) -> Result<bool, StoreError>;
    /// Records a `private_key_jwt` assertion's use; `false` when it was used before
    /// (the database's primary key decides, whichever instance saw it first).
    async fn use_assertion(
        &self,
        client_id: &str,
        jti: &str,
        expires_at: OffsetDateTime,
    ) -> Result<bool, StoreError>;
}

/// The whole store.
#[async_trait]
pub trait Store: ChallengeStore + AccountStore + SimStore + OidcStore {
    /// Applies pending migrations.
    async fn migrate(&self) -> Result<(), StoreError>;
    /// Makes sure the schema is current before serving: SQLite, whose file one instance
    /// owns, migrates; PostgreSQL, shared by many instances, only checks and leaves the
    /// change to `kyso-gateway migrate`, run once.
    async fn ensure_schema(&self) -> Result<(), StoreError>;
    /// Checks, without changing anything, that the schema is the one this build knows
    /// ([`StoreError::SchemaOutdated`] or [`StoreError::SchemaNewer`] otherwise): for
    /// `serve` on PostgreSQL and for commands that read a database a gateway may be
    /// serving from (`audit verify`, `audit export`).
    async fn schema_current(&self) -> Result<(), StoreError>;
    /// Cheap liveness check for `/readyz`.
    async fn ping(&self) -> Result<(), StoreError>;
    /// Deletes expired challenges, tickets and sessions, and SIM sessions complete for
    /// more than a day; ends (`EXPIRED`) pending SIM sessions past their hard expiry.
    async fn purge_expired(&self, now: OffsetDateTime) -> Result<u64, StoreError>;
}
