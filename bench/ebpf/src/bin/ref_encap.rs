//! Benchmark reference: the least an encapsulator can do. Grows the head by 40 bytes, writes a
//! constant Ethernet header and a constant outer IPv6 header (only its payload length follows
//! the frame), and sends the frame back with XDP_TX. No parsing, no lookup, no counters.
#![no_std]
#![no_main]

use aya_ebpf::{
    bindings::xdp_action, helpers::bpf_xdp_adjust_head, macros::xdp, programs::XdpContext,
};

const ETH_HLEN: usize = 14;
const IPV6_HLEN: usize = 40;

/// Ethernet (02:..:02 <- 02:..:01, IPv6) and an outer IPv6 header 2001:db8::1 -> 2001:db8::2,
/// next header 41, hop limit 64: 54 bytes, as words in memory order. Bytes 18-19 (the payload
/// length) are filled in per frame.
const HEADERS: [u8; ETH_HLEN + IPV6_HLEN] = headers();

const fn headers() -> [u8; ETH_HLEN + IPV6_HLEN] {
    let mut h = [0u8; ETH_HLEN + IPV6_HLEN];
    let eth = [2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1, 0x86, 0xdd];
    let mut i = 0;
    while i < ETH_HLEN {
        h[i] = eth[i];
        i += 1;
    }
    let ip = ETH_HLEN;
    h[ip] = 0x60;
    h[ip + 6] = 41;
    h[ip + 7] = 64;
    let prefix = [0x20, 0x01, 0x0d, 0xb8];
    let mut i = 0;
    while i < 4 {
        h[ip + 8 + i] = prefix[i];
        h[ip + 24 + i] = prefix[i];
        i += 1;
    }
    h[ip + 23] = 1;
    h[ip + 39] = 2;
    h
}

/// Bytes `at..at + N` of [`HEADERS`] as a native-order integer.
const fn word<const N: usize>(at: usize) -> u64 {
    let mut bytes = [0u8; 8];
    let mut i = 0;
    while i < N {
        bytes[i] = HEADERS[at + i];
        i += 1;
    }
    u64::from_ne_bytes(bytes)
}

#[xdp]
#[expect(
    clippy::needless_pass_by_value,
    reason = "#[xdp] passes the context by value"
)]
#[expect(
    clippy::cast_possible_truncation,
    clippy::cast_possible_wrap,
    reason = "header constants and the length of one frame, narrowed to their header fields"
)]
pub fn ref_encap(ctx: XdpContext) -> u32 {
    // SAFETY: valid context.
    if unsafe { bpf_xdp_adjust_head(ctx.ctx, -(IPV6_HLEN as i32)) } != 0 {
        return xdp_action::XDP_ABORTED;
    }
    let (start, end) = (ctx.data(), ctx.data_end());
    if start + ETH_HLEN + IPV6_HLEN > end {
        return xdp_action::XDP_ABORTED;
    }
    let payload_len = (end - start - ETH_HLEN - IPV6_HLEN) as u16;
    let p = start as *mut u8;
    // SAFETY: the 54 bytes lie inside the frame (checked above); unaligned packet stores.
    unsafe {
        for i in 0..6 {
            core::ptr::write_unaligned(p.add(8 * i).cast::<u64>(), word::<8>(8 * i));
        }
        core::ptr::write_unaligned(p.add(48).cast::<u32>(), word::<4>(48) as u32);
        core::ptr::write_unaligned(p.add(52).cast::<u16>(), word::<2>(52) as u16);
        core::ptr::write_unaligned(p.add(ETH_HLEN + 4).cast::<u16>(), payload_len.to_be());
    }
    xdp_action::XDP_TX
}

anchor_bench_ebpf::program_object!();
