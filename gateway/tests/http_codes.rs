//! The refusals of the registration and login flow, each through the HTTP layer a portal
//! sees (the real router, in process): a subject type that does not match, a login
//! without an account, a malformed email, the system's randomness failing, and every
//! worker busy.

use crate::common::{ORIGIN, World, call, call_full, world, world_with_entropy};
use axum::http::StatusCode;
use kyso_gateway::entropy::{Entropy, EntropyFailed};
use kyso_gateway::http::HttpLimits;
use serde_json::{Value, json};
use std::sync::Arc;

/// A challenge for `purpose` and `person`'s token over it: the request body for the
/// token endpoints.
async fn signed(w: &World, app: &axum::Router, purpose: &str, person: &str) -> Value {
    let (status, c) = call(app, "/v1/challenges", json!({ "purpose": purpose })).await;
    assert_eq!(status, StatusCode::CREATED, "{c}");
    let token = w.pki.token(person, ORIGIN, c["nonce"].as_str().unwrap());
    json!({ "challenge_id": c["challenge_id"], "auth_token": token })
}

#[tokio::test]
async fn the_flows_refusals_are_problem_documents_with_their_codes() {
    let w = world().await;
    let app = w.app();

    let mut body = signed(&w, &app, "register", "enterprise-employee").await;
    body["subject_type"] = json!("organization");
    let (status, r) = call(&app, "/v1/registrations/token", body).await;
    assert_eq!(
        (status, r["code"].as_str()),
        (
            StatusCode::UNPROCESSABLE_ENTITY,
            Some("SUBJECT_TYPE_MISMATCH")
        ),
        "{r}"
    );

    let body = signed(&w, &app, "login", "citizen-ec").await;
    let (status, r) = call(&app, "/v1/sessions/token", body).await;
    assert_eq!(
        (status, r["code"].as_str()),
        (StatusCode::NOT_FOUND, Some("ACCOUNT_NOT_FOUND")),
        "{r}"
    );

    let body = signed(&w, &app, "register", "enterprise-branch").await;
    let (status, preview) = call(&app, "/v1/registrations/token", body).await;
    assert_eq!(status, StatusCode::OK, "{preview}");
    let confirm = format!(
        "/v1/registrations/{}/confirm",
        preview["ticket"].as_str().unwrap()
    );
    // A NUL character anywhere in a body is malformed, before any field is looked at or
    // stored (PostgreSQL's text could not hold it): in an id, in contact details.
    let mut nul_id = signed(&w, &app, "login", "citizen-cccd").await;
    nul_id["challenge_id"] = json!("c\u{0}1");
    for (path, body) in [
        ("/v1/sessions/token", nul_id),
        (confirm.as_str(), json!({ "email": "a\u{0}b@example.vn" })),
    ] {
        let (status, r) = call(&app, path, body).await;
        assert_eq!(
            (status, r["code"].as_str()),
            (StatusCode::BAD_REQUEST, Some("MALFORMED_REQUEST")),
            "{path}: {r}"
        );
    }
    // The text `\u0000` (an escaped backslash, then `u0000`) is no NUL: just no email.
    for email in ["not-an-email", "not-an-email\\u0000"] {
        let (status, r) = call(&app, &confirm, json!({ "email": email })).await;
        assert_eq!(
            (status, r["code"].as_str()),
            (StatusCode::UNPROCESSABLE_ENTITY, Some("INVALID_EMAIL")),
            "{email}: {r}"
        );
    }
    // The refusal did not use the ticket up.
    let (status, r) = call(&app, &confirm, json!({ "email": "lien.he@example.vn" })).await;
    assert_eq!(status, StatusCode::CREATED, "{r}");
}

/// Randomness that always fails.
struct NoEntropy;

impl Entropy for NoEntropy {
    fn fill(&self, _: &mut [u8]) -> Result<(), EntropyFailed> {
        Err(EntropyFailed)
    }
}

#[tokio::test]
async fn without_randomness_a_challenge_is_an_internal_error_not_a_weak_nonce() {
    let w = world_with_entropy(Arc::new(NoEntropy)).await;
    let (status, headers, r) =
        call_full(&w.app(), "/v1/challenges", json!({ "purpose": "register" })).await;
    assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR, "{r}");
    assert_eq!(r["code"], "INTERNAL_ERROR");
    assert!(r.get("nonce").is_none());
    assert_eq!(
        headers.get("content-type").unwrap(),
        "application/problem+json"
    );
}

/// A registration confirmed through `app` whose account write waits, holding its place in
/// the pool, while another connection holds SQLite's write lock: the lock (commit it to
/// let the write through) and the confirmation's answer to come. It uses three requests'
/// worth of rate-limit tokens: a challenge, its preview, the confirmation.
async fn confirmation_held_by_the_database(
    w: &World,
    app: &axum::Router,
) -> (
    rusqlite::Connection,
    tokio::task::JoinHandle<(StatusCode, Value)>,
) {
    let (_, c) = call(app, "/v1/challenges", json!({ "purpose": "register" })).await;
    let token = w
        .pki
        .token("citizen-cccd", ORIGIN, c["nonce"].as_str().unwrap());
    let (_, preview) = call(
        app,
        "/v1/registrations/token",
        json!({ "challenge_id": c["challenge_id"], "auth_token": token }),
    )
    .await;
    let confirm = format!(
        "/v1/registrations/{}/confirm",
        preview["ticket"].as_str().unwrap()
    );
    let lock = rusqlite::Connection::open(w.db_file()).unwrap();
    lock.execute_batch("BEGIN IMMEDIATE").unwrap();
    let holder = tokio::spawn({
        let app = app.clone();
        async move { call(&app, &confirm, json!({})).await }
    });
    (lock, holder)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_waiting_past_the_queue_limit_is_overloaded() {
    let w = world().await;
    let app = w.app_with(
        6000,
        1000,
        HttpLimits {
            max_concurrent_requests: 1,
            max_concurrent_polls: 1,
            queue_wait: std::time::Duration::from_millis(50),
            ..crate::common::generous_limits()
        },
    );
    // A confirmation whose account write waits for the database (another process holds
    // SQLite's write lock) holds the only slot. (A body that never finishes does not: it
    // is read whole before any slot is taken.)
    let (lock, holder) = confirmation_held_by_the_database(&w, &app).await;
    let mut answer = None;
    for _ in 0..200 {
        let (status, headers, r) =
            call_full(&app, "/v1/challenges", json!({ "purpose": "register" })).await;
        if status == StatusCode::SERVICE_UNAVAILABLE {
            answer = Some((headers, r));
            break;
        }
        // The confirmation had not taken its slot yet.
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    lock.execute_batch("COMMIT").unwrap();
    let (headers, r) = answer.expect("a request beyond the pool is refused");
    assert_eq!(r["code"], "OVERLOADED", "{r}");
    assert!(headers.get("retry-after").is_some());
    assert_eq!(holder.await.unwrap().0, StatusCode::CREATED);
}

/// A client over its rate limit is refused at once (429), not queued for a place in a
/// full pool first (which would answer 503 OVERLOADED after the wait, and hold a queue
/// place meanwhile).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_over_its_rate_limit_is_refused_before_it_waits_for_the_pool() {
    let w = world().await;
    // Three requests' worth of tokens: a challenge, its preview, its confirmation.
    let app = w.app_with(
        1,
        3,
        HttpLimits {
            max_concurrent_requests: 1,
            queue_wait: std::time::Duration::from_secs(1),
            ..crate::common::generous_limits()
        },
    );
    let (lock, holder) = confirmation_held_by_the_database(&w, &app).await;
    // Time for the held confirmation to take the last token and the pool's place (it
    // then waits for SQLite's lock, up to the writer's 10 s).
    tokio::time::sleep(std::time::Duration::from_secs(2)).await;
    let (status, r) = call(&app, "/v1/challenges", json!({ "purpose": "register" })).await;
    lock.execute_batch("COMMIT").unwrap();
    assert_eq!(
        (status, r["code"].as_str()),
        (StatusCode::TOO_MANY_REQUESTS, Some("RATE_LIMITED")),
        "{r}"
    );
    assert_eq!(holder.await.unwrap().0, StatusCode::CREATED);
}

#[tokio::test]
async fn readiness_needs_a_trust_anchor_that_is_valid_now() {
    let w = world().await;
    let app = w.app();
    let (status, r) = crate::common::get(&app, "/readyz").await;
    assert_eq!(status, StatusCode::OK, "{r}");
    // Far past every anchor's notAfter: no certificate could be verified any more.
    w.clock.advance(time::Duration::days(365 * 60));
    let (status, r) = crate::common::get(&app, "/readyz").await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{r}");
    assert_eq!(r["code"], "TRUST_UNAVAILABLE");
    // Liveness does not depend on it.
    let (status, _) = crate::common::get(&app, "/healthz").await;
    assert_eq!(status, StatusCode::OK);
}
