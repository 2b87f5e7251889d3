//! Single use under concurrency through the whole stack (router, service, store), and
//! rate limits on a clock the test moves: one challenge submitted 100 times at once is
//! accepted once; one ticket confirmed 100 times at once makes one account.

use crate::common::{ORIGIN, World, at_once, call, call_full, world};
use axum::http::StatusCode;
use kyso_gateway::store::{AUDIT_PAGE, verify_audit_chain};
use serde_json::{Value, json};
use time::Duration;

/// A registration challenge signed by the citizen-cccd test person: the body of
/// `POST /v1/registrations/token`.
async fn signed_registration(w: &World, app: &axum::Router) -> Value {
    let (_, c) = call(app, "/v1/challenges", json!({ "purpose": "register" })).await;
    let token = w
        .pki
        .token("citizen-cccd", ORIGIN, c["nonce"].as_str().unwrap());
    json!({ "challenge_id": c["challenge_id"], "auth_token": token })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn one_challenge_submitted_100_times_at_once_is_accepted_once() {
    let w = world().await;
    let app = w.app();
    let body = signed_registration(&w, &app).await;
    let answers = at_once(100, |_| {
        let (app, body) = (app.clone(), body.clone());
        async move { call(&app, "/v1/registrations/token", body).await }
    })
    .await;
    let accepted = answers.iter().filter(|(s, _)| *s == StatusCode::OK).count();
    assert_eq!(accepted, 1, "one challenge, one use");
    for (status, answer) in answers.iter().filter(|(s, _)| *s != StatusCode::OK) {
        assert_eq!(
            (*status, answer["code"].as_str()),
            (StatusCode::NOT_FOUND, Some("CHALLENGE_NOT_FOUND")),
            "{answer}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn one_ticket_confirmed_100_times_at_once_makes_one_account() {
    let w = world().await;
    let app = w.app();
    let body = signed_registration(&w, &app).await;
    let (_, preview) = call(&app, "/v1/registrations/token", body).await;
    let url = format!(
        "/v1/registrations/{}/confirm",
        preview["ticket"].as_str().unwrap()
    );
    let answers: Vec<(StatusCode, Value)> = at_once(100, |_| {
        let (app, url) = (app.clone(), url.clone());
        async move { call(&app, &url, json!({})).await }
    })
    .await;
    let created: Vec<&Value> = answers
        .iter()
        .filter(|(s, _)| *s == StatusCode::CREATED)
        .map(|(_, a)| a)
        .collect();
    assert_eq!(created.len(), 1, "one ticket, one account");
    for (status, answer) in answers.iter().filter(|(s, _)| *s != StatusCode::CREATED) {
        assert_eq!(
            (*status, answer["code"].as_str()),
            (StatusCode::NOT_FOUND, Some("TICKET_NOT_FOUND")),
            "{answer}"
        );
    }
    assert_eq!(
        verify_audit_chain(w.store.as_ref(), None, AUDIT_PAGE)
            .await
            .unwrap()
            .seq,
        1,
        "one audit row"
    );
}

#[tokio::test]
async fn too_many_requests_from_one_address_are_rate_limited_until_the_bucket_refills() {
    let w = world().await;
    let app = w.app_rate_limited(1, 3);
    let mut statuses = Vec::new();
    for _ in 0..5 {
        statuses.push(
            call(&app, "/v1/challenges", json!({ "purpose": "register" }))
                .await
                .0
                .as_u16(),
        );
    }
    assert_eq!(statuses, [201, 201, 201, 429, 429]);
    let (status, headers, refused) =
        call_full(&app, "/v1/challenges", json!({ "purpose": "register" })).await;
    assert_eq!(
        (status.as_u16(), refused["code"].as_str()),
        (429, Some("RATE_LIMITED"))
    );
    assert!(headers.get("retry-after").is_some());
    let (health, _) = crate::common::get(&app, "/healthz").await;
    assert_eq!(health, StatusCode::OK, "health is not limited");
    // One token a minute: a minute later, exactly one more.
    w.clock.advance(Duration::seconds(60));
    let (status, _) = call(&app, "/v1/challenges", json!({ "purpose": "register" })).await;
    assert_eq!(status, StatusCode::CREATED);
    let (status, _) = call(&app, "/v1/challenges", json!({ "purpose": "register" })).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
}

/// Behind the proxy the deployment puts in front, every request comes from the proxy's
/// address: clients are counted by what a trusted proxy says in `X-Forwarded-For`, and
/// only a trusted proxy is believed.
#[tokio::test]
async fn behind_a_trusted_proxy_clients_are_counted_by_the_address_it_names() {
    let w = world().await;
    let app = w.app_with(
        1,
        1,
        kyso_gateway::http::HttpLimits {
            trusted_proxies: vec!["127.0.0.1".parse().unwrap()],
            ..crate::common::generous_limits()
        },
    );
    let challenge =
        |peer: [u8; 4], forwarded: &str| {
            let mut request = axum::http::Request::post("/v1/challenges")
                .header("content-type", "application/json")
                .header("x-forwarded-for", forwarded)
                .body(axum::body::Body::from(r#"{"purpose":"register"}"#))
                .unwrap();
            request.extensions_mut().insert(axum::extract::ConnectInfo(
                std::net::SocketAddr::from((peer, 40000)),
            ));
            let app = app.clone();
            async move {
                tower::ServiceExt::oneshot(app, request)
                    .await
                    .unwrap()
                    .status()
                    .as_u16()
            }
        };
    let proxy = [127, 0, 0, 1];
    // Two clients through the proxy, one token each.
    assert_eq!(challenge(proxy, "203.0.113.9").await, 201);
    assert_eq!(challenge(proxy, "198.51.100.7").await, 201);
    assert_eq!(
        challenge(proxy, "203.0.113.9").await,
        429,
        "the same client again"
    );
    // What the client wrote itself, left of the proxy's entry, is not read.
    assert_eq!(challenge(proxy, "192.0.2.1, 203.0.113.9").await, 429);
    // A peer that is no trusted proxy is counted as itself, whatever it claims.
    let stranger = [192, 0, 2, 50];
    assert_eq!(challenge(stranger, "192.0.2.77").await, 201);
    assert_eq!(challenge(stranger, "192.0.2.78").await, 429);
}
