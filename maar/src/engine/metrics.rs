//! What the MAAR shows on `/metrics`: its counters, the nodes served here by phase and the
//! prefixes served and anchored here by policy.

use anchor_pmip::signaling_metrics::{MessageCounts, Role, SignalingMetrics};

use super::MaarEngine;
use crate::persist::Phase;

const NODE_PHASES: [&str; 3] = ["registering", "registered", "deregistering"];
const PREFIX_PHASES: [&str; 2] = ["served", "anchored"];

fn phase_name(phase: Phase) -> &'static str {
    match phase {
        Phase::Registering => NODE_PHASES[0],
        Phase::Registered => NODE_PHASES[1],
        Phase::Deregistering => NODE_PHASES[2],
    }
}

impl MaarEngine {
    /// The metrics as of now, with `messages`, the socket's counts, and the Router
    /// Advertisements sent.
    pub fn signaling_metrics(
        &self,
        messages: MessageCounts,
        router_advertisements: u64,
    ) -> SignalingMetrics {
        let mut metrics = SignalingMetrics::new(Role::Maar, &NODE_PHASES, &PREFIX_PHASES);
        metrics.messages = messages;
        metrics.retransmissions = self.counters.retransmissions;
        metrics.gave_up = self.counters.gave_up;
        metrics.dropped = self.counters.dropped;
        metrics.idle_released = Some(self.counters.idle_released);
        metrics.pbu_to_pba = self.counters.pbu_to_pba.clone();
        metrics.attachment_to_binding = Some(self.counters.attachment_to_binding.clone());
        metrics.router_advertisements = Some(router_advertisements);
        for served in self.served.values() {
            metrics.add_node(phase_name(served.phase));
            metrics.add_prefix(served.policy, PREFIX_PHASES[0]);
        }
        for anchored in self.anchored.values() {
            metrics.add_prefix(anchored.policy, PREFIX_PHASES[1]);
        }
        metrics
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_phase_has_a_name() {
        assert_eq!(
            [Phase::Registering, Phase::Registered, Phase::Deregistering].map(phase_name),
            NODE_PHASES
        );
    }
}
