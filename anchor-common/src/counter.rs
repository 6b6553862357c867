//! The global counters: one enum, one slot each in a per-CPU block.

/// Packets and bytes for one counter on one CPU.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CounterValue {
    pub packets: u64,
    pub bytes: u64,
}
const _: () = assert!(core::mem::size_of::<CounterValue>() == 16);

#[cfg(feature = "user")]
unsafe impl aya::Pod for CounterValue {}

/// Slots in a [`CounterBlock`]: a power of two, so that the program bounds a slot index it
/// does not know at build time with a mask, and above [`COUNTER_COUNT`], so that a build that
/// adds counters keeps the block's size (and the pinned map of an older build).
pub const COUNTER_SLOTS: usize = 32;
const _: () = assert!(COUNTER_SLOTS.is_power_of_two() && COUNTER_SLOTS >= Counter::ALL.len());

/// Every counter of one CPU, slot `Counter as usize`: the only value of the per-CPU `COUNTERS`
/// map. The program looks it up once per frame and counts at fixed offsets from there, where
/// one map value per counter cost a lookup (a key on the stack, the value's per-CPU pointer,
/// then the CPU's offset) per count.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CounterBlock {
    pub slots: [CounterValue; COUNTER_SLOTS],
}

impl CounterBlock {
    /// The value of `counter`.
    pub fn get(&self, counter: Counter) -> CounterValue {
        self.slots[counter as usize]
    }
}

#[cfg(feature = "user")]
unsafe impl aya::Pod for CounterBlock {}

macro_rules! counters {
    ($($variant:ident = $idx:literal => $name:literal : $doc:literal,)*) => {
        /// Why a frame was counted. The discriminant is the slot in a [`CounterBlock`].
        ///
        /// Every frame counts once in `Rx` and once in exactly one verdict counter (`Pass`,
        /// `KernelFallback`, `Redirect`, `Tx`, or a `Drop*`). The other counters say what happened
        /// to it on the way.
        #[repr(u32)]
        #[derive(Clone, Copy, Debug, PartialEq, Eq)]
        pub enum Counter {
            $(#[doc = $doc] $variant = $idx,)*
        }

        impl Counter {
            pub const ALL: &'static [Counter] = &[$(Counter::$variant,)*];

            /// Stable snake_case name, used by the CLI and metrics.
            pub const fn name(self) -> &'static str {
                match self {
                    $(Counter::$variant => $name,)*
                }
            }
        }
    };
}

counters! {
    Rx = 0 => "rx": "Every frame the program saw.",
    Pass = 1 => "pass": "Verdict: passed to the kernel unmodified.",
    Encap = 2 => "encap": "Downlink packet encapsulated toward the serving router.",
    ReverseEncap = 3 => "reverse_encap": "Uplink packet encapsulated toward the home router.",
    Decap = 4 => "decap": "Tunnel packet accepted and decapsulated.",
    Redirect = 5 => "redirect": "Verdict: rewritten and redirected to another interface.",
    Tx = 6 => "tx": "Verdict: rewritten and sent back out of the ingress interface.",
    KernelFallback = 7 => "kernel_fallback": "Verdict: rewritten and passed to the kernel to forward (no neighbour, no route, VLAN).",
    PtbSent = 8 => "ptb_sent": "Answered with ICMPv6 Packet Too Big instead of encapsulating.",
    HopLimitExceeded = 9 => "hop_limit_exceeded": "Hop limit <= 1: passed to the kernel so that it sends Time Exceeded.",
    DropDecapUnknownPeer = 10 => "drop_decap_unknown_peer": "Verdict: dropped tunnel packet whose outer source is not the peer of the inner prefix.",
    DropDecapNoBinding = 11 => "drop_decap_no_binding": "Verdict: dropped tunnel packet to our locator for a prefix with no binding.",
    Malformed = 12 => "malformed": "Truncated or malformed headers (passed unmodified).",
    NonIpv6 = 13 => "non_ipv6": "IPv4 or another EtherType (passed unmodified).",
    NoBinding = 14 => "no_binding": "IPv6 that matched no binding (passed unmodified).",
    ExtHeaderLimit = 15 => "ext_header_limit": "More extension headers than the program walks (passed unmodified).",
    Vlan = 16 => "vlan": "Frame carried one 802.1Q tag.",
    AdjustFailed = 17 => "adjust_failed": "Verdict: dropped because the head/tail adjustment failed after the packet had been changed.",
    LpmHit = 18 => "lpm_hit": "Binding found in the short-prefix LPM trie.",
    LinkScope = 19 => "link_scope": "Multicast or link-local destination (Neighbour Discovery and the like): never tunnelled, passed unmodified.",
    NexthopCached = 20 => "nexthop_cached": "Encapsulated packet sent with the daemon's cached next hop of its peer (no FIB lookup).",
    VisitingL2 = 21 => "visiting_l2": "Decapsulated packet sent straight to the visiting node's MAC from its binding's L2 next hop (VISITING_L2; no FIB lookup).",
    DropSourceInvalid = 22 => "drop_source_invalid": "Verdict: dropped IPv6 frame on an access interface with source validation whose source is neither link-local, unspecified, nor in a /64 allowed there (ACCESS_SOURCES), or whose Ethernet source is not the MAC the /64 is tied to.",
    FirstFrameReport = 23 => "first_frame_report": "IPv6 frame on an access interface with first-frame attachment from a MAC not known there (KNOWN_MACS), reported to the daemon (FIRST_FRAMES); not a verdict.",
    FirstFrameReportLost = 24 => "first_frame_report_lost": "First-frame report that found the FIRST_FRAMES ring full; not a verdict.",
    AttachedL2 = 25 => "attached_l2": "Native packet that no binding took, for a /64 whose node is attached here (at a MAAR, one of its own prefixes), sent straight to the node's MAC (VISITING_L2; no FIB lookup, no Neighbour Discovery).",
}

/// Number of counters (the used slots of a [`CounterBlock`]).
#[expect(
    clippy::cast_possible_truncation,
    reason = "a constant: `Counter::ALL` has a few dozen entries, and `try_from` is not const"
)]
pub const COUNTER_COUNT: u32 = Counter::ALL.len() as u32;
