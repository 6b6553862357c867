//! Benchmark reference: one lookup in a hash map shaped like the anchor's `BINDINGS` (same key,
//! value and size), keyed by the upper 64 bits of an untagged IPv6 destination. XDP_PASS when
//! the /64 is in the map, XDP_DROP otherwise. No parsing beyond one bounds check, no counters:
//! the least a per-/64 lookup costs.
#![no_std]
#![no_main]

use anchor_common::{BindingKey, BindingValue, config::DEFAULT_MAX_BINDINGS};
use aya_ebpf::{
    bindings::xdp_action, macros::map, macros::xdp, maps::HashMap, programs::XdpContext,
};

/// Ethernet header, then the IPv6 destination at byte 24 of the IPv6 header.
const DST_OFFSET: usize = 14 + 24;

#[map]
static LOOKUP: HashMap<BindingKey, BindingValue> =
    HashMap::with_max_entries(DEFAULT_MAX_BINDINGS, 0);

#[xdp]
#[expect(
    clippy::needless_pass_by_value,
    reason = "#[xdp] passes the context by value"
)]
pub fn ref_lookup(ctx: XdpContext) -> u32 {
    let (start, end) = (ctx.data(), ctx.data_end());
    if start + DST_OFFSET + 8 > end {
        return xdp_action::XDP_DROP;
    }
    // SAFETY: the 8 bytes lie inside the frame (checked above); an unaligned packet load.
    let key = unsafe { core::ptr::read_unaligned((start + DST_OFFSET) as *const u64) };
    // SAFETY: a `BindingKey` is 8 plain bytes; `key`'s memory image is the /64 in wire order.
    let key = unsafe { &*core::ptr::addr_of!(key).cast::<BindingKey>() };
    match LOOKUP.get_ptr(key) {
        // SAFETY: `v` points to a map value; a plain load, as the anchor reads its peer.
        Some(v) if unsafe { core::ptr::read_volatile(&raw const (*v).peer) } != u16::MAX => {
            xdp_action::XDP_PASS
        }
        _ => xdp_action::XDP_DROP,
    }
}

anchor_bench_ebpf::program_object!();
