//! Migrating a pinned map into its replacement of another capacity, without losing an entry.
//!
//! A loaded program's maps cannot be swapped, so a migration loads a new program with new maps:
//! [`copy`] fills a new map from the pinned one (bindings with their statistics slots moved as
//! planned, statistics, counters, interface roles) while the old program keeps forwarding; the
//! XDP links are then switched to the new program atomically; [`fold`] finally adds what the
//! old program counted between the copy and the switch. Traffic never stops. Statistics stay
//! exact except for one race: a packet the new program counts in the same binding slot during
//! the few microseconds [`fold`] takes to rewrite that slot is not counted. (The program's
//! per-CPU counters are plain increments and a map update from user space rewrites every CPU's
//! value: no order of these steps avoids a read-modify-write of a slot the new program counts
//! in.) `tests/tests/migration.rs` checks the catch-up exactly, with frames counted by the old
//! program between the copy and the switch and none during the fold.

use std::collections::BTreeMap;

use anchor_common::{
    BindingKey, BindingStats, BindingValue, CounterBlock, CounterValue, LpmKey, PeerAddr,
    counter::COUNTER_SLOTS,
    maps::{
        ACCESS_SOURCES, BINDING_STATS, BINDINGS, CN_ANCHORS, COUNTERS, DENSE, IFACE_INDEX, IFACES,
        NEXTHOPS, PEERS, POOLS, SHORT_PREFIXES, VISITING_L2,
    },
};
use aya::{
    Pod,
    maps::{Array, HashMap, MapData, MapError, PerCpuArray, PerCpuValues, lpm_trie::LpmTrie},
};

use super::{
    adopt::{Plan, open_typed, pinned_pools},
    pin::PinDir,
};
use crate::datapath::{
    dense_layout::DenseLayout,
    error::{AdoptError, DatapathError},
    maps::ProgramMaps,
    params::MapName,
};

/// Per-CPU values that can be added and subtracted (wrapping, as the program counts).
trait Tally: Pod + Default + PartialEq {
    fn plus(self, other: Self) -> Self;
    fn minus(self, other: Self) -> Self;
}

impl Tally for BindingStats {
    fn plus(mut self, other: Self) -> Self {
        for d in 0..2 {
            self.packets[d] = self.packets[d].wrapping_add(other.packets[d]);
            self.bytes[d] = self.bytes[d].wrapping_add(other.bytes[d]);
        }
        self
    }
    fn minus(mut self, other: Self) -> Self {
        for d in 0..2 {
            self.packets[d] = self.packets[d].wrapping_sub(other.packets[d]);
            self.bytes[d] = self.bytes[d].wrapping_sub(other.bytes[d]);
        }
        self
    }
}

impl Tally for CounterValue {
    fn plus(self, other: Self) -> Self {
        Self {
            packets: self.packets.wrapping_add(other.packets),
            bytes: self.bytes.wrapping_add(other.bytes),
        }
    }
    fn minus(self, other: Self) -> Self {
        Self {
            packets: self.packets.wrapping_sub(other.packets),
            bytes: self.bytes.wrapping_sub(other.bytes),
        }
    }
}

/// A per-CPU map copied into its replacement: the old map and what was copied, slot by slot.
struct Copied<V: Pod> {
    name: MapName,
    old: PerCpuArray<MapData, V>,
    /// (old index, new index, values copied).
    taken: Vec<(u32, u32, PerCpuValues<V>)>,
}

/// The counters of a build that kept one per-CPU value per counter, copied into the slots of
/// the new block: the old map and the values copied, counter by counter.
struct CopiedCounters {
    old: PerCpuArray<MapData, CounterValue>,
    /// (counter index, values copied).
    taken: Vec<(u32, PerCpuValues<CounterValue>)>,
}

/// A map migrated by [`copy`], to be finished by [`fold`] once the old program has stopped.
pub struct Migration(Counted);

enum Counted {
    /// The old program never changes this map.
    Nothing,
    Stats(Copied<BindingStats>),
    Counters(CopiedCounters),
}

fn copy_error(name: MapName) -> impl Fn(MapError) -> DatapathError {
    move |source| DatapathError::Map {
        operation: "migrate",
        name,
        source,
    }
}

/// Copies every entry of the hash map pinned at `path` into `new`, as it is.
fn copy_hash<K: Pod, V: Pod>(
    path: &std::path::Path,
    new: &mut HashMap<MapData, K, V>,
    read_error: impl Fn(MapError) -> AdoptError,
    write_error: &impl Fn(MapError) -> DatapathError,
) -> Result<(), DatapathError> {
    let old: HashMap<MapData, K, V> = open_typed(path)?;
    for entry in &old {
        let (key, value) = entry.map_err(&read_error)?;
        new.insert(key, value, 0).map_err(write_error)?;
    }
    Ok(())
}

fn moved(mut value: BindingValue, moves: &BTreeMap<u32, u32>) -> BindingValue {
    if let Some(&slot) = moves.get(&value.stats_slot) {
        value.stats_slot = slot;
    }
    value
}

/// Copies every entry of the pinned map `name` into the new map of the same name in `maps`.
pub fn copy(
    maps: &mut ProgramMaps,
    pins: &PinDir,
    name: MapName,
    plan: &Plan,
) -> Result<Migration, DatapathError> {
    let path = pins.map(name);
    let read_error = |source| AdoptError::ReadMap {
        path: path.clone(),
        source,
    };
    let write_error = copy_error(name);
    let counted = match name {
        BINDINGS => {
            let old: HashMap<MapData, BindingKey, BindingValue> = open_typed(&path)?;
            for entry in &old {
                let (key, value) = entry.map_err(read_error)?;
                maps.bindings
                    .insert(key, moved(value, &plan.slot_moves), 0)
                    .map_err(&write_error)?;
            }
            Counted::Nothing
        }
        SHORT_PREFIXES => {
            let old: LpmTrie<MapData, LpmKey, BindingValue> = open_typed(&path)?;
            for entry in &old {
                let (key, value) = entry.map_err(read_error)?;
                maps.short_prefixes
                    .insert(&key, moved(value, &plan.slot_moves), 0)
                    .map_err(&write_error)?;
            }
            Counted::Nothing
        }
        DENSE => {
            copy_dense(maps, pins, plan)?;
            Counted::Nothing
        }
        PEERS => {
            // Indices stay: the bindings refer to them.
            let old: Array<MapData, PeerAddr> = open_typed(&path)?;
            let common = old.len().min(maps.peer_addrs.len());
            for index in 0..common {
                let value = old.get(&index, 0).map_err(read_error)?;
                if value != PeerAddr::default() {
                    maps.peer_addrs.set(index, value, 0).map_err(&write_error)?;
                }
            }
            Counted::Nothing
        }
        // Derived state: the resolver fills `NEXTHOPS` (until then the program asks the FIB);
        // `POOLS` is written from the configuration when the program is loaded, `IFACE_INDEX`
        // from `IFACES` before the program sees a packet.
        NEXTHOPS | POOLS | IFACE_INDEX => Counted::Nothing,
        CN_ANCHORS => {
            copy_hash(&path, &mut maps.cn_anchors, read_error, &write_error)?;
            Counted::Nothing
        }
        VISITING_L2 => {
            copy_hash(&path, &mut maps.visiting_l2, read_error, &write_error)?;
            Counted::Nothing
        }
        ACCESS_SOURCES => {
            copy_hash(&path, &mut maps.access_sources, read_error, &write_error)?;
            Counted::Nothing
        }
        IFACES => {
            copy_hash(&path, &mut maps.ifaces, read_error, &write_error)?;
            Counted::Nothing
        }
        BINDING_STATS => {
            let old: PerCpuArray<MapData, BindingStats> = open_typed(&path)?;
            let old_len = old.len();
            let slots = plan
                .used_slots
                .iter()
                .filter(move |&&slot| slot < old_len)
                .map(|&slot| (slot, plan.slot_moves.get(&slot).copied().unwrap_or(slot)));
            Counted::Stats(copy_per_cpu(
                name,
                old,
                &mut maps.binding_stats,
                slots,
                &read_error,
            )?)
        }
        COUNTERS => {
            // `plan` recreates it only when an older build pinned one value per counter.
            let old: PerCpuArray<MapData, CounterValue> = open_typed(&path)?;
            Counted::Counters(copy_counters(old, &mut maps.counters, &read_error)?)
        }
        // `plan` only recreates the maps above.
        _ => return Err(DatapathError::MissingMap { name }),
    };
    Ok(Migration(counted))
}

/// Moves each binding of the pinned dense table to its slot under the new pools, or to the
/// hash map when its pool is gone.
fn copy_dense(maps: &mut ProgramMaps, pins: &PinDir, plan: &Plan) -> Result<(), DatapathError> {
    let path = pins.map(DENSE);
    let read_error = |source| AdoptError::ReadMap {
        path: path.clone(),
        source,
    };
    let write_error = copy_error(DENSE);
    // Each binding of the old pools to its slot in the new ones, or to the hash map.
    let ranges = pinned_pools(pins)?;
    let old: Array<MapData, BindingValue> = open_typed(&path)?;
    for index in 0..old.len() {
        let value = old.get(&index, 0).map_err(read_error)?;
        if value.kind == 0 {
            continue;
        }
        let prefix = DenseLayout::prefix_at(&ranges, index).ok_or_else(|| {
            DatapathError::CorruptBinding {
                prefix: ipnet::Ipv6Net::default(),
                reason: format!("slot {index} of the pinned {DENSE} is outside its pools"),
            }
        })?;
        let value = moved(value, &plan.slot_moves);
        if let Some(slot) = maps.layout.index_of(prefix) {
            maps.dense.set(slot, value, 0).map_err(&write_error)?;
        } else {
            let key = BindingKey::from_addr(&prefix.network().octets());
            maps.bindings
                .insert(key, value, 0)
                .map_err(copy_error(BINDINGS))?;
        }
    }
    Ok(())
}

fn copy_per_cpu<V: Pod>(
    name: MapName,
    old: PerCpuArray<MapData, V>,
    new: &mut PerCpuArray<MapData, V>,
    indexes: impl Iterator<Item = (u32, u32)>,
    read_error: &impl Fn(MapError) -> AdoptError,
) -> Result<Copied<V>, DatapathError> {
    let mut taken = Vec::new();
    for (from, to) in indexes {
        let values = old.get(&from, 0).map_err(read_error)?;
        let copy = PerCpuValues::try_from(values.to_vec()).map_err(DatapathError::Cpus)?;
        new.set(to, copy, 0).map_err(copy_error(name))?;
        taken.push((from, to, values));
    }
    Ok(Copied { name, old, taken })
}

/// Copies each counter of an older build's `COUNTERS` (one per-CPU value per counter, indexed
/// as this build's counters) into its slot of the new block, on every CPU.
fn copy_counters(
    old: PerCpuArray<MapData, CounterValue>,
    new: &mut PerCpuArray<MapData, CounterBlock>,
    read_error: &impl Fn(MapError) -> AdoptError,
) -> Result<CopiedCounters, DatapathError> {
    let slots = old
        .len()
        .min(u32::try_from(COUNTER_SLOTS).unwrap_or(u32::MAX));
    let mut taken = Vec::new();
    for index in 0..slots {
        taken.push((index, old.get(&index, 0).map_err(read_error)?));
    }
    let mut blocks = new.get(&0, 0).map_err(copy_error(COUNTERS))?.to_vec();
    add_counters(
        &mut blocks,
        taken
            .iter()
            .map(|(index, values)| (*index, values.to_vec())),
    );
    let blocks = PerCpuValues::try_from(blocks).map_err(DatapathError::Cpus)?;
    new.set(0, blocks, 0).map_err(copy_error(COUNTERS))?;
    Ok(CopiedCounters { old, taken })
}

/// Adds, CPU by CPU, each counter's values to its slot of the blocks.
fn add_counters(
    blocks: &mut [CounterBlock],
    counters: impl Iterator<Item = (u32, Vec<CounterValue>)>,
) {
    for (index, values) in counters {
        let Some(slot) = usize::try_from(index).ok().filter(|&i| i < COUNTER_SLOTS) else {
            continue;
        };
        for (block, value) in blocks.iter_mut().zip(values) {
            block.slots[slot] = block.slots[slot].plus(value);
        }
    }
}

/// Adds to the new maps what the old program counted after [`copy`]. Call it once no CPU runs
/// the old program any more ([`wait_for_running_programs`]).
pub fn fold(maps: &mut ProgramMaps, migrations: Vec<Migration>) -> Result<(), DatapathError> {
    for Migration(counted) in migrations {
        match counted {
            Counted::Nothing => {}
            Counted::Stats(copied) => fold_per_cpu(copied, &mut maps.binding_stats)?,
            Counted::Counters(copied) => fold_counters(copied, &mut maps.counters)?,
        }
    }
    Ok(())
}

/// What was counted on each CPU between `before` and `after`; `None` when nothing was.
fn counted_since<V: Tally>(after: &PerCpuValues<V>, before: &PerCpuValues<V>) -> Option<Vec<V>> {
    let delta: Vec<V> = after
        .iter()
        .zip(before.iter())
        .map(|(a, b)| a.minus(*b))
        .collect();
    delta.iter().any(|d| *d != V::default()).then_some(delta)
}

fn fold_per_cpu<V: Tally>(
    copied: Copied<V>,
    new: &mut PerCpuArray<MapData, V>,
) -> Result<(), DatapathError> {
    let error = copy_error(copied.name);
    for (from, to, before) in copied.taken {
        let Some(delta) = counted_since(&copied.old.get(&from, 0).map_err(&error)?, &before) else {
            continue;
        };
        let current = new.get(&to, 0).map_err(&error)?;
        let sum: Vec<V> = current
            .iter()
            .zip(&delta)
            .map(|(c, d)| c.plus(*d))
            .collect();
        let sum = PerCpuValues::try_from(sum).map_err(DatapathError::Cpus)?;
        new.set(to, sum, 0).map_err(&error)?;
    }
    Ok(())
}

/// [`fold_per_cpu`] for an older build's counters copied into the block.
fn fold_counters(
    copied: CopiedCounters,
    new: &mut PerCpuArray<MapData, CounterBlock>,
) -> Result<(), DatapathError> {
    let error = copy_error(COUNTERS);
    let mut deltas = Vec::new();
    for (index, before) in copied.taken {
        if let Some(delta) = counted_since(&copied.old.get(&index, 0).map_err(&error)?, &before) {
            deltas.push((index, delta));
        }
    }
    if deltas.is_empty() {
        return Ok(());
    }
    let mut blocks = new.get(&0, 0).map_err(&error)?.to_vec();
    add_counters(&mut blocks, deltas.into_iter());
    let blocks = PerCpuValues::try_from(blocks).map_err(DatapathError::Cpus)?;
    new.set(0, blocks, 0).map_err(&error)
}

/// Waits until every CPU has left the XDP programs it was running (an RCU grace period):
/// after the links are switched, only the new program runs from then on.
pub fn wait_for_running_programs() {
    // MEMBARRIER_CMD_GLOBAL waits for an RCU grace period (synchronize_rcu), and XDP runs
    // inside RCU read-side sections.
    const MEMBARRIER_CMD_GLOBAL: libc::c_long = 1;
    // SAFETY: membarrier takes no pointers.
    let status = unsafe { libc::syscall(libc::SYS_membarrier, MEMBARRIER_CMD_GLOBAL, 0, 0) };
    if status != 0 {
        // Not silent: a sleep is a guess at the grace period, not a guarantee.
        tracing::warn!(
            "membarrier(MEMBARRIER_CMD_GLOBAL) failed: {}; waiting 100 ms instead, which only \
             probably outlasts the old program's last packets",
            std::io::Error::last_os_error()
        );
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tallies_add_and_subtract_per_field() {
        let a = BindingStats {
            packets: [5, 7],
            bytes: [500, 700],
        };
        let b = BindingStats {
            packets: [2, 0],
            bytes: [200, 0],
        };
        assert_eq!(
            a.minus(b),
            BindingStats {
                packets: [3, 7],
                bytes: [300, 700]
            }
        );
        assert_eq!(a.minus(b).plus(b), a);
        let c = CounterValue {
            packets: 0,
            bytes: 1,
        };
        assert_eq!(
            c.minus(CounterValue {
                packets: 1,
                bytes: 1
            })
            .packets,
            u64::MAX
        );
    }

    #[test]
    fn older_counters_add_into_their_slots_cpu_by_cpu() {
        let one = |packets, bytes| CounterValue { packets, bytes };
        let mut blocks = vec![CounterBlock::default(); 2];
        blocks[1].slots[3] = one(1, 10);
        add_counters(
            &mut blocks,
            [
                (3, vec![one(2, 20), one(4, 40)]),
                (0, vec![one(5, 50), one(0, 0)]),
                // Beyond the block: not a counter of this build.
                (
                    u32::try_from(COUNTER_SLOTS).unwrap(),
                    vec![one(9, 9), one(9, 9)],
                ),
            ]
            .into_iter(),
        );
        let mut expected = vec![CounterBlock::default(); 2];
        expected[0].slots[3] = one(2, 20);
        expected[0].slots[0] = one(5, 50);
        expected[1].slots[3] = one(5, 50);
        assert_eq!(blocks, expected);
    }

    #[test]
    fn only_listed_slots_move() {
        let value = BindingValue::redirect(1, 9);
        let moves = BTreeMap::from([(9, 2)]);
        assert_eq!(moved(value, &moves).stats_slot, 2);
        assert_eq!(moved(value, &BTreeMap::new()).stats_slot, 9);
    }
}
