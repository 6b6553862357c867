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

/// The pool of the dense-table rows, outside 2001:db8:8000::/33: 2001:db8:1000::/44, 2^20 /64s.
pub const POOL: &str = "2001:db8:1000::/44";
/// The upper 64 bits of [`POOL`]'s first /64.
const POOL_BASE: u64 = 0x2001_0db8_1000_0000;
/// The /64s in [`POOL`].
pub const POOL_SLOTS: u32 = 1 << 20;

/// `count` distinct random /64s of [`POOL`] (at most [`POOL_SLOTS`]), with their offsets in it.
pub fn random_pool_prefixes(count: usize) -> Vec<(u32, BindingKey)> {
    let mut rng = fastrand::Rng::with_seed(SEED ^ 1);
    let mut offsets: Vec<u32> = (0..POOL_SLOTS).collect();
    rng.shuffle(&mut offsets);
    offsets
        .into_iter()
        .take(count)
        .map(|offset| {
            let prefix = (POOL_BASE + u64::from(offset)).to_be_bytes();
            (offset, BindingKey { prefix })
        })
        .collect()
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
        let pool: ipnet::Ipv6Net = POOL.parse().expect("pool");
        let picked = random_pool_prefixes(1000);
        let distinct: HashSet<_> = picked.iter().map(|(offset, _)| *offset).collect();
        assert_eq!(distinct.len(), picked.len());
        for (offset, key) in picked {
            let net = ipnet::Ipv6Net::new(address(key, 0), 64).expect("a /64");
            assert!(pool.contains(&net));
            let index = (u128::from(net.network()) - u128::from(pool.network())) >> 64;
            assert_eq!(index, u128::from(offset));
        }
    }
}
