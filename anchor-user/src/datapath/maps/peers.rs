//! Peer indices: one `PEERS` entry per distinct peer locator, counted by the bindings using it.
//!
//! A binding value holds a 16-bit index into `PEERS` instead of the 16-byte locator. The
//! daemon is the source of truth: [`Peers`] hands out an index when a peer gets its first
//! binding and takes it back with the last one. Indices never used come first, freed ones
//! after them in the order they were freed, so that an index is reused as late as possible
//! (a packet that read a binding just before its removal still finds its peer).

use std::{
    collections::{BTreeMap, HashMap, VecDeque},
    net::Ipv6Addr,
};

use crate::datapath::error::PeersFull;

/// One allocated index.
#[derive(Clone, Copy, Debug)]
struct Entry {
    addr: Ipv6Addr,
    refs: u32,
}

/// The allocation of `PEERS` indices.
#[derive(Debug)]
pub struct Peers {
    by_addr: HashMap<Ipv6Addr, u16>,
    entries: HashMap<u16, Entry>,
    /// The lowest index never handed out.
    next: u32,
    /// Freed indices, oldest first.
    free: VecDeque<u16>,
    capacity: u32,
}

/// An index handed out by [`Peers::acquire`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Acquired {
    pub index: u16,
    /// The index was free: its `PEERS` entry must be written before a binding uses it.
    pub fresh: bool,
}

impl Peers {
    /// No index in use; at most `capacity` (<= 65536) of them.
    pub fn new(capacity: u32) -> Self {
        Self {
            by_addr: HashMap::new(),
            entries: HashMap::new(),
            next: 0,
            free: VecDeque::new(),
            capacity: capacity.min(u32::from(u16::MAX) + 1),
        }
    }

    /// The allocation found in the maps: `uses` holds, for every binding, its peer index and
    /// the locator stored there. Two indices holding the same locator both stay in use; new
    /// bindings of that peer get the first one.
    pub fn rebuild(capacity: u32, uses: impl IntoIterator<Item = (u16, Ipv6Addr)>) -> Self {
        let mut peers = Self::new(capacity);
        for (index, addr) in uses {
            peers
                .entries
                .entry(index)
                .or_insert(Entry { addr, refs: 0 })
                .refs += 1;
            peers.by_addr.entry(addr).or_insert(index);
        }
        peers.next = peers
            .entries
            .keys()
            .map(|&index| u32::from(index) + 1)
            .max()
            .unwrap_or(0);
        peers.free = (0..peers.next)
            .filter_map(|index| u16::try_from(index).ok())
            .filter(|index| !peers.entries.contains_key(index))
            .collect();
        peers
    }

    /// The index of `addr`, with one more reference.
    pub fn acquire(&mut self, addr: Ipv6Addr) -> Result<Acquired, PeersFull> {
        if let Some(&index) = self.by_addr.get(&addr)
            && let Some(entry) = self.entries.get_mut(&index)
        {
            entry.refs += 1;
            return Ok(Acquired {
                index,
                fresh: false,
            });
        }
        let index = if self.next < self.capacity {
            let index = u16::try_from(self.next).map_err(|_| self.full(addr))?;
            self.next += 1;
            index
        } else {
            self.free.pop_front().ok_or_else(|| self.full(addr))?
        };
        self.entries.insert(index, Entry { addr, refs: 1 });
        self.by_addr.insert(addr, index);
        Ok(Acquired { index, fresh: true })
    }

    fn full(&self, peer: Ipv6Addr) -> PeersFull {
        PeersFull {
            peer,
            capacity: self.capacity,
        }
    }

    /// Drops one reference to `index`; the last one frees it (then returns true).
    pub fn release(&mut self, index: u16) -> bool {
        let Some(entry) = self.entries.get_mut(&index) else {
            return false;
        };
        entry.refs = entry.refs.saturating_sub(1);
        if entry.refs > 0 {
            return false;
        }
        let addr = entry.addr;
        self.entries.remove(&index);
        if self.by_addr.get(&addr) == Some(&index) {
            self.by_addr.remove(&addr);
            // Another index holding the same locator (found by `rebuild`) takes over.
            if let Some((&other, _)) = self.entries.iter().find(|(_, e)| e.addr == addr) {
                self.by_addr.insert(addr, other);
            }
        }
        self.free.push_back(index);
        true
    }

    /// Every index in use with its locator.
    pub fn in_use(&self) -> BTreeMap<u16, Ipv6Addr> {
        self.entries
            .iter()
            .map(|(&index, entry)| (index, entry.addr))
            .collect()
    }

    /// The locator at `index`, while it is in use.
    pub fn addr(&self, index: u16) -> Option<Ipv6Addr> {
        self.entries.get(&index).map(|entry| entry.addr)
    }

    /// The number of references to `index` (0 when free).
    pub fn refs(&self, index: u16) -> u32 {
        self.entries.get(&index).map_or(0, |entry| entry.refs)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addr(n: u16) -> Ipv6Addr {
        Ipv6Addr::new(0x2001, 0xdb8, 0xff, 0, 0, 0, 0, n)
    }

    #[test]
    fn one_index_per_peer_counted_by_its_bindings() {
        let mut peers = Peers::new(8);
        let a = peers.acquire(addr(1)).expect("a");
        assert_eq!(
            a,
            Acquired {
                index: 0,
                fresh: true
            }
        );
        let again = peers.acquire(addr(1)).expect("a again");
        assert_eq!(
            again,
            Acquired {
                index: 0,
                fresh: false
            }
        );
        let b = peers.acquire(addr(2)).expect("b");
        assert_eq!(
            b,
            Acquired {
                index: 1,
                fresh: true
            }
        );
        assert_eq!(peers.refs(0), 2);
        peers.release(0);
        assert_eq!(peers.addr(0), Some(addr(1)));
        peers.release(0);
        assert_eq!(peers.addr(0), None);
        assert_eq!(peers.addr(1), Some(addr(2)));
    }

    #[test]
    fn freed_indices_come_back_after_the_unused_ones_oldest_first() {
        let mut peers = Peers::new(3);
        for n in 0..3 {
            peers.acquire(addr(n)).expect("acquire");
        }
        assert_eq!(
            peers.acquire(addr(9)),
            Err(PeersFull {
                peer: addr(9),
                capacity: 3
            })
        );
        peers.release(2);
        peers.release(0);
        assert_eq!(peers.acquire(addr(7)).expect("reuse").index, 2);
        assert_eq!(peers.acquire(addr(8)).expect("reuse").index, 0);
    }

    #[test]
    fn rebuilt_from_the_maps() {
        let mut peers =
            Peers::rebuild(16, [(3, addr(1)), (3, addr(1)), (5, addr(2)), (7, addr(1))]);
        assert_eq!(peers.refs(3), 2);
        assert_eq!(peers.refs(5), 1);
        assert_eq!(peers.refs(7), 1);
        // The first index of a locator is the one new bindings share.
        assert_eq!(peers.acquire(addr(1)).expect("shared").index, 3);
        // Indices never used come first, then the free ones below the highest used.
        assert_eq!(peers.acquire(addr(4)).expect("new").index, 8);
        for _ in 0..3 {
            peers.release(3);
        }
        // Index 7 holds the same locator and takes over.
        assert_eq!(peers.acquire(addr(1)).expect("other").index, 7);
        let mut empty = Peers::rebuild(16, []);
        assert_eq!(empty.acquire(addr(1)).expect("first").index, 0);
    }
}
