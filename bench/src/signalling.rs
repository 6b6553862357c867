//! Section 4, the signalling rows: the time from a CMD's Proxy Binding Update (RFC 8885, with a
//! Serving MAAR option) leaving the CMD's socket to the `Redirect` entry being in the MAAR's
//! binding map.
//!
//! In a namespace of its own: the MAAR role of `anchor run` (its service, engine, binding table
//! and datapath, loaded but not attached) on a runtime thread, and a CMD played by this thread
//! on a raw Mobility Header socket. Each node is first attached at the MAAR (`anchor mn attach`)
//! and its registration acknowledged, so that the MAAR anchors its prefix; then, one node at a
//! time, the CMD sends the update that the node moved, and this thread looks the prefix up in
//! the BPF map (a `BPF_MAP_LOOKUP_ELEM` per poll) until it is there.

use std::{
    collections::HashMap,
    net::Ipv6Addr,
    sync::Arc,
    time::{Duration, Instant, SystemTime},
};

use anchor_maar::{self as maar, MaarConfig, MaarHandle, engine::Phase};
use anchor_pmip::transport::MhSocket;
use anchor_rig::Netns;
use anchor_signal::{
    Lifetime, MnId, MobilityHeader, MobilityOption, Pba, PbaFlags, Pbu, PbuFlags, Status, Timestamp,
};
use anchor_user::{
    binding_table::BindingTable,
    datapath::{Datapath, DatapathParams},
    maar_router::MaarRouter,
    routing::NetlinkRoutes,
};
use anyhow::{Context as _, Result, bail};
use ipnet::Ipv6Net;
use tokio::sync::{Mutex, oneshot};

const MAAR: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 0xfe, 0, 0, 0, 0, 0xa);
const CMD: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 0xfe, 0, 0, 0, 0, 0xc);
const SERVING: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 0xfe, 0, 0, 0, 0, 0xb);
const POOL: &str = "2001:db8:a0::/48";
const ACCESS: &str = "acc0";
/// How long one answer or one binding may take before the benchmark fails.
const DEADLINE: Duration = Duration::from_secs(5);

type Table = BindingTable<Datapath, NetlinkRoutes>;

/// The latencies measured, sorted.
pub struct Latencies(Vec<Duration>);

impl Latencies {
    /// The `q` quantile (nearest rank).
    #[expect(
        clippy::cast_possible_truncation,
        clippy::cast_sign_loss,
        reason = "q is in 0..=1, so the rank is in 0..=len"
    )]
    pub fn quantile(&self, q: f64) -> Duration {
        let rank = ((q * self.0.len() as f64).ceil() as usize).clamp(1, self.0.len());
        self.0[rank - 1]
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }
}

/// The MAAR on its runtime thread, stopped on drop.
struct MaarThread {
    stop: Option<oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
    runtime: tokio::runtime::Handle,
    handle: MaarHandle,
    table: Arc<Mutex<Table>>,
}

impl MaarThread {
    /// Starts the MAAR on a new thread, which is in the caller's network namespace (`ns`,
    /// entered by the caller).
    fn start(ns: &Netns, state_dir: &std::path::Path) -> Result<Self> {
        let config: MaarConfig = toml::from_str(&format!(
            "cmd = \"{CMD}\"\naddress = \"{MAAR}\"\ninsecure_signaling = true\n\
             state_dir = \"{}\"\n\
             [[pool]]\nprefix = \"{POOL}\"\npolicy = \"session-lasting\"\n",
            state_dir.display()
        ))
        .context("the benchmark's [maar] section")?;
        let ifindex = ns.ifindex(ACCESS)?;
        let (ready_tx, ready_rx) = std::sync::mpsc::channel();
        let (stop_tx, stop_rx) = oneshot::channel::<()>();
        let thread = std::thread::spawn(move || {
            let started = (|| -> Result<_> {
                let runtime = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .context("cannot start the async runtime")?;
                let (maar, handle, table, routes) = runtime.block_on(async {
                    let datapath = Datapath::load(&DatapathParams {
                        locator: MAAR,
                        tunnel_mtu: 1500,
                        outer_hop_limit: 64,
                        max_bindings: 65_536,
                        dense_pools: Vec::new(),
                        log: false,
                    })?;
                    let access = vec![(ACCESS.to_owned(), ifindex)];
                    let table = Arc::new(Mutex::new(BindingTable::new(
                        datapath,
                        NetlinkRoutes::new()?,
                        MAAR,
                        65_536,
                        access,
                    )));
                    let (maar, handle) =
                        maar::service::start(&config, MAAR, vec![ACCESS.to_owned()])?;
                    // As the daemon: its state file saved at every change.
                    let maar = maar.restore_state(&config.state_file("bench"))?;
                    anyhow::Ok((maar, handle, table, NetlinkRoutes::new()?))
                })?;
                Ok((runtime, maar, handle, table, routes))
            })();
            let (runtime, maar, handle, table, routes) = match started {
                Ok(parts) => parts,
                Err(error) => {
                    let _ = ready_tx.send(Err(error));
                    return;
                }
            };
            let _ = ready_tx.send(Ok((runtime.handle().clone(), handle, Arc::clone(&table))));
            let access = HashMap::from([(ACCESS.to_owned(), ifindex)]);
            runtime.block_on(
                maar.serve(MaarRouter::new(table, routes), access, true, async {
                    let _ = stop_rx.await;
                }),
            );
        });
        let (runtime, handle, table) = ready_rx
            .recv()
            .context("the MAAR thread ended before it was ready")??;
        Ok(Self {
            stop: Some(stop_tx),
            thread: Some(thread),
            runtime,
            handle,
            table,
        })
    }

    fn attach(&self, mn: MnId) -> Result<Ipv6Net> {
        let handle = self.handle.clone();
        self.runtime
            .block_on(async move { handle.attach(mn, ACCESS.to_owned()).await })
            .context("anchor mn attach")
    }

    /// Acknowledges every registration (and retransmission) the CMD gets until the MAAR has
    /// taken them all in (and saved its state), so that each update is then measured alone
    /// rather than behind that backlog.
    fn register_all(&self, cmd: &Cmd, nodes: usize) -> Result<()> {
        let start = Instant::now();
        loop {
            let list = self.handle.list();
            let registered = list
                .served
                .iter()
                .filter(|(_, s)| s.phase == Phase::Registered)
                .count();
            if registered == nodes {
                return Ok(());
            }
            cmd.acknowledge_registrations()?;
            if start.elapsed() > DEADLINE * 12 {
                bail!(
                    "{registered} of {nodes} nodes registered at the MAAR after {:?}",
                    start.elapsed()
                );
            }
        }
    }

    fn has_binding(&self, prefix: Ipv6Net) -> Result<bool> {
        let table = self.table.blocking_lock();
        Ok(table
            .datapath()
            .get_binding(prefix)
            .context("binding map lookup")?
            .is_some())
    }
}

impl Drop for MaarThread {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take()
            && thread.join().is_err()
        {
            eprintln!("bench: the MAAR thread panicked");
        }
    }
}

/// The CMD's side: a raw Mobility Header socket with a receive timeout.
struct Cmd {
    socket: MhSocket,
    sequence: u16,
}

impl Cmd {
    fn open() -> Result<Self> {
        let socket = MhSocket::bind(CMD).context("the CMD's Mobility Header socket")?;
        socket
            .set_read_timeout(Some(DEADLINE))
            .context("socket timeout")?;
        Ok(Self {
            socket,
            sequence: 1,
        })
    }

    fn receive(&self) -> Result<MobilityHeader> {
        loop {
            let (bytes, from) = self
                .socket
                .recv()
                .context("no Mobility Header from the MAAR in time")?;
            if let Some(message) = self.socket.decode(&bytes, from) {
                return Ok(message);
            }
        }
    }

    fn send(&self, message: &MobilityHeader) -> Result<()> {
        let wire = message.encode(CMD, MAAR).context("encoding")?;
        self.socket.send(MAAR, &wire).context("sending to the MAAR")
    }

    /// Answers each registration that arrives within a few milliseconds with an accepting
    /// PBA.
    fn acknowledge_registrations(&self) -> Result<()> {
        self.socket
            .set_read_timeout(Some(Duration::from_millis(5)))
            .context("socket timeout")?;
        let answered = (|| -> Result<()> {
            while let Ok((bytes, from)) = self.socket.recv() {
                match self.socket.decode(&bytes, from) {
                    Some(MobilityHeader::Pbu(pbu)) => self.acknowledge(&pbu)?,
                    other => bail!("expected the MAAR's registrations, got {other:?}"),
                }
            }
            Ok(())
        })();
        self.socket
            .set_read_timeout(Some(DEADLINE))
            .context("socket timeout")?;
        answered
    }

    fn acknowledge(&self, pbu: &Pbu) -> Result<()> {
        let options = pbu
            .options
            .iter()
            .filter(|o| matches!(o, MobilityOption::MnId(_) | MobilityOption::Timestamp(_)))
            .cloned()
            .collect();
        self.send(&MobilityHeader::Pba(Pba {
            status: Status::ACCEPTED,
            flags: PbaFlags::P | PbaFlags::D,
            sequence: pbu.sequence,
            lifetime: pbu.lifetime,
            options,
        }))
    }

    /// The update that `mn`, holding `prefix` here, is served at [`SERVING`] now.
    fn moved(&mut self, mn: &MnId, prefix: Ipv6Net) -> Result<()> {
        let sequence = self.sequence;
        self.sequence = self.sequence.wrapping_add(1);
        self.send(&MobilityHeader::Pbu(Pbu {
            sequence,
            flags: PbuFlags::A | PbuFlags::P | PbuFlags::D,
            lifetime: Lifetime::from_duration_floor(Duration::from_mins(10)),
            options: vec![
                MobilityOption::MnId(mn.clone()),
                MobilityOption::Timestamp(Timestamp::from_system_time(SystemTime::now())),
                MobilityOption::ServingMaar(SERVING),
                MobilityOption::AnchoredPrefix(prefix),
            ],
        }))
    }

    fn expect_accepted(&self) -> Result<()> {
        match self.receive()? {
            MobilityHeader::Pba(pba) if pba.status.is_accepted() => Ok(()),
            MobilityHeader::Pba(pba) => bail!("the MAAR rejected the update: {}", pba.status.0),
            MobilityHeader::Pbu(_) => bail!("expected a PBA from the MAAR, got a PBU"),
        }
    }
}

fn mn(i: usize) -> MnId {
    let [_, _, _, _, _, _, a, b] = (i as u64).to_be_bytes();
    MnId::Eui48([2, 0, 0, 0xbe, a, b])
}

/// What one run measured.
pub struct Measured {
    /// From the update leaving the CMD to the binding in the map.
    pub map: Latencies,
    /// From the update leaving the CMD to its acknowledgement arriving.
    pub acknowledged: Latencies,
}

/// Attaches `nodes` nodes, then measures one update per node.
pub fn measure(nodes: usize) -> Result<Measured> {
    let ns = Netns::create(crate::NETNS_STEM, "sig")?;
    // Veth pairs with both ends here (this kernel may lack the dummy driver).
    for (dev, peer) in [("core0", "core1"), (ACCESS, "acc1")] {
        ns.ip(&format!("link add {dev} type veth peer name {peer}"))?;
        ns.ip(&format!("link set {dev} up"))?;
        ns.ip(&format!("link set {peer} up"))?;
    }
    ns.ip(&format!("addr add {MAAR}/128 dev core0"))?;
    ns.ip(&format!("addr add {CMD}/128 dev core0"))?;
    let state_dir = std::env::temp_dir().join(format!("anc-bn{}-sig", std::process::id()));
    std::fs::create_dir_all(&state_dir)
        .with_context(|| format!("cannot create {}", state_dir.display()))?;
    let result = (|| {
        let _entered = ns.enter()?;
        let maar = MaarThread::start(&ns, &state_dir)?;
        let mut cmd = Cmd::open()?;
        let mut prefixes = Vec::with_capacity(nodes);
        for i in 0..nodes {
            prefixes.push(maar.attach(mn(i))?);
        }
        maar.register_all(&cmd, nodes)?;
        let (mut latencies, mut acknowledged) =
            (Vec::with_capacity(nodes), Vec::with_capacity(nodes));
        for (i, &prefix) in prefixes.iter().enumerate() {
            let start = Instant::now();
            cmd.moved(&mn(i), prefix)?;
            while !maar.has_binding(prefix)? {
                if start.elapsed() > DEADLINE {
                    bail!("no redirect for {prefix} within {DEADLINE:?} of the update");
                }
                std::hint::spin_loop();
            }
            latencies.push(start.elapsed());
            cmd.expect_accepted()?;
            acknowledged.push(start.elapsed());
        }
        latencies.sort();
        acknowledged.sort();
        Ok(Measured {
            map: Latencies(latencies),
            acknowledged: Latencies(acknowledged),
        })
    })();
    let _ = std::fs::remove_dir_all(&state_dir);
    result
}
