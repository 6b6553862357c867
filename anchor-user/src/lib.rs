//! The anchor daemon and its command-line client, as a library.
//!
//! - [`config`]: the TOML configuration file; [`check_config`]: every error of one, with lines.
//! - [`datapath`]: the XDP program: loading it, attaching it, the hitless restart, and its typed
//!   maps.
//! - [`binding_table`]: the binding table (the source of truth; the maps are its projection).
//! - [`maar_router`]: the binding table and routes as the MAAR role (`anchor-maar`) reaches
//!   them, through its port.
//! - [`routing`]: kernel routes toward visiting mobile nodes, and the next-hop resolver
//!   (netlink).
//! - [`first_frame`]: the program's first-frame reports, handed to the MAAR.
//! - [`api`]: the local control socket (JSON lines), server and client.
//! - [`prefix`]: parsing and validating binding prefixes, shared by the client and the server.
//! - [`cli`]: the command line; [`output`]: its text tables; [`cmd_status`]: what `anchor cmd
//!   status` reads from the CMD's store; [`manual`]: its man pages and
//!   shell completions, rendered from it.
//! - [`client_node`]: the mobile node of client-based DMM (RFC 8818 section 3.1.2): its data
//!   plane (the `client/ebpf` programs).
//! - [`metrics`]: Prometheus metrics over HTTP; [`logging`]: the daemon's log (`tracing`).

pub mod api;
pub mod binding_table;
pub mod check_config;
pub mod cli;
pub mod client_node;
pub mod cmd_status;
pub mod config;
pub mod datapath;
pub mod first_frame;
pub mod logging;
pub mod maar_router;
pub mod manual;
pub mod metrics;
pub mod output;
pub mod prefix;
pub mod routing;
#[cfg(test)]
mod testing;

/// The compiled XDP object (built by `build.rs` from `anchor-ebpf`).
pub static EBPF_OBJECT: &[u8] = aya::include_bytes_aligned!(concat!(env!("OUT_DIR"), "/anchor"));
