//! The simulator's integration tests, one binary: its AP API, its phone API and page, and
//! its command line, against the real `kyso-mssp-sim` process or its router.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code

mod common;

mod ap_api;
mod cli;
mod device_api;
