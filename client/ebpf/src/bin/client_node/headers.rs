//! The headers both programs read: Ethernet and the fixed IPv6 header, and bounds-checked access
//! to an XDP frame.
//!
//! Fields are read with word-sized loads (the program is built with misaligned accesses allowed,
//! see `build.rs`): an address is two 64-bit loads, not sixteen byte loads.

use aya_ebpf::programs::XdpContext;

pub const ETH_HLEN: usize = 14;
pub use anchor_common::client::IPV6_HLEN;
/// The Ethernet type of IPv6, host value.
pub const ETH_P_IPV6: u16 = 0x86dd;

/// An IPv6 address as two 64-bit words whose memory image is the 16 bytes in wire order, as
/// loaded from the packet: `hi` holds the /64 exactly as a `CLIENT_TUNNELS` key (`[u8; 8]` in
/// userspace) holds it, and the whole is a `CLIENT_ANCHORS` key (`[u8; 16]` in userspace).
#[repr(C)]
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Addr {
    pub hi: u64,
    pub lo: u64,
}

impl Addr {
    /// Reads the 16 bytes at `p` (any alignment).
    ///
    /// # Safety
    /// `p` points to 16 readable bytes.
    #[inline(always)]
    #[expect(
        clippy::cast_ptr_alignment,
        reason = "read as words with `read_unaligned`, which makes no alignment assumption"
    )]
    pub unsafe fn read(p: *const [u8; 16]) -> Self {
        let words = p.cast::<u64>();
        // SAFETY: as the caller promises; unaligned reads.
        unsafe {
            Self {
                hi: core::ptr::read_unaligned(words),
                lo: core::ptr::read_unaligned(words.add(1)),
            }
        }
    }
}

/// The fixed IPv6 header as loaded: the first 8 bytes (version, traffic class, flow label,
/// payload length, next header, hop limit), the source, the destination. 8-byte aligned, so
/// that it can live on the stack.
#[repr(C)]
#[derive(Clone, Copy)]
pub struct Ipv6Words {
    pub first: u64,
    pub src: Addr,
    pub dst: Addr,
}
const _: () = assert!(core::mem::size_of::<Ipv6Words>() == IPV6_HLEN);

impl Ipv6Words {
    /// The first 8 bytes in wire order.
    #[inline(always)]
    pub fn first_bytes(&self) -> [u8; 8] {
        self.first.to_ne_bytes()
    }
}

/// The start and end of the frame. Read with volatile loads so that the compiler cannot drop a
/// bounds check as implied by an earlier comparison the verifier does not track.
#[inline(always)]
fn bounds(ctx: &XdpContext) -> (usize, usize) {
    // SAFETY: `ctx.ctx` points to the kernel's `xdp_md` for this invocation.
    unsafe {
        (
            core::ptr::read_volatile(&raw const (*ctx.ctx).data) as usize,
            core::ptr::read_volatile(&raw const (*ctx.ctx).data_end) as usize,
        )
    }
}

/// The frame's length in bytes.
#[inline(always)]
pub fn frame_len(ctx: &XdpContext) -> usize {
    let (start, end) = bounds(ctx);
    end - start
}

/// A pointer to a `T` at `off`, if the whole `T` lies inside the frame. Call it again after any
/// head adjustment: the pointers from before are invalid.
#[inline(always)]
pub fn ptr_at<T>(ctx: &XdpContext, off: usize) -> Option<*mut T> {
    let (start, end) = bounds(ctx);
    if start + off + core::mem::size_of::<T>() > end {
        return None;
    }
    Some((start + off) as *mut T)
}

/// Reads a `T` at `off`, if it is inside the frame.
#[inline(always)]
pub fn read_at<T: Copy>(ctx: &XdpContext, off: usize) -> Option<T> {
    // SAFETY: `ptr_at` checked the bounds; `read_unaligned` makes no alignment assumption.
    ptr_at::<T>(ctx, off).map(|p| unsafe { core::ptr::read_unaligned(p) })
}
