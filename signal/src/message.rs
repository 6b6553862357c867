//! The Mobility Header (RFC 6275 section 6.1.1) carrying a (Proxy) Binding Update or a (Proxy)
//! Binding Acknowledgement, on the wire:
//!
//! ```text
//!  0: Payload Proto (59) | Header Len ((length / 8) - 1) | MH Type | Reserved
//!  4: Checksum
//!  6: PBU: Sequence # (16) | Flags (16) | Lifetime (16)
//!     PBA: Status (8) | Flags (8) | Sequence # (16) | Lifetime (16)
//! 12: mobility options, each at its alignment, padded to a multiple of 8 octets
//! ```

use std::net::Ipv6Addr;

use crate::checksum;
use crate::error::{DecodeError, EncodeError};
use crate::flags::{PbaFlags, PbuFlags};
use crate::option::{self, Alignment, MobilityOption, RawOptions};
use crate::values::Lifetime;

/// Payload Proto of every Mobility Header: IPPROTO_NONE.
pub const PAYLOAD_PROTO_NONE: u8 = 59;
/// MH Type of the Binding Update.
pub const MH_TYPE_BU: u8 = 5;
/// MH Type of the Binding Acknowledgement.
pub const MH_TYPE_BA: u8 = 6;
/// Where the options start in both messages.
const OPTIONS_OFFSET: usize = 12;
/// Header Len is 8 bits of 8-octet units beyond the first.
const MAX_LEN: usize = 256 * 8;

/// A Mobility Header as this crate reads and writes it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum MobilityHeader {
    Pbu(Pbu),
    Pba(Pba),
}

/// A Binding Update (MH type 5); a Proxy Binding Update when [`PbuFlags::P`] is set.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Pbu {
    pub sequence: u16,
    pub flags: PbuFlags,
    pub lifetime: Lifetime,
    /// In wire order, without padding.
    pub options: Vec<MobilityOption>,
}

/// A Binding Acknowledgement (MH type 6); a Proxy Binding Acknowledgement when [`PbaFlags::P`]
/// is set.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Pba {
    pub status: Status,
    pub flags: PbaFlags,
    /// The sequence number of the update this acknowledges.
    pub sequence: u16,
    pub lifetime: Lifetime,
    /// In wire order, without padding.
    pub options: Vec<MobilityOption>,
}

/// Binding Acknowledgement status (IANA "Status Codes"): below 128 accepted, from 128 rejected.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Status(pub u8);

impl Status {
    pub const ACCEPTED: Self = Self(0);
    // RFC 6275 section 6.1.8.
    pub const REASON_UNSPECIFIED: Self = Self(128);
    pub const ADMINISTRATIVELY_PROHIBITED: Self = Self(129);
    pub const INSUFFICIENT_RESOURCES: Self = Self(130);
    pub const SEQUENCE_OUT_OF_WINDOW: Self = Self(135);
    // RFC 5213 section 8.9.
    pub const PROXY_REG_NOT_ENABLED: Self = Self(152);
    pub const NOT_LMA_FOR_THIS_MOBILE_NODE: Self = Self(153);
    pub const MAG_NOT_AUTHORIZED_FOR_PROXY_REG: Self = Self(154);
    pub const NOT_AUTHORIZED_FOR_HOME_NETWORK_PREFIX: Self = Self(155);
    pub const TIMESTAMP_MISMATCH: Self = Self(156);
    pub const TIMESTAMP_LOWER_THAN_PREV_ACCEPTED: Self = Self(157);
    pub const MISSING_HOME_NETWORK_PREFIX_OPTION: Self = Self(158);
    pub const BCE_PBU_PREFIX_SET_DO_NOT_MATCH: Self = Self(159);
    pub const MISSING_MN_IDENTIFIER_OPTION: Self = Self(160);
    pub const MISSING_HANDOFF_INDICATOR_OPTION: Self = Self(161);
    pub const MISSING_ACCESS_TECH_TYPE_OPTION: Self = Self(162);

    pub fn is_accepted(self) -> bool {
        self.0 < 128
    }
}

impl MobilityHeader {
    /// The MH Type octet.
    pub fn mh_type(&self) -> u8 {
        match self {
            MobilityHeader::Pbu(_) => MH_TYPE_BU,
            MobilityHeader::Pba(_) => MH_TYPE_BA,
        }
    }

    pub fn options(&self) -> &[MobilityOption] {
        match self {
            MobilityHeader::Pbu(m) => &m.options,
            MobilityHeader::Pba(m) => &m.options,
        }
    }

    /// The Mobility Header as it goes after the IPv6 header (Next Header 135) of a packet from
    /// `src` to `dst`: options at their alignments, padded to 8 octets, checksum filled in.
    /// Pad options in [`options`](Self::options) are written as given.
    pub fn encode(&self, src: Ipv6Addr, dst: Ipv6Addr) -> Result<Vec<u8>, EncodeError> {
        let mut out = Vec::with_capacity(64);
        // Header Len and the checksum are filled in at the end.
        out.extend([PAYLOAD_PROTO_NONE, 0, self.mh_type(), 0, 0, 0]);
        match self {
            MobilityHeader::Pbu(m) => {
                out.extend(m.sequence.to_be_bytes());
                out.extend(m.flags.0.to_be_bytes());
                out.extend(m.lifetime.0.to_be_bytes());
            }
            MobilityHeader::Pba(m) => {
                out.extend([m.status.0, m.flags.0]);
                out.extend(m.sequence.to_be_bytes());
                out.extend(m.lifetime.0.to_be_bytes());
            }
        }
        for opt in self.options() {
            if let Some(a) = opt.alignment() {
                option::pad_to(&mut out, a);
            }
            opt.encode_into(&mut out)?;
        }
        option::pad_to(
            &mut out,
            Alignment {
                multiple: 8,
                offset: 0,
            },
        );
        if out.len() > MAX_LEN {
            return Err(EncodeError::MessageTooLong { len: out.len() });
        }
        out[1] = u8::try_from(out.len() / 8 - 1)
            .expect("the length is a multiple of 8 in 8..=2048, so Header Len fits");
        let sum = checksum::compute(src, dst, &out);
        out[4..6].copy_from_slice(&sum.to_be_bytes());
        Ok(out)
    }

    /// The message in `mh`, the whole payload after the IPv6 header and any extension headers of
    /// a packet from `src` to `dst` (the IPv6 header's addresses: PMIPv6 uses no Home Address
    /// option or routing header that would stand in for them in the pseudo-header), after
    /// checking its length, checksum, Payload Proto and options. Unknown options are kept as
    /// [`MobilityOption::Unknown`]; padding is dropped.
    pub fn decode(mh: &[u8], src: Ipv6Addr, dst: Ipv6Addr) -> Result<Self, DecodeError> {
        let Some(&[proto, header_len, mh_type, _reserved, c0, c1]) = mh.first_chunk::<6>() else {
            return Err(DecodeError::Truncated { len: mh.len() });
        };
        if mh.len() < 8 {
            return Err(DecodeError::Truncated { len: mh.len() });
        }
        let declared = (usize::from(header_len) + 1) * 8;
        if mh.len() != declared {
            return Err(DecodeError::LengthMismatch {
                header_len,
                declared,
                actual: mh.len(),
            });
        }
        if checksum::sum(src, dst, mh) != 0xffff {
            let mut zeroed = mh.to_vec();
            zeroed[4..6].fill(0);
            return Err(DecodeError::BadChecksum {
                found: u16::from_be_bytes([c0, c1]),
                expected: checksum::compute(src, dst, &zeroed),
            });
        }
        if proto != PAYLOAD_PROTO_NONE {
            return Err(DecodeError::PayloadProto { found: proto });
        }
        if mh_type != MH_TYPE_BU && mh_type != MH_TYPE_BA {
            return Err(DecodeError::UnsupportedMhType { mh_type });
        }
        // Both messages need 12 octets: Header Len 1 at least.
        let Some(&[_, _, _, _, _, _, o6, o7, o8, o9, o10, o11]) = mh.first_chunk::<12>() else {
            return Err(DecodeError::MessageTooShort {
                mh_type,
                header_len,
                min_header_len: 1,
            });
        };
        let options = RawOptions::new(mh, OPTIONS_OFFSET)
            .filter(|item| !item.as_ref().is_ok_and(|(_, o)| o.is_padding()))
            .map(|item| item.map(|(_, o)| o))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(if mh_type == MH_TYPE_BU {
            MobilityHeader::Pbu(Pbu {
                sequence: u16::from_be_bytes([o6, o7]),
                flags: PbuFlags(u16::from_be_bytes([o8, o9])),
                lifetime: Lifetime(u16::from_be_bytes([o10, o11])),
                options,
            })
        } else {
            MobilityHeader::Pba(Pba {
                status: Status(o6),
                flags: PbaFlags(o7),
                sequence: u16::from_be_bytes([o8, o9]),
                lifetime: Lifetime(u16::from_be_bytes([o10, o11])),
                options,
            })
        })
    }
}
