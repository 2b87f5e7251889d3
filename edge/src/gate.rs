//! A limit on requests in flight shared by every route it covers (tower's
//! `ConcurrencyLimitLayer` under axum's `Router::layer` makes one limit per route and
//! method). A request that finds no permit within the wait is refused as overloaded
//! (503, with `Retry-After`) instead of queueing without end.

use crate::{Refusal, Refuse};
use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::Response;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Semaphore;

/// One pool of permits.
#[derive(Clone)]
pub struct ConcurrencyGate {
    permits: Arc<Semaphore>,
    wait: Duration,
    refuse: Refuse,
}

impl ConcurrencyGate {
    /// `max` requests at once; a request waits at most `wait` for its turn.
    pub fn new(max: usize, wait: Duration, refuse: Refuse) -> Self {
        Self {
            permits: Arc::new(Semaphore::new(max.max(1))),
            wait,
            refuse,
        }
    }

    /// Permits free now.
    pub fn available(&self) -> usize {
        self.permits.available_permits()
    }
}

/// Middleware: runs the request holding a permit of `gate`.
pub async fn hold(State(gate): State<ConcurrencyGate>, request: Request, next: Next) -> Response {
    match tokio::time::timeout(gate.wait, gate.permits.clone().acquire_owned()).await {
        Ok(Ok(_permit)) => next.run(request).await,
        _ => (gate.refuse)(Refusal::Overloaded),
    }
}
