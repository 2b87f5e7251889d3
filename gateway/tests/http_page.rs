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
