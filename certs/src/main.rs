//! `kyso-certs generate --out DIR`: writes the test PKI of design §9 and its manifest.

use clap::{Parser, Subcommand};
use kyso_certs::{DEFAULT_BASE_URL, GenerateOptions, generate};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

#[derive(Parser)]
#[command(name = "kyso-certs", version, about = "Generates kyso's test PKI")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Generate the CAs, OCSP responders, CRLs, test persons and manifest.json.
    Generate {
        /// Output folder (created; existing files are overwritten).
        #[arg(long)]
        out: PathBuf,
        /// Base URL written into AIA (OCSP, caIssuers) and CRL distribution points.
        #[arg(long, default_value = DEFAULT_BASE_URL)]
        base_url: String,
        /// A second base under which every OCSP URL and CRL distribution point is listed
        /// too (mirrors).
        #[arg(long)]
        mirror_url: Option<String>,
    },
}

fn main() -> ExitCode {
    let Command::Generate {
        out,
        base_url,
        mirror_url,
    } = Cli::parse().command;
    let options = GenerateOptions {
        base_url,
        mirror_url,
        ..GenerateOptions::new(out)
    };
    let started = Instant::now();
    let mut progress = |step: &str| {
        eprintln!("[{:>6.2}s] {step}", started.elapsed().as_secs_f64());
    };
    match generate(&options, &mut progress) {
        Ok(manifest) => {
            eprintln!(
                "[{:>6.2}s] wrote {} CAs and {} persons to {}",
                started.elapsed().as_secs_f64(),
                manifest.cas.len(),
                manifest.persons.len(),
                options.out.display()
            );
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("kyso-certs: {e}");
            ExitCode::FAILURE
        }
    }
}
