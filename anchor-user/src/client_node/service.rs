//! `anchor client --config FILE`: the mobile node's daemon of client-based DMM. It feeds the
//! engine ([`anchor_client::ClientEngine`]) with the advertisements heard
//! ([`super::ra_socket`]), the node's addresses ([`super::host`]), the sockets in use and the
//! anchors' acknowledgements, and carries out what the engine asks: Binding Updates sent from
//! the care-of address, tunnels and anchors in the XDP/TC programs ([`super::datapath`]), old
//! addresses kept on the new interface. `status_file` shows the bindings and the counters.

use std::{
    collections::{BTreeSet, HashMap, HashSet},
    net::Ipv6Addr,
    path::Path,
    sync::Arc,
    time::Duration,
};

use anchor_client::{
    BindingInfo, Change, ClientConfig, ClientEngine,
    engine::{Counters, Send},
    sockets::local_addresses,
};
use anchor_pmip::{Now, error_chain, transport::MhSocket, xfrm};
use anchor_signal::MobilityHeader;
use anyhow::Context as _;
use serde::Serialize;
use tokio::{io::unix::AsyncFd, sync::mpsc};

use super::{
    datapath::ClientDatapath,
    host::{AddressEvent, Host},
    ra_socket::{self, Heard},
};

/// The longest sleep of the loop: the status file's counters are rewritten this often.
const TICK: Duration = Duration::from_secs(1);

/// What `status_file` holds.
#[derive(Debug, Serialize)]
pub struct Status<'a> {
    pub current: Option<ipnet::Ipv6Net>,
    pub bindings: Vec<BindingInfo>,
    pub signaling: &'a Counters,
    pub datapath: std::collections::BTreeMap<&'static str, u64>,
}

/// Reads and checks the configuration file.
pub fn load_config(path: &Path) -> anyhow::Result<ClientConfig> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    let config: ClientConfig =
        toml::from_str(&text).with_context(|| format!("{}", path.display()))?;
    config
        .validate()
        .with_context(|| format!("{}", path.display()))?;
    Ok(config)
}

/// One received Mobility Header: its bytes, sender and the local address it came to.
type Received = (Vec<u8>, Ipv6Addr, Ipv6Addr);

/// The Mobility Header sockets, one bound to each care-of address used, and the peers whose
/// ESP protection was checked.
struct Signaling {
    sockets: HashMap<Ipv6Addr, Arc<AsyncFd<MhSocket>>>,
    received: mpsc::Sender<Received>,
    insecure: bool,
    checked: HashSet<(Ipv6Addr, Ipv6Addr)>,
}

impl Signaling {
    fn socket(&mut self, local: Ipv6Addr) -> anyhow::Result<Arc<AsyncFd<MhSocket>>> {
        if let Some(socket) = self.sockets.get(&local) {
            return Ok(Arc::clone(socket));
        }
        let socket = MhSocket::bind(local)?;
        socket.set_nonblocking(true)?;
        // SAFETY: the socket owns its descriptor, which stays open and the same until the
        // AsyncFd (which owns the socket) is dropped.
        let socket = Arc::new(unsafe { AsyncFd::register(socket) }.map_err(std::io::Error::from)?);
        let reader = Arc::clone(&socket);
        let tx = self.received.clone();
        tokio::spawn(async move {
            loop {
                let Ok(mut guard) = reader.readable().await else {
                    return;
                };
                match guard.try_io(|s| s.get_ref().recv()) {
                    Ok(Ok((bytes, from))) => {
                        if tx.send((bytes, from, local)).await.is_err() {
                            return;
                        }
                    }
                    Ok(Err(error)) => tracing::warn!("receiving on {local}: {error}"),
                    Err(_would_block) => {}
                }
            }
        });
        self.sockets.insert(local, Arc::clone(&socket));
        Ok(socket)
    }

    fn send(&mut self, update: &Send) {
        if !self.insecure && !self.checked.contains(&(update.from, update.to)) {
            if let Err(error) = xfrm::check_esp_for_mh(update.from, &[update.to]) {
                tracing::error!(
                    "not sending to {} from {}: {}",
                    update.to,
                    update.from,
                    error_chain(&error)
                );
                return;
            }
            self.checked.insert((update.from, update.to));
        }
        let sent = self.socket(update.from).and_then(|socket| {
            let wire = update.message.encode(update.from, update.to)?;
            socket.get_ref().send(update.to, &wire)?;
            Ok(())
        });
        match sent {
            Ok(()) => tracing::debug!("to {}: {:?}", update.to, update.message),
            Err(error) => tracing::warn!("cannot send to {}: {error:#}", update.to),
        }
    }
}

/// Runs the node's side until `shutdown` completes.
pub async fn serve(
    config: &ClientConfig,
    shutdown: impl std::future::Future<Output = ()>,
) -> anyhow::Result<()> {
    if config.insecure_signaling {
        tracing::warn!(
            "insecure_signaling = true: Binding Updates go to the anchors without IPsec ESP \
             (lab use only)"
        );
    }
    let mut datapath = ClientDatapath::load(&config.interfaces)?;
    let mut host = Host::open(&config.interfaces)?;
    let (ra_tx, mut heard) = mpsc::channel(64);
    for dev in &config.interfaces {
        ra_socket::listen(dev, ra_tx.clone())?;
    }
    let (received_tx, mut received) = mpsc::channel(64);
    let mut signaling = Signaling {
        sockets: HashMap::new(),
        received: received_tx,
        insecure: config.insecure_signaling,
        checked: HashSet::new(),
    };
    let mut engine = ClientEngine::new(config);
    let (mut out, mut changes) = (Vec::new(), Vec::new());
    let initial = host.addresses().await?;
    tracing::info!(
        "client-based DMM on {}: {} address(es) now",
        config.interfaces.join(", "),
        initial.len()
    );
    let mut pending: Vec<AddressEvent> = initial;
    let mut scan = tokio::time::interval(config.socket_check());
    // The link-local address of the router last heard on each interface.
    let mut routers: HashMap<String, Ipv6Addr> = HashMap::new();
    tokio::pin!(shutdown);
    loop {
        // Addresses are looked at with a fresh view of the sockets: a move registers exactly
        // the prefixes still in use.
        if !pending.is_empty() {
            engine.sockets(Now::system(), sockets_in_use(), &mut out, &mut changes);
            for event in pending.drain(..) {
                if !event.removed {
                    engine.address(
                        Now::system(),
                        &event.dev,
                        event.address,
                        event.preferred,
                        &mut out,
                        &mut changes,
                    );
                }
            }
        }
        apply(&mut datapath, &host, &routers, changes.drain(..)).await;
        for send in out.drain(..) {
            signaling.send(&send);
        }
        write_status(config, &engine, &datapath);
        let now = Now::system();
        let wake = engine
            .next_deadline()
            .map_or(TICK, |d| d.saturating_duration_since(now.instant))
            .min(TICK);
        tokio::select! {
            () = &mut shutdown => break,
            () = tokio::time::sleep(wake) => engine.poll(Now::system(), &mut out, &mut changes),
            _ = scan.tick() => engine.sockets(Now::system(), sockets_in_use(), &mut out, &mut changes),
            Some(h) = heard.recv() => {
                let Heard { dev, router, mac, advert } = h;
                if advert.router_address.is_some() {
                    routers.insert(dev.clone(), router);
                }
                engine.advertised(&dev, mac, &advert);
                // An address may have come before the advertisement that explains it.
                pending = host.addresses().await.unwrap_or_default();
            }
            event = host.next_event() => match event {
                Some(event) => pending.push(event),
                None => anyhow::bail!("the rtnetlink socket closed"),
            },
            Some((bytes, from, local)) = received.recv() => {
                match MobilityHeader::decode(&bytes, from, local) {
                    Ok(message) => engine.handle(Now::system(), from, &message, &mut changes),
                    Err(error) => tracing::debug!("dropped a Mobility Header from {from}: {error}"),
                }
            }
        }
    }
    // The anchors release the prefixes now rather than at the bindings' expiry, and the host
    // keeps no route or address of a tunnel that is gone with the programs.
    engine.shutdown(Now::system(), &mut out, &mut changes);
    for send in out.drain(..) {
        signaling.send(&send);
    }
    apply(&mut datapath, &host, &routers, changes.drain(..)).await;
    let c = engine.counters();
    tracing::info!(
        "client stopping: {} updates sent, {} accepted, {} refused, {} retransmitted, {} moves",
        c.updates_sent,
        c.accepted,
        c.refused,
        c.retransmissions,
        c.moves
    );
    Ok(())
}

/// Carries out the engine's changes; a failure is logged and the others go on.
async fn apply(
    datapath: &mut ClientDatapath,
    host: &Host,
    routers: &HashMap<String, Ipv6Addr>,
    changes: impl Iterator<Item = Change>,
) {
    for change in changes {
        let result: anyhow::Result<()> = match &change {
            Change::Anchor(anchor) => datapath.set_anchor(*anchor).map_err(Into::into),
            Change::ForgetAnchor(anchor) => datapath
                .remove_anchor(*anchor)
                .map(|_| ())
                .map_err(Into::into),
            Change::Tunnel {
                prefix,
                anchor,
                care_of,
                dev,
            } => {
                tunnel(
                    datapath,
                    host,
                    routers.get(dev),
                    (*prefix, *anchor, *care_of),
                    dev,
                )
                .await
            }
            Change::RemoveTunnel { prefix } => match datapath.remove_tunnel(*prefix) {
                Ok(_) => host.remove_tunnel_route(*prefix).await.map_err(Into::into),
                Err(error) => Err(error.into()),
            },
            Change::KeepAddress { address, dev } => {
                host.keep_address(dev, *address).await.map_err(Into::into)
            }
            Change::DropAddress { address, dev } => {
                host.drop_address(dev, *address).await.map_err(Into::into)
            }
        };
        match result {
            Ok(()) => tracing::info!("client: {change:?}"),
            Err(error) => tracing::error!("client: cannot apply {change:?}: {error:#}"),
        }
    }
}

/// A tunnel for `prefix` toward `anchor` from `care_of` on `dev`, whose router is `gateway`:
/// the program's entry, then the route that fits the prefix's packets to the tunnel's MTU.
async fn tunnel(
    datapath: &mut ClientDatapath,
    host: &Host,
    gateway: Option<&Ipv6Addr>,
    (prefix, anchor, care_of): (ipnet::Ipv6Net, Ipv6Addr, Ipv6Addr),
    dev: &str,
) -> anyhow::Result<()> {
    datapath.set_tunnel(prefix, anchor, care_of)?;
    let gateway = gateway
        .with_context(|| format!("no router heard on {dev}: {prefix} keeps the full MTU"))?;
    let mtu = host.add_tunnel_route(prefix, *gateway, dev).await?;
    tracing::info!("{prefix}: its packets leave {dev} via {gateway} with MTU {mtu}");
    Ok(())
}

/// The local addresses of the namespace's TCP and UDP sockets; an unreadable table counts as
/// empty (and is logged).
fn sockets_in_use() -> BTreeSet<Ipv6Addr> {
    let mut in_use = BTreeSet::new();
    for (path, tcp) in [("/proc/net/tcp6", true), ("/proc/net/udp6", false)] {
        match std::fs::read_to_string(path) {
            Ok(table) => in_use.extend(local_addresses(&table, tcp)),
            Err(error) => tracing::warn!("cannot read {path}: {error}"),
        }
    }
    in_use
}

fn write_status(config: &ClientConfig, engine: &ClientEngine, datapath: &ClientDatapath) {
    let status = Status {
        current: engine.current(),
        bindings: engine.bindings(),
        signaling: engine.counters(),
        datapath: datapath.counters().unwrap_or_default(),
    };
    let written = serde_json::to_vec_pretty(&status)
        .map_err(std::io::Error::other)
        .and_then(|bytes| {
            if let Some(dir) = config.status_file.parent() {
                std::fs::create_dir_all(dir)?;
            }
            anchor_pmip::durable::write_atomic(&config.status_file, &bytes)
        });
    if let Err(error) = written {
        tracing::warn!("cannot write {}: {error}", config.status_file.display());
    }
}
