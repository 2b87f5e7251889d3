//! The kyso registration gateway.
//!
//! Layout: pure logic first, with no HTTP in it, so it is testable without a server.
//! - [`identity`]: the identity rules of DESIGN §5 (CCCD, CMND, MST, ETSI identifiers,
//!   citizen vs organization, aliases).
//! - [`certificate`]: facts about a certificate for display and `inspect`.
//! - [`policy`]: the certificate policy of DESIGN §6 (path, purpose, key, algorithms).
//! - [`revocation`]: OCSP and CRL checking with caches, fail closed by default (DESIGN §6).
//! - [`webeid`]: verifying a Web eID 1.0 auth token against a challenge (DESIGN §2).
//! - [`error`]: the one ranked error enum; [`clock`]: time as a parameter.
//! - [`store`]: the `Store` trait and its SQLite implementation.
//! - [`service`]: the use cases (challenges, registration, login), no HTTP.
//! - [`sim`]: signing-SIM registration and login through an operator's MSSP (DESIGN §3).
//! - [`http`]: the thin axum layer; [`config`]: TOML + `KYSO_*` configuration;
//!   [`http_client`]: size-limited reads of other services' answers.
//! - [`inspect`]: the `kyso-gateway inspect` report.

pub mod clock;
pub mod config;
pub mod http;
pub mod http_client;
pub mod revocation;
pub mod server;
pub mod service;
pub mod sim;
pub mod store;
