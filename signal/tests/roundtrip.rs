//! Encode then decode gives the message back, and what the encoder writes follows the layout
//! rules: Header Len, 8-octet length, each option at its alignment, a checksum that verifies.

mod common;

use anchor_signal::checksum;
use anchor_signal::{
    Lifetime, MnId, MobilityHeader, MobilityOption, Pba, PbaFlags, Pbu, PbuFlags, RawOptions,
    Status,
};
use common::{CMD, MAAR};

fn round_trip(message: &MobilityHeader) -> Vec<u8> {
    let wire = message.encode(MAAR, CMD).expect("encodes");
    assert_eq!(
        MobilityHeader::decode(&wire, MAAR, CMD).as_ref(),
        Ok(message),
        "decoding {wire:02x?}"
    );
    wire
}

/// Checks the layout of `wire` and returns its options with their offsets, padding included.
fn check_layout(wire: &[u8]) -> Vec<(usize, MobilityOption)> {
    assert_eq!(
        wire.len() % 8,
        0,
        "length {} is not a multiple of 8",
        wire.len()
    );
    assert_eq!((usize::from(wire[1]) + 1) * 8, wire.len(), "Header Len");
    assert_eq!(wire[0], 59, "Payload Proto");
    assert_eq!(wire[3], 0, "Reserved");
    assert_eq!(checksum::sum(MAAR, CMD, wire), 0xffff, "checksum");
    let options: Vec<_> = RawOptions::new(wire, 12)
        .collect::<Result<_, _>>()
        .expect("options parse");
    for (offset, option) in &options {
        if let Some(a) = option.alignment() {
            assert_eq!(
                offset % a.multiple,
                a.offset,
                "option {} at offset {offset} breaks its alignment {}n+{}",
                option.kind(),
                a.multiple,
                a.offset
            );
        }
    }
    options
}

#[test]
fn pbu_with_every_option_round_trips_aligned() {
    let pbu = common::pbu_with_every_option();
    let wire = round_trip(&pbu);
    assert_eq!(wire[2], 5, "MH Type");
    let options = check_layout(&wire);
    let typed: Vec<_> = options
        .into_iter()
        .map(|(_, o)| o)
        .filter(|o| !o.is_padding())
        .collect();
    assert_eq!(typed, common::every_option());
}

#[test]
fn pba_with_every_option_round_trips_aligned() {
    let pba = common::pba_with_every_option();
    let wire = round_trip(&pba);
    assert_eq!(wire[2], 6, "MH Type");
    check_layout(&wire);
}

#[test]
fn messages_without_options_are_padded_to_sixteen_octets() {
    // RFC 6275 6.1.7: with no options, 4 octets of padding and Header Len 1.
    let pbu = MobilityHeader::Pbu(Pbu {
        sequence: 1,
        flags: PbuFlags::A | PbuFlags::P,
        lifetime: Lifetime::DEREGISTRATION,
        options: vec![],
    });
    let wire = round_trip(&pbu);
    assert_eq!(wire.len(), 16);
    assert_eq!(wire[1], 1);
    assert_eq!(&wire[12..], [1, 2, 0, 0], "one PadN of 4 octets");
    let pba = MobilityHeader::Pba(Pba {
        status: Status::NOT_AUTHORIZED_FOR_HOME_NETWORK_PREFIX,
        flags: PbaFlags::P,
        sequence: 1,
        lifetime: Lifetime(0),
        options: vec![],
    });
    let wire = round_trip(&pba);
    assert_eq!((wire.len(), wire[6]), (16, 155));
}

#[test]
fn every_alignment_holds_from_every_starting_offset() {
    // Put 0..8 octets of unknown option ahead of each aligned option, so that each one starts
    // from every residue mod 8.
    for option in common::every_option() {
        for lead in 0..8 {
            let mut options = Vec::new();
            if lead > 0 {
                // An unknown option takes 2 + data octets; a lead of 1 is a kind-less gap.
                options.push(if lead == 1 {
                    MobilityOption::Pad1
                } else {
                    MobilityOption::Unknown {
                        kind: 250,
                        data: vec![7; lead - 2],
                    }
                });
            }
            options.push(option.clone());
            let pbu = MobilityHeader::Pbu(Pbu {
                sequence: 9,
                flags: PbuFlags::P,
                lifetime: Lifetime(1),
                options: options.clone(),
            });
            let wire = pbu.encode(MAAR, CMD).unwrap();
            check_layout(&wire);
            let decoded = MobilityHeader::decode(&wire, MAAR, CMD).unwrap();
            let expected: Vec<_> = options.into_iter().filter(|o| !o.is_padding()).collect();
            assert_eq!(decoded.options(), expected, "lead {lead}");
        }
    }
}

#[test]
fn every_mn_id_subtype_round_trips() {
    for id in [
        MnId::Nai("mn1@example.net".into()),
        MnId::Eui48([0, 0, 0, 0, 0, 0]),
        MnId::Eui64([2, 0, 0, 0xff, 0xfe, 0, 0, 1]),
        MnId::Other {
            subtype: 3,
            id: b"001010123456789".to_vec(),
        },
    ] {
        round_trip(&MobilityHeader::Pbu(Pbu {
            sequence: 2,
            flags: PbuFlags::P,
            lifetime: Lifetime(10),
            options: vec![MobilityOption::MnId(id)],
        }));
    }
}

#[test]
fn explicit_padding_is_written_and_dropped_on_decode() {
    let pbu = MobilityHeader::Pbu(Pbu {
        sequence: 3,
        flags: PbuFlags::P,
        lifetime: Lifetime(10),
        options: vec![
            MobilityOption::PadN { len: 3 },
            MobilityOption::HandoffIndicator(anchor_signal::HandoffIndicator::NOT_CHANGED),
            MobilityOption::Pad1,
        ],
    });
    let wire = pbu.encode(MAAR, CMD).unwrap();
    assert_eq!(&wire[12..21], [1, 3, 0, 0, 0, 23, 2, 0, 5]);
    assert_eq!(wire[21], 0, "Pad1");
    let decoded = MobilityHeader::decode(&wire, MAAR, CMD).unwrap();
    assert_eq!(
        decoded.options(),
        [MobilityOption::HandoffIndicator(
            anchor_signal::HandoffIndicator::NOT_CHANGED
        )]
    );
}

#[test]
fn too_much_to_fit_is_an_encode_error() {
    let pbu = MobilityHeader::Pbu(Pbu {
        sequence: 4,
        flags: PbuFlags::P,
        lifetime: Lifetime(10),
        options: vec![
            MobilityOption::Unknown {
                kind: 250,
                data: vec![0; 255]
            };
            8
        ],
    });
    // 12 + 8 * 257 = 2068 octets, padded to 2072.
    assert_eq!(
        pbu.encode(MAAR, CMD),
        Err(anchor_signal::EncodeError::MessageTooLong { len: 2072 })
    );
    let empty = MobilityHeader::Pbu(Pbu {
        sequence: 4,
        flags: PbuFlags::P,
        lifetime: Lifetime(10),
        options: vec![MobilityOption::MnLinkLayerId(vec![])],
    });
    assert_eq!(
        empty.encode(MAAR, CMD),
        Err(anchor_signal::EncodeError::OptionTooShort {
            kind: 25,
            len: 2,
            min: 3
        })
    );
}
