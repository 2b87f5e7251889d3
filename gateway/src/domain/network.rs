//! Where a client is, as limits count it: one subscriber's address, the network it
//! shares with its neighbours, and the networks of proxies trusted to name their client.

use std::net::IpAddr;
use std::str::FromStr;

/// The key a client is counted under: its IPv4 address, or its IPv6 /64 (the block one
/// subscriber usually holds, so rotating addresses inside it earns nothing).
pub fn client_key(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(_) => ip,
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => {
                let mut octets = v6.octets();
                octets[8..].fill(0);
                IpAddr::V6(octets.into())
            }
        },
    }
}

/// The network a client shares with its neighbours: its IPv4 /24, or its IPv6 /48.
pub fn block_key(ip: IpAddr) -> IpAddr {
    match client_key(ip) {
        IpAddr::V4(v4) => {
            let [a, b, c, _] = v4.octets();
            IpAddr::from([a, b, c, 0])
        }
        IpAddr::V6(v6) => {
            let mut octets = v6.octets();
            octets[6..].fill(0);
            IpAddr::V6(octets.into())
        }
    }
}

/// The key a starter of signing-SIM pushes is counted under: its IPv4 address, or its
/// IPv6 /48 — the network a site holds, which a per-/64 count would let it rotate
/// through 65,536 times over (each push rings someone's phone).
pub fn site_key(ip: IpAddr) -> IpAddr {
    match client_key(ip) {
        v4 @ IpAddr::V4(_) => v4,
        v6 @ IpAddr::V6(_) => block_key(v6),
    }
}

/// [`block_key`] as stored text: `203.0.113.0/24`, `2001:db8:66::/48`.
pub fn network_of(ip: IpAddr) -> String {
    match block_key(ip) {
        block @ IpAddr::V4(_) => format!("{block}/24"),
        block @ IpAddr::V6(_) => format!("{block}/48"),
    }
}

/// A network of proxies trusted to name their client: `10.0.0.0/8`, `127.0.0.1`
/// (one address), `fd00::/8`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProxyNet {
    network: IpAddr,
    prefix: u8,
}

impl FromStr for ProxyNet {
    type Err = String;

    /// An address or `ADDRESS/PREFIX`. An IPv4-mapped IPv6 network (`::ffff:10.0.0.0/104`)
    /// is read as the IPv4 one it maps, as peers are compared. Networks wider than an
    /// IPv4 /8 or an IPv6 /32 are refused: every client inside a trusted network can
    /// name any address it likes, so only the proxies belong in the list.
    fn from_str(s: &str) -> Result<Self, String> {
        let (addr, prefix) = s.split_once('/').map_or((s, None), |(a, p)| (a, Some(p)));
        let network: IpAddr = addr
            .parse()
            .map_err(|_| format!("{s:?} is not an address or ADDRESS/PREFIX"))?;
        let bits = if network.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            None => bits,
            Some(p) => p
                .parse::<u8>()
                .ok()
                .filter(|p| *p <= bits)
                .ok_or_else(|| format!("{s:?}: the prefix is 0 to {bits}"))?,
        };
        if masked(network, prefix) != network {
            return Err(format!("{s:?}: bits are set past the prefix"));
        }
        let (network, prefix) = match network {
            IpAddr::V6(v6) if v6.to_ipv4_mapped().is_some() => {
                if prefix < 96 {
                    return Err(format!(
                        "{s:?}: an IPv4-mapped network needs a prefix of 96 or more"
                    ));
                }
                (network.to_canonical(), prefix - 96)
            }
            _ => (network, prefix),
        };
        let widest = if network.is_ipv4() { 8 } else { 32 };
        if prefix < widest {
            return Err(format!(
                "{s:?}: wider than a /{widest}; list the proxies, not the clients behind them"
            ));
        }
        Ok(Self { network, prefix })
    }
}

impl ProxyNet {
    /// Whether `ip` is in this network (an IPv4-mapped IPv6 address as its IPv4 one).
    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = ip.to_canonical();
        ip.is_ipv4() == self.network.is_ipv4() && masked(ip, self.prefix) == self.network
    }
}

fn masked(ip: IpAddr, prefix: u8) -> IpAddr {
    match ip {
        IpAddr::V4(v4) => {
            let mask = u32::MAX.checked_shl(32 - u32::from(prefix)).unwrap_or(0);
            IpAddr::V4((u32::from(v4) & mask).into())
        }
        IpAddr::V6(v6) => {
            let mask = u128::MAX.checked_shl(128 - u32::from(prefix)).unwrap_or(0);
            IpAddr::V6((u128::from(v6) & mask).into())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clients_are_an_address_or_an_ipv6_64_and_networks_a_24_or_a_48() {
        let v6: IpAddr = "2001:db8:66:77:1:2:3:4".parse().unwrap();
        assert_eq!(
            client_key(v6),
            "2001:db8:66:77::".parse::<IpAddr>().unwrap()
        );
        let mapped: IpAddr = "::ffff:203.0.113.77".parse().unwrap();
        assert_eq!(client_key(mapped), IpAddr::from([203, 0, 113, 77]));
        assert_eq!(
            block_key([203, 0, 113, 77].into()),
            IpAddr::from([203, 0, 113, 0])
        );
        assert_eq!(block_key(v6), "2001:db8:66::".parse::<IpAddr>().unwrap());
        assert_eq!(network_of([203, 0, 113, 77].into()), "203.0.113.0/24");
        assert_eq!(network_of(mapped), "203.0.113.0/24");
        assert_eq!(network_of(v6), "2001:db8:66::/48");
    }

    #[test]
    fn networks_are_read_and_matched_by_prefix() {
        let lan: ProxyNet = "10.0.0.0/8".parse().unwrap();
        assert!(lan.contains([10, 1, 2, 3].into()));
        assert!(!lan.contains([11, 0, 0, 1].into()));
        assert!(lan.contains("::ffff:10.9.9.9".parse().unwrap()), "mapped");
        let one: ProxyNet = "127.0.0.1".parse().unwrap();
        assert!(one.contains([127, 0, 0, 1].into()) && !one.contains([127, 0, 0, 2].into()));
        let v6: ProxyNet = "fd12:3456::/32".parse().unwrap();
        assert!(v6.contains("fd12:3456::1".parse().unwrap()));
        assert!(!v6.contains("fd12:3457::1".parse().unwrap()));
        assert!(!v6.contains([10, 0, 0, 1].into()));
        // As a dual-stack socket shows an IPv4 peer.
        let mapped: ProxyNet = "::ffff:127.0.0.1".parse().unwrap();
        assert!(mapped.contains([127, 0, 0, 1].into()));
        assert!(mapped.contains("::ffff:127.0.0.1".parse().unwrap()));
        let mapped_lan: ProxyNet = "::ffff:10.0.0.0/104".parse().unwrap();
        assert!(mapped_lan.contains([10, 9, 9, 9].into()));
        for bad in [
            "10.0.0.1/8",
            "10.0.0.0/33",
            "proxy",
            "::/129",
            "10.0.0.0/x",
            "0.0.0.0/0",
            "10.0.0.0/7",
            "::/0",
            "2001::/16",
            "::ffff:0.0.0.0/95",
        ] {
            assert!(bad.parse::<ProxyNet>().is_err(), "{bad}");
        }
    }
}
