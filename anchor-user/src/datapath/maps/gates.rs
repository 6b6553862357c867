//! Two `SETTINGS` bits that let the program skip a lookup, kept from what the daemon writes.
//!
//! `SETTING_HASHED_REDIRECT`: whether a redirect binding lives outside the pools (in the hash
//! map or the trie). Without one, a packet arriving on an access interface whose destination
//! is outside the pools cannot be redirected, and the program looks its destination up only
//! when it needs it after the reverse tunnel.
//!
//! `SETTING_L2_UNBOUND`: whether `VISITING_L2` holds an entry for a /64 that the program would
//! not look up there. The program looks a native packet that no binding took up
//! in `VISITING_L2` only when its /64 is in a pool or has a binding, unless the bit is set; the
//! daemon keeps the /64s with an entry but neither (a relocated prefix, an entry written by
//! hand), and sets the bit while there is any. A /64 under a shorter prefix's binding counts as
//! unbound here (the program would find that binding, so this only errs toward the lookup).

use anchor_common::{
    BindingKind, BindingValue,
    maps::{BINDINGS, SETTING_HASHED_REDIRECT, SETTING_L2_UNBOUND, SHORT_PREFIXES, VISITING_L2},
};
use ipnet::Ipv6Net;

use super::{
    keys::{Slot, prefix_of, slot_of},
    map_error::map_error,
    program_maps::ProgramMaps,
};
use crate::{datapath::error::DatapathError, prefix::MAX_PREFIX_LEN};

impl ProgramMaps {
    /// Whether the /64 `prefix` is neither in a pool nor bound as a /64.
    fn unbound_64(&self, prefix: Ipv6Net) -> Result<bool, DatapathError> {
        Ok(match slot_of(prefix, &self.layout)? {
            Slot::Dense(_) => false,
            slot => self.get_value(&slot)?.is_none(),
        })
    }

    /// `VISITING_L2` has (`present`) or lost an entry for the /64 `prefix`.
    pub(super) fn l2_entry_changed(
        &mut self,
        prefix: Ipv6Net,
        present: bool,
    ) -> Result<(), DatapathError> {
        if present {
            self.l2_entries.insert(prefix);
        } else {
            self.l2_entries.remove(&prefix);
        }
        if present && self.unbound_64(prefix)? {
            self.l2_unbound.insert(prefix);
        } else {
            self.l2_unbound.remove(&prefix);
        }
        self.update_l2_bit()
    }

    /// The binding of `prefix` is now `value` (`None`: removed).
    pub(super) fn binding_changed(
        &mut self,
        prefix: Ipv6Net,
        value: Option<BindingValue>,
    ) -> Result<(), DatapathError> {
        if self.layout.index_of(prefix).is_some() {
            return Ok(());
        }
        if value.is_some_and(|v| v.kind == BindingKind::Redirect as u8) {
            self.hashed_redirects.insert(prefix);
        } else {
            self.hashed_redirects.remove(&prefix);
        }
        self.update_bit(SETTING_HASHED_REDIRECT, !self.hashed_redirects.is_empty())?;
        if prefix.prefix_len() != MAX_PREFIX_LEN {
            return Ok(());
        }
        let bound = value.is_some();
        if bound {
            self.l2_unbound.remove(&prefix);
        } else if self.l2_entries.contains(&prefix) {
            self.l2_unbound.insert(prefix);
        }
        self.update_l2_bit()
    }

    /// The /64s of `VISITING_L2` that neither a pool nor a binding accounts for, found anew
    /// (a daemon adopting pinned maps).
    pub(super) fn rebuild_l2_gate(&mut self) -> Result<(), DatapathError> {
        let keys = self
            .visiting_l2
            .keys()
            .collect::<Result<Vec<_>, _>>()
            .map_err(map_error("list", VISITING_L2))?;
        self.l2_unbound.clear();
        self.l2_entries.clear();
        for key in keys {
            let prefix = prefix_of(key.prefix, MAX_PREFIX_LEN);
            self.l2_entries.insert(prefix);
            // Entries pinned by a build that did not carry the bindings get theirs.
            self.refresh_carried_binding(prefix)?;
            if self.unbound_64(prefix)? {
                self.l2_unbound.insert(prefix);
            }
        }
        self.update_l2_bit()
    }

    /// The redirect bindings outside the pools, found anew (a daemon adopting pinned maps).
    pub(super) fn rebuild_redirect_gate(&mut self) -> Result<(), DatapathError> {
        self.hashed_redirects.clear();
        let redirect = |v: &BindingValue| v.kind == BindingKind::Redirect as u8;
        for entry in &self.bindings {
            let (key, value) = entry.map_err(map_error("list", BINDINGS))?;
            let prefix = prefix_of(key.prefix, MAX_PREFIX_LEN);
            if redirect(&value) && self.layout.index_of(prefix).is_none() {
                self.hashed_redirects.insert(prefix);
            }
        }
        for entry in &self.short_prefixes {
            let (key, value) = entry.map_err(map_error("list", SHORT_PREFIXES))?;
            if redirect(&value) {
                let len = u8::try_from(key.prefix_len()).unwrap_or(MAX_PREFIX_LEN);
                self.hashed_redirects
                    .insert(prefix_of(key.data().data, len.min(MAX_PREFIX_LEN)));
            }
        }
        self.update_bit(SETTING_HASHED_REDIRECT, !self.hashed_redirects.is_empty())
    }

    fn update_l2_bit(&mut self) -> Result<(), DatapathError> {
        self.update_bit(SETTING_L2_UNBOUND, !self.l2_unbound.is_empty())
    }

    /// Sets or clears `bit` of `SETTINGS`.
    pub(super) fn update_bit(&mut self, bit: u32, on: bool) -> Result<(), DatapathError> {
        let bits = if on {
            self.settings_bits | bit
        } else {
            self.settings_bits & !bit
        };
        if bits == self.settings_bits {
            return Ok(());
        }
        self.write_settings(bits)
    }
}
