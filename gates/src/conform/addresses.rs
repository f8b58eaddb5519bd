//! This machine's own IP addresses, read from the kernel's tables (`/proc/net/fib_trie` for
//! IPv4, `/proc/net/if_inet6` for IPv6; link-local addresses left out, they need a scope): where
//! `conform hypervisor` listens for a popup that strays off 127.0.0.1 (and on 127.0.0.2), and where
//! the reference adapter's planted popup goes.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// Every local address, IPv4 first, each once; empty where the tables cannot be read.
pub fn local_addresses() -> Vec<IpAddr> {
    let mut out: Vec<IpAddr> = Vec::new();
    if let Ok(text) = std::fs::read_to_string("/proc/net/fib_trie") {
        out.extend(ipv4_locals(&text).into_iter().map(IpAddr::V4));
    }
    if let Ok(text) = std::fs::read_to_string("/proc/net/if_inet6") {
        out.extend(ipv6_locals(&text).into_iter().map(IpAddr::V6));
    }
    let mut seen = Vec::new();
    out.retain(|ip| {
        let fresh = !seen.contains(ip);
        seen.push(*ip);
        fresh
    });
    out
}

/// A loopback address that is not 127.0.0.1 (Linux answers the whole of 127.0.0.0/8), last in
/// [`off_loopback_addresses`] so that the list is never empty.
pub const OTHER_LOOPBACK: Ipv4Addr = Ipv4Addr::new(127, 0, 0, 2);

/// The local addresses other than 127.0.0.1 (the first is IPv4 when there is one), then
/// [`OTHER_LOOPBACK`].
pub fn off_loopback_addresses() -> Vec<IpAddr> {
    let mut out: Vec<IpAddr> = local_addresses()
        .into_iter()
        .filter(|ip| *ip != IpAddr::V4(Ipv4Addr::LOCALHOST))
        .collect();
    let other = IpAddr::V4(OTHER_LOOPBACK);
    if !out.contains(&other) {
        out.push(other);
    }
    out
}

/// `|-- A.B.C.D` followed by a `/32 host LOCAL` line.
fn ipv4_locals(fib_trie: &str) -> Vec<Ipv4Addr> {
    let mut out = Vec::new();
    let mut last: Option<Ipv4Addr> = None;
    for line in fib_trie.lines() {
        let line = line.trim();
        if let Some(address) = line.strip_prefix("|-- ") {
            last = address.trim().parse().ok();
        } else if line.starts_with("/32 host LOCAL")
            && let Some(ip) = last.take()
            && !out.contains(&ip)
        {
            out.push(ip);
        }
    }
    out
}

/// The first column of each line, 32 hex digits; link-local (`fe80::/10`) left out.
fn ipv6_locals(if_inet6: &str) -> Vec<Ipv6Addr> {
    if_inet6
        .lines()
        .filter_map(|line| {
            let hex = line.split_whitespace().next()?;
            let value = u128::from_str_radix(hex, 16)
                .ok()
                .filter(|_| hex.len() == 32)?;
            let ip = Ipv6Addr::from(value);
            (ip.segments()[0] & 0xffc0 != 0xfe80).then_some(ip)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_kernel_tables_are_read() {
        let trie = "Local:\n  +-- 0.0.0.0/0 3 0 5\n     |-- 127.0.0.1\n        /32 host LOCAL\n     |-- 192.0.2.255\n        /32 link BROADCAST\n     |-- 192.0.2.2\n        /32 host LOCAL\n";
        assert_eq!(
            ipv4_locals(trie),
            vec![Ipv4Addr::LOCALHOST, Ipv4Addr::new(192, 0, 2, 2)]
        );
        let inet6 = "fd000000000000000000000000000002 04 40 00 82 eth0\n00000000000000000000000000000001 01 80 10 80 lo\nfe8000000000000000fc00fffe000001 04 40 20 80 eth0\n";
        let found = ipv6_locals(inet6);
        assert_eq!(found.len(), 2);
        assert!(found.contains(&Ipv6Addr::LOCALHOST));
    }
}
