//! The registration gateway's use cases, with no HTTP in them (DESIGN §4 semantics):
//! challenges, USB-token registration (preview → ticket → confirmed account), login and
//! sessions. The HTTP layer only decodes requests, calls these and encodes the results.

use crate::clock::Clock;
use crate::store::{
    Account, AuditEntry, CertificateRecord, Challenge, CreateAccountError, Evidence, Purpose,
    Store, StoreError, Ticket,
};
use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use kyso_proto::webeid::AuthToken;
use kyso_verify::certificate::CertificateFacts;
use kyso_verify::error::{ErrorCode, Rejection};
use kyso_verify::identity::{Identifier, Subject, SubjectType, extract_subject};
use kyso_verify::policy::CertificatePolicy;
use kyso_verify::webeid::{VerifiedToken, verify_auth_token};
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use time::{Duration, OffsetDateTime};

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

/// A fresh challenge (`POST /v1/challenges`).
#[derive(Debug, Clone, Serialize)]
pub struct ChallengeIssued {
    /// Id to send back with the signed token.
    pub challenge_id: String,
    /// What to sign (standard base64, 44 characters).
    pub nonce: String,
    /// The origin the signature must bind.
    pub origin: String,
    /// End of its life.
    #[serde(with = "time::serde::rfc3339")]
    pub expires_at: OffsetDateTime,
}

/// The identity preview (`POST /v1/registrations/token`).
#[derive(Debug, Clone, Serialize)]
pub struct Preview {
    /// Single-use ticket for the confirmation.
    pub ticket: String,
    /// The identity read from the certificate.
    pub subject: Subject,
    /// The certificate that proved it.
    pub certificate: CertificateFacts,
    /// Identity assurance level of the account it will create.
    pub ial: u8,
    /// End of the ticket's life.
    #[serde(with = "time::serde::rfc3339")]
    pub expires_at: OffsetDateTime,
}

/// A created account (`POST /v1/registrations/{ticket}/confirm`).
#[derive(Debug, Clone, Serialize)]
pub struct AccountCreated {
    /// The new account's id.
    pub account_id: String,
    /// Its identity.
    pub subject: Subject,
    /// 3.
    pub ial: u8,
    /// When.
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
}

/// A login (`POST /v1/sessions/token`).
#[derive(Debug, Clone, Serialize)]
pub struct SessionIssued {
    /// Bearer token for `GET /v1/accounts/me`; shown once, stored only as a hash.
    pub session_token: String,
    /// The account logged in to.
    pub account: Account,
    /// End of the session.
    #[serde(with = "time::serde::rfc3339")]
    pub expires_at: OffsetDateTime,
}

/// The confirmation's optional contact details.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ContactDetails {
    /// Required for organizations.
    pub email: Option<String>,
    /// Vietnamese mobile number, any accepted form.
    pub phone: Option<String>,
}

/// At most this many intermediates may travel with a token.
const MAX_EXTRA_INTERMEDIATES: usize = 4;
/// IAL of certificate-proven accounts.
pub(crate) const IAL: u8 = 3;

/// `bytes` random bytes in base64 (`engine`): ids, nonces, tokens.
pub(crate) fn random_b64(bytes: usize, engine: &impl Engine) -> Result<String, Rejection> {
    let mut b = vec![0u8; bytes];
    aws_lc_rs::rand::fill(&mut b)
        .map_err(|_| Rejection::new(ErrorCode::StorageUnavailable, "no randomness"))?;
    Ok(engine.encode(b))
}

/// A store failure as the client sees it: retry later (the cause is logged).
pub(crate) fn store_failed(e: StoreError) -> Rejection {
    tracing::error!(error = %e, "store failure");
    Rejection::new(
        ErrorCode::StorageUnavailable,
        "the store is unavailable; retry",
    )
}

/// A plausible email address: one `@`, a local part, a dotted domain, no spaces, at most
/// 254 characters (RFC 5321 §4.5.3.1.3). Deliverability is the mail system's business.
fn valid_email(e: &str) -> bool {
    let Some((local, domain)) = e.split_once('@') else {
        return false;
    };
    e.len() <= 254
        && !local.is_empty()
        && local.len() <= 64
        && domain.contains('.')
        && !domain.starts_with('.')
        && !domain.ends_with('.')
        && !e.chars().any(|c| c.is_whitespace() || c.is_control())
        && !domain.contains('@')
}

fn session_hash(token: &str) -> String {
    hex::encode(aws_lc_rs::digest::digest(
        &aws_lc_rs::digest::SHA256,
        token.as_bytes(),
    ))
}

/// Everything a verified token proves.
struct Proof {
    challenge: Challenge,
    token: VerifiedToken,
    subject: Subject,
    facts: CertificateFacts,
}

impl Proof {
    fn record(&self) -> CertificateRecord {
        CertificateRecord {
            fingerprint: self.facts.fingerprint_sha256.clone(),
            issuer: self.facts.issuer.clone(),
            serial: self.facts.serial.clone(),
            not_after: self.facts.not_after,
        }
    }

    fn evidence(&self) -> Evidence {
        Evidence {
            method: "token".into(),
            challenge_id: self.challenge.id.clone(),
            signed_data: STANDARD.encode(&self.token.signed_data),
            signature: STANDARD.encode(&self.token.signature),
            algorithm: self.token.algorithm.name().into(),
            certificate: STANDARD.encode(&self.token.certificate),
        }
    }
}

/// The account key and every alias: all are checked for an existing account.
fn identifiers(subject: &Subject) -> Vec<Identifier> {
    std::iter::once(subject.identifier.clone())
        .chain(subject.aliases.iter().cloned())
        .collect()
}

/// The gateway's core.
pub struct Gateway {
    store: Arc<dyn Store>,
    policy: Arc<CertificatePolicy>,
    clock: Arc<dyn Clock>,
    settings: Settings,
}

impl Gateway {
    /// A gateway over these parts.
    pub fn new(
        store: Arc<dyn Store>,
        policy: Arc<CertificatePolicy>,
        clock: Arc<dyn Clock>,
        settings: Settings,
    ) -> Self {
        Self {
            store,
            policy,
            clock,
            settings,
        }
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
                    "asked for {asked:?}, the certificate proves {:?}",
                    subject.subject_type
                ),
            ));
        }
        if self
            .store
            .find_account(&identifiers(subject))
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

    /// A ticket for a verified identity, not yet stored.
    pub(crate) fn new_ticket(
        &self,
        subject: Subject,
        certificate: CertificateRecord,
        evidence: Evidence,
    ) -> Result<Ticket, Rejection> {
        Ok(Ticket {
            id: random_b64(32, &URL_SAFE_NO_PAD)?,
            expires_at: self.clock.now() + self.settings.ticket_ttl,
            subject,
            certificate,
            evidence,
        })
    }

    /// The account of any identifier of `subject` (`ACCOUNT_NOT_FOUND` if none).
    pub(crate) async fn account_of(&self, subject: &Subject) -> Result<Account, Rejection> {
        self.store
            .find_account(&identifiers(subject))
            .await
            .map_err(store_failed)?
            .ok_or_else(|| {
                Rejection::new(
                    ErrorCode::AccountNotFound,
                    "no account for this identity; register first",
                )
            })
    }

    /// Opens a login session for `account`, proven with `certificate` as `evidence` shows.
    pub(crate) async fn issue_session(
        &self,
        account: Account,
        certificate: &CertificateRecord,
        evidence: Evidence,
    ) -> Result<SessionIssued, Rejection> {
        let now = self.clock.now();
        let session_token = random_b64(32, &URL_SAFE_NO_PAD)?;
        let expires_at = now + self.settings.session_ttl;
        let audit = AuditEntry {
            at: now,
            event: "session.created",
            account_id: Some(account.id.clone()),
            details: serde_json::json!({ "evidence": evidence }),
        };
        self.store
            .create_session(
                &session_hash(&session_token),
                &account.id,
                expires_at,
                certificate,
                &audit,
            )
            .await
            .map_err(store_failed)?;
        Ok(SessionIssued {
            session_token,
            account,
            expires_at,
        })
    }

    /// Issues a single-use challenge for `purpose`, bound to the configured origin.
    pub async fn create_challenge(&self, purpose: Purpose) -> Result<ChallengeIssued, Rejection> {
        let challenge = Challenge {
            id: random_b64(16, &URL_SAFE_NO_PAD)?,
            nonce: random_b64(32, &STANDARD)?,
            purpose,
            origin: self.settings.origin.clone(),
            expires_at: self.clock.now() + self.settings.challenge_ttl,
        };
        self.store
            .put_challenge(&challenge)
            .await
            .map_err(store_failed)?;
        Ok(ChallengeIssued {
            challenge_id: challenge.id,
            nonce: challenge.nonce,
            origin: challenge.origin,
            expires_at: challenge.expires_at,
        })
    }

    /// Takes the challenge out of the store (before anything else, so a replay finds
    /// nothing), then verifies the token against it and reads the identity.
    async fn prove(
        &self,
        purpose: Purpose,
        challenge_id: &str,
        token: &AuthToken,
        extra_b64: &[String],
    ) -> Result<Proof, Rejection> {
        if extra_b64.len() > MAX_EXTRA_INTERMEDIATES {
            return Err(Rejection::new(
                ErrorCode::MalformedToken,
                format!("at most {MAX_EXTRA_INTERMEDIATES} intermediates"),
            ));
        }
        let extra = extra_b64
            .iter()
            .map(|b| STANDARD.decode(b))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|_| {
                Rejection::new(
                    ErrorCode::MalformedToken,
                    "intermediates must be standard base64 DER",
                )
            })?;
        let not_found = || {
            Rejection::new(
                ErrorCode::ChallengeNotFound,
                "no such challenge, or it was already used",
            )
        };
        let challenge = self
            .store
            .take_challenge(challenge_id)
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
        let token = verify_auth_token(
            &self.policy,
            token,
            &extra,
            &challenge.origin,
            &challenge.nonce,
            now,
        )
        .await?;
        let (_, cert) = x509_parser::parse_x509_certificate(&token.certificate)
            .map_err(|e| Rejection::new(ErrorCode::MalformedToken, e.to_string()))?;
        let subject = extract_subject(&cert, now.year())?;
        let facts = CertificateFacts::of(&cert, &token.certificate);
        Ok(Proof {
            challenge,
            token,
            subject,
            facts,
        })
    }

    /// Verifies a registration token and returns the identity preview with a ticket.
    pub async fn register_token(
        &self,
        challenge_id: &str,
        token: &AuthToken,
        intermediates: &[String],
        subject_type: Option<SubjectType>,
    ) -> Result<Preview, Rejection> {
        let proof = self
            .prove(Purpose::Register, challenge_id, token, intermediates)
            .await?;
        self.check_new_identity(&proof.subject, subject_type)
            .await?;
        let ticket = self.new_ticket(proof.subject.clone(), proof.record(), proof.evidence())?;
        self.store.put_ticket(&ticket).await.map_err(store_failed)?;
        Ok(Preview {
            ticket: ticket.id,
            subject: proof.subject,
            certificate: proof.facts,
            ial: IAL,
            expires_at: ticket.expires_at,
        })
    }

    /// Creates the account a ticket previewed. Contact details are checked before the
    /// ticket is used, so a typo loses nothing.
    pub async fn confirm(
        &self,
        ticket_id: &str,
        contact: ContactDetails,
    ) -> Result<AccountCreated, Rejection> {
        let now = self.clock.now();
        let gone = || {
            Rejection::new(
                ErrorCode::TicketNotFound,
                "no such ticket, or it was used or expired",
            )
        };
        let ticket = self
            .store
            .get_ticket(ticket_id)
            .await
            .map_err(store_failed)?
            .ok_or_else(gone)?;
        if now >= ticket.expires_at {
            return Err(gone());
        }
        let email = contact
            .email
            .map(|e| e.trim().to_owned())
            .filter(|e| !e.is_empty());
        match &email {
            None if ticket.subject.subject_type == SubjectType::Organization => {
                return Err(Rejection::new(
                    ErrorCode::EmailRequired,
                    "organizations must give an email address",
                ));
            }
            Some(e) if !valid_email(e) => {
                return Err(Rejection::new(
                    ErrorCode::InvalidEmail,
                    "not a valid email address",
                ));
            }
            _ => {}
        }
        let phone = contact
            .phone
            .filter(|p| !p.trim().is_empty())
            .map(|p| kyso_proto::phone::normalize_msisdn(&p))
            .transpose()
            .map_err(|e| Rejection::new(ErrorCode::InvalidPhone, e.to_string()))?;
        let account = Account {
            id: format!("acc_{}", random_b64(16, &URL_SAFE_NO_PAD)?),
            subject: ticket.subject.clone(),
            email,
            phone,
            ial: IAL,
            created_at: now,
        };
        let audit = AuditEntry {
            at: now,
            event: "account.created",
            account_id: Some(account.id.clone()),
            details: serde_json::json!({ "identifier": ticket.subject.identifier, "evidence": ticket.evidence }),
        };
        let created = self
            .store
            .create_account(ticket_id, now, &account, &ticket.certificate, &audit)
            .await
            .map_err(|e| match e {
                CreateAccountError::TicketNotFound => gone(),
                CreateAccountError::AccountExists => Rejection::new(
                    ErrorCode::AccountExists,
                    "this identity already has an account",
                ),
                CreateAccountError::Store(e) => store_failed(e),
            })?;
        Ok(AccountCreated {
            account_id: created.id,
            subject: created.subject,
            ial: created.ial,
            created_at: created.created_at,
        })
    }

    /// Logs in with a token: the account of any identifier the certificate proves, so a
    /// renewed certificate (new key, same CCCD/MST) opens the same account.
    pub async fn login_token(
        &self,
        challenge_id: &str,
        token: &AuthToken,
    ) -> Result<SessionIssued, Rejection> {
        let proof = self.prove(Purpose::Login, challenge_id, token, &[]).await?;
        let account = self.account_of(&proof.subject).await?;
        self.issue_session(account, &proof.record(), proof.evidence())
            .await
    }

    /// The account behind a bearer session token.
    pub async fn account_for_session(&self, session_token: &str) -> Result<Account, Rejection> {
        self.store
            .session_account(&session_hash(session_token), self.clock.now())
            .await
            .map_err(store_failed)?
            .ok_or_else(|| Rejection::new(ErrorCode::Unauthenticated, "no valid session"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn email_shapes() {
        for ok in ["a@b.vn", "ke.toan+kyso@cong-ty.com.vn"] {
            assert!(valid_email(ok), "{ok}");
        }
        for bad in [
            "", "a", "a@b", "@b.vn", "a@.vn", "a@b.", "a b@c.vn", "a@b@c.vn", "a@b .vn",
        ] {
            assert!(!valid_email(bad), "{bad}");
        }
    }
}
