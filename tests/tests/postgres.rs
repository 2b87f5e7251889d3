//! Several `kyso-gateway` processes on one PostgreSQL database (design §8): what must hold
//! across instances is held by the database — single-use challenges and tickets, one
//! account per identity, one pending SIM request per number, sessions, one audit chain —
//! also through pgbouncer in transaction-pooling mode, across `kill -9` of instances, and
//! across a restart of PostgreSQL itself.
//!
//! The shared server is `KYSO_TEST_POSTGRES` (default the local one); each test uses a
//! database of its own. The tests that restart PostgreSQL or need pgbouncer start their own.

use kyso_certs::keys::KeyKind;
use kyso_tests::Fixtures;
use kyso_tests::citizens::{Citizens, Failure, cccd};
use kyso_tests::cluster::Cluster;
use kyso_tests::mssp::{
    SimLimits, SimOptions, gateway_sim_table, mssp_sim, sign_on_phone, sim_outcome,
};
use kyso_tests::postgres::{OwnServer, Pgbouncer, TestDatabase, psql};
use kyso_tests::processes::{
    GatewayOptions, ORIGIN, Reply, account_me, confirm, gateway_config, post, request,
    start_logging,
};
use kyso_tests::{bin, run};
use serde_json::json;
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Barrier, Mutex};

fn challenge(url: &str, purpose: &str) -> (String, String) {
    let r = post(
        &format!("{url}/v1/challenges"),
        &[],
        &json!({ "purpose": purpose }),
    );
    assert_eq!(r.status, 201, "{r:?}");
    (
        r.json["challenge_id"].as_str().unwrap().to_owned(),
        r.json["nonce"].as_str().unwrap().to_owned(),
    )
}

/// What several instances must share, on the database `serve_url` reaches.
fn instances_share_everything(migrate_url: &str, serve_url: &str, extra: &str) {
    let citizens = Citizens::issue(41, KeyKind::EcP256);
    let cluster = Cluster::start(
        &citizens.pki,
        &citizens.manifest,
        migrate_url,
        serve_url,
        extra,
        3,
    );
    let urls = cluster.urls();

    // A challenge issued by one instance is taken once by another, and gone for the third.
    let (id, nonce) = challenge(&urls[0], "register");
    let token = citizens.signer.token(&citizens.certs[0], ORIGIN, &nonce);
    let body = json!({ "challenge_id": id, "auth_token": token });
    let first = post(&format!("{}/v1/registrations/token", urls[1]), &[], &body);
    assert_eq!(first.status, 200, "{first:?}");
    let again = post(&format!("{}/v1/registrations/token", urls[2]), &[], &body);
    assert_eq!(
        (again.status, again.code()),
        (404, "CHALLENGE_NOT_FOUND"),
        "{again:?}"
    );

    // 200 tickets for one identity, confirmed at once over the three: one account.
    let tickets: Vec<String> = (0..200)
        .map(|k| citizens.ticket(&urls[k % 3], 0).expect("ticket"))
        .collect();
    let barrier = Barrier::new(tickets.len());
    let answers: Vec<Reply> = std::thread::scope(|s| {
        let handles: Vec<_> = tickets
            .iter()
            .enumerate()
            .map(|(k, t)| {
                let (url, barrier) = (&urls[(k + 1) % 3], &barrier);
                s.spawn(move || {
                    barrier.wait();
                    confirm(url, t, &json!({}))
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let created: Vec<&Reply> = answers.iter().filter(|r| r.status == 201).collect();
    assert_eq!(created.len(), 1, "exactly one account for one identity");
    assert!(
        answers
            .iter()
            .filter(|r| r.status != 201)
            .all(|r| (r.status, r.code()) == (409, "ACCOUNT_EXISTS")),
        "every other confirmation is ACCOUNT_EXISTS"
    );
    let account_id = created[0].json["account_id"].as_str().unwrap().to_owned();

    // A session opened at one instance opens the account at the others.
    let (id, nonce) = challenge(&urls[2], "login");
    let token = citizens.signer.token(&citizens.certs[0], ORIGIN, &nonce);
    let login = post(
        &format!("{}/v1/sessions/token", urls[2]),
        &[],
        &json!({ "challenge_id": id, "auth_token": token }),
    );
    assert_eq!(login.status, 200, "{login:?}");
    let session = login.json["session_token"].as_str().unwrap();
    for url in &urls {
        let me = account_me(url, session);
        assert_eq!(me.status, 200, "{me:?}");
        assert_eq!(me.json["id"], account_id.as_str());
    }

    // 40 registrations at once from all three append to one audit chain.
    let done = AtomicUsize::new(0);
    std::thread::scope(|s| {
        for w in 0..8 {
            let (citizens, urls, done) = (&citizens, &urls, &done);
            s.spawn(move || {
                for i in (1 + w..=40).step_by(8) {
                    citizens.register(&urls[i % 3], i).expect("registration");
                    done.fetch_add(1, Ordering::Relaxed);
                }
            });
        }
    });
    assert_eq!(done.load(Ordering::Relaxed), 40);
    // One account for citizen 0, its login session, and 40 accounts.
    let verified = cluster.verify_audit(1).unwrap();
    assert!(
        verified.starts_with("audit chain intact: 42 rows, head 42:"),
        "{verified}"
    );

    // The export is the evidence: who registered which identity with which certificate,
    // challenge and signature, when — and the chain's links.
    let rows = cluster.export_audit(0);
    assert_eq!(rows.len(), 42);
    let first = &rows[0];
    assert_eq!(first["seq"], 1);
    assert_eq!(first["event"], "account.created");
    assert_eq!(first["account_id"], account_id.as_str());
    assert_eq!(first["details"]["identifier"]["value"], cccd(0));
    let evidence = &first["details"]["evidence"];
    use base64::Engine;
    let b64 = base64::engine::general_purpose::STANDARD;
    assert_eq!(evidence["certificate"], b64.encode(&citizens.certs[0]));
    assert!(
        evidence["challenge_id"]
            .as_str()
            .is_some_and(|c| !c.is_empty())
    );
    assert!(
        evidence["signature"]
            .as_str()
            .is_some_and(|s| !s.is_empty())
    );
    assert!(first["at"].as_str().is_some_and(|t| t.ends_with('Z')));
    for pair in rows.windows(2) {
        assert_eq!(
            pair[1]["prev_hash"], pair[0]["hash"],
            "the links are exported"
        );
    }
    assert_eq!(rows[1]["event"], "session.created");
    // The chain recomputed from the export alone, by the rule of design §8 written again
    // here; its last hash is the head `audit verify` printed.
    let mut prev = String::new();
    for row in &rows {
        let at = time::OffsetDateTime::parse(
            row["at"].as_str().unwrap(),
            &time::format_description::well_known::Rfc3339,
        )
        .unwrap();
        let hash = chain_hash(&[
            &prev,
            &row["seq"].to_string(),
            &at.unix_timestamp().to_string(),
            row["event"].as_str().unwrap(),
            row["account_id"].as_str().unwrap_or(""),
            &row["details"].to_string(),
        ]);
        assert_eq!(row["hash"], hash.as_str(), "row {}", row["seq"]);
        prev = hash;
    }
    assert_eq!(
        verified,
        format!("audit chain intact: 42 rows, head 42:{prev}")
    );
}

/// SHA-256 over each part prefixed by its length (eight bytes, big-endian), in hex.
fn chain_hash(parts: &[&str]) -> String {
    let mut h = aws_lc_rs::digest::Context::new(&aws_lc_rs::digest::SHA256);
    for part in parts {
        h.update(&(part.len() as u64).to_be_bytes());
        h.update(part.as_bytes());
    }
    h.finish()
        .as_ref()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

#[test]
fn three_instances_share_challenges_accounts_sessions_and_one_audit_chain() {
    let db = TestDatabase::create();
    instances_share_everything(&db.url, &db.url, "");
}

#[test]
fn three_instances_through_pgbouncer_in_transaction_pooling_mode() {
    let db = TestDatabase::create();
    // Four server connections for three instances of eight: transactions interleave on
    // shared server connections, as transaction pooling does.
    let bouncer = Pgbouncer::start_shared(4);
    instances_share_everything(
        &db.url,
        &bouncer.url(&db.name),
        "[database]\nprepared_statements = false\n",
    );
}

/// `(citizen, account id)` for every acknowledged registration.
type Acknowledged = Mutex<Vec<(usize, String)>>;

/// The CCCD → account id map of the database.
fn accounts_by_cccd(url: &str) -> HashMap<String, String> {
    psql(
        url,
        "SELECT value || ' ' || account_id FROM identifiers WHERE kind = 'CCCD'",
    )
    .unwrap()
    .lines()
    .filter_map(|l| l.split_once(' '))
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect()
}

#[test]
fn kill_9_of_one_instance_then_of_all_loses_no_acknowledged_account() {
    const N: usize = 360;
    let citizens = Citizens::issue(N, KeyKind::EcP256);
    let db = TestDatabase::create();
    let mut cluster = Cluster::start(&citizens.pki, &citizens.manifest, &db.url, &db.url, "", 3);
    let urls = cluster.urls();
    let alive: Vec<AtomicBool> = (0..3).map(|_| AtomicBool::new(true)).collect();
    let acked: Acknowledged = Mutex::default();
    let next = AtomicUsize::new(0);
    let all_dead = AtomicBool::new(false);
    std::thread::scope(|s| {
        for _ in 0..8 {
            let (citizens, urls, alive, acked, next, all_dead) =
                (&citizens, &urls, &alive, &acked, &next, &all_dead);
            s.spawn(move || {
                while !all_dead.load(Ordering::SeqCst) {
                    let i = next.fetch_add(1, Ordering::SeqCst);
                    if i >= N {
                        return;
                    }
                    let live: Vec<usize> = (0..3)
                        .filter(|g| alive[*g].load(Ordering::SeqCst))
                        .collect();
                    let Some(g) = live.get(i % live.len().max(1)) else {
                        return;
                    };
                    match citizens.register(&urls[*g], i) {
                        Ok(id) => acked.lock().unwrap().push((i, id)),
                        // Killed mid-request: not acknowledged, maybe committed.
                        Err(Failure::Transport(_)) => {}
                        Err(Failure::Refused(r)) => {
                            panic!("citizen {i} at instance {g} refused: {r:?}")
                        }
                    }
                }
            });
        }
        // The controller: kill one instance at 80 acknowledgements, all at 160.
        let wait_for = |n: usize| {
            while acked.lock().unwrap().len() < n && next.load(Ordering::SeqCst) < N {
                std::thread::yield_now();
            }
        };
        wait_for(80);
        alive[0].store(false, Ordering::SeqCst);
        cluster.kill(0);
        wait_for(160);
        for (g, up) in alive.iter().enumerate().skip(1) {
            up.store(false, Ordering::SeqCst);
            cluster.kill(g);
        }
        all_dead.store(true, Ordering::SeqCst);
    });
    let acked = acked.into_inner().unwrap();
    assert!(acked.len() >= 160, "the load ran past both kills");

    // Every acknowledged account is there, under its identity.
    let stored = accounts_by_cccd(&db.url);
    for (i, id) in &acked {
        assert_eq!(
            stored.get(&cccd(*i)),
            Some(id),
            "acknowledged account of citizen {i} lost"
        );
    }
    cluster.restart(2);
    assert!(
        cluster
            .verify_audit(2)
            .unwrap()
            .starts_with("audit chain intact")
    );
    // Everyone not acknowledged registers now, or finds the account a killed instance
    // committed without answering: never a second account, never an error.
    let url = cluster.url(2);
    let done: std::collections::HashSet<usize> = acked.iter().map(|(i, _)| *i).collect();
    for i in (0..N).filter(|i| !done.contains(i)) {
        match citizens.register(&url, i) {
            Ok(_) => {}
            Err(Failure::Refused(r)) if r.code() == "ACCOUNT_EXISTS" => {}
            Err(e) => panic!("citizen {i} after the restart: {e:?}"),
        }
    }
    assert_eq!(accounts_by_cccd(&db.url).len(), N);
    let accounts = psql(&db.url, "SELECT count(*) FROM accounts").unwrap();
    assert_eq!(accounts, N.to_string(), "one account per identity");
    assert!(
        cluster
            .verify_audit(2)
            .unwrap()
            .starts_with("audit chain intact")
    );
}

#[test]
fn a_postgresql_restart_is_503_while_down_and_nothing_acknowledged_is_lost() {
    let citizens = Citizens::issue(20, KeyKind::EcP256);
    let server = OwnServer::start();
    let db = TestDatabase::create_on(&server.admin_url());
    let cluster = Cluster::start(
        &citizens.pki,
        &citizens.manifest,
        &db.url,
        &db.url,
        // Short, so that the refusals while down come soon; long enough that
        // registrations while up never meet them on a loaded machine.
        "[database]\nacquire_timeout_ms = 3000\nstatement_timeout_ms = 5000\n",
        2,
    );
    let urls = cluster.urls();
    let mut acked = Vec::new();
    for i in 0..10 {
        acked.push(citizens.register(&urls[i % 2], i).expect("registration"));
    }

    server.stop();
    for url in &urls {
        let ready = request("GET", &format!("{url}/readyz"), &[], None);
        assert_eq!(
            (ready.status, ready.code()),
            (503, "STORAGE_UNAVAILABLE"),
            "{ready:?}"
        );
        let live = request("GET", &format!("{url}/healthz"), &[], None);
        assert_eq!(live.status, 200, "liveness does not depend on the database");
        // An answer, not a hang: the request's wait for a connection is bounded.
        let r = post(
            &format!("{url}/v1/challenges"),
            &[],
            &json!({ "purpose": "register" }),
        );
        assert_eq!((r.status, r.code()), (503, "STORAGE_UNAVAILABLE"), "{r:?}");
        assert_eq!(
            r.header("content-type"),
            Some("application/problem+json"),
            "{r:?}"
        );
    }

    server.resume();
    for url in &urls {
        let mut ready = false;
        for _ in 0..1200 {
            if request("GET", &format!("{url}/readyz"), &[], None).status == 200 {
                ready = true;
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        assert!(ready, "{url} came back by itself");
    }
    for i in 10..20 {
        acked.push(
            citizens
                .register(&urls[i % 2], i)
                .expect("registration after restart"),
        );
    }
    let stored = accounts_by_cccd(&db.url);
    for (i, id) in acked.iter().enumerate() {
        assert_eq!(stored.get(&cccd(i)), Some(id), "citizen {i}");
    }
    let verified = cluster.verify_audit(0).unwrap();
    assert!(
        verified.starts_with("audit chain intact: 20 rows, head 20:"),
        "{verified}"
    );
}

const SIM_CITIZEN_EC: &str = "+84912000002";

#[test]
fn one_pending_sim_request_per_number_and_one_completion_across_instances() {
    let f = Fixtures::shared_pki();
    let dir = tempfile::tempdir().unwrap();
    let sim = mssp_sim(&f.pki, dir.path(), &SimOptions::default());
    let db = TestDatabase::create();
    let mut cluster = Cluster::start(
        &f.pki,
        &f.manifest,
        &db.url,
        &db.url,
        &gateway_sim_table(&sim.url, &SimLimits::default()),
        3,
    );
    let start = |url: &str, path: &str| {
        post(
            &format!("{url}{path}"),
            &[],
            &json!({ "phone": SIM_CITIZEN_EC }),
        )
    };
    let first = start(&cluster.url(0), "/v1/registrations/sim");
    assert_eq!(first.status, 202, "{first:?}");
    let id = first.json["session_id"].as_str().unwrap().to_owned();
    let busy = start(&cluster.url(1), "/v1/registrations/sim");
    assert_eq!((busy.status, busy.code()), (409, "BUSY"), "{busy:?}");
    let busy = start(&cluster.url(2), "/v1/sessions/sim");
    assert_eq!((busy.status, busy.code()), (409, "BUSY"), "{busy:?}");

    // The instance polling the session dies (kill -9) and stays dead; another is killed
    // and restarted: once the dead one's hold lapses, one instance takes the session over.
    let holder = || {
        for _ in 0..200 {
            let by = psql(&db.url, "SELECT coalesce(polled_by, '') FROM sim_sessions").unwrap();
            if !by.is_empty() {
                return by;
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        panic!("the pending session was never held");
    };
    let first = holder();
    cluster.kill(0);
    cluster.kill(1);
    cluster.restart(1);
    let signed = sign_on_phone(&sim.url, SIM_CITIZEN_EC, "1234");
    assert_eq!(signed.json["result"], "SIGNED", "{signed:?}");
    let outcome = sim_outcome(&cluster.url(2), "registrations", &id);
    assert_eq!(outcome.status, 200, "{outcome:?}");
    assert_ne!(
        holder(),
        first,
        "completed by the instance that took it over"
    );
    // One completion stored one ticket.
    assert_eq!(psql(&db.url, "SELECT count(*) FROM tickets").unwrap(), "1");
    let ticket = outcome.json["ticket"].as_str().unwrap();
    // The database holds the session and its ticket by hash only: someone who reads it
    // (a backup, a replica) cannot poll the session or confirm the registration; nor does
    // the audit entry of the account name them.
    let stored_as_issued = |bearer: &str| {
        psql(
            &db.url,
            &format!(
                "SELECT (SELECT count(*) FROM sim_sessions WHERE strpos(id || coalesce(outcome, ''), '{bearer}') > 0) \
                 + (SELECT count(*) FROM tickets WHERE strpos(id || payload, '{bearer}') > 0) \
                 + (SELECT count(*) FROM audit_log WHERE strpos(details, '{bearer}') > 0)"
            ),
        )
        .unwrap()
    };
    assert_eq!(stored_as_issued(&id), "0");
    assert_eq!(stored_as_issued(ticket), "0");
    let body = json!({ "email": "lien.he@kyso-thu-nghiem.vn" });
    assert_eq!(confirm(&cluster.url(1), ticket, &body).status, 201);
    let again = confirm(&cluster.url(2), ticket, &body);
    assert_eq!(
        (again.status, again.code()),
        (404, "TICKET_NOT_FOUND"),
        "{again:?}"
    );
    assert_eq!(stored_as_issued(&id), "0");
}

/// `database.sslmode` decides TLS to the server: `require` connects over TLS (the server
/// says so in `pg_stat_ssl`); `verify-full` refuses a server whose certificate no trusted
/// CA issued (Debian's self-signed "snakeoil" one), and the gateway says why.
#[test]
fn the_configured_sslmode_is_what_the_connections_use() {
    let citizens = Citizens::issue(1, KeyKind::EcP256);
    let db = TestDatabase::create();
    let server_tls = psql(&db.url, "SHOW ssl").unwrap() == "on";
    let with = |mode: &str| {
        let dir = tempfile::tempdir().unwrap();
        let options = GatewayOptions {
            database_url: Some(db.url.clone()),
            extra: format!("[database]\nsslmode = {mode:?}\n"),
            ..GatewayOptions::default()
        };
        let config = gateway_config(&citizens.pki, &citizens.manifest, dir.path(), &options);
        (dir, config)
    };
    let (_dir, require) = with("require");
    let migrated = run(bin("kyso-gateway")
        .args(["migrate", "--config"])
        .arg(&require));
    if !server_tls {
        assert!(
            !migrated.status.success(),
            "require against a server without TLS"
        );
        return;
    }
    assert!(
        migrated.status.success(),
        "{}",
        String::from_utf8_lossy(&migrated.stderr)
    );
    let mut cmd = bin("kyso-gateway");
    cmd.args(["serve", "--config"])
        .arg(&require)
        .env("KYSO_LOG", "warn");
    let gw = start_logging(cmd, "kyso-gateway listening on ", None);
    citizens
        .register(&gw.url, 0)
        .expect("registration over TLS");
    let tls = psql(
        &db.url,
        &format!(
            "SELECT count(*) FROM pg_stat_ssl s JOIN pg_stat_activity a USING (pid) \
             WHERE a.datname = '{}' AND s.ssl AND a.pid <> pg_backend_pid()",
            db.name
        ),
    )
    .unwrap();
    assert_ne!(tls, "0", "the gateway's connections use TLS");

    let (_dir, verify_full) = with("verify-full");
    let refused = run(bin("kyso-gateway")
        .args(["migrate", "--config"])
        .arg(&verify_full));
    assert!(!refused.status.success(), "an untrusted server certificate");
    let said = String::from_utf8_lossy(&refused.stderr);
    assert!(said.contains("database_url"), "{said}");
}
