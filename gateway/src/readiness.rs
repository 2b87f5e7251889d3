//! Readiness (`GET /readyz`): the database answers, and a trust anchor is valid now.
//!
//! Orchestrators' probes come from one address, so `/readyz` is neither rate limited nor
//! queued for a place in the request pools; but each check is a database round trip, and
//! on PostgreSQL it waits for a connection of the pool the registrations use. Unshared, a
//! stranger's flood of `/readyz` would queue thousands of pings ahead of them. So the
//! check runs one at a time, and its answer, stamped when it was known, serves every
//! asker who arrived before that, and anyone for [`REUSE`] after: whatever the number of
//! askers, and however slow the database, an instance runs at most one ping at a time
//! and about one a second under a flood.

use crate::clock::Clock;
use crate::store::Store;
use kyso_verify::error::{ErrorCode, Rejection};
use kyso_verify::policy::CertificatePolicy;
use std::sync::atomic::{AtomicU64, Ordering};
use time::OffsetDateTime;
use tokio::sync::Mutex;

/// How long an answer is reused: short against a probe's period (seconds), long against
/// a flood's.
pub const REUSE: time::Duration = time::Duration::SECOND;

/// The last answer, and the lock one check at a time holds.
#[derive(Debug, Default)]
pub struct Readiness {
    last: Mutex<Option<(OffsetDateTime, Result<(), Rejection>)>>,
    /// Checks finished so far: an asker that sees this grow while it waits for the lock
    /// came during a check, whatever the wall clock did meanwhile.
    finished: AtomicU64,
}

impl Readiness {
    /// Whether `store` answers and `policy` has a trust anchor valid now. The last
    /// answer if it was known after this asker arrived (a check under way when it came)
    /// or less than [`REUSE`] ago on `clock`; else a new check.
    pub async fn check(
        &self,
        clock: &dyn Clock,
        store: &dyn Store,
        policy: &CertificatePolicy,
    ) -> Result<(), Rejection> {
        let finished_before = self.finished.load(Ordering::Acquire);
        let mut last = self.last.lock().await;
        let now = clock.now();
        let came_during_a_check = self.finished.load(Ordering::Acquire) != finished_before;
        if let Some((known, answer)) = last.as_ref()
            && (came_during_a_check || (*known <= now && now - *known < REUSE))
        {
            return answer.clone();
        }
        let answer = ask(store, policy, now).await;
        *last = Some((clock.now(), answer.clone()));
        self.finished.fetch_add(1, Ordering::Release);
        answer
    }
}

/// One check, at `now`.
async fn ask(
    store: &dyn Store,
    policy: &CertificatePolicy,
    now: OffsetDateTime,
) -> Result<(), Rejection> {
    crate::metrics::store("ping", store.ping())
        .await
        .map_err(|_| {
            Rejection::new(
                ErrorCode::StorageUnavailable,
                "the database does not answer",
            )
        })?;
    if !policy.has_valid_anchor(now) {
        return Err(Rejection::new(
            ErrorCode::TrustUnavailable,
            "no configured trust anchor is valid now: no certificate can be verified",
        ));
    }
    Ok(())
}
