//! A signing-SIM session (design §3): one push request to one phone, from pending to a
//! result that never changes afterwards.

use super::registration::{CertificateRecord, Evidence, Purpose};
use kyso_verify::error::ErrorCode;
use kyso_verify::identity::{Subject, SubjectType};
use time::OffsetDateTime;

/// How a session ended (design §3 results).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
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

    /// The error code a failed result is reported with (`None` for `OK`). A result's
    /// name is its code's name.
    pub fn error_code(self) -> Option<ErrorCode> {
        use ErrorCode as C;
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

    /// The stored and wire name (`OK`, `USER_REFUSED`, …).
    pub fn as_str(self) -> &'static str {
        self.error_code().map_or("OK", ErrorCode::as_str)
    }

    /// The result with this name.
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|r| r.as_str() == name)
    }
}

/// What a complete session produced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SimOutcome {
    /// Registration proven: the ticket to confirm and what the preview shows.
    Registered(Box<Registration>),
    /// Login proven for an account; the session token is made when the browser first
    /// reads the result, and only then (the store never holds a usable token).
    LoggedIn(Box<Login>),
    /// Refused by the gateway: the precise code and what was wrong.
    Refused {
        /// The precise code.
        code: ErrorCode,
        /// The detail.
        detail: String,
    },
}

/// A proven registration waiting for the person's confirmation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Registration {
    /// The identity read from the SIM's certificate.
    pub subject: Subject,
    /// The SIM's certificate, DER (its facts are read again to show them).
    pub certificate: Vec<u8>,
    /// End of the ticket's life.
    pub ticket_expires_at: OffsetDateTime,
}

/// A proven login waiting for the browser to take its session token.
#[derive(Debug, Clone, PartialEq, Eq)]
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
    /// How the store knows it: the [`crate::domain::account::bearer_hash`] of the
    /// unguessable id the browser polls with, which is stored nowhere. A registration's
    /// ticket is stored under the same hash: the id the browser holds is its ticket too.
    pub id: String,
    /// Registering or logging in.
    pub purpose: Purpose,
    /// The phone, E.164.
    pub msisdn: String,
    /// The network the start came from ([`crate::domain::network::network_of`]): the
    /// per-number limit counts per network, so a stranger's starts do not use up the
    /// number's owner's.
    pub requester: String,
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
    /// When it got its result (`None` while pending).
    pub completed_at: Option<OffsetDateTime>,
    /// `None` while pending; the result once complete.
    pub result: Option<SimResult>,
    /// What a complete session produced.
    pub outcome: Option<SimOutcome>,
}

impl SimSession {
    /// The exact bytes the SIM must sign (design §3).
    pub fn signed_data(&self) -> Vec<u8> {
        kyso_proto::mss::sim_signed_data(&self.origin, &self.nonce, &self.display_text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn result_names_are_their_codes_and_round_trip() {
        for r in SimResult::ALL {
            assert_eq!(SimResult::from_name(r.as_str()), Some(r));
            if let Some(code) = r.error_code() {
                assert_eq!(code.as_str(), r.as_str());
            }
        }
        assert_eq!(SimResult::Ok.as_str(), "OK");
        assert_eq!(SimResult::from_name("NOPE"), None);
    }
}
