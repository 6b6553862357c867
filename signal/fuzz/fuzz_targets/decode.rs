//! Fuzzes `MobilityHeader::decode`: any input returns (never panics), and whatever decodes
//! survives encoding and decoding again unchanged.
//!
//! Each input is tried twice: as it is, and with its checksum made right, so that the fuzzer
//! gets past the checksum to the message and option parsers.

#![no_main]

use std::net::Ipv6Addr;

use anchor_signal::{EncodeError, MobilityHeader, checksum};
use libfuzzer_sys::fuzz_target;

const SRC: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 0xa, 0, 0, 0, 0, 1);
const DST: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 0xc, 0, 0, 0, 0, 1);

fuzz_target!(|data: &[u8]| {
    check(data);
    if data.len() >= 6 {
        let mut fixed = data.to_vec();
        fixed[4..6].fill(0);
        let sum = checksum::compute(SRC, DST, &fixed);
        fixed[4..6].copy_from_slice(&sum.to_be_bytes());
        check(&fixed);
    }
});

fn check(data: &[u8]) {
    let Ok(message) = MobilityHeader::decode(data, SRC, DST) else {
        return;
    };
    match message.encode(SRC, DST) {
        Ok(again) => assert_eq!(
            MobilityHeader::decode(&again, SRC, DST).as_ref(),
            Ok(&message)
        ),
        // The encoder aligns options that the input may have packed tighter.
        Err(EncodeError::MessageTooLong { .. }) => {}
        Err(e) => panic!("a decoded message does not encode: {e}"),
    }
}
