//! Fuzzes what the gateway reads from a certificate it has not verified yet: the identity
//! rules (design §5), the facts shown by `inspect` and the registration preview, and the
//! revocation pointers (AIA, CRLDP) that decide where the gateway fetches status from.
//!
//! Fed: the input as DER → `x509_parser::parse_x509_certificate` → when it parses,
//! `identity::extract_subject(&cert, 2026)`, `certificate::CertificateFacts::of(&cert,
//! data)` and `certificate::RevocationPointers::of(&cert)`.
//!
//! Must never happen: a panic (slicing, arithmetic overflow, an unwrap on odd string
//! types or dates), a hang, an unbounded allocation — for any input.

use kyso_verify::certificate::{CertificateFacts, RevocationPointers};
use kyso_verify::identity::extract_subject;

/// One input, as the fuzzer gives it.
pub fn run(data: &[u8]) {
    let Ok((_rest, cert)) = x509_parser::parse_x509_certificate(data) else {
        return;
    };
    let _ = extract_subject(&cert, 2026);
    let facts = CertificateFacts::of(&cert, data);
    // The facts are served as JSON by `inspect`; serialising them must not fail either.
    let _ = serde_json::to_vec(&facts);
    let _ = RevocationPointers::of(&cert);
}
