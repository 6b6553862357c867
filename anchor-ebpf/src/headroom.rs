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
    unsafe { copy_18(from.cast(), to.cast()) };
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

/// Copies the first `N` (14 or 18) bytes of the frame to offset `to`. Returns false when out of
/// bounds.
#[inline(always)]
fn move_l2<const N: usize>(ctx: &XdpContext, to: usize) -> bool {
    let (Some(src), Some(dst)) = (ptr_at::<[u8; N]>(ctx, 0), ptr_at::<[u8; N]>(ctx, to)) else {
        return false;
    };
    // SAFETY: both ranges are inside the frame and do not overlap (`to` >= 40 > N).
    unsafe {
        if N == L2_MAX {
            copy_18(src.cast(), dst.cast());
        } else {
            copy_14(src.cast(), dst.cast());
        }
    }
    true
}

// Word-sized copies of the L2 header, written out: a byte array copy would become a call to a
// byte-by-byte `memmove`.

/// # Safety
/// `from` and `to` point to 14 bytes each inside the frame.
#[inline(always)]
unsafe fn copy_14(from: *const u8, to: *mut u8) {
    // SAFETY: as the caller promises; unaligned packet accesses.
    unsafe {
        let a = core::ptr::read_unaligned(from.cast::<u64>());
        let b = core::ptr::read_unaligned(from.add(8).cast::<u32>());
        let c = core::ptr::read_unaligned(from.add(12).cast::<u16>());
        core::ptr::write_unaligned(to.cast::<u64>(), a);
        core::ptr::write_unaligned(to.add(8).cast::<u32>(), b);
        core::ptr::write_unaligned(to.add(12).cast::<u16>(), c);
    }
}

/// # Safety
/// `from` and `to` point to 18 bytes each inside the frame.
#[inline(always)]
unsafe fn copy_18(from: *const u8, to: *mut u8) {
    // SAFETY: as the caller promises; unaligned packet accesses.
    unsafe {
        let a = core::ptr::read_unaligned(from.cast::<u64>());
        let b = core::ptr::read_unaligned(from.add(8).cast::<u64>());
        let c = core::ptr::read_unaligned(from.add(16).cast::<u16>());
        core::ptr::write_unaligned(to.cast::<u64>(), a);
        core::ptr::write_unaligned(to.add(8).cast::<u64>(), b);
        core::ptr::write_unaligned(to.add(16).cast::<u16>(), c);
    }
}
