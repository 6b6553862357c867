//! Binding map keys and values.

/// Key of the per-/64 binding hash map.
///
/// `prefix` holds the upper 64 bits of an IPv6 address in network byte order: byte 0 is the first
/// byte of the address on the wire. It is a byte array, not a `u64`, so that there is no host/network
/// byte order question at all: the XDP program copies the bytes straight out of the packet.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub struct BindingKey {
    pub prefix: [u8; 8],
}
const _: () = assert!(core::mem::size_of::<BindingKey>() == 8);

impl BindingKey {
    /// The /64 of a full 16-byte address (network byte order).
    #[inline(always)]
    pub fn from_addr(addr: &[u8; 16]) -> Self {
        let mut prefix = [0u8; 8];
        prefix.copy_from_slice(&addr[..8]);
        Self { prefix }
    }
}

/// Data part of the LPM trie key for prefixes shorter than /64 (mobile network prefixes).
///
/// The trie key as the kernel sees it is `{ prefix_len: u32 (host byte order), data }`; `data`
/// holds the upper 64 bits of the address in network byte order, as in [`BindingKey`].
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct LpmKey {
    pub data: [u8; 8],
}
const _: () = assert!(core::mem::size_of::<LpmKey>() == 8);

/// What this router does for a prefix.
#[repr(u8)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BindingKind {
    /// This router anchors the prefix; the MN is now attached at `peer` (the serving router).
    Redirect = 1,
    /// The MN holding the prefix is attached here; the prefix is anchored at `peer` (home).
    Visiting = 2,
}

impl BindingKind {
    pub fn from_u8(v: u8) -> Option<Self> {
        match v {
            1 => Some(Self::Redirect),
            2 => Some(Self::Visiting),
            _ => None,
        }
    }
}

/// `flags` bit: tunnel the MN's uplink traffic back to `peer` (only meaningful for `Visiting`).
pub const FLAG_REVERSE_TUNNEL: u8 = 1;

/// Value of both binding maps. 8 bytes, so that a /64 hash element (kernel header, key, value)
/// fills exactly one 64-byte cache line; the peer's 16-byte locator lives in the `PEERS` array,
/// shared by every binding with that peer.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BindingValue {
    /// Index into the per-binding statistics array, allocated by userspace.
    pub stats_slot: u32,
    /// Index of the peer router's locator (serving for `Redirect`, home for `Visiting`) in the
    /// `PEERS` array, allocated by userspace.
    pub peer: u16,
    /// A [`BindingKind`] as `u8`.
    pub kind: u8,
    /// `FLAG_*` bits.
    pub flags: u8,
}
const _: () = assert!(core::mem::size_of::<BindingValue>() == 8);

impl BindingValue {
    /// No binding (kind 0), as an empty dense slot holds.
    pub const EMPTY: Self = Self {
        stats_slot: 0,
        peer: 0,
        kind: 0,
        flags: 0,
    };

    pub fn redirect(serving: u16, stats_slot: u32) -> Self {
        Self {
            stats_slot,
            peer: serving,
            kind: BindingKind::Redirect as u8,
            flags: 0,
        }
    }

    pub fn visiting(home: u16, reverse_tunnel: bool, stats_slot: u32) -> Self {
        let flags = if reverse_tunnel {
            FLAG_REVERSE_TUNNEL
        } else {
            0
        };
        Self {
            stats_slot,
            peer: home,
            kind: BindingKind::Visiting as u8,
            flags,
        }
    }

    #[inline(always)]
    pub fn reverse_tunnel(&self) -> bool {
        self.flags & FLAG_REVERSE_TUNNEL != 0
    }
}

/// Value of the `PEERS` array: a peer router's locator, network byte order. 8-byte aligned so
/// that the program reads it as two aligned words.
#[repr(C, align(8))]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PeerAddr {
    pub octets: [u8; 16],
}
const _: () = assert!(core::mem::size_of::<PeerAddr>() == 16);

/// Traffic direction of a per-binding counter.
#[repr(u32)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Direction {
    /// Toward the mobile node (encapsulated at the anchor, decapsulated at the serving router).
    ToMn = 0,
    /// From the mobile node (reverse-tunnelled at the serving router, decapsulated at the anchor).
    FromMn = 1,
}

/// Per-binding, per-CPU statistics, indexed by [`BindingValue::stats_slot`].
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct BindingStats {
    /// Indexed by [`Direction`].
    pub packets: [u64; 2],
    /// Indexed by [`Direction`].
    pub bytes: [u64; 2],
}
const _: () = assert!(core::mem::size_of::<BindingStats>() == 32);

#[cfg(feature = "user")]
mod pod {
    unsafe impl aya::Pod for super::BindingKey {}
    unsafe impl aya::Pod for super::LpmKey {}
    unsafe impl aya::Pod for super::BindingValue {}
    unsafe impl aya::Pod for super::PeerAddr {}
    unsafe impl aya::Pod for super::BindingStats {}
}
