//! The MAAR role end to end on the rig: the real CMD (`anchor cmd`, in the correspondent's
//! namespace, which reaches both routers' locators) and two real MAARs (`anchor run` with a
//! `[maar]` section, insecure signaling). No binding is typed by hand:
//!
//! 1. `mn attach` at r1 delegates P1 from r1's pool; once the CMD accepted it, r1 routes P1 to
//!    its access link and the correspondent reaches the mobile node's P1 address.
//! 2. The mobile node moves to r2's access link (keeping its P1 address) and `mn attach` of the
//!    same MN-ID at r2 delegates P2; the CMD's answer makes r2 install `Visiting` for P1 (home
//!    r1), its update makes r1 install `Redirect` for P1 (serving r2), and the P1 address is
//!    reached through the tunnel.
//! 3. `mn detach` at r2 de-registers: both routers' bindings go.
//!
//! First, a MAAR without `insecure_signaling` and without IPsec ESP policies refuses to start.

use std::time::{Duration, Instant};

use anchor_rig::{
    Daemon, Node, Proc, Rig, WorkDir,
    cmd::{self, Run as _},
    topology::{CN_ADDR, R1_LOCATOR, R2_LOCATOR},
};
use anchor_tests::support::{
    anchor_binary, assert_tunnelled_to_mn, ip_stdout, ping_from_cn, remove_stale_rigs,
    require_tools,
};
use serde_json::Value;

const MAC: &str = "02:00:00:00:00:0a";
const POOL1: &str = "2001:db8:a1::/48";
const POOL2: &str = "2001:db8:a2::/48";
/// The first /64 of each pool.
const P1: &str = "2001:db8:a1::/64";
const P2: &str = "2001:db8:a2::/64";
/// The mobile node's address from P1 (configured by hand: router advertisements are later
/// work).
const MN_P1: &str = "2001:db8:a1::100";
/// How long the signaling and the first packets may take before the test fails: generous, the
/// namespaces are local.
const DEADLINE: Duration = Duration::from_secs(10);

fn maar_section(pool: &str, insecure: bool) -> String {
    format!(
        "\n[maar]\ncmd = \"{CN_ADDR}\"\ninsecure_signaling = {insecure}\n\
         [[maar.pool]]\nprefix = \"{pool}\"\npolicy = \"session-lasting\"\n"
    )
}

#[test]
fn maars_and_cmd_redirect_a_moved_node_without_hand_made_bindings() {
    let anchor = anchor_binary();
    require_tools(&[&["ip", "-V"], &["ethtool", "--version"], &["ping", "-V"]]);
    remove_stale_rigs("anc-m");
    let dir = WorkDir::create("anchor-maar-netns").unwrap_or_else(|e| panic!("{e:#}"));
    let rig = Rig::build(&format!("anc-m{}-", std::process::id()))
        .unwrap_or_else(|e| panic!("cannot build the rig: {e:#}"));

    let cmd_config = dir.path().join("cmd.toml");
    std::fs::write(
        &cmd_config,
        format!(
            "address = \"{CN_ADDR}\"\nstore = \"{}\"\ninsecure_signaling = true\n\
             [[maar]]\naddress = \"{R1_LOCATOR}\"\nprefixes = [\"{POOL1}\"]\n\
             [[maar]]\naddress = \"{R2_LOCATOR}\"\nprefixes = [\"{POOL2}\"]\n",
            dir.path().join("cmd.json").display()
        ),
    )
    .expect("write the CMD's config");
    let cmd_log = dir.path().join("cmd.log");
    let log = std::fs::File::create(&cmd_log).expect("create the CMD's log");
    let mut cmd_proc = Proc::spawn(
        "cmd",
        cmd::in_netns_only(&rig.ns(Node::Cn), &anchor)
            .args(["cmd", "--config"])
            .arg(&cmd_config)
            .stdout(log.try_clone().expect("log"))
            .stderr(log),
    )
    .unwrap_or_else(|e| panic!("cannot start the CMD: {e:#}"));
    let cmd_tail = || {
        cmd::tail(
            std::fs::read_to_string(&cmd_log)
                .unwrap_or_default()
                .as_bytes(),
        )
    };

    // This test attaches the node by hand (`mn attach`): its kernel sends no Router
    // Solicitations, which would attach it by its own MAC (`maar_slaac.rs` tests that path).
    for setting in [
        "net.ipv6.conf.mn1.router_solicitations=0",
        "net.ipv6.conf.mn2.router_solicitations=0",
    ] {
        cmd::in_netns(&rig.ns(Node::Mn), "sysctl")
            .args(["-qw", setting])
            .run_quiet()
            .unwrap_or_else(|e| panic!("{e:#}"));
    }

    let [router1, router2] = rig.routers("native");
    // Without IPsec ESP policies for the signaling (and without insecure_signaling), a MAAR
    // refuses to start, before it attaches to any interface.
    let refused =
        Daemon::start_with_config(&anchor, dir.path(), &router1, &maar_section(POOL1, false))
            .err()
            .map(|e| format!("{e:#}"));
    assert!(
        refused
            .as_ref()
            .is_some_and(|e| e.contains("no XFRM policy requires ESP")),
        "a MAAR without ESP policies should refuse to start: {refused:?}"
    );
    assert!(
        !ip_stdout(&rig, Node::R1, &["link", "show", "dev", "r1a"]).contains("xdp"),
        "the refused MAAR should not have attached to r1a"
    );
    let start = |router, pool| {
        Daemon::start_with_config(&anchor, dir.path(), router, &maar_section(pool, true))
            .unwrap_or_else(|e| panic!("cannot start a MAAR: {e:#}"))
    };
    let r1 = start(&router1, POOL1);
    let r2 = start(&router2, POOL2);

    // 1. Attachment at r1.
    let prefix = attach(&r1, "r1a");
    assert_eq!(prefix, P1, "r1 delegates the first /64 of its pool");
    rig.ip(
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
    wait_for(&format!("r1's route {P1} dev r1a after the PBA"), || {
        ip_stdout(&rig, Node::R1, &["-6", "route", "show", P1]).contains("dev r1a")
    });
    ping_from_cn(&rig, MN_P1, "before the move");

    // 2. The move, then attachment at r2.
    rig.move_mobile_node_link(MN_P1)
        .unwrap_or_else(|e| panic!("cannot move the mobile node: {e:#}"));
    assert_eq!(attach(&r2, "r2a"), P2, "r2 delegates from its own pool");
    wait_for("r2's visiting binding and r1's redirect for P1", || {
        let on_r2 = find_binding(&r2, P1);
        let on_r1 = find_binding(&r1, P1);
        on_r2.is_some_and(|b| {
            b["kind"] == "visiting"
                && b["peer"] == R1_LOCATOR
                && b["dev"] == "r2a"
                && b["reverse_tunnel"] == true
        }) && on_r1.is_some_and(|b| b["kind"] == "redirect" && b["peer"] == R2_LOCATOR)
    });
    assert!(
        !ip_stdout(&rig, Node::R1, &["-6", "route", "show", P1]).contains("dev r1a"),
        "r1 should have removed its access route for {P1} when the node left"
    );
    ping_from_cn(&rig, MN_P1, "after the move");
    assert_tunnelled_to_mn(&r1, P1);

    // 3. Detachment at r2: the CMD tells r1, and both drop their bindings.
    let released = r2
        .cli(&["mn", "detach", "--mn-id", MAC])
        .unwrap_or_else(|e| panic!("{e:#}"));
    assert_eq!(released.trim(), P2);
    wait_for("both routers without a binding for P1", || {
        find_binding(&r1, P1).is_none() && find_binding(&r2, P1).is_none()
    });

    for daemon in [r1, r2] {
        let name = daemon.name();
        let status = daemon
            .stop()
            .unwrap_or_else(|e| panic!("router {name} did not stop: {e:#}"));
        assert!(status.success(), "router {name} exited with {status}");
    }
    let status = cmd_proc
        .stop_with("TERM", Duration::from_secs(5))
        .unwrap_or_else(|e| panic!("the CMD did not stop: {e:#}"));
    assert!(
        status.success(),
        "the CMD exited with {status}:\n{}",
        cmd_tail()
    );
}

/// `mn attach` of the test's node: the delegated prefix.
fn attach(daemon: &Daemon, dev: &str) -> String {
    daemon
        .cli(&["mn", "attach", "--mn-id", MAC, "--dev", dev])
        .unwrap_or_else(|e| panic!("{e:#}"))
        .trim()
        .to_owned()
}

fn find_binding(daemon: &Daemon, prefix: &str) -> Option<Value> {
    let out = daemon
        .cli(&["binding", "list", "--json"])
        .unwrap_or_else(|e| panic!("{e:#}"));
    let list: Value = serde_json::from_str(&out).expect("binding list JSON");
    list.as_array()?
        .iter()
        .find(|b| b["prefix"] == prefix)
        .cloned()
}

/// Polls `check` until it holds, failing after [`DEADLINE`].
fn wait_for(what: &str, mut check: impl FnMut() -> bool) {
    let deadline = Instant::now() + DEADLINE;
    while !check() {
        assert!(Instant::now() < deadline, "no {what} within {DEADLINE:?}");
        std::thread::sleep(Duration::from_millis(50));
    }
}
