//! IPv6-in-IPv6 encapsulation toward the peer of a binding (downlink redirect or reverse tunnel).

use anchor_common::{
    BindingValue, Counter, Direction, config::ENCAP_OVERHEAD, flow_label::flow_label,
};
use aya_ebpf::programs::XdpContext;

use crate::{
    forward::forward,
    headroom,
    icmp6::packet_too_big,
    maps::{locator, outer_hop_limit, tunnel_mtu},
    parse::{IPV6_HLEN, NEXTHDR_IPV6, Packet, ptr_at, read_at},
    stats::{count, count_binding},
    verdict::Verdict,
};

#[inline(always)]
pub fn encap(
    ctx: &XdpContext,
    pkt: &Packet,
    binding: &BindingValue,
    dir: Direction,
    reason: Counter,
) -> Verdict {
    let Some(inner) = read_at::<[u8; IPV6_HLEN]>(ctx, pkt.l3) else {
        count(Counter::Malformed, 0);
        return Verdict::PASS;
    };
    let hop_limit = inner[7];
    if hop_limit <= 1 {
        count(Counter::HopLimitExceeded, 0);
        return Verdict::PASS;
    }
    if pkt.ip_len as u32 + ENCAP_OVERHEAD > tunnel_mtu() {
        return packet_too_big(ctx, pkt);
    }
    let traffic_class = (inner[0] << 4) | (inner[1] >> 4);
    let mut src = [0u8; 16];
    let mut dst = [0u8; 16];
    src.copy_from_slice(&inner[8..24]);
    dst.copy_from_slice(&inner[24..40]);
    let label = flow_label(&src, &dst, pkt.proto, pkt.sport, pkt.dport);

    if let Err(verdict) = headroom::open::<IPV6_HLEN>(ctx) {
        return verdict;
    }
    let (Some(outer), Some(inner_hl)) = (
        ptr_at::<OuterHdr>(ctx, pkt.l3),
        ptr_at::<u8>(ctx, pkt.l3 + IPV6_HLEN + 7),
    ) else {
        return Verdict::drop(Counter::AdjustFailed);
    };
    let vtcfl = (6u32 << 28) | ((traffic_class as u32) << 20) | label;
    // SAFETY: both pointers are inside the frame.
    unsafe {
        *outer = OuterHdr {
            vtcfl: vtcfl.to_be_bytes(),
            payload_len: (pkt.ip_len as u16).to_be_bytes(),
            next_header: NEXTHDR_IPV6,
            hop_limit: outer_hop_limit(),
            src: locator(),
            dst: binding.peer,
        };
        *inner_hl = hop_limit - 1;
    }
    count(reason, pkt.ip_len);
    count_binding(binding, dir, pkt.ip_len as u32);
    forward(ctx, pkt.vlan, false)
}

/// The outer IPv6 header as written (all fields network byte order).
#[repr(C)]
struct OuterHdr {
    vtcfl: [u8; 4],
    payload_len: [u8; 2],
    next_header: u8,
    hop_limit: u8,
    src: [u8; 16],
    dst: [u8; 16],
}
const _: () = assert!(core::mem::size_of::<OuterHdr>() == IPV6_HLEN);
