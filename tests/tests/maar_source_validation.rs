//! Source address validation on access links, end to end: the real CMD and both routers as
//! MAARs whose access interfaces r1a and r2a have `source_validation = true`. The node is attached by hand
//! (`mn attach`, its MN-ID its MAC): r1 delegates P1 and routes it to r1a, which allows P1 as a
//! source there, from the node's MAC only.
//!
//! 1. The correspondent reaches the node's P1 address, and the node reaches the correspondent
//!    from it: its packets pass the validation.
//! 2. The node adds an address from router 2's pool (one it was never given) and pings the
//!    correspondent from it: r1 drops every echo request (`drop_source_invalid` grows by
//!    exactly their number) and none reaches the correspondent (an nftables counter in its
//!    namespace stays at 0, while the one for the node's P1 address counted its echo request).
//! 3. r1 restarts (its program stays attached, its maps pinned): while it is down and once it
//!    is back, the node's P1 address passes and the spoofed source is dropped and counted.
//! 4. The node moves to r2's access link, also validated: P1, now a visiting /64 there, is
//!    allowed on r2a, and the node's packets from it reach the correspondent both ways.

use std::time::Duration;

use anchor_rig::{
    Node, cmd,
    topology::{CN_ADDR, P1_GATEWAY},
};
use anchor_tests::{
    maar::{ControlPlane, MN_P1, wait_for},
    support::{global_counter, ip_stdout, ping_from_cn, require_tools, stop_daemons},
};

/// How long the signaling and the first packets may take before the test fails: generous, the
/// namespaces are local.
const DEADLINE: Duration = Duration::from_secs(10);
/// An address from router 2's pool, which router 1 never delegated to the node.
const SPOOFED: &str = "2001:db8:a2::66";
/// How many echo requests the node sends from [`SPOOFED`].
const SPOOFED_PINGS: u64 = 3;

#[test]
#[expect(
    clippy::too_many_lines,
    reason = "one end-to-end scenario: its steps in order, each with its checks"
)]
fn an_access_link_with_source_validation_drops_the_nodes_spoofed_sources() {
    require_tools(&[&["nft", "--version"]]);
    let mut cp = ControlPlane::start("v");
    for iface in cp.routers.iter_mut().flat_map(|r| r.interfaces.iter_mut()) {
        if iface.name == "r1a" || iface.name == "r2a" {
            iface.source_validation = true;
        }
    }
    let r1 = cp.start_maar(0, "");
    let r2 = cp.start_maar(1, "");
    cp.attach_at_r1(&r1, DEADLINE);

    // The node's way out is its router's MAC, for good: no Neighbour Solicitation from the
    // spoofed source adds drops of its own.
    let r1a = ip_stdout(&cp.rig, Node::R1, &["link", "show", "dev", "r1a"]);
    let r1a_mac = r1a
        .split_whitespace()
        .skip_while(|word| *word != "link/ether")
        .nth(1)
        .unwrap_or_else(|| panic!("no MAC address in {r1a}"));
    ip(
        &cp,
        Node::Mn,
        &[
            "-6",
            "neigh",
            "replace",
            P1_GATEWAY,
            "lladdr",
            r1a_mac,
            "dev",
            "mn1",
            "nud",
            "permanent",
        ],
    );
    count_echo_requests_at_cn(&cp);

    // 1. The node's own address works both ways.
    ping_from_cn(&cp.rig, MN_P1, "with source validation on r1a");
    assert!(
        ping_from_mn(&cp, MN_P1, 1),
        "the node's ping from its P1 address {MN_P1} to the correspondent failed"
    );
    assert_eq!(echo_requests_at_cn(&cp, MN_P1), 1);

    // 2. A source the node was never given.
    ip(
        &cp,
        Node::Mn,
        &[
            "-6",
            "addr",
            "add",
            &format!("{SPOOFED}/128"),
            "dev",
            "mn1",
            "nodad",
        ],
    );
    let before = global_counter(&r1, "drop_source_invalid");
    assert!(
        !ping_from_mn(&cp, SPOOFED, SPOOFED_PINGS),
        "a ping from the spoofed {SPOOFED} was answered"
    );
    let after = global_counter(&r1, "drop_source_invalid");
    assert_eq!(
        after - before,
        SPOOFED_PINGS,
        "r1's drop_source_invalid should count every echo request from {SPOOFED}"
    );
    assert_eq!(
        echo_requests_at_cn(&cp, SPOOFED),
        0,
        "no packet from {SPOOFED} may reach the correspondent"
    );
    assert_eq!(echo_requests_at_cn(&cp, MN_P1), 1);

    // 3. r1 restarts (SIGTERM: its program stays attached, its maps pinned): the validation
    //    goes on while the daemon is down and after it is back.
    r1.stop()
        .unwrap_or_else(|e| panic!("cannot stop r1: {e:#}"));
    assert!(ping_from_mn(&cp, MN_P1, 1), "from {MN_P1} while r1 is down");
    assert!(
        !ping_from_mn(&cp, SPOOFED, SPOOFED_PINGS),
        "a ping from the spoofed {SPOOFED} was answered while r1 was down"
    );
    let r1 = cp.start_maar(0, "");
    wait_for("r1 back with the node it serves", DEADLINE, || {
        r1.log().contains("restored 1 served node(s)")
    });
    assert!(
        ping_from_mn(&cp, MN_P1, 1),
        "from {MN_P1} after r1's restart"
    );
    assert!(
        !ping_from_mn(&cp, SPOOFED, SPOOFED_PINGS),
        "a ping from the spoofed {SPOOFED} was answered after r1's restart"
    );
    assert_eq!(
        global_counter(&r1, "drop_source_invalid") - after,
        2 * SPOOFED_PINGS,
        "r1's drop_source_invalid (pinned) should count the echo requests from {SPOOFED} \
         during and after the restart"
    );
    assert_eq!(echo_requests_at_cn(&cp, SPOOFED), 0);
    assert_eq!(echo_requests_at_cn(&cp, MN_P1), 3);

    // 4. The move: at r2, P1 is a visiting /64 of the node, allowed on r2a from its MAC.
    cp.move_to_r2(&r1, &r2, DEADLINE);
    ping_from_cn(
        &cp.rig,
        MN_P1,
        "after the move, through r2a with source validation",
    );
    assert!(
        ping_from_mn(&cp, MN_P1, 1),
        "the node's ping from its visiting P1 address {MN_P1} to the correspondent failed"
    );
    assert_eq!(echo_requests_at_cn(&cp, MN_P1), 4);

    stop_daemons([r1, r2]);
    cp.stop_cmd();
}

fn ip(cp: &ControlPlane, node: Node, args: &[&str]) {
    cp.rig
        .ip(node, args)
        .unwrap_or_else(|e| panic!("ip {}: {e:#}", args.join(" ")));
}

/// `count` pings from the node's `source` to the correspondent, 0.2 s apart, with 3 s for each
/// answer; whether every one was answered.
fn ping_from_mn(cp: &ControlPlane, source: &str, count: u64) -> bool {
    let out = cmd::in_netns(&cp.rig.ns(Node::Mn), "ping")
        .args(["-6", "-n", "-c", &count.to_string(), "-i", "0.2", "-W", "3"])
        .args(["-I", source, CN_ADDR])
        .output()
        .expect("run ping");
    println!(
        "ping -I {source} {CN_ADDR}: {}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout)
    );
    out.status.success()
}

fn nft(cp: &ControlPlane, args: &[&str]) -> String {
    cmd::in_netns(&cp.rig.ns(Node::Cn), "nft")
        .args(args)
        .output()
        .map(|out| {
            assert!(
                out.status.success(),
                "nft {}: {}",
                args.join(" "),
                String::from_utf8_lossy(&out.stderr)
            );
            String::from_utf8_lossy(&out.stdout).into_owned()
        })
        .expect("run nft")
}

/// Counters in the correspondent's input path of the echo requests from the node's P1
/// address and from [`SPOOFED`].
fn count_echo_requests_at_cn(cp: &ControlPlane) {
    nft(cp, &["add", "table", "ip6", "sav"]);
    nft(
        cp,
        &[
            "add", "chain", "ip6", "sav", "input", "{", "type", "filter", "hook", "input",
            "priority", "0", ";", "}",
        ],
    );
    for source in [MN_P1, SPOOFED] {
        nft(
            cp,
            &[
                "add",
                "rule",
                "ip6",
                "sav",
                "input",
                "ip6",
                "saddr",
                source,
                "icmpv6",
                "type",
                "echo-request",
                "counter",
            ],
        );
    }
}

/// The echo requests from `source` the correspondent received.
fn echo_requests_at_cn(cp: &ControlPlane, source: &str) -> u64 {
    let listing = nft(cp, &["list", "chain", "ip6", "sav", "input"]);
    let line = listing
        .lines()
        .find(|line| line.contains(&format!("saddr {source} ")))
        .unwrap_or_else(|| panic!("no rule for {source} in\n{listing}"));
    line.split_whitespace()
        .skip_while(|word| *word != "packets")
        .nth(1)
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no packet count in {line}"))
}
