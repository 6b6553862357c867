//! Decapsulation of IPv6-in-IPv6 sent to our locator, accepted only from the binding's peer.

use anchor_common::{BindingKind, Counter, Direction};
use aya_ebpf::programs::XdpContext;
use aya_log_ebpf::debug;

use crate::{
    cache::Hop,
    forward::{attached_entry, carried_binding, forward, forward_to_node, send_to_node},
    headroom,
    lookup::{Binding, lookup, lookup_pooled},
    maps::{Settings, is_cn_anchor, packet_debug},
    parse::{IPV6_HLEN, Ipv6Words, MAX_L4_OFFSET, Packet, ptr_at, read_at},
    stats::{Stats, count_binding},
    verdict::Verdict,
};

/// Decapsulates a packet tunnelled to this router's locator and forwards its inner packet.
/// `ingress` is the ingress interface's index when the caller read it, else 0.
#[inline(always)]
pub fn decap(
    ctx: &XdpContext,
    stats: Stats,
    settings: Settings,
    ingress: u32,
    pkt: &Packet,
) -> Verdict {
    let inner_off = pkt.upper;
    // The outer header was read by the parser.
    let Some(inner) = read_at::<Ipv6Words>(ctx, inner_off) else {
        stats.count(Counter::Malformed, 0);
        return Verdict::PASS;
    };
    let inner_len = inner.len();
    if inner.version() != 6 || inner_off + inner_len > pkt.l3 + pkt.ip_len {
        stats.count(Counter::Malformed, 0);
        return Verdict::PASS;
    }
    let outer_src = pkt.src;

    // Toward a visiting MN: the tunnel must come from the prefix's home, or from an anchor near
    // correspondents (consulted only when it is not the home). From an MN we anchor (reverse
    // tunnel): it must come from the router that serves the MN now.
    //
    // Two paths of one lookup first: from a node of one of our pools (its /64's dense slot),
    // and toward a node attached here whose `VISITING_L2` entry carries its binding. The
    // others look the bindings up.
    let mut known_prefix = false;
    let mut accepted = None;
    // The node's entry, used when `attached` (a flag, not an `Option` of the entry, whose
    // undefined payload the compiler may copy and the verifier refuses).
    let mut attached = false;
    let mut nh = Hop::NONE;
    if let Some(b) = lookup_pooled(settings, inner.src.hi)
        && b.kind == BindingKind::Redirect as u8
        && b.peer == outer_src
    {
        accepted = Some((b, Direction::FromMn));
    } else {
        nh = attached_entry(settings, inner.dst.hi);
        if let Some((home, slot)) = carried_binding(&nh)
            && let Some(b) = Binding::carried(home, slot)
            && b.peer == outer_src
        {
            accepted = Some((b, Direction::ToMn));
            attached = true;
        }
    }
    if accepted.is_none()
        && let Some(b) = lookup(settings, inner.dst.hi)
    {
        known_prefix = true;
        if b.kind == BindingKind::Visiting as u8 && (b.peer == outer_src || is_cn_anchor(outer_src))
        {
            accepted = Some((b, Direction::ToMn));
        }
    }
    if accepted.is_none()
        && let Some(b) = lookup(settings, inner.src.hi)
    {
        known_prefix = true;
        if b.kind == BindingKind::Redirect as u8 && b.peer == outer_src {
            accepted = Some((b, Direction::FromMn));
        }
    }
    let Some((binding, dir)) = accepted else {
        // Pruned by the verifier unless loaded with aya-log on; then only while the daemon's
        // packet debugging is on (`anchor debug packets on`).
        if packet_debug() {
            debug!(
                ctx,
                "dropped tunnel packet to our locator (known prefix: {})",
                u8::from(known_prefix)
            );
        }
        return Verdict::drop(if known_prefix {
            Counter::DropDecapUnknownPeer
        } else {
            Counter::DropDecapNoBinding
        });
    };

    // Move the L2 header forward over the outer header (and its extension headers), then drop
    // everything in front of it.
    let strip = inner_off - pkt.l3;
    if !(IPV6_HLEN..=MAX_L4_OFFSET).contains(&strip) {
        stats.count(Counter::Malformed, 0);
        return Verdict::PASS;
    }
    if let Err(verdict) = headroom::close(ctx, pkt.vlan, strip) {
        return verdict;
    }
    if ptr_at::<Ipv6Words>(ctx, pkt.l3).is_none() {
        return Verdict::drop(Counter::AdjustFailed);
    }
    stats.count(Counter::Decap, inner_len);
    count_binding(&binding, dir, inner_len as u32);
    match (dir, attached) {
        (Direction::ToMn, true) => send_to_node(
            ctx,
            stats,
            ingress,
            pkt.vlan,
            &nh,
            inner_len,
            Counter::VisitingL2,
        )
        .unwrap_or_else(|| forward(ctx, pkt.vlan, true)),
        (Direction::ToMn, false) => forward_to_node(
            ctx,
            stats,
            settings,
            ingress,
            pkt.vlan,
            inner.dst.hi,
            inner_len,
        ),
        (Direction::FromMn, _) => forward(ctx, pkt.vlan, true),
    }
}
