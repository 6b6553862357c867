//! Packet captures for the privileged tests: tcpdump on one interface of a namespace, read back
//! with tshark, and bounded runs of such tools.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use anchor_rig::{Proc, cmd};

/// How long a tool run by [`run_bounded`] may take.
pub const PROC_TIMEOUT: Duration = Duration::from_secs(30);

/// `tcpdump -i DEV -w FILE -U` in a namespace: every frame on one interface.
pub struct Capture {
    proc: Proc,
    log: PathBuf,
}

impl Capture {
    pub fn start(ns: &str, dev: &str, file: &Path, dir: &Path) -> Capture {
        let log = dir.join(format!("tcpdump-{dev}.log"));
        let log_file = std::fs::File::create(&log).expect("create tcpdump.log");
        let proc = Proc::spawn(
            "tcpdump",
            cmd::in_netns(ns, "tcpdump")
                // -Z root: Debian's tcpdump otherwise drops to user tcpdump, who cannot write
                // here. --immediate-mode: without it libpcap hands over frames in blocks, at the
                // latest after a second, and the frames of the last block are lost on SIGINT.
                // -B (KiB): in immediate mode every ring slot holds a whole snapshot (256 KiB,
                // as GRO on sw1 merges frames); the default 2 MiB ring drops bursts.
                .args([
                    "-i",
                    dev,
                    "-n",
                    "-U",
                    "--immediate-mode",
                    "-B",
                    "65536",
                    "-Z",
                    "root",
                    "-w",
                ])
                .arg(file)
                .stdout(Stdio::null())
                .stderr(log_file),
        )
        .unwrap_or_else(|e| panic!("{e:#}"));
        let mut capture = Capture { proc, log };
        let deadline = Instant::now() + Duration::from_secs(10);
        while !capture.log_text().contains("listening on") {
            if let Some(status) = capture.proc.try_wait().unwrap_or_else(|e| panic!("{e:#}")) {
                panic!("tcpdump exited ({status}):\n{}", capture.log_text());
            }
            assert!(
                Instant::now() < deadline,
                "tcpdump did not start listening on {dev} within 10 s:\n{}",
                capture.log_text()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        capture
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// SIGINT, then waits for tcpdump to flush and exit.
    pub fn stop(&mut self) {
        let status = self
            .proc
            .stop_with("INT", Duration::from_secs(10))
            .unwrap_or_else(|e| panic!("{e:#}"));
        let log = self.log_text();
        assert!(status.success(), "tcpdump exited with {status}:\n{log}");
        // "N packets dropped by kernel": a capture with holes would make tshark's checks moot.
        let dropped = log
            .lines()
            .find_map(|line| line.strip_suffix(" packets dropped by kernel"))
            .map(|n| n.trim().parse::<u64>());
        assert!(
            matches!(dropped, Some(Ok(0))),
            "the capture is incomplete (or tcpdump's summary unreadable):\n{log}"
        );
    }
}

/// Runs tshark on the capture; panics with its stderr when it fails.
pub fn tshark(file: &Path, args: &[&str]) -> String {
    let out = run_bounded("tshark", cmd::new("tshark").arg("-r").arg(file).args(args));
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "`tshark -r {} {}` failed ({}):\n{stdout}{}",
        file.display(),
        args.join(" "),
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

/// Starts a process, waits for it (killing it after [`PROC_TIMEOUT`]) and returns its output.
pub fn run_bounded(name: &str, command: &mut Command) -> Output {
    let line = cmd::describe(command);
    let mut proc = Proc::spawn(name, command.stdout(Stdio::piped()).stderr(Stdio::piped()))
        .unwrap_or_else(|e| panic!("{e:#}"));
    // The outputs are small: reading them after the exit cannot block the child.
    let status = proc
        .wait(PROC_TIMEOUT)
        .unwrap_or_else(|e| panic!("{e:#}"))
        .unwrap_or_else(|| panic!("`{line}` still ran after {PROC_TIMEOUT:?} and was killed"));
    let child = proc.child();
    let stdout = read_all(child.stdout.take());
    let stderr = read_all(child.stderr.take());
    Output {
        status,
        stdout,
        stderr,
    }
}

fn read_all(pipe: Option<impl Read>) -> Vec<u8> {
    let mut buf = Vec::new();
    if let Some(mut pipe) = pipe {
        let _ = pipe.read_to_end(&mut buf);
    }
    buf
}
