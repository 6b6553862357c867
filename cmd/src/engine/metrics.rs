//! What the CMD shows on `/metrics`: its counters, the records and their prefixes by policy,
//! and the updates waiting for their PBA.

use anchor_pmip::signaling_metrics::{MessageCounts, Role, SignalingMetrics};

use super::Engine;
use crate::{counters::Counters, store::MobilityStore};

/// The CMD's phases of a node's prefix: anchored at its serving MAAR, or at another one.
const PREFIX_PHASES: [&str; 2] = ["local", "redirected"];

impl<S: MobilityStore> Engine<S> {
    /// The metrics as of now, with `messages`, the socket's counts.
    pub fn signaling_metrics(&self, messages: MessageCounts) -> SignalingMetrics {
        let mut metrics = counted(&self.counters, messages);
        metrics.updates_outstanding = Some(self.in_flight() as u64);
        for record in self.store.records() {
            metrics.add_node("registered");
            for prefix in &record.prefixes {
                let phase = if prefix.anchor == record.serving {
                    PREFIX_PHASES[0]
                } else {
                    PREFIX_PHASES[1]
                };
                metrics.add_prefix(prefix.policy, phase);
            }
        }
        metrics
    }
}

/// The metrics of an instance standing by (no records of its own): its counts so far.
pub fn standby_metrics(counters: &Counters, messages: MessageCounts) -> SignalingMetrics {
    let mut metrics = counted(counters, messages);
    metrics.updates_outstanding = Some(0);
    metrics
}

/// The metrics that come from the counters.
fn counted(counters: &Counters, messages: MessageCounts) -> SignalingMetrics {
    let mut metrics = SignalingMetrics::new(Role::Cmd, &["registered"], &PREFIX_PHASES);
    metrics.messages = messages;
    metrics.retransmissions = counters.retransmissions;
    metrics.gave_up = counters.gave_up;
    metrics.dropped = counters.dropped;
    metrics.pbu_to_pba = counters.pbu_to_pba.clone();
    metrics
}
