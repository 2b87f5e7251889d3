//! The edge against real sockets: slow heads, slow bodies and idle connections are cut
//! off while normal requests are answered; the connection cap makes clients wait instead
//! of failing; shutdown finishes with slow clients connected; refusals are problem
//! documents. No assertion measures speed: each checks an order of events (the normal
//! request is answered while the slow connections are still open) or that something
//! happens at all (a slow connection is closed), with generous bounds only to keep a
//! broken build from hanging.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code

use axum::Router;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use kyso_edge::{BodyLimits, EdgeLimits, Refusal, Refuse, serve_with_limits};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::oneshot;

/// Long enough that nothing legitimate trips it on a loaded machine.
const BOUND: Duration = Duration::from_secs(60);

fn refuse() -> Refuse {
    Arc::new(|r: Refusal| -> Response {
        let (status, code) = match r {
            Refusal::BodyTimeout => (StatusCode::REQUEST_TIMEOUT, "REQUEST_TIMEOUT"),
            Refusal::BodyTooLarge => (StatusCode::PAYLOAD_TOO_LARGE, "PAYLOAD_TOO_LARGE"),
            Refusal::NotFound => (StatusCode::NOT_FOUND, "NOT_FOUND"),
            Refusal::MethodNotAllowed => (StatusCode::METHOD_NOT_ALLOWED, "METHOD_NOT_ALLOWED"),
            Refusal::Overloaded => (StatusCode::SERVICE_UNAVAILABLE, "OVERLOADED"),
            Refusal::BadRequest(_) => (StatusCode::BAD_REQUEST, "BAD_REQUEST"),
            Refusal::Other(s) => (s, "OTHER"),
        };
        (
            status,
            [("content-type", "application/problem+json")],
            format!("{{\"code\":\"{code}\"}}"),
        )
            .into_response()
    })
}

struct Server {
    addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    done: tokio::task::JoinHandle<std::io::Result<()>>,
}

/// Bodies: 2 s, 1 KiB.
const BODY: BodyLimits = BodyLimits {
    deadline: Duration::from_secs(2),
    max_bytes: 1024,
};

async fn start(limits: EdgeLimits) -> Server {
    let routes = Router::new()
        .route("/ping", get(|| async { "pong" }))
        .route("/echo", post(|body: String| async move { body }))
        .route("/big", get(|| async { vec![b'x'; BIG_BYTES] }));
    let app = kyso_edge::body::whole_bodies(routes, BODY, refuse()).layer(
        axum::middleware::from_fn_with_state(refuse(), kyso_edge::problems::ensure),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = oneshot::channel();
    let done = tokio::spawn(serve_with_limits(listener, app, limits, async {
        let _ = stopped.await;
    }));
    Server {
        addr,
        stop: Some(stop),
        done,
    }
}

fn limits(max_connections: usize) -> EdgeLimits {
    limits_timed(max_connections, Duration::from_secs(2))
}

/// [`limits`] with `timeout` to send a head and between two writes: longer for tests
/// whose order must hold while a loaded machine opens hundreds of connections or
/// pauses a reader.
fn limits_timed(max_connections: usize, timeout: Duration) -> EdgeLimits {
    EdgeLimits {
        header_read: timeout,
        write_stall: timeout,
        max_connections,
        shutdown_grace: Duration::from_secs(5),
        shares: Vec::new(),
    }
}

/// Sends `request` on a new connection and reads the whole answer.
async fn exchange(addr: SocketAddr, request: &str) -> String {
    let mut s = TcpStream::connect(addr).await.unwrap();
    s.write_all(request.as_bytes()).await.unwrap();
    let mut out = Vec::new();
    tokio::time::timeout(BOUND, s.read_to_end(&mut out))
        .await
        .expect("an answer")
        .unwrap();
    String::from_utf8_lossy(&out).into_owned()
}

const PING: &str = "GET /ping HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";

/// More than a loopback socket's send buffer can hold, so an unread answer stalls.
const BIG_BYTES: usize = 16 << 20;

const BIG: &str = "GET /big HTTP/1.1\r\nHost: x\r\n\r\n";

/// Whether the server has closed `stream` (a read returns end-of-file or an error).
async fn closed(stream: &mut TcpStream) -> bool {
    let mut buf = [0u8; 256];
    loop {
        match stream.read(&mut buf).await {
            Ok(0) | Err(_) => return true,
            Ok(_) => {}
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hundreds_of_slow_heads_neither_stall_others_nor_stay_open() {
    let server = start(limits_timed(1024, Duration::from_secs(10))).await;
    let mut slow = Vec::new();
    for _ in 0..300 {
        let mut s = TcpStream::connect(server.addr).await.unwrap();
        s.write_all(b"GET /ping HTTP/1.1\r\nHost: x\r\n")
            .await
            .unwrap();
        slow.push(s);
    }
    let answer = exchange(server.addr, PING).await;
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert!(answer.ends_with("pong"));
    // The slow connections were all still open when the normal request was answered…
    let mut probe = [0u8; 1];
    for s in &slow {
        assert!(
            matches!(s.try_read(&mut probe), Err(e) if e.kind() == std::io::ErrorKind::WouldBlock)
        );
    }
    // …and the server closes every one of them, without a response.
    for s in &mut slow {
        assert!(tokio::time::timeout(BOUND, closed(s)).await.unwrap());
    }
    let mut silent = TcpStream::connect(server.addr).await.unwrap();
    assert!(
        tokio::time::timeout(BOUND, closed(&mut silent))
            .await
            .unwrap(),
        "a connection that sends nothing is closed too"
    );
    drop(server.stop);
    server.done.await.unwrap().unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_trickling_body_is_cut_off_with_a_problem_document() {
    let server = start(limits(64)).await;
    let mut s = TcpStream::connect(server.addr).await.unwrap();
    s.write_all(b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n")
        .await
        .unwrap();
    let trickle = async {
        loop {
            if s.write_all(b"a").await.is_err() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    };
    let _ = tokio::time::timeout(Duration::from_secs(4), trickle).await;
    let mut out = Vec::new();
    tokio::time::timeout(BOUND, s.read_to_end(&mut out))
        .await
        .unwrap()
        .ok();
    let answer = String::from_utf8_lossy(&out);
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(answer.contains("application/problem+json"));
    assert!(answer.contains("REQUEST_TIMEOUT"));
    let too_big = exchange(
        server.addr,
        &format!(
            "POST /echo HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Length: 2000\r\n\r\n{}",
            "b".repeat(2000)
        ),
    )
    .await;
    assert!(
        too_big.starts_with("HTTP/1.1 413") && too_big.contains("PAYLOAD_TOO_LARGE"),
        "{too_big}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_stops_reading_gives_back_its_connection() {
    // One connection slot, taken by a client with a tiny receive window that asks for two
    // large answers in one write (so the second is read while the first cannot be sent)
    // and reads nothing.
    let server = start(limits(1)).await;
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.set_recv_buffer_size(4096).unwrap();
    let mut stuck = socket.connect(server.addr).await.unwrap();
    stuck
        .write_all(format!("{BIG}{BIG}").as_bytes())
        .await
        .unwrap();
    // A fresh request gets the slot only once the server gives up on the stuck answer.
    let answer = exchange(server.addr, PING).await;
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert!(answer.ends_with("pong"));
    drop(stuck);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_reader_gets_its_whole_answer() {
    // The client pauses for half the stall limit again and again, longer than the limit
    // in all; between pauses it reads a few MiB, which lets the server write again: that
    // progress restarts the count.
    let server = start(limits_timed(4, Duration::from_secs(6))).await;
    let mut s = TcpStream::connect(server.addr).await.unwrap();
    s.write_all(b"GET /big HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    let mut answer = Vec::new();
    let mut chunk = vec![0u8; 64 * 1024];
    for pause in 1..=3 {
        tokio::time::sleep(Duration::from_secs(3)).await;
        while answer.len() < pause * (4 << 20) {
            let n = s.read(&mut chunk).await.unwrap();
            assert!(n > 0, "closed after {} bytes", answer.len());
            answer.extend_from_slice(&chunk[..n]);
        }
    }
    tokio::time::timeout(BOUND, s.read_to_end(&mut answer))
        .await
        .expect("the rest of the answer")
        .unwrap();
    assert!(answer.starts_with(b"HTTP/1.1 200"));
    let body = answer.iter().filter(|&&b| b == b'x').count();
    assert!(body >= BIG_BYTES, "{body} of {BIG_BYTES} bytes arrived");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_idle_keep_alive_connection_is_closed() {
    let server = start(limits(64)).await;
    let mut s = TcpStream::connect(server.addr).await.unwrap();
    s.write_all(b"GET /ping HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let mut buf = vec![0u8; 1024];
    let n = s.read(&mut buf).await.unwrap();
    assert!(String::from_utf8_lossy(&buf[..n]).starts_with("HTTP/1.1 200"));
    assert!(tokio::time::timeout(BOUND, closed(&mut s)).await.unwrap());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn over_the_cap_clients_wait_for_a_slot_instead_of_failing() {
    let server = start(limits(3)).await;
    let mut holders = Vec::new();
    for _ in 0..3 {
        let mut s = TcpStream::connect(server.addr).await.unwrap();
        s.write_all(b"GET /ping HTTP/1.1\r\nHost: x\r\n")
            .await
            .unwrap();
        holders.push(s);
    }
    // The fourth is accepted by the kernel, served when a slot frees (the slow heads time
    // out), and answered normally.
    let answer = exchange(server.addr, PING).await;
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    for s in &mut holders {
        assert!(tokio::time::timeout(BOUND, closed(s)).await.unwrap());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_finishes_with_slow_clients_connected_and_refusals_are_problems() {
    let mut server = start(limits(64)).await;
    let wrong_method = exchange(
        server.addr,
        "DELETE /ping HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    )
    .await;
    assert!(wrong_method.starts_with("HTTP/1.1 405"), "{wrong_method}");
    assert!(
        wrong_method.to_ascii_lowercase().contains("allow: get"),
        "{wrong_method}"
    );
    assert!(wrong_method.contains("METHOD_NOT_ALLOWED"));
    let unknown = exchange(
        server.addr,
        "GET /nope HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    )
    .await;
    assert!(
        unknown.starts_with("HTTP/1.1 404") && unknown.contains("NOT_FOUND"),
        "{unknown}"
    );

    let mut slow = TcpStream::connect(server.addr).await.unwrap();
    slow.write_all(b"GET /ping HTTP/1.1\r\n").await.unwrap();
    drop(server.stop.take());
    tokio::time::timeout(BOUND, &mut server.done)
        .await
        .expect("shutdown finishes")
        .unwrap()
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_gate_covers_every_route_it_is_given() {
    use kyso_edge::gate::{ConcurrencyGate, hold};
    let gate = ConcurrencyGate::new(1, Duration::from_millis(300), refuse());
    let (release, released) = tokio::sync::watch::channel(false);
    let app = Router::new()
        .route(
            "/slow",
            get(move || {
                let mut released = released.clone();
                async move {
                    let _ = released.wait_for(|r| *r).await;
                    "done"
                }
            }),
        )
        .route("/other", get(|| async { "other" }))
        .route_layer(axum::middleware::from_fn_with_state(gate.clone(), hold));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(serve_with_limits(
        listener,
        app,
        limits(64),
        std::future::pending(),
    ));
    let first = tokio::spawn(exchange(
        addr,
        "GET /slow HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    ));
    while gate.available() > 0 {
        tokio::task::yield_now().await;
    }
    // Another route under the same gate finds no permit: refused, not queued for ever.
    let other = exchange(
        addr,
        "GET /other HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    )
    .await;
    assert!(
        other.starts_with("HTTP/1.1 503") && other.contains("OVERLOADED"),
        "{other}"
    );
    release.send(true).unwrap();
    assert!(first.await.unwrap().ends_with("done"));
    let other = exchange(
        addr,
        "GET /other HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    )
    .await;
    assert!(other.ends_with("other"), "{other}");
}

/// One client holds at most its share of the connection slots: past it, a connection is
/// closed at once, while another client is served, and a peer the program does not
/// count (a proxy) is not held to it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_client_cannot_hold_every_connection_slot() {
    let proxy: std::net::IpAddr = [127, 0, 0, 3].into();
    let mut limits = limits_timed(8, Duration::from_secs(10));
    limits.shares = vec![kyso_edge::Share {
        max: 2,
        key: Arc::new(move |ip| (ip != proxy).then_some(ip)),
    }];
    let server = start(limits).await;
    let addr = server.addr;
    let from = |source: [u8; 4]| connect_from(addr, source);
    // Two keep-alive connections of one client, each answered and held open.
    let mut held = Vec::new();
    for _ in 0..2 {
        let mut s = from([127, 0, 0, 1]).await;
        assert!(pinged(&mut s).await);
        held.push(s);
    }
    // A third of the same client is closed unanswered.
    let mut third = from([127, 0, 0, 1]).await;
    assert!(!pinged(&mut third).await, "served past its share");
    // Another client is served; the proxy holds more than the share.
    let mut other = from([127, 0, 0, 2]).await;
    assert!(pinged(&mut other).await);
    let mut through_proxy = Vec::new();
    for _ in 0..4 {
        let mut s = from([127, 0, 0, 3]).await;
        assert!(pinged(&mut s).await);
        through_proxy.push(s);
    }
    // A held connection ends: the client may open another.
    drop(held.pop());
    tokio::time::sleep(Duration::from_millis(300)).await;
    let mut again = from([127, 0, 0, 1]).await;
    assert!(pinged(&mut again).await);
}

/// A group of clients (a network) holds at most its own share in all, however many
/// addresses it spreads its connections over; a client of another group is served, and
/// a connection refused by the group's share leaves its client's count as it was.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_network_cannot_hold_every_connection_slot_through_many_addresses() {
    let mut limits = limits_timed(16, Duration::from_secs(10));
    // 127.0.0.1–4 are one network, 127.0.0.9 another.
    let network = |ip: std::net::IpAddr| match ip {
        std::net::IpAddr::V4(v4) if v4.octets()[3] <= 4 => [127, 0, 0, 0].into(),
        other => other,
    };
    limits.shares = vec![
        kyso_edge::Share {
            max: 2,
            key: Arc::new(Some),
        },
        kyso_edge::Share {
            max: 3,
            key: Arc::new(move |ip| Some(network(ip))),
        },
    ];
    let server = start(limits).await;
    let addr = server.addr;
    let from = |source: [u8; 4]| connect_from(addr, source);
    let mut held = Vec::new();
    for source in [[127, 0, 0, 1], [127, 0, 0, 1], [127, 0, 0, 2]] {
        let mut s = from(source).await;
        assert!(pinged(&mut s).await);
        held.push(s);
    }
    // The network's three are taken: its other addresses are closed unanswered, even
    // one that holds less than its own share.
    for source in [[127, 0, 0, 2], [127, 0, 0, 3], [127, 0, 0, 4]] {
        let mut s = from(source).await;
        assert!(
            !pinged(&mut s).await,
            "{source:?} served past its network's share"
        );
    }
    let mut elsewhere = from([127, 0, 0, 9]).await;
    assert!(pinged(&mut elsewhere).await);
    // One of the first address's connections ends: the network may open one more, and
    // the second address (refused above, so never counted) still has its own room.
    drop(held.remove(0));
    tokio::time::sleep(Duration::from_millis(300)).await;
    let mut again = from([127, 0, 0, 2]).await;
    assert!(pinged(&mut again).await);
    let mut past = from([127, 0, 0, 3]).await;
    assert!(!pinged(&mut past).await, "served past its network's share");
}

/// A connection to `addr` from the loopback address `source`.
async fn connect_from(addr: SocketAddr, source: [u8; 4]) -> TcpStream {
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.bind((source, 0).into()).unwrap();
    socket.connect(addr).await.unwrap()
}

/// Whether a `GET /ping` on `s` is answered, leaving the connection open.
async fn pinged(s: &mut TcpStream) -> bool {
    // A connection closed at once may already refuse the write.
    if s.write_all(b"GET /ping HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .is_err()
    {
        return false;
    }
    let mut buf = [0u8; 512];
    let n = tokio::time::timeout(BOUND, s.read(&mut buf))
        .await
        .unwrap()
        .unwrap_or(0);
    String::from_utf8_lossy(&buf[..n]).contains("pong")
}
