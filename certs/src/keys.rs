//! Key pairs for the test PKI.
//!
//! Everything aws-lc-rs can make (RSA ≥ 2048, P-256, P-384) is made through rcgen. RSA-1024
//! exists only so the gateway has a weak key to refuse; aws-lc-rs will not generate one,
//! so that single profile uses the pure-Rust `rsa` crate.

use crate::error::{Error, Result};
use rcgen::{KeyPair, PKCS_ECDSA_P256_SHA256, PKCS_ECDSA_P384_SHA384, PKCS_RSA_SHA256, RsaKeySize};
use rsa::pkcs8::{EncodePrivateKey, EncodePublicKey};
use serde::{Deserialize, Serialize};

/// The key types the test PKI uses, named as the gateway's `certificate.key` reports them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum KeyKind {
    /// RSA-1024: too weak, for the `WEAK_KEY` profile.
    #[serde(rename = "RSA-1024")]
    Rsa1024,
    /// RSA-2048: what Vietnamese tokens carry.
    #[serde(rename = "RSA-2048")]
    Rsa2048,
    /// RSA-4096: the national root.
    #[serde(rename = "RSA-4096")]
    Rsa4096,
    /// ECDSA P-256.
    #[serde(rename = "EC-P256")]
    EcP256,
    /// ECDSA P-384.
    #[serde(rename = "EC-P384")]
    EcP384,
}

impl KeyKind {
    /// The display name, e.g. `RSA-2048`, the same text as in the manifest.
    pub fn name(self) -> &'static str {
        match self {
            Self::Rsa1024 => "RSA-1024",
            Self::Rsa2048 => "RSA-2048",
            Self::Rsa4096 => "RSA-4096",
            Self::EcP256 => "EC-P256",
            Self::EcP384 => "EC-P384",
        }
    }

    /// True for RSA keys of any size.
    pub fn is_rsa(self) -> bool {
        matches!(self, Self::Rsa1024 | Self::Rsa2048 | Self::Rsa4096)
    }
}

/// A freshly made key: the private key as PKCS#8 and the public key as SPKI, both DER.
pub struct GeneratedKey {
    /// PKCS#8 `PrivateKeyInfo`.
    pub pkcs8_der: Vec<u8>,
    /// `SubjectPublicKeyInfo`.
    pub spki_der: Vec<u8>,
}

/// Makes a key pair of the given kind.
pub fn generate(kind: KeyKind) -> Result<GeneratedKey> {
    let pair = match kind {
        KeyKind::Rsa1024 => return generate_rsa_1024(),
        KeyKind::Rsa2048 => KeyPair::generate_rsa_for(&PKCS_RSA_SHA256, RsaKeySize::_2048)?,
        KeyKind::Rsa4096 => KeyPair::generate_rsa_for(&PKCS_RSA_SHA256, RsaKeySize::_4096)?,
        KeyKind::EcP256 => KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256)?,
        KeyKind::EcP384 => KeyPair::generate_for(&PKCS_ECDSA_P384_SHA384)?,
    };
    Ok(GeneratedKey {
        pkcs8_der: pair.serialize_der(),
        spki_der: rcgen::PublicKeyData::subject_public_key_info(&pair),
    })
}

fn generate_rsa_1024() -> Result<GeneratedKey> {
    let key = rsa::RsaPrivateKey::new(&mut rand::thread_rng(), 1024)
        .map_err(|e| Error::Key(e.to_string()))?;
    let pkcs8_der = key
        .to_pkcs8_der()
        .map_err(|e| Error::Key(e.to_string()))?
        .as_bytes()
        .to_vec();
    let spki_der = key
        .to_public_key()
        .to_public_key_der()
        .map_err(|e| Error::Key(e.to_string()))?
        .into_vec();
    Ok(GeneratedKey {
        pkcs8_der,
        spki_der,
    })
}

/// Loads a CA signing key from PKCS#8 DER, with the signature algorithm rcgen should use.
pub fn load_signing_key(kind: KeyKind, pkcs8_der: &[u8]) -> Result<KeyPair> {
    let alg = match kind {
        KeyKind::EcP256 => &PKCS_ECDSA_P256_SHA256,
        KeyKind::EcP384 => &PKCS_ECDSA_P384_SHA384,
        KeyKind::Rsa2048 | KeyKind::Rsa4096 => &PKCS_RSA_SHA256,
        KeyKind::Rsa1024 => {
            return Err(Error::Key("RSA-1024 keys do not sign certificates".into()));
        }
    };
    let der = rustls_pki_types::PrivatePkcs8KeyDer::from(pkcs8_der.to_vec());
    Ok(KeyPair::from_pkcs8_der_and_sign_algo(&der, alg)?)
}

/// Signs `message` with RSA PKCS#1 v1.5 and SHA-1, for the one legacy profile.
pub fn sign_sha1_rsa(pkcs8_der: &[u8], message: &[u8]) -> Result<Vec<u8>> {
    use rsa::pkcs8::DecodePrivateKey;
    use rsa::signature::{SignatureEncoding, Signer};
    let key =
        rsa::RsaPrivateKey::from_pkcs8_der(pkcs8_der).map_err(|e| Error::Key(e.to_string()))?;
    let signer = rsa::pkcs1v15::SigningKey::<sha1::Sha1>::new(key);
    Ok(signer.sign(message).to_vec())
}
