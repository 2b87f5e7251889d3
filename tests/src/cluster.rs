//! Several `kyso-gateway` instances on one database, each a process with its own folder
//! and configuration: started, killed (`kill -9`) and restarted by the test.

use crate::processes::{GatewayOptions, Running, gateway_config, start_logging};
use crate::{bin, run};
use kyso_certs::Manifest;
use std::path::{Path, PathBuf};

/// Gateway instances sharing one database, each with its own folder and configuration.
pub struct Cluster {
    configs: Vec<PathBuf>,
    gateways: Vec<Option<Running>>,
    _dirs: Vec<tempfile::TempDir>,
}

impl Cluster {
    /// Writes `n` configurations for `serve_url` and `extra`, migrates through
    /// `migrate_url` (straight to the server: migrations take a session lock) with
    /// `kyso-gateway migrate`, and starts the instances.
    pub fn start(
        pki: &Path,
        manifest: &Manifest,
        migrate_url: &str,
        serve_url: &str,
        extra: &str,
        n: usize,
    ) -> Self {
        Self::start_with(
            pki,
            manifest,
            migrate_url,
            &GatewayOptions {
                database_url: Some(serve_url.to_owned()),
                extra: extra.to_owned(),
                ..GatewayOptions::default()
            },
            n,
        )
    }

    /// One gateway already running, as a cluster of one (it has no configuration of
    /// the cluster's, so it cannot be restarted).
    pub fn one(gateway: Running) -> Self {
        Self {
            configs: vec![PathBuf::new()],
            gateways: vec![Some(gateway)],
            _dirs: Vec::new(),
        }
    }

    /// [`Cluster::start`] with every gateway option given.
    pub fn start_with(
        pki: &Path,
        manifest: &Manifest,
        migrate_url: &str,
        options: &GatewayOptions,
        n: usize,
    ) -> Self {
        let migrate_dir = tempfile::tempdir().unwrap();
        let migrate_options = GatewayOptions {
            database_url: Some(migrate_url.to_owned()),
            extra: options.extra.clone(),
            ..GatewayOptions::default()
        };
        let migrate_config = gateway_config(pki, manifest, migrate_dir.path(), &migrate_options);
        let out = run(bin("kyso-gateway")
            .args(["migrate", "--config"])
            .arg(&migrate_config));
        assert!(
            out.status.success(),
            "migrate: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let dirs: Vec<_> = (0..n).map(|_| tempfile::tempdir().unwrap()).collect();
        let configs: Vec<PathBuf> = dirs
            .iter()
            .map(|d| gateway_config(pki, manifest, d.path(), options))
            .collect();
        let mut cluster = Self {
            gateways: configs.iter().map(|_| None).collect(),
            configs,
            _dirs: dirs,
        };
        for i in 0..n {
            cluster.restart(i);
        }
        cluster
    }

    /// Starts instance `i` (again) on its configuration.
    pub fn restart(&mut self, i: usize) {
        let mut cmd = bin("kyso-gateway");
        cmd.args(["serve", "--config"])
            .arg(&self.configs[i])
            .env("KYSO_LOG", "warn");
        self.gateways[i] = Some(start_logging(cmd, "kyso-gateway listening on ", None));
    }

    /// Instance `i`'s process id.
    pub fn pid(&self, i: usize) -> Option<u32> {
        self.gateways[i].as_ref().map(Running::pid)
    }

    /// `kill -9` of instance `i`.
    pub fn kill(&mut self, i: usize) {
        // Running's drop sends SIGKILL and reaps the process.
        self.gateways[i] = None;
    }

    /// Instance `i`'s URL.
    pub fn url(&self, i: usize) -> String {
        self.gateways[i]
            .as_ref()
            .expect("instance running")
            .url
            .clone()
    }

    /// Every instance's URL.
    pub fn urls(&self) -> Vec<String> {
        (0..self.gateways.len()).map(|i| self.url(i)).collect()
    }

    /// `kyso-gateway audit export` with instance `i`'s configuration: one JSON value per
    /// line of its output.
    pub fn export_audit(&self, i: usize) -> Vec<serde_json::Value> {
        let out = run(bin("kyso-gateway")
            .args(["audit", "export", "--config"])
            .arg(&self.configs[i]));
        assert!(
            out.status.success(),
            "audit export: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .map(|l| serde_json::from_str(l).expect("a JSON line"))
            .collect()
    }

    /// `kyso-gateway audit verify` with instance `i`'s configuration: its output, or the
    /// failure.
    pub fn verify_audit(&self, i: usize) -> Result<String, String> {
        let out = run(bin("kyso-gateway")
            .args(["audit", "verify", "--config"])
            .arg(&self.configs[i]));
        let stdout = String::from_utf8_lossy(&out.stdout).trim().to_owned();
        if out.status.success() {
            Ok(stdout)
        } else {
            Err(format!(
                "{stdout} {}",
                String::from_utf8_lossy(&out.stderr).trim()
            ))
        }
    }
}
