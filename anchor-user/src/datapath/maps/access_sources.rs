//! The /64s allowed as IPv6 sources on the access interfaces (`ACCESS_SOURCES`), which the
//! program reads on an access interface with source validation.

use anchor_common::{AccessSourceKey, AccessSourceValue, maps::ACCESS_SOURCES};
use ipnet::Ipv6Net;

use super::{
    keys::{prefix_of, upper_bytes},
    map_error::{errno, insert_error, map_error},
    program_maps::ProgramMaps,
};
use crate::{datapath::error::DatapathError, prefix::MAX_PREFIX_LEN};

/// One entry of `ACCESS_SOURCES`: a /64 allowed on an access interface, from any MAC or only
/// from its node's.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AccessSource {
    pub ifindex: u32,
    pub prefix: Ipv6Net,
    pub mac: Option<[u8; 6]>,
}

fn key(ifindex: u32, prefix: Ipv6Net) -> Result<AccessSourceKey, DatapathError> {
    if prefix.prefix_len() != MAX_PREFIX_LEN {
        return Err(DatapathError::AccessSourceNotA64 { prefix });
    }
    Ok(AccessSourceKey::new(ifindex, upper_bytes(prefix)))
}

impl ProgramMaps {
    /// Allows the /64 `prefix` as a source on the interface `ifindex`: from any Ethernet source,
    /// or only from `mac`. Replaces the entry there was.
    pub fn set_access_source(
        &mut self,
        ifindex: u32,
        prefix: Ipv6Net,
        mac: Option<[u8; 6]>,
    ) -> Result<(), DatapathError> {
        let key = key(ifindex, prefix)?;
        self.access_sources
            .insert(key, AccessSourceValue::new(mac), 0)
            .map_err(insert_error(ACCESS_SOURCES))
    }

    /// No longer allows the /64 `prefix` on the interface `ifindex`; nothing when it was not.
    pub fn remove_access_source(
        &mut self,
        ifindex: u32,
        prefix: Ipv6Net,
    ) -> Result<(), DatapathError> {
        let key = key(ifindex, prefix)?;
        match self.access_sources.remove(&key) {
            Ok(()) => Ok(()),
            Err(error) if errno(&error) == Some(libc::ENOENT) => Ok(()),
            Err(source) => Err(map_error("remove", ACCESS_SOURCES)(source)),
        }
    }

    /// Every entry of `ACCESS_SOURCES`, ordered by interface and prefix.
    pub fn access_sources(&self) -> Result<Vec<AccessSource>, DatapathError> {
        let mut entries = self
            .access_sources
            .iter()
            .map(|entry| {
                let (key, value) = entry.map_err(map_error("list", ACCESS_SOURCES))?;
                Ok(AccessSource {
                    ifindex: key.ifindex,
                    prefix: prefix_of(key.prefix, MAX_PREFIX_LEN),
                    mac: value.mac(),
                })
            })
            .collect::<Result<Vec<_>, DatapathError>>()?;
        entries.sort_by_key(|e| (e.ifindex, e.prefix));
        Ok(entries)
    }
}
