//! The idle release of a `session-lasting` redirect end to end, and `anchor mn list`: the real
//! CMD and two MAARs on the rig, r1's pool with `idle_release_s = 3`.
//!
//! 1. The node attaches at r1 (P1), moves to r2 (P2): r1 redirects P1 to r2, r2 delivers it
//!    (`Visiting`); `mn list` shows the served node at r2 and the anchored P1 at r1.
//! 2. Pings to the node's P1 address for three times the idle time: the redirect stays all
//!    along.
//! 3. The pings stop: r1 releases P1 through the CMD, both bindings go, the CMD's record keeps
//!    only P2 and `mn list` shows neither the anchored nor the visiting P1.

use std::time::Duration;

use anchor_rig::{
    Node,
    cmd::{self},
    topology::R2_LOCATOR,
};
use anchor_tests::{
    maar::{ControlPlane, MAC, MN_P1, P1, P2, find_binding, mn_list, moved, wait_for},
    support::stop_daemons,
};
use serde_json::json;

/// r1's idle time before it releases P1.
const IDLE_S: u64 = 3;
/// How long the signaling may take before the test fails: generous, the namespaces are local.
const DEADLINE: Duration = Duration::from_secs(10);

#[test]
#[expect(
    clippy::too_many_lines,
    reason = "one end-to-end scenario: its steps in order, each with its checks"
)]
fn an_idle_redirect_is_released_and_traffic_keeps_it() {
    let mut cp = ControlPlane::start("mi");
    let r1 = cp.start_maar(0, &format!("idle_release_s = {IDLE_S}\n"));
    let r2 = cp.start_maar(1, "");
    cp.attach_and_move(&r1, &r2, DEADLINE);

    // 1. What each MAAR holds.
    wait_for("r2 registered with P1 visiting", DEADLINE, || {
        mn_list(&r2)["served"]
            .as_array()
            .is_some_and(|s| s.len() == 1 && s[0]["phase"] == "registered")
    });
    let at_r2 = mn_list(&r2);
    assert_eq!(
        at_r2,
        json!({
            "served": [{
                "mn_id": MAC, "dev": "r2a", "prefix": P2, "policy": "session-lasting",
                "phase": "registered", "visiting": [P1]
            }],
            "anchored": []
        })
    );
    let at_r1 = mn_list(&r1);
    assert_eq!(at_r1["served"], json!([]), "{at_r1}");
    let anchored = &at_r1["anchored"][0];
    assert_eq!(
        (
            &anchored["prefix"],
            &anchored["mn_id"],
            &anchored["serving"],
            &anchored["policy"],
            &anchored["idle_release_s"]
        ),
        (
            &json!(P1),
            &json!(MAC),
            &json!(R2_LOCATOR),
            &json!("session-lasting"),
            &json!(IDLE_S)
        ),
        "{at_r1}"
    );
    assert!(anchored["idle_s"].is_u64(), "{at_r1}");
    let table = r1.cli(&["mn", "list"]).unwrap_or_else(|e| panic!("{e:#}"));
    assert!(
        table.contains("ANCHORED") && table.contains(P1) && table.contains(R2_LOCATOR),
        "{table}"
    );

    // 2. Continuous traffic for three idle times: the redirect stays.
    let count = IDLE_S * 3 * 5;
    let mut ping = cmd::in_netns(&cp.rig.ns(Node::Cn), "ping")
        .args([
            "-6",
            "-q",
            "-i",
            "0.2",
            "-c",
            &count.to_string(),
            "-w",
            "60",
            MN_P1,
        ])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("start ping");
    let mut checks = 0;
    while ping.try_wait().expect("ping status").is_none() {
        assert!(
            moved(&r1, &r2),
            "the redirect and the visiting binding for {P1} should stay while packets flow: \
             r1 {:?}, r2 {:?}",
            find_binding(&r1, P1),
            find_binding(&r2, P1)
        );
        checks += 1;
        std::thread::sleep(Duration::from_millis(250));
    }
    let out = ping.wait_with_output().expect("ping output");
    assert!(
        out.status.success(),
        "pings to {MN_P1} through the redirect failed ({}):\n{}{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        checks > 0,
        "the bindings were never checked during the pings"
    );
    assert!(
        cp.cmd_lists(P1),
        "the CMD still lists {P1} while it is used"
    );

    // 3. No more traffic: released on both sides and at the CMD.
    wait_for(
        "release of the idle P1 (no binding for it on r1 or r2)",
        Duration::from_secs(IDLE_S * 10),
        || find_binding(&r1, P1).is_none() && find_binding(&r2, P1).is_none(),
    );
    assert!(
        !cp.cmd_lists(P1) && cp.cmd_lists(P2),
        "the CMD's record should keep only {P2}: {}",
        cp.cmd_records()
    );
    assert_eq!(mn_list(&r1), json!({"served": [], "anchored": []}));
    let at_r2 = mn_list(&r2);
    assert_eq!(at_r2["served"][0]["visiting"], json!([]), "{at_r2}");
    assert_eq!(at_r2["served"][0]["prefix"], P2, "{at_r2}");
    assert!(
        r1.log().contains(&format!("released idle {P1}")),
        "r1 should log the release:\n{}",
        r1.log_tail()
    );

    stop_daemons([r1, r2]);
    cp.stop_cmd();
}
