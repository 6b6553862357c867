//! What the CMD counts: accepted and rejected updates (rejections by status), the updates it
//! sent to previous MAARs, their retransmissions and acknowledgements.

use std::collections::BTreeMap;

use anchor_pmip::{histogram::Histogram, report::by_status};
use anchor_signal::Status;

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Counters {
    /// PBUs from MAARs answered with status 0.
    pub accepted: u64,
    /// PBUs from MAARs answered with a rejection, by status code.
    pub rejected: BTreeMap<u8, u64>,
    /// Messages that did not decode, or that the CMD does not take (a PBA nobody waits for).
    pub dropped: u64,
    /// PBUs the CMD sent to previous MAARs (first transmissions).
    pub updates_sent: u64,
    pub retransmissions: u64,
    /// PBAs from previous MAARs that matched an update in flight.
    pub acks: u64,
    /// Of those, the ones that refused the update, by status code (130: the MAAR's binding map
    /// has no room for its bindings).
    pub refused_updates: BTreeMap<u8, u64>,
    /// Updates abandoned after MAX_BINDACK_TIMEOUT without a PBA.
    pub gave_up: u64,
    /// From each update's first sending to its PBA.
    pub pbu_to_pba: Histogram,
}

impl Counters {
    pub fn reject(&mut self, status: Status) {
        *self.rejected.entry(status.0).or_default() += 1;
    }

    pub fn rejected_total(&self) -> u64 {
        self.rejected.values().sum()
    }

    pub fn rejected_with(&self, status: Status) -> u64 {
        self.rejected.get(&status.0).copied().unwrap_or(0)
    }

    /// One line for the periodic report: the rejections by status.
    pub fn summary(&self) -> String {
        format!(
            "{} accepted, {} rejected{}, {} dropped, {} updates sent, {} retransmitted, {} \
             acknowledged, {} refused{}, {} given up",
            self.accepted,
            self.rejected_total(),
            by_status(&self.rejected),
            self.dropped,
            self.updates_sent,
            self.retransmissions,
            self.acks,
            self.refused_updates.values().sum::<u64>(),
            by_status(&self.refused_updates),
            self.gave_up
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_summary_lists_rejections_by_status() {
        let mut c = Counters {
            accepted: 3,
            ..Counters::default()
        };
        assert_eq!(
            c.summary(),
            "3 accepted, 0 rejected, 0 dropped, 0 updates sent, 0 retransmitted, 0 \
             acknowledged, 0 refused, 0 given up"
        );
        c.refused_updates.insert(130, 2);
        assert!(
            c.summary()
                .contains("acknowledged, 2 refused (status 2x130), 0 given up"),
            "{}",
            c.summary()
        );
        c.reject(Status(155));
        c.reject(Status(155));
        c.reject(Status(154));
        assert!(
            c.summary()
                .starts_with("3 accepted, 3 rejected (status 1x154, 2x155), 0 dropped"),
            "{}",
            c.summary()
        );
    }
}
