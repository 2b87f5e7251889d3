//! The little DER that rcgen cannot write for us.
//!
//! rcgen keeps one value per attribute type in a distinguished name and has no SHA-1
//! signatures, but real Vietnamese certificates carry several `UID` attributes and the
//! test PKI needs one SHA-1 certificate. So end-entity certificates are built by rcgen,
//! then their `TBSCertificate` gets the subject (and, for the legacy profile, the signature
//! algorithm) replaced and is signed again (RFC 5280 §4.1).

use crate::error::{Error, Result};
use yasna::models::ObjectIdentifier;
use yasna::{ASN1Error, DERWriter, Tag};

/// OID of the LDAP `UID` attribute (RFC 4519), where Vietnamese CAs put `CCCD:…`, `MST:…`.
pub const OID_UID: &[u64] = &[0, 9, 2342, 19200300, 100, 1, 1];
/// OID of `countryName` (X.520).
pub const OID_COUNTRY: &[u64] = &[2, 5, 4, 6];
/// OID of `stateOrProvinceName` (X.520).
pub const OID_PROVINCE: &[u64] = &[2, 5, 4, 8];
/// OID of `localityName` (X.520).
pub const OID_LOCALITY: &[u64] = &[2, 5, 4, 7];
/// OID of `organizationName` (X.520).
pub const OID_ORGANIZATION: &[u64] = &[2, 5, 4, 10];
/// OID of `organizationalUnitName` (X.520).
pub const OID_ORG_UNIT: &[u64] = &[2, 5, 4, 11];
/// OID of `commonName` (X.520).
pub const OID_COMMON_NAME: &[u64] = &[2, 5, 4, 3];
/// OID of `serialNumber` (X.520), where ETSI EN 319 412-1 puts `PNOVN-…`.
pub const OID_SERIAL_NUMBER: &[u64] = &[2, 5, 4, 5];
/// OID of `organizationIdentifier` (X.520), where ETSI EN 319 412-1 puts `TINVN-…`.
pub const OID_ORGANIZATION_IDENTIFIER: &[u64] = &[2, 5, 4, 97];

/// OID of the Authority Information Access extension (RFC 5280 §4.2.2.1).
pub const OID_AIA: &[u64] = &[1, 3, 6, 1, 5, 5, 7, 1, 1];
/// OID of `id-pkix-ocsp-nocheck` (RFC 6960 §4.2.2.2.1).
pub const OID_OCSP_NOCHECK: &[u64] = &[1, 3, 6, 1, 5, 5, 7, 48, 1, 5];
const OID_AD_OCSP: &[u64] = &[1, 3, 6, 1, 5, 5, 7, 48, 1];
const OID_AD_CA_ISSUERS: &[u64] = &[1, 3, 6, 1, 5, 5, 7, 48, 2];
const OID_SHA1_WITH_RSA: &[u64] = &[1, 2, 840, 113549, 1, 1, 5];

/// The ASN.1 string type an attribute value is written in. Real CAs differ, and the
/// gateway must read them all, so the test persons use several.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StringKind {
    /// UTF8String, what Vietnamese CAs use for names with diacritics.
    Utf8,
    /// PrintableString, required for countryName and serialNumber.
    Printable,
    /// IA5String.
    Ia5,
    /// BMPString (UTF-16BE), seen in older certificates.
    Bmp,
}

/// One attribute of a distinguished name; each becomes its own RDN, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attribute {
    /// Attribute type.
    pub oid: &'static [u64],
    /// How the value is encoded.
    pub kind: StringKind,
    /// The value.
    pub value: String,
}

/// Encodes a distinguished name (RFC 5280 §4.1.2.4), one attribute per RDN.
pub fn encode_name(attributes: &[Attribute]) -> Vec<u8> {
    yasna::construct_der(|w| {
        w.write_sequence(|w| {
            for a in attributes {
                w.next().write_set(|w| {
                    w.next().write_sequence(|w| {
                        w.next().write_oid(&ObjectIdentifier::from_slice(a.oid));
                        write_string(w.next(), a.kind, &a.value);
                    })
                })
            }
        })
    })
}

fn write_string(w: DERWriter<'_>, kind: StringKind, value: &str) {
    match kind {
        StringKind::Utf8 => w.write_utf8_string(value),
        StringKind::Printable => w.write_printable_string(value),
        StringKind::Ia5 => w.write_ia5_string(value),
        StringKind::Bmp => w.write_bmp_string(value),
    }
}

/// The value of an Authority Information Access extension naming the OCSP responder and
/// the issuer's certificate (RFC 5280 §4.2.2.1).
pub fn aia_value(ocsp_urls: &[String], ca_issuers_url: &str) -> Vec<u8> {
    yasna::construct_der(|w| {
        w.write_sequence(|w| {
            let access = ocsp_urls
                .iter()
                .map(|u| (OID_AD_OCSP, u.as_str()))
                .chain(std::iter::once((OID_AD_CA_ISSUERS, ca_issuers_url)));
            for (method, url) in access {
                w.next().write_sequence(|w| {
                    w.next().write_oid(&ObjectIdentifier::from_slice(method));
                    w.next()
                        .write_tagged_implicit(Tag::context(6), |w| w.write_ia5_string(url));
                });
            }
        })
    })
}

/// The value of the `id-pkix-ocsp-nocheck` extension: NULL.
pub fn null_value() -> Vec<u8> {
    yasna::construct_der(|w| w.write_null())
}

/// The `AlgorithmIdentifier` for sha1WithRSAEncryption (RFC 3279 §2.2.1), with NULL
/// parameters.
pub fn sha1_with_rsa_algorithm() -> Vec<u8> {
    yasna::construct_der(|w| {
        w.write_sequence(|w| {
            w.next()
                .write_oid(&ObjectIdentifier::from_slice(OID_SHA1_WITH_RSA));
            w.next().write_null();
        })
    })
}

fn der_err(e: ASN1Error) -> Error {
    Error::Der(e.to_string())
}

/// The three parts of a certificate: the raw TBS, the raw signature algorithm, and the
/// signature bytes.
pub struct CertificateParts {
    /// `TBSCertificate`, DER.
    pub tbs: Vec<u8>,
    /// `signatureAlgorithm`, DER.
    pub algorithm: Vec<u8>,
    /// The signature BIT STRING's bytes.
    pub signature: Vec<u8>,
}

/// Splits a DER certificate into its three top-level parts.
pub fn split_certificate(der: &[u8]) -> Result<CertificateParts> {
    yasna::parse_der(der, |r| {
        r.read_sequence(|r| {
            let tbs = r.next().read_der()?;
            let algorithm = r.next().read_der()?;
            let (signature, _) = r.next().read_bitvec_bytes()?;
            Ok(CertificateParts {
                tbs,
                algorithm,
                signature,
            })
        })
    })
    .map_err(der_err)
}

/// Joins a TBS, its signature algorithm and a signature into a certificate.
pub fn join_certificate(tbs: &[u8], algorithm: &[u8], signature: &[u8]) -> Vec<u8> {
    yasna::construct_der(|w| {
        w.write_sequence(|w| {
            w.next().write_der(tbs);
            w.next().write_der(algorithm);
            w.next().write_bitvec_bytes(signature, signature.len() * 8);
        })
    })
}

/// The top-level fields of a `TBSCertificate`, each as raw DER, and the index of the
/// `signature` field (1, or 2 after the `[0]` version).
fn tbs_fields(tbs: &[u8]) -> Result<(Vec<Vec<u8>>, usize)> {
    let fields: Vec<Vec<u8>> = yasna::parse_der(tbs, |r| {
        r.read_sequence(|r| {
            let mut fields = Vec::new();
            while let Some(field) = r.read_optional(|r| r.read_der())? {
                fields.push(field);
            }
            Ok(fields)
        })
    })
    .map_err(der_err)?;
    let sig_alg_at = match fields.first().and_then(|f| f.first()) {
        Some(0xa0) => 2,
        _ => 1,
    };
    // serial, signature, issuer, validity, subject, subjectPublicKeyInfo must follow.
    if fields.len() < sig_alg_at + 5 {
        return Err(Error::Der("TBSCertificate has too few fields".into()));
    }
    Ok((fields, sig_alg_at))
}

/// Returns `tbs` with its subject replaced by `subject` and, when given, its inner
/// signature algorithm replaced by `algorithm`. Everything else is kept byte for byte.
pub fn rewrite_tbs(tbs: &[u8], subject: &[u8], algorithm: Option<&[u8]>) -> Result<Vec<u8>> {
    let (fields, sig_alg_at) = tbs_fields(tbs)?;
    let subject_at = sig_alg_at + 3;
    Ok(yasna::construct_der(|w| {
        w.write_sequence(|w| {
            for (i, field) in fields.iter().enumerate() {
                let bytes = match (i, algorithm) {
                    (i, Some(alg)) if i == sig_alg_at => alg,
                    (i, _) if i == subject_at => subject,
                    _ => field.as_slice(),
                };
                w.next().write_der(bytes);
            }
        })
    }))
}

/// The serial number's magnitude as uppercase hex, as OpenSSL's `BN_bn2hex` prints it.
pub fn serial_hex(cert_der: &[u8]) -> Result<String> {
    let parts = split_certificate(cert_der)?;
    let (fields, sig_alg_at) = tbs_fields(&parts.tbs)?;
    let serial = yasna::parse_der(&fields[sig_alg_at - 1], |r| r.read_bigint_bytes())
        .map_err(der_err)?
        .0;
    let magnitude: Vec<u8> = serial.into_iter().skip_while(|b| *b == 0).collect();
    Ok(hex::encode_upper(magnitude))
}

/// The subject `Name` of a certificate, raw DER (what PKCS#11 wants in `CKA_SUBJECT`).
pub fn subject_der(cert_der: &[u8]) -> Result<Vec<u8>> {
    let parts = split_certificate(cert_der)?;
    let (mut fields, sig_alg_at) = tbs_fields(&parts.tbs)?;
    Ok(fields.swap_remove(sig_alg_at + 3))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn name_keeps_repeated_attributes_in_order() {
        let name = encode_name(&[
            Attribute {
                oid: OID_UID,
                kind: StringKind::Utf8,
                value: "CMND:012345678".into(),
            },
            Attribute {
                oid: OID_UID,
                kind: StringKind::Printable,
                value: "CCCD:001090012345".into(),
            },
        ]);
        let text = String::from_utf8_lossy(&name);
        let first = text.find("CMND").unwrap();
        let second = text.find("CCCD").unwrap();
        assert!(first < second);
    }

    #[test]
    fn split_then_join_is_identity() {
        let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
        let cert = rcgen::CertificateParams::new(vec!["a.test".into()])
            .unwrap()
            .self_signed(&key)
            .unwrap();
        let der = cert.der().to_vec();
        let p = split_certificate(&der).unwrap();
        assert_eq!(join_certificate(&p.tbs, &p.algorithm, &p.signature), der);
    }

    #[test]
    fn rewrite_replaces_subject_and_algorithm_only() {
        let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
        let cert = rcgen::CertificateParams::new(vec!["a.test".into()])
            .unwrap()
            .self_signed(&key)
            .unwrap();
        let p = split_certificate(cert.der()).unwrap();
        let subject = encode_name(&[Attribute {
            oid: OID_COMMON_NAME,
            kind: StringKind::Utf8,
            value: "Nguyễn Văn An".into(),
        }]);
        let alg = sha1_with_rsa_algorithm();
        let tbs = rewrite_tbs(&p.tbs, &subject, Some(&alg)).unwrap();
        let der = join_certificate(&tbs, &alg, &p.signature);
        let (_, parsed) = x509_parser::parse_x509_certificate(&der).unwrap();
        assert_eq!(parsed.subject().to_string(), "CN=Nguyễn Văn An");
        assert_eq!(
            parsed.tbs_certificate.signature.algorithm.to_id_string(),
            "1.2.840.113549.1.1.5"
        );
        assert_eq!(parsed.issuer().to_string(), "CN=rcgen self signed cert");
    }
}
