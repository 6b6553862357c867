//! IPv6-in-IPv6 encapsulation toward the peer of a binding (downlink redirect or reverse tunnel).

use anchor_common::{Counter, Direction, config::ENCAP_OVERHEAD, flow_label::flow_label_words};
use aya_ebpf::programs::XdpContext;

use crate::{
    forward::forward_to_peer,
    headroom,
    icmp6::packet_too_big,
    lookup::Binding,
    maps::{locator, outer_hop_limit, tunnel_mtu},
    parse::{IPV6_HLEN, Ipv6Words, NEXTHDR_IPV6, Packet, ptr_at},
    stats::{Stats, count_binding},
    verdict::Verdict,
};

#[inline(always)]
pub fn encap(
    ctx: &XdpContext,
    stats: Stats,
    ingress: u32,
    pkt: &Packet,
    binding: &Binding,
    dir: Direction,
    reason: Counter,
) -> Verdict {
    let hop_limit = pkt.hop_limit();
    if hop_limit <= 1 {
        stats.count(Counter::HopLimitExceeded, 0);
        return Verdict::PASS;
    }
    if pkt.ip_len as u32 + ENCAP_OVERHEAD > tunnel_mtu() {
        return packet_too_big(ctx, pkt);
    }
    // The addresses' words as loaded from the packet are the specification's little-endian
    // words (BPF is little-endian here: the program is built for bpfel).
    let label = flow_label_words(
        [pkt.src.hi, pkt.src.lo],
        [pkt.dst.hi, pkt.dst.lo],
        pkt.proto,
        pkt.sport,
        pkt.dport,
    );
    let vtcfl = ((6u32 << 28) | (u32::from(pkt.traffic_class()) << 20) | label).to_be_bytes();
    let len = (pkt.ip_len as u16).to_be_bytes();
    let first = u64::from_ne_bytes([
        vtcfl[0],
        vtcfl[1],
        vtcfl[2],
        vtcfl[3],
        len[0],
        len[1],
        NEXTHDR_IPV6,
        outer_hop_limit(),
    ]);
    let outer = Ipv6Words {
        first,
        src: locator(),
        dst: binding.peer,
    };

    if let Err(verdict) = headroom::open::<IPV6_HLEN>(ctx) {
        return verdict;
    }
    let (Some(outer_hdr), Some(inner_hl)) = (
        ptr_at::<Ipv6Words>(ctx, pkt.l3),
        ptr_at::<u8>(ctx, pkt.l3 + IPV6_HLEN + 7),
    ) else {
        return Verdict::drop(Counter::AdjustFailed);
    };
    // SAFETY: both pointers are inside the frame.
    unsafe {
        core::ptr::write_unaligned(outer_hdr, outer);
        *inner_hl = hop_limit - 1;
    }
    stats.count(reason, pkt.ip_len);
    count_binding(binding, dir, pkt.ip_len as u32);
    forward_to_peer(
        ctx,
        stats,
        ingress,
        pkt.vlan,
        binding.peer_index,
        pkt.ip_len as u32 + ENCAP_OVERHEAD,
    )
}
