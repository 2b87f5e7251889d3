//! Fuzzes the decoding of what a CRL distribution point served (RFC 5280 §5). The URL
//! comes from the unverified certificate itself (CRLDP), so the bytes are untrusted.
//!
//! Fed: the input → `revocation::crl::decode` (DER, or PEM when it starts like PEM).
//!
//! Must never happen: a panic, a hang, an unbounded allocation — for any input.

/// One input, as the fuzzer gives it.
pub fn run(data: &[u8]) {
    let _ = kyso_verify::revocation::crl::decode(data);
}
