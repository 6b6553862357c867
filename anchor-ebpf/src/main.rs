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

mod cache;
mod decap;
mod encap;
mod first_frame;
mod forward;
mod headroom;
mod icmp6;
mod lookup;
mod maps;
mod opaque;
mod parse;
mod source;
mod stats;
mod verdict;

use anchor_common::{BindingKind, Counter, Direction, IfaceRole, IfaceValue};
use aya_ebpf::{bindings::xdp_action, macros::xdp, programs::XdpContext};

use crate::{
    forward::ingress_ifindex,
    lookup::Looked,
    maps::{Settings, iface, locator},
    parse::{Addr, NEXTHDR_IPV6, ParseError, parse},
    stats::{Stats, count},
    verdict::Verdict,
};

#[xdp]
#[expect(
    clippy::needless_pass_by_value,
    reason = "#[xdp] passes the context by value"
)]
// Inlined into the entry point that `#[xdp]` wraps it in: a BPF-to-BPF call would cost every
// frame a call and a return (a return thunk on kernels with its mitigation).
#[inline(always)]
pub fn anchor_xdp(ctx: XdpContext) -> u32 {
    // An array always has its entry 0: the `else` is never taken.
    let Some(stats) = Stats::get() else {
        return xdp_action::XDP_PASS;
    };
    stats.count(Counter::Rx, ctx.data_end() - ctx.data());
    let verdict = process(&ctx, stats);
    stats.count_verdict(verdict.counter, ctx.data_end() - ctx.data());
    verdict.action
}

#[inline(always)]
fn process(ctx: &XdpContext, stats: Stats) -> Verdict {
    let settings = Settings::read();
    // The ingress interface's index, role and flags, read once, and only on a router with an
    // access interface (its `SETTINGS` bit): source validation and first-frame attachment apply
    // on access interfaces alone. Index 0: not read (the context field costs three dependent
    // loads).
    let (ingress, ingress_iface) = if settings.access() {
        let ingress = ctx.ingress_ifindex() as u32;
        (ingress, iface(ingress))
    } else {
        (0, IfaceValue::NONE)
    };
    let pkt = match parse(ctx) {
        Ok(pkt) => pkt,
        Err(error) => return not_parsed(ctx, settings, ingress, ingress_iface, &error),
    };
    if pkt.vlan {
        stats.count(Counter::Vlan, 0);
    }
    let from_access = ingress_iface.role == IfaceRole::Access as u8;
    if settings.first_frame() && from_access && ingress_iface.first_frame() {
        first_frame::notice(ctx);
    }
    if source_refused(ctx, settings, ingress, ingress_iface, pkt.src) {
        return Verdict::drop(Counter::DropSourceInvalid);
    }
    let dst = pkt.dst;
    if pkt.proto == NEXTHDR_IPV6 && dst == locator() {
        return decap::decap(ctx, stats, settings, ingress, &pkt);
    }
    // Link-scoped traffic (Neighbour Discovery above all) stays on its link, whatever its source.
    if dst.byte(0) == 0xff || (dst.byte(0) == 0xfe && dst.byte(1) & 0xc0 == 0x80) {
        stats.count(Counter::LinkScope, 0);
        return Verdict::PASS;
    }
    // From an access interface, a destination outside the pools can be redirected only while
    // a redirect binding lives outside them: otherwise it is looked up after the reverse
    // tunnel, and only if needed.
    let defer = from_access && !settings.hashed_redirect();
    let mut dst_lookup = lookup::lookup_dst(settings, dst.hi, defer);
    if let Looked::Done(Some(b)) = dst_lookup.found
        && b.kind == BindingKind::Redirect as u8
    {
        return encap::encap(
            ctx,
            stats,
            ingress_ifindex(ctx, ingress),
            &pkt,
            &b,
            Direction::ToMn,
            Counter::Encap,
        );
    }
    if from_access
        && let Some(b) = lookup::lookup(settings, pkt.src.hi)
        && b.kind == BindingKind::Visiting as u8
        && b.reverse_tunnel()
    {
        return encap::encap(
            ctx,
            stats,
            ingress_ifindex(ctx, ingress),
            &pkt,
            &b,
            Direction::FromMn,
            Counter::ReverseEncap,
        );
    }
    // A node attached here holds the destination's /64 (at a MAAR, one of its own prefixes):
    // straight to its MAC, with no FIB lookup and no Neighbour Discovery, which would otherwise
    // solicit the node's address before the node has it again after a move. Such a /64 is in a
    // pool or bound (visiting), unless `SETTINGS` says otherwise: any other destination skips
    // the `VISITING_L2` lookup.
    if settings.access() {
        let bound = match dst_lookup.found {
            Looked::Done(found) => found.is_some(),
            Looked::Deferred => {
                dst_lookup.found = Looked::Done(lookup::lookup(settings, dst.hi));
                matches!(dst_lookup.found, Looked::Done(Some(_)))
            }
        };
        if (dst_lookup.pooled || bound || settings.l2_unbound())
            && let Some(verdict) = forward::to_node_l2(
                ctx,
                stats,
                settings,
                ingress,
                pkt.vlan,
                dst.hi,
                pkt.ip_len,
                Counter::AttachedL2,
            )
        {
            return verdict;
        }
    }
    stats.count(Counter::NoBinding, 0);
    Verdict::PASS
}

/// The verdict of a frame the parser did not take, counted by why: passed, unless the source it
/// has fails the validation of its access interface.
#[inline(always)]
fn not_parsed(
    ctx: &XdpContext,
    settings: Settings,
    ingress: u32,
    ingress_iface: IfaceValue,
    error: &ParseError,
) -> Verdict {
    let refused = match error {
        ParseError::NonIpv6 => {
            count(Counter::NonIpv6, 0);
            false
        }
        ParseError::Malformed(src) => {
            count(Counter::Malformed, 0);
            match src {
                Some(src) => source_refused(ctx, settings, ingress, ingress_iface, *src),
                None => false,
            }
        }
        ParseError::ExtHeaderLimit(src) => {
            count(Counter::ExtHeaderLimit, 0);
            source_refused(ctx, settings, ingress, ingress_iface, *src)
        }
    };
    if refused {
        Verdict::drop(Counter::DropSourceInvalid)
    } else {
        Verdict::PASS
    }
}

/// Whether source validation is on and the IPv6 source `src` fails it on the ingress interface
/// (index `ingress` when read, entry `ingress_iface`).
#[inline(always)]
fn source_refused(
    ctx: &XdpContext,
    settings: Settings,
    ingress: u32,
    ingress_iface: IfaceValue,
    src: Addr,
) -> bool {
    settings.source_validation()
        && !source_valid(ctx, ingress_ifindex(ctx, ingress), ingress_iface, src)
}

/// Whether the frame's IPv6 source `src` passes the validation of its ingress interface (index
/// `ingress`, entry `iface`): always on an interface without it.
#[inline(always)]
fn source_valid(ctx: &XdpContext, ingress: u32, iface: IfaceValue, src: Addr) -> bool {
    if iface.source_validation() && iface.role == IfaceRole::Access as u8 {
        source::allowed(ctx, ingress, src)
    } else {
        true
    }
}

anchor_ebpf::program_object!();
