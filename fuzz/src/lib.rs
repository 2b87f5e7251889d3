//! kyso's fuzz targets, one module each, so that the libFuzzer entry points in
//! `fuzz_targets/` stay one line and `tests/seeds.rs` runs every seed through the same
//! code on the stable toolchain (see docs/fuzzing.md).

pub mod auth_token;
pub mod crl;
pub mod identity;
pub mod jose;
pub mod mss;
pub mod ocsp_response;
pub mod phone;
