//! Which refusals the tests have seen, so that a code no test produces is found.
//!
//! Every problem document a test receives over HTTP — from a gateway or agent process
//! ([`crate::processes::try_request`]) or from the gateway's router in process — is noted
//! by its `type` (`urn:kyso:error:CODE`, `urn:kyso:agent-error:CODE`) in a file per test
//! process under `target/<profile>/codes-seen/`. After the suite, `kyso-codes-check`
//! compares what was seen with every code of the two tables and fails naming the codes
//! nothing produced. `scripts/test.sh` empties the folder before the suite.

use std::io::Write;
use std::path::PathBuf;

/// The folder the notes go to.
pub fn seen_dir() -> PathBuf {
    crate::bin_dir().join("codes-seen")
}

/// Notes the problem type of `json`, if it is one of kyso's.
pub fn note(json: &serde_json::Value) {
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
        let _ = f.write_all(format!("{kind}\n").as_bytes());
    }
}
