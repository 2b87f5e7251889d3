//! The `kyso-shim` command line (design §7, §10): `list`, `authenticate`, `serve`.
//!
//! The PIN is never taken from the web page: it comes from `--pin-file`, a `--pinentry`
//! program, `KYSO_SHIM_PIN` or the terminal, and is never printed or logged. `serve` with
//! a PIN no person types (a file, the variable) needs `--unattended`.

use clap::{Args, Parser, Subcommand};
use kyso_edge::nofile::{connection_budget, raise_nofile_limit};
use kyso_edge::process::shutdown_signal;
use kyso_edge::{BodyLimits, EdgeLimits, serve_with_limits};
use kyso_shim::pin::PinSource;
use kyso_shim::refused::RefusedPins;
use kyso_shim::server::{AgentState, BODY_BYTES, router};
use kyso_shim::token::{TokenModule, TokenSelector};
use kyso_shim::{ShimError, authenticate};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

/// Debian's SoftHSM module; real tokens name their vendor's module with --module.
const DEFAULT_MODULE: &str = "/usr/lib/softhsm/libsofthsm2.so";

#[derive(Parser)]
#[command(name = "kyso-shim", version, about = "kyso signing agent")]
struct Cli {
    /// PKCS#11 module of the token.
    #[arg(long, global = true, env = "KYSO_SHIM_MODULE", default_value = DEFAULT_MODULE)]
    module: String,
    #[command(subcommand)]
    command: Command,
}

#[derive(Args)]
struct PinArgs {
    /// File holding the user PIN, read at each signature (else --pinentry, else
    /// KYSO_SHIM_PIN, else a terminal prompt: what the command line names comes first).
    #[arg(long)]
    pin_file: Option<PathBuf>,
    /// A pinentry program to ask the PIN with (GnuPG's pinentry-gnome3, pinentry-curses…).
    #[arg(long)]
    pinentry: Option<PathBuf>,
}

impl PinArgs {
    fn source(self) -> PinSource {
        if let Some(f) = self.pin_file {
            PinSource::File(f)
        } else if let Some(p) = self.pinentry {
            PinSource::Pinentry(p)
        } else if let Ok(pin) = std::env::var("KYSO_SHIM_PIN") {
            PinSource::Fixed(zeroize::Zeroizing::new(pin))
        } else {
            PinSource::Terminal
        }
    }
}

#[derive(Subcommand)]
enum Command {
    /// List the tokens' certificates with the identity read from each, as JSON.
    List,
    /// Sign a gateway challenge and print the Web eID auth token JSON.
    Authenticate {
        /// The page origin, https://host[:port].
        #[arg(long)]
        origin: String,
        /// The challenge nonce exactly as the gateway issued it.
        #[arg(long)]
        nonce: String,
        /// Token label (default: the only token present).
        #[arg(long)]
        token: Option<String>,
        /// Token serial.
        #[arg(long)]
        serial: Option<String>,
        /// Certificate id (CKA_ID, hex) when the token holds several.
        #[arg(long)]
        cert: Option<String>,
        #[command(flatten)]
        pin: PinArgs,
    },
    /// Serve the local HTTP API for the registration page.
    Serve {
        /// Address to listen on (loopback only); port 0 picks a free one.
        #[arg(long, default_value = "127.0.0.1:18765")]
        listen: SocketAddr,
        /// An origin allowed to use the agent (repeatable), e.g. https://dichvucong.gov.vn.
        #[arg(
            long = "allow-origin",
            env = "KYSO_SHIM_ALLOWED_ORIGINS",
            value_delimiter = ','
        )]
        allow_origins: Vec<String>,
        #[command(flatten)]
        pin: PinArgs,
        /// Sign without asking anyone, with the PIN from --pin-file or KYSO_SHIM_PIN. Any
        /// program on this computer can then sign in as the token's holder: only for test
        /// pipelines and machines no one else uses. Without it, `serve` refuses a PIN that
        /// no person types.
        #[arg(long, env = "KYSO_SHIM_UNATTENDED")]
        unattended: bool,
        #[command(flatten)]
        edge: EdgeArgs,
    },
}

/// Limits on clients of the local API (each also from `KYSO_SHIM_<NAME>`).
#[derive(Args, Clone, Copy)]
struct EdgeArgs {
    /// Seconds a connection may take to send a request head (also the idle keep-alive
    /// timeout, and how long an answer may go unread).
    #[arg(long, env = "KYSO_SHIM_HEADER_TIMEOUT_SECONDS", default_value_t = 10)]
    header_timeout_seconds: u64,
    /// Seconds the whole request body may take.
    #[arg(long, env = "KYSO_SHIM_BODY_TIMEOUT_SECONDS", default_value_t = 10)]
    body_timeout_seconds: u64,
    /// Connections open at once.
    #[arg(long, env = "KYSO_SHIM_MAX_CONNECTIONS", default_value_t = 512)]
    max_connections: usize,
}

/// Prints `{"error":{"code","detail"}}` and returns exit code 1.
fn fail(e: &ShimError) -> ExitCode {
    let mut error = serde_json::json!({ "code": e.code(), "detail": e.to_string() });
    if let ShimError::PinIncorrect {
        retries_left: Some(n),
    } = e
    {
        error["retries_left"] = (*n).into();
    }
    println!("{}", serde_json::json!({ "error": error }));
    ExitCode::FAILURE
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let module = match TokenModule::load(&cli.module) {
        Ok(m) => m,
        Err(e) => return fail(&e),
    };
    let result = match cli.command {
        Command::List => module.list().map(kyso_shim::server::certificates_report),
        Command::Authenticate {
            origin,
            nonce,
            token,
            serial,
            cert,
            pin,
        } => {
            let selector = TokenSelector {
                label: token,
                serial,
            };
            module
                .name_of(&selector)
                .and_then(|token| {
                    module.check_signer_shown(&selector, cert.as_deref())?;
                    pin.source().ask(&token.label, &origin)
                })
                .and_then(|pin| {
                    authenticate(&module, &selector, cert.as_deref(), &pin, &origin, &nonce)
                })
                .map(|t| serde_json::json!(t))
        }
        Command::Serve {
            listen,
            allow_origins,
            pin,
            unattended,
            edge,
        } => {
            return serve(
                module,
                cli.module,
                (listen, edge),
                allow_origins,
                (pin.source(), unattended),
            );
        }
    };
    match result {
        Ok(json) => {
            println!("{json}");
            ExitCode::SUCCESS
        }
        Err(e) => fail(&e),
    }
}

fn serve(
    module: TokenModule,
    module_path: String,
    (listen, edge): (SocketAddr, EdgeArgs),
    allowed_origins: Vec<String>,
    (pin, unattended): (PinSource, bool),
) -> ExitCode {
    let json = std::env::var("KYSO_LOG_FORMAT").is_ok_and(|f| f.eq_ignore_ascii_case("json"));
    kyso_edge::process::init_logging("KYSO_LOG", json);
    if !pin.asks_a_person() {
        if !unattended {
            eprintln!(
                "kyso-shim: a PIN from --pin-file or KYSO_SHIM_PIN lets any program on this \
                 computer sign in as the token's holder; use --pinentry, or pass --unattended \
                 to mean it (test pipelines, machines no one else uses)"
            );
            return ExitCode::from(2);
        }
        tracing::warn!(
            "signing unattended: every allowed origin's sign-in is signed without asking anyone"
        );
    }
    if !pin.can_ask() {
        eprintln!("kyso-shim: no terminal to ask PINs on (started without one); use --pinentry");
        return ExitCode::from(2);
    }
    if !listen.ip().is_loopback() {
        eprintln!("kyso-shim: --listen must be a loopback address");
        return ExitCode::from(2);
    }
    if allowed_origins.is_empty() {
        eprintln!("kyso-shim: no --allow-origin given: no web page could use the agent");
        return ExitCode::from(2);
    }
    // Compared byte for byte with the browser's `Origin`: any other spelling would
    // refuse that page for ever, silently.
    for origin in &allowed_origins {
        if let Err(why) = kyso_proto::origin::check_origin(origin) {
            eprintln!("kyso-shim: --allow-origin {origin:?} {why}");
            return ExitCode::from(2);
        }
    }
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("kyso-shim: {e}");
            return ExitCode::FAILURE;
        }
    };
    let code = runtime.block_on(async move {
        let listener = match tokio::net::TcpListener::bind(listen).await {
            Ok(l) => l,
            Err(e) => {
                eprintln!("kyso-shim: listen {listen}: {e}");
                return ExitCode::FAILURE;
            }
        };
        let Ok(addr) = listener.local_addr() else {
            return ExitCode::FAILURE;
        };
        // The names a page on this machine reaches the agent by, and the address it
        // listens on (another loopback address, `--listen 127.0.0.2:…`, included).
        let mut hosts = vec![
            format!("127.0.0.1:{}", addr.port()),
            format!("localhost:{}", addr.port()),
            format!("[::1]:{}", addr.port()),
        ];
        if !hosts.contains(&addr.to_string()) {
            hosts.push(addr.to_string());
        }
        let Ok(refused) = RefusedPins::new() else {
            eprintln!("kyso-shim: no system randomness");
            return ExitCode::FAILURE;
        };
        let state = Arc::new(AgentState {
            module: Arc::new(module),
            module_path,
            allowed_origins,
            pin,
            refused,
            hosts,
            address: addr,
            signing: Arc::new(tokio::sync::Mutex::new(())),
        });
        let body = BodyLimits {
            deadline: Duration::from_secs(edge.body_timeout_seconds.max(1)),
            max_bytes: BODY_BYTES,
        };
        let limits = EdgeLimits {
            header_read: Duration::from_secs(edge.header_timeout_seconds.max(1)),
            write_stall: Duration::from_secs(edge.header_timeout_seconds.max(1)),
            max_connections: connection_budget(edge.max_connections, raise_nofile_limit()),
            shutdown_grace: Duration::from_secs(5),
            shares: Vec::new(),
        };
        println!("kyso-shim listening on http://{addr}");
        tracing::info!(%addr, "kyso-shim serving");
        // At the signal an open PIN dialog is closed at once (its request ends
        // USER_CANCELLED within the grace), so nothing is signed during it.
        let stopping = async {
            shutdown_signal().await;
            kyso_shim::pin::close_dialogs();
        };
        match serve_with_limits(listener, router(state, body), limits, stopping).await {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("kyso-shim: {e}");
                ExitCode::FAILURE
            }
        }
    });
    // A terminal prompt still open holds a blocking thread, which the runtime's drop
    // would wait for (for ever): it is left behind.
    runtime.shutdown_timeout(Duration::from_secs(2));
    code
}
