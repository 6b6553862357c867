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
use aya::maps::{IterableMap as _, Map, MapData, xdp::DevMapHash};

use super::map_error::map_error;
use crate::datapath::error::DatapathError;

/// A descriptor of `TX_PORTS`.
pub struct TxPorts {
    map: DevMapHash<MapData>,
}

impl TxPorts {
    pub(super) fn new(map: DevMapHash<MapData>) -> Self {
        Self { map }
    }

    /// A descriptor of its own on the map with the kernel's id `id`.
    pub(super) fn open(id: u32) -> Result<Self, DatapathError> {
        let data = MapData::from_id(id).map_err(map_error("open", TX_PORTS))?;
        let map = DevMapHash::try_from(Map::DevMapHash(data)).map_err(|source| {
            DatapathError::MapType {
                name: TX_PORTS,
                source,
            }
        })?;
        Ok(Self::new(map))
    }

    /// The kernel's id of the map.
    pub(super) fn id(&self) -> Result<u32, DatapathError> {
        Ok(self
            .map
            .map()
            .info()
            .map_err(map_error("inspect", TX_PORTS))?
            .id())
    }

    /// Puts the interface with index `ifindex` (in the calling thread's namespace) in the map,
    /// or writes its entry again (the device the index names now).
    pub fn add(&mut self, ifindex: u32) -> Result<(), DatapathError> {
        self.map
            .insert(ifindex, ifindex, None, 0)
            .map_err(|source| DatapathError::TxPort { ifindex, source })
    }

    /// The interfaces in the map.
    pub fn ifindexes(&self) -> Result<Vec<u32>, DatapathError> {
        self.map
            .keys()
            .collect::<Result<Vec<_>, _>>()
            .map_err(map_error("list", TX_PORTS))
    }
}
