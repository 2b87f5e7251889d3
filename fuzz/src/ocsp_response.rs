//! Fuzzes the OCSP client's handling of a responder's answer (RFC 6960). The bytes come
//! from the network, from a URL the unverified certificate itself names (AIA), so they are
//! untrusted until their signature has been checked.
//!
//! Fed: the input → `revocation::ocsp::parse_response`; when it parses, `verify_response`
//! against a fixed issuer (the test PKI's VNPT CA, `seeds/fixtures/issuer.der`) at a fixed
//! time (`seeds/fixtures/verify-at.txt`, one minute after the seed responses were made),
//! with `OcspRules { clock_skew: 5 min, max_age: 1 h, require_nonce: true,
//! allow_sha1: false }`, for
//! - the CertID of a fixed leaf (`seeds/fixtures/leaf.der`, the "good" person), with the
//!   nonce the response carries echoed as if it had been sent (so the checks after the
//!   signature are reachable), and
//! - a CertID with the issuer's hashes and the serial the response names, once with a
//!   nonce that was never in it and once with no nonce sent.
//!
//! Must never happen: a panic (date arithmetic, slicing), a hang, an unbounded
//! allocation — for any input; and a verified answer for the wrong certificate.

use kyso_verify::revocation::ocsp::{
    BasicResponse, CertId, OcspRules, parse_response, verify_response,
};
use std::sync::OnceLock;
use time::{Duration, OffsetDateTime};

static ISSUER_DER: &[u8] = include_bytes!("../seeds/fixtures/issuer.der");
static LEAF_DER: &[u8] = include_bytes!("../seeds/fixtures/leaf.der");
static VERIFY_AT: &str = include_str!("../seeds/fixtures/verify-at.txt");

const RULES: OcspRules = OcspRules {
    clock_skew: Duration::minutes(5),
    max_age: Duration::hours(1),
    require_nonce: true,
    allow_sha1: false,
};

/// The nonce as it was sent: the contents of the OCTET STRING in the extension's value.
fn sent_nonce(response: &BasicResponse) -> Option<Vec<u8>> {
    let value = response.nonce.as_deref()?;
    octet_string_contents(value)
}

/// Unwraps a short-form or long-form DER OCTET STRING without another dependency.
fn octet_string_contents(der: &[u8]) -> Option<Vec<u8>> {
    let (&tag, rest) = der.split_first()?;
    if tag != 0x04 {
        return None;
    }
    let (&first, rest) = rest.split_first()?;
    let (len, body) = if first < 0x80 {
        (usize::from(first), rest)
    } else {
        let n = usize::from(first & 0x7f);
        if n == 0 || n > 4 || rest.len() < n {
            return None;
        }
        let len = rest[..n]
            .iter()
            .fold(0usize, |a, b| (a << 8) | usize::from(*b));
        (len, &rest[n..])
    };
    (body.len() == len).then(|| body.to_vec())
}

/// `KYSO_FUZZ_VERBOSE=1` prints the verdicts, to see what a seed or an artifact reaches.
fn verbose() -> bool {
    static VERBOSE: OnceLock<bool> = OnceLock::new();
    *VERBOSE.get_or_init(|| std::env::var_os("KYSO_FUZZ_VERBOSE").is_some())
}

/// One input, as the fuzzer gives it.
pub fn run(data: &[u8]) {
    let response = match parse_response(data) {
        Ok(response) => response,
        Err(e) => {
            if verbose() {
                eprintln!("parse_response: {e}");
            }
            return;
        }
    };
    let (_, issuer) = x509_parser::parse_x509_certificate(ISSUER_DER).expect("issuer.der");
    let (_, leaf) = x509_parser::parse_x509_certificate(LEAF_DER).expect("leaf.der");
    let at = OffsetDateTime::from_unix_timestamp(VERIFY_AT.trim().parse().expect("verify-at"))
        .expect("verify-at");

    let fixed = CertId::of(&leaf, &issuer);
    let echoed = sent_nonce(&response);
    let verdict = verify_response(&response, &fixed, &issuer, echoed.as_deref(), at, &RULES);
    if verbose() {
        eprintln!("verify_response (fixed leaf, nonce echoed): {verdict:?}");
    }
    if let Ok(answer) = verdict {
        // A verified answer must be about the certificate asked for, and not reusable
        // past the allowed age.
        assert!(
            response.responses.iter().any(|s| s.cert_id == fixed),
            "verified an answer that names another certificate"
        );
        if let (Some(until), Some(cap)) = (
            answer.reusable_until,
            answer.this_update.checked_add(RULES.max_age),
        ) {
            assert!(until <= cap, "reusable past the allowed age");
        }
    }

    let named = CertId {
        serial: response
            .responses
            .first()
            .map(|s| s.cert_id.serial.clone())
            .unwrap_or_default(),
        ..fixed
    };
    // No response can carry this nonce with a valid signature, so with `require_nonce` every
    // answer must be refused (NonceMismatch or NonceMissing, or earlier).
    let foreign = [0x5a_u8; 32];
    assert!(
        verify_response(&response, &named, &issuer, Some(&foreign), at, &RULES).is_err(),
        "verified an answer without the nonce that was sent"
    );
    let unsent = verify_response(&response, &named, &issuer, None, at, &RULES);
    if verbose() {
        eprintln!("verify_response (named serial, no nonce sent): {unsent:?}");
    }
}
