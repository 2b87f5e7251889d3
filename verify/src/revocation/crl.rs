//! CRLs (RFC 5280 §5): decoding what a CRL distribution point served, and what a CRL says
//! about one certificate of a validated path.
//!
//! Pure: bytes in, verdicts out. Fetching, caching and refreshing are the gateway's
//! (`kyso_gateway::revocation::crl_store`).

use crate::policy::ValidatedPath;
use time::OffsetDateTime;
use webpki::{CertRevocationList, OwnedCertRevocationList};

/// A parsed CRL with the times that decide its use.
#[derive(Debug)]
pub struct CachedCrl {
    list: CertRevocationList<'static>,
    /// thisUpdate.
    pub this_update: OffsetDateTime,
    /// nextUpdate (webpki refuses CRLs without one).
    pub next_update: OffsetDateTime,
}

/// What a usable CRL says about a certificate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CrlVerdict {
    /// Not listed.
    Good,
    /// Listed as revoked.
    Revoked,
}

/// Decodes a CRL (DER, or PEM as some CAs publish) and reads its times. It must carry a
/// non-critical cRLNumber (RFC 5280 §5.2.3: "conforming CRL issuers MUST include" it and
/// "MUST mark this extension as non-critical"), as every CRL a real CA publishes does.
pub fn decode(bytes: &[u8]) -> Result<CachedCrl, String> {
    let der = if bytes.starts_with(b"-----BEGIN") {
        pem::parse(bytes)
            .map_err(|e| format!("not a PEM CRL: {e}"))?
            .into_contents()
    } else {
        bytes.to_vec()
    };
    let (_, parsed) = x509_parser::parse_x509_crl(&der).map_err(|e| format!("not a CRL: {e}"))?;
    match parsed
        .extensions()
        .iter()
        .find(|e| e.oid.to_id_string() == "2.5.29.20")
    {
        None => return Err("the CRL has no cRLNumber".into()),
        Some(e) if e.critical => return Err("the CRL marks its cRLNumber critical".into()),
        Some(_) => {}
    }
    let this_update = parsed.last_update().to_datetime();
    let next_update = parsed
        .next_update()
        .map(|t| t.to_datetime())
        .ok_or("the CRL has no nextUpdate")?;
    let list = OwnedCertRevocationList::from_der(&der)
        .map_err(|e| format!("the CRL is not usable: {e:?}"))?;
    Ok(CachedCrl {
        list: CertRevocationList::Owned(list),
        this_update,
        next_update,
    })
}

impl CachedCrl {
    /// What this CRL says about link `index` of `path` (webpki checks that it is the
    /// issuer's CRL, signed by the issuer and not past nextUpdate). `Err` when the CRL
    /// cannot be used for that certificate.
    pub fn judge(&self, path: &ValidatedPath, index: usize) -> Result<CrlVerdict, String> {
        match path.check_crl(index, &self.list) {
            Ok(()) => Ok(CrlVerdict::Good),
            Err(webpki::Error::CertRevoked) => Ok(CrlVerdict::Revoked),
            Err(e) => Err(format!(
                "the CRL cannot be used for this certificate: {e:?}"
            )),
        }
    }
}
