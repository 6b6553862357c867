//! The node's bindings with its anchors, without I/O: what the node hears (advertisements, its
//! addresses, the sockets in use, Binding Acknowledgements) and the time go in; the Binding
//! Updates to send and the changes to make on the host (tunnels, accepted anchors, kept
//! addresses) come out.
//!
//! - Each prefix learned from an advertisement that names its router (the R flag) is held with
//!   that anchor, the interface and the MAC address it came on (the node's MN-ID there).
//! - The node is at the prefix whose address became preferred last (kernel SLAAC). When that
//!   changes, it moved: every earlier prefix that a socket still uses keeps its address (added
//!   to the new interface, deprecated) and its anchor gets a Binding Update with the new address
//!   as care-of address; a prefix that nothing uses is forgotten (nomadic, RFC 8818 section
//!   4.1).
//! - The Binding Update (RFC 6275 section 6.1.7, Mobility Header type 5): flags A and H, a
//!   lifetime, and the options MN-ID, Timestamp (fresh on every sending: the anchor's replay
//!   check), Home Network Prefix and Alternate Care-of Address. It is sent from the care-of
//!   address, again with RFC 6275 back-off until acknowledged, and refreshed at half the lifetime
//!   granted.
//! - An accepted acknowledgement installs the tunnel (uplink from the prefix encapsulated to
//!   the anchor); the anchor is accepted as a tunnel source from the first update on.
//! - A prefix no socket uses any more, or the node's current one again (it is back), is
//!   de-registered (lifetime 0); its tunnel and kept address go.

use std::{
    collections::{BTreeMap, BTreeSet},
    net::Ipv6Addr,
    time::{Duration, Instant},
};

use anchor_pmip::{
    Now,
    retransmit::{Due, Retransmitter},
};
use anchor_signal::{
    Lifetime, MnId, MobilityHeader, MobilityOption, Pba, Pbu, PbuFlags, Timestamp,
};
use ipnet::Ipv6Net;
use serde::Serialize;

use crate::{config::ClientConfig, ra::RouterAdvert};

/// A Binding Update to send: from the care-of address it names, to the anchor.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Send {
    pub from: Ipv6Addr,
    pub to: Ipv6Addr,
    pub message: MobilityHeader,
}

/// A change to the host that the engine asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    /// Accept tunnelled packets from this anchor.
    Anchor(Ipv6Addr),
    ForgetAnchor(Ipv6Addr),
    /// Encapsulate the uplink from `prefix` toward `anchor`, from `care_of` (an address of
    /// `dev`, where the packets from `prefix` now leave).
    Tunnel {
        prefix: Ipv6Net,
        anchor: Ipv6Addr,
        care_of: Ipv6Addr,
        dev: String,
    },
    RemoveTunnel {
        prefix: Ipv6Net,
    },
    /// Keep `address` on `dev` (a /128, deprecated, without duplicate address detection): its
    /// prefix's router is no longer on the link.
    KeepAddress {
        address: Ipv6Addr,
        dev: String,
    },
    DropAddress {
        address: Ipv6Addr,
        dev: String,
    },
}

/// What the node counts.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Counters {
    pub updates_sent: u64,
    pub retransmissions: u64,
    pub accepted: u64,
    pub refused: u64,
    pub gave_up: u64,
    pub moves: u64,
}

#[derive(Debug, Clone)]
struct Binding {
    care_of: Ipv6Addr,
    /// The update waiting for its acknowledgement, and whether it de-registers.
    pending: Option<(u16, bool)>,
    refresh_at: Option<Instant>,
    expires_at: Option<Instant>,
    tunnel: bool,
}

#[derive(Debug, Clone)]
struct Held {
    anchor: Ipv6Addr,
    mn: MnId,
    dev: String,
    /// The node's address in the prefix.
    address: Option<Ipv6Addr>,
    /// The interface the address was added to after a move.
    kept_on: Option<String>,
    binding: Option<Binding>,
}

/// A prefix the node holds, for the status file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct BindingInfo {
    pub prefix: Ipv6Net,
    pub anchor: Ipv6Addr,
    pub address: Option<Ipv6Addr>,
    pub current: bool,
    /// `none`, `registering`, `registered`, `deregistering`.
    pub state: &'static str,
    pub care_of: Option<Ipv6Addr>,
    pub tunnel: bool,
}

pub struct ClientEngine {
    lifetime: Duration,
    held: BTreeMap<Ipv6Net, Held>,
    current: Option<Ipv6Net>,
    retransmit: Retransmitter,
    next_sequence: u16,
    in_use: BTreeSet<Ipv6Addr>,
    counters: Counters,
}

impl ClientEngine {
    pub fn new(config: &ClientConfig) -> Self {
        Self {
            lifetime: config.lifetime(),
            held: BTreeMap::new(),
            current: None,
            retransmit: Retransmitter::new(
                config.initial_bindack_timeout(),
                config.max_bindack_timeout(),
            ),
            next_sequence: 1,
            in_use: BTreeSet::new(),
            counters: Counters::default(),
        }
    }

    pub fn counters(&self) -> &Counters {
        &self.counters
    }

    pub fn current(&self) -> Option<Ipv6Net> {
        self.current
    }

    pub fn bindings(&self) -> Vec<BindingInfo> {
        self.held
            .iter()
            .map(|(prefix, h)| BindingInfo {
                prefix: *prefix,
                anchor: h.anchor,
                address: h.address,
                current: self.current == Some(*prefix),
                state: match &h.binding {
                    None => "none",
                    Some(b) => match b.pending {
                        Some((_, true)) => "deregistering",
                        Some((_, false)) if b.expires_at.is_none() => "registering",
                        _ => "registered",
                    },
                },
                care_of: h.binding.as_ref().map(|b| b.care_of),
                tunnel: h.binding.as_ref().is_some_and(|b| b.tunnel),
            })
            .collect()
    }

    /// An advertisement received on `dev` (whose MAC is `mac`): its SLAAC prefixes are held
    /// with the router it names. Without a router address nothing is learned: the prefixes can
    /// never be redirected (a router that does not take Binding Updates).
    pub fn advertised(&mut self, dev: &str, mac: [u8; 6], advert: &RouterAdvert) {
        let Some(anchor) = advert.router_address else {
            return;
        };
        for prefix in &advert.prefixes {
            let held = self.held.entry(*prefix).or_insert_with(|| {
                tracing::info!("{dev}: {prefix} is anchored at {anchor}");
                Held {
                    anchor,
                    mn: MnId::Eui48(mac),
                    dev: dev.to_owned(),
                    address: None,
                    kept_on: None,
                    binding: None,
                }
            });
            if held.binding.is_none() {
                held.anchor = anchor;
                held.mn = MnId::Eui48(mac);
                dev.clone_into(&mut held.dev);
            }
        }
    }

    /// A global address of the node on `dev`, `preferred` or not: the node moved when it is
    /// the preferred address of a held prefix other than the current one.
    pub fn address(
        &mut self,
        now: Now,
        dev: &str,
        address: Ipv6Addr,
        preferred: bool,
        out: &mut Vec<Send>,
        changes: &mut Vec<Change>,
    ) {
        let Some((prefix, held)) = self
            .held
            .iter_mut()
            .find(|(prefix, _)| prefix.contains(&address))
        else {
            return;
        };
        let prefix = *prefix;
        if held.kept_on.as_deref() == Some(dev) && held.address == Some(address) {
            // The address the node keeps itself.
            return;
        }
        held.address = Some(address);
        dev.clone_into(&mut held.dev);
        if preferred && self.current != Some(prefix) {
            self.move_to(now, prefix, address, out, changes);
        }
    }

    fn move_to(
        &mut self,
        now: Now,
        prefix: Ipv6Net,
        care_of: Ipv6Addr,
        out: &mut Vec<Send>,
        changes: &mut Vec<Change>,
    ) {
        let from = self.current.replace(prefix);
        self.counters.moves += 1;
        tracing::info!(
            "now at {prefix} ({care_of}){}",
            from.map_or(String::new(), |f| format!(", from {f}"))
        );
        let dev = self
            .held
            .get(&prefix)
            .map(|h| h.dev.clone())
            .unwrap_or_default();
        // Back at the prefix's own anchor: its binding ends.
        if let Some(held) = self.held.get_mut(&prefix) {
            if let Some(kept) = held.kept_on.take()
                && kept != dev
                && let Some(address) = held.address
            {
                changes.push(Change::DropAddress { address, dev: kept });
            }
            if held.binding.is_some() {
                self.deregister(now, prefix, care_of, out, changes);
            }
        }
        let others: Vec<Ipv6Net> = self
            .held
            .keys()
            .filter(|p| **p != prefix)
            .copied()
            .collect();
        for other in others {
            if self.used(&other) {
                if let Some(held) = self.held.get_mut(&other)
                    && let Some(address) = held.address
                    && held.kept_on.as_deref() != Some(dev.as_str())
                {
                    if let Some(kept) = held.kept_on.replace(dev.clone()) {
                        changes.push(Change::DropAddress { address, dev: kept });
                    }
                    changes.push(Change::KeepAddress {
                        address,
                        dev: dev.clone(),
                    });
                }
                self.register(now, other, care_of, out, changes);
            } else if self.held.get(&other).is_some_and(|h| h.binding.is_some()) {
                self.deregister(now, other, care_of, out, changes);
            } else {
                self.forget(other, changes);
            }
        }
    }

    /// Whether a socket uses an address of `prefix`.
    fn used(&self, prefix: &Ipv6Net) -> bool {
        self.in_use.iter().any(|a| prefix.contains(a))
    }

    /// The local addresses of the sockets now: a prefix away from its anchor that no socket
    /// uses any more is de-registered, or forgotten when it has no binding.
    pub fn sockets(
        &mut self,
        now: Now,
        in_use: BTreeSet<Ipv6Addr>,
        out: &mut Vec<Send>,
        changes: &mut Vec<Change>,
    ) {
        self.in_use = in_use;
        let Some(current) = self.current else {
            return;
        };
        let Some(care_of) = self.held.get(&current).and_then(|h| h.address) else {
            return;
        };
        let unused: Vec<(Ipv6Net, bool)> = self
            .held
            .iter()
            .filter(|(p, h)| **p != current && h.address.is_some() && !self.used(p))
            .map(|(p, h)| (*p, h.binding.is_some()))
            .collect();
        for (prefix, bound) in unused {
            let deregistering = self
                .held
                .get(&prefix)
                .and_then(|h| h.binding.as_ref())
                .is_some_and(|b| matches!(b.pending, Some((_, true))));
            if deregistering {
                continue;
            }
            if bound {
                tracing::info!("no socket uses {prefix} any more: de-registering it");
                self.deregister(now, prefix, care_of, out, changes);
            } else {
                self.forget(prefix, changes);
            }
        }
    }

    /// Sends the anchor of `prefix` a Binding Update for `care_of`.
    fn register(
        &mut self,
        now: Now,
        prefix: Ipv6Net,
        care_of: Ipv6Addr,
        out: &mut Vec<Send>,
        changes: &mut Vec<Change>,
    ) {
        let lifetime = Lifetime::from_duration_floor(self.lifetime);
        let Some(sequence) = self.send_update(now, prefix, care_of, lifetime, out) else {
            return;
        };
        let Some(held) = self.held.get_mut(&prefix) else {
            return;
        };
        changes.push(Change::Anchor(held.anchor));
        let binding = held.binding.get_or_insert(Binding {
            care_of,
            pending: None,
            refresh_at: None,
            expires_at: None,
            tunnel: false,
        });
        binding.pending = Some((sequence, false));
        binding.refresh_at = None;
        if binding.care_of != care_of && binding.tunnel {
            // The tunnel moves with the acknowledgement.
            changes.push(Change::RemoveTunnel { prefix });
            binding.tunnel = false;
        }
        binding.care_of = care_of;
    }

    fn deregister(
        &mut self,
        now: Now,
        prefix: Ipv6Net,
        care_of: Ipv6Addr,
        out: &mut Vec<Send>,
        changes: &mut Vec<Change>,
    ) {
        let Some(sequence) = self.send_update(now, prefix, care_of, Lifetime::DEREGISTRATION, out)
        else {
            return;
        };
        if let Some(binding) = self.held.get_mut(&prefix).and_then(|h| h.binding.as_mut()) {
            binding.pending = Some((sequence, true));
            binding.refresh_at = None;
            if binding.tunnel {
                changes.push(Change::RemoveTunnel { prefix });
                binding.tunnel = false;
            }
        }
    }

    fn send_update(
        &mut self,
        now: Now,
        prefix: Ipv6Net,
        care_of: Ipv6Addr,
        lifetime: Lifetime,
        out: &mut Vec<Send>,
    ) -> Option<u16> {
        let held = self.held.get(&prefix)?;
        let sequence = self.next_sequence;
        self.next_sequence = self.next_sequence.wrapping_add(1);
        let message = MobilityHeader::Pbu(Pbu {
            sequence,
            flags: PbuFlags::A | PbuFlags::H,
            lifetime,
            options: vec![
                MobilityOption::MnId(held.mn.clone()),
                MobilityOption::Timestamp(Timestamp::from_system_time(now.wall)),
                MobilityOption::HomeNetworkPrefix(prefix),
                MobilityOption::AlternateCareOfAddress(care_of),
            ],
        });
        forget_updates(&mut self.retransmit, held.anchor, prefix);
        self.retransmit
            .sent(now.instant, held.anchor, sequence, message.clone());
        self.counters.updates_sent += 1;
        out.push(Send {
            from: care_of,
            to: held.anchor,
            message,
        });
        Some(sequence)
    }

    /// Forgets a prefix: its tunnel, kept address and anchor go.
    fn forget(&mut self, prefix: Ipv6Net, changes: &mut Vec<Change>) {
        let Some(held) = self.held.remove(&prefix) else {
            return;
        };
        forget_updates(&mut self.retransmit, held.anchor, prefix);
        if held.binding.as_ref().is_some_and(|b| b.tunnel) {
            changes.push(Change::RemoveTunnel { prefix });
        }
        if let (Some(dev), Some(address)) = (held.kept_on, held.address) {
            changes.push(Change::DropAddress { address, dev });
        }
        if held.binding.is_some() && !self.anchor_bound(held.anchor) {
            changes.push(Change::ForgetAnchor(held.anchor));
        }
        tracing::info!("forgot {prefix} (anchored at {})", held.anchor);
    }

    fn anchor_bound(&self, anchor: Ipv6Addr) -> bool {
        self.held
            .values()
            .any(|h| h.anchor == anchor && h.binding.is_some())
    }

    /// A message from `from`: the acknowledgement of an update.
    pub fn handle(
        &mut self,
        now: Now,
        from: Ipv6Addr,
        message: &MobilityHeader,
        changes: &mut Vec<Change>,
    ) {
        let MobilityHeader::Pba(ba) = message else {
            return;
        };
        let Some((prefix, deregistration)) = self.held.iter().find_map(|(prefix, h)| {
            let b = h.binding.as_ref()?;
            let (sequence, dereg) = b.pending?;
            (h.anchor == from && sequence == ba.sequence).then_some((*prefix, dereg))
        }) else {
            return;
        };
        self.retransmit.acknowledge(from, ba.sequence);
        if !ba.status.is_accepted() {
            self.refused(prefix, ba, changes);
        } else if deregistration || ba.lifetime == Lifetime::DEREGISTRATION {
            self.counters.accepted += 1;
            self.unbind(prefix, changes);
            if self.current != Some(prefix) {
                self.forget(prefix, changes);
            }
        } else {
            self.counters.accepted += 1;
            let granted = ba.lifetime.as_duration();
            let dev = self.dev_of(self.held.get(&prefix).and_then(|h| h.binding.as_ref()));
            let Some(held) = self.held.get_mut(&prefix) else {
                return;
            };
            let anchor = held.anchor;
            if let Some(b) = held.binding.as_mut() {
                b.pending = None;
                b.refresh_at = Some(now.instant + granted / 2);
                b.expires_at = Some(now.instant + granted);
                if !b.tunnel {
                    b.tunnel = true;
                    changes.push(Change::Tunnel {
                        prefix,
                        anchor,
                        care_of: b.care_of,
                        dev,
                    });
                    tracing::info!(
                        "{prefix}: {anchor} redirects it to {} for {granted:?}",
                        b.care_of
                    );
                }
            }
        }
    }

    /// The interface of a binding's care-of address (the node's current prefix's).
    fn dev_of(&self, binding: Option<&Binding>) -> String {
        binding
            .and_then(|b| {
                self.held
                    .values()
                    .find(|h| h.address == Some(b.care_of) && h.kept_on.is_none())
            })
            .map(|h| h.dev.clone())
            .unwrap_or_default()
    }

    fn refused(&mut self, prefix: Ipv6Net, ba: &Pba, changes: &mut Vec<Change>) {
        self.counters.refused += 1;
        tracing::warn!(
            "the anchor of {prefix} refused update {} with status {}",
            ba.sequence,
            ba.status.0
        );
        self.unbind(prefix, changes);
    }

    /// Ends the binding of `prefix` on the node's side.
    fn unbind(&mut self, prefix: Ipv6Net, changes: &mut Vec<Change>) {
        let Some(held) = self.held.get_mut(&prefix) else {
            return;
        };
        let anchor = held.anchor;
        forget_updates(&mut self.retransmit, anchor, prefix);
        if let Some(b) = held.binding.take()
            && b.tunnel
        {
            changes.push(Change::RemoveTunnel { prefix });
        }
        if !self.anchor_bound(anchor) {
            changes.push(Change::ForgetAnchor(anchor));
        }
    }

    /// The client stops: every binding is de-registered (the updates go out once, unanswered
    /// ones are not sent again), and its tunnels, kept addresses and anchors go.
    pub fn shutdown(&mut self, now: Now, out: &mut Vec<Send>, changes: &mut Vec<Change>) {
        let care_of = self
            .current
            .and_then(|c| self.held.get(&c))
            .and_then(|h| h.address);
        let prefixes: Vec<Ipv6Net> = self.held.keys().copied().collect();
        for prefix in prefixes {
            let bound = self.held.get(&prefix).is_some_and(|h| h.binding.is_some());
            if bound && let Some(care_of) = care_of {
                self.deregister(now, prefix, care_of, out, changes);
            }
            self.forget(prefix, changes);
        }
        self.current = None;
    }

    /// When [`poll`](Self::poll) next has work.
    pub fn next_deadline(&self) -> Option<Instant> {
        self.held
            .values()
            .filter_map(|h| h.binding.as_ref())
            .flat_map(|b| [b.refresh_at, b.expires_at])
            .flatten()
            .chain(self.retransmit.next_due())
            .min()
    }

    /// Retransmissions, refreshes and expiries due at `now`.
    pub fn poll(&mut self, now: Now, out: &mut Vec<Send>, changes: &mut Vec<Change>) {
        for due in self.retransmit.poll(now.instant) {
            match due {
                Due::Resend { to, message } => {
                    self.counters.retransmissions += 1;
                    let message = restamped(message, now);
                    let from = care_of_in(&message).unwrap_or(Ipv6Addr::UNSPECIFIED);
                    out.push(Send { from, to, message });
                }
                Due::GiveUp { to, sequence } => {
                    self.counters.gave_up += 1;
                    tracing::warn!("no acknowledgement from {to} for update {sequence}");
                    let gone: Vec<Ipv6Net> = self
                        .held
                        .iter()
                        .filter(|(_, h)| {
                            h.anchor == to
                                && h.binding
                                    .as_ref()
                                    .is_some_and(|b| b.pending.is_some_and(|(s, _)| s == sequence))
                        })
                        .map(|(p, _)| *p)
                        .collect();
                    for prefix in gone {
                        self.unbind(prefix, changes);
                    }
                }
            }
        }
        let refresh: Vec<(Ipv6Net, Ipv6Addr)> = self
            .held
            .iter()
            .filter_map(|(p, h)| {
                let b = h.binding.as_ref()?;
                (b.pending.is_none() && b.refresh_at.is_some_and(|t| t <= now.instant))
                    .then_some((*p, b.care_of))
            })
            .collect();
        for (prefix, care_of) in refresh {
            self.register(now, prefix, care_of, out, changes);
        }
        let expired: Vec<Ipv6Net> = self
            .held
            .iter()
            .filter(|(_, h)| {
                h.binding
                    .as_ref()
                    .is_some_and(|b| b.expires_at.is_some_and(|t| t <= now.instant))
            })
            .map(|(p, _)| *p)
            .collect();
        for prefix in expired {
            tracing::warn!("the binding of {prefix} expired unrefreshed");
            self.unbind(prefix, changes);
        }
    }
}

/// Stops retransmitting the updates to `anchor` about `prefix`.
fn forget_updates(retransmit: &mut Retransmitter, anchor: Ipv6Addr, prefix: Ipv6Net) {
    let named = MobilityOption::HomeNetworkPrefix(prefix);
    retransmit.forget_where(anchor, |m| m.options().contains(&named));
}

/// The care-of address an update names.
fn care_of_in(message: &MobilityHeader) -> Option<Ipv6Addr> {
    message.options().iter().find_map(|o| match o {
        MobilityOption::AlternateCareOfAddress(a) => Some(*a),
        _ => None,
    })
}

/// `message` with a fresh Timestamp: the anchor refuses one not newer than the last it took.
fn restamped(message: MobilityHeader, now: Now) -> MobilityHeader {
    match message {
        MobilityHeader::Pbu(mut bu) => {
            for option in &mut bu.options {
                if let MobilityOption::Timestamp(t) = option {
                    *t = Timestamp::from_system_time(now.wall);
                }
            }
            MobilityHeader::Pbu(bu)
        }
        other @ MobilityHeader::Pba(_) => other,
    }
}

#[cfg(test)]
mod tests;
