//! A persistent HTTP/1.1 connection for load tools: requests one after another on the
//! same socket, as a browser or a portal's back end sends them, instead of a new TCP
//! connection per request ([`crate::processes::try_request`]).

use crate::processes::Reply;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::time::Duration;

/// One keep-alive connection to `host:port`, opened on first use and again after the
/// server closes it.
pub struct Connection {
    host: String,
    stream: Option<BufReader<TcpStream>>,
}

impl Connection {
    /// A connection to the server at `url` (`http://host:port`).
    pub fn new(url: &str) -> Self {
        Self {
            host: url
                .trim_start_matches("http://")
                .trim_end_matches('/')
                .to_owned(),
            stream: None,
        }
    }

    /// POSTs `body` as JSON to `path`. A connection the server closed while idle is
    /// opened again once; any other failure is returned.
    pub fn post(&mut self, path: &str, body: &serde_json::Value) -> Result<Reply, String> {
        self.send("POST", path, Some(&body.to_string()))
    }

    /// GETs `path`, retried as [`Self::post`] is.
    pub fn get(&mut self, path: &str) -> Result<Reply, String> {
        self.send("GET", path, None)
    }

    fn send(&mut self, method: &str, path: &str, body: Option<&str>) -> Result<Reply, String> {
        let reused = self.stream.is_some();
        let result = match self.exchange(method, path, body) {
            Err(Failure::BeforeAnswer(_)) if reused => {
                self.stream = None;
                self.exchange(method, path, body)
            }
            other => other,
        };
        if result.is_err() {
            self.stream = None; // in an unknown state
        }
        result.map_err(Failure::into_message)
    }

    fn exchange(&mut self, method: &str, path: &str, body: Option<&str>) -> Result<Reply, Failure> {
        if self.stream.is_none() {
            let stream = TcpStream::connect(&self.host)
                .map_err(|e| Failure::Other(format!("connect: {e}")))?;
            stream
                .set_nodelay(true)
                .map_err(|e| Failure::Other(e.to_string()))?;
            stream
                .set_read_timeout(Some(Duration::from_secs(60)))
                .map_err(|e| Failure::Other(e.to_string()))?;
            self.stream = Some(BufReader::new(stream));
        }
        let reader = self
            .stream
            .as_mut()
            .ok_or(Failure::Other("no stream".into()))?;
        let request = match body {
            Some(body) => format!(
                "{method} {path} HTTP/1.1\r\nHost: {}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
                self.host,
                body.len()
            ),
            None => format!("{method} {path} HTTP/1.1\r\nHost: {}\r\n\r\n", self.host),
        };
        reader
            .get_mut()
            .write_all(request.as_bytes())
            .map_err(|e| Failure::BeforeAnswer(format!("send: {e}")))?;
        let mut line = String::new();
        match reader.read_line(&mut line) {
            Ok(0) => return Err(Failure::BeforeAnswer("closed".into())),
            Err(e) => return Err(Failure::BeforeAnswer(format!("read: {e}"))),
            Ok(_) => {}
        }
        let status = line
            .split_whitespace()
            .nth(1)
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| Failure::Other(format!("no status line: {line:?}")))?;
        let mut headers = Vec::new();
        loop {
            line.clear();
            reader
                .read_line(&mut line)
                .map_err(|e| Failure::Other(format!("read: {e}")))?;
            let trimmed = line.trim_end();
            if trimmed.is_empty() {
                break;
            }
            if let Some((k, v)) = trimmed.split_once(':') {
                headers.push((k.trim().to_ascii_lowercase(), v.trim().to_owned()));
            }
        }
        let header = |name: &str| {
            headers
                .iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.as_str())
        };
        let length: usize = header("content-length")
            .and_then(|v| v.parse().ok())
            .ok_or_else(|| Failure::Other("an answer without Content-Length".into()))?;
        let mut bytes = vec![0; length];
        reader
            .read_exact(&mut bytes)
            .map_err(|e| Failure::Other(format!("read body: {e}")))?;
        if header("connection").is_some_and(|v| v.eq_ignore_ascii_case("close")) {
            self.stream = None;
        }
        let json = serde_json::from_slice(&bytes).unwrap_or(serde_json::Value::Null);
        Ok(Reply {
            status,
            headers,
            json,
        })
    }
}

/// Why an exchange failed: before any answer arrived (worth one retry on a reused
/// connection: the server may have closed it while idle), or later.
enum Failure {
    BeforeAnswer(String),
    Other(String),
}

impl Failure {
    fn into_message(self) -> String {
        match self {
            Self::BeforeAnswer(m) | Self::Other(m) => m,
        }
    }
}
