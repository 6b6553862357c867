//! Attachment on a node's first frame, on the daemon's side (`[maar] attach_on_first_frame`):
//! the program's reports of frames from unknown MACs on the access interfaces, read from its
//! ring and handed to the MAAR by interface name.

use anchor_common::{IfaceValue, config::IFACE_FLAG_FIRST_FRAME};
use anchor_maar::FirstFrame;
use thiserror::Error;
use tokio::{sync::mpsc, task::JoinHandle};

use crate::datapath::{Datapath, DatapathError, WatchedFirstFrames};

/// The reports queued for the MAAR at most; more are dropped (the program reports a node
/// again after its interval while it stays unknown).
pub const QUEUE: usize = 256;

#[derive(Debug, Error)]
pub enum FirstFrameError {
    #[error("cannot turn first-frame attachment on for interface {ifindex}")]
    Iface {
        ifindex: u32,
        #[source]
        source: DatapathError,
    },
    #[error("the program's first-frame reports are taken already")]
    Taken,
    #[error("cannot watch the program's first-frame reports")]
    Watch(#[source] std::io::Error),
}

/// Turns the reports on for the access interfaces `access` ((name, ifindex, `IFACES` entry as
/// configured)) and takes the program's ring. Within a tokio runtime.
pub fn enable(
    datapath: &mut Datapath,
    access: &[(String, u32, IfaceValue)],
) -> Result<WatchedFirstFrames, FirstFrameError> {
    let frames = datapath.take_first_frames().ok_or(FirstFrameError::Taken)?;
    let watched = frames.watch().map_err(FirstFrameError::Watch)?;
    for (_, ifindex, value) in access {
        let value = IfaceValue {
            flags: value.flags | IFACE_FLAG_FIRST_FRAME,
            ..*value
        };
        datapath
            .set_iface(*ifindex, value)
            .map_err(|source| FirstFrameError::Iface {
                ifindex: *ifindex,
                source,
            })?;
    }
    Ok(watched)
}

/// Hands every report to the MAAR through `to`, with its interface's name; ends when the MAAR
/// is gone or the ring fails.
pub fn forward(
    mut frames: WatchedFirstFrames,
    access: Vec<(String, u32)>,
    to: mpsc::Sender<FirstFrame>,
) -> JoinHandle<()> {
    tokio::spawn(async move {
        loop {
            let reports = match frames.next().await {
                Ok(reports) => reports,
                Err(error) => {
                    tracing::error!("cannot read the first-frame reports: {error}");
                    return;
                }
            };
            for report in reports {
                let Some((dev, _)) = access.iter().find(|(_, i)| *i == report.ifindex) else {
                    tracing::debug!(
                        "first frame on interface {}: not an access interface",
                        report.ifindex
                    );
                    continue;
                };
                let frame = FirstFrame {
                    dev: dev.clone(),
                    mac: report.mac,
                };
                match to.try_send(frame) {
                    Ok(()) => {}
                    Err(mpsc::error::TrySendError::Full(frame)) => {
                        tracing::warn!("{}: first-frame report dropped (queue full)", frame.dev);
                    }
                    Err(mpsc::error::TrySendError::Closed(_)) => return,
                }
            }
        }
    })
}
