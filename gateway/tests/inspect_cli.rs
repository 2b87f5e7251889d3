//! `kyso-gateway inspect` as a user runs it: PEM and DER in, JSON out, exit codes, and
//! certificates made by other tools (OpenSSL, and a real CA's test certificate).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use std::path::Path;
use std::process::{Command, Output};

fn inspect(path: &Path) -> (Output, serde_json::Value) {
    let out = Command::new(env!("CARGO_BIN_EXE_kyso-gateway"))
        .arg("inspect")
        .arg(path)
        .output()
        .unwrap();
    let json = serde_json::from_slice(&out.stdout).unwrap_or(serde_json::Value::Null);
    (out, json)
}

fn vector(name: &str) -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../verify/tests/vectors/webeid")
        .join(name)
}

#[test]
fn reads_our_certificates_as_pem_and_der_alike() {
    let dir = tempfile::tempdir().unwrap();
    let m =
        kyso_certs::generate(&kyso_certs::GenerateOptions::new(dir.path()), &mut |_| {}).unwrap();
    let p = m.person("citizen-cmnd-cccd").unwrap();
    let (out_pem, pem) = inspect(&dir.path().join(&p.cert));
    let (out_der, der) = inspect(&dir.path().join(&p.cert_der));
    for out in [&out_pem, &out_der] {
        assert_eq!(
            out.status.code(),
            Some(0),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    assert_eq!(pem, der);
    assert_eq!(pem["subject"]["type"], "citizen");
    assert_eq!(pem["subject"]["identifier"]["value"], "079195001234");
    assert_eq!(pem["subject"]["aliases"][0]["kind"], "CMND");
    let c = &pem["certificate"];
    assert_eq!(c["key"], "RSA-2048");
    assert_eq!(c["signature_algorithm"], "ecdsa-with-SHA384");
    assert_eq!(
        c["key_usage"],
        serde_json::json!(["digitalSignature", "nonRepudiation"])
    );
    assert_eq!(
        c["extended_key_usage"],
        serde_json::json!(["clientAuth", "emailProtection"])
    );
    assert_eq!(c["ocsp_urls"][0], format!("{}/ocsp/viettel", m.base_url));
    assert_eq!(c["crl_urls"][0], format!("{}/crl/viettel.crl", m.base_url));
    assert_eq!(c["serial"].as_str().unwrap().to_uppercase(), p.serial);
    assert_eq!(c["fingerprint_sha256"].as_str().unwrap().len(), 64);

    let (out, json) = inspect(&dir.path().join(&m.person("rsa-1024").unwrap().cert));
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(json["certificate"]["key"], "RSA-1024");
    let (_, json) = inspect(&dir.path().join(&m.person("sha1-signed").unwrap().cert));
    assert_eq!(
        json["certificate"]["signature_algorithm"],
        "sha1WithRSAEncryption"
    );
    let (_, json) = inspect(&dir.path().join(&m.person("citizen-ec").unwrap().cert));
    assert_eq!(json["certificate"]["key"], "EC-P256");
}

#[test]
fn no_identity_is_exit_1_with_the_code() {
    let dir = tempfile::tempdir().unwrap();
    let m =
        kyso_certs::generate(&kyso_certs::GenerateOptions::new(dir.path()), &mut |_| {}).unwrap();
    let (out, json) = inspect(&dir.path().join(&m.person("no-identity").unwrap().cert));
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(json["error"]["code"], "NO_IDENTITY");
    assert!(json.get("subject").is_none());
    assert_eq!(json["certificate"]["key"], "RSA-2048");
    let (out, json) = inspect(
        &dir.path()
            .join(&m.person("bad-cccd-province").unwrap().cert),
    );
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(json["error"]["code"], "INVALID_IDENTIFIER");
}

#[test]
fn unreadable_input_is_exit_2_with_a_message() {
    let dir = tempfile::tempdir().unwrap();
    let junk = dir.path().join("junk.pem");
    std::fs::write(
        &junk,
        "-----BEGIN CERTIFICATE-----\nnot base64!\n-----END CERTIFICATE-----\n",
    )
    .unwrap();
    let garbage = dir.path().join("garbage.der");
    std::fs::write(&garbage, [0x30, 0x03, 0x02, 0x01]).unwrap();
    for path in [junk, garbage, dir.path().join("missing.pem")] {
        let (out, _) = inspect(&path);
        assert_eq!(out.status.code(), Some(2), "{}", path.display());
        assert!(out.stdout.is_empty());
        let err = String::from_utf8_lossy(&out.stderr);
        let name = path.file_name().unwrap().to_string_lossy();
        assert!(
            err.contains("kyso-gateway: inspect:") && err.contains(&*name),
            "{err}"
        );
    }
}

#[test]
fn reads_a_real_ca_test_certificate() {
    // The Web eID vector's signer: an Estonian test ID card, P-384, ETSI PNOEE- serial.
    let dir = tempfile::tempdir().unwrap();
    let token: serde_json::Value =
        serde_json::from_slice(&std::fs::read(vector("valid-auth-token.json")).unwrap()).unwrap();
    let der = STANDARD
        .decode(token["unverifiedCertificate"].as_str().unwrap())
        .unwrap();
    let path = dir.path().join("esteid.der");
    std::fs::write(&path, der).unwrap();
    let (out, json) = inspect(&path);
    assert_eq!(
        out.status.code(),
        Some(1),
        "an Estonian person is not a Vietnamese identity"
    );
    assert_eq!(json["error"]["code"], "NO_IDENTITY");
    let c = &json["certificate"];
    assert_eq!(c["key"], "EC-P384");
    assert_eq!(c["signature_algorithm"], "ecdsa-with-SHA512");
    assert!(
        c["subject"]
            .as_str()
            .unwrap()
            .contains(r"CN=JÕEORG\,JAAK-KRISTJAN\,38001085718")
    );
    assert_eq!(c["ocsp_urls"][0], "http://aia.demo.sk.ee/esteid2018");
    assert_eq!(
        c["extended_key_usage"],
        serde_json::json!(["clientAuth", "emailProtection"])
    );

    let (_, json) = inspect(&vector("TEST_of_ESTEID2018.cer"));
    assert_eq!(json["certificate"]["key"], "EC-P521");
    assert_eq!(json["certificate"]["is_ca"], true);
}

#[test]
fn reads_a_certificate_made_by_openssl() {
    let dir = tempfile::tempdir().unwrap();
    let (key, cert) = (dir.path().join("k.pem"), dir.path().join("c.pem"));
    let out = Command::new("openssl")
        .args([
            "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "30", "-utf8", "-keyout",
        ])
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .args([
            "-subj",
            "/C=VN/ST=Hà Nội/CN=Lý Thị Mai/UID=CMND:012345678/UID=CCCD:001190001234",
        ])
        .args([
            "-addext",
            "keyUsage=critical,digitalSignature,nonRepudiation",
        ])
        .args([
            "-addext",
            "extendedKeyUsage=1.3.6.1.5.5.7.3.36,1.3.6.1.4.1.311.10.3.12",
        ])
        .output()
        .expect("openssl is installed by .ci/run");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let (out, json) = inspect(&cert);
    assert_eq!(out.status.code(), Some(0), "{json}");
    assert_eq!(json["subject"]["identifier"]["value"], "001190001234");
    assert_eq!(json["subject"]["aliases"][0]["value"], "012345678");
    assert_eq!(json["subject"]["full_name"], "Lý Thị Mai");
    assert_eq!(
        json["certificate"]["extended_key_usage"],
        serde_json::json!(["documentSigning", "msDocumentSigning"])
    );
}
