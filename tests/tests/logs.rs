//! No secret reaches any log or the database. The gateway, the agent and the MSSP simulator run at debug
//! level (their dependencies' debug output included) with their logs in files, through a
//! token registration and login and a signing-SIM registration with a person confirming
//! on the phone; then every log, and the database's files, are searched for each secret
//! the run handled: the token PIN, the SIM PIN, the AP secret, tickets, session tokens
//! and SIM session ids — and the gateway's log for the phone number, which it names
//! only by its last three digits. The gateway logs in its JSON format: every line is a JSON
//! object, and the lines of a request carry the `X-Request-Id` it was sent with.

use kyso_tests::Fixtures;
use kyso_tests::mssp::{AP_ID, AP_SECRET, SimOptions, mssp_sim, sign_on_phone, sim_outcome};
use kyso_tests::processes::{
    GatewayOptions, ORIGIN, Reply, account_me, agent_logging, confirm, gateway, post,
};
use serde_json::json;

const SIM_PIN: &str = "739164";
const SIM_PHONE: &str = "+84912000002";
const REQUEST_ID: &str = "portal-7f3a.preview";

fn text(r: &Reply, field: &str) -> String {
    r.json[field]
        .as_str()
        .unwrap_or_else(|| panic!("no {field} in {r:?}"))
        .to_owned()
}

#[test]
fn no_pin_secret_ticket_token_or_session_id_reaches_any_log_at_debug_level_or_the_database() {
    let f = Fixtures::shared();
    let dir = tempfile::tempdir().unwrap();
    let logs = ["gateway", "agent", "mssp-sim"].map(|n| dir.path().join(format!("{n}.log")));
    let sim = mssp_sim(
        &f.pki,
        dir.path(),
        &SimOptions {
            pin: SIM_PIN.into(),
            debug_log: Some(logs[2].clone()),
            ..SimOptions::default()
        },
    );
    let gw = gateway(
        &f,
        dir.path(),
        &GatewayOptions {
            extra: format!(
                "[sim]\nprovider_url = {:?}\nap_id = {AP_ID:?}\nap_secret = {AP_SECRET:?}\n",
                sim.url
            ),
            debug_log: Some(logs[0].clone()),
            json_logs: true,
            ..GatewayOptions::default()
        },
    );
    let token = f.tokens.of("citizen-cccd").unwrap();
    let pin_file = dir.path().join("pin");
    std::fs::write(&pin_file, &token.user_pin).unwrap();
    let agent = agent_logging(&f, &pin_file, &[], Some(&logs[1]));
    let mut secrets = vec![
        token.user_pin.clone(),
        SIM_PIN.to_owned(),
        AP_SECRET.to_owned(),
    ];

    // A token registration and login through the agent.
    let signed = |purpose: &str| {
        let c = post(
            &format!("{}/v1/challenges", gw.url),
            &[],
            &json!({ "purpose": purpose }),
        );
        let nonce = text(&c, "nonce");
        let signature = post(
            &format!("{}/v1/authenticate", agent.url),
            &[("Origin", ORIGIN)],
            &json!({
                "challenge_nonce": nonce,
                "certificate_id": format!("{}:{}", token.serial, token.key_id),
            }),
        );
        assert_eq!(signature.status, 200, "{signature:?}");
        json!({ "challenge_id": c.json["challenge_id"], "auth_token": signature.json })
    };
    let preview = post(
        &format!("{}/v1/registrations/token", gw.url),
        &[("X-Request-Id", REQUEST_ID)],
        &signed("register"),
    );
    assert!(
        preview
            .headers
            .contains(&("x-request-id".into(), REQUEST_ID.into()))
    );
    let ticket = text(&preview, "ticket");
    assert_eq!(confirm(&gw.url, &ticket, &json!({})).status, 201);
    let login = post(
        &format!("{}/v1/sessions/token", gw.url),
        &[],
        &signed("login"),
    );
    let session_token = text(&login, "session_token");
    assert_eq!(account_me(&gw.url, &session_token).status, 200);
    secrets.extend([ticket, session_token]);

    // A SIM registration confirmed on the phone with the SIM PIN.
    let started = post(
        &format!("{}/v1/registrations/sim", gw.url),
        &[],
        &json!({ "phone": SIM_PHONE }),
    );
    assert_eq!(started.status, 202, "{started:?}");
    let session_id = text(&started, "session_id");
    let answered = sign_on_phone(&sim.url, SIM_PHONE, SIM_PIN);
    assert_eq!(answered.status, 200, "{answered:?}");
    let result = sim_outcome(&gw.url, "registrations", &session_id);
    let sim_ticket = text(&result, "ticket");
    assert_eq!(confirm(&gw.url, &sim_ticket, &json!({})).status, 201);
    secrets.extend([session_id, sim_ticket]);

    drop((agent, gw, sim));
    let gateway_log = std::fs::read_to_string(&logs[0]).unwrap();
    let lines: Vec<serde_json::Value> = gateway_log
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect();
    assert!(
        lines
            .iter()
            .all(|l| l["level"].is_string() && l["fields"].is_object())
    );
    assert!(
        lines
            .iter()
            .any(|l| l["span"]["request_id"] == REQUEST_ID && l["span"]["method"] == "POST"),
        "no log line of the preview carries its request id"
    );
    // The gateway's log names a number by its last three digits only (the simulator,
    // playing the operator, knows its subscribers' numbers).
    let national = SIM_PHONE.replacen("+84", "0", 1);
    for form in [SIM_PHONE, SIM_PHONE.trim_start_matches('+'), &national] {
        assert!(
            !gateway_log.contains(form),
            "the gateway's log holds the phone number {form}"
        );
    }
    // Nor does the database hold a ticket, a session token or a SIM session id as issued
    // (only their hashes): the SQLite file and its journal, byte for byte.
    for entry in std::fs::read_dir(dir.path()).unwrap() {
        let path = entry.unwrap().path();
        if !path
            .file_name()
            .unwrap()
            .to_string_lossy()
            .starts_with("kyso.db")
        {
            continue;
        }
        let bytes = std::fs::read(&path).unwrap();
        for secret in &secrets {
            assert!(
                !bytes.windows(secret.len()).any(|w| w == secret.as_bytes()),
                "{} holds a secret as issued ({} characters)",
                path.display(),
                secret.len()
            );
        }
    }
    for log in &logs {
        let written = std::fs::read_to_string(log).unwrap();
        assert!(
            written.contains("INFO"),
            "{} holds the program's log: {written}",
            log.display()
        );
        for secret in &secrets {
            assert!(
                !written.contains(secret.as_str()),
                "{} contains a secret ({} characters)",
                log.display(),
                secret.len()
            );
        }
    }
}
