//! The alert rules firing in a real Prometheus on the grown rig (privileged).
//!
//! The rig of `rig/topologies/three-ars.toml`, its daemons serving `/metrics` on their
//! locators (the CMD on its address), the MAARs retransmitting after 200 ms and giving up after
//! 800 ms. Debian's `prometheus` runs in the core's namespace with
//! `packaging/prometheus/anchor-rules.yml` unchanged, scraping the CMD (job `anchor-cmd`) and the
//! three MAARs (job `anchor`) every second. Two conditions are made for real, and each alert must
//! be `firing` in `/api/v1/alerts` with its labels exactly:
//! - `AnchorPbuRejections`: a PBU from the correspondent, which is not a configured MAAR, reaches
//!   the CMD, which answers it with status 154 (not authorized);
//! - `AnchorSignalingUnanswered`: with the CMD stopped, a node attaches at AR3, whose MAAR
//!   retransmits its PBU and gives up.
//!
//! Both rules have no `for`, so they fire at the first evaluation that sees the condition. The
//! rules with a `for` of minutes (a daemon down, the CMD unreachable) are covered by their unit
//! tests (`alert_rules.rs`). Needs root, the `anchor` binary (`cargo build`), ip, ethtool,
//! sysctl, prometheus (`cargo xtask setup` installs them); anything missing fails the test.

use std::{
    net::Ipv6Addr,
    time::{Duration, Instant},
};

use anchor_rig::grown::{
    Spec, THREE_ARS,
    daemons::{CMD_METRICS_PORT, MAAR_METRICS_PORT},
    plan::{CN, CORE},
};
use anchor_signal::{Lifetime, MnId, MobilityHeader, MobilityOption, Pbu, PbuFlags, Timestamp};
use anchor_tests::{
    grown::GrownScenario,
    hostile::mh_socket_in,
    prometheus::{DEADLINE, Prometheus},
    support::require_tools,
};
use serde_json::json;

#[test]
fn signaling_alerts_fire_in_prometheus() {
    require_tools(&[&["prometheus", "--version"]]);
    let mut spec = Spec::parse(THREE_ARS, "rig/topologies/three-ars.toml").expect("the topology");
    spec.metrics_on_locators = true;
    spec.maar.initial_bindack_timeout_ms = Some(200);
    spec.maar.max_bindack_timeout_ms = Some(800);
    let mut scenario = GrownScenario::start("al", &spec);
    let cmd_target = format!("[{}]:{CMD_METRICS_PORT}", spec.cmd.address);
    let maar_targets: Vec<String> = spec
        .access_routers
        .iter()
        .map(|ar| format!("'[{}]:{MAAR_METRICS_PORT}'", ar.locator))
        .collect();
    let scrape = format!(
        "  - job_name: anchor-cmd\n    static_configs:\n      - targets: ['{cmd_target}']\n\
         \x20 - job_name: anchor\n    static_configs:\n      - targets: [{}]\n",
        maar_targets.join(", ")
    );
    let prometheus = Prometheus::start(&scenario.grown.ns(CORE), scenario.dir.path(), &scrape);
    let rules = prometheus.poll_rules();
    assert!(
        rules.iter().all(|(_, health)| health == "ok"),
        "every rule should be loaded and evaluated without an error: {rules:?}"
    );
    // Every target up, so that what follows is seen.
    let deadline = Instant::now() + DEADLINE;
    loop {
        let up = prometheus.api("/api/v1/query?query=up");
        let ups = up["data"]["result"].as_array().cloned().unwrap_or_default();
        if ups.len() == 4 && ups.iter().all(|r| r["value"][1] == "1") {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the CMD and the three MAARs should be scraped: {up}"
        );
        std::thread::sleep(Duration::from_millis(250));
    }

    // 1. A PBU from a sender the CMD does not know: answered with 154.
    let cn = spec.correspondent.address;
    let socket = mh_socket_in(&scenario.grown.ns(CN), cn);
    let pbu = MobilityHeader::Pbu(Pbu {
        sequence: 1,
        flags: PbuFlags::A | PbuFlags::P,
        lifetime: Lifetime(150),
        options: vec![
            MobilityOption::MnId(MnId::Nai("stranger@example.net".to_owned())),
            MobilityOption::Timestamp(Timestamp::now()),
        ],
    });
    let wire = pbu.encode(cn, spec.cmd.address).expect("encode");
    socket
        .send(spec.cmd.address, &wire)
        .expect("send to the CMD");
    let rejections = prometheus.poll_alert("AnchorPbuRejections", "firing");
    assert_eq!(
        rejections,
        Some((
            "firing".to_owned(),
            json!({
                "alertname": "AnchorPbuRejections",
                "instance": cmd_target,
                "job": "anchor-cmd",
                "role": "cmd",
                "severity": "warning",
                "status": "154",
            })
        )),
        "Prometheus should show AnchorPbuRejections firing for the CMD"
    );

    // 2. The CMD stops; a node attaches at AR3, whose PBU goes unanswered.
    scenario.stop_cmd();
    let ar3 = spec.access_router("ar3").expect("ar3");
    let node: Ipv6Addr = ar3.locator;
    scenario
        .router("ar3")
        .cli(&[
            "mn",
            "attach",
            "--mn-id",
            "02:00:00:00:00:0b",
            "--dev",
            "mn1",
        ])
        .unwrap_or_else(|e| panic!("{e:#}"));
    std::thread::sleep(Duration::from_secs(2));
    let unanswered = prometheus.poll_alert("AnchorSignalingUnanswered", "firing");
    assert_eq!(
        unanswered,
        Some((
            "firing".to_owned(),
            json!({
                "alertname": "AnchorSignalingUnanswered",
                "instance": format!("[{node}]:{MAAR_METRICS_PORT}"),
                "job": "anchor",
                "role": "maar",
                "severity": "warning",
            })
        )),
        "Prometheus should show AnchorSignalingUnanswered firing for AR3"
    );
}
