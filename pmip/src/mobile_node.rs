//! A mobile node as both roles keep it: its identity (the MN-ID option as stored) and the mobility
//! policy of its prefixes.

use anchor_signal::MnId;
use serde::{Deserialize, Serialize};

/// A mobile node's identity as stored: the MN-ID option's subtype and identifier octets.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct MnKey {
    pub subtype: u8,
    pub id: Vec<u8>,
}

impl From<&MnId> for MnKey {
    fn from(mn: &MnId) -> Self {
        Self {
            subtype: mn.subtype(),
            id: mn.id_bytes().to_vec(),
        }
    }
}

impl MnKey {
    /// The MN-ID option value, typed as the codec types it.
    pub fn to_mn_id(&self) -> MnId {
        use anchor_signal::mn_id::{SUBTYPE_EUI48, SUBTYPE_EUI64, SUBTYPE_NAI};
        match self.subtype {
            SUBTYPE_NAI => match String::from_utf8(self.id.clone()) {
                Ok(nai) => MnId::Nai(nai),
                Err(_) => self.other(),
            },
            SUBTYPE_EUI48 => {
                <[u8; 6]>::try_from(self.id.as_slice()).map_or_else(|_| self.other(), MnId::Eui48)
            }
            SUBTYPE_EUI64 => {
                <[u8; 8]>::try_from(self.id.as_slice()).map_or_else(|_| self.other(), MnId::Eui64)
            }
            _ => self.other(),
        }
    }

    fn other(&self) -> MnId {
        MnId::Other {
            subtype: self.subtype,
            id: self.id.clone(),
        }
    }
}

/// The mobility policy of a prefix (RFC 8653 address types, RFC 8818 section 4): a MAAR's pool
/// policy, and what the CMD records for each prefix from its `[[maar]]` lists.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Policy {
    /// Released when the node moves (RFC 8818 section 4.1).
    Nonpersistent,
    /// Redirected while the node still uses it (section 4.2).
    #[default]
    SessionLasting,
    /// Anchor relocation (section 4.3): the prefix moves with its node, whose new serving MAAR
    /// becomes its anchor; the old anchor redirects to it only until routing has converged.
    Fixed,
}

/// A policy's name, as the configuration spells it.
pub type PolicyName = &'static str;

impl Policy {
    pub fn name(self) -> PolicyName {
        match self {
            Self::Nonpersistent => "nonpersistent",
            Self::SessionLasting => "session-lasting",
            Self::Fixed => "fixed",
        }
    }

    pub const ALL: [Policy; 3] = [Policy::Nonpersistent, Policy::SessionLasting, Policy::Fixed];
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_convert_back_to_the_mn_id() {
        for mn in [
            MnId::Eui48([2, 0, 0, 0, 0, 1]),
            MnId::Nai("mn@example.net".into()),
            MnId::Eui64([2, 0, 0, 0xff, 0xfe, 0, 0, 1]),
            MnId::Other {
                subtype: 9,
                id: vec![1, 2],
            },
        ] {
            assert_eq!(MnKey::from(&mn).to_mn_id(), mn);
        }
    }
}
