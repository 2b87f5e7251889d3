//! Configuration as data: a TOML file, then `KYSO_*` environment overrides (design §4),
//! validated here; the `startup` module turns it into running parts.
//!
//! Every key and its default is documented in `gateway/kyso.example.toml`. An environment
//! variable `KYSO_A__B` sets key `b` of table `a` (double underscore between levels,
//! single underscores belong to the key): `KYSO_PUBLIC_ORIGIN`, `KYSO_POLICY__REVOCATION`,
//! `KYSO_LIMITS__BODY_BYTES`. Values are read as TOML (`2048`, `true`, `["a.pem"]`) and
//! fall back to a plain string.
//!
//! An unknown key in the file is an error, so a typo cannot silently leave a default in
//! force; every error names the key. A `KYSO_*` variable that maps to no key is ignored
//! with a warning naming it (the environment is shared with other programs); the other
//! kyso programs' prefixes (`KYSO_SHIM_`, `KYSO_MSSP_SIM_`, `KYSO_DEMO_`, `KYSO_TEST_`)
//! and `KYSO_LOG` are theirs and skipped without a word.

pub mod oidc;

use crate::domain::network::ProxyNet;
use kyso_proto::origin::{check_origin, is_loopback_authority};
use kyso_verify::policy::PolicyOptions;
use serde::Deserialize;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

/// The whole configuration.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Address to listen on; port 0 picks a free port (printed at start-up).
    #[serde(default = "default_listen")]
    pub listen: String,
    /// The origin of the registration page, `https://host[:port]`; bound into every
    /// challenge. Required.
    pub public_origin: String,
    /// `sqlite://path` (created if missing; one instance) or `postgres://…` (any number
    /// of instances on one database).
    #[serde(default = "default_database_url")]
    pub database_url: String,
    /// How PostgreSQL is used; ignored for SQLite.
    #[serde(default)]
    pub database: DatabaseConfig,
    /// Trust anchors and intermediates.
    pub trust: TrustConfig,
    /// Certificate policy switches.
    #[serde(default)]
    pub policy: PolicyConfig,
    /// How revocation is checked.
    #[serde(default)]
    pub revocation: RevocationConfig,
    /// Limits and lifetimes.
    #[serde(default)]
    pub limits: LimitsConfig,
    /// The threads requests run on.
    #[serde(default)]
    pub runtime: RuntimeConfig,
    /// Signing-SIM registration; absent, the SIM endpoints answer 404.
    pub sim: Option<SimConfig>,
    /// The registration page.
    #[serde(default)]
    pub web: WebConfig,
    /// The OpenID Provider for portals; absent, its endpoints answer 404.
    pub oidc: Option<oidc::OidcConfig>,
}

/// `[web]`: what the registration page is told.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct WebConfig {
    /// Where the signing agent listens on the person's computer; the page calls it, and
    /// the Content-Security-Policy allows it.
    pub agent_url: String,
}

impl Default for WebConfig {
    fn default() -> Self {
        Self {
            agent_url: "http://127.0.0.1:18765".into(),
        }
    }
}

/// A secret from the configuration: never printed, not even by `{:?}`.
#[derive(Clone, Deserialize)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    /// The secret itself, for the one place that sends it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(…)")
    }
}

/// `[sim]`: the operator's Mobile Signature Service Provider and the SIM flow's limits.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SimConfig {
    /// Base URL of the MSSP (the simulator: `http://127.0.0.1:18990`).
    pub provider_url: String,
    /// Our Application Provider id at the MSSP.
    pub ap_id: String,
    /// Its secret (HTTP Basic). Prefer `KYSO_SIM__AP_SECRET` to writing it in the file.
    pub ap_secret: Secret,
    /// The relying party's name, first on the phone's screen.
    #[serde(default = "default_display_prefix")]
    pub display_prefix: String,
    /// Seconds the person has to answer (the request's timeout at the MSSP).
    #[serde(default = "default_answer_timeout")]
    pub answer_timeout_seconds: u32,
    /// Seconds after which the gateway stops waiting for the MSSP (hard expiry).
    #[serde(default = "default_hard_expiry")]
    pub hard_expiry_seconds: u32,
    /// Seconds one status poll waits at the MSSP (long poll).
    #[serde(default = "default_poll_wait")]
    pub poll_wait_seconds: u32,
    /// Seconds every call to the MSSP may take beyond its long-poll wait.
    #[serde(default = "default_http_timeout")]
    pub http_timeout_seconds: u32,
    /// Sessions one number may be sent per window from one network (an IPv4 /24, an IPv6
    /// /48): a stranger's starts do not use up the owner's.
    #[serde(default = "default_starts_per_number")]
    pub starts_per_number: u32,
    /// Sessions one number may be sent per window from everywhere together: what the
    /// phone may receive (anti push-bombing). Default: three networks' worth, at least 15.
    #[serde(default)]
    pub starts_per_number_total: Option<u32>,
    /// That window, seconds.
    #[serde(default = "default_per_number_window")]
    pub per_number_window_seconds: u32,
    /// Sessions one client IP may start per minute (token bucket refill).
    #[serde(default = "default_starts_per_ip")]
    pub starts_per_ip_per_minute: u32,
    /// Burst of that bucket.
    #[serde(default = "default_starts_burst")]
    pub starts_per_ip_burst: u32,
}

fn default_display_prefix() -> String {
    "Cổng Dịch vụ công".into()
}
fn default_answer_timeout() -> u32 {
    120
}
fn default_hard_expiry() -> u32 {
    300
}
fn default_poll_wait() -> u32 {
    10
}
fn default_http_timeout() -> u32 {
    10
}
fn default_starts_per_number() -> u32 {
    5
}
/// Three networks' worth of starts, at least 15: a setting of `starts_per_number` made
/// before the total existed keeps working.
fn default_starts_per_number_total(starts_per_number: u32) -> u32 {
    starts_per_number.saturating_mul(3).max(15)
}
fn default_per_number_window() -> u32 {
    3600
}
fn default_starts_per_ip() -> u32 {
    6
}
fn default_starts_burst() -> u32 {
    10
}

impl SimConfig {
    /// The flow's settings.
    pub fn settings(&self) -> crate::sim::SimSettings {
        let secs = |s: u32| time::Duration::seconds(s.into());
        crate::sim::SimSettings {
            display_prefix: self.display_prefix.clone(),
            answer_timeout: secs(self.answer_timeout_seconds),
            hard_expiry: secs(self.hard_expiry_seconds),
            poll_wait: std::time::Duration::from_secs(self.poll_wait_seconds.into()),
            hold: crate::sim::flow::hold_for(self.poll_wait_seconds, self.http_timeout_seconds),
            starts_per_number: self.starts_per_number,
            starts_per_number_total: self.starts_per_number_total(),
            per_number_window: secs(self.per_number_window_seconds),
        }
    }

    /// The total start limit, set or defaulted.
    pub fn starts_per_number_total(&self) -> u32 {
        self.starts_per_number_total
            .unwrap_or_else(|| default_starts_per_number_total(self.starts_per_number))
    }

    fn check(&self) -> Result<(), ConfigError> {
        let bad = |key: &str, why: &str| Err(ConfigError::invalid(format!("sim.{key}"), why));
        // The AP secret travels with every call: in the clear only to this machine.
        let url = self.provider_url.to_ascii_lowercase();
        let plain = url.strip_prefix("http://");
        let Some(rest) = plain.or_else(|| url.strip_prefix("https://")) else {
            return bad("provider_url", "must be an http(s) URL");
        };
        let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
        if authority.is_empty() || authority.contains('@') {
            return bad("provider_url", "must name a host, and no credentials");
        }
        if plain.is_some() && !is_loopback_authority(authority) {
            return bad(
                "provider_url",
                "must be https:// (http:// only to localhost): the AP secret travels with every call",
            );
        }
        if self.ap_id.is_empty() || self.ap_secret.expose().is_empty() {
            return bad("ap_id", "the AP id and secret must be set");
        }
        let prefix = self.display_prefix.chars().count();
        if prefix == 0 || prefix > 120 {
            return bad("display_prefix", "must be 1 to 120 characters");
        }
        if self.answer_timeout_seconds == 0
            || self.answer_timeout_seconds > self.hard_expiry_seconds
        {
            return bad(
                "answer_timeout_seconds",
                "must be positive and at most hard_expiry_seconds",
            );
        }
        if self.poll_wait_seconds == 0 || self.http_timeout_seconds == 0 {
            return bad(
                "poll_wait_seconds",
                "poll_wait_seconds and http_timeout_seconds must be positive",
            );
        }
        if self.http_timeout_seconds > 30 {
            // A push must be over within the minute after which a restarted instance
            // ends a session no operator took (`sim::flow::PUSH_GRACE`).
            return bad("http_timeout_seconds", "must be 1 to 30 seconds");
        }
        if self.per_number_window_seconds == 0 || self.per_number_window_seconds > 86_400 {
            // Complete sessions are kept a day; a longer window would count deleted rows.
            return bad("per_number_window_seconds", "must be 1 to 86400 seconds");
        }
        if self.starts_per_number == 0
            || self.starts_per_ip_per_minute == 0
            || self.starts_per_ip_burst == 0
        {
            return bad("starts_per_number", "the start limits must be positive");
        }
        if self.starts_per_number_total() < self.starts_per_number {
            return bad(
                "starts_per_number_total",
                "must be at least starts_per_number (one network's share)",
            );
        }
        Ok(())
    }
}

/// `[trust]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrustConfig {
    /// Trust anchor certificate files (PEM or DER). At least one.
    pub anchors: Vec<PathBuf>,
    /// Intermediate CA files, validated against the anchors at start-up.
    #[serde(default)]
    pub intermediates: Vec<PathBuf>,
}

/// `[database]`: PostgreSQL settings (the pool size is `limits.database_connections`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DatabaseConfig {
    /// Longest one statement may run, milliseconds (`SET LOCAL statement_timeout`).
    pub statement_timeout_ms: u64,
    /// Longest a request waits for a database connection, milliseconds; past it the
    /// request gets `503 STORAGE_UNAVAILABLE` (the database is down or saturated).
    pub acquire_timeout_ms: u64,
    /// Isolation level of every transaction.
    pub isolation: IsolationLevel,
    /// `false` behind pgbouncer in transaction-pooling mode: no named prepared statements.
    pub prepared_statements: bool,
    /// TLS to the server (`disable`, `prefer`, `require`, `verify-ca`, `verify-full`);
    /// unset, the URL's `sslmode` applies (default `prefer`).
    pub sslmode: Option<String>,
}

impl Default for DatabaseConfig {
    fn default() -> Self {
        Self {
            statement_timeout_ms: 5000,
            acquire_timeout_ms: 3000,
            isolation: IsolationLevel::ReadCommitted,
            prepared_statements: true,
            sslmode: None,
        }
    }
}

/// `database.isolation`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum IsolationLevel {
    /// PostgreSQL's default.
    ReadCommitted,
    /// What CockroachDB and YugabyteDB run at; conflicts are retried.
    Serializable,
}

/// `policy.revocation`: which sources to ask.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum RevocationMode {
    /// OCSP first, the CRL when OCSP gives no answer (the default).
    OcspCrl,
    /// OCSP only.
    Ocsp,
    /// The CRL only.
    Crl,
    /// No checking: revoked certificates pass. Tests and demos only; logged.
    Off,
}

/// `policy.revocation_unavailable`: what to do when no source answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum UnavailableMode {
    /// Refuse with 503 `REVOCATION_UNAVAILABLE` (the default).
    FailClosed,
    /// Accept, and log a warning.
    SoftFail,
}

/// `[policy]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PolicyConfig {
    /// Revocation sources. Default `ocsp-crl`.
    #[serde(default = "default_revocation")]
    pub revocation: RevocationMode,
    /// Fail closed or soft. Default `fail-closed`.
    #[serde(default = "default_unavailable")]
    pub revocation_unavailable: UnavailableMode,
    /// Accept SHA-1 certificate signatures (legacy switch).
    #[serde(default)]
    pub allow_sha1: bool,
    /// Smallest RSA key accepted.
    #[serde(default = "default_min_rsa_bits")]
    pub min_rsa_bits: usize,
    /// Most intermediate CAs between a leaf and its trust anchor.
    #[serde(default = "default_max_intermediates")]
    pub max_intermediates: usize,
}

impl Default for PolicyConfig {
    fn default() -> Self {
        Self {
            revocation: default_revocation(),
            revocation_unavailable: default_unavailable(),
            allow_sha1: false,
            min_rsa_bits: default_min_rsa_bits(),
            max_intermediates: default_max_intermediates(),
        }
    }
}

/// `[revocation]`: timeouts, freshness and per-issuer settings.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RevocationConfig {
    /// Time limit of each OCSP or CRL HTTP call, milliseconds (1 to 15,000); a whole
    /// check gets three times that, within the minute the page waits for an answer.
    pub timeout_ms: u64,
    /// Refuse OCSP answers that carry no nonce (one that carries another is always
    /// refused). Off by default: pre-produced answers carry none (design §6).
    pub ocsp_require_nonce: bool,
    /// An OCSP answer's thisUpdate may be at most this old, seconds.
    pub ocsp_max_age_seconds: u32,
    /// thisUpdate of OCSP answers and CRLs may lie this far in the future, seconds.
    pub clock_skew_seconds: u32,
    /// Largest CRL downloaded, bytes.
    pub crl_max_bytes: usize,
    /// OCSP answers (and CRLs) kept in memory at most.
    pub cache_entries: usize,
    /// Cached CRLs are downloaded again this long before they expire (their nextUpdate, or
    /// `crl_max_age_seconds` after their download), seconds.
    pub crl_refresh_margin_seconds: u32,
    /// A CRL is used at most this long after it was downloaded, whatever its
    /// nextUpdate, seconds; more than `crl_refresh_margin_seconds`.
    pub crl_max_age_seconds: u32,
    /// Per issuing CA: responder and CRL URLs replacing the certificate's, nonce rule.
    pub issuers: Vec<IssuerRevocationConfig>,
}

impl Default for RevocationConfig {
    fn default() -> Self {
        Self {
            timeout_ms: 5000,
            ocsp_require_nonce: false,
            ocsp_max_age_seconds: 3600,
            clock_skew_seconds: 300,
            crl_max_bytes: 10 * 1024 * 1024,
            cache_entries: 10_000,
            crl_refresh_margin_seconds: 3600,
            crl_max_age_seconds: 6 * 3600,
            issuers: Vec::new(),
        }
    }
}

/// `[[revocation.issuers]]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IssuerRevocationConfig {
    /// The issuing CA's certificate (PEM or DER); matched by its key.
    pub certificate: PathBuf,
    /// OCSP responder to ask instead of the certificates' AIA.
    pub ocsp_url: Option<String>,
    /// CRL to fetch instead of the certificates' CRL distribution point.
    pub crl_url: Option<String>,
    /// Overrides `revocation.ocsp_require_nonce` for this CA's responder.
    pub ocsp_require_nonce: Option<bool>,
}

/// `[runtime]`: the threads requests run on.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RuntimeConfig {
    /// Threads that run requests (the async runtime's workers); absent, one per core, or
    /// what the runtime's own `TOKIO_WORKER_THREADS` variable says if it is set.
    /// Fewer than the cores can cost less CPU per request when the gateway shares its
    /// machine with other busy processes (docs/performance.md); SQLite's writer and
    /// reader threads are not counted here.
    pub worker_threads: Option<usize>,
}

/// Most request threads a configuration may ask for.
pub const MAX_WORKER_THREADS: usize = 1024;

/// `[limits]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LimitsConfig {
    /// Largest request body, bytes.
    pub body_bytes: usize,
    /// Requests per minute per client IP on the challenge, registration and session
    /// endpoints and the OpenID Provider's browser endpoints (token bucket refill rate).
    pub rate_per_minute: u32,
    /// Burst allowance per client IP.
    pub rate_burst: u32,
    /// Requests doing work at once, over all routes; more wait up to `queue_wait_ms`.
    pub max_concurrent_requests: usize,
    /// Signing-SIM requests waiting on the operator at once: long polls, and starts
    /// while the operator takes the push.
    pub max_concurrent_polls: usize,
    /// How long a request waits for its turn before `503 OVERLOADED`, milliseconds.
    pub queue_wait_ms: u64,
    /// Connections open at once (kept below the open-file limit).
    pub max_connections: usize,
    /// How many clients' worth of requests (`rate_per_minute`, `rate_burst`) one IPv6
    /// /48 gets in all, whichever of its /64s they come from; 0 turns it off. A /48 is
    /// free from tunnel brokers and holds 65,536 /64s; a mobile carrier may put many
    /// phones in one, so watch `RATE_LIMITED` answers to IPv6 clients if it is low.
    pub ipv6_network_share: u32,
    /// Connections one client (an IPv4 address, an IPv6 /64) may hold at once; a trusted
    /// proxy is not held to it. A browser opens a handful; an office behind one NAT
    /// address a few hundred at most.
    pub max_connections_per_client: usize,
    /// Connections one IPv6 /48 may hold at once in all, whichever of its /64s they come
    /// from (a /48 is free from tunnel brokers); 0 turns it off. Keep it well under
    /// `max_connections`, so one site cannot take every slot.
    pub max_connections_per_ipv6_network: usize,
    /// From connect, or from the end of the last response, to a complete request head;
    /// also the idle keep-alive timeout, and how long an answer may go unread. Seconds.
    pub header_timeout_seconds: u32,
    /// The whole request body must arrive within this, seconds.
    pub body_timeout_seconds: u32,
    /// After SIGTERM, how long requests in flight may take to finish, seconds.
    pub shutdown_grace_seconds: u32,
    /// Challenge lifetime, seconds.
    pub challenge_ttl_seconds: u32,
    /// Registration ticket lifetime, seconds.
    pub ticket_ttl_seconds: u32,
    /// Login session lifetime, seconds.
    pub session_ttl_seconds: u32,
    /// Database connections.
    pub database_connections: u32,
    /// Reverse proxies believed about their client's address (`X-Forwarded-For`), as
    /// addresses or `ADDRESS/PREFIX` networks: the proxy in front of the gateway, so the
    /// per-client limits count clients, not the proxy. Empty: the header is ignored.
    pub trusted_proxies: Vec<String>,
}

impl Default for LimitsConfig {
    fn default() -> Self {
        Self {
            body_bytes: 64 * 1024,
            rate_per_minute: 120,
            rate_burst: 30,
            max_concurrent_requests: 512,
            max_concurrent_polls: 512,
            queue_wait_ms: 5000,
            max_connections: 4096,
            max_connections_per_client: 256,
            max_connections_per_ipv6_network: 1024,
            ipv6_network_share: 32,
            header_timeout_seconds: 10,
            body_timeout_seconds: 10,
            shutdown_grace_seconds: 35,
            challenge_ttl_seconds: 300,
            ticket_ttl_seconds: 600,
            session_ttl_seconds: 8 * 3600,
            database_connections: 8,
            trusted_proxies: Vec::new(),
        }
    }
}

fn default_listen() -> String {
    "127.0.0.1:8080".into()
}

fn default_database_url() -> String {
    "sqlite://kyso.db".into()
}

fn default_min_rsa_bits() -> usize {
    2048
}

fn default_max_intermediates() -> usize {
    PolicyOptions::default().max_intermediates
}

fn default_revocation() -> RevocationMode {
    RevocationMode::OcspCrl
}

fn default_unavailable() -> UnavailableMode {
    UnavailableMode::FailClosed
}

/// The configuration could not be used; the message names the file or the key.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file cannot be read.
    #[error("{}: {source}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The file is not TOML.
    #[error("{}: {source}", path.display())]
    Syntax {
        /// The file.
        path: PathBuf,
        /// Where and why.
        #[source]
        source: toml::de::Error,
    },
    /// A key is unknown, missing, or has a value the gateway cannot use.
    #[error("{key}: {reason}")]
    Invalid {
        /// The key path, e.g. `limits.body_bytes`.
        key: String,
        /// What is wrong.
        reason: String,
    },
}

impl ConfigError {
    /// A key with a value the gateway cannot use.
    pub fn invalid(key: impl Into<String>, reason: impl Into<String>) -> Self {
        Self::Invalid {
            key: key.into(),
            reason: reason.into(),
        }
    }
}

/// Prefixes of the variables that belong to kyso's other programs, and the log filter.
const OTHER_PROGRAMS: [&str; 5] = ["SHIM_", "MSSP_SIM_", "DEMO_", "TEST_", "LOG"];

/// A variable's key path: `KYSO_LIMITS__BODY_BYTES` → `["limits", "body_bytes"]`.
fn key_path(name: &str) -> Vec<String> {
    name.split("__").map(str::to_ascii_lowercase).collect()
}

/// Sets `path` in `table`; `false` when the path runs through a value that is not a
/// table (then it cannot name a key).
fn set_path(table: &mut toml::Table, path: &[String], value: toml::Value) -> bool {
    let Some((last, parents)) = path.split_last() else {
        return false;
    };
    let mut t = table;
    for p in parents {
        match t
            .entry(p.clone())
            .or_insert_with(|| toml::Value::Table(toml::Table::new()))
            .as_table_mut()
        {
            Some(inner) => t = inner,
            None => return false,
        }
    }
    t.insert(last.clone(), value);
    true
}

/// Removes `path` from `table` (and tables the removal leaves empty that it created).
fn remove_path(table: &mut toml::Table, path: &[String]) {
    match path {
        [] => {}
        [last] => {
            table.remove(last);
        }
        [first, rest @ ..] => {
            if let Some(inner) = table.get_mut(first).and_then(toml::Value::as_table_mut) {
                remove_path(inner, rest);
                if inner.is_empty() {
                    table.remove(first);
                }
            }
        }
    }
}

/// The field serde names in "unknown field `x`, expected …".
fn unknown_field(message: &str) -> Option<&str> {
    message
        .strip_prefix("unknown field `")?
        .split_once('`')
        .map(|(field, _)| field)
}

/// A variable's value: TOML when it parses as a TOML value, else the text itself. (A
/// key that wants text gets the text itself after all: see [`Config::load_reporting`].)
fn env_value(raw: &str) -> toml::Value {
    toml::from_str::<toml::Table>(&format!("v = {raw}"))
        .ok()
        .and_then(|mut t| t.remove("v"))
        .unwrap_or_else(|| toml::Value::String(raw.to_owned()))
}

/// Whether a setting holds a secret, whose value no message may repeat.
fn names_a_secret(path: &[String]) -> bool {
    path.last().is_some_and(|key| key.contains("secret"))
}

/// An SQLite URL whose path is relative, made relative to `base` (the configuration's
/// folder), as every other path in the file: `audit verify --config /etc/kyso/kyso.toml`
/// reads the gateway's database wherever it is run from. Other URLs, and in-memory
/// databases, as they are.
fn sqlite_relative_to(url: &str, base: &Path) -> String {
    match sqlite_path(url) {
        Some(path) if path.is_relative() => {
            let joined = base.join(path);
            match url.split_once('?') {
                Some((_, query)) => format!("sqlite://{}?{query}", joined.display()),
                None => format!("sqlite://{}", joined.display()),
            }
        }
        _ => url.to_owned(),
    }
}

/// The path of an SQLite URL, `None` for other URLs and in-memory databases.
fn sqlite_path(url: &str) -> Option<&Path> {
    let rest = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))?;
    let path = rest.split('?').next().unwrap_or(rest);
    (!path.is_empty() && !path.starts_with(':')).then(|| Path::new(path))
}

/// Builds before relative SQLite paths followed the configuration file read them from the
/// working directory. When the file is found there and not beside the configuration, a
/// gateway would quietly start on a new, empty database: refused, saying what to do.
fn check_not_left_behind(given: &str, resolved: &str) -> Result<(), ConfigError> {
    match (sqlite_path(given), sqlite_path(resolved)) {
        (Some(old), Some(new)) if old != new && !new.exists() && old.exists() => {
            Err(ConfigError::invalid(
                "database_url",
                format!(
                    "a relative path is relative to the configuration file, so this names {}, \
                     which does not exist, while {} (relative to the working directory, as \
                     earlier builds read it) does: move the database beside the \
                     configuration, or write its absolute path",
                    new.display(),
                    old.display()
                ),
            ))
        }
        _ => Ok(()),
    }
}

impl Config {
    /// Reads `path`, applies the `KYSO_*` variables of `env` (warning about, and
    /// ignoring, those that name no key), and checks the result.
    pub fn load(
        path: &Path,
        env: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Self, ConfigError> {
        let (config, ignored) = Self::load_reporting(path, env)?;
        for name in ignored {
            tracing::warn!(variable = %name, "environment variable ignored: it names no gateway setting");
        }
        Ok(config)
    }

    /// [`Config::load`], returning the names of the ignored variables instead of logging.
    pub fn load_reporting(
        path: &Path,
        env: impl IntoIterator<Item = (String, String)>,
    ) -> Result<(Self, Vec<String>), ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_owned(),
            source,
        })?;
        let mut table: toml::Table =
            toml::from_str(&text).map_err(|source| ConfigError::Syntax {
                path: path.to_owned(),
                source,
            })?;
        // Each variable applied: its name, its key path, its text.
        let mut from_env: Vec<(String, Vec<String>, String)> = Vec::new();
        let mut ignored = Vec::new();
        for (key, raw) in env {
            let Some(name) = key.strip_prefix("KYSO_") else {
                continue;
            };
            if OTHER_PROGRAMS.iter().any(|p| name.starts_with(p)) {
                continue;
            }
            let keys = key_path(name);
            if set_path(&mut table, &keys, env_value(&raw)) {
                from_env.push((key, keys, raw));
            } else {
                ignored.push(key);
            }
        }
        loop {
            match serde_path_to_error::deserialize::<_, Config>(toml::Value::Table(table.clone())) {
                Ok(config) => {
                    config.check()?;
                    let base = path.parent().unwrap_or(Path::new("."));
                    let given = config.database_url.clone();
                    let config = config.relative_to(base);
                    check_not_left_behind(&given, &config.database_url)?;
                    return Ok((config, ignored));
                }
                Err(e) => {
                    let at: Vec<String> = e.path().iter().map(|s| s.to_string()).collect();
                    let message = e.into_inner().message().to_owned();
                    // An unknown key that came from a variable: drop the variable.
                    let culprit = unknown_field(&message).and_then(|field| {
                        let mut key = at.clone();
                        if key.last().map(String::as_str) != Some(field) {
                            key.push(field.to_owned());
                        }
                        from_env.iter().position(|(_, keys, _)| *keys == key)
                    });
                    if let Some(i) = culprit {
                        let (name, keys, _) = from_env.remove(i);
                        remove_path(&mut table, &keys);
                        ignored.push(name);
                        continue;
                    }
                    // A key that wants text but got what read as a number or a boolean
                    // from a variable (`KYSO_SIM__AP_SECRET=20250517`): the text itself.
                    let retyped = if message.starts_with("invalid type") {
                        from_env
                            .iter_mut()
                            .find(|(_, keys, raw)| *keys == at && !raw.is_empty())
                    } else {
                        None
                    };
                    if let Some((_, keys, raw)) = retyped {
                        // Taken: a second type error at this key is final.
                        let text = std::mem::take(raw);
                        set_path(&mut table, keys, toml::Value::String(text));
                        continue;
                    }
                    let reason = if names_a_secret(&at) {
                        "is not a valid value (not repeated here: it is a secret)".to_owned()
                    } else {
                        message
                    };
                    return Err(ConfigError::invalid(at.join("."), reason));
                }
            }
        }
    }

    fn relative_to(mut self, base: &Path) -> Self {
        let fix = |p: &mut PathBuf| {
            if p.is_relative() {
                *p = base.join(&*p);
            }
        };
        self.trust.anchors.iter_mut().for_each(fix);
        self.trust.intermediates.iter_mut().for_each(fix);
        self.revocation
            .issuers
            .iter_mut()
            .for_each(|i| fix(&mut i.certificate));
        if let Some(oidc) = &mut self.oidc {
            oidc.relative_to(base);
        }
        self.database_url = sqlite_relative_to(&self.database_url, base);
        self
    }

    /// The listen address.
    pub fn listen_addr(&self) -> Result<SocketAddr, ConfigError> {
        self.listen.parse().map_err(|_| {
            ConfigError::invalid(
                "listen",
                format!("{:?} is not an address:port", self.listen),
            )
        })
    }

    fn check(&self) -> Result<(), ConfigError> {
        self.listen_addr()?;
        check_public_origin(&self.public_origin)?;
        // Said without repeating the value, which may hold a password.
        if !["sqlite:", "postgres://", "postgresql://"]
            .iter()
            .any(|scheme| self.database_url.starts_with(scheme))
        {
            return Err(ConfigError::invalid(
                "database_url",
                "must be sqlite://PATH or postgres://… (the scheme in lower case)",
            ));
        }
        if !is_loopback_agent_url(&self.web.agent_url) {
            return Err(ConfigError::invalid(
                "web.agent_url",
                "must be http://127.0.0.1:PORT, http://localhost:PORT or http://[::1]:PORT \
                 with nothing after the port (the agent listens on loopback only, and the \
                 value goes into the page's Content-Security-Policy)",
            ));
        }
        if let Some(sim) = &self.sim {
            sim.check()?;
        }
        if let Some(oidc) = &self.oidc {
            oidc.check(&self.public_origin)?;
        }
        for (i, issuer) in self.revocation.issuers.iter().enumerate() {
            for (key, url) in [("ocsp_url", &issuer.ocsp_url), ("crl_url", &issuer.crl_url)] {
                if let Some(url) = url {
                    let lower = url.to_ascii_lowercase();
                    if !(lower.starts_with("http://") || lower.starts_with("https://")) {
                        return Err(ConfigError::invalid(
                            format!("revocation.issuers[{i}].{key}"),
                            "must be an http(s) URL",
                        ));
                    }
                }
            }
        }
        // Aged out within the refresh margin, a CRL would be downloaded at every
        // minute's refresh.
        if self.revocation.crl_max_age_seconds <= self.revocation.crl_refresh_margin_seconds {
            return Err(ConfigError::invalid(
                "revocation.crl_max_age_seconds",
                "must be more than revocation.crl_refresh_margin_seconds",
            ));
        }
        // A person waits for up to three calls (the check's whole budget), and the page
        // for a minute: 15 s a call keeps the check inside that minute.
        if !(1..=15_000).contains(&self.revocation.timeout_ms) {
            return Err(ConfigError::invalid(
                "revocation.timeout_ms",
                "must be 1 to 15000: a check gets three times it, and the page waits a minute for an answer",
            ));
        }
        // Below 2048 bits RSA is breakable with public means (and the CAs' signatures
        // are held to 2048 regardless); no verifier here takes RSA above 8192 bits, so a
        // higher minimum would refuse every RSA key.
        if !(2048..=8192).contains(&self.policy.min_rsa_bits) {
            return Err(ConfigError::invalid(
                "policy.min_rsa_bits",
                "must be 2048 to 8192",
            ));
        }
        if self.policy.max_intermediates > 8 {
            return Err(ConfigError::invalid(
                "policy.max_intermediates",
                "must be 0 to 8",
            ));
        }
        if self.trust.anchors.is_empty() {
            return Err(ConfigError::invalid(
                "trust.anchors",
                "at least one trust anchor is required",
            ));
        }
        if self.limits.body_bytes < 1024 {
            return Err(ConfigError::invalid(
                "limits.body_bytes",
                "must be at least 1024",
            ));
        }
        for (key, value) in [
            (
                "limits.max_concurrent_requests",
                self.limits.max_concurrent_requests,
            ),
            (
                "limits.max_concurrent_polls",
                self.limits.max_concurrent_polls,
            ),
            ("limits.max_connections", self.limits.max_connections),
            (
                "limits.max_connections_per_client",
                self.limits.max_connections_per_client,
            ),
            (
                "limits.header_timeout_seconds",
                self.limits.header_timeout_seconds as usize,
            ),
            (
                "limits.body_timeout_seconds",
                self.limits.body_timeout_seconds as usize,
            ),
            (
                "limits.challenge_ttl_seconds",
                self.limits.challenge_ttl_seconds as usize,
            ),
            (
                "limits.ticket_ttl_seconds",
                self.limits.ticket_ttl_seconds as usize,
            ),
            (
                "limits.session_ttl_seconds",
                self.limits.session_ttl_seconds as usize,
            ),
            (
                "limits.database_connections",
                self.limits.database_connections as usize,
            ),
            (
                "database.statement_timeout_ms",
                usize::try_from(self.database.statement_timeout_ms).unwrap_or(usize::MAX),
            ),
            (
                "database.acquire_timeout_ms",
                usize::try_from(self.database.acquire_timeout_ms).unwrap_or(usize::MAX),
            ),
        ] {
            if value == 0 {
                return Err(ConfigError::invalid(key, "must be positive"));
            }
        }
        if let Some(n) = self.runtime.worker_threads
            && !(1..=MAX_WORKER_THREADS).contains(&n)
        {
            return Err(ConfigError::invalid(
                "runtime.worker_threads",
                format!("must be 1 to {MAX_WORKER_THREADS}"),
            ));
        }
        if self.limits.rate_per_minute == 0 || self.limits.rate_burst == 0 {
            return Err(ConfigError::invalid(
                "limits.rate_per_minute",
                "limits.rate_per_minute and limits.rate_burst must be positive",
            ));
        }
        self.trusted_proxies()?;
        Ok(())
    }

    /// `limits.trusted_proxies`, read.
    pub fn trusted_proxies(&self) -> Result<Vec<ProxyNet>, ConfigError> {
        self.limits
            .trusted_proxies
            .iter()
            .map(|net| {
                net.parse()
                    .map_err(|e| ConfigError::invalid("limits.trusted_proxies", e))
            })
            .collect()
    }

    /// The policy switches.
    pub fn policy_options(&self) -> PolicyOptions {
        PolicyOptions {
            allow_sha1: self.policy.allow_sha1,
            min_rsa_bits: self.policy.min_rsa_bits,
            max_intermediates: self.policy.max_intermediates,
        }
    }
}

/// The public origin, refused unless spelled as browsers send it ([`check_origin`]).
fn check_public_origin(origin: &str) -> Result<(), ConfigError> {
    check_origin(origin)
        .map_err(|why| ConfigError::invalid("public_origin", format!("{origin:?}: {why}")))
}

/// Whether `url` is exactly a loopback HTTP origin with a numeric port (an optional
/// trailing `/`). Anything more — a path, a second source, a `;` — would change the
/// Content-Security-Policy the page is served with, so it is refused.
fn is_loopback_agent_url(url: &str) -> bool {
    let url = url.strip_suffix('/').unwrap_or(url);
    let Some(rest) = url.strip_prefix("http://") else {
        return false;
    };
    let Some((host, port)) = rest.rsplit_once(':') else {
        return false;
    };
    let port_ok = !port.is_empty()
        && port.len() <= 5
        && port.bytes().all(|b| b.is_ascii_digit())
        && port.parse::<u16>().is_ok_and(|p| p != 0);
    port_ok && matches!(host, "127.0.0.1" | "localhost" | "[::1]")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(text: &str) -> (tempfile::TempDir, PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("kyso.toml");
        std::fs::write(&path, text).unwrap();
        (dir, path)
    }

    const MINIMAL: &str = "public_origin = \"https://dichvucong.test\"\n[trust]\nanchors = [\"root.pem\"]\n[policy]\nrevocation = \"off\"\n";

    #[test]
    fn minimal_file_gets_documented_defaults_and_relative_paths() {
        let (dir, path) = write(MINIMAL);
        let c = Config::load(&path, []).unwrap();
        assert_eq!(c.limits.body_bytes, 65536);
        assert_eq!(c.limits.challenge_ttl_seconds, 300);
        assert_eq!(c.policy.min_rsa_bits, 2048);
        assert_eq!(c.trust.anchors[0], dir.path().join("root.pem"));
    }

    #[test]
    fn a_relative_sqlite_path_is_relative_to_the_file_like_every_path() {
        let url = |line: &str| {
            let (dir, path) = write(&format!("database_url = {line:?}\n{MINIMAL}"));
            (Config::load(&path, []).unwrap().database_url, dir)
        };
        let (got, dir) = url("sqlite://kyso.db?mode=rwc");
        assert_eq!(
            got,
            format!("sqlite://{}?mode=rwc", dir.path().join("kyso.db").display())
        );
        let (got, dir) = url("sqlite:data/kyso.db");
        assert_eq!(
            got,
            format!("sqlite://{}", dir.path().join("data/kyso.db").display())
        );
        for kept in [
            "sqlite:///var/lib/kyso/kyso.db",
            "sqlite::memory:",
            "postgres://kyso@db/kyso",
        ] {
            assert_eq!(url(kept).0, kept);
        }
    }

    #[test]
    fn zero_timeouts_and_lifetimes_and_unknown_database_schemes_are_refused() {
        for (table, key) in [
            ("limits", "challenge_ttl_seconds"),
            ("limits", "ticket_ttl_seconds"),
            ("limits", "session_ttl_seconds"),
            ("limits", "database_connections"),
            ("database", "statement_timeout_ms"),
            ("database", "acquire_timeout_ms"),
        ] {
            let (_dir, path) = write(&format!("{MINIMAL}[{table}]\n{key} = 0\n"));
            let e = Config::load(&path, []).unwrap_err().to_string();
            assert!(e.contains(&format!("{table}.{key}")), "{e}");
        }
        // A scheme in another case would have been opened as an SQLite file named by the
        // whole URL, and the error would have shown the password.
        let (_dir, path) = write(&format!(
            "database_url = \"Postgres://kyso:pw-7f3a@db/kyso\"\n{MINIMAL}"
        ));
        let e = Config::load(&path, []).unwrap_err().to_string();
        assert!(e.contains("database_url") && !e.contains("pw-7f3a"), "{e}");
    }

    #[test]
    fn the_example_file_parses_to_the_defaults_it_documents() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("kyso.example.toml");
        let c = Config::load(&path, []).unwrap();
        let d = RevocationConfig::default();
        let r = &c.revocation;
        assert_eq!(
            (r.timeout_ms, r.ocsp_require_nonce, r.ocsp_max_age_seconds),
            (d.timeout_ms, d.ocsp_require_nonce, d.ocsp_max_age_seconds)
        );
        assert_eq!(
            (r.clock_skew_seconds, r.crl_max_bytes, r.cache_entries),
            (d.clock_skew_seconds, d.crl_max_bytes, d.cache_entries)
        );
        assert_eq!(r.crl_refresh_margin_seconds, d.crl_refresh_margin_seconds);
        assert_eq!(r.crl_max_age_seconds, d.crl_max_age_seconds);
        let p = PolicyConfig::default();
        assert_eq!(
            (c.policy.revocation, c.policy.revocation_unavailable),
            (p.revocation, p.revocation_unavailable)
        );
        let l = LimitsConfig::default();
        assert_eq!(
            (
                c.limits.body_bytes,
                c.limits.max_concurrent_requests,
                c.limits.max_concurrent_polls
            ),
            (
                l.body_bytes,
                l.max_concurrent_requests,
                l.max_concurrent_polls
            )
        );
        assert_eq!(
            (
                c.limits.queue_wait_ms,
                c.limits.max_connections,
                c.limits.shutdown_grace_seconds
            ),
            (l.queue_wait_ms, l.max_connections, l.shutdown_grace_seconds)
        );
        assert_eq!(
            (
                c.limits.header_timeout_seconds,
                c.limits.body_timeout_seconds
            ),
            (l.header_timeout_seconds, l.body_timeout_seconds)
        );
        assert_eq!(c.policy.max_intermediates, p.max_intermediates);
        let sim = c.sim.unwrap();
        assert_eq!(sim.display_prefix, default_display_prefix());
        assert_eq!(
            (
                sim.answer_timeout_seconds,
                sim.hard_expiry_seconds,
                sim.poll_wait_seconds
            ),
            (
                default_answer_timeout(),
                default_hard_expiry(),
                default_poll_wait()
            )
        );
        assert_eq!(
            (
                sim.http_timeout_seconds,
                sim.starts_per_number,
                sim.starts_per_number_total(),
                sim.per_number_window_seconds
            ),
            (default_http_timeout(), 5, 15, default_per_number_window())
        );
        assert_eq!(
            (sim.starts_per_ip_per_minute, sim.starts_per_ip_burst),
            (default_starts_per_ip(), default_starts_burst())
        );
        assert_eq!(format!("{:?}", sim.ap_secret), "Secret(…)", "never printed");
    }

    #[test]
    fn sim_settings_are_checked() {
        let sim =
            "[sim]\nprovider_url = \"http://127.0.0.1:1\"\nap_id = \"a\"\nap_secret = \"s\"\n";
        let (_dir, path) = write(&format!("{MINIMAL}{sim}"));
        assert!(Config::load(&path, []).unwrap().sim.is_some());
        // Without a total, three networks' worth: a per-number limit set before the total
        // existed still loads.
        let (_dir, path) = write(&format!("{MINIMAL}{sim}starts_per_number = 20\n"));
        let loaded = Config::load(&path, []).unwrap().sim.unwrap();
        assert_eq!(loaded.settings().starts_per_number_total, 60);
        for (bad, key) in [
            ("provider_url = \"ftp://x\"", "sim.provider_url"),
            ("answer_timeout_seconds = 400", "sim.answer_timeout_seconds"),
            ("display_prefix = \"\"", "sim.display_prefix"),
            ("starts_per_number = 0", "sim.starts_per_number"),
            ("starts_per_number_total = 4", "sim.starts_per_number_total"),
            ("http_timeout_seconds = 31", "sim.http_timeout_seconds"),
        ] {
            let field = bad.split(' ').next().unwrap();
            let text = sim
                .lines()
                .filter(|l| !l.starts_with(field))
                .collect::<Vec<_>>()
                .join("\n");
            let (_dir, path) = write(&format!("{MINIMAL}{text}\n{bad}\n"));
            let e = Config::load(&path, []).unwrap_err().to_string();
            assert!(e.contains(key), "{bad}: {e}");
        }
    }

    #[test]
    fn environment_overrides_the_file() {
        let (_dir, path) = write(MINIMAL);
        let env = [
            (
                "KYSO_PUBLIC_ORIGIN".to_owned(),
                "https://portal.test:8443".to_owned(),
            ),
            ("KYSO_LIMITS__BODY_BYTES".to_owned(), "4096".to_owned()),
            ("KYSO_POLICY__ALLOW_SHA1".to_owned(), "true".to_owned()),
            ("PATH".to_owned(), "/bin".to_owned()),
        ];
        let c = Config::load(&path, env).unwrap();
        assert_eq!(c.public_origin, "https://portal.test:8443");
        assert_eq!(c.limits.body_bytes, 4096);
        assert!(c.policy.allow_sha1);
    }

    #[test]
    fn revocation_is_checked_and_fails_closed_unless_configured_otherwise() {
        let (_dir, path) = write(&MINIMAL.replace("revocation = \"off\"\n", ""));
        let c = Config::load(&path, []).unwrap();
        assert_eq!(c.policy.revocation, RevocationMode::OcspCrl);
        assert_eq!(c.policy.revocation_unavailable, UnavailableMode::FailClosed);
        assert!(
            !c.revocation.ocsp_require_nonce,
            "a nonce is checked when the responder sends one"
        );
        let (_dir, path) = write(&MINIMAL.replace("\"off\"", "\"ocsp-only\""));
        let e = Config::load(&path, []).unwrap_err().to_string();
        assert!(
            e.contains("policy.revocation") && e.contains("ocsp-crl"),
            "{e}"
        );
        let (_dir, path) = write(&format!(
            "{}revocation_unavailable = \"maybe\"\n",
            MINIMAL.replace("revocation = \"off\"\n", "")
        ));
        let e = Config::load(&path, []).unwrap_err().to_string();
        assert!(e.contains("policy.revocation_unavailable"), "{e}");
    }

    #[test]
    fn variables_that_name_no_key_are_ignored_and_named_but_file_typos_stay_errors() {
        let (_dir, path) = write(MINIMAL);
        let env = [
            ("KYSO_DEMO_PORT".to_owned(), "8081".to_owned()),
            ("KYSO_SHIM_PIN".to_owned(), "12345678".to_owned()),
            ("KYSO_LOG".to_owned(), "debug".to_owned()),
            ("KYSO_NOT_A_SETTING".to_owned(), "1".to_owned()),
            ("KYSO_LIMITS__NO_SUCH_LIMIT".to_owned(), "1".to_owned()),
            ("KYSO_PUBLIC_ORIGIN__DEEPER".to_owned(), "x".to_owned()),
            ("KYSO_LIMITS__BODY_BYTES".to_owned(), "4096".to_owned()),
        ];
        let (c, mut ignored) = Config::load_reporting(&path, env).unwrap();
        ignored.sort();
        assert_eq!(c.limits.body_bytes, 4096, "known variables still apply");
        assert_eq!(
            ignored,
            [
                "KYSO_LIMITS__NO_SUCH_LIMIT",
                "KYSO_NOT_A_SETTING",
                "KYSO_PUBLIC_ORIGIN__DEEPER"
            ]
        );
        // A variable with a value of the wrong type for a real key is still an error.
        let env = [("KYSO_LIMITS__BODY_BYTES".to_owned(), "lots".to_owned())];
        let e = Config::load(&path, env).unwrap_err().to_string();
        assert!(e.contains("limits.body_bytes"), "{e}");
        // A typo in the file is an error, whatever the environment says.
        let (_dir, path) = write(&format!("{MINIMAL}[limits]\nbody_byte = 10\n"));
        assert!(Config::load(&path, []).is_err());
    }

    #[test]
    fn text_settings_keep_variables_that_read_as_numbers_and_secrets_are_never_repeated() {
        let sim =
            "[sim]\nprovider_url = \"http://127.0.0.1:1\"\nap_id = \"a\"\nap_secret = \"s\"\n";
        let (_dir, path) = write(&format!("{MINIMAL}{sim}"));
        for secret in ["20250517", "123#x", "true", "1e3"] {
            let env = [
                ("KYSO_SIM__AP_SECRET".to_owned(), secret.to_owned()),
                ("KYSO_SIM__AP_ID".to_owned(), "4242".to_owned()),
            ];
            let c = Config::load(&path, env).unwrap();
            let sim = c.sim.unwrap();
            assert_eq!(sim.ap_secret.expose(), secret);
            assert_eq!(sim.ap_id, "4242");
        }
        // Numbers still reach number settings as numbers.
        let env = [("KYSO_LIMITS__BODY_BYTES".to_owned(), "4096".to_owned())];
        assert_eq!(Config::load(&path, env).unwrap().limits.body_bytes, 4096);
        // A secret of the wrong type in the file: the error names the key, not the value.
        let (_dir, path) = write(&format!(
            "{MINIMAL}{}",
            sim.replace("ap_secret = \"s\"", "ap_secret = 20250517")
        ));
        let e = Config::load(&path, []).unwrap_err().to_string();
        assert!(e.contains("sim.ap_secret"), "{e}");
        assert!(!e.contains("20250517"), "{e}");
    }

    /// The origin's spelling rules are `kyso_proto::origin`'s (tested there); the
    /// configuration names the setting and the value.
    #[test]
    fn a_public_origin_spelled_otherwise_than_browsers_do_is_refused_by_name() {
        let e = check_public_origin("https://DichVuCong.gov.vn")
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("public_origin") && e.contains("DichVuCong") && e.contains("lower case"),
            "{e}"
        );
        assert!(check_public_origin("https://dichvucong.gov.vn").is_ok());
    }

    /// The AP id and secret travel with every call to the operator: in the clear only to
    /// this machine.
    #[test]
    fn the_sim_provider_is_reached_over_https_unless_it_is_on_this_machine() {
        let sim = |url: &str| {
            let text = format!(
                "{MINIMAL}[sim]\nprovider_url = \"{url}\"\nap_id = \"a\"\nap_secret = \"s\"\n"
            );
            let (_dir, path) = write(&text);
            Config::load(&path, [])
                .map(|_| ())
                .map_err(|e| e.to_string())
        };
        for good in [
            "https://mssp.operator.vn/mss",
            "http://127.0.0.1:9000",
            "http://localhost:9000/mss",
            "http://[::1]:9000",
        ] {
            assert_eq!(sim(good), Ok(()), "{good}");
        }
        for bad in [
            "http://mssp.operator.vn/mss",
            "http://127.0.0.1.evil.test:9000",
            "https://user:pass@mssp.operator.vn",
            "https:///mss",
        ] {
            let e = sim(bad).unwrap_err();
            assert!(e.contains("sim.provider_url"), "{bad}: {e}");
        }
    }

    #[test]
    fn errors_name_the_setting() {
        let (_dir, path) = write(&format!(
            "{MINIMAL}[limits]\ntrusted_proxies = [\"10.0.0.1/8\"]\n"
        ));
        let e = Config::load(&path, []).unwrap_err().to_string();
        assert!(e.contains("limits.trusted_proxies"), "{e}");
        let (_dir, path) = write(&format!("{MINIMAL}[limits]\nbody_byte = 10\n"));
        assert!(
            Config::load(&path, [])
                .unwrap_err()
                .to_string()
                .contains("body_byte")
        );
        let (_dir, path) =
            write(&MINIMAL.replace("https://dichvucong.test", "https://dichvucong.test/"));
        assert!(
            Config::load(&path, [])
                .unwrap_err()
                .to_string()
                .contains("public_origin")
        );
        let (_dir, path) = write(&MINIMAL.replace("https://dichvucong.test", "http://portal.test"));
        assert!(
            Config::load(&path, [])
                .unwrap_err()
                .to_string()
                .contains("public_origin")
        );
        let (_dir, path) =
            write(&MINIMAL.replace("public_origin", "listen = \"nope\"\npublic_origin"));
        let e = Config::load(&path, []).unwrap_err().to_string();
        assert!(e.contains("listen"), "{e}");
    }

    #[test]
    fn the_agent_url_must_be_a_bare_loopback_origin() {
        for good in [
            "http://127.0.0.1:18765",
            "http://localhost:1/",
            "http://[::1]:65535",
        ] {
            let (_dir, path) = write(&format!("{MINIMAL}[web]\nagent_url = \"{good}\"\n"));
            assert!(Config::load(&path, []).is_ok(), "{good}");
        }
        for bad in [
            "http://127.0.0.1:1 https://evil.example",
            "http://127.0.0.1:1; script-src *",
            "http://127.0.0.1:",
            "http://127.0.0.1:0",
            "http://127.0.0.1:70000",
            "http://127.0.0.1:1/path",
            "http://127.0.0.1.evil.example:80",
            "https://127.0.0.1:1",
            "http://10.0.0.1:1",
        ] {
            let (_dir, path) = write(&format!("{MINIMAL}[web]\nagent_url = \"{bad}\"\n"));
            let e = Config::load(&path, []).unwrap_err().to_string();
            assert!(e.contains("web.agent_url"), "{bad}: {e}");
        }
    }
}
