//! The demo script (`scripts/demo.sh`) checks that each program it starts is up, and when
//! one is not, stops with that program's own message and a non-zero exit instead of
//! announcing a demo that is not running. Here the gateway finds its port taken.

use std::net::TcpListener;
use std::path::Path;
use std::process::Command;

#[test]
fn the_demo_stops_with_the_message_of_a_program_that_did_not_start() {
    let taken = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port().to_string();
    let data = tempfile::tempdir().unwrap();
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
    let out = Command::new("bash")
        .arg(root.join("scripts/demo.sh"))
        .env("KYSO_DEMO_BIN", kyso_tests::bin_dir())
        .env("KYSO_DEMO_DATA", data.path().join("demo"))
        .env("KYSO_DEMO_PORT", &port)
        .env_remove("KYSO_DATA")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{stdout}\n{stderr}");
    assert!(!stdout.contains("kyso demo is running"), "{stdout}");
    assert!(
        stderr.contains("demo: kyso-gateway did not start"),
        "{stderr}"
    );
    assert!(
        stderr.contains(&format!("listen 127.0.0.1:{port}")),
        "the gateway's own message: {stderr}"
    );
    assert!(
        data.path().join("demo/pki/manifest.json").exists(),
        "an absolute KYSO_DEMO_DATA is used as it is"
    );
    drop(taken);
}
