//! The registration gateway's use cases, with no HTTP in them (design §4 semantics):
//! challenges, USB-token registration (preview → ticket → confirmed account), login and
//! sessions. The HTTP layer decodes requests into these calls and encodes their domain
//! results as its own wire types.

use crate::clock::Clock;
use crate::domain::account::{bearer_hash, identifiers_of};
use crate::domain::registration::Method;
use crate::domain::{
    Account, AuditEntry, CertificateRecord, Challenge, Contact, Evidence, IAL, NewSession, Preview,
    Purpose, SessionIssued, SessionLogin, Ticket,
};
use crate::entropy::{Entropy, random_b64};
use crate::metrics;
use crate::offload::off_the_request_threads;
use crate::store::records::evidence_json;
use crate::store::{CreateAccountError, Store, StoreError};
use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use kyso_proto::webeid::AuthToken;
use kyso_verify::certificate::CertificateFacts;
use kyso_verify::error::{ErrorCode, Rejection};
use kyso_verify::identity::{Subject, SubjectType, extract_subject};
use kyso_verify::policy::CertificatePolicy;
use kyso_verify::webeid::{VerifiedToken, verify_auth_token_reading};
use std::sync::Arc;
use time::Duration;

/// Lifetimes and the origin; from the configuration.
#[derive(Debug, Clone)]
pub struct Settings {
    /// The public origin challenges are bound to, `https://host[:port]`.
    pub origin: String,
    /// How long a challenge lives (default 5 minutes).
    pub challenge_ttl: Duration,
    /// How long a registration ticket lives (default 10 minutes).
    pub ticket_ttl: Duration,
    /// How long a login session lives.
    pub session_ttl: Duration,
}

/// A token verified against its challenge's origin and nonce at `now`, with the
/// identity and certificate facts read from it; owned, so that it can run on another
/// thread.
async fn verify_token(
    policy: Arc<CertificatePolicy>,
    token: AuthToken,
    extra: Vec<Vec<u8>>,
    origin: String,
    nonce: String,
    now: time::OffsetDateTime,
) -> Result<(VerifiedToken, (Subject, CertificateFacts)), Rejection> {
    verify_auth_token_reading(
        &policy,
        &token,
        &extra,
        &origin,
        &nonce,
        now,
        |cert, der| {
            let subject = extract_subject(cert, now.year())?;
            Ok((subject, CertificateFacts::of(cert, der)))
        },
    )
    .await
}

/// At most this many intermediates may travel with a token.
pub const MAX_EXTRA_INTERMEDIATES: usize = 4;

/// The refusal for a ticket that is not there: never existed, used, or expired.
fn ticket_gone() -> Rejection {
    Rejection::new(
        ErrorCode::TicketNotFound,
        "no such ticket, or it was used or expired",
    )
}

/// A store failure as the client sees it: retry later (the cause is logged). A full
/// in-memory book is load, not a failure: `OVERLOADED`, and the book itself logs it once
/// a sweep, so a flood of refusals is not a flood of error lines.
pub(crate) fn store_failed(e: StoreError) -> Rejection {
    if let StoreError::Full { what, .. } = e {
        return Rejection::new(
            ErrorCode::Overloaded,
            format!("too many outstanding {what}; retry shortly"),
        );
    }
    tracing::error!(error = %e, "store failure");
    Rejection::new(
        ErrorCode::StorageUnavailable,
        "the store is unavailable; retry",
    )
}

/// Everything a verified token proves.
struct Proof {
    challenge: Challenge,
    token: VerifiedToken,
    subject: Subject,
    facts: CertificateFacts,
}

impl Proof {
    fn evidence(&self) -> Evidence {
        Evidence {
            method: Method::Token,
            challenge_id: self.challenge.id.clone(),
            signed_data: self.token.signed_data.clone(),
            signature: self.token.signature.clone(),
            algorithm: self.token.algorithm.name().into(),
            certificate: self.token.certificate.clone(),
        }
    }
}

/// Decodes intermediates that travelled with a token (standard base64 DER, at most
/// [`MAX_EXTRA_INTERMEDIATES`]).
pub fn decode_intermediates(b64: &[String]) -> Result<Vec<Vec<u8>>, Rejection> {
    if b64.len() > MAX_EXTRA_INTERMEDIATES {
        return Err(Rejection::new(
            ErrorCode::MalformedToken,
            format!("at most {MAX_EXTRA_INTERMEDIATES} intermediates"),
        ));
    }
    b64.iter()
        .map(|b| STANDARD.decode(b))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|_| {
            Rejection::new(
                ErrorCode::MalformedToken,
                "intermediates must be standard base64 DER",
            )
        })
}

/// The gateway's core.
pub struct Gateway {
    store: Arc<dyn Store>,
    policy: Arc<CertificatePolicy>,
    clock: Arc<dyn Clock>,
    entropy: Arc<dyn Entropy>,
    settings: Settings,
    readiness: crate::readiness::Readiness,
}

impl Gateway {
    /// A gateway over these parts.
    pub fn new(
        store: Arc<dyn Store>,
        policy: Arc<CertificatePolicy>,
        clock: Arc<dyn Clock>,
        entropy: Arc<dyn Entropy>,
        settings: Settings,
    ) -> Self {
        Self {
            store,
            policy,
            clock,
            entropy,
            settings,
            readiness: crate::readiness::Readiness::default(),
        }
    }

    /// Whether the gateway is ready to serve (`/readyz`): one check shared by every
    /// asker ([`crate::readiness`]).
    pub async fn ready(&self) -> Result<(), Rejection> {
        self.readiness
            .check(self.clock.as_ref(), self.store.as_ref(), &self.policy)
            .await
    }

    /// The store, for readiness checks and maintenance.
    pub fn store(&self) -> &Arc<dyn Store> {
        &self.store
    }

    /// The certificate policy (the SIM flow checks its certificates with it too).
    pub fn policy(&self) -> &CertificatePolicy {
        &self.policy
    }

    /// The clock.
    pub fn clock(&self) -> &Arc<dyn Clock> {
        &self.clock
    }

    /// Lifetimes and the origin.
    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    /// `bytes` random bytes in base64 (`engine`).
    pub(crate) fn random(&self, bytes: usize, engine: &impl Engine) -> Result<String, Rejection> {
        random_b64(self.entropy.as_ref(), bytes, engine)
    }

    /// Refuses a registration whose identity is not the type asked for
    /// (`SUBJECT_TYPE_MISMATCH`) or already has an account (`ACCOUNT_EXISTS`).
    pub(crate) async fn check_new_identity(
        &self,
        subject: &Subject,
        asked: Option<SubjectType>,
    ) -> Result<(), Rejection> {
        if let Some(asked) = asked
            && asked != subject.subject_type
        {
            return Err(Rejection::new(
                ErrorCode::SubjectTypeMismatch,
                format!(
                    "asked for {}, the certificate proves {}",
                    asked.as_str(),
                    subject.subject_type.as_str()
                ),
            ));
        }
        if self
            .store
            .find_account(&identifiers_of(subject))
            .await
            .map_err(store_failed)?
            .is_some()
        {
            return Err(Rejection::new(
                ErrorCode::AccountExists,
                "this identity already has an account",
            ));
        }
        Ok(())
    }

    /// A ticket for a verified identity, not yet stored, known to the store by `handle`:
    /// the [`bearer_hash`] of the ticket the browser will present.
    pub(crate) fn new_ticket(
        &self,
        handle: String,
        subject: Subject,
        certificate: CertificateRecord,
        evidence: Evidence,
    ) -> Ticket {
        Ticket {
            id: handle,
            expires_at: self.clock.now() + self.settings.ticket_ttl,
            subject,
            certificate,
            evidence,
        }
    }

    /// The account a login's `subject` opens (`ACCOUNT_NOT_FOUND` if none): the one that
    /// holds the certificate's key identifier; else one that holds an alias of it, but
    /// only when the certificate also carries that account's key (its other identifiers
    /// are then recorded as the account's aliases). A certificate whose key
    /// (a CCCD) is not the account's, sharing only an alias with it (a reused CMND, a
    /// certificate in error), proves another person (design §5): `INVALID_IDENTIFIER`.
    pub(crate) async fn account_of(&self, subject: &Subject) -> Result<Account, Rejection> {
        let find = |identifiers: Vec<_>| async move {
            self.store
                .find_account(&identifiers)
                .await
                .map_err(store_failed)
        };
        let not_found = || {
            Rejection::new(
                ErrorCode::AccountNotFound,
                "no account for this identity; register first",
            )
        };
        if let Some(account) = find(vec![subject.identifier.clone()]).await? {
            return Ok(account);
        }
        if subject.aliases.is_empty() {
            return Err(not_found());
        }
        let account = find(subject.aliases.clone()).await?.ok_or_else(not_found)?;
        if subject.aliases.contains(&account.subject.identifier) {
            // The certificate ties its other identifiers (its CCCD, say) to this account:
            // recorded, so that registering with them later finds it.
            let known = account.identifiers();
            let proven: Vec<_> = identifiers_of(subject)
                .into_iter()
                .filter(|i| !known.contains(i))
                .collect();
            let recorded =
                metrics::store("add_aliases", self.store.add_aliases(&account.id, &proven))
                    .await
                    .map_err(store_failed)?;
            // Its key must now open this very account. It does not when the account holds
            // another CCCD already (an earlier certificate with the same, reused, CMND;
            // the store then records none of this one's identifiers), nor when another
            // account took the key meanwhile: this certificate proves another person.
            let opened = find(vec![subject.identifier.clone()]).await?;
            match opened {
                Some(opened) if recorded && opened.id == account.id => Ok(account),
                _ => Err(Rejection::new(
                    ErrorCode::InvalidIdentifier,
                    format!(
                        "the account that holds this certificate's other identifiers holds \
                         another {}; the account is not opened",
                        subject.identifier.kind.as_str()
                    ),
                )),
            }
        } else {
            Err(Rejection::new(
                ErrorCode::InvalidIdentifier,
                format!(
                    "this certificate's {} is not the key of the account that holds its other identifiers; \
                     the account is not opened",
                    subject.identifier.kind.as_str()
                ),
            ))
        }
    }

    /// Opens a login session for `account`, proven with `certificate` as `evidence` shows
    /// at `proved_at`.
    pub(crate) async fn issue_session(
        &self,
        account: Account,
        certificate: &CertificateRecord,
        evidence: &Evidence,
        proved_at: time::OffsetDateTime,
    ) -> Result<SessionIssued, Rejection> {
        let (issued, session, audit) = self.new_session(account, evidence, proved_at)?;
        metrics::store(
            "create_session",
            self.store.create_session(&session, certificate, &audit),
        )
        .await
        .map_err(store_failed)?;
        Ok(issued)
    }

    /// A login session for `account`, not yet stored: what the person is given, the row
    /// that stores it (the token's hash only), and its audit entry.
    pub(crate) fn new_session(
        &self,
        account: Account,
        evidence: &Evidence,
        proved_at: time::OffsetDateTime,
    ) -> Result<(SessionIssued, NewSession, AuditEntry), Rejection> {
        let session_token = self.random(32, &URL_SAFE_NO_PAD)?;
        // A session lasts its lifetime from the proof, however late it was handed out.
        let expires_at = proved_at + self.settings.session_ttl;
        let audit = AuditEntry {
            at: self.clock.now(),
            event: "session.created",
            account_id: Some(account.id.clone()),
            details: serde_json::json!({ "evidence": evidence_json(evidence) }).to_string(),
        };
        let session = NewSession {
            token_hash: bearer_hash(&session_token),
            account_id: account.id.clone(),
            method: evidence.method,
            proved_at,
            expires_at,
        };
        let issued = SessionIssued {
            session_token,
            account,
            expires_at,
        };
        Ok((issued, session, audit))
    }

    /// Issues a single-use challenge for `purpose`, bound to the configured origin.
    pub async fn create_challenge(&self, purpose: Purpose) -> Result<Challenge, Rejection> {
        let challenge = Challenge {
            id: self.random(16, &URL_SAFE_NO_PAD)?,
            nonce: self.random(32, &STANDARD)?,
            purpose,
            origin: self.settings.origin.clone(),
            expires_at: self.clock.now() + self.settings.challenge_ttl,
        };
        metrics::store("put_challenge", self.store.put_challenge(&challenge))
            .await
            .map_err(store_failed)?;
        Ok(challenge)
    }

    /// Takes the challenge out of the store (before anything else, so a replay finds
    /// nothing), then verifies the token against it and reads the identity.
    async fn prove(
        &self,
        purpose: Purpose,
        challenge_id: &str,
        token: &AuthToken,
        extra: &[Vec<u8>],
    ) -> Result<Proof, Rejection> {
        let not_found = || {
            Rejection::new(
                ErrorCode::ChallengeNotFound,
                "no such challenge, or it was already used",
            )
        };
        let challenge = metrics::store("take_challenge", self.store.take_challenge(challenge_id))
            .await
            .map_err(store_failed)?
            .ok_or_else(not_found)?;
        if challenge.purpose != purpose {
            return Err(not_found());
        }
        let now = self.clock.now();
        if now >= challenge.expires_at {
            return Err(Rejection::new(
                ErrorCode::ChallengeExpired,
                "the challenge expired; ask for a new one",
            ));
        }
        let verification = verify_token(
            self.policy.clone(),
            token.clone(),
            extra.to_vec(),
            challenge.origin.clone(),
            challenge.nonce.clone(),
            now,
        );
        // Intermediates that travelled make path building a search a stranger can make
        // long: off the request threads ([`crate::offload`]).
        let (token, (subject, facts)) = if extra.is_empty() {
            verification.await?
        } else {
            off_the_request_threads(verification).await??
        };
        Ok(Proof {
            challenge,
            token,
            subject,
            facts,
        })
    }

    /// Verifies a registration token (with `extra` intermediates that travelled with it)
    /// and returns the identity preview with a ticket.
    pub async fn register_token(
        &self,
        challenge_id: &str,
        token: &AuthToken,
        extra: &[Vec<u8>],
        subject_type: Option<SubjectType>,
    ) -> Result<Preview, Rejection> {
        let proof = self
            .prove(Purpose::Register, challenge_id, token, extra)
            .await?;
        self.check_new_identity(&proof.subject, subject_type)
            .await?;
        let bearer = self.random(32, &URL_SAFE_NO_PAD)?;
        let ticket = self.new_ticket(
            bearer_hash(&bearer),
            proof.subject.clone(),
            CertificateRecord::of(&proof.facts),
            proof.evidence(),
        );
        metrics::store("put_ticket", self.store.put_ticket(&ticket))
            .await
            .map_err(store_failed)?;
        Ok(Preview {
            ticket: bearer,
            subject: proof.subject,
            certificate: proof.facts,
            expires_at: ticket.expires_at,
        })
    }

    /// Creates the account a ticket previewed. Contact details are checked before the
    /// ticket is used, so a typo loses nothing.
    pub async fn confirm(
        &self,
        presented: &str,
        email: Option<&str>,
        phone: Option<&str>,
    ) -> Result<Account, Rejection> {
        let now = self.clock.now();
        let ticket_id = &bearer_hash(presented);
        let ticket = self
            .store
            .get_ticket(ticket_id)
            .await
            .map_err(store_failed)?
            .ok_or_else(ticket_gone)?;
        if now >= ticket.expires_at {
            return Err(ticket_gone());
        }
        let created = self
            .create_account(&ticket, ticket_id, now, email, phone)
            .await;
        metrics::registration(
            ticket.evidence.method.as_str(),
            ticket.subject.subject_type.as_str(),
            created
                .as_ref()
                .map_or_else(|r| r.code.as_str(), |_| "created"),
        );
        created
    }

    /// The account of a live ticket, with its contact details: one transaction.
    async fn create_account(
        &self,
        ticket: &Ticket,
        ticket_id: &str,
        now: time::OffsetDateTime,
        email: Option<&str>,
        phone: Option<&str>,
    ) -> Result<Account, Rejection> {
        let contact = Contact::validate(email, phone, ticket.subject.subject_type)?;
        let account = Account {
            id: format!("acc_{}", self.random(16, &URL_SAFE_NO_PAD)?),
            subject: ticket.subject.clone(),
            email: contact.email,
            phone: contact.phone,
            ial: IAL,
            created_at: now,
        };
        let audit = AuditEntry {
            at: now,
            event: "account.created",
            account_id: Some(account.id.clone()),
            details: serde_json::json!({
                "identifier": {
                    "kind": ticket.subject.identifier.kind.as_str(),
                    "value": ticket.subject.identifier.value,
                },
                "evidence": evidence_json(&ticket.evidence),
            })
            .to_string(),
        };
        metrics::store(
            "create_account",
            self.store
                .create_account(ticket_id, now, &account, &ticket.certificate, &audit),
        )
        .await
        .map_err(|e| match e {
            CreateAccountError::TicketNotFound => ticket_gone(),
            CreateAccountError::AccountExists => Rejection::new(
                ErrorCode::AccountExists,
                "this identity already has an account",
            ),
            CreateAccountError::Store(e) => store_failed(e),
        })
    }

    /// Logs in with a token (and `extra` intermediates that travelled with it, as at
    /// registration): the account of any identifier the certificate proves, so a renewed
    /// certificate (new key, same CCCD/MST) opens the same account.
    pub async fn login_token(
        &self,
        challenge_id: &str,
        token: &AuthToken,
        extra: &[Vec<u8>],
    ) -> Result<SessionIssued, Rejection> {
        let issued = async {
            let proof = self
                .prove(Purpose::Login, challenge_id, token, extra)
                .await?;
            let account = self.account_of(&proof.subject).await?;
            self.issue_session(
                account,
                &CertificateRecord::of(&proof.facts),
                &proof.evidence(),
                self.clock.now(),
            )
            .await
        }
        .await;
        metrics::login(
            "token",
            issued.as_ref().map_or_else(|r| r.code.as_str(), |_| "ok"),
        );
        issued
    }

    /// The account behind a bearer session token.
    pub async fn account_for_session(&self, session_token: &str) -> Result<Account, Rejection> {
        Ok(self.session_login(session_token).await?.account)
    }

    /// The login behind a session token: its account, when and how it was proven.
    pub async fn session_login(&self, session_token: &str) -> Result<SessionLogin, Rejection> {
        self.store
            .session_login(&bearer_hash(session_token), self.clock.now())
            .await
            .map_err(store_failed)?
            .ok_or_else(|| Rejection::new(ErrorCode::Unauthenticated, "no valid session"))
    }

    /// Ends a session (logout): the portals it signed in to, which its logout tells.
    /// Ending one that is already gone is not an error (and tells no one).
    pub async fn end_session(&self, session_token: &str) -> Result<Vec<String>, Rejection> {
        Ok(self
            .store
            .delete_session(&bearer_hash(session_token))
            .await
            .map_err(store_failed)?
            .unwrap_or_default())
    }
}

#[cfg(test)]
mod tests {
    use super::{StoreError, store_failed};
    use kyso_verify::error::ErrorCode;

    #[test]
    fn a_full_book_is_overload_and_a_broken_store_is_unavailable() {
        let full = store_failed(StoreError::Full {
            what: "challenges",
            limit: 1,
        });
        assert_eq!(full.code, ErrorCode::Overloaded);
        assert!(full.detail.contains("challenges"), "{}", full.detail);
        let broken = store_failed(StoreError::Unanswered("the writer stopped".into()));
        assert_eq!(broken.code, ErrorCode::StorageUnavailable);
    }
}
