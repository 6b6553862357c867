//! What one scrape saw: [`Snapshot`], with the maps' [`Capacity`].

use anchor_common::{BindingStats, Counter, CounterValue};
use ipnet::Ipv6Net;

use super::{error::MetricsError, select::BindingSelector, source::MetricsSource};
use crate::{binding_table::TableBindingKind, datapath::DenseLayout, prefix::MAX_PREFIX_LEN};

/// Capacities of the maps, as loaded.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Capacity {
    /// The `/64` hash map (`max_bindings`).
    pub bindings: u32,
    /// The LPM trie of shorter prefixes.
    pub short_prefixes: u32,
    /// The per-binding statistics array (`max_bindings`).
    pub binding_stats: u32,
    /// The pools' dense table: which /64s have their binding there, and its slots.
    pub dense: DenseLayout,
}

impl Capacity {
    /// The capacities `anchor run` loads the maps with for `max_bindings`, without pools.
    pub fn for_max_bindings(max_bindings: u32) -> Self {
        Self::new(max_bindings, DenseLayout::default())
    }

    /// The capacities `anchor run` loads the maps with for `max_bindings` and the pools of
    /// `dense`.
    pub fn new(max_bindings: u32, dense: DenseLayout) -> Self {
        Self {
            bindings: max_bindings,
            short_prefixes: anchor_common::config::DEFAULT_MAX_SHORT_PREFIXES,
            binding_stats: max_bindings,
            dense,
        }
    }
}

/// A binding with series of its own.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ExportedBinding {
    pub prefix: Ipv6Net,
    pub stats: BindingStats,
}

/// What one scrape saw.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Snapshot {
    /// Every global counter, in [`Counter::ALL`] order.
    pub counters: Vec<(Counter, CounterValue)>,
    pub redirect_bindings: u64,
    pub visiting_bindings: u64,
    /// Bindings of a `/64` outside the pools: entries of the hash map.
    pub hash_entries: u64,
    /// Bindings of a `/64` of a pool: slots of the dense table in use.
    pub dense_entries: u64,
    /// Bindings of a shorter prefix: entries of the LPM trie.
    pub trie_entries: u64,
    pub capacity: Capacity,
    /// The bindings the selector chose, ordered by prefix.
    pub exported: Vec<ExportedBinding>,
    /// The bindings without series of their own.
    pub not_exported: u64,
}

impl Snapshot {
    /// Reads everything a scrape shows: the counters, the bindings, and the statistics of the
    /// bindings `selector` exports (one map read each: the cost is bounded by its maximum).
    pub fn read<S: MetricsSource>(
        source: &S,
        selector: &mut BindingSelector,
        capacity: Capacity,
    ) -> Result<Self, MetricsError> {
        let counters = source.counters().map_err(MetricsError::Read)?;
        let (mut redirect_bindings, mut visiting_bindings) = (0, 0);
        let (mut hash_entries, mut trie_entries, mut dense_entries) = (0, 0, 0);
        for binding in source.bindings() {
            match binding.kind {
                TableBindingKind::Redirect { .. } => redirect_bindings += 1,
                TableBindingKind::Visiting { .. } => visiting_bindings += 1,
            }
            if capacity.dense.index_of(binding.prefix).is_some() {
                dense_entries += 1;
            } else if binding.prefix.prefix_len() == MAX_PREFIX_LEN {
                hash_entries += 1;
            } else {
                trie_entries += 1;
            }
        }
        let exported = selector
            .select(source)
            .into_iter()
            .map(|binding| {
                source
                    .binding_stats(binding.slot)
                    .map(|stats| ExportedBinding {
                        prefix: binding.prefix,
                        stats,
                    })
                    .map_err(MetricsError::Read)
            })
            .collect::<Result<Vec<_>, _>>()?;
        let total = redirect_bindings + visiting_bindings;
        Ok(Self {
            counters,
            redirect_bindings,
            visiting_bindings,
            hash_entries,
            dense_entries,
            trie_entries,
            capacity,
            not_exported: total - exported.len() as u64,
            exported,
        })
    }
}
