//! CRLs (RFC 5280 §5) from the certificate's CRL distribution point: fetched once, kept
//! until nextUpdate, refreshed in the background before then, and judged by
//! [`kyso_verify::revocation::crl`] (issuer's CRL, signed by the issuer, not past
//! nextUpdate).
//!
//! A cached CRL is parsed once. Its signature is checked at every use (webpki does it as
//! part of the path), and a CRL that fails that check is dropped from the cache, so a bad
//! download costs one refusal, not refusals until its claimed nextUpdate.

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
    /// One download per URL at a time; others wait for it.
    in_flight: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
    clock_skew: Duration,
}

impl CrlStore {
    /// An empty store of at most `capacity` CRLs; a thisUpdate up to `clock_skew` in the
    /// future is tolerated.
    pub fn new(capacity: usize, clock_skew: Duration) -> Self {
        Self {
            cache: ExpiringCache::new(capacity),
            in_flight: Mutex::new(HashMap::new()),
            clock_skew,
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

    /// Downloads `url`, checks its times at `at` and caches it until nextUpdate.
    async fn download(
        &self,
        fetcher: &HttpFetcher,
        url: &str,
        at: OffsetDateTime,
    ) -> Result<Arc<CachedCrl>, CrlError> {
        let bytes = fetcher.get_crl(url).await?;
        let unusable = |why: String| CrlError::Unusable(format!("{url}: {why}"));
        let crl = decode(&bytes).map_err(unusable)?;
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
        if let Some(cached) = self.cache.get(&url.to_owned(), at)
            && crl.this_update < cached.this_update
        {
            // An older CRL (replayed on the wire, or a stale mirror) must not replace a
            // newer one and hide recent revocations.
            return Err(unusable(
                "the CRL downloaded is older than the one cached".into(),
            ));
        }
        let crl = Arc::new(crl);
        self.cache
            .insert(url.to_owned(), crl.clone(), crl.next_update, at);
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
            return Ok(crl);
        }
        let flight = self.flight(url);
        let _one_download = flight.lock().await;
        if let Some(crl) = self.cache.get(&url.to_owned(), at) {
            return Ok(crl);
        }
        self.download(fetcher, url, at).await
    }

    /// What the CRL from `url` says about link `index` of the path; an unusable CRL is
    /// forgotten.
    pub fn judge(
        &self,
        url: &str,
        crl: &CachedCrl,
        path: &ValidatedPath,
        index: usize,
    ) -> Result<CrlVerdict, String> {
        crl.judge(path, index).map_err(|e| {
            self.cache.remove(&url.to_owned());
            format!("{url}: {e}")
        })
    }

    /// Downloads again every cached CRL whose nextUpdate falls before `before`; returns
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
