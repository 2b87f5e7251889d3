//! The HTTP API with a clock the test sets: the real router, core and SQLite store driven
//! in process (no socket), so expiry is shown through the API without waiting.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code

mod common;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use kyso_gateway::clock::ManualClock;
use kyso_gateway::http::{HttpLimits, RateLimiter, router};
use kyso_gateway::service::{Gateway, Settings};
use kyso_gateway::store::{SqliteStore, Store};
use serde_json::{Value, json};
use std::sync::Arc;
use time::Duration;
use tower::ServiceExt;

const ORIGIN: &str = "https://dichvucong.test";

async fn call(app: &axum::Router, path: &str, body: Value) -> (StatusCode, Value) {
    let request = Request::post(path)
        .header("content-type", "application/json")
        .body(Body::from(body.to_string()))
        .unwrap();
    let response = app.clone().oneshot(request).await.unwrap();
    let status = response.status();
    let bytes = axum::body::to_bytes(response.into_body(), 1 << 20)
        .await
        .unwrap();
    (
        status,
        serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    )
}

#[tokio::test]
async fn challenges_and_tickets_expire_through_the_api() {
    let pki = common::Pki::generate();
    let db = tempfile::tempdir().unwrap();
    let store = Arc::new(
        SqliteStore::open(&format!("sqlite://{}", db.path().join("k.db").display()), 4)
            .await
            .unwrap(),
    );
    store.migrate().await.unwrap();
    let clock = Arc::new(ManualClock::new(pki.manifest.generated_at));
    let settings = Settings {
        origin: ORIGIN.into(),
        challenge_ttl: Duration::minutes(5),
        ticket_ttl: Duration::minutes(10),
        session_ttl: Duration::hours(8),
    };
    let gateway = Arc::new(Gateway::new(
        store,
        Arc::new(pki.policy()),
        clock.clone(),
        settings,
    ));
    let limits = HttpLimits {
        body_bytes: 65536,
        max_concurrent_requests: 16,
    };
    let app = router(gateway, Arc::new(RateLimiter::new(6000, 1000)), &limits);

    let (status, c) = call(&app, "/v1/challenges", json!({ "purpose": "register" })).await;
    assert_eq!(status, StatusCode::CREATED);
    clock.advance(Duration::minutes(5));
    let token = pki.token("citizen-cccd", ORIGIN, c["nonce"].as_str().unwrap());
    let (status, e) = call(
        &app,
        "/v1/registrations/token",
        json!({ "challenge_id": c["challenge_id"], "auth_token": token }),
    )
    .await;
    assert_eq!(
        (status, e["code"].as_str()),
        (StatusCode::GONE, Some("CHALLENGE_EXPIRED"))
    );

    // Just inside the lifetime it works; the ticket then dies after ten minutes.
    let (_, c) = call(&app, "/v1/challenges", json!({ "purpose": "register" })).await;
    clock.advance(Duration::minutes(5) - Duration::seconds(1));
    let token = pki.token("citizen-cccd", ORIGIN, c["nonce"].as_str().unwrap());
    let (status, p) = call(
        &app,
        "/v1/registrations/token",
        json!({ "challenge_id": c["challenge_id"], "auth_token": token }),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{p}");
    clock.advance(Duration::minutes(10));
    let path = format!(
        "/v1/registrations/{}/confirm",
        p["ticket"].as_str().unwrap()
    );
    let (status, e) = call(&app, &path, json!({})).await;
    assert_eq!(
        (status, e["code"].as_str()),
        (StatusCode::NOT_FOUND, Some("TICKET_NOT_FOUND"))
    );
}
