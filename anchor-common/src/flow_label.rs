//! The RFC 6438 flow label of the outer header.
//!
//! Specification (so that other implementations and tests can reproduce it): take the ten 32-bit
//! big-endian words `src[0..4]`, `dst[0..4]`, `next_header`, `(sport << 16) | dport` (ports in host
//! value, zero when the upper layer has none). Starting from `h = 0x6a09e667`, for each word `w`:
//! `h = (h ^ w) * 0x9e3779b1` (wrapping), `h ^= h >> 15`. The label is `(h ^ (h >> 20)) & 0xfffff`,
//! or 1 when that is zero: RFC 6438 asks for a non-zero label.

const SEED: u32 = 0x6a09_e667;
const MUL: u32 = 0x9e37_79b1;

#[inline(always)]
fn mix(h: u32, w: u32) -> u32 {
    let h = (h ^ w).wrapping_mul(MUL);
    h ^ (h >> 15)
}

#[inline(always)]
fn word(b: &[u8; 16], i: usize) -> u32 {
    u32::from_be_bytes([b[i * 4], b[i * 4 + 1], b[i * 4 + 2], b[i * 4 + 3]])
}

/// The 20-bit, non-zero flow label for an inner flow.
#[inline(always)]
pub fn flow_label(src: &[u8; 16], dst: &[u8; 16], next_header: u8, sport: u16, dport: u16) -> u32 {
    let mut h = SEED;
    h = mix(h, word(src, 0));
    h = mix(h, word(src, 1));
    h = mix(h, word(src, 2));
    h = mix(h, word(src, 3));
    h = mix(h, word(dst, 0));
    h = mix(h, word(dst, 1));
    h = mix(h, word(dst, 2));
    h = mix(h, word(dst, 3));
    h = mix(h, u32::from(next_header));
    h = mix(h, (u32::from(sport) << 16) | u32::from(dport));
    let label = (h ^ (h >> 20)) & 0x000f_ffff;
    if label == 0 { 1 } else { label }
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
        assert_eq!(flow_label(&a, &b, 6, 1000, 80), 0xd7c9b);
        assert_eq!(flow_label(&b, &a, 6, 80, 1000), 0x1025c);
        assert_eq!(flow_label(&[0; 16], &[0; 16], 0, 0, 0), 0xcd49f);
        assert_eq!(
            flow_label(&[0xff; 16], &[0xff; 16], 255, 65535, 65535),
            0x5bbca
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
