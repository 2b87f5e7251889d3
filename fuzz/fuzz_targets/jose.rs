//! libFuzzer entry point of [`kyso_fuzz::jose`], which says what is fed and what must
//! never happen.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| kyso_fuzz::jose::run(data));
