//! The reader of the program's first-frame reports (`FIRST_FRAMES`): the (interface, MAC) of
//! IPv6 frames from nodes not known on an access interface with first-frame attachment.

use std::io;

use anchor_common::AccessMac;
use aya::maps::{MapData, RingBuf};
use tokio::io::unix::AsyncFd;

/// One report: a frame from `mac` arrived on the interface `ifindex`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FirstFrame {
    pub ifindex: u32,
    pub mac: [u8; 6],
}

/// The `FIRST_FRAMES` ring, taken from the datapath.
pub struct FirstFrames {
    ring: RingBuf<MapData>,
}

impl FirstFrames {
    pub(in crate::datapath) fn new(ring: RingBuf<MapData>) -> Self {
        Self { ring }
    }

    /// The reports queued now, without waiting.
    pub fn drain(&mut self) -> Vec<FirstFrame> {
        let mut reports = Vec::new();
        while let Some(item) = self.ring.next() {
            if let Some(report) = decode(&item) {
                reports.push(report);
            }
        }
        reports
    }

    /// Watches the ring from the tokio reactor (which must be running).
    pub fn watch(self) -> io::Result<WatchedFirstFrames> {
        // SAFETY: the ring owns its descriptor, which stays open and the same until the
        // AsyncFd (which owns the ring) is dropped.
        let fd = unsafe { AsyncFd::register(self) }?;
        Ok(WatchedFirstFrames { fd })
    }
}

impl std::os::fd::AsRawFd for FirstFrames {
    fn as_raw_fd(&self) -> std::os::fd::RawFd {
        self.ring.as_raw_fd()
    }
}

/// A record of `size_of::<AccessMac>()` bytes; anything else is not one of ours.
fn decode(bytes: &[u8]) -> Option<FirstFrame> {
    if bytes.len() != size_of::<AccessMac>() {
        return None;
    }
    let ifindex = u32::from_ne_bytes(bytes[0..4].try_into().ok()?);
    let mac = bytes[8..14].try_into().ok()?;
    Some(FirstFrame { ifindex, mac })
}

/// [`FirstFrames`] on the tokio reactor.
pub struct WatchedFirstFrames {
    fd: AsyncFd<FirstFrames>,
}

impl WatchedFirstFrames {
    /// Waits for at least one report and returns every report queued.
    pub async fn next(&mut self) -> io::Result<Vec<FirstFrame>> {
        loop {
            let mut guard = self.fd.readable_mut().await?;
            let reports = guard.get_inner_mut().drain();
            if reports.is_empty() {
                guard.clear_ready();
            } else {
                return Ok(reports);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_record_decodes_to_its_interface_and_mac() {
        let record = AccessMac::new(7, [2, 0, 0, 0, 0, 9]);
        // SAFETY: `AccessMac` is plain old data of 16 bytes.
        let bytes: [u8; 16] = unsafe { core::mem::transmute(record) };
        assert_eq!(
            decode(&bytes),
            Some(FirstFrame {
                ifindex: 7,
                mac: [2, 0, 0, 0, 0, 9]
            })
        );
        assert_eq!(decode(&bytes[..12]), None);
    }
}
