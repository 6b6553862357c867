//! The MAAR's signaling logic (RFC 8885 section 3), without I/O: requests, received messages
//! and the time go in; the messages to send and the changes to make (routes, bindings) come out.
//! The service ([`crate::service`]) feeds it from the socket, a timer and the API; tests feed it
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
//! - Idle release of `session-lasting` redirects (`idle.rs`; not in the RFCs, our own
//!   use of their messages): the service feeds the packet counts of each redirected
//!   prefix ([`observe_traffic`](MaarEngine::observe_traffic)); when the count has not moved
//!   for the pool's `idle_release_s`, the MAAR sends the CMD a PBU with lifetime 0, MN-ID,
//!   Timestamp and an Anchored Prefix option for the prefix (retransmitted like the others).
//!   The CMD drops the prefix from the node's record, accepts (status 0, lifetime 0) and tells
//!   the serving MAAR with a lifetime-0 PBU carrying Serving MAAR and Anchored Prefix. On the
//!   accepted PBA the redirect goes and the prefix returns to its pool; on a rejection or
//!   without an answer the redirect stays and the idle time is measured again.
//! - Restarts ([`persist`](crate::persist)): [`snapshot`](MaarEngine::snapshot) is the durable
//!   state, which the service saves at every change; [`restore`](MaarEngine::restore) takes
//!   it back, re-registers each served node at once and asks for its routes and bindings.

use std::{
    collections::{BTreeMap, BTreeSet},
    net::Ipv6Addr,
    time::{Duration, Instant},
};

use anchor_pmip::{
    Now, Outgoing,
    histogram::Histogram,
    retransmit::{Due, Retransmitter},
    timing::SignalingTiming,
};
use anchor_signal::{HandoffIndicator, MnId, MobilityHeader, MobilityOption, Status, Timestamp};
use ipnet::Ipv6Net;
use thiserror::Error;

use crate::{
    config::{MaarConfig, Policy},
    pool::Pool,
    port::MaarBindingKind,
    ra::Advert,
};

/// A change to the router that the engine asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// The route of a delegated prefix toward its node: `prefix dev dev`; `mac` is the node's
    /// MAC address when its MN-ID is one (EUI-48), to which the prefix's sources are tied on
    /// the access link.
    AddRoute {
        prefix: Ipv6Net,
        dev: String,
        mac: Option<[u8; 6]>,
    },
    RemoveRoute {
        prefix: Ipv6Net,
        dev: String,
    },
    AddBinding {
        prefix: Ipv6Net,
        kind: MaarBindingKind,
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
    /// From each PBU's first sending to the CMD's PBA.
    pub pbu_to_pba: Histogram,
    /// From a node's attachment to the PBA of its registration (its routes and bindings).
    pub attachment_to_binding: Histogram,
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

pub use crate::persist::Phase;

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
    /// `fixed` prefixes of other anchors relocated here with the node (RFC 8818 section 4.3):
    /// routed onto its access link (the route that routing announces) and advertised as its
    /// own. While routing converges, their previous anchor redirects them here (a visiting
    /// binding without reverse tunnel).
    relocated: BTreeSet<Ipv6Net>,
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
    /// A redirect the node asked for itself (client-based DMM, [`client`]): when its
    /// binding's lifetime ends. Such a redirect is not released on idle.
    client_expires: Option<Instant>,
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

#[expect(
    clippy::struct_excessive_bools,
    reason = "independent switches of the configuration and the CMD's reachability, not a state machine"
)]
pub struct MaarEngine {
    address: Ipv6Addr,
    /// The CMD as the engine's logic knows it (the first listed instance); messages from any
    /// instance arrive as from this address, and [`route`](Self::route) sends what goes to it
    /// to the instance that last answered.
    cmd: Ipv6Addr,
    /// The CMD's instances, in the configuration's order.
    cmds: Vec<Ipv6Addr>,
    /// The instance that last sent anything (index into `cmds`).
    active: usize,
    /// Since an update to the CMD went unanswered and nothing has come from any instance since:
    /// what goes to the CMD goes to every instance, so that whichever leads answers.
    cmd_silent: bool,
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
    /// Whether this MAAR is a subscriber (an anchor near correspondents).
    subscriber: bool,
    /// As a subscriber: the prefixes of nodes anchored and served elsewhere that it redirects,
    /// with their node and serving MAAR.
    subscribed: BTreeMap<Ipv6Net, (MnId, Ipv6Addr)>,
    /// `fixed` /64s of this MAAR's pools relocated away with their node, whose redirect has
    /// ended: out of the pool until the CMD's lifetime-0 update gives them back.
    lent: BTreeSet<Ipv6Net>,
    /// The timestamp and sequence number of the last update accepted from the CMD, per node.
    last_cmd: BTreeMap<MnId, (Timestamp, u16)>,
    retransmit: Retransmitter,
    next_sequence: u16,
    counters: Counters,
    /// How many more bindings the router has room for, as the service last read it (less what
    /// updates accepted since will add); `None`: not known, no limit applied.
    binding_room: Option<usize>,
    /// Binding Updates from mobile nodes are accepted (client-based DMM, [`client`]).
    client_bindings: bool,
    /// The timestamp of the last Binding Update accepted from each node.
    last_client: BTreeMap<MnId, Timestamp>,
    /// Changes decided outside [`handle`](Self::handle) and [`poll`](Self::poll) (an
    /// attachment without a CMD), handed out by the next [`poll`](Self::poll).
    pending: Vec<Action>,
}

impl MaarEngine {
    /// `access`: the names of the access interfaces nodes may attach on.
    pub fn new(config: &MaarConfig, locator: Ipv6Addr, access: Vec<String>) -> Self {
        Self {
            address: config.address(locator),
            cmd: config.cmd.first().copied().unwrap_or(Ipv6Addr::UNSPECIFIED),
            cmds: config.cmd.clone(),
            active: 0,
            cmd_silent: false,
            reverse_tunnel: config.reverse_tunnel,
            lifetime: config.lifetime(),
            window: config.timestamp_window(),
            retransmit_span: config.max_bindack_timeout() * 2,
            access,
            pools: config.pools.iter().map(Pool::new).collect(),
            served: BTreeMap::new(),
            anchored: BTreeMap::new(),
            subscriber: config.subscriber,
            subscribed: BTreeMap::new(),
            lent: BTreeSet::new(),
            last_cmd: BTreeMap::new(),
            retransmit: Retransmitter::new(
                config.initial_bindack_timeout(),
                config.max_bindack_timeout(),
            ),
            next_sequence: 1,
            counters: Counters::default(),
            binding_room: None,
            client_bindings: config.client_bindings,
            last_client: BTreeMap::new(),
            pending: Vec::new(),
        }
    }

    /// Whether this MAAR runs without a CMD: it registers its nodes itself, and their earlier
    /// anchors hear of a move from the node (client-based DMM) or not at all.
    pub fn standalone(&self) -> bool {
        self.cmds.is_empty()
    }

    /// How many more bindings the router has room for; the service reads it before each batch
    /// of messages. An update from the CMD that needs more is refused with status 130
    /// (insufficient resources), and the bindings in place stay.
    pub fn set_binding_room(&mut self, room: usize) {
        self.binding_room = Some(room);
    }

    pub fn address(&self) -> Ipv6Addr {
        self.address
    }

    /// The CMD's instances, in the configuration's order.
    pub fn cmds(&self) -> &[Ipv6Addr] {
        &self.cmds
    }

    /// The instance the next message to the CMD goes to.
    pub fn active_cmd(&self) -> Ipv6Addr {
        self.cmds.get(self.active).copied().unwrap_or(self.cmd)
    }

    /// Addresses `out` for sending: what goes to the CMD goes to the instance that last
    /// answered or, while the CMD is silent, to every instance (only the leader answers).
    pub fn route(&self, out: &mut Vec<Outgoing>) {
        let active = self.active_cmd();
        let mut copies = Vec::new();
        for o in out.iter_mut().filter(|o| o.to == self.cmd) {
            o.to = active;
            if self.cmd_silent {
                copies.extend(
                    self.cmds
                        .iter()
                        .filter(|c| **c != active)
                        .map(|&to| Outgoing {
                            to,
                            message: o.message.clone(),
                        }),
                );
            }
        }
        out.extend(copies);
    }

    /// A message from `from`: an instance of the CMD becomes the one to send to, and the engine
    /// sees it as from the CMD.
    fn heard_from(&mut self, from: Ipv6Addr) -> Ipv6Addr {
        match self.cmds.iter().position(|c| *c == from) {
            Some(index) => {
                if index != self.active || self.cmd_silent {
                    tracing::info!("the CMD answers from {from}");
                }
                self.active = index;
                self.cmd_silent = false;
                self.cmd
            }
            None => from,
        }
    }

    pub fn counters(&self) -> &Counters {
        &self.counters
    }

    /// As a subscriber: the node and serving MAAR of a prefix redirected here.
    pub fn subscribed(&self, prefix: &Ipv6Net) -> Option<(MnId, Ipv6Addr)> {
        self.subscribed.get(prefix).cloned()
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
        let mut adverts = self.advertised_prefixes(dev);
        if self.client_bindings && !adverts.is_empty() {
            adverts.push(Advert {
                prefix: Ipv6Net::from(self.address),
                deprecated: false,
            });
        }
        adverts
    }

    fn advertised_prefixes(&self, dev: &str) -> Vec<Advert> {
        self.served
            .values()
            .filter(|s| s.dev == dev && s.phase == Phase::Registered)
            .flat_map(|s| {
                std::iter::once(Advert {
                    prefix: s.prefix,
                    deprecated: false,
                })
                .chain(s.relocated.iter().map(|&prefix| Advert {
                    prefix,
                    deprecated: false,
                }))
                .chain(
                    s.visiting
                        .keys()
                        .filter(|p| !s.relocated.contains(p))
                        .map(|&prefix| Advert {
                            prefix,
                            deprecated: true,
                        }),
                )
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
            .chain(self.anchored.values().filter_map(|a| a.client_expires))
            .chain((!self.pending.is_empty()).then(Instant::now))
            .min()
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
        let from = self.heard_from(from);
        match message {
            MobilityHeader::Pba(pba) => self.handle_pba(now, from, &pba, actions),
            MobilityHeader::Pbu(pbu) if self.is_client_update(from, &pbu) => {
                self.handle_client_bu(now, from, &pbu, out, actions);
            }
            MobilityHeader::Pbu(pbu) => self.handle_pbu(now, from, &pbu, out, actions),
        }
    }

    /// Counts a message that did not decode.
    pub fn malformed(&mut self) {
        self.counters.dropped += 1;
    }

    /// Retransmissions, refreshes and expiries due at `now`.
    pub fn poll(&mut self, now: Now, out: &mut Vec<Outgoing>, actions: &mut Vec<Action>) {
        actions.append(&mut self.pending);
        self.expire_client_bindings(now, actions);
        for due in self.retransmit.poll(now.instant) {
            match due {
                Due::Resend { to, message } => {
                    self.counters.retransmissions += 1;
                    if to == self.cmd && self.cmds.len() > 1 && !self.cmd_silent {
                        tracing::warn!(
                            "the CMD {} does not answer: sending to every instance",
                            self.active_cmd()
                        );
                        self.cmd_silent = true;
                    }
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
            let sequence = self.send_pbu(
                now,
                &mn,
                prefix,
                self.lifetime,
                HandoffIndicator::NOT_CHANGED,
                out,
            );
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
        self.poll_idle(now, out, actions);
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

mod attach;
mod client;
mod cmd_update;
mod idle;
mod metrics;
mod snapshot;

#[cfg(test)]
mod client_tests;
#[cfg(test)]
mod cmd_list_tests;
#[cfg(test)]
mod idle_tests;
#[cfg(test)]
mod relocation_tests;
#[cfg(test)]
mod room_tests;
#[cfg(test)]
mod snapshot_tests;
#[cfg(test)]
mod stale_tests;
#[cfg(test)]
mod subscriber_tests;
#[cfg(test)]
mod tests;
