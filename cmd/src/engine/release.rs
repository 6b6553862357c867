//! Idle release (not in the RFCs; our use of their messages): a lifetime-0 PBU from an anchor
//! of a node that is not its serving MAAR releases the prefixes named by its Anchored Prefix
//! options, each of which must be anchored at the sender (else 155; without any such option
//! 129). The serving MAAR is told with a lifetime-0 update, the subscribers as for any change.

use std::net::Ipv6Addr;

use anchor_pmip::{Now, Outgoing};
use anchor_signal::{Lifetime, MnId, Pba, Pbu, Status, Timestamp};
use ipnet::Ipv6Net;

use super::{Engine, Reject, anchored_prefixes};
use crate::{
    record::MnRecord,
    store::{MobilityStore, StoreError},
};

impl<S: MobilityStore> Engine<S> {
    /// A lifetime-0 PBU from `from`, an anchor of `record`'s node but not its serving MAAR:
    /// the release of the prefixes named by its Anchored Prefix options.
    #[expect(
        clippy::too_many_arguments,
        reason = "the checked parts of one message, each named at the call"
    )]
    pub(super) fn release_anchored(
        &mut self,
        now: Now,
        from: Ipv6Addr,
        pbu: &Pbu,
        mn_id: &MnId,
        timestamp: Timestamp,
        mut record: MnRecord,
        out: &mut Vec<Outgoing>,
    ) -> Result<Result<Pba, Reject>, StoreError> {
        let released = anchored_prefixes(pbu);
        if released.is_empty() {
            return Ok(Err(Reject(Status::ADMINISTRATIVELY_PROHIBITED)));
        }
        let anchored_at_sender = |prefix: &Ipv6Net| {
            record
                .prefixes
                .iter()
                .any(|p| p.prefix == *prefix && p.anchor == from)
        };
        // A release repeated after its acknowledgement was lost finds the prefix gone: 155,
        // which the anchor takes as "already released".
        if !released.iter().all(anchored_at_sender) {
            return Ok(Err(Reject(Status::NOT_AUTHORIZED_FOR_HOME_NETWORK_PREFIX)));
        }
        let ack = Self::pba(pbu, mn_id, timestamp, Lifetime::DEREGISTRATION, Vec::new());
        let before = record.clone();
        record.prefixes.retain(|p| !released.contains(&p.prefix));
        // The node's last timestamp stays its serving MAAR's: the anchor's clock must not make
        // the serving MAAR's next refresh look old (157).
        let serving = record.serving;
        let update = self.queue_update(
            &mut record,
            serving,
            serving,
            &released,
            Lifetime::DEREGISTRATION,
        );
        let subscribers = self.queue_subscriber_updates(
            Some(&before),
            &mut record,
            false,
            Lifetime::DEREGISTRATION,
        );
        self.store.put(record)?;
        for update in &subscribers {
            self.send_update(now, mn_id, update, out);
        }
        tracing::info!(
            "{mn_id}: {from} released {}; telling the serving MAAR {serving}",
            released
                .iter()
                .map(Ipv6Net::to_string)
                .collect::<Vec<_>>()
                .join(", ")
        );
        self.send_update(now, mn_id, &update, out);
        Ok(Ok(ack))
    }
}
