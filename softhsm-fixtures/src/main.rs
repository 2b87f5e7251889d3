//! `kyso-fixtures provision --pki DIR --out DIR2`: SoftHSM tokens for the test persons.

use clap::{Parser, Subcommand};
use kyso_fixtures::{SOFTHSM_MODULE, provision, write_softhsm_conf};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;
use time::OffsetDateTime;

#[derive(Parser)]
#[command(
    name = "kyso-fixtures",
    version,
    about = "Provisions SoftHSM2 tokens for kyso's test persons"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Make one token per token person of the manifest in --pki, into --out.
    Provision {
        /// Folder written by `kyso-certs generate`.
        #[arg(long)]
        pki: PathBuf,
        /// Output folder: softhsm2.conf, the token store, tokens.json, certificates.
        #[arg(long)]
        out: PathBuf,
        /// PKCS#11 module to provision through.
        #[arg(long, default_value = SOFTHSM_MODULE)]
        module: String,
    },
}

fn main() -> ExitCode {
    let Command::Provision { pki, out, module } = Cli::parse().command;
    let conf = match write_softhsm_conf(&out) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("kyso-fixtures: {e}");
            return ExitCode::FAILURE;
        }
    };
    // SAFETY: nothing else runs yet: no thread has been started, so no other code can be
    // reading the environment while it changes. SoftHSM reads this variable when the
    // module is initialised below, and offers no other way to be told.
    #[allow(unsafe_code)]
    unsafe {
        std::env::set_var("SOFTHSM2_CONF", &conf);
    }
    let started = Instant::now();
    let mut progress = |step: &str| eprintln!("[{:>6.2}s] {step}", started.elapsed().as_secs_f64());
    match provision(
        &pki,
        &out,
        &module,
        OffsetDateTime::now_utc(),
        &mut progress,
    ) {
        Ok(file) => {
            eprintln!(
                "[{:>6.2}s] provisioned {} tokens; use SOFTHSM2_CONF={}",
                started.elapsed().as_secs_f64(),
                file.tokens.len(),
                file.softhsm2_conf
            );
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("kyso-fixtures: {e}");
            ExitCode::FAILURE
        }
    }
}
