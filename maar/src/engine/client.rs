//! Client-based DMM (RFC 8818 section 3.1.2) at the anchor: a mobile node that moved on tells
//! the router that delegated it a prefix where it is now, with an RFC 6275 Binding Update
//! (Mobility Header type 5, no P flag), and the router redirects the prefix to the node's
//! current address (`Redirect { serving: care-of address }`), so that the node's own tunnel
//! end decapsulates it. The message:
//!
//! - flags A and H (a home registration, acknowledged); the Sequence Number echoed in the BA;
//! - Lifetime: the binding's (4-second units); 0 de-registers the prefix;
//! - options: MN-ID (RFC 4283, the node's identity at its attachment, its MAC address), a
//!   Timestamp (RFC 5213; within `timestamp_window_ms` of this router's clock and newer than the
//!   last one accepted from the node: the replay protection), one Home Network Prefix option
//!   per prefix, and an Alternate Care-of Address (RFC 6275 section 6.2.5) where the node is now
//!   (the source address when absent). No Home Address destination option: kernels without
//!   MIPv6 drop packets that carry one, and the HNP option names the prefix.
//!
//! A prefix is redirected only for the node it was delegated to here (authorization); status
//! 155 otherwise. Binding Acknowledgement (type 6): the status, the sequence number, the lifetime
//! granted (at most `lifetime_s`), MN-ID and Timestamp.

use std::net::Ipv6Addr;
use std::time::Instant;

use anchor_pmip::{Now, Outgoing};
use anchor_signal::{Lifetime, MnId, MobilityOption, PbaFlags, Pbu, PbuFlags, Status, Timestamp};
use ipnet::Ipv6Net;

use super::{Action, Anchored, MaarEngine, cmd_update::acknowledgement};
use crate::{config::Policy, port::MaarBindingKind};

/// What a checked Binding Update asks for.
struct ClientUpdate {
    mn: MnId,
    timestamp: Timestamp,
    prefixes: Vec<Ipv6Net>,
    care_of: Ipv6Addr,
}

impl MaarEngine {
    /// A Binding Update from a mobile node rather than a CMD-initiated PBU: no P flag, and this
    /// MAAR takes them.
    pub(super) fn is_client_update(&self, from: Ipv6Addr, pbu: &Pbu) -> bool {
        self.client_bindings && from != self.cmd && !pbu.flags.contains(PbuFlags::P)
    }

    /// Answers a node's Binding Update, redirecting (or releasing) its prefixes when accepted.
    pub(super) fn handle_client_bu(
        &mut self,
        now: Now,
        from: Ipv6Addr,
        bu: &Pbu,
        out: &mut Vec<Outgoing>,
        actions: &mut Vec<Action>,
    ) {
        let (mn, timestamp) = anchor_pmip::message::mn_id_and_timestamp(bu);
        let granted = if bu.lifetime.as_duration() > self.lifetime {
            Lifetime::from_duration_floor(self.lifetime)
        } else {
            bu.lifetime
        };
        let status = match self.check_client_bu(now, from, bu, mn.as_ref(), timestamp) {
            Ok(update) => {
                self.apply_client_bu(now, &update, granted, actions);
                self.last_client.insert(update.mn, update.timestamp);
                self.counters.accepted += 1;
                Status::ACCEPTED
            }
            Err(status) => self.rejected("Binding Update", bu, from, mn.as_ref(), status),
        };
        out.push(acknowledgement(
            now,
            from,
            (status, PbaFlags::EMPTY),
            bu,
            granted,
            (mn, timestamp),
        ));
    }

    fn check_client_bu(
        &self,
        now: Now,
        from: Ipv6Addr,
        bu: &Pbu,
        mn: Option<&MnId>,
        timestamp: Option<Timestamp>,
    ) -> Result<ClientUpdate, Status> {
        let mn = mn.ok_or(Status::MISSING_MN_IDENTIFIER_OPTION)?;
        let timestamp = timestamp.ok_or(Status::TIMESTAMP_MISMATCH)?;
        let sent = timestamp.to_system_time();
        let timely = match sent.duration_since(now.wall) {
            Ok(ahead) => ahead <= self.window,
            Err(behind) => behind.duration() <= self.window,
        };
        if !timely {
            return Err(Status::TIMESTAMP_MISMATCH);
        }
        if self
            .last_client
            .get(mn)
            .is_some_and(|last| timestamp <= *last)
        {
            return Err(Status::TIMESTAMP_LOWER_THAN_PREV_ACCEPTED);
        }
        let prefixes: Vec<Ipv6Net> = bu
            .options
            .iter()
            .filter_map(|o| match o {
                MobilityOption::HomeNetworkPrefix(p) => Some(p.trunc()),
                _ => None,
            })
            .collect();
        if prefixes.is_empty() {
            return Err(Status::MISSING_HOME_NETWORK_PREFIX_OPTION);
        }
        let care_of = bu
            .options
            .iter()
            .find_map(|o| match o {
                MobilityOption::AlternateCareOfAddress(a) => Some(*a),
                _ => None,
            })
            .unwrap_or(from);
        let deregistration = bu.lifetime == Lifetime::DEREGISTRATION;
        for prefix in &prefixes {
            let served_here = self.served.get(mn).is_some_and(|s| s.prefix == *prefix);
            let redirected_here = self
                .anchored
                .get(prefix)
                .is_some_and(|a| &a.mn == mn && a.client_expires.is_some());
            // A de-registration of a prefix already released changes nothing.
            let released = deregistration && self.pools.iter().any(|p| p.is_free(prefix));
            if !(served_here || redirected_here || released) {
                return Err(Status::NOT_AUTHORIZED_FOR_HOME_NETWORK_PREFIX);
            }
            // The care-of address must be elsewhere: a node at home sends no update.
            if !deregistration && (prefix.contains(&care_of) || care_of == self.address) {
                return Err(Status::ADMINISTRATIVELY_PROHIBITED);
            }
            if !deregistration
                && served_here
                && self
                    .served
                    .get(mn)
                    .is_some_and(|s| s.policy == Policy::Nonpersistent)
            {
                // RFC 8818 section 4.1: a nonpersistent prefix's flows end with the move.
                return Err(Status::ADMINISTRATIVELY_PROHIBITED);
            }
        }
        Ok(ClientUpdate {
            mn: mn.clone(),
            timestamp,
            prefixes,
            care_of,
        })
    }

    fn apply_client_bu(
        &mut self,
        now: Now,
        update: &ClientUpdate,
        granted: Lifetime,
        actions: &mut Vec<Action>,
    ) {
        let mn = &update.mn;
        for prefix in &update.prefixes {
            if granted == Lifetime::DEREGISTRATION {
                if self.anchored.remove(prefix).is_some() {
                    actions.push(Action::RemoveBinding { prefix: *prefix });
                    self.release_prefix(prefix);
                    tracing::info!("{mn} de-registered {prefix}: released");
                }
                continue;
            }
            let expires = now.instant + granted.as_duration();
            let serving = update.care_of;
            if self.served.get(mn).is_some_and(|s| s.prefix == *prefix) {
                // The node left: stop serving it here, redirect its prefix to it.
                let policy = self
                    .served
                    .get(mn)
                    .map_or(Policy::SessionLasting, |s| s.policy);
                self.drop_served(mn, actions);
                self.anchored.insert(
                    *prefix,
                    new_redirect(mn, serving, policy, now.instant, expires),
                );
                actions.push(Action::AddBinding {
                    prefix: *prefix,
                    kind: MaarBindingKind::Redirect { serving },
                });
                tracing::info!("{mn} moved to {serving}: redirecting {prefix}");
            } else if let Some(anchored) = self.anchored.get_mut(prefix) {
                anchored.client_expires = Some(expires);
                if anchored.serving != serving {
                    anchored.serving = serving;
                    anchored.packets = Some(0);
                    anchored.active_at = now.instant;
                    actions.push(Action::RemoveBinding { prefix: *prefix });
                    actions.push(Action::AddBinding {
                        prefix: *prefix,
                        kind: MaarBindingKind::Redirect { serving },
                    });
                    tracing::info!("{mn} moved to {serving}: redirecting {prefix}");
                }
            }
        }
    }

    /// Removes the redirects whose binding lifetime ended unrefreshed; their prefixes go back
    /// to their pools.
    pub(super) fn expire_client_bindings(&mut self, now: Now, actions: &mut Vec<Action>) {
        let expired: Vec<Ipv6Net> = self
            .anchored
            .iter()
            .filter(|(_, a)| a.client_expires.is_some_and(|t| t <= now.instant))
            .map(|(prefix, _)| *prefix)
            .collect();
        for prefix in expired {
            if let Some(anchored) = self.anchored.remove(&prefix) {
                tracing::info!(
                    "the binding of {prefix} ({} at {}) expired: released",
                    anchored.mn,
                    anchored.serving
                );
                actions.push(Action::RemoveBinding { prefix });
                self.release_prefix(&prefix);
            }
        }
    }
}

/// A node's own redirect to `serving`, until `expires`.
fn new_redirect(
    mn: &MnId,
    serving: Ipv6Addr,
    policy: Policy,
    now: Instant,
    expires: Instant,
) -> Anchored {
    Anchored {
        mn: mn.clone(),
        serving,
        policy,
        idle_release: None,
        packets: Some(0),
        active_at: now,
        releasing: None,
        client_expires: Some(expires),
    }
}
