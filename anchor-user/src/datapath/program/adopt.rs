//! Deciding what to do with an instance's pinned maps before the program is loaded.
//!
//! Each map of the contract is compared with what this build and config expect: type, key size,
//! value size and flags must be equal, or the daemon stops with an error that names every
//! difference. When only the capacity differs (`max_bindings` changed), the map is recreated with
//! the new capacity and its entries are copied (`migrate.rs`). So is the `COUNTERS` of a build
//! that kept one value per counter: its counters are copied into the slots of this build's
//! block (a build that adds counters keeps the block). A map that is not pinned yet is created
//! and pinned.

use std::collections::{BTreeMap, BTreeSet};

use anchor_common::{
    BindingKey, BindingValue, CounterValue, LpmKey, PoolRange,
    maps::{
        ACCESS_SOURCES, BINDING_STATS, BINDINGS, CN_ANCHORS, COUNTERS, DENSE, IFACE_INDEX, IFACES,
        NEXTHOPS, PEERS, POOLS, SHORT_PREFIXES, VISITING_L2,
    },
};
use aya::maps::{Array, HashMap, Map, MapData, MapError, MapInfo, MapType, lpm_trie::LpmTrie};
use aya_obj::generated::bpf_map_type;

use super::pin::PinDir;
use crate::{
    EBPF_OBJECT,
    datapath::{
        dense_layout::DenseLayout,
        error::{AdoptError, DatapathError},
        params::MapName,
    },
};

/// The maps that hold the instance's state, pinned under `maps/`. The others (`.rodata` with
/// the load-time globals, the log ring, `DEBUG`, `SETTINGS`, which the daemon derives from the
/// maps, and the per-CPU lookup caches, which start empty) belong to one load of the program.
/// `NEXTHOPS` is derived state too, but pinned so that the old and the new program share it
/// during a restart; pins of a build without it get it
/// created (empty: every peer goes through the FIB until the resolver fills it). `VISITING_L2`
/// belongs to the bindings; pins of a build without it get it created (empty: decapsulated
/// packets go through the FIB until the daemon writes the entries of its visiting bindings).
/// `CN_ANCHORS` comes from the configuration, pinned so that the old and the new program agree
/// during a restart; pins of a build without it get it created (the daemon fills it at start).
/// `ACCESS_SOURCES` belongs to the delegated routes and the visiting bindings, pinned so that an
/// access link with source validation keeps its nodes' sources across a restart; pins of a build
/// without it get it created (empty: until the daemon writes its entries, only link-local and
/// unspecified sources pass there). `DENSE` belongs to the bindings and `POOLS` says where its
/// entries are: both are recreated together whenever the pools change (the bindings move to
/// their new slots, or to the hash map when their pool is gone), and pins of a build without
/// them get them created and the pinned bindings of the pools moved in. `IFACE_INDEX` mirrors
/// `IFACES`, pinned so that the old and the new program agree during a restart; pins of a build
/// without it get it created and filled from `IFACES`.
pub const PINNED_MAPS: [MapName; 13] = [
    BINDINGS,
    SHORT_PREFIXES,
    PEERS,
    BINDING_STATS,
    COUNTERS,
    IFACES,
    NEXTHOPS,
    VISITING_L2,
    CN_ANCHORS,
    ACCESS_SOURCES,
    DENSE,
    POOLS,
    IFACE_INDEX,
];

/// A map's shape: what the kernel checks when a program uses it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MapShape {
    /// `BPF_MAP_TYPE_*`.
    pub map_type: u32,
    pub key_size: u32,
    pub value_size: u32,
    pub max_entries: u32,
    pub flags: u32,
}

fn type_name(map_type: u32) -> String {
    bpf_map_type::try_from(map_type)
        .ok()
        .and_then(|t| MapType::try_from(t).ok())
        .map_or_else(|| format!("type {map_type}"), |t| format!("{t:?}"))
}

/// How a pinned map compares with the expected shape.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Comparison {
    Same,
    /// Only the capacity differs.
    Capacity {
        pinned: u32,
    },
}

/// Compares a pinned map with the expected shape; `Err` lists every difference but capacity.
pub fn compare(pinned: &MapShape, expected: &MapShape) -> Result<Comparison, String> {
    let mut differences = Vec::new();
    if pinned.map_type != expected.map_type {
        differences.push(format!(
            "type {}, expected {}",
            type_name(pinned.map_type),
            type_name(expected.map_type)
        ));
    }
    for (what, p, e) in [
        ("key size", pinned.key_size, expected.key_size),
        ("value size", pinned.value_size, expected.value_size),
    ] {
        if p != e {
            differences.push(format!("{what} {p}, expected {e}"));
        }
    }
    if pinned.flags != expected.flags {
        differences.push(format!(
            "flags {:#x}, expected {:#x}",
            pinned.flags, expected.flags
        ));
    }
    if !differences.is_empty() {
        return Err(differences.join("; "));
    }
    Ok(if pinned.max_entries == expected.max_entries {
        Comparison::Same
    } else {
        Comparison::Capacity {
            pinned: pinned.max_entries,
        }
    })
}

/// What the loader does with one map.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MapAction {
    /// Not pinned: create it and pin it.
    Create,
    /// Pinned and as expected: the new program uses it.
    Reuse,
    /// Pinned, to be replaced by a new map (another capacity, or stats slots that move) filled
    /// with its entries.
    Recreate,
}

/// The decisions for every pinned map, and the statistics slots that move.
#[derive(Debug)]
pub struct Plan {
    pub maps: Vec<(MapName, MapShape, MapAction)>,
    /// Old slot -> new slot, for the slots that do not fit the new capacity.
    pub slot_moves: BTreeMap<u32, u32>,
    /// The slots the pinned bindings use (read only when a binding map is recreated).
    pub used_slots: BTreeSet<u32>,
    /// Whether anything was pinned before.
    pub had_state: bool,
}

impl Plan {
    pub fn action(&self, name: MapName) -> MapAction {
        self.maps
            .iter()
            .find(|(n, ..)| *n == name)
            .map_or(MapAction::Create, |(_, _, action)| *action)
    }

    /// Marks `name` to be recreated, unless it is to be created.
    fn recreate_if_pinned(&mut self, name: MapName) {
        for (n, _, action) in &mut self.maps {
            if *n == name && *action == MapAction::Reuse {
                *action = MapAction::Recreate;
            }
        }
    }

    pub fn recreated(&self) -> impl Iterator<Item = MapName> + '_ {
        self.maps
            .iter()
            .filter(|(_, _, action)| *action == MapAction::Recreate)
            .map(|(name, ..)| *name)
    }
}

/// What this build expects of each pinned map, with the capacities from config.
pub fn expected_shapes(
    max_bindings: u32,
    dense_slots: u32,
) -> Result<Vec<(MapName, MapShape)>, DatapathError> {
    let object = aya_obj::Object::parse(EBPF_OBJECT)
        .map_err(|source| DatapathError::Object(aya::EbpfError::ParseError(source)))?;
    PINNED_MAPS
        .iter()
        .map(|&name| {
            let map = object
                .maps
                .get(name)
                .ok_or(DatapathError::MissingMap { name })?;
            let max_entries = match name {
                BINDINGS | BINDING_STATS => max_bindings,
                DENSE => dense_slots,
                _ => map.max_entries(),
            };
            Ok((
                name,
                MapShape {
                    map_type: map.map_type(),
                    key_size: map.key_size(),
                    value_size: map.value_size(),
                    max_entries,
                    flags: map.map_flags(),
                },
            ))
        })
        .collect()
}

/// Whether `pinned` is the `COUNTERS` of a build that kept one per-CPU value per counter
/// (`PerCpuArray<CounterValue>`, indexed by counter): recreated as this build's block, with
/// every counter copied into its slot.
fn legacy_counters(name: MapName, pinned: &MapShape) -> bool {
    name == COUNTERS
        && pinned.map_type == bpf_map_type::BPF_MAP_TYPE_PERCPU_ARRAY as u32
        && pinned.key_size == 4
        && usize::try_from(pinned.value_size).ok() == Some(size_of::<CounterValue>())
}

fn pinned_shape(info: &MapInfo) -> Result<MapShape, MapError> {
    Ok(MapShape {
        map_type: info.map_type()? as u32,
        key_size: info.key_size(),
        value_size: info.value_size(),
        max_entries: info.max_entries(),
        flags: info.map_flags(),
    })
}

/// Decides, for every map, whether the pinned one is reused, recreated or created.
pub fn plan(pins: &PinDir, max_bindings: u32, layout: &DenseLayout) -> Result<Plan, DatapathError> {
    let had_state = pins.has_state()?;
    let mut maps = Vec::new();
    for (name, expected) in expected_shapes(max_bindings, layout.slots())? {
        let path = pins.map(name);
        if !path.exists() {
            maps.push((name, expected, MapAction::Create));
            continue;
        }
        let open_error = |source| AdoptError::OpenMap {
            path: path.clone(),
            source,
        };
        let info = MapInfo::from_pin(&path).map_err(open_error)?;
        let pinned = pinned_shape(&info).map_err(open_error)?;
        let action = if legacy_counters(name, &pinned) {
            log::info!(
                "map {name}: one value per counter pinned (an older build): copying them into \
                 the counter block"
            );
            MapAction::Recreate
        } else {
            match compare(&pinned, &expected) {
                Ok(Comparison::Same) => MapAction::Reuse,
                Ok(Comparison::Capacity { pinned }) => {
                    log::info!(
                        "map {name}: capacity {pinned} pinned, {} configured: migrating its entries",
                        expected.max_entries
                    );
                    MapAction::Recreate
                }
                Err(differences) => {
                    return Err(AdoptError::MapMismatch { path, differences }.into());
                }
            }
        };
        maps.push((name, expected, action));
    }
    let mut plan = Plan {
        maps,
        slot_moves: BTreeMap::new(),
        used_slots: BTreeSet::new(),
        had_state,
    };

    if !same_pools(pins, &plan, layout)? {
        plan.recreate_if_pinned(DENSE);
        plan.recreate_if_pinned(POOLS);
    }

    let binding_maps = [BINDINGS, SHORT_PREFIXES, BINDING_STATS, DENSE];
    if binding_maps
        .iter()
        .any(|&name| plan.action(name) == MapAction::Recreate)
    {
        let (hash_count, slots) = pinned_slots(pins, &plan)?;
        if hash_count > max_bindings {
            return Err(AdoptError::TooManyBindings {
                name: BINDINGS,
                count: hash_count,
                capacity: max_bindings,
            }
            .into());
        }
        plan.slot_moves =
            plan_slot_moves(&slots, max_bindings).ok_or_else(|| AdoptError::TooManyBindings {
                name: BINDING_STATS,
                count: u32::try_from(slots.len()).unwrap_or(u32::MAX),
                capacity: max_bindings,
            })?;
        plan.used_slots = slots;
        if !plan.slot_moves.is_empty() {
            // Bindings point at their slots: both binding maps are rewritten.
            for name in binding_maps {
                plan.recreate_if_pinned(name);
            }
            // `POOLS` describes the pinned `DENSE`: they are replaced together.
            plan.recreate_if_pinned(POOLS);
        }
    }
    Ok(plan)
}

/// Whether the pinned `DENSE` and `POOLS` are reused as they are: both pinned with the expected
/// shape, and the pools the same as `layout`'s.
fn same_pools(pins: &PinDir, plan: &Plan, layout: &DenseLayout) -> Result<bool, DatapathError> {
    if plan.action(DENSE) != MapAction::Reuse || plan.action(POOLS) != MapAction::Reuse {
        return Ok(false);
    }
    Ok(pinned_pools(pins)? == layout.ranges())
}

/// The pools the pinned `POOLS` describes.
pub fn pinned_pools(pins: &PinDir) -> Result<Vec<PoolRange>, DatapathError> {
    let path = pins.map(POOLS);
    let map: Array<MapData, PoolRange> = open_typed(&path)?;
    (0..map.len())
        .map(|index| {
            map.get(&index, 0).map_err(|source| {
                AdoptError::ReadMap {
                    path: path.clone(),
                    source,
                }
                .into()
            })
        })
        .collect()
}

/// The number of /64 bindings and every statistics slot the pinned bindings use.
fn pinned_slots(pins: &PinDir, plan: &Plan) -> Result<(u32, BTreeSet<u32>), DatapathError> {
    let mut slots = BTreeSet::new();
    let mut hash_count = 0u32;
    if plan.action(BINDINGS) != MapAction::Create {
        let path = pins.map(BINDINGS);
        let map: HashMap<MapData, BindingKey, BindingValue> = open_typed(&path)?;
        for entry in &map {
            let (_, value) = entry.map_err(|source| AdoptError::ReadMap {
                path: path.clone(),
                source,
            })?;
            hash_count += 1;
            slots.insert(value.stats_slot);
        }
    }
    if plan.action(DENSE) != MapAction::Create {
        let path = pins.map(DENSE);
        let map: Array<MapData, BindingValue> = open_typed(&path)?;
        for index in 0..map.len() {
            let value = map.get(&index, 0).map_err(|source| AdoptError::ReadMap {
                path: path.clone(),
                source,
            })?;
            if value.kind != 0 {
                slots.insert(value.stats_slot);
            }
        }
    }
    if plan.action(SHORT_PREFIXES) != MapAction::Create {
        let path = pins.map(SHORT_PREFIXES);
        let map: LpmTrie<MapData, LpmKey, BindingValue> = open_typed(&path)?;
        for entry in &map {
            let (_, value) = entry.map_err(|source| AdoptError::ReadMap {
                path: path.clone(),
                source,
            })?;
            slots.insert(value.stats_slot);
        }
    }
    Ok((hash_count, slots))
}

/// Opens the map pinned at `path` as `T`.
pub fn open_typed<T>(path: &std::path::Path) -> Result<T, AdoptError>
where
    T: TryFrom<Map, Error = MapError>,
{
    let open_error = |source| AdoptError::OpenMap {
        path: path.to_owned(),
        source,
    };
    let data = MapData::from_pin(path).map_err(open_error)?;
    let map = Map::from_map_data(data).map_err(open_error)?;
    T::try_from(map).map_err(open_error)
}

/// New places for the slots at or above `capacity`, in the free slots below it (lowest
/// first); `None` when there are more slots than `capacity`.
pub fn plan_slot_moves(used: &BTreeSet<u32>, capacity: u32) -> Option<BTreeMap<u32, u32>> {
    if used.len() > usize::try_from(capacity).unwrap_or(usize::MAX) {
        return None;
    }
    let mut free = (0..capacity).filter(|slot| !used.contains(slot));
    used.range(capacity..)
        .map(|&slot| free.next().map(|new| (slot, new)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const HASH: MapShape = MapShape {
        map_type: bpf_map_type::BPF_MAP_TYPE_HASH as u32,
        key_size: 8,
        value_size: 24,
        max_entries: 64,
        flags: 0,
    };

    #[test]
    fn same_shape_and_capacity_change() {
        assert_eq!(compare(&HASH, &HASH), Ok(Comparison::Same));
        let bigger = MapShape {
            max_entries: 4096,
            ..HASH
        };
        assert_eq!(
            compare(&HASH, &bigger),
            Ok(Comparison::Capacity { pinned: 64 })
        );
    }

    #[test]
    fn every_other_difference_is_named() {
        let pinned = MapShape {
            map_type: bpf_map_type::BPF_MAP_TYPE_ARRAY as u32,
            key_size: 4,
            value_size: 16,
            max_entries: 8,
            flags: 1,
        };
        assert_eq!(
            compare(&pinned, &HASH),
            Err(
                "type Array, expected Hash; key size 4, expected 8; value size 16, expected 24; \
                 flags 0x1, expected 0x0"
                    .to_owned()
            )
        );
        let value = MapShape {
            value_size: 16,
            ..HASH
        };
        assert_eq!(
            compare(&value, &HASH),
            Err("value size 16, expected 24".to_owned())
        );
    }

    #[test]
    fn slots_that_fit_stay() {
        let used: BTreeSet<u32> = [0, 3, 7].into();
        assert_eq!(plan_slot_moves(&used, 8), Some(BTreeMap::new()));
        assert_eq!(plan_slot_moves(&BTreeSet::new(), 1), Some(BTreeMap::new()));
    }

    #[test]
    fn slots_above_the_capacity_move_to_free_ones() {
        let used: BTreeSet<u32> = [1, 5, 6, 9].into();
        assert_eq!(
            plan_slot_moves(&used, 5),
            Some([(5, 0), (6, 2), (9, 3)].into())
        );
        assert_eq!(
            plan_slot_moves(&used, 4),
            Some([(5, 0), (6, 2), (9, 3)].into())
        );
        assert_eq!(plan_slot_moves(&used, 3), None);
    }

    #[test]
    fn the_object_has_every_pinned_map() {
        let shapes = expected_shapes(100, 1).expect("shapes");
        assert_eq!(shapes.len(), PINNED_MAPS.len());
        let bindings = shapes
            .iter()
            .find(|(name, _)| *name == BINDINGS)
            .expect("BINDINGS");
        assert_eq!(bindings.1.max_entries, 100);
        assert_eq!(bindings.1.key_size, 8);
        assert_eq!(bindings.1.value_size, 8);
        let peers = shapes
            .iter()
            .find(|(name, _)| *name == PEERS)
            .expect("PEERS");
        assert_eq!(peers.1.value_size, 16);
        assert_eq!(peers.1.max_entries, anchor_common::config::MAX_PEERS);
    }
}
