//! sha1WithRSAEncryption for webpki, used only when the operator turns the legacy switch
//! on (`policy.allow_sha1`). rustls-webpki has no SHA-1 algorithms by design; some older
//! Vietnamese tokens still carry SHA-1 certificates, so an operator may need this during a
//! migration. aws-lc-rs verifies it with its legacy-only SHA-1 parameters.

use aws_lc_rs::signature::{RSA_PKCS1_2048_8192_SHA1_FOR_LEGACY_USE_ONLY, UnparsedPublicKey};
use rustls_pki_types::{
    AlgorithmIdentifier, InvalidSignature, SignatureVerificationAlgorithm, alg_id,
};

/// `sha1WithRSAEncryption` (RFC 3279 §2.2.1) with NULL parameters, as the contents of
/// the AlgorithmIdentifier SEQUENCE.
const SHA1_WITH_RSA: &[u8] = &[
    0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x05, 0x05, 0x00,
];

/// RSA PKCS#1 v1.5 with SHA-1, keys of 2048 bits or more.
#[derive(Debug)]
pub struct RsaPkcs1Sha1;

impl SignatureVerificationAlgorithm for RsaPkcs1Sha1 {
    fn verify_signature(
        &self,
        public_key: &[u8],
        message: &[u8],
        signature: &[u8],
    ) -> Result<(), InvalidSignature> {
        UnparsedPublicKey::new(&RSA_PKCS1_2048_8192_SHA1_FOR_LEGACY_USE_ONLY, public_key)
            .verify(message, signature)
            .map_err(|_| InvalidSignature)
    }

    fn public_key_alg_id(&self) -> AlgorithmIdentifier {
        alg_id::RSA_ENCRYPTION
    }

    fn signature_alg_id(&self) -> AlgorithmIdentifier {
        AlgorithmIdentifier::from_slice(SHA1_WITH_RSA)
    }
}
