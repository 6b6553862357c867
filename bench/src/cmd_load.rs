//! Section 4, the CMD's capacity: a load generator plays many MAARs against `anchor cmd` (the
//! binary), on its file store and on a three-member etcd cluster (Debian's `etcd-server`).
//!
//! Two namespaces joined by a veth pair: the CMD (and etcd, on its loopback) in one; in the
//! other, one raw Mobility Header socket per MAAR address, each read by a task of its own. Every
//! node has a home MAAR and a second one, and moves between the two: each move is a PBU from
//! the MAAR it moves to (with its prefix there), which the CMD answers after writing the record,
//! and an update to the MAAR it left, which that MAAR acknowledges. The generator sends moves at
//! a fixed rate, each to a node whose last move was answered, for a few seconds per rate,
//! doubling the rate while the p99 from PBU to PBA (a move never answered counting as slower
//! than any) stays within 50 ms and all but 1% are answered: the last such rate is the CMD's
//! sustained moves per second on that store.
//!
//! On etcd, a second instance then stands by; the leader is killed (SIGKILL) and one node's move
//! is sent to both instances every 100 ms: the failover time is from the SIGKILL to the PBA.

use std::{
    collections::HashMap,
    fmt::Write as _,
    net::Ipv6Addr,
    path::{Path, PathBuf},
    process::{Child, Stdio},
    sync::Arc,
    time::{Duration, Instant},
};

use anchor_pmip::transport::MhSocket;
use anchor_rig::{Netns, etcd::Etcd};
use anchor_signal::{
    Lifetime, MnId, MobilityHeader, MobilityOption, Pba, PbaFlags, Pbu, PbuFlags, Status, Timestamp,
};
use anyhow::{Context as _, Result, bail};
use tokio::{io::unix::AsyncFd, sync::mpsc};

use crate::report::{Report, Row};

const SECTION: &str = "4. control plane";
const CMD: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 0xfc, 0, 0, 0, 0, 1);
const CMD2: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 0xfc, 0, 0, 0, 0, 2);
/// The p99 from PBU to PBA a sustained rate keeps within.
const P99_LIMIT: Duration = Duration::from_millis(50);
/// The share of moves that may go unanswered at a sustained rate.
const LOST_LIMIT: f64 = 0.01;
/// How many registrations wait for their PBA at a time.
const REGISTERING: usize = 32;
/// How long the stragglers of a step may take.
const DRAIN: Duration = Duration::from_secs(1);

/// The sizes of one run.
struct Sizes {
    maars: u16,
    nodes: u16,
    rates: &'static [u32],
    step: Duration,
}

const FULL: Sizes = Sizes {
    maars: 1000,
    nodes: 4000,
    rates: &[25, 50, 100, 200, 400, 800, 1600],
    step: Duration::from_secs(3),
};

const QUICK: Sizes = Sizes {
    maars: 20,
    nodes: 40,
    rates: &[50],
    step: Duration::from_millis(500),
};

/// The address of MAAR `m`.
fn maar(m: u16) -> Ipv6Addr {
    Ipv6Addr::new(0x2001, 0xdb8, 0xfe, 0, 0, 0, 0, m + 1)
}

/// The prefixes MAAR `m` may anchor.
fn maar_prefix(m: u16) -> String {
    format!("2001:db8:{:x}::/48", 0x1000 + u32::from(m))
}

/// Node `k`'s /64 at MAAR `m`.
fn node_prefix(m: u16, k: u16) -> String {
    format!("2001:db8:{:x}:{k:x}::/64", 0x1000 + u32::from(m))
}

fn node_id(k: u16) -> MnId {
    let [hi, lo] = k.to_be_bytes();
    MnId::Eui48([2, 0, 0, 0x10, hi, lo])
}

fn node_of(id: &MnId) -> Option<u16> {
    match id {
        MnId::Eui48([2, 0, 0, 0x10, hi, lo]) => Some(u16::from_be_bytes([*hi, *lo])),
        _ => None,
    }
}

/// The two MAARs node `k` moves between.
fn maars_of(k: u16, maars: u16) -> [u16; 2] {
    [k % maars, (k + 1) % maars]
}

/// The two namespaces and the CMD's work directory.
struct Net {
    cmd: Netns,
    generator: Netns,
    dir: PathBuf,
}

impl Net {
    fn build(maars: u16) -> Result<Self> {
        let cmd = Netns::create("anc-bl", "c")?;
        let generator = Netns::create("anc-bl", "g")?;
        cmd.ip(&format!(
            "link add c0 type veth peer name g0 netns {}",
            generator.name()
        ))?;
        cmd.ip("addr add 2001:db8:fd::1/64 dev c0 nodad")?;
        generator.ip("addr add 2001:db8:fd::2/64 dev g0 nodad")?;
        cmd.ip("link set c0 up")?;
        generator.ip("link set g0 up")?;
        cmd.ip(&format!("addr add {CMD}/128 dev lo"))?;
        cmd.ip(&format!("addr add {CMD2}/128 dev lo"))?;
        cmd.ip("route add 2001:db8:fe::/64 via 2001:db8:fd::2")?;
        generator.ip("route add 2001:db8:fc::/64 via 2001:db8:fd::1")?;
        let dir = std::env::temp_dir().join(format!("anc-bl{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir)
            .with_context(|| format!("cannot create {}", dir.display()))?;
        let batch = dir.join("maars.ip");
        let mut lines = String::new();
        for m in 0..maars {
            let _ = writeln!(lines, "addr add {}/128 dev lo", maar(m));
        }
        std::fs::write(&batch, lines)?;
        anchor_rig::cmd::new("ip")
            .args(["-n", generator.name(), "-batch"])
            .arg(&batch)
            .output()
            .context("ip -batch")?;
        Ok(Self {
            cmd,
            generator,
            dir,
        })
    }

    /// The CMD's configuration `NAME.toml` at `address` on `store`.
    fn config(&self, name: &str, address: Ipv6Addr, store: &str, maars: u16) -> Result<PathBuf> {
        let mut text = format!(
            "address = \"{address}\"\nstore = \"{store}\"\ninsecure_signaling = true\n\
             metrics_listen = \"\"\ninstance = \"{name}\"\nleader_lease_s = 3\n\
             timestamp_window_ms = 60000\n"
        );
        for m in 0..maars {
            let _ = write!(
                text,
                "[[maar]]\naddress = \"{}\"\nprefixes = [\"{}\"]\n",
                maar(m),
                maar_prefix(m)
            );
        }
        let path = self.dir.join(format!("{name}.toml"));
        std::fs::write(&path, text)?;
        Ok(path)
    }
}

impl Drop for Net {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// `anchor cmd` in the CMD's namespace; killed on drop.
struct CmdProcess {
    child: Child,
    log: PathBuf,
}

impl CmdProcess {
    fn start(anchor: &Path, net: &Net, config: &Path, name: &str) -> Result<Self> {
        let log = net.dir.join(format!("{name}.log"));
        let file = std::fs::File::create(&log)?;
        let child = anchor_rig::cmd::in_netns_only(net.cmd.name(), anchor)
            .args(["cmd", "--config"])
            .arg(config)
            .stdout(Stdio::null())
            .stderr(file)
            .spawn()
            .context("cannot start anchor cmd")?;
        Ok(Self { child, log })
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Waits for `line` in the log.
    fn wait_for(&mut self, line: &str) -> Result<()> {
        let deadline = Instant::now() + Duration::from_secs(20);
        while !self.log().contains(line) {
            if let Some(status) = self.child.try_wait()? {
                bail!("anchor cmd exited with {status}: {}", self.log());
            }
            if Instant::now() > deadline {
                bail!("anchor cmd did not log {line:?}: {}", self.log());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        Ok(())
    }
}

impl Drop for CmdProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A message the CMD sent to MAAR `maar`.
struct Received {
    maar: u16,
    message: MobilityHeader,
    from: Ipv6Addr,
    at: Instant,
}

/// The MAARs' sockets, each read by a task that forwards what it decodes.
struct Maars {
    sockets: Vec<Arc<AsyncFd<MhSocket>>>,
    received: mpsc::UnboundedReceiver<Received>,
    sequence: Vec<u16>,
}

impl Maars {
    /// Opens the sockets in the generator's namespace and starts their readers (on the current
    /// runtime).
    fn open(net: &Net, count: u16) -> Result<Self> {
        let sockets = anchor_rig::netns::within(net.generator.name(), || {
            (0..count)
                .map(|m| {
                    let socket = MhSocket::bind(maar(m))?;
                    socket.set_nonblocking(true)?;
                    Ok(socket)
                })
                .collect::<Result<Vec<_>>>()
        })??;
        let (tx, received) = mpsc::unbounded_channel();
        let mut fds = Vec::new();
        for (m, socket) in (0u16..).zip(sockets) {
            // SAFETY: the socket owns its descriptor, open until the AsyncFd is dropped.
            let fd = Arc::new(unsafe { AsyncFd::register(socket) }.map_err(std::io::Error::from)?);
            fds.push(Arc::clone(&fd));
            let tx = tx.clone();
            tokio::spawn(async move {
                loop {
                    let Ok(mut guard) = fd.readable().await else {
                        return;
                    };
                    while let Ok(Ok((mh, from))) = guard.try_io(|s| s.get_ref().recv()) {
                        let Ok(message) = MobilityHeader::decode(&mh, from, maar(m)) else {
                            continue;
                        };
                        let at = Instant::now();
                        if tx
                            .send(Received {
                                maar: m,
                                message,
                                from,
                                at,
                            })
                            .is_err()
                        {
                            return;
                        }
                    }
                }
            });
        }
        Ok(Self {
            sequence: vec![1; fds.len()],
            sockets: fds,
            received,
        })
    }

    /// Sends node `k`'s registration from MAAR `m` to `cmd`: the sequence number it carries.
    fn register(&mut self, m: u16, k: u16, cmd: Ipv6Addr) -> Result<u16> {
        let sequence = self.sequence[usize::from(m)];
        self.sequence[usize::from(m)] = sequence.wrapping_add(1).max(1);
        self.send_pbu(m, k, sequence, cmd)?;
        Ok(sequence)
    }

    fn send_pbu(&self, m: u16, k: u16, sequence: u16, cmd: Ipv6Addr) -> Result<()> {
        let prefix = node_prefix(m, k).parse().context("a node prefix")?;
        let pbu = MobilityHeader::Pbu(Pbu {
            sequence,
            flags: PbuFlags::A | PbuFlags::P | PbuFlags::D,
            lifetime: Lifetime(300),
            options: vec![
                MobilityOption::MnId(node_id(k)),
                MobilityOption::Timestamp(Timestamp::now()),
                MobilityOption::LocalPrefix(prefix),
            ],
        });
        self.send(m, cmd, &pbu)
    }

    fn send(&self, m: u16, to: Ipv6Addr, message: &MobilityHeader) -> Result<()> {
        let wire = message.encode(maar(m), to)?;
        self.sockets[usize::from(m)].get_ref().send(to, &wire)?;
        Ok(())
    }

    /// Acknowledges the CMD's update `pbu` from MAAR `m`.
    fn ack(&self, m: u16, to: Ipv6Addr, pbu: &Pbu) -> Result<()> {
        let mn = pbu
            .options
            .iter()
            .find(|o| matches!(o, MobilityOption::MnId(_)))
            .cloned();
        let pba = MobilityHeader::Pba(Pba {
            status: Status::ACCEPTED,
            flags: PbaFlags::P | PbaFlags::D,
            sequence: pbu.sequence,
            lifetime: pbu.lifetime,
            options: mn.into_iter().collect(),
        });
        self.send(m, to, &pba)
    }
}

/// The moves of one rate step, as they went.
#[derive(Default)]
struct Step {
    latencies: Vec<Duration>,
    sent: usize,
    lost: usize,
    refused: usize,
}

impl Step {
    /// The `q` quantile of the latencies, a lost move counting as slower than any (`None`).
    #[expect(
        clippy::cast_possible_truncation,
        clippy::cast_sign_loss,
        clippy::cast_precision_loss,
        reason = "q is in 0..=1, so the rank is in 0..=sent"
    )]
    fn quantile(&self, q: f64) -> Option<Duration> {
        let mut sorted = self.latencies.clone();
        sorted.sort();
        let rank = ((q * self.sent as f64).ceil() as usize).clamp(1, self.sent.max(1));
        sorted.get(rank - 1).copied()
    }

    #[expect(clippy::cast_precision_loss, reason = "a share")]
    fn lost_share(&self) -> f64 {
        (self.lost + self.refused) as f64 / self.sent.max(1) as f64
    }
}

/// The generator's state: where each node is, which moves wait for their PBA.
struct Load {
    maars: Maars,
    count: u16,
    nodes: u16,
    /// Per node: the index (0 or 1) of the MAAR it is at.
    at: Vec<usize>,
    /// Per node: the move waiting for its PBA (MAAR, sequence, sent at).
    waiting: HashMap<u16, (u16, u16, Instant)>,
    next: u16,
    cmd: Ipv6Addr,
    updates: u64,
}

impl Load {
    /// Handles what arrived: PBAs settle moves, updates are acknowledged.
    fn receive(&mut self, step: &mut Step, got: Received) -> Result<()> {
        match got.message {
            MobilityHeader::Pba(pba) => {
                let node = pba.options.iter().find_map(|o| match o {
                    MobilityOption::MnId(id) => node_of(id),
                    _ => None,
                });
                let Some(k) = node else {
                    return Ok(());
                };
                if let Some(&(m, sequence, sent)) = self.waiting.get(&k)
                    && m == got.maar
                    && sequence == pba.sequence
                {
                    self.waiting.remove(&k);
                    if pba.status == Status::ACCEPTED {
                        step.latencies.push(got.at.saturating_duration_since(sent));
                    } else {
                        step.refused += 1;
                    }
                }
            }
            MobilityHeader::Pbu(update) => {
                self.updates += 1;
                self.maars.ack(got.maar, got.from, &update)?;
            }
        }
        Ok(())
    }

    /// Moves the next node that waits for nothing: the move sent, or `false` when every node
    /// waits.
    fn move_one(&mut self) -> Result<bool> {
        for _ in 0..self.nodes {
            let k = self.next;
            self.next = (self.next + 1) % self.nodes;
            if self.waiting.contains_key(&k) {
                continue;
            }
            let to = 1 - self.at[usize::from(k)];
            let m = maars_of(k, self.count)[to];
            let sequence = self.maars.register(m, k, self.cmd)?;
            self.waiting.insert(k, (m, sequence, Instant::now()));
            self.at[usize::from(k)] = to;
            return Ok(true);
        }
        Ok(false)
    }

    /// Registers every node at its home MAAR (its first move: `at` starts at 1), with at most
    /// [`REGISTERING`] waiting at a time.
    async fn register_all(&mut self) -> Result<()> {
        let mut step = Step::default();
        let deadline = tokio::time::Instant::now() + Duration::from_mins(2);
        while step.sent < usize::from(self.nodes) || !self.waiting.is_empty() {
            while step.sent < usize::from(self.nodes) && self.waiting.len() < REGISTERING {
                self.move_one()?;
                step.sent += 1;
            }
            match tokio::time::timeout_at(deadline, self.maars.received.recv()).await {
                Ok(Some(got)) => self.receive(&mut step, got)?,
                Ok(None) => bail!("the MAARs' readers stopped"),
                Err(_) => bail!(
                    "the CMD answered {} of {} registrations within 120 s",
                    step.latencies.len(),
                    self.nodes
                ),
            }
        }
        if step.refused > 0 {
            bail!("the CMD refused {} registrations", step.refused);
        }
        Ok(())
    }

    /// Sends moves at `rate` per second for `time`, then waits for the stragglers.
    async fn run_step(&mut self, rate: u32, time: Duration) -> Result<Step> {
        let mut step = Step::default();
        let start = tokio::time::Instant::now();
        let interval = Duration::from_secs(1) / rate;
        let mut due = start;
        let end = start + time;
        while due < end {
            tokio::select! {
                () = tokio::time::sleep_until(due) => {
                    if self.move_one()? {
                        step.sent += 1;
                    }
                    due += interval;
                }
                got = self.maars.received.recv() => {
                    let got = got.context("the MAARs' readers stopped")?;
                    self.receive(&mut step, got)?;
                }
            }
        }
        let drained = tokio::time::Instant::now() + DRAIN;
        while !self.waiting.is_empty() {
            match tokio::time::timeout_at(drained, self.maars.received.recv()).await {
                Ok(Some(got)) => self.receive(&mut step, got)?,
                Ok(None) => bail!("the MAARs' readers stopped"),
                Err(_) => break,
            }
        }
        step.lost = self.waiting.len();
        // A move never answered is no longer waited for; the node moves on.
        self.waiting.clear();
        Ok(step)
    }
}

/// What one store sustained.
struct Capacity {
    sustained: Option<u32>,
    /// The p99 at the first (lowest) rate.
    p99_first: Option<Duration>,
    first_rate: u32,
    steps: Vec<(u32, Option<Duration>, f64)>,
}

/// Registers every node at its home MAAR (at the first rate), then runs the rate steps.
async fn capacity(load: &mut Load, sizes: &Sizes) -> Result<Capacity> {
    load.register_all().await?;
    let mut result = Capacity {
        sustained: None,
        p99_first: None,
        first_rate: sizes.rates[0],
        steps: Vec::new(),
    };
    for &rate in sizes.rates {
        let step = load.run_step(rate, sizes.step).await?;
        let p99 = step.quantile(0.99);
        result.steps.push((rate, p99, step.lost_share()));
        if rate == sizes.rates[0] {
            result.p99_first = p99;
        }
        if p99.is_none_or(|p| p > P99_LIMIT) || step.lost_share() > LOST_LIMIT {
            break;
        }
        result.sustained = Some(rate);
    }
    Ok(result)
}

/// The rows of section 4 for the CMD: sustained moves per second and p99 with each store, and
/// the failover time on etcd.
pub fn run(report: &mut Report, quick: bool, anchor: &Path) -> Result<()> {
    let sizes = if quick { &QUICK } else { &FULL };
    raise_open_files(u64::from(sizes.maars) + 256)?;
    let net = Net::build(sizes.maars)?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let file = net.config(
        "file",
        CMD,
        &net.dir.join("cmd.json").display().to_string(),
        sizes.maars,
    )?;
    let on_file = runtime.block_on(async {
        let mut cmd = CmdProcess::start(anchor, &net, &file, "file")?;
        cmd.wait_for("CMD listening on")?;
        let mut load = new_load(&net, sizes)?;
        capacity(&mut load, sizes).await
    })?;
    let etcd = Etcd::cluster(&net.dir, Some(net.cmd.name()), 3)?;
    let url = etcd.url("anchor/bench");
    let first = net.config("cmd-a", CMD, &url, sizes.maars)?;
    let second = net.config("cmd-b", CMD2, &url, sizes.maars)?;
    let (on_etcd, failover) = runtime.block_on(async {
        let mut leader = CmdProcess::start(anchor, &net, &first, "cmd-a")?;
        leader.wait_for("leader: answering")?;
        let mut load = new_load(&net, sizes)?;
        let on_etcd = capacity(&mut load, sizes).await?;
        let mut standby = CmdProcess::start(anchor, &net, &second, "cmd-b")?;
        standby.wait_for("CMD listening on")?;
        let failover = failover(&mut load, &mut leader).await?;
        Ok::<_, anyhow::Error>((on_etcd, failover))
    })?;
    rows(report, sizes, &on_file, &on_etcd, failover);
    Ok(())
}

fn new_load(net: &Net, sizes: &Sizes) -> Result<Load> {
    Ok(Load {
        maars: Maars::open(net, sizes.maars)?,
        count: sizes.maars,
        nodes: sizes.nodes,
        at: vec![1; usize::from(sizes.nodes)],
        waiting: HashMap::new(),
        next: 0,
        cmd: CMD,
        updates: 0,
    })
}

/// Kills the leader, then sends node 0's move to both instances every 100 ms until a PBA comes:
/// the time from the SIGKILL.
async fn failover(load: &mut Load, leader: &mut CmdProcess) -> Result<Duration> {
    let k = 0;
    let to = 1 - load.at[usize::from(k)];
    let m = maars_of(k, load.count)[to];
    let sequence = load.maars.sequence[usize::from(m)];
    load.maars.sequence[usize::from(m)] = sequence.wrapping_add(1).max(1);
    leader.child.kill()?;
    let killed = Instant::now();
    let _ = leader.child.wait();
    let deadline = killed + Duration::from_secs(20);
    while Instant::now() < deadline {
        for cmd in [CMD, CMD2] {
            load.maars.send_pbu(m, k, sequence, cmd)?;
        }
        let round = tokio::time::Instant::now() + Duration::from_millis(100);
        while let Ok(Some(got)) = tokio::time::timeout_at(round, load.maars.received.recv()).await {
            match &got.message {
                MobilityHeader::Pba(pba)
                    if got.maar == m && pba.sequence == sequence && got.from == CMD2 =>
                {
                    if pba.status != Status::ACCEPTED {
                        bail!("the new leader refused the move: status {}", pba.status.0);
                    }
                    load.at[usize::from(k)] = to;
                    return Ok(got.at.saturating_duration_since(killed));
                }
                MobilityHeader::Pbu(update) => load.maars.ack(got.maar, got.from, update)?,
                MobilityHeader::Pba(_) => {}
            }
        }
    }
    bail!("no instance answered within 20 s of the leader's SIGKILL")
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn rows(
    report: &mut Report,
    sizes: &Sizes,
    on_file: &Capacity,
    on_etcd: &Capacity,
    failover: Duration,
) {
    report.method(
        "cmd-load",
        format!(
            "anchor cmd (the binary) in a namespace; {} MAARs played by raw Mobility Header \
             sockets in another, joined by veth; {} nodes each moving between two MAARs (a PBU \
             from the new one, the CMD's update to the old one acknowledged). Rates doubled from \
             {} moves/s, {} ms each, while the p99 from PBU to PBA (a move unanswered within 1 s \
             counting as slower than any) stays within 50 ms and 99% are answered. etcd: three \
             members on the CMD's loopback (Debian's etcd-server), the CMD as the leader of two \
             instances for the failover",
            sizes.maars,
            sizes.nodes,
            sizes.rates[0],
            sizes.step.as_millis()
        ),
    );
    let steps = |c: &Capacity| {
        c.steps
            .iter()
            .map(|(rate, p99, lost)| {
                format!(
                    "{rate}/s: p99 {}, {:.1}% unanswered",
                    p99.map_or("-".to_owned(), |p| format!("{:.1} ms", ms(p))),
                    lost * 100.0
                )
            })
            .collect::<Vec<_>>()
            .join("; ")
    };
    let sustained = |c: &Capacity| f64::from(c.sustained.unwrap_or(0));
    report.rows.push(
        Row::new(
            SECTION,
            "CMD moves/s sustained, file store",
            sustained(on_file),
            "moves/s",
        )
        .method("cmd-load")
        .note(steps(on_file)),
    );
    report.rows.push(
        Row::new(
            SECTION,
            "CMD moves/s sustained, etcd store",
            sustained(on_etcd),
            "moves/s",
        )
        .method("cmd-load")
        .against(
            "CMD moves/s sustained, file store",
            sustained(on_file).max(1.0),
        )
        .note(steps(on_etcd)),
    );
    for (name, c) in [("file", on_file), ("etcd", on_etcd)] {
        let row = match c.p99_first {
            Some(p99) => Row::new(
                SECTION,
                format!(
                    "CMD p99 PBU to PBA at {} moves/s, {name} store",
                    c.first_rate
                ),
                ms(p99),
                "ms",
            ),
            None => Row::not_available(
                SECTION,
                format!(
                    "CMD p99 PBU to PBA at {} moves/s, {name} store",
                    c.first_rate
                ),
                "more than 1% of the moves went unanswered",
            ),
        };
        report.rows.push(row.method("cmd-load"));
    }
    report.rows.push(
        Row::new(
            SECTION,
            "CMD failover, leader SIGKILL to the standby's first PBA",
            ms(failover),
            "ms",
        )
        .method("cmd-load")
        .note("lease 3 s; the move sent to both instances every 100 ms"),
    );
}

/// Raises the soft limit of open files to at least `want` (one socket per MAAR).
fn raise_open_files(want: u64) -> Result<()> {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes the struct it is given.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &raw mut limit) } != 0 {
        bail!("getrlimit: {}", std::io::Error::last_os_error());
    }
    if limit.rlim_cur >= want {
        return Ok(());
    }
    limit.rlim_cur = want.min(limit.rlim_max);
    // SAFETY: setrlimit reads the struct it is given.
    if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &raw const limit) } != 0 {
        bail!("setrlimit: {}", std::io::Error::last_os_error());
    }
    Ok(())
}
