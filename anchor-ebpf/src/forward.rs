//! Forwarding after a rewrite: the peer's cached next hop, the visiting node's L2 next hop, or a
//! FIB lookup; MAC rewrite, then XDP_TX or bpf_redirect.

use anchor_common::{
    BindingKey, Counter,
    nexthop::{NEXTHOP_BINDING, NEXTHOP_VALID},
};
use aya_ebpf::{
    bindings::{BPF_FIB_LKUP_RET_SUCCESS, bpf_fib_lookup as FibParams, xdp_action},
    helpers::{bpf_fib_lookup, bpf_redirect},
    programs::XdpContext,
};

use crate::{
    cache::{self, Hop},
    maps::{NEXTHOPS, Settings, TX_PORTS, VISITING_L2},
    parse::{ETH_HLEN, IPV6_HLEN, Ipv6Words, ptr_at},
    stats::{Stats, count},
    verdict::Verdict,
};

const AF_INET6: u64 = 10;

/// `struct bpf_fib_lookup` (64 bytes) as 8-byte-aligned words on the stack. Written and read
/// with volatile accesses of natural alignment: the compiler could otherwise merge fields into
/// misaligned stack accesses, which the verifier refuses.
#[repr(C, align(8))]
struct Params([u64; 8]);
const _: () = assert!(core::mem::size_of::<FibParams>() == core::mem::size_of::<Params>());

/// Sends a packet just encapsulated toward the peer at `peer_index` (its outer header, of
/// `outer_len` bytes with the header, at `ETH_HLEN`) with the daemon's cached next hop, when the
/// entry is valid and the packet fits its MTU; otherwise as [`forward`] (the hop limit is the
/// one written with the outer header, not decremented). `ingress` is the ingress interface's
/// index, read by the caller.
#[inline(always)]
pub fn forward_to_peer(
    ctx: &XdpContext,
    stats: Stats,
    ingress: u32,
    vlan: bool,
    peer_index: u32,
    outer_len: u32,
) -> Verdict {
    if !vlan && let Some(nh) = NEXTHOPS.get_ptr(peer_index) {
        let words = nh.cast::<u32>();
        // SAFETY: 4-byte-aligned loads inside the 24-byte array value (`NextHop`: dmac and smac
        // in words 0..3, ifindex 3, mtu 4, flags 5). Volatile so that they stay 32-bit loads of
        // the map value. The daemon may rewrite the entry meanwhile: at worst this packet gets a
        // mix of the old and the new next hop.
        let (flags, mtu) = unsafe {
            (
                core::ptr::read_volatile(words.add(5)),
                core::ptr::read_volatile(words.add(4)),
            )
        };
        if flags & NEXTHOP_VALID != 0 && outer_len <= mtu {
            let Some(out_ifindex) = write_macs(ctx, words) else {
                return Verdict::KERNEL_FALLBACK;
            };
            stats.count(Counter::NexthopCached, 0);
            return send(ingress, out_ifindex);
        }
    }
    forward(ctx, vlan, false)
}

/// Sends a packet just decapsulated toward the visiting /64 whose upper 64 bits (as loaded from
/// the packet) are `prefix` straight to its node ([`to_node_l2`], counted in `visiting_l2`);
/// otherwise as [`forward`], which asks the FIB and decrements the hop limit itself: the hop
/// limit is decremented once either way.
#[inline(always)]
pub fn forward_to_node(
    ctx: &XdpContext,
    stats: Stats,
    settings: Settings,
    ingress: u32,
    vlan: bool,
    prefix: u64,
    ip_len: usize,
) -> Verdict {
    match to_node_l2(
        ctx,
        stats,
        settings,
        ingress,
        vlan,
        prefix,
        ip_len,
        Counter::VisitingL2,
    ) {
        Some(verdict) => verdict,
        None => forward(ctx, vlan, true),
    }
}

/// Sends the IPv6 packet of an untagged frame (`ip_len` bytes, header included) whose
/// destination /64 has the upper 64 bits `prefix` (as loaded from the packet) straight to the
/// node attached here that holds it, with the /64's L2 next hop (`VISITING_L2`), and counts
/// `counter`: when the entry is valid, the packet fits its MTU and its hop limit is above 1,
/// the hop limit is decremented and the frame is rewritten to the node's MAC. `None`, with the
/// frame untouched, otherwise.
#[inline(always)]
#[expect(
    clippy::too_many_arguments,
    reason = "the frame, this CPU's counters and what the caller knows of the packet, each used \
              by the inlined body; a struct of them would only be built to be taken apart"
)]
pub fn to_node_l2(
    ctx: &XdpContext,
    stats: Stats,
    settings: Settings,
    ingress: u32,
    vlan: bool,
    prefix: u64,
    ip_len: usize,
    counter: Counter,
) -> Option<Verdict> {
    if vlan {
        return None;
    }
    send_to_node(
        ctx,
        stats,
        ingress,
        vlan,
        &attached_entry(settings, prefix),
        ip_len,
        counter,
    )
}

/// A copy of the `VISITING_L2` entry of the /64 whose upper 64 bits (as loaded from the
/// packet) are `prefix`, from the per-CPU cache, else from the map (and cached); a zeroed
/// entry, which is not valid (`NEXTHOP_VALID`), when there is none.
#[inline(always)]
pub fn attached_entry(settings: Settings, prefix: u64) -> Hop {
    let generation = settings.generation();
    let entry = cache::l2_entry(prefix);
    let mut hop = Hop::NONE;
    let hit = entry.is_some_and(|entry| cache::read_l2(entry, prefix, generation, &mut hop));
    if hit {
        return hop;
    }
    let hop = look_up_l2(cache::depends_on(prefix, generation));
    if let Some(entry) = entry {
        cache::write_l2(entry, prefix, generation, &hop);
    }
    hop
}

/// The `VISITING_L2` entry of `prefix` from the map; a zeroed entry when there is none.
#[inline(always)]
fn look_up_l2(prefix: u64) -> Hop {
    let key = prefix;
    // SAFETY: a `BindingKey` is 8 plain bytes; `key`'s memory image is the prefix in wire
    // order, and its alignment exceeds the key's.
    let key = unsafe { &*core::ptr::addr_of!(key).cast::<BindingKey>() };
    match VISITING_L2.get_ptr(key) {
        // SAFETY: a map value of 24 bytes; a copy. The daemon may rewrite the entry meanwhile:
        // at worst this packet gets a mix of the old and the new next hop.
        Some(nh) => unsafe { core::ptr::read_volatile(nh.cast::<Hop>()) },
        None => Hop::NONE,
    }
}

/// The binding a `VISITING_L2` entry carries ([`NEXTHOP_BINDING`]): (its home's `PEERS` index,
/// its statistics slot).
#[inline(always)]
pub fn carried_binding(nh: &Hop) -> Option<(u32, u32)> {
    let (flags, mtu) = (nh.flags(), nh.mtu());
    let wanted = NEXTHOP_VALID | NEXTHOP_BINDING;
    (flags & wanted == wanted).then_some((mtu >> 16, flags >> 8))
}

/// [`to_node_l2`] with the entry `nh` already found.
#[inline(always)]
pub fn send_to_node(
    ctx: &XdpContext,
    stats: Stats,
    ingress: u32,
    vlan: bool,
    nh: &Hop,
    ip_len: usize,
    counter: Counter,
) -> Option<Verdict> {
    if vlan {
        return None;
    }
    let (flags, mtu) = (nh.flags(), nh.mtu());
    // An entry that carries a binding has its home in the upper half of the MTU word.
    let mtu = if flags & NEXTHOP_BINDING != 0 {
        mtu & 0xffff
    } else {
        mtu
    };
    if flags & NEXTHOP_VALID == 0 || ip_len > mtu as usize {
        return None;
    }
    // The frame may have been shortened by a decapsulation: its bounds are checked again.
    let ip = ptr_at::<Ipv6Words>(ctx, ETH_HLEN)?;
    // SAFETY: byte 7 of the header, inside the frame (checked by `ptr_at`).
    let hop_limit_at = unsafe { ip.cast::<u8>().add(7) };
    // SAFETY: as above.
    let hop_limit = unsafe { *hop_limit_at };
    if hop_limit <= 1 {
        return None;
    }
    let Some(out_ifindex) = write_macs(ctx, nh.0.as_ptr()) else {
        return Some(Verdict::KERNEL_FALLBACK);
    };
    // SAFETY: as above; `write_macs` does not move packet data.
    unsafe { *hop_limit_at = hop_limit - 1 };
    stats.count(counter, 0);
    Some(send(ingress_ifindex(ctx, ingress), out_ifindex))
}

/// The ingress interface's index: `read` when the caller read it already (non-zero), else from
/// the context (three dependent loads).
#[inline(always)]
pub fn ingress_ifindex(ctx: &XdpContext, read: u32) -> u32 {
    if read != 0 {
        read
    } else {
        ctx.ingress_ifindex() as u32
    }
}

/// Writes the MACs of the next hop whose `NextHop` words are at `words` into the frame's
/// Ethernet header and returns its out interface; `None` when the frame is shorter than an
/// Ethernet header.
#[inline(always)]
fn write_macs(ctx: &XdpContext, words: *const u32) -> Option<u32> {
    let eth = ptr_at::<[u32; 3]>(ctx, 0)?.cast::<u32>();
    // SAFETY: 4-byte-aligned volatile loads inside the 24-byte `NextHop` (a map value or a copy
    // of one: dmac and smac in words 0..3, ifindex 3), unaligned stores inside the frame
    // (checked by `ptr_at`). The daemon may rewrite a map entry meanwhile: at worst this packet
    // gets a mix of the old and the new next hop.
    unsafe {
        for i in 0..3 {
            core::ptr::write_unaligned(eth.add(i), core::ptr::read_volatile(words.add(i)));
        }
        Some(core::ptr::read_volatile(words.add(3)))
    }
}

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
    let Some(ip) = ptr_at::<Ipv6Words>(ctx, ETH_HLEN) else {
        return Verdict::KERNEL_FALLBACK;
    };
    // SAFETY: `ip` is inside the frame (checked by `ptr_at`).
    let hdr = unsafe { core::ptr::read_unaligned(ip) };
    let ingress = ctx.ingress_ifindex() as u32;
    let b = hdr.first.to_ne_bytes();
    // family, l4_protocol, sport = 0, dport = 0, tot_len.
    let first_word = AF_INET6 | u64::from(b[6]) << 8 | (hdr.len() as u64 & 0xffff) << 48;
    // ifindex, then flowinfo: the first header word without the version.
    let flowinfo = u32::from_ne_bytes([b[0], b[1], b[2], b[3]]) & 0x0fff_ffffu32.to_be();
    let second_word = u64::from(ingress) | u64::from(flowinfo) << 32;
    let mut params = Params([0; 8]);
    let words = params.0.as_mut_ptr();
    // SAFETY: aligned stores inside `params`.
    unsafe {
        for (i, w) in [
            first_word,
            second_word,
            hdr.src.hi,
            hdr.src.lo,
            hdr.dst.hi,
            hdr.dst.lo,
            0,
            0,
        ]
        .into_iter()
        .enumerate()
        {
            core::ptr::write_volatile(words.add(i), w);
        }
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
        // No route, no neighbour yet, forwarding off, MTU: the kernel knows what to do.
        return Verdict::KERNEL_FALLBACK;
    }
    if decrement_hop_limit {
        let hop_limit = b[7];
        if hop_limit <= 1 {
            count(Counter::HopLimitExceeded, 0);
            return Verdict::KERNEL_FALLBACK;
        }
        // SAFETY: inside the frame (checked by `ptr_at`; the lookup does not move packet data).
        unsafe { *ip.cast::<u8>().add(7) = hop_limit - 1 };
    }
    let Some(eth) = ptr_at::<[u8; 12]>(ctx, 0) else {
        return Verdict::KERNEL_FALLBACK;
    };
    let w = words.cast::<u32>();
    // SAFETY: 4-byte-aligned loads inside `params` (ifindex at byte 8; smac at 52, dmac at 58
    // read as the words at 52, 56 and 60), then stores inside the frame.
    let out_ifindex = unsafe {
        let (a, b, c) = (
            u64::from(core::ptr::read_volatile(w.add(13))),
            u64::from(core::ptr::read_volatile(w.add(14))),
            u64::from(core::ptr::read_volatile(w.add(15))),
        );
        let smac = a | (b & 0xffff) << 32;
        let dmac = b >> 16 | c << 16;
        core::ptr::write_unaligned(eth.cast::<u64>(), dmac | smac << 48);
        core::ptr::write_unaligned(eth.cast::<u8>().add(8).cast::<u32>(), (smac >> 16) as u32);
        core::ptr::read_volatile(w.add(2))
    };
    send(ingress, out_ifindex)
}

/// XDP_TX when the packet leaves by the interface it came in on, else XDP_REDIRECT: through
/// `TX_PORTS` when it holds the interface (the kernel then skips its lookup of the interface by
/// index), else with `bpf_redirect`.
#[inline(always)]
fn send(ingress: u32, out_ifindex: u32) -> Verdict {
    if out_ifindex == ingress {
        return Verdict::TX;
    }
    let action = match TX_PORTS.redirect(out_ifindex, 0) {
        Ok(action) => i64::from(action),
        // SAFETY: plain helper call.
        Err(_) => unsafe { bpf_redirect(out_ifindex, 0) },
    };
    if action == i64::from(xdp_action::XDP_REDIRECT) {
        Verdict::REDIRECT
    } else {
        Verdict::KERNEL_FALLBACK
    }
}

const _: () = assert!(IPV6_HLEN == core::mem::size_of::<Ipv6Words>());
