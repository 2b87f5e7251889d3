//! The OpenAPI description: the committed `docs/openapi.json` is what the code generates
//! (regenerate with `cargo run -p kyso-gateway -- openapi > docs/openapi.json`), the
//! gateway serves it, every operation lists its refusals, and every described operation
//! is a route of the gateway.

use crate::common::{send, world};
use axum::body::Body;
use axum::http::{Request, StatusCode};
use kyso_gateway::http::openapi::{refusals, render};
use serde_json::Value;

const COMMITTED: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/openapi.json");

fn description() -> Value {
    serde_json::from_str(render()).unwrap()
}

/// (method, path template, operation) of every described operation.
fn operations(doc: &Value) -> Vec<(String, String, Value)> {
    let mut out = Vec::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, operation) in item.as_object().unwrap() {
            out.push((method.clone(), path.clone(), operation.clone()));
        }
    }
    out
}

#[test]
fn the_committed_description_is_the_one_the_code_generates() {
    let committed = std::fs::read_to_string(COMMITTED).unwrap_or_default();
    assert!(
        committed == render(),
        "docs/openapi.json differs from the code's description; regenerate it with \
         `cargo run -p kyso-gateway -- openapi > docs/openapi.json` and review the diff"
    );
}

#[test]
fn the_description_is_openapi_3_1_with_every_problem_code_an_example() {
    let doc = description();
    assert!(doc["openapi"].as_str().unwrap().starts_with("3.1"));
    let ops = operations(&doc);
    assert!(ops.len() >= 17, "{} operations", ops.len());
    for (method, path, operation) in &ops {
        let id = operation["operationId"].as_str().unwrap();
        let listed = refusals(id).unwrap_or_else(|| panic!("{id}: no refusals listed"));
        for code in &listed {
            let response = &operation["responses"][code.status().to_string()];
            let example = &response["content"]["application/problem+json"]["examples"]
                [code.as_str()]["value"];
            assert_eq!(example["code"], code.as_str(), "{method} {path}");
            assert_eq!(example["status"], code.status(), "{method} {path}");
            if matches!(code.status(), 429 | 503) {
                assert!(
                    response["headers"]["Retry-After"].is_object(),
                    "{method} {path}"
                );
            }
        }
        for (status, response) in operation["responses"].as_object().unwrap() {
            assert!(
                response["headers"]["X-Request-Id"].is_object(),
                "{method} {path} {status}"
            );
            assert!(
                response["description"]
                    .as_str()
                    .is_some_and(|d| !d.is_empty())
            );
        }
    }
    let code_enum = doc["components"]["schemas"]["ProblemDocument"]["properties"]["code"]["enum"]
        .as_array()
        .unwrap()
        .len();
    assert_eq!(code_enum, kyso_verify::error::ErrorCode::ALL.len());
}

#[test]
fn an_operation_missing_from_the_table_is_noticed() {
    assert!(refusals("no_such_handler").is_none());
    assert!(
        refusals("register_token")
            .unwrap()
            .contains(&kyso_verify::error::ErrorCode::CertRevoked)
    );
}

#[tokio::test]
async fn the_gateway_serves_the_description_and_every_described_operation_is_a_route() {
    let w = world().await;
    let app = w.app();
    let (status, headers, served) = send(
        &app,
        Request::get("/openapi.json").body(Body::empty()).unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(headers["content-type"], "application/json");
    assert_eq!(served, description());
    for (method, path, _) in operations(&served) {
        let concrete = path
            .replace("{ticket}", "t")
            .replace("{id}", "i")
            .replace("{name}", "app.js");
        let request = Request::builder()
            .method(method.to_uppercase().as_str())
            .uri(&concrete)
            .header("content-type", "application/json")
            .body(Body::from("{}"))
            .unwrap();
        let (status, _, json) = send(&app, request).await;
        assert_ne!(status, StatusCode::METHOD_NOT_ALLOWED, "{method} {path}");
        assert_ne!(
            json["detail"], "no such endpoint",
            "{method} {path}: not a route"
        );
    }
}
