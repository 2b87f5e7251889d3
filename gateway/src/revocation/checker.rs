//! The revocation policy of design §6: OCSP first (RFC 6960), the CRL from the CRL
//! distribution point when OCSP gives no usable answer, and a decision when neither does.
//!
//! - A verified OCSP `good` passes; `revoked` is `CERT_REVOKED`; `unknown` is refused as
//!   `CERT_REVOKED` too (the CA's own responder does not know the certificate: it was not
//!   issued as the CA knows it), without asking the CRL, which cannot vouch for it either.
//! - An OCSP failure (no URL, network, timeout, malformed or unverifiable answer, stale
//!   answer, nonce mismatch) falls through to the CRL.
//! - When neither gives an answer: `REVOCATION_UNAVAILABLE` (503) under fail-closed, the
//!   default; under soft-fail the certificate passes and a warning is logged, which means
//!   an attacker who can block the responder can use a revoked certificate.
//! - `good` and `revoked` answers are cached per CertID until the answer's nextUpdate
//!   (capped by the allowed age); CRLs until theirs.
//!
//! URLs come from the certificate (AIA, CRLDP) unless the operator configured others for
//! the issuer ([`IssuerOverride`], matched by the issuer's key).

use super::cache::ExpiringCache;
use super::crl_store::{CrlError, CrlStore};
use super::fetch::HttpFetcher;
use super::health::{ServerHealth, is_server_failure};
use async_trait::async_trait;
use kyso_verify::certificate::RevocationPointers;
use kyso_verify::error::{ErrorCode, Rejection};
use kyso_verify::policy::RevocationChecker;
use kyso_verify::policy::ValidatedPath;
use kyso_verify::revocation::crl::CrlVerdict;
use kyso_verify::revocation::ocsp::{
    self, CertId, CertStatus, OcspAnswer, OcspRules, encode_request, parse_response,
};
use time::{Duration, OffsetDateTime};
use x509_parser::certificate::X509Certificate;

/// Which sources to ask, in the fixed order OCSP then CRL.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Methods {
    /// Ask the OCSP responder.
    pub ocsp: bool,
    /// Consult the CRL.
    pub crl: bool,
}

/// What to do when no source answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailureMode {
    /// Refuse with `REVOCATION_UNAVAILABLE` (the default).
    FailClosed,
    /// Accept and log a warning.
    SoftFail,
}

/// Operator settings for one issuing CA, matched by its public key.
#[derive(Debug, Clone)]
pub struct IssuerOverride {
    /// The issuing CA's certificate, DER.
    pub issuer_der: Vec<u8>,
    /// OCSP responder to ask instead of the certificate's AIA.
    pub ocsp_url: Option<String>,
    /// CRL to fetch instead of the certificate's CRLDP.
    pub crl_url: Option<String>,
    /// Whether this CA's responder must echo the nonce (overrides the default).
    pub require_nonce: Option<bool>,
}

/// Everything the checker is configured with.
#[derive(Debug, Clone)]
pub struct RevocationSettings {
    /// Sources to ask.
    pub methods: Methods,
    /// Fail closed or soft.
    pub on_unavailable: FailureMode,
    /// Time limit of each HTTP call.
    pub timeout: std::time::Duration,
    /// How OCSP answers are judged.
    pub ocsp: OcspRules,
    /// Largest CRL downloaded.
    pub crl_max_bytes: usize,
    /// OCSP answers kept at most.
    pub cache_entries: usize,
    /// A cached CRL is downloaded again this long before its nextUpdate.
    pub crl_refresh_margin: Duration,
    /// A CRL is used this long at most after it was downloaded, even when its
    /// nextUpdate is later.
    pub crl_max_age: Duration,
    /// Per-issuer URLs and nonce rules.
    pub overrides: Vec<IssuerOverride>,
}

/// OCSP then CRL, with caches; see the module docs.
#[derive(Debug)]
pub struct OcspCrlChecker {
    settings: RevocationSettings,
    fetcher: HttpFetcher,
    /// Overrides keyed by SHA-1 of the issuer's key, as CertIDs carry it.
    overrides: Vec<(Vec<u8>, IssuerOverride)>,
    answers: ExpiringCache<CertId, CertStatus>,
    crls: CrlStore,
    /// Responders and CRL servers that just failed.
    health: ServerHealth,
}

/// A definite answer about the leaf.
enum Status {
    Good,
    Revoked(String),
}

fn reason_name(code: u8) -> &'static str {
    match code {
        1 => "keyCompromise",
        2 => "cACompromise",
        3 => "affiliationChanged",
        4 => "superseded",
        5 => "cessationOfOperation",
        6 => "certificateHold",
        8 => "removeFromCRL",
        9 => "privilegeWithdrawn",
        10 => "aACompromise",
        _ => "unspecified",
    }
}

fn parse(der: &[u8]) -> Result<X509Certificate<'_>, Rejection> {
    x509_parser::parse_x509_certificate(der)
        .map(|(_, c)| c)
        .map_err(|e| Rejection::new(ErrorCode::MalformedToken, e.to_string()))
}

fn status_of(status: CertStatus, source: &str) -> Status {
    match status {
        CertStatus::Good => Status::Good,
        CertStatus::Revoked { at, reason } => Status::Revoked(format!(
            "revoked at {at} ({}) according to {source}",
            reason_name(reason.unwrap_or(0))
        )),
        CertStatus::Unknown => Status::Revoked(format!(
            "unknown to {source} (status unknown: not issued as its CA records it)"
        )),
    }
}

impl OcspCrlChecker {
    /// A checker with these settings; fails if an override's issuer is not a certificate
    /// or the HTTP client cannot be made.
    pub fn new(settings: RevocationSettings) -> Result<Self, String> {
        let fetcher = HttpFetcher::new(settings.timeout, settings.crl_max_bytes)
            .map_err(|e| e.to_string())?;
        let overrides = settings
            .overrides
            .iter()
            .map(|o| {
                let issuer = parse(&o.issuer_der).map_err(|e| e.detail)?;
                let id = CertId::of(&issuer, &issuer);
                Ok((id.issuer_key_hash, o.clone()))
            })
            .collect::<Result<Vec<_>, String>>()?;
        Ok(Self {
            answers: ExpiringCache::new(settings.cache_entries),
            health: ServerHealth::default(),
            crls: CrlStore::new(
                settings.cache_entries,
                settings.ocsp.clock_skew,
                settings.crl_max_age,
            ),
            fetcher,
            overrides,
            settings,
        })
    }

    fn override_for(&self, id: &CertId) -> Option<&IssuerOverride> {
        self.overrides
            .iter()
            .find(|(key, _)| *key == id.issuer_key_hash)
            .map(|(_, o)| o)
    }

    async fn ask_ocsp(
        &self,
        url: &str,
        id: &CertId,
        issuer: &X509Certificate<'_>,
        require_nonce: bool,
        at: OffsetDateTime,
    ) -> Result<OcspAnswer, String> {
        let mut nonce = [0u8; 32];
        aws_lc_rs::rand::fill(&mut nonce).map_err(|_| "no randomness for the nonce")?;
        let body = match self
            .fetcher
            .post_ocsp(url, encode_request(id, Some(&nonce)))
            .await
        {
            Ok(body) => {
                self.health.answered(url);
                body
            }
            Err(e) => {
                if is_server_failure(&e) {
                    self.health.failed(url, &e.to_string(), at);
                }
                return Err(e.to_string());
            }
        };
        let response = parse_response(&body).map_err(|e| format!("{url}: {e}"))?;
        let rules = OcspRules {
            require_nonce,
            ..self.settings.ocsp
        };
        ocsp::verify_response(&response, id, issuer, Some(&nonce), at, &rules)
            .map_err(|e| format!("{url}: {e}"))
    }

    /// The URLs to ask, in order: the operator's for this issuer, else every http(s)
    /// URL the certificate lists (RFC 5280 §6.3.3: any of them may answer).
    fn urls<'a>(configured: Option<&'a String>, listed: &'a [String]) -> Vec<&'a String> {
        match configured {
            Some(url) => vec![url],
            None => listed
                .iter()
                .filter(|u| {
                    let lower = u.to_ascii_lowercase();
                    lower.starts_with("http://") || lower.starts_with("https://")
                })
                .collect(),
        }
    }

    /// Notes that `url` is skipped until `until`.
    fn skip(&self, failures: &mut Failures, url: &str, why: &str, until: OffsetDateTime) {
        failures
            .reasons
            .push(format!("{url}: skipped, it failed just now ({why})"));
        failures.retry_at = Some(failures.retry_at.map_or(until, |t| t.min(until)));
    }

    async fn by_ocsp(
        &self,
        urls: &[String],
        id: &CertId,
        issuer: &X509Certificate<'_>,
        over: Option<&IssuerOverride>,
        at: OffsetDateTime,
        failures: &mut Failures,
    ) -> Option<Status> {
        let urls = Self::urls(over.and_then(|o| o.ocsp_url.as_ref()), urls);
        if urls.is_empty() {
            failures
                .reasons
                .push("OCSP: the certificate names no responder".into());
        }
        let require_nonce = over
            .and_then(|o| o.require_nonce)
            .unwrap_or(self.settings.ocsp.require_nonce);
        for url in urls {
            if let Some((why, until)) = self.health.skipped(url, at) {
                self.skip(failures, url, &why, until);
                continue;
            }
            match self.ask_ocsp(url, id, issuer, require_nonce, at).await {
                Ok(answer) => {
                    if let (Some(until), CertStatus::Good | CertStatus::Revoked { .. }) =
                        (answer.reusable_until, answer.status)
                    {
                        self.answers.insert(id.clone(), answer.status, until, at);
                    }
                    return Some(status_of(
                        answer.status,
                        &format!("the OCSP responder {url}"),
                    ));
                }
                Err(e) => failures.reasons.push(format!("OCSP {e}")),
            }
        }
        None
    }

    async fn by_crl(
        &self,
        urls: &[String],
        path: &ValidatedPath,
        index: usize,
        over: Option<&IssuerOverride>,
        failures: &mut Failures,
    ) -> Option<Status> {
        let urls = Self::urls(over.and_then(|o| o.crl_url.as_ref()), urls);
        if urls.is_empty() {
            failures
                .reasons
                .push("CRL: the certificate names no distribution point".into());
        }
        let at = path.at();
        for url in urls {
            if let Some((why, until)) = self.health.skipped(url, at) {
                self.skip(failures, url, &why, until);
                continue;
            }
            let crl = match self.crls.get(&self.fetcher, url, at).await {
                Ok(crl) => {
                    self.health.answered(url);
                    crl
                }
                Err(e) => {
                    if let CrlError::Fetch(fetch) = &e
                        && is_server_failure(fetch)
                    {
                        self.health.failed(url, &fetch.to_string(), at);
                    }
                    failures.reasons.push(format!("CRL {e}"));
                    continue;
                }
            };
            match self.crls.judge(url, crl, path, index).await {
                Ok(CrlVerdict::Good) => return Some(Status::Good),
                Ok(CrlVerdict::Revoked) => {
                    return Some(Status::Revoked(format!(
                        "listed as revoked in the CRL {url}"
                    )));
                }
                Err(e) => failures.reasons.push(format!("CRL {e}")),
            }
        }
        None
    }

    /// Downloads again the cached CRLs that expire within the refresh margin of `at`;
    /// the server calls this every minute so registrations find current CRLs cached.
    pub async fn refresh_crls(&self, at: OffsetDateTime) -> usize {
        self.crls
            .refresh(&self.fetcher, at + self.settings.crl_refresh_margin, at)
            .await
    }

    /// The cached CRL for `url`, if current at `at` (diagnostics and tests).
    pub fn cached_crl_this_update(&self, url: &str, at: OffsetDateTime) -> Option<OffsetDateTime> {
        self.crls.cached(url, at).map(|c| c.this_update)
    }
}

/// Why no source gave an answer, and when one may be asked again.
#[derive(Debug, Default)]
struct Failures {
    reasons: Vec<String>,
    /// The soonest a skipped server may be asked again, when servers were skipped.
    retry_at: Option<OffsetDateTime>,
}

/// How a refusal names an intermediate CA certificate of the path: by its subject, so
/// the operator knows which provider CA (or cross-certificate) it was.
fn intermediate_name(der: &[u8]) -> String {
    match x509_parser::parse_x509_certificate(der) {
        Ok((_, cert)) => format!("the intermediate CA certificate \"{}\"", cert.subject()),
        Err(_) => "an intermediate CA certificate on its path".into(),
    }
}

/// `Retry-After` when no server was skipped: a responder that failed on this request may
/// have answered about this certificate only.
const DEFAULT_RETRY_AFTER: u64 = 5;

impl OcspCrlChecker {
    /// What OCSP, then the CRL, say of link `index` of the path; the reasons when neither
    /// answers.
    async fn status_of_link(&self, path: &ValidatedPath, index: usize) -> Result<Status, Failures> {
        let at = path.at();
        let link = &path.links()[index];
        let parsed = parse(&link.cert).and_then(|c| Ok((c, parse(&link.issuer)?)));
        let (cert, issuer) = parsed.map_err(|e| Failures {
            reasons: vec![e.detail],
            retry_at: None,
        })?;
        let id = CertId::of(&cert, &issuer);
        if let Some(cached) = self.answers.get(&id, at) {
            crate::metrics::revocation_cache("ocsp", true);
            return Ok(status_of(cached, "a cached OCSP answer"));
        }
        crate::metrics::revocation_cache("ocsp", false);
        let pointers = RevocationPointers::of(&cert);
        let over = self.override_for(&id);
        let mut failures = Failures::default();
        if self.settings.methods.ocsp
            && let Some(status) = self
                .by_ocsp(&pointers.ocsp, &id, &issuer, over, at, &mut failures)
                .await
        {
            return Ok(status);
        }
        if self.settings.methods.crl
            && let Some(status) = self
                .by_crl(&pointers.crl, path, index, over, &mut failures)
                .await
        {
            return Ok(status);
        }
        Err(failures)
    }

    /// Every link in turn: the first revoked one refuses; one without an answer refuses
    /// under fail-closed, and is let through (logged) under soft-fail.
    async fn check_links(&self, path: &ValidatedPath) -> Result<(), Rejection> {
        for index in 0..path.links().len() {
            let what = match index {
                0 => "the certificate".to_owned(),
                _ => intermediate_name(&path.links()[index].cert),
            };
            match self.status_of_link(path, index).await {
                Ok(Status::Good) => {}
                Ok(Status::Revoked(why)) => {
                    return Err(Rejection::new(
                        ErrorCode::CertRevoked,
                        format!("{what} is {why}"),
                    ));
                }
                Err(failures) => {
                    let retry_after = failures.retry_at.map_or(DEFAULT_RETRY_AFTER, |t| {
                        u64::try_from((t - path.at()).whole_seconds().max(1)).unwrap_or(1)
                    });
                    self.unavailable(&what, &failures.reasons.join("; "), retry_after)?;
                }
            }
        }
        Ok(())
    }

    fn unavailable(&self, what: &str, why: &str, retry_after: u64) -> Result<(), Rejection> {
        match self.settings.on_unavailable {
            FailureMode::FailClosed => {
                tracing::info!(reasons = %why, "revocation status of {what} unavailable; refused");
                Err(Rejection::new(
                    ErrorCode::RevocationUnavailable,
                    format!("revocation status of {what} unavailable: {why}"),
                )
                .retry_after(retry_after))
            }
            FailureMode::SoftFail => {
                tracing::warn!(reasons = %why, "revocation status of {what} unavailable; accepted under soft-fail");
                Ok(())
            }
        }
    }
}

#[async_trait]
impl RevocationChecker for OcspCrlChecker {
    async fn check(&self, path: &ValidatedPath) -> Result<(), Rejection> {
        // However many links and sources, one check ends in bounded time.
        let budget = self.settings.timeout.saturating_mul(3);
        match tokio::time::timeout(budget, self.check_links(path)).await {
            Ok(verdict) => verdict,
            Err(_) => self.unavailable(
                "the certificates on its path",
                &format!("no answer within {} ms", budget.as_millis()),
                DEFAULT_RETRY_AFTER,
            ),
        }
    }

    fn is_checking(&self) -> bool {
        true
    }
}
