//! The RFC 6438 flow label of the outer header.
//!
//! Specification (so that other implementations and tests can reproduce it): read the 16 bytes
//! of each address as two 64-bit little-endian words (bytes 0..8 and 8..16; the byte at the
//! lowest offset is the least significant, which is what a little-endian machine such as BPF
//! loads from the packet): `s0, s1, d0, d1`. Let `p = (next_header << 32) | (sport << 16) |
//! dport` (ports in host value, zero when the upper layer has none). Combine
//! `x = s0 ^ rotl(s1, 16) ^ rotl(d0, 32) ^ rotl(d1, 48) ^ p` (64-bit rotations), then finish
//! with MurmurHash3's fmix64: `x ^= x >> 33; x *= 0xff51afd7ed558ccd; x ^= x >> 33;
//! x *= 0xc4ceb9fe1a85ec53; x ^= x >> 33` (wrapping). The label is `x & 0xfffff`, or 1 when
//! that is zero: RFC 6438 asks for a non-zero label.
//!
//! The XOR of the rotated words keeps every field's changes (one field changing alone changes
//! `x`), and the two multiplications spread them over the label's bits: two multiplications in
//! all, where a word-by-word fold needs one per word.

const C1: u64 = 0xff51_afd7_ed55_8ccd;
const C2: u64 = 0xc4ce_b9fe_1a85_ec53;

/// The 20-bit, non-zero flow label for an inner flow whose addresses are given as their two
/// little-endian 64-bit words each (see the module's specification).
#[inline(always)]
pub fn flow_label_words(
    src: [u64; 2],
    dst: [u64; 2],
    next_header: u8,
    sport: u16,
    dport: u16,
) -> u32 {
    let ports = (u64::from(next_header) << 32) | (u64::from(sport) << 16) | u64::from(dport);
    let mut x =
        src[0] ^ src[1].rotate_left(16) ^ dst[0].rotate_left(32) ^ dst[1].rotate_left(48) ^ ports;
    x ^= x >> 33;
    x = x.wrapping_mul(C1);
    x ^= x >> 33;
    x = x.wrapping_mul(C2);
    x ^= x >> 33;
    // Masked to 20 bits: the conversion cannot fail.
    let label = u32::try_from(x & 0x000f_ffff).unwrap_or(1);
    if label == 0 { 1 } else { label }
}

/// The two little-endian 64-bit words of an address.
#[inline(always)]
fn words(b: &[u8; 16]) -> [u64; 2] {
    [
        u64::from_le_bytes([b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]]),
        u64::from_le_bytes([b[8], b[9], b[10], b[11], b[12], b[13], b[14], b[15]]),
    ]
}

/// The 20-bit, non-zero flow label for an inner flow.
#[inline(always)]
pub fn flow_label(src: &[u8; 16], dst: &[u8; 16], next_header: u8, sport: u16, dport: u16) -> u32 {
    flow_label_words(words(src), words(dst), next_header, sport, dport)
}

#[cfg(test)]
mod tests {
    use super::flow_label;

    #[test]
    fn label_is_20_bits_non_zero_and_depends_on_every_field() {
        let a = [0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 1];
        let b = [0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 2, 0, 0, 0, 0, 0, 0, 0, 2];
        let base = flow_label(&a, &b, 6, 1000, 80);
        assert!(base != 0 && base <= 0xfffff);
        assert_ne!(base, flow_label(&b, &a, 6, 1000, 80));
        assert_ne!(base, flow_label(&a, &b, 17, 1000, 80));
        assert_ne!(base, flow_label(&a, &b, 6, 1001, 80));
        assert_ne!(base, flow_label(&a, &b, 6, 1000, 81));
        assert_eq!(base, flow_label(&a, &b, 6, 1000, 80));
    }

    /// Known answers printed by `tests/vectors/flow_label.py` from the specification above
    /// (`tests/src/flow_label.rs` checks every vector, and an independent implementation).
    #[test]
    fn known_answers() {
        let a = [0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1];
        let b = [0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2];
        assert_eq!(flow_label(&a, &b, 6, 1000, 80), 0x0ebfc);
        assert_eq!(flow_label(&b, &a, 6, 80, 1000), 0xdb68b);
        assert_eq!(flow_label(&[0; 16], &[0; 16], 0, 0, 0), 1);
        assert_eq!(
            flow_label(&[0xff; 16], &[0xff; 16], 255, 65535, 65535),
            0x69d87
        );
    }

    #[test]
    fn labels_spread_over_ports() {
        let a = [1u8; 16];
        let b = [2u8; 16];
        let mut buckets = [0u32; 16];
        for port in 0..4096u16 {
            buckets[(flow_label(&a, &b, 6, port, 443) & 0xf) as usize] += 1;
        }
        for n in buckets {
            assert!((128..=384).contains(&n), "uneven spread: {buckets:?}");
        }
    }
}
