//! The binding table: userspace is the source of truth, the maps are its projection.
//!
//! Every change is all or nothing: when a step fails, the steps before it are undone, so no
//! binding is ever half applied (a map entry without its route, a slot without its binding).

use std::{
    collections::{BTreeMap, HashMap},
    net::Ipv6Addr,
};

use anchor_common::{BindingStats, Counter, CounterValue};
use ipnet::Ipv6Net;
use thiserror::Error;

use crate::{
    datapath::{AccessLink, BindingSpec, Datapath, DatapathError},
    prefix::{MAX_PREFIX_LEN, PrefixError, check_binding_prefix},
    routing::{RouteError, Routes},
};

/// What the table needs from the datapath. Implemented by [`Datapath`]; tests use a fake.
pub trait Dataplane {
    fn insert_binding(&mut self, prefix: Ipv6Net, spec: BindingSpec) -> Result<(), DatapathError>;
    fn remove_binding(&mut self, prefix: Ipv6Net) -> Result<(), DatapathError>;
    fn reset_binding_stats(&mut self, slot: u32) -> Result<(), DatapathError>;
    fn binding_stats(&self, slot: u32) -> Result<BindingStats, DatapathError>;
    fn counters(&self) -> Result<Vec<(Counter, CounterValue)>, DatapathError>;
    /// Turns the program's packet debugging (its log records on drops) on or off.
    fn set_packet_debug(&mut self, on: bool) -> Result<(), DatapathError>;
    /// Writes the L2 next hop of the visiting /64 `prefix`: its node's `mac` behind the access
    /// interface `dev` (index `ifindex`), whose own MAC and MTU the implementation reads.
    fn set_visiting_l2(
        &mut self,
        prefix: Ipv6Net,
        mac: [u8; 6],
        dev: &str,
        ifindex: u32,
    ) -> Result<(), DatapathError>;
    /// Removes the L2 next hop of the visiting /64 `prefix`; nothing when there is none.
    fn remove_visiting_l2(&mut self, prefix: Ipv6Net) -> Result<(), DatapathError>;
}

impl Dataplane for Datapath {
    fn insert_binding(&mut self, prefix: Ipv6Net, spec: BindingSpec) -> Result<(), DatapathError> {
        Datapath::insert_binding(self, prefix, spec)
    }
    fn remove_binding(&mut self, prefix: Ipv6Net) -> Result<(), DatapathError> {
        Datapath::remove_binding(self, prefix)
    }
    fn reset_binding_stats(&mut self, slot: u32) -> Result<(), DatapathError> {
        Datapath::reset_binding_stats(self, slot)
    }
    fn binding_stats(&self, slot: u32) -> Result<BindingStats, DatapathError> {
        Datapath::binding_stats(self, slot)
    }
    fn counters(&self) -> Result<Vec<(Counter, CounterValue)>, DatapathError> {
        Datapath::counters(self)
    }
    fn set_packet_debug(&mut self, on: bool) -> Result<(), DatapathError> {
        Datapath::set_packet_debug(self, on)
    }
    fn set_visiting_l2(
        &mut self,
        prefix: Ipv6Net,
        mac: [u8; 6],
        dev: &str,
        ifindex: u32,
    ) -> Result<(), DatapathError> {
        let link = AccessLink::query(dev, ifindex)?;
        Datapath::set_visiting_l2(self, prefix, mac, &link)
    }
    fn remove_visiting_l2(&mut self, prefix: Ipv6Net) -> Result<(), DatapathError> {
        Datapath::remove_visiting_l2(self, prefix)
    }
}

/// What this router does for a prefix.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum BindingKind {
    /// This router anchors the prefix; its mobile node is now attached at `serving`.
    Redirect { serving: Ipv6Addr },
    /// The mobile node holding the prefix is attached here; the prefix is anchored at `home`.
    /// With `dev`, the daemon routes the prefix to that access interface; with `dev` and `mac`
    /// (the node's MAC address) and a /64, the program sends the decapsulated packets straight
    /// to that MAC (`VISITING_L2`), without the FIB or Neighbour Discovery.
    Visiting {
        home: Ipv6Addr,
        reverse_tunnel: bool,
        dev: Option<String>,
        mac: Option<[u8; 6]>,
    },
}

impl BindingKind {
    /// The other router of the tunnel.
    pub fn peer(&self) -> Ipv6Addr {
        match self {
            Self::Redirect { serving } => *serving,
            Self::Visiting { home, .. } => *home,
        }
    }

    fn value(&self, slot: u32) -> BindingSpec {
        match self {
            Self::Redirect { serving } => BindingSpec::redirect(*serving, slot),
            Self::Visiting {
                home,
                reverse_tunnel,
                ..
            } => BindingSpec::visiting(*home, *reverse_tunnel, slot),
        }
    }

    fn dev(&self) -> Option<&str> {
        match self {
            Self::Visiting { dev: Some(dev), .. } => Some(dev),
            _ => None,
        }
    }

    /// The node's MAC of a visiting binding that routes to an access interface.
    fn mac(&self) -> Option<[u8; 6]> {
        match self {
            Self::Visiting {
                dev: Some(_),
                mac: Some(mac),
                ..
            } => Some(*mac),
            _ => None,
        }
    }
}

/// Whether the binding of `prefix` (normalized) can have an L2 next hop: the program looks them
/// up by the /64 of a packet's destination.
fn has_l2_key(prefix: Ipv6Net) -> bool {
    prefix.prefix_len() == MAX_PREFIX_LEN
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Binding {
    /// Normalized: host bits cleared, length <= 64.
    pub prefix: Ipv6Net,
    pub kind: BindingKind,
    /// Index of the binding's statistics.
    pub slot: u32,
}

#[derive(Debug, Error)]
pub enum StateError {
    #[error(transparent)]
    Prefix(#[from] PrefixError),
    #[error("binding for {prefix} already exists")]
    Duplicate { prefix: Ipv6Net },
    #[error("no binding for {prefix}")]
    Unknown { prefix: Ipv6Net },
    #[error("the binding map is full: all max_bindings = {max_bindings} slots are in use")]
    Full { max_bindings: u32 },
    #[error("{peer} cannot be the peer of a binding: {reason}")]
    InvalidPeer {
        peer: Ipv6Addr,
        reason: &'static str,
    },
    #[error("dev {dev} is not an interface this daemon is attached to with role access")]
    NotAccessInterface { dev: String },
    #[error("cannot apply the binding for {prefix} to the datapath")]
    Datapath {
        prefix: Ipv6Net,
        #[source]
        source: Box<DatapathError>,
    },
    #[error(transparent)]
    Route(#[from] RouteError),
}

/// A binding found in pinned maps that the table cannot take (see [`BindingTable::adopt`]).
#[derive(Debug, Error)]
#[error("the pinned binding for {prefix} cannot be adopted: {reason}")]
pub struct AdoptBindingError {
    pub prefix: Ipv6Net,
    pub reason: String,
}

impl StateError {
    /// Whether a map or the table ran out of room.
    pub fn is_full(&self) -> bool {
        match self {
            Self::Full { .. } => true,
            Self::Datapath { source, .. } => matches!(**source, DatapathError::MapFull { .. }),
            _ => false,
        }
    }
}

/// Statistics slots `0..max`, recycled through a free list.
#[derive(Debug)]
struct Slots {
    next: u32,
    max: u32,
    free: Vec<u32>,
}

impl Slots {
    fn new(max: u32) -> Self {
        Self {
            next: 0,
            max,
            free: Vec::new(),
        }
    }

    /// The allocator once `used` (all below `max`) are taken.
    fn with_used(max: u32, used: &std::collections::BTreeSet<u32>) -> Self {
        let next = used.last().map_or(0, |last| last + 1);
        // Reversed, so that `alloc` hands out the lowest free slot first.
        let free = (0..next)
            .rev()
            .filter(|slot| !used.contains(slot))
            .collect();
        Self { next, max, free }
    }

    fn alloc(&mut self) -> Option<u32> {
        if let Some(slot) = self.free.pop() {
            return Some(slot);
        }
        if self.next < self.max {
            self.next += 1;
            return Some(self.next - 1);
        }
        None
    }

    fn release(&mut self, slot: u32) {
        self.free.push(slot);
    }
}

/// An installed `PREFIX dev IFACE` route.
#[derive(Clone, Debug)]
struct InstalledRoute {
    dev: String,
    ifindex: u32,
}

pub struct BindingTable<D, R> {
    dataplane: D,
    routes: R,
    locator: Ipv6Addr,
    max_bindings: u32,
    /// Attached interfaces with role access, by name: the only valid `dev`s.
    access: HashMap<String, u32>,
    bindings: BTreeMap<Ipv6Net, Binding>,
    installed_routes: BTreeMap<Ipv6Net, InstalledRoute>,
    slots: Slots,
}

impl<D: Dataplane, R: Routes> BindingTable<D, R> {
    /// An empty table. `access` lists the attached access interfaces as (name, ifindex).
    pub fn new(
        dataplane: D,
        routes: R,
        locator: Ipv6Addr,
        max_bindings: u32,
        access: impl IntoIterator<Item = (String, u32)>,
    ) -> Self {
        Self {
            dataplane,
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
    #[expect(
        clippy::too_many_arguments,
        reason = "the table's parts, then the three kinds of state it adopts"
    )]
    pub fn adopt(
        dataplane: D,
        routes: R,
        locator: Ipv6Addr,
        max_bindings: u32,
        access: impl IntoIterator<Item = (String, u32)>,
        entries: impl IntoIterator<Item = (Ipv6Net, BindingSpec)>,
        dev_routes: &[(Ipv6Net, u32)],
        l2_macs: &[(Ipv6Net, [u8; 6])],
    ) -> Result<Self, AdoptBindingError> {
        let mut table = Self::new(dataplane, routes, locator, max_bindings, access);
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
                anchor_common::BindingKind::Redirect => BindingKind::Redirect { serving: peer },
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
                    BindingKind::Visiting {
                        home: peer,
                        reverse_tunnel: value.reverse_tunnel,
                        dev,
                        mac,
                    }
                }
            };
            table
                .bindings
                .insert(prefix, Binding { prefix, kind, slot });
        }
        table.slots = Slots::with_used(max_bindings, &used);
        table.adopt_l2(l2_macs);
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
                .dataplane
                .set_visiting_l2(binding.prefix, mac, &route.dev, route.ifindex)
            {
                Ok(()) => keep.push(binding.prefix),
                Err(error) => {
                    tracing::warn!(
                        "cannot write the L2 next hop of {} again: {error}",
                        binding.prefix
                    );
                    if let BindingKind::Visiting { mac, .. } = &mut binding.kind {
                        *mac = None;
                    }
                }
            }
        }
        for (prefix, _) in l2_macs {
            if !keep.contains(&prefix.trunc())
                && let Err(error) = self.dataplane.remove_visiting_l2(*prefix)
            {
                tracing::warn!("cannot remove the stale L2 next hop of {prefix}: {error}");
            }
        }
    }

    pub fn dataplane(&self) -> &D {
        &self.dataplane
    }

    /// Turns the program's packet debugging on or off (no binding changes).
    pub fn set_packet_debug(&mut self, on: bool) -> Result<(), DatapathError> {
        self.dataplane.set_packet_debug(on)
    }

    /// The bindings, ordered by prefix.
    pub fn bindings(&self) -> impl Iterator<Item = &Binding> {
        self.bindings.values()
    }

    pub fn get(&self, prefix: Ipv6Net) -> Option<&Binding> {
        self.bindings.get(&prefix.trunc())
    }

    pub fn len(&self) -> usize {
        self.bindings.len()
    }

    pub fn is_empty(&self) -> bool {
        self.bindings.is_empty()
    }

    fn check_peer(&self, peer: Ipv6Addr) -> Result<(), StateError> {
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
        Err(StateError::InvalidPeer { peer, reason })
    }

    /// Adds a binding: stats slot, map entry, and route (for a visiting binding with `dev`).
    pub async fn add(&mut self, prefix: Ipv6Net, kind: BindingKind) -> Result<Binding, StateError> {
        let prefix = check_binding_prefix(prefix)?;
        if self.bindings.contains_key(&prefix) {
            return Err(StateError::Duplicate { prefix });
        }
        self.check_peer(kind.peer())?;
        let route = match kind.dev() {
            Some(dev) => {
                let ifindex =
                    *self
                        .access
                        .get(dev)
                        .ok_or_else(|| StateError::NotAccessInterface {
                            dev: dev.to_owned(),
                        })?;
                Some(InstalledRoute {
                    dev: dev.to_owned(),
                    ifindex,
                })
            }
            None => None,
        };

        let slot = self.slots.alloc().ok_or(StateError::Full {
            max_bindings: self.max_bindings,
        })?;
        let datapath_error = |source| StateError::Datapath {
            prefix,
            source: Box::new(source),
        };
        if let Err(source) = self.dataplane.reset_binding_stats(slot) {
            self.slots.release(slot);
            return Err(datapath_error(source));
        }
        // The L2 next hop first: the program reads it only for a visiting binding in place. A
        // visiting /64 without one clears what a failed removal may have left.
        let l2 = match (&route, kind.mac()) {
            (Some(route), Some(mac)) if has_l2_key(prefix) => {
                self.dataplane
                    .set_visiting_l2(prefix, mac, &route.dev, route.ifindex)
            }
            _ if has_l2_key(prefix) && matches!(kind, BindingKind::Visiting { .. }) => {
                self.dataplane.remove_visiting_l2(prefix)
            }
            _ => Ok(()),
        };
        if let Err(source) = l2 {
            self.slots.release(slot);
            return Err(datapath_error(source));
        }
        if let Err(source) = self.dataplane.insert_binding(prefix, kind.value(slot)) {
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
            match self.dataplane.remove_binding(prefix) {
                Ok(()) => {
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
        let binding = Binding { prefix, kind, slot };
        self.bindings.insert(prefix, binding.clone());
        Ok(binding)
    }

    /// Removes a binding: route, map entry, then its slot.
    pub async fn remove(&mut self, prefix: Ipv6Net) -> Result<Binding, StateError> {
        let prefix = check_binding_prefix(prefix)?;
        let slot = match self.bindings.get(&prefix) {
            Some(binding) => binding.slot,
            None => return Err(StateError::Unknown { prefix }),
        };
        let route = self.installed_routes.get(&prefix).cloned();
        if let Some(route) = &route {
            match self
                .routes
                .del_route(prefix, &route.dev, route.ifindex)
                .await
            {
                Ok(()) => {}
                Err(RouteError::NotFound { .. }) => {
                    tracing::warn!("the route {prefix} dev {} was already gone", route.dev);
                }
                Err(error) => return Err(error.into()),
            }
        }
        match self.dataplane.remove_binding(prefix) {
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
                }
                return Err(StateError::Datapath {
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
            .ok_or(StateError::Unknown { prefix })?;
        self.remove_l2(prefix, &binding.kind);
        Ok(binding)
    }

    /// Removes the L2 next hop of a binding that had one, once the binding is gone. A failure
    /// is logged: the program reads the entry only for a visiting binding, and the next visiting
    /// binding of the prefix writes or clears it.
    fn remove_l2(&mut self, prefix: Ipv6Net, kind: &BindingKind) {
        if kind.mac().is_some()
            && has_l2_key(prefix)
            && let Err(error) = self.dataplane.remove_visiting_l2(prefix)
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{FakeDataplane, FakeRoutes};

    type Table = BindingTable<FakeDataplane, FakeRoutes>;

    const LOCATOR: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 0xff, 0, 0, 0, 0, 1);
    const PEER: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 0xff, 0, 0, 0, 0, 2);

    fn table(max: u32) -> Table {
        BindingTable::new(
            FakeDataplane::default(),
            FakeRoutes::default(),
            LOCATOR,
            max,
            [("acc0".to_owned(), 7)],
        )
    }

    fn net(s: &str) -> Ipv6Net {
        s.parse().expect("prefix")
    }

    fn redirect() -> BindingKind {
        BindingKind::Redirect { serving: PEER }
    }

    fn visiting(dev: &str) -> BindingKind {
        BindingKind::Visiting {
            home: PEER,
            reverse_tunnel: true,
            dev: Some(dev.to_owned()),
            mac: None,
        }
    }

    const MAC: [u8; 6] = [2, 0, 0, 0, 0, 0x0a];

    fn visiting_mac(dev: &str) -> BindingKind {
        BindingKind::Visiting {
            home: PEER,
            reverse_tunnel: true,
            dev: Some(dev.to_owned()),
            mac: Some(MAC),
        }
    }

    #[tokio::test]
    async fn add_and_remove() {
        let mut t = table(4);
        let b = t
            .add(net("2001:db8:1:1::9/64"), redirect())
            .await
            .expect("add");
        assert_eq!(b.prefix, net("2001:db8:1:1::/64"));
        assert_eq!(b.slot, 0);
        assert_eq!(t.dataplane.reset, vec![0]);
        let value = t.dataplane.entries[&b.prefix];
        assert_eq!(value.peer, PEER);
        assert_eq!(value.slot, 0);

        let v = t
            .add(net("2001:db8:2::/48"), visiting("acc0"))
            .await
            .expect("add");
        assert_eq!(v.slot, 1);
        assert!(t.dataplane.entries[&v.prefix].reverse_tunnel);
        assert!(t.routes.routes.contains(&(v.prefix, 7)));

        t.remove(net("2001:db8:2::/48")).await.expect("remove");
        assert!(t.routes.routes.is_empty());
        assert!(!t.dataplane.entries.contains_key(&v.prefix));
        // The freed slot is reused and reset again.
        let w = t
            .add(net("2001:db8:3::/64"), redirect())
            .await
            .expect("add");
        assert_eq!(w.slot, 1);
        assert_eq!(t.dataplane.reset, vec![0, 1, 1]);
        assert_eq!(t.len(), 2);
    }

    #[tokio::test]
    async fn duplicate_is_an_error_and_changes_nothing() {
        let mut t = table(4);
        t.add(net("2001:db8:1:1::/64"), redirect())
            .await
            .expect("add");
        let err = t
            .add(net("2001:db8:1:1::1/64"), redirect())
            .await
            .expect_err("dup");
        assert!(matches!(err, StateError::Duplicate { .. }));
        assert_eq!(
            err.to_string(),
            "binding for 2001:db8:1:1::/64 already exists"
        );
        assert_eq!(t.dataplane.reset, vec![0]);
    }

    #[tokio::test]
    async fn unknown_prefix_on_remove() {
        let mut t = table(4);
        let err = t
            .remove(net("2001:db8:1:1::/64"))
            .await
            .expect_err("unknown");
        assert!(matches!(err, StateError::Unknown { .. }));
    }

    #[tokio::test]
    async fn too_long_prefix() {
        let mut t = table(4);
        let err = t
            .add(net("2001:db8:1:1::/80"), redirect())
            .await
            .expect_err("long");
        assert!(matches!(
            err,
            StateError::Prefix(PrefixError::TooLong { .. })
        ));
        assert!(t.dataplane.reset.is_empty());
    }

    #[tokio::test]
    async fn capacity_is_map_full() {
        let mut t = table(1);
        t.add(net("2001:db8:1::/64"), redirect())
            .await
            .expect("add");
        let err = t
            .add(net("2001:db8:2::/64"), redirect())
            .await
            .expect_err("full");
        assert!(matches!(err, StateError::Full { max_bindings: 1 }));
        assert!(err.is_full());
    }

    #[tokio::test]
    async fn map_full_from_the_datapath_releases_the_slot() {
        let mut t = table(4);
        t.dataplane.capacity = Some(0);
        let err = t
            .add(net("2001:db8:1::/64"), redirect())
            .await
            .expect_err("full");
        assert!(err.is_full());
        t.dataplane.capacity = None;
        let b = t
            .add(net("2001:db8:1::/64"), redirect())
            .await
            .expect("add");
        assert_eq!(b.slot, 0);
    }

    #[tokio::test]
    async fn invalid_peers() {
        let mut t = table(4);
        for peer in [
            Ipv6Addr::UNSPECIFIED,
            Ipv6Addr::LOCALHOST,
            "ff02::1".parse().expect("a"),
            LOCATOR,
        ] {
            let err = t
                .add(
                    net("2001:db8:1::/64"),
                    BindingKind::Redirect { serving: peer },
                )
                .await
                .expect_err("peer");
            assert!(matches!(err, StateError::InvalidPeer { .. }), "{peer}");
        }
        assert!(t.is_empty());
    }

    #[tokio::test]
    async fn dev_must_be_an_access_interface() {
        let mut t = table(4);
        let err = t
            .add(net("2001:db8:1::/64"), visiting("core0"))
            .await
            .expect_err("dev");
        assert!(matches!(err, StateError::NotAccessInterface { .. }));
        assert!(t.dataplane.reset.is_empty());
    }

    #[tokio::test]
    async fn failed_reset_or_insert_leaves_nothing() {
        let mut t = table(4);
        t.dataplane.fail.insert("reset");
        t.add(net("2001:db8:1::/64"), redirect())
            .await
            .expect_err("reset");
        t.dataplane.fail.clear();
        t.dataplane.fail.insert("insert");
        t.add(net("2001:db8:1::/64"), redirect())
            .await
            .expect_err("insert");
        t.dataplane.fail.clear();
        assert!(t.is_empty());
        assert!(t.dataplane.entries.is_empty());
        let b = t
            .add(net("2001:db8:1::/64"), redirect())
            .await
            .expect("add");
        assert_eq!(b.slot, 0, "slots were released");
    }

    #[tokio::test]
    async fn failed_route_rolls_back_the_map_entry() {
        let mut t = table(4);
        t.routes.fail_add = true;
        let err = t
            .add(net("2001:db8:1::/64"), visiting("acc0"))
            .await
            .expect_err("route");
        assert!(matches!(err, StateError::Route(RouteError::Exists { .. })));
        assert!(t.dataplane.entries.is_empty());
        assert!(t.is_empty());
        t.routes.fail_add = false;
        let b = t
            .add(net("2001:db8:1::/64"), visiting("acc0"))
            .await
            .expect("add");
        assert_eq!(b.slot, 0);
    }

    #[tokio::test]
    async fn failed_rollback_keeps_the_slot_reserved() {
        let mut t = table(2);
        t.routes.fail_add = true;
        t.dataplane.fail.insert("remove");
        t.add(net("2001:db8:1::/64"), visiting("acc0"))
            .await
            .expect_err("route");
        t.routes.fail_add = false;
        t.dataplane.fail.clear();
        let b = t
            .add(net("2001:db8:2::/64"), redirect())
            .await
            .expect("add");
        assert_eq!(b.slot, 1, "slot 0 is still referenced by the stale entry");
    }

    #[tokio::test]
    async fn failed_route_delete_keeps_the_binding() {
        let mut t = table(4);
        t.add(net("2001:db8:1::/64"), visiting("acc0"))
            .await
            .expect("add");
        t.routes.fail_del = true;
        t.remove(net("2001:db8:1::/64"))
            .await
            .expect_err("route del");
        assert_eq!(t.len(), 1);
        assert_eq!(t.dataplane.entries.len(), 1);
    }

    #[tokio::test]
    async fn failed_map_delete_restores_the_route() {
        let mut t = table(4);
        t.add(net("2001:db8:1::/64"), visiting("acc0"))
            .await
            .expect("add");
        t.dataplane.fail.insert("remove");
        let err = t.remove(net("2001:db8:1::/64")).await.expect_err("map del");
        assert!(matches!(err, StateError::Datapath { .. }));
        assert_eq!(t.len(), 1);
        assert_eq!(t.routes.routes.len(), 1, "route restored");
    }

    #[tokio::test]
    async fn adopts_pinned_entries_with_their_slots_and_routes() {
        let entries = [
            (net("2001:db8:1::/64"), BindingSpec::redirect(PEER, 3)),
            (net("2001:db8:2::/48"), BindingSpec::visiting(PEER, true, 0)),
            (
                net("2001:db8:3::/64"),
                BindingSpec::visiting(PEER, false, 5),
            ),
        ];
        // A route to acc0 for the /48, and one to an interface that is not ours for the other.
        let dev_routes = [(net("2001:db8:2::/48"), 7), (net("2001:db8:3::/64"), 99)];
        let mut t = Table::adopt(
            FakeDataplane::default(),
            FakeRoutes::default(),
            LOCATOR,
            8,
            [("acc0".to_owned(), 7)],
            entries,
            &dev_routes,
            &[],
        )
        .expect("adopt");
        assert_eq!(t.len(), 3);
        assert_eq!(
            t.get(net("2001:db8:1::/64")).expect("redirect").kind,
            redirect()
        );
        assert_eq!(
            t.get(net("2001:db8:2::/48")).expect("visiting").kind,
            visiting("acc0")
        );
        assert_eq!(
            t.get(net("2001:db8:3::/64")).expect("visiting").kind,
            BindingKind::Visiting {
                home: PEER,
                reverse_tunnel: false,
                dev: None,
                mac: None,
            }
        );
        // Free slots are handed out lowest first, then the ones after the highest.
        let mut slots = Vec::new();
        for n in 0..5 {
            let prefix = format!("2001:db8:{}::/64", 10 + n).parse().expect("prefix");
            slots.push(t.add(prefix, redirect()).await.expect("add").slot);
        }
        assert_eq!(slots, [1, 2, 4, 6, 7]);
        assert!(t.add(net("2001:db8:99::/64"), redirect()).await.is_err());
        // The adopted route is removed with its binding.
        t.routes.routes.insert((net("2001:db8:2::/48"), 7));
        t.remove(net("2001:db8:2::/48")).await.expect("remove");
        assert!(t.routes.routes.is_empty());
    }

    #[test]
    fn adoption_refuses_bad_slots() {
        let adopt = |entries: Vec<(Ipv6Net, BindingSpec)>| {
            Table::adopt(
                FakeDataplane::default(),
                FakeRoutes::default(),
                LOCATOR,
                4,
                [],
                entries,
                &[],
                &[],
            )
        };
        let err = adopt(vec![(
            net("2001:db8:1::/64"),
            BindingSpec::redirect(PEER, 4),
        )])
        .err()
        .expect("slot too high");
        assert!(err.to_string().contains("slot 4 is not below"), "{err}");
        let err = adopt(vec![
            (net("2001:db8:1::/64"), BindingSpec::redirect(PEER, 1)),
            (net("2001:db8:2::/64"), BindingSpec::redirect(PEER, 1)),
        ])
        .err()
        .expect("shared slot");
        assert!(err.to_string().contains("used by another binding"), "{err}");
    }

    #[tokio::test]
    async fn a_visiting_64_with_dev_and_mac_gets_its_l2_next_hop_until_removed() {
        let mut t = table(4);
        let b = t
            .add(net("2001:db8:1::/64"), visiting_mac("acc0"))
            .await
            .expect("add");
        assert_eq!(t.dataplane.l2[&b.prefix], (MAC, "acc0".to_owned(), 7));
        // A shorter prefix, or no MAC: no entry.
        t.add(net("2001:db8:2::/56"), visiting_mac("acc0"))
            .await
            .expect("add");
        t.add(net("2001:db8:3::/64"), visiting("acc0"))
            .await
            .expect("add");
        assert_eq!(t.dataplane.l2.len(), 1);
        t.remove(net("2001:db8:1::/64")).await.expect("remove");
        assert!(t.dataplane.l2.is_empty());
    }

    #[tokio::test]
    async fn a_failed_l2_write_or_route_leaves_nothing() {
        let mut t = table(4);
        t.dataplane.fail.insert("l2");
        let err = t
            .add(net("2001:db8:1::/64"), visiting_mac("acc0"))
            .await
            .expect_err("l2");
        assert!(matches!(err, StateError::Datapath { .. }));
        assert!(t.is_empty() && t.dataplane.entries.is_empty());
        t.dataplane.fail.clear();
        t.routes.fail_add = true;
        t.add(net("2001:db8:1::/64"), visiting_mac("acc0"))
            .await
            .expect_err("route");
        assert!(t.dataplane.entries.is_empty());
        assert!(t.dataplane.l2.is_empty(), "the L2 next hop is rolled back");
        t.routes.fail_add = false;
        let b = t
            .add(net("2001:db8:1::/64"), visiting_mac("acc0"))
            .await
            .expect("add");
        assert_eq!(b.slot, 0);
    }

    #[test]
    fn adoption_keeps_the_l2_next_hops_of_routed_bindings_and_drops_the_others() {
        let entries = [
            (net("2001:db8:1::/64"), BindingSpec::visiting(PEER, true, 0)),
            (net("2001:db8:2::/64"), BindingSpec::visiting(PEER, true, 1)),
        ];
        // Only the first has its route still; a third entry has no binding at all.
        let dev_routes = [(net("2001:db8:1::/64"), 7)];
        let l2 = [
            (net("2001:db8:1::/64"), MAC),
            (net("2001:db8:2::/64"), MAC),
            (net("2001:db8:9::/64"), MAC),
        ];
        let mut dataplane = FakeDataplane::default();
        for (prefix, mac) in l2 {
            dataplane.l2.insert(prefix, (mac, "old".to_owned(), 1));
        }
        let t = Table::adopt(
            dataplane,
            FakeRoutes::default(),
            LOCATOR,
            8,
            [("acc0".to_owned(), 7)],
            entries,
            &dev_routes,
            &l2,
        )
        .expect("adopt");
        assert_eq!(
            t.get(net("2001:db8:1::/64")).expect("routed").kind,
            visiting_mac("acc0")
        );
        assert!(matches!(
            t.get(net("2001:db8:2::/64")).expect("unrouted").kind,
            BindingKind::Visiting {
                dev: None,
                mac: None,
                ..
            }
        ));
        // Written again for the interface as it is now; the others removed.
        assert_eq!(
            t.dataplane.l2.iter().collect::<Vec<_>>(),
            [(&net("2001:db8:1::/64"), &(MAC, "acc0".to_owned(), 7))]
        );
    }

    #[tokio::test]
    async fn remove_routes_at_shutdown() {
        let mut t = table(4);
        t.add(net("2001:db8:1::/64"), visiting("acc0"))
            .await
            .expect("add");
        t.add(net("2001:db8:2::/64"), visiting("acc0"))
            .await
            .expect("add");
        assert!(t.remove_routes().await.is_empty());
        assert!(t.routes.routes.is_empty());
    }
}
