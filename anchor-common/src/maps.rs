//! Names of the BPF maps, as they appear in the object file.

/// `HashMap<BindingKey, BindingValue>`, capacity from config (`max_bindings`).
pub const BINDINGS: &str = "BINDINGS";
/// `LpmTrie<LpmKey, BindingValue>` for prefixes shorter than /64; consulted only on a hash miss,
/// and only while `SETTINGS` has `SETTING_SHORT_PREFIXES`.
pub const SHORT_PREFIXES: &str = "SHORT_PREFIXES";
/// `Array<PeerAddr>`, capacity `MAX_PEERS`: the locators of the bindings' peers, indexed by
/// `BindingValue::peer`, allocated by userspace (one index per distinct peer).
pub const PEERS: &str = "PEERS";
/// `Array<NextHop>`, capacity `MAX_PEERS`, indexed like `PEERS`: the next hop toward each peer
/// (out interface, MACs, MTU), kept by the daemon from netlink; an entry without
/// `NEXTHOP_VALID` makes the program ask the FIB.
pub const NEXTHOPS: &str = "NEXTHOPS";
/// `DevMap` (an array of devices), capacity `MAX_TX_PORTS`: the interfaces the program
/// redirects to, each at its own index, so that a redirect takes the device map's form
/// (`bpf_redirect_map`: one array access, and no lookup of the interface by its index in the
/// kernel). Written by the daemon for every interface it attaches to and every next hop its
/// resolver resolves; an interface missing from it (or with an index from `MAX_TX_PORTS` up) is
/// sent to with `bpf_redirect`. One load's, not pinned.
pub const TX_PORTS: &str = "TX_PORTS";
/// Capacity of `TX_PORTS`: interfaces with an index below it can be in it.
pub const MAX_TX_PORTS: u32 = 4096;
/// `HashMap<BindingKey, NextHop>` (`BPF_F_NO_PREALLOC`), capacity `MAX_VISITING_L2`: for a
/// visiting /64 whose node is on an access link of this router, the L2 next hop of the
/// decapsulated packets (the node's MAC, the access interface's MAC, ifindex and MTU), written
/// by the daemon with the binding; at a MAAR, also for each of its own /64s whose node is
/// attached here, the L2 next hop of native packets that no binding takes (written with the
/// route toward the node, while `SETTING_ACCESS` is set). A missing entry, or one without
/// `NEXTHOP_VALID`, makes the program ask the FIB (decapsulated) or pass the packet (native).
pub const VISITING_L2: &str = "VISITING_L2";
/// `HashMap<PeerAddr, u32>`, capacity `MAX_CN_ANCHORS`: the locators of the anchors near
/// correspondents (RFC 8818 Figure 6) whose tunnels to a visiting /64 are decapsulated like the
/// home anchor's; the value is unused (1). Written by the daemon from its configuration.
pub const CN_ANCHORS: &str = "CN_ANCHORS";
/// `HashMap<AccessSourceKey, AccessSourceValue>` (`BPF_F_NO_PREALLOC`), capacity
/// `MAX_ACCESS_SOURCES`: the /64s allowed as IPv6 sources on each access interface with source
/// validation (`IFACE_FLAG_SOURCE_VALIDATION`), with the node's MAC when the /64 is tied to one.
/// Written by the daemon with the delegated /64s' routes and the visiting bindings.
pub const ACCESS_SOURCES: &str = "ACCESS_SOURCES";
/// `HashMap<AccessMac, u32>` (`BPF_F_NO_PREALLOC`), capacity `MAX_KNOWN_MACS`: the nodes attached
/// on each access interface (the value is unused, 1). Written by the daemon with the delegated
/// /64s' routes; one load's, not pinned (the routes are added again at every start).
pub const KNOWN_MACS: &str = "KNOWN_MACS";
/// `LruHashMap<AccessMac, u64>`, capacity `MAX_FIRST_FRAME_REPORTED`: when each unknown MAC was
/// last reported (`bpf_ktime_get_ns`), for the rate limit. The program's own.
pub const FIRST_FRAME_REPORTED: &str = "FIRST_FRAME_REPORTED";
/// `RingBuf` of `FIRST_FRAMES_BYTES`: one `AccessMac` record per first-frame report, read by
/// the daemon.
pub const FIRST_FRAMES: &str = "FIRST_FRAMES";
/// `Array<cache::Settings>` with one entry, maintained by the daemon at run time: the
/// `SETTING_*` bits and the generation of the lookup caches.
pub const SETTINGS: &str = "SETTINGS";
/// `Array<cache::BindingCacheSet>` (mappable), `cache::BINDING_CACHE_SETS` sets per possible CPU,
/// CPU after CPU: the program's cache of its `DENSE` and `BINDINGS` lookups (see `cache`).
/// Written by the program only; sized by the daemon at load.
pub const BINDING_CACHE: &str = "BINDING_CACHE";
/// `PerCpuArray<cache::L2CacheEntry>`, `cache::L2_CACHE_SLOTS` entries: the program's cache of
/// its `VISITING_L2` lookups. Written by the program only.
pub const L2_CACHE: &str = "L2_CACHE";
/// `SETTINGS` bit: `SHORT_PREFIXES` holds at least one entry (the program skips the trie
/// otherwise).
pub const SETTING_SHORT_PREFIXES: u32 = 1;
/// `SETTINGS` bit: at least one `IFACES` entry has `IFACE_FLAG_SOURCE_VALIDATION` (the program
/// looks its ingress interface up for the validation only then).
pub const SETTING_SOURCE_VALIDATION: u32 = 2;
/// `SETTINGS` bit: at least one `IFACES` entry has `IFACE_FLAG_FIRST_FRAME` (the program looks
/// for unknown MACs only then).
pub const SETTING_FIRST_FRAME: u32 = 4;
/// `SETTINGS` bit: at least one `IFACES` entry is an access interface (the program looks a
/// native packet that no binding took up in `VISITING_L2`, for a node attached here, only then).
pub const SETTING_ACCESS: u32 = 8;
/// `SETTINGS` bit: `POOLS` describes at least one pool (the program looks a /64 up in the pools
/// before the hash map only then).
pub const SETTING_DENSE: u32 = 16;
/// `SETTINGS` bit: `VISITING_L2` has an entry for a /64 that is neither in a pool nor bound
/// as a /64 (a relocated prefix, an entry written by hand). Without it, the program looks a
/// native packet that no binding took up in `VISITING_L2` only when its /64 is in a pool or
/// has a binding; with it, always (on a router with an access interface).
pub const SETTING_L2_UNBOUND: u32 = 32;
/// `SETTINGS` bit: a redirect binding lives outside the pools (in `BINDINGS` or
/// `SHORT_PREFIXES`). Without it, a packet arriving on an access interface whose destination is
/// outside the pools cannot be redirected, and the program looks that destination up only if
/// it is not reverse-tunnelled.
pub const SETTING_HASHED_REDIRECT: u32 = 64;
/// `Array<BindingValue>`, capacity the slots of the pools (at least 1, at most
/// `dense::MAX_DENSE_SLOTS`): the bindings of the /64s of this router's own pools, at the index
/// `POOLS` gives; a slot whose `kind` is 0 holds no binding. A /64 of a pool has its binding
/// here and never in `BINDINGS`.
pub const DENSE: &str = "DENSE";
/// `Array<PoolRange>`, capacity `dense::MAX_POOLS`: where each pool's /64s are in `DENSE`.
/// Written by the daemon at start, from the pools of its configuration.
pub const POOLS: &str = "POOLS";
/// `PerCpuArray<BindingStats>`, one slot per binding, capacity = `max_bindings`.
pub const BINDING_STATS: &str = "BINDING_STATS";
/// `PerCpuArray<CounterBlock>` with one entry: every `Counter` of each CPU.
pub const COUNTERS: &str = "COUNTERS";
/// `HashMap<u32 (ifindex), IfaceValue>`: the role and flags of every interface the program is
/// attached to.
pub const IFACES: &str = "IFACES";
/// `Array<IfaceValue>`, capacity `MAX_INDEXED_IFINDEX`, indexed by ifindex: the same entries as
/// `IFACES` for the interfaces whose index is below the capacity (a zero entry: none), so that
/// the program finds an interface's role with one array access; it asks `IFACES` only for a
/// larger index. Written by the daemon with `IFACES`.
pub const IFACE_INDEX: &str = "IFACE_INDEX";
/// `Array<u32>` with one entry: non-zero while packet debugging is on (`anchor debug packets on`).
/// The program reads it only on rare paths (drops) before logging with aya-log.
pub const DEBUG: &str = "DEBUG";
