//! A binding as the table holds it ([`TableBinding`]) and what this router does for its prefix
//! ([`TableBindingKind`]). Not to be confused with the map's view of a binding
//! ([`BindingSpec`], whose kind is `anchor_common::BindingKind`) nor with what the MAAR asks for
//! (`anchor_maar::MaarBindingKind`).

use std::net::Ipv6Addr;

use ipnet::Ipv6Net;

use crate::datapath::BindingSpec;

/// What this router does for a prefix.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TableBindingKind {
    /// This router anchors the prefix; its mobile node is now attached at `serving`.
    Redirect { serving: Ipv6Addr },
    /// The mobile node holding the prefix is attached here; the prefix is anchored at `home`.
    /// With `dev`, the daemon routes the prefix to that access interface; with `dev` and `mac`
    /// (the node's MAC address) and a /64, the program sends the decapsulated packets straight
    /// to that MAC (`VISITING_L2`), without the FIB or Neighbour Discovery.
    Visiting {
        home: Ipv6Addr,
        reverse_tunnel: bool,
        dev: Option<String>,
        mac: Option<[u8; 6]>,
    },
}

impl TableBindingKind {
    /// The other router of the tunnel.
    pub fn peer(&self) -> Ipv6Addr {
        match self {
            Self::Redirect { serving } => *serving,
            Self::Visiting { home, .. } => *home,
        }
    }

    pub(super) fn value(&self, slot: u32) -> BindingSpec {
        match self {
            Self::Redirect { serving } => BindingSpec::redirect(*serving, slot),
            Self::Visiting {
                home,
                reverse_tunnel,
                ..
            } => BindingSpec::visiting(*home, *reverse_tunnel, slot),
        }
    }

    pub(super) fn dev(&self) -> Option<&str> {
        match self {
            Self::Visiting { dev: Some(dev), .. } => Some(dev),
            _ => None,
        }
    }

    /// The node's MAC of a visiting binding that routes to an access interface.
    pub(super) fn mac(&self) -> Option<[u8; 6]> {
        match self {
            Self::Visiting {
                dev: Some(_),
                mac: Some(mac),
                ..
            } => Some(*mac),
            _ => None,
        }
    }
}

/// A binding in the table.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TableBinding {
    /// Normalized: host bits cleared, length <= 64.
    pub prefix: Ipv6Net,
    pub kind: TableBindingKind,
    /// Index of the binding's statistics.
    pub slot: u32,
}
