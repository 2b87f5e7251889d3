//! The `kyso-gateway` command line (design §10).

use clap::{Parser, Subcommand};
use kyso_gateway::config::{Config, MAX_WORKER_THREADS};
use kyso_gateway::startup::{
    StartupError, policy_with, read_certificate, read_certificates, revocation_checker,
};
use kyso_gateway::store::{AUDIT_PAGE, AuditHead, AuditRow, Store, StoreError, verify_audit_chain};
use kyso_verify::policy::{CertificatePolicy, PathUsage};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use time::OffsetDateTime;

/// mimalloc rather than glibc's malloc: under load, glibc's `malloc`, `free` and fast-bin
/// consolidation took about a tenth of the gateway's CPU (hyper's buffers and header
/// maps, JSON, certificate parsing allocate per request). Measured in
/// docs/performance.md.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(name = "kyso-gateway", version, about = "kyso registration gateway")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

/// Where the maintenance commands look for the configuration when not told: the design
/// writes them without `--config` (`kyso-gateway migrate`, `kyso-gateway audit verify`).
const DEFAULT_CONFIG: &str = "kyso.toml";

#[derive(Subcommand)]
enum Command {
    /// Run the HTTP service.
    Serve {
        /// Configuration file (see gateway/kyso.example.toml).
        #[arg(long)]
        config: PathBuf,
    },
    /// Create or upgrade the database schema, then exit.
    Migrate {
        /// Configuration file (the database); `kyso.toml` here by default.
        #[arg(long, default_value = DEFAULT_CONFIG)]
        config: PathBuf,
    },
    /// The audit log (design §8).
    Audit {
        #[command(subcommand)]
        command: AuditCommand,
    },
    /// Print the API's OpenAPI 3.1 description (what `GET /openapi.json` serves;
    /// `docs/openapi.json` is this output).
    Openapi,
    /// Print a certificate's identity and facts as JSON (no trust decision).
    ///
    /// Exit 0 when an identity was read, 1 when the certificate has none (the JSON says
    /// why), 2 when the file is not a certificate.
    Inspect {
        /// Certificate file, PEM or DER.
        cert: PathBuf,
    },
    /// Verify a Web eID auth token: signature, chain and identity, each with its code.
    ///
    /// Exit 0 when all three pass, 1 when any is refused, 2 on usage errors.
    VerifyToken {
        /// Configuration file (policy and trust).
        #[arg(long)]
        config: PathBuf,
        /// The origin the token must be bound to.
        #[arg(long)]
        origin: String,
        /// The challenge nonce, exactly as issued.
        #[arg(long)]
        nonce: String,
        /// Verification time (RFC 3339); default now.
        #[arg(long)]
        at: Option<String>,
        /// Trust anchor file(s) replacing the configuration's.
        #[arg(long = "trust-anchor")]
        trust_anchors: Vec<PathBuf>,
        /// The token JSON file.
        token: PathBuf,
    },
    /// Judge a certificate with the gateway's policy (path, purpose, key, revocation,
    /// identity) and print the verdict as JSON.
    ///
    /// Exit 0 when accepted, 1 when refused (the JSON gives the code), 2 on usage errors.
    VerifyCert {
        /// Configuration file (policy, trust and revocation).
        #[arg(long)]
        config: PathBuf,
        /// Verification time (RFC 3339); default now.
        #[arg(long)]
        at: Option<String>,
        /// Intermediate certificate file(s) that travel with the certificate.
        #[arg(long = "intermediate")]
        intermediates: Vec<PathBuf>,
        /// Trust anchor file(s) replacing the configuration's.
        #[arg(long = "trust-anchor")]
        trust_anchors: Vec<PathBuf>,
        /// Check the path alone (signatures, validity, every CA constraint), the leaf's
        /// key and structure, and revocation — without the identity purpose and identity
        /// rules: `any` (no extended key usage required), `client-auth` or `server-auth`
        /// (that usage required where a certificate of the path names any; for
        /// conformance suites).
        #[arg(long, value_parser = ["any", "client-auth", "server-auth"])]
        purpose: Option<String>,
        /// The certificate, PEM or DER.
        cert: PathBuf,
    },
}

#[derive(Subcommand)]
enum AuditCommand {
    /// Recompute the hash chain over every row, and check it reaches the head the
    /// database records and the head given with `--anchor`.
    ///
    /// Exit 0 with the number of rows and the head (`SEQ:HASH`, to keep outside the
    /// database and give as `--anchor` later) when it holds; 1 naming the first broken
    /// row or the anchor the chain no longer passes through; 2 when the database cannot
    /// be read.
    Verify {
        /// Configuration file (the database); `kyso.toml` here by default.
        #[arg(long, default_value = DEFAULT_CONFIG)]
        config: PathBuf,
        /// A head printed by an earlier `audit verify` (`SEQ:HASH`): the chain must still
        /// pass through it, which shows that no row was cut from its end since.
        #[arg(long)]
        anchor: Option<AuditHead>,
    },
    /// Write the evidence out as JSON lines, one per audit row in chain order: when, what,
    /// which account, the identifier, the certificate, the challenge, the signed data and
    /// the signature, with the row's hash and the previous one's (so the chain can be
    /// recomputed from the export alone).
    Export {
        /// Configuration file (the database); `kyso.toml` here by default.
        #[arg(long, default_value = DEFAULT_CONFIG)]
        config: PathBuf,
        /// Only rows at or after this time (RFC 3339).
        #[arg(long)]
        since: Option<String>,
    },
}

fn usage_error(e: impl std::fmt::Display) -> ExitCode {
    eprintln!("kyso-gateway: {e}");
    ExitCode::from(2)
}

fn load_config(path: &Path) -> Result<Config, ExitCode> {
    Config::load(path, std::env::vars()).map_err(usage_error)
}

/// Logs to stderr at the level `KYSO_LOG` names; JSON lines when `KYSO_LOG_FORMAT=json`.
fn init_logging() {
    let json = std::env::var("KYSO_LOG_FORMAT").is_ok_and(|f| f.eq_ignore_ascii_case("json"));
    kyso_edge::process::init_logging("KYSO_LOG", json);
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    // Tokio reads it when a runtime is built and panics on a value it cannot use.
    if let Ok(value) = std::env::var("TOKIO_WORKER_THREADS")
        && !value
            .parse::<usize>()
            .is_ok_and(|n| (1..=MAX_WORKER_THREADS).contains(&n))
    {
        return usage_error(format!(
            "TOKIO_WORKER_THREADS must be a number from 1 to {MAX_WORKER_THREADS}"
        ));
    }
    match cli.command {
        Command::Serve { config } => {
            init_logging();
            let config = match load_config(&config) {
                Ok(c) => c,
                Err(code) => return code,
            };
            let workers = config.runtime.worker_threads;
            run_async_on(workers, kyso_gateway::server::serve(config))
        }
        Command::Migrate { config } => {
            init_logging();
            let config = match load_config(&config) {
                Ok(c) => c,
                Err(code) => return code,
            };
            run_async(async move {
                let store = kyso_gateway::startup::open_store(&config).await?;
                Ok(store.migrate().await?)
            })
        }
        Command::Audit { command } => {
            init_logging();
            let path = match &command {
                AuditCommand::Verify { config, .. } | AuditCommand::Export { config, .. } => config,
            };
            let config = match load_config(path) {
                Ok(c) => c,
                Err(code) => return code,
            };
            match command {
                AuditCommand::Verify { anchor, .. } => audit_verify(&config, anchor),
                AuditCommand::Export { since, .. } => audit_export(&config, since.as_deref()),
            }
        }
        Command::Openapi => {
            print!("{}", kyso_gateway::http::openapi::render());
            ExitCode::SUCCESS
        }
        Command::Inspect { cert } => inspect(&cert),
        Command::VerifyToken {
            config,
            origin,
            nonce,
            at,
            trust_anchors,
            token,
        } => verify_token(
            &config,
            &origin,
            &nonce,
            at.as_deref(),
            &trust_anchors,
            &token,
        ),
        Command::VerifyCert {
            config,
            at,
            intermediates,
            trust_anchors,
            purpose,
            cert,
        } => verify_cert(&VerifyCertArgs {
            config: &config,
            at: at.as_deref(),
            intermediates: &intermediates,
            anchors: &trust_anchors,
            path_usage: purpose.as_deref().and_then(PathUsage::named),
            cert: &cert,
        }),
    }
}

fn run_async(f: impl std::future::Future<Output = Result<(), StartupError>>) -> ExitCode {
    run_async_on(None, f)
}

/// Runs `f` on a runtime with `workers` request threads (when `None`, the runtime's
/// default: one per core, or `TOKIO_WORKER_THREADS`).
fn run_async_on(
    workers: Option<usize>,
    f: impl std::future::Future<Output = Result<(), StartupError>>,
) -> ExitCode {
    let mut builder = tokio::runtime::Builder::new_multi_thread();
    builder.enable_all();
    if let Some(n) = workers {
        builder.worker_threads(n);
    }
    let runtime = match builder.build() {
        Ok(r) => r,
        Err(e) => return usage_error(e),
    };
    match runtime.block_on(f) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => usage_error(e),
    }
}

/// Opens the configured store (its schema current) and runs `work` on it. An SQLite file
/// must exist already: reading the audit log of a mistyped path must not create an empty
/// database and call its chain intact.
fn on_store<T, F>(config: &Config, work: impl FnOnce(Arc<dyn Store>) -> F) -> Result<T, String>
where
    F: std::future::Future<Output = T>,
{
    if let Some(rest) = config.database_url.strip_prefix("sqlite://") {
        let path = rest.split('?').next().unwrap_or(rest);
        if !Path::new(path).exists() {
            return Err(format!("database_url: there is no database at {path}"));
        }
    }
    let runtime = tokio::runtime::Runtime::new().map_err(|e| e.to_string())?;
    runtime.block_on(async {
        let store = kyso_gateway::startup::open_store(config)
            .await
            .map_err(|e| e.to_string())?;
        // Read only: a gateway of another build may be serving from this database.
        store.schema_current().await.map_err(|e| e.to_string())?;
        Ok(work(store).await)
    })
}

fn audit_verify(config: &Config, anchor: Option<AuditHead>) -> ExitCode {
    let verified = on_store(config, |store| async move {
        verify_audit_chain(store.as_ref(), anchor.as_ref(), AUDIT_PAGE).await
    });
    match verified {
        Err(e) => usage_error(e),
        Ok(Ok(head)) if head.seq == 0 => {
            println!("audit chain intact: 0 rows");
            ExitCode::SUCCESS
        }
        Ok(Ok(head)) => {
            println!("audit chain intact: {} rows, head {head}", head.seq);
            ExitCode::SUCCESS
        }
        Ok(Err(
            e @ (StoreError::AuditChainBroken { .. }
            | StoreError::AuditHeadMissing
            | StoreError::AuditAnchorMissing { .. }),
        )) => {
            println!("{e}");
            ExitCode::FAILURE
        }
        Ok(Err(e)) => usage_error(e),
    }
}

fn audit_export(config: &Config, since: Option<&str>) -> ExitCode {
    let since = match since
        .map(|t| OffsetDateTime::parse(t, &time::format_description::well_known::Rfc3339))
        .transpose()
    {
        Ok(t) => t,
        Err(e) => return usage_error(format!("--since: {e}")),
    };
    let exported = on_store(config, |store| async move {
        let mut out = std::io::BufWriter::new(std::io::stdout().lock());
        let mut after = 0;
        loop {
            let page = store.audit_rows(after, since, AUDIT_PAGE).await?;
            let Some(last) = page.last() else {
                return Ok::<_, StoreError>(out.flush());
            };
            after = last.seq;
            for row in page {
                if let Err(e) = writeln!(out, "{}", export_line(row)) {
                    return Ok(Err(e));
                }
            }
        }
    });
    match exported {
        Ok(Ok(Ok(()))) => ExitCode::SUCCESS,
        // stdout closed (a pipe's reader gone): nothing more to say.
        Ok(Ok(Err(_))) => ExitCode::from(2),
        Ok(Err(e)) => usage_error(e),
        Err(e) => usage_error(e),
    }
}

/// One exported row: the details as the JSON they are, the rest as stored.
fn export_line(row: AuditRow) -> serde_json::Value {
    serde_json::json!({
        "seq": row.seq,
        "at": row.at.format(&time::format_description::well_known::Rfc3339).unwrap_or_default(),
        "event": row.event,
        "account_id": row.account_id,
        "details": serde_json::from_str::<serde_json::Value>(&row.details)
            .unwrap_or(serde_json::Value::String(row.details)),
        "prev_hash": row.prev_hash,
        "hash": row.hash,
    })
}

fn print_json(value: &impl serde::Serialize) -> std::io::Result<()> {
    let json = serde_json::to_string_pretty(value).map_err(std::io::Error::other)?;
    writeln!(std::io::stdout(), "{json}")
}

fn inspect(path: &PathBuf) -> ExitCode {
    let bytes = match std::fs::read(path) {
        Ok(b) => b,
        Err(e) => return usage_error(format!("inspect: {}: {e}", path.display())),
    };
    let report = match kyso_verify::inspect::inspect(&bytes, OffsetDateTime::now_utc()) {
        Ok(r) => r,
        Err(e) => return usage_error(format!("inspect: {}: {e}", path.display())),
    };
    let code = if report.error.is_some() { 1 } else { 0 };
    match print_json(&report) {
        Ok(()) => ExitCode::from(code),
        Err(e) => usage_error(e),
    }
}

fn verdict(result: Result<(), kyso_verify::error::Rejection>) -> serde_json::Value {
    match result {
        Ok(()) => serde_json::json!({ "code": "ok" }),
        Err(r) => serde_json::json!({ "code": r.code.as_str(), "detail": r.detail }),
    }
}

fn parse_at(at: Option<&str>) -> Result<OffsetDateTime, ExitCode> {
    match at.map(|s| OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339)) {
        None => Ok(OffsetDateTime::now_utc()),
        Some(Ok(t)) => Ok(t),
        Some(Err(e)) => Err(usage_error(format!("--at: {e}"))),
    }
}

/// The configuration's policy, with `anchors` replacing its trust anchors when given.
fn cli_policy(config: &Config, anchors: &[PathBuf]) -> Result<CertificatePolicy, ExitCode> {
    revocation_checker(config)
        .and_then(|r| policy_with(config, r, (!anchors.is_empty()).then_some(anchors)))
        .map_err(usage_error)
}

fn verify_token(
    config: &Path,
    origin: &str,
    nonce: &str,
    at: Option<&str>,
    anchors: &[PathBuf],
    token: &Path,
) -> ExitCode {
    let config = match load_config(config) {
        Ok(c) => c,
        Err(code) => return code,
    };
    let (at, policy) = match (parse_at(at), cli_policy(&config, anchors)) {
        (Ok(at), Ok(p)) => (at, p),
        (Err(code), _) | (_, Err(code)) => return code,
    };
    let token: kyso_proto::webeid::AuthToken = match std::fs::read(token)
        .map_err(|e| e.to_string())
        .and_then(|b| serde_json::from_slice(&b).map_err(|e| e.to_string()))
    {
        Ok(t) => t,
        Err(e) => return usage_error(format!("{}: {e}", token.display())),
    };
    let report = match block_on(kyso_verify::webeid::report(
        &policy, &token, origin, nonce, at,
    )) {
        Ok(r) => r,
        Err(code) => return code,
    };
    let all_ok = [&report.signature, &report.chain, &report.identity]
        .iter()
        .all(|r| r.is_ok());
    let identity = match &report.subject {
        Some(s) => serde_json::json!({ "code": "ok", "subject": s }),
        None => verdict(report.identity.clone()),
    };
    let json = serde_json::json!({
        "signature": verdict(report.signature),
        "chain": verdict(report.chain),
        "identity": identity,
    });
    match print_json(&json) {
        Ok(()) if all_ok => ExitCode::SUCCESS,
        Ok(()) => ExitCode::from(1),
        Err(e) => usage_error(e),
    }
}

/// Runs a future on a fresh runtime (the CLI's one-shot commands).
fn block_on<F: std::future::Future>(f: F) -> Result<F::Output, ExitCode> {
    tokio::runtime::Runtime::new()
        .map(|rt| rt.block_on(f))
        .map_err(usage_error)
}

struct VerifyCertArgs<'a> {
    config: &'a Path,
    at: Option<&'a str>,
    intermediates: &'a [PathBuf],
    anchors: &'a [PathBuf],
    path_usage: Option<PathUsage>,
    cert: &'a Path,
}

fn verify_cert(args: &VerifyCertArgs<'_>) -> ExitCode {
    let config = match load_config(args.config) {
        Ok(c) => c,
        Err(code) => return code,
    };
    let (at, policy) = match (parse_at(args.at), cli_policy(&config, args.anchors)) {
        (Ok(at), Ok(p)) => (at, p),
        (Err(code), _) | (_, Err(code)) => return code,
    };
    let (der, extra) = match (
        read_certificate(args.cert, "certificate").map_err(usage_error),
        read_certificates(args.intermediates, "--intermediate").map_err(usage_error),
    ) {
        (Ok(d), Ok(e)) => (d, e),
        (Err(code), _) | (_, Err(code)) => return code,
    };
    let verdict = block_on(async {
        if let Some(usage) = args.path_usage {
            policy
                .verify_path(&der, &extra, at, usage)
                .await
                .map(|()| None)
        } else {
            policy.verify(&der, &extra, at).await?;
            let (_, cert) = x509_parser::parse_x509_certificate(&der).map_err(|e| {
                kyso_verify::error::Rejection::new(
                    kyso_verify::error::ErrorCode::MalformedToken,
                    e.to_string(),
                )
            })?;
            Ok(Some(kyso_verify::identity::extract_subject(
                &cert,
                at.year(),
            )?))
        }
    });
    let verdict = match verdict {
        Ok(v) => v,
        Err(code) => return code,
    };
    let (json, code) = match verdict {
        Ok(subject) => (
            serde_json::json!({ "code": "ok", "subject": subject }),
            ExitCode::SUCCESS,
        ),
        Err(r) => (
            serde_json::json!({ "code": r.code.as_str(), "detail": r.detail }),
            ExitCode::from(1),
        ),
    };
    match print_json(&json) {
        Ok(()) => code,
        Err(e) => usage_error(e),
    }
}
