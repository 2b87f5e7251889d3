//! Verification that strangers can make long, run beside the request threads.
//!
//! Building a certificate path is a search: intermediates that travel with a token can be
//! forged so that many candidate paths share names, each costing signature checks until
//! rustls-webpki's budget of 100 runs out: about 5 ms against 0.1 ms for the same forged
//! leaf with none (four forged self-issued intermediates under an RSA-4096 root;
//! `cargo bench -p kyso-tests --bench forged_paths`, docs/performance.md). Done on a
//! request thread, that would hold up every other request queued on it; so a
//! verification with travelled intermediates runs on tokio's blocking pool instead, its
//! awaits (revocation lookups) driven through the runtime's handle. One without them —
//! every ordinary registration, whose intermediates are configured — stays on the
//! request thread, where it costs its two signatures.
//!
//! At most [`AT_ONCE`] run at a time; more wait their turn. The CPU a flood of forged
//! paths costs stays bounded, and it cannot take the blocking pool's threads from what
//! else needs them (decoding CRLs, resolving names for revocation lookups), which would
//! fail ordinary registrations closed.

use kyso_verify::error::{ErrorCode, Rejection};
use std::future::Future;
use tokio::sync::Semaphore;

/// Verifications beside the request threads at once.
pub const AT_ONCE: usize = 4;

static TURNS: Semaphore = Semaphore::const_new(AT_ONCE);

/// Runs `work` to its end on a blocking thread, once one of [`AT_ONCE`] turns is free; a
/// panic in it is an internal error.
pub async fn off_the_request_threads<F>(work: F) -> Result<F::Output, Rejection>
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    let failed = |why: &str| {
        tracing::error!(error = why, "a verification ended without an answer");
        Rejection::new(ErrorCode::InternalError, "the verification failed")
    };
    let turn = TURNS
        .acquire()
        .await
        .map_err(|_| failed("no turns are given any more"))?;
    let runtime = tokio::runtime::Handle::current();
    let done = tokio::task::spawn_blocking(move || runtime.block_on(work))
        .await
        // A panic's message went to stderr through the panic hook.
        .map_err(|e| failed(&e.to_string()));
    drop(turn);
    done
}

#[cfg(test)]
mod tests {
    use super::{AT_ONCE, off_the_request_threads};
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    /// However many ask at once, at most [`AT_ONCE`] run.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn at_most_a_few_verifications_run_beside_the_request_threads_at_once() {
        let running = Arc::new(AtomicUsize::new(0));
        let most = Arc::new(AtomicUsize::new(0));
        let tasks: Vec<_> = (0..3 * AT_ONCE)
            .map(|_| {
                let (running, most) = (running.clone(), most.clone());
                tokio::spawn(off_the_request_threads(async move {
                    let now = running.fetch_add(1, Ordering::SeqCst) + 1;
                    most.fetch_max(now, Ordering::SeqCst);
                    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                    running.fetch_sub(1, Ordering::SeqCst);
                }))
            })
            .collect();
        for task in tasks {
            task.await.unwrap().unwrap();
        }
        let most = most.load(Ordering::SeqCst);
        assert!((1..=AT_ONCE).contains(&most), "{most} at once");
    }
}
