//! `kyso-mssp-sim serve --config FILE`: the TOML configuration.
//!
//! Every key and its default is documented in `mssp-sim/kyso-mssp-sim.example.toml`.
//! Unknown keys are errors naming the key, so a typo cannot silently leave a default in
//! force. Paths are relative to the configuration file. The PIN and the AP secrets never
//! appear in `Debug` output or logs.

use serde::Deserialize;
use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Longest AP id or secret accepted, so a configuration cannot make auth checks costly.
const MAX_CREDENTIAL_LEN: usize = 256;

/// The whole configuration.
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Address to listen on; port 0 picks a free port (printed at start-up).
    #[serde(default = "default_listen")]
    pub listen: String,
    /// The folder `kyso-certs generate --out` wrote (with `manifest.json`). Required.
    pub pki: PathBuf,
    /// The signing PIN of every simulated SIM.
    #[serde(default = "default_pin")]
    pub pin: String,
    /// Milliseconds before an automatic test number answers.
    #[serde(default = "default_auto_answer_ms")]
    pub auto_answer_ms: u64,
    /// Milliseconds before the slow automatic test number answers.
    #[serde(default = "default_slow_answer_ms")]
    pub slow_answer_ms: u64,
    /// The largest `timeout_s` an AP may ask for (hard expiry), seconds.
    #[serde(default = "default_max_timeout_s")]
    pub max_timeout_s: u32,
    /// The Application Providers (gateways) allowed to send requests. At least one.
    #[serde(default)]
    pub ap: Vec<ApConfig>,
}

/// One `[[ap]]` entry: an Application Provider's HTTP Basic credentials.
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApConfig {
    /// The AP id (`AP_ID`), the Basic user name.
    pub id: String,
    /// The AP's secret, the Basic password.
    pub secret: String,
}

impl fmt::Debug for ApConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ApConfig")
            .field("id", &self.id)
            .field("secret", &"<redacted>")
            .finish()
    }
}

impl fmt::Debug for Config {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Config")
            .field("listen", &self.listen)
            .field("pki", &self.pki)
            .field("pin", &"<redacted>")
            .field("auto_answer_ms", &self.auto_answer_ms)
            .field("slow_answer_ms", &self.slow_answer_ms)
            .field("max_timeout_s", &self.max_timeout_s)
            .field("ap", &self.ap)
            .finish()
    }
}

fn default_listen() -> String {
    "127.0.0.1:18990".into()
}

fn default_pin() -> String {
    "1234".into()
}

fn default_auto_answer_ms() -> u64 {
    500
}

fn default_slow_answer_ms() -> u64 {
    3000
}

fn default_max_timeout_s() -> u32 {
    300
}

/// The configuration could not be used; the message names the setting.
#[derive(Debug, thiserror::Error)]
#[error("configuration: {0}")]
pub struct ConfigError(pub String);

/// The timing knobs the simulator runs with, taken from [`Config`].
#[derive(Clone, PartialEq, Eq)]
pub struct Settings {
    /// The signing PIN of every SIM.
    pub pin: String,
    /// Delay before an automatic number answers.
    pub auto_answer: Duration,
    /// Delay before the slow automatic number answers.
    pub slow_answer: Duration,
    /// The largest `timeout_s` accepted.
    pub max_timeout_s: u32,
}

impl fmt::Debug for Settings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Settings")
            .field("pin", &"<redacted>")
            .field("auto_answer", &self.auto_answer)
            .field("slow_answer", &self.slow_answer)
            .field("max_timeout_s", &self.max_timeout_s)
            .finish()
    }
}

impl Default for Settings {
    /// The documented defaults.
    fn default() -> Self {
        Self {
            pin: default_pin(),
            auto_answer: Duration::from_millis(default_auto_answer_ms()),
            slow_answer: Duration::from_millis(default_slow_answer_ms()),
            max_timeout_s: default_max_timeout_s(),
        }
    }
}

impl Config {
    /// Reads and checks `path`; relative paths in it are made relative to its folder.
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| ConfigError(format!("{}: {e}", path.display())))?;
        let base = path.parent().unwrap_or(Path::new("."));
        Self::parse(&text, base).map_err(|e| ConfigError(format!("{}: {}", path.display(), e.0)))
    }

    /// Parses TOML text; relative paths are made relative to `base`.
    pub fn parse(text: &str, base: &Path) -> Result<Self, ConfigError> {
        let table: toml::Table = toml::from_str(text).map_err(|e| ConfigError(e.to_string()))?;
        let mut config: Config = serde_path_to_error::deserialize(toml::Value::Table(table))
            .map_err(|e| {
                let path = e.path().to_string();
                // A PIN or secret of the wrong type would be shown by serde's message.
                let key = path.rsplit('.').next().unwrap_or_default();
                if key.contains("pin") || key.contains("secret") {
                    return ConfigError(format!(
                        "{path}: not a valid value (not shown: it is a secret); write it as text"
                    ));
                }
                ConfigError(format!("{path}: {}", e.into_inner().message()))
            })?;
        config.check()?;
        if config.pki.is_relative() {
            config.pki = base.join(&config.pki);
        }
        Ok(config)
    }

    /// The listen address.
    pub fn listen_addr(&self) -> Result<SocketAddr, ConfigError> {
        self.listen
            .parse()
            .map_err(|_| ConfigError(format!("listen = {:?}: not an address:port", self.listen)))
    }

    /// The timing knobs and PIN.
    pub fn settings(&self) -> Settings {
        Settings {
            pin: self.pin.clone(),
            auto_answer: Duration::from_millis(self.auto_answer_ms),
            slow_answer: Duration::from_millis(self.slow_answer_ms),
            max_timeout_s: self.max_timeout_s,
        }
    }

    fn check(&self) -> Result<(), ConfigError> {
        self.listen_addr()?;
        if self.pin.is_empty()
            || self.pin.len() > 16
            || !self.pin.bytes().all(|b| b.is_ascii_digit())
        {
            return Err(ConfigError("pin: must be 1 to 16 digits".into()));
        }
        if self.max_timeout_s == 0 {
            return Err(ConfigError("max_timeout_s: must be at least 1".into()));
        }
        check_aps(&self.ap)
    }
}

/// Checks the AP list: at least one, ids unique, Basic-auth-compatible credentials.
pub fn check_aps(aps: &[ApConfig]) -> Result<(), ConfigError> {
    if aps.is_empty() {
        return Err(ConfigError(
            "ap: at least one [[ap]] entry (id and secret) is required".into(),
        ));
    }
    for (i, ap) in aps.iter().enumerate() {
        let bad_id = ap.id.is_empty()
            || ap.id.len() > MAX_CREDENTIAL_LEN
            || ap.id.contains(':')
            || ap.id.chars().any(char::is_control);
        if bad_id {
            return Err(ConfigError(format!(
                "ap[{i}].id: 1 to {MAX_CREDENTIAL_LEN} bytes, no ':' or control characters"
            )));
        }
        if ap.secret.is_empty() || ap.secret.len() > MAX_CREDENTIAL_LEN {
            return Err(ConfigError(format!(
                "ap[{i}].secret: 1 to {MAX_CREDENTIAL_LEN} bytes"
            )));
        }
        if aps[..i].iter().any(|other| other.id == ap.id) {
            return Err(ConfigError(format!(
                "ap[{i}].id: {:?} is listed twice",
                ap.id
            )));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const MINIMAL: &str = "pki = \"pki\"\n[[ap]]\nid = \"gw\"\nsecret = \"s3cret\"\n";

    #[test]
    fn defaults_and_relative_paths() {
        let c = Config::parse(MINIMAL, Path::new("/etc/kyso")).unwrap();
        assert_eq!(c.listen, "127.0.0.1:18990");
        assert_eq!(c.pki, Path::new("/etc/kyso/pki"));
        assert_eq!(c.pin, "1234");
        assert_eq!(c.auto_answer_ms, 500);
        assert_eq!(c.slow_answer_ms, 3000);
        assert_eq!(c.max_timeout_s, 300);
        assert_eq!(c.ap.len(), 1);
        let s = c.settings();
        assert_eq!(s, Settings::default());
    }

    #[test]
    fn unknown_keys_are_named() {
        let e = Config::parse(&format!("{MINIMAL}colour = 1\n"), Path::new(".")).unwrap_err();
        assert!(e.0.contains("colour"), "{e}");
        let e = Config::parse(
            "pki = \"p\"\n[[ap]]\nid = \"gw\"\nsecret = \"s\"\nsecrte = \"x\"\n",
            Path::new("."),
        )
        .unwrap_err();
        assert!(e.0.contains("secrte") && e.0.contains("ap[0]"), "{e}");
    }

    #[test]
    fn bad_values_are_refused() {
        for (text, key) in [
            ("[[ap]]\nid = \"gw\"\nsecret = \"s\"\n", "pki"),
            ("pki = \"p\"\n", "ap"),
            (&format!("{MINIMAL}listen = \"nowhere\"\n"), "listen"),
            (&format!("{MINIMAL}pin = \"12a4\"\n"), "pin"),
            (&format!("{MINIMAL}max_timeout_s = 0\n"), "max_timeout_s"),
            (&format!("{MINIMAL}auto_answer_ms = -1\n"), "auto_answer_ms"),
            (
                "pki = \"p\"\n[[ap]]\nid = \"a:b\"\nsecret = \"s\"\n",
                "ap[0].id",
            ),
            (
                "pki = \"p\"\n[[ap]]\nid = \"a\"\nsecret = \"s\"\n[[ap]]\nid = \"a\"\nsecret = \"t\"\n",
                "ap[1].id",
            ),
        ] {
            let e = Config::parse(text, Path::new(".")).unwrap_err();
            assert!(e.0.contains(key), "{text:?}: {e}");
        }
    }

    #[test]
    fn the_example_file_is_the_defaults() {
        let example = include_str!("../kyso-mssp-sim.example.toml");
        let c = Config::parse(example, Path::new("/srv/sim")).unwrap();
        assert_eq!(c.listen, default_listen());
        assert_eq!(c.pki, Path::new("/srv/sim/../data/pki"));
        assert_eq!(c.settings(), Settings::default());
        assert_eq!(c.ap[0].id, "kyso-gateway");
    }

    #[test]
    fn a_pin_or_secret_of_the_wrong_type_is_named_not_shown() {
        for text in [
            "pki = \"p\"\npin = 98765\n[[ap]]\nid = \"gw\"\nsecret = \"s\"\n",
            "pki = \"p\"\n[[ap]]\nid = \"gw\"\nsecret = 98765\n",
        ] {
            let e = Config::parse(text, Path::new(".")).unwrap_err();
            assert!(!e.0.contains("98765"), "{e}");
            assert!(e.0.contains("pin") || e.0.contains("secret"), "{e}");
        }
    }

    #[test]
    fn debug_output_hides_secrets() {
        let c = Config::parse(
            "pki = \"p\"\npin = \"987654\"\n[[ap]]\nid = \"gw\"\nsecret = \"hunter2\"\n",
            Path::new("."),
        )
        .unwrap();
        let shown = format!("{c:?} {:?}", c.settings());
        assert!(
            !shown.contains("987654") && !shown.contains("hunter2"),
            "{shown}"
        );
        assert!(shown.contains("gw"));
    }
}
