//! Mobility options (RFC 6275 section 6.2): Type (8), Length (8: octets after the Length field),
//! data. The ones of RFC 4283, RFC 5213 and RFC 8885 are typed; any other is kept as
//! [`MobilityOption::Unknown`], because a receiver skips options it does not understand (RFC 6275
//! section 6.2.1).

use std::net::Ipv6Addr;

use ipnet::Ipv6Net;

use crate::error::{DecodeError, EncodeError};
use crate::mn_id::{MnId, SUBTYPE_EUI48, SUBTYPE_EUI64, SUBTYPE_NAI};
use crate::values::{AccessTechnology, HandoffIndicator, Timestamp};

/// Option type numbers (IANA "Mobility Options").
pub mod kind {
    pub const PAD1: u8 = 0;
    pub const PADN: u8 = 1;
    /// RFC 4283.
    pub const MN_ID: u8 = 8;
    /// RFC 6275 section 6.2.5.
    pub const ALTERNATE_CARE_OF_ADDRESS: u8 = 3;
    /// RFC 5213 section 8.3.
    pub const HOME_NETWORK_PREFIX: u8 = 22;
    /// RFC 5213 section 8.4.
    pub const HANDOFF_INDICATOR: u8 = 23;
    /// RFC 5213 section 8.5.
    pub const ACCESS_TECHNOLOGY: u8 = 24;
    /// RFC 5213 section 8.6.
    pub const MN_LINK_LAYER_ID: u8 = 25;
    /// RFC 5213 section 8.7.
    pub const LINK_LOCAL_ADDRESS: u8 = 26;
    /// RFC 5213 section 8.8.
    pub const TIMESTAMP: u8 = 27;
    /// RFC 8885 section 4.3.
    pub const ANCHORED_PREFIX: u8 = 65;
    /// RFC 8885 section 4.4.
    pub const LOCAL_PREFIX: u8 = 66;
    /// RFC 8885 section 4.5.
    pub const PREVIOUS_MAAR: u8 = 67;
    /// RFC 8885 section 4.6.
    pub const SERVING_MAAR: u8 = 68;
    /// RFC 8885 section 4.7.
    pub const DLIF_LINK_LOCAL_ADDRESS: u8 = 69;
    /// RFC 8885 section 4.8.
    pub const DLIF_LINK_LAYER_ADDRESS: u8 = 70;
}

/// One mobility option.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum MobilityOption {
    /// One octet of padding. The encoder pads by itself; decoding drops padding.
    Pad1,
    /// `len` + 2 octets of padding (`len` is the Length field).
    PadN { len: u8 },
    /// Alternate Care-of Address (3): where the sender of a Binding Update wants its traffic
    /// tunnelled, when not to the update's source address.
    AlternateCareOfAddress(Ipv6Addr),
    /// Mobile Node Identifier (8).
    MnId(MnId),
    /// Home Network Prefix (22): a prefix the node may use.
    HomeNetworkPrefix(Ipv6Net),
    /// Handoff Indicator (23).
    HandoffIndicator(HandoffIndicator),
    /// Access Technology Type (24).
    AccessTechnology(AccessTechnology),
    /// Mobile Node Link-layer Identifier (25): at least one octet.
    MnLinkLayerId(Vec<u8>),
    /// Link-local Address (26) of the access router on the node's link.
    LinkLocalAddress(Ipv6Addr),
    /// Timestamp (27).
    Timestamp(Timestamp),
    /// Anchored Prefix (65): a prefix anchored at the sending MAAR.
    AnchoredPrefix(Ipv6Net),
    /// Local Prefix (66): the prefix the serving MAAR delegated.
    LocalPrefix(Ipv6Net),
    /// Previous MAAR (67): `maar` still anchors `prefix` of this node.
    PreviousMaar { maar: Ipv6Addr, prefix: Ipv6Net },
    /// Serving MAAR (68): the node is now served by this MAAR.
    ServingMaar(Ipv6Addr),
    /// DLIF Link-Local Address (69).
    DlifLinkLocalAddress(Ipv6Addr),
    /// DLIF Link-Layer Address (70): at least one octet.
    DlifLinkLayerAddress(Vec<u8>),
    /// An option this crate does not know, kept as it came. The encoder writes it as given, with
    /// no alignment; `kind` should be none of the numbers above.
    Unknown { kind: u8, data: Vec<u8> },
}

/// An alignment requirement `xn+y` (RFC 6275 section 6.2): the option's Type octet must sit
/// `offset` octets past a multiple of `multiple`, counted from the start of the Mobility Header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Alignment {
    pub multiple: usize,
    pub offset: usize,
}

const fn align(multiple: usize, offset: usize) -> Alignment {
    Alignment { multiple, offset }
}

impl MobilityOption {
    /// The option's Type octet.
    pub fn kind(&self) -> u8 {
        use MobilityOption as O;
        match self {
            O::Pad1 => kind::PAD1,
            O::PadN { .. } => kind::PADN,
            O::AlternateCareOfAddress(_) => kind::ALTERNATE_CARE_OF_ADDRESS,
            O::MnId(_) => kind::MN_ID,
            O::HomeNetworkPrefix(_) => kind::HOME_NETWORK_PREFIX,
            O::HandoffIndicator(_) => kind::HANDOFF_INDICATOR,
            O::AccessTechnology(_) => kind::ACCESS_TECHNOLOGY,
            O::MnLinkLayerId(_) => kind::MN_LINK_LAYER_ID,
            O::LinkLocalAddress(_) => kind::LINK_LOCAL_ADDRESS,
            O::Timestamp(_) => kind::TIMESTAMP,
            O::AnchoredPrefix(_) => kind::ANCHORED_PREFIX,
            O::LocalPrefix(_) => kind::LOCAL_PREFIX,
            O::PreviousMaar { .. } => kind::PREVIOUS_MAAR,
            O::ServingMaar(_) => kind::SERVING_MAAR,
            O::DlifLinkLocalAddress(_) => kind::DLIF_LINK_LOCAL_ADDRESS,
            O::DlifLinkLayerAddress(_) => kind::DLIF_LINK_LAYER_ADDRESS,
            O::Unknown { kind, .. } => *kind,
        }
    }

    /// Whether this is Pad1 or PadN.
    pub fn is_padding(&self) -> bool {
        matches!(self, MobilityOption::Pad1 | MobilityOption::PadN { .. })
    }

    /// Where the encoder places the option, `None` for anywhere.
    ///
    /// - 3 (Alternate Care-of Address): 8n+6, RFC 6275 section 6.2.5.
    /// - 8 (MN-ID): none; RFC 4283 states no requirement.
    /// - 22 (HNP): 8n+4, RFC 5213 section 8.3; the prefix lands on 8 octets.
    /// - 23, 24 (Handoff Indicator, ATT): none, RFC 5213 sections 8.4 and 8.5.
    /// - 25 (MN Link-layer Identifier): RFC 5213 section 8.6 asks for the alignment the
    ///   identifier's size needs; 8n+4 puts the identifier on 8 octets, which suits any size.
    /// - 26 (Link-local Address): 8n+6, RFC 5213 section 8.7; the address lands on 8 octets.
    /// - 27 (Timestamp): 8n+2, RFC 5213 section 8.8.
    /// - 65, 66, 67 (Anchored Prefix, Local Prefix, Previous MAAR): 8n+4, the HNP's layout.
    /// - 68, 69 (Serving MAAR, DLIF Link-Local Address): 8n+6, the Link-local Address's layout.
    /// - 70 (DLIF Link-Layer Address): 8n+4, the MN Link-layer Identifier's layout.
    pub fn alignment(&self) -> Option<Alignment> {
        use MobilityOption as O;
        match self {
            O::HomeNetworkPrefix(_)
            | O::AnchoredPrefix(_)
            | O::LocalPrefix(_)
            | O::PreviousMaar { .. }
            | O::MnLinkLayerId(_)
            | O::DlifLinkLayerAddress(_) => Some(align(8, 4)),
            O::AlternateCareOfAddress(_)
            | O::LinkLocalAddress(_)
            | O::ServingMaar(_)
            | O::DlifLinkLocalAddress(_) => Some(align(8, 6)),
            O::Timestamp(_) => Some(align(8, 2)),
            O::Pad1
            | O::PadN { .. }
            | O::MnId(_)
            | O::HandoffIndicator(_)
            | O::AccessTechnology(_)
            | O::Unknown { .. } => None,
        }
    }

    /// Appends the option (Type, Length, data) to `out`.
    pub(crate) fn encode_into(&self, out: &mut Vec<u8>) -> Result<(), EncodeError> {
        use MobilityOption as O;
        let kind = self.kind();
        if let O::Pad1 = self {
            out.push(kind);
            return Ok(());
        }
        let start = out.len();
        out.extend([kind, 0]);
        match self {
            O::Pad1 => {}
            O::PadN { len } => out.resize(out.len() + usize::from(*len), 0),
            O::MnId(id) => {
                let bytes = id.id_bytes();
                if bytes.is_empty() {
                    return Err(EncodeError::OptionTooShort {
                        kind,
                        len: 1,
                        min: 2,
                    });
                }
                out.push(id.subtype());
                out.extend_from_slice(bytes);
            }
            O::HomeNetworkPrefix(p) | O::AnchoredPrefix(p) | O::LocalPrefix(p) => {
                out.extend([0, p.prefix_len()]);
                out.extend(p.addr().octets());
            }
            O::HandoffIndicator(HandoffIndicator(v)) | O::AccessTechnology(AccessTechnology(v)) => {
                out.extend([0, *v]);
            }
            O::MnLinkLayerId(id) | O::DlifLinkLayerAddress(id) => {
                if id.is_empty() {
                    return Err(EncodeError::OptionTooShort {
                        kind,
                        len: 2,
                        min: 3,
                    });
                }
                out.extend([0, 0]);
                out.extend_from_slice(id);
            }
            O::AlternateCareOfAddress(a)
            | O::LinkLocalAddress(a)
            | O::ServingMaar(a)
            | O::DlifLinkLocalAddress(a) => {
                out.extend(a.octets());
            }
            O::Timestamp(Timestamp(t)) => out.extend(t.to_be_bytes()),
            O::PreviousMaar { maar, prefix } => {
                out.extend([0, prefix.prefix_len()]);
                out.extend(maar.octets());
                out.extend(prefix.addr().octets());
            }
            O::Unknown { data, .. } => out.extend_from_slice(data),
        }
        let len = out.len() - start - 2;
        out[start + 1] = u8::try_from(len).map_err(|_| EncodeError::OptionTooLong { kind, len })?;
        Ok(())
    }
}

/// Appends the shortest padding (Pad1 or one PadN) that moves `out` to the alignment `a`.
pub(crate) fn pad_to(out: &mut Vec<u8>, a: Alignment) {
    let gap = (a.offset + a.multiple - out.len() % a.multiple) % a.multiple;
    pad(out, gap);
}

/// Appends `gap` octets of padding: nothing, Pad1, or PadN.
pub(crate) fn pad(out: &mut Vec<u8>, gap: usize) {
    match gap {
        0 => {}
        1 => out.push(kind::PAD1),
        _ => {
            let len = u8::try_from(gap - 2)
                .expect("a gap is less than 8 (one alignment or the final round-up)");
            out.extend([kind::PADN, len]);
            out.resize(out.len() + gap - 2, 0);
        }
    }
}

/// The options of a Mobility Header, padding included, in wire order: each item is the option
/// and the offset of its Type octet from the start of the header. Stops after the first error.
pub struct RawOptions<'a> {
    mh: &'a [u8],
    pos: usize,
    failed: bool,
}

impl<'a> RawOptions<'a> {
    /// The options in `mh[start..]`; `mh` is the whole Mobility Header, so that offsets count
    /// from its first octet.
    pub fn new(mh: &'a [u8], start: usize) -> Self {
        Self {
            mh,
            pos: start,
            failed: false,
        }
    }

    fn next_option(&mut self) -> Result<(usize, MobilityOption), DecodeError> {
        let offset = self.pos;
        let rest = self.mh.get(offset..).unwrap_or_default();
        let (kind, len, data) = match rest {
            [kind::PAD1, ..] => {
                self.pos += 1;
                return Ok((offset, MobilityOption::Pad1));
            }
            [kind, len, tail @ ..] => {
                let data = tail
                    .get(..usize::from(*len))
                    .ok_or(DecodeError::OptionTruncated { offset })?;
                (*kind, *len, data)
            }
            _ => return Err(DecodeError::OptionTruncated { offset }),
        };
        self.pos += 2 + usize::from(len);
        decode_option(kind, data, offset).map(|option| (offset, option))
    }
}

impl Iterator for RawOptions<'_> {
    type Item = Result<(usize, MobilityOption), DecodeError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.failed || self.pos >= self.mh.len() {
            return None;
        }
        let item = self.next_option();
        self.failed = item.is_err();
        Some(item)
    }
}

/// The option of type `kind` whose data (after the Length field) is `data`.
fn decode_option(kind: u8, data: &[u8], offset: usize) -> Result<MobilityOption, DecodeError> {
    use MobilityOption as O;
    let found = u8::try_from(data.len()).expect("the data of an option is at most 255 octets");
    let exact = |expected: u8| DecodeError::OptionLength {
        kind,
        offset,
        expected,
        found,
    };
    let at_least = |min: u8| {
        if found < min {
            Err(DecodeError::OptionTooShort {
                kind,
                offset,
                min,
                found,
            })
        } else {
            Ok(())
        }
    };
    let prefix = |plen: u8, octets: [u8; 16]| {
        Ipv6Net::new(Ipv6Addr::from(octets), plen).map_err(|_| DecodeError::PrefixLength {
            kind,
            offset,
            prefix_len: plen,
        })
    };
    Ok(match kind {
        kind::PADN => O::PadN { len: found },
        kind::MN_ID => {
            at_least(2)?;
            let (subtype, id) = (data[0], &data[1..]);
            match subtype {
                SUBTYPE_NAI => O::MnId(MnId::Nai(
                    String::from_utf8(id.to_vec())
                        .map_err(|_| DecodeError::NaiNotUtf8 { offset })?,
                )),
                SUBTYPE_EUI48 => O::MnId(MnId::Eui48(id.try_into().map_err(|_| exact(7))?)),
                SUBTYPE_EUI64 => O::MnId(MnId::Eui64(id.try_into().map_err(|_| exact(9))?)),
                subtype => O::MnId(MnId::Other {
                    subtype,
                    id: id.to_vec(),
                }),
            }
        }
        kind::HOME_NETWORK_PREFIX | kind::ANCHORED_PREFIX | kind::LOCAL_PREFIX => {
            let d: &[u8; 18] = data.try_into().map_err(|_| exact(18))?;
            let p = prefix(d[1], octets16(d, 2))?;
            match kind {
                kind::HOME_NETWORK_PREFIX => O::HomeNetworkPrefix(p),
                kind::ANCHORED_PREFIX => O::AnchoredPrefix(p),
                _ => O::LocalPrefix(p),
            }
        }
        kind::HANDOFF_INDICATOR | kind::ACCESS_TECHNOLOGY => {
            let [_reserved, v]: [u8; 2] = data.try_into().map_err(|_| exact(2))?;
            if kind == kind::HANDOFF_INDICATOR {
                O::HandoffIndicator(HandoffIndicator(v))
            } else {
                O::AccessTechnology(AccessTechnology(v))
            }
        }
        kind::MN_LINK_LAYER_ID | kind::DLIF_LINK_LAYER_ADDRESS => {
            at_least(3)?;
            let id = data[2..].to_vec();
            if kind == kind::MN_LINK_LAYER_ID {
                O::MnLinkLayerId(id)
            } else {
                O::DlifLinkLayerAddress(id)
            }
        }
        kind::ALTERNATE_CARE_OF_ADDRESS
        | kind::LINK_LOCAL_ADDRESS
        | kind::SERVING_MAAR
        | kind::DLIF_LINK_LOCAL_ADDRESS => {
            let d: [u8; 16] = data.try_into().map_err(|_| exact(16))?;
            let a = Ipv6Addr::from(d);
            match kind {
                kind::ALTERNATE_CARE_OF_ADDRESS => O::AlternateCareOfAddress(a),
                kind::LINK_LOCAL_ADDRESS => O::LinkLocalAddress(a),
                kind::SERVING_MAAR => O::ServingMaar(a),
                _ => O::DlifLinkLocalAddress(a),
            }
        }
        kind::TIMESTAMP => {
            let d: [u8; 8] = data.try_into().map_err(|_| exact(8))?;
            O::Timestamp(Timestamp(u64::from_be_bytes(d)))
        }
        kind::PREVIOUS_MAAR => {
            let d: &[u8; 34] = data.try_into().map_err(|_| exact(34))?;
            O::PreviousMaar {
                maar: Ipv6Addr::from(octets16(d, 2)),
                prefix: prefix(d[1], octets16(d, 18))?,
            }
        }
        kind => O::Unknown {
            kind,
            data: data.to_vec(),
        },
    })
}

/// The 16 octets of `d` from `at`; `at + 16 <= N` at every call.
fn octets16<const N: usize>(d: &[u8; N], at: usize) -> [u8; 16] {
    let mut out = [0; 16];
    out.copy_from_slice(&d[at..at + 16]);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn padding_reaches_each_alignment_with_one_pad_option() {
        for len in 0..16 {
            for offset in 0..8 {
                let mut out = vec![0xee; len];
                pad_to(
                    &mut out,
                    Alignment {
                        multiple: 8,
                        offset,
                    },
                );
                assert_eq!(out.len() % 8, offset, "from {len} to 8n+{offset}");
                assert!(out.len() - len < 8);
                let pads: Vec<_> = RawOptions::new(&out, len).collect();
                assert!(pads.len() <= 1, "{pads:?}");
                assert!(
                    pads.iter()
                        .all(|p| p.as_ref().is_ok_and(|(_, o)| o.is_padding()))
                );
            }
        }
    }

    #[test]
    fn unknown_options_are_kept_and_skipped() {
        let mh = [0xc8, 3, 1, 2, 3, kind::PAD1];
        let options: Vec<_> = RawOptions::new(&mh, 0).collect();
        assert_eq!(
            options,
            vec![
                Ok((
                    0,
                    MobilityOption::Unknown {
                        kind: 0xc8,
                        data: vec![1, 2, 3]
                    }
                )),
                Ok((5, MobilityOption::Pad1)),
            ]
        );
    }

    #[test]
    fn an_option_longer_than_255_octets_is_refused() {
        let mut out = Vec::new();
        let long = MobilityOption::Unknown {
            kind: 200,
            data: vec![0; 256],
        };
        assert_eq!(
            long.encode_into(&mut out),
            Err(EncodeError::OptionTooLong {
                kind: 200,
                len: 256
            })
        );
        let nai = MobilityOption::MnId(MnId::Nai("a".repeat(255)));
        assert_eq!(
            nai.encode_into(&mut out),
            Err(EncodeError::OptionTooLong { kind: 8, len: 256 })
        );
    }
}
