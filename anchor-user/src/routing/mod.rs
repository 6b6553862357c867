//! The router's netlink side: the kernel routes it installs and the next hops it resolves.
//!
//! - [`routes`]: kernel routes toward visiting mobile nodes (`PREFIX dev IFACE`), added and
//!   removed with their bindings ([`Routes`], [`NetlinkRoutes`]).
//! - [`identity`]: one MAC and link-local address on every access interface (RFC 6543), set at
//!   start when the MAAR's `shared_access_identity` is on.
//! - [`nexthop`]: the per-peer next-hop cache (`NEXTHOPS`) and its resolver
//!   ([`NextHopResolver`]), a loop on rtnetlink events: `query.rs`, the routes, links and
//!   neighbours it asks the kernel for; `events.rs`, which events make it resolve again;
//!   `schedule.rs`, when it resolves (events, refresh, retry).
//!
//! It imports nothing from the datapath: the datapath hands the resolver its side of the map
//! ([`NextHopCache`]).

pub mod identity;
pub mod nexthop;
pub mod routes;

pub use nexthop::{NextHopCache, NextHopError, NextHopResolver};
pub use routes::{NetlinkRoutes, RouteError, Routes};
