//! Anchor relocation (RFC 8818 section 4.3, Figure 7) end to end with a real BGP speaker, on the
//! grown rig of `rig/topologies/three-ars-bgp.toml`: three access routers whose MAARs have
//! `fixed` pools, the CMD in the core, and BIRD 2 on the core and on every access router (eBGP;
//! each router announces its /48 pool and the routes its MAAR adds, protocol 250).
//!
//! 1. The node attaches at AR1 and gets P1; AR1 announces P1/64; a TCP flow from P1 to the
//!    correspondent echoes a verified byte pattern every 20 ms throughout.
//! 2. It moves to AR2. The CMD relocates P1 to AR2, which routes it onto its access link:
//!    BIRD on AR2 learns that route and announces P1/64, and the core's route for P1 turns to AR2
//!    (longest prefix match over AR1's /48). Printed: the time from the link change to AR2's
//!    route and to the core's. Then: the core's BIRD holds P1/64 from AR2 alone (AR1 withdrew),
//!    the flow still echoes, a traffic window after convergence counts no encapsulation or
//!    decapsulation anywhere (global and per-binding counters of all three routers), the CMD's
//!    store records P1 anchored at AR2 with origin AR1, and AR1's bridge (its redirect of P1)
//!    ends once idle, P1 staying lent out of AR1's pool.
//! 3. It moves on to AR3: P1 (and AR2's P2) are relocated again, announced by AR3 alone, the
//!    same checks hold, and every byte of the flow came back intact.
//!
//! A second test kills nothing by hand: it starts the birds of a rig, forgets them as a test
//! that died would, and checks that the rig's teardown kills them.

use std::{
    net::Ipv6Addr,
    time::{Duration, Instant},
};

use anchor_rig::{
    WorkDir,
    grown::{Grown, Spec, THREE_ARS_BGP, bgp, bird::Birds, plan::CORE},
};
use anchor_tests::{
    flow::{Flow, echo_server},
    grown::{GrownScenario, wait_until_right},
    maar::wait_for,
    scenario::DEADLINE,
    support::{require_tools, stats_json},
};
use ipnet::Ipv6Net;
use serde_json::Value;

const MN: &str = "mn1";
const PORT: u16 = 7090;
/// The flow's TCP user timeout: far longer than any stall, so that only a broken path ends it.
const USER_TIMEOUT: Duration = Duration::from_secs(30);
/// The traffic window after convergence in which nothing may be tunnelled.
const WINDOW: Duration = Duration::from_secs(2);
/// The global counters a tunnel moves.
const TUNNEL_COUNTERS: [&str; 3] = ["encap", "reverse_encap", "decap"];

fn require_bird() {
    require_tools(&[&["bird", "--version"], &["sh", "-c", "command -v birdc"]]);
}

fn spec() -> Spec {
    let mut spec = Spec::parse(THREE_ARS_BGP, "rig/topologies/three-ars-bgp.toml")
        .unwrap_or_else(|e| panic!("the sample topology: {e}"));
    for mn in &mut spec.mobile_nodes {
        // The test attaches the node itself.
        mn.start_at = None;
    }
    spec
}

/// One prefix of the node as the CMD's store should record it: (prefix, anchor, origin).
type Recorded<'a> = (Ipv6Net, &'a str, Option<&'a str>);

#[test]
fn a_fixed_prefix_is_announced_by_its_new_anchor_and_its_flow_survives() {
    require_bird();
    assert_eq!(
        bgp::RTPROT_ANCHOR,
        anchor_user::routing::routes::RTPROT_ANCHOR,
        "BIRD's import filter must name the protocol of the daemon's routes"
    );
    let spec = spec();
    let idle_s = spec
        .maar
        .idle_release_s
        .expect("the sample sets the bridge's idle time");
    let sc = GrownScenario::start("rl", &spec);
    for ar in &spec.access_routers {
        wait_until_right(
            &format!("the core's route to {}'s pool", ar.name),
            DEADLINE,
            || announced_by(&sc, ar.pool, &ar.name),
        );
    }
    println!("relocation: the core learns the three pools by BGP");
    let listener = sc.listen(PORT);
    echo_server(&listener);

    // At AR1: P1 is AR1's own, and AR1 announces it.
    sc.grown
        .attach(MN, "ar1")
        .unwrap_or_else(|e| panic!("{e:#}"));
    let p1 = sc.first_prefix("ar1");
    let a1 = sc.slaac(MN, p1);
    sc.wait_for_address(MN, "ar1", a1, true);
    wait_until_right(&format!("{p1} announced by ar1"), DEADLINE, || {
        announced_by(&sc, p1, "ar1")
    });
    let flow = Flow::start("flow", 1, sc.connect(MN, a1, PORT, USER_TIMEOUT));
    wait_for("the flow's first round trip", DEADLINE, || {
        assert_eq!(flow.error(), None, "the flow from {a1}");
        !flow
            .round_trips_since(Instant::now().checked_sub(DEADLINE).unwrap())
            .is_empty()
    });
    println!("relocation: {MN} at ar1 with {a1}, announced by ar1; the flow echoes");

    // AR1 -> AR2: P1 is relocated to AR2; AR2's own P2 is the node's new prefix.
    let p2 = sc.first_prefix("ar2");
    relocate(
        &sc,
        &flow,
        ("ar1", "ar2"),
        &[p1],
        &[(p1, "ar2", Some("ar1")), (p2, "ar2", None)],
        idle_s,
    );

    // AR2 -> AR3: P1 and P2 are relocated to AR3.
    let p3 = sc.first_prefix("ar3");
    relocate(
        &sc,
        &flow,
        ("ar2", "ar3"),
        &[p1, p2],
        &[
            (p1, "ar3", Some("ar1")),
            (p2, "ar3", Some("ar2")),
            (p3, "ar3", None),
        ],
        idle_s,
    );

    match flow.close() {
        Ok(bytes) => println!("relocation: the flow from {a1} closed: {bytes} bytes verified"),
        Err(error) => panic!("the flow from {a1} failed: {error}\n{}", dump(&sc)),
    }
    sc.stop();
}

/// The node moves `from` -> `to`; `moved` are the prefixes it holds that are anchored at `from`
/// (relocated to `to`), `record` the CMD's record expected afterwards.
#[expect(
    clippy::too_many_lines,
    reason = "one move's checks in the order the scenario makes them"
)]
fn relocate(
    sc: &GrownScenario,
    flow: &Flow,
    (from, to): (&str, &str),
    moved: &[Ipv6Net],
    record: &[Recorded<'_>],
    idle_s: u64,
) {
    let watched = moved[0];
    let to_at = sc.locator(to);
    let tunnelled_before = tunnel_counts(sc, moved);
    let started = Instant::now();
    sc.grown
        .move_node(MN, from, to)
        .unwrap_or_else(|e| panic!("{e:#}"));

    // Convergence: `to` routes the prefix onto its access link, then the core routes it to
    // `to` (polled as fast as `ip` runs).
    let mut routed = None;
    let converged = loop {
        if routed.is_none() && has_daemon_route(sc, to, watched) {
            routed = Some(started.elapsed());
        }
        if core_next_hop(sc, watched) == Some(to_at) {
            break started.elapsed();
        }
        assert!(
            started.elapsed() < DEADLINE,
            "the core does not route {watched} to {to} within {DEADLINE:?} of the move:\n{}",
            dump(sc)
        );
        std::thread::sleep(Duration::from_millis(2));
    };
    let converged_at = Instant::now();
    let routed = routed.unwrap_or(converged);
    println!(
        "relocation: {from} -> {to}: {to} routes {watched} {routed:?} after the link change; the \
         core routes it to {to} {converged:?} after it ({:?} after {to}'s route)",
        converged.saturating_sub(routed)
    );

    // The bridge's receiving end: `to` accepts `from`'s redirect of each relocated prefix.
    let from_at = sc.locator(from).to_string();
    for prefix in moved {
        let binding = sc.binding(to, *prefix);
        assert!(
            binding
                .as_ref()
                .is_some_and(|b| b["kind"] == "visiting" && b["peer"] == from_at.as_str()),
            "{to} should accept {from}'s redirect of {prefix}: {binding:?}\n{}",
            dump(sc)
        );
    }

    // BGP: `to` alone announces each relocated prefix; `from` withdrew it.
    for prefix in moved {
        wait_until_right(
            &format!("{prefix} announced by {to} alone"),
            DEADLINE,
            || announced_by(sc, *prefix, to),
        );
        assert!(
            has_daemon_route(sc, to, *prefix) && !has_daemon_route(sc, from, *prefix),
            "{prefix} should be routed by {to}'s MAAR, no longer by {from}'s:\n{}",
            dump(sc)
        );
    }

    // The node keeps each relocated prefix as its own (preferred) on its new link.
    for prefix in moved {
        sc.wait_for_address(MN, to, sc.slaac(MN, *prefix), true);
    }

    // The flow goes on.
    wait_for(
        &format!("a round trip after {from} -> {to}"),
        DEADLINE,
        || {
            if let Some(error) = flow.error() {
                panic!("the flow broke at {from} -> {to}: {error}\n{}", dump(sc));
            }
            !flow.round_trips_since(converged_at).is_empty()
        },
    );
    println!(
        "relocation:   the flow: longest round trip across the move {:?}, {} bytes verified",
        flow.longest_ending_after(started).unwrap_or_default(),
        flow.verified()
    );

    // What the CMD's store records: every prefix at its anchor, relocated ones with their
    // origin.
    wait_until_right(
        &format!("the CMD's record after {from} -> {to}"),
        DEADLINE,
        || wrong_record(sc, to, record),
    );
    let described: Vec<String> = record
        .iter()
        .map(|(p, anchor, origin)| {
            format!(
                "{p} anchor {anchor}{}",
                origin.map_or(String::new(), |o| format!(" origin {o}"))
            )
        })
        .collect();
    println!(
        "relocation:   the CMD records {MN} served at {to}: {}",
        described.join(", ")
    );

    // After convergence nothing is tunnelled: the counters stand still while the flow runs.
    std::thread::sleep(Duration::from_millis(300));
    let before = tunnel_counts(sc, moved);
    let window = Instant::now();
    std::thread::sleep(WINDOW);
    let after = tunnel_counts(sc, moved);
    let round_trips = flow.round_trips_since(window).len();
    assert!(
        flow.error().is_none() && round_trips > 0,
        "the flow should echo during the window: {round_trips} round trips, {:?}",
        flow.error()
    );
    assert_eq!(
        after,
        before,
        "no encapsulation after convergence ({round_trips} round trips in {WINDOW:?}):\n{}",
        dump(sc)
    );
    let bridged: u64 = before
        .iter()
        .zip(&tunnelled_before)
        .filter(|(now, _)| now.0 == from)
        .map(|(now, then)| now.1[0].saturating_sub(then.1[0]))
        .sum();
    println!(
        "relocation:   {round_trips} round trips in {WINDOW:?} after convergence: encap, \
         reverse_encap, decap and the bindings of {moved:?} unchanged on every router ({from}'s \
         bridge encapsulated {bridged} packets before)"
    );

    // The bridge: `from` ends its redirects once idle, with no message; a /64 of its own pool
    // stays lent.
    let own: Vec<Ipv6Net> = moved
        .iter()
        .copied()
        .filter(|p| pool_of(sc, from).contains(p))
        .collect();
    let took = wait_until_right(
        &format!("the end of {from}'s bridge"),
        Duration::from_secs(idle_s * 3) + DEADLINE,
        || {
            let left: Vec<Ipv6Net> = moved
                .iter()
                .copied()
                .filter(|p| sc.binding(from, *p).is_some())
                .collect();
            if !left.is_empty() {
                return Some(format!("{from} still binds {left:?}"));
            }
            let lending = lent(sc, from);
            (lending != own).then(|| format!("{from} lends {lending:?}, not {own:?}"))
        },
    );
    println!(
        "relocation:   {from}'s bridge ended {took:?} after the window (idle_release_s = \
         {idle_s}); {from} lends {own:?}"
    );
}

/// What is wrong with the core's route for `prefix`: it must go to `ar` by BGP, in the kernel
/// (`via` its locator, protocol bird) and in BIRD, where `ar`'s session alone offers it.
fn announced_by(sc: &GrownScenario, prefix: Ipv6Net, ar: &str) -> Option<String> {
    let route = core_route(sc, prefix);
    let via = sc.locator(ar).to_string();
    let words: Vec<&str> = route.split_whitespace().collect();
    let kernel_right = words.windows(2).any(|w| w == ["via", via.as_str()])
        && words.windows(2).any(|w| w == ["proto", "bird"]);
    if !kernel_right {
        return Some(format!("the core's kernel route for {prefix}: {route:?}"));
    }
    let sources = sc
        .birds()
        .routes(CORE, prefix)
        .unwrap_or_else(|e| panic!("{e:#}"));
    (sources != [bgp::session(ar)])
        .then(|| format!("the core's BIRD has {prefix} from {sources:?}"))
}

/// The core's kernel route for exactly `prefix`, one line (empty without one).
fn core_route(sc: &GrownScenario, prefix: Ipv6Net) -> String {
    sc.grown
        .ip_stdout(CORE, &["-6", "route", "show", "exact", &prefix.to_string()])
        .unwrap_or_else(|e| panic!("{e:#}"))
        .trim()
        .to_owned()
}

/// The next hop of the core's route for exactly `prefix`.
fn core_next_hop(sc: &GrownScenario, prefix: Ipv6Net) -> Option<Ipv6Addr> {
    let route = core_route(sc, prefix);
    let mut words = route.split_whitespace();
    words.find(|w| *w == "via")?;
    words.next()?.parse().ok()
}

/// Whether `ar`'s kernel has the MAAR's route for `prefix`: onto the node's link, protocol 250.
fn has_daemon_route(sc: &GrownScenario, ar: &str, prefix: Ipv6Net) -> bool {
    let route = sc
        .grown
        .ip_stdout(ar, &["-6", "route", "show", "exact", &prefix.to_string()])
        .unwrap_or_else(|e| panic!("{e:#}"));
    route.contains(&format!("dev {MN} proto {} ", bgp::RTPROT_ANCHOR))
}

/// Per router: its tunnel counters (encap, reverse_encap, decap) and the packets of its
/// bindings for `prefixes` (both directions; zeros without a binding).
fn tunnel_counts(sc: &GrownScenario, prefixes: &[Ipv6Net]) -> Vec<(String, Vec<u64>)> {
    sc.spec()
        .access_routers
        .iter()
        .map(|ar| {
            let stats = stats_json(sc.router(&ar.name));
            let mut counts: Vec<u64> = TUNNEL_COUNTERS
                .iter()
                .map(|name| counter(&stats, name))
                .collect();
            for prefix in prefixes {
                let (to_mn, from_mn) = sc.binding_packets(&ar.name, *prefix);
                counts.extend([to_mn, from_mn]);
            }
            (ar.name.clone(), counts)
        })
        .collect()
}

fn counter(stats: &Value, name: &str) -> u64 {
    stats["counters"]
        .as_array()
        .and_then(|counters| counters.iter().find(|c| c["name"] == name))
        .and_then(|c| c["packets"].as_u64())
        .unwrap_or_else(|| panic!("no counter {name} in `anchor stats --json`: {stats}"))
}

fn pool_of(sc: &GrownScenario, ar: &str) -> Ipv6Net {
    sc.spec().access_router(ar).expect("access router").pool
}

/// The /64s `ar` has lent out of its pool (its state file).
fn lent(sc: &GrownScenario, ar: &str) -> Vec<Ipv6Net> {
    sc.maar_state(ar)["lent"]
        .as_array()
        .map(|list| {
            list.iter()
                .filter_map(|p| p.as_str()?.parse().ok())
                .collect()
        })
        .unwrap_or_default()
}

/// What differs in the CMD's store from one record of the node served at `serving` with
/// `expected` prefixes (in order), each `fixed`, with no update pending.
fn wrong_record(sc: &GrownScenario, serving: &str, expected: &[Recorded<'_>]) -> Option<String> {
    let records = sc.cmd_records();
    let [record] = records.as_slice() else {
        return Some(format!(
            "{} records: {}",
            records.len(),
            Value::Array(records)
        ));
    };
    let at = |ar: &str| sc.locator(ar).to_string();
    let prefixes = record["prefixes"].as_array().cloned().unwrap_or_default();
    let right = record["serving"] == at(serving).as_str()
        && record["pending"].as_array().is_none_or(Vec::is_empty)
        && prefixes.len() == expected.len()
        && prefixes
            .iter()
            .zip(expected)
            .all(|(p, (prefix, anchor, origin))| {
                p["prefix"] == prefix.to_string()
                    && p["anchor"] == at(anchor).as_str()
                    && p["policy"] == "fixed"
                    && match origin {
                        Some(origin) => p["origin"] == at(origin).as_str(),
                        None => p.get("origin").is_none(),
                    }
            });
    (!right).then(|| format!("the CMD's record: {record}"))
}

/// The routers' and the core's state, for failure messages.
#[expect(clippy::format_push_string, reason = "a failure message, written once")]
fn dump(sc: &GrownScenario) -> String {
    let mut text = sc.state_dump();
    for node in [CORE, "ar1", "ar2", "ar3"] {
        let routes = sc
            .grown
            .ip_stdout(node, &["-6", "route", "show"])
            .unwrap_or_else(|e| format!("{e:#}"));
        text.push_str(&format!("{node}: kernel routes:\n{routes}"));
    }
    let bird = sc
        .birds()
        .birdc(CORE, &["show", "route"])
        .unwrap_or_else(|e| format!("{e:#}"));
    text.push_str(&format!("core: BIRD routes:\n{bird}"));
    text
}

/// A test that dies leaves its birds running with nobody to stop them: the rig's teardown (the
/// next run's, or dropping the [`Grown`]) kills every process in its namespaces, birds included.
#[test]
fn the_rig_teardown_kills_the_birds_of_a_run_that_died() {
    require_bird();
    let spec = spec();
    let dir = WorkDir::create("anchor-grown-rlt").unwrap_or_else(|e| panic!("{e:#}"));
    let prefix = format!("ang-rlt{}-", std::process::id());
    let grown = Grown::build(&spec, &prefix).unwrap_or_else(|e| panic!("{e:#}"));
    let mut birds = Birds::start(&grown, dir.path()).unwrap_or_else(|e| panic!("{e:#}"));
    let took = birds
        .wait_established(DEADLINE)
        .unwrap_or_else(|e| panic!("{e:#}"));
    println!("relocation: the core's BGP sessions are established {took:?} after the start");
    let pids = birds.pids();
    assert_eq!(
        pids.len(),
        1 + spec.access_routers.len(),
        "a bird per router"
    );
    assert!(
        pids.iter().all(|pid| alive(*pid)),
        "the birds run: {pids:?}"
    );
    // As if the test had died: nothing stops them.
    std::mem::forget(birds);
    drop(grown);
    let gone = pids.iter().all(|pid| !alive(*pid));
    assert!(
        gone,
        "the teardown should have killed every bird: {:?} still run",
        pids.iter().filter(|pid| alive(**pid)).collect::<Vec<_>>()
    );
    println!(
        "relocation: the teardown killed the {} birds left running",
        pids.len()
    );
}

/// Whether process `pid` runs (a zombie, dead but not reaped by its parent, does not).
fn alive(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|stat| {
        // "PID (COMM) STATE ...": the state follows the command's closing parenthesis.
        stat.rsplit_once(')')
            .and_then(|(_, rest)| rest.split_whitespace().next())
            .is_some_and(|state| state != "Z" && state != "X")
    })
}
