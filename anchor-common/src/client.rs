//! The mobile node's data plane for client-based DMM (RFC 8818 section 3.1.2): the contract
//! between the node's programs (`client/ebpf`: `client_decap` at XDP, `client_encap` at TC
//! egress) and `anchor_user::client_node`.
//!
//! The node keeps using addresses from /64s that earlier access routers (its anchors) delegated
//! to it. Each anchor tunnels its /64's downlink to the node's current address (IPv6-in-IPv6);
//! the node sends its uplink from such a /64 back through a tunnel to that anchor. The helpers
//! here are the header arithmetic of both directions, shared so that it is tested on the host.

/// IPv6 next header of IPv6-in-IPv6.
pub const NEXTHDR_IPV6: u8 = 41;
/// Length of the fixed IPv6 header.
pub const IPV6_HLEN: usize = 40;
/// Hop limit of the outer headers `client_encap` writes.
pub const CLIENT_OUTER_HOP_LIMIT: u8 = 64;

/// `HashMap<[u8; 8], ClientTunnel>`, capacity [`MAX_CLIENT_TUNNELS`]: the tunnel of each /64 this
/// node uses from an earlier anchor, keyed by the /64 (the first 8 bytes of an address, see
/// [`tunnel_key`]). A packet leaving with its source in such a /64 is encapsulated toward the
/// anchor.
pub const CLIENT_TUNNELS: &str = "CLIENT_TUNNELS";
/// `HashMap<[u8; 16], u32>`, capacity [`MAX_CLIENT_ANCHORS`]: the anchors whose IPv6-in-IPv6
/// packets are decapsulated, keyed by the anchor's address (the value is unused, 1). A tunnel
/// packet from any other host is dropped.
pub const CLIENT_ANCHORS: &str = "CLIENT_ANCHORS";
/// `PerCpuArray<u64>`, indexed by [`ClientCounter`]: packets per counter.
pub const CLIENT_COUNTERS: &str = "CLIENT_COUNTERS";

/// Capacity of `CLIENT_TUNNELS`.
pub const MAX_CLIENT_TUNNELS: u32 = 256;
/// Capacity of `CLIENT_ANCHORS`.
pub const MAX_CLIENT_ANCHORS: u32 = 256;

/// Value of `CLIENT_TUNNELS`: where the uplink of a /64 goes, and from which address.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub struct ClientTunnel {
    /// The anchor that delegated the /64: the outer destination.
    pub anchor: [u8; 16],
    /// The node's current address (care-of address): the outer source.
    pub coa: [u8; 16],
}
const _: () = assert!(core::mem::size_of::<ClientTunnel>() == 32);

impl ClientTunnel {
    pub const fn new(anchor: [u8; 16], coa: [u8; 16]) -> Self {
        Self { anchor, coa }
    }
}

#[cfg(feature = "user")]
unsafe impl aya::Pod for ClientTunnel {}

macro_rules! client_counters {
    ($($variant:ident = $idx:literal => $name:literal : $doc:literal,)*) => {
        /// What the node's programs did with a packet. The discriminant is the index in the
        /// `CLIENT_COUNTERS` array; every packet either program sees counts in exactly one.
        #[repr(u32)]
        #[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub enum ClientCounter {
            $(#[doc = $doc] $variant = $idx,)*
        }

        impl ClientCounter {
            pub const ALL: &'static [ClientCounter] = &[$(ClientCounter::$variant,)*];

            /// Stable snake_case name, used by the CLI and metrics.
            pub const fn name(self) -> &'static str {
                match self {
                    $(ClientCounter::$variant => $name,)*
                }
            }
        }
    };
}

client_counters! {
    Decapsulated = 0 => "decapsulated": "XDP: IPv6-in-IPv6 from an anchor, decapsulated and passed to the kernel.",
    RefusedTunnel = 1 => "refused_tunnel": "XDP: IPv6-in-IPv6 from a host that is not an anchor, dropped.",
    Passed = 2 => "passed": "XDP: any other frame, passed unchanged. TC egress: a frame that is not IPv6, or an IPv6 packet to a link-scoped destination (multicast, link-local: Neighbour Discovery stays on the link), passed unchanged.",
    Encapsulated = 3 => "encapsulated": "TC egress: packet from a tunnelled /64, encapsulated toward its anchor.",
    NotTunnelled = 4 => "not_tunnelled": "TC egress: IPv6 packet whose source /64 has no tunnel, passed unchanged.",
    EncapFailed = 5 => "encap_failed": "TC egress: packet from a tunnelled /64 that cannot be encapsulated (40 more bytes exceed the interface's MTU, the room could not be made, the outer payload length would exceed 65535), dropped.",
    Malformed = 6 => "malformed": "Either program: truncated or inconsistent IPv6 headers, passed to the kernel unchanged.",
}

impl ClientCounter {
    /// Number of counters (capacity of `CLIENT_COUNTERS`).
    #[expect(
        clippy::cast_possible_truncation,
        reason = "a constant: `ALL` has a few entries, and `try_from` is not const"
    )]
    pub const COUNT: u32 = Self::ALL.len() as u32;
}

/// The `CLIENT_TUNNELS` key of an address: its /64, the first 8 bytes.
#[inline(always)]
pub fn tunnel_key(addr: [u8; 16]) -> [u8; 8] {
    [
        addr[0], addr[1], addr[2], addr[3], addr[4], addr[5], addr[6], addr[7],
    ]
}

/// Whether a destination whose first 8 bytes are `dst_hi` is link-scoped: multicast (ff00::/8)
/// or link-local unicast (fe80::/10). Such packets are never tunnelled, whatever their source:
/// Neighbour Discovery for an address of a tunnelled /64 stays on the link.
#[inline(always)]
pub fn is_link_scoped(dst_hi: [u8; 8]) -> bool {
    dst_hi[0] == 0xff || (dst_hi[0] == 0xfe && dst_hi[1] & 0xc0 == 0x80)
}

/// The version field of an IPv6 header whose first 8 bytes are `first`.
#[inline(always)]
pub fn ip_version(first: [u8; 8]) -> u8 {
    first[0] >> 4
}

/// The payload length of an IPv6 header whose first 8 bytes are `first`.
#[inline(always)]
pub fn payload_len(first: [u8; 8]) -> usize {
    usize::from(u16::from_be_bytes([first[4], first[5]]))
}

/// Whether an IPv6-in-IPv6 packet is consistent: its outer header (first 8 bytes `outer`) and
/// the inner one (`inner`) are version 6, the outer payload holds at least the inner header and
/// lies inside the `l3_len` bytes from the outer header to the end of the frame, and the inner
/// packet (header and payload) lies inside the outer payload.
#[inline(always)]
pub fn tunnel_fits(l3_len: usize, outer: [u8; 8], inner: [u8; 8]) -> bool {
    let outer_payload = payload_len(outer);
    ip_version(outer) == 6
        && ip_version(inner) == 6
        && outer_payload >= IPV6_HLEN
        && IPV6_HLEN + outer_payload <= l3_len
        && IPV6_HLEN + payload_len(inner) <= outer_payload
}

/// The first 8 bytes of the outer header that carries an IPv6 packet whose header starts with
/// `inner`: version 6, the inner traffic class and flow label, payload length = the whole inner
/// packet (its payload length + 40), next header 41, hop limit [`CLIENT_OUTER_HOP_LIMIT`].
/// `None` when that length exceeds 65535 (the packet cannot be carried without a jumbogram).
#[inline(always)]
pub fn outer_first(inner: [u8; 8]) -> Option<[u8; 8]> {
    // `payload_len` is at most 65535, so the sum fits and `try_from` tells whether it fits 16
    // bits.
    let len = u16::try_from(payload_len(inner) + IPV6_HLEN).ok()?;
    let len = len.to_be_bytes();
    Some([
        0x60 | (inner[0] & 0x0f),
        inner[1],
        inner[2],
        inner[3],
        len[0],
        len[1],
        NEXTHDR_IPV6,
        CLIENT_OUTER_HOP_LIMIT,
    ])
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The first 8 bytes of an IPv6 header.
    fn first(version: u8, tc: u8, label: u32, plen: u16, nh: u8, hl: u8) -> [u8; 8] {
        let word = (u32::from(version) << 28) | (u32::from(tc) << 20) | (label & 0xfffff);
        let w = word.to_be_bytes();
        let p = plen.to_be_bytes();
        [w[0], w[1], w[2], w[3], p[0], p[1], nh, hl]
    }

    #[test]
    fn counters_are_dense_and_named_once() {
        assert_eq!(ClientCounter::COUNT, 7);
        for (i, c) in ClientCounter::ALL.iter().enumerate() {
            assert_eq!(*c as usize, i, "{c:?}");
            let name = c.name();
            assert!(
                name.bytes().all(|b| b.is_ascii_lowercase() || b == b'_'),
                "{name}"
            );
            assert_eq!(
                ClientCounter::ALL
                    .iter()
                    .filter(|o| o.name() == name)
                    .count(),
                1,
                "{name}"
            );
        }
        assert_eq!(ClientCounter::NotTunnelled.name(), "not_tunnelled");
        assert_eq!(ClientCounter::EncapFailed.name(), "encap_failed");
    }

    #[test]
    fn the_key_is_the_64() {
        let mut addr = [0u8; 16];
        for (i, b) in addr.iter_mut().enumerate() {
            *b = u8::try_from(i).expect("16 bytes") + 1;
        }
        assert_eq!(tunnel_key(addr), [1, 2, 3, 4, 5, 6, 7, 8]);
    }

    #[test]
    fn link_scope_is_multicast_and_fe80_slash_10() {
        let hi = |a: u8, b: u8| [a, b, 0, 0, 0, 0, 0, 0];
        assert!(is_link_scoped(hi(0xff, 0x02)));
        assert!(is_link_scoped(hi(0xff, 0x0e)));
        assert!(is_link_scoped(hi(0xfe, 0x80)));
        assert!(is_link_scoped(hi(0xfe, 0xbf)));
        assert!(
            !is_link_scoped(hi(0xfe, 0xc0)),
            "site-local is not link-scoped"
        );
        assert!(!is_link_scoped(hi(0xfd, 0x00)));
        assert!(!is_link_scoped(hi(0x20, 0x01)));
    }

    #[test]
    fn a_consistent_tunnel_fits() {
        let inner = first(6, 0, 0, 8, 17, 64);
        let outer = first(6, 0, 0, 48, NEXTHDR_IPV6, 64);
        assert!(tunnel_fits(88, outer, inner));
        // Trailing bytes after the outer packet (Ethernet padding) are allowed.
        assert!(tunnel_fits(120, outer, inner));
        // The outer packet is cut short.
        assert!(!tunnel_fits(87, outer, inner));
        // An inner packet longer than the outer payload.
        assert!(!tunnel_fits(200, outer, first(6, 0, 0, 9, 17, 64)));
        // An outer payload shorter than an IPv6 header.
        assert!(!tunnel_fits(
            200,
            first(6, 0, 0, 39, NEXTHDR_IPV6, 64),
            first(6, 0, 0, 0, 59, 64)
        ));
        // Versions other than 6, outer and inner.
        assert!(!tunnel_fits(88, first(4, 0, 0, 48, 41, 64), inner));
        assert!(!tunnel_fits(88, outer, first(4, 0, 0, 8, 17, 64)));
    }

    #[test]
    fn the_outer_header_copies_class_and_label_and_counts_the_inner_header() {
        let inner = first(6, 0xb8, 0xabcde, 1000, 6, 3);
        assert_eq!(
            outer_first(inner),
            Some(first(6, 0xb8, 0xabcde, 1040, NEXTHDR_IPV6, 64))
        );
        assert_eq!(
            outer_first(first(6, 0, 0, 65_495, 17, 1)),
            Some(first(6, 0, 0, 65_535, NEXTHDR_IPV6, 64))
        );
        assert_eq!(outer_first(first(6, 0, 0, 65_496, 17, 1)), None);
    }
}
