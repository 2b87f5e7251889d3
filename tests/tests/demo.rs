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

fn free_port() -> String {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().port().to_string()
}

/// The demo's first instruction is the page's address, and the page found there is set up
/// to reach the demo's own agent (the CSP and `/config.json` name its port).
#[test]
fn the_demo_prints_the_page_address_first_and_serves_the_page_wired_to_its_agent() {
    use std::io::{BufRead, BufReader};
    let data = tempfile::tempdir().unwrap();
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
    let (gateway, agent) = (free_port(), free_port());
    let mut demo = Command::new("bash")
        .arg(root.join("scripts/demo.sh"))
        .env("KYSO_DEMO_BIN", kyso_tests::bin_dir())
        .env("KYSO_DEMO_DATA", data.path().join("demo"))
        .env("KYSO_DEMO_PORT", &gateway)
        .env("KYSO_DEMO_AGENT_PORT", &agent)
        .env("KYSO_DEMO_SIM_PORT", free_port())
        .env("KYSO_DEMO_OCSP_VNPT_PORT", free_port())
        .env("KYSO_DEMO_OCSP_VIETTEL_PORT", free_port())
        .env("KYSO_DEMO_OCSP_ROOT_PORT", free_port())
        .env_remove("KYSO_DATA")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(demo.stdout.take().unwrap()).lines();
    let mut seen = Vec::new();
    for line in lines.by_ref() {
        let line = line.unwrap();
        let running = line.contains("kyso demo is running");
        seen.push(line);
        if running {
            break;
        }
    }
    let after: Vec<String> = lines.by_ref().take(3).map(|l| l.unwrap()).collect();
    let page = format!("http://localhost:{gateway}/");
    let first_address = after.iter().find(|l| l.contains("http://"));
    let stop = |demo: &mut std::process::Child| {
        let _ = Command::new("kill")
            .args(["-TERM", &demo.id().to_string()])
            .status();
        let _ = demo.wait();
    };
    let Some(first_address) = first_address else {
        stop(&mut demo);
        panic!("no address after the banner: {seen:?} {after:?}");
    };
    let home =
        kyso_tests::processes::request("GET", &format!("http://127.0.0.1:{gateway}/"), &[], None);
    let config = kyso_tests::processes::request(
        "GET",
        &format!("http://127.0.0.1:{gateway}/config.json"),
        &[],
        None,
    );
    stop(&mut demo);
    assert_eq!(first_address.trim(), page, "{after:?}");
    assert_eq!(home.status, 200);
    let csp = home.header("content-security-policy").unwrap_or("");
    assert!(csp.contains(&format!("http://127.0.0.1:{agent}")), "{csp}");
    assert_eq!(
        config.json["agent_url"],
        format!("http://127.0.0.1:{agent}"),
        "{:?}",
        config.json
    );
}
