//! Benchmark traffic sink: counts the frames that arrive as the running variant must deliver
//! them (IPv6, the expected outer destination and next header, and source when asked), counts
//! every other frame apart, and drops both.
#![no_std]
#![no_main]

use aya_ebpf::{
    bindings::xdp_action,
    macros::{map, xdp},
    maps::{Array, PerCpuArray},
    programs::XdpContext,
};

/// Slot 0: frames as expected; slot 1: every other frame. Per CPU.
#[map]
static SINK_FRAMES: PerCpuArray<u64> = PerCpuArray::with_max_entries(2, 0);

/// The expected IPv6 header fields: octets 0..16 the source, 16..32 the destination, 32 the
/// next header, 33 non-zero when the source is checked.
#[map]
static SINK_EXPECT: Array<[u8; 34]> = Array::with_max_entries(1, 0);

/// Ethernet header, then the IPv6 fields compared.
const ETH_LEN: usize = 14;
const NEXT_HEADER: usize = ETH_LEN + 6;
const SOURCE: usize = ETH_LEN + 8;
const DESTINATION: usize = ETH_LEN + 24;
const IPV6_END: usize = ETH_LEN + 40;

#[xdp]
#[expect(
    clippy::needless_pass_by_value,
    reason = "#[xdp] passes the context by value"
)]
pub fn bench_sink(ctx: XdpContext) -> u32 {
    let slot = u32::from(!as_expected(&ctx));
    if let Some(n) = SINK_FRAMES.get_ptr_mut(slot) {
        // SAFETY: per-CPU slot, no concurrent writer on this CPU.
        unsafe { *n += 1 };
    }
    xdp_action::XDP_DROP
}

fn as_expected(ctx: &XdpContext) -> bool {
    let (start, end) = (ctx.data(), ctx.data_end());
    if start + IPV6_END > end {
        return false;
    }
    let Some(expect) = SINK_EXPECT.get(0) else {
        return false;
    };
    let frame = start as *const u8;
    // SAFETY: every offset read below is under IPV6_END, checked against data_end above.
    unsafe {
        if *frame.add(12) != 0x86 || *frame.add(13) != 0xdd {
            return false;
        }
        if *frame.add(NEXT_HEADER) != expect[32] {
            return false;
        }
        for i in 0..16 {
            if *frame.add(DESTINATION + i) != expect[16 + i] {
                return false;
            }
            if expect[33] != 0 && *frame.add(SOURCE + i) != expect[i] {
                return false;
            }
        }
    }
    true
}

anchor_bench_ebpf::program_object!();
