//! `kyso-gateway verify-token`: signature, chain and identity verdicts, each with its code,
//! on Web eID's published token and on tokens made with the test persons' keys.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code

use crate::common::Pki;
use std::path::Path;
use std::process::Command;

fn config(pki: &Pki, dir: &Path) -> std::path::PathBuf {
    let anchors: Vec<String> = pki
        .manifest
        .trust_anchors
        .iter()
        .map(|p| format!("{:?}", pki.path(p)))
        .collect();
    let inter: Vec<String> = pki
        .manifest
        .intermediates
        .iter()
        .map(|p| format!("{:?}", pki.path(p)))
        .collect();
    let path = dir.join("kyso.toml");
    let text = format!(
        "public_origin = \"https://dichvucong.test\"\n[trust]\nanchors = [{}]\nintermediates = [{}]\n[policy]\nrevocation = \"off\"\n",
        anchors.join(", "),
        inter.join(", ")
    );
    std::fs::write(&path, text).unwrap();
    path
}

fn verify(args: &[&str], config: &Path, token: &Path) -> (Option<i32>, serde_json::Value) {
    let out = Command::new(env!("CARGO_BIN_EXE_kyso-gateway"))
        .arg("verify-token")
        .arg("--config")
        .arg(config)
        .args(args)
        .arg(token)
        .output()
        .unwrap();
    (
        out.status.code(),
        serde_json::from_slice(&out.stdout).unwrap_or(serde_json::Value::Null),
    )
}

#[test]
fn web_eid_vector_signature_and_chain_pass_and_identity_is_not_vietnamese() {
    let pki = Pki::generate();
    let dir = tempfile::tempdir().unwrap();
    let config = config(&pki, dir.path());
    let vectors = Path::new(env!("CARGO_MANIFEST_DIR")).join("../verify/tests/vectors/webeid");
    let token = vectors.join("valid-auth-token.json");
    let anchor = vectors.join("TEST_of_ESTEID2018.cer");
    let anchor = anchor.to_str().unwrap();
    let nonce = "12345678123456781234567812345678912356789123";
    let base = [
        "--origin",
        "https://ria.ee",
        "--nonce",
        nonce,
        "--at",
        "2021-08-01T00:00:00Z",
        "--trust-anchor",
        anchor,
    ];
    let (code, json) = verify(&base, &config, &token);
    assert_eq!(code, Some(1), "{json}");
    assert_eq!(json["signature"]["code"], "ok");
    assert_eq!(json["chain"]["code"], "ok");
    assert_eq!(json["identity"]["code"], "NO_IDENTITY");

    let mut other = base;
    other[1] = "https://evil.test";
    let (_, json) = verify(&other, &config, &token);
    assert_eq!(json["signature"]["code"], "SIGNATURE_INVALID");
    assert_eq!(json["chain"]["code"], "ok");

    // Under the configuration's own anchors the Estonian chain is untrusted.
    let (_, json) = verify(&base[..6], &config, &token);
    assert_eq!(json["chain"]["code"], "CERT_UNTRUSTED");
}

#[test]
fn a_test_person_token_passes_all_three_and_bad_input_is_exit_2() {
    let pki = Pki::generate();
    let dir = tempfile::tempdir().unwrap();
    let config = config(&pki, dir.path());
    let token = pki.token("citizen-cmnd-cccd", "https://dichvucong.test", "bm9uY2U=");
    let path = dir.path().join("token.json");
    std::fs::write(&path, serde_json::to_vec(&token).unwrap()).unwrap();
    let (code, json) = verify(
        &["--origin", "https://dichvucong.test", "--nonce", "bm9uY2U="],
        &config,
        &path,
    );
    assert_eq!(code, Some(0), "{json}");
    assert_eq!(
        json["identity"]["subject"]["identifier"]["value"],
        "079195001234"
    );

    let junk = dir.path().join("junk.json");
    std::fs::write(&junk, "{").unwrap();
    let (code, _) = verify(
        &["--origin", "https://dichvucong.test", "--nonce", "x"],
        &config,
        &junk,
    );
    assert_eq!(code, Some(2));
    let (code, _) = verify(
        &["--origin", "o", "--nonce", "x", "--at", "yesterday"],
        &config,
        &path,
    );
    assert_eq!(code, Some(2));
}
