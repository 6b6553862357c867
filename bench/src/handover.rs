//! Section 4: the handover stall. RFC 8818 traffic redirection on the grown rig of
//! `rig/topologies/three-ars.toml` (`session-lasting` pools, the `anchor` binary as the CMD and
//! the three MAARs): the correspondent sends the mobile node's first address (P1, delegated by
//! AR1) a UDP stream at 200 datagrams per second and a TCP stream of 1,000-byte writes at the
//! same pace, while the node moves AR1 -> AR2 -> AR3 -> AR1 -> ... (20 moves). Per move, the stall
//! is the longest gap between two arrivals from the last one before the move to the end of the
//! dwell (the streams have come back and run for a second). Three kinds of move:
//! - a link flap on point-to-point access links (the node's link to the old router down, to the
//!   new one up; carrier up attaches it);
//! - a link flap on shared access links with a stock SLAAC node (its Router Solicitation
//!   attaches it), and the same with attachment on the node's first frame;
//! - a Wi-Fi roam: the node's one interface stays up and is re-plugged from one router's access
//!   switch to the next; the access point's association event calls `anchor mn attach` on the
//!   new router; every router has RFC 6543's shared identity; a second UDP stream runs uplink,
//!   from P1 to the correspondent.

use std::{
    io::{Read as _, Write as _},
    net::{Ipv6Addr, SocketAddrV6, TcpListener, TcpStream},
    path::PathBuf,
    sync::{
        Arc,
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
    udp_stream::{Arrivals, UdpStream},
};
use anyhow::{Context as _, Result, bail};
use ipnet::Ipv6Net;

use crate::{
    first_frame::{self, FirstFrames},
    report::{Report, Row},
};

const SECTION: &str = "4. control plane";
const MN: &str = "mn1";
const UDP_DOWN_PORT: u16 = 9471;
const UDP_UP_PORT: u16 = 9473;
const TCP_PORT: u16 = 9472;
/// 200 datagrams (and 200 TCP writes) per second.
const PACE: Duration = Duration::from_millis(5);
const TCP_WRITE: usize = 1000;
/// The routers the node visits, in turn: AR1 -> AR2 -> AR3 -> AR1 -> ...
const ROUTERS: [&str; 3] = ["ar1", "ar2", "ar3"];
/// Moves of each kind in a full run: the stall must stay within its bound in every one.
const MOVES: usize = 20;
/// Set (to anything), the rig's configurations and the daemons' logs stay after the run.
const KEEP_LOGS: &str = "ANCHOR_BENCH_KEEP_LOGS";
/// How long the streams must run again after a move before the next one.
const DWELL_AFTER_RETURN: Duration = Duration::from_secs(1);
/// The longest a stream may stay away after a move before the run fails.
const RETURN_BOUND: Duration = Duration::from_secs(20);

/// One move's figures.
struct Move {
    down: Duration,
    down_lost: u64,
    /// The uplink UDP stream's, in a roam.
    up: Option<(Duration, u64)>,
    tcp: Duration,
    /// How long after the move the node's first frame reached the new router (link flaps).
    first_frame: Option<Duration>,
}

/// The kinds of move, with the names of their rows.
const KINDS: [(Attachment, bool, &str); 4] = [
    (Attachment::PointToPoint, false, "point-to-point link flap"),
    (
        Attachment::Solicitation,
        false,
        "shared link flap, stock SLAAC node",
    ),
    (
        Attachment::Solicitation,
        true,
        "shared link flap, stock SLAAC node, first-frame attachment",
    ),
    (Attachment::Roam, false, "Wi-Fi roam, shared identity"),
];

pub fn run(report: &mut Report, quick: bool) -> Result<()> {
    report.method(
        "handover",
        "the grown rig of rig/topologies/three-ars.toml (session-lasting pools, the anchor \
         binary as CMD and MAARs, insecure signaling, a kernel-SLAAC node): UDP at 200 \
         datagrams/s and TCP writes of 1000 B at 200/s from the correspondent to the node's \
         first address (and, in the roam, UDP at 200/s from it) while it moves \
         AR1->AR2->AR3->AR1->... (20 moves); per move, the longest gap between arrivals from the last \
         one before the move until the streams have run again for 1 s; median over the moves, and the longest",
    );
    let moves = if quick { 1 } else { MOVES };
    for (attachment, first_frame, label) in KINDS {
        eprintln!("bench: handover stall, {label}, {moves} moves");
        let figures = measure(attachment, first_frame, moves)
            .with_context(|| format!("handover, {label}"))?;
        let down: Vec<Duration> = figures.iter().map(|m| m.down).collect();
        let tcp: Vec<Duration> = figures.iter().map(|m| m.tcp).collect();
        let lost: Vec<String> = figures.iter().map(|m| m.down_lost.to_string()).collect();
        let first: Vec<Duration> = figures.iter().filter_map(|m| m.first_frame).collect();
        let first_note = if first.is_empty() {
            String::new()
        } else {
            format!(
                "; the node's first frame at the new router: {} ms",
                list(&first)
            )
        };
        let down_name = format!("handover stall, UDP down, {label} (median of {moves})");
        report.push(
            Row::new(SECTION, &down_name, ms(median(&down)), "ms")
                .method("handover")
                .note(format!(
                    "per move: {} ms; datagrams lost: {}{first_note}",
                    list(&down),
                    lost.join(", ")
                )),
        );
        report.push(
            Row::new(
                SECTION,
                format!("handover stall, UDP down, {label} (longest of {moves})"),
                ms(longest(&down)),
                "ms",
            )
            .method("handover"),
        );
        let up: Vec<(Duration, u64)> = figures.iter().filter_map(|m| m.up).collect();
        if !up.is_empty() {
            let gaps: Vec<Duration> = up.iter().map(|&(gap, _)| gap).collect();
            let lost: Vec<String> = up.iter().map(|(_, lost)| lost.to_string()).collect();
            report.push(
                Row::new(
                    SECTION,
                    format!("handover stall, UDP up, {label} (median of {moves})"),
                    ms(median(&gaps)),
                    "ms",
                )
                .method("handover")
                .note(format!(
                    "per move: {} ms; datagrams lost: {}",
                    list(&gaps),
                    lost.join(", ")
                )),
            );
        }
        report.push(
            Row::new(
                SECTION,
                format!("handover stall, TCP, {label} (median of {moves})"),
                ms(median(&tcp)),
                "ms",
            )
            .method("handover")
            .against(down_name, ms(median(&down)).max(f64::MIN_POSITIVE))
            .note(format!(
                "per move: {} ms; includes TCP's retransmission back-off",
                list(&tcp)
            )),
        );
    }
    Ok(())
}

/// Builds the rig, starts the streams and makes `moves` moves.
fn measure(attachment: Attachment, first_frame: bool, moves: usize) -> Result<Vec<Move>> {
    let anchor = anchor_binary()?;
    let mut spec = Spec::parse(THREE_ARS, "rig/topologies/three-ars.toml")?;
    spec.maar.policy = Policy::SessionLasting;
    // No redirect is idle while the streams run; a long idle time keeps them regardless.
    spec.maar.idle_release_s = Some(600);
    spec.maar.attachment = attachment;
    spec.maar.shared_identity = attachment == Attachment::Roam;
    spec.maar.first_frame = first_frame;
    for mn in &mut spec.mobile_nodes {
        mn.start_at = None;
    }
    let stem = "anb-ho";
    anchor_rig::grown::remove_stale(stem)?;
    let mut dir = WorkDir::create("anchor-bench-handover")?;
    if std::env::var_os(KEEP_LOGS).is_some() {
        // The daemons' configurations and logs, to read a slow move's story afterwards.
        dir.keep();
    }
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

    let cn = spec.correspondent.address;
    let down = UdpStream::start(
        &grown.ns(CN),
        cn,
        &grown.ns(MN),
        address,
        UDP_DOWN_PORT,
        PACE,
    )?;
    let up = if grown.roaming() {
        Some(UdpStream::start(
            &grown.ns(MN),
            address,
            &grown.ns(CN),
            cn,
            UDP_UP_PORT,
            PACE,
        )?)
    } else {
        None
    };
    let tcp = TcpStreamPair::start(&grown, cn, address)?;
    // The node's first frames at each router, on a link flap (the roam's trigger is ours).
    let first_frames = if grown.roaming() {
        Vec::new()
    } else {
        spec.access_routers
            .iter()
            .map(|ar| {
                FirstFrames::watch(&grown.ns(&ar.name), MN, mac.0).map(|w| (ar.name.clone(), w))
            })
            .collect::<Result<Vec<_>>>()?
    };
    let streams = Streams {
        down,
        up,
        tcp,
        mac: mac.to_string(),
        first_frames,
    };
    let result = moves_with(&grown, &daemons, &streams, moves);
    drop(streams);
    drop(daemons);
    drop(grown);
    result
}

struct Streams {
    down: UdpStream,
    up: Option<UdpStream>,
    tcp: TcpStreamPair,
    mac: String,
    first_frames: Vec<(String, FirstFrames)>,
}

fn moves_with(
    grown: &Grown,
    daemons: &Daemons,
    streams: &Streams,
    moves: usize,
) -> Result<Vec<Move>> {
    // Every stream flowing before the first move.
    let before = Instant::now();
    streams
        .down
        .wait_for(before, 50, RETURN_BOUND)
        .context("UDP down before the first move")?;
    if let Some(up) = &streams.up {
        up.wait_for(before, 50, RETURN_BOUND)
            .context("UDP up before the first move")?;
    }
    streams
        .tcp
        .arrivals
        .wait_for(before, 50, RETURN_BOUND)
        .context("TCP before the first move")?;
    let mut figures = Vec::new();
    for i in 0..moves {
        let (from, to) = (ROUTERS[i % ROUTERS.len()], ROUTERS[(i + 1) % ROUTERS.len()]);
        let start = Instant::now();
        grown.move_node(MN, from, to)?;
        if grown.roaming() {
            // The access point's association event.
            daemons
                .router(to)
                .cli(&["mn", "attach", "--mn-id", &streams.mac, "--dev", "air"])?;
        }
        let what = format!("after the move from {from} to {to}");
        let mut back = vec![
            streams
                .down
                .wait_for(start, 1, RETURN_BOUND)
                .with_context(|| format!("UDP down {what}"))?,
            streams
                .tcp
                .arrivals
                .wait_for(start, 1, RETURN_BOUND)
                .with_context(|| format!("TCP {what}"))?,
        ];
        if let Some(up) = &streams.up {
            back.push(
                up.wait_for(start, 1, RETURN_BOUND)
                    .with_context(|| format!("UDP up {what}"))?,
            );
        }
        let last_back = back.into_iter().max().unwrap_or(start);
        std::thread::sleep(DWELL_AFTER_RETURN.saturating_sub(last_back.elapsed()));
        let end = Instant::now();
        let (down, down_lost) = streams.down.stall(start, end);
        let up = streams.up.as_ref().map(|up| up.stall(start, end));
        let (tcp, _) = streams.tcp.arrivals.stall(start, end);
        let first_frame = streams
            .first_frames
            .iter()
            .find(|(name, _)| name == to)
            .and_then(|(_, frames)| first_frame::delay(frames, start));
        eprintln!(
            "bench: move {from} -> {to}: UDP down {:.1} ms ({down_lost} lost){}, TCP {:.1} ms{}",
            ms(down),
            up.map(|(gap, lost)| format!(", UDP up {:.1} ms ({lost} lost)", ms(gap)))
                .unwrap_or_default(),
            ms(tcp),
            first_frame
                .map(|d| format!(", the node's first frame at {to} after {:.1} ms", ms(d)))
                .unwrap_or_default()
        );
        figures.push(Move {
            down,
            down_lost,
            up,
            tcp,
            first_frame,
        });
    }
    Ok(figures)
}

/// The `anchor` binary of the same build as this benchmark (`cargo xtask bench` builds both).
pub fn anchor_binary() -> Result<PathBuf> {
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

/// A paced TCP stream from the correspondent to the node, its reads timed at the node.
struct TcpStreamPair {
    stop: Arc<AtomicBool>,
    arrivals: Arrivals,
    threads: Vec<JoinHandle<()>>,
}

impl TcpStreamPair {
    fn start(grown: &Grown, cn: Ipv6Addr, node: Ipv6Addr) -> Result<TcpStreamPair> {
        let listener = within(&grown.ns(CN), || TcpListener::bind((cn, TCP_PORT)))?
            .context("cannot listen on the correspondent")?;
        let client = within(&grown.ns(MN), || connect_from(node, cn))?
            .context("cannot connect from the node to the correspondent")?;
        let (server, _) = listener.accept().context("cannot accept the node")?;
        server.set_nodelay(true)?;
        client.set_read_timeout(Some(Duration::from_millis(100)))?;
        let stop = Arc::new(AtomicBool::new(false));
        let arrivals = Arrivals::default();
        let send_stop = Arc::clone(&stop);
        let receive_stop = Arc::clone(&stop);
        let received = arrivals.clone();
        Ok(TcpStreamPair {
            stop,
            arrivals,
            threads: vec![
                std::thread::spawn(move || send_tcp(server, &send_stop)),
                std::thread::spawn(move || receive_tcp(client, &received, &receive_stop)),
            ],
        })
    }
}

impl Drop for TcpStreamPair {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        for thread in self.threads.drain(..) {
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

fn send_tcp(mut stream: TcpStream, stop: &AtomicBool) {
    let start = Instant::now();
    let chunk = [0x5a_u8; TCP_WRITE];
    let mut writes: u32 = 0;
    stream
        .set_write_timeout(Some(Duration::from_millis(100)))
        .ok();
    while !stop.load(Ordering::Relaxed) {
        match stream.write(&chunk) {
            Ok(_) => {}
            Err(e) if is_timeout(&e) => continue,
            Err(_) => return,
        }
        writes = writes.saturating_add(1);
        let due = start + PACE * writes;
        std::thread::sleep(due.saturating_duration_since(Instant::now()));
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
                arrivals.push(received);
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

fn longest(values: &[Duration]) -> Duration {
    values.iter().max().copied().unwrap_or_default()
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
