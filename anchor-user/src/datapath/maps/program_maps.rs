//! [`ProgramMaps`]: the program's maps, typed, with the state the daemon keeps beside them
//! (the `PEERS` indices in use, the `SETTINGS` bits); interface roles and peer indices.

use std::{collections::HashMap as StdHashMap, net::Ipv6Addr};

use anchor_common::{
    AccessMac, AccessSourceKey, AccessSourceValue, BindingKey, BindingStats, BindingValue,
    CounterBlock, IfaceRole, IfaceValue, LpmKey, NextHop, PeerAddr, PoolRange,
    cache::Settings,
    config::{MAX_INDEXED_IFINDEX, MAX_PEERS},
    maps::{
        ACCESS_SOURCES, BINDING_STATS, BINDINGS, CN_ANCHORS, COUNTERS, DENSE, FIRST_FRAMES,
        IFACE_INDEX, IFACES, KNOWN_MACS, NEXTHOPS, PEERS, POOLS, SETTING_ACCESS, SETTING_DENSE,
        SETTING_FIRST_FRAME, SETTING_SHORT_PREFIXES, SETTING_SOURCE_VALIDATION, SETTINGS,
        SHORT_PREFIXES, TX_PORTS, VISITING_L2,
    },
};
use aya::{
    Ebpf,
    maps::{
        Array, HashMap, IterableMap as _, Map, MapData, MapError, PerCpuArray, RingBuf,
        lpm_trie::LpmTrie,
    },
};
use ipnet::Ipv6Net;

use super::{
    binding_spec::BindingSpec,
    first_frames::FirstFrames,
    keys::prefix_of,
    map_error::{insert_error, map_error},
    peers::Peers,
    tx_ports::TxPorts,
};
use crate::{
    datapath::{dense_layout::DenseLayout, error::DatapathError, params::MapName},
    prefix::MAX_PREFIX_LEN,
    routing::nexthop::PeerSet,
};

/// The program's maps, typed. Each binding's peer is stored as a `PEERS` index, counted by the
/// bindings using it.
pub struct ProgramMaps {
    pub(in crate::datapath) bindings: HashMap<MapData, BindingKey, BindingValue>,
    pub(in crate::datapath) short_prefixes: LpmTrie<MapData, LpmKey, BindingValue>,
    /// The bindings of the /64s of the pools of `layout`.
    pub(in crate::datapath) dense: Array<MapData, BindingValue>,
    pub(in crate::datapath) layout: DenseLayout,
    pub(in crate::datapath) peer_addrs: Array<MapData, PeerAddr>,
    settings: Array<MapData, Settings>,
    pub(in crate::datapath) binding_stats: PerCpuArray<MapData, BindingStats>,
    pub(in crate::datapath) counters: PerCpuArray<MapData, CounterBlock>,
    pub(in crate::datapath) ifaces: HashMap<MapData, u32, IfaceValue>,
    iface_index: Array<MapData, IfaceValue>,
    pub(in crate::datapath) nexthops: Array<MapData, NextHop>,
    pub(in crate::datapath) visiting_l2: HashMap<MapData, BindingKey, NextHop>,
    pub(in crate::datapath) cn_anchors: HashMap<MapData, PeerAddr, u32>,
    pub(in crate::datapath) access_sources: HashMap<MapData, AccessSourceKey, AccessSourceValue>,
    pub(in crate::datapath) known_macs: HashMap<MapData, AccessMac, u32>,
    /// The interfaces the program redirects to through its device map.
    pub(in crate::datapath) tx_ports: TxPorts,
    /// The first-frame reports, until [`Self::take_first_frames`] hands them out.
    first_frames: Option<RingBuf<MapData>>,
    /// The kernel's id of `NEXTHOPS`, to open it again for the next-hop resolver.
    pub(super) nexthops_id: u32,
    /// Which `PEERS` index each peer has, and how many bindings use it.
    peers: Peers,
    /// The peers in use, published to the next-hop resolver whenever one comes or goes.
    pub(super) peer_set: tokio::sync::watch::Sender<PeerSet>,
    /// The `SETTINGS` bits last written.
    pub(super) settings_bits: u32,
    /// The generation of the program's lookup caches (written to `SETTINGS` while `caching`).
    generation: u64,
    /// Whether the program caches its lookups (else generation 0 is written).
    caching: bool,
    /// The /64s of `VISITING_L2` that neither a pool nor a /64 binding accounts for.
    pub(super) l2_unbound: std::collections::BTreeSet<Ipv6Net>,
    /// The /64s with a `VISITING_L2` entry (so that a binding's change reads the map only
    /// for them).
    pub(super) l2_entries: std::collections::BTreeSet<Ipv6Net>,
    /// The redirect bindings outside the pools (hash map and trie).
    pub(super) hashed_redirects: std::collections::BTreeSet<Ipv6Net>,
    max_bindings: u32,
}

fn take<T>(ebpf: &mut Ebpf, name: MapName) -> Result<T, DatapathError>
where
    T: TryFrom<Map, Error = MapError>,
{
    let map = ebpf
        .take_map(name)
        .ok_or(DatapathError::MissingMap { name })?;
    T::try_from(map).map_err(|source| DatapathError::MapType { name, source })
}

impl ProgramMaps {
    /// The maps of a loaded program, with the pools of `layout` written to `POOLS`.
    pub(in crate::datapath) fn take(
        ebpf: &mut Ebpf,
        max_bindings: u32,
        layout: DenseLayout,
    ) -> Result<Self, DatapathError> {
        let nexthops: Array<MapData, NextHop> = take(ebpf, NEXTHOPS)?;
        let nexthops_id = nexthops
            .map()
            .info()
            .map_err(map_error("inspect", NEXTHOPS))?
            .id();
        let mut pools: Array<MapData, PoolRange> = take(ebpf, POOLS)?;
        for (index, range) in (0..).zip(layout.ranges()) {
            pools
                .set(index, range, 0)
                .map_err(map_error("write", POOLS))?;
        }
        let mut maps = Self {
            dense: take(ebpf, DENSE)?,
            layout,
            nexthops,
            nexthops_id,
            peer_set: tokio::sync::watch::Sender::new(PeerSet::new()),
            bindings: take(ebpf, BINDINGS)?,
            short_prefixes: take(ebpf, SHORT_PREFIXES)?,
            peer_addrs: take(ebpf, PEERS)?,
            settings: take(ebpf, SETTINGS)?,
            binding_stats: take(ebpf, BINDING_STATS)?,
            counters: take(ebpf, COUNTERS)?,
            ifaces: take(ebpf, IFACES)?,
            iface_index: take(ebpf, IFACE_INDEX)?,
            visiting_l2: take(ebpf, VISITING_L2)?,
            cn_anchors: take(ebpf, CN_ANCHORS)?,
            access_sources: take(ebpf, ACCESS_SOURCES)?,
            known_macs: take(ebpf, KNOWN_MACS)?,
            tx_ports: TxPorts::new(
                ebpf.take_map(TX_PORTS)
                    .ok_or(DatapathError::MissingMap { name: TX_PORTS })?,
            )?,
            first_frames: Some(take(ebpf, FIRST_FRAMES)?),
            peers: Peers::new(MAX_PEERS),
            settings_bits: 0,
            l2_unbound: std::collections::BTreeSet::new(),
            l2_entries: std::collections::BTreeSet::new(),
            hashed_redirects: std::collections::BTreeSet::new(),
            max_bindings,
            generation: 0,
            caching: true,
        };
        if maps.layout.pools().next().is_some() {
            maps.write_settings(SETTING_DENSE)?;
        }
        // Generation 1: the program caches its lookups from its first packet on.
        maps.lookups_changed()?;
        Ok(maps)
    }

    /// Every binding of the dense table: (its index, its value).
    pub(in crate::datapath) fn dense_entries(
        &self,
    ) -> Result<Vec<(u32, BindingValue)>, DatapathError> {
        let mut entries = Vec::new();
        for index in 0..self.dense.len() {
            let value = self
                .dense
                .get(&index, 0)
                .map_err(map_error("list", DENSE))?;
            if value.kind != 0 {
                entries.push((index, value));
            }
        }
        Ok(entries)
    }

    /// Rebuilds the peer references from the binding maps and `PEERS`, and the `SETTINGS`
    /// bits from the trie and `IFACES`: what a daemon adopting pinned maps (or migrated ones)
    /// must do before its program sees a packet.
    pub(in crate::datapath) fn adopt_contents(&mut self) -> Result<(), DatapathError> {
        let mut indices = Vec::new();
        for entry in &self.bindings {
            let (key, value) = entry.map_err(map_error("list", BINDINGS))?;
            // A /64 of a pool in the hash map is a copy being moved to the dense table.
            if self
                .layout
                .index_of(prefix_of(key.prefix, MAX_PREFIX_LEN))
                .is_none()
            {
                indices.push(value.peer);
            }
        }
        for (_, value) in self.dense_entries()? {
            indices.push(value.peer);
        }
        let mut short = false;
        for entry in &self.short_prefixes {
            let (_, value) = entry.map_err(map_error("list", SHORT_PREFIXES))?;
            indices.push(value.peer);
            short = true;
        }
        let mut addrs = StdHashMap::new();
        for &index in &indices {
            if let std::collections::hash_map::Entry::Vacant(vacant) = addrs.entry(index) {
                let addr = self
                    .peer_addrs
                    .get(&u32::from(index), 0)
                    .map_err(map_error("read", PEERS))?;
                vacant.insert(Ipv6Addr::from(addr.octets));
            }
        }
        self.peers = Peers::rebuild(
            MAX_PEERS,
            indices.iter().map(|index| (*index, addrs[index])),
        );
        self.publish_peers();
        // `IFACE_INDEX` as `IFACES` says (pins of a build without it get it created empty).
        let ifaces = self
            .ifaces
            .iter()
            .collect::<Result<Vec<_>, _>>()
            .map_err(map_error("list", IFACES))?;
        for (ifindex, value) in ifaces {
            self.write_iface_index(ifindex, value)?;
        }
        let dense = self.settings_bits & SETTING_DENSE;
        self.write_settings(dense | if short { SETTING_SHORT_PREFIXES } else { 0 })?;
        self.rebuild_l2_gate()?;
        self.rebuild_redirect_gate()?;
        self.update_iface_bits()
    }

    /// The first-frame reports, once (`None` after the first call).
    pub(in crate::datapath) fn take_first_frames(&mut self) -> Option<FirstFrames> {
        self.first_frames.take().map(FirstFrames::new)
    }

    /// Keeps `SETTING_SOURCE_VALIDATION` equal to "an `IFACES` entry has source validation",
    /// `SETTING_FIRST_FRAME` to "an `IFACES` entry has first-frame attachment" and
    /// `SETTING_ACCESS` to "an `IFACES` entry is an access interface".
    fn update_iface_bits(&mut self) -> Result<(), DatapathError> {
        let mut bits = self.settings_bits
            & !(SETTING_SOURCE_VALIDATION | SETTING_FIRST_FRAME | SETTING_ACCESS);
        for entry in &self.ifaces {
            let (_, value) = entry.map_err(map_error("list", IFACES))?;
            if value.role == IfaceRole::Access as u8 {
                bits |= SETTING_ACCESS;
            }
            if value.source_validation() {
                bits |= SETTING_SOURCE_VALIDATION;
            }
            if value.first_frame() {
                bits |= SETTING_FIRST_FRAME;
            }
        }
        if bits == self.settings_bits {
            return Ok(());
        }
        self.write_settings(bits)
    }

    /// Advances the generation of the program's per-CPU lookup caches (`anchor_common::cache`),
    /// so that it looks every /64 up again: call it after every change to `DENSE`, `BINDINGS`,
    /// `SHORT_PREFIXES` or `VISITING_L2`, also one that failed half-way.
    pub(in crate::datapath) fn lookups_changed(&mut self) -> Result<(), DatapathError> {
        // 0 turns caching off: it is skipped when the counter wraps.
        let next = self.generation.wrapping_add(1).max(1);
        self.write_settings_value(self.settings_bits, if self.caching { next } else { 0 })?;
        self.generation = next;
        Ok(())
    }

    /// Turns the program's lookup caches on or off (generation 0: every lookup goes to the
    /// maps), as a benchmark compares both.
    pub(in crate::datapath) fn set_lookup_caching(
        &mut self,
        on: bool,
    ) -> Result<(), DatapathError> {
        self.caching = on;
        self.lookups_changed()
    }

    pub(super) fn write_settings(&mut self, bits: u32) -> Result<(), DatapathError> {
        let generation = if self.caching { self.generation } else { 0 };
        self.write_settings_value(bits, generation)?;
        self.settings_bits = bits;
        Ok(())
    }

    /// Writes `SETTINGS`' one value: the bits and the generation.
    fn write_settings_value(&mut self, bits: u32, generation: u64) -> Result<(), DatapathError> {
        let value = Settings {
            bits,
            reserved: 0,
            generation,
        };
        self.settings
            .set(0, value, 0)
            .map_err(map_error("write", SETTINGS))
    }

    /// Keeps `SETTING_SHORT_PREFIXES` equal to "the trie has an entry". Set after an insert
    /// into the trie, cleared after the removal of its last entry.
    pub(super) fn update_short_prefix_bit(&mut self) -> Result<(), DatapathError> {
        let present = match self.short_prefixes.keys().next() {
            None => false,
            Some(Ok(_)) => true,
            Some(Err(source)) => return Err(map_error("list", SHORT_PREFIXES)(source)),
        };
        self.update_bit(SETTING_SHORT_PREFIXES, present)
    }

    /// The `SETTINGS` bits as the program reads them.
    #[cfg(test)]
    pub(in crate::datapath) fn settings_in_map(&self) -> u32 {
        self.settings
            .get(&0, 0)
            .map_or(u32::MAX, |value| value.bits)
    }

    /// The `PEERS` index of `peer`, with one more reference. A new index gets the locator in
    /// `PEERS` and an invalid `NEXTHOPS` entry (the program asks the FIB until the resolver
    /// fills it), before any binding uses it.
    pub(super) fn acquire_peer(&mut self, peer: Ipv6Addr) -> Result<u16, DatapathError> {
        let acquired = self.peers.acquire(peer)?;
        if acquired.fresh {
            let index = u32::from(acquired.index);
            let value = PeerAddr {
                octets: peer.octets(),
            };
            let written = self
                .nexthops
                .set(index, NextHop::INVALID, 0)
                .map_err(map_error("write", NEXTHOPS))
                .and_then(|()| {
                    self.peer_addrs
                        .set(index, value, 0)
                        .map_err(map_error("write", PEERS))
                });
            if let Err(error) = written {
                self.peers.release(acquired.index);
                return Err(error);
            }
            self.publish_peers();
        }
        Ok(acquired.index)
    }

    /// Drops one reference to the `PEERS` index `index`.
    pub(super) fn release_peer(&mut self, index: u16) {
        if self.peers.release(index) {
            self.publish_peers();
        }
    }

    fn publish_peers(&self) {
        self.peer_set.send_replace(self.peers.in_use());
    }

    /// The binding a map value describes, with its peer's address.
    pub(super) fn spec(
        &self,
        prefix: Ipv6Net,
        value: BindingValue,
    ) -> Result<BindingSpec, DatapathError> {
        let peer = self
            .peers
            .addr(value.peer)
            .ok_or_else(|| DatapathError::CorruptBinding {
                prefix,
                reason: format!("its peer index {} is not allocated", value.peer),
            })?;
        BindingSpec::from_value(value, peer)
            .map_err(|reason| DatapathError::CorruptBinding { prefix, reason })
    }

    pub(in crate::datapath) fn set_iface_role(
        &mut self,
        ifindex: u32,
        role: IfaceRole,
    ) -> Result<(), DatapathError> {
        self.set_iface(ifindex, IfaceValue::new(role))
    }

    /// Writes the `IFACES` entry of `ifindex`: its role and flags (and its `IFACE_INDEX` entry
    /// when the index is small enough).
    pub(in crate::datapath) fn set_iface(
        &mut self,
        ifindex: u32,
        value: IfaceValue,
    ) -> Result<(), DatapathError> {
        self.ifaces
            .insert(ifindex, value, 0)
            .map_err(insert_error(IFACES))?;
        self.write_iface_index(ifindex, value)?;
        self.update_iface_bits()
    }

    pub(in crate::datapath) fn remove_iface(&mut self, ifindex: u32) -> Result<(), DatapathError> {
        self.write_iface_index(ifindex, IfaceValue::NONE)?;
        self.ifaces
            .remove(&ifindex)
            .map_err(map_error("remove", IFACES))?;
        self.update_iface_bits()
    }

    /// The `IFACE_INDEX` entry of `ifindex`, when the array has one.
    fn write_iface_index(&mut self, ifindex: u32, value: IfaceValue) -> Result<(), DatapathError> {
        if ifindex < MAX_INDEXED_IFINDEX {
            self.iface_index
                .set(ifindex, value, 0)
                .map_err(map_error("write", IFACE_INDEX))?;
        }
        Ok(())
    }

    /// Makes `anchors` the anchors near correspondents whose tunnels to visiting /64s are
    /// accepted (`CN_ANCHORS`): adds the missing ones first, then removes the others.
    pub(in crate::datapath) fn set_cn_anchors(
        &mut self,
        anchors: &[Ipv6Addr],
    ) -> Result<(), DatapathError> {
        let wanted: Vec<PeerAddr> = anchors
            .iter()
            .map(|a| PeerAddr { octets: a.octets() })
            .collect();
        for key in &wanted {
            self.cn_anchors
                .insert(key, 1, 0)
                .map_err(insert_error(CN_ANCHORS))?;
        }
        let stale: Vec<PeerAddr> = self
            .cn_anchors
            .keys()
            .collect::<Result<Vec<_>, _>>()
            .map_err(map_error("list", CN_ANCHORS))?
            .into_iter()
            .filter(|key| !wanted.contains(key))
            .collect();
        for key in stale {
            self.cn_anchors
                .remove(&key)
                .map_err(map_error("remove", CN_ANCHORS))?;
        }
        Ok(())
    }

    /// The anchors near correspondents in `CN_ANCHORS`.
    pub(in crate::datapath) fn cn_anchors(&self) -> Result<Vec<Ipv6Addr>, DatapathError> {
        self.cn_anchors
            .keys()
            .map(|key| key.map(|k| Ipv6Addr::from(k.octets)))
            .collect::<Result<Vec<_>, _>>()
            .map_err(map_error("list", CN_ANCHORS))
    }

    /// Removes the role of every interface but those in `keep` (ifindexes).
    pub(in crate::datapath) fn retain_ifaces(&mut self, keep: &[u32]) -> Result<(), DatapathError> {
        let stale: Vec<u32> = self
            .ifaces
            .keys()
            .collect::<Result<Vec<_>, _>>()
            .map_err(map_error("list", IFACES))?
            .into_iter()
            .filter(|ifindex| !keep.contains(ifindex))
            .collect();
        for ifindex in stale {
            self.remove_iface(ifindex)?;
        }
        Ok(())
    }

    /// The `PEERS` index of `peer`, reserved for as long as this datapath lives: for a bulk
    /// writer that fills the binding maps itself (the benchmark's `BPF_MAP_UPDATE_BATCH`).
    pub fn reserve_peer(&mut self, peer: Ipv6Addr) -> Result<u16, DatapathError> {
        self.acquire_peer(peer)
    }

    /// The `PEERS` index of `peer`, while a binding uses it.
    pub fn peer_index(&self, peer: Ipv6Addr) -> Option<u16> {
        self.peers
            .in_use()
            .into_iter()
            .find_map(|(index, addr)| (addr == peer).then_some(index))
    }

    /// The number of bindings using the `PEERS` index `index` (0 when it is free).
    pub fn peer_refs(&self, index: u16) -> u32 {
        self.peers.refs(index)
    }

    pub(super) fn check_slot(&self, slot: u32) -> Result<(), DatapathError> {
        if slot >= self.max_bindings {
            return Err(DatapathError::SlotOutOfRange {
                slot,
                max_bindings: self.max_bindings,
            });
        }
        Ok(())
    }
}
