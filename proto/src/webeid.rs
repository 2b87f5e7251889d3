//! The Web eID 1.0 authentication token (design §2).
//!
//! The format is Web eID's own (`web-eid:1.0`), so a token made by the real Web eID app
//! verifies here unchanged. What is signed is `H(origin) || H(nonce)`: hashing each part
//! separately keeps the two fields from being confused with each other, and binding the
//! origin stops a page on another site from relaying a challenge to the user.

use aws_lc_rs::digest;
use serde::{Deserialize, Serialize};

/// The only token format this crate speaks.
pub const FORMAT: &str = "web-eid:1.0";

/// The token the signing agent returns and the gateway verifies.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct AuthToken {
    /// Always [`FORMAT`]; checked by the verifier, kept as text so unknown versions are
    /// reported as such rather than as a JSON error.
    #[cfg_attr(
        feature = "openapi",
        schema(example = "web-eid:1.0", pattern = "^web-eid:1\\.0$")
    )]
    pub format: String,
    /// Base64 (standard) DER of the signer's certificate; "unverified" until the chain is.
    pub unverified_certificate: String,
    /// JOSE algorithm name, see [`SignatureAlgorithm`].
    #[cfg_attr(
        feature = "openapi",
        schema(example = "ES256", pattern = "^(RS|PS|ES)(256|384|512)$")
    )]
    pub algorithm: String,
    /// Base64 (standard) signature over [`signed_data`].
    pub signature: String,
    /// Identifies the agent that made the token, for support and audit only.
    pub app_version: String,
}

/// The signature algorithms a token may name (JOSE names, RFC 7518 §3.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SignatureAlgorithm {
    /// RSASSA-PKCS1-v1_5 with SHA-256.
    Rs256,
    /// RSASSA-PKCS1-v1_5 with SHA-384.
    Rs384,
    /// RSASSA-PKCS1-v1_5 with SHA-512.
    Rs512,
    /// RSASSA-PSS with SHA-256 and MGF1 with SHA-256.
    Ps256,
    /// RSASSA-PSS with SHA-384 and MGF1 with SHA-384.
    Ps384,
    /// RSASSA-PSS with SHA-512 and MGF1 with SHA-512.
    Ps512,
    /// ECDSA with SHA-256 (P-256), raw `r||s`.
    Es256,
    /// ECDSA with SHA-384 (P-384), raw `r||s`.
    Es384,
    /// ECDSA with SHA-512 (P-521), raw `r||s`.
    Es512,
}

/// A token named an algorithm that is not in [`SignatureAlgorithm`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unsupported signature algorithm {0:?}")]
pub struct UnsupportedAlgorithm(pub String);

impl SignatureAlgorithm {
    /// Every algorithm, for agents that advertise what they can do.
    pub const ALL: [SignatureAlgorithm; 9] = [
        Self::Rs256,
        Self::Rs384,
        Self::Rs512,
        Self::Ps256,
        Self::Ps384,
        Self::Ps512,
        Self::Es256,
        Self::Es384,
        Self::Es512,
    ];

    /// The JOSE name that travels in the token.
    pub fn name(self) -> &'static str {
        match self {
            Self::Rs256 => "RS256",
            Self::Rs384 => "RS384",
            Self::Rs512 => "RS512",
            Self::Ps256 => "PS256",
            Self::Ps384 => "PS384",
            Self::Ps512 => "PS512",
            Self::Es256 => "ES256",
            Self::Es384 => "ES384",
            Self::Es512 => "ES512",
        }
    }

    /// Parses a JOSE name exactly (case matters, as in JOSE).
    pub fn from_name(name: &str) -> Result<Self, UnsupportedAlgorithm> {
        Self::ALL
            .into_iter()
            .find(|a| a.name() == name)
            .ok_or_else(|| UnsupportedAlgorithm(name.to_owned()))
    }

    /// The hash H of design §2 for this algorithm.
    pub fn digest(self) -> &'static digest::Algorithm {
        match self {
            Self::Rs256 | Self::Ps256 | Self::Es256 => &digest::SHA256,
            Self::Rs384 | Self::Ps384 | Self::Es384 => &digest::SHA384,
            Self::Rs512 | Self::Ps512 | Self::Es512 => &digest::SHA512,
        }
    }
}

/// The bytes a token signs: `H(origin) || H(nonce)`, with the nonce hashed as the UTF-8
/// bytes of its base64 text exactly as the gateway issued it.
pub fn signed_data(algorithm: SignatureAlgorithm, origin: &str, nonce: &str) -> Vec<u8> {
    let h = algorithm.digest();
    let mut out = Vec::with_capacity(2 * h.output_len());
    out.extend_from_slice(digest::digest(h, origin.as_bytes()).as_ref());
    out.extend_from_slice(digest::digest(h, nonce.as_bytes()).as_ref());
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn algorithm_names_round_trip_and_are_case_sensitive() {
        for a in SignatureAlgorithm::ALL {
            assert_eq!(SignatureAlgorithm::from_name(a.name()), Ok(a));
        }
        assert!(SignatureAlgorithm::from_name("rs256").is_err());
        assert!(SignatureAlgorithm::from_name("HS256").is_err());
        assert!(SignatureAlgorithm::from_name("").is_err());
    }

    #[test]
    fn signed_data_is_hash_of_origin_then_hash_of_nonce() {
        let d = signed_data(SignatureAlgorithm::Es384, "https://ria.ee", "abc");
        assert_eq!(d.len(), 96);
        assert_eq!(
            &d[..48],
            digest::digest(&digest::SHA384, b"https://ria.ee").as_ref()
        );
        assert_eq!(&d[48..], digest::digest(&digest::SHA384, b"abc").as_ref());
        // Swapping the two fields must change what is signed.
        assert_ne!(
            d,
            signed_data(SignatureAlgorithm::Es384, "abc", "https://ria.ee")
        );
        assert_eq!(signed_data(SignatureAlgorithm::Rs256, "o", "n").len(), 64);
        assert_eq!(signed_data(SignatureAlgorithm::Ps512, "o", "n").len(), 128);
    }

    #[test]
    fn token_json_uses_web_eid_field_names() {
        let json = r#"{"format":"web-eid:1.0","unverifiedCertificate":"AA==","algorithm":"ES256","signature":"AA==","appVersion":"https://x/kyso-shim/0.1.0"}"#;
        let t: AuthToken = serde_json::from_str(json).unwrap();
        assert_eq!(t.format, FORMAT);
        assert_eq!(serde_json::to_string(&t).unwrap(), json);
    }
}
