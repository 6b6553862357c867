//! The contract shared by the XDP program (`anchor-ebpf`) and the daemon (`anchor-user`).
//!
//! Everything here is `#[repr(C)]`, has no implicit padding, and carries a compile-time size
//! assertion so that both sides cannot drift. Addresses and prefixes are stored as byte arrays in
//! network byte order (exactly as they appear on the wire), so no side ever has to swap bytes.
#![no_std]
#![expect(
    clippy::inline_always,
    reason = "the XDP program calls these helpers, and it inlines every helper into its entry point"
)]

pub mod access_source;
pub mod binding;
pub mod cache;
pub mod client;
pub mod config;
pub mod counter;
pub mod dense;
pub mod first_frame;
pub mod flow_label;
pub mod maps;
pub mod nexthop;

pub use access_source::{AccessSourceKey, AccessSourceValue};
pub use binding::{
    BindingKey, BindingKind, BindingStats, BindingValue, Direction, LpmKey, PeerAddr,
};
pub use client::{ClientCounter, ClientTunnel};
pub use config::{IfaceRole, IfaceValue};
pub use counter::{Counter, CounterBlock, CounterValue};
pub use dense::PoolRange;
pub use first_frame::AccessMac;
pub use nexthop::NextHop;
