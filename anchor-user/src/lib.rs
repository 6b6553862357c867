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
//! - [`api`]: the local control socket (JSON lines), server and client.
//! - [`prefix`]: parsing and validating binding prefixes, shared by the client and the server.
//! - [`cli`]: the command line; [`output`]: its text tables.
//! - [`metrics`]: Prometheus metrics over HTTP; [`logging`]: the daemon's log (`tracing`).

pub mod api;
pub mod binding_table;
pub mod check_config;
pub mod cli;
pub mod config;
pub mod datapath;
pub mod logging;
pub mod maar_router;
pub mod metrics;
pub mod output;
pub mod prefix;
pub mod routing;
#[cfg(test)]
mod testing;

/// The compiled XDP object (built by `build.rs` from `anchor-ebpf`).
pub static EBPF_OBJECT: &[u8] = aya::include_bytes_aligned!(concat!(env!("OUT_DIR"), "/anchor"));

/// Programs the benchmarks (`anchor-bench`) run next to [`EBPF_OBJECT`], built with it from
/// `anchor-ebpf/src/bin/`. Each object holds one XDP program named like its constant.
pub mod bench_objects {
    /// `ref_pass`: returns XDP_PASS (the floor).
    pub static REF_PASS: &[u8] = aya::include_bytes_aligned!(concat!(env!("OUT_DIR"), "/ref_pass"));
    /// `ref_encap`: adjust head, constant 54-byte header, XDP_TX (the minimal encapsulator).
    pub static REF_ENCAP: &[u8] =
        aya::include_bytes_aligned!(concat!(env!("OUT_DIR"), "/ref_encap"));
    /// `ref_lookup`: one lookup in a hash map shaped like `BINDINGS` (map `LOOKUP`), XDP_PASS
    /// on a hit.
    pub static REF_LOOKUP: &[u8] =
        aya::include_bytes_aligned!(concat!(env!("OUT_DIR"), "/ref_lookup"));
    /// `ref_redirect`: redirects every frame to the ifindex in global `TARGET_IFINDEX`.
    pub static REF_REDIRECT: &[u8] =
        aya::include_bytes_aligned!(concat!(env!("OUT_DIR"), "/ref_redirect"));
    /// `ref_fib`: `bpf_fib_lookup`, hop limit, MACs, `bpf_redirect` (a minimal router).
    pub static REF_FIB: &[u8] = aya::include_bytes_aligned!(concat!(env!("OUT_DIR"), "/ref_fib"));
    /// `bench_gen`: traffic generator for live-frames test runs (header in global `GEN_HEADER`).
    pub static BENCH_GEN: &[u8] =
        aya::include_bytes_aligned!(concat!(env!("OUT_DIR"), "/bench_gen"));
    /// `bench_sink`: counts frames in map `SINK_FRAMES` and drops them.
    pub static BENCH_SINK: &[u8] =
        aya::include_bytes_aligned!(concat!(env!("OUT_DIR"), "/bench_sink"));
}
