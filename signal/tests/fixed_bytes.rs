//! Messages written out octet by octet from the RFC layouts (RFC 6275 6.1, RFC 5213 8,
//! RFC 8885 4), independently of the encoder; the checksums were computed apart from this crate
//! (a short Python script over the RFC 8200 pseudo-header). The decoder must read each field,
//! and the encoder must write exactly these octets.

mod common;

use anchor_signal::{
    AccessTechnology, HandoffIndicator, Lifetime, MnId, MobilityHeader, MobilityOption, Pba,
    PbaFlags, Pbu, PbuFlags, Status, Timestamp,
};
use common::{CMD, MAAR, PMAAR};

/// A PBU from the serving MAAR to the CMD: HNP, MN-ID, HI, ATT, Timestamp, Link-local Address,
/// MN Link-layer Identifier.
#[rustfmt::skip]
const PBU: [u8; 96] = [
    // 0: Payload Proto 59, Header Len 11 (96 octets), MH Type 5, Reserved
    0x3b, 0x0b, 0x05, 0x00,
    // 4: Checksum
    0x4d, 0x6a,
    // 6: Sequence 0x1234, flags A|P|D = 0x8210, Lifetime 150 (600 s)
    0x12, 0x34, 0x82, 0x10, 0x00, 0x96,
    // 12 (8n+4): Home Network Prefix: type 22, length 18, reserved, /64, 2001:db8:1:1::
    0x16, 0x12, 0x00, 0x40,
    0x20, 0x01, 0x0d, 0xb8, 0x00, 0x01, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    // 32: MN-ID: type 8, length 7, subtype 5 (EUI-48), 02:11:22:33:44:55
    0x08, 0x07, 0x05, 0x02, 0x11, 0x22, 0x33, 0x44, 0x55,
    // 41: Handoff Indicator: type 23, length 2, reserved, 1 (new interface)
    0x17, 0x02, 0x00, 0x01,
    // 45: Access Technology Type: type 24, length 2, reserved, 3 (IEEE 802.3)
    0x18, 0x02, 0x00, 0x03,
    // 49: Pad1, then 50 (8n+2): Timestamp: type 27, length 8, 1700000000 s + 0x8000/65536
    0x00,
    0x1b, 0x08, 0x00, 0x00, 0x65, 0x53, 0xf1, 0x00, 0x80, 0x00,
    // 60: PadN length 0, then 62 (8n+6): Link-local Address: type 26, length 16, fe80::1
    0x01, 0x00,
    0x1a, 0x10,
    0xfe, 0x80, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01,
    // 80: PadN length 2, then 84 (8n+4): MN Link-layer Identifier: type 25, length 8, reserved
    // (16), 02:11:22:33:44:55
    0x01, 0x02, 0x00, 0x00,
    0x19, 0x08, 0x00, 0x00, 0x02, 0x11, 0x22, 0x33, 0x44, 0x55,
    // 94: PadN length 0 to 96
    0x01, 0x00,
];

/// The CMD's PBA to the serving MAAR: MN-ID, HNP, a Previous MAAR, Timestamp.
#[rustfmt::skip]
const PBA: [u8; 104] = [
    // 0: Payload Proto 59, Header Len 12 (104 octets), MH Type 6, Reserved, Checksum
    0x3b, 0x0c, 0x06, 0x00, 0xcc, 0xca,
    // 6: Status 0, flags P|D = 0x22, Sequence 0x1234, Lifetime 150
    0x00, 0x22, 0x12, 0x34, 0x00, 0x96,
    // 12: MN-ID EUI-48
    0x08, 0x07, 0x05, 0x02, 0x11, 0x22, 0x33, 0x44, 0x55,
    // 21: PadN length 5, then 28 (8n+4): Home Network Prefix 2001:db8:1:1::/64
    0x01, 0x05, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x16, 0x12, 0x00, 0x40,
    0x20, 0x01, 0x0d, 0xb8, 0x00, 0x01, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    // 48: PadN length 2, then 52 (8n+4): Previous MAAR: type 67, length 34, reserved, /64,
    // P-MAAR 2001:db8:b::1, prefix 2001:db8:2:2::
    0x01, 0x02, 0x00, 0x00,
    0x43, 0x22, 0x00, 0x40,
    0x20, 0x01, 0x0d, 0xb8, 0x00, 0x0b, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01,
    0x20, 0x01, 0x0d, 0xb8, 0x00, 0x02, 0x00, 0x02, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    // 88: PadN length 0, then 90 (8n+2): Timestamp
    0x01, 0x00,
    0x1b, 0x08, 0x00, 0x00, 0x65, 0x53, 0xf1, 0x00, 0x80, 0x00,
    // 100: PadN length 2 to 104
    0x01, 0x02, 0x00, 0x00,
];

/// The CMD's PBU to a previous MAAR, with the other RFC 8885 options: Anchored Prefix, Local
/// Prefix, Serving MAAR, DLIF Link-Local Address, DLIF Link-Layer Address.
#[rustfmt::skip]
const DMM_PBU: [u8; 120] = [
    // 0: Payload Proto 59, Header Len 14 (120 octets), MH Type 5, Reserved, Checksum
    0x3b, 0x0e, 0x05, 0x00, 0x98, 0x8d,
    // 6: Sequence 1, flags A|P|D, Lifetime 150
    0x00, 0x01, 0x82, 0x10, 0x00, 0x96,
    // 12 (8n+4): Anchored Prefix: type 65, length 18, reserved, /64, 2001:db8:2:2::
    0x41, 0x12, 0x00, 0x40,
    0x20, 0x01, 0x0d, 0xb8, 0x00, 0x02, 0x00, 0x02, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    // 32: PadN length 2, then 36 (8n+4): Local Prefix: type 66, /64, 2001:db8:1:1::
    0x01, 0x02, 0x00, 0x00,
    0x42, 0x12, 0x00, 0x40,
    0x20, 0x01, 0x0d, 0xb8, 0x00, 0x01, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    // 56: PadN length 4, then 62 (8n+6): Serving MAAR: type 68, length 16, 2001:db8:a::1
    0x01, 0x04, 0x00, 0x00, 0x00, 0x00,
    0x44, 0x10,
    0x20, 0x01, 0x0d, 0xb8, 0x00, 0x0a, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01,
    // 80: PadN length 4, then 86 (8n+6): DLIF Link-Local Address: type 69, length 16, fe80::2
    0x01, 0x04, 0x00, 0x00, 0x00, 0x00,
    0x45, 0x10,
    0xfe, 0x80, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x02,
    // 104: PadN length 2, then 108 (8n+4): DLIF Link-Layer Address: type 70, length 8,
    // reserved (16), 02:11:22:33:44:55
    0x01, 0x02, 0x00, 0x00,
    0x46, 0x08, 0x00, 0x00, 0x02, 0x11, 0x22, 0x33, 0x44, 0x55,
    // 118: PadN length 0 to 120
    0x01, 0x00,
];

/// Asserts `actual == expected`, naming the first octet that differs.
fn assert_same_octets(actual: &[u8], expected: &[u8]) {
    if let Some(i) = (0..actual.len().min(expected.len())).find(|&i| actual[i] != expected[i]) {
        panic!(
            "octet {i} is {:#04x}, expected {:#04x}\nactual   {actual:02x?}\nexpected {expected:02x?}",
            actual[i], expected[i]
        );
    }
    assert_eq!(actual.len(), expected.len(), "length");
}

fn prefix(s: &str) -> ipnet::Ipv6Net {
    s.parse().unwrap()
}

#[test]
fn pbu_fields_are_read_from_their_octets() {
    use MobilityOption as O;
    let MobilityHeader::Pbu(pbu) = MobilityHeader::decode(&PBU, MAAR, CMD).unwrap() else {
        panic!("not a PBU");
    };
    assert_eq!(pbu.sequence, 0x1234);
    assert_eq!(pbu.flags, PbuFlags::A | PbuFlags::P | PbuFlags::D);
    assert!(!pbu.flags.contains(PbuFlags::H));
    assert_eq!(pbu.lifetime, Lifetime(150));
    assert_eq!(pbu.lifetime.as_duration().as_secs(), 600);
    let [hnp, mn_id, hi, att, ts, lla, lli] = &pbu.options[..] else {
        panic!("7 options expected: {:?}", pbu.options);
    };
    assert_eq!(hnp, &O::HomeNetworkPrefix(prefix("2001:db8:1:1::/64")));
    assert_eq!(mn_id, &O::MnId(MnId::Eui48(common::MAC)));
    assert_eq!(hi, &O::HandoffIndicator(HandoffIndicator::NEW_INTERFACE));
    assert_eq!(att, &O::AccessTechnology(AccessTechnology::IEEE_802_3));
    let O::Timestamp(t) = ts else {
        panic!("{ts:?}")
    };
    assert_eq!((t.seconds(), t.fraction()), (1_700_000_000, 0x8000));
    assert_eq!(lla, &O::LinkLocalAddress("fe80::1".parse().unwrap()));
    assert_eq!(lli, &O::MnLinkLayerId(common::MAC.to_vec()));

    assert_same_octets(&MobilityHeader::Pbu(pbu).encode(MAAR, CMD).unwrap(), &PBU);
}

#[test]
fn pba_fields_are_read_from_their_octets() {
    use MobilityOption as O;
    let MobilityHeader::Pba(pba) = MobilityHeader::decode(&PBA, CMD, MAAR).unwrap() else {
        panic!("not a PBA");
    };
    assert_eq!(pba.status, Status::ACCEPTED);
    assert!(pba.status.is_accepted());
    assert_eq!(pba.flags, PbaFlags::P | PbaFlags::D);
    assert_eq!(pba.sequence, 0x1234);
    assert_eq!(pba.lifetime, Lifetime(150));
    assert_eq!(
        pba.options,
        [
            O::MnId(MnId::Eui48(common::MAC)),
            O::HomeNetworkPrefix(prefix("2001:db8:1:1::/64")),
            O::PreviousMaar {
                maar: PMAAR,
                prefix: prefix("2001:db8:2:2::/64"),
            },
            O::Timestamp(Timestamp(0x6553_f100_8000)),
        ]
    );
    assert_same_octets(&MobilityHeader::Pba(pba).encode(CMD, MAAR).unwrap(), &PBA);
}

#[test]
fn rfc8885_options_are_read_from_their_octets() {
    use MobilityOption as O;
    let decoded = MobilityHeader::decode(&DMM_PBU, CMD, PMAAR).unwrap();
    let expected = MobilityHeader::Pbu(Pbu {
        sequence: 1,
        flags: PbuFlags::A | PbuFlags::P | PbuFlags::D,
        lifetime: Lifetime(150),
        options: vec![
            O::AnchoredPrefix(prefix("2001:db8:2:2::/64")),
            O::LocalPrefix(prefix("2001:db8:1:1::/64")),
            O::ServingMaar(MAAR),
            O::DlifLinkLocalAddress("fe80::2".parse().unwrap()),
            O::DlifLinkLayerAddress(common::MAC.to_vec()),
        ],
    });
    assert_eq!(decoded, expected);
    assert_same_octets(&expected.encode(CMD, PMAAR).unwrap(), &DMM_PBU);
}

#[test]
fn a_reject_carries_its_status() {
    // Status 154 (MAG not authorized for proxy registration), flags P, Sequence 7, Lifetime 0,
    // PadN of 4; checksum for CMD -> MAAR.
    let mut wire = [
        0x3b, 0x01, 0x06, 0x00, 0, 0, 154, 0x20, 0x00, 0x07, 0x00, 0x00, 1, 2, 0, 0,
    ];
    let sum = anchor_signal::checksum::compute(CMD, MAAR, &wire);
    wire[4..6].copy_from_slice(&sum.to_be_bytes());
    assert_eq!(
        MobilityHeader::decode(&wire, CMD, MAAR),
        Ok(MobilityHeader::Pba(Pba {
            status: Status::MAG_NOT_AUTHORIZED_FOR_PROXY_REG,
            flags: PbaFlags::P,
            sequence: 7,
            lifetime: Lifetime::DEREGISTRATION,
            options: vec![],
        }))
    );
    assert!(!Status(154).is_accepted());
}
