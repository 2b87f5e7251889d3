//! kyso's verification core: everything that decides whether a proof of identity holds,
//! with no I/O, no async runtime, no HTTP and no database (design §1).
//!
//! Layout, in the order a registration meets it:
//! - [`error`]: the ranked error codes of the gateway and of the signing agent.
//! - [`webeid`]: a Web eID 1.0 auth token against a challenge (design §2).
//! - [`policy`]: the certificate policy (design §6): leaf rules, the path to a trust
//!   anchor under every constraint of every certificate on it, and the
//!   [`policy::RevocationChecker`] question it asks about the validated path.
//! - [`revocation`]: the OCSP (RFC 6960) and CRL (RFC 5280 §5) codecs a checker uses.
//! - [`identity`]: who the certificate says its holder is (design §5: CCCD, CMND, MST).
//! - [`certificate`], [`inspect`]: facts about a certificate for display, no trust.
//! - [`oid`]: the object identifiers compared against, named once.
//!
//! Time is always a parameter: nothing here reads the clock.

pub mod certificate;
pub mod error;
pub mod identity;
pub mod inspect;
pub mod oid;
pub mod policy;
pub mod revocation;
pub mod webeid;
