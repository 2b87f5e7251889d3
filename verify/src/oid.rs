//! Object identifiers kyso compares against, in dotted form, named once.
//!
//! x509-parser hands OIDs out as values that print dotted (`to_id_string`), so the checks
//! compare text; the few places that need DER bytes (webpki's EKU check) say so.

/// rsaEncryption (RFC 8017 appendix A.1).
pub const RSA: &str = "1.2.840.113549.1.1.1";
/// id-ecPublicKey (RFC 5480 §2.1.1).
pub const EC_PUBLIC_KEY: &str = "1.2.840.10045.2.1";
/// secp256r1 / P-256 (RFC 5480 §2.1.1.1).
pub const P256: &str = "1.2.840.10045.3.1.7";
/// secp384r1 / P-384.
pub const P384: &str = "1.3.132.0.34";
/// secp521r1 / P-521.
pub const P521: &str = "1.3.132.0.35";
/// Ed25519 (RFC 8410).
pub const ED25519: &str = "1.3.101.112";

/// sha1WithRSAEncryption (RFC 3279 §2.2.1).
pub const SHA1_WITH_RSA: &str = "1.2.840.113549.1.1.5";
/// sha256WithRSAEncryption (RFC 4055 §5).
pub const SHA256_WITH_RSA: &str = "1.2.840.113549.1.1.11";
/// sha384WithRSAEncryption.
pub const SHA384_WITH_RSA: &str = "1.2.840.113549.1.1.12";
/// sha512WithRSAEncryption.
pub const SHA512_WITH_RSA: &str = "1.2.840.113549.1.1.13";
/// RSASSA-PSS (RFC 4055 §3.1).
pub const RSASSA_PSS: &str = "1.2.840.113549.1.1.10";
/// ecdsa-with-SHA1 (RFC 3279 §2.2.3).
pub const ECDSA_WITH_SHA1: &str = "1.2.840.10045.4.1";
/// ecdsa-with-SHA256 (RFC 5758 §3.2).
pub const ECDSA_WITH_SHA256: &str = "1.2.840.10045.4.3.2";
/// ecdsa-with-SHA384.
pub const ECDSA_WITH_SHA384: &str = "1.2.840.10045.4.3.3";
/// ecdsa-with-SHA512.
pub const ECDSA_WITH_SHA512: &str = "1.2.840.10045.4.3.4";

/// id-kp-clientAuth (RFC 5280 §4.2.1.12).
pub const EKU_CLIENT_AUTH: &str = "1.3.6.1.5.5.7.3.2";
/// id-kp-emailProtection.
pub const EKU_EMAIL_PROTECTION: &str = "1.3.6.1.5.5.7.3.4";
/// id-kp-documentSigning (RFC 9336).
pub const EKU_DOCUMENT_SIGNING: &str = "1.3.6.1.5.5.7.3.36";
/// Microsoft document signing (szOID_KP_DOCUMENT_SIGNING).
pub const EKU_MS_DOCUMENT_SIGNING: &str = "1.3.6.1.4.1.311.10.3.12";
/// anyExtendedKeyUsage (RFC 5280 §4.2.1.12).
pub const EKU_ANY: &str = "2.5.29.37.0";

/// id-ad-ocsp (RFC 5280 §4.2.2.1).
pub const AD_OCSP: &str = "1.3.6.1.5.5.7.48.1";
/// id-ad-caIssuers.
pub const AD_CA_ISSUERS: &str = "1.3.6.1.5.5.7.48.2";

/// userId / UID (RFC 4519 §2.39): where Vietnamese CAs write `CCCD:…`, `MST:…`.
pub const ATTR_UID: &str = "0.9.2342.19200300.100.1.1";
/// serialNumber (X.520): ETSI semantics identifiers for persons.
pub const ATTR_SERIAL_NUMBER: &str = "2.5.4.5";
/// organizationIdentifier (X.520): ETSI semantics identifiers for organizations.
pub const ATTR_ORGANIZATION_IDENTIFIER: &str = "2.5.4.97";
/// commonName.
pub const ATTR_COMMON_NAME: &str = "2.5.4.3";
/// organizationName.
pub const ATTR_ORGANIZATION: &str = "2.5.4.10";
/// emailAddress (PKCS #9).
pub const ATTR_EMAIL_ADDRESS: &str = "1.2.840.113549.1.9.1";
