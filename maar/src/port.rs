//! What the MAAR needs from the router it runs in, and nothing more: the bindings of the data
//! plane (add, remove, look up, read a binding's packet count) and the routes toward attached
//! nodes (add, remove). `anchor-user` implements [`RouterPort`] over its binding table and
//! netlink routes; the engine stays without I/O and names what it wants in its own terms
//! ([`MaarBindingKind`]), as the eUPF control plane reaches its forwarding plane through one
//! narrow interface.

use std::{future::Future, net::Ipv6Addr};

use ipnet::Ipv6Net;
use thiserror::Error;

/// What the router is to do for a prefix at the MAAR's request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum MaarBindingKind {
    /// This MAAR anchors the prefix; its mobile node is now attached at `serving`.
    Redirect { serving: Ipv6Addr },
    /// The mobile node holding the prefix is attached here; the prefix is anchored at `home`.
    /// With `dev`, the prefix is routed to that access interface; with `dev` and `mac` (the
    /// node's MAC address, from its EUI-48 MN-ID), the packets for it are sent straight to that
    /// MAC, without Neighbour Discovery.
    Visiting {
        home: Ipv6Addr,
        reverse_tunnel: bool,
        dev: Option<String>,
        mac: Option<[u8; 6]>,
    },
}

/// A route change that did not take place.
#[derive(Debug, Error)]
pub enum RouteFailure<E: std::error::Error + 'static> {
    /// Adding: a route for the prefix is there already; removing: there is none. Either way
    /// the table is as asked.
    #[error(transparent)]
    AlreadyDone(E),
    #[error(transparent)]
    Failed(E),
}

/// The router as the MAAR service drives it. Every call is complete when its future is.
pub trait RouterPort {
    /// Why a change or a read failed; logged with its sources.
    type Error: std::error::Error + Send + 'static;

    /// Installs a binding for `prefix`.
    fn add_binding(
        &mut self,
        prefix: Ipv6Net,
        kind: &MaarBindingKind,
    ) -> impl Future<Output = Result<(), Self::Error>> + Send;

    /// Removes the binding of `prefix`.
    fn remove_binding(
        &mut self,
        prefix: Ipv6Net,
    ) -> impl Future<Output = Result<(), Self::Error>> + Send;

    /// The binding of `prefix` in place, if any.
    fn binding(&self, prefix: Ipv6Net) -> impl Future<Output = Option<MaarBindingKind>> + Send;

    /// How many more bindings the router has room for (its binding map's free entries).
    fn binding_room(&self) -> impl Future<Output = usize> + Send;

    /// The packets of `prefix`'s binding so far, both directions summed; `None` without a
    /// binding.
    fn binding_packets(
        &self,
        prefix: Ipv6Net,
    ) -> impl Future<Output = Option<Result<u64, Self::Error>>> + Send;

    /// Adds the route `prefix dev dev` (`ifindex` is the index of `dev`) toward a node whose
    /// MAC address is `mac` when the MAAR knows it (an EUI-48 MN-ID): the prefix is then a
    /// source of that node on `dev` (from that MAC only, when it is known).
    fn add_route(
        &mut self,
        prefix: Ipv6Net,
        dev: &str,
        ifindex: u32,
        mac: Option<[u8; 6]>,
    ) -> impl Future<Output = Result<(), RouteFailure<Self::Error>>> + Send;

    /// Removes the route added by [`add_route`](Self::add_route).
    fn remove_route(
        &mut self,
        prefix: Ipv6Net,
        dev: &str,
        ifindex: u32,
    ) -> impl Future<Output = Result<(), RouteFailure<Self::Error>>> + Send;
}
