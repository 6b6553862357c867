//! Attachment and detachment: a node's registration with the CMD (PBU out, PBA in), its
//! refreshes, and the removal of everything it held. See the module documentation of [`super`].

use std::{
    collections::{BTreeMap, BTreeSet},
    net::Ipv6Addr,
    time::Duration,
};

use anchor_pmip::{Now, Outgoing};
use anchor_signal::{
    HandoffIndicator, Lifetime, MnId, MobilityHeader, MobilityOption, Pba, Pbu, PbuFlags, Timestamp,
};
use ipnet::Ipv6Net;

use super::{Action, MaarEngine, MaarError, Phase, Served};
use crate::port::MaarBindingKind;

impl MaarEngine {
    /// `mn` attached on `dev`: delegates a /64 (or returns the one it holds) and registers it.
    pub fn attach(
        &mut self,
        now: Now,
        mn: MnId,
        dev: &str,
        out: &mut Vec<Outgoing>,
    ) -> Result<Ipv6Net, MaarError> {
        if !self.access.iter().any(|a| a == dev) {
            return Err(MaarError::NotAccess {
                dev: dev.to_owned(),
            });
        }
        if let Some(served) = self.served.get(&mn) {
            return match served.phase {
                Phase::Deregistering => Err(MaarError::Detaching { mn }),
                _ => Ok(served.prefix),
            };
        }
        // Back at the router that anchors its prefix (RFC 8885 section 3.3: the prefix is local
        // again): the node gets that prefix, and the redirect goes when the CMD agrees.
        let back = self
            .anchored
            .iter()
            .find(|(_, a)| a.mn == mn && a.releasing.is_none())
            .map(|(prefix, _)| *prefix);
        let (prefix, policy, reclaimed) = if let Some(prefix) = back
            && let Some(anchored) = self.anchored.remove(&prefix)
        {
            tracing::info!(
                "{mn} came back on {dev}: {prefix} is local again (redirected to {} until the \
                 CMD agrees)",
                anchored.serving
            );
            (prefix, anchored.policy, Some(anchored))
        } else {
            let (prefix, policy) = self
                .pools
                .iter_mut()
                .find_map(|pool| pool.allocate().map(|p| (p, pool.policy())))
                .ok_or(MaarError::PoolExhausted)?;
            tracing::info!("{mn} attached on {dev}: delegated {prefix} ({policy:?})");
            (prefix, policy, None)
        };
        let mut served = Served {
            dev: dev.to_owned(),
            prefix,
            policy,
            phase: Phase::Registering,
            sequence: 0,
            refresh_at: None,
            expires_at: None,
            route: false,
            visiting: BTreeMap::new(),
            relocated: BTreeSet::new(),
            reclaimed,
        };
        if self.standalone() {
            // No CMD to ask: registered at once, and a prefix that was redirected is local
            // again.
            if served.reclaimed.take().is_some() {
                self.pending.push(Action::RemoveBinding { prefix });
            }
            self.pending.push(Action::AddRoute {
                prefix,
                dev: dev.to_owned(),
                mac: mn.mac(),
            });
            served.phase = Phase::Registered;
            served.route = true;
            self.served.insert(mn, served);
            return Ok(prefix);
        }
        served.sequence = self.send_pbu(
            now,
            &mn,
            prefix,
            self.lifetime,
            HandoffIndicator::UNKNOWN,
            out,
        );
        self.served.insert(mn, served);
        Ok(prefix)
    }

    /// `mn` left: de-registers it; its state goes with the PBA.
    pub fn detach(
        &mut self,
        now: Now,
        mn: &MnId,
        out: &mut Vec<Outgoing>,
    ) -> Result<Ipv6Net, MaarError> {
        let prefix = match self.served.get(mn) {
            Some(s) if s.phase == Phase::Deregistering => {
                return Err(MaarError::Detaching { mn: mn.clone() });
            }
            Some(s) => s.prefix,
            None => return Err(MaarError::UnknownMn { mn: mn.clone() }),
        };
        if self.standalone() {
            let mut actions = Vec::new();
            self.release_served(mn, &mut actions);
            self.pending.append(&mut actions);
            tracing::info!("{mn} detached: released {prefix}");
            return Ok(prefix);
        }
        let sequence = self.send_pbu(
            now,
            mn,
            prefix,
            Duration::ZERO,
            HandoffIndicator::NOT_CHANGED,
            out,
        );
        if let Some(s) = self.served.get_mut(mn) {
            s.phase = Phase::Deregistering;
            s.sequence = sequence;
            s.refresh_at = None;
        }
        tracing::info!("{mn} detached: de-registering {prefix}");
        Ok(prefix)
    }

    /// Sends the CMD a (de-)registration of `mn` with its Local Prefix option and a Handoff
    /// Indicator: `UNKNOWN` for a new attachment (this MAAR cannot tell whether the node came
    /// from another router), `NOT_CHANGED` for a refresh, a de-registration and the
    /// re-registration of a restart, which the CMD must not take for a move.
    pub(super) fn send_pbu(
        &mut self,
        now: Now,
        mn: &MnId,
        prefix: Ipv6Net,
        lifetime: Duration,
        handoff: HandoffIndicator,
        out: &mut Vec<Outgoing>,
    ) -> u16 {
        // It replaces a registration of the node in flight (not an idle release).
        let id = MobilityOption::MnId(mn.clone());
        self.send_to_cmd(
            now,
            mn,
            Lifetime::from_duration_floor(lifetime),
            &[
                MobilityOption::LocalPrefix(prefix),
                MobilityOption::HandoffIndicator(handoff),
            ],
            |m| {
                m.options().contains(&id)
                    && m.options()
                        .iter()
                        .any(|o| matches!(o, MobilityOption::LocalPrefix(_)))
            },
            out,
        )
    }

    /// Sends the CMD a PBU about `mn` with `lifetime` and the options `extra` after MN-ID and
    /// Timestamp (its Local or Anchored Prefix option, ...), retransmitted until answered, in
    /// place of the ones in flight that `replaces` picks: its sequence number.
    pub(super) fn send_to_cmd(
        &mut self,
        now: Now,
        mn: &MnId,
        lifetime: Lifetime,
        extra: &[MobilityOption],
        replaces: impl Fn(&MobilityHeader) -> bool,
        out: &mut Vec<Outgoing>,
    ) -> u16 {
        let sequence = self.next_sequence;
        self.next_sequence = self.next_sequence.wrapping_add(1);
        let message = MobilityHeader::Pbu(Pbu {
            sequence,
            flags: PbuFlags::A | PbuFlags::P | PbuFlags::D,
            lifetime,
            options: [
                MobilityOption::MnId(mn.clone()),
                MobilityOption::Timestamp(Timestamp::from_system_time(now.wall)),
            ]
            .into_iter()
            .chain(extra.iter().cloned())
            .collect(),
        });
        self.retransmit.forget_where(self.cmd, replaces);
        self.retransmit
            .sent(now.instant, self.cmd, sequence, message.clone());
        out.push(Outgoing {
            to: self.cmd,
            message,
        });
        sequence
    }

    #[expect(
        clippy::too_many_lines,
        reason = "the cases of a PBA side by side: a release answered, a refusal, an acceptance with its relocated and lent prefixes"
    )]
    pub(super) fn handle_pba(
        &mut self,
        now: Now,
        from: Ipv6Addr,
        pba: &Pba,
        actions: &mut Vec<Action>,
    ) {
        let mn = pba.options.iter().find_map(|o| match o {
            MobilityOption::MnId(id) => Some(id.clone()),
            _ => None,
        });
        if from == self.cmd && self.release_answered(now, mn.as_ref(), pba, actions) {
            return;
        }
        if from == self.cmd
            && self
                .retransmit
                .is_stale_refusal(from, pba.sequence, pba.status)
        {
            // Perhaps the answer to a copy delayed past the CMD's window; the newest copy,
            // restamped, is still to be answered.
            self.counters.dropped += 1;
            tracing::debug!(
                "status {} for update {} that was sent again since: waiting for the newest copy's answer",
                pba.status.0,
                pba.sequence
            );
            return;
        }
        let first_sent = if from == self.cmd
            && mn
                .as_ref()
                .and_then(|mn| self.served.get(mn))
                .is_some_and(|s| s.sequence == pba.sequence)
        {
            self.retransmit.acknowledge(from, pba.sequence)
        } else {
            None
        };
        let waited = first_sent.map(|sent| now.instant.saturating_duration_since(sent));
        if let Some(waited) = waited {
            self.counters.pbu_to_pba.observe(waited);
        }
        let (Some(waited), Some(mn)) = (waited, mn) else {
            self.counters.dropped += 1;
            return;
        };
        let Some(served) = self.served.get(&mn).cloned() else {
            return;
        };
        if !pba.status.is_accepted() {
            self.counters.refused += 1;
            tracing::warn!(
                "the CMD rejected the update of {mn} ({}) with status {}",
                served.prefix,
                pba.status.0
            );
            self.release_served(&mn, actions);
            return;
        }
        if served.phase == Phase::Deregistering || pba.lifetime == Lifetime::DEREGISTRATION {
            self.release_served(&mn, actions);
            return;
        }
        self.counters.registrations += 1;
        let lifetime = pba.lifetime.as_duration();
        let previous: Vec<(Ipv6Addr, Ipv6Net)> = pba
            .options
            .iter()
            .filter_map(|o| match o {
                MobilityOption::PreviousMaar { maar, prefix } => Some((*maar, prefix.trunc())),
                _ => None,
            })
            .collect();
        // Fixed prefixes relocated here (RFC 8818 section 4.3): Home Network Prefix options.
        let relocated: BTreeSet<Ipv6Net> = pba
            .options
            .iter()
            .filter_map(|o| match o {
                MobilityOption::HomeNetworkPrefix(p) => Some(p.trunc()),
                _ => None,
            })
            .filter(|p| *p != served.prefix && !served.relocated.contains(p))
            .collect();
        if served.reclaimed.is_some() {
            // The node is back here: its prefix is delivered on the access link again.
            actions.push(Action::RemoveBinding {
                prefix: served.prefix,
            });
        }
        for prefix in &relocated {
            tracing::info!("{mn}: {prefix} is relocated here (fixed)");
            // One of this MAAR's own /64s, lent out earlier, is back.
            self.lent.remove(prefix);
            actions.push(Action::AddRoute {
                prefix: *prefix,
                dev: served.dev.clone(),
                mac: mn.mac(),
            });
        }
        if !served.route {
            actions.push(Action::AddRoute {
                prefix: served.prefix,
                dev: served.dev.clone(),
                mac: mn.mac(),
            });
        }
        for prefix in served.visiting.keys() {
            if !previous.iter().any(|(_, p)| p == prefix) {
                actions.push(Action::RemoveBinding { prefix: *prefix });
            }
        }
        for (home, prefix) in &previous {
            if !served.visiting.contains_key(prefix) {
                actions.push(Action::AddBinding {
                    prefix: *prefix,
                    kind: self.visiting_kind(*home, relocated.contains(prefix), &served.dev, &mn),
                });
            }
        }
        if served.phase == Phase::Registering {
            // The registration's PBU left with the attachment.
            self.counters.attachment_to_binding.observe(waited);
            tracing::info!(
                "{mn} registered with {} and {} prefix(es) anchored elsewhere",
                served.prefix,
                previous.len()
            );
        }
        if let Some(s) = self.served.get_mut(&mn) {
            s.phase = Phase::Registered;
            s.route = true;
            s.reclaimed = None;
            s.visiting = previous.into_iter().map(|(home, p)| (p, home)).collect();
            s.relocated.extend(relocated);
            s.refresh_at = Some(now.instant + lifetime / 2);
            s.expires_at = Some(now.instant + lifetime);
        }
    }

    /// The visiting binding of `prefix`, anchored at `home`, for `mn` on `dev`. A prefix
    /// anchored elsewhere is delivered onto `dev` by the binding's own route (and the node's L2
    /// next hop), its uplink reverse-tunnelled as configured. A `relocated` prefix is anchored
    /// here now and routed by this MAAR's own route ([`Action::AddRoute`], the one a routing
    /// daemon announces): its binding, the receiving end of its old anchor's bridge while
    /// routing converges, names no `dev`, so that the binding table neither adds that route a
    /// second time (it refuses a route that exists, and the binding with it) nor removes it
    /// with the binding; its uplink goes straight out.
    pub(super) fn visiting_kind(
        &self,
        home: Ipv6Addr,
        relocated: bool,
        dev: &str,
        mn: &MnId,
    ) -> MaarBindingKind {
        if relocated {
            return MaarBindingKind::Visiting {
                home,
                reverse_tunnel: false,
                dev: None,
                mac: None,
            };
        }
        MaarBindingKind::Visiting {
            home,
            reverse_tunnel: self.reverse_tunnel,
            dev: Some(dev.to_owned()),
            mac: mn.mac(),
        }
    }

    /// Removes everything of a served node and returns its prefix to its pool; a node that came
    /// back and was not registered again goes back to being anchored here (its redirect stayed).
    pub(super) fn release_served(&mut self, mn: &MnId, actions: &mut Vec<Action>) {
        let back = self
            .served
            .get(mn)
            .is_some_and(|s| s.reclaimed.is_some() && s.phase == Phase::Registering);
        if back && let Some(mut served) = self.served.remove(mn) {
            self.forget_registrations(mn);
            if let Some(anchored) = served.reclaimed.take() {
                tracing::warn!(
                    "{mn} was not registered again: {} stays redirected to {}",
                    served.prefix,
                    anchored.serving
                );
                self.anchored.insert(served.prefix, anchored);
            }
            return;
        }
        if let Some(served) = self.drop_served(mn, actions) {
            self.release_prefix(&served.prefix);
            // Relocated prefixes of this MAAR's own pools, back here with the node, go back
            // to the pool with it.
            for prefix in &served.relocated {
                self.release_prefix(prefix);
            }
        }
    }

    /// Forgets the registrations of `mn` in flight (those with a Local Prefix option), not the
    /// idle releases of its other prefixes.
    pub(super) fn forget_registrations(&mut self, mn: &MnId) {
        let id = MobilityOption::MnId(mn.clone());
        self.retransmit.forget_where(self.cmd, |m| {
            m.options().contains(&id)
                && m.options()
                    .iter()
                    .any(|o| matches!(o, MobilityOption::LocalPrefix(_)))
        });
    }

    /// Removes a served node's route, visiting bindings and updates in flight; its prefix stays
    /// delegated.
    pub(super) fn drop_served(&mut self, mn: &MnId, actions: &mut Vec<Action>) -> Option<Served> {
        let served = self.served.remove(mn)?;
        self.forget_registrations(mn);
        if served.route {
            actions.push(Action::RemoveRoute {
                prefix: served.prefix,
                dev: served.dev.clone(),
            });
        }
        if served.reclaimed.is_some() {
            // Its redirect is still installed.
            actions.push(Action::RemoveBinding {
                prefix: served.prefix,
            });
        }
        actions.extend(served.relocated.iter().map(|prefix| Action::RemoveRoute {
            prefix: *prefix,
            dev: served.dev.clone(),
        }));
        actions.extend(
            served
                .visiting
                .keys()
                .map(|prefix| Action::RemoveBinding { prefix: *prefix }),
        );
        Some(served)
    }

    pub(super) fn release_prefix(&mut self, prefix: &Ipv6Net) {
        if let Some(pool) = self.pools.iter_mut().find(|p| p.contains(prefix)) {
            pool.release(prefix);
        }
    }
}
