//! Where a client is, as limits count it: one subscriber's address, and the network it
//! shares with its neighbours.

use std::net::IpAddr;

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

/// [`block_key`] as stored text: `203.0.113.0/24`, `2001:db8:66::/48`.
pub fn network_of(ip: IpAddr) -> String {
    match block_key(ip) {
        block @ IpAddr::V4(_) => format!("{block}/24"),
        block @ IpAddr::V6(_) => format!("{block}/48"),
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
}
