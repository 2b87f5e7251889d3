//! The real `kyso-mssp-sim` binary: `serve` over a `kyso-certs generate` folder, and the
//! `phone` subcommands against it; configuration errors; SIGTERM.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use kyso_proto::mss::{SignatureRequest, SignatureStatus};
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};

const BIN: &str = env!("CARGO_BIN_EXE_kyso-mssp-sim");
const SECRET: &str = "s3cret-ap-key";
const PIN: &str = "8642097531";

struct Server {
    child: Child,
    url: String,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start(config: &Path, log: &Path) -> Server {
    let mut child = Command::new(BIN)
        .args(["serve", "--config"])
        .arg(config)
        .env("KYSO_LOG", "debug")
        .stdout(Stdio::piped())
        .stderr(std::fs::File::create(log).unwrap())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let url = line
        .trim()
        .strip_prefix("kyso-mssp-sim listening on ")
        .unwrap_or_else(|| panic!("first line {line:?}"))
        .to_owned();
    Server { child, url }
}

fn phone(url: &str, args: &[&str]) -> (i32, String, String) {
    let out: Output = Command::new(BIN)
        .arg("phone")
        .args(args)
        .args(["--url", url])
        .env_remove("KYSO_MSSP_SIM_PIN")
        .output()
        .unwrap();
    (
        out.status.code().unwrap(),
        String::from_utf8(out.stdout).unwrap(),
        String::from_utf8(out.stderr).unwrap(),
    )
}

fn submit(url: &str, msisdn: &str, nonce: &str) -> (String, Vec<u8>) {
    let data = kyso_proto::mss::sim_signed_data("https://dichvucong.test", nonce, "Mã 1234");
    let req = SignatureRequest {
        ap_trans_id: nonce.into(),
        msisdn: msisdn.into(),
        data_to_be_signed: STANDARD.encode(&data),
        data_to_be_displayed: "Mã 1234".into(),
        timeout_s: 60,
    };
    let a: kyso_proto::mss::SignatureAccepted = ap_client::post(url, &req);
    assert_eq!(a.status.code, 100, "{a:?}");
    (a.mssp_trans_id.unwrap(), data)
}

/// A tiny blocking JSON client over std, so this test needs no extra dependency.
mod ap_client {
    use base64::Engine;
    use std::io::{Read, Write};

    fn call(url: &str, method: &str, path: &str, body: &str) -> String {
        let host = url.strip_prefix("http://").unwrap();
        let mut s = std::net::TcpStream::connect(host).unwrap();
        let auth =
            base64::engine::general_purpose::STANDARD.encode(format!("gateway:{}", super::SECRET));
        write!(
            s,
            "{method} {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\
             Authorization: Basic {auth}\r\nContent-Type: application/json\r\n\
             Content-Length: {}\r\n\r\n{body}",
            body.len()
        )
        .unwrap();
        let mut raw = String::new();
        s.read_to_string(&mut raw).unwrap();
        let (head, body) = raw.split_once("\r\n\r\n").unwrap();
        assert!(head.starts_with("HTTP/1.1 200"), "{head}");
        body.to_owned()
    }

    pub fn post<T: serde::de::DeserializeOwned>(url: &str, req: &impl serde::Serialize) -> T {
        let body = serde_json::to_string(req).unwrap();
        serde_json::from_str(&call(url, "POST", "/mss/v1/signature", &body)).unwrap()
    }

    pub fn get<T: serde::de::DeserializeOwned>(url: &str, path: &str) -> T {
        serde_json::from_str(&call(url, "GET", path, "")).unwrap()
    }
}

fn status(url: &str, id: &str, wait_ms: u64) -> SignatureStatus {
    ap_client::get(url, &format!("/mss/v1/signature/{id}?wait_ms={wait_ms}"))
}

#[test]
fn serve_and_the_phone_commands() {
    let dir = tempfile::tempdir().unwrap();
    let pki = dir.path().join("pki");
    let manifest =
        kyso_certs::generate(&kyso_certs::GenerateOptions::new(&pki), &mut |_| {}).unwrap();
    let config = dir.path().join("sim.toml");
    // `pki` is relative to the configuration file.
    std::fs::write(
        &config,
        format!(
            "listen = \"127.0.0.1:0\"\npki = \"pki\"\npin = \"{PIN}\"\nauto_answer_ms = 100\n\
             [[ap]]\nid = \"gateway\"\nsecret = \"{SECRET}\"\n"
        ),
    )
    .unwrap();
    let log = dir.path().join("sim.log");
    let server = start(&config, &log);
    let url = server.url.clone();

    // Nothing pending: list is an empty array, confirm has nothing to act on.
    let (code, out, _) = phone(&url, &["0912000001", "list"]);
    assert_eq!(code, 0);
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&out).unwrap(),
        serde_json::json!([])
    );
    let (code, _, err) = phone(&url, &["0912000001", "confirm", "--pin", PIN]);
    assert_eq!(code, 1, "{err}");

    let (id, data) = submit(&url, "+84912000001", "nonce-1");
    let (code, out, _) = phone(&url, &["+84912000001", "list"]);
    assert_eq!(code, 0);
    let listed: Vec<kyso_proto::mss::PendingRequest> = serde_json::from_str(&out).unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].id, id);
    assert_eq!(
        Some(listed[0].verification_code.clone()),
        kyso_proto::mss::verification_code_of_signed_data(&data)
    );

    let (code, out, _) = phone(&url, &["84912000001", "confirm", "--pin", "0000"]);
    assert_eq!(code, 1);
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&out).unwrap(),
        serde_json::json!({"result": "PIN_INCORRECT", "tries_left": 2})
    );
    let (code, out, _) = phone(&url, &["0912000001", "confirm", "--pin", PIN, "--id", &id]);
    assert_eq!(code, 0, "{out}");
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&out).unwrap(),
        serde_json::json!({"result": "SIGNED"})
    );
    let st = status(&url, &id, 5000);
    assert_eq!(st.status.code, 500);
    assert_eq!(st.algorithm.as_deref(), Some("RS256"));
    // The chain is the person's certificate from the test PKI, then its issuing CA.
    let person = manifest.person("sim-citizen").unwrap();
    let cert = pem::parse(std::fs::read(pki.join(&person.cert)).unwrap()).unwrap();
    let ca = pem::parse(std::fs::read(pki.join(&person.chain)).unwrap()).unwrap();
    let chain: Vec<Vec<u8>> = st
        .certificate_chain
        .iter()
        .map(|c| STANDARD.decode(c).unwrap())
        .collect();
    assert_eq!(
        chain,
        vec![cert.contents().to_vec(), ca.contents().to_vec()]
    );
    let (_, parsed) = x509_parser::parse_x509_certificate(cert.contents()).unwrap();
    aws_lc_rs::signature::UnparsedPublicKey::new(
        &aws_lc_rs::signature::RSA_PKCS1_2048_8192_SHA256,
        parsed.public_key().subject_public_key.data.to_vec(),
    )
    .verify(&data, &STANDARD.decode(st.signature.unwrap()).unwrap())
    .unwrap();

    // The EC citizen refuses.
    let (id, _) = submit(&url, "+84912000002", "nonce-2");
    let (code, out, _) = phone(&url, &["+84912000002", "reject"]);
    assert_eq!(code, 0);
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&out).unwrap(),
        serde_json::json!({"result": "REJECTED"})
    );
    assert_eq!(status(&url, &id, 5000).status.code, 401);
    let (code, out, _) = phone(&url, &["+84912000002", "reject", "--id", &id]);
    assert_eq!(code, 1);
    assert!(out.contains("NOT_FOUND"), "{out}");

    // An automatic number from the test PKI works too.
    let (id, _) = submit(&url, "+84913000010", "nonce-3");
    let st = status(&url, &id, 0);
    assert_eq!(st.status.code, 504, "slow_answer_ms is 3000 by default");
    assert_eq!(st.ap_trans_id, "nonce-3");

    // Usage and connection errors: exit 2.
    let (code, _, _) = phone("http://127.0.0.1:1", &["0912000001", "list"]);
    assert_eq!(code, 2);
    let (code, _, _) = phone(&url, &["0912000001", "confirm"]);
    assert_eq!(code, 2, "--pin is required");

    // SIGTERM: a graceful exit.
    let mut server = server;
    let killed = Command::new("kill")
        .args(["-TERM", &server.child.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let exit = server.child.wait().unwrap();
    assert!(exit.success(), "{exit:?}");
    let log = std::fs::read_to_string(&log).unwrap();
    assert!(log.contains("signature request accepted"), "{log}");
    assert!(
        !log.contains(SECRET) && !log.contains(PIN),
        "secrets in the log: {log}"
    );
}

#[test]
fn configuration_errors_exit_2_naming_the_key() {
    let dir = tempfile::tempdir().unwrap();
    for (text, key) in [
        (
            "pki = \".\"\nlisten_on = \"x\"\n[[ap]]\nid = \"a\"\nsecret = \"b\"\n",
            "listen_on",
        ),
        ("pki = \".\"\n", "ap"),
        (
            "pki = \"missing\"\n[[ap]]\nid = \"a\"\nsecret = \"b\"\n",
            "pki",
        ),
    ] {
        let path = dir.path().join("bad.toml");
        std::fs::write(&path, text).unwrap();
        let out = Command::new(BIN)
            .args(["serve", "--config"])
            .arg(&path)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "{text}");
        assert!(out.stdout.is_empty());
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(key), "{text}: {err}");
    }
}
