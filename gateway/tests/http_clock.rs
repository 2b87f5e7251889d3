//! The HTTP API with a clock the test sets: the real router, core and SQLite store driven
//! in process (no socket), so expiry is shown through the API without waiting.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code

use crate::common::{ORIGIN, call};
use axum::http::StatusCode;
use serde_json::json;
use time::Duration;

#[tokio::test]
async fn challenges_and_tickets_expire_through_the_api() {
    // Keep the whole World alive: it owns the database's temporary folder.
    let world = crate::common::world().await;
    let (pki, clock) = (&world.pki, &world.clock);
    let app = world.app();

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
        (StatusCode::NOT_FOUND, Some("TICKET_NOT_FOUND")),
        "{e}"
    );
}
