//! The MSSP simulator as a child process: `kyso-mssp-sim serve` over a test PKI.

use crate::bin;
use crate::processes::{Running, start_logging};
use std::path::{Path, PathBuf};

/// Simulator configuration knobs the tests vary (see `mssp-sim/kyso-mssp-sim.example.toml`).
#[derive(Debug, Clone)]
pub struct SimOptions {
    /// The SIMs' signing PIN.
    pub pin: String,
    /// Milliseconds before an automatic test number answers.
    pub auto_answer_ms: u64,
    /// Milliseconds before the slow automatic number (+84913000010) answers.
    pub slow_answer_ms: u64,
    /// The largest `timeout_s` accepted.
    pub max_timeout_s: u32,
    /// The APs allowed in, `(id, secret)`.
    pub aps: Vec<(String, String)>,
    /// Log at debug level into this file.
    pub debug_log: Option<PathBuf>,
}

/// The AP id the default options configure.
pub const AP_ID: &str = "kyso-gateway";
/// The secret of [`AP_ID`].
pub const AP_SECRET: &str = "mssp-test-secret";

impl Default for SimOptions {
    fn default() -> Self {
        Self {
            pin: "1234".into(),
            auto_answer_ms: 200,
            slow_answer_ms: 1500,
            max_timeout_s: 300,
            aps: vec![(AP_ID.into(), AP_SECRET.into())],
            debug_log: None,
        }
    }
}

/// Writes `DIR/mssp-sim.toml` for the PKI in `pki` (a `kyso-certs generate` folder) and
/// starts `kyso-mssp-sim serve` on a free loopback port.
pub fn mssp_sim(pki: &Path, dir: &Path, options: &SimOptions) -> Running {
    let mut config = format!(
        "listen = \"127.0.0.1:0\"\npki = {:?}\npin = {:?}\nauto_answer_ms = {}\n\
         slow_answer_ms = {}\nmax_timeout_s = {}\n",
        pki.display().to_string(),
        options.pin,
        options.auto_answer_ms,
        options.slow_answer_ms,
        options.max_timeout_s,
    );
    for (id, secret) in &options.aps {
        config.push_str(&format!("[[ap]]\nid = {id:?}\nsecret = {secret:?}\n"));
    }
    let path = dir.join("mssp-sim.toml");
    std::fs::write(&path, config).unwrap();
    let mut cmd = bin("kyso-mssp-sim");
    cmd.args(["serve", "--config"])
        .arg(&path)
        .env("KYSO_LOG", "warn");
    start_logging(
        cmd,
        "kyso-mssp-sim listening on ",
        options.debug_log.as_deref(),
    )
}

/// The `[sim]` settings the tests vary.
pub struct SimLimits {
    /// See `gateway/kyso.example.toml`.
    pub answer_timeout_seconds: u32,
    /// See `gateway/kyso.example.toml`.
    pub http_timeout_seconds: u32,
    /// See `gateway/kyso.example.toml`.
    pub starts_per_number: u32,
    /// See `gateway/kyso.example.toml`.
    pub starts_per_number_total: u32,
    /// See `gateway/kyso.example.toml`.
    pub starts_per_ip_burst: u32,
    /// See `gateway/kyso.example.toml`. A test of the burst sets 1, so that no start
    /// comes back while it runs, however slowly.
    pub starts_per_ip_per_minute: u32,
    /// See `gateway/kyso.example.toml`.
    pub ap_secret: String,
}

impl Default for SimLimits {
    fn default() -> Self {
        Self {
            answer_timeout_seconds: 30,
            http_timeout_seconds: 5,
            starts_per_number: 1000,
            starts_per_number_total: 1000,
            starts_per_ip_burst: 1000,
            starts_per_ip_per_minute: 60,
            ap_secret: AP_SECRET.into(),
        }
    }
}

/// The `[sim]` table for an MSSP at `provider`.
pub fn gateway_sim_table(provider: &str, limits: &SimLimits) -> String {
    format!(
        "[sim]\nprovider_url = {provider:?}\nap_id = {AP_ID:?}\nap_secret = {:?}\n\
             display_prefix = \"Cổng DVC thử nghiệm\"\nanswer_timeout_seconds = {}\n\
             hard_expiry_seconds = 60\npoll_wait_seconds = 2\nhttp_timeout_seconds = {}\n\
             starts_per_number = {}\nstarts_per_number_total = {}\n\
             starts_per_ip_per_minute = {}\nstarts_per_ip_burst = {}\n",
        limits.ap_secret,
        limits.answer_timeout_seconds,
        limits.http_timeout_seconds,
        limits.starts_per_number,
        limits.starts_per_number_total,
        limits.starts_per_ip_per_minute,
        limits.starts_per_ip_burst,
    )
}

/// The one request the simulated phone `msisdn` shows, waiting up to 30 s for it to arrive.
pub fn request_on_phone(sim_url: &str, msisdn: &str) -> serde_json::Value {
    for _ in 0..600 {
        let shown = crate::processes::request(
            "GET",
            &format!("{sim_url}/device/v1/{msisdn}/requests"),
            &[],
            None,
        );
        assert_eq!(shown.status, 200, "{shown:?}");
        if let Some([one]) = shown.json.as_array().map(Vec::as_slice) {
            return one.clone();
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    panic!("no request reached {msisdn}");
}

/// Reads the signing-SIM session `id` at `gateway` (`registrations` or `sessions`, per
/// `what`) in long polls until it is no longer pending; its last answer.
pub fn sim_outcome(gateway: &str, what: &str, id: &str) -> crate::processes::Reply {
    for _ in 0..20 {
        let r = crate::processes::request(
            "GET",
            &format!("{gateway}/v1/{what}/sim/{id}?wait=10"),
            &[],
            None,
        );
        if r.json["state"] != "pending" {
            return r;
        }
    }
    panic!("the signing-SIM session {id} never completed");
}

/// The person confirms request `id` on the phone `msisdn` with `pin`.
pub fn confirm_on_phone(
    sim_url: &str,
    msisdn: &str,
    id: &str,
    pin: &str,
) -> crate::processes::Reply {
    crate::processes::post(
        &format!("{sim_url}/device/v1/{msisdn}/requests/{id}/confirm"),
        &[],
        &serde_json::json!({ "pin": pin }),
    )
}

/// The phone `msisdn` shows one request; the person confirms it with `pin`.
pub fn sign_on_phone(sim_url: &str, msisdn: &str, pin: &str) -> crate::processes::Reply {
    let shown = request_on_phone(sim_url, msisdn);
    confirm_on_phone(
        sim_url,
        msisdn,
        shown["id"].as_str().unwrap_or_default(),
        pin,
    )
}
