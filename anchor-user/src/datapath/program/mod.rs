//! The XDP program's life: loading, attaching, and the hitless restart on pinned state.
//!
//! - `loader.rs`: [`Datapath::load`], [`Datapath::attach`], the program handle;
//!   `map_access.rs`: its map methods, handed over to the maps room
//!   (`datapath/maps/`).
//! - `klog.rs`: forwarding the program's aya-log records to the `log` crate.
//! - `pin.rs`: the instance's pin directory on bpffs ([`PinDir`]).
//! - `adopt.rs`: comparing pinned maps with this build ([`adopt::plan`]);
//!   `migrate.rs`: moving their entries into maps of another capacity;
//!   `pinned_object.rs`: what a pin holds. `start.rs`: [`Datapath::start`] puts them together.

pub mod adopt;
#[cfg(test)]
mod dense_tests;
mod klog;
mod loader;
mod map_access;
mod migrate;
pub mod pin;
mod pinned_object;
mod start;

pub use klog::{KernelLogger, XDP_LOG_TARGET, forward_kernel_logs};
pub use loader::{AttachedInterface, Datapath, InterfaceSpec, ifindex};
pub use pin::PinDir;
