//! ICMPv6 Packet Too Big (RFC 4443 section 3.2) for packets that would not fit the tunnel.

use anchor_common::{Counter, config::ENCAP_OVERHEAD};
use aya_ebpf::{
    helpers::{bpf_csum_diff, bpf_xdp_adjust_tail},
    programs::XdpContext,
};

use crate::{
    forward::forward,
    headroom,
    maps::{locator, outer_hop_limit, tunnel_mtu},
    parse::{IPV6_HLEN, Ipv6Words, NEXTHDR_ICMPV6, Packet, ptr_at},
    stats::count,
    verdict::Verdict,
};

const ICMP_HLEN: usize = 8;
/// RFC 4443: as much of the invoking packet as fits without exceeding the minimum MTU.
const PTB_IP_LEN: usize = 1280;
const ICMP_LEN: usize = PTB_IP_LEN - IPV6_HLEN;
const QUOTE_LEN: usize = ICMP_LEN - ICMP_HLEN;
const PREPEND: usize = IPV6_HLEN + ICMP_HLEN;
const ICMPV6_PKT_TOOBIG: u8 = 2;
/// Largest block `bpf_csum_diff` sums at once.
const CSUM_BLOCK: usize = 512;

/// The IPv6 header and the first 8 bytes of the ICMPv6 message, as written.
#[repr(C)]
struct PtbHdr {
    ip: Ipv6Words,
    /// Type, code, checksum (zero until computed), MTU.
    icmp: u64,
}
const _: () = assert!(core::mem::size_of::<PtbHdr>() == PREPEND);

/// Turns the frame into a Packet Too Big toward the inner source and forwards it.
#[inline(always)]
#[expect(
    clippy::cast_ptr_alignment,
    reason = "bpf_csum_diff types its block as `*mut u32`; the kernel sums it as bytes"
)]
pub fn packet_too_big(ctx: &XdpContext, pkt: &Packet) -> Verdict {
    // The tunnel MTU is at least 1320, so an oversized packet always fills the full quote.
    if pkt.ip_len < QUOTE_LEN {
        return Verdict::PASS;
    }
    let dst = pkt.src;
    let src = locator();
    let frame_len = ctx.data_end() - ctx.data();

    if let Err(verdict) = headroom::open::<PREPEND>(ctx) {
        return verdict;
    }
    let shrink = (frame_len + PREPEND) as i32 - (pkt.l3 + PTB_IP_LEN) as i32;
    // SAFETY: valid context; `shrink` >= 0 because the packet is longer than the quote.
    if shrink > 0 && unsafe { bpf_xdp_adjust_tail(ctx.ctx, -shrink) } != 0 {
        return Verdict::drop(Counter::AdjustFailed);
    }
    let Some(hdr) = ptr_at::<PtbHdr>(ctx, pkt.l3) else {
        return Verdict::drop(Counter::AdjustFailed);
    };
    let mtu = (tunnel_mtu() - ENCAP_OVERHEAD).to_be_bytes();
    let len = (ICMP_LEN as u16).to_be_bytes();
    let header = PtbHdr {
        ip: Ipv6Words {
            first: u64::from_ne_bytes([
                0x60,
                0,
                0,
                0,
                len[0],
                len[1],
                NEXTHDR_ICMPV6,
                outer_hop_limit(),
            ]),
            src,
            dst,
        },
        icmp: u64::from_ne_bytes([ICMPV6_PKT_TOOBIG, 0, 0, 0, mtu[0], mtu[1], mtu[2], mtu[3]]),
    };
    // SAFETY: inside the frame.
    unsafe { core::ptr::write_unaligned(hdr, header) };

    // Pseudo-header, then the ICMPv6 message in blocks, all as native-order 32-bit words.
    let mut sum: u64 = 0;
    sum += src.word_sum();
    sum += dst.word_sum();
    sum += u64::from(u32::from_ne_bytes((ICMP_LEN as u32).to_be_bytes()));
    sum += u64::from(u32::from_ne_bytes([0, 0, 0, NEXTHDR_ICMPV6]));
    let icmp = pkt.l3 + IPV6_HLEN;
    let (Some(b0), Some(b1), Some(b2)) = (
        ptr_at::<[u8; CSUM_BLOCK]>(ctx, icmp),
        ptr_at::<[u8; CSUM_BLOCK]>(ctx, icmp + CSUM_BLOCK),
        ptr_at::<[u8; ICMP_LEN - 2 * CSUM_BLOCK]>(ctx, icmp + 2 * CSUM_BLOCK),
    ) else {
        return Verdict::drop(Counter::AdjustFailed);
    };
    // SAFETY: each block lies inside the frame; sizes are multiples of 4 and <= 512. The
    // checksum field is the 2 bytes after type and code.
    unsafe {
        sum += csum(b0.cast::<u32>(), CSUM_BLOCK as u32);
        sum += csum(b1.cast::<u32>(), CSUM_BLOCK as u32);
        sum += csum(b2.cast::<u32>(), (ICMP_LEN - 2 * CSUM_BLOCK) as u32);
        core::ptr::write_unaligned(b0.cast::<u8>().add(2).cast::<u16>(), !fold(sum));
    }
    count(Counter::PtbSent, PTB_IP_LEN);
    forward(ctx, pkt.vlan, false)
}

#[inline(always)]
unsafe fn csum(block: *mut u32, len: u32) -> u64 {
    // SAFETY: the caller passes a block inside the frame.
    let r = unsafe { bpf_csum_diff(core::ptr::null_mut(), 0, block, len, 0) };
    if r < 0 { 0 } else { r.cast_unsigned() }
}

#[inline(always)]
fn fold(mut sum: u64) -> u16 {
    sum = (sum & 0xffff_ffff) + (sum >> 32);
    sum = (sum & 0xffff_ffff) + (sum >> 32);
    sum = (sum & 0xffff) + (sum >> 16);
    sum = (sum & 0xffff) + (sum >> 16);
    sum = (sum & 0xffff) + (sum >> 16);
    sum as u16
}
