//! The dense tables of this router's own prefix pools: the bindings of the /64s of a pool live in
//! an array indexed by the /64's offset inside the pool, so that the program finds them with one
//! memory access instead of a hash lookup.

/// Most pools the program looks at (`POOLS` capacity). Pools beyond it keep their bindings in
/// the hash map.
pub const MAX_POOLS: u32 = 8;

/// Most slots of all dense tables together (`DENSE` capacity at most): 4 Mi /64s, 32 MiB of
/// 8-byte values. A pool that does not fit keeps its bindings in the hash map.
pub const MAX_DENSE_SLOTS: u32 = 1 << 22;

/// One pool of the `POOLS` array: the /64s `base .. base + count` (upper 64 bits of the address
/// as an integer, host byte order) have their bindings at `DENSE[start + (prefix - base)]`. The
/// pools in use come first; an entry with `count == 0` ends the list.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PoolRange {
    pub base: u64,
    pub count: u64,
    pub start: u32,
    pub reserved: u32,
}
const _: () = assert!(core::mem::size_of::<PoolRange>() == 24);

impl PoolRange {
    /// The index in `DENSE` of the /64 whose upper 64 bits are `prefix` (host byte order), when
    /// the pool holds it.
    #[inline(always)]
    #[expect(
        clippy::cast_possible_truncation,
        reason = "the offset is below `count`, and `start + count` never exceeds \
                  `MAX_DENSE_SLOTS`, which fits a u32"
    )]
    pub fn index(&self, prefix: u64) -> Option<u32> {
        let offset = prefix.wrapping_sub(self.base);
        if offset < self.count {
            Some(self.start.wrapping_add(offset as u32))
        } else {
            None
        }
    }
}

#[cfg(feature = "user")]
mod pod {
    unsafe impl aya::Pod for super::PoolRange {}
}
