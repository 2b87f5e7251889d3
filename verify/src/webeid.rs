//! Verifying a Web eID 1.0 authentication token (design §2) against a challenge.
//!
//! Order: decode the token, run the certificate's cheap policy checks, verify the
//! signature over `H(origin) || H(nonce)` with the certificate's key, then the path and
//! revocation. The signature is checked before the path so that a token made for another
//! origin or nonce is `SIGNATURE_INVALID` whatever its certificate.

use crate::error::{ErrorCode, Rejection};
use crate::policy::{CertificatePolicy, KeyKind};
use aws_lc_rs::signature::{self, UnparsedPublicKey, VerificationAlgorithm};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use kyso_proto::webeid::{AuthToken, FORMAT, SignatureAlgorithm, signed_data};
use time::OffsetDateTime;
use x509_parser::certificate::X509Certificate;

/// A token whose fields decoded, not yet verified.
#[derive(Debug, Clone)]
pub struct DecodedToken {
    /// The named algorithm.
    pub algorithm: SignatureAlgorithm,
    /// The signer's certificate, DER.
    pub certificate: Vec<u8>,
    /// The signature bytes.
    pub signature: Vec<u8>,
}

/// What a verified token proves, with the evidence the audit log keeps.
#[derive(Debug, Clone)]
pub struct VerifiedToken {
    /// The signer's certificate, DER; it passed the policy.
    pub certificate: Vec<u8>,
    /// The algorithm used.
    pub algorithm: SignatureAlgorithm,
    /// Exactly what was signed.
    pub signed_data: Vec<u8>,
    /// The signature.
    pub signature: Vec<u8>,
}

fn malformed(detail: &str) -> Rejection {
    Rejection::new(ErrorCode::MalformedToken, detail)
}

/// Checks the format and decodes the base64 fields.
pub fn decode(token: &AuthToken) -> Result<DecodedToken, Rejection> {
    if token.format != FORMAT {
        return Err(malformed("format must be web-eid:1.0"));
    }
    let algorithm = SignatureAlgorithm::from_name(&token.algorithm)
        .map_err(|e| Rejection::new(ErrorCode::UnsupportedAlgorithm, e.to_string()))?;
    let certificate = STANDARD
        .decode(&token.unverified_certificate)
        .map_err(|_| malformed("unverifiedCertificate is not standard base64"))?;
    let signature = STANDARD
        .decode(&token.signature)
        .map_err(|_| malformed("signature is not standard base64"))?;
    Ok(DecodedToken {
        algorithm,
        certificate,
        signature,
    })
}

fn verification_algorithm(
    alg: SignatureAlgorithm,
    key: KeyKind,
) -> Option<&'static dyn VerificationAlgorithm> {
    use SignatureAlgorithm as A;
    Some(match (alg, key) {
        (A::Rs256, KeyKind::Rsa(_)) => &signature::RSA_PKCS1_2048_8192_SHA256,
        (A::Rs384, KeyKind::Rsa(_)) => &signature::RSA_PKCS1_2048_8192_SHA384,
        (A::Rs512, KeyKind::Rsa(_)) => &signature::RSA_PKCS1_2048_8192_SHA512,
        (A::Ps256, KeyKind::Rsa(_)) => &signature::RSA_PSS_2048_8192_SHA256,
        (A::Ps384, KeyKind::Rsa(_)) => &signature::RSA_PSS_2048_8192_SHA384,
        (A::Ps512, KeyKind::Rsa(_)) => &signature::RSA_PSS_2048_8192_SHA512,
        (A::Es256, KeyKind::EcP256) => &signature::ECDSA_P256_SHA256_FIXED,
        (A::Es384, KeyKind::EcP384) => &signature::ECDSA_P384_SHA384_FIXED,
        _ => return None,
    })
}

/// Checks `signature`, made with `algorithm`, over `data` with the key in `public_key`
/// (the SubjectPublicKeyInfo's BIT STRING contents) of a certificate whose key is `key`.
/// Shared by tokens (design §2) and signing SIMs (§3).
pub fn check_signature(
    algorithm: SignatureAlgorithm,
    key: KeyKind,
    public_key: &[u8],
    data: &[u8],
    signature: &[u8],
) -> Result<(), Rejection> {
    let alg = verification_algorithm(algorithm, key).ok_or_else(|| {
        Rejection::new(
            ErrorCode::SignatureInvalid,
            format!(
                "{} does not fit the certificate's {key:?} key",
                algorithm.name()
            ),
        )
    })?;
    UnparsedPublicKey::new(alg, public_key)
        .verify(data, signature)
        .map_err(|_| {
            Rejection::new(
                ErrorCode::SignatureInvalid,
                "the signature does not verify for this certificate and the data the gateway expects",
            )
        })
}

/// Verifies the token's signature over `H(origin) || H(nonce)` with the key in
/// `public_key` (the SubjectPublicKeyInfo's BIT STRING contents). Returns the signed data.
pub fn verify_signature(
    token: &DecodedToken,
    key: KeyKind,
    public_key: &[u8],
    origin: &str,
    nonce: &str,
) -> Result<Vec<u8>, Rejection> {
    let data = signed_data(token.algorithm, origin, nonce);
    check_signature(token.algorithm, key, public_key, &data, &token.signature)?;
    Ok(data)
}

/// Verifies a token for `origin` and `nonce` at `at` under `policy`, revocation included;
/// `extra` are intermediates that travelled with the token.
pub async fn verify_auth_token(
    policy: &CertificatePolicy,
    token: &AuthToken,
    extra: &[Vec<u8>],
    origin: &str,
    nonce: &str,
    at: OffsetDateTime,
) -> Result<VerifiedToken, Rejection> {
    let (verified, ()) =
        verify_auth_token_reading(policy, token, extra, origin, nonce, at, |_, _| Ok(())).await?;
    Ok(verified)
}

/// As [`verify_auth_token`], and then `read`s what the caller needs (the identity, the
/// certificate's facts) from the verified certificate and its DER, so that a request
/// parses the signer's certificate once. `read` runs only when every check passed.
pub async fn verify_auth_token_reading<T>(
    policy: &CertificatePolicy,
    token: &AuthToken,
    extra: &[Vec<u8>],
    origin: &str,
    nonce: &str,
    at: OffsetDateTime,
    read: impl FnOnce(&X509Certificate<'_>, &[u8]) -> Result<T, Rejection>,
) -> Result<(VerifiedToken, T), Rejection> {
    let decoded = decode(token)?;
    let (rest, cert) = x509_parser::parse_x509_certificate(&decoded.certificate)
        .map_err(|e| malformed(&format!("unverifiedCertificate: {e}")))?;
    if !rest.is_empty() {
        return Err(malformed("unverifiedCertificate has trailing bytes"));
    }
    let key = policy.check_leaf(&cert)?;
    let signed = verify_signature(
        &decoded,
        key,
        &cert.public_key().subject_public_key.data,
        origin,
        nonce,
    )?;
    let path = policy.check_path(&cert, &decoded.certificate, extra, at)?;
    policy.check_revocation(&path).await?;
    let read = read(&cert, &decoded.certificate)?;
    let verified = VerifiedToken {
        algorithm: decoded.algorithm,
        signed_data: signed,
        signature: decoded.signature,
        certificate: decoded.certificate,
    };
    Ok((verified, read))
}

/// Each verdict of a token on its own, for `kyso-gateway verify-token`.
#[derive(Debug, Clone)]
pub struct TokenReport {
    /// The signature over `H(origin) || H(nonce)`.
    pub signature: Result<(), Rejection>,
    /// The certificate policy (leaf checks and path).
    pub chain: Result<(), Rejection>,
    /// The identity rules.
    pub identity: Result<(), Rejection>,
    /// The identity, when the rules gave one.
    pub subject: Option<crate::identity::Subject>,
}

/// Runs signature, chain (revocation included) and identity checks independently, so an
/// operator sees all three.
pub async fn report(
    policy: &CertificatePolicy,
    token: &AuthToken,
    origin: &str,
    nonce: &str,
    at: OffsetDateTime,
) -> TokenReport {
    let failed = |r: Rejection| TokenReport {
        signature: Err(r.clone()),
        chain: Err(r.clone()),
        identity: Err(r),
        subject: None,
    };
    let decoded = match decode(token) {
        Ok(d) => d,
        Err(r) => return failed(r),
    };
    let cert = match x509_parser::parse_x509_certificate(&decoded.certificate) {
        Ok((_, c)) => c,
        Err(e) => return failed(malformed(&format!("unverifiedCertificate: {e}"))),
    };
    let key = crate::policy::key_of(&cert);
    let signature = key.and_then(|k| {
        verify_signature(
            &decoded,
            k,
            &cert.public_key().subject_public_key.data,
            origin,
            nonce,
        )
        .map(|_| ())
    });
    let chain = policy
        .verify(&decoded.certificate, &[], at)
        .await
        .map(|_| ());
    let (identity, subject) = match crate::identity::extract_subject(&cert, at.year()) {
        Ok(s) => (Ok(()), Some(s)),
        Err(e) => (Err(e.into()), None),
    };
    TokenReport {
        signature,
        chain,
        identity,
        subject,
    }
}
