//! The XDP datapath: loading the program, attaching it, and reading and writing its maps.
//!
//! Two rooms over a common floor; `program/` stands on `maps/`, and nothing in them imports from
//! this facade or from above:
//! - `program/`: the program's life: loading it ([`Datapath::load`]), attaching it
//!   ([`Datapath::attach`]), forwarding its log records, and the hitless restart on pinned
//!   state ([`Datapath::start`]: the pin directory, adopting and migrating pinned maps, taking
//!   pinned links over). It owns [`Datapath`], whose map methods hand over to `maps/`.
//! - `maps/`: typed access to the program's maps (`ProgramMaps`): the bindings
//!   ([`BindingSpec`]) and the `PEERS` indices they store instead of addresses, statistics and
//!   counters, interface roles, the visiting bindings' L2 next hops ([`AccessLink`]), and the
//!   `NEXTHOPS` cache it hands to the next-hop resolver ([`crate::routing::nexthop`]).
//! - the floor: `params.rs`, what loading and attaching take ([`DatapathParams`], [`XdpMode`],
//!   [`LogLevel`]); `error.rs`, the errors of both rooms ([`DatapathError`]).

mod dense_layout;
mod error;
mod maps;
mod params;
mod program;

pub use dense_layout::{DenseLayout, SkippedPool};
pub use error::{AdoptError, DatapathError, PeersFull, PinError};
pub(crate) use maps::TxPorts;
pub use maps::{
    AccessLink, AccessSource, BindingSpec, FirstFrame, FirstFrames, WatchedFirstFrames,
};
pub use params::{DatapathParams, LogLevel, MapName, PROGRAM_NAME, XdpMode};
pub use program::{
    AttachedInterface, Datapath, InterfaceSpec, KernelLogger, PinDir, XDP_LOG_TARGET, adopt,
    forward_kernel_logs, ifindex, pin,
};
