//! Names of the BPF maps, as they appear in the object file.

/// `HashMap<BindingKey, BindingValue>`, capacity from config (`max_bindings`).
pub const BINDINGS: &str = "BINDINGS";
/// `LpmTrie<LpmKey, BindingValue>` for prefixes shorter than /64; consulted only on a hash miss.
pub const SHORT_PREFIXES: &str = "SHORT_PREFIXES";
/// `PerCpuArray<BindingStats>`, one slot per binding, capacity = `max_bindings`.
pub const BINDING_STATS: &str = "BINDING_STATS";
/// `PerCpuArray<CounterValue>`, indexed by `Counter`.
pub const COUNTERS: &str = "COUNTERS";
/// `HashMap<u32 (ifindex), IfaceValue>`.
pub const IFACES: &str = "IFACES";
/// `Array<u32>` with one entry: non-zero while packet debugging is on (`anchor debug packets on`).
/// The program reads it only on rare paths (drops) before logging with aya-log.
pub const DEBUG: &str = "DEBUG";
