//! The bindings in the maps: inserting, removing and reading them.

use anchor_common::{
    BindingValue,
    maps::{BINDINGS, SHORT_PREFIXES},
};
use aya::maps::MapError;
use ipnet::Ipv6Net;

use super::{
    binding_spec::BindingSpec,
    keys::{Slot, prefix_of, slot_of},
    map_error::{errno, insert_error, map_error},
    program_maps::ProgramMaps,
};
use crate::{datapath::error::DatapathError, prefix::MAX_PREFIX_LEN};

impl ProgramMaps {
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
        let index = self.acquire_peer(spec.peer)?;
        let value = spec.value(index);
        let result = match &slot {
            Slot::Hash(key) => self
                .bindings
                .insert(key, value, 0)
                .map_err(insert_error(BINDINGS)),
            Slot::Trie(key) => self
                .short_prefixes
                .insert(key, value, 0)
                .map_err(insert_error(SHORT_PREFIXES)),
        };
        if let Err(error) = result {
            self.release_peer(index);
            return Err(error);
        }
        if let Some(old) = old {
            self.release_peer(old.peer);
        }
        if matches!(slot, Slot::Trie(_)) {
            self.update_short_prefix_bit()?;
        }
        Ok(())
    }

    /// Removes the binding for `prefix`; [`DatapathError::BindingNotFound`] when there is none.
    pub fn remove_binding(&mut self, prefix: Ipv6Net) -> Result<(), DatapathError> {
        let slot = slot_of(prefix)?;
        let old = self.get_value(&slot)?;
        let (name, result) = match &slot {
            Slot::Hash(key) => (BINDINGS, self.bindings.remove(key)),
            Slot::Trie(key) => (SHORT_PREFIXES, self.short_prefixes.remove(key)),
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
            self.release_peer(old.peer);
        }
        if matches!(slot, Slot::Trie(_)) {
            self.update_short_prefix_bit()?;
        }
        Ok(())
    }

    /// The map value stored for exactly `slot`, if any.
    fn get_value(&self, slot: &Slot) -> Result<Option<BindingValue>, DatapathError> {
        let (name, result) = match slot {
            Slot::Hash(key) => (BINDINGS, self.bindings.get(key, 0)),
            Slot::Trie(key) => (SHORT_PREFIXES, self.short_prefixes.get(key, 0)),
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
            .map(|value| self.spec(prefix.trunc(), value))
            .transpose()
    }

    /// Every binding in the maps (/64s from the hash map, shorter prefixes from the trie), as
    /// a daemon adopting pinned maps finds them.
    pub fn bindings(&self) -> Result<Vec<(Ipv6Net, BindingSpec)>, DatapathError> {
        let mut bindings = Vec::new();
        for entry in &self.bindings {
            let (key, value) = entry.map_err(map_error("list", BINDINGS))?;
            let prefix = prefix_of(key.prefix, MAX_PREFIX_LEN);
            bindings.push((prefix, self.spec(prefix, value)?));
        }
        for entry in &self.short_prefixes {
            let (key, value) = entry.map_err(map_error("list", SHORT_PREFIXES))?;
            // The trie's keys are at most /64: longer ones are never inserted.
            let len = u8::try_from(key.prefix_len()).unwrap_or(MAX_PREFIX_LEN);
            let prefix = prefix_of(key.data().data, len.min(MAX_PREFIX_LEN));
            bindings.push((prefix, self.spec(prefix, value)?));
        }
        Ok(bindings)
    }
}
