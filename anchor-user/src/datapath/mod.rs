//! The XDP datapath: loading the program, attaching it, and reading and writing its maps.
//!
//! - `loader.rs`: [`Datapath::load`], [`Datapath::attach`], the program handle.
//! - `maps.rs`: typed access to the binding, statistics, counter and interface maps.
//! - `binding.rs`: [`BindingSpec`], a binding with its peer's address; `peers.rs`: the `PEERS`
//!   indices the maps store instead, counted by the bindings using them.
//! - `nexthop.rs`: the per-peer next-hop cache (`NEXTHOPS`) and its resolver
//!   ([`NextHopResolver`]); `nexthop_query.rs`: the routes, links and neighbours it asks the
//!   kernel for; `nexthop_events.rs`: which rtnetlink events make it resolve again;
//!   `nexthop_schedule.rs`: when it resolves (events, refresh, retry).
//! - `access_link.rs`: an access interface's MAC and MTU ([`AccessLink`]), for the visiting
//!   bindings' L2 next hops (`VISITING_L2`, written by `maps.rs`).
//! - `klog.rs`: forwarding the program's aya-log records to the `log` crate.
//! - `pin.rs`: the instance's pin directory on bpffs ([`PinDir`]).
//! - `adopt.rs`: comparing pinned maps with this build ([`adopt::plan`]);
//!   `migrate.rs`: moving their entries into maps of another capacity;
//!   `pinned_object.rs`: what a pin holds. [`Datapath::start`] puts them together.

mod access_link;
pub mod adopt;
mod binding;
mod klog;
mod loader;
mod maps;
mod migrate;
pub mod nexthop;
mod nexthop_events;
mod nexthop_query;
mod nexthop_schedule;
mod peers;
pub mod pin;
mod pinned_object;
mod start;

use std::{fmt, io, net::Ipv6Addr};

use ipnet::Ipv6Net;
use serde::Deserialize;
use thiserror::Error;

pub use access_link::AccessLink;
pub use binding::BindingSpec;
pub use klog::{KernelLogger, XDP_LOG_TARGET, forward_kernel_logs};
pub use loader::{AttachedInterface, Datapath, InterfaceSpec, ifindex};
pub use nexthop::{NextHopCache, NextHopError, NextHopResolver};
pub use peers::PeersFull;
pub use pin::PinDir;

/// The name of the XDP program in the object.
pub const PROGRAM_NAME: &str = "anchor_xdp";

/// What [`Datapath::load`] sets in the program before loading it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DatapathParams {
    /// This router's locator: the outer source of the tunnels it builds, and the only outer
    /// destination it decapsulates.
    pub locator: Ipv6Addr,
    /// The largest outer packet; encapsulating a larger packet answers Packet Too Big.
    pub tunnel_mtu: u32,
    /// The hop limit of the outer headers the program writes.
    pub outer_hop_limit: u8,
    /// Capacity of the `/64` binding map and of the per-binding statistics array.
    pub max_bindings: u32,
    /// Enable the program's aya-log output (at [`LogLevel::Trace`]; see
    /// [`Datapath::load_with_log_level`] for another level). Its records are written only while
    /// packet debugging is on ([`Datapath::set_packet_debug`]); without it the verifier prunes
    /// the logging code.
    pub log: bool,
}

/// How XDP is attached to an interface. There is no silent fallback from one to the other.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum XdpMode {
    /// In the driver (`XDP_FLAGS_DRV_MODE`).
    #[default]
    Native,
    /// Generic XDP in the kernel stack (`XDP_FLAGS_SKB_MODE`).
    Skb,
}

impl fmt::Display for XdpMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Native => "native",
            Self::Skb => "skb",
        })
    }
}

impl From<XdpMode> for aya::programs::XdpMode {
    fn from(mode: XdpMode) -> Self {
        match mode {
            XdpMode::Native => Self::Driver,
            XdpMode::Skb => Self::Skb,
        }
    }
}

/// Level of the XDP program's own log records (aya-log). `Off` lets the verifier prune all
/// logging code, which costs about ten times the instructions of a packet when enabled.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogLevel {
    #[default]
    Off,
    Error,
    Warn,
    Info,
    Debug,
    Trace,
}

impl LogLevel {
    /// The value of the program's `AYA_LOG_LEVEL` global (`aya_log_common::Level` numbering,
    /// 0 = off).
    pub const fn aya_level(self) -> u8 {
        match self {
            Self::Off => 0,
            Self::Error => 1,
            Self::Warn => 2,
            Self::Info => 3,
            Self::Debug => 4,
            Self::Trace => 5,
        }
    }

    /// The matching `log` crate filter.
    pub const fn level_filter(self) -> log::LevelFilter {
        match self {
            Self::Off => log::LevelFilter::Off,
            Self::Error => log::LevelFilter::Error,
            Self::Warn => log::LevelFilter::Warn,
            Self::Info => log::LevelFilter::Info,
            Self::Debug => log::LevelFilter::Debug,
            Self::Trace => log::LevelFilter::Trace,
        }
    }
}

/// A map of the program, named as in the object.
pub type MapName = &'static str;

#[derive(Debug, Error)]
pub enum DatapathError {
    #[error("invalid datapath parameter {name} = {value}: {reason}")]
    InvalidParam {
        name: &'static str,
        value: String,
        reason: &'static str,
    },
    #[error("cannot load the XDP object")]
    Object(#[source] aya::EbpfError),
    #[error("the XDP object has no program {PROGRAM_NAME}")]
    MissingProgram,
    #[error("the XDP object has no map {name}")]
    MissingMap { name: MapName },
    #[error("map {name} in the XDP object does not have the expected type, key or value")]
    MapType {
        name: MapName,
        #[source]
        source: aya::maps::MapError,
    },
    /// The verifier rejected the program; `verifier_log` holds its full output (not displayed,
    /// it is logged at debug level).
    #[error("the kernel rejected the XDP program {PROGRAM_NAME}")]
    Verifier {
        #[source]
        source: io::Error,
        verifier_log: String,
    },
    #[error("cannot load the XDP program {PROGRAM_NAME}")]
    Load(#[source] aya::programs::ProgramError),
    #[error("cannot start forwarding the XDP program's log")]
    Logger(#[source] aya_log::Error),
    #[error("invalid interface name {iface:?}")]
    InvalidInterfaceName { iface: String },
    #[error("interface {iface} does not exist")]
    UnknownInterface { iface: String },
    #[error("XDP is already attached to {iface} by this daemon")]
    AlreadyAttached { iface: String },
    #[error("cannot attach XDP in {mode} mode to {iface}")]
    Attach {
        iface: String,
        mode: XdpMode,
        #[source]
        source: aya::programs::ProgramError,
    },
    #[error("map {name} is full")]
    MapFull { name: MapName },
    #[error("prefix {prefix} is longer than /64: bindings cover a /64 or a shorter prefix")]
    PrefixTooLong { prefix: Ipv6Net },
    #[error("no entry for {prefix} in map {name}")]
    BindingNotFound { prefix: Ipv6Net, name: MapName },
    #[error("{prefix} is not a /64: only a visiting /64 has an L2 next hop")]
    NotA64 { prefix: Ipv6Net },
    #[error("cannot read the MAC address and MTU of {dev}")]
    AccessLink {
        dev: String,
        #[source]
        source: io::Error,
    },
    #[error("statistics slot {slot} is out of range (max_bindings = {max_bindings})")]
    SlotOutOfRange { slot: u32, max_bindings: u32 },
    #[error(transparent)]
    PeersFull(#[from] PeersFull),
    #[error("the binding of {prefix} in the maps is invalid: {reason}")]
    CorruptBinding { prefix: Ipv6Net, reason: String },
    #[error("cannot count the possible CPUs")]
    Cpus(#[source] io::Error),
    #[error("{operation} on map {name} failed")]
    Map {
        operation: &'static str,
        name: MapName,
        #[source]
        source: aya::maps::MapError,
    },
    #[error(transparent)]
    Pin(#[from] pin::PinError),
    #[error(transparent)]
    Adopt(#[from] adopt::AdoptError),
}
