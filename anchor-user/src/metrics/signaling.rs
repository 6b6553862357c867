//! The signaling metrics of the CMD and the MAAR role (`anchor-pmip`'s [`SignalingMetrics`]) as
//! prometheus-client families. Every label set is bounded: role, direction, message type, status
//! code (at most 256), policy and phase; no node or prefix is a label.

use std::{collections::BTreeMap, fmt};

use anchor_pmip::{
    histogram::Histogram,
    signaling_metrics::{MessageType, SignalingMetrics, Way},
};
use prometheus_client::{
    collector::Collector,
    encoding::{DescriptorEncoder, EncodeMetric, MetricEncoder, NoLabelSet},
    metrics::{MetricType, counter::ConstCounter, gauge::ConstGauge},
    registry::Unit,
};

#[derive(Debug)]
pub(super) struct SignalingCollector(pub(super) SignalingMetrics);

/// The messages whose series exist from the start, at zero: PBUs and accepting PBAs both ways.
const ALWAYS: [(Way, MessageType); 4] = [
    (Way::Sent, MessageType::Pbu),
    (Way::Sent, MessageType::Pba { status: 0 }),
    (Way::Received, MessageType::Pbu),
    (Way::Received, MessageType::Pba { status: 0 }),
];

fn counter(
    encoder: &mut DescriptorEncoder,
    name: &str,
    help: &str,
    role: &str,
    value: u64,
) -> fmt::Result {
    let mut family = encoder.encode_descriptor(name, help, None, MetricType::Counter)?;
    ConstCounter::new(value).encode(family.encode_family(&[("role", role)])?)
}

/// A histogram as the daemon's loop last published it.
#[derive(Debug)]
struct ConstHistogram<'a>(&'a Histogram);

impl EncodeMetric for ConstHistogram<'_> {
    fn encode(&self, mut encoder: MetricEncoder) -> fmt::Result {
        encoder.encode_histogram::<NoLabelSet>(
            self.0.sum_seconds(),
            self.0.count(),
            &self.0.buckets(),
            None,
        )
    }

    fn metric_type(&self) -> MetricType {
        MetricType::Histogram
    }
}

/// `NAME_seconds`, a histogram with the `role` label.
fn histogram(
    encoder: &mut DescriptorEncoder,
    name: &str,
    help: &str,
    role: &str,
    value: &Histogram,
) -> fmt::Result {
    let mut family =
        encoder.encode_descriptor(name, help, Some(&Unit::Seconds), MetricType::Histogram)?;
    ConstHistogram(value).encode(family.encode_family(&[("role", role)])?)
}

/// The latency histograms of `m`, for `role`.
fn latencies(encoder: &mut DescriptorEncoder, m: &SignalingMetrics, role: &str) -> fmt::Result {
    histogram(
        encoder,
        "anchor_signaling_pbu_to_pba",
        "From a PBU's first sending to its PBA, retransmissions included (MAAR: its registrations, refreshes and releases; CMD: its updates to MAARs)",
        role,
        &m.pbu_to_pba,
    )?;
    if let Some(h) = &m.attachment_to_binding {
        histogram(
            encoder,
            "anchor_attachment_to_binding",
            "From a node's attachment to the PBA of its registration, with which its routes and bindings are installed",
            role,
            h,
        )?;
    }
    if let Some(h) = &m.store_write {
        histogram(
            encoder,
            "anchor_store_write",
            "The CMD's store writes: the snapshot serialized, written, synced and renamed",
            role,
            h,
        )?;
    }
    Ok(())
}

impl Collector for SignalingCollector {
    fn encode(&self, mut encoder: DescriptorEncoder) -> fmt::Result {
        let m = &self.0;
        let role = m.role.name();

        let mut messages: BTreeMap<(Way, MessageType), u64> =
            ALWAYS.iter().map(|&key| (key, 0)).collect();
        for (way, kind, n) in m.messages.iter() {
            messages.insert((way, kind), n);
        }
        let mut family = encoder.encode_descriptor(
            "anchor_signaling_messages",
            "Mobility Header messages sent and received (decoded), by type and, for PBAs, status code",
            None,
            MetricType::Counter,
        )?;
        for ((way, kind), n) in messages {
            let status;
            let mut labels = vec![
                ("role", role),
                ("direction", way.name()),
                ("type", kind.name()),
            ];
            if let MessageType::Pba { status: code } = kind {
                status = code.to_string();
                labels.push(("status", status.as_str()));
            }
            ConstCounter::new(n).encode(family.encode_family(&labels)?)?;
        }

        counter(
            &mut encoder,
            "anchor_signaling_retransmissions",
            "PBUs sent again for want of a PBA (RFC 6275 back-off)",
            role,
            m.retransmissions,
        )?;
        counter(
            &mut encoder,
            "anchor_signaling_given_up",
            "PBUs given up on after MAX_BINDACK_TIMEOUT without a PBA",
            role,
            m.gave_up,
        )?;
        counter(
            &mut encoder,
            "anchor_signaling_dropped",
            "Mobility Headers dropped unanswered: malformed, or a PBA nothing waits for",
            role,
            m.dropped,
        )?;
        if let Some(n) = m.idle_released {
            counter(
                &mut encoder,
                "anchor_idle_releases",
                "Redirects released after their idle time, with the CMD's consent",
                role,
                n,
            )?;
        }
        if let Some(n) = m.router_advertisements {
            counter(
                &mut encoder,
                "anchor_router_advertisements",
                "Router Advertisements sent on the access links",
                role,
                n,
            )?;
        }

        let mut family = encoder.encode_descriptor(
            "anchor_signaling_nodes",
            "Mobile nodes, by phase (MAAR: served here; CMD: records)",
            None,
            MetricType::Gauge,
        )?;
        for (phase, n) in &m.nodes {
            ConstGauge::new(*n)
                .encode(family.encode_family(&[("role", role), ("phase", phase)])?)?;
        }
        let mut family = encoder.encode_descriptor(
            "anchor_signaling_prefixes",
            "Mobile nodes' prefixes, by policy and phase (MAAR: served, anchored; CMD: local, redirected)",
            None,
            MetricType::Gauge,
        )?;
        for ((policy, phase), n) in &m.prefixes {
            let labels = [("role", role), ("policy", policy), ("phase", phase)];
            ConstGauge::new(*n).encode(family.encode_family(&labels)?)?;
        }
        if let Some(n) = m.updates_outstanding {
            let mut family = encoder.encode_descriptor(
                "anchor_signaling_updates_outstanding",
                "Updates sent to previous MAARs and subscribers that wait for their PBA",
                None,
                MetricType::Gauge,
            )?;
            ConstGauge::new(n).encode(family.encode_family(&[("role", role)])?)?;
        }

        if let Some(l) = &m.leadership {
            leadership(&mut encoder, l, role)?;
        }
        latencies(&mut encoder, m, role)
    }
}

/// A CMD's leadership among the instances sharing its etcd.
fn leadership(
    encoder: &mut DescriptorEncoder,
    l: &anchor_pmip::signaling_metrics::Leadership,
    role: &str,
) -> std::fmt::Result {
    let mut family = encoder.encode_descriptor(
        "anchor_cmd_leader",
        "1 while this CMD instance leads (answers), 0 while it stands by",
        None,
        MetricType::Gauge,
    )?;
    ConstGauge::new(u64::from(l.leader)).encode(family.encode_family(&[("role", role)])?)?;
    for (name, help, n) in [
        (
            "anchor_cmd_leadership_terms",
            "Terms this instance began as the leader",
            l.terms,
        ),
        (
            "anchor_cmd_leadership_lost",
            "Terms ended other than by shutdown (lease not renewed, etcd unreachable, fenced)",
            l.lost,
        ),
        (
            "anchor_cmd_store_unavailable",
            "Store requests failed for etcd being unreachable or without quorum",
            l.store_unavailable,
        ),
        (
            "anchor_cmd_standby_dropped",
            "Messages received while standing by, not answered",
            l.standby_dropped,
        ),
    ] {
        counter(encoder, name, help, role, n)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use anchor_pmip::{
        Policy,
        signaling_metrics::{MessageCounts, Role},
    };
    use anchor_signal::{Lifetime, MobilityHeader, Pba, PbaFlags, Status};

    use std::time::Duration;

    use super::*;
    use crate::metrics::{Format, encode};

    fn pba(status: u8) -> MobilityHeader {
        MobilityHeader::Pba(Pba {
            status: Status(status),
            flags: PbaFlags::EMPTY,
            sequence: 1,
            lifetime: Lifetime::DEREGISTRATION,
            options: Vec::new(),
        })
    }

    fn lines(metrics: SignalingMetrics) -> Vec<String> {
        encode(None, Some(metrics), Format::Prometheus)
            .expect("encode")
            .lines()
            .filter(|l| !l.starts_with('#'))
            .map(str::to_owned)
            .collect()
    }

    #[test]
    fn the_cmd_shows_messages_by_status_and_its_records() {
        let mut messages = MessageCounts::default();
        messages.count(Way::Sent, &pba(0));
        messages.count(Way::Sent, &pba(154));
        messages.count(Way::Sent, &pba(154));
        let mut metrics =
            SignalingMetrics::new(Role::Cmd, &["registered"], &["local", "redirected"]);
        metrics.messages = messages;
        metrics.retransmissions = 3;
        metrics.gave_up = 1;
        metrics.dropped = 2;
        metrics.updates_outstanding = Some(4);
        metrics.add_node("registered");
        metrics.add_prefix(Policy::SessionLasting, "redirected");
        let build = format!(
            "anchor_build_info{{version=\"{}\"}} 1",
            env!("CARGO_PKG_VERSION")
        );
        let mut expected = vec![
            build.as_str(),
            "anchor_signaling_messages_total{role=\"cmd\",direction=\"sent\",type=\"pbu\"} 0",
            "anchor_signaling_messages_total{role=\"cmd\",direction=\"sent\",type=\"pba\",status=\"0\"} 1",
            "anchor_signaling_messages_total{role=\"cmd\",direction=\"sent\",type=\"pba\",status=\"154\"} 2",
            "anchor_signaling_messages_total{role=\"cmd\",direction=\"received\",type=\"pbu\"} 0",
            "anchor_signaling_messages_total{role=\"cmd\",direction=\"received\",type=\"pba\",status=\"0\"} 0",
            "anchor_signaling_retransmissions_total{role=\"cmd\"} 3",
            "anchor_signaling_given_up_total{role=\"cmd\"} 1",
            "anchor_signaling_dropped_total{role=\"cmd\"} 2",
            "anchor_signaling_nodes{role=\"cmd\",phase=\"registered\"} 1",
        ];
        let prefixes = [
            ("fixed", "local", 0),
            ("fixed", "redirected", 0),
            ("nonpersistent", "local", 0),
            ("nonpersistent", "redirected", 0),
            ("session-lasting", "local", 0),
            ("session-lasting", "redirected", 1),
        ]
        .map(|(policy, phase, n)| {
            format!(
                "anchor_signaling_prefixes{{role=\"cmd\",policy=\"{policy}\",phase=\"{phase}\"}} {n}"
            )
        });
        expected.extend(prefixes.iter().map(String::as_str));
        expected.push("anchor_signaling_updates_outstanding{role=\"cmd\"} 4");
        // The histograms have a test of their own.
        let got: Vec<String> = lines(metrics)
            .into_iter()
            .filter(|l| !l.contains("_seconds"))
            .collect();
        assert_eq!(got, expected);
    }

    #[test]
    fn latencies_are_histograms_in_seconds() {
        let mut metrics = SignalingMetrics::new(Role::Cmd, &[], &[]);
        metrics.pbu_to_pba.observe(Duration::from_millis(3));
        metrics.pbu_to_pba.observe(Duration::from_millis(40));
        let mut writes = Histogram::default();
        writes.observe(Duration::from_micros(400));
        metrics.store_write = Some(writes);
        let lines = lines(metrics);
        let pbu: Vec<&String> = lines
            .iter()
            .filter(|l| l.starts_with("anchor_signaling_pbu_to_pba_seconds"))
            .collect();
        assert_eq!(pbu.len(), 17, "sum, count and 15 buckets: {pbu:#?}");
        for expected in [
            "anchor_signaling_pbu_to_pba_seconds_sum{role=\"cmd\"} 0.043",
            "anchor_signaling_pbu_to_pba_seconds_count{role=\"cmd\"} 2",
            "anchor_signaling_pbu_to_pba_seconds_bucket{role=\"cmd\",le=\"0.0025\"} 0",
            "anchor_signaling_pbu_to_pba_seconds_bucket{role=\"cmd\",le=\"0.005\"} 1",
            "anchor_signaling_pbu_to_pba_seconds_bucket{role=\"cmd\",le=\"0.05\"} 2",
            "anchor_signaling_pbu_to_pba_seconds_bucket{role=\"cmd\",le=\"+Inf\"} 2",
            "anchor_store_write_seconds_count{role=\"cmd\"} 1",
            "anchor_store_write_seconds_bucket{role=\"cmd\",le=\"0.0005\"} 1",
        ] {
            assert!(
                lines.iter().any(|l| l == expected),
                "{expected} in {lines:#?}"
            );
        }
        assert!(
            !lines.iter().any(|l| l.contains("attachment_to_binding")),
            "the CMD has no attachments: {lines:#?}"
        );
    }

    #[test]
    fn a_cmd_on_etcd_shows_its_leadership_and_one_alone_does_not() {
        let alone = lines(SignalingMetrics::new(Role::Cmd, &[], &[]));
        assert!(
            !alone.iter().any(|l| l.starts_with("anchor_cmd_")),
            "{alone:#?}"
        );
        let mut metrics = SignalingMetrics::new(Role::Cmd, &[], &[]);
        metrics.leadership = Some(anchor_pmip::signaling_metrics::Leadership {
            leader: true,
            terms: 2,
            lost: 1,
            store_unavailable: 3,
            standby_dropped: 4,
        });
        let lines = lines(metrics);
        for expected in [
            "anchor_cmd_leader{role=\"cmd\"} 1",
            "anchor_cmd_leadership_terms_total{role=\"cmd\"} 2",
            "anchor_cmd_leadership_lost_total{role=\"cmd\"} 1",
            "anchor_cmd_store_unavailable_total{role=\"cmd\"} 3",
            "anchor_cmd_standby_dropped_total{role=\"cmd\"} 4",
        ] {
            assert!(
                lines.iter().any(|l| l == expected),
                "{expected} in {lines:#?}"
            );
        }
    }

    #[test]
    fn the_maar_shows_idle_releases_and_advertisements() {
        let mut metrics = SignalingMetrics::new(Role::Maar, &["registered"], &["served"]);
        metrics.idle_released = Some(5);
        metrics.router_advertisements = Some(6);
        let lines = lines(metrics);
        for expected in [
            "anchor_idle_releases_total{role=\"maar\"} 5",
            "anchor_router_advertisements_total{role=\"maar\"} 6",
            "anchor_signaling_prefixes{role=\"maar\",policy=\"fixed\",phase=\"served\"} 0",
        ] {
            assert!(
                lines.iter().any(|l| l == expected),
                "{expected} in {lines:#?}"
            );
        }
        assert!(
            !lines.iter().any(|l| l.contains("updates_outstanding")),
            "{lines:#?}"
        );
    }
}
