//! Prefix pools: /64s delegated from a configured prefix, each to one live mobile node at a
//! time, and returned on release.

use std::collections::BTreeSet;

use ipnet::Ipv6Net;

use super::config::{DELEGATED_LEN, Policy, PoolConfig};

#[derive(Debug, Clone)]
pub struct Pool {
    prefix: Ipv6Net,
    policy: Policy,
    /// Indices of the delegated /64s inside `prefix`.
    used: BTreeSet<u64>,
}

impl Pool {
    pub fn new(config: &PoolConfig) -> Self {
        Self {
            prefix: config.prefix.trunc(),
            policy: config.policy,
            used: BTreeSet::new(),
        }
    }

    pub fn prefix(&self) -> Ipv6Net {
        self.prefix
    }

    pub fn policy(&self) -> Policy {
        self.policy
    }

    /// How many /64s the pool holds (saturating at `u64::MAX`).
    fn size(&self) -> u64 {
        1u64.checked_shl(u32::from(DELEGATED_LEN - self.prefix.prefix_len()))
            .unwrap_or(u64::MAX)
    }

    /// The lowest free /64, now delegated; `None` when all are.
    pub fn allocate(&mut self) -> Option<Ipv6Net> {
        let index = (0..self.size()).find(|i| !self.used.contains(i))?;
        self.used.insert(index);
        let base = u128::from(self.prefix.network()) | (u128::from(index) << 64);
        Ipv6Net::new(base.into(), DELEGATED_LEN).ok()
    }

    pub fn contains(&self, prefix: &Ipv6Net) -> bool {
        self.prefix.contains(prefix)
    }

    /// Returns `prefix` to the pool; false when it was not delegated from it.
    pub fn release(&mut self, prefix: &Ipv6Net) -> bool {
        if !self.contains(prefix) || prefix.prefix_len() != DELEGATED_LEN {
            return false;
        }
        let offset = u128::from(prefix.network()) - u128::from(self.prefix.network());
        // Below 2^64 inside the pool: the /64 index.
        self.used.remove(&((offset >> 64) as u64))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delegates_unique_prefixes_and_takes_them_back() {
        let mut pool = Pool::new(&PoolConfig {
            prefix: "2001:db8:1::/63".parse().unwrap(),
            policy: Policy::Nonpersistent,
        });
        let a = pool.allocate().unwrap();
        let b = pool.allocate().unwrap();
        assert_eq!(a.to_string(), "2001:db8:1::/64");
        assert_eq!(b.to_string(), "2001:db8:1:1::/64");
        assert_eq!(pool.allocate(), None, "a /63 holds two /64s");
        assert!(pool.release(&a));
        assert!(!pool.release(&a), "released twice");
        assert!(!pool.release(&"2001:db8:9::/64".parse().unwrap()));
        assert_eq!(pool.allocate(), Some(a));
    }
}
