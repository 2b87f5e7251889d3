//! Synthetic citizens for load and crash tests: a fresh test PKI and N certificates with
//! distinct CCCDs over one software key, and a complete USB-token registration over
//! HTTP (challenge, sign, preview, confirm) for any of them.

use crate::processes::{ORIGIN, Reply, try_post};
use crate::signer::FileSigner;
use kyso_certs::der::{Attribute, OID_COMMON_NAME, OID_COUNTRY, OID_UID, StringKind};
use kyso_certs::keys::{self, KeyKind};
use kyso_certs::{GenerateOptions, Manifest, Pki, generate};
use serde_json::json;
use std::path::PathBuf;
use std::sync::Arc;

/// A PKI and `certs.len()` citizens whose keys are all `signer`'s.
pub struct Citizens {
    /// Holds the PKI.
    pub dir: tempfile::TempDir,
    /// The PKI's folder.
    pub pki: PathBuf,
    /// Its manifest.
    pub manifest: Manifest,
    /// Signs for every citizen.
    pub signer: Arc<FileSigner>,
    /// Citizen `i`'s certificate (CCCD `00109` followed by `i` in seven digits), DER.
    pub certs: Vec<Vec<u8>>,
}

impl Citizens {
    /// Generates the PKI and `n` citizens with `key` keys.
    pub fn issue(n: usize, key: KeyKind) -> Self {
        Self::issue_at(None, n, key, 0)
    }

    /// `n` citizens with `key` keys, numbered from `first`, issued by the PKI in `pki`
    /// (made there when it has none: gateways started elsewhere can then trust it), or
    /// by a fresh one.
    pub fn issue_at(pki: Option<&std::path::Path>, n: usize, key: KeyKind, first: usize) -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let pki_dir = pki.map_or_else(|| dir.path().join("pki"), ToOwned::to_owned);
        let manifest = match Manifest::load(&pki_dir) {
            Ok(m) => m,
            Err(_) => generate(&GenerateOptions::new(&pki_dir), &mut |_| {}).expect("PKI"),
        };
        let mut pki = Pki::open(&pki_dir, manifest.generated_at).expect("open PKI");
        let kind = key;
        let key = keys::generate(kind).expect("key");
        let signer = Arc::new(FileSigner::from_pkcs8(kind, &key.pkcs8_der));
        let template = kyso_certs::profiles::find("citizen-cccd").expect("citizen profile");
        let certs = (first..first + n)
            .map(|i| {
                let profile = kyso_certs::profiles::PersonProfile {
                    subject: vec![
                        Attribute {
                            oid: OID_COUNTRY,
                            kind: StringKind::Printable,
                            value: "VN".into(),
                        },
                        Attribute {
                            oid: OID_COMMON_NAME,
                            kind: StringKind::Utf8,
                            value: format!("Công dân thử tải {i}"),
                        },
                        Attribute {
                            oid: OID_UID,
                            kind: StringKind::Utf8,
                            value: format!("CCCD:{}", cccd(i)),
                        },
                    ],
                    ..template.clone()
                };
                pki.issue_unsaved(&profile, &key.spki_der)
                    .expect("certificate")
                    .der
            })
            .collect();
        pki.save("vnpt").expect("save PKI");
        Self {
            dir,
            pki: pki_dir,
            manifest,
            signer,
            certs,
        }
    }

    /// Registers citizen `i` at the gateway `url`: the account id, or what went wrong
    /// (a refusal's status and code, or the connection's failure).
    pub fn register(&self, url: &str, i: usize) -> Result<String, Failure> {
        self.register_over(&mut |path, body| try_post(&format!("{url}{path}"), body), i)
    }

    /// A challenge, signed and previewed at `url` for citizen `i`: the ticket.
    pub fn ticket(&self, url: &str, i: usize) -> Result<String, Failure> {
        self.ticket_over(&mut |path, body| try_post(&format!("{url}{path}"), body), i)
    }

    /// [`Self::register`] with `post(path, body)` sending each request (a keep-alive
    /// connection, say).
    pub fn register_over(&self, post: &mut Post<'_>, i: usize) -> Result<String, Failure> {
        let ticket = self.ticket_over(post, i)?;
        let r = post(&format!("/v1/registrations/{ticket}/confirm"), &json!({}))?;
        match (r.status, r.json["account_id"].as_str()) {
            (201, Some(id)) => Ok(id.to_owned()),
            _ => Err(r.into()),
        }
    }

    /// [`Self::ticket`] with `post(path, body)` sending each request.
    pub fn ticket_over(&self, post: &mut Post<'_>, i: usize) -> Result<String, Failure> {
        let c = post("/v1/challenges", &json!({ "purpose": "register" }))?;
        if c.status != 201 {
            return Err(c.into());
        }
        let nonce = c.json["nonce"].as_str().unwrap_or_default();
        let token = self.signer.token(&self.certs[i], ORIGIN, nonce);
        let p = post(
            "/v1/registrations/token",
            &json!({ "challenge_id": c.json["challenge_id"], "auth_token": token }),
        )?;
        match (p.status, p.json["ticket"].as_str()) {
            (200, Some(t)) => Ok(t.to_owned()),
            _ => Err(p.into()),
        }
    }
}

/// Sends one POST of a registration: `(path, JSON body)` to the answer.
pub type Post<'a> = dyn FnMut(&str, &serde_json::Value) -> Result<Reply, String> + 'a;

/// Why a registration did not complete.
#[derive(Debug)]
pub enum Failure {
    /// The gateway answered with a refusal.
    Refused(Reply),
    /// The connection failed (the gateway is down or was killed mid-request).
    Transport(String),
}

impl From<Reply> for Failure {
    fn from(r: Reply) -> Self {
        Self::Refused(r)
    }
}

impl From<String> for Failure {
    fn from(e: String) -> Self {
        Self::Transport(e)
    }
}

/// Citizen `i`'s CCCD.
pub fn cccd(i: usize) -> String {
    format!("00109{i:07}")
}
