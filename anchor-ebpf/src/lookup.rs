//! Binding lookup: a /64 of one of this router's pools in its dense table (and nowhere else);
//! any other /64 in the hash, then the LPM trie of shorter prefixes only on a miss (and only
//! while it holds any); the peer's locator from `PEERS`.

use anchor_common::{
    BindingKey, BindingKind, BindingValue, Counter, LpmKey, binding::FLAG_REVERSE_TUNNEL,
    dense::MAX_POOLS,
};
use aya_ebpf::maps::lpm_trie::Key;

use crate::{
    cache::{self, Answer},
    maps::{BINDINGS, DENSE, PEERS, POOLS, SHORT_PREFIXES, Settings},
    parse::Addr,
    stats::count,
};

/// The fields of a binding the program uses, read out of the map value.
#[derive(Clone, Copy)]
pub struct Binding {
    pub peer: Addr,
    /// The peer's index in `PEERS` and `NEXTHOPS`.
    pub peer_index: u32,
    pub kind: u8,
    pub flags: u8,
    pub stats_slot: u32,
}

impl Binding {
    /// The binding `value` (a copy of a map value), with its peer's locator from `PEERS`.
    #[inline(always)]
    fn of(value: BindingValue) -> Option<Self> {
        let BindingValue {
            peer,
            kind,
            flags,
            stats_slot,
        } = value;
        let peer_index = u32::from(peer);
        let addr = PEERS.get_ptr(peer_index)?;
        // SAFETY: an array value of 16 bytes, 8-byte aligned (`PeerAddr`); the same layout as
        // `Addr`.
        let peer = unsafe { core::ptr::read(addr.cast::<Addr>()) };
        Some(Self {
            peer,
            peer_index,
            kind,
            flags,
            stats_slot,
        })
    }

    /// The visiting binding a `VISITING_L2` entry carries: its home's `PEERS` index and its
    /// statistics slot; `None` when the index is outside the array.
    #[inline(always)]
    pub fn carried(peer_index: u32, stats_slot: u32) -> Option<Self> {
        let addr = PEERS.get_ptr(peer_index)?;
        // SAFETY: as in `read`.
        let peer = unsafe { core::ptr::read(addr.cast::<Addr>()) };
        Some(Self {
            peer,
            peer_index,
            kind: BindingKind::Visiting as u8,
            flags: 0,
            stats_slot,
        })
    }

    #[inline(always)]
    pub fn reverse_tunnel(&self) -> bool {
        self.flags & FLAG_REVERSE_TUNNEL != 0
    }
}

/// The LPM trie key `{ prefix_len: u32, data: [u8; 8] }` as 8-byte-aligned words on the stack.
/// Its data field is only 4-byte aligned: written with volatile 32-bit stores, which the
/// compiler cannot merge into a misaligned 64-bit stack store (the verifier refuses those).
#[repr(C, align(8))]
struct TrieKey([u32; 4]);
const _: () = assert!(core::mem::size_of::<Key<LpmKey>>() == 12);

/// The `DENSE` slot of the /64 whose upper 64 bits (as loaded from the packet) are `prefix`;
/// `None` when no pool holds it (or there are no pools).
#[inline(always)]
fn pool_slot(settings: Settings, prefix: u64) -> Option<u32> {
    if !settings.dense() {
        return None;
    }
    let host = u64::from_be(prefix);
    let mut i = 0;
    while i < MAX_POOLS {
        let pool = POOLS.get(i)?;
        if pool.count == 0 {
            return None;
        }
        if let Some(index) = pool.index(host) {
            return Some(index);
        }
        i += 1;
    }
    None
}

/// The binding of the /64 `prefix` when it is in one of this router's pools (a dense slot, no
/// hash lookup); `None` for any other /64.
#[inline(always)]
pub fn lookup_pooled(settings: Settings, prefix: u64) -> Option<Binding> {
    let found = find(settings, prefix, true);
    match found.found {
        Looked::Done(binding) if found.pooled => binding,
        _ => None,
    }
}

/// The binding of the /64 whose upper 64 bits (as loaded from the packet) are `prefix`.
#[inline(always)]
pub fn lookup(settings: Settings, prefix: u64) -> Option<Binding> {
    match find(settings, prefix, false).found {
        Looked::Done(binding) => binding,
        Looked::Deferred => None,
    }
}

/// A lookup done, or left for later.
#[derive(Clone, Copy)]
pub enum Looked {
    Done(Option<Binding>),
    Deferred,
}

/// The destination's lookup: its binding, and whether its /64 is in one of this router's pools.
pub struct DstLookup {
    pub found: Looked,
    pub pooled: bool,
}

/// The binding of the destination /64 `prefix`; with `defer`, a /64 outside the pools is not
/// looked up (its binding cannot be a redirect, which is all the caller needs first), unless
/// the cache knows it.
#[inline(always)]
pub fn lookup_dst(settings: Settings, prefix: u64, defer: bool) -> DstLookup {
    find(settings, prefix, defer)
}

/// The binding of `prefix` and whether it is in a pool: from the per-CPU cache, else from the
/// dense slot of a /64 of a pool, else (unless `defer`) from the hash map, then the trie. Every
/// answer but the trie's and a deferral is cached ("none" only while the trie is empty).
#[inline(always)]
fn find(settings: Settings, prefix: u64, defer: bool) -> DstLookup {
    if defer && !settings.dense() {
        // Without pools, a deferred /64 is never looked up now: no cache to ask either.
        return DstLookup {
            found: Looked::Deferred,
            pooled: false,
        };
    }
    let generation = settings.generation();
    let set = cache::binding_set(prefix);
    let mut answer = Answer {
        value: BindingValue::EMPTY,
        flags: 0,
        cacheable: false,
    };
    let hit = set.is_some_and(|set| cache::read_binding(set, prefix, generation, &mut answer));
    if !hit {
        answer = look_up(settings, cache::depends_on(prefix, generation), defer);
        if let Some(set) = set {
            cache::write_binding(set, prefix, generation, &answer);
        }
    }
    let (flags, value) = (answer.flags, answer.value);
    DstLookup {
        found: if flags & DEFERRED != 0 {
            Looked::Deferred
        } else if flags & FOUND != 0 {
            Looked::Done(Binding::of(value))
        } else {
            Looked::Done(None)
        },
        pooled: flags & FOUND_POOLED != 0,
    }
}

/// The binding of `prefix` from the maps: the dense slot of a /64 of a pool, else (unless
/// `defer`) the hash map, then the trie.
#[inline(always)]
fn look_up(settings: Settings, prefix: u64, defer: bool) -> Answer {
    if let Some(index) = pool_slot(settings, prefix) {
        let value = dense_value(index);
        return Answer {
            value,
            flags: FOUND_POOLED | u32::from(value.kind != 0),
            cacheable: true,
        };
    }
    if defer {
        return Answer {
            value: BindingValue::EMPTY,
            flags: DEFERRED,
            cacheable: false,
        };
    }
    lookup_hashed(settings, prefix)
}

/// Answer flags of a binding lookup: a binding was found.
const FOUND: u32 = 1;
/// Answer flags of a binding lookup: the /64 is in one of this router's pools.
const FOUND_POOLED: u32 = 2;
/// Answer flags of a binding lookup: not looked up (a /64 outside the pools, deferred).
const DEFERRED: u32 = 4;

/// A copy of the `DENSE` slot `index` (kind 0: no binding).
#[inline(always)]
fn dense_value(index: u32) -> BindingValue {
    match DENSE.get_ptr(index) {
        // SAFETY: a map value; a copy (userspace may replace the value meanwhile, which at
        // worst gives this packet the old or the new binding).
        Some(value) => unsafe { core::ptr::read(value) },
        None => BindingValue::EMPTY,
    }
}

/// The binding of a /64 outside the pools, whose upper 64 bits (as loaded from the packet) are
/// `prefix`: the hash map, then the trie. The hash map's answer may be cached, and so may
/// "none" while the trie is empty.
#[inline(always)]
fn lookup_hashed(settings: Settings, prefix: u64) -> Answer {
    let key = prefix;
    // SAFETY: a `BindingKey` is 8 plain bytes; `key`'s memory image is the prefix in wire
    // order, and its alignment exceeds the key's.
    let hash_key = unsafe { &*core::ptr::addr_of!(key).cast::<BindingKey>() };
    if let Some(v) = BINDINGS.get_ptr(hash_key) {
        return Answer {
            // SAFETY: a map value; a copy (userspace may replace the value meanwhile, which at
            // worst gives this packet the old or the new binding).
            value: unsafe { core::ptr::read(v) },
            flags: FOUND,
            cacheable: true,
        };
    }
    let none = Answer {
        value: BindingValue::EMPTY,
        flags: 0,
        cacheable: !settings.short_prefixes(),
    };
    if !settings.short_prefixes() {
        return none;
    }
    let bytes = prefix.to_ne_bytes();
    let mut trie_key = TrieKey([0; 4]);
    let words = trie_key.0.as_mut_ptr();
    // SAFETY: stores inside `trie_key`, at 4-byte alignment.
    unsafe {
        core::ptr::write_volatile(words, 64);
        core::ptr::write_volatile(
            words.add(1),
            u32::from_ne_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]),
        );
        core::ptr::write_volatile(
            words.add(2),
            u32::from_ne_bytes([bytes[4], bytes[5], bytes[6], bytes[7]]),
        );
    }
    // SAFETY: `trie_key` holds a valid `Key<LpmKey>` in its first 12 bytes, more aligned.
    let key = unsafe { &*words.cast::<Key<LpmKey>>() };
    let Some(value) = SHORT_PREFIXES.get(key) else {
        return none;
    };
    count(Counter::LpmHit, 0);
    Answer {
        value: *value,
        flags: FOUND,
        cacheable: false,
    }
}
