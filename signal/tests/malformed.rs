//! Every way a Mobility Header can be wrong gives its own error with the facts, never a panic.
//! Inputs are built here octet by octet (with the checksum fixed up where the test is about
//! something else), not by the encoder.

mod common;

use anchor_signal::checksum;
use anchor_signal::{DecodeError, MobilityHeader, MobilityOption};
use common::{CMD, MAAR};

/// A PBU (Sequence 1, flags P, Lifetime 1) or a PBA of MH type `mh_type` with `options`, padded
/// to 8 octets with PadN/Pad1, Header Len and checksum set.
fn message(mh_type: u8, options: &[u8]) -> Vec<u8> {
    let mut mh = vec![59, 0, mh_type, 0, 0, 0, 0, 1, 0x02, 0, 0, 1];
    mh.extend_from_slice(options);
    match (8 - mh.len() % 8) % 8 {
        0 => {}
        1 => mh.push(0),
        n => {
            mh.extend([1, u8::try_from(n - 2).unwrap()]);
            mh.resize(mh.len() + n - 2, 0);
        }
    }
    mh[1] = u8::try_from(mh.len() / 8 - 1).unwrap();
    fix_checksum(&mut mh);
    mh
}

fn fix_checksum(mh: &mut [u8]) {
    mh[4..6].fill(0);
    let sum = checksum::compute(MAAR, CMD, mh);
    mh[4..6].copy_from_slice(&sum.to_be_bytes());
}

fn decode(mh: &[u8]) -> Result<MobilityHeader, DecodeError> {
    MobilityHeader::decode(mh, MAAR, CMD)
}

#[test]
fn shorter_than_the_fixed_header_is_truncated() {
    for len in 0..8 {
        assert_eq!(
            decode(&[59, 0, 5, 0, 0, 0, 0, 0][..len]),
            Err(DecodeError::Truncated { len })
        );
    }
}

#[test]
fn a_length_other_than_header_len_says_is_a_mismatch() {
    let good = message(5, &[]);
    assert_eq!(good.len(), 16);
    // One octet short, one long (an odd length), a whole unit long.
    for actual in [15, 17, 24] {
        let mut mh = good.clone();
        mh.resize(actual, 0);
        assert_eq!(
            decode(&mh),
            Err(DecodeError::LengthMismatch {
                header_len: 1,
                declared: 16,
                actual
            })
        );
    }
    let mut mh = good;
    mh[1] = 255;
    assert_eq!(
        decode(&mh),
        Err(DecodeError::LengthMismatch {
            header_len: 255,
            declared: 2048,
            actual: 16
        })
    );
}

#[test]
fn a_wrong_checksum_is_refused_with_both_values() {
    let good = message(5, &[]);
    let right = u16::from_be_bytes([good[4], good[5]]);
    let mut mh = good.clone();
    mh[7] ^= 0x01;
    assert_eq!(
        decode(&mh),
        Err(DecodeError::BadChecksum {
            found: right,
            expected: right.wrapping_add(1),
        })
    );
    // The pseudo-header is covered: the same octets from another source do not verify.
    assert!(matches!(
        MobilityHeader::decode(&good, common::PMAAR, CMD),
        Err(DecodeError::BadChecksum { found, .. }) if found == right
    ));
    let mut zero = good;
    zero[4..6].fill(0);
    assert_eq!(
        decode(&zero),
        Err(DecodeError::BadChecksum {
            found: 0,
            expected: right
        })
    );
}

#[test]
fn payload_proto_other_than_59_is_refused() {
    let mut mh = message(5, &[]);
    mh[0] = 6;
    fix_checksum(&mut mh);
    assert_eq!(decode(&mh), Err(DecodeError::PayloadProto { found: 6 }));
}

#[test]
fn other_mh_types_are_unsupported() {
    // 0 Binding Refresh Request, 7 Binding Error, 255 unassigned.
    for mh_type in [0, 7, 255] {
        assert_eq!(
            decode(&message(mh_type, &[])),
            Err(DecodeError::UnsupportedMhType { mh_type })
        );
    }
}

#[test]
fn a_pbu_or_pba_in_eight_octets_is_too_short() {
    for mh_type in [5, 6] {
        let mut mh = vec![59, 0, mh_type, 0, 0, 0, 0, 0];
        fix_checksum(&mut mh);
        assert_eq!(
            decode(&mh),
            Err(DecodeError::MessageTooShort {
                mh_type,
                header_len: 0,
                min_header_len: 1
            })
        );
    }
}

#[test]
fn an_option_running_past_the_end_is_truncated() {
    // HNP says 18 octets; the header ends 4 octets later (no final padding: exactly 16 octets).
    let mut mh = vec![59, 1, 5, 0, 0, 0, 0, 1, 0x02, 0, 0, 1, 22, 18, 0, 64];
    fix_checksum(&mut mh);
    assert_eq!(
        decode(&mh),
        Err(DecodeError::OptionTruncated { offset: 12 })
    );
    // A Type octet alone in the last octet (not Pad1).
    let mut mh = vec![59, 1, 5, 0, 0, 0, 0, 1, 0x02, 0, 0, 1, 0, 0, 0, 23];
    fix_checksum(&mut mh);
    assert_eq!(
        decode(&mh),
        Err(DecodeError::OptionTruncated { offset: 15 })
    );
}

#[test]
fn fixed_size_options_with_another_length_are_refused() {
    let cases: &[(u8, u8, u8)] = &[
        // (type, wrong length, right length)
        (22, 17, 18),
        (22, 19, 18),
        (23, 3, 2),
        (24, 1, 2),
        (26, 15, 16),
        (27, 7, 8),
        (65, 16, 18),
        (66, 20, 18),
        (67, 33, 34),
        (68, 17, 16),
        (69, 8, 16),
    ];
    for &(kind, len, expected) in cases {
        let mut option = vec![kind, len];
        option.resize(2 + usize::from(len), 0);
        assert_eq!(
            decode(&message(5, &option)),
            Err(DecodeError::OptionLength {
                kind,
                offset: 12,
                expected,
                found: len
            }),
            "type {kind} length {len}"
        );
    }
    // An EUI-48 MN-ID of 5 octets: length 6, 7 expected.
    assert_eq!(
        decode(&message(5, &[8, 6, 5, 1, 2, 3, 4, 5])),
        Err(DecodeError::OptionLength {
            kind: 8,
            offset: 12,
            expected: 7,
            found: 6
        })
    );
}

#[test]
fn variable_options_below_their_minimum_are_refused() {
    for (option, min) in [
        // MN-ID with a subtype and no identifier; link-layer ids with only the reserved field.
        (vec![8, 1, 1], 2),
        (vec![25, 2, 0, 0], 3),
        (vec![70, 0], 3),
    ] {
        let (kind, found) = (option[0], option[1]);
        assert_eq!(
            decode(&message(6, &option)),
            Err(DecodeError::OptionTooShort {
                kind,
                offset: 12,
                min,
                found
            })
        );
    }
}

#[test]
fn prefix_lengths_above_128_are_refused() {
    for kind in [22, 65, 66] {
        let mut option = vec![kind, 18, 0, 129];
        option.resize(20, 0);
        assert_eq!(
            decode(&message(5, &option)),
            Err(DecodeError::PrefixLength {
                kind,
                offset: 12,
                prefix_len: 129
            })
        );
    }
    let mut previous = vec![67, 34, 0, 200];
    previous.resize(36, 0);
    assert_eq!(
        decode(&message(6, &previous)),
        Err(DecodeError::PrefixLength {
            kind: 67,
            offset: 12,
            prefix_len: 200
        })
    );
}

#[test]
fn an_nai_that_is_not_utf8_is_refused() {
    assert_eq!(
        decode(&message(5, &[8, 3, 1, 0xc3, 0x28])),
        Err(DecodeError::NaiNotUtf8 { offset: 12 })
    );
}

#[test]
fn unknown_options_are_skipped_and_kept() {
    // An unknown option between two known ones, and a PadN with non-zero contents (ignored).
    let mh = message(5, &[23, 2, 0, 5, 200, 3, 1, 2, 3, 1, 1, 0xff, 24, 2, 0, 4]);
    let decoded = decode(&mh).unwrap();
    assert_eq!(
        decoded.options(),
        [
            MobilityOption::HandoffIndicator(anchor_signal::HandoffIndicator::NOT_CHANGED),
            MobilityOption::Unknown {
                kind: 200,
                data: vec![1, 2, 3]
            },
            MobilityOption::AccessTechnology(anchor_signal::AccessTechnology::IEEE_802_11),
        ]
    );
    // Misaligned known options are read all the same (the receiver does not check alignment).
    let mut hnp = vec![0, 22, 18, 0, 64];
    hnp.resize(23, 0);
    assert!(matches!(
        decode(&message(5, &hnp)).unwrap().options(),
        [MobilityOption::HomeNetworkPrefix(_)]
    ));
}

/// Every prefix of a valid message and every one-octet change to it: the decoder returns, and
/// whatever it accepts survives encoding and decoding again unchanged.
#[test]
fn cuts_and_one_octet_changes_never_panic() {
    for original in [
        common::pbu_with_every_option(),
        common::pba_with_every_option(),
    ] {
        let wire = original.encode(MAAR, CMD).unwrap();
        for len in 0..wire.len() {
            assert!(decode(&wire[..len]).is_err(), "a {len}-octet cut decoded");
        }
        let mut accepted = 0;
        for i in 0..wire.len() {
            for value in [
                0x00,
                0x01,
                0x02,
                0x7f,
                0x80,
                0xff,
                wire[i] ^ 0x01,
                wire[i] ^ 0x40,
            ] {
                let mut mh = wire.clone();
                mh[i] = value;
                if !(4..6).contains(&i) {
                    fix_checksum(&mut mh);
                }
                if let Ok(m) = decode(&mh) {
                    accepted += 1;
                    let again = m.encode(MAAR, CMD).expect("a decoded message encodes");
                    assert_eq!(decode(&again).as_ref(), Ok(&m), "octet {i} = {value:#04x}");
                }
            }
        }
        // Changes in data fields (addresses, sequence numbers) must still decode.
        assert!(accepted > wire.len(), "only {accepted} variants decoded");
    }
}
