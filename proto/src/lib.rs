//! Wire types that several kyso processes must agree on byte for byte.
//!
//! Keeping them in one small crate means the gateway, the signing agent, the SIM simulator
//! and the end-to-end tests cannot drift apart on a field name or on what exactly is signed.
//!
//! - [`webeid`]: the Web eID 1.0 authentication token and its signed data (design §2).
//! - [`origin`]: web origins spelled as browsers send them, which is what is signed.
//! - [`phone`]: Vietnamese mobile numbers normalised to E.164 (design §3).
//! - [`mss`]: the signing-SIM protocol between the gateway and an MSSP, what a SIM signs
//!   and the verification code (design §3).
//! - [`jose`]: the JWS and JWK the gateway's OpenID Provider signs and verifies (design
//!   §12).

pub mod jose;
pub mod mss;
pub mod origin;
pub mod phone;
pub mod webeid;
