//! The operator's Mobile Signature Service Provider, as the gateway needs it: push a
//! signature request to a phone, then ask where it stands (ETSI TS 102 204 asynchronous
//! client-server mode). A real operator (VNPT, Viettel, MobiFone, a remote-signing
//! service) is plugged in by implementing [`Mssp`]; [`super::mss_http::HttpMssp`] speaks
//! the simulator's protocol.

use crate::domain::SimResult;
use async_trait::async_trait;
use std::time::Duration;

/// A push request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MssRequest {
    /// Our transaction id (ETSI AP_TransID), unique per request.
    pub ap_trans_id: String,
    /// The phone, E.164.
    pub msisdn: String,
    /// The bytes the SIM signs.
    pub data_to_be_signed: Vec<u8>,
    /// The text the phone shows.
    pub display_text: String,
    /// How long the person has to answer.
    pub timeout: Duration,
}

/// A signature the phone returned, not yet checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MssSignature {
    /// The signature bytes.
    pub signature: Vec<u8>,
    /// JOSE name of the algorithm (`RS256`, `ES256`).
    pub algorithm: String,
    /// DER certificates, signer first.
    pub certificate_chain: Vec<Vec<u8>>,
}

/// Where a transaction stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MssStatus {
    /// The person has not answered yet.
    Outstanding,
    /// The phone signed.
    Signed(MssSignature),
    /// It ended without a signature, for this reason (never `Ok` or `VerificationFailed`).
    Failed(SimResult),
}

/// Why a call to the operator gave no status.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MssError {
    /// The operator could not be reached or did not answer in time; worth retrying.
    #[error("the operator is unreachable: {0}")]
    Unreachable(String),
    /// The operator answered something this client does not understand.
    #[error("the operator's answer is unusable: {0}")]
    Garbled(String),
}

impl MssError {
    /// What the person is told: the kind of failure only. The error's own text (the
    /// operator's address, its transaction id, the transport's words) is for the log.
    pub fn public_detail(&self) -> &'static str {
        match self {
            Self::Unreachable(_) => "the operator could not be reached",
            Self::Garbled(_) => "the operator's answer could not be used",
        }
    }
}

/// The operator's signature service.
#[async_trait]
pub trait Mssp: Send + Sync {
    /// Pushes a request to the phone: the operator's transaction id, or the reason it
    /// refused at once (not enrolled, busy, …).
    async fn request_signature(
        &self,
        request: &MssRequest,
    ) -> Result<Result<String, SimResult>, MssError>;

    /// Where transaction `mssp_trans_id` stands, waiting up to `wait` for a change.
    async fn status(&self, mssp_trans_id: &str, wait: Duration) -> Result<MssStatus, MssError>;
}
