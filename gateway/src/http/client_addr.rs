//! Who the client is when the gateway sits behind a reverse proxy (the TLS-terminating
//! proxy design §10 puts in front of it). The TCP peer is then the proxy, and every
//! per-client limit — the rate limits, the signing-SIM starts per network — would count
//! all clients as one. Proxies the operator lists in `limits.trusted_proxies` are
//! believed about their client: the address is the last one in `X-Forwarded-For` that is
//! not itself a trusted proxy (each proxy appends the address it saw, so entries to the
//! left of it are whatever the client chose to send, and are never read). With no
//! trusted proxies, or from any other peer, the header is ignored.

use crate::domain::network::ProxyNet;
use axum::http::HeaderMap;
use std::net::IpAddr;

/// The address the limits count a request under, put into its extensions by the layer
/// around every answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientAddr(pub IpAddr);

/// The client of a request from `peer` with `headers`: `peer` itself, unless it is a
/// trusted proxy; then the last `X-Forwarded-For` entry that is not a trusted proxy (or
/// the last readable one before an entry that cannot be read, or the peer when there is
/// none).
pub fn client_of(peer: IpAddr, headers: &HeaderMap, trusted: &[ProxyNet]) -> IpAddr {
    let peer = peer.to_canonical();
    let is_trusted = |ip: IpAddr| trusted.iter().any(|net| net.contains(ip));
    if !is_trusted(peer) {
        return peer;
    }
    // Every X-Forwarded-For line, in order, is one list; it is read from the right, and
    // only as far as the first entry that is not a trusted proxy.
    let mut client = peer;
    // Entries are read one by one, each as text: a proxy that appends to what the client
    // sent joins the client's bytes and its own entry on one line, and the client's
    // unreadable bytes must not cost the proxy's entry.
    for line in headers.get_all("x-forwarded-for").iter().rev() {
        for entry in line.as_bytes().rsplit(|&b| b == b',') {
            let Some(ip) = std::str::from_utf8(entry)
                .ok()
                .and_then(|e| forwarded_addr(e.trim()))
            else {
                return client;
            };
            client = ip;
            if !is_trusted(ip) {
                return client;
            }
        }
    }
    client
}

/// One `X-Forwarded-For` entry: an address, perhaps with a port (`203.0.113.9:4711`,
/// `[2001:db8::1]:4711`), brackets or an IPv6 zone (`fe80::1%eth0`).
fn forwarded_addr(entry: &str) -> Option<IpAddr> {
    let bare = entry
        .strip_prefix('[')
        .and_then(|e| e.strip_suffix(']'))
        .unwrap_or(entry);
    let unzoned = bare.split_once('%').map_or(bare, |(addr, _)| addr);
    unzoned
        .parse::<IpAddr>()
        .or_else(|_| entry.parse::<std::net::SocketAddr>().map(|s| s.ip()))
        .ok()
        .map(|ip| ip.to_canonical())
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn nets(list: &[&str]) -> Vec<ProxyNet> {
        list.iter().map(|n| n.parse().unwrap()).collect()
    }

    fn forwarded(lines: &[&str]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for line in lines {
            h.append("x-forwarded-for", HeaderValue::from_str(line).unwrap());
        }
        h
    }

    #[test]
    fn a_trusted_proxy_names_its_client_and_nobody_else_does() {
        let trusted = nets(&["127.0.0.1", "10.0.0.0/8"]);
        let proxy: IpAddr = [127, 0, 0, 1].into();
        let client: IpAddr = [203, 0, 113, 9].into();
        // The proxy appended what it saw; what the client wrote before it is not read.
        let h = forwarded(&["198.51.100.66, 203.0.113.9"]);
        assert_eq!(client_of(proxy, &h, &trusted), client);
        // Through two trusted proxies, on two header lines.
        let h = forwarded(&["198.51.100.66", "203.0.113.9:4711, 10.1.1.1"]);
        assert_eq!(client_of(proxy, &h, &trusted), client);
        // From any other peer the header is ignored.
        let h = forwarded(&["198.51.100.66"]);
        assert_eq!(client_of(client, &h, &trusted), client);
        assert_eq!(client_of(proxy, &h, &[]), proxy, "no trusted proxies");
        // No header, or an unreadable last entry: the nearest address known.
        assert_eq!(client_of(proxy, &HeaderMap::new(), &trusted), proxy);
        let h = forwarded(&["198.51.100.66, junk"]);
        assert_eq!(client_of(proxy, &h, &trusted), proxy);
        let h = forwarded(&["junk, 203.0.113.9, 10.0.0.7"]);
        assert_eq!(client_of(proxy, &h, &trusted), client);
        let v6: IpAddr = "2001:db8::1".parse().unwrap();
        for written in ["[2001:db8::1]:443", "[2001:db8::1]", "2001:db8::1%eth0"] {
            let h = forwarded(&[written]);
            assert_eq!(client_of(proxy, &h, &trusted), v6, "{written}");
        }
        // A line that is not text is an entry that cannot be read: the walk stops there.
        let mut h = forwarded(&["198.51.100.66"]);
        h.append(
            "x-forwarded-for",
            HeaderValue::from_bytes(b"203.0.113.9, 10.0.0.7 \xff").unwrap(),
        );
        assert_eq!(client_of(proxy, &h, &trusted), proxy);
        // Bytes a client sent that are not text, joined with the proxy's entry on one
        // line (nginx's $proxy_add_x_forwarded_for): the proxy's entry is still read.
        let mut h = HeaderMap::new();
        h.append(
            "x-forwarded-for",
            HeaderValue::from_bytes(b"\xff, 203.0.113.9").unwrap(),
        );
        assert_eq!(client_of(proxy, &h, &trusted), client);
    }
}
