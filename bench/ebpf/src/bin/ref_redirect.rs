//! Benchmark reference: redirects every frame, untouched, to one interface (the limit of the
//! forwarding rig: no parsing, no lookup, no rewrite).
#![no_std]
#![no_main]

use aya_ebpf::{helpers::bpf_redirect, macros::xdp, programs::XdpContext};

/// Index of the interface to redirect to. Set at load time.
#[unsafe(no_mangle)]
static TARGET_IFINDEX: u32 = 0;

#[xdp]
#[expect(
    clippy::cast_possible_truncation,
    clippy::cast_sign_loss,
    reason = "bpf_redirect returns an XDP action"
)]
pub fn ref_redirect(_ctx: XdpContext) -> u32 {
    // SAFETY: a read of a load-time constant; volatile so the compiler cannot fold the default.
    let ifindex = unsafe { core::ptr::read_volatile(&raw const TARGET_IFINDEX) };
    // SAFETY: plain helper call.
    unsafe { bpf_redirect(ifindex, 0) as u32 }
}

anchor_bench_ebpf::program_object!();
