//! A tunnel packet from the correspondent to router 1's locator, for the tests of the drop
//! counters (a spoofed outer source, or an inner destination without a binding).

use std::fs::File;
use std::net::Ipv6Addr;
use std::os::fd::AsRawFd as _;

use anchor_rig::topology::{CN_ADDR, R1_LOCATOR};

/// Sends, from the correspondent, an IPv6-in-IPv6 packet to router 1's locator whose inner
/// packet (UDP, 8 bytes) goes from the correspondent to `inner_dst`.
pub fn send_tunnel_packet(cn_ns: &str, inner_dst: &str) {
    let inner_src: Ipv6Addr = CN_ADDR.parse().expect("address");
    let inner_dst: Ipv6Addr = inner_dst.parse().expect("address");
    let locator: Ipv6Addr = R1_LOCATOR.parse().expect("address");
    let mut inner = vec![0x60, 0, 0, 0, 0, 8, 17, 64];
    inner.extend_from_slice(&inner_src.octets());
    inner.extend_from_slice(&inner_dst.octets());
    // UDP 7 -> 7, length 8, checksum 0 (never checked: the packet is dropped).
    inner.extend_from_slice(&[0, 7, 0, 7, 0, 8, 0, 0]);

    let path = format!("/run/netns/{cn_ns}");
    let handle = File::open(&path).unwrap_or_else(|e| panic!("cannot open {path}: {e}"));
    std::thread::scope(|scope| {
        scope
            .spawn(|| {
                // SAFETY: setns on a valid namespace descriptor changes only this thread; the
                // socket calls get valid buffers and lengths, and the descriptor is closed once.
                unsafe {
                    assert_eq!(
                        libc::setns(handle.as_raw_fd(), libc::CLONE_NEWNET),
                        0,
                        "cannot enter {cn_ns}: {}",
                        std::io::Error::last_os_error()
                    );
                    let fd = libc::socket(libc::AF_INET6, libc::SOCK_RAW, libc::IPPROTO_IPV6);
                    assert!(
                        fd >= 0,
                        "cannot open a raw IPv6-in-IPv6 socket: {}",
                        std::io::Error::last_os_error()
                    );
                    let mut to: libc::sockaddr_in6 = std::mem::zeroed();
                    to.sin6_family =
                        libc::sa_family_t::try_from(libc::AF_INET6).expect("an address family");
                    to.sin6_addr.s6_addr = locator.octets();
                    let sent = libc::sendto(
                        fd,
                        inner.as_ptr().cast(),
                        inner.len(),
                        0,
                        (&raw const to).cast(),
                        libc::socklen_t::try_from(std::mem::size_of::<libc::sockaddr_in6>())
                            .expect("28 octets"),
                    );
                    let error = std::io::Error::last_os_error();
                    libc::close(fd);
                    assert_eq!(
                        sent,
                        inner.len().cast_signed(),
                        "cannot send the tunnel packet: {error}"
                    );
                }
            })
            .join()
            .unwrap_or_else(|panic| std::panic::resume_unwind(panic));
    });
}
