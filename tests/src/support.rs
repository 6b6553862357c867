//! What every privileged daemon test needs first: the `anchor` binary, the tools it drives, and no
//! rig left behind by an earlier test process that died.

use std::path::PathBuf;

use anchor_rig::{
    Daemon, Node, Rig,
    cmd::{self, Run as _},
};

/// `target/debug/anchor`, from the test binary in `target/debug/deps`.
pub fn anchor_binary() -> PathBuf {
    let exe = std::env::current_exe().expect("cannot find the test's own executable");
    let deps = exe.parent().expect("the test executable has a directory");
    let anchor = deps.join("../anchor");
    assert!(
        anchor.is_file(),
        "{} is missing: build the workspace first (`cargo build`; `cargo xtask test` does)",
        anchor.display()
    );
    anchor.canonicalize().expect("canonical path of anchor")
}

/// Fails with the reason when one of the tools the test drives cannot run. Each probe is a
/// command line that must succeed, such as `["tshark", "--version"]`.
pub fn require_tools(probes: &[&[&str]]) {
    for probe in probes {
        if let Err(err) = cmd::new(probe[0]).args(&probe[1..]).run_quiet() {
            panic!(
                "{} is needed by this test and does not run (`cargo xtask setup` installs it): {err:#}",
                probe[0]
            );
        }
    }
}

/// Removes the rigs named `<stem><tag><pid>-…` whose test process is gone.
pub fn remove_stale_rigs(stem: &str) {
    anchor_rig::topology::remove_stale_rigs(stem)
        .unwrap_or_else(|e| panic!("cannot remove a stale rig: {e:#}"));
}

/// Stops each of the daemons (SIGTERM) and checks that it exited cleanly.
pub fn stop_daemons(daemons: impl IntoIterator<Item = Daemon>) {
    for daemon in daemons {
        let name = daemon.name();
        let status = daemon
            .stop()
            .unwrap_or_else(|e| panic!("router {name} did not stop: {e:#}"));
        assert!(status.success(), "router {name} exited with {status}");
    }
}

/// `ip -n NS ARGS` in `node`'s namespace; its standard output.
pub fn ip_stdout(rig: &Rig, node: Node, args: &[&str]) -> String {
    cmd::new("ip")
        .args(["-n", &rig.ns(node)])
        .args(args)
        .read_stdout()
        .unwrap_or_else(|e| panic!("{e:#}"))
}

/// One ping from the correspondent to `to` that must be answered within 10 s; `when` names the
/// moment in the failure message.
pub fn ping_from_cn(rig: &Rig, to: &str, when: &str) {
    let out = cmd::in_netns(&rig.ns(Node::Cn), "ping")
        .args(["-6", "-c", "1", "-w", "10", to])
        .output()
        .expect("run ping");
    assert!(
        out.status.success(),
        "ping from the correspondent to the mobile node's {to} {when} failed ({}):\n{}{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The daemon's `anchor stats --json`.
pub fn stats_json(daemon: &Daemon) -> serde_json::Value {
    let out = daemon
        .cli(&["stats", "--json"])
        .unwrap_or_else(|e| panic!("{e:#}"));
    serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}"))
}

/// A global counter of the daemon (packets), from `anchor stats --json`.
pub fn global_counter(daemon: &Daemon, name: &str) -> u64 {
    let stats = stats_json(daemon);
    stats["counters"]
        .as_array()
        .and_then(|counters| counters.iter().find(|c| c["name"] == name))
        .and_then(|c| c["packets"].as_u64())
        .unwrap_or_else(|| panic!("no counter {name} in `anchor stats --json`: {stats}"))
}

/// Asserts that the daemon's binding for `prefix` tunnelled packets toward the mobile node.
pub fn assert_tunnelled_to_mn(daemon: &Daemon, prefix: &str) {
    assert_binding_counted(
        daemon,
        prefix,
        "to_mn_packets",
        "tunnelled the echo requests",
    );
}

/// The binding of `prefix` on `daemon` decapsulated the node's reverse-tunnelled packets.
pub fn assert_reverse_tunnelled_from_mn(daemon: &Daemon, prefix: &str) {
    assert_binding_counted(
        daemon,
        prefix,
        "from_mn_packets",
        "decapsulated the echo replies",
    );
}

fn assert_binding_counted(daemon: &Daemon, prefix: &str, counter: &str, what: &str) {
    let stats = stats_json(daemon);
    let packets = stats["bindings"]
        .as_array()
        .and_then(|b| b.iter().find(|b| b["prefix"] == prefix))
        .map(|b| b[counter].as_u64().unwrap_or(0));
    assert!(
        packets.is_some_and(|n| n > 0),
        "the binding for {prefix} should have {what}: {stats}"
    );
}

/// Runs `f` on a thread of its own inside network namespace `ns` and returns its result. A
/// socket `f` opens stays in that namespace and can be used from any thread afterwards.
pub fn in_netns<T: Send>(ns: &str, f: impl FnOnce() -> T + Send) -> T {
    anchor_rig::netns::within(ns, f).unwrap_or_else(|e| panic!("{e:#}"))
}

/// The TCP segments namespace `ns` has retransmitted (`RetransSegs` of `/proc/net/snmp`).
pub fn tcp_retransmissions(ns: &str) -> u64 {
    let snmp = anchor_rig::cmd::in_netns(ns, "cat")
        .arg("/proc/net/snmp")
        .output()
        .expect("read /proc/net/snmp");
    let text = String::from_utf8_lossy(&snmp.stdout);
    let mut tcp = text.lines().filter(|l| l.starts_with("Tcp:"));
    let (Some(names), Some(values)) = (tcp.next(), tcp.next()) else {
        panic!("no Tcp lines in /proc/net/snmp:\n{text}")
    };
    names
        .split_whitespace()
        .zip(values.split_whitespace())
        .find(|(name, _)| *name == "RetransSegs")
        .and_then(|(_, value)| value.parse().ok())
        .unwrap_or_else(|| panic!("no RetransSegs in /proc/net/snmp:\n{text}"))
}

/// How [`connect_in`] opens a connection.
pub struct Connect {
    /// The source address to bind; `None`: the kernel's choice.
    pub source: Option<std::net::Ipv6Addr>,
    /// TCP_USER_TIMEOUT, when set.
    pub user_timeout: Option<std::time::Duration>,
    pub read_timeout: std::time::Duration,
    pub nodelay: bool,
}

/// A TCP connection from namespace `ns` to `[dest]:port` (connect bounded by
/// [`crate::scenario::DEADLINE`]).
pub fn connect_in(
    ns: &str,
    dest: std::net::Ipv6Addr,
    port: u16,
    how: &Connect,
) -> std::net::TcpStream {
    use socket2::{Domain, Socket, Type};
    use std::net::SocketAddr;
    in_netns(ns, || {
        let socket = Socket::new(Domain::IPV6, Type::STREAM, None).expect("socket");
        if let Some(source) = how.source {
            socket
                .bind(&SocketAddr::from((source, 0)).into())
                .unwrap_or_else(|e| panic!("bind {source}: {e}"));
        }
        if let Some(timeout) = how.user_timeout {
            socket
                .set_tcp_user_timeout(Some(timeout))
                .expect("TCP_USER_TIMEOUT");
        }
        socket
            .connect_timeout(
                &SocketAddr::from((dest, port)).into(),
                crate::scenario::DEADLINE,
            )
            .unwrap_or_else(|e| panic!("connect from {:?} to [{dest}]:{port}: {e}", how.source));
        let stream = std::net::TcpStream::from(socket);
        stream
            .set_read_timeout(Some(how.read_timeout))
            .expect("read timeout");
        if how.nodelay {
            stream.set_nodelay(true).expect("TCP_NODELAY");
        }
        stream
    })
}
