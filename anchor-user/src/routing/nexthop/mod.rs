//! The per-peer next-hop cache (`NEXTHOPS`): the daemon resolves, for every peer in use, the
//! route, the out interface and the neighbour, and writes what the program needs to send an
//! encapsulated packet without a FIB lookup. An entry is marked invalid whenever something is
//! missing (no route, neighbour not resolved): the program then asks the FIB and hands the
//! packet to the kernel, which resolves the neighbour, and the neighbour event brings the
//! entry back.
//!
//! [`NextHopResolver::run`] re-resolves every peer a few milliseconds after a burst of rtnetlink
//! events (IPv6 routes and rules, neighbours of the next hops, links, or a lost-events overrun),
//! when peers come or go, and every
//! [`REFRESH`] as a safety net. It writes only the entries that changed. Which events count is
//! `events.rs`; when rounds run, `schedule.rs`; what it asks the kernel, `query.rs`.

use std::{
    collections::{BTreeMap, BTreeSet},
    net::Ipv6Addr,
};

use anchor_common::{NextHop, maps::NEXTHOPS};
use aya::maps::{Array, MapData, MapError};
use futures::{StreamExt as _, channel::mpsc::UnboundedReceiver};
use netlink_packet_core::NetlinkMessage;
use netlink_packet_route::RouteNetlinkMessage;
use netlink_sys::{AsyncSocket as _, SocketAddr};
use thiserror::Error;
use tokio::sync::watch;

use crate::datapath::TxPorts;

mod events;
mod query;
mod schedule;

use query::{QueryError, Unusable};
use schedule::{Round, Rounds, Wake, schedule};

pub use schedule::{DEBOUNCE, REFRESH, RETRY};

/// The peers in use: `PEERS` index -> locator.
pub type PeerSet = BTreeMap<u16, Ipv6Addr>;

/// `RTNLGRP_IPV6_RULE` (linux/rtnetlink.h): policy routing rules, which RTM_GETROUTE applies.
/// It has no legacy `RTMGRP_*` bit: joined with `NETLINK_ADD_MEMBERSHIP`.
const RTNLGRP_IPV6_RULE: u32 = 19;

/// `RTMGRP_*` bits: links, neighbours, IPv6 routes.
const GROUPS: u32 = rtnetlink::constants::RTMGRP_LINK
    | rtnetlink::constants::RTMGRP_NEIGH
    | rtnetlink::constants::RTMGRP_IPV6_ROUTE;

#[derive(Debug, Error)]
pub enum NextHopError {
    #[error("cannot open an rtnetlink socket for the next-hop resolver")]
    Connect(#[source] std::io::Error),
    #[error("cannot subscribe to rtnetlink groups {groups:#x}")]
    Subscribe {
        groups: u32,
        #[source]
        source: std::io::Error,
    },
    #[error(transparent)]
    Query(#[from] QueryError),
    #[error("cannot {operation} entry {index} of map {NEXTHOPS} (peer {peer})")]
    Map {
        operation: &'static str,
        index: u16,
        peer: Ipv6Addr,
        #[source]
        source: MapError,
    },
}

/// The resolver's side of `NEXTHOPS`: its own descriptors of the map and of `TX_PORTS`, and the
/// peers in use (from [`Datapath::next_hop_cache`](crate::datapath::Datapath::next_hop_cache)).
pub struct NextHopCache {
    map: Array<MapData, NextHop>,
    ports: TxPorts,
    /// The out interfaces that could not be put in `TX_PORTS`, warned about once each (until
    /// one round puts them in).
    ports_failed: BTreeSet<u32>,
    peers: watch::Receiver<PeerSet>,
}

impl NextHopCache {
    pub(crate) fn new(
        map: Array<MapData, NextHop>,
        ports: TxPorts,
        peers: watch::Receiver<PeerSet>,
    ) -> Self {
        Self {
            map,
            ports,
            ports_failed: BTreeSet::new(),
            peers,
        }
    }

    /// Puts the out interfaces of a round's valid entries in `TX_PORTS` (again, every round:
    /// the kernel drops an entry whose device goes, and the index may name a new one). A
    /// failure costs the program's device-map redirect to that interface, not a packet: it is
    /// logged once, not returned.
    fn add_ports(&mut self, ifindexes: &BTreeSet<u32>) {
        for &ifindex in ifindexes {
            match self.ports.add(ifindex) {
                Ok(()) => {
                    self.ports_failed.remove(&ifindex);
                }
                Err(error) => {
                    if self.ports_failed.insert(ifindex) {
                        tracing::warn!(
                            "{}: packets to this next hop are redirected by interface index",
                            anchor_pmip::error_chain(&error)
                        );
                    }
                }
            }
        }
    }

    /// Writes `entry` for `index` unless the map already holds it; returns whether it wrote.
    fn write(&mut self, index: u16, peer: Ipv6Addr, entry: NextHop) -> Result<bool, NextHopError> {
        let map_error = |operation| {
            move |source| NextHopError::Map {
                operation,
                index,
                peer,
                source,
            }
        };
        let current = self
            .map
            .get(&u32::from(index), 0)
            .map_err(map_error("read"))?;
        // An invalid entry keeps the last MACs and interface, with the valid bit cleared: the
        // update is not atomic for the program, and a packet that read the bit just before it
        // then still gets a whole next hop (never interface 0).
        let entry = if entry.is_valid() {
            entry
        } else {
            NextHop {
                flags: 0,
                ..current
            }
        };
        if current == entry {
            return Ok(false);
        }
        self.map
            .set(u32::from(index), entry, 0)
            .map_err(map_error("write"))?;
        Ok(true)
    }
}

/// What one resolution round did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Resolved {
    /// Peers with a valid entry.
    pub valid: usize,
    /// Peers without one, and why.
    pub unusable: Vec<(Ipv6Addr, Unusable)>,
    /// Entries written (the others were already right).
    pub written: usize,
}

/// Keeps `NEXTHOPS` in step with the kernel's routes and neighbours.
pub struct NextHopResolver {
    cache: NextHopCache,
    handle: rtnetlink::Handle,
    events: UnboundedReceiver<(NetlinkMessage<RouteNetlinkMessage>, SocketAddr)>,
    connection: tokio::task::JoinHandle<()>,
    /// The (ifindex, address) of the next hops last resolved, valid or not: the neighbour
    /// events that matter.
    watched: Vec<(u32, Ipv6Addr)>,
}

impl Drop for NextHopResolver {
    fn drop(&mut self) {
        self.connection.abort();
    }
}

impl NextHopResolver {
    /// Opens an rtnetlink socket in the calling thread's network namespace, subscribed to the
    /// link, neighbour and IPv6 route groups. Call it inside a tokio runtime (it registers the
    /// socket with the runtime's reactor and spawns the connection task).
    pub fn new(cache: NextHopCache) -> Result<Self, NextHopError> {
        let (mut connection, handle, events) =
            rtnetlink::new_connection().map_err(NextHopError::Connect)?;
        connection
            .socket_mut()
            .socket_mut()
            .bind(&SocketAddr::new(0, GROUPS))
            .map_err(|source| NextHopError::Subscribe {
                groups: GROUPS,
                source,
            })?;
        connection
            .socket_mut()
            .socket_mut()
            .add_membership(RTNLGRP_IPV6_RULE)
            .map_err(|source| NextHopError::Subscribe {
                groups: 1 << (RTNLGRP_IPV6_RULE - 1),
                source,
            })?;
        let connection = tokio::spawn(connection);
        Ok(Self {
            cache,
            handle,
            events,
            connection,
            watched: Vec::new(),
        })
    }

    /// Resolves every peer in use now and writes the entries that changed.
    pub async fn resolve_once(&mut self) -> Result<Resolved, NextHopError> {
        let peers = self.cache.peers.borrow_and_update().clone();
        let links = query::links(&self.handle).await?;
        let neighbours = query::neighbours(&self.handle).await?;
        let mut resolved = Resolved::default();
        let mut watched = Vec::with_capacity(peers.len());
        let mut out_ifindexes = BTreeSet::new();
        let mut failed = None;
        for (&index, &peer) in &peers {
            // A failed query invalidates that peer's entry and the round goes on with the
            // others; the round reports the first failure (and is tried again).
            let route = match query::route(&mut self.handle, peer).await {
                Ok(route) => route,
                Err(error) => {
                    self.cache.write(index, peer, NextHop::INVALID)?;
                    failed.get_or_insert(error);
                    continue;
                }
            };
            if let Some(route) = &route {
                watched.push((route.oif, route.next_hop(peer)));
            }
            let outcome = query::next_hop(peer, route.as_ref(), &links, &neighbours);
            let entry = match outcome {
                Ok(entry) => {
                    resolved.valid += 1;
                    out_ifindexes.insert(entry.ifindex);
                    entry
                }
                Err(reason) => {
                    resolved.unusable.push((peer, reason));
                    NextHop::INVALID
                }
            };
            if self.cache.write(index, peer, entry)? {
                resolved.written += 1;
                match outcome {
                    Ok(_) => tracing::debug!(
                        "next hop of peer {peer}: {} via ifindex {} (mtu {})",
                        mac_text(entry.dmac),
                        entry.ifindex,
                        entry.mtu
                    ),
                    Err(reason) => tracing::debug!(
                        "next hop of peer {peer} not cached ({reason}): packets to it take \
                         the FIB lookup"
                    ),
                }
            }
        }
        self.cache.add_ports(&out_ifindexes);
        watched.sort_unstable();
        watched.dedup();
        self.watched = watched;
        match failed {
            Some(error) => Err(error.into()),
            None => Ok(resolved),
        }
    }

    /// Resolves now, then again after relevant events (debounced by [`DEBOUNCE`]), peer
    /// changes, every [`REFRESH`], and [`RETRY`] after a failed round, until `stop` completes,
    /// the datapath is gone or the rtnetlink socket closes. Then every entry of a peer in use is
    /// marked invalid: a program left running without the daemon asks the FIB rather than trust
    /// a cache nobody keeps.
    pub async fn run(mut self, stop: impl std::future::Future<Output = ()>) {
        schedule(&mut self, stop).await;
        self.invalidate_all();
    }

    /// Marks the entry of every peer in use invalid.
    pub fn invalidate_all(&mut self) {
        let peers = self.cache.peers.borrow().clone();
        for (index, peer) in peers {
            if let Err(error) = self.cache.write(index, peer, NextHop::INVALID) {
                tracing::warn!("{error}");
            }
        }
    }
}

impl Rounds for NextHopResolver {
    async fn round(&mut self) -> Round {
        match self.resolve_once().await {
            Ok(resolved) => {
                tracing::debug!(
                    "next hops resolved: {} cached, {} not, {} written",
                    resolved.valid,
                    resolved.unusable.len(),
                    resolved.written
                );
                Round::Done
            }
            Err(error) => {
                tracing::warn!(
                    "{} (trying again in {RETRY:?})",
                    anchor_pmip::error_chain(&error)
                );
                Round::Failed
            }
        }
    }

    fn discard_queued_events(&mut self) {
        while self.events.try_recv().is_ok() {}
    }

    async fn wake(&mut self) -> Wake {
        tokio::select! {
            changed = self.cache.peers.changed() => match changed {
                Ok(()) => Wake::Peers,
                // The datapath is gone.
                Err(_) => Wake::Closed,
            },
            event = self.events.next() => if let Some((message, _)) = event { Wake::Event(message) } else {
                tracing::warn!(
                    "the next-hop resolver's rtnetlink socket closed: packets to the \
                     peers take the FIB lookup from now on"
                );
                Wake::Closed
            },
        }
    }

    fn watched(&self) -> &[(u32, Ipv6Addr)] {
        &self.watched
    }
}

fn mac_text(mac: [u8; 6]) -> String {
    mac.iter()
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .join(":")
}
