//! Client-based DMM (RFC 8818 section 3.1.2) on the grown rig of
//! `rig/topologies/three-ars-client.toml` (`dmm = "client"`): no CMD runs, the access routers take Binding Updates from the nodes
//! (`client_bindings`), and the mobile node runs `anchor client`.
//!
//! 1. The node attaches at AR1 and opens a TCP flow from its P1 address to an echo server on the
//!    correspondent (a verified byte pattern every 20 ms).
//! 2. It moves AR1 -> AR2 (opening a second flow from P2), then AR2 -> AR3. After each move:
//!    every flow echoes again; AR1 redirects P1 (and AR2 P2) to the node's current address,
//!    which the client's status shows registered with a tunnel; no router holds any other
//!    binding (no visiting bindings: the routers serving the node do nothing for the old
//!    prefixes).
//! 3. Captures during each move and stay (at AR2, then at AR3): on the core's link to the
//!    router, P1's downlink is IPv6-in-IPv6 from AR1's locator to the node's current address
//!    (AR1 encapsulated it to the node itself), and the node decapsulates tunnel packets; the
//!    node's own tunnel packets to AR1, captured on the router's access link, leave it untouched
//!    but for the hop limit (AR2 and AR3 forward them as any packet of their own node; their XDP
//!    program hands the downlink to the node unseen by captures).
//! 4. Refusals, read from the Binding Acknowledgements that a socket in the node's namespace
//!    receives: AR2 refuses an update for P1 (not its prefix) and one naming another node
//!    (status 155); the same valid update sent twice is accepted once, and its replay refused
//!    (157).
//! 5. A tunnel packet from the correspondent (not an anchor) to the node's current address is
//!    dropped at the node: its XDP program's `refused_tunnel` count grows by one, and the
//!    inner datagram never reaches the socket waiting for it.
//! 6. The flows close: the client de-registers P1 and P2 (no socket uses them), and AR1 and AR2
//!    remove their redirects.

use std::{
    net::{Ipv6Addr, SocketAddrV6, UdpSocket},
    path::Path,
    time::{Duration, Instant, SystemTime},
};

use anchor_pmip::transport::MhSocket;
use anchor_rig::grown::{
    Spec, THREE_ARS_CLIENT,
    spec::{Dmm, Policy},
};
use anchor_signal::{
    Lifetime, MnId, MobilityHeader, MobilityOption, Pbu, PbuFlags, Status, Timestamp,
};
use anchor_tests::{
    capture::{Capture, tshark},
    flow::{Flow, echo_server},
    grown::{GrownScenario, wait_until_right},
    maar::wait_for,
    scenario::DEADLINE,
    support::in_netns,
};
use ipnet::Ipv6Net;
use serde_json::Value;
use socket2::{Domain, Protocol, SockAddr, Socket, Type};

const MN: &str = "mn1";
const PORT: u16 = 7090;
const USER_TIMEOUT: Duration = Duration::from_secs(30);
const DWELL: Duration = Duration::from_secs(1);
/// Another node's MAC: its MN-ID holds nothing anywhere.
const STRANGER: [u8; 6] = [2, 0, 0, 0, 0, 0x0b];

#[test]
fn a_node_keeps_its_sessions_across_two_moves_through_its_own_bindings() {
    let mut spec = Spec::parse(THREE_ARS_CLIENT, "rig/topologies/three-ars-client.toml")
        .unwrap_or_else(|e| panic!("the sample topology: {e}"));
    assert_eq!(spec.maar.dmm, Dmm::Client);
    assert_eq!(spec.maar.policy, Policy::SessionLasting);
    for mn in &mut spec.mobile_nodes {
        mn.start_at = None;
    }
    let sc = GrownScenario::start("cl", &spec);
    let listener = sc.listen(PORT);
    echo_server(&listener);

    // 1. At AR1.
    sc.grown
        .attach(MN, "ar1")
        .unwrap_or_else(|e| panic!("{e:#}"));
    let p1 = sc.first_prefix("ar1");
    let a1 = sc.slaac(MN, p1);
    sc.wait_for_address(MN, "ar1", a1, true);
    wait_until_right("the client at P1", DEADLINE, || {
        let status = sc.client_status(MN);
        (status["current"] != p1.to_string()).then(|| format!("client status {status}"))
    });
    let flow1 = open_flow(&sc, "flow 1", 1, a1);

    // 2. and 3. AR1 -> AR2, a second flow, AR2 -> AR3, each stay captured.
    let p2 = sc.first_prefix("ar2");
    let a2 = captured_move(&sc, "ar1", "ar2", &[(p1, "ar1")], &[&flow1]);
    let flow2 = open_flow(&sc, "flow 2", 2, a2);
    let a3 = captured_move(
        &sc,
        "ar2",
        "ar3",
        &[(p1, "ar1"), (p2, "ar2")],
        &[&flow1, &flow2],
    );

    // 4. Refusals at AR2, and a replay.
    let ar2 = sc.locator("ar2");
    let mn_id = MnId::Eui48(sc.spec().mobile_node(MN).expect("node").mac.0);
    let status = send_update(&sc, a3, ar2, &update(1, &mn_id, p1, a3));
    assert_eq!(
        status,
        Status::NOT_AUTHORIZED_FOR_HOME_NETWORK_PREFIX,
        "P1 is AR1's"
    );
    let status = send_update(&sc, a3, ar2, &update(2, &MnId::Eui48(STRANGER), p2, a3));
    assert_eq!(
        status,
        Status::NOT_AUTHORIZED_FOR_HOME_NETWORK_PREFIX,
        "P2 was delegated to {MN}, not to another node"
    );
    let valid = update(3, &mn_id, p2, a3);
    assert_eq!(send_update(&sc, a3, ar2, &valid), Status::ACCEPTED);
    assert_eq!(
        send_update(&sc, a3, ar2, &valid),
        Status::TIMESTAMP_LOWER_THAN_PREV_ACCEPTED,
        "the same update again is a replay"
    );
    println!("client: AR2 refused the update for P1, the stranger's, and the replay");

    // 5. A tunnel packet from a host that is not an anchor.
    let refused_before = datapath_count(&sc, "refused_tunnel");
    let catcher = in_netns(&sc.grown.ns(MN), || {
        let socket = UdpSocket::bind(SocketAddrV6::new(a1, 7091, 0, 0)).expect("bind on P1");
        socket
            .set_read_timeout(Some(Duration::from_millis(500)))
            .expect("timeout");
        socket
    });
    let cn = sc.spec().correspondent.address;
    in_netns(&sc.grown.ns(anchor_rig::grown::plan::CN), || {
        send_ip6ip6(cn, a3, &udp_packet(cn, a1, 7091, b"not from an anchor"));
    });
    wait_for("the node's refused_tunnel count", DEADLINE, || {
        datapath_count(&sc, "refused_tunnel") == refused_before + 1
    });
    let mut buf = [0u8; 64];
    assert!(
        catcher.recv_from(&mut buf).is_err(),
        "the inner datagram of a tunnel from the correspondent reached the node"
    );
    // A socket on P1 keeps P1 registered: this one goes before the flows close.
    drop(catcher);
    println!("client: the correspondent's tunnel packet was dropped at the node");

    // 6. The flows close: P1 and P2 are de-registered, the redirects go.
    for flow in [flow1, flow2] {
        let name = flow.name.clone();
        match flow.close() {
            Ok(bytes) => println!("client: {name} closed: {bytes} bytes verified"),
            Err(error) => panic!("{name} failed: {error}\n{}", sc.state_dump()),
        }
    }
    let took = wait_until_right("the redirects released", DEADLINE * 2, || {
        let left: Vec<Value> = ["ar1", "ar2", "ar3"]
            .iter()
            .flat_map(|ar| sc.bindings(ar))
            .collect();
        let status = sc.client_status(MN);
        let held = status["bindings"].as_array().map_or(0, Vec::len);
        (!left.is_empty() || held != 1)
            .then(|| format!("bindings {left:?}, client status {status}"))
    });
    println!("client: {took:?} after the flows closed, P1 and P2 are released");
    sc.stop();
}

/// [`move_and_check`] with captures during the move and a stay of [`DWELL`] at `to`: on the
/// core's link to `to` and on `to`'s access link (see [`check_captures`]); the node decapsulates
/// tunnel packets during the stay.
fn captured_move(
    sc: &GrownScenario,
    from: &str,
    to: &str,
    held: &[(Ipv6Net, &str)],
    flows: &[&Flow],
) -> Ipv6Addr {
    let files = sc.dir.path().to_owned();
    let core_file = files.join(format!("core-to-{to}.pcap"));
    let access_file = files.join(format!("{to}-access.pcap"));
    let mut core = Capture::start(
        &sc.grown.ns(anchor_rig::grown::plan::CORE),
        to,
        &core_file,
        &files,
    );
    let mut access = Capture::start(&sc.grown.ns(to), MN, &access_file, &files);
    let decapsulated = datapath_count(sc, "decapsulated");
    let care_of = move_and_check(sc, from, to, held, flows);
    std::thread::sleep(DWELL);
    core.stop();
    access.stop();
    let (p1, _) = held[0];
    check_captures(
        to,
        &core_file,
        &access_file,
        sc.locator("ar1"),
        sc.slaac(MN, p1),
        care_of,
    );
    // The router hands the anchors' tunnels to the node as they came: the node decapsulates
    // them.
    let decapsulated = datapath_count(sc, "decapsulated") - decapsulated;
    assert!(decapsulated > 0, "the node decapsulated nothing at {to}");
    println!("client: the node decapsulated {decapsulated} tunnel packets at {to}");
    care_of
}

/// A TCP flow from `source` that has echoed once.
fn open_flow(sc: &GrownScenario, name: &str, seed: u64, source: Ipv6Addr) -> Flow {
    let opened = Instant::now();
    let flow = Flow::start(name, seed, sc.connect(MN, source, PORT, USER_TIMEOUT));
    wait_for(&format!("{name}'s first round trip"), DEADLINE, || {
        assert_eq!(flow.error(), None, "{name} from {source}");
        !flow.round_trips_since(opened).is_empty()
    });
    flow
}

/// Moves the node from `from` to `to`, waits for its address there and for the bindings of
/// `held` (each prefix with its anchor), and checks that every flow echoes again. Returns the
/// node's new address.
fn move_and_check(
    sc: &GrownScenario,
    from: &str,
    to: &str,
    held: &[(Ipv6Net, &str)],
    flows: &[&Flow],
) -> Ipv6Addr {
    let moved = Instant::now();
    sc.grown
        .move_node(MN, from, to)
        .unwrap_or_else(|e| panic!("{e:#}"));
    let prefix = sc.first_prefix(to);
    let address = sc.slaac(MN, prefix);
    sc.wait_for_address(MN, to, address, true);
    let ready = Instant::now();
    let took = wait_until_right(&format!("the bindings at {to}"), DEADLINE, || {
        wrong_bindings(sc, held, address)
    });
    for flow in flows {
        wait_for(
            &format!("{} after {from} -> {to}", flow.name),
            DEADLINE,
            || {
                if let Some(error) = flow.error() {
                    panic!("{} broke: {error}\n{}", flow.name, sc.state_dump());
                }
                !flow.round_trips_since(ready).is_empty()
            },
        );
        println!(
            "client: {from} -> {to}: {} echoes again, longest round trip across the move {:?}",
            flow.name,
            flow.longest_ending_after(moved)
        );
    }
    println!(
        "client: {from} -> {to}: {address} after {:?}, bindings right {took:?} later",
        ready - moved
    );
    address
}

/// What is wrong with the routers' bindings and the client's status, with the node at
/// `care_of` and `held` its earlier prefixes with their anchors.
fn wrong_bindings(
    sc: &GrownScenario,
    held: &[(Ipv6Net, &str)],
    care_of: Ipv6Addr,
) -> Option<String> {
    for ar in ["ar1", "ar2", "ar3"] {
        let mine: Vec<Ipv6Net> = held
            .iter()
            .filter(|(_, anchor)| *anchor == ar)
            .map(|(p, _)| *p)
            .collect();
        let bindings = sc.bindings(ar);
        if bindings.len() != mine.len() {
            return Some(format!(
                "{ar} holds {bindings:?}, expected redirects of {mine:?}"
            ));
        }
        for prefix in mine {
            let right = sc.binding(ar, prefix).is_some_and(|b| {
                b["kind"] == "redirect" && b["peer"] == care_of.to_string().as_str()
            });
            if !right {
                return Some(format!(
                    "{ar} does not redirect {prefix} to {care_of}: {bindings:?}"
                ));
            }
        }
    }
    let status = sc.client_status(MN);
    for (prefix, anchor) in held {
        let anchor_at = sc.locator(anchor).to_string();
        let registered = status["bindings"].as_array().is_some_and(|list| {
            list.iter().any(|b| {
                b["prefix"] == prefix.to_string().as_str()
                    && b["anchor"] == anchor_at.as_str()
                    && b["state"] == "registered"
                    && b["care_of"] == care_of.to_string().as_str()
                    && b["tunnel"] == true
            })
        });
        if !registered {
            return Some(format!(
                "the client has no tunnel for {prefix} via {anchor}: {status}"
            ));
        }
    }
    None
}

/// The node's datapath counter `name` from its client status.
fn datapath_count(sc: &GrownScenario, name: &str) -> u64 {
    sc.client_status(MN)["datapath"][name]
        .as_u64()
        .unwrap_or_else(|| panic!("no datapath count {name} in {}", sc.client_status(MN)))
}

/// A Binding Update as the node sends one, built here from the RFC's fields.
fn update(sequence: u16, mn: &MnId, prefix: Ipv6Net, care_of: Ipv6Addr) -> MobilityHeader {
    MobilityHeader::Pbu(Pbu {
        sequence,
        flags: PbuFlags::A | PbuFlags::H,
        lifetime: Lifetime::from_duration_floor(Duration::from_secs(20)),
        options: vec![
            MobilityOption::MnId(mn.clone()),
            MobilityOption::Timestamp(Timestamp::from_system_time(SystemTime::now())),
            MobilityOption::HomeNetworkPrefix(prefix),
            MobilityOption::AlternateCareOfAddress(care_of),
        ],
    })
}

/// Sends `message` from `from` (in the node's namespace) to `to` and returns the status of the
/// acknowledgement with its sequence number.
fn send_update(
    sc: &GrownScenario,
    from: Ipv6Addr,
    to: Ipv6Addr,
    message: &MobilityHeader,
) -> Status {
    let MobilityHeader::Pbu(bu) = message else {
        panic!("an update")
    };
    let sequence = bu.sequence;
    let wire = message.encode(from, to).expect("encodes");
    in_netns(&sc.grown.ns(MN), || {
        let socket = MhSocket::bind(from).expect("a Mobility Header socket");
        socket
            .set_read_timeout(Some(Duration::from_millis(200)))
            .expect("timeout");
        socket.send(to, &wire).expect("sent");
        let end = Instant::now() + DEADLINE;
        while Instant::now() < end {
            let Ok((bytes, sender)) = socket.recv() else {
                continue;
            };
            if sender != to {
                continue;
            }
            if let Ok(MobilityHeader::Pba(ba)) = MobilityHeader::decode(&bytes, sender, from)
                && ba.sequence == sequence
            {
                return ba.status;
            }
        }
        panic!("no acknowledgement of update {sequence} from {to}")
    })
}

/// An IPv6 UDP packet (header and payload, checksum 0 is not allowed in IPv6: computed).
fn udp_packet(src: Ipv6Addr, dst: Ipv6Addr, port: u16, payload: &[u8]) -> Vec<u8> {
    let builder = etherparse::PacketBuilder::ipv6(src.octets(), dst.octets(), 64).udp(40000, port);
    let mut bytes = Vec::with_capacity(builder.size(payload.len()));
    builder.write(&mut bytes, payload).expect("builds");
    bytes
}

/// Sends `inner` (an IPv6 packet) as the payload of an IPv6 packet with next header 41 from
/// `src` to `dst`: the kernel writes the outer header.
fn send_ip6ip6(src: Ipv6Addr, dst: Ipv6Addr, inner: &[u8]) {
    let socket =
        Socket::new(Domain::IPV6, Type::RAW, Some(Protocol::from(41))).expect("raw socket");
    socket
        .bind(&SockAddr::from(SocketAddrV6::new(src, 0, 0, 0)))
        .expect("bind");
    socket
        .send_to(inner, &SockAddr::from(SocketAddrV6::new(dst, 0, 0, 0)))
        .expect("sent");
}

/// The tunnels at router `at`, where the node has address `a3`: on the core's link to `at`,
/// P1's downlink as IPv6-in-IPv6 from AR1's locator to `a3` (AR1 encapsulated it to the node
/// itself); the node's own tunnel to AR1 as the node sent it (`at`'s access link), and on the
/// core's link, each packet the same but for the outer hop limit (`at` forwarded it untouched).
fn check_captures(at: &str, core: &Path, access: &Path, ar1: Ipv6Addr, a1: Ipv6Addr, a3: Ipv6Addr) {
    let fields = |file: &Path, src: Ipv6Addr, dst: Ipv6Addr| -> Vec<(String, String, String)> {
        let filter = format!("ipv6.src == {src} && ipv6.dst == {dst} && ipv6.nxt == 41");
        tshark(
            file,
            &[
                "-Y",
                &filter,
                "-T",
                "fields",
                "-e",
                "ipv6.src",
                "-e",
                "ipv6.dst",
                "-e",
                "ipv6.hlim",
                "-e",
                "tcp.seq_raw",
            ],
        )
        .lines()
        .filter_map(|line| {
            let parts: Vec<&str> = line.split('\t').collect();
            Some((
                format!("{} > {}", parts.first()?, parts.get(1)?),
                (*parts.get(2)?).to_owned(),
                (*parts.get(3)?).to_owned(),
            ))
        })
        .collect()
    };
    let downlink = fields(core, ar1, a3);
    assert!(
        !downlink.is_empty(),
        "no IPv6-in-IPv6 from AR1 ({ar1}) to the node at {a3} on the core's link to {at}"
    );
    let expected = format!("{ar1},{a3} > {a3},{a1}");
    for (addresses, _, _) in &downlink {
        // ipv6.src lists the outer then the inner source; ipv6.dst likewise.
        let (srcs, dsts) = addresses.split_once(" > ").expect("two fields");
        let srcs: Vec<&str> = srcs.split(',').collect();
        assert_eq!(
            format!(
                "{},{} > {dsts}",
                srcs[0],
                dsts.split(',').next().unwrap_or("")
            ),
            expected,
            "outer from AR1 to the node's P3 address, inner to its P1 address"
        );
    }
    let sent = fields(access, a3, ar1);
    let forwarded = fields(core, a3, ar1);
    assert!(
        !sent.is_empty(),
        "no tunnel packet from the node to AR1 at AR3"
    );
    assert!(
        !forwarded.is_empty(),
        "no tunnel packet from the node to AR1 left AR3"
    );
    // The router's kernel may merge consecutive segments (GRO) before forwarding: each packet that
    // left starts with a packet the node sent, hop limit one more.
    let untouched = forwarded
        .iter()
        .filter(|(addresses, hops, seq)| {
            let one_more = hops
                .split_once(',')
                .and_then(|(outer, inner)| {
                    Some(format!(
                        "{},{inner}",
                        outer.parse::<u8>().ok()?.checked_add(1)?
                    ))
                })
                .unwrap_or_default();
            sent.contains(&(addresses.clone(), one_more, seq.clone()))
        })
        .count();
    assert!(
        untouched * 10 >= forwarded.len() * 9,
        "{untouched} of {} tunnel packets from the node to AR1 left {at} untouched",
        forwarded.len()
    );
    println!(
        "client: at {at}, {} packets AR1 encapsulated to {a3}; {untouched} of {} packets of the \
         node's tunnel to AR1 forwarded untouched",
        downlink.len(),
        forwarded.len()
    );
}

/// Without `insecure_signaling`, an anchor that takes Binding Updates needs the kernel to require
/// ESP for the Mobility Header with every node (`::/0`), both ways: the start-up check refuses
/// without such policies and passes with them (manual transport-mode policies, in a namespace
/// of its own).
#[test]
fn client_bindings_need_esp_with_every_node() {
    let locator: Ipv6Addr = "2001:db8:f1::2".parse().expect("address");
    let config: anchor_maar::MaarConfig = toml::from_str(
        "client_bindings = true\n[[pool]]\nprefix = \"2001:db8:a1::/48\"\npolicy = \"session-lasting\"\n",
    )
    .expect("a [maar] section");
    config.validate(locator).expect("valid without a CMD");
    let ns = anchor_rig::Netns::create("anchor-clesp", "x").unwrap_or_else(|e| panic!("{e:#}"));
    let refused = anchor_rig::netns::within(ns.name(), || {
        anchor_maar::check_security(&config, locator).map_err(|e| e.to_string())
    })
    .unwrap_or_else(|e| panic!("{e:#}"));
    let error = refused.expect_err("no XFRM policy: the check must refuse");
    assert!(
        error.contains("no XFRM policy requires ESP") && error.contains("peer ::"),
        "the refusal should name every node (::): {error}"
    );
    for (dir, src, dst) in [
        ("out", "2001:db8:f1::2/128", "::/0"),
        ("in", "::/0", "2001:db8:f1::2/128"),
    ] {
        ns.ip(&format!(
            "xfrm policy add src {src} dst {dst} proto 135 dir {dir} tmpl proto esp mode transport"
        ))
        .unwrap_or_else(|e| panic!("cannot add the XFRM policy: {e:#}"));
    }
    let accepted = anchor_rig::netns::within(ns.name(), || {
        anchor_maar::check_security(&config, locator).map_err(|e| e.to_string())
    })
    .unwrap_or_else(|e| panic!("{e:#}"));
    assert_eq!(accepted, Ok(()), "ESP required both ways with ::/0");
}
