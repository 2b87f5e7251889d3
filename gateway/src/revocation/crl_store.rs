//! CRLs (RFC 5280 §5) from the certificate's CRL distribution point: fetched once, kept
//! until nextUpdate or for the configured maximum age, whichever comes first, refreshed
//! in the background before then, and judged by [`kyso_verify::revocation::crl`]
//! (issuer's CRL, signed by the issuer, not past nextUpdate).
//!
//! The maximum age: a CA may publish a CRL every day that is valid for a week. Kept to
//! its nextUpdate, the first one would hide for six days the revocations published since
//! — as much as OCSP's own answers may be old is an hour, and a blocked responder would
//! turn that hour into days.
//!
//! A cached CRL is parsed once. Its signature is checked at every use (webpki does it as
//! part of the path), and a CRL that fails that check is dropped from the cache, so a bad
//! download costs one refusal, not refusals until its claimed nextUpdate. The newest
//! thisUpdate seen from each URL is remembered apart from the cache (until that CRL's
//! nextUpdate), so a CRL dropped or aged out of the cache cannot be replaced by an older
//! one replayed on the wire.

use super::cache::ExpiringCache;
use super::fetch::{FetchError, HttpFetcher};
use kyso_verify::policy::ValidatedPath;
use kyso_verify::revocation::crl::{CachedCrl, CrlVerdict, decode};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use time::{Duration, OffsetDateTime};

/// Why no CRL came from a URL.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CrlError {
    /// The download failed.
    #[error(transparent)]
    Fetch(#[from] FetchError),
    /// What came is not a usable CRL (unreadable, expired, from the future, older than
    /// the one cached).
    #[error("{0}")]
    Unusable(String),
}

/// The CRLs known to the gateway, by URL.
#[derive(Debug)]
pub struct CrlStore {
    cache: ExpiringCache<String, Arc<CachedCrl>>,
    /// The newest thisUpdate downloaded from each URL, until that CRL's nextUpdate.
    newest: ExpiringCache<String, OffsetDateTime>,
    /// One download per URL at a time; others wait for it.
    in_flight: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
    clock_skew: Duration,
    max_age: Duration,
}

impl CrlStore {
    /// An empty store of at most `capacity` CRLs; a thisUpdate up to `clock_skew` in the
    /// future is tolerated; a CRL is kept `max_age` at most after it was downloaded.
    pub fn new(capacity: usize, clock_skew: Duration, max_age: Duration) -> Self {
        Self {
            cache: ExpiringCache::new(capacity),
            newest: ExpiringCache::new(capacity),
            in_flight: Mutex::new(HashMap::new()),
            clock_skew,
            max_age,
        }
    }

    fn flight(&self, url: &str) -> Arc<tokio::sync::Mutex<()>> {
        self.in_flight
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .entry(url.to_owned())
            .or_default()
            .clone()
    }

    /// Downloads `url`, checks its times at `at` and caches it until nextUpdate or for
    /// the maximum age.
    async fn download(
        &self,
        fetcher: &HttpFetcher,
        url: &str,
        at: OffsetDateTime,
    ) -> Result<Arc<CachedCrl>, CrlError> {
        let bytes = fetcher.get_crl(url).await?;
        let unusable = |why: String| CrlError::Unusable(format!("{url}: {why}"));
        // Parsing up to `crl_max_bytes` of DER is CPU work: off the request threads.
        let crl = tokio::task::spawn_blocking(move || decode(&bytes))
            .await
            .unwrap_or_else(|e| Err(format!("the CRL's parsing ended without an answer: {e}")))
            .map_err(unusable)?;
        if crl.this_update > at + self.clock_skew {
            return Err(unusable(format!(
                "the CRL's thisUpdate {} is in the future",
                crl.this_update
            )));
        }
        if crl.next_update <= at {
            return Err(unusable(format!(
                "the CRL expired at {} (nextUpdate)",
                crl.next_update
            )));
        }
        // The newest seen from this URL: remembered apart, or (if that memory was
        // crowded out) the one cached.
        let newest = self
            .newest
            .get(&url.to_owned(), at)
            .into_iter()
            .chain(self.cache.get(&url.to_owned(), at).map(|c| c.this_update))
            .max();
        if newest.is_some_and(|newest| crl.this_update < newest) {
            // An older CRL (replayed on the wire, or a stale mirror) must not replace a
            // newer one and hide recent revocations.
            return Err(unusable(
                "the CRL downloaded is older than the newest one seen from this URL".into(),
            ));
        }
        let crl = Arc::new(crl);
        self.newest
            .insert(url.to_owned(), crl.this_update, crl.next_update, at);
        let until = crl.next_update.min(at + self.max_age);
        self.cache.insert(url.to_owned(), crl.clone(), until, at);
        Ok(crl)
    }

    /// The CRL at `url`, from the cache when it is still current at `at`.
    pub async fn get(
        &self,
        fetcher: &HttpFetcher,
        url: &str,
        at: OffsetDateTime,
    ) -> Result<Arc<CachedCrl>, CrlError> {
        if let Some(crl) = self.cache.get(&url.to_owned(), at) {
            crate::metrics::revocation_cache("crl", true);
            return Ok(crl);
        }
        crate::metrics::revocation_cache("crl", false);
        let flight = self.flight(url);
        let _one_download = flight.lock().await;
        if let Some(crl) = self.cache.get(&url.to_owned(), at) {
            return Ok(crl);
        }
        self.download(fetcher, url, at).await
    }

    /// What the CRL from `url` says about link `index` of the path; an unusable CRL is
    /// forgotten. The check hashes the whole CRL for its signature: a blocking thread's
    /// work, not a request thread's.
    pub async fn judge(
        &self,
        url: &str,
        crl: Arc<CachedCrl>,
        path: &ValidatedPath,
        index: usize,
    ) -> Result<CrlVerdict, String> {
        let path = path.clone();
        let judged = crl.clone();
        tokio::task::spawn_blocking(move || judged.judge(&path, index))
            .await
            .unwrap_or_else(|e| Err(format!("the CRL check ended without an answer: {e}")))
            .map_err(|e| {
                // Only this CRL: a refresh may have cached a newer one meanwhile.
                self.cache
                    .remove_if(&url.to_owned(), |cached| Arc::ptr_eq(cached, &crl));
                format!("{url}: {e}")
            })
    }

    /// Downloads again every cached CRL that expires (nextUpdate, or its maximum age)
    /// before `before`; returns
    /// how many were renewed. A failed download leaves the old CRL in place until it
    /// expires.
    pub async fn refresh(
        &self,
        fetcher: &HttpFetcher,
        before: OffsetDateTime,
        at: OffsetDateTime,
    ) -> usize {
        let mut renewed = 0;
        for url in self.cache.expiring_before(before) {
            let flight = self.flight(&url);
            let _one_download = flight.lock().await;
            match self.download(fetcher, &url, at).await {
                Ok(_) => renewed += 1,
                Err(e) => tracing::warn!(%url, error = %e, "CRL refresh failed"),
            }
        }
        renewed
    }

    /// The cached CRL for `url` if it is current at `at`, without downloading.
    pub fn cached(&self, url: &str, at: OffsetDateTime) -> Option<Arc<CachedCrl>> {
        self.cache.get(&url.to_owned(), at)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read, Write};
    use std::net::TcpListener;
    use std::sync::atomic::{AtomicUsize, Ordering};

    /// Serves `body` to every request, slowly enough that concurrent askers overlap;
    /// its URL and the number of downloads served.
    fn crl_server(body: Vec<u8>) -> (String, Arc<AtomicUsize>) {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}/ca.crl", listener.local_addr().unwrap());
        let served = Arc::new(AtomicUsize::new(0));
        let count = served.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(mut s) = stream else { return };
                let mut head = [0u8; 4096];
                let _ = s.read(&mut head);
                count.fetch_add(1, Ordering::SeqCst);
                std::thread::sleep(std::time::Duration::from_millis(100));
                let _ = write!(
                    s,
                    "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                    body.len()
                );
                let _ = s.write_all(&body);
            }
        });
        (url, served)
    }

    /// A real CRL of the test PKI, and when it was made.
    fn test_crl() -> (Vec<u8>, OffsetDateTime) {
        let dir = tempfile::tempdir().unwrap();
        let m = kyso_certs::generate(&kyso_certs::GenerateOptions::new(dir.path()), &mut |_| {})
            .unwrap();
        let crl = std::fs::read(dir.path().join(&m.ca("vnpt").unwrap().crl)).unwrap();
        (crl, m.generated_at)
    }

    fn fetcher() -> HttpFetcher {
        HttpFetcher::new(std::time::Duration::from_secs(10), 1 << 20).unwrap()
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn concurrent_askers_share_one_download_and_then_the_cache() {
        let (crl, made) = test_crl();
        let (url, served) = crl_server(crl);
        let store = Arc::new(CrlStore::new(16, Duration::minutes(5), Duration::days(30)));
        let fetcher = fetcher();
        let at = made + Duration::minutes(1);
        let askers: Vec<_> = (0..10)
            .map(|_| {
                let (store, fetcher, url) = (store.clone(), fetcher.clone(), url.clone());
                tokio::spawn(async move { store.get(&fetcher, &url, at).await })
            })
            .collect();
        let mut got = Vec::new();
        for a in askers {
            got.push(a.await.unwrap().unwrap());
        }
        assert_eq!(
            served.load(Ordering::SeqCst),
            1,
            "one download for ten askers"
        );
        assert!(got.iter().all(|c| Arc::ptr_eq(c, &got[0])));
        store.get(&fetcher, &url, at).await.unwrap();
        assert_eq!(served.load(Ordering::SeqCst), 1, "then the cache answers");
    }

    #[tokio::test]
    async fn a_crl_past_its_next_update_or_not_yet_issued_is_unusable() {
        let (crl, made) = test_crl();
        let decoded = decode(&crl).unwrap();
        let (url, served) = crl_server(crl);
        let store = CrlStore::new(16, Duration::minutes(5), Duration::days(30));
        let fetcher = fetcher();
        let late = decoded.next_update + Duration::seconds(1);
        let r = store.get(&fetcher, &url, late).await;
        assert!(
            matches!(&r, Err(CrlError::Unusable(why)) if why.contains("expired")),
            "{r:?}"
        );
        let early = made - Duration::hours(1);
        let r = store.get(&fetcher, &url, early).await;
        assert!(
            matches!(&r, Err(CrlError::Unusable(why)) if why.contains("future")),
            "{r:?}"
        );
        assert_eq!(
            served.load(Ordering::SeqCst),
            2,
            "nothing unusable was cached"
        );
        assert!(store.get(&fetcher, &url, made).await.is_ok());
    }
}
