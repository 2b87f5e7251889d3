//! The certificate policy and token verification on real material: Web eID's own published
//! token, and every person of a generated test PKI against its manifest verdict (with
//! revocation off, so the revoked person passes here; the revocation issue covers it).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use kyso_proto::webeid::{AuthToken, SignatureAlgorithm, signed_data};
use kyso_verify::error::ErrorCode;
use kyso_verify::policy::NoRevocationCheck;
use kyso_verify::policy::{CertificatePolicy, PolicyOptions, TrustStore};
use kyso_verify::webeid::verify_auth_token;
use std::path::Path;
use std::sync::Arc;
use time::macros::datetime;

fn vector(name: &str) -> Vec<u8> {
    std::fs::read(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/vectors/webeid")
            .join(name),
    )
    .unwrap()
}

fn options() -> PolicyOptions {
    PolicyOptions::default()
}

const WEBEID_ORIGIN: &str = "https://ria.ee";
const WEBEID_NONCE: &str = "12345678123456781234567812345678912356789123";

#[tokio::test]
async fn web_eid_published_token_verifies_with_its_origin_nonce_time_and_anchor() {
    let anchor = vector("TEST_of_ESTEID2018.cer");
    let policy = CertificatePolicy::new(
        TrustStore::new(&[anchor], &[]).unwrap(),
        options(),
        Arc::new(NoRevocationCheck),
    );
    let token: AuthToken = serde_json::from_slice(&vector("valid-auth-token.json")).unwrap();
    let at = datetime!(2021-08-01 00:00:00 UTC);
    let ok = verify_auth_token(&policy, &token, &[], WEBEID_ORIGIN, WEBEID_NONCE, at)
        .await
        .unwrap();
    assert_eq!(ok.algorithm, SignatureAlgorithm::Es384);
    assert_eq!(
        ok.signed_data,
        signed_data(SignatureAlgorithm::Es384, WEBEID_ORIGIN, WEBEID_NONCE)
    );

    let code = async |origin: &str, nonce: &str, at| {
        verify_auth_token(&policy, &token, &[], origin, nonce, at)
            .await
            .unwrap_err()
            .code
    };
    assert_eq!(
        code("https://ria.ee.evil.test", WEBEID_NONCE, at).await,
        ErrorCode::SignatureInvalid
    );
    assert_eq!(
        code("https://ria.ee/", WEBEID_NONCE, at).await,
        ErrorCode::SignatureInvalid
    );
    assert_eq!(
        code(
            WEBEID_ORIGIN,
            "12345678123456781234567812345678912356789124",
            at
        )
        .await,
        ErrorCode::SignatureInvalid
    );
    assert_eq!(
        code(
            WEBEID_ORIGIN,
            WEBEID_NONCE,
            datetime!(2026-07-10 00:00:00 UTC)
        )
        .await,
        ErrorCode::CertExpired
    );
    assert_eq!(
        code(
            WEBEID_ORIGIN,
            WEBEID_NONCE,
            datetime!(2021-07-01 00:00:00 UTC)
        )
        .await,
        ErrorCode::CertNotYetValid
    );
}

#[tokio::test]
async fn web_eid_token_is_untrusted_under_another_anchor_and_tampering_is_caught() {
    let dir = tempfile::tempdir().unwrap();
    let m =
        kyso_certs::generate(&kyso_certs::GenerateOptions::new(dir.path()), &mut |_| {}).unwrap();
    let root = pem::parse(std::fs::read(dir.path().join(&m.trust_anchors[0])).unwrap())
        .unwrap()
        .into_contents();
    let policy = CertificatePolicy::new(
        TrustStore::new(&[root], &[]).unwrap(),
        options(),
        Arc::new(NoRevocationCheck),
    );
    let token: AuthToken = serde_json::from_slice(&vector("valid-auth-token.json")).unwrap();
    let at = datetime!(2021-08-01 00:00:00 UTC);
    let err = verify_auth_token(&policy, &token, &[], WEBEID_ORIGIN, WEBEID_NONCE, at)
        .await
        .unwrap_err();
    assert_eq!(err.code, ErrorCode::CertUntrusted);

    let anchor = vector("TEST_of_ESTEID2018.cer");
    let policy = CertificatePolicy::new(
        TrustStore::new(&[anchor], &[]).unwrap(),
        options(),
        Arc::new(NoRevocationCheck),
    );
    let mut flipped = STANDARD.decode(&token.signature).unwrap();
    flipped[10] ^= 1;
    let flipped = STANDARD.encode(flipped);
    type Tamper = Box<dyn Fn(&mut kyso_proto::webeid::AuthToken)>;
    let tampered: [(Tamper, ErrorCode); 5] = [
        (
            Box::new(move |t| t.signature = flipped.clone()),
            ErrorCode::SignatureInvalid,
        ),
        (
            Box::new(|t| t.algorithm = "ES256".into()),
            ErrorCode::SignatureInvalid,
        ),
        (
            Box::new(|t| t.algorithm = "HS256".into()),
            ErrorCode::UnsupportedAlgorithm,
        ),
        (
            Box::new(|t| t.signature = "not base64!".into()),
            ErrorCode::MalformedToken,
        ),
        (
            Box::new(|t| t.format = "web-eid:2".into()),
            ErrorCode::MalformedToken,
        ),
    ];
    for (i, (tamper, want)) in tampered.iter().enumerate() {
        let mut bad = token.clone();
        tamper(&mut bad);
        let got = verify_auth_token(&policy, &bad, &[], WEBEID_ORIGIN, WEBEID_NONCE, at)
            .await
            .unwrap_err()
            .code;
        assert_eq!(got, *want, "tampering #{i}");
    }
}

fn pem_der(dir: &Path, rel: &str) -> Vec<u8> {
    pem::parse(std::fs::read(dir.join(rel)).unwrap())
        .unwrap()
        .into_contents()
}

#[tokio::test]
async fn every_test_person_gets_its_manifest_verdict_from_the_policy() {
    let dir = tempfile::tempdir().unwrap();
    let m =
        kyso_certs::generate(&kyso_certs::GenerateOptions::new(dir.path()), &mut |_| {}).unwrap();
    let anchors: Vec<Vec<u8>> = m
        .trust_anchors
        .iter()
        .map(|p| pem_der(dir.path(), p))
        .collect();
    let intermediates: Vec<Vec<u8>> = m
        .intermediates
        .iter()
        .map(|p| pem_der(dir.path(), p))
        .collect();
    let policy = CertificatePolicy::new(
        TrustStore::new(&anchors, &intermediates).unwrap(),
        options(),
        Arc::new(NoRevocationCheck),
    );
    let roots_only = CertificatePolicy::new(
        TrustStore::new(&anchors, &[]).unwrap(),
        options(),
        Arc::new(NoRevocationCheck),
    );
    let at = m.generated_at;
    for p in &m.persons {
        let der = std::fs::read(dir.path().join(&p.cert_der)).unwrap();
        let got = policy
            .verify(&der, &[], at)
            .await
            .map(|_| ())
            .map_err(|e| e.code);
        let want = match p.verdict.code() {
            Some(ErrorCode::NoIdentity | ErrorCode::InvalidIdentifier | ErrorCode::CertRevoked)
            | None => Ok(()),
            Some(code) => Err(code),
        };
        assert_eq!(got, want, "{}", p.id);
        // The same verdict with the provider CA travelling instead of configured.
        let chain: Vec<Vec<u8>> =
            pem::parse_many(std::fs::read(dir.path().join(&p.chain)).unwrap())
                .unwrap()
                .into_iter()
                .map(pem::Pem::into_contents)
                .collect();
        let travelling = roots_only
            .verify(&der, &chain, at)
            .await
            .map(|_| ())
            .map_err(|e| e.code);
        assert_eq!(travelling, got, "{} travelling", p.id);
    }
    // Without the configured intermediates, the chain the token carries completes the path.
    let policy = CertificatePolicy::new(
        TrustStore::new(&anchors, &[]).unwrap(),
        options(),
        Arc::new(NoRevocationCheck),
    );
    let p = m.person("citizen-ec").unwrap();
    let der = std::fs::read(dir.path().join(&p.cert_der)).unwrap();
    assert_eq!(
        policy.verify(&der, &[], at).await.unwrap_err().code,
        ErrorCode::CertUntrusted
    );
    let chain = pem_der(dir.path(), &p.chain);
    assert!(policy.verify(&der, &[chain], at).await.is_ok());
    // The legacy switch lets the SHA-1 certificate through.
    let legacy = CertificatePolicy::new(
        TrustStore::new(&anchors, &intermediates).unwrap(),
        PolicyOptions {
            allow_sha1: true,
            ..options()
        },
        Arc::new(NoRevocationCheck),
    );
    let der = std::fs::read(dir.path().join(&m.person("sha1-signed").unwrap().cert_der)).unwrap();
    assert!(legacy.verify(&der, &[], at).await.is_ok());
}

#[tokio::test]
async fn configured_intermediates_must_chain_to_an_anchor() {
    let dir = tempfile::tempdir().unwrap();
    let m =
        kyso_certs::generate(&kyso_certs::GenerateOptions::new(dir.path()), &mut |_| {}).unwrap();
    let root = pem_der(dir.path(), &m.trust_anchors[0]);
    let untrusted = pem_der(dir.path(), &m.ca("untrusted").unwrap().cert);
    let vnpt = pem_der(dir.path(), &m.ca("vnpt").unwrap().cert);
    let leaf = std::fs::read(dir.path().join(&m.person("citizen-cccd").unwrap().cert_der)).unwrap();
    assert!(TrustStore::new(std::slice::from_ref(&root), &[vnpt]).is_ok());
    let err = TrustStore::new(std::slice::from_ref(&root), &[untrusted]).unwrap_err();
    assert!(err.to_string().contains("intermediate #1"), "{err}");
    assert!(
        TrustStore::new(&[root], &[leaf])
            .unwrap_err()
            .to_string()
            .contains("not a CA")
    );
    assert!(TrustStore::new(&[], &[]).is_err());
}
