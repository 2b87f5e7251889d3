//! Fuzzes the operator's (MSSP's) answers as the gateway reads them (design §3): the JSON
//! of a signature status, an accepted request and a certificate answer, the status codes
//! in them, and the verification code computed from what the SIM signed.
//!
//! Fed: the input as JSON → `SignatureStatus`, `SignatureAccepted`, `CertificateAnswer`
//! (kyso-proto's `mss` types); every decoded status code through `StatusCode::from_code`;
//! the raw input through `verification_code_of_signed_data`.
//!
//! Must never happen: a panic; a decoded answer that does not encode and decode back to
//! itself; a known status code whose name maps back to another code; a verification
//! code that is not four decimal digits, or one for data that is not 96 bytes.

use kyso_proto::mss::{
    CertificateAnswer, SIM_SIGNED_DATA_LEN, SignatureAccepted, SignatureStatus, StatusCode,
    verification_code_of_signed_data,
};
use serde::Serialize;
use serde::de::DeserializeOwned;

fn round_trips<T: Serialize + DeserializeOwned + PartialEq + std::fmt::Debug>(
    data: &[u8],
) -> Option<T> {
    let value: T = serde_json::from_slice(data).ok()?;
    let again: T = serde_json::from_slice(&serde_json::to_vec(&value).expect("encodes"))
        .expect("decodes what it encoded");
    assert_eq!(again, value);
    Some(value)
}

fn status_code(code: u16) {
    if let Some(known) = StatusCode::from_code(code) {
        let name = known.name();
        assert!(!name.is_empty() && name.bytes().all(|b| b.is_ascii_uppercase() || b == b'_'));
        assert_eq!(StatusCode::from_code(code), Some(known));
    }
}

/// One input, as the fuzzer gives it.
pub fn run(data: &[u8]) {
    if let Some(s) = round_trips::<SignatureStatus>(data) {
        status_code(s.status.code);
    }
    if let Some(a) = round_trips::<SignatureAccepted>(data) {
        status_code(a.status.code);
    }
    if let Some(c) = round_trips::<CertificateAnswer>(data) {
        status_code(c.status.code);
    }
    match verification_code_of_signed_data(data) {
        Some(code) => {
            assert_eq!(data.len(), SIM_SIGNED_DATA_LEN);
            assert!(
                code.len() == 4 && code.bytes().all(|b| b.is_ascii_digit()),
                "{code}"
            );
        }
        None => assert_ne!(data.len(), SIM_SIGNED_DATA_LEN),
    }
}
