//! The thin HTTP layer (design §4): decode, call [`crate::service::Gateway`], encode.
//!
//! Errors become RFC 9457 problem documents in exactly one place ([`problem`]); request
//! bodies are limited and malformed ones are `MALFORMED_REQUEST`, never a 500; the
//! endpoints that start or finish a proof are rate-limited per client IP (starting a
//! signing-SIM push has its own, tighter bucket); the number of requests in flight is
//! bounded.

pub mod api;
mod extract;
pub mod messages;
mod problem;
mod rate_limit;
mod routes;

pub use problem::ApiError;
pub use rate_limit::RateLimiter;

use crate::service::Gateway;
use crate::sim::SimService;
use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::routing::{get, post};
use std::sync::Arc;

/// What every handler shares.
#[derive(Clone)]
pub struct AppState {
    /// The core.
    pub gateway: Arc<Gateway>,
    /// The signing-SIM flow, when an MSSP is configured.
    pub sim: Option<Arc<SimService>>,
}

/// The per-IP rate limiters.
#[derive(Debug, Clone)]
pub struct Limiters {
    /// Every request that starts or finishes a proof.
    pub requests: Arc<RateLimiter>,
    /// Starting a signing-SIM push (each one rings a phone).
    pub sim_starts: Arc<RateLimiter>,
}

/// Limits applied by the router.
#[derive(Debug, Clone)]
pub struct HttpLimits {
    /// Largest request body, bytes.
    pub body_bytes: usize,
    /// Requests handled at once.
    pub max_concurrent_requests: usize,
}

/// The gateway's routes with their limits.
pub fn router(state: AppState, limiters: &Limiters, limits: &HttpLimits) -> Router {
    let sim_starts = Router::new()
        .route(
            "/v1/registrations/sim",
            post(routes::start_sim_registration),
        )
        .route("/v1/sessions/sim", post(routes::start_sim_login))
        .route_layer(axum::middleware::from_fn_with_state(
            limiters.sim_starts.clone(),
            rate_limit::limit,
        ));
    let limited = Router::new()
        .route("/v1/challenges", post(routes::create_challenge))
        .route("/v1/registrations/token", post(routes::register_token))
        .route("/v1/registrations/{ticket}/confirm", post(routes::confirm))
        .route("/v1/sessions/token", post(routes::login_token))
        .merge(sim_starts)
        .route_layer(axum::middleware::from_fn_with_state(
            limiters.requests.clone(),
            rate_limit::limit,
        ));
    // Requests that do work share one bounded pool; long polls (which mostly wait) have
    // a pool of their own, so they cannot starve the rest; health checks are in neither.
    let api = Router::new()
        .merge(limited)
        .route("/v1/accounts/me", get(routes::account_me))
        .layer(tower::limit::ConcurrencyLimitLayer::new(
            limits.max_concurrent_requests,
        ));
    let polls = Router::new()
        .route("/v1/registrations/sim/{id}", get(routes::sim_registration))
        .route("/v1/sessions/sim/{id}", get(routes::sim_login))
        .route_layer(axum::middleware::from_fn_with_state(
            limiters.requests.clone(),
            rate_limit::limit,
        ))
        .layer(tower::limit::ConcurrencyLimitLayer::new(
            limits.max_concurrent_requests,
        ));
    Router::new()
        .merge(api)
        .merge(polls)
        .route("/healthz", get(routes::healthz))
        .route("/readyz", get(routes::readyz))
        .fallback(routes::not_found)
        .layer(DefaultBodyLimit::max(limits.body_bytes))
        .with_state(state)
}
