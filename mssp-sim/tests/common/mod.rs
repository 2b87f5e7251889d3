//! Shared by the simulator's in-process tests: a small test PKI made with rcgen (once per
//! test binary), a simulator over it served on 127.0.0.1:0, and an HTTP client.

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use aws_lc_rs::signature::{
    ECDSA_P256_SHA256_FIXED, RSA_PKCS1_2048_8192_SHA256, UnparsedPublicKey, VerificationAlgorithm,
};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use kyso_mssp_sim::config::ApConfig;
use kyso_mssp_sim::{Settings, SigningKey, SimHolder, Simulator};
use kyso_proto::mss::{SignatureAccepted, SignatureRequest, SignatureStatus};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

pub const AP1: (&str, &str) = ("gateway-1", "secret-one");
pub const AP2: (&str, &str) = ("gateway-2", "secret-two");
pub const PIN: &str = "246810";
pub const ORIGIN: &str = "https://dichvucong.test";

/// One test person: PKCS#8 key and DER certificates (signer, CA).
pub struct Person {
    pub id: &'static str,
    pub msisdn: &'static str,
    pub key_der: Vec<u8>,
    pub chain: Vec<Vec<u8>>,
}

fn make_pki() -> Vec<Person> {
    let ca_key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
    let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "Test SIM CA");
    let ca = rcgen::CertifiedIssuer::self_signed(ca_params, ca_key).unwrap();
    [
        ("sim-citizen", "+84912000001", true),
        ("sim-citizen-ec", "+84912000002", false),
        ("sim-enterprise", "+84912000003", true),
    ]
    .into_iter()
    .map(|(id, msisdn, rsa)| {
        let key = if rsa {
            rcgen::KeyPair::generate_rsa_for(&rcgen::PKCS_RSA_SHA256, rcgen::RsaKeySize::_2048)
                .unwrap()
        } else {
            rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap()
        };
        let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, id);
        let cert = params.signed_by(&key, &ca).unwrap();
        Person {
            id,
            msisdn,
            key_der: key.serialize_der(),
            chain: vec![cert.der().to_vec(), ca.der().to_vec()],
        }
    })
    .collect()
}

/// The test PKI, made once per test binary.
pub fn persons() -> &'static [Person] {
    static PKI: OnceLock<Vec<Person>> = OnceLock::new();
    PKI.get_or_init(make_pki)
}

pub fn person(id: &str) -> &'static Person {
    persons().iter().find(|p| p.id == id).unwrap()
}

pub fn settings() -> Settings {
    Settings {
        pin: PIN.into(),
        auto_answer: Duration::from_millis(50),
        slow_answer: Duration::from_millis(400),
        max_timeout_s: 120,
    }
}

pub fn simulator() -> Simulator {
    let holders = persons()
        .iter()
        .map(|p| {
            SimHolder::new(
                p.id,
                p.msisdn,
                SigningKey::from_pkcs8_der(&p.key_der).unwrap(),
                &p.chain,
            )
        })
        .collect();
    let aps = [AP1, AP2].map(|(id, secret)| ApConfig {
        id: id.into(),
        secret: secret.into(),
    });
    Simulator::new(settings(), &aps, holders).unwrap()
}

/// A simulator served over HTTP on a free loopback port.
pub struct Server {
    pub url: String,
    pub sim: Arc<Simulator>,
    pub http: reqwest::Client,
}

pub async fn serve() -> Server {
    let sim = Arc::new(simulator());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let app = kyso_mssp_sim::router(sim.clone());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    Server {
        url,
        sim,
        http: reqwest::Client::new(),
    }
}

/// The 96-byte SIM data for a fresh nonce, and its display text.
pub fn sim_data(nonce: &str) -> (Vec<u8>, String) {
    let data = kyso_proto::mss::sim_signed_data(ORIGIN, nonce, "text");
    let code = kyso_proto::mss::verification_code_of_signed_data(&data).unwrap();
    let text = format!("Đăng ký tài khoản dichvucong.test. Mã xác nhận: {code}");
    let data = kyso_proto::mss::sim_signed_data(ORIGIN, nonce, &text);
    (data, text)
}

pub fn request(ap_trans_id: &str, msisdn: &str, timeout_s: u32) -> (SignatureRequest, Vec<u8>) {
    let (data, text) = sim_data(ap_trans_id);
    (
        SignatureRequest {
            ap_trans_id: ap_trans_id.into(),
            msisdn: msisdn.into(),
            data_to_be_signed: STANDARD.encode(&data),
            data_to_be_displayed: text,
            timeout_s,
        },
        data,
    )
}

/// A unique ap_trans_id.
pub fn trans_id() -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    format!(
        "ap-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::SeqCst)
    )
}

impl Server {
    pub async fn post_raw(
        &self,
        path: &str,
        auth: Option<(&str, &str)>,
        body: Vec<u8>,
    ) -> reqwest::Response {
        let mut r = self
            .http
            .post(format!("{}{path}", self.url))
            .header("content-type", "application/json")
            .body(body);
        if let Some((id, secret)) = auth {
            r = r.basic_auth(id, Some(secret));
        }
        r.send().await.unwrap()
    }

    pub async fn get(&self, path: &str, auth: Option<(&str, &str)>) -> reqwest::Response {
        let mut r = self.http.get(format!("{}{path}", self.url));
        if let Some((id, secret)) = auth {
            r = r.basic_auth(id, Some(secret));
        }
        r.send().await.unwrap()
    }

    /// Submits as `ap`; asserts HTTP 200.
    pub async fn submit_as(&self, ap: (&str, &str), req: &SignatureRequest) -> SignatureAccepted {
        let r = self
            .post_raw(
                "/mss/v1/signature",
                Some(ap),
                serde_json::to_vec(req).unwrap(),
            )
            .await;
        assert_eq!(r.status(), 200);
        r.json().await.unwrap()
    }

    /// Submits as AP1 and returns the accepted transaction id.
    pub async fn start(&self, msisdn: &str, timeout_s: u32) -> (String, Vec<u8>) {
        let (req, data) = request(&trans_id(), msisdn, timeout_s);
        let a = self.submit_as(AP1, &req).await;
        assert_eq!(a.status.code, 100, "{a:?}");
        (a.mssp_trans_id.unwrap(), data)
    }

    pub async fn poll_as(&self, ap: (&str, &str), id: &str, wait_ms: u64) -> SignatureStatus {
        let r = self
            .get(
                &format!("/mss/v1/signature/{id}?wait_ms={wait_ms}"),
                Some(ap),
            )
            .await;
        assert_eq!(r.status(), 200);
        r.json().await.unwrap()
    }

    /// Polls until the transaction ends (each poll waits up to 10 s).
    pub async fn outcome(&self, id: &str) -> SignatureStatus {
        for _ in 0..12 {
            let s = self.poll_as(AP1, id, 10_000).await;
            if s.status.code != 504 {
                return s;
            }
        }
        panic!("transaction {id} never ended");
    }

    pub async fn device(
        &self,
        path: &str,
        body: Option<serde_json::Value>,
    ) -> (u16, serde_json::Value) {
        let url = format!("{}/device/v1/{path}", self.url);
        let r = match body {
            Some(b) => self.http.post(url).json(&b).send().await.unwrap(),
            None if path.ends_with("/reject") => self.http.post(url).send().await.unwrap(),
            None => self.http.get(url).send().await.unwrap(),
        };
        (r.status().as_u16(), r.json().await.unwrap())
    }

    pub async fn confirm(&self, msisdn: &str, id: &str, pin: &str) -> (u16, serde_json::Value) {
        self.device(
            &format!("{}/requests/{id}/confirm", enc(msisdn)),
            Some(serde_json::json!({ "pin": pin })),
        )
        .await
    }

    pub async fn reject(&self, msisdn: &str, id: &str) -> (u16, serde_json::Value) {
        self.device(&format!("{}/requests/{id}/reject", enc(msisdn)), None)
            .await
    }

    pub async fn pending(&self, msisdn: &str) -> Vec<kyso_proto::mss::PendingRequest> {
        let (status, json) = self
            .device(&format!("{}/requests", enc(msisdn)), None)
            .await;
        assert_eq!(status, 200, "{json}");
        serde_json::from_value(json).unwrap()
    }
}

/// `+` percent-encoded for a path.
pub fn enc(msisdn: &str) -> String {
    msisdn.replace('+', "%2B")
}

/// The public key of a DER certificate and the aws-lc-rs algorithm for `alg`.
pub fn verify(cert_der: &[u8], alg: &str, data: &[u8], signature: &[u8]) -> bool {
    let (_, cert) = x509_parser::parse_x509_certificate(cert_der).unwrap();
    let key = cert.public_key().subject_public_key.data.to_vec();
    let algorithm: &'static dyn VerificationAlgorithm = match alg {
        "RS256" => &RSA_PKCS1_2048_8192_SHA256,
        "ES256" => &ECDSA_P256_SHA256_FIXED,
        other => panic!("algorithm {other}"),
    };
    UnparsedPublicKey::new(algorithm, key)
        .verify(data, signature)
        .is_ok()
}

/// Decodes a returned chain.
pub fn chain_of(status: &SignatureStatus) -> Vec<Vec<u8>> {
    status
        .certificate_chain
        .iter()
        .map(|c| STANDARD.decode(c).unwrap())
        .collect()
}

pub fn signature_of(status: &SignatureStatus) -> Vec<u8> {
    STANDARD.decode(status.signature.as_ref().unwrap()).unwrap()
}
