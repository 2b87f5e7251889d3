//! Building and checking the path from a leaf to a trust anchor (RFC 5280 §6), once for
//! the policy and again, with a CRL, for revocation.
//!
//! The path is always built in full by rustls-webpki from the anchors valid at the
//! verification time, through the configured intermediates and those that travelled with
//! the token, so every constraint of every certificate above the leaf applies —
//! validity, basicConstraints and path length, name constraints, unknown critical
//! extensions — whichever way an intermediate came. On each candidate path kyso adds its
//! own checks of travelled intermediates ([`super::checks`]) and the path length limit.
//! A configured intermediate's signature was verified at start-up and is remembered, so
//! under a known provider CA a registration still verifies one certificate signature.
//!
//! Revocation is asked about every certificate on the path but the anchor
//! ([`ValidatedPath::links`], RFC 5280 §6.1.3 (a)(3)): the leaf, each intermediate that
//! travelled with the token or the SIM's chain, and each configured one — a configured
//! intermediate gives the verdict it would give travelling, so a provider CA its root has
//! revoked is refused whether the operator still lists it or not.
//! A CRL is judged on the path that was verified, never on another path webpki might
//! find through other certificates (which would not be the path whose links are asked
//! about).

use super::checks::{self, Defect, check_intermediate};
use super::map_webpki;
use crate::error::Rejection;
use crate::policy::TrustStore;
use rustls_pki_types::{CertificateDer, SignatureVerificationAlgorithm, TrustAnchor, UnixTime};
use std::cell::RefCell;
use std::sync::Arc;
use time::OffsetDateTime;
use webpki::{
    CertRevocationList, ExpirationPolicy, ExtendedKeyUsageValidator, KeyPurposeIdIter,
    RevocationCheckDepth, RevocationOptions, RevocationOptionsBuilder, UnknownStatusPolicy,
    VerifiedPath,
};

/// What the leaf must be good for, as the path sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PathUsage {
    /// extendedKeyUsage, when present on a certificate of the path, must include this
    /// purpose (the DER value of its OID).
    Eku(&'static [u8]),
    /// Anything: the path alone (`verify-cert --purpose any`).
    Any,
}

impl PathUsage {
    /// The usage a command line names: `any`, `client-auth` or `server-auth`.
    pub fn named(name: &str) -> Option<Self> {
        match name {
            "any" => Some(Self::Any),
            "client-auth" => Some(Self::Eku(&[0x2b, 0x06, 0x01, 0x05, 0x05, 0x07, 0x03, 0x02])),
            "server-auth" => Some(Self::Eku(&[0x2b, 0x06, 0x01, 0x05, 0x05, 0x07, 0x03, 0x01])),
            _ => None,
        }
    }
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

/// Why a path was refused: webpki's finding, or kyso's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PathError {
    /// rustls-webpki refused every path.
    Webpki(webpki::Error),
    /// kyso's own check refused the path webpki found.
    Defect(Defect),
}

impl PathError {
    /// As the policy reports it.
    pub fn rejection(&self) -> Rejection {
        match self {
            Self::Webpki(e) => map_webpki(e),
            Self::Defect(d) => {
                Rejection::new(d.code(), format!("certificate path: {d} ({})", d.name()))
            }
        }
    }
}

/// A leaf whose path to a trust anchor verified at a time; what revocation checking
/// needs: the certificates to ask about with their issuers, and the means to check the
/// path again with a CRL.
#[derive(Debug, Clone)]
pub struct ValidatedPath {
    leaf: Vec<u8>,
    /// The leaf has a subject emailAddress and no subjectAltName.
    subject_email_only: bool,
    found: FoundPath,
    links: Vec<Link>,
    extra: Vec<Vec<u8>>,
    usage: PathUsage,
    at: OffsetDateTime,
    rules: PathRules,
    trust: Arc<TrustStore>,
}

/// The path webpki found above the leaf.
#[derive(Debug, Clone, Default)]
struct FoundPath {
    /// Its intermediates, nearest the leaf first, DER.
    intermediates: Vec<Vec<u8>>,
    /// The certificate of its trust anchor, DER.
    anchor: Vec<u8>,
}

impl FoundPath {
    /// Whether webpki's candidate is this path.
    fn is(&self, trust: &TrustStore, candidate: &VerifiedPath<'_>) -> bool {
        let mut ours = self.intermediates.iter();
        trust.der_of_anchor(candidate.anchor()) == Some(self.anchor.as_slice())
            && candidate.intermediate_certificates().all(|c| {
                ours.next()
                    .is_some_and(|o| c.der().as_ref() == o.as_slice())
            })
            && ours.next().is_none()
    }

    /// Each certificate revocation must be asked about, with its issuer: every one on
    /// the path but the anchor, configured or travelled.
    fn links(&self, leaf: &[u8]) -> Vec<Link> {
        let mut chain = vec![leaf];
        chain.extend(self.intermediates.iter().map(Vec::as_slice));
        chain.push(&self.anchor);
        chain
            .windows(2)
            .map(|pair| Link {
                cert: pair[0].to_vec(),
                issuer: pair[1].to_vec(),
            })
            .collect()
    }
}

/// The policy switches that shape a path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PathRules {
    /// Accept SHA-1 certificate signatures (legacy switch).
    pub allow_sha1: bool,
    /// Most intermediate CAs between the leaf and the anchor (self-issued ones, as in a
    /// key rollover, not counted).
    pub max_intermediates: usize,
    /// The smallest RSA key accepted, for the CAs of the path as for the leaf
    /// (rustls-webpki's own floor for a signature is 2,048 bits).
    pub min_rsa_bits: usize,
}

/// rustls-webpki verifies no RSA signature made with a smaller key.
const WEBPKI_MIN_RSA_BITS: usize = 2048;

fn unix_time(at: OffsetDateTime) -> UnixTime {
    UnixTime::since_unix_epoch(std::time::Duration::from_secs(
        u64::try_from(at.unix_timestamp()).unwrap_or(0),
    ))
}

fn is_self_issued(der: &[u8]) -> bool {
    x509_parser::parse_x509_certificate(der)
        .is_ok_and(|(_, c)| c.subject().as_raw() == c.issuer().as_raw())
}

impl ValidatedPath {
    /// Verifies the path of `leaf` at `at` and remembers what a revocation check needs.
    pub fn build(
        trust: Arc<TrustStore>,
        rules: PathRules,
        usage: PathUsage,
        leaf: &[u8],
        extra: &[Vec<u8>],
        at: OffsetDateTime,
    ) -> Result<Self, Rejection> {
        let mut path = Self {
            // Only where a CA could constrain email: reading the leaf's subject again is
            // work on every registration otherwise.
            subject_email_only: (trust.constrains_email() || !extra.is_empty())
                && checks::subject_email_without_alt_names(leaf),
            leaf: leaf.to_vec(),
            found: FoundPath::default(),
            links: Vec::new(),
            extra: extra.to_vec(),
            usage,
            at,
            rules,
            trust,
        };
        path.found = path.verify().map_err(|e| e.rejection())?;
        path.links = path.found.links(&path.leaf);
        Ok(path)
    }

    /// The leaf, DER.
    pub fn leaf_der(&self) -> &[u8] {
        &self.leaf
    }

    /// The certificates revocation must be asked about, the leaf first, each with its
    /// issuer: every certificate on the path but the anchor.
    pub fn links(&self) -> &[Link] {
        &self.links
    }

    /// The verification time.
    pub fn at(&self) -> OffsetDateTime {
        self.at
    }

    /// Checks the path again consulting `crl` for link `index` (webpki's revocation
    /// options: the CRL must be that certificate's issuer's, signed by it, not past
    /// nextUpdate; and kyso's: an anchor that signs CRLs must assert cRLSign when it has a
    /// keyUsage, which webpki does not track for anchors). `Err(webpki::Error::CertRevoked)`
    /// means revoked; other errors mean the CRL is unusable for that certificate.
    pub fn check_crl(
        &self,
        index: usize,
        crl: &CertRevocationList<'_>,
    ) -> Result<(), webpki::Error> {
        let link = self
            .links
            .get(index)
            .ok_or(webpki::Error::UnknownRevocationStatus)?;
        let issuer_der = CertificateDer::from(link.issuer.as_slice());
        if let (Ok(issuer_cert), Ok((_, issuer))) = (
            webpki::EndEntityCert::try_from(&issuer_der),
            x509_parser::parse_x509_certificate(&link.issuer),
        ) && crl.issuer() == issuer_cert.subject()
            && matches!(issuer.key_usage(), Ok(Some(ku)) if !ku.value.crl_sign())
        {
            return Err(webpki::Error::IssuerNotCrlSigner);
        }
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
        // Only the verified path's own certificates, and a candidate that is not that
        // path refused: a revoked certificate must not be routed around through another
        // (say, a second cross-certificate of the same CA) whose revocation nobody asks.
        let anchors: Vec<TrustAnchor<'_>> = self
            .trust
            .all_anchors()
            .into_iter()
            .filter(|a| self.trust.der_of_anchor(a) == Some(self.found.anchor.as_slice()))
            .collect();
        let intermediates: Vec<CertificateDer<'_>> = self
            .found
            .intermediates
            .iter()
            .map(|d| CertificateDer::from(d.as_slice()))
            .collect();
        match self.run(&anchors, &intermediates, Some(options), Some(&self.found)) {
            Ok(_) => Ok(()),
            Err(PathError::Webpki(e)) => Err(e),
            Err(PathError::Defect(_)) => Err(webpki::Error::UnknownRevocationStatus),
        }
    }

    /// kyso's checks of one candidate path: travelled intermediates, the path length, and
    /// the trust anchor's own pathLenConstraint (RFC 5280 §4.2.1.9; self-issued
    /// intermediates, as in a key rollover, not counted, as §6.1.4 (l) says).
    fn check_candidate(&self, path: &VerifiedPath<'_>) -> Result<(), Defect> {
        let mut counted = 0;
        for cert in path.intermediate_certificates() {
            let der = cert.der();
            let der: &[u8] = der.as_ref();
            if !self.trust.is_configured_intermediate(der) {
                check_intermediate(der)?;
            }
            if !is_self_issued(der) {
                counted += 1;
            }
        }
        if counted > self.rules.max_intermediates {
            return Err(Defect::TooManyIntermediates(self.rules.max_intermediates));
        }
        if let Some(limit) = self.trust.path_len_of_anchor(path.anchor())
            && counted > limit as usize
        {
            return Err(Defect::AnchorPathLenExceeded(limit));
        }
        if self.rules.min_rsa_bits > WEBPKI_MIN_RSA_BITS {
            let anchor = self.trust.der_of_anchor(path.anchor());
            let cas = path
                .intermediate_certificates()
                .map(|c| c.der().as_ref().to_vec())
                .chain(anchor.map(<[u8]>::to_vec));
            for der in cas {
                if let Some(bits) = checks::rsa_bits(&der)
                    && bits < self.rules.min_rsa_bits
                {
                    return Err(Defect::WeakCaKey(bits, self.rules.min_rsa_bits));
                }
            }
        }
        if let PathUsage::Eku(purpose) = self.usage
            && !self.trust.anchor_allows(path.anchor(), purpose)
        {
            return Err(Defect::AnchorWrongPurpose);
        }
        if self.subject_email_only
            && (path
                .intermediate_certificates()
                .any(|c| checks::constrains_email(c.der().as_ref()))
                || self
                    .trust
                    .der_of_anchor(path.anchor())
                    .is_some_and(checks::constrains_email))
        {
            return Err(Defect::SubjectEmailUnderEmailConstraints);
        }
        Ok(())
    }

    /// Runs webpki over `anchors` and `intermediates`, accepting only `pinned` when given;
    /// returns the path found.
    fn run(
        &self,
        anchors: &[TrustAnchor<'_>],
        intermediates: &[CertificateDer<'_>],
        revocation: Option<RevocationOptions<'_>>,
        pinned: Option<&FoundPath>,
    ) -> Result<FoundPath, PathError> {
        let leaf = CertificateDer::from(self.leaf.as_slice());
        let ee = webpki::EndEntityCert::try_from(&leaf).map_err(PathError::Webpki)?;
        let remembering = self.trust.algorithms(self.rules.allow_sha1);
        let algs: Vec<&dyn SignatureVerificationAlgorithm> = remembering
            .iter()
            .map(|a| a as &dyn SignatureVerificationAlgorithm)
            .collect();
        let found: RefCell<Option<Defect>> = RefCell::new(None);
        let check = |candidate: &VerifiedPath<'_>| {
            if pinned.is_some_and(|p| !p.is(&self.trust, candidate)) {
                return Err(webpki::Error::UnknownIssuer);
            }
            self.check_candidate(candidate).map_err(|d| {
                *found.borrow_mut() = Some(d);
                // Not fatal: webpki goes on looking for another path.
                webpki::Error::UnknownIssuer
            })
        };
        let time = unix_time(self.at);
        let verified = match self.usage {
            PathUsage::Eku(eku) => ee.verify_for_usage(
                &algs,
                anchors,
                intermediates,
                time,
                webpki::KeyUsage::required_if_present(eku),
                revocation,
                Some(&check),
            ),
            PathUsage::Any => ee.verify_for_usage(
                &algs,
                anchors,
                intermediates,
                time,
                AnyEku,
                revocation,
                Some(&check),
            ),
        };
        let path = match verified {
            Ok(path) => path,
            Err(e) => {
                return Err(match found.take() {
                    Some(defect) if e == webpki::Error::UnknownIssuer => PathError::Defect(defect),
                    _ => PathError::Webpki(e),
                });
            }
        };
        let anchor = self
            .trust
            .der_of_anchor(path.anchor())
            .map(<[u8]>::to_vec)
            .ok_or(PathError::Webpki(webpki::Error::UnknownIssuer))?;
        Ok(FoundPath {
            intermediates: path
                .intermediate_certificates()
                .map(|c| c.der().to_vec())
                .collect(),
            anchor,
        })
    }

    /// The path from the anchors valid at the verification time, through the configured
    /// intermediates and the travelled ones; when none is found, tells an anchor that is
    /// not valid then from no anchor at all.
    fn verify(&self) -> Result<FoundPath, PathError> {
        let mut intermediates: Vec<CertificateDer<'_>> = self.trust.intermediates().to_vec();
        intermediates.extend(
            self.extra
                .iter()
                .map(|d| CertificateDer::from(d.as_slice())),
        );
        let valid = self.trust.anchors_at(self.at);
        match self.run(&valid, &intermediates, None, None) {
            Err(PathError::Webpki(webpki::Error::UnknownIssuer))
                if valid.len() < self.trust.all_anchors().len()
                    && self
                        .run(&self.trust.all_anchors(), &intermediates, None, None)
                        .is_ok() =>
            {
                Err(PathError::Defect(Defect::AnchorNotValid))
            }
            other => other,
        }
    }
}
