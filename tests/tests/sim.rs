//! Signing-SIM registration and login end to end: the real `kyso-gateway` and the real
//! `kyso-mssp-sim` over HTTP, driven as the registration page and the phone would. Each
//! outcome of design §3 comes from one of the simulator's documented test numbers, or
//! from a person answering on an interactive number through the device API or the
//! `kyso-mssp-sim phone` command.

use kyso_tests::mssp::{
    AP_SECRET, SimLimits, SimOptions, confirm_on_phone, gateway_sim_table, mssp_sim,
    request_on_phone, sim_outcome,
};
use kyso_tests::processes::{
    GatewayOptions, Reply, Running, account_me, confirm, gateway, post, request,
};
use kyso_tests::{Fixtures, bin, run};
use serde_json::{Value, json};
use std::path::Path;
use std::process::Command;

const SIM_CITIZEN: &str = "+84912000001";
const SIM_CITIZEN_EC: &str = "+84912000002";
const SIM_ENTERPRISE: &str = "+84912000003";
const AUTO_OK: &str = "+84913000001";
const AUTO_REFUSE: &str = "+84913000002";
const AUTO_NO_ANSWER: &str = "+84913000003";
const AUTO_NOT_ENROLLED: &str = "+84913000004";
const AUTO_PIN_BLOCKED: &str = "+84913000005";
const AUTO_OTA_ERROR: &str = "+84913000006";
const AUTO_DEVICE_ERROR: &str = "+84913000007";
const AUTO_BAD_SIGNATURE: &str = "+84913000008";
const AUTO_WRONG_CERTIFICATE: &str = "+84913000009";
const AUTO_SLOW_OK: &str = "+84913000010";
const AUTO_OTHER_TEXT: &str = "+84913000011";
const AUTO_ENTERPRISE_OK: &str = "+84913000012";
const PIN: &str = "1234";
const CONTACT: &str = "lien.he@kyso-thu-nghiem.vn";

struct Env {
    f: Fixtures,
    sim: Running,
    gw: Running,
    dir: tempfile::TempDir,
}

fn gateway_with_sim(f: &Fixtures, dir: &Path, provider: &str, limits: &SimLimits) -> Running {
    let options = GatewayOptions {
        extra: gateway_sim_table(provider, limits),
        ..GatewayOptions::default()
    };
    gateway(f, dir, &options)
}

fn env_with(limits: SimLimits) -> Env {
    let f = Fixtures::shared_pki();
    let dir = tempfile::tempdir().unwrap();
    let sim = mssp_sim(&f.pki, dir.path(), &SimOptions::default());
    let gw = gateway_with_sim(&f, dir.path(), &sim.url, &limits);
    Env { f, sim, gw, dir }
}

fn env() -> Env {
    env_with(SimLimits::default())
}

impl Env {
    fn start(&self, what: &str, phone: &str) -> Reply {
        let path = match what {
            "register" => "/v1/registrations/sim",
            _ => "/v1/sessions/sim",
        };
        post(
            &format!("{}{path}", self.gw.url),
            &[],
            &json!({ "phone": phone }),
        )
    }

    /// Starts and returns the session id, checking the 202 answer's shape.
    fn started(&self, what: &str, phone: &str) -> (String, String) {
        let r = self.start(what, phone);
        assert_eq!(r.status, 202, "{phone}: {r:?}");
        let code = r.json["verification_code"].as_str().unwrap().to_owned();
        assert_eq!(code.len(), 4);
        assert!(code.bytes().all(|b| b.is_ascii_digit()));
        assert!(r.json["expires_at"].is_string());
        (r.json["session_id"].as_str().unwrap().to_owned(), code)
    }

    /// Reads a session, waiting up to `wait` seconds for its result.
    fn result(&self, what: &str, id: &str, wait: u32) -> Reply {
        let path = match what {
            "register" => "registrations",
            _ => "sessions",
        };
        request(
            "GET",
            &format!("{}/v1/{path}/sim/{id}?wait={wait}", self.gw.url),
            &[],
            None,
        )
    }

    /// Reads until the session is complete.
    fn outcome(&self, what: &str, id: &str) -> Reply {
        let path = match what {
            "register" => "registrations",
            _ => "sessions",
        };
        sim_outcome(&self.gw.url, path, id)
    }

    /// The phone shows exactly one request; returns it.
    fn on_phone(&self, msisdn: &str) -> Value {
        request_on_phone(&self.sim.url, msisdn)
    }

    fn confirm_on_phone(&self, msisdn: &str, id: &str, pin: &str) -> Reply {
        confirm_on_phone(&self.sim.url, msisdn, id, pin)
    }

    fn confirm(&self, ticket: &str, body: &Value) -> Reply {
        confirm(&self.gw.url, ticket, body)
    }

    fn me(&self, token: &str) -> Reply {
        account_me(&self.gw.url, token)
    }
}

fn code(r: &Reply) -> (u16, &str) {
    (r.status, r.code())
}

#[test]
fn an_automatic_sim_registers_logs_in_and_cannot_register_twice() {
    let e = env();
    let (id, _) = e.started("register", AUTO_OK);
    let r = e.outcome("register", &id);
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(
        (&r.json["state"], &r.json["result"]),
        (&json!("complete"), &json!("OK"))
    );
    let person = e.f.manifest.person("sim-citizen").unwrap();
    let want = person.identity.as_ref().unwrap();
    assert_eq!(r.json["subject"]["identifier"]["kind"], "CCCD");
    assert_eq!(
        r.json["subject"]["identifier"]["value"],
        want.identifier.value
    );
    assert_eq!(r.json["ial"], 3);
    assert_eq!(
        r.json["certificate"]["serial"]
            .as_str()
            .unwrap()
            .to_uppercase(),
        person.serial
    );
    let created = e.confirm(r.json["ticket"].as_str().unwrap(), &json!({}));
    assert_eq!(created.status, 201, "{created:?}");
    assert_eq!(
        created.json["subject"]["identifier"]["value"],
        want.identifier.value
    );

    // Log in with the SIM: the session token is handed out once.
    let (id, _) = e.started("login", AUTO_OK);
    let login = e.outcome("login", &id);
    assert_eq!(login.status, 200, "{login:?}");
    assert_eq!(login.json["account"]["id"], created.json["account_id"]);
    let me = e.me(login.json["session_token"].as_str().unwrap());
    assert_eq!(me.status, 200, "{me:?}");
    assert_eq!(me.json["id"], created.json["account_id"]);
    let again = e.result("login", &id, 0);
    assert_eq!(code(&again), (404, "SIM_SESSION_NOT_FOUND"), "{again:?}");
    // A login session cannot be read as a registration, nor an unknown id.
    assert_eq!(e.result("register", &id, 0).status, 404);
    assert_eq!(e.result("login", "nope", 0).status, 404);

    // The same person again: their account exists.
    let (id, _) = e.started("register", AUTO_OK);
    let dup = e.outcome("register", &id);
    assert_eq!(code(&dup), (409, "ACCOUNT_EXISTS"), "{dup:?}");
    assert_eq!(dup.header("content-type"), Some("application/problem+json"));
}

#[test]
fn a_person_confirms_on_the_phone_with_the_code_the_page_shows() {
    let e = env();
    let (id, web_code) = e.started("register", SIM_ENTERPRISE);
    let shown = e.on_phone(SIM_ENTERPRISE);
    assert_eq!(
        shown["verification_code"], web_code,
        "both screens show one code"
    );
    let text = shown["display_text"].as_str().unwrap();
    assert!(text.starts_with("Cổng DVC thử nghiệm"), "{text}");
    assert!(text.contains(&web_code), "{text}");
    assert_eq!(e.result("register", &id, 0).json["state"], "pending");

    // The phone command answers for the person.
    let out = run(bin("kyso-mssp-sim")
        .args(["phone", SIM_ENTERPRISE, "confirm", "--pin", PIN, "--url"])
        .arg(&e.sim.url));
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let r = e.outcome("register", &id);
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(r.json["subject"]["type"], "organization");
    let mst = &e.f.manifest.person("sim-enterprise").unwrap().identity;
    assert_eq!(
        r.json["subject"]["identifier"]["value"],
        mst.as_ref().unwrap().identifier.value
    );
    let ticket = r.json["ticket"].as_str().unwrap();
    assert_eq!(
        code(&e.confirm(ticket, &json!({}))),
        (422, "EMAIL_REQUIRED")
    );
    assert_eq!(e.confirm(ticket, &json!({ "email": CONTACT })).status, 201);
}

#[test]
fn refusals_and_failures_of_the_phone_are_their_results() {
    let e = env();
    let cases = [
        (AUTO_REFUSE, 422, "USER_REFUSED"),
        (AUTO_PIN_BLOCKED, 422, "PIN_BLOCKED"),
        (AUTO_OTA_ERROR, 502, "DELIVERY_FAILED"),
        (AUTO_DEVICE_ERROR, 502, "DEVICE_ERROR"),
    ];
    for (phone, status, result) in cases {
        let (id, _) = e.started("register", phone);
        let r = e.outcome("register", &id);
        assert_eq!(code(&r), (status, result), "{phone}: {r:?}");
        assert!(r.json["title"].as_str().is_some_and(|t| !t.is_empty()));
        // Terminal: read again, same answer.
        assert_eq!(code(&e.result("register", &id, 0)), (status, result));
    }
}

#[test]
fn unknown_and_unenrolled_numbers_look_the_same() {
    let e = env();
    let mut answers = Vec::new();
    for phone in [AUTO_NOT_ENROLLED, "0919999999"] {
        let (id, _) = e.started("register", phone);
        let r = e.outcome("register", &id);
        assert_eq!(code(&r), (422, "NOT_ENROLLED"), "{phone}: {r:?}");
        answers.push((r.json["title"].clone(), r.json["detail"].clone()));
    }
    assert_eq!(answers[0], answers[1], "no way to tell the two apart");
    let r = e.start("register", "12345");
    assert_eq!(code(&r), (422, "INVALID_PHONE"), "{r:?}");
    let r = post(
        &format!("{}/v1/registrations/sim", e.gw.url),
        &[],
        &json!({ "telephone": AUTO_OK }),
    );
    assert_eq!(code(&r), (400, "MALFORMED_REQUEST"), "{r:?}");
    let r = request(
        "GET",
        &format!("{}/v1/registrations/sim/x?wait=soon", e.gw.url),
        &[],
        None,
    );
    assert_eq!(code(&r), (400, "MALFORMED_REQUEST"), "{r:?}");
}

#[test]
fn three_wrong_pins_block_the_sim() {
    let e = env();
    let (id, _) = e.started("register", SIM_CITIZEN);
    let shown = e.on_phone(SIM_CITIZEN);
    let request_id = shown["id"].as_str().unwrap();
    let first = e.confirm_on_phone(SIM_CITIZEN, request_id, "0000");
    assert_eq!(first.json["result"], "PIN_INCORRECT", "{first:?}");
    assert_eq!(first.json["tries_left"], 2);
    assert_eq!(e.result("register", &id, 0).json["state"], "pending");
    e.confirm_on_phone(SIM_CITIZEN, request_id, "1111");
    let third = e.confirm_on_phone(SIM_CITIZEN, request_id, "2222");
    assert_eq!(third.json["result"], "PIN_BLOCKED", "{third:?}");
    assert_eq!(code(&e.outcome("register", &id)), (422, "PIN_BLOCKED"));
    // It stays blocked: the next request fails the same way.
    let (id, _) = e.started("register", SIM_CITIZEN);
    assert_eq!(code(&e.outcome("register", &id)), (422, "PIN_BLOCKED"));
}

#[test]
fn a_second_request_to_a_busy_number_is_refused() {
    let e = env();
    let (id, _) = e.started("register", SIM_CITIZEN_EC);
    let r = e.start("register", SIM_CITIZEN_EC);
    assert_eq!(code(&r), (409, "BUSY"), "{r:?}");
    let r = e.start("login", "0912000002");
    assert_eq!(code(&r), (409, "BUSY"), "any form of the number: {r:?}");

    // Another gateway with its own database, on the same operator: the operator says busy.
    let dir = tempfile::tempdir().unwrap();
    let other = gateway_with_sim(&e.f, dir.path(), &e.sim.url, &SimLimits::default());
    let r = post(
        &format!("{}/v1/registrations/sim", other.url),
        &[],
        &json!({ "phone": SIM_CITIZEN_EC }),
    );
    assert_eq!(r.status, 202, "{r:?}");
    let other_id = r.json["session_id"].as_str().unwrap();
    let r = request(
        "GET",
        &format!("{}/v1/registrations/sim/{other_id}?wait=10", other.url),
        &[],
        None,
    );
    assert_eq!(code(&r), (409, "BUSY"), "{r:?}");

    // The first one is still answerable.
    let shown = e.on_phone(SIM_CITIZEN_EC);
    let ok = e.confirm_on_phone(SIM_CITIZEN_EC, shown["id"].as_str().unwrap(), PIN);
    assert_eq!(ok.json["result"], "SIGNED", "{ok:?}");
    assert_eq!(e.outcome("register", &id).status, 200);
}

#[test]
fn forged_signatures_certificates_and_texts_fail_verification() {
    let e = env();
    for phone in [AUTO_BAD_SIGNATURE, AUTO_WRONG_CERTIFICATE, AUTO_OTHER_TEXT] {
        let (id, _) = e.started("register", phone);
        let r = e.outcome("register", &id);
        assert_eq!(code(&r), (422, "VERIFICATION_FAILED"), "{phone}: {r:?}");
        let detail = r.json["detail"].as_str().unwrap();
        assert!(detail.starts_with("SIGNATURE_INVALID"), "{phone}: {detail}");
    }
    // And a slow but honest phone inside the deadline is fine.
    let (id, _) = e.started("register", AUTO_SLOW_OK);
    let r = e.outcome("register", &id);
    assert_eq!(r.status, 200, "{r:?}");
    let ec = e.f.manifest.person("sim-citizen-ec").unwrap();
    assert_eq!(
        r.json["subject"]["identifier"]["value"],
        ec.identity.as_ref().unwrap().identifier.value
    );
}

#[test]
fn a_request_nobody_answers_expires() {
    let e = env_with(SimLimits {
        answer_timeout_seconds: 2,
        ..SimLimits::default()
    });
    let (id, _) = e.started("register", AUTO_NO_ANSWER);
    let r = e.outcome("register", &id);
    assert_eq!(code(&r), (410, "EXPIRED"), "{r:?}");
}

#[test]
fn limits_per_number_and_per_address() {
    let e = env_with(SimLimits {
        starts_per_number: 2,
        ..SimLimits::default()
    });
    for _ in 0..2 {
        let (id, _) = e.started("register", AUTO_REFUSE);
        e.outcome("register", &id);
    }
    let r = e.start("register", AUTO_REFUSE);
    assert_eq!(code(&r), (429, "RATE_LIMITED"), "{r:?}");
    assert_eq!(
        e.start("register", AUTO_ENTERPRISE_OK).status,
        202,
        "another number is fine"
    );

    let e = env_with(SimLimits {
        starts_per_ip_burst: 2,
        starts_per_ip_per_minute: 1,
        ..SimLimits::default()
    });
    assert_eq!(e.start("register", AUTO_REFUSE).status, 202);
    assert_eq!(e.start("register", AUTO_OK).status, 202);
    let r = e.start("register", AUTO_OTA_ERROR);
    assert_eq!(code(&r), (429, "RATE_LIMITED"), "{r:?}");
}

/// An environment whose gateway, with `limits`, sits behind a reverse proxy on this
/// machine that it trusts to name its clients in `X-Forwarded-For`.
fn behind_a_proxy(limits: &SimLimits) -> Env {
    let f = Fixtures::shared_pki();
    let dir = tempfile::tempdir().unwrap();
    let sim = mssp_sim(&f.pki, dir.path(), &SimOptions::default());
    let options = GatewayOptions {
        // Lands in the [limits] table, which the configuration writes just before.
        extra: format!(
            "trusted_proxies = [\"127.0.0.1\"]\n{}",
            gateway_sim_table(&sim.url, limits)
        ),
        ..GatewayOptions::default()
    };
    let gw = gateway(&f, dir.path(), &options);
    Env { f, sim, gw, dir }
}

impl Env {
    /// Starts a registration for `phone` as the proxy says `client` asked.
    fn start_forwarded(&self, client: &str, phone: &str) -> Reply {
        post(
            &format!("{}/v1/registrations/sim", self.gw.url),
            &[("X-Forwarded-For", client)],
            &json!({ "phone": phone }),
        )
    }
}

/// Behind the reverse proxy, a number's starts are counted per network of the client the
/// proxy names in `X-Forwarded-For`, not the proxy's own: a stranger who used up their
/// network's share leaves the number's owner, elsewhere, free to start.
#[test]
fn behind_a_trusted_proxy_sim_starts_are_counted_by_the_clients_network() {
    let e = behind_a_proxy(&SimLimits {
        starts_per_number: 1,
        ..SimLimits::default()
    });
    let first = e.start_forwarded("203.0.113.9", AUTO_REFUSE);
    assert_eq!(first.status, 202, "{first:?}");
    e.outcome("register", first.json["session_id"].as_str().unwrap());
    let neighbour = e.start_forwarded("203.0.113.77", AUTO_REFUSE);
    assert_eq!(code(&neighbour), (429, "RATE_LIMITED"), "{neighbour:?}");
    let owner = e.start_forwarded("198.51.100.7", AUTO_REFUSE);
    assert_eq!(owner.status, 202, "another network: {owner:?}");
}

/// Each start rings a phone, so the per-address start limit counts an IPv6 client by
/// its /48 (the network a site holds), not its /64: another /64 of the same /48 shares
/// the bucket, another /48 has its own.
#[test]
fn sim_starts_from_ipv6_are_counted_per_48() {
    let e = behind_a_proxy(&SimLimits {
        starts_per_ip_burst: 1,
        starts_per_ip_per_minute: 1,
        ..SimLimits::default()
    });
    let first = e.start_forwarded("2001:db8:5:1::1", AUTO_REFUSE);
    assert_eq!(first.status, 202, "{first:?}");
    let same_site = e.start_forwarded("2001:db8:5:2::1", AUTO_OK);
    assert_eq!(code(&same_site), (429, "RATE_LIMITED"), "{same_site:?}");
    let elsewhere = e.start_forwarded("2001:db8:6::1", AUTO_OK);
    assert_eq!(elsewhere.status, 202, "another /48: {elsewhere:?}");
}

/// Who holds the one pending session in the gateway's SQLite file (its poller), and
/// until when (unix seconds); waits a few seconds for the first hold.
fn holder(dir: &Path) -> (String, i64) {
    let db = rusqlite::Connection::open_with_flags(
        dir.join("kyso.db"),
        rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY,
    )
    .unwrap();
    for _ in 0..100 {
        let held = db
            .query_row(
                "SELECT polled_by, polled_until FROM sim_sessions WHERE state = 'pending'",
                [],
                |row| {
                    Ok((
                        row.get::<_, Option<String>>(0)?,
                        row.get::<_, Option<i64>>(1)?,
                    ))
                },
            )
            .unwrap();
        if let (Some(by), Some(until)) = held {
            return (by, until);
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    panic!("the pending session was never held");
}

/// A gateway that stops (SIGTERM) lets go of the sessions it polls, and the process
/// started next takes them over as it starts, without waiting for the hold to lapse.
#[test]
fn a_stopping_gateway_hands_its_sessions_on_at_once() {
    let e = env();
    let (id, _) = e.started("register", SIM_CITIZEN_EC);
    let shown = e.on_phone(SIM_CITIZEN_EC);
    let (first, held_until) = holder(e.dir.path());
    let Env {
        f,
        sim,
        mut gw,
        dir,
    } = e;
    let out = run(Command::new("kill").args(["-TERM", &gw.pid().to_string()]));
    assert!(out.status.success(), "{out:?}");
    assert!(
        gw.exited_within(std::time::Duration::from_secs(20))
            .is_some()
    );
    let (still, released_at) = holder(dir.path());
    assert_eq!(still, first);
    assert!(
        released_at < held_until,
        "released at {released_at}, held until {held_until}"
    );
    drop(gw);
    let gw = gateway_with_sim(&f, dir.path(), &sim.url, &SimLimits::default());
    let (next, _) = holder(dir.path());
    assert_ne!(next, first, "taken over as the next process started");
    let e = Env { f, sim, gw, dir };
    let ok = e.confirm_on_phone(SIM_CITIZEN_EC, shown["id"].as_str().unwrap(), PIN);
    assert_eq!(ok.json["result"], "SIGNED", "{ok:?}");
    let r = e.outcome("register", &id);
    assert_eq!(r.status, 200, "{r:?}");
}

#[test]
fn a_gateway_restart_mid_session_loses_nothing() {
    let e = env();
    let (id, web_code) = e.started("register", SIM_CITIZEN_EC);
    let shown = e.on_phone(SIM_CITIZEN_EC);
    assert_eq!(shown["verification_code"], web_code);
    // Kill the gateway (SIGKILL) with the request pending; start it on the same database:
    // the dead process's hold on the session lapses, and the new one takes it over.
    let Env { f, sim, gw, dir } = e;
    drop(gw);
    let gw = gateway_with_sim(&f, dir.path(), &sim.url, &SimLimits::default());
    let e = Env { f, sim, gw, dir };
    assert_eq!(e.result("register", &id, 0).json["state"], "pending");
    let ok = e.confirm_on_phone(SIM_CITIZEN_EC, shown["id"].as_str().unwrap(), PIN);
    assert_eq!(ok.json["result"], "SIGNED", "{ok:?}");
    let r = e.outcome("register", &id);
    assert_eq!(
        r.status, 200,
        "the restarted gateway resumed polling: {r:?}"
    );
    assert_eq!(
        e.confirm(r.json["ticket"].as_str().unwrap(), &json!({}))
            .status,
        201
    );
}

/// `kyso_http_requests_in_flight` once it equals `want`, or what it last was after 60 s.
fn in_flight_becomes(url: &str, want: &str) -> Option<String> {
    let mut seen = None;
    for _ in 0..600 {
        seen = kyso_tests::processes::metric(url, "kyso_http_requests_in_flight");
        if seen.as_deref() == Some(want) {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    seen
}

#[test]
fn a_long_poll_whose_client_hangs_up_does_not_stay_in_flight() {
    use std::io::Write;
    let e = env();
    let (id, _) = e.started("register", SIM_CITIZEN);
    // Nobody answers on the phone, so the poll waits; its client then hangs up.
    let host = e.gw.url.trim_start_matches("http://");
    let mut poll = std::net::TcpStream::connect(host).unwrap();
    write!(
        poll,
        "GET /v1/registrations/sim/{id}?wait=30 HTTP/1.1\r\nHost: {host}\r\n\r\n"
    )
    .unwrap();
    // In flight: the poll, and the read of /metrics itself.
    assert_eq!(in_flight_becomes(&e.gw.url, "2").as_deref(), Some("2"));
    drop(poll);
    assert_eq!(
        in_flight_becomes(&e.gw.url, "1").as_deref(),
        Some("1"),
        "the abandoned poll left the gauge"
    );
}

/// An operator that accepts connections and never answers.
fn silent_operator() -> (std::net::TcpListener, String) {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    (listener, url)
}

#[test]
fn an_operator_that_refuses_us_garbles_hangs_or_is_gone_is_a_provider_error() {
    use kyso_tests::revocation::{StaticServer, dead_url};
    let f = Fixtures::shared_pki();
    let dir = tempfile::tempdir().unwrap();
    let sim = mssp_sim(&f.pki, dir.path(), &SimOptions::default());
    let garbage =
        StaticServer::start(&[("/mss/v1/signature", b"<html>maintenance</html>".to_vec())]);
    let (_silent, silent_url) = silent_operator();
    let operators = [
        (sim.url.clone(), "not-the-secret"),
        (garbage.url.clone(), AP_SECRET),
        (silent_url, AP_SECRET),
        (dead_url(), AP_SECRET),
    ];
    for (provider, secret) in operators {
        let dir = tempfile::tempdir().unwrap();
        let limits = SimLimits {
            ap_secret: secret.into(),
            http_timeout_seconds: 1,
            ..SimLimits::default()
        };
        let gw = gateway_with_sim(&f, dir.path(), &provider, &limits);
        let r = post(
            &format!("{}/v1/registrations/sim", gw.url),
            &[],
            &json!({ "phone": AUTO_OK }),
        );
        assert_eq!(r.status, 202, "{provider}: {r:?}");
        let id = r.json["session_id"].as_str().unwrap();
        let r = request(
            "GET",
            &format!("{}/v1/registrations/sim/{id}?wait=10", gw.url),
            &[],
            None,
        );
        assert_eq!(code(&r), (502, "PROVIDER_ERROR"), "{provider}: {r:?}");
        // The operator's address is the gateway's business, not the person's.
        let address = provider.trim_start_matches("http://").trim_end_matches('/');
        assert!(
            !r.json.to_string().contains(address),
            "the operator's address reached the person: {r:?}"
        );
    }
    assert!(garbage.hits() >= 1);
}

#[test]
fn sim_certificates_go_through_revocation_checking() {
    use kyso_tests::revocation::{OcspResponder, ResponderOptions, RootSources, dead_url};
    let f = Fixtures::shared_pki();
    let dir = tempfile::tempdir().unwrap();
    let sim = mssp_sim(&f.pki, dir.path(), &SimOptions::default());
    let root = RootSources::start(&f.pki, &f.manifest);
    let responder = OcspResponder::start(
        &f.pki,
        &f.manifest,
        "vnpt",
        &ResponderOptions::of_ca(&f.pki, &f.manifest, "vnpt"),
    );
    let vnpt = f.pki.join(&f.manifest.ca("vnpt").unwrap().cert);
    let checking = |ocsp: &str, dir: &Path| {
        let mut options = GatewayOptions {
            policy: "revocation = \"ocsp-crl\"\n".into(),
            ..GatewayOptions::default()
        };
        let with_sim = gateway_sim_table(&sim.url, &SimLimits::default());
        options.extra = format!(
            "{with_sim}[[revocation.issuers]]\ncertificate = {:?}\nocsp_url = {ocsp:?}\ncrl_url = {:?}\n{}",
            vnpt.display().to_string(),
            dead_url(),
            root.issuer_entry()
        );
        gateway(&f, dir, &options)
    };
    let live = checking(&responder.url, dir.path());
    let r = post(
        &format!("{}/v1/registrations/sim", live.url),
        &[],
        &json!({ "phone": AUTO_OK }),
    );
    let id = r.json["session_id"].as_str().unwrap().to_owned();
    let r = sim_outcome(&live.url, "registrations", &id);
    assert_eq!(r.status, 200, "good at OCSP: {r:?}");
    assert!(r.json["ticket"].is_string(), "good at OCSP: {r:?}");

    let dir2 = tempfile::tempdir().unwrap();
    let blind = checking(&dead_url(), dir2.path());
    let r = post(
        &format!("{}/v1/registrations/sim", blind.url),
        &[],
        &json!({ "phone": AUTO_OK }),
    );
    let id = r.json["session_id"].as_str().unwrap().to_owned();
    let r = sim_outcome(&blind.url, "registrations", &id);
    // The signature was not judged wrong: the revocation service was down, said as such.
    assert_eq!(code(&r), (503, "REVOCATION_UNAVAILABLE"), "{r:?}");
    assert!(r.header("retry-after").is_some(), "{r:?}");
}
