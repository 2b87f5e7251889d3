//! The last word on refusals: a response with an error status that is not a problem
//! document (the framework's own 404, 405, 400 for an undecodable path, …) is replaced by
//! the program's problem document for it, keeping the headers that matter (`Allow`).
//! Handlers make their own problem documents; this catches what no handler saw. A
//! handler that must answer in another protocol's error format (OAuth's JSON errors, an
//! HTML page for a person) marks its response with [`OwnFormat`] and is left alone.

use crate::{Refusal, Refuse};
use axum::extract::{Request, State};
use axum::http::header;
use axum::middleware::Next;
use axum::response::Response;

const PROBLEM: &str = "application/problem+json";

/// A response extension: this error response is in the format its protocol requires,
/// on purpose, and is not to be replaced.
#[derive(Debug, Clone, Copy)]
pub struct OwnFormat;

/// Middleware: turns bare error responses into problem documents.
pub async fn ensure(State(refuse): State<Refuse>, request: Request, next: Next) -> Response {
    replace_bare(&refuse, next.run(request).await).await
}

/// [`ensure`] for a response in hand: a program that has one layer of its own around
/// every answer calls this there instead of adding another.
pub async fn replace_bare(refuse: &Refuse, response: Response) -> Response {
    let status = response.status();
    let is_problem = response
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(PROBLEM.as_bytes()));
    let own = response.extensions().get::<OwnFormat>().is_some();
    if !(status.is_client_error() || status.is_server_error()) || is_problem || own {
        return response;
    }
    let refusal = match Refusal::of_status(status) {
        Refusal::BadRequest(_) => {
            let text = axum::body::to_bytes(response.into_body(), 4096)
                .await
                .map(|b| String::from_utf8_lossy(&b).into_owned())
                .unwrap_or_default();
            Refusal::BadRequest(if text.is_empty() {
                "the request is malformed".into()
            } else {
                text
            })
        }
        other => {
            let allow = response.headers().get(header::ALLOW).cloned();
            let mut replaced = refuse(other);
            if let Some(allow) = allow {
                replaced.headers_mut().insert(header::ALLOW, allow);
            }
            return replaced;
        }
    };
    refuse(refusal)
}
