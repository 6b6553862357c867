//! Benchmark reference: redirects every frame, untouched, to one interface through a device map
//! (`bpf_redirect_map`), the other form of XDP_REDIRECT: no parsing, no lookup, no rewrite.
#![no_std]
#![no_main]

use anchor_common::maps::MAX_TX_PORTS;
use aya_ebpf::{
    bindings::xdp_action,
    macros::{map, xdp},
    maps::DevMap,
    programs::XdpContext,
};

/// The out interface, at its index (the anchor's `TX_PORTS` capacity). Filled at load time.
#[map]
static PORTS: DevMap = DevMap::with_max_entries(MAX_TX_PORTS, 0);

/// Index of the interface to redirect to (its key in `PORTS`). Set at load time.
#[unsafe(no_mangle)]
static TARGET_IFINDEX: u32 = 0;

#[xdp]
pub fn ref_redirect_map(_ctx: XdpContext) -> u32 {
    // SAFETY: a read of a load-time constant; volatile so the compiler cannot fold the default.
    let ifindex = unsafe { core::ptr::read_volatile(&raw const TARGET_IFINDEX) };
    PORTS
        .redirect(ifindex, 0)
        .unwrap_or(xdp_action::XDP_ABORTED)
}

anchor_bench_ebpf::program_object!();
