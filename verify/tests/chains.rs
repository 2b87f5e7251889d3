//! One verdict per chain (design §6): an intermediate configured by the operator gives
//! exactly the verdict it gives travelling with the token, for every constraint of every
//! certificate above the leaf. Each case is built here with rcgen — root, intermediates,
//! leaf — and run both ways through the same policy; then kyso's own checks of what
//! rustls-webpki leaves to its caller, one certificate defect at a time.

use kyso_verify::error::ErrorCode;
use kyso_verify::policy::{
    CertificatePolicy, NoRevocationCheck, PathRules, PathUsage, PolicyOptions, TrustStore,
    ValidatedPath,
};
use kyso_verify::revocation::crl::{self, CrlVerdict};
use rcgen::{
    BasicConstraints, CertificateParams, CertificateRevocationListParams, CustomExtension,
    DistinguishedName, DnType, ExtendedKeyUsagePurpose, GeneralSubtree, IsCa, Issuer, KeyIdMethod,
    KeyPair, KeyUsagePurpose, NameConstraints, RevokedCertParams, SanType,
};
use std::sync::Arc;
use time::{Duration, OffsetDateTime};

const UID: &[u64] = &[0, 9, 2342, 19200300, 100, 1, 1];

fn now() -> OffsetDateTime {
    OffsetDateTime::now_utc().replace_nanosecond(0).unwrap()
}

/// A CA being built: its parameters, key and certificate.
struct Ca {
    params: CertificateParams,
    key: KeyPair,
    der: Vec<u8>,
}

impl Ca {
    fn issuer(&self) -> Issuer<'_, &KeyPair> {
        Issuer::new(self.params.clone(), &self.key)
    }
}

fn ca_params(cn: &str, is_root: bool) -> CertificateParams {
    let mut p = CertificateParams::default();
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CountryName, "VN");
    dn.push(DnType::CommonName, cn);
    p.distinguished_name = dn;
    p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    p.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    p.key_identifier_method = KeyIdMethod::Sha256;
    p.use_authority_key_identifier_extension = !is_root;
    p.not_before = now() - Duration::days(30);
    p.not_after = now() + Duration::days(3650);
    p
}

fn root(cn: &str, edit: impl FnOnce(&mut CertificateParams)) -> Ca {
    let mut params = ca_params(cn, true);
    edit(&mut params);
    let key = KeyPair::generate().unwrap();
    let der = params.self_signed(&key).unwrap().der().to_vec();
    Ca { params, key, der }
}

fn intermediate(cn: &str, issuer: &Ca, edit: impl FnOnce(&mut CertificateParams)) -> Ca {
    let mut params = ca_params(cn, false);
    edit(&mut params);
    let key = KeyPair::generate().unwrap();
    let der = params
        .signed_by(&key, &issuer.issuer())
        .unwrap()
        .der()
        .to_vec();
    Ca { params, key, der }
}

fn leaf(issuer: &Ca, edit: impl FnOnce(&mut CertificateParams)) -> Vec<u8> {
    let mut p = CertificateParams::default();
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CountryName, "VN");
    dn.push(DnType::CommonName, "Trần Văn Bình");
    dn.push(DnType::CustomDnType(UID.to_vec()), "CCCD:001090012345");
    p.distinguished_name = dn;
    p.is_ca = IsCa::ExplicitNoCa;
    p.key_usages = vec![
        KeyUsagePurpose::DigitalSignature,
        KeyUsagePurpose::ContentCommitment,
    ];
    p.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
    p.use_authority_key_identifier_extension = true;
    p.not_before = now() - Duration::days(1);
    p.not_after = now() + Duration::days(365);
    edit(&mut p);
    let key = KeyPair::generate().unwrap();
    p.signed_by(&key, &issuer.issuer()).unwrap().der().to_vec()
}

fn policy(trust: TrustStore) -> CertificatePolicy {
    CertificatePolicy::new(trust, PolicyOptions::default(), Arc::new(NoRevocationCheck))
}

/// A verdict: accepted, refused by the policy with a code, or refused at start-up.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Verdict {
    Ok,
    Refused(ErrorCode),
    StartupRefused(String),
}

async fn configured(root: &Ca, intermediates: &[&Ca], leaf: &[u8]) -> Verdict {
    let inters: Vec<Vec<u8>> = intermediates.iter().map(|c| c.der.clone()).collect();
    match TrustStore::new(std::slice::from_ref(&root.der), &inters) {
        Err(e) => Verdict::StartupRefused(e.to_string()),
        Ok(trust) => match policy(trust).verify(leaf, &[], now()).await {
            Ok(_) => Verdict::Ok,
            Err(r) => Verdict::Refused(r.code),
        },
    }
}

async fn travelling(root: &Ca, intermediates: &[&Ca], leaf: &[u8]) -> Verdict {
    let inters: Vec<Vec<u8>> = intermediates.iter().map(|c| c.der.clone()).collect();
    let trust = TrustStore::new(std::slice::from_ref(&root.der), &[]).unwrap();
    match policy(trust).verify(leaf, &inters, now()).await {
        Ok(_) => Verdict::Ok,
        Err(r) => Verdict::Refused(r.code),
    }
}

/// Both routes give `want`.
async fn both(root: &Ca, intermediates: &[&Ca], leaf: &[u8], want: Verdict) {
    assert_eq!(
        travelling(root, intermediates, leaf).await,
        want,
        "travelling"
    );
    assert_eq!(
        configured(root, intermediates, leaf).await,
        want,
        "configured"
    );
}

/// Two certificatePolicies extensions (RFC 5280 §4.2: a certificate MUST NOT carry one
/// twice).
fn two_certificate_policies(p: &mut CertificateParams) {
    for _ in 0..2 {
        p.custom_extensions.push(CustomExtension::from_oid_content(
            &[2, 5, 29, 32],
            vec![0x30, 0x05, 0x30, 0x03, 0x06, 0x01, 0x2a],
        ));
    }
}

fn dns_only(name: &str) -> impl FnOnce(&mut CertificateParams) {
    let name = name.to_owned();
    move |p: &mut CertificateParams| {
        p.name_constraints = Some(NameConstraints {
            permitted_subtrees: vec![GeneralSubtree::DnsName(name)],
            excluded_subtrees: vec![],
        });
    }
}

fn with_san(name: &str) -> impl FnOnce(&mut CertificateParams) {
    let name = name.to_owned();
    move |p: &mut CertificateParams| {
        p.subject_alt_names = vec![SanType::DnsName(name.try_into().unwrap())];
    }
}

#[tokio::test]
async fn a_good_chain_passes_both_ways_and_the_configured_way_reuses_the_start_up_check() {
    let r = root("Root", |_| {});
    let i = intermediate("Provider CA", &r, |p| {
        p.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    });
    let l = leaf(&i, |_| {});
    both(&r, &[&i], &l, Verdict::Ok).await;

    let trust =
        TrustStore::new(std::slice::from_ref(&r.der), std::slice::from_ref(&i.der)).unwrap();
    let policy = policy(trust);
    policy.verify(&l, &[], now()).await.unwrap();
    assert!(
        policy.remembered_signatures_used() >= 1,
        "the intermediate's own signature was verified once, at start-up"
    );
}

#[tokio::test]
async fn the_roots_name_constraints_bind_leaves_under_a_configured_intermediate() {
    let r = root("Root", dns_only("allowed.example"));
    let i = intermediate("Provider CA", &r, |_| {});
    let evil = leaf(&i, with_san("evil.example"));
    both(&r, &[&i], &evil, Verdict::Refused(ErrorCode::CertUntrusted)).await;
    let fine = leaf(&i, with_san("portal.allowed.example"));
    both(&r, &[&i], &fine, Verdict::Ok).await;
}

#[tokio::test]
async fn an_intermediates_path_length_binds_the_intermediates_below_it() {
    let r = root("Root", |_| {});
    let first = intermediate("First CA", &r, |p| {
        p.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    });
    let second = intermediate("Second CA", &first, |_| {});
    let l = leaf(&second, |_| {});
    both(
        &r,
        &[&first, &second],
        &l,
        Verdict::Refused(ErrorCode::CertUntrusted),
    )
    .await;
}

#[tokio::test]
async fn the_roots_path_length_binds_the_intermediates_below_it() {
    // Root pathLen 0: no intermediate may stand below it, configured or travelled.
    let r = root("Root", |p| {
        p.is_ca = IsCa::Ca(BasicConstraints::Constrained(0))
    });
    let i = intermediate("Provider CA", &r, |_| {});
    let l = leaf(&i, |_| {});
    both(&r, &[&i], &l, Verdict::Refused(ErrorCode::CertUntrusted)).await;
    let direct = leaf(&r, |_| {});
    both(&r, &[], &direct, Verdict::Ok).await;
    // Root pathLen 1: one intermediate, not two.
    let r = root("Root", |p| {
        p.is_ca = IsCa::Ca(BasicConstraints::Constrained(1))
    });
    let first = intermediate("Provider CA", &r, |_| {});
    let l = leaf(&first, |_| {});
    both(&r, &[&first], &l, Verdict::Ok).await;
    let second = intermediate("Sub CA", &first, |_| {});
    let l = leaf(&second, |_| {});
    both(
        &r,
        &[&first, &second],
        &l,
        Verdict::Refused(ErrorCode::CertUntrusted),
    )
    .await;
}

#[tokio::test]
async fn an_unknown_critical_extension_in_an_intermediate_refuses_the_path() {
    let r = root("Root", |_| {});
    let i = intermediate("Provider CA", &r, |p| {
        let mut ext =
            CustomExtension::from_oid_content(&[1, 3, 6, 1, 4, 1, 55555, 1], vec![0x05, 0x00]);
        ext.set_criticality(true);
        p.custom_extensions.push(ext);
    });
    let l = leaf(&i, |_| {});
    both(&r, &[&i], &l, Verdict::Refused(ErrorCode::CertUntrusted)).await;
}

#[tokio::test]
async fn an_intermediates_validity_is_judged_at_the_verification_time() {
    let r = root("Root", |_| {});
    let expired = intermediate("Old CA", &r, |p| {
        p.not_before = now() - Duration::days(400);
        p.not_after = now() - Duration::days(1);
    });
    let l = leaf(&expired, |p| p.not_before = now() - Duration::days(200));
    both(
        &r,
        &[&expired],
        &l,
        Verdict::Refused(ErrorCode::CertExpired),
    )
    .await;
    let future = intermediate("Future CA", &r, |p| {
        p.not_before = now() + Duration::days(1);
    });
    let l = leaf(&future, |_| {});
    both(
        &r,
        &[&future],
        &l,
        Verdict::Refused(ErrorCode::CertNotYetValid),
    )
    .await;
}

#[tokio::test]
async fn an_intermediate_that_may_not_sign_certificates_is_refused_either_way() {
    let r = root("Root", |_| {});
    let i = intermediate("Provider CA", &r, |p| {
        p.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    });
    let l = leaf(&i, |_| {});
    assert_eq!(
        travelling(&r, &[&i], &l).await,
        Verdict::Refused(ErrorCode::CertUntrusted)
    );
    match configured(&r, &[&i], &l).await {
        Verdict::StartupRefused(why) => {
            assert!(
                why.contains("intermediate #1") && why.contains("NO_KEY_CERT_SIGN"),
                "{why}"
            );
        }
        other => {
            panic!("a configured intermediate without keyCertSign must stop start-up: {other:?}")
        }
    }
}

#[tokio::test]
async fn an_expired_anchor_vouches_for_nothing() {
    let r = root("Old Root", |p| {
        p.not_before = now() - Duration::days(400);
        p.not_after = now() - Duration::days(1);
    });
    let l = leaf(&r, |p| p.not_before = now() - Duration::days(100));
    let trust = TrustStore::new(std::slice::from_ref(&r.der), &[]).unwrap();
    let e = policy(trust).verify(&l, &[], now()).await.unwrap_err();
    assert_eq!(e.code, ErrorCode::CertUntrusted);
    assert!(e.detail.contains("ANCHOR_NOT_VALID"), "{e}");
}

#[test]
fn anchors_that_cannot_be_fully_processed_stop_start_up_naming_them() {
    let odd = root("Odd Root", |p| {
        let mut ext =
            CustomExtension::from_oid_content(&[1, 3, 6, 1, 4, 1, 55555, 2], vec![0x05, 0x00]);
        ext.set_criticality(true);
        p.custom_extensions.push(ext);
    });
    let fine = root("Fine Root", |_| {});
    let e = TrustStore::new(&[fine.der.clone(), odd.der.clone()], &[]).unwrap_err();
    assert!(
        e.to_string().contains("trust anchor #2")
            && e.to_string().contains("UNKNOWN_CRITICAL_EXTENSION"),
        "{e}"
    );
    let leaf_as_anchor = leaf(&fine, |_| {});
    let e = TrustStore::new(&[leaf_as_anchor], &[]).unwrap_err();
    assert!(e.to_string().contains("NOT_A_CA"), "{e}");
    let twice = root("Twice Root", two_certificate_policies);
    let e = TrustStore::new(&[twice.der], &[]).unwrap_err();
    assert!(e.to_string().contains("DUPLICATE_EXTENSION"), "{e}");
    let constrained_badly = root("Bad NC Root", dns_only(".leading-dot.example"));
    let e = TrustStore::new(&[constrained_badly.der], &[]).unwrap_err();
    assert!(e.to_string().contains("MALFORMED_NAME_CONSTRAINTS"), "{e}");
}

/// A root whose extendedKeyUsage (critical, as real roots mark it) names the purposes it
/// vouches for: a sign-in leaf is accepted under one that names client authentication,
/// refused under one restricted to TLS servers (rustls-webpki keeps no anchor's purposes).
#[tokio::test]
async fn a_root_restricted_to_other_purposes_does_not_vouch_for_sign_in() {
    let restricted_to = |purpose: u8| {
        move |p: &mut CertificateParams| {
            let mut ext = CustomExtension::from_oid_content(
                &[2, 5, 29, 37],
                vec![
                    0x30, 0x0a, 0x06, 0x08, 0x2b, 0x06, 0x01, 0x05, 0x05, 0x07, 0x03, purpose,
                ],
            );
            ext.set_criticality(true);
            p.custom_extensions.push(ext);
        }
    };
    let trusted = |r: &Ca| policy(TrustStore::new(std::slice::from_ref(&r.der), &[]).unwrap());
    let clients = root("Client Root", restricted_to(2));
    assert!(
        trusted(&clients)
            .verify(&leaf(&clients, |_| {}), &[], now())
            .await
            .is_ok()
    );
    let servers = root("TLS Root", restricted_to(1));
    let e = trusted(&servers)
        .verify(&leaf(&servers, |_| {}), &[], now())
        .await
        .unwrap_err();
    assert_eq!(e.code, ErrorCode::CertWrongPurpose, "{e}");
    assert!(e.detail.contains("ANCHOR_WRONG_PURPOSE"), "{e}");
}

/// RFC 5280 §4.2.1.10: with no subjectAltName, email constraints apply to the subject's
/// emailAddress. rustls-webpki does not read that attribute, so under a CA (root or
/// intermediate) that constrains email addresses such a leaf is refused; a leaf with
/// the same attribute under unconstrained CAs is fine.
#[tokio::test]
async fn a_subject_email_under_email_constraints_is_refused() {
    let email = |p: &mut CertificateParams| {
        p.distinguished_name.push(
            DnType::CustomDnType(vec![1, 2, 840, 113549, 1, 9, 1]),
            "hoa@evil.vn",
        );
    };
    let excluding = |p: &mut CertificateParams| {
        p.name_constraints = Some(NameConstraints {
            permitted_subtrees: vec![],
            excluded_subtrees: vec![GeneralSubtree::Rfc822Name("evil.vn".into())],
        });
    };
    let free = root("Free Root", |_| {});
    let leaf_of = |issuer: &Ca| leaf(issuer, email);
    let trusted = |r: &Ca| policy(TrustStore::new(std::slice::from_ref(&r.der), &[]).unwrap());
    assert!(
        trusted(&free)
            .verify(&leaf_of(&free), &[], now())
            .await
            .is_ok()
    );

    let constrained = root("Email Root", excluding);
    let e = trusted(&constrained)
        .verify(&leaf_of(&constrained), &[], now())
        .await
        .unwrap_err();
    assert!(
        e.detail.contains("SUBJECT_EMAIL_UNDER_EMAIL_CONSTRAINTS"),
        "{e}"
    );

    let below = intermediate("Email ICA", &free, excluding);
    let e = trusted(&free)
        .verify(&leaf_of(&below), std::slice::from_ref(&below.der), now())
        .await
        .unwrap_err();
    assert!(
        e.detail.contains("SUBJECT_EMAIL_UNDER_EMAIL_CONSTRAINTS"),
        "{e}"
    );
}

#[tokio::test]
async fn end_entities_that_could_act_as_cas_are_refused() {
    let r = root("Root", |_| {});
    let trust = || TrustStore::new(std::slice::from_ref(&r.der), &[]).unwrap();
    let signs = leaf(&r, |p| p.key_usages.push(KeyUsagePurpose::KeyCertSign));
    let e = policy(trust())
        .verify(&signs, &[], now())
        .await
        .unwrap_err();
    assert_eq!(e.code, ErrorCode::CertWrongPurpose);
    assert!(e.detail.contains("END_ENTITY_SIGNS_CERTIFICATES"), "{e}");
    let crl_signer = leaf(&r, |p| p.key_usages.push(KeyUsagePurpose::CrlSign));
    let e = policy(trust())
        .verify(&crl_signer, &[], now())
        .await
        .unwrap_err();
    assert_eq!(e.code, ErrorCode::CertWrongPurpose);
    let ca = leaf(&r, |p| p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained));
    let e = policy(trust()).verify(&ca, &[], now()).await.unwrap_err();
    assert_eq!(e.code, ErrorCode::CertUntrusted, "{e}");
    let constrained = leaf(&r, dns_only("allowed.example"));
    let e = policy(trust())
        .verify(&constrained, &[], now())
        .await
        .unwrap_err();
    assert!(e.detail.contains("END_ENTITY_NAME_CONSTRAINTS"), "{e}");
    // RFC 5280 §4.2: no extension twice, also one webpki does not read (here two
    // certificatePolicies).
    let twice = leaf(&r, two_certificate_policies);
    let e = policy(trust())
        .verify(&twice, &[], now())
        .await
        .unwrap_err();
    assert!(e.detail.contains("DUPLICATE_EXTENSION"), "{e}");
    let no_aki = leaf(&r, |p| p.use_authority_key_identifier_extension = false);
    let e = policy(trust())
        .verify(&no_aki, &[], now())
        .await
        .unwrap_err();
    assert!(e.detail.contains("MISSING_AUTHORITY_KEY_ID"), "{e}");
}

#[tokio::test]
async fn travelled_intermediates_meet_the_same_structural_checks_as_configured_ones() {
    let r = root("Root", |_| {});
    let no_aki = intermediate("No AKI CA", &r, |p| {
        p.use_authority_key_identifier_extension = false;
    });
    let l = leaf(&no_aki, |_| {});
    let trust = TrustStore::new(std::slice::from_ref(&r.der), &[]).unwrap();
    let e = policy(trust)
        .verify(&l, std::slice::from_ref(&no_aki.der), now())
        .await
        .unwrap_err();
    assert_eq!(e.code, ErrorCode::CertUntrusted);
    assert!(e.detail.contains("MISSING_AUTHORITY_KEY_ID"), "{e}");
    match configured(&r, &[&no_aki], &l).await {
        Verdict::StartupRefused(why) => assert!(why.contains("MISSING_AUTHORITY_KEY_ID"), "{why}"),
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn real_vietnamese_profiles_pass_both_ways() {
    // A provider CA with pathlen:0 under the national root; an RSA-2048/SHA-256 citizen
    // certificate with AKI/SKI and digitalSignature, nonRepudiation, keyEncipherment and
    // dataEncipherment, as Vietnamese CAs issue them.
    let r = root("Root CA", |_| {});
    let provider = intermediate("VNPT Certification Authority", &r, |p| {
        p.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    });
    let mut p = CertificateParams::default();
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CountryName, "VN");
    dn.push(DnType::CommonName, "NGUYỄN VĂN AN");
    dn.push(DnType::CustomDnType(UID.to_vec()), "CCCD:001090012345");
    p.distinguished_name = dn;
    p.key_usages = vec![
        KeyUsagePurpose::DigitalSignature,
        KeyUsagePurpose::ContentCommitment,
        KeyUsagePurpose::KeyEncipherment,
        KeyUsagePurpose::DataEncipherment,
    ];
    p.extended_key_usages = vec![
        ExtendedKeyUsagePurpose::ClientAuth,
        ExtendedKeyUsagePurpose::EmailProtection,
    ];
    p.key_identifier_method = KeyIdMethod::Sha256;
    p.use_authority_key_identifier_extension = true;
    p.not_before = now() - Duration::days(1);
    p.not_after = now() + Duration::days(365);
    let key = KeyPair::generate_rsa_for(&rcgen::PKCS_RSA_SHA256, rcgen::RsaKeySize::_2048).unwrap();
    let l = p
        .signed_by(&key, &provider.issuer())
        .unwrap()
        .der()
        .to_vec();
    both(&r, &[&provider], &l, Verdict::Ok).await;
}

/// `min_rsa_bits` is the policy's for every key of the path, not only the leaf's: an
/// RSA-2048 intermediate (rustls-webpki's own floor) does not vouch under a 3,072-bit
/// minimum.
#[tokio::test]
async fn the_minimum_rsa_size_applies_to_the_cas_of_the_path() {
    let r = root("Root", |_| {});
    let params = ca_params("RSA-2048 CA", false);
    let key = KeyPair::generate_rsa_for(&rcgen::PKCS_RSA_SHA256, rcgen::RsaKeySize::_2048).unwrap();
    let der = params.signed_by(&key, &r.issuer()).unwrap().der().to_vec();
    let small = Ca { params, key, der };
    let l = leaf(&small, |_| {});
    let with_minimum = |bits: usize| {
        CertificatePolicy::new(
            TrustStore::new(std::slice::from_ref(&r.der), &[]).unwrap(),
            PolicyOptions {
                min_rsa_bits: bits,
                ..PolicyOptions::default()
            },
            Arc::new(NoRevocationCheck),
        )
    };
    let travelled = std::slice::from_ref(&small.der);
    assert!(
        with_minimum(2048)
            .verify(&l, travelled, now())
            .await
            .is_ok()
    );
    let e = with_minimum(3072)
        .verify(&l, travelled, now())
        .await
        .unwrap_err();
    assert_eq!(e.code, ErrorCode::WeakKey, "{e}");
    assert!(e.detail.contains("WEAK_CA_KEY"), "{e}");
}

#[tokio::test]
async fn a_leaf_without_key_usage_is_the_wrong_purpose() {
    let r = root("Root", |_| {});
    let i = intermediate("Provider CA", &r, |_| {});
    let bare = leaf(&i, |p| p.key_usages = vec![]);
    both(
        &r,
        &[&i],
        &bare,
        Verdict::Refused(ErrorCode::CertWrongPurpose),
    )
    .await;
    let signing_only = leaf(&i, |p| {
        p.key_usages = vec![KeyUsagePurpose::ContentCommitment]
    });
    both(&r, &[&i], &signing_only, Verdict::Ok).await;
}

#[tokio::test]
async fn a_purpose_the_whole_path_allows_is_found_among_the_leafs() {
    // The leaf's first purpose (clientAuth) is not the intermediate's; its second is.
    let r = root("Root", |_| {});
    let i = intermediate("Mail CA", &r, |p| {
        p.extended_key_usages = vec![ExtendedKeyUsagePurpose::EmailProtection];
    });
    let both_purposes = leaf(&i, |p| {
        p.extended_key_usages = vec![
            ExtendedKeyUsagePurpose::ClientAuth,
            ExtendedKeyUsagePurpose::EmailProtection,
        ];
    });
    both(&r, &[&i], &both_purposes, Verdict::Ok).await;
    // One the intermediate does not allow at all is still refused.
    let client_only = leaf(&i, |_| {});
    both(
        &r,
        &[&i],
        &client_only,
        Verdict::Refused(ErrorCode::CertWrongPurpose),
    )
    .await;
}

#[tokio::test]
async fn every_identity_purpose_is_accepted_and_others_are_not() {
    let r = root("Root", |_| {});
    let trust = || TrustStore::new(std::slice::from_ref(&r.der), &[]).unwrap();
    let with_eku =
        |eku: Vec<ExtendedKeyUsagePurpose>| leaf(&r, move |p| p.extended_key_usages = eku);
    for (what, eku) in [
        ("clientAuth", vec![ExtendedKeyUsagePurpose::ClientAuth]),
        (
            "emailProtection",
            vec![ExtendedKeyUsagePurpose::EmailProtection],
        ),
        (
            "documentSigning (RFC 9336)",
            vec![ExtendedKeyUsagePurpose::Other(vec![
                1, 3, 6, 1, 5, 5, 7, 3, 36,
            ])],
        ),
        (
            "Microsoft document signing",
            vec![ExtendedKeyUsagePurpose::Other(vec![
                1, 3, 6, 1, 4, 1, 311, 10, 3, 12,
            ])],
        ),
        ("anyExtendedKeyUsage", vec![ExtendedKeyUsagePurpose::Any]),
        (
            "serverAuth beside documentSigning",
            vec![
                ExtendedKeyUsagePurpose::ServerAuth,
                ExtendedKeyUsagePurpose::Other(vec![1, 3, 6, 1, 5, 5, 7, 3, 36]),
            ],
        ),
        ("no extendedKeyUsage at all", vec![]),
    ] {
        let l = with_eku(eku);
        let verdict = policy(trust()).verify(&l, &[], now()).await;
        assert!(verdict.is_ok(), "{what}: {verdict:?}");
    }
    for (what, eku) in [
        ("serverAuth only", vec![ExtendedKeyUsagePurpose::ServerAuth]),
        (
            "codeSigning only",
            vec![ExtendedKeyUsagePurpose::CodeSigning],
        ),
    ] {
        let l = with_eku(eku);
        let e = policy(trust()).verify(&l, &[], now()).await.unwrap_err();
        assert_eq!(e.code, ErrorCode::CertWrongPurpose, "{what}");
    }
}

/// A certificate with `subject`'s name and key, certified by `issuer`: a cross-certificate
/// (or a second certificate of one sub-CA under another root), valid now.
fn cross(subject: &Ca, issuer: &Ca, serial: u64) -> Vec<u8> {
    let mut params = subject.params.clone();
    params.not_before = now() - Duration::days(30);
    params.not_after = now() + Duration::days(3650);
    params.use_authority_key_identifier_extension = true;
    params.serial_number = Some(serial.into());
    params
        .signed_by(&subject.key, &issuer.issuer())
        .unwrap()
        .der()
        .to_vec()
}

fn build(trust: TrustStore, leaf: &[u8], travelled: &[Vec<u8>]) -> ValidatedPath {
    let rules = PathRules {
        allow_sha1: false,
        max_intermediates: 4,
        min_rsa_bits: 2048,
    };
    ValidatedPath::build(
        Arc::new(trust),
        rules,
        PathUsage::Any,
        leaf,
        travelled,
        now(),
    )
    .unwrap()
}

/// Revocation is asked about every certificate on the path but the anchor, wherever
/// webpki puts it and however it came: here a configured intermediate whose own root has
/// expired, and above it a cross-certificate the token brought.
#[test]
fn every_certificate_but_the_anchor_is_asked_about_configured_or_travelled() {
    let old_root = root("Old Root", |p| {
        p.not_before = now() - Duration::days(3650);
        p.not_after = now() - Duration::days(1);
    });
    let new_root = root("New Root", |_| {});
    let provider = intermediate("Provider CA", &old_root, |_| {});
    let bridge = cross(&old_root, &new_root, 7);
    let leaf = leaf(&provider, |_| {});
    let trust = TrustStore::new(
        &[old_root.der.clone(), new_root.der.clone()],
        std::slice::from_ref(&provider.der),
    )
    .unwrap();
    let path = build(trust, &leaf, std::slice::from_ref(&bridge));
    let asked: Vec<(&[u8], &[u8])> = path
        .links()
        .iter()
        .map(|l| (l.cert.as_slice(), l.issuer.as_slice()))
        .collect();
    assert_eq!(
        asked,
        [
            (leaf.as_slice(), provider.der.as_slice()),
            (provider.der.as_slice(), bridge.as_slice()),
            (bridge.as_slice(), new_root.der.as_slice())
        ]
    );
}

/// A CRL judges the certificate on the path that was verified: a revoked sub-CA is not let
/// through because a second certificate of the same sub-CA, under another root, would
/// make another path (whose certificate nobody asks about).
#[test]
fn a_revoked_intermediate_is_not_routed_around_through_its_twin() {
    let first_root = root("First Root", |_| {});
    let second_root = root("Second Root", |_| {});
    let sub = intermediate("Sub CA", &first_root, |_| {});
    let under_first = cross(&sub, &first_root, 11);
    let under_second = cross(&sub, &second_root, 12);
    let leaf = leaf(&sub, |_| {});
    let trust = TrustStore::new(&[first_root.der.clone(), second_root.der.clone()], &[]).unwrap();
    let path = build(trust, &leaf, &[under_first.clone(), under_second]);
    assert_eq!(path.links()[1].cert, under_first, "the path found first");
    let crl = |revoked: Vec<RevokedCertParams>| {
        let params = CertificateRevocationListParams {
            this_update: now() - Duration::hours(1),
            next_update: now() + Duration::days(1),
            crl_number: 1u64.into(),
            issuing_distribution_point: None,
            revoked_certs: revoked,
            key_identifier_method: KeyIdMethod::Sha256,
        };
        let der = params
            .signed_by(&first_root.issuer())
            .unwrap()
            .der()
            .to_vec();
        crl::decode(&der).unwrap()
    };
    assert_eq!(crl(Vec::new()).judge(&path, 1), Ok(CrlVerdict::Good));
    let revoking = crl(vec![RevokedCertParams {
        serial_number: 11u64.into(),
        revocation_time: now() - Duration::hours(2),
        reason_code: None,
        invalidity_date: None,
    }]);
    assert_eq!(revoking.judge(&path, 1), Ok(CrlVerdict::Revoked));
}

/// DER: `tag`, the length of `content`, `content`.
fn tlv(tag: u8, content: &[u8]) -> Vec<u8> {
    let mut out = vec![tag];
    match content.len() {
        n @ 0..=127 => out.push(n as u8),
        n @ 128..=255 => out.extend([0x81, n as u8]),
        n => out.extend([0x82, (n >> 8) as u8, n as u8]),
    }
    out.extend_from_slice(content);
    out
}

/// An RSA public key of `modulus` and `exponent` (unsigned, big-endian), for a
/// certificate whose private key nobody needs: the leaf's key is judged before any
/// signature made with it is checked.
struct RsaPublic(Vec<u8>);

impl RsaPublic {
    fn new(modulus: &[u8], exponent: &[u8]) -> Self {
        // DER: minimal, with a zero first only where the high bit would make it negative.
        let integer = |bytes: &[u8]| {
            let mut v = Vec::new();
            if bytes.first().is_some_and(|b| b & 0x80 != 0) {
                v.push(0);
            }
            v.extend_from_slice(bytes);
            tlv(0x02, &v)
        };
        Self(tlv(0x30, &[integer(modulus), integer(exponent)].concat()))
    }
}

impl rcgen::PublicKeyData for RsaPublic {
    fn der_bytes(&self) -> &[u8] {
        &self.0
    }

    fn algorithm(&self) -> &'static rcgen::SignatureAlgorithm {
        &rcgen::PKCS_RSA_SHA256
    }
}

#[tokio::test]
async fn an_rsa_key_with_an_even_tiny_or_huge_exponent_is_a_weak_key() {
    let r = root("Root", |_| {});
    let i = intermediate("Provider CA", &r, |_| {});
    let mut modulus = vec![0xc5u8; 256];
    modulus[255] = 0x01;
    let leaf_with = |exponent: &[u8]| {
        let mut p = CertificateParams::default();
        let mut dn = DistinguishedName::new();
        dn.push(DnType::CommonName, "Trần Văn Bình");
        dn.push(DnType::CustomDnType(UID.to_vec()), "CCCD:001090012345");
        p.distinguished_name = dn;
        p.is_ca = IsCa::ExplicitNoCa;
        p.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        p.use_authority_key_identifier_extension = true;
        p.not_before = now() - Duration::days(1);
        p.not_after = now() + Duration::days(365);
        p.signed_by(&RsaPublic::new(&modulus, exponent), &i.issuer())
            .unwrap()
            .der()
            .to_vec()
    };
    let policy = policy(TrustStore::new(std::slice::from_ref(&r.der), &[]).unwrap());
    let travelled = std::slice::from_ref(&i.der);
    for fine in [&[0x01, 0x00, 0x01][..], &[0x03], &[0xff, 0xff, 0xff, 0xff]] {
        let verdict = policy.verify(&leaf_with(fine), travelled, now()).await;
        assert!(verdict.is_ok(), "e = {fine:02x?}: {verdict:?}");
    }
    let huge = [&[0x01][..], &[0u8; 255], &[0x01]].concat();
    for weak in [
        &[0x01][..],
        &[0x01, 0x00, 0x00],
        &[0x01, 0x00, 0x00, 0x00, 0x01],
        &huge,
    ] {
        let e = policy
            .verify(&leaf_with(weak), travelled, now())
            .await
            .unwrap_err();
        assert_eq!(e.code, ErrorCode::WeakKey, "e = {weak:02x?}: {e}");
        assert!(e.detail.contains("BAD_RSA_EXPONENT"), "{e}");
    }
    // A CA's key is held to the same rule: a configured anchor with a huge exponent
    // stops start-up (its own signature is never checked, so any key can be put in it).
    let mut params = ca_params("Root With A Huge Exponent", false);
    params.use_authority_key_identifier_extension = true;
    let odd_root = params
        .signed_by(&RsaPublic::new(&modulus, &huge), &r.issuer())
        .unwrap()
        .der()
        .to_vec();
    let e = TrustStore::new(&[odd_root], &[]).unwrap_err();
    assert!(e.to_string().contains("BAD_RSA_EXPONENT"), "{e}");
}

/// webpki knows an anchor by name, key and name constraints: two anchors alike in those
/// but not otherwise (here, their validity and pathLenConstraint) cannot be told apart
/// on a path, so the store refuses them; the same certificate twice is one anchor.
#[tokio::test]
async fn two_anchors_alike_in_name_and_key_but_not_otherwise_are_refused() {
    let r = root("Root", |_| {});
    let mut renewed = r.params.clone();
    renewed.not_after = now() + Duration::days(7300);
    renewed.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    let renewed = renewed.self_signed(&r.key).unwrap().der().to_vec();
    let e = TrustStore::new(&[r.der.clone(), renewed], &[]).unwrap_err();
    assert!(
        e.to_string().contains("trust anchor #2") && e.to_string().contains("#1"),
        "{e}"
    );
    let i = intermediate("Provider CA", &r, |_| {});
    let twice = TrustStore::new(&[r.der.clone(), r.der.clone()], &[]).unwrap();
    let l = leaf(&i, |_| {});
    assert!(
        policy(twice)
            .verify(&l, std::slice::from_ref(&i.der), now())
            .await
            .is_ok()
    );
}
