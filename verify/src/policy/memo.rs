//! Signatures already verified at start-up, so that configured intermediates cost nothing
//! per request while every path is still built and checked in full.
//!
//! A configured intermediate is validated once, at start-up; at request time it is an
//! ordinary intermediate on the path from the leaf to a root, so every constraint of
//! every certificate above the leaf applies exactly as if it had travelled with the token
//! (design §6). The only work that would repeat is the intermediate's own signature
//! under its issuer. [`Remembering`] wraps each verification algorithm: a signature is
//! taken as valid without recomputing it only when the exact (algorithm, public key,
//! message, signature) was verified by that same algorithm at start-up; anything else is
//! verified. A remembered triple is identified by its SHA-256, so an entry can only
//! match the bytes that were verified.

use aws_lc_rs::digest::{Context, SHA256};
use rustls_pki_types::{AlgorithmIdentifier, InvalidSignature, SignatureVerificationAlgorithm};
use std::collections::HashSet;
use std::sync::atomic::{AtomicU64, Ordering};

/// The digests of the signatures verified at start-up.
#[derive(Debug, Default)]
pub(crate) struct VerifiedSignatures {
    known: HashSet<[u8; 32]>,
    /// The lengths of the remembered messages: most messages (every leaf's) are not
    /// among them and are not hashed at all.
    lengths: HashSet<usize>,
    /// How often a remembered signature saved a verification (for tests and metrics).
    hits: AtomicU64,
}

fn key(
    algorithm: &dyn SignatureVerificationAlgorithm,
    public_key: &[u8],
    message: &[u8],
    signature: &[u8],
) -> [u8; 32] {
    let mut ctx = Context::new(&SHA256);
    for part in [
        algorithm.signature_alg_id().as_ref(),
        algorithm.public_key_alg_id().as_ref(),
        public_key,
        message,
        signature,
    ] {
        ctx.update(&(part.len() as u64).to_be_bytes());
        ctx.update(part);
    }
    let mut out = [0u8; 32];
    out.copy_from_slice(ctx.finish().as_ref());
    out
}

impl VerifiedSignatures {
    /// Verifies `signature` over `message` under `public_key` with each of `algorithms`
    /// and remembers it for every algorithm that accepts it; `true` if one did.
    pub(crate) fn verify_and_remember(
        &mut self,
        algorithms: &[&'static dyn SignatureVerificationAlgorithm],
        public_key: &[u8],
        message: &[u8],
        signature: &[u8],
    ) -> bool {
        let mut any = false;
        for alg in algorithms {
            if alg.verify_signature(public_key, message, signature).is_ok() {
                self.known.insert(key(*alg, public_key, message, signature));
                self.lengths.insert(message.len());
                any = true;
            }
        }
        any
    }

    /// How many verifications remembered signatures have saved.
    pub(crate) fn hits(&self) -> u64 {
        self.hits.load(Ordering::Relaxed)
    }
}

/// An algorithm that first looks in the remembered signatures.
#[derive(Debug)]
pub(crate) struct Remembering<'a> {
    pub(crate) inner: &'static dyn SignatureVerificationAlgorithm,
    pub(crate) verified: &'a VerifiedSignatures,
}

impl SignatureVerificationAlgorithm for Remembering<'_> {
    fn verify_signature(
        &self,
        public_key: &[u8],
        message: &[u8],
        signature: &[u8],
    ) -> Result<(), InvalidSignature> {
        if self.verified.lengths.contains(&message.len())
            && self
                .verified
                .known
                .contains(&key(self.inner, public_key, message, signature))
        {
            self.verified.hits.fetch_add(1, Ordering::Relaxed);
            return Ok(());
        }
        self.inner.verify_signature(public_key, message, signature)
    }

    fn public_key_alg_id(&self) -> AlgorithmIdentifier {
        self.inner.public_key_alg_id()
    }

    fn signature_alg_id(&self) -> AlgorithmIdentifier {
        self.inner.signature_alg_id()
    }

    fn fips(&self) -> bool {
        self.inner.fips()
    }
}
