//! Global and per-binding counters.

use anchor_common::{Counter, CounterBlock, Direction, counter::COUNTER_SLOTS};

use crate::{
    lookup::Binding,
    maps::{BINDING_STATS, COUNTERS},
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

    /// Counts one frame of `bytes` bytes in the counter `verdict` carries, a value the program
    /// computed: its slot is masked into the block, which the verifier checks.
    #[inline(always)]
    pub fn count_verdict(self, verdict: Counter, bytes: usize) {
        self.add(opaque_slot(verdict as u32) & (COUNTER_SLOTS - 1), bytes);
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

/// `slot`, through a stack word the verifier cannot read back as a number: half of it written
/// with `slot`, then read whole. The verifier then takes the result as any number (which the
/// caller's mask bounds), not as the constant each path computed: were it that constant, the
/// slot's use in a pointer would make the verifier compare it exactly, and every register and
/// stack slot it came through, between the states it reaches, so that it could prune fewer
/// paths of different verdicts together (650k instructions walked instead of 603k).
#[inline(always)]
fn opaque_slot(slot: u32) -> usize {
    let mut word = 0u64;
    let at = (&raw mut word).cast::<u32>();
    // SAFETY: volatile accesses of a local: the compiler keeps them as they are.
    unsafe {
        core::ptr::write_volatile(&raw mut word, 0);
        core::ptr::write_volatile(at, slot);
        core::ptr::read_volatile(&raw const word) as usize
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
