//! Revocation checking as a parameter of the policy (DESIGN §6).
//!
//! The policy asks a [`RevocationChecker`] about every certificate whose path verified.
//! This build has one checker, [`NoRevocationCheck`], chosen only by an explicit
//! `policy.revocation = "off"`; OCSP and CRL checkers implement the same trait.

use crate::error::Rejection;
use time::OffsetDateTime;

/// Decides whether a certificate is revoked at a time.
pub trait RevocationChecker: Send + Sync + std::fmt::Debug {
    /// `Ok` when the certificate (DER) may be used at `at`; otherwise `CERT_REVOKED` or
    /// `REVOCATION_UNAVAILABLE`.
    fn check(&self, leaf_der: &[u8], at: OffsetDateTime) -> Result<(), Rejection>;

    /// Whether this checker actually checks (false only for [`NoRevocationCheck`]).
    fn is_checking(&self) -> bool;
}

/// No revocation checking: an explicit, logged choice for tests and demos.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoRevocationCheck;

impl RevocationChecker for NoRevocationCheck {
    fn check(&self, _leaf_der: &[u8], _at: OffsetDateTime) -> Result<(), Rejection> {
        Ok(())
    }

    fn is_checking(&self) -> bool {
        false
    }
}
