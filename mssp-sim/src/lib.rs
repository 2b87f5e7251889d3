//! The simulated operator side of signing-SIM registration (DESIGN §3).
//!
//! Layout:
//! - [`sim_card`]: the SIM applet's PIN check, with the retry counter that blocks the
//!   signing PIN after three wrong tries.
//!
//! The HTTP service (AP and phone APIs), the phone page and the test numbers are built on
//! this in the signing-SIM issue.

pub mod sim_card;
