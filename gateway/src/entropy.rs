//! Randomness as a parameter, like time: ids, nonces and tokens come from an [`Entropy`]
//! the gateway is given, so a test can make the system's randomness fail and see the
//! refusal a person would get (`INTERNAL_ERROR`), which no outside input can cause.

use base64::Engine;
use kyso_verify::error::{ErrorCode, Rejection};

/// The source of randomness failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the system's randomness failed")]
pub struct EntropyFailed;

/// Where random bytes come from.
pub trait Entropy: Send + Sync {
    /// Fills `buf` with random bytes.
    fn fill(&self, buf: &mut [u8]) -> Result<(), EntropyFailed>;
}

/// The operating system's randomness, through aws-lc-rs.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemEntropy;

impl Entropy for SystemEntropy {
    fn fill(&self, buf: &mut [u8]) -> Result<(), EntropyFailed> {
        aws_lc_rs::rand::fill(buf).map_err(|_| EntropyFailed)
    }
}

/// `bytes` random bytes from `entropy` in base64 (`engine`): ids, nonces, tokens.
pub fn random_b64(
    entropy: &dyn Entropy,
    bytes: usize,
    engine: &impl Engine,
) -> Result<String, Rejection> {
    let mut b = vec![0u8; bytes];
    entropy.fill(&mut b).map_err(|e| {
        tracing::error!("{e}");
        Rejection::new(ErrorCode::InternalError, "no randomness available")
    })?;
    Ok(engine.encode(b))
}

/// A 32-hex-digit id unique to this moment, for labels that must not collide but say
/// nothing secret (a request's id, a process's name in the store): random, or the time
/// when the system's randomness fails.
pub fn unique_label() -> String {
    let mut bytes = [0u8; 16];
    if aws_lc_rs::rand::fill(&mut bytes).is_err() {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or_default();
        bytes = nanos.to_be_bytes();
    }
    hex::encode(bytes)
}
