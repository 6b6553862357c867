//! Opening and closing room between the L2 header and the IPv6 header.

use anchor_common::Counter;
use aya_ebpf::{helpers::bpf_xdp_adjust_head, programs::XdpContext};

use crate::{
    parse::{ETH_HLEN, VLAN_HLEN, ptr_at},
    stats::count,
    verdict::Verdict,
};

/// The longest L2 header handled: Ethernet with one 802.1Q tag.
const L2_MAX: usize = ETH_HLEN + VLAN_HLEN;

/// Opens `GAP` bytes in front of the IPv6 header: grows the frame at the head and moves the L2
/// header to the new front. The caller writes the new bytes at the IPv6 offset.
///
/// On failure returns the verdict to give: the frame unchanged and passed when the head could not
/// grow, dropped when it already had.
#[inline(always)]
pub fn open<const GAP: usize>(ctx: &XdpContext) -> Result<(), Verdict> {
    // SAFETY: valid context; a failure leaves the frame as it was.
    if unsafe { bpf_xdp_adjust_head(ctx.ctx, -(GAP as i32)) } != 0 {
        count(Counter::AdjustFailed, 0);
        return Err(Verdict::PASS);
    }
    // Copying 18 bytes also covers an untagged frame: the caller overwrites the 4 extra bytes.
    let (Some(from), Some(to)) = (
        ptr_at::<[u8; L2_MAX]>(ctx, GAP),
        ptr_at::<[u8; L2_MAX]>(ctx, 0),
    ) else {
        return Err(Verdict::drop(Counter::AdjustFailed));
    };
    // SAFETY: both ranges are inside the frame and do not overlap (every gap is >= 40 > 18).
    unsafe { *to = *from };
    Ok(())
}

/// Removes `gap` bytes after the L2 header (of `l2_len` bytes): moves the L2 header forward, then
/// shrinks the frame at the head.
///
/// On failure returns the verdict to give: the frame unchanged and passed when nothing was moved
/// yet, dropped when it had been.
#[inline(always)]
pub fn close(ctx: &XdpContext, vlan: bool, gap: usize) -> Result<(), Verdict> {
    let moved = if vlan {
        move_l2::<L2_MAX>(ctx, gap)
    } else {
        move_l2::<ETH_HLEN>(ctx, gap)
    };
    if !moved {
        count(Counter::Malformed, 0);
        return Err(Verdict::PASS);
    }
    // SAFETY: valid context; `gap` leaves at least the bytes the caller checked in the frame.
    if unsafe { bpf_xdp_adjust_head(ctx.ctx, gap as i32) } != 0 {
        return Err(Verdict::drop(Counter::AdjustFailed));
    }
    Ok(())
}

/// Copies the first `N` bytes of the frame to offset `to`. Returns false when out of bounds.
#[inline(always)]
fn move_l2<const N: usize>(ctx: &XdpContext, to: usize) -> bool {
    let (Some(src), Some(dst)) = (ptr_at::<[u8; N]>(ctx, 0), ptr_at::<[u8; N]>(ctx, to)) else {
        return false;
    };
    // SAFETY: both ranges are inside the frame and do not overlap (`to` >= 40 > N).
    unsafe { *dst = *src };
    true
}
