//! Sections 1 and 2: the cost of one packet inside the kernel, measured with BPF_PROG_TEST_RUN
//! next to the reference programs, with 1, 10k and 1M bindings in the map.
//!
//! Method: the rewriting paths cannot use `repeat` (the kernel runs every iteration on the
//! same, already rewritten buffer), so every case is timed with many `repeat = 1` runs, each on
//! a fresh copy of its frame. A run's kernel-reported duration includes a fixed timer overhead;
//! it is measured with the XDP_PASS-only program, whose own cost is known from a long `repeat`
//! run (where the overhead is spread over a million iterations), and subtracted. Cases are
//! interleaved round by round so that a noisy neighbour hits all of them alike.

use std::{net::Ipv6Addr, time::Instant};

use anchor_common::{
    BindingKey, BindingStats, BindingValue, IfaceRole, config::DEFAULT_MAX_BINDINGS,
};
use anchor_packet::{Udp6, encapsulate, ethernet};
use anchor_rig::fixture_net::{CORE_MAC, FixtureNet, LOCATOR};
use anchor_user::datapath::{BindingSpec, Datapath, DatapathParams};
use anyhow::{Context as _, Result, bail};
use aya::programs::{TestRun as _, TestRunOptions, Xdp};
use ipnet::Ipv6Net;

use crate::{
    bindings::{address, random_prefixes},
    maps::{program_map, update_batch},
    memory, nexthops,
    objects::RefProgram,
    report::{Bound, Report, Row},
    stats::interquartile_mean,
};

/// Serving router of the redirected prefixes: a neighbour on the fixture namespace's core link.
const SERVING: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 0xff, 0, 0, 0, 0, 2);
/// Home router of the visiting prefixes: a neighbour on the core link.
const HOME: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 0xff, 0, 0, 0, 0, 3);
/// A correspondent node, reached through the core link's gateway.
const CORRESPONDENT: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 0xc, 0, 0, 0, 0, 2);
/// The source MAC of the frames.
const PEER_MAC: [u8; 6] = [2, 0, 0, 0, 0, 0x99];

const SECTION_COST: &str = "1. cost per packet in the kernel (BPF_PROG_TEST_RUN)";
const SECTION_SCALE: &str = "2. scale: bindings in the map";

const XDP_PASS: u32 = 2;
const XDP_TX: u32 = 3;
const XDP_REDIRECT: u32 = 4;

const FLOOR: &str = "XDP_PASS-only program (floor)";
const MIN_ENCAP: &str = "minimal encapsulator";
const ONE_LOOKUP: &str = "one hash-map lookup (ref_lookup)";
const PASS_REPEAT: &str = "pass-through, no binding, timed with repeat";
const PASS_TRIE: &str = "pass-through, no binding, short prefixes in the trie";
const FIB_FORWARDER: &str = "FIB-lookup forwarder";
const CACHED_PASS: &str = "pass-through, 64 flows";
const CACHED_ENCAP: &str = "encap hit, 64 flows";
const ENCAP_FIB: &str = "encap hit, no cached next hop (FIB lookup)";
const REVERSE_FIB: &str = "reverse encap, no cached next hop (FIB lookup)";

/// Distinct destinations the traffic cycles over when the map is large.
const ACTIVE_FLOWS: usize = 4096;
/// The same with few destinations, whose map entries stay in the CPU caches.
const CACHED_FLOWS: usize = 64;

/// How long each measurement runs.
pub struct Settings {
    /// `repeat = 1` runs per case.
    pub samples: usize,
    /// Rounds the samples are interleaved in.
    pub rounds: usize,
    /// Iterations of the long `repeat` run of the floor.
    pub floor_repeat: u32,
}

impl Settings {
    pub fn new(quick: bool) -> Self {
        if quick {
            Self {
                samples: 400,
                rounds: 4,
                floor_repeat: 10_000,
            }
        } else {
            Self {
                samples: 40_000,
                rounds: 40,
                floor_repeat: 200_000,
            }
        }
    }
}

/// One timed case: a program, the frames it cycles over, where they arrive, the verdict each
/// run must give.
struct Case<'a> {
    name: String,
    program: &'a Xdp,
    frames: Vec<Vec<u8>>,
    ingress: u32,
    action: u32,
}

/// What a measured level found, per case name: cost in ns (timer overhead removed).
struct Costs {
    floor: f64,
    overhead: f64,
    costs: Vec<(String, f64)>,
}

impl Costs {
    fn get(&self, name: &str) -> Result<f64> {
        self.costs
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, c)| *c)
            .with_context(|| format!("no measurement named {name}"))
    }
}

/// Runs `program` once on `frame` arriving on `ingress`: (verdict, kernel-reported ns).
fn run_once(program: &Xdp, frame: &[u8], ingress: u32) -> Result<(u32, f64)> {
    let mut opts = TestRunOptions::new();
    let md = xdp_md(frame.len(), ingress);
    opts.data_in = Some(frame);
    opts.ctx_in = Some(&md);
    let r = program.test_run(opts).context("BPF_PROG_TEST_RUN")?;
    Ok((r.return_value, r.duration.as_nanos() as f64))
}

/// `struct xdp_md`: data, data_end, data_meta, ingress_ifindex, rx_queue_index, egress_ifindex.
pub fn xdp_md(len: usize, ingress: u32) -> [u8; 24] {
    let mut md = [0u8; 24];
    md[4..8].copy_from_slice(&(len as u32).to_ne_bytes());
    md[12..16].copy_from_slice(&ingress.to_ne_bytes());
    md
}

/// The floor's own cost per packet: the kernel's average over long `repeat` runs (time the
/// thread spent descheduled is not counted), middle half of 21 runs. The kernel truncates the
/// average to whole nanoseconds; run-to-run noise spreads the fraction, so the mean of the
/// truncated values plus half a nanosecond estimates it.
fn floor_cost(program: &Xdp, frame: &[u8], ingress: u32, repeat: u32) -> Result<f64> {
    let md = xdp_md(frame.len(), ingress);
    let mut runs = Vec::new();
    for _ in 0..21 {
        let mut opts = TestRunOptions::new();
        opts.data_in = Some(frame);
        opts.ctx_in = Some(&md);
        opts.repeat = repeat;
        let r = program.test_run(opts).context("BPF_PROG_TEST_RUN")?;
        if r.return_value != XDP_PASS {
            bail!("verdict {}, expected XDP_PASS", r.return_value);
        }
        runs.push(r.duration.as_nanos() as f64);
    }
    Ok(interquartile_mean(&runs) + 0.5)
}

/// Times every case, interleaved; the first case must be the floor program.
fn measure(cases: &[Case<'_>], settings: &Settings) -> Result<Costs> {
    let per_round = settings.samples.div_ceil(settings.rounds);
    let mut samples = vec![Vec::with_capacity(settings.samples); cases.len()];
    let mut cursor = vec![0usize; cases.len()];
    for round in 0..=settings.rounds {
        for (i, case) in cases.iter().enumerate() {
            for _ in 0..per_round {
                let frame = &case.frames[cursor[i] % case.frames.len()];
                cursor[i] += 1;
                let (action, ns) = run_once(case.program, frame, case.ingress)?;
                if action != case.action {
                    bail!(
                        "{}: verdict {action}, expected {} (frame {})",
                        case.name,
                        case.action,
                        cursor[i] - 1
                    );
                }
                // Round 0 warms caches and is not kept.
                if round > 0 {
                    samples[i].push(ns);
                }
            }
        }
    }
    let floor_case = &cases[0];
    let floor = floor_cost(
        floor_case.program,
        &floor_case.frames[0],
        floor_case.ingress,
        settings.floor_repeat,
    )?;
    let overhead = interquartile_mean(&samples[0]) - floor;
    let costs = cases
        .iter()
        .zip(&samples)
        .map(|(case, s)| (case.name.clone(), interquartile_mean(s) - overhead))
        .collect();
    Ok(Costs {
        floor,
        overhead,
        costs,
    })
}

fn frame(ip: &[u8]) -> Vec<u8> {
    ethernet(CORE_MAC, PEER_MAC, ip)
}

fn udp_to(dst: std::net::Ipv6Addr) -> Vec<u8> {
    frame(&Udp6::new(CORRESPONDENT, dst).bytes())
}

fn tunnelled(inner_dst: std::net::Ipv6Addr) -> Vec<u8> {
    let inner = Udp6::new(CORRESPONDENT, inner_dst).bytes();
    frame(&encapsulate(HOME, LOCATOR, 60, 0, 0x777, &inner))
}

fn uplink(src: std::net::Ipv6Addr) -> Vec<u8> {
    frame(&Udp6::new(src, CORRESPONDENT).bytes())
}

/// A packet whose encapsulation would exceed the 1500-byte tunnel MTU by one byte.
fn too_big(dst: std::net::Ipv6Addr) -> Vec<u8> {
    let mut p = Udp6::new(CORRESPONDENT, dst);
    p.payload_len = 1500 - 40 - 48 + 1;
    frame(&p.bytes())
}

fn load_datapath() -> Result<Datapath> {
    Datapath::load(&DatapathParams {
        locator: LOCATOR,
        tunnel_mtu: 1500,
        outer_hop_limit: 64,
        max_bindings: DEFAULT_MAX_BINDINGS,
        log: false,
    })
    .context("cannot load the anchor program")
}

fn net64(key: &BindingKey) -> Result<Ipv6Net> {
    Ipv6Net::new(address(key, 0), 64).context("a /64")
}

/// The batched install of bindings: map entries and zeroed statistics slots.
pub struct BatchInstall {
    pub bindings: usize,
    pub seconds: f64,
}

/// Fills the map with `keys` (the first half redirected to the serving router, the second half
/// visiting from the home router, reverse-tunnelled) with two batched updates.
fn fill(dp: &mut Datapath, keys: &[BindingKey]) -> Result<BatchInstall> {
    let half = keys.len() / 2;
    let serving = dp.reserve_peer(SERVING)?;
    let home = dp.reserve_peer(HOME)?;
    let values: Vec<BindingValue> = keys
        .iter()
        .enumerate()
        .map(|(i, _)| {
            if i < half {
                BindingValue::redirect(serving, i as u32)
            } else {
                BindingValue::visiting(home, true, i as u32)
            }
        })
        .collect();
    let cpus = aya::util::nr_cpus()
        .map_err(|(_, e)| e)
        .context("possible CPUs")?;
    let slots: Vec<u32> = (0..keys.len() as u32).collect();
    let zeroes = vec![BindingStats::default(); keys.len() * cpus];
    let bindings = program_map(dp.program(), anchor_common::maps::BINDINGS)?;
    let stats = program_map(dp.program(), anchor_common::maps::BINDING_STATS)?;
    let start = Instant::now();
    update_batch(&stats, &slots, &zeroes, cpus)?;
    update_batch(&bindings, keys, &values, 1)?;
    Ok(BatchInstall {
        bindings: keys.len(),
        seconds: start.elapsed().as_secs_f64(),
    })
}

/// Sections 1 and 2, and what needs the 1M-binding map: its memory (section 5) and the batched
/// install rate (section 4).
pub fn run(report: &mut Report, quick: bool) -> Result<BatchInstall> {
    let settings = Settings::new(quick);
    report.method(
        "repeat",
        format!(
            "BPF_PROG_TEST_RUN with repeat = {} (the buffer is reused, fine for a program that \
             does not rewrite it): the kernel's average per iteration (+0.5 ns for its \
             truncation), interquartile mean of 21 runs",
            settings.floor_repeat
        ),
    );
    report.method(
        "single-runs",
        format!(
            "{} BPF_PROG_TEST_RUN calls with repeat = 1 per case (a fresh copy of the frame \
             each), interleaved over {} rounds with the other cases; interquartile mean of the \
             kernel-reported duration minus the timer overhead (that mean for the \
             XDP_PASS-only program minus its `repeat` cost). Every run's verdict is checked",
            settings.samples, settings.rounds
        ),
    );
    let net = FixtureNet::create(crate::NETNS_STEM)?;
    let _inside = net.ns.enter()?;
    let floor_program = RefProgram::pass()?;
    let encap_program = RefProgram::encap()?;
    let fib_program = RefProgram::fib()?;

    // Level 1: one binding of each kind, every packet to it.
    let small = random_prefixes(3);
    let (redirected, visiting, unbound) = (small[0], small[1], small[2]);
    let lookup_program = RefProgram::lookup(&redirected)?;
    let mut dp = load_datapath()?;
    dp.set_iface_role(net.core_ifindex, IfaceRole::Core)?;
    dp.set_iface_role(net.access_ifindex, IfaceRole::Access)?;
    dp.insert_binding(net64(&redirected)?, BindingSpec::redirect(SERVING, 0))?;
    dp.insert_binding(net64(&visiting)?, BindingSpec::visiting(HOME, true, 1))?;
    // As the daemon does: the peers' next hops cached, no FIB lookup on the encapsulating paths.
    nexthops::resolve(&dp)?;
    // The same without the cache: every encapsulated packet takes the FIB lookup.
    let mut dp_fib = load_datapath()?;
    dp_fib.set_iface_role(net.core_ifindex, IfaceRole::Core)?;
    dp_fib.set_iface_role(net.access_ifindex, IfaceRole::Access)?;
    dp_fib.insert_binding(net64(&redirected)?, BindingSpec::redirect(SERVING, 0))?;
    dp_fib.insert_binding(net64(&visiting)?, BindingSpec::visiting(HOME, true, 1))?;
    // The same program and bindings, plus a short prefix elsewhere: the trie is consulted on
    // every /64 miss (the daemon's `SETTINGS` bit is set), as before that bit existed.
    let mut dp_trie = load_datapath()?;
    dp_trie.set_iface_role(net.core_ifindex, IfaceRole::Core)?;
    dp_trie.insert_binding(
        "2001:db8:100::/40".parse().context("prefix")?,
        BindingSpec::redirect(SERVING, 2),
    )?;
    let anchor = dp.program();
    let cases = vec![
        Case {
            name: FLOOR.into(),
            program: floor_program.program()?,
            frames: vec![udp_to(address(&unbound, 1))],
            ingress: net.core_ifindex,
            action: XDP_PASS,
        },
        Case {
            name: MIN_ENCAP.into(),
            program: encap_program.program()?,
            frames: vec![udp_to(address(&redirected, 0x100))],
            ingress: net.core_ifindex,
            action: XDP_TX,
        },
        Case {
            name: ONE_LOOKUP.into(),
            program: lookup_program.program()?,
            frames: vec![udp_to(address(&redirected, 0x100))],
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
            frames: vec![udp_to(address(&unbound, 1))],
            ingress: net.core_ifindex,
            action: XDP_PASS,
        },
        Case {
            name: PASS_TRIE.into(),
            program: dp_trie.program(),
            frames: vec![udp_to(address(&unbound, 1))],
            ingress: net.core_ifindex,
            action: XDP_PASS,
        },
        Case {
            name: "encap hit".into(),
            program: anchor,
            frames: vec![udp_to(address(&redirected, 0x100))],
            ingress: net.core_ifindex,
            action: XDP_TX,
        },
        Case {
            name: "decap hit".into(),
            program: anchor,
            frames: vec![tunnelled(address(&visiting, 0x100))],
            ingress: net.core_ifindex,
            action: XDP_REDIRECT,
        },
        Case {
            name: "reverse encap".into(),
            program: anchor,
            frames: vec![uplink(address(&visiting, 0x100))],
            ingress: net.access_ifindex,
            action: XDP_REDIRECT,
        },
        Case {
            name: "Packet Too Big".into(),
            program: anchor,
            frames: vec![too_big(address(&redirected, 0x100))],
            ingress: net.core_ifindex,
            action: XDP_TX,
        },
        Case {
            name: ENCAP_FIB.into(),
            program: dp_fib.program(),
            frames: vec![udp_to(address(&redirected, 0x100))],
            ingress: net.core_ifindex,
            action: XDP_TX,
        },
        Case {
            name: REVERSE_FIB.into(),
            program: dp_fib.program(),
            frames: vec![uplink(address(&visiting, 0x100))],
            ingress: net.access_ifindex,
            action: XDP_REDIRECT,
        },
    ];
    let level1 = measure(&cases, &settings)?;
    // Neither rewrites the frame: timed with `repeat`, like the floor they are set against.
    let one_lookup = floor_cost(
        lookup_program.program()?,
        &udp_to(address(&redirected, 0x100)),
        net.core_ifindex,
        settings.floor_repeat,
    )
    .context(ONE_LOOKUP)?;
    let pass_repeat = floor_cost(
        anchor,
        &udp_to(address(&unbound, 1)),
        net.core_ifindex,
        settings.floor_repeat,
    )
    .context(PASS_REPEAT)?;
    drop(cases);
    drop(dp);
    drop(dp_trie);
    drop(dp_fib);

    let floor = level1.floor;
    report.push(
        Row::new(SECTION_COST, FLOOR, floor, "ns")
            .method("repeat")
            .note(format!(
                "timer overhead of one repeat = 1 run: {:.1} ns (subtracted from every \
                 single-runs row)",
                level1.overhead
            )),
    );
    let min_encap = level1.get(MIN_ENCAP)?;
    report.push(
        Row::new(SECTION_COST, MIN_ENCAP, min_encap, "ns")
            .method("single-runs")
            .against(FLOOR, floor),
    );
    report.push(
        Row::new(SECTION_COST, ONE_LOOKUP, one_lookup, "ns")
            .method("repeat")
            .against(FLOOR, floor)
            .note(
                "ref_lookup: one hit in a hash map shaped like BINDINGS (8-byte key, \
                 max_entries as BINDINGS), nothing else; an encap hit needs one such lookup, a \
                 pass-through two (BINDINGS, then IFACES)",
            ),
    );
    report.push(
        Row::new(SECTION_COST, PASS_REPEAT, pass_repeat, "ns")
            .method("repeat")
            .against(ONE_LOOKUP, one_lookup)
            .note(
                "the pass-through path by the floor's method (it leaves the frame as it is): \
                 two hash lookups (BINDINGS misses, IFACES hits), parsing and three counters",
            ),
    );
    let bound = min_encap + one_lookup - floor;
    report.push(
        Row::new(
            SECTION_COST,
            "minimal encapsulator + one lookup",
            bound,
            "ns",
        )
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
        Row::new(
            SECTION_COST,
            FIB_FORWARDER,
            level1.get(FIB_FORWARDER)?,
            "ns",
        )
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
        let mut row = Row::new(SECTION_COST, name, level1.get(name)?, "ns")
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
    for (name, cached) in [(ENCAP_FIB, "encap hit"), (REVERSE_FIB, "reverse encap")] {
        report.push(
            Row::new(SECTION_COST, name, level1.get(name)?, "ns")
                .method("single-runs")
                .against(cached, level1.get(cached)?)
                .note("the same path with an invalid NEXTHOPS entry: bpf_fib_lookup per packet"),
        );
    }
    report.push(
        Row::new(SECTION_COST, PASS_TRIE, level1.get(PASS_TRIE)?, "ns")
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
            SECTION_COST,
            "encap hit vs the minimal encapsulator",
            level1.get("encap hit")?,
            "ns",
        )
        .method("single-runs")
        .against(MIN_ENCAP, min_encap)
        .target(Bound::AtMost, 1.3, quick),
    );

    // Levels 10k and 1M: half redirected, half visiting; traffic over ACTIVE_FLOWS of each.
    report.method(
        "scale",
        format!(
            "as single-runs, in a map of max_bindings = {DEFAULT_MAX_BINDINGS} holding N random \
             /64s of 2001:db8:8000::/33 (half redirected, half visiting), filled with \
             BPF_MAP_UPDATE_BATCH; the traffic cycles over {ACTIVE_FLOWS} distinct bound (or, \
             for pass-through, unbound) /64s; baseline: the same path with one binding"
        ),
    );
    let mut install = None;
    for (label, count) in [("10k", 10_000usize), ("1M", 1_000_000)] {
        let keys = random_prefixes(count + ACTIVE_FLOWS);
        let (bound, free) = keys.split_at(count);
        let (redirect_keys, visiting_keys) = bound.split_at(count / 2);
        let mut dp = load_datapath()?;
        dp.set_iface_role(net.core_ifindex, IfaceRole::Core)?;
        dp.set_iface_role(net.access_ifindex, IfaceRole::Access)?;
        let filled = fill(&mut dp, bound)?;
        nexthops::resolve(&dp)?;
        let scaled_lookup = RefProgram::lookup(&bound[0])?;
        let values: Vec<BindingValue> = (0..bound.len() as u32)
            .map(|i| BindingValue::redirect(0, i))
            .collect();
        update_batch(
            &program_map(scaled_lookup.program()?, "LOOKUP")?,
            bound,
            &values,
            1,
        )?;
        let pick = |keys: &[BindingKey], f: &dyn Fn(&BindingKey) -> Vec<u8>| -> Vec<Vec<u8>> {
            keys.iter().take(ACTIVE_FLOWS).map(f).collect()
        };
        let few = |keys: &[BindingKey], f: &dyn Fn(&BindingKey) -> Vec<u8>| -> Vec<Vec<u8>> {
            keys.iter().take(CACHED_FLOWS).map(f).collect()
        };
        let anchor = dp.program();
        let cases = vec![
            Case {
                name: FLOOR.into(),
                program: floor_program.program()?,
                frames: vec![udp_to(address(&free[0], 1))],
                ingress: net.core_ifindex,
                action: XDP_PASS,
            },
            Case {
                name: "pass-through, no binding".into(),
                program: anchor,
                frames: pick(free, &|k| udp_to(address(k, 1))),
                ingress: net.core_ifindex,
                action: XDP_PASS,
            },
            Case {
                name: "encap hit".into(),
                program: anchor,
                frames: pick(redirect_keys, &|k| udp_to(address(k, 0x100))),
                ingress: net.core_ifindex,
                action: XDP_TX,
            },
            Case {
                name: "decap hit".into(),
                program: anchor,
                frames: pick(visiting_keys, &|k| tunnelled(address(k, 0x100))),
                ingress: net.core_ifindex,
                action: XDP_REDIRECT,
            },
            Case {
                name: "reverse encap".into(),
                program: anchor,
                frames: pick(visiting_keys, &|k| uplink(address(k, 0x100))),
                ingress: net.access_ifindex,
                action: XDP_REDIRECT,
            },
            Case {
                name: ONE_LOOKUP.into(),
                program: scaled_lookup.program()?,
                frames: pick(redirect_keys, &|k| udp_to(address(k, 0x100))),
                ingress: net.core_ifindex,
                action: XDP_PASS,
            },
            Case {
                name: CACHED_PASS.into(),
                program: anchor,
                frames: few(free, &|k| udp_to(address(k, 1))),
                ingress: net.core_ifindex,
                action: XDP_PASS,
            },
            Case {
                name: CACHED_ENCAP.into(),
                program: anchor,
                frames: few(redirect_keys, &|k| udp_to(address(k, 0x100))),
                ingress: net.core_ifindex,
                action: XDP_TX,
            },
        ];
        let level = measure(&cases, &settings)?;
        for name in [
            "pass-through, no binding",
            "encap hit",
            "decap hit",
            "reverse encap",
        ] {
            let mut row = Row::new(
                SECTION_SCALE,
                format!("{name}, {label} bindings"),
                level.get(name)?,
                "ns",
            )
            .method("scale")
            .against(format!("{name} (1 binding)"), level1.get(name)?);
            if label == "1M" && (name == "encap hit" || name == "pass-through, no binding") {
                row = row.target(Bound::AtMost, 1.2, quick);
            }
            report.push(row);
        }
        let cached = format!(
            "traffic over {CACHED_FLOWS} /64s only: their map entries stay in the CPU caches, \
             which shows the hash table's own cost at this size"
        );
        let bare = format!(
            "its map holds the same {label} /64s; the same {ACTIVE_FLOWS} destinations as the \
             encap-hit row: what the kernel's hash table alone costs at this size"
        );
        for (name, base, note) in [
            (ONE_LOOKUP, ONE_LOOKUP, &bare),
            (CACHED_PASS, "pass-through, no binding", &cached),
            (CACHED_ENCAP, "encap hit", &cached),
        ] {
            report.push(
                Row::new(
                    SECTION_SCALE,
                    format!("{name}, {label} bindings"),
                    level.get(name)?,
                    "ns",
                )
                .method("scale")
                .against(format!("{base} (1 binding)"), level1.get(base)?)
                .note(note.as_str()),
            );
        }
        if label == "1M" {
            memory::push_rows(report, anchor, count, quick)?;
            install = Some(filled);
        }
    }
    install.context("the 1M level did not run")
}
