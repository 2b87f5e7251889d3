//! The generated test PKI has every profile of design §9, each certificate is what its
//! profile says, and the CA databases and CRLs agree with the manifest.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code

use kyso_certs::keys::KeyKind;
use kyso_certs::manifest::{Manifest, Medium};
use kyso_certs::{GenerateOptions, generate};
use rsa::pkcs8::{DecodePrivateKey, EncodePublicKey};
use std::path::Path;
use time::{Duration, OffsetDateTime};
use x509_parser::certificate::X509Certificate;
use x509_parser::extensions::{GeneralName, ParsedExtension};
use x509_parser::{parse_x509_certificate, parse_x509_crl};

/// The profiles design §9 requires, by id.
const REQUIRED: [&str; 19] = [
    "citizen-cccd",
    "citizen-cmnd",
    "citizen-cmnd-cccd",
    "citizen-ec",
    "enterprise-mst",
    "enterprise-branch",
    "enterprise-employee",
    "expired",
    "not-yet-valid",
    "revoked",
    "wrong-key-usage",
    "rsa-1024",
    "sha1-signed",
    "untrusted-ca",
    "bad-cccd-province",
    "bad-mst-checksum",
    "no-identity",
    "sim-citizen",
    "sim-enterprise",
];

/// Profiles whose identity is fine but whose certificate the policy must refuse.
const POLICY_REFUSALS: [&str; 9] = [
    "expired",
    "not-yet-valid",
    "revoked",
    "unknown-to-ca",
    "wrong-key-usage",
    "wrong-eku",
    "rsa-1024",
    "sha1-signed",
    "untrusted-ca",
];

fn setup(base_url: &str) -> (tempfile::TempDir, Manifest) {
    let dir = tempfile::tempdir().unwrap();
    let options = GenerateOptions {
        base_url: base_url.into(),
        ..GenerateOptions::new(dir.path())
    };
    let mut steps = Vec::new();
    let manifest = generate(&options, &mut |s| steps.push(s.to_owned())).unwrap();
    assert!(
        steps.iter().any(|s| s.contains("RSA-4096")),
        "progress names the slow steps: {steps:?}"
    );
    (dir, manifest)
}

fn read(dir: &Path, rel: &str) -> Vec<u8> {
    std::fs::read(dir.join(rel)).unwrap()
}

fn pem_der(dir: &Path, rel: &str) -> Vec<u8> {
    pem::parse(read(dir, rel)).unwrap().into_contents()
}

fn spki_of_key_file(der: Vec<u8>, kind: KeyKind) -> Vec<u8> {
    if kind == KeyKind::Rsa1024 {
        let key = rsa::RsaPrivateKey::from_pkcs8_der(&der).unwrap();
        return key.to_public_key().to_public_key_der().unwrap().into_vec();
    }
    let alg = match kind {
        KeyKind::EcP256 => &rcgen::PKCS_ECDSA_P256_SHA256,
        KeyKind::EcP384 => &rcgen::PKCS_ECDSA_P384_SHA384,
        _ => &rcgen::PKCS_RSA_SHA256,
    };
    let pair = rcgen::KeyPair::from_pkcs8_der_and_sign_algo(&der.into(), alg).unwrap();
    rcgen::PublicKeyData::subject_public_key_info(&pair)
}

fn has_ocsp_url(cert: &X509Certificate<'_>, url: &str) -> bool {
    cert.extensions()
        .iter()
        .any(|e| match e.parsed_extension() {
            ParsedExtension::AuthorityInfoAccess(aia) => aia
                .accessdescs
                .iter()
                .any(|d| matches!(d.access_location, GeneralName::URI(u) if u == url)),
            _ => false,
        })
}

#[test]
fn every_profile_is_there_with_a_verdict_and_a_matching_certificate() {
    let (dir, m) = setup("http://127.0.0.1:9");
    assert_eq!(
        Manifest::load(dir.path()).unwrap().persons.len(),
        m.persons.len()
    );
    for id in REQUIRED {
        m.person(id)
            .unwrap_or_else(|_| panic!("profile {id} missing"));
    }
    let now = m.generated_at;
    for p in &m.persons {
        let der = read(dir.path(), &p.cert_der);
        assert_eq!(
            pem_der(dir.path(), &p.cert),
            der,
            "{}: PEM and DER differ",
            p.id
        );
        let (_, cert) = parse_x509_certificate(&der).unwrap();
        let nb = cert.validity().not_before.to_datetime();
        let na = cert.validity().not_after.to_datetime();
        match p.id.as_str() {
            "expired" => assert!(na < now, "{}", p.id),
            "not-yet-valid" => assert!(nb > now, "{}", p.id),
            _ => assert!(nb <= now && now < na, "{}", p.id),
        }
        let sha1 = cert.signature_algorithm.algorithm.to_id_string() == "1.2.840.113549.1.1.5";
        assert_eq!(sha1, p.id == "sha1-signed", "{}", p.id);
        let identity_ok = p.identity.is_some();
        let expect_ok = identity_ok && !POLICY_REFUSALS.contains(&p.id.as_str());
        assert_eq!(
            p.verdict == kyso_certs::Verdict::Ok,
            expect_ok,
            "{}: {:?}",
            p.id,
            p.verdict
        );
        assert_eq!(p.phone.is_some(), p.medium == Medium::Sim, "{}", p.id);
        if let Some(phone) = &p.phone {
            assert!(phone.starts_with("+84") && phone.len() == 12, "{phone}");
        }
        let key = spki_of_key_file(pem_der(dir.path(), &p.key_file), p.key);
        assert_eq!(
            key,
            cert.public_key().raw,
            "{}: key.pem is not the certificate's key",
            p.id
        );
        let url = format!("http://127.0.0.1:9/ocsp/{}", p.issuer);
        assert!(has_ocsp_url(&cert, &url), "{}: AIA OCSP URL", p.id);
    }
}

#[test]
fn keys_and_extensions_follow_the_profiles() {
    let (dir, m) = setup(kyso_certs::DEFAULT_BASE_URL);
    let cert_of = |id: &str| read(dir.path(), &m.person(id).unwrap().cert_der);
    let bits = |der: &[u8]| {
        let (_, c) = parse_x509_certificate(der).unwrap();
        c.public_key().parsed().unwrap().key_size()
    };
    assert_eq!(bits(&cert_of("rsa-1024")), 1024);
    assert_eq!(bits(&cert_of("citizen-cccd")), 2048);
    assert_eq!(bits(&read(dir.path(), "ca/root/cert.der")), 4096);

    let der = cert_of("wrong-key-usage");
    let (_, c) = parse_x509_certificate(&der).unwrap();
    let ku = c.key_usage().unwrap().unwrap().value;
    assert!(ku.key_encipherment() && !ku.digital_signature() && !ku.non_repudiation());
    let der = cert_of("wrong-eku");
    let (_, c) = parse_x509_certificate(&der).unwrap();
    let eku = c.extended_key_usage().unwrap().unwrap().value;
    assert!(eku.server_auth && !eku.client_auth && !eku.email_protection);
    let der = cert_of("citizen-cccd");
    let (_, c) = parse_x509_certificate(&der).unwrap();
    let ku = c.key_usage().unwrap().unwrap().value;
    assert!(ku.digital_signature() && ku.non_repudiation());

    // Several UID attributes survive, in order, and names keep their diacritics.
    let der = cert_of("citizen-cmnd-cccd");
    let (_, c) = parse_x509_certificate(&der).unwrap();
    let uids: Vec<&str> = c
        .subject()
        .iter_attributes()
        .filter(|a| a.attr_type().to_id_string() == "0.9.2342.19200300.100.1.1")
        .map(|a| a.as_str().unwrap())
        .collect();
    assert_eq!(uids, ["CMND:025123456", "CCCD:079195001234"]);
    let cn = c.subject().iter_common_name().next().unwrap();
    assert_eq!(cn.as_str().unwrap(), "Võ Thị Hồng Nhung");

    // OCSP responders carry id-kp-OCSPSigning and are issued by their CA.
    for ca in &m.cas {
        let der = pem_der(dir.path(), &ca.ocsp_cert);
        let (_, c) = parse_x509_certificate(&der).unwrap();
        assert!(
            c.extended_key_usage().unwrap().unwrap().value.ocsp_signing,
            "{}",
            ca.id
        );
        let ca_der = pem_der(dir.path(), &ca.cert);
        let (_, issuer) = parse_x509_certificate(&ca_der).unwrap();
        assert_eq!(c.issuer(), issuer.subject(), "{}", ca.id);
    }
}

#[test]
fn crls_and_ca_databases_list_exactly_the_revoked_certificate() {
    let (dir, m) = setup(kyso_certs::DEFAULT_BASE_URL);
    let revoked = m.person("revoked").unwrap();
    assert!(revoked.revoked);
    for ca in &m.cas {
        let crl_der = read(dir.path(), &ca.crl);
        let (_, crl) = parse_x509_crl(&crl_der).unwrap();
        let listed: Vec<String> = crl
            .iter_revoked_certificates()
            .map(|r| hex::encode_upper(r.raw_serial()))
            .collect();
        let index = String::from_utf8(read(dir.path(), &ca.index)).unwrap();
        let index_revoked: Vec<&str> = index
            .lines()
            .filter(|l| l.starts_with('R'))
            .filter_map(|l| l.split('\t').nth(3))
            .collect();
        if ca.id == revoked.issuer {
            assert_eq!(listed, std::slice::from_ref(&revoked.serial));
            assert_eq!(index_revoked, [revoked.serial.as_str()]);
        } else {
            assert!(listed.is_empty(), "{}: {listed:?}", ca.id);
            assert!(index_revoked.is_empty(), "{}", ca.id);
        }
        let next = crl.next_update().unwrap().to_datetime();
        assert!(
            next > m.generated_at + Duration::days(6),
            "{}: CRL fresh for a week",
            ca.id
        );
        for p in m.persons.iter().filter(|p| p.issuer == ca.id) {
            let row = format!("\t{}\t", p.serial);
            assert_eq!(
                index.contains(&row),
                p.known_to_ca,
                "{}: {} in index.txt",
                ca.id,
                p.id
            );
        }
    }
}

#[test]
fn validity_is_relative_to_the_generation_time() {
    let dir = tempfile::tempdir().unwrap();
    let then = OffsetDateTime::now_utc() - Duration::days(3000);
    let options = GenerateOptions {
        now: then,
        ..GenerateOptions::new(dir.path())
    };
    let m = generate(&options, &mut |_| {}).unwrap();
    let der = read(dir.path(), &m.person("citizen-cccd").unwrap().cert_der);
    let (_, c) = parse_x509_certificate(&der).unwrap();
    let nb = c.validity().not_before.to_datetime();
    assert!((nb - (then - Duration::hours(1))).abs() < Duration::seconds(2));
}
