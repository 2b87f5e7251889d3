//! The `kyso-gateway` command line (DESIGN §10).

use clap::{Parser, Subcommand};
use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use time::OffsetDateTime;

#[derive(Parser)]
#[command(name = "kyso-gateway", version, about = "kyso registration gateway")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Print a certificate's identity and facts as JSON (no trust decision).
    ///
    /// Exit 0 when an identity was read, 1 when the certificate has none (the JSON says
    /// why), 2 when the file is not a certificate.
    Inspect {
        /// Certificate file, PEM or DER.
        cert: PathBuf,
    },
}

fn main() -> ExitCode {
    match Cli::parse().command {
        Command::Inspect { cert } => inspect(&cert),
    }
}

fn inspect(path: &PathBuf) -> ExitCode {
    let bytes = match std::fs::read(path) {
        Ok(b) => b,
        Err(e) => {
            eprintln!("kyso-gateway inspect: {}: {e}", path.display());
            return ExitCode::from(2);
        }
    };
    let report = match kyso_gateway::inspect::inspect(&bytes, OffsetDateTime::now_utc()) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("kyso-gateway inspect: {}: {e}", path.display());
            return ExitCode::from(2);
        }
    };
    let code = if report.error.is_some() { 1 } else { 0 };
    let written = serde_json::to_string_pretty(&report)
        .map_err(std::io::Error::other)
        .and_then(|json| writeln!(std::io::stdout(), "{json}"));
    match written {
        Ok(()) => ExitCode::from(code),
        Err(e) => {
            eprintln!("kyso-gateway inspect: {e}");
            ExitCode::from(2)
        }
    }
}
