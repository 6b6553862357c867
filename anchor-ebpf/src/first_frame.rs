//! Attachment on a node's first frame: an IPv6 frame on an access interface with
//! `IFACE_FLAG_FIRST_FRAME` whose Ethernet source is not in `KNOWN_MACS` there is reported to
//! the daemon through the `FIRST_FRAMES` ring, at most once per (interface, MAC) every
//! `FIRST_FRAME_REPORT_INTERVAL_NS`. A side effect: the frame's verdict is not changed.

use anchor_common::{AccessMac, Counter, first_frame::FIRST_FRAME_REPORT_INTERVAL_NS};
use aya_ebpf::{helpers::bpf_ktime_get_ns, programs::XdpContext};

use crate::{
    maps::{FIRST_FRAME_REPORTED, FIRST_FRAMES, KNOWN_MACS},
    parse::read_at,
    stats::count,
};

/// An `AccessMac` as 8-byte-aligned words on the stack.
#[repr(C, align(8))]
struct KeyWords([u64; 2]);
const _: () = assert!(core::mem::size_of::<KeyWords>() == core::mem::size_of::<AccessMac>());

/// Reports the frame's source MAC, on an access interface that attaches on first frames (the
/// caller checks), when the MAC is neither known there, nor a group address, nor reported
/// within the interval.
#[inline(always)]
pub fn notice(ctx: &XdpContext) {
    let ingress = ctx.ingress_ifindex() as u32;
    // The Ethernet source: bytes 6..12 of the frame (the parser read past them already).
    let Some(mac) = read_at::<[u8; 6]>(ctx, 6) else {
        return;
    };
    if mac[0] & 1 != 0 {
        return;
    }
    // The key as two aligned words (ifindex and padding, then the MAC and padding), written
    // with volatile stores of natural alignment, as in `source::allowed`.
    let mut words = KeyWords([0; 2]);
    let i = ingress.to_ne_bytes();
    let w = words.0.as_mut_ptr();
    // SAFETY: aligned stores inside `words`.
    unsafe {
        core::ptr::write_volatile(w, u64::from_ne_bytes([i[0], i[1], i[2], i[3], 0, 0, 0, 0]));
        core::ptr::write_volatile(
            w.add(1),
            u64::from_ne_bytes([mac[0], mac[1], mac[2], mac[3], mac[4], mac[5], 0, 0]),
        );
    }
    // SAFETY: `KeyWords` has the size and alignment of an `AccessMac`, and its memory image is
    // the key's (ifindex, zero padding, the MAC, zero padding).
    let key = unsafe { &*core::ptr::addr_of!(words).cast::<AccessMac>() };
    if KNOWN_MACS.get_ptr(key).is_some() {
        return;
    }
    // SAFETY: a helper without arguments.
    let now = unsafe { bpf_ktime_get_ns() };
    if let Some(last) = FIRST_FRAME_REPORTED.get_ptr_mut(key) {
        // SAFETY: a map value of 8 bytes; two CPUs racing here may both report: the daemon
        // takes a report for a node it attaches already as a no-op.
        let then = unsafe { core::ptr::read_volatile(last) };
        if now.wrapping_sub(then) < FIRST_FRAME_REPORT_INTERVAL_NS {
            return;
        }
        // SAFETY: as above.
        unsafe { core::ptr::write_volatile(last, now) };
    } else if FIRST_FRAME_REPORTED.insert(key, now, 0).is_err() {
        return;
    }
    if FIRST_FRAMES.output::<AccessMac>(key, 0).is_ok() {
        count(Counter::FirstFrameReport, 0);
    } else {
        count(Counter::FirstFrameReportLost, 0);
    }
}
