//! The configured trust: anchors, and intermediates validated once at start-up.
//!
//! A validated intermediate is also used as a trust anchor at request time, so a
//! registration under a known provider CA costs one certificate signature check (the
//! leaf's), not one per level. Anchors do not carry validity for webpki, so the
//! intermediates' own validity is checked here against the verification time.

use rustls_pki_types::{CertificateDer, TrustAnchor};
use time::OffsetDateTime;
use x509_parser::certificate::X509Certificate;

/// Why the configured trust is unusable. Start-up fails with this message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TrustError {
    /// No trust anchor at all.
    #[error("no trust anchors configured")]
    NoAnchors,
    /// A configured certificate cannot be parsed or used as an anchor.
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

/// One validated intermediate CA.
#[derive(Debug, Clone)]
pub(crate) struct Intermediate {
    pub der: CertificateDer<'static>,
    pub anchor: TrustAnchor<'static>,
    pub not_before: OffsetDateTime,
    pub not_after: OffsetDateTime,
}

/// Anchors and validated intermediates.
#[derive(Debug, Clone)]
pub struct TrustStore {
    pub(crate) roots: Vec<TrustAnchor<'static>>,
    /// The roots' certificates, in the order of `roots` (revocation needs the issuer's
    /// certificate, not just its anchor).
    root_ders: Vec<Vec<u8>>,
    pub(crate) intermediates: Vec<Intermediate>,
}

fn parse<'a>(
    der: &'a [u8],
    what: &'static str,
    index: usize,
) -> Result<X509Certificate<'a>, TrustError> {
    let unusable = |detail: String| TrustError::Unusable {
        what,
        index,
        detail,
    };
    let (rest, cert) =
        x509_parser::parse_x509_certificate(der).map_err(|e| unusable(e.to_string()))?;
    if !rest.is_empty() {
        return Err(unusable("trailing bytes".into()));
    }
    if !cert.is_ca() {
        return Err(unusable(
            "not a CA certificate (basicConstraints cA is not set)".into(),
        ));
    }
    // As an anchor it escapes webpki's own checks of a path's CA, so check its keyUsage
    // here (RFC 5280 §4.2.1.3: keyCertSign for a key that verifies certificates).
    match cert.key_usage() {
        Ok(Some(ku)) if !ku.value.key_cert_sign() => {
            return Err(unusable("keyUsage lacks keyCertSign".into()));
        }
        Err(e) => return Err(unusable(format!("keyUsage cannot be read: {e}"))),
        _ => {}
    }
    Ok(cert)
}

fn anchor(
    der: &CertificateDer<'_>,
    what: &'static str,
    index: usize,
) -> Result<TrustAnchor<'static>, TrustError> {
    webpki::anchor_from_trusted_cert(der)
        .map(|a| a.to_owned())
        .map_err(|e| TrustError::Unusable {
            what,
            index,
            detail: format!("{e:?}"),
        })
}

impl TrustStore {
    /// Builds the store. Every intermediate must be a CA whose signature verifies under an
    /// anchor or an intermediate already accepted (in any order); otherwise this fails and
    /// names it, because a silently ignored intermediate is a registration that fails later.
    pub fn new(anchors: &[Vec<u8>], intermediates: &[Vec<u8>]) -> Result<Self, TrustError> {
        if anchors.is_empty() {
            return Err(TrustError::NoAnchors);
        }
        let mut roots = Vec::new();
        let mut root_ders = Vec::new();
        let mut issuers: Vec<Vec<u8>> = Vec::new();
        for (i, der) in anchors.iter().enumerate() {
            parse(der, "trust anchor", i + 1)?;
            roots.push(anchor(
                &CertificateDer::from(der.as_slice()),
                "trust anchor",
                i + 1,
            )?);
            issuers.push(der.clone());
            root_ders.push(der.clone());
        }
        let mut pending: Vec<(usize, &Vec<u8>)> = intermediates
            .iter()
            .enumerate()
            .map(|(i, d)| (i + 1, d))
            .collect();
        let mut accepted = Vec::new();
        while !pending.is_empty() {
            let before = pending.len();
            let mut still = Vec::new();
            for (index, der) in pending {
                let cert = parse(der, "intermediate", index)?;
                let signed_by_known = issuers.iter().any(|issuer| {
                    x509_parser::parse_x509_certificate(issuer).is_ok_and(|(_, issuer)| {
                        issuer.subject().as_raw() == cert.issuer().as_raw()
                            && cert.verify_signature(Some(issuer.public_key())).is_ok()
                    })
                });
                if !signed_by_known {
                    still.push((index, der));
                    continue;
                }
                let owned = CertificateDer::from(der.clone());
                accepted.push(Intermediate {
                    anchor: anchor(&owned, "intermediate", index)?,
                    not_before: cert.validity().not_before.to_datetime(),
                    not_after: cert.validity().not_after.to_datetime(),
                    der: owned,
                });
                issuers.push(der.clone());
            }
            if still.len() == before {
                let (index, _) = still[0];
                return Err(TrustError::Unusable {
                    what: "intermediate",
                    index,
                    detail:
                        "its signature does not verify under any trust anchor or other intermediate"
                            .into(),
                });
            }
            pending = still;
        }
        Ok(Self {
            roots,
            root_ders,
            intermediates: accepted,
        })
    }

    /// Anchors for a fast path at `at`: the roots plus the intermediates valid at `at`.
    pub(crate) fn fast_anchors(&self, at: OffsetDateTime) -> Vec<TrustAnchor<'static>> {
        let mut v = self.roots.clone();
        v.extend(
            self.intermediates
                .iter()
                .filter(|i| i.not_before <= at && at <= i.not_after)
                .map(|i| i.anchor.clone()),
        );
        v
    }

    /// The certificate behind an anchor that a path ended at (a root or an intermediate
    /// used as an anchor).
    pub(crate) fn der_of_anchor(&self, anchor: &TrustAnchor<'_>) -> Option<&[u8]> {
        let same = |a: &TrustAnchor<'_>| {
            a.subject == anchor.subject
                && a.subject_public_key_info == anchor.subject_public_key_info
        };
        self.roots
            .iter()
            .zip(&self.root_ders)
            .find(|(a, _)| same(a))
            .map(|(_, der)| der.as_slice())
            .or_else(|| {
                self.intermediates
                    .iter()
                    .find(|i| same(&i.anchor))
                    .map(|i| i.der.as_ref())
            })
    }

    /// Whether `der` is one of the configured (start-up-validated) intermediates.
    pub(crate) fn is_configured_intermediate(&self, der: &[u8]) -> bool {
        self.intermediates.iter().any(|i| i.der.as_ref() == der)
    }

    /// Every configured intermediate, for full path building.
    pub(crate) fn intermediate_ders(&self) -> impl Iterator<Item = &CertificateDer<'static>> {
        self.intermediates.iter().map(|i| &i.der)
    }
}
