//! The program's per-CPU caches of its lookups (`BINDING_CACHE` for `DENSE` and `BINDINGS`,
//! `L2_CACHE` for `VISITING_L2`): a direct-mapped array per CPU, indexed by a hash of the /64,
//! each entry the result of one lookup (found or not) and the generation it was made in.
//!
//! The daemon counts a generation (the second word of `SETTINGS`) and advances it after every
//! change to `DENSE`, `BINDINGS`, `SHORT_PREFIXES` or `VISITING_L2`; an entry of another
//! generation is a miss. Generation 0 means "no caching": the program looks every /64 up.

use crate::{BindingValue, NextHop};

/// Entries of `BINDING_CACHE` per CPU (a power of two).
pub const BINDING_CACHE_SLOTS: u32 = 16384;
/// Entries of `L2_CACHE` per CPU (a power of two).
pub const L2_CACHE_SLOTS: u32 = 1024;

/// The index of the generation in the `SETTINGS` value.
pub const GENERATION_INDEX: u32 = 1;

/// The slot of the /64 whose upper 64 bits (as loaded from the packet) are `prefix` in a cache
/// of `slots` entries (a power of two): Fibonacci hashing, the top bits of one multiplication.
#[inline]
#[expect(
    clippy::cast_possible_truncation,
    reason = "the top `log2(slots)` bits of the product: below `slots`, which is a u32"
)]
pub const fn cache_slot(prefix: u64, slots: u32) -> u32 {
    let bits = slots.trailing_zeros();
    (prefix.wrapping_mul(0x9e37_79b9_7f4a_7c15) >> (64 - bits)) as u32
}

/// One cached `BINDINGS` lookup. Written with `generation` 0 first and last its generation, so
/// that a reader who sees the same generation and key before and after has read a whole entry.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct BindingCacheEntry {
    /// The /64's upper 64 bits, as loaded from the packet.
    pub key: u64,
    /// The generation the lookup was made in; 0: no entry.
    pub generation: u32,
    /// Bit 0: `value` is the binding (else the /64 had none); bit 1: the /64 is in one of
    /// this router's pools.
    pub flags: u32,
    pub value: BindingValue,
}
const _: () = assert!(core::mem::size_of::<BindingCacheEntry>() == 24);

/// One cached `VISITING_L2` lookup, written as a [`BindingCacheEntry`].
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct L2CacheEntry {
    pub key: u64,
    pub generation: u32,
    /// 1: `next_hop` is the entry (else the /64 had none).
    pub flags: u32,
    pub next_hop: NextHop,
}
const _: () = assert!(core::mem::size_of::<L2CacheEntry>() == 40);

#[cfg(feature = "user")]
unsafe impl aya::Pod for BindingCacheEntry {}
#[cfg(feature = "user")]
unsafe impl aya::Pod for L2CacheEntry {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slots_stay_inside_the_cache_and_spread() {
        let mut used = [false; 64];
        for i in 0..4096u64 {
            let prefix = (0x2001_0db8_0000_0000u64 | i << 16).to_be();
            let slot = cache_slot(prefix, 64);
            assert!(slot < 64);
            used[slot as usize] = true;
        }
        assert!(
            used.iter().all(|u| *u),
            "4096 /64s should use every one of 64 slots"
        );
    }
}
