//! Prometheus metrics (`GET /metrics`), named in one place.
//!
//! The gateway records through the `metrics` facade; `server` installs a Prometheus
//! recorder at start and the route renders it in the text exposition format. Without a
//! recorder (in-process tests) every call here does nothing. Labels take values from
//! small fixed sets — route templates, methods, statuses, error codes, channels — never
//! from what a client sends, so a stranger cannot grow the series without bound.
//!
//! | metric | type | labels |
//! |---|---|---|
//! | `kyso_http_requests_total` | counter | `route`, `method`, `status` |
//! | `kyso_http_request_duration_seconds` | histogram | `route`, `method` |
//! | `kyso_http_requests_in_flight` | gauge | |
//! | `kyso_registrations_total` | counter | `channel` (token, sim), `subject_type`, `result` (created or an error code) |
//! | `kyso_logins_total` | counter | `channel`, `result` (ok or an error code) |
//! | `kyso_revocation_fetches_total` | counter | `kind` (ocsp, crl), `outcome` |
//! | `kyso_revocation_fetch_duration_seconds` | histogram | `kind` |
//! | `kyso_revocation_cache_total` | counter | `kind`, `result` (hit, miss) |
//! | `kyso_mssp_calls_total` | counter | `call` (request, status), `outcome` |
//! | `kyso_mssp_call_duration_seconds` | histogram | `call` |
//! | `kyso_sim_sessions_total` | counter | `result` |
//! | `kyso_oidc_tokens_total` | counter | `client` (a configured portal, once authenticated), `result` |
//! | `kyso_store_operation_duration_seconds` | histogram | `operation`, `outcome` (ok, error) |
//! | `kyso_store_group_commits_total` | counter | (SQLite's writes: groups committed) |
//! | `kyso_store_group_commit_jobs_total` | counter | (writes in them; jobs ÷ commits is the mean group) |
//! | `kyso_open_connections` | gauge | (the HTTP edge's) |
//! | `kyso_runtime_worker_threads` | gauge | (threads running requests, `runtime.worker_threads`) |

use metrics::{counter, gauge, histogram};
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use std::time::Duration;

/// Latency buckets, seconds: a millisecond to half a minute.
const BUCKETS: &[f64] = &[
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
];

/// Installs the process's recorder; the handle renders `/metrics`. `None` when one is
/// installed already (a second gateway in one process).
pub fn install() -> Option<PrometheusHandle> {
    PrometheusBuilder::new()
        .set_buckets(BUCKETS)
        .ok()?
        .install_recorder()
        .ok()
}

/// One HTTP request answered.
pub fn http_request(route: String, method: &'static str, status: u16, took: Duration) {
    counter!("kyso_http_requests_total", "route" => route.clone(), "method" => method, "status" => status.to_string())
        .increment(1);
    histogram!("kyso_http_request_duration_seconds", "route" => route, "method" => method)
        .record(took.as_secs_f64());
}

/// The threads the runtime runs requests on, so an operator sees the setting in effect.
pub fn runtime_workers(threads: usize) {
    gauge!("kyso_runtime_worker_threads").set(threads as f64);
}

/// A request started (`+1`) or ended (`-1`).
pub fn in_flight(delta: f64) {
    gauge!("kyso_http_requests_in_flight").increment(delta);
}

/// A confirmation ended: `created` or the refusal's code.
pub fn registration(channel: &'static str, subject_type: &'static str, result: &'static str) {
    counter!("kyso_registrations_total", "channel" => channel, "subject_type" => subject_type, "result" => result)
        .increment(1);
}

/// A login ended: `ok` or the refusal's code.
pub fn login(channel: &'static str, result: &'static str) {
    counter!("kyso_logins_total", "channel" => channel, "result" => result).increment(1);
}

/// An OCSP or CRL download ended.
pub fn revocation_fetch(kind: &'static str, outcome: &'static str, took: Duration) {
    counter!("kyso_revocation_fetches_total", "kind" => kind, "outcome" => outcome).increment(1);
    histogram!("kyso_revocation_fetch_duration_seconds", "kind" => kind).record(took.as_secs_f64());
}

/// A revocation answer looked up in its cache.
pub fn revocation_cache(kind: &'static str, hit: bool) {
    let result = if hit { "hit" } else { "miss" };
    counter!("kyso_revocation_cache_total", "kind" => kind, "result" => result).increment(1);
}

/// A call to the operator ended.
pub fn mssp_call(call: &'static str, outcome: &'static str, took: Duration) {
    counter!("kyso_mssp_calls_total", "call" => call, "outcome" => outcome).increment(1);
    histogram!("kyso_mssp_call_duration_seconds", "call" => call).record(took.as_secs_f64());
}

/// A signing-SIM session ended with `result`.
pub fn sim_session(result: &'static str) {
    counter!("kyso_sim_sessions_total", "result" => result).increment(1);
}

/// One answer of the OpenID Provider's token endpoint: `issued`, or the OAuth error
/// (`invalid_grant`, `invalid_client`, …). Portals are few, so the client is a label.
pub fn oidc_token(client: &str, result: &'static str) {
    counter!("kyso_oidc_tokens_total", "client" => client.to_owned(), "result" => result)
        .increment(1);
}

/// One group of writes committed on SQLite, with `jobs` writes in it.
pub fn group_commit(jobs: usize) {
    counter!("kyso_store_group_commits_total").increment(1);
    counter!("kyso_store_group_commit_jobs_total").increment(jobs as u64);
}

/// Times one store operation.
pub async fn store<T, E>(
    operation: &'static str,
    work: impl std::future::Future<Output = Result<T, E>>,
) -> Result<T, E> {
    let started = std::time::Instant::now();
    let done = work.await;
    let outcome = if done.is_ok() { "ok" } else { "error" };
    histogram!("kyso_store_operation_duration_seconds", "operation" => operation, "outcome" => outcome)
        .record(started.elapsed().as_secs_f64());
    done
}
