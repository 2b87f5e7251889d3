//! Per-client-IP token buckets for the endpoints that start or finish a proof, so one
//! client cannot flood challenges or grind through registrations.
//!
//! The client is the TCP peer. Behind a reverse proxy every client would share the
//! proxy's address; trusting a forwarded header is a deployment decision this build does
//! not make for the operator.

use super::ApiError;
use crate::error::ErrorCode;
use axum::extract::{ConnectInfo, Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Buckets are forgotten after this long unused.
const IDLE: Duration = Duration::from_secs(600);
/// Sweep idle buckets when the map grows past this.
const SWEEP_AT: usize = 10_000;

/// A token bucket per IP.
#[derive(Debug)]
pub struct RateLimiter {
    per_second: f64,
    burst: f64,
    buckets: Mutex<HashMap<IpAddr, (f64, Instant)>>,
}

impl RateLimiter {
    /// `per_minute` tokens per minute, at most `burst` saved up.
    pub fn new(per_minute: u32, burst: u32) -> Self {
        Self {
            per_second: f64::from(per_minute) / 60.0,
            burst: f64::from(burst),
            buckets: Mutex::new(HashMap::new()),
        }
    }

    /// Takes a token for `ip` at `now`; false when the bucket is empty.
    pub fn allow(&self, ip: IpAddr, now: Instant) -> bool {
        let mut buckets = self.buckets.lock().unwrap_or_else(|p| p.into_inner());
        if buckets.len() > SWEEP_AT {
            buckets.retain(|_, (_, seen)| now.duration_since(*seen) < IDLE);
        }
        let (tokens, seen) = buckets.entry(ip).or_insert((self.burst, now));
        *tokens =
            (*tokens + now.duration_since(*seen).as_secs_f64() * self.per_second).min(self.burst);
        *seen = now;
        if *tokens >= 1.0 {
            *tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

/// Middleware: 429 `RATE_LIMITED` when the client's bucket is empty.
pub async fn limit(
    State(limiter): State<Arc<RateLimiter>>,
    request: Request,
    next: Next,
) -> Response {
    let ip = request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED), |c| c.0.ip());
    if limiter.allow(ip, Instant::now()) {
        next.run(request).await
    } else {
        ApiError::new(
            ErrorCode::RateLimited,
            "too many requests from this address; slow down",
        )
        .into_response()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bucket_empties_and_refills_per_ip() {
        let l = RateLimiter::new(60, 3);
        let t0 = Instant::now();
        let a: IpAddr = [10, 0, 0, 1].into();
        let b: IpAddr = [10, 0, 0, 2].into();
        assert!((0..3).all(|_| l.allow(a, t0)));
        assert!(!l.allow(a, t0));
        assert!(l.allow(b, t0), "another client has its own bucket");
        assert!(
            l.allow(a, t0 + Duration::from_secs(1)),
            "one token per second refills"
        );
        assert!(!l.allow(a, t0 + Duration::from_secs(1)));
    }
}
