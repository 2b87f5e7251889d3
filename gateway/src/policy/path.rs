//! Building and checking the path from a leaf to a trust anchor with rustls-webpki
//! (RFC 5280 §6), once for the policy and again, with a CRL, for revocation.
//!
//! The fast path uses the configured intermediates as anchors (they were validated at
//! start-up), so a registration under a known provider CA checks one certificate
//! signature. When that finds no issuer, the full path is built from the roots through
//! the configured intermediates and those that travelled with the token.

use super::{legacy, map_webpki};
use crate::error::Rejection;
use crate::policy::TrustStore;
use rustls_pki_types::{CertificateDer, SignatureVerificationAlgorithm, UnixTime};
use std::sync::Arc;
use time::OffsetDateTime;
use webpki::{
    CertRevocationList, ExpirationPolicy, ExtendedKeyUsageValidator, KeyPurposeIdIter,
    RevocationCheckDepth, RevocationOptions, RevocationOptionsBuilder, UnknownStatusPolicy,
};

/// What the leaf must be good for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purpose {
    /// Proving an identity: EKU, when present, must allow this purpose (DER OID value).
    Identity(&'static [u8]),
    /// Anything: the path alone (`verify-cert --purpose any`).
    Any,
}

/// An EKU check that accepts every certificate.
struct AnyEku;

impl ExtendedKeyUsageValidator for AnyEku {
    fn validate(&self, _: KeyPurposeIdIter<'_, '_>) -> Result<(), webpki::Error> {
        Ok(())
    }
}

/// A leaf whose path to a trust anchor verified at a time; what revocation checking
/// needs: the leaf, its issuer, and the means to check the path again with a CRL.
#[derive(Debug, Clone)]
pub struct ValidatedPath {
    leaf: Vec<u8>,
    issuer: Vec<u8>,
    extra: Vec<Vec<u8>>,
    purpose: Purpose,
    at: OffsetDateTime,
    allow_sha1: bool,
    trust: Arc<TrustStore>,
}

fn unix_time(at: OffsetDateTime) -> UnixTime {
    UnixTime::since_unix_epoch(std::time::Duration::from_secs(
        u64::try_from(at.unix_timestamp()).unwrap_or(0),
    ))
}

impl ValidatedPath {
    /// Verifies the path of `leaf` at `at` and remembers what a revocation check needs.
    pub(crate) fn build(
        trust: Arc<TrustStore>,
        allow_sha1: bool,
        purpose: Purpose,
        leaf: &[u8],
        extra: &[Vec<u8>],
        at: OffsetDateTime,
    ) -> Result<Self, Rejection> {
        let mut path = Self {
            leaf: leaf.to_vec(),
            issuer: Vec::new(),
            extra: extra.to_vec(),
            purpose,
            at,
            allow_sha1,
            trust,
        };
        path.issuer = path.verify(None).map_err(|e| map_webpki(&e))?;
        Ok(path)
    }

    /// The leaf, DER.
    pub fn leaf_der(&self) -> &[u8] {
        &self.leaf
    }

    /// The certificate that issued the leaf, DER.
    pub fn issuer_der(&self) -> &[u8] {
        &self.issuer
    }

    /// The verification time.
    pub fn at(&self) -> OffsetDateTime {
        self.at
    }

    /// Checks the path again consulting `crl` for the leaf (webpki's revocation options:
    /// the CRL must be the issuer's, signed by it and not past nextUpdate).
    /// `Err(webpki::Error::CertRevoked)` means revoked; other errors mean the CRL is unusable.
    pub fn check_crl(&self, crl: &CertRevocationList<'_>) -> Result<(), webpki::Error> {
        let crls = [crl];
        let options = RevocationOptionsBuilder::new(&crls)
            .map_err(|_| webpki::Error::UnknownRevocationStatus)?
            .with_depth(RevocationCheckDepth::EndEntity)
            .with_status_policy(UnknownStatusPolicy::Deny)
            .with_expiration_policy(ExpirationPolicy::Enforce)
            .build();
        self.verify(Some(options)).map(|_| ())
    }

    /// Runs webpki; returns the DER of the leaf's issuer.
    fn verify(&self, revocation: Option<RevocationOptions<'_>>) -> Result<Vec<u8>, webpki::Error> {
        let leaf = CertificateDer::from(self.leaf.as_slice());
        let ee = webpki::EndEntityCert::try_from(&leaf)?;
        let mut algs: Vec<&dyn SignatureVerificationAlgorithm> =
            webpki::ALL_VERIFICATION_ALGS.to_vec();
        if self.allow_sha1 {
            algs.push(&legacy::RsaPkcs1Sha1);
        }
        let time = unix_time(self.at);
        let run = |anchors: &[rustls_pki_types::TrustAnchor<'_>],
                   intermediates: &[CertificateDer<'_>]|
         -> Result<Vec<u8>, webpki::Error> {
            let path = match self.purpose {
                Purpose::Identity(eku) => ee.verify_for_usage(
                    &algs,
                    anchors,
                    intermediates,
                    time,
                    webpki::KeyUsage::required_if_present(eku),
                    revocation,
                    None,
                )?,
                Purpose::Any => ee.verify_for_usage(
                    &algs,
                    anchors,
                    intermediates,
                    time,
                    AnyEku,
                    revocation,
                    None,
                )?,
            };
            match path.intermediate_certificates().next() {
                Some(issuer) => Ok(issuer.der().to_vec()),
                None => self
                    .trust
                    .der_of_anchor(path.anchor())
                    .map(<[u8]>::to_vec)
                    .ok_or(webpki::Error::UnknownIssuer),
            }
        };
        let fast = self.trust.fast_anchors(self.at);
        match run(&fast, &[]) {
            Err(webpki::Error::UnknownIssuer) => {
                let mut intermediates: Vec<CertificateDer<'_>> =
                    self.trust.intermediate_ders().cloned().collect();
                intermediates.extend(
                    self.extra
                        .iter()
                        .map(|d| CertificateDer::from(d.as_slice())),
                );
                run(&self.trust.roots, &intermediates)
            }
            other => other,
        }
    }
}
