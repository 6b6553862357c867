//! Typed access to the program's maps: [`ProgramMaps`], whose methods are split by what they
//! reach.
//!
//! - `program_maps.rs`: [`ProgramMaps`] itself, taken from the loaded object; interface roles,
//!   the `PEERS` indices (`peers.rs`: `Peers`, their allocation) and the `SETTINGS` bits;
//! - `bindings.rs`: the bindings ([`BindingSpec`], in `binding_spec.rs`), in `BINDINGS` and
//!   `SHORT_PREFIXES` (`keys.rs`: which map and key a prefix has);
//! - `next_hops.rs`: the `NEXTHOPS` cache the next-hop resolver fills, and the visiting /64s'
//!   L2 next hops (`VISITING_L2`), toward an access interface ([`AccessLink`], in
//!   `access_link.rs`);
//!   `gates.rs` keeps the `SETTINGS` bits that let the program skip lookups: a redirect
//!   binding outside the pools, a `VISITING_L2` /64 that neither a pool nor a binding accounts
//!   for;
//! - `access_sources.rs`: the /64s allowed as sources on the access interfaces
//!   (`ACCESS_SOURCES`, [`AccessSource`]);
//! - `known_macs.rs`: the nodes known on the access interfaces (`KNOWN_MACS`), and
//!   `first_frames.rs`: the reports of frames from the others (`FIRST_FRAMES`, [`FirstFrames`]);
//! - `stats.rs`: the global counters and the per-binding statistics;
//! - `tx_ports.rs`: the interfaces the program redirects to through its device map
//!   (`TX_PORTS`, [`TxPorts`]);
//! - `map_error.rs`: a failed map syscall as a [`DatapathError`](super::DatapathError).

mod access_link;
mod access_sources;
mod binding_spec;
mod bindings;
mod first_frames;
mod gates;
mod keys;
mod known_macs;
mod map_error;
mod next_hops;
mod peers;
mod program_maps;
mod stats;
mod tx_ports;

pub use access_link::AccessLink;
pub use access_sources::AccessSource;
pub use binding_spec::BindingSpec;
pub use first_frames::{FirstFrame, FirstFrames, WatchedFirstFrames};
pub use program_maps::ProgramMaps;
pub use tx_ports::TxPorts;
