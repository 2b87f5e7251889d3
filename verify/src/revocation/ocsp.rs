//! OCSP, RFC 6960: the request the gateway sends and the checks on the answer.
//!
//! Pure code: bytes in, verdicts out, the verification time a parameter. Fetching is
//! [`super::fetch`]'s job, caching [`super::cache`]'s.
//!
//! - The request ([`encode_request`], §4.1) asks about one certificate by a SHA-1 CertID
//!   (§4.1.1; SHA-1 because it is the hash every responder supports) and carries a nonce
//!   (§4.4.1, RFC 8954: 32 random octets).
//! - The answer ([`parse_response`], §4.2.1) must be `successful` and `id-pkix-ocsp-basic`.
//! - [`verify_response`] does what §3.2 asks of a client: the response names exactly the
//!   CertID asked about; its signature verifies; the signer is the issuing CA itself or a
//!   responder certificate the CA issued directly with id-kp-OCSPSigning (§4.2.2.2), valid
//!   now; thisUpdate is not in the future beyond the allowed skew nor older than the
//!   allowed age; nextUpdate, when present, has not passed; and the nonce is echoed when
//!   one was sent (required per responder, since some serve pre-produced answers).

use crate::certificate::key_algorithm;
use crate::oid::{
    EC_PUBLIC_KEY, ECDSA_WITH_SHA256, ECDSA_WITH_SHA384, P256, P384, RSA, SHA1_WITH_RSA,
    SHA256_WITH_RSA, SHA384_WITH_RSA, SHA512_WITH_RSA,
};
use aws_lc_rs::digest;
use aws_lc_rs::signature::{self, UnparsedPublicKey, VerificationAlgorithm};
use time::{Duration, OffsetDateTime};
use x509_parser::certificate::X509Certificate;
use x509_parser::prelude::FromDer;
use yasna::Tag;
use yasna::models::{ObjectIdentifier, TaggedDerValue};
use yasna::tags::TAG_INTEGER;

const OID_SHA1: [u64; 6] = [1, 3, 14, 3, 2, 26];
const OID_OCSP_BASIC: [u64; 10] = [1, 3, 6, 1, 5, 5, 7, 48, 1, 1];
const OID_OCSP_NONCE: [u64; 10] = [1, 3, 6, 1, 5, 5, 7, 48, 1, 2];

/// Why an OCSP answer cannot be used, most basic problem first.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OcspError {
    /// The bytes are not an OCSPResponse in DER (§4.2.1).
    #[error("the OCSP response is not well-formed DER: {0}")]
    Malformed(String),
    /// `responseStatus` is not `successful` (§4.2.1).
    #[error("the OCSP responder answered {0}")]
    Unsuccessful(&'static str),
    /// The response type is not id-pkix-ocsp-basic (§4.2.1).
    #[error("the OCSP response is not a basic response")]
    NotBasic,
    /// A response extension marked critical that this client does not know (§4.4).
    #[error("the OCSP response has an unknown critical extension {0}")]
    UnknownCriticalExtension(String),
    /// No SingleResponse names the CertID that was asked about (§3.2 item 1).
    #[error("the OCSP response does not answer for the certificate asked about")]
    CertIdMismatch,
    /// The response was signed with an algorithm the policy does not accept.
    #[error("the OCSP response is signed with {0}, which is not accepted")]
    UnsupportedSignatureAlgorithm(String),
    /// Neither the issuer nor a certificate in the response matches the ResponderID.
    #[error("no certificate matches the OCSP responder id")]
    ResponderUnknown,
    /// The signer is neither the issuer nor a responder it authorised (§4.2.2.2).
    #[error("the OCSP responder is not authorised by the issuer: {0}")]
    ResponderNotAuthorized(String),
    /// The signature over ResponseData does not verify (§3.2 item 2).
    #[error("the OCSP response signature does not verify")]
    BadSignature,
    /// The response carries a nonce other than the one sent (§4.4.1).
    #[error("the OCSP response nonce is not the one sent (a replayed answer?)")]
    NonceMismatch,
    /// A nonce was sent and this responder must echo it, but the response has none.
    #[error("the OCSP response carries no nonce, and this responder must echo it")]
    NonceMissing,
    /// thisUpdate lies further in the future than the allowed clock skew (§3.2 item 5).
    #[error("the OCSP response's thisUpdate {0} is in the future")]
    NotYetValid(OffsetDateTime),
    /// thisUpdate is older than the allowed age.
    #[error("the OCSP response's thisUpdate {0} is older than the allowed age")]
    TooOld(OffsetDateTime),
    /// nextUpdate has passed (§3.2 item 6).
    #[error("the OCSP response's nextUpdate {0} has passed")]
    Expired(OffsetDateTime),
}

/// RFC 6960 §4.1.1 CertID with SHA-1: which certificate a request or answer is about.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct CertId {
    /// SHA-1 of the DER of the issuer's subject name.
    pub issuer_name_hash: Vec<u8>,
    /// SHA-1 of the issuer's public key (the BIT STRING's value, no tag or length).
    pub issuer_key_hash: Vec<u8>,
    /// The certificate's serial number, the INTEGER's content octets.
    pub serial: Vec<u8>,
}

fn sha1(bytes: &[u8]) -> Vec<u8> {
    digest::digest(&digest::SHA1_FOR_LEGACY_USE_ONLY, bytes)
        .as_ref()
        .to_vec()
}

/// SHA-1 of a certificate's public key bits, as CertID and ResponderID byKey use it.
fn key_hash(cert: &X509Certificate<'_>) -> Vec<u8> {
    sha1(&cert.public_key().subject_public_key.data)
}

impl CertId {
    /// The CertID of `leaf` issued by `issuer`.
    pub fn of(leaf: &X509Certificate<'_>, issuer: &X509Certificate<'_>) -> Self {
        Self {
            issuer_name_hash: sha1(issuer.subject().as_raw()),
            issuer_key_hash: key_hash(issuer),
            serial: leaf.raw_serial().to_vec(),
        }
    }
}

/// What the responder says of the certificate (§4.2.1 CertStatus).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CertStatus {
    /// Not revoked.
    Good,
    /// Revoked at this time, with this CRLReason code when given.
    Revoked {
        /// revocationTime.
        at: OffsetDateTime,
        /// revocationReason (RFC 5280 §5.3.1 codes).
        reason: Option<u8>,
    },
    /// The responder does not know the certificate.
    Unknown,
}

/// A verified answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OcspAnswer {
    /// The status.
    pub status: CertStatus,
    /// thisUpdate.
    pub this_update: OffsetDateTime,
    /// Until when the answer may be reused: nextUpdate, capped by thisUpdate plus the
    /// allowed age; `None` when the responder gave no nextUpdate (use it once).
    pub reusable_until: Option<OffsetDateTime>,
}

/// How strictly to judge answers; from the configuration.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OcspRules {
    /// thisUpdate may lie this far in the future (clock skew).
    pub clock_skew: Duration,
    /// thisUpdate may be at most this old.
    pub max_age: Duration,
    /// A sent nonce must come back.
    pub require_nonce: bool,
    /// Accept SHA-1 signatures on responses and responder certificates (legacy switch).
    pub allow_sha1: bool,
}

fn oid(arcs: &[u64]) -> ObjectIdentifier {
    ObjectIdentifier::from_slice(arcs)
}

/// The nonce extension's extnValue contents: DER of `OCTET STRING nonce` (RFC 8954 §2.1).
fn nonce_value(nonce: &[u8]) -> Vec<u8> {
    yasna::construct_der(|w| w.write_bytes(nonce))
}

/// An OCSPRequest (§4.1.1) for one certificate, with a nonce extension when given.
pub fn encode_request(id: &CertId, nonce: Option<&[u8]>) -> Vec<u8> {
    let serial = TaggedDerValue::from_tag_and_bytes(TAG_INTEGER, id.serial.clone());
    yasna::construct_der(|w| {
        w.write_sequence(|w| {
            w.next().write_sequence(|w| {
                w.next().write_sequence_of(|w| {
                    w.next().write_sequence(|w| {
                        w.next().write_sequence(|w| {
                            w.next().write_sequence(|w| {
                                w.next().write_oid(&oid(&OID_SHA1));
                                w.next().write_null();
                            });
                            w.next().write_bytes(&id.issuer_name_hash);
                            w.next().write_bytes(&id.issuer_key_hash);
                            w.next().write_tagged_der(&serial);
                        });
                    });
                });
                if let Some(nonce) = nonce {
                    w.next().write_tagged(Tag::context(2), |w| {
                        w.write_sequence_of(|w| {
                            w.next().write_sequence(|w| {
                                w.next().write_oid(&oid(&OID_OCSP_NONCE));
                                w.next().write_bytes(&nonce_value(nonce));
                            });
                        });
                    });
                }
            });
        });
    })
}

/// Who signed the response (§4.2.2.3).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ResponderId {
    /// byName: the DER of the responder's subject name.
    ByName(Vec<u8>),
    /// byKey: SHA-1 of the responder's public key bits.
    ByKey(Vec<u8>),
}

/// One SingleResponse (§4.2.1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SingleResponse {
    /// The CertID's hash algorithm, dotted.
    pub hash_algorithm: String,
    /// The CertID.
    pub cert_id: CertId,
    /// The status.
    pub status: CertStatus,
    /// thisUpdate.
    pub this_update: OffsetDateTime,
    /// nextUpdate.
    pub next_update: Option<OffsetDateTime>,
    /// OIDs of critical single extensions this client does not know.
    pub unknown_critical: Vec<String>,
}

/// A decoded BasicOCSPResponse, not yet verified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BasicResponse {
    /// The DER of ResponseData, exactly as signed.
    pub tbs: Vec<u8>,
    /// The signer.
    pub responder: ResponderId,
    /// producedAt.
    pub produced_at: OffsetDateTime,
    /// The answers.
    pub responses: Vec<SingleResponse>,
    /// The nonce extension's extnValue contents, when present.
    pub nonce: Option<Vec<u8>>,
    /// OIDs of critical response extensions other than the nonce.
    pub unknown_critical: Vec<String>,
    /// The signature algorithm, dotted.
    pub signature_algorithm: String,
    /// The signature.
    pub signature: Vec<u8>,
    /// Certificates that travelled with the response (DER), for a delegated responder.
    pub certs: Vec<Vec<u8>>,
}

/// `YYYYMMDDHHMMSS[.fff]Z` (GeneralizedTime in DER, UTC; fractions ignored) to a time.
/// Read by hand: a library parse of arbitrary offsets can panic at year boundaries.
fn parse_generalized_time(text: &[u8]) -> Option<OffsetDateTime> {
    let text = std::str::from_utf8(text).ok()?;
    let body = text.strip_suffix('Z')?;
    let (whole, fraction) = body.split_once('.').unwrap_or((body, "0"));
    if whole.len() != 14
        || !whole.bytes().all(|b| b.is_ascii_digit())
        || fraction.is_empty()
        || !fraction.bytes().all(|b| b.is_ascii_digit())
    {
        return None;
    }
    let n = |range: std::ops::Range<usize>| whole.get(range)?.parse::<u16>().ok();
    let month = time::Month::try_from(u8::try_from(n(4..6)?).ok()?).ok()?;
    let date =
        time::Date::from_calendar_date(i32::from(n(0..4)?), month, u8::try_from(n(6..8)?).ok()?)
            .ok()?;
    let clock = time::Time::from_hms(
        u8::try_from(n(8..10)?).ok()?,
        u8::try_from(n(10..12)?).ok()?,
        u8::try_from(n(12..14)?).ok()?,
    )
    .ok()?;
    Some(time::PrimitiveDateTime::new(date, clock).assume_utc())
}

fn read_time(r: yasna::BERReader<'_, '_>) -> yasna::ASN1Result<OffsetDateTime> {
    let text = r.read_tagged_implicit(yasna::tags::TAG_GENERALIZEDTIME, |r| r.read_bytes())?;
    parse_generalized_time(&text)
        .ok_or_else(|| yasna::ASN1Error::new(yasna::ASN1ErrorKind::Invalid))
}

struct Extensions {
    nonce: Option<Vec<u8>>,
    unknown_critical: Vec<String>,
}

fn read_extensions(r: yasna::BERReader<'_, '_>) -> yasna::ASN1Result<Extensions> {
    let mut out = Extensions {
        nonce: None,
        unknown_critical: Vec::new(),
    };
    r.read_sequence_of(|r| {
        r.read_sequence(|r| {
            let id = r.next().read_oid()?;
            let critical = r.read_default(false, |r| r.read_bool())?;
            let value = r.next().read_bytes()?;
            if id == oid(&OID_OCSP_NONCE) {
                out.nonce = Some(value);
            } else if critical {
                out.unknown_critical.push(id.to_string());
            }
            Ok(())
        })
    })?;
    Ok(out)
}

fn read_cert_id(r: yasna::BERReader<'_, '_>) -> yasna::ASN1Result<(String, CertId)> {
    r.read_sequence(|r| {
        let alg = r.next().read_sequence(|r| {
            let alg = r.next().read_oid()?;
            r.read_optional(|r| r.read_der())?;
            Ok(alg)
        })?;
        let issuer_name_hash = r.next().read_bytes()?;
        let issuer_key_hash = r.next().read_bytes()?;
        let serial = r.next().read_tagged_der()?;
        if serial.tag() != TAG_INTEGER {
            return Err(yasna::ASN1Error::new(yasna::ASN1ErrorKind::Invalid));
        }
        Ok((
            alg.to_string(),
            CertId {
                issuer_name_hash,
                issuer_key_hash,
                serial: serial.value().to_vec(),
            },
        ))
    })
}

fn read_status(r: yasna::BERReader<'_, '_>) -> yasna::ASN1Result<CertStatus> {
    let tag = r.lookahead_tag()?;
    if tag == Tag::context(0) {
        r.read_tagged_implicit(Tag::context(0), |r| r.read_null())?;
        Ok(CertStatus::Good)
    } else if tag == Tag::context(1) {
        r.read_tagged_implicit(Tag::context(1), |r| {
            r.read_sequence(|r| {
                let at = read_time(r.next())?;
                let reason =
                    r.read_optional(|r| r.read_tagged(Tag::context(0), |r| r.read_enum()))?;
                Ok(CertStatus::Revoked {
                    at,
                    reason: reason.and_then(|c| u8::try_from(c).ok()),
                })
            })
        })
    } else if tag == Tag::context(2) {
        r.read_tagged_implicit(Tag::context(2), |r| r.read_null())?;
        Ok(CertStatus::Unknown)
    } else {
        Err(yasna::ASN1Error::new(yasna::ASN1ErrorKind::Invalid))
    }
}

fn read_single(r: yasna::BERReader<'_, '_>) -> yasna::ASN1Result<SingleResponse> {
    r.read_sequence(|r| {
        let (hash_algorithm, cert_id) = read_cert_id(r.next())?;
        let status = read_status(r.next())?;
        let this_update = read_time(r.next())?;
        let next_update = r.read_optional(|r| r.read_tagged(Tag::context(0), read_time))?;
        let extensions = r.read_optional(|r| r.read_tagged(Tag::context(1), read_extensions))?;
        Ok(SingleResponse {
            hash_algorithm,
            cert_id,
            status,
            this_update,
            next_update,
            // A nonce belongs in the response extensions; here it is just unknown.
            unknown_critical: extensions.map(|e| e.unknown_critical).unwrap_or_default(),
        })
    })
}

/// The parts of ResponseData (§4.2.1), read from its DER.
struct ResponseData {
    responder: ResponderId,
    produced_at: OffsetDateTime,
    responses: Vec<SingleResponse>,
    extensions: Extensions,
}

fn read_response_data(tbs: &[u8]) -> yasna::ASN1Result<ResponseData> {
    yasna::parse_der(tbs, |r| {
        r.read_sequence(|r| {
            let version = r.read_optional(|r| r.read_tagged(Tag::context(0), |r| r.read_i64()))?;
            if version.is_some_and(|v| v != 0) {
                return Err(yasna::ASN1Error::new(yasna::ASN1ErrorKind::Invalid));
            }
            let responder = {
                let r = r.next();
                let tag = r.lookahead_tag()?;
                if tag == Tag::context(1) {
                    ResponderId::ByName(r.read_tagged(Tag::context(1), |r| r.read_der())?)
                } else if tag == Tag::context(2) {
                    ResponderId::ByKey(r.read_tagged(Tag::context(2), |r| r.read_bytes())?)
                } else {
                    return Err(yasna::ASN1Error::new(yasna::ASN1ErrorKind::Invalid));
                }
            };
            let produced_at = read_time(r.next())?;
            let responses = r.next().collect_sequence_of(read_single)?;
            let extensions = r
                .read_optional(|r| r.read_tagged(Tag::context(1), read_extensions))?
                .unwrap_or(Extensions {
                    nonce: None,
                    unknown_critical: Vec::new(),
                });
            Ok(ResponseData {
                responder,
                produced_at,
                responses,
                extensions,
            })
        })
    })
}

/// The BasicOCSPResponse's outer parts: ResponseData DER, algorithm, signature, certs.
type BasicParts = (Vec<u8>, String, Vec<u8>, Vec<Vec<u8>>);

fn read_basic(der: &[u8]) -> yasna::ASN1Result<BasicParts> {
    yasna::parse_der(der, |r| {
        r.read_sequence(|r| {
            let tbs = r.next().read_der()?;
            let alg = r.next().read_sequence(|r| {
                let alg = r.next().read_oid()?;
                r.read_optional(|r| r.read_der())?;
                Ok(alg)
            })?;
            let (signature, unused) = r.next().read_bitvec_bytes()?;
            if unused % 8 != 0 {
                return Err(yasna::ASN1Error::new(yasna::ASN1ErrorKind::Invalid));
            }
            let certs = r
                .read_optional(|r| {
                    r.read_tagged(Tag::context(0), |r| r.collect_sequence_of(|r| r.read_der()))
                })?
                .unwrap_or_default();
            Ok((tbs, alg.to_string(), signature, certs))
        })
    })
}

const RESPONSE_STATUS: [&str; 7] = [
    "successful",
    "malformedRequest",
    "internalError",
    "tryLater",
    "(unused)",
    "sigRequired",
    "unauthorized",
];

/// Decodes an OCSPResponse (§4.2.1) down to its BasicOCSPResponse. Checks nothing about
/// what it says; [`verify_response`] does.
pub fn parse_response(der: &[u8]) -> Result<BasicResponse, OcspError> {
    let malformed = |e: yasna::ASN1Error| OcspError::Malformed(e.to_string());
    let (status, bytes) = yasna::parse_der(der, |r| {
        r.read_sequence(|r| {
            let status = r.next().read_enum()?;
            let bytes = r.read_optional(|r| {
                r.read_tagged(Tag::context(0), |r| {
                    r.read_sequence(|r| {
                        let kind = r.next().read_oid()?;
                        let response = r.next().read_bytes()?;
                        Ok((kind, response))
                    })
                })
            })?;
            Ok((status, bytes))
        })
    })
    .map_err(malformed)?;
    if status != 0 {
        let name = usize::try_from(status)
            .ok()
            .and_then(|i| RESPONSE_STATUS.get(i))
            .copied()
            .unwrap_or("an unknown status");
        return Err(OcspError::Unsuccessful(name));
    }
    let Some((kind, basic)) = bytes else {
        return Err(OcspError::Malformed(
            "successful status without responseBytes".into(),
        ));
    };
    if kind != oid(&OID_OCSP_BASIC) {
        return Err(OcspError::NotBasic);
    }
    let (tbs, signature_algorithm, signature, certs) = read_basic(&basic).map_err(malformed)?;
    let data = read_response_data(&tbs).map_err(malformed)?;
    Ok(BasicResponse {
        tbs,
        responder: data.responder,
        produced_at: data.produced_at,
        responses: data.responses,
        nonce: data.extensions.nonce,
        unknown_critical: data.extensions.unknown_critical,
        signature_algorithm,
        signature,
        certs,
    })
}

/// The aws-lc-rs algorithm for a signature algorithm OID and a signer key, if accepted.
fn verification_algorithm(
    sig_alg: &str,
    signer: &X509Certificate<'_>,
    allow_sha1: bool,
) -> Option<&'static dyn VerificationAlgorithm> {
    let (key_alg, curve) = key_algorithm(signer);
    Some(match (sig_alg, key_alg.as_str(), curve.as_deref()) {
        (SHA256_WITH_RSA, RSA, _) => &signature::RSA_PKCS1_2048_8192_SHA256,
        (SHA384_WITH_RSA, RSA, _) => &signature::RSA_PKCS1_2048_8192_SHA384,
        (SHA512_WITH_RSA, RSA, _) => &signature::RSA_PKCS1_2048_8192_SHA512,
        (SHA1_WITH_RSA, RSA, _) if allow_sha1 => {
            &signature::RSA_PKCS1_2048_8192_SHA1_FOR_LEGACY_USE_ONLY
        }
        (ECDSA_WITH_SHA256, EC_PUBLIC_KEY, Some(P256)) => &signature::ECDSA_P256_SHA256_ASN1,
        (ECDSA_WITH_SHA256, EC_PUBLIC_KEY, Some(P384)) => &signature::ECDSA_P384_SHA256_ASN1,
        (ECDSA_WITH_SHA384, EC_PUBLIC_KEY, Some(P256)) => &signature::ECDSA_P256_SHA384_ASN1,
        (ECDSA_WITH_SHA384, EC_PUBLIC_KEY, Some(P384)) => &signature::ECDSA_P384_SHA384_ASN1,
        _ => return None,
    })
}

fn matches_responder(id: &ResponderId, cert: &X509Certificate<'_>) -> bool {
    match id {
        ResponderId::ByName(name) => cert.subject().as_raw() == name.as_slice(),
        ResponderId::ByKey(hash) => key_hash(cert) == *hash,
    }
}

fn same_key_and_name(a: &X509Certificate<'_>, b: &X509Certificate<'_>) -> bool {
    a.subject().as_raw() == b.subject().as_raw() && a.public_key().raw == b.public_key().raw
}

/// Travelled certificates tried as the responder at most: a genuine answer carries one,
/// and each try may cost a signature check.
const MAX_RESPONDER_CANDIDATES: usize = 8;

/// Extensions a delegated responder's certificate may mark critical: those read here
/// (keyUsage, extKeyUsage) or saying nothing about its authority (basicConstraints,
/// subjectAltName). Any other critical one is not processed, so the certificate is
/// unusable (RFC 5280 §4.2).
const RESPONDER_CRITICAL_OK: [&str; 4] = ["2.5.29.15", "2.5.29.17", "2.5.29.19", "2.5.29.37"];

/// §4.2.2.2: a delegated responder is issued directly by the CA, carries
/// id-kp-OCSPSigning, and is valid at `at`; and, as any certificate (RFC 5280 §4.1.1.2,
/// §4.2), names one signature algorithm inside and out, marks critical only what is
/// processed, and (with a keyUsage) may sign.
fn check_delegated(
    responder: &X509Certificate<'_>,
    issuer: &X509Certificate<'_>,
    at: OffsetDateTime,
    allow_sha1: bool,
) -> Result<(), OcspError> {
    let refuse = |why: &str| OcspError::ResponderNotAuthorized(why.to_owned());
    if responder.issuer().as_raw() != issuer.subject().as_raw() {
        return Err(refuse("its certificate was issued by another CA"));
    }
    if responder.tbs_certificate.signature != responder.signature_algorithm {
        return Err(refuse(
            "its certificate names different signature algorithms inside and outside",
        ));
    }
    if let Some(ext) = responder
        .extensions()
        .iter()
        .find(|e| e.critical && !RESPONDER_CRITICAL_OK.contains(&e.oid.to_id_string().as_str()))
    {
        return Err(refuse(&format!(
            "its certificate marks critical an extension nothing processes ({})",
            ext.oid.to_id_string()
        )));
    }
    match responder.key_usage() {
        Ok(Some(ku)) if !(ku.value.digital_signature() || ku.value.non_repudiation()) => {
            return Err(refuse("its certificate's keyUsage does not allow signing"));
        }
        Err(_) => return Err(refuse("its certificate's keyUsage cannot be read")),
        _ => {}
    }
    match responder.extended_key_usage() {
        Ok(Some(eku)) if eku.value.ocsp_signing => {}
        _ => return Err(refuse("its certificate lacks id-kp-OCSPSigning")),
    }
    let validity = responder.validity();
    if at < validity.not_before.to_datetime() || at > validity.not_after.to_datetime() {
        return Err(refuse(
            "its certificate is not valid at the verification time",
        ));
    }
    // Last, the one costly check (the cheap ones above turn most decoys away first).
    // The algorithms a response itself may be signed with, and no others: SHA-1 (under
    // any of its identifiers) only when the operator allows it.
    let sig_alg = responder.signature_algorithm.algorithm.to_id_string();
    let algorithm = verification_algorithm(&sig_alg, issuer, allow_sha1).ok_or_else(|| {
        refuse(&format!(
            "its certificate is signed with {sig_alg}, not an accepted algorithm"
        ))
    })?;
    if UnparsedPublicKey::new(algorithm, &issuer.public_key().subject_public_key.data)
        .verify(
            responder.tbs_certificate.as_ref(),
            &responder.signature_value.data,
        )
        .is_err()
    {
        return Err(refuse(
            "its certificate's signature does not verify under the issuer's key",
        ));
    }
    Ok(())
}

/// Whether `signer` — the issuer, or a certificate that travelled with the answer — may
/// answer for `issuer` at `at` (RFC 6960 §4.2.2.2) and made the answer's signature.
fn signed_by(
    response: &BasicResponse,
    signer: &X509Certificate<'_>,
    issuer: &X509Certificate<'_>,
    at: OffsetDateTime,
    rules: &OcspRules,
) -> Result<(), OcspError> {
    if !same_key_and_name(signer, issuer) {
        check_delegated(signer, issuer, at, rules.allow_sha1)?;
    }
    let algorithm = verification_algorithm(&response.signature_algorithm, signer, rules.allow_sha1)
        .ok_or_else(|| {
            OcspError::UnsupportedSignatureAlgorithm(response.signature_algorithm.clone())
        })?;
    UnparsedPublicKey::new(algorithm, &signer.public_key().subject_public_key.data)
        .verify(&response.tbs, &response.signature)
        .map_err(|_| OcspError::BadSignature)
}

/// Checks a decoded answer about `asked` (issued by `issuer`) at `at` under `rules`, with
/// the `nonce` that was sent. Returns the status only when every check of §3.2 passes.
pub fn verify_response(
    response: &BasicResponse,
    asked: &CertId,
    issuer: &X509Certificate<'_>,
    nonce: Option<&[u8]>,
    at: OffsetDateTime,
    rules: &OcspRules,
) -> Result<OcspAnswer, OcspError> {
    if let Some(oid) = response.unknown_critical.first() {
        return Err(OcspError::UnknownCriticalExtension(oid.clone()));
    }
    let sha1_oid = oid(&OID_SHA1).to_string();
    let single = response
        .responses
        .iter()
        .find(|s| s.hash_algorithm == sha1_oid && s.cert_id == *asked)
        .ok_or(OcspError::CertIdMismatch)?;
    if let Some(oid) = single.unknown_critical.first() {
        return Err(OcspError::UnknownCriticalExtension(oid.clone()));
    }

    // The signer: the issuer itself, or a certificate that travelled with the response.
    let travelled: Vec<X509Certificate<'_>> = response
        .certs
        .iter()
        .filter_map(|der| X509Certificate::from_der(der).ok().map(|(_, c)| c))
        .collect();
    // The `certs` field is outside the signature: anyone on the path can put a decoy
    // with the responder's name or key first. Every candidate is tried, and the first
    // that is authorized and verifies the signature signs; else the first one's reason.
    let candidates: Vec<&X509Certificate<'_>> = if matches_responder(&response.responder, issuer) {
        vec![issuer]
    } else {
        travelled
            .iter()
            .filter(|c| matches_responder(&response.responder, c))
            .take(MAX_RESPONDER_CANDIDATES)
            .collect()
    };
    let mut first_refusal = None;
    let signed = candidates.into_iter().any(|candidate| {
        signed_by(response, candidate, issuer, at, rules)
            .map_err(|e| first_refusal.get_or_insert(e))
            .is_ok()
    });
    if !signed {
        return Err(first_refusal.unwrap_or(OcspError::ResponderUnknown));
    }

    if let Some(sent) = nonce {
        match &response.nonce {
            Some(got) if *got == nonce_value(sent) => {}
            Some(_) => return Err(OcspError::NonceMismatch),
            None if rules.require_nonce => return Err(OcspError::NonceMissing),
            None => {}
        }
    }
    if single.this_update > at + rules.clock_skew {
        return Err(OcspError::NotYetValid(single.this_update));
    }
    let too_old_at = single.this_update + rules.max_age;
    if at > too_old_at {
        return Err(OcspError::TooOld(single.this_update));
    }
    if let Some(next) = single.next_update
        && at > next
    {
        return Err(OcspError::Expired(next));
    }
    Ok(OcspAnswer {
        status: single.status,
        this_update: single.this_update,
        reusable_until: single.next_update.map(|next| next.min(too_old_at)),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample_id() -> CertId {
        CertId {
            issuer_name_hash: vec![1; 20],
            issuer_key_hash: vec![2; 20],
            serial: vec![0x01, 0x02, 0x03],
        }
    }

    #[test]
    fn the_request_is_an_ocsp_request_with_a_sha1_cert_id_and_the_nonce() {
        let der = encode_request(&sample_id(), Some(&[7; 32]));
        let (alg_params, names, nonce) = yasna::parse_der(&der, |r| {
            r.read_sequence(|r| {
                r.next().read_sequence(|r| {
                    let (params, names) = r.next().read_sequence(|r| {
                        r.next().read_sequence(|r| {
                            r.next().read_sequence(|r| {
                                let params = r.next().read_sequence(|r| {
                                    assert_eq!(r.next().read_oid()?, oid(&OID_SHA1));
                                    r.next().read_der()
                                })?;
                                let name = r.next().read_bytes()?;
                                let key = r.next().read_bytes()?;
                                let serial = r.next().read_tagged_der()?;
                                assert_eq!(serial.value(), &[1, 2, 3]);
                                Ok((params, (name, key)))
                            })
                        })
                    })?;
                    let nonce = r.next().read_tagged(Tag::context(2), |r| {
                        r.read_sequence(|r| {
                            r.next().read_sequence(|r| {
                                assert_eq!(r.next().read_oid()?, oid(&OID_OCSP_NONCE));
                                r.next().read_bytes()
                            })
                        })
                    })?;
                    Ok((params, names, nonce))
                })
            })
        })
        .unwrap();
        assert_eq!(alg_params, [0x05, 0x00], "SHA-1 with NULL parameters");
        assert_eq!(names, (vec![1; 20], vec![2; 20]));
        assert_eq!(nonce, nonce_value(&[7; 32]));
        assert_eq!(&nonce[..2], &[0x04, 32], "an OCTET STRING inside extnValue");
        assert_ne!(
            encode_request(&sample_id(), None),
            der,
            "no nonce, no extension"
        );
    }

    #[test]
    fn generalized_times_are_read_strictly_and_never_panic() {
        use time::macros::datetime;
        assert_eq!(
            parse_generalized_time(b"20261122203912Z"),
            Some(datetime!(2026-11-22 20:39:12 UTC))
        );
        assert_eq!(
            parse_generalized_time(b"20261122203912.5Z"),
            Some(datetime!(2026-11-22 20:39:12 UTC))
        );
        for bad in [
            &b"99991231235959-0100"[..],
            b"20261122203912",
            b"2026112220391Z",
            b"20261322203912Z",
            b"20260230203912Z",
            b"20261122253912Z",
            b"20261122203912.Z",
            b"\xff\xfe",
            b"",
        ] {
            assert_eq!(parse_generalized_time(bad), None, "{bad:?}");
        }
        // A whole response whose producedAt has an offset that crosses year 9999.
        let far = yasna::construct_der(|w| {
            w.write_tagged_der(&TaggedDerValue::from_tag_and_bytes(
                yasna::tags::TAG_GENERALIZEDTIME,
                b"99991231235959-0100".to_vec(),
            ))
        });
        assert!(yasna::parse_der(&far, read_time).is_err());
        let good = yasna::construct_der(|w| {
            w.write_tagged_der(&TaggedDerValue::from_tag_and_bytes(
                yasna::tags::TAG_GENERALIZEDTIME,
                b"20261122203912Z".to_vec(),
            ))
        });
        assert_eq!(
            yasna::parse_der(&good, read_time).ok(),
            Some(datetime!(2026-11-22 20:39:12 UTC))
        );
    }

    #[test]
    fn garbage_is_malformed_and_error_statuses_are_named() {
        for bytes in [&b""[..], b"\x30", b"\x30\x03\x0a\x01", b"hello"] {
            assert!(matches!(
                parse_response(bytes),
                Err(OcspError::Malformed(_))
            ));
        }
        // OCSPResponse { responseStatus tryLater(3) }
        assert_eq!(
            parse_response(&[0x30, 0x03, 0x0a, 0x01, 0x03]),
            Err(OcspError::Unsuccessful("tryLater"))
        );
        assert_eq!(
            parse_response(&[0x30, 0x03, 0x0a, 0x01, 0x06]),
            Err(OcspError::Unsuccessful("unauthorized"))
        );
        assert_eq!(
            parse_response(&[0x30, 0x03, 0x0a, 0x01, 0x09]),
            Err(OcspError::Unsuccessful("an unknown status"))
        );
    }
}
