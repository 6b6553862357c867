//! The anchor daemon and its command-line client, as a library.
//!
//! - [`config`]: the TOML configuration file.
//! - [`datapath`]: loading the XDP program, attaching it, and its typed maps.
//! - [`state`]: the binding table (the source of truth; the maps are its projection).
//! - [`routes`]: kernel routes toward visiting mobile nodes (netlink).
//! - [`api`]: the local control socket (JSON lines), server and client.
//! - [`prefix`]: parsing and validating binding prefixes, shared by the client and the server.
//! - [`cli`]: the command line; [`output`]: its text tables.

pub mod api;
pub mod cli;
pub mod config;
pub mod datapath;
pub mod output;
pub mod prefix;
pub mod routes;
pub mod state;
#[cfg(test)]
mod testing;

/// The compiled XDP object (built by `build.rs` from `anchor-ebpf`).
pub static EBPF_OBJECT: &[u8] = aya::include_bytes_aligned!(concat!(env!("OUT_DIR"), "/anchor"));
