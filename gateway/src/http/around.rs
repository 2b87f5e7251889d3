//! The one layer around every answer: the client's address ([`super::client_addr`]), the
//! request's id and log span ([`super::request_id`]), the guarantee that a refusal is a
//! problem document ([`kyso_edge::problems`]) — or, on the OpenID Provider's
//! server-to-server endpoints, an OAuth error ([`super::oauth_refusals`]) — the security
//! headers ([`super::page::SecurityHeaders`]) and the request's metrics
//! ([`super::observe`]); and a handler that panics is answered `500 INTERNAL_ERROR` like
//! any other failure, instead of the connection being dropped without a word.
//!
//! One layer, not four: every layer of its own boxes the request's future and clones the
//! routes beneath it for each request, and each such clone is a heap allocation and a
//! reference count per field of the handlers' state (docs/performance.md, ninth session).

use super::client_addr::{ClientAddr, client_of};
use super::extract::socket_peer;
use super::page::SecurityHeaders;
use super::problem::ApiError;
use super::{oauth_refusals, observe, request_id};
use crate::domain::network::ProxyNet;
use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use futures_util::FutureExt;
use kyso_edge::{Refuse, problems};
use kyso_verify::error::ErrorCode;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use tracing::Instrument;

/// What the layer needs: how refusals look, the headers every answer carries, and whose
/// word on the client's address counts.
pub struct Around {
    /// The gateway's problem documents for the framework's own refusals.
    pub refuse: Refuse,
    /// The security headers.
    pub headers: SecurityHeaders,
    /// Proxies believed about their client ([`super::client_addr`]).
    pub trusted_proxies: Vec<ProxyNet>,
}

/// Middleware: the request runs inside a span carrying its id and method (not its path:
/// paths carry tickets and signing-SIM session ids); its answer becomes a problem
/// document if it is a bare refusal, gets the security headers, is counted and timed,
/// and carries the id back.
pub async fn every_answer(
    State(around): State<Arc<Around>>,
    mut request: Request,
    next: Next,
) -> Response {
    let peer = socket_peer(request.extensions());
    let client = client_of(peer, request.headers(), &around.trusted_proxies);
    request.extensions_mut().insert(ClientAddr(client));
    let id = request_id::of(&request);
    let span = tracing::info_span!("request", request_id = %id, method = %request.method());
    let oauth = oauth_refusals::is_oauth_path(request.uri().path());
    let answer = async {
        let observed = observe::Observed::start(&request);
        let response = AssertUnwindSafe(next.run(request))
            .catch_unwind()
            .await
            .unwrap_or_else(|_| {
                // The panic's own message went to stderr through the panic hook; the
                // log line carries the request's id, so the two can be matched.
                tracing::error!("the handler panicked; answered 500");
                ApiError::new(ErrorCode::InternalError, "the server failed").into_response()
            });
        let mut response = problems::replace_bare(&around.refuse, response).await;
        if oauth {
            response = oauth_refusals::as_oauth_error(response).await;
        }
        around.headers.apply(response.headers_mut());
        observed.finish(&response);
        response
    };
    let mut response = request_id::within(id.clone(), answer.instrument(span)).await;
    request_id::label(&mut response, &id);
    response
}

#[cfg(test)]
mod tests {
    use super::{Around, every_answer};
    use crate::http::page::SecurityHeaders;
    use axum::Router;
    use axum::body::Body;
    use axum::http::Request;
    use axum::routing::get;
    use std::sync::Arc;
    use tower::ServiceExt;

    async fn broken() -> &'static str {
        panic!("a bug in a handler")
    }

    #[tokio::test]
    async fn a_handler_that_panics_is_answered_with_a_problem_document() {
        let around = Arc::new(Around {
            refuse: crate::http::refuse(),
            headers: SecurityHeaders::new("http://127.0.0.1:14111", "https://dichvucong.test"),
            trusted_proxies: Vec::new(),
        });
        let app = Router::new()
            .route("/broken", get(broken))
            .route("/fine", get(|| async { "fine" }))
            .layer(axum::middleware::from_fn_with_state(around, every_answer));
        let request = |path: &str| {
            Request::get(path)
                .header("x-request-id", "panic-test-1")
                .body(Body::empty())
                .unwrap()
        };
        let answer = app.clone().oneshot(request("/broken")).await.unwrap();
        assert_eq!(answer.status(), 500);
        let headers = answer.headers();
        assert_eq!(
            headers.get("content-type").and_then(|v| v.to_str().ok()),
            Some("application/problem+json")
        );
        assert_eq!(
            headers.get("x-request-id").and_then(|v| v.to_str().ok()),
            Some("panic-test-1")
        );
        assert!(headers.contains_key("content-security-policy"));
        let body = axum::body::to_bytes(answer.into_body(), 1 << 16)
            .await
            .unwrap();
        let body: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(body["code"], "INTERNAL_ERROR", "{body}");
        assert_eq!(body["request_id"], "panic-test-1", "{body}");
        assert!(!body.to_string().contains("a bug in a handler"), "{body}");
        // The service goes on answering.
        let fine = app.oneshot(request("/fine")).await.unwrap();
        assert_eq!(fine.status(), 200);
    }
}
