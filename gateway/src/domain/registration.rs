//! Challenges, tickets and the evidence of a proof: the steps from "sign this" to a
//! verified identity waiting for the person's confirmation (design §2, §4).

use kyso_verify::certificate::CertificateFacts;
use kyso_verify::identity::Subject;
use time::OffsetDateTime;

/// What a challenge (or a signing-SIM session) is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purpose {
    /// Registering a new account.
    Register,
    /// Logging in to an existing one.
    Login,
}

impl Purpose {
    /// The canonical name (`register`, `login`), as stored and on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Register => "register",
            Self::Login => "login",
        }
    }

    /// The purpose with this name.
    pub fn from_name(name: &str) -> Option<Self> {
        match name {
            "register" => Some(Self::Register),
            "login" => Some(Self::Login),
            _ => None,
        }
    }
}

/// A single-use challenge: the nonce a token signs, bound to a purpose and an origin.
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

/// The certificate facts kept per account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertificateRecord {
    /// SHA-256 of the DER, hex.
    pub fingerprint: String,
    /// Issuer DN for display.
    pub issuer: String,
    /// Serial, hex.
    pub serial: String,
    /// notAfter.
    pub not_after: OffsetDateTime,
}

impl CertificateRecord {
    /// The record of a certificate whose facts were read.
    pub fn of(facts: &CertificateFacts) -> Self {
        Self {
            fingerprint: facts.fingerprint_sha256.clone(),
            issuer: facts.issuer.clone(),
            serial: facts.serial.clone(),
            not_after: facts.not_after,
        }
    }
}

/// How a proof was made.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    /// A USB token through the signing agent.
    Token,
    /// A signing SIM through the operator.
    Sim,
}

impl Method {
    /// `token` or `sim`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Token => "token",
            Self::Sim => "sim",
        }
    }

    /// The method with this name.
    pub fn from_name(name: &str) -> Option<Self> {
        match name {
            "token" => Some(Self::Token),
            "sim" => Some(Self::Sim),
            _ => None,
        }
    }
}

/// What was signed and how: enough to verify a registration or login again later.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Evidence {
    /// Token or SIM.
    pub method: Method,
    /// The challenge id (or the SIM session id).
    pub challenge_id: String,
    /// Exactly what was signed.
    pub signed_data: Vec<u8>,
    /// The signature.
    pub signature: Vec<u8>,
    /// Signature algorithm name (`RS256`, `ES256`, …).
    pub algorithm: String,
    /// The signer's certificate, DER.
    pub certificate: Vec<u8>,
}

/// A registration ticket: a verified identity waiting for the person's confirmation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ticket {
    /// How the store knows it: the [`crate::domain::account::bearer_hash`] of the
    /// unguessable ticket the browser holds, which is stored nowhere.
    pub id: String,
    /// End of its life.
    pub expires_at: OffsetDateTime,
    /// The verified identity.
    pub subject: Subject,
    /// The certificate that proved it.
    pub certificate: CertificateRecord,
    /// The proof, for the audit log.
    pub evidence: Evidence,
}

/// The identity preview (design §4): what the certificate proves, and the ticket that
/// turns it into an account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Preview {
    /// Single-use ticket for the confirmation.
    pub ticket: String,
    /// The identity read from the certificate.
    pub subject: Subject,
    /// The certificate that proved it.
    pub certificate: CertificateFacts,
    /// End of the ticket's life.
    pub expires_at: OffsetDateTime,
}
