//! The least a request and its answer can cost a server on loopback TCP: a blocking
//! thread per connection that reads until the end of a request's head and writes one
//! fixed minimal answer — no HTTP parsing, no routing, no async runtime, no state.
//!
//! `kyso-load` sends it the same `GET /healthz` exchanges, from the same clients, as its
//! bare-HTTP pass sends the gateway, and states what its threads spent on the CPU per
//! round of three as a ratio to the signature floor. That is the kernel's share of three
//! exchanges (a `read` that sleeps until the request arrives, a `write` that delivers the
//! answer and wakes the client): a part of every registration's cost no server code can
//! remove, and so a bound on what the design's CPU target can ask.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// The fixed answer: what the client needs to read it as a `200` with an empty JSON body.
const ANSWER: &[u8] = b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n{}";

/// A running floor server on `127.0.0.1`; its threads end when their clients hang up.
pub struct TcpFloor {
    /// `http://127.0.0.1:PORT`.
    pub url: String,
    /// On-CPU nanoseconds of connection threads that have ended.
    spent: Arc<AtomicU64>,
    /// The connection threads, joined by [`Self::cpu`].
    threads: Arc<Mutex<Vec<std::thread::JoinHandle<()>>>>,
}

impl TcpFloor {
    /// Listens on an ephemeral loopback port and serves every connection on a thread.
    pub fn start() -> std::io::Result<Self> {
        let listener = TcpListener::bind("127.0.0.1:0")?;
        let url = format!("http://{}", listener.local_addr()?);
        let spent = Arc::new(AtomicU64::new(0));
        let threads = Arc::new(Mutex::new(Vec::new()));
        let (total, joined) = (spent.clone(), threads.clone());
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let total = total.clone();
                // Spawned and recorded under the lock: a client cannot finish (nor
                // `cpu` look) before its connection's thread is on the list.
                let mut threads = joined.lock().unwrap();
                threads.push(std::thread::spawn(move || {
                    let _ = stream.set_nodelay(true);
                    serve(stream);
                    total.fetch_add(thread_cpu_ns().unwrap_or(0), Ordering::Relaxed);
                }));
            }
        });
        Ok(Self {
            url,
            spent,
            threads,
        })
    }

    /// What the connection threads spent on the CPU so far, once every client has hung
    /// up (their threads are joined first).
    pub fn cpu(&self) -> Duration {
        for t in std::mem::take(&mut *self.threads.lock().unwrap()) {
            let _ = t.join();
        }
        Duration::from_nanos(self.spent.load(Ordering::Relaxed))
    }
}

/// Answers every request head (up to its blank line) on `stream` until the client hangs up.
fn serve(mut stream: TcpStream) {
    let mut buf = [0u8; 4096];
    let mut held = 0;
    loop {
        match stream.read(&mut buf[held..]) {
            Ok(0) | Err(_) => return,
            Ok(n) => held += n,
        }
        while let Some(end) = buf[..held].windows(4).position(|w| w == b"\r\n\r\n") {
            if stream.write_all(ANSWER).is_err() {
                return;
            }
            buf.copy_within(end + 4..held, 0);
            held -= end + 4;
        }
        if held == buf.len() {
            return; // not a request this server understands
        }
    }
}

/// The calling thread's time on the CPU (`/proc/thread-self/schedstat`, first field, in
/// nanoseconds: user and system time at the scheduler's resolution).
fn thread_cpu_ns() -> Option<u64> {
    std::fs::read_to_string("/proc/thread-self/schedstat")
        .ok()?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keep_alive::Connection;

    #[test]
    fn answers_requests_on_one_connection_and_counts_its_threads_time() {
        let floor = TcpFloor::start().unwrap();
        let mut connection = Connection::new(&floor.url);
        for _ in 0..3 {
            assert_eq!(connection.get("/healthz").unwrap().status, 200);
        }
        drop(connection);
        assert!(floor.cpu() > Duration::ZERO);
    }
}
