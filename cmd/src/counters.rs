//! What the CMD counts: accepted and rejected updates (rejections by status), the updates it
//! sent to previous MAARs, their retransmissions and acknowledgements.

use std::collections::BTreeMap;

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
    /// Updates abandoned after MAX_BINDACK_TIMEOUT without a PBA.
    pub gave_up: u64,
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
}
