//! When a node's first frame reaches a router after a move: an AF_PACKET socket on the router's
//! access interface, in the router's namespace, that records the arrival time of every frame
//! from the node's MAC (frames its XDP program passes to the kernel, such as the node's Router
//! Solicitation, Neighbour Discovery and MLD reports, which come first after a link change).

use std::{
    ffi::CString,
    os::fd::{AsRawFd as _, FromRawFd as _, OwnedFd},
    sync::{
        Arc, Mutex, PoisonError,
        atomic::{AtomicBool, Ordering},
    },
    thread::JoinHandle,
    time::{Duration, Instant},
};

use anchor_rig::netns::within;
use anyhow::{Context as _, Result, bail};

/// `ETH_P_ALL`, in network byte order as `socket(2)` and `sockaddr_ll` want it.
const ETH_P_ALL_BE: u16 = 0x0003_u16.to_be();

/// A watch on one interface; dropping it stops it.
pub struct FirstFrames {
    stop: Arc<AtomicBool>,
    seen: Arc<Mutex<Vec<Instant>>>,
    thread: Option<JoinHandle<()>>,
}

impl FirstFrames {
    /// Watches `dev` in namespace `ns` for frames from `mac`.
    pub fn watch(ns: &str, dev: &str, mac: [u8; 6]) -> Result<FirstFrames> {
        let socket = within(ns, || open(dev))??;
        let stop = Arc::new(AtomicBool::new(false));
        let seen = Arc::new(Mutex::new(Vec::new()));
        let (thread_stop, log) = (Arc::clone(&stop), Arc::clone(&seen));
        let thread = std::thread::spawn(move || {
            let mut frame = [0_u8; 2048];
            while !thread_stop.load(Ordering::Relaxed) {
                // SAFETY: a valid descriptor and a buffer of the length given.
                let n = unsafe {
                    libc::recv(
                        socket.as_raw_fd(),
                        frame.as_mut_ptr().cast(),
                        frame.len(),
                        0,
                    )
                };
                if let Ok(n) = usize::try_from(n)
                    && n >= 12
                    && frame[6..12] == mac
                {
                    log.lock()
                        .unwrap_or_else(PoisonError::into_inner)
                        .push(Instant::now());
                }
            }
        });
        Ok(FirstFrames {
            stop,
            seen,
            thread: Some(thread),
        })
    }

    /// The first frame from the node later than `since`.
    pub fn first_after(&self, since: Instant) -> Option<Instant> {
        self.seen
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .iter()
            .copied()
            .find(|&at| at > since)
    }
}

impl Drop for FirstFrames {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// An AF_PACKET socket bound to `dev`, with a 100 ms receive timeout.
fn open(dev: &str) -> Result<OwnedFd> {
    let name = CString::new(dev).context("an interface name")?;
    // SAFETY: a NUL-terminated name.
    let ifindex = unsafe { libc::if_nametoindex(name.as_ptr()) };
    if ifindex == 0 {
        bail!("no interface {dev}: {}", std::io::Error::last_os_error());
    }
    // SAFETY: plain socket creation; the descriptor is owned below.
    let fd = unsafe {
        libc::socket(
            libc::AF_PACKET,
            libc::SOCK_RAW | libc::SOCK_CLOEXEC,
            i32::from(ETH_P_ALL_BE),
        )
    };
    if fd < 0 {
        bail!(
            "cannot open an AF_PACKET socket: {}",
            std::io::Error::last_os_error()
        );
    }
    // SAFETY: a fresh descriptor nobody else owns.
    let socket = unsafe { OwnedFd::from_raw_fd(fd) };
    // SAFETY: an all-zero sockaddr_ll is valid; the fields set below make it the interface's.
    let mut address: libc::sockaddr_ll = unsafe { std::mem::zeroed() };
    address.sll_family = u16::try_from(libc::AF_PACKET).context("AF_PACKET")?;
    address.sll_protocol = ETH_P_ALL_BE;
    address.sll_ifindex = i32::try_from(ifindex).context("an ifindex")?;
    // SAFETY: a valid descriptor and the address with its length.
    let bound = unsafe {
        libc::bind(
            socket.as_raw_fd(),
            std::ptr::from_ref(&address).cast(),
            u32::try_from(std::mem::size_of::<libc::sockaddr_ll>()).context("sockaddr_ll")?,
        )
    };
    if bound != 0 {
        bail!("cannot bind to {dev}: {}", std::io::Error::last_os_error());
    }
    let timeout = libc::timeval {
        tv_sec: 0,
        tv_usec: 100_000,
    };
    // SAFETY: a valid descriptor and the option's value with its length.
    let set = unsafe {
        libc::setsockopt(
            socket.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_RCVTIMEO,
            std::ptr::from_ref(&timeout).cast(),
            u32::try_from(std::mem::size_of::<libc::timeval>()).context("timeval")?,
        )
    };
    if set != 0 {
        bail!(
            "cannot set the receive timeout: {}",
            std::io::Error::last_os_error()
        );
    }
    Ok(socket)
}

/// How long after `start` the first frame came.
pub fn delay(frames: &FirstFrames, start: Instant) -> Option<Duration> {
    frames.first_after(start).map(|at| at - start)
}
