//! The gateway's integration tests, one binary: the HTTP service in process (with a clock
//! the tests set), the store, revocation against real responders, and the CLI.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code

mod common;

mod http_clock;
mod http_codes;
mod http_concurrency;
mod http_page;
mod http_refusals;
mod inspect_cli;
mod oidc;
mod openapi;
mod revocation;
mod serve_cli;
mod service;
mod sim_flow;
mod store;
mod store_postgres;
mod verify_token_cli;
