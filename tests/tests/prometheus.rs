//! A real Prometheus scrapes a real daemon (privileged).
//!
//! The [`anchor_rig`] topology with both routers running `anchor run` in native XDP mode; the
//! mobile node has moved to router 2, so router 1 redirects its old prefix to router 2. Debian's
//! `prometheus` server runs in router 1's namespace and scrapes the daemon's default metrics
//! address (127.0.0.1:9469 there) every second. Then:
//! - exactly N UDP datagrams go from the correspondent to the mobile node's old address, and the
//!   mobile node receives all N: they went through the tunnel;
//! - Prometheus's HTTP query API shows `anchor_packets_total{reason="encap"}` and the binding's
//!   `anchor_binding_packets_total{direction="to_mn"}` risen by exactly N, as the daemon's own
//!   `anchor stats` does (the value is polled until a deadline; the assertion is on the value);
//! - `promtool check metrics` accepts the daemon's `/metrics` as it is;
//! - Prometheus loads `packaging/prometheus/anchor-rules.yml` unchanged and evaluates every
//!   rule without an error, and one spoofed tunnel packet (from the correspondent, not the
//!   prefix's peer) makes `AnchorSpoofedTunnelPackets` pending, with its labels exactly
//!   (it fires only after its `for: 5m`, longer than the test waits).
//!
//! Needs root, the `anchor` binary next to the test's directory (`cargo build`; `cargo xtask
//! test` builds first), ip, ethtool, ss, prometheus and promtool (Debian's `prometheus` package,
//! installed by `cargo xtask setup`). Anything missing fails the test with the reason.

use anchor_tests::prometheus::{DEADLINE, Prometheus, RULES};
use anchor_tests::scrape::{http_get, promtool_check_metrics};
use anchor_tests::support::in_netns;
use anchor_tests::support::{anchor_binary, global_counter, remove_stale_rigs, require_tools};
use anchor_tests::tunnel::send_tunnel_packet;
use std::net::{Ipv6Addr, UdpSocket};
use std::time::Duration;

use anchor_rig::process::{Transport, wait_for_listener};
use anchor_rig::topology::{CN_ADDR, MN_P1_ADDR};
use anchor_rig::{Daemon, Node, Rig, WorkDir};

/// Datagrams sent through the tunnel.
const PACKETS: u64 = 200;
/// Pause between two datagrams: a modest rate, about 1000 a second.
const SEND_GAP: Duration = Duration::from_millis(1);
/// The UDP port the mobile node receives on.
const UDP_PORT: u16 = 7009;
/// The daemon's default metrics address, in router 1's namespace.
const METRICS: &str = "127.0.0.1:9469";
/// The encapsulation counter and the binding's downlink packets, as PromQL.
const ENCAP_QUERY: &str = r#"anchor_packets_total{job="anchor",reason="encap"}"#;
const BINDING_QUERY: &str =
    r#"anchor_binding_packets_total{job="anchor",prefix="2001:db8:1:1::/64",direction="to_mn"}"#;

#[test]
fn prometheus_sees_exactly_the_packets_sent_through_a_redirect() {
    let anchor = anchor_binary();
    require_tools(&[
        &["ip", "-V"],
        &["ethtool", "--version"],
        &["ss", "-V"],
        &["prometheus", "--version"],
        &["promtool", "--version"],
    ]);
    remove_stale_rigs("anc-p");
    let dir = WorkDir::create("anchor-prometheus").unwrap_or_else(|e| panic!("{e:#}"));
    let rig = Rig::build(&format!("anc-p{}-", std::process::id()))
        .unwrap_or_else(|e| panic!("cannot build the rig: {e:#}"));
    let r1_ns = rig.ns(Node::R1);

    let [r1, r2] = rig.routers("native").map(|router| {
        Daemon::start(&anchor, dir.path(), &router)
            .unwrap_or_else(|e| panic!("cannot start {}: {e:#}", router.name))
    });
    wait_for_listener(&r1_ns, Transport::Tcp, 9469, DEADLINE).unwrap_or_else(|e| {
        panic!(
            "router 1 serves no metrics on {METRICS}: {e:#}\n{}",
            r1.log_tail()
        )
    });
    rig.move_mobile_node(&r1, &r2)
        .unwrap_or_else(|e| panic!("cannot move the mobile node: {e:#}"));

    let prometheus = Prometheus::start(
        &r1_ns,
        dir.path(),
        &format!("  - job_name: anchor\n    static_configs:\n      - targets: ['{METRICS}']\n"),
    );
    // Before any traffic: Prometheus has scraped the daemon and agrees with its own counters.
    let encap_before = global_counter(&r1, "encap");
    let seen = prometheus.poll_until(ENCAP_QUERY, |v| v >= encap_before);
    assert_eq!(
        seen,
        Some(encap_before),
        "before any traffic Prometheus should show {ENCAP_QUERY} = {encap_before}, as `anchor stats` does"
    );
    let seen = prometheus.poll_until(BINDING_QUERY, |_| true);
    assert_eq!(
        seen,
        Some(0),
        "{BINDING_QUERY} should be 0 before any traffic"
    );

    // Exactly N datagrams through the tunnel, all received by the mobile node.
    let received = send_through_tunnel(&rig);
    assert_eq!(
        received, PACKETS,
        "the mobile node should receive all {PACKETS} datagrams sent to its old address through the tunnel"
    );
    let encap_after = global_counter(&r1, "encap");
    assert_eq!(
        encap_after - encap_before,
        PACKETS,
        "router 1's own `anchor stats` should count exactly {PACKETS} encapsulations"
    );

    let expected = encap_before + PACKETS;
    let seen = prometheus.poll_until(ENCAP_QUERY, |v| v >= expected);
    assert_eq!(
        seen,
        Some(expected),
        "Prometheus should show {ENCAP_QUERY} risen by exactly {PACKETS}"
    );
    let seen = prometheus.poll_until(BINDING_QUERY, |v| v >= PACKETS);
    assert_eq!(
        seen,
        Some(PACKETS),
        "Prometheus should show {BINDING_QUERY} = {PACKETS}"
    );
    let up = prometheus.poll_until(r#"up{job="anchor"}"#, |v| v == 1);
    assert_eq!(up, Some(1), "Prometheus should see the daemon up");

    // promtool accepts the exposition exactly as the daemon serves it by default.
    let (status, content_type, body) = in_netns(&r1_ns, || http_get(METRICS, "/metrics", None));
    assert_eq!(status, 200, "GET /metrics: {body}");
    assert!(
        content_type.starts_with("text/plain; version=0.0.4"),
        "GET /metrics without Accept should be the Prometheus text format, not {content_type:?}"
    );
    promtool_check_metrics(&body, dir.path());
    let (status, content_type, open_metrics) = in_netns(&r1_ns, || {
        http_get(
            METRICS,
            "/metrics",
            Some("application/openmetrics-text; version=1.0.0"),
        )
    });
    assert_eq!(status, 200, "GET /metrics (OpenMetrics): {open_metrics}");
    assert!(
        content_type.starts_with("application/openmetrics-text")
            && open_metrics.ends_with("# EOF\n"),
        "GET /metrics asking for OpenMetrics got {content_type:?}:\n{open_metrics}"
    );
    assert!(
        body.contains("anchor_build_info{version=\"")
            && body.contains("anchor_bindings{kind=\"redirect\"} 1"),
        "/metrics lacks anchor_build_info or the redirect binding gauge:\n{body}"
    );

    check_alert_rules(&prometheus, &rig, &r1);
}

/// Prometheus has loaded every rule of `anchor-rules.yml` and evaluates it without an error;
/// one spoofed tunnel packet to router 1 makes `AnchorSpoofedTunnelPackets` pending.
fn check_alert_rules(prometheus: &Prometheus, rig: &Rig, r1: &Daemon) {
    // The alert rules: all loaded and evaluated without an error.
    let rules = prometheus.poll_rules();
    assert_eq!(
        rules,
        RULES
            .map(|name| (name.to_owned(), "ok".to_owned()))
            .to_vec(),
        "Prometheus should load and evaluate every rule of anchor-rules.yml"
    );
    // One spoofed tunnel packet for P1, whose peer is router 2: the alert goes pending.
    let spoofed_before = global_counter(r1, "drop_decap_unknown_peer");
    send_tunnel_packet(&rig.ns(Node::Cn), MN_P1_ADDR);
    assert_eq!(
        global_counter(r1, "drop_decap_unknown_peer"),
        spoofed_before + 1,
        "router 1 should drop the spoofed tunnel packet as from an unknown peer"
    );
    let alert = prometheus.poll_alert("AnchorSpoofedTunnelPackets", "pending");
    assert_eq!(
        alert,
        Some((
            "pending".to_owned(),
            serde_json::json!({
                "alertname": "AnchorSpoofedTunnelPackets",
                "instance": METRICS,
                "job": "anchor",
                "reason": "drop_decap_unknown_peer",
                "severity": "warning",
            })
        )),
        "Prometheus should hold AnchorSpoofedTunnelPackets pending"
    );
}

/// Sends [`PACKETS`] datagrams from the correspondent to the mobile node's old address and
/// returns how many the mobile node received.
fn send_through_tunnel(rig: &Rig) -> u64 {
    let mn: Ipv6Addr = MN_P1_ADDR.parse().expect("address");
    let cn: Ipv6Addr = CN_ADDR.parse().expect("address");
    let receiver = in_netns(&rig.ns(Node::Mn), || {
        let socket = UdpSocket::bind((mn, UDP_PORT))
            .unwrap_or_else(|e| panic!("cannot bind [{mn}]:{UDP_PORT} on the mobile node: {e}"));
        socket
            .set_read_timeout(Some(Duration::from_secs(3)))
            .expect("timeout");
        socket
    });
    let sender = in_netns(&rig.ns(Node::Cn), || {
        UdpSocket::bind((cn, 0)).expect("bind on the correspondent")
    });
    std::thread::scope(|scope| {
        let counting = scope.spawn(|| {
            let mut datagrams = 0;
            let mut buf = [0u8; 2048];
            // Ends when nothing more arrives for 3 s (the read timeout) after the sender stopped.
            while let Ok(len) = receiver.recv(&mut buf) {
                assert_eq!(len, 100, "datagram of the wrong size");
                datagrams += 1;
            }
            datagrams
        });
        let payload = [0x5a_u8; 100];
        for _ in 0..PACKETS {
            sender
                .send_to(&payload, (mn, UDP_PORT))
                .unwrap_or_else(|e| panic!("cannot send to [{mn}]:{UDP_PORT}: {e}"));
            std::thread::sleep(SEND_GAP);
        }
        counting.join().expect("receiver thread")
    })
}
