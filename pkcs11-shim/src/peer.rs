//! Who is calling: the user that owns the other end of a loopback connection.
//!
//! The agent listens on loopback, and loopback is open to every account of the computer.
//! A browser cannot forge `Origin`, but another user's program can: on a shared computer
//! it could queue a signing request for the real portal behind the person's own and have
//! the person's second PIN entry sign for it. So on Linux the agent serves only its own
//! user: the client's socket is found in the kernel's socket tables (`/proc/net/tcp`,
//! `/proc/net/tcp6`: the row whose local address is the peer's address and port) and its
//! owner compared with the agent's. What cannot be told is refused. Elsewhere there is no
//! such table, and the check is not made (documented in `docs/security.md`).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

/// Whether the program at `peer` runs as the agent's own user. Blocks (reads `/proc`).
#[cfg(target_os = "linux")]
pub fn is_own_user(peer: SocketAddr) -> bool {
    use std::os::unix::fs::MetadataExt;
    let Ok(own) = std::fs::metadata("/proc/self").map(|m| m.uid()) else {
        return false;
    };
    let owner = ["/proc/net/tcp", "/proc/net/tcp6"]
        .iter()
        .find_map(|table| {
            std::fs::read_to_string(table)
                .ok()
                .and_then(|text| owner_in(&text, peer))
        });
    owner == Some(own)
}

/// Not Linux: no socket table to ask; every local caller counts as the user's own.
#[cfg(not(target_os = "linux"))]
pub fn is_own_user(_peer: SocketAddr) -> bool {
    true
}

/// The uid of the socket whose local address is `peer` in a `/proc/net/tcp{,6}` table.
/// An IPv4 peer is also found under its IPv4-mapped IPv6 address (a dual-stack socket).
pub fn owner_in(table: &str, peer: SocketAddr) -> Option<u32> {
    let wanted: Vec<IpAddr> = match peer.ip() {
        IpAddr::V4(v4) => vec![IpAddr::V4(v4), IpAddr::V6(v4.to_ipv6_mapped())],
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => vec![IpAddr::V6(v6), IpAddr::V4(v4)],
            None => vec![IpAddr::V6(v6)],
        },
    };
    table.lines().skip(1).find_map(|line| {
        // sl local_address rem_address st tx:rx tr:when retrnsmt uid …
        let fields: Vec<&str> = line.split_whitespace().collect();
        let (address, port) = parse_address(fields.get(1)?)?;
        (port == peer.port() && wanted.contains(&address))
            .then(|| fields.get(7)?.parse().ok())
            .flatten()
    })
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

    /// How the kernel prints `ip` in its tables on this machine.
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

    fn row(sl: u32, local: &str, remote: &str, uid: u32) -> String {
        format!(
            "{sl:4}: {local} {remote} 01 00000000:00000000 00:00000000 00000000 {uid:5} 0 4242 1 0 20 4 30 10 -1"
        )
    }

    const HEADER: &str = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode";

    #[test]
    fn the_client_socket_is_found_by_its_address_and_port() {
        let loopback = IpAddr::V4(Ipv4Addr::LOCALHOST);
        let lo = printed(loopback);
        let table = [
            HEADER.to_owned(),
            // The agent's own listening and accepted sockets (local port 8080).
            row(0, &format!("{lo}:1F90"), "00000000:0000", 0),
            row(1, &format!("{lo}:1F90"), &format!("{lo}:D431"), 0),
            // Another user's client on port 54321 (0xD431), and one on 54322.
            row(2, &format!("{lo}:D431"), &format!("{lo}:1F90"), 1000),
            row(3, &format!("{lo}:D432"), &format!("{lo}:1F90"), 0),
        ]
        .join("\n");
        assert_eq!(
            owner_in(&table, SocketAddr::new(loopback, 54321)),
            Some(1000)
        );
        assert_eq!(owner_in(&table, SocketAddr::new(loopback, 54322)), Some(0));
        assert_eq!(owner_in(&table, SocketAddr::new(loopback, 54323)), None);
    }

    #[test]
    fn ipv6_and_ipv4_mapped_clients_are_found() {
        let v6 = IpAddr::V6(Ipv6Addr::LOCALHOST);
        let mapped = IpAddr::V6(Ipv4Addr::LOCALHOST.to_ipv6_mapped());
        let table = [
            HEADER.to_owned(),
            row(0, &format!("{}:D431", printed(v6)), "x", 1001),
            row(1, &format!("{}:D432", printed(mapped)), "x", 1002),
        ]
        .join("\n");
        assert_eq!(owner_in(&table, SocketAddr::new(v6, 54321)), Some(1001));
        let v4 = IpAddr::V4(Ipv4Addr::LOCALHOST);
        assert_eq!(owner_in(&table, SocketAddr::new(v4, 54322)), Some(1002));
        assert_eq!(owner_in(&table, SocketAddr::new(v4, 54321)), None);
    }

    #[test]
    fn garbled_rows_are_passed_over() {
        let table = format!("{HEADER}\n   0: nonsense\n   1: 0100007F:zz x 01 a b c 5\n");
        let peer = SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 1);
        assert_eq!(owner_in(&table, peer), None);
    }

    /// This very process's connection to a listener of its own is found, owned by this
    /// process's user: the tables are read as the kernel writes them.
    #[cfg(target_os = "linux")]
    #[test]
    fn a_connection_of_this_process_is_its_own_users() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let client = std::net::TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let (_accepted, peer) = listener.accept().unwrap();
        assert_eq!(peer, client.local_addr().unwrap());
        assert!(is_own_user(peer));
        drop(client);
    }
}
