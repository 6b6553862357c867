//! Header parsing: Ethernet, one optional 802.1Q tag, IPv6 and a bounded walk over extension headers.
//!
//! Fields are read with word-sized loads (the program is built with misaligned accesses allowed,
//! see `build.rs`): an address is two 64-bit loads, not sixteen byte loads.

use aya_ebpf::programs::XdpContext;

use crate::opaque::opaque;

pub const ETH_HLEN: usize = 14;
pub const VLAN_HLEN: usize = 4;
pub const IPV6_HLEN: usize = 40;
const ETH_P_IPV6: u16 = 0x86dd;
const ETH_P_8021Q: u16 = 0x8100;

pub const NEXTHDR_HOP: u8 = 0;
pub const NEXTHDR_TCP: u8 = 6;
pub const NEXTHDR_UDP: u8 = 17;
pub const NEXTHDR_IPV6: u8 = 41;
pub const NEXTHDR_ROUTING: u8 = 43;
pub const NEXTHDR_FRAGMENT: u8 = 44;
pub const NEXTHDR_ICMPV6: u8 = 58;
pub const NEXTHDR_DEST: u8 = 60;
pub const NEXTHDR_SCTP: u8 = 132;

/// How many extension headers the walk follows before it gives up.
pub const MAX_EXT_HEADERS: usize = 6;
/// Upper bound of any offset the parser hands out, so the verifier sees bounded packet offsets.
pub const MAX_L4_OFFSET: usize = ETH_HLEN + VLAN_HLEN + IPV6_HLEN + MAX_EXT_HEADERS * 2048;

/// Why a frame was not parsed as IPv6; with the IPv6 source once the fixed header was read
/// (the source validation applies to such a frame too).
pub enum ParseError {
    NonIpv6,
    Malformed(Option<Addr>),
    ExtHeaderLimit(Addr),
}

/// An IPv6 address as two 64-bit words whose memory image is the 16 bytes in wire order, as
/// loaded from the packet: `hi` holds the /64 exactly as a `BindingKey` holds it.
#[repr(C)]
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Addr {
    pub hi: u64,
    pub lo: u64,
}

impl Addr {
    /// Byte `i` (0..8) of the address, in wire order.
    #[inline(always)]
    pub fn byte(self, i: usize) -> u8 {
        self.hi.to_ne_bytes()[i]
    }

    /// The 16 bytes in wire order.
    #[inline(always)]
    pub fn octets(self) -> [u8; 16] {
        let (hi, lo) = (self.hi.to_ne_bytes(), self.lo.to_ne_bytes());
        let mut o = [0u8; 16];
        o[..8].copy_from_slice(&hi);
        o[8..].copy_from_slice(&lo);
        o
    }

    /// The sum of the address's four 32-bit words in memory order (for checksums).
    #[inline(always)]
    pub fn word_sum(self) -> u64 {
        (self.hi & 0xffff_ffff) + (self.hi >> 32) + (self.lo & 0xffff_ffff) + (self.lo >> 32)
    }
}

/// What the parser learned about an IPv6 frame. Offsets are from the start of the frame.
pub struct Packet {
    /// Offset of the IPv6 header (14, or 18 with a VLAN tag).
    pub l3: usize,
    pub vlan: bool,
    /// 40 + payload length.
    pub ip_len: usize,
    /// Offset of the upper-layer header (after extension headers).
    pub upper: usize,
    /// Upper-layer protocol.
    pub proto: u8,
    /// Ports of TCP/UDP/SCTP in host value, zero otherwise or for non-first fragments.
    pub sport: u16,
    pub dport: u16,
    /// The first 8 bytes of the IPv6 header as loaded (version, traffic class, flow label,
    /// payload length, next header, hop limit).
    pub first: u64,
    pub src: Addr,
    pub dst: Addr,
}

impl Packet {
    pub fn hop_limit(&self) -> u8 {
        self.first.to_ne_bytes()[7]
    }

    pub fn traffic_class(&self) -> u8 {
        let b = self.first.to_ne_bytes();
        (b[0] << 4) | (b[1] >> 4)
    }
}

/// A pointer to a `T` at `off`, if the whole `T` lies inside the frame.
///
/// The frame bounds are read with volatile loads so that the compiler cannot drop this check as
/// implied by an earlier comparison the verifier does not track (lengths compared as scalars).
#[inline(always)]
pub fn ptr_at<T>(ctx: &XdpContext, off: usize) -> Option<*mut T> {
    // SAFETY: `ctx.ctx` points to the kernel's `xdp_md` for this invocation.
    let (start, end) = unsafe {
        (
            core::ptr::read_volatile(&raw const (*ctx.ctx).data) as usize,
            core::ptr::read_volatile(&raw const (*ctx.ctx).data_end) as usize,
        )
    };
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

/// The fixed IPv6 header as loaded: the first 8 bytes, the source, the destination.
#[repr(C)]
#[derive(Clone, Copy)]
pub struct Ipv6Words {
    pub first: u64,
    pub src: Addr,
    pub dst: Addr,
}
const _: () = assert!(core::mem::size_of::<Ipv6Words>() == IPV6_HLEN);

impl Ipv6Words {
    pub fn version(&self) -> u8 {
        self.first.to_ne_bytes()[0] >> 4
    }

    /// 40 + the payload length.
    pub fn len(&self) -> usize {
        let b = self.first.to_ne_bytes();
        IPV6_HLEN + u16::from_be_bytes([b[4], b[5]]) as usize
    }

    pub fn next_header(&self) -> u8 {
        self.first.to_ne_bytes()[6]
    }
}

/// `off` (at most [`MAX_L4_OFFSET`]) as the verifier's "any offset below 16 KiB", not the range
/// this path's headers give it ([`opaque`]): the paths of every number and kind of extension
/// headers reach the rest of the program with the same state for it, and are pruned together
/// instead of each walking the rest of the program. The program checks every access at this
/// offset against the frame's end anyway.
#[inline(always)]
fn merged_offset(off: usize) -> usize {
    const OFFSET_MASK: usize = 0x3fff;
    const _: () = assert!(MAX_L4_OFFSET < OFFSET_MASK);
    opaque(off as u32) as usize & OFFSET_MASK
}

#[inline(always)]
pub fn parse(ctx: &XdpContext) -> Result<Packet, ParseError> {
    let frame_len = ctx.data_end() - ctx.data();
    let eth_type: u16 = read_at(ctx, 12).ok_or(ParseError::Malformed(None))?;
    let mut l3 = ETH_HLEN;
    let mut vlan = false;
    let mut eth_type = u16::from_be(eth_type);
    if eth_type == ETH_P_8021Q {
        let inner: u16 = read_at(ctx, 16).ok_or(ParseError::Malformed(None))?;
        eth_type = u16::from_be(inner);
        l3 = ETH_HLEN + VLAN_HLEN;
        vlan = true;
    }
    if eth_type != ETH_P_IPV6 {
        return Err(ParseError::NonIpv6);
    }
    // Shorter than an IPv6 header: malformed, as is a version other than 6.
    let ip: Ipv6Words = read_at(ctx, l3).ok_or(ParseError::Malformed(None))?;
    if ip.version() != 6 {
        return Err(ParseError::Malformed(None));
    }
    let src = Some(ip.src);
    let ip_len = ip.len();
    let ip_end = l3 + ip_len;
    if ip_end > frame_len {
        return Err(ParseError::Malformed(src));
    }

    let mut proto = ip.next_header();
    let mut off = l3 + IPV6_HLEN;
    let mut later_fragment = false;
    let mut walked = 0;
    while walked < MAX_EXT_HEADERS {
        match proto {
            NEXTHDR_HOP | NEXTHDR_ROUTING | NEXTHDR_DEST => {
                let h: u16 = read_at(ctx, off).ok_or(ParseError::Malformed(src))?;
                let h = h.to_ne_bytes();
                proto = h[0];
                off += (h[1] as usize + 1) * 8;
            }
            NEXTHDR_FRAGMENT => {
                let h: u32 = read_at(ctx, off).ok_or(ParseError::Malformed(src))?;
                let h = h.to_ne_bytes();
                proto = h[0];
                // Fragment offset: the upper 13 bits of bytes 2-3; M and reserved bits below.
                if h[2] != 0 || h[3] & 0xf8 != 0 {
                    later_fragment = true;
                }
                off += 8;
            }
            _ => break,
        }
        if off > ip_end {
            return Err(ParseError::Malformed(src));
        }
        walked += 1;
    }
    if matches!(
        proto,
        NEXTHDR_HOP | NEXTHDR_ROUTING | NEXTHDR_DEST | NEXTHDR_FRAGMENT
    ) {
        return Err(ParseError::ExtHeaderLimit(ip.src));
    }
    if off > MAX_L4_OFFSET {
        return Err(ParseError::Malformed(src));
    }
    let off = merged_offset(off);

    let (mut sport, mut dport) = (0, 0);
    if !later_fragment && matches!(proto, NEXTHDR_TCP | NEXTHDR_UDP | NEXTHDR_SCTP) {
        if off + 4 > ip_end {
            return Err(ParseError::Malformed(src));
        }
        let ports: u32 = read_at(ctx, off).ok_or(ParseError::Malformed(src))?;
        let p = ports.to_ne_bytes();
        sport = u16::from_be_bytes([p[0], p[1]]);
        dport = u16::from_be_bytes([p[2], p[3]]);
    }
    Ok(Packet {
        l3,
        vlan,
        ip_len,
        upper: off,
        proto,
        sport,
        dport,
        first: ip.first,
        src: ip.src,
        dst: ip.dst,
    })
}
