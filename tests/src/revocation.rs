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

/// The URL of a server that is down: it holds its port for the life of the test process
/// (so no other program can take it) and drops every connection unanswered.
pub fn dead_url() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            drop(stream);
        }
    });
    format!("http://127.0.0.1:{port}/")
}

/// The national root's answers about the provider CAs under it: its own `openssl ocsp`
/// responder, and its CRL served over loopback. A gateway that checks revocation asks
/// about every certificate on a path but the anchor, the configured provider CAs too, so
/// every such test gateway is pointed at these. Stopped when dropped.
pub struct RootSources {
    /// The root's responder.
    pub ocsp: OcspResponder,
    /// Serves the root's current CRL at `/root.crl`.
    pub crl: StaticServer,
    root_cert: PathBuf,
}

impl RootSources {
    /// Starts the root's responder and CRL server from the test PKI at `pki`.
    pub fn start(pki: &Path, manifest: &Manifest) -> Self {
        let entry = manifest.ca("root").expect("the root CA");
        let crl = std::fs::read(pki.join(&entry.crl)).expect("the root's CRL");
        Self {
            ocsp: OcspResponder::start(
                pki,
                manifest,
                "root",
                &ResponderOptions::of_ca(pki, manifest, "root"),
            ),
            crl: StaticServer::start(&[("/root.crl", crl)]),
            root_cert: pki.join(&entry.cert),
        }
    }

    /// Where the root's CRL is served.
    pub fn crl_url(&self) -> String {
        format!("{}/root.crl", self.crl.url)
    }

    /// The `[[revocation.issuers]]` entry that points a gateway at them.
    pub fn issuer_entry(&self) -> String {
        format!(
            "[[revocation.issuers]]\ncertificate = {:?}\nocsp_url = {:?}\ncrl_url = {:?}\n",
            self.root_cert.display().to_string(),
            self.ocsp.url,
            self.crl_url()
        )
    }
}

/// One request as read off the wire: request line, headers' Content-Length, body.
fn read_request(reader: &mut BufReader<TcpStream>) -> Option<(String, Vec<u8>)> {
    let mut first = String::new();
    reader.read_line(&mut first).ok()?;
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
    reader.read_exact(&mut body).ok()?;
    Some((first, body))
}

/// A proxy in front of an upstream HTTP server (an `openssl ocsp` responder, say) that
/// answers the requests it is told to with a bare HTTP status instead of forwarding them:
/// a responder that refuses one certificate's request, or fails for a moment. Stopped
/// when dropped.
pub struct ScriptedProxy {
    /// `http://127.0.0.1:PORT`.
    pub url: String,
    upstream: Arc<Mutex<Option<String>>>,
    script: Arc<Mutex<std::collections::VecDeque<u16>>>,
    hits: Arc<AtomicUsize>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

fn forward(upstream: &str, first: &str, body: &[u8]) -> Option<Vec<u8>> {
    let host = upstream.trim_start_matches("http://").trim_end_matches('/');
    let mut conn = TcpStream::connect(host).ok()?;
    let path = first.split_whitespace().nth(1).unwrap_or("/");
    let method = first.split_whitespace().next().unwrap_or("POST");
    let head = format!(
        "{method} {path} HTTP/1.0\r\nHost: {host}\r\nContent-Type: application/ocsp-request\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    conn.write_all(head.as_bytes()).ok()?;
    conn.write_all(body).ok()?;
    let mut answer = Vec::new();
    conn.read_to_end(&mut answer).ok()?;
    Some(answer)
}

impl ScriptedProxy {
    /// A proxy with no upstream yet (every unscripted request gets 502).
    pub fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind proxy");
        let port = listener.local_addr().expect("addr").port();
        let upstream: Arc<Mutex<Option<String>>> = Arc::default();
        let script: Arc<Mutex<std::collections::VecDeque<u16>>> = Arc::default();
        let hits = Arc::new(AtomicUsize::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let thread = {
            let (upstream, script, hits, stop) =
                (upstream.clone(), script.clone(), hits.clone(), stop.clone());
            std::thread::spawn(move || {
                for stream in listener.incoming() {
                    if stop.load(Ordering::SeqCst) {
                        break;
                    }
                    let Ok(mut stream) = stream else { continue };
                    hits.fetch_add(1, Ordering::SeqCst);
                    let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
                    let Ok(clone) = stream.try_clone() else {
                        continue;
                    };
                    let Some((first, body)) = read_request(&mut BufReader::new(clone)) else {
                        continue;
                    };
                    let scripted = script.lock().unwrap().pop_front();
                    let answer = match scripted {
                        Some(status) => Some(
                            format!("HTTP/1.1 {status} Scripted\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
                                .into_bytes(),
                        ),
                        None => upstream
                            .lock()
                            .unwrap()
                            .clone()
                            .and_then(|u| forward(&u, &first, &body)),
                    };
                    let answer = answer.unwrap_or_else(|| {
                        b"HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\nConnection: close\r\n\r\n".to_vec()
                    });
                    let _ = stream.write_all(&answer);
                }
            })
        };
        Self {
            url: format!("http://127.0.0.1:{port}"),
            upstream,
            script,
            hits,
            stop,
            thread: Some(thread),
        }
    }

    /// Where unscripted requests go.
    pub fn set_upstream(&self, url: &str) {
        *self.upstream.lock().unwrap() = Some(url.to_owned());
    }

    /// The next request not yet scripted is answered with `status` and nothing else.
    pub fn then_answer(&self, status: u16) {
        self.script.lock().unwrap().push_back(status);
    }

    /// Requests received so far.
    pub fn hits(&self) -> usize {
        self.hits.load(Ordering::SeqCst)
    }
}

impl Drop for ScriptedProxy {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect(self.url.trim_start_matches("http://"));
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
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
    let Ok(clone) = stream.try_clone() else {
        return;
    };
    let Some((first, _)) = read_request(&mut BufReader::new(clone)) else {
        return;
    };
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
