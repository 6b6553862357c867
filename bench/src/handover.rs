//! Section 4: the handover stall. RFC 8818 traffic redirection on the grown rig of
//! `rig/topologies/three-ars.toml` (`session-lasting` pools, the `anchor` binary as the CMD and
//! the three MAARs): the correspondent sends the mobile node's first address (P1, delegated by
//! AR1) a UDP stream at 200 datagrams per second and a TCP stream of 1,000-byte writes at the
//! same pace, while the node moves AR1 -> AR2 -> AR3 -> AR1 -> AR2 -> AR3. Per move, the stall
//! is the longest gap between two arrivals at the node from the last one before the link change
//! to the end of the dwell (the stream has come back and run for a second). Once with the node
//! attached by its Router Solicitation, once by carrier up on point-to-point access links.

use std::{
    io::{Read as _, Write as _},
    net::{Ipv6Addr, SocketAddrV6, TcpListener, TcpStream, UdpSocket},
    path::PathBuf,
    sync::{
        Arc, Mutex,
        atomic::{AtomicBool, Ordering},
    },
    thread::JoinHandle,
    time::{Duration, Instant},
};

use anchor_rig::{
    WorkDir,
    grown::{
        Daemons, Grown, Spec, THREE_ARS,
        plan::CN,
        spec::{Attachment, Policy},
    },
    netns::within,
};
use anyhow::{Context as _, Result, bail};
use ipnet::Ipv6Net;

use crate::report::{Report, Row};

const SECTION: &str = "4. control plane";
const MN: &str = "mn1";
const UDP_PORT: u16 = 9471;
const TCP_PORT: u16 = 9472;
/// 200 datagrams (and 200 TCP writes) per second.
const PACE: Duration = Duration::from_millis(5);
const TCP_WRITE: usize = 1000;
const MOVES: [(&str, &str); 5] = [
    ("ar1", "ar2"),
    ("ar2", "ar3"),
    ("ar3", "ar1"),
    ("ar1", "ar2"),
    ("ar2", "ar3"),
];
/// How long the stream must run again after a move before the next one.
const DWELL_AFTER_RETURN: Duration = Duration::from_secs(1);
/// The longest a stream may stay away after a move before the run fails.
const RETURN_BOUND: Duration = Duration::from_secs(20);

/// The arrivals of one stream at the node: when, and (UDP) which datagram.
type Arrivals = Arc<Mutex<Vec<(Instant, u64)>>>;

/// One move's figures.
struct Move {
    udp_stall: Duration,
    udp_lost: u64,
    tcp_stall: Duration,
}

pub fn run(report: &mut Report, quick: bool) -> Result<()> {
    report.method(
        "handover",
        "the grown rig of rig/topologies/three-ars.toml (session-lasting pools, the anchor \
         binary as CMD and MAARs, insecure signaling, a kernel-SLAAC node): UDP at 200 \
         datagrams/s and TCP writes of 1000 B at 200/s from the correspondent to the node's \
         first address while it moves AR1->AR2->AR3->AR1->AR2->AR3; per move, the longest gap \
         between arrivals at the node from the last one before the link change until the stream \
         has run again for 1 s; median over the moves",
    );
    let moves = if quick { 1 } else { MOVES.len() };
    for (attachment, label) in [
        (Attachment::PointToPoint, "point-to-point links, carrier up"),
        (Attachment::Solicitation, "Router Solicitation"),
    ] {
        eprintln!("bench: handover stall, {label}, {moves} moves");
        let figures = measure(attachment, moves).with_context(|| format!("handover, {label}"))?;
        let udp: Vec<Duration> = figures.iter().map(|m| m.udp_stall).collect();
        let tcp: Vec<Duration> = figures.iter().map(|m| m.tcp_stall).collect();
        let lost: Vec<String> = figures.iter().map(|m| m.udp_lost.to_string()).collect();
        report.push(
            Row::new(
                SECTION,
                format!("handover stall, UDP 200/s, {label} (median of {moves})"),
                ms(median(&udp)),
                "ms",
            )
            .method("handover")
            .note(format!(
                "per move: {} ms; datagrams lost: {}",
                list(&udp),
                lost.join(", ")
            )),
        );
        report.push(
            Row::new(
                SECTION,
                format!("handover stall, TCP, {label} (median of {moves})"),
                ms(median(&tcp)),
                "ms",
            )
            .method("handover")
            .against(
                format!("handover stall, UDP 200/s, {label}"),
                ms(median(&udp)).max(f64::MIN_POSITIVE),
            )
            .note(format!(
                "per move: {} ms; includes TCP's retransmission back-off",
                list(&tcp)
            )),
        );
    }
    Ok(())
}

/// Builds the rig, starts the streams and makes `moves` moves.
fn measure(attachment: Attachment, moves: usize) -> Result<Vec<Move>> {
    let anchor = anchor_binary()?;
    let mut spec = Spec::parse(THREE_ARS, "rig/topologies/three-ars.toml")?;
    spec.maar.policy = Policy::SessionLasting;
    // No redirect is idle while the streams run; a long idle time keeps them regardless.
    spec.maar.idle_release_s = Some(600);
    spec.maar.attachment = attachment;
    for mn in &mut spec.mobile_nodes {
        mn.start_at = None;
    }
    let stem = "anb-ho";
    anchor_rig::grown::remove_stale(stem)?;
    let dir = WorkDir::create("anchor-bench-handover")?;
    let grown = Grown::build(&spec, &format!("{stem}{}-", std::process::id()))?;
    let daemons = Daemons::start(&grown, &anchor, dir.path())?;

    let pool = spec
        .access_router("ar1")
        .context("the topology has no ar1")?
        .pool;
    let p1 = Ipv6Net::new(pool.network(), 64)?;
    let mac = spec.mobile_node(MN).context("no mobile node mn1")?.mac;
    let address = mac.slaac_address(p1);
    grown.attach(MN, "ar1")?;
    wait_for_address(&grown, address)?;

    let streams = Streams::start(&grown, spec.correspondent.address, address)?;
    let result = moves_with(&grown, &streams, moves);
    streams.stop();
    drop(daemons);
    drop(grown);
    result
}

fn moves_with(grown: &Grown, streams: &Streams, moves: usize) -> Result<Vec<Move>> {
    // Both streams flowing before the first move.
    wait_for_arrivals(
        &streams.udp,
        Instant::now(),
        50,
        "UDP before the first move",
    )?;
    wait_for_arrivals(
        &streams.tcp,
        Instant::now(),
        50,
        "TCP before the first move",
    )?;
    let mut figures = Vec::new();
    for &(from, to) in MOVES.iter().take(moves) {
        let start = Instant::now();
        grown.move_node(MN, from, to)?;
        let what = format!("after the move from {from} to {to}");
        let udp_back = wait_for_arrivals(&streams.udp, start, 1, &format!("UDP {what}"))?;
        let tcp_back = wait_for_arrivals(&streams.tcp, start, 1, &format!("TCP {what}"))?;
        std::thread::sleep(DWELL_AFTER_RETURN.saturating_sub(udp_back.max(tcp_back).elapsed()));
        let end = Instant::now();
        let (udp_stall, udp_lost) = stall(&streams.udp, start, end);
        let (tcp_stall, _) = stall(&streams.tcp, start, end);
        eprintln!(
            "bench: move {from} -> {to}: UDP stall {:.1} ms ({udp_lost} lost), TCP stall {:.1} ms",
            ms(udp_stall),
            ms(tcp_stall)
        );
        figures.push(Move {
            udp_stall,
            udp_lost,
            tcp_stall,
        });
    }
    Ok(figures)
}

/// The `anchor` binary of the same build as this benchmark (`cargo xtask bench` builds both).
fn anchor_binary() -> Result<PathBuf> {
    let exe = std::env::current_exe().context("cannot find the benchmark's executable")?;
    let anchor = exe.with_file_name("anchor");
    if !anchor.exists() {
        bail!(
            "{} is missing: build it with the benchmark (cargo xtask bench does)",
            anchor.display()
        );
    }
    Ok(anchor)
}

fn wait_for_address(grown: &Grown, address: Ipv6Addr) -> Result<()> {
    let want = format!("{address}/64");
    let end = Instant::now() + RETURN_BOUND;
    loop {
        if grown.node_addresses(MN, "ar1")?.contains(&want) {
            return Ok(());
        }
        if Instant::now() > end {
            bail!("the node has no {want} on its link to ar1 after {RETURN_BOUND:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Waits until `count` arrivals later than `since` have been recorded; returns the time of the
/// first of them.
fn wait_for_arrivals(
    arrivals: &Arrivals,
    since: Instant,
    count: usize,
    what: &str,
) -> Result<Instant> {
    let end = Instant::now() + RETURN_BOUND;
    loop {
        {
            let seen = lock(arrivals);
            let later: Vec<Instant> = seen
                .iter()
                .map(|&(at, _)| at)
                .filter(|&at| at > since)
                .collect();
            if later.len() >= count {
                return Ok(later[0]);
            }
        }
        if Instant::now() > end {
            bail!("no traffic arrived at the node ({what}) within {RETURN_BOUND:?}");
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// The longest gap between arrivals from the last one before `start` to `end`, and how many
/// datagram numbers are missing among them.
fn stall(arrivals: &Arrivals, start: Instant, end: Instant) -> (Duration, u64) {
    let seen = lock(arrivals);
    let first = seen.iter().rposition(|&(at, _)| at <= start).unwrap_or(0);
    let window: Vec<(Instant, u64)> = seen[first..]
        .iter()
        .copied()
        .filter(|&(at, _)| at <= end)
        .collect();
    let longest = window
        .windows(2)
        .map(|pair| pair[1].0.saturating_duration_since(pair[0].0))
        .max()
        .unwrap_or_default();
    let lost = window
        .windows(2)
        .map(|pair| pair[1].1.saturating_sub(pair[0].1).saturating_sub(1))
        .sum();
    (longest, lost)
}

fn lock(arrivals: &Arrivals) -> std::sync::MutexGuard<'_, Vec<(Instant, u64)>> {
    arrivals
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// The two streams from the correspondent to the node and their receivers at the node.
struct Streams {
    stop: Arc<AtomicBool>,
    udp: Arrivals,
    tcp: Arrivals,
    threads: Vec<JoinHandle<()>>,
}

impl Streams {
    fn start(grown: &Grown, cn: Ipv6Addr, node: Ipv6Addr) -> Result<Streams> {
        let mn_ns = grown.ns(MN);
        let cn_ns = grown.ns(CN);
        let receiver = within(&mn_ns, || {
            UdpSocket::bind((Ipv6Addr::UNSPECIFIED, UDP_PORT))
        })?
        .context("cannot bind the node's UDP receiver")?;
        let sender = within(&cn_ns, || UdpSocket::bind((cn, 0)))?
            .context("cannot bind the correspondent's UDP sender")?;
        let listener = within(&cn_ns, || TcpListener::bind((cn, TCP_PORT)))?
            .context("cannot listen on the correspondent")?;
        let client = within(&mn_ns, || connect_from(node, cn))?
            .context("cannot connect from the node to the correspondent")?;
        let (server, _) = listener.accept().context("cannot accept the node")?;
        server.set_nodelay(true)?;
        receiver.set_read_timeout(Some(Duration::from_millis(200)))?;
        client.set_read_timeout(Some(Duration::from_millis(200)))?;

        let streams = Streams {
            stop: Arc::new(AtomicBool::new(false)),
            udp: Arc::default(),
            tcp: Arc::default(),
            threads: Vec::new(),
        };
        let mut streams = streams;
        let target = SocketAddrV6::new(node, UDP_PORT, 0, 0);
        streams.spawn(move |stop| send_udp(&sender, target, stop));
        streams.spawn(move |stop| send_tcp(server, stop));
        let udp = Arc::clone(&streams.udp);
        streams.spawn(move |stop| receive_udp(&receiver, &udp, stop));
        let tcp = Arc::clone(&streams.tcp);
        streams.spawn(move |stop| receive_tcp(client, &tcp, stop));
        Ok(streams)
    }

    fn spawn(&mut self, body: impl FnOnce(&AtomicBool) + Send + 'static) {
        let stop = Arc::clone(&self.stop);
        self.threads.push(std::thread::spawn(move || body(&stop)));
    }

    fn stop(self) {
        self.stop.store(true, Ordering::Relaxed);
        for thread in self.threads {
            let _ = thread.join();
        }
    }
}

fn connect_from(source: Ipv6Addr, cn: Ipv6Addr) -> std::io::Result<TcpStream> {
    let socket = socket2::Socket::new(
        socket2::Domain::IPV6,
        socket2::Type::STREAM,
        Some(socket2::Protocol::TCP),
    )?;
    socket.bind(&SocketAddrV6::new(source, 0, 0, 0).into())?;
    socket.connect_timeout(
        &SocketAddrV6::new(cn, TCP_PORT, 0, 0).into(),
        Duration::from_secs(10),
    )?;
    Ok(socket.into())
}

/// Datagrams numbered from 0, on an absolute schedule; send errors (no route for a moment) are
/// counted as lost by the receiver.
fn send_udp(socket: &UdpSocket, target: SocketAddrV6, stop: &AtomicBool) {
    let start = Instant::now();
    let mut payload = [0_u8; 64];
    let mut number: u64 = 0;
    while !stop.load(Ordering::Relaxed) {
        payload[..8].copy_from_slice(&number.to_be_bytes());
        let _ = socket.send_to(&payload, target);
        number += 1;
        pace(start, number);
    }
}

fn send_tcp(mut stream: TcpStream, stop: &AtomicBool) {
    let start = Instant::now();
    let chunk = [0x5a_u8; TCP_WRITE];
    let mut writes: u64 = 0;
    stream
        .set_write_timeout(Some(Duration::from_millis(200)))
        .ok();
    while !stop.load(Ordering::Relaxed) {
        match stream.write(&chunk) {
            Ok(_) => {}
            Err(e) if is_timeout(&e) => continue,
            Err(_) => return,
        }
        writes += 1;
        pace(start, writes);
    }
}

fn receive_udp(socket: &UdpSocket, arrivals: &Arrivals, stop: &AtomicBool) {
    let mut buffer = [0_u8; 128];
    while !stop.load(Ordering::Relaxed) {
        match socket.recv(&mut buffer) {
            Ok(n) if n >= 8 => {
                let mut number = [0_u8; 8];
                number.copy_from_slice(&buffer[..8]);
                lock(arrivals).push((Instant::now(), u64::from_be_bytes(number)));
            }
            Ok(_) => {}
            Err(e) if is_timeout(&e) => {}
            Err(_) => return,
        }
    }
}

fn receive_tcp(mut stream: TcpStream, arrivals: &Arrivals, stop: &AtomicBool) {
    let mut buffer = vec![0_u8; 65536];
    let mut received: u64 = 0;
    while !stop.load(Ordering::Relaxed) {
        match stream.read(&mut buffer) {
            Ok(0) => return,
            Ok(n) => {
                received += n as u64;
                lock(arrivals).push((Instant::now(), received));
            }
            Err(e) if is_timeout(&e) => {}
            Err(_) => return,
        }
    }
}

fn is_timeout(error: &std::io::Error) -> bool {
    matches!(
        error.kind(),
        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
    )
}

/// Sleeps until the `n`th tick of [`PACE`] after `start`.
fn pace(start: Instant, n: u64) {
    let due = start + PACE * u32::try_from(n).unwrap_or(u32::MAX);
    std::thread::sleep(due.saturating_duration_since(Instant::now()));
}

fn median(values: &[Duration]) -> Duration {
    let mut sorted = values.to_vec();
    sorted.sort();
    sorted.get(sorted.len() / 2).copied().unwrap_or_default()
}

fn ms(duration: Duration) -> f64 {
    duration.as_secs_f64() * 1e3
}

fn list(values: &[Duration]) -> String {
    values
        .iter()
        .map(|d| format!("{:.1}", ms(*d)))
        .collect::<Vec<_>>()
        .join(", ")
}
