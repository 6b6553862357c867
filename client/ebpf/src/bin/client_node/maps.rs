//! The programs' maps (names and capacities in `anchor_common::client`). Userspace writes the
//! keys as byte arrays; the programs use word types with the same memory image.

use anchor_common::client::{ClientCounter, ClientTunnel, MAX_CLIENT_ANCHORS, MAX_CLIENT_TUNNELS};
use aya_ebpf::{
    macros::map,
    maps::{HashMap, PerCpuArray},
};

use crate::headers::Addr;

/// The tunnel of each /64 the node uses from an earlier anchor, keyed by the /64 (the memory
/// image of its 8 bytes).
#[map]
pub static CLIENT_TUNNELS: HashMap<u64, ClientTunnel> =
    HashMap::with_max_entries(MAX_CLIENT_TUNNELS, 0);

/// The anchors whose tunnels are decapsulated (value unused).
#[map]
pub static CLIENT_ANCHORS: HashMap<Addr, u32> = HashMap::with_max_entries(MAX_CLIENT_ANCHORS, 0);

/// Packets per `ClientCounter`.
#[map]
pub static CLIENT_COUNTERS: PerCpuArray<u64> =
    PerCpuArray::with_max_entries(ClientCounter::COUNT, 0);

#[inline(always)]
pub fn count(counter: ClientCounter) {
    if let Some(c) = CLIENT_COUNTERS.get_ptr_mut(counter as u32) {
        // SAFETY: per-CPU slot, no concurrent writer on this CPU.
        unsafe { *c += 1 };
    }
}

/// Whether `addr` is one of the node's anchors.
#[inline(always)]
pub fn is_anchor(addr: Addr) -> bool {
    CLIENT_ANCHORS.get_ptr(addr).is_some()
}

/// The tunnel of the /64 `hi`, as (anchor, care-of address).
#[inline(always)]
pub fn tunnel(hi: u64) -> Option<(Addr, Addr)> {
    let value = CLIENT_TUNNELS.get_ptr(hi)?;
    // SAFETY: a map value of `ClientTunnel`'s 32 bytes; both fields are read right away.
    unsafe {
        Some((
            Addr::read(&raw const (*value).anchor),
            Addr::read(&raw const (*value).coa),
        ))
    }
}
