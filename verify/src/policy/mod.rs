//! The certificate policy of design §6: is this certificate fit to prove an identity now?
//!
//! Checks, in this order (cheapest and most specific first, so the code a person sees is
//! the most useful one):
//! 1. the certificate parses (`MALFORMED_TOKEN`);
//! 2. its signature algorithm is not SHA-1 unless the legacy switch is on
//!    (`WEAK_SIGNATURE_ALGORITHM`);
//! 3. its key is RSA of at least `min_rsa_bits` or EC P-256/P-384 (`WEAK_KEY`);
//! 4. keyUsage, when present, has digitalSignature or nonRepudiation (RFC 5280 §4.2.1.3);
//!    extendedKeyUsage, when present, has clientAuth, emailProtection, documentSigning
//!    (RFC 9336), Microsoft document signing or anyExtendedKeyUsage (RFC 5280 §4.2.1.12)
//!    (`CERT_WRONG_PURPOSE`);
//! 5. it is an end-entity fit to be one ([`checks::check_end_entity`]: no keyCertSign or
//!    cRLSign, no nameConstraints, key identifiers, serial number, names);
//! 6. the path to a trust anchor, built in full (rustls-webpki, RFC 5280 §6, and kyso's
//!    checks of what webpki leaves to its caller, [`checks`]): validity at the
//!    verification time (`CERT_EXPIRED`, `CERT_NOT_YET_VALID`), signatures and every
//!    constraint of every CA (`CERT_UNTRUSTED`);
//! 7. revocation, by the [`RevocationChecker`] the policy was given (asynchronous: it may
//!    ask an OCSP responder or fetch a CRL, see `kyso_gateway::revocation`).
//!
//! Steps 1–6 are synchronous CPU work and give a [`ValidatedPath`]; step 7 takes it. The
//! verification time is a parameter; nothing here reads the clock.

pub mod checks;
mod legacy;
mod memo;
mod path;
mod revocation;
mod trust;

pub use checks::Defect;
pub use path::{Link, PathError, PathRules, PathUsage, ValidatedPath};
pub use revocation::{NoRevocationCheck, RevocationChecker};
pub use trust::{TrustError, TrustStore};

use crate::error::{ErrorCode, Rejection};
use crate::oid;
use std::sync::Arc;
use time::OffsetDateTime;
use x509_parser::certificate::X509Certificate;
use x509_parser::public_key::PublicKey;

/// The switches of the policy (design §6 defaults).
#[derive(Debug, Clone)]
pub struct PolicyOptions {
    /// Accept SHA-1 certificate signatures (legacy switch). Default off.
    pub allow_sha1: bool,
    /// Smallest RSA modulus accepted. Default 2048.
    pub min_rsa_bits: usize,
    /// Most intermediate CAs between a leaf and its anchor. Default 4.
    pub max_intermediates: usize,
}

impl Default for PolicyOptions {
    fn default() -> Self {
        Self {
            allow_sha1: false,
            min_rsa_bits: 2048,
            max_intermediates: 4,
        }
    }
}

impl PolicyOptions {
    fn path_rules(&self) -> PathRules {
        PathRules {
            allow_sha1: self.allow_sha1,
            max_intermediates: self.max_intermediates,
            min_rsa_bits: self.min_rsa_bits,
        }
    }
}

/// The policy: trust, switches and a revocation checker.
#[derive(Debug, Clone)]
pub struct CertificatePolicy {
    trust: Arc<TrustStore>,
    options: PolicyOptions,
    revocation: Arc<dyn RevocationChecker>,
}

/// A certificate that passed the policy.
#[derive(Debug, Clone)]
pub struct VerifiedCertificate {
    /// The leaf, DER.
    pub der: Vec<u8>,
    /// The key type, which decides which token algorithms can match it.
    pub key: KeyKind,
}

/// The leaf key types the policy accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyKind {
    /// RSA of this many bits.
    Rsa(usize),
    /// ECDSA P-256.
    EcP256,
    /// ECDSA P-384.
    EcP384,
}

/// EKU purposes that allow proving identity, with their OID value bytes for webpki.
const ACCEPTED_EKUS: [(&str, &[u8]); 5] = [
    (
        oid::EKU_CLIENT_AUTH,
        &[0x2b, 0x06, 0x01, 0x05, 0x05, 0x07, 0x03, 0x02],
    ), // clientAuth
    (
        oid::EKU_EMAIL_PROTECTION,
        &[0x2b, 0x06, 0x01, 0x05, 0x05, 0x07, 0x03, 0x04],
    ), // emailProtection
    (
        oid::EKU_DOCUMENT_SIGNING,
        &[0x2b, 0x06, 0x01, 0x05, 0x05, 0x07, 0x03, 0x24],
    ), // documentSigning
    (
        oid::EKU_MS_DOCUMENT_SIGNING,
        &[0x2b, 0x06, 0x01, 0x04, 0x01, 0x82, 0x37, 0x0a, 0x03, 0x0c],
    ), // MS document signing
    (oid::EKU_ANY, &[0x55, 0x1d, 0x25, 0x00]), // anyExtendedKeyUsage
];

fn reject(code: ErrorCode, detail: impl Into<String>) -> Rejection {
    Rejection::new(code, detail)
}

/// The key of a certificate whatever its size (RSA of any size, P-256, P-384), for
/// checking a signature without judging the key.
pub fn key_of(cert: &X509Certificate<'_>) -> Result<KeyKind, Rejection> {
    key_kind(cert, 0)
}

/// The leaf's key, if the policy accepts its type and size.
fn key_kind(cert: &X509Certificate<'_>, min_rsa_bits: usize) -> Result<KeyKind, Rejection> {
    let spki = cert.public_key();
    let (alg, curve) = crate::certificate::key_algorithm(cert);
    match (alg.as_str(), curve.as_deref()) {
        (oid::RSA, _) => match spki.parsed() {
            Ok(PublicKey::RSA(rsa)) if rsa.key_size() >= min_rsa_bits => {
                Ok(KeyKind::Rsa(rsa.key_size()))
            }
            Ok(PublicKey::RSA(rsa)) => Err(reject(
                ErrorCode::WeakKey,
                format!(
                    "RSA-{} is below the {min_rsa_bits}-bit minimum",
                    rsa.key_size()
                ),
            )),
            _ => Err(reject(
                ErrorCode::MalformedToken,
                "unreadable RSA public key",
            )),
        },
        (oid::EC_PUBLIC_KEY, Some(oid::P256)) => Ok(KeyKind::EcP256),
        (oid::EC_PUBLIC_KEY, Some(oid::P384)) => Ok(KeyKind::EcP384),
        (oid::EC_PUBLIC_KEY, other) => Err(reject(
            ErrorCode::WeakKey,
            format!("EC curve {other:?} is not accepted (P-256, P-384)"),
        )),
        (other, _) => Err(reject(
            ErrorCode::WeakKey,
            format!("key algorithm {other} is not accepted"),
        )),
    }
}

/// Checks keyUsage and extendedKeyUsage; returns the EKU OIDs a path may be built for:
/// every accepted one the leaf has, in the table's order, or clientAuth-if-present when
/// the leaf has no EKU.
fn purposes(cert: &X509Certificate<'_>) -> Result<Vec<&'static [u8]>, Rejection> {
    let wrong = |d: &str| reject(ErrorCode::CertWrongPurpose, d);
    match cert.key_usage() {
        Ok(Some(ku)) if !(ku.value.digital_signature() || ku.value.non_repudiation()) => {
            return Err(wrong(
                "keyUsage has neither digitalSignature nor nonRepudiation",
            ));
        }
        // Required, unlike extendedKeyUsage (design §6): RFC 5280 would read a missing
        // keyUsage as "any use", and no signer's certificate kyso accepts is issued so.
        Ok(None) => {
            return Err(wrong(
                "keyUsage is missing: a signer's certificate must allow digitalSignature or nonRepudiation",
            ));
        }
        Err(_) => return Err(wrong("keyUsage cannot be read")),
        _ => {}
    }
    let eku = match cert.extended_key_usage() {
        Ok(Some(eku)) => eku.value,
        Ok(None) => return Ok(vec![ACCEPTED_EKUS[0].1]),
        Err(_) => return Err(wrong("extendedKeyUsage cannot be read")),
    };
    let mut present: Vec<String> = eku.other.iter().map(|o| o.to_id_string()).collect();
    for (flag, oid) in [
        (eku.any, oid::EKU_ANY),
        (eku.client_auth, oid::EKU_CLIENT_AUTH),
        (eku.email_protection, oid::EKU_EMAIL_PROTECTION),
    ] {
        if flag {
            present.push(oid.to_owned());
        }
    }
    let accepted: Vec<&'static [u8]> = ACCEPTED_EKUS
        .iter()
        .filter(|(oid, _)| present.iter().any(|p| p == oid))
        .map(|(_, der)| *der)
        .collect();
    if accepted.is_empty() {
        return Err(wrong(
            "extendedKeyUsage allows neither authentication nor document signing",
        ));
    }
    Ok(accepted)
}

/// The policy's code for a path that webpki refused.
pub(crate) fn map_webpki(e: &webpki::Error) -> Rejection {
    use webpki::Error as E;
    let code = match e {
        E::CertExpired { .. } => ErrorCode::CertExpired,
        E::CertNotValidYet { .. } => ErrorCode::CertNotYetValid,
        E::RequiredEkuNotFoundContext(_) => ErrorCode::CertWrongPurpose,
        E::UnsupportedSignatureAlgorithmContext(_)
        | E::UnsupportedSignatureAlgorithmForPublicKeyContext(_) => {
            ErrorCode::WeakSignatureAlgorithm
        }
        E::BadDer | E::BadDerTime | E::TrailingData(_) => ErrorCode::MalformedToken,
        _ => ErrorCode::CertUntrusted,
    };
    reject(code, format!("certificate path: {e:?}"))
}

impl CertificatePolicy {
    /// A policy over this trust with these switches, asking `revocation` about every
    /// certificate whose path verifies.
    pub fn new(
        trust: TrustStore,
        options: PolicyOptions,
        revocation: Arc<dyn RevocationChecker>,
    ) -> Self {
        Self {
            trust: Arc::new(trust),
            options,
            revocation,
        }
    }

    /// The switches.
    pub fn options(&self) -> &PolicyOptions {
        &self.options
    }

    /// Whether revocation is actually checked.
    pub fn checks_revocation(&self) -> bool {
        self.revocation.is_checking()
    }

    /// Checks 1–5 of the module docs: everything that needs no signature check.
    pub fn check_leaf(&self, cert: &X509Certificate<'_>) -> Result<KeyKind, Rejection> {
        self.check_signature_algorithm(cert)?;
        let key = key_kind(cert, self.options.min_rsa_bits)?;
        purposes(cert)?;
        check_end_entity_structure(cert)?;
        Ok(key)
    }

    fn check_signature_algorithm(&self, cert: &X509Certificate<'_>) -> Result<(), Rejection> {
        let sig_alg = cert.signature_algorithm.algorithm.to_id_string();
        if !self.options.allow_sha1
            && (sig_alg == oid::SHA1_WITH_RSA || sig_alg == oid::ECDSA_WITH_SHA1)
        {
            return Err(reject(
                ErrorCode::WeakSignatureAlgorithm,
                "the certificate is signed with SHA-1",
            ));
        }
        Ok(())
    }

    /// Check 6: the path from `der` to an anchor at `at`, helped by `extra` intermediates
    /// that travelled with the token. Revocation is not asked yet.
    pub fn check_path(
        &self,
        cert: &X509Certificate<'_>,
        der: &[u8],
        extra: &[Vec<u8>],
        at: OffsetDateTime,
    ) -> Result<ValidatedPath, Rejection> {
        // An intermediate with an extendedKeyUsage must allow the purpose too: each
        // accepted purpose of the leaf is tried until one holds along a whole path.
        let mut refusal = None;
        for eku in purposes(cert)? {
            match ValidatedPath::build(
                self.trust.clone(),
                self.options.path_rules(),
                PathUsage::Eku(eku),
                der,
                extra,
                at,
            ) {
                Err(r) if r.code == ErrorCode::CertWrongPurpose => refusal = Some(r),
                built => return built,
            }
        }
        Err(refusal.unwrap_or_else(|| {
            reject(
                ErrorCode::CertWrongPurpose,
                "no accepted purpose holds along the path",
            )
        }))
    }

    /// Check 7: asks the revocation checker about a validated path.
    pub async fn check_revocation(&self, path: &ValidatedPath) -> Result<(), Rejection> {
        self.revocation.check(path).await
    }

    /// The whole policy for one certificate (DER): leaf checks, path, revocation.
    pub async fn verify(
        &self,
        der: &[u8],
        extra: &[Vec<u8>],
        at: OffsetDateTime,
    ) -> Result<VerifiedCertificate, Rejection> {
        let cert = parse_certificate(der)?;
        let key = self.check_leaf(&cert)?;
        let path = self.check_path(&cert, der, extra, at)?;
        self.check_revocation(&path).await?;
        Ok(VerifiedCertificate {
            der: der.to_vec(),
            key,
        })
    }

    /// The path under `usage` (signatures, validity, every CA constraint) and revocation,
    /// with the leaf's signature algorithm, key and structure but without its
    /// keyUsage/EKU purpose and identity rules: `verify-cert --purpose any` (or a named
    /// extended key usage).
    pub async fn verify_path(
        &self,
        der: &[u8],
        extra: &[Vec<u8>],
        at: OffsetDateTime,
        usage: PathUsage,
    ) -> Result<(), Rejection> {
        let cert = parse_certificate(der)?;
        self.check_signature_algorithm(&cert)?;
        key_kind(&cert, self.options.min_rsa_bits)?;
        check_end_entity_structure(&cert)?;
        let path = ValidatedPath::build(
            self.trust.clone(),
            self.options.path_rules(),
            usage,
            der,
            extra,
            at,
        )?;
        self.check_revocation(&path).await
    }

    /// Whether any path can be built at `at`: `false` once every configured trust anchor
    /// has expired (or none is valid yet), when every registration would be
    /// `CERT_UNTRUSTED` — what `/readyz` reports, so a load balancer stops sending people
    /// to an instance whose trust configuration is dead.
    pub fn has_valid_anchor(&self, at: OffsetDateTime) -> bool {
        !self.trust.anchors_at(at).is_empty()
    }

    /// How many signature verifications the trust store's start-up validation has saved.
    pub fn remembered_signatures_used(&self) -> u64 {
        self.trust.remembered_signatures_used()
    }
}

/// Parses a whole certificate (no trailing bytes).
fn parse_certificate(der: &[u8]) -> Result<X509Certificate<'_>, Rejection> {
    match x509_parser::parse_x509_certificate(der) {
        Ok(([], cert)) => Ok(cert),
        Ok(_) => Err(reject(
            ErrorCode::MalformedToken,
            "certificate: trailing bytes",
        )),
        Err(e) => Err(reject(
            ErrorCode::MalformedToken,
            format!("certificate: {e}"),
        )),
    }
}

/// Check 5 as a rejection.
fn check_end_entity_structure(cert: &X509Certificate<'_>) -> Result<(), Rejection> {
    checks::check_end_entity(cert)
        .map_err(|d| reject(d.code(), format!("the certificate: {d} ({})", d.name())))
}
