//! A Wi-Fi roam between two MAARs that share one router identity (RFC 5213 section 6.8,
//! RFC 6543), on the grown rig of `rig/topologies/three-ars.toml` with `attachment = "roam"`:
//! the node's one interface (`air`) is a port of AR1's access switch, then of AR2's, and never
//! goes down, so it sends no solicitation and runs no duplicate address detection. The access
//! point's association event is played by `anchor mn attach` on AR2.
//!
//! 1. Every access interface has RFC 6543's MAC and link-local address, and no other
//!    link-local address.
//! 2. The node attaches at AR1 (its solicitation) and gets P1; its default router is the
//!    shared link-local address, its neighbour entry for it the shared MAC.
//! 3. With a TCP flow echoing verified bytes and a UDP stream each way at 200 datagrams/s, the
//!    node roams to AR2. Between the roam and the arrival at the correspondent of its first
//!    uplink datagram sent after it, the node sends no Neighbour Solicitation
//!    (`Icmp6OutNeighborSolicits` of its namespace); both streams come back (their longest
//!    gaps are printed); its default route and its neighbour entry for the router are the ones
//!    it had; AR1 redirects P1 to AR2, which holds the visiting binding; the flow still echoes.

use std::time::{Duration, Instant};

use anchor_rig::{
    cmd::{self, Run as _},
    grown::Spec,
    udp_stream::UdpStream,
};
use anchor_tests::{
    flow::{Flow, echo_server},
    grown::{GrownScenario, wait_until_right},
    roam::{MN, attach_at_ar1, roam_spec, streams_each_way},
    scenario::DEADLINE,
};

const TCP_PORT: u16 = 7090;
const DOWN_PORT: u16 = 7091;
const UP_PORT: u16 = 7092;
const IDENTITY_MAC: &str = "00:00:5e:00:52:13";
const IDENTITY_LL: &str = "fe80::200:5eff:fe00:5213";

#[test]
fn a_roam_keeps_the_default_router_and_its_neighbour_entry_with_no_discovery() {
    let spec = roam_spec(false);
    let mac = spec.mobile_node(MN).expect("mn1").mac.to_string();
    let sc = GrownScenario::start("ro", &spec);

    // 1. The identity on every access interface.
    assert_identity(&sc, &spec);

    // 2. Attached at AR1 by its solicitation.
    let (p1, address) = attach_at_ar1(&sc);
    let router_before = default_router(&sc);
    assert_eq!(
        router_before,
        format!("via {IDENTITY_LL} dev air"),
        "the node's default router should be the shared link-local address"
    );

    let listener = sc.listen(TCP_PORT);
    echo_server(&listener);
    let flow = Flow::start("p1", 7, sc.connect(MN, address, TCP_PORT, DEADLINE));
    let (down, up) = streams_each_way(&sc, address, DOWN_PORT, UP_PORT);
    let mn_ns = sc.grown.ns(MN);
    let neighbour_before = router_neighbour(&sc);
    assert!(
        neighbour_before.contains(&format!("lladdr {IDENTITY_MAC}")),
        "the node's neighbour entry for its router should have the shared MAC: {neighbour_before}"
    );

    // 3. The roam, and the access point's association event.
    let solicits_before = neighbour_solicitations(&mn_ns);
    let roamed = Instant::now();
    sc.grown
        .move_node(MN, "ar1", "ar2")
        .unwrap_or_else(|e| panic!("{e:#}"));
    sc.router("ar2")
        .cli(&["mn", "attach", "--mn-id", &mac, "--dev", "air"])
        .unwrap_or_else(|e| panic!("{e:#}"));
    // The first uplink datagram sent after the roam: numbers go up by one every PACE.
    let sent_after = up
        .arrivals()
        .iter()
        .filter(|&&(at, _)| at <= roamed)
        .map(|&(_, number)| number + 1)
        .max()
        .unwrap_or(0);
    let uplink_arrived = wait_for_number(&up, sent_after);
    let solicits_after = neighbour_solicitations(&mn_ns);
    assert_eq!(
        solicits_after - solicits_before,
        0,
        "the node sent Neighbour Solicitations between the roam and the arrival of its first \
         uplink datagram after it ({:?} later)",
        uplink_arrived - roamed
    );
    down.wait_for(roamed, 1, DEADLINE)
        .unwrap_or_else(|e| panic!("UDP down after the roam: {e:#}"));
    std::thread::sleep(Duration::from_secs(1));
    let end = Instant::now();
    let (down_gap, down_lost) = down.stall(roamed, end);
    let (up_gap, up_lost) = up.stall(roamed, end);
    println!(
        "roam: first uplink datagram after the roam at the correspondent {:?} after it; longest \
         gap down {down_gap:?} ({down_lost} lost), up {up_gap:?} ({up_lost} lost); the flow's \
         longest round trip across it {:?}",
        uplink_arrived - roamed,
        flow.longest_ending_after(roamed)
    );

    assert_eq!(
        default_router(&sc),
        router_before,
        "the node's default router should not change with the roam"
    );
    let neighbour_after = router_neighbour(&sc);
    assert!(
        neighbour_after.contains(&format!("lladdr {IDENTITY_MAC}"))
            && !neighbour_after.contains("FAILED"),
        "the node's neighbour entry for its router should still hold the shared MAC: \
         {neighbour_after}"
    );
    let ar2 = sc.locator("ar2").to_string();
    let ar1 = sc.locator("ar1").to_string();
    wait_until_right(
        "AR1 redirecting P1 to AR2, AR2 visited by P1",
        DEADLINE,
        || {
            let redirect = sc.binding("ar1", p1);
            let visiting = sc.binding("ar2", p1);
            let right = redirect
                .as_ref()
                .is_some_and(|b| b["kind"] == "redirect" && b["peer"] == ar2.as_str())
                && visiting
                    .as_ref()
                    .is_some_and(|b| b["kind"] == "visiting" && b["peer"] == ar1.as_str());
            (!right).then(|| format!("ar1: {redirect:?}; ar2: {visiting:?}"))
        },
    );
    assert_eq!(flow.error(), None, "the flow should survive the roam");
    let verified = flow.close().unwrap_or_else(|e| panic!("{e}"));
    assert!(verified > 0, "the flow echoed nothing");
    drop((down, up));
    sc.stop();
}

/// Every access interface has the shared MAC and the shared link-local address, and no other
/// link-local address.
fn assert_identity(sc: &GrownScenario, spec: &Spec) {
    for ar in &spec.access_routers {
        let link = ip(sc, &ar.name, &["link", "show", "dev", "air"]);
        assert!(
            link.contains(&format!("link/ether {IDENTITY_MAC} ")),
            "{}'s access interface should have the MAC {IDENTITY_MAC}:\n{link}",
            ar.name
        );
        let link_locals: Vec<String> = ip(
            sc,
            &ar.name,
            &["-6", "-o", "addr", "show", "dev", "air", "scope", "link"],
        )
        .lines()
        .filter_map(|line| line.split_whitespace().nth(3).map(str::to_owned))
        .collect();
        assert_eq!(
            link_locals,
            [format!("{IDENTITY_LL}/64")],
            "{}'s access interface should have the one link-local address {IDENTITY_LL}",
            ar.name
        );
    }
}

fn ip(sc: &GrownScenario, node: &str, args: &[&str]) -> String {
    sc.grown
        .ip_stdout(node, args)
        .unwrap_or_else(|e| panic!("{e:#}"))
}

/// `via ADDR dev DEV` of the node's default route.
fn default_router(sc: &GrownScenario) -> String {
    let route = ip(sc, MN, &["-6", "route", "show", "default"]);
    let words: Vec<&str> = route.split_whitespace().collect();
    let via = words.iter().position(|w| *w == "via");
    let dev = words.iter().position(|w| *w == "dev");
    match (via, dev) {
        (Some(v), Some(d)) if v + 1 < words.len() && d + 1 < words.len() => {
            format!("via {} dev {}", words[v + 1], words[d + 1])
        }
        _ => panic!("the node has no default route via a router: {route:?}"),
    }
}

/// The node's neighbour entry for the shared link-local address.
fn router_neighbour(sc: &GrownScenario) -> String {
    ip(sc, MN, &["-6", "neigh", "show", IDENTITY_LL, "dev", "air"])
        .trim()
        .to_owned()
}

/// `Icmp6OutNeighborSolicits` of namespace `ns`.
fn neighbour_solicitations(ns: &str) -> u64 {
    let snmp6 = cmd::in_netns(ns, "cat")
        .arg("/proc/net/snmp6")
        .read_stdout()
        .unwrap_or_else(|e| panic!("{e:#}"));
    snmp6
        .lines()
        .find_map(|line| {
            let mut words = line.split_whitespace();
            (words.next() == Some("Icmp6OutNeighborSolicits"))
                .then(|| words.next()?.parse().ok())
                .flatten()
        })
        .unwrap_or_else(|| panic!("no Icmp6OutNeighborSolicits in {ns}'s /proc/net/snmp6"))
}

/// Waits for the datagram numbered `number` or a later one; returns when it arrived.
fn wait_for_number(stream: &UdpStream, number: u64) -> Instant {
    let end = Instant::now() + DEADLINE;
    loop {
        if let Some(&(at, _)) = stream.arrivals().iter().find(|&&(_, n)| n >= number) {
            return at;
        }
        assert!(
            Instant::now() < end,
            "no uplink datagram numbered {number} or later reached the correspondent within \
             {DEADLINE:?}"
        );
        std::thread::sleep(Duration::from_millis(2));
    }
}
