//! Prefix pools: /64s delegated from a configured prefix, each to one live mobile node at a
//! time, and returned on release.

use std::{collections::BTreeSet, time::Duration};

use ipnet::Ipv6Net;

use super::config::{DELEGATED_LEN, Policy, PoolConfig};

#[derive(Debug, Clone)]
pub struct Pool {
    prefix: Ipv6Net,
    policy: Policy,
    /// How long a redirected prefix of the pool may stay idle before it is released.
    idle_release: Option<Duration>,
    /// Indices of the delegated /64s inside `prefix`.
    used: BTreeSet<u64>,
}

impl Pool {
    pub fn new(config: &PoolConfig) -> Self {
        Self {
            prefix: config.prefix.trunc(),
            policy: config.policy,
            idle_release: config.idle_release(),
            used: BTreeSet::new(),
        }
    }

    pub fn prefix(&self) -> Ipv6Net {
        self.prefix
    }

    pub fn policy(&self) -> Policy {
        self.policy
    }

    /// See [`PoolConfig::idle_release`].
    pub fn idle_release(&self) -> Option<Duration> {
        self.idle_release
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
        self.index(prefix).is_some_and(|i| self.used.remove(&i))
    }

    /// Whether `prefix` is a /64 of the pool that is not delegated.
    pub fn is_free(&self, prefix: &Ipv6Net) -> bool {
        self.index(prefix).is_some_and(|i| !self.used.contains(&i))
    }

    /// Marks `prefix` delegated (restoring a saved state); false when it is not a /64 of the
    /// pool or already delegated.
    pub fn mark_used(&mut self, prefix: &Ipv6Net) -> bool {
        self.index(prefix).is_some_and(|i| self.used.insert(i))
    }

    /// The index of the /64 `prefix` inside the pool.
    fn index(&self, prefix: &Ipv6Net) -> Option<u64> {
        if !self.contains(prefix) || prefix.prefix_len() != DELEGATED_LEN {
            return None;
        }
        let offset = u128::from(prefix.network()) - u128::from(self.prefix.network());
        // Below 2^64 inside the pool: the /64 index.
        Some((offset >> 64) as u64)
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
            idle_release_s: None,
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
        assert!(pool.release(&a));
        assert!(pool.mark_used(&a));
        assert!(!pool.mark_used(&a), "already delegated");
        assert!(!pool.mark_used(&"2001:db8:9::/64".parse().unwrap()));
        assert_eq!(pool.allocate(), None);
    }
}
