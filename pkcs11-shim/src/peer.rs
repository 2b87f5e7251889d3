//! Who is calling: the user that owns the other end of a loopback connection.
//!
//! The agent listens on loopback, and loopback is open to every account of the computer.
//! A browser cannot forge `Origin`, but another user's program can: on a shared computer
//! it could queue a signing request for the real portal behind the person's own and have
//! the person's second PIN entry sign for it. So on Linux the agent serves only its own
//! user: the client's socket is found in the kernel's socket tables (`/proc/net/tcp`,
//! `/proc/net/tcp6`: the established connection from the peer's address and port to the
//! agent's — both ends, since an ephemeral port may also be held by other sockets to
//! other places, and a closed one lingers in `TIME_WAIT` as root's) and its owner
//! compared with the agent's. What cannot be told is refused. Elsewhere there is no such
//! table, and the check is not made (`docs/design.md` §7).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

/// Whether the program at `peer`, connected to the agent at `agent`, runs as the agent's
/// own user. Blocks (reads `/proc`).
#[cfg(target_os = "linux")]
pub fn is_own_user(peer: SocketAddr, agent: SocketAddr) -> bool {
    use std::os::unix::fs::MetadataExt;
    let Ok(own) = std::fs::metadata("/proc/self").map(|m| m.uid()) else {
        return false;
    };
    let owner = ["/proc/net/tcp", "/proc/net/tcp6"]
        .iter()
        .find_map(|table| {
            std::fs::read_to_string(table)
                .ok()
                .and_then(|text| owner_in(&text, peer, agent))
        });
    owner == Some(own)
}

/// Not Linux: no socket table to ask; every local caller counts as the user's own.
#[cfg(not(target_os = "linux"))]
pub fn is_own_user(_peer: SocketAddr, _agent: SocketAddr) -> bool {
    true
}

/// `TCP_ESTABLISHED` as the tables print a socket's state.
const ESTABLISHED: &str = "01";

/// The uid of the established socket from `peer` to `agent` in a `/proc/net/tcp{,6}`
/// table. An IPv4 address is also found as its IPv4-mapped IPv6 form (a dual-stack
/// socket).
pub fn owner_in(table: &str, peer: SocketAddr, agent: SocketAddr) -> Option<u32> {
    let is = |text: &str, want: SocketAddr| {
        parse_address(text).is_some_and(|(ip, port)| port == want.port() && same_ip(ip, want.ip()))
    };
    table.lines().skip(1).find_map(|line| {
        // sl local_address rem_address st tx:rx tr:when retrnsmt uid …
        let fields: Vec<&str> = line.split_whitespace().collect();
        let (local, remote, state) = (fields.get(1)?, fields.get(2)?, fields.get(3)?);
        (*state == ESTABLISHED && is(local, peer) && is(remote, agent))
            .then(|| fields.get(7)?.parse().ok())
            .flatten()
    })
}

/// Whether two addresses are one, an IPv4 address and its IPv4-mapped form included.
fn same_ip(a: IpAddr, b: IpAddr) -> bool {
    let plain = |ip: IpAddr| match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    };
    plain(a) == plain(b)
}

/// `0100007F:1F90` (IPv4) or 32 hex digits and a port (IPv6): the kernel prints each
/// 32-bit word of the address as a number in the machine's byte order, the port in hex.
fn parse_address(text: &str) -> Option<(IpAddr, u16)> {
    let (address, port) = text.split_once(':')?;
    let port = u16::from_str_radix(port, 16).ok()?;
    let word = |i: usize| {
        address
            .get(i * 8..i * 8 + 8)
            .and_then(|w| u32::from_str_radix(w, 16).ok())
            .map(u32::to_ne_bytes)
    };
    let ip = match address.len() {
        8 => IpAddr::V4(Ipv4Addr::from(word(0)?)),
        32 => {
            let mut octets = [0u8; 16];
            for i in 0..4 {
                octets[i * 4..i * 4 + 4].copy_from_slice(&word(i)?);
            }
            IpAddr::V6(Ipv6Addr::from(octets))
        }
        _ => return None,
    };
    Some((ip, port))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// How the kernel prints `ip` in its tables: each 32-bit word of the address in the
    /// machine's byte order, as hex.
    fn printed(ip: IpAddr) -> String {
        let words: Vec<[u8; 4]> = match ip {
            IpAddr::V4(v4) => vec![v4.octets()],
            IpAddr::V6(v6) => v6
                .octets()
                .chunks(4)
                .map(|c| [c[0], c[1], c[2], c[3]])
                .collect(),
        };
        words
            .iter()
            .map(|w| format!("{:08X}", u32::from_ne_bytes(*w)))
            .collect()
    }

    fn row(local: &str, remote: &str, state: &str, uid: u32) -> String {
        format!(
            "   0: {local} {remote} {state} 00000000:00000000 00:00000000 00000000 {uid:5} 0 4242 1 0 20 4 30 10 -1"
        )
    }

    const HEADER: &str = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode";

    /// 127.0.0.1 as a little-endian machine's kernel prints it, written out by hand (not
    /// by [`printed`]), so a byte-order mistake in both cannot hide.
    #[cfg(target_endian = "little")]
    #[test]
    fn loopback_is_read_as_the_kernel_prints_it_on_this_machine() {
        assert_eq!(
            parse_address("0100007F:1F90"),
            Some((IpAddr::V4(Ipv4Addr::LOCALHOST), 8080))
        );
        assert_eq!(
            parse_address("00000000000000000000000001000000:D431"),
            Some((IpAddr::V6(Ipv6Addr::LOCALHOST), 54321))
        );
        assert_eq!(printed(IpAddr::V4(Ipv4Addr::LOCALHOST)), "0100007F");
    }

    #[test]
    fn the_client_socket_is_the_established_one_from_the_peer_to_the_agent() {
        let lo = printed(IpAddr::V4(Ipv4Addr::LOCALHOST));
        let at = |port: u16| SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), port);
        let agent = at(8080);
        let table = [
            HEADER.to_owned(),
            // The agent's listening socket and its accepted one (local port 8080).
            row(&format!("{lo}:1F90"), "00000000:0000", "0A", 0),
            row(&format!("{lo}:1F90"), &format!("{lo}:D431"), "01", 0),
            // The same ephemeral port lingering, root's, from a closed connection, and
            // one to another service (port 9090).
            row(&format!("{lo}:D431"), &format!("{lo}:1F90"), "06", 0),
            row(&format!("{lo}:D431"), &format!("{lo}:2382"), "01", 0),
            // The client: user 1000, port 54321 (0xD431) to the agent.
            row(&format!("{lo}:D431"), &format!("{lo}:1F90"), "01", 1000),
        ]
        .join("\n");
        assert_eq!(owner_in(&table, at(54321), agent), Some(1000));
        assert_eq!(owner_in(&table, at(54322), agent), None);
        assert_eq!(owner_in(&table, at(54321), at(8081)), None);
    }

    #[test]
    fn ipv6_and_ipv4_mapped_clients_are_found() {
        let v6 = IpAddr::V6(Ipv6Addr::LOCALHOST);
        let v4 = IpAddr::V4(Ipv4Addr::LOCALHOST);
        let mapped = IpAddr::V6(Ipv4Addr::LOCALHOST.to_ipv6_mapped());
        let table = [
            HEADER.to_owned(),
            row(
                &format!("{}:D431", printed(v6)),
                &format!("{}:1F90", printed(v6)),
                "01",
                1001,
            ),
            row(
                &format!("{}:D432", printed(mapped)),
                &format!("{}:1F90", printed(mapped)),
                "01",
                1002,
            ),
        ]
        .join("\n");
        let (agent6, agent4) = (SocketAddr::new(v6, 8080), SocketAddr::new(v4, 8080));
        assert_eq!(
            owner_in(&table, SocketAddr::new(v6, 54321), agent6),
            Some(1001)
        );
        assert_eq!(
            owner_in(&table, SocketAddr::new(v4, 54322), agent4),
            Some(1002)
        );
        assert_eq!(owner_in(&table, SocketAddr::new(v4, 54321), agent4), None);
    }

    #[test]
    fn garbled_rows_are_passed_over() {
        let table = format!("{HEADER}\n   0: nonsense\n   1: 0100007F:zz x 01 a b c 5\n");
        let at = |port| SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), port);
        assert_eq!(owner_in(&table, at(1), at(2)), None);
    }

    /// This very process's connections to listeners of its own, over IPv4 and (where the
    /// machine has it) IPv6 loopback, are found as its own user's: the tables are read as
    /// the kernel writes them.
    #[cfg(target_os = "linux")]
    #[test]
    fn a_connection_of_this_process_is_its_own_users() {
        for address in ["127.0.0.1:0", "[::1]:0"] {
            let Ok(listener) = std::net::TcpListener::bind(address) else {
                assert_eq!(address, "[::1]:0", "IPv4 loopback is always there");
                continue;
            };
            let agent = listener.local_addr().unwrap();
            let client = std::net::TcpStream::connect(agent).unwrap();
            let (_accepted, peer) = listener.accept().unwrap();
            assert_eq!(peer, client.local_addr().unwrap());
            assert!(is_own_user(peer, agent), "{address}");
            let elsewhere = SocketAddr::new(agent.ip(), agent.port().wrapping_add(1));
            assert!(!is_own_user(peer, elsewhere), "{address}");
        }
    }
}
