//! The MAAR's I/O: the XFRM check, the Mobility Header socket, and the loop that feeds the
//! engine from the socket, its timer and the API ([`MaarHandle`]), sends what it answers and
//! applies its routes and bindings to the router through its [`RouterPort`].

use std::{
    collections::HashMap,
    future::Future,
    io,
    net::Ipv6Addr,
    path::Path,
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
    time::Duration,
};

use anchor_pmip::{
    Now, Outgoing, error_chain,
    report::{self, Report},
    signaling_metrics::{MessageCounts, SignalingMetrics},
    timing::SignalingTiming,
    transport::{MhSocket, TransportError},
    xfrm::{self, XfrmError},
};
use anchor_signal::MnId;
use ipnet::Ipv6Net;
use thiserror::Error;
use tokio::{
    io::unix::AsyncFd,
    sync::{Notify, mpsc, watch},
    task::JoinHandle,
};

use crate::{
    config::MaarConfig,
    engine::{Action, MaarEngine, MnList},
    first_frame::{self, FirstFrame},
    handle::{MaarHandle, Reply, Request},
    link::{self, WatchedLink},
    ndp::{ALL_NODES, NdpError, NdpSocket},
    persist::PersistError,
    port::{RouteFailure, RouterPort},
    ra::{self, Advert},
    upkeep::{self, Restored},
};

/// The longest sleep of the loop when nothing is due.
const IDLE_WAKE: Duration = Duration::from_secs(1);
/// The most Mobility Header messages taken in one turn of the loop (then applied, saved and
/// answered together).
const RECEIVE_BATCH: usize = 256;
/// When an advertisement cannot be sent (the router's link-local address is still tentative
/// just after carrier up), it is tried again this often, at most [`RA_RETRIES`] times.
const RA_RETRY: Duration = Duration::from_millis(100);
const RA_RETRIES: u32 = 50;

#[derive(Debug, Error)]
pub enum StartError {
    #[error(transparent)]
    Transport(#[from] TransportError),
    #[error("Mobility Header socket: {0}")]
    Io(#[from] io::Error),
    #[error(transparent)]
    Ndp(#[from] NdpError),
    #[error("access interface {dev}: no such interface")]
    NoInterface { dev: String },
    #[error("maar.point_to_point: {dev} is not an access interface")]
    PointToPointNotAccess { dev: String },
}

/// The MAAR, ready to serve.
pub struct Maar {
    socket: AsyncFd<MhSocket>,
    engine: MaarEngine,
    requests: mpsc::Receiver<(Request, Reply)>,
    insecure: bool,
    /// The access interfaces' solicitations and advertisements.
    ndp: Vec<NdpSocket>,
    /// For the advertising tasks: attachments on solicitations.
    handle: MaarHandle,
    /// Point-to-point access links, attached on carrier up.
    links: Vec<WatchedLink>,
    ra_interval: Duration,
    report_interval: Duration,
    router_lifetime_s: u16,
    /// How often the redirects released on idle are sampled; `None`: none is.
    idle_sample: Option<Duration>,
    /// For [`MaarHandle::list`].
    list: watch::Sender<MnList>,
    /// For [`MaarHandle::metrics`].
    metrics: watch::Sender<SignalingMetrics>,
    /// Router Advertisements sent on every access interface.
    router_advertisements: Arc<AtomicU64>,
    /// The saved state taken back by [`Maar::restore_state`], applied when serving starts.
    restored: Option<Restored>,
    /// The router's first-frame reports, when nodes attach on their first frame.
    first_frames: Option<mpsc::Receiver<FirstFrame>>,
}

/// Checks that the kernel requires IPsec ESP for the Mobility Header with the CMD, or warns
/// that `insecure_signaling` turns the check off: before the daemon touches any interface.
pub fn check_security(config: &MaarConfig, locator: Ipv6Addr) -> Result<(), XfrmError> {
    let (address, cmds) = (config.address(locator), &config.cmd);
    let listed = list(cmds);
    if config.client_bindings {
        check_client_security(config, address)?;
    }
    if cmds.is_empty() {
        return Ok(());
    }
    if config.insecure_signaling {
        tracing::warn!(
            "insecure_signaling = true: PBU/PBA with the CMD {listed} are not checked for IPsec \
             ESP protection (lab use only)"
        );
    } else {
        xfrm::check_esp_for_mh(address, cmds)?;
        tracing::info!("IPsec ESP is required for the Mobility Header with the CMD {listed}");
    }
    Ok(())
}

/// The Binding Updates of mobile nodes (client-based DMM) come from any address: the XFRM
/// policies must require ESP for the Mobility Header with every peer (`::/0`).
fn check_client_security(config: &MaarConfig, address: Ipv6Addr) -> Result<(), XfrmError> {
    if config.insecure_signaling {
        tracing::warn!(
            "insecure_signaling = true: Binding Updates from mobile nodes are not checked for \
             IPsec ESP protection (lab use only): any host may claim a node's identity"
        );
        return Ok(());
    }
    xfrm::check_esp_for_mh(address, &[Ipv6Addr::UNSPECIFIED])?;
    tracing::info!("IPsec ESP is required for the Mobility Header with every mobile node");
    Ok(())
}

/// Opens the socket (after [`check_security`]). `access`: the access interfaces' names.
pub fn start(
    config: &MaarConfig,
    locator: Ipv6Addr,
    access: Vec<String>,
) -> Result<(Maar, MaarHandle), StartError> {
    let ndp = access
        .iter()
        .map(|dev| {
            let name = std::ffi::CString::new(dev.as_str())
                .map_err(|_| StartError::NoInterface { dev: dev.clone() })?;
            // SAFETY: name is a NUL-terminated string.
            let ifindex = unsafe { libc::if_nametoindex(name.as_ptr()) };
            if ifindex == 0 {
                return Err(StartError::NoInterface { dev: dev.clone() });
            }
            Ok(NdpSocket::open(dev, ifindex)?)
        })
        .collect::<Result<Vec<_>, StartError>>()?;
    let links = config
        .point_to_point
        .iter()
        .map(|p2p| {
            let socket = ndp
                .iter()
                .find(|socket| socket.dev() == p2p.dev)
                .ok_or_else(|| StartError::PointToPointNotAccess {
                    dev: p2p.dev.clone(),
                })?;
            Ok(WatchedLink {
                dev: p2p.dev.clone(),
                ifindex: socket.ifindex(),
                mn: p2p.mn_id.clone(),
                advertise: Arc::new(Notify::new()),
            })
        })
        .collect::<Result<Vec<_>, StartError>>()?;
    let engine = MaarEngine::new(config, locator, access);
    let address = engine.address();
    let socket = MhSocket::bind(address)?;
    socket.set_nonblocking(true)?;
    // SAFETY: the socket owns its descriptor, which stays open and the same until the AsyncFd
    // (which owns the socket) is dropped.
    let socket = unsafe { AsyncFd::register(socket) }.map_err(io::Error::from)?;
    let (tx, rx) = mpsc::channel(16);
    let (list, list_rx) = watch::channel(MnList::default());
    let (metrics, metrics_rx) =
        watch::channel(engine.signaling_metrics(MessageCounts::default(), 0));
    let handle = MaarHandle {
        requests: tx,
        list: list_rx,
        metrics: metrics_rx,
    };
    Ok((
        Maar {
            socket,
            engine,
            requests: rx,
            insecure: config.insecure_signaling,
            ndp,
            handle: handle.clone(),
            links,
            ra_interval: config.ra_interval(),
            report_interval: config.report_interval(),
            router_lifetime_s: config.router_lifetime_s(),
            idle_sample: config.idle_sample_interval(),
            list,
            metrics,
            router_advertisements: Arc::new(AtomicU64::new(0)),
            restored: None,
            first_frames: None,
        },
        handle,
    ))
}

impl Maar {
    /// Takes back the state saved in `state_file` (see [`crate::persist`]) and saves it there
    /// at every change from now on. Before [`serve`](Self::serve), which re-registers the
    /// nodes and adds the routes and bindings missing from the table.
    pub fn restore_state(mut self, state_file: &Path) -> Result<Self, PersistError> {
        self.restored = Some(upkeep::restore(&mut self.engine, state_file)?);
        Ok(self)
    }

    /// Attaches the node of every report from `frames` (see [`crate::first_frame`]) once
    /// serving starts.
    #[must_use]
    pub fn attach_on_first_frames(mut self, frames: mpsc::Receiver<FirstFrame>) -> Self {
        self.first_frames = Some(frames);
        self
    }

    /// Serves until `shutdown` completes (or every handle is gone), changing the router's
    /// bindings and routes through `router`. `access` maps the access interfaces to their
    /// indices, for the local prefixes' routes, which are removed at the end when
    /// `remove_routes` is set.
    #[expect(
        clippy::too_many_lines,
        reason = "the event loop: one select! arm per source of events, then the changes in their order"
    )]
    pub async fn serve<P: RouterPort>(
        mut self,
        mut router: P,
        access: HashMap<String, u32>,
        remove_routes: bool,
        shutdown: impl Future<Output = ()>,
    ) {
        let local = self.socket.get_ref().local();
        if self.engine.standalone() {
            tracing::info!("MAAR signaling from {local} without a CMD (client-based DMM)");
        } else {
            tracing::info!(
                "MAAR signaling from {local} with the CMD {}",
                list(self.engine.cmds())
            );
        }
        tokio::pin!(shutdown);
        let mut adverts: Vec<(String, watch::Sender<Vec<Advert>>)> = Vec::new();
        let mut advertisers: Vec<JoinHandle<()>> = Vec::new();
        let mut kicks = HashMap::new();
        for socket in std::mem::take(&mut self.ndp) {
            let (tx, rx) = watch::channel(Vec::new());
            adverts.push((socket.dev().to_owned(), tx));
            let kick = self
                .links
                .iter()
                .find(|l| l.dev == socket.dev())
                .map_or_else(|| Arc::new(Notify::new()), |l| Arc::clone(&l.advertise));
            kicks.insert(socket.dev().to_owned(), Arc::clone(&kick));
            advertisers.push(tokio::spawn(advertise(
                socket,
                self.handle.clone(),
                rx,
                kick,
                self.ra_interval,
                self.router_lifetime_s,
                Arc::clone(&self.router_advertisements),
            )));
        }
        if let Some(frames) = self.first_frames.take() {
            advertisers.push(tokio::spawn(first_frame::attach_reported(
                frames,
                self.handle.clone(),
                kicks,
            )));
        }
        let links = std::mem::take(&mut self.links);
        let handle = self.handle.clone();
        advertisers.push(tokio::spawn(async move {
            if let Err(error) = link::watch(links, handle).await {
                tracing::error!("{}", error_chain(&error));
            }
        }));
        let mut reports = report::ticker(self.report_interval);
        let mut out = Vec::new();
        let mut actions = Vec::new();
        let mut installed: HashMap<Ipv6Net, String> = HashMap::new();
        // Without an idle release to measure, the sampler wakes rarely and reads nothing.
        let mut sampler =
            tokio::time::interval(self.idle_sample.unwrap_or(Duration::from_hours(1)));
        sampler.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut saver = None;
        if let Some(restored) = self.restored.take() {
            out = restored.out;
            actions = upkeep::missing(restored.actions, &router).await;
            saver = Some(upkeep::Saver::new(restored.state_file));
        }
        loop {
            let now = Now::system();
            let wake = self
                .engine
                .next_deadline()
                .map_or(IDLE_WAKE, |d| d.saturating_duration_since(now.instant))
                .min(IDLE_WAKE);
            tokio::select! {
                () = &mut shutdown => break,
                _ = reports.tick() => {
                    Report::new("MAAR", &self.engine.counters().summary(), self.insecure).log();
                }
                _ = sampler.tick() => upkeep::sample_traffic(&mut self.engine, &router).await,
                () = tokio::time::sleep(wake) => {
                    // A release on idle is decided on a fresh count (the loop may have slept
                    // through samples).
                    if self.engine.idle_release_due(Now::system()) {
                        upkeep::sample_traffic(&mut self.engine, &router).await;
                    }
                    self.engine.poll(Now::system(), &mut out, &mut actions);
                }
                request = self.requests.recv() => {
                    let Some((request, reply)) = request else { break };
                    let now = Now::system();
                    let result = match request {
                        Request::Attach { mn, dev } => self.engine.attach(now, mn, &dev, &mut out),
                        Request::Detach { mn } => self.engine.detach(now, &mn, &mut out),
                    };
                    // Without a CMD an attachment's route is decided at once.
                    self.engine.poll(now, &mut out, &mut actions);
                    // The asker may be gone: the result stands anyway.
                    let _ = reply.send(result);
                }
                ready = self.socket.readable() => match ready {
                    Ok(mut guard) => {
                        // Everything already queued (up to a bound) in one turn: one state
                        // save covers the whole burst.
                        let mut received = Vec::new();
                        while received.len() < RECEIVE_BATCH {
                            match guard.try_io(|s| s.get_ref().recv()) {
                                Ok(Ok(message)) => received.push(message),
                                Ok(Err(error)) => {
                                    tracing::warn!("receiving: {error}");
                                    break;
                                }
                                Err(_would_block) => break,
                            }
                        }
                        // An update from the CMD that needs more bindings than fit is refused
                        // (status 130), so the room goes in first.
                        self.engine.set_binding_room(router.binding_room().await);
                        for (mh, from) in received {
                            self.receive(&mh, from, &mut out, &mut actions);
                        }
                    }
                    Err(error) => {
                        tracing::error!("the Mobility Header socket failed: {error}");
                        break;
                    }
                },
            }
            // The routes and bindings, then the state file, then the messages: an
            // acknowledgement leaves only once what it acknowledges is in place and on disk.
            for action in actions.drain(..) {
                apply(action, &mut router, &access, &mut installed).await;
            }
            if let Some(saver) = &mut saver {
                saver.save_if_changed(&self.engine);
            }
            self.send_all(&mut out);
            self.list
                .send_replace(self.engine.list(Now::system().instant));
            self.metrics.send_replace(self.engine.signaling_metrics(
                self.socket.get_ref().counts(),
                self.router_advertisements.load(Ordering::Relaxed),
            ));
            for (dev, tx) in &adverts {
                let now = self.engine.advertised(dev);
                tx.send_if_modified(|sent| {
                    let changed = *sent != now;
                    if changed {
                        sent.clone_from(&now);
                    }
                    changed
                });
            }
        }
        for task in advertisers {
            task.abort();
        }
        if remove_routes {
            for (prefix, dev) in installed {
                let ifindex = access.get(&dev).copied().unwrap_or(0);
                if let Err(error) = router.remove_route(prefix, &dev, ifindex).await {
                    tracing::warn!("{}", error_chain(&error));
                }
            }
        }
        let c = self.engine.counters();
        tracing::info!(
            "MAAR stopping: {} registrations, {} refused, {} CMD updates accepted, {} rejected, {} retransmitted{}",
            c.registrations,
            c.refused,
            c.accepted,
            c.rejected_total(),
            c.retransmissions,
            if self.insecure {
                " (insecure_signaling)"
            } else {
                ""
            }
        );
    }

    fn receive(
        &mut self,
        mh: &[u8],
        from: Ipv6Addr,
        out: &mut Vec<Outgoing>,
        actions: &mut Vec<Action>,
    ) {
        match self.socket.get_ref().decode(mh, from) {
            Some(message) => self
                .engine
                .handle(Now::system(), from, message, out, actions),
            None => self.engine.malformed(),
        }
    }

    fn send_all(&self, out: &mut Vec<Outgoing>) {
        self.engine.route(out);
        self.socket.get_ref().send_all(out);
    }
}

/// `2001:db8:c::1`, or `2001:db8:c::1, 2001:db8:c::2` for several instances.
fn list(cmds: &[Ipv6Addr]) -> String {
    cmds.iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

/// Applies one change; a failure is logged (the signaling has happened, the state is the
/// engine's).
async fn apply<P: RouterPort>(
    action: Action,
    router: &mut P,
    access: &HashMap<String, u32>,
    installed: &mut HashMap<Ipv6Net, String>,
) {
    let result = match &action {
        Action::AddRoute { prefix, dev, mac } => match access.get(dev) {
            Some(&ifindex) => match router.add_route(*prefix, dev, ifindex, *mac).await {
                Ok(()) | Err(RouteFailure::AlreadyDone(_)) => {
                    installed.insert(*prefix, dev.clone());
                    Ok(())
                }
                Err(RouteFailure::Failed(error)) => Err(error_chain(&error)),
            },
            None => Err(format!("{dev} is not an access interface")),
        },
        Action::RemoveRoute { prefix, dev } => {
            installed.remove(prefix);
            let ifindex = access.get(dev).copied().unwrap_or(0);
            match router.remove_route(*prefix, dev, ifindex).await {
                Ok(()) | Err(RouteFailure::AlreadyDone(_)) => Ok(()),
                Err(RouteFailure::Failed(error)) => Err(error_chain(&error)),
            }
        }
        Action::AddBinding { prefix, kind } => router
            .add_binding(*prefix, kind)
            .await
            .map_err(|e| error_chain(&e)),
        Action::RemoveBinding { prefix } => router
            .remove_binding(*prefix)
            .await
            .map_err(|e| error_chain(&e)),
    };
    match result {
        Ok(()) => tracing::info!("MAAR: {action:?}"),
        Err(error) => tracing::error!("MAAR: cannot apply {action:?}: {error}"),
    }
}

/// Router Advertisements on one access interface: every `interval`, when what it advertises
/// changes, when `kick` is notified (a point-to-point link came up, a node was attached on its
/// first frame) — these to all nodes, and only while a node is attached here — and in answer to
/// a Router Solicitation, which also attaches its sender (EUI-48 MN-ID from the Source Link-Layer
/// Address option) as `anchor mn attach` would. A multicast advertisement that cannot be sent
/// is tried again every [`RA_RETRY`] for a while.
async fn advertise(
    socket: NdpSocket,
    handle: MaarHandle,
    mut adverts: watch::Receiver<Vec<Advert>>,
    kick: Arc<Notify>,
    interval: Duration,
    router_lifetime_s: u16,
    sent: Arc<AtomicU64>,
) {
    let dev = socket.dev().to_owned();
    let mac = socket.mac();
    // SAFETY: the socket owns its descriptor, which stays open and the same until the AsyncFd
    // (which owns the socket) is dropped.
    let socket = match unsafe { AsyncFd::register(socket) } {
        Ok(socket) => socket,
        Err(error) => {
            tracing::error!("{dev}: cannot watch the ICMPv6 socket: {error}");
            return;
        }
    };
    tracing::info!("{dev}: router advertisements every {interval:?}, answering solicitations");
    let mut periodic = tokio::time::interval(interval);
    let mut retries_left = 0u32;
    loop {
        let retry = async {
            if retries_left > 0 {
                tokio::time::sleep(RA_RETRY).await;
            } else {
                std::future::pending::<()>().await;
            }
        };
        let mut retrying = false;
        let to = tokio::select! {
            _ = periodic.tick() => ALL_NODES,
            () = kick.notified() => ALL_NODES,
            () = retry => {
                retries_left -= 1;
                retrying = true;
                ALL_NODES
            }
            changed = adverts.changed() => {
                if changed.is_err() {
                    break;
                }
                ALL_NODES
            }
            ready = socket.readable() => {
                let mut guard = match ready {
                    Ok(guard) => guard,
                    Err(error) => {
                        tracing::error!("{dev}: the ICMPv6 socket failed: {error}");
                        break;
                    }
                };
                match guard.try_io(|s| s.get_ref().recv()) {
                    Ok(Ok(Some(rs))) => {
                        let mn = MnId::Eui48(rs.mac);
                        tracing::info!("{dev}: router solicitation from {} ({mn})", rs.from);
                        match handle.attach(mn.clone(), dev.clone()).await {
                            Ok(prefix) => tracing::debug!("{dev}: {mn} holds {prefix}"),
                            Err(error) => tracing::warn!("{dev}: cannot attach {mn}: {error}"),
                        }
                        // RFC 4861 section 6.2.6: to the soliciting node or to all nodes.
                        if rs.from.is_unspecified() { ALL_NODES } else { rs.from }
                    }
                    Ok(Ok(None)) | Err(_) => continue,
                    Ok(Err(error)) => {
                        tracing::warn!("{dev}: receiving: {error}");
                        continue;
                    }
                }
            }
        };
        let bytes = {
            let current = adverts.borrow_and_update();
            if !ra::worth_sending(to, &current) {
                retries_left = 0;
                continue;
            }
            ra::router_advertisement(router_lifetime_s, mac, &current)
        };
        match socket.get_ref().send(to, &bytes) {
            Ok(()) => {
                tracing::debug!("{dev}: router advertisement to {to}");
                sent.fetch_add(1, Ordering::Relaxed);
                if to == ALL_NODES {
                    retries_left = 0;
                }
            }
            // No carrier: nobody to advertise to.
            Err(error) if error.raw_os_error() == Some(libc::ENETUNREACH) => {
                tracing::debug!("{dev}: link down, no router advertisement: {error}");
            }
            // No usable link-local source yet (duplicate address detection after carrier up).
            Err(error) if to == ALL_NODES && error.raw_os_error() == Some(libc::EADDRNOTAVAIL) => {
                if !retrying {
                    retries_left = RA_RETRIES;
                }
                tracing::debug!("{dev}: no link-local source yet, advertising again soon: {error}");
            }
            Err(error) => {
                tracing::warn!("{dev}: cannot send a router advertisement to {to}: {error}");
            }
        }
    }
}
