//! What a stranger can make one path search cost with intermediates that travel beside
//! a token. A root (RSA-4096, as the test PKI's) and a configured CA under it; a leaf
//! forged under that CA's name (signed by a key that is not the CA's), alone, and with
//! four forged self-issued certificates of the CA's name beside it. Every order of the
//! forged ones is a candidate path up to the configured CA and the root, and each costs
//! signature checks until rustls-webpki's budget runs out: the reason such
//! verifications run beside the request threads (`gateway/src/offload.rs`). Medians of
//! batches, interleaved.
//!
//! `cargo bench -p kyso-tests --bench forged_paths`

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // a measuring tool

use kyso_tests::floor::medians;
use kyso_verify::policy::{CertificatePolicy, NoRevocationCheck, PolicyOptions, TrustStore};
use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyIdMethod, KeyPair, KeyUsagePurpose,
};
use std::hint::black_box;
use std::sync::Arc;
use time::{Duration, OffsetDateTime};

fn named(cn: &str, at: OffsetDateTime) -> CertificateParams {
    let mut p = CertificateParams::default();
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CountryName, "VN");
    dn.push(DnType::CommonName, cn);
    p.distinguished_name = dn;
    p.not_before = at - Duration::days(1);
    p.not_after = at + Duration::days(365);
    p.key_identifier_method = KeyIdMethod::Sha256;
    p.use_authority_key_identifier_extension = true;
    p
}

fn ca(cn: &str, at: OffsetDateTime) -> CertificateParams {
    let mut p = named(cn, at);
    p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    p.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    p
}

fn main() {
    let at = OffsetDateTime::now_utc();
    let root_key =
        KeyPair::generate_rsa_for(&rcgen::PKCS_RSA_SHA256, rcgen::RsaKeySize::_4096).unwrap();
    let mut root = ca("Root CA", at);
    root.use_authority_key_identifier_extension = false;
    let root_der = root.self_signed(&root_key).unwrap().der().to_vec();
    let ca_key = KeyPair::generate().unwrap();
    let provider = ca("Provider CA", at);
    let provider_der = provider
        .clone()
        .signed_by(&ca_key, &Issuer::new(root, &root_key))
        .unwrap()
        .der()
        .to_vec();
    let policy = CertificatePolicy::new(
        TrustStore::new(&[root_der], &[provider_der]).unwrap(),
        PolicyOptions::default(),
        Arc::new(NoRevocationCheck),
    );
    // The forged leaf: the provider CA's name as issuer, another key's signature.
    let mut leaf = named("Trần Văn Bình", at);
    leaf.is_ca = IsCa::ExplicitNoCa;
    leaf.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    leaf.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
    let forger = KeyPair::generate().unwrap();
    let leaf_der = leaf
        .signed_by(
            &KeyPair::generate().unwrap(),
            &Issuer::new(provider.clone(), &forger),
        )
        .unwrap()
        .der()
        .to_vec();
    // Four self-issued certificates of the provider CA's name, each with its own key.
    let forged: Vec<Vec<u8>> = (0..4)
        .map(|_| {
            let key = KeyPair::generate().unwrap();
            provider.clone().self_signed(&key).unwrap().der().to_vec()
        })
        .collect();

    let (_, cert) = x509_parser::parse_x509_certificate(&leaf_der).unwrap();
    let search = |extra: &[Vec<u8>]| {
        let refused = policy.check_path(&cert, &leaf_der, black_box(extra), at);
        assert!(refused.is_err(), "a forged leaf was accepted");
    };
    let (alone, beside) = medians(|| search(&[]), || search(&forged), 21, 10);
    println!(
        "forged leaf alone: {:.1} µs; with four forged intermediates: {:.1} µs ({:.0}×)",
        alone.as_secs_f64() * 1e6,
        beside.as_secs_f64() * 1e6,
        beside.as_secs_f64() / alone.as_secs_f64()
    );
}
