//! The node's addresses over rtnetlink: the global IPv6 addresses of its access interfaces as
//! they come and go (kernel SLAAC), and the old addresses it keeps after a move (a /128,
//! deprecated, without duplicate address detection: no new connection picks it, the old ones
//! go on).

use std::{collections::HashMap, net::Ipv6Addr};

use futures::{StreamExt as _, TryStreamExt as _, channel::mpsc::UnboundedReceiver};
use ipnet::Ipv6Net;
use netlink_packet_core::{NetlinkMessage, NetlinkPayload};
use netlink_packet_route::{
    AddressFamily, RouteNetlinkMessage,
    address::{AddressAttribute, AddressHeaderFlag, AddressMessage, CacheInfo},
    link::LinkAttribute,
    route::{RouteAddress, RouteAttribute, RouteMetric},
};
use netlink_sys::{AsyncSocket as _, SocketAddr};
use thiserror::Error;

/// `RTMGRP_IPV6_IFADDR`.
const GROUPS: u32 = rtnetlink::constants::RTMGRP_IPV6_IFADDR;
const EEXIST: i32 = 17;
const EADDRNOTAVAIL: i32 = 99;

#[derive(Debug, Error)]
pub enum HostError {
    #[error("cannot open an rtnetlink socket")]
    Connect(#[source] std::io::Error),
    #[error("cannot subscribe to the IPv6 address events")]
    Subscribe(#[source] std::io::Error),
    #[error("interface {dev}: no such interface")]
    NoInterface { dev: String },
    #[error("cannot list the addresses")]
    List(#[source] Box<rtnetlink::Error>),
    #[error("{dev}: cannot add {address}")]
    Add {
        dev: String,
        address: Ipv6Addr,
        #[source]
        source: Box<rtnetlink::Error>,
    },
    #[error(
        "cannot route {prefix}'s packets via {gateway} on {dev} (source-specific routes need CONFIG_IPV6_SUBTREES)"
    )]
    AddRoute {
        prefix: Ipv6Net,
        gateway: Ipv6Addr,
        dev: String,
        #[source]
        source: Box<rtnetlink::Error>,
    },
    #[error("cannot remove the route of {prefix}'s packets")]
    RemoveRoute {
        prefix: Ipv6Net,
        #[source]
        source: Box<rtnetlink::Error>,
    },
    #[error("{dev}: cannot read its MTU")]
    Mtu {
        dev: String,
        #[source]
        source: Box<rtnetlink::Error>,
    },
    #[error("{dev}: cannot remove {address}")]
    Remove {
        dev: String,
        address: Ipv6Addr,
        #[source]
        source: Box<rtnetlink::Error>,
    },
}

/// A global address of an access interface: there (`preferred` or not), or gone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AddressEvent {
    pub dev: String,
    pub address: Ipv6Addr,
    pub preferred: bool,
    pub removed: bool,
}

pub struct Host {
    handle: rtnetlink::Handle,
    events: UnboundedReceiver<(NetlinkMessage<RouteNetlinkMessage>, SocketAddr)>,
    /// The access interfaces by index.
    devs: HashMap<u32, String>,
}

impl Host {
    /// Opens the socket, subscribed to the address events, in a tokio runtime. `interfaces`:
    /// the access interfaces, which must exist.
    pub fn open(interfaces: &[String]) -> Result<Host, HostError> {
        let mut devs = HashMap::new();
        for dev in interfaces {
            let index = ifindex(dev).ok_or_else(|| HostError::NoInterface { dev: dev.clone() })?;
            devs.insert(index, dev.clone());
        }
        let (mut connection, handle, events) =
            rtnetlink::new_connection().map_err(HostError::Connect)?;
        connection
            .socket_mut()
            .socket_mut()
            .bind(&SocketAddr::new(0, GROUPS))
            .map_err(HostError::Subscribe)?;
        tokio::spawn(connection);
        Ok(Host {
            handle,
            events,
            devs,
        })
    }

    /// Every global address of the access interfaces now.
    pub async fn addresses(&self) -> Result<Vec<AddressEvent>, HostError> {
        let mut stream = self.handle.address().get().execute();
        let mut found = Vec::new();
        while let Some(message) = stream
            .try_next()
            .await
            .map_err(|e| HostError::List(Box::new(e)))?
        {
            found.extend(self.event(&message, false));
        }
        Ok(found)
    }

    /// The next address event of an access interface; `None` when the socket closed.
    pub async fn next_event(&mut self) -> Option<AddressEvent> {
        loop {
            let (message, _) = self.events.next().await?;
            let event = match message.payload {
                NetlinkPayload::InnerMessage(RouteNetlinkMessage::NewAddress(m)) => {
                    self.event(&m, false)
                }
                NetlinkPayload::InnerMessage(RouteNetlinkMessage::DelAddress(m)) => {
                    self.event(&m, true)
                }
                _ => None,
            };
            if event.is_some() {
                return event;
            }
        }
    }

    fn event(&self, message: &AddressMessage, removed: bool) -> Option<AddressEvent> {
        if message.header.family != AddressFamily::Inet6 {
            return None;
        }
        let dev = self.devs.get(&message.header.index)?;
        let address = message.attributes.iter().find_map(|a| match a {
            AddressAttribute::Address(std::net::IpAddr::V6(address)) => Some(*address),
            _ => None,
        })?;
        if !is_global(address) {
            return None;
        }
        let flags = &message.header.flags;
        let unusable = [
            AddressHeaderFlag::Tentative,
            AddressHeaderFlag::Deprecated,
            AddressHeaderFlag::Dadfailed,
        ]
        .iter()
        .any(|f| flags.contains(f));
        let preferred_lifetime = message.attributes.iter().find_map(|a| match a {
            AddressAttribute::CacheInfo(info) => Some(info.ifa_preferred),
            _ => None,
        });
        Some(AddressEvent {
            dev: dev.clone(),
            address,
            preferred: !removed && !unusable && preferred_lifetime != Some(0),
            removed,
        })
    }

    fn index_of(&self, dev: &str) -> Option<u32> {
        self.devs
            .iter()
            .find_map(|(index, d)| (d == dev).then_some(*index))
    }

    /// Adds `address`/128 to `dev`: deprecated (preferred lifetime 0), no duplicate address
    /// detection, no prefix route. Present already is fine.
    pub async fn keep_address(&self, dev: &str, address: Ipv6Addr) -> Result<(), HostError> {
        let index = self.index_of(dev).ok_or_else(|| HostError::NoInterface {
            dev: dev.to_owned(),
        })?;
        let mut add = self.handle.address().add(index, address.into(), 128);
        let message = add.message_mut();
        message.header.flags.push(AddressHeaderFlag::Nodad);
        let mut lifetimes = CacheInfo::default();
        lifetimes.ifa_preferred = 0;
        lifetimes.ifa_valid = u32::MAX;
        message
            .attributes
            .push(AddressAttribute::CacheInfo(lifetimes));
        match add.execute().await {
            Ok(()) => Ok(()),
            Err(rtnetlink::Error::NetlinkError(e)) if e.raw_code() == -EEXIST => Ok(()),
            Err(source) => Err(HostError::Add {
                dev: dev.to_owned(),
                address,
                source: Box::new(source),
            }),
        }
    }

    /// Removes `address`/128 from `dev`; absent already is fine.
    pub async fn drop_address(&self, dev: &str, address: Ipv6Addr) -> Result<(), HostError> {
        let index = self.index_of(dev).ok_or_else(|| HostError::NoInterface {
            dev: dev.to_owned(),
        })?;
        let mut message = AddressMessage::default();
        message.header.family = AddressFamily::Inet6;
        message.header.prefix_len = 128;
        message.header.index = index;
        message
            .attributes
            .push(AddressAttribute::Address(address.into()));
        match self.handle.address().del(message).execute().await {
            Ok(()) => Ok(()),
            Err(rtnetlink::Error::NetlinkError(e)) if e.raw_code() == -EADDRNOTAVAIL => Ok(()),
            Err(source) => Err(HostError::Remove {
                dev: dev.to_owned(),
                address,
                source: Box::new(source),
            }),
        }
    }
}

impl Host {
    /// Routes the packets from `prefix` (a tunnelled prefix) via `gateway` on `dev` with the
    /// interface's MTU less the 40 octets of the outer header: a source-specific default route
    /// (`default from PREFIX via GATEWAY dev DEV mtu M`), so that the node's TCP sessions on
    /// the prefix shrink their segments to what still fits once encapsulated, and new sessions
    /// from other prefixes keep the full MTU. In place of the route an earlier move left.
    pub async fn add_tunnel_route(
        &self,
        prefix: Ipv6Net,
        gateway: Ipv6Addr,
        dev: &str,
    ) -> Result<u32, HostError> {
        let index = self.index_of(dev).ok_or_else(|| HostError::NoInterface {
            dev: dev.to_owned(),
        })?;
        let mtu = self.mtu(index, dev).await?.saturating_sub(TUNNEL_OVERHEAD);
        let mut add = self
            .handle
            .route()
            .add()
            .v6()
            .source_prefix(prefix.addr(), prefix.prefix_len())
            .gateway(gateway)
            .output_interface(index)
            .replace();
        add.message_mut()
            .attributes
            .push(RouteAttribute::Metrics(vec![RouteMetric::Mtu(mtu)]));
        add.execute().await.map_err(|source| HostError::AddRoute {
            prefix,
            gateway,
            dev: dev.to_owned(),
            source: Box::new(source),
        })?;
        Ok(mtu)
    }

    /// Removes the route of [`add_tunnel_route`](Self::add_tunnel_route); absent is fine. The
    /// route is found in a dump and removed as the kernel describes it: a request naming only
    /// the source could take another default route when that one is gone already.
    pub async fn remove_tunnel_route(&self, prefix: Ipv6Net) -> Result<(), HostError> {
        let error = |source| HostError::RemoveRoute {
            prefix,
            source: Box::new(source),
        };
        let mut routes = self.handle.route().get(rtnetlink::IpVersion::V6).execute();
        let mut found = Vec::new();
        while let Some(route) = routes.try_next().await.map_err(error)? {
            let source = route.attributes.iter().find_map(|a| match a {
                RouteAttribute::Source(RouteAddress::Inet6(source)) => Some(*source),
                _ => None,
            });
            if route.header.destination_prefix_length == 0
                && route.header.source_prefix_length == prefix.prefix_len()
                && source == Some(prefix.addr())
            {
                found.push(route);
            }
        }
        for route in found {
            match self.handle.route().del(route).execute().await {
                Ok(()) => {}
                Err(rtnetlink::Error::NetlinkError(e)) if e.raw_code() == -ESRCH => {}
                Err(source) => return Err(error(source)),
            }
        }
        Ok(())
    }

    async fn mtu(&self, index: u32, dev: &str) -> Result<u32, HostError> {
        let error = |source| HostError::Mtu {
            dev: dev.to_owned(),
            source: Box::new(source),
        };
        let mut links = self.handle.link().get().match_index(index).execute();
        while let Some(link) = links.try_next().await.map_err(error)? {
            if let Some(mtu) = link.attributes.iter().find_map(|a| match a {
                LinkAttribute::Mtu(mtu) => Some(*mtu),
                _ => None,
            }) {
                return Ok(mtu);
            }
        }
        Ok(DEFAULT_MTU)
    }
}

/// The outer IPv6 header of the tunnel.
const TUNNEL_OVERHEAD: u32 = 40;
/// An interface whose MTU the kernel does not report: Ethernet's.
const DEFAULT_MTU: u32 = 1500;
const ESRCH: i32 = 3;

/// Not link-local, multicast, loopback or unspecified.
fn is_global(address: Ipv6Addr) -> bool {
    let first = address.segments()[0];
    !(first & 0xffc0 == 0xfe80
        || address.is_multicast()
        || address.is_loopback()
        || address.is_unspecified())
}

/// The index of interface `dev`.
pub fn ifindex(dev: &str) -> Option<u32> {
    let name = std::ffi::CString::new(dev).ok()?;
    // SAFETY: `name` is a NUL-terminated string.
    let index = unsafe { libc::if_nametoindex(name.as_ptr()) };
    (index != 0).then_some(index)
}
