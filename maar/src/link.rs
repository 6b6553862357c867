//! Point-to-point access links (`[[maar.point_to_point]]`): an access interface with exactly one
//! mobile node behind it, named in the configuration, as on a per-subscriber link whose identity
//! comes from the link layer rather than from the node's packets.
//!
//! The node is attached when the link's carrier comes up (an `RTM_NEWLINK` with `IFF_LOWER_UP`
//! on the `RTNLGRP_LINK` group), and at start when the carrier is up already, without waiting
//! for a Router Solicitation (RFC 5213 section 6.9.1.1 lets a MAG detect attachment from
//! link-layer events). Its registration then goes on as for `anchor mn attach`, and the
//! interface's advertiser is asked for a Router Advertisement, so that the node learns its
//! prefixes as soon as the router can send one. Carrier loss changes nothing: the node's next
//! router registers it, and the CMD tells this one.
//!
//! Configured as [`PointToPointConfig`](crate::config::PointToPointConfig):
//!
//! ```toml
//! [[maar.point_to_point]]
//! dev = "eth2"                    # an access interface
//! mn_id = "02:00:00:00:00:01"     # the node's EUI-48 MN-ID
//! ```

use std::{collections::HashMap, io, sync::Arc};

use anchor_signal::MnId;
use futures::{StreamExt as _, TryStreamExt as _};
use netlink_packet_core::NetlinkPayload;
use netlink_packet_route::{
    RouteNetlinkMessage,
    link::{LinkFlag, LinkMessage},
};
use netlink_sys::AsyncSocket as _;
use thiserror::Error;
use tokio::sync::Notify;

use crate::handle::MaarHandle;

/// `RTNLGRP_LINK` (linux/rtnetlink.h): link state changes.
const RTNLGRP_LINK: u32 = 1;

#[derive(Debug, Error)]
pub enum LinkWatchError {
    #[error("link events: cannot open a netlink socket: {0}")]
    Connect(#[source] io::Error),
    #[error("link events: cannot join the link group: {0}")]
    Subscribe(#[source] io::Error),
    #[error("point-to-point access link {dev}: cannot read its state: {source}")]
    Query {
        dev: String,
        #[source]
        source: Box<rtnetlink::Error>,
    },
}

/// A point-to-point access link being watched.
#[derive(Clone, Debug)]
pub struct WatchedLink {
    pub dev: String,
    pub ifindex: u32,
    pub mn: MnId,
    /// Wakes the interface's advertiser.
    pub advertise: Arc<Notify>,
}

/// Whether the link message says the carrier is up.
fn carrier(message: &LinkMessage) -> bool {
    message.header.flags.contains(&LinkFlag::Up)
        && message.header.flags.contains(&LinkFlag::LowerUp)
}

/// Carrier edges per interface index: `Some(true)` when a link comes up.
#[derive(Debug, Default)]
struct Carriers(HashMap<u32, bool>);

impl Carriers {
    /// Records `up` for `ifindex`; true when it went from down (or unknown) to up.
    fn came_up(&mut self, ifindex: u32, up: bool) -> bool {
        let before = self.0.insert(ifindex, up).unwrap_or(false);
        up && !before
    }
}

/// Attaches each link's node whenever its carrier comes up, until the event stream ends.
/// Errors come before the first attachment: the watch could not start.
pub async fn watch(links: Vec<WatchedLink>, handle: MaarHandle) -> Result<(), LinkWatchError> {
    if links.is_empty() {
        return Ok(());
    }
    let (mut connection, netlink, mut events) =
        rtnetlink::new_connection().map_err(LinkWatchError::Connect)?;
    // Joined before the first query, so that no change falls between the two.
    connection
        .socket_mut()
        .socket_mut()
        .add_membership(RTNLGRP_LINK)
        .map_err(LinkWatchError::Subscribe)?;
    tokio::spawn(connection);

    let by_index: HashMap<u32, &WatchedLink> = links.iter().map(|l| (l.ifindex, l)).collect();
    let mut carriers = Carriers::default();
    for link in &links {
        if !query(
            &netlink,
            link,
            &mut carriers,
            &handle,
            "carrier up at start",
        )
        .await?
        {
            tracing::info!(
                "{}: point-to-point link to {}, no carrier yet",
                link.dev,
                link.mn
            );
        }
    }
    while let Some((message, _)) = events.next().await {
        let message = match message.payload {
            NetlinkPayload::InnerMessage(RouteNetlinkMessage::NewLink(message)) => message,
            // The kernel dropped events (the socket's buffer was full): ask again.
            NetlinkPayload::Overrun(_) => {
                for link in &links {
                    if let Err(error) =
                        query(&netlink, link, &mut carriers, &handle, "carrier up").await
                    {
                        tracing::warn!("{error}");
                    }
                }
                continue;
            }
            _ => continue,
        };
        let Some(link) = by_index.get(&message.header.index) else {
            continue;
        };
        let up = carrier(&message);
        if carriers.came_up(link.ifindex, up) {
            attach(link, &handle, "carrier up").await;
        } else if !up {
            tracing::debug!("{}: no carrier", link.dev);
        }
    }
    tracing::warn!("link events ended: point-to-point links are no longer watched");
    Ok(())
}

/// Reads `link`'s state and attaches its node when the carrier came up; true when it is up.
async fn query(
    netlink: &rtnetlink::Handle,
    link: &WatchedLink,
    carriers: &mut Carriers,
    handle: &MaarHandle,
    why: &str,
) -> Result<bool, LinkWatchError> {
    let mut current = netlink.link().get().match_index(link.ifindex).execute();
    let message = current
        .try_next()
        .await
        .map_err(|source| LinkWatchError::Query {
            dev: link.dev.clone(),
            source: Box::new(source),
        })?;
    let up = message.as_ref().is_some_and(carrier);
    if carriers.came_up(link.ifindex, up) {
        attach(link, handle, why).await;
    }
    Ok(up)
}

async fn attach(link: &WatchedLink, handle: &MaarHandle, why: &str) {
    tracing::info!("{}: {why}: attaching {}", link.dev, link.mn);
    match handle.attach(link.mn.clone(), link.dev.clone()).await {
        Ok(prefix) => tracing::debug!("{}: {} holds {prefix}", link.dev, link.mn),
        Err(error) => tracing::warn!("{}: cannot attach {}: {error}", link.dev, link.mn),
    }
    link.advertise.notify_one();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_rising_edge_attaches() {
        let mut carriers = Carriers::default();
        assert!(!carriers.came_up(3, false));
        assert!(carriers.came_up(3, true));
        assert!(
            !carriers.came_up(3, true),
            "a repeated up is no new attachment"
        );
        assert!(!carriers.came_up(3, false));
        assert!(carriers.came_up(3, true));
        assert!(carriers.came_up(4, true), "per interface");
    }
}
