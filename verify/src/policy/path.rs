//! Building and checking the path from a leaf to a trust anchor with rustls-webpki
//! (RFC 5280 §6), once for the policy and again, with a CRL, for revocation.
//!
//! The fast path uses the configured intermediates as anchors (they were validated at
//! start-up), so a registration under a known provider CA checks one certificate
//! signature. When that finds no issuer, the full path is built from the roots through
//! the configured intermediates and those that travelled with the token.
//!
//! Revocation is asked about every certificate on the path that the operator did not
//! configure: the leaf always, and each intermediate that travelled with the token or the
//! SIM's chain ([`ValidatedPath::links`]), up to the first configured one.

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
pub enum PathUsage {
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

/// A certificate on a path and the one that issued it, both DER.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Link {
    /// The certificate whose revocation is asked about.
    pub cert: Vec<u8>,
    /// Its issuer.
    pub issuer: Vec<u8>,
}

/// A leaf whose path to a trust anchor verified at a time; what revocation checking
/// needs: the certificates to ask about with their issuers, and the means to check the
/// path again with a CRL.
#[derive(Debug, Clone)]
pub struct ValidatedPath {
    leaf: Vec<u8>,
    links: Vec<Link>,
    extra: Vec<Vec<u8>>,
    usage: PathUsage,
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
        usage: PathUsage,
        leaf: &[u8],
        extra: &[Vec<u8>],
        at: OffsetDateTime,
    ) -> Result<Self, Rejection> {
        let mut path = Self {
            leaf: leaf.to_vec(),
            links: Vec::new(),
            extra: extra.to_vec(),
            usage,
            at,
            allow_sha1,
            trust,
        };
        path.links = path.verify(None).map_err(|e| map_webpki(&e))?;
        Ok(path)
    }

    /// The leaf, DER.
    pub fn leaf_der(&self) -> &[u8] {
        &self.leaf
    }

    /// The certificates revocation must be asked about, the leaf first, each with its
    /// issuer: the leaf and every intermediate the operator did not configure.
    pub fn links(&self) -> &[Link] {
        &self.links
    }

    /// The verification time.
    pub fn at(&self) -> OffsetDateTime {
        self.at
    }

    /// Checks the path again consulting `crl` for link `index` (webpki's revocation
    /// options: the CRL must be that certificate's issuer's, signed by it and not past
    /// nextUpdate). `Err(webpki::Error::CertRevoked)` means revoked; other errors mean the
    /// CRL is unusable for that certificate.
    pub fn check_crl(
        &self,
        index: usize,
        crl: &CertRevocationList<'_>,
    ) -> Result<(), webpki::Error> {
        let link = self
            .links
            .get(index)
            .ok_or(webpki::Error::UnknownRevocationStatus)?;
        let crls = [crl];
        let builder = RevocationOptionsBuilder::new(&crls)
            .map_err(|_| webpki::Error::UnknownRevocationStatus)?
            .with_expiration_policy(ExpirationPolicy::Enforce);
        let options = if index == 0 {
            builder
                .with_depth(RevocationCheckDepth::EndEntity)
                .with_status_policy(UnknownStatusPolicy::Deny)
                .build()
        } else {
            // webpki can only demand a CRL for every certificate of the chain or for the
            // leaf alone. For an intermediate, the others are let through (their own
            // links are checked on their own), after making sure this CRL is the one
            // webpki will judge the intermediate by: its issuer's, covering everything.
            let cert = CertificateDer::from(link.cert.as_slice());
            let issuer_name = webpki::EndEntityCert::try_from(&cert)?.issuer().to_vec();
            if crl.issuer() != issuer_name.as_slice() || crl.issuing_distribution_point().is_some()
            {
                return Err(webpki::Error::UnknownRevocationStatus);
            }
            builder
                .with_depth(RevocationCheckDepth::Chain)
                .with_status_policy(UnknownStatusPolicy::Allow)
                .build()
        };
        self.verify(Some(options)).map(|_| ())
    }

    /// Runs webpki; returns the links revocation must be asked about.
    fn verify(
        &self,
        revocation: Option<RevocationOptions<'_>>,
    ) -> Result<Vec<Link>, webpki::Error> {
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
         -> Result<Vec<Link>, webpki::Error> {
            let path = match self.usage {
                PathUsage::Identity(eku) => ee.verify_for_usage(
                    &algs,
                    anchors,
                    intermediates,
                    time,
                    webpki::KeyUsage::required_if_present(eku),
                    revocation,
                    None,
                )?,
                PathUsage::Any => ee.verify_for_usage(
                    &algs,
                    anchors,
                    intermediates,
                    time,
                    AnyEku,
                    revocation,
                    None,
                )?,
            };
            let anchor = self
                .trust
                .der_of_anchor(path.anchor())
                .map(<[u8]>::to_vec)
                .ok_or(webpki::Error::UnknownIssuer)?;
            let mut chain = vec![self.leaf.clone()];
            chain.extend(path.intermediate_certificates().map(|c| c.der().to_vec()));
            chain.push(anchor);
            let mut links = Vec::new();
            for (i, pair) in chain.windows(2).enumerate() {
                if i > 0 && self.trust.is_configured_intermediate(&pair[0]) {
                    break;
                }
                links.push(Link {
                    cert: pair[0].clone(),
                    issuer: pair[1].clone(),
                });
            }
            Ok(links)
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
