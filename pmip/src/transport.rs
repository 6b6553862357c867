//! The Mobility Header on the wire: a raw IPv6 socket for next header 135, bound to one address.
//! Linux hands a raw socket the payload after the IPv6 header, with the sender's address; the
//! socket's bound address is the destination (a raw socket bound to an address only receives
//! packets sent to it). The codec computes and verifies the checksum (the kernel also fills in
//! and checks the MH checksum of raw sockets of this protocol, at the same offset).

use std::{
    io,
    mem::MaybeUninit,
    net::{Ipv6Addr, SocketAddrV6},
    sync::Mutex,
    time::{Duration, Instant},
};

use anchor_signal::{MobilityHeader, checksum::IPPROTO_MH};
use socket2::{Domain, Protocol, SockAddr, Socket, Type};
use thiserror::Error;

use crate::{
    log_limit::LogLimit,
    message::Outgoing,
    signaling_metrics::{MessageCounts, Way},
};

/// The largest Mobility Header (Header Len is 8 bits of 8 octets).
const MAX_MH: usize = 2048;

#[derive(Debug, Error)]
pub enum TransportError {
    #[error("cannot open a raw IPv6 socket for the Mobility Header (protocol 135): {0}")]
    Open(#[source] io::Error),
    #[error("cannot bind the Mobility Header socket to {address}: {source}")]
    Bind {
        address: Ipv6Addr,
        #[source]
        source: io::Error,
    },
}

/// A raw Mobility Header socket bound to `local`.
#[derive(Debug)]
pub struct MhSocket {
    socket: Socket,
    local: Ipv6Addr,
    /// The warnings about malformed messages, which any host can send.
    malformed: Mutex<LogLimit>,
    /// The messages sent and decoded, by type and status.
    counts: Mutex<MessageCounts>,
}

/// At most [`MALFORMED_BURST`] warnings about malformed messages per [`MALFORMED_WINDOW`].
const MALFORMED_WINDOW: Duration = Duration::from_secs(10);
const MALFORMED_BURST: u32 = 5;

impl MhSocket {
    /// Opens the socket in the calling thread's network namespace and binds it to `local`, an
    /// address of this host.
    pub fn bind(local: Ipv6Addr) -> Result<Self, TransportError> {
        let socket = Socket::new(
            Domain::IPV6,
            Type::RAW,
            Some(Protocol::from(i32::from(IPPROTO_MH))),
        )
        .map_err(TransportError::Open)?;
        socket
            .bind(&SockAddr::from(SocketAddrV6::new(local, 0, 0, 0)))
            .map_err(|source| TransportError::Bind {
                address: local,
                source,
            })?;
        Ok(Self {
            socket,
            local,
            malformed: Mutex::new(LogLimit::new(MALFORMED_WINDOW, MALFORMED_BURST)),
            counts: Mutex::new(MessageCounts::default()),
        })
    }

    pub fn local(&self) -> Ipv6Addr {
        self.local
    }

    pub fn socket(&self) -> &Socket {
        &self.socket
    }

    pub fn set_nonblocking(&self, on: bool) -> io::Result<()> {
        self.socket.set_nonblocking(on)
    }

    pub fn set_read_timeout(&self, timeout: Option<std::time::Duration>) -> io::Result<()> {
        self.socket.set_read_timeout(timeout)
    }

    /// Sends the encoded Mobility Header `mh` to `to`.
    pub fn send(&self, to: Ipv6Addr, mh: &[u8]) -> io::Result<()> {
        let sent = self
            .socket
            .send_to(mh, &SockAddr::from(SocketAddrV6::new(to, 0, 0, 0)))?;
        if sent != mh.len() {
            return Err(io::Error::new(
                io::ErrorKind::WriteZero,
                format!("sent {sent} of {} octets", mh.len()),
            ));
        }
        Ok(())
    }

    /// Receives one Mobility Header and its sender.
    pub fn recv(&self) -> io::Result<(Vec<u8>, Ipv6Addr)> {
        let mut buf = vec![0u8; MAX_MH];
        // SAFETY: `u8` and `MaybeUninit<u8>` have the same layout, and the buffer is initialized,
        // so viewing it as possibly uninitialized octets is sound.
        let uninit = unsafe {
            &mut *(std::ptr::from_mut::<[u8]>(buf.as_mut_slice()) as *mut [MaybeUninit<u8>])
        };
        let (len, from) = self.socket.recv_from(uninit)?;
        buf.truncate(len);
        let from = from
            .as_socket_ipv6()
            .map(|a| *a.ip())
            .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidData, "sender is not IPv6"))?;
        Ok((buf, from))
    }

    /// Decodes a Mobility Header received from `from`; a malformed one is counted, logged
    /// rate-limited (see [`LogLimit`]) and `None`.
    pub fn decode(&self, mh: &[u8], from: Ipv6Addr) -> Option<MobilityHeader> {
        match MobilityHeader::decode(mh, from, self.local) {
            Ok(message) => {
                tracing::debug!("from {from}: {message:?}");
                self.count(Way::Received, &message);
                Some(message)
            }
            Err(error) => {
                let mut limit = self
                    .malformed
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner);
                let decision = limit.event(Instant::now());
                if decision.suppressed_before > 0 {
                    tracing::warn!(
                        "dropped {} more malformed Mobility Header(s) in the last {} s without \
                         a line each ({} in all)",
                        decision.suppressed_before,
                        MALFORMED_WINDOW.as_secs(),
                        limit.total() - 1
                    );
                }
                if decision.log {
                    tracing::warn!("dropped a Mobility Header from {from}: {error}");
                }
                None
            }
        }
    }

    /// Encodes and sends every message of `out`, emptying it; a failure is logged.
    pub fn send_all(&self, out: &mut Vec<Outgoing>) {
        for Outgoing { to, message } in out.drain(..) {
            let sent = message
                .encode(self.local, to)
                .map_err(|e| e.to_string())
                .and_then(|wire| self.send(to, &wire).map_err(|e| e.to_string()));
            match sent {
                Ok(()) => {
                    tracing::debug!("to {to}: {message:?}");
                    self.count(Way::Sent, &message);
                }
                Err(error) => tracing::warn!("cannot send to {to}: {error}"),
            }
        }
    }
}

impl MhSocket {
    /// The messages sent and decoded so far, by type and status.
    pub fn counts(&self) -> MessageCounts {
        self.counts
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    fn count(&self, way: Way, message: &anchor_signal::MobilityHeader) {
        self.counts
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .count(way, message);
    }
}

impl std::os::fd::AsRawFd for MhSocket {
    fn as_raw_fd(&self) -> std::os::fd::RawFd {
        self.socket.as_raw_fd()
    }
}
