//! The CMD's protocol logic, without I/O: a received message and the time go in, the messages to
//! send come out. The daemon feeds it from the socket and a timer; tests feed it directly with a
//! fake clock.
//!
//! On a PBU (P and D flags, RFC 8885 section 3.1) from a MAAR, in this order:
//! 1. the sender must be a configured MAAR (else 154, MAG not authorized for proxy registration);
//! 2. P set (else 152) and D set (else 129, administratively prohibited);
//! 3. an MN-ID option (else 160);
//! 4. a Timestamp option within the validity window of the CMD's clock (else 156, timestamp
//!    mismatch) and later than the last accepted one of that node (else 157): RFC 5213 section
//!    5.5, which also rejects replays;
//! 5. registration: a Local Prefix option (else 158) that the MAAR may anchor and that no other
//!    node holds (else 155); de-registration (lifetime 0): from the serving MAAR, or from
//!    another MAAR releasing prefixes it anchors (below); else 129;
//! 6. a re-registration (Handoff Indicator 5, "handoff state not changed") from a MAAR that is
//!    not the node's serving MAAR is not a move back: that MAAR missed the node's move (its
//!    update was lost, or it restarted from a state saved before the move). It gets the update
//!    of a previous MAAR again (Serving MAAR, its Anchored Prefixes), sent ahead of the PBA,
//!    and the PBA refuses the registration (129). A PBU without the option, or with another
//!    value, from a new MAAR is a move.
//!
//! An accepted registration makes the sender the serving MAAR and the anchor of its local
//! prefix; the PBA lists a Previous MAAR option per prefix anchored elsewhere, and each of those
//! MAARs gets a PBU with a Serving MAAR option and its Anchored Prefix options, retransmitted
//! until acknowledged. A de-registration (or an expired binding) removes the node and sends each
//! of those MAARs a PBU with lifetime 0.
//!
//! Idle release (not in the RFCs; our use of their messages): a lifetime-0 PBU from a MAAR
//! other than the serving one, with Anchored Prefix options, releases those prefixes of the
//! node, each of which must be anchored at the sender (else 155; without any such option 129).
//! They leave the node's record, the PBA is status 0 with lifetime 0, and the serving MAAR gets
//! a lifetime-0 PBU with its own address as Serving MAAR and the released prefixes as Anchored
//! Prefix options (retransmitted until acknowledged), so that it stops delivering and
//! advertising them.
//!
//! Subscribers (anchors near correspondents) get updates of their own ([`subscribers`]).
//!
//! The updates to MAARs wait in the node's record until acknowledged (see [`updates`]): a CMD
//! that starts on the store sends them again ([`Engine::resume`]).

use std::{
    net::Ipv6Addr,
    time::{Duration, Instant},
};

use anchor_signal::{
    HandoffIndicator, Lifetime, MnId, MobilityHeader, MobilityOption, Pba, PbaFlags, Pbu, PbuFlags,
    Status, Timestamp,
};
use ipnet::Ipv6Net;

use anchor_pmip::{
    MnKey, Now, Outgoing, Policy,
    message::{anchored_prefixes, handoff_indicator, mn_id_and_timestamp},
    retransmit::{Due, Retransmitter},
    timing::SignalingTiming,
};

use crate::{
    config::Config,
    counters::Counters,
    record::{MnRecord, PrefixAnchor},
    store::{MobilityStore, StoreError},
};

mod metrics;
pub use metrics::standby_metrics;
mod release;
mod subscribers;
mod updates;

pub struct Engine<S> {
    config: Config,
    store: S,
    retransmit: Retransmitter,
    next_sequence: u16,
    counters: Counters,
}

/// Why a PBU is refused: the status for the PBA.
struct Reject(Status);

impl<S: MobilityStore> Engine<S> {
    pub fn new(config: Config, store: S) -> Self {
        Self::with_counters(config, store, Counters::default())
    }

    /// An engine that goes on counting from `counters` (a new leadership term of the same
    /// process).
    pub fn with_counters(config: Config, store: S, counters: Counters) -> Self {
        let retransmit = Retransmitter::new(
            config.initial_bindack_timeout(),
            config.max_bindack_timeout(),
        );
        Self {
            config,
            store,
            retransmit,
            next_sequence: 1,
            counters,
        }
    }

    /// The counts, when the engine ends (its store closed).
    pub fn into_counters(self) -> Counters {
        self.counters
    }

    pub fn store(&self) -> &S {
        &self.store
    }

    pub fn counters(&self) -> &Counters {
        &self.counters
    }

    /// Updates sent to previous MAARs that wait for their PBA.
    pub fn in_flight(&self) -> usize {
        self.retransmit.len()
    }

    /// When [`poll`](Self::poll) next has work: a retransmission or an expiry.
    pub fn next_deadline(&self, now: Now) -> Option<Instant> {
        let expiry = self
            .store
            .records()
            .iter()
            .map(|r| {
                let left = r.expires_unix_s.saturating_sub(now.unix_s());
                now.instant + Duration::from_secs(left)
            })
            .min();
        match (expiry, self.retransmit.next_due()) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Handles a message from `from`. A store failure is returned after the PBA that reports it
    /// (status 130, insufficient resources) is queued in `out`.
    pub fn handle(
        &mut self,
        now: Now,
        from: Ipv6Addr,
        message: MobilityHeader,
        out: &mut Vec<Outgoing>,
    ) -> Result<(), StoreError> {
        match message {
            MobilityHeader::Pbu(pbu) => self.handle_pbu(now, from, &pbu, out),
            MobilityHeader::Pba(pba) => {
                if let Some(first_sent) = self.retransmit.acknowledge(from, pba.sequence) {
                    self.counters.acks += 1;
                    self.counters
                        .pbu_to_pba
                        .observe(now.instant.saturating_duration_since(first_sent));
                    self.settle_update(from, pba.sequence)?;
                    if !pba.status.is_accepted() {
                        *self
                            .counters
                            .refused_updates
                            .entry(pba.status.0)
                            .or_default() += 1;
                        tracing::warn!(
                            "MAAR {from} rejected update {} with status {}",
                            pba.sequence,
                            pba.status.0
                        );
                    }
                } else {
                    self.counters.dropped += 1;
                }
                Ok(())
            }
        }
    }

    /// Counts a message that did not decode.
    pub fn malformed(&mut self) {
        self.counters.dropped += 1;
    }

    /// Retransmits what is due and removes the bindings whose lifetime is over.
    pub fn poll(&mut self, now: Now, out: &mut Vec<Outgoing>) -> Result<(), StoreError> {
        for due in self.retransmit.poll(now.instant) {
            match due {
                Due::Resend { to, message } => {
                    self.counters.retransmissions += 1;
                    out.push(Outgoing { to, message });
                }
                Due::GiveUp { to, sequence } => {
                    self.counters.gave_up += 1;
                    tracing::warn!("no acknowledgement from MAAR {to} for update {sequence}");
                    self.settle_update(to, sequence)?;
                }
            }
        }
        let expired: Vec<MnRecord> = self
            .store
            .records()
            .into_iter()
            .filter(|r| r.expires_unix_s <= now.unix_s())
            .cloned()
            .collect();
        for record in expired {
            tracing::info!("binding of {} expired", record.mn.to_mn_id());
            self.remove(now, &record, out)?;
        }
        Ok(())
    }

    fn handle_pbu(
        &mut self,
        now: Now,
        from: Ipv6Addr,
        pbu: &Pbu,
        out: &mut Vec<Outgoing>,
    ) -> Result<(), StoreError> {
        let (mn_id, timestamp) = mn_id_and_timestamp(pbu);
        match self.check_and_apply(now, from, pbu, mn_id.as_ref(), timestamp, out) {
            Ok(Ok(reply)) => {
                self.counters.accepted += 1;
                out.push(Outgoing {
                    to: from,
                    message: MobilityHeader::Pba(reply),
                });
                Ok(())
            }
            Ok(Err(Reject(status))) => {
                self.counters.reject(status);
                tracing::warn!(
                    "rejected PBU {} from {from} (MN {}) with status {}",
                    pbu.sequence,
                    mn_id.as_ref().map_or("?".to_owned(), MnId::to_string),
                    status.0
                );
                out.push(Self::reject(now, from, pbu, mn_id, timestamp, status));
                Ok(())
            }
            // A store that cannot be reached, or that another instance leads: no answer, so
            // that the MAAR sends again, to whichever instance leads by then.
            Err(error) if error.is_unavailable() => Err(error),
            Err(error) => {
                let status = Status::INSUFFICIENT_RESOURCES;
                self.counters.reject(status);
                out.push(Self::reject(now, from, pbu, mn_id, timestamp, status));
                Err(error)
            }
        }
    }

    /// The checks, then the change: the PBA to answer with, or the status to reject with.
    #[expect(
        clippy::too_many_lines,
        reason = "the checks of a PBU in order (RFC 5213 section 5.3.1), then the change"
    )]
    fn check_and_apply(
        &mut self,
        now: Now,
        from: Ipv6Addr,
        pbu: &Pbu,
        mn_id: Option<&MnId>,
        timestamp: Option<Timestamp>,
        out: &mut Vec<Outgoing>,
    ) -> Result<Result<Pba, Reject>, StoreError> {
        let Some(maar) = self.config.maar(from) else {
            return Ok(Err(Reject(Status::MAG_NOT_AUTHORIZED_FOR_PROXY_REG)));
        };
        if !pbu.flags.contains(PbuFlags::P) {
            return Ok(Err(Reject(Status::PROXY_REG_NOT_ENABLED)));
        }
        if !pbu.flags.contains(PbuFlags::D) {
            return Ok(Err(Reject(Status::ADMINISTRATIVELY_PROHIBITED)));
        }
        let Some(mn_id) = mn_id else {
            return Ok(Err(Reject(Status::MISSING_MN_IDENTIFIER_OPTION)));
        };
        let Some(timestamp) = timestamp else {
            return Ok(Err(Reject(Status::TIMESTAMP_MISMATCH)));
        };
        let window = self.config.timestamp_window();
        let sent = timestamp.to_system_time();
        let skew = sent
            .duration_since(now.wall)
            .or_else(|_| now.wall.duration_since(sent))
            .unwrap_or_default();
        if skew > window {
            return Ok(Err(Reject(Status::TIMESTAMP_MISMATCH)));
        }
        let key = MnKey::from(mn_id);
        let existing = self.store.get(&key).cloned();
        if existing
            .as_ref()
            .is_some_and(|r| timestamp.0 <= r.last_timestamp)
        {
            return Ok(Err(Reject(Status::TIMESTAMP_LOWER_THAN_PREV_ACCEPTED)));
        }

        if pbu.lifetime == Lifetime::DEREGISTRATION {
            if let Some(record) = existing {
                if record.serving != from {
                    return self.release_anchored(now, from, pbu, mn_id, timestamp, record, out);
                }
                tracing::info!("{mn_id} de-registered by {from}");
                self.remove(now, &record, out)?;
            }
            return Ok(Ok(Self::pba(
                pbu,
                mn_id,
                timestamp,
                Lifetime::DEREGISTRATION,
                Vec::new(),
            )));
        }

        let Some(local) = pbu.options.iter().find_map(|o| match o {
            MobilityOption::LocalPrefix(p) => Some(p.trunc()),
            _ => None,
        }) else {
            return Ok(Err(Reject(Status::MISSING_HOME_NETWORK_PREFIX_OPTION)));
        };
        if !maar.may_anchor(&local) || self.held_by_other(&key, &local) {
            return Ok(Err(Reject(Status::NOT_AUTHORIZED_FOR_HOME_NETWORK_PREFIX)));
        }
        if let Some(record) = existing.as_ref().filter(|r| r.serving != from)
            && handoff_indicator(pbu) == Some(HandoffIndicator::NOT_CHANGED)
        {
            return self.stale_reregistration(now, from, mn_id, record.clone(), out);
        }

        let granted = Lifetime::from_duration_floor(
            pbu.lifetime.as_duration().min(self.config.max_lifetime()),
        );
        let mut prefixes = existing
            .as_ref()
            .map_or_else(Vec::new, |r| r.prefixes.clone());
        let policy = maar.policy(&local);
        match prefixes.iter_mut().find(|p| p.prefix == local) {
            Some(p) => {
                p.anchor = from;
                p.policy = policy;
                p.origin = None;
            }
            None => prefixes.push(PrefixAnchor {
                prefix: local,
                anchor: from,
                policy,
                origin: None,
            }),
        }
        let moved = existing.as_ref().is_none_or(|r| r.serving != from);
        // A nonpersistent prefix anchored elsewhere ends with the move (RFC 8818 section 4.1):
        // its anchor releases it, and it is neither a Previous MAAR prefix nor redirected.
        let mut released = Vec::new();
        if moved {
            prefixes.retain(|p| {
                let release = p.anchor != from
                    && self
                        .config
                        .maar(p.anchor)
                        .is_some_and(|m| m.is_nonpersistent(&p.prefix));
                if release {
                    released.push((p.anchor, p.prefix));
                }
                !release
            });
        }
        let mut record = MnRecord {
            mn: key,
            serving: from,
            prefixes,
            lifetime_s: granted.as_duration().as_secs(),
            expires_unix_s: now.unix_s() + granted.as_duration().as_secs(),
            last_timestamp: timestamp.0,
            pending: existing
                .as_ref()
                .map(|r| r.pending.clone())
                .unwrap_or_default(),
        };
        // The previous anchors, before any relocation: each redirects its prefixes to the new
        // serving MAAR, a relocated one only until routing has converged.
        let elsewhere = record.anchored_elsewhere(from);
        let relocated = if moved {
            relocate(&mut record, from)
        } else {
            Vec::new()
        };
        for prefix in &relocated {
            tracing::info!("{mn_id}: fixed {prefix} relocated to {from} (RFC 8818 section 4.3)");
        }
        let mut previous = Vec::new();
        let mut updates = Vec::new();
        for (anchor, anchored) in &elsewhere {
            for prefix in anchored {
                previous.push(MobilityOption::PreviousMaar {
                    maar: *anchor,
                    prefix: *prefix,
                });
            }
            // A refresh from the same serving MAAR changes nothing at the previous ones.
            if moved {
                updates.push(self.queue_update(&mut record, *anchor, from, anchored, granted));
            }
        }
        for (anchor, prefix) in released {
            tracing::info!("{mn_id} left {anchor}: its nonpersistent {prefix} is released");
            updates.push(self.queue_update(
                &mut record,
                anchor,
                from,
                &[prefix],
                Lifetime::DEREGISTRATION,
            ));
        }
        updates.extend(self.queue_subscriber_updates(
            existing.as_ref(),
            &mut record,
            false,
            granted,
        ));
        // The record and the updates it now waits for, in one write; then the updates go out.
        self.store.put(record)?;
        tracing::info!("{mn_id} registered at {from} with {local}");
        for update in &updates {
            self.send_update(now, mn_id, update, out);
        }
        // A relocated prefix is the node's home network prefix at its new anchor: a Home
        // Network Prefix option, beside the Previous MAAR option of its earlier anchor.
        previous.extend(relocated.into_iter().map(MobilityOption::HomeNetworkPrefix));
        Ok(Ok(Self::pba(pbu, mn_id, timestamp, granted, previous)))
    }

    /// A re-registration (Handoff Indicator 5, "not changed") from `from`, which is not the
    /// node's serving MAAR: a refresh or a restart of a MAAR that missed the node's move. It is
    /// not a move back: it is refused (129), and the MAAR is sent again, ahead of the refusal,
    /// the update of a previous MAAR for the prefixes it anchors, so that it redirects them to
    /// the serving MAAR instead of serving the node.
    fn stale_reregistration(
        &mut self,
        now: Now,
        from: Ipv6Addr,
        mn_id: &MnId,
        mut record: MnRecord,
        out: &mut Vec<Outgoing>,
    ) -> Result<Result<Pba, Reject>, StoreError> {
        let anchored: Vec<Ipv6Net> = record
            .prefixes
            .iter()
            .filter(|p| p.anchor == from)
            .map(|p| p.prefix)
            .collect();
        let serving = record.serving;
        tracing::info!(
            "{mn_id}: re-registration from {from}, which no longer serves it (serving: {serving})"
        );
        if !anchored.is_empty() {
            let left = record.expires_unix_s.saturating_sub(now.unix_s()).max(1);
            let lifetime = Lifetime::from_duration_floor(Duration::from_secs(left));
            let update = self.queue_update(&mut record, from, serving, &anchored, lifetime);
            self.store.put(record)?;
            self.send_update(now, mn_id, &update, out);
        }
        Ok(Err(Reject(Status::ADMINISTRATIVELY_PROHIBITED)))
    }

    fn held_by_other(&self, key: &MnKey, prefix: &Ipv6Net) -> bool {
        self.store.records().iter().any(|r| {
            &r.mn != key
                && r.prefixes
                    .iter()
                    .any(|p| p.prefix.contains(prefix) || prefix.contains(&p.prefix))
        })
    }

    /// Removes `record` and tells every MAAR anchoring one of its prefixes, but the serving one.
    fn remove(
        &mut self,
        now: Now,
        record: &MnRecord,
        out: &mut Vec<Outgoing>,
    ) -> Result<(), StoreError> {
        self.store.remove(&record.mn)?;
        let mn_id = record.mn.to_mn_id();
        // The record is gone, and these updates with it: a CMD restarted before they are
        // acknowledged does not send them again (the previous MAARs' redirects then end with
        // their lifetime or their idle release).
        let mut gone = record.clone();
        for (anchor, anchored) in record.anchored_elsewhere(record.serving) {
            let update = self.queue_update(
                &mut gone,
                anchor,
                record.serving,
                &anchored,
                Lifetime::DEREGISTRATION,
            );
            self.send_update(now, &mn_id, &update, out);
        }
        for update in
            self.queue_subscriber_updates(Some(record), &mut gone, true, Lifetime::DEREGISTRATION)
        {
            self.send_update(now, &mn_id, &update, out);
        }
        // The MAARs that lent relocated prefixes get them back for their pools.
        for p in &record.prefixes {
            if let Some(origin) = p.origin.filter(|o| *o != p.anchor) {
                let update = self.queue_update(
                    &mut gone,
                    origin,
                    record.serving,
                    &[p.prefix],
                    Lifetime::DEREGISTRATION,
                );
                self.send_update(now, &mn_id, &update, out);
            }
        }
        Ok(())
    }

    fn pba(
        pbu: &Pbu,
        mn_id: &MnId,
        timestamp: Timestamp,
        lifetime: Lifetime,
        previous: Vec<MobilityOption>,
    ) -> Pba {
        let mut options = vec![
            MobilityOption::MnId(mn_id.clone()),
            MobilityOption::Timestamp(timestamp),
        ];
        options.extend(pbu.options.iter().filter_map(|o| match o {
            MobilityOption::LocalPrefix(p) => Some(MobilityOption::LocalPrefix(*p)),
            _ => None,
        }));
        options.extend(previous);
        Pba {
            status: Status::ACCEPTED,
            flags: PbaFlags::P | PbaFlags::D,
            sequence: pbu.sequence,
            lifetime,
            options,
        }
    }

    /// The PBA of a rejection. After a timestamp rejection it carries the CMD's current time
    /// (RFC 5213 section 5.5), otherwise the update's own.
    fn reject(
        now: Now,
        from: Ipv6Addr,
        pbu: &Pbu,
        mn_id: Option<MnId>,
        timestamp: Option<Timestamp>,
        status: Status,
    ) -> Outgoing {
        let mut options: Vec<MobilityOption> =
            mn_id.into_iter().map(MobilityOption::MnId).collect();
        let stamp = if status == Status::TIMESTAMP_MISMATCH
            || status == Status::TIMESTAMP_LOWER_THAN_PREV_ACCEPTED
        {
            Some(Timestamp::from_system_time(now.wall))
        } else {
            timestamp
        };
        options.extend(stamp.map(MobilityOption::Timestamp));
        Outgoing {
            to: from,
            message: MobilityHeader::Pba(Pba {
                status,
                flags: PbaFlags::P | PbaFlags::D,
                sequence: pbu.sequence,
                lifetime: Lifetime::DEREGISTRATION,
                options,
            }),
        }
    }
}

/// Anchor relocation (RFC 8818 section 4.3): every `fixed` prefix of `record` anchored at a MAAR
/// other than `to` is anchored at `to` from now on, remembering the MAAR that delegated it.
/// Returns the relocated prefixes.
fn relocate(record: &mut MnRecord, to: Ipv6Addr) -> Vec<Ipv6Net> {
    record
        .prefixes
        .iter_mut()
        .filter(|p| p.policy == Policy::Fixed && p.anchor != to)
        .map(|p| {
            p.origin = p.origin.or(Some(p.anchor)).filter(|o| *o != to);
            p.anchor = to;
            p.prefix
        })
        .collect()
}
