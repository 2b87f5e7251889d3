//! The configured trust: anchors, and intermediates validated once at start-up.
//!
//! Every anchor and configured intermediate passes kyso's checks of RFC 5280 that
//! rustls-webpki leaves to its caller ([`super::checks`]) before the gateway starts; a
//! defect names the certificate's place in the configuration. A configured intermediate
//! must be signed by an anchor or by another accepted intermediate; that signature is
//! verified here and remembered ([`super::memo`]), so at request time the intermediate
//! sits on a fully built path at the cost of a hash, and gives exactly the verdict it would
//! give travelling with the token.
//!
//! Anchors carry no validity for webpki; their validity at the verification time is kept
//! here and judged on every path ([`TrustStore::anchors_at`]).

use super::checks::{Defect, check_anchor, check_intermediate};
use super::memo::{Remembering, VerifiedSignatures};
use rustls_pki_types::{CertificateDer, SignatureVerificationAlgorithm, TrustAnchor};
use time::OffsetDateTime;

/// Why the configured trust is unusable. Start-up fails with this message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TrustError {
    /// No trust anchor at all.
    #[error("no trust anchors configured")]
    NoAnchors,
    /// A configured certificate cannot be used.
    #[error("{what} #{index}: {detail}")]
    Unusable {
        /// `trust anchor` or `intermediate`.
        what: &'static str,
        /// Position in the configuration, from 1.
        index: usize,
        /// Why.
        detail: String,
    },
}

/// A trust anchor with what webpki does not keep of it.
#[derive(Debug, Clone)]
struct Anchor {
    anchor: TrustAnchor<'static>,
    der: Vec<u8>,
    not_before: OffsetDateTime,
    not_after: OffsetDateTime,
    /// Its basicConstraints pathLenConstraint, if any.
    path_len: Option<u32>,
    /// The purposes its extendedKeyUsage names (DER values of the OIDs); `None` without
    /// one, or with anyExtendedKeyUsage.
    purposes: Option<Vec<Vec<u8>>>,
}

/// The purposes `cert`'s extendedKeyUsage names, DER values of their OIDs; `None` when
/// it names none or anyExtendedKeyUsage (unrestricted). An unreadable one restricts to
/// nothing (fail closed).
fn purposes_of(cert: &x509_parser::certificate::X509Certificate<'_>) -> Option<Vec<Vec<u8>>> {
    let eku = match cert.extended_key_usage() {
        Ok(Some(eku)) => eku.value,
        Ok(None) => return None,
        Err(_) => return Some(Vec::new()),
    };
    if eku.any {
        return None;
    }
    let kp = |n: u8| vec![0x2b, 0x06, 0x01, 0x05, 0x05, 0x07, 0x03, n];
    let named = [
        (eku.server_auth, 1),
        (eku.client_auth, 2),
        (eku.code_signing, 3),
        (eku.email_protection, 4),
        (eku.time_stamping, 8),
        (eku.ocsp_signing, 9),
    ];
    Some(
        named
            .into_iter()
            .filter(|(set, _)| *set)
            .map(|(_, n)| kp(n))
            .chain(eku.other.iter().map(|o| o.as_bytes().to_vec()))
            .collect(),
    )
}

/// Anchors and validated intermediates.
#[derive(Debug)]
pub struct TrustStore {
    anchors: Vec<Anchor>,
    intermediates: Vec<CertificateDer<'static>>,
    verified: VerifiedSignatures,
    /// Whether an anchor or configured intermediate constrains email addresses, so a
    /// leaf's subject email must be looked for on every path (else only on paths with
    /// travelled intermediates).
    constrains_email: bool,
}

fn unusable(what: &'static str, index: usize, detail: impl std::fmt::Display) -> TrustError {
    TrustError::Unusable {
        what,
        index,
        detail: detail.to_string(),
    }
}

fn defect(what: &'static str, index: usize, d: Defect) -> TrustError {
    unusable(what, index, format!("{} ({})", d, d.name()))
}

/// Every algorithm a configured intermediate's signature may use, the legacy SHA-1 one
/// included: whether SHA-1 is accepted is decided per path, by the algorithms the path
/// is built with.
fn startup_algorithms() -> Vec<&'static dyn SignatureVerificationAlgorithm> {
    let mut algs = webpki::ALL_VERIFICATION_ALGS.to_vec();
    algs.push(&super::legacy::RsaPkcs1Sha1);
    algs
}

impl TrustStore {
    /// Builds the store. Every anchor and intermediate must pass kyso's checks, and every
    /// intermediate must be a CA whose signature verifies under an anchor or an
    /// intermediate already accepted (in any order); otherwise this fails and names it,
    /// because a silently ignored certificate is a registration that fails later.
    pub fn new(anchors: &[Vec<u8>], intermediates: &[Vec<u8>]) -> Result<Self, TrustError> {
        if anchors.is_empty() {
            return Err(TrustError::NoAnchors);
        }
        const ANCHOR: &str = "trust anchor";
        const INTERMEDIATE: &str = "intermediate";
        let mut store = Self {
            anchors: Vec::new(),
            intermediates: Vec::new(),
            verified: VerifiedSignatures::default(),
            constrains_email: anchors
                .iter()
                .chain(intermediates)
                .any(|der| super::checks::constrains_email(der)),
        };
        // Each kept anchor's place in the configuration, from 1.
        let mut positions = Vec::new();
        for (i, der) in anchors.iter().enumerate() {
            check_anchor(der).map_err(|d| defect(ANCHOR, i + 1, d))?;
            let (_, cert) =
                x509_parser::parse_x509_certificate(der).map_err(|e| unusable(ANCHOR, i + 1, e))?;
            let anchor = webpki::anchor_from_trusted_cert(&CertificateDer::from(der.as_slice()))
                .map(|a| a.to_owned())
                .map_err(|e| unusable(ANCHOR, i + 1, format!("{e:?}")))?;
            // webpki knows an anchor by its name, key and name constraints only; two
            // certificates alike in those but not in the rest (validity, pathLen,
            // extendedKeyUsage) would leave it unknown which of them a path ended at.
            if let Some(twin) = store.anchors.iter().position(|a| {
                a.anchor.subject == anchor.subject
                    && a.anchor.subject_public_key_info == anchor.subject_public_key_info
                    && a.anchor.name_constraints == anchor.name_constraints
            }) {
                if store.anchors[twin].der == *der {
                    continue;
                }
                return Err(unusable(
                    ANCHOR,
                    i + 1,
                    format!(
                        "it has the name and key of trust anchor #{} but is another \
                         certificate: a path could not tell them apart; keep one",
                        positions[twin]
                    ),
                ));
            }
            let path_len = cert
                .basic_constraints()
                .ok()
                .flatten()
                .and_then(|bc| bc.value.path_len_constraint);
            positions.push(i + 1);
            store.anchors.push(Anchor {
                anchor,
                der: der.clone(),
                not_before: cert.validity().not_before.to_datetime(),
                not_after: cert.validity().not_after.to_datetime(),
                path_len,
                purposes: purposes_of(&cert),
            });
        }
        let algorithms = startup_algorithms();
        let mut issuers: Vec<Vec<u8>> = anchors.to_vec();
        let mut pending: Vec<(usize, &Vec<u8>)> = intermediates
            .iter()
            .enumerate()
            .map(|(i, d)| (i + 1, d))
            .collect();
        while !pending.is_empty() {
            let before = pending.len();
            let mut still = Vec::new();
            for (index, der) in pending {
                check_intermediate(der).map_err(|d| defect(INTERMEDIATE, index, d))?;
                let (_, cert) = x509_parser::parse_x509_certificate(der)
                    .map_err(|e| unusable(INTERMEDIATE, index, e))?;
                let signed_by_known = issuers.iter().any(|issuer| {
                    x509_parser::parse_x509_certificate(issuer).is_ok_and(|(_, issuer)| {
                        issuer.subject().as_raw() == cert.issuer().as_raw()
                            && store.verified.verify_and_remember(
                                &algorithms,
                                &issuer.public_key().subject_public_key.data,
                                cert.tbs_certificate.as_ref(),
                                &cert.signature_value.data,
                            )
                    })
                });
                if !signed_by_known {
                    still.push((index, der));
                    continue;
                }
                store.intermediates.push(CertificateDer::from(der.clone()));
                issuers.push(der.clone());
            }
            if still.len() == before {
                let (index, _) = still[0];
                return Err(unusable(
                    INTERMEDIATE,
                    index,
                    "its signature does not verify under any trust anchor or other intermediate",
                ));
            }
            pending = still;
        }
        Ok(store)
    }

    /// The anchors valid at `at` (whole seconds, as certificates state validity).
    pub(crate) fn anchors_at(&self, at: OffsetDateTime) -> Vec<TrustAnchor<'static>> {
        let at = at.replace_nanosecond(0).unwrap_or(at);
        self.anchors
            .iter()
            .filter(|a| a.not_before <= at && at <= a.not_after)
            .map(|a| a.anchor.clone())
            .collect()
    }

    /// Every anchor, whatever its validity (to tell an expired anchor from none).
    pub(crate) fn all_anchors(&self) -> Vec<TrustAnchor<'static>> {
        self.anchors.iter().map(|a| a.anchor.clone()).collect()
    }

    /// The configured anchor a path ended at: the one alike in all webpki keeps of it
    /// (no two anchors are, [`Self::new`]).
    fn anchor_of(&self, anchor: &TrustAnchor<'_>) -> Option<&Anchor> {
        self.anchors.iter().find(|a| {
            a.anchor.subject == anchor.subject
                && a.anchor.subject_public_key_info == anchor.subject_public_key_info
                && a.anchor.name_constraints == anchor.name_constraints
        })
    }

    /// The certificate behind the anchor a path ended at.
    pub(crate) fn der_of_anchor(&self, anchor: &TrustAnchor<'_>) -> Option<&[u8]> {
        self.anchor_of(anchor).map(|a| a.der.as_slice())
    }

    /// The pathLenConstraint of the anchor a path ended at, if it has one.
    pub(crate) fn path_len_of_anchor(&self, anchor: &TrustAnchor<'_>) -> Option<u32> {
        self.anchor_of(anchor).and_then(|a| a.path_len)
    }

    /// Whether the anchor a path ended at allows `purpose` (the DER value of an EKU OID):
    /// its extendedKeyUsage names it or anyExtendedKeyUsage, or it has none.
    pub(crate) fn anchor_allows(&self, anchor: &TrustAnchor<'_>, purpose: &[u8]) -> bool {
        self.anchor_of(anchor)
            .and_then(|a| a.purposes.as_ref())
            .is_none_or(|purposes| purposes.iter().any(|p| p == purpose))
    }

    /// Whether an anchor or configured intermediate constrains email addresses.
    pub(crate) fn constrains_email(&self) -> bool {
        self.constrains_email
    }

    /// Whether `der` is one of the configured (start-up-validated) intermediates.
    pub(crate) fn is_configured_intermediate(&self, der: &[u8]) -> bool {
        self.intermediates.iter().any(|i| i.as_ref() == der)
    }

    /// The configured intermediates, for path building.
    pub(crate) fn intermediates(&self) -> &[CertificateDer<'static>] {
        &self.intermediates
    }

    /// The verification algorithms for a path, each looking first among the signatures
    /// verified at start-up.
    pub(crate) fn algorithms(&self, allow_sha1: bool) -> Vec<Remembering<'_>> {
        let mut algs: Vec<&'static dyn SignatureVerificationAlgorithm> =
            webpki::ALL_VERIFICATION_ALGS.to_vec();
        if allow_sha1 {
            algs.push(&super::legacy::RsaPkcs1Sha1);
        }
        algs.into_iter()
            .map(|inner| Remembering {
                inner,
                verified: &self.verified,
            })
            .collect()
    }

    /// How many signature verifications the start-up validation has saved so far.
    pub fn remembered_signatures_used(&self) -> u64 {
        self.verified.hits()
    }
}
