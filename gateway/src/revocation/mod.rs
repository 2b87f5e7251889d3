//! Revocation checking (design §6): is a certificate whose path verified still unrevoked?
//! The gateway's answer to the policy's [`RevocationChecker`] question.
//!
//! Layout:
//! - [`checker`]: [`OcspCrlChecker`]: OCSP first, the CRL when OCSP gives no usable
//!   answer, fail closed (`REVOCATION_UNAVAILABLE`) unless soft-fail is chosen. It asks
//!   about every certificate on the path but the anchor: the leaf, every intermediate
//!   that travelled with it, and every configured one.
//! - [`crl_store`]: CRLs from the distribution points, cached until nextUpdate and
//!   refreshed in the background.
//! - [`cache`]: the bounded expiring cache both use.
//! - [`fetch`]: HTTP with timeouts and size limits.
//!
//! The OCSP and CRL codecs are pure and live in [`kyso_verify::revocation`]. Time comes
//! with the path, never from the clock here.
//!
//! [`RevocationChecker`]: kyso_verify::policy::RevocationChecker

pub mod cache;
pub mod checker;
pub mod crl_store;
pub mod fetch;
pub mod health;

pub use checker::{FailureMode, IssuerOverride, Methods, OcspCrlChecker, RevocationSettings};
