//! The program's maps and load-time globals. Sizes given here are defaults: userspace overrides
//! `BINDINGS` and `BINDING_STATS` from config before loading.

use anchor_common::{
    AccessMac, AccessSourceKey, AccessSourceValue, BindingKey, BindingStats, BindingValue,
    CounterBlock, IfaceValue, LpmKey, NextHop, PeerAddr, PoolRange,
    cache::Settings as SettingsValue,
    config::{
        DEFAULT_MAX_BINDINGS, DEFAULT_MAX_SHORT_PREFIXES, MAX_ACCESS_SOURCES, MAX_CN_ANCHORS,
        MAX_IFACES, MAX_INDEXED_IFINDEX, MAX_PEERS, MAX_VISITING_L2,
    },
    dense::MAX_POOLS,
    first_frame::{FIRST_FRAMES_BYTES, MAX_FIRST_FRAME_REPORTED, MAX_KNOWN_MACS},
    maps::{
        MAX_TX_PORTS, SETTING_ACCESS, SETTING_DENSE, SETTING_FIRST_FRAME, SETTING_HASHED_REDIRECT,
        SETTING_L2_UNBOUND, SETTING_SHORT_PREFIXES, SETTING_SOURCE_VALIDATION,
    },
};
use aya_ebpf::{
    bindings::BPF_F_NO_PREALLOC,
    macros::map,
    maps::{Array, DevMap, HashMap, LpmTrie, LruHashMap, PerCpuArray, RingBuf},
};

use crate::parse::Addr;

#[map]
pub static BINDINGS: HashMap<BindingKey, BindingValue> =
    HashMap::with_max_entries(DEFAULT_MAX_BINDINGS, 0);

#[map]
pub static SHORT_PREFIXES: LpmTrie<LpmKey, BindingValue> =
    LpmTrie::with_max_entries(DEFAULT_MAX_SHORT_PREFIXES, BPF_F_NO_PREALLOC);

/// The bindings of the /64s of this router's own pools, at the index `POOLS` gives; the
/// capacity is set by userspace before loading (at least 1).
#[map]
pub static DENSE: Array<BindingValue> = Array::with_max_entries(1, 0);

/// Where each pool's /64s are in `DENSE`; the pools in use first, then entries of count 0.
#[map]
pub static POOLS: Array<PoolRange> = Array::with_max_entries(MAX_POOLS, 0);

/// The peers' locators, indexed by `BindingValue::peer`.
#[map]
pub static PEERS: Array<PeerAddr> = Array::with_max_entries(MAX_PEERS, 0);

/// The next hop toward each peer, indexed like `PEERS`; kept by the daemon.
#[map]
pub static NEXTHOPS: Array<NextHop> = Array::with_max_entries(MAX_PEERS, 0);

/// The L2 next hop of each /64 whose node is attached here: a visiting /64's (kept by the daemon
/// with the binding) and, at a MAAR, one of its own /64s' while their node is attached here
/// (kept with the route toward the node).
#[map]
pub static VISITING_L2: HashMap<BindingKey, NextHop> =
    HashMap::with_max_entries(MAX_VISITING_L2, BPF_F_NO_PREALLOC);

/// The anchors near correspondents whose tunnels to visiting /64s are accepted; kept by the
/// daemon.
#[map]
pub static CN_ANCHORS: HashMap<PeerAddr, u32> = HashMap::with_max_entries(MAX_CN_ANCHORS, 0);

/// Whether `addr` is the locator of an anchor near correspondents.
#[inline(always)]
pub fn is_cn_anchor(addr: Addr) -> bool {
    let key = PeerAddr {
        octets: addr.octets(),
    };
    CN_ANCHORS.get_ptr(key).is_some()
}

/// The /64s allowed as sources on access interfaces with source validation; kept by the daemon.
#[map]
pub static ACCESS_SOURCES: HashMap<AccessSourceKey, AccessSourceValue> =
    HashMap::with_max_entries(MAX_ACCESS_SOURCES, BPF_F_NO_PREALLOC);

/// The nodes attached on each access interface with first-frame attachment; kept by the daemon.
#[map]
pub static KNOWN_MACS: HashMap<AccessMac, u32> =
    HashMap::with_max_entries(MAX_KNOWN_MACS, BPF_F_NO_PREALLOC);

/// When each unknown MAC was last reported (`bpf_ktime_get_ns`).
#[map]
pub static FIRST_FRAME_REPORTED: LruHashMap<AccessMac, u64> =
    LruHashMap::with_max_entries(MAX_FIRST_FRAME_REPORTED, 0);

/// The first-frame reports, read by the daemon.
#[map]
pub static FIRST_FRAMES: RingBuf = RingBuf::with_byte_size(FIRST_FRAMES_BYTES, 0);

/// One value: the `SETTING_*` bits and the generation of the lookup caches; set by the daemon at
/// run time.
#[map]
static SETTINGS: Array<SettingsValue> = Array::with_max_entries(1, 0);

#[map]
pub static BINDING_STATS: PerCpuArray<BindingStats> =
    PerCpuArray::with_max_entries(DEFAULT_MAX_BINDINGS, 0);

#[map]
pub static COUNTERS: PerCpuArray<CounterBlock> = PerCpuArray::with_max_entries(1, 0);

#[map]
static IFACES: HashMap<u32, IfaceValue> = HashMap::with_max_entries(MAX_IFACES, 0);

/// `IFACES` entries of the interfaces with an index below its capacity, indexed by ifindex.
#[map]
static IFACE_INDEX: Array<IfaceValue> = Array::with_max_entries(MAX_INDEXED_IFINDEX, 0);

/// The role and flags of the interface `ifindex` (role 0: none): one array access below
/// `MAX_INDEXED_IFINDEX`, a hash lookup above. A plain value, never an `Option`: the compiler
/// may read the fields of a `None` it merges with `Some`, which the verifier refuses.
#[inline(always)]
pub fn iface(ifindex: u32) -> IfaceValue {
    let found = if ifindex < MAX_INDEXED_IFINDEX {
        IFACE_INDEX.get_ptr(ifindex)
    } else {
        IFACES.get_ptr(ifindex)
    };
    match found {
        // SAFETY: a map value of 4 bytes; a plain copy.
        Some(value) => unsafe { core::ptr::read_volatile(value) },
        None => IfaceValue::NONE,
    }
}

/// The interfaces the program redirects to, at their index (`anchor_common::maps::TX_PORTS`).
#[map]
pub static TX_PORTS: DevMap = DevMap::with_max_entries(MAX_TX_PORTS, 0);

/// Entry 0 is non-zero while packet debugging is on; set by the daemon at run time.
#[map]
pub static DEBUG: Array<u32> = Array::with_max_entries(1, 0);

/// 16 bytes stored 8-byte aligned, so that they are read as two aligned words.
#[repr(C, align(8))]
struct Locator([u8; 16]);

/// This router's locator, network byte order. Set at load time.
#[unsafe(no_mangle)]
static LOCATOR: Locator = Locator([0; 16]);
/// Tunnel MTU in bytes. Set at load time.
#[unsafe(no_mangle)]
static TUNNEL_MTU: u32 = anchor_common::config::DEFAULT_TUNNEL_MTU;
/// Hop limit of the headers this program writes. Set at load time.
#[unsafe(no_mangle)]
static OUTER_HOP_LIMIT: u32 = anchor_common::config::DEFAULT_OUTER_HOP_LIMIT;

#[inline(always)]
pub fn locator() -> Addr {
    let words = core::ptr::addr_of!(LOCATOR).cast::<u64>();
    // SAFETY: aligned reads of a load-time constant; volatile so the compiler cannot fold the
    // default.
    unsafe {
        Addr {
            hi: core::ptr::read_volatile(words),
            lo: core::ptr::read_volatile(words.add(1)),
        }
    }
}

#[inline(always)]
pub fn tunnel_mtu() -> u32 {
    // SAFETY: as in `locator`.
    unsafe { core::ptr::read_volatile(&raw const TUNNEL_MTU) }
}

#[inline(always)]
pub fn outer_hop_limit() -> u8 {
    // SAFETY: as in `locator`.
    unsafe { core::ptr::read_volatile(&raw const OUTER_HOP_LIMIT) as u8 }
}

/// Whether packet debugging is on. A map lookup: call it only on rare paths, never per packet.
#[inline(always)]
pub fn packet_debug() -> bool {
    DEBUG.get(0).is_some_and(|on| *on != 0)
}

/// The `SETTING_*` bits and the generation of the lookup caches, read once per frame: one array
/// lookup, which the verifier inlines.
#[derive(Clone, Copy)]
pub struct Settings(u32, u64);

impl Settings {
    #[inline(always)]
    pub fn read() -> Self {
        match SETTINGS.get_ptr(0) {
            // SAFETY: a map value; each field read with one load (a frame may see the bits of
            // one write and the generation of the next).
            Some(value) => unsafe {
                Self(
                    core::ptr::read_volatile(&raw const (*value).bits),
                    core::ptr::read_volatile(&raw const (*value).generation),
                )
            },
            None => Self(0, 0),
        }
    }

    /// The generation of the lookup caches (0: no caching).
    #[inline(always)]
    pub fn generation(self) -> u64 {
        self.1
    }

    /// `SHORT_PREFIXES` holds an entry.
    #[inline(always)]
    pub fn short_prefixes(self) -> bool {
        self.0 & SETTING_SHORT_PREFIXES != 0
    }

    /// An interface validates sources.
    #[inline(always)]
    pub fn source_validation(self) -> bool {
        self.0 & SETTING_SOURCE_VALIDATION != 0
    }

    /// An interface attaches nodes on their first frame.
    #[inline(always)]
    pub fn first_frame(self) -> bool {
        self.0 & SETTING_FIRST_FRAME != 0
    }

    /// `POOLS` describes at least one pool.
    #[inline(always)]
    pub fn dense(self) -> bool {
        self.0 & SETTING_DENSE != 0
    }

    /// A redirect binding lives outside the pools.
    #[inline(always)]
    pub fn hashed_redirect(self) -> bool {
        self.0 & SETTING_HASHED_REDIRECT != 0
    }

    /// `VISITING_L2` has an entry that neither a pool nor a /64 binding accounts for.
    #[inline(always)]
    pub fn l2_unbound(self) -> bool {
        self.0 & SETTING_L2_UNBOUND != 0
    }

    /// An interface is an access interface (nodes may be attached here).
    #[inline(always)]
    pub fn access(self) -> bool {
        self.0 & SETTING_ACCESS != 0
    }
}
