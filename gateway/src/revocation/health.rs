//! Which responders and CRL servers just failed, so one request's wait on a dead server
//! is not every request's (design §6: availability is judged per request).
//!
//! Only failures of the server itself count — no connection, a timeout, an HTTP 5xx — and
//! they are remembered for as short as needed: 1 s after the first, doubling with each
//! consecutive failure up to [`MAX_BACKOFF`], forgotten at the first success. What a
//! server says about one certificate (an HTTP 4xx, a malformed or unverifiable answer) is
//! that certificate's problem and marks nothing.

use super::fetch::FetchError;
use std::collections::HashMap;
use std::sync::Mutex;
use time::{Duration, OffsetDateTime};

/// The longest a failing server is skipped.
pub const MAX_BACKOFF: Duration = Duration::seconds(30);

/// Most servers remembered at once (failing ones only; a full table forgets the oldest).
const CAPACITY: usize = 1024;

/// Whether a fetch failure says the server is down (rather than something about the one
/// certificate or document asked for).
pub fn is_server_failure(e: &FetchError) -> bool {
    match e {
        FetchError::Transport { .. } => true,
        FetchError::Status { status, .. } => *status >= 500,
        FetchError::UnsupportedUrl(_) | FetchError::TooLarge { .. } => false,
    }
}

#[derive(Debug, Clone)]
struct Failing {
    consecutive: u32,
    until: OffsetDateTime,
    why: String,
}

/// Failing servers by URL.
#[derive(Debug, Default)]
pub struct ServerHealth {
    failing: Mutex<HashMap<String, Failing>>,
}

impl ServerHealth {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Failing>> {
        self.failing.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Why `url` is skipped at `at`, and until when; `None` when it may be asked.
    pub fn skipped(&self, url: &str, at: OffsetDateTime) -> Option<(String, OffsetDateTime)> {
        self.lock()
            .get(url)
            .filter(|f| at < f.until)
            .map(|f| (f.why.clone(), f.until))
    }

    /// Notes that `url` failed at `at`.
    pub fn failed(&self, url: &str, why: &str, at: OffsetDateTime) {
        let mut failing = self.lock();
        if failing.len() >= CAPACITY
            && !failing.contains_key(url)
            && let Some(oldest) = failing
                .iter()
                .min_by_key(|(_, f)| f.until)
                .map(|(k, _)| k.clone())
        {
            failing.remove(&oldest);
        }
        let consecutive = failing
            .get(url)
            .map_or(1, |f| f.consecutive.saturating_add(1));
        let backoff =
            Duration::seconds(1i64 << consecutive.saturating_sub(1).min(5)).min(MAX_BACKOFF);
        failing.insert(
            url.to_owned(),
            Failing {
                consecutive,
                until: at + backoff,
                why: why.to_owned(),
            },
        );
    }

    /// Notes that `url` answered.
    pub fn answered(&self, url: &str) {
        self.lock().remove(url);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    const T0: OffsetDateTime = datetime!(2026-11-30 10:00 UTC);

    #[test]
    fn failures_back_off_doubling_to_a_cap_and_a_success_forgets_them() {
        let h = ServerHealth::default();
        let url = "http://ocsp.example/";
        assert!(h.skipped(url, T0).is_none());
        h.failed(url, "refused", T0);
        assert_eq!(
            h.skipped(url, T0).map(|s| s.1),
            Some(T0 + Duration::seconds(1))
        );
        assert!(
            h.skipped(url, T0 + Duration::seconds(1)).is_none(),
            "asked again after 1 s"
        );
        let mut at = T0;
        let mut waits = Vec::new();
        for _ in 0..8 {
            h.failed(url, "refused", at);
            let until = h.skipped(url, at).unwrap().1;
            waits.push((until - at).whole_seconds());
            at = until;
        }
        assert_eq!(waits, [2, 4, 8, 16, 30, 30, 30, 30]);
        h.answered(url);
        assert!(h.skipped(url, at).is_none());
        h.failed(url, "refused", at);
        assert_eq!(
            h.skipped(url, at).map(|s| s.1),
            Some(at + Duration::seconds(1))
        );
    }

    #[test]
    fn only_server_failures_count() {
        let url = "http://x/".to_owned();
        assert!(is_server_failure(&FetchError::Transport {
            url: url.clone(),
            detail: "timeout".into()
        }));
        assert!(is_server_failure(&FetchError::Status {
            url: url.clone(),
            status: 503
        }));
        for status in [400, 404, 405] {
            assert!(!is_server_failure(&FetchError::Status {
                url: url.clone(),
                status
            }));
        }
        assert!(!is_server_failure(&FetchError::TooLarge { url, limit: 1 }));
    }

    #[test]
    fn the_table_is_bounded() {
        let h = ServerHealth::default();
        for i in 0..(CAPACITY + 10) {
            h.failed(&format!("http://{i}/"), "down", T0);
        }
        assert!(h.lock().len() <= CAPACITY);
    }
}
