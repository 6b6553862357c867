//! The PBUs a node sent (the CMD to previous MAARs, a MAAR to the CMD) and waits to see
//! acknowledged. Each is sent again after INITIAL_BINDACK_TIMEOUT, then after twice as long each
//! time (RFC 6275 section 11.8), until its PBA arrives or the next wait would exceed
//! MAX_BINDACK_TIMEOUT.

use std::{net::Ipv6Addr, time::Duration, time::Instant};

use anchor_signal::{MobilityHeader, Status};

#[derive(Debug, Clone)]
struct InFlight {
    to: Ipv6Addr,
    sequence: u16,
    message: MobilityHeader,
    /// The wait before the next retransmission.
    timeout: Duration,
    due: Instant,
    /// Sent again at least once (with a fresh timestamp).
    resent: bool,
    /// When it was first sent.
    first_sent: Instant,
}

/// What the timer wants done.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Due {
    /// Send `message` to `to` again.
    Resend {
        to: Ipv6Addr,
        message: MobilityHeader,
    },
    /// Stop: no PBA came within MAX_BINDACK_TIMEOUT.
    GiveUp { to: Ipv6Addr, sequence: u16 },
}

#[derive(Debug)]
pub struct Retransmitter {
    initial: Duration,
    max: Duration,
    in_flight: Vec<InFlight>,
}

impl Retransmitter {
    pub fn new(initial: Duration, max: Duration) -> Self {
        Self {
            initial,
            max,
            in_flight: Vec::new(),
        }
    }

    /// Tracks `message` (sequence `sequence`), just sent to `to` at `now`. A newer update to the
    /// same peer about the same node replaces the old one's retransmissions: the caller removes
    /// those with [`forget_where`](Self::forget_where) first.
    pub fn sent(&mut self, now: Instant, to: Ipv6Addr, sequence: u16, message: MobilityHeader) {
        self.in_flight.push(InFlight {
            to,
            sequence,
            message,
            timeout: self.initial,
            due: now + self.initial,
            resent: false,
            first_sent: now,
        });
    }

    /// Whether a PBA from `from` with `sequence` answers an update in flight; it stops the
    /// retransmissions of that update.
    pub fn acknowledged(&mut self, from: Ipv6Addr, sequence: u16) -> bool {
        self.acknowledge(from, sequence).is_some()
    }

    /// As [`acknowledged`](Self::acknowledged), with when the update was first sent.
    pub fn acknowledge(&mut self, from: Ipv6Addr, sequence: u16) -> Option<Instant> {
        let index = self
            .in_flight
            .iter()
            .position(|f| f.to == from && f.sequence == sequence)?;
        let first_sent = self.in_flight[index].first_sent;
        self.in_flight
            .retain(|f| !(f.to == from && f.sequence == sequence));
        Some(first_sent)
    }

    /// Drops the updates in flight to `to` whose message `matches`.
    pub fn forget_where(&mut self, to: Ipv6Addr, matches: impl Fn(&MobilityHeader) -> bool) {
        self.in_flight
            .retain(|f| !(f.to == to && matches(&f.message)));
    }

    /// Whether `status` from `from` for `sequence` may answer an older copy of an update that
    /// was sent again since: a timestamp refusal (156, 157) of a retransmitted update can be the
    /// answer to a copy that was delayed past the receiver's window, while the newest copy
    /// carries a fresh timestamp. Such an answer does not settle the update: its newest copy's
    /// answer, or the give-up, does.
    pub fn is_stale_refusal(&self, from: Ipv6Addr, sequence: u16, status: Status) -> bool {
        (status == Status::TIMESTAMP_MISMATCH
            || status == Status::TIMESTAMP_LOWER_THAN_PREV_ACCEPTED)
            && self
                .in_flight
                .iter()
                .any(|f| f.to == from && f.sequence == sequence && f.resent)
    }

    /// The retransmissions and give-ups due at `now`.
    pub fn poll(&mut self, now: Instant) -> Vec<Due> {
        let mut out = Vec::new();
        let max = self.max;
        self.in_flight.retain_mut(|f| {
            if f.due > now {
                return true;
            }
            let next = f.timeout * 2;
            if next > max {
                out.push(Due::GiveUp {
                    to: f.to,
                    sequence: f.sequence,
                });
                return false;
            }
            f.timeout = next;
            f.due = now + next;
            f.resent = true;
            out.push(Due::Resend {
                to: f.to,
                message: f.message.clone(),
            });
            true
        });
        out
    }

    /// When [`poll`](Self::poll) next has work.
    pub fn next_due(&self) -> Option<Instant> {
        self.in_flight.iter().map(|f| f.due).min()
    }

    pub fn len(&self) -> usize {
        self.in_flight.len()
    }

    pub fn is_empty(&self) -> bool {
        self.in_flight.is_empty()
    }
}
