//! Interface roles and the names of the load-time globals.

/// Role of an interface the program is attached to.
#[repr(u8)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IfaceRole {
    /// Toward the core / other routers.
    Core = 1,
    /// Toward mobile nodes: uplink reverse tunnelling applies to packets arriving here.
    Access = 2,
}

/// Value of the interface map, keyed by ifindex (`u32`, host byte order).
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct IfaceValue {
    /// An [`IfaceRole`] as `u8`.
    pub role: u8,
    /// `IFACE_FLAG_*` bits (zero: the interface as before flags existed).
    pub flags: u8,
    /// Explicit padding, always zero.
    pub pad: [u8; 2],
}
const _: () = assert!(core::mem::size_of::<IfaceValue>() == 4);

impl IfaceValue {
    /// No interface: role 0, no flags (an `IFACE_INDEX` slot without an interface).
    pub const NONE: Self = Self {
        role: 0,
        flags: 0,
        pad: [0; 2],
    };

    pub fn new(role: IfaceRole) -> Self {
        Self {
            role: role as u8,
            flags: 0,
            pad: [0; 2],
        }
    }

    /// An access interface whose IPv6 sources are validated (`IFACE_FLAG_SOURCE_VALIDATION`).
    pub fn access_validated() -> Self {
        Self {
            flags: IFACE_FLAG_SOURCE_VALIDATION,
            ..Self::new(IfaceRole::Access)
        }
    }

    #[inline(always)]
    pub fn source_validation(&self) -> bool {
        self.flags & IFACE_FLAG_SOURCE_VALIDATION != 0
    }

    #[inline(always)]
    pub fn first_frame(&self) -> bool {
        self.flags & IFACE_FLAG_FIRST_FRAME != 0
    }
}

/// `IfaceValue::flags` bit: IPv6 frames arriving here must come from a link-local or the
/// unspecified source, or from a /64 in `ACCESS_SOURCES` for this interface (and from its MAC,
/// when the entry has one); the others are dropped (`drop_source_invalid`). Access interfaces
/// only.
pub const IFACE_FLAG_SOURCE_VALIDATION: u8 = 1;
/// `IfaceValue::flags` bit: IPv6 frames arriving here from a MAC not in `KNOWN_MACS` for this
/// interface are reported to the daemon (`FIRST_FRAMES`), which attaches their node. Access
/// interfaces only.
pub const IFACE_FLAG_FIRST_FRAME: u8 = 2;
/// Capacity of `ACCESS_SOURCES`: the /64s allowed as sources on access interfaces with source
/// validation (delegated and visiting /64s of the attached nodes).
pub const MAX_ACCESS_SOURCES: u32 = 65_536;

/// Name of the `[u8; 16]` global holding this router's locator (network byte order).
pub const GLOBAL_LOCATOR: &str = "LOCATOR";
/// Name of the `u32` global holding the tunnel MTU (host byte order).
pub const GLOBAL_TUNNEL_MTU: &str = "TUNNEL_MTU";
/// Name of the `u32` global holding the outer hop limit (host byte order, 1..=255).
pub const GLOBAL_OUTER_HOP_LIMIT: &str = "OUTER_HOP_LIMIT";

/// Defaults shared by the daemon and the tests.
pub const DEFAULT_TUNNEL_MTU: u32 = 1500;
pub const DEFAULT_OUTER_HOP_LIMIT: u32 = 64;
pub const DEFAULT_MAX_BINDINGS: u32 = 1_048_576;
/// Capacity of the LPM trie for prefixes shorter than /64.
pub const DEFAULT_MAX_SHORT_PREFIXES: u32 = 65_536;
/// Capacity of the `PEERS` array: distinct peer routers of all bindings (a binding's `peer` is a
/// `u16` index into it).
pub const MAX_PEERS: u32 = 65_536;
/// Capacity of the `VISITING_L2` map: visiting /64s whose nodes are attached to this router.
/// Not preallocated: an entry costs memory only while it exists (the bucket array, 16 bytes a
/// slot, is always there: 1 MiB).
pub const MAX_VISITING_L2: u32 = 65_536;
/// Capacity of `CN_ANCHORS`: the anchors near correspondents a serving router accepts tunnels
/// from.
pub const MAX_CN_ANCHORS: u32 = 64;
/// Capacity of the interface role map.
pub const MAX_IFACES: u32 = 1024;
/// Interfaces whose index is below this have their `IfaceValue` in the `IFACE_INDEX` array too
/// (one array access per frame instead of a hash lookup); the others only in `IFACES`.
pub const MAX_INDEXED_IFINDEX: u32 = 65_536;

/// Bytes added by the outer IPv6 header.
pub const ENCAP_OVERHEAD: u32 = 40;
/// The smallest tunnel MTU accepted: the inner path MTU must stay >= 1280 (RFC 8200 section 5).
pub const MIN_TUNNEL_MTU: u32 = 1280 + ENCAP_OVERHEAD;

#[cfg(feature = "user")]
unsafe impl aya::Pod for IfaceValue {}
