//! RFC 8818 section 4.2, Figure 6, the anchor near the correspondent, on the grown rig of
//! `rig/topologies/near-cn.toml`: the correspondent behind the near anchor (a subscriber MAAR,
//! listed in the CMD's `subscribers` and in every access router's `correspondent_anchors`), two
//! access routers with `session-lasting` pools, the CMD in the core and a kernel-SLAAC node.
//!
//! 1. The node attaches at AR1 (P1) and opens a TCP flow from P1 to an echo server on the
//!    correspondent (tests/src/flow.rs: a verified byte pattern, a round trip every 20 ms). At
//!    home nothing is redirected: the near anchor holds no binding and passes the flow
//!    untouched (its `encap` counter does not move while its XDP sees the flow).
//! 2. The node moves to AR2 (P2). AR1 redirects P1 to AR2, AR2 holds a visiting binding for P1
//!    (home AR1), and the CMD tells the near anchor, which redirects P1 to AR2 too. The flow
//!    goes on (the first round trip after the move and the longest across it are printed).
//! 3. A TCP window longer than `idle_release_s`, between two quiet moments (the flow held, its
//!    last acknowledgements drained), with the counters of the three anchors read at each:
//!    downlink, the near anchor's redirect encapsulates exactly what AR2's visiting binding
//!    decapsulates (`encap` at the near anchor = `decap` at AR2), and AR1's redirect counts no
//!    packet toward the node (AR1's `encap` does not move): the correspondent's packets no
//!    longer cross the home anchor. Uplink: AR2 reverse-tunnels the node's P1 packets to the
//!    home anchor, as for a correspondent without a near anchor (the source stays topologically
//!    right, and AR1's idle release sees the flow): AR1's reverse-tunnel decapsulation (its
//!    redirect's `from_mn` and its `decap`) grows by exactly AR2's `reverse_encap`. Nothing is
//!    released under the flow.
//! 4. The same with counted datagrams, the flow held: 200 UDP datagrams from the correspondent
//!    to the node's P1 address and 200 back, each verified, give exact deltas of 200.
//! 5. The flow ends (every byte verified). Once AR1's redirect has been idle for
//!    `idle_release_s`, AR1 releases P1 through the CMD, whose lifetime-0 update reaches AR2
//!    (visiting binding gone) and the near anchor (redirect gone, its state file empty); the
//!    CMD's record keeps P2 alone.

use std::{
    collections::{BTreeMap, HashMap},
    net::{Ipv6Addr, UdpSocket},
    time::{Duration, Instant},
};

use anchor_rig::grown::{NEAR_CN, Spec, plan::NEAR, spec::Policy};
use anchor_tests::{
    flow::{Flow, echo_server},
    grown::{GrownScenario, wait_until_right},
    maar::wait_for,
    scenario::DEADLINE,
    support::{in_netns, stats_json},
};
use ipnet::Ipv6Net;
use serde_json::Value;

const MN: &str = "mn1";
const PORT: u16 = 7090;
const UDP_PORT: u16 = 7091;
/// The redirects' idle time: short, so that the release comes soon after the flow ends, and
/// shorter than the TCP window, so that the window shows the flow keeps the redirects.
const IDLE_RELEASE_S: u64 = 6;
/// The flow's TCP user timeout: far longer than any stall, so that only a broken path ends it.
const USER_TIMEOUT: Duration = Duration::from_secs(30);
/// How long a held flow stays quiet before the counters are read: its last acknowledgements
/// (delayed by up to 200 ms) have arrived by then.
const QUIET: Duration = Duration::from_millis(600);
/// The TCP traffic window: longer than `idle_release_s`.
const TCP_WINDOW: Duration = Duration::from_secs(IDLE_RELEASE_S + 2);
/// The datagrams of the UDP window, each way.
const DATAGRAMS: u32 = 200;
/// The routers whose counters are compared.
const ROUTERS: [&str; 3] = [NEAR, "ar1", "ar2"];

#[test]
#[expect(
    clippy::too_many_lines,
    reason = "the scenario's steps in the order it makes them"
)]
fn the_anchor_near_the_correspondent_takes_the_downlink_off_the_home_anchor() {
    let mut spec = Spec::parse(NEAR_CN, "rig/topologies/near-cn.toml")
        .unwrap_or_else(|e| panic!("the sample topology: {e}"));
    spec.maar.policy = Policy::SessionLasting;
    spec.maar.idle_release_s = Some(IDLE_RELEASE_S);
    for mn in &mut spec.mobile_nodes {
        // The test attaches the node itself.
        mn.start_at = None;
    }
    let near_at = spec
        .near_anchor
        .as_ref()
        .unwrap_or_else(|| panic!("near-cn.toml has no [near_anchor]"))
        .locator;
    let sc = GrownScenario::start("nc", &spec);
    let listener = sc.listen(PORT);
    echo_server(&listener);
    let (ar1_at, ar2_at) = (sc.locator("ar1"), sc.locator("ar2"));
    println!("near-cn: near anchor {near_at}, AR1 {ar1_at}, AR2 {ar2_at}");

    // 1. At home: a flow from P1, nothing redirected.
    sc.grown
        .attach(MN, "ar1")
        .unwrap_or_else(|e| panic!("{e:#}"));
    let p1 = sc.first_prefix("ar1");
    let a1 = sc.slaac(MN, p1);
    sc.wait_for_address(MN, "ar1", a1, true);
    wait_until_right(&format!("ar1 to serve {MN} with {p1}"), DEADLINE, || {
        serves(&sc, "ar1", p1)
    });
    let flow = Flow::start("flow", 1, sc.connect(MN, a1, PORT, USER_TIMEOUT));
    let opened = Instant::now();
    wait_for("the flow's first round trip", DEADLINE, || {
        assert_eq!(flow.error(), None, "the flow from {a1}");
        !flow.round_trips_since(opened).is_empty()
    });
    for router in ROUTERS {
        assert_eq!(
            sc.bindings(router),
            Vec::<Value>::new(),
            "{router} holds a binding with the node at home"
        );
    }
    let home = window(&sc, &flow, p1, Duration::from_secs(1));
    println!(
        "near-cn: at home, 1 s of the flow ({} round trips): the near anchor saw {} packets \
         (rx), encapsulated {}",
        home.round_trips,
        home.global(NEAR, "rx"),
        home.global(NEAR, "encap")
    );
    assert!(
        home.round_trips > 0 && home.global(NEAR, "rx") > 0,
        "the flow should cross the near anchor's XDP at home: {home:?}"
    );
    assert_eq!(
        home.global(NEAR, "encap"),
        0,
        "the near anchor tunnels nothing while the node is at home: {home:?}"
    );

    // 2. The move: three redirects of P1, the flow goes on.
    let moved = Instant::now();
    sc.grown
        .move_node(MN, "ar1", "ar2")
        .unwrap_or_else(|e| panic!("{e:#}"));
    let p2 = sc.first_prefix("ar2");
    let a2 = sc.slaac(MN, p2);
    sc.wait_for_address(MN, "ar2", a2, true);
    let ready = Instant::now();
    sc.wait_for_address(MN, "ar2", a1, false);
    let bindings_after = wait_until_right(
        &format!("{p1} redirected by ar1 and the near anchor to ar2, visiting ar2"),
        DEADLINE,
        || wrong_bindings(&sc, p1),
    );
    println!(
        "near-cn: moved ar1 -> ar2: {MN} has {a2} ({p2}) {:?} after the link change; the three \
         bindings of {p1} right {bindings_after:?} later",
        ready - moved
    );
    wait_for("a round trip of the flow after the move", DEADLINE, || {
        if let Some(error) = flow.error() {
            panic!("the flow broke at the move: {error}\n{}", sc.state_dump());
        }
        !flow.round_trips_since(ready).is_empty()
    });
    println!(
        "near-cn: the flow after the move: first round trip {:?}, longest across the move {:?}, \
         {} bytes verified",
        flow.round_trips_since(ready)[0].took,
        flow.longest_ending_after(moved).unwrap_or_default(),
        flow.verified()
    );

    // 3. The TCP window.
    let tcp = window(&sc, &flow, p1, TCP_WINDOW);
    println!(
        "near-cn: TCP window of {TCP_WINDOW:?}, {} round trips ({} bytes verified in all):",
        tcp.round_trips,
        flow.verified()
    );
    tcp.print();
    assert!(
        tcp.round_trips > 0,
        "the flow should echo during the window"
    );
    assert_paths(&tcp, None, &sc);
    assert_eq!(
        wrong_bindings(&sc, p1),
        None,
        "the redirects should outlast a window of the flow longer than idle_release_s"
    );

    // 4. Counted datagrams, the flow held.
    flow.hold();
    std::thread::sleep(QUIET);
    let before = snapshot(&sc, p1);
    let (down, up) = exchange_datagrams(&sc, a1);
    std::thread::sleep(QUIET);
    let udp = Deltas::between(&before, &snapshot(&sc, p1), 0);
    flow.resume();
    println!(
        "near-cn: UDP: {down} of {DATAGRAMS} datagrams from the correspondent reached {a1}, {up} \
         of {DATAGRAMS} from {a1} reached the correspondent:"
    );
    udp.print();
    assert_eq!((down, up), (DATAGRAMS, DATAGRAMS), "datagrams lost");
    assert_paths(&udp, Some(u64::from(DATAGRAMS)), &sc);

    // 5. The flow ends; the idle release reaches the near anchor.
    let bytes = flow
        .close()
        .unwrap_or_else(|error| panic!("the flow failed: {error}\n{}", sc.state_dump()));
    println!("near-cn: the flow (from {a1}) closed: {bytes} bytes verified");
    let released = wait_until_right(
        &format!("{p1} released everywhere, the CMD's record with {p2} alone"),
        Duration::from_secs(IDLE_RELEASE_S * 3) + DEADLINE,
        || leftovers(&sc, p2),
    );
    println!(
        "near-cn: {released:?} after the flow closed (idle_release_s = {IDLE_RELEASE_S}), AR1, \
         AR2 and the near anchor hold no binding of {p1}"
    );
    let log = sc.router(NEAR).log();
    assert!(
        log.contains(&format!("{p1} is no longer redirected")),
        "the near anchor should have taken the CMD's lifetime-0 update for {p1}:\n{log}"
    );
    sc.stop();
}

/// The counters of one router: its global packet counters and those of its binding for the
/// prefix watched (toward the node, from it; zeros without one).
#[derive(Clone, Debug, Default)]
struct Counts {
    global: HashMap<String, u64>,
    to_mn: u64,
    from_mn: u64,
}

fn snapshot(sc: &GrownScenario, prefix: Ipv6Net) -> BTreeMap<&'static str, Counts> {
    ROUTERS
        .into_iter()
        .map(|router| {
            let stats = stats_json(sc.router(router));
            let global = stats["counters"]
                .as_array()
                .unwrap_or_else(|| panic!("{router}: no counters in {stats}"))
                .iter()
                .filter_map(|c| Some((c["name"].as_str()?.to_owned(), c["packets"].as_u64()?)))
                .collect();
            let (to_mn, from_mn) = sc.binding_packets(router, prefix);
            (
                router,
                Counts {
                    global,
                    to_mn,
                    from_mn,
                },
            )
        })
        .collect()
}

/// What the counters of [`ROUTERS`] moved by over a window.
#[derive(Debug)]
struct Deltas {
    routers: BTreeMap<&'static str, Counts>,
    round_trips: usize,
}

impl Deltas {
    fn between(
        before: &BTreeMap<&'static str, Counts>,
        after: &BTreeMap<&'static str, Counts>,
        round_trips: usize,
    ) -> Deltas {
        let routers = after
            .iter()
            .map(|(router, a)| {
                let b = before.get(router).cloned().unwrap_or_default();
                // A binding replaced in the window would restart at zero: shown as a huge delta.
                let global = a
                    .global
                    .iter()
                    .map(|(name, n)| {
                        let was = b.global.get(name).copied().unwrap_or(0);
                        (name.clone(), n.wrapping_sub(was))
                    })
                    .collect();
                let counts = Counts {
                    global,
                    to_mn: a.to_mn.wrapping_sub(b.to_mn),
                    from_mn: a.from_mn.wrapping_sub(b.from_mn),
                };
                (*router, counts)
            })
            .collect();
        Deltas {
            routers,
            round_trips,
        }
    }

    fn global(&self, router: &str, name: &str) -> u64 {
        self.routers
            .get(router)
            .and_then(|c| c.global.get(name).copied())
            .unwrap_or_else(|| panic!("no counter {name} at {router}"))
    }

    fn binding(&self, router: &str) -> (u64, u64) {
        let c = &self.routers[router];
        (c.to_mn, c.from_mn)
    }

    fn print(&self) {
        for (router, kind) in [
            (NEAR, "redirect"),
            ("ar1", "redirect (home)"),
            ("ar2", "visiting"),
        ] {
            let (to_mn, from_mn) = self.binding(router);
            println!(
                "near-cn:   {router:>4}: {kind} binding {to_mn} to the node / {from_mn} from it; \
                 encap {}, reverse_encap {}, decap {}, visiting_l2 {}",
                self.global(router, "encap"),
                self.global(router, "reverse_encap"),
                self.global(router, "decap"),
                self.global(router, "visiting_l2"),
            );
        }
    }
}

/// Runs the flow for `length` between two quiet moments and returns the counters' deltas.
fn window(sc: &GrownScenario, flow: &Flow, prefix: Ipv6Net, length: Duration) -> Deltas {
    flow.hold();
    std::thread::sleep(QUIET);
    let before = snapshot(sc, prefix);
    let started = Instant::now();
    flow.resume();
    std::thread::sleep(length);
    flow.hold();
    let round_trips = flow.round_trips_since(started).len();
    std::thread::sleep(QUIET);
    let after = snapshot(sc, prefix);
    flow.resume();
    if let Some(error) = flow.error() {
        panic!("the flow broke in the window: {error}\n{}", sc.state_dump());
    }
    Deltas::between(&before, &after, round_trips)
}

/// The paths of the node's old prefix with the node at AR2: the correspondent's packets are
/// tunnelled by the near anchor straight to AR2, none crosses AR1's redirect toward the node;
/// the node's packets are reverse-tunnelled by AR2 to AR1, which decapsulates them. `exact`:
/// the packets each way, when known.
fn assert_paths(d: &Deltas, exact: Option<u64>, sc: &GrownScenario) {
    let down = d.binding(NEAR).0;
    let up = d.binding("ar2").1;
    let context = || format!("{d:#?}\n{}", sc.state_dump());
    assert!(
        down > 0 && up > 0,
        "traffic both ways expected: {}",
        context()
    );
    if let Some(n) = exact {
        assert_eq!((down, up), (n, n), "{}", context());
    }
    // Downlink: near anchor -> AR2, nothing through AR1.
    assert_eq!(d.binding(NEAR), (down, 0), "near anchor: {}", context());
    assert_eq!(d.global(NEAR, "encap"), down, "near anchor: {}", context());
    assert_eq!(d.binding("ar2"), (down, up), "ar2: {}", context());
    assert_eq!(d.global("ar2", "decap"), down, "ar2: {}", context());
    assert_eq!(d.global("ar2", "visiting_l2"), down, "ar2: {}", context());
    assert_eq!(d.binding("ar1"), (0, up), "ar1: {}", context());
    assert_eq!(d.global("ar1", "encap"), 0, "ar1: {}", context());
    // Uplink: AR2 -> AR1 (reverse tunnel), decapsulated there.
    assert_eq!(d.global("ar2", "reverse_encap"), up, "ar2: {}", context());
    assert_eq!(d.global("ar1", "decap"), up, "ar1: {}", context());
    assert_eq!(d.global(NEAR, "decap"), 0, "near anchor: {}", context());
}

/// Sends [`DATAGRAMS`] datagrams from the correspondent to `addr` on the node, then as many
/// from `addr` to the correspondent; returns how many of each arrived intact (each carries its
/// index, and each index counts once).
fn exchange_datagrams(sc: &GrownScenario, addr: Ipv6Addr) -> (u32, u32) {
    let cn = sc.spec().correspondent.address;
    let bind = |ns: String, at: Ipv6Addr, port: u16| {
        in_netns(&ns, || {
            let socket = UdpSocket::bind((at, port))
                .unwrap_or_else(|e| panic!("cannot bind [{at}]:{port} in {ns}: {e}"));
            socket
                .set_read_timeout(Some(Duration::from_secs(3)))
                .expect("read timeout");
            socket
        })
    };
    let node = bind(sc.grown.ns(MN), addr, UDP_PORT);
    let correspondent = bind(sc.grown.ns(anchor_rig::grown::plan::CN), cn, UDP_PORT);
    let down = send_and_count(&correspondent, &node, (addr, UDP_PORT).into());
    let up = send_and_count(&node, &correspondent, (cn, UDP_PORT).into());
    (down, up)
}

fn send_and_count(from: &UdpSocket, to: &UdpSocket, dest: std::net::SocketAddr) -> u32 {
    std::thread::scope(|scope| {
        let counting = scope.spawn(|| {
            let mut seen = vec![false; DATAGRAMS as usize];
            let mut buf = [0u8; 256];
            // Ends with every datagram, or when nothing arrives for the read timeout.
            while seen.iter().any(|s| !s) {
                let Ok(len) = to.recv(&mut buf) else { break };
                if let Some(index) = datagram_index(&buf[..len])
                    && let Some(slot) = seen.get_mut(index as usize)
                {
                    *slot = true;
                }
            }
            u32::try_from(seen.iter().filter(|s| **s).count()).expect("at most DATAGRAMS")
        });
        for index in 0..DATAGRAMS {
            from.send_to(&datagram(index), dest)
                .unwrap_or_else(|e| panic!("cannot send to {dest}: {e}"));
            std::thread::sleep(Duration::from_millis(2));
        }
        counting.join().expect("the receiving thread")
    })
}

/// Datagram `index`: its index, then 96 bytes that depend on it.
fn datagram(index: u32) -> Vec<u8> {
    let mut bytes = index.to_be_bytes().to_vec();
    bytes.extend((0..96u32).map(|i| (i.wrapping_mul(7) ^ index).to_le_bytes()[0]));
    bytes
}

/// The index of an intact datagram.
fn datagram_index(bytes: &[u8]) -> Option<u32> {
    let index = u32::from_be_bytes(bytes.get(..4)?.try_into().ok()?);
    (bytes == datagram(index).as_slice()).then_some(index)
}

/// What is wrong with `ar`'s service of the node with `prefix`, registered.
fn serves(sc: &GrownScenario, ar: &str, prefix: Ipv6Net) -> Option<String> {
    let mac = sc.spec().mobile_node(MN).expect("the node").mac.to_string();
    let list = sc.mn_list(ar);
    let right = list["served"].as_array().is_some_and(|served| {
        served.iter().any(|s| {
            s["mn_id"] == mac.as_str()
                && s["prefix"] == prefix.to_string()
                && s["phase"] == "registered"
        })
    });
    (!right).then(|| format!("{ar}'s mn list: {list}"))
}

/// What differs from the bindings of the node at AR2 with P1 = `p1`: AR1 and the near anchor
/// redirect P1 to AR2, AR2 holds it as visiting with home AR1; nothing else.
fn wrong_bindings(sc: &GrownScenario, p1: Ipv6Net) -> Option<String> {
    let ar1_at = sc.locator("ar1").to_string();
    let ar2_at = sc.locator("ar2").to_string();
    for (router, kind, peer) in [
        ("ar1", "redirect", &ar2_at),
        (NEAR, "redirect", &ar2_at),
        ("ar2", "visiting", &ar1_at),
    ] {
        let bindings = sc.bindings(router);
        let right = bindings.len() == 1
            && bindings[0]["prefix"] == p1.to_string()
            && bindings[0]["kind"] == kind
            && bindings[0]["peer"] == peer.as_str();
        if !right {
            return Some(format!(
                "{router}'s bindings {} (expected one {kind} of {p1} to {peer})",
                Value::Array(bindings)
            ));
        }
    }
    None
}

/// What is left once P1 is released: any binding on the three routers, anything in the near
/// anchor's subscriptions (its state file), a CMD record with more than `p2`.
fn leftovers(sc: &GrownScenario, p2: Ipv6Net) -> Option<String> {
    for router in ROUTERS {
        let bindings = sc.bindings(router);
        if !bindings.is_empty() {
            return Some(format!(
                "{router} still has bindings {}",
                Value::Array(bindings)
            ));
        }
    }
    let near = sc.maar_state(NEAR);
    if near["subscribed"].as_array().is_some_and(|s| !s.is_empty()) {
        return Some(format!("the near anchor's state: {near}"));
    }
    let records = sc.cmd_records();
    let right = records.len() == 1 && {
        let prefixes = records[0]["prefixes"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        prefixes.len() == 1
            && prefixes[0]["prefix"] == p2.to_string()
            && records[0]["pending"].as_array().is_none_or(Vec::is_empty)
    };
    (!right).then(|| format!("the CMD's records: {}", Value::Array(records)))
}
