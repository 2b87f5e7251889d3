//! Every seed of every target, run through the target's code on the stable toolchain, so
//! that CI proves the targets build and that their corpora still pass (a seed that panics
//! is a bug found). `cargo fuzz run <target>` explores further from the same seeds.

use std::path::Path;

fn each_seed(target: &str, run: fn(&[u8])) {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("seeds")
        .join(target);
    let mut count = 0;
    for entry in std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
        let path = entry.unwrap().path();
        run(&std::fs::read(&path).unwrap());
        count += 1;
    }
    assert!(
        count >= 3,
        "{target}: only {count} seeds in {}",
        dir.display()
    );
}

#[test]
fn auth_token_seeds() {
    each_seed("auth_token", kyso_fuzz::auth_token::run);
}

#[test]
fn crl_seeds() {
    each_seed("crl", kyso_fuzz::crl::run);
}

#[test]
fn identity_seeds() {
    each_seed("identity", kyso_fuzz::identity::run);
}

#[test]
fn mss_seeds() {
    each_seed("mss", kyso_fuzz::mss::run);
}

#[test]
fn ocsp_response_seeds() {
    each_seed("ocsp_response", kyso_fuzz::ocsp_response::run);
}

#[test]
fn phone_seeds() {
    each_seed("phone", kyso_fuzz::phone::run);
}
