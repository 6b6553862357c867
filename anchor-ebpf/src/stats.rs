//! Global and per-binding counters.

use anchor_common::{Counter, CounterBlock, Direction, counter::COUNTER_SLOTS};

use crate::{
    lookup::Binding,
    maps::{BINDING_STATS, COUNTERS},
    opaque::opaque,
};

/// This CPU's counters (`COUNTERS`' one value), looked up once per frame: a count on the paths
/// every frame or every forwarded frame takes is then a load and a store at a fixed offset.
#[derive(Clone, Copy)]
pub struct Stats(*mut CounterBlock);

impl Stats {
    /// This CPU's block; `None` only if the map had no entry 0, which an array always has.
    #[inline(always)]
    pub fn get() -> Option<Self> {
        COUNTERS.get_ptr_mut(0).map(Self)
    }

    /// Counts one frame of `bytes` bytes in `counter`.
    #[inline(always)]
    pub fn count(self, counter: Counter, bytes: usize) {
        self.add(counter as usize, bytes);
    }

    /// Counts one frame of `bytes` bytes in the counter `verdict` carries, a value each path
    /// sets: its slot is masked into the block, which the verifier checks. The slot is
    /// [`opaque`] to the verifier, which otherwise walks more of the program (650k instructions
    /// instead of 603k, loaded with the object's defaults).
    #[inline(always)]
    pub fn count_verdict(self, verdict: Counter, bytes: usize) {
        self.add(opaque(verdict as u32) as usize & (COUNTER_SLOTS - 1), bytes);
    }

    #[inline(always)]
    fn add(self, slot: usize, bytes: usize) {
        // SAFETY: `self.0` is this CPU's map value, and `slot` is below `COUNTER_SLOTS`; no
        // other writer on this CPU while the program runs.
        unsafe {
            let value = (&raw mut (*self.0).slots)
                .cast::<anchor_common::CounterValue>()
                .add(slot);
            (*value).packets += 1;
            (*value).bytes += bytes as u64;
        }
    }
}

/// Counts one frame of `bytes` bytes in `counter` where no [`Stats`] is at hand (the rare paths
/// of the parser's helpers, the trie, the headroom and Packet Too Big), with a lookup of its
/// own.
#[inline(always)]
pub fn count(counter: Counter, bytes: usize) {
    if let Some(stats) = Stats::get() {
        stats.count(counter, bytes);
    }
}

#[inline(always)]
pub fn count_binding(binding: &Binding, dir: Direction, bytes: u32) {
    if let Some(s) = BINDING_STATS.get_ptr_mut(binding.stats_slot) {
        let d = dir as usize & 1;
        // SAFETY: per-CPU slot, no concurrent writer on this CPU.
        unsafe {
            (*s).packets[d] += 1;
            (*s).bytes[d] += u64::from(bytes);
        }
    }
}
