//! Tunnel packets that no binding asked for, on the grown rig of
//! `rig/topologies/three-ars.toml`: the node attached at AR1 moved to AR2, so AR2 decapsulates
//! the node's old prefix P1 from AR1, its home, and from nobody else.
//!
//! 1. AR3, a router of the domain and so a peer of the others, sends AR2 IPv6-in-IPv6 packets
//!    for P1, which it does not anchor: AR2 drops every one as from an unknown peer.
//! 2. The correspondent, no router at all, sends AR2 the same: dropped the same way.
//!
//! Each counted exactly (`drop_decap_unknown_peer`, and `decap` unchanged), none reaching the
//! node; the same packet from AR1, the home, is decapsulated and reaches it.

use std::{
    net::{Ipv6Addr, SocketAddrV6, UdpSocket},
    time::Duration,
};

use anchor_packet::Udp6;
use anchor_rig::grown::{Spec, THREE_ARS, plan::CN, spec::Policy};
use anchor_tests::{
    grown::{GrownScenario, wait_until_right},
    scenario::DEADLINE,
    support::{global_counter, in_netns},
};
use socket2::{Domain, Protocol, Socket, Type};

const MN: &str = "mn1";
/// The inner packets' UDP port at the node.
const PORT: u16 = 7097;
const PACKETS: u64 = 5;

#[test]
fn tunnels_from_a_peer_that_does_not_anchor_the_prefix_or_from_a_stranger_are_dropped() {
    let mut spec = Spec::parse(THREE_ARS, "rig/topologies/three-ars.toml")
        .unwrap_or_else(|e| panic!("the sample topology: {e}"));
    spec.maar.policy = Policy::SessionLasting;
    spec.maar.idle_release_s = Some(600);
    for mn in &mut spec.mobile_nodes {
        mn.start_at = None;
    }
    let sc = GrownScenario::start("ht", &spec);
    sc.grown
        .attach(MN, "ar1")
        .unwrap_or_else(|e| panic!("{e:#}"));
    let p1 = sc.first_prefix("ar1");
    let address = sc.slaac(MN, p1);
    sc.wait_for_address(MN, "ar1", address, true);
    sc.grown
        .move_node(MN, "ar1", "ar2")
        .unwrap_or_else(|e| panic!("{e:#}"));
    let ar1 = sc.locator("ar1").to_string();
    wait_until_right("AR2 visited by P1 from AR1", DEADLINE, || {
        let visiting = sc.binding("ar2", p1);
        let right = visiting
            .as_ref()
            .is_some_and(|b| b["kind"] == "visiting" && b["peer"] == ar1.as_str());
        (!right).then(|| format!("AR2: {visiting:?}"))
    });
    sc.wait_for_address(MN, "ar2", address, false);
    let receiver = in_netns(&sc.grown.ns(MN), || {
        UdpSocket::bind((Ipv6Addr::UNSPECIFIED, PORT)).expect("the node's receiver")
    });
    receiver
        .set_read_timeout(Some(Duration::from_millis(500)))
        .expect("read timeout");

    let ar2 = sc.locator("ar2");
    let cn = spec.correspondent.address;
    for (sender_ns, outer_source, what) in [
        (
            sc.grown.ns("ar3"),
            sc.locator("ar3"),
            "AR3, a peer that does not anchor P1",
        ),
        (sc.grown.ns(CN), cn, "the correspondent, no router"),
    ] {
        let router = sc.router("ar2");
        let (dropped, decapsulated) = (
            global_counter(router, "drop_decap_unknown_peer"),
            global_counter(router, "decap"),
        );
        // A well-formed inner packet (etherparse, with its checksum): the node would take it.
        let inner = Udp6 {
            dport: PORT,
            ..Udp6::new(cn, address)
        }
        .bytes();
        in_netns(&sender_ns, || {
            let socket = Socket::new(Domain::IPV6, Type::RAW, Some(Protocol::from(41)))
                .expect("a raw IPv6-in-IPv6 socket");
            socket
                .bind(&SocketAddrV6::new(outer_source, 0, 0, 0).into())
                .unwrap_or_else(|e| panic!("bind {outer_source}: {e}"));
            for _ in 0..PACKETS {
                socket
                    .send_to(&inner, &SocketAddrV6::new(ar2, 0, 0, 0).into())
                    .unwrap_or_else(|e| panic!("send to {ar2}: {e}"));
            }
        });
        wait_until_right(
            &format!("AR2 dropping {what}'s tunnel packets"),
            DEADLINE,
            || {
                let now = global_counter(router, "drop_decap_unknown_peer");
                (now < dropped + PACKETS).then(|| format!("{} of {PACKETS} dropped", now - dropped))
            },
        );
        assert_eq!(
            global_counter(router, "drop_decap_unknown_peer") - dropped,
            PACKETS,
            "AR2 should drop exactly the {PACKETS} packets of {what}"
        );
        assert_eq!(
            global_counter(router, "decap"),
            decapsulated,
            "AR2 should decapsulate none of {what}'s packets"
        );
        let mut buffer = [0_u8; 64];
        assert!(
            receiver.recv(&mut buffer).is_err(),
            "a packet of {what} reached the node"
        );
    }
    // The control: the same packet from AR1, the home of P1, is decapsulated and delivered.
    home_tunnel_reaches_the_node(&sc, &receiver, cn, address);
    sc.stop();
}

/// Sends the node's UDP packet through a tunnel from AR1, the home of its prefix, to AR2: it is
/// decapsulated (exactly one `decap`) and received.
fn home_tunnel_reaches_the_node(
    sc: &GrownScenario,
    receiver: &UdpSocket,
    cn: Ipv6Addr,
    address: Ipv6Addr,
) {
    let ar2 = sc.locator("ar2");
    let router = sc.router("ar2");
    let decapsulated = global_counter(router, "decap");
    let inner = Udp6 {
        dport: PORT,
        ..Udp6::new(cn, address)
    }
    .bytes();
    let home = sc.locator("ar1");
    in_netns(&sc.grown.ns("ar1"), || {
        let socket = Socket::new(Domain::IPV6, Type::RAW, Some(Protocol::from(41)))
            .expect("a raw IPv6-in-IPv6 socket");
        socket
            .bind(&SocketAddrV6::new(home, 0, 0, 0).into())
            .unwrap_or_else(|e| panic!("bind {home}: {e}"));
        socket
            .send_to(&inner, &SocketAddrV6::new(ar2, 0, 0, 0).into())
            .unwrap_or_else(|e| panic!("send to {ar2}: {e}"));
    });
    let mut buffer = [0_u8; 64];
    receiver
        .set_read_timeout(Some(DEADLINE))
        .expect("read timeout");
    let length = receiver
        .recv(&mut buffer)
        .expect("the home anchor's tunnel packet should reach the node");
    assert_eq!(length, 32, "the inner packet's payload");
    assert_eq!(global_counter(router, "decap"), decapsulated + 1);
}
