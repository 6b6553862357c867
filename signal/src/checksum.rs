//! The Mobility Header checksum (RFC 6275 section 6.1.1): the Internet checksum (RFC 1071) over
//! the IPv6 pseudo-header of RFC 8200 section 8.1 with Next Header 135, followed by the whole
//! Mobility Header.

use std::net::Ipv6Addr;

/// IPv6 Next Header value of the Mobility Header.
pub const IPPROTO_MH: u8 = 135;

/// The one's complement sum (folded to 16 bits) of the pseudo-header and `mh`, as it stands.
///
/// A received header whose checksum field is right sums to `0xffff`.
pub fn sum(src: Ipv6Addr, dst: Ipv6Addr, mh: &[u8]) -> u16 {
    let mut acc: u64 = 0;
    for addr in [src, dst] {
        for word in addr.segments() {
            acc += u64::from(word);
        }
    }
    // Upper-layer packet length (32 bits), three zero octets, Next Header.
    let len = mh.len() as u64;
    acc += (len >> 16) + (len & 0xffff);
    acc += u64::from(IPPROTO_MH);
    let mut words = mh.chunks_exact(2);
    for word in &mut words {
        acc += u64::from(u16::from_be_bytes([word[0], word[1]]));
    }
    if let [last] = words.remainder() {
        acc += u64::from(*last) << 8;
    }
    while acc > 0xffff {
        acc = (acc & 0xffff) + (acc >> 16);
    }
    u16::try_from(acc).expect("the loop leaves at most 16 bits")
}

/// The value for the checksum field of `mh`, whose checksum field (octets 4 and 5) must be zero.
pub fn compute(src: Ipv6Addr, dst: Ipv6Addr, mh: &[u8]) -> u16 {
    !sum(src, dst, mh)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_filled_in_checksum_sums_to_all_ones() {
        let src: Ipv6Addr = "2001:db8::1".parse().unwrap();
        let dst: Ipv6Addr = "2001:db8::2".parse().unwrap();
        let mut mh = [59, 0, 5, 0, 0, 0, 0, 1, 0x80, 0, 0, 10, 1, 2, 0, 0];
        let c = compute(src, dst, &mh);
        mh[4..6].copy_from_slice(&c.to_be_bytes());
        assert_eq!(sum(src, dst, &mh), 0xffff);
        // The addresses are covered: another source breaks it.
        assert_ne!(sum("2001:db8::3".parse().unwrap(), dst, &mh), 0xffff);
    }

    #[test]
    fn odd_length_pads_with_a_zero_octet() {
        let a = Ipv6Addr::UNSPECIFIED;
        // Same data, one with the pad octet written out: only the length word differs (5 vs 6).
        assert_eq!(
            sum(a, a, &[1, 2, 3, 4, 5]).wrapping_add(1),
            sum(a, a, &[1, 2, 3, 4, 5, 0])
        );
    }

    #[test]
    fn matches_a_sum_worked_by_hand() {
        // src ::1, dst ::2: words 1 + 2; length 8; next header 135; MH words 0x3b00 + 0x0600.
        let mh = [0x3b, 0x00, 0x06, 0x00, 0, 0, 0, 0];
        let expected = 1 + 2 + 8 + 135 + 0x3b00 + 0x0600;
        assert_eq!(
            sum(Ipv6Addr::LOCALHOST, "::2".parse().unwrap(), &mh),
            expected
        );
    }
}
