//! The idle release of `session-lasting` redirects (issue 3 section 4; the RFCs define no
//! message for it, this is our use of theirs): the anchoring MAAR watches the packet count of
//! each redirect it holds and, once the count has not moved for the pool's `idle_release_s`,
//! asks the CMD to release the prefix with a lifetime-0 PBU carrying MN-ID, Timestamp and an
//! Anchored Prefix option. See the module documentation of [`super`].

use std::time::{Duration, Instant};

use anchor_pmip::{Now, Outgoing};
use anchor_signal::{Lifetime, MnId, MobilityOption, Pba, Status};
use ipnet::Ipv6Net;

use super::{Action, MaarEngine};
use crate::config::Policy;

impl MaarEngine {
    /// The redirected prefixes whose traffic decides their release: feed their packet counts
    /// to [`observe_traffic`](Self::observe_traffic).
    pub fn idle_watched(&self) -> Vec<Ipv6Net> {
        self.anchored
            .iter()
            .filter(|(_, a)| a.idle_release.is_some())
            .map(|(prefix, _)| *prefix)
            .collect()
    }

    /// The packets of `prefix`'s redirect so far, both directions summed: a count that moved
    /// since the last observation restarts its idle time.
    pub fn observe_traffic(&mut self, now: Now, prefix: Ipv6Net, packets: u64) {
        let Some(anchored) = self.anchored.get_mut(&prefix) else {
            return;
        };
        if anchored.packets.is_some_and(|last| last != packets) {
            anchored.active_at = now.instant;
        }
        anchored.packets = Some(packets);
    }

    /// When the next redirect is idle long enough to be released.
    pub(super) fn next_idle_release(&self) -> Option<Instant> {
        self.anchored
            .values()
            .filter(|a| a.releasing.is_none())
            .filter_map(|a| a.idle_release.map(|idle| a.active_at + idle))
            .min()
    }

    /// Whether a redirect is idle long enough to be released at `now` (the service samples the
    /// counts once more first).
    pub fn idle_release_due(&self, now: Now) -> bool {
        self.next_idle_release().is_some_and(|t| t <= now.instant)
    }

    /// Sends the release of every redirect idle long enough.
    pub(super) fn poll_idle(
        &mut self,
        now: Now,
        out: &mut Vec<Outgoing>,
        actions: &mut Vec<Action>,
    ) {
        let idle: Vec<(Ipv6Net, MnId)> = self
            .anchored
            .iter()
            .filter(|(_, a)| a.releasing.is_none())
            .filter(|(_, a)| {
                a.idle_release
                    .is_some_and(|idle| a.active_at + idle <= now.instant)
            })
            .map(|(prefix, a)| (*prefix, a.mn.clone()))
            .collect();
        for (prefix, mn) in idle {
            if self
                .anchored
                .get(&prefix)
                .is_some_and(|a| a.policy == Policy::Fixed)
            {
                self.end_relocation_bridge(&prefix, actions);
                continue;
            }
            tracing::info!(
                "{prefix} of {mn} is idle: asking the CMD {} to release it",
                self.cmd
            );
            let sequence = self.send_release(now, &mn, prefix, out);
            if let Some(a) = self.anchored.get_mut(&prefix) {
                a.releasing = Some(sequence);
            }
        }
    }

    fn send_release(
        &mut self,
        now: Now,
        mn: &MnId,
        prefix: Ipv6Net,
        out: &mut Vec<Outgoing>,
    ) -> u16 {
        // It replaces an earlier release of the prefix in flight.
        let anchored = MobilityOption::AnchoredPrefix(prefix);
        self.send_to_cmd(
            now,
            mn,
            Lifetime::DEREGISTRATION,
            std::slice::from_ref(&anchored),
            |m| m.options().contains(&anchored),
            out,
        )
    }

    /// Handles `pba` from the CMD when it answers an idle release: true when it did.
    pub(super) fn release_answered(
        &mut self,
        now: Now,
        mn: Option<&MnId>,
        pba: &Pba,
        actions: &mut Vec<Action>,
    ) -> bool {
        let Some(prefix) = self
            .anchored
            .iter()
            .find(|(_, a)| a.releasing == Some(pba.sequence) && Some(&a.mn) == mn)
            .map(|(prefix, _)| *prefix)
        else {
            return false;
        };
        let Some(first_sent) = self.retransmit.acknowledge(self.cmd, pba.sequence) else {
            return false;
        };
        self.counters
            .pbu_to_pba
            .observe(now.instant.saturating_duration_since(first_sent));
        // 155: the CMD does not list the prefix for the node (any more): the acknowledgement
        // of an earlier copy of this release was lost. Released either way.
        let gone = pba.status == Status::NOT_AUTHORIZED_FOR_HOME_NETWORK_PREFIX;
        if pba.status.is_accepted() || gone {
            if let Some(a) = self.anchored.remove(&prefix) {
                tracing::info!(
                    "released idle {prefix} of {} (served at {}){}",
                    a.mn,
                    a.serving,
                    if gone {
                        ": the CMD had already dropped it"
                    } else {
                        ""
                    }
                );
            }
            actions.push(Action::RemoveBinding { prefix });
            self.release_prefix(&prefix);
            self.counters.idle_released += 1;
        } else {
            self.counters.refused += 1;
            tracing::warn!(
                "the CMD rejected the idle release of {prefix} with status {}: the redirect \
                 stays",
                pba.status.0
            );
            self.keep_redirect(now, prefix);
        }
        true
    }

    /// The release with `sequence` got no answer: the redirect stays (when it was one).
    pub(super) fn release_failed(&mut self, now: Now, sequence: u16) {
        let Some(prefix) = self
            .anchored
            .iter()
            .find(|(_, a)| a.releasing == Some(sequence))
            .map(|(prefix, _)| *prefix)
        else {
            return;
        };
        tracing::warn!("no answer to the idle release of {prefix}: the redirect stays");
        self.keep_redirect(now, prefix);
    }

    /// Keeps the redirect of `prefix` and measures its idle time again from `now`.
    fn keep_redirect(&mut self, now: Now, prefix: Ipv6Net) {
        if let Some(a) = self.anchored.get_mut(&prefix) {
            a.releasing = None;
            a.active_at = now.instant;
        }
    }

    /// The idle time of the pool `prefix` was delegated from.
    pub(super) fn idle_release_of(&self, prefix: &Ipv6Net) -> Option<Duration> {
        self.pools
            .iter()
            .find(|p| p.contains(prefix))
            .and_then(crate::pool::Pool::idle_release)
    }

    /// The idle time of a redirect of a prefix relocated here from another anchor and away
    /// again: that of this MAAR's first `fixed` pool that has one, else the default.
    pub(super) fn relocation_idle(&self) -> Duration {
        self.pools
            .iter()
            .filter(|p| p.policy() == Policy::Fixed)
            .find_map(crate::pool::Pool::idle_release)
            .unwrap_or(Duration::from_secs(crate::config::DEFAULT_IDLE_RELEASE_S))
    }

    /// The redirect of a `fixed` prefix relocated away (RFC 8818 section 4.3) is idle: routing
    /// has converged on its new anchor, and the redirect goes, with no message (the CMD
    /// records the prefix at its new anchor already). A /64 of this MAAR's pools stays out of
    /// the pool, lent, until the CMD's lifetime-0 update gives it back.
    fn end_relocation_bridge(&mut self, prefix: &Ipv6Net, actions: &mut Vec<Action>) {
        let Some(a) = self.anchored.remove(prefix) else {
            return;
        };
        tracing::info!(
            "{prefix} of {} relocated to {} carries no traffic: its redirect ends",
            a.mn,
            a.serving
        );
        actions.push(Action::RemoveBinding { prefix: *prefix });
        if self.pools.iter().any(|p| p.contains(prefix)) {
            self.lent.insert(*prefix);
        }
        self.counters.idle_released += 1;
    }
}
