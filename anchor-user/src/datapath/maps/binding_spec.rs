//! A binding as the datapath API takes and returns it: with its peer's address, which the maps
//! store as an index into `PEERS` (`peers.rs`).

use std::net::Ipv6Addr;

use anchor_common::{BindingKind, BindingValue};

/// What the program does for a prefix, and with which peer router.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BindingSpec {
    pub kind: BindingKind,
    /// The serving router (`Redirect`) or the home router (`Visiting`).
    pub peer: Ipv6Addr,
    /// Tunnel the MN's uplink traffic back to `peer` (only meaningful for `Visiting`).
    pub reverse_tunnel: bool,
    /// Index of the binding's statistics.
    pub slot: u32,
}

impl BindingSpec {
    /// This router anchors the prefix; its mobile node is attached at `serving`.
    pub fn redirect(serving: Ipv6Addr, slot: u32) -> Self {
        Self {
            kind: BindingKind::Redirect,
            peer: serving,
            reverse_tunnel: false,
            slot,
        }
    }

    /// The mobile node holding the prefix is attached here; the prefix is anchored at `home`.
    pub fn visiting(home: Ipv6Addr, reverse_tunnel: bool, slot: u32) -> Self {
        Self {
            kind: BindingKind::Visiting,
            peer: home,
            reverse_tunnel,
            slot,
        }
    }

    /// The map value, with the peer at `peer_index`.
    pub(super) fn value(&self, peer_index: u16) -> BindingValue {
        match self.kind {
            BindingKind::Redirect => BindingValue::redirect(peer_index, self.slot),
            BindingKind::Visiting => {
                BindingValue::visiting(peer_index, self.reverse_tunnel, self.slot)
            }
        }
    }

    /// The binding a map value describes, its peer being `peer`; `Err` with the reason when the
    /// value's kind is unknown.
    pub(super) fn from_value(value: BindingValue, peer: Ipv6Addr) -> Result<Self, String> {
        let kind = BindingKind::from_u8(value.kind)
            .ok_or_else(|| format!("unknown kind {}", value.kind))?;
        Ok(Self {
            kind,
            peer,
            reverse_tunnel: value.reverse_tunnel(),
            slot: value.stats_slot,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PEER: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 0xff, 0, 0, 0, 0, 2);

    #[test]
    fn values_round_trip() {
        for spec in [
            BindingSpec::redirect(PEER, 3),
            BindingSpec::visiting(PEER, true, 4),
            BindingSpec::visiting(PEER, false, 5),
        ] {
            let value = spec.value(7);
            assert_eq!(value.peer, 7);
            assert_eq!(BindingSpec::from_value(value, PEER), Ok(spec));
        }
    }

    #[test]
    fn an_unknown_kind_is_named() {
        let mut value = BindingValue::redirect(0, 0);
        value.kind = 9;
        assert_eq!(
            BindingSpec::from_value(value, PEER),
            Err("unknown kind 9".to_owned())
        );
    }
}
