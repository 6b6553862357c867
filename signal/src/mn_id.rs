//! The Mobile Node Identifier of the MN-ID option (type 8, RFC 4283), by subtype (IANA "Mobile
//! Node Identifier Option Subtypes": 1 NAI, 5 EUI-48 address, 6 EUI-64 address).

use std::fmt;

use crate::escape::Untrusted;

/// Subtype of a Network Access Identifier (RFC 4283, RFC 7542).
pub const SUBTYPE_NAI: u8 = 1;
/// Subtype of an IEEE EUI-48 (MAC-48) address.
pub const SUBTYPE_EUI48: u8 = 5;
/// Subtype of an IEEE EUI-64 address.
pub const SUBTYPE_EUI64: u8 = 6;

/// Who a Proxy Binding Update is about. Comparable and hashable: it keys per-node state.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum MnId {
    /// A Network Access Identifier such as `user@example.net`.
    Nai(String),
    /// An EUI-48 address: by default a MAAR names a node by its MAC address.
    Eui48([u8; 6]),
    Eui64([u8; 8]),
    /// Any other subtype, kept as it came.
    Other {
        subtype: u8,
        id: Vec<u8>,
    },
}

impl MnId {
    /// The subtype octet on the wire.
    pub fn subtype(&self) -> u8 {
        match self {
            MnId::Nai(_) => SUBTYPE_NAI,
            MnId::Eui48(_) => SUBTYPE_EUI48,
            MnId::Eui64(_) => SUBTYPE_EUI64,
            MnId::Other { subtype, .. } => *subtype,
        }
    }

    /// The identifier octets after the subtype.
    pub fn id_bytes(&self) -> &[u8] {
        match self {
            MnId::Nai(nai) => nai.as_bytes(),
            MnId::Eui48(mac) => mac,
            MnId::Eui64(eui) => eui,
            MnId::Other { id, .. } => id,
        }
    }

    /// The node's MAC address, when the identifier is one (an EUI-48).
    pub fn mac(&self) -> Option<[u8; 6]> {
        match self {
            MnId::Eui48(mac) => Some(*mac),
            _ => None,
        }
    }
}

/// `user@example.net` (escaped: see [`Untrusted`]), `02:00:00:00:00:01`, `02:00:00:ff:fe:00:00:01`, or `subtype 3: 0a0b`.
impl fmt::Display for MnId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let colons = |f: &mut fmt::Formatter<'_>, bytes: &[u8]| {
            for (i, b) in bytes.iter().enumerate() {
                if i > 0 {
                    f.write_str(":")?;
                }
                write!(f, "{b:02x}")?;
            }
            Ok(())
        };
        match self {
            // Chosen by the sender: escaped, so that it cannot break or forge a log line.
            MnId::Nai(nai) => write!(f, "{}", Untrusted(nai)),
            MnId::Eui48(mac) => colons(f, mac),
            MnId::Eui64(eui) => colons(f, eui),
            MnId::Other { subtype, id } => {
                write!(f, "subtype {subtype}: ")?;
                id.iter().try_for_each(|b| write!(f, "{b:02x}"))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn displays_each_subtype_readably() {
        assert_eq!(
            MnId::Nai("mn@example.net".into()).to_string(),
            "mn@example.net"
        );
        assert_eq!(
            MnId::Nai("mn\n2026-01-01T00:00:00Z  INFO anchor: forged\0".into()).to_string(),
            r"mn\n2026-01-01T00:00:00Z  INFO anchor: forged\0"
        );
        assert_eq!(
            MnId::Eui48([2, 0, 0, 0, 0, 0xa1]).to_string(),
            "02:00:00:00:00:a1"
        );
        assert_eq!(
            MnId::Other {
                subtype: 3,
                id: vec![0x0a, 0x0b]
            }
            .to_string(),
            "subtype 3: 0a0b"
        );
    }
}
