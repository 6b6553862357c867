//! The program's per-CPU caches of its lookups: `BINDING_CACHE` for `DENSE` and `BINDINGS`, a
//! 4-way set-associative array per CPU, and `L2_CACHE` for `VISITING_L2`, direct-mapped. Both are
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
pub const BINDING_CACHE_WAYS: usize = 4;
/// Entries of `L2_CACHE` per CPU (a power of two).
pub const L2_CACHE_SLOTS: u32 = 1024;

/// Where a way's tag starts in its word: the bits of the /64's hash below the set index
/// ([`binding_tag`]). The bits below it describe the way: [`WAY_VALID`], the answer's flags, the
/// binding's kind and flags.
pub const TAG_SHIFT: u32 = BINDING_CACHE_SETS.trailing_zeros();
/// A way's word: the way holds an answer.
pub const WAY_VALID: u64 = 1;
/// A way's word: the shift and width of the answer's flags (the program's).
const WAY_FLAGS_SHIFT: u32 = 1;
const WAY_FLAGS_BITS: u32 = 3;
/// A way's word: the shift and width of the binding's [`BindingValue::kind`].
const WAY_KIND_SHIFT: u32 = WAY_FLAGS_SHIFT + WAY_FLAGS_BITS;
const WAY_KIND_BITS: u32 = 2;
/// A way's word: the shift and width of the binding's [`BindingValue::flags`].
const WAY_BINDING_FLAGS_SHIFT: u32 = WAY_KIND_SHIFT + WAY_KIND_BITS;
const WAY_BINDING_FLAGS_BITS: u32 = TAG_SHIFT - WAY_BINDING_FLAGS_SHIFT;
const _: () = assert!(WAY_BINDING_FLAGS_BITS >= 1 && WAY_BINDING_FLAGS_BITS <= 8);

/// The multiplier of the caches' Fibonacci hashing (2^64 over the golden ratio, odd).
const FIBONACCI: u64 = 0x9e37_79b9_7f4a_7c15;

/// The /64's hash: a bijection of the 64-bit values, so two /64s never share it.
#[inline]
const fn binding_hash(prefix: u64) -> u64 {
    prefix.wrapping_mul(FIBONACCI)
}

/// The tag of the /64 whose upper 64 bits (as loaded from the packet) are `prefix`, in place in
/// a way's word (the bits below [`TAG_SHIFT`] zero): the bits of its hash that its set's index
/// (the top [`TAG_SHIFT`] bits) leaves out. Within a set, the tag tells the /64 exactly.
#[inline]
pub const fn binding_tag(prefix: u64) -> u64 {
    binding_hash(prefix) << TAG_SHIFT
}

/// Whether the way's `word` holds an answer for the /64 of tag `tag` ([`binding_tag`]).
#[inline]
pub const fn way_holds(word: u64, tag: u64) -> bool {
    // One comparison (one branch for the verifier): the tag and the valid bit, the answer's
    // bits masked out.
    word & !((1 << TAG_SHIFT) - 1 - WAY_VALID) == tag | WAY_VALID
}

/// A way's word and fields for the answer (`flags`, `value`) of the /64 of tag `tag`; `None`
/// when the answer does not fit a way (flags, kind or binding flags too wide): it is not
/// cached.
#[inline(always)]
pub fn pack_way(tag: u64, flags: u32, value: BindingValue) -> Option<(u64, u32, u16)> {
    // One test for the three widths: every branch is a path more for the verifier.
    if (u64::from(flags) >> WAY_FLAGS_BITS)
        | (u64::from(value.kind) >> WAY_KIND_BITS)
        | (u64::from(value.flags) >> WAY_BINDING_FLAGS_BITS)
        != 0
    {
        return None;
    }
    let word = tag
        | (u64::from(value.flags) << WAY_BINDING_FLAGS_SHIFT)
        | (u64::from(value.kind) << WAY_KIND_SHIFT)
        | (u64::from(flags) << WAY_FLAGS_SHIFT)
        | WAY_VALID;
    Some((word, value.stats_slot, value.peer))
}

/// The answer (flags, value) a way holds: its word and fields, as [`pack_way`] made them.
#[inline(always)]
#[expect(
    clippy::cast_possible_truncation,
    reason = "fields masked to their widths, each narrower than its type"
)]
pub fn unpack_way(word: u64, stats_slot: u32, peer: u16) -> (u32, BindingValue) {
    let field = |shift: u32, bits: u32| (word >> shift) & ((1 << bits) - 1);
    (
        field(WAY_FLAGS_SHIFT, WAY_FLAGS_BITS) as u32,
        BindingValue {
            stats_slot,
            peer,
            kind: field(WAY_KIND_SHIFT, WAY_KIND_BITS) as u8,
            flags: field(WAY_BINDING_FLAGS_SHIFT, WAY_BINDING_FLAGS_BITS) as u8,
        },
    )
}

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
    (binding_hash(prefix) >> (64 - bits)) as u32
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

/// One set of `BINDING_CACHE`: up to four cached `DENSE` or `BINDINGS` lookups made in one
/// generation, in one 64-byte cache line. A set of another generation is empty; the first
/// answer cached in the current one empties it. Written with `generation` 0 first and last its
/// generation, so that a reader who sees the same generation and way word before and after has
/// read a whole way.
///
/// A way is its word (tag and answer, [`pack_way`]) and the binding's statistics slot and peer:
/// with the tag standing for the /64 and the answer's few bits beside it, four ways fit the line
/// where whole keys and values left room for three.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct BindingCacheSet {
    /// The generation the set's answers were looked up in; 0: no answer.
    pub generation: u64,
    /// Each way's word: tag, answer flags, binding kind and flags, [`WAY_VALID`].
    pub words: [u64; BINDING_CACHE_WAYS],
    /// Each way's binding's [`BindingValue::stats_slot`].
    pub stats_slots: [u32; BINDING_CACHE_WAYS],
    /// Each way's binding's [`BindingValue::peer`].
    pub peers: [u16; BINDING_CACHE_WAYS],
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
    extern crate std;

    use super::*;

    #[test]
    fn a_way_gives_back_what_it_was_given_and_knows_its_own_prefix() {
        let values = [
            BindingValue::redirect(7, 123_456),
            BindingValue::visiting(u16::MAX, true, u32::MAX),
            BindingValue::EMPTY,
        ];
        for (i, value) in values.into_iter().enumerate() {
            let prefix = 0x2001_0db8_0000_0000u64 | (i as u64) << 20;
            let tag = binding_tag(prefix);
            assert_eq!(tag & ((1 << TAG_SHIFT) - 1), 0);
            for flags in [0, 1, 3, 7] {
                let (word, slot, peer) = pack_way(tag, flags, value).expect("fits a way");
                assert!(way_holds(word, tag));
                assert!(
                    !way_holds(word & !WAY_VALID, tag),
                    "an invalid way holds nothing"
                );
                assert_eq!(unpack_way(word, slot, peer), (flags, value));
            }
        }
        let wide = BindingValue {
            kind: 4,
            ..BindingValue::EMPTY
        };
        assert_eq!(pack_way(0, 0, wide), None, "a kind wider than two bits");
        let wide = BindingValue {
            flags: 0x80,
            ..BindingValue::EMPTY
        };
        assert_eq!(
            pack_way(0, 0, wide),
            None,
            "binding flags wider than the way's field"
        );
        assert_eq!(
            pack_way(0, 8, BindingValue::EMPTY),
            None,
            "answer flags wider than three bits"
        );
    }

    #[test]
    fn prefixes_of_one_set_never_share_a_tag() {
        let mut seen = std::collections::HashMap::new();
        for i in 0..200_000u64 {
            let prefix = (0x2001_0db8_0000_0000u64 | i << 8).to_be();
            let key = (cache_slot(prefix, BINDING_CACHE_SETS), binding_tag(prefix));
            assert_eq!(
                seen.insert(key, prefix),
                None,
                "{prefix:#x} shares set and tag"
            );
        }
    }

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
