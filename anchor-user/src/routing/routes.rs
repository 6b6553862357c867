//! Kernel routes toward mobile nodes: `PREFIX dev IFACE` in the main table. The MAAR adds those
//! of the prefixes anchored here (a node's delegated /64, a `fixed` /64 relocated here); the
//! binding table adds those of visiting bindings that name their access interface (`--dev`),
//! and removes them with the binding.
//!
//! The two kinds carry different routing protocol numbers, so that a routing daemon can tell
//! them apart. [`RTPROT_ANCHOR`] (250) marks the routes to announce: BIRD's kernel protocol with
//! `learn` and `import where krt_source = 250` takes the MAAR's delegated and relocated /64s
//! into BGP (see `packaging/bird/bird.conf`). [`RTPROT_ANCHOR_VISITING`] (251) marks a visiting
//! prefix, delivered here through its anchor's tunnel: announced, it would draw its traffic
//! away from the anchor, whose redirect would then look idle and be released under a live
//! flow. The daemon never touches a routing daemon's files.

use std::{future::Future, io};

use ipnet::Ipv6Net;
use thiserror::Error;
use tokio::task::JoinHandle;

/// The routing protocol number of the routes of prefixes anchored here (`ip route ... proto
/// 250`), the ones a routing daemon announces: one that no routing daemon in iproute2's
/// `rt_protos` uses.
pub const RTPROT_ANCHOR: u8 = 250;

/// The routing protocol number of the routes of visiting prefixes (`proto 251`), which must not
/// be announced.
pub const RTPROT_ANCHOR_VISITING: u8 = 251;

#[derive(Debug, Error)]
pub enum RouteError {
    #[error("cannot open a netlink socket")]
    Connect(#[source] io::Error),
    #[error("a route for {prefix} already exists in the main table")]
    Exists { prefix: Ipv6Net },
    #[error("no route {prefix} dev {dev} in the main table")]
    NotFound { prefix: Ipv6Net, dev: String },
    #[error("cannot add the route {prefix} dev {dev}")]
    Add {
        prefix: Ipv6Net,
        dev: String,
        #[source]
        source: Box<rtnetlink::Error>,
    },
    #[error("cannot delete the route {prefix} dev {dev}")]
    Delete {
        prefix: Ipv6Net,
        dev: String,
        #[source]
        source: Box<rtnetlink::Error>,
    },
    #[error("cannot list the IPv6 routes")]
    List(#[source] Box<rtnetlink::Error>),
}

/// Adds and removes `PREFIX dev IFACE` routes. Implemented over netlink by [`NetlinkRoutes`];
/// tests use a fake.
pub trait Routes {
    /// Adds `prefix dev dev` (`ifindex` is the index of `dev`); an existing route for the
    /// prefix is [`RouteError::Exists`].
    fn add_route(
        &mut self,
        prefix: Ipv6Net,
        dev: &str,
        ifindex: u32,
    ) -> impl Future<Output = Result<(), RouteError>> + Send;

    /// Deletes the route added by [`Routes::add_route`]; a missing route is
    /// [`RouteError::NotFound`].
    fn del_route(
        &mut self,
        prefix: Ipv6Net,
        dev: &str,
        ifindex: u32,
    ) -> impl Future<Output = Result<(), RouteError>> + Send;
}

/// The main routing table over rtnetlink.
pub struct NetlinkRoutes {
    handle: rtnetlink::Handle,
    connection: JoinHandle<()>,
    /// The routing protocol number of the routes it adds.
    protocol: u8,
}

impl NetlinkRoutes {
    /// Opens the netlink socket for the routes of prefixes anchored here ([`RTPROT_ANCHOR`]).
    /// Must run inside a tokio runtime (it spawns the connection).
    pub fn new() -> Result<Self, RouteError> {
        Self::with_protocol(RTPROT_ANCHOR)
    }

    /// Opens the netlink socket for the routes of visiting bindings
    /// ([`RTPROT_ANCHOR_VISITING`]).
    pub fn visiting() -> Result<Self, RouteError> {
        Self::with_protocol(RTPROT_ANCHOR_VISITING)
    }

    fn with_protocol(protocol: u8) -> Result<Self, RouteError> {
        let (connection, handle, _) = rtnetlink::new_connection().map_err(RouteError::Connect)?;
        let connection = tokio::spawn(connection);
        Ok(Self {
            handle,
            connection,
            protocol,
        })
    }

    fn request(
        &self,
        prefix: Ipv6Net,
        ifindex: u32,
    ) -> rtnetlink::RouteAddRequest<std::net::Ipv6Addr> {
        let prefix = prefix.trunc();
        self.handle
            .route()
            .add()
            .v6()
            .destination_prefix(prefix.network(), prefix.prefix_len())
            .output_interface(ifindex)
            .protocol(netlink_packet_route::route::RouteProtocol::Other(
                self.protocol,
            ))
    }
}

impl NetlinkRoutes {
    /// The `PREFIX dev IFACE` routes of the main table (IPv6, no gateway, prefix length at most
    /// 64), as (prefix, ifindex): where an adopted visiting binding's route may be.
    pub async fn dev_routes(&self) -> Result<Vec<(Ipv6Net, u32)>, RouteError> {
        use futures::TryStreamExt as _;
        use netlink_packet_route::route::{RouteAddress, RouteAttribute, RouteHeader};

        let mut stream =
            std::pin::pin!(self.handle.route().get(rtnetlink::IpVersion::V6).execute());
        let mut routes = Vec::new();
        while let Some(message) = stream
            .try_next()
            .await
            .map_err(|error| RouteError::List(Box::new(error)))?
        {
            let header = &message.header;
            if header.table != RouteHeader::RT_TABLE_MAIN
                || header.destination_prefix_length > crate::prefix::MAX_PREFIX_LEN
            {
                continue;
            }
            let mut destination = None;
            let mut oif = None;
            let mut gateway = false;
            for attribute in &message.attributes {
                match attribute {
                    RouteAttribute::Destination(RouteAddress::Inet6(addr)) => {
                        destination = Some(*addr);
                    }
                    RouteAttribute::Oif(index) => oif = Some(*index),
                    RouteAttribute::Gateway(_) | RouteAttribute::MultiPath(_) => gateway = true,
                    _ => {}
                }
            }
            if let (Some(destination), Some(oif), false) = (destination, oif, gateway)
                && let Ok(prefix) = Ipv6Net::new(destination, header.destination_prefix_length)
            {
                routes.push((prefix, oif));
            }
        }
        Ok(routes)
    }
}

impl Drop for NetlinkRoutes {
    fn drop(&mut self) {
        self.connection.abort();
    }
}

/// The (positive) errno of a netlink error answer.
fn errno(error: &rtnetlink::Error) -> Option<i32> {
    match error {
        rtnetlink::Error::NetlinkError(message) => message.code.map(|code| code.get().abs()),
        _ => None,
    }
}

impl Routes for NetlinkRoutes {
    fn add_route(
        &mut self,
        prefix: Ipv6Net,
        dev: &str,
        ifindex: u32,
    ) -> impl Future<Output = Result<(), RouteError>> + Send {
        let request = self.request(prefix, ifindex);
        let dev = dev.to_owned();
        async move {
            request
                .execute()
                .await
                .map_err(|source| match errno(&source) {
                    Some(libc::EEXIST) => RouteError::Exists { prefix },
                    _ => RouteError::Add {
                        prefix,
                        dev,
                        source: Box::new(source),
                    },
                })
        }
    }

    fn del_route(
        &mut self,
        prefix: Ipv6Net,
        dev: &str,
        ifindex: u32,
    ) -> impl Future<Output = Result<(), RouteError>> + Send {
        let mut add = self.request(prefix, ifindex);
        let mut message = add.message_mut().clone();
        // Any protocol: a route added by an earlier build (with another protocol) goes too.
        message.header.protocol = netlink_packet_route::route::RouteProtocol::Unspec;
        let request = self.handle.route().del(message);
        let dev = dev.to_owned();
        async move {
            request
                .execute()
                .await
                .map_err(|source| match errno(&source) {
                    Some(libc::ESRCH | libc::ENOENT) => RouteError::NotFound { prefix, dev },
                    _ => RouteError::Delete {
                        prefix,
                        dev,
                        source: Box::new(source),
                    },
                })
        }
    }
}
