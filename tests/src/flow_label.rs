//! The outer flow label as the fixtures expect it, computed independently of the program's
//! `anchor_common::flow_label` (the words as halves of a 128-bit value, in 128-bit arithmetic), and the
//! known-answer vectors that `tests/vectors/flow_label.py` computes from the written
//! specification. Both implementations are checked against the vectors.

use std::net::Ipv6Addr;

/// `(src, dst, next_header, sport, dport, label)`, printed by `tests/vectors/flow_label.py`.
pub const VECTORS: &[(&str, &str, u8, u16, u16, u32)] = &[
    ("2001:db8::1", "2001:db8::2", 6, 1000, 80, 0x0ebfc),
    ("2001:db8::2", "2001:db8::1", 6, 80, 1000, 0xdb68b),
    ("2001:db8:c::2", "2001:db8:1:1::100", 17, 40000, 9, 0x6aeaa),
    ("2001:db8:c::2", "2001:db8:1:1::100", 58, 0, 0, 0xefb91),
    ("::", "::", 0, 0, 0, 0x00001),
    (
        "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff",
        "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff",
        255,
        65535,
        65535,
        0x69d87,
    ),
    ("fe80::1", "ff02::1", 17, 546, 547, 0x874b2),
];

/// The label of the specification, written from it without the program's code: the words
/// as little-endian halves of the addresses' 128-bit values, the rotations as shifts of u128.
pub fn expected_label(
    src: Ipv6Addr,
    dst: Ipv6Addr,
    next_header: u8,
    sport: u16,
    dport: u16,
) -> u32 {
    // The 16 bytes reversed are the address as a little-endian u128: its low half is bytes
    // 0..8 read little-endian, its high half bytes 8..16.
    let halves = |a: Ipv6Addr| {
        let mut octets = a.octets();
        octets.reverse();
        let v = u128::from_be_bytes(octets);
        (v & u128::from(u64::MAX), v >> 64)
    };
    let rotl = |w: u128, n: u32| ((w << n) | (w >> (64 - n))) & u128::from(u64::MAX);
    let (s0, s1) = halves(src);
    let (d0, d1) = halves(dst);
    let p = (u128::from(next_header) << 32) | (u128::from(sport) << 16) | u128::from(dport);
    let mut x = s0 ^ rotl(s1, 16) ^ rotl(d0, 32) ^ rotl(d1, 48) ^ p;
    for c in [0xff51_afd7_ed55_8ccd_u128, 0xc4ce_b9fe_1a85_ec53] {
        x ^= x >> 33;
        x = (x * c) & u128::from(u64::MAX);
    }
    x ^= x >> 33;
    match x & 0xf_ffff {
        0 => 1,
        label => u32::try_from(label).expect("masked to 20 bits"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cases() -> impl Iterator<Item = (Ipv6Addr, Ipv6Addr, u8, u16, u16, u32)> {
        VECTORS.iter().map(|&(s, d, nh, sp, dp, label)| {
            (s.parse().unwrap(), d.parse().unwrap(), nh, sp, dp, label)
        })
    }

    #[test]
    fn the_independent_implementation_gives_the_vectors() {
        for (s, d, nh, sp, dp, label) in cases() {
            assert_eq!(
                expected_label(s, d, nh, sp, dp),
                label,
                "{s} {d} {nh} {sp} {dp}"
            );
        }
    }

    #[test]
    fn the_programs_implementation_gives_the_vectors() {
        for (s, d, nh, sp, dp, label) in cases() {
            let got = anchor_common::flow_label::flow_label(&s.octets(), &d.octets(), nh, sp, dp);
            assert_eq!(got, label, "{s} {d} {nh} {sp} {dp}");
        }
    }
}
