//! The sources a visiting binding allows on its access interface: a visiting /64 routed to an
//! access interface (`dev`) is allowed as a source there (`ACCESS_SOURCES`), tied to the node's
//! MAC when the binding has it. The entry exists exactly while the binding's route does.

use ipnet::Ipv6Net;

use super::{BindingTable, DatapathPort, InstalledRoute, has_l2_key};
use crate::{datapath::DatapathError, routing::Routes};

impl<D: DatapathPort, R: Routes> BindingTable<D, R> {
    /// Allows the /64 `prefix` as a source on the access interface `ifindex`, from `mac` or
    /// any MAC: for a route the caller keeps itself (a MAAR's delegated prefix on its node's
    /// link).
    pub fn allow_source(
        &mut self,
        ifindex: u32,
        prefix: Ipv6Net,
        mac: Option<[u8; 6]>,
    ) -> Result<(), DatapathError> {
        self.datapath.set_access_source(ifindex, prefix, mac)
    }

    /// Undoes [`Self::allow_source`]; nothing when `prefix` was not allowed on `ifindex`.
    pub fn disallow_source(&mut self, ifindex: u32, prefix: Ipv6Net) -> Result<(), DatapathError> {
        self.datapath.remove_access_source(ifindex, prefix)
    }

    /// Allows `prefix` as a source behind `route`, from `mac` or any MAC; nothing for a prefix
    /// shorter than /64 (the program looks sources up by their /64).
    pub(super) fn add_source(
        &mut self,
        prefix: Ipv6Net,
        route: &InstalledRoute,
        mac: Option<[u8; 6]>,
    ) -> Result<(), DatapathError> {
        if !has_l2_key(prefix) {
            return Ok(());
        }
        self.datapath.set_access_source(route.ifindex, prefix, mac)
    }

    /// No longer allows `prefix` as a source behind `route`.
    pub(super) fn remove_source(
        &mut self,
        prefix: Ipv6Net,
        route: &InstalledRoute,
    ) -> Result<(), DatapathError> {
        if !has_l2_key(prefix) {
            return Ok(());
        }
        self.datapath.remove_access_source(route.ifindex, prefix)
    }

    /// Undoes [`Self::remove_source`] after a later step failed; a failure is logged (the
    /// node's packets from `prefix` are then dropped on an access link with source
    /// validation, until the binding is added again).
    pub(super) fn restore_source(
        &mut self,
        prefix: Ipv6Net,
        route: &InstalledRoute,
        mac: Option<[u8; 6]>,
    ) {
        if let Err(error) = self.add_source(prefix, route, mac) {
            tracing::error!(
                "cannot allow {prefix} as a source on {} again: {error}",
                route.dev
            );
        }
    }

    /// Undoes [`Self::add_source`] after a later step failed; a failure is logged (the entry
    /// allows a source nobody is routed to).
    pub(super) fn forget_source(&mut self, prefix: Ipv6Net, route: &InstalledRoute) {
        if let Err(error) = self.remove_source(prefix, route) {
            tracing::error!(
                "cannot remove {prefix} from the sources of {}: {error}",
                route.dev
            );
        }
    }

    /// Writes the source entries of the adopted bindings again (the pinned ones stay; a
    /// failure is logged).
    pub(super) fn adopt_sources(&mut self) {
        let adopted: Vec<(Ipv6Net, InstalledRoute, Option<[u8; 6]>)> = self
            .bindings
            .values()
            .filter_map(|b| {
                let route = self.installed_routes.get(&b.prefix)?;
                Some((b.prefix, route.clone(), b.kind.mac()))
            })
            .collect();
        for (prefix, route, mac) in adopted {
            if let Err(error) = self.add_source(prefix, &route, mac) {
                tracing::warn!(
                    "cannot allow {prefix} as a source on {} again: {error}",
                    route.dev
                );
            }
        }
    }
}
