//! The updates to subscribers, the anchors near correspondents (RFC 8818 section 4.2, Figure 6;
//! `subscribers` in the configuration). A subscriber redirects every prefix that a node uses
//! away from its anchor straight to the node's serving MAAR, so it is told what a previous
//! MAAR is told and more: on each change of a node's record, the prefixes that are redirected
//! now (with the serving MAAR) when they or the serving MAAR changed, and, with lifetime 0, the
//! prefixes that are no longer redirected (the node came back to their anchor, their anchor
//! released them, or the node left the domain). The updates wait in the record like the others
//! (see [`super::updates`]).

use anchor_signal::Lifetime;
use ipnet::Ipv6Net;

use super::Engine;
use crate::{
    record::{MnRecord, PendingUpdate},
    store::MobilityStore,
};

/// The prefixes of `record` that their anchors redirect: those anchored at a MAAR other than
/// the serving one.
fn redirected(record: &MnRecord) -> Vec<Ipv6Net> {
    record
        .prefixes
        .iter()
        .filter(|p| p.anchor != record.serving)
        .map(|p| p.prefix)
        .collect()
}

impl<S: MobilityStore> Engine<S> {
    /// Queues in `after` the subscribers' updates for the change of a node's record from
    /// `before` to `after` (`gone`: the record is being removed); send them with
    /// [`send_update`](Self::send_update) once `after` is stored (or removed). `lifetime` is
    /// the one of new redirects.
    pub(super) fn queue_subscriber_updates(
        &mut self,
        before: Option<&MnRecord>,
        after: &mut MnRecord,
        gone: bool,
        lifetime: Lifetime,
    ) -> Vec<PendingUpdate> {
        if self.config.subscribers.is_empty() {
            return Vec::new();
        }
        let old = before.map(redirected).unwrap_or_default();
        let old_serving = before.map(|r| r.serving);
        let new = if gone { Vec::new() } else { redirected(after) };
        let ended: Vec<Ipv6Net> = old.iter().filter(|p| !new.contains(p)).copied().collect();
        let changed = !new.is_empty()
            && (old_serving != Some(after.serving) || new.iter().any(|p| !old.contains(p)));
        let mut updates = Vec::new();
        for subscriber in self.config.subscribers.clone() {
            if !ended.is_empty() {
                let serving = old_serving.unwrap_or(after.serving);
                updates.push(self.queue_update(
                    after,
                    subscriber,
                    serving,
                    &ended,
                    Lifetime::DEREGISTRATION,
                ));
            }
            if changed {
                let serving = after.serving;
                updates.push(self.queue_update(after, subscriber, serving, &new, lifetime));
            }
        }
        updates
    }
}
