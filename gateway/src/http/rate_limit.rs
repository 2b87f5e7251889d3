//! Per-client-IP token buckets for the endpoints that start or finish a proof, so one
//! client cannot flood challenges or grind through registrations.
//!
//! The client is the TCP peer; IPv6 clients are counted per /64, the block one subscriber
//! usually holds, so rotating addresses inside it does not earn more requests. Behind a
//! reverse proxy every client would share the proxy's address; trusting a forwarded
//! header is a deployment decision this build does not make for the operator.
//!
//! The number of buckets is capped: when it is full of recently active clients, a client
//! never seen before is refused until room frees up (memory stays bounded under address
//! rotation, and the limit fails closed).

use super::ApiError;
use crate::clock::Clock;
use axum::extract::{ConnectInfo, Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use kyso_verify::error::ErrorCode;
use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::{Arc, Mutex};
use time::{Duration, OffsetDateTime};

/// Buckets are forgotten after this long unused.
const IDLE: Duration = Duration::seconds(600);
/// Sweep idle buckets when the map grows past this.
const SWEEP_AT: usize = 10_000;
/// Never hold more buckets than this.
const MAX_BUCKETS: usize = 100_000;

/// The key a client is counted under: its IPv4 address, or its IPv6 /64.
fn client_key(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(_) => ip,
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => {
                let mut octets = v6.octets();
                octets[8..].fill(0);
                IpAddr::V6(octets.into())
            }
        },
    }
}

/// The buckets and when idle ones were last swept away.
#[derive(Debug, Default)]
struct Buckets {
    by_client: HashMap<IpAddr, (f64, OffsetDateTime)>,
    swept: Option<OffsetDateTime>,
}

/// A token bucket per client, on a clock the tests can set.
pub struct RateLimiter {
    per_second: f64,
    burst: f64,
    buckets: Mutex<Buckets>,
    clock: Arc<dyn Clock>,
}

impl std::fmt::Debug for RateLimiter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RateLimiter")
            .field("per_second", &self.per_second)
            .field("burst", &self.burst)
            .finish_non_exhaustive()
    }
}

impl RateLimiter {
    /// `per_minute` tokens per minute, at most `burst` saved up, time from `clock`.
    pub fn new(per_minute: u32, burst: u32, clock: Arc<dyn Clock>) -> Self {
        Self {
            per_second: f64::from(per_minute) / 60.0,
            burst: f64::from(burst),
            buckets: Mutex::new(Buckets::default()),
            clock,
        }
    }

    /// Takes a token for `ip` now; false when the bucket is empty.
    pub fn allow_now(&self, ip: IpAddr) -> bool {
        self.allow(ip, self.clock.now())
    }

    /// Takes a token for `ip` at `now`; false when the bucket is empty.
    pub fn allow(&self, ip: IpAddr, now: OffsetDateTime) -> bool {
        let key = client_key(ip);
        let mut guard = self.buckets.lock().unwrap_or_else(|p| p.into_inner());
        let state = &mut *guard;
        if state.by_client.len() > SWEEP_AT && !state.by_client.contains_key(&key) {
            // At most one sweep a second: under address rotation each new client would
            // otherwise pay for a walk over every bucket.
            if state.swept.is_none_or(|t| now - t >= Duration::seconds(1)) {
                state.by_client.retain(|_, (_, seen)| now - *seen < IDLE);
                state.swept = Some(now);
            }
            if state.by_client.len() >= MAX_BUCKETS {
                return false;
            }
        }
        let (tokens, seen) = state.by_client.entry(key).or_insert((self.burst, now));
        let elapsed = (now - *seen).as_seconds_f64().max(0.0);
        *tokens = (*tokens + elapsed * self.per_second).min(self.burst);
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
    if limiter.allow_now(ip) {
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
    use crate::clock::SystemClock;

    const T0: OffsetDateTime = time::macros::datetime!(2026-11-30 10:00 UTC);

    fn limiter(per_minute: u32, burst: u32) -> RateLimiter {
        RateLimiter::new(per_minute, burst, Arc::new(SystemClock))
    }

    #[test]
    fn a_bucket_empties_and_refills_per_ip() {
        let l = limiter(60, 3);
        let a: IpAddr = [10, 0, 0, 1].into();
        let b: IpAddr = [10, 0, 0, 2].into();
        assert!((0..3).all(|_| l.allow(a, T0)));
        assert!(!l.allow(a, T0));
        assert!(l.allow(b, T0), "another client has its own bucket");
        assert!(
            l.allow(a, T0 + Duration::seconds(1)),
            "one token per second refills"
        );
        assert!(!l.allow(a, T0 + Duration::seconds(1)));
    }

    #[test]
    fn an_ipv6_64_is_one_client() {
        let l = limiter(60, 2);
        let one: IpAddr = "2001:db8:1:2::1".parse().unwrap();
        let same_64: IpAddr = "2001:db8:1:2:ffff::9".parse().unwrap();
        let other_64: IpAddr = "2001:db8:1:3::1".parse().unwrap();
        assert!(l.allow(one, T0) && l.allow(same_64, T0));
        assert!(
            !l.allow(same_64, T0),
            "rotating inside the /64 earns nothing"
        );
        assert!(l.allow(other_64, T0));
        let mapped: IpAddr = "::ffff:10.0.0.1".parse().unwrap();
        assert_eq!(client_key(mapped), IpAddr::from([10, 0, 0, 1]));
    }

    #[test]
    fn a_full_table_of_active_clients_refuses_new_ones_and_keeps_old_ones() {
        let l = limiter(60, 5);
        let ip = |i: u32| IpAddr::from(i.to_be_bytes());
        for i in 0..u32::try_from(MAX_BUCKETS).unwrap() {
            assert!(l.allow(ip(i), T0));
        }
        assert!(!l.allow(ip(u32::MAX), T0), "no room for a new client");
        assert!(l.allow(ip(7), T0), "known clients keep their buckets");
        // Once the others have been idle long enough, a sweep makes room.
        let later = T0 + IDLE + Duration::seconds(1);
        assert!(l.allow(ip(u32::MAX), later));
    }
}
