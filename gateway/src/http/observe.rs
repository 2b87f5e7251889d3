//! `GET /metrics` and the HTTP layer's own metrics (see [`crate::metrics`]): every
//! answer counted by route template, method and status, timed, and the requests in flight.

use super::AppState;
use axum::extract::{MatchedPath, Request, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};

/// One request being counted and timed by its route template (`unmatched` for paths no
/// route takes, so a scanner cannot add series); [`super::around`] starts and finishes it.
/// It stops counting as in flight when dropped, so a request whose client hung up (its
/// future dropped mid-way, as in an abandoned long poll) does not stay in the gauge.
pub(super) struct Observed {
    route: String,
    method: &'static str,
    started: std::time::Instant,
}

impl Observed {
    /// The request is in flight from now.
    pub(super) fn start(request: &Request) -> Self {
        let route = request
            .extensions()
            .get::<MatchedPath>()
            .map_or("unmatched", MatchedPath::as_str)
            .to_owned();
        let method = match request.method().as_str() {
            "GET" => "GET",
            "POST" => "POST",
            "PUT" => "PUT",
            "DELETE" => "DELETE",
            "PATCH" => "PATCH",
            "HEAD" => "HEAD",
            "OPTIONS" => "OPTIONS",
            _ => "other",
        };
        crate::metrics::in_flight(1.0);
        Self {
            route,
            method,
            started: std::time::Instant::now(),
        }
    }

    /// The request is answered with `response`: counted, timed, and logged at debug level
    /// (inside the request's span: its id, its method; the route template, never the
    /// path, which may carry a ticket or a SIM session id).
    pub(super) fn finish(mut self, response: &Response) {
        let (status, elapsed) = (response.status().as_u16(), self.started.elapsed());
        let route = std::mem::take(&mut self.route);
        tracing::debug!(route, status, elapsed_us = elapsed.as_micros(), "answered");
        crate::metrics::http_request(route, self.method, status, elapsed);
    }
}

impl Drop for Observed {
    fn drop(&mut self) {
        crate::metrics::in_flight(-1.0);
    }
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
