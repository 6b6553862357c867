//! The MAAR's signaling logic (RFC 8885 section 3), without I/O: requests, received messages
//! and the time go in; the messages to send and the changes to make (routes, bindings) come out.
//! The service ([`super::service`]) feeds it from the socket, a timer and the API; tests feed it
//! directly with a fake clock.
//!
//! - Attachment: a /64 from the first pool with room, then a PBU (A, P, D flags; MN-ID,
//!   Timestamp, Local Prefix) to the CMD, retransmitted with RFC 6275 back-off until the PBA.
//!   An accepted PBA installs the local prefix's route on the access interface and a
//!   `Visiting { home }` binding per Previous MAAR option; the registration is refreshed at
//!   half its lifetime, and all state of the node goes when the lifetime ends unrefreshed.
//! - Detachment: a PBU with lifetime 0; its PBA (or giving up) removes the state and returns
//!   the prefix to its pool.
//! - CMD-initiated PBUs, accepted only from the CMD (else status 154) with the P flag (152), an
//!   MN-ID (160), a timely Timestamp (156; the CMD retransmits an update unchanged, so up to
//!   twice MAX_BINDACK_TIMEOUT old is timely; 157 when not newer than the last one, but the
//!   same update again is acknowledged again without a change) and Anchored
//!   Prefix options (158) that this MAAR delegated to that node (155): with a Serving MAAR
//!   option (129 without) the node left, and each prefix gets `Redirect { serving }`; with
//!   lifetime 0 the redirects go and the prefixes return to their pools. A lifetime-0 PBU
//!   naming a prefix a served node visits here (its anchor released it) removes that
//!   `Visiting` binding, and the Router Advertisements stop carrying the prefix.
//! - Idle release of `session-lasting` redirects (`engine_idle.rs`; not in the RFCs, our own
//!   use of their messages): the service feeds the packet counts of each redirected
//!   prefix ([`observe_traffic`](MaarEngine::observe_traffic)); when the count has not moved
//!   for the pool's `idle_release_s`, the MAAR sends the CMD a PBU with lifetime 0, MN-ID,
//!   Timestamp and an Anchored Prefix option for the prefix (retransmitted like the others).
//!   The CMD drops the prefix from the node's record, accepts (status 0, lifetime 0) and tells
//!   the serving MAAR with a lifetime-0 PBU carrying Serving MAAR and Anchored Prefix. On the
//!   accepted PBA the redirect goes and the prefix returns to its pool; on a rejection or
//!   without an answer the redirect stays and the idle time is measured again.
//! - Restarts ([`persist`](super::persist)): [`snapshot`](MaarEngine::snapshot) is the durable
//!   state, which the service saves at every change; [`restore`](MaarEngine::restore) takes
//!   it back, re-registers each served node at once and asks for its routes and bindings.

use std::{
    collections::BTreeMap,
    net::Ipv6Addr,
    time::{Duration, Instant},
};

use anchor_pmip::{
    Now, Outgoing,
    message::anchored_prefixes,
    retransmit::{Due, Retransmitter},
    timing::SignalingTiming,
};
use anchor_signal::{
    Lifetime, MnId, MobilityHeader, MobilityOption, Pba, PbaFlags, Pbu, PbuFlags, Status, Timestamp,
};
use ipnet::Ipv6Net;
use thiserror::Error;

use super::{
    config::{MaarConfig, Policy},
    pool::Pool,
    ra::Advert,
};
use crate::state::BindingKind;

/// A change to the router that the engine asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// The route of a delegated prefix toward its node: `prefix dev dev`.
    AddRoute {
        prefix: Ipv6Net,
        dev: String,
    },
    RemoveRoute {
        prefix: Ipv6Net,
        dev: String,
    },
    AddBinding {
        prefix: Ipv6Net,
        kind: BindingKind,
    },
    RemoveBinding {
        prefix: Ipv6Net,
    },
}

#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum MaarError {
    #[error("dev {dev} is not an access interface of this router")]
    NotAccess { dev: String },
    #[error("no free /64 left in any [[maar.pool]]")]
    PoolExhausted,
    #[error("mobile node {mn} is not attached here")]
    UnknownMn { mn: MnId },
    #[error("mobile node {mn} is being detached")]
    Detaching { mn: MnId },
    #[error("the MAAR service has stopped")]
    Stopped,
}

/// What the MAAR counts.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Counters {
    /// CMD-initiated PBUs answered with status 0.
    pub accepted: u64,
    /// CMD-initiated (or unauthorized) PBUs answered with a rejection, by status code.
    pub rejected: BTreeMap<u8, u64>,
    /// Messages that did not decode, or that nothing waits for.
    pub dropped: u64,
    /// Registrations (and refreshes) the CMD accepted.
    pub registrations: u64,
    /// Registrations the CMD rejected.
    pub refused: u64,
    pub retransmissions: u64,
    pub gave_up: u64,
    /// Redirects released after their idle time (`session-lasting`), with the CMD's consent.
    pub idle_released: u64,
}

impl Counters {
    pub fn rejected_with(&self, status: Status) -> u64 {
        self.rejected.get(&status.0).copied().unwrap_or(0)
    }

    pub fn rejected_total(&self) -> u64 {
        self.rejected.values().sum()
    }

    /// One line for the periodic report: the rejections by status.
    pub fn summary(&self) -> String {
        format!(
            "{} registrations, {} refused, {} CMD updates accepted, {} rejected{}, {} dropped, \
             {} retransmitted, {} given up, {} released idle",
            self.registrations,
            self.refused,
            self.accepted,
            self.rejected_total(),
            anchor_pmip::report::by_status(&self.rejected),
            self.dropped,
            self.retransmissions,
            self.gave_up,
            self.idle_released
        )
    }
}

/// Where a served node's registration stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Phase {
    /// The PBU is out; nothing installed yet.
    Registering,
    Registered,
    /// The lifetime-0 PBU is out.
    Deregistering,
}

/// A node attached here.
#[derive(Debug, Clone)]
struct Served {
    dev: String,
    prefix: Ipv6Net,
    policy: Policy,
    phase: Phase,
    /// The sequence number of the PBU waiting for its PBA.
    sequence: u16,
    refresh_at: Option<Instant>,
    expires_at: Option<Instant>,
    route: bool,
    /// Prefixes anchored elsewhere that this MAAR delivers (visiting bindings), with their
    /// anchors.
    visiting: BTreeMap<Ipv6Net, Ipv6Addr>,
    /// The node came back while its prefix was anchored (redirected) here: what it was, until
    /// the CMD accepts the registration (which ends the redirect) or refuses it (which puts
    /// it back).
    reclaimed: Option<Anchored>,
}

/// A prefix delegated here to a node now served by another MAAR.
#[derive(Debug, Clone)]
struct Anchored {
    mn: MnId,
    serving: Ipv6Addr,
    policy: Policy,
    /// The pool's idle time before the redirect is released; `None`: never.
    idle_release: Option<Duration>,
    /// The packet count of the redirect last observed; `None` before the first observation
    /// after a restart.
    packets: Option<u64>,
    /// When the redirect began or its packet count last changed.
    active_at: Instant,
    /// The sequence number of the idle release in flight.
    releasing: Option<u16>,
}

/// What `mn` holds here, for the API and tests.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServedInfo {
    pub prefix: Ipv6Net,
    pub dev: String,
    pub policy: Policy,
    pub phase: Phase,
    /// The prefixes anchored elsewhere that it keeps using through this MAAR.
    pub visiting: Vec<Ipv6Net>,
}

/// A prefix anchored here for a node served elsewhere, for the API.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AnchoredInfo {
    pub prefix: Ipv6Net,
    pub mn: MnId,
    pub serving: Ipv6Addr,
    pub policy: Policy,
    /// How long the redirect has carried no packet, when it is released on idle.
    pub idle: Option<Duration>,
    /// The idle time after which it is released.
    pub idle_release: Option<Duration>,
    /// Its idle release is out, waiting for the CMD's answer.
    pub release_pending: bool,
}

/// Everything the MAAR holds, for `anchor mn list`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MnList {
    pub served: Vec<(MnId, ServedInfo)>,
    pub anchored: Vec<AnchoredInfo>,
}

impl Served {
    fn info(&self) -> ServedInfo {
        ServedInfo {
            prefix: self.prefix,
            dev: self.dev.clone(),
            policy: self.policy,
            phase: self.phase,
            visiting: self.visiting.keys().copied().collect(),
        }
    }
}

pub struct MaarEngine {
    address: Ipv6Addr,
    cmd: Ipv6Addr,
    reverse_tunnel: bool,
    lifetime: Duration,
    window: Duration,
    /// How long the CMD may retransmit an update unchanged (twice MAX_BINDACK_TIMEOUT bounds
    /// the sum of its back-off waits).
    retransmit_span: Duration,
    access: Vec<String>,
    pools: Vec<Pool>,
    served: BTreeMap<MnId, Served>,
    anchored: BTreeMap<Ipv6Net, Anchored>,
    /// The timestamp and sequence number of the last update accepted from the CMD, per node.
    last_cmd: BTreeMap<MnId, (Timestamp, u16)>,
    retransmit: Retransmitter,
    next_sequence: u16,
    counters: Counters,
}

impl MaarEngine {
    /// `access`: the names of the access interfaces nodes may attach on.
    pub fn new(config: &MaarConfig, locator: Ipv6Addr, access: Vec<String>) -> Self {
        Self {
            address: config.address(locator),
            cmd: config.cmd,
            reverse_tunnel: config.reverse_tunnel,
            lifetime: config.lifetime(),
            window: config.timestamp_window(),
            retransmit_span: config.max_bindack_timeout() * 2,
            access,
            pools: config.pools.iter().map(Pool::new).collect(),
            served: BTreeMap::new(),
            anchored: BTreeMap::new(),
            last_cmd: BTreeMap::new(),
            retransmit: Retransmitter::new(
                config.initial_bindack_timeout(),
                config.max_bindack_timeout(),
            ),
            next_sequence: 1,
            counters: Counters::default(),
        }
    }

    pub fn address(&self) -> Ipv6Addr {
        self.address
    }

    pub fn cmd(&self) -> Ipv6Addr {
        self.cmd
    }

    pub fn counters(&self) -> &Counters {
        &self.counters
    }

    pub fn served(&self, mn: &MnId) -> Option<ServedInfo> {
        self.served.get(mn).map(Served::info)
    }

    /// The nodes served here and the prefixes anchored here for nodes served elsewhere.
    pub fn list(&self, now: Instant) -> MnList {
        MnList {
            served: self
                .served
                .iter()
                .map(|(mn, s)| (mn.clone(), s.info()))
                .collect(),
            anchored: self
                .anchored
                .iter()
                .map(|(prefix, a)| AnchoredInfo {
                    prefix: *prefix,
                    mn: a.mn.clone(),
                    serving: a.serving,
                    policy: a.policy,
                    idle: a
                        .idle_release
                        .map(|_| now.saturating_duration_since(a.active_at)),
                    idle_release: a.idle_release,
                    release_pending: a.releasing.is_some(),
                })
                .collect(),
        }
    }

    /// The node, the serving MAAR and the policy of a prefix anchored here for a node served elsewhere.
    pub fn anchored(&self, prefix: &Ipv6Net) -> Option<(MnId, Ipv6Addr, Policy)> {
        self.anchored
            .get(prefix)
            .map(|a| (a.mn.clone(), a.serving, a.policy))
    }

    /// What the Router Advertisements on `dev` carry: the local prefix of each node registered
    /// there, and the prefixes it holds from other MAARs as deprecated.
    pub fn advertised(&self, dev: &str) -> Vec<Advert> {
        self.served
            .values()
            .filter(|s| s.dev == dev && s.phase == Phase::Registered)
            .flat_map(|s| {
                std::iter::once(Advert {
                    prefix: s.prefix,
                    deprecated: false,
                })
                .chain(s.visiting.keys().map(|&prefix| Advert {
                    prefix,
                    deprecated: true,
                }))
            })
            .collect()
    }

    /// When [`poll`](Self::poll) next has work.
    pub fn next_deadline(&self) -> Option<Instant> {
        self.served
            .values()
            .flat_map(|s| [s.refresh_at, s.expires_at])
            .flatten()
            .chain(self.retransmit.next_due())
            .chain(self.next_idle_release())
            .min()
    }

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
            reclaimed,
        };
        served.sequence = self.send_pbu(now, &mn, prefix, self.lifetime, out);
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
        let sequence = self.send_pbu(now, mn, prefix, Duration::ZERO, out);
        if let Some(s) = self.served.get_mut(mn) {
            s.phase = Phase::Deregistering;
            s.sequence = sequence;
            s.refresh_at = None;
        }
        tracing::info!("{mn} detached: de-registering {prefix}");
        Ok(prefix)
    }

    /// Handles a message from `from`.
    pub fn handle(
        &mut self,
        now: Now,
        from: Ipv6Addr,
        message: MobilityHeader,
        out: &mut Vec<Outgoing>,
        actions: &mut Vec<Action>,
    ) {
        match message {
            MobilityHeader::Pba(pba) => self.handle_pba(now, from, pba, actions),
            MobilityHeader::Pbu(pbu) => self.handle_pbu(now, from, pbu, out, actions),
        }
    }

    /// Counts a message that did not decode.
    pub fn malformed(&mut self) {
        self.counters.dropped += 1;
    }

    /// Retransmissions, refreshes and expiries due at `now`.
    pub fn poll(&mut self, now: Now, out: &mut Vec<Outgoing>, actions: &mut Vec<Action>) {
        for due in self.retransmit.poll(now.instant) {
            match due {
                Due::Resend { to, message } => {
                    self.counters.retransmissions += 1;
                    out.push(Outgoing {
                        to,
                        message: restamped(message, now),
                    });
                }
                Due::GiveUp { to, sequence } => {
                    self.counters.gave_up += 1;
                    tracing::warn!("no acknowledgement from the CMD {to} for update {sequence}");
                    let gone = self
                        .served
                        .iter()
                        .find(|(_, s)| s.sequence == sequence && s.phase != Phase::Registered)
                        .map(|(mn, _)| mn.clone());
                    if let Some(mn) = gone {
                        self.release_served(&mn, actions);
                    }
                    self.release_failed(now, sequence);
                }
            }
        }
        let refresh: Vec<(MnId, Ipv6Net)> = self
            .served
            .iter()
            .filter(|(_, s)| s.phase == Phase::Registered)
            .filter(|(_, s)| s.refresh_at.is_some_and(|t| t <= now.instant))
            .map(|(mn, s)| (mn.clone(), s.prefix))
            .collect();
        for (mn, prefix) in refresh {
            let sequence = self.send_pbu(now, &mn, prefix, self.lifetime, out);
            if let Some(s) = self.served.get_mut(&mn) {
                s.sequence = sequence;
                s.refresh_at = None;
            }
        }
        let expired: Vec<MnId> = self
            .served
            .iter()
            .filter(|(_, s)| s.expires_at.is_some_and(|t| t <= now.instant))
            .map(|(mn, _)| mn.clone())
            .collect();
        for mn in expired {
            tracing::warn!("the registration of {mn} expired");
            self.release_served(&mn, actions);
        }
        self.poll_idle(now, out);
    }

    fn send_pbu(
        &mut self,
        now: Now,
        mn: &MnId,
        prefix: Ipv6Net,
        lifetime: Duration,
        out: &mut Vec<Outgoing>,
    ) -> u16 {
        // It replaces a registration of the node in flight (not an idle release).
        let id = MobilityOption::MnId(mn.clone());
        self.send_to_cmd(
            now,
            mn,
            Lifetime::from_duration_floor(lifetime),
            MobilityOption::LocalPrefix(prefix),
            |m| {
                m.options().contains(&id)
                    && m.options()
                        .iter()
                        .any(|o| matches!(o, MobilityOption::LocalPrefix(_)))
            },
            out,
        )
    }

    /// Sends the CMD a PBU about `mn` with `lifetime` and `prefix` (its Local or Anchored Prefix
    /// option), retransmitted until answered, in place of the ones in flight that `replaces`
    /// picks: its sequence number.
    fn send_to_cmd(
        &mut self,
        now: Now,
        mn: &MnId,
        lifetime: Lifetime,
        prefix: MobilityOption,
        replaces: impl Fn(&MobilityHeader) -> bool,
        out: &mut Vec<Outgoing>,
    ) -> u16 {
        let sequence = self.next_sequence;
        self.next_sequence = self.next_sequence.wrapping_add(1);
        let message = MobilityHeader::Pbu(Pbu {
            sequence,
            flags: PbuFlags::A | PbuFlags::P | PbuFlags::D,
            lifetime,
            options: vec![
                MobilityOption::MnId(mn.clone()),
                MobilityOption::Timestamp(Timestamp::from_system_time(now.wall)),
                prefix,
            ],
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

    fn handle_pba(&mut self, now: Now, from: Ipv6Addr, pba: Pba, actions: &mut Vec<Action>) {
        let mn = pba.options.iter().find_map(|o| match o {
            MobilityOption::MnId(id) => Some(id.clone()),
            _ => None,
        });
        if from == self.cmd && self.release_answered(now, mn.as_ref(), &pba, actions) {
            return;
        }
        let waiting = from == self.cmd
            && mn
                .as_ref()
                .and_then(|mn| self.served.get(mn))
                .is_some_and(|s| s.sequence == pba.sequence)
            && self.retransmit.acknowledged(from, pba.sequence);
        let (true, Some(mn)) = (waiting, mn) else {
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
        if served.reclaimed.is_some() {
            // The node is back here: its prefix is delivered on the access link again.
            actions.push(Action::RemoveBinding {
                prefix: served.prefix,
            });
        }
        if !served.route {
            actions.push(Action::AddRoute {
                prefix: served.prefix,
                dev: served.dev.clone(),
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
                    kind: BindingKind::Visiting {
                        home: *home,
                        reverse_tunnel: self.reverse_tunnel,
                        dev: Some(served.dev.clone()),
                    },
                });
            }
        }
        if served.phase == Phase::Registering {
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
            s.refresh_at = Some(now.instant + lifetime / 2);
            s.expires_at = Some(now.instant + lifetime);
        }
    }

    /// Removes everything of a served node and returns its prefix to its pool; a node that came
    /// back and was not registered again goes back to being anchored here (its redirect stayed).
    fn release_served(&mut self, mn: &MnId, actions: &mut Vec<Action>) {
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
        }
    }

    /// Forgets the registrations of `mn` in flight (those with a Local Prefix option), not the
    /// idle releases of its other prefixes.
    fn forget_registrations(&mut self, mn: &MnId) {
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
    fn drop_served(&mut self, mn: &MnId, actions: &mut Vec<Action>) -> Option<Served> {
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
        actions.extend(
            served
                .visiting
                .keys()
                .map(|prefix| Action::RemoveBinding { prefix: *prefix }),
        );
        Some(served)
    }

    fn release_prefix(&mut self, prefix: &Ipv6Net) {
        if let Some(pool) = self.pools.iter_mut().find(|p| p.contains(prefix)) {
            pool.release(prefix);
        }
    }

    fn handle_pbu(
        &mut self,
        now: Now,
        from: Ipv6Addr,
        pbu: Pbu,
        out: &mut Vec<Outgoing>,
        actions: &mut Vec<Action>,
    ) {
        let (mn, timestamp) = anchor_pmip::message::mn_id_and_timestamp(&pbu);
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
            self.check_pbu(now, from, &pbu, mn.as_ref(), timestamp)
                .map(Some)
        };
        let status = match checked {
            Ok(None) => {
                self.counters.accepted += 1;
                Status::ACCEPTED
            }
            Ok(Some((mn, timestamp, prefixes))) => {
                self.apply_pbu(now, &mn, &pbu, &prefixes, actions);
                self.last_cmd.insert(mn, (timestamp, pbu.sequence));
                self.counters.accepted += 1;
                Status::ACCEPTED
            }
            Err(status) => {
                *self.counters.rejected.entry(status.0).or_default() += 1;
                tracing::warn!(
                    "rejected PBU {} from {from} (MN {}) with status {}",
                    pbu.sequence,
                    mn.as_ref().map_or("?".to_owned(), MnId::to_string),
                    status.0
                );
                status
            }
        };
        let stamp = if status == Status::TIMESTAMP_MISMATCH
            || status == Status::TIMESTAMP_LOWER_THAN_PREV_ACCEPTED
        {
            Some(Timestamp::from_system_time(now.wall))
        } else {
            timestamp
        };
        let mut options: Vec<MobilityOption> = mn.into_iter().map(MobilityOption::MnId).collect();
        options.extend(stamp.map(MobilityOption::Timestamp));
        out.push(Outgoing {
            to: from,
            message: MobilityHeader::Pba(Pba {
                status,
                flags: PbaFlags::P | PbaFlags::D,
                sequence: pbu.sequence,
                lifetime: if status.is_accepted() {
                    pbu.lifetime
                } else {
                    Lifetime::DEREGISTRATION
                },
                options,
            }),
        });
    }

    /// The checks of a CMD-initiated PBU: the node, its timestamp and the prefixes, or the
    /// status to reject it with.
    fn check_pbu(
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
            let served_here = self.served.get(mn).is_some_and(|s| s.prefix == *prefix);
            let anchored_here = self.anchored.get(prefix).is_some_and(|a| &a.mn == mn);
            // Its anchor released a prefix the node visits here.
            let visiting_here = self
                .served
                .get(mn)
                .is_some_and(|s| s.visiting.contains_key(prefix));
            // A de-registration of a prefix already released changes nothing and is accepted.
            let in_pool = self.pools.iter().any(|p| p.contains(prefix));
            if !(served_here || anchored_here || (deregistration && (in_pool || visiting_here))) {
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

    fn apply_pbu(
        &mut self,
        now: Now,
        mn: &MnId,
        pbu: &Pbu,
        prefixes: &[Ipv6Net],
        actions: &mut Vec<Action>,
    ) {
        if pbu.lifetime == Lifetime::DEREGISTRATION {
            for prefix in prefixes {
                if self.served.get(mn).is_some_and(|s| s.prefix == *prefix) {
                    self.release_served(mn, actions);
                } else if self.anchored.remove(prefix).is_some() {
                    // An idle release of it in flight has nothing left to do.
                    let anchored = MobilityOption::AnchoredPrefix(*prefix);
                    self.retransmit
                        .forget_where(self.cmd, |m| m.options().contains(&anchored));
                    actions.push(Action::RemoveBinding { prefix: *prefix });
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
        for prefix in prefixes {
            if let Some(served) = self.served.get(mn).filter(|s| s.prefix == *prefix) {
                if served.policy == Policy::Nonpersistent {
                    // RFC 8818 section 4.1: the node's flows on this prefix end with the move.
                    // (A CMD that knows the policy de-registers it instead.)
                    self.release_served(mn, actions);
                    tracing::info!("{mn} is served at {serving}: released nonpersistent {prefix}");
                    continue;
                }
                // The node left: stop serving it, keep anchoring its prefix.
                let policy = served.policy;
                self.drop_served(mn, actions);
                let idle_release = self.idle_release_of(prefix);
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
                    },
                );
                actions.push(Action::AddBinding {
                    prefix: *prefix,
                    kind: BindingKind::Redirect { serving },
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
                    kind: BindingKind::Redirect { serving },
                });
            }
            tracing::info!("{mn} is served at {serving}: redirecting {prefix}");
        }
    }
}

/// `message` with its Timestamp option set to `now` (a retransmission is a new update for the
/// receiver's replay check, RFC 5213 section 5.5).
fn restamped(message: MobilityHeader, now: Now) -> MobilityHeader {
    let stamp = |options: Vec<MobilityOption>| {
        options
            .into_iter()
            .map(|o| match o {
                MobilityOption::Timestamp(_) => {
                    MobilityOption::Timestamp(Timestamp::from_system_time(now.wall))
                }
                other => other,
            })
            .collect()
    };
    match message {
        MobilityHeader::Pbu(mut pbu) => {
            pbu.options = stamp(pbu.options);
            MobilityHeader::Pbu(pbu)
        }
        MobilityHeader::Pba(mut pba) => {
            pba.options = stamp(pba.options);
            MobilityHeader::Pba(pba)
        }
    }
}

#[path = "engine_idle.rs"]
mod idle;
#[path = "engine_persist.rs"]
mod restore;

#[cfg(test)]
#[path = "engine_idle_tests.rs"]
mod idle_tests;
#[cfg(test)]
#[path = "engine_persist_tests.rs"]
mod persist_tests;
#[cfg(test)]
#[path = "engine_tests.rs"]
mod tests;
