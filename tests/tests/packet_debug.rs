//! `anchor debug packets on|off` against a running daemon (privileged).
//!
//! Router 1 of the [`anchor_rig`] topology runs `anchor run`; the correspondent sends tunnel
//! packets (IPv6-in-IPv6, from a raw socket) to router 1's locator that the program must drop:
//! one for a prefix without a binding, one from the wrong peer of a prefix with a binding.
//! - packet debugging starts off: the drop is counted, nothing is logged;
//! - `debug packets on`: the program's record of the drop reaches the daemon's log, under the
//!   target `anchor_xdp`;
//! - `debug packets off`: a drop is counted and not logged. Records arrive in order, so once the
//!   record of a later drop (after switching on again) is in the log, the absence of the earlier
//!   one is certain; no waiting for something not to happen.
//!
//! Needs root, the `anchor` binary next to the test's directory, ip, ethtool and ss.

use anchor_tests::support::{anchor_binary, global_counter, remove_stale_rigs};
use anchor_tests::tunnel::send_tunnel_packet;
use std::time::{Duration, Instant};

use anchor_rig::topology::R2_LOCATOR;
use anchor_rig::{Daemon, Node, Rig, WorkDir};

/// How long a record gets to reach the log.
const DEADLINE: Duration = Duration::from_secs(20);
/// A prefix router 1 redirects to router 2: tunnel packets for it must come from router 2.
const BOUND: &str = "2001:db8:99::/64";
const BOUND_ADDR: &str = "2001:db8:99::1";
/// An address without a binding.
const UNBOUND_ADDR: &str = "2001:db8:98::1";
const NO_BINDING_RECORD: &str = "dropped tunnel packet to our locator (known prefix: 0)";
const WRONG_PEER_RECORD: &str = "dropped tunnel packet to our locator (known prefix: 1)";

#[test]
fn packet_debugging_switches_the_program_records_at_run_time() {
    let anchor = anchor_binary();
    remove_stale_rigs("anc-d");
    let dir = WorkDir::create("anchor-packet-debug").unwrap_or_else(|e| panic!("{e:#}"));
    let rig = Rig::build(&format!("anc-d{}-", std::process::id()))
        .unwrap_or_else(|e| panic!("cannot build the rig: {e:#}"));
    let [r1_router, _] = rig.routers("native");
    let r1 = Daemon::start(&anchor, dir.path(), &r1_router)
        .unwrap_or_else(|e| panic!("cannot start r1: {e:#}"));
    r1.cli(&["binding", "add", BOUND, "--serving", R2_LOCATOR])
        .unwrap_or_else(|e| panic!("{e:#}"));
    let cn_ns = rig.ns(Node::Cn);

    // Off by default: counted, not logged.
    let before = global_counter(&r1, "drop_decap_no_binding");
    send_tunnel_packet(&cn_ns, UNBOUND_ADDR);
    wait_for_counter(&r1, "drop_decap_no_binding", before + 1);

    // On: the record of the next drop arrives.
    r1.cli(&["debug", "packets", "on"])
        .unwrap_or_else(|e| panic!("{e:#}"));
    send_tunnel_packet(&cn_ns, UNBOUND_ADDR);
    let log = wait_for_log(&r1, WRONG_PEER_RECORD, NO_BINDING_RECORD, 1);
    let record = log
        .lines()
        .find(|line| line.contains(NO_BINDING_RECORD))
        .expect("the record");
    assert!(
        record.contains("anchor_xdp"),
        "the program's record should be logged under the target anchor_xdp: {record}"
    );

    // Off again: the drop is counted and not logged; then on again, with a drop of the other
    // kind whose record proves that the earlier one would have arrived before it.
    r1.cli(&["debug", "packets", "off"])
        .unwrap_or_else(|e| panic!("{e:#}"));
    let before = global_counter(&r1, "drop_decap_no_binding");
    send_tunnel_packet(&cn_ns, UNBOUND_ADDR);
    wait_for_counter(&r1, "drop_decap_no_binding", before + 1);
    r1.cli(&["debug", "packets", "on"])
        .unwrap_or_else(|e| panic!("{e:#}"));
    send_tunnel_packet(&cn_ns, BOUND_ADDR);
    let log = wait_for_log(&r1, "", WRONG_PEER_RECORD, 1);
    let logged = log
        .lines()
        .filter(|line| line.contains(NO_BINDING_RECORD))
        .count();
    assert_eq!(
        logged, 1,
        "the drop while packet debugging was off should not be logged:\n{log}"
    );
    assert_eq!(
        global_counter(&r1, "drop_decap_unknown_peer"),
        1,
        "the spoofed packet for {BOUND} should be dropped as coming from an unknown peer"
    );
}

fn wait_for_counter(daemon: &Daemon, name: &str, expected: u64) {
    let deadline = Instant::now() + DEADLINE;
    let mut value = global_counter(daemon, name);
    while value < expected && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
        value = global_counter(daemon, name);
    }
    assert_eq!(
        value, expected,
        "router 1's counter {name} should count the tunnel packet"
    );
}

/// Waits until `wanted` appears `count` times in the daemon's log and returns the log; fails if
/// `unwanted` (unless empty) appears.
fn wait_for_log(daemon: &Daemon, unwanted: &str, wanted: &str, count: usize) -> String {
    let deadline = Instant::now() + DEADLINE;
    loop {
        let log = daemon.log();
        assert!(
            unwanted.is_empty() || !log.contains(unwanted),
            "unexpected record {unwanted:?}:\n{log}"
        );
        let seen = log.lines().filter(|line| line.contains(wanted)).count();
        if seen >= count || Instant::now() > deadline {
            assert_eq!(
                seen, count,
                "records {wanted:?} in the daemon's log:\n{log}"
            );
            return log;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}
