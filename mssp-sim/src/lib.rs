//! The simulated operator side of signing-SIM registration (design §3): a Mobile
//! Signature Service Provider (MSSP) speaking ETSI TS 102 204 semantics in asynchronous
//! client-server mode with status polling, and the signing-SIM phones behind it.
//!
//! Layout, one idea per module:
//! - [`config`]: the TOML configuration of `kyso-mssp-sim serve`.
//! - [`sim_card`]: the SIM applet's PIN check, with the retry counter that blocks the
//!   signing PIN after three wrong tries.
//! - [`signer`]: the key and certificate chain on a SIM (from the test PKI) and the
//!   RS256/ES256 signature the applet makes.
//! - [`numbers`]: the documented automatic test numbers, each producing one outcome.
//! - [`transactions`]: one signature transaction, its state and its clock (deadline,
//!   automatic answers); all deadline logic lives there.
//! - [`simulator`]: subscribers, AP credentials and the transaction book, with every
//!   protocol operation as a plain method.
//! - [`ap_api`], `device_api`, `phone_page`: the HTTP adapters for the AP side
//!   (`/mss/v1`), the phone side (`/device/v1`) and the phone screen (`/phone/{msisdn}`).
//! - [`server`]: the router, start-up banner and graceful shutdown.
//! - [`cli`]: the `kyso-mssp-sim` command line, including the `phone` client.
//!
//! The wire types are `kyso_proto::mss`, shared with the gateway. The HTTP API, the test
//! numbers and the decisions taken where the contract is silent are in
//! `docs/mssp-simulator.md`.

pub mod ap_api;
pub mod cli;
pub mod config;
mod device_api;
pub mod numbers;
mod phone_page;
pub mod server;
pub mod signer;
pub mod sim_card;
pub mod simulator;
pub mod transactions;

pub use config::{ApConfig, Config, ConfigError, Settings};
pub use server::router;
pub use signer::{SigningKey, SimHolder, load_holders};
pub use simulator::{DeviceResult, Simulator};
