//! Where the bindings of this router's own pools go in the dense table (`DENSE`): each pool's
//! /64s, in configuration order, at consecutive indices. A pool that does not fit (more than
//! `MAX_POOLS` pools, more than `MAX_DENSE_SLOTS` slots in all, or overlapping an earlier pool)
//! keeps its bindings in the hash map, and is listed with the reason.

use std::net::Ipv6Addr;

use anchor_common::{
    PoolRange,
    dense::{MAX_DENSE_SLOTS, MAX_POOLS},
};
use ipnet::Ipv6Net;

/// The /64 length: a pool's slots are its /64s.
const SLOT_LEN: u8 = 64;

/// The pools of the dense table and their places in it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DenseLayout {
    pools: Vec<(Ipv6Net, PoolRange)>,
    skipped: Vec<SkippedPool>,
}

/// A pool whose bindings stay in the hash map, and why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SkippedPool {
    pub prefix: Ipv6Net,
    pub reason: String,
}

impl DenseLayout {
    /// The layout of `pools`, in their order.
    pub fn new(pools: &[Ipv6Net]) -> Self {
        let mut layout = Self::default();
        let mut next = 0u64;
        for &pool in pools {
            let prefix = pool.trunc();
            let skip = |reason: String| SkippedPool { prefix, reason };
            if prefix.prefix_len() > SLOT_LEN {
                layout
                    .skipped
                    .push(skip(format!("longer than /{SLOT_LEN}")));
                continue;
            }
            if let Some((other, _)) = layout
                .pools
                .iter()
                .find(|(p, _)| p.contains(&prefix) || prefix.contains(p))
            {
                layout.skipped.push(skip(format!("overlaps {other}")));
                continue;
            }
            if layout.pools.len() >= MAX_POOLS as usize {
                layout.skipped.push(skip(format!(
                    "the dense table holds {MAX_POOLS} pools at most"
                )));
                continue;
            }
            let count = 1u64
                .checked_shl(u32::from(SLOT_LEN - prefix.prefix_len()))
                .unwrap_or(u64::MAX);
            if count > u64::from(MAX_DENSE_SLOTS) - next {
                layout.skipped.push(skip(format!(
                    "its {count} /64s do not fit the dense table's {} free slots (of \
                     {MAX_DENSE_SLOTS})",
                    u64::from(MAX_DENSE_SLOTS) - next
                )));
                continue;
            }
            let range = PoolRange {
                base: upper(prefix.network()),
                count,
                // `next` stays at most MAX_DENSE_SLOTS, a u32.
                start: u32::try_from(next).unwrap_or(u32::MAX),
                reserved: 0,
            };
            next += count;
            layout.pools.push((prefix, range));
        }
        layout
    }

    /// The capacity of `DENSE`: every pool's slots, at least 1 (an array map cannot be empty).
    pub fn slots(&self) -> u32 {
        let total: u64 = self.pools.iter().map(|(_, r)| r.count).sum();
        u32::try_from(total).unwrap_or(MAX_DENSE_SLOTS).max(1)
    }

    /// The `POOLS` array's entries: the pools, then empty entries.
    pub fn ranges(&self) -> [PoolRange; MAX_POOLS as usize] {
        let mut ranges = [PoolRange::default(); MAX_POOLS as usize];
        for (slot, (_, range)) in ranges.iter_mut().zip(&self.pools) {
            *slot = *range;
        }
        ranges
    }

    /// The pools in the dense table.
    pub fn pools(&self) -> impl Iterator<Item = Ipv6Net> + '_ {
        self.pools.iter().map(|(p, _)| *p)
    }

    /// The pools whose bindings stay in the hash map, with the reason.
    pub fn skipped(&self) -> &[SkippedPool] {
        &self.skipped
    }

    /// The `DENSE` index of `prefix`: a /64 of a pool.
    pub fn index_of(&self, prefix: Ipv6Net) -> Option<u32> {
        if prefix.prefix_len() != SLOT_LEN {
            return None;
        }
        let key = upper(prefix.network());
        self.pools.iter().find_map(|(_, range)| range.index(key))
    }

    /// The /64 at `index` of `DENSE` under the pools `ranges` (this layout's, or a pinned one's).
    pub fn prefix_at(ranges: &[PoolRange], index: u32) -> Option<Ipv6Net> {
        ranges
            .iter()
            .take_while(|r| r.count != 0)
            .find_map(|r| {
                let offset = u64::from(index.checked_sub(r.start)?);
                (offset < r.count).then(|| r.base.wrapping_add(offset))
            })
            .and_then(|upper| Ipv6Net::new(Ipv6Addr::from(u128::from(upper) << 64), SLOT_LEN).ok())
    }
}

/// The upper 64 bits of `addr`, as the program computes them from the packet.
fn upper(addr: Ipv6Addr) -> u64 {
    (u128::from(addr) >> 64) as u64
}

#[cfg(test)]
mod tests {
    use super::*;

    fn net(s: &str) -> Ipv6Net {
        s.parse().unwrap()
    }

    #[test]
    fn pools_take_consecutive_slots_in_order() {
        let layout = DenseLayout::new(&[net("2001:db8:1::/48"), net("2001:db8:2::/60")]);
        assert_eq!(layout.slots(), 65_536 + 16);
        assert_eq!(layout.index_of(net("2001:db8:1::/64")), Some(0));
        assert_eq!(layout.index_of(net("2001:db8:1:ffff::/64")), Some(65_535));
        assert_eq!(layout.index_of(net("2001:db8:2:f::/64")), Some(65_536 + 15));
        assert_eq!(layout.index_of(net("2001:db8:2:10::/64")), None);
        assert_eq!(layout.index_of(net("2001:db8:1::/56")), None);
        let ranges = layout.ranges();
        assert_eq!(ranges[2], PoolRange::default());
        for index in [0, 1, 65_535, 65_536, 65_551] {
            let prefix = DenseLayout::prefix_at(&ranges, index).unwrap();
            assert_eq!(layout.index_of(prefix), Some(index));
        }
        assert_eq!(DenseLayout::prefix_at(&ranges, 65_552), None);
    }

    #[test]
    fn pools_that_do_not_fit_are_skipped_with_the_reason() {
        let layout = DenseLayout::new(&[
            net("2001:db8::/40"),
            net("2001:db8:100::/48"),
            net("2001:db8:100:8::/62"),
            net("2001:db8:200::/65"),
        ]);
        let pools: Vec<_> = layout.pools().collect();
        assert_eq!(pools, [net("2001:db8:100::/48")]);
        let skipped: Vec<_> = layout.skipped().iter().map(|s| s.prefix).collect();
        assert_eq!(
            skipped,
            [
                net("2001:db8::/40"),
                net("2001:db8:100:8::/62"),
                net("2001:db8:200::/65")
            ]
        );
        assert!(layout.skipped()[0].reason.contains("do not fit"));
        assert!(
            layout.skipped()[1]
                .reason
                .contains("overlaps 2001:db8:100::/48")
        );
        assert!(layout.skipped()[2].reason.contains("longer than /64"));
    }

    #[test]
    fn no_pool_still_gives_a_valid_array() {
        let layout = DenseLayout::new(&[]);
        assert_eq!(layout.slots(), 1);
        assert_eq!(layout.index_of(net("2001:db8::/64")), None);
        assert_eq!(DenseLayout::prefix_at(&layout.ranges(), 0), None);
    }
}
