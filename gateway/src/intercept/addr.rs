//! Conversions between std addresses and the kernel's IPv6-form words.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use gateway_common::Addr6;

/// An address in the form the maps keep: IPv6, with IPv4 as `::ffff:a.b.c.d`.
pub fn addr6_from_ip(ip: IpAddr) -> Addr6 {
    let v6 = match ip {
        IpAddr::V4(v4) => v4.to_ipv6_mapped(),
        IpAddr::V6(v6) => v6,
    };
    let b = v6.octets();
    std::array::from_fn(|i| {
        u32::from_ne_bytes([b[4 * i], b[4 * i + 1], b[4 * i + 2], b[4 * i + 3]])
    })
}

/// Back to a std address; IPv4-mapped addresses become plain IPv4.
pub fn ip_from_addr6(words: &Addr6) -> IpAddr {
    let mut b = [0u8; 16];
    for (i, w) in words.iter().enumerate() {
        b[4 * i..4 * i + 4].copy_from_slice(&w.to_ne_bytes());
    }
    let v6 = Ipv6Addr::from(b);
    match v6.to_ipv4_mapped() {
        Some(v4) => IpAddr::V4(v4),
        None => IpAddr::V6(v6),
    }
}

pub fn socket_from_parts(words: &Addr6, port: u32) -> SocketAddr {
    SocketAddr::new(ip_from_addr6(words), port as u16)
}

/// 127.0.0.1 as the kernel's network-order word.
pub(crate) fn loopback_v4_word() -> u32 {
    u32::from_ne_bytes(Ipv4Addr::LOCALHOST.octets())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn v4_round_trips_through_mapped_form() {
        let ip: IpAddr = "127.0.0.2".parse().unwrap();
        let words = addr6_from_ip(ip);
        assert_eq!(words[3], u32::from_ne_bytes([127, 0, 0, 2]));
        assert!(gateway_common::is_v4_mapped(&words));
        assert_eq!(ip_from_addr6(&words), ip);
    }

    #[test]
    fn v6_round_trips() {
        let ip: IpAddr = "::1".parse().unwrap();
        let words = addr6_from_ip(ip);
        assert!(!gateway_common::is_v4_mapped(&words));
        assert_eq!(words[3], u32::from_ne_bytes([0, 0, 0, 1]));
        assert_eq!(ip_from_addr6(&words), ip);
    }

    #[test]
    fn common_v4_mapped_matches_std() {
        let words = addr6_from_ip("10.1.2.3".parse().unwrap());
        assert_eq!(
            gateway_common::v4_mapped(u32::from_ne_bytes([10, 1, 2, 3])),
            words
        );
    }
}
