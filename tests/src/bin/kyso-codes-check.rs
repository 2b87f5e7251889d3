//! `kyso-codes-check`: fails when an error code of the gateway or the agent was produced
//! by no test through HTTP (see `kyso_tests::codes`). Run after the whole suite.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // a checking tool

use kyso_verify::error::{AgentCode, ErrorCode};
use std::collections::BTreeSet;
use std::process::ExitCode;

fn main() -> ExitCode {
    let dir = kyso_tests::codes::seen_dir();
    let mut seen = BTreeSet::new();
    for entry in std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e} (run the test suite first)", dir.display()))
    {
        let text = std::fs::read_to_string(entry.unwrap().path()).unwrap();
        seen.extend(text.lines().map(str::to_owned));
    }
    let expected: Vec<String> = ErrorCode::ALL
        .iter()
        .map(|c| format!("urn:kyso:error:{c}"))
        .chain(
            AgentCode::ALL
                .iter()
                .map(|c| format!("urn:kyso:agent-error:{c}")),
        )
        .collect();
    let missing: Vec<&String> = expected.iter().filter(|c| !seen.contains(*c)).collect();
    let unknown: Vec<&String> = seen.iter().filter(|c| !expected.contains(c)).collect();
    println!(
        "kyso-codes-check: {} of {} codes produced by the tests",
        expected.len() - missing.len(),
        expected.len()
    );
    for c in &unknown {
        println!("  answered but in no table: {c}");
    }
    for c in &missing {
        println!("  produced by no test: {c}");
    }
    if missing.is_empty() && unknown.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}
