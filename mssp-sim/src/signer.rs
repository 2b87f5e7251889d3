//! What a signing SIM holds: a private key and its certificate chain, and the signature
//! operation the applet performs once the PIN is right.
//!
//! Keys come from the test PKI (`kyso-certs generate`): PKCS#8 PEM, RSA-2048 or EC P-256.
//! RSA signs RSASSA-PKCS1-v1_5 with SHA-256 (`RS256`); EC signs ECDSA P-256 with SHA-256
//! as raw `r||s` (`ES256`), the JOSE names the gateway's Web eID code already speaks.

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{
    ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, KeyPair, RSA_PKCS1_SHA256, RsaKeyPair,
};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use kyso_certs::manifest::{Manifest, Medium};
use std::path::Path;

/// A SIM's key or certificate could not be loaded, or a signature could not be made.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct SignerError(pub String);

/// A SIM's private key.
pub enum SigningKey {
    /// RSA, signing `RS256`.
    Rsa(RsaKeyPair),
    /// EC P-256, signing `ES256`.
    EcP256(EcdsaKeyPair),
}

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SigningKey({})", self.algorithm())
    }
}

impl SigningKey {
    /// Reads a PKCS#8 private key (DER); RSA and EC P-256 are recognised.
    pub fn from_pkcs8_der(der: &[u8]) -> Result<Self, SignerError> {
        if let Ok(k) = RsaKeyPair::from_pkcs8(der) {
            return Ok(Self::Rsa(k));
        }
        EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, der)
            .map(Self::EcP256)
            .map_err(|_| SignerError("not an RSA or EC P-256 PKCS#8 private key".into()))
    }

    /// Reads a PKCS#8 private key in PEM (`-----BEGIN PRIVATE KEY-----`).
    pub fn from_pkcs8_pem(text: &[u8]) -> Result<Self, SignerError> {
        let block = pem::parse(text).map_err(|e| SignerError(format!("PEM: {e}")))?;
        if block.tag() != "PRIVATE KEY" {
            return Err(SignerError(format!(
                "expected a PRIVATE KEY (PKCS#8) block, found {}",
                block.tag()
            )));
        }
        Self::from_pkcs8_der(block.contents())
    }

    /// The JOSE name of the signatures this key makes.
    pub fn algorithm(&self) -> &'static str {
        match self {
            Self::Rsa(_) => "RS256",
            Self::EcP256(_) => "ES256",
        }
    }

    /// Length in bytes of a signature (RSA modulus length, or 64 for raw P-256 `r||s`).
    pub fn signature_len(&self) -> usize {
        match self {
            Self::Rsa(k) => k.public_modulus_len(),
            Self::EcP256(_) => 64,
        }
    }

    /// The public key bytes (`RSAPublicKey` DER or the uncompressed EC point).
    pub fn public_key(&self) -> &[u8] {
        match self {
            Self::Rsa(k) => k.public_key().as_ref(),
            Self::EcP256(k) => k.public_key().as_ref(),
        }
    }

    /// Signs `data` (hashed with SHA-256 inside).
    pub fn sign(&self, data: &[u8]) -> Result<Vec<u8>, SignerError> {
        let rng = SystemRandom::new();
        match self {
            Self::Rsa(k) => {
                let mut sig = vec![0; k.public_modulus_len()];
                k.sign(&RSA_PKCS1_SHA256, &rng, data, &mut sig)
                    .map_err(|_| SignerError("RSA signing failed".into()))?;
                Ok(sig)
            }
            Self::EcP256(k) => k
                .sign(&rng, data)
                .map(|s| s.as_ref().to_vec())
                .map_err(|_| SignerError("ECDSA signing failed".into())),
        }
    }
}

/// A signing SIM's holder: the key on the SIM and the certificate chain the operator
/// returns with each signature.
#[derive(Debug)]
pub struct SimHolder {
    /// The test-PKI person id (`sim-citizen`, …).
    pub person_id: String,
    /// The SIM's own phone number, E.164.
    pub msisdn: String,
    /// The private key on the SIM.
    pub key: SigningKey,
    /// Standard base64 DER certificates: the holder's first, then its issuing CA(s).
    pub chain: Vec<String>,
}

impl SimHolder {
    /// A holder from a key and DER certificates (signer first).
    pub fn new(
        person_id: impl Into<String>,
        msisdn: impl Into<String>,
        key: SigningKey,
        chain_der: &[Vec<u8>],
    ) -> Self {
        Self {
            person_id: person_id.into(),
            msisdn: msisdn.into(),
            key,
            chain: chain_der.iter().map(|c| STANDARD.encode(c)).collect(),
        }
    }
}

fn read(path: &Path) -> Result<Vec<u8>, SignerError> {
    std::fs::read(path).map_err(|e| SignerError(format!("{}: {e}", path.display())))
}

fn certificates_in(path: &Path) -> Result<Vec<Vec<u8>>, SignerError> {
    let blocks = pem::parse_many(read(path)?)
        .map_err(|e| SignerError(format!("{}: {e}", path.display())))?;
    let ders: Vec<Vec<u8>> = blocks
        .into_iter()
        .filter(|b| b.tag() == "CERTIFICATE")
        .map(pem::Pem::into_contents)
        .collect();
    if ders.is_empty() {
        return Err(SignerError(format!(
            "{}: no CERTIFICATE block",
            path.display()
        )));
    }
    Ok(ders)
}

/// Every signing-SIM person of a `kyso-certs generate` folder (`medium: sim` with a phone):
/// key from `key_file`, chain = `cert` then the issuing CA(s) from `chain`.
pub fn load_holders(pki: &Path) -> Result<Vec<SimHolder>, SignerError> {
    let manifest = Manifest::load(pki).map_err(|e| SignerError(e.to_string()))?;
    let mut holders = Vec::new();
    for person in manifest.persons.iter().filter(|p| p.medium == Medium::Sim) {
        let Some(phone) = &person.phone else {
            continue;
        };
        let msisdn = kyso_proto::phone::normalize_msisdn(phone)
            .map_err(|e| SignerError(format!("person {}: phone {phone:?}: {e}", person.id)))?;
        let key = SigningKey::from_pkcs8_pem(&read(&pki.join(&person.key_file))?)
            .map_err(|e| SignerError(format!("person {}: {}: {e}", person.id, person.key_file)))?;
        let mut chain = certificates_in(&pki.join(&person.cert))?;
        chain.truncate(1);
        chain.extend(certificates_in(&pki.join(&person.chain))?);
        holders.push(SimHolder::new(&person.id, msisdn, key, &chain));
    }
    Ok(holders)
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_lc_rs::signature::{
        ECDSA_P256_SHA256_FIXED, RSA_PKCS1_2048_8192_SHA256, UnparsedPublicKey,
    };

    #[test]
    fn signs_rs256_and_es256_verifiably() {
        let rsa =
            rcgen::KeyPair::generate_rsa_for(&rcgen::PKCS_RSA_SHA256, rcgen::RsaKeySize::_2048)
                .unwrap();
        let key = SigningKey::from_pkcs8_pem(rsa.serialize_pem().as_bytes()).unwrap();
        assert_eq!(key.algorithm(), "RS256");
        let sig = key.sign(b"data").unwrap();
        assert_eq!(sig.len(), key.signature_len());
        UnparsedPublicKey::new(&RSA_PKCS1_2048_8192_SHA256, key.public_key())
            .verify(b"data", &sig)
            .unwrap();

        let ec = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
        let key = SigningKey::from_pkcs8_der(&ec.serialize_der()).unwrap();
        assert_eq!(key.algorithm(), "ES256");
        let sig = key.sign(b"data").unwrap();
        assert_eq!(sig.len(), 64);
        UnparsedPublicKey::new(&ECDSA_P256_SHA256_FIXED, key.public_key())
            .verify(b"data", &sig)
            .unwrap();
        assert!(
            UnparsedPublicKey::new(&ECDSA_P256_SHA256_FIXED, key.public_key())
                .verify(b"other", &sig)
                .is_err()
        );
    }

    #[test]
    fn refuses_what_is_not_a_private_key() {
        assert!(SigningKey::from_pkcs8_der(b"garbage").is_err());
        let cert = "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n";
        assert!(SigningKey::from_pkcs8_pem(cert.as_bytes()).is_err());
    }
}
