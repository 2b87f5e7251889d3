//! `kyso-codes-check`: fails when an error code of the gateway or the agent was produced
//! by no test through HTTP, and when a route answered a code its OpenAPI description
//! (`docs/openapi.json`) does not list (see `kyso_tests::codes`). Run after the whole
//! suite.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // a checking tool

use kyso_verify::error::{AgentCode, ErrorCode};
use serde_json::Value;
use std::collections::BTreeSet;
use std::process::ExitCode;

/// The committed description, which a gateway test keeps equal to the code's.
const DESCRIPTION: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/openapi.json");

fn main() -> ExitCode {
    let dir = kyso_tests::codes::seen_dir();
    let mut lines = BTreeSet::new();
    for entry in std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e} (run the test suite first)", dir.display()))
    {
        let text = std::fs::read_to_string(entry.unwrap().path()).unwrap();
        lines.extend(text.lines().map(str::to_owned));
    }
    let seen: BTreeSet<&str> = lines.iter().filter_map(|l| l.split(' ').next()).collect();
    let expected: Vec<String> = ErrorCode::ALL
        .iter()
        .map(|c| format!("urn:kyso:error:{c}"))
        .chain(
            AgentCode::ALL
                .iter()
                .map(|c| format!("urn:kyso:agent-error:{c}")),
        )
        .collect();
    let missing: Vec<&String> = expected
        .iter()
        .filter(|c| !seen.contains(c.as_str()))
        .collect();
    let unknown: Vec<&&str> = seen
        .iter()
        .filter(|c| !expected.iter().any(|e| e == *c))
        .collect();
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
    let description: Value = serde_json::from_str(
        &std::fs::read_to_string(DESCRIPTION).unwrap_or_else(|e| panic!("{DESCRIPTION}: {e}")),
    )
    .unwrap();
    let (checked, undocumented) = against_description(&lines, &description);
    println!("kyso-codes-check: {checked} refusals held against the routes' descriptions");
    for u in &undocumented {
        println!("  not in the route's description: {u}");
    }
    if missing.is_empty() && unknown.is_empty() && undocumented.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

/// How many noted refusals of a described operation were checked, and those whose code
/// the operation's problem responses do not list.
fn against_description(lines: &BTreeSet<String>, description: &Value) -> (usize, Vec<String>) {
    let mut checked = 0;
    let mut undocumented = Vec::new();
    for line in lines {
        let mut parts = line.split(' ');
        let (Some(kind), Some(method), Some(path)) = (parts.next(), parts.next(), parts.next())
        else {
            continue;
        };
        let Some(code) = kind.strip_prefix("urn:kyso:error:") else {
            continue; // the agent's codes: the agent has no OpenAPI description
        };
        let Some(operation) = operation(description, method, path) else {
            continue; // no such route or method: answered by the fallback, not described
        };
        checked += 1;
        let listed = operation["responses"]
            .as_object()
            .into_iter()
            .flat_map(|r| r.values())
            .filter_map(|r| r["content"]["application/problem+json"]["examples"].as_object())
            .any(|examples| examples.contains_key(code));
        if !listed {
            undocumented.push(format!("{method} {path} answered {code}"));
        }
    }
    (checked, undocumented)
}

/// The described operation whose path template matches `path`.
fn operation<'a>(description: &'a Value, method: &str, path: &str) -> Option<&'a Value> {
    let segments: Vec<&str> = path.split('/').collect();
    description["paths"]
        .as_object()?
        .iter()
        .find_map(|(template, item)| {
            let pattern: Vec<&str> = template.split('/').collect();
            let matches = pattern.len() == segments.len()
                && pattern.iter().zip(&segments).all(|(p, s)| {
                    p == s || (p.starts_with('{') && p.ends_with('}') && !s.is_empty())
                });
            matches
                .then(|| item.get(method.to_ascii_lowercase()))
                .flatten()
        })
}
