//! USB-token registration and login end to end: the real `kyso-gateway` and `kyso-shim`
//! processes over the SoftHSM tokens, driven through their HTTP APIs as the registration
//! page would. Revocation is off in these tests (tests/tests/revocation.rs checks it
//! against a real OCSP responder), so the revoked person registers here.

use kyso_tests::Fixtures;
use kyso_tests::processes::{
    GatewayOptions, ORIGIN, OTHER_ORIGIN, Reply, Running, account_me, agent, confirm, gateway,
    post, request,
};
use serde_json::{Value, json};
use std::path::PathBuf;

struct Env {
    f: Fixtures,
    gw: Running,
    agent: Running,
    pin_file: PathBuf,
    _dir: tempfile::TempDir,
}

fn env_with(options: GatewayOptions) -> Env {
    let f = Fixtures::shared();
    let dir = tempfile::tempdir().unwrap();
    let pin_file = dir.path().join("pin");
    std::fs::write(&pin_file, &f.tokens.tokens[0].user_pin).unwrap();
    let gw = gateway(&f, dir.path(), &options);
    let agent = agent(&f, &pin_file);
    Env {
        f,
        gw,
        agent,
        pin_file,
        _dir: dir,
    }
}

fn env() -> Env {
    env_with(GatewayOptions::default())
}

impl Env {
    fn challenge(&self, purpose: &str) -> (String, String) {
        let r = post(
            &format!("{}/v1/challenges", self.gw.url),
            &[],
            &json!({ "purpose": purpose }),
        );
        assert_eq!(r.status, 201, "{r:?}");
        assert_eq!(r.json["origin"], ORIGIN);
        (
            r.json["challenge_id"].as_str().unwrap().into(),
            r.json["nonce"].as_str().unwrap().into(),
        )
    }

    fn sign(&self, person: &str, nonce: &str, origin: &str) -> Reply {
        let t = self.f.tokens.of(person).unwrap();
        let body = json!({ "challenge_nonce": nonce, "certificate_id": format!("{}:{}", t.serial, t.key_id) });
        post(
            &format!("{}/v1/authenticate", self.agent.url),
            &[("Origin", origin)],
            &body,
        )
    }

    /// A challenge for `purpose`, signed by the person's token for `origin`.
    fn signed(&self, person: &str, purpose: &str, origin: &str) -> (String, Value) {
        let (id, nonce) = self.challenge(purpose);
        let r = self.sign(person, &nonce, origin);
        assert_eq!(r.status, 200, "{person}: {r:?}");
        (id, r.json)
    }

    fn preview(&self, person: &str) -> Reply {
        let (id, token) = self.signed(person, "register", ORIGIN);
        post(
            &format!("{}/v1/registrations/token", self.gw.url),
            &[],
            &json!({ "challenge_id": id, "auth_token": token }),
        )
    }

    fn confirm(&self, ticket: &str, body: &Value) -> Reply {
        confirm(&self.gw.url, ticket, body)
    }

    fn login(&self, person: &str) -> Reply {
        let (id, token) = self.signed(person, "login", ORIGIN);
        post(
            &format!("{}/v1/sessions/token", self.gw.url),
            &[],
            &json!({ "challenge_id": id, "auth_token": token }),
        )
    }

    fn me(&self, session: &str) -> Reply {
        account_me(&self.gw.url, session)
    }
}

const CONTACT: &str = "lien.he@kyso-thu-nghiem.vn";

#[test]
fn every_token_person_gets_the_manifest_verdict_over_http() {
    let e = env();
    let mut accounts = 0;
    for t in &e.f.tokens.tokens {
        let person = e.f.manifest.person(&t.person).unwrap();
        let r = e.preview(&t.person);
        let verdict = person.verdict_without_revocation();
        if let Some(code) = verdict.code() {
            assert_ne!(r.status, 500);
            assert_eq!(
                (r.status, r.code()),
                (422, code.as_str()),
                "{}: {r:?}",
                t.person
            );
            assert_eq!(r.header("content-type"), Some("application/problem+json"));
            continue;
        }
        if person.same_holder_as.is_some() {
            assert_eq!(
                (r.status, r.code()),
                (409, "ACCOUNT_EXISTS"),
                "{}: {r:?}",
                t.person
            );
            continue;
        }
        assert_eq!(r.status, 200, "{}: {r:?}", t.person);
        let want = person.identity.as_ref().unwrap();
        assert_eq!(r.json["subject"]["type"], want.subject_type, "{}", t.person);
        assert_eq!(
            r.json["subject"]["identifier"]["value"], want.identifier.value,
            "{}",
            t.person
        );
        assert_eq!(
            r.json["subject"]["identifier"]["kind"], want.identifier.kind,
            "{}",
            t.person
        );
        let aliases: Vec<&str> = r.json["subject"]["aliases"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| a["value"].as_str().unwrap())
            .collect();
        let want_aliases: Vec<&str> = want.aliases.iter().map(|a| a.value.as_str()).collect();
        assert_eq!(aliases, want_aliases, "{}", t.person);
        assert_eq!(r.json["ial"], 3);
        assert_eq!(
            r.json["certificate"]["serial"]
                .as_str()
                .unwrap()
                .to_uppercase(),
            t.cert_serial
        );

        let created = e.confirm(
            r.json["ticket"].as_str().unwrap(),
            &json!({ "email": CONTACT }),
        );
        assert_eq!(created.status, 201, "{}: {created:?}", t.person);
        assert_eq!(
            created.json["subject"]["identifier"]["value"],
            want.identifier.value
        );
        accounts += 1;

        let session = e.login(&t.person);
        assert_eq!(session.status, 200, "{}: {session:?}", t.person);
        let me = e.me(session.json["session_token"].as_str().unwrap());
        assert_eq!(me.status, 200);
        assert_eq!(me.json["id"], created.json["account_id"]);
        assert_eq!(me.json["email"], CONTACT);
    }
    assert!(accounts >= 9, "{accounts} accounts");
    // The renewed certificate logs in to the first certificate's account.
    let first = e.login("citizen-cccd");
    let renewed = e.login("citizen-cccd-renewed");
    assert_eq!(first.json["account"]["id"], renewed.json["account"]["id"]);
    let legacy = e.login("citizen-cmnd-legacy");
    assert_eq!(
        legacy.json["account"]["subject"]["identifier"]["value"],
        "079195001234"
    );
}

#[test]
fn a_challenge_works_once_and_only_for_its_origin() {
    let e = env();
    let (id, token) = e.signed("citizen-ec", "register", ORIGIN);
    let url = format!("{}/v1/registrations/token", e.gw.url);
    let body = json!({ "challenge_id": id, "auth_token": token });
    assert_eq!(post(&url, &[], &body).status, 200);
    let replay = post(&url, &[], &body);
    assert_eq!((replay.status, replay.code()), (404, "CHALLENGE_NOT_FOUND"));

    let (id, token) = e.signed("citizen-ec", "register", OTHER_ORIGIN);
    let r = post(
        &url,
        &[],
        &json!({ "challenge_id": id, "auth_token": token }),
    );
    assert_eq!((r.status, r.code()), (422, "SIGNATURE_INVALID"));

    let (id, token) = e.signed("citizen-ec", "login", ORIGIN);
    let r = post(
        &url,
        &[],
        &json!({ "challenge_id": id, "auth_token": token }),
    );
    assert_eq!(
        r.code(),
        "CHALLENGE_NOT_FOUND",
        "a login challenge does not register"
    );
}

#[test]
fn the_agent_signs_nothing_for_an_origin_it_does_not_allow() {
    let e = env();
    // A page of another site cannot make the agent touch the token without an Origin
    // (an image, a no-cors fetch); a tool that sends no Sec-Fetch-Site can.
    let listing = format!("{}/v1/certificates", e.agent.url);
    let sneaky = request("GET", &listing, &[("Sec-Fetch-Site", "cross-site")], None);
    assert_eq!((sneaky.status, sneaky.code()), (403, "ORIGIN_NOT_ALLOWED"));
    let listed = request("GET", &listing, &[], None);
    assert_eq!(listed.status, 200);
    // Every token also carries its CA's certificates: only the holders' are offered.
    let mut offered: Vec<String> = listed.json["certificates"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["certificate_id"].as_str().unwrap().to_owned())
        .collect();
    let mut signers: Vec<String> =
        e.f.tokens
            .tokens
            .iter()
            .map(|t| format!("{}:{}", t.serial, t.key_id))
            .collect();
    offered.sort();
    signers.sort();
    assert_eq!(offered, signers);
    let (_, nonce) = e.challenge("register");
    let r = e.sign("citizen-cccd", &nonce, "https://evil.test");
    assert_eq!((r.status, r.code()), (403, "ORIGIN_NOT_ALLOWED"));
    assert!(r.json.get("signature").is_none());
    let preflight = request(
        "OPTIONS",
        &format!("{}/v1/authenticate", e.agent.url),
        &[
            ("Origin", ORIGIN),
            ("Access-Control-Request-Method", "POST"),
            ("Access-Control-Request-Private-Network", "true"),
        ],
        None,
    );
    assert_eq!(preflight.status, 204);
    assert_eq!(
        preflight.header("access-control-allow-origin"),
        Some(ORIGIN)
    );
    assert_eq!(
        preflight.header("access-control-allow-private-network"),
        Some("true")
    );
    let evil = request(
        "OPTIONS",
        &format!("{}/v1/authenticate", e.agent.url),
        &[("Origin", "https://evil.test")],
        None,
    );
    assert_eq!(evil.status, 403);
    assert!(evil.header("access-control-allow-origin").is_none());
}

#[test]
fn a_wrong_pin_signs_nothing_and_the_right_pin_then_works() {
    let e = env();
    let (_, nonce) = e.challenge("register");
    std::fs::write(&e.pin_file, "00000000").unwrap();
    let r = e.sign("citizen-cmnd", &nonce, ORIGIN);
    assert_eq!((r.status, r.code()), (401, "PIN_INCORRECT"));
    assert!(r.json.get("signature").is_none());
    let right = &e.f.tokens.of("citizen-cmnd").unwrap().user_pin;
    std::fs::write(&e.pin_file, right).unwrap();
    assert_eq!(e.preview("citizen-cmnd").status, 200);
}

#[test]
fn fifty_parallel_confirmations_make_one_account() {
    let e = env();
    let tickets: Vec<String> = (0..50)
        .map(|_| {
            e.preview("enterprise-mst").json["ticket"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect();
    let url = e.gw.url.clone();
    let handles: Vec<_> = tickets
        .into_iter()
        .map(|t| {
            let url = url.clone();
            std::thread::spawn(move || {
                post(
                    &format!("{url}/v1/registrations/{t}/confirm"),
                    &[],
                    &json!({ "email": CONTACT }),
                )
            })
        })
        .collect();
    let replies: Vec<Reply> = handles.into_iter().map(|h| h.join().unwrap()).collect();
    assert_eq!(
        replies.iter().filter(|r| r.status == 201).count(),
        1,
        "{replies:?}"
    );
    assert!(
        replies
            .iter()
            .filter(|r| r.status != 201)
            .all(|r| r.code() == "ACCOUNT_EXISTS")
    );
}

#[test]
fn an_organization_must_give_an_email_and_loses_nothing_when_it_does_not() {
    let e = env();
    let p = e.preview("enterprise-branch");
    let ticket = p.json["ticket"].as_str().unwrap();
    let r = e.confirm(ticket, &json!({}));
    assert_eq!((r.status, r.code()), (422, "EMAIL_REQUIRED"));
    let r = e.confirm(ticket, &json!({ "email": CONTACT, "phone": "12" }));
    assert_eq!((r.status, r.code()), (422, "INVALID_PHONE"));
    let r = e.confirm(
        ticket,
        &json!({ "email": CONTACT, "phone": "0912 345 678" }),
    );
    assert_eq!(r.status, 201, "{r:?}");
    let r = e.confirm(ticket, &json!({ "email": CONTACT }));
    assert_eq!((r.status, r.code()), (404, "TICKET_NOT_FOUND"));
    let again = e.preview("enterprise-branch");
    assert_eq!(
        (again.status, again.code()),
        (409, "ACCOUNT_EXISTS"),
        "the same certificate again"
    );
}

#[test]
fn bad_input_gets_its_code_and_never_a_500() {
    let e = env();
    let url = |p: &str| format!("{}{p}", e.gw.url);
    let raw = |path: &str, body: &[u8]| request("POST", &url(path), &[], Some(body));
    let r = raw("/v1/challenges", b"{\"purpose\":");
    assert_eq!((r.status, r.code()), (400, "MALFORMED_REQUEST"));
    let r = raw("/v1/challenges", b"{\"purpose\":\"delete\"}");
    assert_eq!((r.status, r.code()), (400, "MALFORMED_REQUEST"));
    let r = raw("/v1/challenges", &vec![b' '; 70 * 1024]);
    assert_eq!((r.status, r.code()), (413, "PAYLOAD_TOO_LARGE"));

    let (id, mut token) = e.signed("citizen-cccd", "register", ORIGIN);
    token["signature"] = json!("@@not base64@@");
    let r = post(
        &url("/v1/registrations/token"),
        &[],
        &json!({ "challenge_id": id, "auth_token": token }),
    );
    assert_eq!((r.status, r.code()), (400, "MALFORMED_TOKEN"));
    let (id, mut token) = e.signed("citizen-cccd", "register", ORIGIN);
    token["algorithm"] = json!("HS256");
    let r = post(
        &url("/v1/registrations/token"),
        &[],
        &json!({ "challenge_id": id, "auth_token": token }),
    );
    assert_eq!((r.status, r.code()), (400, "UNSUPPORTED_ALGORITHM"));
    let (id, mut token) = e.signed("citizen-cccd", "register", ORIGIN);
    token["unverifiedCertificate"] = json!("AAAA");
    let r = post(
        &url("/v1/registrations/token"),
        &[],
        &json!({ "challenge_id": id, "auth_token": token }),
    );
    assert_eq!((r.status, r.code()), (400, "MALFORMED_TOKEN"));
    let r = post(
        &url("/v1/registrations/token"),
        &[],
        &json!({ "challenge_id": "nope", "auth_token": {} }),
    );
    assert_eq!((r.status, r.code()), (400, "MALFORMED_REQUEST"));
    let r = post(
        &url("/v1/registrations/no-such-ticket/confirm"),
        &[],
        &json!({}),
    );
    assert_eq!((r.status, r.code()), (404, "TICKET_NOT_FOUND"));
    let r = request("GET", &url("/v1/accounts/me"), &[], None);
    assert_eq!((r.status, r.code()), (401, "UNAUTHENTICATED"));
    let r = request(
        "GET",
        &url("/v1/accounts/me"),
        &[("Authorization", "Bearer forged")],
        None,
    );
    assert_eq!((r.status, r.code()), (401, "UNAUTHENTICATED"));
    let r = request("GET", &url("/v2/anything"), &[], None);
    assert_eq!((r.status, r.code()), (404, "NOT_FOUND"));
    assert_eq!(request("GET", &url("/healthz"), &[], None).status, 200);
    assert_eq!(request("GET", &url("/readyz"), &[], None).status, 200);
}
