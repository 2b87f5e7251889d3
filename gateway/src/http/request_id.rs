//! `X-Request-Id`: one id per request, on the response, in every log line written while
//! the request is handled, and in its problem document (`request_id`), so an operator can
//! find the log lines of the refusal a person reports.
//!
//! A client's (or load balancer's) `X-Request-Id` is kept when it is 1 to 64 characters
//! of `A–Z a–z 0–9 . _ : -` — anything else could forge log lines or carry markup — and
//! otherwise replaced by 16 random bytes in hex. The id says nothing secret; it is not an
//! authenticator. [`super::around`] gives each request its id.

use axum::extract::Request;
use axum::http::HeaderValue;
use axum::response::Response;
use std::sync::Arc;

/// The header.
pub const HEADER: &str = "x-request-id";

tokio::task_local! {
    static CURRENT: Arc<str>;
}

/// The id of the request being handled on this task, if any.
pub fn current() -> Option<Arc<str>> {
    CURRENT.try_with(Arc::clone).ok()
}

fn acceptable(id: &str) -> bool {
    (1..=64).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b':' | b'-'))
}

/// The request's id: the client's when acceptable, else a fresh one.
pub(super) fn of(request: &Request) -> Arc<str> {
    request
        .headers()
        .get(HEADER)
        .and_then(|v| v.to_str().ok())
        .filter(|v| acceptable(v))
        .map_or_else(crate::entropy::unique_label, str::to_owned)
        .into()
}

/// Runs `work` with `id` as the [`current`] request's id.
pub(super) async fn within<T>(id: Arc<str>, work: impl Future<Output = T>) -> T {
    CURRENT.scope(id, work).await
}

/// Puts the id on the response.
pub(super) fn label(response: &mut Response, id: &str) {
    if let Ok(value) = HeaderValue::from_str(id) {
        response.headers_mut().insert(HEADER, value);
    }
}

#[cfg(test)]
mod tests {
    use super::acceptable;

    #[test]
    fn only_plain_short_ids_are_taken_from_the_client() {
        for ok in ["a", "7f3a-11ee:req_9.2", &"x".repeat(64)] {
            assert!(acceptable(ok), "{ok}");
        }
        for bad in ["", &"x".repeat(65), "a b", "a\nb", "<script>", "ü"] {
            assert!(!acceptable(bad), "{bad:?}");
        }
    }
}
