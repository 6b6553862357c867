//! Which rtnetlink events can change a `NEXTHOPS` entry, and so make the resolver resolve again:
//! a lost-events overrun, any IPv6 route, rule or link event, and the neighbour events of the
//! next hops last resolved.

use std::net::Ipv6Addr;

use netlink_packet_core::{NetlinkMessage, NetlinkPayload};
use netlink_packet_route::RouteNetlinkMessage;

use super::query;

/// Whether `message` can change an entry, given the (ifindex, address) of the next hops last
/// resolved, sorted (`watched`).
pub(super) fn relevant(
    message: &NetlinkMessage<RouteNetlinkMessage>,
    watched: &[(u32, Ipv6Addr)],
) -> bool {
    let inner = match &message.payload {
        NetlinkPayload::InnerMessage(inner) => inner,
        // The kernel dropped events (the socket's buffer was full, ENOBUFS): any entry may be
        // stale.
        NetlinkPayload::Overrun(_) => return true,
        _ => return false,
    };
    match inner {
        RouteNetlinkMessage::NewNeighbour(_) | RouteNetlinkMessage::DelNeighbour(_) => {
            query::neighbour_key(inner).is_some_and(|key| watched.binary_search(&key).is_ok())
        }
        RouteNetlinkMessage::NewRoute(_)
        | RouteNetlinkMessage::DelRoute(_)
        | RouteNetlinkMessage::NewLink(_)
        | RouteNetlinkMessage::DelLink(_)
        | RouteNetlinkMessage::NewRule(_)
        | RouteNetlinkMessage::DelRule(_) => true,
        _ => false,
    }
}

/// Events as the resolver's socket delivers them, for the tests of this module and of the
/// schedule.
#[cfg(test)]
pub(super) mod sample {
    use std::net::Ipv6Addr;

    use netlink_packet_core::{NLMSG_OVERRUN, NetlinkHeader, NetlinkMessage, NetlinkPayload};
    use netlink_packet_route::{
        RouteNetlinkMessage,
        neighbour::{NeighbourAddress, NeighbourAttribute, NeighbourMessage},
        route::RouteMessage,
        rule::RuleMessage,
    };

    /// What netlink-proto yields when a read fails with ENOBUFS (its `framed.rs`).
    pub fn overrun() -> NetlinkMessage<RouteNetlinkMessage> {
        let mut header = NetlinkHeader::default();
        header.length = 16;
        header.message_type = NLMSG_OVERRUN;
        NetlinkMessage::new(header, NetlinkPayload::Overrun(Vec::new()))
    }

    pub fn new_rule() -> NetlinkMessage<RouteNetlinkMessage> {
        NetlinkMessage::from(RouteNetlinkMessage::NewRule(RuleMessage::default()))
    }

    pub fn del_rule() -> NetlinkMessage<RouteNetlinkMessage> {
        NetlinkMessage::from(RouteNetlinkMessage::DelRule(RuleMessage::default()))
    }

    pub fn new_route() -> NetlinkMessage<RouteNetlinkMessage> {
        NetlinkMessage::from(RouteNetlinkMessage::NewRoute(RouteMessage::default()))
    }

    /// A neighbour event for `address` on interface `ifindex`.
    pub fn neighbour(ifindex: u32, address: Ipv6Addr) -> NetlinkMessage<RouteNetlinkMessage> {
        let mut neighbour = NeighbourMessage::default();
        neighbour.header.ifindex = ifindex;
        neighbour
            .attributes
            .push(NeighbourAttribute::Destination(NeighbourAddress::Inet6(
                address,
            )));
        NetlinkMessage::from(RouteNetlinkMessage::NewNeighbour(neighbour))
    }
}

#[cfg(test)]
mod tests {
    use super::{relevant, sample};

    use std::net::Ipv6Addr;

    const NEXT_HOP: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 0xff, 0, 0, 0, 0, 2);
    const OTHER: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 0xff, 0, 0, 0, 0, 0x77);
    const WATCHED: &[(u32, Ipv6Addr)] = &[(5, NEXT_HOP)];

    #[test]
    fn an_overrun_makes_every_entry_suspect() {
        assert!(relevant(&sample::overrun(), WATCHED));
        assert!(relevant(&sample::overrun(), &[]));
    }

    #[test]
    fn rule_changes_are_relevant() {
        assert!(relevant(&sample::new_rule(), WATCHED));
        assert!(relevant(&sample::del_rule(), &[]));
    }

    #[test]
    fn only_the_neighbours_of_next_hops_are_relevant() {
        assert!(relevant(&sample::new_route(), &[]));
        assert!(relevant(&sample::neighbour(5, NEXT_HOP), WATCHED));
        assert!(!relevant(&sample::neighbour(5, OTHER), WATCHED));
        assert!(!relevant(&sample::neighbour(6, NEXT_HOP), WATCHED));
    }
}
