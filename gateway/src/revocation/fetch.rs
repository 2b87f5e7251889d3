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

/// Redirects followed: at most three, each to http or https on the host the certificate
/// (or the operator) named. The URLs come from certificates and the answers travel in the
/// clear, so a redirect elsewhere (one an on-path attacker can inject) would make the
/// gateway call into its own network; it is answered as the 3xx it is.
fn same_host_redirects() -> reqwest::redirect::Policy {
    reqwest::redirect::Policy::custom(|attempt| {
        let first_host = attempt.previous().first().and_then(|u| u.host_str());
        let same_host = first_host.is_some() && attempt.url().host_str() == first_host;
        let web = matches!(attempt.url().scheme(), "http" | "https");
        if attempt.previous().len() > 3 || !same_host || !web {
            attempt.stop()
        } else {
            attempt.follow()
        }
    })
}

impl HttpFetcher {
    /// A client whose every call ends within `timeout`, accepting CRLs up to
    /// `crl_max_bytes`.
    pub fn new(timeout: Duration, crl_max_bytes: usize) -> Result<Self, FetchError> {
        let client = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(timeout)
            .redirect(same_host_redirects())
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
        let started = std::time::Instant::now();
        let response = self
            .client
            .post(url)
            .header(reqwest::header::CONTENT_TYPE, "application/ocsp-request")
            .header(reqwest::header::ACCEPT, "application/ocsp-response")
            .body(request)
            .send()
            .await;
        counted(
            "ocsp",
            started,
            read_limited(url, response, OCSP_MAX_BYTES).await,
        )
    }

    /// GETs a CRL and returns its bytes (DER, or PEM which the caller decodes).
    pub async fn get_crl(&self, url: &str) -> Result<Vec<u8>, FetchError> {
        check_scheme(url)?;
        let started = std::time::Instant::now();
        let response = self.client.get(url).send().await;
        counted(
            "crl",
            started,
            read_limited(url, response, self.crl_max_bytes).await,
        )
    }
}

/// Records a download's outcome and time.
fn counted(
    kind: &'static str,
    started: std::time::Instant,
    fetched: Result<Vec<u8>, FetchError>,
) -> Result<Vec<u8>, FetchError> {
    let outcome = match &fetched {
        Ok(_) => "ok",
        Err(FetchError::UnsupportedUrl(_)) => "unsupported_url",
        Err(FetchError::Transport { .. }) => "transport",
        Err(FetchError::Status { .. }) => "status",
        Err(FetchError::TooLarge { .. }) => "too_large",
    };
    crate::metrics::revocation_fetch(kind, outcome, started.elapsed());
    fetched
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read, Write};
    use std::net::TcpListener;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    /// A one-connection-at-a-time HTTP server on loopback answering every request with
    /// `answer` (raw bytes; `None` to accept and never answer). Its URL.
    fn server(answer: Option<Vec<u8>>) -> String {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}/x", listener.local_addr().unwrap());
        std::thread::spawn(move || {
            let mut held = Vec::new();
            for stream in listener.incoming() {
                let Ok(mut s) = stream else { return };
                let mut head = [0u8; 4096];
                let _ = s.read(&mut head);
                match &answer {
                    Some(bytes) => {
                        let _ = s.write_all(bytes);
                    }
                    None => held.push(s),
                }
            }
        });
        url
    }

    fn ok_with(body: &[u8], content_length: bool) -> Vec<u8> {
        let mut out = if content_length {
            format!(
                "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                body.len()
            )
        } else {
            "HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n".to_owned()
        }
        .into_bytes();
        out.extend_from_slice(body);
        out
    }

    /// A fetcher with time enough for a loopback server on a loaded machine.
    fn fetcher(crl_max_bytes: usize) -> HttpFetcher {
        HttpFetcher::new(Duration::from_secs(10), crl_max_bytes).unwrap()
    }

    #[tokio::test]
    async fn a_body_up_to_the_limit_is_read_and_one_byte_more_is_refused() {
        let f = fetcher(100);
        let exact = server(Some(ok_with(&[7; 100], true)));
        assert_eq!(f.get_crl(&exact).await.unwrap(), vec![7; 100]);
        for declared in [true, false] {
            // Refused from the declared length, or while reading an undeclared one.
            let over = server(Some(ok_with(&[7; 101], declared)));
            assert_eq!(
                f.get_crl(&over).await,
                Err(FetchError::TooLarge {
                    url: over.clone(),
                    limit: 100
                }),
                "declared length: {declared}"
            );
        }
        let ocsp = server(Some(ok_with(&vec![1; OCSP_MAX_BYTES + 1], false)));
        assert!(matches!(
            f.post_ocsp(&ocsp, vec![0x30, 0x00]).await,
            Err(FetchError::TooLarge {
                limit: OCSP_MAX_BYTES,
                ..
            })
        ));
    }

    #[tokio::test]
    async fn a_server_that_never_answers_costs_the_timeout_and_no_more() {
        let silent = server(None);
        // The fetcher's own deadline (500 ms) ends the call; the outer bound, forty
        // times longer, only keeps a broken deadline from hanging the suite.
        let impatient = HttpFetcher::new(Duration::from_millis(500), 100).unwrap();
        let r = tokio::time::timeout(Duration::from_secs(20), impatient.get_crl(&silent))
            .await
            .expect("the fetch ends at its own deadline");
        assert!(matches!(r, Err(FetchError::Transport { .. })), "{r:?}");
    }

    /// A server on `host` that counts its connections and answers each with `answer`.
    fn counting_server(host: &str, answer: Vec<u8>) -> (String, Arc<AtomicUsize>) {
        let listener = TcpListener::bind((host, 0)).unwrap();
        let url = format!("http://{}/x", listener.local_addr().unwrap());
        let count = Arc::new(AtomicUsize::new(0));
        let counted = count.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(mut s) = stream else { return };
                counted.fetch_add(1, Ordering::SeqCst);
                let mut head = [0u8; 4096];
                let _ = s.read(&mut head);
                let _ = s.write_all(&answer);
            }
        });
        (url, count)
    }

    fn redirect_to(url: &str) -> Vec<u8> {
        format!("HTTP/1.1 302 Found\r\nLocation: {url}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
            .into_bytes()
    }

    #[tokio::test]
    async fn redirects_stay_on_the_named_host() {
        // Another host (127.0.0.2 is loopback too, but not the host the URL named).
        let (elsewhere, reached) = counting_server("127.0.0.2", ok_with(b"crl", true));
        let (start, _) = counting_server("127.0.0.1", redirect_to(&elsewhere));
        assert!(matches!(
            fetcher(100).get_crl(&start).await,
            Err(FetchError::Status { status: 302, .. })
        ));
        assert_eq!(reached.load(Ordering::SeqCst), 0, "never called");
        // The same host, another port: followed.
        let (moved, reached) = counting_server("127.0.0.1", ok_with(b"crl", true));
        let (start, _) = counting_server("127.0.0.1", redirect_to(&moved));
        assert_eq!(fetcher(100).get_crl(&start).await.unwrap(), b"crl");
        assert_eq!(reached.load(Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn only_200_is_an_answer_and_only_http_is_fetched() {
        let missing = server(Some(
            b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n".to_vec(),
        ));
        assert_eq!(
            fetcher(100).get_crl(&missing).await,
            Err(FetchError::Status {
                url: missing.clone(),
                status: 404
            })
        );
        for url in [
            "ldap://ldap.example/cn=CA?certificateRevocationList",
            "file:///etc/passwd",
        ] {
            assert_eq!(
                fetcher(100).get_crl(url).await,
                Err(FetchError::UnsupportedUrl(url.into()))
            );
        }
        assert!(check_scheme("HTTPS://ca.example/crl").is_ok());
    }
}
