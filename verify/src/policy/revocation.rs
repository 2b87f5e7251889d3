//! The policy's question to a revocation checker (design §6, check 6): is any certificate
//! of this validated path revoked? The policy owns the question; how it is answered (OCSP,
//! CRL, caches, the network) is the implementer's business, so the pure policy never
//! does I/O.

use super::ValidatedPath;
use crate::error::Rejection;
use async_trait::async_trait;

/// Decides whether the certificates of a validated path are revoked at the path's time.
#[async_trait]
pub trait RevocationChecker: Send + Sync + std::fmt::Debug {
    /// `Ok` when the path may be used; otherwise `CERT_REVOKED` or `REVOCATION_UNAVAILABLE`.
    async fn check(&self, path: &ValidatedPath) -> Result<(), Rejection>;

    /// Whether this checker actually checks (false only for [`NoRevocationCheck`]).
    fn is_checking(&self) -> bool;
}

/// No revocation checking: an explicit, logged choice for tests and demos.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoRevocationCheck;

#[async_trait]
impl RevocationChecker for NoRevocationCheck {
    async fn check(&self, _path: &ValidatedPath) -> Result<(), Rejection> {
        Ok(())
    }

    fn is_checking(&self) -> bool {
        false
    }
}
