//! A signing-SIM session as the store keeps it: one push request to one phone, from
//! `pending` to `complete` with a result that never changes afterwards (DESIGN §3).

use crate::store::{CertificateRecord, Evidence, Purpose};
use kyso_verify::certificate::CertificateFacts;
use kyso_verify::identity::{Subject, SubjectType};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

/// How a session ended (DESIGN §3 results).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum SimResult {
    /// The phone signed and our checks passed.
    Ok,
    /// The person refused on the phone.
    UserRefused,
    /// No answer by the deadline.
    Expired,
    /// The number has no signing SIM, or does not exist.
    NotEnrolled,
    /// The SIM's signing PIN is blocked.
    PinBlocked,
    /// The operator could not reach the phone.
    DeliveryFailed,
    /// The SIM or phone failed.
    DeviceError,
    /// Another request was outstanding for the number at the operator.
    Busy,
    /// Our checks on the returned signature or certificate failed.
    VerificationFailed,
    /// The operator's answer was unusable, or it did not answer.
    ProviderError,
}

impl SimResult {
    /// Every result.
    pub const ALL: [SimResult; 10] = [
        Self::Ok,
        Self::UserRefused,
        Self::Expired,
        Self::NotEnrolled,
        Self::PinBlocked,
        Self::DeliveryFailed,
        Self::DeviceError,
        Self::Busy,
        Self::VerificationFailed,
        Self::ProviderError,
    ];

    /// The stored and wire name (`OK`, `USER_REFUSED`, …).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Ok => "OK",
            Self::UserRefused => "USER_REFUSED",
            Self::Expired => "EXPIRED",
            Self::NotEnrolled => "NOT_ENROLLED",
            Self::PinBlocked => "PIN_BLOCKED",
            Self::DeliveryFailed => "DELIVERY_FAILED",
            Self::DeviceError => "DEVICE_ERROR",
            Self::Busy => "BUSY",
            Self::VerificationFailed => "VERIFICATION_FAILED",
            Self::ProviderError => "PROVIDER_ERROR",
        }
    }

    /// The result with this name.
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|r| r.as_str() == name)
    }

    /// The error code a failed result is reported with (`None` for `OK`).
    pub fn error_code(self) -> Option<kyso_verify::error::ErrorCode> {
        use kyso_verify::error::ErrorCode as C;
        Some(match self {
            Self::Ok => return None,
            Self::UserRefused => C::UserRefused,
            Self::Expired => C::Expired,
            Self::NotEnrolled => C::NotEnrolled,
            Self::PinBlocked => C::PinBlocked,
            Self::DeliveryFailed => C::DeliveryFailed,
            Self::DeviceError => C::DeviceError,
            Self::Busy => C::Busy,
            Self::VerificationFailed => C::VerificationFailed,
            Self::ProviderError => C::ProviderError,
        })
    }
}

/// What a complete session produced, kept as JSON beside the result.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum SimOutcome {
    /// Registration proven: the ticket to confirm and the preview it shows.
    Registered(Box<Registration>),
    /// Login proven for an account; the session token is made when the browser first
    /// reads the result, and only then (the store never holds a usable token).
    LoggedIn(Box<Login>),
    /// Refused by the gateway: the precise code and what was wrong.
    Refused {
        /// An [`kyso_verify::error::ErrorCode`] name.
        code: String,
        /// The detail.
        detail: String,
    },
}

/// A proven registration waiting for the person's confirmation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Registration {
    /// The single-use ticket (also in the tickets table).
    pub ticket: String,
    /// The identity read from the SIM's certificate.
    pub subject: Subject,
    /// The certificate.
    pub certificate: CertificateFacts,
    /// End of the ticket's life.
    #[serde(with = "time::serde::timestamp")]
    pub ticket_expires_at: OffsetDateTime,
}

/// A proven login waiting for the browser to take its session token.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Login {
    /// The account.
    pub account_id: String,
    /// The certificate used, for the account's records.
    pub certificate: CertificateRecord,
    /// The proof, for the audit log.
    pub evidence: Evidence,
}

/// One push request and what became of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SimSession {
    /// Public, unguessable id (the browser polls with it).
    pub id: String,
    /// Registering or logging in.
    pub purpose: Purpose,
    /// The phone, E.164.
    pub msisdn: String,
    /// The account type asked for, if any.
    pub subject_type: Option<SubjectType>,
    /// The origin bound into the signed data.
    pub origin: String,
    /// The nonce bound into the signed data (standard base64 of 32 random bytes).
    pub nonce: String,
    /// What the phone shows; bound into the signed data.
    pub display_text: String,
    /// The code both screens show.
    pub verification_code: String,
    /// Our transaction id at the operator (ETSI AP_TransID).
    pub ap_trans_id: String,
    /// The operator's transaction id, once it accepted the request.
    pub mssp_trans_id: Option<String>,
    /// When it started.
    pub created_at: OffsetDateTime,
    /// The person must answer by then (the request's timeout at the operator).
    pub answer_by: OffsetDateTime,
    /// Hard expiry: the gateway stops waiting for the operator then.
    pub expires_at: OffsetDateTime,
    /// `None` while pending; the result once complete.
    pub result: Option<SimResult>,
    /// What a complete session produced.
    pub outcome: Option<SimOutcome>,
}

impl SimSession {
    /// The exact bytes the SIM must sign (DESIGN §3).
    pub fn signed_data(&self) -> Vec<u8> {
        kyso_proto::mss::sim_signed_data(&self.origin, &self.nonce, &self.display_text)
    }
}
