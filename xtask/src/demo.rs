//! `cargo xtask demo`: a TCP stream and a ping survive the mobile node's move from router 1 to
//! router 2, because router 1 keeps anchoring the node's old prefix P1 and tunnels it to router 2.
//!
//! Drives the real `anchor` binary in the [`rig`](crate::rig) topology:
//! 1. both routers run `anchor run`; cn pings the mobile node and sends it an iperf3 stream;
//! 2. after a few seconds the mobile node moves to access link 2 and keeps its P1 address
//!    (deprecated), and the CLI installs the bindings: r1 serves P1 through r2, r2 reverse-tunnels
//!    P1's uplink to r1;
//! 3. the stream must go on after the move;
//! 4. both routers' counters are printed;
//! 5. everything is torn down, also on failure or Ctrl-C.

use std::io::{BufRead as _, BufReader, Read as _};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result, bail, ensure};

use crate::cmd::{self, Run as _};
use crate::rig::{
    self, CN, MN, MN_P1_ADDR, MN_P2_ADDR, P1, P2_GATEWAY, R1, R1_LOCATOR, R2, R2_LOCATOR, Rig,
};

/// Length of the iperf3 stream.
const STREAM_SECS: u64 = 12;
/// When the mobile node moves, counted from the start of the stream.
const MOVE_AFTER: Duration = Duration::from_secs(4);
/// Time TCP gets to recover after the move (retransmission timeout, Packet Too Big) before every
/// interval must carry data again.
const RECOVERY: f64 = 2.0;
/// How long a router gets to open its API socket.
const DAEMON_START_TIMEOUT: Duration = Duration::from_secs(10);

/// One anchor router of the demo.
struct Router {
    name: &'static str,
    ns: &'static str,
    locator: &'static str,
    /// (interface, role)
    interfaces: &'static [(&'static str, &'static str)],
}

const ROUTERS: [Router; 2] = [
    Router {
        name: "r1",
        ns: R1,
        locator: R1_LOCATOR,
        interfaces: &[("r1c", "core"), ("r1x", "core"), ("r1a", "access")],
    },
    Router {
        name: "r2",
        ns: R2,
        locator: R2_LOCATOR,
        interfaces: &[("r2x", "core"), ("r2a", "access")],
    },
];

/// Set by Ctrl-C.
static INTERRUPTED: AtomicBool = AtomicBool::new(false);

/// Fails once Ctrl-C has been pressed.
fn check_interrupted() -> Result<()> {
    if INTERRUPTED.load(Ordering::SeqCst) {
        bail!("interrupted");
    }
    Ok(())
}

/// Sleeps for `duration`, failing as soon as Ctrl-C is pressed.
fn pause(duration: Duration) -> Result<()> {
    let end = Instant::now() + duration;
    loop {
        check_interrupted()?;
        let left = end.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Ok(());
        }
        std::thread::sleep(left.min(Duration::from_millis(50)));
    }
}

pub fn demo() -> Result<()> {
    let anchor = cmd::target_dir().join("debug/anchor");
    ensure!(
        anchor.exists(),
        "{} is missing: the build did not produce it",
        anchor.display()
    );
    let dir = std::env::temp_dir().join(format!("anchor-demo.{}", std::process::id()));
    std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;

    // Ctrl-C sets a flag that every wait below checks: the demo then fails with "interrupted" and
    // the guards stop the processes and delete the namespaces on the way out.
    ctrlc::set_handler(|| {
        if INTERRUPTED.swap(true, Ordering::SeqCst) {
            eprintln!("\ndemo: interrupted again: exiting now; `cargo xtask rig down` cleans up");
            std::process::exit(130);
        }
        eprintln!("\ndemo: interrupted, tearing down");
    })
    .context("cannot install the Ctrl-C handler")?;

    let result = run(&anchor, &dir);
    match &result {
        Ok(()) => {
            let _ = std::fs::remove_dir_all(&dir);
        }
        Err(_) => eprintln!("demo: configs and logs kept in {}", dir.display()),
    }
    result
}

fn run(anchor: &Path, dir: &Path) -> Result<()> {
    let _rig = Rig::build()?;
    // Declared after the rig, so dropped (killed) before the namespaces go.
    let mut procs = Procs::default();
    println!("demo: built namespaces {}", rig::NAMESPACES.join(" "));
    let mut sockets = Vec::new();
    for router in &ROUTERS {
        sockets.push(start_router(&mut procs, anchor, dir, router)?);
    }

    // 1. Traffic from the correspondent to the mobile node's P1 address.
    let traffic = Traffic::start(&mut procs)?;
    // 2. The move.
    pause(MOVE_AFTER.saturating_sub(traffic.started.elapsed()))?;
    move_mobile_node(anchor, &sockets[0], &sockets[1])?;
    let moved_at = traffic.started.elapsed().as_secs_f64();
    println!("demo: moved at t = {moved_at:.1} s");
    // 3. Let the stream finish.
    let report = traffic.finish(&mut procs)?;
    // 4. Counters. A router that cannot answer fails the demo, after the verdict on the stream.
    let mut stats_ok = Ok(());
    for (router, socket) in ROUTERS.iter().zip(&sockets) {
        println!("demo: {} counters:", router.name);
        match cmd::new(anchor)
            .args(["stats", "--socket"])
            .arg(socket)
            .read_stdout()
        {
            Ok(stats) => stats.lines().for_each(|line| println!("  {line}")),
            Err(err) => {
                println!("  (none: {err:#})");
                stats_ok = Err(err.context(format!(
                    "router {} did not report its counters",
                    router.name
                )));
            }
        }
    }
    report.check(moved_at)?;
    stats_ok
}

/// The ping and the iperf3 stream from cn to the mobile node.
struct Traffic {
    ping: ProcId,
    client: ProcId,
    /// Collects iperf3's lines, printing them as they come.
    reader: std::thread::JoinHandle<Vec<String>>,
    started: Instant,
}

/// What the traffic showed.
struct Report {
    /// iperf3's exit status; `None` when it hung and was killed.
    status: Option<ExitStatus>,
    intervals: Vec<Interval>,
}

impl Traffic {
    fn start(procs: &mut Procs) -> Result<Traffic> {
        let ping = procs.spawn(
            "ping",
            cmd::in_netns(CN, "ping")
                .args(["-6", "-q", "-i", "0.2", "-w", "60", MN_P1_ADDR])
                .stdout(Stdio::piped()),
        )?;
        procs.spawn(
            "iperf3 server",
            cmd::in_netns(MN, "iperf3")
                .args(["-s", "-1", "-B", MN_P1_ADDR])
                .stdout(Stdio::null()),
        )?;
        wait_for_listener(MN, 5201)?;
        println!(
            "demo: cn -> mn ({MN_P1_ADDR}): ping every 0.2 s and a {STREAM_SECS} s TCP stream at 20 Mbit/s"
        );
        let secs = STREAM_SECS.to_string();
        let client = procs.spawn(
            "iperf3 client",
            cmd::in_netns(CN, "iperf3")
                .args([
                    "-c",
                    MN_P1_ADDR,
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
        let stdout = procs
            .child(client)
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
            client,
            reader,
            started,
        })
    }

    /// Waits for the stream to end, stops the ping and prints its summary.
    fn finish(self, procs: &mut Procs) -> Result<Report> {
        let status = procs.wait(self.client, Duration::from_secs(STREAM_SECS + 10))?;
        let lines = self
            .reader
            .join()
            .map_err(|_| anyhow::anyhow!("the iperf3 reader thread panicked"))?;
        // SIGINT makes ping print its summary.
        procs.signal(self.ping, "INT")?;
        procs.wait(self.ping, Duration::from_secs(5))?;
        let mut ping_out = String::new();
        if let Some(mut out) = procs.child(self.ping).stdout.take() {
            out.read_to_string(&mut ping_out)
                .context("cannot read ping's output")?;
        }
        for line in ping_out
            .lines()
            .filter(|l| l.contains("packet") || l.starts_with("rtt"))
        {
            println!("demo: ping: {line}");
        }
        let intervals = lines.iter().filter_map(|l| Interval::parse(l)).collect();
        Ok(Report { status, intervals })
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
        Ok(())
    }
}

/// Writes the router's config, starts `anchor run` in its namespace and waits for its API socket.
fn start_router(procs: &mut Procs, anchor: &Path, dir: &Path, router: &Router) -> Result<PathBuf> {
    let socket = dir.join(format!("{}.sock", router.name));
    let config = dir.join(format!("{}.toml", router.name));
    let log = dir.join(format!("{}.log", router.name));
    let mut text = format!(
        "locator = \"{}\"\napi_socket = \"{}\"\n",
        router.locator,
        socket.display()
    );
    for (name, role) in router.interfaces {
        text.push_str(&format!(
            "\n[[interface]]\nname = \"{name}\"\nrole = \"{role}\"\nxdp_mode = \"native\"\n"
        ));
    }
    std::fs::write(&config, text).with_context(|| format!("cannot write {}", config.display()))?;
    let log_file =
        std::fs::File::create(&log).with_context(|| format!("cannot create {}", log.display()))?;
    let mut command = cmd::in_netns(router.ns, anchor);
    command
        .arg("run")
        .arg("--config")
        .arg(&config)
        .stdout(log_file.try_clone()?)
        .stderr(log_file);
    let daemon = procs.spawn(router.name, &mut command)?;

    let deadline = Instant::now() + DAEMON_START_TIMEOUT;
    while !socket.exists() {
        let exited = procs.child(daemon).try_wait()?;
        if exited.is_some() || Instant::now() > deadline {
            let why = exited.map_or(
                format!(
                    "did not open {} within {DAEMON_START_TIMEOUT:?}",
                    socket.display()
                ),
                |s| format!("exited ({s})"),
            );
            let log_text = std::fs::read_to_string(&log).unwrap_or_default();
            bail!(
                "router {} ({}) {why}; its log:\n{log_text}",
                router.name,
                cmd::describe(&command)
            );
        }
        pause(Duration::from_millis(50))?;
    }
    println!(
        "demo: {} runs anchor (locator {}, log {})",
        router.name,
        router.locator,
        log.display()
    );
    Ok(socket)
}

/// Waits until something listens on TCP `port` in `ns`.
fn wait_for_listener(ns: &str, port: u16) -> Result<()> {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let out = cmd::in_netns(ns, "ss")
            .args(["-Hltn", &format!("sport = :{port}")])
            .read_stdout()?;
        if !out.trim().is_empty() {
            return Ok(());
        }
        ensure!(
            Instant::now() < deadline,
            "nothing listens on port {port} in {ns} after 5 s"
        );
        pause(Duration::from_millis(50))?;
    }
}

/// The mobile node leaves access link 1 for access link 2, keeping its P1 address as deprecated
/// (as RFC 8885 router advertisements would make it), and the bindings follow.
fn move_mobile_node(anchor: &Path, r1_sock: &Path, r2_sock: &Path) -> Result<()> {
    println!("demo: moving the mobile node from r1's access link to r2's");
    let p1_addr = format!("{MN_P1_ADDR}/64");
    let p2_addr = format!("{MN_P2_ADDR}/64");
    let steps: &[&[&str]] = &[
        &["link", "set", "mn1", "down"],
        &["link", "set", "mn2", "up"],
        &[
            "-6",
            "addr",
            "add",
            &p1_addr,
            "dev",
            "mn2",
            "nodad",
            "preferred_lft",
            "0",
        ],
        &["-6", "addr", "add", &p2_addr, "dev", "mn2", "nodad"],
        &[
            "-6", "route", "replace", "default", "via", P2_GATEWAY, "dev", "mn2",
        ],
    ];
    for step in steps {
        println!("  ip -n {MN} {}", step.join(" "));
        cmd::new("ip").args(["-n", MN]).args(*step).run_quiet()?;
    }
    let bindings: [(&Path, &[&str]); 2] = [
        (r1_sock, &["binding", "add", P1, "--serving", R2_LOCATOR]),
        (
            r2_sock,
            &[
                "binding",
                "add",
                P1,
                "--home",
                R1_LOCATOR,
                "--dev",
                "r2a",
                "--reverse-tunnel",
            ],
        ),
    ];
    for (socket, args) in bindings {
        println!("  anchor {} --socket {}", args.join(" "), socket.display());
        cmd::new(anchor)
            .args(args)
            .arg("--socket")
            .arg(socket)
            .run_quiet()?;
    }
    Ok(())
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

/// Processes started by the demo; dropping it stops them (SIGTERM, then SIGKILL).
#[derive(Default)]
struct Procs {
    children: Vec<(String, Child)>,
}

/// Index of a process in [`Procs`].
#[derive(Clone, Copy)]
struct ProcId(usize);

impl Procs {
    fn spawn(&mut self, name: &str, command: &mut Command) -> Result<ProcId> {
        let child = command
            .spawn()
            .with_context(|| format!("cannot start `{}`", cmd::describe(command)))?;
        self.children.push((name.to_owned(), child));
        Ok(ProcId(self.children.len() - 1))
    }

    fn child(&mut self, id: ProcId) -> &mut Child {
        &mut self.children[id.0].1
    }

    fn signal(&mut self, id: ProcId, signal: &str) -> Result<()> {
        let (name, child) = &mut self.children[id.0];
        if child.try_wait()?.is_none() {
            cmd::new("kill")
                .arg(format!("-{signal}"))
                .arg(child.id().to_string())
                .run_quiet()
                .with_context(|| format!("cannot signal {name}"))?;
        }
        Ok(())
    }

    /// Waits for the process to exit; `None` when it was still running after `timeout` (it is
    /// killed then).
    fn wait(&mut self, id: ProcId, timeout: Duration) -> Result<Option<ExitStatus>> {
        let deadline = Instant::now() + timeout;
        let child = self.child(id);
        loop {
            // A Ctrl-C in the terminal also ends the children: report the interruption instead.
            check_interrupted()?;
            if let Some(status) = child.try_wait()? {
                return Ok(Some(status));
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                return Ok(None);
            }
            pause(Duration::from_millis(50))?;
        }
    }
}

impl Drop for Procs {
    fn drop(&mut self) {
        for id in 0..self.children.len() {
            let _ = self.signal(ProcId(id), "TERM");
        }
        let deadline = Instant::now() + Duration::from_secs(3);
        for (_, child) in &mut self.children {
            while Instant::now() < deadline && matches!(child.try_wait(), Ok(None)) {
                std::thread::sleep(Duration::from_millis(20));
            }
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Interval;

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
