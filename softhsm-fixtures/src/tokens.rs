//! `kyso-fixtures provision`: one SoftHSM token per token person, and `tokens.json`. Each
//! token holds the person's key pair and certificate under one `CKA_ID`, and the
//! certificates of the CAs above it under others, with no key.

use crate::pkcs11::{Module, ProvisionError, generate_key, store_certificate};
use kyso_certs::Pki;
use kyso_certs::keys::KeyKind;
use kyso_certs::manifest::{Manifest, Medium};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use time::OffsetDateTime;

/// File name of the token list inside the output folder.
pub const TOKENS_FILE: &str = "tokens.json";
/// User PIN of every test token (Vietnamese CAs ship tokens with an eight-digit PIN).
const USER_PIN: &str = "12345678";
/// Security-officer PIN of every test token.
const SO_PIN: &str = "87654321";
/// `CKA_ID` of the person's key and certificate on their token.
const KEY_ID: [u8; 2] = [0x4b, 0x01];
/// First byte of the `CKA_ID`s of the CA certificates on a token (no key beside them).
const CA_ID: u8 = 0xca;

/// `tokens.json`: what was provisioned.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TokensFile {
    /// The `SOFTHSM2_CONF` to use with these tokens.
    pub softhsm2_conf: String,
    /// The PKCS#11 module.
    pub module: String,
    /// One entry per token.
    pub tokens: Vec<TokenEntry>,
}

/// One provisioned token.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TokenEntry {
    /// The manifest person this token belongs to.
    pub person: String,
    /// Token label (= person id); tokens are found by label or serial, never by slot.
    pub label: String,
    /// Token serial as the token reports it.
    pub serial: String,
    /// User PIN.
    pub user_pin: String,
    /// `CKA_ID` of the key pair and certificate, lowercase hex.
    pub key_id: String,
    /// `CKA_LABEL` of the key pair and certificate.
    pub key_label: String,
    /// Key type.
    pub key: KeyKind,
    /// The certificate issued for the token's key, PEM, relative to the output folder.
    pub cert: String,
    /// Serial of that certificate, uppercase hex.
    pub cert_serial: String,
    /// The manifest's verdict for this person.
    pub verdict: kyso_certs::Verdict,
}

impl TokensFile {
    /// The token of manifest person `person`, if one was provisioned.
    pub fn of(&self, person: &str) -> Option<&TokenEntry> {
        self.tokens.iter().find(|t| t.person == person)
    }

    /// Reads `DIR/tokens.json`.
    pub fn load(dir: &Path) -> Result<Self, ProvisionError> {
        let path = dir.join(TOKENS_FILE);
        let text = std::fs::read_to_string(&path).map_err(|source| ProvisionError::Io {
            path: path.clone(),
            source,
        })?;
        serde_json::from_str(&text)
            .map_err(|e| ProvisionError::Unexpected(format!("{}: {e}", path.display())))
    }
}

fn write(path: &Path, bytes: impl AsRef<[u8]>) -> Result<(), ProvisionError> {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).map_err(|source| ProvisionError::Io {
            path: parent.to_owned(),
            source,
        })?;
    }
    std::fs::write(path, bytes).map_err(|source| ProvisionError::Io {
        path: path.to_owned(),
        source,
    })
}

/// Writes `DIR/softhsm2.conf` with its token directory `DIR/softhsm-tokens` (emptied, so a
/// second run starts from no tokens) and returns the conf's path.
pub fn write_softhsm_conf(out: &Path) -> Result<PathBuf, ProvisionError> {
    let out = std::path::absolute(out).map_err(|source| ProvisionError::Io {
        path: out.to_owned(),
        source,
    })?;
    let token_dir = out.join("softhsm-tokens");
    if token_dir.exists() {
        std::fs::remove_dir_all(&token_dir).map_err(|source| ProvisionError::Io {
            path: token_dir.clone(),
            source,
        })?;
    }
    std::fs::create_dir_all(&token_dir).map_err(|source| ProvisionError::Io {
        path: token_dir.clone(),
        source,
    })?;
    let conf = out.join("softhsm2.conf");
    write(
        &conf,
        format!(
            "# Written by kyso-fixtures: test tokens only, never the system token store.\n\
             directories.tokendir = {}\nobjectstore.backend = file\nlog.level = ERROR\nslots.removable = false\n",
            token_dir.display()
        ),
    )?;
    Ok(conf)
}

/// Provisions a token for every token person of the PKI in `pki_dir` into `out`, using
/// the PKCS#11 `module`. `SOFTHSM2_CONF` must already name `out/softhsm2.conf`.
/// `progress` hears about each token.
pub fn provision(
    pki_dir: &Path,
    out: &Path,
    module: &str,
    now: OffsetDateTime,
    progress: &mut dyn FnMut(&str),
) -> Result<TokensFile, ProvisionError> {
    let manifest = Manifest::load(pki_dir)?;
    let mut pki = Pki::open(pki_dir, now)?;
    let module_handle = Module::load(module)?;
    let mut tokens = Vec::new();
    for person in manifest
        .persons
        .iter()
        .filter(|p| p.medium == Medium::Token)
    {
        progress(&format!("token {} ({})", person.id, person.key.name()));
        let profile = kyso_certs::profiles::find(&person.id)?;
        let (slot, serial) = module_handle.create_token(&person.id, SO_PIN, USER_PIN)?;
        let session = module_handle.user_session(slot, USER_PIN)?;
        // As Vietnamese CAs ship their tokens: the CA certificates first, then the
        // holder's key and certificate. An agent must not take the first certificate it
        // finds for the signer's.
        for (n, ca_der) in pki.path_of(profile.issuer)?.iter().enumerate() {
            let n = u8::try_from(n).map_err(|_| ProvisionError::Unexpected("CA path".into()))?;
            store_certificate(&session, ca_der, &[CA_ID, n], &format!("CA {n}"))?;
        }
        let spki = generate_key(&session, person.key, &KEY_ID, &person.id)?;
        let issued = pki.issue_person(&profile, &spki)?;
        store_certificate(&session, &issued.der, &KEY_ID, &person.id)?;
        let cert = format!("certs/{}.pem", person.id);
        write(
            &out.join(&cert),
            pem::encode(&pem::Pem::new("CERTIFICATE", issued.der)),
        )?;
        tokens.push(TokenEntry {
            person: person.id.clone(),
            label: person.id.clone(),
            serial,
            user_pin: USER_PIN.to_owned(),
            key_id: hex::encode(KEY_ID),
            key_label: person.id.clone(),
            key: person.key,
            cert,
            cert_serial: issued.serial_hex,
            verdict: person.verdict,
        });
    }
    let file = TokensFile {
        softhsm2_conf: out.join("softhsm2.conf").display().to_string(),
        module: module.to_owned(),
        tokens,
    };
    let json = serde_json::to_string_pretty(&file)
        .map_err(|e| ProvisionError::Unexpected(e.to_string()))?;
    write(&out.join(TOKENS_FILE), json)?;
    Ok(file)
}
