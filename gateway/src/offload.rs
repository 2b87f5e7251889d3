//! Verification that strangers can make long, run beside the request threads.
//!
//! Building a certificate path is a search: intermediates that travel with a token (or
//! come back from the signing-SIM operator) can be forged so that many candidate paths
//! share names, each costing signature checks under the trust anchor's key until
//! rustls-webpki's budget of 100 runs out: about 5 ms against 0.1 ms for the same
//! forged leaf with none (four forged self-issued intermediates under an RSA-4096 root;
//! `cargo bench -p kyso-tests --bench forged_paths`, docs/performance.md). Done on a
//! request thread, that would hold up
//! every other request queued on it; so a verification with travelled intermediates runs
//! on tokio's blocking pool instead, its awaits (revocation lookups) driven through the
//! runtime's handle. One without them — every ordinary registration, whose intermediates
//! are configured — stays on the request thread, where it costs its two signatures.

use kyso_verify::error::{ErrorCode, Rejection};
use std::future::Future;

/// Runs `work` to its end on a blocking thread; a panic in it is an internal error.
pub async fn off_the_request_threads<F>(work: F) -> Result<F::Output, Rejection>
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    let runtime = tokio::runtime::Handle::current();
    tokio::task::spawn_blocking(move || runtime.block_on(work))
        .await
        .map_err(|e| {
            // A panic's message went to stderr through the panic hook.
            tracing::error!(error = %e, "a verification ended without an answer");
            Rejection::new(ErrorCode::InternalError, "the verification failed")
        })
}
