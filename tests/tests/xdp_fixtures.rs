//! Table-driven BPF_PROG_TEST_RUN fixtures for every behaviour of the XDP program.
//!
//! Each case gives the input frame, the ingress interface, the expected verdict, the exact
//! expected output frame (built with etherparse, never by the code under test) and the expected
//! counter deltas. All cases share one map state, set up in `Fixture::new`.

use std::{net::Ipv6Addr, time::Duration};

use anchor_common::{Counter, IfaceRole, IfaceValue, NextHop};
use anchor_packet::{
    Ext, Udp6, encapsulate, ethernet, ethernet_vlan, ipv4_udp_frame, packet_too_big,
};
use anchor_rig::fixture_net::{ACCESS_MAC, CORE_MAC, FixtureNet};
use anchor_tests::{
    fixture::{
        CN, IN_SHORT, LINK_LOCAL, LOCATOR, MN1, MN3, MN4, MN7, OUTER_HL, PEER_MAC, R2, R3, R7,
        SOLICITED_NODE, STRANGER, TUNNEL_MTU, UNBOUND, encapsulated, fixture_net,
        load_small_datapath,
    },
    xdp::{
        XDP_DROP, XDP_PASS, XDP_REDIRECT, XDP_TX, action_name, assert_deltas, assert_frame,
        counters, run,
    },
};
use anchor_user::{
    datapath::{AccessLink, AccessSource, BindingSpec, Datapath, DatapathParams},
    routing::NextHopResolver,
};
use ipnet::Ipv6Net;

/// A /64 of the pool of MN1's /64, with no binding.
const POOL_UNBOUND: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 1, 2, 0, 0, 0, 1);
const IN_SHORT_HASHED: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 0x5600, 7, 0, 0, 0, 1);

const MAC_R2: [u8; 6] = [2, 0, 0, 0, 0, 2];
const MAC_R3: [u8; 6] = [2, 0, 0, 0, 0, 3];
const MAC_GW: [u8; 6] = [2, 0, 0, 0, 0, 9];
const MAC_MN3: [u8; 6] = [2, 0, 0, 0, 0, 0x64];
/// An anchor near correspondents (RFC 8818 Figure 6), neither home nor serving router here.
const CN_ANCHOR: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 0xc, 0, 0, 0, 0, 3);

const SLOT_P1: u32 = 1;
const SLOT_P3: u32 = 3;

#[derive(Clone, Copy)]
enum Ingress {
    Core,
    Access,
}

enum Output {
    Unchanged,
    Frame(Vec<u8>),
    Dropped,
}

struct Case {
    name: String,
    ingress: Ingress,
    input: Vec<u8>,
    verdict: u32,
    output: Output,
    counters: Vec<(Counter, u64)>,
}

struct Fixture {
    dp: Datapath,
    net: &'static FixtureNet,
    durations: Vec<Duration>,
}

fn prefix(s: &str) -> Ipv6Net {
    s.parse().expect("valid prefix")
}

impl Fixture {
    fn new() -> Self {
        let net = fixture_net();
        let mut dp = Datapath::load(&DatapathParams {
            locator: LOCATOR,
            tunnel_mtu: TUNNEL_MTU,
            outer_hop_limit: OUTER_HL,
            max_bindings: 1024,
            // MN1's, MN3's and R7's /64s are in pools (the dense table); MN4's, the short
            // prefix and the /64 inside it are not (the hash map and the trie).
            dense_pools: vec![
                prefix("2001:db8:1::/48"),
                prefix("2001:db8:3::/60"),
                prefix("2001:db8:7::/48"),
            ],
            log: false,
        })
        .expect("load the XDP program");
        dp.set_iface_role(net.core_ifindex, IfaceRole::Core)
            .expect("core role");
        dp.set_iface_role(net.access_ifindex, IfaceRole::Access)
            .expect("access role");
        let bindings = [
            ("2001:db8:1:1::/64", BindingSpec::redirect(R2, SLOT_P1)),
            (
                "2001:db8:3:3::/64",
                BindingSpec::visiting(R3, true, SLOT_P3),
            ),
            ("2001:db8:4:4::/64", BindingSpec::visiting(R3, false, 4)),
            ("2001:db8:5600::/56", BindingSpec::redirect(R3, 5)),
            ("2001:db8:5600:7::/64", BindingSpec::redirect(R2, 6)),
            ("2001:db8:7:7::/64", BindingSpec::redirect(R7, 7)),
        ];
        for (p, v) in bindings {
            dp.insert_binding(prefix(p), v).expect("insert binding");
        }
        Fixture {
            dp,
            net,
            durations: Vec::new(),
        }
    }

    fn check(&mut self, case: &Case) {
        let ifindex = match case.ingress {
            Ingress::Core => self.net.core_ifindex,
            Ingress::Access => self.net.access_ifindex,
        };
        let before = counters(&self.dp);
        let out = run(&self.dp, &case.input, ifindex);
        let after = counters(&self.dp);
        self.durations.push(out.duration);
        assert_eq!(
            action_name(out.action),
            action_name(case.verdict),
            "{}: verdict",
            case.name
        );
        match &case.output {
            Output::Unchanged => assert_frame(&case.name, &out.frame, &case.input),
            Output::Frame(f) => assert_frame(&case.name, &out.frame, f),
            Output::Dropped => {}
        }
        assert_deltas(&case.name, &before, &after, &case.counters);
    }

    fn check_all(&mut self, cases: &[Case]) {
        for c in cases {
            self.check(c);
        }
        let n = u32::try_from(self.durations.len()).expect("a few hundred runs");
        let total: Duration = self.durations.iter().sum();
        println!(
            "{n} runs, mean {:?} per run (includes test-run overhead)",
            total / n.max(1)
        );
    }
}

/// A frame as it arrives on a router port.
fn frame(ip: &[u8]) -> Vec<u8> {
    ethernet(CORE_MAC, PEER_MAC, ip)
}

fn udp(src: Ipv6Addr, dst: Ipv6Addr) -> Udp6 {
    Udp6::new(src, dst)
}

fn case(
    name: &str,
    ingress: Ingress,
    input: Vec<u8>,
    verdict: u32,
    output: Output,
    counters: &[Counter],
) -> Case {
    Case {
        name: name.to_string(),
        ingress,
        input,
        verdict,
        output,
        counters: counters.iter().map(|c| (*c, 1)).collect(),
    }
}

#[test]
#[expect(
    clippy::too_many_lines,
    reason = "table-driven: one case per path, each with its frames and counters"
)]
fn pass_through_and_encapsulation() {
    let mut fx = Fixture::new();
    let mut marked = udp(CN, MN1);
    marked.traffic_class = 0xb8;
    marked.flow_label = 0x12345;
    let mut hl2 = udp(CN, MN1);
    hl2.hop_limit = 2;
    let mut hl1 = udp(CN, MN1);
    hl1.hop_limit = 1;
    let cases = vec![
        case(
            "ipv4 passes",
            Ingress::Core,
            ipv4_udp_frame(CORE_MAC, PEER_MAC),
            XDP_PASS,
            Output::Unchanged,
            &[Counter::Rx, Counter::NonIpv6, Counter::Pass],
        ),
        case(
            "ipv6 without binding passes",
            Ingress::Core,
            frame(&udp(CN, UNBOUND).bytes()),
            XDP_PASS,
            Output::Unchanged,
            &[Counter::Rx, Counter::NoBinding, Counter::Pass],
        ),
        case(
            "ipv6 to a /64 of a pool without binding passes",
            Ingress::Core,
            frame(&udp(CN, POOL_UNBOUND).bytes()),
            XDP_PASS,
            Output::Unchanged,
            &[Counter::Rx, Counter::NoBinding, Counter::Pass],
        ),
        case(
            "encap toward the serving router, XDP_TX",
            Ingress::Core,
            frame(&udp(CN, MN1).bytes()),
            XDP_TX,
            to_peer(MAC_R2, R2, &udp(CN, MN1)),
            &[Counter::Rx, Counter::Encap, Counter::Tx],
        ),
        case(
            "encap copies the traffic class and keeps the inner flow label",
            Ingress::Core,
            frame(&marked.bytes()),
            XDP_TX,
            to_peer(MAC_R2, R2, &marked),
            &[Counter::Rx, Counter::Encap, Counter::Tx],
        ),
        case(
            "hop limit 2 is encapsulated with hop limit 1",
            Ingress::Core,
            frame(&hl2.bytes()),
            XDP_TX,
            to_peer(MAC_R2, R2, &hl2),
            &[Counter::Rx, Counter::Encap, Counter::Tx],
        ),
        case(
            "hop limit 1 goes to the kernel for Time Exceeded",
            Ingress::Core,
            frame(&hl1.bytes()),
            XDP_PASS,
            Output::Unchanged,
            &[Counter::Rx, Counter::HopLimitExceeded, Counter::Pass],
        ),
        case(
            "a /56 in the LPM trie",
            Ingress::Core,
            frame(&udp(CN, IN_SHORT).bytes()),
            XDP_TX,
            to_peer(MAC_R3, R3, &udp(CN, IN_SHORT)),
            &[Counter::Rx, Counter::LpmHit, Counter::Encap, Counter::Tx],
        ),
        case(
            "a /64 inside the /56 uses the hash entry",
            Ingress::Core,
            frame(&udp(CN, IN_SHORT_HASHED).bytes()),
            XDP_TX,
            to_peer(MAC_R2, R2, &udp(CN, IN_SHORT_HASHED)),
            &[Counter::Rx, Counter::Encap, Counter::Tx],
        ),
        case(
            "unresolved neighbour: encapsulated and left to the kernel",
            Ingress::Core,
            frame(&udp(CN, MN7).bytes()),
            XDP_PASS,
            Output::Frame(frame(&encapsulated(&udp(CN, MN7), R7, true))),
            &[Counter::Rx, Counter::Encap, Counter::KernelFallback],
        ),
        case(
            "VLAN-tagged: encapsulated inside the tag and left to the kernel",
            Ingress::Core,
            ethernet_vlan(CORE_MAC, PEER_MAC, 100, &udp(CN, MN1).bytes()),
            XDP_PASS,
            Output::Frame(ethernet_vlan(
                CORE_MAC,
                PEER_MAC,
                100,
                &encapsulated(&udp(CN, MN1), R2, true),
            )),
            &[
                Counter::Rx,
                Counter::Vlan,
                Counter::Encap,
                Counter::KernelFallback,
            ],
        ),
        case(
            "VLAN-tagged IPv6 without binding",
            Ingress::Core,
            ethernet_vlan(CORE_MAC, PEER_MAC, 100, &udp(CN, UNBOUND).bytes()),
            XDP_PASS,
            Output::Unchanged,
            &[
                Counter::Rx,
                Counter::Vlan,
                Counter::NoBinding,
                Counter::Pass,
            ],
        ),
    ];
    let stats_before = fx.dp.binding_stats(SLOT_P1).expect("binding stats");
    fx.check_all(&cases);
    let stats_after = fx.dp.binding_stats(SLOT_P1).expect("binding stats");
    // Four packets to P1 were encapsulated (the VLAN one too, not the hop-limit-1 one).
    let inner_len = udp(CN, MN1).bytes().len() as u64;
    assert_eq!(stats_after.packets[0] - stats_before.packets[0], 4);
    assert_eq!(stats_after.bytes[0] - stats_before.bytes[0], 4 * inner_len);
    assert_eq!(stats_after.packets[1], stats_before.packets[1]);
}

#[test]
fn packet_too_big_around_the_tunnel_mtu() {
    let mut fx = Fixture::new();
    let mut cases = Vec::new();
    // Encapsulated size = inner + 40; inner = 40 (IPv6) + 8 (UDP) + payload.
    for (encap_len, fits) in [
        (TUNNEL_MTU - 1, true),
        (TUNNEL_MTU, true),
        (TUNNEL_MTU + 1, false),
    ] {
        let mut p = udp(CN, MN1);
        p.payload_len = (encap_len - 40 - 48) as usize;
        let name = format!("encapsulated size {encap_len} with tunnel MTU {TUNNEL_MTU}");
        if fits {
            cases.push(case(
                &name,
                Ingress::Core,
                frame(&p.bytes()),
                XDP_TX,
                to_peer(MAC_R2, R2, &p),
                &[Counter::Rx, Counter::Encap, Counter::Tx],
            ));
        } else {
            let ptb = packet_too_big(LOCATOR, CN, OUTER_HL, TUNNEL_MTU - 40, &p.bytes());
            assert_eq!(ptb.len(), 1280);
            cases.push(case(
                &name,
                Ingress::Core,
                frame(&p.bytes()),
                XDP_TX,
                Output::Frame(ethernet(MAC_GW, CORE_MAC, &ptb)),
                &[Counter::Rx, Counter::PtbSent, Counter::Tx],
            ));
        }
    }
    // A jumbo-sized frame well above the MTU, arriving on the access side: PTB is redirected.
    let mut big = udp(CN, MN1);
    big.payload_len = 3000;
    cases.push(case(
        "3048-byte packet from the access side",
        Ingress::Access,
        frame(&big.bytes()),
        XDP_REDIRECT,
        Output::Frame(ethernet(
            MAC_GW,
            CORE_MAC,
            &packet_too_big(LOCATOR, CN, OUTER_HL, TUNNEL_MTU - 40, &big.bytes()),
        )),
        &[Counter::Rx, Counter::PtbSent, Counter::Redirect],
    ));
    fx.check_all(&cases);
}

#[test]
fn reverse_tunnel() {
    let mut fx = Fixture::new();
    let cases = vec![
        case(
            "visiting MN's uplink on an access interface goes home",
            Ingress::Access,
            frame(&udp(MN3, CN).bytes()),
            XDP_REDIRECT,
            to_peer(MAC_R3, R3, &udp(MN3, CN)),
            &[Counter::Rx, Counter::ReverseEncap, Counter::Redirect],
        ),
        case(
            "the visiting MN's neighbour solicitation to a multicast group stays on the link",
            Ingress::Access,
            frame(&udp(MN3, SOLICITED_NODE).bytes()),
            XDP_PASS,
            Output::Unchanged,
            &[Counter::Rx, Counter::LinkScope, Counter::Pass],
        ),
        case(
            "the visiting MN's packet to the router's link-local address stays on the link",
            Ingress::Access,
            frame(&udp(MN3, LINK_LOCAL).bytes()),
            XDP_PASS,
            Output::Unchanged,
            &[Counter::Rx, Counter::LinkScope, Counter::Pass],
        ),
        case(
            "visiting without reverse tunnelling is routed normally",
            Ingress::Access,
            frame(&udp(MN4, CN).bytes()),
            XDP_PASS,
            Output::Unchanged,
            &[Counter::Rx, Counter::NoBinding, Counter::Pass],
        ),
        case(
            "a visiting source arriving on a core interface is not reverse-tunnelled",
            Ingress::Core,
            frame(&udp(MN3, CN).bytes()),
            XDP_PASS,
            Output::Unchanged,
            &[Counter::Rx, Counter::NoBinding, Counter::Pass],
        ),
    ];
    let before = fx.dp.binding_stats(SLOT_P3).expect("binding stats");
    fx.check_all(&cases);
    let after = fx.dp.binding_stats(SLOT_P3).expect("binding stats");
    assert_eq!(
        after.packets[1] - before.packets[1],
        1,
        "from-MN packets of P3"
    );
    assert_eq!(after.packets[0], before.packets[0]);
}

/// `inner` encapsulated toward `peer` (flow label from its ports) and sent from the core
/// interface to `mac`.
fn to_peer(mac: [u8; 6], peer: Ipv6Addr, inner: &Udp6) -> Output {
    Output::Frame(ethernet(mac, CORE_MAC, &encapsulated(inner, peer, true)))
}

/// A tunnel packet from `outer_src` to our locator around `inner`.
fn tunnelled(outer_src: Ipv6Addr, inner: &Udp6) -> Vec<u8> {
    frame(&encapsulate(
        outer_src,
        LOCATOR,
        60,
        0,
        0x777,
        &inner.bytes(),
    ))
}

fn decapsulated(inner: &Udp6, dmac: [u8; 6], smac: [u8; 6]) -> Vec<u8> {
    let mut fwd = inner.clone();
    fwd.hop_limit -= 1;
    ethernet(dmac, smac, &fwd.bytes())
}

#[test]
fn decapsulation_and_tunnel_injection() {
    let mut fx = Fixture::new();
    let mut hl1 = udp(CN, MN3);
    hl1.hop_limit = 1;
    let cases = vec![
        case(
            "from the home router toward the visiting MN",
            Ingress::Core,
            tunnelled(R3, &udp(CN, MN3)),
            XDP_REDIRECT,
            Output::Frame(decapsulated(&udp(CN, MN3), MAC_MN3, ACCESS_MAC)),
            &[Counter::Rx, Counter::Decap, Counter::Redirect],
        ),
        case(
            "reverse tunnel from the serving router of an anchored prefix",
            Ingress::Core,
            tunnelled(R2, &udp(MN1, CN)),
            XDP_TX,
            Output::Frame(decapsulated(&udp(MN1, CN), MAC_GW, CORE_MAC)),
            &[Counter::Rx, Counter::Decap, Counter::Tx],
        ),
        case(
            "inner hop limit 1 is decapsulated and left to the kernel",
            Ingress::Core,
            tunnelled(R3, &hl1),
            XDP_PASS,
            Output::Frame(frame(&hl1.bytes())),
            &[
                Counter::Rx,
                Counter::Decap,
                Counter::HopLimitExceeded,
                Counter::KernelFallback,
            ],
        ),
        case(
            "spoofed: unknown outer source",
            Ingress::Core,
            tunnelled(STRANGER, &udp(CN, MN3)),
            XDP_DROP,
            Output::Dropped,
            &[Counter::Rx, Counter::DropDecapUnknownPeer],
        ),
        case(
            "spoofed: a known router for a prefix it is not the home of",
            Ingress::Core,
            tunnelled(R2, &udp(CN, MN3)),
            XDP_DROP,
            Output::Dropped,
            &[Counter::Rx, Counter::DropDecapUnknownPeer],
        ),
        case(
            "spoofed: a known router reverse-tunnelling a prefix it does not serve",
            Ingress::Core,
            tunnelled(R3, &udp(MN1, CN)),
            XDP_DROP,
            Output::Dropped,
            &[Counter::Rx, Counter::DropDecapUnknownPeer],
        ),
        case(
            "tunnel packet for prefixes without binding",
            Ingress::Core,
            tunnelled(R2, &udp(CN, UNBOUND)),
            XDP_DROP,
            Output::Dropped,
            &[Counter::Rx, Counter::DropDecapNoBinding],
        ),
        case(
            "IPv6-in-IPv6 to another address is not ours to open",
            Ingress::Core,
            frame(&encapsulate(R2, R3, 60, 0, 0, &udp(CN, MN3).bytes())),
            XDP_PASS,
            Output::Unchanged,
            &[Counter::Rx, Counter::NoBinding, Counter::Pass],
        ),
    ];
    let before = fx.dp.binding_stats(SLOT_P3).expect("binding stats");
    fx.check_all(&cases);
    let after = fx.dp.binding_stats(SLOT_P3).expect("binding stats");
    assert_eq!(
        after.packets[0] - before.packets[0],
        2,
        "to-MN packets of P3 (both accepted)"
    );
}

/// Tunnels from an anchor near correspondents are accepted toward visiting nodes once it is
/// configured, and only toward them: it cannot inject uplink traffic of an anchored prefix.
#[test]
fn tunnels_from_an_anchor_near_correspondents() {
    let mut fx = Fixture::new();
    let refused = |name: &str| {
        case(
            name,
            Ingress::Core,
            tunnelled(CN_ANCHOR, &udp(CN, MN3)),
            XDP_DROP,
            Output::Dropped,
            &[Counter::Rx, Counter::DropDecapUnknownPeer],
        )
    };
    fx.check(&refused("not configured: an unknown outer source"));

    fx.dp
        .set_cn_anchors(&[CN_ANCHOR])
        .expect("configure the anchor");
    assert_eq!(fx.dp.cn_anchors().expect("list"), vec![CN_ANCHOR]);
    let before = fx.dp.binding_stats(SLOT_P3).expect("binding stats");
    fx.check_all(&[
        case(
            "configured: toward the visiting node",
            Ingress::Core,
            tunnelled(CN_ANCHOR, &udp(CN, MN3)),
            XDP_REDIRECT,
            Output::Frame(decapsulated(&udp(CN, MN3), MAC_MN3, ACCESS_MAC)),
            &[Counter::Rx, Counter::Decap, Counter::Redirect],
        ),
        case(
            "configured: no reverse tunnel of an anchored prefix",
            Ingress::Core,
            tunnelled(CN_ANCHOR, &udp(MN1, CN)),
            XDP_DROP,
            Output::Dropped,
            &[Counter::Rx, Counter::DropDecapUnknownPeer],
        ),
        case(
            "configured: a prefix without binding",
            Ingress::Core,
            tunnelled(CN_ANCHOR, &udp(CN, UNBOUND)),
            XDP_DROP,
            Output::Dropped,
            &[Counter::Rx, Counter::DropDecapNoBinding],
        ),
    ]);
    let after = fx.dp.binding_stats(SLOT_P3).expect("binding stats");
    assert_eq!(
        after.packets[0] - before.packets[0],
        1,
        "to-MN packets of P3"
    );

    fx.dp.set_cn_anchors(&[]).expect("remove the anchor");
    assert!(fx.dp.cn_anchors().expect("list").is_empty());
    fx.check(&refused("removed: an unknown outer source again"));
}

#[test]
fn extension_headers() {
    let mut fx = Fixture::new();
    let mut cases = Vec::new();
    for (name, exts, ports) in [
        ("hop-by-hop", vec![Ext::HopByHop], true),
        ("routing", vec![Ext::Routing], true),
        ("destination options", vec![Ext::DestOpts], true),
        ("first fragment", vec![Ext::Fragment(0)], true),
        ("later fragment (no ports)", vec![Ext::Fragment(100)], false),
        (
            "hop-by-hop, destination options, routing, fragment",
            vec![Ext::HopByHop, Ext::DestOpts, Ext::Routing, Ext::Fragment(0)],
            true,
        ),
    ] {
        let mut p = udp(CN, MN1);
        p.exts = exts;
        cases.push(case(
            &format!("encap past {name}"),
            Ingress::Core,
            frame(&p.bytes()),
            XDP_TX,
            Output::Frame(ethernet(MAC_R2, CORE_MAC, &encapsulated(&p, R2, ports))),
            &[Counter::Rx, Counter::Encap, Counter::Tx],
        ));
    }
    let mut deep = udp(CN, MN1);
    deep.exts = vec![Ext::DestOpts; 7];
    cases.push(case(
        "more extension headers than the walk follows",
        Ingress::Core,
        frame(&deep.bytes()),
        XDP_PASS,
        Output::Unchanged,
        &[Counter::Rx, Counter::ExtHeaderLimit, Counter::Pass],
    ));
    fx.check_all(&cases);
}

#[test]
fn truncation_at_every_header_offset() {
    let mut fx = Fixture::new();
    let mut cases = Vec::new();
    let mut with_ext = udp(CN, MN1);
    with_ext.exts = vec![Ext::HopByHop];
    let samples = [
        ("encap candidate", frame(&with_ext.bytes()), 14 + 40 + 8 + 8),
        (
            "tunnel packet",
            tunnelled(R3, &udp(CN, MN3)),
            14 + 40 + 40 + 8,
        ),
        (
            "VLAN-tagged",
            ethernet_vlan(CORE_MAC, PEER_MAC, 7, &udp(CN, MN1).bytes()),
            18 + 40 + 8,
        ),
    ];
    for (what, full, headers) in samples {
        // BPF_PROG_TEST_RUN refuses frames shorter than an Ethernet header.
        for cut in 14..headers {
            cases.push(case(
                &format!("{what} cut at {cut} bytes"),
                Ingress::Core,
                full[..cut].to_vec(),
                XDP_PASS,
                Output::Unchanged,
                &[Counter::Rx, Counter::Malformed, Counter::Pass],
            ));
        }
    }
    // A header length that runs past the payload length.
    let mut bad = frame(&with_ext.bytes());
    bad[14 + 40 + 1] = 200;
    cases.push(case(
        "extension header longer than the packet",
        Ingress::Core,
        bad,
        XDP_PASS,
        Output::Unchanged,
        &[Counter::Rx, Counter::Malformed, Counter::Pass],
    ));
    // Not version 6.
    let mut v5 = frame(&udp(CN, MN1).bytes());
    v5[14] = 0x50;
    cases.push(case(
        "IPv6 EtherType with version 5",
        Ingress::Core,
        v5,
        XDP_PASS,
        Output::Unchanged,
        &[Counter::Rx, Counter::Malformed, Counter::Pass],
    ));
    fx.check_all(&cases);
}

#[test]
fn kernel_logging_on_request_keeps_verdicts() {
    let net = fixture_net();
    let mut dp = Datapath::load(&DatapathParams {
        locator: LOCATOR,
        tunnel_mtu: TUNNEL_MTU,
        outer_hop_limit: OUTER_HL,
        max_bindings: 16,
        dense_pools: Vec::new(),
        log: true,
    })
    .expect("load with aya-log enabled");
    dp.insert_binding(
        prefix("2001:db8:3:3::/64"),
        BindingSpec::visiting(R3, true, 3),
    )
    .expect("insert binding");
    let before = counters(&dp);
    let out = run(&dp, &tunnelled(STRANGER, &udp(CN, MN3)), net.core_ifindex);
    let after = counters(&dp);
    assert_eq!(action_name(out.action), action_name(XDP_DROP));
    assert_deltas(
        "spoofed tunnel packet with logging on",
        &before,
        &after,
        &[(Counter::Rx, 1), (Counter::DropDecapUnknownPeer, 1)],
    );
}

/// The program consults the trie of short prefixes only while the daemon's `SETTINGS` say it
/// holds one: the bit follows inserts and removals, and bindings sharing a peer keep its
/// `PEERS` entry when another one goes.
#[test]
fn the_trie_is_consulted_only_while_it_holds_a_prefix() {
    let net = fixture_net();
    let mut dp = load_small_datapath();
    dp.set_iface_role(net.core_ifindex, IfaceRole::Core)
        .expect("core role");
    dp.insert_binding(prefix("2001:db8:1:1::/64"), BindingSpec::redirect(R3, 1))
        .expect("insert /64");
    let short = prefix("2001:db8:5600::/56");
    let send = |dp: &Datapath, dst: Ipv6Addr| {
        let before = counters(dp);
        let out = run(dp, &frame(&udp(CN, dst).bytes()), net.core_ifindex);
        let after = counters(dp);
        let moved = |c: Counter| after[c.name()] - before[c.name()];
        (out, moved(Counter::LpmHit), moved(Counter::NoBinding))
    };
    // Outer destination of an encapsulated frame: bytes 24..40 of the outer IPv6 header.
    let outer_dst = |frame: &[u8]| frame[14 + 24..14 + 40].to_vec();

    let (out, lpm, none) = send(&dp, IN_SHORT);
    assert_eq!(action_name(out.action), action_name(XDP_PASS));
    assert_eq!((lpm, none), (0, 1), "empty trie");

    dp.insert_binding(short, BindingSpec::redirect(R3, 2))
        .expect("insert /56");
    let (out, lpm, none) = send(&dp, IN_SHORT);
    assert_ne!(action_name(out.action), action_name(XDP_PASS));
    assert_eq!((lpm, none), (1, 0), "trie holding the /56");
    assert_eq!(outer_dst(&out.frame), R3.octets());

    dp.remove_binding(short).expect("remove /56");
    let (out, lpm, none) = send(&dp, IN_SHORT);
    assert_eq!(action_name(out.action), action_name(XDP_PASS));
    assert_eq!((lpm, none), (0, 1), "trie emptied again");
    // The /64 still reaches the peer both bindings shared.
    let (out, lpm, none) = send(&dp, MN1);
    assert_ne!(action_name(out.action), action_name(XDP_PASS));
    assert_eq!((lpm, none), (0, 0));
    assert_eq!(outer_dst(&out.frame), R3.octets());
}

const CACHED_DMAC: [u8; 6] = [2, 0, 0, 0, 0, 0x42];
const CACHED_SMAC: [u8; 6] = [2, 0, 0, 0, 0, 0x43];

impl Fixture {
    /// Writes the `NEXTHOPS` entry of `peer` (which a binding uses).
    fn set_next_hop(&mut self, peer: Ipv6Addr, entry: NextHop) {
        let index = self.dp.peer_index(peer).expect("peer in use");
        self.dp.set_next_hop(index, entry).expect("write NEXTHOPS");
    }
}

/// `inner`, encapsulated toward `peer` and sent with the cached MACs: `(verdict, the
/// encapsulation's counter, the sending counter)`.
fn sent_cached(
    name: &str,
    ingress: Ingress,
    inner: &Udp6,
    peer: Ipv6Addr,
    (verdict, encap, sent): (u32, Counter, Counter),
) -> Case {
    case(
        name,
        ingress,
        frame(&inner.bytes()),
        verdict,
        Output::Frame(ethernet(
            CACHED_DMAC,
            CACHED_SMAC,
            &encapsulated(inner, peer, true),
        )),
        &[Counter::Rx, encap, Counter::NexthopCached, sent],
    )
}

/// The outer packet's length (IPv6 header included) when `inner` is encapsulated.
fn outer_len(inner: &Udp6) -> u32 {
    u32::try_from(inner.bytes().len()).expect("one packet") + 40
}

#[test]
#[expect(
    clippy::too_many_lines,
    reason = "table-driven: one case per path, each with its frames and counters"
)]
fn cached_next_hop_replaces_the_fib_lookup_for_encapsulation() {
    let mut fx = Fixture::new();
    let (core, access) = (fx.net.core_ifindex, fx.net.access_ifindex);
    let to_mn1 = udp(CN, MN1);
    let fits = outer_len(&to_mn1);
    let cached_tx = || {
        sent_cached(
            "cached next hop out of the ingress interface: XDP_TX with the cached MACs",
            Ingress::Core,
            &to_mn1,
            R2,
            (XDP_TX, Counter::Encap, Counter::Tx),
        )
    };
    let fib_tx = |name: &str| {
        case(
            name,
            Ingress::Core,
            frame(&to_mn1.bytes()),
            XDP_TX,
            to_peer(MAC_R2, R2, &to_mn1),
            &[Counter::Rx, Counter::Encap, Counter::Tx],
        )
    };

    fx.set_next_hop(R2, NextHop::valid(CACHED_DMAC, CACHED_SMAC, core, 1500));
    fx.check(&cached_tx());
    // The MTU is the outer packet's: exactly the outer length fits.
    fx.set_next_hop(R2, NextHop::valid(CACHED_DMAC, CACHED_SMAC, core, fits));
    fx.check(&cached_tx());
    fx.set_next_hop(R2, NextHop::valid(CACHED_DMAC, CACHED_SMAC, core, fits - 1));
    fx.check(&fib_tx(
        "outer packet one byte above the cached MTU: FIB lookup",
    ));
    let mut invalid = NextHop::valid(CACHED_DMAC, CACHED_SMAC, core, 1500);
    invalid.flags = 0;
    fx.set_next_hop(R2, invalid);
    fx.check(&fib_tx("invalid entry: FIB lookup"));
    fx.set_next_hop(R2, NextHop::INVALID);
    fx.check(&fib_tx("cleared entry: FIB lookup"));

    fx.set_next_hop(R2, NextHop::valid(CACHED_DMAC, CACHED_SMAC, access, 1500));
    let cases = vec![
        sent_cached(
            "cached next hop on another interface: bpf_redirect",
            Ingress::Core,
            &to_mn1,
            R2,
            (XDP_REDIRECT, Counter::Encap, Counter::Redirect),
        ),
        case(
            "VLAN-tagged: left to the kernel whatever the cache says",
            Ingress::Core,
            ethernet_vlan(CORE_MAC, PEER_MAC, 100, &to_mn1.bytes()),
            XDP_PASS,
            Output::Frame(ethernet_vlan(
                CORE_MAC,
                PEER_MAC,
                100,
                &encapsulated(&to_mn1, R2, true),
            )),
            &[
                Counter::Rx,
                Counter::Vlan,
                Counter::Encap,
                Counter::KernelFallback,
            ],
        ),
    ];
    fx.check_all(&cases);

    // R7 has no neighbour in the kernel: without an entry the packet goes to the kernel, with
    // one it leaves with the cached MACs.
    fx.check(&case(
        "no entry and an unresolved neighbour: left to the kernel",
        Ingress::Core,
        frame(&udp(CN, MN7).bytes()),
        XDP_PASS,
        Output::Frame(frame(&encapsulated(&udp(CN, MN7), R7, true))),
        &[Counter::Rx, Counter::Encap, Counter::KernelFallback],
    ));
    fx.set_next_hop(R7, NextHop::valid(CACHED_DMAC, CACHED_SMAC, core, 1500));
    fx.check(&sent_cached(
        "an entry for a peer the FIB cannot resolve yet",
        Ingress::Core,
        &udp(CN, MN7),
        R7,
        (XDP_TX, Counter::Encap, Counter::Tx),
    ));

    // Reverse encapsulation toward the home router uses the home router's entry; the
    // decapsulated packets keep the FIB lookup (their next hop is not a peer).
    fx.set_next_hop(R3, NextHop::valid(CACHED_DMAC, CACHED_SMAC, core, 1500));
    let cases = vec![
        sent_cached(
            "reverse encap with the home router's cached next hop",
            Ingress::Access,
            &udp(MN3, CN),
            R3,
            (XDP_REDIRECT, Counter::ReverseEncap, Counter::Redirect),
        ),
        case(
            "decapsulation keeps the FIB lookup",
            Ingress::Core,
            tunnelled(R3, &udp(CN, MN3)),
            XDP_REDIRECT,
            Output::Frame(decapsulated(&udp(CN, MN3), MAC_MN3, ACCESS_MAC)),
            &[Counter::Rx, Counter::Decap, Counter::Redirect],
        ),
    ];
    fx.check_all(&cases);
}

/// The visiting node's MAC (its MN-ID) in `VISITING_L2`: not the kernel's neighbour entry of
/// MN3 (`MAC_MN3`), so the frames show which path they took.
const NODE_MAC: [u8; 6] = [2, 0, 0, 0, 0, 0x65];
/// The source MAC the entry gives (the access interface's, as the daemon writes it).
const L2_SMAC: [u8; 6] = [2, 0, 0, 0, 0, 0x66];
const P3: &str = "2001:db8:3:3::/64";
const P4: &str = "2001:db8:4:4::/64";

impl Fixture {
    /// Writes the `VISITING_L2` entry of `p`: `NODE_MAC` behind `ifindex`, with `mtu`.
    fn set_visiting_l2(&mut self, p: &str, ifindex: u32, mtu: u32) {
        let link = AccessLink {
            ifindex,
            mac: L2_SMAC,
            mtu,
        };
        self.dp
            .set_visiting_l2(prefix(p), NODE_MAC, &link)
            .expect("write VISITING_L2");
    }
}

/// `inner`, tunnelled from its home router R3, decapsulated and sent to `NODE_MAC` with the
/// `VISITING_L2` entry.
fn sent_to_node(name: &str, inner: &Udp6, (verdict, sent): (u32, Counter)) -> Case {
    case(
        name,
        Ingress::Core,
        tunnelled(R3, inner),
        verdict,
        Output::Frame(decapsulated(inner, NODE_MAC, L2_SMAC)),
        &[Counter::Rx, Counter::Decap, Counter::VisitingL2, sent],
    )
}

#[test]
#[expect(
    clippy::too_many_lines,
    reason = "table-driven: one case per path, each with its frames and counters"
)]
fn visiting_l2_next_hop_replaces_the_fib_lookup_for_decapsulation() {
    let mut fx = Fixture::new();
    let (core, access) = (fx.net.core_ifindex, fx.net.access_ifindex);
    let to_mn3 = udp(CN, MN3);
    let fits = u32::try_from(to_mn3.bytes().len()).expect("one packet");
    let fib_redirect = |name: &str, inner: &Udp6| {
        case(
            name,
            Ingress::Core,
            tunnelled(R3, inner),
            XDP_REDIRECT,
            Output::Frame(decapsulated(inner, MAC_MN3, ACCESS_MAC)),
            &[Counter::Rx, Counter::Decap, Counter::Redirect],
        )
    };
    let to_node = || {
        sent_to_node(
            "entry of the visiting /64: straight to the node's MAC, bpf_redirect",
            &to_mn3,
            (XDP_REDIRECT, Counter::Redirect),
        )
    };

    fx.check(&fib_redirect("no entry: FIB lookup", &to_mn3));
    let before = fx.dp.binding_stats(SLOT_P3).expect("binding stats");
    fx.set_visiting_l2(P3, access, 1500);
    fx.check(&to_node());
    let after = fx.dp.binding_stats(SLOT_P3).expect("binding stats");
    assert_eq!(
        (after.packets[0] - before.packets[0], after.packets[1]),
        (1, before.packets[1]),
        "to-MN packets of P3"
    );
    // The MTU is the decapsulated packet's: exactly its length fits.
    fx.set_visiting_l2(P3, access, fits);
    fx.check(&to_node());
    fx.set_visiting_l2(P3, access, fits - 1);
    fx.check(&fib_redirect(
        "decapsulated packet one byte above the entry's MTU: FIB lookup",
        &to_mn3,
    ));
    fx.set_visiting_l2(P3, access, 1500);

    // The hop limit is decremented once: 2 leaves with 1; 1 goes the FIB path (the kernel
    // answers Time Exceeded).
    let mut hl2 = udp(CN, MN3);
    hl2.hop_limit = 2;
    let mut hl1 = udp(CN, MN3);
    hl1.hop_limit = 1;
    let cases = vec![
        sent_to_node(
            "hop limit 2 leaves with 1",
            &hl2,
            (XDP_REDIRECT, Counter::Redirect),
        ),
        case(
            "hop limit 1: FIB path, left to the kernel",
            Ingress::Core,
            tunnelled(R3, &hl1),
            XDP_PASS,
            Output::Frame(frame(&hl1.bytes())),
            &[
                Counter::Rx,
                Counter::Decap,
                Counter::HopLimitExceeded,
                Counter::KernelFallback,
            ],
        ),
        case(
            "VLAN-tagged: left to the kernel whatever the entry says",
            Ingress::Core,
            ethernet_vlan(
                CORE_MAC,
                PEER_MAC,
                100,
                &encapsulate(R3, LOCATOR, 60, 0, 0x777, &to_mn3.bytes()),
            ),
            XDP_PASS,
            Output::Frame(ethernet_vlan(CORE_MAC, PEER_MAC, 100, &to_mn3.bytes())),
            &[
                Counter::Rx,
                Counter::Vlan,
                Counter::Decap,
                Counter::KernelFallback,
            ],
        ),
        case(
            "spoofed outer source: dropped before the entry is read",
            Ingress::Core,
            tunnelled(R2, &to_mn3),
            XDP_DROP,
            Output::Dropped,
            &[Counter::Rx, Counter::DropDecapUnknownPeer],
        ),
    ];
    fx.check_all(&cases);

    // An invalid or removed entry: the FIB path again.
    let mut invalid = NextHop::valid(NODE_MAC, L2_SMAC, access, 1500);
    invalid.flags = 0;
    fx.dp
        .set_visiting_l2_entry(prefix(P3), invalid)
        .expect("write an invalid entry");
    fx.check(&fib_redirect("invalid entry: FIB lookup", &to_mn3));
    fx.dp.remove_visiting_l2(prefix(P3)).expect("remove");
    fx.check(&fib_redirect("removed entry: FIB lookup", &to_mn3));

    // P4 has no route in the namespace: the FIB cannot forward it (as a neighbour that Neighbour
    // Discovery has not resolved yet), the entry can.
    let to_mn4 = udp(CN, MN4);
    fx.check(&case(
        "no entry and no route: decapsulated and left to the kernel",
        Ingress::Core,
        tunnelled(R3, &to_mn4),
        XDP_PASS,
        Output::Frame(frame(&to_mn4.bytes())),
        &[Counter::Rx, Counter::Decap, Counter::KernelFallback],
    ));
    fx.set_visiting_l2(P4, access, 1500);
    fx.check(&sent_to_node(
        "an entry for a node the FIB cannot reach yet",
        &to_mn4,
        (XDP_REDIRECT, Counter::Redirect),
    ));
    fx.set_visiting_l2(P4, core, 1500);
    fx.check(&sent_to_node(
        "an entry on the ingress interface: XDP_TX",
        &to_mn4,
        (XDP_TX, Counter::Tx),
    ));

    // Only packets toward a visiting node use it: the reverse tunnel of an anchored prefix
    // keeps the FIB lookup even with an entry under its /64.
    fx.set_visiting_l2("2001:db8:1:1::/64", access, 1500);
    fx.check(&case(
        "reverse tunnel keeps the FIB lookup",
        Ingress::Core,
        tunnelled(R2, &udp(MN1, CN)),
        XDP_TX,
        Output::Frame(decapsulated(&udp(MN1, CN), MAC_GW, CORE_MAC)),
        &[Counter::Rx, Counter::Decap, Counter::Tx],
    ));
    for p in [P4, "2001:db8:1:1::/64"] {
        fx.dp.remove_visiting_l2(prefix(p)).expect("remove");
    }
}

/// A /64 of this router's own with its node attached here (no binding): `HOME`, its node's
/// address `AT_HOME`.
const HOME: &str = "2001:db8:8:8::/64";
const AT_HOME: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 8, 8, 0, 0, 0, 8);

/// `packet`, arriving natively on `ingress`, sent to `NODE_MAC` with its /64's `VISITING_L2`
/// entry (hop limit decremented once).
fn native_to_node(
    name: &str,
    ingress: Ingress,
    packet: &Udp6,
    verdict: u32,
    sent: Counter,
) -> Case {
    case(
        name,
        ingress,
        frame(&packet.bytes()),
        verdict,
        Output::Frame(decapsulated(packet, NODE_MAC, L2_SMAC)),
        &[Counter::Rx, Counter::AttachedL2, sent],
    )
}

/// `packet`, arriving natively from the core, passed to the kernel untouched.
fn native_passed(name: &str, packet: &Udp6, counters: &[Counter]) -> Case {
    case(
        name,
        Ingress::Core,
        frame(&packet.bytes()),
        XDP_PASS,
        Output::Frame(frame(&packet.bytes())),
        counters,
    )
}

#[test]
#[expect(
    clippy::too_many_lines,
    reason = "table-driven: one case per path, each with its frames and counters"
)]
fn attached_l2_sends_native_packets_straight_to_the_node() {
    let mut fx = Fixture::new();
    let access = fx.net.access_ifindex;
    let to_home = udp(CN, AT_HOME);
    let fits = u32::try_from(to_home.bytes().len()).expect("one packet");
    let passed = [Counter::Rx, Counter::NoBinding, Counter::Pass];

    fx.check(&native_passed(
        "no entry: the kernel's route and Neighbour Discovery",
        &to_home,
        &passed,
    ));
    fx.set_visiting_l2(HOME, access, 1500);
    fx.check(&native_to_node(
        "entry of a /64 whose node is attached here: straight to its MAC",
        Ingress::Core,
        &to_home,
        XDP_REDIRECT,
        Counter::Redirect,
    ));
    fx.check(&native_to_node(
        "from the access link itself: XDP_TX",
        Ingress::Access,
        &to_home,
        XDP_TX,
        Counter::Tx,
    ));
    fx.set_visiting_l2(HOME, access, fits);
    fx.check(&native_to_node(
        "exactly the entry's MTU",
        Ingress::Core,
        &to_home,
        XDP_REDIRECT,
        Counter::Redirect,
    ));
    fx.set_visiting_l2(HOME, access, fits - 1);
    fx.check(&native_passed(
        "one byte above the entry's MTU: the kernel (Packet Too Big)",
        &to_home,
        &passed,
    ));
    fx.set_visiting_l2(HOME, access, 1500);

    let mut hl2 = udp(CN, AT_HOME);
    hl2.hop_limit = 2;
    let mut hl1 = udp(CN, AT_HOME);
    hl1.hop_limit = 1;
    fx.check_all(&[
        native_to_node(
            "hop limit 2 leaves with 1",
            Ingress::Core,
            &hl2,
            XDP_REDIRECT,
            Counter::Redirect,
        ),
        native_passed("hop limit 1: the kernel (Time Exceeded)", &hl1, &passed),
        case(
            "VLAN-tagged: the kernel",
            Ingress::Core,
            ethernet_vlan(CORE_MAC, PEER_MAC, 100, &to_home.bytes()),
            XDP_PASS,
            Output::Frame(ethernet_vlan(CORE_MAC, PEER_MAC, 100, &to_home.bytes())),
            &[
                Counter::Rx,
                Counter::Vlan,
                Counter::NoBinding,
                Counter::Pass,
            ],
        ),
    ]);

    // A redirect of the /64 comes first: the node has moved away.
    fx.set_visiting_l2("2001:db8:1:1::/64", access, 1500);
    fx.check(&case(
        "a redirect binding wins over an entry",
        Ingress::Core,
        frame(&udp(CN, MN1).bytes()),
        XDP_TX,
        to_peer(MAC_R2, R2, &udp(CN, MN1)),
        &[Counter::Rx, Counter::Encap, Counter::Tx],
    ));
    fx.dp
        .remove_visiting_l2(prefix("2001:db8:1:1::/64"))
        .expect("remove");

    // An invalid or removed entry: the kernel again.
    let mut invalid = NextHop::valid(NODE_MAC, L2_SMAC, access, 1500);
    invalid.flags = 0;
    fx.dp
        .set_visiting_l2_entry(prefix(HOME), invalid)
        .expect("write an invalid entry");
    fx.check(&native_passed(
        "invalid entry: the kernel",
        &to_home,
        &passed,
    ));
    fx.set_visiting_l2(HOME, access, 1500);
    fx.dp.remove_visiting_l2(prefix(HOME)).expect("remove");
    fx.check(&native_passed(
        "removed entry: the kernel",
        &to_home,
        &passed,
    ));

    // With no entry outside the pools and the bindings, the program looks up only the /64s of
    // a pool and the bound ones: both still reach their node.
    let in_pool = Ipv6Addr::new(0x2001, 0xdb8, 1, 8, 0, 0, 0, 8);
    fx.set_visiting_l2("2001:db8:1:8::/64", access, 1500);
    fx.check(&native_to_node(
        "entry of a /64 of a pool (no binding): straight to its MAC",
        Ingress::Core,
        &udp(CN, in_pool),
        XDP_REDIRECT,
        Counter::Redirect,
    ));
    fx.set_visiting_l2(P4, access, 1500);
    fx.check(&native_to_node(
        "entry of a visiting /64 (bound, outside the pools): straight to its MAC",
        Ingress::Core,
        &udp(CN, MN4),
        XDP_REDIRECT,
        Counter::Redirect,
    ));
    for p in ["2001:db8:1:8::/64", P4] {
        fx.dp.remove_visiting_l2(prefix(p)).expect("remove");
    }

    // A router without access interfaces has no node attached: it does not look.
    fx.set_visiting_l2(HOME, access, 1500);
    fx.dp
        .set_iface_role(access, IfaceRole::Core)
        .expect("core role");
    fx.check(&native_passed(
        "no access interface: the entry is not read",
        &to_home,
        &passed,
    ));
}

/// The daemon's resolver in the fixture namespace: R2 and R3 are permanent neighbours on the
/// core interface, R7 has no neighbour entry.
#[test]
fn the_resolver_fills_the_cache_from_the_kernel() {
    let mut fx = Fixture::new();
    let core = fx.net.core_ifindex;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let resolved = runtime.block_on(async {
        let mut resolver =
            NextHopResolver::new(fx.dp.next_hop_cache().expect("cache")).expect("resolver");
        resolver.resolve_once().await.expect("resolve")
    });
    assert_eq!(resolved.valid, 2, "{resolved:?}");
    assert_eq!(resolved.unusable.len(), 1, "{resolved:?}");
    assert_eq!(resolved.unusable[0].0, R7);
    assert_eq!(
        entry(&fx.dp, R2),
        NextHop::valid(MAC_R2, CORE_MAC, core, 1500)
    );
    assert_eq!(
        entry(&fx.dp, R3),
        NextHop::valid(MAC_R3, CORE_MAC, core, 1500)
    );
    assert_eq!(entry(&fx.dp, R7), NextHop::INVALID);
    let to_mn1 = udp(CN, MN1);
    fx.check(&case(
        "encap with the resolved entry",
        Ingress::Core,
        frame(&to_mn1.bytes()),
        XDP_TX,
        to_peer(MAC_R2, R2, &to_mn1),
        &[
            Counter::Rx,
            Counter::Encap,
            Counter::NexthopCached,
            Counter::Tx,
        ],
    ));

    // The daemon's task: it fills the cache on start and clears it when stopped, so that a
    // program left running without the daemon asks the FIB.
    fx.dp
        .set_next_hop(fx.dp.peer_index(R2).expect("R2"), NextHop::INVALID)
        .expect("clear");
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let cache = fx.dp.next_hop_cache().expect("cache");
    runtime.block_on(async {
        let daemon_resolver = NextHopResolver::new(cache).expect("resolver");
        let task = tokio::spawn(daemon_resolver.run(async {
            let _ = stopped.await;
        }));
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        while !entry(&fx.dp, R2).is_valid() {
            assert!(
                std::time::Instant::now() < deadline,
                "the running resolver should fill R2's entry"
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        stop.send(()).expect("stop");
        task.await.expect("resolver task");
    });
    // Invalid, with the last next hop kept: a packet that read the valid bit just before the
    // (non-atomic) update still gets a whole next hop.
    for (peer, mac) in [(R2, MAC_R2), (R3, MAC_R3)] {
        assert_eq!(
            entry(&fx.dp, peer),
            NextHop {
                flags: 0,
                ..NextHop::valid(mac, CORE_MAC, core, 1500)
            }
        );
    }
}

/// The `NEXTHOPS` entry of `peer`.
fn entry(dp: &Datapath, peer: Ipv6Addr) -> NextHop {
    dp.next_hop(dp.peer_index(peer).expect("peer in use"))
        .expect("read NEXTHOPS")
}

/// A node's MAC on the access link, other than the one the fixture's frames come from.
const OTHER_MAC: [u8; 6] = [2, 0, 0, 0, 0, 0x77];
/// A source allowed nowhere.
const FOREIGN: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 0xef, 0, 0, 0, 0, 1);
/// A delegated /64 of a node served on the access link (no binding: routed by the kernel).
const SERVED: &str = "2001:db8:9:9::/64";

fn access_frame(src_mac: [u8; 6], ip: &[u8]) -> Vec<u8> {
    ethernet(ACCESS_MAC, src_mac, ip)
}

/// A UDP packet from `src` with more extension headers than the program walks.
fn deep(src: Ipv6Addr) -> Vec<u8> {
    let mut p = udp(src, CN);
    p.exts = vec![Ext::DestOpts; 7];
    p.bytes()
}

/// A UDP packet from `src` whose payload (2 bytes) stops inside the UDP header.
fn truncated_udp(src: Ipv6Addr) -> Vec<u8> {
    let mut ip = udp(src, CN).bytes();
    ip.truncate(42);
    ip[4..6].copy_from_slice(&2u16.to_be_bytes());
    ip
}

/// The frames of `source_validation_on_access_links` whose verdict the validation changes, as
/// they go without it.
fn unvalidated_cases() -> Vec<Case> {
    vec![
        case(
            "without validation: a foreign source with many extension headers passes",
            Ingress::Access,
            access_frame(PEER_MAC, &deep(FOREIGN)),
            XDP_PASS,
            Output::Unchanged,
            &[Counter::Rx, Counter::ExtHeaderLimit, Counter::Pass],
        ),
        case(
            "without validation: a foreign source with a truncated UDP header passes",
            Ingress::Access,
            access_frame(PEER_MAC, &truncated_udp(FOREIGN)),
            XDP_PASS,
            Output::Unchanged,
            &[Counter::Rx, Counter::Malformed, Counter::Pass],
        ),
        case(
            "without validation: a foreign source passes",
            Ingress::Access,
            access_frame(PEER_MAC, &udp(STRANGER, CN).bytes()),
            XDP_PASS,
            Output::Unchanged,
            &[Counter::Rx, Counter::NoBinding, Counter::Pass],
        ),
        case(
            "without validation: a visiting source from another MAC goes home",
            Ingress::Access,
            access_frame(OTHER_MAC, &udp(MN3, CN).bytes()),
            XDP_REDIRECT,
            to_peer(MAC_R3, R3, &udp(MN3, CN)),
            &[Counter::Rx, Counter::ReverseEncap, Counter::Redirect],
        ),
    ]
}

#[test]
#[expect(
    clippy::too_many_lines,
    reason = "table-driven: one case per rule, each with its frames and counters"
)]
fn source_validation_on_access_links() {
    let mut fx = Fixture::new();
    let access = fx.net.access_ifindex;
    // The sources of the access link, written before the validation is on: they change nothing.
    fx.dp
        .set_access_source(access, prefix(P3), Some(PEER_MAC))
        .expect("visiting /64 with its node's MAC");
    fx.dp
        .set_access_source(access, prefix(P4), None)
        .expect("visiting /64 from any MAC");
    fx.dp
        .set_access_source(access, prefix(SERVED), Some(PEER_MAC))
        .expect("delegated /64");
    // STRANGER's /64, allowed on another interface only.
    fx.dp
        .set_access_source(access + 1000, prefix("2001:db8:ee::/64"), None)
        .expect("another interface");
    fx.check_all(&unvalidated_cases());

    fx.dp
        .set_iface(access, IfaceValue::access_validated())
        .expect("validation on");
    let mut dad = udp(Ipv6Addr::UNSPECIFIED, SOLICITED_NODE);
    dad.hop_limit = 255;
    let cases = vec![
        case(
            "an allowed visiting source from its node's MAC goes home as before",
            Ingress::Access,
            access_frame(PEER_MAC, &udp(MN3, CN).bytes()),
            XDP_REDIRECT,
            to_peer(MAC_R3, R3, &udp(MN3, CN)),
            &[Counter::Rx, Counter::ReverseEncap, Counter::Redirect],
        ),
        case(
            "an allowed visiting source without a MAC, from any MAC, is routed as before",
            Ingress::Access,
            access_frame(OTHER_MAC, &udp(MN4, CN).bytes()),
            XDP_PASS,
            Output::Unchanged,
            &[Counter::Rx, Counter::NoBinding, Counter::Pass],
        ),
        case(
            "a delegated source to a redirected prefix is tunnelled as before",
            Ingress::Access,
            access_frame(PEER_MAC, &udp(UNBOUND, MN1).bytes()),
            XDP_REDIRECT,
            to_peer(MAC_R2, R2, &udp(UNBOUND, MN1)),
            &[Counter::Rx, Counter::Encap, Counter::Redirect],
        ),
        case(
            "a link-local source passes",
            Ingress::Access,
            access_frame(OTHER_MAC, &udp(LINK_LOCAL, CN).bytes()),
            XDP_PASS,
            Output::Unchanged,
            &[Counter::Rx, Counter::NoBinding, Counter::Pass],
        ),
        case(
            "the unspecified source (DAD) passes",
            Ingress::Access,
            access_frame(OTHER_MAC, &dad.bytes()),
            XDP_PASS,
            Output::Unchanged,
            &[Counter::Rx, Counter::LinkScope, Counter::Pass],
        ),
        case(
            "a foreign source is dropped",
            Ingress::Access,
            access_frame(PEER_MAC, &udp(FOREIGN, CN).bytes()),
            XDP_DROP,
            Output::Dropped,
            &[Counter::Rx, Counter::DropSourceInvalid],
        ),
        case(
            "a foreign source to a redirected prefix is dropped, not tunnelled",
            Ingress::Access,
            access_frame(PEER_MAC, &udp(FOREIGN, MN1).bytes()),
            XDP_DROP,
            Output::Dropped,
            &[Counter::Rx, Counter::DropSourceInvalid],
        ),
        case(
            "a foreign source to a multicast group is dropped",
            Ingress::Access,
            access_frame(PEER_MAC, &udp(FOREIGN, SOLICITED_NODE).bytes()),
            XDP_DROP,
            Output::Dropped,
            &[Counter::Rx, Counter::DropSourceInvalid],
        ),
        case(
            "a foreign source in a tunnel packet to the locator is dropped, not decapsulated",
            Ingress::Access,
            access_frame(
                PEER_MAC,
                &encapsulate(FOREIGN, LOCATOR, 60, 0, 0x777, &udp(CN, MN3).bytes()),
            ),
            XDP_DROP,
            Output::Dropped,
            &[Counter::Rx, Counter::DropSourceInvalid],
        ),
        case(
            "a /64 allowed on another interface only is dropped",
            Ingress::Access,
            access_frame(PEER_MAC, &udp(STRANGER, CN).bytes()),
            XDP_DROP,
            Output::Dropped,
            &[Counter::Rx, Counter::DropSourceInvalid],
        ),
        case(
            "a visiting source from another MAC than its node's is dropped",
            Ingress::Access,
            access_frame(OTHER_MAC, &udp(MN3, CN).bytes()),
            XDP_DROP,
            Output::Dropped,
            &[Counter::Rx, Counter::DropSourceInvalid],
        ),
        case(
            "a delegated source from another MAC than its node's is dropped",
            Ingress::Access,
            access_frame(OTHER_MAC, &udp(UNBOUND, CN).bytes()),
            XDP_DROP,
            Output::Dropped,
            &[Counter::Rx, Counter::DropSourceInvalid],
        ),
        case(
            "a foreign source in a VLAN frame is dropped",
            Ingress::Access,
            ethernet_vlan(ACCESS_MAC, PEER_MAC, 5, &udp(FOREIGN, CN).bytes()),
            XDP_DROP,
            Output::Dropped,
            &[Counter::Rx, Counter::Vlan, Counter::DropSourceInvalid],
        ),
        case(
            "a foreign source with more extension headers than the walk follows is dropped",
            Ingress::Access,
            access_frame(PEER_MAC, &deep(FOREIGN)),
            XDP_DROP,
            Output::Dropped,
            &[
                Counter::Rx,
                Counter::ExtHeaderLimit,
                Counter::DropSourceInvalid,
            ],
        ),
        case(
            "an allowed source with more extension headers than the walk follows passes",
            Ingress::Access,
            access_frame(OTHER_MAC, &deep(MN4)),
            XDP_PASS,
            Output::Unchanged,
            &[Counter::Rx, Counter::ExtHeaderLimit, Counter::Pass],
        ),
        case(
            "a foreign source with a truncated UDP header is dropped",
            Ingress::Access,
            access_frame(PEER_MAC, &truncated_udp(FOREIGN)),
            XDP_DROP,
            Output::Dropped,
            &[Counter::Rx, Counter::Malformed, Counter::DropSourceInvalid],
        ),
        case(
            "an allowed source with a truncated UDP header passes",
            Ingress::Access,
            access_frame(OTHER_MAC, &truncated_udp(MN4)),
            XDP_PASS,
            Output::Unchanged,
            &[Counter::Rx, Counter::Malformed, Counter::Pass],
        ),
        case(
            "IPv4 is not validated",
            Ingress::Access,
            ipv4_udp_frame(ACCESS_MAC, OTHER_MAC),
            XDP_PASS,
            Output::Unchanged,
            &[Counter::Rx, Counter::NonIpv6, Counter::Pass],
        ),
        case(
            "a core interface is not validated",
            Ingress::Core,
            frame(&udp(STRANGER, CN).bytes()),
            XDP_PASS,
            Output::Unchanged,
            &[Counter::Rx, Counter::NoBinding, Counter::Pass],
        ),
    ];
    fx.check_all(&cases);

    // A removed source is dropped from then on.
    fx.dp
        .remove_access_source(access, prefix(P4))
        .expect("remove");
    fx.check(&case(
        "a removed source is dropped",
        Ingress::Access,
        access_frame(OTHER_MAC, &udp(MN4, CN).bytes()),
        XDP_DROP,
        Output::Dropped,
        &[Counter::Rx, Counter::DropSourceInvalid],
    ));
    assert_eq!(
        fx.dp.access_sources().expect("list"),
        [
            AccessSource {
                ifindex: access,
                prefix: prefix(P3),
                mac: Some(PEER_MAC),
            },
            AccessSource {
                ifindex: access,
                prefix: prefix(SERVED),
                mac: Some(PEER_MAC),
            },
            AccessSource {
                ifindex: access + 1000,
                prefix: prefix("2001:db8:ee::/64"),
                mac: None,
            },
        ]
    );

    // Validation off: every frame as before.
    fx.dp
        .set_iface_role(access, IfaceRole::Access)
        .expect("validation off");
    fx.check_all(&unvalidated_cases());
}

/// An interface (a veth: this kernel may lack dummy) whose index is beyond the `IFACE_INDEX` array has its role in `IFACES` alone,
/// and the program finds it there: the same uplink is reverse-tunnelled on it as an access
/// interface, and routed as it is once its role is core.
#[test]
fn roles_of_interfaces_beyond_the_index_array() {
    const BIG_INDEX: u32 = anchor_common::config::MAX_INDEXED_IFINDEX + 4464;
    let mut fx = Fixture::new();
    if fx.net.ns.ifindex("fxbig").is_err() {
        fx.net
            .ns
            .ip(&format!(
                "link add name fxbig index {BIG_INDEX} type veth peer name fxbig-p"
            ))
            .expect("a veth with a large index");
        fx.net.ns.ip("link set fxbig up").expect("fxbig up");
    }
    assert_eq!(fx.net.ns.ifindex("fxbig").expect("fxbig"), BIG_INDEX);
    let uplink = frame(&udp(MN3, CN).bytes());
    fx.dp
        .set_iface_role(BIG_INDEX, IfaceRole::Access)
        .expect("access role");
    let before = counters(&fx.dp);
    let out = run(&fx.dp, &uplink, BIG_INDEX);
    assert_eq!(action_name(out.action), action_name(XDP_REDIRECT));
    assert_frame(
        "uplink on the access interface with a large index",
        &out.frame,
        &ethernet(MAC_R3, CORE_MAC, &encapsulated(&udp(MN3, CN), R3, true)),
    );
    assert_deltas(
        "uplink on the access interface with a large index",
        &before,
        &counters(&fx.dp),
        &[
            (Counter::Rx, 1),
            (Counter::ReverseEncap, 1),
            (Counter::Redirect, 1),
        ],
    );
    fx.dp
        .set_iface_role(BIG_INDEX, IfaceRole::Core)
        .expect("core role");
    let before = counters(&fx.dp);
    let out = run(&fx.dp, &uplink, BIG_INDEX);
    assert_eq!(action_name(out.action), action_name(XDP_PASS));
    assert_frame(
        "uplink on a core interface with a large index",
        &out.frame,
        &uplink,
    );
    assert_deltas(
        "uplink on a core interface with a large index",
        &before,
        &counters(&fx.dp),
        &[
            (Counter::Rx, 1),
            (Counter::NoBinding, 1),
            (Counter::Pass, 1),
        ],
    );
}

/// With no redirect binding outside the pools, a packet from an access interface to a
/// destination outside them is not looked up before the reverse tunnel: the results are those
/// of the full lookup order, and a hashed redirect brings the full order back.
#[test]
fn destinations_outside_the_pools_are_looked_up_late_on_access_links() {
    let mut fx = Fixture::new();
    let access = fx.net.access_ifindex;
    for p in ["2001:db8:5600::/56", "2001:db8:5600:7::/64"] {
        fx.dp.remove_binding(prefix(p)).expect("remove");
    }
    fx.set_visiting_l2(P4, access, 1500);
    let to_visiting = udp(UNBOUND, MN4);
    fx.check_all(&[
        case(
            "a visiting node's uplink to a correspondent goes home",
            Ingress::Access,
            frame(&udp(MN3, CN).bytes()),
            XDP_REDIRECT,
            to_peer(MAC_R3, R3, &udp(MN3, CN)),
            &[Counter::Rx, Counter::ReverseEncap, Counter::Redirect],
        ),
        case(
            "to a redirected /64 of a pool: encapsulated toward its serving router",
            Ingress::Access,
            frame(&udp(MN4, MN1).bytes()),
            XDP_REDIRECT,
            to_peer(MAC_R2, R2, &udp(MN4, MN1)),
            &[Counter::Rx, Counter::Encap, Counter::Redirect],
        ),
        case(
            "to a visiting node attached here: looked up late, straight to its MAC",
            Ingress::Access,
            frame(&to_visiting.bytes()),
            XDP_TX,
            Output::Frame(decapsulated(&to_visiting, NODE_MAC, L2_SMAC)),
            &[Counter::Rx, Counter::AttachedL2, Counter::Tx],
        ),
    ]);
    // A redirect outside the pools: the destination is looked up first again.
    fx.dp
        .insert_binding(prefix("2001:db8:9:9::/64"), BindingSpec::redirect(R2, 9))
        .expect("a hashed redirect");
    fx.check(&case(
        "to a redirected /64 outside the pools: encapsulated, not reverse-tunnelled",
        Ingress::Access,
        frame(&udp(MN3, UNBOUND).bytes()),
        XDP_REDIRECT,
        to_peer(MAC_R2, R2, &udp(MN3, UNBOUND)),
        &[Counter::Rx, Counter::Encap, Counter::Redirect],
    ));
    fx.dp
        .remove_binding(prefix("2001:db8:9:9::/64"))
        .expect("remove");
    fx.dp.remove_visiting_l2(prefix(P4)).expect("remove");
}

/// A node's `VISITING_L2` entry carries its visiting binding, so the serving router decapsulates
/// with one lookup. The entry follows the binding: a new home is the only one accepted, and
/// without a binding the tunnel is dropped as before.
#[test]
fn the_attached_entry_carries_the_binding_and_follows_it() {
    const SLOT_P4: u32 = 4;
    let mut fx = Fixture::new();
    let access = fx.net.access_ifindex;
    let to_mn4 = udp(CN, MN4);
    fx.set_visiting_l2(P4, access, 1500);
    let before = fx.dp.binding_stats(SLOT_P4).expect("stats");
    fx.check(&sent_to_node(
        "from the home: decapsulated and sent to the node's MAC",
        &to_mn4,
        (XDP_REDIRECT, Counter::Redirect),
    ));
    let after = fx.dp.binding_stats(SLOT_P4).expect("stats");
    assert_eq!(
        after.packets[0] - before.packets[0],
        1,
        "counted in the binding's slot"
    );
    assert_eq!(
        fx.dp.visiting_l2().expect("list"),
        [(prefix(P4), NextHop::valid(NODE_MAC, L2_SMAC, access, 1500))],
        "listed without the binding it carries"
    );

    // The home moves to R2: R3's tunnels are refused, R2's accepted.
    fx.dp
        .insert_binding(prefix(P4), BindingSpec::visiting(R2, false, SLOT_P4))
        .expect("new home");
    fx.check(&case(
        "from the old home",
        Ingress::Core,
        tunnelled(R3, &to_mn4),
        XDP_DROP,
        Output::Dropped,
        &[Counter::Rx, Counter::DropDecapUnknownPeer],
    ));
    fx.check(&case(
        "from the new home",
        Ingress::Core,
        tunnelled(R2, &to_mn4),
        XDP_REDIRECT,
        Output::Frame(decapsulated(&to_mn4, NODE_MAC, L2_SMAC)),
        &[
            Counter::Rx,
            Counter::Decap,
            Counter::VisitingL2,
            Counter::Redirect,
        ],
    ));

    // No binding: the entry carries none, and the tunnel is dropped.
    fx.dp.remove_binding(prefix(P4)).expect("unbind");
    fx.check(&case(
        "no binding, the entry still there",
        Ingress::Core,
        tunnelled(R2, &to_mn4),
        XDP_DROP,
        Output::Dropped,
        &[Counter::Rx, Counter::DropDecapNoBinding],
    ));
    fx.dp.remove_visiting_l2(prefix(P4)).expect("remove");
}
