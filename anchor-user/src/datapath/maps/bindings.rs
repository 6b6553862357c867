//! The bindings in the maps: inserting, removing and reading them.

use anchor_common::{
    BindingKey, BindingValue,
    maps::{BINDINGS, DENSE, SHORT_PREFIXES},
};
use aya::maps::MapError;
use ipnet::Ipv6Net;

use super::{
    binding_spec::BindingSpec,
    keys::{Slot, prefix_of, slot_of},
    map_error::{errno, insert_error, map_error},
    program_maps::ProgramMaps,
};
use crate::{
    datapath::{dense_layout::DenseLayout, error::DatapathError},
    prefix::MAX_PREFIX_LEN,
};

impl ProgramMaps {
    /// Inserts or replaces the binding for `prefix`: a /64 of a pool goes to the dense table,
    /// another /64 to the hash map, a shorter prefix to the LPM trie, a longer one is an error. Host bits are ignored. The peer gets
    /// a `PEERS` index (shared with the other bindings of that peer).
    pub fn insert_binding(
        &mut self,
        prefix: Ipv6Net,
        spec: BindingSpec,
    ) -> Result<(), DatapathError> {
        let slot = slot_of(prefix, &self.layout)?;
        let old = self.get_value(&slot)?;
        let index = self.acquire_peer(spec.peer)?;
        let value = spec.value(index);
        let result = match &slot {
            Slot::Dense(index) => self
                .dense
                .set(*index, value, 0)
                .map_err(insert_error(DENSE)),
            Slot::Hash(key) => self
                .bindings
                .insert(key, value, 0)
                .map_err(insert_error(BINDINGS)),
            Slot::Trie(key) => self
                .short_prefixes
                .insert(key, value, 0)
                .map_err(insert_error(SHORT_PREFIXES)),
        };
        let changed = self.lookups_changed();
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
        self.refresh_carried_binding(prefix.trunc())?;
        self.binding_changed(prefix.trunc(), Some(value))?;
        // The binding is in place, its peer accounted for: a failure to tell the caches last.
        changed
    }

    /// Removes the binding for `prefix`; [`DatapathError::BindingNotFound`] when there is none.
    pub fn remove_binding(&mut self, prefix: Ipv6Net) -> Result<(), DatapathError> {
        let slot = slot_of(prefix, &self.layout)?;
        let old = self.get_value(&slot)?;
        let (name, result) = match &slot {
            Slot::Dense(index) => (
                DENSE,
                match old {
                    Some(_) => self.dense.set(*index, BindingValue::EMPTY, 0),
                    None => Err(MapError::KeyNotFound),
                },
            ),
            Slot::Hash(key) => (BINDINGS, self.bindings.remove(key)),
            Slot::Trie(key) => (SHORT_PREFIXES, self.short_prefixes.remove(key)),
        };
        self.lookups_changed()?;
        result.map_err(|source| {
            if matches!(source, MapError::KeyNotFound) || errno(&source) == Some(libc::ENOENT) {
                DatapathError::BindingNotFound {
                    prefix: prefix.trunc(),
                    name,
                }
            } else {
                DatapathError::Map {
                    operation: "remove",
                    name,
                    source,
                }
            }
        })?;
        if let Some(old) = old {
            self.release_peer(old.peer);
        }
        if matches!(slot, Slot::Trie(_)) {
            self.update_short_prefix_bit()?;
        }
        self.refresh_carried_binding(prefix.trunc())?;
        self.binding_changed(prefix.trunc(), None)
    }

    /// The map value stored for exactly `slot`, if any.
    pub(super) fn get_value(&self, slot: &Slot) -> Result<Option<BindingValue>, DatapathError> {
        let (name, result) = match slot {
            Slot::Dense(index) => (
                DENSE,
                self.dense.get(index, 0).and_then(|value| {
                    if value.kind == 0 {
                        Err(MapError::KeyNotFound)
                    } else {
                        Ok(value)
                    }
                }),
            ),
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
        self.get_value(&slot_of(prefix, &self.layout)?)?
            .map(|value| self.spec(prefix.trunc(), value))
            .transpose()
    }

    /// Every binding in the maps (/64s from the dense table and the hash map, shorter prefixes
    /// from the trie), as a daemon adopting pinned maps finds them.
    pub fn bindings(&self) -> Result<Vec<(Ipv6Net, BindingSpec)>, DatapathError> {
        let mut bindings = Vec::new();
        let ranges = self.layout.ranges();
        for (index, value) in self.dense_entries()? {
            let prefix = DenseLayout::prefix_at(&ranges, index).ok_or_else(|| {
                DatapathError::CorruptBinding {
                    prefix: Ipv6Net::default(),
                    reason: format!("slot {index} of {DENSE} is outside every pool"),
                }
            })?;
            bindings.push((prefix, self.spec(prefix, value)?));
        }
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

    /// Copies each binding of the hash map whose /64 is in a pool into the dense table (where
    /// the program now looks for it), and returns their keys: what a start with new pools (or
    /// pins without a dense table) must remove from the hash map once the old program has
    /// stopped, with [`Self::remove_hash_entries`].
    pub(in crate::datapath) fn move_pool_bindings(
        &mut self,
    ) -> Result<Vec<BindingKey>, DatapathError> {
        let mut moved = Vec::new();
        for entry in &self.bindings {
            let (key, value) = entry.map_err(map_error("list", BINDINGS))?;
            if let Some(index) = self.layout.index_of(prefix_of(key.prefix, MAX_PREFIX_LEN)) {
                moved.push((key, index, value));
            }
        }
        let set = moved
            .iter()
            .try_for_each(|&(_, index, value)| self.dense.set(index, value, 0));
        // Once for them all, also after a write that failed.
        self.lookups_changed()?;
        set.map_err(insert_error(DENSE))?;
        Ok(moved.into_iter().map(|(key, ..)| key).collect())
    }

    /// Removes `keys` from the hash map (see [`Self::move_pool_bindings`]).
    pub(in crate::datapath) fn remove_hash_entries(
        &mut self,
        keys: &[BindingKey],
    ) -> Result<(), DatapathError> {
        let removed = keys.iter().try_for_each(|key| self.bindings.remove(key));
        // Once for them all, also after a removal that failed.
        self.lookups_changed()?;
        removed.map_err(map_error("remove", BINDINGS))
    }
}
