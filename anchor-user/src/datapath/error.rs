//! The datapath's errors, at the bottom of the datapath so that its loading and map rooms both
//! take them from below: [`DatapathError`], and the errors of pinning ([`PinError`]), adopting
//! pinned state ([`AdoptError`]) and allocating peer indices ([`PeersFull`]) it wraps.

use std::{io, net::Ipv6Addr, path::PathBuf};

use anchor_common::maps::TX_PORTS;
use aya::maps::MapError;
use ipnet::Ipv6Net;
use thiserror::Error;

use super::params::{MapName, PROGRAM_NAME, XdpMode};

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
        source: MapError,
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
    #[error("cannot put interface {ifindex} in {TX_PORTS}")]
    TxPort {
        ifindex: u32,
        #[source]
        source: aya::maps::xdp::XdpMapError,
    },
    #[error("prefix {prefix} is longer than /64: bindings cover a /64 or a shorter prefix")]
    PrefixTooLong { prefix: Ipv6Net },
    #[error("no entry for {prefix} in map {name}")]
    BindingNotFound { prefix: Ipv6Net, name: MapName },
    #[error("{prefix} is not a /64: only a visiting /64 has an L2 next hop")]
    NotA64 { prefix: Ipv6Net },
    #[error("{prefix} is not a /64: the sources allowed on an access link are /64s")]
    AccessSourceNotA64 { prefix: Ipv6Net },
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
        source: MapError,
    },
    #[error(transparent)]
    Pin(#[from] PinError),
    #[error(transparent)]
    Adopt(#[from] AdoptError),
}

#[derive(Debug, Error)]
pub enum PinError {
    #[error("instance name {instance:?} is invalid: {reason}")]
    InvalidInstance {
        instance: String,
        reason: &'static str,
    },
    #[error("cannot inspect {}", path.display())]
    Inspect {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error(
        "{} is not a bpffs and this daemon runs in a mount namespace of its own (as under \
         `ip netns exec`, which remounts /sys): a bpffs mounted here would vanish with the daemon \
         and the pinned state with it; enter only the network namespace \
         (`nsenter --net=/run/netns/NAME anchor run ...`) or set `bpffs` to a path where the \
         host's bpffs is visible",
        path.display()
    )]
    PrivateMountNamespace { path: PathBuf },
    #[error("cannot mount bpffs on {}", path.display())]
    Mount {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("cannot create {}", path.display())]
    CreateDir {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("instance {instance} is in use by another anchor daemon ({} is locked)", path.display())]
    InUse { instance: String, path: PathBuf },
    #[error("cannot lock {}", path.display())]
    Lock {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("cannot list {}", path.display())]
    List {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("cannot remove {}", path.display())]
    Remove {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("cannot pin {what} at {}", path.display())]
    Pin {
        what: String,
        path: PathBuf,
        #[source]
        source: aya::pin::PinError,
    },
    #[error("cannot rename {} to {}", from.display(), to.display())]
    Rename {
        from: PathBuf,
        to: PathBuf,
        #[source]
        source: io::Error,
    },
}

#[derive(Debug, Error)]
pub enum AdoptError {
    #[error("pinned map {} does not match this build: {differences}", path.display())]
    MapMismatch { path: PathBuf, differences: String },
    #[error("cannot open the pinned map {}", path.display())]
    OpenMap {
        path: PathBuf,
        #[source]
        source: MapError,
    },
    #[error("cannot read the pinned map {}", path.display())]
    ReadMap {
        path: PathBuf,
        #[source]
        source: MapError,
    },
    #[error("cannot inspect the pin {}", path.display())]
    InspectPin {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot open the pinned link {}", path.display())]
    OpenLink {
        path: PathBuf,
        #[source]
        source: aya::programs::links::LinkError,
    },
    #[error(
        "{} holds {found}, not an XDP link of {PROGRAM_NAME}: remove it or choose another instance",
        path.display()
    )]
    ForeignPin { path: PathBuf, found: String },
    #[error(
        "the XDP link pinned at {} runs program {name:?} (id {id}), not {PROGRAM_NAME}: remove it \
         or choose another instance",
        path.display()
    )]
    ForeignProgram {
        path: PathBuf,
        name: String,
        id: u32,
    },
    #[error("cannot take over the XDP link pinned at {}", path.display())]
    TakeOverLink {
        path: PathBuf,
        #[source]
        source: aya::programs::ProgramError,
    },
    #[error(
        "{count} bindings are pinned in {name} but max_bindings = {capacity}: raise max_bindings \
         or delete bindings first"
    )]
    TooManyBindings {
        name: MapName,
        count: u32,
        capacity: u32,
    },
    #[error(
        "XDP on {iface} was attached through netlink, without a BPF link, and cannot be pinned"
    )]
    NotPinnable { iface: String },
}

#[derive(Debug, Error, PartialEq, Eq)]
#[error("cannot add peer {peer}: all {capacity} peer indices are in use")]
pub struct PeersFull {
    pub peer: Ipv6Addr,
    pub capacity: u32,
}
