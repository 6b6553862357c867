//! Section 1: the cost of each path with one binding of each kind, every packet to it, next to
//! the reference programs; its costs are the baselines of section 2.

use anchor_common::IfaceRole;
use anchor_rig::FixtureNet;
use anchor_user::datapath::BindingSpec;
use anyhow::{Context as _, Result};

use super::{
    FLOOR, ONE_LOOKUP, XDP_PASS, XDP_REDIRECT, XDP_TX, as_attached,
    frames::{CORRESPONDENT, HOME, SERVING, too_big, tunnelled, udp_to, uplink},
    load_datapath, load_datapath_with_pools, net64,
    timing::{Case, Costs, Settings, floor_cost, measure},
    uncached,
};
use crate::{
    bindings::{POOL, address, random_pool_prefixes, random_prefixes},
    nexthops,
    objects::RefProgram,
    report::{Bound, Report, Row},
};

const SECTION: &str = "1. cost per packet in the kernel (BPF_PROG_TEST_RUN)";

const MIN_ENCAP: &str = "minimal encapsulator";
const PASS_REPEAT: &str = "pass-through, no binding, timed with repeat";
const PASS_TRIE: &str = "pass-through, no binding, short prefixes in the trie";
const PASS_CORE: &str = "pass-through, no binding, no access interface, timed with repeat";
const FIB_FORWARDER: &str = "FIB-lookup forwarder";
const ENCAP_FIB: &str = "encap hit, no cached next hop (FIB lookup)";
const REVERSE_FIB: &str = "reverse encap, no cached next hop (FIB lookup)";
const DECAP_L2: &str = "decap hit, the node's MAC known (VISITING_L2)";
const ENCAP_POOL: &str = "encap hit, a /64 of a pool (dense table)";
const MIN_PLUS_LOOKUP: &str = "minimal encapsulator + one lookup";
/// The mobile node's MAC on the fixture's access link.
const NODE_MAC: [u8; 6] = [2, 0, 0, 0, 0, 0x64];

/// Measures and reports section 1; the costs it found.
#[expect(
    clippy::too_many_lines,
    reason = "table-driven: the cases of section 1 and their report rows, read top to bottom"
)]
pub fn run(
    report: &mut Report,
    net: &FixtureNet,
    floor_program: &RefProgram,
    settings: &Settings,
    quick: bool,
) -> Result<Costs> {
    let encap_program = RefProgram::encap()?;
    let fib_program = RefProgram::fib()?;

    // Level 1: one binding of each kind, every packet to it.
    let small = random_prefixes(4);
    let (redirected, visiting, unbound, visiting_l2) = (small[0], small[1], small[2], small[3]);
    let lookup_program = RefProgram::lookup(redirected)?;
    let keys = uncached::Keys {
        redirected,
        visiting,
        unbound,
        visiting_l2,
    };
    let dp = uncached::level1(net, &keys, NODE_MAC)?;
    // The same without the cache: every encapsulated packet takes the FIB lookup.
    let mut dp_fib = load_datapath()?;
    as_attached(&mut dp_fib, net.core_ifindex, IfaceRole::Core)?;
    as_attached(&mut dp_fib, net.access_ifindex, IfaceRole::Access)?;
    dp_fib.insert_binding(net64(redirected)?, BindingSpec::redirect(SERVING, 0))?;
    dp_fib.insert_binding(net64(visiting)?, BindingSpec::visiting(HOME, true, 1))?;
    // The same program and bindings, plus a short prefix elsewhere: the trie is consulted on
    // every /64 miss (the daemon's `SETTINGS` bit is set), as before that bit existed.
    let mut dp_trie = load_datapath()?;
    as_attached(&mut dp_trie, net.core_ifindex, IfaceRole::Core)?;
    dp_trie.insert_binding(
        "2001:db8:100::/40".parse().context("prefix")?,
        BindingSpec::redirect(SERVING, 2),
    )?;
    // The same bindings with the program's lookup caches off.
    let dp_uncached = uncached::datapath(net, &keys, NODE_MAC)?;
    // A MAAR's redirect: a /64 of its own pool, in the dense table.
    let pooled = random_pool_prefixes(1)[0].1;
    let mut dp_pool = load_datapath_with_pools(vec![POOL.parse().context("pool")?])?;
    as_attached(&mut dp_pool, net.core_ifindex, IfaceRole::Core)?;
    as_attached(&mut dp_pool, net.access_ifindex, IfaceRole::Access)?;
    dp_pool.insert_binding(net64(pooled)?, BindingSpec::redirect(SERVING, 0))?;
    nexthops::resolve(&dp_pool)?;
    let anchor = dp.program();
    let uncached_cases = uncached::cases(&dp_uncached, net, &keys, DECAP_L2);
    let uncached_names: Vec<&str> = uncached_cases.iter().map(|(name, _)| *name).collect();
    let mut cases = vec![
        Case {
            name: FLOOR.into(),
            program: floor_program.program()?,
            frames: vec![udp_to(address(unbound, 1))],
            ingress: net.core_ifindex,
            action: XDP_PASS,
        },
        Case {
            name: MIN_ENCAP.into(),
            program: encap_program.program()?,
            frames: vec![udp_to(address(redirected, 0x100))],
            ingress: net.core_ifindex,
            action: XDP_TX,
        },
        Case {
            name: ONE_LOOKUP.into(),
            program: lookup_program.program()?,
            frames: vec![udp_to(address(redirected, 0x100))],
            ingress: net.core_ifindex,
            action: XDP_PASS,
        },
        Case {
            name: FIB_FORWARDER.into(),
            program: fib_program.program()?,
            frames: vec![udp_to(CORRESPONDENT)],
            ingress: net.core_ifindex,
            action: XDP_REDIRECT,
        },
        Case {
            name: "pass-through, no binding".into(),
            program: anchor,
            frames: vec![udp_to(address(unbound, 1))],
            ingress: net.core_ifindex,
            action: XDP_PASS,
        },
        Case {
            name: PASS_TRIE.into(),
            program: dp_trie.program(),
            frames: vec![udp_to(address(unbound, 1))],
            ingress: net.core_ifindex,
            action: XDP_PASS,
        },
        Case {
            name: "encap hit".into(),
            program: anchor,
            frames: vec![udp_to(address(redirected, 0x100))],
            ingress: net.core_ifindex,
            action: XDP_TX,
        },
        Case {
            name: ENCAP_POOL.into(),
            program: dp_pool.program(),
            frames: vec![udp_to(address(pooled, 0x100))],
            ingress: net.core_ifindex,
            action: XDP_TX,
        },
        Case {
            name: "decap hit".into(),
            program: anchor,
            frames: vec![tunnelled(address(visiting, 0x100))],
            ingress: net.core_ifindex,
            action: XDP_REDIRECT,
        },
        Case {
            name: DECAP_L2.into(),
            program: anchor,
            frames: vec![tunnelled(address(visiting_l2, 0x100))],
            ingress: net.core_ifindex,
            action: XDP_REDIRECT,
        },
        Case {
            name: "reverse encap".into(),
            program: anchor,
            frames: vec![uplink(address(visiting, 0x100))],
            ingress: net.access_ifindex,
            action: XDP_REDIRECT,
        },
        Case {
            name: "Packet Too Big".into(),
            program: anchor,
            frames: vec![too_big(address(redirected, 0x100))],
            ingress: net.core_ifindex,
            action: XDP_TX,
        },
        Case {
            name: ENCAP_FIB.into(),
            program: dp_fib.program(),
            frames: vec![udp_to(address(redirected, 0x100))],
            ingress: net.core_ifindex,
            action: XDP_TX,
        },
        Case {
            name: REVERSE_FIB.into(),
            program: dp_fib.program(),
            frames: vec![uplink(address(visiting, 0x100))],
            ingress: net.access_ifindex,
            action: XDP_REDIRECT,
        },
    ];
    cases.extend(uncached_cases.into_iter().map(|(_, case)| case));
    let level1 = measure(&cases, settings)?;
    // Neither rewrites the frame: timed with `repeat`, like the floor they are set against.
    let one_lookup = floor_cost(
        lookup_program.program()?,
        &udp_to(address(redirected, 0x100)),
        net.core_ifindex,
        settings.floor_repeat,
    )
    .context(ONE_LOOKUP)?;
    let pass_repeat = floor_cost(
        anchor,
        &udp_to(address(unbound, 1)),
        net.core_ifindex,
        settings.floor_repeat,
    )
    .context(PASS_REPEAT)?;
    // A router with no access interface (a home anchor of the core, an anchor near the
    // correspondents): the same bindings, its core interface alone.
    let mut dp_core = load_datapath()?;
    as_attached(&mut dp_core, net.core_ifindex, IfaceRole::Core)?;
    dp_core.insert_binding(net64(redirected)?, BindingSpec::redirect(SERVING, 0))?;
    let pass_core = floor_cost(
        dp_core.program(),
        &udp_to(address(unbound, 1)),
        net.core_ifindex,
        settings.floor_repeat,
    )
    .context(PASS_CORE)?;
    drop(dp_core);
    drop(cases);
    drop(dp);
    drop(dp_trie);
    drop(dp_fib);
    drop(dp_uncached);

    let floor = level1.floor;
    report.push(
        Row::new(SECTION, FLOOR, floor, "ns")
            .method("repeat")
            .note(format!(
                "timer overhead of one repeat = 1 run: {:.1} ns (subtracted from every \
                 single-runs row)",
                level1.overhead
            )),
    );
    let min_encap = level1.get(MIN_ENCAP)?;
    report.push(
        Row::new(SECTION, MIN_ENCAP, min_encap, "ns")
            .method("single-runs")
            .against(FLOOR, floor),
    );
    report.push(
        Row::new(SECTION, ONE_LOOKUP, one_lookup, "ns")
            .method("repeat")
            .against(FLOOR, floor)
            .note(
                "ref_lookup: one hit in a hash map shaped like BINDINGS (8-byte key, \
                 max_entries as BINDINGS), nothing else; an encap hit and a pass-through need \
                 one such lookup (BINDINGS; the ingress role comes from an array)",
            ),
    );
    report.push(
        Row::new(SECTION, PASS_REPEAT, pass_repeat, "ns")
            .method("repeat")
            .against(ONE_LOOKUP, one_lookup)
            .target(Bound::AtMost, 1.2, quick)
            .note(
                "the pass-through path of a MAAR by the floor's method (it leaves the frame as \
                 it is): its /64's \"no binding\" from the lookup cache (BINDINGS asked once), \
                 the ingress role from IFACE_INDEX (an array), no VISITING_L2 lookup for a /64 \
                 neither in a pool nor bound; parsing and three counters",
            ),
    );
    report.push(
        Row::new(SECTION, PASS_CORE, pass_core, "ns")
            .method("repeat")
            .against(ONE_LOOKUP, one_lookup)
            .target(Bound::AtMost, 1.2, quick)
            .note(
                "the pass-through on a router without an access interface: \"no binding\" from \
                 the lookup cache, and the ingress role is not looked up (the SETTINGS bit says \
                 no interface is one)",
            ),
    );
    let bound = min_encap + one_lookup - floor;
    report.push(
        Row::new(SECTION, MIN_PLUS_LOOKUP, bound, "ns")
            .method("single-runs")
            .against(FLOOR, floor)
            .note(format!(
                "the minimal encapsulator plus ref_lookup's cost above the floor: the least an \
             encapsulator with one per-/64 hash lookup costs here, {:.2}x the minimal \
             encapsulator (the encap-hit targets: <= 2.0x the floor, <= 1.3x the minimal \
             encapsulator)",
                bound / min_encap
            )),
    );
    report.push(
        Row::new(SECTION, FIB_FORWARDER, level1.get(FIB_FORWARDER)?, "ns")
            .method("single-runs")
            .against(FLOOR, floor)
            .note(
                "ref_fib: bpf_fib_lookup, hop limit, MACs, bpf_redirect; every forwarding path \
                 of the anchor does this too",
            ),
    );
    for name in [
        "pass-through, no binding",
        "encap hit",
        "decap hit",
        "reverse encap",
        "Packet Too Big",
    ] {
        let mut row = Row::new(SECTION, name, level1.get(name)?, "ns")
            .method("single-runs")
            .against(FLOOR, floor);
        if name == "encap hit" {
            row = row.target(Bound::AtMost, 2.0, quick);
        }
        if name == "encap hit" || name == "reverse encap" {
            row = row.note(
                "sent with the peer's cached next hop (NEXTHOPS, filled by the daemon's resolver)",
            );
        }
        report.push(row);
    }
    report.push(
        Row::new(SECTION, DECAP_L2, level1.get(DECAP_L2)?, "ns")
            .method("single-runs")
            .against("encap hit", level1.get("encap hit")?)
            .target(Bound::AtMost, 1.5, quick)
            .note(
                "the same decapsulation with the node's VISITING_L2 entry (its MAC and access \
                 interface, written by the MAAR while the node is attached): no bpf_fib_lookup",
            ),
    );
    for (name, cached) in [(ENCAP_FIB, "encap hit"), (REVERSE_FIB, "reverse encap")] {
        report.push(
            Row::new(SECTION, name, level1.get(name)?, "ns")
                .method("single-runs")
                .against(cached, level1.get(cached)?)
                .note("the same path with an invalid NEXTHOPS entry: bpf_fib_lookup per packet"),
        );
    }
    report.push(
        Row::new(SECTION, PASS_TRIE, level1.get(PASS_TRIE)?, "ns")
            .method("single-runs")
            .against(
                "pass-through, no binding",
                level1.get("pass-through, no binding")?,
            )
            .note(
                "a /40 binding in the LPM trie, elsewhere: the trie is looked up on every /64 \
                 miss; without short prefixes the program skips it",
            ),
    );
    report.push(
        Row::new(
            SECTION,
            "encap hit vs the minimal encapsulator",
            level1.get("encap hit")?,
            "ns",
        )
        .method("single-runs")
        .against(MIN_ENCAP, min_encap)
        .target(Bound::AtMost, 1.3, quick),
    );
    for (name, note) in [
        (
            "encap hit",
            "a binding in the hash map (a /64 outside the pools: typed by hand)",
        ),
        (
            ENCAP_POOL,
            "a MAAR's redirect: a /64 of its pool, one array access instead of the hash lookup",
        ),
    ] {
        report.push(
            Row::new(
                SECTION,
                format!("{name} vs the minimal encapsulator + one lookup"),
                level1.get(name)?,
                "ns",
            )
            .method("single-runs")
            .against(MIN_PLUS_LOOKUP, bound)
            .target(Bound::AtMost, 1.2, quick)
            .note(note),
        );
    }
    uncached::report(report, SECTION, &uncached_names, &level1)?;
    Ok(level1)
}
