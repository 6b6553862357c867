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
//!   lifetime 0 the redirects go and the prefixes return to their pools.

use std::{
    collections::BTreeMap,
    net::Ipv6Addr,
    time::{Duration, Instant},
};

use anchor_cmd::{
    engine::{Now, Outgoing},
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
             {} retransmitted, {} given up",
            self.registrations,
            self.refused,
            self.accepted,
            self.rejected_total(),
            anchor_cmd::counters::by_status(&self.rejected),
            self.dropped,
            self.retransmissions,
            self.gave_up
        )
    }
}

/// Where a served node's registration stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
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
    /// Prefixes anchored elsewhere that this MAAR delivers (visiting bindings).
    visiting: Vec<Ipv6Net>,
}

/// A prefix delegated here to a node now served by another MAAR.
#[derive(Debug, Clone)]
struct Anchored {
    mn: MnId,
    serving: Ipv6Addr,
    policy: Policy,
}

/// What `mn` holds here, for the API and tests.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServedInfo {
    pub prefix: Ipv6Net,
    pub dev: String,
    pub policy: Policy,
    pub phase: Phase,
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
        self.served.get(mn).map(|s| ServedInfo {
            prefix: s.prefix,
            dev: s.dev.clone(),
            policy: s.policy,
            phase: s.phase,
        })
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
                .chain(s.visiting.iter().map(|&prefix| Advert {
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
        let (prefix, policy) = self
            .pools
            .iter_mut()
            .find_map(|pool| pool.allocate().map(|p| (p, pool.policy())))
            .ok_or(MaarError::PoolExhausted)?;
        tracing::info!("{mn} attached on {dev}: delegated {prefix} ({policy:?})");
        let mut served = Served {
            dev: dev.to_owned(),
            prefix,
            policy,
            phase: Phase::Registering,
            sequence: 0,
            refresh_at: None,
            expires_at: None,
            route: false,
            visiting: Vec::new(),
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
    }

    fn send_pbu(
        &mut self,
        now: Now,
        mn: &MnId,
        prefix: Ipv6Net,
        lifetime: Duration,
        out: &mut Vec<Outgoing>,
    ) -> u16 {
        let sequence = self.next_sequence;
        self.next_sequence = self.next_sequence.wrapping_add(1);
        let message = MobilityHeader::Pbu(Pbu {
            sequence,
            flags: PbuFlags::A | PbuFlags::P | PbuFlags::D,
            lifetime: Lifetime::from_duration_floor(lifetime),
            options: vec![
                MobilityOption::MnId(mn.clone()),
                MobilityOption::Timestamp(Timestamp::from_system_time(now.wall)),
                MobilityOption::LocalPrefix(prefix),
            ],
        });
        let id = MobilityOption::MnId(mn.clone());
        self.retransmit
            .forget_where(self.cmd, |m| m.options().contains(&id));
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
        if !served.route {
            actions.push(Action::AddRoute {
                prefix: served.prefix,
                dev: served.dev.clone(),
            });
        }
        for prefix in &served.visiting {
            if !previous.iter().any(|(_, p)| p == prefix) {
                actions.push(Action::RemoveBinding { prefix: *prefix });
            }
        }
        for (home, prefix) in &previous {
            if !served.visiting.contains(prefix) {
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
            s.visiting = previous.into_iter().map(|(_, p)| p).collect();
            s.refresh_at = Some(now.instant + lifetime / 2);
            s.expires_at = Some(now.instant + lifetime);
        }
    }

    /// Removes everything of a served node and returns its prefix to its pool.
    fn release_served(&mut self, mn: &MnId, actions: &mut Vec<Action>) {
        if let Some(served) = self.drop_served(mn, actions) {
            self.release_prefix(&served.prefix);
        }
    }

    /// Removes a served node's route, visiting bindings and updates in flight; its prefix stays
    /// delegated.
    fn drop_served(&mut self, mn: &MnId, actions: &mut Vec<Action>) -> Option<Served> {
        let served = self.served.remove(mn)?;
        let id = MobilityOption::MnId(mn.clone());
        self.retransmit
            .forget_where(self.cmd, |m| m.options().contains(&id));
        if served.route {
            actions.push(Action::RemoveRoute {
                prefix: served.prefix,
                dev: served.dev.clone(),
            });
        }
        actions.extend(
            served
                .visiting
                .iter()
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
        let (mn, timestamp) = anchor_cmd::engine::mn_id_and_timestamp(&pbu);
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
                self.apply_pbu(&mn, &pbu, &prefixes, actions);
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
        let prefixes: Vec<Ipv6Net> = pbu
            .options
            .iter()
            .filter_map(|o| match o {
                MobilityOption::AnchoredPrefix(p) => Some(p.trunc()),
                _ => None,
            })
            .collect();
        if prefixes.is_empty() {
            return Err(Status::MISSING_HOME_NETWORK_PREFIX_OPTION);
        }
        let deregistration = pbu.lifetime == Lifetime::DEREGISTRATION;
        for prefix in &prefixes {
            let served_here = self.served.get(mn).is_some_and(|s| s.prefix == *prefix);
            let anchored_here = self.anchored.get(prefix).is_some_and(|a| &a.mn == mn);
            // A de-registration of a prefix already released changes nothing and is accepted.
            let in_pool = self.pools.iter().any(|p| p.contains(prefix));
            if !(served_here || anchored_here || (deregistration && in_pool)) {
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

    fn apply_pbu(&mut self, mn: &MnId, pbu: &Pbu, prefixes: &[Ipv6Net], actions: &mut Vec<Action>) {
        if pbu.lifetime == Lifetime::DEREGISTRATION {
            for prefix in prefixes {
                if self.served.get(mn).is_some_and(|s| s.prefix == *prefix) {
                    self.release_served(mn, actions);
                } else if self.anchored.remove(prefix).is_some() {
                    actions.push(Action::RemoveBinding { prefix: *prefix });
                    self.release_prefix(prefix);
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
                self.anchored.insert(
                    *prefix,
                    Anchored {
                        mn: mn.clone(),
                        serving,
                        policy,
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

#[cfg(test)]
#[path = "engine_tests.rs"]
mod tests;
