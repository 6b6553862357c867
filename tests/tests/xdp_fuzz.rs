//! The fast path under random input: a seeded generator of random frames and of mutations of
//! valid ones runs through BPF_PROG_TEST_RUN against map states with every binding kind, a short
//! prefix in the LPM trie, valid and invalid cached next hops, and a visiting node's L2 next hop
//! or none. Every frame is checked with an independent parser (etherparse):
//! - the verdict is never XDP_ABORTED;
//! - `rx` grows by one, and exactly one verdict counter by one, matching the verdict;
//! - a frame passed with `pass` is byte-identical to its input;
//! - a rewritten frame is well-formed: its lengths agree; an encapsulation carries the input's
//!   IPv6 packet with the hop limit decremented exactly once; a decapsulation delivers the inner
//!   packet likewise (sent with a visiting node's L2 next hop: to its MAC); a Packet Too Big has
//!   a valid ICMPv6 checksum and goes back to the sender.
//!
//! `ANCHOR_FUZZ_FRAMES` (default 100,000: what CI runs) and `ANCHOR_FUZZ_SEED` set the run;
//! `cargo xtask fuzz` runs a long one and prints the frames per second.

use std::{
    collections::BTreeMap,
    net::Ipv6Addr,
    time::{Duration, Instant},
};

use anchor_common::{Counter, IfaceRole, IfaceValue, NextHop, config::IFACE_FLAG_FIRST_FRAME};
use anchor_packet::{Ext, Udp6, encapsulate, ethernet, ethernet_vlan};
use anchor_rig::fixture_net::{ACCESS_MAC, CORE_MAC};
use anchor_tests::{
    fixture::{
        CN, IN_SHORT, LINK_LOCAL, LOCATOR, MN1, MN3, MN4, MN7, PEER_MAC, R2, R3, R7,
        SOLICITED_NODE, STRANGER, TUNNEL_MTU, UNBOUND, fixture_net,
    },
    xdp::{XDP_DROP, XDP_PASS, XDP_REDIRECT, XDP_TX, action_name, counters, run},
};
use anchor_user::datapath::{AccessLink, BindingSpec, Datapath, DatapathParams};
use etherparse::{Icmpv6Header, Icmpv6Type, Ipv6Header};

const CACHED_DMAC: [u8; 6] = [2, 0, 0, 0, 0, 0x42];
const CACHED_SMAC: [u8; 6] = [2, 0, 0, 0, 0, 0x43];
/// The visiting node of P3 in `VISITING_L2` (not the kernel's neighbour entry of MN3).
const NODE_MAC: [u8; 6] = [2, 0, 0, 0, 0, 0x65];
/// A /64 of this router's own whose node is attached here (no binding), and its node's address.
const HOME: &str = "2001:db8:8:8::/64";
const AT_HOME: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 8, 8, 0, 0, 0, 8);
/// The shortest frame: BPF_PROG_TEST_RUN refuses less than an Ethernet header.
const ETH_HLEN: usize = 14;

/// The counters that record a verdict, and the verdict each stands for.
const VERDICTS: [(Counter, u32); 8] = [
    (Counter::Pass, XDP_PASS),
    (Counter::KernelFallback, XDP_PASS),
    (Counter::Tx, XDP_TX),
    (Counter::Redirect, XDP_REDIRECT),
    (Counter::DropDecapUnknownPeer, XDP_DROP),
    (Counter::DropDecapNoBinding, XDP_DROP),
    (Counter::AdjustFailed, XDP_DROP),
    (Counter::DropSourceInvalid, XDP_DROP),
];

/// The counters of the paths a frame can take besides its verdict, and of its side effects
/// (the first-frame reports: the ring is never read here, so it fills and then loses them).
const PATHS: [Counter; 16] = [
    Counter::Encap,
    Counter::ReverseEncap,
    Counter::Decap,
    Counter::PtbSent,
    Counter::HopLimitExceeded,
    Counter::Malformed,
    Counter::NonIpv6,
    Counter::NoBinding,
    Counter::ExtHeaderLimit,
    Counter::Vlan,
    Counter::LpmHit,
    Counter::LinkScope,
    Counter::VisitingL2,
    Counter::AttachedL2,
    Counter::FirstFrameReport,
    Counter::FirstFrameReportLost,
];

/// xorshift64*: small, seeded, the same sequence everywhere.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: usize) -> usize {
        usize::try_from(self.next() % n as u64).expect("below n")
    }

    fn chance(&mut self, percent: u64) -> bool {
        self.next() % 100 < percent
    }

    #[expect(clippy::cast_possible_truncation, reason = "the low byte")]
    fn byte(&mut self) -> u8 {
        self.next() as u8
    }

    #[expect(clippy::cast_possible_truncation, reason = "the low 16 bits")]
    fn u16(&mut self) -> u16 {
        self.next() as u16
    }
}

fn env_u64(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.replace('_', "").parse().ok())
        .unwrap_or(default)
}

#[test]
#[expect(
    clippy::too_many_lines,
    reason = "one run of the generator, then its report and every invariant it checks"
)]
#[expect(clippy::cast_precision_loss, reason = "a frame count far below 2^52")]
fn random_and_mutated_frames_keep_every_invariant() {
    let frames = env_u64("ANCHOR_FUZZ_FRAMES", 100_000);
    let seed = env_u64("ANCHOR_FUZZ_SEED", DEFAULT_SEED);
    let net = fixture_net();
    let mut dp = Datapath::load(&DatapathParams {
        locator: LOCATOR,
        tunnel_mtu: TUNNEL_MTU,
        outer_hop_limit: 64,
        max_bindings: 1024,
        dense_pools: Vec::new(),
        log: false,
    })
    .expect("load the XDP program");
    dp.set_iface_role(net.core_ifindex, IfaceRole::Core)
        .expect("core role");
    dp.set_iface_role(net.access_ifindex, IfaceRole::Access)
        .expect("access role");
    // P3's node on the access link: its source passes there while the validation is on.
    dp.set_access_source(
        net.access_ifindex,
        "2001:db8:3:3::/64".parse().expect("prefix"),
        None,
    )
    .expect("ACCESS_SOURCES");
    let bindings = [
        ("2001:db8:1:1::/64", BindingSpec::redirect(R2, 1)),
        ("2001:db8:3:3::/64", BindingSpec::visiting(R3, true, 3)),
        ("2001:db8:4:4::/64", BindingSpec::visiting(R3, false, 4)),
        ("2001:db8:5600::/56", BindingSpec::redirect(R3, 5)),
        ("2001:db8:5600:7::/64", BindingSpec::redirect(R2, 6)),
        ("2001:db8:7:7::/64", BindingSpec::redirect(R7, 7)),
    ];
    for (p, v) in bindings {
        dp.insert_binding(p.parse().expect("prefix"), v)
            .expect("insert binding");
    }
    let r2 = dp.peer_index(R2).expect("R2 in use");
    let r3 = dp.peer_index(R3).expect("R3 in use");
    // R3's next hop stays invalid: the FIB path.
    dp.set_next_hop(r3, NextHop::INVALID).expect("NEXTHOPS");

    let mut rng = Rng(seed | 1);
    let mut by_verdict: BTreeMap<&str, u64> = BTreeMap::new();
    let mut by_path: BTreeMap<&str, u64> = BTreeMap::new();
    let mut before = counters(&dp);
    let start = Instant::now();
    for i in 0..frames {
        // A new map state every 1,000 frames: R2's next hop cached (out of the core port or,
        // with a small MTU, refused for big packets) or left to the FIB.
        if i % 1000 == 0 {
            let entry = match rng.below(3) {
                0 => NextHop::valid(CACHED_DMAC, CACHED_SMAC, net.core_ifindex, 1500),
                1 => NextHop::valid(CACHED_DMAC, CACHED_SMAC, net.core_ifindex, 1300),
                _ => NextHop::INVALID,
            };
            dp.set_next_hop(r2, entry).expect("NEXTHOPS");
            // And P3's visiting node: its L2 next hop (sent straight to its MAC, or with a
            // small MTU refused for big packets) or none (the FIB, or the kernel for a native
            // packet).
            let p3 = "2001:db8:3:3::/64".parse().expect("prefix");
            let mtu = match rng.below(3) {
                0 => Some(1500),
                1 => Some(1300),
                _ => None,
            };
            // The same for the node at home.
            let home = HOME.parse().expect("prefix");
            for prefix in [p3, home] {
                match mtu {
                    Some(mtu) => {
                        let link = AccessLink {
                            ifindex: net.access_ifindex,
                            mac: ACCESS_MAC,
                            mtu,
                        };
                        dp.set_visiting_l2(prefix, NODE_MAC, &link)
                    }
                    None => dp.remove_visiting_l2(prefix),
                }
                .expect("VISITING_L2");
            }
            // And the access interface's source validation, on (P3 allowed from any MAC) or
            // off, and its first-frame reports, on or off.
            let mut iface = if rng.below(2) == 0 {
                IfaceValue::access_validated()
            } else {
                IfaceValue::new(IfaceRole::Access)
            };
            if rng.below(2) == 0 {
                iface.flags |= IFACE_FLAG_FIRST_FRAME;
            }
            dp.set_iface(net.access_ifindex, iface).expect("IFACES");
        }
        let (input, core) = generate(&mut rng);
        let ifindex = if core {
            net.core_ifindex
        } else {
            net.access_ifindex
        };
        let out = run(&dp, &input, ifindex);
        let after = counters(&dp);
        let delta = |c: Counter| after[c.name()] - before[c.name()];
        let context = || {
            format!(
                "frame {i} (seed {seed:#x}, {} ingress) {:02x?}",
                if core { "core" } else { "access" },
                input
            )
        };
        assert_ne!(out.action, 0, "XDP_ABORTED for {}", context());
        assert_eq!(delta(Counter::Rx), 1, "rx for {}", context());
        let moved: Vec<(Counter, u32)> = VERDICTS
            .iter()
            .copied()
            .filter(|(c, _)| delta(*c) != 0)
            .collect();
        assert!(
            moved.len() == 1 && delta(moved[0].0) == 1,
            "not exactly one verdict counter moved ({moved:?}) for {}",
            context()
        );
        let (verdict_counter, verdict) = moved[0];
        assert_eq!(
            action_name(out.action),
            action_name(verdict),
            "{} counted with verdict {} for {}",
            verdict_counter.name(),
            action_name(out.action),
            context()
        );
        *by_verdict.entry(verdict_counter.name()).or_default() += 1;
        for path in PATHS {
            *by_path.entry(path.name()).or_default() += delta(path);
        }
        match verdict_counter {
            Counter::Pass => assert_eq!(out.frame, input, "a passed frame changed: {}", context()),
            Counter::Tx | Counter::Redirect | Counter::KernelFallback => {
                check_rewrite(&input, &out.frame, verdict_counter, &delta).unwrap_or_else(|why| {
                    panic!("{why}: {}\n  output {:02x?}", context(), out.frame)
                });
            }
            _ => {}
        }
        before = after;
    }
    let elapsed = start.elapsed().max(Duration::from_micros(1));
    println!(
        "{frames} frames (seed {seed:#x}) in {:.1} s: {:.0} frames/s\n  verdicts {by_verdict:?}\n  \
         paths {by_path:?}",
        elapsed.as_secs_f64(),
        frames as f64 / elapsed.as_secs_f64()
    );
    // The generator reaches every verdict and every path of the program (a run that never
    // rewrites proves little).
    // Except the lost reports: whether the unread ring fills depends on the wall clock (one
    // report per MAC every 100 ms), so it is not reached in every run; `xdp_first_frame.rs`
    // fills it on purpose.
    for path in PATHS
        .into_iter()
        .filter(|path| *path != Counter::FirstFrameReportLost)
    {
        assert!(
            by_path[path.name()] > 0 || frames < 10_000,
            "no frame took the path {}: {by_path:?}",
            path.name()
        );
    }
    for name in [
        "pass",
        "tx",
        "kernel_fallback",
        "drop_decap_unknown_peer",
        "drop_decap_no_binding",
        "drop_source_invalid",
    ] {
        assert!(
            by_verdict.get(name).copied().unwrap_or(0) > 0 || frames < 10_000,
            "no frame ended as {name}: {by_verdict:?}"
        );
    }
}

/// The default seed, fixed so that CI runs the same frames every time.
const DEFAULT_SEED: u64 = 0x5eed_a9c0_2026_1204;

/// The L3 offset of an Ethernet frame (one 802.1Q tag allowed), if it carries IPv6.
fn ipv6_offset(frame: &[u8]) -> Option<usize> {
    match frame.get(12..14)? {
        [0x86, 0xdd] => Some(14),
        [0x81, 0x00] if frame.get(16..18)? == [0x86, 0xdd] => Some(18),
        _ => None,
    }
}

/// Checks a rewritten frame against its input: `Err` says what is wrong. A decapsulated packet
/// handed to the kernel (`kernel_fallback`) keeps its hop limit: the kernel decrements it when
/// it forwards; everything the program sends itself is decremented here, once.
fn check_rewrite(
    input: &[u8],
    output: &[u8],
    verdict: Counter,
    delta: &dyn Fn(Counter) -> u64,
) -> Result<(), String> {
    let off = ipv6_offset(output).ok_or("the output is not IPv6 over Ethernet")?;
    let (ip, rest) = Ipv6Header::from_slice(&output[off..])
        .map_err(|e| format!("the output's IPv6 header does not parse: {e}"))?;
    // Bytes after the packet are link-layer padding (as in a minimum-size Ethernet frame): the
    // receiver trims them, and the program keeps what it was given.
    let plen = usize::from(ip.payload_length);
    if rest.len() < plen {
        return Err(format!(
            "the output's payload length {plen} is more than the {} bytes that follow",
            rest.len()
        ));
    }
    let packet = &output[off..off + 40 + plen];
    let rest = &packet[40..];
    let in_off = ipv6_offset(input).ok_or("a rewritten input that is not IPv6")?;
    let in_ip = &input[in_off..];
    if delta(Counter::PtbSent) == 1 {
        return check_packet_too_big(&ip, rest, in_ip);
    }
    if delta(Counter::Encap) == 1 || delta(Counter::ReverseEncap) == 1 {
        if ip.next_header.0 != 41 {
            return Err(format!(
                "an encapsulation with next header {}",
                ip.next_header.0
            ));
        }
        if ip.source != LOCATOR.octets() {
            return Err("an encapsulation not from the locator".into());
        }
        return same_but_hop_limit(rest, in_ip, 1, "the encapsulated packet");
    }
    if delta(Counter::AttachedL2) == 1 {
        if output[..6] != NODE_MAC {
            return Err("sent with an attached node's L2 next hop, not to its MAC".into());
        }
        return same_but_hop_limit(packet, in_ip, 1, "the packet to the attached node");
    }
    if delta(Counter::Decap) == 1 {
        if delta(Counter::VisitingL2) == 1 && output[..6] != NODE_MAC {
            return Err("sent with the visiting node's L2 next hop, not to its MAC".into());
        }
        let inner = in_ip.get(40..).ok_or("a short tunnel")?;
        let decrement = u8::from(verdict != Counter::KernelFallback);
        return same_but_hop_limit(packet, inner, decrement, "the decapsulated packet");
    }
    Err("a rewrite counted as neither encapsulation, decapsulation, Packet Too Big nor an attached node's L2 next hop".into())
}

/// `got` is `original`'s IPv6 packet (its header's payload length long) with the hop limit
/// `decrement` lower.
fn same_but_hop_limit(
    got: &[u8],
    original: &[u8],
    decrement: u8,
    what: &str,
) -> Result<(), String> {
    let (header, _) = Ipv6Header::from_slice(original)
        .map_err(|e| format!("{what}: the input's packet does not parse: {e}"))?;
    let len = 40 + usize::from(header.payload_length);
    let original = original.get(..len).ok_or(format!(
        "{what}: the input is shorter than its payload length"
    ))?;
    if got.len() != len {
        return Err(format!(
            "{what} is {} bytes, the input's packet {len}",
            got.len()
        ));
    }
    let mut expected = original.to_vec();
    if decrement == 1 && expected[7] <= 1 {
        return Err(format!(
            "{what}: a packet with hop limit {} was forwarded",
            expected[7]
        ));
    }
    expected[7] -= decrement;
    if got != expected.as_slice() {
        return Err(format!(
            "{what} differs from the input's with the hop limit decremented by {decrement}"
        ));
    }
    Ok(())
}

/// A Packet Too Big to the input's sender, with a valid checksum, quoting the input.
fn check_packet_too_big(ip: &Ipv6Header, rest: &[u8], in_ip: &[u8]) -> Result<(), String> {
    let (invoking, _) =
        Ipv6Header::from_slice(in_ip).map_err(|e| format!("PTB for an unparsable packet: {e}"))?;
    if ip.next_header.0 != 58 || ip.destination != invoking.source {
        return Err("a Packet Too Big that is not ICMPv6 back to the sender".into());
    }
    let (icmp, quote) = Icmpv6Header::from_slice(rest).map_err(|e| format!("PTB: {e}"))?;
    if !matches!(icmp.icmp_type, Icmpv6Type::PacketTooBig { .. }) {
        return Err(format!("PTB of type {:?}", icmp.icmp_type));
    }
    let expected = Icmpv6Header::with_checksum(icmp.icmp_type, ip.source, ip.destination, quote)
        .map_err(|e| format!("PTB checksum: {e}"))?;
    if expected.checksum != icmp.checksum {
        return Err(format!(
            "PTB checksum {:#06x}, should be {:#06x}",
            icmp.checksum, expected.checksum
        ));
    }
    if !in_ip.starts_with(&quote[..quote.len().min(in_ip.len())]) || quote.is_empty() {
        // The quote is the invoking packet as it arrived (its hop limit untouched).
        return Err("the PTB does not quote the invoking packet".into());
    }
    Ok(())
}

/// A frame and whether it arrives on the core port (else the access port).
fn generate(rng: &mut Rng) -> (Vec<u8>, bool) {
    if rng.chance(8) {
        // Pure noise, from the smallest frame BPF_PROG_TEST_RUN takes (an Ethernet header: no
        // driver hands XDP less) to over the MTU.
        let len = ETH_HLEN + rng.below(1700);
        return ((0..len).map(|_| rng.byte()).collect(), rng.chance(50));
    }
    let (ip, core) = template(rng);
    let mut frame = if rng.chance(10) {
        ethernet_vlan(
            CORE_MAC,
            PEER_MAC,
            1 + u16::try_from(rng.below(4000)).expect("below 4000"),
            &ip,
        )
    } else {
        ethernet(if core { CORE_MAC } else { ACCESS_MAC }, PEER_MAC, &ip)
    };
    for _ in 0..rng.below(4) {
        mutate(rng, &mut frame);
    }
    (frame, core)
}

/// A valid IPv6 packet of one of the kinds the program handles, and whether it arrives on the
/// core port.
fn template(rng: &mut Rng) -> (Vec<u8>, bool) {
    let tunnel = |src: Ipv6Addr, inner: &[u8]| encapsulate(src, LOCATOR, 60, 0, 0x777, inner);
    match rng.below(12) {
        0 => (udp(rng, CN, MN1), true),
        11 => (udp(rng, CN, AT_HOME), true),
        1 => (udp(rng, CN, IN_SHORT), true),
        2 => (udp(rng, CN, MN7), true),
        3 => (udp(rng, MN3, CN), false),
        4 => (udp(rng, MN4, CN), false),
        5 => (tunnel(R3, &udp(rng, CN, MN3)), true),
        6 => {
            let from = [STRANGER, R2, R7, CN, LOCATOR][rng.below(5)];
            (tunnel(from, &udp(rng, CN, MN3)), true)
        }
        7 => (tunnel(R2, &udp(rng, CN, UNBOUND)), true),
        8 => (tunnel(R3, &tunnel(R3, &udp(rng, CN, MN3))), true),
        9 => {
            let dst = [SOLICITED_NODE, LINK_LOCAL][rng.below(2)];
            (udp(rng, MN3, dst), rng.chance(50))
        }
        _ => {
            let dst = [MN1, MN3, UNBOUND][rng.below(3)];
            (udp(rng, UNBOUND, dst), rng.chance(50))
        }
    }
}

/// A UDP packet with random header fields, size and extension-header chain.
fn udp(rng: &mut Rng, src: Ipv6Addr, dst: Ipv6Addr) -> Vec<u8> {
    let mut u = Udp6::new(src, dst);
    u.hop_limit = [0, 1, 2, 64, 255][rng.below(5)];
    u.traffic_class = rng.byte();
    u.sport = rng.u16();
    u.dport = rng.u16();
    u.payload_len = if rng.chance(15) {
        1100 + rng.below(500)
    } else {
        rng.below(200)
    };
    let exts = [
        Ext::HopByHop,
        Ext::Routing,
        Ext::DestOpts,
        Ext::Fragment(0),
        Ext::Fragment(8),
    ];
    let n = if rng.chance(30) { rng.below(9) } else { 0 };
    u.exts = (0..n).map(|_| exts[rng.below(exts.len())]).collect();
    u.bytes()
}

/// One random change: a cut, a flipped byte, a wrong payload length or next header, a hop
/// limit at its edges, or bytes appended.
fn mutate(rng: &mut Rng, frame: &mut Vec<u8>) {
    let ip = ipv6_offset(frame).unwrap_or(14);
    match rng.below(6) {
        0 if frame.len() > ETH_HLEN => {
            let len = ETH_HLEN + rng.below(frame.len() - ETH_HLEN + 1);
            frame.truncate(len);
        }
        1 if !frame.is_empty() => {
            let i = rng.below(frame.len());
            frame[i] = rng.byte();
        }
        2 if frame.len() >= ip + 6 => {
            let plen = rng.u16();
            frame[ip + 4..ip + 6].copy_from_slice(&plen.to_be_bytes());
        }
        3 if frame.len() > ip + 6 => {
            frame[ip + 6] = [0, 41, 43, 44, 58, 59, 60, 253, 255][rng.below(9)];
        }
        4 if frame.len() > ip + 7 => frame[ip + 7] = [0, 1, 2, 255][rng.below(4)],
        _ => frame.extend((0..rng.below(64)).map(|_| rng.byte())),
    }
}
