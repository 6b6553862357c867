//! The raw ICMPv6 socket of one access interface: Router Solicitations in, Router
//! Advertisements out.
//!
//! The socket is bound to the interface (SO_BINDTODEVICE), lets only Router Solicitations
//! through (ICMP6_FILTER), reports each message's hop limit (IPV6_RECVHOPLIMIT, so that
//! anything below 255 is dropped as RFC 4861 section 6.1.1 asks) and sends with hop limit 255.
//! A raw ICMPv6 socket does not see the Ethernet header: the node's MAC comes from the
//! solicitation's Source Link-Layer Address option, and a solicitation without one (sent from
//! the unspecified address, before the node has a link-local address) is ignored; the node
//! sends another one once its link-local address is up.

use std::{
    io,
    mem::{self, MaybeUninit},
    net::{Ipv6Addr, SocketAddrV6},
    os::fd::{AsFd, AsRawFd, BorrowedFd},
};

use socket2::{Domain, Protocol, SockAddr, Socket, Type};
use thiserror::Error;

use super::ra::{self, ND_HOP_LIMIT, ROUTER_SOLICITATION};

/// `ICMP6_FILTER` (linux/icmpv6.h), level `IPPROTO_ICMPV6`.
const ICMP6_FILTER: libc::c_int = 1;
/// All-routers, link scope: where hosts send their solicitations.
const ALL_ROUTERS: Ipv6Addr = Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 0, 2);
/// All-nodes, link scope: where advertisements go.
pub const ALL_NODES: Ipv6Addr = Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 0, 1);

#[derive(Debug, Error)]
pub enum NdpError {
    #[error("access interface {dev}: {what}: {source}")]
    Io {
        dev: String,
        what: &'static str,
        source: io::Error,
    },
}

/// A Router Solicitation worth answering.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Solicitation {
    pub from: Ipv6Addr,
    pub mac: [u8; 6],
}

pub struct NdpSocket {
    socket: Socket,
    dev: String,
    ifindex: u32,
    mac: [u8; 6],
}

impl NdpSocket {
    /// Opens the socket of `dev` (index `ifindex`), non-blocking.
    pub fn open(dev: &str, ifindex: u32) -> Result<Self, NdpError> {
        let err = |what: &'static str| {
            move |source| NdpError::Io {
                dev: dev.to_owned(),
                what,
                source,
            }
        };
        let socket = open_nd(dev, ROUTER_SOLICITATION).map_err(|(what, e)| err(what)(e))?;
        socket
            .set_multicast_hops_v6(u32::from(ND_HOP_LIMIT))
            .map_err(err("IPV6_MULTICAST_HOPS"))?;
        socket
            .set_unicast_hops_v6(u32::from(ND_HOP_LIMIT))
            .map_err(err("IPV6_UNICAST_HOPS"))?;
        socket
            .set_multicast_loop_v6(false)
            .map_err(err("IPV6_MULTICAST_LOOP"))?;
        socket
            .set_multicast_if_v6(ifindex)
            .map_err(err("IPV6_MULTICAST_IF"))?;
        // A router with forwarding on has joined it already; without, the join makes sure.
        match socket.join_multicast_v6(&ALL_ROUTERS, ifindex) {
            Ok(()) => {}
            Err(e) if e.raw_os_error() == Some(libc::EADDRINUSE) => {}
            Err(e) => return Err(err("joining ff02::2")(e)),
        }
        socket.set_nonblocking(true).map_err(err("O_NONBLOCK"))?;
        let mac = hardware_address(&socket, dev).map_err(err("SIOCGIFHWADDR"))?;
        Ok(NdpSocket {
            socket,
            dev: dev.to_owned(),
            ifindex,
            mac,
        })
    }

    pub fn ifindex(&self) -> u32 {
        self.ifindex
    }

    pub fn dev(&self) -> &str {
        &self.dev
    }

    pub fn mac(&self) -> [u8; 6] {
        self.mac
    }

    /// Reads one message: `Ok(None)` for one that is dropped (hop limit below 255, malformed,
    /// no Source Link-Layer Address option), logged at debug level.
    pub fn recv(&self) -> io::Result<Option<Solicitation>> {
        let mut buf = [0u8; 1500];
        let (len, from_addr, hop_limit) = recv_with_hop_limit(&self.socket, &mut buf)?;
        if hop_limit != Some(libc::c_int::from(ND_HOP_LIMIT)) {
            tracing::debug!(
                "{}: dropped a solicitation from {from_addr} with hop limit {hop_limit:?}",
                self.dev
            );
            return Ok(None);
        }
        match ra::solicitation_source_mac(&buf[..len.min(buf.len())]) {
            Ok(mac) => Ok(Some(Solicitation {
                from: from_addr,
                mac,
            })),
            Err(error) => {
                tracing::debug!(
                    "{}: ignored a solicitation from {from_addr}: {error}",
                    self.dev
                );
                Ok(None)
            }
        }
    }

    /// Sends `icmp` (the kernel fills in the checksum and picks the link-local source).
    pub fn send(&self, to: Ipv6Addr, icmp: &[u8]) -> io::Result<()> {
        let addr = SockAddr::from(SocketAddrV6::new(to, 0, 0, self.ifindex));
        self.socket.send_to(icmp, &addr).map(|_| ())
    }
}

impl AsRawFd for NdpSocket {
    fn as_raw_fd(&self) -> std::os::fd::RawFd {
        self.socket.as_raw_fd()
    }
}

impl AsFd for NdpSocket {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.socket.as_fd()
    }
}

/// Receives one message on a raw ICMPv6 socket with `IPV6_RECVHOPLIMIT` on: its length in
/// `buf`, its sender and the hop limit it arrived with (Neighbor Discovery accepts only 255,
/// RFC 4861 section 6.1).
pub fn recv_with_hop_limit(
    socket: &Socket,
    buf: &mut [u8],
) -> io::Result<(usize, Ipv6Addr, Option<libc::c_int>)> {
    let mut control = [0u64; 16];
    // SAFETY: all-zero bytes are a valid sockaddr_in6 and msghdr.
    let mut from: libc::sockaddr_in6 = unsafe { mem::zeroed() };
    let mut iov = libc::iovec {
        iov_base: buf.as_mut_ptr().cast(),
        iov_len: buf.len(),
    };
    // SAFETY: as above.
    let mut msg: libc::msghdr = unsafe { mem::zeroed() };
    msg.msg_name = (&raw mut from).cast();
    msg.msg_namelen = libc::socklen_t::try_from(mem::size_of::<libc::sockaddr_in6>())
        .expect("sockaddr_in6 is 28 octets");
    msg.msg_iov = &raw mut iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control.as_mut_ptr().cast();
    msg.msg_controllen = mem::size_of_val(&control);
    // SAFETY: every pointer in msg points to a live buffer of the length given.
    let len = unsafe { libc::recvmsg(socket.as_raw_fd(), &raw mut msg, 0) };
    let len = usize::try_from(len).map_err(|_| io::Error::last_os_error())?;
    let mut hop_limit = None;
    // SAFETY: msg's control buffer was filled by recvmsg; CMSG_* walk it within
    // msg_controllen.
    unsafe {
        let mut cmsg = libc::CMSG_FIRSTHDR(&raw const msg);
        while !cmsg.is_null() {
            if (*cmsg).cmsg_level == libc::IPPROTO_IPV6 && (*cmsg).cmsg_type == libc::IPV6_HOPLIMIT
            {
                hop_limit = Some(libc::CMSG_DATA(cmsg).cast::<libc::c_int>().read_unaligned());
            }
            cmsg = libc::CMSG_NXTHDR(&raw const msg, cmsg);
        }
    }
    Ok((
        len.min(buf.len()),
        Ipv6Addr::from(from.sin6_addr.s6_addr),
        hop_limit,
    ))
}

/// A raw ICMPv6 socket bound to `dev` that receives only Neighbor Discovery messages of type
/// `kind`, each with its hop limit; on failure, the step that failed.
pub fn open_nd(dev: &str, kind: u8) -> Result<Socket, (&'static str, io::Error)> {
    let socket = Socket::new(Domain::IPV6, Type::RAW, Some(Protocol::ICMPV6))
        .map_err(|e| ("raw ICMPv6 socket", e))?;
    socket
        .bind_device(Some(dev.as_bytes()))
        .map_err(|e| ("SO_BINDTODEVICE", e))?;
    pass_only(&socket, kind).map_err(|e| ("ICMP6_FILTER", e))?;
    receive_hop_limit(&socket).map_err(|e| ("IPV6_RECVHOPLIMIT", e))?;
    Ok(socket)
}

/// Lets only ICMPv6 messages of type `kind` through to `socket` (`ICMP6_FILTER`: a set bit
/// blocks its type).
pub fn pass_only(socket: &Socket, kind: u8) -> io::Result<()> {
    let mut filter = [u32::MAX; 8];
    filter[usize::from(kind >> 5)] &= !(1 << (kind & 31));
    setsockopt(socket, libc::IPPROTO_ICMPV6, ICMP6_FILTER, &filter)
}

/// Asks for the hop limit of each message received (`IPV6_RECVHOPLIMIT`).
pub fn receive_hop_limit(socket: &Socket) -> io::Result<()> {
    setsockopt(
        socket,
        libc::IPPROTO_IPV6,
        libc::IPV6_RECVHOPLIMIT,
        &1 as &libc::c_int,
    )
}

fn setsockopt<T>(
    socket: &Socket,
    level: libc::c_int,
    name: libc::c_int,
    value: &T,
) -> io::Result<()> {
    let len = libc::socklen_t::try_from(mem::size_of::<T>())
        .map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))?;
    // SAFETY: value points to a live T of the length given.
    let rc = unsafe {
        libc::setsockopt(
            socket.as_raw_fd(),
            level,
            name,
            std::ptr::from_ref::<T>(value).cast(),
            len,
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// The interface's MAC (SIOCGIFHWADDR, in the socket's network namespace).
/// The MAC address of `dev` (`SIOCGIFHWADDR` on any socket).
pub fn hardware_address(socket: &Socket, dev: &str) -> io::Result<[u8; 6]> {
    // SAFETY: all-zero bytes are a valid ifreq.
    let mut req: libc::ifreq = unsafe { MaybeUninit::zeroed().assume_init() };
    let name = dev.as_bytes();
    if name.len() >= req.ifr_name.len() {
        return Err(io::Error::from(io::ErrorKind::InvalidInput));
    }
    for (dst, &src) in req.ifr_name.iter_mut().zip(name) {
        *dst = libc::c_char::from_ne_bytes([src]);
    }
    // SAFETY: req is a valid ifreq with a NUL-terminated name; the kernel writes the union.
    let rc = unsafe { libc::ioctl(socket.as_raw_fd(), libc::SIOCGIFHWADDR, &raw mut req) };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: SIOCGIFHWADDR filled ifru_hwaddr.
    let data = unsafe { req.ifr_ifru.ifru_hwaddr.sa_data };
    let mut mac = [0u8; 6];
    for (dst, &src) in mac.iter_mut().zip(&data) {
        *dst = u8::from_ne_bytes(src.to_ne_bytes());
    }
    Ok(mac)
}
