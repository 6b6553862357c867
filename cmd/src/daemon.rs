//! `anchor cmd`: the XFRM check, the store, the socket, and the loop that feeds the engine from
//! the socket and its timer until shutdown.

use std::{
    future::Future,
    io,
    net::Ipv6Addr,
    time::{Duration, Instant},
};

use thiserror::Error;
use tokio::{io::unix::AsyncFd, sync::watch};

use anchor_pmip::{
    Now, Outgoing,
    report::{self, Report},
    signaling_metrics::{Leadership as LeadershipMetrics, SignalingMetrics},
    timing::SignalingTiming,
    transport::{MhSocket, TransportError},
    xfrm::{self, XfrmError},
};

use crate::{
    EtcdLocation, EtcdStore,
    cmd_store::{CmdStore, CmdStoreError},
    config::Config,
    counters::Counters,
    engine::{Engine, standby_metrics},
    etcd_leader::{Fence, Leadership, Role, leader_key},
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

/// Checks the security policy (or warns that it is off), opens the store (or, on etcd, starts
/// the campaign for leadership) and the socket: what must succeed before the CMD serves.
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
    let backend = match config.etcd_store().map_err(CmdStoreError::from)? {
        None => {
            let store = CmdStore::open(&config)?;
            tracing::info!(
                "store {}: {} binding(s)",
                store.describe(),
                store.records().len()
            );
            Backend::Alone(Box::new(Engine::new(config.clone(), store)))
        }
        Some(location) => {
            let name = config.instance_name();
            let leadership = Leadership::start(&location, name.clone(), config.leader_lease())?;
            tracing::info!(
                "store {}: instance {name} campaigns for {} (lease {} s); it answers only while \
                 it leads",
                location.url(),
                leader_key(&location),
                config.leader_lease_s
            );
            Backend::Shared(Box::new(Shared {
                role: leadership.role(),
                _campaign: leadership,
                location,
                engine: None,
                counters: Counters::default(),
                stats: LeadershipMetrics::default(),
                retry_at: None,
            }))
        }
    };
    let socket = MhSocket::bind(config.address)?;
    socket.set_nonblocking(true)?;
    let insecure = config.insecure_signaling;
    let report_interval = config.report_interval();
    // SAFETY: the socket owns its descriptor, which stays open and the same until the AsyncFd
    // (which owns the socket) is dropped.
    let socket = unsafe { AsyncFd::register(socket) }.map_err(io::Error::from)?;
    let cmd = Cmd {
        socket,
        config,
        backend,
        insecure,
        report_interval,
        metrics: watch::channel(SignalingMetrics::default()).0,
    };
    cmd.metrics.send_replace(cmd.metrics_now());
    Ok(cmd)
}

/// One CMD on its own store, or an instance among several sharing etcd.
enum Backend {
    Alone(Box<Engine<CmdStore>>),
    Shared(Box<Shared>),
}

/// An instance sharing etcd: it has an engine only while it leads.
struct Shared {
    /// The campaign, held for as long as the CMD runs: dropping it at shutdown revokes a
    /// leader's lease, so that a standby takes over at once.
    _campaign: Leadership,
    role: watch::Receiver<Role>,
    location: EtcdLocation,
    engine: Option<Engine<CmdStore>>,
    /// The counts of the terms before the current one.
    counters: Counters,
    stats: LeadershipMetrics,
    /// When to try again to take over after a failed attempt.
    retry_at: Option<Instant>,
}

/// The CMD, ready to serve.
pub struct Cmd {
    socket: AsyncFd<MhSocket>,
    config: Config,
    backend: Backend,
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

    /// The engine, while this instance answers.
    fn engine(&mut self) -> Option<&mut Engine<CmdStore>> {
        match &mut self.backend {
            Backend::Alone(engine) => Some(engine),
            Backend::Shared(shared) => shared.engine.as_mut(),
        }
    }

    /// What `/metrics` shows now: the engine's metrics with the socket's counts and the store's
    /// write times, and the leadership on etcd.
    fn metrics_now(&self) -> SignalingMetrics {
        let counts = self.socket.get_ref().counts();
        let of_engine = |engine: &Engine<CmdStore>| {
            let mut metrics = engine.signaling_metrics(counts.clone());
            metrics.store_write = Some(engine.store().write_times().clone());
            metrics
        };
        match &self.backend {
            Backend::Alone(engine) => of_engine(engine),
            Backend::Shared(shared) => {
                let mut metrics = shared.engine.as_ref().map_or_else(
                    || standby_metrics(&shared.counters, counts.clone()),
                    of_engine,
                );
                metrics.leadership = Some(LeadershipMetrics {
                    leader: shared.engine.is_some(),
                    ..shared.stats.clone()
                });
                metrics
            }
        }
    }

    /// Serves until `shutdown` completes. On its own store, a store failure stops the CMD
    /// (after the PBA that reports it). On etcd, the instance answers only while it leads: it
    /// stands down when its lease is not renewed or etcd cannot be reached, and takes over again
    /// when it wins the leader key.
    pub async fn serve(mut self, shutdown: impl Future<Output = ()>) -> Result<(), DaemonError> {
        tracing::info!("CMD listening on {}", self.local());
        tokio::pin!(shutdown);
        let mut reports = report::ticker(self.report_interval);
        let mut out = Vec::new();
        if let Backend::Alone(engine) = &mut self.backend {
            // Updates an earlier run sent and saw no acknowledgement of.
            let resumed = engine.resume(Now::system(), &mut out);
            self.send_all(&mut out);
            if resumed? > 0 {
                tracing::info!("sent again the updates the store still waited for");
            }
        }
        let mut role = match &self.backend {
            Backend::Shared(shared) => Some(shared.role.clone()),
            Backend::Alone(_) => None,
        };
        loop {
            let now = Now::system();
            let wake = self
                .engine()
                .and_then(|engine| engine.next_deadline(now))
                .map_or(IDLE_WAKE, |d| d.saturating_duration_since(now.instant))
                .min(self.lead_check_wake());
            tokio::select! {
                () = &mut shutdown => break,
                _ = reports.tick() => {
                    let summary = match self.engine() {
                        Some(engine) => engine.counters().summary(),
                        None => "standing by".to_owned(),
                    };
                    Report::new("CMD", &summary, self.insecure).log();
                }
                changed = changed(role.as_mut()) => {
                    if changed.is_err() {
                        tracing::error!("the leadership campaign has stopped");
                        role = None;
                    }
                    self.follow_role(&mut out);
                }
                () = tokio::time::sleep(wake) => {
                    self.follow_role(&mut out);
                    let result = match self.engine() {
                        Some(engine) => engine.poll(Now::system(), &mut out),
                        None => Ok(()),
                    };
                    self.send_all(&mut out);
                    self.settle(result)?;
                }
                ready = self.socket.readable() => {
                    let mut guard = ready?;
                    match guard.try_io(|s| s.get_ref().recv()) {
                        Ok(Ok((mh, from))) => {
                            let result = self.receive(&mh, from, &mut out);
                            self.send_all(&mut out);
                            self.settle(result)?;
                        }
                        Ok(Err(error)) => tracing::warn!("receiving: {error}"),
                        Err(_would_block) => {}
                    }
                }
            }
            self.metrics.send_replace(self.metrics_now());
        }
        let counters = match &mut self.backend {
            Backend::Alone(engine) => engine.counters().clone(),
            Backend::Shared(shared) => shared
                .engine
                .take()
                .map_or_else(|| shared.counters.clone(), Engine::into_counters),
        };
        let c = &counters;
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

    /// How long the loop may sleep before it must look at the lease again: a leader stops
    /// answering when its lease runs out even if the campaign has not said so yet.
    fn lead_check_wake(&self) -> Duration {
        match &self.backend {
            Backend::Shared(shared) if shared.engine.is_some() => match &*shared.role.borrow() {
                Role::Leader { until, .. } => until
                    .saturating_duration_since(Instant::now())
                    .min(IDLE_WAKE),
                Role::Standby { .. } => Duration::ZERO,
            },
            Backend::Shared(shared) => shared
                .retry_at
                .map_or(IDLE_WAKE, |at| at.saturating_duration_since(Instant::now()))
                .min(IDLE_WAKE),
            Backend::Alone(_) => IDLE_WAKE,
        }
    }

    /// Takes over or stands down as the campaign's role says.
    fn follow_role(&mut self, out: &mut Vec<Outgoing>) {
        let Backend::Shared(shared) = &mut self.backend else {
            return;
        };
        let role = shared.role.borrow().clone();
        let now = Instant::now();
        match (&role, shared.engine.is_some()) {
            (Role::Leader { .. }, true) if role.leads(now) => {}
            (_, true) => {
                let reason = match role {
                    Role::Leader { .. } => "its lease ran out before a renewal",
                    Role::Standby { .. } => "it no longer holds the leader key",
                };
                shared.stand_down(reason);
            }
            (Role::Leader { fence, .. }, false) if role.leads(now) => {
                if shared.retry_at.is_none_or(|at| at <= now) {
                    shared.take_over(&self.config, fence.clone(), out);
                }
            }
            (_, false) => {}
        }
        self.send_all(out);
    }

    /// Handles what a store call returned: on etcd, an unavailable store (or a conflicting
    /// write) makes the instance stand down (it answers nothing until it takes over again, with
    /// the records read anew); any other store failure stops the CMD.
    fn settle(&mut self, result: Result<(), StoreError>) -> Result<(), DaemonError> {
        match (&mut self.backend, result) {
            (_, Ok(())) => Ok(()),
            // A conflict under the fence means a writer outside the CMDs: the records are read
            // anew at the next take-over.
            (Backend::Shared(shared), Err(error))
                if error.is_unavailable() || matches!(error, StoreError::Conflict { .. }) =>
            {
                shared.stats.store_unavailable += 1;
                shared.stand_down(&format!("store: {error}"));
                shared.retry_at = Some(Instant::now() + RETAKE_AFTER);
                Ok(())
            }
            (_, Err(error)) => Err(error.into()),
        }
    }

    fn receive(
        &mut self,
        mh: &[u8],
        from: Ipv6Addr,
        out: &mut Vec<Outgoing>,
    ) -> Result<(), StoreError> {
        self.follow_role(out);
        let message = self.socket.get_ref().decode(mh, from);
        match &mut self.backend {
            Backend::Shared(shared) if shared.engine.is_none() => {
                shared.stats.standby_dropped += 1;
                if message.is_none() {
                    shared.counters.dropped += 1;
                }
                Ok(())
            }
            _ => {
                let Some(engine) = self.engine() else {
                    return Ok(());
                };
                if let Some(message) = message {
                    engine.handle(Now::system(), from, message, out)
                } else {
                    engine.malformed();
                    Ok(())
                }
            }
        }
    }

    fn send_all(&self, out: &mut Vec<Outgoing>) {
        self.socket.get_ref().send_all(out);
    }
}

/// After a failed take-over or a store failure, how long before trying again.
const RETAKE_AFTER: Duration = Duration::from_secs(1);

/// The next change of `role`, or never without one.
async fn changed(role: Option<&mut watch::Receiver<Role>>) -> Result<(), watch::error::RecvError> {
    match role {
        Some(role) => role.changed().await,
        None => std::future::pending().await,
    }
}

impl Shared {
    /// Opens the store fenced by `fence` (reading every record anew), sends again the updates it
    /// waits for, and answers from now on.
    fn take_over(&mut self, config: &Config, fence: Fence, out: &mut Vec<Outgoing>) {
        let revision = fence.create_revision;
        let store = match EtcdStore::open(self.location.clone(), Some(fence)) {
            Ok(store) => store,
            Err(error) => {
                self.stats.store_unavailable += 1;
                self.retry_at = Some(Instant::now() + RETAKE_AFTER);
                tracing::warn!("leads, but cannot read the store: {error}; not answering yet");
                return;
            }
        };
        let records = store.records().len();
        let mut engine = Engine::with_counters(
            config.clone(),
            CmdStore::Etcd(store),
            std::mem::take(&mut self.counters),
        );
        let resumed = match engine.resume(Now::system(), out) {
            Ok(n) => n,
            Err(error) => {
                self.counters = engine.into_counters();
                self.stats.store_unavailable += 1;
                self.retry_at = Some(Instant::now() + RETAKE_AFTER);
                tracing::warn!("leads, but cannot write the store: {error}; not answering yet");
                return;
            }
        };
        self.stats.terms += 1;
        self.retry_at = None;
        tracing::info!(
            "leader: answering as the CMD ({records} binding(s) read from etcd, {resumed}              update(s) sent again, fence revision {revision})"
        );
        self.engine = Some(engine);
    }

    /// Stops answering: the engine and its cached records go; the counts stay.
    fn stand_down(&mut self, reason: &str) {
        if let Some(engine) = self.engine.take() {
            self.counters = engine.into_counters();
            self.stats.lost += 1;
            tracing::warn!(
                "standing down: {reason}; not answering until this instance leads again"
            );
        }
    }
}
