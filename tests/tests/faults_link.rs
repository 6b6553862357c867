//! The link between two routers flaps under a redirect's traffic, on the grown rig of
//! `rig/topologies/three-ars.toml` (`session-lasting` pools; the routers keep their addresses
//! when a link goes down, `keep_addr_on_down`, as routers are configured).
//!
//! 1. The node attaches at AR1 and moves to AR2: AR1 redirects P1 to AR2. A UDP stream from the
//!    correspondent to the node's P1 address (200 datagrams/s) runs through the tunnel, sent with
//!    AR1's cached next hop toward AR2 (`nexthop_cached` grows).
//! 2. The core's end of AR1's link goes down for `DOWN` and comes back: AR1 loses its carrier,
//!    its next hop toward AR2 with it (the core's routes through that link, which its own
//!    administrative down removed, are put back as its routing would learn them again).
//! 3. The stream resumes within `RESUME_BOUND` of the link's return (the bound this test
//!    states: the next-hop resolver follows rtnetlink's events, and the neighbour entry is
//!    resolved again), and AR1 sends with its cached next hop again: `nexthop_cached` grows
//!    after the return. The gap and the datagrams lost are printed.

use std::time::{Duration, Instant};

use anchor_rig::{
    grown::{
        Spec, THREE_ARS,
        plan::{CN, CORE},
        spec::Policy,
    },
    udp_stream::UdpStream,
};
use anchor_tests::{
    grown::{GrownScenario, wait_until_right},
    scenario::DEADLINE,
    support::global_counter,
};

const MN: &str = "mn1";
const PORT: u16 = 7095;
const PACE: Duration = Duration::from_millis(5);
/// How long the link stays down.
const DOWN: Duration = Duration::from_secs(1);
/// How soon after the link's return the stream must flow again.
const RESUME_BOUND: Duration = Duration::from_secs(10);

#[test]
fn a_link_flap_between_routers_is_followed_by_the_next_hop_cache() {
    let mut spec = Spec::parse(THREE_ARS, "rig/topologies/three-ars.toml")
        .unwrap_or_else(|e| panic!("the sample topology: {e}"));
    spec.maar.policy = Policy::SessionLasting;
    spec.maar.idle_release_s = Some(600);
    for mn in &mut spec.mobile_nodes {
        mn.start_at = None;
    }
    let sc = GrownScenario::start("lf", &spec);
    for node in [CORE, "ar1"] {
        anchor_rig::cmd::in_netns(&sc.grown.ns(node), "sysctl")
            .args(["-qw", "net.ipv6.conf.all.keep_addr_on_down=1"])
            .status()
            .expect("sysctl keep_addr_on_down");
    }

    // 1. The redirect, and a stream through it.
    sc.grown
        .attach(MN, "ar1")
        .unwrap_or_else(|e| panic!("{e:#}"));
    let p1 = sc.first_prefix("ar1");
    let address = sc.slaac(MN, p1);
    sc.wait_for_address(MN, "ar1", address, true);
    sc.grown
        .move_node(MN, "ar1", "ar2")
        .unwrap_or_else(|e| panic!("{e:#}"));
    sc.wait_for_address(MN, "ar2", sc.slaac(MN, sc.first_prefix("ar2")), true);
    let ar2 = sc.locator("ar2").to_string();
    wait_until_right("AR1 redirecting P1 to AR2", DEADLINE, || {
        let redirect = sc.binding("ar1", p1);
        let right = redirect
            .as_ref()
            .is_some_and(|b| b["kind"] == "redirect" && b["peer"] == ar2.as_str());
        (!right).then(|| format!("AR1: {redirect:?}"))
    });
    let stream = UdpStream::start(
        &sc.grown.ns(CN),
        spec.correspondent.address,
        &sc.grown.ns(MN),
        address,
        PORT,
        PACE,
    )
    .unwrap_or_else(|e| panic!("{e:#}"));
    let flowing = Instant::now();
    stream
        .wait_for(flowing, 100, DEADLINE)
        .unwrap_or_else(|e| panic!("the stream through the redirect: {e:#}"));
    let cached_before = global_counter(sc.router("ar1"), "nexthop_cached");
    assert!(
        cached_before > 0,
        "AR1 should send the redirect's packets with its cached next hop toward AR2"
    );

    // 2. The flap.
    let down = Instant::now();
    sc.grown
        .ip(CORE, &["link", "set", "ar1", "down"])
        .unwrap_or_else(|e| panic!("{e:#}"));
    std::thread::sleep(DOWN);
    sc.grown
        .ip(CORE, &["link", "set", "ar1", "up"])
        .unwrap_or_else(|e| panic!("{e:#}"));
    // A veth loses its carrier only when its peer goes down, and the core's routes through a
    // link that went down administratively are gone: put back the ones of the plan through AR1,
    // as the core's routing would learn them again. AR1 itself only saw its carrier go.
    let via_ar1 = sc.locator("ar1").to_string();
    for route in &sc.grown.plan().routes {
        if route.node == CORE && route.args.contains(&via_ar1) {
            let mut args = vec!["-6", "route", "replace"];
            args.extend(route.args.iter().map(String::as_str));
            sc.grown.ip(CORE, &args).unwrap_or_else(|e| panic!("{e:#}"));
        }
    }
    let back = Instant::now();
    let cached_at_return = global_counter(sc.router("ar1"), "nexthop_cached");

    // 3. The stream resumes within the bound, with the cached next hop.
    let resumed = stream
        .wait_for(back, 1, RESUME_BOUND)
        .unwrap_or_else(|e| panic!("the stream after the link came back: {e:#}"));
    stream
        .wait_for(back, 100, RESUME_BOUND)
        .unwrap_or_else(|e| panic!("the stream after the link came back: {e:#}"));
    let (gap, lost) = stream.stall(down, Instant::now());
    let while_down = stream
        .arrivals()
        .iter()
        .filter(|&&(at, _)| at > down && at <= back)
        .count();
    println!(
        "link flap: down {DOWN:?}; the stream resumed {:?} after the link came back; longest gap \
         {gap:?}, {lost} datagrams lost; {while_down} arrived while it was down",
        resumed - back
    );
    let cached_after = global_counter(sc.router("ar1"), "nexthop_cached");
    assert!(
        cached_after > cached_at_return,
        "AR1 should send with its cached next hop again after the flap ({cached_at_return} -> \
         {cached_after})"
    );
    drop(stream);
    sc.stop();
}
