//! Benchmark traffic sink: counts every frame and drops it.
#![no_std]
#![no_main]

use aya_ebpf::{
    bindings::xdp_action, macros::map, macros::xdp, maps::PerCpuArray, programs::XdpContext,
};

/// Slot 0: frames seen on this CPU.
#[map]
static SINK_FRAMES: PerCpuArray<u64> = PerCpuArray::with_max_entries(1, 0);

#[xdp]
pub fn bench_sink(_ctx: XdpContext) -> u32 {
    if let Some(n) = SINK_FRAMES.get_ptr_mut(0) {
        // SAFETY: per-CPU slot, no concurrent writer on this CPU.
        unsafe { *n += 1 };
    }
    xdp_action::XDP_DROP
}

anchor_ebpf::program_object!();
