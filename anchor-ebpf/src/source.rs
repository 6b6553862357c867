//! Source address validation on access links: which IPv6 sources an access interface with
//! `IFACE_FLAG_SOURCE_VALIDATION` accepts.

use anchor_common::{AccessSourceKey, access_source::ACCESS_SOURCE_MAC};
use aya_ebpf::programs::XdpContext;

use crate::{
    maps::ACCESS_SOURCES,
    parse::{Addr, read_at},
};

/// An `AccessSourceKey` as 8-byte-aligned words on the stack.
#[repr(C, align(8))]
struct KeyWords([u64; 2]);
const _: () = assert!(core::mem::size_of::<KeyWords>() == core::mem::size_of::<AccessSourceKey>());

/// Whether a frame from `src` arriving on `ifindex` may go on: a link-local source (fe80::/10),
/// the unspecified address (Duplicate Address Detection), or a /64 in `ACCESS_SOURCES` for the
/// interface, whose MAC, when the entry has one, must be the frame's Ethernet source.
#[inline(always)]
pub fn allowed(ctx: &XdpContext, ifindex: u32, src: Addr) -> bool {
    if src.byte(0) == 0xfe && src.byte(1) & 0xc0 == 0x80 {
        return true;
    }
    if src.hi == 0 && src.lo == 0 {
        return true;
    }
    // The key as two aligned words (ifindex and padding, then the /64), written with
    // volatile stores of natural alignment: the compiler could otherwise split it into
    // misaligned stack stores, which the verifier refuses.
    let mut words = KeyWords([0; 2]);
    let i = ifindex.to_ne_bytes();
    let w = words.0.as_mut_ptr();
    // SAFETY: aligned stores inside `words`.
    unsafe {
        core::ptr::write_volatile(w, u64::from_ne_bytes([i[0], i[1], i[2], i[3], 0, 0, 0, 0]));
        core::ptr::write_volatile(w.add(1), src.hi);
    }
    // SAFETY: `KeyWords` has the size of an `AccessSourceKey`, a greater alignment, and its
    // memory image is the key's (ifindex, zero padding, the /64 in wire order).
    let key = unsafe { &*core::ptr::addr_of!(words).cast::<AccessSourceKey>() };
    let Some(entry) = ACCESS_SOURCES.get_ptr(key) else {
        return false;
    };
    // SAFETY: a map value of the size of `AccessSourceValue`; the daemon may rewrite it
    // meanwhile: at worst the frame is checked against the old or the new MAC.
    let value = unsafe { core::ptr::read_volatile(entry) };
    if value.flags & ACCESS_SOURCE_MAC == 0 {
        return true;
    }
    // The Ethernet source: bytes 6..12 of the frame (the parser read past them already).
    let Some(mac) = read_at::<[u8; 6]>(ctx, 6) else {
        return false;
    };
    mac == value.mac
}
