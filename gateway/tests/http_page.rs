//! The registration page's security headers, on the page and on every other answer, for a
//! gateway whose public origin is https (behind a TLS-terminating proxy): a strict
//! Content-Security-Policy (scripts and styles only from the gateway, connections only to
//! it and the configured agent, no framing), nosniff, no referrer, and HSTS.

use crate::common::world;
use axum::body::Body;
use axum::http::Request;
use tower::ServiceExt;

#[tokio::test]
async fn every_answer_carries_the_pages_security_headers_and_hsts_on_https() {
    let w = world().await;
    let app = w.app();
    for path in ["/", "/assets/app.js", "/config.json", "/v1/no-such-route"] {
        let response = app
            .clone()
            .oneshot(Request::get(path).body(Body::empty()).unwrap())
            .await
            .unwrap();
        let h = response.headers();
        let header = |name: &str| {
            h.get(name)
                .and_then(|v| v.to_str().ok())
                .unwrap_or_else(|| panic!("{path}: no {name}"))
                .to_owned()
        };
        let csp = header("content-security-policy");
        for directive in [
            "default-src 'none'",
            "script-src 'self'",
            "style-src 'self'",
            "connect-src 'self' http://127.0.0.1:18765",
            "frame-ancestors 'none'",
            "base-uri 'none'",
        ] {
            assert!(csp.contains(directive), "{path}: {directive} in {csp}");
        }
        assert!(!csp.contains("unsafe"), "{path}: {csp}");
        assert_eq!(header("x-content-type-options"), "nosniff");
        assert_eq!(header("referrer-policy"), "no-referrer");
        assert_eq!(header("x-frame-options"), "DENY");
        assert!(
            header("strict-transport-security").starts_with("max-age="),
            "{path}"
        );
    }
}

/// Answers can carry bearer secrets (a SIM session's token, a ticket, the account): none
/// may be kept by a cache between the gateway and the browser, unless the handler chose a
/// policy of its own (the page's files are revalidated, never stored blindly).
#[tokio::test]
async fn api_answers_are_never_stored_by_caches_and_the_pages_files_are_revalidated() {
    let w = world().await;
    let app = w.app();
    let cache_control = |request: Request<Body>| {
        let app = app.clone();
        async move {
            let response = app.oneshot(request).await.unwrap();
            let value = response.headers().get("cache-control").cloned();
            (
                response.status(),
                value.map(|v| v.to_str().unwrap().to_owned()),
            )
        }
    };
    let challenge = Request::post("/v1/challenges")
        .header("content-type", "application/json")
        .body(Body::from(r#"{"purpose":"register"}"#))
        .unwrap();
    assert_eq!(
        cache_control(challenge).await,
        (axum::http::StatusCode::CREATED, Some("no-store".into()))
    );
    for path in [
        "/v1/accounts/me",
        "/v1/sessions/sim/nosuchsession",
        "/v1/no-such-route",
    ] {
        let (status, value) = cache_control(Request::get(path).body(Body::empty()).unwrap()).await;
        assert!(status.is_client_error(), "{path}: {status}");
        assert_eq!(value.as_deref(), Some("no-store"), "{path}");
    }
    for path in ["/", "/assets/app.js", "/config.json"] {
        let (_, value) = cache_control(Request::get(path).body(Body::empty()).unwrap()).await;
        assert_eq!(value.as_deref(), Some("no-cache"), "{path}");
    }
}
