//! The per-CPU caches of the binding and next-hop lookups (`anchor_common::cache`): a hit costs
//! one access to a small array, where the kernel's hash lookup costs a call (and, on kernels
//! with return-thunk mitigations, an expensive return) and a dense slot of a large pool a cache
//! and TLB miss.
//!
//! An entry is written by the program of its CPU only, generation 0 first and last: a reader
//! who sees the generation it wants and the key before and after the value has read one whole
//! entry, even if another run of the program on this CPU wrote it in between.
//!
//! Ordering against the daemon: it writes a map, then advances the generation. A lookup made
//! after reading generation `g` is cached under `g`, so an entry of the current generation was
//! looked up after that generation's changes. The lookup's key carries a data dependency on the
//! generation read ([`depends_on`]), which orders the lookup's loads after that read on CPUs
//! that reorder loads (x86 does not).

use anchor_common::{
    BindingValue, NextHop,
    cache::{BINDING_CACHE_SLOTS, BindingCacheEntry, L2_CACHE_SLOTS, L2CacheEntry, cache_slot},
};
use aya_ebpf::{macros::map, maps::PerCpuArray};

#[map]
static BINDING_CACHE: PerCpuArray<BindingCacheEntry> =
    PerCpuArray::with_max_entries(BINDING_CACHE_SLOTS, 0);

#[map]
static L2_CACHE: PerCpuArray<L2CacheEntry> = PerCpuArray::with_max_entries(L2_CACHE_SLOTS, 0);

/// The layout both entry types share: key, generation, flags, then the cached value.
#[repr(C)]
pub struct Entry<T> {
    key: u64,
    generation: u32,
    flags: u32,
    value: T,
}
const _: () = assert!(
    core::mem::size_of::<Entry<BindingValue>>() == core::mem::size_of::<BindingCacheEntry>()
);
const _: () = assert!(core::mem::size_of::<Entry<Hop>>() == core::mem::size_of::<L2CacheEntry>());

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

/// `prefix` with a data dependency on `generation` that the compiler cannot remove (an AND
/// with a zero it cannot see), so that a lookup keyed by the result is made after the
/// generation was read.
#[inline(always)]
pub fn depends_on(prefix: u64, generation: u32) -> u64 {
    let zero = 0u64;
    // SAFETY: a read of a local.
    let zero = unsafe { core::ptr::read_volatile(&raw const zero) };
    prefix ^ (u64::from(generation) & zero)
}

/// A lookup's answer: the value (zeroed when nothing was found), flags (what the lookup found,
/// as its caller defines them), and whether it may be cached. Plain values, never an `Option`
/// of a value: the compiler may copy the undefined payload of a `None`, which the verifier
/// refuses. The value first, 8-byte aligned: the compiler copies it as whole words.
#[repr(C, align(8))]
pub struct Answer<T> {
    pub value: T,
    pub flags: u32,
    pub cacheable: bool,
}

/// The cache slot of `prefix` in `BINDING_CACHE` (`None` only if the index were out of range).
#[inline(always)]
pub fn binding_entry(prefix: u64) -> Option<*mut Entry<BindingValue>> {
    BINDING_CACHE
        .get_ptr_mut(cache_slot(prefix, BINDING_CACHE_SLOTS))
        .map(<*mut BindingCacheEntry>::cast::<Entry<BindingValue>>)
}

/// The cache slot of `prefix` in `L2_CACHE`.
#[inline(always)]
pub fn l2_entry(prefix: u64) -> Option<*mut Entry<Hop>> {
    L2_CACHE
        .get_ptr_mut(cache_slot(prefix, L2_CACHE_SLOTS))
        .map(<*mut L2CacheEntry>::cast::<Entry<Hop>>)
}

/// Whether `entry` holds the answer for `prefix` in `generation` (never in generation 0); if
/// so, it is copied into `out` (flags and value).
#[inline(always)]
pub fn read<T: Copy>(
    entry: *mut Entry<T>,
    prefix: u64,
    generation: u32,
    out: &mut Answer<T>,
) -> bool {
    if generation == 0 {
        return false;
    }
    // SAFETY: `entry` points to this CPU's map value; volatile loads in this order (see the
    // module's documentation).
    unsafe {
        let before = core::ptr::read_volatile(&raw const (*entry).generation);
        let key = core::ptr::read_volatile(&raw const (*entry).key);
        let flags = core::ptr::read_volatile(&raw const (*entry).flags);
        let value = core::ptr::read_volatile(&raw const (*entry).value);
        let key_after = core::ptr::read_volatile(&raw const (*entry).key);
        let after = core::ptr::read_volatile(&raw const (*entry).generation);
        if before == generation && after == generation && key == prefix && key_after == prefix {
            out.value = value;
            out.flags = flags;
            return true;
        }
    }
    false
}

/// Caches `answer` for `prefix` in `entry` under `generation`, when it may be cached (and
/// caching is on).
#[inline(always)]
pub fn write<T: Copy>(entry: *mut Entry<T>, prefix: u64, generation: u32, answer: &Answer<T>) {
    if generation == 0 || !answer.cacheable {
        return;
    }
    // SAFETY: as in `read`: this CPU's map value, volatile stores in this order.
    unsafe {
        core::ptr::write_volatile(&raw mut (*entry).generation, 0);
        core::ptr::write_volatile(&raw mut (*entry).key, prefix);
        core::ptr::write_volatile(&raw mut (*entry).flags, answer.flags);
        core::ptr::write_volatile(&raw mut (*entry).value, answer.value);
        core::ptr::write_volatile(&raw mut (*entry).generation, generation);
    }
}
