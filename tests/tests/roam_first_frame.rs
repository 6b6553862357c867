//! Attachment on the node's first frame after a Wi-Fi roam, on the grown rig of
//! `rig/topologies/three-ars.toml` with `attachment = "roam"`, the shared router identity and
//! `attach_on_first_frame = true` on every MAAR: nobody calls `anchor mn attach` on AR2.
//!
//! 1. The node attaches at AR1 and gets P1; a UDP stream flows each way at 200 datagrams/s.
//! 2. The node roams to AR2 (its port moves from AR1's access switch to AR2's; its interface
//!    never goes down). Its uplink datagrams are its first frames at AR2: AR2's program
//!    reports its MAC (`first_frame_report`), AR2 attaches it (MN-ID: the MAC) and serves it
//!    on `air`; AR1 redirects P1 to AR2, which holds the visiting binding; both streams come
//!    back. The time from the roam to AR2's visiting binding and the streams' longest gaps are
//!    printed.
//! 3. The node is then known at AR2: its frames are reported no more.

use std::time::{Duration, Instant};

use anchor_tests::{
    grown::{GrownScenario, wait_until_right},
    roam::{MN, attach_at_ar1, roam_spec, streams_each_way},
    scenario::DEADLINE,
    support::global_counter,
};
const DOWN_PORT: u16 = 7093;
const UP_PORT: u16 = 7094;
const REPORTS: &str = "first_frame_report";

#[test]
fn the_first_frame_after_a_roam_attaches_the_node() {
    let spec = roam_spec(true);
    let mac = spec.mobile_node(MN).expect("mn1").mac.to_string();
    let sc = GrownScenario::start("rf", &spec);

    // 1. Attached at AR1.
    let (p1, address) = attach_at_ar1(&sc);
    let (down, up) = streams_each_way(&sc, address, DOWN_PORT, UP_PORT);
    let served_at_ar2 = |list: &serde_json::Value| {
        list["served"].as_array().is_some_and(|served| {
            served
                .iter()
                .any(|s| s["mn_id"] == mac.as_str() && s["dev"] == "air")
        })
    };
    assert!(
        !served_at_ar2(&sc.mn_list("ar2")),
        "AR2 serves the node before the roam: {}",
        sc.mn_list("ar2")
    );
    let reports_before = global_counter(sc.router("ar2"), REPORTS);

    // 2. The roam; no association event.
    let roamed = Instant::now();
    sc.grown
        .move_node(MN, "ar1", "ar2")
        .unwrap_or_else(|e| panic!("{e:#}"));
    let ar1 = sc.locator("ar1").to_string();
    let ar2 = sc.locator("ar2").to_string();
    // Polled as fast as `anchor binding list` answers: the time is the binding's, plus one
    // such call at most.
    let visited = loop {
        let visiting = sc.binding("ar2", p1);
        if visiting
            .as_ref()
            .is_some_and(|b| b["kind"] == "visiting" && b["peer"] == ar1.as_str())
        {
            break roamed.elapsed();
        }
        assert!(
            roamed.elapsed() < DEADLINE,
            "AR2 not visited by P1 within {DEADLINE:?}: {visiting:?}"
        );
        std::thread::sleep(Duration::from_millis(1));
    };
    wait_until_right(
        "AR1 redirecting P1 to AR2, AR2 serving the node on air",
        DEADLINE,
        || {
            let redirect = sc.binding("ar1", p1);
            let list = sc.mn_list("ar2");
            let right = redirect
                .as_ref()
                .is_some_and(|b| b["kind"] == "redirect" && b["peer"] == ar2.as_str())
                && served_at_ar2(&list);
            (!right).then(|| format!("ar1: {redirect:?}; ar2's nodes: {list}"))
        },
    );
    let reports = global_counter(sc.router("ar2"), REPORTS) - reports_before;
    assert!(
        reports >= 1,
        "AR2's program reported no first frame, yet AR2 serves the node"
    );
    let sent_after = up
        .arrivals()
        .iter()
        .filter(|&&(at, _)| at <= roamed)
        .map(|&(_, number)| number + 1)
        .max()
        .unwrap_or(0);
    up.wait_for(roamed, 1, DEADLINE)
        .unwrap_or_else(|e| panic!("UDP up after the roam: {e:#}"));
    down.wait_for(roamed, 1, DEADLINE)
        .unwrap_or_else(|e| panic!("UDP down after the roam: {e:#}"));
    let first_up = up
        .arrivals()
        .iter()
        .find(|&&(_, n)| n >= sent_after)
        .map(|&(at, _)| at - roamed);
    std::thread::sleep(Duration::from_secs(1));
    let end = Instant::now();
    let (down_gap, down_lost) = down.stall(roamed, end);
    let (up_gap, up_lost) = up.stall(roamed, end);
    println!(
        "first-frame roam: AR2's visiting binding {visited:?} after the roam ({reports} \
         report(s) from AR2's program); first uplink datagram sent after the roam at the \
         correspondent {first_up:?} after it; longest gap down {down_gap:?} ({down_lost} lost), \
         up {up_gap:?} ({up_lost} lost)"
    );

    // 3. Known at AR2 now: its frames (200 a second) are reported no more.
    let known = global_counter(sc.router("ar2"), REPORTS);
    let streamed = Instant::now();
    up.wait_for(streamed, 50, DEADLINE)
        .unwrap_or_else(|e| panic!("UDP up while known: {e:#}"));
    assert_eq!(
        global_counter(sc.router("ar2"), REPORTS),
        known,
        "AR2's program reported the node while it serves it"
    );
    drop((down, up));
    sc.stop();
}
