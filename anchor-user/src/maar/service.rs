//! The MAAR's I/O: the XFRM check, the Mobility Header socket, and the loop that feeds the
//! engine from the socket, its timer and the API ([`MaarHandle`]), sends what it answers and
//! applies its routes and bindings to the binding table.

use std::{collections::HashMap, future::Future, io, net::Ipv6Addr, sync::Arc, time::Duration};

use anchor_cmd::{
    engine::{Now, Outgoing},
    report::{self, Report},
    timing::SignalingTiming,
    transport::{MhSocket, TransportError},
    xfrm::{self, XfrmError},
};
use anchor_signal::MnId;
use ipnet::Ipv6Net;
use thiserror::Error;
use tokio::{
    io::unix::AsyncFd,
    sync::{Mutex, mpsc, oneshot, watch},
    task::JoinHandle,
};

use super::{
    config::MaarConfig,
    engine::{Action, MaarEngine, MaarError},
    ndp::{ALL_NODES, NdpError, NdpSocket},
    ra::{self, Advert},
};
use crate::{
    api::error_chain,
    routes::{RouteError, Routes},
    state::{BindingTable, Dataplane},
};

/// The longest sleep of the loop when nothing is due.
const IDLE_WAKE: Duration = Duration::from_secs(1);

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
}

enum Request {
    Attach { mn: MnId, dev: String },
    Detach { mn: MnId },
}

type Reply = oneshot::Sender<Result<Ipv6Net, MaarError>>;

/// How the API asks the MAAR for attachments and detachments.
#[derive(Clone, Debug)]
pub struct MaarHandle {
    requests: mpsc::Sender<(Request, Reply)>,
}

impl MaarHandle {
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
    ra_interval: Duration,
    report_interval: Duration,
    router_lifetime_s: u16,
}

/// Checks that the kernel requires IPsec ESP for the Mobility Header with the CMD, or warns
/// that `insecure_signaling` turns the check off: before the daemon touches any interface.
pub fn check_security(config: &MaarConfig, locator: Ipv6Addr) -> Result<(), XfrmError> {
    let (address, cmd) = (config.address(locator), config.cmd);
    if config.insecure_signaling {
        tracing::warn!(
            "insecure_signaling = true: PBU/PBA with the CMD {cmd} are not checked for IPsec \
             ESP protection (lab use only)"
        );
    } else {
        xfrm::check_esp_for_mh(address, &[cmd])?;
        tracing::info!("IPsec ESP is required for the Mobility Header with the CMD {cmd}");
    }
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
    let engine = MaarEngine::new(config, locator, access);
    let address = engine.address();
    let socket = MhSocket::bind(address)?;
    socket.set_nonblocking(true)?;
    // SAFETY: the socket owns its descriptor, which stays open and the same until the AsyncFd
    // (which owns the socket) is dropped.
    let socket = unsafe { AsyncFd::register(socket) }.map_err(io::Error::from)?;
    let (tx, rx) = mpsc::channel(16);
    let handle = MaarHandle { requests: tx };
    Ok((
        Maar {
            socket,
            engine,
            requests: rx,
            insecure: config.insecure_signaling,
            ndp,
            handle: handle.clone(),
            ra_interval: config.ra_interval(),
            report_interval: config.report_interval(),
            router_lifetime_s: config.router_lifetime_s(),
        },
        handle,
    ))
}

impl Maar {
    /// Serves until `shutdown` completes (or every handle is gone). `access` maps the access
    /// interfaces to their indices, for the local prefixes' routes, which are removed at the
    /// end when `remove_routes` is set.
    pub async fn serve<D, R, L>(
        mut self,
        table: Arc<Mutex<BindingTable<D, R>>>,
        mut routes: L,
        access: HashMap<String, u32>,
        remove_routes: bool,
        shutdown: impl Future<Output = ()>,
    ) where
        D: Dataplane,
        R: Routes,
        L: Routes,
    {
        let local = self.socket.get_ref().local();
        tracing::info!(
            "MAAR signaling from {local} with the CMD {}",
            self.engine.cmd()
        );
        tokio::pin!(shutdown);
        let mut adverts: Vec<(String, watch::Sender<Vec<Advert>>)> = Vec::new();
        let mut advertisers: Vec<JoinHandle<()>> = Vec::new();
        for socket in std::mem::take(&mut self.ndp) {
            let (tx, rx) = watch::channel(Vec::new());
            adverts.push((socket.dev().to_owned(), tx));
            advertisers.push(tokio::spawn(advertise(
                socket,
                self.handle.clone(),
                rx,
                self.ra_interval,
                self.router_lifetime_s,
            )));
        }
        let mut reports = report::ticker(self.report_interval);
        let mut out = Vec::new();
        let mut actions = Vec::new();
        let mut installed: HashMap<Ipv6Net, String> = HashMap::new();
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
                () = tokio::time::sleep(wake) => {
                    self.engine.poll(Now::system(), &mut out, &mut actions);
                }
                request = self.requests.recv() => {
                    let Some((request, reply)) = request else { break };
                    let now = Now::system();
                    let result = match request {
                        Request::Attach { mn, dev } => self.engine.attach(now, mn, &dev, &mut out),
                        Request::Detach { mn } => self.engine.detach(now, &mn, &mut out),
                    };
                    // The asker may be gone: the result stands anyway.
                    let _ = reply.send(result);
                }
                ready = self.socket.readable() => match ready {
                    Ok(mut guard) => match guard.try_io(|s| s.get_ref().recv()) {
                        Ok(Ok((mh, from))) => self.receive(&mh, from, &mut out, &mut actions),
                        Ok(Err(error)) => tracing::warn!("receiving: {error}"),
                        Err(_would_block) => {}
                    },
                    Err(error) => {
                        tracing::error!("the Mobility Header socket failed: {error}");
                        break;
                    }
                },
            }
            self.send_all(&mut out);
            for action in actions.drain(..) {
                apply(action, &table, &mut routes, &access, &mut installed).await;
            }
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
                if let Err(error) = routes.del_route(prefix, &dev, ifindex).await {
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
        self.socket.get_ref().send_all(out);
    }
}

/// Applies one change; a failure is logged (the signaling has happened, the state is the
/// engine's).
async fn apply<D: Dataplane, R: Routes, L: Routes>(
    action: Action,
    table: &Mutex<BindingTable<D, R>>,
    routes: &mut L,
    access: &HashMap<String, u32>,
    installed: &mut HashMap<Ipv6Net, String>,
) {
    let result = match &action {
        Action::AddRoute { prefix, dev } => match access.get(dev) {
            Some(&ifindex) => match routes.add_route(*prefix, dev, ifindex).await {
                Ok(()) | Err(RouteError::Exists { .. }) => {
                    installed.insert(*prefix, dev.clone());
                    Ok(())
                }
                Err(error) => Err(error_chain(&error)),
            },
            None => Err(format!("{dev} is not an access interface")),
        },
        Action::RemoveRoute { prefix, dev } => {
            installed.remove(prefix);
            let ifindex = access.get(dev).copied().unwrap_or(0);
            match routes.del_route(*prefix, dev, ifindex).await {
                Ok(()) | Err(RouteError::NotFound { .. }) => Ok(()),
                Err(error) => Err(error_chain(&error)),
            }
        }
        Action::AddBinding { prefix, kind } => table
            .lock()
            .await
            .add(*prefix, kind.clone())
            .await
            .map(|_| ())
            .map_err(|e| error_chain(&e)),
        Action::RemoveBinding { prefix } => table
            .lock()
            .await
            .remove(*prefix)
            .await
            .map(|_| ())
            .map_err(|e| error_chain(&e)),
    };
    match result {
        Ok(()) => tracing::info!("MAAR: {action:?}"),
        Err(error) => tracing::error!("MAAR: cannot apply {action:?}: {error}"),
    }
}

/// Router Advertisements on one access interface: every `interval`, when what it advertises
/// changes, and in answer to a Router Solicitation, which also attaches its sender (EUI-48
/// MN-ID from the Source Link-Layer Address option) as `anchor mn attach` would.
async fn advertise(
    socket: NdpSocket,
    handle: MaarHandle,
    mut adverts: watch::Receiver<Vec<Advert>>,
    interval: Duration,
    router_lifetime_s: u16,
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
    loop {
        let to = tokio::select! {
            _ = periodic.tick() => ALL_NODES,
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
        let bytes = ra::router_advertisement(router_lifetime_s, mac, &adverts.borrow_and_update());
        match socket.get_ref().send(to, &bytes) {
            Ok(()) => tracing::debug!("{dev}: router advertisement to {to}"),
            // No carrier: nobody to advertise to.
            Err(error) if error.raw_os_error() == Some(libc::ENETUNREACH) => {
                tracing::debug!("{dev}: link down, no router advertisement: {error}");
            }
            Err(error) => {
                tracing::warn!("{dev}: cannot send a router advertisement to {to}: {error}")
            }
        }
    }
}
