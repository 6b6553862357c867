//! The resize's program switch loses no frame at line rate (privileged, in-process).
//!
//! A veth pair `g0`/`r0` in a namespace of the test's own: the anchor runs natively on `r0`
//! (started as the daemon starts it, its link pinned), and `bench_gen` sends frames out of `g0`
//! with BPF_PROG_TEST_RUN in live-frames mode, as fast as one CPU can, for the whole test. Each
//! frame is a tunnel packet to the locator for a prefix without a binding: the program counts it
//! in `rx` and drops it (`drop_decap_no_binding`, which counts nothing else here). While the frames flow, a second start with
//! another `max_bindings` loads a new program with new maps and switches the pinned link over to
//! it (`BPF_LINK_UPDATE`). `COUNTERS` keeps its capacity and is shared by both programs, so every
//! frame that reached an XDP program is counted once: `drop_decap_no_binding` must grow by
//! exactly the frames sent. At the measured rate (printed, several frames a microsecond), a detach and
//! re-attach, however quick, would let frames reach `r0` with no program, uncounted.
//!
//! Needs root, a bpffs at /sys/fs/bpf, native XDP on veth and live-frames test runs (`cargo xtask
//! doctor`); anything missing fails the test.

use std::{net::Ipv6Addr, time::Duration};

use anchor_common::{Counter, IfaceRole};
use anchor_packet::{Udp6, encapsulate, ethernet};
use anchor_tests::{
    support::in_netns,
    traffic::Generator,
    veth_pair::{G0_MAC, R0_MAC, VethPair, ifindex},
};
use anchor_user::datapath::{Datapath, DatapathParams, InterfaceSpec, XdpMode};

const LOCATOR: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 0xff, 0, 0, 0, 0, 1);
const PEER: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 0xff, 0, 0, 0, 0, 2);
const CN: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 0xc, 0, 0, 0, 0, 2);
const UNBOUND: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 9, 9, 0, 0, 0, 1);
/// Frames per test run.
const REPEAT: u32 = 20_000;

fn params(max_bindings: u32) -> DatapathParams {
    DatapathParams {
        locator: LOCATOR,
        tunnel_mtu: 1500,
        outer_hop_limit: 64,
        max_bindings,
        dense_pools: Vec::new(),
        log: false,
    }
}

fn r0() -> InterfaceSpec {
    InterfaceSpec {
        name: "r0".to_owned(),
        role: IfaceRole::Core,
        mode: XdpMode::Native,
        source_validation: false,
    }
}

/// The generator's frame: a tunnel packet to the locator for a prefix without a binding.
fn generator_frame() -> Vec<u8> {
    let inner = Udp6::new(CN, UNBOUND).bytes();
    ethernet(
        R0_MAC,
        G0_MAC,
        &encapsulate(PEER, LOCATOR, 64, 0, 0, &inner),
    )
}

/// Packets counted by `counter`, summed over the CPUs.
fn count(dp: &Datapath, counter: Counter) -> u64 {
    dp.counters()
        .expect("read COUNTERS")
        .into_iter()
        .find(|(c, _)| *c == counter)
        .map_or(0, |(_, v)| v.packets)
}

#[test]
#[expect(clippy::cast_precision_loss, reason = "a frame count far below 2^52")]
fn the_resize_switch_loses_no_frame_at_line_rate() {
    let pair = VethPair::build("hs", true);
    let (ns, pins) = (&pair.ns, &pair.pins);

    in_netns(ns, || {
        let old = Datapath::start(&params(64), pins, &[r0()]).expect("the first start");
        let frame = generator_frame();
        let g0 = ifindex("g0");
        let rx_before = count(&old, Counter::Rx);
        let drops_before = count(&old, Counter::DropDecapNoBinding);
        // As when the daemon stops: its program stays attached through the pinned link.
        drop(old);

        let generator = Generator::start(ns, g0, &frame, REPEAT, None);

        // Traffic flows through the old program, then the switch, then the new one.
        let bound = Duration::from_secs(30);
        generator.wait_for(200_000, bound);
        let at_switch = generator.sent();
        let new = Datapath::start(&params(128), pins, &[r0()]).expect("the resize");
        let after_switch = generator.sent();
        generator.wait_for(after_switch + 200_000, bound);
        let (sent, ran) = generator.stop();
        // Frames in flight land within microseconds.
        std::thread::sleep(Duration::from_millis(200));

        // The test's frames are the only tunnel packets for an unbound prefix; `rx` also counts
        // the kernel's own few (Neighbour Discovery, MLD) on the link.
        let counted = count(&new, Counter::DropDecapNoBinding) - drops_before;
        let rx = count(&new, Counter::Rx) - rx_before;
        let rate = sent as f64 / ran.as_secs_f64();
        println!(
            "hitless switch: {sent} frames sent at {:.2} Mpps ({:.1} a microsecond), {} of them \
             while the resize ran; {counted} counted",
            rate / 1e6,
            rate / 1e6,
            after_switch - at_switch
        );
        assert!(
            after_switch > at_switch,
            "frames should have flowed while the resize switched the program"
        );
        assert_eq!(
            counted,
            sent,
            "every frame sent should reach an XDP program: {} did not",
            sent.saturating_sub(counted)
        );
        assert!(rx >= sent, "rx grew by {rx}, less than the {sent} frames");
    });
}
