//! The per-CPU caches of the binding and next-hop lookups (`anchor_common::cache`): a hit costs
//! one access to a small array, where the kernel's hash lookup costs a call (and, on kernels
//! with return-thunk mitigations, an expensive return) and a dense slot of a large pool a cache
//! and TLB miss.
//!
//! A set or entry is written by the program of its CPU only, generation 0 first and last: a
//! reader who sees the generation it wants, and the key (and the set's meta) before and after
//! the value, has read one whole answer, even if another run of the program on this CPU wrote
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
        WAY_FLAGS_SHIFT, WAY_VALID, cache_slot,
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
/// found, as its caller defines them, at most 7 bits), and whether it may be cached. Plain
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
    // SAFETY: `set` points to this CPU's map value; volatile loads in this order (see the
    // module's documentation).
    unsafe {
        if core::ptr::read_volatile(&raw const (*set).generation) != generation {
            return false;
        }
        let meta = core::ptr::read_volatile(&raw const (*set).meta);
        read_way::<0>(set, prefix, generation, meta, out)
            || read_way::<1>(set, prefix, generation, meta, out)
            || read_way::<2>(set, prefix, generation, meta, out)
    }
}

/// [`read_binding`]'s check of way `W`, `meta` the set's meta read after its generation.
///
/// # Safety
/// `set` points to this CPU's map value.
#[inline(always)]
unsafe fn read_way<const W: usize>(
    set: *mut BindingCacheSet,
    prefix: u64,
    generation: u64,
    meta: u64,
    out: &mut Answer,
) -> bool {
    const { assert!(W < BINDING_CACHE_WAYS) };
    let byte = (meta >> (8 * W)) & 0xff;
    if byte & WAY_VALID == 0 {
        return false;
    }
    // SAFETY: inside the set; volatile loads in this order.
    unsafe {
        if core::ptr::read_volatile(&raw const (*set).keys[W]) != prefix {
            return false;
        }
        let value = core::ptr::read_volatile(&raw const (*set).values[W]);
        let key_after = core::ptr::read_volatile(&raw const (*set).keys[W]);
        let meta_after = core::ptr::read_volatile(&raw const (*set).meta);
        let after = core::ptr::read_volatile(&raw const (*set).generation);
        if key_after != prefix || meta_after != meta || after != generation {
            return false;
        }
        out.value = value;
        out.flags = (byte >> WAY_FLAGS_SHIFT) as u32;
    }
    true
}

/// Caches `answer` for `prefix` in `set` under `generation`, when it may be cached (and caching
/// is on): in the set's first free way, else in one chosen at random (a cyclic access pattern
/// larger than the set then still hits, where evicting the oldest would never).
#[inline(always)]
pub fn write_binding(set: *mut BindingCacheSet, prefix: u64, generation: u64, answer: &Answer) {
    if generation == 0 || !answer.cacheable {
        return;
    }
    // SAFETY: as in `read_binding`: this CPU's map value, volatile accesses in this order.
    unsafe {
        let meta = if core::ptr::read_volatile(&raw const (*set).generation) == generation {
            core::ptr::read_volatile(&raw const (*set).meta)
        } else {
            0
        };
        let way = if meta & WAY_VALID == 0 {
            0
        } else if (meta >> 8) & WAY_VALID == 0 {
            1
        } else if (meta >> 16) & WAY_VALID == 0 {
            2
        } else {
            // SAFETY: a helper without arguments.
            (u64::from(bpf_get_prandom_u32()) * BINDING_CACHE_WAYS as u64) >> 32
        };
        let byte = (u64::from(answer.flags & 0x7f) << WAY_FLAGS_SHIFT) | WAY_VALID;
        let meta = (meta & !(0xff << (8 * way))) | (byte << (8 * way));
        core::ptr::write_volatile(&raw mut (*set).generation, 0);
        match way {
            0 => write_way::<0>(set, prefix, answer.value),
            1 => write_way::<1>(set, prefix, answer.value),
            _ => write_way::<2>(set, prefix, answer.value),
        }
        core::ptr::write_volatile(&raw mut (*set).meta, meta);
        core::ptr::write_volatile(&raw mut (*set).generation, generation);
    }
}

/// Writes way `W` of `set`: its key and value.
///
/// # Safety
/// `set` points to this CPU's map value, whose generation is 0 (being written).
#[inline(always)]
unsafe fn write_way<const W: usize>(set: *mut BindingCacheSet, prefix: u64, value: BindingValue) {
    const { assert!(W < BINDING_CACHE_WAYS) };
    // SAFETY: inside the set.
    unsafe {
        core::ptr::write_volatile(&raw mut (*set).keys[W], prefix);
        core::ptr::write_volatile(&raw mut (*set).values[W], value);
    }
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
