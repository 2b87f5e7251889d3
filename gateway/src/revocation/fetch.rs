//! Fetching OCSP answers and CRLs over HTTP: a timeout on every call and a size limit on
//! every body, so a slow or hostile server costs a bounded wait and bounded memory.
//!
//! URLs come from certificates whose path already verified (their CA wrote them) or from
//! the operator's configuration; only `http` and `https` are fetched (RFC 5280 also allows
//! `ldap`, which is skipped).

use crate::http_client::ReadError;
use std::time::Duration;

/// Largest OCSP response accepted. Real ones are a few kilobytes.
const OCSP_MAX_BYTES: usize = 64 * 1024;

/// A fetch that produced no usable bytes.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FetchError {
    /// The URL is not http(s).
    #[error("{0}: only http and https URLs are fetched")]
    UnsupportedUrl(String),
    /// Connection, timeout or protocol failure.
    #[error("{url}: {detail}")]
    Transport {
        /// Where.
        url: String,
        /// What happened.
        detail: String,
    },
    /// The server answered with a status other than 200.
    #[error("{url}: HTTP status {status}")]
    Status {
        /// Where.
        url: String,
        /// The status.
        status: u16,
    },
    /// The body was larger than allowed.
    #[error("{url}: the answer is larger than {limit} bytes")]
    TooLarge {
        /// Where.
        url: String,
        /// The limit.
        limit: usize,
    },
}

/// The HTTP client revocation checking uses.
#[derive(Debug, Clone)]
pub struct HttpFetcher {
    client: reqwest::Client,
    crl_max_bytes: usize,
}

fn check_scheme(url: &str) -> Result<(), FetchError> {
    let lower = url.to_ascii_lowercase();
    if lower.starts_with("http://") || lower.starts_with("https://") {
        Ok(())
    } else {
        Err(FetchError::UnsupportedUrl(url.to_owned()))
    }
}

impl HttpFetcher {
    /// A client whose every call ends within `timeout`, accepting CRLs up to
    /// `crl_max_bytes`.
    pub fn new(timeout: Duration, crl_max_bytes: usize) -> Result<Self, FetchError> {
        let client = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(timeout)
            .redirect(reqwest::redirect::Policy::limited(3))
            .user_agent(concat!("kyso-gateway/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| FetchError::Transport {
                url: String::new(),
                detail: e.to_string(),
            })?;
        Ok(Self {
            client,
            crl_max_bytes,
        })
    }

    /// POSTs an OCSP request (RFC 6960 appendix A.1) and returns the response body.
    pub async fn post_ocsp(&self, url: &str, request: Vec<u8>) -> Result<Vec<u8>, FetchError> {
        check_scheme(url)?;
        let response = self
            .client
            .post(url)
            .header(reqwest::header::CONTENT_TYPE, "application/ocsp-request")
            .header(reqwest::header::ACCEPT, "application/ocsp-response")
            .body(request)
            .send()
            .await;
        read_limited(url, response, OCSP_MAX_BYTES).await
    }

    /// GETs a CRL and returns its bytes (DER, or PEM which the caller decodes).
    pub async fn get_crl(&self, url: &str) -> Result<Vec<u8>, FetchError> {
        check_scheme(url)?;
        let response = self.client.get(url).send().await;
        read_limited(url, response, self.crl_max_bytes).await
    }
}

async fn read_limited(
    url: &str,
    response: reqwest::Result<reqwest::Response>,
    limit: usize,
) -> Result<Vec<u8>, FetchError> {
    let response = response.map_err(|e| FetchError::Transport {
        url: url.to_owned(),
        detail: e.to_string(),
    })?;
    if response.status() != reqwest::StatusCode::OK {
        return Err(FetchError::Status {
            url: url.to_owned(),
            status: response.status().as_u16(),
        });
    }
    crate::http_client::read_limited(response, limit)
        .await
        .map_err(|e| match e {
            ReadError::TooLarge(limit) => FetchError::TooLarge {
                url: url.to_owned(),
                limit,
            },
            ReadError::Transport(detail) => FetchError::Transport {
                url: url.to_owned(),
                detail,
            },
        })
}
