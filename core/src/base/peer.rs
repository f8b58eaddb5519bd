//! Who is on the other end of a loopback TCP connection: the uid owning the peer's socket, read
//! from the kernel's socket tables (`/proc/net/tcp` for IPv4, `/proc/net/tcp6` for IPv6), where
//! the peer's socket is the row whose local address is the peer's and whose remote address is
//! ours. Only the loopback server asks, so both ends are in this machine's network namespace; a
//! peer not found there (another namespace, a closed socket) has no known owner, and callers
//! refuse it. Other systems have no such table here: there the owner is never known.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

/// The effective uid of this process.
pub fn current_uid() -> u32 {
    nix::unistd::geteuid().as_raw()
}

/// The uid owning the socket at `peer` connected to `local`, from the kernel's table; `None`
/// when no live row matches.
pub fn socket_owner(peer: SocketAddr, local: SocketAddr) -> std::io::Result<Option<u32>> {
    if cfg!(target_os = "linux") {
        let table = if peer.is_ipv4() {
            "/proc/net/tcp"
        } else {
            "/proc/net/tcp6"
        };
        Ok(owner_in(&std::fs::read_to_string(table)?, peer, local))
    } else {
        Ok(None)
    }
}

/// The TCP state of a socket that has closed and belongs to no process any more (`TIME_WAIT`):
/// its row names uid 0, so it never counts.
const TIME_WAIT: &str = "06";

/// The uid of the row of `table` (the text of `/proc/net/tcp` or `tcp6`) whose local address is
/// `peer` and whose remote address is `local`. Rows that do not parse are passed over.
pub fn owner_in(table: &str, peer: SocketAddr, local: SocketAddr) -> Option<u32> {
    table.lines().skip(1).find_map(|line| {
        let fields: Vec<&str> = line.split_whitespace().collect();
        let (row_local, row_remote, state, uid) = (
            fields.get(1)?,
            fields.get(2)?,
            fields.get(3)?,
            fields.get(7)?,
        );
        (*state != TIME_WAIT
            && parse_endpoint(row_local)? == peer
            && parse_endpoint(row_remote)? == local)
            .then(|| uid.parse().ok())
            .flatten()
    })
}

/// An address as the table writes it: `0100007F:1F90` (IPv4) or 32 hex digits and a port
/// (IPv6); each 32-bit word is in the machine's byte order, the port is a plain number.
fn parse_endpoint(text: &str) -> Option<SocketAddr> {
    let (address, port) = text.split_once(':')?;
    let port = u16::from_str_radix(port, 16).ok()?;
    let word = |hex: &str| u32::from_str_radix(hex, 16).ok().map(u32::to_ne_bytes);
    let ip = match address.len() {
        8 => IpAddr::V4(Ipv4Addr::from(word(address)?)),
        32 => {
            let mut bytes = [0u8; 16];
            for (index, chunk) in bytes.chunks_mut(4).enumerate() {
                chunk.copy_from_slice(&word(address.get(index * 8..index * 8 + 8)?)?);
            }
            IpAddr::V6(Ipv6Addr::from(bytes))
        }
        _ => return None,
    };
    Some(SocketAddr::new(ip, port))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The table's form of an address, written the kernel's way (native-order words).
    fn hex(addr: SocketAddr) -> String {
        let words: Vec<String> = match addr.ip() {
            IpAddr::V4(ip) => vec![format!("{:08X}", u32::from_ne_bytes(ip.octets()))],
            IpAddr::V6(ip) => ip
                .octets()
                .chunks(4)
                .map(|c| format!("{:08X}", u32::from_ne_bytes([c[0], c[1], c[2], c[3]])))
                .collect(),
        };
        format!("{}:{:04X}", words.concat(), addr.port())
    }

    fn row(local: SocketAddr, remote: SocketAddr, state: &str, uid: u32) -> String {
        format!(
            "   7: {} {} {state} 00000000:00000000 00:00000000 00000000  {uid}        0 4242 1 0000000000000000 20 4 30 10 -1",
            hex(local),
            hex(remote)
        )
    }

    const HEADER: &str = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode";

    #[test]
    fn the_peer_row_names_its_owner_and_no_other_row_does() {
        let server: SocketAddr = "127.0.0.1:8787".parse().expect("addr");
        let peer: SocketAddr = "127.0.0.1:51000".parse().expect("addr");
        let stranger: SocketAddr = "127.0.0.1:51001".parse().expect("addr");
        let table = [
            HEADER.to_owned(),
            row(server, "0.0.0.0:0".parse().expect("addr"), "0A", 0),
            // The server's own end of the connection: local is ours, not the peer's.
            row(server, peer, "01", 0),
            row(stranger, server, "01", 1001),
            row(peer, server, "01", 1000),
        ]
        .join("\n");
        assert_eq!(owner_in(&table, peer, server), Some(1000));
        assert_eq!(owner_in(&table, stranger, server), Some(1001));
        // A closed socket in TIME_WAIT names uid 0 and belongs to nobody.
        let closed = [HEADER.to_owned(), row(peer, server, "06", 0)].join("\n");
        assert_eq!(owner_in(&closed, peer, server), None);
        // No row, a torn row, or garbage: unknown.
        assert_eq!(owner_in(HEADER, peer, server), None);
        assert_eq!(
            owner_in(&format!("{HEADER}\n   7: 0100007F:C738"), peer, server),
            None
        );
        assert_eq!(owner_in("not a table\nat all", peer, server), None);
    }

    #[test]
    fn ipv6_rows_read_in_native_word_order() {
        let server: SocketAddr = "[::1]:8787".parse().expect("addr");
        let peer: SocketAddr = "[::1]:40000".parse().expect("addr");
        let mapped: SocketAddr = "[::ffff:127.0.0.1]:40001".parse().expect("addr");
        let table = [
            HEADER.to_owned(),
            row(peer, server, "01", 1000),
            row(mapped, server, "01", 1002),
        ]
        .join("\n");
        assert_eq!(owner_in(&table, peer, server), Some(1000));
        assert_eq!(owner_in(&table, mapped, server), Some(1002));
        assert_eq!(parse_endpoint(&hex(peer)), Some(peer));
    }

    /// A real connection on loopback: the kernel's table names this process's uid as the owner
    /// of the client's end.
    #[test]
    fn a_real_loopback_connection_is_owned_by_this_process() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let local = listener.local_addr().expect("local");
        let client = std::net::TcpStream::connect(local).expect("connect");
        let (_accepted, peer) = listener.accept().expect("accept");
        assert_eq!(peer, client.local_addr().expect("client addr"));
        assert_eq!(
            socket_owner(peer, local).expect("read the table"),
            Some(current_uid())
        );
        let elsewhere: SocketAddr = "127.0.0.1:1".parse().expect("addr");
        assert_eq!(socket_owner(elsewhere, local).expect("read"), None);
    }
}
