//! Fuzzes what the gateway does with a Web eID auth token before it trusts anything
//! (`POST /register/token`, `POST /login/token`, `verify-token`).
//!
//! Fed: the input as the JSON body (`serde_json` → `AuthToken`), then
//! `kyso_verify::webeid::decode`; and, separately, the raw input as the certificate bytes
//! of a well-formed token (base64 in `unverifiedCertificate`), through `decode`,
//! `x509_parser::parse_x509_certificate`, `policy::key_of` and `webeid::verify_signature`
//! (the steps `verify_auth_token` runs before the path check).
//!
//! Must never happen: a panic, a hang, an unbounded allocation — for any input.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use kyso_proto::webeid::{AuthToken, FORMAT};
use kyso_verify::webeid::{DecodedToken, decode, verify_signature};

const ORIGIN: &str = "https://kyso.test";
const NONCE: &str = "MTIzNDU2NzgxMjM0NTY3ODEyMzQ1Njc4MTIzNDU2Nzg=";

/// What `verify_auth_token` does with the decoded bytes before any trust decision.
fn pre_trust(decoded: &DecodedToken) {
    let Ok((_rest, cert)) = x509_parser::parse_x509_certificate(&decoded.certificate) else {
        return;
    };
    if let Ok(key) = kyso_verify::policy::key_of(&cert) {
        let _ = verify_signature(
            decoded,
            key,
            &cert.public_key().subject_public_key.data,
            ORIGIN,
            NONCE,
        );
    }
}

/// One input, as the fuzzer gives it.
pub fn run(data: &[u8]) {
    // 1. The input is the JSON body.
    if let Ok(token) = serde_json::from_slice::<AuthToken>(data)
        && let Ok(decoded) = decode(&token)
    {
        pre_trust(&decoded);
    }

    // 2. The input is the certificate a well-formed token carries; the signature is the
    //    input too, so that signature parsing sees arbitrary bytes of every length.
    let token = AuthToken {
        format: FORMAT.to_owned(),
        unverified_certificate: STANDARD.encode(data),
        algorithm: ["ES256", "ES384", "RS256", "PS256"][data.len() % 4].to_owned(),
        signature: STANDARD.encode(data),
        app_version: "fuzz".to_owned(),
    };
    match decode(&token) {
        Ok(decoded) => {
            assert_eq!(decoded.certificate, data, "base64 must round-trip");
            pre_trust(&decoded);
        }
        Err(rejection) => panic!("a well-formed token was refused: {rejection:?}"),
    }
}
