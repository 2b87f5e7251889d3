//! Signing in process with a test person's key file, as a token or SIM would: for tests
//! and tools that need many signatures without SoftHSM.

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{self, EcdsaKeyPair, RsaKeyPair};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use kyso_certs::keys::KeyKind;
use kyso_certs::manifest::PersonEntry;
use kyso_proto::webeid::{AuthToken, SignatureAlgorithm, signed_data};
use std::path::Path;

/// A private key from a PKCS#8 file.
pub enum FileSigner {
    /// RSA (PKCS#1 v1.5, SHA-256).
    Rsa(RsaKeyPair),
    /// ECDSA P-256 (raw `r||s`).
    Ec(EcdsaKeyPair),
    /// A key aws-lc-rs will not sign with (RSA-1024): signatures of the right length but
    /// no value, enough for the gateway to refuse the key before checking them.
    Weak(usize),
}

impl FileSigner {
    /// Loads a PKCS#8 DER key of this kind.
    pub fn from_pkcs8(kind: KeyKind, pkcs8: &[u8]) -> Self {
        match kind {
            KeyKind::EcP256 => Self::Ec(
                EcdsaKeyPair::from_pkcs8(&signature::ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8)
                    .expect("EC P-256 key"),
            ),
            KeyKind::Rsa1024 => Self::Weak(128),
            _ => Self::Rsa(RsaKeyPair::from_pkcs8(pkcs8).expect("RSA key")),
        }
    }

    /// The key file of a person of the PKI in `pki`.
    pub fn of_person(pki: &Path, person: &PersonEntry) -> Self {
        let pem = std::fs::read(pki.join(&person.key_file)).expect("key file");
        Self::from_pkcs8(person.key, &pem::parse(pem).expect("PEM").into_contents())
    }

    /// Signs `data`; returns the JOSE algorithm and the signature.
    pub fn sign(&self, data: &[u8]) -> (SignatureAlgorithm, Vec<u8>) {
        let rng = SystemRandom::new();
        match self {
            Self::Rsa(k) => {
                let mut sig = vec![0; k.public_modulus_len()];
                k.sign(&signature::RSA_PKCS1_SHA256, &rng, data, &mut sig)
                    .expect("RSA signature");
                (SignatureAlgorithm::Rs256, sig)
            }
            Self::Ec(k) => (
                SignatureAlgorithm::Es256,
                k.sign(&rng, data)
                    .expect("ECDSA signature")
                    .as_ref()
                    .to_vec(),
            ),
            Self::Weak(len) => (SignatureAlgorithm::Rs256, vec![0; *len]),
        }
    }

    /// A Web eID 1.0 token for `cert_der` over `origin` and `nonce`.
    pub fn token(&self, cert_der: &[u8], origin: &str, nonce: &str) -> AuthToken {
        let algorithm = match self {
            Self::Ec(_) => SignatureAlgorithm::Es256,
            _ => SignatureAlgorithm::Rs256,
        };
        let (alg, sig) = self.sign(&signed_data(algorithm, origin, nonce));
        AuthToken {
            format: "web-eid:1.0".into(),
            unverified_certificate: STANDARD.encode(cert_der),
            algorithm: alg.name().into(),
            signature: STANDARD.encode(sig),
            app_version: "https://kyso.test/tests".into(),
        }
    }
}

/// A token signed with a person's key file, for their certificate.
pub fn person_token(pki: &Path, person: &PersonEntry, origin: &str, nonce: &str) -> AuthToken {
    let cert = std::fs::read(pki.join(&person.cert_der)).expect("certificate");
    FileSigner::of_person(pki, person).token(&cert, origin, nonce)
}
