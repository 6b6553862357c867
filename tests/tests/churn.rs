//! Churn under load: bindings change at a high rate while traffic flows through one that does
//! not, and not one of its packets is lost or mis-delivered (privileged, in-process).
//!
//! A veth pair `g0`/`r0` in a namespace of the test's own, IPv6 off on both ends (no packet of
//! the kernel's own on the link). The anchor runs natively on `r0` (started as the daemon starts
//! it) with `ANCHOR_CHURN_BINDINGS` bindings (default 1,000,000): one stable redirect of
//! `P_STABLE` to `PEER`, whose next hop is cached back out of `r0`, and the others redirected to
//! `PEER2`. `bench_gen` sends UDP to `P_STABLE` out of `g0`, paced; the anchor encapsulates each
//! datagram toward `PEER` and sends it back with XDP_TX to `g0`, where `bench_sink` counts the
//! frames from the locator to `PEER` apart from every other frame. Meanwhile the test rewrites
//! the other bindings, alternating their serving router between `PEER2` and `PEER3` (every tenth
//! one removed and added again), at up to `ANCHOR_CHURN_RATE` updates a second (default 100,000)
//! for `ANCHOR_CHURN_SECONDS` (default 3; `cargo xtask churn` runs 10 s or more). The updates go
//! to the datapath as the binding table writes them (`Datapath::insert_binding`,
//! `remove_binding`), in the namespace of the running program.
//!
//! Checked: every datagram sent arrives at the sink as expected (none lost, none to another
//! peer), no other frame arrives, and the anchor counted each in `encap`. The rates reached are
//! printed; they are figures, not assertions (`cargo xtask churn` reports them).
//!
//! Needs root, a bpffs at /sys/fs/bpf, native XDP on veth and live-frames test runs (`cargo xtask
//! doctor`); anything missing fails the test.

use std::{
    net::Ipv6Addr,
    time::{Duration, Instant},
};

use anchor_common::{Counter, IfaceRole, NextHop};
use anchor_packet::{Udp6, ethernet};
use anchor_tests::{
    support::in_netns,
    traffic::{Generator, Sink},
    veth_pair::{G0_MAC, R0_MAC, VethPair, ifindex},
};
use anchor_user::datapath::{BindingSpec, Datapath, DatapathParams, InterfaceSpec, XdpMode};
use ipnet::Ipv6Net;

const LOCATOR: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 0xff, 0, 0, 0, 0, 1);
const PEER: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 0xff, 0, 0, 0, 0, 2);
const PEER2: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 0xff, 0, 0, 0, 0, 3);
const PEER3: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 0xff, 0, 0, 0, 0, 4);
const CN: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 0xc, 0, 0, 0, 0, 2);
/// The node of the stable binding, in `2001:db8:5::/64`.
const MN_STABLE: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 5, 0, 0, 0, 0, 0x10);
/// The upper 64 bits of the changing bindings' /64s: this base plus their number.
const CHURN_BASE: u64 = 0x2001_0db8_4000_0000;
/// The generator's pace: `RUN` frames every `PACE` (100,000 a second).
const RUN: u32 = 500;
const PACE: Duration = Duration::from_millis(5);

/// A setting from the environment, or its default.
fn setting(name: &str, default: u64) -> u64 {
    match std::env::var(name) {
        Ok(value) => value
            .parse()
            .unwrap_or_else(|_| panic!("{name} = {value:?} is not a whole number")),
        Err(_) => default,
    }
}

/// The `i`th changing /64.
fn churn_prefix(i: u64) -> Ipv6Net {
    let address = Ipv6Addr::from(u128::from(CHURN_BASE + i) << 64);
    Ipv6Net::new(address, 64).expect("a /64")
}

fn encapsulated(dp: &Datapath) -> u64 {
    dp.counters()
        .expect("read COUNTERS")
        .into_iter()
        .find(|(c, _)| *c == Counter::Encap)
        .map_or(0, |(_, v)| v.packets)
}

/// Rewrites the changing bindings `1..bindings` in turn for `duration`, at up to `rate` a
/// second: each pass alternates their serving router between `PEER3` and `PEER2`, and removes
/// every tenth one before adding it again. Returns the updates made (a removal counts as one).
#[expect(
    clippy::cast_precision_loss,
    reason = "counts far below 2^52, for the pace"
)]
fn churn(dp: &mut Datapath, bindings: u64, duration: Duration, rate: u64) -> u64 {
    let start = Instant::now();
    let mut updates: u64 = 0;
    let mut i: u64 = 0;
    let mut pass: u64 = 0;
    while start.elapsed() < duration {
        i += 1;
        if i == bindings {
            i = 1;
            pass += 1;
        }
        let prefix = churn_prefix(i);
        let serving = if pass.is_multiple_of(2) { PEER3 } else { PEER2 };
        let slot = u32::try_from(i).expect("below 2^20");
        if i.is_multiple_of(10) {
            dp.remove_binding(prefix)
                .unwrap_or_else(|e| panic!("remove {prefix}: {e}"));
            updates += 1;
        }
        dp.insert_binding(prefix, BindingSpec::redirect(serving, slot))
            .unwrap_or_else(|e| panic!("update {prefix}: {e}"));
        updates += 1;
        if updates.is_multiple_of(1000) {
            let due = start + Duration::from_secs_f64(updates as f64 / rate as f64);
            std::thread::sleep(due.saturating_duration_since(Instant::now()));
        }
    }
    updates
}

#[test]
#[expect(
    clippy::cast_precision_loss,
    reason = "counts far below 2^52, for rates printed"
)]
fn churn_loses_no_packet_of_an_unchanged_binding() {
    let bindings = setting("ANCHOR_CHURN_BINDINGS", 1_000_000);
    let seconds = setting("ANCHOR_CHURN_SECONDS", 3);
    let rate = setting("ANCHOR_CHURN_RATE", 100_000);
    assert!(
        (2..=1_048_576).contains(&bindings),
        "ANCHOR_CHURN_BINDINGS must be 2..=1048576"
    );
    let pair = VethPair::build("churn", false);
    let (ns, pins) = (&pair.ns, &pair.pins);

    in_netns(ns, || {
        let params = DatapathParams {
            locator: LOCATOR,
            tunnel_mtu: 1500,
            outer_hop_limit: 64,
            max_bindings: u32::try_from(bindings).expect("at most 2^20"),
            dense_pools: Vec::new(),
            log: false,
        };
        let r0 = InterfaceSpec {
            name: "r0".to_owned(),
            role: IfaceRole::Core,
            mode: XdpMode::Native,
            source_validation: false,
        };
        let mut dp = Datapath::start(&params, pins, &[r0]).expect("start the anchor on r0");
        let (g0, r0) = (ifindex("g0"), ifindex("r0"));

        // The stable binding, its peer's next hop back out of r0 (to g0), and the others.
        let stable: Ipv6Net = "2001:db8:5::/64".parse().expect("prefix");
        dp.insert_binding(stable, BindingSpec::redirect(PEER, 0))
            .expect("the stable binding");
        let peer = dp.peer_index(PEER).expect("PEER in use");
        dp.set_next_hop(peer, NextHop::valid(G0_MAC, R0_MAC, r0, 1500))
            .expect("PEER's next hop");
        let start = Instant::now();
        for i in 1..bindings {
            let slot = u32::try_from(i).expect("below 2^20");
            dp.insert_binding(churn_prefix(i), BindingSpec::redirect(PEER2, slot))
                .unwrap_or_else(|e| panic!("binding {i}: {e}"));
        }
        println!(
            "churn: {bindings} bindings installed in {:.1} s",
            start.elapsed().as_secs_f64()
        );

        let sink = Sink::attach(g0, LOCATOR, PEER, 41);
        let frame = ethernet(R0_MAC, G0_MAC, &Udp6::new(CN, MN_STABLE).bytes());
        let encap_before = encapsulated(&dp);
        let generator = Generator::start(ns, g0, &frame, RUN, Some(PACE));
        generator.wait_for(10_000, Duration::from_secs(30));

        let churn_start = Instant::now();
        let updates = churn(&mut dp, bindings, Duration::from_secs(seconds), rate);
        let churned = churn_start.elapsed();
        let (sent, ran) = generator.stop();
        // Frames in flight land within microseconds.
        std::thread::sleep(Duration::from_millis(200));

        let (expected, other) = sink.frames();
        let encap = encapsulated(&dp) - encap_before;
        println!(
            "churn: {updates} updates in {:.1} s ({:.0}/s, at most {rate}/s asked) over {} \
             bindings; {sent} datagrams at {:.0}/s through the stable binding: {expected} \
             arrived as expected, {other} other frames, {encap} encapsulated",
            churned.as_secs_f64(),
            updates as f64 / churned.as_secs_f64(),
            bindings - 1,
            sent as f64 / ran.as_secs_f64()
        );
        assert!(updates > 0, "no update was made");
        assert_eq!(
            expected,
            sent,
            "every datagram through the unchanged binding should arrive: {} lost",
            sent.saturating_sub(expected)
        );
        assert_eq!(
            other, 0,
            "frames other than the expected tunnel packets arrived"
        );
        assert_eq!(
            encap, sent,
            "the anchor should have encapsulated each datagram"
        );
    });
}
