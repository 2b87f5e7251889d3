//! `manifest.json`: what `kyso-certs generate` made and what the gateway must say of it.
//!
//! Tests, the SoftHSM provisioner and the demo read this file rather than the code's
//! catalogue, so a generated folder is self-describing. Paths are relative to the folder.

use crate::error::{Error, Result, io_at};
use crate::keys::KeyKind;
pub use kyso_verify::error::ErrorCode;
use serde::{Deserialize, Serialize};
use std::path::Path;
use time::OffsetDateTime;

/// File name of the manifest inside the output folder.
pub const MANIFEST_FILE: &str = "manifest.json";

/// The whole generated PKI.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Manifest {
    /// The generation time every validity period is relative to.
    #[serde(with = "time::serde::rfc3339")]
    pub generated_at: OffsetDateTime,
    /// Base URL that AIA (OCSP, caIssuers) and CRLDP URLs point under.
    pub base_url: String,
    /// A second base each OCSP URL and CRL distribution point is listed under too.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mirror_url: Option<String>,
    /// Certificates the gateway should trust (the national root).
    pub trust_anchors: Vec<String>,
    /// Intermediate CA certificates the gateway may be configured with.
    pub intermediates: Vec<String>,
    /// Every CA, trusted or not.
    pub cas: Vec<CaEntry>,
    /// Every test person.
    pub persons: Vec<PersonEntry>,
}

/// One certification authority and the files around it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CaEntry {
    /// Short id (`root`, `vnpt`, `viettel`, `untrusted`).
    pub id: String,
    /// Human name (the CN).
    pub name: String,
    /// Id of the CA that issued this one; `None` for self-signed roots.
    pub parent: Option<String>,
    /// Whether the CA chains to a trust anchor.
    pub trusted: bool,
    /// Key type of the CA.
    pub key: KeyKind,
    /// CA certificate, PEM.
    pub cert: String,
    /// CA private key, PKCS#8 PEM (test material only).
    pub key_file: String,
    /// OCSP responder certificate (id-kp-OCSPSigning, issued by this CA), PEM.
    pub ocsp_cert: String,
    /// OCSP responder private key, PKCS#8 PEM.
    pub ocsp_key: String,
    /// Current CRL, DER.
    pub crl: String,
    /// OpenSSL CA database, for `openssl ocsp -index`.
    pub index: String,
    /// URL the OCSP responder is expected at (as written in AIA).
    pub ocsp_url: String,
    /// URL the CRL is expected at (as written in CRLDP).
    pub crl_url: String,
}

/// How a person signs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Medium {
    /// A USB token (provisioned into SoftHSM by `kyso-fixtures`).
    Token,
    /// A signing SIM (served by the MSSP simulator).
    Sim,
}

/// One end-entity certificate and its expected fate.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PersonEntry {
    /// Stable id.
    pub id: String,
    /// What this profile exercises.
    pub description: String,
    /// Issuing CA id.
    pub issuer: String,
    /// USB token or signing SIM.
    pub medium: Medium,
    /// Key type.
    pub key: KeyKind,
    /// Certificate, PEM.
    pub cert: String,
    /// Certificate, DER.
    pub cert_der: String,
    /// Private key, PKCS#8 PEM (file-based copy; token persons get their own key on the token).
    pub key_file: String,
    /// Intermediates from the issuer up to (not including) the root, PEM.
    pub chain: String,
    /// Serial number, uppercase hex.
    pub serial: String,
    /// E.164 phone number (SIM persons).
    pub phone: Option<String>,
    /// Whether the CA has revoked this certificate.
    pub revoked: bool,
    /// Whether the CA's database (and so its OCSP responder) knows this certificate.
    #[serde(default = "known")]
    pub known_to_ca: bool,
    /// `ok` or the gateway's error code with revocation checking on (design §6).
    pub verdict: Verdict,
    /// What the gateway must read from the certificate, when it must read something.
    pub identity: Option<ExpectedIdentity>,
    /// Another person id that is the same holder (renewal, legacy CMND certificate).
    pub same_holder_as: Option<String>,
}

/// The identity preview the gateway must produce (design §4 `subject`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExpectedIdentity {
    /// `citizen` or `organization`.
    #[serde(rename = "type")]
    pub subject_type: String,
    /// The account key.
    pub identifier: Identifier,
    /// Other personal identifiers in the certificate.
    pub aliases: Vec<Identifier>,
    /// The holder's name (CN).
    pub full_name: String,
    /// The organization (O), when there is one.
    pub organization: Option<String>,
}

/// A typed identifier such as `CCCD 001090012345`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Identifier {
    /// `CCCD`, `CMND` or `MST`.
    pub kind: String,
    /// The canonical value.
    pub value: String,
}

/// What the gateway must answer for a certificate: `ok`, or a refusal with this code.
/// Written to the manifest as `"ok"` or the code's wire name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Accepted.
    Ok,
    /// Refused with this code.
    Refused(ErrorCode),
}

impl Verdict {
    /// The refusal's code, `None` when accepted.
    pub fn code(self) -> Option<ErrorCode> {
        match self {
            Self::Ok => None,
            Self::Refused(code) => Some(code),
        }
    }

    /// `ok` or the code's wire name.
    pub fn as_str(self) -> &'static str {
        self.code().map_or("ok", ErrorCode::as_str)
    }
}

impl Serialize for Verdict {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for Verdict {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        let name = String::deserialize(d)?;
        if name == "ok" {
            return Ok(Self::Ok);
        }
        ErrorCode::from_name(&name)
            .map(Self::Refused)
            .ok_or_else(|| serde::de::Error::custom(format!("unknown verdict {name:?}")))
    }
}

fn known() -> bool {
    true
}

impl PersonEntry {
    /// The verdict when revocation checking is off: the revoked and the unknown-to-its-CA
    /// certificates then pass.
    pub fn verdict_without_revocation(&self) -> Verdict {
        match self.verdict {
            Verdict::Refused(ErrorCode::CertRevoked) => Verdict::Ok,
            other => other,
        }
    }
}

impl Manifest {
    /// Reads `DIR/manifest.json`.
    pub fn load(dir: &Path) -> Result<Self> {
        let path = dir.join(MANIFEST_FILE);
        let text = std::fs::read_to_string(&path).map_err(io_at(&path))?;
        serde_json::from_str(&text).map_err(|e| Error::BadFile {
            path,
            detail: e.to_string(),
        })
    }

    /// Writes `DIR/manifest.json`.
    pub fn save(&self, dir: &Path) -> Result<()> {
        let path = dir.join(MANIFEST_FILE);
        let text = serde_json::to_string_pretty(self).map_err(|e| Error::BadFile {
            path: path.clone(),
            detail: e.to_string(),
        })?;
        std::fs::write(&path, text).map_err(io_at(&path))
    }

    /// The person with this id.
    pub fn person(&self, id: &str) -> Result<&PersonEntry> {
        self.persons
            .iter()
            .find(|p| p.id == id)
            .ok_or_else(|| Error::Unknown {
                what: "person",
                name: id.to_owned(),
            })
    }

    /// The CA with this id.
    pub fn ca(&self, id: &str) -> Result<&CaEntry> {
        self.cas
            .iter()
            .find(|c| c.id == id)
            .ok_or_else(|| Error::Unknown {
                what: "CA",
                name: id.to_owned(),
            })
    }
}
