//! The binding table: userspace is the source of truth, the maps are its projection.
//!
//! Every change is all or nothing: when a step fails, the steps before it are undone, so no
//! binding is ever half applied (a map entry without its route, a slot without its binding).
//!
//! - `mod.rs`: [`BindingTable`] and its changes;
//! - `access_source.rs`: the sources a visiting binding allows on its access interface;
//! - `port.rs`: [`DatapathPort`], the datapath as the table drives it;
//! - `table_binding.rs`: [`TableBinding`] and [`TableBindingKind`];
//! - `slots.rs`: the statistics slots; `error.rs`: [`TableError`], [`AdoptBindingError`].

mod access_source;
mod attached_l2;
mod error;
mod known_mac;
mod port;
mod slots;
#[cfg(test)]
mod source_tests;
mod table_binding;
#[cfg(test)]
mod tests;

use std::{
    collections::{BTreeMap, HashMap},
    net::Ipv6Addr,
};

use ipnet::Ipv6Net;

use crate::{
    datapath::{BindingSpec, DatapathError},
    prefix::{MAX_PREFIX_LEN, check_binding_prefix},
    routing::{RouteError, Routes},
};
use slots::Slots;

pub use error::{AdoptBindingError, TableError};
pub use port::DatapathPort;
pub use table_binding::{TableBinding, TableBindingKind};

/// Whether the binding of `prefix` (normalized) can have an L2 next hop: the program looks them
/// up by the /64 of a packet's destination.
fn has_l2_key(prefix: Ipv6Net) -> bool {
    prefix.prefix_len() == MAX_PREFIX_LEN
}

/// An installed `PREFIX dev IFACE` route.
#[derive(Clone, Debug)]
struct InstalledRoute {
    dev: String,
    ifindex: u32,
}

pub struct BindingTable<D, R> {
    datapath: D,
    routes: R,
    locator: Ipv6Addr,
    max_bindings: u32,
    /// Attached interfaces with role access, by name: the only valid `dev`s.
    access: HashMap<String, u32>,
    bindings: BTreeMap<Ipv6Net, TableBinding>,
    installed_routes: BTreeMap<Ipv6Net, InstalledRoute>,
    slots: Slots,
}

impl<D: DatapathPort, R: Routes> BindingTable<D, R> {
    /// An empty table. `access` lists the attached access interfaces as (name, ifindex).
    pub fn new(
        datapath: D,
        routes: R,
        locator: Ipv6Addr,
        max_bindings: u32,
        access: impl IntoIterator<Item = (String, u32)>,
    ) -> Self {
        Self {
            datapath,
            routes,
            locator,
            max_bindings,
            access: access.into_iter().collect(),
            bindings: BTreeMap::new(),
            installed_routes: BTreeMap::new(),
            slots: Slots::new(max_bindings),
        }
    }

    /// A table for the bindings found in the maps of a datapath that adopted pinned state
    /// (`entries`, from [`Datapath::bindings`]). The kernel routes are the state of `dev`: a
    /// visiting binding whose prefix `dev_routes` (prefix, ifindex) routes to one of the access
    /// interfaces gets that interface as its `dev`, and the route is removed with the binding.
    /// Such a binding with an entry in `l2_macs` (prefix, node's MAC: the pinned `VISITING_L2`)
    /// gets that MAC, and its entry is written again (the interface's MAC or MTU may have
    /// changed meanwhile); every other entry is removed.
    ///
    /// [`Datapath::bindings`]: crate::datapath::Datapath::bindings
    #[expect(
        clippy::too_many_arguments,
        reason = "the table's parts, then the three kinds of state it adopts"
    )]
    pub fn adopt(
        datapath: D,
        routes: R,
        locator: Ipv6Addr,
        max_bindings: u32,
        access: impl IntoIterator<Item = (String, u32)>,
        entries: impl IntoIterator<Item = (Ipv6Net, BindingSpec)>,
        dev_routes: &[(Ipv6Net, u32)],
        l2_macs: &[(Ipv6Net, [u8; 6])],
    ) -> Result<Self, AdoptBindingError> {
        let mut table = Self::new(datapath, routes, locator, max_bindings, access);
        let mut used = std::collections::BTreeSet::new();
        for (prefix, value) in entries {
            let prefix = prefix.trunc();
            let adopt_error = |reason: String| AdoptBindingError { prefix, reason };
            let slot = value.slot;
            if slot >= max_bindings {
                return Err(adopt_error(format!(
                    "its statistics slot {slot} is not below max_bindings = {max_bindings}"
                )));
            }
            if !used.insert(slot) {
                return Err(adopt_error(format!(
                    "its statistics slot {slot} is used by another binding too"
                )));
            }
            let peer = value.peer;
            let kind = match value.kind {
                anchor_common::BindingKind::Redirect => {
                    TableBindingKind::Redirect { serving: peer }
                }
                anchor_common::BindingKind::Visiting => {
                    let dev = dev_routes
                        .iter()
                        .filter(|(routed, _)| routed.trunc() == prefix)
                        .find_map(|(_, ifindex)| {
                            table
                                .access
                                .iter()
                                .find(|(_, index)| *index == ifindex)
                                .map(|(name, _)| name.clone())
                        });
                    if let Some(dev) = &dev {
                        let ifindex = table.access[dev];
                        table.installed_routes.insert(
                            prefix,
                            InstalledRoute {
                                dev: dev.clone(),
                                ifindex,
                            },
                        );
                    }
                    let mac = dev.as_ref().and_then(|_| {
                        l2_macs
                            .iter()
                            .find_map(|(p, mac)| (p.trunc() == prefix).then_some(*mac))
                    });
                    TableBindingKind::Visiting {
                        home: peer,
                        reverse_tunnel: value.reverse_tunnel,
                        dev,
                        mac,
                    }
                }
            };
            table
                .bindings
                .insert(prefix, TableBinding { prefix, kind, slot });
        }
        table.slots = Slots::with_used(max_bindings, &used);
        table.adopt_l2(l2_macs);
        table.adopt_sources();
        Ok(table)
    }

    /// Writes the L2 next hops of the adopted bindings again and removes the others. A failure
    /// is logged: the program then asks the FIB, as without the entry.
    fn adopt_l2(&mut self, l2_macs: &[(Ipv6Net, [u8; 6])]) {
        let mut keep = Vec::new();
        for binding in self.bindings.values_mut() {
            let Some(mac) = binding.kind.mac() else {
                continue;
            };
            let route = &self.installed_routes[&binding.prefix];
            match self
                .datapath
                .set_visiting_l2(binding.prefix, mac, &route.dev, route.ifindex)
            {
                Ok(()) => keep.push(binding.prefix),
                Err(error) => {
                    tracing::warn!(
                        "cannot write the L2 next hop of {} again: {error}",
                        binding.prefix
                    );
                    if let TableBindingKind::Visiting { mac, .. } = &mut binding.kind {
                        *mac = None;
                    }
                }
            }
        }
        for (prefix, _) in l2_macs {
            if !keep.contains(&prefix.trunc())
                && let Err(error) = self.datapath.remove_visiting_l2(*prefix)
            {
                tracing::warn!("cannot remove the stale L2 next hop of {prefix}: {error}");
            }
        }
    }

    pub fn datapath(&self) -> &D {
        &self.datapath
    }

    #[cfg(test)]
    pub(crate) fn datapath_mut(&mut self) -> &mut D {
        &mut self.datapath
    }

    /// Turns the program's packet debugging on or off (no binding changes).
    pub fn set_packet_debug(&mut self, on: bool) -> Result<(), DatapathError> {
        self.datapath.set_packet_debug(on)
    }

    /// The bindings, ordered by prefix.
    pub fn bindings(&self) -> impl Iterator<Item = &TableBinding> {
        self.bindings.values()
    }

    pub fn get(&self, prefix: Ipv6Net) -> Option<&TableBinding> {
        self.bindings.get(&prefix.trunc())
    }

    pub fn len(&self) -> usize {
        self.bindings.len()
    }

    pub fn is_empty(&self) -> bool {
        self.bindings.is_empty()
    }

    /// How many more bindings fit (`max_bindings` minus those installed).
    pub fn room(&self) -> usize {
        usize::try_from(self.max_bindings)
            .unwrap_or(usize::MAX)
            .saturating_sub(self.bindings.len())
    }

    fn check_peer(&self, peer: Ipv6Addr) -> Result<(), TableError> {
        let reason = if peer.is_unspecified() {
            "it is the unspecified address"
        } else if peer.is_multicast() {
            "it is a multicast address"
        } else if peer.is_loopback() {
            "it is the loopback address"
        } else if peer == self.locator {
            "it is this router's own locator"
        } else {
            return Ok(());
        };
        Err(TableError::InvalidPeer { peer, reason })
    }

    /// Adds a binding: stats slot, map entry, and route (for a visiting binding with `dev`).
    pub async fn add(
        &mut self,
        prefix: Ipv6Net,
        kind: TableBindingKind,
    ) -> Result<TableBinding, TableError> {
        let prefix = check_binding_prefix(prefix)?;
        if self.bindings.contains_key(&prefix) {
            return Err(TableError::Duplicate { prefix });
        }
        self.check_peer(kind.peer())?;
        let route = match kind.dev() {
            Some(dev) => {
                let ifindex =
                    *self
                        .access
                        .get(dev)
                        .ok_or_else(|| TableError::NotAccessInterface {
                            dev: dev.to_owned(),
                        })?;
                Some(InstalledRoute {
                    dev: dev.to_owned(),
                    ifindex,
                })
            }
            None => None,
        };

        let slot = self.slots.alloc().ok_or(TableError::Full {
            max_bindings: self.max_bindings,
        })?;
        let datapath_error = |source| TableError::Datapath {
            prefix,
            source: Box::new(source),
        };
        if let Err(source) = self.datapath.reset_binding_stats(slot) {
            self.slots.release(slot);
            return Err(datapath_error(source));
        }
        // The L2 next hop first: the program reads it for a decapsulated packet only with a
        // visiting binding in place. A visiting /64 without one clears what a failed removal may
        // have left.
        let l2 = match (&route, kind.mac()) {
            (Some(route), Some(mac)) if has_l2_key(prefix) => {
                self.datapath
                    .set_visiting_l2(prefix, mac, &route.dev, route.ifindex)
            }
            _ if has_l2_key(prefix) && matches!(kind, TableBindingKind::Visiting { .. }) => {
                self.datapath.remove_visiting_l2(prefix)
            }
            _ => Ok(()),
        };
        if let Err(source) = l2 {
            self.slots.release(slot);
            return Err(datapath_error(source));
        }
        // The node's sources on its access link, before its downlink can reach it.
        if let Some(route) = &route
            && let Err(source) = self.add_source(prefix, route, kind.mac())
        {
            self.remove_l2(prefix, &kind);
            self.slots.release(slot);
            return Err(datapath_error(source));
        }
        if let Err(source) = self.datapath.insert_binding(prefix, kind.value(slot)) {
            if let Some(route) = &route {
                self.forget_source(prefix, route);
            }
            self.remove_l2(prefix, &kind);
            self.slots.release(slot);
            return Err(datapath_error(source));
        }
        if let Some(route) = &route
            && let Err(error) = self
                .routes
                .add_route(prefix, &route.dev, route.ifindex)
                .await
        {
            match self.datapath.remove_binding(prefix) {
                Ok(()) => {
                    self.forget_source(prefix, route);
                    self.remove_l2(prefix, &kind);
                    self.slots.release(slot);
                }
                // The entry still points at the slot: keep the slot out of circulation.
                Err(undo) => tracing::error!(
                    "cannot remove the map entry for {prefix} after its route failed: {undo}"
                ),
            }
            return Err(error.into());
        }

        if let Some(route) = route {
            self.installed_routes.insert(prefix, route);
        }
        let binding = TableBinding { prefix, kind, slot };
        self.bindings.insert(prefix, binding.clone());
        Ok(binding)
    }

    /// Removes a binding: route, map entry, then its slot.
    pub async fn remove(&mut self, prefix: Ipv6Net) -> Result<TableBinding, TableError> {
        let prefix = check_binding_prefix(prefix)?;
        let slot = match self.bindings.get(&prefix) {
            Some(binding) => binding.slot,
            None => return Err(TableError::Unknown { prefix }),
        };
        let route = self.installed_routes.get(&prefix).cloned();
        let mac = self.bindings.get(&prefix).and_then(|b| b.kind.mac());
        if let Some(route) = &route {
            // The sources first: a failure here leaves everything as it was.
            if let Err(source) = self.remove_source(prefix, route) {
                return Err(TableError::Datapath {
                    prefix,
                    source: Box::new(source),
                });
            }
            match self
                .routes
                .del_route(prefix, &route.dev, route.ifindex)
                .await
            {
                Ok(()) => {}
                Err(RouteError::NotFound { .. }) => {
                    tracing::warn!("the route {prefix} dev {} was already gone", route.dev);
                }
                Err(error) => {
                    self.restore_source(prefix, route, mac);
                    return Err(error.into());
                }
            }
        }
        match self.datapath.remove_binding(prefix) {
            Ok(()) => {}
            Err(DatapathError::BindingNotFound { .. }) => {
                tracing::warn!("the map entry for {prefix} was already gone");
            }
            Err(source) => {
                if let Some(route) = &route
                    && let Err(undo) = self
                        .routes
                        .add_route(prefix, &route.dev, route.ifindex)
                        .await
                {
                    tracing::error!("cannot restore the route for {prefix}: {undo}");
                    self.installed_routes.remove(&prefix);
                } else if let Some(route) = &route {
                    self.restore_source(prefix, route, mac);
                }
                return Err(TableError::Datapath {
                    prefix,
                    source: Box::new(source),
                });
            }
        }
        self.installed_routes.remove(&prefix);
        self.slots.release(slot);
        let binding = self
            .bindings
            .remove(&prefix)
            .ok_or(TableError::Unknown { prefix })?;
        self.remove_l2(prefix, &binding.kind);
        Ok(binding)
    }

    /// Removes the L2 next hop of a binding that had one, once the binding is gone. A failure
    /// is logged: the program reads the entry only for a visiting binding, and the next visiting
    /// binding of the prefix writes or clears it.
    fn remove_l2(&mut self, prefix: Ipv6Net, kind: &TableBindingKind) {
        if kind.mac().is_some()
            && has_l2_key(prefix)
            && let Err(error) = self.datapath.remove_visiting_l2(prefix)
        {
            tracing::error!("cannot remove the L2 next hop of {prefix}: {error}");
        }
    }

    /// Removes every route this table installed (at shutdown); the bindings stay. Returns the
    /// errors, one per route that could not be removed.
    pub async fn remove_routes(&mut self) -> Vec<RouteError> {
        let mut errors = Vec::new();
        let routes = std::mem::take(&mut self.installed_routes);
        for (prefix, route) in routes {
            match self
                .routes
                .del_route(prefix, &route.dev, route.ifindex)
                .await
            {
                Ok(()) | Err(RouteError::NotFound { .. }) => {}
                Err(error) => errors.push(error),
            }
        }
        errors
    }
}
