//! The router as the MAAR role (`anchor-maar`) sees it: [`MaarRouter`] implements its
//! [`RouterPort`] over the binding table and the netlink routes toward attached nodes.

use std::{future::Future, sync::Arc};

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
}

/// The binding table shared with the API, and the routes of the MAAR's delegated prefixes.
pub struct MaarRouter<D, R, L> {
    table: Arc<Mutex<BindingTable<D, R>>>,
    routes: L,
}

impl<D, R, L> MaarRouter<D, R, L> {
    pub fn new(table: Arc<Mutex<BindingTable<D, R>>>, routes: L) -> Self {
        Self { table, routes }
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

    async fn add_route(
        &mut self,
        prefix: Ipv6Net,
        dev: &str,
        ifindex: u32,
    ) -> Result<(), RouteFailure<MaarRouterError>> {
        self.routes
            .add_route(prefix, dev, ifindex)
            .await
            .map_err(|error| match error {
                RouteError::Exists { .. } => RouteFailure::AlreadyDone(error.into()),
                _ => RouteFailure::Failed(error.into()),
            })
    }

    async fn remove_route(
        &mut self,
        prefix: Ipv6Net,
        dev: &str,
        ifindex: u32,
    ) -> Result<(), RouteFailure<MaarRouterError>> {
        self.routes
            .del_route(prefix, dev, ifindex)
            .await
            .map_err(|error| match error {
                RouteError::NotFound { .. } => RouteFailure::AlreadyDone(error.into()),
                _ => RouteFailure::Failed(error.into()),
            })
    }
}
