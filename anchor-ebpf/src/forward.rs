//! Forwarding after a rewrite: FIB lookup, MAC rewrite, then XDP_TX or bpf_redirect.

use anchor_common::Counter;
use aya_ebpf::{
    bindings::{BPF_FIB_LKUP_RET_SUCCESS, bpf_fib_lookup as FibParams, xdp_action},
    helpers::{bpf_fib_lookup, bpf_redirect},
    programs::XdpContext,
};

use crate::{
    parse::{ETH_HLEN, IPV6_HLEN, ptr_at},
    stats::count,
    verdict::Verdict,
};

const AF_INET6: u8 = 10;

/// Forwards the IPv6 packet at offset `l3` (untagged frames only: `l3` is `ETH_HLEN`).
///
/// With `decrement_hop_limit`, the packet's own hop limit is decremented when this program
/// forwards it, as the kernel would; a hop limit <= 1 leaves it to the kernel, which answers
/// with Time Exceeded.
#[inline(always)]
pub fn forward(ctx: &XdpContext, vlan: bool, decrement_hop_limit: bool) -> Verdict {
    if vlan {
        // The FIB of the parent device is not the VLAN device's: let the kernel forward it.
        return Verdict::KERNEL_FALLBACK;
    }
    let Some(ip) = ptr_at::<[u8; IPV6_HLEN]>(ctx, ETH_HLEN) else {
        return Verdict::KERNEL_FALLBACK;
    };
    // SAFETY: zero is a valid value of this plain C struct.
    let mut params: FibParams = unsafe { core::mem::zeroed() };
    // SAFETY: `ip` is inside the frame (checked by `ptr_at`).
    let hdr = unsafe { &mut *ip };
    params.family = AF_INET6;
    params.l4_protocol = hdr[6];
    params.__bindgen_anon_1.tot_len = IPV6_HLEN as u16 + u16::from_be_bytes([hdr[4], hdr[5]]);
    params.__bindgen_anon_2.flowinfo =
        u32::from_ne_bytes([hdr[0], hdr[1], hdr[2], hdr[3]]) & 0x0fff_ffffu32.to_be();
    params.__bindgen_anon_3.ipv6_src = addr_words(hdr, 8);
    params.__bindgen_anon_4.ipv6_dst = addr_words(hdr, 24);
    let ingress = ctx.ingress_ifindex() as u32;
    params.ifindex = ingress;

    // SAFETY: valid context and a params struct of the size passed.
    let rc = unsafe {
        bpf_fib_lookup(
            ctx.ctx as *mut _,
            &mut params,
            core::mem::size_of::<FibParams>() as i32,
            0,
        )
    };
    if rc != BPF_FIB_LKUP_RET_SUCCESS as i64 {
        // No route, no neighbour yet, forwarding off, MTU: the kernel knows what to do.
        return Verdict::KERNEL_FALLBACK;
    }
    if decrement_hop_limit {
        if hdr[7] <= 1 {
            count(Counter::HopLimitExceeded, 0);
            return Verdict::KERNEL_FALLBACK;
        }
        hdr[7] -= 1;
    }
    let Some(eth) = ptr_at::<[u8; 12]>(ctx, 0) else {
        return Verdict::KERNEL_FALLBACK;
    };
    // SAFETY: checked by `ptr_at`.
    let eth = unsafe { &mut *eth };
    eth[..6].copy_from_slice(&params.dmac);
    eth[6..].copy_from_slice(&params.smac);
    if params.ifindex == ingress {
        return Verdict::TX;
    }
    // SAFETY: plain helper call.
    let action = unsafe { bpf_redirect(params.ifindex, 0) };
    if action == xdp_action::XDP_REDIRECT as i64 {
        Verdict::REDIRECT
    } else {
        Verdict::KERNEL_FALLBACK
    }
}

#[inline(always)]
fn addr_words(hdr: &[u8; IPV6_HLEN], off: usize) -> [u32; 4] {
    let w = |i: usize| {
        u32::from_ne_bytes([
            hdr[off + i],
            hdr[off + i + 1],
            hdr[off + i + 2],
            hdr[off + i + 3],
        ])
    };
    [w(0), w(4), w(8), w(12)]
}
