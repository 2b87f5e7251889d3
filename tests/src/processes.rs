//! The real programs as child processes, and a minimal HTTP/1.1 client to talk to them.

use crate::{Fixtures, bin};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::time::Duration;

/// A child process killed when dropped, and the address it printed.
pub struct Running {
    child: Child,
    /// `http://127.0.0.1:PORT`.
    pub url: String,
}

impl Running {
    /// The process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Waits up to `within` for the process to end by itself; its status, if it did.
    pub fn exited_within(
        &mut self,
        within: std::time::Duration,
    ) -> Option<std::process::ExitStatus> {
        let deadline = std::time::Instant::now() + within;
        while std::time::Instant::now() < deadline {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Some(status);
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        None
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts `cmd` and waits for its first stdout line, `BANNER` followed by its URL.
pub fn start(cmd: std::process::Command, banner: &str) -> Running {
    start_logging(cmd, banner, None)
}

/// [`start`]; with `debug_log`, the program logs at debug level (`KYSO_LOG=debug`) into
/// that file instead of the test's stderr.
pub fn start_logging(
    mut cmd: std::process::Command,
    banner: &str,
    debug_log: Option<&Path>,
) -> Running {
    cmd.stdout(Stdio::piped());
    match debug_log {
        Some(path) => {
            let file = std::fs::File::create(path).expect("create log file");
            cmd.env("KYSO_LOG", "debug").stderr(file);
        }
        None => {
            cmd.stderr(Stdio::inherit());
        }
    }
    let mut child = cmd.spawn().expect("start process");
    let stdout = child.stdout.take().expect("stdout");
    let mut line = String::new();
    BufReader::new(stdout)
        .read_line(&mut line)
        .expect("read banner");
    let url = line
        .trim()
        .strip_prefix(banner)
        .unwrap_or_else(|| panic!("unexpected first line {line:?}"))
        .to_owned();
    Running { child, url }
}

/// Gateway configuration knobs the tests vary.
pub struct GatewayOptions {
    /// The public origin.
    pub origin: String,
    /// Requests per minute per IP.
    pub rate_per_minute: u32,
    /// Burst per IP.
    pub rate_burst: u32,
    /// Body limit.
    pub body_bytes: usize,
    /// The `[policy]` table's lines (revocation off unless a test says otherwise).
    pub policy: String,
    /// More TOML appended to the configuration (`[revocation]`, `[sim]` tables…).
    pub extra: String,
    /// Log at debug level into this file (see [`start_logging`]).
    pub debug_log: Option<PathBuf>,
    /// Log JSON lines (`KYSO_LOG_FORMAT=json`).
    pub json_logs: bool,
    /// The database; `None`, a fresh SQLite file in the gateway's folder.
    pub database_url: Option<String>,
}

impl Default for GatewayOptions {
    fn default() -> Self {
        Self {
            origin: ORIGIN.into(),
            rate_per_minute: 1_000_000,
            rate_burst: 100_000,
            body_bytes: 65536,
            policy: "revocation = \"off\"\n".into(),
            extra: String::new(),
            debug_log: None,
            json_logs: false,
            database_url: None,
        }
    }
}

/// The registration page's origin in the tests.
pub const ORIGIN: &str = "https://dichvucong.test";
/// A second origin the agent allows, to make tokens for the wrong origin.
pub const OTHER_ORIGIN: &str = "https://other-portal.test";

/// Starts `kyso-gateway serve` over the fixtures' PKI with a fresh SQLite file in `dir`.
pub fn gateway(f: &Fixtures, dir: &Path, options: &GatewayOptions) -> Running {
    gateway_for(&f.pki, &f.manifest, dir, options)
}

/// Starts `kyso-gateway serve` trusting the PKI in `pki`, with a fresh SQLite file in `dir`.
pub fn gateway_for(
    pki: &Path,
    manifest: &kyso_certs::Manifest,
    dir: &Path,
    options: &GatewayOptions,
) -> Running {
    let path = gateway_config(pki, manifest, dir, options);
    let mut cmd = bin("kyso-gateway");
    cmd.args(["serve", "--config"])
        .arg(&path)
        .env("KYSO_LOG", "warn");
    if options.json_logs {
        cmd.env("KYSO_LOG_FORMAT", "json");
    }
    start_logging(
        cmd,
        "kyso-gateway listening on ",
        options.debug_log.as_deref(),
    )
}

/// Writes `dir/kyso.toml`: a gateway trusting the PKI in `pki`, the database of
/// `options` (default a fresh SQLite file in `dir`), `options`; returns its path.
pub fn gateway_config(
    pki: &Path,
    manifest: &kyso_certs::Manifest,
    dir: &Path,
    options: &GatewayOptions,
) -> PathBuf {
    let anchors: Vec<String> = manifest
        .trust_anchors
        .iter()
        .map(|p| format!("{:?}", pki.join(p)))
        .collect();
    let inter: Vec<String> = manifest
        .intermediates
        .iter()
        .map(|p| format!("{:?}", pki.join(p)))
        .collect();
    let database_url = options
        .database_url
        .clone()
        .unwrap_or_else(|| format!("sqlite://{}", dir.join("kyso.db").display()));
    let config = format!(
        "listen = \"127.0.0.1:0\"\npublic_origin = \"{}\"\ndatabase_url = {:?}\n\
         [trust]\nanchors = [{}]\nintermediates = [{}]\n[policy]\n{}\
         [limits]\nrate_per_minute = {}\nrate_burst = {}\nbody_bytes = {}\n{}",
        options.origin,
        database_url,
        anchors.join(", "),
        inter.join(", "),
        options.policy,
        options.rate_per_minute,
        options.rate_burst,
        options.body_bytes,
        options.extra,
    );
    let path = dir.join("kyso.toml");
    std::fs::write(&path, config).unwrap();
    path
}

/// Starts `kyso-shim serve` over the fixtures' tokens, unattended, PIN read from `pin_file`.
pub fn agent(f: &Fixtures, pin_file: &PathBuf) -> Running {
    agent_with(f, pin_file, &[])
}

/// [`agent`] with more environment (`KYSO_SHIM_*` settings).
pub fn agent_with(f: &Fixtures, pin_file: &PathBuf, env: &[(&str, &str)]) -> Running {
    agent_logging(f, pin_file, env, None)
}

/// [`agent_with`], logging at debug level into `debug_log` when given.
pub fn agent_logging(
    f: &Fixtures,
    pin_file: &PathBuf,
    env: &[(&str, &str)],
    debug_log: Option<&Path>,
) -> Running {
    let mut cmd = f.with_tokens(bin("kyso-shim"));
    cmd.envs(env.iter().copied());
    cmd.args(["serve", "--listen", "127.0.0.1:0", "--allow-origin"])
        .arg(format!("{ORIGIN},{OTHER_ORIGIN}"))
        .arg("--pin-file")
        .arg(pin_file)
        .arg("--unattended")
        .env("KYSO_LOG", "warn")
        .env_remove("KYSO_SHIM_PIN");
    start_logging(cmd, "kyso-shim listening on ", debug_log)
}

/// An HTTP answer.
#[derive(Debug)]
pub struct Reply {
    /// Status code.
    pub status: u16,
    /// Headers, lower-cased names.
    pub headers: Vec<(String, String)>,
    /// Body as JSON (`Null` when empty or not JSON).
    pub json: serde_json::Value,
}

impl Reply {
    /// The problem document's `code`.
    pub fn code(&self) -> &str {
        self.json["code"].as_str().unwrap_or("")
    }

    /// A header's value.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

/// One HTTP/1.1 request with `Connection: close`; `body` is sent as JSON text when given.
pub fn request(method: &str, url: &str, headers: &[(&str, &str)], body: Option<&[u8]>) -> Reply {
    try_request(method, url, headers, body).unwrap_or_else(|e| panic!("{method} {url}: {e}"))
}

/// [`request`], with a failure to connect or a connection cut before a status line
/// (a server killed mid-request) as an error instead of a panic.
pub fn try_request(
    method: &str,
    url: &str,
    headers: &[(&str, &str)],
    body: Option<&[u8]>,
) -> Result<Reply, String> {
    let rest = url.strip_prefix("http://").expect("http URL");
    let (host, path) = rest
        .split_once('/')
        .map_or((rest, "/".to_owned()), |(h, p)| (h, format!("/{p}")));
    let mut stream = TcpStream::connect(host).map_err(|e| format!("connect: {e}"))?;
    stream
        .set_read_timeout(Some(Duration::from_secs(60)))
        .unwrap();
    let mut head = format!("{method} {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n");
    for (k, v) in headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    if let Some(b) = body {
        head.push_str(&format!(
            "Content-Type: application/json\r\nContent-Length: {}\r\n",
            b.len()
        ));
    }
    head.push_str("\r\n");
    stream
        .write_all(head.as_bytes())
        .map_err(|e| format!("send: {e}"))?;
    if let Some(b) = body {
        // The server may answer (413) and close before reading everything.
        let _ = stream.write_all(b);
    }
    let mut raw = Vec::new();
    let _ = stream.read_to_end(&mut raw);
    let text = String::from_utf8_lossy(&raw);
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let mut lines = head.lines();
    let status = lines
        .next()
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| format!("no status line in {text:?}"))?;
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    let json = serde_json::from_str(body).unwrap_or(serde_json::Value::Null);
    crate::codes::note_answer(&json, method, &path);
    Ok(Reply {
        status,
        headers,
        json,
    })
}

/// The value of metric `name` (a series without labels) in the `GET /metrics` of the
/// server at `url` (`http://host:port`); `None` if it cannot be read or has no such line.
pub fn metric(url: &str, name: &str) -> Option<String> {
    let host = url.trim_start_matches("http://").trim_end_matches('/');
    let mut stream = TcpStream::connect(host).ok()?;
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .ok()?;
    write!(
        stream,
        "GET /metrics HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    let mut text = String::new();
    stream.read_to_string(&mut text).ok()?;
    text.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' '))
        .map(str::to_owned)
}

/// POST JSON.
pub fn post(url: &str, headers: &[(&str, &str)], body: &serde_json::Value) -> Reply {
    request("POST", url, headers, Some(body.to_string().as_bytes()))
}

/// POST JSON, a transport failure as an error (see [`try_request`]).
pub fn try_post(url: &str, body: &serde_json::Value) -> Result<Reply, String> {
    try_request("POST", url, &[], Some(body.to_string().as_bytes()))
}

/// `POST /v1/registrations/{ticket}/confirm` on the gateway at `gateway`.
pub fn confirm(gateway: &str, ticket: &str, body: &serde_json::Value) -> Reply {
    post(
        &format!("{gateway}/v1/registrations/{ticket}/confirm"),
        &[],
        body,
    )
}

/// `GET /v1/accounts/me` with a session token, on the gateway at `gateway`.
pub fn account_me(gateway: &str, session_token: &str) -> Reply {
    request(
        "GET",
        &format!("{gateway}/v1/accounts/me"),
        &[("Authorization", &format!("Bearer {session_token}"))],
        None,
    )
}
