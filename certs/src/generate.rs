//! `kyso-certs generate`: the whole test PKI and its manifest, in one call.

use crate::error::Result;
use crate::hierarchy::{CA_SPECS, Pki};
use crate::keys;
use crate::manifest::{Manifest, PersonEntry};
use crate::profiles::{Defect, catalogue};
use std::path::{Path, PathBuf};
use time::OffsetDateTime;

/// Base URL written into AIA and CRLDP unless the caller names another.
pub const DEFAULT_BASE_URL: &str = "http://127.0.0.1:18980";

/// What to generate and where.
#[derive(Debug, Clone)]
pub struct GenerateOptions {
    /// Output folder; created if missing. Anything already there is overwritten.
    pub out: PathBuf,
    /// Base URL for OCSP, CRL and CA-certificate URLs.
    pub base_url: String,
    /// A mirror: every certificate also lists its OCSP and CRL URLs under this base.
    pub mirror_url: Option<String>,
    /// The generation time; every validity period is relative to it.
    pub now: OffsetDateTime,
}

impl GenerateOptions {
    /// Generation into `out` at the current time with the default base URL.
    pub fn new(out: impl Into<PathBuf>) -> Self {
        Self {
            out: out.into(),
            base_url: DEFAULT_BASE_URL.to_owned(),
            mirror_url: None,
            now: OffsetDateTime::now_utc(),
        }
    }
}

fn write(path: &Path, bytes: impl AsRef<[u8]>) -> Result<()> {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).map_err(crate::error::io_at(parent))?;
    }
    std::fs::write(path, bytes).map_err(crate::error::io_at(path))
}

fn pem_of(tag: &str, der: &[u8]) -> String {
    pem::encode(&pem::Pem::new(tag, der.to_vec()))
}

/// Generates the CAs, every person of the catalogue and `manifest.json`.
pub fn generate(options: &GenerateOptions, progress: &mut dyn FnMut(&str)) -> Result<Manifest> {
    let out = &options.out;
    std::fs::create_dir_all(out).map_err(crate::error::io_at(out))?;
    let mut pki = Pki::create(
        out,
        (&options.base_url, options.mirror_url.as_deref()),
        options.now,
        progress,
    )?;
    let mut persons = Vec::new();
    for profile in catalogue() {
        progress(&format!("person {} ({})", profile.id, profile.key.name()));
        let key = keys::generate(profile.key)?;
        let issued = pki.issue_person(&profile, &key.spki_der)?;
        let rel = |f: &str| format!("persons/{}/{f}", profile.id);
        write(
            &out.join(rel("cert.pem")),
            pem_of("CERTIFICATE", &issued.der),
        )?;
        write(&out.join(rel("cert.der")), &issued.der)?;
        write(
            &out.join(rel("key.pem")),
            pem_of("PRIVATE KEY", &key.pkcs8_der),
        )?;
        let chain: String = pki
            .chain_of(profile.issuer)?
            .iter()
            .map(|c| pem_of("CERTIFICATE", c))
            .collect();
        write(&out.join(rel("chain.pem")), chain)?;
        persons.push(PersonEntry {
            id: profile.id.to_owned(),
            description: profile.description.to_owned(),
            issuer: profile.issuer.to_owned(),
            medium: profile.medium,
            key: profile.key,
            cert: rel("cert.pem"),
            cert_der: rel("cert.der"),
            key_file: rel("key.pem"),
            chain: rel("chain.pem"),
            serial: issued.serial_hex,
            phone: profile.phone.map(str::to_owned),
            revoked: profile.defect == Defect::Revoked,
            known_to_ca: profile.defect != Defect::UnknownToCa,
            verdict: profile.verdict,
            identity: profile.identity.clone(),
            same_holder_as: profile.same_holder_as.map(str::to_owned),
        });
    }
    let manifest = Manifest {
        generated_at: options.now,
        base_url: options.base_url.clone(),
        mirror_url: options.mirror_url.clone(),
        trust_anchors: vec!["ca/root/cert.pem".into()],
        intermediates: CA_SPECS
            .iter()
            .filter(|s| s.trusted && s.parent.is_some())
            .map(|s| format!("ca/{}/cert.pem", s.id))
            .collect(),
        cas: pki.ca_entries(),
        persons,
    };
    manifest.save(out)?;
    Ok(manifest)
}
