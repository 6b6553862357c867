//! Benchmark traffic generator, run with BPF_PROG_TEST_RUN in live-frames mode.
//!
//! Live-frames pages are recycled without copying the packet in again, so whatever the router
//! did to the previous frame in this page (a new head, a decremented hop limit, new MACs) is
//! still there: every send writes the whole Ethernet + IPv6 + UDP header again from
//! `GEN_HEADER`. The input frame carries `SPARE` extra bytes in front, which the program drops,
//! so the frame leaves with 40 more bytes of headroom than the page gives: an encapsulating
//! router then still leaves the next hop the headroom it needs not to copy the frame.
#![no_std]
#![no_main]

use aya_ebpf::{
    bindings::xdp_action, helpers::bpf_xdp_adjust_head, macros::xdp, programs::XdpContext,
};

/// Bytes in front of the frame that the program drops.
const SPARE: usize = 40;
const HEADER_WORDS: usize = 8;

/// Ethernet + IPv6 + UDP headers (62 bytes) and 2 payload bytes. Set at load time.
#[unsafe(no_mangle)]
static GEN_HEADER: [u64; HEADER_WORDS] = [0; HEADER_WORDS];

#[xdp]
#[expect(
    clippy::needless_pass_by_value,
    reason = "#[xdp] passes the context by value"
)]
#[expect(
    clippy::cast_possible_truncation,
    clippy::cast_possible_wrap,
    reason = "SPARE is a 40-byte constant"
)]
pub fn bench_gen(ctx: XdpContext) -> u32 {
    // SAFETY: valid context.
    if unsafe { bpf_xdp_adjust_head(ctx.ctx, SPARE as i32) } != 0 {
        return xdp_action::XDP_ABORTED;
    }
    let (start, end) = (ctx.data(), ctx.data_end());
    if start + HEADER_WORDS * 8 > end {
        return xdp_action::XDP_ABORTED;
    }
    let hdr = start as *mut u64;
    let words = core::ptr::addr_of!(GEN_HEADER).cast::<u64>();
    for i in 0..HEADER_WORDS {
        // SAFETY: a read of a load-time constant (volatile so the compiler cannot fold the
        // default), then a write inside the frame (checked above).
        unsafe {
            let word = core::ptr::read_volatile(words.add(i));
            core::ptr::write_unaligned(hdr.add(i), word);
        }
    }
    xdp_action::XDP_TX
}

anchor_bench_ebpf::program_object!();
