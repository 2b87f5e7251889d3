//! Shared by the gateway's integration tests: a generated PKI, a policy over it, and a
//! signer that makes Web eID tokens with the persons' key files (no token needed).

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use axum::body::Body;
use axum::http::{Request, StatusCode};
use kyso_certs::Manifest;
use kyso_gateway::clock::ManualClock;
use kyso_gateway::entropy::SystemEntropy;
use kyso_gateway::http::{AppState, HttpLimits, Limiters, RateLimiter, router};
use kyso_gateway::service::{Gateway, Settings};
use kyso_gateway::store::{SqliteStore, Store};
use kyso_proto::webeid::AuthToken;
use kyso_verify::policy::{CertificatePolicy, PolicyOptions, TrustStore};
use kyso_verify::policy::{NoRevocationCheck, RevocationChecker};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use tower::ServiceExt;

pub struct Pki {
    pub dir: tempfile::TempDir,
    pub manifest: Manifest,
}

pub fn pem_der(path: &Path) -> Vec<u8> {
    pem::parse(std::fs::read(path).unwrap())
        .unwrap()
        .into_contents()
}

impl Pki {
    pub fn generate() -> Self {
        Self::generate_with(|_| {})
    }

    /// A PKI generated with these options changed (base and mirror URLs, say).
    pub fn generate_with(edit: impl FnOnce(&mut kyso_certs::GenerateOptions)) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let mut options = kyso_certs::GenerateOptions::new(dir.path());
        edit(&mut options);
        let manifest = kyso_certs::generate(&options, &mut |_| {}).unwrap();
        Self { dir, manifest }
    }

    pub fn path(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }

    pub fn policy(&self) -> CertificatePolicy {
        self.policy_with(Arc::new(NoRevocationCheck))
    }

    /// The policy over this PKI asking `revocation`.
    pub fn policy_with(&self, revocation: Arc<dyn RevocationChecker>) -> CertificatePolicy {
        let anchors: Vec<_> = self
            .manifest
            .trust_anchors
            .iter()
            .map(|p| pem_der(&self.path(p)))
            .collect();
        let inter: Vec<_> = self
            .manifest
            .intermediates
            .iter()
            .map(|p| pem_der(&self.path(p)))
            .collect();
        let options = PolicyOptions::default();
        CertificatePolicy::new(
            TrustStore::new(&anchors, &inter).unwrap(),
            options,
            revocation,
        )
    }

    /// A Web eID token signed with the person's key file.
    pub fn token(&self, person: &str, origin: &str, nonce: &str) -> AuthToken {
        let p = self.manifest.person(person).unwrap();
        kyso_tests::signer::person_token(self.dir.path(), p, origin, nonce)
    }
}

/// The origin the test gateways are configured with.
pub const ORIGIN: &str = "https://dichvucong.test";

/// A gateway core over a fresh PKI, a real SQLite file and a clock the test moves.
pub struct World {
    pub pki: Pki,
    pub gateway: Arc<Gateway>,
    pub clock: Arc<ManualClock>,
    pub store: Arc<SqliteStore>,
    _db: tempfile::TempDir,
}

impl World {
    /// The SQLite file under the world's store, for a second connection.
    pub fn db_file(&self) -> std::path::PathBuf {
        self._db.path().join("kyso.db")
    }
}

/// Challenges live 5 minutes, tickets 10, sessions 1 hour; the clock starts at the PKI's
/// generation time.
pub async fn world() -> World {
    let pki = Pki::generate();
    let policy = pki.policy();
    world_over(pki, policy).await
}

/// A world over an existing PKI with this policy (revocation checking, say).
pub async fn world_over(pki: Pki, policy: CertificatePolicy) -> World {
    world_from(pki, policy, Arc::new(SystemEntropy)).await
}

/// A world whose randomness comes from `entropy` (one that fails, say).
pub async fn world_with_entropy(entropy: Arc<dyn kyso_gateway::entropy::Entropy>) -> World {
    let pki = Pki::generate();
    let policy = pki.policy();
    world_from(pki, policy, entropy).await
}

async fn world_from(
    pki: Pki,
    policy: CertificatePolicy,
    entropy: Arc<dyn kyso_gateway::entropy::Entropy>,
) -> World {
    let db = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", db.path().join("kyso.db").display());
    let store = Arc::new(SqliteStore::open(&url, 8).await.unwrap());
    store.migrate().await.unwrap();
    let clock = Arc::new(ManualClock::new(pki.manifest.generated_at));
    let settings = Settings {
        origin: ORIGIN.into(),
        challenge_ttl: time::Duration::minutes(5),
        ticket_ttl: time::Duration::minutes(10),
        session_ttl: time::Duration::hours(1),
    };
    let gateway = Arc::new(Gateway::new(
        store.clone(),
        Arc::new(policy),
        clock.clone(),
        entropy,
        settings,
    ));
    World {
        pki,
        gateway,
        clock,
        store,
        _db: db,
    }
}

impl World {
    /// The real router over this world's core, with generous limits.
    pub fn app(&self) -> axum::Router {
        self.app_rate_limited(6000, 1000)
    }

    /// The real router with this per-address rate limit, on the world's clock.
    pub fn app_rate_limited(&self, per_minute: u32, burst: u32) -> axum::Router {
        self.app_with(per_minute, burst, generous_limits())
    }

    /// The real router with this rate limit and these limits.
    pub fn app_with(&self, per_minute: u32, burst: u32, limits: HttpLimits) -> axum::Router {
        self.router_with(per_minute, burst, limits, None)
    }

    /// The real router, serving `oidc` as its OpenID Provider.
    pub fn app_with_oidc(&self, oidc: Arc<kyso_gateway::oidc::Provider>) -> axum::Router {
        self.router_with(6000, 1000, generous_limits(), Some(oidc))
    }

    /// The real router serving `oidc`, with this per-address rate limit.
    pub fn app_with_oidc_limited(
        &self,
        oidc: Arc<kyso_gateway::oidc::Provider>,
        per_minute: u32,
        burst: u32,
    ) -> axum::Router {
        self.router_with(per_minute, burst, generous_limits(), Some(oidc))
    }

    /// The real router serving `sim` as its signing-SIM flow, with these limits.
    pub fn app_with_sim(
        &self,
        sim: Arc<kyso_gateway::sim::SimService>,
        limits: HttpLimits,
    ) -> axum::Router {
        let mut state = self.state(None);
        state.sim = Some(sim);
        router(state, &self.limiters(6000, 1000), &limits)
    }

    fn limiters(&self, per_minute: u32, burst: u32) -> Limiters {
        Limiters {
            requests: Arc::new(RateLimiter::new(per_minute, burst, self.clock.clone())),
            sim_starts: Arc::new(RateLimiter::new(per_minute, burst, self.clock.clone())),
        }
    }

    fn state(&self, oidc: Option<Arc<kyso_gateway::oidc::Provider>>) -> AppState {
        AppState {
            gateway: self.gateway.clone(),
            sim: None,
            page: std::sync::Arc::new(kyso_gateway::http::page::PageSettings {
                agent_url: "http://127.0.0.1:18765".into(),
                sim_enabled: false,
                origin: ORIGIN.into(),
            }),
            metrics: None,
            oidc,
        }
    }

    fn router_with(
        &self,
        per_minute: u32,
        burst: u32,
        limits: HttpLimits,
        oidc: Option<Arc<kyso_gateway::oidc::Provider>>,
    ) -> axum::Router {
        router(self.state(oidc), &self.limiters(per_minute, burst), &limits)
    }
}

/// Limits no test reaches by accident.
pub fn generous_limits() -> HttpLimits {
    HttpLimits {
        body: kyso_edge::BodyLimits {
            deadline: std::time::Duration::from_secs(10),
            max_bytes: 65536,
        },
        max_concurrent_requests: 16,
        max_concurrent_polls: 16,
        queue_wait: std::time::Duration::from_secs(5),
        trusted_proxies: Vec::new(),
    }
}

/// POSTs JSON through the router in process; returns the status, headers and JSON answer.
pub async fn call_full(
    app: &axum::Router,
    path: &str,
    body: Value,
) -> (StatusCode, axum::http::HeaderMap, Value) {
    let request = Request::post(path)
        .header("content-type", "application/json")
        .body(Body::from(body.to_string()))
        .unwrap();
    send(app, request).await
}

/// Sends `request` through the router in process; returns the status, headers and JSON
/// answer (`Null` when the body is not JSON).
pub async fn send(
    app: &axum::Router,
    request: Request<Body>,
) -> (StatusCode, axum::http::HeaderMap, Value) {
    let (method, path) = (request.method().clone(), request.uri().path().to_owned());
    let response = app.clone().oneshot(request).await.unwrap();
    let (parts, body) = response.into_parts();
    let bytes = axum::body::to_bytes(body, 1 << 20).await.unwrap();
    let json = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    kyso_tests::codes::note_answer(&json, method.as_str(), &path);
    (parts.status, parts.headers, json)
}

/// GETs `path` through the router in process; returns the status and the JSON answer.
pub async fn get(app: &axum::Router, path: &str) -> (StatusCode, Value) {
    let (status, _, json) = send(app, Request::get(path).body(Body::empty()).unwrap()).await;
    (status, json)
}

/// POSTs JSON through the router in process; returns the status and the JSON answer.
pub async fn call(app: &axum::Router, path: &str, body: Value) -> (StatusCode, Value) {
    let (status, _, json) = call_full(app, path, body).await;
    (status, json)
}

/// Runs `n` copies of `f` at once on the multi-threaded runtime; their results.
pub async fn at_once<T, F, Fut>(n: usize, f: F) -> Vec<T>
where
    T: Send + 'static,
    F: Fn(usize) -> Fut,
    Fut: std::future::Future<Output = T> + Send + 'static,
{
    let barrier = Arc::new(tokio::sync::Barrier::new(n));
    let tasks: Vec<_> = (0..n)
        .map(|i| {
            let barrier = barrier.clone();
            let work = f(i);
            tokio::spawn(async move {
                barrier.wait().await;
                work.await
            })
        })
        .collect();
    let mut out = Vec::new();
    for t in tasks {
        out.push(t.await.unwrap());
    }
    out
}
