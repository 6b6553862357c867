//! The control plane on the rig for the MAAR tests that attach the node by hand (`mn attach`):
//! the real CMD ([`anchor_rig::control::start_cmd`]) and the two routers as MAARs (`anchor run`
//! with a `[maar]` section, insecure signaling, each with its state directory in the work
//! directory), plus the CLI calls the tests check them with.

use std::{
    path::PathBuf,
    time::{Duration, Instant},
};

use anchor_rig::{
    Daemon, Node, Proc, Rig, Router, WorkDir, cmd,
    control::{POOL1, POOL2, start_cmd},
    topology::{CN_ADDR, R1_LOCATOR, R2_LOCATOR},
};
use serde_json::Value;

use crate::support::{anchor_binary, remove_stale_rigs, require_tools};

pub use anchor_rig::control::{MN_MAC as MAC, P1, P2};

/// The mobile node's address from P1 (configured by hand).
pub const MN_P1: &str = "2001:db8:a1::100";

/// The rig, the running CMD and the routers' configurations.
pub struct ControlPlane {
    pub anchor: PathBuf,
    pub dir: WorkDir,
    pub rig: Rig,
    pub routers: [Router; 2],
    cmd: Option<Proc>,
    cmd_log: PathBuf,
}

impl ControlPlane {
    /// Builds the rig `anc-<tag><pid>-` and starts the CMD. The mobile node sends no Router
    /// Solicitations (the tests attach it with `mn attach`).
    pub fn start(tag: &str) -> Self {
        let anchor = anchor_binary();
        require_tools(&[&["ip", "-V"], &["ethtool", "--version"], &["ping", "-V"]]);
        remove_stale_rigs(&format!("anc-{tag}"));
        let dir = WorkDir::create(&format!("anchor-{tag}")).unwrap_or_else(|e| panic!("{e:#}"));
        let rig = Rig::build(&format!("anc-{tag}{}-", std::process::id()))
            .unwrap_or_else(|e| panic!("cannot build the rig: {e:#}"));
        let cmd = start_cmd(&anchor, dir.path(), &rig)
            .unwrap_or_else(|e| panic!("cannot start the CMD: {e:#}"));
        let cmd_log = dir.path().join("cmd.log");
        rig.mobile_node_without_solicitations()
            .unwrap_or_else(|e| panic!("{e:#}"));
        let routers = rig.routers("native");
        Self {
            anchor,
            dir,
            rig,
            routers,
            cmd: Some(cmd),
            cmd_log,
        }
    }

    /// The `[maar]` section of router `index` (0: r1 with POOL1, 1: r2 with POOL2), with
    /// `pool_extra` added to its pool.
    pub fn maar_section(&self, index: usize, pool_extra: &str) -> String {
        self.section(index, true, pool_extra)
    }

    /// [`maar_section`](Self::maar_section) with `insecure_signaling = false`: a MAAR that
    /// needs IPsec ESP policies for its signaling.
    pub fn secure_maar_section(&self, index: usize) -> String {
        self.section(index, false, "")
    }

    fn section(&self, index: usize, insecure: bool, pool_extra: &str) -> String {
        let pool = [POOL1, POOL2][index];
        format!(
            "\n[maar]\ncmd = \"{CN_ADDR}\"\ninsecure_signaling = {insecure}\nstate_dir = \"{}\"\n\
             [[maar.pool]]\nprefix = \"{pool}\"\npolicy = \"session-lasting\"\n{pool_extra}",
            self.state_dir(index).display()
        )
    }

    /// Where router `index` keeps its state.
    pub fn state_dir(&self, index: usize) -> PathBuf {
        self.dir
            .path()
            .join(format!("{}-state", self.routers[index].name))
    }

    /// Starts router `index` as a MAAR.
    pub fn start_maar(&self, index: usize, pool_extra: &str) -> Daemon {
        Daemon::start_with_config(
            &self.anchor,
            self.dir.path(),
            &self.routers[index],
            &self.maar_section(index, pool_extra),
        )
        .unwrap_or_else(|e| panic!("cannot start a MAAR: {e:#}"))
    }

    /// The CMD's store: its records as JSON.
    pub fn cmd_records(&self) -> Value {
        let path = self.dir.path().join("cmd.json");
        match std::fs::read_to_string(&path) {
            Ok(text) => serde_json::from_str(&text).unwrap_or_else(|e| panic!("{e}: {text}")),
            Err(_) => Value::Array(Vec::new()),
        }
    }

    /// Whether the CMD's record of the node lists `prefix`.
    pub fn cmd_lists(&self, prefix: &str) -> bool {
        self.cmd_records().as_array().is_some_and(|records| {
            records.iter().any(|r| {
                r["prefixes"]
                    .as_array()
                    .is_some_and(|ps| ps.iter().any(|p| p["prefix"] == prefix))
            })
        })
    }

    pub fn cmd_log_tail(&self) -> String {
        cmd::tail(
            std::fs::read_to_string(&self.cmd_log)
                .unwrap_or_default()
                .as_bytes(),
        )
    }

    /// Stops the CMD with SIGTERM and checks that it exited cleanly.
    pub fn stop_cmd(&mut self) {
        if let Some(mut proc) = self.cmd.take() {
            let status = proc
                .stop_with("TERM", Duration::from_secs(5))
                .unwrap_or_else(|e| panic!("the CMD did not stop: {e:#}"));
            assert!(
                status.success(),
                "the CMD exited with {status}:\n{}",
                self.cmd_log_tail()
            );
        }
    }

    /// Configures the mobile node's P1 address on its first link.
    pub fn add_mn_p1_address(&self) {
        self.rig
            .ip(
                Node::Mn,
                &[
                    "-6",
                    "addr",
                    "add",
                    &format!("{MN_P1}/64"),
                    "dev",
                    "mn1",
                    "nodad",
                ],
            )
            .unwrap_or_else(|e| panic!("{e:#}"));
    }

    /// The node attaches at r1 (gets P1, reachable there), moves to r2's link, attaches there
    /// (gets P2), and both routers hold their bindings for P1.
    pub fn attach_and_move(&self, r1: &Daemon, r2: &Daemon, deadline: Duration) {
        self.attach_at_r1(r1, deadline);
        self.move_to_r2(r1, r2, deadline);
    }

    /// The node attaches at r1: it gets P1, its address from P1, and r1's route for P1.
    pub fn attach_at_r1(&self, r1: &Daemon, deadline: Duration) {
        assert_eq!(
            attach(r1, "r1a"),
            P1,
            "r1 delegates the first /64 of its pool"
        );
        self.add_mn_p1_address();
        wait_for(
            &format!("r1's route {P1} dev r1a after the PBA"),
            deadline,
            || {
                crate::support::ip_stdout(&self.rig, Node::R1, &["-6", "route", "show", P1])
                    .contains("dev r1a")
            },
        );
    }

    /// The node, attached at r1, moves to r2's link and attaches there (gets P2), and both
    /// routers hold their bindings for P1.
    pub fn move_to_r2(&self, r1: &Daemon, r2: &Daemon, deadline: Duration) {
        self.rig
            .move_mobile_node_link(MN_P1)
            .unwrap_or_else(|e| panic!("cannot move the mobile node: {e:#}"));
        assert_eq!(attach(r2, "r2a"), P2, "r2 delegates from its own pool");
        wait_for(
            "r2's visiting binding and r1's redirect for P1",
            deadline,
            || moved(r1, r2),
        );
    }
}

impl Drop for ControlPlane {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!("the CMD's log:\n{}", self.cmd_log_tail());
        }
    }
}

/// Whether r2 holds `Visiting` for P1 (home r1) and r1 `Redirect` for P1 (serving r2).
pub fn moved(r1: &Daemon, r2: &Daemon) -> bool {
    let on_r2 = find_binding(r2, P1);
    let on_r1 = find_binding(r1, P1);
    on_r2.is_some_and(|b| {
        b["kind"] == "visiting"
            && b["peer"] == R1_LOCATOR
            && b["dev"] == "r2a"
            && b["reverse_tunnel"] == true
    }) && on_r1.is_some_and(|b| b["kind"] == "redirect" && b["peer"] == R2_LOCATOR)
}

/// `mn detach` of the node at r2, which releases P2: then neither router keeps a binding for
/// P1.
pub fn detach_at_r2(r1: &Daemon, r2: &Daemon, deadline: Duration) {
    let released = r2
        .cli(&["mn", "detach", "--mn-id", MAC])
        .unwrap_or_else(|e| panic!("{e:#}"));
    assert_eq!(released.trim(), P2);
    wait_for("both routers without a binding for P1", deadline, || {
        find_binding(r1, P1).is_none() && find_binding(r2, P1).is_none()
    });
}

/// `mn attach` of the tests' node: the delegated prefix.
pub fn attach(daemon: &Daemon, dev: &str) -> String {
    daemon
        .cli(&["mn", "attach", "--mn-id", MAC, "--dev", dev])
        .unwrap_or_else(|e| panic!("{e:#}"))
        .trim()
        .to_owned()
}

/// The daemon's binding for `prefix` (`binding list --json`).
pub fn find_binding(daemon: &Daemon, prefix: &str) -> Option<Value> {
    let out = daemon
        .cli(&["binding", "list", "--json"])
        .unwrap_or_else(|e| panic!("{e:#}"));
    let list: Value = serde_json::from_str(&out).expect("binding list JSON");
    list.as_array()?
        .iter()
        .find(|b| b["prefix"] == prefix)
        .cloned()
}

/// `mn list --json`.
pub fn mn_list(daemon: &Daemon) -> Value {
    let out = daemon
        .cli(&["mn", "list", "--json"])
        .unwrap_or_else(|e| panic!("{e:#}"));
    serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}"))
}

/// Polls `check` until it holds, failing after `deadline`.
pub fn wait_for(what: &str, deadline: Duration, mut check: impl FnMut() -> bool) {
    let end = Instant::now() + deadline;
    while !check() {
        assert!(Instant::now() < end, "no {what} within {deadline:?}");
        std::thread::sleep(Duration::from_millis(50));
    }
}
