//! What the kernel says about the way to a peer, over rtnetlink: its route (RTM_GETROUTE for
//! the peer's address: out interface, gateway, MTU metric), the out interface (MAC, MTU) and
//! the next hop's neighbour entry (link-layer address, NUD state). [`next_hop`] turns them into
//! the `NEXTHOPS` entry the program uses, or says why there is none.

use std::{collections::HashMap, fmt, net::Ipv6Addr};

use anchor_common::NextHop;
use futures::{StreamExt as _, TryStreamExt as _};
use netlink_packet_core::{NLM_F_REQUEST, NetlinkMessage, NetlinkPayload};
use netlink_packet_route::{
    AddressFamily, RouteNetlinkMessage,
    link::{LinkAttribute, LinkFlag},
    neighbour::{NeighbourAddress, NeighbourAttribute, NeighbourState},
    route::{RouteAddress, RouteAttribute, RouteMessage, RouteMetric, RouteType},
};
use thiserror::Error;

#[derive(Debug, Error)]
pub enum QueryError {
    #[error("cannot ask the kernel for the route to {peer}")]
    Route {
        peer: Ipv6Addr,
        #[source]
        source: Box<rtnetlink::Error>,
    },
    #[error("the kernel answered the route request for {peer} with error {errno}")]
    RouteErrno { peer: Ipv6Addr, errno: i32 },
    #[error("cannot list the {what}")]
    List {
        what: &'static str,
        #[source]
        source: Box<rtnetlink::Error>,
    },
}

/// The route the kernel would use toward a peer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Route {
    pub oif: u32,
    pub gateway: Option<Ipv6Addr>,
    /// The route's MTU metric (or a path MTU the kernel learnt), if it has one.
    pub mtu: Option<u32>,
}

impl Route {
    /// The address whose neighbour entry gives the next hop's MAC.
    pub fn next_hop(&self, peer: Ipv6Addr) -> Ipv6Addr {
        self.gateway.unwrap_or(peer)
    }
}

/// An interface as the next-hop cache needs it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Link {
    pub mac: Option<[u8; 6]>,
    pub mtu: Option<u32>,
    /// Administratively up with its carrier (`IFF_UP` and `IFF_RUNNING`).
    pub running: bool,
}

/// A neighbour entry.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Neighbour {
    pub lladdr: Option<[u8; 6]>,
    pub state: NeighbourState,
}

/// Neighbour entries by (ifindex, address).
pub type Neighbours = HashMap<(u32, Ipv6Addr), Neighbour>;
/// Interfaces by ifindex.
pub type Links = HashMap<u32, Link>;

/// Why a peer has no usable cached next hop: the program asks the FIB, and the kernel
/// resolves what is missing.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Unusable {
    NoRoute,
    /// The out interface is not an Ethernet-like interface with a MAC, or is gone.
    NoLinkAddress {
        oif: u32,
    },
    /// The out interface is down or has no carrier.
    LinkDown {
        oif: u32,
    },
    NoNeighbour {
        next_hop: Ipv6Addr,
        oif: u32,
    },
    /// The neighbour entry exists but is not usable (INCOMPLETE, FAILED, NOARP, ...).
    NeighbourState {
        next_hop: Ipv6Addr,
        oif: u32,
    },
    NoMtu {
        oif: u32,
    },
}

impl fmt::Display for Unusable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NoRoute => f.write_str("no route"),
            Self::NoLinkAddress { oif } => write!(f, "out interface {oif} has no MAC address"),
            Self::LinkDown { oif } => write!(f, "out interface {oif} is down"),
            Self::NoNeighbour { next_hop, oif } => {
                write!(f, "no neighbour entry for {next_hop} on interface {oif}")
            }
            Self::NeighbourState { next_hop, oif } => {
                write!(f, "neighbour {next_hop} on interface {oif} is not resolved")
            }
            Self::NoMtu { oif } => write!(f, "out interface {oif} has no MTU"),
        }
    }
}

/// Whether the kernel would send to a neighbour in `state` without resolving it first.
pub fn usable_state(state: NeighbourState) -> bool {
    matches!(
        state,
        NeighbourState::Reachable
            | NeighbourState::Stale
            | NeighbourState::Delay
            | NeighbourState::Probe
            | NeighbourState::Permanent
    )
}

/// The `NEXTHOPS` entry for `peer`, from its route, the interfaces and the neighbours.
pub fn next_hop(
    peer: Ipv6Addr,
    route: Option<&Route>,
    links: &Links,
    neighbours: &Neighbours,
) -> Result<NextHop, Unusable> {
    let route = route.ok_or(Unusable::NoRoute)?;
    let oif = route.oif;
    let link = links.get(&oif).ok_or(Unusable::NoLinkAddress { oif })?;
    let smac = link.mac.ok_or(Unusable::NoLinkAddress { oif })?;
    if !link.running {
        return Err(Unusable::LinkDown { oif });
    }
    let next_hop = route.next_hop(peer);
    let neighbour = neighbours
        .get(&(oif, next_hop))
        .ok_or(Unusable::NoNeighbour { next_hop, oif })?;
    let dmac = neighbour
        .lladdr
        .filter(|_| usable_state(neighbour.state))
        .ok_or(Unusable::NeighbourState { next_hop, oif })?;
    let mtu = match (route.mtu, link.mtu) {
        (Some(r), Some(l)) => r.min(l),
        (Some(m), None) | (None, Some(m)) => m,
        (None, None) => return Err(Unusable::NoMtu { oif }),
    };
    Ok(NextHop::valid(dmac, smac, oif, mtu))
}

fn mac(bytes: &[u8]) -> Option<[u8; 6]> {
    <[u8; 6]>::try_from(bytes).ok()
}

/// The route to `peer` (`None` when the kernel has no usable one).
pub async fn route(
    handle: &mut rtnetlink::Handle,
    peer: Ipv6Addr,
) -> Result<Option<Route>, QueryError> {
    let mut message = RouteMessage::default();
    message.header.address_family = AddressFamily::Inet6;
    message.header.destination_prefix_length = 128;
    message
        .attributes
        .push(RouteAttribute::Destination(RouteAddress::Inet6(peer)));
    let mut request = NetlinkMessage::from(RouteNetlinkMessage::GetRoute(message));
    request.header.flags = NLM_F_REQUEST;
    let mut responses = handle
        .request(request)
        .map_err(|source| QueryError::Route {
            peer,
            source: Box::new(source),
        })?;
    while let Some(response) = responses.next().await {
        match response.payload {
            NetlinkPayload::InnerMessage(RouteNetlinkMessage::NewRoute(route)) => {
                return Ok(parse_route(&route));
            }
            NetlinkPayload::Error(error) => {
                let errno = error.code.map_or(0, |code| code.get().abs());
                return match errno {
                    libc::ENETUNREACH | libc::EHOSTUNREACH | libc::ENETDOWN | libc::EACCES => {
                        Ok(None)
                    }
                    _ => Err(QueryError::RouteErrno { peer, errno }),
                };
            }
            _ => {}
        }
    }
    Ok(None)
}

fn parse_route(route: &RouteMessage) -> Option<Route> {
    if route.header.kind != RouteType::Unicast {
        return None;
    }
    let mut oif = None;
    let mut gateway = None;
    let mut mtu = None;
    for attribute in &route.attributes {
        match attribute {
            RouteAttribute::Oif(index) => oif = Some(*index),
            RouteAttribute::Gateway(RouteAddress::Inet6(addr)) => gateway = Some(*addr),
            RouteAttribute::Metrics(metrics) => {
                for metric in metrics {
                    if let RouteMetric::Mtu(value) = metric
                        && *value > 0
                    {
                        mtu = Some(*value);
                    }
                }
            }
            _ => {}
        }
    }
    Some(Route {
        oif: oif?,
        gateway,
        mtu,
    })
}

/// Every interface's MAC address and MTU.
pub async fn links(handle: &rtnetlink::Handle) -> Result<Links, QueryError> {
    let list_error = |source| QueryError::List {
        what: "interfaces",
        source: Box::new(source),
    };
    let mut links = Links::new();
    let mut stream = std::pin::pin!(handle.link().get().execute());
    while let Some(message) = stream.try_next().await.map_err(list_error)? {
        let flags = &message.header.flags;
        let mut link = Link {
            mac: None,
            mtu: None,
            running: flags.contains(&LinkFlag::Up) && flags.contains(&LinkFlag::Running),
        };
        for attribute in &message.attributes {
            match attribute {
                LinkAttribute::Address(bytes) => link.mac = mac(bytes),
                LinkAttribute::Mtu(value) => link.mtu = Some(*value),
                _ => {}
            }
        }
        links.insert(message.header.index, link);
    }
    Ok(links)
}

/// Every IPv6 neighbour entry.
pub async fn neighbours(handle: &rtnetlink::Handle) -> Result<Neighbours, QueryError> {
    let list_error = |source| QueryError::List {
        what: "IPv6 neighbours",
        source: Box::new(source),
    };
    let mut neighbours = Neighbours::new();
    let mut stream = std::pin::pin!(
        handle
            .neighbours()
            .get()
            .set_family(rtnetlink::IpVersion::V6)
            .execute()
    );
    while let Some(message) = stream.try_next().await.map_err(list_error)? {
        let mut destination = None;
        let mut lladdr = None;
        for attribute in &message.attributes {
            match attribute {
                NeighbourAttribute::Destination(NeighbourAddress::Inet6(addr)) => {
                    destination = Some(*addr);
                }
                NeighbourAttribute::LinkLocalAddress(bytes) => lladdr = mac(bytes),
                _ => {}
            }
        }
        if let Some(addr) = destination {
            neighbours.insert(
                (message.header.ifindex, addr),
                Neighbour {
                    lladdr,
                    state: message.header.state,
                },
            );
        }
    }
    Ok(neighbours)
}

/// The (ifindex, address) of a neighbour event, if it is an IPv6 one.
pub fn neighbour_key(message: &RouteNetlinkMessage) -> Option<(u32, Ipv6Addr)> {
    let (RouteNetlinkMessage::NewNeighbour(neighbour)
    | RouteNetlinkMessage::DelNeighbour(neighbour)) = message
    else {
        return None;
    };
    neighbour
        .attributes
        .iter()
        .find_map(|attribute| match attribute {
            NeighbourAttribute::Destination(NeighbourAddress::Inet6(addr)) => {
                Some((neighbour.header.ifindex, *addr))
            }
            _ => None,
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    const PEER: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 0xff, 0, 0, 0, 0, 2);
    const GW: Ipv6Addr = Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0, 0, 9);
    const SMAC: [u8; 6] = [2, 0, 0, 0, 0, 1];
    const DMAC: [u8; 6] = [2, 0, 0, 0, 0, 2];

    fn links(mtu: u32) -> Links {
        Links::from([(
            5,
            Link {
                mac: Some(SMAC),
                mtu: Some(mtu),
                running: true,
            },
        )])
    }

    fn neighbour(addr: Ipv6Addr, state: NeighbourState) -> Neighbours {
        Neighbours::from([(
            (5, addr),
            Neighbour {
                lladdr: Some(DMAC),
                state,
            },
        )])
    }

    #[test]
    fn a_direct_peer_with_a_reachable_neighbour() {
        let route = Route {
            oif: 5,
            gateway: None,
            mtu: None,
        };
        assert_eq!(
            next_hop(
                PEER,
                Some(&route),
                &links(1500),
                &neighbour(PEER, NeighbourState::Reachable)
            ),
            Ok(NextHop::valid(DMAC, SMAC, 5, 1500))
        );
    }

    #[test]
    fn a_gateway_gives_the_mac_and_the_route_mtu_can_be_lower() {
        let route = Route {
            oif: 5,
            gateway: Some(GW),
            mtu: Some(1400),
        };
        for state in [
            NeighbourState::Stale,
            NeighbourState::Delay,
            NeighbourState::Probe,
            NeighbourState::Permanent,
        ] {
            assert_eq!(
                next_hop(PEER, Some(&route), &links(1500), &neighbour(GW, state)),
                Ok(NextHop::valid(DMAC, SMAC, 5, 1400))
            );
        }
        // The peer's own entry does not count when the route has a gateway.
        assert_eq!(
            next_hop(
                PEER,
                Some(&route),
                &links(1500),
                &neighbour(PEER, NeighbourState::Reachable)
            ),
            Err(Unusable::NoNeighbour {
                next_hop: GW,
                oif: 5
            })
        );
    }

    #[test]
    fn unresolved_neighbours_and_missing_routes_are_unusable() {
        let route = Route {
            oif: 5,
            gateway: None,
            mtu: None,
        };
        for state in [
            NeighbourState::Incomplete,
            NeighbourState::Failed,
            NeighbourState::Noarp,
            NeighbourState::None,
        ] {
            assert_eq!(
                next_hop(PEER, Some(&route), &links(1500), &neighbour(PEER, state)),
                Err(Unusable::NeighbourState {
                    next_hop: PEER,
                    oif: 5
                })
            );
        }
        assert_eq!(
            next_hop(PEER, None, &links(1500), &Neighbours::new()),
            Err(Unusable::NoRoute)
        );
        let other = Route { oif: 6, ..route };
        assert_eq!(
            next_hop(PEER, Some(&other), &links(1500), &Neighbours::new()),
            Err(Unusable::NoLinkAddress { oif: 6 })
        );
        let mut down = links(1500);
        for link in down.values_mut() {
            link.running = false;
        }
        assert_eq!(
            next_hop(
                PEER,
                Some(&route),
                &down,
                &neighbour(PEER, NeighbourState::Permanent)
            ),
            Err(Unusable::LinkDown { oif: 5 })
        );
    }
}
