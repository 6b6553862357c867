//! What the signaling roles show on `/metrics`: [`MessageCounts`], the messages a Mobility
//! Header socket sent and received by type and status, and [`SignalingMetrics`], those with the
//! engine's counters and its state, as of the service loop's last turn.

use std::collections::BTreeMap;

use anchor_signal::MobilityHeader;

use crate::{
    histogram::Histogram,
    mobile_node::{Policy, PolicyName},
};

/// Which daemon: the `role` label of every signaling series.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Role {
    #[default]
    Cmd,
    Maar,
}

impl Role {
    pub fn name(self) -> &'static str {
        match self {
            Self::Cmd => "cmd",
            Self::Maar => "maar",
        }
    }
}

/// Sent or received.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Way {
    Sent,
    Received,
}

impl Way {
    pub fn name(self) -> &'static str {
        match self {
            Self::Sent => "sent",
            Self::Received => "received",
        }
    }
}

/// A message's type, and a PBA's status (RFC 5213 status codes: at most 256 values).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum MessageType {
    Pbu,
    Pba { status: u8 },
}

impl MessageType {
    pub fn of(message: &MobilityHeader) -> Self {
        match message {
            MobilityHeader::Pbu(_) => Self::Pbu,
            MobilityHeader::Pba(pba) => Self::Pba {
                status: pba.status.0,
            },
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Self::Pbu => "pbu",
            Self::Pba { .. } => "pba",
        }
    }
}

/// Messages by way, type and status.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct MessageCounts(BTreeMap<(Way, MessageType), u64>);

impl MessageCounts {
    pub fn count(&mut self, way: Way, message: &MobilityHeader) {
        *self.0.entry((way, MessageType::of(message))).or_default() += 1;
    }

    /// Every count, in order (sent before received, PBUs before PBAs, statuses ascending).
    pub fn iter(&self) -> impl Iterator<Item = (Way, MessageType, u64)> + '_ {
        self.0.iter().map(|(&(way, kind), &n)| (way, kind, n))
    }

    pub fn get(&self, way: Way, kind: MessageType) -> u64 {
        self.0.get(&(way, kind)).copied().unwrap_or(0)
    }
}

/// A prefix's (or node's) phase on this daemon, for the `phase` label.
///
/// MAAR: `served` (delegated to a node served here) or `anchored` (anchored here for a node
/// served elsewhere). CMD: `local` (anchored at the node's serving MAAR) or `redirected`
/// (anchored at another MAAR).
pub type Phase = &'static str;

/// What one daemon's signaling shows on `/metrics`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SignalingMetrics {
    pub role: Role,
    pub messages: MessageCounts,
    /// PBUs sent again for want of a PBA.
    pub retransmissions: u64,
    /// PBUs given up on after MAX_BINDACK_TIMEOUT without a PBA.
    pub gave_up: u64,
    /// Messages that did not decode, or that nothing waits for.
    pub dropped: u64,
    /// MAAR: redirects released after their idle time with the CMD's consent.
    pub idle_released: Option<u64>,
    /// MAAR: Router Advertisements sent on the access links.
    pub router_advertisements: Option<u64>,
    /// Nodes by phase (MAAR: `registering`, `registered`, `deregistering`; CMD: `registered`).
    pub nodes: BTreeMap<Phase, u64>,
    /// Prefixes by policy and phase (see [`Phase`]).
    pub prefixes: BTreeMap<(PolicyName, Phase), u64>,
    /// CMD: updates sent to MAARs (and subscribers) that wait for their PBA.
    pub updates_outstanding: Option<u64>,
    /// From a PBU's first sending to its PBA, retransmissions included (the MAAR's
    /// registrations and releases, the CMD's updates to MAARs).
    pub pbu_to_pba: Histogram,
    /// MAAR: from a node's attachment to its registration's PBA, when its bindings and routes
    /// are installed.
    pub attachment_to_binding: Option<Histogram>,
    /// CMD: the store's writes.
    pub store_write: Option<Histogram>,
    /// CMD on etcd: leadership among the instances.
    pub leadership: Option<Leadership>,
}

/// A CMD instance's leadership, on a store shared by several (etcd).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Leadership {
    /// Whether this instance leads (answers) now.
    pub leader: bool,
    /// Terms begun as the leader.
    pub terms: u64,
    /// Terms ended other than by shutdown: the lease not renewed, the store unreachable or
    /// led by another instance.
    pub lost: u64,
    /// Store requests that failed for etcd being unreachable or without quorum.
    pub store_unavailable: u64,
    /// Messages received while standing by, not answered.
    pub standby_dropped: u64,
}

impl SignalingMetrics {
    /// Metrics of `role` with every policy and phase of `phases` at zero, so that the series
    /// exist from the first scrape.
    pub fn new(role: Role, node_phases: &[Phase], prefix_phases: &[Phase]) -> Self {
        let mut metrics = Self {
            role,
            ..Self::default()
        };
        for phase in node_phases {
            metrics.nodes.insert(phase, 0);
        }
        for policy in Policy::ALL {
            for phase in prefix_phases {
                metrics.prefixes.insert((policy.name(), phase), 0);
            }
        }
        metrics
    }

    pub fn add_node(&mut self, phase: Phase) {
        *self.nodes.entry(phase).or_default() += 1;
    }

    pub fn add_prefix(&mut self, policy: Policy, phase: Phase) {
        *self.prefixes.entry((policy.name(), phase)).or_default() += 1;
    }
}

#[cfg(test)]
mod tests {
    use anchor_signal::{Lifetime, Pba, PbaFlags, Status};

    use super::*;

    fn pba(status: u8) -> MobilityHeader {
        MobilityHeader::Pba(Pba {
            status: Status(status),
            flags: PbaFlags::EMPTY,
            sequence: 1,
            lifetime: Lifetime::DEREGISTRATION,
            options: Vec::new(),
        })
    }

    #[test]
    fn messages_are_counted_by_way_type_and_status() {
        let mut counts = MessageCounts::default();
        counts.count(Way::Sent, &pba(0));
        counts.count(Way::Sent, &pba(155));
        counts.count(Way::Sent, &pba(155));
        counts.count(Way::Received, &pba(0));
        assert_eq!(
            counts.iter().collect::<Vec<_>>(),
            vec![
                (Way::Sent, MessageType::Pba { status: 0 }, 1),
                (Way::Sent, MessageType::Pba { status: 155 }, 2),
                (Way::Received, MessageType::Pba { status: 0 }, 1),
            ]
        );
        assert_eq!(counts.get(Way::Received, MessageType::Pbu), 0);
    }

    #[test]
    fn every_policy_and_phase_starts_at_zero() {
        let mut metrics =
            SignalingMetrics::new(Role::Maar, &["registered"], &["served", "anchored"]);
        metrics.add_prefix(Policy::Fixed, "anchored");
        assert_eq!(metrics.prefixes.len(), 6);
        assert_eq!(metrics.prefixes[&("fixed", "anchored")], 1);
        assert_eq!(metrics.prefixes[&("nonpersistent", "served")], 0);
        assert_eq!(metrics.nodes[&"registered"], 0);
    }
}
