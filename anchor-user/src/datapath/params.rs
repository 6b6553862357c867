//! What loading and attaching the program take: its parameters, the attach mode, the log level,
//! and the names of the program and its maps. The bottom of the datapath: it imports nothing
//! from it.

use std::{fmt, net::Ipv6Addr};

use serde::Deserialize;

/// The name of the XDP program in the object.
pub const PROGRAM_NAME: &str = "anchor_xdp";

/// What [`Datapath::load`](crate::datapath::Datapath::load) sets in the program before
/// loading it.
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
    /// This router's own prefix pools, whose /64s have their bindings in the dense table
    /// (`DENSE`) rather than the hash map; see [`DenseLayout`](super::DenseLayout).
    pub dense_pools: Vec<ipnet::Ipv6Net>,
    /// Enable the program's aya-log output (at [`LogLevel::Trace`]; see
    /// [`Datapath::load_with_log_level`] for another level). Its records are written only while
    /// packet debugging is on ([`Datapath::set_packet_debug`]); without it the verifier prunes
    /// the logging code.
    ///
    /// [`Datapath::load_with_log_level`]: crate::datapath::Datapath::load_with_log_level
    /// [`Datapath::set_packet_debug`]: crate::datapath::Datapath::set_packet_debug
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
