//! The `kyso-mssp-sim` command line (design §10):
//! `serve --config FILE` and `phone MSISDN list | confirm --pin P | reject [--id ID] [--url URL]`.
//!
//! `phone` plays the person holding the phone, through the simulator's device API. Exit
//! codes: 0 when the request was signed or refused as asked (or listed), 1 when the phone
//! refused (wrong PIN, PIN blocked, no such request, nothing pending), 2 on usage or
//! connection errors (including several pending requests without `--id`).

use crate::config::Config;
use crate::server::{ServeError, serve};
use clap::{Parser, Subcommand};
use kyso_proto::mss::{ConfirmRequest, DeviceAnswer, PendingRequest};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

/// Where the `phone` subcommand finds the simulator unless told otherwise.
pub const DEFAULT_URL: &str = "http://127.0.0.1:18990";

/// The command line.
#[derive(Parser)]
#[command(
    name = "kyso-mssp-sim",
    version,
    about = "Simulated mobile signature service (MSSP) and signing-SIM phones"
)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Subcommand)]
pub enum Command {
    /// Run the simulator's HTTP service.
    Serve {
        /// Configuration file (see mssp-sim/kyso-mssp-sim.example.toml).
        #[arg(long)]
        config: PathBuf,
    },
    /// Act as the person holding a phone: list, confirm or refuse its signing requests.
    Phone {
        /// The phone number (0912…, 84912… or +84912…).
        msisdn: String,
        /// The simulator's base URL.
        #[arg(long, global = true, env = "KYSO_MSSP_SIM_URL", default_value = DEFAULT_URL)]
        url: String,
        /// What the person does.
        #[command(subcommand)]
        action: PhoneAction,
    },
}

/// What the person does on the phone.
#[derive(Subcommand)]
pub enum PhoneAction {
    /// Print the pending requests as JSON.
    List,
    /// Enter the PIN and sign.
    Confirm {
        /// The SIM's signing PIN.
        #[arg(long, env = "KYSO_MSSP_SIM_PIN", hide_env_values = true)]
        pin: String,
        /// The request id (default: the only pending request).
        #[arg(long)]
        id: Option<String>,
    },
    /// Refuse to sign.
    Reject {
        /// The request id (default: the only pending request).
        #[arg(long)]
        id: Option<String>,
    },
}

/// Runs the command line; returns the process exit code.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("kyso-mssp-sim: {e}");
            return ExitCode::FAILURE;
        }
    };
    match cli.command {
        Command::Serve { config } => {
            init_logging();
            let config = match Config::load(&config) {
                Ok(c) => c,
                Err(e) => {
                    eprintln!("kyso-mssp-sim: {e}");
                    return ExitCode::from(2);
                }
            };
            match runtime.block_on(serve(config)) {
                Ok(()) => ExitCode::SUCCESS,
                Err(e @ ServeError::Config(_)) => {
                    eprintln!("kyso-mssp-sim: {e}");
                    ExitCode::from(2)
                }
                Err(e) => {
                    eprintln!("kyso-mssp-sim: {e}");
                    ExitCode::FAILURE
                }
            }
        }
        Command::Phone {
            msisdn,
            url,
            action,
        } => runtime.block_on(phone(&url, &msisdn, action)),
    }
}

/// Logs to stderr at the level `KYSO_LOG` names; JSON lines when `KYSO_LOG_FORMAT=json`.
fn init_logging() {
    let json = std::env::var("KYSO_LOG_FORMAT").is_ok_and(|f| f.eq_ignore_ascii_case("json"));
    kyso_edge::process::init_logging("KYSO_LOG", json);
}

/// A `phone` failure: the message and the exit code.
struct Failure(String, u8);

fn usage(message: impl std::fmt::Display) -> Failure {
    Failure(message.to_string(), 2)
}

/// The device API of one phone.
struct Device {
    client: reqwest::Client,
    base: String,
}

impl Device {
    fn new(url: &str, msisdn: &str) -> Result<Self, Failure> {
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(30))
            .build()
            .map_err(usage)?;
        let base = format!(
            "{}/device/v1/{}/requests",
            url.trim_end_matches('/'),
            path_segment(msisdn)
        );
        Ok(Self { client, base })
    }

    async fn list(&self) -> Result<Vec<PendingRequest>, Failure> {
        let r = self
            .client
            .get(&self.base)
            .send()
            .await
            .map_err(|e| usage(format!("{}: {e}", self.base)))?;
        if r.status() == reqwest::StatusCode::NOT_FOUND {
            return Err(Failure("not a mobile number".into(), 1));
        }
        if !r.status().is_success() {
            return Err(usage(format!("{}: HTTP {}", self.base, r.status())));
        }
        r.json()
            .await
            .map_err(|e| usage(format!("{}: {e}", self.base)))
    }

    async fn answer(&self, id: &str, pin: Option<&str>) -> Result<DeviceAnswer, Failure> {
        let action = if pin.is_some() { "confirm" } else { "reject" };
        let url = format!("{}/{}/{action}", self.base, path_segment(id));
        let mut request = self.client.post(&url);
        if let Some(pin) = pin {
            request = request.json(&ConfirmRequest {
                pin: pin.to_owned(),
            });
        }
        let r = request
            .send()
            .await
            .map_err(|e| usage(format!("{url}: {e}")))?;
        r.json().await.map_err(|e| usage(format!("{url}: {e}")))
    }
}

/// Percent-encodes everything but unreserved characters, for a URL path segment.
fn path_segment(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

async fn phone(url: &str, msisdn: &str, action: PhoneAction) -> ExitCode {
    match phone_inner(url, msisdn, action).await {
        Ok(code) => code,
        Err(Failure(message, code)) => {
            eprintln!("kyso-mssp-sim phone: {message}");
            ExitCode::from(code)
        }
    }
}

async fn phone_inner(url: &str, msisdn: &str, action: PhoneAction) -> Result<ExitCode, Failure> {
    let device = Device::new(url, msisdn)?;
    let (id, pin) = match action {
        PhoneAction::List => {
            let pending = device.list().await?;
            let json = serde_json::to_string_pretty(&pending).map_err(usage)?;
            println!("{json}");
            return Ok(ExitCode::SUCCESS);
        }
        PhoneAction::Confirm { pin, id } => (id, Some(pin)),
        PhoneAction::Reject { id } => (id, None),
    };
    let id = match id {
        Some(id) => id,
        None => {
            let pending = device.list().await?;
            match pending.as_slice() {
                [only] => only.id.clone(),
                [] => return Err(Failure("no pending request on this phone".into(), 1)),
                several => {
                    return Err(usage(format!(
                        "{} pending requests: choose one with --id",
                        several.len()
                    )));
                }
            }
        }
    };
    let answer = device.answer(&id, pin.as_deref()).await?;
    let json = serde_json::to_string(&answer).map_err(usage)?;
    println!("{json}");
    Ok(match answer.result.as_str() {
        "SIGNED" | "REJECTED" => ExitCode::SUCCESS,
        "PIN_INCORRECT" | "PIN_BLOCKED" | "NOT_FOUND" => ExitCode::from(1),
        _ => ExitCode::from(2),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn the_command_line_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn options_go_after_the_action() {
        let cli = Cli::try_parse_from([
            "kyso-mssp-sim",
            "phone",
            "+84912000001",
            "confirm",
            "--pin",
            "1234",
            "--id",
            "abc",
            "--url",
            "http://127.0.0.1:1",
        ])
        .unwrap();
        let Command::Phone {
            msisdn,
            url,
            action: PhoneAction::Confirm { pin, id },
        } = cli.command
        else {
            panic!("not parsed as phone confirm");
        };
        assert_eq!(
            (msisdn.as_str(), url.as_str(), pin.as_str(), id.as_deref()),
            ("+84912000001", "http://127.0.0.1:1", "1234", Some("abc"))
        );
    }

    #[test]
    fn path_segments_are_escaped() {
        assert_eq!(path_segment("+84912000001"), "%2B84912000001");
        assert_eq!(path_segment("a/b c"), "a%2Fb%20c");
        assert_eq!(path_segment("0f3a-_.~"), "0f3a-_.~");
    }
}
