//! Which refusals the tests have seen, so that a code no test produces is found.
//!
//! Every problem document a test receives over HTTP — from a gateway or agent process
//! ([`crate::processes::try_request`]) or from the gateway's router in process — is noted
//! by its `type` (`urn:kyso:error:CODE`, `urn:kyso:agent-error:CODE`) in a file per test
//! process under `target/<profile>/codes-seen/`. After the suite, `kyso-codes-check`
//! compares what was seen with every code of the two tables and fails naming the codes
//! nothing produced; where the request is known, it also fails on a code the route's
//! OpenAPI description (`docs/openapi.json`) does not list. `scripts/test.sh` empties the folder before the suite.

use std::io::Write;
use std::path::PathBuf;

/// The folder the notes go to.
pub fn seen_dir() -> PathBuf {
    crate::bin_dir().join("codes-seen")
}

/// Notes the problem type of `json`, if it is one of kyso's.
pub fn note(json: &serde_json::Value) {
    write_note(json, None);
}

/// Notes the problem type of `json` as the answer to `method path` (no query), so the
/// check can also hold it against the codes the OpenAPI description lists for the route.
pub fn note_answer(json: &serde_json::Value, method: &str, path: &str) {
    write_note(json, Some((method, path)));
}

fn write_note(json: &serde_json::Value, request: Option<(&str, &str)>) {
    let Some(kind) = json["type"].as_str() else {
        return;
    };
    if !kind.starts_with("urn:kyso:") {
        return;
    }
    let dir = seen_dir();
    let _ = std::fs::create_dir_all(&dir);
    // One short line per write, appended: writers in parallel never interleave within it.
    if let Ok(mut f) = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(dir.join(std::process::id().to_string()))
    {
        let line = match request {
            // Paths carry no spaces on the wire; a test's odd path is cut at the first.
            Some((method, path)) => {
                let path = path.split([' ', '?']).next().unwrap_or_default();
                format!("{kind} {method} {path}\n")
            }
            None => format!("{kind}\n"),
        };
        let _ = f.write_all(line.as_bytes());
    }
}
