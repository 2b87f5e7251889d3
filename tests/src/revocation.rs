//! Real revocation services for tests: `openssl ocsp` answering from a test CA's
//! database (`index.txt`), recorded OpenSSL answers, and a small static HTTP server that
//! publishes CRLs or replays recorded OCSP answers.

use crate::run;
use kyso_certs::Manifest;
use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

/// Who signs the responder's answers, and how long they are valid.
#[derive(Debug, Clone)]
pub struct ResponderOptions {
    /// Signer certificate (PEM).
    pub signer_cert: PathBuf,
    /// Signer key (PEM).
    pub signer_key: PathBuf,
    /// nextUpdate = thisUpdate + this many minutes; `None` leaves nextUpdate out.
    pub next_update_minutes: Option<u32>,
    /// Port to listen on; 0 picks a free one.
    pub port: u16,
}

impl ResponderOptions {
    /// The CA's own delegated responder (`ocsp.pem`), answers valid for 5 minutes.
    pub fn of_ca(pki: &Path, manifest: &Manifest, ca: &str) -> Self {
        let entry = manifest.ca(ca).expect("CA");
        Self {
            signer_cert: pki.join(&entry.ocsp_cert),
            signer_key: pki.join(&entry.ocsp_key),
            next_update_minutes: Some(5),
            port: 0,
        }
    }
}

/// `openssl ocsp` serving one CA's database; killed when dropped.
pub struct OcspResponder {
    child: Child,
    /// `http://127.0.0.1:PORT/`.
    pub url: String,
}

fn openssl_ocsp_args(
    pki: &Path,
    manifest: &Manifest,
    ca: &str,
    o: &ResponderOptions,
) -> Vec<String> {
    let entry = manifest.ca(ca).expect("CA");
    let path = |rel: &str| pki.join(rel).display().to_string();
    let mut args = vec![
        "ocsp".to_owned(),
        "-index".into(),
        path(&entry.index),
        "-CA".into(),
        path(&entry.cert),
        "-rsigner".into(),
        o.signer_cert.display().to_string(),
        "-rkey".into(),
        o.signer_key.display().to_string(),
    ];
    if let Some(minutes) = o.next_update_minutes {
        args.extend(["-nmin".into(), minutes.to_string()]);
    }
    args
}

impl OcspResponder {
    /// Starts a responder for CA `ca` of the PKI in `pki`.
    pub fn start(pki: &Path, manifest: &Manifest, ca: &str, options: &ResponderOptions) -> Self {
        let mut args = openssl_ocsp_args(pki, manifest, ca, options);
        args.extend([
            "-port".into(),
            options.port.to_string(),
            "-ignore_err".into(),
        ]);
        let mut child = Command::new("openssl")
            .args(&args)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("start openssl ocsp (is openssl installed?)");
        let mut line = String::new();
        BufReader::new(child.stdout.take().expect("stdout"))
            .read_line(&mut line)
            .expect("openssl ocsp banner");
        // "ACCEPT [::]:PORT PID=N"
        let port = line
            .split_whitespace()
            .nth(1)
            .and_then(|addr| addr.rsplit(':').next())
            .and_then(|p| p.parse::<u16>().ok())
            .unwrap_or_else(|| panic!("unexpected openssl ocsp banner {line:?}"));
        Self {
            child,
            url: format!("http://127.0.0.1:{port}/"),
        }
    }

    /// Stops the responder now (a test that needs it gone before the end).
    pub fn stop(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for OcspResponder {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A genuine answer from CA `ca`'s responder about `cert` (PEM), made by OpenSSL for a
/// request with OpenSSL's own nonce: replaying it to a client that sent another nonce is
/// the attack the nonce exists for.
pub fn recorded_answer(
    pki: &Path,
    manifest: &Manifest,
    ca: &str,
    cert: &Path,
    dir: &Path,
) -> Vec<u8> {
    let entry = manifest.ca(ca).expect("CA");
    let request = dir.join("recorded-request.der");
    let response = dir.join("recorded-response.der");
    let out = run(Command::new("openssl")
        .args(["ocsp", "-issuer"])
        .arg(pki.join(&entry.cert))
        .arg("-cert")
        .arg(cert)
        .arg("-reqout")
        .arg(&request));
    assert!(out.status.success(), "openssl ocsp -reqout: {out:?}");
    let options = ResponderOptions::of_ca(pki, manifest, ca);
    let out = run(Command::new("openssl")
        .args(openssl_ocsp_args(pki, manifest, ca, &options))
        .arg("-reqin")
        .arg(&request)
        .arg("-respout")
        .arg(&response));
    assert!(out.status.success(), "openssl ocsp -respout: {out:?}");
    std::fs::read(&response).expect("recorded response")
}

/// A URL nothing listens on (a port just released): connections are refused.
pub fn dead_url() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    drop(listener);
    format!("http://127.0.0.1:{port}/")
}

type Routes = Arc<Mutex<HashMap<String, Vec<u8>>>>;

/// A static HTTP/1.1 server on loopback: answers any method on a known path with its
/// bytes, 404 otherwise; counts the requests. Stopped when dropped.
pub struct StaticServer {
    /// `http://127.0.0.1:PORT`.
    pub url: String,
    routes: Routes,
    hits: Arc<AtomicUsize>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

fn serve_one(mut stream: TcpStream, routes: &Routes) {
    let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
    let mut reader = BufReader::new(match stream.try_clone() {
        Ok(s) => s,
        Err(_) => return,
    });
    let mut first = String::new();
    if reader.read_line(&mut first).is_err() {
        return;
    }
    let mut length = 0usize;
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).is_err() || line.trim().is_empty() {
            break;
        }
        if let Some((k, v)) = line.split_once(':')
            && k.eq_ignore_ascii_case("content-length")
        {
            length = v.trim().parse().unwrap_or(0);
        }
    }
    let mut body = vec![0; length];
    let _ = reader.read_exact(&mut body);
    let path = first.split_whitespace().nth(1).unwrap_or("/").to_owned();
    let found = routes.lock().unwrap().get(&path).cloned();
    let (status, bytes) = match found {
        Some(b) => ("200 OK", b),
        None => ("404 Not Found", Vec::new()),
    };
    let head = format!(
        "HTTP/1.1 {status}\r\nContent-Length: {}\r\nContent-Type: application/octet-stream\r\nConnection: close\r\n\r\n",
        bytes.len()
    );
    let _ = stream.write_all(head.as_bytes());
    let _ = stream.write_all(&bytes);
}

impl StaticServer {
    /// Serves `routes` (path → bytes) on a free port.
    pub fn start(routes: &[(&str, Vec<u8>)]) -> Self {
        Self::start_on(0, routes)
    }

    /// Serves `routes` on `port` (0 picks a free one).
    pub fn start_on(port: u16, routes: &[(&str, Vec<u8>)]) -> Self {
        let listener = TcpListener::bind(("127.0.0.1", port)).expect("bind static server");
        let port = listener.local_addr().expect("addr").port();
        let routes: Routes = Arc::new(Mutex::new(
            routes
                .iter()
                .map(|(p, b)| ((*p).to_owned(), b.clone()))
                .collect(),
        ));
        let hits = Arc::new(AtomicUsize::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let thread = {
            let (routes, hits, stop) = (routes.clone(), hits.clone(), stop.clone());
            std::thread::spawn(move || {
                for stream in listener.incoming() {
                    if stop.load(Ordering::SeqCst) {
                        break;
                    }
                    if let Ok(stream) = stream {
                        hits.fetch_add(1, Ordering::SeqCst);
                        serve_one(stream, &routes);
                    }
                }
            })
        };
        Self {
            url: format!("http://127.0.0.1:{port}"),
            routes,
            hits,
            stop,
            thread: Some(thread),
        }
    }

    /// Replaces what `path` serves.
    pub fn set(&self, path: &str, bytes: Vec<u8>) {
        self.routes.lock().unwrap().insert(path.to_owned(), bytes);
    }

    /// Requests served so far.
    pub fn hits(&self) -> usize {
        self.hits.load(Ordering::SeqCst)
    }
}

impl Drop for StaticServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Wake the blocking accept.
        let _ = TcpStream::connect(self.url.trim_start_matches("http://"));
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}
