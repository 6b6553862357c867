//! Next hops the program uses without asking the kernel's FIB: the per-peer cache (`NEXTHOPS`,
//! for encapsulated packets, kept by the daemon from netlink) and the visiting nodes' L2 next
//! hops (`VISITING_L2`, for decapsulated packets, written by the daemon with the binding).

/// `NextHop::flags` bit: the entry is usable. Without it the program asks the FIB.
pub const NEXTHOP_VALID: u32 = 1;

/// Value of the `NEXTHOPS` array, indexed like `PEERS` (a binding value's `peer`), and of the
/// `VISITING_L2` map (keyed by the visiting /64).
///
/// `dmac` and `smac` are the first 12 bytes of the Ethernet header as they go on the wire, so
/// that the program copies them in two loads.
#[repr(C, align(8))]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct NextHop {
    /// The next hop's MAC address (the peer's, or its gateway's; the visiting node's).
    pub dmac: [u8; 6],
    /// The MAC address of the interface the packet leaves by.
    pub smac: [u8; 6],
    /// The interface the packet leaves by (host byte order).
    pub ifindex: u32,
    /// The largest IPv6 packet (header included) the way out carries: the outer packet toward a
    /// peer, the decapsulated packet toward a visiting node.
    pub mtu: u32,
    /// `NEXTHOP_*` bits.
    pub flags: u32,
}
const _: () = assert!(core::mem::size_of::<NextHop>() == 24);
const _: () = assert!(core::mem::offset_of!(NextHop, dmac) == 0);
const _: () = assert!(core::mem::offset_of!(NextHop, smac) == 6);
const _: () = assert!(core::mem::offset_of!(NextHop, ifindex) == 12);
const _: () = assert!(core::mem::offset_of!(NextHop, mtu) == 16);
const _: () = assert!(core::mem::offset_of!(NextHop, flags) == 20);

impl NextHop {
    /// An entry the program ignores (it asks the FIB instead).
    pub const INVALID: NextHop = NextHop {
        dmac: [0; 6],
        smac: [0; 6],
        ifindex: 0,
        mtu: 0,
        flags: 0,
    };

    /// A usable entry.
    pub fn valid(dmac: [u8; 6], smac: [u8; 6], ifindex: u32, mtu: u32) -> Self {
        Self {
            dmac,
            smac,
            ifindex,
            mtu,
            flags: NEXTHOP_VALID,
        }
    }

    #[inline(always)]
    pub fn is_valid(&self) -> bool {
        self.flags & NEXTHOP_VALID != 0
    }
}

#[cfg(feature = "user")]
unsafe impl aya::Pod for NextHop {}
