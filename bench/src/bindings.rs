//! Binding prefixes spread as real /64s are: random, unique, in 2001:db8:8000::/33 (31 random
//! bits above the /64 boundary), from a fixed seed so that every run uses the same set.

use std::{collections::HashSet, net::Ipv6Addr};

use anchor_common::BindingKey;

const SEED: u64 = 0x6a09_e667_f3bc_c908;

/// `count` distinct /64 keys.
pub fn random_prefixes(count: usize) -> Vec<BindingKey> {
    let mut rng = fastrand::Rng::with_seed(SEED);
    let mut seen = HashSet::with_capacity(count);
    let mut keys = Vec::with_capacity(count);
    while keys.len() < count {
        let r = rng.u32(..).to_be_bytes();
        let prefix = [0x20, 0x01, 0x0d, 0xb8, r[0] | 0x80, r[1], r[2], r[3]];
        if seen.insert(prefix) {
            keys.push(BindingKey { prefix });
        }
    }
    keys
}

/// The address `::iid` in the /64 of `key`.
pub fn address(key: BindingKey, iid: u64) -> Ipv6Addr {
    let mut octets = [0u8; 16];
    octets[..8].copy_from_slice(&key.prefix);
    octets[8..].copy_from_slice(&iid.to_be_bytes());
    Ipv6Addr::from(octets)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefixes_are_distinct_documentation_64s() {
        let keys = random_prefixes(10_000);
        let distinct: HashSet<_> = keys.iter().map(|k| k.prefix).collect();
        assert_eq!(distinct.len(), keys.len());
        for k in &keys {
            assert_eq!(k.prefix[..4], [0x20, 0x01, 0x0d, 0xb8]);
            assert!(k.prefix[4] >= 0x80);
        }
        assert_eq!(random_prefixes(3), random_prefixes(3));
        assert_eq!(address(keys[0], 0x100).octets()[..8], keys[0].prefix[..]);
    }
}
