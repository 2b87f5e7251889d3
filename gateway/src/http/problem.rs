//! RFC 9457 problem documents: the only place an error becomes an HTTP response.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
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

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let code = self.0.code;
        let status = StatusCode::from_u16(code.status()).unwrap_or(StatusCode::BAD_REQUEST);
        let body = serde_json::json!({
            "type": format!("urn:kyso:error:{}", code.as_str()),
            "title": super::messages::title(code, "vi"),
            "status": status.as_u16(),
            "code": code.as_str(),
            "detail": self.0.detail,
        });
        let mut response = (status, body.to_string()).into_response();
        let headers = response.headers_mut();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/problem+json"),
        );
        if code == ErrorCode::RateLimited {
            headers.insert(header::RETRY_AFTER, HeaderValue::from_static("60"));
        }
        response
    }
}
