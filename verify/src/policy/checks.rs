//! kyso's checks beyond rustls-webpki (design §6): what RFC 5280 asks of certificates that
//! webpki leaves to its caller. Each finding is a [`Defect`], ranked and named, mapped to
//! the API code it is refused with.
//!
//! Where each check runs:
//! - trust anchors and configured intermediates: once, at start-up ([`check_anchor`],
//!   [`check_intermediate`]); a defect stops the gateway and names the file;
//! - intermediates that travelled with a token: on every path that uses them
//!   ([`check_intermediate`] from the path callback);
//! - the end-entity: with the leaf rules, before any signature ([`check_end_entity`]).
//!
//! rustls-webpki already does, on every path: signatures, validity of every certificate
//! but the anchor, basicConstraints and path length, name constraints, unknown critical
//! extensions on intermediates and end-entities, and refuses a CA as end-entity.

use crate::error::ErrorCode;
use x509_parser::certificate::X509Certificate;
use x509_parser::extensions::{GeneralName, ParsedExtension};
use x509_parser::public_key::PublicKey;

/// Most subject attributes an end-entity may carry. Real identity certificates carry a
/// dozen at most; thousands are a denial-of-service attempt on name-constraint matching.
pub const MAX_SUBJECT_ATTRIBUTES: usize = 64;

/// Most subjectAltName entries an end-entity may carry (web certificates carry a few
/// hundred; name-constraint matching is bounded by rustls-webpki's own budget too).
pub const MAX_ALT_NAMES: usize = 1024;

/// Extensions webpki processes on a trust anchor or kyso checks itself: the only ones an
/// anchor may mark critical (RFC 5280 §4.2: a critical extension that is not processed
/// makes the certificate unusable). extKeyUsage is kyso's: an anchor's purposes bound
/// the paths below it ([`Defect::AnchorWrongPurpose`]).
const ANCHOR_CRITICAL_OK: [&str; 6] = [
    "2.5.29.15", // keyUsage
    "2.5.29.17", // subjectAltName
    "2.5.29.19", // basicConstraints
    "2.5.29.30", // nameConstraints
    "2.5.29.31", // cRLDistributionPoints
    "2.5.29.37", // extKeyUsage
];

/// What is wrong with a certificate, most basic first.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Defect {
    /// A certificate on the path cannot be parsed.
    #[error("the certificate cannot be parsed: {0}")]
    Unparsable(String),
    /// An issuer is not a CA (basicConstraints cA is not set) (RFC 5280 §4.2.1.9).
    #[error("not a CA certificate (basicConstraints cA is not set)")]
    NotACa,
    /// A CA's basicConstraints is not critical (RFC 5280 §4.2.1.9: MUST be critical).
    #[error("basicConstraints is not marked critical")]
    BasicConstraintsNotCritical,
    /// An issuer's keyUsage lacks keyCertSign (RFC 5280 §4.2.1.3).
    #[error("keyUsage lacks keyCertSign")]
    NoKeyCertSign,
    /// An extension appears twice (RFC 5280 §4.2: a certificate MUST NOT include more
    /// than one instance of a particular extension); webpki refuses only the twins of
    /// the extensions it reads itself.
    #[error("the extension {0} appears more than once")]
    DuplicateExtension(String),
    /// A trust anchor marks critical an extension nothing processes (RFC 5280 §4.2).
    #[error("a critical extension {0} that is not processed")]
    UnknownCriticalExtension(String),
    /// A CA certificate has an empty subject (RFC 5280 §4.1.2.6).
    #[error("a CA certificate with an empty subject")]
    EmptyCaSubject,
    /// A CA certificate has no subjectKeyIdentifier (RFC 5280 §4.2.1.2: MUST).
    #[error("no subjectKeyIdentifier")]
    MissingSubjectKeyId,
    /// A certificate issued by another has no authorityKeyIdentifier keyIdentifier
    /// (RFC 5280 §4.2.1.1: MUST, but for self-signed certificates).
    #[error("no authorityKeyIdentifier keyIdentifier")]
    MissingAuthorityKeyId,
    /// A self-signed anchor's authorityKeyIdentifier does not name its own key, or names
    /// an issuer and serial (RFC 5280 §4.2.1.1).
    #[error("a self-signed certificate whose authorityKeyIdentifier is not its own key id")]
    AuthorityKeyIdMismatch,
    /// subjectKeyIdentifier or authorityKeyIdentifier is marked critical (RFC 5280
    /// §4.2.1.1, §4.2.1.2: MUST be non-critical).
    #[error("a key identifier extension is marked critical")]
    CriticalKeyIdentifier,
    /// nameConstraints cannot be read, has no subtree, or has a malformed one (RFC 5280
    /// §4.2.1.10).
    #[error("malformed nameConstraints: {0}")]
    MalformedNameConstraints(String),
    /// policyConstraints is not critical (RFC 5280 §4.2.1.11: MUST be critical).
    #[error("policyConstraints is not marked critical")]
    PolicyConstraintsNotCritical,
    /// The serial number is not a positive integer of at most 20 octets (RFC 5280
    /// §4.1.2.2).
    #[error("serial number {0}")]
    BadSerialNumber(&'static str),
    /// An RSA modulus whose size is not a multiple of 8 bits (a truncated or broken key).
    #[error("an RSA modulus of {0} bits, not a multiple of 8")]
    OddRsaModulus(usize),
    /// An RSA public exponent that is even, below 3 or above 2^32−1: no RSA key at all
    /// (RFC 8017 §3.1: odd, at least 3), or one that makes each verification cost as much
    /// as a private-key operation, which a stranger's certificate could spend.
    #[error("an RSA public exponent that is even, below 3 or above 2^32-1")]
    BadRsaExponent,
    /// An end-entity asserts keyCertSign or cRLSign: it could sign certificates or CRLs.
    #[error("an end-entity certificate asserting keyCertSign or cRLSign")]
    EndEntitySignsCertificates,
    /// An end-entity carries nameConstraints (RFC 5280 §4.2.1.10: CA certificates only).
    #[error("an end-entity certificate carrying nameConstraints")]
    EndEntityNameConstraints,
    /// An empty subject without a critical subjectAltName (RFC 5280 §4.2.1.6: MUST).
    #[error("an empty subject needs a critical subjectAltName")]
    EmptySubjectWithoutCriticalSan,
    /// authorityInfoAccess cannot be read or lists nothing (RFC 5280 §4.2.2.1:
    /// `SEQUENCE SIZE (1..MAX)`).
    #[error("authorityInfoAccess cannot be read or is empty")]
    MalformedAuthorityInfoAccess,
    /// More than [`MAX_SUBJECT_ATTRIBUTES`] subject attributes or [`MAX_ALT_NAMES`]
    /// subjectAltName entries.
    #[error(
        "more than {MAX_SUBJECT_ATTRIBUTES} subject attributes or {MAX_ALT_NAMES} subjectAltName entries"
    )]
    TooManyNames,
    /// The leaf's subject carries an emailAddress, it has no subjectAltName, and a CA on
    /// the path constrains email addresses: RFC 5280 §4.2.1.10 applies the constraint to
    /// that attribute, which rustls-webpki does not read, so the path is refused (as
    /// webpki refuses an email address in a subjectAltName under such a constraint).
    #[error("a subject emailAddress under a CA that constrains email addresses")]
    SubjectEmailUnderEmailConstraints,
    /// An RSA key of a CA on the path, anchor included, below the policy's minimum.
    #[error("a CA's RSA-{0} key is below the {1}-bit minimum")]
    WeakCaKey(usize, usize),
    /// The trust anchor's extendedKeyUsage does not name the purpose the path is for
    /// (nor anyExtendedKeyUsage): a root restricted to, say, TLS servers does not vouch
    /// for sign-in certificates. rustls-webpki keeps no anchor's purposes; kyso applies
    /// them, as it does intermediates' through webpki.
    #[error("the trust anchor's extendedKeyUsage does not allow this purpose")]
    AnchorWrongPurpose,
    /// The trust anchor the path ends at is not valid at the verification time.
    #[error("the trust anchor is not valid at the verification time")]
    AnchorNotValid,
    /// The path has more intermediates than the policy allows.
    #[error("more than {0} intermediate CAs on the path")]
    TooManyIntermediates(usize),
    /// The path has more intermediates below its trust anchor than the anchor's own
    /// basicConstraints pathLenConstraint allows (RFC 5280 §4.2.1.9). rustls-webpki keeps
    /// no constraint of an anchor but its names; kyso applies this one.
    #[error("more than {0} intermediate CAs below a trust anchor whose pathLenConstraint is {0}")]
    AnchorPathLenExceeded(u32),
}

impl Defect {
    /// The API code a certificate with this defect is refused with.
    pub fn code(&self) -> ErrorCode {
        match self {
            Self::EndEntitySignsCertificates | Self::AnchorWrongPurpose => {
                ErrorCode::CertWrongPurpose
            }
            Self::WeakCaKey(..) | Self::BadRsaExponent => ErrorCode::WeakKey,
            Self::Unparsable(_) => ErrorCode::MalformedToken,
            _ => ErrorCode::CertUntrusted,
        }
    }

    /// A stable name for the defect (UPPER_SNAKE), given with the code as its reason.
    pub fn name(&self) -> &'static str {
        match self {
            Self::Unparsable(_) => "UNPARSABLE",
            Self::NotACa => "NOT_A_CA",
            Self::BasicConstraintsNotCritical => "BASIC_CONSTRAINTS_NOT_CRITICAL",
            Self::NoKeyCertSign => "NO_KEY_CERT_SIGN",
            Self::DuplicateExtension(_) => "DUPLICATE_EXTENSION",
            Self::UnknownCriticalExtension(_) => "UNKNOWN_CRITICAL_EXTENSION",
            Self::EmptyCaSubject => "EMPTY_CA_SUBJECT",
            Self::MissingSubjectKeyId => "MISSING_SUBJECT_KEY_ID",
            Self::MissingAuthorityKeyId => "MISSING_AUTHORITY_KEY_ID",
            Self::AuthorityKeyIdMismatch => "AUTHORITY_KEY_ID_MISMATCH",
            Self::CriticalKeyIdentifier => "CRITICAL_KEY_IDENTIFIER",
            Self::MalformedNameConstraints(_) => "MALFORMED_NAME_CONSTRAINTS",
            Self::PolicyConstraintsNotCritical => "POLICY_CONSTRAINTS_NOT_CRITICAL",
            Self::BadSerialNumber(_) => "BAD_SERIAL_NUMBER",
            Self::OddRsaModulus(_) => "ODD_RSA_MODULUS",
            Self::BadRsaExponent => "BAD_RSA_EXPONENT",
            Self::EndEntitySignsCertificates => "END_ENTITY_SIGNS_CERTIFICATES",
            Self::EndEntityNameConstraints => "END_ENTITY_NAME_CONSTRAINTS",
            Self::EmptySubjectWithoutCriticalSan => "EMPTY_SUBJECT_WITHOUT_CRITICAL_SAN",
            Self::MalformedAuthorityInfoAccess => "MALFORMED_AUTHORITY_INFO_ACCESS",
            Self::TooManyNames => "TOO_MANY_NAMES",
            Self::SubjectEmailUnderEmailConstraints => "SUBJECT_EMAIL_UNDER_EMAIL_CONSTRAINTS",
            Self::AnchorWrongPurpose => "ANCHOR_WRONG_PURPOSE",
            Self::WeakCaKey(..) => "WEAK_CA_KEY",
            Self::AnchorNotValid => "ANCHOR_NOT_VALID",
            Self::TooManyIntermediates(_) => "TOO_MANY_INTERMEDIATES",
            Self::AnchorPathLenExceeded(_) => "ANCHOR_PATH_LEN_EXCEEDED",
        }
    }
}

fn parse(der: &[u8]) -> Result<X509Certificate<'_>, Defect> {
    match x509_parser::parse_x509_certificate(der) {
        Ok(([], cert)) => Ok(cert),
        Ok(_) => Err(Defect::Unparsable("trailing bytes".into())),
        Err(e) => Err(Defect::Unparsable(e.to_string())),
    }
}

fn is_self_issued(cert: &X509Certificate<'_>) -> bool {
    cert.subject().as_raw() == cert.issuer().as_raw()
}

/// Issued by its own key (RFC 5280 §4.2.1.1 lets such a certificate omit its AKI).
fn is_self_signed(cert: &X509Certificate<'_>) -> bool {
    is_self_issued(cert) && cert.verify_signature(None).is_ok()
}

/// RFC 5280 §4.1.2.2: a positive INTEGER of at most 20 octets (the content octets, as
/// DER, keep a leading zero only to keep the number positive).
fn check_serial(cert: &X509Certificate<'_>) -> Result<(), Defect> {
    let serial = cert.raw_serial();
    let significant = serial.strip_prefix(&[0]).unwrap_or(serial);
    match serial.first() {
        None => Err(Defect::BadSerialNumber("is empty")),
        Some(b) if b & 0x80 != 0 => Err(Defect::BadSerialNumber("is negative")),
        _ if significant.iter().all(|b| *b == 0) => Err(Defect::BadSerialNumber("is zero")),
        _ if significant.len() > 20 => Err(Defect::BadSerialNumber("is longer than 20 octets")),
        _ => Ok(()),
    }
}

/// The number of significant bits of a big-endian unsigned integer.
fn bit_length(bytes: &[u8]) -> usize {
    let bytes = match bytes.iter().position(|b| *b != 0) {
        Some(i) => &bytes[i..],
        None => return 0,
    };
    bytes.len() * 8 - bytes[0].leading_zeros() as usize
}

/// An RSA key's modulus of whole bytes and its exponent odd, from 3 to 2^32−1 (every
/// issued key uses 65537, some old ones 3).
fn check_rsa_key(cert: &X509Certificate<'_>) -> Result<(), Defect> {
    match cert.public_key().parsed() {
        Ok(PublicKey::RSA(rsa)) if !bit_length(rsa.modulus).is_multiple_of(8) => {
            Err(Defect::OddRsaModulus(bit_length(rsa.modulus)))
        }
        Ok(PublicKey::RSA(rsa))
            if !(2..=32).contains(&bit_length(rsa.exponent))
                || rsa.exponent.last().is_none_or(|b| b & 1 == 0) =>
        {
            Err(Defect::BadRsaExponent)
        }
        _ => Ok(()),
    }
}

/// What RFC 5280 §4.2.1.1 asks of a certificate's authorityKeyIdentifier.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum AkiRule {
    /// Present, with a keyIdentifier.
    Required,
    /// Self-signed: may be absent; when present, names the certificate's own key only.
    OwnKey,
    /// A trust anchor that is not self-signed: taken as configured.
    Optional,
}

/// The key identifiers: present where RFC 5280 requires them and never critical.
fn check_key_identifiers(
    cert: &X509Certificate<'_>,
    needs_ski: bool,
    aki_rule: AkiRule,
) -> Result<(), Defect> {
    let mut ski = None;
    let mut aki = None;
    for ext in cert.extensions() {
        match ext.parsed_extension() {
            ParsedExtension::SubjectKeyIdentifier(id) => {
                if ext.critical {
                    return Err(Defect::CriticalKeyIdentifier);
                }
                ski = Some(id.0);
            }
            ParsedExtension::AuthorityKeyIdentifier(a) => {
                if ext.critical {
                    return Err(Defect::CriticalKeyIdentifier);
                }
                aki = Some(a);
            }
            _ => {}
        }
    }
    if needs_ski && ski.is_none() {
        return Err(Defect::MissingSubjectKeyId);
    }
    match (aki_rule, aki) {
        (AkiRule::Required, None) => Err(Defect::MissingAuthorityKeyId),
        (AkiRule::Required, Some(a)) if a.key_identifier.is_none() => {
            Err(Defect::MissingAuthorityKeyId)
        }
        (AkiRule::OwnKey, Some(a)) => {
            let own = ski.is_some() && a.key_identifier.as_ref().map(|k| k.0) == ski;
            if own && a.authority_cert_issuer.is_none() && a.authority_cert_serial.is_none() {
                Ok(())
            } else {
                Err(Defect::AuthorityKeyIdMismatch)
            }
        }
        _ => Ok(()),
    }
}

/// nameConstraints, when present: readable, with at least one subtree, each well formed
/// (RFC 5280 §4.2.1.10).
fn check_name_constraints(cert: &X509Certificate<'_>) -> Result<(), Defect> {
    let malformed = |why: &str| Defect::MalformedNameConstraints(why.to_owned());
    for ext in cert.extensions() {
        if ext.oid.to_id_string() != "2.5.29.30" {
            continue;
        }
        let ParsedExtension::NameConstraints(nc) = ext.parsed_extension() else {
            return Err(malformed("cannot be read"));
        };
        let subtrees: Vec<_> = nc
            .permitted_subtrees
            .iter()
            .chain(nc.excluded_subtrees.iter())
            .flatten()
            .collect();
        if subtrees.is_empty() {
            return Err(malformed("no permitted or excluded subtree"));
        }
        for subtree in subtrees {
            match &subtree.base {
                GeneralName::DNSName(name) if name.starts_with('.') || name.contains('*') => {
                    return Err(malformed(&format!("dNSName constraint {name:?}")));
                }
                GeneralName::IPAddress(bytes) if bytes.len() != 8 && bytes.len() != 32 => {
                    return Err(malformed("iPAddress constraint is not an address and mask"));
                }
                GeneralName::IPAddress(bytes) => {
                    let (_, mask) = bytes.split_at(bytes.len() / 2);
                    let bits: Vec<bool> = mask
                        .iter()
                        .flat_map(|b| (0..8).rev().map(move |i| b & (1 << i) != 0))
                        .collect();
                    if bits.windows(2).any(|w| !w[0] && w[1]) {
                        return Err(malformed("iPAddress constraint mask is not a prefix"));
                    }
                }
                GeneralName::RFC822Name(name)
                    if name.is_empty() || name.contains(char::is_whitespace) =>
                {
                    return Err(malformed(&format!("rfc822Name constraint {name:?}")));
                }
                GeneralName::Invalid(..) => return Err(malformed("an unreadable subtree")),
                _ => {}
            }
        }
    }
    Ok(())
}

fn check_policy_constraints(cert: &X509Certificate<'_>) -> Result<(), Defect> {
    match cert.policy_constraints() {
        Ok(Some(pc)) if !pc.critical => Err(Defect::PolicyConstraintsNotCritical),
        _ => Ok(()),
    }
}

/// The size of the certificate `der`'s RSA key; `None` for other keys (or none readable).
pub fn rsa_bits(der: &[u8]) -> Option<usize> {
    let (_, cert) = x509_parser::parse_x509_certificate(der).ok()?;
    match cert.public_key().parsed() {
        Ok(PublicKey::RSA(rsa)) => Some(rsa.key_size()),
        _ => None,
    }
}

/// PKCS#9 emailAddress, the subject attribute RFC 5280 §4.2.1.10 names.
const EMAIL_ADDRESS: &str = "1.2.840.113549.1.9.1";

/// Whether the certificate `der` carries an emailAddress in its subject and no
/// subjectAltName: the case in which email name constraints apply to the subject.
pub fn subject_email_without_alt_names(der: &[u8]) -> bool {
    let Ok((_, cert)) = x509_parser::parse_x509_certificate(der) else {
        return false;
    };
    let has_email = cert
        .subject()
        .iter_attributes()
        .any(|a| a.attr_type().to_id_string() == EMAIL_ADDRESS);
    has_email
        && !cert
            .extensions()
            .iter()
            .any(|e| e.oid.to_id_string() == "2.5.29.17")
}

/// Whether the CA certificate `der` constrains email addresses (an rfc822Name subtree,
/// permitted or excluded); an unreadable one is taken to (fail closed).
pub fn constrains_email(der: &[u8]) -> bool {
    let Ok((_, cert)) = x509_parser::parse_x509_certificate(der) else {
        return true;
    };
    match cert.name_constraints() {
        Ok(Some(nc)) => nc
            .value
            .permitted_subtrees
            .iter()
            .chain(nc.value.excluded_subtrees.iter())
            .flatten()
            .any(|s| matches!(s.base, GeneralName::RFC822Name(_))),
        Ok(None) => false,
        Err(_) => true,
    }
}

/// Each extension at most once (RFC 5280 §4.2). In one pass, however many a stranger's
/// certificate carries.
fn check_unique_extensions(cert: &X509Certificate<'_>) -> Result<(), Defect> {
    let mut seen = std::collections::HashSet::with_capacity(cert.extensions().len());
    match cert
        .extensions()
        .iter()
        .find(|e| !seen.insert(e.oid.as_bytes()))
    {
        Some(twin) => Err(Defect::DuplicateExtension(twin.oid.to_id_string())),
        None => Ok(()),
    }
}

/// What every CA certificate must be, anchor or intermediate.
fn check_ca(cert: &X509Certificate<'_>) -> Result<(), Defect> {
    check_unique_extensions(cert)?;
    match cert.basic_constraints() {
        Ok(Some(bc)) if bc.value.ca => {
            if !bc.critical {
                return Err(Defect::BasicConstraintsNotCritical);
            }
        }
        _ => return Err(Defect::NotACa),
    }
    match cert.key_usage() {
        Ok(Some(ku)) if !ku.value.key_cert_sign() => return Err(Defect::NoKeyCertSign),
        Err(e) => return Err(Defect::Unparsable(format!("keyUsage: {e}"))),
        _ => {}
    }
    if cert.subject().iter_attributes().next().is_none() {
        return Err(Defect::EmptyCaSubject);
    }
    check_name_constraints(cert)?;
    check_policy_constraints(cert)?;
    check_rsa_key(cert)
}

/// A trust anchor (checked at start-up): a CA as above, with a subjectKeyIdentifier,
/// marking critical only extensions that are processed, and — when self-signed — an
/// authorityKeyIdentifier, if any, that names its own key. Its serial number is not
/// judged: anchors are trusted as configured, and some real roots have serial 0.
pub fn check_anchor(der: &[u8]) -> Result<(), Defect> {
    let cert = parse(der)?;
    check_ca(&cert)?;
    if let Some(ext) = cert
        .extensions()
        .iter()
        .find(|e| e.critical && !ANCHOR_CRITICAL_OK.contains(&e.oid.to_id_string().as_str()))
    {
        return Err(Defect::UnknownCriticalExtension(ext.oid.to_id_string()));
    }
    let aki = if is_self_signed(&cert) {
        AkiRule::OwnKey
    } else {
        AkiRule::Optional
    };
    check_key_identifiers(&cert, true, aki)
}

/// An intermediate CA (configured ones at start-up, travelled ones on every path): a CA
/// as above, with both key identifiers and a well-formed serial number. Unknown critical
/// extensions are webpki's to refuse on every path.
pub fn check_intermediate(der: &[u8]) -> Result<(), Defect> {
    let cert = parse(der)?;
    check_ca(&cert)?;
    let aki = if is_self_signed(&cert) {
        AkiRule::OwnKey
    } else {
        AkiRule::Required
    };
    check_key_identifiers(&cert, true, aki)?;
    check_serial(&cert)
}

/// An end-entity, before its signature is checked: each extension once, not able to sign certificates or
/// CRLs, no nameConstraints, an authorityKeyIdentifier, a well-formed serial number, a
/// critical subjectAltName when the subject is empty, a readable authorityInfoAccess, a
/// bounded number of names. (Being a CA at all is refused by webpki on the path.)
pub fn check_end_entity(cert: &X509Certificate<'_>) -> Result<(), Defect> {
    check_unique_extensions(cert)?;
    if let Ok(Some(ku)) = cert.key_usage()
        && (ku.value.key_cert_sign() || ku.value.crl_sign())
    {
        return Err(Defect::EndEntitySignsCertificates);
    }
    if cert
        .extensions()
        .iter()
        .any(|e| e.oid.to_id_string() == "2.5.29.30")
    {
        return Err(Defect::EndEntityNameConstraints);
    }
    check_key_identifiers(cert, false, AkiRule::Required)?;
    check_serial(cert)?;
    check_rsa_key(cert)?;
    let empty_subject = cert.subject().iter_attributes().next().is_none();
    let mut san = None;
    for ext in cert.extensions() {
        match ext.parsed_extension() {
            ParsedExtension::SubjectAlternativeName(names) => {
                san = Some((ext.critical, names.general_names.len()));
            }
            ParsedExtension::AuthorityInfoAccess(aia) if aia.accessdescs.is_empty() => {
                return Err(Defect::MalformedAuthorityInfoAccess);
            }
            ParsedExtension::ParseError { .. } | ParsedExtension::UnsupportedExtension { .. }
                if ext.oid.to_id_string() == "1.3.6.1.5.5.7.1.1" =>
            {
                return Err(Defect::MalformedAuthorityInfoAccess);
            }
            _ => {}
        }
    }
    if empty_subject && !matches!(san, Some((true, n)) if n > 0) {
        return Err(Defect::EmptySubjectWithoutCriticalSan);
    }
    let san_names = san.map_or(0, |(_, n)| n);
    if san_names > MAX_ALT_NAMES
        || cert.subject().iter_attributes().count() > MAX_SUBJECT_ATTRIBUTES
    {
        return Err(Defect::TooManyNames);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bit_lengths_ignore_leading_zeros() {
        assert_eq!(bit_length(&[0x00, 0x80, 0x00]), 16);
        assert_eq!(bit_length(&[0x7f, 0xff]), 15);
        assert_eq!(bit_length(&[0x01]), 1);
        assert_eq!(bit_length(&[0x00, 0x00]), 0);
    }

    #[test]
    fn defect_names_are_unique() {
        let all = [
            Defect::Unparsable(String::new()),
            Defect::NotACa,
            Defect::BasicConstraintsNotCritical,
            Defect::NoKeyCertSign,
            Defect::UnknownCriticalExtension(String::new()),
            Defect::EmptyCaSubject,
            Defect::MissingSubjectKeyId,
            Defect::MissingAuthorityKeyId,
            Defect::AuthorityKeyIdMismatch,
            Defect::CriticalKeyIdentifier,
            Defect::MalformedNameConstraints(String::new()),
            Defect::PolicyConstraintsNotCritical,
            Defect::BadSerialNumber(""),
            Defect::OddRsaModulus(0),
            Defect::BadRsaExponent,
            Defect::EndEntitySignsCertificates,
            Defect::EndEntityNameConstraints,
            Defect::EmptySubjectWithoutCriticalSan,
            Defect::MalformedAuthorityInfoAccess,
            Defect::TooManyNames,
            Defect::AnchorNotValid,
            Defect::TooManyIntermediates(0),
            Defect::AnchorPathLenExceeded(0),
        ];
        let names: std::collections::HashSet<_> = all.iter().map(Defect::name).collect();
        assert_eq!(names.len(), all.len());
    }
}
