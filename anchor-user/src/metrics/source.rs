//! What a scrape reads: [`MetricsSource`].

use anchor_common::{BindingStats, Counter, CounterValue};
use ipnet::Ipv6Net;

use crate::{
    binding_table::{BindingTable, DatapathPort, TableBinding},
    datapath::DatapathError,
    routing::Routes,
};

/// What the metrics are read from at scrape time: the binding table (the source of truth, whose
/// projection the maps are) and the maps' counters. Implemented by [`BindingTable`]; tests use a
/// fake.
pub trait MetricsSource {
    /// Every global counter, summed over the CPUs.
    fn counters(&self) -> Result<Vec<(Counter, CounterValue)>, DatapathError>;
    /// The bindings, ordered by prefix.
    fn bindings(&self) -> impl Iterator<Item = &TableBinding>;
    /// The binding for exactly `prefix`.
    fn binding(&self, prefix: Ipv6Net) -> Option<&TableBinding>;
    /// The counters of a binding's statistics slot, summed over the CPUs.
    fn binding_stats(&self, slot: u32) -> Result<BindingStats, DatapathError>;
}

impl<D: DatapathPort, R: Routes> MetricsSource for BindingTable<D, R> {
    fn counters(&self) -> Result<Vec<(Counter, CounterValue)>, DatapathError> {
        self.datapath().counters()
    }
    fn bindings(&self) -> impl Iterator<Item = &TableBinding> {
        BindingTable::bindings(self)
    }
    fn binding(&self, prefix: Ipv6Net) -> Option<&TableBinding> {
        self.get(prefix)
    }
    fn binding_stats(&self, slot: u32) -> Result<BindingStats, DatapathError> {
        self.datapath().binding_stats(slot)
    }
}
