//! End to end through real daemons (privileged): two routers run `anchor run` in native XDP mode
//! in the [`anchor_rig`] topology, the mobile node has moved from router 1 to router 2, and its
//! old address must keep working through the tunnel in both directions.
//!
//! Checked from the outside, never from the code under test:
//! - payload: a TCP echo server on the mobile node's old address receives exactly the bytes the
//!   correspondent sent and echoes them back intact; ping works;
//! - counters: r1 encapsulates and r2 decapsulates the downlink; r2 reverse-encapsulates and r1
//!   decapsulates the uplink, packet for packet; no decapsulation is refused;
//! - wire format: a capture on the core switch, decoded by tshark, shows IPv6-in-IPv6 between the
//!   locators in both directions, the inner IPv6 packets of the right hosts, and no expert
//!   warnings or malformed frames;
//! - shutdown: SIGTERM makes both daemons exit cleanly and, by default, leave the program
//!   attached and their routes in place (`--detach-on-exit` is tested in `restart.rs`).
//!
//! Needs root, the `anchor` binary next to the test's directory (`cargo build`; `cargo xtask
//! test` builds first), ip, ethtool, ss, ping, python3, tcpdump and tshark. Anything missing
//! fails the test with the reason: it never skips.

use anchor_tests::support::{anchor_binary, ip_stdout, remove_stale_rigs, require_tools};
use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use anchor_rig::cmd;
use anchor_rig::process::{Transport, wait_for_listener};
use anchor_rig::topology::{CN_ADDR, MN_P1_ADDR, P1, R1_LOCATOR, R2_LOCATOR};
use anchor_rig::{Daemon, Node, Proc, Rig, WorkDir};
use anchor_tests::capture::{Capture, run_bounded, tshark};
use anchor_tests::xdp::assert_frame;
use serde_json::Value;

/// The TCP port of the echo server on the mobile node.
const ECHO_PORT: u16 = 7007;
/// Bytes sent through the tunnel and echoed back.
const PAYLOAD_LEN: usize = 64 * 1024;
/// The MSS both ends use: full segments (1200 + 60 bytes of headers) stay below the tunnel MTU
/// (1500) once encapsulated (+40), so no Packet Too Big is involved.
const MSS: u32 = 1200;
/// Upper bound for any one helper process (echo server, client, ping).
const PROC_TIMEOUT: Duration = Duration::from_secs(30);
/// The interfaces each router's daemon attaches to.
const XDP_INTERFACES: [(Node, &str); 5] = [
    (Node::R1, "r1c"),
    (Node::R1, "r1x"),
    (Node::R1, "r1a"),
    (Node::R2, "r2x"),
    (Node::R2, "r2a"),
];
/// IFLA_XDP_ATTACHED_DRV, as `ip -j link` reports it in `xdp.mode`.
const XDP_ATTACHED_DRV: u64 = 1;

/// TCP echo over IPv6, both ends: `server ADDR PORT MSS OUT` accepts one connection, echoes
/// everything and writes what it received to OUT once the client has shut down its side;
/// `client ADDR PORT MSS OUT IN` sends IN, shuts down its side and writes what came back to OUT.
/// Every socket operation times out after 20 s.
const ECHO: &str = r#"
import socket, sys
role, addr, port, mss, out = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), sys.argv[5]
s = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
s.setsockopt(socket.IPPROTO_TCP, socket.TCP_MAXSEG, mss)
s.settimeout(20)
if role == "server":
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind((addr, port))
    s.listen(1)
    c, _ = s.accept()
    c.settimeout(20)
else:
    c = s
    c.connect((addr, port))
    c.sendall(open(sys.argv[6], "rb").read())
    c.shutdown(socket.SHUT_WR)
got = bytearray()
while True:
    b = c.recv(65536)
    if not b:
        break
    got += b
    if role == "server":
        c.sendall(b)
if role == "server":
    c.shutdown(socket.SHUT_WR)
c.close()
with open(out, "wb") as f:
    f.write(got)
"#;

#[test]
fn moved_mobile_node_keeps_its_address_through_the_tunnel() {
    let anchor = anchor_binary();
    require_tools(&[
        &["ip", "-V"],
        &["ethtool", "--version"],
        &["ss", "-V"],
        &["ping", "-V"],
        &["python3", "--version"],
        &["tcpdump", "--version"],
        &["tshark", "--version"],
    ]);
    remove_stale_rigs("anc-t");
    // Drop order is the reverse: captures and daemons stop, then the namespaces go, and the
    // directory with configs, logs and the capture stays if the test failed.
    let dir = WorkDir::create("anchor-netns-e2e").unwrap_or_else(|e| panic!("{e:#}"));
    let rig = Rig::build(&format!("anc-t{}-", std::process::id()))
        .unwrap_or_else(|e| panic!("cannot build the rig: {e:#}"));

    // 1. Both routers, native XDP on every interface.
    let [r1, r2] = rig.routers("native").map(|router| {
        Daemon::start(&anchor, dir.path(), &router)
            .unwrap_or_else(|e| panic!("cannot start {}: {e:#}", router.name))
    });
    for (node, dev) in XDP_INTERFACES {
        assert_eq!(
            xdp_mode(&rig, node, dev),
            Some(XDP_ATTACHED_DRV),
            "{dev} in {} should have the program attached in native (driver) mode",
            rig.ns(node)
        );
    }

    // 2. The move, and the bindings through the CLI.
    rig.move_mobile_node(&r1, &r2)
        .unwrap_or_else(|e| panic!("cannot move the mobile node: {e:#}"));
    let route = ip_stdout(&rig, Node::R2, &["-6", "route", "show", P1]);
    assert!(
        route.contains("dev r2a"),
        "r2 should route {P1} to r2a for the --dev binding; `ip -6 route show {P1}` says {route:?}"
    );

    // 3.-5. Traffic to the old address, captured between the routers.
    let capture_file = dir.path().join("sw1.pcap");
    let mut capture = Capture::start(&rig.ns(Node::Sw), "sw1", &capture_file, dir.path());
    let r1_before = Stats::read(&r1);
    let r2_before = Stats::read(&r2);

    ping_old_address(&rig);
    let payload = pattern(PAYLOAD_LEN);
    let (received, echoed) = echo_through_tunnel(&rig, dir.path(), &payload);
    assert_frame("payload the mobile node received", &received, &payload);
    assert_frame(
        "payload echoed back to the correspondent",
        &echoed,
        &payload,
    );

    // Everything in flight has arrived once both ends have closed; let the last ACK land.
    std::thread::sleep(Duration::from_millis(200));
    let r1_after = Stats::read(&r1);
    let r2_after = Stats::read(&r2);
    capture.stop();

    check_counters(&r1_before, &r1_after, &r2_before, &r2_after);
    check_capture(&capture_file);

    // 6. Clean shutdown: exit status 0; by default the program stays attached (pinned) and the
    //    --dev route stays with it. The rig's teardown removes the pins with the namespaces.
    for daemon in [r1, r2] {
        let name = daemon.name();
        let status = daemon
            .stop()
            .unwrap_or_else(|e| panic!("router {name} did not stop: {e:#}"));
        assert!(
            status.success(),
            "router {name} exited with {status} after SIGTERM"
        );
    }
    for (node, dev) in XDP_INTERFACES {
        assert_eq!(
            xdp_mode(&rig, node, dev),
            Some(XDP_ATTACHED_DRV),
            "{dev} in {} should keep its XDP program after its daemon exited",
            rig.ns(node)
        );
    }
    let route = ip_stdout(&rig, Node::R2, &["-6", "route", "show", P1]);
    assert!(
        route.contains("dev r2a"),
        "r2's route for {P1} should stay after its daemon exited, but it is {route:?}"
    );
}

/// The mode (`xdp.mode` of `ip -j link`) of the XDP program on `dev`, or `None` without one.
fn xdp_mode(rig: &Rig, node: Node, dev: &str) -> Option<u64> {
    let out = ip_stdout(rig, node, &["-j", "link", "show", "dev", dev]);
    let links: Value = serde_json::from_str(&out)
        .unwrap_or_else(|e| panic!("`ip -j link show dev {dev}` printed no JSON ({e}): {out}"));
    links[0]["xdp"]["mode"].as_u64()
}

fn ping_old_address(rig: &Rig) {
    let out = run_bounded(
        "ping",
        cmd::in_netns(&rig.ns(Node::Cn), "ping")
            .args(["-6", "-c", "3", "-W", "2", "-w", "10", MN_P1_ADDR]),
    );
    assert!(
        out.status.success(),
        "ping from the correspondent to the mobile node's old address {MN_P1_ADDR} failed ({}):\n{}{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A deterministic pattern with no short period (xorshift).
fn pattern(len: usize) -> Vec<u8> {
    let mut x: u32 = 0x2545_f491;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            x.to_le_bytes()[0]
        })
        .collect()
}

/// Sends `payload` from the correspondent to the echo server on the mobile node's old address;
/// returns what the server received and what came back.
fn echo_through_tunnel(rig: &Rig, dir: &Path, payload: &[u8]) -> (Vec<u8>, Vec<u8>) {
    let input = dir.join("payload.bin");
    let received = dir.join("received.bin");
    let echoed = dir.join("echoed.bin");
    std::fs::write(&input, payload).expect("write the payload file");
    let (port, mss) = (ECHO_PORT.to_string(), MSS.to_string());
    let mn = rig.ns(Node::Mn);

    let server_log = std::fs::File::create(dir.join("echo-server.log")).expect("server log");
    let mut server = Proc::spawn(
        "echo server",
        cmd::in_netns(&mn, "python3")
            .args(["-c", ECHO, "server", MN_P1_ADDR, &port, &mss])
            .arg(&received)
            .stdout(server_log.try_clone().expect("server log"))
            .stderr(server_log),
    )
    .unwrap_or_else(|e| panic!("{e:#}"));
    wait_for_listener(&mn, Transport::Tcp, ECHO_PORT, Duration::from_secs(10)).unwrap_or_else(
        |e| {
            panic!(
                "the echo server did not start: {e:#}\n{}",
                std::fs::read_to_string(dir.join("echo-server.log")).unwrap_or_default()
            )
        },
    );

    let client = run_bounded(
        "echo client",
        cmd::in_netns(&rig.ns(Node::Cn), "python3")
            .args(["-c", ECHO, "client", MN_P1_ADDR, &port, &mss])
            .arg(&echoed)
            .arg(&input),
    );
    let server_status = server
        .wait(PROC_TIMEOUT)
        .unwrap_or_else(|e| panic!("{e:#}"));
    let server_out = std::fs::read_to_string(dir.join("echo-server.log")).unwrap_or_default();
    assert!(
        client.status.success(),
        "the echo client on the correspondent failed ({}):\n{}\nserver ({server_status:?}):\n{server_out}",
        client.status,
        String::from_utf8_lossy(&client.stderr)
    );
    assert!(
        server_status.is_some_and(|s| s.success()),
        "the echo server on the mobile node failed ({server_status:?}):\n{server_out}"
    );
    let read = |path: &Path| {
        std::fs::read(path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()))
    };
    (read(&received), read(&echoed))
}

/// A router's `anchor stats --json`: global counters (packets) and the P1 binding's counters.
struct Stats {
    counters: BTreeMap<String, u64>,
    binding: BTreeMap<String, u64>,
    json: String,
}

impl Stats {
    fn read(daemon: &Daemon) -> Stats {
        let json = daemon
            .cli(&["stats", "--json"])
            .unwrap_or_else(|e| panic!("{e:#}"));
        let report: Value = serde_json::from_str(&json)
            .unwrap_or_else(|e| panic!("`anchor stats --json` printed no JSON ({e}): {json}"));
        let counters = report["counters"]
            .as_array()
            .unwrap_or_else(|| panic!("no \"counters\" list in {json}"))
            .iter()
            .map(|c| {
                let name = c["name"].as_str().expect("counter name").to_owned();
                (name, c["packets"].as_u64().expect("counter packets"))
            })
            .collect();
        let binding = report["bindings"]
            .as_array()
            .unwrap_or_else(|| panic!("no \"bindings\" list in {json}"))
            .iter()
            .find(|b| b["prefix"] == P1)
            .unwrap_or_else(|| panic!("router {}: no binding for {P1} in {json}", daemon.name()));
        let binding = [
            "to_mn_packets",
            "to_mn_bytes",
            "from_mn_packets",
            "from_mn_bytes",
        ]
        .into_iter()
        .map(|field| {
            let value = binding[field]
                .as_u64()
                .unwrap_or_else(|| panic!("binding field {field} missing in {json}"));
            (field.to_owned(), value)
        })
        .collect();
        Stats {
            counters,
            binding,
            json,
        }
    }

    fn counter(&self, name: &str) -> u64 {
        *self
            .counters
            .get(name)
            .unwrap_or_else(|| panic!("no counter {name:?} in {}", self.json))
    }
}

/// Counter deltas of one router over the traffic.
struct Delta<'a> {
    router: &'static str,
    before: &'a Stats,
    after: &'a Stats,
}

impl Delta<'_> {
    fn counter(&self, name: &str) -> u64 {
        self.after.counter(name) - self.before.counter(name)
    }

    fn binding(&self, field: &str) -> u64 {
        self.after.binding[field] - self.before.binding[field]
    }

    fn describe(&self) -> String {
        let moved: Vec<String> = self
            .after
            .counters
            .keys()
            .map(|name| (name, self.counter(name)))
            .filter(|(_, delta)| *delta > 0)
            .map(|(name, delta)| format!("{name} +{delta}"))
            .chain(
                self.after
                    .binding
                    .keys()
                    .map(|field| format!("binding {field} +{}", self.binding(field))),
            )
            .collect();
        format!("{}: {}", self.router, moved.join(", "))
    }
}

fn check_counters(r1_before: &Stats, r1_after: &Stats, r2_before: &Stats, r2_after: &Stats) {
    let r1 = Delta {
        router: "r1",
        before: r1_before,
        after: r1_after,
    };
    let r2 = Delta {
        router: "r2",
        before: r2_before,
        after: r2_after,
    };
    let all = format!(
        "counter deltas over the traffic:\n{}\n{}",
        r1.describe(),
        r2.describe()
    );
    println!("{all}");

    // Downlink: r1 encapsulates, r2 decapsulates every one of those packets.
    assert!(r1.counter("encap") > 0, "r1 encapsulated nothing; {all}");
    assert!(r2.counter("decap") > 0, "r2 decapsulated nothing; {all}");
    assert_eq!(
        r1.counter("encap"),
        r2.counter("decap"),
        "every packet r1 tunnelled should be decapsulated by r2; {all}"
    );
    // Uplink (reverse tunnel): r2 encapsulates, r1 decapsulates.
    assert!(
        r2.counter("reverse_encap") > 0,
        "r2 reverse-tunnelled nothing; {all}"
    );
    assert!(r1.counter("decap") > 0, "r1 decapsulated nothing; {all}");
    assert_eq!(
        r2.counter("reverse_encap"),
        r1.counter("decap"),
        "every packet r2 reverse-tunnelled should be decapsulated by r1; {all}"
    );
    // The binding saw both directions on both routers.
    for delta in [&r1, &r2] {
        for field in ["to_mn_packets", "from_mn_packets"] {
            assert!(
                delta.binding(field) > 0,
                "{}: the {P1} binding's {field} did not grow; {all}",
                delta.router
            );
        }
    }
    // Nothing refused at the tunnel ends, during the traffic or before.
    for (router, stats) in [("r1", r1_after), ("r2", r2_after)] {
        let refused: Vec<String> = stats
            .counters
            .iter()
            .filter(|(name, packets)| name.starts_with("drop_decap") && **packets > 0)
            .map(|(name, packets)| format!("{name} = {packets}"))
            .collect();
        assert!(
            refused.is_empty(),
            "{router} refused tunnelled packets: {}; {all}",
            refused.join(", ")
        );
    }
}

/// One IPv6-in-IPv6 frame as tshark decodes it.
#[derive(Debug)]
struct TunnelFrame {
    number: String,
    /// Outer then inner (`ipv6.src` occurs once per IPv6 layer).
    src: Vec<String>,
    dst: Vec<String>,
    protocols: String,
}

#[expect(
    clippy::too_many_lines,
    reason = "one check per field of the captured packets, in the order of the capture"
)]
fn check_capture(file: &Path) {
    let listing = tshark(file, &["-n"]);
    let context = |what: &str| format!("{what}\ncapture {}:\n{listing}", file.display());

    // Decoding problems anywhere in the capture: expert infos of severity warning or error
    // (0x00600000 and up) and malformed frames. `-V` builds the full tree, without which some
    // expert infos are never added.
    let problems = tshark(
        file,
        &[
            "-n",
            "-V",
            "-Y",
            "_ws.expert.severity >= 0x00600000 || _ws.malformed",
        ],
    );
    let expert = tshark(file, &["-n", "-q", "-z", "expert"]);
    assert!(
        problems.trim().is_empty(),
        "{}",
        context(&format!(
            "tshark finds warnings or errors in the capture:\n{problems}\n{expert}"
        ))
    );

    let fields = tshark(
        file,
        &[
            "-n",
            "-Y",
            "ipv6.nxt == 41",
            "-T",
            "fields",
            "-e",
            "frame.number",
            "-e",
            "ipv6.src",
            "-e",
            "ipv6.dst",
            "-e",
            "frame.protocols",
        ],
    );
    let frames: Vec<TunnelFrame> = fields
        .lines()
        .map(|line| {
            let cols: Vec<&str> = line.split('\t').collect();
            assert_eq!(cols.len(), 4, "{}", context(&format!("odd line {line:?}")));
            let list = |s: &str| s.split(',').map(str::to_owned).collect::<Vec<_>>();
            TunnelFrame {
                number: cols[0].to_owned(),
                src: list(cols[1]),
                dst: list(cols[2]),
                protocols: cols[3].to_owned(),
            }
        })
        .collect();

    let downlink = [R1_LOCATOR, CN_ADDR];
    let downlink_dst = [R2_LOCATOR, MN_P1_ADDR];
    let uplink = [R2_LOCATOR, MN_P1_ADDR];
    let uplink_dst = [R1_LOCATOR, CN_ADDR];
    let mut inner_down = Vec::new();
    let mut inner_up = Vec::new();
    for frame in &frames {
        assert!(
            frame.protocols.contains("ipv6:ipv6:"),
            "{}",
            context(&format!(
                "frame {} is not decoded as IPv6 in IPv6 with a payload: {}",
                frame.number, frame.protocols
            ))
        );
        let inner = frame
            .protocols
            .rsplit("ipv6:")
            .next()
            .unwrap_or("")
            .to_owned();
        if frame.src == downlink && frame.dst == downlink_dst {
            inner_down.push(inner);
        } else if frame.src == uplink && frame.dst == uplink_dst {
            inner_up.push(inner);
        } else {
            panic!(
                "{}",
                context(&format!(
                    "frame {} is a tunnel packet between unexpected addresses: src {:?}, dst {:?} \
                     (expected outer {R1_LOCATOR} <-> {R2_LOCATOR}, inner {CN_ADDR} <-> {MN_P1_ADDR})",
                    frame.number, frame.src, frame.dst
                ))
            );
        }
    }
    println!(
        "capture on sw1: {} tunnel frames r1 -> r2 and {} r2 -> r1 of {} frames",
        inner_down.len(),
        inner_up.len(),
        listing.lines().count()
    );
    for (direction, inner) in [
        ("downlink (r1 -> r2)", &inner_down),
        ("uplink (r2 -> r1)", &inner_up),
    ] {
        for proto in ["tcp", "icmpv6"] {
            assert!(
                inner.iter().any(|p| p.starts_with(proto)),
                "{}",
                context(&format!(
                    "no tunnelled {proto} in the {direction} direction on the wire"
                ))
            );
        }
    }
}
