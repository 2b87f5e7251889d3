//! kyso-verify's integration tests, one binary: identity rules on generated certificates,
//! the certificate policy and token verification on real material.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code

mod chains;
mod identity;
mod limbo;
mod ocsp;
mod policy;
