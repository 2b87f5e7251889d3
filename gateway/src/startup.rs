//! From configuration to running parts: reads the certificate files the configuration
//! names, builds the trust store, the revocation checker, the policy, the store and the
//! operator client. Every error names the setting (and file) it comes from.

use crate::config::{Config, ConfigError, IsolationLevel, RevocationMode, UnavailableMode};
use crate::revocation::{FailureMode, IssuerOverride, Methods, OcspCrlChecker, RevocationSettings};
use crate::store::{Isolation, PostgresOptions, PostgresStore, SqliteStore, Store, StoreError};
use kyso_verify::inspect::decode_certificates;
use kyso_verify::policy::{
    CertificatePolicy, NoRevocationCheck, RevocationChecker, TrustError, TrustStore,
};
use kyso_verify::revocation::ocsp::OcspRules;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

/// Why the gateway cannot start (or a one-shot command cannot run).
#[derive(Debug, thiserror::Error)]
pub enum StartupError {
    /// The configuration itself.
    #[error("configuration: {0}")]
    Config(#[from] ConfigError),
    /// A certificate file named by a setting cannot be read.
    #[error("{setting}: {}: {source}", path.display())]
    CertificateFile {
        /// The setting that names the file.
        setting: String,
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// A file named by a setting is not a certificate.
    #[error("{setting}: {}: {reason}", path.display())]
    NotACertificate {
        /// The setting that names the file.
        setting: String,
        /// The file.
        path: PathBuf,
        /// Why.
        reason: String,
    },
    /// The configured trust is unusable; names the file when one certificate is at fault.
    #[error("{setting}: {}{source}", file.as_ref().map(|f| format!("{}: ", f.display())).unwrap_or_default())]
    Trust {
        /// `trust.anchors`, `trust.intermediates` or `--trust-anchor`.
        setting: &'static str,
        /// The file of the certificate at fault.
        file: Option<PathBuf>,
        /// Why.
        #[source]
        source: TrustError,
    },
    /// The OpenID Provider cannot be built (a key or a portal's key file).
    #[error("{0}")]
    Oidc(String),
    /// The revocation checker cannot be built.
    #[error("revocation: {0}")]
    Revocation(String),
    /// The database cannot be opened or migrated.
    #[error("database_url: {0}")]
    Store(#[from] StoreError),
    /// The operator client cannot be built.
    #[error("sim.provider_url: {0}")]
    Mssp(String),
    /// The listen address cannot be bound, or serving failed.
    #[error("listen {addr}: {source}")]
    Listen {
        /// The address.
        addr: String,
        /// Why.
        #[source]
        source: std::io::Error,
    },
}

/// Reads every certificate of the files (DER, or PEM with any number of certificates:
/// a bundle of roots is every root, never silently its first), naming `setting` and the
/// file on error.
pub fn read_certificates(paths: &[PathBuf], setting: &str) -> Result<Vec<Vec<u8>>, StartupError> {
    read_certificates_from(paths, setting).map(|(certificates, _)| certificates)
}

/// [`read_certificates`], with the file each certificate came from (to name the file of
/// one at fault, a bundle's included).
fn read_certificates_from(
    paths: &[PathBuf],
    setting: &str,
) -> Result<(Vec<Vec<u8>>, Vec<PathBuf>), StartupError> {
    let (mut certificates, mut files) = (Vec::new(), Vec::new());
    for path in paths {
        for der in read_file(path, setting)? {
            certificates.push(der);
            files.push(path.clone());
        }
    }
    Ok((certificates, files))
}

/// Reads a file that must hold exactly one certificate (an issuer, a leaf).
pub fn read_certificate(path: &Path, setting: &str) -> Result<Vec<u8>, StartupError> {
    let mut certificates = read_file(path, setting)?;
    match certificates.len() {
        1 => Ok(certificates.remove(0)),
        n => Err(StartupError::NotACertificate {
            setting: setting.to_owned(),
            path: path.to_owned(),
            reason: format!("the file holds {n} certificates; it must hold one"),
        }),
    }
}

fn read_file(path: &Path, setting: &str) -> Result<Vec<Vec<u8>>, StartupError> {
    let bytes = std::fs::read(path).map_err(|source| StartupError::CertificateFile {
        setting: setting.to_owned(),
        path: path.to_owned(),
        source,
    })?;
    decode_certificates(&bytes).map_err(|e| StartupError::NotACertificate {
        setting: setting.to_owned(),
        path: path.to_owned(),
        reason: e.to_string(),
    })
}

/// The OCSP/CRL checker the configuration describes: `None` when `policy.revocation` is
/// `off`. Reads the per-issuer certificate files.
pub fn ocsp_crl_checker(config: &Config) -> Result<Option<Arc<OcspCrlChecker>>, StartupError> {
    let methods = match config.policy.revocation {
        RevocationMode::Off => return Ok(None),
        RevocationMode::OcspCrl => Methods {
            ocsp: true,
            crl: true,
        },
        RevocationMode::Ocsp => Methods {
            ocsp: true,
            crl: false,
        },
        RevocationMode::Crl => Methods {
            ocsp: false,
            crl: true,
        },
    };
    let r = &config.revocation;
    let overrides = r
        .issuers
        .iter()
        .enumerate()
        .map(|(i, issuer)| {
            Ok(IssuerOverride {
                issuer_der: read_certificate(
                    &issuer.certificate,
                    &format!("revocation.issuers[{i}].certificate"),
                )?,
                ocsp_url: issuer.ocsp_url.clone(),
                crl_url: issuer.crl_url.clone(),
                require_nonce: issuer.ocsp_require_nonce,
            })
        })
        .collect::<Result<Vec<_>, StartupError>>()?;
    let settings = RevocationSettings {
        methods,
        on_unavailable: match config.policy.revocation_unavailable {
            UnavailableMode::FailClosed => FailureMode::FailClosed,
            UnavailableMode::SoftFail => FailureMode::SoftFail,
        },
        timeout: std::time::Duration::from_millis(r.timeout_ms),
        ocsp: OcspRules {
            clock_skew: time::Duration::seconds(r.clock_skew_seconds.into()),
            max_age: time::Duration::seconds(r.ocsp_max_age_seconds.into()),
            require_nonce: r.ocsp_require_nonce,
            allow_sha1: config.policy.allow_sha1,
        },
        crl_max_bytes: r.crl_max_bytes,
        cache_entries: r.cache_entries,
        crl_refresh_margin: time::Duration::seconds(r.crl_refresh_margin_seconds.into()),
        crl_max_age: time::Duration::seconds(r.crl_max_age_seconds.into()),
        overrides,
    };
    OcspCrlChecker::new(settings)
        .map(|c| Some(Arc::new(c)))
        .map_err(StartupError::Revocation)
}

/// [`ocsp_crl_checker`] as the policy's checker ([`NoRevocationCheck`] when off).
pub fn revocation_checker(config: &Config) -> Result<Arc<dyn RevocationChecker>, StartupError> {
    Ok(match ocsp_crl_checker(config)? {
        Some(c) => c,
        None => Arc::new(NoRevocationCheck),
    })
}

/// The certificate policy a configuration describes, asking `revocation`; with `anchors`
/// (files) replacing the configured trust anchors when given.
pub fn policy_with(
    config: &Config,
    revocation: Arc<dyn RevocationChecker>,
    anchors: Option<&[PathBuf]>,
) -> Result<CertificatePolicy, StartupError> {
    let min_rsa_bits = config.policy.min_rsa_bits;
    let (intermediates, inter_files) =
        read_certificates_from(&config.trust.intermediates, "trust.intermediates")?;
    refuse_weak_ca_keys(
        min_rsa_bits,
        "intermediate",
        ("trust.intermediates", &intermediates, &inter_files),
    )?;
    let trust = match anchors {
        None => {
            let (anchors, files) = read_certificates_from(&config.trust.anchors, "trust.anchors")?;
            refuse_weak_ca_keys(
                min_rsa_bits,
                "trust anchor",
                ("trust.anchors", &anchors, &files),
            )?;
            TrustStore::new(&anchors, &intermediates)
                .map_err(|e| trust_error(e, ("trust.anchors", &files), &inter_files))?
        }
        // Other anchors may not vouch for the configured intermediates: then the
        // intermediates travel with the certificate instead (--intermediate).
        Some(paths) => {
            let (anchors, files) = read_certificates_from(paths, "--trust-anchor")?;
            refuse_weak_ca_keys(
                min_rsa_bits,
                "trust anchor",
                ("--trust-anchor", &anchors, &files),
            )?;
            TrustStore::new(&anchors, &intermediates)
                .or_else(|_| TrustStore::new(&anchors, &[]))
                .map_err(|e| trust_error(e, ("--trust-anchor", &files), &inter_files))?
        }
    };
    Ok(CertificatePolicy::new(
        trust,
        config.policy_options(),
        revocation,
    ))
}

/// Refuses to start with a configured CA whose RSA key is below `policy.min_rsa_bits`:
/// every path through it would be refused (`WEAK_CA_KEY`), so the configuration is wrong,
/// and saying so at start-up names the file instead of failing each registration.
fn refuse_weak_ca_keys(
    min_rsa_bits: usize,
    what: &'static str,
    (setting, certificates, files): (&'static str, &[Vec<u8>], &[PathBuf]),
) -> Result<(), StartupError> {
    for (i, der) in certificates.iter().enumerate() {
        if let Some(bits) = kyso_verify::policy::checks::rsa_bits(der)
            && bits < min_rsa_bits
        {
            return Err(StartupError::Trust {
                setting,
                file: files.get(i).cloned(),
                source: TrustError::Unusable {
                    what,
                    index: i + 1,
                    detail: format!(
                        "its RSA-{bits} key is below policy.min_rsa_bits ({min_rsa_bits}) (WEAK_CA_KEY)"
                    ),
                },
            });
        }
    }
    Ok(())
}

/// A trust error naming the setting and file of the certificate at fault.
/// The startup error for a trust store refused; `anchors` and `intermediates` name the file
/// of each certificate, in the order the store was given them.
fn trust_error(
    source: TrustError,
    (anchor_setting, anchors): (&'static str, &[PathBuf]),
    intermediates: &[PathBuf],
) -> StartupError {
    let (setting, file) = match &source {
        TrustError::Unusable {
            what: "intermediate",
            index,
            ..
        } => (
            "trust.intermediates",
            intermediates.get(index.saturating_sub(1)).cloned(),
        ),
        TrustError::Unusable { index, .. } => (
            anchor_setting,
            anchors.get(index.saturating_sub(1)).cloned(),
        ),
        TrustError::NoAnchors => (anchor_setting, None),
    };
    StartupError::Trust {
        setting,
        file,
        source,
    }
}

/// The certificate policy a configuration describes.
pub fn policy_from(config: &Config) -> Result<CertificatePolicy, StartupError> {
    policy_with(config, revocation_checker(config)?, None)
}

/// Opens the store `database_url` names: `postgres://` or `postgresql://` for
/// PostgreSQL, anything else for SQLite.
pub async fn open_store(config: &Config) -> Result<Arc<dyn Store>, StartupError> {
    let url = &config.database_url;
    if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        let db = &config.database;
        let options = PostgresOptions {
            pool_size: config.limits.database_connections,
            statement_timeout: Duration::from_millis(db.statement_timeout_ms),
            acquire_timeout: Duration::from_millis(db.acquire_timeout_ms),
            isolation: match db.isolation {
                IsolationLevel::ReadCommitted => Isolation::ReadCommitted,
                IsolationLevel::Serializable => Isolation::Serializable,
            },
            prepared_statements: db.prepared_statements,
            sslmode: db.sslmode.clone(),
        };
        Ok(Arc::new(PostgresStore::open(url, &options)?))
    } else {
        Ok(Arc::new(
            SqliteStore::open(url, config.limits.database_connections).await?,
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn revocation_is_checked_unless_configured_off() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("kyso.toml");
        let base =
            "public_origin = \"https://dichvucong.test\"\n[trust]\nanchors = [\"root.pem\"]\n";
        std::fs::write(&path, base).unwrap();
        let config = Config::load(&path, []).unwrap();
        assert!(revocation_checker(&config).unwrap().is_checking());
        std::fs::write(&path, format!("{base}[policy]\nrevocation = \"off\"\n")).unwrap();
        let config = Config::load(&path, []).unwrap();
        assert!(!revocation_checker(&config).unwrap().is_checking());
        std::fs::write(
            &path,
            format!("{base}[[revocation.issuers]]\ncertificate = \"missing.pem\"\n"),
        )
        .unwrap();
        let config = Config::load(&path, []).unwrap();
        let e = revocation_checker(&config).unwrap_err().to_string();
        assert!(e.contains("revocation.issuers[0].certificate"), "{e}");
    }
}
