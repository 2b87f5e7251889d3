//! Facts about a certificate, as `kyso-gateway inspect` and the registration preview show
//! them. Reading facts makes no trust decision.

use crate::oid;
use aws_lc_rs::digest;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use x509_parser::certificate::X509Certificate;
use x509_parser::extensions::{DistributionPointName, GeneralName, ParsedExtension};
use x509_parser::public_key::PublicKey;
use x509_parser::x509::X509Name;

/// What a person or an operator wants to know about a certificate at a glance.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CertificateFacts {
    /// Subject DN for display (RFC 4514 escaping, certificate order). Never parsed.
    pub subject: String,
    /// Issuer DN for display.
    pub issuer: String,
    /// Serial number, lowercase hex.
    pub serial: String,
    /// notBefore.
    #[serde(with = "time::serde::rfc3339")]
    pub not_before: OffsetDateTime,
    /// notAfter.
    #[serde(with = "time::serde::rfc3339")]
    pub not_after: OffsetDateTime,
    /// SHA-256 of the DER, lowercase hex.
    pub fingerprint_sha256: String,
    /// Key type and size, e.g. `RSA-2048`, `EC-P256`.
    pub key: String,
    /// Signature algorithm name, e.g. `sha256WithRSAEncryption`.
    pub signature_algorithm: String,
    /// keyUsage bits that are set (RFC 5280 §4.2.1.3 names).
    pub key_usage: Vec<String>,
    /// extendedKeyUsage purposes (names where known, else dotted OIDs).
    pub extended_key_usage: Vec<String>,
    /// Whether basicConstraints says CA.
    pub is_ca: bool,
    /// OCSP responder URLs from AIA.
    pub ocsp_urls: Vec<String>,
    /// Issuer certificate URLs from AIA.
    pub ca_issuers_urls: Vec<String>,
    /// CRL URLs from CRLDP.
    pub crl_urls: Vec<String>,
}

fn oid_name(oid: &str) -> Option<&'static str> {
    Some(match oid {
        "2.5.4.6" => "C",
        "2.5.4.8" => "ST",
        "2.5.4.7" => "L",
        "2.5.4.10" => "O",
        "2.5.4.11" => "OU",
        "2.5.4.3" => "CN",
        "2.5.4.5" => "serialNumber",
        "2.5.4.97" => "organizationIdentifier",
        "2.5.4.4" => "SN",
        "2.5.4.42" => "GN",
        "2.5.4.12" => "title",
        "0.9.2342.19200300.100.1.1" => "UID",
        "1.2.840.113549.1.9.1" => "emailAddress",
        _ => return None,
    })
}

/// A DN for display, in certificate order, with RFC 4514 §2.4 escaping of `,+"\<>;`.
pub fn display_name(name: &X509Name<'_>) -> String {
    name.iter_attributes()
        .map(|a| {
            let oid = a.attr_type().to_id_string();
            let key = oid_name(&oid).map(str::to_owned).unwrap_or(oid);
            let value = crate::identity::decode_string(a)
                .unwrap_or_else(|| format!("#{}", hex::encode(a.as_slice())));
            let mut escaped = String::with_capacity(value.len());
            for ch in value.chars() {
                if matches!(ch, ',' | '+' | '"' | '\\' | '<' | '>' | ';') {
                    escaped.push('\\');
                }
                escaped.push(ch);
            }
            format!("{key}={escaped}")
        })
        .collect::<Vec<_>>()
        .join(", ")
}

fn signature_algorithm_name(oid: &str) -> String {
    match oid {
        oid::SHA1_WITH_RSA => "sha1WithRSAEncryption",
        oid::SHA256_WITH_RSA => "sha256WithRSAEncryption",
        oid::SHA384_WITH_RSA => "sha384WithRSAEncryption",
        oid::SHA512_WITH_RSA => "sha512WithRSAEncryption",
        oid::RSASSA_PSS => "RSASSA-PSS",
        oid::ECDSA_WITH_SHA1 => "ecdsa-with-SHA1",
        oid::ECDSA_WITH_SHA256 => "ecdsa-with-SHA256",
        oid::ECDSA_WITH_SHA384 => "ecdsa-with-SHA384",
        oid::ECDSA_WITH_SHA512 => "ecdsa-with-SHA512",
        oid::ED25519 => "Ed25519",
        other => return other.to_owned(),
    }
    .to_owned()
}

/// The SubjectPublicKeyInfo's algorithm OID and, for EC keys, the named curve's OID,
/// both in dotted form.
pub fn key_algorithm(cert: &X509Certificate<'_>) -> (String, Option<String>) {
    let alg = &cert.public_key().algorithm;
    let curve = alg
        .parameters
        .as_ref()
        .and_then(|p| p.as_oid().ok())
        .map(|o| o.to_id_string());
    (alg.algorithm.to_id_string(), curve)
}

/// `RSA-2048`, `EC-P256`, … from the SubjectPublicKeyInfo.
pub fn key_description(cert: &X509Certificate<'_>) -> String {
    let spki = cert.public_key();
    let (alg, curve) = key_algorithm(cert);
    match (alg.as_str(), curve.as_deref(), spki.parsed()) {
        (oid::RSA, _, Ok(PublicKey::RSA(rsa))) => format!("RSA-{}", rsa.key_size()),
        (oid::EC_PUBLIC_KEY, Some(oid::P256), _) => "EC-P256".into(),
        (oid::EC_PUBLIC_KEY, Some(oid::P384), _) => "EC-P384".into(),
        (oid::EC_PUBLIC_KEY, Some(oid::P521), _) => "EC-P521".into(),
        (oid::EC_PUBLIC_KEY, Some(other), _) => format!("EC-{other}"),
        (oid::ED25519, _, _) => "Ed25519".into(),
        (other, _, _) => format!("unknown-{other}"),
    }
}

/// Where a certificate says its status and its issuer can be found: AIA (RFC 5280
/// §4.2.2.1) and CRL distribution points (§4.2.1.13). URIs only, in certificate order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RevocationPointers {
    /// OCSP responder URLs (AIA id-ad-ocsp).
    pub ocsp: Vec<String>,
    /// Issuer certificate URLs (AIA id-ad-caIssuers).
    pub ca_issuers: Vec<String>,
    /// CRL URLs (full names of the distribution points).
    pub crl: Vec<String>,
}

impl RevocationPointers {
    /// Reads the pointers of a certificate; unreadable extensions give none.
    pub fn of(cert: &X509Certificate<'_>) -> Self {
        let mut pointers = Self::default();
        for ext in cert.extensions() {
            match ext.parsed_extension() {
                ParsedExtension::AuthorityInfoAccess(aia) => {
                    for ad in &aia.accessdescs {
                        let GeneralName::URI(uri) = ad.access_location else {
                            continue;
                        };
                        match ad.access_method.to_id_string().as_str() {
                            oid::AD_OCSP => pointers.ocsp.push(uri.to_owned()),
                            oid::AD_CA_ISSUERS => pointers.ca_issuers.push(uri.to_owned()),
                            _ => {}
                        }
                    }
                }
                ParsedExtension::CRLDistributionPoints(points) => {
                    for point in points.iter() {
                        if let Some(DistributionPointName::FullName(names)) =
                            &point.distribution_point
                        {
                            pointers.crl.extend(names.iter().filter_map(|n| match n {
                                GeneralName::URI(u) => Some((*u).to_owned()),
                                _ => None,
                            }));
                        }
                    }
                }
                _ => {}
            }
        }
        pointers
    }
}

impl CertificateFacts {
    /// Reads the facts of a parsed certificate; `der` is its encoding (for the fingerprint).
    pub fn of(cert: &X509Certificate<'_>, der: &[u8]) -> Self {
        let pointers = RevocationPointers::of(cert);
        let mut facts = CertificateFacts {
            subject: display_name(cert.subject()),
            issuer: display_name(cert.issuer()),
            serial: hex::encode(cert.raw_serial()),
            not_before: cert.validity().not_before.to_datetime(),
            not_after: cert.validity().not_after.to_datetime(),
            fingerprint_sha256: hex::encode(digest::digest(&digest::SHA256, der)),
            key: key_description(cert),
            signature_algorithm: signature_algorithm_name(
                &cert.signature_algorithm.algorithm.to_id_string(),
            ),
            key_usage: Vec::new(),
            extended_key_usage: Vec::new(),
            is_ca: false,
            ocsp_urls: pointers.ocsp,
            ca_issuers_urls: pointers.ca_issuers,
            crl_urls: pointers.crl,
        };
        for ext in cert.extensions() {
            match ext.parsed_extension() {
                ParsedExtension::KeyUsage(ku) => {
                    let bits = [
                        (ku.digital_signature(), "digitalSignature"),
                        (ku.non_repudiation(), "nonRepudiation"),
                        (ku.key_encipherment(), "keyEncipherment"),
                        (ku.data_encipherment(), "dataEncipherment"),
                        (ku.key_agreement(), "keyAgreement"),
                        (ku.key_cert_sign(), "keyCertSign"),
                        (ku.crl_sign(), "cRLSign"),
                        (ku.encipher_only(), "encipherOnly"),
                        (ku.decipher_only(), "decipherOnly"),
                    ];
                    facts.key_usage = bits
                        .iter()
                        .filter(|(set, _)| *set)
                        .map(|(_, n)| (*n).to_owned())
                        .collect();
                }
                ParsedExtension::ExtendedKeyUsage(eku) => {
                    let known = [
                        (eku.any, "anyExtendedKeyUsage"),
                        (eku.server_auth, "serverAuth"),
                        (eku.client_auth, "clientAuth"),
                        (eku.code_signing, "codeSigning"),
                        (eku.email_protection, "emailProtection"),
                        (eku.time_stamping, "timeStamping"),
                        (eku.ocsp_signing, "OCSPSigning"),
                    ];
                    facts.extended_key_usage = known
                        .iter()
                        .filter(|(set, _)| *set)
                        .map(|(_, n)| (*n).to_owned())
                        .chain(eku.other.iter().map(|o| match o.to_id_string().as_str() {
                            oid::EKU_DOCUMENT_SIGNING => "documentSigning".to_owned(),
                            oid::EKU_MS_DOCUMENT_SIGNING => "msDocumentSigning".to_owned(),
                            other => other.to_owned(),
                        }))
                        .collect();
                }
                ParsedExtension::BasicConstraints(bc) => facts.is_ca = bc.ca,
                _ => {}
            }
        }
        facts
    }
}
