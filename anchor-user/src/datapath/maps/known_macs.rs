//! The nodes known on the access interfaces (`KNOWN_MACS`): frames from any other MAC on an
//! access interface with first-frame attachment are reported to the daemon.

use anchor_common::{AccessMac, maps::KNOWN_MACS};

use super::{
    map_error::{errno, insert_error, map_error},
    program_maps::ProgramMaps,
};
use crate::datapath::error::DatapathError;

impl ProgramMaps {
    /// Knows the node `mac` on the interface `ifindex`: its frames there are no longer reported.
    pub fn set_known_mac(&mut self, ifindex: u32, mac: [u8; 6]) -> Result<(), DatapathError> {
        self.known_macs
            .insert(AccessMac::new(ifindex, mac), 1, 0)
            .map_err(insert_error(KNOWN_MACS))
    }

    /// Forgets the node `mac` on the interface `ifindex`; nothing when it was not known.
    pub fn remove_known_mac(&mut self, ifindex: u32, mac: [u8; 6]) -> Result<(), DatapathError> {
        match self.known_macs.remove(&AccessMac::new(ifindex, mac)) {
            Ok(()) => Ok(()),
            Err(error) if errno(&error) == Some(libc::ENOENT) => Ok(()),
            Err(source) => Err(map_error("remove", KNOWN_MACS)(source)),
        }
    }

    /// Every entry of `KNOWN_MACS` as (ifindex, MAC), ordered.
    pub fn known_macs(&self) -> Result<Vec<(u32, [u8; 6])>, DatapathError> {
        let mut entries = self
            .known_macs
            .keys()
            .map(|key| key.map(|k| (k.ifindex, k.mac)))
            .collect::<Result<Vec<_>, _>>()
            .map_err(map_error("list", KNOWN_MACS))?;
        entries.sort_unstable();
        Ok(entries)
    }
}
