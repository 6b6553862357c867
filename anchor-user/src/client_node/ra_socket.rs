//! Router Advertisements as the node hears them on each access interface: a raw ICMPv6 socket
//! bound to the interface, passing only type 134, with the hop limit checked (255, RFC 4861
//! section 6.1.2) and a link-local source required. Each valid advertisement goes to the
//! service with its interface and the interface's MAC address (the node's MN-ID there).

use std::{io, net::Ipv6Addr};

use anchor_client::RouterAdvert;
use anchor_maar::ndp::{hardware_address, open_nd, recv_with_hop_limit};
use thiserror::Error;
use tokio::{io::unix::AsyncFd, sync::mpsc};

const ROUTER_ADVERTISEMENT: u8 = 134;
const ND_HOP_LIMIT: libc::c_int = 255;

#[derive(Debug, Error)]
pub enum RaSocketError {
    #[error("{dev}: cannot open the ICMPv6 socket ({what})")]
    Io {
        dev: String,
        what: &'static str,
        #[source]
        source: io::Error,
    },
    #[error("{dev}: cannot read its MAC address")]
    Mac {
        dev: String,
        #[source]
        source: io::Error,
    },
}

/// An advertisement heard on `dev`.
#[derive(Debug, Clone)]
pub struct Heard {
    pub dev: String,
    /// The router's link-local address: the gateway of the node's routes on `dev`.
    pub router: Ipv6Addr,
    pub mac: [u8; 6],
    pub advert: RouterAdvert,
}

/// Opens the socket of `dev` and spawns its reader, which sends what it hears to `tx` until
/// the channel closes.
pub fn listen(dev: &str, tx: mpsc::Sender<Heard>) -> Result<(), RaSocketError> {
    let err = |what: &'static str| {
        move |source| RaSocketError::Io {
            dev: dev.to_owned(),
            what,
            source,
        }
    };
    let socket = open_nd(dev, ROUTER_ADVERTISEMENT).map_err(|(what, e)| err(what)(e))?;
    socket.set_nonblocking(true).map_err(err("O_NONBLOCK"))?;
    let mac = hardware_address(&socket, dev).map_err(|source| RaSocketError::Mac {
        dev: dev.to_owned(),
        source,
    })?;
    // SAFETY: the socket owns its descriptor, which stays open and the same until the AsyncFd
    // (which owns the socket) is dropped.
    let socket = unsafe { AsyncFd::register(socket) }
        .map_err(std::io::Error::from)
        .map_err(err("registering with the runtime"))?;
    let dev = dev.to_owned();
    tokio::spawn(async move {
        let mut buf = [0u8; 1500];
        loop {
            let Ok(mut guard) = socket.readable().await else {
                tracing::error!("{dev}: the ICMPv6 socket failed");
                return;
            };
            let Ok(received) = guard.try_io(|s| recv_with_hop_limit(s.get_ref(), &mut buf)) else {
                continue;
            };
            let (len, from, hop_limit) = match received {
                Ok(r) => r,
                Err(error) => {
                    tracing::warn!("{dev}: receiving: {error}");
                    continue;
                }
            };
            if let Some(advert) = valid(&dev, &buf[..len], from, hop_limit) {
                let heard = Heard {
                    dev: dev.clone(),
                    router: from,
                    mac,
                    advert,
                };
                if tx.send(heard).await.is_err() {
                    return;
                }
            }
        }
    });
    Ok(())
}

/// The advertisement, when it is one the node may believe.
fn valid(
    dev: &str,
    icmp: &[u8],
    from: Ipv6Addr,
    hop_limit: Option<libc::c_int>,
) -> Option<RouterAdvert> {
    if hop_limit != Some(ND_HOP_LIMIT) || from.segments()[0] & 0xffc0 != 0xfe80 {
        tracing::debug!("{dev}: dropped an advertisement from {from} with hop limit {hop_limit:?}");
        return None;
    }
    match RouterAdvert::parse(icmp) {
        Ok(advert) => Some(advert),
        Err(error) => {
            tracing::debug!("{dev}: ignored an advertisement from {from}: {error}");
            None
        }
    }
}
