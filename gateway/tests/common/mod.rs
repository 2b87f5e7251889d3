//! Shared by the gateway's integration tests: a generated PKI, a policy over it, and a
//! signer that makes Web eID tokens with the persons' key files (no token needed).

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{self, EcdsaKeyPair, RsaKeyPair};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use kyso_certs::Manifest;
use kyso_certs::keys::KeyKind;
use kyso_gateway::clock::ManualClock;
use kyso_gateway::policy::{CertificatePolicy, NoRevocationCheck, PolicyOptions, TrustStore};
use kyso_gateway::service::{Gateway, Settings};
use kyso_gateway::store::{SqliteStore, Store};
use kyso_proto::webeid::{AuthToken, SignatureAlgorithm, signed_data};
use std::path::{Path, PathBuf};
use std::sync::Arc;

pub struct Pki {
    pub dir: tempfile::TempDir,
    pub manifest: Manifest,
}

pub fn pem_der(path: &Path) -> Vec<u8> {
    pem::parse(std::fs::read(path).unwrap())
        .unwrap()
        .into_contents()
}

impl Pki {
    pub fn generate() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let manifest =
            kyso_certs::generate(&kyso_certs::GenerateOptions::new(dir.path()), &mut |_| {})
                .unwrap();
        Self { dir, manifest }
    }

    pub fn path(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }

    pub fn policy(&self) -> CertificatePolicy {
        let anchors: Vec<_> = self
            .manifest
            .trust_anchors
            .iter()
            .map(|p| pem_der(&self.path(p)))
            .collect();
        let inter: Vec<_> = self
            .manifest
            .intermediates
            .iter()
            .map(|p| pem_der(&self.path(p)))
            .collect();
        let options = PolicyOptions {
            allow_sha1: false,
            min_rsa_bits: 2048,
        };
        CertificatePolicy::new(
            TrustStore::new(&anchors, &inter).unwrap(),
            options,
            Arc::new(NoRevocationCheck),
        )
    }

    /// A Web eID token signed with the person's key file.
    pub fn token(&self, person: &str, origin: &str, nonce: &str) -> AuthToken {
        let p = self.manifest.person(person).unwrap();
        let cert = std::fs::read(self.path(&p.cert_der)).unwrap();
        let key = pem_der(&self.path(&p.key_file));
        let rng = SystemRandom::new();
        let (alg, sig) = match p.key {
            KeyKind::EcP256 => {
                let k = EcdsaKeyPair::from_pkcs8(&signature::ECDSA_P256_SHA256_FIXED_SIGNING, &key)
                    .unwrap();
                let alg = SignatureAlgorithm::Es256;
                (
                    alg,
                    k.sign(&rng, &signed_data(alg, origin, nonce))
                        .unwrap()
                        .as_ref()
                        .to_vec(),
                )
            }
            KeyKind::Rsa1024 => (SignatureAlgorithm::Rs256, vec![0; 128]),
            _ => {
                let k = RsaKeyPair::from_pkcs8(&key).unwrap();
                let alg = SignatureAlgorithm::Rs256;
                let mut sig = vec![0; k.public_modulus_len()];
                k.sign(
                    &signature::RSA_PKCS1_SHA256,
                    &rng,
                    &signed_data(alg, origin, nonce),
                    &mut sig,
                )
                .unwrap();
                (alg, sig)
            }
        };
        AuthToken {
            format: "web-eid:1.0".into(),
            unverified_certificate: STANDARD.encode(cert),
            algorithm: alg.name().into(),
            signature: STANDARD.encode(sig),
            app_version: "https://kyso.test/tests".into(),
        }
    }
}

/// The origin the test gateways are configured with.
pub const ORIGIN: &str = "https://dichvucong.test";

/// A gateway core over a fresh PKI, a real SQLite file and a clock the test moves.
pub struct World {
    pub pki: Pki,
    pub gateway: Arc<Gateway>,
    pub clock: Arc<ManualClock>,
    pub store: Arc<SqliteStore>,
    _db: tempfile::TempDir,
}

/// Challenges live 5 minutes, tickets 10, sessions 1 hour; the clock starts at the PKI's
/// generation time.
pub async fn world() -> World {
    let pki = Pki::generate();
    let db = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", db.path().join("kyso.db").display());
    let store = Arc::new(SqliteStore::open(&url, 8).await.unwrap());
    store.migrate().await.unwrap();
    let clock = Arc::new(ManualClock::new(pki.manifest.generated_at));
    let settings = Settings {
        origin: ORIGIN.into(),
        challenge_ttl: time::Duration::minutes(5),
        ticket_ttl: time::Duration::minutes(10),
        session_ttl: time::Duration::hours(1),
    };
    let gateway = Arc::new(Gateway::new(
        store.clone(),
        Arc::new(pki.policy()),
        clock.clone(),
        settings,
    ));
    World {
        pki,
        gateway,
        clock,
        store,
        _db: db,
    }
}
