//! OCSP answers (RFC 6960) the client must refuse, built here byte by byte with an encoder
//! of the test's own and signed with real keys: a delegated responder whose certificate
//! has expired, a SHA-1 signature, unknown critical extensions in the response and in a
//! single response — beside the answer it must accept, which shows the encoder is right.

use kyso_verify::revocation::ocsp::{
    CertId, CertStatus, OcspError, OcspRules, parse_response, verify_response,
};
use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyIdMethod, KeyPair, KeyUsagePurpose, SigningKey,
};
use time::{Duration, OffsetDateTime};
use x509_parser::certificate::X509Certificate;
use yasna::Tag;
use yasna::models::{ObjectIdentifier, TaggedDerValue};

const NONCE_OID: [u64; 10] = [1, 3, 6, 1, 5, 5, 7, 48, 1, 2];
const BASIC_OID: [u64; 10] = [1, 3, 6, 1, 5, 5, 7, 48, 1, 1];
const SHA1_OID: [u64; 6] = [1, 3, 14, 3, 2, 26];
const ECDSA_SHA256: [u64; 7] = [1, 2, 840, 10045, 4, 3, 2];
const SHA1_RSA: [u64; 7] = [1, 2, 840, 113549, 1, 1, 5];

fn now() -> OffsetDateTime {
    OffsetDateTime::now_utc().replace_nanosecond(0).unwrap()
}

fn rules(allow_sha1: bool) -> OcspRules {
    OcspRules {
        clock_skew: Duration::minutes(5),
        max_age: Duration::hours(1),
        require_nonce: true,
        allow_sha1,
    }
}

/// A CA, a leaf it issued, and its key.
struct Pki {
    ca: Vec<u8>,
    ca_params: CertificateParams,
    ca_key: KeyPair,
    leaf: Vec<u8>,
}

fn ca_params() -> CertificateParams {
    let mut p = CertificateParams::default();
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, "Test CA");
    p.distinguished_name = dn;
    p.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    p.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    p.key_identifier_method = KeyIdMethod::Sha256;
    p.not_before = now() - Duration::days(1);
    p.not_after = now() + Duration::days(365);
    p
}

fn pki(ca_key: KeyPair) -> Pki {
    let ca_params = ca_params();
    let ca = ca_params.self_signed(&ca_key).unwrap().der().to_vec();
    let mut leaf = CertificateParams::default();
    leaf.distinguished_name.push(DnType::CommonName, "Leaf");
    leaf.not_before = now() - Duration::days(1);
    leaf.not_after = now() + Duration::days(30);
    let leaf_key = KeyPair::generate().unwrap();
    let leaf = leaf
        .signed_by(&leaf_key, &Issuer::new(ca_params.clone(), &ca_key))
        .unwrap()
        .der()
        .to_vec();
    Pki {
        ca,
        ca_params,
        ca_key,
        leaf,
    }
}

fn parse(der: &[u8]) -> X509Certificate<'_> {
    x509_parser::parse_x509_certificate(der).unwrap().1
}

fn cert_id(p: &Pki) -> CertId {
    CertId::of(&parse(&p.leaf), &parse(&p.ca))
}

fn generalized(t: OffsetDateTime) -> TaggedDerValue {
    let text = format!(
        "{:04}{:02}{:02}{:02}{:02}{:02}Z",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second()
    );
    TaggedDerValue::from_tag_and_bytes(yasna::tags::TAG_GENERALIZEDTIME, text.into_bytes())
}

/// What to put in an answer.
struct Answer<'a> {
    id: CertId,
    /// The nonce echoed; empty: no nonce extension (a pre-produced answer).
    nonce: &'a [u8],
    /// Response extensions beyond the nonce: (OID, critical).
    extra_extension: Option<(&'a [u64], bool)>,
    /// A single-response extension: (OID, critical).
    single_extension: Option<(&'a [u64], bool)>,
    /// The signer's key hash (ResponderID byKey).
    responder_key_hash: Vec<u8>,
    /// Certificates to send along (a delegated responder's).
    certs: Vec<Vec<u8>>,
}

fn key_hash(cert: &[u8]) -> Vec<u8> {
    aws_lc_rs::digest::digest(
        &aws_lc_rs::digest::SHA1_FOR_LEGACY_USE_ONLY,
        &parse(cert).public_key().subject_public_key.data,
    )
    .as_ref()
    .to_vec()
}

fn extension(w: yasna::DERWriter<'_>, oid: &[u64], critical: bool, value: &[u8]) {
    w.write_sequence(|w| {
        w.next().write_oid(&ObjectIdentifier::from_slice(oid));
        if critical {
            w.next().write_bool(true);
        }
        w.next().write_bytes(value);
    });
}

/// The DER of ResponseData.
fn tbs(a: &Answer<'_>) -> Vec<u8> {
    let at = now();
    yasna::construct_der(|w| {
        w.write_sequence(|w| {
            w.next()
                .write_tagged(Tag::context(2), |w| w.write_bytes(&a.responder_key_hash));
            w.next().write_tagged_der(&generalized(at));
            w.next().write_sequence_of(|w| {
                w.next().write_sequence(|w| {
                    w.next().write_sequence(|w| {
                        w.next().write_sequence(|w| {
                            w.next().write_oid(&ObjectIdentifier::from_slice(&SHA1_OID));
                            w.next().write_null();
                        });
                        w.next().write_bytes(&a.id.issuer_name_hash);
                        w.next().write_bytes(&a.id.issuer_key_hash);
                        w.next()
                            .write_tagged_der(&TaggedDerValue::from_tag_and_bytes(
                                yasna::tags::TAG_INTEGER,
                                a.id.serial.clone(),
                            ));
                    });
                    w.next()
                        .write_tagged_implicit(Tag::context(0), |w| w.write_null());
                    w.next()
                        .write_tagged_der(&generalized(at - Duration::minutes(1)));
                    w.next().write_tagged(Tag::context(0), |w| {
                        w.write_tagged_der(&generalized(at + Duration::minutes(30)))
                    });
                    if let Some((oid, critical)) = a.single_extension {
                        w.next().write_tagged(Tag::context(1), |w| {
                            w.write_sequence_of(|w| {
                                extension(w.next(), oid, critical, &[0x05, 0x00])
                            })
                        });
                    }
                });
            });
            if !a.nonce.is_empty() || a.extra_extension.is_some() {
                w.next().write_tagged(Tag::context(1), |w| {
                    w.write_sequence_of(|w| {
                        if !a.nonce.is_empty() {
                            let nonce = yasna::construct_der(|w| w.write_bytes(a.nonce));
                            extension(w.next(), &NONCE_OID, false, &nonce);
                        }
                        if let Some((oid, critical)) = a.extra_extension {
                            extension(w.next(), oid, critical, &[0x05, 0x00]);
                        }
                    });
                });
            }
        });
    })
}

/// The whole OCSPResponse, `tbs` signed as `signature_alg` with `sign`.
fn response(a: &Answer<'_>, signature_alg: &[u64], sign: impl Fn(&[u8]) -> Vec<u8>) -> Vec<u8> {
    let tbs = tbs(a);
    let signature = sign(&tbs);
    let basic = yasna::construct_der(|w| {
        w.write_sequence(|w| {
            w.next().write_der(&tbs);
            w.next().write_sequence(|w| {
                w.next()
                    .write_oid(&ObjectIdentifier::from_slice(signature_alg));
                if signature_alg == SHA1_RSA {
                    w.next().write_null();
                }
            });
            w.next().write_bitvec_bytes(&signature, signature.len() * 8);
            if !a.certs.is_empty() {
                w.next().write_tagged(Tag::context(0), |w| {
                    w.write_sequence_of(|w| {
                        for c in &a.certs {
                            w.next().write_der(c);
                        }
                    })
                });
            }
        });
    });
    yasna::construct_der(|w| {
        w.write_sequence(|w| {
            w.next().write_enum(0);
            w.next().write_tagged(Tag::context(0), |w| {
                w.write_sequence(|w| {
                    w.next()
                        .write_oid(&ObjectIdentifier::from_slice(&BASIC_OID));
                    w.next().write_bytes(&basic);
                })
            });
        })
    })
}

fn answer_by_ca<'a>(p: &Pki, nonce: &'a [u8]) -> Answer<'a> {
    Answer {
        id: cert_id(p),
        nonce,
        extra_extension: None,
        single_extension: None,
        responder_key_hash: key_hash(&p.ca),
        certs: Vec::new(),
    }
}

fn check(p: &Pki, der: &[u8], nonce: &[u8], allow_sha1: bool) -> Result<CertStatus, OcspError> {
    let parsed = parse_response(der)?;
    verify_response(
        &parsed,
        &cert_id(p),
        &parse(&p.ca),
        Some(nonce),
        now(),
        &rules(allow_sha1),
    )
    .map(|a| a.status)
}

fn ec_signer(key: &KeyPair) -> impl Fn(&[u8]) -> Vec<u8> + '_ {
    |tbs| key.sign(tbs).unwrap()
}

/// A responder certificate with id-kp-OCSPSigning issued by the CA, and its key.
fn delegated_responder(
    p: &Pki,
    not_before: OffsetDateTime,
    not_after: OffsetDateTime,
) -> (Vec<u8>, KeyPair) {
    let key = KeyPair::generate().unwrap();
    let der = responder_certificate(p, &key, (not_before, not_after), |_| {});
    (der, key)
}

/// [`delegated_responder`] valid from a day ago to a month from now.
fn current_responder(p: &Pki) -> (Vec<u8>, KeyPair) {
    let (not_before, not_after) = current();
    delegated_responder(p, not_before, not_after)
}

/// A responder certificate for `key` issued by `p`'s CA, valid over these times, as
/// `edit` leaves it.
fn responder_certificate(
    p: &Pki,
    key: &KeyPair,
    (not_before, not_after): (OffsetDateTime, OffsetDateTime),
    edit: impl FnOnce(&mut CertificateParams),
) -> Vec<u8> {
    let mut params = CertificateParams::default();
    params
        .distinguished_name
        .push(DnType::CommonName, "Test CA OCSP");
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::OcspSigning];
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    params.not_before = not_before;
    params.not_after = not_after;
    edit(&mut params);
    params
        .signed_by(key, &Issuer::new(p.ca_params.clone(), &p.ca_key))
        .unwrap()
        .der()
        .to_vec()
}

/// A day ago to a month from now.
fn current() -> (OffsetDateTime, OffsetDateTime) {
    (now() - Duration::days(1), now() + Duration::days(30))
}

/// A good answer signed by a delegated responder, its certificate travelling with it.
fn answer_by_delegate(p: &Pki, nonce: &[u8], cert: Vec<u8>, key: &KeyPair) -> Vec<u8> {
    let a = Answer {
        responder_key_hash: key_hash(&cert),
        certs: vec![cert],
        ..answer_by_ca(p, nonce)
    };
    response(&a, &ECDSA_SHA256, ec_signer(key))
}

/// An RSA-2048 CA, with its key as PKCS#8 for signing with SHA-1.
fn rsa_pki() -> (Pki, Vec<u8>) {
    let rsa = aws_lc_rs::rsa::KeyPair::generate(aws_lc_rs::rsa::KeySize::Rsa2048).unwrap();
    let pkcs8 = aws_lc_rs::encoding::AsDer::<aws_lc_rs::encoding::Pkcs8V1Der>::as_der(&rsa)
        .unwrap()
        .as_ref()
        .to_vec();
    (pki(KeyPair::try_from(pkcs8.as_slice()).unwrap()), pkcs8)
}

#[test]
fn a_missing_nonce_is_accepted_unless_required_and_another_nonce_never() {
    let p = pki(KeyPair::generate().unwrap());
    let sent = [7u8; 32];
    let verdict = |echoed: &[u8], require_nonce: bool| {
        let der = response(
            &answer_by_ca(&p, echoed),
            &ECDSA_SHA256,
            ec_signer(&p.ca_key),
        );
        let parsed = parse_response(&der).unwrap();
        let rules = OcspRules {
            require_nonce,
            ..rules(false)
        };
        verify_response(
            &parsed,
            &cert_id(&p),
            &parse(&p.ca),
            Some(&sent),
            now(),
            &rules,
        )
        .map(|a| a.status)
    };
    // A pre-produced answer (no nonce): good by default, refused when one is required.
    assert_eq!(verdict(&[], false), Ok(CertStatus::Good));
    assert_eq!(verdict(&[], true), Err(OcspError::NonceMissing));
    // Another request's nonce is a replay, whatever the rule.
    for require_nonce in [false, true] {
        assert_eq!(
            verdict(&[9u8; 32], require_nonce),
            Err(OcspError::NonceMismatch)
        );
    }
}

#[test]
fn a_well_formed_answer_signed_by_the_ca_is_good() {
    let p = pki(KeyPair::generate().unwrap());
    let nonce = [7u8; 32];
    let der = response(
        &answer_by_ca(&p, &nonce),
        &ECDSA_SHA256,
        ec_signer(&p.ca_key),
    );
    assert_eq!(check(&p, &der, &nonce, false), Ok(CertStatus::Good));
}

#[test]
fn unknown_critical_extensions_are_refused_and_unknown_others_ignored() {
    let p = pki(KeyPair::generate().unwrap());
    let nonce = [7u8; 32];
    let odd: &[u64] = &[1, 3, 6, 1, 4, 1, 55555, 9];
    for (single, critical, refused) in [
        (false, true, true),
        (true, true, true),
        (false, false, false),
        (true, false, false),
    ] {
        let mut a = answer_by_ca(&p, &nonce);
        if single {
            a.single_extension = Some((odd, critical));
        } else {
            a.extra_extension = Some((odd, critical));
        }
        let der = response(&a, &ECDSA_SHA256, ec_signer(&p.ca_key));
        let verdict = check(&p, &der, &nonce, false);
        if refused {
            assert!(
                matches!(verdict, Err(OcspError::UnknownCriticalExtension(_))),
                "single {single}: {verdict:?}"
            );
        } else {
            assert_eq!(verdict, Ok(CertStatus::Good), "single {single}");
        }
    }
}

/// The certificates that travel with an answer are outside its signature: someone on the
/// path can put a decoy first — the responder's name and key, issued by another CA.
/// The genuine responder behind it still vouches; the decoy alone does not.
#[test]
fn a_decoy_responder_certificate_put_first_does_not_hide_the_genuine_one() {
    let p = pki(KeyPair::generate().unwrap());
    let nonce = [9u8; 32];
    let (genuine, key) = current_responder(&p);
    // Another CA (of the same name: the decoy names the same issuer) vouches for the
    // genuine responder's key.
    let other = pki(KeyPair::generate().unwrap());
    let decoy = responder_certificate(&other, &key, current(), |_| {});
    let answer = |certs: Vec<Vec<u8>>| {
        let a = Answer {
            responder_key_hash: key_hash(&genuine),
            certs,
            ..answer_by_ca(&p, &nonce)
        };
        response(&a, &ECDSA_SHA256, ec_signer(&key))
    };
    assert_eq!(
        check(
            &p,
            &answer(vec![decoy.clone(), genuine.clone()]),
            &nonce,
            false
        ),
        Ok(CertStatus::Good)
    );
    assert!(matches!(
        check(&p, &answer(vec![decoy]), &nonce, false),
        Err(OcspError::ResponderNotAuthorized(_))
    ));
}

/// A delegated responder's certificate is held to what any certificate must be: one
/// signature algorithm inside and out (RFC 5280 §4.1.1.2), no critical extension nothing
/// processes (§4.2), and a keyUsage, when present, that allows signing.
#[test]
fn a_delegated_responder_certificate_is_held_to_the_certificate_rules() {
    let p = pki(KeyPair::generate().unwrap());
    let nonce = [9u8; 32];
    let (good, key) = current_responder(&p);
    assert_eq!(
        check(
            &p,
            &answer_by_delegate(&p, &nonce, good.clone(), &key),
            &nonce,
            false
        ),
        Ok(CertStatus::Good)
    );
    let refused = |cert: Vec<u8>, why: &str| {
        let r = check(
            &p,
            &answer_by_delegate(&p, &nonce, cert, &key),
            &nonce,
            false,
        );
        assert!(
            matches!(&r, Err(OcspError::ResponderNotAuthorized(w)) if w.contains(why)),
            "{why}: {r:?}"
        );
    };

    // ecdsa-with-SHA384 inside, ecdsa-with-SHA256 outside (and the signature made so).
    let algorithm = |last: u64| {
        yasna::construct_der(|w| {
            w.write_sequence(|w| {
                w.next().write_oid(&ObjectIdentifier::from_slice(&[
                    1, 2, 840, 10045, 4, 3, last,
                ]));
            })
        })
    };
    let parts = kyso_certs::der::split_certificate(&good).unwrap();
    let subject = parse(&good).subject().as_raw().to_vec();
    let tbs = kyso_certs::der::rewrite_tbs(&parts.tbs, &subject, Some(&algorithm(3))).unwrap();
    let signature = p.ca_key.sign(&tbs).unwrap();
    refused(
        kyso_certs::der::join_certificate(&tbs, &algorithm(2), &signature),
        "inside and outside",
    );

    let edited =
        |edit: &dyn Fn(&mut CertificateParams)| responder_certificate(&p, &key, current(), edit);
    refused(
        edited(&|params| {
            let mut ext = rcgen::CustomExtension::from_oid_content(
                &[1, 3, 6, 1, 4, 1, 55555, 9],
                vec![0x05, 0x00],
            );
            ext.set_criticality(true);
            params.custom_extensions.push(ext);
        }),
        "1.3.6.1.4.1.55555.9",
    );
    refused(
        edited(&|params| params.key_usages = vec![KeyUsagePurpose::KeyEncipherment]),
        "keyUsage",
    );
}

#[test]
fn a_delegated_responder_must_be_valid_now() {
    let p = pki(KeyPair::generate().unwrap());
    let nonce = [9u8; 32];
    let responder = |not_before, not_after| delegated_responder(&p, not_before, not_after);
    let signed_by = |(cert, key)| answer_by_delegate(&p, &nonce, cert, &key);
    let current = signed_by(responder(
        now() - Duration::days(1),
        now() + Duration::days(30),
    ));
    assert_eq!(check(&p, &current, &nonce, false), Ok(CertStatus::Good));
    let expired = signed_by(responder(
        now() - Duration::days(30),
        now() - Duration::days(1),
    ));
    assert!(
        matches!(check(&p, &expired, &nonce, false), Err(OcspError::ResponderNotAuthorized(why)) if why.contains("not valid")),
        "an expired responder certificate vouches for nothing"
    );
    let future = signed_by(responder(
        now() + Duration::days(1),
        now() + Duration::days(30),
    ));
    assert!(matches!(
        check(&p, &future, &nonce, false),
        Err(OcspError::ResponderNotAuthorized(_))
    ));
}

#[test]
fn sha1_signed_answers_are_refused_unless_the_legacy_switch_is_on() {
    let (p, pkcs8) = rsa_pki();
    let nonce = [3u8; 32];
    let sha1 = |tbs: &[u8]| kyso_certs::keys::sign_sha1_rsa(&pkcs8, tbs).unwrap();
    let der = response(&answer_by_ca(&p, &nonce), &SHA1_RSA, sha1);
    assert!(matches!(
        check(&p, &der, &nonce, false),
        Err(OcspError::UnsupportedSignatureAlgorithm(_))
    ));
    assert_eq!(check(&p, &der, &nonce, true), Ok(CertStatus::Good));
}

/// The switch covers the responder's certificate too, under either identifier SHA-1 with
/// RSA has (PKCS#1's and the older OIW one, which some libraries still verify).
#[test]
fn a_delegated_responder_certificate_signed_with_sha1_vouches_only_under_the_legacy_switch() {
    let (p, pkcs8) = rsa_pki();
    let nonce = [5u8; 32];
    let valid = || current_responder(&p);
    let (cert, key) = valid();
    let sha256 = answer_by_delegate(&p, &nonce, cert, &key);
    assert_eq!(check(&p, &sha256, &nonce, false), Ok(CertStatus::Good));

    const OIW_SHA1_RSA: [u64; 6] = [1, 3, 14, 3, 2, 29];
    for (oid, accepted_when_allowed) in [(&SHA1_RSA[..], true), (&OIW_SHA1_RSA[..], false)] {
        let (cert, key) = valid();
        let algorithm = yasna::construct_der(|w| {
            w.write_sequence(|w| {
                w.next().write_oid(&ObjectIdentifier::from_slice(oid));
                w.next().write_null();
            })
        });
        let parts = kyso_certs::der::split_certificate(&cert).unwrap();
        let subject = parse(&cert).subject().as_raw().to_vec();
        let tbs = kyso_certs::der::rewrite_tbs(&parts.tbs, &subject, Some(&algorithm)).unwrap();
        let signature = kyso_certs::keys::sign_sha1_rsa(&pkcs8, &tbs).unwrap();
        let sha1_cert = kyso_certs::der::join_certificate(&tbs, &algorithm, &signature);
        let der = answer_by_delegate(&p, &nonce, sha1_cert, &key);
        assert!(
            matches!(
                check(&p, &der, &nonce, false),
                Err(OcspError::ResponderNotAuthorized(_))
            ),
            "{oid:?}: {:?}",
            check(&p, &der, &nonce, false)
        );
        assert_eq!(
            check(&p, &der, &nonce, true).is_ok(),
            accepted_when_allowed,
            "{oid:?}"
        );
    }
}
