//! Attachment on a node's first frame (`attach_on_first_frame = true`): the router's XDP
//! program reports IPv6 frames on an access interface from MACs not known there; each report
//! attaches its node at once (MN-ID: the MAC, as for a Router Solicitation) and makes the
//! interface's advertiser send a Router Advertisement without waiting for a solicitation.

use std::{collections::HashMap, sync::Arc};

use anchor_signal::MnId;
use tokio::sync::{Notify, mpsc};

use crate::handle::MaarHandle;

/// A frame from `mac`, a node not known on the access interface `dev`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FirstFrame {
    pub dev: String,
    pub mac: [u8; 6],
}

/// Attaches the node of every report; a node served on that interface already is left as it
/// is (the program reports a node until its route makes it known there).
pub(crate) async fn attach_reported(
    mut frames: mpsc::Receiver<FirstFrame>,
    handle: MaarHandle,
    kicks: HashMap<String, Arc<Notify>>,
) {
    while let Some(FirstFrame { dev, mac }) = frames.recv().await {
        let mn = MnId::Eui48(mac);
        let served = handle
            .list()
            .served
            .iter()
            .any(|(id, info)| *id == mn && info.dev == dev);
        if served {
            continue;
        }
        tracing::info!("{dev}: first frame from {mn}");
        match handle.attach(mn.clone(), dev.clone()).await {
            Ok(prefix) => {
                tracing::debug!("{dev}: {mn} holds {prefix}");
                if let Some(kick) = kicks.get(&dev) {
                    kick.notify_one();
                }
            }
            Err(error) => tracing::warn!("{dev}: cannot attach {mn}: {error}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use anchor_pmip::signaling_metrics::SignalingMetrics;
    use tokio::sync::watch;

    use super::*;
    use crate::{
        config::Policy,
        engine::{MnList, Phase, ServedInfo},
        handle::Request,
    };

    const NEW: [u8; 6] = [2, 0, 0, 0, 0, 1];
    const SERVED: [u8; 6] = [2, 0, 0, 0, 0, 2];

    #[tokio::test]
    async fn a_report_attaches_its_node_and_advertises_unless_it_is_served_there() {
        let (requests, mut asked) = mpsc::channel(4);
        let served = ServedInfo {
            prefix: "2001:db8:1:2::/64".parse().expect("prefix"),
            dev: "air".to_owned(),
            policy: Policy::SessionLasting,
            phase: Phase::Registered,
            visiting: Vec::new(),
        };
        let (_list_tx, list) = watch::channel(MnList {
            served: vec![(MnId::Eui48(SERVED), served)],
            anchored: Vec::new(),
        });
        let (_metrics_tx, metrics) = watch::channel(SignalingMetrics::default());
        let handle = MaarHandle {
            requests,
            list,
            metrics,
        };
        let kick = Arc::new(Notify::new());
        let kicks = HashMap::from([("air".to_owned(), Arc::clone(&kick))]);
        let (frames, reports) = mpsc::channel(4);
        let task = tokio::spawn(attach_reported(reports, handle, kicks));

        // Served on that interface already: nothing asked. Then a new node: attached.
        for mac in [SERVED, NEW] {
            frames
                .send(FirstFrame {
                    dev: "air".to_owned(),
                    mac,
                })
                .await
                .expect("send");
        }
        let (request, reply) = asked.recv().await.expect("one attachment");
        match request {
            Request::Attach { mn, dev } => {
                assert_eq!((mn, dev.as_str()), (MnId::Eui48(NEW), "air"));
            }
            Request::Detach { .. } => panic!("a detachment was asked for"),
        }
        reply
            .send(Ok("2001:db8:1:1::/64".parse().expect("prefix")))
            .expect("reply");
        // The advertiser of `air` is kicked.
        kick.notified().await;
        drop(frames);
        task.await.expect("the task ends with its reports");
        assert!(asked.try_recv().is_err(), "nothing else was asked");
    }
}
