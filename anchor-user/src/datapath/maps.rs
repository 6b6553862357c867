//! Typed access to the program's maps.

use std::{collections::HashMap as StdHashMap, net::Ipv6Addr};

use anchor_common::{
    BindingKey, BindingStats, BindingValue, Counter, CounterValue, IfaceRole, IfaceValue, LpmKey,
    NextHop, PeerAddr,
    config::MAX_PEERS,
    maps::{
        BINDING_STATS, BINDINGS, COUNTERS, IFACES, NEXTHOPS, PEERS, SETTING_SHORT_PREFIXES,
        SETTINGS, SHORT_PREFIXES, VISITING_L2,
    },
};
use aya::{
    Ebpf,
    maps::{
        Array, HashMap, IterableMap as _, Map, MapData, MapError, PerCpuArray, PerCpuValues,
        lpm_trie::{Key, LpmTrie},
    },
    sys::SyscallError,
};
use ipnet::Ipv6Net;

use super::{
    AccessLink, BindingSpec, Datapath, DatapathError, MapName,
    nexthop::{NextHopCache, PeerSet},
    peers::Peers,
};
use crate::prefix::MAX_PREFIX_LEN;

pub(super) struct DatapathMaps {
    pub(super) bindings: HashMap<MapData, BindingKey, BindingValue>,
    pub(super) short_prefixes: LpmTrie<MapData, LpmKey, BindingValue>,
    pub(super) peer_addrs: Array<MapData, PeerAddr>,
    settings: Array<MapData, u32>,
    pub(super) binding_stats: PerCpuArray<MapData, BindingStats>,
    pub(super) counters: PerCpuArray<MapData, CounterValue>,
    pub(super) ifaces: HashMap<MapData, u32, IfaceValue>,
    pub(super) nexthops: Array<MapData, NextHop>,
    pub(super) visiting_l2: HashMap<MapData, BindingKey, NextHop>,
    /// The kernel's id of `NEXTHOPS`, to open it again for the next-hop resolver.
    nexthops_id: u32,
    /// Which `PEERS` index each peer has, and how many bindings use it.
    peers: Peers,
    /// The peers in use, published to the next-hop resolver whenever one comes or goes.
    peer_set: tokio::sync::watch::Sender<PeerSet>,
    /// The `SETTINGS` bits last written.
    settings_bits: u32,
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

/// The `errno` of a failed map syscall, if that is what `error` is.
fn errno(error: &MapError) -> Option<i32> {
    match error {
        MapError::SyscallError(SyscallError { io_error, .. }) => io_error.raw_os_error(),
        _ => None,
    }
}

fn map_error(operation: &'static str, name: MapName) -> impl FnOnce(MapError) -> DatapathError {
    move |source| DatapathError::Map {
        operation,
        name,
        source,
    }
}

/// Classifies an insert failure: a full map (`E2BIG` from a hash map, `ENOSPC` from an LPM
/// trie) is [`DatapathError::MapFull`].
fn insert_error(name: MapName) -> impl FnOnce(MapError) -> DatapathError {
    move |source| match errno(&source) {
        Some(libc::E2BIG | libc::ENOSPC) => DatapathError::MapFull { name },
        _ => DatapathError::Map {
            operation: "insert",
            name,
            source,
        },
    }
}

/// The upper 64 bits of a prefix, network byte order.
fn upper_bytes(prefix: Ipv6Net) -> [u8; 8] {
    BindingKey::from_addr(&prefix.trunc().network().octets()).prefix
}

/// The prefix of length `len` (<= 64) whose upper 64 bits are `upper`.
fn prefix_of(upper: &[u8; 8], len: u8) -> Ipv6Net {
    let mut octets = [0u8; 16];
    octets[..8].copy_from_slice(upper);
    // `len` <= 64 < 128: always a valid length.
    Ipv6Net::new(octets.into(), len)
        .map(|net| net.trunc())
        .unwrap_or_default()
}

/// The `VISITING_L2` key of `prefix`, which must be a /64 (the program looks it up with the
/// /64 of the packet's destination).
fn visiting_l2_key(prefix: Ipv6Net) -> Result<BindingKey, DatapathError> {
    if prefix.prefix_len() != MAX_PREFIX_LEN {
        return Err(DatapathError::NotA64 { prefix });
    }
    Ok(BindingKey {
        prefix: upper_bytes(prefix),
    })
}

/// Where a binding for `prefix` lives.
enum Slot {
    Hash(BindingKey),
    Trie(Key<LpmKey>),
}

fn slot_of(prefix: Ipv6Net) -> Result<Slot, DatapathError> {
    let len = prefix.prefix_len();
    if len > MAX_PREFIX_LEN {
        return Err(DatapathError::PrefixTooLong { prefix });
    }
    let data = upper_bytes(prefix);
    Ok(if len == MAX_PREFIX_LEN {
        Slot::Hash(BindingKey { prefix: data })
    } else {
        Slot::Trie(Key::new(u32::from(len), LpmKey { data }))
    })
}

impl DatapathMaps {
    pub(super) fn take(ebpf: &mut Ebpf, max_bindings: u32) -> Result<Self, DatapathError> {
        let nexthops: Array<MapData, NextHop> = take(ebpf, NEXTHOPS)?;
        let nexthops_id = nexthops
            .map()
            .info()
            .map_err(map_error("inspect", NEXTHOPS))?
            .id();
        Ok(Self {
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
            visiting_l2: take(ebpf, VISITING_L2)?,
            peers: Peers::new(MAX_PEERS),
            settings_bits: 0,
            max_bindings,
        })
    }

    /// Rebuilds the peer references from the binding maps and `PEERS`, and the `SETTINGS`
    /// bits from the trie: what a daemon adopting pinned maps (or migrated ones) must do before
    /// its program sees a packet.
    pub(super) fn adopt_contents(&mut self) -> Result<(), DatapathError> {
        let mut indices = Vec::new();
        for entry in self.bindings.iter() {
            let (_, value) = entry.map_err(map_error("list", BINDINGS))?;
            indices.push(value.peer);
        }
        let mut short = false;
        for entry in self.short_prefixes.iter() {
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
        self.write_settings(if short { SETTING_SHORT_PREFIXES } else { 0 })
    }

    fn write_settings(&mut self, bits: u32) -> Result<(), DatapathError> {
        self.settings
            .set(0, bits, 0)
            .map_err(map_error("write", SETTINGS))?;
        self.settings_bits = bits;
        Ok(())
    }

    /// Keeps `SETTING_SHORT_PREFIXES` equal to "the trie has an entry". Set after an insert
    /// into the trie, cleared after the removal of its last entry.
    fn update_short_prefix_bit(&mut self) -> Result<(), DatapathError> {
        let present = match self.short_prefixes.keys().next() {
            None => false,
            Some(Ok(_)) => true,
            Some(Err(source)) => return Err(map_error("list", SHORT_PREFIXES)(source)),
        };
        let bits = if present {
            self.settings_bits | SETTING_SHORT_PREFIXES
        } else {
            self.settings_bits & !SETTING_SHORT_PREFIXES
        };
        if bits == self.settings_bits {
            return Ok(());
        }
        self.write_settings(bits)
    }

    /// The `SETTINGS` bits as the program reads them.
    #[cfg(test)]
    pub(super) fn settings_in_map(&self) -> u32 {
        self.settings.get(&0, 0).unwrap_or(u32::MAX)
    }

    /// The `PEERS` index of `peer`, with one more reference. A new index gets the locator in
    /// `PEERS` and an invalid `NEXTHOPS` entry (the program asks the FIB until the resolver
    /// fills it), before any binding uses it.
    fn acquire_peer(&mut self, peer: Ipv6Addr) -> Result<u16, DatapathError> {
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
    fn release_peer(&mut self, index: u16) {
        if self.peers.release(index) {
            self.publish_peers();
        }
    }

    fn publish_peers(&self) {
        self.peer_set.send_replace(self.peers.in_use());
    }

    /// The binding a map value describes, with its peer's address.
    fn spec(&self, prefix: Ipv6Net, value: &BindingValue) -> Result<BindingSpec, DatapathError> {
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

    pub(super) fn set_iface_role(
        &mut self,
        ifindex: u32,
        role: IfaceRole,
    ) -> Result<(), DatapathError> {
        self.ifaces
            .insert(ifindex, IfaceValue::new(role), 0)
            .map_err(insert_error(IFACES))
    }

    pub(super) fn remove_iface(&mut self, ifindex: u32) -> Result<(), DatapathError> {
        self.ifaces
            .remove(&ifindex)
            .map_err(map_error("remove", IFACES))
    }

    /// Removes the role of every interface but those in `keep` (ifindexes).
    pub(super) fn retain_ifaces(&mut self, keep: &[u32]) -> Result<(), DatapathError> {
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

    fn check_slot(&self, slot: u32) -> Result<(), DatapathError> {
        if slot >= self.max_bindings {
            return Err(DatapathError::SlotOutOfRange {
                slot,
                max_bindings: self.max_bindings,
            });
        }
        Ok(())
    }
}

impl Datapath {
    /// Inserts or replaces the binding for `prefix`: a /64 goes to the hash map, a shorter
    /// prefix to the LPM trie, a longer one is an error. Host bits are ignored. The peer gets
    /// a `PEERS` index (shared with the other bindings of that peer).
    pub fn insert_binding(
        &mut self,
        prefix: Ipv6Net,
        spec: BindingSpec,
    ) -> Result<(), DatapathError> {
        let slot = slot_of(prefix)?;
        let old = self.get_value(&slot)?;
        let maps = &mut self.maps;
        let index = maps.acquire_peer(spec.peer)?;
        let value = spec.value(index);
        let result = match &slot {
            Slot::Hash(key) => maps
                .bindings
                .insert(key, value, 0)
                .map_err(insert_error(BINDINGS)),
            Slot::Trie(key) => maps
                .short_prefixes
                .insert(key, value, 0)
                .map_err(insert_error(SHORT_PREFIXES)),
        };
        if let Err(error) = result {
            maps.release_peer(index);
            return Err(error);
        }
        if let Some(old) = old {
            maps.release_peer(old.peer);
        }
        if matches!(slot, Slot::Trie(_)) {
            maps.update_short_prefix_bit()?;
        }
        Ok(())
    }

    /// Removes the binding for `prefix`; [`DatapathError::BindingNotFound`] when there is none.
    pub fn remove_binding(&mut self, prefix: Ipv6Net) -> Result<(), DatapathError> {
        let slot = slot_of(prefix)?;
        let old = self.get_value(&slot)?;
        let maps = &mut self.maps;
        let (name, result) = match &slot {
            Slot::Hash(key) => (BINDINGS, maps.bindings.remove(key)),
            Slot::Trie(key) => (SHORT_PREFIXES, maps.short_prefixes.remove(key)),
        };
        result.map_err(|source| match errno(&source) {
            Some(libc::ENOENT) => DatapathError::BindingNotFound {
                prefix: prefix.trunc(),
                name,
            },
            _ => DatapathError::Map {
                operation: "remove",
                name,
                source,
            },
        })?;
        if let Some(old) = old {
            maps.release_peer(old.peer);
        }
        if matches!(slot, Slot::Trie(_)) {
            maps.update_short_prefix_bit()?;
        }
        Ok(())
    }

    /// The map value stored for exactly `slot`, if any.
    fn get_value(&self, slot: &Slot) -> Result<Option<BindingValue>, DatapathError> {
        let maps = &self.maps;
        let (name, result) = match slot {
            Slot::Hash(key) => (BINDINGS, maps.bindings.get(key, 0)),
            Slot::Trie(key) => (SHORT_PREFIXES, maps.short_prefixes.get(key, 0)),
        };
        match result {
            Ok(value) => Ok(Some(value)),
            Err(MapError::KeyNotFound) => Ok(None),
            Err(error) if errno(&error) == Some(libc::ENOENT) => Ok(None),
            Err(source) => Err(DatapathError::Map {
                operation: "lookup",
                name,
                source,
            }),
        }
    }

    /// The binding stored for exactly `prefix` (no longest-prefix match), if any.
    pub fn get_binding(&self, prefix: Ipv6Net) -> Result<Option<BindingSpec>, DatapathError> {
        self.get_value(&slot_of(prefix)?)?
            .map(|value| self.maps.spec(prefix.trunc(), &value))
            .transpose()
    }

    /// Every binding in the maps (/64s from the hash map, shorter prefixes from the trie), as
    /// a daemon adopting pinned maps finds them.
    pub fn bindings(&self) -> Result<Vec<(Ipv6Net, BindingSpec)>, DatapathError> {
        let mut bindings = Vec::new();
        for entry in self.maps.bindings.iter() {
            let (key, value) = entry.map_err(map_error("list", BINDINGS))?;
            let prefix = prefix_of(&key.prefix, MAX_PREFIX_LEN);
            bindings.push((prefix, self.maps.spec(prefix, &value)?));
        }
        for entry in self.maps.short_prefixes.iter() {
            let (key, value) = entry.map_err(map_error("list", SHORT_PREFIXES))?;
            // The trie's keys are at most /64: longer ones are never inserted.
            let len = u8::try_from(key.prefix_len()).unwrap_or(MAX_PREFIX_LEN);
            let prefix = prefix_of(&key.data().data, len.min(MAX_PREFIX_LEN));
            bindings.push((prefix, self.maps.spec(prefix, &value)?));
        }
        Ok(bindings)
    }

    /// The `PEERS` index of `peer`, reserved for as long as this datapath lives: for a bulk
    /// writer that fills the binding maps itself (the benchmark's `BPF_MAP_UPDATE_BATCH`).
    pub fn reserve_peer(&mut self, peer: Ipv6Addr) -> Result<u16, DatapathError> {
        self.maps.acquire_peer(peer)
    }

    /// The next-hop cache for a resolver ([`super::nexthop::NextHopResolver`]): a descriptor of
    /// its own on `NEXTHOPS` and the peers in use, updated as bindings come and go.
    pub fn next_hop_cache(&self) -> Result<NextHopCache, DatapathError> {
        let data = MapData::from_id(self.maps.nexthops_id).map_err(map_error("open", NEXTHOPS))?;
        let map = Array::try_from(Map::Array(data)).map_err(|source| DatapathError::MapType {
            name: NEXTHOPS,
            source,
        })?;
        Ok(NextHopCache::new(map, self.maps.peer_set.subscribe()))
    }

    /// The `NEXTHOPS` entry of the `PEERS` index `index`.
    pub fn next_hop(&self, index: u16) -> Result<NextHop, DatapathError> {
        self.maps
            .nexthops
            .get(&u32::from(index), 0)
            .map_err(map_error("read", NEXTHOPS))
    }

    /// Writes the `NEXTHOPS` entry of the `PEERS` index `index` (the daemon leaves this to its
    /// [`super::NextHopResolver`]; tests write entries of their own).
    pub fn set_next_hop(&mut self, index: u16, entry: NextHop) -> Result<(), DatapathError> {
        self.maps
            .nexthops
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
        self.maps
            .visiting_l2
            .insert(key, entry, 0)
            .map_err(insert_error(VISITING_L2))
    }

    /// Removes the L2 next hop of the visiting /64 `prefix`, if there is one.
    pub fn remove_visiting_l2(&mut self, prefix: Ipv6Net) -> Result<(), DatapathError> {
        let key = visiting_l2_key(prefix)?;
        match self.maps.visiting_l2.remove(&key) {
            Ok(()) => Ok(()),
            Err(error) if errno(&error) == Some(libc::ENOENT) => Ok(()),
            Err(source) => Err(map_error("remove", VISITING_L2)(source)),
        }
    }

    /// Every entry of `VISITING_L2`, as a daemon adopting pinned maps finds them.
    pub fn visiting_l2(&self) -> Result<Vec<(Ipv6Net, NextHop)>, DatapathError> {
        self.maps
            .visiting_l2
            .iter()
            .map(|entry| {
                let (key, value) = entry.map_err(map_error("list", VISITING_L2))?;
                Ok((prefix_of(&key.prefix, MAX_PREFIX_LEN), value))
            })
            .collect()
    }

    /// The `PEERS` index of `peer`, while a binding uses it.
    pub fn peer_index(&self, peer: Ipv6Addr) -> Option<u16> {
        self.maps
            .peers
            .in_use()
            .into_iter()
            .find_map(|(index, addr)| (addr == peer).then_some(index))
    }

    /// The number of bindings using the `PEERS` index `index` (0 when it is free).
    pub fn peer_refs(&self, index: u16) -> u32 {
        self.maps.peers.refs(index)
    }

    /// Every global counter, in [`Counter::ALL`] order, summed over the CPUs.
    pub fn counters(&self) -> Result<Vec<(Counter, CounterValue)>, DatapathError> {
        Counter::ALL
            .iter()
            .map(|&counter| {
                let per_cpu = self
                    .maps
                    .counters
                    .get(&(counter as u32), 0)
                    .map_err(map_error("read", COUNTERS))?;
                let total = per_cpu
                    .iter()
                    .fold(CounterValue::default(), |sum, v| CounterValue {
                        packets: sum.packets.wrapping_add(v.packets),
                        bytes: sum.bytes.wrapping_add(v.bytes),
                    });
                Ok((counter, total))
            })
            .collect()
    }

    /// The statistics of one binding slot, summed over the CPUs.
    pub fn binding_stats(&self, slot: u32) -> Result<BindingStats, DatapathError> {
        self.maps.check_slot(slot)?;
        let per_cpu = self
            .maps
            .binding_stats
            .get(&slot, 0)
            .map_err(map_error("read", BINDING_STATS))?;
        Ok(per_cpu.iter().fold(BindingStats::default(), |mut sum, v| {
            for d in 0..2 {
                sum.packets[d] = sum.packets[d].wrapping_add(v.packets[d]);
                sum.bytes[d] = sum.bytes[d].wrapping_add(v.bytes[d]);
            }
            sum
        }))
    }

    /// Zeroes a binding slot on every CPU (before the slot is given to a new binding).
    pub fn reset_binding_stats(&mut self, slot: u32) -> Result<(), DatapathError> {
        self.maps.check_slot(slot)?;
        let cpus = aya::util::nr_cpus().map_err(|(_, error)| DatapathError::Cpus(error))?;
        let zeroes = PerCpuValues::try_from(vec![BindingStats::default(); cpus])
            .map_err(DatapathError::Cpus)?;
        self.maps
            .binding_stats
            .set(slot, zeroes, 0)
            .map_err(map_error("write", BINDING_STATS))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn net(s: &str) -> Ipv6Net {
        s.parse().expect("prefix")
    }

    #[test]
    fn a_64_goes_to_the_hash_map_with_its_upper_bytes() {
        let Ok(Slot::Hash(key)) = slot_of(net("2001:db8:1:2::77/64")) else {
            panic!("expected a hash key")
        };
        assert_eq!(key.prefix, [0x20, 0x01, 0x0d, 0xb8, 0, 1, 0, 2]);
    }

    #[test]
    fn a_shorter_prefix_goes_to_the_trie_with_its_length() {
        let Ok(Slot::Trie(key)) = slot_of(net("2001:db8:ab00::/40")) else {
            panic!("expected a trie key")
        };
        assert_eq!(key.prefix_len(), 40);
        assert_eq!(key.data().data, [0x20, 0x01, 0x0d, 0xb8, 0xab, 0, 0, 0]);
    }

    #[test]
    fn keys_turn_back_into_prefixes() {
        assert_eq!(
            prefix_of(&[0x20, 0x01, 0x0d, 0xb8, 0xab, 0, 0, 0], 40),
            net("2001:db8:ab00::/40")
        );
        assert_eq!(
            prefix_of(&[0x20, 0x01, 0x0d, 0xb8, 0, 1, 0, 2], 64),
            net("2001:db8:1:2::/64")
        );
    }

    #[test]
    fn a_longer_prefix_is_an_error() {
        assert!(matches!(
            slot_of(net("2001:db8::/65")),
            Err(DatapathError::PrefixTooLong { .. })
        ));
    }

    /// Needs root and BPF, as every privileged test run by `cargo xtask test` in CI.
    #[test]
    fn privileged_map_round_trip() {
        use anchor_common::Counter;

        use crate::datapath::{BindingSpec, Datapath, DatapathParams};

        let params = DatapathParams {
            locator: "2001:db8:ff::1".parse().expect("address"),
            tunnel_mtu: 1500,
            outer_hop_limit: 64,
            max_bindings: 2,
            log: false,
        };
        let mut dp = Datapath::load(&params).expect("load");
        let peer: Ipv6Addr = "2001:db8:ff::2".parse().expect("address");
        let other: Ipv6Addr = "2001:db8:ff::3".parse().expect("address");
        let v = BindingSpec::redirect(peer, 1);
        dp.insert_binding(net("2001:db8:1::/64"), v)
            .expect("insert");
        dp.insert_binding(net("2001:db8:2::/64"), v)
            .expect("insert");
        assert!(matches!(
            dp.insert_binding(net("2001:db8:3::/64"), v),
            Err(DatapathError::MapFull { name: "BINDINGS" })
        ));
        // One PEERS index for the peer, counted by its two bindings (not by the failed one).
        assert_eq!(dp.peer_refs(0), 2);
        assert_eq!(
            dp.get_binding(net("2001:db8:1::/64")).expect("get"),
            Some(v)
        );
        dp.insert_binding(net("2001:db8:100::/48"), v)
            .expect("insert short");
        assert_eq!(
            dp.get_binding(net("2001:db8:100::/48")).expect("get"),
            Some(v)
        );
        let mut listed = dp.bindings().expect("list");
        listed.sort_by_key(|(prefix, _)| *prefix);
        assert_eq!(
            listed,
            vec![
                (net("2001:db8:1::/64"), v),
                (net("2001:db8:2::/64"), v),
                (net("2001:db8:100::/48"), v),
            ]
        );
        // Replacing a binding moves its reference to the new peer.
        let moved = BindingSpec::visiting(other, true, 1);
        dp.insert_binding(net("2001:db8:2::/64"), moved)
            .expect("replace");
        assert_eq!((dp.peer_refs(0), dp.peer_refs(1)), (2, 1));
        assert_eq!(
            dp.get_binding(net("2001:db8:2::/64")).expect("get"),
            Some(moved)
        );
        dp.remove_binding(net("2001:db8:100::/48"))
            .expect("remove short");
        assert!(matches!(
            dp.remove_binding(net("2001:db8:100::/48")),
            Err(DatapathError::BindingNotFound { .. })
        ));
        dp.remove_binding(net("2001:db8:1::/64")).expect("remove");
        assert_eq!(dp.get_binding(net("2001:db8:1::/64")).expect("get"), None);
        // The last binding of a peer frees its index.
        assert_eq!((dp.peer_refs(0), dp.peer_refs(1)), (0, 1));
        dp.reset_binding_stats(1).expect("reset");
        assert_eq!(dp.binding_stats(1).expect("stats"), BindingStats::default());
        assert!(matches!(
            dp.binding_stats(2),
            Err(DatapathError::SlotOutOfRange { .. })
        ));
        let counters = dp.counters().expect("counters");
        assert_eq!(counters.len(), Counter::ALL.len());
        assert!(
            counters
                .iter()
                .zip(Counter::ALL)
                .all(|((c, _), all)| c == all)
        );
        dp.set_iface_role(1, anchor_common::IfaceRole::Core)
            .expect("role");
        assert!(matches!(
            dp.attach(
                "nosuch0",
                anchor_common::IfaceRole::Core,
                crate::datapath::XdpMode::Skb
            ),
            Err(DatapathError::UnknownInterface { .. })
        ));
    }
}
