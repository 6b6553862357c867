//! Header parsing: Ethernet, one optional 802.1Q tag, IPv6 and a bounded walk over extension headers.

use aya_ebpf::programs::XdpContext;

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

/// Why a frame was not parsed as IPv6.
pub enum ParseError {
    NonIpv6,
    Malformed,
    ExtHeaderLimit,
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
            core::ptr::read_volatile(&(*ctx.ctx).data) as usize,
            core::ptr::read_volatile(&(*ctx.ctx).data_end) as usize,
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

#[inline(always)]
pub fn parse(ctx: &XdpContext) -> Result<Packet, ParseError> {
    let frame_len = ctx.data_end() - ctx.data();
    let eth_type: [u8; 2] = read_at(ctx, 12).ok_or(ParseError::Malformed)?;
    let mut l3 = ETH_HLEN;
    let mut vlan = false;
    let mut eth_type = u16::from_be_bytes(eth_type);
    if eth_type == ETH_P_8021Q {
        let inner: [u8; 2] = read_at(ctx, 16).ok_or(ParseError::Malformed)?;
        eth_type = u16::from_be_bytes(inner);
        l3 = ETH_HLEN + VLAN_HLEN;
        vlan = true;
    }
    if eth_type != ETH_P_IPV6 {
        return Err(ParseError::NonIpv6);
    }
    let fixed: [u8; 8] = read_at(ctx, l3).ok_or(ParseError::Malformed)?;
    if frame_len < l3 + IPV6_HLEN || fixed[0] >> 4 != 6 {
        return Err(ParseError::Malformed);
    }
    let ip_len = IPV6_HLEN + u16::from_be_bytes([fixed[4], fixed[5]]) as usize;
    let ip_end = l3 + ip_len;
    if ip_end > frame_len {
        return Err(ParseError::Malformed);
    }

    let mut proto = fixed[6];
    let mut off = l3 + IPV6_HLEN;
    let mut later_fragment = false;
    let mut walked = 0;
    while walked < MAX_EXT_HEADERS {
        match proto {
            NEXTHDR_HOP | NEXTHDR_ROUTING | NEXTHDR_DEST => {
                let h: [u8; 2] = read_at(ctx, off).ok_or(ParseError::Malformed)?;
                proto = h[0];
                off += (h[1] as usize + 1) * 8;
            }
            NEXTHDR_FRAGMENT => {
                let h: [u8; 4] = read_at(ctx, off).ok_or(ParseError::Malformed)?;
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
            return Err(ParseError::Malformed);
        }
        walked += 1;
    }
    if matches!(
        proto,
        NEXTHDR_HOP | NEXTHDR_ROUTING | NEXTHDR_DEST | NEXTHDR_FRAGMENT
    ) {
        return Err(ParseError::ExtHeaderLimit);
    }
    if off > MAX_L4_OFFSET {
        return Err(ParseError::Malformed);
    }

    let (mut sport, mut dport) = (0, 0);
    if !later_fragment && matches!(proto, NEXTHDR_TCP | NEXTHDR_UDP | NEXTHDR_SCTP) {
        if off + 4 > ip_end {
            return Err(ParseError::Malformed);
        }
        let ports: [u8; 4] = read_at(ctx, off).ok_or(ParseError::Malformed)?;
        sport = u16::from_be_bytes([ports[0], ports[1]]);
        dport = u16::from_be_bytes([ports[2], ports[3]]);
    }
    Ok(Packet {
        l3,
        vlan,
        ip_len,
        upper: off,
        proto,
        sport,
        dport,
    })
}

/// Reads a 16-byte address at `off`.
#[inline(always)]
pub fn read_addr(ctx: &XdpContext, off: usize) -> Option<[u8; 16]> {
    read_at(ctx, off)
}
