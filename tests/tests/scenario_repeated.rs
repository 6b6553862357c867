//! RFC 8818's repeated movement on the grown rig of `rig/topologies/three-ars.toml`: three access
//! routers running MAARs with `session-lasting` pools (`idle_release_s` short), the CMD in the
//! core, and one kernel-SLAAC mobile node.
//!
//! 1. The node attaches at AR1, then moves AR1 -> AR2 -> AR3 -> AR1. At each stop it gets the
//!    stop's prefix (the time from the link change to its address is printed) and opens a TCP
//!    flow from it to an echo server on the correspondent; every flow keeps echoing a verified
//!    byte pattern every 20 ms, and the node stays a second at each stop.
//! 2. After each move, every flow opened before still works (a round trip that started once the
//!    node had its new address; the first such round trip and the longest one across the move
//!    are printed), and the bindings are those of RFC 8885: each anchor of an earlier prefix
//!    redirects it to the router now serving the node, which holds a visiting binding for it,
//!    and both count the flow's packets both ways during the stay.
//!    The serving router sends the packets for the stop's own prefix straight to the node's MAC
//!    (`attached_l2` grows during the stay).
//! 3. Back at AR1 (RFC 8885 section 3.3), AR1's prefix is local again: the same P1, preferred,
//!    no binding for it anywhere; AR2 and AR3 redirect theirs to AR1.
//! 4. Once the flows are closed and the redirects idle for `idle_release_s`, nothing is left but
//!    the node's current registration: no route for an old prefix, no binding, no `mn list`
//!    entry, no pool allocation (the MAARs' state files), and the CMD's record (its store) holds
//!    P1 alone.
//!
//! It runs twice: the node attached by its Router Solicitations, and by carrier up on
//! point-to-point access links.

use std::{
    net::Ipv6Addr,
    time::{Duration, Instant},
};

use anchor_rig::grown::{
    Spec, THREE_ARS,
    spec::{Attachment, Policy},
};
use anchor_tests::{
    flow::{Flow, echo_server},
    grown::{GrownScenario, wait_until_right},
    maar::wait_for,
    scenario::DEADLINE,
    support::global_counter,
};
use ipnet::Ipv6Net;
use serde_json::Value;

const MN: &str = "mn1";
const PORT: u16 = 7080;
/// The redirects' idle time. It must outlast the longest stall of a move (see
/// scenario_redirection.rs); the flows' round trips every 20 ms keep a redirect in use.
const IDLE_RELEASE_S: u64 = 6;
/// The flows' TCP user timeout: far longer than any stall, so that only a broken path ends one.
const USER_TIMEOUT: Duration = Duration::from_secs(30);
/// How long the node stays at each stop once its new flow runs.
const DWELL: Duration = Duration::from_secs(1);
/// Where the node goes: it ends where it began.
const STOPS: [&str; 4] = ["ar1", "ar2", "ar3", "ar1"];

#[test]
fn repeated_moves_keep_every_open_flow_and_leave_only_the_current_prefix() {
    repeated_moves("rm", Attachment::Solicitation);
}

/// The same moves with every access link a `[[maar.point_to_point]]` link: carrier up attaches
/// the node, before any solicitation.
#[test]
fn repeated_moves_over_point_to_point_links() {
    repeated_moves("rp", Attachment::PointToPoint);
}

fn repeated_moves(tag: &str, attachment: Attachment) {
    let mut spec = Spec::parse(THREE_ARS, "rig/topologies/three-ars.toml")
        .unwrap_or_else(|e| panic!("the sample topology: {e}"));
    spec.maar.policy = Policy::SessionLasting;
    spec.maar.idle_release_s = Some(IDLE_RELEASE_S);
    spec.maar.attachment = attachment;
    for mn in &mut spec.mobile_nodes {
        // The test attaches the node itself, to time it.
        mn.start_at = None;
    }
    let sc = GrownScenario::start(tag, &spec);
    println!("repeated: attachment by {attachment:?}");
    let listener = sc.listen(PORT);
    echo_server(&listener);

    let mut flows: Vec<Flow> = Vec::new();
    // The node's prefixes so far, each with the router that anchors it.
    let mut held: Vec<(Ipv6Net, &str)> = Vec::new();
    let mut at: Option<&str> = None;
    for (index, ar) in STOPS.into_iter().enumerate() {
        let stop = index + 1;
        let moved = Instant::now();
        match at {
            None => sc.grown.attach(MN, ar),
            Some(from) => sc.grown.move_node(MN, from, ar),
        }
        .unwrap_or_else(|e| panic!("stop {stop}: {e:#}"));
        let label = at.map_or(format!("attach at {ar}"), |from| format!("{from} -> {ar}"));

        // The stop's prefix: the first /64 of the router's pool, the same P1 back at AR1.
        let prefix = sc.first_prefix(ar);
        let addr = sc.slaac(MN, prefix);
        sc.wait_for_address(MN, ar, addr, true);
        // Polled every 5 ms, each poll an `ip` run of a few milliseconds.
        let to_address = moved.elapsed();
        let ready = Instant::now();
        assert_serves(&sc, ar, prefix, stop);
        if !held.iter().any(|(p, _)| *p == prefix) {
            held.push((prefix, ar));
        }
        // The earlier prefixes' addresses come back on the new link (deprecated), so that
        // their flows' packets reach the node.
        for (p, _) in &held {
            sc.wait_for_address(MN, ar, sc.slaac(MN, *p), false);
        }
        let bindings_after = wait_until_right(
            &format!("RFC 8885 bindings at stop {stop} ({label})"),
            DEADLINE,
            || wrong_bindings(&sc, &held, ar),
        );
        println!(
            "repeated: stop {stop} ({label}): {MN} has {addr} ({prefix}) {to_address:?} after the \
             link change; bindings right {bindings_after:?} later"
        );

        // Every flow opened before works on the new path.
        check_open_flows(&sc, &flows, &format!("stop {stop} ({label})"), moved, ready);

        // A new flow from the prefix the node just got.
        let name = format!("flow {stop}");
        let stream = sc.connect(MN, addr, PORT, USER_TIMEOUT);
        let flow = Flow::start(&name, stop as u64, stream);
        wait_for(&format!("{name}'s first round trip"), DEADLINE, || {
            assert_eq!(flow.error(), None, "{name} from {addr}");
            !flow.round_trips_since(ready).is_empty()
        });
        println!(
            "repeated:   {name} opened from {addr}: round trip {:?}",
            flow.round_trips_since(ready)[0].took
        );
        flows.push(flow);

        // The stop's own prefix is the router's: its packets to the node leave the XDP program
        // straight for the node's MAC, with no Neighbour Discovery (`attached_l2`).
        let straight = global_counter(sc.router(ar), "attached_l2");
        stay(&sc, &flows, &held, ar);
        let straight = global_counter(sc.router(ar), "attached_l2") - straight;
        assert!(
            straight > 0,
            "stop {stop}: {ar} should send {prefix}'s packets straight to the node's MAC"
        );
        println!(
            "repeated:   {ar} sent {straight} packet(s) to {prefix} straight to the node's MAC"
        );
        at = Some(ar);
    }

    // The flows end; every byte came back intact.
    for flow in flows {
        let name = flow.name.clone();
        let source = flow.source;
        match flow.close() {
            Ok(bytes) => {
                println!("repeated: {name} (from {source}) closed: {bytes} bytes verified");
            }
            Err(error) => panic!(
                "{name} (from {source}) failed: {error}\n{}",
                sc.state_dump()
            ),
        }
    }

    // Idle: the redirects go, and nothing but the node's registration at AR1 with P1 is left.
    let current = STOPS[STOPS.len() - 1];
    let p1 = sc.first_prefix(current);
    let bound = Duration::from_secs(IDLE_RELEASE_S * 3) + DEADLINE;
    let took = wait_until_right(
        &format!("clean routers and CMD with {p1} alone at {current}"),
        bound,
        || leftovers(&sc, current, p1),
    );
    println!(
        "repeated: {took:?} after the flows closed (idle_release_s = {IDLE_RELEASE_S}), only {p1} \
         at {current} is left on the routers and in the CMD"
    );
    sc.stop();
}

/// Waits for a round trip of each of `flows` that started at `ready` (the node's new address) or
/// later, failing at once when one broke; prints the first and the longest one across the move.
fn check_open_flows(
    sc: &GrownScenario,
    flows: &[Flow],
    when: &str,
    moved: Instant,
    ready: Instant,
) {
    for flow in flows {
        wait_for(
            &format!("a round trip of {} after {when}", flow.name),
            DEADLINE,
            || {
                if let Some(error) = flow.error() {
                    panic!(
                        "{} (from {}) broke at {when}: {error}\n{}",
                        flow.name,
                        flow.source,
                        sc.state_dump()
                    );
                }
                !flow.round_trips_since(ready).is_empty()
            },
        );
        let first = flow.round_trips_since(ready)[0].took;
        let longest = flow.longest_ending_after(moved).unwrap_or(first);
        println!(
            "repeated:   {} (from {}): round trip {first:?} after the move, longest across it \
             {longest:?}, {} bytes verified",
            flow.name,
            flow.source,
            flow.verified()
        );
    }
}

/// The node stays [`DWELL`] at `serving`: every flow keeps echoing, and each earlier prefix
/// anchored elsewhere crosses its anchor's redirect and `serving`'s visiting binding, both ways.
fn stay(sc: &GrownScenario, flows: &[Flow], held: &[(Ipv6Net, &str)], serving: &str) {
    let elsewhere: Vec<(Ipv6Net, &str)> = held
        .iter()
        .copied()
        .filter(|(_, anchor)| *anchor != serving)
        .collect();
    let counts = || -> Vec<[(u64, u64); 2]> {
        elsewhere
            .iter()
            .map(|(p, anchor)| {
                [
                    sc.binding_packets(anchor, *p),
                    sc.binding_packets(serving, *p),
                ]
            })
            .collect()
    };
    let before = counts();
    let started = Instant::now();
    std::thread::sleep(DWELL);
    let after = counts();
    for flow in flows {
        let during = flow.round_trips_since(started).len();
        assert!(
            flow.error().is_none() && during > 0,
            "{} (from {}) should echo during the stay at {serving}: {during} round trips, {:?}",
            flow.name,
            flow.source,
            flow.error()
        );
    }
    for (((p, anchor), [anchor_before, serving_before]), [anchor_after, serving_after]) in
        elsewhere.iter().zip(&before).zip(&after)
    {
        println!(
            "repeated:   {p}: {anchor}'s redirect {} down / {} up, {serving}'s visiting binding {} \
             down / {} up during {DWELL:?}",
            anchor_after.0 - anchor_before.0,
            anchor_after.1 - anchor_before.1,
            serving_after.0 - serving_before.0,
            serving_after.1 - serving_before.1,
        );
        let grew = |b: &(u64, u64), a: &(u64, u64)| a.0 > b.0 && a.1 > b.1;
        assert!(
            grew(anchor_before, anchor_after) && grew(serving_before, serving_after),
            "{p}'s flow should cross {anchor}'s redirect and {serving}'s visiting binding both ways"
        );
    }
}

/// Asserts that `ar` serves the node with `prefix`, registered.
fn assert_serves(sc: &GrownScenario, ar: &str, prefix: Ipv6Net, stop: usize) {
    let mac = sc.spec().mobile_node(MN).expect("the node").mac.to_string();
    wait_for(
        &format!("{ar} to serve {MN} with {prefix}, registered (stop {stop})"),
        DEADLINE,
        || {
            let list = sc.mn_list(ar);
            list["served"].as_array().is_some_and(|served| {
                served.iter().any(|s| {
                    s["mn_id"] == mac.as_str()
                        && s["prefix"] == prefix.to_string()
                        && s["phase"] == "registered"
                })
            })
        },
    );
}

/// What differs from RFC 8885's bindings with the node at `serving` holding `held`: each prefix
/// anchored elsewhere is redirected by its anchor to `serving` and visits `serving` (home: its
/// anchor); a prefix anchored at `serving` has no binding; nothing else has one.
fn wrong_bindings(sc: &GrownScenario, held: &[(Ipv6Net, &str)], serving: &str) -> Option<String> {
    let serving_at = sc.locator(serving).to_string();
    for ar in &sc.spec().access_routers {
        let ar = ar.name.as_str();
        let bindings = sc.bindings(ar);
        for binding in &bindings {
            let Some(prefix) = binding["prefix"]
                .as_str()
                .and_then(|p| p.parse::<Ipv6Net>().ok())
            else {
                return Some(format!("{ar} has a binding without a prefix: {binding}"));
            };
            let Some((_, anchor)) = held.iter().find(|(p, _)| *p == prefix) else {
                return Some(format!(
                    "{ar} has a binding for {prefix}, not the node's: {binding}"
                ));
            };
            let anchor_at = sc.locator(anchor).to_string();
            let right = if *anchor == serving {
                false
            } else if ar == *anchor {
                binding["kind"] == "redirect" && binding["peer"] == serving_at.as_str()
            } else if ar == serving {
                binding["kind"] == "visiting" && binding["peer"] == anchor_at.as_str()
            } else {
                false
            };
            if !right {
                return Some(format!(
                    "{ar}'s binding {binding} (the node at {serving}, {prefix} anchored at {anchor})"
                ));
            }
        }
        for (prefix, anchor) in held.iter().filter(|(_, anchor)| *anchor != serving) {
            let bound = bindings.iter().any(|b| b["prefix"] == prefix.to_string());
            if ar == *anchor && !bound {
                return Some(format!("{ar} does not redirect {prefix} to {serving}"));
            }
            if ar == serving && !bound {
                return Some(format!("{ar} has no visiting binding for {prefix}"));
            }
        }
    }
    None
}

/// What is left beyond the node's registration at `current` with `prefix`: routes, bindings,
/// `mn list` entries, pool allocations, CMD records.
fn leftovers(sc: &GrownScenario, current: &str, prefix: Ipv6Net) -> Option<String> {
    let mac = sc.spec().mobile_node(MN).expect("the node").mac.to_string();
    let p = prefix.to_string();
    for ar in &sc.spec().access_routers {
        let ar = ar.name.as_str();
        let here = ar == current;
        let bindings = sc.bindings(ar);
        if !bindings.is_empty() {
            return Some(format!(
                "{ar} still has bindings {}",
                Value::Array(bindings)
            ));
        }
        let routes = sc.pool_routes(ar);
        let routes_right = if here {
            routes.len() == 1 && routes[0].starts_with(&format!("{p} dev {MN} "))
        } else {
            routes.is_empty()
        };
        if !routes_right {
            return Some(format!("{ar}'s routes into the pools: {routes:?}"));
        }
        let list = sc.mn_list(ar);
        let served = list["served"].as_array().cloned().unwrap_or_default();
        let anchored = list["anchored"].as_array().cloned().unwrap_or_default();
        let served_right = if here {
            served.len() == 1
                && served[0]["mn_id"] == mac.as_str()
                && served[0]["prefix"] == p.as_str()
                && served[0]["visiting"].as_array().is_some_and(Vec::is_empty)
        } else {
            served.is_empty()
        };
        if !served_right || !anchored.is_empty() {
            return Some(format!("{ar}'s mn list: {list}"));
        }
        let allocated = sc.allocated(ar);
        let expected: Vec<String> = if here { vec![p.clone()] } else { Vec::new() };
        if allocated != expected {
            return Some(format!(
                "{ar}'s pool allocations (maar.json): {allocated:?}"
            ));
        }
    }
    let records = sc.cmd_records();
    let current_at: Ipv6Addr = sc.locator(current);
    let record_right = records.len() == 1 && {
        let record = &records[0];
        let prefixes = record["prefixes"].as_array().cloned().unwrap_or_default();
        record["serving"] == current_at.to_string()
            && prefixes.len() == 1
            && prefixes[0]["prefix"] == p.as_str()
            && prefixes[0]["anchor"] == current_at.to_string()
            && record["pending"].as_array().is_none_or(Vec::is_empty)
    };
    if !record_right {
        return Some(format!("the CMD's records: {}", Value::Array(records)));
    }
    None
}
