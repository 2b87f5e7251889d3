//! Certificates with an arbitrary subject, for tests of subject parsing.
//!
//! Identity rules must cope with subjects no CA of ours would write (BMPString UIDs, two
//! conflicting CCCDs, foreign ETSI identifiers). This makes a self-signed P-256
//! certificate whose subject is exactly the given attributes.

use crate::der::{self, Attribute};
use crate::error::Result;
use rcgen::{CertificateParams, KeyPair, PKCS_ECDSA_P256_SHA256, SigningKey};

/// A self-signed certificate (DER) whose subject is exactly `attributes`, in order.
pub fn certificate_with_subject(attributes: &[Attribute]) -> Result<Vec<u8>> {
    let key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256)?;
    let built = CertificateParams::default().self_signed(&key)?;
    let parts = der::split_certificate(built.der())?;
    let tbs = der::rewrite_tbs(&parts.tbs, &der::encode_name(attributes), None)?;
    let signature = key.sign(&tbs)?;
    Ok(der::join_certificate(&tbs, &parts.algorithm, &signature))
}
