//! `client_decap`: IPv6-in-IPv6 from the node's anchors, decapsulated at XDP.

use anchor_common::{
    ClientCounter,
    client::{NEXTHDR_IPV6, ip_version, tunnel_fits},
};
use aya_ebpf::{bindings::xdp_action, helpers::bpf_xdp_adjust_head, programs::XdpContext};

use crate::{
    headers::{ETH_HLEN, ETH_P_IPV6, IPV6_HLEN, Ipv6Words, frame_len, ptr_at, read_at},
    maps::is_anchor,
};

/// The bytes `bpf_xdp_adjust_head` removes: the outer header.
#[expect(
    clippy::cast_possible_wrap,
    clippy::cast_possible_truncation,
    reason = "the constant 40"
)]
const STRIP: i32 = IPV6_HLEN as i32;

/// The verdict on one frame and the counter it counts in.
///
/// - Not Ethernet + IPv6, or IPv6 that is not IPv6-in-IPv6: passed (`Passed`).
/// - Shorter than its headers, or an IPv6 version other than 6: passed (`Malformed`).
/// - IPv6-in-IPv6 from a host that is not an anchor: dropped (`RefusedTunnel`), before anything
///   else is looked at.
/// - From an anchor, with an inner packet that is not IPv6 or does not fit in the outer payload
///   and the frame: passed (`Malformed`).
/// - From an anchor, consistent: the outer header is removed and the inner packet passed with the
///   frame's Ethernet header (`Decapsulated`).
#[inline(always)]
pub fn decap(ctx: &XdpContext) -> (u32, ClientCounter) {
    let Some(eth_type) = read_at::<u16>(ctx, 12) else {
        return (xdp_action::XDP_PASS, ClientCounter::Malformed);
    };
    if u16::from_be(eth_type) != ETH_P_IPV6 {
        return (xdp_action::XDP_PASS, ClientCounter::Passed);
    }
    let Some(outer) = read_at::<Ipv6Words>(ctx, ETH_HLEN) else {
        return (xdp_action::XDP_PASS, ClientCounter::Malformed);
    };
    let outer_first = outer.first_bytes();
    if ip_version(outer_first) != 6 {
        return (xdp_action::XDP_PASS, ClientCounter::Malformed);
    }
    if outer_first[6] != NEXTHDR_IPV6 {
        return (xdp_action::XDP_PASS, ClientCounter::Passed);
    }
    if !is_anchor(outer.src) {
        return (xdp_action::XDP_DROP, ClientCounter::RefusedTunnel);
    }
    let Some(inner_first) = read_at::<u64>(ctx, ETH_HLEN + IPV6_HLEN) else {
        return (xdp_action::XDP_PASS, ClientCounter::Malformed);
    };
    let l3_len = frame_len(ctx).saturating_sub(ETH_HLEN);
    if !tunnel_fits(l3_len, outer_first, inner_first.to_ne_bytes()) {
        return (xdp_action::XDP_PASS, ClientCounter::Malformed);
    }
    strip_outer(ctx)
}

/// Removes the 40 bytes of the outer header: keeps the Ethernet header (MACs and type 0x86DD)
/// in registers, drops the first 40 bytes of the frame, and writes the header back at the new
/// front. The caller checked that the frame holds both IPv6 headers.
#[inline(always)]
fn strip_outer(ctx: &XdpContext) -> (u32, ClientCounter) {
    let (Some(macs), Some(src_tail), Some(eth_type)) = (
        read_at::<u64>(ctx, 0),
        read_at::<u32>(ctx, 8),
        read_at::<u16>(ctx, 12),
    ) else {
        return (xdp_action::XDP_PASS, ClientCounter::Malformed);
    };
    // SAFETY: valid context; a failure leaves the frame as it was (it is passed unchanged).
    if unsafe { bpf_xdp_adjust_head(ctx.ctx, STRIP) } != 0 {
        return (xdp_action::XDP_PASS, ClientCounter::Malformed);
    }
    // The frame held both headers before losing 40 bytes, so this always succeeds; the verifier
    // needs the check on the new pointers. Had it failed, the frame would have lost its Ethernet
    // header: it could only be dropped.
    let Some(p) = ptr_at::<[u8; ETH_HLEN + IPV6_HLEN]>(ctx, 0) else {
        return (xdp_action::XDP_DROP, ClientCounter::Malformed);
    };
    let p = p.cast::<u8>();
    // SAFETY: the 14 bytes lie inside the frame (checked just above); unaligned packet stores.
    unsafe {
        core::ptr::write_unaligned(p.cast::<u64>(), macs);
        core::ptr::write_unaligned(p.add(8).cast::<u32>(), src_tail);
        core::ptr::write_unaligned(p.add(12).cast::<u16>(), eth_type);
    }
    (xdp_action::XDP_PASS, ClientCounter::Decapsulated)
}
