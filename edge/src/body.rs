//! The request body, read whole against a deadline before the program's handlers and
//! limits run.
//!
//! A client that sends its body one byte at a time is cut off when the deadline passes
//! (408, and the connection closed), however steadily it trickles — an inactivity timer
//! would never fire. Because the body is buffered here, before rate limits and
//! concurrency permits, a slow body holds only its connection slot, never a worker.
//! Bodies are small JSON documents, so buffering them costs nothing.
//!
//! A program adds it with [`whole_bodies`] where its router's own limits (rate limits,
//! concurrency permits) are inside it and the layers that finish every answer (security
//! headers, request ids, metrics, CORS) are outside it, so that its refusals (408, 413)
//! leave as dressed as any other answer.

use crate::{Refusal, Refuse};
use axum::body::Body;
use axum::extract::Request;
use axum::http::{HeaderValue, header};
use axum::middleware::Next;
use axum::response::Response;
use std::time::Duration;

/// The deadline and size of request bodies.
#[derive(Debug, Clone, Copy)]
pub struct BodyLimits {
    /// The whole body must arrive within this.
    pub deadline: Duration,
    /// Largest body accepted.
    pub max_bytes: usize,
}

/// `router` with every request's body read whole first ([`read_whole`]), refused as
/// `refuse` says. Layers the program adds afterwards run outside it.
pub fn whole_bodies<S>(
    router: axum::Router<S>,
    limits: BodyLimits,
    refuse: Refuse,
) -> axum::Router<S>
where
    S: Clone + Send + Sync + 'static,
{
    router.layer(axum::middleware::from_fn(move |request, next| {
        read_whole(limits, refuse.clone(), request, next)
    }))
}

/// Middleware: reads the body whole, or refuses.
pub async fn read_whole(
    limits: BodyLimits,
    refuse: Refuse,
    request: Request,
    next: Next,
) -> Response {
    let (parts, body) = request.into_parts();
    match tokio::time::timeout(
        limits.deadline,
        axum::body::to_bytes(body, limits.max_bytes),
    )
    .await
    {
        Ok(Ok(bytes)) => {
            next.run(Request::from_parts(parts, Body::from(bytes)))
                .await
        }
        Ok(Err(e)) => {
            let too_large = std::error::Error::source(&e)
                .is_some_and(|s| s.is::<http_body_util::LengthLimitError>());
            if too_large {
                closing(refuse(Refusal::BodyTooLarge))
            } else {
                closing(refuse(Refusal::BadRequest(
                    "the request body could not be read".into(),
                )))
            }
        }
        Err(_) => closing(refuse(Refusal::BodyTimeout)),
    }
}

/// The body was not read to its end: the connection cannot carry another request.
fn closing(mut response: Response) -> Response {
    response
        .headers_mut()
        .insert(header::CONNECTION, HeaderValue::from_static("close"));
    response
}
