//! BPF_PROG_TEST_RUN: the program reports IPv6 frames from unknown MACs on an access
//! interface with first-frame attachment through the `FIRST_FRAMES` ring, once per MAC per
//! interval, and never changes their verdict.

use std::time::Instant;

use anchor_common::{
    Counter, IfaceRole, IfaceValue,
    config::{IFACE_FLAG_FIRST_FRAME, IFACE_FLAG_SOURCE_VALIDATION},
    first_frame::FIRST_FRAME_REPORT_INTERVAL_NS,
};
use anchor_packet::{Udp6, ethernet, ipv4_udp_frame};
use anchor_rig::fixture_net::{ACCESS_MAC, CORE_MAC};
use anchor_tests::{
    fixture::{CN, MN3, R3, STRANGER, encapsulated, fixture_net, load_small_datapath},
    xdp::{
        XDP_DROP, XDP_PASS, XDP_REDIRECT, action_name, assert_deltas, assert_frame, counters, run,
    },
};
use anchor_user::datapath::{BindingSpec, Datapath, FirstFrame, FirstFrames};

const MAC_R3: [u8; 6] = [2, 0, 0, 0, 0, 3];
const NODE_A: [u8; 6] = [2, 0, 0, 0, 0xa, 1];
const NODE_B: [u8; 6] = [2, 0, 0, 0, 0xa, 2];
const NODE_C: [u8; 6] = [2, 0, 0, 0, 0xa, 3];
const NODE_D: [u8; 6] = [2, 0, 0, 0, 0xa, 4];
/// A group address: never a node's source.
const MULTICAST: [u8; 6] = [0x33, 0x33, 0, 0, 0, 1];

struct Fx {
    dp: Datapath,
    frames: FirstFrames,
    access: u32,
    core: u32,
}

impl Fx {
    fn new() -> Self {
        let net = fixture_net();
        let mut dp = load_small_datapath();
        dp.set_iface_role(net.core_ifindex, IfaceRole::Core)
            .expect("core role");
        dp.set_iface(net.access_ifindex, access_value(IFACE_FLAG_FIRST_FRAME))
            .expect("access with first-frame attachment");
        dp.insert_binding(
            "2001:db8:3:3::/64".parse().expect("prefix"),
            BindingSpec::visiting(R3, true, 3),
        )
        .expect("visiting binding");
        let frames = dp.take_first_frames().expect("the ring, once");
        assert!(dp.take_first_frames().is_none(), "the ring has one reader");
        Self {
            dp,
            frames,
            access: net.access_ifindex,
            core: net.core_ifindex,
        }
    }

    /// Runs `input` on `ifindex`: the verdict, the frame and the counter deltas as expected
    /// (each counter once); returns the reports it queued.
    fn check(
        &mut self,
        name: &str,
        ifindex: u32,
        input: &[u8],
        (verdict, output): (u32, Option<&[u8]>),
        moved: &[Counter],
    ) -> Vec<FirstFrame> {
        let before = counters(&self.dp);
        let out = run(&self.dp, input, ifindex);
        let after = counters(&self.dp);
        assert_eq!(
            action_name(out.action),
            action_name(verdict),
            "{name}: verdict"
        );
        if verdict != XDP_DROP {
            assert_frame(name, &out.frame, output.unwrap_or(input));
        }
        let expected: Vec<(Counter, u64)> = moved.iter().map(|c| (*c, 1)).collect();
        assert_deltas(name, &before, &after, &expected);
        self.frames.drain()
    }
}

fn access_value(flags: u8) -> IfaceValue {
    IfaceValue {
        flags,
        ..IfaceValue::new(IfaceRole::Access)
    }
}

fn from(mac: [u8; 6], ip: &[u8]) -> Vec<u8> {
    ethernet(ACCESS_MAC, mac, ip)
}

fn uplink() -> Vec<u8> {
    Udp6::new(STRANGER, CN).bytes()
}

const PASSED: &[Counter] = &[Counter::Rx, Counter::NoBinding, Counter::Pass];
const REPORTED: &[Counter] = &[
    Counter::Rx,
    Counter::NoBinding,
    Counter::Pass,
    Counter::FirstFrameReport,
];

fn report(ifindex: u32, mac: [u8; 6]) -> Vec<FirstFrame> {
    vec![FirstFrame { ifindex, mac }]
}

#[test]
#[expect(
    clippy::too_many_lines,
    reason = "one scenario: each step's frame, verdict, counters and reports"
)]
fn unknown_macs_on_an_access_link_are_reported_once_per_interval() {
    let mut fx = Fx::new();
    let (access, core) = (fx.access, fx.core);
    assert!(fx.frames.drain().is_empty(), "nothing reported yet");

    // The first frame of an unknown node: reported, passed as before.
    let started = Instant::now();
    let got = fx.check(
        "first frame of A",
        access,
        &from(NODE_A, &uplink()),
        (XDP_PASS, None),
        REPORTED,
    );
    assert_eq!(got, report(access, NODE_A));
    let got = fx.check(
        "second frame of A within the interval",
        access,
        &from(NODE_A, &uplink()),
        (XDP_PASS, None),
        PASSED,
    );
    assert!(got.is_empty(), "second frame of A: {got:?}");
    let elapsed = started.elapsed();
    assert!(
        elapsed.as_nanos() < u128::from(FIRST_FRAME_REPORT_INTERVAL_NS),
        "the two frames of A must fall within the report interval; they took {elapsed:?}"
    );

    // A known node: not reported.
    fx.dp.set_known_mac(access, NODE_B).expect("know B");
    let got = fx.check(
        "frame of known B",
        access,
        &from(NODE_B, &uplink()),
        (XDP_PASS, None),
        PASSED,
    );
    assert!(got.is_empty(), "known B: {got:?}");
    // Known on another interface only: reported here.
    fx.dp.set_known_mac(core, NODE_C).expect("know C elsewhere");
    let got = fx.check(
        "frame of C, known on another interface",
        access,
        &from(NODE_C, &uplink()),
        (XDP_PASS, None),
        REPORTED,
    );
    assert_eq!(got, report(access, NODE_C));
    let mut known = vec![(access, NODE_B), (core, NODE_C)];
    known.sort_unstable();
    assert_eq!(fx.dp.known_macs().expect("list"), known);

    // Neither a group source, nor IPv4, nor a core interface.
    let got = fx.check(
        "frame from a group address",
        access,
        &from(MULTICAST, &uplink()),
        (XDP_PASS, None),
        PASSED,
    );
    assert!(got.is_empty(), "group source: {got:?}");
    let got = fx.check(
        "IPv4 frame of D",
        access,
        &ipv4_udp_frame(ACCESS_MAC, NODE_D),
        (XDP_PASS, None),
        &[Counter::Rx, Counter::NonIpv6, Counter::Pass],
    );
    assert!(got.is_empty(), "IPv4: {got:?}");
    let got = fx.check(
        "frame of D on the core interface",
        core,
        &ethernet(CORE_MAC, NODE_D, &uplink()),
        (XDP_PASS, None),
        PASSED,
    );
    assert!(got.is_empty(), "core interface: {got:?}");

    // The verdict stays: an unknown node's uplink from a visiting prefix still goes home.
    let inner = Udp6::new(MN3, CN);
    let home = ethernet(MAC_R3, CORE_MAC, &encapsulated(&inner, R3, true));
    let got = fx.check(
        "D's uplink from a visiting prefix",
        access,
        &from(NODE_D, &inner.bytes()),
        (XDP_REDIRECT, Some(&home)),
        &[
            Counter::Rx,
            Counter::ReverseEncap,
            Counter::Redirect,
            Counter::FirstFrameReport,
        ],
    );
    assert_eq!(got, report(access, NODE_D));
    // ... and so does a drop: with source validation on, D's foreign source is dropped, and
    // a new node E is reported all the same.
    fx.dp
        .set_iface(
            access,
            access_value(IFACE_FLAG_FIRST_FRAME | IFACE_FLAG_SOURCE_VALIDATION),
        )
        .expect("validation on");
    let node_e = [2, 0, 0, 0, 0xa, 5];
    let got = fx.check(
        "E's frame from a source not allowed",
        access,
        &from(node_e, &uplink()),
        (XDP_DROP, None),
        &[
            Counter::Rx,
            Counter::DropSourceInvalid,
            Counter::FirstFrameReport,
        ],
    );
    assert_eq!(got, report(access, node_e));

    // First-frame attachment off: nothing reported.
    fx.dp
        .set_iface(access, access_value(0))
        .expect("first-frame attachment off");
    let node_f = [2, 0, 0, 0, 0xa, 6];
    let got = fx.check(
        "F's frame, attachment off",
        access,
        &from(node_f, &uplink()),
        (XDP_PASS, None),
        PASSED,
    );
    assert!(got.is_empty(), "off: {got:?}");
    fx.dp
        .set_iface(access, access_value(IFACE_FLAG_FIRST_FRAME))
        .expect("on again");
    // A forgotten node is reported again.
    fx.dp.remove_known_mac(access, NODE_B).expect("forget B");
    fx.dp
        .remove_known_mac(access, NODE_B)
        .expect("forget B twice");
    let got = fx.check(
        "frame of B, forgotten",
        access,
        &from(NODE_B, &uplink()),
        (XDP_PASS, None),
        REPORTED,
    );
    assert_eq!(got, report(access, NODE_B));
}

#[test]
fn a_full_ring_counts_the_reports_it_loses() {
    const NODES: u16 = 400;
    let mut fx = Fx::new();
    let access = fx.access;
    let before = counters(&fx.dp);
    for n in 0..NODES {
        let [hi, lo] = n.to_be_bytes();
        let out = run(&fx.dp, &from([2, 0, 0, 0xb, hi, lo], &uplink()), access);
        assert_eq!(action_name(out.action), action_name(XDP_PASS), "node {n}");
    }
    let after = counters(&fx.dp);
    let delta = |c: Counter| after[c.name()] - before[c.name()];
    let reported = delta(Counter::FirstFrameReport);
    let lost = delta(Counter::FirstFrameReportLost);
    let read = fx.frames.drain();
    println!("{NODES} unknown nodes: {reported} reported, {lost} lost (ring full)");
    assert_eq!(reported + lost, u64::from(NODES));
    assert!(lost > 0, "the ring holds fewer than {NODES} reports");
    assert_eq!(
        read.len() as u64,
        reported,
        "every report counted is in the ring"
    );
    assert_eq!(
        read.first(),
        Some(&FirstFrame {
            ifindex: access,
            mac: [2, 0, 0, 0xb, 0, 0]
        })
    );
    assert_eq!(delta(Counter::Pass), u64::from(NODES));
    // Read, the ring takes reports again.
    let out_before = counters(&fx.dp);
    run(&fx.dp, &from(NODE_A, &uplink()), access);
    let out_after = counters(&fx.dp);
    assert_deltas(
        "after the ring was read",
        &out_before,
        &out_after,
        &REPORTED.iter().map(|c| (*c, 1)).collect::<Vec<_>>(),
    );
    assert_eq!(fx.frames.drain(), report(access, NODE_A));
}

/// The median run time of `frame` on `ifindex` over `runs` test runs, each counted as passed
/// and not reported.
fn median_run(fx: &mut Fx, frame: &[u8], ifindex: u32, runs: u64) -> std::time::Duration {
    let before = counters(&fx.dp);
    let mut times: Vec<_> = (0..runs)
        .map(|_| run(&fx.dp, frame, ifindex).duration)
        .collect();
    let after = counters(&fx.dp);
    let expected: Vec<(Counter, u64)> = PASSED.iter().map(|c| (*c, runs)).collect();
    assert_deltas("timed runs", &before, &after, &expected);
    assert!(fx.frames.drain().is_empty(), "timed runs reported nothing");
    times.sort_unstable();
    times[times.len() / 2]
}

/// What the reports cost a frame of a known node, and of one reported within the interval
/// (printed; the runs' verdicts and counters are checked).
#[test]
fn cost_of_the_check_per_frame() {
    const RUNS: u64 = 20_000;
    let mut fx = Fx::new();
    let access = fx.access;
    fx.dp.set_known_mac(access, NODE_B).expect("know B");
    let known = from(NODE_B, &uplink());
    fx.dp
        .set_iface(access, access_value(0))
        .expect("attachment off");
    let off = median_run(&mut fx, &known, access, RUNS);
    fx.dp
        .set_iface(access, access_value(IFACE_FLAG_FIRST_FRAME))
        .expect("attachment on");
    let on = median_run(&mut fx, &known, access, RUNS);
    println!(
        "median test run ({RUNS} runs each, including about 55 ns of timer overhead): \
         attachment off {off:?}, on with a known MAC {on:?}"
    );
}
