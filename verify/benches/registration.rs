//! What verifying one registration costs against its floor, in one run (design §11).
//!
//! The floor is the raw aws-lc-rs cost of exactly the signatures a registration must
//! check: the leaf certificate's signature under its issuing CA's key and the token's
//! signature under the leaf's key (the configured intermediates' own signatures are
//! checked once, at start-up). kyso's cost is `verify_auth_token` (format, leaf rules,
//! signature, path through rustls-webpki, revocation switched off) plus reading the
//! identity (`extract_subject`), as `POST /v1/registrations/token` does — on the same
//! inputs. Both are timed in interleaved batches and the medians compared.
//!
//! `cargo bench -p kyso-verify --bench registration`

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // a measuring tool

use aws_lc_rs::signature::{self, EcdsaKeyPair, KeyPair, RsaKeyPair, UnparsedPublicKey};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use kyso_proto::webeid::{AuthToken, SignatureAlgorithm, signed_data};
use kyso_verify::identity::extract_subject;
use kyso_verify::policy::{CertificatePolicy, NoRevocationCheck, PolicyOptions, TrustStore};
use kyso_verify::webeid::verify_auth_token;
use std::hint::black_box;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};
use x509_parser::prelude::{FromDer, X509Certificate};

const ORIGIN: &str = "https://dichvucong.test";
const NONCE: &str = "q2Zlx1BNyvE4ZC0Yb0Q2dPbu7zj6M0m3X9j1kUyGZ+8=";

fn der_of(path: &Path) -> Vec<u8> {
    let bytes = std::fs::read(path).unwrap();
    match pem::parse(&bytes) {
        Ok(p) => p.into_contents(),
        Err(_) => bytes,
    }
}

/// Polls a future that never waits (revocation is off) to its end.
fn finish<T>(f: impl std::future::Future<Output = T>) -> T {
    let mut f = std::pin::pin!(f);
    let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
    loop {
        if let std::task::Poll::Ready(v) = f.as_mut().poll(&mut cx) {
            return v;
        }
    }
}

/// The aws-lc-rs algorithm for a certificate signed with `oid` by a key of `bits`/curve.
fn cert_algorithm(
    oid: &str,
    issuer_key_len: usize,
) -> &'static dyn signature::VerificationAlgorithm {
    match (oid, issuer_key_len) {
        ("1.2.840.10045.4.3.2", _) => &signature::ECDSA_P256_SHA256_ASN1,
        ("1.2.840.10045.4.3.3", 97) => &signature::ECDSA_P384_SHA384_ASN1,
        ("1.2.840.10045.4.3.3", 65) => &signature::ECDSA_P256_SHA384_ASN1,
        ("1.2.840.113549.1.1.11", _) => &signature::RSA_PKCS1_2048_8192_SHA256,
        ("1.2.840.113549.1.1.12", _) => &signature::RSA_PKCS1_2048_8192_SHA384,
        other => panic!("no floor algorithm for {other:?}"),
    }
}

/// Median time per operation of `op`, over `batches` batches of `per_batch` runs,
/// interleaved with `other` so both see the same machine.
fn medians(
    mut a: impl FnMut(),
    mut b: impl FnMut(),
    batches: usize,
    per_batch: u32,
) -> (Duration, Duration) {
    let mut ta = Vec::new();
    let mut tb = Vec::new();
    for _ in 0..batches {
        let t = Instant::now();
        for _ in 0..per_batch {
            a();
        }
        ta.push(t.elapsed() / per_batch);
        let t = Instant::now();
        for _ in 0..per_batch {
            b();
        }
        tb.push(t.elapsed() / per_batch);
    }
    ta.sort();
    tb.sort();
    (ta[batches / 2], tb[batches / 2])
}

fn main() {
    let dir = tempfile::tempdir().unwrap();
    let pki = dir.path();
    let m = kyso_certs::generate(&kyso_certs::GenerateOptions::new(pki), &mut |_| {}).unwrap();
    let anchors: Vec<Vec<u8>> = m
        .trust_anchors
        .iter()
        .map(|p| der_of(&pki.join(p)))
        .collect();
    let inter: Vec<Vec<u8>> = m
        .intermediates
        .iter()
        .map(|p| der_of(&pki.join(p)))
        .collect();
    let policy = CertificatePolicy::new(
        TrustStore::new(&anchors, &inter).unwrap(),
        PolicyOptions::default(),
        Arc::new(NoRevocationCheck),
    );
    let at = m.generated_at + time::Duration::minutes(1);
    println!("profile                       floor      kyso       ratio");
    for id in ["citizen-cccd", "citizen-ec"] {
        let person = m.person(id).unwrap();
        let leaf_der = std::fs::read(pki.join(&person.cert_der)).unwrap();
        let pkcs8 = der_of(&pki.join(&person.key_file));
        let (algorithm, token_alg): (
            SignatureAlgorithm,
            &'static dyn signature::VerificationAlgorithm,
        ) = if person.key.is_rsa() {
            (
                SignatureAlgorithm::Rs256,
                &signature::RSA_PKCS1_2048_8192_SHA256,
            )
        } else {
            (
                SignatureAlgorithm::Es256,
                &signature::ECDSA_P256_SHA256_FIXED,
            )
        };
        let data = signed_data(algorithm, ORIGIN, NONCE);
        let rng = aws_lc_rs::rand::SystemRandom::new();
        let sig = if person.key.is_rsa() {
            let key = RsaKeyPair::from_pkcs8(&pkcs8).unwrap();
            let mut sig = vec![0; key.public_modulus_len()];
            key.sign(&signature::RSA_PKCS1_SHA256, &rng, &data, &mut sig)
                .unwrap();
            sig
        } else {
            let key = EcdsaKeyPair::from_pkcs8(&signature::ECDSA_P256_SHA256_FIXED_SIGNING, &pkcs8)
                .unwrap();
            let _ = key.public_key();
            key.sign(&rng, &data).unwrap().as_ref().to_vec()
        };
        let token = AuthToken {
            format: "web-eid:1.0".into(),
            unverified_certificate: STANDARD.encode(&leaf_der),
            algorithm: algorithm.name().into(),
            signature: STANDARD.encode(&sig),
            app_version: "https://kyso.test/bench".into(),
        };

        // The floor's inputs, taken apart once.
        let (_, leaf) = X509Certificate::from_der(&leaf_der).unwrap();
        let issuer_der = der_of(&pki.join(&m.ca(&person.issuer).unwrap().cert));
        let (_, issuer) = X509Certificate::from_der(&issuer_der).unwrap();
        let issuer_key = issuer.public_key().subject_public_key.data.to_vec();
        let leaf_key = leaf.public_key().subject_public_key.data.to_vec();
        let tbs = leaf.tbs_certificate.as_ref().to_vec();
        let leaf_sig = leaf.signature_value.data.to_vec();
        let cert_alg = cert_algorithm(
            &leaf.signature_algorithm.algorithm.to_id_string(),
            issuer_key.len(),
        );

        let floor = || {
            UnparsedPublicKey::new(cert_alg, &issuer_key)
                .verify(black_box(&tbs), &leaf_sig)
                .unwrap();
            UnparsedPublicKey::new(token_alg, &leaf_key)
                .verify(black_box(&data), &sig)
                .unwrap();
        };
        let kyso = || {
            let verified = finish(verify_auth_token(
                &policy,
                black_box(&token),
                &[],
                ORIGIN,
                NONCE,
                at,
            ))
            .unwrap();
            let (_, cert) = X509Certificate::from_der(&verified.certificate).unwrap();
            black_box(extract_subject(&cert, at.year()).unwrap());
        };
        let (f, k) = medians(floor, kyso, 41, 100);
        println!(
            "{:<12} ({:>7} leaf)  {:>7.1} µs  {:>7.1} µs  {:>5.2}×",
            id,
            person.key.name(),
            f.as_secs_f64() * 1e6,
            k.as_secs_f64() * 1e6,
            k.as_secs_f64() / f.as_secs_f64()
        );
    }
}
