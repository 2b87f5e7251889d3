//! The accept loop.
//!
//! - A connection slot is taken *before* `accept`, so over the cap new clients wait in the
//!   kernel's listen backlog and cost the process no file descriptor; a slot is freed when
//!   its connection ends.
//! - Each connection is HTTP/1 (hyper), one request at a time, so the connection cap is
//!   also a cap on requests in flight. hyper's header-read timer (armed from the moment a
//!   connection is accepted, and again whenever it falls idle after a response) closes
//!   connections that do not send a complete request head in time: one timer for slow
//!   heads and idle keep-alive connections. Writing an answer is timed too: a client that
//!   stops reading loses its connection once no byte has moved for
//!   [`EdgeLimits::write_stall`] ([`crate::stall`]).
//! - The body is read whole against its own deadline by the program's router
//!   ([`crate::body::whole_bodies`], inside the layers that finish its answers). (The
//!   program's router also adds [`crate::problems::ensure`], or calls
//!   [`crate::problems::replace_bare`] in a layer of its own, so that it holds in process
//!   too.)
//! - One client may hold at most [`Share::max`] of the slots, and so may each group of
//!   clients the program names ([`EdgeLimits::shares`]: a client, then its network): a
//!   connection past either is closed as soon as it is accepted, so one address keeping
//!   thousands of keep-alive connections busy cannot take every slot, nor can one
//!   network rotating through its addresses. Peers the program says not to count
//!   (proxies carrying many clients) are not.
//! - On shutdown the loop stops accepting, connections finish what they are doing (idle
//!   ones close at once), and whatever is left after the grace period is aborted.
//!
//! Handlers still see `ConnectInfo<SocketAddr>`, as under `axum::serve`.

use crate::stall::WriteStall;
use axum::Router;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use std::collections::HashMap;
use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio::task::JoinSet;
use tower::Service;

/// Who a connection counts against: a key for its peer's address (an IPv6 /64, say), or
/// `None` for a peer not to count (a trusted proxy).
pub type ClientKey = Arc<dyn Fn(IpAddr) -> Option<IpAddr> + Send + Sync>;

/// At most `max` connections open at once per group of peers, as `key` groups them.
#[derive(Clone)]
pub struct Share {
    /// Connections one group may hold.
    pub max: usize,
    /// Which group a peer is in.
    pub key: ClientKey,
}

impl std::fmt::Debug for Share {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Share")
            .field("max", &self.max)
            .finish_non_exhaustive()
    }
}

/// A group of peers: the index of its [`Share`] and its key.
type Group = (usize, IpAddr);

/// The connections each group holds, and a release of one when it ends.
#[derive(Default)]
struct Holdings(std::sync::Mutex<HashMap<Group, usize>>);

impl Holdings {
    /// Counts one more connection of `peer` in each of its groups, unless one of them
    /// holds its share already: then nothing is counted.
    fn take(self: &Arc<Self>, shares: &[Share], peer: IpAddr) -> Option<Held> {
        let groups: Vec<(Group, usize)> = shares
            .iter()
            .enumerate()
            .filter_map(|(i, share)| (share.key)(peer).map(|key| ((i, key), share.max)))
            .collect();
        let mut open = self.0.lock().unwrap_or_else(|p| p.into_inner());
        if groups
            .iter()
            .any(|(group, max)| open.get(group).copied().unwrap_or(0) >= *max)
        {
            return None;
        }
        for (group, _) in &groups {
            *open.entry(*group).or_insert(0) += 1;
        }
        Some(Held(
            self.clone(),
            groups.into_iter().map(|(group, _)| group).collect(),
        ))
    }
}

/// One connection, counted in each of its groups until dropped.
struct Held(Arc<Holdings>, Vec<Group>);

impl Drop for Held {
    fn drop(&mut self) {
        let mut open = self.0.0.lock().unwrap_or_else(|p| p.into_inner());
        for group in &self.1 {
            if let Some(held) = open.get_mut(group) {
                *held -= 1;
                if *held == 0 {
                    open.remove(group);
                }
            }
        }
    }
}

/// What the edge allows each client.
#[derive(Debug, Clone)]
pub struct EdgeLimits {
    /// From connect (or from the end of the last response) to a complete request head:
    /// also the idle keep-alive timeout.
    pub header_read: Duration,
    /// How long writing an answer may make no progress (the client not reading) before
    /// the connection is closed.
    pub write_stall: Duration,
    /// Connections open at once (see [`crate::nofile::connection_budget`]).
    pub max_connections: usize,
    /// After the shutdown signal, how long requests in flight may take to finish.
    pub shutdown_grace: Duration,
    /// Connections each client, and each group of clients, may hold at once; empty, no
    /// such limit.
    pub shares: Vec<Share>,
}

/// Largest request head hyper buffers (URL and headers; bodies are read separately).
const MAX_HEAD_BYTES: usize = 64 * 1024;

/// Serves `app` on `listener` under `limits` until `shutdown` resolves.
pub async fn serve_with_limits(
    listener: TcpListener,
    app: Router,
    limits: EdgeLimits,
    shutdown: impl Future<Output = ()>,
) -> std::io::Result<()> {
    let mut make = app.into_make_service_with_connect_info::<SocketAddr>();
    let slots = Arc::new(Semaphore::new(limits.max_connections.max(1)));
    let holdings = Arc::new(Holdings::default());
    let graceful = GracefulShutdown::new();
    let mut tasks = JoinSet::new();
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(limits.header_read)
        .max_buf_size(MAX_HEAD_BYTES);
    tokio::pin!(shutdown);
    loop {
        while tasks.try_join_next().is_some() {}
        let slot = tokio::select! {
            slot = slots.clone().acquire_owned() => match slot {
                Ok(slot) => slot,
                Err(_) => break,
            },
            () = &mut shutdown => break,
        };
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    if !matches!(
                        e.kind(),
                        std::io::ErrorKind::ConnectionAborted | std::io::ErrorKind::ConnectionReset
                    ) {
                        tracing::warn!(error = %e, "accept failed");
                        tokio::time::sleep(Duration::from_millis(100)).await;
                    }
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let Some(held) = holdings.take(&limits.shares, peer.ip()) else {
            // Closed at once (the slot goes back with `slot`); counted, and logged
            // without the address, which is the client's own.
            metrics::counter!("kyso_connections_refused_total", "reason" => "per_client")
                .increment(1);
            tracing::debug!("a client over its connection limit; closed");
            drop(stream);
            continue;
        };
        let Ok(service) = make.call(peer).await;
        let connection = graceful.watch(http.serve_connection(
            TokioIo::new(WriteStall::new(stream, limits.write_stall)),
            TowerToHyperService::new(service),
        ));
        // Counted for `kyso_open_connections` (a no-op without a metrics recorder).
        metrics::gauge!("kyso_open_connections").increment(1.0);
        tasks.spawn(async move {
            let _slot = slot;
            let _held = held;
            if let Err(e) = connection.await {
                tracing::debug!(error = %e, "connection ended");
            }
            metrics::gauge!("kyso_open_connections").decrement(1.0);
        });
    }
    drop(listener);
    tokio::select! {
        () = graceful.shutdown() => {}
        () = tokio::time::sleep(limits.shutdown_grace) => {
            tracing::warn!("requests still running after the shutdown grace period; aborted");
            tasks.abort_all();
        }
    }
    Ok(())
}
