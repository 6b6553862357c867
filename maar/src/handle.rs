//! [`MaarHandle`]: how the API, the advertisers and the point-to-point links ask the MAAR
//! service for attachments and detachments, and read what it holds.

use anchor_pmip::signaling_metrics::SignalingMetrics;
use anchor_signal::MnId;
use ipnet::Ipv6Net;
use tokio::sync::{mpsc, oneshot, watch};

use crate::engine::{MaarError, MnList};

pub(crate) enum Request {
    Attach { mn: MnId, dev: String },
    Detach { mn: MnId },
}

pub(crate) type Reply = oneshot::Sender<Result<Ipv6Net, MaarError>>;

/// How the API asks the MAAR for attachments and detachments.
#[derive(Clone, Debug)]
pub struct MaarHandle {
    pub(crate) requests: mpsc::Sender<(Request, Reply)>,
    /// What the MAAR holds, as of its service loop's last turn (at most a second old).
    pub(crate) list: watch::Receiver<MnList>,
    /// The signaling metrics, as of the same turn.
    pub(crate) metrics: watch::Receiver<SignalingMetrics>,
}

impl MaarHandle {
    /// The nodes served here and the prefixes anchored here for nodes served elsewhere.
    pub fn list(&self) -> MnList {
        self.list.borrow().clone()
    }

    /// The signaling metrics (`/metrics`), as of the service loop's last turn.
    pub fn metrics(&self) -> SignalingMetrics {
        self.metrics.borrow().clone()
    }

    /// `mn` attached on `dev`: the prefix delegated to it (its registration goes on).
    pub async fn attach(&self, mn: MnId, dev: String) -> Result<Ipv6Net, MaarError> {
        self.ask(Request::Attach { mn, dev }).await
    }

    /// `mn` left: the prefix it held (its de-registration goes on).
    pub async fn detach(&self, mn: MnId) -> Result<Ipv6Net, MaarError> {
        self.ask(Request::Detach { mn }).await
    }

    async fn ask(&self, request: Request) -> Result<Ipv6Net, MaarError> {
        let (reply, answer) = oneshot::channel();
        self.requests
            .send((request, reply))
            .await
            .map_err(|_| MaarError::Stopped)?;
        answer.await.map_err(|_| MaarError::Stopped)?
    }
}
