//! Benchmark reference: an XDP program that only returns XDP_PASS (the floor of any XDP program).
#![no_std]
#![no_main]

use aya_ebpf::{bindings::xdp_action, macros::xdp, programs::XdpContext};

#[xdp]
pub fn ref_pass(_ctx: XdpContext) -> u32 {
    xdp_action::XDP_PASS
}

anchor_bench_ebpf::program_object!();
