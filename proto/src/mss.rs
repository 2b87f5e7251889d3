//! The signing-SIM protocol between the gateway (the Application Provider, AP) and a Mobile
//! Signature Service Provider (MSSP), as the simulator speaks it (design §3).
//!
//! Semantics follow ETSI TS 102 204 (asynchronous client-server mode): the AP sends
//! `DataToBeSigned` and `DataToBeDisplayed` with its own `AP_TransID`, gets an
//! `MSSP_TransID` back, and polls the status until it is a signature or a fault. Status
//! codes are ETSI TS 102 204's, so an adapter for a real operator maps one table.
//!
//! What a SIM signs ([`sim_signed_data`]) and the verification code both screens show
//! ([`verification_code`]) live here too, because the gateway computes them and the phone
//! (simulator) recomputes the code from what it is asked to sign.

use aws_lc_rs::digest;
use serde::{Deserialize, Serialize};

/// `POST /mss/v1/signature`: ask the MSSP to push a signature request to a phone.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SignatureRequest {
    /// The AP's own id for this transaction (ETSI `AP_TransID`), unique per AP.
    pub ap_trans_id: String,
    /// The phone number, E.164.
    pub msisdn: String,
    /// Standard base64 of the bytes the SIM signs ([`sim_signed_data`]).
    pub data_to_be_signed: String,
    /// What the phone shows the person; it carries the verification code.
    pub data_to_be_displayed: String,
    /// Seconds the person has to answer.
    pub timeout_s: u32,
}

/// An ETSI TS 102 204 status: a numeric code and its name.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Status {
    /// The numeric code ([`StatusCode`]).
    pub code: u16,
    /// The code's name (`REQUEST_OK`, `USER_CANCEL`, …).
    pub message: String,
}

impl Status {
    /// The status for a known code.
    pub fn of(code: StatusCode) -> Self {
        Self {
            code: code as u16,
            message: code.name().to_owned(),
        }
    }
}

/// The MSSP accepted a request (`100 REQUEST_OK`) or refused it at once (a fault).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignatureAccepted {
    /// The MSSP's id for the transaction (ETSI `MSSP_TransID`); absent on a fault.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mssp_trans_id: Option<String>,
    /// `100 REQUEST_OK`, or the fault.
    pub status: Status,
}

/// `GET /mss/v1/signature/{mssp_trans_id}?wait_ms=N`: where a transaction stands.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignatureStatus {
    /// The MSSP's transaction id.
    pub mssp_trans_id: String,
    /// The AP's transaction id it belongs to.
    pub ap_trans_id: String,
    /// `504 OUTSTANDING_TRANSACTION`, `500 SIGNATURE` or a fault.
    pub status: Status,
    /// Standard base64 signature, with `500 SIGNATURE`. RSA: PKCS#1 v1.5; ECDSA: raw `r||s`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signature: Option<String>,
    /// JOSE name of the signature algorithm (`RS256`, `ES256`), with `500 SIGNATURE`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub algorithm: Option<String>,
    /// Standard base64 DER certificates, signer first, with `500 SIGNATURE`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub certificate_chain: Vec<String>,
}

/// `GET /mss/v1/certificate?msisdn=…`: the SIM's certificate chain.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CertificateAnswer {
    /// The phone number, E.164.
    pub msisdn: String,
    /// `100 REQUEST_OK` or `404 NO_KEY_FOUND`.
    pub status: Status,
    /// Standard base64 DER certificates, signer first.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub certificate_chain: Vec<String>,
}

/// A request waiting on a phone, as the SIM applet shows it
/// (`GET /device/v1/{msisdn}/requests`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PendingRequest {
    /// The MSSP transaction id, used to confirm or reject.
    pub id: String,
    /// The text the AP asked to display.
    pub display_text: String,
    /// The code the phone computed from what it is asked to sign ([`verification_code`]).
    pub verification_code: String,
    /// Unix seconds after which the request can no longer be answered.
    pub expires_at: i64,
}

/// `POST /device/v1/{msisdn}/requests/{id}/confirm`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConfirmRequest {
    /// The SIM's signing PIN.
    pub pin: String,
}

/// What the phone answers after a confirm or reject.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeviceAnswer {
    /// `SIGNED`, `REJECTED`, `PIN_INCORRECT`, `PIN_BLOCKED`, `NOT_FOUND`.
    pub result: String,
    /// Tries left after a wrong PIN.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tries_left: Option<u8>,
}

/// ETSI TS 102 204 status codes the protocol uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u16)]
pub enum StatusCode {
    /// The request was accepted.
    RequestOk = 100,
    /// A parameter is malformed.
    WrongParam = 101,
    /// A parameter is missing.
    MissingParam = 102,
    /// The data to be signed is too long or empty.
    WrongDataLength = 103,
    /// The AP's credentials are wrong.
    UnauthorizedAccess = 104,
    /// The person did not answer in time.
    ExpiredTransaction = 208,
    /// The request could not be delivered to the phone (over the air).
    OtaError = 209,
    /// The person refused on the phone.
    UserCancel = 401,
    /// The signing PIN is blocked.
    PinBlocked = 402,
    /// The number has no signing key (not a signing SIM, or no such number).
    NoKeyFound = 404,
    /// Another request is outstanding for the number.
    PbSignatureProcess = 406,
    /// The signature is ready.
    Signature = 500,
    /// The person has not answered yet.
    OutstandingTransaction = 504,
    /// The MSSP or the SIM applet failed.
    InternalError = 900,
}

impl StatusCode {
    /// Every code, for lookups.
    pub const ALL: [StatusCode; 14] = [
        Self::RequestOk,
        Self::WrongParam,
        Self::MissingParam,
        Self::WrongDataLength,
        Self::UnauthorizedAccess,
        Self::ExpiredTransaction,
        Self::OtaError,
        Self::UserCancel,
        Self::PinBlocked,
        Self::NoKeyFound,
        Self::PbSignatureProcess,
        Self::Signature,
        Self::OutstandingTransaction,
        Self::InternalError,
    ];

    /// The ETSI name.
    pub fn name(self) -> &'static str {
        match self {
            Self::RequestOk => "REQUEST_OK",
            Self::WrongParam => "WRONG_PARAM",
            Self::MissingParam => "MISSING_PARAM",
            Self::WrongDataLength => "WRONG_DATA_LENGTH",
            Self::UnauthorizedAccess => "UNAUTHORIZED_ACCESS",
            Self::ExpiredTransaction => "EXPIRED_TRANSACTION",
            Self::OtaError => "OTA_ERROR",
            Self::UserCancel => "USER_CANCEL",
            Self::PinBlocked => "PIN_BLOCKED",
            Self::NoKeyFound => "NO_KEY_FOUND",
            Self::PbSignatureProcess => "PB_SIGNATURE_PROCESS",
            Self::Signature => "SIGNATURE",
            Self::OutstandingTransaction => "OUTSTANDING_TRANSACTION",
            Self::InternalError => "INTERNAL_ERROR",
        }
    }

    /// The code with this number, if the protocol knows it.
    pub fn from_code(code: u16) -> Option<Self> {
        Self::ALL.into_iter().find(|c| *c as u16 == code)
    }
}

/// Length of [`sim_signed_data`]: three SHA-256 hashes.
pub const SIM_SIGNED_DATA_LEN: usize = 96;

fn sha256(bytes: &[u8]) -> digest::Digest {
    digest::digest(&digest::SHA256, bytes)
}

/// What a signing SIM signs: `SHA256(origin) || SHA256(nonce) || SHA256(display_text)`
/// (design §3), so the text the phone showed is bound into the signature.
pub fn sim_signed_data(origin: &str, nonce: &str, display_text: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(SIM_SIGNED_DATA_LEN);
    for part in [origin, nonce, display_text] {
        out.extend_from_slice(sha256(part.as_bytes()).as_ref());
    }
    out
}

/// The 4-digit verification code both the web page and the phone show, Mobile-ID's formula
/// `((h[0] & 0xFC) << 5) | (h[31] & 0x7F)` printed as `%04d`, on
/// `h = SHA256(SHA256(origin) || SHA256(nonce))`: the first two thirds of the signed data.
///
/// The code cannot be computed on all of the signed data: that includes the display text,
/// and the display text carries the code. Taking
/// the origin-and-nonce part keeps what the code is for: it changes with every challenge,
/// and a phone recomputes it from the first 64 bytes of what it is asked to sign.
pub fn verification_code(signed_data_prefix: &[u8]) -> String {
    let h = sha256(signed_data_prefix);
    let h = h.as_ref();
    let code = ((u16::from(h[0]) & 0xFC) << 5) | (u16::from(h[31]) & 0x7F);
    format!("{code:04}")
}

/// The code for a SIM signature over `signed_data` ([`sim_signed_data`]): the formula on
/// its origin-and-nonce part. `None` when the data is not 96 bytes.
pub fn verification_code_of_signed_data(signed_data: &[u8]) -> Option<String> {
    (signed_data.len() == SIM_SIGNED_DATA_LEN).then(|| verification_code(&signed_data[..64]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signed_data_is_three_hashes_in_order() {
        let d = sim_signed_data("https://dichvucong.test", "bm9uY2U=", "Mã: 1234");
        assert_eq!(d.len(), SIM_SIGNED_DATA_LEN);
        assert_eq!(&d[..32], sha256(b"https://dichvucong.test").as_ref());
        assert_eq!(&d[32..64], sha256(b"bm9uY2U=").as_ref());
        assert_eq!(&d[64..], sha256("Mã: 1234".as_bytes()).as_ref());
    }

    #[test]
    fn the_code_is_the_mobile_id_formula_on_origin_and_nonce() {
        let d = sim_signed_data("https://dichvucong.test", "bm9uY2U=", "any text");
        let h = sha256(&d[..64]);
        let h = h.as_ref();
        let want = ((u32::from(h[0]) & 0xFC) << 5) | (u32::from(h[31]) & 0x7F);
        let code = verification_code_of_signed_data(&d).unwrap();
        assert_eq!(code.len(), 4);
        assert_eq!(code.parse::<u32>().unwrap(), want);
        // The display text does not move the code; the nonce does.
        let other_text = sim_signed_data("https://dichvucong.test", "bm9uY2U=", "other");
        assert_eq!(verification_code_of_signed_data(&other_text).unwrap(), code);
        let codes: std::collections::HashSet<String> = (0..50)
            .map(|i| verification_code(&sim_signed_data("o", &i.to_string(), "")[..64]))
            .collect();
        assert!(
            codes.len() > 40,
            "codes must vary with the nonce: {codes:?}"
        );
        assert!(verification_code_of_signed_data(&d[..64]).is_none());
    }

    /// `vectors/sim-codes.txt`, made by Python's hashlib (`vectors/sim_codes.py`).
    #[test]
    fn the_codes_match_the_independently_computed_vectors() {
        let vectors = include_str!("../vectors/sim-codes.txt");
        let mut checked = 0;
        for line in vectors.lines().filter(|l| !l.starts_with('#')) {
            let [origin, nonce, want] = line.split('\t').collect::<Vec<_>>()[..] else {
                panic!("malformed vector line {line:?}");
            };
            let d = sim_signed_data(origin, nonce, "any text");
            assert_eq!(
                verification_code_of_signed_data(&d).unwrap(),
                want,
                "{origin} {nonce}"
            );
            checked += 1;
        }
        assert!(checked >= 8, "{checked} vectors");
    }

    #[test]
    fn the_code_matches_an_independent_computation() {
        // Python: h = sha256(sha256(b"https://dichvucong.test") + sha256(b"bm9uY2U="));
        // h[0] = 217, h[31] = 137, ((217 & 0xFC) << 5) | (137 & 0x7F) = 6921.
        let d = sim_signed_data("https://dichvucong.test", "bm9uY2U=", "");
        assert_eq!(verification_code_of_signed_data(&d).unwrap(), "6921");
    }

    #[test]
    fn status_codes_round_trip() {
        for c in StatusCode::ALL {
            assert_eq!(StatusCode::from_code(c as u16), Some(c));
            assert_eq!(Status::of(c).message, c.name());
        }
        assert_eq!(StatusCode::from_code(123), None);
        let json = serde_json::to_string(&Status::of(StatusCode::OutstandingTransaction)).unwrap();
        assert_eq!(json, r#"{"code":504,"message":"OUTSTANDING_TRANSACTION"}"#);
    }
}
