//! The OpenID Provider's endpoints that portals' servers call (token, userinfo) answer
//! every error in OAuth's JSON (RFC 6749 §5.2, RFC 6750 §3.1), which portals' libraries
//! read: their own handlers do so already, and this rewrites what reached the client as
//! a problem document from elsewhere — the framework's 405, the edge's 408 and 413, an
//! unreadable body, `503 OVERLOADED` from the request pool, a panic's 500.

use crate::oidc::provider::paths;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};

/// Whether answers to `path` are OAuth's.
pub fn is_oauth_path(path: &str) -> bool {
    path == paths::TOKEN || path == paths::USERINFO
}

/// `response` as an OAuth error if it is a problem document, keeping its status and
/// headers (`Allow`, `Retry-After`, the security headers); anything else unchanged.
pub async fn as_oauth_error(response: Response) -> Response {
    let is_problem = response
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"application/problem+json"));
    if !is_problem {
        return response;
    }
    let (mut parts, body) = response.into_parts();
    let problem: serde_json::Value = axum::body::to_bytes(body, 64 * 1024)
        .await
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .unwrap_or_default();
    // Portals retry only what says it is worth retrying.
    let error = match parts.status.as_u16() {
        503 => "temporarily_unavailable",
        500.. => "server_error",
        _ => "invalid_request",
    };
    let description = problem["detail"]
        .as_str()
        .or(problem["title"].as_str())
        .unwrap_or("the request was refused");
    parts.headers.remove(header::CONTENT_LENGTH);
    parts.headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    parts
        .headers
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    parts
        .headers
        .insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
    let body = serde_json::json!({ "error": error, "error_description": description });
    (parts, axum::Json(body)).into_response()
}
