//! A [`MetricsSource`] without BPF, for the unit tests.

use std::collections::{BTreeMap, HashMap};

use anchor_common::{BindingStats, Counter, CounterValue};
use ipnet::Ipv6Net;

use super::source::MetricsSource;
use crate::{
    binding_table::{TableBinding, TableBindingKind},
    datapath::DatapathError,
};

#[derive(Default)]
pub(super) struct FakeSource {
    /// By [`Counter::name`]; the others are zero.
    pub(super) counters: HashMap<&'static str, CounterValue>,
    pub(super) bindings: BTreeMap<Ipv6Net, TableBinding>,
    pub(super) stats: HashMap<u32, BindingStats>,
    /// Every read fails.
    pub(super) broken: bool,
}

impl FakeSource {
    /// Adds a redirect binding (`visiting`: a visiting one) with the next slot.
    pub(super) fn add(&mut self, prefix: &str, visiting: bool) {
        let prefix: Ipv6Net = prefix.parse().expect("prefix");
        let peer = "2001:db8:ff::2".parse().expect("address");
        let kind = if visiting {
            TableBindingKind::Visiting {
                home: peer,
                reverse_tunnel: true,
                dev: None,
                mac: None,
            }
        } else {
            TableBindingKind::Redirect { serving: peer }
        };
        let slot = u32::try_from(self.bindings.len()).expect("few bindings") + 100;
        self.bindings
            .insert(prefix, TableBinding { prefix, kind, slot });
    }

    pub(super) fn remove(&mut self, prefix: &str) {
        self.bindings
            .remove(&prefix.parse().expect("prefix"))
            .expect("binding");
    }

    fn fail(&self) -> Result<(), DatapathError> {
        if self.broken {
            return Err(DatapathError::MissingMap { name: "COUNTERS" });
        }
        Ok(())
    }
}

impl MetricsSource for FakeSource {
    fn counters(&self) -> Result<Vec<(Counter, CounterValue)>, DatapathError> {
        self.fail()?;
        Ok(Counter::ALL
            .iter()
            .map(|&c| (c, self.counters.get(c.name()).copied().unwrap_or_default()))
            .collect())
    }
    fn bindings(&self) -> impl Iterator<Item = &TableBinding> {
        self.bindings.values()
    }
    fn binding(&self, prefix: Ipv6Net) -> Option<&TableBinding> {
        self.bindings.get(&prefix)
    }
    fn binding_stats(&self, slot: u32) -> Result<BindingStats, DatapathError> {
        self.fail()?;
        Ok(self.stats.get(&slot).copied().unwrap_or_default())
    }
}
