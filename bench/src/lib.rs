//! The benchmarks' XDP programs, built by `build.rs` from `bench/ebpf`: for `anchor-bench`, and for
//! the tests that send traffic with the generator.

/// The program objects. Each holds one XDP program named like its constant, in lower case.
pub mod programs {
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
    /// `ref_redirect_map`: redirects every frame through device map `PORTS` to the ifindex in
    /// global `TARGET_IFINDEX`.
    pub static REF_REDIRECT_MAP: &[u8] =
        aya::include_bytes_aligned!(concat!(env!("OUT_DIR"), "/ref_redirect_map"));
    /// `ref_fib`: `bpf_fib_lookup`, hop limit, MACs, `bpf_redirect` (a minimal router).
    pub static REF_FIB: &[u8] = aya::include_bytes_aligned!(concat!(env!("OUT_DIR"), "/ref_fib"));
    /// `bench_gen`: traffic generator for live-frames test runs (header in global `GEN_HEADER`).
    pub static BENCH_GEN: &[u8] =
        aya::include_bytes_aligned!(concat!(env!("OUT_DIR"), "/bench_gen"));
    /// `bench_sink`: counts frames in map `SINK_FRAMES` and drops them.
    pub static BENCH_SINK: &[u8] =
        aya::include_bytes_aligned!(concat!(env!("OUT_DIR"), "/bench_sink"));
}
