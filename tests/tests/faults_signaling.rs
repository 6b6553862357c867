//! Lost signaling on the wire, dropped with nftables in the receivers' namespaces, and the
//! retransmissions that recover from it (the real CMD, two MAARs, a SLAAC node):
//!
//! 1. Attachment: the CMD's kernel drops router 1's PBU three times in a row (the first copy
//!    and two retransmissions, 1 s and 2 s apart); the fourth copy registers the node.
//! 2. The move: router 2's kernel drops the CMD's PBA once (router 2 sends its PBU again, with
//!    a fresh timestamp), and router 1's kernel drops the CMD's update (Serving MAAR) twice (the
//!    CMD sends it again, unchanged). Both routers end with their bindings, and the
//!    correspondent reaches the node's P1 address through the tunnel.
//!
//! And a CMD killed (SIGKILL) while its update to the previous MAAR is unacknowledged: the
//! update waits in the store, and the restarted CMD sends it again. And a previous MAAR killed
//! after missing the update: restarted, it redirects to the serving MAAR instead of taking the
//! node back.

use std::time::Duration;

use serde_json::{Value, json};

use anchor_rig::{
    Node, Rig,
    cmd::{self, Run as _},
    control::{MN_P1_SLAAC as MN_P1, MN_P2_SLAAC as MN_P2, P1, P2, PoolPolicy},
    topology::{CN_ADDR, R1_LOCATOR},
};
use anchor_tests::{
    maar::{find_binding, mn_list, wait_for},
    scenario::Scenario,
    support::{anchor_binary, ip_stdout, ping_from_cn, require_tools},
};

/// Long enough for the retransmissions being waited for (1 s, then 2 s, then 4 s apart).
const RECOVERY: Duration = Duration::from_secs(20);

#[test]
fn retransmissions_recover_lost_pbus_and_pbas() {
    require_tools(&[&["nft", "--version"]]);
    let sc = Scenario::prepare("f", PoolPolicy::SessionLasting, "");

    // 1. Router 1's PBU lost three times.
    let cmd_drop = NftDrop::install(
        &sc.rig,
        Node::Cn,
        &format!("ip6 saddr {R1_LOCATOR} mh type binding-update"),
    );
    sc.rig
        .ip(Node::Mn, &["link", "set", "mn1", "up"])
        .unwrap_or_else(|e| panic!("{e:#}"));
    wait_for("three lost PBUs from router 1", RECOVERY, || {
        cmd_drop.dropped() >= 3
    });
    cmd_drop.remove();
    wait_for("router 1's registration of the node", RECOVERY, || {
        ip_stdout(&sc.rig, Node::R1, &["-6", "route", "show", P1]).contains("dev r1a")
    });
    sc.wait_for_address("mn1", MN_P1);

    // 2. The move: router 2 loses the CMD's PBA once, router 1 the CMD's update twice.
    let pba_drop = NftDrop::install(
        &sc.rig,
        Node::R2,
        &format!("ip6 saddr {CN_ADDR} mh type binding-acknowledgement"),
    );
    let update_drop = NftDrop::install(
        &sc.rig,
        Node::R1,
        &format!("ip6 saddr {CN_ADDR} mh type binding-update"),
    );
    sc.rig
        .move_mobile_node_link_only()
        .unwrap_or_else(|e| panic!("{e:#}"));
    wait_for("a lost PBA at router 2", RECOVERY, || {
        pba_drop.dropped() >= 1
    });
    pba_drop.remove();
    wait_for("two lost updates at router 1", RECOVERY, || {
        update_drop.dropped() >= 2
    });
    update_drop.remove();
    wait_for("both routers' bindings for P1", RECOVERY, || {
        find_binding(sc.r2(), P1).is_some_and(|b| b["kind"] == "visiting")
            && find_binding(sc.r1(), P1).is_some_and(|b| b["kind"] == "redirect")
    });
    sc.wait_for_address("mn2", MN_P2);
    ping_from_cn(&sc.rig, MN_P1, "after the lost messages");
    sc.stop();
}

/// `anchor cmd status --json` on the scenario's CMD configuration.
fn cmd_status(sc: &Scenario) -> Value {
    let config = sc.dir.path().join("cmd.toml");
    let output = cmd::new(anchor_binary())
        .args(["cmd", "status", "--json", "--config"])
        .arg(&config)
        .output()
        .unwrap_or_else(|e| panic!("cannot run anchor cmd status: {e:#}"));
    assert!(
        output.status.success(),
        "anchor cmd status: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).unwrap_or_else(|e| panic!("{e}: not JSON"))
}

#[test]
fn a_restarted_cmd_sends_the_updates_its_predecessor_left_unacknowledged() {
    require_tools(&[&["nft", "--version"]]);
    let mut sc = Scenario::start("k", PoolPolicy::SessionLasting, "");
    // Router 1 never hears from this CMD: its update about the move is lost, every copy.
    let update_drop = NftDrop::install(
        &sc.rig,
        Node::R1,
        &format!("ip6 saddr {CN_ADDR} mh type binding-update"),
    );
    sc.rig
        .move_mobile_node_link_only()
        .unwrap_or_else(|e| panic!("{e:#}"));
    wait_for("router 2's visiting binding", RECOVERY, || {
        find_binding(sc.r2(), P1).is_some_and(|b| b["kind"] == "visiting")
    });
    wait_for("a lost update at router 1", RECOVERY, || {
        update_drop.dropped() >= 1
    });
    assert!(
        find_binding(sc.r1(), P1).is_none(),
        "router 1 cannot have redirected P1 without the update"
    );
    // `anchor cmd status` shows the update outstanding to router 1, about P1.
    let status = cmd_status(&sc);
    assert_eq!(status["outstanding_updates"], 1, "{status}");
    let pending = &status["nodes"][0]["pending"][0];
    assert_eq!(
        (&pending["to"], &pending["anchored"]),
        (&json!(R1_LOCATOR), &json!([P1])),
        "{status}"
    );
    // The CMD dies with the update outstanding; the wire heals; a new CMD starts on the store.
    sc.kill_and_restart_cmd();
    update_drop.remove();
    wait_for(
        "router 1's redirect from the restarted CMD",
        RECOVERY,
        || find_binding(sc.r1(), P1).is_some_and(|b| b["kind"] == "redirect"),
    );
    wait_for("no update outstanding", RECOVERY, || {
        cmd_status(&sc)["outstanding_updates"] == 0
    });
    sc.wait_for_address("mn2", MN_P2);
    ping_from_cn(&sc.rig, MN_P1, "after the CMD's restart");
    sc.stop();
}

/// The defect this guards against: router 1 misses the CMD's update about the node's move and
/// is killed; restarted from its saved state, it re-registers the node as its serving MAAR. The
/// re-registration says "handoff state not changed" (Handoff Indicator 5), so the CMD does not
/// take it for a move back: it refuses it and sends router 1 the update again, and router 1
/// redirects P1 to router 2. (Before, the CMD moved the node back to router 1, and each router
/// redirected the other's prefix.)
#[test]
fn a_maar_killed_during_a_move_comes_back_redirecting_to_the_serving_maar() {
    require_tools(&[&["nft", "--version"]]);
    let mut sc = Scenario::start("z", PoolPolicy::SessionLasting, "");
    let update_drop = NftDrop::install(
        &sc.rig,
        Node::R1,
        &format!("ip6 saddr {CN_ADDR} mh type binding-update"),
    );
    sc.rig
        .move_mobile_node_link_only()
        .unwrap_or_else(|e| panic!("{e:#}"));
    wait_for("router 2's visiting binding", RECOVERY, || {
        find_binding(sc.r2(), P1).is_some_and(|b| b["kind"] == "visiting")
    });
    wait_for("a lost update at router 1", RECOVERY, || {
        update_drop.dropped() >= 1
    });
    assert!(
        mn_list(sc.r1())["served"][0]["prefix"] == P1,
        "router 1 still believes it serves the node: {}",
        mn_list(sc.r1())
    );

    sc.kill_and_restart_maar(0);
    update_drop.remove();
    wait_for("router 1's redirect of P1 to router 2", RECOVERY, || {
        find_binding(sc.r1(), P1).is_some_and(|b| b["kind"] == "redirect")
    });
    let held = mn_list(sc.r1());
    assert!(
        held["served"].as_array().is_some_and(Vec::is_empty),
        "router 1 serves nothing after the CMD's answer: {held}"
    );
    assert!(
        !ip_stdout(&sc.rig, Node::R1, &["-6", "route", "show", P1]).contains("dev r1a"),
        "router 1 no longer routes P1 onto its access link"
    );
    let at_r2 = mn_list(sc.r2());
    assert_eq!(at_r2["served"][0]["prefix"], P2, "{at_r2}");
    assert!(
        find_binding(sc.r2(), P1).is_some_and(|b| b["kind"] == "visiting"),
        "router 2 still delivers P1"
    );
    assert!(
        find_binding(sc.r2(), P2).is_none(),
        "router 2 does not redirect its own P2: {at_r2}"
    );
    sc.wait_for_address("mn2", MN_P2);
    ping_from_cn(&sc.rig, MN_P1, "after router 1's restart");
    sc.stop();
}

/// An nftables table in one namespace that drops (and counts) the packets matching a rule.
struct NftDrop {
    ns: String,
}

impl NftDrop {
    const TABLE: &'static str = "anchor_faults";

    fn install(rig: &Rig, node: Node, matching: &str) -> NftDrop {
        let ns = rig.ns(node);
        let script = format!(
            "table inet {t} {{\n chain input {{\n  type filter hook input priority 0;\n  \
             {matching} counter drop\n }}\n}}\n",
            t = Self::TABLE
        );
        let path = std::env::temp_dir().join(format!("{ns}-faults.nft"));
        std::fs::write(&path, script).expect("write the nftables script");
        cmd::in_netns(&ns, "nft")
            .arg("-f")
            .arg(&path)
            .run_quiet()
            .unwrap_or_else(|e| panic!("cannot install the drop rule in {ns}: {e:#}"));
        NftDrop { ns }
    }

    /// Packets dropped so far.
    fn dropped(&self) -> u64 {
        let json = cmd::in_netns(&self.ns, "nft")
            .args(["-j", "list", "table", "inet", Self::TABLE])
            .read_stdout()
            .unwrap_or_else(|e| panic!("{e:#}"));
        let value: serde_json::Value =
            serde_json::from_str(&json).unwrap_or_else(|e| panic!("{e}: {json}"));
        value["nftables"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|item| item["rule"]["expr"].as_array())
            .flatten()
            .filter_map(|expr| expr["counter"]["packets"].as_u64())
            .sum()
    }

    fn remove(&self) {
        cmd::in_netns(&self.ns, "nft")
            .args(["delete", "table", "inet", Self::TABLE])
            .run_quiet()
            .unwrap_or_else(|e| panic!("cannot remove the drop rule in {}: {e:#}", self.ns));
    }
}
