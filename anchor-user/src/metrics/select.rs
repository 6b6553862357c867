//! Which bindings get series of their own: at most `metrics_binding_labels_max`, so that a
//! million bindings cannot explode the number of series.
//!
//! A binding keeps its series for as long as it exists: membership changes only when an exported
//! binding is deleted, and its place goes to the first bindings without series, in prefix order.
//! Choosing by traffic instead would move bindings in and out between scrapes, and a counter that
//! comes and goes is useless for `rate()`.

use std::collections::BTreeSet;

use ipnet::Ipv6Net;

use super::source::MetricsSource;
use crate::binding_table::TableBinding;

#[derive(Debug)]
pub struct BindingSelector {
    max: usize,
    chosen: BTreeSet<Ipv6Net>,
}

impl BindingSelector {
    /// A selector that exports at most `max` bindings (0: none).
    pub fn new(max: u32) -> Self {
        Self {
            max: usize::try_from(max).unwrap_or(usize::MAX),
            chosen: BTreeSet::new(),
        }
    }

    /// Forgets the deleted bindings, fills the free places, and returns the exported bindings
    /// ordered by prefix.
    pub fn select<'s, S: MetricsSource>(&mut self, source: &'s S) -> Vec<&'s TableBinding> {
        self.chosen
            .retain(|prefix| source.binding(*prefix).is_some());
        if self.chosen.len() < self.max {
            let free = self.max - self.chosen.len();
            let newcomers: Vec<Ipv6Net> = source
                .bindings()
                .map(|binding| binding.prefix)
                .filter(|prefix| !self.chosen.contains(prefix))
                .take(free)
                .collect();
            self.chosen.extend(newcomers);
        }
        self.chosen
            .iter()
            .filter_map(|prefix| source.binding(*prefix))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::fake::FakeSource;

    fn chosen(selector: &mut BindingSelector, source: &FakeSource) -> Vec<String> {
        selector
            .select(source)
            .iter()
            .map(|b| b.prefix.to_string())
            .collect()
    }

    #[test]
    fn a_binding_keeps_its_series_until_deleted() {
        let mut source = FakeSource::default();
        for p in ["2001:db8:3::/64", "2001:db8:1::/64", "2001:db8:2::/64"] {
            source.add(p, false);
        }
        let mut selector = BindingSelector::new(2);
        assert_eq!(
            chosen(&mut selector, &source),
            ["2001:db8:1::/64", "2001:db8:2::/64"]
        );
        // A binding that sorts first does not push out those already chosen.
        source.add("2001:db8::/64", false);
        assert_eq!(
            chosen(&mut selector, &source),
            ["2001:db8:1::/64", "2001:db8:2::/64"]
        );
        // A deleted binding's place goes to the first binding without series.
        source.remove("2001:db8:1::/64");
        assert_eq!(
            chosen(&mut selector, &source),
            ["2001:db8::/64", "2001:db8:2::/64"]
        );
    }

    #[test]
    fn zero_exports_none() {
        let mut source = FakeSource::default();
        source.add("2001:db8:1::/64", false);
        assert!(BindingSelector::new(0).select(&source).is_empty());
    }
}
