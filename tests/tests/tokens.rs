//! The SoftHSM fixtures, checked end to end with real processes and independent tools:
//! every token person's token holds a non-extractable key and its certificate under one
//! `CKA_ID` beside its CA's certificates (OpenSC `pkcs11-tool`), signs with `pkcs11-tool --sign` in a way OpenSSL
//! verifies, and signs a Web eID challenge through `kyso-shim` that aws-lc-rs verifies
//! against the token's certificate — and only for the origin and nonce it was made for.

use aws_lc_rs::signature::{self, UnparsedPublicKey, VerificationAlgorithm};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use kyso_certs::keys::KeyKind;
use kyso_proto::webeid::{AuthToken, SignatureAlgorithm, signed_data};
use kyso_tests::{Fixtures, bin, run};
use std::path::Path;
use std::process::Command;

const MODULE: &str = "/usr/lib/softhsm/libsofthsm2.so";
const ORIGIN: &str = "https://dichvucong.test";
const NONCE: &str = "q2Zlx1BNyvE4ZC0Yb0Q2dPbu7zj6M0m3X9j1kUyGZ+8=";

fn subject_public_key(cert_der: &[u8]) -> Vec<u8> {
    let (_, cert) = x509_parser::parse_x509_certificate(cert_der).unwrap();
    cert.public_key().subject_public_key.data.to_vec()
}

fn verification_algorithm(key: KeyKind) -> &'static dyn VerificationAlgorithm {
    match key {
        KeyKind::Rsa1024 => &signature::RSA_PKCS1_1024_8192_SHA256_FOR_LEGACY_USE_ONLY,
        KeyKind::Rsa2048 | KeyKind::Rsa4096 => &signature::RSA_PKCS1_2048_8192_SHA256,
        KeyKind::EcP256 => &signature::ECDSA_P256_SHA256_FIXED,
        KeyKind::EcP384 => &signature::ECDSA_P384_SHA384_FIXED,
    }
}

fn shim(f: &Fixtures, label: &str, pin: &str, origin: &str) -> std::process::Output {
    let mut cmd = f.with_tokens(bin("kyso-shim"));
    cmd.env("KYSO_SHIM_PIN", pin).args([
        "authenticate",
        "--origin",
        origin,
        "--nonce",
        NONCE,
        "--token",
        label,
    ]);
    run(&mut cmd)
}

#[test]
fn every_token_signs_a_challenge_that_verifies_against_its_certificate() {
    let f = Fixtures::shared();
    let token_persons = f
        .manifest
        .persons
        .iter()
        .filter(|p| p.medium == kyso_certs::manifest::Medium::Token);
    assert_eq!(token_persons.count(), f.tokens.tokens.len());
    assert!(f.tokens.tokens.len() >= 19, "every §9 profile has a token");
    for t in &f.tokens.tokens {
        let out = shim(&f, &t.label, &t.user_pin, ORIGIN);
        assert!(
            out.status.success(),
            "{}: {}",
            t.label,
            String::from_utf8_lossy(&out.stdout)
        );
        let token: AuthToken = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(token.format, "web-eid:1.0");
        let cert = STANDARD.decode(&token.unverified_certificate).unwrap();
        assert_eq!(
            cert,
            Fixtures::pem_file(&f.tokens_dir.join(&t.cert)),
            "{}: certificate on the token",
            t.label
        );
        let alg = SignatureAlgorithm::from_name(&token.algorithm).unwrap();
        let expected_alg = if t.key.is_rsa() {
            SignatureAlgorithm::Rs256
        } else {
            SignatureAlgorithm::Es256
        };
        assert_eq!(alg, expected_alg, "{}", t.label);
        let sig = STANDARD.decode(&token.signature).unwrap();
        if !t.key.is_rsa() {
            assert_eq!(sig.len(), 64, "{}: ECDSA signature is raw r||s", t.label);
        }
        let key = UnparsedPublicKey::new(verification_algorithm(t.key), subject_public_key(&cert));
        key.verify(&signed_data(alg, ORIGIN, NONCE), &sig)
            .unwrap_or_else(|_| panic!("{}: signature does not verify", t.label));
        assert!(
            key.verify(&signed_data(alg, "https://evil.test", NONCE), &sig)
                .is_err()
        );
        assert!(
            key.verify(&signed_data(alg, ORIGIN, "other"), &sig)
                .is_err()
        );
    }
}

/// Object IDs per class from `pkcs11-tool -O` output.
fn objects(listing: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut class = String::new();
    for line in listing.lines() {
        if !line.starts_with(' ') {
            class = line.split(';').next().unwrap_or_default().trim().to_owned();
        } else if let Some(id) = line.trim().strip_prefix("ID:") {
            out.push((class.clone(), id.trim().to_owned()));
        }
    }
    out
}

/// The slot id (`0x…`) of the token with this serial, from `pkcs11-tool -L`. Slots are
/// chosen by serial because `--token-label` matches label prefixes (`citizen-cmnd` would
/// pick `citizen-cmnd-cccd`).
fn slot_of(f: &Fixtures, serial: &str) -> String {
    let out = run(f
        .with_tokens(Command::new("pkcs11-tool"))
        .args(["--module", MODULE, "-L"]));
    let listing = String::from_utf8_lossy(&out.stdout);
    let mut slot = None;
    for line in listing.lines() {
        if let Some(rest) = line.strip_prefix("Slot ") {
            slot = rest.split(['(', ')']).nth(1).map(str::to_owned);
        } else if line
            .trim()
            .strip_prefix("serial num")
            .is_some_and(|v| v.trim_start_matches([' ', ':']) == serial)
        {
            return slot.expect("slot line before serial");
        }
    }
    panic!("no slot with token serial {serial}: {listing}");
}

fn pkcs11_tool(f: &Fixtures, t: &kyso_fixtures::TokenEntry) -> Command {
    let slot = slot_of(f, &t.serial);
    let mut cmd = f.with_tokens(Command::new("pkcs11-tool"));
    cmd.args([
        "--module",
        MODULE,
        "--slot",
        &slot,
        "--login",
        "--pin",
        &t.user_pin,
    ]);
    cmd
}

fn openssl(args: &[&str], paths: &[&Path]) -> std::process::Output {
    let mut cmd = Command::new("openssl");
    cmd.args(args).args(paths);
    run(&mut cmd)
}

#[test]
fn opensc_and_openssl_agree_with_every_token() {
    let f = Fixtures::shared();
    let work = f.tokens_dir.join("opensc-check");
    std::fs::create_dir_all(&work).unwrap();
    let data = work.join("data");
    std::fs::write(&data, b"kyso challenge").unwrap();
    for t in &f.tokens.tokens {
        // The key and the certificate share one CKA_ID; the key never leaves the token.
        let out = run(pkcs11_tool(&f, t).arg("-O"));
        let listing = String::from_utf8_lossy(&out.stdout);
        assert!(out.status.success(), "{}: {listing}", t.label);
        assert!(
            listing.contains(&format!("label:      {}\n", t.label)),
            "{}: wrong token: {listing}",
            t.label
        );
        let objs = objects(&listing);
        for class in [
            "Private Key Object",
            "Public Key Object",
            "Certificate Object",
        ] {
            assert!(
                objs.contains(&(class.to_owned(), t.key_id.clone())),
                "{}: no {class} with ID {}: {listing}",
                t.label,
                t.key_id
            );
        }
        // Beside it, the CA certificates a real token ships, with no key: they are what
        // an agent picking "the first certificate" would wrongly sign with.
        let keyless = objs
            .iter()
            .filter(|(class, id)| class == "Certificate Object" && *id != t.key_id)
            .count();
        assert!(keyless >= 1, "{}: no CA certificate: {listing}", t.label);
        assert!(
            listing.contains("never extractable"),
            "{}: {listing}",
            t.label
        );

        // pkcs11-tool signs, OpenSSL verifies against the certificate's public key.
        let cert = f.tokens_dir.join(&t.cert);
        let public = work.join(format!("{}.pub.pem", t.label));
        let out = openssl(&["x509", "-pubkey", "-noout", "-in"], &[&cert]);
        std::fs::write(&public, &out.stdout).unwrap();
        let sig = work.join(format!("{}.sig", t.label));
        let verified = if t.key.is_rsa() {
            let out = run(pkcs11_tool(&f, t)
                .args([
                    "--sign",
                    "--mechanism",
                    "SHA256-RSA-PKCS",
                    "--id",
                    &t.key_id,
                    "-i",
                ])
                .arg(&data)
                .arg("-o")
                .arg(&sig));
            assert!(
                out.status.success(),
                "{}: {}",
                t.label,
                String::from_utf8_lossy(&out.stderr)
            );
            openssl(
                &["dgst", "-sha256", "-verify"],
                &[&public, Path::new("-signature"), &sig, &data],
            )
        } else {
            // SoftHSM has only CKM_ECDSA: hash first, as design §2 says.
            let hash = work.join("data.sha256");
            let out = openssl(&["dgst", "-sha256", "-binary", "-out"], &[&hash, &data]);
            assert!(out.status.success());
            let out = run(pkcs11_tool(&f, t)
                .args([
                    "--sign",
                    "--mechanism",
                    "ECDSA",
                    "--signature-format",
                    "openssl",
                    "--id",
                    &t.key_id,
                    "-i",
                ])
                .arg(&hash)
                .arg("-o")
                .arg(&sig));
            assert!(
                out.status.success(),
                "{}: {}",
                t.label,
                String::from_utf8_lossy(&out.stderr)
            );
            openssl(
                &["pkeyutl", "-verify", "-pubin", "-inkey"],
                &[
                    &public,
                    Path::new("-in"),
                    &hash,
                    Path::new("-sigfile"),
                    &sig,
                ],
            )
        };
        assert!(
            verified.status.success(),
            "{}: openssl did not verify: {}",
            t.label,
            String::from_utf8_lossy(&verified.stdout)
        );
    }
}

#[test]
fn token_certificates_chain_to_the_root_unless_their_ca_is_untrusted() {
    let f = Fixtures::shared();
    let root = Fixtures::pem_file(&f.pki.join(&f.manifest.trust_anchors[0]));
    let anchors = [webpki::anchor_from_trusted_cert(&root.clone().into())
        .unwrap()
        .to_owned()];
    let intermediates: Vec<rustls_pki_types::CertificateDer<'static>> = f
        .manifest
        .intermediates
        .iter()
        .map(|p| Fixtures::pem_file(&f.pki.join(p)).into())
        .collect();
    let now = rustls_pki_types::UnixTime::now();
    for t in &f.tokens.tokens {
        let der: rustls_pki_types::CertificateDer<'static> =
            Fixtures::pem_file(&f.tokens_dir.join(&t.cert)).into();
        let ee = webpki::EndEntityCert::try_from(&der).unwrap();
        let result = ee
            .verify_for_usage(
                webpki::ALL_VERIFICATION_ALGS,
                &anchors,
                &intermediates,
                now,
                webpki::KeyUsage::client_auth(),
                None,
                None,
            )
            .map(|_| ());
        match t.verdict.as_str() {
            "ok" => assert!(result.is_ok(), "{}: {result:?}", t.label),
            "CERT_UNTRUSTED" => assert!(
                matches!(result, Err(webpki::Error::UnknownIssuer)),
                "{}: {result:?}",
                t.label
            ),
            "CERT_EXPIRED" => assert!(
                matches!(result, Err(webpki::Error::CertExpired { .. })),
                "{}: {result:?}",
                t.label
            ),
            "CERT_NOT_YET_VALID" => assert!(
                matches!(result, Err(webpki::Error::CertNotValidYet { .. })),
                "{}: {result:?}",
                t.label
            ),
            _ => {}
        }
    }
}

#[test]
fn wrong_pin_is_pin_incorrect_and_signs_nothing_then_right_pin_works() {
    let f = Fixtures::shared();
    let t = f.tokens.of("no-identity").unwrap();
    let out = shim(&f, &t.label, "00000000", ORIGIN);
    assert!(!out.status.success());
    let body: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(body["error"]["code"], "PIN_INCORRECT");
    assert!(body.get("signature").is_none());
    assert!(
        !String::from_utf8_lossy(&out.stdout).contains("00000000"),
        "the PIN is never echoed"
    );
    assert!(shim(&f, &t.label, &t.user_pin, ORIGIN).status.success());

    let out = shim(&f, "no-such-token", &t.user_pin, ORIGIN);
    let body: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(body["error"]["code"], "TOKEN_NOT_PRESENT");
}

#[test]
fn the_ca_databases_know_the_token_certificates() {
    let f = Fixtures::shared();
    let work = f.tokens_dir.join("ocsp-check");
    std::fs::create_dir_all(&work).unwrap();
    for person in ["revoked", "citizen-cccd"] {
        let t = f.tokens.of(person).unwrap();
        let ca = f
            .manifest
            .ca(&f.manifest.person(person).unwrap().issuer)
            .unwrap();
        let index = std::fs::read_to_string(f.pki.join(&ca.index)).unwrap();
        let row = index
            .lines()
            .find(|l| l.contains(&t.cert_serial))
            .unwrap_or_else(|| panic!("{person} not in index.txt"));
        // openssl ocsp answers from index.txt exactly as a test responder will.
        let (req, resp) = (
            work.join(format!("{person}.req")),
            work.join(format!("{person}.resp")),
        );
        let cert = f.tokens_dir.join(&t.cert);
        let ca_cert = f.pki.join(&ca.cert);
        let out = openssl(
            &["ocsp", "-no_nonce", "-issuer"],
            &[
                &ca_cert,
                Path::new("-cert"),
                &cert,
                Path::new("-reqout"),
                &req,
            ],
        );
        assert!(out.status.success());
        let out = openssl(
            &["ocsp", "-index"],
            &[
                &f.pki.join(&ca.index),
                Path::new("-CA"),
                &ca_cert,
                Path::new("-rsigner"),
                &f.pki.join(&ca.ocsp_cert),
                Path::new("-rkey"),
                &f.pki.join(&ca.ocsp_key),
                Path::new("-reqin"),
                &req,
                Path::new("-respout"),
                &resp,
            ],
        );
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let root = f.pki.join(&f.manifest.trust_anchors[0]);
        let out = openssl(
            &["ocsp", "-respin"],
            &[
                &resp,
                Path::new("-issuer"),
                &ca_cert,
                Path::new("-cert"),
                &cert,
                Path::new("-CAfile"),
                &root,
                Path::new("-verify_other"),
                &ca_cert,
            ],
        );
        let text = String::from_utf8_lossy(&out.stdout);
        let expected = if person == "revoked" {
            "revoked"
        } else {
            "good"
        };
        assert!(text.contains(&format!(": {expected}")), "{person}: {text}");
        assert_eq!(row.starts_with('R'), person == "revoked");
        // The CRL lists exactly the revoked one.
        let crl = openssl(
            &["crl", "-inform", "DER", "-noout", "-text", "-in"],
            &[&f.pki.join(&ca.crl)],
        );
        let crl_text = String::from_utf8_lossy(&crl.stdout);
        assert_eq!(
            crl_text.contains(&t.cert_serial),
            person == "revoked",
            "{person}: {crl_text}"
        );
    }
}

/// Stale fixtures are not made again while a test holds them: the test's PKI survives a
/// second `Fixtures` that finds them stale.
#[test]
fn fixtures_in_use_are_never_remade_under_the_test() {
    let held = Fixtures::shared_pki();
    let root = kyso_tests::bin_dir().join("kyso-test-fixtures");
    let complete = root.join(".complete");
    let marker = held.pki.join("in-use-marker");
    std::fs::write(&marker, b"").unwrap();
    let set_age = |ago: std::time::Duration| {
        std::fs::File::options()
            .write(true)
            .open(&complete)
            .unwrap()
            .set_modified(std::time::SystemTime::now() - ago)
            .unwrap();
    };
    set_age(std::time::Duration::from_secs(7 * 3600));
    let again = Fixtures::shared_pki();
    let survived = marker.exists();
    set_age(std::time::Duration::ZERO);
    let _ = std::fs::remove_file(&marker);
    assert!(survived, "the fixtures were remade under a running test");
    assert_eq!(again.pki, held.pki);
}

/// A token of its own, made with SoftHSM's and OpenSC's tools as some CAs ship theirs:
/// keys of a type the agent cannot sign with (P-521), each under a certificate of its own,
/// and the CA's certificate stored under the holder's own key id before the holder's
/// certificate. The agent passes over all of it to the holder's certificate, with or
/// without a certificate id, and its signature verifies against that certificate.
#[test]
fn the_agent_finds_the_signer_past_unusable_keys_and_a_ca_certificate_under_its_id() {
    let f = Fixtures::shared_pki();
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("tokens");
    std::fs::create_dir(&store).unwrap();
    let conf = dir.path().join("softhsm2.conf");
    std::fs::write(
        &conf,
        format!(
            "directories.tokendir = {}\nobjectstore.backend = file\nlog.level = ERROR\nslots.removable = false\n",
            store.display()
        ),
    )
    .unwrap();
    let tool = |program: &str, args: &[&str]| {
        let mut cmd = Command::new(program);
        cmd.env("SOFTHSM2_CONF", &conf).args(args);
        let out = run(&mut cmd);
        assert!(
            out.status.success(),
            "{program} {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    tool(
        "softhsm2-util",
        &[
            "--init-token",
            "--free",
            "--label",
            "mixed",
            "--so-pin",
            "12345678",
            "--pin",
            "123456",
        ],
    );
    let on_token = |args: &[&str]| {
        let mut all = vec![
            "--module",
            MODULE,
            "--token-label",
            "mixed",
            "--login",
            "--pin",
            "123456",
        ];
        all.extend_from_slice(args);
        tool("pkcs11-tool", &all);
    };
    let path = |rel: &str| f.pki.join(rel).display().to_string();
    let holder = f.manifest.person("citizen-cccd").unwrap();
    let other = f.manifest.person("citizen-ec").unwrap();
    let ca_der = dir.path().join("ca.der");
    let ca_pem = path(&f.manifest.ca("vnpt").unwrap().cert);
    let ca_der_path = ca_der.display().to_string();
    tool(
        "openssl",
        &[
            "x509",
            "-in",
            &ca_pem,
            "-outform",
            "DER",
            "-out",
            &ca_der_path,
        ],
    );
    let key_der = dir.path().join("key.der").display().to_string();
    tool(
        "openssl",
        &[
            "pkey",
            "-in",
            &path(&holder.key_file),
            "-outform",
            "DER",
            "-out",
            &key_der,
        ],
    );
    for id in ["01", "03", "04"] {
        on_token(&[
            "--keypairgen",
            "--key-type",
            "EC:secp521r1",
            "--id",
            id,
            "--label",
            "p521",
        ]);
        on_token(&[
            "--write-object",
            &path(&other.cert_der),
            "--type",
            "cert",
            "--id",
            id,
        ]);
    }
    on_token(&[
        "--write-object",
        &ca_der_path,
        "--type",
        "cert",
        "--id",
        "02",
        "--label",
        "ca",
    ]);
    on_token(&[
        "--write-object",
        &key_der,
        "--type",
        "privkey",
        "--id",
        "02",
        "--label",
        "holder",
    ]);
    on_token(&[
        "--write-object",
        &path(&holder.cert_der),
        "--type",
        "cert",
        "--id",
        "02",
        "--label",
        "holder",
    ]);

    let holder_der = std::fs::read(f.pki.join(&holder.cert_der)).unwrap();
    // `kyso-shim authenticate` on the token, with `--cert ID` if given.
    let sign = |chosen: Option<&str>| {
        let mut cmd = Command::new(kyso_tests::bin_dir().join("kyso-shim"));
        cmd.env("SOFTHSM2_CONF", &conf)
            .env("KYSO_SHIM_PIN", "123456")
            .args(["authenticate", "--origin", ORIGIN, "--nonce", NONCE])
            .args(["--token", "mixed"]);
        if let Some(id) = chosen {
            cmd.args(["--cert", id]);
        }
        run(&mut cmd)
    };
    for chosen in [None, Some("02")] {
        let out = sign(chosen);
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "{chosen:?}: {text} {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let token: AuthToken = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(
            STANDARD.decode(&token.unverified_certificate).unwrap(),
            holder_der,
            "{chosen:?}: not the holder's certificate"
        );
        let algorithm = SignatureAlgorithm::from_name(&token.algorithm).unwrap();
        UnparsedPublicKey::new(
            verification_algorithm(KeyKind::Rsa2048),
            subject_public_key(&holder_der),
        )
        .verify(
            &signed_data(algorithm, ORIGIN, NONCE),
            &STANDARD.decode(&token.signature).unwrap(),
        )
        .unwrap_or_else(|_| panic!("{chosen:?}: the signature does not verify"));
    }
    // A certificate id whose only key the agent cannot use: NO_CERTIFICATE, saying why.
    let out = sign(Some("01"));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(!out.status.success());
    assert!(
        text.contains("NO_CERTIFICATE") && text.contains("cannot sign with"),
        "{text}"
    );
}
