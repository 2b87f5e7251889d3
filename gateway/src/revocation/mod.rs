//! Revocation checking (DESIGN §6): is a certificate whose path verified still unrevoked?
//!
//! Layout:
//! - [`ocsp`]: RFC 6960 request encoding, response parsing and verification (pure).
//! - [`crl`]: CRLs from the CRL distribution point (RFC 5280 §4.2.1.13), cached until
//!   nextUpdate and refreshed in the background; checked with webpki's revocation options.
//! - [`cache`]: the bounded expiring cache both use.
//! - [`fetch`]: HTTP with timeouts and size limits.
//! - [`checker`]: [`OcspCrlChecker`], the policy: OCSP first, the CRL when OCSP gives no
//!   usable answer, fail closed (`REVOCATION_UNAVAILABLE`) unless soft-fail is chosen.
//!
//! The policy hands a [`RevocationChecker`] every [`ValidatedPath`]; time comes with the
//! path, never from the clock here. Only the end-entity certificate is checked: the
//! intermediates are the operator's configured, start-up-validated provider CAs (removing
//! one from the configuration is how trust in it ends).

pub mod cache;
pub mod checker;
pub mod crl;
pub mod fetch;
pub mod ocsp;

pub use checker::{FailureMode, IssuerOverride, Methods, OcspCrlChecker, RevocationSettings};

use crate::error::Rejection;
use crate::policy::ValidatedPath;
use async_trait::async_trait;

/// Decides whether the leaf of a validated path is revoked at the path's time.
#[async_trait]
pub trait RevocationChecker: Send + Sync + std::fmt::Debug {
    /// `Ok` when the leaf may be used; otherwise `CERT_REVOKED` or `REVOCATION_UNAVAILABLE`.
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
