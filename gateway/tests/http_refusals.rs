//! Every refusal the application controls is a problem document (design §4): each route
//! with every method it does not take (405 with `Allow`), paths that do not decode,
//! unknown routes — walked through the real router.

use axum::body::Body;
use axum::http::{Request, StatusCode};
use serde_json::Value;

/// Every route and the methods it takes.
const ROUTES: [(&str, &str); 15] = [
    ("/v1/challenges", "POST"),
    ("/v1/registrations/token", "POST"),
    ("/v1/registrations/T1/confirm", "POST"),
    ("/v1/sessions/token", "POST"),
    ("/v1/registrations/sim", "POST"),
    ("/v1/sessions/sim", "POST"),
    ("/v1/registrations/sim/S1", "GET"),
    ("/v1/sessions/sim/S1", "GET"),
    ("/v1/accounts/me", "GET"),
    ("/healthz", "GET"),
    ("/readyz", "GET"),
    ("/", "GET"),
    ("/assets/app.js", "GET"),
    ("/messages/vi.json", "GET"),
    ("/config.json", "GET"),
];

const METHODS: [&str; 5] = ["GET", "POST", "PUT", "DELETE", "PATCH"];

async fn send(
    app: &axum::Router,
    method: &str,
    path: &str,
) -> (StatusCode, axum::http::HeaderMap, Value) {
    let request = Request::builder()
        .method(method)
        .uri(path)
        .header("content-type", "application/json")
        .body(Body::from("{}"))
        .unwrap();
    crate::common::send(app, request).await
}

fn assert_problem(headers: &axum::http::HeaderMap, json: &Value, code: &str, what: &str) {
    assert_eq!(
        headers.get("content-type").map(|v| v.to_str().unwrap()),
        Some("application/problem+json"),
        "{what}"
    );
    assert_eq!(json["code"], code, "{what}: {json}");
    assert!(
        json["title"].as_str().is_some_and(|t| !t.is_empty()),
        "{what}"
    );
    assert!(json["status"].as_u64().is_some(), "{what}");
}

#[tokio::test]
async fn wrong_methods_are_405_problems_naming_the_allowed_method() {
    let world = crate::common::world().await;
    let app = world.app();
    let mut walked = 0;
    for (path, allowed) in ROUTES {
        for method in METHODS.into_iter().filter(|m| *m != allowed) {
            let (status, headers, json) = send(&app, method, path).await;
            let what = format!("{method} {path}");
            assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED, "{what}: {json}");
            assert_problem(&headers, &json, "METHOD_NOT_ALLOWED", &what);
            let allow = headers.get("allow").map(|v| v.to_str().unwrap().to_owned());
            assert!(
                allow.as_deref().is_some_and(|a| a.contains(allowed)),
                "{what}: Allow {allow:?}"
            );
            walked += 1;
        }
    }
    assert_eq!(walked, ROUTES.len() * (METHODS.len() - 1));
}

#[tokio::test]
async fn undecodable_paths_and_unknown_routes_are_problems() {
    let world = crate::common::world().await;
    let app = world.app();
    for (method, path) in [
        ("POST", "/v1/registrations/%FF%FE/confirm"),
        ("GET", "/v1/registrations/sim/%C3%28"),
        ("GET", "/v1/sessions/sim/%80"),
        // NUL, which no id holds and PostgreSQL's text cannot.
        ("POST", "/v1/registrations/T%00/confirm"),
        ("GET", "/v1/registrations/sim/%00"),
        ("GET", "/v1/sessions/sim/S%001"),
    ] {
        let (status, headers, json) = send(&app, method, path).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{path}: {json}");
        assert_problem(&headers, &json, "MALFORMED_REQUEST", path);
    }
    for path in [
        "/v1/nope",
        "/v2/challenges",
        "/v1/registrations/a/b/c",
        "/.env",
    ] {
        let (status, headers, json) = send(&app, "GET", path).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{path}");
        assert_problem(&headers, &json, "NOT_FOUND", path);
    }
}

/// `docs/api.md`'s table of statuses and codes, written by hand, agrees with the code
/// table both ways: a code added, renamed or moved to another status without the docs
/// (or the docs without the code) fails here.
#[test]
fn the_api_docs_list_every_code_with_its_status() {
    use kyso_verify::error::ErrorCode;
    let docs = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/api.md"),
    )
    .unwrap();
    let mut documented = std::collections::BTreeMap::new();
    for line in docs.lines() {
        let cells: Vec<&str> = line.split('|').map(str::trim).collect();
        let Some(status) = cells.get(1).and_then(|c| c.parse::<u16>().ok()) else {
            continue;
        };
        let codes = cells.get(2).copied().unwrap_or_default();
        for code in codes.split('`').skip(1).step_by(2) {
            if code.chars().all(|c| c.is_ascii_uppercase() || c == '_') {
                assert!(
                    documented.insert(code.to_owned(), status).is_none(),
                    "{code} listed twice"
                );
            }
        }
    }
    for code in ErrorCode::ALL {
        assert_eq!(
            documented.remove(code.as_str()),
            Some(code.status()),
            "{code} in docs/api.md"
        );
    }
    assert!(
        documented.is_empty(),
        "documented but not a code: {documented:?}"
    );
}

#[tokio::test]
async fn every_answer_carries_a_request_id_and_problem_documents_name_it() {
    let world = crate::common::world().await;
    let app = world.app();
    let ask = |id: Option<&str>| {
        let mut r = Request::builder().method("GET").uri("/v1/nope");
        if let Some(id) = id {
            r = r.header("x-request-id", id);
        }
        r.body(Body::empty()).unwrap()
    };
    // A plain id from the client (a load balancer's) is kept, on the answer and in it.
    let (_, headers, json) = crate::common::send(&app, ask(Some("lb-7f3a:42"))).await;
    assert_eq!(headers.get("x-request-id").unwrap(), "lb-7f3a:42");
    assert_eq!(json["request_id"], "lb-7f3a:42");
    // None, or one that could forge a log line: a fresh id instead.
    let mut seen = Vec::new();
    for id in [None, Some("evil\" injected=1"), Some(&*"x".repeat(65))] {
        let (_, headers, json) = crate::common::send(&app, ask(id)).await;
        let given = headers
            .get("x-request-id")
            .unwrap()
            .to_str()
            .unwrap()
            .to_owned();
        assert_eq!(given.len(), 32, "{given}");
        assert!(given.bytes().all(|b| b.is_ascii_hexdigit()));
        assert_eq!(json["request_id"], given.as_str());
        seen.push(given);
    }
    seen.dedup();
    assert_eq!(seen.len(), 3, "a fresh id each time");
    // Successful answers carry it too.
    let (status, headers, _) =
        crate::common::send(&app, Request::get("/healthz").body(Body::empty()).unwrap()).await;
    assert_eq!(status, StatusCode::OK);
    assert!(headers.get("x-request-id").is_some());
}
