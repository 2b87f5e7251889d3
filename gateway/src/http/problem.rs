//! RFC 9457 problem documents: the only place an error becomes an HTTP response.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use kyso_edge::Refusal;
use kyso_verify::error::{ErrorCode, Rejection};

/// A refusal on its way out.
#[derive(Debug)]
pub struct ApiError(pub Rejection);

impl From<Rejection> for ApiError {
    fn from(r: Rejection) -> Self {
        Self(r)
    }
}

impl ApiError {
    /// A refusal with this code and detail.
    pub fn new(code: ErrorCode, detail: impl Into<String>) -> Self {
        Self(Rejection::new(code, detail))
    }
}

/// The problem document for a refusal made at the edge ([`kyso_edge`]): timeouts, body
/// limits, unknown routes, wrong methods, undecodable paths, overload.
pub fn edge_refusal(refusal: Refusal) -> Response {
    let (code, detail) = match refusal {
        Refusal::BodyTimeout => (
            ErrorCode::RequestTimeout,
            "the request body did not arrive in time".to_owned(),
        ),
        Refusal::BodyTooLarge => (
            ErrorCode::PayloadTooLarge,
            "the request body is larger than the limit".to_owned(),
        ),
        Refusal::BadRequest(detail) => (ErrorCode::MalformedRequest, detail),
        Refusal::NotFound => (ErrorCode::NotFound, "no such endpoint".to_owned()),
        Refusal::MethodNotAllowed => (
            ErrorCode::MethodNotAllowed,
            "this endpoint does not take this method; see Allow".to_owned(),
        ),
        Refusal::Overloaded => (
            ErrorCode::Overloaded,
            "too many requests in progress; retry shortly".to_owned(),
        ),
        Refusal::Other(status) if status.is_server_error() => (
            ErrorCode::InternalError,
            format!("the server failed ({status})"),
        ),
        Refusal::Other(status) => (
            ErrorCode::MalformedRequest,
            format!("the request was refused ({status})"),
        ),
    };
    ApiError::new(code, detail).into_response()
}

/// `Retry-After` for refusals that are worth retrying as they are, when the refusal does
/// not say: a rate limit's window; a service briefly unavailable.
fn default_retry_after(code: ErrorCode) -> Option<u64> {
    match code.status() {
        429 => Some(60),
        503 => Some(5),
        _ => None,
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let code = self.0.code;
        let status = StatusCode::from_u16(code.status()).unwrap_or(StatusCode::BAD_REQUEST);
        let body = super::api::ProblemDocument {
            problem_type: format!("urn:kyso:error:{}", code.as_str()),
            title: super::messages::title(code, "vi"),
            status: status.as_u16(),
            code: code.as_str(),
            detail: self.0.detail,
            request_id: super::request_id::current().map(|id| id.as_ref().to_owned()),
        };
        let body = serde_json::to_string(&body).unwrap_or_default();
        let mut response = (status, body).into_response();
        let headers = response.headers_mut();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/problem+json"),
        );
        if let Some(seconds) = self.0.retry_after.or_else(|| default_retry_after(code)) {
            headers.insert(header::RETRY_AFTER, HeaderValue::from(seconds));
        }
        response
    }
}
