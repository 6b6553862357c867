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

use anchor_tests::scrape::{http_get, promtool_check_metrics, try_http_get};
use anchor_tests::support::in_netns;
use anchor_tests::support::{anchor_binary, global_counter, remove_stale_rigs, require_tools};
use anchor_tests::tunnel::send_tunnel_packet;
use std::fs::File;
use std::net::{Ipv6Addr, UdpSocket};
use std::path::Path;
use std::time::{Duration, Instant};

use anchor_rig::cmd;
use anchor_rig::process::{Transport, wait_for_listener};
use anchor_rig::topology::{CN_ADDR, MN_P1_ADDR};
use anchor_rig::{Daemon, Node, Proc, Rig, WorkDir};
use serde_json::Value;

/// Datagrams sent through the tunnel.
const PACKETS: u64 = 200;
/// Pause between two datagrams: a modest rate, about 1000 a second.
const SEND_GAP: Duration = Duration::from_millis(1);
/// The UDP port the mobile node receives on.
const UDP_PORT: u16 = 7009;
/// The daemon's default metrics address, in router 1's namespace.
const METRICS: &str = "127.0.0.1:9469";
/// Prometheus's own HTTP address, in router 1's namespace.
const PROMETHEUS_PORT: u16 = 9090;
/// How long Prometheus gets to start, and to show the expected values.
const DEADLINE: Duration = Duration::from_mins(1);
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

    let _prometheus = start_prometheus(&r1_ns, dir.path());
    // Before any traffic: Prometheus has scraped the daemon and agrees with its own counters.
    let encap_before = global_counter(&r1, "encap");
    let seen = poll_until(&r1_ns, ENCAP_QUERY, |v| v >= encap_before);
    assert_eq!(
        seen,
        Some(encap_before),
        "before any traffic Prometheus should show {ENCAP_QUERY} = {encap_before}, as `anchor stats` does"
    );
    let seen = poll_until(&r1_ns, BINDING_QUERY, |_| true);
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
    let seen = poll_until(&r1_ns, ENCAP_QUERY, |v| v >= expected);
    assert_eq!(
        seen,
        Some(expected),
        "Prometheus should show {ENCAP_QUERY} risen by exactly {PACKETS}"
    );
    let seen = poll_until(&r1_ns, BINDING_QUERY, |v| v >= PACKETS);
    assert_eq!(
        seen,
        Some(PACKETS),
        "Prometheus should show {BINDING_QUERY} = {PACKETS}"
    );
    let up = poll_until(&r1_ns, r#"up{job="anchor"}"#, |v| v == 1);
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

    check_alert_rules(&r1_ns, &rig, &r1);
}

/// Prometheus has loaded every rule of `anchor-rules.yml` and evaluates it without an error;
/// one spoofed tunnel packet to router 1 makes `AnchorSpoofedTunnelPackets` pending.
fn check_alert_rules(r1_ns: &str, rig: &Rig, r1: &Daemon) {
    // The alert rules: all loaded and evaluated without an error.
    let rules = poll_rules(r1_ns);
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
    let alert = poll_alert(r1_ns, "AnchorSpoofedTunnelPackets");
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

/// The rules of `anchor-rules.yml`, in file order.
const RULES: [&str; 7] = [
    "AnchorDaemonDown",
    "AnchorBindingMapNearlyFull",
    "AnchorSpoofedTunnelPackets",
    "AnchorNextHopsFallBackToFib",
    "AnchorPbuRejections",
    "AnchorSignalingUnanswered",
    "AnchorCmdUnreachable",
];

fn rules_file() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../packaging/prometheus/anchor-rules.yml")
}

/// A GET of Prometheus's API in `ns`, as JSON with status "success".
fn api(ns: &str, path: &str) -> Value {
    let address = format!("127.0.0.1:{PROMETHEUS_PORT}");
    let (status, _, body) = in_netns(ns, || http_get(&address, path, None));
    assert_eq!(
        status, 200,
        "Prometheus answered {status} to {path}: {body}"
    );
    let answer: Value = serde_json::from_str(&body).unwrap_or_else(|e| panic!("{e}: {body}"));
    assert_eq!(answer["status"], "success", "{path}: {body}");
    answer
}

/// The loaded rules and their health, polled until every one has been evaluated (or
/// [`DEADLINE`] passes).
fn poll_rules(ns: &str) -> Vec<(String, String)> {
    let deadline = Instant::now() + DEADLINE;
    loop {
        let answer = api(ns, "/api/v1/rules");
        let rules: Vec<(String, String)> = answer["data"]["groups"]
            .as_array()
            .into_iter()
            .flatten()
            .flat_map(|g| g["rules"].as_array().cloned().unwrap_or_default())
            .map(|r| {
                (
                    r["name"].as_str().unwrap_or_default().to_owned(),
                    r["health"].as_str().unwrap_or_default().to_owned(),
                )
            })
            .collect();
        if rules.len() == RULES.len() && rules.iter().all(|(_, health)| health != "unknown")
            || Instant::now() >= deadline
        {
            return rules;
        }
        std::thread::sleep(Duration::from_millis(250));
    }
}

/// The state and labels of alert `name`, polled until it appears (or [`DEADLINE`] passes).
fn poll_alert(ns: &str, name: &str) -> Option<(String, Value)> {
    let deadline = Instant::now() + DEADLINE;
    loop {
        let answer = api(ns, "/api/v1/alerts");
        let alert = answer["data"]["alerts"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|a| a["labels"]["alertname"] == name)
            .map(|a| {
                (
                    a["state"].as_str().unwrap_or_default().to_owned(),
                    a["labels"].clone(),
                )
            });
        if alert.is_some() || Instant::now() >= deadline {
            return alert;
        }
        std::thread::sleep(Duration::from_millis(250));
    }
}

/// Starts `prometheus` in `ns`, scraping [`METRICS`] every second into a fresh storage
/// directory, and waits until it is ready.
fn start_prometheus(ns: &str, dir: &Path) -> Proc {
    let config = dir.join("prometheus.yml");
    std::fs::write(
        &config,
        format!(
            "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n  evaluation_interval: 1s\n\
             rule_files:\n  - '{}'\n\
             scrape_configs:\n  - job_name: anchor\n    static_configs:\n      - targets: ['{METRICS}']\n",
            rules_file().display()
        ),
    )
    .expect("write prometheus.yml");
    let log = File::create(dir.join("prometheus.log")).expect("create prometheus.log");
    let mut command = cmd::in_netns(ns, "prometheus");
    command
        .arg(format!("--config.file={}", config.display()))
        .arg(format!(
            "--storage.tsdb.path={}",
            dir.join("tsdb").display()
        ))
        .arg(format!("--web.listen-address=127.0.0.1:{PROMETHEUS_PORT}"))
        .stdout(log.try_clone().expect("log"))
        .stderr(log);
    let mut prometheus =
        Proc::spawn("prometheus", &mut command).unwrap_or_else(|e| panic!("{e:#}"));
    let address = format!("127.0.0.1:{PROMETHEUS_PORT}");
    let deadline = Instant::now() + DEADLINE;
    loop {
        if let Some(status) = prometheus.try_wait().unwrap_or_else(|e| panic!("{e:#}")) {
            panic!(
                "prometheus exited ({status}); its log:\n{}",
                std::fs::read_to_string(dir.join("prometheus.log")).unwrap_or_default()
            );
        }
        let ready = in_netns(ns, || try_http_get(&address, "/-/ready", None))
            .is_ok_and(|(status, _, _)| status == 200);
        if ready {
            return prometheus;
        }
        assert!(
            Instant::now() < deadline,
            "prometheus was not ready after {DEADLINE:?}; its log:\n{}",
            std::fs::read_to_string(dir.join("prometheus.log")).unwrap_or_default()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// Asks Prometheus (in `ns`) for `query` until `done` holds for its value or [`DEADLINE`]
/// passes; returns the last value seen (`None` if the query never had a result).
fn poll_until(ns: &str, query: &str, done: impl Fn(u64) -> bool) -> Option<u64> {
    let deadline = Instant::now() + DEADLINE;
    let mut last = None;
    while Instant::now() < deadline {
        last = instant_query(ns, query).or(last);
        if last.is_some_and(&done) {
            break;
        }
        std::thread::sleep(Duration::from_millis(250));
    }
    last
}

/// The value of an instant query with one result, from Prometheus's HTTP API.
fn instant_query(ns: &str, query: &str) -> Option<u64> {
    let path = format!("/api/v1/query?query={}", percent_encode(query));
    let address = format!("127.0.0.1:{PROMETHEUS_PORT}");
    let (status, _, body) = in_netns(ns, || http_get(&address, &path, None));
    assert_eq!(
        status, 200,
        "Prometheus answered {status} to {query}: {body}"
    );
    let answer: Value = serde_json::from_str(&body).unwrap_or_else(|e| panic!("{e}: {body}"));
    assert_eq!(answer["status"], "success", "{query}: {body}");
    let result = answer["data"]["result"].as_array()?;
    assert!(result.len() <= 1, "{query} has several series: {body}");
    let value = result.first()?["value"][1].as_str()?;
    Some(
        value
            .parse()
            .unwrap_or_else(|e| panic!("{query}: value {value:?} is not an integer: {e}")),
    )
}

fn percent_encode(text: &str) -> String {
    text.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
                char::from(b).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
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
