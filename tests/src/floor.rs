//! The floor of a registration's cost: aws-lc-rs verifying exactly the signatures one
//! registration must verify, and nothing else — the leaf certificate's signature by its
//! issuer and the token's signature over origin and nonce (design §11). The benchmark
//! (`cargo bench -p kyso-tests --bench registration`) and `kyso-load` state kyso's cost as
//! a ratio to this floor, measured in the same run on the same inputs.

use aws_lc_rs::signature::{self, UnparsedPublicKey, VerificationAlgorithm};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use kyso_proto::webeid::{AuthToken, SignatureAlgorithm, signed_data};
use std::hint::black_box;
use std::time::{Duration, Instant};
use x509_parser::prelude::{FromDer, X509Certificate};

/// One registration's signatures, taken apart once so that only verification is timed.
pub struct SignatureFloor {
    issuer_key: Vec<u8>,
    tbs: Vec<u8>,
    leaf_signature: Vec<u8>,
    leaf_algorithm: &'static dyn VerificationAlgorithm,
    leaf_key: Vec<u8>,
    data: Vec<u8>,
    token_signature: Vec<u8>,
    token_algorithm: &'static dyn VerificationAlgorithm,
}

impl SignatureFloor {
    /// The signatures of `token` (signed over `origin` and `nonce`), whose certificate
    /// `issuer_der` issued.
    pub fn of(token: &AuthToken, origin: &str, nonce: &str, issuer_der: &[u8]) -> Self {
        let leaf_der = STANDARD
            .decode(&token.unverified_certificate)
            .expect("base64");
        let (_, leaf) = X509Certificate::from_der(&leaf_der).expect("leaf");
        let (_, issuer) = X509Certificate::from_der(issuer_der).expect("issuer");
        let issuer_key = issuer.public_key().subject_public_key.data.to_vec();
        let algorithm = SignatureAlgorithm::from_name(&token.algorithm).expect("algorithm");
        let floor = Self {
            leaf_algorithm: certificate_algorithm(
                &leaf.signature_algorithm.algorithm.to_id_string(),
                issuer_key.len(),
            ),
            issuer_key,
            tbs: leaf.tbs_certificate.as_ref().to_vec(),
            leaf_signature: leaf.signature_value.data.to_vec(),
            leaf_key: leaf.public_key().subject_public_key.data.to_vec(),
            data: signed_data(algorithm, origin, nonce),
            token_signature: STANDARD.decode(&token.signature).expect("base64"),
            token_algorithm: match algorithm {
                SignatureAlgorithm::Rs256 => &signature::RSA_PKCS1_2048_8192_SHA256,
                SignatureAlgorithm::Es256 => &signature::ECDSA_P256_SHA256_FIXED,
                other => panic!("no floor for {other:?} tokens"),
            },
        };
        floor.verify_once();
        floor
    }

    /// Verifies both signatures once.
    pub fn verify_once(&self) {
        UnparsedPublicKey::new(self.leaf_algorithm, &self.issuer_key)
            .verify(black_box(&self.tbs), &self.leaf_signature)
            .expect("the leaf's signature verifies");
        UnparsedPublicKey::new(self.token_algorithm, &self.leaf_key)
            .verify(black_box(&self.data), &self.token_signature)
            .expect("the token's signature verifies");
    }

    /// The median cost of one registration's signatures over `batches` batches.
    pub fn measure(&self, batches: usize, per_batch: u32) -> Duration {
        medians(|| self.verify_once(), || {}, batches, per_batch).0
    }
}

/// The median time of one call of `a` and of `b`, timed in alternating batches so that
/// both see the same machine.
pub fn medians(
    mut a: impl FnMut(),
    mut b: impl FnMut(),
    batches: usize,
    per_batch: u32,
) -> (Duration, Duration) {
    let mut ta = Vec::with_capacity(batches);
    let mut tb = Vec::with_capacity(batches);
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

/// The aws-lc-rs algorithm of a certificate signature (OID), by the issuer key's size
/// for ECDSA with SHA-384 (P-384 or P-256 keys).
fn certificate_algorithm(oid: &str, issuer_key_len: usize) -> &'static dyn VerificationAlgorithm {
    match (oid, issuer_key_len) {
        ("1.2.840.10045.4.3.2", _) => &signature::ECDSA_P256_SHA256_ASN1,
        ("1.2.840.10045.4.3.3", 97) => &signature::ECDSA_P384_SHA384_ASN1,
        ("1.2.840.10045.4.3.3", 65) => &signature::ECDSA_P256_SHA384_ASN1,
        ("1.2.840.113549.1.1.11", _) => &signature::RSA_PKCS1_2048_8192_SHA256,
        ("1.2.840.113549.1.1.12", _) => &signature::RSA_PKCS1_2048_8192_SHA384,
        other => panic!("no floor algorithm for {other:?}"),
    }
}
