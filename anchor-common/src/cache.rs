//! The program's per-CPU caches of its lookups: `BINDING_CACHE` for `DENSE` and `BINDINGS`, a
//! 3-way set-associative array per CPU, and `L2_CACHE` for `VISITING_L2`, direct-mapped. Both are
//! indexed by a hash of the /64; each entry holds the result of one lookup (found or not) made
//! in a generation.
//!
//! The daemon counts a generation (`Settings::generation` in `SETTINGS`) and advances it after
//! every change to `DENSE`, `BINDINGS`, `SHORT_PREFIXES` or `VISITING_L2`; an entry of another
//! generation is a miss. Generation 0 means "no caching": the program looks every /64 up. The
//! generation has 64 bits: it never comes back to a value an old entry holds.

use crate::{BindingValue, NextHop};

/// Sets of `BINDING_CACHE` per CPU (a power of two).
pub const BINDING_CACHE_SETS: u32 = 8192;
/// Ways of a `BINDING_CACHE` set.
pub const BINDING_CACHE_WAYS: usize = 3;
/// Entries of `L2_CACHE` per CPU (a power of two).
pub const L2_CACHE_SLOTS: u32 = 1024;

/// A way's byte in [`BindingCacheSet::meta`]: the way holds an answer.
pub const WAY_VALID: u64 = 1;
/// The shift of the answer's flags (the program's) in a way's byte.
pub const WAY_FLAGS_SHIFT: u32 = 1;

/// The slot of the /64 whose upper 64 bits (as loaded from the packet) are `prefix` in a cache
/// of `slots` entries or sets (a power of two): Fibonacci hashing, the top bits of one
/// multiplication.
#[inline]
#[expect(
    clippy::cast_possible_truncation,
    reason = "the top `log2(slots)` bits of the product: below `slots`, which is a u32"
)]
pub const fn cache_slot(prefix: u64, slots: u32) -> u32 {
    let bits = slots.trailing_zeros();
    (prefix.wrapping_mul(0x9e37_79b9_7f4a_7c15) >> (64 - bits)) as u32
}

/// The one value of `SETTINGS`, written by the daemon and read once per frame.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Settings {
    /// The `SETTING_*` bits (`crate::maps`).
    pub bits: u32,
    pub reserved: u32,
    /// The generation of the lookup caches (0: no caching).
    pub generation: u64,
}
const _: () = assert!(core::mem::size_of::<Settings>() == 16);

/// One set of `BINDING_CACHE`: up to three cached `DENSE` or `BINDINGS` lookups made in one
/// generation, in one 64-byte cache line. A set of another generation is empty; the first
/// answer cached in the current one empties it. Written with `generation` 0 first and last its
/// generation, so that a reader who sees the same generation, meta and key before and after has
/// read a whole way.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct BindingCacheSet {
    /// The generation the set's answers were looked up in; 0: no answer.
    pub generation: u64,
    /// One byte per way: [`WAY_VALID`], and the answer's flags from [`WAY_FLAGS_SHIFT`] on.
    pub meta: u64,
    /// The /64s' upper 64 bits, as loaded from the packet.
    pub keys: [u64; BINDING_CACHE_WAYS],
    /// The bindings found (zero where none was).
    pub values: [BindingValue; BINDING_CACHE_WAYS],
}
const _: () = assert!(core::mem::size_of::<BindingCacheSet>() == 64);

/// One cached `VISITING_L2` lookup, written `generation` 0 first and last, as a set.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct L2CacheEntry {
    pub key: u64,
    /// The generation the lookup was made in; 0: no entry.
    pub generation: u64,
    /// The entry found (zeroed, not valid, where none was).
    pub next_hop: NextHop,
}
const _: () = assert!(core::mem::size_of::<L2CacheEntry>() == 40);

#[cfg(feature = "user")]
unsafe impl aya::Pod for Settings {}
#[cfg(feature = "user")]
unsafe impl aya::Pod for BindingCacheSet {}
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
