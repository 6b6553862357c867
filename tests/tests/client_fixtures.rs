//! BPF_PROG_TEST_RUN fixtures for the mobile node's programs of client-based DMM (RFC 8818
//! section 3.1.2): `client_decap` (XDP) and `client_encap` (TC egress).
//!
//! Each case gives the input frame, the expected verdict, the exact expected output frame (built
//! here with etherparse, never by the code under test) and the expected counter deltas. The
//! programs are loaded without being attached (`ClientDatapath::load_detached`), in the fixture
//! namespace, whose `fxa` (MTU 1500) stands for the node's interface in the MTU cases.

use std::net::Ipv6Addr;

use anchor_common::ClientCounter;
use anchor_rig::fixture_net::ACCESS_DEV;
use anchor_tests::{
    client::{
        TC_ACT_OK, TC_ACT_SHOT, assert_client_deltas, client_counters, run_tc, tc_action_name,
    },
    fixture::fixture_net,
    xdp::{XDP_DROP, XDP_PASS, action_name, assert_frame, run_program},
};
use anchor_user::client_node::datapath::ClientDatapath;
use etherparse::{
    EtherType, Ethernet2Header, IpNumber, Ipv6FlowLabel, Ipv6Header, PacketBuilder, TcpHeader,
    UdpHeader,
};
use ipnet::Ipv6Net;

const NODE_MAC: [u8; 6] = [2, 0, 0, 0, 0, 0x10];
const ROUTER_MAC: [u8; 6] = [2, 0, 0, 0, 0, 0x20];
/// The anchor that delegated 2001:db8:a:1::/64 to the node.
const ANCHOR: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 0xa, 0, 0, 0, 0, 1);
/// A second anchor, whose tunnels are accepted, with no /64 of the node's.
const ANCHOR_B: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 0xb, 0, 0, 0, 0, 1);
/// A host that is no anchor.
const STRANGER: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 0xee, 0, 0, 0, 0, 0x66);
/// The node's address in the tunnelled /64 (from the anchor), and its current address (the
/// care-of address, from the router it is attached to now).
const HOME: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 0xa, 1, 0, 0, 0, 0x100);
const COA: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 0xc, 1, 0, 0, 0, 0x100);
/// A correspondent.
const CN: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 0xf, 0, 0, 0, 0, 2);
const INNER_TC: u8 = 0x28;
const INNER_LABEL: u32 = 0xabcde;
const IFACE_MTU: usize = 1500;

// ---- Frames, built with etherparse ----

fn ethernet(dst: [u8; 6], src: [u8; 6], ether_type: EtherType, payload: &[u8]) -> Vec<u8> {
    let mut f = Ethernet2Header {
        source: src,
        destination: dst,
        ether_type,
    }
    .to_bytes()
    .to_vec();
    f.extend_from_slice(payload);
    f
}

/// A frame toward the node (from its router).
fn rx(ip: &[u8]) -> Vec<u8> {
    ethernet(NODE_MAC, ROUTER_MAC, EtherType::IPV6, ip)
}

/// A frame the node sends (to its router).
fn tx(ip: &[u8]) -> Vec<u8> {
    ethernet(ROUTER_MAC, NODE_MAC, EtherType::IPV6, ip)
}

fn ipv6_header(src: Ipv6Addr, dst: Ipv6Addr, next: IpNumber, payload_len: usize) -> Ipv6Header {
    Ipv6Header {
        traffic_class: INNER_TC,
        flow_label: Ipv6FlowLabel::try_new(INNER_LABEL).expect("20 bits"),
        payload_length: u16::try_from(payload_len).expect("a test packet"),
        next_header: next,
        hop_limit: 64,
        source: src.octets(),
        destination: dst.octets(),
    }
}

/// An IPv6 UDP packet (header and all) with a `len`-byte payload, its traffic class and flow
/// label set.
fn udp(src: Ipv6Addr, dst: Ipv6Addr, len: usize) -> Vec<u8> {
    let payload: Vec<u8> = (0..len)
        .map(|i| u8::try_from(i % 251).expect("below 251"))
        .collect();
    let ip = ipv6_header(src, dst, IpNumber::UDP, UdpHeader::LEN + len);
    let udp = UdpHeader::with_ipv6_checksum(5000, 6000, &ip, &payload).expect("udp");
    let mut p = ip.to_bytes().to_vec();
    p.extend_from_slice(&udp.to_bytes());
    p.extend_from_slice(&payload);
    p
}

/// An IPv6 TCP packet (PSH/ACK, 100 bytes of payload).
fn tcp(src: Ipv6Addr, dst: Ipv6Addr) -> Vec<u8> {
    let payload = [0x5au8; 100];
    let mut tcp = TcpHeader::new(40_000, 443, 0x0102_0304, 65_000);
    tcp.ack = true;
    tcp.psh = true;
    tcp.acknowledgment_number = 0x0a0b_0c0d;
    let ip = ipv6_header(src, dst, IpNumber::TCP, tcp.header_len() + payload.len());
    tcp.checksum = tcp.calc_checksum_ipv6(&ip, &payload).expect("tcp");
    let mut p = ip.to_bytes().to_vec();
    p.extend_from_slice(&tcp.to_bytes());
    p.extend_from_slice(&payload);
    p
}

/// `inner` in IPv6-in-IPv6 from `src` to `dst`: the outer header as RFC 2473 and the client
/// programs write it (traffic class and flow label of the inner header, next header 41, hop
/// limit 64).
fn tunnelled(src: Ipv6Addr, dst: Ipv6Addr, inner: &[u8]) -> Vec<u8> {
    let inner_header = Ipv6Header::from_slice(inner).expect("inner IPv6").0;
    let outer = Ipv6Header {
        traffic_class: inner_header.traffic_class,
        flow_label: inner_header.flow_label,
        payload_length: u16::try_from(inner.len()).expect("a test packet"),
        next_header: IpNumber::IPV6,
        hop_limit: 64,
        source: src.octets(),
        destination: dst.octets(),
    };
    let mut p = outer.to_bytes().to_vec();
    p.extend_from_slice(inner);
    p
}

fn ipv4_frame() -> Vec<u8> {
    let builder = PacketBuilder::ethernet2(ROUTER_MAC, NODE_MAC)
        .ipv4([192, 0, 2, 1], [192, 0, 2, 2], 64)
        .udp(5000, 6000);
    let payload = [1u8; 32];
    let mut f = Vec::with_capacity(builder.size(payload.len()));
    builder.write(&mut f, &payload).expect("ipv4 frame");
    f
}

/// An ARP request for 192.0.2.2 from 192.0.2.1, hand-built (RFC 826).
fn arp_frame() -> Vec<u8> {
    let mut arp = vec![0, 1, 0x08, 0x00, 6, 4, 0, 1];
    arp.extend_from_slice(&ROUTER_MAC);
    arp.extend_from_slice(&[192, 0, 2, 1]);
    arp.extend_from_slice(&[0; 6]);
    arp.extend_from_slice(&[192, 0, 2, 2]);
    ethernet([0xff; 6], ROUTER_MAC, EtherType::ARP, &arp)
}

/// `frame` (Ethernet + IPv6) with the IP version field set to 4.
fn version_4(mut frame: Vec<u8>) -> Vec<u8> {
    frame[14] = 0x40 | (frame[14] & 0x0f);
    frame
}

/// The MTU of `dev` in the calling thread's network namespace (sysfs shows the host's).
fn mtu(dev: &str) -> usize {
    let out = std::process::Command::new("ip")
        .args(["-o", "link", "show", "dev", dev])
        .output()
        .expect("run ip");
    assert!(out.status.success(), "ip link show dev {dev}");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let mut words = text.split_whitespace();
    words
        .find(|w| *w == "mtu")
        .and_then(|_| words.next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no MTU in {text:?}"))
}

// ---- Cases ----

enum Output {
    Unchanged,
    Frame(Vec<u8>),
    Dropped,
}

struct Case {
    name: &'static str,
    input: Vec<u8>,
    verdict: u32,
    output: Output,
    counter: ClientCounter,
}

fn case(
    name: &'static str,
    input: Vec<u8>,
    verdict: u32,
    output: Output,
    counter: ClientCounter,
) -> Case {
    Case {
        name,
        input,
        verdict,
        output,
        counter,
    }
}

#[derive(Clone, Copy)]
enum Hook {
    Xdp,
    /// TC egress of the device with this index (0: loopback).
    TcEgress(u32),
}

fn datapath() -> ClientDatapath {
    fixture_net();
    let mut dp = ClientDatapath::load_detached().expect("load the client programs");
    dp.set_anchor(ANCHOR).expect("anchor");
    dp.set_anchor(ANCHOR_B).expect("anchor");
    let home: Ipv6Net = "2001:db8:a:1::/64".parse().expect("prefix");
    dp.set_tunnel(home, ANCHOR, COA).expect("tunnel");
    dp
}

fn check(dp: &ClientDatapath, hook: Hook, case: &Case) {
    let before = client_counters(dp);
    let (out, name) = match hook {
        Hook::Xdp => {
            let program = dp.decap_program().expect("client_decap");
            let out = run_program(program, &case.input, 1);
            let name = action_name(out.action);
            (out, (name, action_name(case.verdict)))
        }
        Hook::TcEgress(ifindex) => {
            let program = dp.encap_program().expect("client_encap");
            let out = run_tc(program, &case.input, ifindex);
            let name = tc_action_name(out.action);
            (out, (name, tc_action_name(case.verdict)))
        }
    };
    let after = client_counters(dp);
    assert_eq!(name.0, name.1, "{}: verdict", case.name);
    match &case.output {
        Output::Unchanged => assert_frame(case.name, &out.frame, &case.input),
        Output::Frame(f) => assert_frame(case.name, &out.frame, f),
        Output::Dropped => {}
    }
    assert_client_deltas(case.name, &before, &after, &[(case.counter, 1)]);
}

fn check_all(dp: &ClientDatapath, hook: Hook, cases: &[Case]) {
    for c in cases {
        check(dp, hook, c);
    }
}

/// IPv6-in-IPv6 toward the node: from its anchors, from another host, malformed.
fn tunnel_cases() -> Vec<Case> {
    let inner_udp = udp(CN, HOME, 64);
    let inner_tcp = tcp(CN, HOME);
    let from_anchor = rx(&tunnelled(ANCHOR, COA, &inner_udp));
    let mut truncated = from_anchor.clone();
    truncated.truncate(from_anchor.len() - 10);
    let mut truncated_stranger = rx(&tunnelled(STRANGER, COA, &inner_udp));
    truncated_stranger.truncate(14 + 40 + 20);
    // The outer payload is the inner header alone: the inner payload lies outside it.
    let mut inner_overflows = tunnelled(ANCHOR, COA, &inner_udp);
    inner_overflows[4..6].copy_from_slice(&40u16.to_be_bytes());
    // The inner header is not IPv6.
    let mut inner_v4 = tunnelled(ANCHOR, COA, &inner_udp);
    inner_v4[40] = 0x45;
    vec![
        case(
            "UDP from the anchor: the inner frame, with the frame's MACs",
            from_anchor,
            XDP_PASS,
            Output::Frame(rx(&inner_udp)),
            ClientCounter::Decapsulated,
        ),
        case(
            "TCP from the second anchor",
            rx(&tunnelled(ANCHOR_B, COA, &inner_tcp)),
            XDP_PASS,
            Output::Frame(rx(&inner_tcp)),
            ClientCounter::Decapsulated,
        ),
        case(
            "a tunnel from a host that is no anchor",
            rx(&tunnelled(STRANGER, COA, &inner_udp)),
            XDP_DROP,
            Output::Dropped,
            ClientCounter::RefusedTunnel,
        ),
        case(
            "a truncated tunnel frame from a host that is no anchor is refused first",
            truncated_stranger,
            XDP_DROP,
            Output::Dropped,
            ClientCounter::RefusedTunnel,
        ),
        case(
            "a tunnel frame from the anchor cut 10 bytes short",
            truncated,
            XDP_PASS,
            Output::Unchanged,
            ClientCounter::Malformed,
        ),
        case(
            "an inner packet longer than the outer payload",
            rx(&inner_overflows),
            XDP_PASS,
            Output::Unchanged,
            ClientCounter::Malformed,
        ),
        case(
            "an inner header that is not IPv6",
            rx(&inner_v4),
            XDP_PASS,
            Output::Unchanged,
            ClientCounter::Malformed,
        ),
    ]
}

/// Every other frame toward the node. (BPF_PROG_TEST_RUN refuses a frame shorter than an
/// Ethernet header, so that case is not here.)
fn other_frame_cases() -> Vec<Case> {
    let mut short_ipv6 = rx(&udp(CN, COA, 8));
    short_ipv6.truncate(14 + 30);
    vec![
        case(
            "plain IPv6 to the node",
            rx(&udp(CN, COA, 64)),
            XDP_PASS,
            Output::Unchanged,
            ClientCounter::Passed,
        ),
        case(
            "IPv4",
            ipv4_frame(),
            XDP_PASS,
            Output::Unchanged,
            ClientCounter::Passed,
        ),
        case(
            "ARP",
            arp_frame(),
            XDP_PASS,
            Output::Unchanged,
            ClientCounter::Passed,
        ),
        case(
            "an IPv6 header cut short",
            short_ipv6,
            XDP_PASS,
            Output::Unchanged,
            ClientCounter::Malformed,
        ),
        case(
            "an IPv6 frame whose header says version 4",
            version_4(rx(&udp(CN, COA, 8))),
            XDP_PASS,
            Output::Unchanged,
            ClientCounter::Malformed,
        ),
    ]
}

#[test]
fn decap_accepts_the_anchors_and_refuses_other_tunnels() {
    let dp = datapath();
    check_all(&dp, Hook::Xdp, &tunnel_cases());
    check_all(&dp, Hook::Xdp, &other_frame_cases());
}

#[test]
fn decap_follows_the_anchor_set() {
    let mut dp = datapath();
    let inner = udp(CN, HOME, 16);
    let frame = rx(&tunnelled(ANCHOR, COA, &inner));
    let accepted = case(
        "from the anchor",
        frame.clone(),
        XDP_PASS,
        Output::Frame(rx(&inner)),
        ClientCounter::Decapsulated,
    );
    let refused = case(
        "from a removed anchor",
        frame,
        XDP_DROP,
        Output::Dropped,
        ClientCounter::RefusedTunnel,
    );
    check(&dp, Hook::Xdp, &accepted);
    assert!(dp.remove_anchor(ANCHOR).expect("remove anchor"));
    check(&dp, Hook::Xdp, &refused);
    dp.set_anchor(ANCHOR).expect("anchor again");
    check(&dp, Hook::Xdp, &accepted);
}

#[test]
fn encap_tunnels_the_uplink_of_the_tunnelled_64() {
    let dp = datapath();
    let udp_up = udp(HOME, CN, 64);
    let tcp_up = tcp(HOME, CN);
    // BPF_PROG_TEST_RUN refuses an skb of type IPv6 shorter than an IPv6 header (EINVAL): the
    // malformed case here is a whole header with another version.
    let not_v6 = version_4(tx(&udp(HOME, CN, 8)));
    let solicited: Ipv6Addr = "ff02::1:ff00:1".parse().expect("address");
    let link_local: Ipv6Addr = "fe80::1".parse().expect("address");
    let cases = [
        case(
            "UDP from the tunnelled /64",
            tx(&udp_up),
            TC_ACT_OK,
            Output::Frame(tx(&tunnelled(COA, ANCHOR, &udp_up))),
            ClientCounter::Encapsulated,
        ),
        case(
            "TCP from the tunnelled /64",
            tx(&tcp_up),
            TC_ACT_OK,
            Output::Frame(tx(&tunnelled(COA, ANCHOR, &tcp_up))),
            ClientCounter::Encapsulated,
        ),
        case(
            "UDP from the care-of address's /64 (no tunnel)",
            tx(&udp(COA, CN, 64)),
            TC_ACT_OK,
            Output::Unchanged,
            ClientCounter::NotTunnelled,
        ),
        case(
            "from the tunnelled /64 to a solicited-node multicast address",
            tx(&udp(HOME, solicited, 16)),
            TC_ACT_OK,
            Output::Unchanged,
            ClientCounter::Passed,
        ),
        case(
            "from the tunnelled /64 to a link-local address",
            tx(&udp(HOME, link_local, 16)),
            TC_ACT_OK,
            Output::Unchanged,
            ClientCounter::Passed,
        ),
        case(
            "IPv4",
            ipv4_frame(),
            TC_ACT_OK,
            Output::Unchanged,
            ClientCounter::Passed,
        ),
        case(
            "an IPv6 frame from the tunnelled /64 whose header says version 4",
            not_v6,
            TC_ACT_OK,
            Output::Unchanged,
            ClientCounter::Malformed,
        ),
    ];
    check_all(&dp, Hook::TcEgress(0), &cases);
}

#[test]
fn encap_drops_what_would_exceed_the_mtu() {
    let dp = datapath();
    let net = fixture_net();
    let ifindex = net.access_ifindex;
    assert_eq!(mtu(ACCESS_DEV), IFACE_MTU, "the fixture's MTU");
    // IPv6 packets of MTU - 40 and MTU - 39 bytes (header and UDP header included).
    let fits = udp(HOME, CN, IFACE_MTU - 40 - 40 - 8);
    let too_big = udp(HOME, CN, IFACE_MTU - 40 - 40 - 8 + 1);
    assert_eq!(fits.len() + 40, IFACE_MTU);
    let cases = [
        case(
            "a packet that fills the MTU once encapsulated",
            tx(&fits),
            TC_ACT_OK,
            Output::Frame(tx(&tunnelled(COA, ANCHOR, &fits))),
            ClientCounter::Encapsulated,
        ),
        case(
            "a packet one byte too big to encapsulate",
            tx(&too_big),
            TC_ACT_SHOT,
            Output::Dropped,
            ClientCounter::EncapFailed,
        ),
        case(
            "a packet too big to encapsulate from another /64 is not the program's",
            tx(&udp(COA, CN, IFACE_MTU - 40 - 8)),
            TC_ACT_OK,
            Output::Unchanged,
            ClientCounter::NotTunnelled,
        ),
    ];
    check_all(&dp, Hook::TcEgress(ifindex), &cases);
}
