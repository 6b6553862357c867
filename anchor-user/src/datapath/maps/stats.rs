//! The statistics in the maps: the global counters and the per-binding statistics.

use anchor_common::{
    BindingStats, Counter, CounterValue,
    maps::{BINDING_STATS, COUNTERS},
};
use aya::maps::PerCpuValues;

use super::{map_error::map_error, program_maps::ProgramMaps};
use crate::datapath::error::DatapathError;

impl ProgramMaps {
    /// Every global counter, in [`Counter::ALL`] order, summed over the CPUs.
    pub fn counters(&self) -> Result<Vec<(Counter, CounterValue)>, DatapathError> {
        let per_cpu = self
            .counters
            .get(&0, 0)
            .map_err(map_error("read", COUNTERS))?;
        Ok(Counter::ALL
            .iter()
            .map(|&counter| {
                let total = per_cpu.iter().fold(CounterValue::default(), |sum, block| {
                    let v = block.get(counter);
                    CounterValue {
                        packets: sum.packets.wrapping_add(v.packets),
                        bytes: sum.bytes.wrapping_add(v.bytes),
                    }
                });
                (counter, total)
            })
            .collect())
    }

    /// The statistics of one binding slot, summed over the CPUs.
    pub fn binding_stats(&self, slot: u32) -> Result<BindingStats, DatapathError> {
        self.check_slot(slot)?;
        let per_cpu = self
            .binding_stats
            .get(&slot, 0)
            .map_err(map_error("read", BINDING_STATS))?;
        Ok(per_cpu.iter().fold(BindingStats::default(), |mut sum, v| {
            for d in 0..2 {
                sum.packets[d] = sum.packets[d].wrapping_add(v.packets[d]);
                sum.bytes[d] = sum.bytes[d].wrapping_add(v.bytes[d]);
            }
            sum
        }))
    }

    /// Zeroes a binding slot on every CPU (before the slot is given to a new binding).
    pub fn reset_binding_stats(&mut self, slot: u32) -> Result<(), DatapathError> {
        self.check_slot(slot)?;
        let cpus = aya::util::nr_cpus().map_err(|(_, error)| DatapathError::Cpus(error))?;
        let zeroes = PerCpuValues::try_from(vec![BindingStats::default(); cpus])
            .map_err(DatapathError::Cpus)?;
        self.binding_stats
            .set(slot, zeroes, 0)
            .map_err(map_error("write", BINDING_STATS))
    }
}
