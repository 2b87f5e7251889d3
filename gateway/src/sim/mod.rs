//! Signing-SIM registration and login (design §3, §4): the gateway asks the operator's
//! Mobile Signature Service Provider to push a request to the phone, the person checks
//! the code and confirms with the SIM PIN, the signature and certificate come back and go
//! through the same policy as a token's.
//!
//! Layout (sessions, results and outcomes are domain types, [`crate::domain::sim`]):
//! - [`mssp`]: the [`mssp::Mssp`] trait an operator adapter implements;
//!   [`mss_http`]: its implementation for the simulator's HTTP protocol, with the ETSI
//!   TS 102 204 status mapping.
//! - [`flow`]: [`flow::SimService`], the use cases: start a session, drive it to a
//!   result in the background (one instance per session, taken over when it stops or
//!   dies), judge the returned signature,
//!   and show the result to the browser (long poll); [`waiters`]: at most two of a
//!   session's reads wait at once.
//!
//! No HTTP here beyond the operator client; the axum layer calls [`flow::SimService`].

pub mod flow;
pub mod mss_http;
pub mod mssp;
pub mod waiters;

pub use flow::{SimService, SimSettings, SimStarted, SimView};
