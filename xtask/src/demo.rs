//! `cargo xtask demo`: a TCP stream and a ping survive the mobile node's move from AR1 to AR2,
//! because AR1 keeps anchoring the node's old prefix P1 and tunnels it to AR2 (RFC 8818 traffic
//! redirection).
//!
//! Drives the real `anchor` binary on the grown rig of `rig/topologies/three-ars.toml`
//! ([`anchor_rig::grown`], namespaces `ant-*`):
//! 1. the CMD runs in the core, the three access routers run `anchor run` as MAARs; the mobile
//!    node, a kernel-SLAAC host, brings its link to AR1 up: its Router Solicitation makes AR1
//!    delegate P1 and register it with the CMD, AR1's Router Advertisement gives it its P1
//!    address; the correspondent pings that address and sends it an iperf3 stream;
//! 2. after a few seconds the node moves: its link to AR1 down, to AR2 up, nothing else. Its
//!    solicitation registers it at AR2; the CMD's answers make AR2 install `Visiting` for P1 and
//!    AR1 `Redirect` for P1; AR2's advertisements keep P1 deprecated on the node's new link;
//! 3. the stream must go on after the move; the stall (the longest gap between ping replies) is
//!    printed;
//! 4. the routers' bindings (made by the control plane) and counters are printed;
//! 5. everything is torn down, also on failure or Ctrl-C.
//!
//! `--manual` runs the fast path alone on the fixed two-router rig ([`anchor_rig::topology`],
//! namespaces `anc-*`), as before the control plane: no CMD, the node keeps its hand-made P1
//! address and the CLI installs the bindings (`Rig::move_mobile_node`).

use std::io::{BufRead as _, BufReader};
use std::path::Path;
use std::process::{ExitStatus, Stdio};
use std::time::{Duration, Instant};

use anchor_rig::cancel::{self, pause};
use anchor_rig::grown::{
    Daemons, Grown, Spec, THREE_ARS,
    plan::CN,
    spec::{Attachment, Policy},
};
use anchor_rig::process::{Transport, wait_for_listener};
use anchor_rig::topology::{MN_P1_ADDR, Node};
use anchor_rig::{Daemon, Proc, Rig, WorkDir};
use anyhow::{Context as _, Result, ensure};
use ipnet::Ipv6Net;

use crate::cmd::{self, Run as _};

/// The manual demo's namespaces are `anc-cn`, `anc-r1`, ...; `cargo xtask rig up|down` uses the
/// same.
pub const PREFIX: &str = "anc-";
/// The mobile node of the topology file.
const MN: &str = "mn1";
/// Length of the iperf3 stream.
const STREAM_SECS: u64 = 12;
/// When the mobile node moves, counted from the start of the stream.
const MOVE_AFTER: Duration = Duration::from_secs(4);
/// Time TCP gets to recover after the move (retransmission timeout, Packet Too Big) before every
/// interval must carry data again.
const RECOVERY: f64 = 2.0;

pub fn demo(manual: bool) -> Result<()> {
    let anchor = cmd::target_dir().join("debug/anchor");
    ensure!(
        anchor.exists(),
        "{} is missing: the build did not produce it",
        anchor.display()
    );
    let mut dir = WorkDir::create("anchor-demo")?;

    // Ctrl-C sets a flag that every wait checks: the demo then fails with "interrupted" and the
    // guards stop the processes and delete the namespaces on the way out.
    ctrlc::set_handler(|| {
        if cancel::interrupt() {
            eprintln!(
                "\ndemo: interrupted again: exiting now; `cargo xtask rig down` (with \
                 `--topology rig/topologies/three-ars.toml` for the demo) cleans up"
            );
            std::process::exit(130);
        }
        eprintln!("\ndemo: interrupted, tearing down");
    })
    .context("cannot install the Ctrl-C handler")?;

    let result = if manual {
        run_manual(&anchor, dir.path())
    } else {
        run(&anchor, dir.path())
    };
    if result.is_err() {
        dir.keep();
    }
    result
}

/// How long the node may take to get its P1 address by SLAAC.
const SLAAC_TIMEOUT: Duration = Duration::from_secs(10);

fn run(anchor: &Path, dir: &Path) -> Result<()> {
    let mut spec = Spec::parse(THREE_ARS, "rig/topologies/three-ars.toml")?;
    spec.maar.policy = Policy::SessionLasting;
    spec.maar.attachment = Attachment::Solicitation;
    for mn in &mut spec.mobile_nodes {
        mn.start_at = None;
    }
    let grown = Grown::build(&spec, &spec.prefix)?;
    println!("demo: built namespaces {}", grown.namespaces().join(" "));
    // Declared after the rig, so stopped before the namespaces go.
    let daemons = Daemons::start(&grown, anchor, dir)?;
    println!(
        "demo: the core runs the CMD, ar1, ar2 and ar3 run anchor as MAARs (logs in {})",
        dir.display()
    );
    let pool = spec
        .access_router("ar1")
        .context("the topology has no ar1")?
        .pool;
    let p1 = Ipv6Net::new(pool.network(), 64)?;
    let mac = spec.mobile_node(MN).context("the topology has no mn1")?.mac;
    let address = mac.slaac_address(p1).to_string();
    println!("demo: {MN}'s link to ar1 up: the node solicits, ar1 attaches it and advertises P1");
    grown.attach(MN, "ar1")?;
    let started = Instant::now();
    while !grown
        .node_addresses(MN, "ar1")?
        .contains(&format!("{address}/64"))
    {
        ensure!(
            started.elapsed() < SLAAC_TIMEOUT,
            "the mobile node got no {address} by SLAAC within {SLAAC_TIMEOUT:?}; ar1's log:\n{}",
            daemons.router("ar1").log_tail()
        );
        pause(Duration::from_millis(50))?;
    }
    println!(
        "demo: the mobile node has {address} by SLAAC after {:.0} ms",
        started.elapsed().as_secs_f64() * 1e3
    );

    let traffic = Traffic::start(&grown.ns(CN), &grown.ns(MN), &address)?;
    pause(MOVE_AFTER.saturating_sub(traffic.started.elapsed()))?;
    println!("demo: moving the mobile node from ar1's access link to ar2's (no binding typed)");
    grown.move_node(MN, "ar1", "ar2")?;
    let moved_at = traffic.started.elapsed().as_secs_f64();
    println!("demo: moved at t = {moved_at:.1} s");
    let report = traffic.finish()?;
    println!(
        "demo: {MN}'s link to ar2 after the move:\n{}",
        grown.node_addresses(MN, "ar2")?
    );
    let routers: Vec<&Daemon> = daemons.routers().map(|(_, d)| d).collect();
    let stats_ok =
        print_state(&routers, &["binding", "list"]).and(print_state(&routers, &["stats"]));
    report.check(moved_at)?;
    println!(
        "demo: RFC 8818 traffic redirection (section 4.2): ar1 kept anchoring P1 and tunnelled it to ar2, which serves the node now; the node's new sessions use ar2's prefix"
    );
    println!(
        "demo: the other cases, each on its own rig: cargo xtask demo --scenario {}",
        SCENARIOS.map(|(name, _, _)| name).join("|")
    );
    stats_ok
}

/// The scenarios `--scenario NAME` runs: name, test file, what it shows.
pub const SCENARIOS: [(&str, &str, &str); 7] = [
    (
        "nomadic",
        "scenario_nomadic",
        "RFC 8818 section 4.1: the old prefix ends with the move; old connections end, new ones use the new prefix",
    ),
    (
        "redirection",
        "scenario_redirection",
        "RFC 8818 section 4.2: a checksummed TCP stream across the move, its stall printed, the redirect released when idle",
    ),
    (
        "near-cn",
        "scenario_near_cn",
        "RFC 8818 section 4.2, Figure 6: an anchor next to the correspondent tunnels its traffic straight to the serving router, off the home anchor",
    ),
    (
        "relocation",
        "scenario_relocation",
        "RFC 8818 section 4.3: a fixed /64 moves with its node, announced by BIRD 2 from its new anchor; a TCP flow survives two moves",
    ),
    (
        "repeated",
        "scenario_repeated",
        "RFC 8818: one node AR1 -> AR2 -> AR3 -> AR1 with a flow opened at each stop, every open flow kept",
    ),
    (
        "client",
        "scenario_client",
        "RFC 8818 section 3.1.2, client-based DMM: no CMD; the node's own Binding Updates make AR1 and AR2 tunnel its old prefixes straight to it, two TCP flows kept across two moves",
    ),
    (
        "roam",
        "roam",
        "a Wi-Fi roam between MAARs with RFC 6543's shared identity: the node keeps its default router, no Neighbour Discovery",
    ),
];

/// The test file and the description of scenario `name`, or a one-line error naming the
/// scenarios.
pub fn scenario_test(name: &str) -> Result<(&'static str, &'static str)> {
    SCENARIOS
        .iter()
        .find(|(n, _, _)| *n == name)
        .map(|&(_, test, what)| (test, what))
        .with_context(|| {
            format!(
                "no scenario {name:?}: choose one of {}",
                SCENARIOS.map(|(name, _, _)| name).join(", ")
            )
        })
}

/// `cargo xtask demo --scenario NAME`: runs that scenario's test, printing what it prints.
pub fn scenario(name: &str) -> Result<()> {
    let (test, what) = scenario_test(name)?;
    println!("demo: scenario {name}: {what}");
    cmd::cargo([
        "test",
        "--package",
        "anchor-tests",
        "--test",
        test,
        "--",
        "--test-threads=1",
        "--nocapture",
    ])
    .run()
    .with_context(|| format!("scenario {name} failed"))
}

/// Prints `anchor ARGS` of each router; one that cannot answer is an error, returned after
/// all have printed.
fn print_state(daemons: &[&Daemon], args: &[&str]) -> Result<()> {
    let mut ok = Ok(());
    for daemon in daemons {
        println!("demo: {} `anchor {}`:", daemon.name(), args.join(" "));
        match daemon.cli(args) {
            Ok(out) => out.lines().for_each(|line| println!("  {line}")),
            Err(err) => {
                println!("  (none: {err:#})");
                ok = Err(err.context(format!(
                    "router {} did not answer `{}`",
                    daemon.name(),
                    args.join(" ")
                )));
            }
        }
    }
    ok
}

/// The demo before the control plane: bindings typed with the CLI.
fn run_manual(anchor: &Path, dir: &Path) -> Result<()> {
    let rig = Rig::build(PREFIX)?;
    println!("demo: built namespaces {}", rig.namespaces().join(" "));
    // Declared after the rig, so dropped (stopped) before the namespaces go.
    let mut daemons = Vec::new();
    for router in rig.routers("native") {
        let daemon = Daemon::start(anchor, dir, &router)?;
        println!(
            "demo: {} runs anchor (locator {}, log {})",
            router.name,
            router.locator,
            daemon.log_path().display()
        );
        daemons.push(daemon);
    }

    // 1. Traffic from the correspondent to the mobile node's P1 address.
    let traffic = Traffic::start(&rig.ns(Node::Cn), &rig.ns(Node::Mn), MN_P1_ADDR)?;
    // 2. The move.
    pause(MOVE_AFTER.saturating_sub(traffic.started.elapsed()))?;
    println!("demo: moving the mobile node from r1's access link to r2's");
    rig.move_mobile_node(&daemons[0], &daemons[1])?;
    let moved_at = traffic.started.elapsed().as_secs_f64();
    println!("demo: moved at t = {moved_at:.1} s");
    // 3. Let the stream finish.
    let report = traffic.finish()?;
    // 4. Counters. A router that cannot answer fails the demo, after the verdict on the stream.
    let mut stats_ok = Ok(());
    for daemon in &daemons {
        println!("demo: {} counters:", daemon.name());
        match daemon.cli(&["stats"]) {
            Ok(stats) => stats.lines().for_each(|line| println!("  {line}")),
            Err(err) => {
                println!("  (none: {err:#})");
                stats_ok = Err(err.context(format!(
                    "router {} did not report its counters",
                    daemon.name()
                )));
            }
        }
    }
    report.check(moved_at)?;
    stats_ok
}

/// Pings a second during the demo's stream: the longest gap between their replies is the stall
/// the demo prints.
const PING_INTERVAL: &str = "0.01";

/// The ping and the iperf3 stream from cn to the mobile node.
struct Traffic {
    ping: Proc,
    /// Collects ping's lines (one per reply, with `-D` timestamps).
    ping_reader: std::thread::JoinHandle<Vec<String>>,
    client: Proc,
    /// Declared last: stopped after the client.
    _server: Proc,
    /// Collects iperf3's lines, printing them as they come.
    reader: std::thread::JoinHandle<Vec<String>>,
    started: Instant,
}

/// What the traffic showed.
struct Report {
    /// iperf3's exit status; `None` when it hung and was killed.
    status: Option<ExitStatus>,
    intervals: Vec<Interval>,
    /// The longest gap between two ping replies, in seconds, and the replies counted.
    ping_gap: Option<(f64, usize)>,
}

impl Traffic {
    fn start(cn: &str, mn: &str, mn_addr: &str) -> Result<Traffic> {
        let mut ping = Proc::spawn(
            "ping",
            cmd::in_netns(cn, "ping")
                .args(["-6", "-D", "-i", PING_INTERVAL, "-w", "60", mn_addr])
                .stdout(Stdio::piped()),
        )?;
        // Read as it comes: a full pipe would hold ping up.
        let ping_out = ping.child().stdout.take().context("no stdout from ping")?;
        let ping_reader = std::thread::spawn(move || {
            BufReader::new(ping_out)
                .lines()
                .map_while(Result::ok)
                .collect()
        });
        let server = Proc::spawn(
            "iperf3 server",
            cmd::in_netns(mn, "iperf3")
                .args(["-s", "-1", "-B", mn_addr])
                .stdout(Stdio::null()),
        )?;
        wait_for_listener(mn, Transport::Tcp, 5201, Duration::from_secs(5))?;
        println!(
            "demo: cn -> mn ({mn_addr}): ping every {PING_INTERVAL} s and a {STREAM_SECS} s TCP stream at 20 Mbit/s"
        );
        let secs = STREAM_SECS.to_string();
        let mut client = Proc::spawn(
            "iperf3 client",
            cmd::in_netns(cn, "iperf3")
                .args([
                    "-c",
                    mn_addr,
                    "-t",
                    &secs,
                    "-i",
                    "1",
                    "-b",
                    "20M",
                    "--forceflush",
                    "--connect-timeout",
                    "3000",
                ])
                .stdout(Stdio::piped()),
        )?;
        let started = Instant::now();
        let stdout = client
            .child()
            .stdout
            .take()
            .context("no stdout from iperf3")?;
        let reader = std::thread::spawn(move || {
            let mut lines = Vec::new();
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                println!("  iperf3: {line}");
                lines.push(line);
            }
            lines
        });
        Ok(Traffic {
            ping,
            ping_reader,
            client,
            _server: server,
            reader,
            started,
        })
    }

    /// Waits for the stream to end, stops the ping and prints its summary.
    fn finish(mut self) -> Result<Report> {
        let status = self.client.wait(Duration::from_secs(STREAM_SECS + 10))?;
        let lines = self
            .reader
            .join()
            .map_err(|_| anyhow::anyhow!("the iperf3 reader thread panicked"))?;
        // SIGINT makes ping print its summary.
        self.ping.signal("INT")?;
        self.ping.wait(Duration::from_secs(5))?;
        let ping_lines = self
            .ping_reader
            .join()
            .map_err(|_| anyhow::anyhow!("the ping reader thread panicked"))?;
        for line in ping_lines
            .iter()
            .filter(|l| l.contains("packets transmitted") || l.starts_with("rtt"))
        {
            println!("demo: ping: {line}");
        }
        let intervals = lines.iter().filter_map(|l| Interval::parse(l)).collect();
        Ok(Report {
            status,
            intervals,
            ping_gap: longest_gap(&ping_lines),
        })
    }
}

impl Report {
    /// The stream survived the move when iperf3 finished cleanly and every interval that starts
    /// [`RECOVERY`] seconds after the move carried data.
    fn check(&self, moved_at: f64) -> Result<()> {
        ensure!(
            self.status.as_ref().is_some_and(ExitStatus::success),
            "iperf3 did not finish cleanly ({}): the stream did not survive the move",
            self.status
                .map_or("it hung and was killed".to_owned(), |s| s.to_string())
        );
        let after: Vec<&Interval> = self
            .intervals
            .iter()
            .filter(|i| i.start >= moved_at + RECOVERY)
            .collect();
        ensure!(
            !after.is_empty(),
            "iperf3 reported no interval after the move: the stream did not survive it"
        );
        let stalled: Vec<String> = after
            .iter()
            .filter(|i| i.bits_per_sec == 0.0)
            .map(|i| format!("{:.0}-{:.0} s", i.start, i.end))
            .collect();
        ensure!(
            stalled.is_empty(),
            "no data in intervals {} after the move: the stream did not survive it",
            stalled.join(", ")
        );
        println!(
            "demo: ok: the TCP stream survived the move (all {} one-second intervals from t = {:.1} s on carried data)",
            after.len(),
            moved_at + RECOVERY
        );
        match self.ping_gap {
            Some((gap, replies)) => println!(
                "demo: stall: {:.0} ms, the longest gap between ping replies ({replies} replies, one sent every {PING_INTERVAL} s)",
                gap * 1e3
            ),
            None => println!("demo: stall: not measured (fewer than two ping replies)"),
        }
        Ok(())
    }
}

/// The longest gap between two replies of `ping -D` (`[1733312345.123456] 64 bytes from ...`),
/// in seconds, and the number of replies.
fn longest_gap(lines: &[String]) -> Option<(f64, usize)> {
    let times: Vec<f64> = lines
        .iter()
        .filter(|l| l.contains("bytes from"))
        .filter_map(|l| l.strip_prefix('[')?.split_once(']')?.0.parse().ok())
        .collect();
    let gap = times
        .windows(2)
        .map(|pair| pair[1] - pair[0])
        .fold(None, |longest: Option<f64>, gap| {
            Some(longest.map_or(gap, |l| l.max(gap)))
        })?;
    Some((gap, times.len()))
}

/// One per-second line of iperf3's client report.
#[derive(Debug, PartialEq)]
struct Interval {
    start: f64,
    end: f64,
    bits_per_sec: f64,
}

impl Interval {
    /// Parses `[  5]   4.00-5.00   sec  2.38 MBytes  20.0 Mbits/sec    0    218 KBytes`; the final
    /// sender/receiver summaries are not intervals.
    fn parse(line: &str) -> Option<Interval> {
        if line.contains("sender") || line.contains("receiver") {
            return None;
        }
        let (_, rest) = line.trim_start().strip_prefix('[')?.split_once(']')?;
        let tokens: Vec<&str> = rest.split_whitespace().collect();
        let (start, end) = tokens.first()?.split_once('-')?;
        let unit_at = tokens.iter().position(|t| t.ends_with("bits/sec"))?;
        let scale = match tokens[unit_at].strip_suffix("bits/sec")? {
            "" => 1.0,
            "K" => 1e3,
            "M" => 1e6,
            "G" => 1e9,
            _ => return None,
        };
        let value: f64 = tokens.get(unit_at.checked_sub(1)?)?.parse().ok()?;
        Some(Interval {
            start: start.parse().ok()?,
            end: end.parse().ok()?,
            bits_per_sec: value * scale,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::{Interval, longest_gap};

    #[test]
    fn the_stall_is_the_longest_gap_between_ping_replies() {
        let lines: Vec<String> = [
            "PING 2001:db8:1:1::100 (2001:db8:1:1::100) 56 data bytes",
            "[1700000000.000000] 64 bytes from 2001:db8:1:1::100: icmp_seq=1 ttl=62 time=0.1 ms",
            "[1700000000.010000] 64 bytes from 2001:db8:1:1::100: icmp_seq=2 ttl=62 time=0.1 ms",
            "[1700000000.350000] 64 bytes from 2001:db8:1:1::100: icmp_seq=36 ttl=61 time=0.2 ms",
            "[1700000000.360000] 64 bytes from 2001:db8:1:1::100: icmp_seq=37 ttl=61 time=0.2 ms",
            "37 packets transmitted, 4 received, 89.1892% packet loss, time 360ms",
        ]
        .map(str::to_owned)
        .to_vec();
        let (gap, replies) = longest_gap(&lines).expect("two replies");
        assert!((gap - 0.34).abs() < 1e-6, "{gap}");
        assert_eq!(replies, 4);
        assert_eq!(longest_gap(&lines[..2]), None);
    }

    #[test]
    fn parses_iperf3_intervals() {
        let line = "[  5]   4.00-5.00   sec  2.38 MBytes  20.0 Mbits/sec    0    218 KBytes       ";
        assert_eq!(
            Interval::parse(line),
            Some(Interval {
                start: 4.0,
                end: 5.0,
                bits_per_sec: 20.0e6
            })
        );
        let stalled =
            "[  5]   5.00-6.00   sec  0.00 Bytes  0.00 bits/sec    3   1.41 KBytes       ";
        assert_eq!(
            Interval::parse(stalled),
            Some(Interval {
                start: 5.0,
                end: 6.0,
                bits_per_sec: 0.0
            })
        );
        let summary =
            "[  5]   0.00-12.00  sec  28.6 MBytes  20.0 Mbits/sec    5             sender";
        assert_eq!(Interval::parse(summary), None);
        assert_eq!(
            Interval::parse("[ ID] Interval           Transfer     Bitrate         Retr  Cwnd"),
            None
        );
        assert_eq!(
            Interval::parse("Connecting to host 2001:db8:1:1::100, port 5201"),
            None
        );
    }
}
