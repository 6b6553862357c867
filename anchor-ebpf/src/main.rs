//! The anchor XDP program: per-/64 redirection, reverse tunnelling and guarded decapsulation.
//!
//! Flow: count -> parse -> report an unknown source MAC (access links with first-frame
//! attachment; a side effect) -> validate the source (access links with source validation) ->
//! decapsulate (tunnel to our locator) | encapsulate (destination is a
//! redirected prefix) | reverse-encapsulate (source is a visiting prefix, on access links) |
//! straight to an attached node's MAC (its /64 has an L2 next hop) | pass.
//! Every frame ends in exactly one verdict counter; nothing returns XDP_ABORTED.
#![no_std]
#![no_main]
#![expect(
    clippy::inline_always,
    reason = "the program is built as one function: every helper is inlined, so that the \
              verifier follows the packet bounds checks into it"
)]
#![expect(
    clippy::cast_possible_truncation,
    clippy::cast_possible_wrap,
    reason = "lengths and offsets within one frame and header constants, narrowed for the \
              helpers and header fields that take them; a checked conversion would add branches \
              for the verifier to follow"
)]

mod decap;
mod encap;
mod first_frame;
mod forward;
mod headroom;
mod icmp6;
mod lookup;
mod maps;
mod parse;
mod source;
mod stats;
mod verdict;

use anchor_common::{BindingKind, Counter, Direction, IfaceRole, IfaceValue};
use aya_ebpf::{macros::xdp, programs::XdpContext};

use crate::{
    maps::{Settings, iface, locator},
    parse::{Addr, NEXTHDR_IPV6, ParseError, parse},
    stats::count,
    verdict::Verdict,
};

#[xdp]
#[expect(
    clippy::needless_pass_by_value,
    reason = "#[xdp] passes the context by value"
)]
pub fn anchor_xdp(ctx: XdpContext) -> u32 {
    count(Counter::Rx, ctx.data_end() - ctx.data());
    let verdict = process(&ctx);
    count(verdict.counter, ctx.data_end() - ctx.data());
    verdict.action
}

#[inline(always)]
fn process(ctx: &XdpContext) -> Verdict {
    let settings = Settings::read();
    let pkt = match parse(ctx) {
        Ok(pkt) => pkt,
        Err(ParseError::NonIpv6) => {
            count(Counter::NonIpv6, 0);
            return Verdict::PASS;
        }
        Err(ParseError::Malformed(src)) => {
            count(Counter::Malformed, 0);
            if let Some(src) = src
                && settings.source_validation()
                && !source_valid(ctx, src)
            {
                return Verdict::drop(Counter::DropSourceInvalid);
            }
            return Verdict::PASS;
        }
        Err(ParseError::ExtHeaderLimit(src)) => {
            count(Counter::ExtHeaderLimit, 0);
            if settings.source_validation() && !source_valid(ctx, src) {
                return Verdict::drop(Counter::DropSourceInvalid);
            }
            return Verdict::PASS;
        }
    };
    if pkt.vlan {
        count(Counter::Vlan, 0);
    }
    if settings.first_frame() {
        first_frame::notice(ctx);
    }
    if settings.source_validation() && !source_valid(ctx, pkt.src) {
        return Verdict::drop(Counter::DropSourceInvalid);
    }
    let dst = pkt.dst;
    if pkt.proto == NEXTHDR_IPV6 && dst == locator() {
        return decap::decap(ctx, settings, &pkt);
    }
    // Link-scoped traffic (Neighbour Discovery above all) stays on its link, whatever its source.
    if dst.byte(0) == 0xff || (dst.byte(0) == 0xfe && dst.byte(1) & 0xc0 == 0x80) {
        count(Counter::LinkScope, 0);
        return Verdict::PASS;
    }
    let (found, pooled) = lookup::lookup_in_pools(settings, dst.hi);
    if let Some(b) = found
        && b.kind == BindingKind::Redirect as u8
    {
        return encap::encap(ctx, &pkt, &b, Direction::ToMn, Counter::Encap);
    }
    // Only a router with an access interface (its `SETTINGS` bit) looks at the ingress role:
    // elsewhere a frame without a binding costs one hash lookup (BINDINGS), not two.
    if settings.access()
        && is_access(ctx.ingress_ifindex() as u32)
        && let Some(b) = lookup::lookup(settings, pkt.src.hi)
        && b.kind == BindingKind::Visiting as u8
        && b.reverse_tunnel()
    {
        return encap::encap(ctx, &pkt, &b, Direction::FromMn, Counter::ReverseEncap);
    }
    // A node attached here holds the destination's /64 (at a MAAR, one of its own prefixes):
    // straight to its MAC, with no FIB lookup and no Neighbour Discovery, which would otherwise
    // solicit the node's address before the node has it again after a move. Such a /64 is in a
    // pool or bound (visiting), unless `SETTINGS` says otherwise: any other destination skips
    // the `VISITING_L2` lookup.
    if settings.access()
        && (pooled || found.is_some() || settings.l2_unbound())
        && let Some(verdict) =
            forward::to_node_l2(ctx, pkt.vlan, dst.hi, pkt.ip_len, Counter::AttachedL2)
    {
        return verdict;
    }
    count(Counter::NoBinding, 0);
    Verdict::PASS
}

/// Whether `ifindex` is an access interface whose `IFACES` entry passes `check`.
#[inline(always)]
fn is_access_with(ifindex: u32, check: impl FnOnce(&IfaceValue) -> bool) -> bool {
    iface(ifindex).is_some_and(|v| v.role == IfaceRole::Access as u8 && check(&v))
}

#[inline(always)]
fn is_access(ifindex: u32) -> bool {
    iface(ifindex).is_some_and(|v| v.role == IfaceRole::Access as u8)
}

/// Whether the frame's IPv6 source `src` passes the validation of its ingress interface:
/// always on an interface without it.
#[inline(always)]
fn source_valid(ctx: &XdpContext, src: Addr) -> bool {
    let ingress = ctx.ingress_ifindex() as u32;
    match iface(ingress) {
        Some(iface) if iface.source_validation() && iface.role == IfaceRole::Access as u8 => {
            source::allowed(ctx, ingress, src)
        }
        _ => true,
    }
}

anchor_ebpf::program_object!();
