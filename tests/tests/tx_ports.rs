//! The program's device map of out interfaces (`TX_PORTS`) on a live line (privileged,
//! in-process).
//!
//! `gen` --(g0|r0)-- router --(r1|s1)-- `snk1`, and --(r2|s2)-- `snk2`. The anchor runs on `r0`
//! and redirects the /64 of the generator's frames to a peer behind `r1`, with the next hop its
//! resolver caches. The sinks count the tunnelled frames that reach them.
//!
//! - attaching to `r0` and resolving the peer's next hop put `r0` and `r1` in `TX_PORTS`, and the
//!   frames arrive at `snk1`, every one;
//! - with `r1`'s entry pointed at `r2` behind the daemon's back, they arrive at `snk2` instead:
//!   the program redirects through the map;
//! - once `r2` is deleted the kernel drops that entry, and the frames reach `snk1` again
//!   (`bpf_redirect` by index, the fallback); the resolver's next round puts `r1` back.
//!
//! Needs root, native XDP on veth and live-frames test runs; anything missing fails the test.

use std::{net::Ipv6Addr, time::Duration};

use anchor_common::{Counter, IfaceRole, maps::TX_PORTS};
use anchor_packet::{Udp6, ethernet};
use anchor_rig::Netns;
use anchor_tests::{
    fixture::{LOCATOR, load_small_datapath},
    support::in_netns,
    traffic::{Generator, Sink},
    xdp::counters,
};
use anchor_user::{
    datapath::{BindingSpec, Datapath, XdpMode},
    routing::NextHopResolver,
};
use aya::maps::{Map, MapData, xdp::DevMap};

/// The peer the /64 is redirected to, behind `r1`.
const SERVING: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 0xf1, 0, 0, 0, 0, 2);
const SOURCE: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 0xf0, 0, 0, 0, 0, 2);
const DESTINATION: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 1, 1, 0, 0, 0, 0x100);
const PREFIX: &str = "2001:db8:1:1::/64";
const G0_MAC: [u8; 6] = [2, 0, 0, 0, 1, 1];
const R0_MAC: [u8; 6] = [2, 0, 0, 0, 1, 2];
/// Frames per phase.
const FRAMES: u64 = 20_000;
/// Frames per test run of the generator, one run per `PACE`: slow enough that no veth ring
/// overflows, so that every frame is accounted for.
const RUN: u32 = 500;
const PACE: Duration = Duration::from_millis(5);
const IPPROTO_IPV6: u8 = 41;

struct Line {
    generator: Netns,
    router: Netns,
    snk1: Netns,
    snk2: Netns,
}

fn build() -> Line {
    let ns = |tag| Netns::create("anchor-txp", tag).unwrap_or_else(|e| panic!("{e:#}"));
    let line = Line {
        generator: ns("gen"),
        router: ns("rtr"),
        snk1: ns("s1"),
        snk2: ns("s2"),
    };
    let run = |ns: &Netns, cmd: &str| ns.ip(cmd).unwrap_or_else(|e| panic!("{e:#}"));
    run(
        &line.generator,
        &format!(
            "link add g0 address 02:00:00:00:01:01 type veth peer name r0 netns {} address \
             02:00:00:00:01:02",
            line.router.name()
        ),
    );
    for (n, sink) in [(1, &line.snk1), (2, &line.snk2)] {
        run(
            &line.router,
            &format!(
                "link add r{n} address 02:00:00:00:0{n}:01 type veth peer name s{n} netns {} \
                 address 02:00:00:00:0{n}:02",
                sink.name()
            ),
        );
        run(sink, &format!("link set s{n} up"));
        run(&line.router, &format!("link set r{n} up"));
    }
    run(&line.router, "link set r0 up");
    run(&line.generator, "link set g0 up");
    for cmd in [
        "addr add 2001:db8:f1::1/64 dev r1 nodad",
        "neigh replace 2001:db8:f1::2 lladdr 02:00:00:00:01:02 dev r1 nud permanent",
    ] {
        run(&line.router, cmd);
    }
    line
}

fn ifindex(ns: &Netns, dev: &str) -> u32 {
    ns.ifindex(dev).unwrap_or_else(|e| panic!("{e:#}"))
}

/// The program's `TX_PORTS`, found through the loaded program's maps.
fn tx_ports_map(dp: &Datapath) -> DevMap<MapData> {
    let ids = dp
        .program()
        .info()
        .expect("program info")
        .map_ids()
        .expect("the program's map ids")
        .expect("the kernel lists a program's maps");
    let data = ids
        .into_iter()
        .map(|id| MapData::from_id(id).expect("open a map of the program"))
        .find(|data| data.info().expect("map info").name_as_str() == Some(TX_PORTS))
        .expect("the program has TX_PORTS");
    DevMap::try_from(Map::DevMap(data)).expect("TX_PORTS is a device map")
}

/// Runs the next-hop resolver once, in the calling thread's namespace.
fn resolve(dp: &Datapath) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime");
    runtime.block_on(async {
        let mut resolver = NextHopResolver::new(dp.next_hop_cache().expect("the next-hop cache"))
            .expect("resolver");
        let round = resolver.resolve_once().await.expect("a resolution round");
        assert_eq!(round.valid, 1, "the peer's next hop resolves: {round:?}");
    });
}

fn sorted(mut v: Vec<u32>) -> Vec<u32> {
    v.sort_unstable();
    v
}

/// Sends at least `FRAMES` frames and returns how many were sent.
fn send(line: &Line, frame: &[u8]) -> u64 {
    let g0 = ifindex(&line.generator, "g0");
    let generator = Generator::start(line.generator.name(), g0, frame, RUN, Some(PACE));
    generator.wait_for(FRAMES, Duration::from_mins(1));
    let (sent, _) = generator.stop();
    // Frames in flight reach the sinks within microseconds.
    std::thread::sleep(Duration::from_millis(200));
    sent
}

fn redirected(dp: &Datapath) -> u64 {
    counters(dp)[Counter::Redirect.name()]
}

#[test]
fn redirects_go_through_the_device_map_and_fall_back_by_index() {
    let line = build();
    let (r0, r1, r2) = (
        ifindex(&line.router, "r0"),
        ifindex(&line.router, "r1"),
        ifindex(&line.router, "r2"),
    );
    let sink = |ns: &Netns, dev: &str| {
        let index = ifindex(ns, dev);
        in_netns(ns.name(), || {
            Sink::attach(index, LOCATOR, SERVING, IPPROTO_IPV6)
        })
    };
    let s1 = sink(&line.snk1, "s1");
    let s2 = sink(&line.snk2, "s2");
    let frame = ethernet(R0_MAC, G0_MAC, &Udp6::new(SOURCE, DESTINATION).bytes());

    let _inside = line.router.enter().unwrap_or_else(|e| panic!("{e:#}"));
    let mut dp = load_small_datapath();
    dp.insert_binding(
        PREFIX.parse().expect("prefix"),
        BindingSpec::redirect(SERVING, 0),
    )
    .expect("the redirect binding");
    dp.attach("r0", IfaceRole::Core, XdpMode::Native)
        .expect("attach to r0");
    assert_eq!(
        sorted(dp.tx_ports().expect("list")),
        vec![r0],
        "attaching puts r0 in"
    );
    resolve(&dp);
    assert_eq!(
        sorted(dp.tx_ports().expect("list")),
        sorted(vec![r0, r1]),
        "the resolver puts the next hop's interface in"
    );

    let phase = |name: &str, to_s1: bool| {
        let (before1, before2, redirects) = (s1.frames().0, s2.frames().0, redirected(&dp));
        let sent = send(&line, &frame);
        let (got1, got2) = (s1.frames().0 - before1, s2.frames().0 - before2);
        assert_eq!(
            redirected(&dp) - redirects,
            sent,
            "{name}: every frame sent is redirected"
        );
        let (expected1, expected2) = if to_s1 { (sent, 0) } else { (0, sent) };
        assert_eq!(
            (got1, got2),
            (expected1, expected2),
            "{name}: tunnelled frames at (snk1, snk2) of {sent} sent"
        );
    };
    phase("through TX_PORTS", true);

    // Behind the daemon's back: r1's entry names r2's device.
    tx_ports_map(&dp)
        .set(r1, r2, None, 0)
        .expect("point r1's entry at r2");
    phase("r1's entry pointed at r2", false);

    line.router
        .ip("link del r2")
        .unwrap_or_else(|e| panic!("{e:#}"));
    assert_eq!(
        sorted(dp.tx_ports().expect("list")),
        vec![r0],
        "the kernel drops the entry of a deleted device"
    );
    phase("r1 missing: bpf_redirect by index", true);

    resolve(&dp);
    assert_eq!(
        sorted(dp.tx_ports().expect("list")),
        sorted(vec![r0, r1]),
        "the next round puts r1 back"
    );
    phase("r1 back in TX_PORTS", true);
}
