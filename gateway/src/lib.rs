//! The kyso registration gateway.
//!
//! Layout: pure logic first, with no HTTP in it, so it is testable without a server.
//! - [`identity`]: the identity rules of DESIGN §5 (CCCD, CMND, MST, ETSI identifiers,
//!   citizen vs organization, aliases).
//! - [`certificate`]: facts about a certificate for display and `inspect`.
//! - [`inspect`]: the `kyso-gateway inspect` report.

pub mod certificate;
pub mod identity;
pub mod inspect;
