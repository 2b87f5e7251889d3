//! `GET /metrics` and the HTTP layer's own metrics (see [`crate::metrics`]): every
//! answer counted by route template, method and status, timed, and the requests in flight.

use super::AppState;
use axum::extract::{MatchedPath, Request, State};
use axum::http::header;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

/// Middleware: counts and times every request by its route template (`unmatched` for
/// paths no route takes, so a scanner cannot add series), and logs it at debug level.
pub async fn count(request: Request, next: Next) -> Response {
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or("unmatched", MatchedPath::as_str)
        .to_owned();
    let method = match request.method().as_str() {
        m @ ("GET" | "POST" | "PUT" | "DELETE" | "PATCH" | "HEAD" | "OPTIONS") => m,
        _ => "other",
    }
    .to_owned();
    let started = std::time::Instant::now();
    crate::metrics::in_flight(1.0);
    let response = next.run(request).await;
    crate::metrics::in_flight(-1.0);
    let (status, elapsed) = (response.status().as_u16(), started.elapsed());
    // The access log line, inside the request's span (its id, its method): the route
    // template, never the path, which may carry a ticket or a SIM session id.
    tracing::debug!(route, status, elapsed_us = elapsed.as_micros(), "answered");
    crate::metrics::http_request(&route, &method, status, elapsed);
    response
}

/// `GET /metrics`: the Prometheus text exposition format.
#[utoipa::path(
    get,
    path = "/metrics",
    tag = "operations",
    responses((status = 200, description = "Every metric in the Prometheus text exposition format (docs/operations.md).", content_type = "text/plain", body = String)),
)]
pub async fn render(State(s): State<AppState>) -> Response {
    match &s.metrics {
        Some(handle) => (
            [(
                header::CONTENT_TYPE,
                "text/plain; version=0.0.4; charset=utf-8",
            )],
            handle.render(),
        )
            .into_response(),
        None => super::ApiError::new(
            kyso_verify::error::ErrorCode::NotFound,
            "this gateway records no metrics",
        )
        .into_response(),
    }
}
