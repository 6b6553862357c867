//! `anchor cmd`: the XFRM check, the store, the socket, and the loop that feeds the engine from
//! the socket and its timer until shutdown.

use std::{future::Future, io, net::Ipv6Addr, time::Duration};

use thiserror::Error;
use tokio::{io::unix::AsyncFd, sync::watch};

use anchor_pmip::{
    Now, Outgoing,
    report::{self, Report},
    signaling_metrics::SignalingMetrics,
    timing::SignalingTiming,
    transport::{MhSocket, TransportError},
    xfrm::{self, XfrmError},
};

use crate::{
    cmd_store::{CmdStore, CmdStoreError},
    config::Config,
    engine::Engine,
    store::{MobilityStore, StoreError},
};

/// The longest sleep of the loop when nothing is due: it also bounds how late an expiry is seen.
const IDLE_WAKE: Duration = Duration::from_secs(1);

#[derive(Debug, Error)]
pub enum DaemonError {
    #[error(transparent)]
    Xfrm(#[from] XfrmError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    OpenStore(#[from] CmdStoreError),
    #[error(transparent)]
    Transport(#[from] TransportError),
    #[error("Mobility Header socket: {0}")]
    Io(#[from] io::Error),
}

/// Checks the security policy (or warns that it is off), opens the store and the socket: what
/// must succeed before the CMD serves.
pub fn start(config: Config) -> Result<Cmd, DaemonError> {
    // The MAARs and the subscribers: every peer the CMD signals with.
    let maars: Vec<Ipv6Addr> = config
        .maars
        .iter()
        .map(|m| m.address)
        .chain(config.subscribers.iter().copied())
        .collect();
    if config.insecure_signaling {
        tracing::warn!(
            "insecure_signaling = true: PBU/PBA with the MAARs are not checked for IPsec ESP \
             protection (lab use only)"
        );
    } else {
        xfrm::check_esp_for_mh(config.address, &maars)?;
        tracing::info!("IPsec ESP is required for the Mobility Header with every MAAR");
    }
    let store = CmdStore::open(&config)?;
    tracing::info!(
        "store {}: {} binding(s)",
        store.describe(),
        store.records().len()
    );
    let socket = MhSocket::bind(config.address)?;
    socket.set_nonblocking(true)?;
    let insecure = config.insecure_signaling;
    let report_interval = config.report_interval();
    // SAFETY: the socket owns its descriptor, which stays open and the same until the AsyncFd
    // (which owns the socket) is dropped.
    let socket = unsafe { AsyncFd::register(socket) }.map_err(io::Error::from)?;
    let engine = Engine::new(config, store);
    let (metrics, _) = watch::channel(metrics_of(&engine, &socket));
    Ok(Cmd {
        socket,
        engine,
        insecure,
        report_interval,
        metrics,
    })
}

/// What `/metrics` shows: the engine's metrics with the socket's counts and the store's write
/// times.
fn metrics_of(engine: &Engine<CmdStore>, socket: &AsyncFd<MhSocket>) -> SignalingMetrics {
    let mut metrics = engine.signaling_metrics(socket.get_ref().counts());
    metrics.store_write = Some(engine.store().write_times().clone());
    metrics
}

/// The CMD, ready to serve.
pub struct Cmd {
    socket: AsyncFd<MhSocket>,
    engine: Engine<CmdStore>,
    insecure: bool,
    report_interval: Duration,
    /// What `/metrics` shows, as of the loop's last turn (at most a second old).
    metrics: watch::Sender<SignalingMetrics>,
}

impl Cmd {
    pub fn local(&self) -> Ipv6Addr {
        self.socket.get_ref().local()
    }

    /// The signaling metrics, as of the loop's last turn.
    pub fn metrics(&self) -> watch::Receiver<SignalingMetrics> {
        self.metrics.subscribe()
    }

    /// Serves until `shutdown` completes. A store failure stops the CMD (after the PBA that
    /// reports it).
    pub async fn serve(mut self, shutdown: impl Future<Output = ()>) -> Result<(), DaemonError> {
        tracing::info!("CMD listening on {}", self.local());
        tokio::pin!(shutdown);
        let mut reports = report::ticker(self.report_interval);
        let mut out = Vec::new();
        // Updates an earlier run sent and saw no acknowledgement of.
        let resumed = self.engine.resume(Now::system(), &mut out);
        self.send_all(&mut out);
        if resumed? > 0 {
            tracing::info!("sent again the updates the store still waited for");
        }
        loop {
            let now = Now::system();
            let wake = self
                .engine
                .next_deadline(now)
                .map_or(IDLE_WAKE, |d| d.saturating_duration_since(now.instant))
                .min(IDLE_WAKE);
            tokio::select! {
                () = &mut shutdown => break,
                _ = reports.tick() => {
                    Report::new("CMD", &self.engine.counters().summary(), self.insecure).log();
                }
                () = tokio::time::sleep(wake) => {
                    let result = self.engine.poll(Now::system(), &mut out);
                    self.send_all(&mut out);
                    result?;
                }
                ready = self.socket.readable() => {
                    let mut guard = ready?;
                    match guard.try_io(|s| s.get_ref().recv()) {
                        Ok(Ok((mh, from))) => {
                            let result = self.receive(&mh, from, &mut out);
                            self.send_all(&mut out);
                            result?;
                        }
                        Ok(Err(error)) => tracing::warn!("receiving: {error}"),
                        Err(_would_block) => {}
                    }
                }
            }
            self.metrics
                .send_replace(metrics_of(&self.engine, &self.socket));
        }
        let c = self.engine.counters();
        tracing::info!(
            "stopping: {} accepted, {} rejected, {} updates sent, {} retransmitted, {} acknowledged{}",
            c.accepted,
            c.rejected_total(),
            c.updates_sent,
            c.retransmissions,
            c.acks,
            if self.insecure {
                " (insecure_signaling)"
            } else {
                ""
            }
        );
        Ok(())
    }

    fn receive(
        &mut self,
        mh: &[u8],
        from: Ipv6Addr,
        out: &mut Vec<Outgoing>,
    ) -> Result<(), StoreError> {
        if let Some(message) = self.socket.get_ref().decode(mh, from) {
            self.engine.handle(Now::system(), from, message, out)
        } else {
            self.engine.malformed();
            Ok(())
        }
    }

    fn send_all(&self, out: &mut Vec<Outgoing>) {
        self.socket.get_ref().send_all(out);
    }
}
