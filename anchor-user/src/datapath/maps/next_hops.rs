//! The next hops in the maps: the per-peer cache `NEXTHOPS`, which the next-hop resolver
//! fills, and the visiting /64s' L2 next hops `VISITING_L2`.

use anchor_common::{
    BindingKind, NextHop,
    maps::{NEXTHOPS, VISITING_L2},
};
use aya::maps::{Array, Map, MapData, MapError};
use ipnet::Ipv6Net;

use super::{
    access_link::AccessLink,
    keys::{prefix_of, slot_of, visiting_l2_key},
    map_error::{errno, insert_error, map_error},
    program_maps::ProgramMaps,
    tx_ports::TxPorts,
};
use crate::{
    datapath::error::DatapathError, prefix::MAX_PREFIX_LEN, routing::nexthop::NextHopCache,
};

impl ProgramMaps {
    /// The next-hop cache for a resolver ([`NextHopResolver`]): a descriptor of its own on
    /// `NEXTHOPS` and the peers in use, updated as bindings come and go.
    ///
    /// [`NextHopResolver`]: crate::routing::NextHopResolver
    pub fn next_hop_cache(&self) -> Result<NextHopCache, DatapathError> {
        let data = MapData::from_id(self.nexthops_id).map_err(map_error("open", NEXTHOPS))?;
        let map = Array::try_from(Map::Array(data)).map_err(|source| DatapathError::MapType {
            name: NEXTHOPS,
            source,
        })?;
        let ports = TxPorts::open(self.tx_ports.id())?;
        Ok(NextHopCache::new(map, ports, self.peer_set.subscribe()))
    }

    /// Puts the interface with index `ifindex` (in the calling thread's namespace) in
    /// `TX_PORTS`, so that the program redirects to it through its device map.
    pub fn add_tx_port(&mut self, ifindex: u32) -> Result<(), DatapathError> {
        self.tx_ports.add(ifindex)
    }

    /// The interfaces in `TX_PORTS`.
    pub fn tx_ports(&self) -> Result<Vec<u32>, DatapathError> {
        self.tx_ports.ifindexes()
    }

    /// The `NEXTHOPS` entry of the `PEERS` index `index`.
    pub fn next_hop(&self, index: u16) -> Result<NextHop, DatapathError> {
        self.nexthops
            .get(&u32::from(index), 0)
            .map_err(map_error("read", NEXTHOPS))
    }

    /// Writes the `NEXTHOPS` entry of the `PEERS` index `index` (the daemon leaves this to its
    /// next-hop resolver; tests write entries of their own).
    pub fn set_next_hop(&mut self, index: u16, entry: NextHop) -> Result<(), DatapathError> {
        self.nexthops
            .set(u32::from(index), entry, 0)
            .map_err(map_error("write", NEXTHOPS))
    }

    /// Writes the L2 next hop of the visiting /64 `prefix` (`VISITING_L2`): decapsulated
    /// packets to it leave by `link` straight to `mac`, its node's MAC address.
    pub fn set_visiting_l2(
        &mut self,
        prefix: Ipv6Net,
        mac: [u8; 6],
        link: &AccessLink,
    ) -> Result<(), DatapathError> {
        self.set_visiting_l2_entry(
            prefix,
            NextHop::valid(mac, link.mac, link.ifindex, link.mtu),
        )
    }

    /// Writes the `VISITING_L2` entry of the /64 `prefix` as it is (the daemon writes valid
    /// entries with [`Self::set_visiting_l2`]; tests write entries of their own).
    pub fn set_visiting_l2_entry(
        &mut self,
        prefix: Ipv6Net,
        entry: NextHop,
    ) -> Result<(), DatapathError> {
        let key = visiting_l2_key(prefix)?;
        let entry = self.with_binding_of(prefix.trunc(), entry)?;
        let inserted = self.visiting_l2.insert(key, entry, 0);
        self.lookups_changed()?;
        inserted.map_err(insert_error(VISITING_L2))?;
        self.l2_entry_changed(prefix.trunc(), true)
    }

    /// `entry` carrying the visiting binding of the /64 `prefix` when it has one, else none.
    fn with_binding_of(&self, prefix: Ipv6Net, entry: NextHop) -> Result<NextHop, DatapathError> {
        Ok(match self.get_value(&slot_of(prefix, &self.layout)?)? {
            Some(value) if value.kind == BindingKind::Visiting as u8 && entry.is_valid() => {
                entry.with_binding(value.peer, value.stats_slot)
            }
            _ => entry.without_binding(),
        })
    }

    /// Rewrites the binding that the `VISITING_L2` entry of `prefix` carries, if there is an
    /// entry, after its binding changed: the program must never accept a tunnel from a home
    /// that the binding no longer names.
    pub(super) fn refresh_carried_binding(&mut self, prefix: Ipv6Net) -> Result<(), DatapathError> {
        if prefix.prefix_len() != MAX_PREFIX_LEN || !self.l2_entries.contains(&prefix) {
            return Ok(());
        }
        let key = visiting_l2_key(prefix)?;
        let entry = match self.visiting_l2.get(&key, 0) {
            Ok(entry) => entry,
            Err(MapError::KeyNotFound) => return Ok(()),
            Err(error) if errno(&error) == Some(libc::ENOENT) => return Ok(()),
            Err(source) => return Err(map_error("read", VISITING_L2)(source)),
        };
        let updated = self.with_binding_of(prefix, entry)?;
        if updated != entry {
            let inserted = self.visiting_l2.insert(key, updated, 0);
            self.lookups_changed()?;
            inserted.map_err(insert_error(VISITING_L2))?;
        }
        Ok(())
    }

    /// Removes the L2 next hop of the visiting /64 `prefix`, if there is one.
    pub fn remove_visiting_l2(&mut self, prefix: Ipv6Net) -> Result<(), DatapathError> {
        let key = visiting_l2_key(prefix)?;
        let removed = self.visiting_l2.remove(&key);
        self.lookups_changed()?;
        match removed {
            Ok(()) => {}
            Err(error) if errno(&error) == Some(libc::ENOENT) => {}
            Err(source) => return Err(map_error("remove", VISITING_L2)(source)),
        }
        self.l2_entry_changed(prefix.trunc(), false)
    }

    /// Every entry of `VISITING_L2`, as a daemon adopting pinned maps finds them.
    pub fn visiting_l2(&self) -> Result<Vec<(Ipv6Net, NextHop)>, DatapathError> {
        self.visiting_l2
            .iter()
            .map(|entry| {
                let (key, value) = entry.map_err(map_error("list", VISITING_L2))?;
                // The binding an entry carries is the binding's, listed with the bindings.
                Ok((
                    prefix_of(key.prefix, MAX_PREFIX_LEN),
                    value.without_binding(),
                ))
            })
            .collect()
    }
}
