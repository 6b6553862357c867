//! An access interface as a visiting node's L2 next hop needs it: its index, MAC address and
//! MTU, read in the daemon's network namespace (`SIOCGIFHWADDR`, `SIOCGIFMTU`; not
//! `/sys/class/net`, which shows the namespace sysfs was mounted in).

use std::{
    io,
    os::fd::{AsRawFd as _, FromRawFd as _, OwnedFd},
};

use crate::datapath::error::DatapathError;

/// The way out toward the nodes of one access interface.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AccessLink {
    pub ifindex: u32,
    /// The interface's MAC address: the source of the frames sent to its nodes.
    pub mac: [u8; 6],
    /// The largest IPv6 packet (header included) the interface sends.
    pub mtu: u32,
}

impl AccessLink {
    /// The MAC address and MTU of `dev` (whose index is `ifindex`), as the kernel has them now.
    pub fn query(dev: &str, ifindex: u32) -> Result<Self, DatapathError> {
        let error = |source| DatapathError::AccessLink {
            dev: dev.to_owned(),
            source,
        };
        let socket = socket().map_err(error)?;
        let mut request = ifreq(dev).map_err(error)?;
        ioctl(&socket, libc::SIOCGIFHWADDR, &mut request).map_err(error)?;
        // SAFETY: the kernel filled the `ifru_hwaddr` member.
        let hwaddr = unsafe { request.ifr_ifru.ifru_hwaddr };
        if hwaddr.sa_family != libc::ARPHRD_ETHER {
            return Err(error(io::Error::other(format!(
                "link type {} is not Ethernet",
                hwaddr.sa_family
            ))));
        }
        let mut mac = [0u8; 6];
        // `c_char` is `i8` or `u8` depending on the architecture; the bytes are the same.
        for (byte, value) in mac.iter_mut().zip(hwaddr.sa_data) {
            *byte = u8::from_ne_bytes(value.to_ne_bytes());
        }
        let mut request = ifreq(dev).map_err(error)?;
        ioctl(&socket, libc::SIOCGIFMTU, &mut request).map_err(error)?;
        // SAFETY: the kernel filled the `ifru_mtu` member.
        let mtu = unsafe { request.ifr_ifru.ifru_mtu };
        let mtu = u32::try_from(mtu)
            .map_err(|_| error(io::Error::other(format!("negative MTU {mtu}"))))?;
        Ok(Self { ifindex, mac, mtu })
    }
}

fn socket() -> io::Result<OwnedFd> {
    // SAFETY: plain syscall; the descriptor is owned below.
    let fd = unsafe { libc::socket(libc::AF_INET6, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: a new descriptor nobody else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// A zeroed request for the interface `dev`.
fn ifreq(dev: &str) -> io::Result<libc::ifreq> {
    // SAFETY: `ifreq` is plain data; all zeroes is a valid value.
    let mut request: libc::ifreq = unsafe { std::mem::zeroed() };
    let name = dev.as_bytes();
    if name.is_empty() || name.len() >= request.ifr_name.len() || name.contains(&0) {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "invalid interface name",
        ));
    }
    for (slot, byte) in request.ifr_name.iter_mut().zip(name) {
        *slot = libc::c_char::from_ne_bytes([*byte]);
    }
    Ok(request)
}

fn ioctl(socket: &OwnedFd, request: libc::Ioctl, data: &mut libc::ifreq) -> io::Result<()> {
    // SAFETY: `data` is a valid `ifreq` for these requests, which read and write only it.
    if unsafe {
        libc::ioctl(
            socket.as_raw_fd(),
            request,
            std::ptr::from_mut::<libc::ifreq>(data),
        )
    } < 0
    {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_is_not_ethernet_and_bad_names_are_refused() {
        let err = AccessLink::query("lo", 1).expect_err("lo");
        assert!(err.to_string().contains("lo"), "{err}");
        assert!(AccessLink::query("", 1).is_err());
        assert!(AccessLink::query("a-name-far-too-long-for-linux", 1).is_err());
        assert!(AccessLink::query("nosuch-if0", 1).is_err());
    }
}
