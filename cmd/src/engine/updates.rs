//! The updates the CMD sends MAARs (Serving MAAR, Anchored Prefix options) and how they wait
//! for their acknowledgement: each is recorded in the node's record before it goes out, leaves
//! the record with its PBA (or when the CMD gives up), and is sent again, with a fresh timestamp
//! and sequence number, by a CMD that starts on a store that still holds it.

use std::net::Ipv6Addr;

use anchor_pmip::{Now, Outgoing};
use anchor_signal::{Lifetime, MnId, MobilityHeader, MobilityOption, Pbu, PbuFlags, Timestamp};
use ipnet::Ipv6Net;

use super::Engine;
use crate::{
    record::{MnRecord, PendingUpdate},
    store::{MobilityStore, StoreError},
};

impl<S: MobilityStore> Engine<S> {
    /// A new update to `to` about `anchored`, recorded in `record` in place of those it makes
    /// moot. Send it with [`send_update`](Self::send_update) once the record is stored.
    pub(super) fn queue_update(
        &mut self,
        record: &mut MnRecord,
        to: Ipv6Addr,
        serving: Ipv6Addr,
        anchored: &[Ipv6Net],
        lifetime: Lifetime,
    ) -> PendingUpdate {
        let update = PendingUpdate {
            to,
            sequence: self.take_sequence(),
            serving,
            anchored: anchored.to_vec(),
            lifetime: lifetime.0,
        };
        record.pending.retain(|p| !p.superseded_by(&update));
        record.pending.push(update.clone());
        update
    }

    /// Sends `update` (timestamped `now`), replacing any older one in flight about the same
    /// node and one of the same prefixes.
    pub(super) fn send_update(
        &mut self,
        now: Now,
        mn_id: &MnId,
        update: &PendingUpdate,
        out: &mut Vec<Outgoing>,
    ) {
        let mut options = vec![
            MobilityOption::MnId(mn_id.clone()),
            MobilityOption::Timestamp(Timestamp::from_system_time(now.wall)),
            MobilityOption::ServingMaar(update.serving),
        ];
        options.extend(
            update
                .anchored
                .iter()
                .map(|p| MobilityOption::AnchoredPrefix(*p)),
        );
        let message = MobilityHeader::Pbu(Pbu {
            sequence: update.sequence,
            flags: PbuFlags::A | PbuFlags::P | PbuFlags::D,
            lifetime: Lifetime(update.lifetime),
            options,
        });
        let id = MobilityOption::MnId(mn_id.clone());
        self.retransmit.forget_where(update.to, |m| {
            m.options().contains(&id)
                && m.options().iter().any(|o| match o {
                    MobilityOption::AnchoredPrefix(p) => update.anchored.contains(p),
                    _ => false,
                })
        });
        self.retransmit
            .sent(now.instant, update.to, update.sequence, message.clone());
        self.counters.updates_sent += 1;
        out.push(Outgoing {
            to: update.to,
            message,
        });
    }

    /// Removes the update `sequence` to `to` from the record that waits for it (acknowledged,
    /// or given up).
    pub(super) fn settle_update(&mut self, to: Ipv6Addr, sequence: u16) -> Result<(), StoreError> {
        let holder = self
            .store
            .records()
            .into_iter()
            .find(|r| {
                r.pending
                    .iter()
                    .any(|p| p.to == to && p.sequence == sequence)
            })
            .cloned();
        if let Some(mut record) = holder {
            record
                .pending
                .retain(|p| !(p.to == to && p.sequence == sequence));
            self.store.put(record)?;
        }
        Ok(())
    }

    /// Sends again every update the store's records still wait for, each with a new sequence
    /// number and timestamp (the MAAR's replay check takes it as the newer update). Call it
    /// once, when the CMD starts. Returns how many went out.
    pub fn resume(&mut self, now: Now, out: &mut Vec<Outgoing>) -> Result<usize, StoreError> {
        let waiting: Vec<MnRecord> = self
            .store
            .records()
            .into_iter()
            .filter(|r| !r.pending.is_empty())
            .cloned()
            .collect();
        let mut sent = 0;
        for mut record in waiting {
            let mn_id = record.mn.to_mn_id();
            for update in &mut record.pending {
                update.sequence = self.take_sequence();
            }
            let updates = record.pending.clone();
            self.store.put(record)?;
            for update in &updates {
                tracing::info!(
                    "{mn_id}: sending the unacknowledged update to {} again",
                    update.to
                );
                self.send_update(now, &mn_id, update, out);
                sent += 1;
            }
        }
        Ok(sent)
    }

    fn take_sequence(&mut self) -> u16 {
        let sequence = self.next_sequence;
        self.next_sequence = self.next_sequence.wrapping_add(1);
        sequence
    }
}
