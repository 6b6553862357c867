//! The /64s allowed as IPv6 sources on access interfaces with source validation.

/// Key of `ACCESS_SOURCES`: an access interface and a /64 (upper 64 bits of the address, network
/// byte order, as in [`BindingKey`](crate::BindingKey)).
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub struct AccessSourceKey {
    /// Host byte order.
    pub ifindex: u32,
    /// Explicit padding, always zero.
    pub pad: u32,
    pub prefix: [u8; 8],
}
const _: () = assert!(core::mem::size_of::<AccessSourceKey>() == 16);

impl AccessSourceKey {
    pub fn new(ifindex: u32, prefix: [u8; 8]) -> Self {
        Self {
            ifindex,
            pad: 0,
            prefix,
        }
    }
}

/// `AccessSourceValue::flags` bit: `mac` is set, and a frame from the /64 must come from it.
pub const ACCESS_SOURCE_MAC: u8 = 1;

/// Value of `ACCESS_SOURCES`: the node's MAC, when the /64 is tied to one.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct AccessSourceValue {
    pub mac: [u8; 6],
    /// `ACCESS_SOURCE_*` bits.
    pub flags: u8,
    /// Explicit padding, always zero.
    pub pad: u8,
}
const _: () = assert!(core::mem::size_of::<AccessSourceValue>() == 8);

impl AccessSourceValue {
    /// Any Ethernet source (`None`), or only `mac`.
    pub fn new(mac: Option<[u8; 6]>) -> Self {
        match mac {
            Some(mac) => Self {
                mac,
                flags: ACCESS_SOURCE_MAC,
                pad: 0,
            },
            None => Self::default(),
        }
    }

    /// The MAC a frame must come from, if any.
    pub fn mac(&self) -> Option<[u8; 6]> {
        (self.flags & ACCESS_SOURCE_MAC != 0).then_some(self.mac)
    }
}

#[cfg(feature = "user")]
mod pod {
    unsafe impl aya::Pod for super::AccessSourceKey {}
    unsafe impl aya::Pod for super::AccessSourceValue {}
}
