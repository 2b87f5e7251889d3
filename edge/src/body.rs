//! The request body, read whole against a deadline before the program's handlers and
//! limits run.
//!
//! A client that sends its body one byte at a time is cut off when the deadline passes
//! (408, and the connection closed), however steadily it trickles — an inactivity timer
//! would never fire. Because the body is buffered here, before rate limits and
//! concurrency permits, a slow body holds only its connection slot, never a worker.
//! Bodies are small JSON documents, so buffering them costs little — as long as each
//! piece is copied out and let go as it arrives: a chunked body of 65,535 one-byte
//! chunks kept as its frames would pin every read buffer they were cut from and a
//! handle per chunk, some forty times the limit ([`collect`]).
//!
//! A program adds it with [`whole_bodies`] where its router's own limits (rate limits,
//! concurrency permits) are inside it and the layers that finish every answer (security
//! headers, request ids, metrics, CORS) are outside it, so that its refusals (408, 413)
//! leave as dressed as any other answer.

use crate::{Refusal, Refuse};
use axum::body::{Body, Bytes};
use axum::extract::Request;
use axum::http::{HeaderValue, header};
use axum::middleware::Next;
use axum::response::Response;
use http_body_util::BodyExt;
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
    match tokio::time::timeout(limits.deadline, collect(body, limits.max_bytes)).await {
        Ok(Ok(bytes)) => {
            next.run(Request::from_parts(parts, Body::from(bytes)))
                .await
        }
        Ok(Err(Unread::TooLarge)) => closing(refuse(Refusal::BodyTooLarge)),
        Ok(Err(Unread::Broken)) => closing(refuse(Refusal::BadRequest(
            "the request body could not be read".into(),
        ))),
        Err(_) => closing(refuse(Refusal::BodyTimeout)),
    }
}

/// Why a body was not read whole.
#[derive(Debug, PartialEq, Eq)]
pub enum Unread {
    /// Longer than the limit (said by its Content-Length, or found while reading).
    TooLarge,
    /// The connection failed or the framing was wrong.
    Broken,
}

/// The body's bytes, at most `max_bytes`. A body that comes in one piece is kept as it
/// came; one in many is copied piece by piece into one buffer, each piece let go at
/// once, so what it holds is never more than `max_bytes` and one piece.
pub async fn collect(mut body: Body, max_bytes: usize) -> Result<Bytes, Unread> {
    if hyper::body::Body::size_hint(&body).lower() > max_bytes as u64 {
        return Err(Unread::TooLarge);
    }
    let mut first = Bytes::new();
    let mut joined: Option<Vec<u8>> = None;
    while let Some(frame) = body.frame().await {
        // Trailers say nothing the handlers read.
        let Ok(data) = frame.map_err(|_| Unread::Broken)?.into_data() else {
            continue;
        };
        let held = joined.as_ref().map_or(first.len(), Vec::len);
        if held + data.len() > max_bytes {
            return Err(Unread::TooLarge);
        }
        match &mut joined {
            Some(all) => all.extend_from_slice(&data),
            None if first.is_empty() => first = data,
            None => {
                let mut all = Vec::with_capacity((held + data.len()).max(4096).min(max_bytes));
                all.extend_from_slice(&first);
                all.extend_from_slice(&data);
                first = Bytes::new();
                joined = Some(all);
            }
        }
    }
    Ok(joined.map_or(first, Bytes::from))
}

/// The body was not read to its end: the connection cannot carry another request.
fn closing(mut response: Response) -> Response {
    response
        .headers_mut()
        .insert(header::CONNECTION, HeaderValue::from_static("close"));
    response
}

#[cfg(test)]
mod tests {
    use super::{Unread, collect};
    use axum::body::{Body, Bytes};
    use http_body_util::StreamBody;
    use hyper::body::Frame;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    /// A piece of a body that counts how many pieces are alive.
    struct Counted(Arc<AtomicUsize>, [u8; 1]);

    impl AsRef<[u8]> for Counted {
        fn as_ref(&self) -> &[u8] {
            &self.1
        }
    }

    impl Drop for Counted {
        fn drop(&mut self) {
            self.0.fetch_sub(1, Ordering::SeqCst);
        }
    }

    /// A body of `n` one-byte pieces; the most pieces ever alive at once is recorded.
    fn chunked(n: usize, alive: &Arc<AtomicUsize>, most: &Arc<AtomicUsize>) -> Body {
        let (alive, most) = (alive.clone(), most.clone());
        let frames = futures_util::stream::iter((0..n).map(move |_| {
            let now = alive.fetch_add(1, Ordering::SeqCst) + 1;
            most.fetch_max(now, Ordering::SeqCst);
            Ok::<_, std::io::Error>(Frame::data(Bytes::from_owner(Counted(
                alive.clone(),
                *b"x",
            ))))
        }));
        Body::new(StreamBody::new(frames))
    }

    #[tokio::test]
    async fn a_body_of_many_pieces_is_read_whole_holding_one_piece_at_a_time() {
        let (alive, most) = (Arc::default(), Arc::default());
        let whole = collect(chunked(65_535, &alive, &most), 65_536)
            .await
            .unwrap();
        assert_eq!(whole.len(), 65_535);
        assert!(whole.iter().all(|b| *b == b'x'));
        assert_eq!(alive.load(Ordering::SeqCst), 0, "no piece is kept");
        assert!(
            most.load(Ordering::SeqCst) <= 2,
            "pieces were held: {most:?}"
        );
    }

    #[tokio::test]
    async fn a_body_past_the_limit_is_too_large_in_one_piece_or_many() {
        let (alive, most) = (Arc::default(), Arc::default());
        assert_eq!(
            collect(chunked(1025, &alive, &most), 1024).await,
            Err(Unread::TooLarge)
        );
        assert_eq!(
            collect(Body::from(vec![0u8; 1025]), 1024).await,
            Err(Unread::TooLarge)
        );
        let one = collect(Body::from("{\"a\":1}"), 1024).await.unwrap();
        assert_eq!(&one[..], b"{\"a\":1}");
        assert_eq!(collect(Body::empty(), 1024).await.unwrap().len(), 0);
    }
}
