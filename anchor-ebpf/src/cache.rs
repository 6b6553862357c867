//! The per-CPU caches of the binding and next-hop lookups (`anchor_common::cache`): a hit costs
//! one access to a small array, where the kernel's hash lookup costs a call (and, on kernels
//! with return-thunk mitigations, an expensive return) and a dense slot of a large pool a cache
//! and TLB miss.
//!
//! A set or entry is written by the program of its CPU only, generation 0 first and last: a
//! reader who sees the generation it wants before and after, and the same way's word (its tag
//! and answer) before and after the way's fields, has read one whole answer, even if another run of the program on this CPU wrote
//! it in between.
//!
//! Ordering against the daemon: it writes a map, then advances the generation. A lookup made
//! after reading generation `g` is cached under `g`, so an answer of the current generation was
//! looked up after that generation's changes. The lookup's key carries a data dependency on the
//! generation read ([`depends_on`]), which orders the lookup's loads after that read on CPUs
//! that reorder loads (x86 does not).

use anchor_common::{
    BindingValue, NextHop,
    cache::{
        BINDING_CACHE_SETS, BINDING_CACHE_WAYS, BindingCacheSet, L2_CACHE_SLOTS, L2CacheEntry,
        WAY_VALID, binding_tag, cache_slot, pack_way, unpack_way, way_holds,
    },
};
use aya_ebpf::{
    bindings::BPF_F_MMAPABLE,
    helpers::{bpf_get_prandom_u32, bpf_get_smp_processor_id},
    macros::map,
    maps::{Array, PerCpuArray},
};

/// `BINDING_CACHE_SETS` sets per CPU, CPU after CPU (the daemon sizes it for the possible CPUs;
/// a CPU beyond the size caches nothing). An array, not a per-CPU array: a set is then one
/// access, where a per-CPU array reads a pointer first. Mappable, so that its values start on a
/// page and every set is one cache line.
#[map]
static BINDING_CACHE: Array<BindingCacheSet> =
    Array::with_max_entries(BINDING_CACHE_SETS, BPF_F_MMAPABLE);

#[map]
static L2_CACHE: PerCpuArray<L2CacheEntry> = PerCpuArray::with_max_entries(L2_CACHE_SLOTS, 0);

/// A `NextHop` as its six 32-bit words (dmac and smac in 0..3, ifindex 3, mtu 4, flags 5), 8-byte
/// aligned: copies of it on the stack are written and read as aligned words, where the
/// compiler would merge the MAC bytes into misaligned stack accesses, which the verifier
/// refuses.
#[repr(C, align(8))]
#[derive(Clone, Copy)]
pub struct Hop(pub [u32; 6]);
const _: () = assert!(core::mem::size_of::<Hop>() == core::mem::size_of::<NextHop>());

impl Hop {
    /// No next hop: its flags say it is not valid.
    pub const NONE: Hop = Hop([0; 6]);

    #[inline(always)]
    pub fn mtu(&self) -> u32 {
        self.0[4]
    }

    #[inline(always)]
    pub fn flags(&self) -> u32 {
        self.0[5]
    }
}

/// [`L2CacheEntry`] with its next hop as a [`Hop`].
#[repr(C)]
pub struct L2Entry {
    key: u64,
    generation: u64,
    value: Hop,
}
const _: () = assert!(core::mem::size_of::<L2Entry>() == core::mem::size_of::<L2CacheEntry>());

/// `prefix` with a data dependency on `generation` that the compiler cannot remove (an AND
/// with a zero it cannot see), so that a lookup keyed by the result is made after the
/// generation was read.
#[inline(always)]
pub fn depends_on(prefix: u64, generation: u64) -> u64 {
    let zero = 0u64;
    // SAFETY: a read of a local.
    let zero = unsafe { core::ptr::read_volatile(&raw const zero) };
    prefix ^ (generation & zero)
}

/// A binding lookup's answer: the value (zeroed when nothing was found), flags (what the lookup
/// found, as its caller defines them; wider than 3 bits, it is not cached), and whether it may be cached. Plain
/// values, never an `Option` of a value: the compiler may copy the undefined payload of a
/// `None`, which the verifier refuses. The value first, 8-byte aligned: the compiler copies it as
/// whole words.
#[repr(C, align(8))]
pub struct Answer {
    pub value: BindingValue,
    pub flags: u32,
    pub cacheable: bool,
}

/// The set of `prefix` in this CPU's part of `BINDING_CACHE` (`None` when the map has no part
/// for this CPU).
#[inline(always)]
pub fn binding_set(prefix: u64) -> Option<*mut BindingCacheSet> {
    // SAFETY: a helper without arguments.
    let cpu = unsafe { bpf_get_smp_processor_id() };
    BINDING_CACHE
        .get_ptr_mut(cpu.wrapping_mul(BINDING_CACHE_SETS) | cache_slot(prefix, BINDING_CACHE_SETS))
}

/// The cache slot of `prefix` in `L2_CACHE`.
#[inline(always)]
pub fn l2_entry(prefix: u64) -> Option<*mut L2Entry> {
    L2_CACHE
        .get_ptr_mut(cache_slot(prefix, L2_CACHE_SLOTS))
        .map(<*mut L2CacheEntry>::cast::<L2Entry>)
}

/// Whether `set` holds the answer for `prefix` in `generation` (never in generation 0); if so,
/// it is copied into `out` (flags and value).
#[inline(always)]
pub fn read_binding(
    set: *mut BindingCacheSet,
    prefix: u64,
    generation: u64,
    out: &mut Answer,
) -> bool {
    if generation == 0 {
        return false;
    }
    let tag = binding_tag(prefix);
    // SAFETY: `set` points to this CPU's map value; volatile loads in this order (see the
    // module's documentation).
    unsafe {
        if core::ptr::read_volatile(&raw const (*set).generation) != generation {
            return false;
        }
        read_way::<0>(set, tag, generation, out)
            || read_way::<1>(set, tag, generation, out)
            || read_way::<2>(set, tag, generation, out)
            || read_way::<3>(set, tag, generation, out)
    }
}

/// [`read_binding`]'s check of way `W` for the /64 of tag `tag`, after the set's generation was
/// read: its word, its fields, then its word and the set's generation again.
///
/// # Safety
/// `set` points to this CPU's map value.
#[inline(always)]
unsafe fn read_way<const W: usize>(
    set: *mut BindingCacheSet,
    tag: u64,
    generation: u64,
    out: &mut Answer,
) -> bool {
    const { assert!(W < BINDING_CACHE_WAYS) };
    // SAFETY: inside the set; volatile loads in this order.
    unsafe {
        let word = core::ptr::read_volatile(&raw const (*set).words[W]);
        if !way_holds(word, tag) {
            return false;
        }
        let stats_slot = core::ptr::read_volatile(&raw const (*set).stats_slots[W]);
        let peer = core::ptr::read_volatile(&raw const (*set).peers[W]);
        let word_after = core::ptr::read_volatile(&raw const (*set).words[W]);
        let after = core::ptr::read_volatile(&raw const (*set).generation);
        // One test, one branch for the verifier.
        if (word_after ^ word) | (after ^ generation) != 0 {
            return false;
        }
        let (flags, value) = unpack_way(word, stats_slot, peer);
        out.value = value;
        out.flags = flags;
    }
    true
}

/// Caches `answer` for `prefix` in `set` under `generation`, when it may be cached (and caching
/// is on, and it fits a way): in the set's first free way, else in one chosen at random (a
/// cyclic access pattern larger than the set then still hits, where evicting the oldest would
/// never).
#[inline(always)]
pub fn write_binding(set: *mut BindingCacheSet, prefix: u64, generation: u64, answer: &Answer) {
    if generation == 0 || !answer.cacheable {
        return;
    }
    let Some((word, stats_slot, peer)) = pack_way(binding_tag(prefix), answer.flags, answer.value)
    else {
        return;
    };
    // SAFETY: as in `read_binding`: this CPU's map value, volatile accesses in this order.
    unsafe {
        // All ones when the set holds answers of this generation, else 0 (its answers are then
        // gone): arithmetic, where a branch would double the verifier's paths through the rest.
        let other = core::ptr::read_volatile(&raw const (*set).generation) ^ generation;
        let keep = ((other | other.wrapping_neg()) >> 63).wrapping_sub(1);
        // Bit w: way w holds an answer of this generation.
        let taken =
            (valid::<0>(set) | valid::<1>(set) << 1 | valid::<2>(set) << 2 | valid::<3>(set) << 3)
                & keep as u32;
        let way = if taken == FULL {
            // SAFETY: a helper without arguments.
            bpf_get_prandom_u32()
        } else {
            FIRST_FREE >> (2 * taken)
        } as usize
            % BINDING_CACHE_WAYS;
        core::ptr::write_volatile(&raw mut (*set).generation, 0);
        keep_if::<0>(set, keep);
        keep_if::<1>(set, keep);
        keep_if::<2>(set, keep);
        keep_if::<3>(set, keep);
        core::ptr::write_volatile(&raw mut (*set).words[way], word);
        core::ptr::write_volatile(&raw mut (*set).stats_slots[way], stats_slot);
        core::ptr::write_volatile(&raw mut (*set).peers[way], peer);
        core::ptr::write_volatile(&raw mut (*set).generation, generation);
    }
}

/// [`write_binding`]'s way mask with every way taken.
const FULL: u32 = (1 << BINDING_CACHE_WAYS) - 1;
/// For each way mask but [`FULL`] (bit w: way w taken), its first free way, two bits a mask
/// from bit `2 * mask` on: a shift, where a chain of tests would be paths for the verifier.
const FIRST_FREE: u32 = {
    let mut table = 0;
    let mut mask = 0;
    while mask < FULL {
        table |= (!mask).trailing_zeros() << (2 * mask);
        mask += 1;
    }
    table
};
const _: () = assert!(
    BINDING_CACHE_WAYS == 4,
    "FIRST_FREE holds two bits a way mask"
);

/// Clears way `W` of `set` unless `keep` is all ones.
///
/// # Safety
/// `set` points to this CPU's map value, whose generation is 0 (being written).
#[inline(always)]
unsafe fn keep_if<const W: usize>(set: *mut BindingCacheSet, keep: u64) {
    // SAFETY: inside the set.
    unsafe {
        let word = &raw mut (*set).words[W];
        core::ptr::write_volatile(word, core::ptr::read_volatile(word) & keep);
    }
}

/// 1 when way `W` of `set` holds an answer, else 0 (its generation aside).
///
/// # Safety
/// `set` points to this CPU's map value.
#[inline(always)]
unsafe fn valid<const W: usize>(set: *mut BindingCacheSet) -> u32 {
    // SAFETY: inside the set.
    unsafe { (core::ptr::read_volatile(&raw const (*set).words[W]) & WAY_VALID) as u32 }
}

/// Whether `entry` holds the next hop for `prefix` in `generation` (never in generation 0); if
/// so, it is copied into `out`.
#[inline(always)]
pub fn read_l2(entry: *mut L2Entry, prefix: u64, generation: u64, out: &mut Hop) -> bool {
    if generation == 0 {
        return false;
    }
    // SAFETY: `entry` points to this CPU's map value; volatile loads in this order.
    unsafe {
        let before = core::ptr::read_volatile(&raw const (*entry).generation);
        let key = core::ptr::read_volatile(&raw const (*entry).key);
        let value = core::ptr::read_volatile(&raw const (*entry).value);
        let key_after = core::ptr::read_volatile(&raw const (*entry).key);
        let after = core::ptr::read_volatile(&raw const (*entry).generation);
        if before == generation && after == generation && key == prefix && key_after == prefix {
            *out = value;
            return true;
        }
    }
    false
}

/// Caches the next hop `hop` (an entry, or none: a miss is cached too) for `prefix` in `entry`
/// under `generation`, when caching is on.
#[inline(always)]
pub fn write_l2(entry: *mut L2Entry, prefix: u64, generation: u64, hop: &Hop) {
    if generation == 0 {
        return;
    }
    // SAFETY: as in `read_l2`: this CPU's map value, volatile stores in this order.
    unsafe {
        core::ptr::write_volatile(&raw mut (*entry).generation, 0);
        core::ptr::write_volatile(&raw mut (*entry).key, prefix);
        core::ptr::write_volatile(&raw mut (*entry).value, *hop);
        core::ptr::write_volatile(&raw mut (*entry).generation, generation);
    }
}
