//! `kyso-gateway inspect CERT`: what a certificate says, with no trust decision.

use crate::certificate::CertificateFacts;
use crate::error::ErrorCode;
use crate::identity::{Subject, extract_subject};
use serde::Serialize;
use time::OffsetDateTime;

/// The JSON report: certificate facts, and either the identity or the identity error.
#[derive(Debug, Serialize)]
pub struct InspectReport {
    /// The identity the gateway would read (design §4 `subject`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub subject: Option<Subject>,
    /// Why no identity could be read.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<ReportError>,
    /// Facts about the certificate.
    pub certificate: CertificateFacts,
}

/// A stable code and a human explanation.
#[derive(Debug, Serialize)]
pub struct ReportError {
    /// The stable code (design §6).
    pub code: ErrorCode,
    /// What exactly is wrong.
    pub detail: String,
}

/// The input was not a certificate.
#[derive(Debug, thiserror::Error)]
#[error("not an X.509 certificate (PEM or DER): {0}")]
pub struct NotACertificate(String);

/// Decodes PEM (the first `CERTIFICATE` block) or DER. A DER certificate is a SEQUENCE,
/// so it starts with the byte 0x30, which no PEM file does (its first line is text or
/// `-----BEGIN`); whatever else the bytes hold — a `-` in a serial number, say — does not
/// decide it.
pub fn decode_certificate(bytes: &[u8]) -> Result<Vec<u8>, NotACertificate> {
    if bytes.first() != Some(&0x30) {
        let blocks = pem::parse_many(bytes).map_err(|e| NotACertificate(e.to_string()))?;
        return blocks
            .into_iter()
            .find(|b| b.tag() == "CERTIFICATE" || b.tag() == "X509 CERTIFICATE")
            .map(pem::Pem::into_contents)
            .ok_or_else(|| NotACertificate("no CERTIFICATE block".into()));
    }
    Ok(bytes.to_vec())
}

/// Decodes every certificate of a file: each `CERTIFICATE` block of a PEM bundle (a set
/// of roots, a chain), or the one DER certificate.
pub fn decode_certificates(bytes: &[u8]) -> Result<Vec<Vec<u8>>, NotACertificate> {
    if bytes.first() == Some(&0x30) {
        return Ok(vec![bytes.to_vec()]);
    }
    let certificates: Vec<Vec<u8>> = pem::parse_many(bytes)
        .map_err(|e| NotACertificate(e.to_string()))?
        .into_iter()
        .filter(|b| b.tag() == "CERTIFICATE" || b.tag() == "X509 CERTIFICATE")
        .map(pem::Pem::into_contents)
        .collect();
    if certificates.is_empty() {
        return Err(NotACertificate("no CERTIFICATE block".into()));
    }
    Ok(certificates)
}

/// Builds the report for a certificate (PEM or DER) as seen at `at`.
pub fn inspect(bytes: &[u8], at: OffsetDateTime) -> Result<InspectReport, NotACertificate> {
    let der = decode_certificate(bytes)?;
    let (rest, cert) =
        x509_parser::parse_x509_certificate(&der).map_err(|e| NotACertificate(e.to_string()))?;
    if !rest.is_empty() {
        return Err(NotACertificate(
            "trailing bytes after the certificate".into(),
        ));
    }
    let (subject, error) = match extract_subject(&cert, at.year()) {
        Ok(s) => (Some(s), None),
        Err(e) => (
            None,
            Some(ReportError {
                code: e.code(),
                detail: e.to_string(),
            }),
        ),
    };
    Ok(InspectReport {
        subject,
        error,
        certificate: CertificateFacts::of(&cert, &der),
    })
}

#[cfg(test)]
mod tests {
    use super::decode_certificate;

    #[test]
    fn der_is_told_from_pem_by_its_first_byte_not_by_dashes_inside() {
        // A DER SEQUENCE whose first bytes hold `-` (0x2D), as a serial number may.
        let der = [
            0x30, 0x82, 0x01, 0x2d, 0x02, 0x10, 0x2d, 0x2d, 0x2d, 0x2d, 0x2d,
        ];
        assert_eq!(decode_certificate(&der).unwrap(), der);
        let pem =
            b"subject=CN = x\n-----BEGIN CERTIFICATE-----\nMAMCAQE=\n-----END CERTIFICATE-----\n";
        assert_eq!(
            decode_certificate(pem).unwrap(),
            [0x30, 0x03, 0x02, 0x01, 0x01]
        );
        assert!(
            decode_certificate(b"-----BEGIN PUBLIC KEY-----\nMAMCAQE=\n-----END PUBLIC KEY-----\n")
                .is_err()
        );
    }
}
