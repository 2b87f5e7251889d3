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
fn jose_seeds() {
    each_seed("jose", kyso_fuzz::jose::run);
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

/// The jose seeds were made by OpenSSL (fuzz/make-seeds.sh): the two that say they verify
/// do under kyso's verifier, and none of the others does.
#[test]
fn jose_seeds_made_by_openssl_get_the_verdict_their_names_say() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("seeds").join("jose");
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        let text = std::fs::read_to_string(&path).unwrap();
        let (jwks, token) = text.split_once('\n').unwrap_or(("{\"keys\":[]}", &text));
        let jwks: serde_json::Value = serde_json::from_str(jwks).unwrap();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        assert_eq!(
            kyso_proto::jose::verify(token, &jwks).is_ok(),
            name.ends_with("-verifies"),
            "{name}"
        );
    }
}
