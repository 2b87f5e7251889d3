//! Fuzzes the verification of a JWS a portal sends the OpenID Provider (a
//! `private_key_jwt` client assertion) against the portal's JWK Set (design §12).
//!
//! Fed: the input as UTF-8, `JWKS\nTOKEN` (a JWK Set's JSON, a newline, a compact JWS) →
//! `jose::verify`. Without a newline the whole input is the token and the JWK Set is
//! empty.
//!
//! Must never happen: a panic (base64, JSON, key material, slicing), a token accepted
//! with an algorithm other than ES256 or RS256, or a token still accepted after a byte
//! of its signature changed.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use kyso_proto::jose;

/// One input, as the fuzzer gives it.
pub fn run(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let (jwks, token) = text.split_once('\n').unwrap_or(("{\"keys\":[]}", text));
    let Ok(jwks) = serde_json::from_str::<serde_json::Value>(jwks) else {
        return;
    };
    if jose::verify(token, &jwks).is_err() {
        return;
    }
    let header = token.split('.').next().unwrap_or_default();
    let header: serde_json::Value = serde_json::from_slice(
        &URL_SAFE_NO_PAD.decode(header).expect("an accepted header is base64url"),
    )
    .expect("an accepted header is JSON");
    assert!(
        matches!(header["alg"].as_str(), Some("ES256" | "RS256")),
        "accepted alg {:?}",
        header["alg"]
    );
    let (signed, signature) = token.rsplit_once('.').expect("three parts");
    let mut bytes = URL_SAFE_NO_PAD.decode(signature).expect("base64url");
    bytes[0] ^= 1;
    let changed = format!("{signed}.{}", URL_SAFE_NO_PAD.encode(&bytes));
    assert!(
        jose::verify(&changed, &jwks).is_err(),
        "a changed signature was accepted"
    );
}
