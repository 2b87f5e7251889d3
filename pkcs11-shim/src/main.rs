//! The `kyso-shim` command line (DESIGN §7, §10): `list` and `authenticate`.
//!
//! The PIN is never taken from the web page. For people it is asked on the terminal; for
//! CI it comes from `KYSO_SHIM_PIN` or `--pin-file`. It is never printed or logged.

use clap::{Parser, Subcommand};
use kyso_shim::token::{TokenModule, TokenSelector};
use kyso_shim::{ShimError, authenticate};
use std::path::PathBuf;
use std::process::ExitCode;

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

#[derive(Subcommand)]
enum Command {
    /// List tokens and their certificates as JSON.
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
        /// File holding the user PIN (else KYSO_SHIM_PIN, else a terminal prompt).
        #[arg(long)]
        pin_file: Option<PathBuf>,
    },
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

fn read_pin(pin_file: Option<&PathBuf>) -> Result<String, ShimError> {
    if let Some(path) = pin_file {
        let text = std::fs::read_to_string(path)
            .map_err(|e| ShimError::BadRequest(format!("--pin-file {}: {e}", path.display())))?;
        return Ok(text.trim_end_matches(['\r', '\n']).to_owned());
    }
    if let Ok(pin) = std::env::var("KYSO_SHIM_PIN") {
        return Ok(pin);
    }
    rpassword::prompt_password("Token PIN: ").map_err(|_| ShimError::UserCancelled)
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let module = match TokenModule::load(&cli.module) {
        Ok(m) => m,
        Err(e) => return fail(&e),
    };
    let result = match cli.command {
        Command::List => module.list().map(|t| serde_json::json!({ "tokens": t })),
        Command::Authenticate {
            origin,
            nonce,
            token,
            serial,
            cert,
            pin_file,
        } => read_pin(pin_file.as_ref()).and_then(|pin| {
            let selector = TokenSelector {
                label: token,
                serial,
            };
            authenticate(&module, &selector, cert.as_deref(), &pin, &origin, &nonce)
                .map(|t| serde_json::json!(t))
        }),
    };
    match result {
        Ok(json) => {
            println!("{json}");
            ExitCode::SUCCESS
        }
        Err(e) => fail(&e),
    }
}
