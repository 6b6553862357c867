//! `TX_PORTS`: the interfaces the program redirects to through a device map.
//!
//! The program sends to an interface in `TX_PORTS` with `bpf_redirect_map`, which spares the
//! kernel its lookup of the interface by index on every packet; to any other interface with
//! `bpf_redirect`. So an entry is an optimisation only: a missing one costs speed, never a
//! packet. An entry holds a reference to the device that had its index in the namespace of the
//! thread that wrote it, and the kernel removes it when that device goes: entries are written
//! from the namespace the program forwards in (the daemon's), by the attachment of an interface
//! and by the next-hop resolver for the interfaces of its next hops.

use anchor_common::maps::TX_PORTS;
use aya::maps::{Map, MapData, MapError, xdp::DevMap};

use super::map_error::map_error;
use crate::datapath::error::DatapathError;

/// A descriptor of `TX_PORTS`.
pub struct TxPorts {
    map: DevMap<MapData>,
    /// The kernel's id of the map.
    id: u32,
}

impl TxPorts {
    /// `map`, which must be `TX_PORTS`.
    pub(super) fn new(map: Map) -> Result<Self, DatapathError> {
        // Any other type fails the conversion below.
        let id = match &map {
            Map::DevMap(data) => data.info().map_err(map_error("inspect", TX_PORTS))?.id(),
            _ => 0,
        };
        let map = DevMap::try_from(map).map_err(|source| DatapathError::MapType {
            name: TX_PORTS,
            source,
        })?;
        Ok(Self { map, id })
    }

    /// A descriptor of its own on the map with the kernel's id `id`.
    pub(super) fn open(id: u32) -> Result<Self, DatapathError> {
        let data = MapData::from_id(id).map_err(map_error("open", TX_PORTS))?;
        Self::new(Map::DevMap(data))
    }

    /// The kernel's id of the map.
    pub(super) fn id(&self) -> u32 {
        self.id
    }

    /// Puts the interface with index `ifindex` (in the calling thread's namespace) in the map,
    /// or writes its entry again (the device the index names now). An index from
    /// `MAX_TX_PORTS` up has no place in it.
    pub fn add(&mut self, ifindex: u32) -> Result<(), DatapathError> {
        self.map
            .set(ifindex, ifindex, None, 0)
            .map_err(|source| DatapathError::TxPort { ifindex, source })
    }

    /// The indexes that hold an interface.
    pub fn ifindexes(&self) -> Result<Vec<u32>, DatapathError> {
        let mut taken = Vec::new();
        for index in 0..self.map.len() {
            match self.map.get(index, 0) {
                Ok(_) => taken.push(index),
                // An empty slot.
                Err(MapError::KeyNotFound) => {}
                Err(source) => return Err(map_error("list", TX_PORTS)(source)),
            }
        }
        Ok(taken)
    }
}
