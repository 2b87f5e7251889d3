//! Per-client-IP token buckets for the endpoints that start or finish a proof, so one
//! client cannot flood challenges or grind through registrations.
//!
//! The client is the TCP peer, or the client a trusted proxy names
//! ([`super::client_addr`]); IPv6 clients are counted per /64, the block one subscriber
//! usually holds, so rotating addresses inside it does not earn more requests.
//!
//! The number of buckets is capped, so memory stays bounded under address rotation. When
//! the table is full of recently active clients, a client never seen before is counted
//! with its neighbours: under its IPv4 /24 or IPv6 /48, in a second table of the same
//! size. Someone rotating through a few /48s then fills the first table but shares a
//! handful of buckets in the second, while a new client elsewhere still gets a bucket of
//! its own block; only when both tables are full of active entries is a new client
//! refused (the limit fails closed).
//!
//! An IPv6 /64 is cheap: a /48, which tunnel brokers hand out for free, holds 65,536 of
//! them. So the API's limiter ([`RateLimiter::with_network_share`],
//! `limits.ipv6_network_share`) also gives each IPv6 /48 one bucket of that many
//! clients' worth in all: rotating through its /64s earns no more, and cannot fill the
//! gateway's shared book of live challenges (200,000) from one site. IPv4 addresses are
//! scarce enough to be counted alone, and a /24 is often one carrier's NAT.

use super::ApiError;
use super::extract::peer_of;
use crate::clock::Clock;
use crate::domain::network::{block_key, client_key};
use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use kyso_verify::error::ErrorCode;
use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use time::{Duration, OffsetDateTime};

/// Buckets are forgotten after this long unused.
const IDLE: Duration = Duration::seconds(600);
/// Sweep idle buckets when the map grows past this.
const SWEEP_AT: usize = 10_000;
/// Never hold more buckets than this.
const MAX_BUCKETS: usize = 100_000;

/// A bucket's tokens and when it was last used.
type Bucket = (f64, OffsetDateTime);

/// The buckets and when idle ones were last swept away.
#[derive(Debug, Default)]
struct Buckets {
    by_client: HashMap<IpAddr, Bucket>,
    /// For new clients while `by_client` is full, by [`block_key`].
    by_block: HashMap<IpAddr, Bucket>,
    /// Every IPv6 client's /48 in all, when the limiter counts networks.
    by_network: HashMap<IpAddr, Bucket>,
    swept: Option<OffsetDateTime>,
}

impl Buckets {
    /// Forgets idle buckets, at most once a second: under address rotation each new
    /// client would otherwise pay for a walk over every bucket.
    fn sweep(&mut self, now: OffsetDateTime) {
        if self.swept.is_none_or(|t| now - t >= Duration::seconds(1)) {
            self.by_client.retain(|_, (_, seen)| now - *seen < IDLE);
            self.by_block.retain(|_, (_, seen)| now - *seen < IDLE);
            self.by_network.retain(|_, (_, seen)| now - *seen < IDLE);
            self.swept = Some(now);
        }
    }
}

/// A token bucket per client, on a clock the tests can set.
pub struct RateLimiter {
    per_second: f64,
    burst: f64,
    /// The key a client is counted under ([`client_key`] unless [`Self::keyed`]).
    key: fn(IpAddr) -> IpAddr,
    /// Clients' worth an IPv6 /48 gets in all, if networks are counted too.
    network_share: Option<f64>,
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
            key: client_key,
            network_share: None,
            buckets: Mutex::new(Buckets::default()),
            clock,
        }
    }

    /// The same limiter counting clients under `key` instead (a wider network, say).
    pub fn keyed(self, key: fn(IpAddr) -> IpAddr) -> Self {
        Self { key, ..self }
    }

    /// The same limiter also holding each IPv6 /48 to `share` clients' worth in all.
    pub fn with_network_share(self, share: u32) -> Self {
        Self {
            network_share: Some(f64::from(share)),
            ..self
        }
    }

    /// Takes a token for `ip` now; false when the bucket is empty.
    pub fn allow_now(&self, ip: IpAddr) -> bool {
        self.allow(ip, self.clock.now())
    }

    /// Takes a token for `ip` at `now`; false when its bucket is empty (or its IPv6
    /// network's, when networks are counted: then both give a token, or neither).
    pub fn allow(&self, ip: IpAddr, now: OffsetDateTime) -> bool {
        let key = (self.key)(ip);
        let mut guard = self.buckets.lock().unwrap_or_else(|p| p.into_inner());
        let state = &mut *guard;
        let network = match (self.network_share, key) {
            (Some(share), IpAddr::V6(_)) => Some((block_key(key), share)),
            _ => None,
        };
        if let Some((network, share)) = network {
            if !state.by_network.contains_key(&network) && state.by_network.len() >= MAX_BUCKETS {
                state.sweep(now);
                if state.by_network.len() >= MAX_BUCKETS {
                    return false;
                }
            }
            let bucket = state
                .by_network
                .entry(network)
                .or_insert((self.burst * share, now));
            if self.refill(bucket, now, share) < 1.0 {
                return false;
            }
        }
        let allowed = self.allow_client(state, key, now);
        if allowed
            && let Some((network, _)) = network
            && let Some((tokens, _)) = state.by_network.get_mut(&network)
        {
            *tokens -= 1.0;
        }
        allowed
    }

    /// The client's own bucket (or, while the table is full, its block's).
    fn allow_client(&self, state: &mut Buckets, key: IpAddr, now: OffsetDateTime) -> bool {
        if state.by_client.len() <= SWEEP_AT || state.by_client.contains_key(&key) {
            return self.take(state.by_client.entry(key).or_insert((self.burst, now)), now);
        }
        state.sweep(now);
        if state.by_client.len() < MAX_BUCKETS {
            return self.take(state.by_client.entry(key).or_insert((self.burst, now)), now);
        }
        let block = block_key(key);
        if state.by_block.len() >= MAX_BUCKETS && !state.by_block.contains_key(&block) {
            return false;
        }
        self.take(
            state.by_block.entry(block).or_insert((self.burst, now)),
            now,
        )
    }

    /// Refills `bucket` (one client's, or `share` clients' worth) for the time since it
    /// was last used; its tokens.
    fn refill(&self, (tokens, seen): &mut Bucket, now: OffsetDateTime, share: f64) -> f64 {
        let elapsed = (now - *seen).as_seconds_f64().max(0.0);
        *tokens = (*tokens + elapsed * self.per_second * share).min(self.burst * share);
        *seen = now;
        *tokens
    }

    /// Refills `bucket` for the time since it was last used and takes a token from it.
    fn take(&self, bucket: &mut Bucket, now: OffsetDateTime) -> bool {
        self.refill(bucket, now, 1.0);
        let tokens = &mut bucket.0;
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
    if limiter.allow_now(peer_of(request.extensions())) {
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
    fn keyed_by_site_an_ipv6_48_is_one_client() {
        let l = limiter(60, 2).keyed(crate::domain::network::site_key);
        let one: IpAddr = "2001:db8:1:2::1".parse().unwrap();
        let other_64: IpAddr = "2001:db8:1:ffff::9".parse().unwrap();
        let other_48: IpAddr = "2001:db8:2::1".parse().unwrap();
        assert!(l.allow(one, T0) && l.allow(other_64, T0));
        assert!(
            !l.allow(other_64, T0),
            "another /64 of the same /48 shares it"
        );
        assert!(l.allow(other_48, T0), "another /48 has its own");
        let v4: IpAddr = [192, 0, 2, 1].into();
        let v4_neighbour: IpAddr = [192, 0, 2, 2].into();
        assert!(l.allow(v4, T0) && l.allow(v4, T0) && !l.allow(v4, T0));
        assert!(l.allow(v4_neighbour, T0), "IPv4 still per address");
    }

    #[test]
    fn an_ipv6_48_gets_a_bounded_share_however_many_64s_it_rotates_through() {
        const SHARE: usize = 8;
        let l = limiter(60, 2).with_network_share(SHARE as u32);
        let in_48 = |net: u16, i: u16| IpAddr::V6([0x2001, 0xdb8, net, i, 0, 0, 0, 1].into());
        // A thousand /64s of one /48, each with a full bucket of its own: 16 in all.
        let allowed = |at| (0..1000).filter(|&i| l.allow(in_48(0x66, i), at)).count();
        assert_eq!(allowed(T0), 2 * SHARE);
        // Refilled at eight clients' rate: eight a second.
        assert_eq!(allowed(T0 + Duration::seconds(1)), SHARE);
        // Another /48 has its own share.
        assert!((0..2).all(|_| l.allow(in_48(0x67, 0), T0)));
        // IPv4 is counted per address only: a whole /24 of clients each get their own.
        let v4 = |i: u8| IpAddr::from([192, 0, 2, i]);
        assert!((1..=200).all(|i| l.allow(v4(i), T0) && l.allow(v4(i), T0)));
        // Without the share a /48 is as many clients as it has /64s.
        let plain = limiter(60, 2);
        assert_eq!(
            (0..1000)
                .filter(|&i| plain.allow(in_48(0x66, i), T0))
                .count(),
            1000
        );
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
    }

    #[test]
    fn a_full_table_counts_new_clients_by_their_block_and_keeps_old_ones() {
        let l = limiter(60, 2);
        // Someone rotating through the /64s of two IPv6 /48s fills the table.
        let rotating = |i: u32| {
            let [_, high, c, d] = i.to_be_bytes();
            let segments = [
                0x2001,
                0xdb8,
                0x66 + u16::from(high),
                u16::from_be_bytes([c, d]),
            ];
            IpAddr::V6(
                [
                    segments[0],
                    segments[1],
                    segments[2],
                    segments[3],
                    0,
                    0,
                    0,
                    1,
                ]
                .into(),
            )
        };
        for i in 0..u32::try_from(MAX_BUCKETS).unwrap() {
            assert!(l.allow(rotating(i), T0));
        }
        // More of the second /48 now share one bucket of two tokens.
        let more = u32::try_from(MAX_BUCKETS).unwrap();
        assert!(l.allow(rotating(more), T0) && l.allow(rotating(more + 1), T0));
        assert!(
            !l.allow(rotating(more + 2), T0),
            "the /48 shares one bucket"
        );
        // A new client elsewhere is still served, sharing only with its own /24.
        let newcomer: IpAddr = [198, 51, 100, 7].into();
        let neighbour: IpAddr = [198, 51, 100, 200].into();
        assert!(l.allow(newcomer, T0) && l.allow(neighbour, T0));
        assert!(!l.allow(newcomer, T0), "the /24 shares one bucket");
        assert!(l.allow(rotating(7), T0), "known clients keep their buckets");
        // Once the others have been idle long enough, a sweep makes room of its own.
        let later = T0 + IDLE + Duration::seconds(1);
        assert!((0..2).all(|_| l.allow(newcomer, later)));
        assert!(l.allow(neighbour, later), "a bucket of its own again");
    }
}
