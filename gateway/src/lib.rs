//! The kyso registration gateway: the use cases over the verification core
//! ([`kyso_verify`]), persistence, the operator's signing-SIM service, and a thin HTTP
//! layer. Dependencies point one way: `http` → `service`/`sim` → `domain`, `store` →
//! `kyso_verify`; start-up wires them together.
//!
//! - [`domain`]: challenges, tickets, accounts, sessions, SIM sessions, audit entries.
//! - [`service`]: the token use cases (challenges, registration, login); [`sim`]: the
//!   signing-SIM use cases over an operator's MSSP (design §3).
//! - [`store`]: the store traits, their versioned records, and the SQLite backend.
//! - [`oidc`]: the OpenID Provider for portals (authorization code flow, consent).
//! - [`revocation`]: the gateway's revocation checker (OCSP, CRL, caches, the network).
//! - [`http`]: the axum layer: API types, routes, problem documents, messages, limits.
//! - [`config`]: the configuration as data and its validation; [`startup`]: turns it into
//!   running parts; [`server`]: serves them until shutdown.
//! - [`readiness`]: `/readyz`'s check, shared by its askers; [`offload`]: verifications
//!   strangers can make long, run beside the request threads.
//! - [`clock`], [`entropy`]: time and randomness as parameters;
//!   [`http_client`]: size-limited reads of other services' answers.

pub mod clock;
pub mod config;
pub mod domain;
pub mod entropy;
pub mod http;
pub mod http_client;
pub mod metrics;
pub mod offload;
pub mod oidc;
pub mod readiness;
pub mod revocation;
pub mod server;
pub mod service;
pub mod sim;
pub mod startup;
pub mod store;
