//! Global and per-binding counters.

use anchor_common::{Counter, Direction};

use crate::{
    lookup::Binding,
    maps::{BINDING_STATS, COUNTERS},
};

#[inline(always)]
pub fn count(counter: Counter, bytes: usize) {
    if let Some(c) = COUNTERS.get_ptr_mut(counter as u32) {
        // SAFETY: per-CPU slot, no concurrent writer on this CPU.
        unsafe {
            (*c).packets += 1;
            (*c).bytes += bytes as u64;
        }
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
