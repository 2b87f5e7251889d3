//! The thin HTTP layer (design §4): decode, call [`crate::service::Gateway`], encode.
//!
//! Errors become RFC 9457 problem documents in exactly one place ([`problem`]), the
//! framework's own refusals (unknown route, wrong method, undecodable path) included;
//! request bodies are limited and malformed ones are `MALFORMED_REQUEST`, never a 500;
//! the endpoints that start or finish a proof are rate-limited per client IP (starting a
//! signing-SIM push has its own, tighter bucket); requests in flight are bounded by pools
//! shared across routes. Timeouts and the connection cap are the edge's
//! ([`kyso_edge`], started by the `server` module).

pub mod api;
mod around;
pub mod client_addr;
mod extract;
pub mod messages;
mod oauth_refusals;
mod observe;
pub mod oidc;
mod oidc_pages;
pub mod openapi;
pub mod page;
mod problem;
mod rate_limit;
pub mod request_id;
mod routes;

pub use problem::ApiError;
pub use rate_limit::RateLimiter;

use crate::oidc::provider::paths;
use crate::service::Gateway;
use crate::sim::SimService;
use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::routing::{get, post};
use kyso_edge::gate::{self, ConcurrencyGate};
use std::sync::Arc;

/// What every handler shares.
#[derive(Clone)]
pub struct AppState {
    /// The core.
    pub gateway: Arc<Gateway>,
    /// The signing-SIM flow, when an MSSP is configured.
    pub sim: Option<Arc<SimService>>,
    /// What the registration page is told, and its headers.
    pub page: Arc<page::PageSettings>,
    /// Renders `/metrics`; `None` without a recorder (404).
    pub metrics: Option<metrics_exporter_prometheus::PrometheusHandle>,
    /// The OpenID Provider, when configured (its endpoints answer 404 otherwise).
    pub oidc: Option<Arc<crate::oidc::Provider>>,
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
    /// The request body's deadline and largest size, enforced before anything but the
    /// layer that finishes every answer.
    pub body: kyso_edge::BodyLimits,
    /// Requests doing work at once, over every route that does work.
    pub max_concurrent_requests: usize,
    /// Signing-SIM requests waiting on the operator at once (long polls, starts while the
    /// operator takes the push): they mostly wait, so they have a pool of their own.
    pub max_concurrent_polls: usize,
    /// How long a request waits for its turn before `503 OVERLOADED`.
    pub queue_wait: std::time::Duration,
    /// Proxies believed about their client's address ([`client_addr`]).
    pub trusted_proxies: Vec<crate::domain::network::ProxyNet>,
}

/// How the gateway's refusals at the edge look: its problem documents.
pub fn refuse() -> kyso_edge::Refuse {
    Arc::new(problem::edge_refusal)
}

/// The gateway's routes with their limits.
pub fn router(state: AppState, limiters: &Limiters, limits: &HttpLimits) -> Router {
    let work = ConcurrencyGate::new(limits.max_concurrent_requests, limits.queue_wait, refuse());
    let polling = ConcurrencyGate::new(limits.max_concurrent_polls, limits.queue_wait, refuse());
    // Requests that do work share one bounded pool (one semaphore for every route, not one
    // per route); those that mostly wait on the signing-SIM operator — long polls, and
    // starts, which wait for the operator to take the push (up to its HTTP timeout) —
    // have a pool of their own, so a slow operator cannot starve token registrations and
    // logins; health checks are in neither. A pool is the innermost layer of
    // its routes: a client over its rate limit is refused (429) at once, before it
    // waits for a place, and never takes one.
    let in_pool =
        |pool: &ConcurrencyGate| axum::middleware::from_fn_with_state(pool.clone(), gate::hold);
    let per_client = |limiter: &Arc<RateLimiter>| {
        axum::middleware::from_fn_with_state(limiter.clone(), rate_limit::limit)
    };
    let sim_starts = Router::new()
        .route(
            "/v1/registrations/sim",
            post(routes::start_sim_registration),
        )
        .route("/v1/sessions/sim", post(routes::start_sim_login))
        .route_layer(in_pool(&polling))
        .route_layer(per_client(&limiters.sim_starts));
    let limited = Router::new()
        .route("/v1/challenges", post(routes::create_challenge))
        .route("/v1/registrations/token", post(routes::register_token))
        .route("/v1/registrations/{ticket}/confirm", post(routes::confirm))
        .route("/v1/sessions/token", post(routes::login_token))
        .route_layer(in_pool(&work))
        .merge(sim_starts)
        .route_layer(per_client(&limiters.requests));
    // The OpenID Provider: the endpoints a person's browser reaches are rate-limited per
    // address like the API. The token and userinfo endpoints are not: every user of a
    // portal reaches them from the portal's one server address, each call is
    // authenticated (client credentials, a bearer token) by secrets too long to guess,
    // and the shared pool still bounds them. Discovery and keys, which portals cache,
    // are not limited either.
    let oidc_limited = Router::new()
        .route(
            paths::AUTHORIZE,
            get(oidc::authorize).post(oidc::authorize_form),
        )
        .route(paths::CONSENT, post(oidc::consent))
        .route(paths::SESSION, post(oidc::session))
        .route(paths::LOGOUT, get(oidc::logout).post(oidc::logout_form))
        .route_layer(in_pool(&work))
        .route_layer(per_client(&limiters.requests));
    let unlimited = Router::new()
        .route(paths::TOKEN, post(oidc::token))
        .route(paths::USERINFO, get(oidc::userinfo).post(oidc::userinfo))
        .route(paths::DISCOVERY, get(oidc::discovery))
        .route(paths::JWKS, get(oidc::jwks))
        .route("/v1/accounts/me", get(routes::account_me))
        .route(
            "/v1/sessions/current",
            axum::routing::delete(routes::logout),
        )
        .route("/v1/accounts/me/portals", get(routes::linked_portals))
        .route(
            "/v1/accounts/me/portals/{client_id}",
            axum::routing::delete(routes::unlink_portal),
        )
        .route_layer(in_pool(&work));
    let api = Router::new()
        .merge(limited)
        .merge(oidc_limited)
        .merge(unlimited);
    let polls = Router::new()
        .route("/v1/registrations/sim/{id}", get(routes::sim_registration))
        .route("/v1/sessions/sim/{id}", get(routes::sim_login))
        .route_layer(in_pool(&polling))
        .route_layer(per_client(&limiters.requests));
    let around = Arc::new(around::Around {
        refuse: refuse(),
        headers: page::SecurityHeaders::new(&state.page.agent_url, &state.page.origin),
        trusted_proxies: limits.trusted_proxies.clone(),
    });
    let routes = Router::new()
        .merge(api)
        .merge(polls)
        .route("/healthz", get(routes::healthz))
        .route("/readyz", get(routes::readyz))
        .route("/metrics", get(observe::render))
        .route("/openapi.json", get(openapi::serve))
        .route("/", get(page::index))
        .route("/assets/{name}", get(page::asset))
        .route("/messages/{name}", get(page::messages))
        .route("/config.json", get(page::config))
        .fallback(routes::not_found)
        .layer(DefaultBodyLimit::max(limits.body.max_bytes));
    // Bodies are read inside the layer around every answer, so that a 408 or 413 leaves
    // with the same headers, request id and metrics as any other answer.
    kyso_edge::body::whole_bodies(routes, limits.body, refuse())
        .layer(axum::middleware::from_fn_with_state(
            around,
            around::every_answer,
        ))
        .with_state(state)
}
