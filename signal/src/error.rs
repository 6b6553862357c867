//! What can go wrong turning bytes into a [`MobilityHeader`](crate::MobilityHeader) and back.
//!
//! Offsets are in octets from the first octet of the Mobility Header (its Payload Proto field).

use thiserror::Error;

/// A Mobility Header that [`MobilityHeader::decode`](crate::MobilityHeader::decode) refuses.
///
/// RFC 6275 section 9.2 has the receiver discard every one of these; unknown mobility options are
/// not errors (they are skipped, section 6.2.1) and unknown MH types are reported as
/// [`DecodeError::UnsupportedMhType`] so that the caller can answer with a Binding Error.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum DecodeError {
    #[error("mobility header truncated: {len} octets, the fixed header alone takes 8")]
    Truncated { len: usize },

    #[error(
        "mobility header length mismatch: Header Len {header_len} means {declared} octets, \
         the packet has {actual}"
    )]
    LengthMismatch {
        header_len: u8,
        declared: usize,
        actual: usize,
    },

    #[error("mobility header checksum {found:#06x} is wrong: the message sums to {expected:#06x}")]
    BadChecksum { found: u16, expected: u16 },

    #[error("mobility header Payload Proto is {found}, it must be 59 (no next header)")]
    PayloadProto { found: u8 },

    #[error("mobility header type {mh_type} is not supported (only 5 and 6: PBU and PBA)")]
    UnsupportedMhType { mh_type: u8 },

    #[error(
        "mobility header type {mh_type} needs Header Len >= {min_header_len}, it is {header_len}"
    )]
    MessageTooShort {
        mh_type: u8,
        header_len: u8,
        min_header_len: u8,
    },

    #[error("mobility option at offset {offset} is cut off by the end of the mobility header")]
    OptionTruncated { offset: usize },

    #[error(
        "mobility option type {kind} at offset {offset} has length {found}, it must be {expected}"
    )]
    OptionLength {
        kind: u8,
        offset: usize,
        expected: u8,
        found: u8,
    },

    #[error(
        "mobility option type {kind} at offset {offset} has length {found}, \
         it must be at least {min}"
    )]
    OptionTooShort {
        kind: u8,
        offset: usize,
        min: u8,
        found: u8,
    },

    #[error(
        "mobility option type {kind} at offset {offset} has prefix length {prefix_len} (> 128)"
    )]
    PrefixLength {
        kind: u8,
        offset: usize,
        prefix_len: u8,
    },

    #[error("mobile node identifier at offset {offset} is an NAI that is not UTF-8")]
    NaiNotUtf8 { offset: usize },
}

/// A message that [`MobilityHeader::encode`](crate::MobilityHeader::encode) cannot put on the wire.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum EncodeError {
    #[error("mobility option type {kind} would carry {len} octets of data, at most 255 fit")]
    OptionTooLong { kind: u8, len: usize },

    #[error(
        "mobility option type {kind} would carry {len} octets of data, it needs at least {min}"
    )]
    OptionTooShort { kind: u8, len: usize, min: usize },

    #[error("mobility header would be {len} octets long, at most 2048 fit (Header Len is 8 bits)")]
    MessageTooLong { len: usize },
}
