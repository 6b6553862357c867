//! The updates from the CMD (RFC 8885 section 3): a node moved to another MAAR (redirect its
//! prefixes), or a prefix released (remove its state). See the module documentation of
//! [`super`].

use std::net::Ipv6Addr;

use anchor_pmip::{Now, Outgoing, message::anchored_prefixes};
use anchor_signal::{
    Lifetime, MnId, MobilityHeader, MobilityOption, Pba, PbaFlags, Pbu, PbuFlags, Status, Timestamp,
};
use ipnet::Ipv6Net;

use super::{Action, Anchored, MaarEngine};
use crate::{config::Policy, port::MaarBindingKind};

impl MaarEngine {
    pub(super) fn handle_pbu(
        &mut self,
        now: Now,
        from: Ipv6Addr,
        pbu: &Pbu,
        out: &mut Vec<Outgoing>,
        actions: &mut Vec<Action>,
    ) {
        let (mn, timestamp) = anchor_pmip::message::mn_id_and_timestamp(pbu);
        // The same update again (the CMD retransmits unchanged when our PBA was lost) is
        // acknowledged again and changes nothing.
        let duplicate = from == self.cmd
            && mn
                .as_ref()
                .zip(timestamp)
                .is_some_and(|(mn, t)| self.last_cmd.get(mn) == Some(&(t, pbu.sequence)));
        let checked = if duplicate {
            Ok(None)
        } else {
            self.check_pbu(now, from, pbu, mn.as_ref(), timestamp)
                .map(Some)
        };
        let status = match checked {
            Ok(None) => {
                self.counters.accepted += 1;
                Status::ACCEPTED
            }
            Ok(Some((mn, _, prefixes)))
                if self
                    .binding_room
                    .is_some_and(|room| self.bindings_needed(&mn, pbu, &prefixes) > room) =>
            {
                let status = Status::INSUFFICIENT_RESOURCES;
                *self.counters.rejected.entry(status.0).or_default() += 1;
                tracing::warn!(
                    "refused the CMD's update {} for {mn} with status {}: no room for its \
                     bindings ({} needed, {} free)",
                    pbu.sequence,
                    status.0,
                    self.bindings_needed(&mn, pbu, &prefixes),
                    self.binding_room.unwrap_or_default()
                );
                status
            }
            Ok(Some((mn, timestamp, prefixes))) => {
                let needed = self.bindings_needed(&mn, pbu, &prefixes);
                self.binding_room = self.binding_room.map(|room| room.saturating_sub(needed));
                self.apply_pbu(now, &mn, pbu, &prefixes, actions);
                self.last_cmd.insert(mn, (timestamp, pbu.sequence));
                self.counters.accepted += 1;
                Status::ACCEPTED
            }
            Err(status) => self.rejected("PBU", pbu, from, mn.as_ref(), status),
        };
        out.push(acknowledgement(
            now,
            from,
            (status, PbaFlags::P | PbaFlags::D),
            pbu,
            pbu.lifetime,
            (mn, timestamp),
        ));
    }

    /// Counts and logs the refusal of `update` (a "PBU" from the CMD, a "Binding Update" from a
    /// node) with `status`.
    pub(super) fn rejected(
        &mut self,
        what: &str,
        update: &Pbu,
        from: Ipv6Addr,
        mn: Option<&MnId>,
        status: Status,
    ) -> Status {
        *self.counters.rejected.entry(status.0).or_default() += 1;
        tracing::warn!(
            "rejected the {what} {} from {from} (MN {}) with status {}",
            update.sequence,
            mn.map_or("?".to_owned(), MnId::to_string),
            status.0
        );
        status
    }

    /// The checks of a CMD-initiated PBU: the node, its timestamp and the prefixes, or the
    /// status to reject it with.
    pub(super) fn check_pbu(
        &self,
        now: Now,
        from: Ipv6Addr,
        pbu: &Pbu,
        mn: Option<&MnId>,
        timestamp: Option<Timestamp>,
    ) -> Result<(MnId, Timestamp, Vec<Ipv6Net>), Status> {
        if from != self.cmd {
            return Err(Status::MAG_NOT_AUTHORIZED_FOR_PROXY_REG);
        }
        if !pbu.flags.contains(PbuFlags::P) {
            return Err(Status::PROXY_REG_NOT_ENABLED);
        }
        let mn = mn.ok_or(Status::MISSING_MN_IDENTIFIER_OPTION)?;
        let timestamp = timestamp.ok_or(Status::TIMESTAMP_MISMATCH)?;
        // Not from the future beyond the window, nor older than the window plus the time the
        // CMD keeps retransmitting an update with its first timestamp.
        let sent = timestamp.to_system_time();
        let timely = match sent.duration_since(now.wall) {
            Ok(ahead) => ahead <= self.window,
            Err(behind) => behind.duration() <= self.window + self.retransmit_span,
        };
        if !timely {
            return Err(Status::TIMESTAMP_MISMATCH);
        }
        if self
            .last_cmd
            .get(mn)
            .is_some_and(|(last, _)| timestamp <= *last)
        {
            return Err(Status::TIMESTAMP_LOWER_THAN_PREV_ACCEPTED);
        }
        let prefixes = anchored_prefixes(pbu);
        if prefixes.is_empty() {
            return Err(Status::MISSING_HOME_NETWORK_PREFIX_OPTION);
        }
        let deregistration = pbu.lifetime == Lifetime::DEREGISTRATION;
        for prefix in &prefixes {
            let served_here = self
                .served
                .get(mn)
                .is_some_and(|s| s.prefix == *prefix || s.relocated.contains(prefix));
            let anchored_here = self.anchored.get(prefix).is_some_and(|a| &a.mn == mn);
            // Its anchor released a prefix the node visits here.
            let visiting_here = self
                .served
                .get(mn)
                .is_some_and(|s| s.visiting.contains_key(prefix));
            // A de-registration of a prefix already released changes nothing and is accepted.
            let in_pool = self.pools.iter().any(|p| p.contains(prefix));
            // The CMD records the node's prefix as anchored here, and this MAAR holds nothing
            // of it: the state was lost (the CMD's refusal of a stale re-registration arrived
            // ahead of this update, or the state file went). A free /64 is taken back.
            let free_here = self.pools.iter().any(|p| p.is_free(prefix));
            // A subscriber redirects the prefixes of other anchors.
            let subscribed_here = self.subscriber && !in_pool;
            if !(served_here
                || anchored_here
                || subscribed_here
                || (deregistration && (in_pool || visiting_here))
                || (!deregistration && free_here))
            {
                return Err(Status::NOT_AUTHORIZED_FOR_HOME_NETWORK_PREFIX);
            }
        }
        if !deregistration {
            let serving = pbu.options.iter().find_map(|o| match o {
                MobilityOption::ServingMaar(a) => Some(*a),
                _ => None,
            });
            if serving.is_none_or(|s| s == self.address) {
                return Err(Status::ADMINISTRATIVELY_PROHIBITED);
            }
        }
        Ok((mn.clone(), timestamp, prefixes))
    }

    /// The bindings an accepted update would add: one per prefix it redirects that has none
    /// here yet (a redirect already in place, or a visiting binding, is replaced in its entry).
    fn bindings_needed(&self, mn: &MnId, pbu: &Pbu, prefixes: &[Ipv6Net]) -> usize {
        if pbu.lifetime == Lifetime::DEREGISTRATION {
            return 0;
        }
        let bound = |prefix: &Ipv6Net| {
            self.anchored.contains_key(prefix)
                || self.subscribed.contains_key(prefix)
                || self
                    .served
                    .get(mn)
                    .is_some_and(|s| s.visiting.contains_key(prefix))
        };
        prefixes.iter().filter(|p| !bound(p)).count()
    }

    #[expect(
        clippy::too_many_lines,
        reason = "each case of a prefix in a CMD update side by side: kept, moved away, relocated, lent"
    )]
    pub(super) fn apply_pbu(
        &mut self,
        now: Now,
        mn: &MnId,
        pbu: &Pbu,
        prefixes: &[Ipv6Net],
        actions: &mut Vec<Action>,
    ) {
        if pbu.lifetime == Lifetime::DEREGISTRATION {
            for prefix in prefixes {
                if self.subscribed.remove(prefix).is_some() {
                    actions.push(Action::RemoveBinding { prefix: *prefix });
                    tracing::info!("{mn}: {prefix} is no longer redirected");
                    continue;
                }
                if self.served.get(mn).is_some_and(|s| s.prefix == *prefix) {
                    self.release_served(mn, actions);
                } else if self.anchored.remove(prefix).is_some() {
                    // An idle release of it in flight has nothing left to do.
                    let anchored = MobilityOption::AnchoredPrefix(*prefix);
                    self.retransmit
                        .forget_where(self.cmd, |m| m.options().contains(&anchored));
                    actions.push(Action::RemoveBinding { prefix: *prefix });
                    self.release_prefix(prefix);
                } else if self.lent.remove(prefix) {
                    // A fixed /64 relocated away comes back to its pool.
                    self.release_prefix(prefix);
                } else if let Some(served) = self
                    .served
                    .get_mut(mn)
                    .filter(|s| s.visiting.contains_key(prefix))
                {
                    served.visiting.remove(prefix);
                    actions.push(Action::RemoveBinding { prefix: *prefix });
                    tracing::info!("{mn}: its anchor released {prefix}, no longer visiting here");
                    continue;
                }
                tracing::info!("{mn} de-registered: released {prefix}");
            }
            return;
        }
        let Some(serving) = pbu.options.iter().find_map(|o| match o {
            MobilityOption::ServingMaar(a) => Some(*a),
            _ => None,
        }) else {
            return;
        };
        // What the node held here before this update.
        let left = self.served.get(mn).cloned();
        for prefix in prefixes {
            if self.subscriber && !self.pools.iter().any(|p| p.contains(prefix)) {
                self.subscribe(mn, *prefix, serving, actions);
                continue;
            }
            let own = left.as_ref().filter(|s| s.prefix == *prefix);
            let relocated = left.as_ref().is_some_and(|s| s.relocated.contains(prefix));
            if own.is_some() || relocated {
                if let Some(served) = own
                    && served.policy == Policy::Nonpersistent
                {
                    // RFC 8818 section 4.1: the node's flows on this prefix end with the move.
                    // (A CMD that knows the policy de-registers it instead.)
                    self.release_served(mn, actions);
                    tracing::info!("{mn} is served at {serving}: released nonpersistent {prefix}");
                    continue;
                }
                // The node left: stop serving it, keep anchoring its prefix (a relocated one
                // only until routing has converged on its new anchor).
                let policy = own.map_or(Policy::Fixed, |s| s.policy);
                if self.served.contains_key(mn) {
                    self.drop_served(mn, actions);
                }
                let idle_release = self
                    .idle_release_of(prefix)
                    .or_else(|| relocated.then(|| self.relocation_idle()));
                self.anchored.insert(
                    *prefix,
                    Anchored {
                        mn: mn.clone(),
                        serving,
                        policy,
                        idle_release,
                        // A new binding's counters start at zero.
                        packets: Some(0),
                        active_at: now.instant,
                        releasing: None,
                        client_expires: None,
                    },
                );
                actions.push(Action::AddBinding {
                    prefix: *prefix,
                    kind: MaarBindingKind::Redirect { serving },
                });
            } else if !self.anchored.contains_key(prefix)
                && self.pools.iter_mut().any(|p| p.mark_used(prefix))
            {
                tracing::warn!("{mn}: the CMD records {prefix} as anchored here: taken back");
                let policy = self
                    .pools
                    .iter()
                    .find(|p| p.contains(prefix))
                    .map_or(Policy::SessionLasting, crate::pool::Pool::policy);
                let idle_release = self.idle_release_of(prefix);
                self.anchored.insert(
                    *prefix,
                    Anchored {
                        mn: mn.clone(),
                        serving,
                        policy,
                        idle_release,
                        packets: Some(0),
                        active_at: now.instant,
                        releasing: None,
                        client_expires: None,
                    },
                );
                actions.push(Action::AddBinding {
                    prefix: *prefix,
                    kind: MaarBindingKind::Redirect { serving },
                });
            } else if let Some(anchored) = self.anchored.get_mut(prefix)
                && anchored.serving != serving
            {
                anchored.serving = serving;
                // The new binding's counters start at zero.
                anchored.packets = Some(0);
                anchored.active_at = now.instant;
                actions.push(Action::RemoveBinding { prefix: *prefix });
                actions.push(Action::AddBinding {
                    prefix: *prefix,
                    kind: MaarBindingKind::Redirect { serving },
                });
            }
            tracing::info!("{mn} is served at {serving}: redirecting {prefix}");
        }
    }

    /// As a subscriber: redirects `prefix` of `mn` to `serving` (in place of an earlier serving
    /// MAAR).
    fn subscribe(
        &mut self,
        mn: &MnId,
        prefix: Ipv6Net,
        serving: Ipv6Addr,
        actions: &mut Vec<Action>,
    ) {
        match self.subscribed.insert(prefix, (mn.clone(), serving)) {
            Some((_, earlier)) if earlier == serving => return,
            Some(_) => actions.push(Action::RemoveBinding { prefix }),
            None => {}
        }
        actions.push(Action::AddBinding {
            prefix,
            kind: MaarBindingKind::Redirect { serving },
        });
        tracing::info!("{mn} is served at {serving}: redirecting {prefix} (subscriber)");
    }
}

/// The (Proxy) Binding Acknowledgement of `update` from `to`: `status` and `flags`, the update's
/// sequence number, `granted` when accepted (else 0), and the update's MN-ID and Timestamp (this
/// router's own time with a timestamp refusal, RFC 5213 section 5.5).
pub(super) fn acknowledgement(
    now: Now,
    to: Ipv6Addr,
    (status, flags): (Status, PbaFlags),
    update: &Pbu,
    granted: Lifetime,
    (mn, timestamp): (Option<MnId>, Option<Timestamp>),
) -> Outgoing {
    let stamp = if status == Status::TIMESTAMP_MISMATCH
        || status == Status::TIMESTAMP_LOWER_THAN_PREV_ACCEPTED
    {
        Some(Timestamp::from_system_time(now.wall))
    } else {
        timestamp
    };
    let mut options: Vec<MobilityOption> = mn.into_iter().map(MobilityOption::MnId).collect();
    options.extend(stamp.map(MobilityOption::Timestamp));
    Outgoing {
        to,
        message: MobilityHeader::Pba(Pba {
            status,
            flags,
            sequence: update.sequence,
            lifetime: if status.is_accepted() {
                granted
            } else {
                Lifetime::DEREGISTRATION
            },
            options,
        }),
    }
}
