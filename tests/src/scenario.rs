//! What the RFC 8818 scenario tests share: the rig with the real CMD and two MAARs whose pools
//! have one policy, a kernel-SLAAC mobile node, core routing for router 2's pool, and TCP
//! between the correspondent and the node (sockets opened inside the namespaces).

use std::{
    io::{Read as _, Write as _},
    net::{Ipv6Addr, TcpListener, TcpStream},
    time::Duration,
};

use anchor_rig::{
    Daemon, Node, Proc, Rig, WorkDir,
    control::{self, MN_P1_SLAAC, POOL2, PoolPolicy},
    topology::{CN_ADDR, R2_LOCATOR},
};
use serde_json::Value;

use crate::{
    maar::wait_for,
    support::{anchor_binary, in_netns, remove_stale_rigs, require_tools, stop_daemons},
};

/// How long signaling, advertisements and connections may take before a test fails.
pub const DEADLINE: Duration = Duration::from_secs(15);

/// The rig, the CMD and both MAARs, the node attached at router 1 with its P1 address.
pub struct Scenario {
    pub dir: WorkDir,
    pub rig: Rig,
    pub r1: Option<Daemon>,
    pub r2: Option<Daemon>,
    cmd: Option<Proc>,
    policy: PoolPolicy,
    pool_extra: String,
}

impl Scenario {
    /// Builds the rig `anc-<tag><pid>-` with pools of `policy` (and `pool_extra` keys), brings
    /// the node up on link 1 and waits for its P1 address.
    pub fn start(tag: &str, policy: PoolPolicy, pool_extra: &str) -> Scenario {
        let scenario = Scenario::prepare(tag, policy, pool_extra);
        scenario.attach_at_r1();
        scenario
    }

    /// Brings the node up on link 1 and waits for its P1 address.
    pub fn attach_at_r1(&self) {
        self.rig
            .ip(Node::Mn, &["link", "set", "mn1", "up"])
            .unwrap_or_else(|e| panic!("{e:#}"));
        self.wait_for_address("mn1", MN_P1_SLAAC);
    }

    /// [`start`](Self::start) without the node's attachment: its links stay down.
    pub fn prepare(tag: &str, policy: PoolPolicy, pool_extra: &str) -> Scenario {
        let anchor = anchor_binary();
        require_tools(&[
            &["ip", "-V"],
            &["ethtool", "--version"],
            &["sysctl", "--version"],
        ]);
        remove_stale_rigs(&format!("anc-{tag}"));
        let dir =
            WorkDir::create(&format!("anchor-scenario-{tag}")).unwrap_or_else(|e| panic!("{e:#}"));
        let rig = Rig::build(&format!("anc-{tag}{}-", std::process::id()))
            .unwrap_or_else(|e| panic!("cannot build the rig: {e:#}"));
        let cmd = control::start_cmd_with(&anchor, dir.path(), &rig, policy)
            .unwrap_or_else(|e| panic!("cannot start the CMD: {e:#}"));
        rig.mobile_node_as_slaac_host()
            .unwrap_or_else(|e| panic!("{e:#}"));
        let [r1, r2] =
            control::start_maars_with_policy(&anchor, dir.path(), &rig, policy, pool_extra)
                .unwrap_or_else(|e| panic!("cannot start the MAARs: {e:#}"));
        // Core routing for router 2's pool (the rig's routers know no route to it by
        // themselves; in a network, the IGP or BGP carries it).
        rig.ip(Node::R1, &["-6", "route", "add", POOL2, "via", R2_LOCATOR])
            .unwrap_or_else(|e| panic!("{e:#}"));
        Scenario {
            dir,
            rig,
            r1: Some(r1),
            r2: Some(r2),
            cmd: Some(cmd),
            policy,
            pool_extra: pool_extra.to_owned(),
        }
    }

    pub fn r1(&self) -> &Daemon {
        self.r1.as_ref().expect("router 1 runs")
    }

    pub fn r2(&self) -> &Daemon {
        self.r2.as_ref().expect("router 2 runs")
    }

    /// Waits until the node holds `addr`/64 on `dev`.
    pub fn wait_for_address(&self, dev: &str, addr: &str) {
        wait_for(&format!("{addr} on {dev}"), DEADLINE, || {
            self.rig
                .mobile_node_addresses(dev)
                .unwrap_or_else(|e| panic!("{e:#}"))
                .contains(&format!("{addr}/64"))
        });
    }

    /// The correspondent's address.
    pub fn cn(&self) -> Ipv6Addr {
        CN_ADDR.parse().expect("address")
    }

    /// A TCP listener on the correspondent.
    pub fn listen(&self, port: u16) -> TcpListener {
        let cn = self.cn();
        in_netns(&self.rig.ns(Node::Cn), || {
            TcpListener::bind((cn, port)).unwrap_or_else(|e| panic!("listen on [{cn}]:{port}: {e}"))
        })
    }

    /// Kills the CMD with SIGKILL (nothing saved on the way out) and starts it again on the same
    /// configuration and store.
    pub fn kill_and_restart_cmd(&mut self) {
        if let Some(mut cmd) = self.cmd.take() {
            cmd.stop_with("KILL", Duration::from_secs(5))
                .unwrap_or_else(|e| panic!("cannot kill the CMD: {e:#}"));
        }
        let anchor = anchor_binary();
        self.cmd = Some(
            control::start_cmd_with(&anchor, self.dir.path(), &self.rig, self.policy)
                .unwrap_or_else(|e| panic!("cannot start the CMD again: {e:#}")),
        );
    }

    /// Kills router `index + 1`'s daemon with SIGKILL (nothing saved on the way out; its pins
    /// and state file stay) and starts it again on the same configuration.
    pub fn kill_and_restart_maar(&mut self, index: usize) {
        let slot = if index == 0 {
            &mut self.r1
        } else {
            &mut self.r2
        };
        if let Some(daemon) = slot.take() {
            let name = daemon.name();
            daemon
                .kill()
                .unwrap_or_else(|e| panic!("cannot kill {name}: {e:#}"));
        }
        let anchor = anchor_binary();
        let daemon = control::start_maar_with_policy(
            &anchor,
            self.dir.path(),
            &self.rig,
            index,
            self.policy,
            &self.pool_extra,
        )
        .unwrap_or_else(|e| panic!("cannot start router {} again: {e:#}", index + 1));
        *(if index == 0 {
            &mut self.r1
        } else {
            &mut self.r2
        }) = Some(daemon);
    }

    /// Stops the routers and the CMD, checking that they exit cleanly.
    pub fn stop(mut self) {
        stop_daemons(self.r1.take().into_iter().chain(self.r2.take()));
        if let Some(mut cmd) = self.cmd.take() {
            let status = cmd
                .stop_with("TERM", Duration::from_secs(5))
                .unwrap_or_else(|e| panic!("the CMD did not stop: {e:#}"));
            assert!(status.success(), "the CMD exited with {status}");
        }
    }
}

/// Echoes on every connection `listener` accepts, one thread each, until the test ends.
pub fn echo_forever(listener: &TcpListener) {
    let accepting = listener.try_clone().expect("listener");
    std::thread::spawn(move || {
        for stream in accepting.incoming() {
            let Ok(mut stream) = stream else { return };
            std::thread::spawn(move || {
                let mut buf = [0u8; 1024];
                while let Ok(n) = stream.read(&mut buf) {
                    if n == 0 || stream.write_all(&buf[..n]).is_err() {
                        return;
                    }
                }
            });
        }
    });
}

/// Writes `data` and reads it back: the echo, or how the connection failed.
pub fn echo(stream: &mut TcpStream, data: &[u8]) -> Result<Vec<u8>, std::io::ErrorKind> {
    stream.write_all(data).map_err(|e| e.kind())?;
    let mut back = vec![0u8; data.len()];
    stream.read_exact(&mut back).map_err(|e| e.kind())?;
    Ok(back)
}

/// `mn list --json` with no node served and no prefix anchored for one elsewhere.
pub fn holds_nothing(list: &Value) -> bool {
    ["served", "anchored"]
        .iter()
        .all(|key| list[key].as_array().is_some_and(Vec::is_empty))
}
