//! What verifying one registration costs against its floor, in one run (design §11).
//!
//! The floor ([`kyso_tests::floor`]) is the raw aws-lc-rs cost of exactly the signatures a
//! registration must check: the leaf certificate's signature under its issuing CA's key
//! and the token's signature under the leaf's key (the configured intermediates' own
//! signatures are checked once, at start-up). kyso's cost is `verify_auth_token_reading`
//! (format, leaf rules, signature, path through rustls-webpki, revocation switched off)
//! reading the identity (`extract_subject`) and the certificate's facts from the parsed
//! leaf, as `POST /v1/registrations/token` does — on the same inputs. Both are timed in interleaved batches and the medians compared.
//!
//! `cargo bench -p kyso-tests --bench registration`

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // a measuring tool

use kyso_tests::floor::{SignatureFloor, medians};
use kyso_tests::signer::FileSigner;
use kyso_verify::certificate::CertificateFacts;
use kyso_verify::identity::extract_subject;
use kyso_verify::policy::{CertificatePolicy, NoRevocationCheck, PolicyOptions, TrustStore};
use kyso_verify::webeid::verify_auth_token_reading;
use std::hint::black_box;
use std::path::Path;
use std::sync::Arc;

const ORIGIN: &str = "https://dichvucong.test";
const NONCE: &str = "q2Zlx1BNyvE4ZC0Yb0Q2dPbu7zj6M0m3X9j1kUyGZ+8=";

fn der_of(path: &Path) -> Vec<u8> {
    let bytes = std::fs::read(path).unwrap();
    match pem::parse(&bytes) {
        Ok(p) => p.into_contents(),
        Err(_) => bytes,
    }
}

/// Runs a future that never waits (revocation is off) to completion.
fn finish<T>(f: impl std::future::Future<Output = T>) -> T {
    let mut f = std::pin::pin!(f);
    let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
    loop {
        if let std::task::Poll::Ready(v) = f.as_mut().poll(&mut cx) {
            return v;
        }
    }
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
        let token = FileSigner::of_person(pki, person).token(&leaf_der, ORIGIN, NONCE);
        let issuer_der = der_of(&pki.join(&m.ca(&person.issuer).unwrap().cert));
        let floor = SignatureFloor::of(&token, ORIGIN, NONCE, &issuer_der);
        let kyso = || {
            let verified = finish(verify_auth_token_reading(
                &policy,
                black_box(&token),
                &[],
                ORIGIN,
                NONCE,
                at,
                |cert, der| {
                    let subject = extract_subject(cert, at.year())?;
                    Ok((subject, CertificateFacts::of(cert, der)))
                },
            ));
            black_box(verified.unwrap());
        };
        let (f, k) = medians(|| floor.verify_once(), kyso, 41, 100);
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
