//! Which local addresses the host's sockets use: the `/proc/net/tcp6` and `/proc/net/udp6`
//! tables of the network namespace. A prefix whose addresses no socket uses any more is
//! de-registered ("once no socket uses it", RFC 8818 section 3.1.2's session-lasting use).

use std::{collections::BTreeSet, net::Ipv6Addr};

/// TCP states that no longer carry a session: TIME_WAIT (6), CLOSE (7), LISTEN (10).
const ENDED_TCP_STATES: [&str; 3] = ["06", "07", "0A"];

/// The local addresses of the sockets in a `/proc/net/tcp6` or `udp6` table (`tcp`: skip the
/// states that carry no session). Lines that do not parse are skipped.
pub fn local_addresses(table: &str, tcp: bool) -> BTreeSet<Ipv6Addr> {
    table
        .lines()
        .skip(1)
        .filter_map(|line| {
            let mut fields = line.split_whitespace();
            let local = fields.nth(1)?;
            let state = fields.nth(1)?;
            if tcp && ENDED_TCP_STATES.contains(&state) {
                return None;
            }
            parse_address(local.split(':').next()?)
        })
        .filter(|a| !a.is_unspecified())
        .collect()
}

/// The kernel prints an IPv6 address as four 32-bit words in host order (little-endian here),
/// each as 8 hex digits.
fn parse_address(hex: &str) -> Option<Ipv6Addr> {
    if hex.len() != 32 || !hex.is_ascii() {
        return None;
    }
    let mut octets = [0u8; 16];
    for (word, chunk) in hex.as_bytes().chunks(8).enumerate() {
        let text = std::str::from_utf8(chunk).ok()?;
        let value = u32::from_str_radix(text, 16).ok()?;
        octets[word * 4..word * 4 + 4].copy_from_slice(&value.to_ne_bytes());
    }
    Some(Ipv6Addr::from(octets))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An address as the kernel prints it, from its octets (an independent encoding).
    fn kernel_hex(address: Ipv6Addr) -> String {
        use std::fmt::Write as _;
        let mut text = String::new();
        for w in address.octets().chunks(4) {
            let word = u32::from_ne_bytes([w[0], w[1], w[2], w[3]]);
            write!(text, "{word:08X}").expect("writing to a String");
        }
        text
    }

    #[test]
    fn local_addresses_of_live_sockets() {
        let a: Ipv6Addr = "2001:db8:a1:1::10".parse().unwrap();
        let b: Ipv6Addr = "2001:db8:a2:1::10".parse().unwrap();
        let c: Ipv6Addr = "2001:db8:a3:1::10".parse().unwrap();
        let header = "  sl  local_address                         remote_address                        st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n";
        let row = |address: Ipv6Addr, state: &str| {
            format!(
                "   0: {}:1F90 {}:0050 {state} 00000000:00000000 00:00000000 00000000     0        0 1 1 0000000000000000 100 0 0 10 0\n",
                kernel_hex(address),
                kernel_hex(Ipv6Addr::LOCALHOST)
            )
        };
        let table = format!(
            "{header}{}{}{}{}garbage\n",
            row(a, "01"),
            row(b, "06"),
            row(c, "0A"),
            row(Ipv6Addr::UNSPECIFIED, "0A")
        );
        assert_eq!(local_addresses(&table, true), BTreeSet::from([a]));
        assert_eq!(local_addresses(&table, false), BTreeSet::from([a, b, c]));
    }
}
