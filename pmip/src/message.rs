//! What the I/O-free engines of both roles take and give: the time, the messages to send, and
//! the options read from a received PBU.

use std::{
    net::Ipv6Addr,
    time::{Duration, Instant, SystemTime, UNIX_EPOCH},
};

use anchor_signal::{HandoffIndicator, MnId, MobilityHeader, MobilityOption, Pbu, Timestamp};
use ipnet::Ipv6Net;

/// The time, as the engine sees it: a monotonic instant for retransmissions and the wall clock
/// for timestamps and lifetimes (which must survive a restart).
#[derive(Debug, Clone, Copy)]
pub struct Now {
    pub instant: Instant,
    pub wall: SystemTime,
}

impl Now {
    pub fn system() -> Self {
        Self {
            instant: Instant::now(),
            wall: SystemTime::now(),
        }
    }

    /// `d` later on both clocks (for fake clocks in tests).
    #[must_use]
    pub fn plus(self, d: Duration) -> Self {
        Self {
            instant: self.instant + d,
            wall: self.wall + d,
        }
    }

    /// The wall clock in seconds since 1970.
    pub fn unix_s(self) -> u64 {
        self.wall
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default()
            .as_secs()
    }
}

/// A message to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outgoing {
    pub to: Ipv6Addr,
    pub message: MobilityHeader,
}

/// The MN-ID and Timestamp options of a PBU, when it carries them.
pub fn mn_id_and_timestamp(pbu: &Pbu) -> (Option<MnId>, Option<Timestamp>) {
    let mn_id = pbu.options.iter().find_map(|o| match o {
        MobilityOption::MnId(id) => Some(id.clone()),
        _ => None,
    });
    let timestamp = pbu.options.iter().find_map(|o| match o {
        MobilityOption::Timestamp(t) => Some(*t),
        _ => None,
    });
    (mn_id, timestamp)
}

/// The prefixes of a PBU's Anchored Prefix options, each cut to its length.
pub fn anchored_prefixes(pbu: &Pbu) -> Vec<Ipv6Net> {
    pbu.options
        .iter()
        .filter_map(|o| match o {
            MobilityOption::AnchoredPrefix(p) => Some(p.trunc()),
            _ => None,
        })
        .collect()
}

/// The value of a PBU's Handoff Indicator option, when it carries one.
pub fn handoff_indicator(pbu: &Pbu) -> Option<HandoffIndicator> {
    pbu.options.iter().find_map(|o| match o {
        MobilityOption::HandoffIndicator(h) => Some(*h),
        _ => None,
    })
}
