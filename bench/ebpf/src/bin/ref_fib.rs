//! Benchmark reference: the least a routing XDP forwarder does. A `bpf_fib_lookup` on the
//! frame's IPv6 destination, the hop limit decremented, new MACs, `bpf_redirect`; anything
//! else (not IPv6, no route or neighbour) is passed. No binding lookup, no counters. It shows
//! what the per-packet FIB lookup costs on its own.
#![no_std]
#![no_main]

use aya_ebpf::{
    bindings::{BPF_FIB_LKUP_RET_SUCCESS, bpf_fib_lookup as FibParams, xdp_action},
    helpers::{bpf_fib_lookup, bpf_redirect},
    macros::xdp,
    programs::XdpContext,
};

const ETH_HLEN: usize = 14;
const IPV6_HLEN: usize = 40;
const AF_INET6: u8 = 10;

/// The lookup parameters (`struct bpf_fib_lookup`, 64 bytes) as 8-byte-aligned words on the
/// stack, written and read with volatile accesses of natural alignment: the verifier refuses
/// misaligned stack accesses, which the compiler could otherwise make by merging fields.
#[repr(C, align(8))]
struct Params([u64; 8]);
const _: () = assert!(core::mem::size_of::<FibParams>() == core::mem::size_of::<Params>());

#[xdp]
#[expect(
    clippy::needless_pass_by_value,
    reason = "#[xdp] passes the context by value"
)]
#[expect(
    clippy::cast_possible_truncation,
    clippy::cast_possible_wrap,
    clippy::cast_sign_loss,
    reason = "header fields taken out of 64-bit words, a 64-byte parameter size, and the XDP action bpf_redirect returns"
)]
pub fn ref_fib(ctx: XdpContext) -> u32 {
    let (start, end) = (ctx.data(), ctx.data_end());
    if start + ETH_HLEN + IPV6_HLEN > end {
        return xdp_action::XDP_PASS;
    }
    let ip = (start + ETH_HLEN) as *const u8;
    let mut params = Params([0; 8]);
    let words = params.0.as_mut_ptr();
    // SAFETY: the 40-byte IPv6 header lies inside the frame (checked above); the stores are
    // inside `params`, at 8-byte alignment.
    unsafe {
        let first = core::ptr::read_unaligned(ip.cast::<u64>());
        let tot_len = IPV6_HLEN as u64 + u64::from(u16::from_be((first >> 32) as u16));
        let l4_protocol = (first >> 48) & 0xff;
        // family, l4_protocol, sport = 0, dport = 0, tot_len.
        core::ptr::write_volatile(
            words,
            u64::from(AF_INET6) | l4_protocol << 8 | tot_len << 48,
        );
        // ifindex, flowinfo (the first word of the header without the version).
        let flowinfo = u64::from(first as u32 & 0x0fff_ffffu32.to_be());
        core::ptr::write_volatile(words.add(1), ctx.ingress_ifindex() as u64 | flowinfo << 32);
        for i in 0..4 {
            let addr = core::ptr::read_unaligned(ip.add(8 + 8 * i).cast::<u64>());
            core::ptr::write_volatile(words.add(2 + i), addr);
        }
        core::ptr::write_volatile(words.add(6), 0);
        core::ptr::write_volatile(words.add(7), 0);
    }
    // SAFETY: valid context and a params struct of the size passed.
    let rc = unsafe {
        bpf_fib_lookup(
            ctx.ctx.cast(),
            words.cast::<FibParams>(),
            core::mem::size_of::<FibParams>() as i32,
            0,
        )
    };
    if rc != i64::from(BPF_FIB_LKUP_RET_SUCCESS) {
        return xdp_action::XDP_PASS;
    }
    // Bounds again: the verifier does not carry them across the helper call.
    let (start, end) = (ctx.data(), ctx.data_end());
    if start + ETH_HLEN + IPV6_HLEN > end {
        return xdp_action::XDP_PASS;
    }
    let frame = start as *mut u8;
    // SAFETY: inside the frame (checked above) and inside `params`, 4-byte aligned.
    unsafe {
        let hop_limit = frame.add(ETH_HLEN + 7);
        if *hop_limit <= 1 {
            return xdp_action::XDP_PASS;
        }
        *hop_limit -= 1;
        // smac at byte 52, dmac at 58: read as the words at 52, 56 and 60.
        let w = words.cast::<u32>();
        let (a, b, c) = (
            u64::from(core::ptr::read_volatile(w.add(13))),
            u64::from(core::ptr::read_volatile(w.add(14))),
            u64::from(core::ptr::read_volatile(w.add(15))),
        );
        let smac = a | (b & 0xffff) << 32;
        let dmac = b >> 16 | c << 16;
        core::ptr::write_unaligned(frame.cast::<u64>(), dmac | smac << 48);
        core::ptr::write_unaligned(frame.add(8).cast::<u32>(), (smac >> 16) as u32);
        let ifindex = core::ptr::read_volatile(w.add(2));
        bpf_redirect(ifindex, 0) as u32
    }
}

anchor_bench_ebpf::program_object!();
