//! Sample messages shared by the codec's tests and the fuzz seeds: a PBU and a PBA that carry
//! every option the crate types, plus one unknown option.

#![allow(dead_code, reason = "each test binary uses a different part")]

use std::net::Ipv6Addr;

use anchor_signal::{
    AccessTechnology, HandoffIndicator, Lifetime, MnId, MobilityHeader, MobilityOption, Pba,
    PbaFlags, Pbu, PbuFlags, Status, Timestamp,
};

/// The serving MAAR, the CMD and a previous MAAR.
pub const MAAR: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 0xa, 0, 0, 0, 0, 1);
pub const CMD: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 0xc, 0, 0, 0, 0, 1);
pub const PMAAR: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 0xb, 0, 0, 0, 0, 1);
/// A mobile node's care-of address (client-based DMM).
pub const CARE_OF: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 0xd, 0, 0, 0, 0, 0x100);

/// The mobile node's MAC. No zero octet: Wireshark 4.0 does not know MN-ID subtype 5 (EUI-48)
/// and shows the identifier as a string, which a zero octet would end early (a warning).
pub const MAC: [u8; 6] = [0x02, 0x11, 0x22, 0x33, 0x44, 0x55];

/// 2023-11-14 22:13:20.5 UTC.
pub fn timestamp() -> Timestamp {
    Timestamp::new(1_700_000_000, 0x8000)
}

/// One of each option, in an order that needs Pad1 and PadN of several lengths.
pub fn every_option() -> Vec<MobilityOption> {
    use MobilityOption as O;
    vec![
        O::MnId(MnId::Eui48(MAC)),
        O::HomeNetworkPrefix("2001:db8:1:1::/64".parse().unwrap()),
        O::HandoffIndicator(HandoffIndicator::NEW_INTERFACE),
        O::AccessTechnology(AccessTechnology::IEEE_802_3),
        O::MnLinkLayerId(MAC.to_vec()),
        O::LinkLocalAddress("fe80::1".parse().unwrap()),
        O::Timestamp(timestamp()),
        O::AnchoredPrefix("2001:db8:2:2::/64".parse().unwrap()),
        O::LocalPrefix("2001:db8:1:1::/64".parse().unwrap()),
        O::PreviousMaar {
            maar: PMAAR,
            prefix: "2001:db8:2:2::/64".parse().unwrap(),
        },
        O::ServingMaar(MAAR),
        O::DlifLinkLocalAddress("fe80::2".parse().unwrap()),
        O::DlifLinkLayerAddress(MAC.to_vec()),
        O::AlternateCareOfAddress(CARE_OF),
        O::Unknown {
            kind: 200,
            data: vec![0xde, 0xad, 0xbe],
        },
    ]
}

pub fn pbu_with_every_option() -> MobilityHeader {
    MobilityHeader::Pbu(Pbu {
        sequence: 0x1234,
        flags: PbuFlags::A | PbuFlags::P | PbuFlags::D,
        lifetime: Lifetime(150),
        options: every_option(),
    })
}

pub fn pba_with_every_option() -> MobilityHeader {
    MobilityHeader::Pba(Pba {
        status: Status::ACCEPTED,
        flags: PbaFlags::P | PbaFlags::D,
        sequence: 0x1234,
        lifetime: Lifetime(150),
        options: every_option(),
    })
}
