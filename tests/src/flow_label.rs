//! The outer flow label as the fixtures expect it, computed independently of the program's
//! `anchor_common::flow_label` (a fold over a word list in 64-bit arithmetic), and the
//! known-answer vectors that `tests/vectors/flow_label.py` computes from the written
//! specification. Both implementations are checked against the vectors.

use std::net::Ipv6Addr;

/// `(src, dst, next_header, sport, dport, label)`, printed by `tests/vectors/flow_label.py`.
pub const VECTORS: &[(&str, &str, u8, u16, u16, u32)] = &[
    ("2001:db8::1", "2001:db8::2", 6, 1000, 80, 0xd7c9b),
    ("2001:db8::2", "2001:db8::1", 6, 80, 1000, 0x1025c),
    ("2001:db8:c::2", "2001:db8:1:1::100", 17, 40000, 9, 0x4c1f8),
    ("2001:db8:c::2", "2001:db8:1:1::100", 58, 0, 0, 0x6bdaa),
    ("::", "::", 0, 0, 0, 0xcd49f),
    (
        "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff",
        "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff",
        255,
        65535,
        65535,
        0x5bbca,
    ),
    ("fe80::1", "ff02::1", 17, 546, 547, 0x8b187),
];

/// The label of the specification, written from it without the program's code.
pub fn expected_label(
    src: Ipv6Addr,
    dst: Ipv6Addr,
    next_header: u8,
    sport: u16,
    dport: u16,
) -> u32 {
    const MASK: u64 = 0xffff_ffff;
    let mut words: Vec<u64> = src
        .segments()
        .chunks(2)
        .chain(dst.segments().chunks(2))
        .map(|pair| (u64::from(pair[0]) << 16) | u64::from(pair[1]))
        .collect();
    words.push(u64::from(next_header));
    words.push((u64::from(sport) << 16) | u64::from(dport));
    let h = words.into_iter().fold(0x6a09_e667_u64, |h, w| {
        let h = ((h ^ w) * 0x9e37_79b1) & MASK;
        h ^ (h >> 15)
    });
    match (h ^ (h >> 20)) & 0xf_ffff {
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
