//! The kyso registration gateway.
//!
//! Layout: pure logic first, with no HTTP in it, so it is testable without a server.
//! - [`identity`]: the identity rules of DESIGN §5 (CCCD, CMND, MST, ETSI identifiers,
//!   citizen vs organization, aliases).
//! - [`certificate`]: facts about a certificate for display and `inspect`.
//! - [`policy`]: the certificate policy of DESIGN §6 (path, purpose, key, algorithms).
//! - [`webeid`]: verifying a Web eID 1.0 auth token against a challenge (DESIGN §2).
//! - [`error`]: the one ranked error enum; [`clock`]: time as a parameter.
//! - [`inspect`]: the `kyso-gateway inspect` report.

pub mod certificate;
pub mod clock;
pub mod error;
pub mod identity;
pub mod inspect;
pub mod policy;
pub mod service;
pub mod store;
pub mod webeid;
