//! The router as the MAAR role (`anchor-maar`) sees it: [`MaarRouter`] implements its
//! [`RouterPort`] over the binding table and the netlink routes toward attached nodes.

use std::{collections::HashMap, future::Future, sync::Arc};

use anchor_maar::{MaarBindingKind, RouteFailure, RouterPort};
use ipnet::Ipv6Net;
use thiserror::Error;
use tokio::sync::Mutex;

use crate::{
    binding_table::{BindingTable, DatapathPort, TableBindingKind, TableError},
    datapath::DatapathError,
    routing::{RouteError, Routes},
};

/// Why a change the MAAR asked for failed (the underlying error, unchanged).
#[derive(Debug, Error)]
pub enum MaarRouterError {
    #[error(transparent)]
    Binding(#[from] TableError),
    #[error(transparent)]
    Counters(#[from] DatapathError),
    #[error(transparent)]
    Route(#[from] RouteError),
    #[error("cannot change the sources allowed on {dev} for {prefix}")]
    Source {
        prefix: Ipv6Net,
        dev: String,
        #[source]
        source: DatapathError,
    },
}

/// The binding table shared with the API, and the routes of the MAAR's delegated prefixes,
/// whose sources it allows on their access links.
pub struct MaarRouter<D, R, L> {
    table: Arc<Mutex<BindingTable<D, R>>>,
    routes: L,
    /// The node's MAC each routed prefix's sources are tied to, by (ifindex, prefix): to allow
    /// them again as they were when a route removal fails, and the nodes known on each access
    /// interface (`KNOWN_MACS`: the MACs with a route there).
    source_macs: HashMap<(u32, Ipv6Net), Option<[u8; 6]>>,
}

impl<D, R, L> MaarRouter<D, R, L> {
    pub fn new(table: Arc<Mutex<BindingTable<D, R>>>, routes: L) -> Self {
        Self {
            table,
            routes,
            source_macs: HashMap::new(),
        }
    }
}

impl<D: DatapathPort, R: Routes, L> MaarRouter<D, R, L> {
    /// The node `mac` is known on `ifindex` while a route toward it is there (`KNOWN_MACS`); a
    /// failure is logged (the node's frames are reported as first frames meanwhile, which
    /// attach nothing new).
    async fn know(&mut self, ifindex: u32, mac: Option<[u8; 6]>) {
        let Some(mac) = mac else { return };
        if let Err(error) = self.table.lock().await.know_mac(ifindex, mac) {
            tracing::warn!("cannot record a node's MAC as known: {error}");
        }
    }

    /// Native packets to the node's `prefix` go straight to its `mac` on `dev` (`VISITING_L2`);
    /// a failure is logged (the kernel's route and Neighbour Discovery deliver them meanwhile).
    async fn attach_l2(&mut self, prefix: Ipv6Net, dev: &str, ifindex: u32, mac: Option<[u8; 6]>) {
        let Some(mac) = mac else { return };
        if let Err(error) = self.table.lock().await.attach_l2(prefix, mac, dev, ifindex) {
            tracing::warn!("cannot write the L2 next hop of {prefix} on {dev}: {error}");
        }
    }

    /// Forgets the node `mac` on `ifindex` when no route toward it is left there.
    async fn forget(&mut self, ifindex: u32, mac: Option<[u8; 6]>) {
        let Some(mac) = mac else { return };
        let routed = self
            .source_macs
            .iter()
            .any(|((i, _), m)| *i == ifindex && *m == Some(mac));
        if routed {
            return;
        }
        if let Err(error) = self.table.lock().await.forget_mac(ifindex, mac) {
            tracing::warn!("cannot forget a node's MAC: {error}");
        }
    }
}

impl From<MaarBindingKind> for TableBindingKind {
    fn from(kind: MaarBindingKind) -> Self {
        match kind {
            MaarBindingKind::Redirect { serving } => Self::Redirect { serving },
            MaarBindingKind::Visiting {
                home,
                reverse_tunnel,
                dev,
                mac,
            } => Self::Visiting {
                home,
                reverse_tunnel,
                dev,
                mac,
            },
        }
    }
}

impl From<TableBindingKind> for MaarBindingKind {
    fn from(kind: TableBindingKind) -> Self {
        match kind {
            TableBindingKind::Redirect { serving } => Self::Redirect { serving },
            TableBindingKind::Visiting {
                home,
                reverse_tunnel,
                dev,
                mac,
            } => Self::Visiting {
                home,
                reverse_tunnel,
                dev,
                mac,
            },
        }
    }
}

impl<D, R, L> RouterPort for MaarRouter<D, R, L>
where
    D: DatapathPort + Send + Sync,
    R: Routes + Send + Sync,
    L: Routes + Send,
{
    type Error = MaarRouterError;

    async fn add_binding(
        &mut self,
        prefix: Ipv6Net,
        kind: &MaarBindingKind,
    ) -> Result<(), MaarRouterError> {
        let kind = TableBindingKind::from(kind.clone());
        self.table.lock().await.add(prefix, kind).await?;
        Ok(())
    }

    async fn remove_binding(&mut self, prefix: Ipv6Net) -> Result<(), MaarRouterError> {
        self.table.lock().await.remove(prefix).await?;
        Ok(())
    }

    fn binding_room(&self) -> impl Future<Output = usize> + Send {
        let table = Arc::clone(&self.table);
        async move { table.lock().await.room() }
    }

    fn binding(&self, prefix: Ipv6Net) -> impl Future<Output = Option<MaarBindingKind>> + Send {
        // The table alone goes into the future: the routes need not be `Sync`.
        let table = Arc::clone(&self.table);
        async move {
            let table = table.lock().await;
            table
                .get(prefix)
                .map(|b| MaarBindingKind::from(b.kind.clone()))
        }
    }

    fn binding_packets(
        &self,
        prefix: Ipv6Net,
    ) -> impl Future<Output = Option<Result<u64, MaarRouterError>>> + Send {
        let table = Arc::clone(&self.table);
        async move {
            let table = table.lock().await;
            let binding = table.get(prefix)?;
            Some(
                table
                    .datapath()
                    .binding_stats(binding.slot)
                    .map(|stats| stats.packets.iter().fold(0u64, |a, p| a.wrapping_add(*p)))
                    .map_err(MaarRouterError::from),
            )
        }
    }

    /// The node's sources on its link first (`ACCESS_SOURCES`), then the route; the sources
    /// are taken back when the route fails.
    async fn add_route(
        &mut self,
        prefix: Ipv6Net,
        dev: &str,
        ifindex: u32,
        mac: Option<[u8; 6]>,
    ) -> Result<(), RouteFailure<MaarRouterError>> {
        let source_error = |source| MaarRouterError::Source {
            prefix,
            dev: dev.to_owned(),
            source,
        };
        self.table
            .lock()
            .await
            .allow_source(ifindex, prefix, mac)
            .map_err(|error| RouteFailure::Failed(source_error(error)))?;
        match self.routes.add_route(prefix, dev, ifindex).await {
            Ok(()) => {
                self.source_macs.insert((ifindex, prefix), mac);
                self.know(ifindex, mac).await;
                self.attach_l2(prefix, dev, ifindex, mac).await;
                Ok(())
            }
            Err(error @ RouteError::Exists { .. }) => {
                self.source_macs.insert((ifindex, prefix), mac);
                self.know(ifindex, mac).await;
                self.attach_l2(prefix, dev, ifindex, mac).await;
                Err(RouteFailure::AlreadyDone(error.into()))
            }
            Err(error) => {
                if let Err(undo) = self.table.lock().await.disallow_source(ifindex, prefix) {
                    tracing::error!("{}", anchor_pmip::error_chain(&source_error(undo)));
                }
                Err(RouteFailure::Failed(error.into()))
            }
        }
    }

    /// The L2 next hop, the sources, then the route; the sources are allowed again when the
    /// route stays.
    async fn remove_route(
        &mut self,
        prefix: Ipv6Net,
        dev: &str,
        ifindex: u32,
    ) -> Result<(), RouteFailure<MaarRouterError>> {
        let source_error = |source| MaarRouterError::Source {
            prefix,
            dev: dev.to_owned(),
            source,
        };
        if let Err(error) = self.table.lock().await.detach_l2(prefix) {
            // The node is gone from here: packets would go to its MAC on this link until a
            // binding or route of the prefix replaces the entry.
            tracing::error!("cannot remove the L2 next hop of {prefix} on {dev}: {error}");
        }
        self.table
            .lock()
            .await
            .disallow_source(ifindex, prefix)
            .map_err(|error| RouteFailure::Failed(source_error(error)))?;
        let mac = self.source_macs.remove(&(ifindex, prefix)).flatten();
        match self.routes.del_route(prefix, dev, ifindex).await {
            Ok(()) => {
                self.forget(ifindex, mac).await;
                Ok(())
            }
            Err(error @ RouteError::NotFound { .. }) => {
                self.forget(ifindex, mac).await;
                Err(RouteFailure::AlreadyDone(error.into()))
            }
            Err(error) => {
                if let Err(undo) = self.table.lock().await.allow_source(ifindex, prefix, mac) {
                    tracing::error!("{}", anchor_pmip::error_chain(&source_error(undo)));
                }
                self.source_macs.insert((ifindex, prefix), mac);
                Err(RouteFailure::Failed(error.into()))
            }
        }
    }
}

#[cfg(test)]
mod tests;
