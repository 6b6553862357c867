//! `client_encap`: the uplink of the tunnelled /64s, encapsulated toward their anchors at TC
//! egress.

use anchor_common::{
    ClientCounter,
    client::{ip_version, is_link_scoped, outer_first},
};
use aya_ebpf::{
    bindings::{
        BPF_F_ADJ_ROOM_ENCAP_L3_IPV6, TC_ACT_OK, TC_ACT_SHOT, bpf_adj_room_mode::BPF_ADJ_ROOM_MAC,
    },
    helpers::bpf_check_mtu,
    programs::TcContext,
};

use crate::{
    headers::{ETH_HLEN, ETH_P_IPV6, IPV6_HLEN, Ipv6Words},
    maps::tunnel,
};

/// `TC_ACT_OK` and `TC_ACT_SHOT` (`i32` in the BPF target's bindings).
const OK: i32 = TC_ACT_OK;
const SHOT: i32 = TC_ACT_SHOT;
/// The room the outer header takes, as the helpers take it.
#[expect(
    clippy::cast_possible_wrap,
    clippy::cast_possible_truncation,
    reason = "the constant 40"
)]
const ROOM: i32 = IPV6_HLEN as i32;

/// The verdict on one packet leaving the node and the counter it counts in.
///
/// Headers are read with `bpf_skb_load_bytes` and the outer header written with
/// `bpf_skb_store_bytes`, which work whether or not the headers are in the linear part of the
/// skb.
///
/// - Not Ethernet + IPv6 (`Passed`), shorter than an IPv6 header or a version other than 6
///   (`Malformed`), to a link-scoped destination (`Passed`), from a /64 without a tunnel
///   (`NotTunnelled`): leaves unchanged.
/// - From a tunnelled /64: 40 bytes of room after the Ethernet header (`bpf_skb_adjust_room`
///   with `BPF_F_ADJ_ROOM_ENCAP_L3_IPV6`, so that a GSO packet is segmented as IPv6-in-IPv6),
///   then the outer header: the inner traffic class and flow label, the whole inner packet as
///   payload, next header 41, hop limit 64, from the care-of address to the anchor
///   (`Encapsulated`).
/// - When that cannot be done (40 more bytes would exceed the interface's MTU, the kernel refuses
///   the room, the outer payload length would exceed 65535): dropped (`EncapFailed`). Leaving
///   unencapsulated would send the packet from a foreign /64, which the network drops anyway.
///
/// No `BPF_F_ADJ_ROOM_FIXED_GSO`: the kernel then lowers a TCP GSO packet's segment size by the
/// 40 bytes, so that its segments still fit the MTU once encapsulated. The kernel refuses the
/// room for a UDP GSO packet without that flag (its segment size is the datagram size): such a
/// packet is dropped, `EncapFailed`.
#[inline(always)]
pub fn encap(ctx: &TcContext) -> (i32, ClientCounter) {
    let Ok(eth_type) = ctx.load::<u16>(12) else {
        return (OK, ClientCounter::Malformed);
    };
    if u16::from_be(eth_type) != ETH_P_IPV6 {
        return (OK, ClientCounter::Passed);
    }
    let Ok(inner) = ctx.load::<Ipv6Words>(ETH_HLEN) else {
        return (OK, ClientCounter::Malformed);
    };
    let inner_first = inner.first_bytes();
    if ip_version(inner_first) != 6 {
        return (OK, ClientCounter::Malformed);
    }
    if is_link_scoped(inner.dst.hi.to_ne_bytes()) {
        return (OK, ClientCounter::Passed);
    }
    let Some((anchor, coa)) = tunnel(inner.src.hi) else {
        return (OK, ClientCounter::NotTunnelled);
    };
    let Some(first) = outer_first(inner_first) else {
        return (SHOT, ClientCounter::EncapFailed);
    };
    // The egress device's MTU against the packet and 40 more bytes (a GSO packet passes: it is
    // checked segment by segment when it is split).
    let mut mtu_len: u32 = 0;
    // SAFETY: valid context; `mtu_len` is a writable u32 on the stack.
    let mtu = unsafe { bpf_check_mtu(ctx.skb.skb.cast(), 0, &raw mut mtu_len, ROOM, 0) };
    if mtu != 0 {
        return (SHOT, ClientCounter::EncapFailed);
    }
    if ctx
        .adjust_room(
            ROOM,
            BPF_ADJ_ROOM_MAC,
            u64::from(BPF_F_ADJ_ROOM_ENCAP_L3_IPV6),
        )
        .is_err()
    {
        return (SHOT, ClientCounter::EncapFailed);
    }
    let outer = Ipv6Words {
        first: u64::from_ne_bytes(first),
        src: coa,
        dst: anchor,
    };
    if ctx.store(ETH_HLEN, &outer, 0).is_err() {
        return (SHOT, ClientCounter::EncapFailed);
    }
    (OK, ClientCounter::Encapsulated)
}
