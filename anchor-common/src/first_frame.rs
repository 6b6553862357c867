//! Attachment on a node's first frame: the nodes known on each access interface, and the
//! reports of frames from the others.

/// Key of `KNOWN_MACS` and `FIRST_FRAME_REPORTED`, and the record in `FIRST_FRAMES`: an access
/// interface and a node's MAC address.
#[repr(C, align(8))]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub struct AccessMac {
    /// Host byte order.
    pub ifindex: u32,
    /// Explicit padding, always zero.
    pub pad: u32,
    pub mac: [u8; 6],
    /// Explicit padding, always zero.
    pub pad2: [u8; 2],
}
const _: () = assert!(core::mem::size_of::<AccessMac>() == 16);

impl AccessMac {
    pub fn new(ifindex: u32, mac: [u8; 6]) -> Self {
        Self {
            ifindex,
            pad: 0,
            mac,
            pad2: [0; 2],
        }
    }
}

/// One report per (interface, MAC) at most this often, in nanoseconds (`bpf_ktime_get_ns`).
pub const FIRST_FRAME_REPORT_INTERVAL_NS: u64 = 100_000_000;
/// Capacity of `KNOWN_MACS`: the nodes attached on the access interfaces.
pub const MAX_KNOWN_MACS: u32 = 65_536;
/// Capacity of the LRU `FIRST_FRAME_REPORTED`: the unknown MACs whose last report is
/// remembered.
pub const MAX_FIRST_FRAME_REPORTED: u32 = 4096;
/// Bytes of the `FIRST_FRAMES` ring buffer (a power of two, a multiple of the page size):
/// 4096 / 32 (16 bytes of record and 8 of header, rounded up to 8) = 170 reports.
pub const FIRST_FRAMES_BYTES: u32 = 4096;

#[cfg(feature = "user")]
unsafe impl aya::Pod for AccessMac {}
