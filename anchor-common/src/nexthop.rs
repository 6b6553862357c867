//! Next hops the program uses without asking the kernel's FIB: the per-peer cache (`NEXTHOPS`,
//! for encapsulated packets, kept by the daemon from netlink) and the visiting nodes' L2 next
//! hops (`VISITING_L2`, for decapsulated packets, written by the daemon with the binding).

/// `NextHop::flags` bit: the entry is usable. Without it the program asks the FIB.
pub const NEXTHOP_VALID: u32 = 1;
/// `NextHop::flags` bit of a `VISITING_L2` entry: the entry also carries the visiting binding of
/// its /64, so that a decapsulating router accepts and forwards a packet toward the node with
/// one lookup. The binding's home (its `PEERS` index) is then in the upper 16 bits of `mtu`
/// (the MTU in the lower 16), and its statistics slot in `flags >> 8`. Written by the daemon
/// whenever the /64's entry or its binding changes; without it the program looks the binding up.
pub const NEXTHOP_BINDING: u32 = 2;
/// Statistics slots at or above this are never carried in a `VISITING_L2` entry (24 bits).
pub const NEXTHOP_MAX_SLOT: u32 = 1 << 24;

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

    /// This `VISITING_L2` entry carrying the visiting binding whose home has the `PEERS` index
    /// `home` and whose statistics slot is `stats_slot` ([`NEXTHOP_BINDING`]); unchanged (but
    /// for a binding it carried) when the slot or the MTU does not fit.
    #[must_use]
    pub fn with_binding(self, home: u16, stats_slot: u32) -> Self {
        let plain = self.without_binding();
        if stats_slot >= NEXTHOP_MAX_SLOT || plain.mtu > u32::from(u16::MAX) {
            return plain;
        }
        Self {
            mtu: plain.mtu | (u32::from(home) << 16),
            flags: plain.flags | NEXTHOP_BINDING | (stats_slot << 8),
            ..plain
        }
    }

    /// This entry without the binding it may carry.
    #[must_use]
    pub fn without_binding(self) -> Self {
        match self.binding() {
            Some(_) => Self {
                mtu: self.mtu & 0xffff,
                flags: self.flags & NEXTHOP_VALID,
                ..self
            },
            None => self,
        }
    }

    /// The binding this entry carries: (its home's `PEERS` index, its statistics slot).
    pub fn binding(&self) -> Option<(u16, u32)> {
        (self.flags & NEXTHOP_BINDING != 0).then_some(((self.mtu >> 16) as u16, self.flags >> 8))
    }
}

#[cfg(feature = "user")]
unsafe impl aya::Pod for NextHop {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_binding_is_carried_and_dropped_in_the_spare_bits() {
        let plain = NextHop::valid([2, 0, 0, 0, 0, 1], [2, 0, 0, 0, 0, 2], 7, 1500);
        let carrying = plain.with_binding(3, 0x00ab_cdef);
        assert_eq!(carrying.binding(), Some((3, 0x00ab_cdef)));
        assert_eq!(carrying.mtu & 0xffff, 1500);
        assert!(carrying.is_valid());
        assert_eq!(carrying.without_binding(), plain);
        assert_eq!(carrying.with_binding(4, 1).binding(), Some((4, 1)));
        assert_eq!(plain.binding(), None);
        assert_eq!(plain.with_binding(3, NEXTHOP_MAX_SLOT), plain);
        let jumbo = NextHop::valid([2, 0, 0, 0, 0, 1], [2, 0, 0, 0, 0, 2], 7, 70_000);
        assert_eq!(jumbo.with_binding(3, 1), jumbo);
    }
}
