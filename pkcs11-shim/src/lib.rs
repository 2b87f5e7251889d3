//! kyso's signing agent: the local process that signs a gateway challenge with the
//! user's PKCS#11 token (design §7).
//!
//! - [`token`]: finding tokens by label or serial (never by slot number), reading their
//!   certificates, logging in and signing with the key that shares the certificate's
//!   `CKA_ID`.
//! - [`authenticate()`]: the Web eID 1.0 token of design §2 for an origin and a nonce.
//! - [`server`]: `kyso-shim serve`, the local HTTP API the registration page calls.
//! - [`pin`]: where the PIN comes from (file, environment, pinentry, terminal).
//! - [`refused`]: unattended PINs a token refused, never offered to it again.
//! - [`peer`]: whether a caller on loopback is a program of the agent's own user.
//! - [`ShimError`]: the agent's error codes.

mod authenticate;
mod error;
pub mod peer;
pub mod pin;
pub mod refused;
pub mod server;
pub mod token;

pub use authenticate::{APP_VERSION, authenticate};
pub use error::ShimError;
