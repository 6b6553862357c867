//! The MAAR's state across `kill -9` and a restart: the real CMD and two MAARs on the rig.
//!
//! 1. The node attaches at r1 (P1) and moves to r2 (P2): r1 redirects P1, r2 delivers it.
//! 2. Both daemons are killed with SIGKILL and started again: each takes its state back from
//!    its state file (and the pinned bindings from bpffs), r2 registers the node again at once
//!    (the CMD's record is refreshed), the bindings and `mn list` are as before and the
//!    correspondent still reaches the node's P1 address.
//!    Then r1 once more with a second pool: its dense table is laid out anew, the redirect of P1
//!    moves into it, and the bindings, `mn list` and the correspondent's reach stay.
//! 3. A further CMD update is accepted by the restarted r1: `mn detach` at r2 makes the CMD
//!    de-register P1 at r1, and both bindings for P1 go.
//! 4. A corrupt state file stops a MAAR at start with an error naming the file.

use std::time::Duration;

use anchor_rig::{Daemon, Node, control::POOL1};
use anchor_tests::{
    maar::{ControlPlane, MAC, MN_P1, P1, P2, detach_at_r2, mn_list, wait_for},
    support::{ip_stdout, ping_from_cn, stop_daemons},
};
use serde_json::Value;

/// A second pool for r1 (2b).
const EXTRA_POOL: &str =
    "[[maar.pool]]\nprefix = \"2001:db8:77::/48\"\npolicy = \"session-lasting\"\n";

/// How long the signaling may take before the test fails: generous, the namespaces are local.
const DEADLINE: Duration = Duration::from_secs(10);

fn bindings(daemon: &Daemon) -> Value {
    let out = daemon
        .cli(&["binding", "list", "--json"])
        .unwrap_or_else(|e| panic!("{e:#}"));
    serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}"))
}

/// `mn list --json` without the idle seconds (which go on).
fn held(daemon: &Daemon) -> Value {
    let mut list = mn_list(daemon);
    if let Some(anchored) = list["anchored"].as_array_mut() {
        for a in anchored {
            a["idle_s"] = Value::Null;
        }
    }
    list
}

/// The Timestamp of the CMD's last accepted update of the node.
fn last_timestamp(cp: &ControlPlane) -> u64 {
    let records = cp.cmd_records();
    records[0]["last_timestamp"]
        .as_u64()
        .unwrap_or_else(|| panic!("no record in the CMD's store: {records}"))
}

#[test]
fn maar_state_survives_kill_and_restart() {
    let mut cp = ControlPlane::start("mr");
    let r1 = cp.start_maar(0, "");
    let r2 = cp.start_maar(1, "");
    cp.attach_and_move(&r1, &r2, DEADLINE);
    ping_from_cn(&cp.rig, MN_P1, "before the restarts");
    wait_for("r2 registered", DEADLINE, || {
        mn_list(&r2)["served"][0]["phase"] == "registered"
    });
    let before = [(bindings(&r1), held(&r1)), (bindings(&r2), held(&r2))];
    assert_eq!(before[0].1["anchored"][0]["prefix"], P1, "{}", before[0].1);
    assert_eq!(before[1].1["served"][0]["mn_id"], MAC, "{}", before[1].1);
    for index in [0, 1] {
        let file = cp.state_dir(index).join("maar.json");
        assert!(file.is_file(), "{} should hold the state", file.display());
    }
    let registered = last_timestamp(&cp);

    // 2. SIGKILL both, start them again.
    for daemon in [r1, r2] {
        let name = daemon.name();
        daemon
            .kill()
            .unwrap_or_else(|e| panic!("cannot kill {name}: {e:#}"));
    }
    let r1 = cp.start_maar(0, "");
    let r2 = cp.start_maar(1, "");
    for (daemon, what) in [
        (&r1, "restored 0 served node(s) and 1 anchored prefix(es)"),
        (&r2, "restored 1 served node(s) and 0 anchored prefix(es)"),
    ] {
        let log = daemon.log();
        assert!(
            log.contains(what) && log.contains("adopted 1 pinned binding(s)"),
            "router {}: the restarted daemon did not take its state back ({what}):\n{}",
            daemon.name(),
            daemon.log_tail()
        );
    }
    wait_for(
        "the CMD's record refreshed by the restarted r2",
        DEADLINE,
        || last_timestamp(&cp) > registered,
    );
    for (i, daemon) in [&r1, &r2].into_iter().enumerate() {
        assert_eq!(
            (bindings(daemon), held(daemon)),
            before[i],
            "router {}: other bindings or nodes after the restart",
            daemon.name()
        );
    }
    assert!(
        ip_stdout(&cp.rig, Node::R2, &["-6", "route", "show", P2]).contains("dev r2a"),
        "r2's route for {P2}"
    );
    ping_from_cn(&cp.rig, MN_P1, "after the restarts");

    // 2b. r1 again, with a second pool: the dense table's layout changes, its redirect of P1
    // moves into the new table before the new program runs, and nothing else changes.
    let name = r1.name();
    r1.kill()
        .unwrap_or_else(|e| panic!("cannot kill {name}: {e:#}"));
    let r1 = cp.start_maar(0, EXTRA_POOL);
    let log = r1.log();
    assert!(
        log.contains(&format!(
            "dense table: 131072 slots for the pools {POOL1}, 2001:db8:77::/48"
        )),
        "r1 should lay out both pools:\n{}",
        r1.log_tail()
    );
    assert_eq!(
        (bindings(&r1), held(&r1)),
        before[0],
        "r1: other bindings or nodes after the new pool"
    );
    ping_from_cn(&cp.rig, MN_P1, "after the new pool");

    // 3. The restarted r1 still accepts the CMD's updates for the prefix it anchors.
    detach_at_r2(&r1, &r2, DEADLINE);
    assert_eq!(
        mn_list(&r1),
        serde_json::json!({"served": [], "anchored": []})
    );

    // 4. A corrupt state file: the MAAR does not start, and says which file.
    stop_daemons([r1]);
    let file = cp.state_dir(0).join("maar.json");
    std::fs::write(&file, "{\"next_sequence\": ").expect("corrupt the state file");
    let refused = Daemon::start_with_config(
        &cp.anchor,
        cp.dir.path(),
        &cp.routers[0],
        &cp.maar_section(0, ""),
    )
    .err()
    .map(|e| format!("{e:#}"));
    assert!(
        refused.as_ref().is_some_and(|e| e.contains(&format!(
            "the MAAR state file {} is corrupt",
            file.display()
        ))),
        "a corrupt state file should stop the MAAR with its name: {refused:?}"
    );

    stop_daemons([r2]);
    cp.stop_cmd();
}
