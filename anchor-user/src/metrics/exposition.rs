//! A [`Snapshot`] as exposition text, written by prometheus-client: OpenMetrics for the clients
//! that ask for it (Prometheus does), the Prometheus text format 0.0.4 otherwise.

use std::fmt;

use anchor_common::{BindingStats, Direction};
use prometheus_client::{
    collector::Collector,
    encoding::{DescriptorEncoder, EncodeMetric as _, prometheus_text, text},
    metrics::{MetricType, counter::ConstCounter, gauge::ConstGauge, info::Info},
    registry::{Registry, Unit},
};

use anchor_pmip::signaling_metrics::SignalingMetrics;

use super::{signaling::SignalingCollector, snapshot::Snapshot};

/// An exposition format.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// The Prometheus text format, version 0.0.4 (what `promtool check metrics` reads).
    Prometheus,
    /// OpenMetrics 1.0 text.
    OpenMetrics,
}

impl Format {
    /// OpenMetrics when the `Accept` header lists it, else the Prometheus text format.
    pub fn from_accept(accept: Option<&str>) -> Self {
        match accept {
            Some(accept) if accept.contains("application/openmetrics-text") => Self::OpenMetrics,
            _ => Self::Prometheus,
        }
    }

    pub fn content_type(self) -> &'static str {
        match self {
            Self::Prometheus => prometheus_text::CONTENT_TYPE,
            Self::OpenMetrics => "application/openmetrics-text; version=1.0.0; charset=utf-8",
        }
    }
}

/// `anchor_build_info`, the metrics of `snapshot` (the XDP program's maps, `anchor run`) and of
/// `signaling` (the CMD, or the MAAR role), in `format`.
pub fn encode(
    snapshot: Option<Snapshot>,
    signaling: Option<SignalingMetrics>,
    format: Format,
) -> Result<String, fmt::Error> {
    let mut registry = Registry::default();
    registry.register(
        "anchor_build",
        "Version of the running anchor daemon",
        Info::new(vec![("version", env!("CARGO_PKG_VERSION"))]),
    );
    if let Some(snapshot) = snapshot {
        registry.register_collector(Box::new(SnapshotCollector(snapshot)));
    }
    if let Some(signaling) = signaling {
        registry.register_collector(Box::new(SignalingCollector(signaling)));
    }
    let mut out = String::new();
    match format {
        Format::Prometheus => prometheus_text::encode(&mut out, &registry)?,
        Format::OpenMetrics => text::encode(&mut out, &registry)?,
    }
    Ok(out)
}

#[derive(Debug)]
struct SnapshotCollector(Snapshot);

const DIRECTIONS: [(Direction, &str); 2] =
    [(Direction::ToMn, "to_mn"), (Direction::FromMn, "from_mn")];

impl Collector for SnapshotCollector {
    fn encode(&self, mut encoder: DescriptorEncoder) -> fmt::Result {
        let s = &self.0;
        let mut family = encoder.encode_descriptor(
            "anchor_packets",
            "Packets the XDP program counted, by reason (the counters of `anchor stats`), summed over CPUs",
            None,
            MetricType::Counter,
        )?;
        for (counter, value) in &s.counters {
            let labels = [("reason", counter.name())];
            ConstCounter::new(value.packets).encode(family.encode_family(&labels)?)?;
        }
        let mut family = encoder.encode_descriptor(
            "anchor",
            "Bytes of the packets the XDP program counted, by reason, summed over CPUs",
            Some(&Unit::Bytes),
            MetricType::Counter,
        )?;
        for (counter, value) in &s.counters {
            let labels = [("reason", counter.name())];
            ConstCounter::new(value.bytes).encode(family.encode_family(&labels)?)?;
        }

        for (name, help, unit, per_direction) in [
            (
                "anchor_binding_packets",
                "Packets tunnelled for a binding, by direction (at most metrics_binding_labels_max bindings)",
                None,
                (|stats| stats.packets) as fn(&BindingStats) -> [u64; 2],
            ),
            (
                "anchor_binding",
                "Bytes of the inner packets tunnelled for a binding, by direction (at most metrics_binding_labels_max bindings)",
                Some(&Unit::Bytes),
                |stats| stats.bytes,
            ),
        ] {
            let mut family = encoder.encode_descriptor(name, help, unit, MetricType::Counter)?;
            for binding in &s.exported {
                let prefix = binding.prefix.to_string();
                let values = per_direction(&binding.stats);
                for (direction, name) in DIRECTIONS {
                    let labels = [("prefix", prefix.as_str()), ("direction", name)];
                    ConstCounter::new(values[direction as usize])
                        .encode(family.encode_family(&labels)?)?;
                }
            }
        }

        let mut family = encoder.encode_descriptor(
            "anchor_bindings",
            "Bindings, by kind",
            None,
            MetricType::Gauge,
        )?;
        for (kind, value) in [
            ("redirect", s.redirect_bindings),
            ("visiting", s.visiting_bindings),
        ] {
            let labels = [("kind", kind)];
            ConstGauge::new(value).encode(family.encode_family(&labels)?)?;
        }
        let family = encoder.encode_descriptor(
            "anchor_bindings_not_exported",
            "Bindings without series of their own, beyond metrics_binding_labels_max",
            None,
            MetricType::Gauge,
        )?;
        ConstGauge::new(s.not_exported).encode(family)?;

        let mut maps = vec![
            ("bindings", s.hash_entries, s.capacity.bindings),
            ("short_prefixes", s.trie_entries, s.capacity.short_prefixes),
            (
                "binding_stats",
                s.redirect_bindings + s.visiting_bindings,
                s.capacity.binding_stats,
            ),
        ];
        // Only a router with pools has a dense table worth its series.
        if s.capacity.dense.pools().next().is_some() {
            maps.push(("dense", s.dense_entries, s.capacity.dense.slots()));
        }
        let mut family = encoder.encode_descriptor(
            "anchor_map_entries",
            "Entries in use in a map of the XDP program",
            None,
            MetricType::Gauge,
        )?;
        for &(map, entries, _) in &maps {
            let labels = [("map", map)];
            ConstGauge::new(entries).encode(family.encode_family(&labels)?)?;
        }
        let mut family = encoder.encode_descriptor(
            "anchor_map_max_entries",
            "Capacity of a map of the XDP program, in entries",
            None,
            MetricType::Gauge,
        )?;
        for &(map, _, capacity) in &maps {
            let labels = [("map", map)];
            ConstGauge::new(capacity).encode(family.encode_family(&labels)?)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use anchor_common::{BindingStats, Counter, CounterValue};

    use super::*;
    use crate::metrics::{BindingSelector, Capacity, fake::FakeSource};

    fn source() -> FakeSource {
        let mut source = FakeSource::default();
        source.counters.insert(
            "encap",
            CounterValue {
                packets: 7,
                bytes: 700,
            },
        );
        source.counters.insert(
            "rx",
            CounterValue {
                packets: 9,
                bytes: 900,
            },
        );
        source.add("2001:db8:1:1::/64", false);
        source.add("2001:db8:2::/48", true);
        source.add("2001:db8:3:3::/64", true);
        let slot = source.bindings.values().next().expect("binding").slot;
        source.stats.insert(
            slot,
            BindingStats {
                packets: [5, 2],
                bytes: [500, 200],
            },
        );
        source
    }

    fn exposition(labels_max: u32, format: Format) -> String {
        let mut selector = BindingSelector::new(labels_max);
        let snapshot = Snapshot::read(&source(), &mut selector, Capacity::for_max_bindings(1024))
            .expect("read");
        encode(Some(snapshot), None, format).expect("encode")
    }

    #[test]
    fn a_router_with_pools_shows_its_dense_table() {
        let mut selector = BindingSelector::new(0);
        let pools = crate::datapath::DenseLayout::new(&["2001:db8:1::/48".parse().expect("pool")]);
        let snapshot =
            Snapshot::read(&source(), &mut selector, Capacity::new(1024, pools)).expect("read");
        let text = encode(Some(snapshot), None, Format::Prometheus).expect("encode");
        let lines: Vec<&str> = text.lines().collect();
        for expected in [
            "anchor_map_entries{map=\"bindings\"} 1",
            "anchor_map_entries{map=\"dense\"} 1",
            "anchor_map_max_entries{map=\"dense\"} 65536",
            "anchor_map_entries{map=\"binding_stats\"} 3",
        ] {
            assert!(lines.contains(&expected), "missing {expected:?} in\n{text}");
        }
        let plain = exposition(2, Format::Prometheus);
        assert!(!plain.contains("map=\"dense\""), "{plain}");
    }

    #[test]
    fn prometheus_text_has_every_metric() {
        let text = exposition(2, Format::Prometheus);
        let lines: Vec<&str> = text.lines().collect();
        for expected in [
            "# TYPE anchor_packets_total counter",
            "anchor_packets_total{reason=\"encap\"} 7",
            "anchor_packets_total{reason=\"rx\"} 9",
            "anchor_packets_total{reason=\"link_scope\"} 0",
            "# TYPE anchor_bytes_total counter",
            "anchor_bytes_total{reason=\"encap\"} 700",
            "anchor_binding_packets_total{prefix=\"2001:db8:1:1::/64\",direction=\"to_mn\"} 5",
            "anchor_binding_packets_total{prefix=\"2001:db8:1:1::/64\",direction=\"from_mn\"} 2",
            "anchor_binding_bytes_total{prefix=\"2001:db8:1:1::/64\",direction=\"to_mn\"} 500",
            "anchor_binding_bytes_total{prefix=\"2001:db8:2::/48\",direction=\"from_mn\"} 0",
            "# TYPE anchor_bindings gauge",
            "anchor_bindings{kind=\"redirect\"} 1",
            "anchor_bindings{kind=\"visiting\"} 2",
            "anchor_bindings_not_exported 1",
            "anchor_map_entries{map=\"bindings\"} 2",
            "anchor_map_entries{map=\"short_prefixes\"} 1",
            "anchor_map_entries{map=\"binding_stats\"} 3",
            "anchor_map_max_entries{map=\"bindings\"} 1024",
            "anchor_map_max_entries{map=\"short_prefixes\"} 65536",
            "anchor_map_max_entries{map=\"binding_stats\"} 1024",
            &format!(
                "anchor_build_info{{version=\"{}\"}} 1",
                env!("CARGO_PKG_VERSION")
            ),
        ] {
            assert!(lines.contains(&expected), "missing {expected:?} in\n{text}");
        }
        // Every counter of the program, once per metric.
        let reasons = lines
            .iter()
            .filter(|l| l.starts_with("anchor_packets_total{"))
            .count();
        assert_eq!(reasons, Counter::ALL.len());
        // Two of three bindings have series; the third is only counted.
        assert!(!text.contains("2001:db8:3:3::/64"), "{text}");
        assert!(!text.contains("# EOF"));
        // Every family has a help text.
        for line in lines.iter().filter(|l| l.starts_with("# TYPE ")) {
            let name = line.split_whitespace().nth(2).expect("name");
            assert!(
                lines
                    .iter()
                    .any(|l| l.starts_with(&format!("# HELP {name} "))),
                "no help for {name}"
            );
        }
    }

    #[test]
    fn open_metrics_has_units_and_an_end() {
        let text = exposition(0, Format::OpenMetrics);
        assert!(text.ends_with("# EOF\n"), "{text}");
        assert!(text.contains("# TYPE anchor_packets counter\n"), "{text}");
        assert!(text.contains("# UNIT anchor_bytes bytes\n"), "{text}");
        assert!(
            text.contains("anchor_bytes_total{reason=\"encap\"} 700\n"),
            "{text}"
        );
        assert!(text.contains("anchor_bindings_not_exported 3\n"), "{text}");
        assert!(text.contains("# TYPE anchor_build info\n"), "{text}");
        assert!(!text.contains("anchor_binding_packets_total{"), "{text}");
    }

    #[test]
    fn format_follows_the_accept_header() {
        assert_eq!(Format::from_accept(None), Format::Prometheus);
        assert_eq!(Format::from_accept(Some("text/plain")), Format::Prometheus);
        let prometheus = "application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1";
        assert_eq!(Format::from_accept(Some(prometheus)), Format::OpenMetrics);
        assert!(
            Format::Prometheus
                .content_type()
                .starts_with("text/plain; version=0.0.4")
        );
    }

    #[test]
    fn a_failed_read_is_an_error_not_zeroes() {
        let mut broken = source();
        broken.broken = true;
        let result = Snapshot::read(
            &broken,
            &mut BindingSelector::new(10),
            Capacity::for_max_bindings(1),
        );
        assert!(matches!(result, Err(crate::metrics::MetricsError::Read(_))));
    }
}
