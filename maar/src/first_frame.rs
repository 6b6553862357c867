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
